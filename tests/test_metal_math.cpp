// The Metal kernels (geomkit/metal/kernels.hpp) compiled as C++, and the Metal host layer
// (geomkit/metal/batched.hpp) run on the CPU emulation backend: the same kernel bodies the
// GPU compiles. Checked against independent references: the CPU's counter_rng and
// pentachoron_sample (bit for bit), a long double edge-Gram determinant, the CPU double
// path (simplex_volume_sq, pentachoron_cv, head_entropy, reference_cosine). Also the MSL
// text itself: what it contains and what it must not (see tests/metal_msl_syntax.cmake
// for its compilation as C++14 against a stub metal_stdlib).
#include <geomkit/geomkit.hpp>
#include <geomkit/metal/batched.hpp>
#include <geomkit/metal/kernels.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "testing.hpp"

using geomkit::index_t;
using geomkit_test::require_error;
namespace mk = geomkit::metal::kernels;

namespace {

// vol² of the simplex whose k+1 vertex rows are X[0..k] (d values each): edge Gram in
// long double (float differences and their products are exact there) and Gaussian
// elimination with partial pivoting.
long double reference_volume_sq(const float* X, int k, int d) {
    std::vector<long double> g(std::size_t(k * k));
    for (int i = 0; i < k; ++i)
        for (int j = 0; j < k; ++j) {
            long double s = 0;
            for (int l = 0; l < d; ++l)
                s += ((long double)X[(i + 1) * d + l] - X[l]) * ((long double)X[(j + 1) * d + l] - X[l]);
            g[std::size_t(i * k + j)] = s;
        }
    long double det = 1;
    for (int c = 0; c < k; ++c) {
        int p = c;
        for (int i = c + 1; i < k; ++i)
            if (std::fabs(g[std::size_t(i * k + c)]) > std::fabs(g[std::size_t(p * k + c)])) p = i;
        if (g[std::size_t(p * k + c)] == 0) return 0;
        if (p != c) {
            for (int j = 0; j < k; ++j) std::swap(g[std::size_t(c * k + j)], g[std::size_t(p * k + j)]);
            det = -det;
        }
        det *= g[std::size_t(c * k + c)];
        for (int i = c + 1; i < k; ++i) {
            const long double l = g[std::size_t(i * k + c)] / g[std::size_t(c * k + c)];
            for (int j = c; j < k; ++j) g[std::size_t(i * k + j)] -= l * g[std::size_t(c * k + j)];
        }
    }
    long double f = 1;
    for (int j = 2; j <= k; ++j) f *= j;
    return det / (f * f);
}

double df_volume_sq(const float* X, int k, int d) {
    mk::u32 rows[mk::metal_max_k + 1];
    for (int i = 0; i <= k; ++i) rows[i] = mk::u32(i);
    return mk::to_double(mk::simplex_volume_sq_df(X, rows, k, mk::u32(d)));
}

// k+1 points: centre c (shared across the test) + radius · N(0, 1) per coordinate + offset.
std::vector<float> clustered_simplex(std::mt19937_64& gen, int k, int d, double radius, double offset) {
    std::normal_distribution<double> normal;
    std::vector<double> centre(static_cast<std::size_t>(d));
    for (auto& c : centre) c = normal(gen);
    std::vector<float> X(std::size_t((k + 1) * d));
    for (int i = 0; i <= k; ++i)
        for (int l = 0; l < d; ++l)
            X[std::size_t(i * d + l)] = float(offset + centre[std::size_t(l)] + radius * normal(gen));
    return X;
}

double rel(double a, long double b) { return b == 0 ? std::fabs(a) : double(std::fabs((a - b) / b)); }

}  // namespace

TEST_CASE("metal math: 32-bit limb multiply is the 64-bit product", "[metal][unit]") {
    std::mt19937_64 gen(1);
    const std::uint32_t edges[] = {0u, 1u, 2u, 65535u, 65536u, 0x7fffffffu, 0x80000000u, 0xffffffffu, 0xD2511F53u};
    auto check = [](std::uint32_t a, std::uint32_t b) {
        mk::u32 hi = 0, lo = 0;
        mk::mul_wide(a, b, hi, lo);
        const std::uint64_t p = std::uint64_t(a) * b;
        REQUIRE(hi == std::uint32_t(p >> 32));
        REQUIRE(lo == std::uint32_t(p));
    };
    for (auto a : edges)
        for (auto b : edges) check(a, b);
    for (int t = 0; t < 100000; ++t) check(std::uint32_t(gen()), std::uint32_t(gen()));
}

