"""geomkit.dask against the single-machine calls (docs/benchmarks.md, "Dask").

1. A multi-checkpoint report: four small synthetic Llama-shaped checkpoints, reported in
   this process one after another, then on a LocalCluster of 1 and of 2 worker processes
   (one thread each), cluster start-up excluded, through geomkit.dask.run_report.
2. The participation ratio and the pentachoron CV of one point cloud in memory against the
   dask-array versions on the 2-worker cluster (the array persisted on the workers first,
   so the time is the reduction's, not the data's transfer), with the overhead stated.

Each time is the median of --repeats runs. Usage:
    python benchmarks/dask_bench.py [--rows 200000] [--dim 256] [--repeats 3] [--markdown]
Needs the dask extra (pip install 'geomkit[dask]') and safetensors.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import tempfile
import time

import numpy as np


def make_checkpoint(directory: pathlib.Path, seed: int, d: int = 128, layers: int = 4, vocab: int = 4000):
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    t = {"model.embed_tokens.weight": rng.standard_normal((vocab, d)).astype(np.float32)}
    for layer in range(layers):
        p = f"model.layers.{layer}."
        for name, shape in (("self_attn.q_proj", (d, d)), ("self_attn.k_proj", (d, d)), ("self_attn.v_proj", (d, d)),
                            ("self_attn.o_proj", (d, d)), ("mlp.gate_proj", (4 * d, d)),
                            ("mlp.up_proj", (4 * d, d)), ("mlp.down_proj", (d, 4 * d))):
            t[p + name + ".weight"] = (rng.standard_normal(shape) / np.sqrt(d)).astype(np.float32)
        t[p + "input_layernorm.weight"] = np.ones(d, np.float32)
    save_file(t, str(directory / "model.safetensors"))
    (directory / "config.json").write_text(json.dumps({
        "model_type": "llama", "num_attention_heads": 8, "num_key_value_heads": 8, "hidden_size": d,
        "intermediate_size": 4 * d, "num_hidden_layers": layers}))
    return directory / "model.safetensors"


def timed(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200000, help="point-cloud rows (default 200000)")
    ap.add_argument("--dim", type=int, default=128, help="point-cloud columns (default 128)")
    ap.add_argument("--chunk", type=int, default=25000, help="rows per dask chunk (default 25000)")
    ap.add_argument("--samples", type=int, default=1000, help="report and CV samples (default 1000)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--markdown", action="store_true", help="print the tables as markdown")
    args = ap.parse_args(argv)

    import dask.array as da
    from distributed import wait

    import geomkit
    import geomkit.dask as gd
    from geomkit import report

    options = report.ReportOptions(samples=args.samples)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = [make_checkpoint(pathlib.Path(tmp) / f"ckpt{i}", seed=i) for i in range(4)]
        size = sum(p.stat().st_size for p in paths)
        t_single, single = timed(lambda: [report.run_report(p, options) for p in paths], args.repeats)
        rows.append(("report x4, this process, one after another", t_single, None))
        clients = {}
        for workers in (1, 2):
            t0 = time.perf_counter()
            client = gd.local_client(workers)
            start = time.perf_counter() - t0
            clients[workers] = client
            t, multi = timed(lambda: gd.run_report(paths, client, options), args.repeats)
            same = all(json.dumps({k: v for k, v in a.items() if k != "seconds"}, sort_keys=True) ==
                       json.dumps({k: v for k, v in b.items() if k != "seconds"}, sort_keys=True)
                       for a, b in zip(multi["reports"], single))
            rows.append((f"report x4, LocalCluster {workers} worker(s) (start-up {start:.1f} s)", t,
                         "bitwise" if same else "DIFFERS"))
        clients[1].close()
        clients[1].cluster.close()
        client = clients[2]

        rng_x = da.random.default_rng(0).standard_normal((args.rows, args.dim), chunks=(args.chunk, args.dim))
        x = rng_x.astype(np.float64).persist()
        wait(x)
        X = x.compute()
        t_pr, pr = timed(lambda: geomkit.participation_ratio(X), args.repeats)
        t_dpr, dpr = timed(lambda: gd.participation_ratio(x), args.repeats)
        t_cv, cv = timed(lambda: geomkit.pentachoron_cv(X, n_samples=args.samples), args.repeats)
        t_dcv, dcv = timed(lambda: gd.pentachoron_cv(x, n_samples=args.samples), args.repeats)
        client.close()
        client.cluster.close()

    def fmt(t):
        return f"{t:.3f}"

    threads = geomkit.get_num_threads()
    print(f"# geomkit.dask benchmark: {os.cpu_count()} CPUs, geomkit {geomkit.__version__} "
          f"({geomkit.simd_info()['active']}), {threads} geomkit threads in this process")
    print(f"\nReport over 4 checkpoints ({size / 1e6:.1f} MB of float32 safetensors in all), "
          f"{args.samples} samples, median of {args.repeats}:\n")
    print("| run | seconds | vs this process | equal to single machine |")
    print("|---|---:|---:|---|")
    for name, t, same in rows:
        print(f"| {name} | {fmt(t)} | {t / t_single:.2f}x | {same or '-'} |")
    rel = abs(dpr - pr) / pr
    print(f"\nPoint cloud {args.rows} x {args.dim} float64 ({args.rows * args.dim * 8 / 1e6:.0f} MB), "
          f"chunks of {args.chunk} rows persisted on 2 workers, median of {args.repeats}:\n")
    print("| measure | in memory (s) | geomkit.dask, 2 workers (s) | overhead | agreement |")
    print("|---|---:|---:|---:|---|")
    print(f"| participation ratio | {fmt(t_pr)} | {fmt(t_dpr)} | {t_dpr - t_pr:+.3f} s ({t_dpr / t_pr:.1f}x) "
          f"| {rel:.1e} relative |")
    bit = (dcv.cv, dcv.mean, dcv.std) == (cv.cv, cv.mean, cv.std)
    print(f"| pentachoron CV, {args.samples} samples | {fmt(t_cv)} | {fmt(t_dcv)} | {t_dcv - t_cv:+.3f} s "
          f"({t_dcv / t_cv:.1f}x) | {'bitwise' if bit else 'DIFFERS'} |")


if __name__ == "__main__":
    main()
