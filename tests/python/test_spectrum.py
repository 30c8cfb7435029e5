"""Procrustes, participation ratio and the weight battery against scipy and numpy."""

import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes as scipy_procrustes

import geomkit


def random_rotation(rng, d):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


# ------------------------------------------------------------------------ Procrustes
@pytest.mark.parametrize("n,d", [(50, 8), (200, 32), (10, 10), (7, 12)])
def test_procrustes_equals_scipy(rng, n, d):
    A = rng.standard_normal((n, d))
    B = rng.standard_normal((n, d))
    R, scale = geomkit.orthogonal_procrustes(A, B)
    R_ref, scale_ref = scipy_procrustes(A, B)
    if n >= d:
        np.testing.assert_allclose(R, R_ref, atol=1e-10)
    np.testing.assert_allclose(R @ R.T, np.eye(d), atol=1e-10)
    assert scale == pytest.approx(scale_ref, rel=1e-12)


def test_procrustes_recovers_a_rotation_exactly(rng):
    A = rng.standard_normal((100, 16))
    Q = random_rotation(rng, 16)
    R, _ = geomkit.orthogonal_procrustes(A, A @ Q)
    np.testing.assert_allclose(R, Q, atol=1e-12)
    R32, _ = geomkit.orthogonal_procrustes(A.astype(np.float32), (A @ Q).astype(np.float32))
    np.testing.assert_allclose(R32, Q, atol=1e-5)


def test_procrustes_proper_rotation_variant(rng):
    A = rng.standard_normal((60, 5))
    F = np.diag([1, 1, 1, 1, -1.0])
    R, _ = geomkit.orthogonal_procrustes(A, A @ F)
    assert np.linalg.det(R) == pytest.approx(-1.0)
    R_proper, _ = geomkit.orthogonal_procrustes(A, A @ F, proper=True)
    assert np.linalg.det(R_proper) == pytest.approx(1.0)


def test_batched_procrustes_equals_a_loop_over_scipy(rng):
    A = rng.standard_normal((6, 3, 40, 9))
    B = rng.standard_normal((6, 3, 40, 9))
    R, scale = geomkit.orthogonal_procrustes(A, B)
    assert R.shape == (6, 3, 9, 9) and scale.shape == (6, 3)
    for i in range(6):
        for j in range(3):
            R_ref, s_ref = scipy_procrustes(A[i, j], B[i, j])
            np.testing.assert_allclose(R[i, j], R_ref, atol=1e-10)
            assert scale[i, j] == pytest.approx(s_ref, rel=1e-12)


def test_procrustes_errors():
    with pytest.raises(ValueError, match="B"):
        geomkit.orthogonal_procrustes(np.ones((5, 3)), np.ones((5, 4)))
    bad = np.ones((5, 3))
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="A"):
        geomkit.orthogonal_procrustes(bad, np.ones((5, 3)))


# ------------------------------------------------------------------------ participation ratio
def pr_eig(X):
    Xc = X.astype(np.float64) - X.astype(np.float64).mean(axis=0)
    ev = np.linalg.eigvalsh(Xc.T @ Xc / len(X))
    return ev.sum() ** 2 / (ev ** 2).sum()


@pytest.mark.parametrize("n,d", [(500, 20), (30, 200), (64, 64)])
def test_participation_ratio_equals_the_eigenvalue_route(rng, n, d):
    X = rng.standard_normal((n, d)) @ np.diag(np.linspace(2, 0.1, d))
    assert geomkit.participation_ratio(X) == pytest.approx(pr_eig(X), rel=1e-12)


def test_participation_ratio_float32_clustered_is_double_accurate(rng):
    X = (30.0 + 1e-3 * rng.standard_normal((4000, 64)) @ np.diag(np.geomspace(1, 0.01, 64))).astype(np.float32)
    assert geomkit.participation_ratio(X) == pytest.approx(pr_eig(X), rel=1e-6)


