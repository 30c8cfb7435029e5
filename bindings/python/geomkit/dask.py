"""geomkit on Dask: the spectrum and the pentachoron CV of point clouds too large for one
machine, bone orientation over many key snapshots, and the report over many checkpoints.

An optional extra: ``pip install 'geomkit[dask]'``. ``import geomkit`` never imports Dask.

Point clouds are ``dask.array`` arrays of shape (n, d) chunked by rows (a numpy array is
wrapped; chunks across columns are joined). Every function computes with Dask's current
scheduler (a ``distributed.Client`` when one is active); ``compute_kwargs`` go to
``dask.compute`` (e.g. ``scheduler="sync"``).

Exactness, against the in-memory functions on the same array:

- ``participation_ratio``, ``eigenspectrum``, ``variance_profile``: each chunk of rows gives
  (count, mean, centred Gram XcᵀXc) in float64; partials merge by the parallel-axis
  update of Chan et al. (M = Ma + Mb + δδᵀ·na·nb/n) along the fixed tree of
  ``dask.array.reduction`` (``split_every``), so the result does not depend on the
  scheduling. Float64 input: within 1e-12 relative of ``geomkit.participation_ratio``.
  Float32 input is widened exactly, so the result is that of the float64 copy (1e-12);
  the in-memory float32 kernel is itself within 1e-6 of it. The Gram is d × d: meant for
  d up to a few thousand (d = 4096 is 128 MiB per partial).
- ``pentachoron_cv``: bitwise equal to ``geomkit.pentachoron_cv``. Sample i draws its five
  rows from the whole pool with the library's counter-based sampler (Philox4x32-10 keyed
  by the seed, counter i, then Floyd's algorithm: ``sample_indices`` reproduces it), so
  each task gathers only the rows its samples need. Per 256-sample chunk (the library's
  ``pentachoron_chunk``) the valid volumes are accumulated exactly as the C++ does, and the
  chunks' ``RunningStats`` merge left to right in sample order, as on one machine. When
  the in-memory call would take its pool-Gram path (a pool of at most 4096 rows shared by
  many samples), the pool is gathered and ``geomkit.pentachoron_cv`` runs on it in one task.
  Bitwise holds when client and workers run the same SIMD level of geomkit
  (``geomkit.simd_info()['active']``; ``GEOMKIT_SIMD`` caps it).
"""

from __future__ import annotations

import functools
import math
import os
import pathlib
import warnings
from fractions import Fraction

import numpy as np

try:
    import dask
    import dask.array as da
    import dask.bag as db
except ImportError as _error:  # pragma: no cover - exercised by test_dask's subprocess check
    raise ImportError(
        "geomkit.dask needs Dask (dask[array] and distributed); install it with "
        "pip install 'geomkit[dask]'") from _error

import geomkit

__all__ = [
    "participation_ratio", "eigenspectrum", "variance_profile", "gram_stats",
    "sample_indices", "pentachoron_cv", "bone_orientation", "run_report",
]

PENTACHORON_CHUNK = 256  # samples per RunningStats chunk: geomkit::pentachoron_chunk
MERGE_WINDOW = 1 << 16   # chunks merged per window in detail::pentachoron_stats


# ----------------------------------------------------------------------------- helpers
def _fmt(v) -> str:
    """A number as the C++ error messages print it (ostream defaults: %g)."""
    v = float(v)
    if math.isnan(v):
        return "-nan" if math.copysign(1.0, v) < 0 else "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return "%g" % v


def _arg_error(function: str, argument: str, what: str, got) -> ValueError:
    return ValueError(f"geomkit::{function}: argument '{argument}' {what} (got {got})")


def _rows(X, function: str):
    """X as a 2-D float dask array chunked by rows only."""
    if not isinstance(X, da.Array):
        if not hasattr(X, "shape") or not hasattr(X, "dtype"):
            raise TypeError(f"geomkit.dask.{function}: argument 'X' must be a dask.array or numpy array "
                            f"of shape (n, d), not {type(X).__name__}")
        X = da.from_array(X, chunks=(max(1, min(len(X), 65536)), -1))
    if X.ndim != 2:
        raise _arg_error(function, "X", "must be a 2-D array (n, d)", f"{X.ndim} dimensions")
    if X.dtype not in (np.float32, np.float64):
        if not (np.issubdtype(X.dtype, np.floating) or np.issubdtype(X.dtype, np.integer)):
            raise TypeError(f"geomkit.dask.{function}: argument 'X' must hold real numbers, not {X.dtype}")
        X = X.astype(np.float64)
    if X.numblocks[1] != 1:
        X = X.rechunk({1: -1})
    if any(math.isnan(c) for c in X.chunks[0]):
        raise _arg_error(function, "X", "must have known chunk sizes (call X.compute_chunk_sizes())",
                         "unknown row chunks")
    return X


