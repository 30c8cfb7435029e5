// Procrustes: rotated copies recover R, reflections, comparison with an independent SVD
// (JacobiSVD of AᵀB formed in long double), the alignment recipe, batched = single,
// thread-count independence and every error path.
#include <geomkit/procrustes.hpp>

#include <Eigen/Dense>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "testing.hpp"

using geomkit::index_t;
using geomkit::make_view;
using geomkit_test::require_error;

namespace {

using mat = Eigen::MatrixXd;

mat random_orthogonal(index_t d, std::uint64_t seed, bool reflection = false) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<double> nd;
    mat g(d, d);
    for (index_t i = 0; i < g.size(); ++i) g.data()[i] = nd(gen);
    mat q = Eigen::HouseholderQR<mat>(g).householderQ();
    if ((q.determinant() < 0) != reflection) q.col(0) = -q.col(0);
    return q;
}

template <class T>
std::vector<T> to_row_major(const mat& m) {
    std::vector<T> v(std::size_t(m.size()));
    for (index_t i = 0; i < m.rows(); ++i)
        for (index_t j = 0; j < m.cols(); ++j) v[std::size_t(i * m.cols() + j)] = T(m(i, j));
    return v;
}

mat gaussian(index_t n, index_t d, std::uint64_t seed) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<double> nd;
    mat x(n, d);
    for (index_t i = 0; i < x.size(); ++i) x.data()[i] = nd(gen);
    return x;
}

// Independent reference: AᵀB in long double, JacobiSVD in double, R = U·Vᵀ.
struct reference {
    mat R;
    double scale;
};
reference reference_procrustes(const mat& A, const mat& B) {
    Eigen::Matrix<long double, Eigen::Dynamic, Eigen::Dynamic> M =
        A.cast<long double>().transpose() * B.cast<long double>();
    Eigen::JacobiSVD<mat> svd;
    svd.compute(M.cast<double>(), Eigen::ComputeFullU | Eigen::ComputeFullV);
    return {svd.matrixU() * svd.matrixV().transpose(), svd.singularValues().sum()};
}

double max_abs_diff(const mat& a, const mat& b) { return (a - b).cwiseAbs().maxCoeff(); }

}  // namespace

TEMPLATE_TEST_CASE("a rotated copy recovers R exactly", "[procrustes]", float, double) {
    const double tol = std::is_same<TestType, float>::value ? 2e-6 : 1e-12;
    for (index_t d : {2, 7, 16, 64, 65, 96}) {
        const mat A = gaussian(3 * d + 5, d, 10 + std::uint64_t(d));
        const mat Q = random_orthogonal(d, std::uint64_t(d));
        const auto a = to_row_major<TestType>(A);
        const mat Ar = Eigen::Map<const Eigen::Matrix<TestType, -1, -1, Eigen::RowMajor>>(a.data(), A.rows(), d).template cast<double>();
        const auto b = to_row_major<TestType>(Ar * Q);
        const auto r = geomkit::orthogonal_procrustes(make_view(a.data(), A.rows(), d), make_view(b.data(), A.rows(), d));
        INFO("d = " << d);
        CHECK(max_abs_diff(r.R, Q) < tol);
        CHECK(max_abs_diff(r.R.transpose() * r.R, mat::Identity(d, d)) < 1e-12);
        // scale = Σσ(AᵀB) = tr(AᵀA) for B = A·Q
        CHECK(std::abs(r.scale - (Ar.transpose() * Ar).trace()) < tol * r.scale);
    }
}

TEMPLATE_TEST_CASE("R and scale match an independent SVD (scipy's definition)", "[procrustes]", float, double) {
    for (index_t d : {3, 16, 64, 80}) {
        const mat A0 = gaussian(200, d, 1), B0 = gaussian(200, d, 2);
        const auto a = to_row_major<TestType>(A0), b = to_row_major<TestType>(B0);
        const mat A = Eigen::Map<const Eigen::Matrix<TestType, -1, -1, Eigen::RowMajor>>(a.data(), 200, d).template cast<double>();
        const mat B = Eigen::Map<const Eigen::Matrix<TestType, -1, -1, Eigen::RowMajor>>(b.data(), 200, d).template cast<double>();
        const reference ref = reference_procrustes(A, B);
        const auto r = geomkit::orthogonal_procrustes(make_view(a.data(), 200, d), make_view(b.data(), 200, d));
        INFO("d = " << d);
        CHECK(max_abs_diff(r.R, ref.R) < 1e-10);
        CHECK(std::abs(r.scale - ref.scale) < 1e-12 * ref.scale);
        // R minimises the residual: no random rotation of it does better.
        const double best = (A * r.R - B).norm();
        for (int k = 0; k < 3; ++k) {
            const mat Q = random_orthogonal(d, 100 + std::uint64_t(k));
            CHECK(best <= (A * Q - B).norm());
        }
    }
}