TEST_CASE("metal math: Philox block equals geomkit::philox4x32_10", "[metal][unit]") {
    std::mt19937_64 gen(2);
    for (int t = 0; t < 20000; ++t) {
        const std::uint64_t seed = gen(), stream = gen(), block = t % 7 == 0 ? 0xffffffffull : gen() >> (t % 64);
        mk::philox_stream s = mk::philox_open(mk::u32(seed), mk::u32(seed >> 32), mk::u32(stream), mk::u32(stream >> 32));
        s.block_lo = mk::u32(block);
        s.block_hi = mk::u32(block >> 32);
        mk::philox_refill(s);
        const geomkit::philox4x32 ref = geomkit::philox4x32_10(
            geomkit::philox4x32{{std::uint32_t(block), std::uint32_t(block >> 32), std::uint32_t(stream),
                                 std::uint32_t(stream >> 32)}},
            std::uint32_t(seed), std::uint32_t(seed >> 32));
        for (int w = 0; w < 4; ++w) REQUIRE(s.words[w] == ref.v[w]);
        // the block counter carries into its high word as the CPU's 64-bit counter does
        REQUIRE((std::uint64_t(s.block_hi) << 32 | s.block_lo) == block + 1);
    }
}

TEST_CASE("metal math: word stream and uniform_index equal counter_rng", "[metal][unit]") {
    std::mt19937_64 gen(3);
    for (int t = 0; t < 2000; ++t) {
        const std::uint64_t seed = gen(), stream = gen();
        geomkit::counter_rng cpu(seed, stream);
        mk::philox_stream s = mk::philox_open(mk::u32(seed), mk::u32(seed >> 32), mk::u32(stream), mk::u32(stream >> 32));
        for (int draw = 0; draw < 40; ++draw) {
            if (draw % 2 == 0) {
                REQUIRE(mk::philox_next(s) == cpu.next_u32());
            } else {
                // small n, n near 2^31 (rejection frequent) and n = 2^32 - 1
                const std::uint32_t n = draw % 3 == 0 ? 0x80000001u : draw % 5 == 0 ? 0xffffffffu : std::uint32_t(1 + gen() % 1000);
                REQUIRE(mk::philox_uniform_index(s, n) == cpu.uniform_index(n));
            }
        }
    }
}

TEST_CASE("metal math: pentachoron draws are geomkit::pentachoron_sample, bit for bit", "[metal][unit]") {
    std::mt19937_64 gen(4);
    const std::uint64_t seeds[] = {0ull, 1ull, 42ull, 0xdeadbeefcafef00dull, 0xffffffffffffffffull};
    const std::uint32_t pools[] = {5u, 6u, 7u, 16u, 100u, 512u, 4096u, 1000003u, 0x80000001u, 0xffffffffu};
    long mismatches = 0, draws = 0;
    for (auto seed : seeds)
        for (auto pool : pools)
            for (int t = 0; t < 2000; ++t) {
                // sample numbers around 0, around 2^32 (the carry into the stream's high word), random
                const std::uint64_t i = t < 700 ? std::uint64_t(t) : t < 1400 ? 0xffffffffull - 350 + std::uint64_t(t - 700) : gen();
                std::uint32_t a[5], b[5];
                geomkit::pentachoron_sample(seed, i, pool, a);
                mk::pentachoron_draw(mk::u32(seed), mk::u32(seed >> 32), mk::u32(i), mk::u32(i >> 32), pool, b);
                for (int q = 0; q < 5; ++q) mismatches += a[q] != b[q];
                ++draws;
            }
    INFO(draws << " draws");
    REQUIRE(mismatches == 0);
}

