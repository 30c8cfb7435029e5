"""The package itself: version, SIMD dispatch, thread settings."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

import geomkit

ROOT = pathlib.Path(__file__).resolve().parents[2]


def cpp_version():
    text = (ROOT / "include" / "geomkit" / "version.hpp").read_text()
    parts = [re.search(rf"GEOMKIT_VERSION_{p}\s+(\d+)", text).group(1) for p in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(parts)


def test_version_matches_cpp_header():
    assert geomkit.__version__ == cpp_version()


def test_simd_info_names_a_compiled_supported_level():
    info = geomkit.simd_info()
    assert info["active"] in info["compiled"]
    assert info["active"] in info["supported"]
    assert info["arch"]
    assert info["supported"][0] == info["active"] or info["forced"]


def run_with_env(code, **env):
    full = dict(os.environ, **env)
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True)


@pytest.mark.skipif("sse2" not in geomkit.simd_info()["compiled"], reason="x86-64 variants not built")
def test_environment_variable_forces_a_lower_level():
    out = run_with_env("import geomkit; i = geomkit.simd_info(); print(i['active'], i['arch'])", GEOMKIT_SIMD="sse2")
    assert out.returncode == 0, out.stderr
    active, arch = out.stdout.split()
    assert active == "sse2"
    assert arch.startswith("sse")


def test_environment_variable_rejects_unknown_levels():
    out = run_with_env("import geomkit", GEOMKIT_SIMD="mmx")
    assert out.returncode != 0
    assert "GEOMKIT_SIMD" in out.stderr and "mmx" in out.stderr


def test_thread_setting_round_trips():
    before = geomkit.get_num_threads()
    try:
        geomkit.set_num_threads(3)
        assert geomkit.get_num_threads() == 3
        with pytest.raises(ValueError, match="threads"):
            geomkit.set_num_threads(-1)
    finally:
        geomkit.set_num_threads(0)
    assert geomkit.get_num_threads() == before or before >= 1


def test_thread_setting_for_one_thread_only():
    import threading

    before = geomkit.get_num_threads()
    seen = {}

    def here():
        geomkit.set_num_threads(1, this_thread=True)
        seen["inside"] = geomkit.get_num_threads()
        geomkit.set_num_threads(0, this_thread=True)  # back to the process-wide setting
        seen["reset"] = geomkit.get_num_threads()

    t = threading.Thread(target=here)
    t.start()
    t.join()
    assert seen == {"inside": 1, "reset": before}
    assert geomkit.get_num_threads() == before  # the calling thread never saw it
    with pytest.raises(TypeError, match="this_thread"):
        geomkit.set_num_threads(1, this_thread="yes")
    with pytest.raises(ValueError, match="threads"):
        geomkit.set_num_threads(-1, this_thread=True)
    assert geomkit.get_num_threads() == before


def test_console_script_and_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "geomkit", "--version"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert geomkit.__version__ in out.stdout


@pytest.mark.skipif(not os.environ.get("GEOMKIT_EXPECT_SIMD"),
                    reason="GEOMKIT_EXPECT_SIMD (the levels this build should hold) not set")
def test_the_build_holds_the_expected_simd_levels():
    expected = set(os.environ["GEOMKIT_EXPECT_SIMD"].split(","))
    assert set(geomkit.simd_info()["compiled"]) == expected
