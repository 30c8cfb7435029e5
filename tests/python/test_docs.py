"""The reference docs keep up with the package: every public name is documented in
docs/reference/, links between the reference pages resolve, and nothing under docs/
points outside the repository."""

import pathlib
import re
import subprocess

import geomkit

ROOT = pathlib.Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference"
FORBIDDEN = ("../shared", "SPEC.md")


def reference_text() -> str:
    pages = sorted(REFERENCE.glob("*.md"))
    assert pages, f"no pages in {REFERENCE}"
    return "\n".join(p.read_text(encoding="utf-8") for p in pages)


def undocumented(names, text):
    """The names that do not occur in `text` as a whole word."""
    return [n for n in names if not re.search(r"(?<!\w)" + re.escape(n) + r"(?!\w)", text)]


def docs_files():
    """Files under docs/: the tracked ones (plus new ones not ignored) in a git checkout,
    else every file there."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", "docs"],
            cwd=ROOT, capture_output=True, text=True, check=True, timeout=60).stdout
        files = [ROOT / line for line in out.splitlines() if line]
    except (OSError, subprocess.SubprocessError):
        files = []
    if not files:
        files = [p for p in (ROOT / "docs").rglob("*") if p.is_file()]
    return [f for f in files if f.is_file()]


def test_every_public_name_is_in_the_reference():
    missing = undocumented(geomkit.__all__, reference_text())
    assert not missing, f"geomkit.__all__ names missing from docs/reference/*.md: {missing}"


def test_the_check_sees_a_missing_name():
    text = "`pentachoron_cv(X)` and geomkit.head_entropy"
    assert undocumented(["pentachoron_cv", "head_entropy", "pentachoron", "cv"], text) == ["pentachoron", "cv"]


def test_reference_links_resolve():
    broken = []
    for page in REFERENCE.glob("*.md"):
        for target in re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            path = (page.parent / target).resolve()
            # Pages of the other docs (docs/*.md) may be written later; links within the
            # reference must resolve now.
            if path.parent == REFERENCE and not path.exists():
                broken.append(f"{page.name} -> {target}")
    assert not broken, f"broken links: {broken}"


def test_docs_do_not_point_outside_the_repository():
    offending = []
    for f in docs_files():
        try:
            text = f.read_text(encoding="utf-8")
        except UnicodeDecodeError:  # images
            continue
        offending += [f"{f.relative_to(ROOT)}: {word}" for word in FORBIDDEN if word in text]
    assert not offending, f"docs/ must stand alone: {offending}"
