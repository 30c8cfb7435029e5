"""geomkit.pairwise_cosines against the notebook's recipe (rows normalised with +eps, the
i < j entries of their Gram) in float64, and its errors."""

import numpy as np
import pytest

import geomkit


def notebook_recipe(X, eps):
    S = np.asarray(X, dtype=np.float64)
    S = S / (np.linalg.norm(S, axis=1, keepdims=True) + eps)
    G = S @ S.T
    return G[np.triu_indices(len(S), 1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 3), (97, 16), (1100, 40)])
@pytest.mark.parametrize("eps", [0.0, 1e-8])
def test_matches_the_notebook_recipe(rng, dtype, shape, eps):
    X = (rng.standard_normal(shape) + 0.2).astype(dtype)
    got = geomkit.pairwise_cosines(X, eps=eps)
    assert got.dtype == np.float64 and got.shape == (shape[0] * (shape[0] - 1) // 2,)
    np.testing.assert_allclose(got, notebook_recipe(X, eps), rtol=0, atol=1e-14)


def test_strided_rows_huge_scale_and_threads(rng):
    X = rng.standard_normal((700, 64))
    base = geomkit.pairwise_cosines(X[:, :32])
    np.testing.assert_allclose(base, notebook_recipe(X[:, :32], 0.0), atol=1e-14)
    assert np.array_equal(geomkit.pairwise_cosines(X[:, :32] * 2.0 ** 900), base)
    assert np.array_equal(geomkit.pairwise_cosines(X, threads=1), geomkit.pairwise_cosines(X, threads=2))


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="'X'.*at least 2 rows"):
        geomkit.pairwise_cosines(np.ones((1, 4)))
    with pytest.raises(ValueError, match="'X'"):
        geomkit.pairwise_cosines(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="'eps'"):
        geomkit.pairwise_cosines(np.ones((3, 4)), eps=-1.0)
    with pytest.raises((ValueError, TypeError), match="'X'"):
        geomkit.pairwise_cosines(np.ones(4))
