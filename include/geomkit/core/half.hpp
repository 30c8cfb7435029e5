// 16-bit floating-point storage types: IEEE 754 binary16 (`float16`) and bfloat16.
//
// KV caches are usually stored in 16 bits. geomkit kernels accept these types as input and
// convert every value to float on the fly; the conversion is exact (both formats are
// subsets of binary32), so a kernel run on 16-bit keys gives bit for bit the result it
// gives on the same values stored as float. The types are plain 16-bit wrappers (no
// arithmetic): layout-compatible with numpy.float16, torch.float16 and torch.bfloat16.
// Conversions are GEOMKIT_HD, throw nothing and allocate nothing; float -> 16 bits rounds
// to nearest, ties to even, as hardware converters do.
#pragma once

#include <cstdint>
#include <cstring>

#include "../config.hpp"

namespace geomkit {

namespace detail {
GEOMKIT_HD inline float float_from_bits(std::uint32_t bits) noexcept {
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}
GEOMKIT_HD inline std::uint32_t bits_from_float(float f) noexcept {
    std::uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    return bits;
}
}  // namespace detail

// binary16 bits -> float, exact (subnormals, infinities and NaN payloads included).
GEOMKIT_HD inline float half_bits_to_float(std::uint16_t h) noexcept {
    const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
    const std::uint32_t exponent = (h >> 10) & 0x1Fu;
    const std::uint32_t mantissa = h & 0x3FFu;
    if (exponent == 0x1Fu) return detail::float_from_bits(sign | 0x7F800000u | (mantissa << 13));
    if (exponent != 0) return detail::float_from_bits(sign | ((exponent + 112u) << 23) | (mantissa << 13));
    const float magnitude = float(mantissa) * 5.9604644775390625e-8f;  // mantissa * 2^-24, exact
    return sign ? -magnitude : magnitude;
}

// float -> binary16 bits, round to nearest even; overflow gives infinity, NaN stays NaN.
GEOMKIT_HD inline std::uint16_t float_to_half_bits(float f) noexcept {
    const std::uint32_t x = detail::bits_from_float(f);
    const std::uint32_t sign = (x >> 16) & 0x8000u;
    const std::uint32_t ax = x & 0x7FFFFFFFu;
    if (ax > 0x7F800000u) return std::uint16_t(sign | 0x7E00u);
    if (ax >= 0x477FF000u) return std::uint16_t(sign | 0x7C00u);  // >= 65520 rounds to inf
    if (ax >= 0x38800000u) {                                       // normal in binary16
        std::uint32_t r = ax - 0x38000000u;
        r += 0xFFFu + ((r >> 13) & 1u);
        return std::uint16_t(sign | (r >> 13));
    }
    const std::uint32_t e = ax >> 23;
    if (e < 102) return std::uint16_t(sign);  // below half the smallest subnormal
    const std::uint32_t m = (ax & 0x7FFFFFu) | 0x800000u;
    const std::uint32_t shift = 126u - e;  // 14..24
    std::uint32_t r = m >> shift;
    const std::uint32_t rest = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rest > half || (rest == half && (r & 1u))) ++r;
    return std::uint16_t(sign | r);
}

// bfloat16 bits -> float, exact.
GEOMKIT_HD inline float bfloat16_bits_to_float(std::uint16_t b) noexcept {
    return detail::float_from_bits(std::uint32_t(b) << 16);
}

// float -> bfloat16 bits, round to nearest even; NaN stays NaN.
GEOMKIT_HD inline std::uint16_t float_to_bfloat16_bits(float f) noexcept {
    const std::uint32_t x = detail::bits_from_float(f);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return std::uint16_t((x >> 16) | 0x40u);
    return std::uint16_t((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

// IEEE 754 binary16 value (storage only).
struct float16 {
    std::uint16_t bits = 0;
    GEOMKIT_HD static float16 from_bits(std::uint16_t b) noexcept { return float16{b}; }
    GEOMKIT_HD static float16 from_float(float f) noexcept { return float16{float_to_half_bits(f)}; }
    GEOMKIT_HD explicit operator float() const noexcept { return half_bits_to_float(bits); }
};

// bfloat16 value (storage only): the upper half of a binary32.
struct bfloat16 {
    std::uint16_t bits = 0;
    GEOMKIT_HD static bfloat16 from_bits(std::uint16_t b) noexcept { return bfloat16{b}; }
    GEOMKIT_HD static bfloat16 from_float(float f) noexcept { return bfloat16{float_to_bfloat16_bits(f)}; }
    GEOMKIT_HD explicit operator float() const noexcept { return bfloat16_bits_to_float(bits); }
};

static_assert(sizeof(float16) == 2 && sizeof(bfloat16) == 2, "16-bit storage types must be 2 bytes");

// Any supported key value as float (exact for float16, bfloat16 and float).
GEOMKIT_HD inline float to_float(float x) noexcept { return x; }
GEOMKIT_HD inline float to_float(float16 x) noexcept { return half_bits_to_float(x.bits); }
GEOMKIT_HD inline float to_float(bfloat16 x) noexcept { return bfloat16_bits_to_float(x.bits); }

}  // namespace geomkit