TEST_CASE("metal math: the pentachoron kernel's sample numbering carries into the high word", "[metal][unit]") {
    // first = 2^32 - 3, threads 0..5 must be samples 2^32 - 3 .. 2^32 + 2
    std::vector<float> X(std::size_t(9 * 4));
    std::mt19937_64 gen(5);
    std::normal_distribution<double> normal;
    for (auto& x : X) x = float(normal(gen));
    const std::uint64_t first = 0xfffffffdull, seed = 77;
    mk::pentachoron_draw_params p{mk::u32(seed), mk::u32(seed >> 32), mk::u32(first), mk::u32(first >> 32), 6u, 9u, 4u, 0u};
    std::vector<mk::scaled_df> out(6);
    for (mk::u32 gid = 0; gid < 8; ++gid) mk::geomkit_pentachoron_volume_sq(X.data(), out.data(), p, gid);
    for (std::uint64_t t = 0; t < 6; ++t) {
        std::uint32_t idx[5];
        geomkit::pentachoron_sample(seed, first + t, 9, idx);
        std::vector<float> S;
        for (int i = 0; i < 5; ++i) S.insert(S.end(), X.begin() + idx[i] * 4, X.begin() + idx[i] * 4 + 4);
        CHECK(rel(mk::to_double(out[t]), reference_volume_sq(S.data(), 4, 4)) < 1e-10);
    }
}

TEST_CASE("metal math: float-float primitives", "[metal][unit]") {
    std::mt19937_64 gen(6);
    std::uniform_real_distribution<double> u(-1, 1);
    std::uniform_int_distribution<int> ex(-40, 40);
    for (int t = 0; t < 100000; ++t) {
        const float a = float(std::ldexp(u(gen), ex(gen))), b = float(std::ldexp(u(gen), ex(gen)));
        const mk::df64 s = mk::df_two_sum(a, b);
        REQUIRE(double(s.hi) + double(s.lo) == double(a) + double(b));  // exact in double here
        const mk::df64 p = mk::df_two_prod(a, b);
        REQUIRE(double(p.hi) + double(p.lo) == double(a) * double(b));
        const mk::df64 x = mk::df_two_prod(a, float(u(gen))), y = mk::df_two_prod(b, float(u(gen)));
        const double xd = double(x.hi) + double(x.lo), yd = double(y.hi) + double(y.lo);
        const mk::df64 sum = mk::df_add(x, y), prod = mk::df_mul(x, y), quot = mk::df_div(x, y);
        const double u2 = std::ldexp(1.0, -48);
        if (xd + yd != 0) REQUIRE(std::fabs((double(sum.hi) + double(sum.lo)) - (xd + yd)) <= 3 * u2 * std::fabs(xd + yd));
        REQUIRE(std::fabs((double(prod.hi) + double(prod.lo)) - xd * yd) <= 6 * u2 * std::fabs(xd * yd));
        if (yd != 0) REQUIRE(std::fabs((double(quot.hi) + double(quot.lo)) - xd / yd) <= 16 * u2 * std::fabs(xd / yd));
    }
}

// The accuracy claim of kernels.hpp / README: relative error of vol² from float32 input,
// against the long double reference, on random, clustered and offset simplices.
// d = k = 4 is left out: random simplices in R^4 can be nearly flat, and then vol² is
// ill-conditioned for any method (the CPU's double path errs by 1e4 relative on one in
// 2000 of them); the float-float error is about 2^9 times the double path's there.
TEST_CASE("metal math: pentachoron vol² within 1e-11 relative for d >= 8, 1e-9 for d = 5", "[metal][unit]") {
    std::mt19937_64 gen(7);
    double worst = 0;
    for (int d : {5, 8, 64, 512, 4096})
        for (double radius : {1.0, 1e-3, 1e-4, 1e-5})
            for (double offset : {0.0, 30.0}) {
                const int trials = d >= 4096 ? 20 : 60;
                for (int t = 0; t < trials; ++t) {
                    const auto X = clustered_simplex(gen, 4, d, radius, offset);
                    const long double ref = reference_volume_sq(X.data(), 4, d);
                    const double e = rel(df_volume_sq(X.data(), 4, d), ref);
                    INFO("d " << d << " radius " << radius << " offset " << offset);
                    REQUIRE(e < (d == 5 ? 1e-9 : 1e-11));
                    if (d >= 8) worst = std::max(worst, e);
                }
            }
    WARN("worst relative error of the float-float pentachoron vol² for d >= 8: " << worst);
}

