// Singular values by the two-stage reduction (detail/band_bidiagonal.hpp: dense to band,
// band to bidiagonal, then bisection) against long-double Jacobi SVDs on spread,
// clustered, rank-deficient and graded spectra; the band and bidiagonal shapes it
// produces; every spectrum_stats field within 1e-6 of the reference; bitwise equality at 1
// and 2 threads; and the power-of-two scaling that keeps spectrum_stats, qk_manifold,
// eigenspectrum and participation_ratio finite for entries near 1e±300.
#include <geomkit/spectrum.hpp>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "testing.hpp"

using geomkit::index_t;
using geomkit::make_view;
using geomkit::singular_value_method;

namespace {

using mat = Eigen::MatrixXd;
using ld_mat = Eigen::Matrix<long double, Eigen::Dynamic, Eigen::Dynamic>;

mat gaussian(index_t n, index_t d, std::uint64_t seed) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<double> nd;
    mat x(n, d);
    for (index_t i = 0; i < x.size(); ++i) x.data()[i] = nd(gen);
    return x;
}

// An orthonormal m × k basis (Householder QR of a Gaussian matrix).
mat orthonormal(index_t m, index_t k, std::uint64_t seed) {
    const Eigen::HouseholderQR<mat> qr(gaussian(m, k, seed));
    return qr.householderQ() * mat::Identity(m, k);
}

// U·diag(s)·Vᵀ with random orthonormal U, V: a matrix with exactly the spectrum s.
mat with_spectrum(index_t m, index_t n, const std::vector<double>& s, std::uint64_t seed) {
    const index_t k = index_t(s.size());
    const mat U = orthonormal(m, k, seed), V = orthonormal(n, k, seed + 7);
    Eigen::VectorXd d(k);
    for (index_t i = 0; i < k; ++i) d(i) = s[std::size_t(i)];
    return U * d.asDiagonal() * V.transpose();
}

enum class spectrum_kind { spread, clustered, rank_deficient, graded };

mat test_matrix(index_t m, index_t n, spectrum_kind kind, std::uint64_t seed) {
    const index_t k = std::min(m, n);
    std::vector<double> s(static_cast<std::size_t>(k));
    switch (kind) {
        case spectrum_kind::spread:  // condition 1e4, as trained weights
            for (index_t i = 0; i < k; ++i) s[std::size_t(i)] = std::pow(10.0, -4.0 * double(i) / double(std::max<index_t>(1, k - 1)));
            return with_spectrum(m, n, s, seed);
        case spectrum_kind::clustered:  // three tight clusters
            for (index_t i = 0; i < k; ++i) s[std::size_t(i)] = (i < k / 3 ? 3.0 : i < 2 * k / 3 ? 1.0 : 0.2) * (1 + 1e-9 * double(i));
            return with_spectrum(m, n, s, seed);
        case spectrum_kind::rank_deficient: {  // rank k/2: the rest are zero
            const index_t r = std::max<index_t>(1, k / 2);
            return gaussian(m, r, seed) * gaussian(r, n, seed + 1);
        }
        case spectrum_kind::graded: {  // columns graded over 8 decades
            mat W = gaussian(m, n, seed);
            for (index_t j = 0; j < n; ++j) W.col(j) *= std::pow(10.0, -8.0 * double(j) / double(std::max<index_t>(1, n - 1)));
            return W;
        }
    }
    return mat();
}

std::vector<long double> reference_values(const mat& W) {
    const Eigen::JacobiSVD<ld_mat> svd(W.cast<long double>());
    const auto& s = svd.singularValues();
    return std::vector<long double>(s.data(), s.data() + s.size());
}

template <class T>
std::vector<T> row_major(const mat& m) {
    std::vector<T> v(std::size_t(m.size()));
    for (index_t i = 0; i < m.rows(); ++i)
        for (index_t j = 0; j < m.cols(); ++j) v[std::size_t(i * m.cols() + j)] = T(m(i, j));
    return v;
}

template <class T>
mat widened(const std::vector<T>& v, index_t n, index_t d) {
    mat m(n, d);
    for (index_t i = 0; i < n; ++i)
        for (index_t j = 0; j < d; ++j) m(i, j) = double(v[std::size_t(i * d + j)]);
    return m;
}

