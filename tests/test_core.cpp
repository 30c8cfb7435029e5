// Core: views, errors, SIMD primitives, the counter-based generator, parallel reductions
// and mergeable statistics.
#include <geomkit/geomkit.hpp>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/wait.h>
#include <unistd.h>
#endif

#include "testing.hpp"

using geomkit::index_t;
using geomkit_test::random_vector;
using geomkit_test::require_error;

// ----------------------------------------------------------------------------- views
TEST_CASE("matrix_view addresses strided rows", "[core][view]") {
    std::vector<double> buf(5 * 7);
    for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = double(i);
    geomkit::matrix_view<double> v(buf.data() + 1, 5, 4, 7);  // 4 of every 7 values
    CHECK(v.rows() == 5);
    CHECK(v.cols() == 4);
    CHECK_FALSE(v.contiguous());
    CHECK(v(2, 3) == 2 * 7 + 1 + 3);
    CHECK(v.row(4)[0] == 4 * 7 + 1);
    auto mid = v.middle_rows(1, 2).middle_cols(2, 2);
    CHECK(mid.rows() == 2);
    CHECK(mid.cols() == 2);
    CHECK(mid(1, 1) == v(2, 3));
    geomkit::matrix_view<const double> c = v;  // const conversion
    CHECK(c(3, 2) == v(3, 2));
}

TEST_CASE("matrix_view and Eigen map each other without copies", "[core][view][eigen]") {
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> m(6, 5);
    m.setRandom();
    auto v = geomkit::make_view(m);
    STATIC_REQUIRE(std::is_same<decltype(v), geomkit::matrix_view<float>>::value);
    CHECK(v.data() == m.data());
    CHECK(v(4, 3) == m(4, 3));

    auto block = m.block(1, 2, 3, 3);
    auto bv = geomkit::make_view(block);
    CHECK(bv.row_stride() == 5);
    CHECK(bv(2, 1) == m(3, 3));

    const auto& cm = m;
    auto cv = geomkit::make_view(cm);
    STATIC_REQUIRE(std::is_same<decltype(cv), geomkit::matrix_view<const float>>::value);
    auto back = geomkit::as_eigen(cv.middle_cols(1, 3));
    CHECK(back.rows() == 6);
    CHECK(back(5, 2) == m(5, 3));
    back.data();  // a Map, not a copy
    CHECK(back.data() == m.data() + 1);

    Eigen::VectorXd col = Eigen::VectorXd::LinSpaced(4, 0.0, 3.0);
    auto colv = geomkit::make_view(col);
    CHECK(colv.rows() == 4);
    CHECK(colv.cols() == 1);
    CHECK(colv(3, 0) == 3.0);
}

// ----------------------------------------------------------------------------- errors
TEST_CASE("validation helpers name the function, the argument and what was expected", "[core][error]") {
    std::vector<float> buf(12, 1.0f);
    require_error([&] { geomkit::detail::check_view(geomkit::make_view(buf.data(), -1, 3), "f", "X"); },
                  {"geomkit::f", "'X'", "non-negative", "-1 x 3"});
    require_error([&] { geomkit::detail::check_view(geomkit::make_view<float>(nullptr, 2, 3), "f", "X"); },
                  {"'X'", "null pointer"});
    require_error([&] { geomkit::detail::check_view(geomkit::make_view(buf.data(), 3, 4, 2), "f", "X"); },
                  {"'X'", "row stride"});
    geomkit::detail::check_view(geomkit::make_view<float>(nullptr, 0, 3), "f", "X");  // empty: fine
    buf[7] = std::nanf("");
    require_error([&] { geomkit::detail::check_finite(geomkit::make_view(buf.data(), 3, 4), "g", "points"); },
                  {"geomkit::g", "'points'", "finite", "[1, 3]"});
    buf[7] = INFINITY;
    require_error([&] { geomkit::detail::check_finite(geomkit::make_view(buf.data(), 3, 4), "g", "points"); },
                  {"inf", "[1, 3]"});
    require_error([&] { geomkit::detail::check_rows_at_least(geomkit::make_view(buf.data(), 3, 4), 5, "h", "X"); },
                  {"at least 5 rows", "3 x 4"});
    std::vector<float> other(6);
    require_error(
        [&] {
            geomkit::detail::check_same_shape(geomkit::make_view(buf.data(), 3, 4), "A",
                                              geomkit::make_view(other.data(), 2, 3), "B", "procrustes");
        },
        {"'B'", "same shape as 'A'", "3 x 4", "2 x 3"});
    require_error([] { geomkit::set_num_threads(-2); }, {"set_num_threads", "'threads'", "-2"});
    require_error([] { geomkit::detail::require_at_least(1, 2, "k", "n"); }, {"at least 2", "got 1"});
}

