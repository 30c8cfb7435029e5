"""Rotary position embeddings (RoPE) as Hugging Face ``transformers`` applies them.

``inverse_frequencies(config, head_dim, seq_len)`` gives the per-pair frequencies with the
checkpoint's ``rope_theta`` and ``rope_scaling`` (default, linear, dynamic NTK, llama3, yarn);
``apply_rope(x, positions, inv_freq)`` rotates ``x`` (..., S, D) in the "rotate half" layout
(pair i is dimensions i and i + D/2), which is what the Llama family's Hugging Face weights
expect. Angles are float32 products p·f as transformers forms them; cos and sin run in
float64; the result is float32.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["rope_parameters", "inverse_frequencies", "rope_cos_sin", "apply_rope"]

_SUPPORTED = ("default", "linear", "dynamic", "llama3", "yarn")


def rope_parameters(config: dict) -> tuple:
    """(theta, scaling dict or None) from a config: ``rope_theta`` + ``rope_scaling`` (the
    transformers 4.x names) or ``rope_parameters`` (5.x)."""
    params = config.get("rope_parameters")
    scaling = config.get("rope_scaling")
    theta = config.get("rope_theta")
    if isinstance(params, dict):
        # transformers 5 keeps theta and scaling together; a per-layer-type dict (Gemma 3)
        # holds dicts per attention kind
        if "rope_theta" in params or "rope_type" in params:
            theta = params.get("rope_theta", theta)
            scaling = params
    if theta is None:
        theta = 10000.0
    if isinstance(scaling, dict):
        kind = scaling.get("rope_type", scaling.get("type", "default"))
        if kind in (None, "default"):
            scaling = None
    else:
        scaling = None
    return float(theta), scaling


def inverse_frequencies(config: dict, head_dim: int, seq_len: int = 0) -> tuple:
    """(inv_freq float32 (head_dim/2,), attention_factor) for the config's RoPE, as
    transformers' ``ROPE_INIT_FUNCTIONS`` compute them. ``seq_len`` matters only for
    ``dynamic`` scaling (the NTK base grows once the sequence passes
    ``max_position_embeddings``)."""
    if head_dim <= 0 or head_dim % 2:
        raise ValueError(f"head_dim must be a positive even number for RoPE, got {head_dim}")
    base, scaling = rope_parameters(config)
    factor_att = 1.0
    dim = head_dim
    partial = config.get("partial_rotary_factor", 1.0)
    if partial != 1.0:
        raise ValueError(f"config: partial_rotary_factor {partial} is not supported")
    kind = "default" if scaling is None else scaling.get("rope_type", scaling.get("type"))
    if kind not in _SUPPORTED:
        raise ValueError(f"config: rope_scaling type {kind!r} is not supported "
                         f"(supported: {', '.join(_SUPPORTED)})")
    if kind == "dynamic":
        max_pos = int(config.get("max_position_embeddings", 2048))
        factor = float(scaling["factor"])
        if seq_len > max_pos:
            base = base * ((factor * seq_len / max_pos) - (factor - 1)) ** (dim / (dim - 2))
    exponents = np.arange(0, dim, 2, dtype=np.int64).astype(np.float32) / np.float32(dim)
    inv = (1.0 / (base ** exponents.astype(np.float64))).astype(np.float32)
    if kind == "linear":
        inv = inv / np.float32(scaling["factor"])
    elif kind == "llama3":
        inv = _llama3(inv, scaling)
    elif kind == "yarn":
        inv, factor_att = _yarn(base, dim, config, scaling)
    return inv, factor_att


def _llama3(inv: np.ndarray, s: dict) -> np.ndarray:
    # float32 arithmetic step by step, as transformers does it on float32 tensors: the
    # frequencies, hence the angles p·f far into a sequence, then agree to the last bit
    f32 = np.float32
    factor = f32(s["factor"])
    low = f32(s["low_freq_factor"])
    high = f32(s["high_freq_factor"])
    old_ctx = f32(s["original_max_position_embeddings"])
    inv = inv.astype(np.float32)
    wavelen = f32(2 * math.pi) / inv
    low_wavelen = float(s["original_max_position_embeddings"]) / float(s["low_freq_factor"])
    high_wavelen = float(s["original_max_position_embeddings"]) / float(s["high_freq_factor"])
    scaled = np.where(wavelen > low_wavelen, inv / factor, inv).astype(np.float32)
    smooth = (old_ctx / wavelen - low) / (high - low)
    smoothed = (f32(1) - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
    return np.where(medium, smoothed, scaled).astype(np.float32)


def _yarn(base: float, dim: int, config: dict, s: dict) -> tuple:
    factor = float(s["factor"])
    original = s.get("original_max_position_embeddings") or config.get("max_position_embeddings", 2048)
    if "original_max_position_embeddings" in s and config.get("max_position_embeddings"):
        factor = config["max_position_embeddings"] / s["original_max_position_embeddings"]

    def mscale(scale, m=1.0):
        return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

    att = s.get("attention_factor")
    if att is None:
        if s.get("mscale") and s.get("mscale_all_dim"):
            att = mscale(factor, s["mscale"]) / mscale(factor, s["mscale_all_dim"])
        else:
            att = mscale(factor)
    beta_fast = s.get("beta_fast") or 32
    beta_slow = s.get("beta_slow") or 1

    def correction_dim(rot):
        return (dim * math.log(original / (rot * 2 * math.pi))) / (2 * math.log(base))

    lo = correction_dim(beta_fast)
    hi = correction_dim(beta_slow)
    if s.get("truncate", True):
        lo, hi = math.floor(lo), math.ceil(hi)
    lo, hi = max(lo, 0), min(hi, dim - 1)
    if lo == hi:
        hi += 0.001
    pos_freqs = base ** (np.arange(0, dim, 2, dtype=np.int64).astype(np.float32) / dim).astype(np.float64)
    extrapolation = 1.0 / pos_freqs
    interpolation = 1.0 / (factor * pos_freqs)
    ramp = np.clip((np.arange(dim // 2, dtype=np.float64) - lo) / (hi - lo), 0, 1)
    extrapolation_factor = 1 - ramp
    inv = interpolation * (1 - extrapolation_factor) + extrapolation * extrapolation_factor
    return inv.astype(np.float32), float(att)


def rope_cos_sin(positions, inv_freq: np.ndarray, attention_factor: float = 1.0) -> tuple:
    """cos and sin, each (S, D) float32 with D = 2·len(inv_freq). The angle p·f is the
    float32 product of the position and the float32 frequency, rounded once, exactly as
    transformers forms it (so keys far into a sequence agree with ``past_key_values`` to
    float32 rounding, not to the ≈ p·2⁻²⁴ rad by which a float64 angle would differ);
    cos and sin of that angle are evaluated in float64."""
    pos = np.asarray(positions, dtype=np.float32)
    angles = (pos[:, None] * inv_freq.astype(np.float32)[None, :]).astype(np.float64)
    angles = np.concatenate([angles, angles], axis=1)
    cos = (np.cos(angles) * attention_factor).astype(np.float32)
    sin = (np.sin(angles) * attention_factor).astype(np.float32)
    return cos, sin


def apply_rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """x (..., S, D) rotated: x·cos + rotate_half(x)·sin, rotate_half(x) = [−x₂, x₁]."""
    half = x.shape[-1] // 2
    rotated = np.empty_like(x)
    rotated[..., :half] = -x[..., half:]
    rotated[..., half:] = x[..., :half]
    return (x * cos + rotated * sin).astype(np.float32, copy=False)
