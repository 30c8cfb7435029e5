"""The report as text for an 80-column terminal: a summary grouped by role first, the
per-layer tables (matrices, QK manifold, dead neurons, cross-layer pairs) with ``detail``."""

from __future__ import annotations

WIDTH = 80


def _f(x, digits=3):
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    ax = abs(x)
    if x != 0 and (ax >= 1e5 or ax < 1e-3):
        return f"{x:.{max(digits - 1, 1)}e}"
    return f"{x:.{digits}f}"


def _x(x, digits=4):
    """Fixed point with a sign: for cosines and differences near 0."""
    return "-" if x is None else f"{x:+.{digits}f}"


def _pct(x, digits=1):
    return "-" if x is None else f"{100 * x:.{digits}f}%"


def _table(headers, rows, align=None) -> list:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    align = align or ["<"] + [">"] * (len(headers) - 1)
    out = []
    for i, r in enumerate(cells):
        out.append("  " + " ".join(c.ljust(w) if a == "<" else c.rjust(w)
                                   for c, w, a in zip(r, widths, align)).rstrip())
        if i == 0:
            out.append("  " + " ".join("-" * w for w in widths))
    return out


def _short(name: str, width: int) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1):]


def _size(n) -> str:
    for unit in ("", "k", "M", "G", "T"):
        if abs(n) < 1000 or unit == "T":
            return f"{n:.0f}{unit}" if unit == "" else f"{n:.1f}{unit}"
        n /= 1000
    return str(n)


def _wrap(prefix: str, items, indent: int = 4) -> list:
    lines, line = [], prefix
    for it in items:
        if len(line) + len(it) + 2 > WIDTH and line.strip():
            lines.append(line.rstrip())
            line = " " * indent
        line += it + "  "
    lines.append(line.rstrip())
    return lines


def _header(rep) -> list:
    m = rep["model"]
    out = [f"geomkit {rep['geomkit']} report ({rep['simd']}, {rep['threads']} threads"
           + (f", {rep['seconds']:.1f} s)" if rep.get("seconds") is not None else ")"),
           f"model  {_short(m['path'], WIDTH - 7)}",
           f"       {m['format']}, {len(m['files'])} file(s), {m['n_tensors']} tensors, "
           f"{_size(m['n_parameters'])} parameters, {_size(m['bytes'])}B"
           + (f", {m['model_type']}" if m.get("model_type") else "")]
    for h in rep.get("heads") or []:
        out.append(f"heads  {(h['group'] + ': ') if h['group'] else ''}{h['n_heads']} query, "
                   f"{h['n_kv_heads']} key/value, head dim {h['head_dim']}"
                   + (" (inferred from shapes)" if h.get("inferred") else ""))
    for n in rep.get("notes", []):
        out.extend(_wrap("note   ", n.split(" "), 7))
    return out + [""]


def _embedding(e) -> list:
    n, s, c = e["norms"], e["spectrum"], e["cosine"]
    cv, base = e["pentachoron"], e["random_baseline"]
    band = "inside" if cv["in_band"] else "outside"
    tied = (e.get("tied") or {}).get("tied")
    out = [f"Embedding {_short(e['name'], 50)}  {e['shape'][0]} x {e['shape'][1]}"
           + ("  (tied lm_head)" if tied and e["tied"].get("lm_head") else ""),
           f"  row norms   mean {_f(n['mean'], 4)}  std {_f(n['std'], 4)}  min {_f(n['min'], 4)}  "
           f"max {_f(n['max'], 4)}  zero rows {n['zero_rows']}"]
    out += _wrap("              ", [f"p{p} {_f(v, 4)}" for p, v in n["percentiles"].items()], 14)
    out.append(f"  per dim     mean of means {_f(n['per_dim_mean_of_means'], 4)}  "
               f"mean of stds {_f(n['per_dim_mean_of_stds'], 4)}")
    out.append(f"  cosine      {c['n_rows']}-row sample, {c['n_pairs']:,} pairs")
    out.append(f"              mean {_f(c['mean'], 4)}  std {_f(c['std'], 4)}  median {_f(c['median'], 4)}")
    out += _wrap("              ", [f"p{p} {_f(v, 4)}" for p, v in c["percentiles"].items()], 14)
    out.append(f"  spectrum    total variance {_f(s['total_variance'], 4)}  top share {_pct(s['top_share'], 2)}  "
               f"PR {_f(s['participation_ratio'], 1)}  PR/d {_f(s['pr_over_d'], 3)}")
    out.append("              top eigenvalues " + " ".join(_f(v, 4) for v in s["top_eigenvalues"]))
    out.append("              variance profile " + "  ".join(f"{k}%: {v}" for k, v in s["variance_profile"].items()))
    rows = f" ({e['cv_rows']} sampled rows)" if e["cv_rows"] != e["shape"][0] else ""
    out.append(f"  CV          {_f(cv['cv'], 4)}  ({cv['n_valid']}/{cv['n_samples']} valid; {band} the "
               f"0.13-0.30 band){rows}")
    out.append(f"  random      Gaussian CV {_f(base['cv'], 4)}  mean-volume ratio {_f(base['volume_ratio'], 4)}")
    out += _wrap("  multiscale  ", [f"k={k} {_f(v['cv'], 3)}" for k, v in e["multiscale_cv"].items()], 14)
    return out + [""]


