"""Hostile input to the Python API: every case is either a clear ValueError/TypeError
naming the function and the argument, or a correct answer (compared with numpy/scipy or
with the same call on a plain copy). Never a crash, pybind11's "incompatible function
arguments", or a silent NaN.

scipy's own test suite for orthogonal_procrustes runs against geomkit's function at the
end of this file (real-valued tests; complex input is a clear TypeError)."""

import importlib.util
import inspect
import os
import pathlib
import re

import numpy as np
import pytest

import geomkit

scipy_linalg = pytest.importorskip("scipy.linalg")


def message_form(function, argument):
    """The one error form: geomkit.<function>: argument '<argument>' ..."""
    return re.escape(f"geomkit.{function}: argument '{argument}'")


# ------------------------------------------------------------------ argument validation
X10 = np.random.default_rng(5).standard_normal((10, 4))


def call(name, *args, **kwargs):
    return lambda: getattr(geomkit, name)(*args, **kwargs)


ARGUMENT_CASES = [
    # (call, exception, function, argument)
    (call("pentachoron_cv", X10, seed=-1), ValueError, "pentachoron_cv", "seed"),
    (call("pentachoron_cv", X10, seed=1 << 70), ValueError, "pentachoron_cv", "seed"),
    (call("pentachoron_cv", X10, seed=1.5), TypeError, "pentachoron_cv", "seed"),
    (call("pentachoron_cv", X10, n_samples=1 << 62), ValueError, "pentachoron_cv", "n_samples"),
    (call("pentachoron_cv", X10, n_samples=(1 << 40) + 1), ValueError, "pentachoron_cv", "n_samples"),
    (call("pentachoron_cv", X10, n_samples=-1), ValueError, "pentachoron_cv", "n_samples"),
    (call("pentachoron_cv", X10, n_samples="many"), TypeError, "pentachoron_cv", "n_samples"),
    (call("pentachoron_cv", X10, n_samples=True), TypeError, "pentachoron_cv", "n_samples"),
    (call("pentachoron_cv", X10, pool="all"), TypeError, "pentachoron_cv", "pool"),
    (call("pentachoron_cv", X10, pool=1 << 70), ValueError, "pentachoron_cv", "pool"),
    (call("pentachoron_cv", X10, eps=float("nan")), ValueError, "pentachoron_cv", "eps"),
    (call("pentachoron_cv", X10, eps=-1.0), ValueError, "pentachoron_cv", "eps"),
    (call("pentachoron_cv", X10, eps="0"), TypeError, "pentachoron_cv", "eps"),
    (call("pentachoron_cv", X10, mean_eps=float("inf")), ValueError, "pentachoron_cv", "mean_eps"),
    (call("pentachoron_cv", X10, ddof=1 << 40), ValueError, "pentachoron_cv", "ddof"),
    (call("pentachoron_cv", X10, min_valid=-3), ValueError, "pentachoron_cv", "min_valid"),
    (call("pentachoron_cv", X10, method=3), TypeError, "pentachoron_cv", "method"),
    (call("pentachoron_cv", X10, method="svd"), ValueError, "pentachoron_cv", "method"),
    (call("pentachoron_cv", X10, threads=0), ValueError, "pentachoron_cv", "threads"),
    (call("pentachoron_cv", X10, threads=1 << 40), ValueError, "pentachoron_cv", "threads"),
    (call("pentachoron_cv", X10, threads="2"), TypeError, "pentachoron_cv", "threads"),
    (call("pentachoron_partial", X10, -1, 5), ValueError, "pentachoron_partial", "sample_begin"),
    (call("pentachoron_partial", X10, 5, 2), ValueError, "pentachoron_partial", "sample_end"),
    (call("pentachoron_partial", X10, 0, 2000), ValueError, "pentachoron_partial", "sample_end"),
    (call("pentachoron_partial", X10, 0, 5, seed=-2), ValueError, "pentachoron_partial", "seed"),
    (call("pentachoron_finish", 5, 10), TypeError, "pentachoron_finish", "stats"),
    (call("pentachoron_finish", geomkit.RunningStats(), -1), ValueError, "pentachoron_finish", "n_samples"),
    (call("pentachoron_finish", geomkit.RunningStats(3, 1.0, 0.5), 2), ValueError, "pentachoron_finish",
     "n_samples"),
    (call("pentachoron_finish", geomkit.RunningStats(), 10, ddof=1.0), TypeError, "pentachoron_finish", "ddof"),
    (call("RunningStats", -5, 1.0, -2.0), ValueError, "RunningStats", "count"),
    (call("RunningStats", 5, 1.0, -2.0), ValueError, "RunningStats", "m2"),
    (call("RunningStats", 5, float("nan"), 1.0), ValueError, "RunningStats", "mean"),
    (call("RunningStats", 5, 1.0, float("inf")), ValueError, "RunningStats", "m2"),
    (call("RunningStats", 0, 1.0, 0.0), ValueError, "RunningStats", "mean, m2"),
    (call("RunningStats", 1, 1.0, 0.5), ValueError, "RunningStats", "m2"),
    (call("RunningStats", 1 << 70, 1.0, 0.5), ValueError, "RunningStats", "count"),
    (call("RunningStats", "3", 1.0, 0.5), TypeError, "RunningStats", "count"),
    (lambda: geomkit.RunningStats().merge(5), TypeError, "RunningStats.merge", "other"),
    (call("set_num_threads", 1 << 40), ValueError, "set_num_threads", "threads"),
    (call("set_num_threads", -1), ValueError, "set_num_threads", "threads"),
    (call("set_num_threads", "4"), TypeError, "set_num_threads", "threads"),
    (call("set_num_threads", 2.0), TypeError, "set_num_threads", "threads"),
    (call("bone_orientation", np.ones((2, 2, 4, 3)), all_heads="yes"), TypeError, "bone_orientation",
     "all_heads"),
    (call("bone_orientation", np.ones((2, 2, 4, 3)), threads=-1), ValueError, "bone_orientation", "threads"),
    (call("bone_orientation", np.ones((2, 4, 3))), ValueError, "bone_orientation", "keys"),
    (call("head_entropy", "keys"), TypeError, "head_entropy", "keys"),
    (call("participation_ratio", X10, centered=2), TypeError, "participation_ratio", "centered"),
    (call("eigenspectrum", X10, centered=None), TypeError, "eigenspectrum", "centered"),
    (call("variance_profile", X10, centered="no"), TypeError, "variance_profile", "centered"),
    (call("orthogonal_procrustes", X10, X10, proper="no"), TypeError, "orthogonal_procrustes", "proper"),
    (call("procrustes_align", X10, X10, proper=None), TypeError, "procrustes_align", "proper"),
    (call("orthogonal_procrustes", X10, X10 + 1j), TypeError, "orthogonal_procrustes", "B"),
    (call("spectrum_stats", np.float64(3.0)), ValueError, "spectrum_stats", "W"),
    (call("spectrum_stats", np.array([[1, 2]], dtype=object)), TypeError, "spectrum_stats", "W"),
    (call("qk_manifold", X10, None), TypeError, "qk_manifold", "Wk"),
    (call("simplex_volume", [[1.0, 2.0], [3.0]]), TypeError, "simplex_volume", "points"),
    (call("cayley_menger_determinant", np.zeros((3, 3), dtype="datetime64[s]")), TypeError,
     "cayley_menger_determinant", "d2"),
]