def test_calls_from_several_python_threads_and_a_forked_child(rng):
    # The GIL is released during the call, so these overlap: one caller has geomkit's
    # thread pool, the others threads of their own; each result is bitwise the lone call's.
    import concurrent.futures
    import os

    Xs = [rng.standard_normal((3000, 96)).astype(np.float32) + i for i in range(6)]
    alone = [geomkit.participation_ratio(X) for X in Xs]
    with concurrent.futures.ThreadPoolExecutor(3) as ex:
        together = list(ex.map(geomkit.participation_ratio, Xs * 4))
    assert together == alone * 4
    if not hasattr(os, "fork"):
        return
    pid = os.fork()
    if pid == 0:  # the child has none of the parent's pool threads; it must not wait on them
        import signal

        signal.alarm(20)  # a hung child ends instead of hanging the suite
        os._exit(0 if geomkit.participation_ratio(Xs[0]) == alone[0] else 1)
    assert os.waitpid(pid, 0)[1] == 0


@pytest.mark.parametrize("kind", ["gaussian", "lognormal", "clusters"])
def test_participation_ratio_float32_wide_takes_amx_or_float_route(rng, kind, monkeypatch):
    # 1100 x 1030: the AMX route's shape (d >= 1024, n >= d) where the CPU has AMX-INT8;
    # its exact integer Gram is within 1e-9 of the float64 route, the float kernel within 1e-6.
    n, d = 1100, 1030
    if kind == "gaussian":
        X = rng.standard_normal((n, d)) + 100.0
    elif kind == "lognormal":
        X = np.exp(2.0 * rng.standard_normal((n, d)))
    else:
        X = rng.standard_normal((4, d))[rng.integers(0, 4, n)] + 1e-3 * rng.standard_normal((n, d))
        X[:3] *= 300.0
    X = X.astype(np.float32)
    ref = pr_eig(X.astype(np.float64))
    monkeypatch.delenv("GEOMKIT_DISABLE_AMX", raising=False)
    amx = geomkit.simd_info()["amx"]
    assert geomkit.participation_ratio(X) == pytest.approx(ref, rel=1e-9 if amx else 1e-6)
    monkeypatch.setenv("GEOMKIT_DISABLE_AMX", "1")
    assert geomkit.simd_info()["amx"] is False
    assert geomkit.participation_ratio(X) == pytest.approx(ref, rel=1e-6)


def test_participation_ratio_closed_forms(rng):
    X = rng.standard_normal((20000, 16))
    assert geomkit.participation_ratio(X) == pytest.approx(16, rel=0.02)
    rank1 = np.outer(rng.standard_normal(100), rng.standard_normal(8))
    assert geomkit.participation_ratio(rank1) == pytest.approx(1.0)
    unc = rng.standard_normal((50, 6)) + 10
    Xu = unc.astype(np.float64)
    ev = np.linalg.eigvalsh(Xu.T @ Xu)
    assert geomkit.participation_ratio(unc, centered=False) == pytest.approx(ev.sum() ** 2 / (ev ** 2).sum(), rel=1e-10)


def test_variance_profile_counts_leading_directions(rng):
    X = rng.standard_normal((3000, 10)) @ np.diag([10, 5, 3, 2, 1, 0.5, 0.3, 0.2, 0.1, 0.05])
    Xc = X - X.mean(axis=0)
    ev = np.linalg.eigvalsh(Xc.T @ Xc)[::-1]
    cum = np.cumsum(ev) / ev.sum()
    prof = geomkit.variance_profile(X)
    for frac in (80, 90, 95, 99):
        assert prof[frac] == int(np.searchsorted(cum, frac / 100) + 1)


# ------------------------------------------------------------------------ spectrum stats
def battery(W):
    S = np.linalg.svd(W.astype(np.float64), compute_uv=False)
    cum = np.cumsum(S) / S.sum()
    return dict(stable_rank=(S ** 2).sum() / S[0] ** 2, pr=S.sum() ** 2 / (S ** 2).sum(),
                active_frac=(S > 0.01 * S[0]).sum() / len(S), rank_90=int(np.searchsorted(cum, 0.9) + 1),
                condition=S[0] / (S[-1] + 1e-10), max_sv=S[0], min_sv=S[-1])


