#!/usr/bin/env python3
"""`geomkit report` end to end against the same battery done by hand with numpy, in one run.

    python benchmarks/report_bench.py /tmp/ckpt/tinyllama                  # both sides
    python benchmarks/report_bench.py /tmp/ckpt/tinyllama --only-geomkit   # the report only
    python benchmarks/report_bench.py /tmp/ckpt/tinyllama --roles q,k,embedding --layers 0-1
    python benchmarks/report_bench.py /tmp/ckpt/tinyllama --nice 10 --markdown

(The checkpoints come from benchmarks/make_checkpoint.py: random weights with real shapes.)

Each side runs in its own child process, one after the other, and is measured from outside:
wall time, CPU time (user + system) and peak RSS come from ``os.wait4`` on that child, so the
figures include interpreter start-up, imports and reading the file.

1. geomkit: ``python -m geomkit report CKPT --json --no-progress --threads T`` (with
   ``--only`` when --roles/--layers are given); the JSON goes to a temporary file.
2. numpy, "as a user would today": this script re-run as a child (``--numpy-child``) that
   opens every shard with the ``safetensors`` package, one tensor at a time (bf16 has no numpy
   dtype, so its bits are widened to float32 by hand from a memory map; --torch-reader reads
   through framework "pt" and ``.float().numpy()`` instead, as the notebook's users do, at
   the cost of importing torch), and computes
   - for every 2-D weight: ``numpy.linalg.svd(W, compute_uv=False)`` in float32 and the
     notebook's statistics from S (stable rank, PR, active fraction, rank_90, condition);
   - for every layer: QK = Wq @ Wkᵀ (GQA keys repeated per head, as the report does), its
     singular values and ``eigvalsh`` of its symmetric part (positive/negative counts, top 3);
   - for the embedding: ``eigvalsh`` of the row covariance, and its participation ratio.
   This is the report's heavy core only. The report also computes sparsity, dead neurons,
   cross-layer cosines, the embedding's pairwise cosines, pentachoron and multi-scale CV and
   a Gaussian baseline, which the numpy side leaves out: the ratio understates geomkit.

Threads: both sides get the same count (--threads, default 2): geomkit's --threads, and
OPENBLAS_NUM_THREADS/OMP_NUM_THREADS (and torch.set_num_threads) in the numpy child.
OpenBLAS's worker threads spin for 0.1-0.2 s after each call (README); because each side
runs in its own process, one after the other, that spinning cannot take a core from
geomkit's side. OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, when set in the environment, are
removed for the numpy child only, so OpenBLAS picks its kernel for this CPU; the child
reports the kernel it runs (threadpoolctl when installed, otherwise OpenBLAS's own
get_corename through ctypes).

The machine may be shared: the load average at the start and end is printed, and --nice N
runs both children at the same niceness. Compare ratios from the same run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

ROLE_OF = (  # HF Llama-family leaf names -> the report's role names (enough for this benchmark)
    ("embed_tokens", "embedding"), ("lm_head", "lm_head"), ("q_proj", "q"), ("k_proj", "k"),
    ("v_proj", "v"), ("o_proj", "o"), ("gate_proj", "mlp_gate"), ("up_proj", "mlp_up"),
    ("down_proj", "mlp_down"), ("norm", "norm"),
)
LAYER = re.compile(r"\.layers\.(\d+)\.")


def role_of(name: str) -> str:
    for key, role in ROLE_OF:
        if key in name:
            return role
    return "other"


def layer_of(name: str):
    m = LAYER.search(name)
    return int(m.group(1)) if m else None


def parse_layers(spec):
    if not spec:
        return None
    out = set()
    for part in spec.split(","):
        a, _, b = part.partition("-")
        out.update(range(int(a), int(b or a) + 1))
    return out


# ------------------------------------------------------------------------------ the checkpoint
def shard_files(path: pathlib.Path) -> list:
    if path.is_file():
        return [path]
    index = path / "model.safetensors.index.json"
    if index.exists():
        order = []
        for f in json.loads(index.read_text())["weight_map"].values():
            if f not in order:
                order.append(f)
        return [path / f for f in order]
    return sorted(path.glob("*.safetensors"))


def header(file: pathlib.Path) -> tuple:
    with open(file, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        h = json.loads(f.read(n))
    h.pop("__metadata__", None)
    return h, 8 + n


def describe(path: pathlib.Path) -> dict:
    """File size, tensor count and the largest tensor in float32."""
    files = shard_files(path)
    size = sum(f.stat().st_size for f in files)
    largest, count = (0, None), 0
    for f in files:
        h, _ = header(f)
        for name, t in h.items():
            count += 1
            n = int(np.prod(t["shape"])) * 4
            if n > largest[0]:
                largest = (n, f"{name} {tuple(t['shape'])}")
    return {"files": len(files), "bytes": size, "tensors": count, "largest_f32": largest[0],
            "largest_name": largest[1]}


# ------------------------------------------------------------------------------ numpy child
def openblas_kernel() -> str:
    try:
        from threadpoolctl import threadpool_info

        info = [i for i in threadpool_info() if i.get("internal_api") == "openblas"]
        if info:
            return f"{info[0].get('architecture')} ({info[0].get('num_threads')} threads, threadpoolctl)"
    except ImportError:
        pass
    import ctypes
    import glob

    libs = glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "*openblas*.so*"))
    for lib in libs:
        so = ctypes.CDLL(lib)
        for sym in ("scipy_openblas_get_corename64_", "openblas_get_corename64_", "openblas_get_corename"):
            fn = getattr(so, sym, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                nt = getattr(so, sym.replace("corename", "num_threads"), None)
                threads = f", {nt()} threads" if nt is not None else ""
                return f"{fn().decode()} ({os.path.basename(lib)}{threads}, get_corename)"
    return "unknown (threadpoolctl not installed, no OpenBLAS found beside numpy)"


def tensors(files, want, use_torch=False):
    """(name, float32 array) one at a time, in file order, through the safetensors package."""
    from safetensors import safe_open

    torch = None
    if use_torch:
        import torch

        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    for f in files:
        if torch is not None:
            with safe_open(str(f), framework="pt") as st:
                for name in st.keys():
                    if want(name):
                        yield name, np.ascontiguousarray(st.get_tensor(name).float().numpy())
            continue
        h, start = header(f)
        raw = np.memmap(f, dtype=np.uint8, mode="r")
        with safe_open(str(f), framework="numpy") as st:
            for name in st.keys():
                if not want(name):
                    continue
                t = h[name]
                if t["dtype"] == "BF16":  # no numpy dtype: widen the bits by hand
                    a, b = t["data_offsets"]
                    bits = raw[start + a:start + b].view(np.uint16).astype(np.uint32) << 16
                    yield name, bits.view(np.float32).reshape(t["shape"])
                else:
                    yield name, np.ascontiguousarray(st.get_tensor(name), dtype=np.float32)


def notebook_stats(S: np.ndarray) -> dict:
    S = S.astype(np.float64)
    s2 = (S ** 2).sum()
    cums = np.cumsum(S) / S.sum()
    return {"stable_rank": s2 / S[0] ** 2 if S[0] > 0 else 0.0,
            "pr": S.sum() ** 2 / s2 if s2 > 0 else 0.0,
            "active_frac": float((S > 0.01 * S[0]).sum() / S.size),
            "rank_90": int(np.searchsorted(cums, 0.90) + 1),
            "condition": S[0] / S[-1] if S[-1] > 0 else float("inf")}


def qk_stats(Wq, Wk, n_heads, n_kv):
    if Wk.shape[0] != Wq.shape[0]:  # GQA: repeat each KV head's block for its query heads
        hd = Wk.shape[0] // n_kv
        Wk = np.repeat(Wk.reshape(n_kv, hd, -1), n_heads // n_kv, axis=0).reshape(n_heads * hd, -1)
    QK = Wq @ Wk.T
    S = np.linalg.svd(QK, compute_uv=False)
    sym_dev = np.linalg.norm(QK - QK.T) / (np.linalg.norm(QK) + 1e-10)
    ev = np.linalg.eigvalsh((QK + QK.T) / 2)[::-1]
    return {**notebook_stats(S), "symmetry_deviation": float(sym_dev),
            "n_positive": int((ev > 0).sum()), "n_negative": int((ev < 0).sum()),
            "top3": ev[:3].tolist()}


def embedding_pr(E):
    Ec = E - E.mean(axis=0)
    cov = (Ec.T @ Ec) / E.shape[0]
    ev = np.linalg.eigvalsh(cov)[::-1]
    return {"participation_ratio": float(ev.sum() ** 2 / (ev ** 2).sum()), "top5": ev[:5].tolist()}


def numpy_child(args) -> int:
    path = pathlib.Path(args.checkpoint)
    files = shard_files(path)
    config = json.loads((path / "config.json").read_text()) if (path / "config.json").exists() else {}
    n_heads = config.get("num_attention_heads")
    n_kv = config.get("num_key_value_heads", n_heads)
    roles = set(args.roles.split(",")) if args.roles else None
    layers = parse_layers(args.layers)

    def want(name):
        r, layer = role_of(name), layer_of(name)
        if r == "norm":
            return False
        if roles is not None and r not in roles:
            return False
        if layers is not None:  # as the report's --only: a non-layer tensor needs its role named
            return layer in layers if layer is not None else roles is not None
        return True

    out = {"kernel": openblas_kernel(), "matrices": {}, "qk": {}, "embedding": None}
    held = {}
    t0, c0 = time.perf_counter(), time.process_time()
    for name, W in tensors(files, want, args.torch_reader):
        if W.ndim != 2:
            continue
        print(f"{time.perf_counter() - t0:8.1f} s wall {time.process_time() - c0:8.1f} s CPU  {name}",
              file=sys.stderr, flush=True)
        role = role_of(name)
        out["matrices"][name] = notebook_stats(np.linalg.svd(W, compute_uv=False))
        if role == "embedding":
            out["embedding"] = embedding_pr(W)
        if role in ("q", "k") and (roles is None or {"q", "k"} <= roles):
            layer = layer_of(name)
            held[(layer, role)] = W
            if (layer, "q") in held and (layer, "k") in held:
                out["qk"][layer] = qk_stats(held.pop((layer, "q")), held.pop((layer, "k")), n_heads, n_kv)
        del W
    json.dump(out, sys.stdout)
    return 0


# ------------------------------------------------------------------------------ parent
def run_child(cmd, env, stdout_path, niceness) -> dict:
    """Runs cmd, returns wall/CPU seconds and peak RSS of that child alone (os.wait4); its
    stderr (the numpy side's per-tensor progress) goes beside stdout_path as .err."""
    def pre():
        if niceness:
            os.nice(niceness)

    stdout_path = pathlib.Path(stdout_path)
    with open(stdout_path, "wb") as out, open(stdout_path.with_suffix(".err"), "w+b") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, preexec_fn=pre)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        tail = err.read().decode(errors="replace")[-2000:]
    if p.returncode != 0:
        raise SystemExit(f"report_bench: {' '.join(cmd)} exited {p.returncode}:\n{tail}")
    return {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "peak_rss": ru.ru_maxrss * 1024}


