"""GGUF (llama.cpp's format), read with the ``gguf`` package from PyPI.

``gguf.GGUFReader`` parses the header once (metadata key-values and the tensor table; the
file is memory-mapped, nothing is copied). For each tensor we keep only its name, type,
shape, byte span and offset; the reader is then dropped. ``TensorRef.load()`` maps that span
and dequantizes it with ``gguf.quants.dequantize`` (the package's own numpy port of ggml's
dequantization), a band of rows at a time into one float32 array.

Conventions a reader of the values must know:

- **Shapes.** GGUF stores dimensions in ggml's ``ne`` order (fastest-varying first), the
  reverse of numpy's. ``TensorRef.shape`` is numpy's order, so a weight that was
  ``(out, in)`` in PyTorch reads as ``(out, in)`` here as it does from safetensors.
- **Types.** F32, F16, BF16, F64 and I8-I64 are stored plain; the quantized types (Q8_0,
  Q4_0, Q4_1, Q5_0, Q5_1, Q2_K-Q6_K, IQ*, TQ*, MXFP4, ...) are dequantized by the package.
  A type it cannot dequantize raises ReadError naming the type.
- **Rotary permutation.** For the ``llama`` architecture family (also Mistral, Granite and
  others converted as llama), llama.cpp's ``convert_hf_to_gguf.py`` permutes the rows of
  ``attn_q`` and ``attn_k`` within each head from Hugging Face's "rotate half" order to
  ggml's interleaved-pairs order: ``W.reshape(n_head, 2, head_dim // 2, in).swapaxes(1, 2)``
  (``n_head`` = the KV head count for K). Values are kept as stored; the per-matrix
  battery and the QK Gram spectrum are invariant to a row permutation within heads, but a
  per-dimension view (key capture against HF activations) must undo it with
  :func:`gguf_unpermute_qk`. Qwen2/Qwen3/Phi-3/GPT-NeoX/Falcon GGUFs are not permuted.
- **Fused matrices.** ``attn_qkv`` is always the concatenation [q; k; v] (the converter
  reorders GPT-NeoX's and Falcon's interleaved layouts and transposes GPT-2's Conv1D).
  Phi-3's ``ffn_up`` holds the fused [gate; up].
- **Metadata** becomes Hugging Face config keys (:data:`CONFIG_KEYS`), so head counts and
  sizes come from the file alone.
"""

from __future__ import annotations

import os
import pathlib

import numpy as np

from . import Checkpoint, ReadError, TensorRef, read_config
from . import dtypes as _dtypes

# "{arch}.<suffix>" -> the Hugging Face config key
CONFIG_KEYS = {
    "attention.head_count": "num_attention_heads",
    "attention.head_count_kv": "num_key_value_heads",
    "embedding_length": "hidden_size",
    "feed_forward_length": "intermediate_size",
    "block_count": "num_hidden_layers",
    "context_length": "max_position_embeddings",
    "rope.freq_base": "rope_theta",
    "attention.layer_norm_rms_epsilon": "rms_norm_eps",
    "attention.layer_norm_epsilon": "layer_norm_eps",
    "attention.key_length": "head_dim",
    "attention.sliding_window": "sliding_window",
    "vocab_size": "vocab_size",
    "expert_count": "num_local_experts",
    "expert_used_count": "num_experts_per_tok",
    "expert_feed_forward_length": "moe_intermediate_size",
    "rope.dimension_count": "rope_dim",
}
# general.architecture -> HF model_type where the names differ
MODEL_TYPES = {"gptneox": "gpt_neox", "starcoder2": "starcoder2", "command-r": "cohere"}
PLAIN = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I8": "i1", "I16": "<i2", "I32": "<i4", "I64": "<i8"}
ROWS_PER_BAND_ELEMENTS = 1 << 22   # dequantize about 4M values at a time


