#!/usr/bin/env python3
"""geomkit against the peers a user would otherwise run, in one process, one table.

    python3 benchmarks/peers/run.py                 # full workloads, all cores, writes docs/benchmarks.md
    python3 benchmarks/peers/run.py --threads 1     # the same at one thread on both sides
    python3 benchmarks/peers/run.py --smoke         # seconds-long sizes (CI), writes nothing

For every workload: the peer's time and geomkit's (median of repeats), their ratio, each
side's accuracy against an exact or float64-or-better reference, and the fraction of this
machine's read bandwidth or double FMA peak that geomkit reaches (both measured in this
run; the AMX int8 peak too where the participation ratio takes its AMX route). BLAS threads (numpy/scipy) and geomkit threads are set to the same count.
"""

from __future__ import annotations

import argparse
import os
import sys

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads on both sides (default: all cores)")
parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI: checks the harness runs")
parser.add_argument("--only", default="", help="comma-separated workload name prefixes to run")
parser.add_argument("--no-scaling", action="store_true", help="skip the scaling sweep")
parser.add_argument("--write", default=None, help="markdown file for the table (default: docs/benchmarks.md unless --smoke)")
args = parser.parse_args()

# BLAS reads these at import: set them before numpy is imported.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[var] = str(args.threads)
os.environ["GOMAXPROCS"] = str(args.threads)

import pathlib  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

STARTED = time.perf_counter()

import geomkit  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import recipes  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
geomkit.set_num_threads(args.threads)
BW, PEAK = geomkit._native._machine_limits(args.threads)
AMX_PEAK = geomkit._native._amx_int8_peak(args.threads) if geomkit.simd_info()["amx"] else 0.0
ROWS = []


# OpenBLAS's worker threads (numpy's and scipy's) keep spinning for 0.1-0.2 s after each
# call, taking a core from whatever runs next: geomkit's participation ratio run right
# after numpy's took 73-114 ms here, against 46-50 ms after a 0.2 s pause. Every timing
# therefore starts after a pause of SETTLE seconds.
SETTLE = 0.3


def turn(fn, repeats, times, warm):
    """After a SETTLE pause (and one untimed call when `warm`), appends the times of
    `repeats` calls of fn to `times`; returns the last result."""
    time.sleep(SETTLE)
    result = fn() if warm else None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return result


def timed(fn, repeats):
    times = []
    result = turn(fn, repeats, times, warm=False)
    return statistics.median(times), result


def timed_pair(peer_fn, geo_fn, repeats, rounds=2):
    """Median times of a peer and geomkit over `rounds` rounds of `repeats` runs each, the
    sides taking turns by round, so a slow spell of the host falls on both alike. Each
    turn starts after a pause (SETTLE) and one untimed call."""
    t_peer, t_geo = [], []
    for _ in range(rounds):
        peer_res = turn(peer_fn, repeats, t_peer, warm=True)
        geo_res = turn(geo_fn, repeats, t_geo, warm=True)
    return statistics.median(t_peer), peer_res, statistics.median(t_geo), geo_res


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.abs(a - b) / np.maximum(np.abs(b), 1e-300)


def row(workload, peer, t_peer, t_geo, acc_peer, acc_geo, limit):
    ROWS.append((workload, peer, t_peer, t_geo, t_peer / t_geo if t_geo > 0 else float("nan"), acc_peer, acc_geo, limit))
    print(f"{workload:34s} {peer:30s} {t_peer:10.4f}s {t_geo:10.4f}s {t_peer / t_geo:9.1f}x  {acc_peer:>20s} {acc_geo:>20s} {limit}",
          flush=True)


def wanted(name):
    return not args.only or any(name.startswith(p) for p in args.only.split(","))


def fmt_err(errs):
    errs = np.asarray(errs)
    return f"med {np.median(errs):.1e} max {errs.max():.1e}"


rng = np.random.default_rng(0)
S = args.smoke

