"""geomkit.battery against the notebook's own numpy recipes (sections 1, 4, 5), rewritten
here, and against closed forms."""

import math

import numpy as np
import pytest

import geomkit
from geomkit import battery


# ------------------------------------------------------------------ notebook recipes
def nb_sparsity(mats, thresholds=battery.THRESHOLDS):
    all_vals = np.concatenate([np.abs(m).ravel() for m in mats])
    return [float((all_vals < t).sum() / len(all_vals)) for t in thresholds]


def nb_dead(W_up, W_down):
    up = np.linalg.norm(W_up.astype(np.float64), axis=1)
    down = np.linalg.norm(W_down.astype(np.float64), axis=0)
    c = up * down
    return int((c < 0.01 * c.mean()).sum()), int((c < 0.10 * c.mean()).sum())


def nb_cross(mats):
    out = []
    for a, b in zip(mats[:-1], mats[1:]):
        x, y = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
        out.append(float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-8)))
    return out


def nb_cm_volume_sq(points):
    n = len(points)
    D = np.zeros((n + 1, n + 1))
    D[0, 1:] = 1
    D[1:, 0] = 1
    for i in range(n):
        for j in range(i + 1, n):
            D[i + 1, j + 1] = D[j + 1, i + 1] = np.sum((points[i] - points[j]) ** 2)
    k = n - 1
    return (-1) ** (k + 1) * np.linalg.det(D) / (2 ** k * math.factorial(k) ** 2)


@pytest.fixture
def E(rng):
    """A clustered, anisotropic 'embedding' with a few zero rows."""
    X = rng.standard_normal((1500, 24)) * np.linspace(2.0, 0.1, 24) + 0.3
    X[[3, 700]] = 0.0
    return X.astype(np.float32)


# ------------------------------------------------------------------ sparsity
def test_sparsity_merged_counts_equal_the_pooled_recipe(rng, monkeypatch):
    mats = [rng.standard_normal((40, 30)).astype(np.float32) * s for s in (0.01, 0.1, 1.0)]
    mats[0][:5] = 0.0
    monkeypatch.setattr(battery, "_CHUNK", 97)  # force the streamed blocks
    parts = [battery.sparsity_counts(m) for m in mats]
    merged = battery.merge_sparsity(parts)
    assert merged["n"] == sum(m.size for m in mats)
    assert list(merged["fractions"].values()) == pytest.approx(nb_sparsity(mats), abs=0)
    assert list(merged["fractions"]) == ["1e-04", "1e-03", "1e-02", "1e-01"]
    # any split merges to the same numbers
    again = battery.merge_sparsity([battery.merge_sparsity(parts[:2]), parts[2]])
    assert again["below"] == merged["below"]


def test_sparsity_strict_threshold_and_nan():
    W = np.array([[0.0, 1e-4, -1e-4, 0.5], [np.nan, 0.05, -0.2, 1e-3]], dtype=np.float32)
    c = battery.sparsity_counts(W)
    # 1e-4 in float32 is not below the float64 threshold 1e-4 (it rounds up): strict <
    assert c["below"][0] == int((np.abs(W) < 1e-4).sum()) == 1
    assert c["below"][-1] == 5  # NaN is never below
    assert battery.merge_sparsity([])["fractions"]["1e-01"] is None


# ------------------------------------------------------------------ dead neurons
def test_dead_neurons_match_the_notebook(rng):
    d, ff = 24, 200
    W_up = rng.standard_normal((ff, d)).astype(np.float32)
    W_down = rng.standard_normal((d, ff)).astype(np.float32)
    W_up[:7] *= 1e-3       # dead (c ~ 1e-3 mean)
    W_down[:, 7:19] *= 0.05  # weak, not dead
    r = battery.mlp_dead_neurons(battery.row_norms(W_up), battery.col_norms(W_down))
    dead, weak = nb_dead(W_up, W_down)
    assert (r["dead"], r["weak"]) == (dead, weak) == (7, 19)
    assert r["d_ff"] == ff and r["dead_frac"] == pytest.approx(7 / ff)
    # gated: c_i * |gate_i|
    W_gate = rng.standard_normal((ff, d)).astype(np.float32)
    W_gate[50:53] = 0.0
    g = battery.mlp_dead_neurons(battery.row_norms(W_up), battery.col_norms(W_down), battery.row_norms(W_gate))
    c = np.linalg.norm(W_up, axis=1) * np.linalg.norm(W_down, axis=0) * np.linalg.norm(W_gate, axis=1)
    assert g["with_gate"]["dead"] == int((c < 0.01 * c.mean()).sum())
    assert g["dead"] == 7  # the headline stays the W_up convention