// Every spectrum_stats field of `got` within `tol` relative of the battery computed in
// long double from the reference values (rank_90 and active_frac exactly, unless a
// cumulative fraction or a value lies within tol of its threshold).
void check_stats(const geomkit::spectrum_stats_result& got, const std::vector<long double>& ref, double tol) {
    long double sum = 0, sum_sq = 0;
    for (auto s : ref) {
        sum += s;
        sum_sq += s * s;
    }
    const long double top = ref.front(), low = ref.back();
    CHECK(std::abs(got.max_sv - double(top)) <= tol * double(top));
    CHECK(std::abs(got.min_sv - double(low)) <= tol * double(low) + 1e-15 * double(top));
    const double condition = double(top / (low + 1e-10L));
    CHECK(std::abs(got.condition - condition) <= tol * condition);
    CHECK(std::abs(got.stable_rank - double(sum_sq / (top * top))) <= tol * double(sum_sq / (top * top)));
    CHECK(std::abs(got.pr - double(sum * sum / sum_sq)) <= tol * double(sum * sum / sum_sq));
    long double run = 0;
    index_t rank_90 = index_t(ref.size()), active = 0;
    bool near = false;
    for (std::size_t i = 0; i < ref.size(); ++i) {
        active += ref[i] > 0.01L * top;
        near = near || std::abs(ref[i] / top - 0.01L) < tol;
    }
    for (std::size_t i = 0; i < ref.size(); ++i) {
        run += ref[i];
        near = near || std::abs(run / sum - 0.9L) < tol;
        if (run / sum >= 0.9L) {
            rank_90 = index_t(i) + 1;
            break;
        }
    }
    if (!near) {
        CHECK(got.rank_90 == rank_90);
        CHECK(got.active_frac == double(active) / double(ref.size()));
    }
}

}  // namespace

TEST_CASE("dense to band: b superdiagonals, exact zeros elsewhere, singular values kept", "[svd][band]") {
    for (auto shape : {std::pair<index_t, index_t>{5, 5}, {33, 33}, {70, 45}, {97, 97}, {130, 64}}) {
        const index_t m = shape.first, n = shape.second;
        for (index_t b : {2, 8, 32}) {
            INFO(m << " x " << n << ", b = " << b);
            const mat W = gaussian(m, n, std::uint64_t(m + n + b));
            mat A = W;
            geomkit::detail::reduce_to_upper_band(A, b, 2);
            for (index_t j = 0; j < n; ++j)
                for (index_t i = 0; i < m; ++i)
                    if (j < i || j > i + b) REQUIRE(A(i, j) == 0.0);
            std::vector<double> d, e, d2, e2;
            mat A2 = A;
            geomkit::detail::chase_band_to_bidiagonal(A2, n, b, d2, e2, 3);  // the pipelined sweeps
            geomkit::detail::chase_band_to_bidiagonal(A, n, b, d, e);
            CHECK(d == d2);
            CHECK(e == e2);
            for (index_t j = 0; j < n; ++j)
                for (index_t i = 0; i < n; ++i)
                    if (j != i && j != i + 1) REQUIRE(A(i, j) == 0.0);
            const auto s = geomkit::detail::bidiagonal_singular_values(d, e, 1);
            const auto ref = reference_values(W);
            for (index_t i = 0; i < n; ++i)
                CHECK(std::abs((long double)s[std::size_t(i)] - ref[std::size_t(i)]) <= 1e-13L * ref[0]);
        }
    }
}

TEST_CASE("block-reflector kernels: the products of Eigen on every remainder of rows, columns and depth",
          "[svd][kernels]") {
    // Sizes around every tile edge of every instruction set (1, 2, 4 or 8 lanes; 3 vectors
    // of rows; 4 or 8 columns; 3 or 4 by 4 or 6 dot products), in strided views.
    using geomkit::detail::rank_update;
    using geomkit::detail::short_t_times;
    using geomkit::detail::times_short_t;
    std::uint64_t seed = 1;
    for (index_t h : {1, 3, 7, 8, 9, 23, 24, 25, 47, 61, 200})
        for (index_t n : {1, 3, 4, 5, 8, 9, 13, 17})
            for (index_t k : {1, 2, 5, 8, 13, 32}) {
                INFO(h << " x " << n << ", depth " << k);
                const mat big = gaussian(h + 5, n + 3, ++seed), a = gaussian(h + 2, k, ++seed),
                          b = gaussian(k + 1, n + 1, ++seed);
                // C −= A·B on the block C = big[2:2+h, 1:1+n].
                mat c = big;
                rank_update(&c(2, 1), c.outerStride(), h, n, a.data(), a.outerStride(), b.data(), b.outerStride(), k);
                mat want = big;
                want.block(2, 1, h, n) -= a.topRows(h) * b.topLeftCorner(k, n);
                CHECK((c - want).cwiseAbs().maxCoeff() <= 1e-13 * (1 + want.cwiseAbs().maxCoeff()));
                // W = C·Bᵀ with B (k × n) read as columns of length k: here bt's top k rows.
                const mat bt = gaussian(k + 2, n, ++seed);
                mat w = mat::Constant(h + 1, k, 7.0);
                times_short_t(w.data(), w.outerStride(), h, k, &big(2, 1), big.outerStride(), bt.data(), bt.outerStride(), n);
                const mat w_want = big.block(2, 1, h, n) * bt.topRows(k).transpose();
                CHECK((w.topRows(h) - w_want).cwiseAbs().maxCoeff() <= 1e-13 * (1 + w_want.cwiseAbs().maxCoeff()));
                CHECK(w.row(h).cwiseEqual(7.0).all());
                // Y = Aᵀ·C over the depth h (k × n), stored either way round.
                mat y(k, n), yt(n, k);
                short_t_times(y.data(), 1, k, a.data(), a.outerStride(), k, &big(2, 1), big.outerStride(), n, h);
                short_t_times(yt.data(), n, 1, a.data(), a.outerStride(), k, &big(2, 1), big.outerStride(), n, h);
                const mat y_want = a.topRows(h).transpose() * big.block(2, 1, h, n);
                CHECK((y - y_want).cwiseAbs().maxCoeff() <= 1e-13 * (1 + y_want.cwiseAbs().maxCoeff()));
                CHECK(yt.transpose() == y);
            }
}

