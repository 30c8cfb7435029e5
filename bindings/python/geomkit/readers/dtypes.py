"""Element types of stored tensors and their decoding to float32, with numpy alone.

Every decoder takes the tensor's raw little-endian bytes (a read-only ``uint8`` view,
usually memory-mapped) and returns a fresh C-contiguous array: float32, or float64 for F64
and the 32/64-bit integers (so they stay exact). Nothing else is kept.

- F64, F32, F16: numpy's own types (``<f8``, ``<f4``, ``<f2``), widened to float32 (F64 kept).
- BF16: the 16 high bits of an IEEE float32; decoded as ``uint32(bits) << 16`` read as float32,
  which is exact.
- F8_E4M3 (OCP "E4M3FN": bias 7, no infinities, S.1111.111 is NaN, largest 448) and F8_E5M2
  (bias 15, IEEE-like with infinities and NaNs, largest 57344): decoded through a 256-entry
  lookup table built from the bit fields, so every byte maps to its exact value.
- I8, I16, I32, I64, U8, U16, U32, U64, BOOL: listed as *non-float*; ``load()`` still returns
  their values (float32 for 8/16-bit and BOOL, float64 for 32/64-bit), but a report skips them.

fp8 weights usually come with scales; :func:`apply_scale` folds them in:

- a per-tensor (or per-output-channel) ``weight_scale`` multiplies the weight
  (compressed-tensors / llm-compressor, vLLM);
- a block ``weight_scale_inv`` of shape ``(ceil(rows/128), ceil(cols/128))`` multiplies each
  128 x 128 block (DeepSeek-V3; despite its name, its reference ``weight_dequant`` multiplies).
"""

from __future__ import annotations

import numpy as np

# name -> (bytes per element, kind); kind is "float", "int" or "bool"
DTYPES = {
    "F64": (8, "float"), "F32": (4, "float"), "F16": (2, "float"), "BF16": (2, "float"),
    "F8_E4M3": (1, "float"), "F8_E5M2": (1, "float"),
    "I8": (1, "int"), "I16": (2, "int"), "I32": (4, "int"), "I64": (8, "int"),
    "U8": (1, "int"), "U16": (2, "int"), "U32": (4, "int"), "U64": (8, "int"),
    "BOOL": (1, "bool"),
}
FLOAT_DTYPES = frozenset(n for n, (_, kind) in DTYPES.items() if kind == "float")

_NUMPY = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I8": "i1", "I16": "<i2", "I32": "<i4",
          "I64": "<i8", "U8": "u1", "U16": "<u2", "U32": "<u4", "U64": "<u8", "BOOL": "u1"}
_WIDE = {"F64", "I32", "I64", "U32", "U64"}   # decoded to float64


def itemsize(dtype: str) -> int:
    return DTYPES[dtype][0]


def is_float(dtype: str) -> bool:
    return dtype in FLOAT_DTYPES


def _fp8_table(exp_bits: int, man_bits: int, bias: int, ieee_specials: bool) -> np.ndarray:
    code = np.arange(256, dtype=np.int64)
    sign = np.where(code >> 7, -1.0, 1.0)
    exp = (code >> man_bits) & ((1 << exp_bits) - 1)
    man = code & ((1 << man_bits) - 1)
    frac = man / float(1 << man_bits)
    normal = np.ldexp(1.0 + frac, (exp - bias).astype(np.int32))
    subnormal = np.ldexp(frac, 1 - bias)
    value = sign * np.where(exp == 0, subnormal, normal)
    top = (1 << exp_bits) - 1
    if ieee_specials:   # E5M2: all-ones exponent is inf (mantissa 0) or NaN
        value = np.where((exp == top) & (man == 0), sign * np.inf, value)
        value = np.where((exp == top) & (man != 0), np.nan, value)
    else:               # E4M3FN: only all-ones exponent and mantissa is NaN
        value = np.where((exp == top) & (man == (1 << man_bits) - 1), np.nan, value)
    return value.astype(np.float32)


FP8_E4M3_TABLE = _fp8_table(4, 3, 7, ieee_specials=False)
FP8_E5M2_TABLE = _fp8_table(5, 2, 15, ieee_specials=True)
FP8_E4M3_TABLE.flags.writeable = False
FP8_E5M2_TABLE.flags.writeable = False


def bf16_to_float32(bits: np.ndarray) -> np.ndarray:
    """uint16 bfloat16 bit patterns -> float32 (exact), one allocation."""
    out = bits.astype(np.uint32)
    out <<= 16
    return out.view(np.float32)


def float32_to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bits, rounded to nearest even (NaN kept NaN). For writers."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(x)
    if nan.any():
        rounded[nan] = 0x7FC0
    return rounded


def decode(raw: np.ndarray, dtype: str, shape) -> np.ndarray:
    """Raw little-endian bytes (uint8, exactly the tensor's span) -> a fresh float array."""
    if dtype == "BF16":
        out = bf16_to_float32(raw.view("<u2"))
    elif dtype == "F8_E4M3":
        out = FP8_E4M3_TABLE[raw]
    elif dtype == "F8_E5M2":
        out = FP8_E5M2_TABLE[raw]
    else:
        out = raw.view(_NUMPY[dtype]).astype(np.float64 if dtype in _WIDE else np.float32)
    return out.reshape(shape)


def apply_scale(weight: np.ndarray, scale: np.ndarray, kind: str, block=(128, 128)) -> np.ndarray:
    """Folds an fp8 scale into a decoded weight, in place; returns it.

    kind "scale": ``scale`` is a scalar, or broadcasts against ``weight`` (per output channel,
    shape (rows,) or (rows, 1)). kind "block": ``scale`` has one entry per ``block`` tile.
    Raises ValueError when the shapes do not fit.
    """
    scale = np.asarray(scale, dtype=np.float32)
    if kind == "scale":
        if scale.size == 1:
            weight *= scale.reshape(())
        elif weight.ndim >= 1 and scale.size == weight.shape[0]:
            weight *= scale.reshape((weight.shape[0],) + (1,) * (weight.ndim - 1))
        else:
            raise ValueError(f"scale of shape {scale.shape} does not fit a weight of shape {weight.shape}")
        return weight
    if kind == "block":
        if weight.ndim != 2 or scale.ndim != 2:
            raise ValueError(f"block scale needs 2-D weight and scale, got {weight.shape} and {scale.shape}")
        br, bc = block
        rows, cols = weight.shape
        need = (-(-rows // br), -(-cols // bc))
        if scale.shape != need:
            raise ValueError(f"block scale of shape {scale.shape} does not fit a weight of shape "
                             f"{weight.shape} in {br}x{bc} blocks (expected {need})")
        for i in range(need[0]):   # one row band at a time: no full-size temporary
            band = weight[i * br:(i + 1) * br]
            band *= np.repeat(scale[i], bc)[:cols]
        return weight
    raise ValueError(f"unknown scale kind {kind!r}")
