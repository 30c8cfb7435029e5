// bone_orientation and head_entropy: against a scalar port of the reference algorithm
// written here pair by pair, closed forms, hand-derived missing-layer cases, every error
// path, 16-bit keys and thread-count invariance. The Go binary itself is compared by
// bo_reference_check (a separate CTest).
#include <geomkit/bone_orientation.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "testing.hpp"

using geomkit::index_t;
using geomkit_test::require_error;

namespace {

// ------------------------------------------------------------------ scalar port
// The reference algorithm transcribed directly: nested vectors, a nil layer as an empty
// optional, every cosine recomputed pair by pair in the reference order.
using head_t = std::vector<float>;              // S*D values
using layer_t = std::vector<head_t>;            // heads (may be fewer than H)
struct port_snapshot {
    int L, H, S, D;
    std::vector<layer_t> keys;
    std::vector<bool> missing;
};

double port_cosine(const float* a, const float* b, std::size_t n) {
    if (n == 0) return 0;
    double dot = 0, na = 0, nb = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const double x = a[i], y = b[i];
        dot += geomkit::detail::unfused_product(x, y);
        na += geomkit::detail::unfused_product(x, x);
        nb += geomkit::detail::unfused_product(y, y);
    }
    const double denom = std::sqrt(na) * std::sqrt(nb);
    return denom == 0 ? 0 : dot / denom;
}

double port_entropy(const float* head, int S, int D) {
    if (S == 0 || D == 0) return 0;
    std::vector<double> m(std::size_t(S), 0.0);
    double total = 0;
    for (int p = 0; p < S; ++p) {
        double s = 0;
        for (int d = 0; d < D; ++d) s += double(head[p * D + d]) * double(head[p * D + d]);
        m[std::size_t(p)] = std::sqrt(s);
        total += m[std::size_t(p)];
    }
    if (total == 0) return 0;
    double e = 0;
    for (double v : m) {
        const double p = v / total;
        if (p > 0) e -= p * std::log2(p);
    }
    const double mx = std::log2(double(S));
    return mx == 0 ? 0 : e / mx;
}

