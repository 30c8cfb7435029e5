// Spectrum: participation ratio against explicit eigendecompositions (covariance formed in
// long double), closed forms, float32 clustered data against float64, the variance
// profile, the singular-value battery against JacobiSVD, the QK manifold, thread-count
// independence and every error path.
#include <geomkit/spectrum.hpp>

#include <Eigen/Dense>
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "testing.hpp"

using geomkit::index_t;
using geomkit::make_view;
using geomkit_test::require_error;

namespace {

using mat = Eigen::MatrixXd;
using ld_mat = Eigen::Matrix<long double, Eigen::Dynamic, Eigen::Dynamic>;

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

mat gaussian(index_t n, index_t d, std::uint64_t seed, double sd = 1.0) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<double> nd(0.0, sd);
    mat x(n, d);
    for (index_t i = 0; i < x.size(); ++i) x.data()[i] = nd(gen);
    return x;
}

// Clustered, far-from-origin points, the hard case for float: offset 30, 6 clusters of
// spread 1, within-cluster noise 1e-2.
mat clustered(index_t n, index_t d, std::uint64_t seed) {
    const mat centres = gaussian(6, d, seed + 1);
    mat x = 0.01 * gaussian(n, d, seed);
    for (index_t i = 0; i < n; ++i) x.row(i) += centres.row(i % 6) + Eigen::RowVectorXd::Constant(d, 30.0);
    return x;
}

// The float PR of f (n × d, row-major) within 1e-6 of the PR of the same values in
// double, centred and uncentred.
void check_float_pr(const std::vector<float>& f, index_t n, index_t d) {
    const std::vector<double> f64(f.begin(), f.end());
    for (bool centered : {true, false}) {
        INFO("centered " << centered);
        const double pf = geomkit::participation_ratio(geomkit::make_view<const float>(f.data(), n, d), centered);
        const double pd = geomkit::participation_ratio(geomkit::make_view(f64.data(), n, d), centered);
        CHECK(std::abs(pf - pd) <= 1e-6 * pd);
    }
}

// Eigenvalues (descending) of C = XcᵀXc / n with the covariance formed in long double.
// (X − mean)ᵀ(X − mean) in long double (mean omitted unless centred), both triangles: a
// symmetric rank update, half the work of the full product (the references dominate this
// file's time, 25x more under the sanitizers).
ld_mat long_double_gram(const mat& X, bool centered = true) {
    ld_mat x = X.cast<long double>();
    if (centered) x.rowwise() -= x.colwise().mean();
    ld_mat c = ld_mat::Zero(x.cols(), x.cols());
    c.selfadjointView<Eigen::Lower>().rankUpdate(x.transpose());
    c.triangularView<Eigen::StrictlyUpper>() = c.transpose();
    return c;
}

// Eigenvalues, descending, of the covariance G/n of a long-double Gram G of n rows.
std::vector<double> reference_eigenvalues_of(const ld_mat& G, index_t n) {
    const ld_mat c = G / (long double)(n);
    Eigen::SelfAdjointEigenSolver<mat> es(c.cast<double>(), Eigen::EigenvaluesOnly);
    std::vector<double> ev(std::size_t(c.rows()));
    for (index_t i = 0; i < c.rows(); ++i) ev[std::size_t(i)] = es.eigenvalues()(c.rows() - 1 - i);
    return ev;
}

std::vector<double> reference_eigenvalues(const mat& X, bool centered = true) {
    return reference_eigenvalues_of(long_double_gram(X, centered), X.rows());
}

// PR from tr and ‖·‖_F of the long-double covariance (independent of any eigen solver).
double reference_pr_of(const ld_mat& G) { return double(G.trace() * G.trace() / G.squaredNorm()); }

double reference_pr(const mat& X, bool centered = true) { return reference_pr_of(long_double_gram(X, centered)); }

std::vector<double> reference_singular_values(const mat& W) {
    Eigen::JacobiSVD<mat> svd(W);
    const auto& s = svd.singularValues();
    return std::vector<double>(s.data(), s.data() + s.size());
}

}  // namespace

TEMPLATE_TEST_CASE("participation ratio equals (Σλ)²/Σλ² of an explicit eigendecomposition", "[spectrum][pr]", float, double) {
    const double tol = std::is_same<TestType, float>::value ? 1e-6 : 1e-12;
    for (auto shape : {std::pair<index_t, index_t>{500, 40}, {30, 90}, {700, 700}, {1200, 300}}) {
        const index_t n = shape.first, d = shape.second;
        mat X = gaussian(n, d, 5);
        X = X * gaussian(d, d, 6);  // anisotropic
        const auto v = row_major<TestType>(X);
        const mat Xr = widened(v, n, d);
        for (bool centered : {true, false}) {
            const ld_mat G = long_double_gram(Xr, centered);
            const auto ev = reference_eigenvalues_of(G, n);
            double s = 0, s2 = 0;
            for (double l : ev) s += l, s2 += l * l;
            const auto r = geomkit::participation(make_view(v.data(), n, d), centered);
            INFO(n << " x " << d << " centered " << centered);
            CHECK(r.pr == Approx(s * s / s2).epsilon(std::max(tol, 1e-10)));
            CHECK(r.pr == Approx(reference_pr_of(G)).epsilon(tol));
            CHECK(r.pr_over_dim == Approx(r.pr / double(d)).epsilon(1e-15));
            CHECK(r.total_variance == Approx(s).epsilon(std::max(tol, 1e-9)));
            CHECK(geomkit::participation_ratio(make_view(v.data(), n, d), centered) == r.pr);
        }
    }
}

TEMPLATE_TEST_CASE("closed forms: isotropic Gaussian, rank 1, one row, one column", "[spectrum][pr]", float, double) {
    const index_t n = 40000, d = 16;
    const auto iso = row_major<TestType>(gaussian(n, d, 9));
    // For white noise E[PR] ≈ d / (1 + d/n).
    CHECK(geomkit::participation_ratio(make_view(iso.data(), n, d)) == Approx(double(d)).epsilon(0.01));
    // Rank 1: rows are multiples of one direction (plus an offset, removed by centring).
    mat r1(200, 12);
    const mat u = gaussian(1, 12, 10), t = gaussian(200, 1, 11);
    for (index_t i = 0; i < 200; ++i) r1.row(i) = 3.0 + t(i) * u.row(0).array();
    const auto v1 = row_major<TestType>(r1);
    CHECK(geomkit::participation_ratio(make_view(v1.data(), 200, 12)) == Approx(1.0).epsilon(1e-6));
    // One row: centred it is all zeros (PR 0); uncentred it is rank 1.
    CHECK(geomkit::participation_ratio(make_view(v1.data(), 1, 12)) == 0.0);
    CHECK(geomkit::participation_ratio(make_view(v1.data(), 1, 12), false) == Approx(1.0).epsilon(1e-12));
    // One column: a single eigenvalue.
    CHECK(geomkit::participation_ratio(make_view(v1.data(), 200, 1, 12)) == Approx(1.0).epsilon(1e-12));
}

