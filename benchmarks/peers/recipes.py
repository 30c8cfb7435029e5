"""The peers: what a user would run today instead of geomkit, ported faithfully from the
seeds (../shared/seeds) or called as published (numpy, scipy, the Go engine)."""

from __future__ import annotations

import json
import math
import os
import pathlib
import shutil
import struct
import subprocess
import tempfile

import numpy as np


# ----------------------------------------------------------------------------- simplices
def notebook_volume_sq(points: np.ndarray) -> float:
    """The notebook's per-simplex recipe: bordered CM matrix of float64 squared distances
    (summed from the points' own dtype), np.linalg.det."""
    n = len(points)
    cm = np.zeros((n + 1, n + 1))
    cm[0, 1:] = 1
    cm[1:, 0] = 1
    for i in range(n):
        for j in range(i + 1, n):
            d = np.sum((points[i] - points[j]) ** 2)
            cm[i + 1, j + 1] = d
            cm[j + 1, i + 1] = d
    k = n - 1
    return (-1) ** (k + 1) * np.linalg.det(cm) / (2 ** k * math.factorial(k) ** 2)


def notebook_loop_cv(X: np.ndarray, idx: np.ndarray):
    """CV with the notebook's loop over simplices (ddof 0, vol² > 0 kept)."""
    vols = []
    for row in idx:
        v2 = notebook_volume_sq(X[row])
        if v2 > 0:
            vols.append(math.sqrt(v2))
    vols = np.array(vols)
    return vols.std() / vols.mean(), len(vols)


def float32_batched_volume_sq(pts: np.ndarray) -> np.ndarray:
    """The probe's batched recipe in float32 (ported from torch to numpy): Gram trick
    |a|² + |b|² − 2a·b, clamped at 0, bordered CM, batched determinant."""
    pts = pts.astype(np.float32, copy=False)
    B, N, _ = pts.shape
    gram = pts @ pts.transpose(0, 2, 1)
    norms = np.diagonal(gram, axis1=1, axis2=2)
    d2 = np.maximum(norms[:, :, None] + norms[:, None, :] - 2 * gram, 0)
    cm = np.zeros((B, N + 1, N + 1), dtype=np.float32)
    cm[:, 0, 1:] = 1
    cm[:, 1:, 0] = 1
    cm[:, 1:, 1:] = d2
    k = N - 1
    return ((-1.0) ** (k + 1) * np.linalg.det(cm) / (2 ** k * math.factorial(k) ** 2)).astype(np.float32)


def float32_batched_cv(X: np.ndarray, idx: np.ndarray, chunk: int = 8192):
    """vol² in chunks (the full gather of 1e5 x 5 x d floats would not fit comfortably),
    then the notebook's CV (vol² > 0, ddof 0)."""
    v2 = np.concatenate([float32_batched_volume_sq(X[idx[s:s + chunk]]) for s in range(0, len(idx), chunk)])
    vols = np.sqrt(v2[v2 > 0].astype(np.float64))
    return vols.std() / vols.mean(), len(vols), v2


def torch_batched_volume_sq(pts):
    """The probe's recipe as written, in torch float32 (only when torch is installed)."""
    import torch
    import torch.nn.functional as F

    pts = torch.as_tensor(pts, dtype=torch.float32)
    B, N, _ = pts.shape
    gram = torch.bmm(pts, pts.transpose(1, 2))
    norms = torch.diagonal(gram, dim1=1, dim2=2)
    d2 = F.relu(norms.unsqueeze(2) + norms.unsqueeze(1) - 2 * gram)
    cm = torch.zeros(B, N + 1, N + 1, dtype=torch.float32)
    cm[:, 0, 1:] = 1.0
    cm[:, 1:, 0] = 1.0
    cm[:, 1:, 1:] = d2
    k = N - 1
    return ((-1.0) ** (k + 1) * torch.linalg.det(cm) / ((2 ** k) * math.factorial(k) ** 2)).numpy()


def reference_volume_sq(pts: np.ndarray) -> np.ndarray:
    """A float64-or-better reference: edges from vertex 0 by exact subtraction, Gram and
    determinant in long double where the platform has it (QR-free: Gaussian elimination
    with partial pivoting on the small k x k Gram)."""
    p = pts.astype(np.longdouble)
    e = p[:, 1:, :] - p[:, :1, :]
    g = e @ e.transpose(0, 2, 1)
    k = g.shape[1]
    det = np.ones(len(g), dtype=np.longdouble)
    g = g.copy()
    for c in range(k):
        piv = np.argmax(np.abs(g[:, c:, c]), axis=1) + c
        rows = np.arange(len(g))
        swap = piv != c
        if swap.any():
            tmp = g[rows[swap], c].copy()
            g[rows[swap], c] = g[rows[swap], piv[swap]]
            g[rows[swap], piv[swap]] = tmp
            det[swap] = -det[swap]
        d = g[:, c, c]
        det *= d
        safe = np.where(d == 0, 1, d)
        f = g[:, c + 1:, c] / safe[:, None]
        g[:, c + 1:, :] -= f[:, :, None] * g[:, c, :][:, None, :]
    return (det / math.factorial(k) ** 2).astype(np.float64)