TEST_CASE("metal math: vol² for k = 1..8 against the CPU double path", "[metal][unit]") {
    std::mt19937_64 gen(8);
    for (int k = 1; k <= mk::metal_max_k; ++k)
        for (int d : {k, k + 1, 100, 1000})
            for (double radius : {1.0, 1e-4}) {
                const auto X = clustered_simplex(gen, k, d, radius, 3.0);
                const long double ref = reference_volume_sq(X.data(), k, d);
                const double cpu = geomkit::simplex_volume_sq(geomkit::matrix_view<const float>(X.data(), k + 1, d));
                INFO("k " << k << " d " << d << " radius " << radius);
                CHECK(rel(df_volume_sq(X.data(), k, d), ref) < 1e-10);
                CHECK(rel(cpu, ref) < 1e-12);
            }
}

TEST_CASE("metal math: degenerate and out-of-range simplices", "[metal][unit]") {
    std::mt19937_64 gen(9);
    SECTION("a repeated vertex gives exactly 0, d < k gives exactly 0") {
        auto X = clustered_simplex(gen, 4, 16, 1.0, 0.0);
        std::copy(X.begin() + 2 * 16, X.begin() + 3 * 16, X.begin() + 4 * 16);
        CHECK(df_volume_sq(X.data(), 4, 16) == 0.0);
        std::copy(X.begin(), X.begin() + 16, X.begin() + 16);
        CHECK(df_volume_sq(X.data(), 4, 16) == 0.0);
        const auto Y = clustered_simplex(gen, 4, 3, 1.0, 0.0);
        CHECK(df_volume_sq(Y.data(), 4, 3) == 0.0);
        std::vector<float> same(5 * 8, 2.5f);
        CHECK(df_volume_sq(same.data(), 4, 8) == 0.0);
    }
    SECTION("coordinates so large or small that float Gram entries would overflow or underflow") {
        for (double scale : {1e30, 1e25, 1e-20, 1e-30, 1e-36})
            for (double radius : {1.0, 1e-3}) {
                auto X = clustered_simplex(gen, 4, 64, radius, 0.0);
                for (auto& x : X) x = float(double(x) * scale);
                const long double ref = reference_volume_sq(X.data(), 4, 64);
                INFO("scale " << scale << " radius " << radius);
                REQUIRE(std::isfinite(double(ref)));
                CHECK(rel(df_volume_sq(X.data(), 4, 64), ref) < 1e-10);
            }
    }
    SECTION("tiny simplices at a large offset (the edge rescale)") {
        auto X = clustered_simplex(gen, 4, 64, 1e-6, 1000.0);
        const long double ref = reference_volume_sq(X.data(), 4, 64);
        CHECK(rel(df_volume_sq(X.data(), 4, 64), ref) < 1e-10);
    }
}

TEST_CASE("metal emulation: batched simplex volumes equal the CPU's", "[metal][unit]") {
    std::mt19937_64 gen(10);
    geomkit::metal::cpu_emulation emu;
    const index_t B = 300, V = 5, d = 97, stride = 101;  // strided rows: packing is exercised
    std::vector<float> data(std::size_t(B * V * stride));
    std::normal_distribution<double> normal;
    for (auto& x : data) x = float(30.0 + 1e-3 * normal(gen));
    const geomkit::batch_view<const float> s(data.data(), B, V, d, V * stride, stride);
    const auto v2 = emu.simplex_volume_sq(s);
    const auto v = emu.simplex_volume(s);
    std::vector<double> cpu2(static_cast<std::size_t>(B)), cpu(static_cast<std::size_t>(B));
    geomkit::simplex_volume_sq(s, cpu2.data());
    geomkit::simplex_volume(s, cpu.data());
    REQUIRE(v2.size() == std::size_t(B));
    for (index_t b = 0; b < B; ++b) {
        CHECK(std::fabs(v2[std::size_t(b)] - cpu2[std::size_t(b)]) <= 1e-10 * cpu2[std::size_t(b)]);
        CHECK(std::fabs(v[std::size_t(b)] - cpu[std::size_t(b)]) <= 1e-10 * cpu[std::size_t(b)]);
    }
    CHECK(emu.simplex_volume_sq(geomkit::batch_view<const float>(data.data(), 0, 5, d)).empty());
}

