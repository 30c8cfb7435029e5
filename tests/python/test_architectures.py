"""geomkit.architectures: every table row on generated checkpoints, head counts, fused splits,
GQA expansion and tied embeddings."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

import checkpoints as C
from geomkit.architectures import (ROLES, ROWS, Heads, attention_blocks, attention_heads, classify, expand_kv,
                                   orient, split_fused, tied_embeddings)
from geomkit.readers import open_checkpoint


def refs(model):
    return [SimpleNamespace(name=n, shape=a.shape) for n, a in model.tensors.items()]


@pytest.mark.parametrize("family", sorted(C.FAMILIES))
def test_every_tensor_gets_its_role(family, rng):
    m = C.FAMILIES[family](rng)
    for name, (layer, role, group) in m.roles.items():
        got = classify(name, m.tensors[name].shape, m.config)
        assert (got.layer, got.role, got.group) == (layer, role, group), name
        assert got.role in ROLES
        layer_, role_, expert_ = got                       # the interface's triple
        assert (layer_, role_) == (layer, role)


@pytest.mark.parametrize("family", sorted(C.FAMILIES))
def test_roles_through_the_reader(family, rng, tmp_path):
    """The same roles when the checkpoint is written and read back (safetensors, or GGUF)."""
    m = C.FAMILIES[family](rng)
    if family.startswith("gguf"):
        path = C.write_gguf(tmp_path / "m.gguf", "llama", m.tensors, None, m.config)
    else:
        path = m.save(tmp_path)
    ck = open_checkpoint(path)
    assert sorted(t.name for t in ck.tensors) == sorted(m.tensors)
    for t in ck.tensors:
        got = classify(t.name, t.shape, ck.config)
        assert (got.layer, got.role, got.group) == m.roles[t.name], t.name
    for n in m.parts:      # every fused matrix splits back into the pieces it was built from
        r = classify(n, ck.tensor(n).shape, ck.config)
        parts = split_fused(r.role, ck.tensor(n).load(), attention_heads(ck.config, ck.tensors, r.group), r.layout)
        assert parts.keys() == m.parts[n].keys()
        for k, x in m.parts[n].items():
            np.testing.assert_array_equal(parts[k], x)


@pytest.mark.parametrize("family", sorted(f for f in C.FAMILIES if f != "open_clip" and not f.startswith("gguf")))
def test_heads_from_config(family, rng):
    m = C.FAMILIES[family](rng)
    group = next(g for (_, role, g) in m.roles.values() if role in ("q", "qkv"))
    h = attention_heads(m.config, refs(m), group)
    assert (h.n_heads, h.n_kv_heads, h.head_dim) == m.heads and not h.inferred


def test_heads_per_tower_clip(rng):
    m = C.clip(rng, d_text=32, h_text=4, d_vis=48, h_vis=6)
    h = attention_heads(m.config, refs(m), "vision")
    assert (h.n_heads, h.n_kv_heads, h.head_dim, h.inferred) == (6, 6, 8, False)
    assert attention_heads(m.config, refs(m), "text").n_heads == 4


def test_heads_from_gguf_metadata(rng, tmp_path):
    m = C.gguf_llama(rng, d=64, heads=8, kv=2)
    ck = open_checkpoint(C.write_gguf(tmp_path / "m.gguf", "llama", m.tensors, None, m.config))
    h = attention_heads(ck.config, ck.tensors)
    assert (h.n_heads, h.n_kv_heads, h.head_dim, h.inferred) == (8, 2, 8, False)


def test_heads_inferred_from_shapes(rng):
    m = C.llama_like(rng, d=256, heads=4, kv=2, ffn=32, vocab=16, with_config=False)
    h = attention_heads({}, refs(m))
    assert (h.n_heads, h.n_kv_heads, h.head_dim) == (4, 2, 64) and h.inferred
    assert "inferred" in h.note and "256" in h.note and "128" in h.note
    # a per-head q_norm fixes head_dim where the candidates alone would say 64
    m = C.llama_like(rng, "qwen3", d=256, heads=2, kv=1, ffn=32, vocab=16, with_config=False)
    h = attention_heads({}, refs(m))
    assert (h.n_heads, h.n_kv_heads, h.head_dim) == (2, 1, 128) and h.inferred and "q_norm" in h.note
    # fused without config: thirds of an MHA qkv (open_clip, d 128 -> 2 heads of 64)
    m = C.open_clip(rng, d=128, heads=2)
    h = attention_heads({}, refs(m))
    assert (h.n_heads, h.n_kv_heads, h.head_dim) == (2, 2, 64) and h.inferred
    # large models prefer head_dim 128
    shapes = [SimpleNamespace(name="model.layers.0.self_attn.q_proj.weight", shape=(4096, 4096)),
              SimpleNamespace(name="model.layers.0.self_attn.k_proj.weight", shape=(1024, 4096))]
    h = attention_heads({}, shapes)
    assert (h.n_heads, h.n_kv_heads, h.head_dim) == (32, 8, 128)
    assert attention_heads({}, [SimpleNamespace(name="x.weight", shape=(3, 3))]) is None


def test_kv_heads_from_shapes_when_config_has_only_heads(rng):
    m = C.llama_like(rng, d=64, heads=8, kv=2)
    cfg = {k: v for k, v in m.config.items() if k not in ("num_key_value_heads", "head_dim")}
    h = attention_heads(cfg, refs(m))
    assert (h.n_heads, h.n_kv_heads, h.head_dim) == (8, 2, 8) and "k's 16 rows" in h.note


def test_falcon_layouts_reference(rng):
    """Falcon's three qkv layouts, split by a loop written from HF modeling_falcon's views."""
    for variant, kv in (("multi_query", 1), ("new_decoder", 2), ("per_head", 8)):
        m = C.falcon(rng, variant, d=64, heads=8, kv=2)
        name = "transformer.h.0.self_attention.query_key_value.weight"
        W = m.tensors[name]
        heads = attention_heads(m.config, refs(m))
        assert heads.n_kv_heads == kv
        got = split_fused("qkv", W, heads, classify(name, W.shape, m.config).layout)
        g, hd = 8 // kv, 8
        q_rows, k_rows, v_rows = [], [], []
        for grp in range(kv):                      # view(kv, g + 2, hd): g queries, then k, then v
            base = grp * (g + 2) * hd
            q_rows += list(range(base, base + g * hd))
            k_rows += list(range(base + g * hd, base + (g + 1) * hd))
            v_rows += list(range(base + (g + 1) * hd, base + (g + 2) * hd))
        np.testing.assert_array_equal(got["q"], W[q_rows])
        np.testing.assert_array_equal(got["k"], W[k_rows])
        np.testing.assert_array_equal(got["v"], W[v_rows])


def test_gpt2_conv1d_is_transposed(rng):
    m = C.gpt2(rng, d=48)
    for name in ("h.0.attn.c_proj.weight", "h.0.mlp.c_fc.weight", "h.0.mlp.c_proj.weight"):
        r = classify(name, m.tensors[name].shape, m.config)
        assert r.layout == "conv1d_transposed"
        np.testing.assert_array_equal(orient(m.tensors[name], r.layout), m.tensors[name].T)
    assert orient(m.tensors["h.0.mlp.c_fc.weight"], r.layout).shape == (4 * 48, 48)
    # GPT-BigCode reuses the names for ordinary Linear layers (multi-query c_attn)
    r = classify("transformer.h.0.attn.c_attn.weight", (80, 64), {"model_type": "gpt_bigcode"})
    assert (r.role, r.layout) == ("qkv", "qkv_concat")
    assert classify("transformer.h.0.mlp.c_fc.weight", (256, 64), {"model_type": "gpt_bigcode"}).layout is None


def test_phi3_gguf_ffn_up_of_twice_the_width_is_gate_up():
    cfg = {"intermediate_size": 96}
    assert classify("blk.0.ffn_up.weight", (192, 64), cfg).role == "gate_up"
    assert classify("blk.0.ffn_up.weight", (96, 64), cfg).role == "mlp_up"


def test_expand_kv_reference(rng):
    H, kv, d, n = 8, 2, 4, 5
    Wk = rng.standard_normal((kv * d, n))
    got = expand_kv(Wk, Heads(H, kv, d))
    for h in range(H):                             # query head h reads key head h // (H / kv)
        np.testing.assert_array_equal(got[h * d:(h + 1) * d], Wk[(h // (H // kv)) * d:(h // (H // kv) + 1) * d])
    assert expand_kv(Wk, Heads(kv, kv, d)) is Wk
    with pytest.raises(ValueError, match="not 3 KV heads"):
        expand_kv(Wk, Heads(6, 3, 4))


def test_split_errors(rng):
    W = rng.standard_normal((100, 8))
    with pytest.raises(ValueError, match="100 rows, but 4 heads \\+ 2 x 2 KV heads of 8 need 64"):
        split_fused("qkv", W, Heads(4, 2, 8), "qkv_concat")
    with pytest.raises(ValueError, match="odd number of rows"):
        split_fused("gate_up", W[:7], None, "gate_up_concat")
    with pytest.raises(ValueError, match="not fused"):
        split_fused("q", W, None, None)
    thirds = split_fused("qkv", W[:96], None, "qkv_concat")
    np.testing.assert_array_equal(thirds["v"], W[64:96])


def test_unknown_names_biases_and_experts():
    assert classify("some.strange.tensor", (3, 3)).role == "other"
    assert classify("foo", ()).role == "other"
    r = classify("model.layers.3.self_attn.q_proj.bias", (8,))
    assert (r.layer, r.role, r.param) == (3, "q", "bias")
    r = classify("model.layers.2.block_sparse_moe.experts.7.w2.weight", (8, 8))
    assert (r.layer, r.role, r.expert) == (2, "expert_down", 7)
    r = classify("model.layers.2.mlp.experts.1.up_proj.weight", (8, 8))
    assert (r.role, r.expert) == ("expert_up", 1)
    assert classify("blk.1.ffn_up_exps.weight", (3, 8, 8)).layout == "stacked_experts"
    assert classify("model.layers.0.mlp.gate.weight", (4, 8)).role == "other"        # a router
    r = classify("transformer.resblocks.0.attn.in_proj_bias", (96,))
    assert (r.role, r.param) == ("qkv", "bias")
    assert classify("enc.blk.0.attn_q.weight", (8, 8)).group == "encoder"
    assert classify("dec.blk.0.cross_attn_k.weight", (8, 8)).group == "decoder.cross"
    assert classify("enc.blk.0.attn_rel_b.weight", (4, 32)).role == "position_embedding"


@pytest.mark.parametrize("name,role", [
    ("layers.0.attention.wq.weight", "q"), ("layers.0.attention.wo.weight", "o"),      # Meta's own format
    ("layers.0.feed_forward.w1.weight", "mlp_gate"), ("tok_embeddings.weight", "embedding"),
    ("blk.0.token_embd_norm.weight", "norm"), ("token_types.weight", "other"),        # GGUF BERT
    ("blk.0.ffn_gate_inp_shexp.weight", "other"), ("model.layers.0.mlp.shared_expert.up_proj.weight", "mlp_up"),
    ("transformer.h.0.ln_attn.weight", "norm"), ("model.layers.0.self_attn.q_a_proj.weight", "other"),
])
def test_more_names(name, role):
    assert classify(name, (8, 8)).role == role


def test_table_rows_are_data():
    """Every row names a known role, a known condition and compiles; no row is unreachable
    by its own example name."""
    from geomkit.architectures import CONDITIONS
    for row in ROWS:
        assert row.role in ROLES and (row.when is None or row.when in CONDITIONS)


def test_tied_embeddings(rng, tmp_path):
    m = C.llama_like(rng, tied=True)
    m.save(tmp_path / "a")
    ck = open_checkpoint(tmp_path / "a")
    t = tied_embeddings(ck.config, ck.tensors)
    assert t.tied and t.embedding == "model.embed_tokens.weight" and t.lm_head is None

    m = C.llama_like(rng)
    m.tensors["lm_head.weight"] = m.tensors["model.embed_tokens.weight"].copy()
    m.save(tmp_path / "b")
    ck = open_checkpoint(tmp_path / "b")
    t = tied_embeddings(ck.config, ck.tensors)
    assert t.tied and t.lm_head == "lm_head.weight" and "bytes equal" in t.reason

    m = C.llama_like(rng)
    m.config["tie_word_embeddings"] = True
    m.save(tmp_path / "c")
    ck = open_checkpoint(tmp_path / "c")
    t = tied_embeddings(ck.config, ck.tensors)
    assert not t.tied and "config says" in t.reason
    m.config["tie_word_embeddings"] = False
    (tmp_path / "c" / "config.json").write_text(json.dumps(m.config))
    ck = open_checkpoint(tmp_path / "c")
    assert tied_embeddings(ck.config, ck.tensors).reason == "separate lm_head"


def test_attention_blocks(rng):
    m = C.t5(rng, layers=2)
    blocks = attention_blocks(m.config, refs(m))
    keys = [(b["group"], b["layer"]) for b in blocks]
    assert keys == [("decoder", 0), ("decoder", 1), ("decoder.cross", 0), ("decoder.cross", 1),
                    ("encoder", 0), ("encoder", 1)]
    assert all({"q", "k", "v", "o"} <= b.keys() for b in blocks)
    m = C.phi3(rng, layers=3)
    blocks = attention_blocks(m.config, refs(m))
    assert len(blocks) == 3 and all(b["layout"] == "qkv_concat" and "qkv" in b for b in blocks)
