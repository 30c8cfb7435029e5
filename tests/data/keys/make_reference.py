"""Regenerates the key-capture reference data in this directory from Hugging Face
``transformers`` (the defining reference; needs torch and transformers, which CI never
installs) and checks geomkit.capture_keys against it.

    python tests/data/keys/make_reference.py            # check + rewrite the committed data
    python tests/data/keys/make_reference.py --check    # check only, write nothing

Committed (read by tests/python/test_keys.py without torch):
- tiny_llama/: a randomly initialised LlamaConfig (2 layers, hidden 64, 8 heads of 8,
  2 KV heads, rope_theta 10000) saved with save_pretrained, a WordLevel tokenizer.json
  trained on SENTENCES, config_llama3.json (the same weights with llama3 rope_scaling);
- tiny_llama_reference.npz: for each sentence and rope variant, HF's token ids and
  ``past_key_values`` keys after ``model(input_ids, use_cache=True)``, and 401 random ids
  through the llama3 variant (RoPE far from position 0);
- minilm_reference.npz: the packaged all-MiniLM-L6-v2's token ids and the outputs of
  every layer's ``attention.self.key`` (hooked) for MINILM_SENTENCE.
Checked here only (not committed, too large or redundant): more MiniLM sentences (up to 512
tokens, HF-truncated), tiny Mistral / Qwen2 (biases) / Qwen3 (q/k norm) / Gemma / Gemma 2
(sliding window, soft-capping) models, and llama with linear, dynamic and yarn scaling.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import sys
import tempfile

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
SENTENCES = [
    "the cat sat on the mat and looked at the dog",
    "a dog ran to the river and the cat did not follow",
    "the river is cold in winter and warm in summer",
]
MINILM_SENTENCE = "Geometry shows what attention heads attend to."
MINILM_EXTRA = [
    "The quick brown fox jumps over the lazy dog.",
    "Key snapshots from a real model, captured in numpy without torch.",
    "Unbelievably, tokenisation splits rare words like 'pentachoron' into pieces!",
]
LLAMA3_SCALING = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                  "high_freq_factor": 4.0, "original_max_position_embeddings": 16}


def rel_err(a, b) -> float:
    return float(np.max(np.abs(a.astype(np.float64) - b)) / np.max(np.abs(b)))


def build_tokenizer(path: pathlib.Path, bos=True):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(SENTENCES, trainers.WordLevelTrainer(special_tokens=["<unk>", "<s>", "</s>"]))
    if bos:
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    tok.save(str(path / "tokenizer.json"))
    (path / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
         "unk_token": "<unk>"}, indent=1) + "\n")
    return tok.get_vocab_size()


def hf_past_keys(model, ids):
    import torch

    with torch.no_grad():
        out = model(torch.tensor([ids]), use_cache=True)
    cache = out.past_key_values
    import geomkit.keys as gk
    try:
        return gk.keys_from_cache(cache)   # also exercises the DynamicCache adapter
    except ValueError:
        # sliding-window layers (Gemma 2) keep only their last window: compare those
        # layers on the positions they keep
        return [lay.keys[0].numpy() for lay in cache.layers]


def compare(mine, ref):
    if isinstance(ref, np.ndarray) and ref.shape == mine.shape:
        return rel_err(mine, ref), ref
    if isinstance(ref, np.ndarray):
        ref = list(ref)   # every layer slides: each keeps the last window
    errs = [rel_err(mine[l][:, -r.shape[1]:], r) for l, r in enumerate(ref)]
    full = mine.copy()
    for l, r in enumerate(ref):
        full[l][:, -r.shape[1]:] = r
    return max(errs), full


def hf_tokenize(d):
    from transformers import PreTrainedTokenizerFast

    # the tokenizer.json as transformers applies it (AutoTokenizer would pick a
    # family-specific class, e.g. Qwen2Tokenizer, that rebuilds a BPE from vocab files)
    tok = PreTrainedTokenizerFast(tokenizer_file=str(d / "tokenizer.json"))
    return [tok(s)["input_ids"] for s in SENTENCES]


def tiny_decoder(d: pathlib.Path, kind: str, seed: int, **extra):
    """A randomly initialised tiny decoder of ``kind`` saved in d (weights, config, tokenizer)."""
    import torch
    import transformers as tf

    d.mkdir(parents=True, exist_ok=True)
    vocab = build_tokenizer(d)
    common = dict(vocab_size=vocab, hidden_size=64, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=64,
                  rope_theta=10000.0, initializer_range=0.2, tie_word_embeddings=True,
                  bos_token_id=1, eos_token_id=2, pad_token_id=None)
    common.update(extra)
    classes = {"llama": (tf.LlamaConfig, tf.LlamaForCausalLM),
               "mistral": (tf.MistralConfig, tf.MistralForCausalLM),
               "qwen2": (tf.Qwen2Config, tf.Qwen2ForCausalLM),
               "qwen3": (tf.Qwen3Config, tf.Qwen3ForCausalLM),
               "gemma": (tf.GemmaConfig, tf.GemmaForCausalLM),
               "gemma2": (tf.Gemma2Config, tf.Gemma2ForCausalLM)}
    cfg_cls, model_cls = classes[kind]
    if kind in ("qwen3", "gemma", "gemma2"):
        common["head_dim"] = 8
    torch.manual_seed(seed)
    model = model_cls(cfg_cls(**common)).eval()
    with torch.no_grad():   # norms start at 1 (0 for Gemma); make them matter
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.3 * torch.randn_like(p))
            if name.endswith(".bias"):
                p.copy_(0.3 * torch.randn_like(p))
    model.save_pretrained(str(d), safe_serialization=True)
    return model


def check_decoder(d, model, label, results, reload=False):
    """reload: a fresh model per sentence (dynamic rope scaling in transformers keeps the
    largest base it has seen, so a short sentence after a long one would see the long one's
    frequencies; capture_keys is stateless)."""
    import geomkit
    import transformers as tf

    ids_all = hf_tokenize(d)
    out = {}
    for si, (s, ids) in enumerate(zip(SENTENCES, ids_all)):
        if reload:
            model = tf.AutoModelForCausalLM.from_pretrained(str(d)).eval()
        ref = hf_past_keys(model, ids)
        mine, info = geomkit.keys.capture(d, s)
        assert info["token_ids"] == list(ids), (label, info["token_ids"], ids)
        e, ref = compare(mine, ref)
        b_ref = geomkit.keys.key_battery(ref)
        b_mine = geomkit.keys.key_battery(mine)
        results.append((f"{label} sentence {si} ({len(ids)} tokens)", e,
                        b_mine["composite"], b_ref["composite"]))
        out[f"ids_{si}"] = np.asarray(ids, dtype=np.int64)
        out[f"keys_{si}"] = ref
    return out


def minilm(results):
    import torch
    from transformers import AutoTokenizer, BertModel

    import geomkit
    from geomkit.report import demo_model_path

    d = demo_model_path().parent
    tok = AutoTokenizer.from_pretrained(str(d))
    model = BertModel.from_pretrained(str(d)).eval()
    grabbed = []
    for layer in model.encoder.layer:
        layer.attention.self.key.register_forward_hook(lambda m, i, o: grabbed.append(o.detach()))
    out = {}
    long_text = " ".join([geomkit.keys.DEFAULT_PASSAGE] * 6)   # truncated to 512 tokens
    for si, s in enumerate([MINILM_SENTENCE] + MINILM_EXTRA + [geomkit.keys.DEFAULT_PASSAGE, long_text]):
        ids = tok(s, truncation=True, max_length=512)["input_ids"]
        grabbed.clear()
        with torch.no_grad():
            model(torch.tensor([ids]))
        H = model.config.num_attention_heads
        ref = np.stack([g[0].numpy().reshape(len(ids), H, -1).transpose(1, 0, 2) for g in grabbed])
        mine, info = geomkit.keys.capture(d, s, max_tokens=512)
        assert info["token_ids"] == list(ids), (info["token_ids"], ids)
        results.append((f"MiniLM sentence {si} ({len(ids)} tokens)", rel_err(mine, ref),
                        geomkit.keys.key_battery(mine)["composite"],
                        geomkit.keys.key_battery(ref)["composite"]))
        if si == 0:
            out = {"ids": np.asarray(ids, dtype=np.int64), "keys": ref.astype(np.float32),
                   "text": np.asarray(s)}
    return out


def main():  # noqa: C901 - one linear script
    import geomkit.keys
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="check only, write nothing")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    import transformers as tf

    results = []
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="geomkit_keys_ref_"))
    try:
        # the committed tiny Llama: default rope, then the same weights with llama3 scaling
        d = tmp / "tiny_llama"
        model = tiny_decoder(d, "llama", seed=0)
        data = {f"default_{k}": v for k, v in check_decoder(d, model, "llama rope default", results).items()}
        base_cfg = json.loads((d / "config.json").read_text())
        for name, scaling in (("llama3", LLAMA3_SCALING),
                              ("linear", {"rope_type": "linear", "factor": 4.0}),
                              ("dynamic", {"rope_type": "dynamic", "factor": 2.0}),
                              ("yarn", {"rope_type": "yarn", "factor": 4.0,
                                        "original_max_position_embeddings": 16})):
            v = tmp / f"tiny_llama_{name}"
            shutil.copytree(d, v)
            cfg = dict(base_cfg, rope_scaling=scaling)
            if name == "dynamic":
                cfg["max_position_embeddings"] = 8   # so the NTK base grows for these sentences
            if "rope_parameters" in cfg:
                cfg["rope_parameters"] = dict(cfg["rope_parameters"], **scaling)
            (v / "config.json").write_text(json.dumps(cfg, indent=1))
            m = tf.AutoModelForCausalLM.from_pretrained(str(v)).eval()
            got = check_decoder(v, m, f"llama rope {name}", results, reload=name == "dynamic")
            if name == "llama3":
                data.update({f"llama3_{k}": val for k, val in got.items()})
                llama3_cfg = cfg
        # local only: a long sequence (RoPE far from position 0), default and llama3
        long_ids = [1] + [int(t) for t in np.random.default_rng(7).integers(3, 25, 400)]
        for name, dd in (("default", d), ("llama3", tmp / "tiny_llama_llama3")):
            m = tf.AutoModelForCausalLM.from_pretrained(str(dd)).eval()
            ref = hf_past_keys(m, long_ids)
            mine = geomkit.keys.capture_keys(dd, token_ids=long_ids)
            results.append((f"llama rope {name}, 401 random ids", rel_err(mine, ref),
                            geomkit.keys.key_battery(mine)["composite"],
                            geomkit.keys.key_battery(ref)["composite"]))
            if name == "llama3":   # committed: RoPE 400 positions in, where float32 angles matter
                data["llama3_long_ids"] = np.asarray(long_ids, dtype=np.int64)
                data["llama3_long_keys"] = ref
        # local-only families
        for label, kind, seed, extra in (
                ("mistral", "mistral", 1, {"sliding_window": 5}), ("qwen2", "qwen2", 2, {}),
                ("qwen3", "qwen3", 3, {}),
                ("gemma", "gemma", 4, {"hidden_activation": "gelu_pytorch_tanh"}),
                ("gemma2", "gemma2", 5, {"sliding_window": 4, "query_pre_attn_scalar": 16,
                                         "attn_logit_softcapping": 5.0}),
                ("llama with biases", "llama", 6, {"attention_bias": True, "mlp_bias": True})):
            kind_label = label
            dd = tmp / label.replace(" ", "_")
            try:
                m = tiny_decoder(dd, kind, seed, **extra)
            except Exception as exc:   # a family this transformers lacks
                results.append((f"{kind_label}: skipped ({exc})", float("nan"), 0, 0))
                continue
            check_decoder(dd, m, kind_label, results)
        mini = minilm(results)

        print(f"torch {torch.__version__}, transformers {tf.__version__}")
        worst = 0.0
        for label, e, c_mine, c_ref in results:
            flag = "" if (e <= 1e-4 and c_mine == c_ref) or np.isnan(e) else "   <-- FAIL"
            print(f"  {label:48s} max rel err {e:.2e}  composite {c_mine} vs {c_ref}{flag}")
            if not np.isnan(e):
                worst = max(worst, e)
        print(f"worst relative error {worst:.2e}")
        failed = any(not np.isnan(e) and (e > 1e-4 or a != b) for _, e, a, b in results)
        if args.check:
            return 1 if failed else 0
        if failed:
            print("not writing reference data: a check failed", file=sys.stderr)
            return 1
        out = HERE / "tiny_llama"
        if out.exists():
            shutil.rmtree(out)
        out.mkdir()
        for f in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
            shutil.copy(d / f, out / f)
        (out / "config_llama3.json").write_text(json.dumps(llama3_cfg, indent=1) + "\n")
        np.savez_compressed(HERE / "tiny_llama_reference.npz",
                            sentences=np.asarray(SENTENCES), **data)
        np.savez_compressed(HERE / "minilm_reference.npz", **mini)
        (HERE / "VERSIONS.txt").write_text(
            f"generated by make_reference.py with torch {torch.__version__}, "
            f"transformers {tf.__version__}; worst relative error {worst:.2e}\n")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parents[2] / "bindings" / "python"))
    sys.exit(main())