# ------------------------------------------------------------------------ pentachoron CV
if wanted("pentachoron"):
    n, d, samples = (2000, 64, 2000) if S else (32128, 512, 100_000)
    X = (rng.standard_normal((n, d)) * 0.05).astype(np.float32)
    idx = np.stack([rng.choice(n, 5, replace=False) for _ in range(samples)])
    check = idx[: min(2000, samples)]
    ref = recipes.reference_volume_sq(X[check])
    geo_v2 = geomkit.simplex_volume_sq(X[check])
    acc_geo = "vol² " + fmt_err(rel(geo_v2, ref))
    t_geo, res = timed(lambda: geomkit.pentachoron_cv(X, n_samples=samples, seed=0), 3)
    bytes_moved = samples * 5 * d * 4
    limit = f"{bytes_moved / t_geo / BW:.2f} of read BW"
    name = f"pentachoron CV {n}x{d} f32, {samples:g}"
    t32, (cv32, _, v2_32) = timed(lambda: recipes.float32_batched_cv(X, idx), 2)
    row(name, "numpy float32 Gram+det (seeds)", t32, t_geo, "vol² " + fmt_err(rel(v2_32[: len(check)], ref)), acc_geo, limit)
    loop_n = 200 if S else 1000
    t_loop, _ = timed(lambda: recipes.notebook_loop_cv(X, idx[:loop_n]), 1)
    t_loop *= samples / loop_n
    nb = np.array([recipes.notebook_volume_sq(X[r]) for r in check[:200]])
    row(name, f"notebook loop (x{samples // loop_n} of {loop_n})", t_loop, t_geo, "vol² " + fmt_err(rel(nb, ref[:200])), acc_geo, limit)
    try:
        import torch  # noqa: F401

        torch.set_num_threads(args.threads)
        t_torch, _ = timed(lambda: np.concatenate([recipes.torch_batched_volume_sq(X[idx[s:s + 8192]])
                                                   for s in range(0, samples, 8192)]), 2)
        tv = recipes.torch_batched_volume_sq(X[check])
        row(name, "torch float32 Gram+det (probe)", t_torch, t_geo, "vol² " + fmt_err(rel(tv, ref)), acc_geo, limit)
    except ImportError:
        pass

# ------------------------------------------------------------------------ clustered accuracy
if wanted("clustered"):
    for d in ((64,) if S else (512, 4096)):
        m = 500 if S else 20000
        base = rng.standard_normal((m, 1, d)) + 30.0
        pts = (base + 1e-4 * rng.standard_normal((m, 5, d))).astype(np.float32)
        ref = recipes.reference_volume_sq(pts)
        t32, v32, t_geo, vg = timed_pair(lambda: recipes.float32_batched_volume_sq(pts),
                                         lambda: geomkit.simplex_volume_sq(pts), 3)
        flops = m * (4 * d + 10 * 2 * d)
        row(f"clustered simplices d={d} f32, {m}", "numpy float32 Gram+det (seeds)", t32, t_geo,
            fmt_err(rel(v32, ref)), fmt_err(rel(vg, ref)), f"{m * 5 * d * 4 / t_geo / BW:.2f} of read BW")

# ------------------------------------------------------------------------ bone orientation
if wanted("bone"):
    exe = recipes.go_reference_binary(SHARED, ROOT / "build" / "peers")
    shapes = [((2, 8, 64, 32), "multi-head"), ((2, 2, 96, 32), "GQA")] if S else \
             [((32, 8, 512, 128), "multi-head"), ((32, 2, 1024, 128), "GQA")]
    for shape, mode in shapes:
        keys = rng.standard_normal(shape).astype(np.float32) + 0.3
        t_geo, bo = timed(lambda: geomkit.bone_orientation(keys), 5)
        L, H, Sq, D = shape
        # GQA: the pairs i < j of each layer's positions, a D-long float dot product each.
        limit = (f"{keys.nbytes / t_geo / BW:.2f} of read BW" if mode == "multi-head"
                 else f"{L * Sq * (Sq - 1) * D / t_geo / (2 * PEAK):.2f} of float FMA peak")
        if exe is None:
            print(f"bone orientation {mode}: Go not installed, peer skipped")
            continue
        go = [recipes.go_bone_orientation(exe, keys) for _ in range(1 if S else 3)]
        t_go = statistics.median(g["seconds"] for g in go)
        r = go[0]["result"]
        fields = ["mean_coherence", "mean_cross_alignment", "mean_head_entropy", "phase_lock_score"]
        worst = max(float(rel(getattr(bo, f), r[f])) if r[f] != 0 else abs(getattr(bo, f)) for f in fields)
        same = bo.composite() == go[0]["composite"]
        row(f"bone orientation {mode} {'x'.join(map(str, shape))}", "Go reference (seed engine)", t_go, t_geo,
            "reference", f"fields {worst:.0e}, composite {'equal' if same else 'DIFFERS'}", limit)

