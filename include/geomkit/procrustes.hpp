// Orthogonal Procrustes and the notebook's alignment recipe.
//
// orthogonal_procrustes(A, B), A and B row-major n × d (float or double, possibly strided):
// the orthogonal R (d × d) minimising ‖A·R − B‖_F, reflections allowed, and
// scale = Σ singular values of AᵀB — the pair scipy.linalg.orthogonal_procrustes returns
// (R = U·Vᵀ from the SVD U·Σ·Vᵀ of AᵀB). With proper_rotation, R is restricted to
// det R = +1 (Kabsch/Umeyama): when det(U·Vᵀ) < 0 the last singular vector (smallest
// singular value) is flipped, R = U·diag(1, …, 1, −1)·Vᵀ, and scale = Σσ − 2σ_min.
//
// Precision and method: AᵀB is accumulated in double straight from the views (float input
// widened, no centred or transposed copies of A and B; tiled multi-threaded GEMM whose
// result does not depend on the thread count, detail/gram.hpp). R is the orthogonal polar
// factor of AᵀB from Higham's scaled Newton iteration X ← (ζX + ζ⁻¹X⁻ᵀ)/2; it equals U·Vᵀ,
// and scale = tr(RᵀAᵀB) = Σσ. For d ≤ 64 — and in the batched call — it runs on a
// fixed-size workspace, and for d ≤ 16 the batched call runs it on one problem per SIMD
// lane (X⁻ᵀ from a Gram–Schmidt QR, no pivoting); a problem's result does not depend on
// the other problems, their number or the thread count. For d > 64 each step's inverse is
// a blocked, multi-threaded Gauss–Jordan elimination (polar_large; benchmarks/peers/run.py
// compares the whole call with scipy's, which takes the SVD by LAPACK's gesdd). A singular
// AᵀB (where R is not unique, and scipy's answer is one of many minimisers) falls back to
// Eigen's JacobiSVD (BDCSVD for d > 64). On well-conditioned input R
// agrees with scipy's to 1e-10 or better in double.
//
// procrustes_align(A, B): the notebook's recipe (Qwen 4B → 0.8B cross-scale projection):
//   mean_a, mean_b = column means; R, scale = orthogonal_procrustes(A − mean_a, B − mean_b)
//   aligned        = (A − mean_a)·R + mean_b                      (n × d, double)
//   cosine[i]      = aligned_i·b_i / (‖aligned_i‖·‖b_i‖ + 1e-8)   (the notebook's cos_sim_rows)
//   mean_cosine    = mean of cosine
//   relative_residual = ‖aligned − B‖_F / ‖B − mean_b‖_F  (the notebook prints no residual;
//                    this is the fit's residual relative to B's spread: 0 for an exact
//                    rotated copy, √2 for unrelated clouds of equal spread; 0 when both
//                    norms are 0, +inf when only B's spread is 0).
// The centring enters AᵀB's accumulation; A and B are not copied.
//
// orthogonal_procrustes_batched: `batch` independent problems of n × d with d ≤ 64,
// stacked along the rows — A and B are (batch·n) × d, problem b owning rows
// [b·n, (b+1)·n) — into R_out ((batch·d) × d, R_b in rows [b·d, (b+1)·d)) and scale_out
// (batch values). Threads take problems in chunks; there is no allocation per problem.
// NaN/Inf in A or B is detected from the problems' AᵀB, so on that error R_out and
// scale_out may already have been written.
//
// Magnitudes: double input whose largest magnitude (per problem in the batched call) lies
// outside [2^-400, 2^400] is solved on a copy scaled by a power of two, so data near
// 1e308 or 1e-308 give the R of the same data at magnitude 1 (as scipy's SVD of the
// rescaled AᵀB would); scale is scaled back and is +inf only where Σσ itself exceeds the
// double range. procrustes_align forms its means, cosines and residual the same way.
//
// Errors (geomkit::error, naming the argument): negative sizes, null data, bad strides,
// A and B of different shapes, no rows or no columns, NaN/Inf; in the batched call also
// d > 64, n < 1, rows not a multiple of n, a wrongly shaped R_out, a null scale_out.
#pragma once

#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <Eigen/LU>
#include <Eigen/SVD>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <type_traits>
#include <vector>

#include "core/eigen.hpp"
#include "core/error.hpp"
#include "core/matrix_view.hpp"
#include "core/parallel.hpp"
#include "detail/gram.hpp"
#include "simd/arch.hpp"

