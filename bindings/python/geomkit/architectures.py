"""Which tensor is which: a table from tensor names to (layer, role), head counts, fused splits.

``classify(name, shape, config)`` normalises the name (its ``.weight`` / ``.bias`` /
``_weight`` suffix becomes ``param``), finds the layer (the first ``layers.N`` / ``layer.N``
/ ``h.N`` / ``block.N`` / ``blocks.N`` / ``blk.N`` / ``resblocks.N``), the expert
(``experts.N``) and the stack it belongs to (:data:`GROUPS`: encoder, decoder, decoder.cross,
vision, text), then takes the role and fused layout from the first row of :data:`ROWS`
whose regular expression matches. Adding an architecture is adding rows; there is no
per-architecture code. A name no row matches has role ``"other"``.

Roles (:data:`ROLES`): embedding, position_embedding, q, k, v, o, qkv (fused), mlp_gate,
mlp_up, gate_up (fused), mlp_down, norm, lm_head, expert_gate, expert_up, expert_down, other.

Layouts of the rows that need one:

- ``qkv_concat``: rows are [q (H*d); k (Hkv*d); v (Hkv*d)] (Phi-3 ``qkv_proj``, MPT
  ``Wqkv``, ``nn.MultiheadAttention.in_proj_weight`` of open_clip, GGUF ``attn_qkv``).
- ``neox_interleaved``: per head [q_h; k_h; v_h], h = 0..H-1 (GPT-NeoX/Pythia).
- ``grouped_interleaved``: per KV group [q heads of the group; k; v] (Falcon in all three
  variants: H groups of 1 for the original, 1 group of H for multi-query 7B, Hkv groups for
  the new decoder architecture; BLOOM). ``neox_interleaved`` is its Hkv = H case.
- ``conv1d_transposed``: stored in x out (GPT-2's Conv1D); :func:`orient` transposes, and a
  fused ``c_attn`` then splits as ``qkv_concat``.
- ``gate_up_concat``: rows are [gate; up] (Phi-3 ``gate_up_proj``, DINOv2 SwiGLU
  ``weights_in``, Phi-3 GGUF ``ffn_up`` of twice the FFN width).
- ``stacked_experts``: a 3-D (experts, out, in) tensor (GGUF ``ffn_*_exps``).

Head counts (:func:`attention_heads`) come from the config (HF names, or the keys the GGUF
reader derives from metadata), per stack for CLIP-like models (``vision_config`` /
``text_config``). When absent they are inferred from the q/k (or fused) row counts: a
per-head ``q_norm`` length fixes the head dimension exactly, otherwise the first of
:data:`HEAD_DIM_CANDIDATES` that divides them; such results have ``inferred=True`` and a note.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

ROLES = ("embedding", "position_embedding", "q", "k", "v", "o", "qkv", "mlp_gate", "mlp_up", "gate_up",
         "mlp_down", "norm", "lm_head", "expert_gate", "expert_up", "expert_down", "other")

# (pattern on the name without its .weight/.bias suffix, group); first match wins, else ""
GROUPS = (
    (r"EncDecAttention|(^|\.)cross_attn_|(^|\.)encoder_attn\.", "decoder.cross"),
    (r"(^|\.)(vision_model|vision_tower|visual|vision_encoder)\.", "vision"),
    (r"(^|\.)(text_model|text_encoder)\.", "text"),
    (r"(^|\.)(decoder|dec)\.", "decoder"),
    (r"(^|\.)(encoder|enc)\.", "encoder"),
)

LAYER = re.compile(r"(?:^|\.)(?:layers|layer|h|blocks|block|blk|resblocks)\.(\d+)(?=\.|$)")
EXPERT = re.compile(r"(?:^|\.)experts\.(\d+)(?=\.|$)")
SUFFIX = re.compile(r"^(?P<base>.*?)(?:[._](?P<param>weight|bias))?$")


@dataclass(frozen=True)
class Row:
    pattern: str
    role: str
    layout: str | None = None
    when: str | None = None        # a key of CONDITIONS, or None
    note: str = ""                 # which models the row is for


# A condition reads the shape and the config keys in CONDITION_KEYS (classify caches on
# them); it never names a model family in code.
CONDITION_KEYS = ("model_type", "intermediate_size")
CONDITIONS = {
    # GPT-2's Conv1D names; GPT-BigCode reuses them for ordinary Linear layers
    "conv1d": lambda shape, cfg: cfg.get("model_type") != "gpt_bigcode",
    # a GGUF ffn_up twice the FFN width holds [gate; up] (Phi-3)
    "twice_ffn": lambda shape, cfg: len(shape) == 2 and bool(cfg.get("intermediate_size"))
    and shape[0] == 2 * cfg["intermediate_size"],
}

_E = r"(^|\.)"
ROWS = (
    # --- embeddings and output
    Row(_E + r"(embed_tokens|word_embeddings|wte|tok_embeddings|embed_in|token_embedding|token_embd)$",
        "embedding", note="Llama/Qwen/Gemma/Phi-3/Mistral, BERT/Falcon, GPT-2, Meta, NeoX, CLIP, GGUF"),
    Row(r"^(model\.)?shared$", "embedding", note="T5"),
    Row(_E + r"(wpe|position_embeddings|position_embedding|positional_embedding|embed_positions|"
        r"position_embd|relative_attention_bias|attn_rel_b)$", "position_embedding",
        note="GPT-2, BERT/ViT, CLIP, open_clip, OPT, GGUF, T5 relative bias (HF and GGUF)"),
    Row(_E + r"(lm_head|embed_out)$", "lm_head", note="HF, GPT-NeoX"),
    Row(r"^output$", "lm_head", note="GGUF"),
    # --- mixture of experts (before the dense MLP rows)
    Row(r"experts\.\d+\.(w1|gate_proj)$", "expert_gate", note="Mixtral w1, Qwen-MoE/DeepSeek gate_proj"),
    Row(r"experts\.\d+\.(w3|up_proj)$", "expert_up"),
    Row(r"experts\.\d+\.(w2|down_proj)$", "expert_down"),
    Row(_E + r"ffn_gate_exps$", "expert_gate", "stacked_experts", note="GGUF"),
    Row(_E + r"ffn_up_exps$", "expert_up", "stacked_experts", note="GGUF"),
    Row(_E + r"ffn_down_exps$", "expert_down", "stacked_experts", note="GGUF"),
    Row(_E + r"(block_sparse_moe\.gate|mlp\.gate|ffn_gate_inp|router(\.classifier)?)$", "other",
        note="MoE router"),
    Row(_E + r"ffn_gate_shexp$", "mlp_gate", note="GGUF shared expert"),
    Row(_E + r"ffn_up_shexp$", "mlp_up", note="GGUF shared expert"),
    Row(_E + r"ffn_down_shexp$", "mlp_down", note="GGUF shared expert"),
    # --- GPT-2 Conv1D (in x out)
    Row(_E + r"attn\.c_attn$", "qkv", "conv1d_transposed", "conv1d", note="GPT-2"),
    Row(_E + r"attn\.c_attn$", "qkv", "qkv_concat", note="GPT-BigCode (multi-query)"),
    Row(_E + r"h\.\d+\.attn\.c_proj$", "o", "conv1d_transposed", "conv1d", note="GPT-2"),
    Row(_E + r"h\.\d+\.mlp\.c_fc$", "mlp_up", "conv1d_transposed", "conv1d", note="GPT-2"),
    Row(_E + r"h\.\d+\.mlp\.c_proj$", "mlp_down", "conv1d_transposed", "conv1d", note="GPT-2"),
    # --- fused attention
    Row(_E + r"(qkv_proj|Wqkv|qkv|attn_qkv)$", "qkv", "qkv_concat", note="Phi-3, MPT, timm ViT, GGUF"),
    Row(_E + r"in_proj$", "qkv", "qkv_concat", note="nn.MultiheadAttention (open_clip)"),
    Row(_E + r"attention\.query_key_value$", "qkv", "neox_interleaved", note="GPT-NeoX/Pythia"),
    Row(_E + r"self_attention\.query_key_value$", "qkv", "grouped_interleaved", note="Falcon, BLOOM"),
    # --- fused MLP
    Row(_E + r"(gate_up_proj|weights_in)$", "gate_up", "gate_up_concat", note="Phi-3, DINOv2 SwiGLU"),
    Row(_E + r"ffn_up$", "gate_up", "gate_up_concat", "twice_ffn", note="Phi-3 GGUF"),
    # --- separate attention projections
    Row(_E + r"(q_proj|query|q|q_lin|wq|(cross_)?attn_q)$", "q"),
    Row(_E + r"(k_proj|key|k|k_lin|wk|(cross_)?attn_k)$", "k"),
    Row(_E + r"(v_proj|value|v|v_lin|wv|(cross_)?attn_v)$", "v"),
    Row(_E + r"(o_proj|out_proj|o|out_lin|(cross_)?attn_output|(cross_)?attn_o|attention\.wo|"
        r"attention\.output\.dense|attention\.dense|self_attention\.dense|attn\.c_proj|attn\.proj)$", "o"),
    # --- MLP
    Row(_E + r"DenseReluDense\.wo$", "mlp_down", note="T5"),
    Row(_E + r"(gate_proj|ffn_gate|w1|wi_0|fc_gate)$", "mlp_gate"),
    Row(_E + r"(up_proj|ffn_up|w3|wi_1|wi|fc1|fc_in|dense_h_to_4h|c_fc|intermediate\.dense|"
        r"weights_out_in|lin1)$", "mlp_up"),
    Row(_E + r"(down_proj|ffn_down|w2|fc2|fc_out|dense_4h_to_h|mlp\.c_proj|output\.dense|weights_out|"
        r"lin2)$", "mlp_down"),
    # --- norms
    Row(r"(?i)(^|\.)(\w*norm\w*|ln_?\w*|ln)$", "norm"),
)
_COMPILED = [(re.compile(r.pattern), r) for r in ROWS]
_GROUPS = [(re.compile(p), g) for p, g in GROUPS]


@dataclass(frozen=True)
class TensorRole:
    """Where a tensor sits. Iterates as the interface's (layer, role, expert) triple."""

    layer: int | None
    role: str
    expert: int | None = None
    group: str = ""                # "", "encoder", "decoder", "decoder.cross", "vision", "text"
    layout: str | None = None      # the row's fused/stored layout, or None
    param: str = ""                # "weight", "bias" or "" (a bare parameter)

    def __iter__(self):
        return iter((self.layer, self.role, self.expert))


