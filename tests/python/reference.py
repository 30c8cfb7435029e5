"""Independent reference implementations for the Python tests: pure Python/numpy, written
from the contract (docs/reference) and the research seeds, sharing no code with geomkit."""

from __future__ import annotations

import math

import numpy as np

MASK = 0xFFFFFFFF


def philox4x32_10(ctr, key):
    c = list(ctr)
    k0, k1 = key
    for _ in range(10):
        p0 = 0xD2511F53 * c[0]
        p1 = 0xCD9E8D57 * c[2]
        c = [((p1 >> 32) ^ c[1] ^ k0) & MASK, p1 & MASK, ((p0 >> 32) ^ c[3] ^ k1) & MASK, p0 & MASK]
        k0 = (k0 + 0x9E3779B9) & MASK
        k1 = (k1 + 0xBB67AE85) & MASK
    return c


class CounterRng:
    """The stream (seed, stream) of geomkit's counter-based generator."""

    def __init__(self, seed, stream):
        self.key = (seed & MASK, (seed >> 32) & MASK)
        self.stream = (stream & MASK, (stream >> 32) & MASK)
        self.block = 0
        self.buf = []

    def u32(self):
        if not self.buf:
            self.buf = philox4x32_10([self.block & MASK, self.block >> 32, *self.stream], self.key)
            self.block += 1
        return self.buf.pop(0)

    def uniform_index(self, n):
        m = self.u32() * n
        low = m & MASK
        if low < n:
            threshold = ((1 << 32) - n) % n
            while low < threshold:
                m = self.u32() * n
                low = m & MASK
        return m >> 32

    def sample_distinct(self, n, k):
        out = []
        for filled in range(k):
            j = n - k + filled
            t = self.uniform_index(j + 1)
            out.append(j if t in out else t)
        return out


def sample_indices(seed, n_samples, pool, k=5):
    return np.array([CounterRng(seed, i).sample_distinct(pool, k) for i in range(n_samples)])


def volume_sq_longdouble(pts):
    """vol² of (..., k+1, d) simplices: exact edge subtraction, Gram and pivoted elimination
    in long double."""
    pts = np.asarray(pts)
    flat = pts.reshape(-1, pts.shape[-2], pts.shape[-1]).astype(np.longdouble)
    e = flat[:, 1:, :] - flat[:, :1, :]
    out = np.empty(len(flat))
    for b in range(len(flat)):
        g = e[b] @ e[b].T
        k = g.shape[0]
        det = np.longdouble(1)
        for c in range(k):
            p = c + int(np.argmax(np.abs(g[c:, c])))
            if g[p, c] == 0:
                det = np.longdouble(0)
                break
            if p != c:
                g[[c, p]] = g[[p, c]]
                det = -det
            det *= g[c, c]
            g[c + 1:] -= np.outer(g[c + 1:, c] / g[c, c], g[c])
        out[b] = float(det / math.factorial(k) ** 2)
    return out.reshape(pts.shape[:-2])


def bordered_cm(d2):
    m = d2.shape[-1]
    cm = np.zeros(d2.shape[:-2] + (m + 1, m + 1))
    cm[..., 0, 1:] = 1
    cm[..., 1:, 0] = 1
    cm[..., 1:, 1:] = d2
    return cm


def squared_distances(pts):
    p = np.asarray(pts, dtype=np.float64)
    diff = p[..., :, None, :] - p[..., None, :, :]
    return np.sum(diff * diff, axis=-1)


def cv_from_volumes(v2, eps, ddof, mean_eps, min_valid):
    v2 = np.asarray(v2)
    vols = np.sqrt(v2[v2 > eps])
    if len(vols) < min_valid or len(vols) <= ddof:
        return None, vols
    return float(np.std(vols, ddof=ddof) / (np.mean(vols) + mean_eps)), vols


# ------------------------------------------------------------------------ bone orientation
def _cos(a, b):
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    if len(a) != len(b) or len(a) == 0:
        return 0.0
    den = math.sqrt(float(a @ a)) * math.sqrt(float(b @ b))
    return 0.0 if den == 0 else float(a @ b) / den


