"""The report as one self-contained HTML page: tables plus plots drawn with matplotlib
(Agg backend) and embedded as base64 PNG, so the file opens anywhere with no other files
and no network. matplotlib is an optional dependency: ``pip install matplotlib``."""

from __future__ import annotations

import base64
import html
import io

from . import text as _text

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px auto;max-width:1100px;
color:#1d1d1f;background:#fff;line-height:1.4}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0;font-size:.88em}
th,td{padding:3px 8px;border-bottom:1px solid #eee;text-align:right}
th{background:#f5f5f7;white-space:nowrap}td{white-space:nowrap}td.wrap{white-space:normal}td:first-child,th:first-child{text-align:left}
.meta{color:#555;font-size:.9em}.grid{display:flex;flex-wrap:wrap;gap:12px}
.grid figure{margin:0;flex:1 1 520px}img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}details{margin:.5em 0}
"""


def _mpl():
    try:
        import matplotlib
    except ImportError as exc:
        raise ValueError("--html needs matplotlib: pip install matplotlib") from exc
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    fig.clf()
    import matplotlib.pyplot as plt
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(b64: str, caption: str) -> str:
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{b64}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _table(headers, rows) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _bar_hist(ax, h, color, xlabel):
    if not h or not h.get("counts"):
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        return
    edges, counts = h["edges"], h["counts"]
    ax.bar(edges[:-1], counts, width=[b - a for a, b in zip(edges[:-1], edges[1:])], align="edge",
           color=color, alpha=.85)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")


def _plots(rep, plt) -> list:
    figs = []
    # per-layer stable rank and PR per role
    layered = {}
    for m in rep["matrices"]:
        if m["layer"] is not None and m.get("expert") is None:
            layered.setdefault((m.get("stack") or "", m["role"]), []).append(m)
    if layered:
        multi = len({s for s, _ in layered}) > 1
        for key, title in (("stable_rank", "Stable rank"), ("pr", "Participation ratio of singular values")):
            fig, ax = plt.subplots(figsize=(6, 4))
            for (stack, role), rows in sorted(layered.items()):
                rows = sorted(rows, key=lambda m: m["layer"])
                ax.plot([m["layer"] for m in rows], [m[key] for m in rows], "o-", ms=3,
                        label=f"{stack.split('.')[0]} {role}" if multi else role)
            ax.set_title(f"{title} by layer")
            ax.set_xlabel("layer")
            ax.grid(alpha=.3)
            ax.legend(fontsize=7, ncol=2)
            figs.append(_figure(_png(fig), f"{title} of each matrix by layer, one line per role"))
    if rep.get("spectra"):
        fig, ax = plt.subplots(figsize=(6, 4))
        for s in rep["spectra"]:
            idx = [p[0] for p in s["values"]]
            vals = [p[1] for p in s["values"]]
            top = vals[0] or 1.0
            ax.loglog(idx, [max(v / top, 1e-12) for v in vals],
                      label=f"{s['role']} L{s['layer']}" if s["layer"] is not None else s["role"])
        ax.set_title("Singular value spectra (normalised by the largest)")
        ax.set_xlabel("index")
        ax.set_ylabel("s / s_max")
        ax.grid(alpha=.3, which="both")
        ax.legend(fontsize=7)
        figs.append(_figure(_png(fig), "Log-log singular value spectra of selected matrices (first and last "
                                       "layer of q and MLP down)"))
    qk = [r for r in rep["qk"]["layers"] if "skipped" not in r]
    if qk:
        fig, ax = plt.subplots(figsize=(6, 4))
        for stack in dict.fromkeys(r["stack"] for r in qk):
            rows = [r for r in qk if r["stack"] == stack]
            ax.plot([r["layer"] for r in rows], [r["pos_frac"] for r in rows], "o-", label=stack or "layers")
        ax.axhline(0.5, color="grey", ls="--", lw=.8)
        ax.set_title("QK manifold: positive-eigenvalue fraction by depth")
        ax.set_xlabel("layer")
        ax.set_ylabel("n_positive / d")
        ax.grid(alpha=.3)
        ax.legend(fontsize=7)
        figs.append(_figure(_png(fig), "Positive-eigenvalue fraction of (QK + QKᵀ)/2 per layer"))
    e = rep.get("embedding")
    if e:
        fig, ax = plt.subplots(figsize=(6, 4))
        _bar_hist(ax, e["norms"]["histogram"], "steelblue", "row norm")
        ax.set_title("Embedding row norms")
        figs.append(_figure(_png(fig), "Histogram of the embedding's row norms (every row)"))
        fig, ax = plt.subplots(figsize=(6, 4))
        _bar_hist(ax, e["cosine"]["histogram"], "darkorange", "cosine")
        ax.set_title(f"Pairwise cosine, {e['cosine']['n_rows']}-row sample")
        figs.append(_figure(_png(fig), f"Cosine of {e['cosine']['n_pairs']:,} row pairs"))
        fig, ax = plt.subplots(figsize=(6, 4))
        _bar_hist(ax, e["multiscale_cv"].get("4", {}).get("histogram"), "seagreen", "volume / mean volume")
        ax.set_title("Pentachoron (k = 4) volumes")
        figs.append(_figure(_png(fig), "Histogram of 4-simplex volumes over their mean (the multi-scale "
                                       "sampler's k = 4 draws)"))
        ev = e["spectrum"].get("eigenvalues") or []
        if ev:
            fig, ax = plt.subplots(figsize=(6, 4))
            ax.loglog(range(1, len(ev) + 1), [max(v, 1e-30) for v in ev])
            ax.set_title("Embedding covariance eigenvalues")
            ax.set_xlabel("index")
            ax.grid(alpha=.3, which="both")
            figs.append(_figure(_png(fig), "Eigenvalues of the embedding's row covariance (every row)"))
    mlp = [r for r in rep["mlp"]["layers"] if "skipped" not in r and r.get("expert") is None]
    if mlp:
        fig, ax = plt.subplots(figsize=(6, 4))
        for stack in dict.fromkeys(r["stack"] for r in mlp):
            rows = [r for r in mlp if r["stack"] == stack]
            ax.plot([r["layer"] for r in rows], [100 * r["weak_frac"] for r in rows], "o-", label=f"weak {stack}")
            ax.plot([r["layer"] for r in rows], [100 * r["dead_frac"] for r in rows], "s--", label=f"dead {stack}")
        ax.set_title("MLP dead (<1%) and weak (<10%) neurons by layer")
        ax.set_xlabel("layer")
        ax.set_ylabel("% of d_ff")
        ax.grid(alpha=.3)
        ax.legend(fontsize=7)
        figs.append(_figure(_png(fig), "Dead and weak MLP neurons per layer"))
    return figs


def render(report: dict) -> str:
    """The page as a string (write it to a file with UTF-8 encoding)."""
    plt = _mpl()
    rep = report
    f, x, pct = _text._f, _text._x, _text._pct
    m = rep["model"]
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>geomkit report: {html.escape(m['path'])}</title><style>{_CSS}</style></head><body>",
             f"<h1>geomkit report</h1><p class='meta'>{html.escape(m['path'])}<br>"
             f"{html.escape(m['format'])}, {len(m['files'])} file(s), {m['n_tensors']} tensors, "
             f"{m['n_parameters']:,} parameters; geomkit {html.escape(rep['geomkit'])} ({html.escape(rep['simd'])}, "
             f"{rep['threads']} threads)"
             + (f", {rep['seconds']:.1f} s" if rep.get("seconds") is not None else "") + "</p>"]
    if rep.get("notes"):
        parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in rep["notes"]) + "</ul>")
    parts.append("<h2>Plots</h2><div class='grid'>" + "".join(_plots(rep, plt)) + "</div>")
    parts.append("<h2>By role</h2>")
    parts.append(_table(["role", "matrices", "stable rank", "PR", "active", "rank 90", "condition", "<1e-4",
                         "<1e-3", "<1e-2", "<1e-1", "cross-layer cos", "range"],
                        [[role, r["n_matrices"], f(r["stable_rank"], 2), f(r["pr"], 2), f(r["active_frac"], 3),
                          f(r["rank_90"], 1), f(r["condition"], 1)]
                         + [pct(v, 2) for v in r["sparsity"]["fractions"].values()]
                         + ([x(r["cross_layer"]["adjacent_mean"]),
                             f"{x(r['cross_layer']['adjacent_min'], 3)}\u00a0..\u00a0{x(r['cross_layer']['adjacent_max'], 3)}"]
                            if r.get("cross_layer") else ["-", "-"])
                         for role, r in rep["roles"].items()]
                        + [["all 2-D", len(rep["matrices"]), "", "", "", "", ""]
                           + [pct(v, 2) for v in rep["sparsity"]["model"]["fractions"].values()] + ["", ""]]))
    e = rep.get("embedding")
    if e:
        n, s, c, cv, b = e["norms"], e["spectrum"], e["cosine"], e["pentachoron"], e["random_baseline"]
        parts.append(f"<h2>Embedding {html.escape(e['name'])} ({e['shape'][0]} × {e['shape'][1]})</h2>")
        parts.append(_table(["measure", "value"], [
            ["row norm mean / std", f"{f(n['mean'], 4)} / {f(n['std'], 4)}"],
            ["row norm min / max", f"{f(n['min'], 4)} / {f(n['max'], 4)}"],
            ["row norm percentiles", "  ".join(f"{p}%: {f(v, 4)}" for p, v in n["percentiles"].items())],
            ["zero rows (norm < 1e-6)", n["zero_rows"]],
            ["per-dim mean of means / of stds", f"{f(n['per_dim_mean_of_means'], 4)} / {f(n['per_dim_mean_of_stds'], 4)}"],
            [f"cosine ({c['n_rows']} rows, {c['n_pairs']:,} pairs) mean / std / median",
             f"{f(c['mean'], 4)} / {f(c['std'], 4)} / {f(c['median'], 4)}"],
            ["cosine percentiles", "  ".join(f"{p}%: {f(v, 4)}" for p, v in c["percentiles"].items())],
            ["total variance / top share", f"{f(s['total_variance'], 4)} / {pct(s['top_share'], 2)}"],
            ["top eigenvalues", " ".join(f(v, 4) for v in s["top_eigenvalues"])],
            ["PR / PR÷d", f"{f(s['participation_ratio'], 1)} / {f(s['pr_over_d'], 3)}"],
            ["variance profile", "  ".join(f"{k}%: {v}" for k, v in s["variance_profile"].items())],
            ["pentachoron CV", f"{f(cv['cv'], 4)} ({cv['n_valid']}/{cv['n_samples']} valid, "
                               f"{'inside' if cv['in_band'] else 'outside'} 0.13–0.30)"],
            ["Gaussian baseline CV / mean-volume ratio", f"{f(b['cv'], 4)} / {f(b['volume_ratio'], 4)}"],
            ["multi-scale CV", "  ".join(f"k={k}: {f(v['cv'], 3)}" for k, v in e["multiscale_cv"].items())],
        ]))
    qk = rep["qk"]
    if qk["layers"]:
        parts.append("<h2>QK manifold</h2>")
        for t in qk["trend"]:
            if t["first_layer"] is not None:
                parts.append(f"<p>{html.escape(t['stack'] or 'layers')}: positive-eigenvalue fraction "
                             f"{f(t['first_pos_frac'])} (layer {t['first_layer']}) → {f(t['last_pos_frac'])} "
                             f"(layer {t['last_layer']}), trend {t['trend']:+.3f}</p>")
        parts.append(_table(["stack", "layer", "stable rank", "PR", "positive", "negative", "pos frac", "sym dev",
                             "top eigenvalues", "note"],
                            [[r["stack"], r["layer"], f(r.get("stable_rank"), 2), f(r.get("pr"), 2),
                              r.get("n_positive", "-"), r.get("n_negative", "-"), f(r.get("pos_frac")),
                              f(r.get("symmetry_deviation"), 4),
                              " ".join(f(v, 3) for v in r.get("top3_eigenvalues") or []), r.get("skipped", "")]
                             for r in qk["layers"]]))
    t = rep["mlp"]["totals"]
    if t:
        parts.append("<h2>MLP dead neurons</h2>")
        parts.append(f"<p>dead (&lt;1% of mean) {t['dead']}/{t['neurons']} ({pct(t['dead_frac'], 2)}), weak "
                     f"(&lt;10%) {t['weak']} ({pct(t['weak_frac'], 2)}). {html.escape(rep['mlp']['convention'])}.</p>")
        parts.append(_table(["stack", "layer", "expert", "d_ff", "dead", "weak", "gate dead", "gate weak"],
                            [[r["stack"], r["layer"], "-" if r.get("expert") is None else r["expert"],
                              r.get("d_ff", "-"), r.get("dead", "-"), r.get("weak", "-"),
                              r.get("with_gate", {}).get("dead", "-"), r.get("with_gate", {}).get("weak", "-")]
                             for r in rep["mlp"]["layers"]]))
    parts.append("<h2>Matrices</h2><details><summary>one row per matrix</summary>")
    parts.append(_table(["name", "role", "layer", "shape", "stable rank", "PR", "active", "rank 90", "condition",
                         "<1e-2", "<1e-1"],
                        [[mm["name"], mm["role"], "-" if mm["layer"] is None else mm["layer"],
                          "×".join(map(str, mm["shape"])), f(mm["stable_rank"], 2), f(mm["pr"], 2),
                          f(mm["active_frac"], 3), mm["rank_90"], f(mm["condition"], 1),
                          pct(mm["sparsity"]["fractions"]["1e-02"], 2), pct(mm["sparsity"]["fractions"]["1e-01"], 2)]
                         for mm in rep["matrices"]]))
    parts.append("</details>")
    cmp_ = rep.get("compare")
    if cmp_:
        parts.append(f"<h2>Compared with {html.escape(cmp_['b'])}</h2>")
        parts.append(_table(["role", "Δ stable rank", "Δ PR", "Δ active", "Δ rank 90", "Δ <1e-1"],
                            [[role, x(r["stable_rank"]["diff"], 2), x(r["pr"]["diff"], 2),
                              x(r["active_frac"]["diff"], 3), x(r["rank_90"]["diff"], 1),
                              x(r["sparsity_1e-01"]["diff"])] for role, r in cmp_["roles"].items()]))
        a = cmp_.get("embedding_alignment")
        if a and "skipped" not in a:
            parts.append(f"<p>Embedding alignment (Procrustes on {a['fit_rows']} rows, evaluated on "
                         f"{a['test_rows']}): cosine mean {f(a['cosine_mean'], 4)}, median {f(a['cosine_median'], 4)}, "
                         f"relative residual {f(a['relative_residual'], 4)}</p>")
    parts.append("</body></html>\n")
    return "".join(parts)


def render_trajectory(out: dict) -> str:
    """The page for several checkpoints (``geomkit report A B C …``): the trajectory table
    across them (embedding PR, PR/d and CV; each role's aggregates) with its plots, then
    one section per checkpoint linking nothing external. ``out`` is the object the
    multi-checkpoint report returns: ``{"reports": [...], "trajectory": {...}}``."""
    plt = _mpl()
    f = _text._f
    traj, reports = out["trajectory"], out["reports"]
    rows = traj["checkpoints"]
    labels = [str(i) for i in range(len(rows))]
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>geomkit trajectory "
             f"({len(rows)} checkpoints)</title><style>{_CSS}</style></head><body>",
             f"<h1>geomkit report: {len(rows)} checkpoints</h1>",
             _table(["#", "checkpoint"], [[i, r["path"]] for i, r in enumerate(rows)])]
    figs = []
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    emb = [r["embedding"] or {} for r in rows]
    axes[0].plot(labels, [e.get("pr") for e in emb], "o-")
    axes[0].set_title("embedding participation ratio")
    axes[1].plot(labels, [e.get("cv") for e in emb], "o-", color="C1")
    axes[1].axhspan(0.13, 0.30, color="C2", alpha=.12)
    axes[1].set_title("embedding pentachoron CV (band 0.13-0.30)")
    for ax in axes:
        ax.set_xlabel("checkpoint")
    figs.append(_figure(_png(fig), "Embedding PR and CV across checkpoints"))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for role in traj["roles"]:
        for ax, field in zip(axes, ("stable_rank", "pr")):
            ax.plot(labels, [(r["roles"].get(role) or {}).get(field) for r in rows], "o-", label=role)
    axes[0].set_title("mean stable rank per role")
    axes[1].set_title("mean PR per role")
    for ax in axes:
        ax.set_xlabel("checkpoint")
    axes[1].legend(fontsize=7, ncol=2)
    figs.append(_figure(_png(fig), "Per-role spectrum aggregates across checkpoints"))
    parts.append("<h2>Trajectory</h2><div class='grid'>" + "".join(figs) + "</div>")
    headers = ["#", "emb PR", "emb PR/d", "emb CV"]
    cells = []
    for i, r in enumerate(rows):
        e = r["embedding"] or {}
        cells.append([i, f(e.get("pr"), 2), f(e.get("pr_over_d"), 3), f(e.get("cv"), 4)])
    parts.append(_table(headers, cells))
    for role in traj["roles"]:
        parts.append(f"<h3>{html.escape(role)}</h3>")
        parts.append(_table(["#"] + list(traj["fields"]),
                            [[i] + [f((r["roles"].get(role) or {}).get(k), 3) for k in traj["fields"]]
                             for i, r in enumerate(rows)]))
    for i, rep in enumerate(reports):
        page = render(rep)
        body = page[page.index("<body>") + len("<body>"):page.rindex("</body>")]
        parts.append(f"<hr><h2>Checkpoint {i}</h2>" + body.replace("<h1>", "<h3>").replace("</h1>", "</h3>"))
    parts.append("</body></html>")
    return "".join(parts)
