// Counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers:
// as easy as 1, 2, 3", SC'11), the generator cuRAND and Random123 also provide.
//
// Every random draw in geomkit is a pure function of (seed, stream, position): sample i of
// a sampled computation uses `counter_rng(seed, i)`, so it is the same on any thread, at
// any thread count, on the GPU and from Python. Nothing here allocates or throws.
#pragma once

#include <cstdint>

#include "../config.hpp"

namespace geomkit {

struct philox4x32 {
    std::uint32_t v[4];
};

// One Philox4x32-10 block: 4 random 32-bit words for a 128-bit counter and 64-bit key.
GEOMKIT_HD inline philox4x32 philox4x32_10(philox4x32 counter, std::uint32_t key0,
                                           std::uint32_t key1) noexcept {
    constexpr std::uint32_t m0 = 0xD2511F53u, m1 = 0xCD9E8D57u;
    constexpr std::uint32_t w0 = 0x9E3779B9u, w1 = 0xBB67AE85u;
    std::uint32_t* c = counter.v;
    for (int round = 0; round < 10; ++round) {
        const std::uint64_t p0 = std::uint64_t(m0) * c[0];
        const std::uint64_t p1 = std::uint64_t(m1) * c[2];
        const std::uint32_t hi0 = std::uint32_t(p0 >> 32), lo0 = std::uint32_t(p0);
        const std::uint32_t hi1 = std::uint32_t(p1 >> 32), lo1 = std::uint32_t(p1);
        const std::uint32_t n0 = hi1 ^ c[1] ^ key0, n2 = hi0 ^ c[3] ^ key1;
        c[0] = n0;
        c[1] = lo1;
        c[2] = n2;
        c[3] = lo0;
        key0 += w0;
        key1 += w1;
    }
    return counter;
}

// A stream of random words identified by (seed, stream). Draws are consumed in blocks of
// four; the block counter is the low half of the Philox counter, the stream the high half.
class counter_rng {
  public:
    GEOMKIT_HD counter_rng(std::uint64_t seed, std::uint64_t stream) noexcept
        : key0_(std::uint32_t(seed)), key1_(std::uint32_t(seed >> 32)),
          stream0_(std::uint32_t(stream)), stream1_(std::uint32_t(stream >> 32)) {}

    GEOMKIT_HD std::uint32_t next_u32() noexcept {
        if (used_ == 4) refill();
        return block_.v[used_++];
    }

    GEOMKIT_HD std::uint64_t next_u64() noexcept {
        const std::uint64_t hi = next_u32();
        return (hi << 32) | next_u32();
    }

    // Uniform double in [0, 1) with 53 random bits.
    GEOMKIT_HD double next_double() noexcept {
        return double(next_u64() >> 11) * (1.0 / 9007199254740992.0);
    }

    // Uniform integer in [0, n), n >= 1, without bias (Lemire's multiply-and-reject).
    GEOMKIT_HD std::uint32_t uniform_index(std::uint32_t n) noexcept {
        std::uint64_t m = std::uint64_t(next_u32()) * n;
        std::uint32_t low = std::uint32_t(m);
        if (low < n) {
            const std::uint32_t threshold = std::uint32_t(0u - n) % n;
            while (low < threshold) {
                m = std::uint64_t(next_u32()) * n;
                low = std::uint32_t(m);
            }
        }
        return std::uint32_t(m >> 32);
    }

  private:
    GEOMKIT_HD void refill() noexcept {
        philox4x32 counter{{std::uint32_t(block_index_), std::uint32_t(block_index_ >> 32),
                            stream0_, stream1_}};
        block_ = philox4x32_10(counter, key0_, key1_);
        ++block_index_;
        used_ = 0;
    }

    std::uint32_t key0_, key1_, stream0_, stream1_;
    std::uint64_t block_index_ = 0;
    philox4x32 block_{{0, 0, 0, 0}};
    int used_ = 4;
};

// k distinct indices drawn uniformly from [0, n) into out[0..k) (Floyd's algorithm: every
// k-subset is equally likely). Needs 0 <= k <= n; O(k^2) time, no allocation, so it suits
// the small k (a simplex's vertices) it is used for.
GEOMKIT_HD inline void sample_distinct(counter_rng& rng, std::uint32_t n, int k,
                                       std::uint32_t* out) noexcept {
    for (int filled = 0; filled < k; ++filled) {
        const std::uint32_t j = n - std::uint32_t(k) + std::uint32_t(filled);
        std::uint32_t t = rng.uniform_index(j + 1);
        for (int q = 0; q < filled; ++q) {
            if (out[q] == t) {
                t = j;
                break;
            }
        }
        out[filled] = t;
    }
}

}  // namespace geomkit
