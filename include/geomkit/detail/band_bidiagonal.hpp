// Two-stage reduction of a dense matrix to upper bidiagonal form, values only (no U, V):
// the singular values of the bidiagonal are those of the matrix.
//
// Stage 1, dense -> upper band (reduce_to_upper_band): for each panel of b columns, a
// Householder QR of the panel (Eigen's unblocked kernel) and a Householder LQ of the b
// rows to its right; the trailing matrix is updated by the panels' block reflectors in
// compact WY form (I − V·T·Vᵀ), as matrix products, in fixed chunks of columns (QR) or rows
// (LQ) run on geomkit threads. The result has b superdiagonals: row r is nonzero only in
// columns r..r+b. Nearly all of its 4mn² − 4n³/3 flops are matrix products.
//
// Stage 2, band -> bidiagonal (chase_band_to_bidiagonal): sweep i annihilates row i
// beyond its superdiagonal with a right reflector over columns i+1..i+b, then chases the
// bulge it makes down the band: a left reflector on the same b rows annihilates the
// bulge's first column, the next right reflector the overhang it leaves in the block's
// first row, and so on, b further each step (the scheme of LAPACK's *sb2st and PLASMA's
// *gbrdb kernels; only the first row/column of a bulge is removed, the rest is removed by
// the next sweeps). Each step touches a 2b × b block, so the stage is memory-light, with
// ~8·b·n² flops. The band stays in the dense column-major array (no band storage).
//
// Both stages are orthogonal transformations applied in a fixed order, so the bidiagonal
// is backward stable (the singular values carry an absolute error ~ε·‖A‖) and does not
// depend on the number of threads: every chunk is fixed by the sizes alone, and every
// product inside a chunk is single-threaded.
#pragma once

#include <Eigen/Core>
#include <Eigen/Householder>
#include <Eigen/QR>
#include <algorithm>
#include <cmath>
#include <vector>

#include "../core/parallel.hpp"