@pytest.mark.parametrize("shape", [(64, 32), (32, 64), (50, 50), (1, 7), (7, 1)])
def test_spectrum_stats_equal_the_svd_battery(rng, shape):
    W = rng.standard_normal(shape) @ np.diag(np.geomspace(1, 0.05, shape[1]))
    got = geomkit.spectrum_stats(W)
    ref = battery(W)
    for k in ("stable_rank", "pr", "active_frac", "max_sv"):
        assert got[k] == pytest.approx(ref[k], rel=1e-9), k
    assert got["rank_90"] == ref["rank_90"]
    assert got["min_sv"] == pytest.approx(ref["min_sv"], rel=1e-6, abs=1e-12)
    assert got["condition"] == pytest.approx(ref["condition"], rel=1e-6)


@pytest.mark.parametrize("shape", [(300, 120), (120, 300), (200, 200)])
def test_spectrum_stats_returns_its_singular_values(rng, shape):
    W = (rng.standard_normal(shape) * np.geomspace(1, 1e-4, shape[1])).astype(np.float32)
    got = geomkit.spectrum_stats(W, singular_values=True)
    S = np.linalg.svd(W.astype(np.float64), compute_uv=False)
    assert got["singular_values"].dtype == np.float64 and got["singular_values"].shape == S.shape
    np.testing.assert_allclose(got["singular_values"], S, rtol=0, atol=1e-13 * S[0])
    assert got["max_sv"] == got["singular_values"][0] and got["min_sv"] == got["singular_values"][-1]
    plain = geomkit.spectrum_stats(W)
    assert "singular_values" not in plain
    assert {k: v for k, v in got.items() if k != "singular_values"} == plain
    with pytest.raises(TypeError, match="singular_values"):
        geomkit.spectrum_stats(W, singular_values="yes")


def test_spectrum_stats_of_entries_near_the_double_range_ends():
    base = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 10]], dtype=np.float64)
    ref = geomkit.spectrum_stats(base)
    for f in (1.7e307, 1e-311):
        got = geomkit.spectrum_stats(base * f)
        for k in ("stable_rank", "pr", "active_frac", "rank_90"):
            assert np.isfinite(got[k]) and got[k] == pytest.approx(ref[k], rel=1e-6), (f, k)
        # condition = S0 / (S_min + 1e-10): the 1e-10 dominates for the subnormal matrix
        assert got["condition"] == pytest.approx(ref["max_sv"] / (ref["min_sv"] + 1e-10 / f), rel=1e-6)
    assert np.isinf(geomkit.spectrum_stats(base * 1.7e307)["max_sv"])  # S0 = 1.7e308 * 1.1 overflows


def test_participation_ratio_of_subnormal_float32():
    # the long fuzz run's finding: NaN for the smallest subnormal floats, uncentred
    X = np.full((2, 4), 1.4e-45, np.float32)
    assert geomkit.participation_ratio(X, centered=False) == pytest.approx(1.0, rel=1e-12)
    r = geomkit.participation_ratio(X.astype(np.float64), centered=False)
    assert r == pytest.approx(1.0, rel=1e-12)


def test_qk_manifold_fields(rng):
    Wq = rng.standard_normal((24, 16))
    Wk = rng.standard_normal((24, 16))
    got = geomkit.qk_manifold(Wq, Wk)
    QK = Wq @ Wk.T
    S = np.linalg.svd(QK, compute_uv=False)
    assert got["stable_rank"] == pytest.approx((S ** 2).sum() / S[0] ** 2, rel=1e-9)
    assert got["pr"] == pytest.approx(S.sum() ** 2 / (S ** 2).sum(), rel=1e-9)
    asym = np.linalg.norm(QK - QK.T) / (np.linalg.norm(QK) + 1e-10)
    assert got["symmetry_deviation"] == pytest.approx(asym, rel=1e-9)
    ev = np.linalg.eigvalsh((QK + QK.T) / 2)
    assert got["n_positive"] + got["n_negative"] <= 24
    assert got["n_positive"] == int((ev > 0).sum()) or got["n_positive"] == int((ev > 1e-10 * abs(ev).max()).sum())
    fused = geomkit.qk_manifold_fused(np.concatenate([Wq, Wk, rng.standard_normal((24, 16))], axis=0))
    assert fused["stable_rank"] == pytest.approx(got["stable_rank"], rel=1e-12)


