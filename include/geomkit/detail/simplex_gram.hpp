// Gram matrix of a simplex's edge vectors, G_ij = (p_i - p_0)·(p_j - p_0) for i, j = 1..k,
// from k+1 vertex rows of d float or double values, in double. Host-side SIMD; the
// contract (precision, layout) is in geomkit/cayley_menger.hpp.
//
// Each vertex value is widened to double before the subtraction, so for float input the
// edge vectors are exact and only the double products and sums round. k <= 4 (up to the
// pentachoron) runs as one fused pass over the k+1 rows with a register accumulator per
// Gram entry; larger k does one pass per entry.
//
// `next` (optional, k+1 rows of the simplex to be computed after this one): the fused
// pass prefetches their cache lines at the pace it consumes its own, so rows drawn at
// random from a table larger than the caches arrive while this simplex is computed. (A
// burst of prefetches for all of them up front overflows the core's outstanding-miss
// slots and bought nothing measurable; interleaved, the misses overlap the FMA work.)
#pragma once

#include <algorithm>
#include <cmath>

#include "../config.hpp"
#include "../simd/arch.hpp"
#include "../simd/dot.hpp"

namespace geomkit {
namespace detail {

// Lower triangle (row-major, full k×k storage) of the edge Gram, scalar reference path.
// `scale` (a power of two) multiplies every vertex before the subtraction: exact, and it
// brings huge or tiny coordinates back into range.
template <class T>
void edge_gram_scalar(const T* const* v, int k, index_t d, double scale, double* G) noexcept {
    for (int i = 0; i < k; ++i)
        for (int j = 0; j <= i; ++j) {
            double s = 0.0;
            for (index_t l = 0; l < d; ++l)
                s += (double(v[i + 1][l]) * scale - double(v[0][l]) * scale) *
                     (double(v[j + 1][l]) * scale - double(v[0][l]) * scale);
            G[i * k + j] = s;
        }
}

#if GEOMKIT_HAS_SIMD
// One pass over the K+1 rows, K(K+1)/2 accumulators, U-fold unrolled when there are too
// few accumulators to hide the FMA latency.
template <class Arch, int K, class T>
GEOMKIT_FORCE_INLINE void edge_gram_fused(const T* const* v, index_t d, double* G, const T* const* next) noexcept {
    using batch = simd::double_batch<Arch>;
    constexpr index_t w = index_t(batch::size);
    constexpr int P = K * (K + 1) / 2;
    constexpr int U = P >= 6 ? 1 : (P >= 3 ? 2 : 4);
    batch acc[U][P];
    for (int u = 0; u < U; ++u)
        for (int p = 0; p < P; ++p) acc[u][p] = batch(0.0);
    const T* o = v[0];
    index_t l = 0;
    for (; l + U * w <= d; l += U * w) {
        if (next) {  // the lines of `next` that start where this step's bytes do
            constexpr index_t step = U * w * index_t(sizeof(T));
            const index_t b0 = l * index_t(sizeof(T));
            for (index_t offset = (b0 + 63) / 64 * 64; offset < b0 + step; offset += 64)
                for (int i = 0; i <= K; ++i) GEOMKIT_PREFETCH(reinterpret_cast<const char*>(next[i]) + offset);
        }
        for (int u = 0; u < U; ++u) {
            const batch base = simd::load_as_double<Arch>(o + l + u * w);
            batch e[K];
            for (int i = 0; i < K; ++i) e[i] = simd::load_as_double<Arch>(v[i + 1] + l + u * w) - base;
            int p = 0;
            for (int i = 0; i < K; ++i)
                for (int j = 0; j <= i; ++j, ++p) acc[u][p] = xsimd::fma(e[i], e[j], acc[u][p]);
        }
    }
    for (; l + w <= d; l += w) {
        const batch base = simd::load_as_double<Arch>(o + l);
        batch e[K];
        for (int i = 0; i < K; ++i) e[i] = simd::load_as_double<Arch>(v[i + 1] + l) - base;
        int p = 0;
        for (int i = 0; i < K; ++i)
            for (int j = 0; j <= i; ++j, ++p) acc[0][p] = xsimd::fma(e[i], e[j], acc[0][p]);
    }
    double s[P];
    for (int p = 0; p < P; ++p) {
        batch t = acc[0][p];
        for (int u = 1; u < U; ++u) t += acc[u][p];
        s[p] = simd::reduce_add<Arch>(t);
    }
    for (; l < d; ++l) {
        double e[K];
        for (int i = 0; i < K; ++i) e[i] = double(v[i + 1][l]) - double(o[l]);
        int p = 0;
        for (int i = 0; i < K; ++i)
            for (int j = 0; j <= i; ++j, ++p) s[p] += e[i] * e[j];
    }
    int p = 0;
    for (int i = 0; i < K; ++i)
        for (int j = 0; j <= i; ++j, ++p) G[i * K + j] = s[p];
}

// (a - o)·(b - o) in one pass over three rows.
template <class Arch, class T>
inline double edge_dot(const T* a, const T* b, const T* o, index_t d) noexcept {
    index_t l = 0;
    double s = simd::detail::accumulate_batches<Arch>(d, l, [&](index_t j, const simd::double_batch<Arch>& acc) {
        const auto base = simd::load_as_double<Arch>(o + j);
        return xsimd::fma(simd::load_as_double<Arch>(a + j) - base,
                          simd::load_as_double<Arch>(b + j) - base, acc);
    });
    for (; l < d; ++l) s += (double(a[l]) - double(o[l])) * (double(b[l]) - double(o[l]));
    return s;
}
#endif

// Lower triangle of the edge Gram of the simplex v[0..k] (k >= 1), full k×k storage;
// `next` (may be null) as above.
template <class Arch = simd::default_arch, class T>
void edge_gram(const T* const* v, int k, index_t d, double* G, const T* const* next = nullptr) noexcept {
#if GEOMKIT_HAS_SIMD
    switch (k) {
        case 1: return edge_gram_fused<Arch, 1>(v, d, G, next);
        case 2: return edge_gram_fused<Arch, 2>(v, d, G, next);
        case 3: return edge_gram_fused<Arch, 3>(v, d, G, next);
        case 4: return edge_gram_fused<Arch, 4>(v, d, G, next);
        default:
            for (int i = 0; i < k; ++i)
                for (int j = 0; j <= i; ++j) G[i * k + j] = edge_dot<Arch>(v[i + 1], v[j + 1], v[0], d);
    }
#else
    (void)next;
    edge_gram_scalar(v, k, d, 1.0, G);
#endif
}

}  // namespace detail
}  // namespace geomkit