namespace geomkit {
namespace detail {

// The reflectors of a factored panel (Eigen's in-place QR layout: R on and above the
// diagonal, the reflectors' essential parts below) as explicit unit lower trapezoidal V
// and the upper triangular T with H₀·H₁···H_{r−1} = I − V·T·Vᵀ.
inline void explicit_block_reflector(const Eigen::Ref<const Eigen::MatrixXd>& factored, const Eigen::VectorXd& tau,
                                     Eigen::MatrixXd& V, Eigen::MatrixXd& T) {
    const index_t len = factored.rows(), r = tau.size();
    V.setZero(len, r);
    for (index_t j = 0; j < r; ++j) {
        V(j, j) = 1.0;
        V.col(j).tail(len - j - 1) = factored.col(j).tail(len - j - 1);
    }
    T.setZero(r, r);
    Eigen::internal::make_block_householder_triangular_factor(T, V, tau);
}

// Dense A (m × n, m ≥ n, column-major) to upper band form with `b` superdiagonals, in
// place; entries outside the band (and rows n..m−1) are left as exact zeros.
inline void reduce_to_upper_band(Eigen::MatrixXd& A, index_t b, int threads = 0) {
    const index_t m = A.rows(), n = A.cols();
    constexpr index_t chunk = 64;
    Eigen::MatrixXd V, T, Vt, Tt, P;
    Eigen::VectorXd tau, temp;
    for (index_t k = 0; k < n; k += b) {
        const index_t kb = std::min(b, n - k), right = n - k - kb;
        // QR of the column panel A[k:m, k:k+kb].
        {
            auto panel = A.block(k, k, m - k, kb);
            const index_t r = std::min(m - k, kb);
            tau.resize(r);
            temp.resize(kb);
            Eigen::internal::householder_qr_inplace_unblocked(panel, tau, temp.data());
            if (right > 0) {
                explicit_block_reflector(panel, tau, V, T);
                const Eigen::MatrixXd Tt_ = T.transpose();
                // A[k:m, k+kb:n] ← (I − V·Tᵀ·Vᵀ)·A[k:m, k+kb:n], column chunk by chunk.
                parallel_for(
                    (right + chunk - 1) / chunk,
                    [&](index_t c) {
                        const index_t c0 = k + kb + c * chunk, w = std::min(chunk, n - c0);
                        auto C = A.block(k, c0, m - k, w);
                        Eigen::MatrixXd Y(r, w);
                        Y.noalias() = V.transpose() * C;
                        const Eigen::MatrixXd Z = Tt_.triangularView<Eigen::Lower>() * Y;
                        C.noalias() -= V * Z;
                    },
                    threads);
            }
            for (index_t j = 0; j < kb; ++j) A.col(k + j).tail(m - k - j - 1).setZero();
        }
        if (right <= 1) continue;
        // LQ of the row panel A[k:k+kb, k+kb:n] as the QR of its transpose.
        P = A.block(k, k + kb, kb, right).transpose();
        const index_t r = std::min(right, kb);
        tau.resize(r);
        temp.resize(kb);
        Eigen::internal::householder_qr_inplace_unblocked(P, tau, temp.data());
        explicit_block_reflector(P, tau, Vt, Tt);
        // The row panel becomes Rᵀ (lower trapezoidal), zeros beyond.
        auto rows = A.block(k, k + kb, kb, right);
        rows.setZero();
        for (index_t j = 0; j < r; ++j)
            for (index_t i = 0; i <= j; ++i) rows(j, i) = P(i, j);
        for (index_t j = r; j < kb; ++j)
            for (index_t i = 0; i < r; ++i) rows(j, i) = P(i, j);
        const index_t below = m - k - kb;
        if (below <= 0) continue;
        // A[k+kb:m, k+kb:n] ← A·(I − V·T·Vᵀ), row chunk by chunk.
        parallel_for(
            (below + chunk - 1) / chunk,
            [&](index_t c) {
                const index_t r0 = k + kb + c * chunk, h = std::min(chunk, m - r0);
                auto C = A.block(r0, k + kb, h, right);
                Eigen::MatrixXd Y(h, r);
                Y.noalias() = C * Vt;
                const Eigen::MatrixXd Z = Y * Tt.triangularView<Eigen::Upper>();
                C.noalias() -= Z * Vt.transpose();
            },
            threads);
    }
}

// A Householder reflector H = I − τ·v·vᵀ (v₀ = 1) with H·x = (β, 0, …, 0): x (length
// len, stride inc) is overwritten by v's tail in x[1..] and β in x[0]; returns τ (0 when
// x[1..] is already zero). LAPACK's dlarfg without its rescaling: the caller keeps the
// entries within a few powers of two of 1.
inline double make_reflector(double* x, index_t len, index_t inc) {
    double tail = 0;
    for (index_t i = 1; i < len; ++i) tail += x[i * inc] * x[i * inc];
    if (tail == 0) return 0.0;
    const double alpha = x[0];
    const double beta = -std::copysign(std::sqrt(alpha * alpha + tail), alpha);
    const double tau = (beta - alpha) / beta, scale = 1.0 / (alpha - beta);
    for (index_t i = 1; i < len; ++i) x[i * inc] *= scale;
    x[0] = beta;
    return tau;
}

// Upper band (b superdiagonals, in the top n × n of column-major A) to upper bidiagonal:
// d gets the n diagonal entries, e the n − 1 superdiagonal ones. A is overwritten.
inline void chase_band_to_bidiagonal(Eigen::MatrixXd& A, index_t n, index_t b, std::vector<double>& d,
                                     std::vector<double>& e) {
    d.assign(std::size_t(n), 0.0);
    e.assign(std::size_t(n > 0 ? n - 1 : 0), 0.0);
    const index_t lda = A.outerStride();
    double* a = A.data();
    auto at = [&](index_t i, index_t j) -> double& { return a[i + j * lda]; };
    std::vector<double> v(std::size_t(b) + 1), w(std::size_t(3 * b) + 2);
    if (b > 1) {
        for (index_t i = 0; i + 1 < n; ++i) {
            index_t r = i;  // the row whose overhang the next right reflector removes
            for (index_t s = i + 1; s < n; s += b) {
                const index_t end = std::min(s + b, n), len = end - s;  // block D = [s, end)
                if (len < 2) break;
                // Right reflector on columns [s, end) from row r, applied to rows [r, end).
                for (index_t j = 0; j < len; ++j) v[std::size_t(j)] = at(r, s + j);
                double tau = make_reflector(v.data(), len, 1);
                if (tau != 0) {
                    at(r, s) = v[0];
                    for (index_t j = 1; j < len; ++j) at(r, s + j) = 0.0;
                    v[0] = 1.0;
                    const index_t r0 = r + 1, rows = end - r0;
                    double* ws = w.data();
                    for (index_t q = 0; q < rows; ++q) ws[q] = 0.0;
                    for (index_t j = 0; j < len; ++j) {
                        const double vj = v[std::size_t(j)];
                        const double* col = &at(r0, s + j);
                        for (index_t q = 0; q < rows; ++q) ws[q] += col[q] * vj;
                    }
                    for (index_t j = 0; j < len; ++j) {
                        const double tv = tau * v[std::size_t(j)];
                        double* col = &at(r0, s + j);
                        for (index_t q = 0; q < rows; ++q) col[q] -= ws[q] * tv;
                    }
                }
                // Left reflector on rows [s, end) from column s, applied to columns [s+1, last).
                double* c0 = &at(s, s);
                for (index_t q = 0; q < len; ++q) v[std::size_t(q)] = c0[q];
                tau = make_reflector(v.data(), len, 1);
                if (tau != 0) {
                    c0[0] = v[0];
                    for (index_t q = 1; q < len; ++q) c0[q] = 0.0;
                    v[0] = 1.0;
                    const index_t last = std::min(end + b, n);
                    for (index_t j = s + 1; j < last; ++j) {
                        double* col = &at(s, j);
                        double dot = 0;
                        for (index_t q = 0; q < len; ++q) dot += v[std::size_t(q)] * col[q];
                        dot *= tau;
                        for (index_t q = 0; q < len; ++q) col[q] -= dot * v[std::size_t(q)];
                    }
                }
                r = s;
            }
        }
    }
    for (index_t i = 0; i < n; ++i) {
        d[std::size_t(i)] = at(i, i);
        if (i + 1 < n) e[std::size_t(i)] = at(i, i + 1);
    }
}

}  // namespace detail
}  // namespace geomkit
