// Participation ratio (float input: the register-blocked float Gram, float products summed
// in double; double input: tiled SYRK in double) on the shapes, and the
// weight-matrix battery. Peer rows: the textbook route in Eigen (covariance by GEMM +
// SelfAdjointEigenSolver), the same recipe as numpy's cov + eigvalsh. GFLOP/s count n·d²
// (the SYRK's multiply-adds ×2 / 2) for the PR rows; float rows against the float peak.
#include <geomkit/spectrum.hpp>

#include <algorithm>
#include <random>
#include <vector>

#include "limits.hpp"

namespace {

template <class T>
std::vector<T> gaussian(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<double> nd;
    std::vector<T> v(n);
    for (auto& x : v) x = T(0.5 + nd(gen));
    return v;
}

template <class T>
void BM_participation_ratio(benchmark::State& state) {
    const auto n = geomkit::index_t(state.range(0)), d = geomkit::index_t(state.range(1));
    const auto x = gaussian<T>(std::size_t(n * d), 1);
    const auto view = geomkit::make_view(x.data(), n, d);
    for (auto _ : state) {
        double pr = geomkit::participation_ratio(view);
        benchmark::DoNotOptimize(pr);
    }
    const double m = double(std::min(n, d)), k = double(std::max(n, d));
    geomkit_bench::report_limits(state, double(n * d) * sizeof(T), k * m * m, geomkit::num_threads(),
                                 sizeof(T) == 4 ? 2.0 : 1.0);
}

// Peer: centre, covariance by one Eigen GEMM (single-threaded here), eigenvalues, PR.
template <class T>
void BM_pr_covariance_eigvalsh(benchmark::State& state) {
    const auto n = geomkit::index_t(state.range(0)), d = geomkit::index_t(state.range(1));
    const auto x = gaussian<T>(std::size_t(n * d), 1);
    const auto X = geomkit::as_eigen(geomkit::make_view(x.data(), n, d));
    for (auto _ : state) {
        using M = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
        const M xc = X.rowwise() - X.colwise().mean();
        const M c = xc.transpose() * xc / T(n);
        Eigen::SelfAdjointEigenSolver<M> es(c, Eigen::EigenvaluesOnly);
        const double s = double(es.eigenvalues().sum()), s2 = double(es.eigenvalues().squaredNorm());
        double pr = s * s / s2;
        benchmark::DoNotOptimize(pr);
    }
    geomkit_bench::report_limits(state, double(n * d) * sizeof(T), 2.0 * double(n) * double(d) * double(d), 1);
}

template <class T>
void BM_spectrum_stats(benchmark::State& state) {
    const auto m = geomkit::index_t(state.range(0)), n = geomkit::index_t(state.range(1));
    const auto w = gaussian<T>(std::size_t(m * n), 2);
    const auto method = geomkit::singular_value_method(state.range(2));
    for (auto _ : state) {
        auto r = geomkit::spectrum_stats(geomkit::make_view(w.data(), m, n), method);
        benchmark::DoNotOptimize(r);
    }
    // The svd route's Householder flops (QR first when one side is ≥ 5/3 of the other,
    // then the two-stage bidiagonalisation's dense-to-band stage); the bulge chase adds
    // ~8·32·k² and the bisection O(k²). No count for the other methods.
    const double big = double(std::max(m, n)), k = double(std::min(m, n));
    const double householder = big * 3 >= k * 5 ? 2 * big * k * k - 2.0 / 3 * k * k * k + 8.0 / 3 * k * k * k
                                                : 4 * big * k * k - 4.0 / 3 * k * k * k;
    const bool svd = method == geomkit::singular_value_method::svd;
    geomkit_bench::report_limits(state, double(m * n) * sizeof(T), svd ? householder : 0, geomkit::num_threads());
}

BENCHMARK_TEMPLATE(BM_participation_ratio, float)->Args({20000, 2048})->Args({32128, 512})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_participation_ratio, double)->Args({20000, 2048})->Args({32128, 512})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_pr_covariance_eigvalsh, float)->Args({32128, 512})->Unit(benchmark::kMillisecond)->UseRealTime();
// method: 0 automatic, 1 gram, 2 svd
BENCHMARK_TEMPLATE(BM_spectrum_stats, float)->Args({512, 512, 0})->Args({512, 512, 2})->Args({2048, 512, 0})->Args({2048, 512, 2})->Unit(benchmark::kMillisecond)->UseRealTime();
// The LLM shapes (svd route: two-stage reduction, QR first for the rectangular ones).
BENCHMARK_TEMPLATE(BM_spectrum_stats, float)->Args({1024, 1024, 2})->Args({2048, 2048, 2})->Args({2048, 5632, 2})->Args({5632, 2048, 2})->Args({256, 2048, 2})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

}  // namespace

GEOMKIT_BENCHMARK_MAIN()