geomkit::bone_orientation_result port(const port_snapshot& s) {
    geomkit::bone_orientation_result r;
    if (s.L == 0) return r;
    r.layer_coherence.assign(std::size_t(s.L), 0.0);
    r.layer_cross_alignment.assign(std::size_t(std::max(0, s.L - 1)), 0.0);
    const std::size_t n = std::size_t(s.S) * std::size_t(s.D);
    double total_coh = 0, total_ent = 0, total_cross = 0;
    long locked = 0, pairs_all = 0;
    if (s.H > 4) {
        std::vector<std::vector<float>> means(std::size_t(s.L));
        std::vector<bool> has_mean(std::size_t(s.L), false);
        for (int l = 0; l < s.L; ++l) {
            if (s.missing[std::size_t(l)]) continue;
            const layer_t& heads = s.keys[std::size_t(l)];
            if (!heads.empty()) {
                std::vector<float> m(n, 0.0f);
                for (const auto& h : heads)
                    for (std::size_t i = 0; i < n; ++i) m[i] += h[i];
                for (auto& v : m) v /= float(heads.size());
                means[std::size_t(l)] = m;
                has_mean[std::size_t(l)] = true;
            }
            double coh = 0;
            int pairs = 0;
            for (std::size_t i = 0; i < heads.size(); ++i)
                for (std::size_t j = i + 1; j < heads.size(); ++j) {
                    const double c = port_cosine(heads[i].data(), heads[j].data(), n);
                    coh += c;
                    ++pairs;
                    locked += c >= 0.7;
                    ++pairs_all;
                }
            if (pairs > 0) coh /= pairs;
            r.layer_coherence[std::size_t(l)] = coh;
            total_coh += coh;
            for (const auto& h : heads) total_ent += port_entropy(h.data(), s.S, s.D);
        }
        for (int l = 0; l + 1 < s.L; ++l) {
            if (!has_mean[std::size_t(l)] || !has_mean[std::size_t(l + 1)]) continue;
            const double a = port_cosine(means[std::size_t(l)].data(), means[std::size_t(l + 1)].data(), n);
            r.layer_cross_alignment[std::size_t(l)] = a;
            total_cross += a;
            r.joint_collapse_count += a < 0.5;
        }
        r.mean_coherence = total_coh / s.L;
        if (s.L > 1) r.mean_cross_alignment = total_cross / (s.L - 1);
        if (s.L * s.H > 0) r.mean_head_entropy = total_ent / (s.L * s.H);
    } else {
        r.gqa = true;
        if (s.S < 2 || s.D == 0) return r;
        for (int l = 0; l < s.L; ++l) {
            if (s.missing[std::size_t(l)] || s.keys[std::size_t(l)].empty()) continue;
            const float* h = s.keys[std::size_t(l)][0].data();
            double sum = 0;
            long pairs = 0;
            for (int i = 0; i < s.S; ++i)
                for (int j = i + 1; j < s.S; ++j) {
                    const double c = port_cosine(h + i * s.D, h + j * s.D, std::size_t(s.D));
                    sum += c;
                    ++pairs;
                    locked += c < 0.3;
                    ++pairs_all;
                }
            const double diff = pairs > 0 ? 1.0 - sum / double(pairs) : 0.0;
            r.layer_coherence[std::size_t(l)] = diff;
            total_coh += diff;
            total_ent += port_entropy(h, s.S, s.D);
        }
        for (int l = 0; l + 1 < s.L; ++l) {
            const double sm = 1.0 - std::fabs(r.layer_coherence[std::size_t(l + 1)] - r.layer_coherence[std::size_t(l)]);
            r.layer_cross_alignment[std::size_t(l)] = sm;
            r.joint_collapse_count += sm < 0.5;
        }
        for (double v : r.layer_cross_alignment) total_cross += v;
        r.mean_coherence = total_coh / s.L;
        if (!r.layer_cross_alignment.empty()) r.mean_cross_alignment = total_cross / double(r.layer_cross_alignment.size());
        r.mean_head_entropy = total_ent / s.L;
    }
    if (pairs_all > 0) r.phase_lock_score = double(locked) / double(pairs_all);
    return r;
}

// A random snapshot in both forms: the port's nested vectors and one geomkit buffer.
struct fixture {
    port_snapshot ref;
    std::vector<float> buffer;
    std::vector<geomkit::key_layer<float>> layers;
};

fixture random_fixture(int L, int H, int S, int D, std::uint64_t seed, double shared = 0.5) {
    fixture f{{L, H, S, D, {}, std::vector<bool>(std::size_t(L), false)}, {}, {}};
    f.buffer = geomkit_test::random_vector<float>(std::size_t(L) * H * S * D, seed);
    const auto common = geomkit_test::random_vector<float>(std::size_t(D), seed + 1);
    for (std::size_t i = 0; i < f.buffer.size(); ++i) f.buffer[i] += float(shared) * common[i % std::size_t(std::max(D, 1))];
    for (int l = 0; l < L; ++l) {
        layer_t heads;
        for (int h = 0; h < H; ++h) {
            const float* p = f.buffer.data() + (std::size_t(l) * H + h) * S * D;
            heads.emplace_back(p, p + std::size_t(S) * D);
        }
        f.ref.keys.push_back(heads);
        f.layers.push_back({f.buffer.data() + std::size_t(l) * H * S * D, H, index_t(S) * D, D});
    }
    return f;
}

void require_close(double ours, double ref) {
    INFO("geomkit " << ours << " reference port " << ref);
    CHECK(std::fabs(ours - ref) <= 1e-9 * std::max(std::fabs(ours), std::fabs(ref)) + 1e-12);
}

