#!/usr/bin/env python3
"""Synthetic Llama-shaped checkpoints with real shapes, for measuring `geomkit report`.

    python benchmarks/make_checkpoint.py tinyllama-1.1b /tmp/ckpt/tinyllama
    python benchmarks/make_checkpoint.py llama3-8b /tmp/ckpt/llama3-8b
    python benchmarks/make_checkpoint.py tinyllama-1.1b /tmp/ckpt/tinyllama-q8_0.gguf --gguf Q8_0
    python benchmarks/make_checkpoint.py --read /tmp/ckpt/tinyllama      # stream every tensor

Writes safetensors shards (+ model.safetensors.index.json when there are several) and a
config.json. Weights are random with a spread spectrum: a Gaussian matrix whose columns are
scaled by log-spaced factors from 1 down to 10**-decades (then by 1/sqrt(in)), so singular
values span those decades as trained weights' do, rather than the flat Marchenko-Pastur bulk
of plain noise. Norm weights are 1 + small noise. The tensors are generated and written a
band of rows at a time: the model is never held in memory (peak a few tens of MB beyond the
largest band).

``--read PATH`` opens PATH with geomkit.readers and loads every tensor in turn, printing the
sum of each float tensor's values, the bytes read and the time: the reading layer alone, for
``/usr/bin/time -v`` to measure its peak RSS.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import struct
import sys
import time

import numpy as np

PRESETS = {
    # TinyLlama/TinyLlama-1.1B-Chat-v1.0's config
    "tinyllama-1.1b": dict(layers=22, hidden=2048, ffn=5632, heads=32, kv_heads=4, vocab=32000, shards=2,
                           rope_theta=10000.0, context=2048),
    # meta-llama/Meta-Llama-3-8B's config (HF ships it in 4 shards)
    "llama3-8b": dict(layers=32, hidden=4096, ffn=14336, heads=32, kv_heads=8, vocab=128256, shards=4,
                      rope_theta=500000.0, context=8192),
}
DTYPES = {"bf16": ("BF16", 2), "f16": ("F16", 2), "f32": ("F32", 4)}
BAND_ELEMENTS = 1 << 22


def tensor_list(p):
    d, hd = p["hidden"], p["hidden"] // p["heads"]
    out = [("model.embed_tokens.weight", (p["vocab"], d))]
    for i in range(p["layers"]):
        pre = f"model.layers.{i}."
        out += [(pre + "input_layernorm.weight", (d,)),
                (pre + "self_attn.q_proj.weight", (p["heads"] * hd, d)),
                (pre + "self_attn.k_proj.weight", (p["kv_heads"] * hd, d)),
                (pre + "self_attn.v_proj.weight", (p["kv_heads"] * hd, d)),
                (pre + "self_attn.o_proj.weight", (d, p["heads"] * hd)),
                (pre + "post_attention_layernorm.weight", (d,)),
                (pre + "mlp.gate_proj.weight", (p["ffn"], d)),
                (pre + "mlp.up_proj.weight", (p["ffn"], d)),
                (pre + "mlp.down_proj.weight", (d, p["ffn"]))]
    out += [("model.norm.weight", (d,)), ("lm_head.weight", (p["vocab"], d))]
    return out


def config_json(p, dtype):
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": p["hidden"],
            "intermediate_size": p["ffn"], "num_hidden_layers": p["layers"],
            "num_attention_heads": p["heads"], "num_key_value_heads": p["kv_heads"],
            "head_dim": p["hidden"] // p["heads"], "vocab_size": p["vocab"],
            "max_position_embeddings": p["context"], "rope_theta": p["rope_theta"], "rms_norm_eps": 1e-5,
            "hidden_act": "silu", "tie_word_embeddings": False,
            "torch_dtype": {"BF16": "bfloat16", "F16": "float16", "F32": "float32"}[dtype],
            "geomkit_synthetic": "random weights with a spread spectrum (benchmarks/make_checkpoint.py)"}


def encode(x: np.ndarray, dtype: str) -> bytes:
    if dtype == "F32":
        return x.astype("<f4").tobytes()
    if dtype == "F16":
        return x.astype("<f2").tobytes()
    u = x.view(np.uint32)                        # BF16, round to nearest even
    u += 0x7FFF + ((u >> 16) & 1)
    return (u >> 16).astype("<u2").tobytes()


def write_tensor(f, shape, dtype, rng, decades):
    if len(shape) == 1:
        f.write(encode((1 + 0.05 * rng.standard_normal(shape[0], dtype=np.float32)), dtype))
        return
    rows, cols = shape
    scale = (np.logspace(0, -decades, cols) / np.sqrt(cols)).astype(np.float32)
    rng.shuffle(scale)
    band = max(1, BAND_ELEMENTS // cols)
    for r0 in range(0, rows, band):
        x = rng.standard_normal((min(band, rows - r0), cols), dtype=np.float32)
        x *= scale
        f.write(encode(x, dtype))


def make(preset: dict, out: pathlib.Path, dtype: str = "BF16", seed: int = 0, decades: float = 2.0,
         quiet: bool = False):
    itemsize = 2 if dtype in ("BF16", "F16") else 4
    tensors = tensor_list(preset)
    sizes = [int(np.prod(s)) * itemsize for _, s in tensors]
    total = sum(sizes)
    n_shards = preset["shards"]
    # contiguous runs of tensors of about total / n_shards bytes each
    shards, acc, cur = [], 0, []
    for (name, shape), size in zip(tensors, sizes):
        if cur and acc + size / 2 > total * (len(shards) + 1) / n_shards and len(shards) < n_shards - 1:
            shards.append(cur)
            cur = []
        cur.append((name, shape, size))
        acc += size
    shards.append(cur)
    out.mkdir(parents=True, exist_ok=True)
    names = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))] \
        if len(shards) > 1 else ["model.safetensors"]
    rng = np.random.default_rng(seed)
    weight_map = {}
    started = time.monotonic()
    for fname, items in zip(names, shards):
        header, offset = {}, 0
        for name, shape, size in items:
            header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
            offset += size
            weight_map[name] = fname
        header["__metadata__"] = {"format": "pt"}
        text = json.dumps(header).encode()
        text += b" " * (-len(text) % 8)
        with open(out / fname, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for name, shape, size in items:
                write_tensor(f, shape, dtype, rng, decades)
        if not quiet:
            print(f"{out / fname}: {len(items)} tensors, {offset / 1e9:.2f} GB "
                  f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
    if len(shards) > 1:
        (out / "model.safetensors.index.json").write_text(
            json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=1))
    (out / "config.json").write_text(json.dumps(config_json(preset, dtype), indent=1))
    return out


GGUF_NAMES = (("model.embed_tokens.weight", "token_embd.weight"), ("model.norm.weight", "output_norm.weight"),
              ("lm_head.weight", "output.weight"), ("model.layers.", "blk."), ("input_layernorm", "attn_norm"),
              ("self_attn.q_proj", "attn_q"), ("self_attn.k_proj", "attn_k"), ("self_attn.v_proj", "attn_v"),
              ("self_attn.o_proj", "attn_output"), ("post_attention_layernorm", "ffn_norm"),
              ("mlp.gate_proj", "ffn_gate"), ("mlp.up_proj", "ffn_up"), ("mlp.down_proj", "ffn_down"))


def gguf_name(hf: str) -> str:
    for a, b in GGUF_NAMES:
        hf = hf.replace(a, b)
    return hf


def make_gguf(preset: dict, out: pathlib.Path, qtype: str = "Q8_0", seed: int = 0, decades: float = 2.0,
              quiet: bool = False):
    """The same model as one GGUF file (llama names and metadata; norms stay F32, as
    llama.cpp keeps them), written tensor by tensor: one float32 tensor in memory at a time.
    q/k rows are not rotary-permuted (the values are random anyway)."""
    import io

    import gguf
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType
    qt = GGMLQuantizationType[qtype]
    tensors = tensor_list(preset)
    w = gguf.GGUFWriter(str(out), "llama")
    w.add_block_count(preset["layers"])
    w.add_embedding_length(preset["hidden"])
    w.add_feed_forward_length(preset["ffn"])
    w.add_head_count(preset["heads"])
    w.add_head_count_kv(preset["kv_heads"])
    w.add_context_length(preset["context"])
    w.add_rope_freq_base(preset["rope_theta"])
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(preset["vocab"])
    types = []
    for name, shape in tensors:
        t = qt if len(shape) == 2 else GGMLQuantizationType.F32
        block, size = GGML_QUANT_SIZES[t]
        nbytes = int(np.prod(shape)) // block * size
        w.add_tensor_info(gguf_name(name), shape, np.dtype(np.float32), nbytes,
                          raw_dtype=None if t == GGMLQuantizationType.F32 else t)
        types.append(t)
    w.write_header_to_file(out)
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    rng = np.random.default_rng(seed)
    started = time.monotonic()
    for (name, shape), t in zip(tensors, types):
        buf = io.BytesIO()
        write_tensor(buf, shape, "F32", rng, decades)
        x = np.frombuffer(buf.getbuffer(), dtype=np.float32).reshape(shape)
        del buf
        w.write_tensor_data(x if t == GGMLQuantizationType.F32 else gguf.quants.quantize(x, t))
        del x
    w.close()
    if not quiet:
        print(f"{out}: {len(tensors)} tensors, {out.stat().st_size / 1e9:.2f} GB "
              f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return out


def read_all(path) -> dict:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "bindings" / "python"))
    from geomkit.readers import open_checkpoint
    started = time.monotonic()
    n = nbytes = 0
    largest = 0
    checksum = 0.0
    with open_checkpoint(path) as ck:
        for ref in ck.tensors:
            x = ref.load()
            if ref.is_float:
                checksum += float(x.sum(dtype=np.float64))
            largest = max(largest, x.nbytes)
            nbytes += ref.nbytes
            n += 1
            del x
    return {"tensors": n, "bytes_read": nbytes, "largest_float32_bytes": largest, "sum": checksum,
            "seconds": round(time.monotonic() - started, 2)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("preset", nargs="?", choices=sorted(PRESETS))
    ap.add_argument("out", nargs="?", type=pathlib.Path)
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="bf16")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--decades", type=float, default=2.0, help="spread of the column scales (default 2)")
    for key in ("layers", "hidden", "ffn", "heads", "kv_heads", "vocab", "shards"):
        ap.add_argument("--" + key.replace("_", "-"), type=int, help=f"override the preset's {key}")
    ap.add_argument("--gguf", metavar="TYPE", help="write OUT as one GGUF file of this type (F16, Q8_0, Q4_0, ...)")
    ap.add_argument("--read", type=pathlib.Path, metavar="PATH", help="stream every tensor of PATH instead")
    args = ap.parse_args(argv)
    if args.read:
        print(json.dumps(read_all(args.read)))
        return 0
    if not args.preset or not args.out:
        ap.error("give a preset and an output directory (or --read PATH)")
    preset = dict(PRESETS[args.preset])
    for key in ("layers", "hidden", "ffn", "heads", "kv_heads", "vocab", "shards"):
        if getattr(args, key) is not None:
            preset[key] = getattr(args, key)
    if args.gguf:
        make_gguf(preset, args.out, args.gguf.upper(), args.seed, args.decades)
    else:
        make(preset, args.out, DTYPES[args.dtype][0], args.seed, args.decades)
    return 0


if __name__ == "__main__":
    sys.exit(main())