TEST_CASE("reflections are allowed by default and removed by proper_rotation", "[procrustes]") {
    for (index_t d : {4, 16, 100}) {
        const mat A = gaussian(5 * d, d, 3);
        const mat F = random_orthogonal(d, 7, /*reflection=*/true);
        const auto a = to_row_major<double>(A), b = to_row_major<double>(A * F);
        const auto va = make_view(a.data(), A.rows(), d), vb = make_view(b.data(), A.rows(), d);
        const auto r = geomkit::orthogonal_procrustes(va, vb);
        INFO("d = " << d);
        CHECK(max_abs_diff(r.R, F) < 1e-11);
        CHECK(r.R.determinant() == Approx(-1.0).margin(1e-10));
        const auto p = geomkit::orthogonal_procrustes(va, vb, true);
        CHECK(p.R.determinant() == Approx(1.0).margin(1e-10));
        // Reference: U·diag(1,…,1,−1)·Vᵀ and Σσ − 2σ_min.
        Eigen::JacobiSVD<mat> svd;
        svd.compute(A.transpose() * (A * F), Eigen::ComputeFullU | Eigen::ComputeFullV);
        mat U = svd.matrixU();
        U.col(d - 1) *= -1;
        CHECK(max_abs_diff(p.R, U * svd.matrixV().transpose()) < 1e-9);
        const auto& s = svd.singularValues();
        CHECK(p.scale == Approx(s.sum() - 2 * s(d - 1)).epsilon(1e-12));
        // A proper fit that needs no flip equals the unrestricted one.
        const auto b2 = to_row_major<double>(A * random_orthogonal(d, 8));
        const auto u2 = geomkit::orthogonal_procrustes(va, make_view(b2.data(), A.rows(), d));
        const auto p2 = geomkit::orthogonal_procrustes(va, make_view(b2.data(), A.rows(), d), true);
        CHECK(max_abs_diff(u2.R, p2.R) < 1e-12);
    }
}

TEST_CASE("the blocked Gauss-Jordan inverse matches LU and needs its pivoting", "[procrustes][large]") {
    // Sizes around the 64-column block; the rows are cycled so that every leading
    // diagonal entry is 1e-12 against O(1) entries elsewhere: without row exchanges the
    // elimination would be off by ~1e4 relative.
    for (index_t d : {1, 2, 63, 64, 65, 130, 200}) {
        mat a = gaussian(d, d, 50 + std::uint64_t(d));
        for (index_t i = 0; i < d; ++i) a(i, i) = 1e-12;
        geomkit::row_major_matrix g = a;
        std::vector<int> idx;
        double sign = 0;
        INFO("d = " << d);
        REQUIRE(geomkit::detail::invert_blocked(g, idx, sign));
        mat inv(d, d);
        for (index_t c = 0; c < d; ++c) inv.col(c) = g.col(idx[std::size_t(c)]);
        const Eigen::PartialPivLU<mat> lu(a);
        CHECK(max_abs_diff(a * inv, mat::Identity(d, d)) < 1e-11);
        CHECK(max_abs_diff(inv, lu.inverse()) < 1e-11 * lu.inverse().cwiseAbs().maxCoeff());
        CHECK(sign == (lu.determinant() < 0 ? -1.0 : 1.0));
    }
    // A singular matrix (two equal rows) is refused.
    mat s = gaussian(100, 100, 7);
    s.row(70) = s.row(3);
    geomkit::row_major_matrix g = s;
    std::vector<int> idx;
    double sign = 0;
    CHECK_FALSE(geomkit::detail::invert_blocked(g, idx, sign));
}

TEST_CASE("large d: the Newton polar factor matches an SVD at any conditioning, and falls back when singular",
          "[procrustes][large]") {
    // A = [I; 0] and B = [M; 0] make AᵀB = M exactly, with singular values spread
    // geometrically from 1 to 1/kappa: the polar factor's condition number is ~kappa, so
    // any backward-stable method (the reference SVD included) may be off by ~kappa·ε.
    const index_t d = 150, n = d + 10;
    for (double kappa : {1.0, 1e3, 1e8}) {
        Eigen::VectorXd sv(d);
        for (index_t i = 0; i < d; ++i) sv(i) = std::pow(kappa, -double(i) / double(d - 1));
        const mat M = random_orthogonal(d, 11) * sv.asDiagonal() * random_orthogonal(d, 12, true).transpose();
        mat A = mat::Zero(n, d), B = mat::Zero(n, d);
        A.topRows(d).setIdentity();
        B.topRows(d) = M;
        const auto a = to_row_major<double>(A), b = to_row_major<double>(B);
        const auto r = geomkit::orthogonal_procrustes(make_view(a.data(), n, d), make_view(b.data(), n, d));
        const reference ref = reference_procrustes(A, B);
        INFO("kappa = " << kappa);
        CHECK(max_abs_diff(r.R, ref.R) < 1e-15 * kappa + 1e-13);
        CHECK(max_abs_diff(r.R.transpose() * r.R, mat::Identity(d, d)) < 1e-12);
        CHECK(std::abs(r.scale - ref.scale) < 1e-12 * ref.scale);
        CHECK(std::abs(r.scale - sv.sum()) < 1e-12 * ref.scale);
    }
    // Rank-deficient AᵀB (A has 40 rows < d): the SVD fallback still gives an orthogonal
    // minimiser with scale Σσ.
    const mat A = gaussian(40, d, 15), B = gaussian(40, d, 16);
    const auto a = to_row_major<double>(A), b = to_row_major<double>(B);
    const auto r = geomkit::orthogonal_procrustes(make_view(a.data(), 40, d), make_view(b.data(), 40, d));
    CHECK(max_abs_diff(r.R.transpose() * r.R, mat::Identity(d, d)) < 1e-12);
    CHECK(std::abs(r.scale - reference_procrustes(A, B).scale) < 1e-10 * r.scale);
    CHECK((A * r.R - B).norm() <= (A * reference_procrustes(A, B).R - B).norm() * (1 + 1e-12));
}