TEST_CASE("float32 clustered, offset data: PR within 1e-6 of the float64 value", "[spectrum][pr][precision]") {
    for (auto shape : {std::pair<index_t, index_t>{6000, 256}, {2500, 700}, {300, 1000}}) {
        const index_t n = shape.first, d = shape.second;
        const auto f = row_major<float>(clustered(n, d, 77));
        const std::vector<double> dbl(f.begin(), f.end());  // the same values in float64
        const double pf = geomkit::participation_ratio(make_view(f.data(), n, d));
        const double pd = geomkit::participation_ratio(make_view(dbl.data(), n, d));
        INFO(n << " x " << d << ": float " << pf << " double " << pd);
        CHECK(std::abs(pf - pd) <= 1e-6 * pd);
        CHECK(pd == Approx(reference_pr(widened(f, n, d))).epsilon(1e-11));
    }
}

#if GEOMKIT_HAS_SIMD
// The float Gram kernel entry by entry against the long-double Gram of the same float
// values, over widths and depths around its sliver (mr), block (kc = 256), tile and chunk
// sizes, in both layouts (d × d over rows, n × n over columns), centred and not, and on
// both schedules: lanes up to a width of 640 (2900 rows: more blocks than lanes, in an
// uneven deal) and chunks above it.
TEST_CASE("float Gram kernel: every entry against a long-double Gram", "[spectrum][pr][kernel]") {
    using shape = geomkit::detail::float_syrk_shape<geomkit::simd::default_arch>;
    INFO("arch " << geomkit::simd::arch_name() << ", micro-tile " << shape::mr << " x " << shape::nr);
    const index_t mr = shape::mr;
    const std::vector<std::pair<index_t, index_t>> shapes = {
        {1, 1},        {257, 1},           {300, mr - 1},      {255, mr},          {256, mr + 1},
        {513, 3 * mr + 5}, {1100, 8 * mr + 3}, {1300, 24 * mr + 1}, {5, 40},           {mr + 1, 600},
        {3 * mr, 1030},  {2900, 2 * mr + 7}, {700, 650}};
    using gram = geomkit::detail::float_gram<>;
    CHECK(gram::lane_count(2 * mr + 7, 2900) > 1);  // the lanes schedule, several lanes
    CHECK(gram::lane_count(650, 700) == 0);         // the chunked schedule
    for (const auto& sh : shapes)
        for (bool centered : {true, false}) {
            const index_t n = sh.first, d = sh.second;
            const auto v = row_major<float>(clustered(n, d, std::uint64_t(n * 7 + d)));
            const mat X = widened(v, n, d);
            ld_mat x = X.cast<long double>();
            if (centered) x.rowwise() -= x.colwise().mean();
            const bool by_rows = n >= d;
            const ld_mat ref = by_rows ? ld_mat(x.transpose() * x) : ld_mat(x * x.transpose());
            const geomkit::detail::float_gram<> G(make_view(v.data(), n, d), centered,
                                                  by_rows ? geomkit::detail::gram_depth::rows
                                                          : geomkit::detail::gram_depth::cols);
            const mat g = geomkit::detail::to_matrix(G);
            INFO(n << " x " << d << " centered " << centered << ", lanes "
                   << gram::lane_count(g.rows(), by_rows ? n : d));
            REQUIRE(g.rows() == ref.rows());
            double worst = 0;
            index_t unwritten = 0;  // to_matrix leaves NaN where no tile wrote
            for (index_t j = 0; j < g.cols(); ++j)
                for (index_t i = 0; i < g.rows(); ++i) {
                    const double norm = std::sqrt(double(ref(i, i) * ref(j, j)));
                    const double err = std::abs(g(i, j) - double(ref(i, j)));
                    worst = std::max(worst, norm > 0 ? err / norm : err);
                    unwritten += std::isnan(g(i, j));
                }
            CHECK(unwritten == 0);
            CHECK(worst < 1e-6);  // float products over ≤ 256 terms; the values carry ~1e-7 rounding
        }
}
#endif

TEST_CASE("scratch buffers of 1 MiB and more are kept for the next of the same size", "[spectrum][pr][scratch]") {
    using geomkit::detail::scratch;
    using geomkit::detail::scratch_cache;
    REQUIRE(scratch_cache::clear());
    REQUIRE(scratch_cache::kept_bytes() == 0);
    constexpr std::size_t MiB = std::size_t(1) << 20;
    const std::size_t n = 3 * MiB / sizeof(double) + 5;  // rounded up to 4 MiB
    const double* first = nullptr;
    {
        scratch<double> a(n);
        first = a.data();
    }
    CHECK(scratch_cache::kept_bytes() == 4 * MiB);
    {
        scratch<double> b(n);
        CHECK(b.data() == first);
        CHECK(scratch_cache::kept_bytes() == 0);
        scratch<double> c(n);  // nothing kept is left: new memory
        CHECK(c.data() != first);
    }
    CHECK(scratch_cache::kept_bytes() == 8 * MiB);
    REQUIRE(scratch_cache::clear());
    {
        // Freed at once, in order: the one under 1 MiB first, while slots are free, and it
        // is not kept; then `slots` of the 1 MiB ones are, and the last is not.
        std::vector<scratch<float>> many;
        many.emplace_back(MiB / sizeof(float) - 1024);
        for (int i = 0; i <= scratch_cache::slots; ++i) many.emplace_back(MiB / sizeof(float));
        many.clear();
        CHECK(scratch_cache::kept_bytes() == std::size_t(scratch_cache::slots) * MiB);
    }
    REQUIRE(scratch_cache::clear());
    {
        scratch<char> huge(scratch_cache::max_bytes + 1);  // over the limit: freed
    }
    CHECK(scratch_cache::kept_bytes() == 0);
}

