"""The renderers (text, JSON, CSV, HTML) on a 212-matrix generated model, a comparison and the
packaged MiniLM; the HTML page in headless Chromium when it is installed."""

import base64
import csv
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from geomkit import report
from geomkit.render import csv as render_csv
from geomkit.render import json as render_json
from geomkit.render import text as render_text

sys.path.insert(0, os.path.dirname(__file__))
import checkpoints  # noqa: E402

FAST = report.ReportOptions(samples=100, multiscale_samples=40, cosine_rows=200)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """30 Llama layers of 7 matrices plus embedding and lm_head: 212 matrices."""
    model = checkpoints.llama_like(np.random.default_rng(5), layers=30, d=16, heads=4, kv=2, ffn=24, vocab=300)
    path = model.save(tmp_path_factory.mktemp("big"))
    return path, report.run_report(path, FAST, progress=False)


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    d = tmp_path_factory.mktemp("cmp")
    a = checkpoints.llama_like(np.random.default_rng(1), vocab=200).save(d / "a")
    b = checkpoints.llama_like(np.random.default_rng(2), vocab=200).save(d / "b")
    return report.run_compare(a, b, FAST, progress=False)


def test_text_fits_80_columns_for_a_200_matrix_model(big):
    _, rep = big
    assert len(rep["matrices"]) == 212
    short = render_text.render(rep)
    long = render_text.render(rep, detail=True)
    for text in (short, long):
        assert max(len(line) for line in text.splitlines()) <= 80
    assert len(short.splitlines()) < 60  # a summary, not 212 rows
    assert "Spectrum by role" in short and "MLP dead neurons" in short and "QK manifold" in short
    assert long.index("Spectrum by role") < long.index("Matrices") < long.index("QK manifold by layer")
    assert sum(1 for line in long.splitlines() if "q_proj.weight" in line and "16x16" in line) == 30
    assert "(--detail adds" in short and "(--detail adds" not in long


def test_text_of_a_comparison(compared):
    text = render_text.render(compared)
    assert "Compared with" in text and "Embedding alignment" in text and "relative residual" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_json_round_trips_and_has_no_nan(big):
    _, rep = big
    doc = json.loads(render_json.render(rep))
    assert doc["schema_version"] == report.SCHEMA_VERSION
    assert len(doc["matrices"]) == 212
    bad = dict(rep, extra=[float("nan"), math.inf, np.float32(1.5), (1, 2)])
    assert json.loads(render_json.render(bad))["extra"] == [None, None, 1.5, [1, 2]]


def test_csv_tables_load_back(big, tmp_path):
    _, rep = big
    files = render_csv.write(rep, tmp_path / "out")
    names = {f.name for f in files}
    assert {"matrices.csv", "qk.csv", "dead_neurons.csv", "sparsity.csv", "cross_layer.csv", "roles.csv",
            "embedding.csv"} == names

    def rows(name):
        with open(tmp_path / "out" / name, newline="") as f:
            return list(csv.DictReader(f))

    m = rows("matrices.csv")
    assert len(m) == 212
    by_name = {r["name"]: r for r in m}
    src = {x["name"]: x for x in rep["matrices"]}
    q = "model.layers.7.self_attn.q_proj.weight"
    assert float(by_name[q]["stable_rank"]) == src[q]["stable_rank"]
    assert float(by_name[q]["frac_below_1e-01"]) == src[q]["sparsity"]["fractions"]["1e-01"]
    assert len(rows("qk.csv")) == 30 and len(rows("dead_neurons.csv")) == 30
    sp = rows("sparsity.csv")
    assert sp[-1]["role"] == "ALL" and int(sp[-1]["n_values"]) == rep["sparsity"]["model"]["n"]
    assert len(rows("cross_layer.csv")) == 7 * 29
    emb = {r["key"]: r["value"] for r in rows("embedding.csv")}
    assert float(emb["spectrum.participation_ratio"]) == rep["embedding"]["spectrum"]["participation_ratio"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="--csv: cannot create directory"):
        render_csv.write(rep, tmp_path / "file" / "sub")


def test_csv_of_a_comparison(compared, tmp_path):
    files = render_csv.write(compared, tmp_path)
    assert tmp_path / "compare.csv" in files
    with open(tmp_path / "compare.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == len(compared["compare"]["matrices"])


def _images(page):
    return [base64.b64decode(chunk.split('"', 1)[0]) for chunk in page.split("data:image/png;base64,")[1:]]


def test_html_is_one_self_contained_page(big, compared):
    pytest.importorskip("matplotlib")
    from geomkit.render import html as render_html

    _, rep = big
    page = render_html.render(rep)
    imgs = _images(page)
    assert len(imgs) == 9  # stable rank, PR, spectra, QK, norms, cosine, volumes, eigenvalues, dead neurons
    assert all(i.startswith(b"\x89PNG\r\n\x1a\n") for i in imgs)
    assert "http" not in page.replace("http-equiv", "") and "<script" not in page
    assert page.count("<tr>") > 212
    cmp_page = render_html.render(compared)
    assert "Compared with" in cmp_page and "Embedding alignment" in cmp_page


def test_cli_writes_every_output_at_once(tmp_path):
    pytest.importorskip("matplotlib")
    model = checkpoints.FAMILIES["bert"](np.random.default_rng(0))
    path = model.save(tmp_path / "bert")
    out = subprocess.run([sys.executable, "-m", "geomkit", "report", str(path), "--json", "--csv",
                          str(tmp_path / "csv"), "--html", str(tmp_path / "r.html"), "--samples", "100"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["schema_version"] == 1
    assert (tmp_path / "csv" / "matrices.csv").is_file() and (tmp_path / "r.html").stat().st_size > 10000
    assert "wrote" in out.stderr
    bad = subprocess.run([sys.executable, "-m", "geomkit", "report", str(path), "--html",
                          str(tmp_path / "nodir" / "r.html"), "--samples", "100"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--html: cannot write" in bad.stderr


@pytest.fixture(scope="module")
def page_path(tmp_path_factory, big):
    pytest.importorskip("matplotlib")
    from geomkit.render import html as render_html

    rep = big[1]  # (the MiniLM page is checked by hand; this one renders in a second)
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(render_html.render(rep), encoding="utf-8")
    return path


def test_html_renders_in_headless_chromium(page_path, tmp_path):
    """Skipped without Debian's chromium, except where GEOMKIT_REQUIRE_BROWSER=1 (the full
    matrix, scripts/test-full.sh) makes a missing browser a failure."""
    import matplotlib.image

    if shutil.which("chromium") is None:
        if os.environ.get("GEOMKIT_REQUIRE_BROWSER") == "1":
            pytest.fail("GEOMKIT_REQUIRE_BROWSER=1 but no chromium on PATH (apt-get install chromium)")
        pytest.skip("Debian's chromium is not installed (the full matrix installs it)")

    shot = tmp_path / "shot.png"
    out = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                          f"--screenshot={shot}", "--window-size=1200,3000", page_path.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert shot.is_file(), out.stderr
    img = matplotlib.image.imread(str(shot))[..., :3]
    assert img.shape[:2] == (3000, 1200)
    not_white = (img.min(axis=2) < 0.9).mean()
    assert not_white > 0.05, "the page rendered (almost) blank"
    top = img[:1500]
    colourful = ((top.max(axis=2) - top.min(axis=2)) > 0.25).mean()
    assert colourful > 0.01, "no coloured plots in the first screen"
