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

// Independent FMA chains that stay in registers, one set per thread, each timed on its
// own: the rate is the sum of the threads' rates, best of eight runs. The chains' start
// values and constants are read through a volatile, so the compiler cannot see any of
// them: with literals, GCC 12 saw that the chain starting at 1.0 is a fixed point of
// a·0.9999999 + 1e-7, kept it out of the loop, and ran 11 FMAs where 12 were counted,
// reading a peak 9 % too high. An occasional peer-harness process still reads about half
// the peak at two threads (63.7 and 68.3 against ~122 GFLOP/s before this fix), timed as
// a whole or per thread, so the cause is outside this function (both threads on one core
// for the whole measurement would read so).
inline double measure_peak_flops(int threads) {
    static std::map<int, double> cache;
    return cached_limit(cache, threads, [threads] {
#if GEOMKIT_HAS_SIMD
        using batch = simd::double_batch<simd::default_arch>;
        const long rounds = 2000000;
        std::vector<double> sink(std::size_t(threads) * 64);
        std::vector<double> seconds(static_cast<std::size_t>(threads));
        const double flops = double(rounds) * 12.0 * 2.0 * double(batch::size);  // per thread
        double best = 0;
        for (int rep = 0; rep < 8; ++rep) {
            parallel_for(threads, [&](index_t t) {
                const auto t0 = std::chrono::steady_clock::now();
                volatile double opaque[3] = {1.0, 0.9999999, 1e-7};
                batch a[12];
                for (int i = 0; i < 12; ++i) a[i] = batch(opaque[0] + 0.1 * i);
                const batch m(opaque[1]), c(opaque[2]);
                for (long r = 0; r < rounds; ++r)
                    for (int i = 0; i < 12; ++i) a[i] = xsimd::fma(a[i], m, c);
                batch s = a[0];
                for (int i = 1; i < 12; ++i) s += a[i];
                s.store_unaligned(sink.data() + t * 64);
                seconds[std::size_t(t)] = seconds_since(t0);
            }, threads);
            double rate = 0;
            for (double sec : seconds) rate += flops / sec;
            best = std::max(best, rate);
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
