// Spectrum of a point cloud or a weight matrix: participation ratio, variance profile,
// singular-value rank measures and the QK similarity manifold of an attention layer.
//
// Layout: X, W, Wq, Wk are row-major n × d views (n points / output rows of dimension d),
// float or double, possibly strided (core/matrix_view.hpp).
//
// Participation ratio (the notebook's eigenspectrum cell): C = XcᵀXc / n with Xc the
// mean-centred rows (uncentred on request), PR = (Σλ)² / Σλ² over C's eigenvalues. Since
// Σλ = tr C and Σλ² = ‖C‖_F², no eigendecomposition is needed, the 1/n cancels, and
// ‖XcᵀXc‖_F = ‖XcXcᵀ‖_F lets the smaller of the d × d and n × n Gram matrices serve.
// The Gram is a rank-k update run as tiled, multi-threaded GEMMs (detail/gram.hpp) whose
// result is bitwise independent of the thread count.
//
// Precision policy: every sum reaches the result in double. Double input: centred in
// double, Gram in double. Float input (one pass over X): each block of 256 rows (of 256
// columns when n < d) is centred on its own means, taken in double, and scaled by a power
// of two; the centred values are rounded to float, their products summed in float over the
// block, and the block sums added in double together with the blocks' scatter about the
// overall mean (detail/gram.hpp, float_gram). Centring before the float products is what
// makes this safe: on uncentred, offset data they would lose the variance to cancellation;
// centring block by block keeps the rounding relative to the local spread however the data
// are offset, sorted or scaled. The PR stays within 1e-6 relative of the float64 value
// (tests/test_spectrum.cpp: offset clusters against long double, outliers, a row 1e25
// times the rest, sorted halves, magnitudes 2^±120). Without SIMD in the build, float
// input is widened and takes the double path. (total_variance from float input carries
// the float products' ~1e-7 relative error.) Where the processor has AMX-INT8 and the
// build AVX-512 (the Python package's avx512 module), float input with d ≥ 1024 columns
// and n ≥ d rows takes an integer Gram instead (detail/amx_gram.hpp): each centred value
// cut into four int8 digits, their products summed exactly in int32 tiles. It is 1.2×
// faster at 20000 × 2048, and its PR lies within 1e-8 of the float64 value on the data
// above (1e-10 but for the row 1e25 times the rest) where the float kernel's lies within
// 1e-9 to 6e-7.
//
// Singular values (spectrum_stats, qk_manifold) come from one of two routes:
//   gram — eigenvalues of the smaller Gram WᵀW or WWᵀ in double (SelfAdjointEigenSolver),
//          S = sqrt(max(λ, 0)). Fast, but the absolute error of λ is ~ε·S₀², so S_i has
//          relative error ~ε·(S₀/S_i)²: exact to ~1e-10 for S_i ≥ 1e-3·S₀, useless for
//          S_i near zero (a rank-deficient W gets S_min ~ 1e-8·S₀ instead of ~1e-16·S₀).
//   svd  — backward stable (absolute error ~ε·S₀), as torch.linalg.svdvals and
//          numpy.linalg.svd: W in double, Householder QR first when one side is at least
//          5/3 of the other, then a two-stage reduction to bidiagonal form
//          (detail/band_bidiagonal.hpp: dense to a band of 32 superdiagonals by blocked
//          Householder QR and LQ whose updates are threaded matrix products, then band to
//          bidiagonal by bulge chasing on one thread), then the
//          bidiagonal's singular values by vectorised bisection on Sturm counts (the
//          differential stationary qd transform of BᵀB − x²·I). Every step is cut by the
//          sizes alone: the values are bitwise the same at any thread count.
//   automatic (the default) takes the svd route for nearly square W (the longer side under
//          1.6 times the shorter, where it costs at most about twice the Gram route). Otherwise
//          it keeps the Gram route only where S_min ≥ r·S₀, r = gram_route_floor(k) for a
//          shorter side of k (6.7e-4 at k = 2048: where the Gram route's error model
//          k·ε·(S₀/S_i)²/2 is at most 2.5e-7; never below 5e-4). It takes the svd route at once
//          when the shorter side's column (or row) norms differ by more than 1/r (which proves
//          S_min < r·S₀), else forms the Gram and takes the svd route instead whenever
//          S_min < r·S₀ may hold: a Cholesky factorisation of G − r²·λ̂·I fails first (λ̂ a
//          Rayleigh-quotient lower bound on λ_max; on G's band form after the eigensolver's
//          first stage from 1024 rows, O(n·32²) flops; on G itself below), or else the values
//          show it. So every value, the condition number included, is svd-accurate: the Gram
//          route's relative error ~k·ε·(S₀/S_i)²/2 wherever it is taken is at most 2.5e-7
//          (measured: 3e-13 on the benchmarks' graded 5632 x 2048 with S_min = 6.9e-4·S₀,
//          1e-10 on an ungraded one with 6e-4·S₀).
//
// Range: every route first scales its input by a power of two (exact) wherever a Gram,
// square or product could overflow or underflow: the svd route always (largest entry
// into [1, 2)); double input with entries beyond 2^±200 before the Gram route, the
// eigenspectrum and the participation ratio; Wq and Wk before QK = Wq·Wkᵀ; the singular
// values before the battery's sums of squares. So W = rand(8, 8)·1e±300 gets the stats of
// rand(8, 8), its values scaled, and only a result whose true value lies beyond the double
// range (e.g. the eigenvalues of XᵀX/n for X ~ 1e300) comes out as inf or 0.
//
// Errors (geomkit::error, naming the argument): negative sizes, null data, bad strides,
// empty matrices, NaN/Inf, Wq/Wk of different shapes (for qk_manifold_gqa: head_dim < 1,
// rows that are not whole heads, key heads that do not divide the query heads), a fused QKV
// whose rows are not a multiple of 3.
#pragma once

#include <Eigen/Core>
#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <Eigen/SVD>
#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "core/eigen.hpp"
#include "core/error.hpp"
#include "core/matrix_view.hpp"
#include "core/parallel.hpp"
#include "detail/gram.hpp"
#include "detail/amx_gram.hpp"
#include "detail/band_bidiagonal.hpp"