namespace geomkit {

using row_major_matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct procrustes_result {
    row_major_matrix R;  // d × d, orthogonal
    double scale = 0;    // Σ singular values of AᵀB (Σσ − 2σ_min for a flipped proper rotation)
};

struct alignment_result {
    row_major_matrix R;
    double scale = 0;
    Eigen::VectorXd mean_a, mean_b;  // d
    row_major_matrix aligned;        // n × d
    Eigen::VectorXd cosine;          // n
    double mean_cosine = 0;
    double relative_residual = 0;
};

// The largest d the batched (fixed-workspace) kernel takes.
constexpr index_t procrustes_small_max_dim = 64;

template <class T>
procrustes_result orthogonal_procrustes(matrix_view<const T> A, matrix_view<const T> B,
                                        bool proper_rotation = false);

template <class T>
alignment_result procrustes_align(matrix_view<const T> A, matrix_view<const T> B,
                                  bool proper_rotation = false);

template <class T>
void orthogonal_procrustes_batched(matrix_view<const T> A, matrix_view<const T> B, index_t n,
                                   matrix_view<double> R_out, double* scale_out,
                                   bool proper_rotation = false);

// ===================================================================== implementation
namespace detail {

constexpr int small_dim = int(procrustes_small_max_dim);
using small_matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor, small_dim, small_dim>;
using small_row_map = Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

// SVDs with full U and V, for Eigen 3.4 (runtime options) and later (template options).
#if EIGEN_VERSION_AT_LEAST(3, 4, 90)
using small_full_svd = Eigen::JacobiSVD<small_matrix, Eigen::ComputeFullU | Eigen::ComputeFullV>;
using large_full_svd = Eigen::BDCSVD<Eigen::MatrixXd, Eigen::ComputeFullU | Eigen::ComputeFullV>;
template <class S, class M>
void compute_full_svd(S& svd, const M& m) { svd.compute(m); }
#else
using small_full_svd = Eigen::JacobiSVD<small_matrix>;
using large_full_svd = Eigen::BDCSVD<Eigen::MatrixXd>;
template <class S, class M>
void compute_full_svd(S& svd, const M& m) { svd.compute(m, Eigen::ComputeFullU | Eigen::ComputeFullV); }
#endif

// Fixed workspace of one thread for problems with d ≤ 64 (row-major d × d arrays, and
// blocks of up to 64 rows of A and B widened to double).
struct small_workspace {
    double m[small_dim * small_dim], x[small_dim * small_dim], xi[small_dim * small_dim];
    double a[small_dim * small_dim], b[small_dim * small_dim];
    int perm[small_dim];
};

// m (row-major d × d) = A[r0 : r0+n]ᵀ · B[r0 : r0+n], accumulated in double over blocks of 64 rows.
template <class T>
void cross_small(const matrix_view<const T>& A, const matrix_view<const T>& B, index_t r0, index_t n,
                 int d, small_workspace& w, double* m_out) {
    using rows_map = Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
    rows_map m(m_out, d, d);
    m.setZero();
    for (index_t k0 = r0; k0 < r0 + n; k0 += small_dim) {
        const int kn = int(std::min<index_t>(small_dim, r0 + n - k0));
        for (int k = 0; k < kn; ++k) {
            const T* a = A.row(k0 + k);
            const T* b = B.row(k0 + k);
            for (int j = 0; j < d; ++j) {
                w.a[k * d + j] = double(a[j]);
                w.b[k * d + j] = double(b[j]);
            }
        }
        m.noalias() += rows_map(w.a, kn, d).transpose() * rows_map(w.b, kn, d);
    }
}

#if GEOMKIT_HAS_SIMD
// m = A[r0 : r0+n]ᵀ · B[r0 : r0+n] for D a multiple of the batch width: M is built H
// rows at a time from H·D/W accumulators kept in registers, as Σ_k a_k[i]·b_k, one pass
// over the problem's rows per block of H rows.
template <int D, class T, class Arch = simd::default_arch>
void cross_simd(const matrix_view<const T>& A, const matrix_view<const T>& B, index_t r0, index_t n,
                double* GEOMKIT_RESTRICT m) {
    using batch = xsimd::batch<double, Arch>;
    constexpr int W = int(batch::size), NB = D / W;
    constexpr int H = NB >= 16 ? 1 : (16 / NB < D ? 16 / NB : D);
    static_assert(D % W == 0 && D % H == 0, "unsupported block shape");
    for (int i0 = 0; i0 < D; i0 += H) {
        batch acc[H][NB];
        for (int h = 0; h < H; ++h)
            for (int c = 0; c < NB; ++c) acc[h][c] = batch(0.0);
        for (index_t k = r0; k < r0 + n; ++k) {
            const T* a = A.row(k) + i0;
            const T* b = B.row(k);
            batch bv[NB];
            for (int c = 0; c < NB; ++c) bv[c] = simd::load_as_double<Arch>(b + c * W);
            for (int h = 0; h < H; ++h) {
                const batch av(static_cast<double>(a[h]));
                for (int c = 0; c < NB; ++c) acc[h][c] = xsimd::fma(av, bv[c], acc[h][c]);
            }
        }
        for (int h = 0; h < H; ++h)
            for (int c = 0; c < NB; ++c) acc[h][c].store_unaligned(m + (i0 + h) * D + c * W);
    }
}
#endif

// m = AᵀB of problem rows [r0, r0+n), by the fixed-size kernel where there is one.
template <class T>
void cross_dispatch(const matrix_view<const T>& A, const matrix_view<const T>& B, index_t r0, index_t n, int d,
                    small_workspace& w, double* m) {
#if GEOMKIT_HAS_SIMD
    constexpr int W = int(xsimd::batch<double, simd::default_arch>::size);
    switch (d) {
        case 4: if constexpr (4 % W == 0) return cross_simd<4>(A, B, r0, n, m); break;
        case 8: if constexpr (8 % W == 0) return cross_simd<8>(A, B, r0, n, m); break;
        case 16: return cross_simd<16>(A, B, r0, n, m);
        case 32: return cross_simd<32>(A, B, r0, n, m);
        case 64: return cross_simd<64>(A, B, r0, n, m);
        default: break;
    }
#endif
    cross_small(A, B, r0, n, d, w, m);
}

// ---- The polar factor of m = AᵀB by scaled Newton iteration (d ≤ 64).
//
// X₀ = m, X_{k+1} = (ζ_k·X_k + X_k⁻ᵀ/ζ_k)/2 with Byers and Xu's scaling (SIAM J. Matrix
// Anal. Appl. 30, 2008): ζ₀ = 1/√(αβ), ζ₁ = √(2√(αβ)/(α+β)), ζ_{k+1} = 1/√((ζ_k + 1/ζ_k)/2),
// from the bounds α = ‖X₀‖_F ≥ σ_max and β = 1/‖X₀⁻¹‖_F ≤ σ_min. It needs only the first
// inverse's norm and takes about 6 steps on random 16 × 16 input where Frobenius scaling
// of every step takes 7. The iteration stops once a step moves X by less than 1e-8·‖X‖_F;
// quadratic convergence leaves an error of order 1e-16 after that step.
//
// Each step inverts X by Gauss–Jordan elimination with partial pivoting (rows swapped in
// place; the column swaps that undo them are folded into the transposed read of X⁻¹).
// `ops` supplies that inverse and the update step; D is the dimension when it is known at
// compile time (0: use d), so the loops of the fixed-size kernels unroll and vectorise.

// Scalar kernels, for any d (D = 0) or a fixed D.
template <int D>
struct polar_scalar_ops {
    GEOMKIT_FORCE_INLINE static void row_axpy(double* GEOMKIT_RESTRICT y, const double* GEOMKIT_RESTRICT x, double f,
                                              int d) noexcept {
        for (int j = 0; j < (D ? D : d); ++j) y[j] += f * x[j];
    }
    // In-place inverse of the row-major d × d `a` up to a column permutation: afterwards
    // column c of a⁻¹ is column idx[c] of `a`. False when a pivot is negligible; det_sign
    // receives the sign of the determinant.
    static bool invert(double* a, int d_, int* idx, double& det_sign) {
        const int d = D ? D : d_;
        int perm[small_dim];
        double amax = 0;
        for (int i = 0; i < d * d; ++i) amax = std::max(amax, std::abs(a[i]));
        const double tiny = amax * double(d) * std::numeric_limits<double>::epsilon();
        det_sign = 1;
        for (int k = 0; k < d; ++k) {
            int p = k;
            for (int i = k + 1; i < d; ++i)
                if (std::abs(a[i * d + k]) > std::abs(a[p * d + k])) p = i;
            perm[k] = p;
            if (!(std::abs(a[p * d + k]) > tiny)) return false;
            if (p != k) {
                std::swap_ranges(a + k * d, a + (k + 1) * d, a + p * d);
                det_sign = -det_sign;
            }
            double* ak = a + k * d;
            const double pivot = ak[k];
            if (pivot < 0) det_sign = -det_sign;
            const double inv = 1.0 / pivot;
            ak[k] = 1.0;
            for (int j = 0; j < d; ++j) ak[j] *= inv;
            for (int i = 0; i < d; ++i) {
                if (i == k) continue;
                double* ai = a + i * d;
                const double f = ai[k];
                ai[k] = 0.0;
                row_axpy(ai, ak, -f, d);
            }
        }
        for (int c = 0; c < d; ++c) idx[c] = c;
        for (int k = d - 1; k >= 0; --k) std::swap(idx[k], idx[perm[k]]);
        return true;
    }
    // x ← (ζ·x + g⁻ᵀ/ζ)/2 where g holds x⁻¹ as `invert` left it; diff = ‖x_new − x‖²_F,
    // norm = ‖x_new‖²_F.
    static void update(double* x, const double* g, const int* idx, int d_, double zeta, double& diff,
                       double& norm) {
        const int d = D ? D : d_;
        const double hz = 0.5 * zeta, hiz = 0.5 / zeta;
        diff = norm = 0;
        for (int i = 0; i < d; ++i) {
            const int c = idx[i];
            for (int j = 0; j < d; ++j) {
                const double next = hz * x[i * d + j] + hiz * g[j * d + c];
                diff += (next - x[i * d + j]) * (next - x[i * d + j]);
                norm += next * next;
                x[i * d + j] = next;
            }
        }
    }
};

#if GEOMKIT_HAS_SIMD
// SIMD kernels for D a multiple of the batch width: a row is NB batches.
template <int D, class Arch = simd::default_arch>
struct polar_simd_ops {
    using batch = xsimd::batch<double, Arch>;
    static constexpr int W = int(batch::size);
    static constexpr int NB = D / W;
    static_assert(D % W == 0, "D must be a multiple of the batch width");