def _first_nonfinite(block: np.ndarray):
    """(row, col, value) of the first non-finite entry in row-major order, or None."""
    bad = ~np.isfinite(block)
    if not bad.any():
        return None
    k = int(np.argmax(bad.ravel()))
    r, c = divmod(k, block.shape[1])
    return (r, c, float(block[r, c]))


def _nonfinite_error(function: str, bad) -> ValueError:
    r, c, v = bad
    return _arg_error(function, "X", "must contain only finite values", f"{_fmt(v)} at [{r}, {c}]")


# ------------------------------------------------------------------- Gram reduction
def _gram_chunk(block, axis=None, keepdims=None, centered=True, computing_meta=False):
    if computing_meta:
        return block
    b = np.asarray(block, dtype=np.float64)
    bad = _first_nonfinite(b)
    n = b.shape[0]
    if bad is not None or n == 0:
        return {"n": n, "mean": np.zeros(b.shape[1]), "M": None, "bad": bad}
    mean = b.mean(axis=0) if centered else np.zeros(b.shape[1])
    c = b - mean if centered else b
    return {"n": n, "mean": mean, "M": c.T @ c, "bad": None}


def _gram_merge(a: dict, b: dict, centered: bool) -> dict:
    """The parallel-axis update of (count, mean, centred Gram); `a` holds the earlier rows."""
    bad = a["bad"]
    if bad is None and b["bad"] is not None:
        bad = (b["bad"][0] + a["n"],) + tuple(b["bad"][1:])
    if bad is not None:
        return {"n": a["n"] + b["n"], "mean": a["mean"], "M": None, "bad": bad}
    if b["n"] == 0:
        return a
    if a["n"] == 0:
        return b
    n = a["n"] + b["n"]
    if not centered:
        return {"n": n, "mean": a["mean"], "M": a["M"] + b["M"], "bad": None}
    delta = b["mean"] - a["mean"]
    mean = a["mean"] + delta * (b["n"] / n)
    M = a["M"] + b["M"]
    M += np.outer(delta, delta) * (a["n"] * b["n"] / n)
    return {"n": n, "mean": mean, "M": M, "bad": None}


def _flatten(parts):
    if isinstance(parts, dict):
        yield parts
    else:
        for p in parts:
            yield from _flatten(p)


def _gram_combine(parts, axis=None, keepdims=None, centered=True):
    it = _flatten(parts)
    r = next(it)
    for p in it:  # left to right: the blocks' row order
        r = _gram_merge(r, p, centered)
    return r


def _gram_aggregate(parts, axis=None, keepdims=None, centered=True):
    out = np.empty((), dtype=object)
    out[()] = _gram_combine(parts, centered=centered)
    return out


def gram_stats(X, centered: bool = True, split_every: int = 8):
    """A 0-d dask object array whose value is {"n", "mean", "M", "bad"}: the row count,
    column means and centred Gram XcᵀXc (d × d, float64) of the rows of X, merged along
    ``dask.array.reduction``'s fixed tree (``split_every`` partials per node); "bad" is the
    first non-finite entry (row, col, value) or None."""
    X = _rows(X, "gram_stats")
    if int(split_every) < 2:
        raise ValueError(f"geomkit.dask.gram_stats: argument 'split_every' must be at least 2 (got {split_every})")
    return da.reduction(
        X, functools.partial(_gram_chunk, centered=centered),
        functools.partial(_gram_aggregate, centered=centered),
        combine=functools.partial(_gram_combine, centered=centered),
        axis=(0, 1), keepdims=False, dtype=object, concatenate=False,
        split_every={0: int(split_every), 1: 1}, meta=np.empty((), dtype=object),
        name="geomkit-gram")


def _check_shape(X, function):
    n, d = X.shape
    if n < 1 or d < 1:
        raise _arg_error(function, "X", "must have at least 1 row and 1 column", f"{n} x {d}")


def _merged_gram(X, centered, split_every, function, compute_kwargs):
    X = _rows(X, function)
    _check_shape(X, function)
    (g,) = dask.compute(gram_stats(X, centered, split_every), **compute_kwargs)
    g = g[()] if isinstance(g, np.ndarray) else g
    if g["bad"] is not None:
        raise _nonfinite_error(function, g["bad"])
    return X, g