void require_matches(const geomkit::bone_orientation_result& a, const geomkit::bone_orientation_result& b) {
    CHECK(a.gqa == b.gqa);
    CHECK(a.joint_collapse_count == b.joint_collapse_count);
    CHECK(a.phase_lock_score == b.phase_lock_score);
    CHECK(a.composite() == b.composite());
    require_close(a.mean_coherence, b.mean_coherence);
    require_close(a.mean_cross_alignment, b.mean_cross_alignment);
    require_close(a.mean_head_entropy, b.mean_head_entropy);
    REQUIRE(a.layer_coherence.size() == b.layer_coherence.size());
    REQUIRE(a.layer_cross_alignment.size() == b.layer_cross_alignment.size());
    for (std::size_t i = 0; i < a.layer_coherence.size(); ++i) require_close(a.layer_coherence[i], b.layer_coherence[i]);
    for (std::size_t i = 0; i < a.layer_cross_alignment.size(); ++i)
        require_close(a.layer_cross_alignment[i], b.layer_cross_alignment[i]);
}

bool identical(const geomkit::bone_orientation_result& a, const geomkit::bone_orientation_result& b) {
    return a.mean_coherence == b.mean_coherence && a.mean_cross_alignment == b.mean_cross_alignment &&
           a.mean_head_entropy == b.mean_head_entropy && a.phase_lock_score == b.phase_lock_score &&
           a.joint_collapse_count == b.joint_collapse_count && a.layer_coherence == b.layer_coherence &&
           a.layer_cross_alignment == b.layer_cross_alignment && a.gqa == b.gqa;
}

}  // namespace

// ----------------------------------------------------------------------------- reference port
TEST_CASE("bone_orientation matches a pair-by-pair port of the reference", "[bone_orientation]") {
    struct shape { int L, H, S, D; double shared; };
    const shape shapes[] = {{5, 8, 23, 19, 0.5}, {4, 5, 30, 8, 2.0}, {4, 4, 30, 8, 2.0}, {6, 1, 150, 33, 0.7},
                            {3, 2, 200, 16, 0.2}, {1, 6, 9, 5, 0.5},  {1, 1, 9, 5, 0.5},  {3, 8, 1, 7, 0.5},
                            {3, 2, 1, 7, 0.5},   {3, 8, 6, 0, 0.5},  {3, 2, 6, 0, 0.5},  {2, 12, 40, 64, 4.0}};
    std::uint64_t seed = 100;
    for (const auto& s : shapes) {
        INFO("L=" << s.L << " H=" << s.H << " S=" << s.S << " D=" << s.D);
        const fixture f = random_fixture(s.L, s.H, s.S, s.D, seed++, s.shared);
        require_matches(geomkit::bone_orientation(f.buffer.data(), s.L, s.H, s.S, s.D), port(f.ref));
    }
}

TEST_CASE("missing layers and short layers follow the reference", "[bone_orientation]") {
    for (int H : {8, 2}) {
        INFO("H=" << H);
        fixture f = random_fixture(5, H, 20, 6, 7);
        // layer 1 missing (nil), layer 3 holds fewer heads than the snapshot claims.
        f.layers[1].data = nullptr;
        f.ref.missing[1] = true;
        f.layers[3].heads = H > 4 ? 3 : 1;
        f.ref.keys[3].resize(std::size_t(f.layers[3].heads));
        const geomkit::key_snapshot<float> snap(f.layers.data(), 5, H, 20, 6);
        const auto r = geomkit::bone_orientation(snap);
        require_matches(r, port(f.ref));
        CHECK(r.layer_coherence[1] == 0.0);
        if (H > 4) {
            // Hand-derived: pairs touching the nil layer are skipped, not counted as collapses.
            CHECK(r.layer_cross_alignment[0] == 0.0);
            CHECK(r.layer_cross_alignment[1] == 0.0);
            CHECK(r.layer_cross_alignment[2] != 0.0);
        } else {
            // Position-wise: the missing layer's differentiation is 0, so smoothness drops
            // to 1 - |d| next to it.
            CHECK(r.layer_cross_alignment[0] == Approx(1.0 - r.layer_coherence[0]).epsilon(1e-15));
            CHECK(r.layer_cross_alignment[1] == Approx(1.0 - r.layer_coherence[2]).epsilon(1e-15));
        }
    }
    // A layer present with no heads behaves as missing in both modes.
    fixture f = random_fixture(3, 6, 10, 4, 9);
    f.layers[2].heads = 0;
    f.ref.keys[2].clear();
    require_matches(geomkit::bone_orientation(geomkit::key_snapshot<float>(f.layers.data(), 3, 6, 10, 4)), port(f.ref));
}