TEST_CASE("rank-deficient and one-row inputs still give an orthogonal minimiser", "[procrustes]") {
    for (index_t n : {1, 3}) {
        const index_t d = 8;
        const mat A = gaussian(n, d, 11), B = gaussian(n, d, 12);
        const auto a = to_row_major<double>(A), b = to_row_major<double>(B);
        const auto r = geomkit::orthogonal_procrustes(make_view(a.data(), n, d), make_view(b.data(), n, d));
        CHECK(max_abs_diff(r.R.transpose() * r.R, mat::Identity(d, d)) < 1e-12);
        const reference ref = reference_procrustes(A, B);
        CHECK(r.scale == Approx(ref.scale).epsilon(1e-12));
        CHECK((A * r.R - B).norm() == Approx((A * ref.R - B).norm()).epsilon(1e-10));
    }
    // One column: R = sign(a·b).
    const std::vector<double> a{1, 2, 3}, b{-1, -2, -2.5};
    const auto r = geomkit::orthogonal_procrustes(make_view(a.data(), 3, 1), make_view(b.data(), 3, 1));
    CHECK(r.R(0, 0) == -1.0);
    CHECK(r.scale == Approx(12.5));
}

TEMPLATE_TEST_CASE("procrustes_align follows the notebook recipe", "[procrustes][align]", float, double) {
    const index_t n = 300, d = 24;
    const mat A = gaussian(n, d, 21);
    const mat Q = random_orthogonal(d, 22);
    Eigen::RowVectorXd shift = Eigen::RowVectorXd::LinSpaced(d, -5.0, 7.0);
    mat B = (A * Q).rowwise() + shift;
    B += 0.05 * gaussian(n, d, 23);
    const auto a = to_row_major<TestType>(A), b = to_row_major<TestType>(B);
    const auto r = geomkit::procrustes_align(make_view(a.data(), n, d), make_view(b.data(), n, d));
    // Reference computed here from the formulas, in double on the same (rounded) values.
    const mat Ar = Eigen::Map<const Eigen::Matrix<TestType, -1, -1, Eigen::RowMajor>>(a.data(), n, d).template cast<double>();
    const mat Br = Eigen::Map<const Eigen::Matrix<TestType, -1, -1, Eigen::RowMajor>>(b.data(), n, d).template cast<double>();
    const Eigen::RowVectorXd ma = Ar.colwise().mean(), mb = Br.colwise().mean();
    const mat Ac = Ar.rowwise() - ma, Bc = Br.rowwise() - mb;
    const reference ref = reference_procrustes(Ac, Bc);
    CHECK(max_abs_diff(r.R, ref.R) < 1e-10);
    CHECK(r.scale == Approx(ref.scale).epsilon(1e-12));
    const mat aligned = (Ac * ref.R).rowwise() + mb;
    CHECK(max_abs_diff(r.aligned, aligned) < 1e-9);
    double cs = 0;
    for (index_t i = 0; i < n; ++i) {
        const double c = aligned.row(i).dot(Br.row(i)) / (aligned.row(i).norm() * Br.row(i).norm() + 1e-8);
        CHECK(r.cosine(i) == Approx(c).epsilon(1e-12));
        cs += c;
    }
    CHECK(r.mean_cosine == Approx(cs / double(n)).epsilon(1e-12));
    CHECK(r.relative_residual == Approx((aligned - Br).norm() / Bc.norm()).epsilon(1e-10));
    CHECK(r.relative_residual < 0.2);
    CHECK(max_abs_diff(r.mean_a.transpose(), ma) < 1e-12);
}

