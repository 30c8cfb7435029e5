"""geomkit.dask on a LocalCluster of 2 worker processes: the distributed results equal the
in-memory ones (bitwise for the pentachoron CV and the report, 1e-12 for the spectrum), a
worker killed mid-job is retried, and a worker's error reaches the client unchanged."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

import geomkit  # noqa: E402
import geomkit.dask as gd  # noqa: E402

# The tasks below are defined here; the workers cannot import this file, so ship them by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

SRC = str(pathlib.Path(geomkit.__file__).resolve().parent.parent)


@pytest.fixture(scope="module")
def client():
    with dask.config.set({"distributed.scheduler.allowed-failures": 3}):
        c = gd.local_client(2)
    yield c
    c.close()
    c.cluster.close()


def _data(rng, n=3000, d=24, offset=5.0):
    """Correlated, offset rows (a PR well away from 1 and d)."""
    A = rng.standard_normal((d, d)) * np.linspace(0.05, 1.0, d)
    return rng.standard_normal((n, d)) @ A + offset


def _numpy_pr(X):
    """The notebook's recipe: eigenvalues of the covariance, (Σλ)²/Σλ²."""
    Xc = X - X.mean(axis=0)
    lam = np.linalg.eigvalsh(Xc.T @ Xc / len(X))
    return lam.sum() ** 2 / (lam ** 2).sum()


# --------------------------------------------------------------------------- packaging
def test_import_geomkit_does_not_import_dask():
    code = "import sys, geomkit; assert 'dask' not in sys.modules and 'distributed' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_dask_gives_the_install_hint():
    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'dask' or name.startswith('dask.'):\n"
            "            raise ImportError('No module named ' + repr(name))\n"
            "sys.meta_path.insert(0, Block())\n"
            "import geomkit.dask\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode != 0
    assert "ImportError" in out.stderr and "pip install 'geomkit[dask]'" in out.stderr


# ---------------------------------------------------------------------------- spectrum
@pytest.mark.parametrize("chunks,split_every", [(400, 2), (1000, 8), (3000, 4)])
def test_participation_ratio_matches_in_memory(client, rng, chunks, split_every):
    X = _data(rng)
    x = da.from_array(X, chunks=(chunks, -1))
    got = gd.participation_ratio(x, split_every=split_every)
    assert got == pytest.approx(geomkit.participation_ratio(X), rel=1e-12, abs=0)
    assert got == pytest.approx(_numpy_pr(X), rel=1e-11, abs=0)
    # the merge tree is fixed by the chunks and split_every, not by the scheduling
    assert gd.participation_ratio(x, split_every=split_every, scheduler="sync") == got


def test_float32_input_is_widened_exactly(client, rng):
    X = _data(rng, n=2000, d=32).astype(np.float32)
    got = gd.participation_ratio(da.from_array(X, chunks=(300, -1)))
    assert got == pytest.approx(geomkit.participation_ratio(X.astype(np.float64)), rel=1e-12, abs=0)
    assert got == pytest.approx(geomkit.participation_ratio(X), rel=1e-6, abs=0)  # the float32 kernel


def test_uncentred_and_fewer_rows_than_columns(client, rng):
    X = rng.standard_normal((40, 90)) + 1.0
    x = da.from_array(X, chunks=(7, 30))  # column chunks are joined
    assert gd.participation_ratio(x, centered=False) == pytest.approx(
        geomkit.participation_ratio(X, centered=False), rel=1e-12, abs=0)
    assert gd.participation_ratio(x) == pytest.approx(geomkit.participation_ratio(X), rel=1e-12, abs=0)


