// Cosines of every pair of rows of a point cloud: the pairwise-cosine distribution of an
// embedding sample (the notebook's embedding battery normalises 5000 sampled rows and
// takes the i < j entries of their Gram).
//
//   pairwise_cosines(X, eps) — X row-major m × d (float or double, rows possibly strided);
//   returns the m(m-1)/2 values
//
//       c_ij = (x_i · x_j) / ((‖x_i‖ + eps) · (‖x_j‖ + eps)),   i < j,
//
//   in row-major order of the strict upper triangle: (0,1), (0,2), …, (0,m-1), (1,2), ….
//   eps = 0 gives the plain cosine (0 where a row is zero); the notebook adds 1e-8 to
//   each norm before dividing.
//
// Precision policy: X is copied once into double, scaled by a power of two (exact) so that
// its largest magnitude lies in [0.5, 1): no product or squared norm can overflow, whatever
// the input's scale (eps is scaled with it, so the result is the formula's). The dot
// products are a double Gram X·Xᵀ computed by detail/gram.hpp's tiled, threaded GEMM in
// row blocks (at most 512 rows of the Gram are held at once), bitwise the same at any
// thread count; norms are double sums. From float input every value is within a few
// units of double rounding of the exact cosine of the float values.
//
// Errors (geomkit::error, naming the argument): a bad view, fewer than 2 rows, NaN/Inf in
// X, a negative or non-finite eps.
#pragma once

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/error.hpp"
#include "core/matrix_view.hpp"
#include "detail/gram.hpp"

namespace geomkit {

template <class T>
std::vector<double> pairwise_cosines(const matrix_view<const T>& X, double eps = 0.0, int threads = 0) {
    constexpr const char* function = "pairwise_cosines";
    detail::check_rows_at_least(X, 2, function, "X");
    detail::check_finite(X, function, "X", threads);
    if (!(eps >= 0) || !std::isfinite(eps))
        detail::fail(function, "eps", "must be finite and >= 0", detail::concat(eps));
    const index_t m = X.rows(), d = X.cols();
    if (m > index_t(3037000499))  // m(m-1) must fit in index_t
        detail::fail(function, "X", "must have at most 3037000499 rows", detail::concat(m));
    const index_t pairs = m * (m - 1) / 2;

    double largest = 0;
    for (index_t i = 0; i < m; ++i)
        for (index_t j = 0; j < d; ++j) largest = std::max(largest, std::fabs(double(X.row(i)[j])));
    int e = 0;
    if (largest > 0) std::frexp(largest, &e);
    std::vector<double> Y(static_cast<std::size_t>(m * d));
    std::vector<double> norm(static_cast<std::size_t>(m));
    for (index_t i = 0; i < m; ++i) {
        double sq = 0;
        for (index_t j = 0; j < d; ++j) {
            const double v = std::ldexp(double(X.row(i)[j]), -e);
            Y[std::size_t(i * d + j)] = v;
            sq += v * v;
        }
        norm[std::size_t(i)] = std::sqrt(sq) + std::ldexp(eps, -e);
    }

    std::vector<double> out(static_cast<std::size_t>(pairs));
    detail::gram_tiling tiling;
    tiling.tile = detail::default_gram_tile(d);
    tiling.depth_block = 1024;
    constexpr index_t block = 512;
    Eigen::MatrixXd G;
    std::size_t at = 0;
    for (index_t i0 = 0; i0 + 1 < m; i0 += block) {
        const index_t i1 = std::min(i0 + block, m - 1);
        const matrix_view<const double> rows(Y.data() + i0 * d, i1 - i0, d, d);
        const matrix_view<const double> rest(Y.data() + i0 * d, m - i0, d, d);
        detail::gram_product(rows, nullptr, rest, nullptr, detail::gram_depth::cols, false, tiling, G, threads);
        for (index_t i = i0; i < i1; ++i) {
            const double ni = norm[std::size_t(i)];
            for (index_t j = i + 1; j < m; ++j) {
                const double den = ni * norm[std::size_t(j)];
                out[at++] = den > 0 ? G(i - i0, j - i0) / den : 0.0;
            }
        }
    }
    return out;
}

template <class T, std::enable_if_t<!std::is_const<T>::value, int> = 0>
std::vector<double> pairwise_cosines(const matrix_view<T>& X, double eps = 0.0, int threads = 0) {
    return pairwise_cosines(matrix_view<const T>(X), eps, threads);
}

}  // namespace geomkit