TEST_CASE("blocked Householder QR: R is upper triangular and RᵀR = AᵀA, across panel and chunk edges",
          "[svd][qr]") {
    // Columns around the 64-column panels and chunks; rows around the kernels' 256-row blocks.
    for (auto shape : {std::pair<index_t, index_t>{5, 5}, {70, 63}, {300, 64}, {257, 65}, {600, 130}, {1100, 200}}) {
        const index_t m = shape.first, n = shape.second;
        INFO(m << " x " << n);
        const mat W = gaussian(m, n, std::uint64_t(3 * m + n));
        mat A = W;
        const mat R = geomkit::detail::householder_r(A, 2);
        REQUIRE(R.rows() == n);
        REQUIRE(R.cols() == n);
        for (index_t j = 0; j < n; ++j)
            for (index_t i = j + 1; i < n; ++i) REQUIRE(R(i, j) == 0.0);
        const mat G = W.transpose() * W, RtR = R.transpose() * R;
        CHECK((RtR - G).cwiseAbs().maxCoeff() <= 1e-12 * G.cwiseAbs().maxCoeff());
        mat A1 = W;
        CHECK(geomkit::detail::householder_r(A1, 1) == R);  // the same bits on one thread
    }
}

TEST_CASE("recursive panel QR: I − V·T·Vᵀ is orthogonal and takes the panel to R", "[svd][panel]") {
    for (auto shape : {std::pair<index_t, index_t>{1, 1}, {7, 1}, {40, 32}, {300, 32}, {32, 32}, {9, 32}, {64, 17}}) {
        const index_t m = shape.first, r = shape.second, k = std::min(m, r);
        INFO(m << " x " << r);
        const mat A0 = gaussian(m, r, std::uint64_t(m * 31 + r));
        mat A = A0, V(m, k), T(k, k);
        geomkit::detail::panel_qr(A, V, T);
        const mat Q = mat::Identity(m, m) - V * T * V.transpose();
        CHECK((Q.transpose() * Q - mat::Identity(m, m)).cwiseAbs().maxCoeff() <= 1e-14 * double(m));
        // V: unit diagonal, zeros above; T upper triangular.
        for (index_t j = 0; j < k; ++j) {
            CHECK(V(j, j) == 1.0);
            for (index_t i = 0; i < j; ++i) CHECK(V(i, j) == 0.0);
            for (index_t i = j + 1; i < k; ++i) CHECK(T(i, j) == 0.0);
        }
        // Qᵀ·A0 is R: A's upper trapezoid, zeros below (to rounding).
        const mat R = Q.transpose() * A0;
        for (index_t j = 0; j < r; ++j)
            for (index_t i = 0; i < m; ++i) {
                const double want = i <= j ? A(i, j) : 0.0;
                CHECK(std::abs(R(i, j) - want) <= 1e-13 * double(m) * A0.norm());
            }
    }
}