def test_eigenspectrum_and_variance_profile(client, rng):
    X = _data(rng, n=2500, d=40)
    x = da.from_array(X, chunks=(600, -1))
    got, ref = gd.eigenspectrum(x), geomkit.eigenspectrum(X)
    assert got["eigenvalues"].shape == ref["eigenvalues"].shape
    np.testing.assert_allclose(got["eigenvalues"], ref["eigenvalues"], rtol=0, atol=1e-12 * ref["eigenvalues"][0])
    for key in ("pr", "pr_over_dim", "total_variance"):
        assert got[key] == pytest.approx(ref[key], rel=1e-12, abs=0)
    assert got["variance_profile"] == ref["variance_profile"]
    assert gd.variance_profile(x) == geomkit.variance_profile(X)


def test_spectrum_errors_match_in_memory(client):
    X = np.ones((50, 6))
    X[37, 4] = np.nan
    X[41, 0] = np.inf
    with pytest.raises(ValueError) as ref:
        geomkit.participation_ratio(X)
    with pytest.raises(ValueError) as got:
        gd.participation_ratio(da.from_array(X, chunks=(10, -1)))
    assert str(got.value) == str(ref.value) == \
        "geomkit::participation_ratio: argument 'X' must contain only finite values (got nan at [37, 4])"
    with pytest.raises(ValueError, match="argument 'X' must have at least 1 row"):
        gd.participation_ratio(da.zeros((0, 3), chunks=(1, 3)))
    with pytest.raises(ValueError, match="argument 'X' must be a 2-D array"):
        gd.participation_ratio(da.zeros(5, chunks=2))
    with pytest.raises(ValueError, match="split_every"):
        gd.participation_ratio(da.zeros((5, 2), chunks=2), split_every=1)


# ----------------------------------------------------------------------------- sampler
def _philox_scalar(c, k0, k1):
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k0, p1 & 0xFFFFFFFF, (p0 >> 32) ^ c[3] ^ k1, p0 & 0xFFFFFFFF]
        k0, k1 = (k0 + 0x9E3779B9) & 0xFFFFFFFF, (k1 + 0xBB67AE85) & 0xFFFFFFFF
    return c


def _sample_scalar(seed, i, pool):
    """geomkit/core/random.hpp, one sample at a time: (indices, words drawn)."""
    words, block = [], 0

    def draw():
        nonlocal block
        if not words:
            words.extend(_philox_scalar([block & 0xFFFFFFFF, block >> 32, i & 0xFFFFFFFF, i >> 32],
                                        seed & 0xFFFFFFFF, seed >> 32))
            block += 1
        return words.pop(0)

    used, out = 0, []
    for filled in range(5):
        j = pool - 5 + filled
        n = j + 1
        m = draw() * n
        used += 1
        while (m & 0xFFFFFFFF) < (2 ** 32 - n) % n:
            m = draw() * n
            used += 1
        t = m >> 32
        out.append(j if t in out else t)
    return out, used


