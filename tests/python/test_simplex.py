"""Cayley–Menger determinants, simplex volumes and pentachoron CV from Python."""

import math

import numpy as np
import pytest

import geomkit
from reference import (bordered_cm, cv_from_volumes, sample_indices, squared_distances,
                       volume_sq_longdouble)


def regular_simplex(k):
    """k+1 vertices of a regular simplex with unit edges, in R^(k+1) (scaled basis vectors)."""
    return np.eye(k + 1) / math.sqrt(2)


def regular_volume(k):
    return math.sqrt((k + 1) / 2 ** k) / math.factorial(k)


@pytest.mark.parametrize("k", range(1, 9))
def test_regular_simplex_closed_form(k):
    pts = regular_simplex(k)
    assert geomkit.simplex_volume(pts) == pytest.approx(regular_volume(k), rel=1e-12)
    cm = geomkit.cayley_menger_determinant(squared_distances(pts))
    k_ = k
    vol2 = (-1) ** (k_ + 1) * cm / (2 ** k_ * math.factorial(k_) ** 2)
    assert vol2 == pytest.approx(regular_volume(k) ** 2, rel=1e-10)


def test_cm_determinant_matches_numpy_on_well_conditioned_points(rng):
    pts = rng.standard_normal((7, 5, 6))
    d2 = squared_distances(pts)
    got = geomkit.cayley_menger_determinant(d2)
    assert got.shape == (7,)
    np.testing.assert_allclose(got, np.linalg.det(bordered_cm(d2)), rtol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batched_volumes_match_long_double_reference(rng, dtype):
    pts = rng.standard_normal((4, 3, 5, 16)).astype(dtype)
    got = geomkit.simplex_volume_sq(pts)
    assert got.shape == (4, 3)
    np.testing.assert_allclose(got, volume_sq_longdouble(pts), rtol=1e-12 if dtype == np.float64 else 1e-9)
    np.testing.assert_allclose(geomkit.simplex_volume(pts), np.sqrt(volume_sq_longdouble(pts)), rtol=1e-9)


@pytest.mark.parametrize("d", [512, 4096])
def test_float32_clustered_offset_simplices_meet_the_numerics_bar(rng, d):
    base = rng.standard_normal((30, 1, d)) + 30.0
    pts = (base + 1e-4 * rng.standard_normal((30, 5, d))).astype(np.float32)
    ref = volume_sq_longdouble(pts)
    got = geomkit.simplex_volume_sq(pts)
    assert np.max(np.abs(got - ref) / ref) <= 1e-6


def test_degenerate_and_low_dimensional_simplices_have_zero_volume():
    pts = np.array([[0.0, 0, 0], [1, 0, 0], [1, 0, 0]])  # repeated point
    assert geomkit.simplex_volume(pts) == 0.0
    assert geomkit.simplex_volume(np.zeros((4, 2))) == 0.0  # d < k


def test_empty_batches_give_empty_results():
    assert geomkit.simplex_volume_sq(np.zeros((0, 5, 3))).shape == (0,)
    assert geomkit.simplex_volume(np.zeros((2, 0, 4, 3), dtype=np.float32)).shape == (2, 0)
    assert geomkit.cayley_menger_determinant(np.zeros((0, 4, 4))).shape == (0,)


def test_input_errors_name_the_argument():
    with pytest.raises(ValueError, match="points"):
        geomkit.simplex_volume_sq(np.ones(3))
    with pytest.raises(TypeError, match="points"):
        geomkit.simplex_volume_sq(np.ones((3, 2), dtype=complex))
    bad = np.ones((3, 3))
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="points"):
        geomkit.simplex_volume_sq(bad)
    with pytest.raises(ValueError, match="d2"):
        geomkit.cayley_menger_determinant(np.ones((3, 4)))


def test_strided_and_integer_inputs(rng):
    pts = rng.standard_normal((5, 8))
    view = pts[:, ::2]  # non-contiguous rows: converted once
    rows = rng.standard_normal((10, 7))[::2]  # strided rows: used in place
    assert geomkit.simplex_volume_sq(view) == pytest.approx(float(volume_sq_longdouble(view)), rel=1e-9)
    assert geomkit.simplex_volume_sq(rows) == pytest.approx(float(volume_sq_longdouble(rows)), rel=1e-9)
    batch = rng.standard_normal((6, 4, 3, 5))[::2, 1:]  # leading axes that do not fold: copied once
    np.testing.assert_allclose(geomkit.simplex_volume_sq(batch), volume_sq_longdouble(batch), rtol=1e-9)
    ints = np.array([[0, 0], [3, 0], [0, 4]])
    assert geomkit.simplex_volume(ints) == pytest.approx(6.0)


# ------------------------------------------------------------------------ pentachoron CV
def test_pentachoron_cv_reproduces_the_same_samples_in_python(rng):
    X = rng.standard_normal((40, 12))
    for kwargs in (dict(n_samples=200, seed=5),
                   dict(n_samples=300, pool=30, seed=9, eps=1e-20, ddof=1, mean_eps=1e-8, min_valid=10)):
        res = geomkit.pentachoron_cv(X, **kwargs)
        pool = kwargs.get("pool") or len(X)
        idx = sample_indices(kwargs["seed"], kwargs["n_samples"], pool)
        v2 = volume_sq_longdouble(X[idx])
        cv, vols = cv_from_volumes(v2, kwargs.get("eps", 0.0), kwargs.get("ddof", 0),
                                   kwargs.get("mean_eps", 0.0), kwargs.get("min_valid", 1))
        assert res.n_samples == kwargs["n_samples"]
        assert res.n_valid == len(vols)
        assert res.cv == pytest.approx(cv, rel=1e-9)
        assert res.mean == pytest.approx(vols.mean(), rel=1e-9)
        assert res.std == pytest.approx(vols.std(ddof=kwargs.get("ddof", 0)), rel=1e-9)
        assert res.in_band == (0.13 < res.cv < 0.30)


def test_pentachoron_cv_is_independent_of_threads_and_repeatable(rng):
    X = rng.standard_normal((300, 32)).astype(np.float32)
    a = geomkit.pentachoron_cv(X, n_samples=3000, seed=1, threads=1)
    b = geomkit.pentachoron_cv(X, n_samples=3000, seed=1, threads=2)
    c = geomkit.pentachoron_cv(X, n_samples=3000, seed=1)
    assert (a.cv, a.mean, a.std, a.n_valid) == (b.cv, b.mean, b.std, b.n_valid) == (c.cv, c.mean, c.std, c.n_valid)
    assert geomkit.pentachoron_cv(X, n_samples=3000, seed=2).cv != a.cv


def test_pentachoron_cv_says_when_there_is_none():
    res = geomkit.pentachoron_cv(np.ones((4, 3)))
    assert res.cv is None and res.n_valid == 0 and not res.in_band
    flat = np.zeros((20, 3))
    flat[:, 0] = np.arange(20)  # collinear points: every volume is 0
    res = geomkit.pentachoron_cv(flat, n_samples=50)
    assert res.cv is None and res.n_valid == 0 and res.n_samples == 50


def test_pentachoron_cv_argument_errors():
    X = np.ones((10, 4))
    with pytest.raises(ValueError, match="pool"):
        geomkit.pentachoron_cv(X, pool=11)
    with pytest.raises(ValueError, match="ddof"):
        geomkit.pentachoron_cv(X, ddof=-1)
    with pytest.raises(ValueError, match="n_samples"):
        geomkit.pentachoron_cv(X, n_samples=-5)
    with pytest.raises(ValueError, match="X"):
        geomkit.pentachoron_cv(np.ones((3, 4, 5)))
