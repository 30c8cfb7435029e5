// Cayley–Menger determinant and simplex volume.
//
// FORMULA. For k+1 points p0..pk in R^d the bordered Cayley–Menger matrix is
// (k+2)×(k+2): row and column 0 are [0, 1, 1, …, 1], entry (i+1, j+1) is |pi − pj|².
// The squared k-volume of the simplex is
//
//     vol² = (−1)^(k+1) · det(CM) / (2^k · (k!)²)          (−det(CM) / 9216 for k = 4)
//
// and equivalently, with edge vectors ei = pi − p0 and Gram G_ij = ei·ej (i, j = 1..k),
//
//     vol² = det(G) / (k!)².
//
// API.
//   cayley_menger_determinant(d2)    det(CM) of an m×m squared-distance matrix (m = k+1
//                                    >= 2 points), one matrix or a batch_view of them.
//   cayley_menger_volume_sq(d2)      the vol² that determinant gives (sign and factor above).
//   simplex_volume_sq(points)        vol² of the simplex whose k+1 vertices are the rows of
//   simplex_volume(points)           `points` ((k+1) × d, any k >= 1, any d), one simplex,
//                                    a batch_view of `batch × (k+1) × d` simplices, or an
//                                    `n × d` point matrix plus a `batch × (k+1)` matrix of
//                                    row indices (read in place, never gathered).
//   Single results are returned; batches fill `out[0..batch)` or return a std::vector.
//
// PRECISION POLICY. Input float or double, results double, float32 input gives
// float64-quality answers. Volumes of points never go through the bordered matrix: the
// edge vectors are formed by subtracting the vertex p0 in double (exact for float input),
// their Gram is accumulated in double with SIMD FMAs, and det(G) is taken by an LDLᵀ
// factorisation with diagonal (complete) pivoting in double, the pivot product kept as
// mantissa × 2^exponent so that neither det(G) nor (k!)² overflows (vol² itself is
// returned as ±inf only when it lies outside double's range; `simplex_volume` takes the
// square root before leaving that representation). Coordinates so large or small that the
// Gram entries would overflow or underflow are rescaled by a power of two (exact).
// Measured against an exact integer Gram with a long double determinant: relative error
// below 2e-13 from float input and 1e-14 from double on random, tightly clustered (radius
// 1e-3 to 1e-5 of the data's spread) and offset (+30) simplices at d = 512 and 4096
// (tests/test_cayley_menger.cpp); the bordered-matrix
// determinant in float32 that the seeds use errs by 100 % and more on the clustered ones.
// The one hard case of the Gram formulation is a sliver, two nearly coincident vertices
// among long edges: its (small) vol² carries a relative error up to about
// 2^-53 · (long edge / short edge)², still far inside float32 quality for ratios below 1e4.
// cayley_menger_determinant works from the distances it is given: LU with partial
// pivoting (the corner is 0, so unpivoted elimination breaks down) in long double.
//
// DEGENERATE SIMPLICES. Coincident or affinely dependent vertices give vol² = 0 up to
// rounding; a slightly negative vol² is returned as computed by simplex_volume_sq, and
// simplex_volume reports 0 for it. d < k gives exactly 0 (k+1 points span at most d
// dimensions). A repeated vertex gives exactly 0 (p_i = p_0 makes a zero edge, p_i = p_j
// two edges whose Gram entries coincide, which is detected).
//
// ERRORS (geomkit::error, naming the argument): fewer than 2 vertices (k < 1), a
// non-square distance matrix, negative sizes, strides that overlap, null data with
// non-zero size, NaN or ±Inf in the input (the message gives the position), an index
// out of [0, n).
//
// REFERENCE. The notebook's `cayley_menger_volume_sq` and the probe's
// `cayley_menger_vol2` (the research code geomkit grew from), whose float64 numbers these match to 1e-14 on
// well-conditioned simplices.
//
// GPU REUSE. gram_determinant, simplex_volume_sq_from_gram and cayley_menger_to_volume_sq
// are GEOMKIT_HD: no allocation, no exceptions.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "config.hpp"
#include "core/batch_view.hpp"
#include "core/error.hpp"
#include "core/matrix_view.hpp"
#include "core/parallel.hpp"
#include "detail/simplex_gram.hpp"

