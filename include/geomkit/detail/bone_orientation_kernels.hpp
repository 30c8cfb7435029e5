// Kernels behind geomkit/bone_orientation.hpp (included by it, after its types; not an
// API). The contract, formulas and precision policy are documented there.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#include "../config.hpp"
#include "../core/half.hpp"
#include "../core/parallel.hpp"
#include "../simd/dot.hpp"

#if (defined(__F16C__) || defined(__AVX512F__)) && (defined(__x86_64__) || defined(_M_X64))
#include <immintrin.h>
#endif

namespace geomkit {
namespace detail {

// ------------------------------------------------------------------ scalar reference math
// a * b rounded to double on its own, so the compiler cannot contract it with a following
// addition into an FMA (the reference rounds every product; -ffp-contract=fast would not).
GEOMKIT_HD GEOMKIT_FORCE_INLINE double unfused_product(double a, double b) noexcept {
#if GEOMKIT_DEVICE_PASS
    return __dmul_rn(a, b);
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
    double p = a * b;
    __asm__("" : "+x"(p));
    return p;
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
    double p = a * b;
    __asm__("" : "+w"(p));
    return p;
#else
    volatile double p = a * b;
    return p;
#endif
}

// A key value in the type the reference accumulates its layer means in: float for every
// 32-bit-or-narrower key type (exact), double for double keys.
GEOMKIT_HD inline float key_value(float x) noexcept { return x; }
GEOMKIT_HD inline float key_value(float16 x) noexcept { return to_float(x); }
GEOMKIT_HD inline float key_value(bfloat16 x) noexcept { return to_float(x); }
GEOMKIT_HD inline double key_value(double x) noexcept { return x; }
template <class T>
using mean_type_t = decltype(key_value(T{}));

// cos(a, b) of two heads (rows x cols values each, row strides stride_a / stride_b) exactly
// as the reference evaluates it: products of float32-exact doubles, summed one by one in
// flattened order, dot / (sqrt(|a|^2) * sqrt(|b|^2)), 0 when that denominator is 0.
template <class T>
GEOMKIT_HD double reference_cosine(const T* a, index_t stride_a, const T* b, index_t stride_b,
                                   index_t rows, index_t cols) noexcept {
    double dot = 0.0, na = 0.0, nb = 0.0;
    for (index_t r = 0; r < rows; ++r)
        for (index_t c = 0; c < cols; ++c) {
            const double x = double(key_value(a[r * stride_a + c]));
            const double y = double(key_value(b[r * stride_b + c]));
            dot += unfused_product(x, y);
            na += unfused_product(x, x);
            nb += unfused_product(y, y);
        }
    const double denom = std::sqrt(na) * std::sqrt(nb);
    return denom == 0.0 ? 0.0 : dot / denom;
}

// One element of a layer's mean key as the reference forms it: the heads summed in order
// in the mean type (float for float keys), then divided by the head count in that type.
template <class T>
GEOMKIT_HD mean_type_t<T> reference_mean_element(const T* layer, index_t heads, index_t head_stride,
                                                 index_t offset) noexcept {
    using M = mean_type_t<T>;
    M s = M(0);
    for (index_t h = 0; h < heads; ++h) s += key_value(layer[h * head_stride + offset]);
    return s / M(heads);
}

// cos(mean key of layer a, mean key of layer b), element for element as the reference.
template <class T>
GEOMKIT_HD double reference_mean_cosine(const T* a, index_t heads_a, index_t head_stride_a, index_t stride_a,
                                        const T* b, index_t heads_b, index_t head_stride_b, index_t stride_b,
                                        index_t rows, index_t cols) noexcept {
    double dot = 0.0, na = 0.0, nb = 0.0;
    for (index_t r = 0; r < rows; ++r)
        for (index_t c = 0; c < cols; ++c) {
            const double x = double(reference_mean_element(a, heads_a, head_stride_a, r * stride_a + c));
            const double y = double(reference_mean_element(b, heads_b, head_stride_b, r * stride_b + c));
            dot += unfused_product(x, y);
            na += unfused_product(x, x);
            nb += unfused_product(y, y);
        }
    const double denom = std::sqrt(na) * std::sqrt(nb);
    return denom == 0.0 ? 0.0 : dot / denom;
}

// Normalised Shannon entropy (base 2) of the distribution m_t / sum(m) over n magnitudes,
// divided by log2(n); 0 when n <= 1 or every magnitude is 0. Same operation order as the
// reference.
GEOMKIT_HD inline double entropy_from_magnitudes(const double* magnitudes, index_t n) noexcept {
    if (n <= 1) return 0.0;
    double total = 0.0;
    for (index_t t = 0; t < n; ++t) total += magnitudes[t];
    if (total == 0.0) return 0.0;
    double entropy = 0.0;
    for (index_t t = 0; t < n; ++t) {
        const double p = magnitudes[t] / total;
        if (p > 0) entropy -= unfused_product(p, std::log2(p));
    }
    return entropy / std::log2(double(n));
}

// ------------------------------------------------------------------ row loading (host)
// A row of n keys in their mean type: the keys themselves for float and double, otherwise
// converted into `scratch`.
inline const float* row_in_mean_type(const float* src, index_t, float*) noexcept { return src; }
inline const double* row_in_mean_type(const double* src, index_t, double*) noexcept { return src; }
inline const float* row_in_mean_type(const float16* src, index_t n, float* scratch) noexcept {
    index_t i = 0;
#if defined(__F16C__) && (defined(__x86_64__) || defined(_M_X64))
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(scratch + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
#endif
    for (; i < n; ++i) scratch[i] = to_float(src[i]);
    return scratch;
}
inline const float* row_in_mean_type(const bfloat16* src, index_t n, float* scratch) noexcept {
    for (index_t i = 0; i < n; ++i) scratch[i] = bfloat16_bits_to_float(src[i].bits);
    return scratch;
}

template <class M>
inline void widen_row(const M* src, index_t n, double* dst) noexcept {
    for (index_t i = 0; i < n; ++i) dst[i] = double(src[i]);
}

// ------------------------------------------------------------------ head-pair Gram tiles
// acc[i][j] += x_i . x_j (as lane-wise partial sums) for a TI x TI tile of head rows held
// as doubles, `ld` apart, n a multiple of the lane count. Diagonal tiles (the same heads on
// both sides) update only j > i.
#if GEOMKIT_HAS_SIMD
struct gram_lanes {
    using batch = simd::double_batch<simd::default_arch>;
    static constexpr index_t width = index_t(batch::size);
    static constexpr int tile = sizeof(batch) >= 64 ? 4 : 2;  // 32 vector registers on AVX-512
    static batch load(const double* p) noexcept { return batch::load_unaligned(p); }
    static void store(const batch& b, double* p) noexcept { b.store_unaligned(p); }
    static batch fma(const batch& a, const batch& b, const batch& c) noexcept { return xsimd::fma(a, b, c); }
    static double sum(const batch& b) noexcept { return simd::reduce_add<simd::default_arch>(b); }
};
#else
struct gram_lanes {
    using batch = double;
    static constexpr index_t width = 1;
    static constexpr int tile = 2;
    static batch load(const double* p) noexcept { return *p; }
    static void store(batch b, double* p) noexcept { *p = b; }
    static batch fma(batch a, batch b, batch c) noexcept { return a * b + c; }
    static double sum(batch b) noexcept { return b; }
};
#endif

template <int TI, bool Diagonal>
inline void gram_tile_update(const double* xi, const double* xj, index_t ld, index_t n, double* acc) noexcept {
    using V = gram_lanes;
    typename V::batch c[TI * TI];
    for (int q = 0; q < TI * TI; ++q) c[q] = V::load(acc + q * V::width);
    for (index_t k = 0; k < n; k += V::width) {
        typename V::batch a[TI], b[TI];
        for (int i = 0; i < TI; ++i) a[i] = V::load(xi + i * ld + k);
        if (!Diagonal)
            for (int j = 0; j < TI; ++j) b[j] = V::load(xj + j * ld + k);
        for (int i = 0; i < TI; ++i)
            for (int j = Diagonal ? i + 1 : 0; j < TI; ++j)
                c[i * TI + j] = V::fma(a[i], Diagonal ? a[j] : b[j], c[i * TI + j]);
    }
    for (int q = 0; q < TI * TI; ++q) V::store(c[q], acc + q * V::width);
}

// ------------------------------------------------------------------ multi-head pass
// One present layer as the multi-head pass sees it, and where its sums live inside one
// chunk's block of partial sums: [head pairs i<j][head |x|^2][|mean|^2][mean . previous mean].
template <class T>
struct mh_layer {
    const T* data;
    index_t heads, head_stride, position_stride;
    index_t partial_offset;    // first partial sum of this layer; -1 when the layer is missing
    index_t magnitude_offset;  // first of heads * seq_len row norms
};

GEOMKIT_HD inline index_t pair_index(index_t i, index_t j, index_t heads) noexcept {
    return i * (2 * heads - i - 1) / 2 + (j - i - 1);
}

// Streams rows [begin, end) of every layer once: per row, each head's |x|^2 (kept as a
// magnitude for the entropy), the layer's mean key and its products with the previous
// layer's, and the head-pair Gram tiles. Sums land in `partial`, magnitudes in
// `magnitudes[layer.magnitude_offset + head * seq_len + position]`.
template <class T>
void multi_head_rows(const std::vector<mh_layer<T>>& layers, index_t seq_len, index_t head_dim,
                     index_t begin, index_t end, double* partial, double* magnitudes) {
    using V = gram_lanes;
    using M = mean_type_t<T>;
    constexpr int TI = V::tile;
    index_t max_heads = 1;
    for (const auto& l : layers) max_heads = std::max(max_heads, l.heads);
    const index_t blocks = (max_heads + TI - 1) / TI;
    const index_t ld = (head_dim + V::width - 1) / V::width * V::width;  // zero padded
    const index_t D = head_dim;
    constexpr index_t R = 4;  // rows per tile update: x holds R rows of every head
    const index_t hs = R * ld;
    std::vector<double> x(static_cast<std::size_t>(blocks * TI * hs), 0.0);
    std::vector<M> converted(static_cast<std::size_t>(max_heads * D));
    std::vector<M> mean_now(static_cast<std::size_t>((end - begin) * D)), mean_before(mean_now.size());
    std::vector<const M*> row(static_cast<std::size_t>(max_heads));
    std::vector<double> acc(static_cast<std::size_t>(blocks * blocks * TI * TI * V::width));
    bool have_before = false;

    for (const auto& l : layers) {
        if (l.partial_offset < 0) {
            have_before = false;
            continue;
        }
        const index_t H = l.heads, nb = (H + TI - 1) / TI, pairs = H * (H - 1) / 2;
        double* sums = partial + l.partial_offset;
        std::fill(x.begin() + H * hs, x.end(), 0.0);
        std::fill(acc.begin(), acc.end(), 0.0);
        for (index_t p0 = begin; p0 < end; p0 += R) {
            const index_t group = std::min(R, end - p0);
            for (index_t p = p0; p < p0 + group; ++p) {
                for (index_t h = 0; h < H; ++h) {
                    const T* src = l.data + h * l.head_stride + p * l.position_stride;
                    row[std::size_t(h)] = row_in_mean_type(src, D, converted.data() + h * D);
                    double* xh = x.data() + h * hs + (p - p0) * ld;
                    widen_row(row[std::size_t(h)], D, xh);
                    const double n2 = simd::squared_norm(xh, ld);
                    sums[pairs + h] += n2;
                    magnitudes[l.magnitude_offset + h * seq_len + p] = std::sqrt(n2);
                }
                M* mean = mean_now.data() + (p - begin) * D;
                std::fill(mean, mean + D, M(0));
                for (index_t h = 0; h < H; ++h) {
                    const M* r = row[std::size_t(h)];
                    for (index_t c = 0; c < D; ++c) mean[c] += r[c];
                }
                for (index_t c = 0; c < D; ++c) mean[c] /= M(H);
                sums[pairs + H] += simd::squared_norm(mean, D);
                if (have_before) sums[pairs + H + 1] += simd::dot(mean_before.data() + (p - begin) * D, mean, D);
            }
            const index_t n = group * ld;
            for (index_t bi = 0; bi < nb; ++bi) {
                const double* xi = x.data() + bi * TI * hs;
                gram_tile_update<TI, true>(xi, xi, hs, n, acc.data() + (bi * blocks + bi) * TI * TI * V::width);
                for (index_t bj = bi + 1; bj < nb; ++bj)
                    gram_tile_update<TI, false>(xi, x.data() + bj * TI * hs, hs, n,
                                                acc.data() + (bi * blocks + bj) * TI * TI * V::width);
            }
        }
        for (index_t i = 0; i < H; ++i)
            for (index_t j = i + 1; j < H; ++j)
                sums[pair_index(i, j, H)] += V::sum(V::load(
                    acc.data() + (((i / TI) * blocks + j / TI) * TI * TI + (i % TI) * TI + j % TI) * V::width));
        std::swap(mean_now, mean_before);
        have_before = true;
    }
}

// ------------------------------------------------------------------ multi-head pass, AVX-512
// The same sums as multi_head_rows for keys read as float (float, float16, bfloat16), in one
// register-blocked sweep per block of positions: each position's head rows (L1-resident)
// are widened to double 8 values at a time straight from the float rows and multiplied
// into head-pair accumulators held in zmm registers: first the diagonal 4 x 4 head blocks
// (pairs and the per-position norms), then every off-diagonal 4 x 4 block, then the layer's
// float mean key. Products of float values are exact in double, so only the order of the
// additions differs from multi_head_rows (the error bounds hold for any order).
#if defined(__AVX512F__) && defined(__AVX512VL__) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GEOMKIT_BO_AVX512 1

GEOMKIT_FORCE_INLINE __m512d bo_widen(const float* p) noexcept {
    return _mm512_maskz_cvtps_pd(__mmask8(0xFF), _mm256_loadu_ps(p));
}
GEOMKIT_FORCE_INLINE __m512d bo_widen(const float* p, __mmask8 m) noexcept {
    return _mm512_maskz_cvtps_pd(__mmask8(0xFF), _mm256_maskz_loadu_ps(m, p));
}

// NB diagonal blocks of 4 heads: rows[p * stride + h] for h < 4 NB; pairs (i<j inside each
// block, 6 per block) accumulate in pair_acc, per-position squared norms go to norms[p * stride + h].
template <int NB>
inline void bo_diagonal_blocks(const float* const* rows, index_t stride, index_t positions, index_t D,
                               double* pair_acc, double* norms) noexcept {
    constexpr int NH = 4 * NB, NP = 6 * NB;
    __m512d pa[NP];
    for (int q = 0; q < NP; ++q) pa[q] = _mm512_loadu_pd(pair_acc + 8 * q);
    const __mmask8 tail = __mmask8((1u << (D % 8)) - 1u);
    for (index_t p = 0; p < positions; ++p) {
        const float* const* r = rows + p * stride;
        __m512d n[NH];
        for (int h = 0; h < NH; ++h) n[h] = _mm512_setzero_pd();
        auto step = [&](const __m512d* x) {
            for (int b = 0; b < NB; ++b) {
                const __m512d* y = x + 4 * b;
                __m512d* a = pa + 6 * b;
                for (int h = 0; h < 4; ++h) n[4 * b + h] = _mm512_fmadd_pd(y[h], y[h], n[4 * b + h]);
                a[0] = _mm512_fmadd_pd(y[0], y[1], a[0]);
                a[1] = _mm512_fmadd_pd(y[0], y[2], a[1]);
                a[2] = _mm512_fmadd_pd(y[0], y[3], a[2]);
                a[3] = _mm512_fmadd_pd(y[1], y[2], a[3]);
                a[4] = _mm512_fmadd_pd(y[1], y[3], a[4]);
                a[5] = _mm512_fmadd_pd(y[2], y[3], a[5]);
            }
        };
        index_t k = 0;
        for (; k + 8 <= D; k += 8) {
            __m512d x[NH];
            for (int h = 0; h < NH; ++h) x[h] = bo_widen(r[h] + k);
            step(x);
        }
        if (k < D) {
            __m512d x[NH];
            for (int h = 0; h < NH; ++h) x[h] = bo_widen(r[h] + k, tail);
            step(x);
        }
        for (int h = 0; h < NH; ++h) norms[p * stride + h] = _mm512_reduce_add_pd(n[h]);
    }
    for (int q = 0; q < NP; ++q) _mm512_storeu_pd(pair_acc + 8 * q, pa[q]);
}

// The 16 pairs between head blocks a (rows[.. + 0..3]) and b (rows[.. + 4..7] of `pick`).
inline void bo_cross_block(const float* const* rows, index_t stride, index_t ha, index_t hb, index_t positions,
                           index_t D, double* pair_acc) noexcept {
    __m512d c[16];
    for (int q = 0; q < 16; ++q) c[q] = _mm512_loadu_pd(pair_acc + 8 * q);
    const __mmask8 tail = __mmask8((1u << (D % 8)) - 1u);
    for (index_t p = 0; p < positions; ++p) {
        const float* const* r = rows + p * stride;
        auto step = [&](const __m512d* x, const __m512d* y) {
            for (int i = 0; i < 4; ++i)
                for (int j = 0; j < 4; ++j) c[4 * i + j] = _mm512_fmadd_pd(x[i], y[j], c[4 * i + j]);
        };
        index_t k = 0;
        for (; k + 8 <= D; k += 8) {
            __m512d x[4], y[4];
            for (int h = 0; h < 4; ++h) x[h] = bo_widen(r[ha + h] + k), y[h] = bo_widen(r[hb + h] + k);
            step(x, y);
        }
        if (k < D) {
            __m512d x[4], y[4];
            for (int h = 0; h < 4; ++h) x[h] = bo_widen(r[ha + h] + k, tail), y[h] = bo_widen(r[hb + h] + k, tail);
            step(x, y);
        }
    }
    for (int q = 0; q < 16; ++q) _mm512_storeu_pd(pair_acc + 8 * q, c[q]);
}

// The layer mean key of each position (heads summed in order in float from 0, divided by
// H in float, as the reference), stored to mean_now; accumulates |mean|^2 and, with
// mean_before, mean . previous mean (lanes in acc[0..8) and acc[8..16)).
inline void bo_mean_keys(const float* const* rows, index_t stride, index_t H, index_t positions, index_t D,
                         float* mean_now, const float* mean_before, double* acc) noexcept {
    __m512d sq = _mm512_loadu_pd(acc), cross = _mm512_loadu_pd(acc + 8);
    const __m512 heads = _mm512_set1_ps(float(H));
    for (index_t p = 0; p < positions; ++p) {
        const float* const* r = rows + p * stride;
        float* m = mean_now + p * D;
        const float* before = mean_before ? mean_before + p * D : nullptr;
        for (index_t k = 0; k < D; k += 16) {
            const __mmask16 mask = D - k >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (D - k)) - 1u);
            __m512 s = _mm512_setzero_ps();
            for (index_t h = 0; h < H; ++h) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(mask, r[h] + k));
            s = _mm512_div_ps(s, heads);
            _mm512_mask_storeu_ps(m + k, mask, s);
            const __m512d lo = _mm512_maskz_cvtps_pd(__mmask8(0xFF), _mm512_castps512_ps256(s));
            const __m512d hi = _mm512_maskz_cvtps_pd(
                __mmask8(0xFF), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1)));
            sq = _mm512_fmadd_pd(lo, lo, sq);
            sq = _mm512_fmadd_pd(hi, hi, sq);
            if (before) {
                const __m512 b = _mm512_maskz_loadu_ps(mask, before + k);
                const __m512d blo = _mm512_maskz_cvtps_pd(__mmask8(0xFF), _mm512_castps512_ps256(b));
                const __m512d bhi = _mm512_maskz_cvtps_pd(
                    __mmask8(0xFF), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(b), 1)));
                cross = _mm512_fmadd_pd(blo, lo, cross);
                cross = _mm512_fmadd_pd(bhi, hi, cross);
            }
        }
    }
    _mm512_storeu_pd(acc, sq);
    _mm512_storeu_pd(acc + 8, cross);
}

