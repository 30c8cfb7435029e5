"""The report object as JSON (the schema is documented in docs/report.md)."""

from __future__ import annotations

import json
import math


def _clean(x):
    """NaN/inf (which JSON cannot hold) become null; tuples become lists."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if hasattr(x, "item") and callable(x.item):  # numpy scalars
        return _clean(x.item())
    return x


def render(report: dict, indent: int | None = 2) -> str:
    return json.dumps(_clean(report), indent=indent, allow_nan=False) + "\n"