def gguf_permute_qk(W: np.ndarray, n_head: int) -> np.ndarray:
    """What llama.cpp's converter does to HF ``q_proj`` (n_head) / ``k_proj`` (n_kv_head)."""
    rows = W.shape[0]
    if n_head <= 0 or rows % (2 * n_head):
        raise ValueError(f"cannot permute {rows} rows into {n_head} heads of even size")
    return W.reshape(n_head, 2, rows // n_head // 2, *W.shape[1:]).swapaxes(1, 2).reshape(W.shape)


def gguf_unpermute_qk(W: np.ndarray, n_head: int) -> np.ndarray:
    """Undoes :func:`gguf_permute_qk`: a llama-family GGUF ``attn_q`` (pass the attention head
    count) or ``attn_k`` (pass the KV head count) back to Hugging Face's row order."""
    rows = W.shape[0]
    if n_head <= 0 or rows % (2 * n_head):
        raise ValueError(f"cannot unpermute {rows} rows into {n_head} heads of even size")
    return np.ascontiguousarray(
        W.reshape(n_head, rows // n_head // 2, 2, *W.shape[1:]).swapaxes(1, 2).reshape(W.shape))


def _value(field):
    try:
        return field.contents()
    except Exception:  # pragma: no cover - very old gguf packages
        if len(field.types) == 1 and field.data:
            v = field.parts[field.data[0]]
            return v.tobytes().decode() if v.dtype == np.uint8 else v.tolist()[0]
        return None


def _metadata(reader, path):
    meta = {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        try:
            if len(field.types) > 1 and len(field.data) > 4096:   # token lists: keep the count
                meta[key] = f"<array of {len(field.data)}>"
                meta[key + ".__len__"] = len(field.data)
                continue
            meta[key] = _value(field)
        except Exception as exc:
            raise ReadError(f"{path}: cannot read metadata key {key!r}: {exc}") from exc
    return meta


def config_from_metadata(meta: dict, tensor_names) -> dict:
    arch = meta.get("general.architecture")
    if not isinstance(arch, str):
        return {}
    config = {"model_type": MODEL_TYPES.get(arch, arch), "gguf_architecture": arch}
    for suffix, key in CONFIG_KEYS.items():
        v = meta.get(f"{arch}.{suffix}")
        if isinstance(v, list):   # per-layer values (e.g. head_count_kv): one if all agree
            if v and all(x == v[0] for x in v):
                v = v[0]
            else:
                config[key + "_per_layer"] = v
                continue
        if v is not None:
            config[key] = v
    if "vocab_size" not in config and "tokenizer.ggml.tokens.__len__" in meta:
        config["vocab_size"] = meta["tokenizer.ggml.tokens.__len__"]
    stype = meta.get(f"{arch}.rope.scaling.type")
    if stype and stype != "none":
        config["rope_scaling"] = {"type": stype, "factor": meta.get(f"{arch}.rope.scaling.factor")}
    if "head_dim" not in config and config.get("num_attention_heads") and config.get("hidden_size"):
        config["head_dim"] = config["hidden_size"] // config["num_attention_heads"]
    names = set(tensor_names)
    config["tie_word_embeddings"] = "output.weight" not in names and "token_embd.weight" in names
    if arch == "llama" or meta.get("general.type") == "llama":
        config["gguf_rope_permuted"] = True
    return config


# GGUF value types (gguf.GGUFValueType) -> bytes of a scalar; 8 is STRING, 9 is ARRAY
_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_MAX_DIMS = 4            # GGML_MAX_DIMS
_MAX_ARRAY_DEPTH = 4     # arrays of arrays (gguf-py flattens them); deeper is refused


def check_structure(path: pathlib.Path) -> None:
    """Walks the header (key-values and tensor table) with every count and length checked
    against the bytes that are left, before ``gguf.GGUFReader`` sees the file: that reader
    trusts them (a lying array length makes it loop over empty reads for a very long time,
    dimensions are multiplied in wrapping uint64). Also refuses byte-swapped (big-endian)
    files, whose data the loaders here would decode as garbage, and tensor types or shapes
    that cannot be stored in the file."""
    import mmap
    import struct

    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < 24:
            raise ReadError(f"{path}: not a readable GGUF file: {size} bytes, too short for a GGUF header; "
                            f"truncated or corrupt")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            if m[0:4] != b"GGUF":
                raise ReadError(f"{path}: not a readable GGUF file: bad magic {bytes(m[0:4])!r}")
            (version,) = struct.unpack_from("<I", m, 4)
            if version & 0xFFFF == 0 and version != 0:
                raise ReadError(f"{path}: not a readable GGUF file: big-endian (version field {version:#x}); "
                                f"only little-endian GGUF files are read")
            if version not in (2, 3):
                raise ReadError(f"{path}: not a readable GGUF file: unsupported GGUF version {version} "
                                f"(2 and 3 are read)")
            n_tensors, n_kv = struct.unpack_from("<QQ", m, 8)
            pos = 24

            def need(n: int, what: str) -> None:
                if n < 0 or pos + n > size:
                    raise ReadError(f"{path}: not a readable GGUF file: {what} at byte {pos} needs {n} bytes, "
                                    f"{max(size - pos, 0)} are left in the file; truncated or corrupt")

            def scalar(fmt, what):
                nonlocal pos
                n = struct.calcsize(fmt)
                need(n, what)
                (v,) = struct.unpack_from(fmt, m, pos)
                pos += n
                return v

            def u32(what):
                return scalar("<I", what)

            def u64(what):
                return scalar("<Q", what)

            def string(what):
                nonlocal pos
                n = u64(what + " length")
                need(n, what)
                pos += n

            def value(vtype, what, depth=0):
                nonlocal pos
                if vtype in _SCALAR_SIZES:
                    need(_SCALAR_SIZES[vtype], what)
                    pos += _SCALAR_SIZES[vtype]
                elif vtype == 8:
                    string(what)
                elif vtype == 9:
                    if depth >= _MAX_ARRAY_DEPTH:
                        raise ReadError(f"{path}: not a readable GGUF file: {what}: arrays nested deeper "
                                        f"than {_MAX_ARRAY_DEPTH}")
                    itype = u32(what + " item type")
                    count = u64(what + " item count")
                    least = _SCALAR_SIZES.get(itype, 8 if itype == 8 else 12)
                    need(count * least, f"{what} ({count} items)")
                    if itype in _SCALAR_SIZES:
                        pos += count * least
                    else:
                        for _ in range(count):
                            value(itype, what, depth + 1)
                else:
                    raise ReadError(f"{path}: not a readable GGUF file: {what}: unknown GGUF value type {vtype}")

            need(n_kv * 13, f"{n_kv} key-values")      # key length, key, type, a 1-byte value
            for i in range(n_kv):
                key_at = pos
                string(f"key {i}")
                key = bytes(m[key_at + 8:pos])
                try:
                    label = f"key {key.decode('utf-8')!r}"[:120]
                except UnicodeDecodeError:
                    raise ReadError(f"{path}: not a readable GGUF file: key {i} at byte {key_at} "
                                    f"is not UTF-8") from None
                value(u32(label + " type"), label)
            need(n_tensors * 24, f"{n_tensors} tensor infos")   # name length, n_dims, type, offset
            for i in range(n_tensors):
                name_at = pos
                string(f"tensor {i} name")
                try:
                    name = bytes(m[name_at + 8:pos]).decode("utf-8")
                except UnicodeDecodeError:
                    raise ReadError(f"{path}: not a readable GGUF file: tensor {i} name at byte {name_at} "
                                    f"is not UTF-8") from None
                where = f"{path}: not a readable GGUF file: tensor {name[:80]!r}"
                n_dims = u32(f"tensor {i} dimension count")
                if n_dims > _MAX_DIMS:
                    raise ReadError(f"{where}: {n_dims} dimensions (GGUF allows at most {_MAX_DIMS})")
                dims = [u64(f"tensor {i} dimensions") for _ in range(n_dims)]
                type_id = u32(f"tensor {i} type")
                offset = u64(f"tensor {i} data offset")
                try:
                    qtype = GGMLQuantizationType(type_id)
                    block, type_size = GGML_QUANT_SIZES[qtype]
                except (ValueError, KeyError):
                    raise ReadError(f"{where}: unsupported GGML tensor type id {type_id}") from None
                count = 1
                for d in dims:
                    count *= d
                if dims and dims[0] % block:
                    raise ReadError(f"{where}: row length {dims[0]} is not a multiple of {qtype.name}'s "
                                    f"block of {block}")
                nbytes = count // block * type_size
                if offset > size or nbytes > size:
                    raise ReadError(f"{where}: shape {tuple(reversed(dims))} of {qtype.name} ({nbytes} bytes) "
                                    f"at data offset {offset} does not fit in the file ({size} bytes); truncated "
                                    f"or corrupt")


def open_gguf(path: pathlib.Path) -> Checkpoint:
    if path.is_dir():
        files = sorted(path.glob("*.gguf"))
        config_dir = path
    else:
        files = [path]
        config_dir = path.parent
    try:
        from gguf import GGUFReader
        from gguf.constants import GGML_QUANT_SIZES
    except ImportError as exc:
        raise ReadError(f"{path}: reading GGUF needs the 'gguf' package: pip install gguf") from exc
    refs, meta, seen = [], {}, set()
    for f in files:
        size = f.stat().st_size
        if size == 0:
            raise ReadError(f"{f}: empty file")
        check_structure(f)
        try:
            reader = GGUFReader(f, "r")
        except Exception as exc:
            msg = str(exc)
            if "GGMLQuantizationType" in msg:
                msg = f"unsupported GGML tensor type ({msg})"
            else:
                msg = f"truncated or corrupt? ({msg})"
            raise ReadError(f"{f}: not a readable GGUF file: {msg}") from exc
        try:
            if not meta:
                meta = _metadata(reader, f)
            for t in reader.tensors:
                qtype = t.tensor_type
                block, type_size = GGML_QUANT_SIZES[qtype]
                shape = tuple(int(x) for x in reversed(t.shape.tolist()))
                if shape and shape[-1] % block:
                    raise ReadError(f"{f}: tensor {t.name!r}: row length {shape[-1]} is not a multiple "
                                    f"of {qtype.name}'s block of {block}")
                if t.data_offset + t.n_bytes > size:
                    raise ReadError(f"{f}: tensor {t.name!r}: data lies past the end of the file; truncated?")
                if t.name in seen:
                    raise ReadError(f"{f}: tensor {t.name!r} appears twice")
                seen.add(t.name)
                refs.append(TensorRef(name=t.name, shape=shape, dtype=qtype.name, nbytes=int(t.n_bytes),
                                      file=f, offset=int(t.data_offset), encoding="gguf"))
        finally:
            del reader
    config = config_from_metadata(meta, seen)
    beside = read_config(config_dir)
    notes = []
    if beside and not config:
        config = beside
    if config.get("gguf_rope_permuted"):
        notes.append("GGUF llama-family attn_q/attn_k rows are in llama.cpp's rotary order "
                     "(kept as stored; readers.gguf.gguf_unpermute_qk restores HF order)")
    return Checkpoint(path=path, format="gguf", files=files, config=config, tensors=refs,
                      metadata=meta, notes=notes)


def load_gguf_tensor(ref: TensorRef) -> np.ndarray:
    from gguf import GGMLQuantizationType
    from gguf.constants import GGML_QUANT_SIZES
    from gguf.quants import dequantize
    if ref.dtype in PLAIN or ref.dtype == "BF16":
        raw = ref.raw()
        try:
            if ref.dtype == "BF16":
                return _dtypes.bf16_to_float32(raw.view("<u2")).reshape(ref.shape)
            wide = ref.dtype in ("F64", "I32", "I64")
            return raw.view(PLAIN[ref.dtype]).astype(np.float64 if wide else np.float32).reshape(ref.shape)
        finally:
            del raw
    qtype = GGMLQuantizationType[ref.dtype]
    block, type_size = GGML_QUANT_SIZES[qtype]
    cols = ref.shape[-1] if ref.shape else 1
    rows = ref.size // cols if cols else 0
    row_bytes = cols // block * type_size
    out = np.empty((rows, cols), dtype=np.float32)
    raw = ref.raw()
    try:
        band = max(1, ROWS_PER_BAND_ELEMENTS // max(cols, 1))
        for r0 in range(0, rows, band):
            r1 = min(rows, r0 + band)
            chunk = np.asarray(raw[r0 * row_bytes:r1 * row_bytes]).reshape(r1 - r0, row_bytes)
            try:
                out[r0:r1] = dequantize(chunk, qtype)
            except NotImplementedError as exc:
                raise ReadError(f"{ref.file}: tensor {ref.name!r}: GGUF type {ref.dtype} cannot be "
                                f"dequantized by the installed gguf package ({exc})") from exc
    finally:
        del raw
    return out.reshape(ref.shape)
