// The centred Gram XcᵀXc of a float matrix (n × d, n ≥ d) by Intel AMX integer tiles,
// exact in its products and sums: the participation ratio's route on processors with
// AMX-INT8 (Sapphire Rapids and later), where one core does about 1000 int8
// multiply-adds a cycle against 16 float FMAs.
//
// Each column j is centred on its mean μ_j (double) and scaled by c_j = 127 / M_j, M_j ≥
// max_i |x_ij − μ_j| (from the column's min and max), so q = c_j (x − μ_j) lies in
// [−127, 127]. q is cut into four balanced int8 digits,
//     q = s₁ + s₂·2⁻⁷ + s₃·2⁻¹⁴ + s₄·2⁻²¹ + e,   s₁ ∈ [−127, 127], s₂…s₄ ∈ [−64, 64],
// each the nearest integer to what is left, so |e| ≤ 2⁻²² (2⁻²⁹ of the column's largest
// deviation, below a float's own resolution). The Gram of q is then Σ over digit pairs
// (a, b) of weight 2^(−7(a+b−2)). The thirteen pairs with a + b ≤ 6 are summed, those of
// equal weight in one of five int32 tile accumulators, exactly: at most 24448 per row,
// and the depth is cut into chunks of at most 65536 rows. Of the three left out (weight
// 2⁻³⁵ and 2⁻⁴², at most 2.4e-7 per row in units where the largest product is 16129),
// the diagonal's are summed exactly at packing and put back; off the diagonal they are
// zero-mean unless many rows share their low digits (tight clusters), where they reach
// ~1e-8 of the PR. The pairs of weight 2⁻²⁸ are kept because s₃·s₃ is never negative: left
// out, it biased tight clusters by ~3e-7. Each chunk's accumulators are combined in
// double, and G_jk = Σ_chunks (…) / (c_j c_k) at the end. Nothing is rounded but the
// digits' remainder and the final double additions, so the result is the same at any
// thread count and its error does not depend on the data's offset or order.
//
// Data layout (per chunk of `kc` rows, padded to whole 64-row steps and 16-column
// tiles): for column tile J, step t and digit s, a 16 × 64-byte A tile (row m = the 64
// rows' digits of column 16J + m) and the same values as a B tile in AMX's VNNI order
// (row r holds rows 4r…4r+3 of each column, 4 bytes a column). A tile of G, C_JK, is
// Σ_t Σ_pairs A_J · B_K.
//
// Only in x86-64 Linux builds with AVX-512 (the Python package's avx512 module, or
// -march=native) by GCC or Clang, and only where the processor and kernel allow AMX
// (CPUID, XCR0 and arch_prctl(ARCH_REQ_XCOMP_PERM)). GEOMKIT_DISABLE_AMX=1 in the
// environment turns it off (the float kernel of gram.hpp is then used).
#pragma once

#include "../config.hpp"

#if !GEOMKIT_DEVICE_COMPILER && defined(__x86_64__) && defined(__linux__) && \
    (defined(__GNUC__) || defined(__clang__)) && defined(__AVX512F__) && defined(__AVX512BW__) && \
    !defined(GEOMKIT_NO_AMX)
#define GEOMKIT_HAS_AMX 1
#else
#define GEOMKIT_HAS_AMX 0
#endif

#if GEOMKIT_HAS_AMX
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <utility>
#include <vector>

#include "../core/matrix_view.hpp"
#include "../core/parallel.hpp"
#include "gram.hpp"

namespace geomkit {
namespace detail {

// Whether this process may run AMX-INT8 tiles: the processor has them, the OS saves
// their state, and the kernel granted this process their use (asked once, here; without
// it the first tile instruction raises SIGILL).
inline bool amx_int8_permitted() {
    static const bool granted = [] {
        unsigned a = 0, b = 0, c = 0, d = 0;
        if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
        if (!((d >> 24) & 1u) || !((d >> 25) & 1u)) return false;  // AMX-TILE, AMX-INT8
        if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 27) & 1u)) return false;  // OSXSAVE
        unsigned lo = 0, hi = 0;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        if (((lo >> 17) & 3u) != 3u) return false;  // XTILECFG and XTILEDATA enabled
        constexpr long arch_req_xcomp_perm = 0x1023, xfeature_xtiledata = 18;
        return syscall(SYS_arch_prctl, arch_req_xcomp_perm, xfeature_xtiledata) == 0;
    }();
    return granted;
}