def participation_ratio(X, centered: bool = True, split_every: int = 8, **compute_kwargs) -> float:
    """(Σλ)²/Σλ² of the covariance of the rows of X = tr(M)²/‖M‖_F² of the merged centred
    Gram; as geomkit.participation_ratio (0 when every λ is 0)."""
    _, g = _merged_gram(X, centered, split_every, "participation_ratio", compute_kwargs)
    M = g["M"]
    tr = float(np.trace(M))
    sq = float(np.sum(M * M))
    return tr * tr / sq if sq > 0 else 0.0


def _dims_reaching(cum: np.ndarray, f: float) -> int:
    return int(min(int(np.searchsorted(cum, f, side="left")) + 1, len(cum)))


def eigenspectrum(X, centered: bool = True, split_every: int = 8, **compute_kwargs) -> dict:
    """As geomkit.eigenspectrum: the min(n, d) largest eigenvalues of C = XcᵀXc / n
    (descending), pr, pr_over_dim, total_variance and variance_profile {"80": r, ...}."""
    X, g = _merged_gram(X, centered, split_every, "eigenspectrum", compute_kwargs)
    n, d = X.shape
    ev = np.linalg.eigvalsh(g["M"])[::-1][: min(n, d)] / float(n)
    total = float(np.sum(ev))
    sq = float(np.sum(ev * ev))
    profile = {"80": 0, "90": 0, "95": 0, "99": 0}
    if total > 0:
        cum = np.cumsum(ev) / total
        profile = {k: _dims_reaching(cum, f) for k, f in
                   (("80", 0.80), ("90", 0.90), ("95", 0.95), ("99", 0.99))}
    pr = total * total / sq if sq > 0 else 0.0
    return {"eigenvalues": np.ascontiguousarray(ev), "pr": pr, "pr_over_dim": pr / float(d),
            "total_variance": total, "variance_profile": profile}


def variance_profile(X, centered: bool = True, split_every: int = 8, **compute_kwargs) -> dict:
    """{80: r, 90: r, 95: r, 99: r}, as geomkit.variance_profile."""
    p = eigenspectrum(X, centered, split_every, **compute_kwargs)["variance_profile"]
    return {int(k): v for k, v in p.items()}


# ---------------------------------------------------------------- pentachoron sampler
_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_LOW = np.uint64(0xFFFFFFFF)
_32 = np.uint64(32)


def _philox_block(block: int, s0: np.ndarray, s1: np.ndarray, k0: int, k1: int) -> np.ndarray:
    """Philox4x32-10 of counters (block, 0, s0, s1) under key (k0, k1): (count, 4) words,
    held in uint64 (geomkit/core/random.hpp, counter_rng's refill with block < 2^32)."""
    c0 = np.full_like(s0, np.uint64(block & 0xFFFFFFFF))
    c1 = np.full_like(s0, np.uint64(block >> 32))
    c2, c3 = s0, s1
    for _ in range(10):
        p0 = _M0 * c0
        p1 = _M1 * c2
        c0, c1, c2, c3 = ((p1 >> _32) ^ c1 ^ np.uint64(k0), p1 & _LOW,
                          (p0 >> _32) ^ c3 ^ np.uint64(k1), p0 & _LOW)
        k0 = (k0 + _W0) & 0xFFFFFFFF
        k1 = (k1 + _W1) & 0xFFFFFFFF
    return np.stack([c0, c1, c2, c3], axis=1)