def _roles(rep) -> list:
    rows = []
    for role, r in rep["roles"].items():
        rows.append([role, r["n_matrices"], _f(r["stable_rank"], 2), _f(r["pr"], 2), _f(r["active_frac"], 3),
                     _f(r["rank_90"], 1), _f(r["condition"], 1)])
    out = ["Spectrum by role (mean over matrices)"]
    out += _table(["role", "n", "stable rk", "PR", "active", "rank90", "condition"], rows)
    rows = []
    for role, r in rep["roles"].items():
        fr = r["sparsity"]["fractions"]
        x = r.get("cross_layer")
        rows.append([role, _size(r["sparsity"]["n"])] + [_pct(v) for v in fr.values()]
                    + ([_x(x["adjacent_mean"]), f"{_x(x['adjacent_min'], 3)}..{_x(x['adjacent_max'], 3)}"]
                       if x else ["-", "-"]))
    fr = rep["sparsity"]["model"]
    rows.append(["ALL 2-D", _size(fr["n"])] + [_pct(v) for v in fr["fractions"].values()] + ["", ""])
    out += ["", "Sparsity (|w| below) and cross-layer cosine (adjacent layers)"]
    out += _table(["role", "values", "<1e-4", "<1e-3", "<1e-2", "<1e-1", "xlayer", "range"], rows)
    return out + [""]


def _qk(rep) -> list:
    q = rep["qk"]
    out = []
    for t in q["trend"]:
        if t["first_layer"] is None:
            continue
        n = sum(1 for r in q["layers"] if r["stack"] == t["stack"] and "skipped" not in r)
        out.append(f"QK manifold{' of ' + _short(t['stack'], 30) if t['stack'] else ''}, {n} layers: "
                   f"positive-eigenvalue fraction")
        out.append(f"  {_f(t['first_pos_frac'])} (layer {t['first_layer']}) -> {_f(t['last_pos_frac'])} "
                   f"(layer {t['last_layer']}), trend {t['trend']:+.3f}, slope "
                   f"{_x(t['slope_per_layer'])} per layer")
    for s in q["skipped"]:
        out += _wrap("  skipped ", [_short(s["q"], 40) + ":"] + s["reason"].split(" "), 4)
    return out + ([""] if out else [])


def _mlp(rep) -> list:
    t = rep["mlp"]["totals"]
    if not t:
        return []
    out = [f"MLP dead neurons: dead (<1% of mean) {t['dead']}/{t['neurons']} ({_pct(t['dead_frac'], 2)}), "
           f"weak (<10%) {t['weak']} ({_pct(t['weak_frac'], 2)})"]
    g = t.get("with_gate")
    if g:
        out.append(f"  with W_gate: dead {g['dead']} ({_pct(g['dead_frac'], 2)}), weak {g['weak']} "
                   f"({_pct(g['weak_frac'], 2)})")
    return out + [""]


def _keys(k) -> list:
    if not k:
        return []
    return [f"Key snapshot {' x '.join(map(str, k['shape']))} "
            f"({'position-wise GQA' if k['gqa'] else 'multi-head'})",
            f"  composite {k['composite']} / 10000"] + _wrap(
        "  ", [f"{a} {_f(b)}" for a, b in k["features"].items()]) + _wrap(
        "  layer entropy ", [_f(v) for v in k["layer_entropy"]]) + [""]