def _entropy(head, S, D):
    if S == 0 or D == 0:
        return 0.0
    m = np.sqrt(np.sum(head.reshape(S, D).astype(np.float64) ** 2, axis=1))
    total = m.sum()
    if total == 0:
        return 0.0
    p = m / total
    p = p[p > 0]
    h = float(-(p * np.log2(p)).sum())
    return 0.0 if S <= 1 else h / math.log2(S)


def bone_orientation_reference(keys):
    """The reference engine's algorithm, pair by pair, on an (L, H, S, D) float32 array."""
    L, H, S, D = keys.shape
    res = dict(mean_coherence=0.0, mean_cross_alignment=0.0, mean_head_entropy=0.0, phase_lock_score=0.0,
               joint_collapse_count=0, layer_coherence=[0.0] * L, layer_cross_alignment=[0.0] * max(0, L - 1),
               gqa=H <= 4)
    if L == 0:
        return res
    if H <= 4:
        if S < 2 or D == 0:
            return res
        locked = pairs_total = 0
        tot_diff = tot_ent = 0.0
        for l in range(L):
            v = keys[l, 0]
            sims = []
            for i in range(S):
                for j in range(i + 1, S):
                    s = _cos(v[i], v[j])
                    sims.append(s)
                    locked += s < 0.3
                    pairs_total += 1
            diff = 1.0 - (sum(sims) / len(sims)) if sims else 0.0
            res["layer_coherence"][l] = diff
            tot_diff += diff
            tot_ent += _entropy(v, S, D)
        for i in range(L - 1):
            sm = 1.0 - abs(res["layer_coherence"][i + 1] - res["layer_coherence"][i])
            res["layer_cross_alignment"][i] = sm
            res["joint_collapse_count"] += sm < 0.5
        res["mean_coherence"] = tot_diff / L
        if L > 1:
            res["mean_cross_alignment"] = sum(res["layer_cross_alignment"]) / (L - 1)
        res["mean_head_entropy"] = tot_ent / L
        res["phase_lock_score"] = locked / pairs_total if pairs_total else 0.0
        return res
    locked = pairs_total = 0
    tot_coh = tot_ent = 0.0
    means = []
    for l in range(L):
        heads = keys[l].reshape(H, S * D)
        mean = np.zeros(S * D, dtype=np.float32)
        for h in range(H):
            mean += heads[h]
        means.append(mean / np.float32(H))
        sims = []
        for i in range(H):
            for j in range(i + 1, H):
                s = _cos(heads[i], heads[j])
                sims.append(s)
                locked += s >= 0.7
                pairs_total += 1
        coh = sum(sims) / len(sims) if sims else 0.0
        res["layer_coherence"][l] = coh
        tot_coh += coh
        tot_ent += sum(_entropy(heads[h], S, D) for h in range(H))
    tot_cross = 0.0
    for i in range(L - 1):
        a = _cos(means[i], means[i + 1])
        res["layer_cross_alignment"][i] = a
        tot_cross += a
        res["joint_collapse_count"] += a < 0.5
    res["mean_coherence"] = tot_coh / L
    if L > 1:
        res["mean_cross_alignment"] = tot_cross / (L - 1)
    res["mean_head_entropy"] = tot_ent / (L * H)
    res["phase_lock_score"] = locked / pairs_total if pairs_total else 0.0
    return res


def composite_reference(r):
    stab = max(0.0, 1.0 - r["joint_collapse_count"] * 0.2)
    if r["gqa"]:
        scaled = min(1.0, max(0.0, (r["mean_coherence"] - 0.1) / 0.6))
        var = 0.0
        if len(r["layer_coherence"]) > 1:
            m = r["mean_coherence"]
            var = math.sqrt(sum((v - m) ** 2 for v in r["layer_coherence"]) / len(r["layer_coherence"]))
        score = (0.45 * scaled + 0.25 * min(1.0, var / 0.2) + 0.15 * r["mean_head_entropy"] + 0.15 * stab) * 10000.0
    else:
        score = (0.30 * r["mean_coherence"] + 0.25 * r["mean_cross_alignment"] + 0.20 * r["phase_lock_score"]
                 + 0.15 * r["mean_head_entropy"] + 0.10 * stab) * 10000.0
    return min(10000, max(0, int(score)))
