"""Chooses which compiled variant of the native module to import.

The extension is built once per SIMD level (``_geomkit_avx512``, ``_geomkit_avx2``,
``_geomkit_sse2`` on x86-64; ``_geomkit_native`` elsewhere). The best level that was
compiled and that this CPU runs is imported. ``GEOMKIT_SIMD=<level>`` caps the choice at a
lower level (for comparisons, or to work around a misbehaving path).
"""

from __future__ import annotations

import importlib
import importlib.util
import os

LEVELS = ("avx512", "avx2", "sse2", "native")
ENV_VAR = "GEOMKIT_SIMD"


def _compiled() -> list:
    found = []
    for level in LEVELS:
        if importlib.util.find_spec(f"{__package__}._geomkit_{level}") is not None:
            found.append(level)
    return found


def load():
    from . import _cpu

    compiled = _compiled()
    if not compiled:
        raise ImportError("geomkit: no compiled native module found (was the package built?)")
    runnable = [level for level in compiled if _cpu.supports(level)]
    forced = os.environ.get(ENV_VAR, "").strip().lower() or None
    candidates = runnable
    if forced is not None:
        if forced not in LEVELS:
            raise ImportError(f"geomkit: {ENV_VAR}={forced!r} is not one of {', '.join(LEVELS)}")
        allowed = LEVELS[LEVELS.index(forced):]
        candidates = [level for level in runnable if level in allowed]
    if not candidates:
        raise ImportError(
            f"geomkit: no usable SIMD level (compiled: {compiled}, runnable here: {runnable}, "
            f"{ENV_VAR}={forced!r})")
    level = candidates[0]
    module = importlib.import_module(f"{__package__}._geomkit_{level}")
    info = {
        "active": level,
        "arch": module.arch,
        "compiled": compiled,
        "supported": runnable,
        "forced": forced,
    }
    return module, info