def sample_indices(seed: int, first: int, count: int, pool: int) -> np.ndarray:
    """The five row indices (count, 5) int64 of samples first .. first+count-1 that
    geomkit.pentachoron_cv(X, pool=pool, seed=seed) uses: counter_rng(seed, i) (Philox4x32-10,
    key = seed, counter = (word block, i)), then Floyd's sample_distinct(pool, 5) with
    Lemire's unbiased uniform_index. Pure function of (seed, i, pool)."""
    seed, first, count, pool = int(seed), int(first), int(count), int(pool)
    if not 0 <= seed < 2 ** 64:
        raise ValueError(f"geomkit.dask.sample_indices: argument 'seed' must lie in [0, 2^64) (got {seed})")
    if first < 0 or count < 0 or first + count > 2 ** 64:
        raise ValueError(f"geomkit.dask.sample_indices: arguments 'first', 'count' must be non-negative "
                         f"(got {first}, {count})")
    if not 5 <= pool < 2 ** 32:
        raise ValueError(f"geomkit.dask.sample_indices: argument 'pool' must lie in [5, 2^32) (got {pool})")
    i = np.arange(count, dtype=np.uint64) + np.uint64(first)
    s0, s1 = i & _LOW, i >> _32
    k0, k1 = seed & 0xFFFFFFFF, seed >> 32
    blocks = []  # blocks[b]: (count, 4) words of Philox block b of every sample

    def words(rows: np.ndarray, pos: np.ndarray) -> np.ndarray:
        need = int(pos.max()) // 4 if pos.size else -1
        while len(blocks) <= need:
            blocks.append(_philox_block(len(blocks), s0, s1, k0, k1))
        table = np.stack([blocks[b] for b in range(len(blocks))], axis=1).reshape(count, -1)
        return table[rows, pos]

    out = np.empty((count, 5), dtype=np.uint64)
    pos = np.zeros(count, dtype=np.int64)
    for filled in range(5):
        j = pool - 5 + filled
        n = j + 1
        threshold = np.uint64((2 ** 32 - n) % n)
        t = np.empty(count, dtype=np.uint64)
        todo = np.arange(count)
        while todo.size:  # multiply-and-reject: redraw while the low word is below the threshold
            m = words(todo, pos[todo]) * np.uint64(n)
            pos[todo] += 1
            ok = (m & _LOW) >= threshold
            t[todo[ok]] = m[ok] >> _32
            todo = todo[~ok]
        for q in range(filled):  # Floyd: a value already taken becomes j (never taken before)
            t = np.where(out[:, q] == t, np.uint64(j), t)
        out[:, filled] = t
    return out.astype(np.int64)


# -------------------------------------------------------- running statistics, bitwise
def _fma_exact(a: float, b: float, c: float) -> float:
    """a·b + c rounded once (Fraction arithmetic is exact; float() rounds to nearest)."""
    return float(Fraction(a) * Fraction(b) + Fraction(c))


_fma = getattr(math, "fma", _fma_exact)  # Python 3.13 has it


def _welford(values, fused: bool):
    """(count, mean, m2) of geomkit::running_stats::add over `values` in order; `fused`:
    the build contracts m2 += delta * (x - mean) into one fused multiply-add."""
    count, mean, m2 = 0, 0.0, 0.0
    for x in values:
        count += 1
        delta = x - mean
        mean += delta / float(count)
        m2 = _fma(delta, x - mean, m2) if fused else m2 + delta * (x - mean)
    return count, mean, m2


@functools.lru_cache(maxsize=None)
def _add_is_fused() -> bool:
    """Whether this process's geomkit module contracts running_stats::add into an FMA (the
    compiler's choice, per SIMD level): decided once against pentachoron_partial, chunk by
    chunk, on fixed problems until a chunk tells the two candidates apart."""
    verdict = {False: True, True: True}
    told_apart = False
    for trial in range(8):
        X = np.random.default_rng(trial).standard_normal((600, 8)) * 3.0 + 1.0
        idx = sample_indices(7, 0, 4 * PENTACHORON_CHUNK, len(X))
        v2 = geomkit.simplex_volume_sq(X[idx])
        for c in range(0, len(idx), PENTACHORON_CHUNK):
            ref = geomkit.pentachoron_partial(X, c, c + PENTACHORON_CHUNK, n_samples=len(idx), seed=7)
            vols = [math.sqrt(v) for v in v2[c:c + PENTACHORON_CHUNK].tolist() if v > 0.0]
            got = {f: _welford(vols, f) for f in (False, True)}
            for f in (False, True):
                verdict[f] &= got[f] == (ref.count, ref.mean, ref.m2)
            told_apart |= got[False] != got[True]
        if told_apart and verdict[True] != verdict[False]:
            return verdict[True]
    warnings.warn("geomkit.dask: could not match this build's running statistics bitwise; the "
                  "pentachoron CV agrees with geomkit.pentachoron_cv to rounding only", RuntimeWarning)
    return False


def _cv_shard(rows: np.ndarray, local: np.ndarray, first: int, eps: float):
    """Per-chunk (count, mean, m2) of samples first .. first+len(local)-1 (first is a multiple
    of the chunk); None when the rows hold a non-finite value (the caller reports it)."""
    if not np.isfinite(rows).all():
        return None
    v2 = geomkit.simplex_volume_sq(rows[local]) if len(local) else np.empty(0)
    fused = _add_is_fused()
    out = []
    for c in range(0, len(local), PENTACHORON_CHUNK):
        vols = [math.sqrt(v) for v in v2[c:c + PENTACHORON_CHUNK].tolist() if v > eps]
        out.append(_welford(vols, fused))
    return out