def test_philox_known_answers():
    # Random123's kat_vectors for philox4x32_10
    for ctr, key, expect in [
        ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
        ([0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
        ([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0],
         [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]),
    ]:
        assert _philox_scalar(ctr, *key) == expect
        got = gd._philox_block(ctr[0] | ctr[1] << 32, np.array([ctr[2]], np.uint64), np.array([ctr[3]], np.uint64),
                               *key)
        assert got[0].tolist() == expect


def test_sample_indices_match_the_library_sample_by_sample(rng):
    """Sample i's volume from pentachoron_partial(i, i+1) is that of the rows we draw."""
    X = rng.standard_normal((3000, 12))
    seed = (0x9E3779B97F4A7C15 ^ 12345) & (2 ** 64 - 1)  # both key words non-zero
    idx = gd.sample_indices(seed, 1000, 300, len(X))
    vol = np.sqrt(geomkit.simplex_volume_sq(X[idx]))
    for k in range(0, 300, 7):
        s = geomkit.pentachoron_partial(X, 1000 + k, 1001 + k, n_samples=1300, seed=seed)
        assert s.count == 1 and s.mean == vol[k]
    for k in range(0, 300, 31):
        assert idx[k].tolist() == _sample_scalar(seed, 1000 + k, len(X))[0]


def test_sample_indices_rejection_path():
    """A pool of 2^22 + 1 rows: about 1 draw in 1000 is rejected and redrawn."""
    n, d, seed = 2 ** 22 + 1, 4, 3
    count = 3000
    drawn = [_sample_scalar(seed, i, n) for i in range(count)]
    redrawn = [i for i, (_, used) in enumerate(drawn) if used > 5]
    assert redrawn, "no rejection among the samples: pick another seed"
    idx = gd.sample_indices(seed, 0, count, n)
    assert idx.tolist() == [s for s, _ in drawn]
    # and the library draws the same rows (a 64 MiB float32 matrix with distinct rows)
    X = np.random.default_rng(1).standard_normal((n, d), dtype=np.float32)
    for i in redrawn[:3]:
        s = geomkit.pentachoron_partial(X, i, i + 1, n_samples=count, seed=seed)
        assert s.mean == np.sqrt(geomkit.simplex_volume_sq(X[idx[i]]))


def test_sample_indices_errors():
    with pytest.raises(ValueError, match="'pool' must lie in"):
        gd.sample_indices(0, 0, 1, 4)
    with pytest.raises(ValueError, match="'seed' must lie in"):
        gd.sample_indices(-1, 0, 1, 10)
    with pytest.raises(ValueError, match="must be non-negative"):
        gd.sample_indices(0, -1, 1, 10)


# ------------------------------------------------------------------------- pentachoron
CV_CASES = [
    dict(),                                                    # the notebook battery (direct path)
    dict(n_samples=1500, seed=11, eps=1e-3, ddof=1),           # chunks not full, shards of 512
    dict(n_samples=300, pool=512, eps=1e-20, ddof=1, mean_eps=1e-8, min_valid=10),  # the probe (pool Gram)
    dict(n_samples=700, method="direct", pool=100),
    dict(n_samples=400, method="pool_gram", pool=900),
    dict(n_samples=50, pool=4),                                # fewer than 5 rows: no CV
    dict(n_samples=0),
]


@pytest.mark.parametrize("kwargs", CV_CASES, ids=[str(i) for i in range(len(CV_CASES))])
def test_pentachoron_cv_is_bitwise_the_in_memory_one(client, rng, kwargs):
    X = _data(rng, n=2600, d=20)
    got = gd.pentachoron_cv(da.from_array(X, chunks=(333, -1)), samples_per_task=512, **kwargs)
    ref = geomkit.pentachoron_cv(X, **kwargs)
    assert (got.cv, got.n_valid, got.n_samples, got.in_band) == (ref.cv, ref.n_valid, ref.n_samples, ref.in_band)
    np.testing.assert_array_equal([got.mean, got.std], [ref.mean, ref.std])  # bitwise (NaN == NaN)
    if ref.cv is not None:
        # an independent check of the statistic: the notebook's std / mean over the same samples
        P = kwargs.get("pool", len(X))
        idx = gd.sample_indices(kwargs.get("seed", 0), 0, kwargs.get("n_samples", 1000), P)
        v2 = geomkit.simplex_volume_sq(X[idx])
        v = np.sqrt(v2[v2 > kwargs.get("eps", 0.0)])
        assert ref.cv == pytest.approx(v.std(ddof=kwargs.get("ddof", 0)) / v.mean(), rel=1e-9)


def test_pentachoron_cv_float32(client, rng):
    X = _data(rng, n=3000, d=16).astype(np.float32)
    got = gd.pentachoron_cv(da.from_array(X, chunks=(1000, -1)), n_samples=2000)
    ref = geomkit.pentachoron_cv(X, n_samples=2000)
    assert (got.cv, got.mean, got.std) == (ref.cv, ref.mean, ref.std)


def test_running_stats_replica_matches_the_library():
    """The Python Welford (with this build's FMA choice) equals the C++ chunk statistics."""
    X = np.random.default_rng(5).standard_normal((800, 6)) * 2.0 + 3.0
    idx = gd.sample_indices(9, 0, 1024, len(X))
    v2 = geomkit.simplex_volume_sq(X[idx])
    for c in range(0, 1024, 256):
        ref = geomkit.pentachoron_partial(X, c, c + 256, n_samples=1024, seed=9)
        got = gd._welford([float(np.sqrt(v)) for v in v2[c:c + 256] if v > 0], gd._add_is_fused())
        assert got == (ref.count, ref.mean, ref.m2)


def test_pentachoron_cv_errors_match_in_memory(client):
    X = np.random.default_rng(2).standard_normal((60, 5))
    X[44, 1] = -np.inf
    x = da.from_array(X, chunks=(16, -1))
    for kwargs in (dict(), dict(n_samples=3)):
        with pytest.raises(ValueError) as ref:
            geomkit.pentachoron_cv(X, **kwargs)
        with pytest.raises(ValueError) as got:
            gd.pentachoron_cv(x, **kwargs)
        assert str(got.value) == str(ref.value)
    assert "(got -inf at [44, 1])" in str(got.value)
    Y = np.ones((10, 3))
    for kwargs in (dict(n_samples=-1), dict(pool=11), dict(pool=-2), dict(eps=-1.0), dict(mean_eps=float("nan")),
                   dict(ddof=-1), dict(min_valid=-1)):
        with pytest.raises(ValueError) as ref:
            geomkit.pentachoron_cv(Y, **kwargs)
        with pytest.raises(ValueError) as got:
            gd.pentachoron_cv(da.from_array(Y, chunks=(3, -1)), **kwargs)
        assert str(got.value) == str(ref.value)
    with pytest.raises(ValueError, match="samples_per_task"):
        gd.pentachoron_cv(da.from_array(Y, chunks=(3, -1)), samples_per_task=100)


# -------------------------------------------------------------------- a killed worker
def _die_once(block, marker):
    """Kills its own worker process the first time any block is computed."""
    if block.size == 0:  # dask's meta inference, in the client
        return block
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return block
    os.close(fd)
    os._exit(1)


def test_a_killed_worker_is_retried_and_the_result_unchanged(client, rng, tmp_path):
    X = _data(rng, n=2400, d=16)
    x = da.from_array(X, chunks=(400, -1))
    for i, fn in enumerate((gd.participation_ratio, gd.pentachoron_cv)):
        marker = tmp_path / f"died-{i}"
        fragile = x.map_blocks(_die_once, marker=str(marker), dtype=x.dtype, meta=np.empty((0, 0)))
        got = fn(fragile)
        assert marker.exists()  # a worker did die
        ref = fn(x)  # the same chunks, hence the same merge tree
        if fn is gd.pentachoron_cv:
            got, ref = (got.cv, got.mean, got.std), (ref.cv, ref.mean, ref.std)
        assert got == ref


# ----------------------------------------------------------------------- bone orientation
def test_bone_orientation_over_snapshots(client, rng, tmp_path):
    snaps = [rng.standard_normal((3, 4, 12, 8)).astype(np.float32) for _ in range(3)]
    snaps.append(rng.standard_normal((2, 2, 10, 16)).astype(np.float32))
    paths = []
    for i, s in enumerate(snaps):
        paths.append(tmp_path / f"keys{i}.npy")
        np.save(paths[-1], s)
    expect = [geomkit.bone_orientation(s) for s in snaps]
    for got in (gd.bone_orientation(paths), gd.bone_orientation([str(p) for p in paths]),
                gd.bone_orientation(dask.bag.from_sequence(snaps, npartitions=2))):
        assert [g["composite"] for g in got] == [e.composite() for e in expect]
        assert [g["features"] for g in got] == [list(e.features()) for e in expect]
        assert [g["layer_coherence"] for g in got] == [list(e.layer_coherence) for e in expect]
    assert gd.bone_orientation([]) == []


def test_bone_orientation_errors_name_the_file(client, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file: .*nothere.npy"):
        gd.bone_orientation([tmp_path / "nothere.npy"])
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not numpy")
    with pytest.raises(ValueError, match="cannot read .*bad.npy as a .npy array"):
        gd.bone_orientation([bad])
    flat = tmp_path / "flat.npy"
    np.save(flat, np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="flat.npy: .*keys"):
        gd.bone_orientation([flat])


# ------------------------------------------------------------------------------ the report
report = pytest.importorskip("geomkit.report")
needs_pipeline = pytest.mark.skipif(not all(hasattr(report, f) for f in ("plan", "run_unit", "assemble")),
                                    reason="geomkit.report has no plan/run_unit/assemble yet")


def _checkpoint(directory, rng, scale=1.0, d=32):
    directory.mkdir(parents=True, exist_ok=True)
    from safetensors.numpy import save_file

    t = {"model.embed_tokens.weight": (rng.standard_normal((300, d)) * scale).astype(np.float32)}
    for layer in range(2):
        p = f"model.layers.{layer}."
        t[p + "self_attn.q_proj.weight"] = rng.standard_normal((d, d)).astype(np.float32)
        t[p + "self_attn.k_proj.weight"] = rng.standard_normal((d, d)).astype(np.float32)
        t[p + "mlp.up_proj.weight"] = rng.standard_normal((64, d)).astype(np.float32)
        t[p + "mlp.down_proj.weight"] = rng.standard_normal((d, 64)).astype(np.float32)
    save_file(t, str(directory / "model.safetensors"))
    (directory / "config.json").write_text(json.dumps({"model_type": "llama", "num_attention_heads": 4,
                                                       "num_key_value_heads": 4, "hidden_size": d}))
    return directory / "model.safetensors"


def _without_seconds(rep):
    return {k: v for k, v in rep.items() if k != "seconds"}


@needs_pipeline
def test_report_on_the_cluster_is_bitwise_the_single_machine_one(client, rng, tmp_path):
    paths = [_checkpoint(tmp_path / f"ckpt{i}", rng, scale=1.0 + i) for i in range(2)]
    options = report.ReportOptions(samples=300)
    single = [report.run_report(p, options) for p in paths]
    one = gd.run_report(paths[0], client, options)
    assert json.dumps(_without_seconds(one), sort_keys=True) == json.dumps(_without_seconds(single[0]), sort_keys=True)
    both = gd.run_report(paths, client, options)
    assert [json.dumps(_without_seconds(r), sort_keys=True) for r in both["reports"]] == \
        [json.dumps(_without_seconds(r), sort_keys=True) for r in single]
    traj = both["trajectory"]
    assert [row["path"] for row in traj["checkpoints"]] == [str(p) for p in paths]
    for row, rep in zip(traj["checkpoints"], single):
        assert row["embedding"]["pr"] == rep["embedding"]["spectrum"]["participation_ratio"]
        assert row["embedding"]["cv"] == rep["embedding"]["pentachoron"]["cv"]
        assert row["roles"]["q"]["stable_rank"] == rep["roles"]["q"]["stable_rank"]
    json.dumps(both)  # the multi-checkpoint result stays JSON-ready


@needs_pipeline
@pytest.mark.parametrize("damage", ["missing", "truncated", "nan"])
def test_a_workers_error_reaches_the_client_unchanged(client, rng, tmp_path, damage):
    path = _checkpoint(tmp_path / "ckpt", rng)
    options = report.ReportOptions(samples=100)
    ckpt = report.open_model(path)
    units = report.plan(ckpt, options)  # planned while the file is whole
    if damage == "missing":
        path.unlink()
    elif damage == "truncated":
        with open(path, "r+b") as f:
            f.truncate(path.stat().st_size - 64)
    else:
        from safetensors.numpy import load_file, save_file

        t = load_file(str(path))
        t["model.layers.1.mlp.up_proj.weight"][3, 5] = np.nan
        save_file(t, str(path))
    with pytest.raises(Exception) as single:
        report.run_report(path, options)
    with pytest.raises(Exception) as remote:
        client.gather(gd.submit_units(client, path, units, options))
    ckpt.close()
    assert type(remote.value) is type(single.value)
    assert str(remote.value) == str(single.value)
    if damage != "nan":
        assert str(path) in str(remote.value)


@needs_pipeline
def test_cli_several_paths_on_workers(rng, tmp_path, capsys):
    from geomkit import cli

    paths = [str(_checkpoint(tmp_path / f"c{i}", rng, scale=1.0 + i)) for i in range(2)]
    assert cli.main(["report", *paths, "--workers", "1", "--samples", "200", "--json",
                     "--csv", str(tmp_path / "csv")]) == 0
    got = json.loads(capsys.readouterr().out)
    single = [report.run_report(p, report.ReportOptions(samples=200)) for p in paths]
    assert [r["embedding"]["pentachoron"]["cv"] for r in got["reports"]] == \
        [r["embedding"]["pentachoron"]["cv"] for r in single]
    assert [row["embedding"]["pr"] for row in got["trajectory"]["checkpoints"]] == \
        [r["embedding"]["spectrum"]["participation_ratio"] for r in single]
    lines = (tmp_path / "csv" / "trajectory.csv").read_text().splitlines()
    assert lines[0].startswith("checkpoint,emb PR,emb PR/d,emb CV") and len(lines) == 3
    assert cli.main(["report", *paths, "--samples", "100"]) == 0
    assert "TRAJECTORY ACROSS CHECKPOINTS" in capsys.readouterr().out
    assert cli.main(["report", paths[0], "--workers", "1", "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "either --scheduler ADDRESS or --workers N" in capsys.readouterr().err
    pytest.importorskip("matplotlib")
    page_path = tmp_path / "r.html"
    assert cli.main(["report", *paths, "--samples", "100", "--html", str(page_path)]) == 0
    page = page_path.read_text()
    assert "geomkit report: 2 checkpoints" in page and "Trajectory" in page
    assert page.count("<h2>Checkpoint ") == 2 and page.count("data:image/png;base64,") >= 4
    pr0 = single[0]["embedding"]["spectrum"]["participation_ratio"]
    assert f"{pr0:.2f}" in page  # the trajectory table shows each checkpoint's PR


def _unit_dying_once(path, unit, options, marker):
    """geomkit.report.run_unit, but the first call kills its worker process."""
    _die_once(np.ones(1), marker)
    return report.run_unit(path, unit, options)


@needs_pipeline
def test_a_killed_worker_mid_report_changes_nothing(client, rng, tmp_path):
    path = _checkpoint(tmp_path / "ckpt", rng)
    options = report.ReportOptions(samples=200)
    ckpt = report.open_model(path)
    units = report.plan(ckpt, options)
    marker = tmp_path / "died"
    futures = [client.submit(_unit_dying_once, str(path), u, options, str(marker), pure=False) for u in units]
    rep = report.assemble(ckpt, units, client.gather(futures), options)
    ckpt.close()
    assert marker.exists()
    single = report.run_report(path, options)
    assert json.dumps(_without_seconds(rep), sort_keys=True) == json.dumps(_without_seconds(single), sort_keys=True)


def test_fused_multiply_add_rounds_once():
    a, b = 1.0 + 2.0 ** -30, 1.0 - 2.0 ** -30
    assert a * b - 1.0 == 0.0  # the product alone rounds to 1
    assert gd._fma_exact(a, b, -1.0) == -(2.0 ** -60) == gd._fma(a, b, -1.0)
