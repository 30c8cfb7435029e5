"""Key snapshots: the keys a model's KV cache holds after reading a text, and adapters for
caches that other tools already hold.

``capture_keys(path, text)`` runs the model's forward pass in numpy, one layer at a time,
over weights read through ``geomkit.readers.open_checkpoint`` and returns the keys shaped
(L, H_kv, S, D), float32:

- BERT-family encoders (BERT, RoBERTa, e.g. the packaged all-MiniLM-L6-v2): each layer's
  key projection, with its bias, split into heads (the output of ``attention.self.key``);
- Llama-family decoders (Llama, Mistral, Qwen2, Qwen3, Gemma, Gemma 2): the keys after the
  k projection, any k-norm and RoPE, as ``past_key_values`` holds them.

Matrix products run in float32; layer norms, RMS norms and softmax in float64. The text is
tokenised with the checkpoint's ``tokenizer.json`` through the ``tokenizers`` package, with
the special tokens the Hugging Face tokenizer adds ([CLS] ... [SEP] for BERT, BOS for
Llama).

``keys_from_cache(cache)`` turns a Hugging Face ``DynamicCache``, a tuple of (k, v) pairs,
an MLX cache or array list, or any array-like object into the same (L, H, S, D) layout.
``key_battery(keys)`` runs bone orientation and head entropy over a snapshot.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import math
import os
import pathlib

import numpy as np

from . import rope as _rope

__all__ = ["capture_keys", "capture", "keys_from_cache", "key_battery", "tokenize",
           "DEFAULT_PASSAGE", "KeyCaptureError"]

#: The passage ``geomkit report`` reads when no ``--text`` is given (about 120 tokens).
DEFAULT_PASSAGE = (
    "The river rose through the night, and by morning the low fields were a single sheet "
    "of brown water. Farmers moved their cattle to the ridge, where the old church stood, "
    "and waited for the rain to stop. When the sun came out on the third day, the water "
    "began to fall, leaving mud, broken fences and the smell of wet earth. Children ran "
    "along the new banks looking for fish stranded in the pools, while their parents "
    "counted what had been lost and what could still be saved."
)

BERT_TYPES = ("bert", "roberta", "xlm-roberta", "camembert")
LLAMA_TYPES = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2")


class KeyCaptureError(ValueError):
    """A checkpoint, tokenizer or argument that capture_keys cannot use; the message names it."""


def _public(name: str):
    """The public function geomkit.<name>: a call that does not fit its parameters gets
    geomkit's arity message (geomkit._arguments), and every ValueError/TypeError it raises
    is prefixed with "geomkit.<name>: " (its message already names the argument)."""
    def wrap(fn):
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def inner(*args, **kwargs):
            try:
                sig.bind(*args, **kwargs)
            except TypeError:
                from ._arguments import _Default, arity_message

                forms = [[(p.name, False if p.default is p.empty else _Default(repr(p.default)), p.kind == p.KEYWORD_ONLY)
                          for p in sig.parameters.values()]]
                raise TypeError(arity_message(name, forms, args, kwargs)) from None
            try:
                return fn(*args, **kwargs)
            except (ValueError, TypeError) as exc:
                if str(exc).startswith("geomkit.") or type(exc) not in (ValueError, TypeError, KeyCaptureError):
                    raise
                raise type(exc)(f"geomkit.{name}: {exc}") from exc

        return inner

    return wrap


# ------------------------------------------------------------------------------ weights
def _open(path):
    from .readers import ReadError, open_checkpoint

    try:
        return open_checkpoint(path)
    except ReadError as exc:
        raise KeyCaptureError(str(exc)) from exc


def _model_dir(ckpt) -> pathlib.Path:
    p = pathlib.Path(ckpt.path)
    return p if p.is_dir() else p.parent


class _Weights:
    """Name lookup over a checkpoint: loads one tensor at a time, by exact name or by the
    role the architectures table gives it."""

    def __init__(self, ckpt):
        self.ckpt = ckpt
        self.names = {t.name: t for t in ckpt.tensors}
        self.config = dict(ckpt.config or {})
        self._roles = {}
        try:
            from .architectures import classify
        except ImportError:  # the table is optional: fall back to the names alone
            classify = None
        if classify is not None:
            for t in ckpt.tensors:
                try:
                    info = classify(t.name, tuple(t.shape), self.config)
                except Exception:
                    continue
                if info is not None and info.role not in ("other", "norm") and info.expert is None:
                    self._roles.setdefault((info.layer, info.role), []).append(t.name)

    def find(self, suffixes, layer=None, role=None, required=True):
        """The tensor the architectures table gives ``role`` in ``layer`` (when it names
        exactly one weight there), else the first tensor named ``[prefix]{suffix}``
        (``{i}`` is the layer index)."""
        if role is not None:
            cands = [n for n in self._roles.get((layer, role), []) if not n.endswith(".bias")]
            if len(cands) == 1:
                return cands[0]
        for suffix in suffixes:
            suffix = suffix.replace("{i}", str(layer)) if layer is not None else suffix
            for name in self.names:
                if name == suffix or name.endswith("." + suffix):
                    return name
        if required:
            where = f" of layer {layer}" if layer is not None else ""
            raise KeyCaptureError(f"{self.ckpt.path}: no tensor{where} named like {suffixes[0]!r}")
        return None

    def load(self, name) -> np.ndarray:
        arr = self.ckpt.tensor(name).load()
        return np.ascontiguousarray(arr, dtype=np.float32)

    def get(self, suffixes, layer=None, role=None, required=True):
        name = self.find(suffixes, layer, role, required)
        return None if name is None else self.load(name)


# ------------------------------------------------------------------------------ tokenizer
def _load_tokenizer(model_dir: pathlib.Path):
    path = model_dir / "tokenizer.json"
    if not path.is_file():
        raise KeyCaptureError(f"{model_dir}: no tokenizer.json beside the weights; pass token_ids= instead")
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise KeyCaptureError("capturing keys from text needs the 'tokenizers' package: "
                              "pip install tokenizers (or pass token_ids=)") from exc
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as exc:
        raise KeyCaptureError(f"{path}: cannot read the tokenizer: {exc}") from exc
    tok.no_padding()
    tok.no_truncation()
    return tok


def _tokenizer_config(model_dir: pathlib.Path) -> dict:
    path = model_dir / "tokenizer_config.json"
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}


def _token_id(tok, value):
    if isinstance(value, dict):
        value = value.get("content")
    if not isinstance(value, str):
        return None
    return tok.token_to_id(value)


def tokenize(model_dir, text: str, max_tokens=None, family: str = "llama") -> np.ndarray:
    """Token ids of ``text`` as the checkpoint's Hugging Face tokenizer gives them: the
    tokenizer.json post-processor's special tokens ([CLS]/[SEP], BOS), plus a BOS the
    tokenizer_config.json asks for (``add_bos_token``) when the post-processor lacks it.
    ``max_tokens`` truncates (special tokens included, as HF's ``truncation=True``)."""
    model_dir = pathlib.Path(model_dir)
    if not isinstance(text, str):
        raise KeyCaptureError(f"text must be a str, got {type(text).__name__}")
    if not text.strip():
        raise KeyCaptureError("text is empty")
    tok = _load_tokenizer(model_dir)
    cfg = _tokenizer_config(model_dir)
    ids = list(tok.encode(text, add_special_tokens=True).ids)
    bos = _token_id(tok, cfg.get("bos_token"))
    if cfg.get("add_bos_token") and bos is not None and (not ids or ids[0] != bos):
        ids.insert(0, bos)
    eos = _token_id(tok, cfg.get("eos_token"))
    if cfg.get("add_eos_token") and eos is not None and (not ids or ids[-1] != eos):
        ids.append(eos)
    if max_tokens is not None and len(ids) > max_tokens:
        if family == "bert" and max_tokens >= 2:
            ids = ids[:max_tokens - 1] + [ids[-1]]   # keep [SEP] as HF truncation does
        else:
            ids = ids[:max_tokens]
    return np.asarray(ids, dtype=np.int64)


# ------------------------------------------------------------------------------ numerics
def _layer_norm(x: np.ndarray, w, b, eps: float) -> np.ndarray:
    x64 = x.astype(np.float64)
    mu = x64.mean(axis=-1, keepdims=True)
    xc = x64 - mu
    var = np.mean(xc * xc, axis=-1, keepdims=True)
    y = xc / np.sqrt(var + eps)
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    return y.astype(np.float32)


def _rms_norm(x: np.ndarray, w, eps: float, offset: float = 0.0) -> np.ndarray:
    x64 = x.astype(np.float64)
    y = x64 / np.sqrt(np.mean(x64 * x64, axis=-1, keepdims=True) + eps)
    if offset:  # Gemma: the weight is stored as w - 1 and the norm scales by (1 + w)
        return (y * (offset + w.astype(np.float64))).astype(np.float32)
    # Llama: the normalised value is rounded to the activation dtype, then scaled
    return w * y.astype(np.float32)


def _softmax_rows(scores: np.ndarray) -> np.ndarray:
    """Row softmax in place of float32 scores: the row max is subtracted, exp runs on the
    (≤ 0) differences and each row's sum accumulates in float64, so every probability
    carries float32 relative accuracy however long the row."""
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    total = scores.sum(axis=-1, keepdims=True, dtype=np.float64)
    scores *= (1.0 / total).astype(np.float32)
    return scores


def _erf(x: np.ndarray) -> np.ndarray:
    try:
        from scipy.special import erf
    except ImportError:
        # erfc by the Chebyshev-fitted exponential of Numerical Recipes (fractional error
        # < 1.2e-7 everywhere, so gelu keeps its relative accuracy for negative inputs)
        z = np.abs(x)
        t = 1.0 / (1.0 + 0.5 * z)
        poly = (-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
            -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
                -0.82215223 + t * 0.17087277)))))))))
        erfc = t * np.exp(poly)
        return np.where(x >= 0, 1.0 - erfc, erfc - 1.0)
    return erf(x)


