// Pentachoron CV against a straightforward independent implementation (the same samples
// drawn, vol² in long double, two-pass mean and std in long double), in both seed
// settings; thread-count and call-to-call reproducibility; the pool-Gram path against the
// direct one, including clustered pools; shards merging; every error path.
#include <geomkit/geomkit.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "testing.hpp"

using geomkit::index_t;
using geomkit_test::require_error;

namespace {

// vol² of rows idx[0..4] of X: Gram of the edges and Gaussian elimination, in long double.
template <class T>
long double reference_volume_sq(const T* X, index_t d, const std::uint32_t* idx) {
    std::vector<long double> edge(std::size_t(4 * d));
    for (int i = 0; i < 4; ++i)
        for (index_t l = 0; l < d; ++l)
            edge[std::size_t(i * d + l)] = (long double)X[idx[i + 1] * d + l] - (long double)X[idx[0] * d + l];
    long double g[4][4];
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) {
            long double s = 0;
            for (index_t l = 0; l < d; ++l) s += edge[std::size_t(i * d + l)] * edge[std::size_t(j * d + l)];
            g[i][j] = s;
        }
    long double det = 1;
    for (int c = 0; c < 4; ++c) {
        int p = c;
        for (int i = c + 1; i < 4; ++i)
            if (std::fabs(g[i][c]) > std::fabs(g[p][c])) p = i;
        if (g[p][c] == 0) return 0;
        if (p != c) {
            for (int j = 0; j < 4; ++j) std::swap(g[c][j], g[p][j]);
            det = -det;
        }
        det *= g[c][c];
        for (int i = c + 1; i < 4; ++i) {
            const long double l = g[i][c] / g[c][c];
            for (int j = c; j < 4; ++j) g[i][j] -= l * g[c][j];
        }
    }
    return det / 576;
}

struct reference_result {
    bool has_cv = false;
    long double cv = 0, mean = 0, std = 0;
    index_t n_valid = 0;
};

// The seeds' recipe written out: draw, filter vol² > eps, sqrt, two-pass mean and std.
template <class T>
reference_result reference_cv(const std::vector<T>& X, index_t n, index_t d, const geomkit::pentachoron_params& p) {
    const index_t pool = p.pool ? *p.pool : n;
    reference_result r;
    if (pool < 5) return r;
    std::vector<long double> vols;
    for (index_t i = 0; i < p.n_samples; ++i) {
        geomkit::counter_rng rng(p.seed, std::uint64_t(i));
        std::uint32_t idx[5];
        geomkit::sample_distinct(rng, std::uint32_t(pool), 5, idx);
        const long double v2 = reference_volume_sq(X.data(), d, idx);
        if (v2 > p.eps) vols.push_back(std::sqrt(v2));
    }
    r.n_valid = index_t(vols.size());
    if (vols.empty()) return r;
    for (auto v : vols) r.mean += v;
    r.mean /= (long double)vols.size();
    long double ss = 0;
    for (auto v : vols) ss += (v - r.mean) * (v - r.mean);
    if (index_t(vols.size()) <= p.ddof) return r;
    r.std = std::sqrt(ss / (long double)(index_t(vols.size()) - p.ddof));
    r.has_cv = r.n_valid >= std::max<index_t>(p.min_valid, 1);
    r.cv = r.std / (r.mean + p.mean_eps);
    return r;
}

// Rows around a common centre: spread 1 (an embedding-like table) or clustered.
template <class T>
std::vector<T> make_table(index_t n, index_t d, double offset, double spread, std::uint64_t seed) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<double> g(0.0, 1.0);
    std::vector<double> centre(static_cast<std::size_t>(d));
    for (auto& c : centre) c = offset + g(gen);
    std::vector<T> x(std::size_t(n * d));
    for (index_t i = 0; i < n; ++i)
        for (index_t l = 0; l < d; ++l) x[std::size_t(i * d + l)] = T(centre[std::size_t(l)] + spread * g(gen));
    return x;
}

double rel(double a, long double b) { return double(std::fabs((long double)a - b) / std::fabs(b)); }

}  // namespace

