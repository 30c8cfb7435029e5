// Two-stage reduction of a dense matrix to upper bidiagonal form, values only (no U, V):
// the singular values of the bidiagonal are those of the matrix.
//
// Stage 1, dense -> upper band (reduce_to_upper_band): for each panel of b columns, a
// Householder QR of the panel and a Householder LQ of the b rows to its right, each
// factored recursively (panel_qr: the halves' reflectors applied to each other as matrix
// products, their block reflector I − V·T·Vᵀ built as it goes, as LAPACK's dgeqrt3). The
// trailing matrix C is updated by both block reflectors in two passes over its memory:
// Y = Vᵀ·C by fixed chunks of columns, then, by fixed chunks of rows, the left update
// C −= V·(Tᵀ·Y) and right away the right one C −= (C·Vₜ)·Tₜ·Vₜᵀ on the same rows while
// they sit in cache (the b rows the LQ needs are updated first, on their own). The chunks
// run on geomkit threads; the products are the block-reflector kernels below (rank_update
// and friends), chunks of 48 rows so that a chunk's rows (48 × n doubles) stay in L2 through
// its three products. The result has b superdiagonals: row r is nonzero only in
// columns r..r+b. Nearly all of its 4mn² − 4n³/3 flops are matrix products.
//
// Stage 2, band -> bidiagonal (chase_band_to_bidiagonal): sweep i annihilates row i
// beyond its superdiagonal with a right reflector over columns i+1..i+b, then chases the
// bulge it makes down the band: a left reflector on the same b rows annihilates the
// bulge's first column, the next right reflector the overhang it leaves in the block's
// first row, and so on, b further each step (the scheme of LAPACK's *sb2st and PLASMA's
// *gbrdb kernels; only the first row/column of a bulge is removed, the rest is removed by
// the next sweeps). Each step touches a 2b × 3b block, so the stage is memory-light, with
// ~8·b·n² flops. The band stays in the dense column-major array (no band storage).
// With threads > 1 the sweeps run in a pipeline: step j of sweep i + 1 starts once sweep i
// has finished its step j + 2, the last of its steps whose block overlaps step j's (the
// same values, bit for bit). It is 1.8x faster at n = 2048 on an idle 2-core host, but
// its threads wait on each other every step: on a host with more runnable threads than
// cores a waiting thread waits out the time slices of a preempted one, and the chase took
// 3-4 s instead of 0.15 s beside a build. So the default is one thread.
//
// Both stages are orthogonal transformations applied in a fixed order, so the bidiagonal
// is backward stable (the singular values carry an absolute error ~ε·‖A‖) and does not
// depend on the number of threads: every chunk is fixed by the sizes alone, every product
// inside a chunk is single-threaded, and every step of the chase sees the data its
// sequential order would give it.
#pragma once

#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <Eigen/Householder>
#include <Eigen/QR>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <memory>
#include <thread>
#include <type_traits>
#include <vector>

#include "../core/parallel.hpp"
#include "../simd/arch.hpp"