TEMPLATE_TEST_CASE("two-stage singular values against a long-double SVD: spread, clustered, rank-deficient, graded",
                   "[svd][accuracy]", float, double) {
    const long double eps = std::numeric_limits<double>::epsilon();
    for (auto shape : {std::pair<index_t, index_t>{1, 1}, {3, 2}, {40, 40}, {31, 33}, {100, 100}, {130, 100}, {100, 130},
                       {170, 60}, {60, 170}, {150, 150}}) {
        const index_t m = shape.first, n = shape.second, k = std::min(m, n);
        for (auto kind : {spectrum_kind::spread, spectrum_kind::clustered, spectrum_kind::rank_deficient, spectrum_kind::graded}) {
            INFO(m << " x " << n << ", spectrum " << int(kind));
            const auto v = row_major<TestType>(test_matrix(m, n, kind, std::uint64_t(m * 1000 + n)));
            const mat W = widened(v, m, n);  // the values the routes see
            const auto ref = reference_values(W);
            const auto s = geomkit::singular_values(make_view(v.data(), m, n), singular_value_method::svd);
            REQUIRE(index_t(s.size()) == k);
            // Backward stable: absolute error a modest multiple of ε·S₀.
            for (index_t i = 0; i < k; ++i) {
                CHECK(std::abs((long double)s[std::size_t(i)] - ref[std::size_t(i)]) <= 64 * eps * ref[0]);
                if (i > 0) CHECK(s[std::size_t(i)] <= s[std::size_t(i - 1)]);
            }
            // The battery, through the automatic route, wherever S_min/S₀ ≥ 1e-7.
            if (ref.back() >= 1e-7L * ref.front())
                check_stats(geomkit::spectrum_stats(make_view(v.data(), m, n)), ref, 1e-6);
        }
    }
}

TEMPLATE_TEST_CASE("two-stage singular values are bitwise the same at 1 and 2 threads", "[svd][threads]", float, double) {
    for (auto shape : {std::pair<index_t, index_t>{300, 260}, {260, 300}, {600, 200}, {200, 200}}) {
        const index_t m = shape.first, n = shape.second;
        const auto v = row_major<TestType>(gaussian(m, n, 5));
        INFO(m << " x " << n);
        geomkit::set_num_threads(1);
        const auto one = geomkit::singular_values(make_view(v.data(), m, n), singular_value_method::svd);
        geomkit::set_num_threads(2);
        const auto two = geomkit::singular_values(make_view(v.data(), m, n), singular_value_method::svd);
        geomkit::set_num_threads(3);
        const auto three = geomkit::singular_values(make_view(v.data(), m, n), singular_value_method::svd);
        geomkit::set_num_threads(0);
        CHECK(one == two);
        CHECK(one == three);
    }
}