namespace geomkit {

// A double held as mantissa × 2^exponent, for products (determinants, factorials) whose
// intermediate values would leave double's range. The mantissa is renormalised only when
// it leaves [2^-256, 2^256], so products of ordinary factors cost one multiply each.
struct scaled_double {
    double mantissa = 1.0;
    int exponent = 0;

    GEOMKIT_HD void multiply(double x) noexcept {
        const double ax = std::fabs(x);
        if (ax > 0x1p512 || ax < 0x1p-512) {
            int ex = 0;
            x = std::frexp(x, &ex);
            exponent += ex;
        }
        mantissa *= x;
        renormalise();
    }
    GEOMKIT_HD void divide(double x) noexcept {
        const double ax = std::fabs(x);
        if (ax > 0x1p512 || ax < 0x1p-512) {
            int ex = 0;
            x = std::frexp(x, &ex);
            exponent -= ex;
        }
        mantissa /= x;
        renormalise();
    }
    GEOMKIT_HD void renormalise() noexcept {
        const double a = std::fabs(mantissa);
        if ((a > 0x1p256 || a < 0x1p-256) && a != 0.0 && a <= 1.7976931348623157e308) {
            int e = 0;
            mantissa = std::frexp(mantissa, &e);
            exponent += e;
        }
    }
    GEOMKIT_HD void scale_pow2(int e) noexcept { exponent += e; }
    GEOMKIT_HD double value() const noexcept { return exponent == 0 ? mantissa : std::ldexp(mantissa, exponent); }
    // sqrt(max(value, 0)), without forming the value first.
    GEOMKIT_HD double sqrt_value() const noexcept {
        if (!(mantissa > 0.0)) return 0.0;
        if (exponent == 0) return std::sqrt(mantissa);
        const bool odd = (exponent % 2) != 0;
        const double m = odd ? mantissa * 2.0 : mantissa;
        const int e = odd ? exponent - 1 : exponent;
        return std::ldexp(std::sqrt(m), e / 2);
    }
};

// v /= (k!)²: one division while (k!)² is exact in double (k <= 10), then factor by factor.
GEOMKIT_HD inline void divide_by_factorial_squared(scaled_double& v, int k) noexcept {
    double f = 1.0;
    int j = 2;
    for (; j <= k && j <= 10; ++j) f *= double(j) * double(j);
    v.divide(f);
    for (; j <= k; ++j) v.divide(double(j) * double(j));
}

// det(G) of a symmetric positive semi-definite k×k matrix by LDLᵀ with diagonal pivoting,
// read from and overwriting the lower triangle of G (row-major, full k×k storage; the
// upper triangle is ignored). A zero pivot ends the factorisation with det = 0; a negative
// one (rounding on a degenerate G) is kept, so det may come out slightly negative. When
// `inverse_pivot_sum` is given it receives Σ 1/|pivot| (inf after a zero pivot), the
// factor by which an absolute error in G's entries turns into relative error of det.
GEOMKIT_HD inline scaled_double gram_determinant(double* G, int k,
                                                 double* inverse_pivot_sum = nullptr) noexcept {
    auto at = [G, k](int i, int j) -> double& { return i >= j ? G[i * k + j] : G[j * k + i]; };
    scaled_double det;
    double inv_sum = 0.0;
    for (int j = 0; j < k; ++j) {
        int p = j;
        for (int i = j + 1; i < k; ++i)
            if (at(i, i) > at(p, p)) p = i;
        if (p != j) {
            for (int q = 0; q < k; ++q)
                if (q != j && q != p) {
                    const double t = at(j, q);
                    at(j, q) = at(p, q);
                    at(p, q) = t;
                }
            const double t = at(j, j);
            at(j, j) = at(p, p);
            at(p, p) = t;
        }
        const double pivot = at(j, j);
        det.multiply(pivot);
        if (pivot == 0.0) {
            inv_sum = INFINITY;
            break;
        }
        inv_sum += 1.0 / std::fabs(pivot);
        for (int i = j + 1; i < k; ++i) {
            const double l = at(i, j) / pivot;
            for (int m = j + 1; m <= i; ++m) at(i, m) -= l * at(m, j);
        }
    }
    if (inverse_pivot_sum) *inverse_pivot_sum = inv_sum;
    return det;
}

// vol² = det(G) / (k!)² from the edge Gram (lower triangle, overwritten), as a scaled
// value; see gram_determinant.
GEOMKIT_HD inline scaled_double simplex_volume_sq_scaled_from_gram(double* G, int k,
                                                                   double* inverse_pivot_sum = nullptr) noexcept {
    scaled_double v = gram_determinant(G, k, inverse_pivot_sum);
    divide_by_factorial_squared(v, k);
    return v;
}

GEOMKIT_HD inline double simplex_volume_sq_from_gram(double* G, int k) noexcept {
    return simplex_volume_sq_scaled_from_gram(G, k).value();
}

// vol² = (−1)^(k+1) · det / (2^k · (k!)²) for a Cayley–Menger determinant of k+1 points.
GEOMKIT_HD inline double cayley_menger_to_volume_sq(double det, int k) noexcept {
    scaled_double v;
    v.multiply(det);
    v.scale_pow2(-k);
    divide_by_factorial_squared(v, k);
    return (k % 2 == 1 ? 1.0 : -1.0) * v.value();
}

namespace detail {

// det of the (m+1)×(m+1) bordered Cayley–Menger matrix built from the m×m squared
// distances d2, by LU with partial pivoting in Acc. `A` is scratch of (m+1)² values.
template <class Acc, class T>
GEOMKIT_HD scaled_double bordered_determinant(matrix_view<const T> d2, Acc* A) noexcept {
    const int n = int(d2.rows()) + 1;
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j)
            A[i * n + j] = (i == 0 && j == 0) ? Acc(0) : (i == 0 || j == 0) ? Acc(1) : Acc(d2(i - 1, j - 1));
    scaled_double det;
    for (int j = 0; j < n; ++j) {
        int p = j;
        for (int i = j + 1; i < n; ++i)
            if (std::fabs(A[i * n + j]) > std::fabs(A[p * n + j])) p = i;
        if (A[p * n + j] == Acc(0)) {
            det.mantissa = 0.0;
            det.exponent = 0;
            return det;
        }
        if (p != j) {
            for (int q = 0; q < n; ++q) {
                const Acc t = A[j * n + q];
                A[j * n + q] = A[p * n + q];
                A[p * n + q] = t;
            }
            det.mantissa = -det.mantissa;
        }
        const Acc pivot = A[j * n + j];
        int e = 0;
        const Acc mp = std::frexp(pivot, &e);
        det.multiply(double(mp));
        det.scale_pow2(e);
        for (int i = j + 1; i < n; ++i) {
            const Acc l = A[i * n + j] / pivot;
            for (int q = j + 1; q < n; ++q) A[i * n + q] -= l * A[j * n + q];
        }
    }
    return det;
}

enum class gram_outcome { ok, non_finite };

// Whether two edges of the Gram are equal to rounding (G_ii = G_jj = G_ij exactly, as a
// repeated vertex gives): the simplex is then degenerate and its vol² exactly 0, which
// the elimination alone would only reproduce to rounding.
GEOMKIT_HD inline bool has_repeated_edge(const double* G, int k) noexcept {
    for (int i = 1; i < k; ++i)
        for (int j = 0; j < i; ++j)
            if (G[i * k + j] == G[i * k + i] && G[i * k + j] == G[j * k + j]) return true;
    return false;
}

// vol² of the simplex with vertex rows v[0..k] (k >= 1) of d values, scaled. `G` is
// scratch of k² doubles. Reports non_finite when a coordinate is NaN or ±Inf. `next`
// (may be null): the k+1 rows of a simplex computed soon after, prefetched on the way
// (detail/simplex_gram.hpp).
template <class T>
scaled_double simplex_volume_sq_rows(const T* const* v, int k, index_t d, double* G, gram_outcome& outcome,
                                     const T* const* next = nullptr) noexcept {
    outcome = gram_outcome::ok;
    scaled_double zero;
    zero.mantissa = 0.0;
    if (d < k) return zero;
    edge_gram(v, k, d, G, next);
    double top = 0.0;
    bool finite = true;
    for (int i = 0; i < k; ++i) {
        finite &= std::isfinite(G[i * k + i]);
        top = std::max(top, G[i * k + i]);
    }
    // Entries beyond 2^±500 would over- or underflow in the elimination's products.
    constexpr double big = 0x1p500, small = 0x1p-500;
    if (!finite || top > big || (top > 0.0 && top < small)) {
        double largest = 0.0;
        bool all_finite = true;
        for (int i = 0; i <= k; ++i)
            for (index_t l = 0; l < d; ++l) {
                const double a = std::fabs(double(v[i][l]));
                all_finite &= std::isfinite(a);
                largest = std::max(largest, a);
            }
        if (!all_finite) {
            outcome = gram_outcome::non_finite;
            return zero;
        }
        int e = 0;
        std::frexp(largest, &e);
        edge_gram_scalar(v, k, d, std::ldexp(1.0, -e), G);
        if (has_repeated_edge(G, k)) return zero;
        scaled_double r = simplex_volume_sq_scaled_from_gram(G, k);
        r.scale_pow2(2 * k * e);
        return r;
    }
    if (has_repeated_edge(G, k)) return zero;
    return simplex_volume_sq_scaled_from_gram(G, k);
}

// Throws the error for the first non-finite coordinate of the simplex v[0..k].
template <class T>
[[noreturn]] void fail_non_finite(const T* const* v, int k, index_t d, index_t simplex,
                                  const char* function, const char* argument, const index_t* rows = nullptr) {
    for (int i = 0; i <= k; ++i)
        for (index_t l = 0; l < d; ++l)
            if (!std::isfinite(v[i][l])) {
                if (rows)
                    fail(function, argument, "must contain only finite values",
                         concat(v[i][l], " at [", rows[i], ", ", l, "], vertex ", i, " of simplex ", simplex));
                fail(function, argument, "must contain only finite values",
                     concat(v[i][l], " at vertex ", i, ", coordinate ", l, " of simplex ", simplex));
            }
    fail(function, argument, "must contain only finite values", "a non-finite Gram entry");
}

// Simplices per parallel chunk in the batched kernels (results do not depend on it).
constexpr index_t simplex_chunk = 256;

template <class T>
void check_floating() {
    static_assert(std::is_floating_point<T>::value, "geomkit: simplex volumes need float or double values");
}

template <class T, class Finish>
void batched_volumes(batch_view<const T> s, double* out, const char* function, Finish finish,
                     const char* argument = "simplices") {
    check_batch_view(s, function, argument);
    require(s.rows() >= 2, function, argument, "must have at least 2 vertices per simplex (k >= 1)",
            concat(s.rows(), " vertices"));
    require_data(out, s.batch(), function, "out");
    const int k = int(s.rows() - 1);
    const index_t chunks = (s.batch() + simplex_chunk - 1) / simplex_chunk;
    parallel_for(chunks, [&](index_t c) {
        std::vector<double> G(std::size_t(k) * std::size_t(k));
        std::vector<const T*> v(std::size_t(k) + 1);
        const index_t end = std::min(s.batch(), (c + 1) * simplex_chunk);
        for (index_t b = c * simplex_chunk; b < end; ++b) {
            for (int i = 0; i <= k; ++i) v[std::size_t(i)] = s[b].row(i);
            gram_outcome outcome;
            const scaled_double r = simplex_volume_sq_rows(v.data(), k, s.cols(), G.data(), outcome);
            if (outcome != gram_outcome::ok) fail_non_finite(v.data(), k, s.cols(), b, function, argument);
            out[b] = finish(r);
        }
    });
}

template <class I>
constexpr bool is_negative(I value) noexcept {
    if constexpr (std::is_signed<I>::value) return value < 0;
    else return false;
}

template <class T, class I, class Finish>
void indexed_volumes(matrix_view<const T> points, matrix_view<const I> indices, double* out,
                     const char* function, Finish finish) {
    static_assert(std::is_integral<I>::value, "geomkit: simplex indices must be integers");
    check_view(points, function, "points");
    check_view(indices, function, "indices");
    require(indices.cols() >= 2, function, "indices", "must have at least 2 vertices per simplex (k >= 1)",
            concat(indices.cols(), " columns"));
    require_data(out, indices.rows(), function, "out");
    for (index_t b = 0; b < indices.rows(); ++b)
        for (index_t i = 0; i < indices.cols(); ++i) {
            const I r = indices(b, i);
            if (is_negative(r) || std::uint64_t(r) >= std::uint64_t(points.rows()))
                fail(function, "indices", concat("must lie in [0, ", points.rows(), ") (rows of 'points')"),
                     concat(r, " at [", b, ", ", i, "]"));
        }
    const int k = int(indices.cols() - 1);
    const index_t chunks = (indices.rows() + simplex_chunk - 1) / simplex_chunk;
    constexpr index_t ahead = 2;  // the simplex whose rows are prefetched: random rows miss the caches
    parallel_for(chunks, [&](index_t c) {
        std::vector<double> G(std::size_t(k) * std::size_t(k));
        std::vector<const T*> v(std::size_t(k) + 1), next(std::size_t(k) + 1);
        std::vector<index_t> rows(std::size_t(k) + 1);
        const index_t end = std::min(indices.rows(), (c + 1) * simplex_chunk);
        for (index_t b = c * simplex_chunk; b < end; ++b) {
            for (int i = 0; i <= k; ++i) {
                rows[std::size_t(i)] = index_t(indices(b, i));
                v[std::size_t(i)] = points.row(rows[std::size_t(i)]);
                if (b + ahead < end) next[std::size_t(i)] = points.row(index_t(indices(b + ahead, i)));
            }
            gram_outcome outcome;
            const scaled_double r = simplex_volume_sq_rows(v.data(), k, points.cols(), G.data(), outcome,
                                                           b + ahead < end ? next.data() : nullptr);
            if (outcome != gram_outcome::ok)
                fail_non_finite(v.data(), k, points.cols(), b, function, "points", rows.data());
            out[b] = finish(r);
        }
    });
}

struct finish_volume_sq {
    double operator()(const scaled_double& r) const noexcept { return r.value(); }
};
struct finish_volume {
    double operator()(const scaled_double& r) const noexcept { return r.sqrt_value(); }
};

template <class T>
scaled_double single_volume(matrix_view<const T> points, const char* function) {
    check_view(points, function, "points");
    require(points.rows() >= 2, function, "points", "must have at least 2 rows (k + 1 vertices, k >= 1)",
            concat(points.rows(), " x ", points.cols()));
    double out = 0.0;
    scaled_double result;
    batched_volumes(batch_view<const T>(points.data(), 1, points.rows(), points.cols(), 0, points.row_stride()),
                    &out, function, [&](const scaled_double& r) {
                        result = r;
                        return 0.0;
                    }, "points");
    return result;
}

template <class T>
void check_distance_matrices(batch_view<const T> d2, const char* function) {
    check_batch_view(d2, function, "d2");
    require(d2.rows() == d2.cols(), function, "d2", "must be square (m x m squared distances)",
            concat(d2.rows(), " x ", d2.cols()));
    require(d2.rows() >= 2, function, "d2", "must describe at least 2 points (m >= 2)",
            concat(d2.rows(), " x ", d2.cols()));
    for (index_t b = 0; b < d2.batch(); ++b) check_finite(d2[b], function, "d2");
}

template <class T>
batch_view<const T> as_batch(matrix_view<const T> x) {
    return batch_view<const T>(x.data(), 1, x.rows(), x.cols(), 0, x.row_stride());
}

}  // namespace detail