def _pool_partial(pool_rows: np.ndarray, params: dict):
    """geomkit.pentachoron_partial of all samples on the gathered pool: (count, mean, m2),
    or the library's error message (re-raised on the client)."""
    try:
        s = geomkit.pentachoron_partial(np.ascontiguousarray(pool_rows), 0, params["n_samples"],
                                        n_samples=params["n_samples"], pool=params["pool"],
                                        seed=params["seed"], eps=params["eps"])
    except ValueError as e:
        return str(e).replace("pentachoron_partial", "pentachoron_cv")
    return (s.count, s.mean, s.m2)


def _finite_blocks(X):
    """Per block: the first non-finite (row, col, value) with its global row, or None."""
    blocks = X.to_delayed().ravel()
    offsets = np.concatenate([[0], np.cumsum(X.chunks[0])[:-1]]).tolist()
    return [dask.delayed(_block_nonfinite)(b, int(o)) for b, o in zip(blocks, offsets)]


def _block_nonfinite(block, offset):
    bad = _first_nonfinite(np.asarray(block))
    return None if bad is None else (bad[0] + offset, bad[1], bad[2])


def _is_negative(v) -> bool:
    try:
        return v < 0
    except TypeError:
        return False


def pentachoron_cv(X, n_samples: int = 1000, pool=None, seed: int = 0, eps: float = 0.0, ddof: int = 0,
                   mean_eps: float = 0.0, min_valid: int = 1, method: str = "auto",
                   samples_per_task: int = 8192, **compute_kwargs):
    """geomkit.pentachoron_cv of the rows of a dask array, bitwise equal to the in-memory
    call with the same arguments (see the module's docstring). ``samples_per_task`` (a
    multiple of 256) is how many samples one task gathers rows for and measures."""
    fn = "pentachoron_cv"
    X = _rows(X, fn)
    n, d = X.shape
    # Every check but the pool's size against the rows is the library's own, on an empty
    # matrix (same arguments, same messages, whatever the installed version says).
    proxy_pool = None if pool is None else (pool if _is_negative(pool) else 0)
    geomkit.pentachoron_cv(np.zeros((0, max(d, 1))), n_samples=n_samples, pool=proxy_pool, seed=seed, eps=eps,
                           ddof=ddof, mean_eps=mean_eps, min_valid=min_valid, method=method)
    n_samples = int(n_samples)
    P = n if pool is None else int(pool)
    if P > n:
        raise _arg_error(fn, "params.pool", f"must be at most the rows of 'X' ({n})", P)
    if P >= 2 ** 32:
        raise _arg_error(fn, "params.pool", "must be below 2^32", P)
    if method == "pool_gram" and P > 16384:
        raise _arg_error(fn, "params.method", "pool_gram needs a pool of at most 16384 rows", f"pool {P}")
    per = int(samples_per_task)
    if per < PENTACHORON_CHUNK or per % PENTACHORON_CHUNK:
        raise ValueError(f"geomkit.dask.pentachoron_cv: argument 'samples_per_task' must be a positive "
                         f"multiple of {PENTACHORON_CHUNK} (got {samples_per_task})")
    finish = dict(n_samples=n_samples, ddof=int(ddof), mean_eps=float(mean_eps), min_valid=int(min_valid))
    params = dict(n_samples=n_samples, pool=P, seed=int(seed), eps=float(eps), ddof=int(ddof),
                  mean_eps=float(mean_eps), min_valid=int(min_valid), method=method)

    use_pool_gram = method == "pool_gram" or (
        method == "auto" and P <= 4096 and float(P) * float(P) <= 16.0 * float(n_samples))
    if use_pool_gram and P >= 5 and n_samples > 0:
        # The pool is small (at most 4096 rows, or 16384 when forced): geomkit itself runs on
        # the gathered pool, so the result is its own.
        if method == "auto":  # one shard of the whole job on a worker: bitwise the full call
            part = dask.delayed(_pool_partial)(X[:P], params)
            (stats,) = dask.compute(part, **compute_kwargs)
            if isinstance(stats, str):
                raise ValueError(stats)
            return geomkit.pentachoron_finish(geomkit.RunningStats(*stats), **finish)
        (rows,) = dask.compute(X[:P], **compute_kwargs)
        return geomkit.pentachoron_cv(np.ascontiguousarray(rows), **params)

    pool_rows = X[:P]
    checks = _finite_blocks(pool_rows) if P > 0 else []
    shards = []
    if P >= 5:
        for first in range(0, n_samples, per):
            count = min(per, n_samples - first)
            idx = sample_indices(seed, first, count, P)
            rows, local = np.unique(idx, return_inverse=True)
            local = local.reshape(idx.shape)
            shards.append(dask.delayed(_cv_shard)(X[rows], local, first, float(eps)))
    bad_list, parts = dask.compute(checks, shards, **compute_kwargs)
    bad = [b for b in bad_list if b is not None]
    if bad:
        raise _nonfinite_error(fn, bad[0])
    # Chunks in sample order, merged left to right as the C++ does: a window of at most
    # MERGE_WINDOW chunks at a time, each window's total merged into the running one.
    chunks = [c for part in parts for c in part]
    stats = geomkit.RunningStats()
    for w0 in range(0, len(chunks), MERGE_WINDOW):
        window = geomkit.RunningStats()
        for c in chunks[w0:w0 + MERGE_WINDOW]:
            window.merge(geomkit.RunningStats(*c))
        stats.merge(window)
    return geomkit.pentachoron_finish(stats, **finish)