def test_norms_streamed_equal_numpy(rng, monkeypatch):
    W = rng.standard_normal((33, 17)).astype(np.float32)
    monkeypatch.setattr(battery, "_CHUNK", 40)
    np.testing.assert_allclose(battery.row_norms(W), np.linalg.norm(W.astype(np.float64), axis=1), rtol=1e-14)
    np.testing.assert_allclose(battery.col_norms(W), np.linalg.norm(W.astype(np.float64), axis=0), rtol=1e-14)


def test_dead_neuron_errors():
    with pytest.raises(ValueError, match="'importance' is empty"):
        battery.dead_neurons(np.zeros(0))
    with pytest.raises(ValueError, match="'down_norms' has 3 neurons, 'up_norms' 4"):
        battery.mlp_dead_neurons(np.ones(4), np.ones(3))
    with pytest.raises(ValueError, match="'gate_norms'"):
        battery.mlp_dead_neurons(np.ones(4), np.ones(4), np.ones(2))


# ------------------------------------------------------------------ cross-layer
def test_cross_layer_streamed_equals_the_notebook(rng, monkeypatch):
    base = rng.standard_normal((30, 20))
    mats = [(base * (i % 2) + rng.standard_normal((30, 20))).astype(np.float32) for i in range(5)]
    monkeypatch.setattr(battery, "_CHUNK", 1024 * 3)
    chain = battery.CrossLayerCosine()
    for i, m in enumerate(mats):
        chain.add(i, m)
    r = chain.result()
    expect = nb_cross(mats)
    assert [p["cosine"] for p in r["pairs"]] == pytest.approx(expect, abs=1e-7)
    assert r["adjacent_mean"] == pytest.approx(np.mean(expect), abs=1e-7)
    assert (r["adjacent_min"], r["adjacent_max"]) == pytest.approx((min(expect), max(expect)), abs=1e-7)
    assert [p["layers"] for p in r["pairs"]] == [[0, 1], [1, 2], [2, 3], [3, 4]]


def test_cross_layer_closed_forms(rng):
    A = rng.standard_normal((3000,)).astype(np.float32)  # > one 1024-run plus a tail
    n2 = float(A.astype(np.float64) @ A)
    assert battery.flat_cosine(A, A) == pytest.approx(n2 / (n2 + 1e-8), abs=1e-13)
    assert battery.flat_cosine(A, -2 * A) == pytest.approx(-2 * n2 / (2 * n2 + 1e-8), abs=1e-13)
    assert battery.flat_cosine(np.zeros(5), np.zeros(5)) == 0.0  # the +1e-8
    chain = battery.CrossLayerCosine()
    chain.add(0, np.ones((2, 2)))
    chain.add(1, np.ones((3, 2)))  # a size change breaks the chain
    chain.add(2, np.ones((3, 2)))
    assert [p["layers"] for p in chain.result()["pairs"]] == [[1, 2]]
    with pytest.raises(ValueError, match="arrays of 4 and 6 values"):
        battery.flat_cosine(np.ones(4), np.ones(6))
    assert battery.summarise_cross_layer([])["adjacent_mean"] is None


# ------------------------------------------------------------------ spectra and QK
def test_spectrum_aggregate_and_singular_values(rng):
    mats = [rng.standard_normal((40, 25)) * np.linspace(1, 0.01, 25) for _ in range(3)]
    rows = [battery.matrix_stats(m) for m in mats]
    agg = battery.spectrum_aggregate(rows)
    for f in battery.SPECTRUM_FIELDS:
        assert agg[f] == pytest.approx(np.mean([r[f] for r in rows]))
    S = np.linalg.svd(mats[0], compute_uv=False)
    sv = battery.singular_values(mats[0])
    assert [p[0] for p in sv] == list(range(1, 26))
    np.testing.assert_allclose([p[1] for p in sv], S, rtol=1e-9)
    big = battery.singular_values(rng.standard_normal((300, 200)), max_points=50)
    assert len(big) <= 50 and big[0][0] == 1 and big[-1][0] == 200


def test_qk_trend():
    rows = [{"layer": i, "n_positive": p, "dim": 10} for i, p in enumerate([3, 4, 6, 7])]
    t = battery.qk_trend(rows)
    assert (t["first_pos_frac"], t["last_pos_frac"]) == (0.3, 0.7)
    assert t["trend"] == pytest.approx(0.4)
    assert t["slope_per_layer"] == pytest.approx(np.polyfit([0, 1, 2, 3], [.3, .4, .6, .7], 1)[0])
    assert battery.qk_trend([])["trend"] is None