namespace geomkit {

// ------------------------------------------------------------------ participation ratio
struct participation_result {
    double pr = 0;              // (Σλ)² / Σλ²; 0 when every λ is 0
    double pr_over_dim = 0;     // pr / d (d = X.cols(), the notebook's hidden_dim)
    double total_variance = 0;  // Σλ = tr C with C = XcᵀXc / n
};

// PR of the rows of X without an eigendecomposition. X needs ≥ 1 row and ≥ 1 column.
template <class T>
participation_result participation(matrix_view<const T> X, bool centered = true);

template <class T>
double participation_ratio(matrix_view<const T> X, bool centered = true) {
    return participation(X, centered).pr;
}

// The notebook's eigenspectrum: eigenvalues of C = XcᵀXc / n, descending (min(n, d) of
// them: the rest are 0), and the number of leading directions whose cumulative variance
// first reaches 80/90/95/99 % (numpy: searchsorted(cumsum(λ)/Σλ, f) + 1). Uses
// SelfAdjointEigenSolver on the smaller Gram in double.
struct eigenspectrum_result {
    std::vector<double> eigenvalues;
    double pr = 0, pr_over_dim = 0, total_variance = 0;
    index_t dims_80 = 0, dims_90 = 0, dims_95 = 0, dims_99 = 0;
};

template <class T>
eigenspectrum_result eigenspectrum(matrix_view<const T> X, bool centered = true);

// ---------------------------------------------------------------- weight-matrix battery
enum class singular_value_method { automatic, gram, svd };

// Singular values of W, descending, min(rows, cols) of them (see the precision policy).
template <class T>
std::vector<double> singular_values(matrix_view<const T> W,
                                    singular_value_method method = singular_value_method::automatic);

// The notebook's SVD battery from S (descending):
//   stable_rank = ΣS² / S₀²            pr = (ΣS)² / ΣS²
//   active_frac = #(S > 0.01·S₀) / len(S)
//   rank_90     = first r (1-based) with cumsum(S)_r / ΣS ≥ 0.90
//   condition   = S₀ / (S_min + 1e-10)   max_sv = S₀, min_sv = S_min
// An all-zero W gives stable_rank = pr = active_frac = condition = 0 and rank_90 = 0
// (the notebook would divide by zero there).
struct spectrum_stats_result {
    double stable_rank = 0, pr = 0, active_frac = 0;
    index_t rank_90 = 0;
    double condition = 0, max_sv = 0, min_sv = 0;
};

// S may be given as S·2^e (`exponent` = e, exact): every ratio is then taken on the scaled
// values and only max_sv, min_sv and condition's 1e-10 see the scale, so a W whose S₀
// lies beyond the double range (entries near 1e308) still gets finite ratios.
spectrum_stats_result spectrum_stats_from_singular_values(const std::vector<double>& S, int exponent = 0);

namespace detail {
template <class T>
std::vector<double> scaled_singular_values(const matrix_view<const T>& W, singular_value_method method, int& exponent);
}

template <class T>
spectrum_stats_result spectrum_stats(matrix_view<const T> W,
                                     singular_value_method method = singular_value_method::automatic) {
    int e = 0;
    const std::vector<double> S = detail::scaled_singular_values(W, method, e);
    return spectrum_stats_from_singular_values(S, e);
}

// ------------------------------------------------------------------------ QK manifold
// Wq, Wk: (p × m) projection weights in torch's nn.Linear layout [out, in], same shape.
// QK = Wq·Wkᵀ (p × p, formed in double). Reports, as the notebook's _analyze_qk_matrix:
//   stable_rank, pr       of QK's singular values (as spectrum_stats; 0 for QK = 0)
//   sym_dev             = ‖QK − QKᵀ‖_F / (‖QK‖_F + 1e-10)
//   n_positive/negative = #eigenvalues of (QK + QKᵀ)/2 that are > 0 / < 0; those within
//                         p·ε·max|λ| of zero (ε = 2⁻⁵²) count in neither: rounding, not sign
//                         (a rank-deficient QK has such values; a full-rank one, as a rule, none)
//   top3_eig            = its three largest eigenvalues, descending (fewer when p < 3)
//   dim                 = p
struct qk_manifold_result {
    double stable_rank = 0, pr = 0, sym_dev = 0;
    index_t n_positive = 0, n_negative = 0;
    std::vector<double> top3_eig;
    index_t dim = 0;
};

template <class T>
qk_manifold_result qk_manifold(matrix_view<const T> Wq, matrix_view<const T> Wk,
                               singular_value_method method = singular_value_method::automatic);

// Grouped-query attention: Wk (r × m) holds H_kv key heads of head_dim = d rows each, Wq
// (p × m) H query heads of d rows, H a multiple of H_kv. The result is qk_manifold(Wq, Wk′)
// with Wk′ (p × m) = Wk's head blocks each repeated for g = H / H_kv query heads (key head
// h serves query heads h·g … h·g + g − 1, as attention does at run time). QK then has rank
// at most r and its symmetric part at most 2r: where 2r < p the p × p spectra are not
// formed, only r- and 2r-sized ones (see analyze_grouped_qk), so d = 2048, r = 256 costs
// about a tenth of the dense route. The p − 2r zero eigenvalues count as neither sign, as
// the dense route counts its rounding-level ones. With r = p it is qk_manifold.
template <class T>
qk_manifold_result qk_manifold_gqa(matrix_view<const T> Wq, matrix_view<const T> Wk, index_t head_dim,
                                   singular_value_method method = singular_value_method::automatic);

// A fused in_proj / qkv weight (3p × m, rows = [Wq; Wk; Wv]) is split along its rows
// (the output axis) into thirds, as the notebook does for DINOv2 and open_clip, and
// qk_manifold(first third, second third) is returned.
template <class T>
qk_manifold_result qk_manifold_fused(matrix_view<const T> Wqkv,
                                     singular_value_method method = singular_value_method::automatic);

// ===================================================================== implementation
namespace detail {

template <class T>
void check_spectrum_shape(const matrix_view<const T>& X, const char* function, const char* argument) {
    check_view(X, function, argument);
    if (X.rows() < 1 || X.cols() < 1)
        fail(function, argument, "must have at least 1 row and 1 column", concat(X.rows(), " x ", X.cols()));
}

template <class T>
void check_spectrum_input(const matrix_view<const T>& X, const char* function, const char* argument) {
    check_spectrum_shape(X, function, argument);
    check_finite(X, function, argument);
}

// The largest |entry| of X (0 for an all-zero X); X is finite.
template <class T>
double max_abs(const matrix_view<const T>& X) {
    double top = 0;
    for (index_t i = 0; i < X.rows(); ++i) {
        const T* row = X.row(i);
        T m = 0;
        for (index_t j = 0; j < X.cols(); ++j) m = std::max(m, std::abs(row[j]));
        top = std::max(top, double(m));
    }
    return top;
}

// The Gram route's floor for a shorter side of k: it is taken only where S_min ≥ r(k)·S₀,
// r(k) = sqrt(k·u / 5e-7) (u = 2⁻⁵³), so that its error model k·u·(S₀/S_i)²/2 stays at or
// below 2.5e-7, a quarter of the 1e-6 bar, for every value it returns; never below 5e-4
// (a condition of 2000), as the model counts the eigensolver's rounding, not the Gram's
// sums over the longer side. r = 6.7e-4 at k = 2048, 1e-3 at about 4500, 1.35e-3 at 8192.
// On the float32 matrices of the benchmarks (columns graded over three decades, condition
// about 1.1e3 to 1.5e3) the Gram route's values lie within 3e-13 of a float64 SVD; on
// ungraded ones (random rotations of the same spectrum) within 1e-10 (numpy, k = 2048).
inline double gram_route_floor(index_t k) {
    return std::max(5e-4, std::sqrt(double(std::max<index_t>(k, 1)) * 0x1p-53 / 5e-7));
}

// Whether the norms of W's shorter-side vectors (its columns when it has at least as many
// rows as columns, else its rows) already prove S_min < r·S₀: S_min ≤ the smallest such
// norm (W·e_j for a column) and S₀ ≥ the largest. O(size), in double; entries within
// 2^±200 (no square overflows or underflows to matter).
template <class T>
bool short_side_norms_spread(const matrix_view<const T>& W, double r) {
    const bool columns = W.rows() >= W.cols();
    std::vector<double> sq(std::size_t(columns ? W.cols() : W.rows()), 0.0);
    for (index_t i = 0; i < W.rows(); ++i) {
        const T* row = W.row(i);
        if (columns)
            for (index_t j = 0; j < W.cols(); ++j) sq[std::size_t(j)] += double(row[j]) * double(row[j]);
        else {
            double t = 0;
            for (index_t j = 0; j < W.cols(); ++j) t += double(row[j]) * double(row[j]);
            sq[std::size_t(i)] = t;
        }
    }
    const auto range = std::minmax_element(sq.begin(), sq.end());
    return *range.first < r * r * *range.second;
}

// The exponent e of a power of two 2^e that brings the largest |entry| `top` into [1, 2)
// (0 for top = 0). Multiplying by it is exact, short of underflow of entries below
// 2^-1022 of the largest, which no singular value can see. For a subnormal `top` (below
// 2^-1000) e stops at 1000, as 2^e itself must stay finite: the largest entry then lands
// in [2^-74, 2), where no square underflows either.
inline int unit_exponent(double top) { return top > 0 ? std::min(-std::ilogb(top), 1000) : 0; }

// Whether a Gram of values up to `top`, or the sum of its squared entries (fourth powers
// of the values times the sizes), may overflow or lose the spectrum to underflow in
// double: outside [2^-200, 2^200], scale first. Float input never is.
inline bool needs_scaling(double top) { return top > 0 && (top > 0x1p200 || top < 0x1p-200); }

// The smaller Gram of (X − mean) in double: d × d when n ≥ d, else n × n.
template <class T>
Eigen::MatrixXd smaller_gram_in(const matrix_view<const T>& X, bool centered) {
    std::vector<double> mean;
    if (centered) mean = column_means(X);
    const double* m = centered ? mean.data() : nullptr;
    const bool by_rows = X.rows() >= X.cols();
    gram_tiling tiling;
    tiling.tile = default_gram_tile(by_rows ? X.cols() : X.rows());
    Eigen::MatrixXd G;
    gram_product(X, m, X, m, by_rows ? gram_depth::rows : gram_depth::cols, true, tiling, G);
    return G;
}

// tr(G) and ‖G‖_F² of the participation ratio's Gram (the smaller one), after checking X
// is finite: in double, for double input and for float input in a build without SIMD
// (float input otherwise takes the float kernel below).
struct gram_moments {
    double trace = 0, frobenius_sq = 0;
    int exponent = 0;  // X was scaled by 2^exponent: the true trace is trace·2^(−2·exponent)
};

// X·2^e in double, when X's entries lie beyond 2^±400 (double input): the Gram of X itself
// could overflow or underflow. Empty (e = 0) otherwise.
template <class T>
int scaled_if_needed(const matrix_view<const T>& X, eigen_row_major<double>& scaled) {
    const double top = max_abs(X);
    if (!needs_scaling(top)) return 0;
    const int e = unit_exponent(top);
    scaled = as_eigen(X).template cast<double>() * std::ldexp(1.0, e);
    return e;
}

inline gram_moments moments_of(const Eigen::MatrixXd& G) {
    gram_moments m;
    double diag_sq = 0, off_sq = 0;
    for (index_t j = 0; j < G.rows(); ++j) {
        m.trace += G(j, j);
        diag_sq += G(j, j) * G(j, j);
        for (index_t i = j + 1; i < G.rows(); ++i) off_sq += G(i, j) * G(i, j);
    }
    m.frobenius_sq = diag_sq + 2.0 * off_sq;
    return m;
}

template <class T>
gram_moments participation_moments(const matrix_view<const T>& X, bool centered, const char* function) {
    check_finite(X, function, "X");
    eigen_row_major<double> scaled;
    const int e = scaled_if_needed(X, scaled);
    gram_moments m = e != 0 ? moments_of(smaller_gram_in(make_view(std::as_const(scaled)), centered)) : moments_of(smaller_gram_in(X, centered));
    m.exponent = e;
    return m;
}

#if GEOMKIT_HAS_SIMD
// Float input: one pass over X (detail/gram.hpp's float_gram centres each 256-deep block of
// the depth on its own means, scales it by its own power of two and adds the blocks'
// scatter back in double); tr(G) and ‖G‖_F² are read off the Gram's tiles without forming
// the matrix. A NaN or Inf shows as a non-finite block; check_finite then names it.
inline gram_moments participation_moments(const matrix_view<const float>& X, bool centered, const char* function) {
#if GEOMKIT_HAS_AMX
    // d ≥ 1024 (and n ≥ d): there AMX's exact integer Gram (detail/amx_gram.hpp) beats the
    // float kernel, 1.4× at 20000 × 2048; at 30000 × 768 they tie, and below it loses to
    // its packing.
    if (X.rows() >= X.cols() && X.cols() >= amx_gram::min_width && amx_int8_usable()) {
        const amx_gram A(X, centered);
        if (!A.finite()) check_finite(X, function, "X");
        const auto tf = trace_and_frobenius_sq(A);
        return {tf.first, tf.second};
    }
#endif
    const float_gram<> G(X, centered, X.rows() >= X.cols() ? gram_depth::rows : gram_depth::cols);
    if (!G.finite()) check_finite(X, function, "X");
    const auto tf = trace_and_frobenius_sq(G);
    return {tf.first, tf.second};
}
#endif

inline index_t dims_reaching(const std::vector<double>& cumfrac, double f) {
    const auto it = std::lower_bound(cumfrac.begin(), cumfrac.end(), f);
    return std::min<index_t>(index_t(it - cumfrac.begin()) + 1, index_t(cumfrac.size()));
}

// Descending singular values from the eigenvalues (ascending) of a Gram matrix.
inline std::vector<double> sqrt_descending(const Eigen::VectorXd& ascending) {
    std::vector<double> s(std::size_t(ascending.size()));
    for (index_t i = 0; i < ascending.size(); ++i)
        s[std::size_t(i)] = std::sqrt(std::max(0.0, ascending(ascending.size() - 1 - i)));
    return s;
}

// Singular values, descending, of the upper bidiagonal matrix B with diagonal a and
// superdiagonal b (k and k − 1 entries), by bisection on Sturm counts. The count of σ < x
// is the number of negative pivots D⁺ᵢ of BᵀB − x²·I = L⁺·D⁺·L⁺ᵀ, found from BᵀB = L·D·Lᵀ
// (D = a², L·D·Lᵀ's off-diagonal products e = b²) by the differential stationary qd
// transform (Dhillon and Parlett; LAPACK's dlaneg): s₁ = −x², D⁺ᵢ = aᵢ² + sᵢ,
// sᵢ₊₁ = sᵢ·bᵢ²/D⁺ᵢ − x². It is mixed relatively stable: the computed count is exact for
// a, b perturbed by a few ulps each, which moves every σ by a few ulps of itself, so each
// σ is found to within its bisection width. One division per entry, where the Sturm
// sequence of the 2k × 2k Golub–Kahan form takes two. Every value is bisected 53 times
// from [0, Gershgorin bound], to an absolute width of ε/2 of the bound (below the
// bidiagonalisation's own error of ~ε·‖W‖). `lanes` values are bisected together so the
// divisions vectorise and their latencies overlap; the groups run on geomkit threads (each
// value depends only on its own group: thread-count independent).
inline std::vector<double> bidiagonal_singular_values(const std::vector<double>& a, const std::vector<double>& b,
                                                      int threads = 0) {
    const index_t k = index_t(a.size());
    std::vector<double> s(std::size_t(k), 0.0);
    double top = 0;
    for (double v : a) top = std::max(top, std::abs(v));
    for (double v : b) top = std::max(top, std::abs(v));
    if (k == 0 || top == 0) return s;
    // A power-of-two scale (exact) puts the largest entry in [1, 2): no square overflows,
    // and squares below 2^-1022 only matter at ~1e-154 of the largest value.
    const double scale = std::ldexp(1.0, -std::ilogb(top));
    std::vector<double> q(static_cast<std::size_t>(k)), e(static_cast<std::size_t>(k));
    double bound = 0;
    for (index_t i = 0; i < k; ++i) {
        const double ai = std::abs(a[std::size_t(i)] * scale);
        const double bi = i + 1 < k ? std::abs(b[std::size_t(i)] * scale) : 0.0;
        const double bprev = i > 0 ? std::abs(b[std::size_t(i - 1)] * scale) : 0.0;
        q[std::size_t(i)] = ai * ai;
        e[std::size_t(i)] = bi * bi;
        // Gershgorin on the Golub–Kahan form: σ ≤ max(|aᵢ| + |bᵢ₋₁|, |aᵢ| + |bᵢ|).
        bound = std::max(bound, ai + std::max(bi, bprev));
    }
    bound *= 1 + 8 * std::numeric_limits<double>::epsilon();
    // A pivot that rounds to (near) zero is replaced by −pivmin: an ~1e-280 change of one
    // entry of BᵀB, far below any x² the bisection probes (≥ ~1e-32). With every |s|
    // bounded by ~100 otherwise, sᵢ₊₁ = sᵢ·eᵢ/D⁺ᵢ stays below ~1e283 and never overflows.
    const double pivmin = 1e-280;
    constexpr index_t lanes = bisection_lanes;
    // σ number i (descending) is the (k − i)-th smallest.
    bisect_in_lanes(
        k, 0.0, bound, std::numeric_limits<double>::digits, [k](index_t i) { return k - i; },
        [&](const double* x, double* below) {
            double x2[lanes], t[lanes];
            for (index_t l = 0; l < lanes; ++l) {
                x2[l] = x[l] * x[l];
                t[l] = -x2[l];
                below[l] = 0;
            }
            for (index_t i = 0; i < k; ++i) {
                const double qi = q[std::size_t(i)], ei = e[std::size_t(i)];
                for (index_t l = 0; l < lanes; ++l) {
                    double d = qi + t[l];
                    d = std::abs(d) < pivmin ? -pivmin : d;
                    below[l] += d < 0 ? 1.0 : 0.0;
                    t[l] = t[l] * ei / d - x2[l];
                }
            }
        },
        [&](index_t i, double v) { s[std::size_t(i)] = v / scale; }, threads);
    return s;
}

// R of a Householder QR of A (m × n, m ≥ n), computed in place: panels of 64 columns
// factored recursively with their block reflector I − V·T·Vᵀ (detail/band_bidiagonal.hpp's
// panel_qr), the columns right of each panel updated by it as two matrix products (the
// block-reflector kernels there), in
// fixed 64-column chunks run on geomkit threads. The chunks do not depend on the thread
// count, nor does the result. (T is built once per panel, where Eigen's blocked QR
// rebuilds it for every chunk it updates.)
inline Eigen::MatrixXd householder_r(Eigen::Ref<Eigen::MatrixXd> A, int threads = 0) {
    const index_t m = A.rows(), n = A.cols();
    // 64-column panels: each panel streams the trailing matrix through memory twice, and a
    // 32000-row one does not fit in any cache; 64 took the 32000 x 2048 QR from 8.7 s to
    // 7.7 s on one Zen 4 core; 128 gained no more.
    constexpr index_t panel_width = 64, chunk = 64;
    Eigen::MatrixXd V, T;
    for (index_t k = 0; k < n; k += panel_width) {
        const index_t bs = std::min(panel_width, n - k), right = n - k - bs;
        V.resize(m - k, bs);
        T.resize(bs, bs);
        panel_qr(A.block(k, k, m - k, bs), V, T);
        parallel_for(
            (right + chunk - 1) / chunk,
            [&](index_t c) {
                const index_t c0 = k + bs + c * chunk, w = std::min(chunk, n - c0);
                double* C = &A(k, c0);
                Eigen::MatrixXd Y(bs, w);
                short_t_times(Y.data(), 1, bs, V.data(), V.outerStride(), bs, C, A.outerStride(), w, m - k);
                Y = T.transpose().triangularView<Eigen::Lower>() * Y;
                rank_update(C, A.outerStride(), m - k, w, V.data(), V.outerStride(), Y.data(), bs, bs);
            },
            threads);
    }
    return A.topRows(n).template triangularView<Eigen::Upper>();
}

// The band width of the two-stage reduction: GEMM-efficient panels against the bulge
// chase's ~8·b·n² flops.
constexpr index_t svd_band_width = 32;

// Singular values of W by the backward-stable route: W (or Wᵀ, whichever has at least as
// many rows as columns) in double, scaled by a power of two that brings its largest entry
// into [1, 2) (exact: no Householder norm can overflow or underflow), reduced to R by the
// Householder QR above first when it has at least 5/3 as many rows as columns (there the
// QR's 2mn² − 2n³/3 flops plus the square band reduction's 8n³/3 undercut the band
// reduction of the whole, 4mn² − 4n³/3), then the two-stage reduction to bidiagonal form
// (detail/band_bidiagonal.hpp: dense to band by blocked Householder products, band to
// bidiagonal by bulge chasing) and the bisection above. Absolute error ~ε·S₀, as LAPACK's
// gesdd and Eigen's BDCSVD.
// The leading dimension for a column-major matrix of `rows` rows: padded by a cache line
// when `rows` is a multiple of 512 doubles (4 KB), as then every column of a row chunk
// falls into the same few cache sets.
inline index_t padded_rows(index_t rows) { return rows % 512 == 0 ? rows + 8 : rows; }

template <class T>
std::vector<double> svd_route_values(const matrix_view<const T>& W) {
    const int e = unit_exponent(max_abs(W));
    const double scale = std::ldexp(1.0, e);
    const bool tall = W.rows() >= W.cols();
    const index_t m = tall ? W.rows() : W.cols(), n = tall ? W.cols() : W.rows();
    // A = W (or Wᵀ) in double, scaled, column-major, filled by chunks of 64 columns on
    // geomkit threads (so the fresh pages are touched in parallel too).
    Eigen::MatrixXd storage(padded_rows(m), n);
    Eigen::Ref<Eigen::MatrixXd> A = storage.topRows(m);
    constexpr index_t chunk = 64;
    parallel_for((n + chunk - 1) / chunk, [&](index_t c) {
        const index_t j0 = c * chunk, w = std::min(chunk, n - j0);
        if (tall) {
            for (index_t i = 0; i < m; ++i) {
                const T* row = W.row(i) + j0;
                for (index_t j = 0; j < w; ++j) A(i, j0 + j) = double(row[j]) * scale;
            }
        } else {
            for (index_t j = 0; j < w; ++j) {
                const T* row = W.row(j0 + j);
                for (index_t i = 0; i < m; ++i) A(i, j0 + j) = double(row[i]) * scale;
            }
        }
    });
    const auto values = [&](Eigen::Ref<Eigen::MatrixXd> B) {
        reduce_to_upper_band(B, svd_band_width);
        std::vector<double> a, b;
        chase_band_to_bidiagonal(B, n, svd_band_width, a, b);
        return bidiagonal_singular_values(a, b);
    };
    std::vector<double> s;
    if (m * 3 >= n * 5 && n > 1) {
        Eigen::MatrixXd R(padded_rows(n), n);
        R.topRows(n) = householder_r(A);
        storage.resize(0, 0);
        s = values(R.topRows(n));
    } else {
        s = values(A);
    }
    for (double& v : s) v = std::ldexp(v, -e);
    return s;
}

// Eigenvalues, ascending, of a symmetric S (double). Below `min_rows` rows (1024 by
// default), Eigen's SelfAdjointEigenSolver. From there the symmetric two-stage route of
// detail/band_bidiagonal.hpp: S (scaled by a power of two, largest entry in [1, 2)) to a
// band of 32 sub- and superdiagonals by Householder QR panels and the two-sided update
// Qᵀ·S·Q as threaded matrix products on the lower triangle, band to tridiagonal by bulge
// chasing on the lower triangle, then the tridiagonal's eigenvalues by the root-free QL
// iteration (tridiagonal_eigenvalues). Backward stable (absolute error ~ε·‖S‖₂) and bitwise the same
// at any thread count. On an idle 2-core Zen 4 it ties Eigen's solver at n = 768 and takes
// 1.2-1.4x less time at 1024, 1.8x less at 1536 and 2.4x less at 2048 (0.47 s against
// 1.12 s). (Before, this took the svd route on S + c·I, twice the flops of the first
// stage.)
//
// With floor_ratio = ρ > 0 the caller only wants the values when λ_min ≥ ρ·λ_max may hold
// (the Gram route's test): a Cholesky factorisation of S − ρ·λ̂·I that fails, with λ̂ ≤ λ_max
// a lower bound on the largest eigenvalue, proves λ_min < ρ·λ_max and returns an empty
// vector before the eigenvalue stages. (One that passes proves nothing of λ_max: the caller
// checks the values it gets.) Below min_rows it factors S itself (n³/3 flops), λ̂ from
// power steps on S; on the two-stage route it factors the band after the first stage,
// which has the same eigenvalues, in O(n·32²) flops, λ̂ from power steps on the band
// (band_top_eigenvalue_lower_bound), so the test costs nothing when it passes (it had cost
// an n³/3 dense factorisation, 0.12 s at n = 2048 on one Zen 4 core). λ̂ is what a
// Rayleigh quotient gives, not ‖S‖_F: on a Gram whose columns are graded over three
// decades ‖S‖_F is about 8·λ_max, and a floor scaled by it failed matrices well inside ρ.
inline Eigen::VectorXd symmetric_eigenvalues(const Eigen::MatrixXd& S, double floor_ratio = 0, index_t min_rows = 1024) {
    const index_t n = S.rows();
    if (n < std::max<index_t>(min_rows, 1)) {
        if (floor_ratio > 0 && n > 0) {
            double top = S.diagonal().maxCoeff();
            Eigen::VectorXd x = S.diagonal().cwiseAbs().cwiseSqrt(), y(n);
            for (int step = 0; step < 24 && x.squaredNorm() > 0 && std::isfinite(x.squaredNorm()); ++step) {
                y.noalias() = S.selfadjointView<Eigen::Lower>() * x;
                top = std::max(top, x.dot(y) / x.squaredNorm());
                x = y / std::sqrt(y.squaredNorm() > 0 ? y.squaredNorm() : 1.0);
            }
            const Eigen::LLT<Eigen::MatrixXd> llt(S - floor_ratio * top * Eigen::MatrixXd::Identity(n, n));
            if (llt.info() != Eigen::Success) return Eigen::VectorXd(0);
        }
        Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(S, Eigen::EigenvaluesOnly);
        return es.eigenvalues();
    }
    double top = 0;
    for (index_t j = 0; j < n; ++j) top = std::max(top, S.col(j).cwiseAbs().maxCoeff());
    const int e = unit_exponent(top);
    Eigen::MatrixXd storage(padded_rows(n), n);
    auto A = storage.topRows(n);
    A = S * std::ldexp(1.0, e);
    constexpr index_t band = 32;
    reduce_symmetric_to_band(A, band);
    if (floor_ratio > 0 &&
        !band_positive_definite(A, band, floor_ratio * band_top_eigenvalue_lower_bound(A, band)))
        return Eigen::VectorXd(0);
    std::vector<double> d, sub;
    chase_symmetric_band(A, band, d, sub);
    Eigen::VectorXd ev = tridiagonal_eigenvalues(d, sub);
    for (index_t i = 0; i < n; ++i) ev(i) = std::ldexp(ev(i), -e);
    return ev;
}

// The sign counts and the top three of the eigenvalues of (QK + QKᵀ)/2 (all p of them,
// ascending, scaled by 2^e). An eigenvalue within p·ε·max|λ| of zero counts as neither sign:
// it is rounding, as the solver's backward error (~√p·ε·‖S‖₂) is far below that. A
// rank-deficient QK (GQA keys repeated per head: rank ≤ H_kv·d) has p − rank such values,
// whose signs would otherwise fall by chance.
inline void count_qk_eigenvalues(const Eigen::VectorXd& ev, int e, qk_manifold_result& r) {
    const index_t p = ev.size();
    const double top = p > 0 ? std::max(std::abs(ev(0)), std::abs(ev(p - 1))) : 0.0;
    const double tol = double(p) * std::numeric_limits<double>::epsilon() * top;
    for (index_t i = 0; i < p; ++i) {
        r.n_positive += ev(i) > tol;
        r.n_negative += ev(i) < -tol;
    }
    for (index_t i = 0; i < std::min<index_t>(3, p); ++i) r.top3_eig.push_back(std::ldexp(ev(p - 1 - i), -e));
}

inline double qk_symmetry_deviation(const eigen_row_major<double>& QK, int e) {
    return (QK - QK.transpose()).norm() / (QK.norm() + std::ldexp(1e-10, e));
}

// QK is the true product times 2^e (exact): stable_rank, pr and the eigenvalue signs are
// scale-free, sym_dev's 1e-10 and the top eigenvalues are scaled to match.
inline qk_manifold_result analyze_qk(const eigen_row_major<double>& QK, singular_value_method method, int e = 0) {
    qk_manifold_result r;
    r.dim = QK.rows();
    const spectrum_stats_result st = spectrum_stats(make_view(QK), method);
    r.stable_rank = st.stable_rank;
    r.pr = st.pr;
    r.sym_dev = qk_symmetry_deviation(QK, e);
    const Eigen::MatrixXd sym = 0.5 * (QK + QK.transpose());
    count_qk_eigenvalues(symmetric_eigenvalues(sym), e, r);
    return r;
}

// QK = F·Sᵀ of analyze_grouped_qk below: column block h (d wide) of QK is column block
// h / g of F (g = p / r).
inline eigen_row_major<double> expand_grouped_qk(const eigen_row_major<double>& F, index_t d) {
    const index_t p = F.rows(), g = p / F.cols();
    eigen_row_major<double> QK(p, p);
    for (index_t h = 0; h < p / d; ++h) QK.middleCols(h * d, d) = F.middleCols((h / g) * d, d);
    return QK;
}

// Grouped-query attention without the p × p eigenproblem. F = Wq·Wkᵀ (p × r, r = H_kv·d,
// times 2^e) and QK = F·Sᵀ, where S (p × r) picks for column j of QK its key row
// src(j) = (j / (g·d))·d + j mod d (g = p / r query heads per key head). SᵀS = g·I, so
// U = S/√g has orthonormal columns and QK = √g·F·Uᵀ:
// - QK's singular values are √g times F's and p − r zeros: stable_rank and pr, which are
//   scale-free and blind to zeros, are F's.
// - (QK + QKᵀ)/2 = (√g/2)(F·Uᵀ + U·Fᵀ). With C = UᵀF (r × r) and F − U·C = Q₂R₂ (Householder
//   QR; U·C subtracts from each row of F its group's mean row, twice for orthogonality),
//   F = [U Q₂]·[C; R₂] with [U Q₂] orthonormal, so its eigenvalues are (√g/2) times those
//   of the 2r × 2r matrix [[C + Cᵀ, R₂ᵀ], [R₂, 0]], and p − 2r zeros.
// Backward stable as the dense route, at 2·p·m·r + O(p·r²) + the 2r × 2r eigenproblem
// instead of 2·p²·m + two p × p spectra, and without any p × p matrix. Used where 2r < p
// (g ≥ 3).
inline qk_manifold_result analyze_grouped_qk(const eigen_row_major<double>& F, index_t head_dim,
                                             singular_value_method method, int e) {
    const index_t p = F.rows(), r = F.cols(), g = p / r, d = head_dim;
    qk_manifold_result out;
    out.dim = p;
    const spectrum_stats_result st = spectrum_stats(make_view(F), method);
    out.stable_rank = st.stable_rank;
    out.pr = st.pr;
    // Query head h's block of d rows (or columns of QK) is key head h / g's: src(h) = (h / g)·d.
    const index_t heads = p / d;
    const auto src = [&](index_t h) { return (h / g) * d; };
    // sym_dev without forming QK (p² doubles, 512 MB at p = 8192): QK's block (a, b) of
    // d × d is F's block (a·d, src(b)), so ‖QK − QKᵀ‖² is a sum over block pairs a < b
    // (twice) and a = b, and ‖QK‖_F² = g·‖F‖_F².
    double asym = 0;
    for (index_t a = 0; a < heads; ++a)
        for (index_t b = a; b < heads; ++b)
            asym += (a == b ? 1.0 : 2.0) *
                    (F.block(a * d, src(b), d, d) - F.block(b * d, src(a), d, d).transpose()).squaredNorm();
    out.sym_dev = std::sqrt(asym) / (std::sqrt(double(g)) * F.norm() + std::ldexp(1e-10, e));
    // Row j of F belongs to group src(j); UᵀF's row s is Σ_{src(j) = s} F_j / √g.
    const double rg = 1.0 / std::sqrt(double(g));
    Eigen::MatrixXd C = Eigen::MatrixXd::Zero(r, r), P = F;
    for (int pass = 0; pass < 2; ++pass) {
        Eigen::MatrixXd Ci = Eigen::MatrixXd::Zero(r, r);
        for (index_t h = 0; h < heads; ++h) Ci.middleRows(src(h), d) += P.middleRows(h * d, d);
        Ci *= rg;
        for (index_t h = 0; h < heads; ++h) P.middleRows(h * d, d) -= rg * Ci.middleRows(src(h), d);
        C += Ci;
    }
    const Eigen::HouseholderQR<Eigen::MatrixXd> qr(P);
    Eigen::MatrixXd M = Eigen::MatrixXd::Zero(2 * r, 2 * r);
    M.topLeftCorner(r, r) = C + C.transpose();
    M.bottomLeftCorner(r, r) = qr.matrixQR().topRows(r).template triangularView<Eigen::Upper>();
    M.topRightCorner(r, r) = M.bottomLeftCorner(r, r).transpose();
    const Eigen::VectorXd small = symmetric_eigenvalues(M);
    Eigen::VectorXd ev = Eigen::VectorXd::Zero(p);
    const double half = 0.5 / rg;  // √g / 2
    index_t k = 0;
    for (; k < 2 * r && small(k) < 0; ++k) ev(k) = half * small(k);
    for (index_t i = 2 * r - 1, j = p - 1; i >= k; --i, --j) ev(j) = half * small(i);
    count_qk_eigenvalues(ev, e, out);
    return out;
}

}  // namespace detail

template <class T>
participation_result participation(matrix_view<const T> X, bool centered) {
    detail::check_spectrum_shape(X, "participation_ratio", "X");
    const detail::gram_moments m = detail::participation_moments(X, centered, "participation_ratio");
    const double trace = m.trace, frob_sq = m.frobenius_sq;
    participation_result r;
    r.pr = frob_sq > 0 ? trace * trace / frob_sq : 0.0;
    r.pr_over_dim = r.pr / double(X.cols());
    r.total_variance = std::ldexp(trace / double(X.rows()), -2 * m.exponent);
    return r;
}

template <class T>
eigenspectrum_result eigenspectrum(matrix_view<const T> X, bool centered) {
    detail::check_spectrum_input(X, "eigenspectrum", "X");
    // Out-of-range entries: the Gram of X·2^e, eigenvalues scaled back (profile scale-free).
    eigen_row_major<double> scaled;
    const int e = detail::scaled_if_needed(X, scaled);
    const Eigen::MatrixXd G = e != 0 ? detail::smaller_gram_in(make_view(std::as_const(scaled)), centered) : detail::smaller_gram_in(X, centered);
    const Eigen::VectorXd ev = detail::symmetric_eigenvalues(G);
    eigenspectrum_result r;
    const index_t m = ev.size();
    r.eigenvalues.resize(std::size_t(m));
    double total = 0, sq = 0;
    for (index_t i = 0; i < m; ++i) {
        const double l = ev(m - 1 - i) / double(X.rows());
        r.eigenvalues[std::size_t(i)] = l;
        total += l;
        sq += l * l;
    }
    r.total_variance = std::ldexp(total, -2 * e);
    r.pr = sq > 0 ? total * total / sq : 0.0;
    r.pr_over_dim = r.pr / double(X.cols());
    if (total > 0) {
        std::vector<double> cum(static_cast<std::size_t>(m));
        double run = 0;
        for (index_t i = 0; i < m; ++i) cum[std::size_t(i)] = (run += r.eigenvalues[std::size_t(i)]) / total;
        r.dims_80 = detail::dims_reaching(cum, 0.80);
        r.dims_90 = detail::dims_reaching(cum, 0.90);
        r.dims_95 = detail::dims_reaching(cum, 0.95);
        r.dims_99 = detail::dims_reaching(cum, 0.99);
    }
    if (e != 0)
        for (double& l : r.eigenvalues) l = std::ldexp(l, -2 * e);
    return r;
}

inline spectrum_stats_result spectrum_stats_from_singular_values(const std::vector<double>& S, int exponent) {
    spectrum_stats_result r;
    if (S.empty()) return r;
    if (exponent != 0) {
        // Ratios from the scaled values; the scale enters max_sv, min_sv and the 1e-10.
        r = spectrum_stats_from_singular_values(S, 0);
        r.max_sv = std::ldexp(S.front(), -exponent);
        r.min_sv = std::ldexp(S.back(), -exponent);
        r.condition = S.front() / (S.back() + std::ldexp(1e-10, exponent));
        return r;
    }
    // The sums run over S·2^e with S₀·2^e in [1, 2) (exact), so ΣS² neither overflows for
    // S₀ near 1e300 nor underflows for S₀ near 1e-300; every ratio below is scale-free.
    const int e = detail::unit_exponent(S.front());
    double sum = 0, sum_sq = 0;
    index_t active = 0;
    for (double s : S) {
        const double u = std::ldexp(s, e);
        sum += u;
        sum_sq += u * u;
        active += s > 0.01 * S.front();
    }
    r.max_sv = S.front();
    r.min_sv = S.back();
    r.condition = S.front() / (S.back() + 1e-10);
    const double top = std::ldexp(S.front(), e);
    if (S.front() > 0) r.stable_rank = sum_sq / (top * top);
    if (sum_sq > 0) r.pr = sum * sum / sum_sq;
    r.active_frac = double(active) / double(S.size());
    if (sum > 0) {
        double run = 0;
        r.rank_90 = index_t(S.size());
        for (std::size_t i = 0; i < S.size(); ++i)
            if ((run += std::ldexp(S[i], e)) / sum >= 0.90) {
                r.rank_90 = index_t(i) + 1;
                break;
            }
    }
    return r;
}

template <class T>
std::vector<double> singular_values(matrix_view<const T> W, singular_value_method method) {
    int e = 0;
    std::vector<double> s = detail::scaled_singular_values(W, method, e);
    if (e != 0)
        for (double& v : s) v = std::ldexp(v, -e);
    return s;
}

namespace detail {
// The singular values of W·2^e, with e = 0 unless W's entries lie beyond 2^±200 (double
// input only): their Gram or squares could overflow or underflow, so the routes below see
// W·2^e instead (exact).
template <class T>
std::vector<double> scaled_singular_values(const matrix_view<const T>& W, singular_value_method method, int& exponent) {
    detail::check_spectrum_input(W, "singular_values", "W");
    exponent = 0;
    const double top = detail::max_abs(W);
    if (detail::needs_scaling(top)) {
        exponent = detail::unit_exponent(top);
        const eigen_row_major<double> scaled = as_eigen(W).template cast<double>() * std::ldexp(1.0, exponent);
        int inner = 0;
        return scaled_singular_values(make_view(scaled), method, inner);
    }
    // Nearly square W (the longer side under 1.6 times the shorter): the SVD route costs at
    // most about twice the Gram route's Gram and eigensolve, so automatic takes it at once.
    const index_t longer = std::max(W.rows(), W.cols()), shorter = std::min(W.rows(), W.cols());
    if (method == singular_value_method::svd ||
        (method == singular_value_method::automatic && longer * 5 < shorter * 8))
        return detail::svd_route_values(W);
    // A shorter-side vector under r of the longest proves S_min < r·S₀ (the Cholesky test
    // below would fail): the svd route at once, without forming the Gram.
    const double r = detail::gram_route_floor(shorter);
    if (method == singular_value_method::automatic && detail::short_side_norms_spread(W, r))
        return detail::svd_route_values(W);
    const Eigen::MatrixXd G = detail::smaller_gram_in(W, false);
    // S_min ≥ r·S₀ means λ_min(G) ≥ r²·λ_max(G). symmetric_eigenvalues tries a Cholesky
    // factorisation of G − r²·λ̂·I (λ̂ ≤ λ_max) early and cheaply (on the band form from 1024
    // rows) and returns no values when it fails, which proves λ_min < r²·λ_max: then the svd
    // route is taken without the rest of the wasted solve. When it passes, the values decide.
    const double ratio = method == singular_value_method::automatic ? r * r : 0.0;
    const Eigen::VectorXd ev = detail::symmetric_eigenvalues(G, ratio);
    if (ev.size() == 0 && G.rows() > 0) return detail::svd_route_values(W);
    std::vector<double> s = detail::sqrt_descending(ev);
    if (method == singular_value_method::automatic && s.front() > 0 && !(s.back() >= r * s.front()))
        return detail::svd_route_values(W);
    return s;
}
}  // namespace detail

namespace detail {
// Wq·Wkᵀ (Wq p × m, Wk r × m) in double, times 2^e: Wq·2^eq and Wk·2^ek (largest entries in
// [1, 2), exact) keep the entries below 4·m, far from overflow or underflow; the callers
// scale the results back.
template <class T>
eigen_row_major<double> scaled_qk_product(const matrix_view<const T>& Wq, const matrix_view<const T>& Wk, int& e) {
    const int eq = unit_exponent(max_abs(Wq)), ek = unit_exponent(max_abs(Wk));
    e = eq + ek;
    // (Both scaled copies are formed first: Eigen would fold scalar factors into the
    // product's alpha, after the overflow.)
    const eigen_row_major<double> q = as_eigen(Wq).template cast<double>() * std::ldexp(1.0, eq);
    const eigen_row_major<double> k = as_eigen(Wk).template cast<double>() * std::ldexp(1.0, ek);
    // Wk·Wqᵀ in column-major storage is Wq·Wkᵀ in row-major storage: the tiled, threaded
    // product of detail/gram.hpp (tiles fixed by the sizes, so the same bits at any thread
    // count), where Eigen's product would run on one thread.
    gram_tiling tiling;
    tiling.tile = default_gram_tile(std::max(Wq.rows(), Wk.rows()));
    Eigen::MatrixXd KQt;
    gram_product(make_view(k), nullptr, make_view(q), nullptr, gram_depth::cols, false, tiling, KQt);
    return Eigen::Map<const eigen_row_major<double>>(KQt.data(), Wq.rows(), Wk.rows());
}
}  // namespace detail

template <class T>
qk_manifold_result qk_manifold(matrix_view<const T> Wq, matrix_view<const T> Wk, singular_value_method method) {
    detail::check_spectrum_input(Wq, "qk_manifold", "Wq");
    detail::check_view(Wk, "qk_manifold", "Wk");
    detail::check_same_shape(Wq, "Wq", Wk, "Wk", "qk_manifold");
    detail::check_finite(Wk, "qk_manifold", "Wk");
    int e = 0;
    const eigen_row_major<double> QK = detail::scaled_qk_product(Wq, Wk, e);
    return detail::analyze_qk(QK, method, e);
}

template <class T>
qk_manifold_result qk_manifold_gqa(matrix_view<const T> Wq, matrix_view<const T> Wk, index_t head_dim,
                                   singular_value_method method) {
    const char* fn = "qk_manifold_gqa";
    detail::check_spectrum_input(Wq, fn, "Wq");
    detail::check_view(Wk, fn, "Wk");
    if (head_dim < 1) detail::fail(fn, "head_dim", "must be at least 1", detail::concat(head_dim));
    if (Wk.cols() != Wq.cols())
        detail::fail(fn, "Wk", detail::concat("must have as many columns as 'Wq' (", Wq.cols(), ")"),
                     detail::concat(Wk.rows(), " x ", Wk.cols()));
    if (Wq.rows() % head_dim != 0)
        detail::fail(fn, "Wq", detail::concat("must have a whole number of heads of head_dim = ", head_dim, " rows"),
                     detail::concat(Wq.rows(), " x ", Wq.cols()));
    if (Wk.rows() < 1 || Wk.rows() % head_dim != 0 || Wq.rows() % Wk.rows() != 0)
        detail::fail(fn, "Wk",
                     detail::concat("must have a whole number of heads of head_dim = ", head_dim,
                                    " rows that divides the ", Wq.rows() / head_dim, " query heads of 'Wq'"),
                     detail::concat(Wk.rows(), " x ", Wk.cols()));
    detail::check_finite(Wk, fn, "Wk");
    int e = 0;
    const eigen_row_major<double> F = detail::scaled_qk_product(Wq, Wk, e);
    if (2 * Wk.rows() < Wq.rows()) return detail::analyze_grouped_qk(F, head_dim, method, e);
    return detail::analyze_qk(Wk.rows() == Wq.rows() ? F : detail::expand_grouped_qk(F, head_dim), method, e);
}

template <class T>
qk_manifold_result qk_manifold_fused(matrix_view<const T> Wqkv, singular_value_method method) {
    detail::check_spectrum_input(Wqkv, "qk_manifold_fused", "Wqkv");
    if (Wqkv.rows() % 3 != 0)
        detail::fail("qk_manifold_fused", "Wqkv", "must have a number of rows divisible by 3 (rows = [Wq; Wk; Wv])",
                     detail::concat(Wqkv.rows(), " x ", Wqkv.cols()));
    const index_t third = Wqkv.rows() / 3;
    return qk_manifold(Wqkv.middle_rows(0, third), Wqkv.middle_rows(third, third), method);
}

}  // namespace geomkit
