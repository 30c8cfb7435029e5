// Measures this machine's limits so benchmarks can report a kernel's speed as a fraction
// of them: streaming read bandwidth (bytes/s) and double-precision FMA peak (FLOP/s), each
// at a given thread count, best of a few repetitions, cached per process. Used by the C++
// benchmarks and by the Python peer harness (geomkit._machine_limits); not a kernel.
#pragma once

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <vector>

#include "../core/parallel.hpp"
#include "../simd/dot.hpp"

namespace geomkit {
namespace detail {

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

template <class Measure>
double cached_limit(std::map<int, double>& cache, int threads, Measure measure) {
    static std::mutex guard;
    std::lock_guard<std::mutex> lock(guard);
    auto it = cache.find(threads);
    if (it != cache.end()) return it->second;
    return cache[threads] = measure();
}

// Threads sum disjoint parts of a 512 MiB buffer, far beyond any cache.
inline double measure_read_bandwidth(int threads) {
    static std::map<int, double> cache;
    return cached_limit(cache, threads, [threads] {
        const std::size_t n = (std::size_t(512) << 20) / sizeof(double);
        std::vector<double> buf(n, 1.0);
        const index_t chunks = 64, per = index_t(n) / chunks;
        std::vector<double> part(chunks);
        double best = 0;
        for (int rep = 0; rep < 5; ++rep) {
            const auto t0 = std::chrono::steady_clock::now();
            parallel_for(chunks, [&](index_t c) {
                part[std::size_t(c)] = simd::squared_norm(buf.data() + c * per, per);
            }, threads);
            best = std::max(best, double(n * sizeof(double)) / seconds_since(t0));
        }
        volatile double sink = part[0];
        (void)sink;
        return best;
    });
}

// Independent FMA chains that stay in registers, one set per thread. Best of eight runs
// of ~7 ms each: with three, a peer-harness run once read half the peak that the same
// build reads in every other process (a virtual CPU still clocking up, or briefly taken).
inline double measure_peak_flops(int threads) {
    static std::map<int, double> cache;
    return cached_limit(cache, threads, [threads] {
#if GEOMKIT_HAS_SIMD
        using batch = simd::double_batch<simd::default_arch>;
        const long rounds = 2000000;
        std::vector<double> sink(std::size_t(threads) * 64);
        double best = 0;
        for (int rep = 0; rep < 8; ++rep) {
            const auto t0 = std::chrono::steady_clock::now();
            parallel_for(threads, [&](index_t t) {
                batch a[12];
                for (int i = 0; i < 12; ++i) a[i] = batch(1.0 + 0.1 * i);
                const batch m(0.9999999), c(1e-7);
                for (long r = 0; r < rounds; ++r)
                    for (int i = 0; i < 12; ++i) a[i] = xsimd::fma(a[i], m, c);
                batch s = a[0];
                for (int i = 1; i < 12; ++i) s += a[i];
                s.store_unaligned(sink.data() + t * 64);
            }, threads);
            const double flops = double(threads) * double(rounds) * 12.0 * 2.0 * double(batch::size);
            best = std::max(best, flops / seconds_since(t0));
        }
        volatile double keep = sink[0];
        (void)keep;
        return best;
#else
        (void)threads;
        return 0.0;
#endif
    });
}

}  // namespace detail
}  // namespace geomkit