TEMPLATE_TEST_CASE("all_finite flags exactly NaN and +-Inf at every position", "[core][error]", float, double) {
    using T = TestType;
    using lim = std::numeric_limits<T>;
    const T finite[] = {T(0), -T(0), T(1), -T(2.5), lim::max(), lim::lowest(), lim::min(), lim::denorm_min(),
                        -lim::denorm_min()};
    const T bad[] = {lim::quiet_NaN(), -lim::quiet_NaN(), lim::infinity(), -lim::infinity(), lim::signaling_NaN()};
    for (const index_t n : {1, 7, 8, 17, 64, 131}) {
        std::vector<T> v(static_cast<std::size_t>(n));
        for (index_t i = 0; i < n; ++i) v[std::size_t(i)] = finite[std::size_t(i) % std::size(finite)];
        CHECK(geomkit::detail::all_finite(v.data(), n));
        for (const index_t at : {index_t(0), n / 2, n - 1})
            for (const T b : bad) {
                const T keep = v[std::size_t(at)];
                v[std::size_t(at)] = b;
                CHECK_FALSE(geomkit::detail::all_finite(v.data(), n));
                v[std::size_t(at)] = keep;
            }
    }
}

TEST_CASE("check_finite names the first culprit in row-major order at any thread count", "[core][error]") {
    // 4096 x 300 floats: above the size where the scan runs on blocks of rows in parallel.
    const index_t rows = 4096, cols = 300, stride = 301;
    std::vector<float> buf(std::size_t(rows * stride), 0.5f);
    const auto view = geomkit::make_view(buf.data(), rows, cols, stride);
    for (int threads : {1, 2, 3}) geomkit::detail::check_finite(view, "f", "X", threads);
    buf[std::size_t(3000 * stride + cols)] = NAN;  // in the stride padding: not part of the view
    geomkit::detail::check_finite(view, "f", "X", 2);
    buf[std::size_t(3900 * stride + 5)] = -INFINITY;
    buf[std::size_t(2100 * stride + 299)] = NAN;
    for (int threads : {1, 2, 3})
        require_error([&] { geomkit::detail::check_finite(view, "f", "X", threads); }, {"'X'", "[2100, 299]"});
}

// ----------------------------------------------------------------------------- SIMD
namespace {
// Exact for float inputs (products exact in long double's 64-bit mantissa when n small)
// and a tight reference for double inputs.
template <class T>
long double reference_dot(const T* a, const T* b, index_t n) {
    long double s = 0;
    for (index_t i = 0; i < n; ++i) s += (long double)a[i] * (long double)b[i];
    return s;
}
template <class T>
long double abs_dot(const T* a, const T* b, index_t n) {
    long double s = 0;
    for (index_t i = 0; i < n; ++i) s += std::fabs((long double)a[i] * (long double)b[i]);
    return s;
}
}  // namespace