// multi_head_rows for keys read as float, on AVX-512.
template <class T>
void multi_head_rows_avx512(const std::vector<mh_layer<T>>& layers, index_t seq_len, index_t head_dim,
                            index_t begin, index_t end, double* partial, double* magnitudes) {
    const index_t D = head_dim;
    index_t max_heads = 1;
    for (const auto& l : layers) max_heads = std::max(max_heads, l.heads);
    const index_t HP = (max_heads + 3) / 4 * 4;  // heads padded with zero rows to whole blocks
    const index_t block = std::max<index_t>(1, (index_t(16) << 10) / (HP * std::max<index_t>(D, 1) * 4));
    std::vector<float> zeros(static_cast<std::size_t>(D + 16), 0.0f);
    std::vector<float> converted(std::is_same<T, float>::value ? 0 : static_cast<std::size_t>(block * max_heads * D));
    std::vector<const float*> rows(static_cast<std::size_t>(block * HP));
    std::vector<float> mean_now(static_cast<std::size_t>((end - begin) * D)), mean_before(mean_now.size());
    const index_t nb_max = HP / 4;
    std::vector<double> acc(static_cast<std::size_t>((nb_max * 6 + nb_max * (nb_max - 1) / 2 * 16 + 2) * 8));
    std::vector<double> norms(static_cast<std::size_t>(block * HP));
    bool have_before = false;
    for (const auto& l : layers) {
        if (l.partial_offset < 0) {
            have_before = false;
            continue;
        }
        const index_t H = l.heads, nb = (H + 3) / 4, hp = nb * 4, pairs = H * (H - 1) / 2;
        double* sums = partial + l.partial_offset;
        std::fill(acc.begin(), acc.end(), 0.0);
        double* diag_acc = acc.data();
        double* cross_acc = diag_acc + nb * 6 * 8;
        double* mean_acc = cross_acc + nb * (nb - 1) / 2 * 16 * 8;
        for (index_t p0 = begin; p0 < end; p0 += block) {
            const index_t n = std::min(block, end - p0);
            for (index_t p = 0; p < n; ++p)
                for (index_t h = 0; h < hp; ++h) {
                    const float* r = zeros.data();
                    if (h < H)
                        r = row_in_mean_type(l.data + h * l.head_stride + (p0 + p) * l.position_stride, D,
                                             converted.data() + (p * H + h) * D);
                    rows[std::size_t(p * hp + h)] = r;
                }
            index_t b = 0;
            for (; b + 2 <= nb; b += 2)
                bo_diagonal_blocks<2>(rows.data() + 4 * b, hp, n, D, diag_acc + b * 6 * 8, norms.data() + 4 * b);
            if (b < nb)
                bo_diagonal_blocks<1>(rows.data() + 4 * b, hp, n, D, diag_acc + b * 6 * 8, norms.data() + 4 * b);
            for (index_t p = 0; p < n; ++p)
                for (index_t h = 0; h < H; ++h) {
                    const double n2 = norms[std::size_t(p * hp + h)];
                    sums[pairs + h] += n2;
                    magnitudes[l.magnitude_offset + h * seq_len + p0 + p] = std::sqrt(n2);
                }
            index_t q = 0;
            for (index_t bi = 0; bi < nb; ++bi)
                for (index_t bj = bi + 1; bj < nb; ++bj, ++q)
                    bo_cross_block(rows.data(), hp, 4 * bi, 4 * bj, n, D, cross_acc + q * 16 * 8);
            bo_mean_keys(rows.data(), hp, H, n, D, mean_now.data() + (p0 - begin) * D,
                         have_before ? mean_before.data() + (p0 - begin) * D : nullptr, mean_acc);
        }
        for (index_t bi = 0; bi < nb; ++bi) {
            static constexpr int pi[6] = {0, 0, 0, 1, 1, 2}, pj[6] = {1, 2, 3, 2, 3, 3};
            for (int t = 0; t < 6; ++t) {
                const index_t i = 4 * bi + pi[t], j = 4 * bi + pj[t];
                if (j < H) sums[pair_index(i, j, H)] += _mm512_reduce_add_pd(_mm512_loadu_pd(diag_acc + (bi * 6 + t) * 8));
            }
        }
        index_t q = 0;
        for (index_t bi = 0; bi < nb; ++bi)
            for (index_t bj = bi + 1; bj < nb; ++bj, ++q)
                for (index_t i = 0; i < 4; ++i)
                    for (index_t j = 0; j < 4; ++j)
                        if (4 * bj + j < H)
                            sums[pair_index(4 * bi + i, 4 * bj + j, H)] +=
                                _mm512_reduce_add_pd(_mm512_loadu_pd(cross_acc + (q * 16 + i * 4 + j) * 8));
        sums[pairs + H] += _mm512_reduce_add_pd(_mm512_loadu_pd(mean_acc));
        if (have_before) sums[pairs + H + 1] += _mm512_reduce_add_pd(_mm512_loadu_pd(mean_acc + 8));
        std::swap(mean_now, mean_before);
        have_before = true;
    }
}
#endif