// ------------------------------------------------------------------ Cayley–Menger determinant

// det(CM) for each m×m squared-distance matrix of the batch into out[0..batch).
template <class T>
void cayley_menger_determinant(batch_view<T> d2, double* out) {
    using V = std::remove_const_t<T>;
    detail::check_floating<V>();
    const batch_view<const V> x = d2;
    detail::check_distance_matrices(x, "cayley_menger_determinant");
    detail::require_data(out, x.batch(), "cayley_menger_determinant", "out");
    const index_t n = x.rows() + 1;
    std::vector<long double> A(std::size_t(n * n));
    for (index_t b = 0; b < x.batch(); ++b) out[b] = detail::bordered_determinant(x[b], A.data()).value();
}

template <class T>
std::vector<double> cayley_menger_determinant(batch_view<T> d2) {
    std::vector<double> out(std::size_t(std::max<index_t>(d2.batch(), 0)));
    cayley_menger_determinant(d2, out.data());
    return out;
}

// det(CM) of one m×m squared-distance matrix (m >= 2 points).
template <class T>
double cayley_menger_determinant(matrix_view<T> d2) {
    double out = 0.0;
    cayley_menger_determinant(detail::as_batch(matrix_view<const std::remove_const_t<T>>(d2)), &out);
    return out;
}