TEMPLATE_TEST_CASE("batched equals single, at 1 and 2 threads", "[procrustes][batched]", float, double) {
    const index_t batch = 150, n = 40, d = 12;
    const mat A = gaussian(batch * n, d, 31), B = gaussian(batch * n, d, 32);
    const auto a = to_row_major<TestType>(A), b = to_row_major<TestType>(B);
    std::vector<double> R1(static_cast<std::size_t>(batch * d * d)), R2(R1.size());
    std::vector<double> s1(static_cast<std::size_t>(batch)), s2(s1.size());
    geomkit::set_num_threads(1);
    geomkit::orthogonal_procrustes_batched(make_view(a.data(), batch * n, d), make_view(b.data(), batch * n, d), n,
                                           make_view(R1.data(), batch * d, d), s1.data());
    geomkit::set_num_threads(2);
    geomkit::orthogonal_procrustes_batched(make_view(a.data(), batch * n, d), make_view(b.data(), batch * n, d), n,
                                           make_view(R2.data(), batch * d, d), s2.data());
    CHECK(R1 == R2);
    CHECK(s1 == s2);
    for (index_t p : {index_t(0), index_t(77), batch - 1}) {
        const auto r = geomkit::orthogonal_procrustes(make_view(a.data() + p * n * d, n, d),
                                                      make_view(b.data() + p * n * d, n, d));
        const mat Rb = Eigen::Map<const geomkit::row_major_matrix>(R1.data() + p * d * d, d, d);
        CHECK(max_abs_diff(r.R, Rb) < 1e-12);
        CHECK(r.scale == Approx(s1[std::size_t(p)]).epsilon(1e-13));
    }
    // proper_rotation in the batch: every det is +1.
    geomkit::orthogonal_procrustes_batched(make_view(a.data(), batch * n, d), make_view(b.data(), batch * n, d), n,
                                           make_view(R1.data(), batch * d, d), s1.data(), true);
    for (index_t p = 0; p < batch; ++p)
        CHECK(Eigen::Map<const geomkit::row_major_matrix>(R1.data() + p * d * d, d, d).determinant() ==
              Approx(1.0).margin(1e-10));
    geomkit::set_num_threads(0);
}

TEST_CASE("the fixed-size batched kernels match an independent SVD", "[procrustes][batched]") {
    // d = 2..8, 16, 32, 64 take fixed-size kernels (SIMD where d is a multiple of the
    // batch width); problem 1 of each batch is a reflected copy, problem 2 is singular.
    for (index_t d : {2, 3, 4, 7, 8, 16, 32, 64}) {
        const index_t batch = 5, n = 3 * d;
        mat A = gaussian(batch * n, d, 41 + std::uint64_t(d)), B = gaussian(batch * n, d, 42 + std::uint64_t(d));
        B.middleRows(n, n) = A.middleRows(n, n) * random_orthogonal(d, 7, true);
        A.middleRows(2 * n, n).col(0).setZero();
        const auto a = to_row_major<double>(A), b = to_row_major<double>(B);
        std::vector<double> R(static_cast<std::size_t>(batch * d * d)), s(static_cast<std::size_t>(batch));
        std::vector<double> Rp(R.size()), sp(s.size());
        geomkit::orthogonal_procrustes_batched(make_view(a.data(), batch * n, d), make_view(b.data(), batch * n, d), n,
                                               make_view(R.data(), batch * d, d), s.data());
        geomkit::orthogonal_procrustes_batched(make_view(a.data(), batch * n, d), make_view(b.data(), batch * n, d), n,
                                               make_view(Rp.data(), batch * d, d), sp.data(), true);
        for (index_t p = 0; p < batch; ++p) {
            INFO("d = " << d << ", problem " << p);
            const mat Ap = A.middleRows(p * n, n), Bp = B.middleRows(p * n, n);
            const mat Rb = Eigen::Map<const geomkit::row_major_matrix>(R.data() + p * d * d, d, d);
            const mat Rpb = Eigen::Map<const geomkit::row_major_matrix>(Rp.data() + p * d * d, d, d);
            const reference ref = reference_procrustes(Ap, Bp);
            CHECK(max_abs_diff(Rb.transpose() * Rb, mat::Identity(d, d)) < 1e-12);
            CHECK(std::abs(s[std::size_t(p)] - ref.scale) < 1e-12 * ref.scale);
            if (p != 2) CHECK(max_abs_diff(Rb, ref.R) < 1e-10);  // singular: R is not unique
            CHECK(Rpb.determinant() == Approx(1.0).margin(1e-10));
            if (p != 2) {
                const mat M = Ap.transpose() * Bp;
                Eigen::JacobiSVD<mat> svd(M, Eigen::ComputeFullU | Eigen::ComputeFullV);
                mat U = svd.matrixU();
                double scale = svd.singularValues().sum();
                if ((U * svd.matrixV().transpose()).determinant() < 0) {
                    U.col(d - 1) = -U.col(d - 1);
                    scale -= 2 * svd.singularValues()(d - 1);
                }
                CHECK(max_abs_diff(Rpb, U * svd.matrixV().transpose()) < 1e-9);
                CHECK(sp[std::size_t(p)] == Approx(scale).epsilon(1e-12));
            }
        }
    }
}