TEST_CASE("entries near 1e±300: scaled by a power of two, no overflow, underflow or NaN", "[svd][scaling]") {
    std::mt19937_64 gen(28);
    std::uniform_real_distribution<double> u;
    for (index_t shape : {0, 1, 2}) {
        const index_t m = shape == 1 ? 20 : 8, n = shape == 2 ? 20 : 8;
        std::vector<double> w(std::size_t(m * n));
        for (auto& x : w) x = u(gen);
        INFO(m << " x " << n);
        const auto view = make_view<const double>(w.data(), m, n);
        const auto base = geomkit::spectrum_stats(view);
        const auto s1 = geomkit::singular_values(view, singular_value_method::svd);
        for (int p : {-1000, -900, -600, 600, 900, 1000}) {
            INFO("2^" << p);
            std::vector<double> big(w);
            for (auto& x : big) x = std::ldexp(x, p);
            const auto bview = make_view<const double>(big.data(), m, n);
            // The svd route scales either matrix to the same one: bitwise the same values.
            const auto s2 = geomkit::singular_values(bview, singular_value_method::svd);
            for (std::size_t i = 0; i < s1.size(); ++i) CHECK(s2[i] == std::ldexp(s1[i], p));
            for (auto method : {singular_value_method::automatic, singular_value_method::gram}) {
                const auto st = geomkit::spectrum_stats(bview, method);
                CHECK(st.stable_rank == Approx(base.stable_rank).epsilon(1e-12));
                CHECK(st.pr == Approx(base.pr).epsilon(1e-12));
                CHECK(st.active_frac == base.active_frac);
                CHECK(st.rank_90 == base.rank_90);
                CHECK(st.max_sv == Approx(std::ldexp(base.max_sv, p)).epsilon(1e-12));
                CHECK(std::isfinite(st.condition));
            }
            const auto q0 = geomkit::qk_manifold(view, view), q = geomkit::qk_manifold(bview, bview);
            CHECK(q.stable_rank == Approx(q0.stable_rank).epsilon(1e-12));
            CHECK(q.pr == Approx(q0.pr).epsilon(1e-12));
            CHECK(std::isfinite(q.sym_dev));
            CHECK(q.sym_dev <= 1e-12);
            CHECK(q.n_positive == q0.n_positive);
            CHECK(q.n_negative == q0.n_negative);
            // The top eigenvalue is 2^(2p) times the unscaled one: inf or 0 beyond the double range.
            CHECK(q.top3_eig[0] == Approx(std::ldexp(q0.top3_eig[0], 2 * p)).epsilon(1e-12));
            const auto e0 = geomkit::eigenspectrum(view), e = geomkit::eigenspectrum(bview);
            CHECK(e.pr == Approx(e0.pr).epsilon(1e-12));
            CHECK(e.dims_90 == e0.dims_90);
            CHECK(e.total_variance == Approx(std::ldexp(e0.total_variance, 2 * p)).epsilon(1e-12));
            CHECK(e.eigenvalues[0] == Approx(std::ldexp(e0.eigenvalues[0], 2 * p)).epsilon(1e-12));
            const auto p0 = geomkit::participation(view), p1 = geomkit::participation(bview);
            CHECK(p1.pr == Approx(p0.pr).epsilon(1e-12));
            CHECK(p1.total_variance == Approx(std::ldexp(p0.total_variance, 2 * p)).epsilon(1e-12));
        }
    }
    // S₀ beyond the double range (entries near 1.7e308) or entries subnormal: the ratios
    // stay finite and scale-free, max_sv is inf only where its true value overflows.
    for (double f : {1.7e308, 1e-310, 1e-322}) {
        {
            std::vector<double> w = {1, 2, 3, 4, 5, 6, 7, 8, 10};
            const auto base = geomkit::spectrum_stats(make_view<const double>(w.data(), 3, 3));
            for (auto& x : w) x *= f / 10;
            INFO("factor " << f);
            for (auto method : {singular_value_method::automatic, singular_value_method::gram, singular_value_method::svd}) {
                const auto st = geomkit::spectrum_stats(make_view<const double>(w.data(), 3, 3), method);
                CHECK(st.stable_rank == Approx(base.stable_rank).epsilon(f < 1e-320 ? 1e-2 : 1e-9));
                CHECK(st.pr == Approx(base.pr).epsilon(f < 1e-320 ? 1e-2 : 1e-9));
                CHECK(std::isfinite(st.condition));
                if (f > 1) {
                    CHECK(st.condition == Approx(base.condition).epsilon(1e-9));
                    CHECK(std::isinf(st.max_sv));  // 1.7e308 · S₀(w) / 10 > DBL_MAX
                    CHECK(st.min_sv == Approx(base.min_sv * f / 10).epsilon(1e-9));
                } else {
                    CHECK(st.max_sv > 0);
                    CHECK(std::isfinite(st.max_sv));
                }
            }
        }
    }
    // The issue's cases: rand(8, 8) times 1e300 and 1e-300.
    for (double f : {1e300, 1e-300}) {
        std::vector<double> w(64);
        for (auto& x : w) x = u(gen);
        const auto base = geomkit::spectrum_stats(make_view<const double>(w.data(), 8, 8));
        for (auto& x : w) x *= f;
        const auto st = geomkit::spectrum_stats(make_view<const double>(w.data(), 8, 8));
        INFO("factor " << f);
        CHECK(st.stable_rank == Approx(base.stable_rank).epsilon(1e-9));
        CHECK(st.pr == Approx(base.pr).epsilon(1e-9));
        CHECK(st.max_sv == Approx(base.max_sv * f).epsilon(1e-9));
        CHECK(std::isfinite(st.condition));
        CHECK(st.condition > 0);
    }
}

TEST_CASE("symmetric dense to band and band to tridiagonal keep the eigenvalues", "[svd][symmetric][band]") {
    for (index_t n : {5, 40, 97}) {
        for (index_t b : {2, 8, 32}) {
            INFO("n " << n << " b " << b);
            const mat G = gaussian(n, n, std::uint64_t(n * 3 + b));
            const mat S = G + G.transpose();
            mat A = S;
            geomkit::detail::reduce_symmetric_to_band(A, b, 2);
            mat one = S;
            geomkit::detail::reduce_symmetric_to_band(one, b, 1);
            CHECK(one == A);  // the same bits at 1 and 2 threads
            for (index_t j = 0; j < n; ++j)
                for (index_t i = 0; i < n; ++i) {
                    if (std::abs(i - j) > b) REQUIRE(A(i, j) == 0.0);
                    REQUIRE(A(i, j) == Approx(A(j, i)).margin(1e-13));
                }
            std::vector<double> d, e;
            // The chase reads and writes the lower triangle only: scramble the upper one.
            A.triangularView<Eigen::StrictlyUpper>().setConstant(std::nan(""));
            geomkit::detail::chase_symmetric_band(A, b, d, e);
            for (index_t j = 0; j < n; ++j)
                for (index_t i = j + 2; i < n; ++i) REQUIRE(A(i, j) == 0.0);
            // Root-free QL (the route's) and bisection (the last fallback), both against long double.
            const Eigen::VectorXd ev = geomkit::detail::tridiagonal_eigenvalues(d, e);
            const Eigen::VectorXd bis = geomkit::detail::tridiagonal_eigenvalues_by_bisection(d, e, 1);
            const Eigen::SelfAdjointEigenSolver<ld_mat> ref(S.cast<long double>(), Eigen::EigenvaluesOnly);
            const long double norm = ref.eigenvalues().cwiseAbs().maxCoeff();
            for (index_t i = 0; i < n; ++i) {
                CHECK(std::abs((long double)ev(i) - ref.eigenvalues()(i)) <= 64 * 2.3e-16L * norm);
                CHECK(std::abs((long double)bis(i) - ref.eigenvalues()(i)) <= 64 * 2.3e-16L * norm);
            }
            CHECK(geomkit::detail::tridiagonal_eigenvalues_by_bisection(d, e, 2) == bis);
        }
    }
}

