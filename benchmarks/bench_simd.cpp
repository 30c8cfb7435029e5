// SIMD primitives (dot, squared norm, squared distance) against their scalar paths, for
// float and double rows, from L1-resident to memory-resident sizes. Rows read as GB/s
// and as a fraction of this machine's read bandwidth (measured in the same binary).
#include <geomkit/simd/dot.hpp>

#include <vector>

#include "limits.hpp"

namespace {

template <class T>
std::vector<T> filled(std::size_t n, double v) {
    std::vector<T> x(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = T(v + 1e-3 * double(i % 97));
    return x;
}

template <class T, bool Simd>
void BM_dot(benchmark::State& state) {
    const auto n = geomkit::index_t(state.range(0));
    const auto a = filled<T>(std::size_t(n), 0.5), b = filled<T>(std::size_t(n), -0.25);
    for (auto _ : state) {
        double s = Simd ? geomkit::simd::dot(a.data(), b.data(), n)
                        : geomkit::simd::scalar::dot(a.data(), b.data(), n);
        benchmark::DoNotOptimize(s);
    }
    geomkit_bench::report_limits(state, 2.0 * double(n) * sizeof(T), 2.0 * double(n), 1);
}

template <class T, bool Simd>
void BM_squared_distance(benchmark::State& state) {
    const auto n = geomkit::index_t(state.range(0));
    const auto a = filled<T>(std::size_t(n), 0.5), b = filled<T>(std::size_t(n), -0.25);
    for (auto _ : state) {
        double s = Simd ? geomkit::simd::squared_distance(a.data(), b.data(), n)
                        : geomkit::simd::scalar::squared_distance(a.data(), b.data(), n);
        benchmark::DoNotOptimize(s);
    }
    geomkit_bench::report_limits(state, 2.0 * double(n) * sizeof(T), 3.0 * double(n), 1);
}

template <class T, bool Simd>
void BM_squared_norm(benchmark::State& state) {
    const auto n = geomkit::index_t(state.range(0));
    const auto a = filled<T>(std::size_t(n), 0.5);
    for (auto _ : state) {
        double s = Simd ? geomkit::simd::squared_norm(a.data(), n)
                        : geomkit::simd::scalar::squared_norm(a.data(), n);
        benchmark::DoNotOptimize(s);
    }
    geomkit_bench::report_limits(state, double(n) * sizeof(T), 2.0 * double(n), 1);
}

// 512 (a head or embedding row), 64 Ki (L2) and 16 Mi elements (memory).
#define GEOMKIT_SIZES ->Arg(512)->Arg(1 << 16)->Arg(1 << 24)
BENCHMARK_TEMPLATE(BM_dot, float, true) GEOMKIT_SIZES;
BENCHMARK_TEMPLATE(BM_dot, float, false) GEOMKIT_SIZES;
BENCHMARK_TEMPLATE(BM_dot, double, true) GEOMKIT_SIZES;
BENCHMARK_TEMPLATE(BM_dot, double, false) GEOMKIT_SIZES;
BENCHMARK_TEMPLATE(BM_squared_distance, float, true) GEOMKIT_SIZES;
BENCHMARK_TEMPLATE(BM_squared_distance, float, false) GEOMKIT_SIZES;
BENCHMARK_TEMPLATE(BM_squared_distance, double, true) GEOMKIT_SIZES;
BENCHMARK_TEMPLATE(BM_squared_norm, float, true) GEOMKIT_SIZES;
BENCHMARK_TEMPLATE(BM_squared_norm, double, true) GEOMKIT_SIZES;

}  // namespace

GEOMKIT_BENCHMARK_MAIN()
