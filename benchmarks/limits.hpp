// This machine's limits, measured inside the benchmark binary so every kernel row can be
// read as a fraction of them: streaming read bandwidth (bytes/s) and double-precision FMA
// peak (FLOP/s), each at a given thread count. Measured once per process, best of a few.
#pragma once

#include <benchmark/benchmark.h>
#include <geomkit/core/parallel.hpp>
#include <geomkit/simd/dot.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <vector>

namespace geomkit_bench {

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Read bandwidth: threads sum disjoint parts of a 512 MiB buffer (far beyond any cache).
inline double read_bandwidth(int threads) {
    static std::map<int, double> cache;
    auto it = cache.find(threads);
    if (it != cache.end()) return it->second;
    const std::size_t n = std::size_t(512) << 20 >> 3;
    std::vector<double> buf(n, 1.0);
    const geomkit::index_t chunks = 64, per = geomkit::index_t(n) / chunks;
    double best = 0;
    for (int rep = 0; rep < 5; ++rep) {
        std::vector<double> part(chunks);
        const auto t0 = std::chrono::steady_clock::now();
        geomkit::parallel_for(chunks, [&](geomkit::index_t c) {
            part[std::size_t(c)] = geomkit::simd::squared_norm(buf.data() + c * per, per);
        }, threads);
        const double s = seconds_since(t0);
        benchmark::DoNotOptimize(part.data());
        best = std::max(best, double(n * sizeof(double)) / s);
    }
    return cache[threads] = best;
}

// Double FMA peak: independent accumulator chains that stay in registers.
inline double peak_flops(int threads) {
    static std::map<int, double> cache;
    auto it = cache.find(threads);
    if (it != cache.end()) return it->second;
#if GEOMKIT_HAS_SIMD
    using batch = geomkit::simd::double_batch<geomkit::simd::default_arch>;
    const long iters = 20000000;
    double best = 0;
    for (int rep = 0; rep < 3; ++rep) {
        const auto t0 = std::chrono::steady_clock::now();
        geomkit::parallel_for(threads, [&](geomkit::index_t) {
            batch a0(1.0), a1(1.1), a2(1.2), a3(1.3), a4(1.4), a5(1.5), a6(1.6), a7(1.7);
            batch a8(1.8), a9(1.9), a10(2.0), a11(2.1);
            const batch m(0.9999999), c(1e-7);
            for (long i = 0; i < iters / 12; ++i) {
                a0 = xsimd::fma(a0, m, c); a1 = xsimd::fma(a1, m, c); a2 = xsimd::fma(a2, m, c);
                a3 = xsimd::fma(a3, m, c); a4 = xsimd::fma(a4, m, c); a5 = xsimd::fma(a5, m, c);
                a6 = xsimd::fma(a6, m, c); a7 = xsimd::fma(a7, m, c); a8 = xsimd::fma(a8, m, c);
                a9 = xsimd::fma(a9, m, c); a10 = xsimd::fma(a10, m, c); a11 = xsimd::fma(a11, m, c);
            }
            batch s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
            benchmark::DoNotOptimize(s);
        }, threads);
        const double secs = seconds_since(t0);
        best = std::max(best, double(threads) * double(iters / 12 * 12) * 2.0 * double(batch::size) / secs);
    }
    return cache[threads] = best;
#else
    return cache[threads] = 0.0;
#endif
}

// Adds rate counters to a benchmark row: GB/s (through SetBytesProcessed), the fraction
// of read bandwidth, and GFLOP/s with the fraction of the FMA peak when flops > 0.
inline void report_limits(benchmark::State& state, double bytes_per_iter, double flops_per_iter,
                          int threads) {
    const double iters = double(state.iterations());
    state.SetBytesProcessed(int64_t(bytes_per_iter * iters));
    state.counters["bw_frac"] = benchmark::Counter(bytes_per_iter * iters / read_bandwidth(threads),
                                                   benchmark::Counter::kIsRate);
    if (flops_per_iter > 0) {
        state.counters["GFLOPs"] = benchmark::Counter(flops_per_iter * iters * 1e-9, benchmark::Counter::kIsRate);
        const double peak = peak_flops(threads);
        if (peak > 0)
            state.counters["peak_frac"] = benchmark::Counter(flops_per_iter * iters / peak,
                                                             benchmark::Counter::kIsRate);
    }
}

// Prints the measured limits once, so a benchmark log states what it was compared with.
inline void print_limits() {
    const int t = geomkit::num_threads();
    std::printf("machine limits (measured): read bandwidth %.1f GB/s at 1 thread, %.1f GB/s at %d; "
                "double FMA peak %.1f GFLOP/s at 1 thread, %.1f at %d; SIMD path %s\n",
                read_bandwidth(1) * 1e-9, read_bandwidth(t) * 1e-9, t, peak_flops(1) * 1e-9,
                peak_flops(t) * 1e-9, t, geomkit::simd::arch_name());
}

}  // namespace geomkit_bench

// Main for every geomkit benchmark binary: print the limits, then run.
#define GEOMKIT_BENCHMARK_MAIN()                                   \
    int main(int argc, char** argv) {                              \
        benchmark::Initialize(&argc, argv);                        \
        if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1; \
        geomkit_bench::print_limits();                             \
        benchmark::RunSpecifiedBenchmarks();                       \
        benchmark::Shutdown();                                     \
        return 0;                                                  \
    }