@pytest.mark.parametrize("case", range(len(ARGUMENT_CASES)))
def test_every_bad_argument_gets_the_message_form(case):
    fn, exc, function, argument = ARGUMENT_CASES[case]
    with pytest.raises(exc, match=message_form(function, argument)) as info:
        fn()
    text = str(info.value)
    assert "incompatible function arguments" not in text
    assert len(text) < 400, text  # never the whole array


def test_accepted_integer_and_boolean_spellings():
    r = geomkit.pentachoron_cv(X10, n_samples=np.int64(50), seed=(1 << 64) - 1, pool=np.uint8(10), threads=np.int32(1))
    assert r.n_samples == 50
    assert geomkit.pentachoron_cv(X10, n_samples=50, seed=np.uint64(7)).n_samples == 50
    assert geomkit.participation_ratio(X10, centered=np.bool_(False)) == pytest.approx(
        geomkit.participation_ratio(X10, centered=False))
    geomkit.set_num_threads(np.int64(0))
    assert geomkit.get_num_threads() >= 1


def test_running_stats_merge_and_finish_still_work():
    a = geomkit.pentachoron_partial(X10, 0, 256, n_samples=1000)
    b = geomkit.pentachoron_partial(X10, 256, 1000, n_samples=1000)
    merged = geomkit.RunningStats(a.count, a.mean, a.m2).merge(b)
    whole = geomkit.pentachoron_cv(X10, n_samples=1000)
    res = geomkit.pentachoron_finish(merged, 1000)
    assert res.n_valid == whole.n_valid and res.cv == pytest.approx(whole.cv, rel=1e-12)