namespace geomkit {
namespace detail {

// ------------------------------------------------------------ block-reflector products
// The trailing updates of the reductions below are products with one short side: b (or
// 2b) reflectors against a long row or column of the matrix. A general GEMM packs both
// operands for every call, and on these shapes (one call per row or column chunk) it ran
// at 40–60 % of a Zen 4 core's FMA peak. The three kernels here read their operands in
// place, column-major, and hold an MV-vector × NC-column block of the result in registers:
//   rank_update:   C −= A·B   (C h × N, A h × k, B k × N; k small)
//   times_short_t: W  = C·Bᵀ  (W h × k, C h × N, B k × N)
//   short_t_times: Y  = Aᵀ·C  (Y k × w, A M × k, C M × w), Y(q, c) at y[q·sq + c·sc]
// Each output entry is summed in a fixed order (the short index; or the long one in
// blocks of 256, within a block in vector lanes then across lanes) that depends on the
// sizes only, never on the thread that runs the call. Rows that do not fill a vector run
// the same sums in scalar code. With their operands in L1 they reach 93–98 % of a Zen 4
// core's peak; on the reductions' real chunks, which stream from L2 and memory, about 40 of
// its 58 GFLOP/s.
template <class Arch>
struct reflector_block {
#if GEOMKIT_HAS_SIMD
    using batch = xsimd::batch<double, Arch>;
    static constexpr index_t lanes = index_t(batch::size);
#if XSIMD_WITH_AVX512F
    static constexpr int cols = std::is_base_of<xsimd::avx512f, Arch>::value ? 8 : 4;
#else
    static constexpr int cols = 4;
#endif
#else
    static constexpr index_t lanes = 1;
    static constexpr int cols = 4;
#endif
    static constexpr int vecs = 3;
};

#if GEOMKIT_HAS_SIMD
template <class Arch, int MV, int NC>
GEOMKIT_FORCE_INLINE void rank_update_tile(double* c, index_t ldc, const double* a, index_t lda, const double* b,
                                           index_t ldb, index_t k) {
    using batch = typename reflector_block<Arch>::batch;
    constexpr index_t L = reflector_block<Arch>::lanes;
    batch acc[MV][NC];
    for (int j = 0; j < NC; ++j)
        for (int v = 0; v < MV; ++v) acc[v][j] = batch::load_unaligned(c + j * ldc + v * L);
    for (index_t p = 0; p < k; ++p) {
        batch x[MV];
        for (int v = 0; v < MV; ++v) x[v] = batch::load_unaligned(a + p * lda + v * L);
        for (int j = 0; j < NC; ++j) {
            const batch y(b[j * ldb + p]);
            for (int v = 0; v < MV; ++v) acc[v][j] = xsimd::fnma(x[v], y, acc[v][j]);
        }
    }
    for (int j = 0; j < NC; ++j)
        for (int v = 0; v < MV; ++v) acc[v][j].store_unaligned(c + j * ldc + v * L);
}

template <class Arch, int MV, int NC>
GEOMKIT_FORCE_INLINE void times_short_t_tile(double* w, index_t ldw, const double* c, index_t ldc, const double* b,
                                             index_t ldb, index_t n, bool add) {
    using batch = typename reflector_block<Arch>::batch;
    constexpr index_t L = reflector_block<Arch>::lanes;
    batch acc[MV][NC];
    for (int j = 0; j < NC; ++j)
        for (int v = 0; v < MV; ++v) acc[v][j] = batch(0.0);
    for (index_t p = 0; p < n; ++p) {
        batch x[MV];
        for (int v = 0; v < MV; ++v) x[v] = batch::load_unaligned(c + p * ldc + v * L);
        for (int j = 0; j < NC; ++j) {
            const batch y(b[p * ldb + j]);
            for (int v = 0; v < MV; ++v) acc[v][j] = xsimd::fma(x[v], y, acc[v][j]);
        }
    }
    for (int j = 0; j < NC; ++j)
        for (int v = 0; v < MV; ++v) {
            if (add) acc[v][j] += batch::load_unaligned(w + j * ldw + v * L);
            acc[v][j].store_unaligned(w + j * ldw + v * L);
        }
}

// Sums rows [0, m) of the tile; `add`: y += the sums, else y = the sums.
template <class Arch, int QA, int QC>
GEOMKIT_FORCE_INLINE void short_t_times_tile(double* y, index_t sq, index_t sc, const double* a, index_t lda,
                                             const double* c, index_t ldc, index_t m, bool add) {
    using batch = typename reflector_block<Arch>::batch;
    constexpr index_t L = reflector_block<Arch>::lanes;
    batch acc[QA][QC];
    for (int i = 0; i < QA; ++i)
        for (int j = 0; j < QC; ++j) acc[i][j] = batch(0.0);
    const index_t full = m - m % L;
    for (index_t p = 0; p < full; p += L) {
        batch x[QA];
        for (int i = 0; i < QA; ++i) x[i] = batch::load_unaligned(a + i * lda + p);
        for (int j = 0; j < QC; ++j) {
            const batch z = batch::load_unaligned(c + j * ldc + p);
            for (int i = 0; i < QA; ++i) acc[i][j] = xsimd::fma(x[i], z, acc[i][j]);
        }
    }
    for (int i = 0; i < QA; ++i)
        for (int j = 0; j < QC; ++j) {
            double s = simd::reduce_add(acc[i][j]);
            for (index_t p = full; p < m; ++p) s = std::fma(a[i * lda + p], c[j * ldc + p], s);
            y[i * sq + j * sc] = add ? y[i * sq + j * sc] + s : s;
        }
}
#endif

// C −= A·B. Rows in blocks of `row_block` (A's rows stay in cache across B's columns).
template <class Arch = simd::default_arch>
void rank_update(double* c, index_t ldc, index_t h, index_t n, const double* a, index_t lda, const double* b,
                 index_t ldb, index_t k) {
    if (h <= 0 || n <= 0 || k <= 0) return;
    index_t i0 = 0;
#if GEOMKIT_HAS_SIMD
    using RB = reflector_block<Arch>;
    constexpr index_t L = RB::lanes, tile = RB::vecs * L;
    constexpr int NC = RB::cols;
    constexpr index_t row_block = 8 * tile;
    const index_t vec_rows = h - h % L;
    for (index_t r0 = 0; r0 < vec_rows; r0 += row_block) {
        const index_t r1 = std::min(vec_rows, r0 + row_block);
        // Whole tiles end at r2, whole column groups at n_full (bounds computed up front:
        // GCC 12 misreads `j + NC <= n` loops followed by a remainder loop when n is known).
        const index_t r2 = r0 + (r1 - r0) / tile * tile, n_full = n / NC * NC;
        for (index_t j = 0; j < n_full; j += NC) {
            for (index_t i = r0; i < r2; i += tile)
                rank_update_tile<Arch, RB::vecs, NC>(c + j * ldc + i, ldc, a + i, lda, b + j * ldb, ldb, k);
            for (index_t i = r2; i < r1; i += L)
                rank_update_tile<Arch, 1, NC>(c + j * ldc + i, ldc, a + i, lda, b + j * ldb, ldb, k);
        }
        for (index_t j = n_full; j < n; ++j) {
            for (index_t i = r0; i < r2; i += tile)
                rank_update_tile<Arch, RB::vecs, 1>(c + j * ldc + i, ldc, a + i, lda, b + j * ldb, ldb, k);
            for (index_t i = r2; i < r1; i += L) rank_update_tile<Arch, 1, 1>(c + j * ldc + i, ldc, a + i, lda, b + j * ldb, ldb, k);
        }
    }
    i0 = vec_rows;
#endif
    for (index_t j = 0; j < n; ++j)
        for (index_t i = i0; i < h; ++i) {
            double s = c[j * ldc + i];
            for (index_t p = 0; p < k; ++p) s = std::fma(-a[p * lda + i], b[j * ldb + p], s);
            c[j * ldc + i] = s;
        }
}

// W = C·Bᵀ (W column-major with leading dimension ldw). The long index runs in blocks of
// 256 (C's columns), every tile of W summing one block before the next, so that the block
// stays in cache while the tiles of W's columns each read it; each entry is the sum, in
// block order, of its blocks' sums.
template <class Arch = simd::default_arch>
void times_short_t(double* w, index_t ldw, index_t h, index_t k, const double* c, index_t ldc, const double* b,
                   index_t ldb, index_t n) {
    if (h <= 0 || k <= 0) return;
    index_t i0 = 0;
#if GEOMKIT_HAS_SIMD
    using RB = reflector_block<Arch>;
    constexpr index_t L = RB::lanes, tile = RB::vecs * L;
    constexpr int NC = RB::cols;
    const index_t vec_rows = h - h % L;
    const index_t tiled = vec_rows / tile * tile, k_full = k / NC * NC;
    constexpr index_t col_block = 256;
    index_t p0 = 0;
    do {
        const index_t nn = std::min(col_block, n - p0);
        const bool add = p0 > 0;
        const double* cp = c + p0 * ldc;
        const double* bp = b + p0 * ldb;
        for (index_t i = 0; i < tiled; i += tile) {
            for (index_t j = 0; j < k_full; j += NC)
                times_short_t_tile<Arch, RB::vecs, NC>(w + j * ldw + i, ldw, cp + i, ldc, bp + j, ldb, nn, add);
            for (index_t j = k_full; j < k; ++j)
                times_short_t_tile<Arch, RB::vecs, 1>(w + j * ldw + i, ldw, cp + i, ldc, bp + j, ldb, nn, add);
        }
        for (index_t i = tiled; i < vec_rows; i += L) {
            for (index_t j = 0; j < k_full; j += NC)
                times_short_t_tile<Arch, 1, NC>(w + j * ldw + i, ldw, cp + i, ldc, bp + j, ldb, nn, add);
            for (index_t j = k_full; j < k; ++j)
                times_short_t_tile<Arch, 1, 1>(w + j * ldw + i, ldw, cp + i, ldc, bp + j, ldb, nn, add);
        }
        p0 += nn;
    } while (p0 < n);
    i0 = vec_rows;
#endif
    for (index_t j = 0; j < k; ++j)
        for (index_t r = i0; r < h; ++r) {
            double s = 0;
            for (index_t p = 0; p < n; ++p) s = std::fma(c[p * ldc + r], b[p * ldb + j], s);
            w[j * ldw + r] = s;
        }
}

// Y = Aᵀ·C, Y(q, c) written to y[q·sq + c·sc]. The long index runs in blocks of 256 rows,
// every tile of Y summing one block before the next, so that a block of A and of C is read
// from memory once and then from cache: on a 32000-row QR reading each column whole for
// every tile left the kernel waiting on memory (45 % of the QR's time). Each entry is the
// sum, in block order, of its blocks' sums.
template <class Arch = simd::default_arch>
void short_t_times(double* y, index_t sq, index_t sc, const double* a, index_t lda, index_t k, const double* c,
                   index_t ldc, index_t w, index_t m) {
    if (k <= 0 || w <= 0) return;
#if GEOMKIT_HAS_SIMD
    using RB = reflector_block<Arch>;
    constexpr int QA = RB::cols == 8 ? 4 : 3, QC = RB::cols == 8 ? 6 : 4;
    constexpr index_t row_block = 256;
    const index_t k_full = k / QA * QA, w_full = w / QC * QC;
    index_t p0 = 0;
    do {
        const index_t mm = std::min(row_block, m - p0);
        const bool add = p0 > 0;
        const double* ap = a + p0;
        const double* cp = c + p0;
        for (index_t q = 0; q < k_full; q += QA) {
            for (index_t j = 0; j < w_full; j += QC)
                short_t_times_tile<Arch, QA, QC>(y + q * sq + j * sc, sq, sc, ap + q * lda, lda, cp + j * ldc, ldc, mm, add);
            for (index_t j = w_full; j < w; ++j)
                short_t_times_tile<Arch, QA, 1>(y + q * sq + j * sc, sq, sc, ap + q * lda, lda, cp + j * ldc, ldc, mm, add);
        }
        for (index_t q = k_full; q < k; ++q) {
            for (index_t j = 0; j < w_full; j += QC)
                short_t_times_tile<Arch, 1, QC>(y + q * sq + j * sc, sq, sc, ap + q * lda, lda, cp + j * ldc, ldc, mm, add);
            for (index_t j = w_full; j < w; ++j)
                short_t_times_tile<Arch, 1, 1>(y + q * sq + j * sc, sq, sc, ap + q * lda, lda, cp + j * ldc, ldc, mm, add);
        }
        p0 += mm;
    } while (p0 < m);
#else
    for (index_t q = 0; q < k; ++q)
        for (index_t j = 0; j < w; ++j) {
            double s = 0;
            for (index_t p = 0; p < m; ++p) s = std::fma(a[q * lda + p], c[j * ldc + p], s);
            y[q * sq + j * sc] = s;
        }
#endif
}

// Householder QR of the m × r panel A (m ≥ 1), in place, recursively: on return A holds R
// on and above its diagonal and the reflectors' essential parts below (Eigen's layout),
// V (m × min(m, r)) the reflectors with their unit diagonal, and T (upper triangular)
// the factor with H₀·H₁···H_{r−1} = I − V·T·Vᵀ. Columns beyond m (r > m) are updated only.
inline void panel_qr(Eigen::Ref<Eigen::MatrixXd> A, Eigen::Ref<Eigen::MatrixXd> V, Eigen::Ref<Eigen::MatrixXd> T) {
    const index_t m = A.rows(), r = std::min(A.cols(), m);
    if (r == 1) {
        double tau = 0, beta = 0;
        auto col = A.col(0);
        col.makeHouseholderInPlace(tau, beta);
        col(0) = beta;
        V.col(0).setZero();
        V(0, 0) = 1.0;
        V.col(0).tail(m - 1) = col.tail(m - 1);
        T(0, 0) = tau;
        if (A.cols() > 1) {
            // Rest of a panel wider than it is tall: H₀·A[:, 1:].
            auto rest = A.rightCols(A.cols() - 1);
            const Eigen::RowVectorXd w = V.col(0).transpose() * rest;
            rest.noalias() -= (tau * V.col(0)) * w;
        }
        return;
    }
    const index_t r1 = r / 2, rest = A.cols() - r1;
    auto V1 = V.leftCols(r1);
    auto T1 = T.topLeftCorner(r1, r1);
    panel_qr(A.leftCols(r1), V1, T1);
    // A[:, r1:] ← (I − V₁·T₁ᵀ·V₁ᵀ)·A[:, r1:]
    {
        auto A2 = A.rightCols(rest);
        Eigen::MatrixXd W = V1.transpose() * A2;
        W = T1.transpose().triangularView<Eigen::Lower>() * W;
        A2.noalias() -= V1 * W;
    }
    const index_t r2 = r - r1;
    auto V2 = V.block(0, r1, m, r2);
    V2.topRows(r1).setZero();
    panel_qr(A.block(r1, r1, m - r1, rest), V.block(r1, r1, m - r1, r2), T.block(r1, r1, r2, r2));
    // T₁₂ = −T₁·(V₁ᵀ·V₂)·T₂
    const Eigen::MatrixXd G = V1.bottomRows(m - r1).transpose() * V2.bottomRows(m - r1);
    T.block(0, r1, r1, r2) = -(T1.triangularView<Eigen::Upper>() * G) * T.block(r1, r1, r2, r2).triangularView<Eigen::Upper>();
    T.block(r1, 0, r2, r1).setZero();
}

// Dense A (m × n, m ≥ n, column-major) to upper band form with `b` superdiagonals, in
// place; entries outside the band (and rows n..m−1) are left as exact zeros.
inline void reduce_to_upper_band(Eigen::Ref<Eigen::MatrixXd> A, index_t b, int threads = 0) {
    const index_t m = A.rows(), n = A.cols();
    constexpr index_t column_chunk = 128, row_chunk = 48;
    Eigen::MatrixXd V, T, Vt, Tt, VtT, P, Y, Z;
    for (index_t k = 0; k < n; k += b) {
        const index_t kb = std::min(b, n - k), right = n - k - kb, below = m - k - kb;
        // QR of the column panel A[k:m, k:k+kb].
        const index_t r = std::min(m - k, kb);
        V.resize(m - k, r);
        T.resize(r, r);
        panel_qr(A.block(k, k, m - k, kb), V, T);
        for (index_t j = 0; j < kb; ++j) A.col(k + j).tail(m - k - j - 1).setZero();
        if (right == 0) continue;
        // Pass 1: Y = Vᵀ·C over C = A[k:m, k+kb:n], then Z = Tᵀ·Y (the left update is C −= V·Z).
        Y.resize(r, right);
        parallel_for(
            (right + column_chunk - 1) / column_chunk,
            [&](index_t c) {
                const index_t c0 = c * column_chunk, w = std::min(column_chunk, right - c0);
                short_t_times(Y.data() + c0 * r, 1, r, V.data(), V.outerStride(), r, &A(k, k + kb + c0),
                              A.outerStride(), w, m - k);
            },
            threads);
        Z = T.transpose().triangularView<Eigen::Lower>() * Y;
        // The panel's b rows first: they are the band, and the LQ below needs them.
        A.block(k, k + kb, kb, right).noalias() -= V.topRows(kb) * Z;
        if (right <= 1) {
            if (below > 0) A.block(k + kb, k + kb, below, right).noalias() -= V.bottomRows(below) * Z;
            continue;
        }
        // LQ of the row panel A[k:k+kb, k+kb:n] as the QR of its transpose.
        P = A.block(k, k + kb, kb, right).transpose();
        const index_t rt = std::min(right, kb);
        Vt.resize(right, rt);
        Tt.resize(rt, rt);
        panel_qr(P, Vt, Tt);
        // The row panel becomes Rᵀ (lower trapezoidal), zeros beyond.
        auto rows = A.block(k, k + kb, kb, right);
        rows.setZero();
        for (index_t j = 0; j < rt; ++j)
            for (index_t i = 0; i <= j; ++i) rows(j, i) = P(i, j);
        for (index_t j = rt; j < kb; ++j)
            for (index_t i = 0; i < rt; ++i) rows(j, i) = P(i, j);
        if (below <= 0) continue;
        // Pass 2, by chunks of rows of A[k+kb:m, k+kb:n]: the left update, then the right
        // one, C ← C·(I − Vₜ·Tₜ·Vₜᵀ), with Vₜᵀ laid out once for both of its products.
        VtT = Vt.transpose();
        parallel_for(
            (below + row_chunk - 1) / row_chunk,
            [&](index_t c) {
                const index_t r0 = c * row_chunk, h = std::min(row_chunk, below - r0);
                double* C = &A(k + kb + r0, k + kb);
                const index_t ldc = A.outerStride();
                rank_update(C, ldc, h, right, V.data() + kb + r0, V.outerStride(), Z.data(), r, r);
                Eigen::MatrixXd W(h, rt);
                times_short_t(W.data(), h, h, rt, C, ldc, VtT.data(), rt, right);
                W = W * Tt.triangularView<Eigen::Upper>();
                rank_update(C, ldc, h, right, W.data(), h, VtT.data(), rt, rt);
            },
            threads);
    }
}

// A Householder reflector H = I − τ·v·vᵀ (v₀ = 1) with H·x = (β, 0, …, 0): x (length
// len, contiguous) is overwritten by v's tail in x[1..] and β in x[0]; returns τ (0 when
// x[1..] is already zero). LAPACK's dlarfg without its rescaling: the caller keeps the
// entries within a few powers of two of 1.
inline double make_reflector(double* x, index_t len) {
    double tail = 0;
    for (index_t i = 1; i < len; ++i) tail += x[i] * x[i];
    if (tail == 0) return 0.0;
    const double alpha = x[0];
    const double beta = -std::copysign(std::sqrt(alpha * alpha + tail), alpha);
    const double tau = (beta - alpha) / beta, scale = 1.0 / (alpha - beta);
    for (index_t i = 1; i < len; ++i) x[i] *= scale;
    x[0] = beta;
    return tau;
}

// One step of a chase sweep on the column-major band a (leading dimension lda, order n):
// the right reflector over columns [s, end) built from row r, applied to rows [r, end),
// then the left reflector over rows [s, end) built from column s, applied to columns
// [s + 1, min(end + b, n)). v and w are scratch of b + 1 and 3b + 2 entries.
inline void chase_step(double* a, index_t lda, index_t n, index_t b, index_t r, index_t s, double* v, double* w) {
    using block = Eigen::Map<Eigen::MatrixXd, 0, Eigen::OuterStride<>>;
    using vec = Eigen::Map<Eigen::VectorXd>;
    auto at = [&](index_t i, index_t j) -> double& { return a[i + j * lda]; };
    const index_t end = std::min(s + b, n), len = end - s;
    for (index_t j = 0; j < len; ++j) v[j] = at(r, s + j);
    double tau = make_reflector(v, len);
    if (tau != 0) {
        at(r, s) = v[0];
        for (index_t j = 1; j < len; ++j) at(r, s + j) = 0.0;
        v[0] = 1.0;
        const index_t r0 = r + 1, rows = end - r0;
        block C(&at(r0, s), rows, len, Eigen::OuterStride<>(lda));
        vec vv(v, len), ws(w, rows);
        ws.noalias() = C * vv;
        C.noalias() -= (tau * ws) * vv.transpose();
    }
    double* c0 = &at(s, s);
    for (index_t q = 0; q < len; ++q) v[q] = c0[q];
    tau = make_reflector(v, len);
    if (tau != 0) {
        c0[0] = v[0];
        for (index_t q = 1; q < len; ++q) c0[q] = 0.0;
        v[0] = 1.0;
        const index_t last = std::min(end + b, n), cols = last - (s + 1);
        if (cols > 0) {
            block C(&at(s, s + 1), len, cols, Eigen::OuterStride<>(lda));
            vec vv(v, len), ws(w, cols);
            ws.noalias() = C.transpose() * vv;
            C.noalias() -= (tau * vv) * ws.transpose();
        }
    }
}

// Upper band (b superdiagonals, in the top n × n of column-major A) to upper bidiagonal:
// d gets the n diagonal entries, e the n − 1 superdiagonal ones. A is overwritten.
inline void chase_band_to_bidiagonal(Eigen::Ref<Eigen::MatrixXd> A, index_t n, index_t b, std::vector<double>& d,
                                     std::vector<double>& e, int threads = 1) {
    d.assign(std::size_t(n), 0.0);
    e.assign(std::size_t(n > 0 ? n - 1 : 0), 0.0);
    const index_t lda = A.outerStride();
    double* a = A.data();
    if (b > 1 && n > 2) {
        // done[i]: the number of steps sweep i has finished (a sweep's last step sets it to
        // `finished`). Step j of sweep i shares its block with steps up to j + 2 of sweep
        // i − 1 and with none after them.
        constexpr index_t finished = std::numeric_limits<index_t>::max();
        const index_t sweeps = n - 1;
        std::unique_ptr<std::atomic<index_t>[]> done(new std::atomic<index_t>[std::size_t(sweeps)]);
        for (index_t i = 0; i < sweeps; ++i) done[std::size_t(i)].store(0, std::memory_order_relaxed);
        parallel_for(
            sweeps,
            [&](index_t i) {
                std::vector<double> v(std::size_t(b) + 1), w(std::size_t(3 * b) + 2);
                index_t r = i, j = 0;
                for (index_t s = i + 1; s < n && std::min(s + b, n) - s >= 2; s += b, ++j) {
                    if (i > 0) {
                        const std::atomic<index_t>& before = done[std::size_t(i - 1)];
                        for (int spin = 0; before.load(std::memory_order_acquire) < j + 3; ++spin)
                            if (spin > 64) std::this_thread::yield();
                    }
                    chase_step(a, lda, n, b, r, s, v.data(), w.data());
                    done[std::size_t(i)].store(j + 1, std::memory_order_release);
                    r = s;
                }
                done[std::size_t(i)].store(finished, std::memory_order_release);
            },
            threads);
    }
    for (index_t i = 0; i < n; ++i) {
        d[std::size_t(i)] = a[i + i * lda];
        if (i + 1 < n) e[std::size_t(i)] = a[i + (i + 1) * lda];
    }
}


// ------------------------------------------------------------------- symmetric matrices
// Symmetric A (n × n, column-major) to a symmetric band with b sub- and superdiagonals, in
// place, by Householder QR panels of the b columns below the band and the two-sided update
// A22 ← Qᵀ·A22·Q, Q = I − V·T·Vᵀ: X = A22·V·T, M = Tᵀ·Vᵀ·X, Y = X − ½·V·M,
// A22 −= V·Yᵀ + Y·Vᵀ (LAPACK's dsytrd_sy2sb). Only the lower triangle is read and updated
// (about 4n³/3 flops instead of 2n³); the upper one is mirrored from it at the end, so
// both triangles hold the band on return. Row chunks of X and column chunks of the update
// are fixed by the sizes: the same bits at any thread count.
inline void reduce_symmetric_to_band(Eigen::Ref<Eigen::MatrixXd> A, index_t b, int threads = 0) {
    const index_t n = A.rows();
    constexpr index_t chunk = 64;
    Eigen::MatrixXd V, T, VT, X, M, VY, YVT;
    for (index_t k = 0; k + b < n; k += b) {
        const index_t m = n - k - b, r = std::min(m, b);
        V.resize(m, r);
        T.resize(r, r);
        auto panel = A.block(k + b, k, m, b);
        panel_qr(panel, V, T);
        for (index_t j = 0; j < b; ++j)
            if (j + 1 < m) panel.col(j).tail(m - j - 1).setZero();
        auto A22 = A.bottomRightCorner(m, m);
        X.resize(m, r);
        // X = A22·V from the lower triangle: rows [r0, r0 + h) of A22 are columns [0, r0) of
        // its rows (stored), the diagonal block, and the columns below it transposed.
        VT = V.transpose();
        const index_t lda = A22.outerStride();
        parallel_for((m + chunk - 1) / chunk, [&](index_t c) {
            const index_t r0 = c * chunk, h = std::min(chunk, m - r0), below = m - r0 - h;
            auto x = X.middleRows(r0, h);
            Eigen::MatrixXd part(h, r);
            x.noalias() = A22.block(r0, r0, h, h).template selfadjointView<Eigen::Lower>() * V.middleRows(r0, h);
            if (r0 > 0) {
                times_short_t(part.data(), h, h, r, &A22(r0, 0), lda, VT.data(), r, r0);
                x += part;
            }
            if (below > 0) {
                short_t_times(part.data(), 1, h, &A22(r0 + h, r0), lda, h, V.data() + r0 + h, V.outerStride(), r,
                              below);
                x += part;
            }
        }, threads);
        X = X * T.triangularView<Eigen::Upper>();
        M.noalias() = T.transpose().triangularView<Eigen::Lower>() * (V.transpose() * X);
        // The lower triangle of A22 −= V·Yᵀ + Y·Vᵀ = [V Y]·[Y V]ᵀ, Y = X − ½·V·M: column
        // chunk [c0, c0 + w), rows from c0.
        VY.resize(m, 2 * r);
        VY.leftCols(r) = V;
        VY.rightCols(r) = X;
        VY.rightCols(r).noalias() -= 0.5 * V * M;
        YVT.resize(2 * r, m);
        YVT.topRows(r) = VY.rightCols(r).transpose();
        YVT.bottomRows(r) = VT;
        parallel_for((m + chunk - 1) / chunk, [&](index_t c) {
            const index_t c0 = c * chunk, w = std::min(chunk, m - c0), h = m - c0;
            rank_update(&A22(c0, c0), lda, h, w, VY.data() + c0, m, YVT.data() + c0 * 2 * r, 2 * r, 2 * r);
        }, threads);
    }
    A.template triangularView<Eigen::StrictlyUpper>() = A.transpose();
}

// Symmetric band (b subdiagonals in the lower triangle; the upper one is not read) to
// tridiagonal by bulge chasing: d the diagonal, e the subdiagonal. Step (col, s) builds the
// reflector H over rows [s, end), end = min(s + b, n), from column col and applies it to the
// lower triangle only: from the left to A[s:end, col+1:s] (the previous bulge's rows), from
// both sides to the diagonal block A[s:end, s:end] (w = τ·D·v, w −= ½τ(wᵀv)·v,
// D −= v·wᵀ + w·vᵀ, as LAPACK's dsb2st kernels), and from the right to the rows below it in
// the band, A[end:min(end+b, n), s:end], where the next step's bulge appears. About half
// the flops of updating both triangles. One thread; A is overwritten.
inline void chase_symmetric_band(Eigen::Ref<Eigen::MatrixXd> A, index_t b, std::vector<double>& d, std::vector<double>& e) {
    const index_t n = A.rows();
    d.assign(std::size_t(n), 0.0);
    e.assign(std::size_t(n > 0 ? n - 1 : 0), 0.0);
    Eigen::VectorXd v(b), w(2 * b);
    if (b > 1) {
        for (index_t i = 0; i + 2 < n; ++i) {
            index_t col = i;
            for (index_t s = i + 1; s < n; s += b) {
                const index_t end = std::min(s + b, n), len = end - s;
                if (len < 2) break;
                for (index_t q = 0; q < len; ++q) v(q) = A(s + q, col);
                const double tau = make_reflector(v.data(), len);
                if (tau == 0) { col = s; continue; }
                A(s, col) = v(0);
                for (index_t q = 1; q < len; ++q) A(s + q, col) = 0;
                v(0) = 1.0;
                const auto vv = v.head(len);
                // Left: the rows [s, end) of columns (col, s).
                if (s - col > 1) {
                    auto F = A.block(s, col + 1, len, s - col - 1);
                    auto y = w.head(s - col - 1);
                    y.noalias() = F.transpose() * vv;
                    F.noalias() -= (tau * vv) * y.transpose();
                }
                // Both sides: the diagonal block, lower triangle.
                auto D = A.block(s, s, len, len);
                auto x = w.head(len);
                x.noalias() = tau * (D.template selfadjointView<Eigen::Lower>() * vv);
                x -= (0.5 * tau * x.dot(vv)) * vv;
                D.template selfadjointView<Eigen::Lower>().rankUpdate(vv, x, -1.0);
                // Right: the rows below the block, within the band.
                const index_t below = std::min(end + b, n) - end;
                if (below > 0) {
                    auto E = A.block(end, s, below, len);
                    auto z = w.head(below);
                    z.noalias() = E * vv;
                    E.noalias() -= (tau * z) * vv.transpose();
                }
                col = s;
            }
        }
    }
    for (index_t i = 0; i < n; ++i) {
        d[std::size_t(i)] = A(i, i);
        if (i + 1 < n) e[std::size_t(i)] = A(i + 1, i);
    }
}

// A lower bound on the largest eigenvalue of a symmetric band A given by its lower triangle
// with b subdiagonals: the largest of its diagonal entries and of the Rayleigh quotients
// xᵀAx/xᵀx met by `steps` power steps from x = the square roots of |diag A| (each xᵀAx/xᵀx
// is at most λ_max). O(steps·n·b) flops; the Gram route's Cholesky test scales its floor
// by it. Not a tight estimate, only a safe one: it never exceeds λ_max beyond rounding.
inline double band_top_eigenvalue_lower_bound(const Eigen::Ref<const Eigen::MatrixXd>& A, index_t b, int steps = 24) {
    const index_t n = A.rows();
    if (n == 0) return 0;
    Eigen::VectorXd x(n), y(n);
    double best = A(0, 0);
    for (index_t i = 0; i < n; ++i) {
        best = std::max(best, A(i, i));
        x(i) = std::sqrt(std::abs(A(i, i)));
    }
    for (int step = 0; step < steps; ++step) {
        const double xx = x.squaredNorm();
        if (!(xx > 0) || !std::isfinite(xx)) break;
        y.setZero();
        for (index_t j = 0; j < n; ++j) {
            const index_t last = std::min(n - 1, j + b);
            double acc = A(j, j) * x(j);
            for (index_t i = j + 1; i <= last; ++i) {
                acc += A(i, j) * x(i);
                y(i) += A(i, j) * x(j);
            }
            y(j) += acc;
        }
        best = std::max(best, x.dot(y) / xx);
        x = y / std::sqrt(y.squaredNorm() > 0 ? y.squaredNorm() : 1.0);
    }
    return best;
}

// Whether A − shift·I is positive definite, for a symmetric band A given by its lower
// triangle with b subdiagonals (as reduce_symmetric_to_band leaves it): a band Cholesky
// factorisation, O(n·b²) flops, that meets no pivot ≤ 0 (nor a NaN). It decides as a
// dense Cholesky factorisation of A − shift·I would, up to rounding.
inline bool band_positive_definite(const Eigen::Ref<const Eigen::MatrixXd>& A, index_t b, double shift) {
    const index_t n = A.rows(), w = b + 1;
    std::vector<double> L(static_cast<std::size_t>(n * w));  // L(i, j) at L[j·w + i − j]
    for (index_t j = 0; j < n; ++j) {
        const index_t first = std::max<index_t>(0, j - b);
        double* Lj = &L[std::size_t(j * w)];
        for (index_t i = j; i <= std::min(n - 1, j + b); ++i) {
            double v = A(i, j) - (i == j ? shift : 0.0);
            for (index_t k = std::max(first, i - b); k < j; ++k)
                v -= L[std::size_t(k * w + i - k)] * L[std::size_t(k * w + j - k)];
            if (i == j) {
                if (!(v > 0)) return false;
                Lj[0] = std::sqrt(v);
            } else {
                Lj[i - j] = v / Lj[0];
            }
        }
    }
    return true;
}

// Bisection on Sturm counts, `lanes` values at a time, for the k values of a spectrum:
// value i is the one whose count first reaches rank(i) (1-based, ascending), bisected
// `steps` times from [lo0, hi0]. count(x, below) sets below[l] to the number of values
// below x[l] for every lane l; lanes of the last group past k repeat its last value. The
// lanes' divisions vectorise and their latencies overlap; the groups run on geomkit
// threads, and each value depends on its own group only (thread-count independent).
// store(i, v) receives value i.
constexpr index_t bisection_lanes = 32;

template <class Rank, class Count, class Store>
void bisect_in_lanes(index_t k, double lo0, double hi0, int steps, Rank rank, Count count, Store store, int threads) {
    constexpr index_t lanes = bisection_lanes;
    parallel_for((k + lanes - 1) / lanes, [&](index_t g) {
        double lo[lanes], hi[lanes], target[lanes], x[lanes], below[lanes];
        for (index_t l = 0; l < lanes; ++l) {
            target[l] = double(rank(std::min(g * lanes + l, k - 1)));
            lo[l] = lo0;
            hi[l] = hi0;
        }
        for (int step = 0; step < steps; ++step) {
            for (index_t l = 0; l < lanes; ++l) x[l] = 0.5 * (lo[l] + hi[l]);
            count(x, below);
            for (index_t l = 0; l < lanes; ++l) {
                const bool past = below[l] >= target[l];
                hi[l] = past ? x[l] : hi[l];
                lo[l] = past ? lo[l] : x[l];
            }
        }
        for (index_t l = 0; l < lanes && g * lanes + l < k; ++l) store(g * lanes + l, 0.5 * (lo[l] + hi[l]));
    }, threads);
}

// Eigenvalues (ascending) of the symmetric tridiagonal (d, e) by bisection on Sturm counts
// (the pivots of T − x·I = L·D·Lᵀ, qᵢ = dᵢ − x − eᵢ₋₁²/qᵢ₋₁; a pivot that rounds to near
// zero becomes −1e-280), 60 steps from the Gershgorin interval, on T scaled by a power of
// two that puts its largest entry in [1, 2). The fallback of tridiagonal_eigenvalues.
inline Eigen::VectorXd tridiagonal_eigenvalues_by_bisection(const std::vector<double>& d, const std::vector<double>& e,
                                                            int threads = 0) {
    const index_t n = index_t(d.size());
    Eigen::VectorXd out(n);
    if (n == 0) return out;
    double top = 0;
    for (double x : d) top = std::max(top, std::abs(x));
    for (double x : e) top = std::max(top, std::abs(x));
    if (top == 0) { out.setZero(); return out; }
    const double scale = std::ldexp(1.0, -std::ilogb(top));
    std::vector<double> dd(static_cast<std::size_t>(n)), e2(static_cast<std::size_t>(n), 0.0);
    double lo0 = 0, hi0 = 0;
    for (index_t i = 0; i < n; ++i) {
        dd[std::size_t(i)] = d[std::size_t(i)] * scale;
        const double a = i > 0 ? std::abs(e[std::size_t(i - 1)] * scale) : 0.0, c = i + 1 < n ? std::abs(e[std::size_t(i)] * scale) : 0.0;
        if (i + 1 < n) e2[std::size_t(i)] = c * c;
        lo0 = std::min(lo0, dd[std::size_t(i)] - a - c);
        hi0 = std::max(hi0, dd[std::size_t(i)] + a + c);
    }
    const double slack = 8 * std::numeric_limits<double>::epsilon() * std::max(-lo0, hi0);
    lo0 -= slack; hi0 += slack;
    const double pivmin = 1e-280;
    constexpr index_t lanes = bisection_lanes;
    bisect_in_lanes(
        n, lo0, hi0, 60, [](index_t i) { return i + 1; },
        [&](const double* x, double* below) {
            double q[lanes];
            for (index_t l = 0; l < lanes; ++l) { q[l] = 1.0; below[l] = 0; }
            for (index_t i = 0; i < n; ++i) {
                const double di = dd[std::size_t(i)], ei = i > 0 ? e2[std::size_t(i - 1)] : 0.0;
                for (index_t l = 0; l < lanes; ++l) {
                    double t = di - x[l] - ei / q[l];
                    t = std::abs(t) < pivmin ? -pivmin : t;
                    q[l] = t;
                    below[l] += t < 0 ? 1.0 : 0.0;
                }
            }
        },
        [&](index_t i, double v) { out(i) = v / scale; }, threads);
    return out;
}

// The eigenvalues of the symmetric 2 x 2 [[a, b], [b, c]]: rt1 of the larger magnitude,
// rt2 = det / rt1 formed without cancellation.
inline void symmetric_2x2_eigenvalues(double a, double b, double c, double& rt1, double& rt2) {
    const double sm = a + c, adf = std::abs(a - c), ab = std::abs(2 * b);
    const double acmx = std::abs(a) > std::abs(c) ? a : c, acmn = std::abs(a) > std::abs(c) ? c : a;
    const double rt = adf > ab ? adf * std::sqrt(1 + (ab / adf) * (ab / adf))
                    : adf < ab ? ab * std::sqrt(1 + (adf / ab) * (adf / ab))
                               : ab * std::sqrt(2.0);
    if (sm == 0) {
        rt1 = 0.5 * rt;
        rt2 = -0.5 * rt;
        return;
    }
    rt1 = 0.5 * (sm + (sm < 0 ? -rt : rt));
    rt2 = (acmx / rt1) * acmn - (b / rt1) * b;
}

// Eigenvalues of the symmetric tridiagonal (d, e), entries of magnitude at most about 1
// (the caller scales), by the root-free QL iteration of Pal, Walker and Kahan (Parlett,
// The Symmetric Eigenvalue Problem, §8-15; LAPACK's dsterf follows it). It carries the
// squares of the off-diagonal entries, so a step needs no square root: two divisions per
// rotation where a QL step with Givens rotations takes a square root and a division as
// well. Each unreduced block is turned so that its larger end is at the bottom (the
// reversed block is similar to it), then chased from the top with a Wilkinson shift. An
// entry deflates when e² ≤ ε²·|d_i·d_(i+1)| or e² ≤ (ε·top)² (absolute: the values only need
// ~ε·‖T‖ error). Backward stable, as the QL iteration it replaces. d receives the values,
// unsorted; returns false if some block needs more than 30 sweeps per value.
inline bool root_free_ql(std::vector<double>& d, std::vector<double> e) {
    const index_t n = index_t(d.size());
    constexpr double eps = 0x1p-53;
    double top = 0;
    for (double x : d) top = std::max(top, std::abs(x));
    for (double x : e) top = std::max(top, std::abs(x));
    const double absolute = (eps * top) * (eps * top);
    index_t budget = 30 * n;
    index_t l1 = 0;
    while (l1 < n) {
        index_t m = l1;
        for (; m + 1 < n; ++m) {
            if (std::abs(e[std::size_t(m)]) <= std::sqrt(std::abs(d[std::size_t(m)])) * std::sqrt(std::abs(d[std::size_t(m + 1)])) * eps) {
                e[std::size_t(m)] = 0;
                break;
            }
        }
        index_t l = l1;
        const index_t lend = m;
        l1 = m + 1;
        if (lend == l) continue;
        if (std::abs(d[std::size_t(lend)]) < std::abs(d[std::size_t(l)])) {
            std::reverse(d.begin() + l, d.begin() + lend + 1);
            std::reverse(e.begin() + l, e.begin() + lend);
        }
        for (index_t i = l; i < lend; ++i) e[std::size_t(i)] *= e[std::size_t(i)];
        double* const D = d.data();
        double* const E2 = e.data();
        while (l <= lend) {
            index_t k = l;
            while (k < lend && !(E2[k] <= eps * eps * std::abs(D[k] * D[k + 1]) || E2[k] <= absolute)) ++k;
            if (k < lend) E2[k] = 0;
            if (k == l) {
                ++l;
                continue;
            }
            if (k == l + 1) {
                double rt1, rt2;
                symmetric_2x2_eigenvalues(D[l], std::sqrt(E2[l]), D[l + 1], rt1, rt2);
                D[l] = rt1;
                D[l + 1] = rt2;
                E2[l] = 0;
                l += 2;
                continue;
            }
            if (budget-- == 0) return false;
            // Wilkinson's shift from the leading 2 x 2, then one implicit sweep from k up.
            const double rte = std::sqrt(E2[l]);
            double sigma = (D[l + 1] - D[l]) / (2 * rte);
            const double r = std::hypot(sigma, 1.0);
            sigma = D[l] - rte / (sigma + std::copysign(r, sigma));
            double c = 1, sn = 0, gamma = D[k] - sigma, p = gamma * gamma;
            for (index_t i = k - 1; i >= l; --i) {
                const double bb = E2[i], rr = p + bb;
                if (i != k - 1) E2[i + 1] = sn * rr;
                const double oldc = c;
                c = p / rr;
                sn = bb / rr;
                const double oldgam = gamma, alpha = D[i];
                gamma = c * (alpha - sigma) - sn * oldgam;
                D[i + 1] = oldgam + (alpha - gamma);
                p = c != 0 ? (gamma * gamma) / c : oldc * bb;
            }
            E2[l] = sn * p;
            D[l] = sigma + gamma;
        }
    }
    return true;
}

// Eigenvalues (ascending) of the symmetric tridiagonal (d, e), on T scaled by a power of
// two that puts its largest entry in [1, 2): the root-free QL iteration above. Backward
// stable, absolute error ~ε·‖T‖ as bisection's, and O(n²) where bisection is 60·n²
// divisions. One thread, so the same bits at any thread count. Should it not converge,
// the values come from Eigen's QL iteration with Givens rotations (computeFromTridiagonal),
// and should that not converge either (Eigen allows 30·n sweeps), from bisection. At
// n = 2048 on one Zen 4 core the Givens iteration took 0.09 s and bisection 0.21 s.
inline Eigen::VectorXd tridiagonal_eigenvalues(const std::vector<double>& d, const std::vector<double>& e) {
    const index_t n = index_t(d.size());
    if (n == 0) return Eigen::VectorXd(0);
    double top = 0;
    for (double x : d) top = std::max(top, std::abs(x));
    for (double x : e) top = std::max(top, std::abs(x));
    if (top == 0) return Eigen::VectorXd::Zero(n);
    const double scale = std::ldexp(1.0, -std::ilogb(top));
    std::vector<double> ds(d.size()), es(e.size());
    for (std::size_t i = 0; i < d.size(); ++i) ds[i] = d[i] * scale;
    for (std::size_t i = 0; i < e.size(); ++i) es[i] = e[i] * scale;
    if (root_free_ql(ds, es)) {
        std::sort(ds.begin(), ds.end());
        Eigen::VectorXd out(n);
        for (index_t i = 0; i < n; ++i) out(i) = ds[std::size_t(i)] / scale;
        return out;
    }
    Eigen::VectorXd diag(n), sub(std::max<index_t>(n - 1, 0));
    for (index_t i = 0; i < n; ++i) diag(i) = d[std::size_t(i)] * scale;
    for (index_t i = 0; i + 1 < n; ++i) sub(i) = e[std::size_t(i)] * scale;
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver;
    solver.computeFromTridiagonal(diag, sub, Eigen::EigenvaluesOnly);
    if (solver.info() != Eigen::Success) return tridiagonal_eigenvalues_by_bisection(d, e);
    return solver.eigenvalues() / scale;
}

}  // namespace detail
}  // namespace geomkit
