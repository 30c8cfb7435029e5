// pairwise_cosines against a long double reference, exact small cases, scale invariance,
// thread invariance and every error.
#include <geomkit/cosine.hpp>
#include <geomkit/core/parallel.hpp>

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace {

template <class T>
std::vector<long double> reference(const std::vector<T>& x, long m, long d, long double eps) {
    std::vector<long double> out;
    std::vector<long double> norm(std::size_t(m), 0);
    for (long i = 0; i < m; ++i) {
        long double s = 0;
        for (long k = 0; k < d; ++k) s += (long double)x[std::size_t(i * d + k)] * x[std::size_t(i * d + k)];
        norm[std::size_t(i)] = std::sqrt(s) + eps;
    }
    for (long i = 0; i < m; ++i)
        for (long j = i + 1; j < m; ++j) {
            long double dot = 0;
            for (long k = 0; k < d; ++k) dot += (long double)x[std::size_t(i * d + k)] * x[std::size_t(j * d + k)];
            const long double den = norm[std::size_t(i)] * norm[std::size_t(j)];
            out.push_back(den > 0 ? dot / den : 0);
        }
    return out;
}

}  // namespace

TEMPLATE_TEST_CASE("pairwise_cosines matches a long double reference", "[cosine]", float, double) {
    std::mt19937_64 gen(7);
    std::normal_distribution<double> normal;
    for (auto shape : {std::pair<long, long>{2, 3}, {37, 5}, {700, 64}, {1100, 300}}) {
        const long m = shape.first, d = shape.second;
        std::vector<TestType> x(std::size_t(m * d));
        for (auto& v : x) v = TestType(normal(gen) + 0.3);
        for (long double eps : {0.0L, 1e-8L}) {
            const auto got = geomkit::pairwise_cosines(geomkit::make_view(x.data(), m, d), double(eps));
            const auto want = reference(x, m, d, eps);
            REQUIRE(got.size() == want.size());
            double worst = 0;
            for (std::size_t i = 0; i < got.size(); ++i) worst = std::max(worst, double(std::fabs(got[i] - want[i])));
            INFO("m " << m << " d " << d);
            CHECK(worst < 1e-14);
        }
    }
}

TEST_CASE("pairwise_cosines: exact cases, zero rows, huge and tiny scales, threads", "[cosine]") {
    // rows e0, e1, (e0 + e1), 0: cosines 0, 1/sqrt2, 0, 1/sqrt2, 0, 0
    std::vector<double> x = {1, 0, 0, 1, 1, 1, 0, 0};
    const auto c = geomkit::pairwise_cosines(geomkit::make_view(x.data(), 4, 2));
    const double h = 1 / std::sqrt(2.0);
    const std::vector<double> want = {0, h, 0, h, 0, 0};
    REQUIRE(c.size() == want.size());
    for (std::size_t i = 0; i < c.size(); ++i) CHECK(c[i] == Approx(want[i]).margin(1e-15));

    std::mt19937_64 gen(3);
    std::normal_distribution<double> normal;
    std::vector<double> y(300 * 40);
    for (auto& v : y) v = normal(gen);
    const auto base = geomkit::pairwise_cosines(geomkit::make_view(y.data(), 300, 40));
    for (double scale : {0x1p1000, 0x1p-1000}) {
        std::vector<double> s(y);
        for (auto& v : s) v *= scale;
        const auto got = geomkit::pairwise_cosines(geomkit::make_view(s.data(), 300, 40));
        for (std::size_t i = 0; i < got.size(); ++i) REQUIRE(got[i] == base[i]);  // powers of two: exact
    }
    // eps is applied at the input's scale
    std::vector<double> tiny(y);
    for (auto& v : tiny) v *= 1e-9;
    const auto with_eps = geomkit::pairwise_cosines(geomkit::make_view(tiny.data(), 300, 40), 1e-8);
    const auto want_eps = reference(tiny, 300, 40, 1e-8L);
    for (std::size_t i = 0; i < with_eps.size(); ++i) REQUIRE(with_eps[i] == Approx(double(want_eps[i])).margin(1e-15));

    std::vector<double> big(1300 * 70);
    for (auto& v : big) v = normal(gen);
    const auto one = geomkit::pairwise_cosines(geomkit::make_view(big.data(), 1300, 70), 0.0, 1);
    const auto two = geomkit::pairwise_cosines(geomkit::make_view(big.data(), 1300, 70), 0.0, 2);
    const auto five = geomkit::pairwise_cosines(geomkit::make_view(big.data(), 1300, 70), 0.0, 5);
    CHECK(one == two);
    CHECK(one == five);
}

TEST_CASE("pairwise_cosines errors name the argument", "[cosine]") {
    std::vector<double> x = {1, 2, 3, 4};
    CHECK_THROWS_WITH(geomkit::pairwise_cosines(geomkit::make_view(x.data(), 1, 4)),
                      Catch::Contains("pairwise_cosines") && Catch::Contains("'X'") && Catch::Contains("at least 2 rows"));
    x[3] = std::numeric_limits<double>::quiet_NaN();
    CHECK_THROWS_WITH(geomkit::pairwise_cosines(geomkit::make_view(x.data(), 2, 2)), Catch::Contains("'X'"));
    x[3] = 4;
    CHECK_THROWS_WITH(geomkit::pairwise_cosines(geomkit::make_view(x.data(), 2, 2), -1.0), Catch::Contains("'eps'"));
    CHECK_THROWS_WITH(geomkit::pairwise_cosines(geomkit::make_view(x.data(), 2, 2), std::nan("")),
                      Catch::Contains("'eps'"));
}