# ------------------------------------------------------------------ embedding
def test_embedding_norms_match_the_notebook(E):
    r = battery.embedding_norms(E)
    norms = np.linalg.norm(E, axis=1)
    assert r["mean"] == pytest.approx(norms.mean(), rel=1e-6)
    assert r["std"] == pytest.approx(norms.std(), rel=1e-5)
    assert (r["min"], r["max"]) == pytest.approx((norms.min(), norms.max()), rel=1e-6)
    assert r["zero_rows"] == int((norms < 1e-6).sum()) == 2
    for p in battery.PERCENTILES:
        assert r["percentiles"][str(p)] == pytest.approx(np.percentile(norms, p), rel=1e-6)
    assert r["per_dim_mean_of_means"] == pytest.approx(E.mean(axis=0).mean(), rel=1e-5)
    assert r["per_dim_mean_of_stds"] == pytest.approx(E.std(axis=0).mean(), rel=1e-5)
    assert sum(r["histogram"]["counts"]) == E.shape[0]


def test_pairwise_cosine_matches_the_notebook(E):
    r = battery.pairwise_cosine(E, n_sample=600, seed=42)
    assert r["method"].startswith("geomkit")
    rng = np.random.default_rng(42)
    idx = rng.choice(E.shape[0], size=600, replace=False)
    S = E[idx].astype(np.float64)
    Sn = S / (np.linalg.norm(S, axis=1, keepdims=True) + 1e-8)
    tri = np.triu_indices(600, k=1)
    flat = (Sn @ Sn.T)[tri]
    assert r["n_pairs"] == flat.size == 600 * 599 // 2
    assert r["mean"] == pytest.approx(flat.mean(), abs=1e-12)
    assert r["std"] == pytest.approx(flat.std(), abs=1e-12)
    assert r["median"] == pytest.approx(np.median(flat), abs=1e-12)
    for p in battery.PERCENTILES:
        assert r["percentiles"][str(p)] == pytest.approx(np.percentile(flat, p), abs=1e-12)
    # fewer rows than the sample: every row, in order
    small = battery.pairwise_cosine(E[:10], n_sample=5000)
    assert small["n_rows"] == 10 and small["n_pairs"] == 45
    with pytest.raises(ValueError, match="at least 2 rows"):
        battery.pairwise_cosine(E[:1])


def test_embedding_spectrum_matches_the_notebook(E):
    r = battery.embedding_spectrum(E)
    X = E.astype(np.float64)
    Xc = X - X.mean(axis=0)
    ev = np.linalg.eigvalsh(Xc.T @ Xc / X.shape[0])[::-1]
    total = ev.sum()
    cum = np.cumsum(ev) / total
    assert r["total_variance"] == pytest.approx(total, rel=1e-9)
    assert r["top_eigenvalues"] == pytest.approx(list(ev[:5]), rel=1e-8)
    assert r["top_share"] == pytest.approx(ev[0] / total, rel=1e-8)
    assert r["participation_ratio"] == pytest.approx(total ** 2 / (ev ** 2).sum(), rel=1e-8)
    assert r["pr_over_d"] == pytest.approx(r["participation_ratio"] / 24)
    for frac in (80, 90, 95, 99):
        assert r["variance_profile"][str(frac)] == int(np.searchsorted(cum, frac / 100) + 1)


def test_multiscale_cv_matches_the_cayley_menger_recipe(E):
    r = battery.multiscale_cv(E, ks=(3, 5, 8), n_samples=60, seed=7, chunk=25)
    for k in (3, 5, 8):
        idx = battery.simplex_indices(E.shape[0], k, 60, 7 + k)
        assert all(len(set(row)) == k + 1 for row in idx)
        v2 = np.array([nb_cm_volume_sq(E[i].astype(np.float64)) for i in idx])
        vols = np.sqrt(v2[v2 > 0])
        assert r[str(k)]["n_valid"] == vols.size
        assert r[str(k)]["cv"] == pytest.approx(vols.std() / vols.mean(), rel=1e-6)
        assert r[str(k)]["mean"] == pytest.approx(vols.mean(), rel=1e-6)
    assert "histogram" not in r["3"]
    tiny = battery.multiscale_cv(E[:4], ks=(3, 4), n_samples=5)
    assert tiny["4"]["cv"] is None and tiny["3"]["n_valid"] == 5
    with pytest.raises(ValueError, match="at least 6 rows for k = 5"):
        battery.simplex_indices(5, 5, 3, 0)