TEST_CASE("float PR at any magnitude: no overflow or underflow in the float products", "[spectrum][pr][precision]") {
    const index_t n = 900, d = 70;
    const mat X = clustered(n, d, 12);
    const auto v = row_major<float>(X);
    for (bool centered : {true, false}) {
        const double base = geomkit::participation_ratio(make_view(v.data(), n, d), centered);
        CHECK(base == Approx(reference_pr(widened(v, n, d), centered)).epsilon(1e-6));
        // Power-of-two factors scale every float exactly, and the kernel's own scale undoes
        // them exactly: the same PR to the bit, where plain float products would overflow
        // (2^100 squared) or flush to zero (2^-100 squared).
        for (int e : {100, -100, 60, -120}) {
            std::vector<float> w(v.size());
            for (std::size_t i = 0; i < v.size(); ++i) w[i] = std::ldexp(v[i], e);
            INFO("scaled by 2^" << e << " centered " << centered);
            CHECK(geomkit::participation_ratio(make_view<const float>(w.data(), n, d), centered) == base);
        }
        // A non-power-of-two huge factor: within 1e-6 of float64 on the same float values.
        std::vector<float> big(v.size());
        for (std::size_t i = 0; i < v.size(); ++i) big[i] = float(double(v[i]) * 3.7e34);
        const std::vector<double> big64(big.begin(), big.end());
        CHECK(geomkit::participation_ratio(make_view<const float>(big.data(), n, d), centered) ==
              Approx(geomkit::participation_ratio(make_view(big64.data(), n, d), centered)).epsilon(1e-6));
        // Subnormal floats (the long fuzz run's finding: the block scale 2^149 was inf as a
        // float, so PR and total_variance came out NaN): within 1e-6 of float64 on the same
        // float values, whose own precision is down to a few bits.
        for (int e : {-130, -140}) {
            std::vector<float> tiny(v.size());
            for (std::size_t i = 0; i < v.size(); ++i) tiny[i] = std::ldexp(v[i], e);
            const std::vector<double> tiny64(tiny.begin(), tiny.end());
            INFO("subnormal 2^" << e << " centered " << centered);
            const auto got = geomkit::participation(make_view<const float>(tiny.data(), n, d), centered);
            const auto want = geomkit::participation(make_view(tiny64.data(), n, d), centered);
            CHECK(got.pr == Approx(want.pr).epsilon(1e-6));
            CHECK(got.total_variance == Approx(want.total_variance).epsilon(1e-6));
        }
    }
    // The fuzz run's reproducer: a 2 x 4 block of the smallest subnormal float, uncentred.
    const std::vector<float> least(8, 1.4e-45f);
    const auto r = geomkit::participation(make_view<const float>(least.data(), 2, 4), false);
    CHECK(r.pr == Approx(1.0).epsilon(1e-12));
    CHECK(r.total_variance == Approx(4.0 * double(1.4e-45f) * double(1.4e-45f)).epsilon(1e-12));
}

TEST_CASE("float PR on outliers, a huge row and sorted halves", "[spectrum][pr][precision]") {
    // The float kernel centres and scales each 256-row block on its own and adds the
    // blocks' scatter back in double: data whose blocks differ wildly must still match
    // float64 on the same floats.
    const index_t n = 5000, d = 48, step = (n + 1023) / 1024;
    auto check = [&](const std::vector<float>& f, const char* what) {
        INFO(what);
        check_float_pr(f, n, d);
    };
    const auto base = row_major<float>(clustered(n, d, 21));
    std::vector<float> f = base;
    for (index_t i = 0; i < n; i += step)  // every step-th row far out
        for (index_t j = 0; j < d; ++j) f[std::size_t(i * d + j)] += 400.0f;
    check(f, "sampled rows offset by 400");
    f = base;
    for (index_t j = 0; j < d; ++j) f[std::size_t((step + 1) * d + j)] *= 1e25f;  // one row dwarfs the rest
    check(f, "one row scaled by 1e25");
    // A few large rows in one block pull its mean out of the bulk. Centred on that mean,
    // the bulk's rows all carry nearly the same y and their float products round alike,
    // row after row; centred on the bulk but summed in the data's order, the bulk's small
    // products are dropped once a large row is in the sums (that kernel fails the 300s).
    for (const float factor : {300.0f, 1e5f}) {
        f = base;
        for (index_t r = 0; r < 3; ++r)
            for (index_t j = 0; j < d; ++j) f[std::size_t((260 + 7 * r) * d + j)] *= factor;
        check(f, factor < 1e3f ? "three rows of one block scaled by 300" : "three rows of one block scaled by 1e5");
    }
    f = base;
    for (index_t j = 0; j < d; ++j) f[std::size_t(300 * d + j)] *= 300.0f;
    check(f, "one row scaled by 300");
    // In rows 256-511, column 0 has a large entry (its block centre moves to a median)
    // and column 1 a larger one, with four of the seven sampled rows far out on both
    // sides so that its mean stays the centre. The row holding column 1's large entry
    // sits at column 0's median, so an order measured on column 0 alone would sum it
    // first; it must still come after column 1's bulk.
    f = base;
    f[std::size_t(300 * d)] *= 300.0f;
    for (const index_t r : {256 + 18, 256 + 54}) f[std::size_t(r * d + 1)] -= 500.0f;
    for (const index_t r : {256 + 201, 256 + 237}) f[std::size_t(r * d + 1)] += 500.0f;
    std::vector<float> sampled;
    for (index_t i = 0; i < 7; ++i) sampled.push_back(f[std::size_t((256 + (2 * i + 1) * 256 / 14) * d)]);
    std::sort(sampled.begin(), sampled.end());
    f[std::size_t((256 + 100) * d)] = sampled[3];
    f[std::size_t((256 + 100) * d + 1)] *= 1000.0f;
    check(f, "a huge entry in column 0, a large one in column 1, both in rows 256-511");
    f = base;
    for (index_t i = n / 2; i < n; ++i)  // two halves far apart: blocks' means differ
        for (index_t j = 0; j < d; ++j) f[std::size_t(i * d + j)] -= 1000.0f;
    check(f, "halves 1000 apart");
}

TEST_CASE("float PR on heavy-tailed data: log-normal columns", "[spectrum][pr][precision]") {
    // exp(3z): each block's mean sits far above its median, pulled by a few rows (the
    // kernel that centred every block on its mean failed four of the six 20000 × 64
    // checks). 1500 × 650 takes the chunked schedule.
    for (const auto& shape : {std::pair<index_t, index_t>{20000, 64}, {1500, 650}}) {
        const index_t n = shape.first, d = shape.second;
        for (std::uint64_t seed : {1, 2, 3}) {
            const mat z = gaussian(n, d, seed, 3.0);
            INFO(n << " x " << d << ", seed " << seed);
            check_float_pr(row_major<float>(z.array().exp().matrix()), n, d);
        }
    }
}