// vol² of the k-simplex (k = m − 1) whose squared distances are d2:
// (−1)^(k+1) · det(CM) / (2^k · (k!)²), with no intermediate overflow.
template <class T>
double cayley_menger_volume_sq(matrix_view<T> d2) {
    using V = std::remove_const_t<T>;
    detail::check_floating<V>();
    const matrix_view<const V> x = d2;
    detail::check_distance_matrices(detail::as_batch(x), "cayley_menger_volume_sq");
    const int k = int(x.rows() - 1);
    std::vector<long double> A(std::size_t((k + 2) * (k + 2)));
    scaled_double det = detail::bordered_determinant(x, A.data());
    det.scale_pow2(-k);
    divide_by_factorial_squared(det, k);
    return (k % 2 == 1 ? 1.0 : -1.0) * det.value();
}

// ------------------------------------------------------------------ simplex volume

// vol² of the simplex whose k+1 vertices are the rows of `points` ((k+1) × d, k >= 1).
template <class T>
double simplex_volume_sq(matrix_view<T> points) {
    detail::check_floating<std::remove_const_t<T>>();
    return detail::single_volume(matrix_view<const std::remove_const_t<T>>(points), "simplex_volume_sq").value();
}

// vol = sqrt(vol²), 0 where rounding made vol² negative.
template <class T>
double simplex_volume(matrix_view<T> points) {
    detail::check_floating<std::remove_const_t<T>>();
    return detail::single_volume(matrix_view<const std::remove_const_t<T>>(points), "simplex_volume").sqrt_value();
}