def _detail(rep) -> list:
    out = ["Matrices"]
    rows = []
    for m in rep["matrices"]:
        shape = "x".join(map(str, m["shape"]))
        rows.append([_short(m["name"], 30), shape, _f(m["stable_rank"], 1), _f(m["pr"], 1),
                     _f(m["active_frac"], 2), m["rank_90"], _f(m["condition"], 0),
                     _pct(m["sparsity"]["fractions"]["1e-01"])])
    out += _table(["name", "shape", "st.rank", "PR", "act", "r90", "cond", "<0.1"], rows)
    qk = [r for r in rep["qk"]["layers"] if "skipped" not in r]
    if qk:
        out += ["", "QK manifold by layer"]
        out += _table(["stack", "layer", "st.rank", "PR", "pos", "neg", "pos frac", "sym dev", "top eig"],
                      [[_short(r["stack"] or "-", 16), r["layer"], _f(r["stable_rank"], 2), _f(r["pr"], 2),
                        r["n_positive"], r["n_negative"], _f(r["pos_frac"]), _f(r["symmetry_deviation"], 4),
                        _f(r["top3_eigenvalues"][0] if r["top3_eigenvalues"] else None, 3)] for r in qk])
    mlp = [r for r in rep["mlp"]["layers"] if "skipped" not in r]
    if mlp:
        out += ["", "MLP dead neurons by layer"]
        out += _table(["stack", "layer", "expert", "d_ff", "dead", "weak", "dead %", "weak %", "gate dead"],
                      [[_short(r["stack"] or "-", 16), r["layer"], "-" if r["expert"] is None else r["expert"],
                        r["d_ff"], r["dead"], r["weak"], _pct(r["dead_frac"], 2), _pct(r["weak_frac"], 2),
                        r["with_gate"]["dead"] if "with_gate" in r else "-"] for r in mlp])
    for r in rep["mlp"]["layers"]:
        if "skipped" in r:
            out.append(f"  skipped {_short(r['up'], 40)}: {r['skipped']}")
    if rep["cross_layer"]:
        out += ["", "Cross-layer cosine, adjacent pairs"]
        for c in rep["cross_layer"]:
            out += _wrap(f"  {_short(c['chain'], 44)}: ",
                         [f"{p['layers'][0]}-{p['layers'][1]} {_x(p['cosine'])}" for p in c["pairs"]], 4)
    return out + [""]


def _compare(c) -> list:
    if not c:
        return []
    out = [f"Compared with {_short(c['b'], WIDTH - 14)}",
           f"  {len(c['matrices'])} matching matrices; {len(c['only_in_a'])} only here, "
           f"{len(c['only_in_b'])} only there", ""]
    rows = []
    for role, r in c["roles"].items():
        rows.append([role] + [_x(r[f]["diff"], 2) for f in ("stable_rank", "pr", "active_frac", "rank_90")]
                    + [_x(100 * r["sparsity_1e-01"]["diff"], 2) if r["sparsity_1e-01"]["diff"] is not None else "-",
                       _x(r["cross_layer_mean"]["diff"]) if "cross_layer_mean" in r else "-"])
    out.append("  Role differences (other - this)")
    out += _table(["role", "d st.rank", "d PR", "d active", "d rank90", "d <0.1 %", "d xlayer"], rows)
    a = c.get("embedding_alignment")
    if a and "skipped" not in a:
        out += ["", "  Embedding alignment (orthogonal Procrustes)",
                f"    fitted on {a['fit_rows']} of {a['shared_rows']} shared rows, evaluated on the other "
                f"{a['test_rows']}:",
                f"    cosine mean {_f(a['cosine_mean'], 4)}  std {_f(a['cosine_std'], 4)}  median "
                f"{_f(a['cosine_median'], 4)}  relative residual {_f(a['relative_residual'], 4)}"]
        if a.get("note"):
            out.append(f"  ({a['note']})")
    elif a:
        out.append(f"  Embedding alignment skipped: {a['skipped']}")
    return out + [""]


def render(report: dict, detail: bool = False) -> str:
    """The report as text; ``detail`` adds the per-matrix and per-layer tables."""
    parts = _header(report)
    if report.get("embedding"):
        parts += _embedding(report["embedding"])
    parts += _roles(report) + _qk(report) + _mlp(report) + _keys(report.get("keys"))
    if detail:
        parts += _detail(report)
    parts += _compare(report.get("compare"))
    if not detail:
        parts.append("(--detail adds per-matrix and per-layer tables)")
    return "\n".join(parts).rstrip() + "\n"