TEMPLATE_TEST_CASE("pentachoron_cv matches an independent implementation in both seed settings", "[pentachoron]",
                   float, double) {
    const index_t n = 700, d = 48;
    const auto X = make_table<TestType>(n, d, 0.0, 1.0, 1);
    const auto view = geomkit::make_view(X.data(), n, d);
    auto notebook = geomkit::pentachoron_params::notebook();
    auto probe = geomkit::pentachoron_params::probe(n);
    CHECK(*probe.pool == 512);
    CHECK(geomkit::pentachoron_params::probe(40).pool == index_t(40));
    for (auto params : {notebook, probe}) {
        for (auto method : {geomkit::pentachoron_method::direct, geomkit::pentachoron_method::pool_gram}) {
            params.method = method;
            params.seed = 12345;
            const auto got = geomkit::pentachoron_cv(view, params);
            const auto want = reference_cv(X, n, d, params);
            INFO("n_samples " << params.n_samples << ", method " << int(method));
            REQUIRE(got.cv.has_value());
            REQUIRE(want.has_cv);
            CHECK(got.n_valid == want.n_valid);
            CHECK(got.n_samples == params.n_samples);
            CHECK(rel(*got.cv, want.cv) <= 1e-11);
            CHECK(rel(got.mean, want.mean) <= 1e-11);
            CHECK(rel(got.std, want.std) <= 1e-11);
            CHECK(got.in_band == (*got.cv > 0.13 && *got.cv < 0.30));
        }
    }
}

TEMPLATE_TEST_CASE("pentachoron_cv is the same at any thread count and on every call", "[pentachoron][parallel]",
                   float, double) {
    const index_t n = 300, d = 33;
    const auto X = make_table<TestType>(n, d, 0.5, 1.0, 2);
    geomkit::pentachoron_params p;
    p.n_samples = 5000;  // many chunks
    for (auto method : {geomkit::pentachoron_method::direct, geomkit::pentachoron_method::pool_gram}) {
        p.method = method;
        p.threads = 1;
        const auto one = geomkit::pentachoron_cv(geomkit::make_view(X.data(), n, d), p);
        p.threads = 2;
        const auto two = geomkit::pentachoron_cv(geomkit::make_view(X.data(), n, d), p);
        const auto again = geomkit::pentachoron_cv(geomkit::make_view(X.data(), n, d), p);
        p.threads = 0;
        geomkit::set_num_threads(3);
        const auto three = geomkit::pentachoron_cv(geomkit::make_view(X.data(), n, d), p);
        geomkit::set_num_threads(0);
        REQUIRE(one.cv.has_value());
        for (const auto* r : {&two, &again, &three}) {
            CHECK(*r->cv == *one.cv);
            CHECK(r->mean == one.mean);
            CHECK(r->std == one.std);
            CHECK(r->n_valid == one.n_valid);
        }
    }
}

TEMPLATE_TEST_CASE("the pool-Gram path agrees with the direct path, clustered pools included", "[pentachoron]",
                   float, double) {
    const double tol = std::is_same<TestType, float>::value ? 1e-8 : 1e-12;
    // (offset, spread, near-duplicates): a spread-out table; a tight cluster far from the
    // origin; a table where half the rows sit 1e-5 from another row (short edges next to
    // the pool's spread: the samples the pool Gram cannot resolve fall back to direct).
    struct pool_case {
        double offset, spread;
        bool near_duplicates;
    };
    for (auto c : {pool_case{0, 1, false}, pool_case{30, 1e-3, false}, pool_case{0, 1, true}}) {
        const index_t n = 64, d = 256;
        auto X = make_table<TestType>(n, d, c.offset, c.spread, 3);
        if (c.near_duplicates) {
            std::mt19937_64 gen(9);
            std::normal_distribution<double> g(0.0, 1e-5);
            for (index_t i = n / 2; i < n; ++i)
                for (index_t l = 0; l < d; ++l)
                    X[std::size_t(i * d + l)] = TestType(double(X[std::size_t((i - n / 2) * d + l)]) + g(gen));
        }
        geomkit::pentachoron_params p;
        p.n_samples = 3000;
        p.seed = 7;
        p.method = geomkit::pentachoron_method::direct;
        const auto direct = geomkit::pentachoron_cv(geomkit::make_view(X.data(), n, d), p);
        p.method = geomkit::pentachoron_method::pool_gram;
        const auto gram = geomkit::pentachoron_cv(geomkit::make_view(X.data(), n, d), p);
        p.method = geomkit::pentachoron_method::automatic;  // 64² <= 16 · 3000: pool Gram
        const auto automatic = geomkit::pentachoron_cv(geomkit::make_view(X.data(), n, d), p);
        const auto want = reference_cv(X, n, d, p);
        INFO("offset " << c.offset << ", spread " << c.spread << ", near duplicates " << c.near_duplicates
                       << ": direct vs reference " << rel(*direct.cv, want.cv) << ", pool Gram vs direct "
                       << rel(*gram.cv, *direct.cv));
        REQUIRE(direct.cv.has_value());
        REQUIRE(gram.cv.has_value());
        CHECK(gram.n_valid == direct.n_valid);
        CHECK(rel(*gram.cv, *direct.cv) <= tol);
        CHECK(rel(gram.mean, direct.mean) <= tol);
        CHECK(*automatic.cv == *gram.cv);
        // Slivers (two near-coincident vertices, the other edges long) are the Gram
        // formulation's hard case: their small volumes carry relative errors up to
        // eps · (long edge / short edge)², which moves the CV by ~1e-11.
        const double ref_tol = c.near_duplicates ? 1e-9 : tol;
        CHECK(rel(*direct.cv, want.cv) <= ref_tol);
        CHECK(rel(*gram.cv, want.cv) <= ref_tol);
    }
}