# ------------------------------------------------------------------ calls that do not fit the signature
# Wrong argument counts, unknown or doubled keywords: pybind11 alone would answer with
# "incompatible function arguments", every overload and the whole array.
BIG = np.random.default_rng(6).standard_normal((300, 40))  # its repr is long: must not be dumped
NATIVE_FUNCTIONS = [
    "set_num_threads", "get_num_threads", "cayley_menger_determinant", "simplex_volume_sq", "simplex_volume",
    "pentachoron_cv", "pentachoron_partial", "pentachoron_finish", "head_entropy", "bone_orientation",
    "orthogonal_procrustes", "procrustes_align", "participation_ratio", "eigenspectrum", "variance_profile",
    "spectrum_stats", "qk_manifold", "qk_manifold_fused", "pairwise_cosines",
]


def _parameter_names(name, positional_only=False):
    """The parameter names as the native docstring lists them (independent of the wrapper);
    with positional_only, those before a bare '*'."""
    first = getattr(geomkit._native, name).__doc__.splitlines()[0]
    inner = first[first.index("(") + 1:first.rindex(") ->")]
    names = [p.split(":")[0].strip() for p in inner.split(", ") if p]
    if positional_only and "*" in names:
        names = names[:names.index("*")]
    return [n for n in names if n not in ("*", "/")]


def _assert_readable(text, function):
    assert text.startswith(f"geomkit.{function}: argument "), text
    assert "incompatible" not in text and "Invoked with" not in text, text
    assert len(text) < 400, text  # never the whole array


def test_native_functions_are_all_checked():
    listed = {n for n in geomkit.__all__ if callable(getattr(geomkit, n, None)) and hasattr(geomkit._native, n)
              and not isinstance(getattr(geomkit._native, n), type)}
    assert listed == set(NATIVE_FUNCTIONS)


@pytest.mark.parametrize("name", NATIVE_FUNCTIONS)
def test_too_many_positional_arguments(name):
    n = len(_parameter_names(name, positional_only=True))
    with pytest.raises(TypeError) as info:
        getattr(geomkit, name)(*([BIG] * (n + 2)))
    text = str(info.value)
    _assert_readable(text, name)
    assert f"argument {n + 1} (positional) is not a parameter: expected at most {n} positional argument" in text
    assert f"(got {n + 2} positional arguments)" in text


@pytest.mark.parametrize("name", NATIVE_FUNCTIONS)
def test_unknown_keyword(name):
    with pytest.raises(TypeError, match=message_form(name, "bogus") + " is not a parameter") as info:
        getattr(geomkit, name)(BIG, bogus=BIG)
    _assert_readable(str(info.value), name)
    for param in _parameter_names(name):  # the message lists the real parameters
        assert param in str(info.value)


@pytest.mark.parametrize("name", [n for n in NATIVE_FUNCTIONS if _parameter_names(n)])
def test_missing_argument_and_argument_given_twice(name):
    params = _parameter_names(name)
    with pytest.raises(TypeError) as info:
        getattr(geomkit, name)()
    text = str(info.value)
    _assert_readable(text, name)
    assert re.search(message_form(name, params[0]) + " is missing", text), text
    with pytest.raises(TypeError, match=message_form(name, params[0]) + " was given twice") as info:
        getattr(geomkit, name)(BIG, **{params[0]: BIG})
    _assert_readable(str(info.value), name)