# ----------------------------------------------------------------------------- spectrum
def numpy_participation_ratio(X: np.ndarray) -> float:
    """The notebook's route: covariance of centred rows, eigvalsh, (Σλ)²/Σλ²."""
    Xc = X - X.mean(axis=0)
    cov = (Xc.T @ Xc) / X.shape[0]
    ev = np.linalg.eigvalsh(cov)
    return float(ev.sum() ** 2 / (ev ** 2).sum())


def numpy_eigenspectrum(X: np.ndarray) -> np.ndarray:
    """The notebook's covariance spectrum: eigvalsh of the centred rows' covariance (divided
    by the row count), descending, in X's own precision."""
    Xc = X - X.mean(axis=0)
    return np.linalg.eigvalsh((Xc.T @ Xc) / X.shape[0])[::-1]


def numpy_spectrum_stats(W: np.ndarray) -> dict:
    """The notebook's weight battery from an SVD (in W's own precision, as the notebook runs it)."""
    return battery_from_values(np.linalg.svd(W, compute_uv=False), widen=False)


def battery_from_values(S: np.ndarray, widen: bool = True) -> dict:
    """The notebook's weight battery from descending singular values (in float64 unless
    widen=False)."""
    S = np.asarray(S, dtype=np.float64) if widen else np.asarray(S)
    total = S.sum()
    cumsum = np.cumsum(S) / total
    return {
        "stable_rank": float((S ** 2).sum() / S[0] ** 2),
        "pr": float(total ** 2 / (S ** 2).sum()),
        "active_frac": float((S > 0.01 * S[0]).sum() / len(S)),
        "rank_90": int(np.searchsorted(cumsum, 0.90) + 1),
        "condition": float(S[0] / (S[-1] + 1e-10)),
        "max_sv": float(S[0]),
        "min_sv": float(S[-1]),
    }


def scipy_spectrum_stats(W: np.ndarray) -> dict:
    """WeightWatcher's CPU route: scipy.linalg.svd of the float64 matrix, values only."""
    import scipy.linalg

    return battery_from_values(scipy.linalg.svd(W.astype(np.float64), compute_uv=False))


def notebook_qk_manifold(Wq: np.ndarray, Wk: np.ndarray) -> dict:
    """The notebook's _analyze_qk_matrix with numpy in torch's place: svdvals of QK = Wq·Wkᵀ
    and eigvalsh of its symmetric part."""
    QK = Wq @ Wk.T
    S = np.linalg.svd(QK, compute_uv=False)
    stable_rank = float((S ** 2).sum() / S[0] ** 2) if S[0] > 0 else 0.0
    pr = float(S.sum() ** 2 / (S ** 2).sum()) if (S ** 2).sum() > 0 else 0.0
    sym_dev = float(np.linalg.norm(QK - QK.T) / (np.linalg.norm(QK) + 1e-10))
    ev = np.linalg.eigvalsh((QK + QK.T) / 2)[::-1]
    return {"stable_rank": stable_rank, "pr": pr, "sym_dev": sym_dev, "n_positive": int((ev > 0).sum()),
            "n_negative": int((ev < 0).sum()), "top3_eig": [float(x) for x in ev[:3]], "dim": QK.shape[0]}


# ----------------------------------------------------------------------------- bone orientation
def go_reference_binary(shared: pathlib.Path, build_dir: pathlib.Path):
    """Builds ../shared/peers/bo_go once; None when Go is not installed."""
    go = shutil.which("go")
    src = shared / "peers" / "bo_go"
    if go is None or not src.is_dir():
        return None
    build_dir.mkdir(parents=True, exist_ok=True)
    exe = build_dir / "bo-ref"
    if not exe.exists():
        env = dict(os.environ, GOCACHE=str(build_dir / "gocache"), GOPATH=str(build_dir / "gopath"),
                   GOFLAGS="-mod=mod", GO111MODULE="on", HOME=str(build_dir))
        subprocess.run([go, "build", "-o", str(exe), "."], cwd=src, env=env, check=True)
    return exe


def go_bone_orientation(exe: pathlib.Path, keys: np.ndarray) -> dict:
    L, H, S, D = keys.shape
    with tempfile.NamedTemporaryFile(suffix=".bin", delete=False) as f:
        f.write(struct.pack("<4i", L, H, S, D))
        f.write(np.ascontiguousarray(keys, dtype="<f4").tobytes())
        path = f.name
    try:
        out = subprocess.run([str(exe), path], capture_output=True, text=True, check=True)
    finally:
        os.unlink(path)
    return json.loads(out.stdout)