TEST_CASE("H = 4 is position-wise and H = 5 multi-head; modes can be forced", "[bone_orientation]") {
    const fixture f = random_fixture(3, 5, 16, 8, 11);
    const auto five = geomkit::bone_orientation(f.buffer.data(), 3, 5, 16, 8);
    CHECK_FALSE(five.gqa);
    const geomkit::key_snapshot<float> four(f.buffer.data(), 3, 4, 16, 8, 5 * 16 * 8, 16 * 8, 8);  // 4 of 5 heads
    CHECK(geomkit::bone_orientation(four).gqa);
    geomkit::bone_orientation_options o;
    o.mode = geomkit::bo_mode::multi_head;
    CHECK_FALSE(geomkit::bone_orientation(four, o).gqa);
    o.mode = geomkit::bo_mode::position_wise;
    CHECK(geomkit::bone_orientation(f.buffer.data(), 3, 5, 16, 8, o).gqa);
}

// ----------------------------------------------------------------------------- closed forms
TEST_CASE("closed forms: orthogonal, identical, uniform and single-position keys", "[bone_orientation]") {
    const int S = 8, D = 8;
    // Position-wise: one-hot rows are mutually orthogonal, cosine 0: differentiation 1,
    // every pair below 0.3, uniform norms give entropy 1.
    std::vector<float> onehot(std::size_t(2 * S * D), 0.0f);
    for (int l = 0; l < 2; ++l)
        for (int p = 0; p < S; ++p) onehot[std::size_t((l * S + p) * D + p)] = 2.0f;
    auto r = geomkit::bone_orientation(onehot.data(), 2, 1, S, D);
    CHECK(r.layer_coherence[0] == 1.0);
    CHECK(r.phase_lock_score == 1.0);
    CHECK(r.mean_head_entropy == Approx(1.0).epsilon(1e-15));
    CHECK(r.joint_collapse_count == 0);
    // Multi-head: 6 identical heads: coherence 1, all pairs phase-locked; identical layers
    // align with cosine 1.
    std::vector<float> same(std::size_t(2 * 6 * S * D));
    const auto base = geomkit_test::random_vector<float>(std::size_t(S * D), 3);
    for (std::size_t i = 0; i < same.size(); ++i) same[i] = base[i % base.size()];
    r = geomkit::bone_orientation(same.data(), 2, 6, S, D);
    CHECK(r.mean_coherence == Approx(1.0).epsilon(1e-14));
    CHECK(r.phase_lock_score == 1.0);
    CHECK(r.mean_cross_alignment == Approx(1.0).epsilon(1e-14));
    // head_entropy: uniform norms -> 1; one non-zero position -> 0; all zero -> 0.
    std::vector<float> keys(std::size_t(S * D), 0.0f);
    for (int p = 0; p < S; ++p) keys[std::size_t(p * D + (p % D))] = (p % 2 ? -3.0f : 3.0f);
    CHECK(geomkit::head_entropy(keys.data(), S, D) == Approx(1.0).epsilon(1e-15));
    std::fill(keys.begin(), keys.end(), 0.0f);
    CHECK(geomkit::head_entropy(keys.data(), S, D) == 0.0);
    keys[5] = 1.5f;
    CHECK(geomkit::head_entropy(keys.data(), S, D) == 0.0);
    CHECK(geomkit::head_entropy(keys.data(), 1, D) == 0.0);
    CHECK(geomkit::head_entropy(keys.data(), S, 0) == 0.0);
    // Two positions with norms 1 and 3: p = 1/4, 3/4.
    std::vector<double> two = {1.0, 0.0, 0.0, 3.0};
    const double expected = -(0.25 * std::log2(0.25) + 0.75 * std::log2(0.75));
    CHECK(geomkit::head_entropy(two.data(), 2, 2) == Approx(expected).epsilon(1e-15));
}

