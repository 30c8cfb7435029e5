"""Small generated checkpoints for the tests: writers for every container and one factory per
architecture family, each with its real tensor names, a config.json and the role every
tensor should get (written out by hand here, independently of geomkit.architectures).

Writers: :func:`write_safetensors` (own writer: any dtype incl. BF16 and fp8, raw bytes
accepted), :func:`write_sharded` (shards + model.safetensors.index.json in a chosen order),
:func:`write_gguf` (gguf.GGUFWriter: F32/F16/BF16 and the quantized types, quantized by
gguf's own ``quantize`` where it has one, else random well-formed blocks), ``np.save(z)``.

Factories return a :class:`Model`: ``tensors`` (name -> float32 array as stored),
``config``, ``roles`` (name -> (layer, role, group)), ``parts`` (fused name -> the q/k/v or
gate/up arrays it was built from), written into a directory by :meth:`Model.save`.
"""

from __future__ import annotations

import json
import pathlib
import struct
from dataclasses import dataclass, field

import numpy as np

from geomkit.readers.dtypes import float32_to_bf16_bits

ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I8": 1, "I16": 2,
            "I32": 4, "I64": 8, "U8": 1, "BOOL": 1}


@dataclass
class Raw:
    """Bytes to store as they are, with their declared dtype and shape."""
    dtype: str
    shape: tuple
    data: bytes


def encode(x: np.ndarray, dtype: str) -> bytes:
    if dtype == "BF16":
        return float32_to_bf16_bits(np.asarray(x, np.float32)).astype("<u2").tobytes()
    np_type = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I8": "i1", "I16": "<i2", "I32": "<i4",
               "I64": "<i8", "U8": "u1", "BOOL": "u1"}[dtype]
    return np.ascontiguousarray(x).astype(np_type).tobytes()


def bf16_round(x: np.ndarray) -> np.ndarray:
    """float32 -> the float32 value its BF16 encoding holds (independent: via float64 rounding
    to 8 significant bits, ties to even)."""
    x = np.asarray(x, np.float64)
    m, e = np.frexp(x)                      # x = m * 2**e, 0.5 <= |m| < 1
    return (np.ldexp(np.round(np.ldexp(m, 8)), e - 8)).astype(np.float32)


def write_safetensors(path, tensors: dict, dtype: str = "F32", metadata: dict | None = None,
                      order=None) -> pathlib.Path:
    """tensors: name -> array (stored as ``dtype``) or :class:`Raw`. Written in ``order``."""
    path = pathlib.Path(path)
    names = list(order or tensors)
    header, blobs, offset = {}, [], 0
    for name in names:
        t = tensors[name]
        if isinstance(t, Raw):
            dt, shape, data = t.dtype, tuple(t.shape), t.data
        else:
            dt, shape, data = dtype, tuple(np.shape(t)), encode(t, dtype)
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    return path