TEST_CASE("float PR with one huge column anywhere: every column sets its block's scale", "[spectrum][pr][precision]") {
    // The float kernel scans each block's columns a SIMD vector at a time, then the last
    // few one by one, for their sums and largest |x|, which sets the block's power-of-two
    // scale. A column the scan missed would leave the scale ~2^120 too large for it: its
    // float products would overflow. The huge column goes to the first, inner and last
    // vectors and to the one-by-one tail, over rows (600 × 83, a d × d Gram) and over
    // columns (20 × 300, n × n, blocks of 256 and 44 columns).
    for (const auto& shape : {std::pair<index_t, index_t>{600, 83}, {20, 300}}) {
        const index_t n = shape.first, d = shape.second;
        const auto base = row_major<float>(gaussian(n, d, std::uint64_t(n + d)));
        for (index_t j : {index_t(0), index_t(37), index_t(63), index_t(64), index_t(79), index_t(80), d - 1,
                          index_t(255), index_t(256 + 33)}) {
            if (j >= d) continue;
            std::vector<float> f = base;
            for (index_t i = 0; i < n; ++i) f[std::size_t(i * d + j)] *= 1e36f;
            INFO(n << " x " << d << ", huge column " << j);
            check_float_pr(f, n, d);
        }
    }
}

TEMPLATE_TEST_CASE("PR is bitwise the same at 1, 2 and 9 threads, strided views included", "[spectrum][pr][threads]", float, double) {
    const index_t n = 3000, d = 600, stride = 610;
    const mat X = clustered(n, stride, 3);
    const auto v = row_major<TestType>(X);
    const auto view = make_view(v.data(), n, d, stride);
    geomkit::set_num_threads(1);
    const double p1 = geomkit::participation_ratio(view), q1 = geomkit::participation_ratio(make_view(v.data(), 200, d, stride));
    geomkit::set_num_threads(2);
    const double p2 = geomkit::participation_ratio(view), q2 = geomkit::participation_ratio(make_view(v.data(), 200, d, stride));
    // More threads than the float Gram has lanes, on machines of up to 4 cores (the lane
    // count is min(blocks, clamp(2 × cores, 4, 32)); 12 blocks here): blocks of one lane
    // then queue for it (a run that let them overlap would lose updates; three tries, as
    // it is a race). With more cores it checks thread-count independence only.
    geomkit::set_num_threads(9);
    int differing = 0;
    for (int attempt = 0; attempt < 3; ++attempt)
        differing += geomkit::participation_ratio(view) != p1 ||
                     geomkit::participation_ratio(make_view(v.data(), 200, d, stride)) != q1;
    geomkit::set_num_threads(0);
    CHECK(p1 == p2);
    CHECK(q1 == q2);
    CHECK(differing == 0);
    CHECK(p1 == Approx(reference_pr(X.leftCols(d))).epsilon(1e-6));
}

TEMPLATE_TEST_CASE("eigenspectrum: eigenvalues and the 80/90/95/99 % profile", "[spectrum][profile]", float, double) {
    for (auto shape : {std::pair<index_t, index_t>{400, 50}, {40, 120}}) {
        const index_t n = shape.first, d = shape.second;
        mat X = gaussian(n, d, 12);
        for (index_t j = 0; j < d; ++j) X.col(j) *= std::pow(0.9, double(j));
        const auto v = row_major<TestType>(X);
        const auto ref = reference_eigenvalues(widened(v, n, d));
        const auto r = geomkit::eigenspectrum(make_view(v.data(), n, d));
        REQUIRE(r.eigenvalues.size() == std::size_t(std::min(n, d)));
        double total = 0;
        for (double l : ref) total += l;
        for (std::size_t i = 0; i < r.eigenvalues.size(); ++i)
            CHECK(r.eigenvalues[i] == Approx(ref[i]).margin(1e-12 * ref[0]));
        CHECK(r.total_variance == Approx(total).epsilon(1e-12));
        const double thresholds[] = {0.80, 0.90, 0.95, 0.99};
        const index_t got[] = {r.dims_80, r.dims_90, r.dims_95, r.dims_99};
        for (int k = 0; k < 4; ++k) {
            double run = 0;
            index_t want = 0;
            while (run / total < thresholds[k]) run += ref[std::size_t(want++)];
            CHECK(got[k] == want);
        }
        CHECK(r.pr == Approx(geomkit::participation_ratio(make_view(v.data(), n, d))).epsilon(std::is_same<TestType, float>::value ? 1e-6 : 1e-9));
    }
}

TEMPLATE_TEST_CASE("spectrum_stats matches the notebook battery on JacobiSVD values", "[spectrum][stats]", float, double) {
    for (auto shape : {std::pair<index_t, index_t>{64, 64}, {150, 40}, {30, 90}}) {
        const index_t m = shape.first, n = shape.second;
        const auto v = row_major<TestType>(gaussian(m, n, 21) * 0.1);
        const mat W = widened(v, m, n);
        const auto S = reference_singular_values(W);
        double sum = 0, sq = 0;
        for (double s : S) sum += s, sq += s * s;
        index_t active = 0, rank90 = 0;
        double run = 0;
        for (std::size_t i = 0; i < S.size(); ++i) {
            active += S[i] > 0.01 * S[0];
            run += S[i];
            if (rank90 == 0 && run / sum >= 0.90) rank90 = index_t(i) + 1;
        }
        for (auto method : {geomkit::singular_value_method::automatic, geomkit::singular_value_method::gram,
                            geomkit::singular_value_method::svd}) {
            const auto r = geomkit::spectrum_stats(make_view(v.data(), m, n), method);
            INFO(m << " x " << n << " method " << int(method));
            CHECK(r.stable_rank == Approx(sq / (S[0] * S[0])).epsilon(1e-10));
            CHECK(r.pr == Approx(sum * sum / sq).epsilon(1e-10));
            CHECK(r.active_frac == double(active) / double(S.size()));
            CHECK(r.rank_90 == rank90);
            CHECK(r.max_sv == Approx(S.front()).epsilon(1e-10));
            CHECK(r.min_sv == Approx(S.back()).epsilon(1e-8));
            CHECK(r.condition == Approx(S.front() / (S.back() + 1e-10)).epsilon(1e-8));
        }
    }
}

