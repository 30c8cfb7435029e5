"""The report's tables as CSV files in a directory, one table per file (pandas-ready).

matrices.csv      one row per matrix: identity, spectrum statistics, sparsity fractions
qk.csv            one row per attention layer: the QK manifold
dead_neurons.csv  one row per MLP (per layer, per expert): dead/weak counts
sparsity.csv      one row per role plus "ALL": value counts and fractions below each threshold
cross_layer.csv   one row per adjacent-layer pair of each chain
roles.csv         one row per role: the spectrum aggregates and the cross-layer summary
embedding.csv     key,value rows of the embedding's scalar measures (when there is one)
compare.csv       per matching matrix: differences other - this (with --compare)
"""

from __future__ import annotations

import csv
import pathlib

from ..battery import SPECTRUM_FIELDS, THRESHOLDS

_FRACS = [f"{t:.0e}" for t in THRESHOLDS]


def _write(path: pathlib.Path, header, rows) -> pathlib.Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in rows:
            w.writerow(["" if v is None else v for v in r])
    return path


def _flatten(prefix, x, out):
    if isinstance(x, dict):
        for k, v in x.items():
            if k in ("histogram", "eigenvalues", "cosine_histogram"):
                continue
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(x, list):
        if all(not isinstance(v, (dict, list)) for v in x):
            for i, v in enumerate(x):
                out.append((f"{prefix}.{i}", v))
    else:
        out.append((prefix, x))


def write(report: dict, directory) -> list:
    """Writes the CSV files into ``directory`` (created if needed); returns their paths."""
    d = pathlib.Path(directory)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--csv: cannot create directory {d}: {exc.strerror or exc}") from exc
    if not d.is_dir():
        raise ValueError(f"--csv: {d} is not a directory")
    files = []
    stats = list(SPECTRUM_FIELDS) + ["max_sv", "min_sv"]
    files.append(_write(d / "matrices.csv",
                        ["name", "role", "stack", "layer", "expert", "rows", "cols", "dtype"] + stats
                        + ["n_values"] + [f"frac_below_{t}" for t in _FRACS],
                        [[m["name"], m["role"], m.get("stack"), m["layer"], m.get("expert"), m["shape"][0],
                          _cols(m["shape"]), m.get("dtype")] + [m.get(s) for s in stats]
                         + [m["sparsity"]["n"]] + [m["sparsity"]["fractions"][t] for t in _FRACS]
                         for m in report["matrices"]]))
    qk_fields = ["stable_rank", "pr", "symmetry_deviation", "n_positive", "n_negative", "dim", "pos_frac"]
    files.append(_write(d / "qk.csv", ["stack", "layer", "q", "k", "gqa_expanded"] + qk_fields
                        + ["top_eig_1", "top_eig_2", "top_eig_3", "skipped"],
                        [[r["stack"], r["layer"], r["q"], r["k"], r.get("gqa_expanded")]
                         + [r.get(f) for f in qk_fields]
                         + (list(r.get("top3_eigenvalues") or []) + [None] * 3)[:3] + [r.get("skipped")]
                         for r in report["qk"]["layers"]]))
    dn = ["d_ff", "dead", "weak", "dead_frac", "weak_frac", "mean", "std", "min", "max"]
    files.append(_write(d / "dead_neurons.csv", ["stack", "layer", "expert", "up", "down", "gate"] + dn
                        + ["gate_dead", "gate_weak", "skipped"],
                        [[r["stack"], r["layer"], r.get("expert"), r["up"], r["down"], r.get("gate")]
                         + [r.get(f) for f in dn]
                         + [r.get("with_gate", {}).get("dead"), r.get("with_gate", {}).get("weak"), r.get("skipped")]
                         for r in report["mlp"]["layers"]]))
    sp = report["sparsity"]
    rows = [[role, s["n"]] + s["below"] + [s["fractions"][t] for t in _FRACS] for role, s in sp["by_role"].items()]
    m = sp["model"]
    rows.append(["ALL", m["n"]] + m["below"] + [m["fractions"][t] for t in _FRACS])
    files.append(_write(d / "sparsity.csv", ["role", "n_values"] + [f"below_{t}" for t in _FRACS]
                        + [f"frac_below_{t}" for t in _FRACS], rows))
    files.append(_write(d / "cross_layer.csv", ["stack", "role", "chain", "layer_a", "layer_b", "cosine"],
                        [[c["stack"], c["role"], c["chain"], p["layers"][0], p["layers"][1], p["cosine"]]
                         for c in report["cross_layer"] for p in c["pairs"]]))
    agg = list(SPECTRUM_FIELDS)
    files.append(_write(d / "roles.csv", ["role", "n_matrices", "n_values"] + agg + [a + "_std" for a in agg]
                        + ["cross_layer_mean", "cross_layer_min", "cross_layer_max"],
                        [[role, r["n_matrices"], r["n_parameters"]] + [r.get(a) for a in agg]
                         + [r.get(a + "_std") for a in agg]
                         + [r.get("cross_layer", {}).get(k) for k in ("adjacent_mean", "adjacent_min", "adjacent_max")]
                         for role, r in report["roles"].items()]))
    if report.get("embedding"):
        kv = []
        _flatten("", report["embedding"], kv)
        files.append(_write(d / "embedding.csv", ["key", "value"], kv))
    c = report.get("compare")
    if c:
        fields = [k for k in (c["matrices"][0] if c["matrices"] else {}) if k not in ("name", "role", "layer")]
        files.append(_write(d / "compare.csv", ["name", "role", "layer"] + fields,
                            [[r["name"], r["role"], r["layer"]] + [r[f] for f in fields] for r in c["matrices"]]))
    return files


def _cols(shape):
    n = 1
    for s in shape[1:]:
        n *= s
    return n