    static bool invert(double* a, int, int* idx, double& det_sign) {
        int perm[D];
        batch mx(0.0);
        for (int i = 0; i < D * D; i += W) mx = xsimd::max(mx, xsimd::abs(batch::load_unaligned(a + i)));
        alignas(64) double lanes[W];
        mx.store_aligned(lanes);
        double amax = 0;
        for (int i = 0; i < W; ++i) amax = std::max(amax, lanes[i]);
        const double tiny = amax * double(D) * std::numeric_limits<double>::epsilon();
        alignas(64) double iota[D];
        for (int j = 0; j < D; ++j) iota[j] = double(j);
        det_sign = 1;
        for (int k = 0; k < D; ++k) {
            int p = k;
            double best = std::abs(a[k * D + k]);
            for (int i = k + 1; i < D; ++i) {
                const double v = std::abs(a[i * D + k]);
                if (v > best) {
                    best = v;
                    p = i;
                }
            }
            perm[k] = p;
            if (!(best > tiny)) return false;
            const double pivot = a[p * D + k];
            double* ak = a + k * D;
            batch r[NB], rm[NB];
            if (p != k) {
                det_sign = -det_sign;
                double* ap = a + p * D;
                for (int c = 0; c < NB; ++c) {
                    r[c] = batch::load_unaligned(ap + c * W);
                    batch::load_unaligned(ak + c * W).store_unaligned(ap + c * W);
                }
            } else {
                for (int c = 0; c < NB; ++c) r[c] = batch::load_unaligned(ak + c * W);
            }
            if (pivot < 0) det_sign = -det_sign;
            const double inv = 1.0 / pivot;
            // Row k becomes row/pivot with inv in column k; the other rows i lose
            // a_ik·(that row) and get −a_ik·inv in column k: rm has 1 + inv there.
            const batch bk = batch(double(k)), binv = batch(inv), bin1 = batch(1.0 + inv);
            for (int c = 0; c < NB; ++c) {
                const auto is_k = batch::load_aligned(iota + c * W) == bk;
                const batch s = r[c] * binv;
                r[c] = xsimd::select(is_k, binv, s);
                rm[c] = xsimd::select(is_k, bin1, s);
                r[c].store_unaligned(ak + c * W);
            }
            for (int i = 0; i < D; ++i) {
                if (i == k) continue;
                double* ai = a + i * D;
                const batch f(ai[k]);
                for (int c = 0; c < NB; ++c)
                    xsimd::fnma(f, rm[c], batch::load_unaligned(ai + c * W)).store_unaligned(ai + c * W);
            }
        }
        for (int c = 0; c < D; ++c) idx[c] = c;
        for (int k = D - 1; k >= 0; --k) std::swap(idx[k], idx[perm[k]]);
        return true;
    }

    static void update(double* x, const double* g, const int* idx, int, double zeta, double& diff, double& norm) {
        const batch hz(0.5 * zeta), hiz(0.5 / zeta);
        batch bd(0.0), bn(0.0);
        alignas(64) double col[D];
        for (int i = 0; i < D; ++i) {
            const double* gc = g + idx[i];
            for (int j = 0; j < D; ++j) col[j] = gc[j * D];
            double* xi = x + i * D;
            for (int c = 0; c < NB; ++c) {
                const batch xo = batch::load_unaligned(xi + c * W);
                const batch next = xsimd::fma(hz, xo, hiz * batch::load_aligned(col + c * W));
                const batch dlt = next - xo;
                bd = xsimd::fma(dlt, dlt, bd);
                bn = xsimd::fma(next, next, bn);
                next.store_unaligned(xi + c * W);
            }
        }
        diff = simd::reduce_add(bd);
        norm = simd::reduce_add(bn);
    }
};
#endif

// R (row-major d × d at `out`, row stride `ld`) and scale from m = AᵀB via SVD.
inline double polar_by_svd(const double* m, int d, bool proper, double* out, index_t ld) {
    const small_matrix M = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(m, d, d);
    small_full_svd svd;
    compute_full_svd(svd, M);
    small_matrix U = svd.matrixU();
    double scale = svd.singularValues().sum();
    small_matrix R = U * svd.matrixV().transpose();
    if (proper && R.determinant() < 0) {
        U.col(d - 1) = -U.col(d - 1);
        R = U * svd.matrixV().transpose();
        scale -= 2 * svd.singularValues()(d - 1);
    }
    for (int i = 0; i < d; ++i)
        for (int j = 0; j < d; ++j) out[i * ld + j] = R(i, j);
    return scale;
}

// The orthogonal polar factor of w.m written to `out`; returns the scale. Falls back to
// the SVD when w.m is (numerically) singular, and for a proper rotation when det m < 0.
template <class Ops>
double polar_newton(small_workspace& w, int d, bool proper, double* out, index_t ld) {
    const int dd = d * d;
    std::copy(w.m, w.m + dd, w.x);
    double det_sign = 1, zeta = 1, alpha = 1, beta = 1;
    for (int iter = 0; iter < 100; ++iter) {
        std::copy(w.x, w.x + dd, w.xi);
        double sign = 1;
        if (!Ops::invert(w.xi, d, w.perm, sign)) return polar_by_svd(w.m, d, proper, out, ld);
        if (iter == 0) {
            det_sign = sign;
            if (proper && det_sign < 0) return polar_by_svd(w.m, d, proper, out, ld);
            double nx = 0, ni = 0;
            for (int i = 0; i < dd; ++i) {
                nx += w.x[i] * w.x[i];
                ni += w.xi[i] * w.xi[i];
            }
            alpha = std::sqrt(nx);
            beta = 1 / std::sqrt(ni);
            zeta = 1 / std::sqrt(alpha * beta);
        } else if (iter == 1) {
            zeta = std::sqrt(2 * std::sqrt(alpha * beta) / (alpha + beta));
        } else {
            zeta = 1 / std::sqrt(0.5 * (zeta + 1 / zeta));
        }
        double diff = 0, norm = 0;
        Ops::update(w.x, w.xi, w.perm, d, zeta, diff, norm);
        if (diff <= 1e-16 * norm) break;
        if (iter == 99) return polar_by_svd(w.m, d, proper, out, ld);
    }
    double scale = 0;
    for (int i = 0; i < dd; ++i) scale += w.x[i] * w.m[i];
    for (int i = 0; i < d; ++i) std::copy(w.x + i * d, w.x + (i + 1) * d, out + i * ld);
    return scale;
}

// Dispatch on d: fixed-size kernels for d ∈ {2, …, 8, 16, 32, 64}, the SIMD ones where d
// is a multiple of the batch width.
template <int D>
GEOMKIT_FORCE_INLINE double polar_fixed(small_workspace& w, bool proper, double* out, index_t ld) {
#if GEOMKIT_HAS_SIMD
    constexpr int W = int(xsimd::batch<double, simd::default_arch>::size);
    if constexpr (D % W == 0)
        return polar_newton<polar_simd_ops<D>>(w, D, proper, out, ld);
    else
#endif
        return polar_newton<polar_scalar_ops<D>>(w, D, proper, out, ld);
}

inline double polar_small(small_workspace& w, int d, bool proper, double* out, index_t ld) {
    switch (d) {
        case 2: return polar_fixed<2>(w, proper, out, ld);
        case 3: return polar_fixed<3>(w, proper, out, ld);
        case 4: return polar_fixed<4>(w, proper, out, ld);
        case 5: return polar_fixed<5>(w, proper, out, ld);
        case 6: return polar_fixed<6>(w, proper, out, ld);
        case 7: return polar_fixed<7>(w, proper, out, ld);
        case 8: return polar_fixed<8>(w, proper, out, ld);
        case 16: return polar_fixed<16>(w, proper, out, ld);
        case 32: return polar_fixed<32>(w, proper, out, ld);
        case 64: return polar_fixed<64>(w, proper, out, ld);
        default: return polar_newton<polar_scalar_ops<0>>(w, d, proper, out, ld);
    }
}

// ---- Batched polar factors, `width` problems at a time, one per SIMD lane.
//
// The same scaled Newton iteration, stopping rule and fallbacks as polar_newton, run on
// `width` problems in structure-of-arrays form: element (i, j) of the width matrices is
// one batch, so every operation is a full-width vertical one and no problem's result
// depends on its neighbours (a converged lane is frozen while the others go on). X⁻ᵀ comes
// from a QR factorisation by modified Gram–Schmidt, X = Q·R, as X⁻ᵀ = Q·R⁻ᵀ: no pivoting,
// hence no per-lane row exchanges. MGS's Q is orthogonal to about ε·κ(X), so the first
// step — the only one where κ can be large — orthogonalises twice (Q₁ = Q₂·R₂,
// R = R₂·R₁), which gives the accuracy of an LU-based inverse; later iterates have
// κ ≤ (√κ₀ + 1/√κ₀)/2 and one pass suffices. A column whose residual norm falls below
// 4·d·ε·‖X‖_F marks the problem singular (SVD fallback).
//
// Storage: column-major, element (i, j) of lane l at [(j·d + i)·width + l].
template <class V>
struct lane_ops;

template <>
struct lane_ops<double> {
    using mask = bool;
    static constexpr int width = 1;
    static double load(const double* p) noexcept { return *p; }
    static void store(double* p, double v) noexcept { *p = v; }
    static double fma(double a, double b, double c) noexcept { return a * b + c; }
    static double fnma(double a, double b, double c) noexcept { return c - a * b; }
    static double select(bool m, double a, double b) noexcept { return m ? a : b; }
    static double sqrt(double a) noexcept { return std::sqrt(a); }
    static bool any(bool m) noexcept { return m; }
    static void store_mask(bool* p, bool m) noexcept { *p = m; }
};

#if GEOMKIT_HAS_SIMD
template <class Arch>
struct lane_ops<xsimd::batch<double, Arch>> {
    using V = xsimd::batch<double, Arch>;
    using mask = xsimd::batch_bool<double, Arch>;
    static constexpr int width = int(V::size);
    GEOMKIT_FORCE_INLINE static V load(const double* p) noexcept { return V::load_aligned(p); }
    GEOMKIT_FORCE_INLINE static void store(double* p, const V& v) noexcept { v.store_aligned(p); }
    GEOMKIT_FORCE_INLINE static V fma(const V& a, const V& b, const V& c) noexcept { return xsimd::fma(a, b, c); }
    GEOMKIT_FORCE_INLINE static V fnma(const V& a, const V& b, const V& c) noexcept { return xsimd::fnma(a, b, c); }
    GEOMKIT_FORCE_INLINE static V select(const mask& m, const V& a, const V& b) noexcept { return xsimd::select(m, a, b); }
    GEOMKIT_FORCE_INLINE static V sqrt(const V& a) noexcept { return xsimd::sqrt(a); }
    GEOMKIT_FORCE_INLINE static bool any(const mask& m) noexcept { return xsimd::any(m); }
    static void store_mask(bool* p, const mask& m) noexcept { m.store_unaligned(p); }
};
using polar_lanes = xsimd::batch<double, simd::default_arch>;
#else
using polar_lanes = double;
#endif

// The kernels; D is the dimension when fixed at compile time (0: the runtime d).
template <class V, int D>
struct polar_lanes_ops {
    using L = lane_ops<V>;
    using mask = typename L::mask;
    static constexpr int W = L::width;

