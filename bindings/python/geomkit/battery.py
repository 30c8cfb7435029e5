"""The report's measures over arrays: the notebook's weight and embedding batteries.

Each function takes numpy arrays (never a file, never a tensor name) and returns plain
Python values (dicts of floats, ints and lists), so a result pickles and serialises to
JSON as it is. The heavy kernels are geomkit's: spectrum_stats, qk_manifold,
eigenspectrum, pentachoron_cv, simplex_volume, procrustes_align.

Streaming: sparsity is a count per tensor merged by addition (``sparsity_counts`` then
``merge_sparsity``); dead neurons need only per-neuron norms (``row_norms``,
``col_norms``), so the MLP's matrices never sit in memory together; the cross-layer
cosine (``CrossLayerCosine``) holds the previous layer only.

Conventions (the research notebook, sections 1, 4 and 5; docs/report.md):
- sparsity: fraction of |w| < t, t in THRESHOLDS, strict inequality, NaN counts as not
  below;
- dead neurons: c_i = ||row i of W_up|| * ||column i of W_down||; dead when
  c_i < 0.01 mean(c), weak when c_i < 0.10 mean(c). For a gated MLP (W_gate beside W_up)
  the same counts are also given for c_i * ||row i of W_gate|| (``with_gate``); the
  headline numbers stay the W_up convention, which is the notebook's;
- cross-layer cosine: <a, b> / (||a|| ||b|| + 1e-8) over the flattened weights, float64
  accumulation;
- embedding: the notebook's section 1 recipe, with percentiles by numpy's default
  (linear) interpolation.
"""

from __future__ import annotations

import math

import numpy as np

import geomkit

THRESHOLDS = (1e-4, 1e-3, 1e-2, 1e-1)
PERCENTILES = (1, 5, 25, 50, 75, 95, 99)
DEAD_FRACTION = 0.01
WEAK_FRACTION = 0.10
COSINE_EPS = 1e-8
ZERO_ROW_NORM = 1e-6
MULTISCALE_K = (3, 4, 5, 6, 7, 8)
HIST_BINS = 60
_CHUNK = 1 << 22  # elements per streamed block (16 MiB of float32)