// multi_head_rows, on the AVX-512 kernels where the keys are read as float.
template <class T>
void multi_head_rows_fast(const std::vector<mh_layer<T>>& layers, index_t seq_len, index_t head_dim, index_t begin,
                          index_t end, double* partial, double* magnitudes) {
#if defined(GEOMKIT_BO_AVX512)
    if constexpr (std::is_same<mean_type_t<T>, float>::value) {
        multi_head_rows_avx512(layers, seq_len, head_dim, begin, end, partial, magnitudes);
        return;
    }
#endif
    multi_head_rows(layers, seq_len, head_dim, begin, end, partial, magnitudes);
}

// ------------------------------------------------------------------ position-wise pass
// Rows of one head scaled to unit length (zero rows stay zero), rounded to float into
// `unit` (seq_len x head_dim); returns sum over position pairs i<j of u_i . u_j, formed in
// O(S*D) as (|sum u|^2 - sum |u|^2) / 2 with compensated sums.
template <class T>
double position_wise_normalise(const T* head, index_t position_stride, index_t seq_len, index_t head_dim,
                               float* unit, double* magnitudes) {
    using M = mean_type_t<T>;
    const index_t D = head_dim;
    std::vector<M> converted(static_cast<std::size_t>(D));
    std::vector<double> x(static_cast<std::size_t>(D)), sum(static_cast<std::size_t>(D), 0.0), carry(static_cast<std::size_t>(D), 0.0);
    double self = 0.0, self_carry = 0.0;
    auto add = [](double& s, double& c, double v) {  // Neumaier
        const double t = s + v;
        c += std::fabs(s) >= std::fabs(v) ? (s - t) + v : (v - t) + s;
        s = t;
    };
    for (index_t p = 0; p < seq_len; ++p) {
        widen_row(row_in_mean_type(head + p * position_stride, D, converted.data()), D, x.data());
        const double n2 = simd::squared_norm(x.data(), D), norm = std::sqrt(n2);
        magnitudes[p] = norm;
        float* u = unit + p * D;
        if (!(n2 > 0.0)) {
            std::fill(u, u + D, 0.0f);
            continue;
        }
        // Column-wise loops (vectorised; each column's sums keep their order).
        double* v = x.data();
        for (index_t c = 0; c < D; ++c) v[c] /= norm;
        for (index_t c = 0; c < D; ++c) u[c] = float(v[c]);
        double* sc = sum.data();
        double* cc = carry.data();
        for (index_t c = 0; c < D; ++c) {  // Neumaier, branch-free
            const double t = sc[c] + v[c];
            cc[c] += std::fabs(sc[c]) >= std::fabs(v[c]) ? (sc[c] - t) + v[c] : (v[c] - t) + sc[c];
            sc[c] = t;
        }
        add(self, self_carry, simd::squared_norm(v, D));
    }
    double total = 0.0;
    for (index_t c = 0; c < D; ++c) {
        const double s = sum[std::size_t(c)] + carry[std::size_t(c)];
        total += s * s;
    }
    return 0.5 * (total - (self + self_carry));
}