# ------------------------------------------------------------------ bone orientation
def _bone_fields(r) -> dict:
    return {"composite": int(r.composite()), "features": [float(f) for f in r.features()],
            "mean_coherence": r.mean_coherence, "mean_cross_alignment": r.mean_cross_alignment,
            "mean_head_entropy": r.mean_head_entropy, "phase_lock_score": r.phase_lock_score,
            "joint_collapse_count": r.joint_collapse_count, "layer_coherence": list(r.layer_coherence),
            "layer_cross_alignment": list(r.layer_cross_alignment), "gqa": bool(r.gqa)}


def _bone_one(snapshot, all_heads: bool) -> dict:
    if isinstance(snapshot, (str, os.PathLike)):
        path = pathlib.Path(snapshot)
        if not path.is_file():
            raise FileNotFoundError(f"geomkit.dask.bone_orientation: no such file: {path}")
        try:
            keys = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise ValueError(f"geomkit.dask.bone_orientation: cannot read {path} as a .npy array: {exc}") from exc
        try:
            return _bone_fields(geomkit.bone_orientation(keys, all_heads=all_heads))
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"{path}: {exc}") from exc
    return _bone_fields(geomkit.bone_orientation(snapshot, all_heads=all_heads))


def bone_orientation(snapshots, all_heads: bool = False, **compute_kwargs) -> list:
    """geomkit.bone_orientation of each key snapshot (L, H, S, D), one task per snapshot:
    ``snapshots`` is a dask.bag (of arrays or .npy paths) or a list of arrays / .npy paths
    (each read by the worker that scores it, from storage all workers see). Returns a list,
    in input order, of dicts: composite, features and the result's fields (what
    BoneOrientationResult holds; plain values, so they cross process boundaries)."""
    if isinstance(snapshots, db.Bag):
        bag = snapshots
    else:
        items = list(snapshots)
        if not items:
            return []
        bag = db.from_sequence(items, npartitions=len(items))
    (out,) = dask.compute(bag.map(_bone_one, all_heads=bool(all_heads)), **compute_kwargs)
    return list(out)


# ------------------------------------------------------------- the report on a cluster
TRAJECTORY_ROLE_FIELDS = ("stable_rank", "pr", "active_frac", "rank_90", "condition")


def _plan(path, options):
    from . import report

    ckpt = report.open_model(path)
    try:
        units = report.plan(ckpt, options)
    except BaseException:
        ckpt.close()
        raise
    if not units:
        ckpt.close()
        raise report.ReportError(f"{path}: no floating-point matrices to report on"
                                 + (" (after --only)" if options.only_roles or options.only_layers else ""))
    return ckpt, units


def submit_units(client, path, units, options):
    """One ``client.submit(geomkit.report.run_unit, path, unit, options)`` per unit: the
    worker opens the checkpoint itself (storage all workers see) and reads only the unit's
    tensors. Returns the futures, in unit order."""
    from . import report

    path = str(path)
    token = dask.base.tokenize(path, os.path.getmtime(path) if os.path.exists(path) else None, options)
    return [client.submit(report.run_unit, path, unit, options, key=f"geomkit-unit-{token}-{i}", pure=False)
            for i, unit in enumerate(units)]