def only_spec(args):
    parts = []
    if args.roles:
        parts += args.roles.split(",")
    if args.layers:
        parts += args.layers.split(",")
    return ",".join(parts) or None


def gb(n):
    return f"{n / 1e9:.2f} GB"


def commit():
    try:
        here = pathlib.Path(__file__).resolve().parent.parent
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="a .safetensors file or a directory of shards (with config.json)")
    ap.add_argument("--threads", type=int, default=2, help="threads on both sides (default 2)")
    ap.add_argument("--only-geomkit", action="store_true", help="time the report only")
    ap.add_argument("--skip-numpy", action="store_true", help="the same as --only-geomkit")
    ap.add_argument("--only-numpy", action="store_true",
                    help="time the numpy loop only (e.g. beside an --only-geomkit run on a busy host)")
    ap.add_argument("--roles", help="comma-separated roles to time, e.g. q,k,mlp_up,embedding "
                                    "(the report's --only; the numpy side keeps the same tensors)")
    ap.add_argument("--layers", help="layers to time, e.g. 0-3 (tensors outside layers are kept)")
    ap.add_argument("--nice", type=int, default=0, help="run both children at this niceness")
    ap.add_argument("--markdown", action="store_true", help="print the docs/benchmarks.md table row")
    ap.add_argument("--label", help="the row's model label (default: the checkpoint's name)")
    ap.add_argument("--keep", help="directory to keep both sides' JSON output in")
    ap.add_argument("--torch-reader", action="store_true",
                    help="numpy side: read through safetensors' torch framework (imports torch)")
    ap.add_argument("--numpy-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.numpy_child:
        return numpy_child(args)

    path = pathlib.Path(args.checkpoint)
    if not path.exists():
        raise SystemExit(f"report_bench: checkpoint '{path}' does not exist")
    info = describe(path)
    label = args.label or path.name
    keep = pathlib.Path(args.keep or tempfile.mkdtemp(prefix="report_bench."))
    keep.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    head = commit()  # once: others may commit while this runs
    load0 = os.getloadavg()
    print(f"# {label}: {info['files']} file(s), {gb(info['bytes'])}, {info['tensors']} tensors, largest "
          f"{info['largest_name']} = {gb(info['largest_f32'])} in float32", flush=True)
    print(f"# {started:%Y-%m-%d %H:%M} UTC, commit {head}, threads {args.threads}, nice {args.nice}, "
          f"load average {load0[0]:.1f} {load0[1]:.1f} {load0[2]:.1f} on {os.cpu_count()} cores", flush=True)

    geo_cmd = [sys.executable, "-m", "geomkit", "report", str(path), "--json", "--no-progress",
               "--threads", str(args.threads)]
    if only_spec(args):
        geo_cmd += ["--only", only_spec(args)]
    g = None
    if not args.only_numpy:
        g = run_child(geo_cmd, dict(os.environ), keep / "geomkit.json", args.nice)
        print(f"geomkit report: {g['wall_s']:.1f} s wall, {g['cpu_s']:.1f} s CPU, peak RSS {gb(g['peak_rss'])} "
              f"({g['peak_rss'] / info['largest_f32']:.1f}x the largest tensor in float32)", flush=True)
        print(f"  command: {' '.join(geo_cmd[2:])}", flush=True)

    n = None
    if not (args.only_geomkit or args.skip_numpy):
        nenv = dict(os.environ)
        removed = [k for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if nenv.pop(k, None) is not None]
        for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            nenv[k] = str(args.threads)
        np_cmd = [sys.executable, os.path.abspath(__file__), str(path), "--numpy-child"]
        if args.roles:
            np_cmd += ["--roles", args.roles]
        if args.layers:
            np_cmd += ["--layers", args.layers]
        if args.torch_reader:
            np_cmd += ["--torch-reader"]
        n = run_child(np_cmd, nenv, keep / "numpy.json", args.nice)
        res = json.loads((keep / "numpy.json").read_text())
        print(f"numpy loop:     {n['wall_s']:.1f} s wall, {n['cpu_s']:.1f} s CPU, peak RSS {gb(n['peak_rss'])}; "
              f"{len(res['matrices'])} SVDs, {len(res['qk'])} QK products; OpenBLAS kernel {res['kernel']}; "
              f"removed from its environment: {', '.join(removed) or 'nothing (neither was set)'}", flush=True)
        if g:
            print(f"ratio (numpy / geomkit): {n['wall_s'] / g['wall_s']:.1f}x wall, "
                  f"{n['cpu_s'] / g['cpu_s']:.1f}x CPU", flush=True)
    load1 = os.getloadavg()
    print(f"# load average at the end {load1[0]:.1f} {load1[1]:.1f} {load1[2]:.1f}", flush=True)
    print(f"# outputs in {keep}", flush=True)

    if args.markdown and g:
        sel = f"--only {only_spec(args)}" if only_spec(args) else "all"
        ratio = (f"{n['wall_s'] / g['wall_s']:.1f}x ({n['cpu_s'] / g['cpu_s']:.1f}x CPU)" if n else "not run")
        numpy_cell = f"{n['wall_s']:.0f} s, {gb(n['peak_rss'])}" if n else "not run"
        print("| model | selection | file | largest f32 tensor | geomkit report: wall (CPU) | peak RSS | "
              "numpy loop: wall, peak RSS | ratio | threads | load avg | date, commit |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        print(f"| {label} | {sel} | {gb(info['bytes'])} | {gb(info['largest_f32'])} | "
              f"{g['wall_s']:.0f} s ({g['cpu_s']:.0f} s) | {gb(g['peak_rss'])} | {numpy_cell} | {ratio} | "
              f"{args.threads} | {load0[0]:.0f}-{load1[0]:.0f} | {started:%Y-%m-%d}, {head} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