TEST_CASE("the large-d product and polar factor are the same at 1 and 2 threads", "[procrustes]") {
    // d = 520 takes the threaded blocked inverse (d >= 512), d = 300 the serial one.
    for (index_t d : {300, 520}) {
        const index_t n = d + 400;
        const auto a = to_row_major<float>(gaussian(n, d, 41)), b = to_row_major<float>(gaussian(n, d, 42));
        geomkit::set_num_threads(1);
        const auto r1 = geomkit::orthogonal_procrustes(make_view(a.data(), n, d), make_view(b.data(), n, d));
        geomkit::set_num_threads(2);
        const auto r2 = geomkit::orthogonal_procrustes(make_view(a.data(), n, d), make_view(b.data(), n, d));
        geomkit::set_num_threads(0);
        INFO("d = " << d);
        CHECK(r1.R == r2.R);
        CHECK(r1.scale == r2.scale);
    }
}

TEST_CASE("procrustes errors name the argument and the expectation", "[procrustes][error]") {
    std::vector<double> a(64 * 70, 1.0), b(64 * 70, 1.0), R(70 * 70);
    double s[4];
    require_error([&] { geomkit::orthogonal_procrustes(make_view<const double>(a.data(), 4, 3), make_view<const double>(b.data(), 4, 2)); },
                  {"geomkit::orthogonal_procrustes", "'B'", "same shape as 'A'", "4 x 2"});
    require_error([&] { geomkit::orthogonal_procrustes(make_view<const double>(a.data(), 0, 3), make_view<const double>(b.data(), 0, 3)); },
                  {"'A'", "at least 1 row and 1 column", "0 x 3"});
    require_error([&] { geomkit::orthogonal_procrustes(make_view<const double>(nullptr, 2, 3), make_view<const double>(b.data(), 2, 3)); },
                  {"'A'", "null pointer"});
    require_error([&] { geomkit::orthogonal_procrustes(make_view<const double>(a.data(), -1, 3), make_view<const double>(b.data(), -1, 3)); },
                  {"'A'", "non-negative"});
    b[5] = NAN;
    require_error([&] { geomkit::procrustes_align(make_view<const double>(a.data(), 4, 3), make_view<const double>(b.data(), 4, 3)); },
                  {"geomkit::procrustes_align", "'B'", "finite", "[1, 2]"});
    b[5] = 1.0;
    a[0] = INFINITY;
    require_error([&] { geomkit::orthogonal_procrustes(make_view<const double>(a.data(), 4, 3), make_view<const double>(b.data(), 4, 3)); },
                  {"'A'", "finite", "inf"});
    a[0] = 1.0;
    auto batched = [&](index_t rows, index_t d, index_t n, index_t rrows, index_t rcols, double* sc) {
        geomkit::orthogonal_procrustes_batched(make_view<const double>(a.data(), rows, d), make_view<const double>(b.data(), rows, d), n,
                                               make_view(R.data(), rrows, rcols), sc);
    };
    require_error([&] { batched(64, 65, 16, 4 * 65, 65, s); }, {"orthogonal_procrustes_batched", "'A'", "between 1 and 64 columns", "64 x 65"});
    require_error([&] { batched(60, 8, 16, 32, 8, s); }, {"'A'", "multiple of n = 16", "60 x 8"});
    require_error([&] { batched(64, 8, 0, 32, 8, s); }, {"'n'", "at least 1", "got 0"});
    require_error([&] { batched(64, 8, 16, 31, 8, s); }, {"'R_out'", "(batch*d) x d = 32 x 8", "31 x 8"});
    require_error([&] { batched(64, 8, 16, 32, 8, nullptr); }, {"'scale_out'", "null pointer"});
    // Non-finite values are found through the problems' AᵀB: in any problem, A or B, at
    // d = 16 (the fixed-size kernel) and d = 5 (the generic one).
    for (index_t d : {16, 5}) {
        for (double bad : {double(NAN), double(INFINITY)}) {
            a[std::size_t(40 * d + 3)] = bad;
            require_error([&] { batched(64, d, 16, 4 * d, d, s); }, {"orthogonal_procrustes_batched", "'A'", "finite", "[40, 3]"});
            a[std::size_t(40 * d + 3)] = 1.0;
            b[std::size_t(63 * d + d - 1)] = bad;
            require_error([&] { batched(64, d, 16, 4 * d, d, s); }, {"orthogonal_procrustes_batched", "'B'", "finite"});
            b[std::size_t(63 * d + d - 1)] = 1.0;
        }
    }
}

