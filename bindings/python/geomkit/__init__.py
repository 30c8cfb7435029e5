"""geomkit: exact, fast geometry of embeddings, weights and KV caches.

numpy in, numpy out. float32 and float64 arrays are used without copies when their rows
are contiguous; kernels run without the GIL. Errors in arguments raise ValueError or
TypeError naming the argument.

simplex_volume_sq, simplex_volume, pentachoron_cv, bone_orientation, participation_ratio
and orthogonal_procrustes take ``device="cpu"`` (default) or ``device="cuda"``; the latter
needs geomkit built with CUDA (``pip install . -C cmake.define.GEOMKIT_ENABLE_CUDA=ON``);
``cuda_available()`` says whether it can run here.
"""

from __future__ import annotations

from ._arguments import checked as _checked
from ._device import cuda_available
from ._device import with_device as _with_device
from ._loader import load as _load

_native, _simd_info = _load()

__version__: str = _native.__version__

set_num_threads = _checked(_native.set_num_threads, "set_num_threads")
get_num_threads = _checked(_native.get_num_threads, "get_num_threads")

# Simplex geometry (docs/reference/cayley_menger.md, pentachoron.md)
cayley_menger_determinant = _checked(_native.cayley_menger_determinant, "cayley_menger_determinant")
simplex_volume_sq = _with_device(_checked(_native.simplex_volume_sq, "simplex_volume_sq"), "simplex_volume_sq")
simplex_volume = _with_device(_checked(_native.simplex_volume, "simplex_volume"), "simplex_volume")
pentachoron_cv = _with_device(_checked(_native.pentachoron_cv, "pentachoron_cv"), "pentachoron_cv")
pentachoron_partial = _checked(_native.pentachoron_partial, "pentachoron_partial")
pentachoron_finish = _checked(_native.pentachoron_finish, "pentachoron_finish")
PentachoronResult = _native.PentachoronResult
RunningStats = _native.RunningStats
# RunningStats() or RunningStats(count, mean, m2): an overloaded constructor, so its forms are
# given here; pybind11's own arity errors would print every overload and the arguments.
RunningStats.__init__ = _checked(RunningStats.__init__, "RunningStats",
                                 [[], [("count", False), ("mean", False), ("m2", False)]], method=True)
RunningStats.merge = _checked(RunningStats.merge, "RunningStats.merge", method=True)

# Attention geometry (docs/reference/bone_orientation.md)
head_entropy = _checked(_native.head_entropy, "head_entropy")
bone_orientation = _with_device(_checked(_native.bone_orientation, "bone_orientation"), "bone_orientation")
BoneOrientationResult = _native.BoneOrientationResult

# Alignment, spectrum and cosines (docs/reference/procrustes.md, spectrum.md, cosine.md)
orthogonal_procrustes = _with_device(_checked(_native.orthogonal_procrustes, "orthogonal_procrustes"),
                                     "orthogonal_procrustes")
procrustes_align = _checked(_native.procrustes_align, "procrustes_align")
participation_ratio = _with_device(_checked(_native.participation_ratio, "participation_ratio"),
                                   "participation_ratio")
eigenspectrum = _checked(_native.eigenspectrum, "eigenspectrum")
variance_profile = _checked(_native.variance_profile, "variance_profile")
spectrum_stats = _checked(_native.spectrum_stats, "spectrum_stats")
qk_manifold = _checked(_native.qk_manifold, "qk_manifold")
qk_manifold_fused = _checked(_native.qk_manifold_fused, "qk_manifold_fused")
pairwise_cosines = _checked(_native.pairwise_cosines, "pairwise_cosines")


def simd_info() -> dict:
    """Which SIMD level runs: ``active`` (sse2/avx2/avx512/native), ``arch`` (xsimd's name
    for it), the levels ``compiled`` into the package, those ``supported`` by this CPU, the
    ``forced`` cap from the GEOMKIT_SIMD environment variable (None if unset), and ``amx``:
    whether participation_ratio of wide float32 input (1024 or more columns, at least as
    many rows) takes the AMX integer Gram now (avx512 level, an AMX-INT8 CPU and kernel,
    GEOMKIT_DISABLE_AMX unset)."""
    return dict(_simd_info, amx=_native.amx_usable())


_KEYS_NAMES = ("capture_keys", "keys_from_cache", "key_battery")


def __getattr__(name):
    # geomkit.keys loads on first use, so `import geomkit` stays free of it
    if name in _KEYS_NAMES:
        from . import keys

        return getattr(keys, name)
    raise AttributeError(f"module 'geomkit' has no attribute {name!r}")


__all__ = [
    "__version__", "simd_info", "cuda_available", "set_num_threads", "get_num_threads",
    "cayley_menger_determinant", "simplex_volume_sq", "simplex_volume", "pentachoron_cv",
    "pentachoron_partial", "pentachoron_finish", "PentachoronResult", "RunningStats",
    "head_entropy", "bone_orientation", "BoneOrientationResult",
    "orthogonal_procrustes", "procrustes_align", "participation_ratio", "eigenspectrum", "variance_profile",
    "spectrum_stats", "qk_manifold", "qk_manifold_fused", "pairwise_cosines",
    "capture_keys", "keys_from_cache", "key_battery",
]