def _finite(x):
    """float(x), or None where it is NaN/inf (JSON has no NaN)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _blocks(flat: np.ndarray):
    for start in range(0, flat.size, _CHUNK):
        yield flat[start:start + _CHUNK]


def _histogram(values: np.ndarray, bins: int = HIST_BINS, value_range=None) -> dict:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {"counts": [], "edges": []}
    counts, edges = np.histogram(values, bins=bins, range=value_range)
    return {"counts": [int(c) for c in counts], "edges": [float(e) for e in edges]}


def _percentiles(values: np.ndarray, overwrite: bool = False) -> dict:
    """numpy's (linear) percentiles PERCENTILES, one partition for all of them (in place
    when ``overwrite``: the values are reordered)."""
    got = np.percentile(values, PERCENTILES, overwrite_input=overwrite)
    return {str(p): float(v) for p, v in zip(PERCENTILES, got)}


# ------------------------------------------------------------------------------ sparsity
def sparsity_counts(W: np.ndarray, thresholds=THRESHOLDS) -> dict:
    """{"n": number of values, "below": [#(|w| < t) for t in thresholds]}, counted in
    16 MiB blocks so no |W| copy of the whole tensor is made."""
    flat = np.asarray(W).reshape(-1)
    below = [0] * len(thresholds)
    for block in _blocks(flat):
        a = np.abs(block)
        for i, t in enumerate(thresholds):
            below[i] += int(np.count_nonzero(a < t))
    return {"n": int(flat.size), "below": below}


def merge_sparsity(parts, thresholds=THRESHOLDS) -> dict:
    """Sums per-tensor counts: {"n", "below", "fractions": {"1e-04": f, ...}}. The merge is
    exact, so any split of the tensors gives the same fractions."""
    n = 0
    below = [0] * len(thresholds)
    for p in parts:
        n += p["n"]
        below = [a + b for a, b in zip(below, p["below"])]
    fractions = {f"{t:.0e}": (b / n if n else None) for t, b in zip(thresholds, below)}
    return {"n": n, "below": below, "fractions": fractions}


# ------------------------------------------------------------------------------ dead neurons
def row_norms(W: np.ndarray) -> np.ndarray:
    """Euclidean norm of each row, accumulated in float64."""
    W = np.asarray(W)
    out = np.empty(W.shape[0], dtype=np.float64)
    step = max(1, _CHUNK // max(W.shape[1], 1))
    for r in range(0, W.shape[0], step):
        block = W[r:r + step].astype(np.float64)
        out[r:r + step] = np.sqrt(np.einsum("ij,ij->i", block, block))
    return out


def col_norms(W: np.ndarray) -> np.ndarray:
    """Euclidean norm of each column, accumulated in float64."""
    W = np.asarray(W)
    acc = np.zeros(W.shape[1], dtype=np.float64)
    step = max(1, _CHUNK // max(W.shape[1], 1))
    for r in range(0, W.shape[0], step):
        block = W[r:r + step].astype(np.float64)
        acc += np.einsum("ij,ij->j", block, block)
    return np.sqrt(acc)


def dead_neurons(importance: np.ndarray) -> dict:
    """Counts of neurons whose importance c_i is below 1 % (dead) and 10 % (weak) of the
    mean, with the distribution's summary."""
    c = np.asarray(importance, dtype=np.float64)
    if c.size == 0:
        raise ValueError("dead_neurons: 'importance' is empty")
    mean = float(c.mean())
    dead = int(np.count_nonzero(c < DEAD_FRACTION * mean))
    weak = int(np.count_nonzero(c < WEAK_FRACTION * mean))
    return {
        "d_ff": int(c.size), "mean": _finite(mean), "std": _finite(c.std()),
        "min": _finite(c.min()), "max": _finite(c.max()),
        "dead": dead, "weak": weak, "dead_frac": dead / c.size, "weak_frac": weak / c.size,
    }


def mlp_dead_neurons(up_norms, down_norms, gate_norms=None) -> dict:
    """The notebook's dead-neuron battery from per-neuron norms: up_norms[i] = ||row i of
    W_up||, down_norms[i] = ||column i of W_down||. With gate_norms (a gated MLP) the same
    counts for c_i * ||row i of W_gate|| are added under "with_gate"."""
    up = np.asarray(up_norms, dtype=np.float64)
    down = np.asarray(down_norms, dtype=np.float64)
    if up.shape != down.shape:
        raise ValueError(f"mlp_dead_neurons: 'down_norms' has {down.size} neurons, 'up_norms' {up.size}")
    c = up * down
    out = dead_neurons(c)
    out["up_norm_mean"] = _finite(up.mean())
    out["down_norm_mean"] = _finite(down.mean())
    out["histogram"] = _histogram(c / (c.mean() or 1.0), bins=40)
    if gate_norms is not None:
        gate = np.asarray(gate_norms, dtype=np.float64)
        if gate.shape != up.shape:
            raise ValueError(f"mlp_dead_neurons: 'gate_norms' has {gate.size} neurons, 'up_norms' {up.size}")
        g = dead_neurons(c * gate)
        out["with_gate"] = {k: g[k] for k in ("dead", "weak", "dead_frac", "weak_frac", "mean")}
    return out


# ------------------------------------------------------------------------------ cross-layer
def flat_dot_norms(a: np.ndarray, b: np.ndarray):
    """(<a, b>, ||a||², ||b||²) over the flattened arrays: float32 (or float64) products
    summed in runs of 1024, the run sums added in float64."""
    fa, fb = np.asarray(a).reshape(-1), np.asarray(b).reshape(-1)
    if fa.size != fb.size:
        raise ValueError(f"flat_cosine: arrays of {fa.size} and {fb.size} values")
    run = 1024
    whole = fa.size - fa.size % run
    dot = na = nb = 0.0
    for start in range(0, whole, _CHUNK):
        x = fa[start:min(start + _CHUNK, whole)].reshape(-1, run)
        y = fb[start:min(start + _CHUNK, whole)].reshape(-1, run)
        dot += float(np.einsum("ij,ij->i", x, y).sum(dtype=np.float64))
        na += float(np.einsum("ij,ij->i", x, x).sum(dtype=np.float64))
        nb += float(np.einsum("ij,ij->i", y, y).sum(dtype=np.float64))
    x, y = fa[whole:].astype(np.float64), fb[whole:].astype(np.float64)
    return dot + float(x @ y), na + float(x @ x), nb + float(y @ y)


def flat_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The notebook's cross-layer cosine: <a, b> / (||a|| ||b|| + 1e-8), flattened."""
    dot, na, nb = flat_dot_norms(a, b)
    return dot / (math.sqrt(na) * math.sqrt(nb) + COSINE_EPS)


class CrossLayerCosine:
    """Adjacent-layer cosines of one role, fed one layer at a time; holds only the
    previous layer. Layers of a different size than their predecessor break the chain
    (no cosine for that pair, as the notebook leaves such a pair at 0 and we omit it)."""

    def __init__(self):
        self._prev = None
        self._prev_layer = None
        self.pairs = []  # (layer_i, layer_j, cosine)

    def add(self, layer, W: np.ndarray) -> None:
        if self._prev is not None and self._prev.size == W.size:
            self.pairs.append((self._prev_layer, layer, flat_cosine(self._prev, W)))
        self._prev, self._prev_layer = W, layer

    def result(self) -> dict:
        self._prev = None
        return summarise_cross_layer(self.pairs)


def summarise_cross_layer(pairs) -> dict:
    cos = [p[2] for p in pairs]
    return {
        "pairs": [{"layers": [p[0], p[1]], "cosine": _finite(p[2])} for p in pairs],
        "adjacent_mean": _finite(np.mean(cos)) if cos else None,
        "adjacent_min": _finite(min(cos)) if cos else None,
        "adjacent_max": _finite(max(cos)) if cos else None,
    }


# ------------------------------------------------------------------------------ spectra
SPECTRUM_FIELDS = ("stable_rank", "pr", "active_frac", "rank_90", "condition")


def matrix_stats(W: np.ndarray, values: bool = False) -> dict:
    """geomkit.spectrum_stats with non-finite values turned into None; with ``values`` the
    singular values themselves too (a float64 array under "singular_values"), from the same
    computation."""
    stats = geomkit.spectrum_stats(W, singular_values=values)
    return {k: (_finite(v) if isinstance(v, float) else v) for k, v in stats.items()}


def plotted_spectrum(s: np.ndarray, max_points: int = 512) -> list:
    """The singular values s (descending) as at most ``max_points`` (index, value) pairs,
    1-based, at log-spaced indices, for the plotted spectra."""
    s = np.asarray(s, dtype=np.float64)
    if s.size > max_points:
        idx = np.unique(np.round(np.geomspace(1, s.size, max_points)).astype(int) - 1)
        return [[int(i) + 1, float(s[i])] for i in idx]
    return [[i + 1, float(v)] for i, v in enumerate(s)]


def singular_values(W: np.ndarray, max_points: int = 512) -> list:
    """The singular values of W (descending) for the plotted spectra, as
    plotted_spectrum's pairs, from geomkit.spectrum_stats (the svd-accurate values)."""
    return plotted_spectrum(geomkit.spectrum_stats(np.asarray(W), singular_values=True)["singular_values"], max_points)


def spectrum_aggregate(rows) -> dict:
    """Mean (and std) over matrices of each spectrum statistic, as the notebook's "SVD
    EFFECTIVE RANK" table prints them; None values (non-finite) are left out."""
    out = {"n_matrices": len(rows)}
    for f in SPECTRUM_FIELDS:
        vals = [r[f] for r in rows if r.get(f) is not None]
        out[f] = _finite(np.mean(vals)) if vals else None
        out[f + "_std"] = _finite(np.std(vals)) if vals else None
    return out


def qk_trend(rows) -> dict:
    """Positive-eigenvalue fraction n_positive / dim of the first and last layer, their
    difference (the notebook's trend) and the least-squares slope per layer."""
    rows = [r for r in rows if r.get("dim")]
    if not rows:
        return {"first_layer": None, "last_layer": None, "first_pos_frac": None,
                "last_pos_frac": None, "trend": None, "slope_per_layer": None}
    fracs = [r["n_positive"] / r["dim"] for r in rows]
    layers = [r["layer"] for r in rows]
    slope = None
    if len(rows) >= 2 and len(set(layers)) > 1:
        slope = _finite(np.polyfit(np.asarray(layers, float), np.asarray(fracs), 1)[0])
    return {"first_layer": layers[0], "last_layer": layers[-1], "first_pos_frac": fracs[0],
            "last_pos_frac": fracs[-1], "trend": fracs[-1] - fracs[0], "slope_per_layer": slope}


# ------------------------------------------------------------------------------ embedding
def embedding_norms(E: np.ndarray) -> dict:
    """Row-norm statistics (float64), zero rows (norm < 1e-6), the per-dimension mean of
    means and of stds, and a norm histogram."""
    norms = row_norms(E)
    per_dim_mean = np.zeros(E.shape[1])
    per_dim_sq = np.zeros(E.shape[1])
    step = max(1, _CHUNK // max(E.shape[1], 1))
    for r in range(0, E.shape[0], step):
        block = np.asarray(E[r:r + step], dtype=np.float64)
        per_dim_mean += block.sum(axis=0)
        per_dim_sq += (block * block).sum(axis=0)
    n = E.shape[0]
    per_dim_mean /= n
    per_dim_std = np.sqrt(np.maximum(per_dim_sq / n - per_dim_mean ** 2, 0.0))
    return {
        "mean": float(norms.mean()), "std": float(norms.std()),
        "min": float(norms.min()), "max": float(norms.max()),
        "argmin": int(norms.argmin()), "argmax": int(norms.argmax()),
        "percentiles": _percentiles(norms),
        "zero_rows": int(np.count_nonzero(norms < ZERO_ROW_NORM)),
        "per_dim_mean_of_means": float(per_dim_mean.mean()),
        "per_dim_mean_of_stds": float(per_dim_std.mean()),
        "histogram": _histogram(norms),
    }


def sample_rows(n: int, size: int, seed: int) -> np.ndarray:
    """The notebook's seeded sample: default_rng(seed).choice(n, size, replace=False), all
    rows (in order) when size >= n."""
    if size >= n:
        return np.arange(n)
    return np.random.default_rng(seed).choice(n, size=size, replace=False)


def pairwise_cosine(E: np.ndarray, n_sample: int = 5000, seed: int = 42) -> dict:
    """Cosines of every pair i < j of a seeded row sample, each norm + 1e-8 as the notebook
    normalises: x_i·x_j / ((‖x_i‖ + 1e-8)(‖x_j‖ + 1e-8)), by geomkit.pairwise_cosines (a
    double Gram in row blocks, bitwise the same at any thread count). Only the pairs
    (n(n-1)/2 float64 values) and one block of the Gram are held."""
    idx = sample_rows(E.shape[0], n_sample, seed)
    m = len(idx)
    if m < 2:
        raise ValueError(f"pairwise_cosine: 'E' needs at least 2 rows, got {m}")
    pairs = geomkit.pairwise_cosines(np.ascontiguousarray(E[idx]), COSINE_EPS)
    mean, std = float(pairs.mean()), float(pairs.std())
    hist = _histogram(pairs, bins=80)
    pct = _percentiles(pairs, overwrite=True)
    return {
        "n_rows": int(m), "seed": int(seed), "n_pairs": int(pairs.size),
        "mean": mean, "std": std, "median": pct["50"], "percentiles": pct, "histogram": hist,
        "method": "geomkit.pairwise_cosines (double Gram)",
    }


def embedding_spectrum(E: np.ndarray, top: int = 5) -> dict:
    """geomkit.eigenspectrum of the row covariance (C = XcᵀXc / n, every row): total
    variance, top eigenvalues, the top one's share, PR, PR/d, variance profile, and the
    eigenvalue list (for plots)."""
    r = geomkit.eigenspectrum(E)
    ev = np.asarray(r["eigenvalues"], dtype=np.float64)
    total = float(r["total_variance"])
    return {
        "total_variance": total,
        "top_eigenvalues": [float(v) for v in ev[:top]],
        "top_share": float(ev[0] / total) if total > 0 else None,
        "participation_ratio": float(r["pr"]),
        "pr_over_d": float(r["pr_over_dim"]),
        "variance_profile": {str(k): int(v) for k, v in r["variance_profile"].items()},
        "eigenvalues": [float(v) for v in ev],
    }


def _cv_dict(res) -> dict:
    return {"cv": _finite(res.cv), "mean": _finite(res.mean), "std": _finite(res.std),
            "n_valid": int(res.n_valid), "n_samples": int(res.n_samples), "in_band": bool(res.in_band)}


def pentachoron(E: np.ndarray, n_samples: int = 1000, seed: int = 0) -> dict:
    """The notebook battery's CV (all rows given, eps 0, ddof 0) and its 0.13-0.30 band."""
    return _cv_dict(geomkit.pentachoron_cv(E, n_samples=n_samples, seed=seed))


def random_baseline(E: np.ndarray, cv: dict, n_samples: int = 1000, seed: int = 0) -> dict:
    """The same CV recipe on Gaussian points N(0, std(E)²) of E's width. The notebook draws
    five fresh points per sample; a pool of min(n, 5 n_samples) Gaussian rows drawn once
    from default_rng(seed) has the same volume distribution. ``volume_ratio`` is the
    embedding's mean volume over the Gaussian one."""
    n, d = E.shape
    std = float(np.sqrt(_flat_var(E)))
    rows = int(min(n, 5 * n_samples))
    G = np.random.default_rng(seed).normal(0.0, std, size=(rows, d)).astype(np.float32)
    base = _cv_dict(geomkit.pentachoron_cv(G, n_samples=n_samples, seed=seed))
    ratio = None
    if cv.get("mean") is not None and base["mean"]:
        ratio = _finite(cv["mean"] / base["mean"])
    return {**base, "gaussian_std": std, "pool_rows": rows, "volume_ratio": ratio}


def _flat_var(E: np.ndarray) -> float:
    """Population variance of every value of E (float64, streamed)."""
    s = s2 = 0.0
    flat = np.asarray(E).reshape(-1)
    for block in _blocks(flat):
        b = block.astype(np.float64)
        s += float(b.sum())
        s2 += float(b @ b)
    m = s / flat.size
    return max(s2 / flat.size - m * m, 0.0)


def simplex_indices(n: int, k: int, n_samples: int, seed: int) -> np.ndarray:
    """(n_samples, k+1) row indices, k+1 distinct rows per simplex, from default_rng(seed)."""
    if n < k + 1:
        raise ValueError(f"simplex_indices: need at least {k + 1} rows for k = {k}, got {n}")
    rng = np.random.default_rng(seed)
    out = np.empty((n_samples, k + 1), dtype=np.int64)
    for s in range(n_samples):
        out[s] = rng.choice(n, size=k + 1, replace=False)
    return out


def multiscale_cv(E: np.ndarray, ks=MULTISCALE_K, n_samples: int = 500, seed: int = 0,
                  chunk: int = 256) -> dict:
    """CV = std/mean (ddof 0) of the k-volumes of ``n_samples`` random (k+1)-row simplices
    for each k, by geomkit.simplex_volume; degenerate simplices (volume 0) are left out as
    the pentachoron recipe leaves them. Indices come from simplex_indices(n, k, n_samples,
    seed + k). The k = 4 volumes' histogram (normalised by their mean) is kept for plots."""
    out = {}
    for k in ks:
        if E.shape[0] < k + 1 or E.shape[1] < k:
            out[str(k)] = {"cv": None, "n_valid": 0, "n_samples": n_samples, "mean": None}
            continue
        idx = simplex_indices(E.shape[0], k, n_samples, seed + k)
        vols = np.concatenate([np.atleast_1d(geomkit.simplex_volume(np.asarray(E[idx[c:c + chunk]])))
                               for c in range(0, n_samples, chunk)])
        valid = vols[vols > 0]
        entry = {"cv": _finite(valid.std() / valid.mean()) if valid.size else None,
                 "mean": _finite(valid.mean()) if valid.size else None,
                 "n_valid": int(valid.size), "n_samples": int(n_samples)}
        if k == 4 and valid.size:
            entry["histogram"] = _histogram(valid / valid.mean(), bins=40)
        out[str(k)] = entry
    return out


def embedding_battery(E: np.ndarray, *, cv_samples: int = 1000, seed: int = 0, cosine_rows: int = 5000,
                      cosine_seed: int = 42, cv_rows=None, multiscale_samples: int = 500) -> dict:
    """Every embedding measure of notebook section 1. ``cv_rows`` (None: all) restricts the
    volume measures (pentachoron CV, baseline, multi-scale) to a seeded row sample; norms,
    per-dimension statistics, PR and the variance profile always use every row."""
    if E.ndim != 2 or E.shape[0] < 2 or E.shape[1] < 1:
        raise ValueError(f"embedding_battery: 'E' must be (n >= 2, d >= 1), got {E.shape}")
    out = {"shape": [int(E.shape[0]), int(E.shape[1])]}
    out["norms"] = embedding_norms(E)
    out["cosine"] = pairwise_cosine(E, cosine_rows, cosine_seed)
    out["spectrum"] = embedding_spectrum(E)
    V = E
    if cv_rows is not None and cv_rows < E.shape[0]:
        V = np.ascontiguousarray(E[np.sort(sample_rows(E.shape[0], cv_rows, seed))])
    out["cv_rows"] = int(V.shape[0])
    out["pentachoron"] = pentachoron(V, cv_samples, seed)
    out["random_baseline"] = random_baseline(V, out["pentachoron"], cv_samples, seed)
    out["multiscale_cv"] = multiscale_cv(V, n_samples=multiscale_samples, seed=seed)
    return out


# ------------------------------------------------------------------------------ comparison
def embedding_alignment(A: np.ndarray, B: np.ndarray, seed: int = 42, max_rows: int = 10000) -> dict:
    """The notebook's cross-model alignment over the first min(n_A, n_B) rows: a seeded
    permutation splits them in halves (each capped at ``max_rows``); orthogonal Procrustes
    (geomkit.procrustes_align, centred on the fit half's means) is fitted on the first
    half and evaluated on the other: the per-row cosine distribution and the relative
    residual ||aligned - B||_F / ||B - mean_B||_F there. When the widths differ the wider
    matrix is first projected on its top principal directions (PCA of the fit half, as
    the notebook's cross-scale projection does)."""
    n = min(A.shape[0], B.shape[0])
    if n < 4:
        raise ValueError(f"embedding_alignment: need at least 4 shared rows, got {n}")
    perm = np.random.default_rng(seed).permutation(n)
    half = n // 2
    fit, test = perm[:min(half, max_rows)], perm[half:half + min(n - half, max_rows)]
    Af, Bf = np.asarray(A[fit], np.float64), np.asarray(B[fit], np.float64)
    At, Bt = np.asarray(A[test], np.float64), np.asarray(B[test], np.float64)
    note = None
    if Af.shape[1] != Bf.shape[1]:
        d = min(Af.shape[1], Bf.shape[1])
        wide_is_a = Af.shape[1] > Bf.shape[1]
        W = Af if wide_is_a else Bf
        mu = W.mean(axis=0)
        _, vecs = np.linalg.eigh((W - mu).T @ (W - mu))
        P = vecs[:, ::-1][:, :d]
        if wide_is_a:
            Af, At = (Af - mu) @ P, (At - mu) @ P
        else:
            Bf, Bt = (Bf - mu) @ P, (Bt - mu) @ P
        note = f"{'A' if wide_is_a else 'B'} projected on its top {d} principal directions"
    r = geomkit.procrustes_align(Af, Bf)
    aligned = (At - r["mean_a"]) @ r["R"] + r["mean_b"]
    cos = np.einsum("ij,ij->i", aligned, Bt) / (np.linalg.norm(aligned, axis=1) * np.linalg.norm(Bt, axis=1)
                                                 + COSINE_EPS)
    spread = np.linalg.norm(Bt - r["mean_b"])
    resid = np.linalg.norm(aligned - Bt)
    return {
        "shared_rows": int(n), "fit_rows": int(fit.size), "test_rows": int(test.size), "seed": int(seed),
        "note": note, "scale": float(r["scale"]), "fit_mean_cosine": float(r["mean_cosine"]),
        "fit_relative_residual": float(r["relative_residual"]),
        "cosine_mean": float(cos.mean()), "cosine_std": float(cos.std()),
        "cosine_median": float(np.median(cos)), "cosine_percentiles": _percentiles(cos),
        "relative_residual": _finite(resid / spread) if spread > 0 else None,
        "cosine_histogram": _histogram(cos, bins=40),
    }