namespace {

// Runs the batched call on `batch` stacked problems (row-major A, B) and returns R and scale.
struct batched_out {
    std::vector<double> R, s;
};
batched_out run_batched(const std::vector<double>& a, const std::vector<double>& b, index_t batch, index_t n, index_t d,
                        bool proper = false) {
    batched_out o{std::vector<double>(static_cast<std::size_t>(batch * d * d)), std::vector<double>(static_cast<std::size_t>(batch))};
    geomkit::orthogonal_procrustes_batched(make_view(a.data(), batch * n, d), make_view(b.data(), batch * n, d), n,
                                           make_view(o.R.data(), batch * d, d), o.s.data(), proper);
    return o;
}

}  // namespace

TEST_CASE("batched (in SIMD lanes) equals per-problem orthogonal_procrustes and an independent SVD", "[procrustes][batched]") {
    // Batch 13: one full group of 8 lanes and a padded one (4 and 2 lanes on narrower ISAs).
    // Problem 3 is a reflected copy (det R = −1), problem 5 rank-deficient (a zero column
    // in A), problem 6 near-singular (σ_min/σ_max ≈ 1e-9), problem 11 has one row.
    for (index_t d : {1, 2, 3, 7, 8, 9, 15, 16, 17, 32, 64}) {
        const index_t batch = 13, n = 2 * d + 3;
        mat A = gaussian(batch * n, d, 500 + std::uint64_t(d)), B = gaussian(batch * n, d, 600 + std::uint64_t(d));
        B.middleRows(3 * n, n) = A.middleRows(3 * n, n) * random_orthogonal(d, 9, true);
        if (d > 1) A.middleRows(5 * n, n).col(d - 1).setZero();
        {
            mat P = A.middleRows(6 * n, n);
            Eigen::JacobiSVD<mat> svd(P, Eigen::ComputeThinU | Eigen::ComputeThinV);
            Eigen::VectorXd sv = Eigen::VectorXd::LinSpaced(d, 1.0, 2.0);
            sv(d - 1) = 1e-9;
            A.middleRows(6 * n, n) = svd.matrixU() * sv.asDiagonal() * svd.matrixV().transpose();
        }
        A.middleRows(11 * n, n).bottomRows(n - 1).setZero();
        const auto a = to_row_major<double>(A), b = to_row_major<double>(B);
        const batched_out o = run_batched(a, b, batch, n, d), op = run_batched(a, b, batch, n, d, true);
        for (index_t p = 0; p < batch; ++p) {
            INFO("d = " << d << ", problem " << p);
            const mat Ap = A.middleRows(p * n, n), Bp = B.middleRows(p * n, n);
            const mat Rb = Eigen::Map<const geomkit::row_major_matrix>(o.R.data() + p * d * d, d, d);
            const mat Rpb = Eigen::Map<const geomkit::row_major_matrix>(op.R.data() + p * d * d, d, d);
            const double sb = o.s[std::size_t(p)], spb = op.s[std::size_t(p)];
            const auto single = geomkit::orthogonal_procrustes(make_view(a.data() + p * n * d, n, d),
                                                               make_view(b.data() + p * n * d, n, d));
            const reference ref = reference_procrustes(Ap, Bp);
            CHECK(max_abs_diff(Rb.transpose() * Rb, mat::Identity(d, d)) < 1e-12);
            CHECK(std::abs(sb - ref.scale) < 1e-12 * ref.scale);
            CHECK(std::abs(sb - single.scale) < 1e-12 * ref.scale);
            const bool unique = p != 5 && p != 11 && !(p == 6 && d > 1);  // R is not unique, or ill-conditioned
            if (unique) {
                CHECK(max_abs_diff(Rb, ref.R) < 1e-10);
                CHECK(max_abs_diff(Rb, single.R) < 1e-10);
            } else if (p == 6) {
                // σ_min = 1e-9 of a spread-1 matrix: R is determined to about ε·κ.
                CHECK(max_abs_diff(Rb, ref.R) < 1e-5);
            }
            if (p == 3) CHECK(Rb.determinant() == Approx(-1.0).margin(1e-10));
            // The proper variant: det +1, and U·diag(1, …, −1)·Vᵀ with Σσ − 2σ_min where flipped.
            CHECK(Rpb.determinant() == Approx(1.0).margin(1e-10));
            CHECK(max_abs_diff(Rpb.transpose() * Rpb, mat::Identity(d, d)) < 1e-12);
            if (unique) {
                const mat M = Ap.transpose() * Bp;
                Eigen::JacobiSVD<mat> svd(M, Eigen::ComputeFullU | Eigen::ComputeFullV);
                mat U = svd.matrixU();
                double scale = svd.singularValues().sum();
                if ((U * svd.matrixV().transpose()).determinant() < 0) {
                    U.col(d - 1) = -U.col(d - 1);
                    scale -= 2 * svd.singularValues()(d - 1);
                }
                CHECK(max_abs_diff(Rpb, U * svd.matrixV().transpose()) < 1e-9);
                CHECK(spb == Approx(scale).epsilon(1e-12));
            }
        }
    }
}

