"""The device= keyword of the batched functions (device="cpu" / device="cuda")."""

import importlib.util

import numpy as np
import pytest

import geomkit

HAVE_CUDA_MODULE = importlib.util.find_spec("geomkit._geomkit_cuda") is not None


def gpu_state():
    if not HAVE_CUDA_MODULE:
        return False, "geomkit was built without CUDA (no geomkit._geomkit_cuda)"
    ok, reason = geomkit.cuda_available()
    return ok, "no CUDA device: " + reason


GPU_OK, GPU_REASON = gpu_state()
needs_gpu = pytest.mark.skipif(not GPU_OK, reason=f"GPU comparison skipped: {GPU_REASON}")
without_module = pytest.mark.skipif(HAVE_CUDA_MODULE, reason="geomkit._geomkit_cuda is built here")
module_no_device = pytest.mark.skipif(not HAVE_CUDA_MODULE or GPU_OK,
                                      reason="needs geomkit._geomkit_cuda built and no usable CUDA device")


def inputs(rng):
    """(function name, positional args, keyword args) for each function with device=."""
    simplices = rng.standard_normal((6, 5, 9))
    X = rng.standard_normal((60, 12))
    keys = rng.standard_normal((2, 2, 16, 8)).astype(np.float32)
    A = rng.standard_normal((4, 10, 5))
    B = rng.standard_normal((4, 10, 5))
    return [
        ("simplex_volume_sq", (simplices,), {}),
        ("simplex_volume", (simplices,), {}),
        ("pentachoron_cv", (X,), {"n_samples": 200, "seed": 3}),
        ("bone_orientation", (keys,), {}),
        ("participation_ratio", (X,), {"centered": True}),
        ("orthogonal_procrustes", (A, B), {"proper": True}),
    ]


CASES = ["simplex_volume_sq", "simplex_volume", "pentachoron_cv", "bone_orientation", "participation_ratio",
         "orthogonal_procrustes"]


def case(rng, name):
    return next(c for c in inputs(rng) if c[0] == name)


def same(x, y, rtol=0.0, atol=0.0):
    """Equality of the results of two calls (arrays, tuples, floats, result objects)."""
    if isinstance(x, tuple):
        assert isinstance(y, tuple) and len(x) == len(y)
        for a, b in zip(x, y):
            same(a, b, rtol, atol)
    elif isinstance(x, geomkit.PentachoronResult):
        assert isinstance(y, geomkit.PentachoronResult)
        assert (x.cv is None) == (y.cv is None)
        if x.cv is not None:
            np.testing.assert_allclose(y.cv, x.cv, rtol=rtol, atol=atol)
        np.testing.assert_allclose([y.mean, y.std], [x.mean, x.std], rtol=rtol, atol=atol)
        assert (y.n_valid, y.n_samples, y.in_band) == (x.n_valid, x.n_samples, x.in_band)
    elif isinstance(x, geomkit.BoneOrientationResult):
        assert isinstance(y, geomkit.BoneOrientationResult)
        np.testing.assert_allclose(y.features(), x.features(), rtol=rtol, atol=atol)
        np.testing.assert_allclose(y.layer_coherence, x.layer_coherence, rtol=rtol, atol=atol)
        np.testing.assert_allclose(y.layer_cross_alignment, x.layer_cross_alignment, rtol=rtol, atol=atol)
        assert (y.joint_collapse_count, y.gqa, y.composite()) == (x.joint_collapse_count, x.gqa, x.composite())
    else:
        assert type(y) is type(x)
        np.testing.assert_allclose(y, x, rtol=rtol, atol=atol)


# ---------------------------------------------------------------- device="cpu"
@pytest.mark.parametrize("name", CASES)
def test_cpu_device_equals_default(rng, name):
    _, args, kwargs = case(rng, name)
    fn = getattr(geomkit, name)
    same(fn(*args, **kwargs), fn(*args, device="cpu", **kwargs))


def test_wrappers_keep_name_and_doc():
    for name in CASES:
        fn = getattr(geomkit, name)
        assert fn.__name__ == name
        assert "device" in fn.__doc__


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("device", ["gpu", "CUDA", "cuda:0", "", None, 0])
@pytest.mark.parametrize("name", CASES)
def test_unknown_device_is_a_value_error_naming_device(rng, name, device):
    _, args, kwargs = case(rng, name)
    with pytest.raises(ValueError, match=rf"geomkit\.{name}: argument 'device' must be 'cpu' or 'cuda'"):
        getattr(geomkit, name)(*args, device=device, **kwargs)


@without_module
@pytest.mark.parametrize("name", CASES)
def test_cuda_without_the_module_says_how_to_build(rng, name):
    _, args, kwargs = case(rng, name)
    with pytest.raises(RuntimeError, match="built without CUDA") as info:
        getattr(geomkit, name)(*args, device="cuda", **kwargs)
    assert "pip install . -C cmake.define.GEOMKIT_ENABLE_CUDA=ON" in str(info.value)
    assert name in str(info.value)


@without_module
def test_cuda_available_without_the_module():
    ok, reason = geomkit.cuda_available()
    assert ok is False and "built without CUDA" in reason