def trajectory(reports: list) -> dict:
    """The table across checkpoints: per checkpoint, the embedding's PR, PR/d and pentachoron
    CV, and each role's aggregates (mean over its matrices) and adjacent-layer cosine."""
    roles = []
    for rep in reports:
        for role in rep.get("roles", {}):
            if role not in roles:
                roles.append(role)
    rows = []
    for rep in reports:
        emb = rep.get("embedding") or {}
        spec = emb.get("spectrum") or {}
        pent = emb.get("pentachoron") or {}
        row = {"path": rep["model"]["path"], "embedding": None if not emb else {
            "name": emb.get("name"), "pr": spec.get("participation_ratio"), "pr_over_d": spec.get("pr_over_d"),
            "cv": pent.get("cv"), "in_band": pent.get("in_band")}, "roles": {}}
        for role in roles:
            agg = rep.get("roles", {}).get(role)
            if agg is None:
                row["roles"][role] = None
                continue
            entry = {f: agg.get(f) for f in TRAJECTORY_ROLE_FIELDS}
            entry["n_matrices"] = agg.get("n_matrices")
            entry["cross_layer"] = (agg.get("cross_layer") or {}).get("adjacent_mean")
            row["roles"][role] = entry
        rows.append(row)
    return {"fields": list(TRAJECTORY_ROLE_FIELDS) + ["cross_layer"], "roles": roles, "checkpoints": rows}


def run_report(paths, client, options=None) -> dict:
    """``geomkit report`` on a Dask cluster: each checkpoint is planned on the client
    (headers only), every unit of every checkpoint becomes one task running the same
    ``geomkit.report.run_unit`` as the single-machine report, and each checkpoint's
    results are assembled in unit order, so each report is the one ``geomkit.report.
    run_report`` gives (its "seconds" aside). One path: that report. Several: {"reports":
    [...], "trajectory": trajectory(reports)}. A worker's error (a missing file, a corrupt
    tensor) is re-raised here as the same exception, with the same message. ``client=None``
    runs the units here, one after another (several checkpoints without a cluster)."""
    import time

    from . import report

    single = isinstance(paths, (str, os.PathLike))
    paths = [paths] if single else list(paths)
    if not paths:
        raise ValueError("geomkit.dask.run_report: argument 'paths' must name at least one checkpoint")
    options = report.ReportOptions() if options is None else options
    started = time.monotonic()
    if client is not None:
        _check_blas(client)
    planned = []
    try:
        for p in paths:
            planned.append((p,) + _plan(p, options))
        if client is None:
            results = [[report.run_unit(p, u, options) for u in units] for p, _, units in planned]
        else:
            futures = [submit_units(client, p, units, options) for p, _, units in planned]
            results = client.gather(futures)  # raises the first failed unit's own exception
        reports = []
        for (p, ckpt, units), res in zip(planned, results):
            reports.append(report.assemble(ckpt, units, res, options))
    finally:
        for _, ckpt, _ in planned:
            ckpt.close()
    seconds = time.monotonic() - started
    for rep in reports:
        rep["seconds"] = seconds
    if single:
        return reports[0]
    return {"schema_version": reports[0].get("schema_version"), "reports": reports,
            "trajectory": trajectory(reports), "seconds": seconds}