// vol² of each simplex of a batch × (k+1) × d batch into out[0..batch).
template <class T>
void simplex_volume_sq(batch_view<T> simplices, double* out) {
    detail::check_floating<std::remove_const_t<T>>();
    detail::batched_volumes(batch_view<const std::remove_const_t<T>>(simplices), out, "simplex_volume_sq",
                            detail::finish_volume_sq{});
}
template <class T>
void simplex_volume(batch_view<T> simplices, double* out) {
    detail::check_floating<std::remove_const_t<T>>();
    detail::batched_volumes(batch_view<const std::remove_const_t<T>>(simplices), out, "simplex_volume",
                            detail::finish_volume{});
}
template <class T>
std::vector<double> simplex_volume_sq(batch_view<T> simplices) {
    std::vector<double> out(std::size_t(std::max<index_t>(simplices.batch(), 0)));
    simplex_volume_sq(simplices, out.data());
    return out;
}
template <class T>
std::vector<double> simplex_volume(batch_view<T> simplices) {
    std::vector<double> out(std::size_t(std::max<index_t>(simplices.batch(), 0)));
    simplex_volume(simplices, out.data());
    return out;
}

// vol² of the simplices whose vertices are rows indices(b, 0..k) of `points` (n × d),
// b = 0..batch, into out[0..batch). The rows are read in place.
template <class T, class I>
void simplex_volume_sq(matrix_view<T> points, matrix_view<I> indices, double* out) {
    detail::check_floating<std::remove_const_t<T>>();
    detail::indexed_volumes(matrix_view<const std::remove_const_t<T>>(points),
                            matrix_view<const std::remove_const_t<I>>(indices), out, "simplex_volume_sq",
                            detail::finish_volume_sq{});
}
template <class T, class I>
void simplex_volume(matrix_view<T> points, matrix_view<I> indices, double* out) {
    detail::check_floating<std::remove_const_t<T>>();
    detail::indexed_volumes(matrix_view<const std::remove_const_t<T>>(points),
                            matrix_view<const std::remove_const_t<I>>(indices), out, "simplex_volume",
                            detail::finish_volume{});
}
template <class T, class I>
std::vector<double> simplex_volume_sq(matrix_view<T> points, matrix_view<I> indices) {
    std::vector<double> out(std::size_t(std::max<index_t>(indices.rows(), 0)));
    simplex_volume_sq(points, indices, out.data());
    return out;
}
template <class T, class I>
std::vector<double> simplex_volume(matrix_view<T> points, matrix_view<I> indices) {
    std::vector<double> out(std::size_t(std::max<index_t>(indices.rows(), 0)));
    simplex_volume(points, indices, out.data());
    return out;
}

}  // namespace geomkit