TEST_CASE("composite truncates then clamps as Go's int()", "[bone_orientation]") {
    geomkit::bone_orientation_result r;
    CHECK(r.composite() == 1000);  // only the stability term: 0.1 * 1e4
    r.mean_coherence = 1.0;
    r.mean_cross_alignment = 1.0;
    r.phase_lock_score = 1.0;
    r.mean_head_entropy = 1.0;
    CHECK(r.composite() == 10000);
    r.mean_coherence = 5.0;
    CHECK(r.composite() == 10000);
    r.mean_coherence = -5.0;
    CHECK(r.composite() == 0);
    r.mean_coherence = std::numeric_limits<double>::quiet_NaN();
    CHECK(r.composite() == 0);
    // 0.99999 * 1e4 = 9999.9 truncates to 9999.
    r = {};
    r.gqa = true;
    r.mean_coherence = 0.1 + 0.6 * 0.5;
    r.layer_coherence = {r.mean_coherence};
    r.joint_collapse_count = 6;  // stability clamps at 0
    CHECK(r.features()[4] == 0.0);
    CHECK(r.composite() == int((0.45 * ((r.mean_coherence - 0.1) / 0.6)) * 10000.0));
    CHECK(geomkit::bone_orientation_result::feature_labels()[4] == std::string("joint_stability"));
}

// ----------------------------------------------------------------------------- options
TEST_CASE("all_heads pools every head's position pairs; H = 1 is the reference", "[bone_orientation]") {
    fixture f = random_fixture(3, 2, 40, 8, 21);
    geomkit::bone_orientation_options all;
    all.all_heads = true;
    const auto r = geomkit::bone_orientation(f.buffer.data(), 3, 2, 40, 8, all);
    // Hand-combined from single-head runs of each head.
    double diff0 = 0, entropy = 0;
    for (int h = 0; h < 2; ++h) {
        const geomkit::key_snapshot<float> one(f.buffer.data() + h * 40 * 8, 3, 1, 40, 8, 2 * 40 * 8, 0, 8);
        const auto rh = geomkit::bone_orientation(one);
        diff0 += rh.layer_coherence[0] / 2;
        entropy += rh.mean_head_entropy * 3;
    }
    CHECK(r.layer_coherence[0] == Approx(diff0).epsilon(1e-13));
    CHECK(r.mean_head_entropy == Approx(entropy / 6).epsilon(1e-13));
    const fixture g = random_fixture(3, 1, 40, 8, 22);
    CHECK(identical(geomkit::bone_orientation(g.buffer.data(), 3, 1, 40, 8, all),
                    geomkit::bone_orientation(g.buffer.data(), 3, 1, 40, 8)));
}

TEST_CASE("results are bitwise identical at 1 and 2 threads", "[bone_orientation][parallel]") {
    for (int H : {8, 2}) {
        const fixture f = random_fixture(4, H, 300, 24, 31);
        geomkit::bone_orientation_options one, two;
        one.threads = 1;
        two.threads = 2;
        one.all_heads = two.all_heads = true;
        CHECK(identical(geomkit::bone_orientation(f.buffer.data(), 4, H, 300, 24, one),
                        geomkit::bone_orientation(f.buffer.data(), 4, H, 300, 24, two)));
    }
}