    // Q and R of x = Q·R by modified Gram–Schmidt, column by column (left-looking: column
    // j is projected against q_0, q_1, … in turn and stays in registers; the same
    // operations as the row-oriented form). x and q may be the same array. r: row-major
    // upper triangle; rinv[k] = 1/R_kk. ok is cleared in lanes with a negligible column.
    static void mgs(const double* x, double* q, double* r, double* rinv, int d_, const V& tiny, mask& ok) {
        constexpr int DM = D ? D : small_dim;
        const int d = D ? D : d_;
        V col[DM];
        for (int j = 0; j < d; ++j) {
            const double* xj = x + j * d * W;
            for (int i = 0; i < d; ++i) col[i] = L::load(xj + i * W);
            for (int k = 0; k < j; ++k) {
                const double* qk = q + k * d * W;
                V t[4] = {V(0.0), V(0.0), V(0.0), V(0.0)};  // four chains: the dot is on the critical path
                for (int i = 0; i < d; ++i) t[i % 4] = L::fma(L::load(qk + i * W), col[i], t[i % 4]);
                const V tk = (t[0] + t[1]) + (t[2] + t[3]);
                L::store(r + (k * d + j) * W, tk);
                for (int i = 0; i < d; ++i) col[i] = L::fnma(tk, L::load(qk + i * W), col[i]);
            }
            V s0(0.0), s1(0.0);
            int i = 0;
            for (; i + 1 < d; i += 2) {
                s0 = L::fma(col[i], col[i], s0);
                s1 = L::fma(col[i + 1], col[i + 1], s1);
            }
            if (i < d) s0 = L::fma(col[i], col[i], s0);
            const V rjj = L::sqrt(s0 + s1);
            const mask good = rjj > tiny;
            ok = ok && good;
            const V inv = V(1.0) / L::select(good, rjj, V(1.0));
            L::store(r + (j * d + j) * W, rjj);
            L::store(rinv + j * W, inv);
            double* qj = q + j * d * W;
            for (i = 0; i < d; ++i) L::store(qj + i * W, col[i] * inv);
        }
    }

    // r ← r2·r (both upper triangular), rinv from the new diagonal.
    static void upper_product(const double* r2, double* r, double* rinv, int d_) {
        const int d = D ? D : d_;
        for (int k = 0; k < d; ++k) {
            for (int j = k; j < d; ++j) {
                V s(0.0);
                for (int m = k; m <= j; ++m) s = L::fma(L::load(r2 + (k * d + m) * W), L::load(r + (m * d + j) * W), s);
                L::store(r + (k * d + j) * W, s);  // row k of r is not read again
            }
            L::store(rinv + k * W, V(1.0) / L::load(r + (k * d + k) * W));
        }
    }

    // c (holding Q) becomes Z = Q·R⁻ᵀ = X⁻ᵀ: column j of Z is (q_j − Σ_{m>j} R_jm z_m)/R_jj.
    static void back_substitute(double* c, const double* r, const double* rinv, int d_) {
        constexpr int DM = D ? D : small_dim;
        const int d = D ? D : d_;
        V col[DM];
        for (int j = d - 1; j >= 0; --j) {
            double* cj = c + j * d * W;
            for (int i = 0; i < d; ++i) col[i] = L::load(cj + i * W);
            for (int m = j + 1; m < d; ++m) {
                const V f = L::load(r + (j * d + m) * W);
                const double* cm = c + m * d * W;
                for (int i = 0; i < d; ++i) col[i] = L::fnma(f, L::load(cm + i * W), col[i]);
            }
            const V inv = L::load(rinv + j * W);
            for (int i = 0; i < d; ++i) L::store(cj + i * W, col[i] * inv);
        }
    }

    // Σ of squares over the d² elements of a, per lane.
    static V sum_squares(const double* a, int d_) {
        const int d = D ? D : d_;
        V s0(0.0), s1(0.0);
        int i = 0;
        for (; i + 1 < d * d; i += 2) {
            const V u = L::load(a + i * W), v = L::load(a + (i + 1) * W);
            s0 = L::fma(u, u, s0);
            s1 = L::fma(v, v, s1);
        }
        if (i < d * d) {
            const V u = L::load(a + i * W);
            s0 = L::fma(u, u, s0);
        }
        return s0 + s1;
    }

