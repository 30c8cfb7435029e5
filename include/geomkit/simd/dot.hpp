// Dot products, squared norms and squared distances of float or double vectors,
// accumulated in double.
//
// Precision policy: float inputs are widened to double before they are multiplied, so
// each product is exact and only the double-precision sum rounds (relative error about
// n * 2^-53, against n * 2^-24 for a float accumulator). The SIMD versions keep four
// independent accumulators; they agree with the scalar versions in `simd::scalar` to
// rounding, not bitwise, because the order of additions differs. Any length and any
// alignment is accepted; the tail after the last full batch is done in scalar code.
#pragma once

#include "../config.hpp"
#include "arch.hpp"

namespace geomkit {
namespace simd {

namespace scalar {
template <class T>
GEOMKIT_HD inline double dot(const T* a, const T* b, index_t n) noexcept {
    double s = 0.0;
    for (index_t i = 0; i < n; ++i) s += double(a[i]) * double(b[i]);
    return s;
}
template <class T>
GEOMKIT_HD inline double squared_norm(const T* a, index_t n) noexcept {
    double s = 0.0;
    for (index_t i = 0; i < n; ++i) s += double(a[i]) * double(a[i]);
    return s;
}
template <class T>
GEOMKIT_HD inline double squared_distance(const T* a, const T* b, index_t n) noexcept {
    double s = 0.0;
    for (index_t i = 0; i < n; ++i) {
        const double d = double(a[i]) - double(b[i]);
        s += d * d;
    }
    return s;
}
}  // namespace scalar

#if GEOMKIT_HAS_SIMD
namespace detail {
// Sums step(i) over full batches with four accumulators and returns the reduced total and
// the index where the scalar tail starts.
template <class Arch, class Step>
GEOMKIT_FORCE_INLINE double accumulate_batches(index_t n, index_t& tail, Step step) noexcept {
    using batch = double_batch<Arch>;
    constexpr index_t w = index_t(batch::size);
    batch s0(0.0), s1(0.0), s2(0.0), s3(0.0);
    index_t i = 0;
    for (; i + 4 * w <= n; i += 4 * w) {
        s0 = step(i, s0);
        s1 = step(i + w, s1);
        s2 = step(i + 2 * w, s2);
        s3 = step(i + 3 * w, s3);
    }
    for (; i + w <= n; i += w) s0 = step(i, s0);
    tail = i;
    return reduce_add<Arch>((s0 + s1) + (s2 + s3));
}
}  // namespace detail

template <class Arch = default_arch, class T>
inline double dot(const T* a, const T* b, index_t n) noexcept {
    index_t i = 0;
    double s = detail::accumulate_batches<Arch>(n, i, [&](index_t j, const double_batch<Arch>& acc) {
        return xsimd::fma(load_as_double<Arch>(a + j), load_as_double<Arch>(b + j), acc);
    });
    for (; i < n; ++i) s += double(a[i]) * double(b[i]);
    return s;
}

template <class Arch = default_arch, class T>
inline double squared_norm(const T* a, index_t n) noexcept {
    index_t i = 0;
    double s = detail::accumulate_batches<Arch>(n, i, [&](index_t j, const double_batch<Arch>& acc) {
        const auto x = load_as_double<Arch>(a + j);
        return xsimd::fma(x, x, acc);
    });
    for (; i < n; ++i) s += double(a[i]) * double(a[i]);
    return s;
}

template <class Arch = default_arch, class T>
inline double squared_distance(const T* a, const T* b, index_t n) noexcept {
    index_t i = 0;
    double s = detail::accumulate_batches<Arch>(n, i, [&](index_t j, const double_batch<Arch>& acc) {
        const auto d = load_as_double<Arch>(a + j) - load_as_double<Arch>(b + j);
        return xsimd::fma(d, d, acc);
    });
    for (; i < n; ++i) {
        const double d = double(a[i]) - double(b[i]);
        s += d * d;
    }
    return s;
}
#else
template <class Arch = default_arch, class T>
inline double dot(const T* a, const T* b, index_t n) noexcept { return scalar::dot(a, b, n); }
template <class Arch = default_arch, class T>
inline double squared_norm(const T* a, index_t n) noexcept { return scalar::squared_norm(a, n); }
template <class Arch = default_arch, class T>
inline double squared_distance(const T* a, const T* b, index_t n) noexcept {
    return scalar::squared_distance(a, b, n);
}
#endif

}  // namespace simd
}  // namespace geomkit