def test_missing_second_argument_is_named():
    with pytest.raises(TypeError, match=message_form("qk_manifold", "Wk") + r" is missing: expected "
                       r"qk_manifold\(Wq, Wk, \*, head_dim=\.\.\.\)") as info:
        geomkit.qk_manifold(BIG)
    _assert_readable(str(info.value), "qk_manifold")
    with pytest.raises(TypeError, match=message_form("pentachoron_partial", "sample_end") + " is missing"):
        geomkit.pentachoron_partial(X10, 0)


def test_running_stats_overloads_and_merge_arity():
    cases = [
        (lambda: geomkit.RunningStats(1, 2.0), "RunningStats", "'m2' is missing"),
        (lambda: geomkit.RunningStats(BIG), "RunningStats", "'mean' is missing"),
        (lambda: geomkit.RunningStats(1, 2.0, 0.5, 4), "RunningStats", "4 (positional) is not a parameter"),
        (lambda: geomkit.RunningStats(count=1, mean=2.0, spread=0.5), "RunningStats", "'spread' is not a parameter"),
        (lambda: geomkit.RunningStats().merge(), "RunningStats.merge", "'other' is missing"),
        (lambda: geomkit.RunningStats().merge(geomkit.RunningStats(), BIG), "RunningStats.merge",
         "2 (positional) is not a parameter"),
    ]
    for fn, function, what in cases:
        with pytest.raises(TypeError) as info:
            fn()
        text = str(info.value)
        _assert_readable(text, function)
        assert what in text, text
        if function == "RunningStats":  # both constructor forms are shown
            assert "RunningStats() or RunningStats(count, mean, m2)" in text, text
    # the forms that fit still work, by position and by keyword
    s = geomkit.RunningStats(count=3, mean=1.0, m2=0.5)
    assert (s.count, s.mean, s.m2) == (3, 1.0, 0.5)
    assert geomkit.RunningStats().merge(other=s).count == 3


def test_fitting_calls_by_keyword_and_the_visible_signature():
    X = np.random.default_rng(7).standard_normal((30, 4))
    ref = np.linalg.svd(X - X.mean(0), compute_uv=False) ** 2
    assert geomkit.participation_ratio(X=X, centered=True) == pytest.approx(ref.sum() ** 2 / (ref ** 2).sum())
    sig = inspect.signature(geomkit.pentachoron_cv)
    assert list(sig.parameters)[:3] == ["X", "n_samples", "pool"]
    assert repr(sig.parameters["method"].default) == "'auto'"
    import pickle
    assert pickle.loads(pickle.dumps(geomkit.spectrum_stats)) is geomkit.spectrum_stats


# ------------------------------------------------------------------ sizes and strides
def test_bone_orientation_on_a_huge_zero_strided_view_is_refused():
    x = np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), shape=(1 << 20, 2, 1 << 20, 8),
                                        strides=(0, 0, 0, 4))
    with pytest.raises(ValueError, match=message_form("bone_orientation", "keys") + ".*2\\*\\*40 elements"):
        geomkit.bone_orientation(x)


def test_zero_strided_and_odd_strided_keys_match_a_contiguous_copy(rng):
    base = rng.standard_normal((1, 3, 6, 8)).astype(np.float32)
    views = [np.broadcast_to(base, (4, 3, 6, 8)),                      # zero layer stride
             np.broadcast_to(base[:, :1], (2, 3, 6, 8)),                # zero head and layer strides
             rng.standard_normal((3, 6, 12, 16)).astype(np.float32)[::-1, ::2, ::2, ::2],  # negative, odd
             np.asfortranarray(rng.standard_normal((2, 5, 6, 4)))]
    for v in views:
        for all_heads in (False, True):
            got = geomkit.bone_orientation(v, all_heads=all_heads)
            ref = geomkit.bone_orientation(np.ascontiguousarray(v), all_heads=all_heads)
            assert got.features() == ref.features() and got.composite() == ref.composite()
    h = np.broadcast_to(rng.standard_normal(8), (5, 8))
    assert geomkit.head_entropy(h) == geomkit.head_entropy(np.ascontiguousarray(h))