TEST_CASE("batched results do not depend on the thread count or the batch size", "[procrustes][batched]") {
    for (index_t d : {3, 16, 17}) {
        const index_t batch = 203, n = 24;  // 203 = 3 chunks of 64 + 11: partial chunk and group
        const auto a = to_row_major<double>(gaussian(batch * n, d, 700)), b = to_row_major<double>(gaussian(batch * n, d, 701));
        geomkit::set_num_threads(1);
        const batched_out o1 = run_batched(a, b, batch, n, d);
        geomkit::set_num_threads(2);
        const batched_out o2 = run_batched(a, b, batch, n, d);
        geomkit::set_num_threads(3);
        const batched_out o3 = run_batched(a, b, batch, n, d);
        geomkit::set_num_threads(0);
        CHECK(o1.R == o2.R);
        CHECK(o1.s == o2.s);
        CHECK(o1.R == o3.R);
        CHECK(o1.s == o3.s);
        // A problem's answer does not depend on its neighbours in the SIMD group: the last
        // 5 problems solved alone (other lane positions, other padding) give the same bits.
        const index_t first = batch - 5;
        const std::vector<double> a5(a.begin() + first * n * d, a.end()), b5(b.begin() + first * n * d, b.end());
        const batched_out o5 = run_batched(a5, b5, 5, n, d);
        CHECK(std::equal(o5.R.begin(), o5.R.end(), o1.R.begin() + first * d * d));
        CHECK(std::equal(o5.s.begin(), o5.s.end(), o1.s.begin() + first));
    }
}

TEST_CASE("the SIMD-lane polar kernel matches its scalar instantiation", "[procrustes][batched]") {
    using geomkit::detail::polar_lanes;
    using geomkit::detail::polar_lanes_ops;
    using L = geomkit::detail::lane_ops<polar_lanes>;
    constexpr int W = L::width;
    for (int d : {2, 5, 16}) {
        const std::size_t dd = std::size_t(d * d);
        std::vector<mat> Ms;
        for (int l = 0; l < W; ++l) Ms.push_back(gaussian(d, d, 800 + std::uint64_t(l)));
        // lanes: element (i, j) of lane l at [(j·d + i)·W + l]
        auto storage = [&](int w) { return std::vector<double>(dd * std::size_t(w) + 64); };
        auto aligned = [](std::vector<double>& v) {
            double* p = v.data();
            return p + (64 - reinterpret_cast<std::uintptr_t>(p) % 64) % 64 / sizeof(double);
        };
        std::vector<double> xs = storage(W), cs = storage(W), rs = storage(W), r2s = storage(W), rinvs(std::size_t(d * W) + 64);
        double* x = aligned(xs);
        for (int l = 0; l < W; ++l)
            for (int i = 0; i < d; ++i)
                for (int j = 0; j < d; ++j) x[std::size_t((j * d + i) * W + l)] = Ms[std::size_t(l)](i, j);
        L::mask done;
        polar_lanes_ops<polar_lanes, 0>::run(x, aligned(cs), aligned(rs), aligned(r2s), aligned(rinvs), d,
                                             L::load(std::vector<double>(W, 1.0).data()) == polar_lanes(1.0), done);
        bool conv[W];
        L::store_mask(conv, done);
        for (int l = 0; l < W; ++l) {
            INFO("d = " << d << ", lane " << l);
            std::vector<double> x1(dd), c1(dd), r1(dd), r21(dd), ri1(static_cast<std::size_t>(d));
            for (int i = 0; i < d; ++i)
                for (int j = 0; j < d; ++j) x1[std::size_t(j * d + i)] = Ms[std::size_t(l)](i, j);
            bool conv1 = false;
            polar_lanes_ops<double, 0>::run(x1.data(), c1.data(), r1.data(), r21.data(), ri1.data(), d, true, conv1);
            CHECK(conv[l]);
            CHECK(conv1);
            double worst = 0;
            for (std::size_t e = 0; e < dd; ++e) worst = std::max(worst, std::abs(x1[e] - x[e * W + std::size_t(l)]));
            CHECK(worst < 1e-13);
            const reference ref = reference_procrustes(mat::Identity(d, d), Ms[std::size_t(l)]);
            mat R1(d, d);
            for (int i = 0; i < d; ++i)
                for (int j = 0; j < d; ++j) R1(i, j) = x1[std::size_t(j * d + i)];
            CHECK(max_abs_diff(R1, ref.R) < 1e-12);
        }
    }
}