// Counts the pairs (i, j), i in row block [i0, i0 + rows), j > i, whose reference cosine is
// below `threshold`. Cosines come from a float GEMM of unit rows; a float cosine within
// `band` of the threshold (the bound on its error) is settled by the reference cosine.
template <class T>
std::int64_t position_wise_count_below(const float* unit, index_t seq_len, index_t head_dim, index_t i0,
                                       index_t rows, const T* head, index_t position_stride,
                                       double threshold, double band, float* tile) {
    using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const Eigen::Map<const matrix> u(unit, seq_len, head_dim);
    float lo = float(threshold - band), hi = float(threshold + band);
    if (double(lo) > threshold - band) lo = std::nextafter(lo, -INFINITY);
    if (double(hi) < threshold + band) hi = std::nextafter(hi, INFINITY);
    std::int64_t below = 0;
    const index_t cols = seq_len - i0;
    Eigen::Map<matrix> c(tile, rows, cols);
    c.noalias() = u.middleRows(i0, rows) * u.middleRows(i0, cols).transpose();
    for (index_t i = 0; i < rows; ++i) {
        const float* ci = tile + i * cols;
        std::int32_t n_below = 0, n_band = 0;
        for (index_t j = i + 1; j < cols; ++j) {
            n_below += ci[j] < lo;
            n_band += (ci[j] >= lo) & (ci[j] <= hi);
        }
        below += n_below;
        if (n_band == 0) continue;
        const T* a = head + (i0 + i) * position_stride;
        for (index_t j = i + 1; j < cols; ++j)
            if (ci[j] >= lo && ci[j] <= hi)
                below += reference_cosine(a, 0, head + (i0 + j) * position_stride, 0, 1, head_dim) < threshold;
    }
    return below;
}