def test_pentachoron_and_random_baseline(E, rng):
    cv = battery.pentachoron(E, n_samples=400, seed=3)
    ref = geomkit.pentachoron_cv(E, n_samples=400, seed=3)
    assert cv["cv"] == ref.cv and cv["in_band"] == ref.in_band
    base = battery.random_baseline(E, cv, n_samples=1000, seed=3)
    assert base["gaussian_std"] == pytest.approx(E.astype(np.float64).std(), rel=1e-9)
    assert base["volume_ratio"] == pytest.approx(cv["mean"] / base["mean"])
    # the notebook's recipe: five fresh Gaussian points per sample
    nb = np.random.default_rng(11)
    vols = []
    for _ in range(1000):
        v2 = nb_cm_volume_sq(nb.normal(0, E.std(), size=(5, E.shape[1])))
        if v2 > 0:
            vols.append(math.sqrt(v2))
    vols = np.array(vols)
    assert base["cv"] == pytest.approx(vols.std() / vols.mean(), abs=0.03)
    assert base["mean"] == pytest.approx(vols.mean(), rel=0.05)


def test_embedding_battery_cv_rows_sample_only_the_volumes(E):
    full = battery.embedding_battery(E, cv_samples=200, cosine_rows=300, multiscale_samples=30)
    part = battery.embedding_battery(E, cv_samples=200, cosine_rows=300, multiscale_samples=30, cv_rows=400)
    assert part["cv_rows"] == 400 and full["cv_rows"] == E.shape[0]
    assert part["spectrum"] == full["spectrum"] and part["norms"] == full["norms"]
    idx = np.sort(battery.sample_rows(E.shape[0], 400, 0))
    assert part["pentachoron"]["cv"] == geomkit.pentachoron_cv(np.ascontiguousarray(E[idx]), n_samples=200).cv
    with pytest.raises(ValueError, match="'E' must be"):
        battery.embedding_battery(E[:1])


# ------------------------------------------------------------------ alignment
def test_alignment_of_a_rotated_copy_is_exact(E, rng):
    Q, _ = np.linalg.qr(rng.standard_normal((24, 24)))
    B = E.astype(np.float64) @ Q + 0.7
    r = battery.embedding_alignment(E, B[:1200], seed=5, max_rows=500)
    assert r["shared_rows"] == 1200 and r["fit_rows"] == 500 and r["test_rows"] == 500
    assert r["relative_residual"] == pytest.approx(0, abs=1e-5)
    assert r["cosine_mean"] == pytest.approx(1, abs=1e-6)


def test_alignment_matches_the_notebook_recipe(E, rng):
    scipy_linalg = pytest.importorskip("scipy.linalg")
    B = (E @ rng.standard_normal((24, 24)) * 0.3 + rng.standard_normal(E.shape)).astype(np.float32)
    r = battery.embedding_alignment(E, B, seed=9)
    n = E.shape[0]
    perm = np.random.default_rng(9).permutation(n)
    fit, test = perm[: n // 2], perm[n // 2:]
    A64, B64 = E.astype(np.float64), B.astype(np.float64)
    ma, mb = A64[fit].mean(axis=0), B64[fit].mean(axis=0)
    R, _ = scipy_linalg.orthogonal_procrustes(A64[fit] - ma, B64[fit] - mb)
    aligned = (A64[test] - ma) @ R + mb
    cos = (aligned * B64[test]).sum(1) / (np.linalg.norm(aligned, axis=1) * np.linalg.norm(B64[test], axis=1) + 1e-8)
    assert r["cosine_mean"] == pytest.approx(cos.mean(), abs=1e-9)
    assert r["cosine_median"] == pytest.approx(np.median(cos), abs=1e-9)
    assert r["relative_residual"] == pytest.approx(
        np.linalg.norm(aligned - B64[test]) / np.linalg.norm(B64[test] - mb), rel=1e-9)


def test_alignment_across_widths_projects_the_wider(E, rng):
    X = E.astype(np.float64)
    Xc = X - X.mean(axis=0)
    _, vecs = np.linalg.eigh(Xc.T @ Xc)
    Q, _ = np.linalg.qr(rng.standard_normal((10, 10)))
    B = Xc @ vecs[:, ::-1][:, :10] @ Q  # A's top-10 principal coordinates, rotated
    r = battery.embedding_alignment(E, B, seed=1)
    assert "A projected on its top 10" in r["note"]
    assert r["cosine_mean"] > 0.99
    with pytest.raises(ValueError, match="at least 4 shared rows"):
        battery.embedding_alignment(E[:3], B[:3])