// Whether the participation ratio takes the AMX route: permitted, and not turned off by
// GEOMKIT_DISABLE_AMX (any value but "" and "0"; read at every call).
inline bool amx_int8_usable() {
    const char* off = std::getenv("GEOMKIT_DISABLE_AMX");
    return amx_int8_permitted() && !(off && *off && std::strcmp(off, "0") != 0);
}

// The AMX instructions, as inline assembly (GCC's intrinsics are macros over the same
// assembly, Clang's need target attributes): tiles are named by number.
#define GEOMKIT_AMX_LOAD(tile, ptr) \
    __asm__ volatile("tileloadd (%0,%1,1), %%tmm" #tile ::"r"(ptr), "r"(std::int64_t(64)) : "memory")
#define GEOMKIT_AMX_STORE(tile, ptr) \
    __asm__ volatile("tilestored %%tmm" #tile ", (%0,%1,1)" ::"r"(ptr), "r"(std::int64_t(64)) : "memory")
#define GEOMKIT_AMX_ZERO(tile) __asm__ volatile("tilezero %%tmm" #tile ::)
// acc += a · b (a: 16 × 64 int8 rows, b: 16 × 64 int8 in VNNI order).
#define GEOMKIT_AMX_DP(acc, a, b) __asm__ volatile("tdpbssd %%tmm" #b ", %%tmm" #a ", %%tmm" #acc ::)

struct amx_tile_config {
    std::uint8_t palette = 1, start_row = 0;
    std::uint8_t reserved[14] = {};
    std::uint16_t bytes_per_row[16] = {};
    std::uint8_t rows[16] = {};
};

// Configures eight 16 × 64-byte tiles for the calling thread, and releases them again.
class amx_tiles {
public:
    amx_tiles() {
        alignas(64) amx_tile_config cfg;
        for (int t = 0; t < 8; ++t) {
            cfg.bytes_per_row[t] = 64;
            cfg.rows[t] = 16;
        }
        __asm__ volatile("ldtilecfg %0" ::"m"(cfg));
    }
    ~amx_tiles() { __asm__ volatile("tilerelease" ::); }
    amx_tiles(const amx_tiles&) = delete;
    amx_tiles& operator=(const amx_tiles&) = delete;
};

// 16 × 16 transpose of 32-bit words: out[c·16 + r] = in[r·16 + c].
inline void transpose_words_16(const std::uint32_t* GEOMKIT_RESTRICT in, std::uint32_t* GEOMKIT_RESTRICT out) {
    __m512i r[16], t[16];
    for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_si512(in + 16 * i);
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    // r[4g + k] now holds, in 128-bit lane L, row-group g's column 4L + k (rows 4g…4g+3).
    for (int k = 0; k < 4; ++k) {
        // Lanes (L=0,1) of groups 0,1 and of groups 2,3, then the same for lanes 2,3.
        const __m512i a01 = _mm512_shuffle_i32x4(r[k], r[4 + k], 0x44);       // g0 L0,L1 | g1 L0,L1
        const __m512i a23 = _mm512_shuffle_i32x4(r[8 + k], r[12 + k], 0x44);  // g2 L0,L1 | g3 L0,L1
        const __m512i b01 = _mm512_shuffle_i32x4(r[k], r[4 + k], 0xEE);       // g0 L2,L3 | g1 L2,L3
        const __m512i b23 = _mm512_shuffle_i32x4(r[8 + k], r[12 + k], 0xEE);
        // column 4L + k = groups 0..3 of lane L.
        t[k] = _mm512_shuffle_i32x4(a01, a23, 0x88);       // L0: g0,g1,g2,g3
        t[4 + k] = _mm512_shuffle_i32x4(a01, a23, 0xDD);   // L1
        t[8 + k] = _mm512_shuffle_i32x4(b01, b23, 0x88);   // L2
        t[12 + k] = _mm512_shuffle_i32x4(b01, b23, 0xDD);  // L3
    }
    for (int c = 0; c < 16; ++c) _mm512_storeu_si512(out + 16 * c, t[c]);
}

// This machine's AMX int8 multiply-add rate (MAC/s) at `threads` threads, for the peer
// harness's fraction-of-peak column: four independent accumulator tiles fed from tiles
// already loaded, each thread timed on its own, best of five runs. 0 where AMX is not
// permitted.
inline double measure_amx_int8_peak(int threads) {
    if (!amx_int8_permitted()) return 0.0;
    const long rounds = 50000;  // 3.3 million cycles a thread
    std::vector<double> seconds(static_cast<std::size_t>(threads));
    double best = 0;
    for (int rep = 0; rep < 5; ++rep) {
        parallel_for(
            threads,
            [&](index_t t) {
                alignas(64) std::int8_t src[1024] = {};
                const amx_tiles on;
                const auto t0 = std::chrono::steady_clock::now();
                GEOMKIT_AMX_LOAD(4, src);
                GEOMKIT_AMX_LOAD(5, src);
                GEOMKIT_AMX_LOAD(6, src);
                GEOMKIT_AMX_LOAD(7, src);
                for (long r = 0; r < rounds; ++r) {
                    GEOMKIT_AMX_DP(0, 4, 5);
                    GEOMKIT_AMX_DP(1, 4, 6);
                    GEOMKIT_AMX_DP(2, 7, 5);
                    GEOMKIT_AMX_DP(3, 7, 6);
                }
                seconds[std::size_t(t)] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            },
            threads);
        double rate = 0;
        for (double sec : seconds) rate += double(rounds) * 4.0 * 16.0 * 16.0 * 64.0 / sec;
        best = std::max(best, rate);
    }
    return best;
}

class amx_gram {
public:
    static constexpr index_t step = 64, tile = 16, digits = 4;
    static constexpr std::size_t tile_bytes = 1024;
    static constexpr index_t max_chunk = 65536;  // rows per int32 accumulation (exact below 87838)
    static constexpr index_t min_width = 1024;   // where participation_moments takes this route

    // chunk_rows: rows per chunk (rounded up to whole 64-row steps); 0 picks it from the
    // width (tests set it small to cross chunks).
    amx_gram(const matrix_view<const float>& X, bool centered, int threads = 0, index_t chunk_rows = 0)
        : n_(X.rows()), d_(X.cols()), tiles_((d_ + tile - 1) / tile) {
        if (!amx_int8_permitted()) throw std::logic_error("geomkit::detail::amx_gram: AMX-INT8 is not available here");
        scan(X, centered, threads);
        if (!finite_) return;
        acc_ = scratch<double>(std::size_t(tiles_ * (tiles_ + 1) / 2) * tile * tile);
        std::fill(acc_.data(), acc_.data() + acc_.size(), 0.0);
        // Rows per chunk: a chunk's packing (two layouts, 8 bytes a value) near 32 MiB.
        const index_t width = tiles_ * tile;
        index_t kc = ((index_t(32) << 20) / (8 * width)) / step * step;
        kc = std::max<index_t>(step * 4, std::min<index_t>(kc, max_chunk));
        if (chunk_rows > 0) kc = std::min(max_chunk, (chunk_rows + step - 1) / step * step);
        kc = std::min(kc, (n_ + step - 1) / step * step);
        const index_t steps = kc / step;
        scratch<std::int8_t> a(std::size_t(tiles_ * steps * digits) * tile_bytes),
            b(std::size_t(tiles_ * steps * digits) * tile_bytes);
        std::vector<double> dropped(std::size_t(steps * tiles_ * tile)), diagonal(std::size_t(tiles_ * tile), 0.0);
        for (index_t r0 = 0; r0 < n_; r0 += kc) {
            const index_t s_used = (std::min(kc, n_ - r0) + step - 1) / step;
            pack(X, r0, steps, s_used, a.data(), b.data(), dropped.data(), threads);
            multiply(steps, s_used, a.data(), b.data(), threads);
            for (index_t t = 0; t < s_used; ++t)
                for (index_t j = 0; j < tiles_ * tile; ++j)
                    diagonal[std::size_t(j)] += dropped[std::size_t(t * tiles_ * tile + j)];
        }
        // The diagonal's dropped digit pairs, exact integers in units of 2⁻⁴², put back.
        for (index_t j = 0; j < d_; ++j)
            acc_.data()[tile_offset(j / tile, j / tile) + std::size_t((j % tile) * (tile + 1))] += diagonal[std::size_t(j)] * 0x1p-42;
    }

    index_t width() const noexcept { return d_; }
    bool finite() const noexcept { return finite_; }

    // G_ij for i ≥ j (the centred or plain Gram of the columns).
    double operator()(index_t i, index_t j) const noexcept {
        const index_t I = i / tile, J = j / tile;
        return acc_.data()[tile_offset(I, J) + std::size_t((i % tile) * tile + j % tile)] * unscale_[std::size_t(i)] *
               unscale_[std::size_t(j)];
    }

    // The Gram as gram.hpp's trace_and_frobenius_sq reads it: one part per tile row I,
    // f(i, j, G_ij) for its entries with i ≥ j.
    index_t tile_count() const noexcept { return tiles_; }
    template <class F>
    void for_each_lower(index_t I, F&& f) const {
        for (index_t J = 0; J <= I; ++J) {
            const double* g = acc_.data() + tile_offset(I, J);
            for (index_t i = I * tile; i < std::min(d_, I * tile + tile); ++i)
                for (index_t j = J * tile; j < std::min(i + 1, J * tile + tile); ++j)
                    f(i, j, g[(i - I * tile) * tile + j - J * tile] * unscale_[std::size_t(i)] * unscale_[std::size_t(j)]);
        }
    }

private:
    std::size_t tile_offset(index_t I, index_t J) const noexcept {
        return std::size_t(I * (I + 1) / 2 + J) * std::size_t(tile * tile);
    }

    // Column means (double, over fixed 1024-row blocks) and the largest deviation bound.
    void scan(const matrix_view<const float>& X, bool centered, int threads) {
        const index_t grain = 1024, blocks = (n_ + grain - 1) / grain, w = tiles_ * tile;
        std::vector<double> sum(std::size_t(blocks * d_), 0.0);
        std::vector<float> lo(std::size_t(blocks * d_), std::numeric_limits<float>::infinity()),
            hi(std::size_t(blocks * d_), -std::numeric_limits<float>::infinity());
        parallel_for(
            blocks,
            [&](index_t c) {
                double* GEOMKIT_RESTRICT s = sum.data() + c * d_;
                float* GEOMKIT_RESTRICT l = lo.data() + c * d_;
                float* GEOMKIT_RESTRICT h = hi.data() + c * d_;
                for (index_t i = c * grain; i < std::min(n_, (c + 1) * grain); ++i) {
                    const float* GEOMKIT_RESTRICT r = X.row(i);
                    for (index_t j = 0; j < d_; ++j) {
                        s[j] += double(r[j]);
                        l[j] = r[j] < l[j] ? r[j] : l[j];
                        h[j] = r[j] > h[j] ? r[j] : h[j];
                    }
                }
            },
            threads);
        mean_.assign(std::size_t(w), 0.0);
        scale_.assign(std::size_t(w), 0.0);
        unscale_.assign(std::size_t(w), 0.0);
        std::vector<double> mn(std::size_t(d_), HUGE_VAL), mx(std::size_t(d_), -HUGE_VAL);
        for (index_t c = 0; c < blocks; ++c)
            for (index_t j = 0; j < d_; ++j) {
                mean_[std::size_t(j)] += sum[std::size_t(c * d_ + j)];
                mn[std::size_t(j)] = std::min(mn[std::size_t(j)], double(lo[std::size_t(c * d_ + j)]));
                mx[std::size_t(j)] = std::max(mx[std::size_t(j)], double(hi[std::size_t(c * d_ + j)]));
            }
        for (index_t j = 0; j < d_; ++j) {
            double& mu = mean_[std::size_t(j)];
            finite_ = finite_ && std::isfinite(mu);
            mu = centered ? mu / double(n_) : 0.0;
            const double M = std::max(mx[std::size_t(j)] - mu, mu - mn[std::size_t(j)]);
            scale_[std::size_t(j)] = M > 0 ? 127.0 / M : 0.0;
            unscale_[std::size_t(j)] = M > 0 ? 1.0 / scale_[std::size_t(j)] : 0.0;
        }
    }

    // Digits of rows [r0, r0 + 64·s_used) (zero past n) into A and B tiles. An item is one
    // 64-row step across a block of 8 column tiles: each row is read as 512-byte runs, four
    // rows at a time (the tiles of one column tile, item by item, would read 64 rows
    // 64 bytes each, more streams than the prefetcher follows).
    // dropped[t·w + j]: for the diagonal, Σ over step t's rows of the digit pairs the
    // tiles leave out, 2s₃s₄·2⁷ + s₄² (units of 2⁻⁴²), exact.
    void pack(const matrix_view<const float>& X, index_t r0, index_t steps, index_t s_used, std::int8_t* A,
              std::int8_t* B, double* dropped, int threads) const {
        constexpr index_t block = 8;
        const index_t blocks = (tiles_ + block - 1) / block;
        parallel_for(
            blocks * s_used,
            [&](index_t item) {
                const index_t t = item / blocks, J0 = (item % blocks) * block, J1 = std::min(tiles_, J0 + block);
                double* drop = dropped + t * tiles_ * tile;
                std::fill(drop + J0 * tile, drop + J1 * tile, 0.0);
                for (index_t q = 0; q < 16; ++q)
                    for (index_t J = J0; J < J1; ++J)
                        pack_quad(X, r0 + t * step + 4 * q, J, q, B + std::size_t((J * steps + t) * digits) * tile_bytes,
                                  drop + J * tile);
                // A row m = column m's 64 rows: the word transpose of the VNNI tile.
                for (index_t J = J0; J < J1; ++J)
                    for (index_t s = 0; s < digits; ++s) {
                        const std::size_t at = std::size_t((J * steps + t) * digits + s) * tile_bytes;
                        transpose_words_16(reinterpret_cast<const std::uint32_t*>(B + at), reinterpret_cast<std::uint32_t*>(A + at));
                    }
            },
            threads);
    }

    // Rows i0…i0+3 of column tile J (zero past n) as row q of the tile's four VNNI digit
    // tiles at bt: for each column, its four rows' digits side by side.
    // drop[0…15] += the four rows' dropped diagonal pairs (see pack).
    void pack_quad(const matrix_view<const float>& X, index_t i0, index_t J, index_t q, std::int8_t* bt, double* drop) const {
        const index_t c0 = J * tile;
        const __mmask16 cols = __mmask16(c0 + tile <= d_ ? 0xFFFF : (1u << (d_ - c0)) - 1u);
        const __m512d mu_lo = _mm512_loadu_pd(mean_.data() + c0), mu_hi = _mm512_loadu_pd(mean_.data() + c0 + 8);
        const __m512d sc_lo = _mm512_loadu_pd(scale_.data() + c0), sc_hi = _mm512_loadu_pd(scale_.data() + c0 + 8);
        __m128i v[digits][4];
        __m512i left = _mm512_setzero_si512();  // ≤ 4 × (2·64·64·2⁷ + 64²), within int32
        for (index_t o = 0; o < 4; ++o) {
            if (i0 + o >= n_) {
                for (index_t s = 0; s < digits; ++s) v[s][o] = _mm_setzero_si128();
                continue;
            }
            const __m512 x = _mm512_maskz_loadu_ps(cols, X.row(i0 + o) + c0);
            const __m512d y[2] = {
                _mm512_mul_pd(_mm512_sub_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(x)), mu_lo), sc_lo),
                _mm512_mul_pd(
                    _mm512_sub_pd(_mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1))), mu_hi),
                    sc_hi)};
            __m256i lanes[digits][2];
            for (int h = 0; h < 2; ++h) {
                __m512d r = _mm512_min_pd(_mm512_max_pd(y[h], _mm512_set1_pd(-127.0)), _mm512_set1_pd(127.0));
                for (index_t s = 0; s < digits; ++s) {
                    const __m512d dgt = _mm512_roundscale_pd(r, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                    lanes[s][h] = _mm512_cvtpd_epi32(dgt);
                    r = _mm512_mul_pd(_mm512_sub_pd(r, dgt), _mm512_set1_pd(128.0));
                }
            }
            __m512i dg[digits];
            for (index_t s = 0; s < digits; ++s) {
                dg[s] = _mm512_inserti64x4(_mm512_castsi256_si512(lanes[s][0]), lanes[s][1], 1);
                v[s][o] = _mm512_cvtepi32_epi8(dg[s]);
            }
            const __m512i s34 = _mm512_mullo_epi32(dg[2], dg[3]), s44 = _mm512_mullo_epi32(dg[3], dg[3]);
            left = _mm512_add_epi32(left, _mm512_add_epi32(_mm512_slli_epi32(s34, 8), s44));
        }
        _mm512_storeu_pd(drop, _mm512_add_pd(_mm512_loadu_pd(drop), _mm512_cvtepi32_pd(_mm512_castsi512_si256(left))));
        _mm512_storeu_pd(drop + 8, _mm512_add_pd(_mm512_loadu_pd(drop + 8), _mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(left, 1))));
        for (index_t s = 0; s < digits; ++s) {
            const __m128i p = _mm_unpacklo_epi8(v[s][0], v[s][1]), p2 = _mm_unpackhi_epi8(v[s][0], v[s][1]);
            const __m128i u = _mm_unpacklo_epi8(v[s][2], v[s][3]), u2 = _mm_unpackhi_epi8(v[s][2], v[s][3]);
            std::int8_t* row = bt + std::size_t(s) * tile_bytes + q * 64;
            _mm_storeu_si128(reinterpret_cast<__m128i*>(row), _mm_unpacklo_epi16(p, u));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(row + 16), _mm_unpackhi_epi16(p, u));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(row + 32), _mm_unpacklo_epi16(p2, u2));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(row + 48), _mm_unpackhi_epi16(p2, u2));
        }
    }

    // acc(I, J) += the chunk's Σ over digit pairs, for every tile of the lower triangle.
    // Work items: blocks of `group` × `group` tiles, run tile row by tile row, so a tile
    // row's A tiles and the block's B tiles (8 × 4 KiB a step) are read from L2 `group`
    // times each instead of once a tile from further out.
    void multiply(index_t steps, index_t s_used, const std::int8_t* A, const std::int8_t* B, int threads) {
        constexpr index_t group = 4;
        std::vector<std::pair<index_t, index_t>> items;
        for (index_t I = 0; I < tiles_; I += group)
            for (index_t J = 0; J <= I; J += group) items.emplace_back(I, J);
        parallel_for(
            index_t(items.size()),
            [&](index_t it) {
                const index_t I0 = items[std::size_t(it)].first, J0 = items[std::size_t(it)].second;
                alignas(64) std::int32_t c[5][tile * tile];
                const amx_tiles on;
                for (index_t I = I0; I < std::min(tiles_, I0 + group); ++I)
                for (index_t J = J0; J < std::min(I + 1, J0 + group); ++J) {
                    GEOMKIT_AMX_ZERO(0);
                    GEOMKIT_AMX_ZERO(1);
                    GEOMKIT_AMX_ZERO(2);
                    GEOMKIT_AMX_ZERO(3);
                    GEOMKIT_AMX_ZERO(4);
                    for (index_t t = 0; t < s_used; ++t) {
                        const std::int8_t* a = A + std::size_t((I * steps + t) * digits) * tile_bytes;
                        const std::int8_t* b = B + std::size_t((J * steps + t) * digits) * tile_bytes;
                        // Tile w (0-4) sums the pairs of weight 2^(−7w); digit k of a is at
                        // a + (k − 1)·1024. Tile 5 holds a digit of a, 6 and 7 digits of b.
                        GEOMKIT_AMX_LOAD(5, a);
                        GEOMKIT_AMX_LOAD(6, b);
                        GEOMKIT_AMX_DP(0, 5, 6);  // a1 b1
                        GEOMKIT_AMX_LOAD(7, b + 1024);
                        GEOMKIT_AMX_DP(1, 5, 7);  // a1 b2
                        GEOMKIT_AMX_LOAD(6, b + 2048);
                        GEOMKIT_AMX_DP(2, 5, 6);  // a1 b3
                        GEOMKIT_AMX_LOAD(7, b + 3072);
                        GEOMKIT_AMX_DP(3, 5, 7);  // a1 b4
                        GEOMKIT_AMX_LOAD(5, a + 1024);
                        GEOMKIT_AMX_DP(4, 5, 7);  // a2 b4
                        GEOMKIT_AMX_DP(3, 5, 6);  // a2 b3
                        GEOMKIT_AMX_LOAD(7, b + 1024);
                        GEOMKIT_AMX_DP(2, 5, 7);  // a2 b2
                        GEOMKIT_AMX_LOAD(6, b);
                        GEOMKIT_AMX_DP(1, 5, 6);  // a2 b1
                        GEOMKIT_AMX_LOAD(5, a + 2048);
                        GEOMKIT_AMX_DP(2, 5, 6);  // a3 b1
                        GEOMKIT_AMX_DP(3, 5, 7);  // a3 b2
                        GEOMKIT_AMX_LOAD(6, b + 2048);
                        GEOMKIT_AMX_DP(4, 5, 6);  // a3 b3
                        GEOMKIT_AMX_LOAD(5, a + 3072);
                        GEOMKIT_AMX_DP(4, 5, 7);  // a4 b2
                        GEOMKIT_AMX_LOAD(6, b);
                        GEOMKIT_AMX_DP(3, 5, 6);  // a4 b1
                    }
                    GEOMKIT_AMX_STORE(0, c[0]);
                    GEOMKIT_AMX_STORE(1, c[1]);
                    GEOMKIT_AMX_STORE(2, c[2]);
                    GEOMKIT_AMX_STORE(3, c[3]);
                    GEOMKIT_AMX_STORE(4, c[4]);
                    double* g = acc_.data() + tile_offset(I, J);
                    // Horner in 2⁻⁷ (exact but for the last bits: the sum spans 31 + 28 bits).
                    const __m512d w1 = _mm512_set1_pd(0x1p-7);
                    for (index_t k = 0; k < tile * tile; k += 8) {
                        __m512d v = _mm512_cvtepi32_pd(_mm256_load_si256(reinterpret_cast<const __m256i*>(c[4] + k)));
                        v = _mm512_fmadd_pd(v, w1, _mm512_cvtepi32_pd(_mm256_load_si256(reinterpret_cast<const __m256i*>(c[3] + k))));
                        v = _mm512_fmadd_pd(v, w1, _mm512_cvtepi32_pd(_mm256_load_si256(reinterpret_cast<const __m256i*>(c[2] + k))));
                        v = _mm512_fmadd_pd(v, w1, _mm512_cvtepi32_pd(_mm256_load_si256(reinterpret_cast<const __m256i*>(c[1] + k))));
                        v = _mm512_fmadd_pd(v, w1, _mm512_cvtepi32_pd(_mm256_load_si256(reinterpret_cast<const __m256i*>(c[0] + k))));
                        _mm512_storeu_pd(g + k, _mm512_add_pd(_mm512_loadu_pd(g + k), v));
                    }
                }
            },
            threads);
    }

    index_t n_, d_, tiles_;
    bool finite_ = true;
    std::vector<double> mean_, scale_, unscale_;
    scratch<double> acc_;
};

#undef GEOMKIT_AMX_LOAD
#undef GEOMKIT_AMX_STORE
#undef GEOMKIT_AMX_ZERO
#undef GEOMKIT_AMX_DP

}  // namespace detail
}  // namespace geomkit
#endif  // GEOMKIT_HAS_AMX
