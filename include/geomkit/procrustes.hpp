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
// result does not depend on the thread count, detail/gram.hpp). For d > 64, R comes from
// Eigen's BDCSVD of AᵀB (divide and conquer, as scipy's LAPACK gesdd). For d ≤ 64 — and
// in the batched call — R is the orthogonal polar factor of AᵀB from Higham's scaled
// Newton iteration X ← (ζX + ζ⁻¹X⁻ᵀ)/2 on a fixed-size workspace; it equals U·Vᵀ, and
// scale = tr(RᵀAᵀB) = Σσ. A singular AᵀB (where R is not unique, and scipy's answer is
// one of many minimisers) falls back to Eigen's JacobiSVD. On well-conditioned input R
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
// scale_out may already have been written; a finite problem whose AᵀB overflows gets
// NaN in R and scale.
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
#include <limits>
#include <memory>
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

// w.m (d × d) = A[r0 : r0+n]ᵀ · B[r0 : r0+n], accumulated in double over blocks of 64 rows.
template <class T>
void cross_small(const matrix_view<const T>& A, const matrix_view<const T>& B, index_t r0, index_t n,
                 int d, small_workspace& w) {
    using rows_map = Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
    rows_map m(w.m, d, d);
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
// w.m = A[r0 : r0+n]ᵀ · B[r0 : r0+n] for D a multiple of the batch width: M is built H
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
                const batch av(double(a[h]));
                for (int c = 0; c < NB; ++c) acc[h][c] = xsimd::fma(av, bv[c], acc[h][c]);
            }
        }
        for (int h = 0; h < H; ++h)
            for (int c = 0; c < NB; ++c) acc[h][c].store_unaligned(m + (i0 + h) * D + c * W);
    }
}
#endif

// w.m = AᵀB of problem rows [r0, r0+n), by the fixed-size kernel where there is one.
template <class T>
void cross_dispatch(const matrix_view<const T>& A, const matrix_view<const T>& B, index_t r0, index_t n, int d,
                    small_workspace& w) {
#if GEOMKIT_HAS_SIMD
    constexpr int W = int(xsimd::batch<double, simd::default_arch>::size);
    switch (d) {
        case 4: if constexpr (4 % W == 0) return cross_simd<4>(A, B, r0, n, w.m); break;
        case 8: if constexpr (8 % W == 0) return cross_simd<8>(A, B, r0, n, w.m); break;
        case 16: return cross_simd<16>(A, B, r0, n, w.m);
        case 32: return cross_simd<32>(A, B, r0, n, w.m);
        case 64: return cross_simd<64>(A, B, r0, n, w.m);
        default: break;
    }
#endif
    cross_small(A, B, r0, n, d, w);
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

inline procrustes_result procrustes_from_cross(const Eigen::MatrixXd& M, bool proper) {
    const index_t d = M.rows();
    procrustes_result r;
    r.R.resize(d, d);
    if (d <= procrustes_small_max_dim) {
        auto w = std::make_unique<small_workspace>();
        small_row_map(w->m, d, d) = M;
        r.scale = polar_small(*w, int(d), proper, r.R.data(), d);
        return r;
    }
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
    gram_product<double>(A, ma, B, mb, gram_depth::rows, false, tiling, M);
    return M;
}

}  // namespace detail

template <class T>
procrustes_result orthogonal_procrustes(matrix_view<const T> A, matrix_view<const T> B, bool proper_rotation) {
    detail::check_procrustes_pair(A, B, "orthogonal_procrustes");
    return detail::procrustes_from_cross(detail::cross_product(A, nullptr, B, nullptr), proper_rotation);
}

template <class T>
alignment_result procrustes_align(matrix_view<const T> A, matrix_view<const T> B, bool proper_rotation) {
    detail::check_procrustes_pair(A, B, "procrustes_align");
    const std::vector<double> ma = detail::column_means(A), mb = detail::column_means(B);
    procrustes_result fit = detail::procrustes_from_cross(detail::cross_product(A, ma.data(), B, mb.data()),
                                                          proper_rotation);
    const index_t n = A.rows(), d = A.cols();
    alignment_result r;
    r.mean_a = Eigen::Map<const Eigen::VectorXd>(ma.data(), d);
    r.mean_b = Eigen::Map<const Eigen::VectorXd>(mb.data(), d);
    r.aligned = (as_eigen(A).template cast<double>().rowwise() - r.mean_a.transpose()) * fit.R;
    r.aligned.rowwise() += r.mean_b.transpose();
    r.R = std::move(fit.R);
    r.scale = fit.scale;
    r.cosine.resize(n);
    double resid = 0, spread = 0, cos_sum = 0;
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
    // Finiteness without a second pass over A and B (for 10,000 × 128 × 16 the scan alone
    // costs as much as the rest): a NaN or Inf in a problem's rows makes its AᵀB
    // non-finite (Inf·0 = NaN, and no sum leaves NaN or Inf), so only then are A and B
    // scanned, for the error that names the culprit.
    std::atomic<bool> nonfinite{false};
    const index_t grain = 64;
    parallel_for((batch + grain - 1) / grain, [&](index_t c) {
        auto w = std::make_unique<detail::small_workspace>();
        for (index_t b = c * grain; b < std::min(batch, (c + 1) * grain); ++b) {
            detail::cross_dispatch(A, B, b * n, n, int(d), *w);
            bool finite = true;
            for (index_t i = 0; i < d * d; ++i) finite &= std::isfinite(w->m[i]);
            if (!finite) {
                // Non-finite input (reported below), or finite input whose AᵀB overflows.
                nonfinite.store(true, std::memory_order_relaxed);
                for (index_t i = 0; i < d; ++i)
                    std::fill(R_out.row(b * d + i), R_out.row(b * d + i) + d, std::numeric_limits<double>::quiet_NaN());
                scale_out[b] = std::numeric_limits<double>::quiet_NaN();
                continue;
            }
            scale_out[b] = detail::polar_small(*w, int(d), proper_rotation, R_out.row(b * d), R_out.row_stride());
        }
    });
    if (nonfinite.load()) {
        detail::check_finite(A, fn, "A");
        detail::check_finite(B, fn, "B");
    }
}

}  // namespace geomkit