TEST_CASE("pentachoron path selection", "[pentachoron]") {
    using geomkit::pentachoron_method;
    using geomkit::detail::pentachoron_use_pool_gram;
    CHECK(pentachoron_use_pool_gram(pentachoron_method::automatic, 512, 100000));
    CHECK_FALSE(pentachoron_use_pool_gram(pentachoron_method::automatic, 512, 300));       // the probe
    CHECK_FALSE(pentachoron_use_pool_gram(pentachoron_method::automatic, 32128, 100000));  // a whole vocabulary
    CHECK(pentachoron_use_pool_gram(pentachoron_method::pool_gram, 512, 300));
    CHECK_FALSE(pentachoron_use_pool_gram(pentachoron_method::direct, 512, 100000));
}

TEMPLATE_TEST_CASE("pentachoron shards merge into the full job", "[pentachoron][partial]", float, double) {
    const index_t n = 200, d = 20;
    const auto X = make_table<TestType>(n, d, 0.0, 1.0, 4);
    const auto view = geomkit::make_view(X.data(), n, d);
    geomkit::pentachoron_params p;
    p.n_samples = 2000;
    const auto full = geomkit::pentachoron_cv(view, p);
    const auto whole = geomkit::pentachoron_partial(view, p, 0, p.n_samples);
    CHECK(*geomkit::pentachoron_finish(whole, p).cv == *full.cv);  // one shard: bitwise
    for (index_t cut : {index_t(256), index_t(1000), index_t(1)}) {
        auto s = geomkit::pentachoron_partial(view, p, 0, cut);
        s.merge(geomkit::pentachoron_partial(view, p, cut, 1500));
        s.merge(geomkit::pentachoron_partial(view, p, 1500, p.n_samples));
        const auto r = geomkit::pentachoron_finish(s, p);
        INFO("cut at " << cut);
        CHECK(r.n_valid == full.n_valid);
        CHECK(rel(r.mean, full.mean) <= 1e-14);
        CHECK(rel(*r.cv, *full.cv) <= 1e-13);
    }
    CHECK(geomkit::pentachoron_partial(view, p, 500, 500).count == 0);
}

TEST_CASE("no CV is said explicitly", "[pentachoron]") {
    std::vector<double> X = make_table<double>(40, 6, 0.0, 1.0, 5);
    geomkit::pentachoron_params p;
    // Fewer than 5 rows.
    auto r = geomkit::pentachoron_cv(geomkit::make_view(X.data(), 4, 6), p);
    CHECK_FALSE(r.cv.has_value());
    CHECK(r.n_valid == 0);
    CHECK(r.n_samples == 1000);
    CHECK_FALSE(r.in_band);
    p.pool = 4;
    CHECK_FALSE(geomkit::pentachoron_cv(geomkit::make_view(X.data(), 40, 6), p).cv.has_value());
    // Every simplex flat: rows in 3 dimensions of 6.
    p.pool.reset();
    r = geomkit::pentachoron_cv(geomkit::make_view(X.data(), 40, 3, 6), p);
    CHECK_FALSE(r.cv.has_value());
    // Too few valid for min_valid, and ddof that leaves no degrees of freedom.
    p.n_samples = 9;
    p.min_valid = 10;
    r = geomkit::pentachoron_cv(geomkit::make_view(X.data(), 40, 6), p);
    CHECK(r.n_valid == 9);
    CHECK_FALSE(r.cv.has_value());
    p.n_samples = 1;
    p.min_valid = 1;
    p.ddof = 1;
    r = geomkit::pentachoron_cv(geomkit::make_view(X.data(), 40, 6), p);
    CHECK(r.n_valid == 1);
    CHECK(r.mean > 0);
    CHECK_FALSE(r.cv.has_value());
    p.n_samples = 0;
    p.ddof = 0;
    r = geomkit::pentachoron_cv(geomkit::make_view(X.data(), 40, 6), p);
    CHECK_FALSE(r.cv.has_value());
    CHECK(r.n_samples == 0);
}