def test_broadcast_matrices_are_copied_not_refused(rng):
    row = rng.standard_normal(6)
    X = np.broadcast_to(row, (12, 6))  # zero row stride
    assert geomkit.participation_ratio(X, centered=False) == pytest.approx(1.0)
    pts = np.broadcast_to(rng.standard_normal((4, 3)), (5, 4, 3))  # zero batch stride
    np.testing.assert_allclose(geomkit.simplex_volume_sq(pts), geomkit.simplex_volume_sq(np.ascontiguousarray(pts)))


def test_huge_broadcast_matrix_is_refused_with_the_argument():
    X = np.lib.stride_tricks.as_strided(np.zeros(4), shape=(1 << 30, 1 << 12), strides=(0, 8))
    with pytest.raises(ValueError, match=message_form("participation_ratio", "X")):
        geomkit.participation_ratio(X)


def test_pentachoron_cv_huge_sample_count_is_refused_up_front():
    with pytest.raises(ValueError, match=message_form("pentachoron_cv", "n_samples") + ".*1099511627776"):
        geomkit.pentachoron_cv(X10, n_samples=1 << 62)


# ------------------------------------------------------------------ dtypes and array kinds
def test_non_native_byte_order_is_read_correctly(rng):
    X = rng.standard_normal((20, 5))
    for dt in (">f8", ">f4", ">i4", ">f2"):
        Xs = X.astype(dt)
        ref = Xs.astype(Xs.dtype.newbyteorder("="))
        assert geomkit.participation_ratio(Xs) == pytest.approx(geomkit.participation_ratio(ref), rel=1e-12)
    keys = rng.standard_normal((2, 3, 5, 4)).astype(np.float32)
    for dt in (">f4", ">f2", ">f8"):
        k = keys.astype(dt)
        assert geomkit.bone_orientation(k).features() == geomkit.bone_orientation(
            k.astype(k.dtype.newbyteorder("="))).features()


def test_read_only_memory_mapped_and_zero_d(tmp_path, rng):
    X = rng.standard_normal((30, 6))
    ro = X.copy()
    ro.flags.writeable = False
    assert geomkit.participation_ratio(ro) == geomkit.participation_ratio(X)
    path = tmp_path / "x.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")
    assert geomkit.participation_ratio(mm) == geomkit.participation_ratio(X)
    raw = np.memmap(tmp_path / "raw.bin", dtype=np.float32, mode="w+", shape=(30, 6))
    raw[:] = X
    assert geomkit.spectrum_stats(raw)["max_sv"] == pytest.approx(geomkit.spectrum_stats(X.astype(np.float32))["max_sv"])
    for zero_d in (np.float64(1.0), np.array(2.0), 3.0):
        with pytest.raises(ValueError, match=message_form("participation_ratio", "X") + " must have shape"):
            geomkit.participation_ratio(zero_d)


class ArrayOnly:
    """A torch-like tensor that numpy reads through __array__."""

    def __init__(self, a):
        self._a = a

    def __array__(self, dtype=None, copy=None):
        return self._a if dtype is None else self._a.astype(dtype)


class DLPackOnly:
    """A tensor that only speaks DLPack."""

    def __init__(self, a):
        self._a = a

    def __dlpack__(self, **kwargs):
        return self._a.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._a.__dlpack_device__()


class BrokenArray:
    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("device tensor")


def test_torch_like_objects(rng):
    X = rng.standard_normal((25, 7)).astype(np.float32)
    ref = geomkit.participation_ratio(X)
    assert geomkit.participation_ratio(ArrayOnly(X)) == ref
    assert geomkit.participation_ratio(DLPackOnly(X)) == ref
    with pytest.raises(TypeError, match=message_form("participation_ratio", "X")):
        geomkit.participation_ratio(BrokenArray())
    with pytest.raises(TypeError, match=message_form("participation_ratio", "X")):
        geomkit.participation_ratio(object())


# ------------------------------------------------------------------ magnitudes: Procrustes
@pytest.mark.parametrize("sa,sb", [(1e300, 1e300), (1e-300, 1e-300), (1e300, 1e-300), (1e-310, 1.0),
                                   (1e200, 1e100), (1e-200, 1e-150)])