TEST_CASE("spectrum_stats closed forms and rank-deficient matrices", "[spectrum][stats]") {
    // An orthogonal matrix: all S = 1, stable rank = PR = d, condition ≈ 1.
    const index_t d = 48;
    const mat Q = Eigen::HouseholderQR<mat>(gaussian(d, d, 31)).householderQ();
    const auto q = row_major<double>(Q);
    const auto r = geomkit::spectrum_stats(make_view(q.data(), d, d));
    CHECK(r.stable_rank == Approx(double(d)).epsilon(1e-12));
    CHECK(r.pr == Approx(double(d)).epsilon(1e-12));
    CHECK(r.active_frac == 1.0);
    CHECK(r.rank_90 == index_t(std::ceil(0.9 * d - 1e-9)));
    CHECK(r.condition == Approx(1.0).epsilon(1e-9));
    // Rank 3 of 40 (nearly square): automatic takes the svd route, so S_min is ~1e-16·S₀, not ~1e-8·S₀.
    const mat L = gaussian(60, 3, 32) * gaussian(3, 40, 33);
    const auto l = row_major<double>(L);
    const auto ref = reference_singular_values(L);
    const auto a = geomkit::singular_values(make_view(l.data(), 60, 40));
    const auto g = geomkit::singular_values(make_view(l.data(), 60, 40), geomkit::singular_value_method::gram);
    CHECK(a.back() < 1e-12 * a.front());
    CHECK(std::abs(a.back() - ref.back()) < 1e-13 * ref.front());
    CHECK(g.back() < 1e-6 * g.front());  // the Gram route's documented floor (sqrt of ε·S₀²)
    for (std::size_t i = 0; i < 3; ++i) CHECK(a[i] == Approx(ref[i]).epsilon(1e-12));
    const auto st = geomkit::spectrum_stats(make_view(l.data(), 60, 40));
    CHECK(st.active_frac == 3.0 / 40.0);
    CHECK(st.stable_rank == Approx((ref[0] * ref[0] + ref[1] * ref[1] + ref[2] * ref[2]) / (ref[0] * ref[0])).epsilon(1e-12));
    // A single row or column: one singular value, its norm.
    const auto one = geomkit::spectrum_stats(make_view(l.data(), 1, 40));
    CHECK(one.max_sv == Approx(L.row(0).norm()).epsilon(1e-14));
    CHECK(one.stable_rank == 1.0);
    CHECK(one.rank_90 == 1);
    // All zero: no energy anywhere.
    const std::vector<double> zero(12, 0.0);
    const auto z = geomkit::spectrum_stats(make_view(zero.data(), 3, 4));
    CHECK(z.stable_rank == 0.0);
    CHECK(z.pr == 0.0);
    CHECK(z.rank_90 == 0);
    CHECK(z.condition == 0.0);
}

TEST_CASE("bidiagonal singular values by bisection against a long-double SVD", "[spectrum][stats][svd]") {
    const long double eps = std::numeric_limits<double>::epsilon();
    for (index_t k : {1, 2, 3, 31, 32, 33, 70}) {
        for (int kind = 0; kind < 5; ++kind) {
            std::mt19937_64 gen(std::uint64_t(100 * k + kind));
            std::normal_distribution<double> nd;
            std::vector<double> a(static_cast<std::size_t>(k)), b(static_cast<std::size_t>(k - 1));
            for (auto& v : a) v = nd(gen);
            for (auto& v : b) v = nd(gen);
            for (index_t i = 0; i < k; ++i) {
                const double grade = kind == 1 ? std::pow(10.0, -12.0 * double(i) / double(k)) : 1.0;
                a[std::size_t(i)] *= grade;
                if (i + 1 < k) b[std::size_t(i)] *= grade;
            }
            if (kind == 2) {  // exact zeros: a zero singular value and a split matrix
                a[std::size_t(k / 2)] = 0;
                if (k > 3) b[std::size_t(k / 3)] = 0;
            }
            const double magnitude = kind == 3 ? std::ldexp(1.0, 600) : kind == 4 ? std::ldexp(1.0, -1000) : 1.0;
            for (auto& v : a) v *= magnitude;
            for (auto& v : b) v *= magnitude;
            ld_mat B = ld_mat::Zero(k, k);
            for (index_t i = 0; i < k; ++i) {
                B(i, i) = a[std::size_t(i)];
                if (i + 1 < k) B(i, i + 1) = b[std::size_t(i)];
            }
            const Eigen::JacobiSVD<ld_mat> svd(B);
            const auto s = geomkit::detail::bidiagonal_singular_values(a, b, 1);
            INFO("k " << k << " kind " << kind);
            REQUIRE(index_t(s.size()) == k);
            const long double top = svd.singularValues()(0);
            for (index_t i = 0; i < k; ++i) {
                const long double ref = svd.singularValues()(i);
                // Bisection width ε/2 of a bound ≤ 2‖B‖, plus the count's few-ulp relative perturbation.
                CHECK(std::abs((long double)s[std::size_t(i)] - ref) <= 2 * eps * top + 8 * k * eps * ref);
                if (i > 0) CHECK(s[std::size_t(i)] <= s[std::size_t(i - 1)]);
            }
            CHECK(geomkit::detail::bidiagonal_singular_values(a, b, 2) == s);
        }
    }
    CHECK(geomkit::detail::bidiagonal_singular_values({0.0, 0.0}, {0.0}) == std::vector<double>{0.0, 0.0});
}

TEMPLATE_TEST_CASE("the svd route against a long-double SVD: tall, wide, nearly square, graded", "[spectrum][stats][svd]",
                   float, double) {
    using geomkit::singular_value_method;
    for (auto shape : {std::pair<index_t, index_t>{54, 50}, {80, 50}, {50, 70}, {200, 30}, {33, 33}, {1, 5}, {5, 1},
                       {300, 130}}) {
        const index_t m = shape.first, n = shape.second;
        mat W = gaussian(m, n, 41);
        for (index_t j = 0; j < n; ++j) W.col(j) *= std::pow(10.0, -10.0 * double(j) / double(std::max<index_t>(1, n - 1)));
        const auto v = row_major<TestType>(W);
        const mat Wr = widened(v, m, n);
        const Eigen::JacobiSVD<ld_mat> svd(Wr.cast<long double>());
        const auto s = geomkit::singular_values(make_view(v.data(), m, n), singular_value_method::svd);
        INFO(m << " x " << n);
        REQUIRE(index_t(s.size()) == std::min(m, n));
        const double top = double(svd.singularValues()(0));
        for (std::size_t i = 0; i < s.size(); ++i) CHECK(std::abs(s[i] - double(svd.singularValues()(index_t(i)))) <= 1e-14 * top);
        // With several values this W has S_min < 1e-3·S₀: automatic takes the svd route.
        const auto a = geomkit::singular_values(make_view(v.data(), m, n));
        if (s.size() > 1)
            CHECK(a == s);
        else
            CHECK(a[0] == Approx(s[0]).epsilon(1e-15));
    }
    // The QR's chunked update and the bisection's lane groups do not depend on the thread count.
    const auto big = row_major<TestType>(gaussian(700, 300, 43));
    geomkit::set_num_threads(1);
    const auto one = geomkit::singular_values(make_view(big.data(), 700, 300), singular_value_method::svd);
    geomkit::set_num_threads(2);
    CHECK(geomkit::singular_values(make_view(big.data(), 700, 300), singular_value_method::svd) == one);
    geomkit::set_num_threads(0);
    // Tall and well conditioned: automatic stays on the Gram route.
    const auto g = row_major<TestType>(gaussian(200, 30, 42));
    const auto a = geomkit::singular_values(make_view(g.data(), 200, 30));
    CHECK(a == geomkit::singular_values(make_view(g.data(), 200, 30), singular_value_method::gram));
    const auto ref = reference_singular_values(widened(g, 200, 30));
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i] == Approx(ref[i]).epsilon(1e-12));
}