TEST_CASE("double keys near the ends of the range give the result of the unit-scale keys", "[bone_orientation][magnitude]") {
    // Found by the long run of fuzz_bone: keys near 1e154 made squared norms overflow (NaN
    // cosines); keys near 1e-200 made them underflow to 0. Every result is invariant under a
    // power-of-two scale of all keys, so the scaled snapshot must give the same bits.
    for (int H : {8, 2}) {
        const int L = 3, S = 20, D = 6;
        const fixture f = random_fixture(L, H, S, D, 77);
        const std::vector<double> x(f.buffer.begin(), f.buffer.end());
        for (bool all_heads : {false, true}) {
            geomkit::bone_orientation_options opt;
            opt.all_heads = all_heads;
            const auto ref = geomkit::bone_orientation(x.data(), L, H, S, D, opt);
            for (double scale : {0x1p510, 0x1p900, 0x1p-700, 0x1p-1000}) {
                INFO("H " << H << ", all_heads " << all_heads << ", scale " << scale);
                std::vector<double> y(x);
                for (double& v : y) v *= scale;
                const auto got = geomkit::bone_orientation(y.data(), L, H, S, D, opt);
                CHECK(identical(got, ref));
                // per-layer description with layer 1 missing
                std::vector<geomkit::key_layer<double>> lx(L), ly(L);
                for (int l = 0; l < L; ++l) {
                    if (l == 1) continue;
                    lx[std::size_t(l)] = {x.data() + std::size_t(l) * H * S * D, H, S * D, D};
                    ly[std::size_t(l)] = {y.data() + std::size_t(l) * H * S * D, H, S * D, D};
                }
                CHECK(identical(geomkit::bone_orientation(geomkit::key_snapshot<double>(ly.data(), L, H, S, D), opt),
                                geomkit::bone_orientation(geomkit::key_snapshot<double>(lx.data(), L, H, S, D), opt)));
            }
        }
    }
}

TEST_CASE("16-bit keys give the float result of their values; strided snapshots", "[bone_orientation][half]") {
    // Conversions: exact round trips and round-to-nearest-even.
    CHECK(geomkit::half_bits_to_float(0x3C00) == 1.0f);
    CHECK(geomkit::half_bits_to_float(0x0001) == std::ldexp(1.0f, -24));
    CHECK(geomkit::half_bits_to_float(0xFBFF) == -65504.0f);
    CHECK(std::isinf(geomkit::half_bits_to_float(0x7C00)));
    for (std::uint32_t b = 0; b < 0x10000; ++b) {
        const float f = geomkit::half_bits_to_float(std::uint16_t(b));
        if (std::isfinite(f)) REQUIRE(geomkit::float_to_half_bits(f) == b);
    }
    CHECK(geomkit::float_to_half_bits(1.0f + std::ldexp(1.0f, -11)) == 0x3C00);  // tie to even
    CHECK(geomkit::float_to_half_bits(70000.0f) == 0x7C00);
    CHECK(geomkit::float_to_bfloat16_bits(1.0f) == 0x3F80);
    CHECK(geomkit::bfloat16_bits_to_float(0xC040) == -3.0f);

    const fixture f = random_fixture(3, 6, 12, 10, 41);
    std::vector<geomkit::float16> h(f.buffer.size());
    std::vector<float> hf(f.buffer.size());
    for (std::size_t i = 0; i < h.size(); ++i) {
        h[i] = geomkit::float16::from_float(f.buffer[i]);
        hf[i] = float(h[i]);
    }
    CHECK(identical(geomkit::bone_orientation(h.data(), 3, 6, 12, 10), geomkit::bone_orientation(hf.data(), 3, 6, 12, 10)));
    CHECK(geomkit::head_entropy(h.data(), 12, 10) == geomkit::head_entropy(hf.data(), 12, 10));
    // Double keys: the same values widened give the same result, except that the layer
    // mean keys are formed in double rather than float (cross-alignment moves by ~1e-8).
    std::vector<double> d(hf.begin(), hf.end());
    const auto rd = geomkit::bone_orientation(d.data(), 3, 6, 12, 10), rf = geomkit::bone_orientation(hf.data(), 3, 6, 12, 10);
    require_close(rd.mean_coherence, rf.mean_coherence);
    require_close(rd.mean_head_entropy, rf.mean_head_entropy);
    CHECK(rd.phase_lock_score == rf.phase_lock_score);
    CHECK(rd.mean_cross_alignment == Approx(rf.mean_cross_alignment).epsilon(1e-6));
    // A strided slice (positions padded to 16 values) equals its packed copy.
    std::vector<float> padded(std::size_t(3 * 6 * 12 * 16), 99.0f);
    for (std::size_t row = 0; row < std::size_t(3 * 6 * 12); ++row)
        for (int c = 0; c < 10; ++c) padded[row * 16 + std::size_t(c)] = hf[row * 10 + std::size_t(c)];
    const geomkit::key_snapshot<float> strided(padded.data(), 3, 6, 12, 10, 6 * 12 * 16, 12 * 16, 16);
    CHECK(identical(geomkit::bone_orientation(strided), geomkit::bone_orientation(hf.data(), 3, 6, 12, 10)));
}