def test_orthogonal_procrustes_at_extreme_magnitudes_matches_scipy(rng, sa, sb):
    A = rng.standard_normal((12, 5))
    B = A @ np.linalg.qr(rng.standard_normal((5, 5)))[0] + 0.1 * rng.standard_normal((12, 5))
    R_ref, s_ref = scipy_linalg.orthogonal_procrustes(A, B)  # R is invariant to positive scaling
    R, s = geomkit.orthogonal_procrustes(A * sa, B * sb)
    np.testing.assert_allclose(R, R_ref, atol=1e-10)
    expected = s_ref * sa * sb  # as Python floats: inf/0 exactly where the true value leaves double
    if np.isfinite(expected) and expected > 1e-300:
        assert s == pytest.approx(expected, rel=1e-10)
    elif np.isinf(expected):
        assert s == np.inf
    # batched: each problem scaled on its own
    RA, sA = geomkit.orthogonal_procrustes(np.stack([A * sa, A]), np.stack([B * sb, B]))
    np.testing.assert_allclose(RA[0], R_ref, atol=1e-10)
    np.testing.assert_allclose(RA[1], R_ref, atol=1e-10)
    assert sA[1] == pytest.approx(s_ref, rel=1e-10)


@pytest.mark.parametrize("scale", [1e300, 1e-300, 1e-320])
def test_procrustes_align_at_extreme_magnitudes(rng, scale):
    A = rng.standard_normal((15, 4)) + 3.0
    B = A @ np.linalg.qr(rng.standard_normal((4, 4)))[0] - 2.0 + 0.05 * rng.standard_normal((15, 4))
    ref = geomkit.procrustes_align(A, B)
    got = geomkit.procrustes_align(A * scale, B * scale)
    assert np.isfinite(got["mean_cosine"]) and np.isfinite(got["relative_residual"])
    np.testing.assert_allclose(got["R"] @ got["R"].T, np.eye(4), atol=1e-12)
    if scale != 1e-320:  # 1e-320 is subnormal: only about 11 bits of each value survive
        np.testing.assert_allclose(got["R"], ref["R"], atol=1e-10)
        np.testing.assert_allclose(got["aligned"] / scale, ref["aligned"], rtol=1e-9, atol=1e-9)
        assert got["relative_residual"] == pytest.approx(ref["relative_residual"], rel=1e-8)
        # the notebook's cosine has + 1e-8 in its denominator: at 1e-300 every cosine is ~0
        if scale > 1:
            # (differs from the unit-scale cosine only by the + 1e-8, relatively ~1e-9)
            assert got["mean_cosine"] == pytest.approx(ref["mean_cosine"], rel=1e-7)
        else:
            assert abs(got["mean_cosine"]) < 1e-200


# ------------------------------------------------------------------ long fuzz run findings
def test_procrustes_when_only_the_product_of_magnitudes_is_extreme(rng):
    # each matrix in range, A^T B far below it: R was inf/NaN (fuzz_procrustes long run)
    A, B = np.array([[1.0], [1e-300]]), np.array([[1e-300], [1.0]])
    R, s = geomkit.orthogonal_procrustes(A, B)
    assert R.tolist() == [[1.0]] and s == pytest.approx(2e-300, rel=1e-12)
    X = rng.standard_normal((10, 3))
    Y = X @ scipy_linalg.orthogonal_procrustes(X, rng.standard_normal((10, 3)))[0]
    for sa, sb in [(1e80, 1e100), (1e-120, 1e-121)]:
        R, s = geomkit.orthogonal_procrustes(X * sa, Y * sb)
        R_ref, s_ref = scipy_linalg.orthogonal_procrustes(X, Y)
        np.testing.assert_allclose(R, R_ref, atol=1e-10)
        assert s == pytest.approx(s_ref * sa * sb, rel=1e-10)
        assert np.isfinite(geomkit.procrustes_align(X * sa, Y * sb)["mean_cosine"])


def test_bone_orientation_of_double_keys_near_the_ends_of_the_range(rng):
    # squared norms of keys near 1e154 overflowed (NaN features), 1e200 was refused
    keys = rng.standard_normal((2, 6, 10, 4))
    ref = geomkit.bone_orientation(keys)
    for scale in (2.0 ** 510, 2.0 ** 900, 2.0 ** -700):
        got = geomkit.bone_orientation(keys * scale)
        assert got.features() == ref.features() and got.composite() == ref.composite()


