"""In-process fuzz harness for geomkit's Python API (hypothesis, with a crash log).

Every public function is called with generated arguments: arrays of any dtype (float16/32/64,
integers, bool, non-native byte order, complex and object as wrong types), 0-d to 4-d shapes
with empty axes, layouts (C, Fortran, negative and stepped slices, zero-strided broadcasts,
read-only, memory-mapped, torch-like objects with __array__ or only __dlpack__, nested
lists), magnitudes from denormal to 1e308 with NaN/Inf placed at chosen positions, and
parameter values both valid and hostile (huge, negative, float, str, bool, None, numpy
scalars).

Oracle, per call:
  * no crash (a crash leaves the case being run as the last line of --log), no hang past a
    size-proportional budget;
  * an exception is a ValueError/TypeError (or MemoryError) whose message has geomkit's form
    "geomkit.<function>: argument '<name>' ..." (or the C++ layer's "geomkit::<function>:
    argument ..."), never pybind11's "incompatible function arguments";
  * a result is finite where the contract says so (finite input -> no NaN), and agrees with
    numpy/scipy where they compute the same quantity (participation ratio, Procrustes
    scale and R, the largest singular value, simplex volumes via the Gram determinant).

Usage:
    python tests/python/fuzz_api.py --examples 400 --seed 1          # the CI smoke
    python tests/python/fuzz_api.py --examples 200000 --seed 7 --log /tmp/py.log  # long run
"""

from __future__ import annotations

import argparse
import faulthandler
import math
import os
import sys
import tempfile
import time

import numpy as np
from hypothesis import HealthCheck, given, seed as hyp_seed, settings
from hypothesis import strategies as st

import geomkit

LOG = None
TMP = tempfile.mkdtemp(prefix="geomkit-fuzz-")
COUNTS = {"calls": 0, "errors": 0, "results": 0, "compared": 0}


class Finding(AssertionError):
    pass


# ------------------------------------------------------------------ array-likes
class ArrayOnly:
    def __init__(self, a):
        self._a = a

    def __array__(self, dtype=None, copy=None):
        return self._a if dtype is None else self._a.astype(dtype)

    def __repr__(self):
        return f"ArrayOnly({self._a.dtype}{self._a.shape})"


class DLPackOnly:
    def __init__(self, a):
        self._a = a

    def __dlpack__(self, **kwargs):
        return self._a.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._a.__dlpack_device__()

    def __repr__(self):
        return f"DLPackOnly({self._a.dtype}{self._a.shape})"


DTYPES = ["float64", "float32", "float64", "float32", "float16", ">f8", ">f4", "int32", "uint8", "bool",
          "int64", "complex128", "object", "longdouble"]
LAYOUTS = ["c", "c", "c", "fortran", "reversed", "stepped", "broadcast", "readonly", "memmap", "array_only",
           "dlpack_only", "list"]


