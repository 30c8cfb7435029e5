// The thin layer between geomkit's kernels and xsimd: which instruction set a kernel is
// compiled for, widening float loads, and the pieces of xsimd whose names changed between
// releases.
//
// Kernels are templates on an xsimd architecture tag `Arch`, defaulting to the best one
// the translation unit is compiled for (xsimd::default_arch); code built without any SIMD
// instruction set uses the scalar paths. No ISA flag is ever imposed on the consumer.
#pragma once

#include "../config.hpp"

#if !GEOMKIT_DEVICE_COMPILER
#include <xsimd/xsimd.hpp>
#endif

#if defined(XSIMD_NO_SUPPORTED_ARCHITECTURE) || GEOMKIT_DEVICE_COMPILER
#define GEOMKIT_HAS_SIMD 0
#else
#define GEOMKIT_HAS_SIMD 1
#endif

namespace geomkit {
namespace simd {

#if GEOMKIT_HAS_SIMD
using default_arch = xsimd::default_arch;

// Name of the instruction set the kernels of this translation unit use ("avx2", ...).
inline const char* arch_name() { return default_arch::name(); }

template <class Arch>
using double_batch = xsimd::batch<double, Arch>;

// Horizontal sum of a batch. Written out rather than calling xsimd's (`hadd` in 8.x,
// `reduce_add` from 9.0) so it is one code path for every xsimd release, sums in a fixed
// order, and avoids a GCC 12 false -Wmaybe-uninitialized in xsimd 8.1's AVX-512 hadd.
template <class Arch>
GEOMKIT_FORCE_INLINE double reduce_add(const double_batch<Arch>& x) noexcept {
    constexpr std::size_t n = double_batch<Arch>::size;
    alignas(64) double lanes[n];
    x.store_aligned(lanes);
    double s = 0.0;
    for (std::size_t i = 0; i < n; ++i) s += lanes[i];
    return s;
}

namespace detail {
// Matches any architecture tag through a user-defined conversion, so it ranks below every
// overload taking an xsimd tag base (xsimd's own root tag was `generic` before 13.0 and
// is `common` since, so it is not named here).
struct any_arch {
    template <class Arch>
    any_arch(Arch) noexcept {}
};

// Loads double_batch<Arch>::size floats from p (any alignment) widened to double. The
// fallback goes through memory; the x86 and AArch64 ones are one convert each.
template <class Arch>
GEOMKIT_FORCE_INLINE double_batch<Arch> load_widened(const float* p, any_arch) noexcept {
    alignas(64) double tmp[double_batch<Arch>::size];
    for (std::size_t i = 0; i < double_batch<Arch>::size; ++i) tmp[i] = double(p[i]);
    return double_batch<Arch>::load_aligned(tmp);
}
#if XSIMD_WITH_SSE2
template <class Arch>
GEOMKIT_FORCE_INLINE double_batch<Arch> load_widened(const float* p, xsimd::sse2) noexcept {
    return _mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}
#endif
#if XSIMD_WITH_AVX
template <class Arch>
GEOMKIT_FORCE_INLINE double_batch<Arch> load_widened(const float* p, xsimd::avx) noexcept {
    return _mm256_cvtps_pd(_mm_loadu_ps(p));
}
#endif
#if XSIMD_WITH_AVX512F
template <class Arch>
GEOMKIT_FORCE_INLINE double_batch<Arch> load_widened(const float* p, xsimd::avx512f) noexcept {
    // The zero-masked form: GCC 12 warns spuriously on the unmasked one (GCC PR 105593).
    return _mm512_maskz_cvtps_pd(__mmask8(0xFF), _mm256_loadu_ps(p));
}
#endif
#if XSIMD_WITH_NEON64
template <class Arch>
GEOMKIT_FORCE_INLINE double_batch<Arch> load_widened(const float* p, xsimd::neon64) noexcept {
    return vcvt_f64_f32(vld1_f32(p));
}
#endif
}  // namespace detail

// double_batch<Arch>::size values from p as doubles, whether p holds float or double.
template <class Arch>
GEOMKIT_FORCE_INLINE double_batch<Arch> load_as_double(const double* p) noexcept {
    return double_batch<Arch>::load_unaligned(p);
}
template <class Arch>
GEOMKIT_FORCE_INLINE double_batch<Arch> load_as_double(const float* p) noexcept {
    return detail::load_widened<Arch>(p, Arch{});
}
#else
struct default_arch {
    static constexpr const char* name() noexcept { return "scalar"; }
};
inline const char* arch_name() { return "scalar"; }
#endif

}  // namespace simd
}  // namespace geomkit