TEMPLATE_TEST_CASE("SIMD dot, norm and distance agree with scalar and long double", "[core][simd]", float, double) {
    INFO("arch: " << geomkit::simd::arch_name());
    const auto a_buf = random_vector<TestType>(80, 1, -3, 3);
    const auto b_buf = random_vector<TestType>(80, 2, -3, 3);
    for (index_t n = 0; n <= 67; ++n) {
        for (index_t offset = 0; offset < 4; ++offset) {  // unaligned starts
            const TestType* a = a_buf.data() + offset;
            const TestType* b = b_buf.data() + (3 - offset);
            const double tol = 1e-15 * double(n + 4);
            const long double ref = reference_dot(a, b, n);
            const long double mag = abs_dot(a, b, n) + 1e-300L;
            const double simd_dot = geomkit::simd::dot(a, b, n);
            const double scalar_dot = geomkit::simd::scalar::dot(a, b, n);
            INFO("n=" << n << " offset=" << offset);
            CHECK(std::fabs((long double)simd_dot - ref) <= tol * mag);
            CHECK(std::fabs((long double)scalar_dot - ref) <= tol * mag);

            const long double nref = reference_dot(a, a, n);
            CHECK(std::fabs((long double)geomkit::simd::squared_norm(a, n) - nref) <= tol * (nref + 1e-300L));
            CHECK(std::fabs((long double)geomkit::simd::scalar::squared_norm(a, n) - nref) <= tol * (nref + 1e-300L));

            long double dref = 0;
            for (index_t i = 0; i < n; ++i) {
                const long double d = (long double)a[i] - (long double)b[i];
                dref += d * d;
            }
            CHECK(std::fabs((long double)geomkit::simd::squared_distance(a, b, n) - dref) <= tol * (dref + 1e-300L));
            CHECK(std::fabs((long double)geomkit::simd::scalar::squared_distance(a, b, n) - dref) <= tol * (dref + 1e-300L));
        }
    }
}

TEMPLATE_TEST_CASE("SIMD primitives on the rows of a strided view", "[core][simd]", float, double) {
    const index_t rows = 9, cols = 37, stride = 41;
    auto buf = random_vector<TestType>(std::size_t(rows * stride + 1), 7);
    geomkit::matrix_view<const TestType> x(buf.data() + 1, rows, cols, stride);  // odd offset
    for (index_t i = 0; i < rows; ++i) {
        for (index_t j = 0; j < rows; ++j) {
            const long double ref = reference_dot(x.row(i), x.row(j), cols);
            CHECK(std::fabs((long double)geomkit::simd::dot(x.row(i), x.row(j), cols) - ref) <=
                  1e-14 * abs_dot(x.row(i), x.row(j), cols));
        }
    }
}

#if GEOMKIT_HAS_SIMD
TEST_CASE("the generic widening load agrees with the per-arch one", "[core][simd]") {
    using arch = geomkit::simd::default_arch;
    using batch = geomkit::simd::double_batch<arch>;
    const auto f = random_vector<float>(batch::size + 3, 3);
    for (std::size_t off = 0; off < 3; ++off) {
        const batch fast = geomkit::simd::load_as_double<arch>(f.data() + off);
        const batch slow = geomkit::simd::detail::load_widened<arch>(f.data() + off, geomkit::simd::detail::any_arch(arch{}));
        alignas(64) double a[batch::size], b[batch::size];
        fast.store_aligned(a);
        slow.store_aligned(b);
        for (std::size_t i = 0; i < batch::size; ++i) {
            CHECK(a[i] == double(f[off + i]));
            CHECK(b[i] == double(f[off + i]));
        }
    }
}
#endif

TEST_CASE("float input accumulates in double", "[core][simd]") {
    // In float arithmetic 1e8 + 1 == 1e8, so a float accumulator returns 0 here.
    std::vector<float> a(67, 0.0f), b(67, 1.0f);
    a[0] = 1e8f;
    a[40] = 1.0f;
    a[66] = -1e8f;
    CHECK(geomkit::simd::dot(a.data(), b.data(), 67) == 1.0);
    CHECK(geomkit::simd::scalar::dot(a.data(), b.data(), 67) == 1.0);
    // Squared distance of nearby large floats: float would round the differences' squares.
    std::vector<float> p(33, 30.0f), q(33, 30.0f);
    for (int i = 0; i < 33; ++i) q[std::size_t(i)] = std::nextafter(30.0f, 31.0f);
    const double ulp = double(std::nextafter(30.0f, 31.0f)) - 30.0;
    CHECK(geomkit::simd::squared_distance(p.data(), q.data(), 33) == Approx(33 * ulp * ulp).epsilon(1e-15));
}