@module_no_device
@pytest.mark.parametrize("name", CASES)
def test_cuda_without_a_device_is_a_runtime_error(rng, name):
    _, args, kwargs = case(rng, name)
    with pytest.raises(RuntimeError, match=rf"geomkit\.{name}: no CUDA device: "):
        getattr(geomkit, name)(*args, device="cuda", **kwargs)


@module_no_device
def test_device_available_reports_the_reason():
    from geomkit import _geomkit_cuda

    ok, reason = _geomkit_cuda.device_available()
    assert ok is False and reason
    assert geomkit.cuda_available() == (False, reason)


@pytest.mark.skipif(not HAVE_CUDA_MODULE, reason="geomkit was built without CUDA (no geomkit._geomkit_cuda)")
class TestCudaArgumentErrors:
    """Checked before any device work, so they run without a GPU."""

    def test_cpu_only_options(self, rng):
        X = rng.standard_normal((20, 6))
        with pytest.raises(ValueError, match="argument 'threads' is not supported with device='cuda'"):
            geomkit.pentachoron_cv(X, threads=2, device="cuda")
        with pytest.raises(ValueError, match="argument 'method' is not supported with device='cuda'"):
            geomkit.pentachoron_cv(X, method="pool_gram", device="cuda")
        with pytest.raises(ValueError, match="argument 'method' must be"):
            geomkit.pentachoron_cv(X, method="nope", device="cuda")
        keys = rng.standard_normal((1, 2, 8, 4))
        with pytest.raises(ValueError, match="argument 'threads' is not supported with device='cuda'"):
            geomkit.bone_orientation(keys, threads=1, device="cuda")

    def test_gpu_limits_and_shapes(self, rng):
        A = rng.standard_normal((2, 40, 33))
        with pytest.raises(ValueError, match=r"argument 'A' must have d <= 32 with device='cuda'"):
            geomkit.orthogonal_procrustes(A, A, device="cuda")
        with pytest.raises(ValueError, match="argument 'B' must have the same shape"):
            geomkit.orthogonal_procrustes(A, A[:, :, :5], device="cuda")
        with pytest.raises(ValueError, match="argument 'points' must have shape"):
            geomkit.simplex_volume_sq(np.zeros(3), device="cuda")
        with pytest.raises(TypeError, match="argument 'X'"):
            geomkit.participation_ratio(np.zeros((3, 3), dtype=complex), device="cuda")
        with pytest.raises(ValueError, match="argument 'keys' must have shape"):
            geomkit.bone_orientation(np.zeros((2, 3)), device="cuda")

    def test_empty_batches_need_no_device(self):
        assert geomkit.simplex_volume_sq(np.zeros((0, 3, 2)), device="cuda").shape == (0,)
        R, s = geomkit.orthogonal_procrustes(np.zeros((0, 4, 3)), np.zeros((0, 4, 3)), device="cuda")
        assert R.shape == (0, 3, 3) and s.shape == (0,)


# ---------------------------------------------------------------- GPU equals CPU
@needs_gpu
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", CASES)
def test_gpu_matches_cpu(rng, name, dtype):
    _, args, kwargs = case(rng, name)
    args = tuple(a.astype(dtype) for a in args)
    fn = getattr(geomkit, name)
    rtol = 1e-9 if name == "orthogonal_procrustes" else 1e-11
    same(fn(*args, **kwargs), fn(*args, device="cuda", **kwargs), rtol=rtol, atol=1e-12)


@needs_gpu
def test_gpu_keeps_leading_axes_and_scalars(rng):
    P = rng.standard_normal((2, 3, 4, 6))
    np.testing.assert_allclose(geomkit.simplex_volume(P, device="cuda"), geomkit.simplex_volume(P), rtol=1e-11)
    v = geomkit.simplex_volume_sq(P[0, 0], device="cuda")
    assert isinstance(v, float)
    A, B = rng.standard_normal((2, 12, 4))
    R, s = geomkit.orthogonal_procrustes(A, B, device="cuda")
    R0, s0 = geomkit.orthogonal_procrustes(A, B)
    assert R.shape == (4, 4) and isinstance(s, float)
    np.testing.assert_allclose(R, R0, atol=1e-10)
    np.testing.assert_allclose(s, s0, rtol=1e-10)


@needs_gpu
def test_gpu_float16_keys(rng):
    keys = rng.standard_normal((2, 8, 16, 8)).astype(np.float16)
    same(geomkit.bone_orientation(keys), geomkit.bone_orientation(keys, device="cuda"), rtol=1e-9, atol=1e-12)


@needs_gpu
def test_gpu_argument_errors_are_the_cpus(rng):
    X = rng.standard_normal((20, 6))
    X[3, 2] = np.nan
    with pytest.raises(ValueError, match="finite"):
        geomkit.participation_ratio(X, device="cuda")


@pytest.mark.skipif(not HAVE_CUDA_MODULE, reason="geomkit was built without CUDA (no geomkit._geomkit_cuda)")
def test_cuda_module_returns_the_cpu_result_classes():
    from geomkit import _geomkit_cuda

    penta, bone = _geomkit_cuda._default_results()
    assert type(penta) is geomkit.PentachoronResult
    assert type(bone) is geomkit.BoneOrientationResult
    assert penta.cv is None and bone.composite() == geomkit.BoneOrientationResult.composite(bone)