def split_name(name: str):
    """'a.b.q_proj.weight' -> ('a.b.q_proj', 'weight'); 'attn.in_proj_weight' -> ('attn.in_proj', 'weight')."""
    m = SUFFIX.match(name)
    return m.group("base"), m.group("param") or ""


def classify(name: str, shape=(), config: dict | None = None) -> TensorRole:
    config = config or {}
    key = tuple(v if isinstance(v, (str, int, float, type(None))) else str(v)
                for v in (config.get(k) for k in CONDITION_KEYS))
    return _classify(name, tuple(int(s) for s in shape), key)


@lru_cache(maxsize=1 << 16)
def _classify(name: str, shape: tuple, key: tuple) -> TensorRole:
    config = dict(zip(CONDITION_KEYS, key))
    base, param = split_name(name)
    m = LAYER.search(base)
    layer = int(m.group(1)) if m else None
    m = EXPERT.search(base)
    expert = int(m.group(1)) if m else None
    group = next((g for p, g in _GROUPS if p.search(base)), "")
    for pattern, row in _COMPILED:
        if pattern.search(base) and (row.when is None or CONDITIONS[row.when](shape, config)):
            return TensorRole(layer, row.role, expert, group, row.layout, param)
    return TensorRole(layer, "other", expert, group, None, param)