TEST_CASE("the root-free QL iteration against a long-double solver on hard tridiagonals", "[svd][symmetric][tridiagonal]") {
    std::mt19937_64 gen(77);
    std::normal_distribution<double> normal;
    for (int kind = 0; kind < 8; ++kind)
        for (index_t n : {1, 2, 3, 7, 64, 301}) {
            INFO("kind " << kind << " n " << n);
            std::vector<double> d(static_cast<std::size_t>(n)), e(static_cast<std::size_t>(std::max<index_t>(n - 1, 0)));
            for (index_t i = 0; i < n; ++i) {
                const double t = n > 1 ? double(i) / double(n - 1) : 0.0;
                switch (kind) {
                    case 0: d[std::size_t(i)] = normal(gen); break;                      // random
                    case 1: d[std::size_t(i)] = std::pow(10.0, -12 * t); break;          // graded down
                    case 2: d[std::size_t(i)] = std::pow(10.0, -12 * (1 - t)); break;    // graded up
                    case 3: d[std::size_t(i)] = 0; break;                                // Golub–Kahan form
                    case 4: d[std::size_t(i)] = std::abs(double(i) - double(n / 2)); break;  // Wilkinson W+
                    case 5: d[std::size_t(i)] = 1; break;                                // a cluster
                    case 6: d[std::size_t(i)] = normal(gen); break;                      // splits
                    default: d[std::size_t(i)] = 1e-3 * normal(gen); break;              // PSD-like, tiny values
                }
            }
            for (index_t i = 0; i + 1 < n; ++i) {
                const double t = double(i) / double(std::max<index_t>(n - 1, 1));
                double v = normal(gen);
                if (kind == 1) v = std::pow(10.0, -12 * t) * v;
                if (kind == 2) v = std::pow(10.0, -12 * (1 - t)) * v;
                if (kind == 4 || kind == 5) v = 1;
                if (kind == 6 && i % 5 == 2) v = 1e-300;
                if (kind == 7) v = 1e-9 * v;
                e[std::size_t(i)] = v;
            }
            ld_mat T = ld_mat::Zero(n, n);
            for (index_t i = 0; i < n; ++i) T(i, i) = d[std::size_t(i)];
            for (index_t i = 0; i + 1 < n; ++i) T(i + 1, i) = T(i, i + 1) = e[std::size_t(i)];
            const Eigen::SelfAdjointEigenSolver<ld_mat> ref(T, Eigen::EigenvaluesOnly);
            const long double norm = std::max(ref.eigenvalues().cwiseAbs().maxCoeff(), (long double)1e-300);
            std::vector<double> values = d;
            REQUIRE(geomkit::detail::root_free_ql(values, e));
            std::sort(values.begin(), values.end());
            const Eigen::VectorXd ev = geomkit::detail::tridiagonal_eigenvalues(d, e);
            for (index_t i = 0; i < n; ++i) {
                CHECK(std::abs((long double)values[std::size_t(i)] - ref.eigenvalues()(i)) <= 64 * 2.3e-16L * norm);
                CHECK(std::abs((long double)ev(i) - ref.eigenvalues()(i)) <= 64 * 2.3e-16L * norm);
            }
        }
}