@st.composite
def arrays(draw, min_ndim=0, max_ndim=4, max_dim=9):
    ndim = draw(st.integers(min_ndim, max_ndim))
    shape = tuple(draw(st.integers(0, max_dim)) for _ in range(ndim))
    exponent = draw(st.integers(-320, 308))
    spread = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = np.asarray(rng.standard_normal(shape), dtype=np.float64)
    if spread:
        values = values * 10.0 ** rng.integers(-8, 9, size=shape)
    with np.errstate(all="ignore"):
        values = values * 10.0 ** exponent if exponent > -300 else values * 1e-300 * 10.0 ** (exponent + 300)
        if draw(st.integers(0, 5)) == 0:
            values = values + draw(st.sampled_from([1.0, -3.0, 1e6]))  # an offset mean
    n_special = draw(st.integers(0, 2)) if draw(st.integers(0, 5)) == 0 else 0
    if values.size:
        flat = values.reshape(-1)
        for _ in range(n_special):
            flat[draw(st.integers(0, values.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    dtype = draw(st.sampled_from(DTYPES))
    with np.errstate(all="ignore"):
        if dtype in ("int32", "int64", "uint8"):
            a = np.nan_to_num(values, nan=0, posinf=0, neginf=0).clip(-1e6, 1e6).astype(dtype)
        elif dtype == "bool":
            a = values > 0
        elif dtype == "complex128":
            a = values + 1j
        elif dtype == "object":
            a = values.astype(object)
        else:
            a = values.astype(dtype)
    a = np.asarray(a) if not isinstance(a, np.ndarray) else a
    layout = draw(st.sampled_from(LAYOUTS))
    if layout == "fortran":
        a = np.asfortranarray(a)
    elif layout == "reversed" and a.ndim:
        a = a[::-1]
    elif layout == "stepped" and a.ndim:
        big = np.repeat(a, 2, axis=-1) if a.ndim else a
        a = big[..., ::2]
    elif layout == "broadcast" and a.ndim and a.shape[0]:
        a = np.broadcast_to(a[:1], (draw(st.integers(0, 6)),) + a.shape[1:])
    elif layout == "readonly":
        a = np.array(a)
        a.flags.writeable = False
    elif layout == "memmap" and a.dtype != object and a.size:
        path = os.path.join(TMP, f"m{draw(st.integers(0, 3))}.npy")
        np.save(path, np.ascontiguousarray(a))
        a = np.load(path, mmap_mode="r")
    elif layout == "array_only":
        a = ArrayOnly(a)
    elif layout == "dlpack_only" and a.dtype.kind in "fiub" and a.dtype.isnative and a.dtype != np.longdouble:
        a = DLPackOnly(np.ascontiguousarray(a))
    elif layout == "list" and a.size < 200:
        a = a.tolist()
    return a


def as_numpy(a):
    """The array the call should see (None when it is not a real array)."""
    if isinstance(a, (ArrayOnly, DLPackOnly)):
        a = a._a
    try:
        arr = np.asarray(a)
    except Exception:
        return None
    if arr.dtype.kind not in "fiub":
        return None
    return arr.astype(np.float64)


INTS = st.one_of(st.integers(-3, 40), st.sampled_from([0, 1, 5, 1 << 31, 1 << 40, (1 << 40) + 1, 1 << 62, 1 << 70,
                                                      -(1 << 63), (1 << 64) - 1, 1 << 64]),
                 st.builds(np.int64, st.integers(-5, 50)), st.builds(np.uint8, st.integers(0, 255)))
HOSTILE = st.sampled_from([None, "3", 2.5, float("nan"), float("inf"), True, [], object(), 1j, b"x"])
FLOATS = st.one_of(st.sampled_from([0.0, 1e-20, 1e-8, -1.0, 1e300, float("nan"), float("inf"), 5e-324]),
                   st.builds(np.float32, st.floats(0, 1)), st.integers(0, 3))
BOOLS = st.one_of(st.booleans(), st.builds(np.bool_, st.booleans()), HOSTILE, st.integers(0, 1))
THREADS = st.one_of(st.none(), st.integers(-1, 3), st.sampled_from([1 << 40, 1025, 1024]), HOSTILE)


def maybe(strategy, hostile=HOSTILE):
    return st.one_of(strategy, strategy, strategy, hostile)


# ------------------------------------------------------------------ oracle
def check_exception(name, e):
    text = str(e)
    if "incompatible function arguments" in text:
        raise Finding(f"{name}: pybind11 message: {text[:300]}")
    if not isinstance(e, (ValueError, TypeError, MemoryError)):
        raise Finding(f"{name}: {type(e).__name__}: {text[:300]}")
    if not (text.startswith(f"geomkit.{name}") or text.startswith(f"geomkit::{name}") or
            text.startswith(f"geomkit.RunningStats") or text.startswith("geomkit::")):
        raise Finding(f"{name}: message without the function: {text[:300]}")
    if "argument '" not in text:
        raise Finding(f"{name}: message without an argument: {text[:300]}")
    if len(text) > 1000:
        raise Finding(f"{name}: message of {len(text)} characters")


def finite_input(*arrays_):
    return all(a is not None and np.all(np.isfinite(a)) for a in arrays_)


def moderate(*arrays_):
    """Finite, and magnitudes where float64 references (numpy/scipy) do not under/overflow."""
    for a in arrays_:
        if a is None or not np.all(np.isfinite(a)):
            return False
        m = np.abs(a)
        nz = m[m > 0]
        if nz.size and (nz.max() > 1e100 or nz.min() < 1e-100 or nz.max() / nz.min() > 1e6):
            return False
    return True


def close(got, ref, rel, what, atol=0.0):
    if not (abs(got - ref) <= rel * abs(ref) + atol):
        raise Finding(f"{what}: {got!r} vs reference {ref!r}")
    COUNTS["compared"] += 1


def oracle(name, result, args, kwargs):
    """Checks a successful result; args hold the raw arguments."""
    if name in ("participation_ratio",):
        X = as_numpy(args[0])
        if finite_input(X) and math.isnan(result):
            raise Finding("participation_ratio: NaN from finite input")
        centered = kwargs.get("centered", True)
        if moderate(X) and X.ndim == 2 and X.shape[0] >= 1 and X.shape[1] >= 1 and isinstance(args[0], np.ndarray) \
                and args[0].dtype == np.float64:
            Y = X - X.mean(axis=0) if centered else X
            C = (Y.T @ Y) / X.shape[0]
            fro = float(np.sum(C * C))
            if fro > 0 and np.linalg.cond(Y) < 1e6:
                close(result, float(np.trace(C)) ** 2 / fro, 1e-8, "participation_ratio vs numpy")
    elif name == "spectrum_stats":
        W = as_numpy(args[0])
        if finite_input(W):
            for k, v in result.items():
                if isinstance(v, float) and math.isnan(v):
                    raise Finding(f"spectrum_stats: {k} NaN from finite input")
            if moderate(W) and W.size and isinstance(args[0], np.ndarray) and args[0].dtype == np.float64:
                close(result["max_sv"], float(np.linalg.svd(W, compute_uv=False)[0]), 1e-8, "max_sv vs numpy",
                      atol=1e-300)
    elif name in ("orthogonal_procrustes",):
        R, s = result
        A, B = as_numpy(args[0]), as_numpy(args[1])
        if finite_input(A, B) and not np.all(np.isfinite(R)):
            raise Finding("orthogonal_procrustes: non-finite R from finite input")
        if A.ndim == 2 and moderate(A, B) and A.shape[0] and A.shape[1] and not kwargs.get("proper", False):
            import scipy.linalg
            R_ref, s_ref = scipy.linalg.orthogonal_procrustes(A, B)
            close(float(s), float(s_ref), 1e-7, "procrustes scale vs scipy", atol=1e-250)
            sv = np.linalg.svd(A.T @ B, compute_uv=False)
            if sv[-1] > 1e-6 * sv[0] and isinstance(args[0], np.ndarray) and args[0].dtype == np.float64:
                if np.abs(R - R_ref).max() > 1e-6:
                    raise Finding("orthogonal_procrustes: R differs from scipy's")
                COUNTS["compared"] += 1
    elif name == "procrustes_align":
        A, B = as_numpy(args[0]), as_numpy(args[1])
        if finite_input(A, B):
            for k in ("mean_cosine", "relative_residual"):
                if math.isnan(result[k]):
                    raise Finding(f"procrustes_align: {k} NaN from finite input")
            if not np.all(np.isfinite(result["R"])):
                raise Finding("procrustes_align: non-finite R")
    elif name in ("simplex_volume_sq", "simplex_volume"):
        P = as_numpy(args[0])
        vals = np.atleast_1d(np.asarray(result, dtype=float))
        if finite_input(P) and np.any(np.isnan(vals)):
            raise Finding(f"{name}: NaN from finite points")
        if name == "simplex_volume" and np.any(vals < 0):
            raise Finding("simplex_volume: negative")
        if moderate(P) and P.ndim == 2 and 2 <= P.shape[0] <= P.shape[1] + 1 and name == "simplex_volume_sq":
            E = P[1:] - P[0]
            G = E @ E.T
            k = P.shape[0] - 1
            if np.linalg.cond(G) < 1e8:
                close(float(vals[0]), float(np.linalg.det(G)) / math.factorial(k) ** 2, 1e-6,
                      "simplex_volume_sq vs numpy det", atol=1e-300)
    elif name == "bone_orientation":
        K = as_numpy(args[0])
        if finite_input(K) and not all(math.isfinite(v) for v in result.features()):
            raise Finding("bone_orientation: non-finite feature from finite keys")
        if not 0 <= result.composite() <= 10000:
            raise Finding("bone_orientation: composite outside 0..10000")
    elif name == "pentachoron_cv":
        if result.cv is not None and not math.isfinite(result.cv):
            raise Finding("pentachoron_cv: non-finite cv")
    elif name == "head_entropy":
        if finite_input(as_numpy(args[0])) and not (0.0 <= result <= 1.0 + 1e-12):
            raise Finding(f"head_entropy: {result} outside [0, 1]")
    elif name in ("eigenspectrum",):
        X = as_numpy(args[0])
        if finite_input(X) and (math.isnan(result["pr"]) or np.any(np.isnan(result["eigenvalues"]))):
            raise Finding("eigenspectrum: NaN from finite input")
    elif name in ("qk_manifold", "qk_manifold_fused"):
        if finite_input(*[as_numpy(a) for a in args]) and any(
                isinstance(result[k], float) and math.isnan(result[k]) for k in ("stable_rank", "pr", "symmetry_deviation")):
            raise Finding(f"{name}: NaN from finite input")


def invoke(name, args, kwargs):
    fn = getattr(geomkit, name)
    size = 0
    for a in args:
        arr = as_numpy(a)
        size += arr.size if arr is not None else 0
    if LOG:
        LOG.write(f"{name} args={[describe(a) for a in args]} kwargs={kwargs!r}\n")
        LOG.flush()
    COUNTS["calls"] += 1
    t0 = time.perf_counter()
    try:
        result = fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - the oracle decides
        COUNTS["errors"] += 1
        check_exception(name, e)
        result = None
    elapsed = time.perf_counter() - t0
    n_samples = kwargs.get("n_samples", 1000)
    n_samples = min(max(int(n_samples), 0), 1 << 40) if isinstance(n_samples, (int, np.integer)) else 1000
    budget = 10.0 + 1e-6 * size + (2e-6 * n_samples if name.startswith("pentachoron") else 0)
    if elapsed > budget:
        raise Finding(f"{name}: {elapsed:.1f} s for {size} values (budget {budget:.1f} s)")
    if result is not None:
        COUNTS["results"] += 1
        oracle(name, result, args, kwargs)


def describe(a):
    if isinstance(a, np.ndarray):
        return f"ndarray({a.dtype},{a.shape},strides={a.strides},ro={not a.flags.writeable})"
    if isinstance(a, (list, tuple)) and len(repr(a)) > 120:
        return f"list(len={len(a)})"
    return repr(a)[:120]


# ------------------------------------------------------------------ the calls
CALLS = st.sampled_from([
    "participation_ratio", "eigenspectrum", "variance_profile", "spectrum_stats", "qk_manifold",
    "qk_manifold_fused", "orthogonal_procrustes", "procrustes_align", "simplex_volume_sq", "simplex_volume",
    "cayley_menger_determinant", "pentachoron_cv", "pentachoron_partial", "pentachoron_finish", "RunningStats",
    "bone_orientation", "head_entropy", "set_num_threads"])


@st.composite
def cases(draw):
    name = draw(CALLS)
    kw = {}
    if name in ("participation_ratio", "eigenspectrum", "variance_profile"):
        args = [draw(arrays(max_ndim=3, max_dim=12))]
        if draw(st.booleans()):
            kw["centered"] = draw(BOOLS)
    elif name in ("spectrum_stats", "qk_manifold_fused", "head_entropy"):
        args = [draw(arrays(max_ndim=3, max_dim=12))]
    elif name == "qk_manifold":
        a = draw(arrays(min_ndim=2, max_ndim=2, max_dim=10))
        args = [a, draw(st.one_of(st.just(a), arrays(min_ndim=1, max_ndim=3, max_dim=10)))]
        an = as_numpy(a)
        if draw(st.booleans()) and an is not None and an.ndim == 2 and an.shape[0] >= 1:
            # grouped-query keys: every d dividing the rows, kv heads a divisor of the heads (or not)
            kw["head_dim"] = draw(st.one_of(st.integers(-1, 12), st.sampled_from([1, an.shape[0]])))
            if draw(st.booleans()) and kw["head_dim"] >= 1 and an.shape[0] % kw["head_dim"] == 0:
                heads = an.shape[0] // kw["head_dim"]
                kv = draw(st.sampled_from([k for k in range(1, heads + 1) if heads % k == 0]))
                args[1] = an[:kv * kw["head_dim"]]
    elif name in ("orthogonal_procrustes", "procrustes_align"):
        a = draw(arrays(min_ndim=1, max_ndim=4, max_dim=8))
        b_kind = draw(st.integers(0, 3))
        an = as_numpy(a)
        if b_kind < 3 and an is not None:
            b = draw(arrays(min_ndim=an.ndim, max_ndim=an.ndim, max_dim=8))
            bn = np.asarray(as_numpy(b))
            if bn is not None and bn.shape != an.shape and an.size and b_kind < 2:
                rng = np.random.default_rng(draw(st.integers(0, 1000)))
                scale = 10.0 ** draw(st.integers(-310, 308))
                with np.errstate(all="ignore"):
                    b = (an @ np.linalg.qr(rng.standard_normal((an.shape[-1],) * 2))[0] if an.shape[-1] else an) * scale \
                        if np.all(np.isfinite(an)) else an
        else:
            b = a
        args = [a, b]
        if draw(st.booleans()):
            kw["proper"] = draw(BOOLS)
    elif name in ("simplex_volume_sq", "simplex_volume", "cayley_menger_determinant"):
        args = [draw(arrays(max_ndim=4, max_dim=8))]
    elif name in ("pentachoron_cv", "pentachoron_partial"):
        args = [draw(arrays(max_ndim=3, max_dim=30))]
        if name == "pentachoron_partial":
            args += [draw(maybe(st.integers(-2, 300))), draw(maybe(st.integers(-2, 1200)))]
        n = draw(maybe(st.one_of(st.integers(0, 400), INTS)))
        if isinstance(n, int) and not isinstance(n, bool) and 400 < n <= (1 << 40):
            n = 400  # large but accepted counts are real work: kept out of the smoke's time
        kw["n_samples"] = n
        for k, strat in (("pool", maybe(st.one_of(st.none(), st.integers(-2, 40), INTS))), ("seed", maybe(INTS)),
                         ("eps", maybe(FLOATS)), ("threads", THREADS)):
            if draw(st.booleans()):
                kw[k] = draw(strat)
        if name == "pentachoron_cv":
            for k, strat in (("ddof", maybe(st.integers(-1, 5))), ("mean_eps", maybe(FLOATS)),
                             ("min_valid", maybe(st.integers(-1, 20))),
                             ("method", st.sampled_from(["auto", "direct", "pool_gram", "svd", 3, None]))):
                if draw(st.booleans()):
                    kw[k] = draw(strat)
    elif name == "pentachoron_finish":
        stats = draw(st.one_of(st.builds(lambda: geomkit.RunningStats()), HOSTILE))
        args = [stats, draw(maybe(st.integers(-1, 100)))]
        if draw(st.booleans()):
            kw["ddof"] = draw(maybe(st.integers(-1, 3)))
    elif name == "RunningStats":
        args = [draw(maybe(st.one_of(st.integers(-5, 10), INTS))), draw(maybe(FLOATS)), draw(maybe(FLOATS))]
    elif name == "bone_orientation":
        args = [draw(arrays(min_ndim=3, max_ndim=5, max_dim=7))]
        if draw(st.booleans()):
            kw["all_heads"] = draw(BOOLS)
        if draw(st.booleans()):
            kw["threads"] = draw(THREADS)
    else:  # set_num_threads
        args = [draw(st.one_of(st.integers(-2, 4), INTS, HOSTILE))]
    return name, args, kw


def run(examples, seed_value):
    @settings(max_examples=examples, deadline=None, database=None, derandomize=False, print_blob=True,
              suppress_health_check=list(HealthCheck))
    @hyp_seed(seed_value)
    @given(cases())
    def fuzz(case):
        name, args, kwargs = case
        try:
            invoke(name, args, kwargs)
        finally:
            if name == "set_num_threads":
                geomkit.set_num_threads(0)

    fuzz()


def main():
    global LOG
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--examples", type=int, default=400)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--log", default=None, help="file that gets each call before it runs (the last line "
                                               "names the case of a crash)")
    a = p.parse_args()
    faulthandler.enable()
    if a.log:
        LOG = open(a.log, "w", buffering=1)
    t0 = time.time()
    try:
        run(a.examples, a.seed)
    finally:
        print(f"fuzz_api: {COUNTS['calls']} calls, {COUNTS['errors']} clean errors, {COUNTS['results']} results "
              f"checked, {COUNTS['compared']} compared with numpy/scipy, {time.time() - t0:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