TEST_CASE("pentachoron_cv errors name the argument", "[pentachoron][error]") {
    std::vector<float> X(20 * 4, 0.5f);
    const auto v = geomkit::make_view(X.data(), 20, 4);
    auto bad = [&](auto edit, std::initializer_list<const char*> fragments) {
        geomkit::pentachoron_params p;
        edit(p);
        require_error([&] { geomkit::pentachoron_cv(v, p); }, fragments);
    };
    using P = geomkit::pentachoron_params;
    bad([](P& p) { p.n_samples = -1; }, {"geomkit::pentachoron_cv", "'params.n_samples'", "non-negative", "-1"});
    bad([](P& p) { p.pool = 21; }, {"'params.pool'", "at most the rows of 'X' (20)", "21"});
    bad([](P& p) { p.pool = -3; }, {"'params.pool'", "non-negative", "-3"});
    bad([](P& p) { p.eps = -1e-9; }, {"'params.eps'", "non-negative"});
    bad([](P& p) { p.eps = NAN; }, {"'params.eps'", "finite", "nan"});
    bad([](P& p) { p.mean_eps = INFINITY; }, {"'params.mean_eps'", "finite", "inf"});
    bad([](P& p) { p.ddof = -1; }, {"'params.ddof'", "non-negative", "-1"});
    bad([](P& p) { p.min_valid = -2; }, {"'params.min_valid'", "non-negative"});
    bad([](P& p) { p.threads = -1; }, {"'params.threads'", ">= 0"});
    // issue 28: refused up front (no per-sample storage, but 2^62 samples would not finish)
    bad([](P& p) { p.n_samples = index_t(1) << 62; }, {"'params.n_samples'", "at most 2^40", "4611686018427387904"});
    bad([](P& p) { p.n_samples = (index_t(1) << 40) + 1; }, {"'params.n_samples'", "at most 2^40"});
    require_error([&] { geomkit::pentachoron_cv(geomkit::make_view<float>(nullptr, 20, 4)); }, {"'X'", "null pointer"});
    require_error([&] { geomkit::pentachoron_cv(geomkit::make_view(X.data(), -1, 4)); }, {"'X'", "non-negative"});
    require_error([&] { geomkit::pentachoron_cv(geomkit::make_view(X.data(), 10, 4, 2)); }, {"'X'", "row stride"});
    X[13 * 4 + 2] = NAN;
    require_error([&] { geomkit::pentachoron_cv(v); }, {"'X'", "finite", "nan at [13, 2]"});
    geomkit::pentachoron_params p;
    p.pool = 13;  // the NaN row is outside the pool: never read
    CHECK(geomkit::pentachoron_cv(v, p).n_samples == 1000);
    require_error([&] { geomkit::pentachoron_partial(v, p, 5, 1001); },
                  {"geomkit::pentachoron_partial", "'sample_begin, sample_end'", "<= params.n_samples (1000)", "5, 1001"});
    require_error([&] { geomkit::pentachoron_partial(v, p, 7, 6); }, {"'sample_begin, sample_end'", "7, 6"});
    p.ddof = -1;
    require_error([&] { geomkit::pentachoron_finish(geomkit::running_stats{}, p); },
                  {"geomkit::pentachoron_finish", "'params.ddof'"});
    std::vector<float> tall(16385, 1.0f);
    p = geomkit::pentachoron_params{};
    p.method = geomkit::pentachoron_method::pool_gram;
    require_error([&] { geomkit::pentachoron_cv(geomkit::make_view(tall.data(), 16385, 1), p); },
                  {"'params.method'", "at most 16384 rows", "pool 16385"});
}