// issue 28: AᵀB, means and norms of data near the ends of the double range.
TEST_CASE("a cross product far below the data's magnitudes is solved scaled", "[procrustes][magnitude]") {
    // Long run of fuzz_procrustes: A and B each of unit magnitude whose rows pair large with
    // tiny values give AᵀB = 2e-300; the polar iteration squared it to 0 and R was NaN.
    const std::vector<double> A = {1.0, 1e-300}, B = {1e-300, 1.0};
    const auto r = geomkit::orthogonal_procrustes(make_view(A.data(), 2, 1), make_view(B.data(), 2, 1));
    REQUIRE(r.R.rows() == 1);
    CHECK(r.R(0, 0) == 1.0);
    CHECK(r.scale == Approx(2e-300).epsilon(1e-12));
    // the same with d = 2: AᵀB = 1e-300·[[2, 0], [0, -3]], R = diag(1, -1), scale = 5e-300
    const std::vector<double> A2 = {1.0, 0.0, 1e-300, 0.0, 0.0, 1.0}, B2 = {1e-300, 0.0, 1.0, 0.0, 0.0, -3e-300};
    const auto r2 = geomkit::orthogonal_procrustes(make_view(A2.data(), 3, 2), make_view(B2.data(), 3, 2));
    CHECK(std::fabs(r2.R(0, 0) - 1.0) < 1e-12);
    CHECK(std::fabs(r2.R(1, 1) + 1.0) < 1e-12);
    CHECK(std::fabs(r2.R(0, 1)) < 1e-12);
    CHECK(r2.scale == Approx(5e-300).epsilon(1e-12));
}

TEST_CASE("extreme magnitudes give the R of the unit-scale data and a scaled-back scale", "[procrustes][magnitude]") {
    const index_t n = 12, d = 5;
    const mat A = gaussian(n, d, 401);
    const mat B = A * random_orthogonal(d, 402) + 0.1 * gaussian(n, d, 403);
    const auto Ar = to_row_major<double>(A), Br = to_row_major<double>(B);
    const auto ref = geomkit::orthogonal_procrustes(make_view(Ar.data(), n, d),
                                                    make_view(Br.data(), n, d));
    const auto ref_align = geomkit::procrustes_align(make_view(Ar.data(), n, d),
                                                     make_view(Br.data(), n, d));
    for (const auto& sc : std::vector<std::pair<double, double>>{{1e300, 1e300}, {1e-300, 1e-300}, {1e300, 1e-300},
                                                                {1e-310, 1.0}, {1e200, 1e100},
                                                                // each inside [2^-400, 2^400], their product not
                                                                // (long run of fuzz_procrustes: non-finite R)
                                                                {1e80, 1e100}, {1e-120, 1e-121}}) {
        INFO("scales " << sc.first << ", " << sc.second);
        const auto As = to_row_major<double>(A * sc.first), Bs = to_row_major<double>(B * sc.second);
        const auto r = geomkit::orthogonal_procrustes(make_view(As.data(), n, d), make_view(Bs.data(), n, d));
        CHECK(max_abs_diff(r.R, ref.R) < 1e-10);
        const long double expected = (long double)ref.scale * sc.first * sc.second;
        if (expected > 1e308L) CHECK(std::isinf(r.scale));
        else if (expected > 1e-290L) CHECK(r.scale == Approx(double(expected)).epsilon(1e-10));
        // batched, a unit-scale problem beside the scaled one
        mat A2(2 * n, d), B2(2 * n, d);
        A2 << A * sc.first, A;
        B2 << B * sc.second, B;
        const auto A2r = to_row_major<double>(A2), B2r = to_row_major<double>(B2);
        std::vector<double> R(2 * d * d), s(2);
        geomkit::orthogonal_procrustes_batched(make_view(A2r.data(), 2 * n, d), make_view(B2r.data(), 2 * n, d), n,
                                               make_view(R.data(), 2 * d, d), s.data());
        for (int b = 0; b < 2; ++b)
            for (index_t i = 0; i < d * d; ++i) CHECK(std::fabs(R[b * d * d + i] - ref.R.data()[i]) < 1e-10);
        CHECK(s[1] == Approx(ref.scale).epsilon(1e-12));
        if (sc.first == sc.second) {
            const auto al = geomkit::procrustes_align(make_view(As.data(), n, d), make_view(Bs.data(), n, d));
            CHECK(max_abs_diff(al.R, ref_align.R) < 1e-9);
            CHECK(std::isfinite(al.mean_cosine));
            CHECK(al.relative_residual == Approx(ref_align.relative_residual).epsilon(1e-8));
            if (sc.first > 1) CHECK(al.mean_cosine == Approx(ref_align.mean_cosine).epsilon(1e-7));  // + 1e-8 no longer counts
            for (index_t i = 0; i < n; ++i)
                for (index_t j = 0; j < d; ++j)
                    CHECK(al.aligned(i, j) / sc.first == Approx(ref_align.aligned(i, j)).epsilon(1e-9).margin(1e-9));
        }
    }
}