def write_sharded(directory, tensors: dict, shards: list, dtype: str = "F32", index: bool = True):
    """shards: list of (file name, [tensor names]); the index lists them shard by shard in
    this order (so shard order = index order, whatever the file names sort as)."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weight_map = {}
    for fname, names in shards:
        write_safetensors(directory / fname, {n: tensors[n] for n in names}, dtype)
        weight_map.update({n: fname for n in names})
    if index:
        (directory / "model.safetensors.index.json").write_text(
            json.dumps({"metadata": {"total_size": 0}, "weight_map": weight_map}))
    return directory


# ------------------------------------------------------------------------------ GGUF
def k_quant_blocks(qtype_name: str, n_blocks: int, rng) -> np.ndarray:
    """Random well-formed K-quant blocks (gguf-py has no quantizer for them): random bytes
    with finite, modest float16 super-block scales."""
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType
    qt = GGMLQuantizationType[qtype_name]
    _, type_size = GGML_QUANT_SIZES[qt]
    b = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    scale = lambda n: rng.uniform(0.001, 0.02, size=(n_blocks, n)).astype("<f2").view(np.uint8)  # noqa: E731
    if qtype_name in ("Q4_K", "Q5_K", "Q2_K"):
        pos = {"Q4_K": 0, "Q5_K": 0, "Q2_K": type_size - 4}[qtype_name]
        b[:, pos:pos + 4] = scale(2)          # d, dmin
    elif qtype_name == "Q6_K":
        b[:, type_size - 2:] = scale(1)       # d at the end
    elif qtype_name == "Q3_K":
        b[:, type_size - 2:] = scale(1)
    else:
        raise ValueError(qtype_name)
    return b


def quantize_for_gguf(x: np.ndarray, qtype_name: str, rng):
    """(data to hand GGUFWriter, raw_dtype or None)."""
    import gguf
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType
    x = np.asarray(x, np.float32)
    if qtype_name == "F32":
        return x, None
    if qtype_name == "F16":
        return x.astype(np.float16), None
    qt = GGMLQuantizationType[qtype_name]
    try:
        return gguf.quants.quantize(x, qt), qt
    except NotImplementedError:
        block, type_size = GGML_QUANT_SIZES[qt]
        rows = x.size // x.shape[-1]
        blocks = k_quant_blocks(qtype_name, rows * (x.shape[-1] // block), rng)
        return blocks.reshape(*x.shape[:-1], x.shape[-1] // block * type_size), qt


def write_gguf(path, arch: str, tensors: dict, types=None, metadata: dict | None = None, rng=None):
    """tensors: name -> float32 array (numpy shape); types: name -> "F32"/"F16"/"Q8_0"/...
    (default F32); metadata: key -> int/float/str (typed by Python type)."""
    import gguf
    rng = rng if rng is not None else np.random.default_rng(0)
    types = types or {}
    w = gguf.GGUFWriter(str(path), arch)
    for key, value in (metadata or {}).items():
        if isinstance(value, bool):
            w.add_bool(key, value)
        elif isinstance(value, int):
            w.add_uint32(key, value)
        elif isinstance(value, float):
            w.add_float32(key, value)
        elif isinstance(value, str):
            w.add_string(key, value)
        elif isinstance(value, list):
            w.add_array(key, value)
    for name, x in tensors.items():
        data, raw_dtype = quantize_for_gguf(x, types.get(name, "F32"), rng)
        if raw_dtype is None:
            w.add_tensor(name, data)
        else:
            w.add_tensor(name, data, raw_dtype=raw_dtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return pathlib.Path(path)


def llama_gguf_metadata(n_layers, d, ffn, heads, kv, vocab, arch="llama"):
    return {f"{arch}.block_count": n_layers, f"{arch}.embedding_length": d,
            f"{arch}.feed_forward_length": ffn, f"{arch}.attention.head_count": heads,
            f"{arch}.attention.head_count_kv": kv, f"{arch}.context_length": 2048,
            f"{arch}.rope.freq_base": 10000.0, f"{arch}.attention.layer_norm_rms_epsilon": 1e-5,
            f"{arch}.vocab_size": vocab}


# ------------------------------------------------------------------------------ factories
@dataclass
class Model:
    family: str
    tensors: dict
    config: dict
    roles: dict                    # name -> (layer, role, group)
    parts: dict = field(default_factory=dict)
    heads: tuple | None = None     # (n_heads, n_kv_heads, head_dim) of the main stack

    def save(self, directory, dtype="F32", with_config=True) -> pathlib.Path:
        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_safetensors(directory / "model.safetensors", self.tensors, dtype)
        if with_config:
            (directory / "config.json").write_text(json.dumps(self.config))
        return directory / "model.safetensors"


class _Builder:
    def __init__(self, rng):
        self.rng, self.tensors, self.roles, self.parts = rng, {}, {}, {}

    def add(self, name, shape, layer, role, group=""):
        self.tensors[name] = self.rng.standard_normal(shape).astype(np.float32)
        self.roles[name] = (layer, role, group)
        return self.tensors[name]

    def fused(self, name, pieces: dict, layer, role, group="", how="concat", transpose=False):
        arrays = {k: self.rng.standard_normal(s).astype(np.float32) for k, s in pieces.items()}
        if how == "concat":
            W = np.concatenate(list(arrays.values()), axis=0)
        else:                    # ("grouped", n_kv, group size, head_dim)
            _, kv, g, hd = how
            q = arrays["q"].reshape(kv, g, hd, -1)
            k = arrays["k"].reshape(kv, 1, hd, -1)
            v = arrays["v"].reshape(kv, 1, hd, -1)
            W = np.concatenate([q, k, v], axis=1).reshape(-1, q.shape[-1])
        self.tensors[name] = np.ascontiguousarray(W.T if transpose else W)
        self.roles[name] = (layer, role, group)
        self.parts[name] = arrays
        return W

    def model(self, family, config, heads=None):
        return Model(family, self.tensors, config, self.roles, self.parts, heads)


def llama_like(rng, family="llama", layers=2, d=64, heads=8, kv=2, ffn=96, vocab=128, tied=False,
               with_config=True) -> Model:
    """Llama / Mistral / Qwen2 (q/k/v biases) / Qwen3 (q_norm, k_norm) / Gemma 1-3 names."""
    b = _Builder(rng)
    hd = d // heads
    b.add("model.embed_tokens.weight", (vocab, d), None, "embedding")
    for i in range(layers):
        p = f"model.layers.{i}."
        b.add(p + "input_layernorm.weight", (d,), i, "norm")
        b.add(p + "self_attn.q_proj.weight", (heads * hd, d), i, "q")
        b.add(p + "self_attn.k_proj.weight", (kv * hd, d), i, "k")
        b.add(p + "self_attn.v_proj.weight", (kv * hd, d), i, "v")
        b.add(p + "self_attn.o_proj.weight", (d, heads * hd), i, "o")
        if family == "qwen2":
            b.add(p + "self_attn.q_proj.bias", (heads * hd,), i, "q")
            b.add(p + "self_attn.k_proj.bias", (kv * hd,), i, "k")
            b.add(p + "self_attn.v_proj.bias", (kv * hd,), i, "v")
        if family in ("qwen3", "gemma3"):
            b.add(p + "self_attn.q_norm.weight", (hd,), i, "norm")
            b.add(p + "self_attn.k_norm.weight", (hd,), i, "norm")
        b.add(p + "post_attention_layernorm.weight", (d,), i, "norm")
        if family in ("gemma2", "gemma3"):
            b.add(p + "pre_feedforward_layernorm.weight", (d,), i, "norm")
            b.add(p + "post_feedforward_layernorm.weight", (d,), i, "norm")
        b.add(p + "mlp.gate_proj.weight", (ffn, d), i, "mlp_gate")
        b.add(p + "mlp.up_proj.weight", (ffn, d), i, "mlp_up")
        b.add(p + "mlp.down_proj.weight", (d, ffn), i, "mlp_down")
    b.add("model.norm.weight", (d,), None, "norm")
    if not tied:
        b.add("lm_head.weight", (vocab, d), None, "lm_head")
    config = {"model_type": family, "hidden_size": d, "num_attention_heads": heads, "num_key_value_heads": kv,
              "intermediate_size": ffn, "num_hidden_layers": layers, "vocab_size": vocab,
              "tie_word_embeddings": tied, "head_dim": hd} if with_config else {}
    return b.model(family, config, (heads, kv, hd))


def phi3(rng, layers=2, d=64, heads=8, kv=2, ffn=96, vocab=128) -> Model:
    b = _Builder(rng)
    hd = d // heads
    b.add("model.embed_tokens.weight", (vocab, d), None, "embedding")
    for i in range(layers):
        p = f"model.layers.{i}."
        b.add(p + "input_layernorm.weight", (d,), i, "norm")
        b.fused(p + "self_attn.qkv_proj.weight", {"q": (heads * hd, d), "k": (kv * hd, d), "v": (kv * hd, d)},
                i, "qkv")
        b.add(p + "self_attn.o_proj.weight", (d, d), i, "o")
        b.add(p + "post_attention_layernorm.weight", (d,), i, "norm")
        b.fused(p + "mlp.gate_up_proj.weight", {"gate": (ffn, d), "up": (ffn, d)}, i, "gate_up")
        b.add(p + "mlp.down_proj.weight", (d, ffn), i, "mlp_down")
    b.add("model.norm.weight", (d,), None, "norm")
    b.add("lm_head.weight", (vocab, d), None, "lm_head")
    config = {"model_type": "phi3", "hidden_size": d, "num_attention_heads": heads, "num_key_value_heads": kv,
              "intermediate_size": ffn, "num_hidden_layers": layers, "vocab_size": vocab}
    return b.model("phi3", config, (heads, kv, hd))


def gpt2(rng, layers=2, d=48, heads=4, vocab=100, positions=32) -> Model:
    """Conv1D weights stored in x out; ``parts`` holds q/k/v as out x in."""
    b = _Builder(rng)
    b.add("wte.weight", (vocab, d), None, "embedding")
    b.add("wpe.weight", (positions, d), None, "position_embedding")
    for i in range(layers):
        p = f"h.{i}."
        b.add(p + "ln_1.weight", (d,), i, "norm")
        b.add(p + "ln_1.bias", (d,), i, "norm")
        b.fused(p + "attn.c_attn.weight", {"q": (d, d), "k": (d, d), "v": (d, d)}, i, "qkv", transpose=True)
        b.add(p + "attn.c_attn.bias", (3 * d,), i, "qkv")
        b.add(p + "attn.c_proj.weight", (d, d), i, "o")
        b.add(p + "ln_2.weight", (d,), i, "norm")
        b.add(p + "mlp.c_fc.weight", (d, 4 * d), i, "mlp_up")
        b.add(p + "mlp.c_proj.weight", (4 * d, d), i, "mlp_down")
    b.add("ln_f.weight", (d,), None, "norm")
    config = {"model_type": "gpt2", "n_embd": d, "n_head": heads, "n_layer": layers, "vocab_size": vocab}
    return b.model("gpt2", config, (heads, heads, d // heads))


def gpt_neox(rng, layers=2, d=48, heads=4, vocab=100) -> Model:
    b = _Builder(rng)
    hd = d // heads
    b.add("gpt_neox.embed_in.weight", (vocab, d), None, "embedding")
    for i in range(layers):
        p = f"gpt_neox.layers.{i}."
        b.add(p + "input_layernorm.weight", (d,), i, "norm")
        b.fused(p + "attention.query_key_value.weight", {"q": (d, d), "k": (d, d), "v": (d, d)}, i, "qkv",
                how=("grouped", heads, 1, hd))
        b.add(p + "attention.dense.weight", (d, d), i, "o")
        b.add(p + "post_attention_layernorm.weight", (d,), i, "norm")
        b.add(p + "mlp.dense_h_to_4h.weight", (4 * d, d), i, "mlp_up")
        b.add(p + "mlp.dense_4h_to_h.weight", (d, 4 * d), i, "mlp_down")
    b.add("gpt_neox.final_layer_norm.weight", (d,), None, "norm")
    b.add("embed_out.weight", (vocab, d), None, "lm_head")
    config = {"model_type": "gpt_neox", "hidden_size": d, "num_attention_heads": heads, "num_hidden_layers": layers,
              "intermediate_size": 4 * d, "vocab_size": vocab}
    return b.model("gpt_neox", config, (heads, heads, hd))


def falcon(rng, variant="multi_query", layers=2, d=64, heads=8, kv=2, vocab=100) -> Model:
    """variant: "multi_query" (7B: one K/V head), "new_decoder" (40B/180B: kv groups),
    "per_head" (RW-1B: H groups of [q k v])."""
    b = _Builder(rng)
    hd = d // heads
    n_kv = {"multi_query": 1, "new_decoder": kv, "per_head": heads}[variant]
    b.add("transformer.word_embeddings.weight", (vocab, d), None, "embedding")
    for i in range(layers):
        p = f"transformer.h.{i}."
        b.add(p + "input_layernorm.weight", (d,), i, "norm")
        b.fused(p + "self_attention.query_key_value.weight",
                {"q": (heads * hd, d), "k": (n_kv * hd, d), "v": (n_kv * hd, d)}, i, "qkv",
                how=("grouped", n_kv, heads // n_kv, hd))
        b.add(p + "self_attention.dense.weight", (d, d), i, "o")
        b.add(p + "mlp.dense_h_to_4h.weight", (4 * d, d), i, "mlp_up")
        b.add(p + "mlp.dense_4h_to_h.weight", (d, 4 * d), i, "mlp_down")
    b.add("transformer.ln_f.weight", (d,), None, "norm")
    b.add("lm_head.weight", (vocab, d), None, "lm_head")
    config = {"model_type": "falcon", "hidden_size": d, "num_attention_heads": heads, "num_hidden_layers": layers,
              "vocab_size": vocab, "multi_query": variant == "multi_query",
              "new_decoder_architecture": variant == "new_decoder"}
    if variant == "new_decoder":
        config["num_kv_heads"] = kv
    return b.model("falcon", config, (heads, n_kv, hd))


def bert(rng, layers=2, d=48, heads=4, ffn=96, vocab=100, prefix="bert.") -> Model:
    """BERT / RoBERTa (prefix "roberta.") / MiniLM (no prefix, as sentence-transformers saves)."""
    b = _Builder(rng)
    e = prefix + "embeddings."
    b.add(e + "word_embeddings.weight", (vocab, d), None, "embedding")
    b.add(e + "position_embeddings.weight", (40, d), None, "position_embedding")
    b.add(e + "token_type_embeddings.weight", (2, d), None, "other")
    b.add(e + "LayerNorm.weight", (d,), None, "norm")
    for i in range(layers):
        p = f"{prefix}encoder.layer.{i}."
        b.add(p + "attention.self.query.weight", (d, d), i, "q", "encoder")
        b.add(p + "attention.self.query.bias", (d,), i, "q", "encoder")
        b.add(p + "attention.self.key.weight", (d, d), i, "k", "encoder")
        b.add(p + "attention.self.value.weight", (d, d), i, "v", "encoder")
        b.add(p + "attention.output.dense.weight", (d, d), i, "o", "encoder")
        b.add(p + "attention.output.LayerNorm.weight", (d,), i, "norm", "encoder")
        b.add(p + "intermediate.dense.weight", (ffn, d), i, "mlp_up", "encoder")
        b.add(p + "output.dense.weight", (d, ffn), i, "mlp_down", "encoder")
        b.add(p + "output.LayerNorm.weight", (d,), i, "norm", "encoder")
    b.add(prefix + "pooler.dense.weight", (d, d), None, "other")
    config = {"model_type": "bert", "hidden_size": d, "num_attention_heads": heads, "num_hidden_layers": layers,
              "intermediate_size": ffn, "vocab_size": vocab}
    return b.model("bert", config, (heads, heads, d // heads))


def t5(rng, layers=2, d=48, heads=4, d_kv=8, ffn=96, vocab=100, gated=True) -> Model:
    b = _Builder(rng)
    inner = heads * d_kv
    b.add("shared.weight", (vocab, d), None, "embedding")
    for stack in ("encoder", "decoder"):
        for i in range(layers):
            p = f"{stack}.block.{i}.layer."
            for x in ("q", "k", "v"):
                b.add(f"{p}0.SelfAttention.{x}.weight", (inner, d), i, x, stack)
            b.add(f"{p}0.SelfAttention.o.weight", (d, inner), i, "o", stack)
            if i == 0:
                b.add(f"{p}0.SelfAttention.relative_attention_bias.weight", (32, heads), 0, "position_embedding",
                      stack)
            b.add(f"{p}0.layer_norm.weight", (d,), i, "norm", stack)
            ff = 1
            if stack == "decoder":
                for x in ("q", "k", "v"):
                    b.add(f"{p}1.EncDecAttention.{x}.weight", (inner, d), i, x, "decoder.cross")
                b.add(f"{p}1.EncDecAttention.o.weight", (d, inner), i, "o", "decoder.cross")
                b.add(f"{p}1.layer_norm.weight", (d,), i, "norm", stack)
                ff = 2
            if gated:
                b.add(f"{p}{ff}.DenseReluDense.wi_0.weight", (ffn, d), i, "mlp_gate", stack)
                b.add(f"{p}{ff}.DenseReluDense.wi_1.weight", (ffn, d), i, "mlp_up", stack)
            else:
                b.add(f"{p}{ff}.DenseReluDense.wi.weight", (ffn, d), i, "mlp_up", stack)
            b.add(f"{p}{ff}.DenseReluDense.wo.weight", (d, ffn), i, "mlp_down", stack)
            b.add(f"{p}{ff}.layer_norm.weight", (d,), i, "norm", stack)
        b.add(f"{stack}.final_layer_norm.weight", (d,), None, "norm", stack)
    b.add("lm_head.weight", (vocab, d), None, "lm_head")
    config = {"model_type": "t5", "d_model": d, "num_heads": heads, "d_kv": d_kv, "d_ff": ffn, "num_layers": layers,
              "vocab_size": vocab, "feed_forward_proj": "gated-gelu" if gated else "relu"}
    return b.model("t5", config, (heads, heads, d_kv))


def clip(rng, layers=2, d_text=32, h_text=4, d_vis=48, h_vis=6, vocab=100) -> Model:
    """Hugging Face CLIPModel names: text_model / vision_model towers with their own heads."""
    b = _Builder(rng)
    b.add("text_model.embeddings.token_embedding.weight", (vocab, d_text), None, "embedding", "text")
    b.add("text_model.embeddings.position_embedding.weight", (16, d_text), None, "position_embedding", "text")
    b.add("vision_model.embeddings.class_embedding", (d_vis,), None, "other", "vision")
    b.add("vision_model.embeddings.patch_embedding.weight", (d_vis, 3, 4, 4), None, "other", "vision")
    b.add("vision_model.embeddings.position_embedding.weight", (17, d_vis), None, "position_embedding", "vision")
    b.add("vision_model.pre_layrnorm.weight", (d_vis,), None, "norm", "vision")
    for tower, d, g in (("text_model", d_text, "text"), ("vision_model", d_vis, "vision")):
        for i in range(layers):
            p = f"{tower}.encoder.layers.{i}."
            for x, role in (("q_proj", "q"), ("k_proj", "k"), ("v_proj", "v"), ("out_proj", "o")):
                b.add(p + f"self_attn.{x}.weight", (d, d), i, role, g)
            b.add(p + "layer_norm1.weight", (d,), i, "norm", g)
            b.add(p + "mlp.fc1.weight", (4 * d, d), i, "mlp_up", g)
            b.add(p + "mlp.fc2.weight", (d, 4 * d), i, "mlp_down", g)
            b.add(p + "layer_norm2.weight", (d,), i, "norm", g)
    b.add("text_model.final_layer_norm.weight", (d_text,), None, "norm", "text")
    b.add("vision_model.post_layernorm.weight", (d_vis,), None, "norm", "vision")
    b.add("text_projection.weight", (16, d_text), None, "other")
    b.add("visual_projection.weight", (16, d_vis), None, "other")
    config = {"model_type": "clip", "text_config": {"hidden_size": d_text, "num_attention_heads": h_text},
              "vision_config": {"hidden_size": d_vis, "num_attention_heads": h_vis}}
    return b.model("clip", config, (h_text, h_text, d_text // h_text))


def open_clip(rng, layers=2, d=32, heads=4, vocab=100) -> Model:
    """open_clip names: nn.MultiheadAttention's in_proj_weight (q; k; v), nn.Linear c_fc/c_proj."""
    b = _Builder(rng)
    b.add("token_embedding.weight", (vocab, d), None, "embedding")
    b.add("positional_embedding", (16, d), None, "position_embedding")
    b.add("visual.conv1.weight", (d, 3, 4, 4), None, "other", "vision")
    b.add("visual.class_embedding", (d,), None, "other", "vision")
    b.add("visual.positional_embedding", (17, d), None, "position_embedding", "vision")
    for pre, g in (("", ""), ("visual.", "vision")):
        for i in range(layers):
            p = f"{pre}transformer.resblocks.{i}."
            b.fused(p + "attn.in_proj_weight", {"q": (d, d), "k": (d, d), "v": (d, d)}, i, "qkv", g)
            b.add(p + "attn.in_proj_bias", (3 * d,), i, "qkv", g)
            b.add(p + "attn.out_proj.weight", (d, d), i, "o", g)
            b.add(p + "ln_1.weight", (d,), i, "norm", g)
            b.add(p + "mlp.c_fc.weight", (4 * d, d), i, "mlp_up", g)
            b.add(p + "mlp.c_proj.weight", (d, 4 * d), i, "mlp_down", g)
            b.add(p + "ln_2.weight", (d,), i, "norm", g)
    b.add("ln_final.weight", (d,), None, "norm")
    b.add("text_projection", (d, 16), None, "other")
    b.add("visual.proj", (d, 16), None, "other", "vision")
    return b.model("open_clip", {}, (heads, heads, d // heads))


def vit(rng, layers=2, d=48, heads=4, dinov2=True, swiglu=False) -> Model:
    """ViT (intermediate/output.dense) or DINOv2 (mlp.fc1/fc2, layer_scale, SwiGLU weights_in)."""
    b = _Builder(rng)
    b.add("embeddings.cls_token", (1, 1, d), None, "other")
    b.add("embeddings.position_embeddings", (1, 17, d), None, "position_embedding")
    b.add("embeddings.patch_embeddings.projection.weight", (d, 3, 4, 4), None, "other")
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for x, role in (("query", "q"), ("key", "k"), ("value", "v")):
            b.add(p + f"attention.attention.{x}.weight", (d, d), i, role, "encoder")
        b.add(p + "attention.output.dense.weight", (d, d), i, "o", "encoder")
        if dinov2:
            b.add(p + "norm1.weight", (d,), i, "norm", "encoder")
            b.add(p + "layer_scale1.lambda1", (d,), i, "other", "encoder")
            if swiglu:
                b.fused(p + "mlp.weights_in.weight", {"gate": (2 * d, d), "up": (2 * d, d)}, i, "gate_up",
                        "encoder")
                b.add(p + "mlp.weights_out.weight", (d, 2 * d), i, "mlp_down", "encoder")
            else:
                b.add(p + "mlp.fc1.weight", (4 * d, d), i, "mlp_up", "encoder")
                b.add(p + "mlp.fc2.weight", (d, 4 * d), i, "mlp_down", "encoder")
            b.add(p + "norm2.weight", (d,), i, "norm", "encoder")
        else:
            b.add(p + "layernorm_before.weight", (d,), i, "norm", "encoder")
            b.add(p + "intermediate.dense.weight", (4 * d, d), i, "mlp_up", "encoder")
            b.add(p + "output.dense.weight", (d, 4 * d), i, "mlp_down", "encoder")
            b.add(p + "layernorm_after.weight", (d,), i, "norm", "encoder")
    b.add("layernorm.weight", (d,), None, "norm")
    config = {"model_type": "dinov2" if dinov2 else "vit", "hidden_size": d, "num_attention_heads": heads,
              "num_hidden_layers": layers}
    return b.model(config["model_type"], config, (heads, heads, d // heads))


def mixtral(rng, layers=2, d=32, heads=4, kv=2, ffn=48, experts=3, vocab=64) -> Model:
    b = _Builder(rng)
    hd = d // heads
    b.add("model.embed_tokens.weight", (vocab, d), None, "embedding")
    for i in range(layers):
        p = f"model.layers.{i}."
        b.add(p + "self_attn.q_proj.weight", (d, d), i, "q")
        b.add(p + "self_attn.k_proj.weight", (kv * hd, d), i, "k")
        b.add(p + "self_attn.v_proj.weight", (kv * hd, d), i, "v")
        b.add(p + "self_attn.o_proj.weight", (d, d), i, "o")
        b.add(p + "block_sparse_moe.gate.weight", (experts, d), i, "other")
        for e in range(experts):
            q = p + f"block_sparse_moe.experts.{e}."
            b.add(q + "w1.weight", (ffn, d), i, "expert_gate")
            b.add(q + "w3.weight", (ffn, d), i, "expert_up")
            b.add(q + "w2.weight", (d, ffn), i, "expert_down")
        b.add(p + "input_layernorm.weight", (d,), i, "norm")
    b.add("model.norm.weight", (d,), None, "norm")
    b.add("lm_head.weight", (vocab, d), None, "lm_head")
    config = {"model_type": "mixtral", "hidden_size": d, "num_attention_heads": heads, "num_key_value_heads": kv,
              "intermediate_size": ffn, "num_hidden_layers": layers, "num_local_experts": experts,
              "vocab_size": vocab}
    return b.model("mixtral", config, (heads, kv, hd))


def gguf_llama(rng, layers=2, d=64, heads=8, kv=2, ffn=96, vocab=128, experts=0) -> Model:
    """GGUF tensor names (numpy shapes; the writer stores them reversed) and metadata in
    ``config`` (as GGUF keys: pass it to write_gguf's metadata)."""
    b = _Builder(rng)
    hd = d // heads
    b.add("token_embd.weight", (vocab, d), None, "embedding")
    for i in range(layers):
        p = f"blk.{i}."
        b.add(p + "attn_norm.weight", (d,), i, "norm")
        b.add(p + "attn_q.weight", (heads * hd, d), i, "q")
        b.add(p + "attn_k.weight", (kv * hd, d), i, "k")
        b.add(p + "attn_v.weight", (kv * hd, d), i, "v")
        b.add(p + "attn_output.weight", (d, d), i, "o")
        b.add(p + "ffn_norm.weight", (d,), i, "norm")
        if experts:
            b.add(p + "ffn_gate_inp.weight", (experts, d), i, "other")
            b.add(p + "ffn_gate_exps.weight", (experts, ffn, d), i, "expert_gate")
            b.add(p + "ffn_up_exps.weight", (experts, ffn, d), i, "expert_up")
            b.add(p + "ffn_down_exps.weight", (experts, d, ffn), i, "expert_down")
        else:
            b.add(p + "ffn_gate.weight", (ffn, d), i, "mlp_gate")
            b.add(p + "ffn_up.weight", (ffn, d), i, "mlp_up")
            b.add(p + "ffn_down.weight", (d, ffn), i, "mlp_down")
    b.add("output_norm.weight", (d,), None, "norm")
    b.add("output.weight", (vocab, d), None, "lm_head")
    meta = llama_gguf_metadata(layers, d, ffn, heads, kv, vocab)
    return b.model("gguf_llama", meta, (heads, kv, hd))


FAMILIES = {
    "llama": lambda rng: llama_like(rng, "llama"),
    "mistral": lambda rng: llama_like(rng, "mistral"),
    "qwen2": lambda rng: llama_like(rng, "qwen2"),
    "qwen3": lambda rng: llama_like(rng, "qwen3"),
    "gemma": lambda rng: llama_like(rng, "gemma", heads=4, kv=1, tied=True),
    "gemma2": lambda rng: llama_like(rng, "gemma2", tied=True),
    "gemma3": lambda rng: llama_like(rng, "gemma3", tied=True),
    "phi3": phi3,
    "gpt2": gpt2,
    "gpt_neox": gpt_neox,
    "falcon_mq": lambda rng: falcon(rng, "multi_query"),
    "falcon_new": lambda rng: falcon(rng, "new_decoder"),
    "falcon_rw": lambda rng: falcon(rng, "per_head"),
    "bert": bert,
    "roberta": lambda rng: bert(rng, prefix="roberta."),
    "minilm": lambda rng: bert(rng, prefix=""),
    "t5": t5,
    "t5_relu": lambda rng: t5(rng, gated=False),
    "clip": clip,
    "open_clip": open_clip,
    "vit": lambda rng: vit(rng, dinov2=False),
    "dinov2": vit,
    "dinov2_swiglu": lambda rng: vit(rng, swiglu=True),
    "mixtral": mixtral,
    "gguf_llama": gguf_llama,
    "gguf_moe": lambda rng: gguf_llama(rng, experts=3),
}
