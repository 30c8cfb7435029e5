// Orthogonal Procrustes: one 10000 × 1024 float64 problem (AᵀB in a tiled threaded GEMM,
// then Newton's polar iteration with blocked Gauss–Jordan inverses), and 10,000 problems
// of 128 × 16 in one batched call. Peer row: Eigen's umeyama (no scaling), which copies
// and centres both clouds. GFLOP/s count the AᵀB
// product (2·n·d²) only.
#include <geomkit/procrustes.hpp>

#include <Eigen/Geometry>
#include <random>
#include <vector>

#include "limits.hpp"

namespace {

template <class T>
std::vector<T> gaussian(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<double> nd;
    std::vector<T> v(n);
    for (auto& x : v) x = T(nd(gen));
    return v;
}

template <class T>
void BM_orthogonal_procrustes(benchmark::State& state) {
    const auto n = geomkit::index_t(state.range(0)), d = geomkit::index_t(state.range(1));
    const auto a = gaussian<T>(std::size_t(n * d), 1), b = gaussian<T>(std::size_t(n * d), 2);
    for (auto _ : state) {
        auto r = geomkit::orthogonal_procrustes(geomkit::make_view(a.data(), n, d), geomkit::make_view(b.data(), n, d));
        benchmark::DoNotOptimize(r.scale);
    }
    geomkit_bench::report_limits(state, 2.0 * double(n * d) * sizeof(T), 2.0 * double(n) * double(d) * double(d),
                                 geomkit::num_threads());
}

void BM_eigen_umeyama(benchmark::State& state) {
    const auto n = geomkit::index_t(state.range(0)), d = geomkit::index_t(state.range(1));
    const auto a = gaussian<double>(std::size_t(n * d), 1), b = gaussian<double>(std::size_t(n * d), 2);
    // umeyama takes d × n column sets.
    const Eigen::Map<const Eigen::MatrixXd> A(a.data(), d, n), B(b.data(), d, n);
    for (auto _ : state) {
        Eigen::MatrixXd t = Eigen::umeyama(A, B, false);
        benchmark::DoNotOptimize(t.data());
    }
    geomkit_bench::report_limits(state, 2.0 * double(n * d) * 8, 2.0 * double(n) * double(d) * double(d), 1);
}

template <class T>
void BM_procrustes_batched(benchmark::State& state) {
    const auto batch = geomkit::index_t(state.range(0)), n = geomkit::index_t(state.range(1)),
               d = geomkit::index_t(state.range(2));
    const auto a = gaussian<T>(std::size_t(batch * n * d), 3), b = gaussian<T>(std::size_t(batch * n * d), 4);
    std::vector<double> R(static_cast<std::size_t>(batch * d * d)), s(static_cast<std::size_t>(batch));
    for (auto _ : state) {
        geomkit::orthogonal_procrustes_batched(geomkit::make_view(a.data(), batch * n, d),
                                               geomkit::make_view(b.data(), batch * n, d), n,
                                               geomkit::make_view(R.data(), batch * d, d), s.data());
        benchmark::DoNotOptimize(s.data());
    }
    state.SetItemsProcessed(int64_t(state.iterations()) * batch);
    geomkit_bench::report_limits(state, 2.0 * double(batch * n * d) * sizeof(T),
                                 2.0 * double(batch) * double(n) * double(d) * double(d), geomkit::num_threads());
}

BENCHMARK_TEMPLATE(BM_orthogonal_procrustes, double)->Args({10000, 1024})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_orthogonal_procrustes, double)->Args({10000, 256})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_eigen_umeyama)->Args({10000, 256})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_procrustes_batched, double)->Args({10000, 128, 16})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_procrustes_batched, float)->Args({10000, 128, 16})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

GEOMKIT_BENCHMARK_MAIN()
