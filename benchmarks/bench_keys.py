#!/usr/bin/env python3
"""Time geomkit.capture_keys: the packaged MiniLM over 512 tokens, and optionally a
Llama-shaped checkpoint (e.g. benchmarks/make_checkpoint.py tinyllama-1.1b /tmp/ckpt/tinyllama,
random weights, no tokenizer: random token ids are fed instead).

    python benchmarks/bench_keys.py [--llama /tmp/ckpt/tinyllama] [--tokens 128 512] [--repeat 3]

Prints wall time and process CPU time (the latter is less disturbed by other load); the
first call of each model warms the page cache and is not counted.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def timed(fn, repeat):
    fn()
    out = []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        r = fn()
        out.append((time.perf_counter() - t, time.process_time() - c))
    return r, min(w for w, _ in out), min(c for _, c in out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llama", help="a Llama-family checkpoint directory")
    ap.add_argument("--tokens", type=int, nargs="+", default=[128, 512])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from geomkit import keys as gk
    from geomkit.report import demo_model_path

    print(f"load average {os.getloadavg()}, cores {os.cpu_count()}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}")
    d = demo_model_path().parent
    text = " ".join([gk.DEFAULT_PASSAGE] * 6)
    k, wall, cpu = timed(lambda: gk.capture_keys(d, text, max_tokens=512), args.repeat)
    print(f"MiniLM, text -> {k.shape} (512 tokens incl. tokenising): best wall {wall:.3f} s, CPU {cpu:.3f} s")
    if args.llama:
        rng = np.random.default_rng(0)
        for n in args.tokens:
            ids = rng.integers(3, 32000, n)
            k, wall, cpu = timed(lambda: gk.capture_keys(args.llama, token_ids=ids), args.repeat)
            print(f"{args.llama}, {n} tokens -> {k.shape}: best wall {wall:.2f} s ({1e3 * wall / n:.1f} ms/token), "
                  f"CPU {cpu:.2f} s ({1e3 * cpu / n:.1f} ms/token)")


if __name__ == "__main__":
    main()