    // Runs the iteration on x (the W matrices m, column-major). On return x holds the
    // polar factors of the lanes with done set; lanes with done clear need the SVD.
    // `active` lanes enter the iteration (the others — padding, fallbacks — are ignored).
    static void run(double* x, double* c, double* r, double* r2, double* rinv, int d_, mask active, mask& done) {
        const int d = D ? D : d_;
        const int dd = d * d;
        const double eps = std::numeric_limits<double>::epsilon();
        done = active && !active;  // all false
        mask ok = active;
        const V nx = sum_squares(x, d);
        const V alpha = L::sqrt(nx);
        const V tiny = V(4.0 * double(d) * eps) * alpha;
        V zeta(1.0), beta(1.0);
        for (int iter = 0; iter < 100; ++iter) {
            mgs(x, c, r, rinv, d, tiny, ok);
            if (iter == 0) {
                mask ok2 = ok;
                mgs(c, c, r2, rinv, d, V(0.0), ok2);  // re-orthogonalise: Q₁ = Q₂·R₂
                upper_product(r2, r, rinv, d);
            }
            back_substitute(c, r, rinv, d);
            active = active && ok;  // singular lanes leave (SVD)
            if (iter == 0) {
                beta = V(1.0) / L::sqrt(sum_squares(c, d));
                zeta = V(1.0) / L::sqrt(alpha * beta);
            } else if (iter == 1) {
                zeta = L::sqrt(V(2.0) * L::sqrt(alpha * beta) / (alpha + beta));
            } else {
                zeta = V(1.0) / L::sqrt(V(0.5) * (zeta + V(1.0) / zeta));
            }
            const V hz = V(0.5) * zeta, hiz = V(0.5) / zeta;
            V diff(0.0), norm(0.0);
            for (int i = 0; i < dd; ++i) {
                const V xo = L::load(x + i * W);
                const V next = L::fma(hz, xo, hiz * L::load(c + i * W));
                const V dl = next - xo;
                diff = L::fma(dl, dl, diff);
                norm = L::fma(next, next, norm);
                L::store(x + i * W, L::select(active, next, xo));
            }
            const mask converged = active && (diff <= V(1e-16) * norm);
            done = done || converged;
            active = active && !converged;
            if (!L::any(active)) break;
        }
    }
};

// The largest d run in SIMD lanes: beyond it the lanes' d × d arrays outgrow the L1
// cache and one problem at a time (polar_small) is faster (at d = 32 about 1.7×).
constexpr index_t polar_lanes_max_dim = 16;

// What polar_group does with one lane.
enum class lane_state : unsigned char { iterate, svd, nonfinite };

// Per-chunk storage for polar_group: the W matrices in lanes (x, c, r, r2: d² batches
// each; rinv: d) and the W problems' AᵀB, row-major, at m + l·d².
struct polar_group_workspace {
    static constexpr int W = lane_ops<polar_lanes>::width;
    std::unique_ptr<double[]> storage;
    double *x = nullptr, *c = nullptr, *r = nullptr, *r2 = nullptr, *rinv = nullptr, *m = nullptr;
    explicit polar_group_workspace(int d) {
        const std::size_t dd = std::size_t(d) * std::size_t(d), block = dd * W;
        storage.reset(new double[5 * block + std::size_t(d) * W + 8]);
        double* p = storage.get();
        p += (64 - reinterpret_cast<std::uintptr_t>(p) % 64) % 64 / sizeof(double);  // 64-byte aligned
        x = p;
        c = x + block;
        r = c + block;
        r2 = r + block;
        m = r2 + block;
        rinv = m + block;
    }
};

// R and scale of problems b0 … b0+count−1 (count ≤ W) from their AᵀB in w.m: the lanes
// in state `iterate` by the Newton iteration, the rest (and lanes it gives up on) by the
// SVD, or NaN for `nonfinite`.
template <int D>
void polar_group(polar_group_workspace& w, int d_, int count, const lane_state* state, bool proper,
                 const matrix_view<double>& R_out, index_t b0, double* scale_out) {
    using ops = polar_lanes_ops<polar_lanes, D>;
    using L = lane_ops<polar_lanes>;
    constexpr int W = L::width;
    const int d = D ? D : d_;
    const int dd = d * d;
    const index_t ld = R_out.row_stride();
    alignas(64) double act[W];
    for (int l = 0; l < W; ++l) {
        // Lanes not iterated hold the identity (finite, converged at once; never written).
        const bool on = l < count && state[l] == lane_state::iterate;
        const double* ml = w.m + l * dd;
        for (int i = 0; i < d; ++i)
            for (int j = 0; j < d; ++j) w.x[(j * d + i) * W + l] = on ? ml[i * d + j] : double(i == j);
        act[l] = on ? 1.0 : 0.0;
    }
    typename L::mask done;
    ops::run(w.x, w.c, w.r, w.r2, w.rinv, d, L::load(act) != polar_lanes(0.0), done);
    bool converged[W];
    L::store_mask(converged, done);
    for (int l = 0; l < count; ++l) {
        double* out = R_out.row((b0 + l) * d);
        const double* ml = w.m + l * dd;
        if (state[l] == lane_state::nonfinite) {
            for (int i = 0; i < d; ++i) std::fill(out + i * ld, out + i * ld + d, std::numeric_limits<double>::quiet_NaN());
            scale_out[b0 + l] = std::numeric_limits<double>::quiet_NaN();
        } else if (!converged[l]) {
            scale_out[b0 + l] = polar_by_svd(ml, d, proper, out, ld);
        } else {
            double part[4] = {0, 0, 0, 0};  // four chains, not one of d² dependent adds
            for (int i = 0; i < d; ++i)
                for (int j = 0; j < d; ++j) {
                    const double v = w.x[(j * d + i) * W + l];
                    out[i * ld + j] = v;
                    part[j % 4] += v * ml[i * d + j];
                }
            scale_out[b0 + l] = (part[0] + part[1]) + (part[2] + part[3]);
        }
    }
}

// polar_group with the dimension fixed at compile time where that pays.
inline void polar_group_dispatch(polar_group_workspace& w, int d, int count, const lane_state* state, bool proper,
                                 const matrix_view<double>& R_out, index_t b0, double* scale_out) {
    switch (d) {
        case 16: return polar_group<16>(w, d, count, state, proper, R_out, b0, scale_out);
        default: return polar_group<0>(w, d, count, state, proper, R_out, b0, scale_out);
    }
}

// ---- The polar factor of a large m = AᵀB (d > 64) by scaled Newton iteration.
//
// The same iteration as polar_newton, X_{k+1} = (ζ_k·X_k + X_k⁻ᵀ/ζ_k)/2, with Higham's
// Frobenius-norm scaling ζ_k = (‖X_k⁻¹‖_F/‖X_k‖_F)^½ at every step: for large d the bounds
// behind Byers and Xu's scaling are loose by about √d (5 steps instead of 7 on
// 10000 × 1024 Gaussian data). It stops after the step that moved X by at most 1e-7·‖X‖_F:
// the error left is of the order of that step's square. Each step costs one inverse,
// 2d³ flops by blocked Gauss–Jordan (invert_blocked), mostly in rank-64 GEMM updates that
// split over threads; a full SVD with U and V costs about 21d³ by Golub–Reinsch, in
// bidiagonalisation and rotation sweeps that parallelise far less. Singular or nearly
// singular m, det m < 0 with proper_rotation, and no convergence fall back to Eigen's BDCSVD.

// In-place inverse of the row-major d × d `a` up to a column permutation, as
// polar_scalar_ops::invert: afterwards column c of a⁻¹ is column idx[c] of `a`; false when
// a pivot is negligible; det_sign receives the sign of the determinant.
//
// Blocked Gauss–Jordan with partial pivoting, 64 columns K at a time: the pivots of K are
// chosen by an LU factorisation with partial pivoting of the panel a[k:d, K] (the choices
// the unblocked elimination would make), their rows are swapped into K, and with
// P = a_KK⁻¹ (from the panel's L and U), R = P·a[K, :] and C = a[:, K] with rows K zeroed,
// the block step is the rank-64 update a ← a − C·R, then a[:, K] = −C·P, a[K, :] = R,
// a_KK = P. The products run in parallel on fixed blocks of 128 rows or columns, so the
// result is bitwise the same at any thread count.
inline bool invert_blocked(row_major_matrix& a, std::vector<int>& idx, double& det_sign, int threads = 0) {
    const index_t d = a.rows();
    constexpr index_t width = 64, rows_per_task = 128;
    const double tiny = a.cwiseAbs().maxCoeff() * double(d) * std::numeric_limits<double>::epsilon();
    std::vector<int> perm(static_cast<std::size_t>(d));
    row_major_matrix panel, C, R, P;
    det_sign = 1;
    if (d < 512) threads = 1;  // below that, starting threads costs more than it saves
    const index_t tasks = (d + rows_per_task - 1) / rows_per_task;
    for (index_t k = 0; k < d; k += width) {
        const index_t nb = std::min(width, d - k), m = d - k;
        panel = a.block(k, k, m, nb);
        for (index_t j = 0; j < nb; ++j) {
            index_t p = j;
            double best = std::abs(panel(j, j));
            for (index_t i = j + 1; i < m; ++i)
                if (std::abs(panel(i, j)) > best) {
                    best = std::abs(panel(i, j));
                    p = i;
                }
            if (!(best > tiny)) return false;
            perm[std::size_t(k + j)] = int(k + p);
            if (p != j) {
                panel.row(j).swap(panel.row(p));
                det_sign = -det_sign;
            }
            if (panel(j, j) < 0) det_sign = -det_sign;
            const double inverse = 1.0 / panel(j, j);
            for (index_t i = j + 1; i < m; ++i) {
                const double l = panel(i, j) * inverse;
                panel(i, j) = l;
                panel.row(i).tail(nb - j - 1) -= l * panel.row(j).tail(nb - j - 1);
            }
        }
        for (index_t j = 0; j < nb; ++j)
            if (perm[std::size_t(k + j)] != int(k + j)) a.row(k + j).swap(a.row(perm[std::size_t(k + j)]));
        P.setIdentity(nb, nb);
        panel.topRows(nb).triangularView<Eigen::UnitLower>().solveInPlace(P);
        panel.topRows(nb).triangularView<Eigen::Upper>().solveInPlace(P);
        C = a.middleCols(k, nb);
        C.middleRows(k, nb).setZero();
        R.resize(nb, d);
        parallel_for(tasks, [&](index_t t) {
            const index_t c0 = t * rows_per_task, nc = std::min(rows_per_task, d - c0);
            R.middleCols(c0, nc).noalias() = P * a.block(k, c0, nb, nc);
        }, threads);
        parallel_for(tasks, [&](index_t t) {
            const index_t r0 = t * rows_per_task, nr = std::min(rows_per_task, d - r0);
            a.middleRows(r0, nr).noalias() -= C.middleRows(r0, nr) * R;
            a.block(r0, k, nr, nb).noalias() = -C.middleRows(r0, nr) * P;
        }, threads);
        a.middleRows(k, nb) = R;
        a.block(k, k, nb, nb) = P;
    }
    idx.resize(std::size_t(d));
    for (index_t c = 0; c < d; ++c) idx[std::size_t(c)] = int(c);
    for (index_t k = d - 1; k >= 0; --k) std::swap(idx[std::size_t(k)], idx[std::size_t(perm[std::size_t(k)])]);
    return true;
}

inline procrustes_result polar_by_large_svd(const Eigen::MatrixXd& M, bool proper) {
    const index_t d = M.rows();
    procrustes_result r;
    large_full_svd svd;
    compute_full_svd(svd, M);
    Eigen::MatrixXd U = svd.matrixU();
    r.scale = svd.singularValues().sum();
    r.R.noalias() = U * svd.matrixV().transpose();
    if (proper && r.R.determinant() < 0) {
        U.col(d - 1) = -U.col(d - 1);
        r.R.noalias() = U * svd.matrixV().transpose();
        r.scale -= 2 * svd.singularValues()(d - 1);
    }
    return r;
}

inline procrustes_result polar_large(const Eigen::MatrixXd& M, bool proper) {
    const index_t d = M.rows();
    procrustes_result r;
    row_major_matrix& X = r.R;
    X = M;
    row_major_matrix G, H(d, d);
    std::vector<int> idx;
    for (int iter = 0; iter < 50; ++iter) {
        G = X;
        double sign = 1;
        if (!invert_blocked(G, idx, sign) || (iter == 0 && proper && sign < 0)) return polar_by_large_svd(M, proper);
        // H = X⁻¹ (the columns of G put in place), then X ← (ζ·X + Hᵀ/ζ)/2.
        for (index_t i = 0; i < d; ++i) {
            const double* g = G.row(i).data();
            double* h = H.row(i).data();
            for (index_t c = 0; c < d; ++c) h[c] = g[idx[std::size_t(c)]];
        }
        const double zeta = std::sqrt(H.norm() / X.norm());
        G.noalias() = (0.5 * zeta) * X + (0.5 / zeta) * H.transpose();
        const double diff = (G - X).squaredNorm(), norm = G.squaredNorm();
        X.swap(G);
        if (!std::isfinite(norm)) break;
        if (diff <= 1e-14 * norm) {
            r.scale = (X.array() * M.array()).sum();
            return r;
        }
    }
    return polar_by_large_svd(M, proper);
}

inline procrustes_result procrustes_from_cross(const Eigen::MatrixXd& M, bool proper) {
    // R is the polar factor of M, unchanged by M·2^-e, and Σσ scales with M. The polar
    // iteration squares M, so an M whose largest entry lies outside [2^-400, 2^400] (the
    // bound of procrustes_safe_exponent below: data in range whose rows pair large with
    // tiny values, or cancel) is solved scaled to [0.5, 1) by a power of two (exact).
    if (M.size() > 0) {
        const double m = M.cwiseAbs().maxCoeff();
        int e = 0;
        if (m > 0 && std::isfinite(m)) std::frexp(m, &e);
        if (e > 400 || e < -400) {
            procrustes_result r =
                procrustes_from_cross(M.unaryExpr([e](double v) { return std::ldexp(v, -e); }).eval(), proper);
            r.scale = std::ldexp(r.scale, e);
            return r;
        }
    }
    const index_t d = M.rows();
    if (d > procrustes_small_max_dim) return polar_large(M, proper);
    procrustes_result r;
    r.R.resize(d, d);
    auto w = std::make_unique<small_workspace>();
    small_row_map(w->m, d, d) = M;
    r.scale = polar_small(*w, int(d), proper, r.R.data(), d);
    return r;
}

template <class T>
void check_procrustes_pair(const matrix_view<const T>& A, const matrix_view<const T>& B, const char* function) {
    check_view(A, function, "A");
    check_view(B, function, "B");
    check_same_shape(A, "A", B, "B", function);
    if (A.rows() < 1 || A.cols() < 1)
        fail(function, "A", "must have at least 1 row and 1 column", concat(A.rows(), " x ", A.cols()));
    check_finite(A, function, "A");
    check_finite(B, function, "B");
}

template <class T>
Eigen::MatrixXd cross_product(const matrix_view<const T>& A, const double* ma, const matrix_view<const T>& B,
                              const double* mb) {
    gram_tiling tiling;
    tiling.tile = default_gram_tile(A.cols());
    tiling.depth_block = 1024;
    Eigen::MatrixXd M;
    gram_product(A, ma, B, mb, gram_depth::rows, false, tiling, M);
    return M;
}

// Magnitude scaling. R does not change when A or B is multiplied by a positive number,
// so double input whose largest magnitude, or the product of the two largest magnitudes,
// lies outside [2^-400, 2^400] (where AᵀB, its square in the polar factor, a mean or a
// squared norm could overflow or lose its digits to underflow) is solved on
// copies scaled by powers of two (exact), and scale (Σσ) is scaled back. float data
// never needs it.
constexpr int procrustes_safe_exponent = 400;

// e with max|x| = m·2^e, m in [0.5, 1) (0 for all-zero input). X must be finite.
template <class T>
int max_abs_exponent(const matrix_view<const T>& X) {
    double m = 0;
    for (index_t i = 0; i < X.rows(); ++i) {
        const T* r = X.row(i);
        for (index_t j = 0; j < X.cols(); ++j) m = std::max(m, std::fabs(double(r[j])));
    }
    int e = 0;
    if (m > 0) std::frexp(m, &e);
    return e;
}

template <class T>
bool all_finite_view(const matrix_view<const T>& X) {
    for (index_t i = 0; i < X.rows(); ++i)
        for (index_t j = 0; j < X.cols(); ++j)
            if (!std::isfinite(double(X.row(i)[j]))) return false;
    return true;
}

inline bool outside_safe_range(int e) { return e > procrustes_safe_exponent || e < -procrustes_safe_exponent; }
// A pair needs scaling when either matrix, or their product AᵀB (whose polar factor squares
// it), lies outside the range: 1e80 and 1e100 are each safe, their product squared is not.
inline bool pair_outside_safe_range(int ea, int eb) {
    return outside_safe_range(ea) || outside_safe_range(eb) || outside_safe_range(ea + eb);
}

template <class T>
row_major_matrix scaled_copy(const matrix_view<const T>& X, int e) {
    row_major_matrix Y(X.rows(), X.cols());
    for (index_t i = 0; i < X.rows(); ++i) {
        const T* r = X.row(i);
        for (index_t j = 0; j < X.cols(); ++j) Y(i, j) = std::ldexp(double(r[j]), -e);
    }
    return Y;
}

inline matrix_view<const double> view_of(const row_major_matrix& Y) {
    return matrix_view<const double>(Y.data(), Y.rows(), Y.cols());
}

// The alignment of A·2^ea and B·2^eb, given A and B (ea = eb = 0: A and B as they are).
template <class T>
alignment_result align_scaled(matrix_view<const T> A, matrix_view<const T> B, bool proper_rotation, int ea, int eb) {
    const std::vector<double> ma = column_means(A), mb = column_means(B);
    procrustes_result fit = procrustes_from_cross(cross_product(A, ma.data(), B, mb.data()), proper_rotation);
    const index_t n = A.rows(), d = A.cols();
    const bool scaled = ea != 0 || eb != 0;
    alignment_result r;
    r.mean_a = Eigen::Map<const Eigen::VectorXd>(ma.data(), d);
    r.mean_b = Eigen::Map<const Eigen::VectorXd>(mb.data(), d);
    r.aligned = (as_eigen(A).template cast<double>().rowwise() - r.mean_a.transpose()) * fit.R;
    if (scaled) {
        r.aligned = r.aligned.unaryExpr([ea](double v) { return std::ldexp(v, ea); });
        r.mean_a = r.mean_a.unaryExpr([ea](double v) { return std::ldexp(v, ea); });
        r.mean_b = r.mean_b.unaryExpr([eb](double v) { return std::ldexp(v, eb); });
    }
    r.aligned.rowwise() += r.mean_b.transpose();
    r.R = std::move(fit.R);
    r.scale = scaled ? std::ldexp(fit.scale, ea + eb) : fit.scale;
    r.cosine.resize(n);
    double cos_sum = 0;
    if (!scaled) {
        double resid = 0, spread = 0;
        for (index_t i = 0; i < n; ++i) {
            const T* b = B.row(i);
            const double* a = r.aligned.row(i).data();
            double dot = 0, na = 0, nb = 0;
            for (index_t j = 0; j < d; ++j) {
                const double bj = double(b[j]);
                dot += a[j] * bj;
                na += a[j] * a[j];
                nb += bj * bj;
                resid += (a[j] - bj) * (a[j] - bj);
                spread += (bj - mb[std::size_t(j)]) * (bj - mb[std::size_t(j)]);
            }
            r.cosine(i) = dot / (std::sqrt(na) * std::sqrt(nb) + 1e-8);
            cos_sum += r.cosine(i);
        }
        r.mean_cosine = cos_sum / double(n);
        r.relative_residual = spread > 0 ? std::sqrt(resid / spread)
                                         : (resid > 0 ? std::numeric_limits<double>::infinity() : 0.0);
        return r;
    }
    // Scaled data: every sum of squares is formed on values scaled by a power of two of
    // their own, so none overflows or underflows where its true value does not.
    std::vector<double> b_row(static_cast<std::size_t>(d));
    int e_resid = 0;  // max |aligned - B| = m·2^e_resid
    {
        double m = 0;
        for (index_t i = 0; i < n; ++i)
            for (index_t j = 0; j < d; ++j) {
                const double diff = std::fabs(std::ldexp(r.aligned(i, j), -eb) - double(B.row(i)[j]));
                m = std::max(m, diff);
            }
        // m is in B's units; an infinite difference (aligned near the double range apart
        // from B) is read as the largest double.
        if (std::isinf(m)) m = std::numeric_limits<double>::max();
        if (m > 0) std::frexp(m, &e_resid);
        e_resid += eb;
    }
    double resid = 0, spread = 0;
    for (index_t i = 0; i < n; ++i) {
        const T* b = B.row(i);
        const double* a = r.aligned.row(i).data();
        double amax = 0, bmax = 0;
        for (index_t j = 0; j < d; ++j) {
            b_row[std::size_t(j)] = std::ldexp(double(b[j]), eb);
            amax = std::max(amax, std::fabs(a[j]));
            bmax = std::max(bmax, std::fabs(b_row[std::size_t(j)]));
        }
        int sa = 0, sb = 0;
        if (amax > 0) std::frexp(amax, &sa);
        if (bmax > 0) std::frexp(bmax, &sb);
        double dot = 0, na = 0, nb = 0;
        for (index_t j = 0; j < d; ++j) {
            const double x = std::ldexp(a[j], -sa), y = std::ldexp(b_row[std::size_t(j)], -sb);
            dot += x * y;
            na += x * x;
            nb += y * y;
            const double diff = std::ldexp(a[j], -e_resid) - std::ldexp(b_row[std::size_t(j)], -e_resid);
            resid += diff * diff;
            const double dev = double(b[j]) - mb[std::size_t(j)];  // in B's scaled units
            spread += dev * dev;
        }
        // dot·2^(sa+sb) / (‖a‖‖b‖·2^(sa+sb) + 1e-8), divided through by 2^(sa+sb)
        r.cosine(i) = dot / (std::sqrt(na) * std::sqrt(nb) + std::ldexp(1e-8, -(sa + sb)));
        cos_sum += r.cosine(i);
    }
    r.mean_cosine = cos_sum / double(n);
    // ‖aligned − B‖ / ‖B − mean_b‖ = sqrt(resid/spread)·2^(e_resid − eb)
    r.relative_residual = spread > 0 ? std::ldexp(std::sqrt(resid / spread), e_resid - eb)
                                     : (resid > 0 ? std::numeric_limits<double>::infinity() : 0.0);
    return r;
}

}  // namespace detail

template <class T>
procrustes_result orthogonal_procrustes(matrix_view<const T> A, matrix_view<const T> B, bool proper_rotation) {
    detail::check_procrustes_pair(A, B, "orthogonal_procrustes");
    if (std::is_same<T, double>::value) {
        const int ea = detail::max_abs_exponent(A), eb = detail::max_abs_exponent(B);
        if (detail::pair_outside_safe_range(ea, eb)) {
            const row_major_matrix As = detail::scaled_copy(A, ea), Bs = detail::scaled_copy(B, eb);
            procrustes_result r = detail::procrustes_from_cross(
                detail::cross_product(detail::view_of(As), nullptr, detail::view_of(Bs), nullptr), proper_rotation);
            r.scale = std::ldexp(r.scale, ea + eb);
            return r;
        }
    }
    return detail::procrustes_from_cross(detail::cross_product(A, nullptr, B, nullptr), proper_rotation);
}

template <class T>
alignment_result procrustes_align(matrix_view<const T> A, matrix_view<const T> B, bool proper_rotation) {
    detail::check_procrustes_pair(A, B, "procrustes_align");
    if (std::is_same<T, double>::value) {
        const int ea = detail::max_abs_exponent(A), eb = detail::max_abs_exponent(B);
        if (detail::pair_outside_safe_range(ea, eb)) {
            const row_major_matrix As = detail::scaled_copy(A, ea), Bs = detail::scaled_copy(B, eb);
            return detail::align_scaled(detail::view_of(As), detail::view_of(Bs), proper_rotation, ea, eb);
        }
    }
    return detail::align_scaled(A, B, proper_rotation, 0, 0);
}

template <class T>
void orthogonal_procrustes_batched(matrix_view<const T> A, matrix_view<const T> B, index_t n,
                                   matrix_view<double> R_out, double* scale_out, bool proper_rotation) {
    const char* fn = "orthogonal_procrustes_batched";
    detail::check_view(A, fn, "A");
    detail::check_view(B, fn, "B");
    detail::check_same_shape(A, "A", B, "B", fn);
    detail::require_at_least(n, 1, fn, "n");
    const index_t d = A.cols();
    if (d < 1 || d > procrustes_small_max_dim)
        detail::fail(fn, "A", detail::concat("must have between 1 and ", procrustes_small_max_dim,
                                             " columns (use orthogonal_procrustes for larger d)"),
                     detail::concat(A.rows(), " x ", d));
    if (A.rows() % n != 0)
        detail::fail(fn, "A", detail::concat("must have a number of rows that is a multiple of n = ", n),
                     detail::concat(A.rows(), " x ", d));
    const index_t batch = A.rows() / n;
    detail::check_view(R_out, fn, "R_out");
    if (R_out.rows() != batch * d || R_out.cols() != d)
        detail::fail(fn, "R_out", detail::concat("must be (batch*d) x d = ", batch * d, " x ", d),
                     detail::concat(R_out.rows(), " x ", R_out.cols()));
    detail::require_data(scale_out, batch, fn, "scale_out");
    if (std::is_same<T, double>::value && batch > 0) {
        // Problems whose data lie outside [2^-400, 2^400] are solved on copies scaled by
        // powers of two of their own (see detail::max_abs_exponent); the other problems'
        // copies are exact, and their results the same.
        std::vector<int> ea(static_cast<std::size_t>(batch)), eb(static_cast<std::size_t>(batch));
        bool any = false, finite = true;
        for (index_t b = 0; b < batch && finite; ++b) {
            const auto a_b = A.middle_rows(b * n, n), b_b = B.middle_rows(b * n, n);
            finite = detail::all_finite_view(a_b) && detail::all_finite_view(b_b);
            if (!finite) break;
            ea[std::size_t(b)] = detail::max_abs_exponent(a_b);
            eb[std::size_t(b)] = detail::max_abs_exponent(b_b);
            any = any || detail::pair_outside_safe_range(ea[std::size_t(b)], eb[std::size_t(b)]);
        }
        if (finite && any) {
            row_major_matrix As(A.rows(), d), Bs(B.rows(), d);
            for (index_t i = 0; i < A.rows(); ++i)
                for (index_t j = 0; j < d; ++j) {
                    As(i, j) = std::ldexp(double(A.row(i)[j]), -ea[std::size_t(i / n)]);
                    Bs(i, j) = std::ldexp(double(B.row(i)[j]), -eb[std::size_t(i / n)]);
                }
            orthogonal_procrustes_batched(detail::view_of(As), detail::view_of(Bs), n, R_out, scale_out,
                                          proper_rotation);
            for (index_t b = 0; b < batch; ++b)
                scale_out[b] = std::ldexp(scale_out[b], ea[std::size_t(b)] + eb[std::size_t(b)]);
            return;
        }
    }
    // Finiteness without a second pass over A and B (for 10,000 × 128 × 16 the scan alone
    // costs as much as the rest): a NaN or Inf in a problem's rows makes its AᵀB
    // non-finite (Inf·0 = NaN, and no sum leaves NaN or Inf), so only then are A and B
    // scanned, for the error that names the culprit.
    std::atomic<bool> nonfinite{false};
    constexpr int W = detail::polar_group_workspace::W;
    const index_t grain = 64;  // problems per chunk: a multiple of W
    parallel_for((batch + grain - 1) / grain, [&](index_t chunk) {
        detail::polar_group_workspace pw{int(d)};
        std::unique_ptr<detail::small_workspace> sw(new detail::small_workspace);
        const index_t end = std::min(batch, (chunk + 1) * grain);
        for (index_t b0 = chunk * grain; b0 < end; b0 += W) {
            const int count = int(std::min<index_t>(W, end - b0));
            detail::lane_state state[W];
            for (int l = 0; l < count; ++l) {
                double* m = pw.m + index_t(l) * d * d;
                detail::cross_dispatch(A, B, (b0 + l) * n, n, int(d), *sw, m);
                bool finite = true;
                for (index_t i = 0; i < d * d; ++i) finite &= std::isfinite(m[i]);
                state[l] = finite ? detail::lane_state::iterate : detail::lane_state::nonfinite;
                if (!finite) {
                    // Non-finite input (reported below), or finite input whose AᵀB overflows.
                    nonfinite.store(true, std::memory_order_relaxed);
                } else if (proper_rotation && d <= detail::polar_lanes_max_dim) {
                    // det AᵀB < 0 (or singular): the flipped SVD.
                    std::copy(m, m + d * d, sw->xi);
                    double sign = 1;
                    if (!detail::polar_scalar_ops<0>::invert(sw->xi, int(d), sw->perm, sign) || sign < 0)
                        state[l] = detail::lane_state::svd;
                }
            }
            if (d <= detail::polar_lanes_max_dim) {
                detail::polar_group_dispatch(pw, int(d), count, state, proper_rotation, R_out, b0, scale_out);
                continue;
            }
            for (int l = 0; l < count; ++l) {  // larger d: one problem at a time
                double* out = R_out.row((b0 + l) * d);
                if (state[l] == detail::lane_state::nonfinite) {
                    for (index_t i = 0; i < d; ++i)
                        std::fill(out + i * R_out.row_stride(), out + i * R_out.row_stride() + d,
                                  std::numeric_limits<double>::quiet_NaN());
                    scale_out[b0 + l] = std::numeric_limits<double>::quiet_NaN();
                    continue;
                }
                std::copy(pw.m + index_t(l) * d * d, pw.m + index_t(l + 1) * d * d, sw->m);
                scale_out[b0 + l] = detail::polar_small(*sw, int(d), proper_rotation, out, R_out.row_stride());
            }
        }
    });
    if (nonfinite.load()) {
        detail::check_finite(A, fn, "A");
        detail::check_finite(B, fn, "B");
    }
}

}  // namespace geomkit