def qk_reference(Wq, Wk):
    """The notebook's QK measures in float64 numpy, eigenvalues within p·ε·max|λ| of zero
    counted as neither sign."""
    QK = Wq.astype(np.float64) @ Wk.astype(np.float64).T
    S = np.linalg.svd(QK, compute_uv=False)
    ev = np.linalg.eigvalsh((QK + QK.T) / 2)
    tol = QK.shape[0] * np.finfo(np.float64).eps * np.abs(ev).max()
    return {"stable_rank": (S ** 2).sum() / S[0] ** 2, "pr": S.sum() ** 2 / (S ** 2).sum(),
            "symmetry_deviation": np.linalg.norm(QK - QK.T) / (np.linalg.norm(QK) + 1e-10),
            "n_positive": int((ev > tol).sum()), "n_negative": int((ev < -tol).sum()),
            "top3_eigenvalues": ev[::-1][:3].tolist(), "dim": QK.shape[0], "ev": ev}


@pytest.mark.parametrize("H,kv,d,m,dtype", [(12, 2, 8, 40, np.float64), (8, 2, 16, 64, np.float32),
                                            (6, 3, 8, 32, np.float64), (4, 4, 8, 20, np.float32)])
def test_qk_manifold_grouped_keys_match_the_repeated_keys(rng, H, kv, d, m, dtype):
    # GQA: key head h serves query heads h*g .. h*g+g-1. With head_dim, geomkit works on the
    # r = kv*d key rows as they are (2r < p: spectra of r and 2r rows only); numpy gets the
    # repeated keys and the dense p x p spectra. QK's rank is at most r, so p - 2r of the
    # symmetric part's eigenvalues are zero up to rounding and count as neither sign.
    Wq = rng.standard_normal((H * d, m)).astype(dtype)
    Wk = rng.standard_normal((kv * d, m)).astype(dtype)
    Wk_rep = np.repeat(Wk.reshape(kv, d, m), H // kv, axis=0).reshape(H * d, m)
    want = qk_reference(Wq, Wk_rep)
    for got in (geomkit.qk_manifold(Wq, Wk, head_dim=d), geomkit.qk_manifold(Wq, Wk_rep)):
        for key in ("stable_rank", "pr", "symmetry_deviation"):
            assert got[key] == pytest.approx(want[key], rel=1e-10), key
        assert got["top3_eigenvalues"] == pytest.approx(want["top3_eigenvalues"], rel=1e-10, abs=1e-12)
        assert (got["n_positive"], got["n_negative"], got["dim"]) == (want["n_positive"], want["n_negative"], H * d)
    if 2 * kv * d < H * d:  # the zeros are there and are not counted
        assert want["n_positive"] + want["n_negative"] == min(2 * kv * d, H * d)
        assert np.sort(np.abs(want["ev"]))[H * d - 2 * kv * d - 1] < 1e-13 * np.abs(want["ev"]).max()


def test_qk_manifold_head_dim_errors():
    Wq, Wk = np.ones((8, 5)), np.ones((4, 5))
    with pytest.raises(ValueError, match="head_dim.*fewer rows"):
        geomkit.qk_manifold(Wq, Wk)
    with pytest.raises(ValueError, match="head_dim"):
        geomkit.qk_manifold(Wq, Wk, head_dim=0)
    with pytest.raises(ValueError, match="'Wk'.*whole number of heads of head_dim = 3"):
        geomkit.qk_manifold(np.ones((9, 5)), Wk, head_dim=3)
    with pytest.raises(ValueError, match="'Wk'.*divides the 4 query heads"):
        geomkit.qk_manifold(Wq, np.ones((6, 5)), head_dim=2)
    with pytest.raises(ValueError, match="'Wq'.*whole number of heads"):
        geomkit.qk_manifold(np.ones((7, 5)), Wk, head_dim=2)
    with pytest.raises(ValueError, match="'Wk'.*columns"):
        geomkit.qk_manifold(Wq, np.ones((4, 6)), head_dim=2)


def test_spectrum_errors():
    with pytest.raises(ValueError, match="W"):
        geomkit.spectrum_stats(np.ones(5))
    with pytest.raises(ValueError, match="Wk"):
        geomkit.qk_manifold(np.ones((4, 3)), np.ones((4, 5)))