TEST_CASE("the band Cholesky test decides definiteness as the eigenvalues say", "[svd][symmetric][band]") {
    for (index_t n : {40, 97}) {
        for (int kind = 0; kind < 2; ++kind) {
            INFO("n " << n << " kind " << kind);
            // kind 0: indefinite; 1: a PSD Gram with a spread spectrum (the Gram route's case).
            const mat G = gaussian(n, n, std::uint64_t(n + 7 * kind));
            const mat S = kind == 0 ? mat(G + G.transpose())
                                    : mat(test_matrix(n, n, spectrum_kind::spread, 5).transpose() *
                                          test_matrix(n, n, spectrum_kind::spread, 5));
            const Eigen::SelfAdjointEigenSolver<ld_mat> ref(S.cast<long double>(), Eigen::EigenvaluesOnly);
            const double lo = double(ref.eigenvalues()(0)), norm = double(ref.eigenvalues().cwiseAbs().maxCoeff());
            mat A = S;
            geomkit::detail::reduce_symmetric_to_band(A, 8, 1);
            A.triangularView<Eigen::StrictlyUpper>().setConstant(std::nan(""));  // lower triangle only
            const double gap = 1e-3 * std::abs(lo) + 1e-12 * norm;  // far above the rounding (~n·ε·norm)
            CHECK(geomkit::detail::band_positive_definite(A, 8, lo - gap));
            CHECK_FALSE(geomkit::detail::band_positive_definite(A, 8, lo + gap));
            CHECK_FALSE(geomkit::detail::band_positive_definite(A, 8, std::nan("")));
            // The floor's scale: a lower bound on λ_max, at least the largest diagonal entry.
            const double hi = double(ref.eigenvalues()(n - 1));
            const double top = geomkit::detail::band_top_eigenvalue_lower_bound(A, 8);
            CHECK(top <= hi * (1 + 1e-12));
            CHECK(top >= A.diagonal().maxCoeff());
            if (kind == 1) CHECK(top >= 0.9 * hi);
            // Through symmetric_eigenvalues (a positive floor ratio ρ asks for the test of
            // S − ρ·λ̂·I, λ̂ ≤ λ_max from power steps), on the two-stage route (min_rows 16)
            // and dense: no values when ρ·λ_max/2 is above λ_min, all of them when ρ·λ_max is
            // below.
            if (lo > 0) {
                REQUIRE(lo - gap > 0);
                const double fails = 2 * (lo + gap) / hi, passes = (lo - gap) / hi;
                CHECK(geomkit::detail::symmetric_eigenvalues(S, fails, 16).size() == 0);
                CHECK(geomkit::detail::symmetric_eigenvalues(S, passes, 16).size() == n);
                CHECK(geomkit::detail::symmetric_eigenvalues(S, fails, 4 * n).size() == 0);
                CHECK(geomkit::detail::symmetric_eigenvalues(S, passes, 4 * n).size() == n);
            }
            CHECK(geomkit::detail::symmetric_eigenvalues(S, 0.0, 16).size() == n);  // no floor: no test
        }
    }
}

TEST_CASE("symmetric eigenvalues by the symmetric two-stage route against a long-double solver", "[svd][symmetric]") {
    for (index_t n : {63, 64, 100, 170}) {
        for (int kind = 0; kind < 3; ++kind) {
            INFO("n " << n << " kind " << kind);
            // kind 0: indefinite Gaussian; 1: PSD Gram with a spread spectrum; 2: indefinite, low rank.
            const mat G = gaussian(n, n, std::uint64_t(n + 10 * kind));
            mat S;
            if (kind == 0) S = G + G.transpose();
            if (kind == 1) S = test_matrix(n, n, spectrum_kind::spread, 3).transpose() * test_matrix(n, n, spectrum_kind::spread, 3);
            if (kind == 2) {
                const mat L = gaussian(n, 5, 9);
                S = L * Eigen::VectorXd::LinSpaced(5, -2.0, 2.5).asDiagonal() * L.transpose();
            }
            S = 0.5 * (S + S.transpose()).eval();
            const Eigen::SelfAdjointEigenSolver<ld_mat> ref(S.cast<long double>(), Eigen::EigenvaluesOnly);
            const Eigen::VectorXd ev = geomkit::detail::symmetric_eigenvalues(S, 0.0, 64);
            const long double norm = ref.eigenvalues().cwiseAbs().maxCoeff();
            for (index_t i = 0; i < n; ++i)
                CHECK(std::abs((long double)ev(i) - ref.eigenvalues()(i)) <= 64 * std::sqrt((long double)n) * 2.3e-16L * norm);
            if (kind == 2) {  // 2 negative, 3 positive eigenvalues, the rest zero up to rounding
                CHECK(ev(0) < 0);
                CHECK(ev(1) < 0);
                CHECK(ev(n - 1) > 0);
            }
        }
    }
    // qk_manifold at p = 96 (Eigen's solver below 1536 rows) against the notebook recipe in long double.
    const index_t p = 96, m = 80;
    const mat Wq = gaussian(p, m, 61), Wk = gaussian(p, m, 62);
    const mat QK = Wq * Wk.transpose();
    const Eigen::SelfAdjointEigenSolver<ld_mat> es((0.5 * (QK + QK.transpose())).cast<long double>(), Eigen::EigenvaluesOnly);
    const auto wq = row_major<double>(Wq), wk = row_major<double>(Wk);
    const auto r = geomkit::qk_manifold(make_view(wq.data(), p, m), make_view(wk.data(), p, m));
    index_t pos = 0, neg = 0;
    const long double tiny = 1e-10L * es.eigenvalues().cwiseAbs().maxCoeff();
    bool ambiguous = false;
    for (index_t i = 0; i < p; ++i) {
        pos += es.eigenvalues()(i) > 0;
        neg += es.eigenvalues()(i) < 0;
        ambiguous = ambiguous || std::abs(es.eigenvalues()(i)) < tiny;
    }
    if (!ambiguous) {
        CHECK(r.n_positive == pos);
        CHECK(r.n_negative == neg);
    }
    for (int i = 0; i < 3; ++i)
        CHECK(r.top3_eig[std::size_t(i)] == Approx(double(es.eigenvalues()(p - 1 - i))).epsilon(1e-12));
}