// ----------------------------------------------------------------------------- errors
TEST_CASE("bone_orientation and head_entropy reject bad input with clear messages", "[bone_orientation][error]") {
    std::vector<float> k(2 * 6 * 4 * 3, 0.5f);
    require_error([&] { geomkit::bone_orientation(k.data(), -1, 6, 4, 3); }, {"geomkit::bone_orientation", "'layers'", "non-negative", "-1"});
    require_error([&] { geomkit::bone_orientation(k.data(), 2, -6, 4, 3); }, {"'heads'", "-6"});
    require_error([&] { geomkit::bone_orientation(k.data(), 2, 6, -4, 3); }, {"'seq_len'", "-4"});
    require_error([&] { geomkit::bone_orientation(k.data(), 2, 6, 4, -3); }, {"'head_dim'", "-3"});
    require_error([&] { geomkit::bone_orientation<float>(nullptr, 2, 6, 4, 3); }, {"'keys'", "null pointer", "144"});
    require_error([&] { geomkit::bone_orientation(geomkit::key_snapshot<float>(k.data(), 2, 6, 4, 3, 72, 12, 2)); },
                  {"'keys'", "position_stride must be at least head_dim (3)", "got 2"});
    require_error([&] { geomkit::bone_orientation(geomkit::key_snapshot<float>(k.data(), 2, 6, 4, 3, 72, -12, 3)); },
                  {"'keys'", "non-negative", "head_stride -12"});
    require_error([&] { geomkit::bone_orientation(geomkit::key_snapshot<float>(k.data(), 2, 6, 4, 3, -1, 12, 3)); },
                  {"'layer_stride'", "-1"});
    std::vector<geomkit::key_layer<float>> layers{{k.data(), 6, 12, 3}, {k.data(), -2, 12, 3}};
    require_error([&] { geomkit::bone_orientation(geomkit::key_snapshot<float>(layers.data(), 2, 6, 4, 3)); },
                  {"'keys'", "layer 1: heads must be non-negative", "-2"});
    require_error([&] { geomkit::bone_orientation(geomkit::key_snapshot<float>(static_cast<const geomkit::key_layer<float>*>(nullptr), 2, 6, 4, 3)); },
                  {"'keys'", "null array of layers"});
    geomkit::bone_orientation_options bad;
    bad.threads = -1;
    require_error([&] { geomkit::bone_orientation(k.data(), 2, 6, 4, 3, bad); }, {"'options.threads'", "-1"});
    for (int H : {6, 1}) {
        std::vector<float> nan = k;
        nan[std::size_t(((1 * H + 0) * 4 + 2) * 3 + 1)] = std::numeric_limits<float>::quiet_NaN();
        require_error([&] { geomkit::bone_orientation(nan.data(), 2, H, 4, 3); },
                      {"'keys'", "finite", "[layer 1, head 0, position 2, dim 1]"});
        nan[std::size_t(((1 * H + 0) * 4 + 2) * 3 + 1)] = INFINITY;
        require_error([&] { geomkit::bone_orientation(nan.data(), 2, H, 4, 3); }, {"inf", "[layer 1, head 0, position 2, dim 1]"});
    }
    std::vector<float> big(2 * 6 * 4 * 3, 3e38f);
    require_error([&] { geomkit::bone_orientation(big.data(), 2, 6, 4, 3); }, {"'keys'", "mean keys", "layer 0"});
    // double keys whose squared norms overflow are analysed on a power-of-two-scaled copy
    // (the result of the same keys at unit scale), no longer refused
    std::vector<double> huge(4 * 3, 1e200), unit(4 * 3, 1e200 * 0x1p-665);
    CHECK(identical(geomkit::bone_orientation(huge.data(), 1, 1, 4, 3), geomkit::bone_orientation(unit.data(), 1, 1, 4, 3)));
    require_error([&] { geomkit::head_entropy(k.data(), -2, 3); }, {"geomkit::head_entropy", "'seq_len'", "-2"});
    require_error([&] { geomkit::head_entropy<float>(nullptr, 4, 3); }, {"'keys'", "null pointer"});
    k[7] = std::numeric_limits<float>::quiet_NaN();
    require_error([&] { geomkit::head_entropy(k.data(), 4, 3); }, {"'keys'", "finite", "[2, 1]"});
    // Empty snapshots are fine: no layers, or a null buffer with nothing in it.
    CHECK(geomkit::bone_orientation<float>(nullptr, 0, 8, 4, 3).layer_coherence.empty());
    CHECK(geomkit::bone_orientation<float>(nullptr, 3, 8, 0, 3).layer_coherence.size() == 3);
}