def _act(name: str):
    name = (name or "silu").lower()
    if name in ("silu", "swish"):
        def f(x):
            x64 = x.astype(np.float64)
            return (x64 / (1.0 + np.exp(-x64))).astype(np.float32)
        return f
    if name == "gelu":
        def f(x):
            x64 = x.astype(np.float64)
            return (0.5 * x64 * (1.0 + _erf(x64 / math.sqrt(2.0)))).astype(np.float32)
        return f
    if name in ("gelu_pytorch_tanh", "gelu_new", "gelu_fast", "gelu_approximate"):
        def f(x):
            x64 = x.astype(np.float64)
            return (0.5 * x64 * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x64 + 0.044715 * x64 ** 3)))
                    ).astype(np.float32)
        return f
    if name == "relu":
        return lambda x: np.maximum(x, 0)
    raise KeyCaptureError(f"config: hidden activation {name!r} is not supported")


def _linear(x: np.ndarray, w: np.ndarray, b=None) -> np.ndarray:
    y = x @ w.T
    if b is not None:
        y += b
    return y


def _attention(q, k, v, scale, causal, window=None, softcap=None):
    """q (H, S, D), k/v (H_kv, S, D): context (S, H·D). Scores are float32 BLAS products,
    one head at a time (an S x S buffer, not H of them); softmax sums accumulate in float64.
    Query head h reads KV head h // (H / H_kv) (grouped-query attention)."""
    H, S, D = q.shape
    group = H // k.shape[0]
    q = np.ascontiguousarray(q)
    k = np.ascontiguousarray(k)
    v = np.ascontiguousarray(v)
    masked = None
    if causal:
        i = np.arange(S)
        masked = i[None, :] > i[:, None]
        if window:
            masked |= (i[:, None] - i[None, :]) >= window
    scores = np.empty((S, S), dtype=np.float32)
    ctx = np.empty((S, H, D), dtype=np.float32)
    for h in range(H):
        np.matmul(q[h], k[h // group].T, out=scores)
        scores *= np.float32(scale)
        if softcap:
            scores[...] = np.tanh(scores.astype(np.float64) / softcap) * softcap
        if masked is not None:
            scores[masked] = -np.inf
        np.matmul(_softmax_rows(scores), v[h // group], out=ctx[:, h, :])
    return ctx.reshape(S, H * D)


# ------------------------------------------------------------------------------ families
def _family(config: dict) -> str:
    mt = str(config.get("model_type", "")).lower()
    if mt in BERT_TYPES:
        return "bert"
    if mt in LLAMA_TYPES:
        return mt
    archs = " ".join(config.get("architectures") or [])
    for name, fam in (("Bert", "bert"), ("Roberta", "bert"), ("Gemma2", "gemma2"), ("Gemma", "gemma"),
                      ("Qwen3", "qwen3"), ("Qwen2", "qwen2"), ("Mistral", "mistral"), ("Llama", "llama")):
        if archs.startswith(name):
            return fam
    raise KeyCaptureError(
        f"config: model_type {mt or '(none)'!r} is not supported for key capture "
        f"(supported: {', '.join(BERT_TYPES + LLAMA_TYPES)})")


def _layer_list(layers, n_layers):
    if layers is None:
        return list(range(n_layers))
    if isinstance(layers, (int, np.integer)):
        layers = [int(layers)]
    out = []
    for l in layers:
        if not isinstance(l, (int, np.integer)):
            raise KeyCaptureError(f"layers must be integers, got {l!r}")
        li = int(l) + n_layers if l < 0 else int(l)
        if not 0 <= li < n_layers:
            raise KeyCaptureError(f"layers: {l} is out of range for a model of {n_layers} layers")
        out.append(li)
    if not out:
        raise KeyCaptureError("layers is empty")
    return out


def _bert_keys(W: _Weights, ids: np.ndarray, layers: list) -> np.ndarray:
    cfg = W.config
    H = int(cfg["num_attention_heads"])
    hidden = int(cfg["hidden_size"])
    D = hidden // H
    eps = float(cfg.get("layer_norm_eps", 1e-12))
    S = len(ids)
    max_pos = int(cfg.get("max_position_embeddings", 512))
    mt = cfg.get("model_type", "bert")
    kind = cfg.get("position_embedding_type") or "absolute"
    if kind != "absolute":
        raise KeyCaptureError(f"config: position_embedding_type {kind!r} is not supported (only 'absolute')")
    offset = 0
    if mt in ("roberta", "xlm-roberta", "camembert"):
        offset = int(cfg.get("pad_token_id", 1)) + 1   # RoBERTa positions start after padding_idx
    if S + offset > max_pos:
        raise KeyCaptureError(f"text is {S} tokens; this model reads at most {max_pos - offset} "
                              "(pass max_tokens=)")
    word = W.get(["embeddings.word_embeddings.weight"], role="embedding")
    if ids.max() >= word.shape[0]:
        raise KeyCaptureError(f"token_ids: id {int(ids.max())} is outside the vocabulary of {word.shape[0]}")
    x = word[ids]
    del word
    pos = W.get(["embeddings.position_embeddings.weight"], role="position_embedding")
    x = x + pos[offset:offset + S]
    tt = W.get(["embeddings.token_type_embeddings.weight"], required=False)
    if tt is not None:
        x = x + tt[0]
    x = _layer_norm(x, W.get(["embeddings.LayerNorm.weight", "embeddings.layer_norm.weight"]),
                    W.get(["embeddings.LayerNorm.bias", "embeddings.layer_norm.bias"]), eps)
    act = _act(cfg.get("hidden_act", "gelu"))
    out = np.empty((len(layers), H, S, D), dtype=np.float32)
    last = max(layers)
    scale = 1.0 / math.sqrt(D)
    for i in range(last + 1):
        p = "encoder.layer.{i}."
        k = _linear(x, W.get([p + "attention.self.key.weight"], i, "k"),
                    W.get([p + "attention.self.key.bias"], i, required=False))
        kh = k.reshape(S, H, D).transpose(1, 0, 2)
        for j, l in enumerate(layers):
            if l == i:
                out[j] = kh
        if i == last:
            break
        q = _linear(x, W.get([p + "attention.self.query.weight"], i, "q"),
                    W.get([p + "attention.self.query.bias"], i, required=False))
        v = _linear(x, W.get([p + "attention.self.value.weight"], i, "v"),
                    W.get([p + "attention.self.value.bias"], i, required=False))
        ctx = _attention(q.reshape(S, H, D).transpose(1, 0, 2), kh,
                         v.reshape(S, H, D).transpose(1, 0, 2), scale, causal=False)
        a = _linear(ctx, W.get([p + "attention.output.dense.weight"], i, "o"),
                    W.get([p + "attention.output.dense.bias"], i, required=False))
        x = _layer_norm(a + x, W.get([p + "attention.output.LayerNorm.weight"], i),
                        W.get([p + "attention.output.LayerNorm.bias"], i), eps)
        h = act(_linear(x, W.get([p + "intermediate.dense.weight"], i, "mlp_up"),
                        W.get([p + "intermediate.dense.bias"], i, required=False)))
        m = _linear(h, W.get([p + "output.dense.weight"], i, "mlp_down"),
                    W.get([p + "output.dense.bias"], i, required=False))
        x = _layer_norm(m + x, W.get([p + "output.LayerNorm.weight"], i),
                        W.get([p + "output.LayerNorm.bias"], i), eps)
    return out


def _llama_keys(W: _Weights, ids: np.ndarray, layers: list, family: str) -> np.ndarray:
    cfg = W.config
    H = int(cfg["num_attention_heads"])
    Hkv = int(cfg.get("num_key_value_heads") or H)
    hidden = int(cfg["hidden_size"])
    D = int(cfg.get("head_dim") or hidden // H)
    if H % Hkv:
        raise KeyCaptureError(f"config: num_attention_heads {H} is not a multiple of num_key_value_heads {Hkv}")
    eps = float(cfg.get("rms_norm_eps", 1e-6))
    gemma = family.startswith("gemma")
    norm_offset = 1.0 if gemma else 0.0
    S = len(ids)
    inv_freq, att_factor = _rope.inverse_frequencies(cfg, D, seq_len=S)
    cos, sin = _rope.rope_cos_sin(np.arange(S), inv_freq, att_factor)
    if gemma:   # Gemma's config default, whatever hidden_act says
        act = _act(cfg.get("hidden_activation") or "gelu_pytorch_tanh")
    else:
        act = _act(cfg.get("hidden_act") or "silu")
    if family == "gemma2":
        scale = float(cfg.get("query_pre_attn_scalar") or D) ** -0.5
    else:
        scale = 1.0 / math.sqrt(D)
    softcap = cfg.get("attn_logit_softcapping") if family == "gemma2" else None
    window = cfg.get("sliding_window") if family in ("mistral", "gemma2") else None
    if family == "qwen2" and cfg.get("use_sliding_window"):
        window = cfg.get("sliding_window")

    emb = W.get(["embed_tokens.weight", "model.embed_tokens.weight", "tok_embeddings.weight"],
                role="embedding")
    if ids.max() >= emb.shape[0]:
        raise KeyCaptureError(f"token_ids: id {int(ids.max())} is outside the vocabulary of {emb.shape[0]}")
    x = emb[ids]
    del emb
    if gemma:
        x = x * np.float32(hidden ** 0.5)

    out = np.empty((len(layers), Hkv, S, D), dtype=np.float32)
    last = max(layers)
    p = "layers.{i}."
    for i in range(last + 1):
        h = _rms_norm(x, W.get([p + "input_layernorm.weight"], i), eps, norm_offset)
        k = _linear(h, W.get([p + "self_attn.k_proj.weight"], i, "k"),
                    W.get([p + "self_attn.k_proj.bias"], i, required=False))
        if k.shape[1] != Hkv * D:
            raise KeyCaptureError(f"layer {i}: k projection gives {k.shape[1]} values per token, "
                                  f"config says {Hkv} KV heads of {D}")
        k = k.reshape(S, Hkv, D)
        k_norm = W.get([p + "self_attn.k_norm.weight"], i, required=False)
        if k_norm is not None:
            k = _rms_norm(k, k_norm, eps, norm_offset)
        kh = _rope.apply_rope(np.ascontiguousarray(k.transpose(1, 0, 2)), cos, sin)
        for j, l in enumerate(layers):
            if l == i:
                out[j] = kh
        if i == last:
            break
        q = _linear(h, W.get([p + "self_attn.q_proj.weight"], i, "q"),
                    W.get([p + "self_attn.q_proj.bias"], i, required=False)).reshape(S, H, D)
        q_norm = W.get([p + "self_attn.q_norm.weight"], i, required=False)
        if q_norm is not None:
            q = _rms_norm(q, q_norm, eps, norm_offset)
        qh = _rope.apply_rope(np.ascontiguousarray(q.transpose(1, 0, 2)), cos, sin)
        v = _linear(h, W.get([p + "self_attn.v_proj.weight"], i, "v"),
                    W.get([p + "self_attn.v_proj.bias"], i, required=False))
        vh = np.ascontiguousarray(v.reshape(S, Hkv, D).transpose(1, 0, 2))
        layer_window = window
        if family == "gemma2":   # sliding and global layers alternate (even ones slide)
            types = cfg.get("layer_types")
            sliding = types[i] == "sliding_attention" if isinstance(types, list) and i < len(types) else i % 2 == 0
            layer_window = window if sliding else None
        ctx = _attention(qh, kh, vh, scale, causal=True, window=layer_window, softcap=softcap)
        a = _linear(ctx, W.get([p + "self_attn.o_proj.weight"], i, "o"),
                    W.get([p + "self_attn.o_proj.bias"], i, required=False))
        post_attn = W.get([p + "post_attention_layernorm.weight"], i)
        pre_ff = W.get([p + "pre_feedforward_layernorm.weight"], i, required=False)
        if pre_ff is not None:       # Gemma 2: norms after attention and around the MLP
            x = x + _rms_norm(a, post_attn, eps, norm_offset)
            h = _rms_norm(x, pre_ff, eps, norm_offset)
        else:
            x = x + a
            h = _rms_norm(x, post_attn, eps, norm_offset)
        g = _linear(h, W.get([p + "mlp.gate_proj.weight"], i, "mlp_gate"),
                    W.get([p + "mlp.gate_proj.bias"], i, required=False))
        u = _linear(h, W.get([p + "mlp.up_proj.weight"], i, "mlp_up"),
                    W.get([p + "mlp.up_proj.bias"], i, required=False))
        m = _linear(act(g) * u, W.get([p + "mlp.down_proj.weight"], i, "mlp_down"),
                    W.get([p + "mlp.down_proj.bias"], i, required=False))
        post_ff = W.get([p + "post_feedforward_layernorm.weight"], i, required=False)
        if post_ff is not None:
            m = _rms_norm(m, post_ff, eps, norm_offset)
        x = x + m
    return out


# ------------------------------------------------------------------------------ public API
def capture(path, text=None, *, max_tokens=None, layers=None, token_ids=None):
    """``(keys, info)``: the keys as :func:`capture_keys` returns them and a dict with the
    model path, model_type, token ids, token count, layer and head counts and the text's
    SHA-256."""
    if max_tokens is not None and (not isinstance(max_tokens, (int, np.integer)) or max_tokens < 1):
        raise KeyCaptureError(f"max_tokens must be a positive integer, got {max_tokens!r}")
    if (text is None) == (token_ids is None):
        raise KeyCaptureError("give exactly one of text and token_ids")
    ckpt = _open(path)
    try:
        if ckpt.format != "safetensors":
            # GGUF stores Llama's q/k rows permuted for llama.cpp's RoPE layout, and its
            # names differ: not supported yet
            raise KeyCaptureError(f"{ckpt.path}: capture_keys reads Hugging Face safetensors checkpoints, "
                                  f"not {ckpt.format}")
        W = _Weights(ckpt)
        if not W.config:
            raise KeyCaptureError(f"{ckpt.path}: no config.json beside the weights; capture_keys needs "
                                  "the model's configuration")
        family = _family(W.config)
        if token_ids is not None:
            ids = np.asarray(token_ids)
            if ids.ndim == 2 and ids.shape[0] == 1:
                ids = ids[0]
            if ids.ndim != 1 or ids.size == 0 or not np.issubdtype(ids.dtype, np.integer):
                raise KeyCaptureError(f"token_ids must be a non-empty 1-D integer sequence, got "
                                      f"shape {ids.shape} dtype {ids.dtype}")
            if ids.min() < 0:
                raise KeyCaptureError(f"token_ids: negative id {int(ids.min())}")
            ids = ids.astype(np.int64)
            if max_tokens is not None:
                ids = ids[:max_tokens]
        else:
            ids = tokenize(_model_dir(ckpt), text, max_tokens, "bert" if family == "bert" else "llama")
        n_layers = int(W.config.get("num_hidden_layers") or 0)
        if n_layers <= 0:
            raise KeyCaptureError(f"{ckpt.path}: config.json gives no num_hidden_layers")
        chosen = _layer_list(layers, n_layers)
        if family == "bert":
            keys = _bert_keys(W, ids, chosen)
        else:
            keys = _llama_keys(W, ids, chosen, family)
    finally:
        ckpt.close()
    if not np.all(np.isfinite(keys)):
        raise KeyCaptureError(f"{path}: the forward pass produced non-finite keys (corrupt weights?)")
    info = {
        "model": str(path),
        "model_type": W.config.get("model_type"),
        "family": family,
        "token_count": int(len(ids)),
        "token_ids": [int(t) for t in ids],
        "layers": chosen,
        "num_layers": int(keys.shape[0]),
        "num_kv_heads": int(keys.shape[1]),
        "head_dim": int(keys.shape[3]),
        "num_attention_heads": int(W.config.get("num_attention_heads", keys.shape[1])),
        "text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest() if text is not None else None,
    }
    return keys, info


@_public("capture_keys")
def capture_keys(path, text=None, *, max_tokens=None, layers=None, token_ids=None) -> np.ndarray:
    """The keys the model at ``path`` (a directory or weights file with config.json and
    tokenizer.json beside it) holds in its KV cache after reading ``text``: an array
    (L, H_kv, S, D) float32. ``max_tokens`` truncates the tokenised text (special tokens
    included); ``layers`` picks layers (ints, negative from the end; default all);
    ``token_ids`` replaces ``text`` with ids already tokenised (no tokenizer needed)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"argument 'path' must be a checkpoint path (str or os.PathLike), got {type(path).__name__}")
    return capture(path, text, max_tokens=max_tokens, layers=layers, token_ids=token_ids)[0]


# ------------------------------------------------------------------------------ adapters
def _as_numpy(t, what: str) -> np.ndarray:
    """One array-like as numpy, without a copy where it can: numpy as is, objects with
    ``__dlpack__`` (torch CPU, jax, cupy on host...) through ``np.from_dlpack``, then
    ``.numpy()``, then ``__array__``/the buffer protocol."""
    if isinstance(t, np.ndarray):
        return t
    if hasattr(t, "detach"):          # a torch tensor that may need grad: detach is free
        t = t.detach()
    if hasattr(t, "__dlpack__"):
        try:
            return np.from_dlpack(t)
        except (TypeError, RuntimeError, BufferError, ValueError):
            pass                       # bfloat16, a GPU tensor: try the slower paths
    dev = getattr(t, "device", None)
    if dev is not None and getattr(dev, "type", "cpu") not in ("cpu", None) and hasattr(t, "cpu"):
        t = t.cpu()
    if hasattr(t, "numpy"):
        try:
            return t.numpy()
        except (TypeError, RuntimeError):
            if hasattr(t, "float"):    # torch bfloat16 has no numpy dtype
                return t.float().numpy()
    try:
        return np.asarray(t)
    except Exception as exc:
        raise TypeError(f"{what}: cannot read a {type(t).__name__} as an array ({exc})") from exc


def _layer_keys(cache):
    """The per-layer key tensors of a cache object, or None if it is not a known cache."""
    layers = getattr(cache, "layers", None)           # transformers >= 4.56 DynamicCache
    if layers is not None and not isinstance(cache, (list, tuple)):
        try:
            return [lay.keys for lay in layers]
        except AttributeError:
            pass
    key_cache = getattr(cache, "key_cache", None)     # transformers < 4.56 DynamicCache
    if isinstance(key_cache, (list, tuple)):
        return list(key_cache)
    to_legacy = getattr(cache, "to_legacy_cache", None)
    if callable(to_legacy):
        return [kv[0] for kv in to_legacy()]
    return None


def _mlx_keys(entry):
    """An mlx_lm KVCache-like entry: ``keys`` allocated in steps, ``offset`` the filled part."""
    keys = getattr(entry, "keys", None)
    if keys is None or callable(keys):
        return None
    offset = getattr(entry, "offset", None)
    if isinstance(offset, int) and keys.shape[-2] > offset:
        keys = keys[..., :offset, :]
    return keys


@_public("keys_from_cache")
def keys_from_cache(cache) -> np.ndarray:
    """(L, H, S, D) float32 keys from a cache another tool holds:

    - a Hugging Face ``DynamicCache`` (``layers[i].keys`` or ``key_cache``), or the legacy
      tuple of per-layer ``(k, v)`` pairs; each k is (1, H, S, D);
    - an MLX cache list (mlx_lm ``KVCache`` entries with ``keys``/``offset``) or a list of
      MLX/numpy/torch arrays, one per layer, (1, H, S, D) or (H, S, D);
    - any one object with ``__array__`` or ``__dlpack__`` shaped (L, H, S, D) or (L, 1, H, S, D).

    A single float32 array comes back without a copy; per-layer tensors are stacked (one
    copy). A batch dimension must be 1 (it is squeezed); anything else raises ValueError
    naming ``cache``.
    """
    if cache is None:
        raise TypeError("cache: got None")
    per_layer = _layer_keys(cache)
    if per_layer is None and isinstance(cache, (list, tuple)):
        per_layer = []
        for i, entry in enumerate(cache):
            if isinstance(entry, (list, tuple)):
                if not entry:
                    raise ValueError(f"cache[{i}]: empty entry")
                per_layer.append(entry[0])          # a (k, v) pair
            else:
                mk = _mlx_keys(entry)
                per_layer.append(entry if mk is None else mk)
    if per_layer is None:
        arr = _as_numpy(cache, "cache")
        if arr.ndim == 5:
            if arr.shape[1] != 1:
                raise ValueError(f"cache: shape {arr.shape} has a batch of {arr.shape[1]}; "
                                 "pass one sequence (batch 1)")
            arr = arr[:, 0]
        if arr.ndim != 4:
            raise ValueError(f"cache: expected keys shaped (L, H, S, D) or (L, 1, H, S, D), got {arr.shape}")
        return _finish(arr)
    if not per_layer:
        raise ValueError("cache: holds no layers")
    arrays = []
    for i, k in enumerate(per_layer):
        a = _as_numpy(k, f"cache layer {i}")
        if a.ndim == 4:
            if a.shape[0] != 1:
                raise ValueError(f"cache: layer {i} keys have shape {a.shape}, a batch of {a.shape[0]}; "
                                 "pass one sequence (batch 1)")
            a = a[0]
        if a.ndim != 3:
            raise ValueError(f"cache: layer {i} keys should be (1, H, S, D) or (H, S, D), got {a.shape}")
        if arrays and a.shape != arrays[0].shape:
            raise ValueError(f"cache: layer {i} keys are {a.shape}, layer 0's are {arrays[0].shape}")
        arrays.append(a)
    if len(arrays) == 1:
        return _finish(arrays[0][None])
    return _finish(np.stack([np.asarray(a, dtype=np.float32) for a in arrays]))


def _finish(arr: np.ndarray) -> np.ndarray:
    if arr.dtype != np.float32:
        if arr.dtype.kind not in "fiu" and arr.dtype.name != "bfloat16":
            raise TypeError(f"cache: keys have dtype {arr.dtype}, expected a floating type")
        arr = arr.astype(np.float32)
    if 0 in arr.shape:
        raise ValueError(f"cache: keys shape {arr.shape} has an empty dimension")
    return np.ascontiguousarray(arr)


# ------------------------------------------------------------------------------ battery
@_public("key_battery")
def key_battery(keys, all_heads: bool = False) -> dict:
    """Bone orientation and head entropy of a key snapshot (L, H, S, D): the result's fields,
    its composite, the five labelled features and each layer's mean head entropy. H ≤ 4 (or
    ``all_heads``) is the position-wise GQA mode; ``all_heads`` runs it over every KV head."""
    import geomkit

    arr = np.asarray(keys)
    if arr.ndim != 4:
        raise ValueError(f"keys: expected shape (L, H, S, D), got {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    bo = geomkit.bone_orientation(arr, all_heads=all_heads)
    L, H = arr.shape[:2]
    layer_entropy = [float(np.mean([geomkit.head_entropy(arr[l, h]) for h in range(H)])) for l in range(L)]
    return {
        "shape": list(arr.shape),
        "gqa": bool(bo.gqa),
        "all_heads": bool(all_heads),
        "composite": int(bo.composite()),
        "mean_coherence": float(bo.mean_coherence),
        "mean_cross_alignment": float(bo.mean_cross_alignment),
        "mean_head_entropy": float(bo.mean_head_entropy),
        "phase_lock_score": float(bo.phase_lock_score),
        "joint_collapse_count": int(bo.joint_collapse_count),
        "layer_coherence": [float(v) for v in bo.layer_coherence],
        "layer_cross_alignment": [float(v) for v in bo.layer_cross_alignment],
        "layer_entropy": layer_entropy,
        "features": {k: float(v) for k, v in zip(bo.feature_labels(), bo.features())},
    }


# ------------------------------------------------------------------------------ CLI
def main(args) -> int:
    """``geomkit keys PATH --text TEXT | --text-file F -o keys.npy [--max-tokens N]``: writes
    the snapshot and ``keys.json`` beside it (model, token count, layer/head counts, hash)."""
    import sys

    if args.text_file is not None:
        try:
            text = pathlib.Path(args.text_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyCaptureError(f"--text-file {args.text_file}: cannot read it ({exc})") from exc
    else:
        text = args.text
    out = pathlib.Path(args.output)
    if out.suffix != ".npy":
        raise KeyCaptureError(f"-o {out}: the snapshot is written as .npy; name it FILE.npy")
    if not out.parent.is_dir():
        raise KeyCaptureError(f"-o {out}: no such directory {out.parent}")
    path = args.path
    if path is None:
        from .report import demo_model_path

        path = demo_model_path().parent
    keys, info = capture(path, text, max_tokens=args.max_tokens)
    np.save(out, keys)
    sidecar = out.with_suffix(".json")
    meta = {k: v for k, v in info.items() if k != "token_ids"}
    meta["shape"] = list(keys.shape)
    meta["keys_file"] = out.name
    sidecar.write_text(json.dumps(meta, indent=2) + "\n")
    print(f"{out}: keys {' x '.join(map(str, keys.shape))} from {info['token_count']} tokens "
          f"({info['model_type']}); metadata in {sidecar}", file=sys.stderr)
    return 0