TEST_CASE("automatic: shorter-side norms 1/r apart take the svd route without the Gram", "[svd][route]") {
    using geomkit::detail::short_side_norms_spread;
    // Tall, columns graded over 8 decades: the smallest column proves S_min < 1e-3·S₀.
    const mat tall = test_matrix(300, 120, spectrum_kind::graded, 41);
    const auto t = row_major<double>(tall);
    CHECK(short_side_norms_spread(make_view(t.data(), 300, 120), 1e-3));
    const auto ta = geomkit::singular_values(make_view(t.data(), 300, 120), singular_value_method::automatic);
    CHECK(ta == geomkit::singular_values(make_view(t.data(), 300, 120), singular_value_method::svd));
    const auto ref = reference_values(tall);
    for (std::size_t i = 0; i < ref.size(); ++i) CHECK(std::abs(ta[i] - double(ref[i])) <= 1e-13 * double(ref[0]));
    // Wide: its rows are the shorter side's vectors.
    const auto spread = [](const mat& w) {
        const auto v = row_major<float>(w);
        return short_side_norms_spread(make_view(v.data(), w.rows(), w.cols()), 1e-3);
    };
    mat wide = gaussian(100, 260, 42);
    CHECK_FALSE(spread(wide));
    wide.row(7) *= 9e-4;
    CHECK(spread(wide));
    wide.row(7) /= 9e-4;
    wide.col(7) *= 1e-6;  // a longer-side vector proves nothing
    CHECK_FALSE(spread(wide));
}

TEST_CASE("automatic keeps the Gram route down to S_min = r(k)·S₀, accurate there, and leaves it below", "[svd][route]") {
    using geomkit::detail::gram_route_floor;
    CHECK(gram_route_floor(2048) == Approx(6.74e-4).epsilon(1e-2));
    CHECK(gram_route_floor(100) == 5e-4);
    CHECK(gram_route_floor(8192) > 1e-3);
    // Exact spectra s_i = geomspace(1, c), rotated (ungraded: the Gram route's hard case) and
    // as graded columns, at c = 1.25·r (the Gram route, within its 2.5e-7 model of the
    // long-double values) and c = 0.8·r (the svd route, bitwise).
    for (index_t k : {160, 1100}) {
        const index_t m = 2 * k + 5;
        const double r = gram_route_floor(k);
        for (double factor : {1.25, 0.8}) {
            for (int graded = 0; graded < 2; ++graded) {
                INFO("k " << k << " c/r " << factor << " graded " << graded);
                std::vector<double> s(static_cast<std::size_t>(k));
                for (index_t i = 0; i < k; ++i) s[std::size_t(i)] = std::pow(factor * r, double(i) / double(k - 1));
                mat W;
                if (graded) {
                    W = orthonormal(m, k, std::uint64_t(k + 3));
                    for (index_t j = 0; j < k; ++j) W.col(j) *= s[std::size_t(j)];
                } else {
                    W = with_spectrum(m, k, s, std::uint64_t(k + 5));
                }
                const auto v = row_major<double>(W);
                const auto view = make_view(v.data(), m, k);
                const auto a = geomkit::singular_values(view);
                if (factor > 1) {
                    CHECK(a == geomkit::singular_values(view, singular_value_method::gram));
                    for (index_t i = 0; i < k; ++i)  // the exact values, to the model's 2.5e-7
                        CHECK(std::abs(a[std::size_t(i)] - s[std::size_t(i)]) <= 2.5e-7 * s[std::size_t(i)]);
                } else {
                    CHECK(a == geomkit::singular_values(view, singular_value_method::svd));
                }
            }
        }
    }
}