// ----------------------------------------------------------------------------- random
TEST_CASE("Philox4x32-10 matches the Random123 known-answer vectors", "[core][random]") {
    using geomkit::philox4x32;
    auto check = [](philox4x32 ctr, std::uint32_t k0, std::uint32_t k1, philox4x32 expect) {
        const philox4x32 got = geomkit::philox4x32_10(ctr, k0, k1);
        for (int i = 0; i < 4; ++i) CHECK(got.v[i] == expect.v[i]);
    };
    check({{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}});
    check({{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}}, 0xffffffffu, 0xffffffffu,
          {{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}});
    check({{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u, 0x299f31d0u,
          {{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}});
}

TEST_CASE("counter_rng streams are pure functions of (seed, stream)", "[core][random]") {
    geomkit::counter_rng a(42, 7), b(42, 7), c(42, 8), d(43, 7);
    int same_c = 0, same_d = 0;
    for (int i = 0; i < 100; ++i) {
        const auto x = a.next_u32();
        CHECK(x == b.next_u32());
        same_c += x == c.next_u32();
        same_d += x == d.next_u32();
    }
    CHECK(same_c < 3);
    CHECK(same_d < 3);
    // Draw i of stream s does not depend on what was drawn from other streams before.
    geomkit::counter_rng fresh(42, 8);
    geomkit::counter_rng again(42, 8);
    for (int i = 0; i < 10; ++i) again.next_u32();
    for (int i = 0; i < 10; ++i) fresh.next_u32();
    CHECK(fresh.next_u64() == again.next_u64());
}

TEST_CASE("uniform_index and next_double are unbiased", "[core][random]") {
    geomkit::counter_rng rng(2026, 0);
    const std::uint32_t n = 10;
    const int draws = 200000;
    std::vector<int> counts(n, 0);
    for (int i = 0; i < draws; ++i) {
        const auto k = rng.uniform_index(n);
        REQUIRE(k < n);
        ++counts[k];
    }
    double chi2 = 0;
    for (auto c : counts) chi2 += (c - draws / 10.0) * (c - draws / 10.0) / (draws / 10.0);
    CHECK(chi2 < 37.0);  // 9 dof: P(chi2 > 37) ~ 2.6e-5
    CHECK(rng.uniform_index(1) == 0u);

    double sum = 0;
    for (int i = 0; i < draws; ++i) {
        const double u = rng.next_double();
        REQUIRE(u >= 0.0);
        REQUIRE(u < 1.0);
        sum += u;
    }
    CHECK(std::fabs(sum / draws - 0.5) < 5 * std::sqrt(1.0 / 12 / draws));
}

TEST_CASE("sample_distinct draws every k-subset equally often", "[core][random]") {
    const std::uint32_t n = 6;
    const int k = 3, draws = 120000;
    std::map<std::vector<std::uint32_t>, int> subsets;
    for (int i = 0; i < draws; ++i) {
        geomkit::counter_rng rng(99, std::uint64_t(i));
        std::uint32_t idx[3];
        geomkit::sample_distinct(rng, n, k, idx);
        std::vector<std::uint32_t> s(idx, idx + k);
        std::sort(s.begin(), s.end());
        REQUIRE(std::unique(s.begin(), s.end()) == s.end());
        REQUIRE(s.back() < n);
        ++subsets[s];
    }
    REQUIRE(subsets.size() == 20u);
    double chi2 = 0;
    const double expect = draws / 20.0;
    for (auto& kv : subsets) chi2 += (kv.second - expect) * (kv.second - expect) / expect;
    CHECK(chi2 < 50.0);  // 19 dof: P(chi2 > 50) ~ 1e-4

    geomkit::counter_rng rng(1, 1);
    std::uint32_t all[5];
    geomkit::sample_distinct(rng, 5, 5, all);
    std::set<std::uint32_t> seen(all, all + 5);
    CHECK(seen.size() == 5u);
    CHECK(*seen.rbegin() == 4u);
}

// ----------------------------------------------------------------------------- parallel
TEST_CASE("parallel_reduce is bitwise identical at 1, 2 and 7 threads", "[core][parallel]") {
    const auto x = random_vector<double>(100003, 5, -1e3, 1e3);
    auto sum_at = [&](int threads) {
        return geomkit::parallel_reduce(
            index_t(x.size()), 977, 0.0,
            [&](index_t b, index_t e) {
                double s = 0;
                for (index_t i = b; i < e; ++i) s += x[std::size_t(i)] * 1.000001;
                return s;
            },
            [](double p, double q) { return p + q; }, threads);
    };
    const double s1 = sum_at(1), s2 = sum_at(2), s7 = sum_at(7);
    CHECK(std::memcmp(&s1, &s2, sizeof s1) == 0);
    CHECK(std::memcmp(&s1, &s7, sizeof s1) == 0);
    geomkit::set_num_threads(3);
    CHECK(geomkit::num_threads() == 3);
    const double s3 = sum_at(0);
    CHECK(std::memcmp(&s1, &s3, sizeof s1) == 0);
    geomkit::set_num_threads(0);
    CHECK(geomkit::num_threads() >= 1);

    // A thread's own setting: only calls from that thread follow it, and 0 hands it back.
    geomkit::set_num_threads(3);
    int inside = 0, after_reset = 0;
    double s_here = 0;
    std::thread([&] {
        geomkit::set_num_threads(1, true);
        inside = geomkit::num_threads();
        s_here = sum_at(0);
        geomkit::set_num_threads(0, true);
        after_reset = geomkit::num_threads();
    }).join();
    CHECK(inside == 1);
    CHECK(after_reset == 3);
    CHECK(geomkit::num_threads() == 3);
    CHECK(std::memcmp(&s1, &s_here, sizeof s1) == 0);
    geomkit::set_num_threads(0);
}

TEST_CASE("parallel_for runs every chunk once and propagates exceptions", "[core][parallel]") {
    std::vector<std::atomic<int>> hits(1000);
    geomkit::parallel_for(1000, [&](index_t c) { hits[std::size_t(c)]++; }, 4);
    for (auto& h : hits) CHECK(h.load() == 1);

    CHECK_THROWS_AS(geomkit::parallel_for(
                        50, [](index_t c) { if (c == 31) throw geomkit::error("chunk 31"); }, 3),
                    geomkit::error);

    // Nested calls run serially inside a worker instead of spawning more threads.
    std::atomic<int> inner_total{0};
    geomkit::parallel_for(4, [&](index_t) {
        geomkit::parallel_for(10, [&](index_t) { inner_total++; }, 8);
    }, 4);
    CHECK(inner_total.load() == 40);
}

// Chunks that each wait for all `threads` of them to be running at once: all meet only when
// parallel_for gives the loop that many threads (the lane schedule of the float Gram needs
// no more, but a pool that ran a pass on fewer threads than asked would fail here).
// Returns how many chunks saw all the others arrive (within 5 s).
static int concurrent_chunks(int threads) {
    std::mutex m;
    std::condition_variable cv;
    int arrived = 0, met = 0;
    geomkit::parallel_for(
        threads,
        [&](index_t) {
            std::unique_lock<std::mutex> lock(m);
            ++arrived;
            cv.notify_all();
            met += cv.wait_for(lock, std::chrono::seconds(5), [&] { return arrived >= threads; });
        },
        threads);
    return met;
}

TEST_CASE("parallel_for's pool: as many threads as asked, pass after pass, and a second caller", "[core][parallel]") {
    for (int threads : {2, 5, 3, 8, 2, 1})
        CHECK(concurrent_chunks(threads) == threads);

    // Two callers at once: one has the pool, the other threads of its own; both run every
    // chunk once, over many passes.
    std::vector<std::atomic<int>> a(3000), b(3000);
    auto loop = [](std::vector<std::atomic<int>>& hits) {
        for (index_t pass = 0; pass < 300; ++pass)
            geomkit::parallel_for(10, [&](index_t c) { hits[std::size_t(pass * 10 + c)]++; }, 3);
    };
    std::thread other([&] { loop(b); });
    loop(a);
    other.join();
    int wrong = 0;
    for (std::size_t i = 0; i < a.size(); ++i) wrong += (a[i].load() != 1) + (b[i].load() != 1);
    CHECK(wrong == 0);
}

#if defined(__unix__) || defined(__APPLE__)
TEST_CASE("parallel_for in a child process forked after the pool started", "[core][parallel]") {
    CHECK(concurrent_chunks(3) == 3);  // the parent's pool is up
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        alarm(20);  // a child left waiting on the parent's threads would hang: end it instead
        std::atomic<int> total{0};
        geomkit::parallel_for(100, [&](index_t c) { total += int(c); }, 3);
        _exit(total.load() == 4950 && concurrent_chunks(3) == 3 ? 0 : 1);
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}
#endif

// ----------------------------------------------------------------------------- statistics
TEST_CASE("running_stats shards merge to the one-pass statistics", "[core][statistics]") {
    const auto x = random_vector<double>(10001, 11, 5.0, 9.0);
    long double mean = 0, m2 = 0;
    for (double v : x) mean += v;
    mean /= x.size();
    for (double v : x) m2 += (v - mean) * (v - mean);

    geomkit::running_stats whole;
    for (double v : x) whole.add(v);
    std::vector<geomkit::running_stats> shards(7);
    for (std::size_t i = 0; i < x.size(); ++i) shards[(i * 31) % 7].add(x[i]);  // uneven shards
    geomkit::running_stats merged;
    merged.merge(geomkit::running_stats{});  // empty merges are no-ops
    for (auto& s : shards) merged.merge(s);

    CHECK(merged.count == 10001);
    CHECK(merged.mean == Approx(double(mean)).epsilon(1e-14));
    CHECK(merged.m2 == Approx(double(m2)).epsilon(1e-12));
    CHECK(whole.m2 == Approx(double(m2)).epsilon(1e-12));
    CHECK(merged.stddev(1) == Approx(std::sqrt(double(m2) / 10000)).epsilon(1e-12));
    CHECK(std::isnan(geomkit::running_stats{}.variance(0)));
}

// issue 28: every view's index arithmetic is checked before use.
TEST_CASE("views whose element offsets overflow index_t are refused", "[core][error]") {
    static const double x[1] = {0};
    const index_t big = std::numeric_limits<index_t>::max() / 2;
    using geomkit_test::require_error;
    require_error([&] { geomkit::detail::check_view(geomkit::matrix_view<const double>(x, 4, 1, big), "f", "X"); },
                  {"geomkit::f: argument 'X'", "fit in index_t"});
    require_error([&] {
        geomkit::detail::check_batch_view(geomkit::batch_view<const double>(x, 4, 1, 1, big, 1), "f", "X");
    }, {"argument 'X'", "fit in index_t"});
    CHECK(geomkit::detail::checked_extent({3, 4}, {10, 1}) == 24);
    CHECK(geomkit::detail::checked_extent({0, 4}, {10, 1}) == 0);
    CHECK(geomkit::detail::checked_extent({index_t(1) << 32, index_t(1) << 32}, {0, 0}) < 0);
    CHECK(geomkit::detail::checked_extent({3, 2}, {big + 1, 1}) < 0);
    CHECK(geomkit::detail::checked_extent({3, 1}, {big, 1}) == 2 * big + 1);  // the largest offset that fits
    // a last offset of exactly INT64_MAX: the element count (offset + 1) does not fit
    // (fuzz_simplex long run: UBSan signed overflow in checked_extent)
    CHECK(geomkit::detail::checked_extent({2, 1}, {std::numeric_limits<index_t>::max(), 1}) < 0);
    CHECK(geomkit::detail::checked_extent({2, 2}, {std::numeric_limits<index_t>::max() - 1, 1}) < 0);
    index_t out = 0;
    CHECK_FALSE(geomkit::detail::product_fits(index_t(1) << 32, index_t(1) << 31, out));
    CHECK(geomkit::detail::product_fits(index_t(1) << 31, index_t(1) << 31, out));
    CHECK(out == index_t(1) << 62);
}