def local_client(workers: int, set_as_default: bool = True):
    """A distributed.Client on a LocalCluster of ``workers`` processes, one thread each
    (the default scheduler for dask.compute unless ``set_as_default`` is False)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ImportError("geomkit.dask needs distributed; install it with pip install 'geomkit[dask]'") from exc
    if int(workers) < 1:
        raise ValueError(f"--workers must be at least 1 (got {workers})")
    # Dask's worker processes cap BLAS at one thread and trim malloc's heap at 64 KiB by
    # default. numpy's BLAS results depend on its thread count, so the workers keep this
    # process's environment instead (bitwise the single-machine report on this host; the
    # heap trimming also made the report's units 1.5-2x slower there).
    with dask.config.set({"distributed.nanny.pre-spawn-environ": {}}):
        cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                               dashboard_address=":0")
    return Client(cluster, set_as_default=set_as_default)


_BLAS_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _blas_setting():
    return tuple(os.environ.get(k) for k in _BLAS_VARIABLES) + (os.cpu_count(),)


def _check_blas(client) -> None:
    """Warn when a worker's BLAS threading differs from this process's: numpy's BLAS results
    (used by the report's battery) depend on the thread count, so its last bits could too."""
    mine = _blas_setting()
    try:
        theirs = client.run(_blas_setting)
    except Exception:  # pragma: no cover - a scheduler that refuses run(): nothing to compare
        return
    differ = sorted(w for w, s in theirs.items() if tuple(s) != mine)
    if differ:
        warnings.warn(f"geomkit.dask.run_report: {len(differ)} worker(s) run BLAS with other thread settings "
                      f"({dict(zip(_BLAS_VARIABLES + ('cpus',), theirs[differ[0]]))} against "
                      f"{dict(zip(_BLAS_VARIABLES + ('cpus',), mine))} here); numbers may differ from a "
                      f"single-machine report in the last bits", RuntimeWarning)


# ----------------------------------------------------------------- the command line
def trajectory_table(traj: dict):
    """(headers, rows) of the trajectory, one row per checkpoint: plain values for a
    renderer (the renderers in geomkit.render do not draw this table yet)."""
    headers = ["checkpoint", "emb PR", "emb PR/d", "emb CV"]
    for role in traj["roles"]:
        headers += [f"{role} srank", f"{role} PR"]
    rows = []
    for row in traj["checkpoints"]:
        emb = row["embedding"] or {}
        cells = [row["path"], emb.get("pr"), emb.get("pr_over_d"), emb.get("cv")]
        for role in traj["roles"]:
            r = row["roles"].get(role) or {}
            cells += [r.get("stable_rank"), r.get("pr")]
        rows.append(cells)
    return headers, rows


def _trajectory_text(traj: dict) -> str:
    headers, rows = trajectory_table(traj)

    def cell(v):
        return "-" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))

    cells = [headers] + [[cell(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["TRAJECTORY ACROSS CHECKPOINTS"]
    for k, r in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def report_command(args, options) -> int:
    """``geomkit report PATH... --scheduler ADDRESS | --workers N`` (cli.py parses, this
    runs): the report of each PATH on a Dask cluster; with several PATHs, each report and
    the trajectory table across them (text, --json; --csv adds trajectory.csv)."""
    paths = ([args.path] if args.path is not None else []) + list(getattr(args, "more_paths", None) or [])
    if not paths:
        from . import report

        paths = [report.demo_model_path()]
    if getattr(args, "compare", None):
        raise ValueError("--compare does not run on a cluster yet; drop --scheduler/--workers")
    if args.scheduler and args.workers:
        raise ValueError("give either --scheduler ADDRESS or --workers N, not both")
    if not args.scheduler and not args.workers:  # several PATHs on this machine, one after another
        out = run_report(paths[0] if len(paths) == 1 else paths, None, options)
        return _render(args, paths, out)
    if args.scheduler:
        from distributed import Client

        try:
            client = Client(args.scheduler, timeout="20s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ValueError(f"--scheduler: cannot reach a Dask scheduler at {args.scheduler}: {exc}") from exc
    else:
        client = local_client(args.workers or 1, set_as_default=False)
    try:
        out = run_report(paths[0] if len(paths) == 1 else paths, client, options)
    finally:
        cluster = getattr(client, "cluster", None) if not args.scheduler else None
        client.close()
        if cluster is not None:
            cluster.close()
    return _render(args, paths, out)


def _render(args, paths, out) -> int:
    import sys

    from .render import csv as render_csv
    from .render import json as render_json
    from .render import text as render_text

    reports = [out] if len(paths) == 1 else out["reports"]
    if args.csv:
        written = 0
        for i, rep in enumerate(reports):
            name = f"{i:02d}_{pathlib.Path(str(paths[i])).stem}"
            sub = args.csv if len(reports) == 1 else os.path.join(args.csv, name)
            written += len(render_csv.write(rep, sub))
        if len(reports) > 1:
            import csv as csv_module

            headers, rows = trajectory_table(out["trajectory"])
            with open(os.path.join(args.csv, "trajectory.csv"), "w", newline="", encoding="utf-8") as f:
                w = csv_module.writer(f)
                w.writerow(headers)
                w.writerows(rows)
            written += 1
        print(f"geomkit report: wrote {written} CSV files to {args.csv}", file=sys.stderr)
    if args.html:
        from .render import html as render_html

        page = render_html.render(reports[0]) if len(reports) == 1 else render_html.render_trajectory(out)
        with open(args.html, "w", encoding="utf-8") as f:
            f.write(page)
        print(f"geomkit report: wrote {args.html}", file=sys.stderr)
    if args.json:
        sys.stdout.write(render_json.render(out))
    else:
        for rep in reports:
            sys.stdout.write(render_text.render(rep, detail=args.detail))
        if len(reports) > 1:
            sys.stdout.write("\n" + _trajectory_text(out["trajectory"]))
    return 0