TEMPLATE_TEST_CASE("qk_manifold follows the notebook's _analyze_qk_matrix", "[spectrum][qk]", float, double) {
    const index_t p = 24, m = 32;
    const auto wq = row_major<TestType>(gaussian(p, m, 41)), wk = row_major<TestType>(gaussian(p, m, 42));
    const mat Wq = widened(wq, p, m), Wk = widened(wk, p, m);
    const mat QK = Wq * Wk.transpose();
    const auto S = reference_singular_values(QK);
    double sum = 0, sq = 0;
    for (double s : S) sum += s, sq += s * s;
    Eigen::SelfAdjointEigenSolver<mat> es(0.5 * (QK + QK.transpose()), Eigen::EigenvaluesOnly);
    const auto& ev = es.eigenvalues();
    const auto r = geomkit::qk_manifold(make_view(wq.data(), p, m), make_view(wk.data(), p, m));
    CHECK(r.dim == p);
    CHECK(r.stable_rank == Approx(sq / (S[0] * S[0])).epsilon(1e-10));
    CHECK(r.pr == Approx(sum * sum / sq).epsilon(1e-10));
    CHECK(r.sym_dev == Approx((QK - QK.transpose()).norm() / (QK.norm() + 1e-10)).epsilon(1e-12));
    CHECK(r.n_positive == (ev.array() > 0).count());
    CHECK(r.n_negative == (ev.array() < 0).count());
    CHECK(r.n_positive + r.n_negative == p);
    REQUIRE(r.top3_eig.size() == 3);
    for (int i = 0; i < 3; ++i) CHECK(r.top3_eig[std::size_t(i)] == Approx(ev(p - 1 - i)).epsilon(1e-10));
    // Wq = Wk: QK is symmetric PSD.
    const auto s = geomkit::qk_manifold(make_view(wq.data(), p, m), make_view(wq.data(), p, m));
    CHECK(s.sym_dev == 0.0);
    CHECK(s.n_negative == 0);
    // Fused [Wq; Wk; Wv] split along the rows gives the same answer.
    std::vector<TestType> fused(wq);
    fused.insert(fused.end(), wk.begin(), wk.end());
    fused.insert(fused.end(), wq.begin(), wq.end());
    const auto f = geomkit::qk_manifold_fused(make_view<const TestType>(fused.data(), 3 * p, m));
    CHECK(f.stable_rank == r.stable_rank);
    CHECK(f.sym_dev == r.sym_dev);
    CHECK(f.top3_eig == r.top3_eig);
    // p < 3: fewer than three top eigenvalues.
    CHECK(geomkit::qk_manifold(make_view(wq.data(), 2, m), make_view(wk.data(), 2, m)).top3_eig.size() == 2);
}

namespace {
// GQA keys repeated per head: key head h (d rows) serves query heads h·g … h·g + g − 1.
mat repeated_keys(const mat& Wk, index_t H, index_t d) {
    const index_t g = H / (Wk.rows() / d);
    mat rep(H * d, Wk.cols());
    for (index_t h = 0; h < H; ++h) rep.middleRows(h * d, d) = Wk.middleRows((h / g) * d, d);
    return rep;
}
}  // namespace

TEMPLATE_TEST_CASE("qk_manifold_gqa: the measures of the keys repeated per head, zeros counted as neither sign",
                   "[spectrum][qk][gqa]", float, double) {
    // {H, H_kv, d, m}: 2r < p takes the grouped route (spectra of r and 2r rows); g = 2
    // (2r = p) and g = 1 the dense one; {16, 1, 4, 48} is multi-query attention.
    const std::vector<std::array<index_t, 4>> shapes = {{12, 2, 8, 40}, {16, 1, 4, 48}, {8, 4, 6, 30}, {4, 4, 5, 24}};
    for (const auto& shape : shapes) {
        const index_t H = shape[0], kv = shape[1], d = shape[2], m = shape[3], p = H * d, r = kv * d;
        const auto wq = row_major<TestType>(gaussian(p, m, 71)), wk = row_major<TestType>(gaussian(r, m, 72));
        const mat Wrep = repeated_keys(widened(wk, r, m), H, d);
        const auto wrep = row_major<TestType>(Wrep);
        // Reference: the notebook's recipe on the repeated keys, in long double.
        const ld_mat QK = widened(wq, p, m).template cast<long double>() * Wrep.template cast<long double>().transpose();
        const Eigen::JacobiSVD<ld_mat> svd(QK);
        const auto& S = svd.singularValues();
        const Eigen::SelfAdjointEigenSolver<ld_mat> es((QK + QK.transpose()) / 2, Eigen::EigenvaluesOnly);
        const auto& ev = es.eigenvalues();
        const long double top = ev.cwiseAbs().maxCoeff(), tol = p * std::ldexp(1.0L, -52) * top;
        const index_t n_pos = (ev.array() > tol).count(), n_neg = (ev.array() < -tol).count();
        CHECK(n_pos + n_neg == std::min(2 * r, p));  // the rest is zero up to rounding
        const auto got = geomkit::qk_manifold_gqa(make_view(wq.data(), p, m), make_view(wk.data(), r, m), d);
        const auto dense = geomkit::qk_manifold(make_view(wq.data(), p, m), make_view(wrep.data(), p, m));
        for (const auto* x : {&got, &dense}) {
            INFO("H " << H << " kv " << kv << " d " << d << (x == &got ? " grouped" : " dense"));
            CHECK(x->dim == p);
            CHECK(x->stable_rank == Approx(double(S.squaredNorm() / (S(0) * S(0)))).epsilon(1e-12));
            CHECK(x->pr == Approx(double(S.sum() * S.sum() / S.squaredNorm())).epsilon(1e-12));
            CHECK(x->sym_dev == Approx(double((QK - QK.transpose()).norm() / (QK.norm() + 1e-10L))).epsilon(1e-12));
            CHECK(x->n_positive == n_pos);
            CHECK(x->n_negative == n_neg);
            REQUIRE(x->top3_eig.size() == 3);
            for (int i = 0; i < 3; ++i)
                CHECK(std::abs(x->top3_eig[std::size_t(i)] - double(ev(p - 1 - i))) <= 1e-13 * double(top));
        }
    }
}