# ------------------------------------------------------------------------------ heads
HEAD_DIM_CANDIDATES = (64, 128, 96, 80, 256, 32)


@dataclass(frozen=True)
class Heads:
    n_heads: int
    n_kv_heads: int
    head_dim: int
    inferred: bool = False
    note: str = ""


def _first(cfg: dict, *keys):
    for k in keys:
        v = cfg.get(k)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    return None


def _sub_config(config: dict, group: str) -> dict:
    head_keys = ("num_attention_heads", "n_head", "num_heads", "n_heads")
    if group == "vision" and isinstance(config.get("vision_config"), dict):
        return config["vision_config"]
    if group == "text" and isinstance(config.get("text_config"), dict):
        return config["text_config"]
    if not any(k in config for k in head_keys) and isinstance(config.get("text_config"), dict):
        return config["text_config"]
    return config


def _out_in(role: TensorRole, shape):
    return (shape[1], shape[0]) if role.layout == "conv1d_transposed" else (shape[0], shape[1])


def attention_heads(config: dict, tensors, group: str = "") -> Heads | None:
    """Head counts for the attention of stack ``group``; None when the stack has no attention
    weights and the config says nothing. ``tensors``: objects with ``name`` and ``shape``."""
    config = config or {}
    cfg = _sub_config(config, group)
    q_rows = k_rows = qkv_rows = d_in = qnorm = None
    for t in tensors:
        r = classify(t.name, t.shape, config)
        if r.group != group or r.param == "bias":
            continue
        shape = tuple(t.shape)
        if r.role in ("q", "k", "qkv") and len(shape) == 2:
            rows, cols = _out_in(r, shape)
            if r.role == "q" and q_rows is None:
                q_rows, d_in = rows, cols
            elif r.role == "k" and k_rows is None:
                k_rows = rows
            elif r.role == "qkv" and qkv_rows is None:
                qkv_rows, d_in = rows, cols
        elif r.role == "norm" and len(shape) == 1 and re.search(r"(^|\.|_)q_(layer)?norm$|attn_q_norm$",
                                                                 split_name(t.name)[0]):
            qnorm = shape[0]
    H = _first(cfg, "num_attention_heads", "n_head", "num_heads", "n_heads")
    if cfg.get("new_decoder_architecture"):
        kv = _first(cfg, "num_kv_heads", "num_key_value_heads", "n_head_kv")
    elif cfg.get("multi_query"):
        kv = 1
    else:
        kv = _first(cfg, "num_key_value_heads", "num_kv_heads", "n_head_kv", "multi_query_group_num")
    hd = _first(cfg, "head_dim", "d_kv", "kv_channels")
    hidden = _first(cfg, "hidden_size", "d_model", "n_embd", "embed_dim", "width")
    notes = []
    if H is not None:
        if hd is None:
            if q_rows:
                hd = q_rows // H
            elif qkv_rows and kv:
                hd = qkv_rows // (H + 2 * kv)
            elif hidden:
                hd = hidden // H
        if kv is None and hd:
            if k_rows:
                kv = k_rows // hd
                notes.append(f"KV heads from k's {k_rows} rows / head_dim {hd}")
            elif qkv_rows and qkv_rows > H * hd:
                kv = (qkv_rows - H * hd) // (2 * hd)
                notes.append(f"KV heads from the fused matrix's {qkv_rows} rows")
            else:
                kv = H
        if not hd or not kv:
            return None
        return Heads(H, kv, hd, False, "; ".join(notes) or "from config")
    # nothing in the config: infer from the shapes
    if q_rows is None and qkv_rows is None:
        return None
    d = d_in or 0
    if qkv_rows is not None and q_rows is None:
        q_rows = d
        k_rows = (qkv_rows - d) // 2 if qkv_rows > d else d
    k_rows = k_rows or q_rows
    if qnorm and q_rows % qnorm == 0 and k_rows % qnorm == 0:
        hd, how = qnorm, f"head_dim {qnorm} from the per-head q_norm"
    else:
        order = (128,) + tuple(c for c in HEAD_DIM_CANDIDATES if c != 128) if d >= 4096 else HEAD_DIM_CANDIDATES
        hd = next((c for c in order if q_rows % c == 0 and k_rows % c == 0
                   and (q_rows // c) % (k_rows // c) == 0), None)
        if hd is None:
            return None
        how = f"head_dim {hd} assumed (first of {'/'.join(map(str, order))} dividing the rows)"
    return Heads(q_rows // hd, k_rows // hd, hd, True,
                 f"no head counts in the config: inferred from q rows {q_rows}, k rows {k_rows}; {how}")


# ------------------------------------------------------------------------------ fused splits
def orient(W: np.ndarray, layout: str | None) -> np.ndarray:
    """A weight as out x in (transposes GPT-2's Conv1D in x out)."""
    return np.ascontiguousarray(W.T) if layout == "conv1d_transposed" else W


def split_fused(role_name: str, W: np.ndarray, heads: Heads | None, layout: str | None) -> dict:
    """Splits a fused matrix by its true sizes: qkv -> dict(q, k, v); gate_up -> dict(gate, up).
    Raises ValueError when the sizes do not add up."""
    if role_name == "gate_up":
        W = orient(W, layout)
        if W.shape[0] % 2:
            raise ValueError(f"fused gate_up has an odd number of rows ({W.shape[0]})")
        h = W.shape[0] // 2
        return {"gate": W[:h], "up": W[h:]}
    if role_name != "qkv":
        raise ValueError(f"role {role_name!r} is not fused")
    W = orient(W, layout)
    rows, cols = W.shape[0], W.shape[1]
    if heads is None:
        if rows % 3:
            raise ValueError(f"fused qkv of {rows} rows without head counts")
        heads = Heads(1, 1, rows // 3, True, "thirds")
    H, kv, d = heads.n_heads, heads.n_kv_heads, heads.head_dim
    if rows != (H + 2 * kv) * d:
        raise ValueError(f"fused qkv has {rows} rows, but {H} heads + 2 x {kv} KV heads of {d} need "
                         f"{(H + 2 * kv) * d}")
    if layout in ("neox_interleaved", "grouped_interleaved"):
        if H % kv:
            raise ValueError(f"{H} heads do not group into {kv} KV heads")
        g = H // kv
        blocks = W.reshape(kv, g + 2, d, cols)
        return {"q": blocks[:, :g].reshape(H * d, cols), "k": blocks[:, g].reshape(kv * d, cols),
                "v": blocks[:, g + 1].reshape(kv * d, cols)}
    # qkv_concat, and conv1d_transposed after orient()
    return {"q": W[:H * d], "k": W[H * d:(H + kv) * d], "v": W[(H + kv) * d:]}


def check_kv(Wk: np.ndarray, heads: Heads) -> None:
    """Raises ValueError unless Wk is H_kv key heads of head_dim rows whose count divides H."""
    H, kv, d = heads.n_heads, heads.n_kv_heads, heads.head_dim
    if H % kv or Wk.shape[0] != kv * d:
        raise ValueError(f"K of {Wk.shape[0]} rows is not {kv} KV heads of {d} serving {H} heads")


def expand_kv(Wk: np.ndarray, heads: Heads) -> np.ndarray:
    """GQA: K's head blocks repeated so key head h serves query heads h*g .. h*g+g-1
    (g = H / Hkv), as attention does at run time; returns Wk when Hkv == H."""
    H, kv, d = heads.n_heads, heads.n_kv_heads, heads.head_dim
    if kv == H:
        return Wk
    check_kv(Wk, heads)
    return np.repeat(Wk.reshape(kv, d, -1), H // kv, axis=0).reshape(H * d, -1)


# ------------------------------------------------------------------------------ tied embeddings
@dataclass(frozen=True)
class Tied:
    tied: bool
    embedding: str | None
    lm_head: str | None
    reason: str


def tied_embeddings(config: dict, tensors) -> Tied:
    """Whether the output layer is the embedding. ``tensors``: TensorRefs (``digest()`` is
    used to compare stored bytes when both matrices exist with the same shape)."""
    config = config or {}
    emb = head = None
    for t in tensors:
        r = classify(t.name, t.shape, config)
        if len(t.shape) != 2 or r.param == "bias":
            continue
        if r.role == "embedding" and r.group in ("", "text", "decoder") and (
                emb is None or t.shape[0] > emb.shape[0]):
            emb = t
        elif r.role == "lm_head" and head is None:
            head = t
    if emb is None:
        return Tied(False, None, head.name if head else None, "no embedding matrix")
    if head is None:
        return Tied(True, emb.name, None, "no lm_head tensor: the embedding is the only vocabulary "
                                          "matrix (tied, or no LM head)")
    same = tuple(emb.shape) == tuple(head.shape) and getattr(emb, "dtype", None) == getattr(head, "dtype", None)
    if same and hasattr(emb, "digest") and emb.digest() == head.digest():
        return Tied(True, emb.name, head.name, "lm_head's stored bytes equal the embedding's")
    if config.get("tie_word_embeddings") is True:
        return Tied(False, emb.name, head.name, "config says tie_word_embeddings but lm_head is stored "
                                                "with different values")
    return Tied(False, emb.name, head.name, "separate lm_head")


def attention_blocks(config: dict, tensors) -> list:
    """One dict per attention block: group, layer, the q/k/v/o/qkv TensorRefs found (weights
    only, 2-D) and the fused layout; sorted by (group, layer)."""
    blocks = {}
    for t in tensors:
        r = classify(t.name, t.shape, config)
        if r.role in ("q", "k", "v", "o", "qkv") and r.param != "bias" and len(t.shape) == 2 \
                and r.layer is not None:
            b = blocks.setdefault((r.group, r.layer), {"group": r.group, "layer": r.layer, "layout": None})
            b.setdefault(r.role, t)
            if r.role == "qkv":
                b["layout"] = r.layout
    return [blocks[k] for k in sorted(blocks)]