# ------------------------------------------------------------------------ participation ratio
if wanted("participation"):
    for n, d in ([(3000, 256)] if S else [(20000, 2048), (32128, 512)]):
        X = (rng.standard_normal((n, d)) @ np.diag(np.linspace(1, 0.05, d)) + 3.0).astype(np.float32)
        X64 = X.astype(np.float64)
        Xc = X64 - X64.mean(axis=0)
        G = Xc.T @ Xc if d <= n else Xc @ Xc.T
        exact = float(np.trace(G) ** 2 / np.sum(G * G))
        t_np, pr_np, t_geo, pr_geo = timed_pair(lambda: recipes.numpy_participation_ratio(X),
                                                lambda: geomkit.participation_ratio(X), 3)
        k = min(n, d)
        if AMX_PEAK and n >= d >= 1024:
            # The AMX route (detail/amx_gram.hpp): 13 int8 digit-pair products per entry of
            # every 16 x 16 tile on or below the diagonal, over the rows padded to 64.
            tiles = -(-d // 16)
            macs = 13 * tiles * (tiles + 1) // 2 * 256 * (-(-n // 64) * 64)
            limit = f"{macs / t_geo / AMX_PEAK:.2f} of AMX int8 peak"
        else:
            limit = f"{max(n, d) * k * k / t_geo / (2 * PEAK):.2f} of float FMA peak"
        row(f"participation ratio {n}x{d} f32", "numpy cov + eigvalsh (notebook)", t_np, t_geo,
            f"{float(rel(pr_np, exact)):.1e}", f"{float(rel(pr_geo, exact)):.1e}", limit)

# ------------------------------------------------------------------------ Procrustes
if wanted("procrustes"):
    from scipy.linalg import orthogonal_procrustes as scipy_procrustes

    # Flops counted for the FMA-peak fraction: AᵀB (2·n·d²) and the polar factor's ~6 Newton
    # steps of one 2·d³ inverse each.
    def procrustes_flops(n, d):
        return 2 * n * d * d + 12 * d ** 3

    n, d = (2000, 128) if S else (10000, 1024)
    A = rng.standard_normal((n, d))
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    B = A @ Q + 0.01 * rng.standard_normal((n, d))
    t_sp, (R_sp, s_sp), t_geo, (R_geo, s_geo) = timed_pair(lambda: scipy_procrustes(A, B),
                                                           lambda: geomkit.orthogonal_procrustes(A, B), 3)
    row(f"orthogonal Procrustes {n}x{d} f64", "scipy.linalg", t_sp, t_geo, "reference",
        f"|dR| {np.abs(R_geo - R_sp).max():.0e}, scale {float(rel(s_geo, s_sp)):.0e}",
        f"{procrustes_flops(n, d) / t_geo / PEAK:.2f} of FMA peak")

    m, n, d = (500, 128, 16) if S else (10000, 128, 16)
    A = rng.standard_normal((m, n, d))
    B = A @ np.linalg.qr(rng.standard_normal((d, d)))[0] + 0.01 * rng.standard_normal((m, n, d))

    def loop():
        return [scipy_procrustes(A[i], B[i]) for i in range(m)]

    t_loop, ref = timed(loop, 1 if not S else 1)
    t_geo, (R_geo, s_geo) = timed(lambda: geomkit.orthogonal_procrustes(A, B), 3)
    err = max(np.abs(R_geo[i] - ref[i][0]).max() for i in range(0, m, max(1, m // 100)))
    row(f"batched Procrustes {m} x {n}x{d} f64", "Python loop over scipy", t_loop, t_geo, "reference",
        f"|dR| {err:.0e}", f"{m * procrustes_flops(n, d) / t_geo / PEAK:.2f} of FMA peak")

# ------------------------------------------------------------------------ spectrum stats
def spread_matrix(n, d):
    """float32 n x d with a spread spectrum (condition ~1e3-1e4, as trained weights have):
    Gaussian columns scaled along geomspace(1, 1e-3)."""
    W = rng.standard_normal((n, d), dtype=np.float32)
    W *= np.geomspace(1, 1e-3, d).astype(np.float32)
    return W


def svd_flops(n, d):
    """The flops of geomkit's svd route (LAPACK's counts): Householder QR first when the
    longer side is >= 5/3 of the shorter, then the two-stage bidiagonalisation (the
    dense-to-band stage, 4mk^2 - 4k^3/3; the bulge chase's ~8*32*k^2 is not counted)."""
    k, big = min(n, d), max(n, d)
    if 3 * big >= 5 * k:
        return 2 * big * k * k - 2 / 3 * k**3 + 8 / 3 * k**3
    return 4 * big * k * k - 4 / 3 * k**3


def gram_route_floor(k):
    """spectrum.hpp's gram_route_floor: the Gram route is kept where S_min >= r*S_0."""
    return max(5e-4, (k * 2.0**-53 / 5e-7) ** 0.5)


def spectrum_route(W, stats):
    """The route spectrum_stats takes for W (spectrum.hpp's automatic choice, replayed) and
    its flops: svd for nearly square W or shorter-side norms 1/r apart; else the Gram
    (big*k^2 flops, symmetric), then either the symmetric eigensolver's reduction (4k^3/3)
    or, when S_min < r*S_0, the svd route."""
    n, d = W.shape
    k, big = min(n, d), max(n, d)
    if big * 5 < k * 8:
        return "svd", svd_flops(n, d)
    r = gram_route_floor(k)
    norms = np.einsum("ij,ij->j" if n >= d else "ij,ij->i", W, W, dtype=np.float64)
    if norms.min() < r * r * norms.max():
        return "svd", svd_flops(n, d)
    gram = big * k * k + (k**3 / 3 if k < 1024 else 0)  # the dense Cholesky test below 1024
    if stats["min_sv"] >= r * stats["max_sv"]:
        return "gram", gram + 4 / 3 * k**3
    return "gram test, svd", gram + svd_flops(n, d)


if wanted("spectrum"):
    shapes = [(256, 128)] if S else [(512, 512), (2048, 512), (1024, 1024), (256, 2048), (2048, 2048), (2048, 5632),
                                     (5632, 2048), (4096, 4096), (32000, 2048)]
    keys = ["stable_rank", "pr", "condition", "max_sv", "min_sv"]
    for n, d in shapes:
        W = spread_matrix(n, d)
        big = n * d >= 4096 * 4096 or max(n, d) >= 32000
        t_np, st_np, t_geo, st_geo = timed_pair(lambda: recipes.numpy_spectrum_stats(W),
                                                lambda: geomkit.spectrum_stats(W), 1 if big else 3, 1 if big else 2)
        t_sp, ref = timed(lambda: recipes.scipy_spectrum_stats(W), 1)
        e_np = max(float(rel(st_np[k], ref[k])) for k in keys)
        e_geo = max(float(rel(st_geo[k], ref[k])) for k in keys)
        route, flops = spectrum_route(W, st_geo)
        limit = f"{flops / t_geo / PEAK:.2f} of FMA peak ({route})"
        row(f"spectrum stats {n}x{d} f32", "numpy SVD battery (notebook)", t_np, t_geo, f"{e_np:.0e}", f"{e_geo:.0e}", limit)
        row(f"spectrum stats {n}x{d} f32", "scipy.linalg.svd f64 (WeightWatcher)", t_sp, t_geo, "reference", f"{e_geo:.0e}",
            limit)

if wanted("qk"):
    d = 128 if S else 2048
    Wq, Wk = spread_matrix(d, d), spread_matrix(d, d)
    t_nb, r_nb, t_geo, r_geo = timed_pair(lambda: recipes.notebook_qk_manifold(Wq, Wk),
                                          lambda: geomkit.qk_manifold(Wq, Wk), 1 if not S else 3, 1 if not S else 2)
    ref = recipes.notebook_qk_manifold(Wq.astype(np.float64), Wk.astype(np.float64))
    keys = ["stable_rank", "pr", "sym_dev"]
    e_nb = max(float(rel(r_nb[k], ref[k])) for k in keys)
    r_geo = dict(r_geo, sym_dev=r_geo["symmetry_deviation"])  # the Python key for the notebook's sym_dev
    e_geo = max(float(rel(r_geo[k], ref[k])) for k in keys)
    row(f"qk manifold d={d} f32", "numpy svdvals + eigvalsh (notebook)", t_nb, t_geo, f"{e_nb:.0e}", f"{e_geo:.0e}", "")
    # Grouped-query attention with TinyLlama's shapes (32 query heads, 4 key heads of 64): the
    # notebook's recipe on the keys repeated per head (as the report measures them) against
    # geomkit on the keys as they are (head_dim), which never forms the d x d spectra.
    H, kv = (8, 2) if S else (32, 4)
    hd = d // H
    Wk = spread_matrix(kv * hd, d)
    Wk_rep = np.repeat(Wk.reshape(kv, hd, d), H // kv, axis=0).reshape(d, d)
    t_nb, r_nb, t_geo, r_geo = timed_pair(lambda: recipes.notebook_qk_manifold(Wq, Wk_rep),
                                          lambda: geomkit.qk_manifold(Wq, Wk, head_dim=hd), 1 if not S else 3,
                                          1 if not S else 2)
    ref = recipes.notebook_qk_manifold(Wq.astype(np.float64), Wk_rep.astype(np.float64))
    e_nb = max(float(rel(r_nb[k], ref[k])) for k in keys)
    r_geo = dict(r_geo, sym_dev=r_geo["symmetry_deviation"])
    e_geo = max(float(rel(r_geo[k], ref[k])) for k in keys)
    row(f"qk manifold GQA d={d}, {H} heads, {kv} KV f32", "numpy svdvals + eigvalsh (notebook, keys repeated)", t_nb,
        t_geo, f"{e_nb:.0e}", f"{e_geo:.0e}", "")

if wanted("eigenspectrum"):
    # d >= 1024 takes the symmetric two-stage route (spectrum.hpp, symmetric_eigenvalues).
    n, d = (600, 128) if S else (8192, 2048)
    X = spread_matrix(n, d)
    t_np, ev_np, t_geo, r_geo = timed_pair(lambda: recipes.numpy_eigenspectrum(X),
                                           lambda: geomkit.eigenspectrum(X), 1 if not S else 3, 1 if not S else 2)
    ref = recipes.numpy_eigenspectrum(X.astype(np.float64))
    ev_geo = np.asarray(r_geo["eigenvalues"])
    e_np, e_geo = (float(np.abs(ev - ref).max() / ref[0]) for ev in (ev_np, ev_geo))
    flops = n * d * d + 4 / 3 * d**3  # the Gram and the reduction to band
    row(f"eigenspectrum {n}x{d} f32", "numpy cov + eigvalsh (notebook)", t_np, t_geo, f"max dλ/λ0 {e_np:.0e}",
        f"max dλ/λ0 {e_geo:.0e}", f"{flops / t_geo / PEAK:.2f} of FMA peak")


# ------------------------------------------------------------------------ scaling
SCALING = []  # (kernel, axis, value, seconds at 1 thread, seconds at all threads)


def sweep(kernel, axis, values, make, call, repeats=3):
    for v in values:
        data = make(v)
        times = []
        for t in sorted({1, args.threads}):
            geomkit.set_num_threads(t)
            times.append(timed(lambda: call(data), repeats)[0])
        geomkit.set_num_threads(args.threads)
        SCALING.append((kernel, axis, v, times[0], times[-1]))
        print(f"scaling {kernel:28s} {axis}={v:<8} {times[0]:.4f}s at 1 thread, {times[-1]:.4f}s at {args.threads}",
              flush=True)


if not args.no_scaling and not args.only:
    f32 = np.float32
    small = S
    sweep("pentachoron_cv", "n_samples", [2000, 4000] if small else [12500, 25000, 50000, 100000],
          lambda m: ((rng.standard_normal((4000, 512)) * 0.05).astype(f32), m),
          lambda xm: geomkit.pentachoron_cv(xm[0], n_samples=xm[1]))
    sweep("pentachoron_cv", "d", [32, 64] if small else [64, 256, 1024, 4096],
          lambda d: (rng.standard_normal((4000, d)) * 0.05).astype(f32),
          lambda X: geomkit.pentachoron_cv(X, n_samples=2000 if small else 20000))
    sweep("bone_orientation GQA", "S", [32, 64] if small else [256, 512, 1024, 2048],
          lambda s_: rng.standard_normal((2 if small else 8, 2, s_, 128)).astype(f32),
          lambda k: geomkit.bone_orientation(k))
    sweep("bone_orientation multi-head", "S", [32, 64] if small else [128, 512, 2048],
          lambda s_: rng.standard_normal((2 if small else 32, 8, s_, 128)).astype(f32),
          lambda k: geomkit.bone_orientation(k))
    if hasattr(geomkit, "participation_ratio"):
        sweep("participation_ratio", "n", [1000, 2000] if small else [5000, 10000, 20000, 40000],
              lambda n_: rng.standard_normal((n_, 512)).astype(f32), lambda X: geomkit.participation_ratio(X))
        sweep("participation_ratio", "d", [64, 128] if small else [256, 512, 1024, 2048],
              lambda d: rng.standard_normal((1000 if small else 20000, d)).astype(f32),
              lambda X: geomkit.participation_ratio(X))
        sweep("orthogonal_procrustes", "d", [16, 32] if small else [128, 256, 512, 1024],
              lambda d: (rng.standard_normal((4 * d, d)), rng.standard_normal((4 * d, d))),
              lambda ab: geomkit.orthogonal_procrustes(*ab))
        sweep("spectrum_stats", "d", [32, 64] if small else [128, 256, 512, 1024],
              lambda d: rng.standard_normal((2 * d, d)).astype(f32), lambda W: geomkit.spectrum_stats(W))


def scaling_markdown():
    if not SCALING:
        return ""
    out = ["| kernel | axis | value | 1 thread | " + f"{args.threads} threads | parallel speed-up |", "|---|---|---:|---:|---:|---:|"]
    for k, axis, v, t1, tn in SCALING:
        out.append(f"| {k} | {axis} | {v} | {t1:.4f} s | {tn:.4f} s | {t1 / tn:.2f}x |")
    return "\n".join(out)


def scaling_plot(path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import NullFormatter
    except ImportError:
        return False
    groups = {}
    for k, axis, v, t1, tn in SCALING:
        groups.setdefault((k, axis), []).append((v, t1, tn))
    fig, axes = plt.subplots(2, (len(groups) + 1) // 2, figsize=(4 * ((len(groups) + 1) // 2), 7))
    for ax, ((k, axis), pts) in zip(axes.flat, groups.items()):
        v = [p[0] for p in pts]
        ax.loglog(v, [p[1] for p in pts], "o-", label="1 thread")
        ax.loglog(v, [p[2] for p in pts], "s--", label=f"{args.threads} threads")
        ax.set_title(k, fontsize=9)
        ax.set_xlabel(axis)
        ax.set_ylabel("seconds")
        ax.grid(True, which="both", alpha=0.3)
        ax.xaxis.set_minor_formatter(NullFormatter())  # log-axis minor labels overlap: label the sizes
        ax.set_xticks(v)
        ax.set_xticklabels([f"{x:g}" for x in v], fontsize=8)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(groups):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return True


# ------------------------------------------------------------------------ the table
def machine():
    model = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30 if hasattr(os, "sysconf") else 0
    return (f"{model}, {os.cpu_count()} cores, {mem:.0f} GiB; geomkit {geomkit.__version__} "
            f"({geomkit.simd_info()['active']}), numpy {np.__version__}; {args.threads} thread(s) on both sides; "
            f"read bandwidth {BW / 1e9:.1f} GB/s, double FMA peak {PEAK / 1e9:.1f} GFLOP/s"
            + (f", AMX int8 peak {AMX_PEAK / 1e12:.2f} TMAC/s" if AMX_PEAK else "") + " (measured in this run)")


lines = [
    "| workload | peer | peer time | geomkit time | speed-up | peer accuracy | geomkit accuracy | geomkit vs machine limit |",
    "|---|---|---:|---:|---:|---|---|---|",
]
for w, p, tp, tg, ratio, ap, ag, lim in ROWS:
    lines.append(f"| {w} | {p} | {tp:.4f} s | {tg:.4f} s | {ratio:.1f}x | {ap} | {ag} | {lim} |")
table = "\n".join(lines)
print()
print(machine())
print(table)

scaling_table = scaling_markdown()
if scaling_table:
    print(scaling_table)
target = args.write or (None if S or args.only else str(ROOT / "docs" / "benchmarks.md"))
if target:
    target = pathlib.Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    cmd = "python3 benchmarks/peers/run.py" + (f" --threads {args.threads}" if args.threads != os.cpu_count() else "")
    plot = target.with_name(target.stem + "-scaling.png")
    has_plot = bool(SCALING) and scaling_plot(plot)
    text = (f"# geomkit against its peers\n\n<!-- generated by `{cmd}`; do not edit by hand -->\n\n"
            f"Regenerate with `{cmd}` (this run took {(time.perf_counter() - STARTED) / 60:.1f} min). "
            f"Machine: {machine()}.\n\n"
            f"## Side by side\n\n{table}\n\nTimes are medians of repeated runs in one process; where both sides repeat, they take turns over two rounds (peer runs, geomkit runs, peer runs, geomkit runs), each turn after one untimed call. Every timing starts after a 0.3 s pause, as OpenBLAS's threads spin for 0.1-0.2 s after each numpy or scipy call and slow whatever runs next. Accuracy is "
            "the relative error against a reference computed in long double (simplex volumes) or float64 "
            "(the rest); 'reference' marks the peer the other side is compared with. The notebook loop is "
            "timed on a subset and scaled to the full sample count, as noted in its row. The machine limit "
            "is geomkit's achieved read bandwidth or FMA rate over the limit measured in this run; the float "
            "FMA peak (participation ratio and GQA bone orientation, whose products are float) is twice the "
            "double one, as SIMD lanes hold twice as many floats. A float32 participation ratio with "
            "d >= 1024 on a processor with AMX-INT8 takes the AMX route (detail/amx_gram.hpp): its row "
            "counts the int8 multiply-adds it issues (13 digit pairs per entry of every 16 x 16 tile on or "
            "below the diagonal) against the AMX int8 peak.\n")
    if scaling_table:
        text += f"\n## Scaling\n\nHow geomkit's time grows with each size and with threads.\n\n"
        if has_plot:
            text += f"![scaling]({plot.name})\n\n"
        text += scaling_table + "\n"
    # Sections written by other scripts (Dask, the main job on real shapes) are kept.
    if target.exists():
        own = {"Side by side", "Scaling"}
        for part in target.read_text().split("\n## ")[1:]:
            if part.split("\n", 1)[0].strip() not in own:
                text += "\n## " + part.rstrip("\n") + "\n"
    target.write_text(text)
    print(f"wrote {target}" + (f" and {plot}" if has_plot else ""))