# ------------------------------------------------------------------ empty Procrustes
def test_orthogonal_procrustes_empty_input_is_scipys_answer():
    for shape in [(0, 0), (0, 3), (3, 0)]:
        a = np.empty(shape)
        R, s = geomkit.orthogonal_procrustes(a, a)
        R_ref, s_ref = scipy_linalg.orthogonal_procrustes(a, a)
        assert R.shape == R_ref.shape and np.array_equal(R, R_ref) and s == s_ref == 0.0
    R, s = geomkit.orthogonal_procrustes(np.empty((2, 0, 3)), np.empty((2, 0, 3)))
    assert R.shape == (2, 3, 3) and np.array_equal(R, np.broadcast_to(np.eye(3), (2, 3, 3)))
    assert np.array_equal(s, [0.0, 0.0])
    with pytest.raises(ValueError, match="procrustes_align: argument 'A'"):
        geomkit.procrustes_align(np.empty((0, 3)), np.empty((0, 3)))


# ------------------------------------------------------------------ scipy's own suite
def _scipy_procrustes_tests():
    import scipy
    return pathlib.Path(scipy.__file__).parent / "linalg" / "tests" / "test_procrustes.py"


def _load_scipy_suite():
    """scipy's test module, imported at test time, with geomkit's function in scipy's place."""
    path = _scipy_procrustes_tests()
    if not path.is_file():
        pytest.skip(f"scipy's test file is not installed ({path})")
    spec = importlib.util.spec_from_file_location("geomkit_scipy_test_procrustes", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError as e:  # scipy's private test helpers moved
        pytest.skip(f"scipy's test module does not import here: {e}")
    module.orthogonal_procrustes = geomkit.orthogonal_procrustes
    return module


def _scipy_cases():
    path = _scipy_procrustes_tests()
    if not path.is_file():
        return ["missing"]
    names = re.findall(r"^    def (test_\w+)\(", path.read_text(), flags=re.M)
    return names


@pytest.mark.parametrize("name", _scipy_cases())
def test_scipy_procrustes_suite(name):
    module = _load_scipy_suite()
    cls = module.TestOrthogonalProcrustes
    method = getattr(cls(), name)
    params = inspect.signature(method).parameters
    kwargs = {}
    if "xp" in params:
        kwargs["xp"] = np
    if "shape" in params:  # test_unitary: complex input
        with pytest.raises(TypeError, match=message_form("orthogonal_procrustes", "A")):
            geomkit.orthogonal_procrustes(np.ones((4, 5)) + 1j, np.ones((4, 5)) + 1j)
        pytest.skip("complex input: geomkit raises a clear TypeError (real-valued only)")
    method(**kwargs)


# --------------------------------------------------------------- the key functions (Python)
@pytest.mark.parametrize("call, kind, pattern", [
    (lambda: geomkit.capture_keys(np.zeros(3)), TypeError,
     r"^geomkit\.capture_keys: argument 'path' must be a checkpoint path .*got ndarray"),
    (lambda: geomkit.capture_keys("/nonexistent/model", "hi"), ValueError,
     r"^geomkit\.capture_keys: /nonexistent/model: "),
    (lambda: geomkit.capture_keys(), TypeError, r"^geomkit\.capture_keys: argument 'path' is missing"),
    (lambda: geomkit.capture_keys("x", "t", 5), TypeError,
     r"^geomkit\.capture_keys: argument 3 \(positional\) is not a parameter"),
    (lambda: geomkit.keys_from_cache(None), TypeError, r"^geomkit\.keys_from_cache: cache: got None"),
    (lambda: geomkit.key_battery(np.zeros((2, 2))), ValueError,
     r"^geomkit\.key_battery: keys: expected shape \(L, H, S, D\), got \(2, 2\)"),
    (lambda: geomkit.key_battery(np.zeros((1, 1, 4, 4)), bogus=1), TypeError,
     r"^geomkit\.key_battery: argument 'bogus' is not a parameter: expected key_battery\(keys, all_heads=\.\.\.\)"),
])
def test_key_functions_name_themselves_and_the_argument(call, kind, pattern):
    with pytest.raises(kind, match=pattern) as info:
        call()
    assert len(str(info.value)) < 300 and "\n" not in str(info.value)
