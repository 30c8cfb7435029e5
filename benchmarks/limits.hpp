// Benchmark rows as fractions of this machine's limits (read bandwidth, FMA peak), both
// measured inside the benchmark binary (geomkit/detail/machine_limits.hpp).
#pragma once

#include <benchmark/benchmark.h>
#include <geomkit/detail/machine_limits.hpp>

#include <cstdio>

namespace geomkit_bench {

inline double read_bandwidth(int threads) { return geomkit::detail::measure_read_bandwidth(threads); }
inline double peak_flops(int threads) { return geomkit::detail::measure_peak_flops(threads); }

// Adds rate counters to a benchmark row: GB/s (through SetBytesProcessed), the fraction
// of read bandwidth, and GFLOP/s with the fraction of the FMA peak when flops > 0. The
// measured peak is the double one; `peak_scale` 2 compares float products with the float
// peak (a SIMD register holds twice as many floats).
inline void report_limits(benchmark::State& state, double bytes_per_iter, double flops_per_iter,
                          int threads, double peak_scale = 1.0) {
    const double iters = double(state.iterations());
    state.SetBytesProcessed(int64_t(bytes_per_iter * iters));
    state.counters["bw_frac"] = benchmark::Counter(bytes_per_iter * iters / read_bandwidth(threads),
                                                   benchmark::Counter::kIsRate);
    if (flops_per_iter > 0) {
        state.counters["GFLOPs"] = benchmark::Counter(flops_per_iter * iters * 1e-9, benchmark::Counter::kIsRate);
        const double peak = peak_scale * peak_flops(threads);
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