TEST_CASE("metal emulation: errors of the batched simplex volumes", "[metal][unit]") {
    geomkit::metal::cpu_emulation emu;
    std::vector<float> x(10 * 4, 1.0f);
    require_error([&] { emu.simplex_volume_sq(geomkit::batch_view<const float>(x.data(), 1, 10, 4)); },
                  {"metal::simplex_volume_sq", "'simplices'", "at most 9 vertices", "10 vertices"});
    require_error([&] { emu.simplex_volume_sq(geomkit::batch_view<const float>(x.data(), 1, 1, 4)); },
                  {"'simplices'", "at least 2 vertices"});
    x[7] = NAN;
    require_error([&] { emu.simplex_volume_sq(geomkit::batch_view<const float>(x.data(), 2, 5, 4)); },
                  {"'simplices'", "finite", "vertex 1, coordinate 3 of simplex 0"});
}

TEST_CASE("metal emulation: pentachoron CV equals geomkit::pentachoron_cv", "[metal][unit]") {
    std::mt19937_64 gen(11);
    std::normal_distribution<double> normal;
    geomkit::metal::cpu_emulation emu;
    for (double radius : {1.0, 3e-2, 1e-4})
        for (index_t n : {5, 40, 700}) {
            const index_t d = 64;
            std::vector<float> X(std::size_t(n * d));
            for (auto& x : X) x = float(30.0 + radius * normal(gen));
            const geomkit::matrix_view<const float> xv(X.data(), n, d);
            for (auto params : {geomkit::pentachoron_params::notebook(), geomkit::pentachoron_params::probe(n)}) {
                params.seed = 1234567890123ull;
                params.n_samples = 777;
                params.method = geomkit::pentachoron_method::direct;
                const auto cpu = geomkit::pentachoron_cv(xv, params);
                const auto gpu = emu.pentachoron_cv(xv, params);
                INFO("n " << n << " radius " << radius);
                REQUIRE(gpu.n_valid == cpu.n_valid);
                REQUIRE(gpu.n_samples == cpu.n_samples);
                REQUIRE(bool(gpu.cv) == bool(cpu.cv));
                REQUIRE(gpu.in_band == cpu.in_band);
                if (cpu.cv) CHECK(std::fabs(*gpu.cv - *cpu.cv) <= 1e-10 * *cpu.cv);
                if (cpu.n_valid > 0) CHECK(std::fabs(gpu.mean - cpu.mean) <= 1e-10 * cpu.mean);
                // shards cut at a chunk boundary and elsewhere merge to the whole job
                geomkit::running_stats merged = emu.pentachoron_partial(xv, params, 0, 256);
                merged.merge(emu.pentachoron_partial(xv, params, 256, 300));
                merged.merge(emu.pentachoron_partial(xv, params, 300, 777));
                const auto whole = emu.pentachoron_partial(xv, params, 0, 777);
                CHECK(merged.count == whole.count);
                if (whole.count > 0) CHECK(std::fabs(merged.mean - whole.mean) <= 1e-13 * whole.mean);
            }
        }
    std::vector<float> four(4 * 3, 1.0f);
    CHECK_FALSE(emu.pentachoron_cv(geomkit::matrix_view<const float>(four.data(), 4, 3)).cv);
    require_error([&] { emu.pentachoron_partial(geomkit::matrix_view<const float>(four.data(), 4, 3), {}, 0, 2000); },
                  {"metal::pentachoron_partial", "sample_begin, sample_end"});
}

TEST_CASE("metal emulation: head entropy equals geomkit::head_entropy", "[metal][unit]") {
    std::mt19937_64 gen(12);
    std::normal_distribution<double> normal;
    geomkit::metal::cpu_emulation emu;
    for (double scale : {1.0, 1e30, 1e-30}) {
        const index_t H = 6, S = 130, D = 64;
        std::vector<float> keys(std::size_t(H * S * D));
        for (auto& x : keys) x = float(scale * normal(gen));
        for (index_t c = 0; c < D; ++c) keys[std::size_t(2 * S * D + 5 * D + c)] = 0.0f;  // a zero row
        const auto e = emu.head_entropy(geomkit::batch_view<const float>(keys.data(), H, S, D));
        for (index_t h = 0; h < H; ++h) {
            const double ref = geomkit::head_entropy(keys.data() + h * S * D, S, D);
            INFO("scale " << scale << " head " << h);
            CHECK(std::fabs(e[std::size_t(h)] - ref) <= 1e-13);
        }
    }
    std::vector<float> one(8, 1.0f);
    CHECK(emu.head_entropy(geomkit::batch_view<const float>(one.data(), 2, 1, 4)) == std::vector<double>{0.0, 0.0});
    one[5] = INFINITY;
    require_error([&] { emu.head_entropy(geomkit::batch_view<const float>(one.data(), 1, 2, 4)); },
                  {"metal::head_entropy", "'keys'", "finite", "[0, 1, 1]"});
}