// issue 28: a zero-strided view may describe more keys than index_t counts.
TEST_CASE("sizes and strides whose products overflow are refused", "[bone_orientation][error]") {
    static const float zero[1] = {0.0f};
    const index_t big = index_t(1) << 40;
    geomkit::key_snapshot<float> k(zero, big, 2, big, 8, 0, 0, 8);
    require_error([&] { (void)geomkit::bone_orientation(k); }, {"bone_orientation", "'keys'", "fit in index_t"});
    geomkit::key_snapshot<float> huge_stride(zero, 4, 1, 1, 1, std::numeric_limits<index_t>::max() / 2, 1, 1);
    require_error([&] { (void)geomkit::bone_orientation(huge_stride); }, {"'keys'", "offsets fit"});
    const geomkit::key_layer<float> layers[1] = {{zero, index_t(1) << 62, 0, 8}};
    geomkit::key_snapshot<float> per_layer(layers, 1, index_t(1) << 62, 4, 8);
    require_error([&] { (void)geomkit::bone_orientation(per_layer); }, {"'keys'", "element count fits in index_t"});
    // zero strides of a size that fits are a valid (repeated) snapshot
    std::vector<float> one(4 * 8);
    for (std::size_t i = 0; i < one.size(); ++i) one[i] = float(i % 7) - 3.0f;
    std::vector<float> dense(3 * 2 * 4 * 8);
    for (std::size_t i = 0; i < dense.size(); ++i) dense[i] = one[i % one.size()];
    const auto a = geomkit::bone_orientation(geomkit::key_snapshot<float>(one.data(), 3, 2, 4, 8, 0, 0, 8));
    const auto b = geomkit::bone_orientation(dense.data(), 3, 2, 4, 8);
    CHECK(a.features() == b.features());
}