TEST_CASE("qk_manifold_gqa at d = 1024: the dense route's rounding-level eigenvalues count as neither sign; the same bits at 1 and 2 threads",
          "[spectrum][qk][gqa]") {
    const index_t H = 16, kv = 2, d = 64, m = 160, p = H * d, r = kv * d;  // m ≥ r: F has rank r
    const auto wq = row_major<float>(gaussian(p, m, 81, 0.02)), wk = row_major<float>(gaussian(r, m, 82, 0.02));
    const auto wrep = row_major<float>(repeated_keys(widened(wk, r, m), H, d));
    geomkit::set_num_threads(1);
    const auto one = geomkit::qk_manifold_gqa(make_view(wq.data(), p, m), make_view(wk.data(), r, m), d);
    geomkit::set_num_threads(2);
    const auto two = geomkit::qk_manifold_gqa(make_view(wq.data(), p, m), make_view(wk.data(), r, m), d);
    const auto dense = geomkit::qk_manifold(make_view(wq.data(), p, m), make_view(wrep.data(), p, m));  // two-stage solver
    geomkit::set_num_threads(0);
    CHECK(one.stable_rank == two.stable_rank);
    CHECK(one.pr == two.pr);
    CHECK(one.sym_dev == two.sym_dev);
    CHECK(one.top3_eig == two.top3_eig);
    CHECK(one.n_positive == two.n_positive);
    // Random Gaussian Wq and Wk: r positive and r negative eigenvalues (QK + QKᵀ = F·Uᵀ + U·Fᵀ
    // has inertia (r, r) for F in general position), p − 2r zeros.
    CHECK(one.n_positive == r);
    CHECK(one.n_negative == r);
    CHECK(dense.n_positive == r);
    CHECK(dense.n_negative == r);
    CHECK(dense.stable_rank == Approx(one.stable_rank).epsilon(1e-12));
    CHECK(dense.pr == Approx(one.pr).epsilon(1e-12));
    CHECK(dense.sym_dev == Approx(one.sym_dev).epsilon(1e-13));
    for (int i = 0; i < 3; ++i) CHECK(dense.top3_eig[std::size_t(i)] == Approx(one.top3_eig[std::size_t(i)]).epsilon(1e-12));
}

TEST_CASE("spectrum errors name the argument and the expectation", "[spectrum][error]") {
    std::vector<float> x(60, 1.0f), y(60, 2.0f);
    require_error([&] { geomkit::participation_ratio(make_view<const float>(x.data(), 0, 5)); },
                  {"geomkit::participation_ratio", "'X'", "at least 1 row and 1 column", "0 x 5"});
    require_error([&] { geomkit::participation_ratio(make_view<const float>(nullptr, 3, 5)); }, {"'X'", "null pointer"});
    require_error([&] { geomkit::eigenspectrum(make_view<const float>(x.data(), 3, 5, 2)); }, {"geomkit::eigenspectrum", "'X'", "row stride"});
    x[7] = NAN;
    require_error([&] { geomkit::participation_ratio(make_view<const float>(x.data(), 3, 5)); }, {"'X'", "finite", "[1, 2]"});
    require_error([&] { geomkit::spectrum_stats(make_view<const float>(x.data(), 3, 5)); }, {"geomkit::singular_values", "'W'", "finite"});
    x[7] = -INFINITY;
    require_error([&] { geomkit::participation_ratio(make_view<const float>(x.data(), 3, 5), false); }, {"'X'", "finite", "-inf", "[1, 2]"});
    x[7] = 1.0f;
    std::vector<float> wide(3000 * 40, 0.5f);
    wide[2999 * 40 + 39] = NAN;  // the last value of a matrix the pass splits over threads
    require_error([&] { geomkit::participation_ratio(make_view<const float>(wide.data(), 3000, 40)); }, {"'X'", "finite", "[2999, 39]"});
    y[0] = INFINITY;
    require_error([&] { geomkit::qk_manifold(make_view<const float>(x.data(), 3, 5), make_view<const float>(y.data(), 3, 5)); },
                  {"geomkit::qk_manifold", "'Wk'", "finite", "inf"});
    require_error([&] { geomkit::qk_manifold(make_view<const float>(x.data(), 3, 5), make_view<const float>(x.data(), 4, 5)); },
                  {"'Wk'", "same shape as 'Wq'", "4 x 5"});
    require_error([&] { geomkit::qk_manifold_gqa(make_view<const float>(x.data(), 4, 5), make_view<const float>(x.data(), 2, 5), 0); },
                  {"geomkit::qk_manifold_gqa", "'head_dim'", "at least 1", "0"});
    require_error([&] { geomkit::qk_manifold_gqa(make_view<const float>(x.data(), 4, 5), make_view<const float>(x.data(), 3, 5), 2); },
                  {"'Wk'", "whole number of heads of head_dim = 2", "divides the 2 query heads", "3 x 5"});
    require_error([&] { geomkit::qk_manifold_gqa(make_view<const float>(x.data(), 3, 5), make_view<const float>(x.data(), 2, 5), 2); },
                  {"'Wq'", "whole number of heads", "3 x 5"});
    require_error([&] { geomkit::qk_manifold_gqa(make_view<const float>(x.data(), 4, 5), make_view<const float>(x.data(), 2, 4), 2); },
                  {"'Wk'", "as many columns as 'Wq' (5)", "2 x 4"});
    require_error([&] { geomkit::qk_manifold_gqa(make_view<const float>(x.data(), 2, 5), make_view<const float>(y.data(), 2, 5), 2); },
                  {"geomkit::qk_manifold_gqa", "'Wk'", "finite", "inf"});
    require_error([&] { geomkit::qk_manifold_fused(make_view<const float>(x.data(), 4, 5)); },
                  {"geomkit::qk_manifold_fused", "'Wqkv'", "divisible by 3", "4 x 5"});
    require_error([&] { geomkit::spectrum_stats(make_view<const float>(x.data(), 3, 0)); }, {"'W'", "at least 1 row and 1 column"});
}