TEST_CASE("metal emulation: cosines equal the reference cosine", "[metal][unit]") {
    std::mt19937_64 gen(13);
    std::normal_distribution<double> normal;
    geomkit::metal::cpu_emulation emu;
    const index_t n = 50, D = 300;
    std::vector<float> a(std::size_t(n * D)), b(std::size_t(n * D));
    for (index_t i = 0; i < n * D; ++i) {
        a[std::size_t(i)] = float(normal(gen) * (i / D == 7 ? 1e32 : 1.0));
        b[std::size_t(i)] = float(i / D == 3 ? 0.0 : a[std::size_t(i)] + (i / D % 2 ? 1e-3 : 1.0) * normal(gen));
    }
    const auto c = emu.cosine(geomkit::matrix_view<const float>(a.data(), n, D), geomkit::matrix_view<const float>(b.data(), n, D));
    for (index_t i = 0; i < n; ++i) {
        const double ref = geomkit::detail::reference_cosine(a.data() + i * D, 0, b.data() + i * D, 0, 1, D);
        INFO("row " << i);
        CHECK(std::fabs(c[std::size_t(i)] - ref) <= 1e-13);
    }
    CHECK(c[3] == 0.0);
    require_error([&] { emu.cosine(geomkit::matrix_view<const float>(a.data(), n, D), geomkit::matrix_view<const float>(b.data(), n - 1, D)); },
                  {"metal::cosine", "'b'", "shape of 'a'"});
}

TEST_CASE("metal source: the MSL text is the compiled text, with every entry point", "[metal][unit]") {
    const std::string shared = mk::shared_source;
    const std::string program = mk::msl_program();
    REQUIRE(shared.size() > 1000);
    REQUIRE(program == std::string(mk::msl_prelude) + shared + "\n");
    for (const char* name : {mk::simplex_volume_sq_kernel::name, mk::pentachoron_volume_sq_kernel::name,
                             mk::row_squared_norms_kernel::name, mk::row_dot_products_kernel::name}) {
        INFO(name);
        CHECK(shared.find(std::string("GEOMKIT_MSL_KERNEL void ") + name + "(") != std::string::npos);
    }
    // The stringified tokens of functions this file calls as C++:
    CHECK(shared.find("inline df64 df_two_prod(float a, float b) { float p = a * b; return df_make(p, gk_fma(a, b, -p)); }") !=
          std::string::npos);
    CHECK(shared.find("mul_wide(3528531795u, c0, hi0, lo0);") != std::string::npos);  // Philox M0 = 0xD2511F53
    CHECK(3528531795u == 0xD2511F53u);
    CHECK(3449720151u == 0xCD9E8D57u);
    CHECK(2654435769u == 0x9E3779B9u);
    CHECK(3144134277u == 0xBB67AE85u);
    // What MSL cannot take: no standard library, no double, no 64-bit integers, no
    // preprocessor lines inside the shared text.
    for (const char* banned : {"std::", "double", "long", "uint64", "size_t", "#", "[&", "throw"}) {
        INFO(banned);
        CHECK(shared.find(banned) == std::string::npos);
    }
    // Every dialect name the text uses is defined by the MSL prelude.
    for (const char* name : {"GEOMKIT_MSL_KERNEL", "GEOMKIT_MSL_DEVICE", "GEOMKIT_MSL_THREAD", "GEOMKIT_MSL_CONSTANT",
                             "GEOMKIT_MSL_BUFFER(", "GEOMKIT_MSL_THREAD_ID", "u32", "gk_fma", "gk_float_bits",
                             "gk_bits_float"}) {
        INFO(name);
        CHECK(shared.find(name) != std::string::npos);
        CHECK(std::string(mk::msl_prelude).find(name) != std::string::npos);
    }
    CHECK(shared.size() < 65536);  // the length C++ compilers must accept for a literal
}