// ------------------------------------------------------------------ position-wise pairs, AVX-512
// Unit rows packed for bo_count_panel: panel c holds rows [32 c, 32 c + 32) transposed,
// packed[(c * D + k) * 32 + jj] = unit[(32 c + jj) * D + k], rows past seq_len zero.
#if defined(GEOMKIT_BO_AVX512)
constexpr index_t bo_panel_cols = 32, bo_panel_rows = 12;

inline void bo_pack_panels(const float* unit, index_t seq_len, index_t D, float* packed) noexcept {
    const index_t panels = (seq_len + bo_panel_cols - 1) / bo_panel_cols;
    for (index_t c = 0; c < panels; ++c)
        for (index_t jj = 0; jj < bo_panel_cols; ++jj) {
            const index_t j = c * bo_panel_cols + jj;
            float* dst = packed + c * D * bo_panel_cols + jj;
            if (j < seq_len)
                for (index_t k = 0; k < D; ++k) dst[k * bo_panel_cols] = unit[j * D + k];
            else
                for (index_t k = 0; k < D; ++k) dst[k * bo_panel_cols] = 0.0f;
        }
}

// position_wise_count_below for the pairs (i, j), i < j, j in column panel `panel`
// (columns [32 panel, 32 panel + 32)): 12 x 32 register tiles of float dot products of
// unit rows, compared with the band edges in registers. `unit` must be readable for
// 12 rows past seq_len (their pairs are masked out).
template <class T>
std::int64_t bo_count_panel(const float* unit, const float* packed, index_t seq_len, index_t D, index_t panel,
                            const T* head, index_t position_stride, double threshold, double band) {
    float lo = float(threshold - band), hi = float(threshold + band);
    if (double(lo) > threshold - band) lo = std::nextafter(lo, -INFINITY);
    if (double(hi) < threshold + band) hi = std::nextafter(hi, INFINITY);
    const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    const index_t j0 = panel * bo_panel_cols, i_end = std::min(j0 + bo_panel_cols, seq_len);
    const float* b = packed + panel * D * bo_panel_cols;
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i j_lo = _mm512_add_epi32(iota, _mm512_set1_epi32(int(j0)));
    const __m512i j_hi = _mm512_add_epi32(j_lo, _mm512_set1_epi32(16));
    const __m512i s = _mm512_set1_epi32(int(seq_len));
    std::int64_t below = 0;
    for (index_t i0 = 0; i0 < i_end; i0 += bo_panel_rows) {
        __m512 c[bo_panel_rows][2];
        for (int r = 0; r < bo_panel_rows; ++r) c[r][0] = c[r][1] = _mm512_setzero_ps();
        const float* a = unit + i0 * D;
        for (index_t k = 0; k < D; ++k) {
            const __m512 b0 = _mm512_loadu_ps(b + k * bo_panel_cols), b1 = _mm512_loadu_ps(b + k * bo_panel_cols + 16);
            for (int r = 0; r < bo_panel_rows; ++r) {
                const __m512 x = _mm512_set1_ps(a[r * D + k]);
                c[r][0] = _mm512_fmadd_ps(x, b0, c[r][0]);
                c[r][1] = _mm512_fmadd_ps(x, b1, c[r][1]);
            }
        }
        for (int r = 0; r < bo_panel_rows; ++r) {
            const index_t i = i0 + r;
            const __m512i vi = _mm512_set1_epi32(int(i));
            for (int v = 0; v < 2; ++v) {
                const __m512i jv = v == 0 ? j_lo : j_hi;
                const __mmask16 valid = _mm512_cmpgt_epi32_mask(jv, vi) & _mm512_cmplt_epi32_mask(jv, s);
                below += __builtin_popcount(_mm512_mask_cmp_ps_mask(valid, c[r][v], vlo, _CMP_LT_OQ));
                unsigned in_band = _mm512_mask_cmp_ps_mask(valid, c[r][v], vlo, _CMP_GE_OQ) &
                                   _mm512_cmp_ps_mask(c[r][v], vhi, _CMP_LE_OQ);
                while (in_band) {
                    const index_t j = j0 + 16 * v + index_t(__builtin_ctz(in_band));
                    in_band &= in_band - 1;
                    below += reference_cosine(head + i * position_stride, 0, head + j * position_stride, 0, 1, D) <
                             threshold;
                }
            }
        }
    }
    return below;
}
#endif

}  // namespace detail
}  // namespace geomkit