#if GEOMKIT_HAS_AMX
// The AMX route of the float participation ratio (detail/amx_gram.hpp) against the double
// Gram of the same floats. Its error is bounded per entry by the digits' remainder and
// the dropped digit pairs: |ΔG_jk| ≤ ~7e-9 · n · M_j · M_k, M the largest deviation of a
// column; a missing digit pair or a misplaced byte gives errors of 2⁻¹⁴ of that or worse.
TEST_CASE("AMX integer Gram: every entry within its digit bound of the double Gram", "[spectrum][pr][amx]") {
    if (!geomkit::detail::amx_int8_usable()) {
        WARN("AMX-INT8 not usable here: the AMX Gram is not tested");
        return;
    }
    std::mt19937 gen(2026);
    std::normal_distribution<float> normal;
    struct shape {
        index_t n, d, chunk;
        int data;  // 0 Gaussian + 1000, 1 log-normal σ = 2, 2 Gaussian with a row × 1e6 and a constant column
    };
    for (const shape s : {shape{1000, 37, 0, 0}, shape{777, 100, 128, 1}, shape{130, 17, 64, 2}, shape{65, 16, 0, 0},
                          shape{200, 33, 64, 1}, shape{300, 48, 192, 2}}) {
        std::vector<float> x(std::size_t(s.n * s.d));
        for (auto& v : x) v = s.data == 1 ? std::exp(2.0f * normal(gen)) : normal(gen) + (s.data == 0 ? 1000.0f : 0.0f);
        if (s.data == 2) {
            for (index_t j = 0; j < s.d; ++j) x[std::size_t(7 * s.d + j)] *= 1e6f;
            for (index_t i = 0; i < s.n; ++i) x[std::size_t(i * s.d + 3)] = 5.0f;
        }
        const auto X = make_view<const float>(x.data(), s.n, s.d);
        for (const bool centered : {true, false}) {
            INFO("n " << s.n << " d " << s.d << " chunk " << s.chunk << " data " << s.data << " centred " << centered);
            Eigen::MatrixXd Y(s.n, s.d);
            for (index_t i = 0; i < s.n; ++i)
                for (index_t j = 0; j < s.d; ++j) Y(i, j) = double(x[std::size_t(i * s.d + j)]);
            if (centered) Y.rowwise() -= Y.colwise().mean();
            const Eigen::MatrixXd R = Y.transpose() * Y;
            const Eigen::VectorXd M = Y.cwiseAbs().colwise().maxCoeff().transpose();
            geomkit::set_num_threads(2);
            const geomkit::detail::amx_gram G(X, centered, 0, s.chunk);
            geomkit::set_num_threads(1);
            const geomkit::detail::amx_gram G1(X, centered, 0, s.chunk);
            geomkit::set_num_threads(0);
            REQUIRE(G.finite());
            double worst = 0;  // the largest error as a fraction of its bound
            bool same = true;
            for (index_t i = 0; i < s.d; ++i)
                for (index_t j = 0; j <= i; ++j) {
                    worst = std::max(worst, std::abs(G(i, j) - R(i, j)) / (7e-9 * double(s.n) * M(i) * M(j) + 1e-300));
                    same = same && G(i, j) == G1(i, j);
                }
            CHECK(worst <= 1.0);
            CHECK(same);
            if (s.data == 2 && centered) CHECK(G(3, 3) == 0.0);
            const auto tf = geomkit::detail::trace_and_frobenius_sq(G);
            CHECK(tf.first == Approx(R.trace()).epsilon(1e-9));
            CHECK(tf.second == Approx(R.squaredNorm()).epsilon(1e-9));
        }
    }
    std::vector<float> bad(64 * 20, 1.0f);
    bad[100] = std::numeric_limits<float>::quiet_NaN();
    CHECK_FALSE(geomkit::detail::amx_gram(make_view<const float>(bad.data(), 64, 20), true).finite());
    // The harness's yardstick: some 1000 int8 multiply-adds a cycle a core.
    CHECK(geomkit::detail::measure_amx_int8_peak(1) > 1e12);
}

TEST_CASE("Float PR takes the AMX route at d ≥ 1024 and stays double-accurate", "[spectrum][pr][amx]") {
    if (!geomkit::detail::amx_int8_usable()) {
        WARN("AMX-INT8 not usable here: the AMX route is not tested");
        return;
    }
    const index_t n = 1100, d = 1030;
    std::mt19937 gen(7);
    std::normal_distribution<float> normal;
    std::vector<float> f(std::size_t(n * d));
    for (index_t i = 0; i < n; ++i)
        for (index_t j = 0; j < d; ++j) f[std::size_t(i * d + j)] = normal(gen) * (1.0f + float(j % 7)) + 50.0f;
    const std::vector<double> f64(f.begin(), f.end());
    for (const bool centered : {true, false}) {
        const double pf = geomkit::participation_ratio(make_view<const float>(f.data(), n, d), centered);
        const double pd = geomkit::participation_ratio(make_view(f64.data(), n, d), centered);
        CHECK(pf == Approx(pd).epsilon(1e-9));
    }
    f[std::size_t(5 * d + 1000)] = std::numeric_limits<float>::infinity();
    CHECK_THROWS(geomkit::participation_ratio(make_view<const float>(f.data(), n, d)));
}
#endif

// The symmetric double Gram (detail/gram.hpp, symmetric_gram_slivers): every sliver, tile,
// kc-block and chunk edge, over rows and over columns, centred and not, against long double;
// bitwise the same at 1, 2 and 3 threads.
TEMPLATE_TEST_CASE("the symmetric Gram against long double, at every sliver and chunk edge", "[spectrum][gram]", float, double) {
    for (auto shape : {std::pair<index_t, index_t>{1100, 205}, {37, 1300}, {2050, 1}, {5, 3}, {1030, 193}, {24, 2100}}) {
        const index_t n = shape.first, d = shape.second;
        const auto v = row_major<TestType>(gaussian(n, d, std::uint64_t(n + d), 3.0) + mat::Constant(n, d, 2.0));
        const mat X = widened(v, n, d);
        for (bool centered : {false, true}) {
            INFO(n << " x " << d << (centered ? " centred" : ""));
            const auto view = make_view(v.data(), n, d);
            geomkit::set_num_threads(1);
            const mat one = geomkit::detail::smaller_gram_in(view, centered);
            geomkit::set_num_threads(2);
            const mat two = geomkit::detail::smaller_gram_in(view, centered);
            geomkit::set_num_threads(3);
            const mat three = geomkit::detail::smaller_gram_in(view, centered);
            geomkit::set_num_threads(0);
            CHECK(one == two);
            CHECK(one == three);
            ld_mat Xc = X.cast<long double>();
            if (centered) Xc.rowwise() -= Xc.colwise().mean();
            const ld_mat ref = n >= d ? ld_mat(Xc.transpose() * Xc) : ld_mat(Xc * Xc.transpose());
            REQUIRE(one.rows() == std::min(n, d));
            REQUIRE(one.cols() == std::min(n, d));
            const Eigen::Matrix<long double, Eigen::Dynamic, 1> norms = ref.diagonal().cwiseSqrt();
            double worst = 0;
            for (index_t j = 0; j < one.cols(); ++j)
                for (index_t i = 0; i < one.rows(); ++i)
                    worst = std::max(worst, double(std::abs((long double)one(i, j) - ref(i, j)) / (norms(i) * norms(j))));
            CHECK(worst <= 1e-14);
            CHECK(one == one.transpose());
        }
    }
}
