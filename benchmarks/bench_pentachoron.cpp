// Pentachoron CV with 1e5 samples: the direct path over whole tables (d = 64, 512, 4096;
// the 32128 × 512 float32 table is T5-small's embedding) at 1 and 2 threads, and the
// pool-Gram path against the direct path on a 512-row pool. Rows give samples/s
// (items_per_second) and the GB/s of sampled rows read.
#include <geomkit/pentachoron.hpp>

#include <random>
#include <vector>

#include "limits.hpp"

namespace {

template <class T>
std::vector<T> random_table(geomkit::index_t n, geomkit::index_t d, std::uint64_t seed) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<double> g(0.0, 1.0);
    std::vector<T> x(std::size_t(n * d));
    for (auto& v : x) v = T(g(gen));
    return x;
}

template <class T>
void run_cv(benchmark::State& state, geomkit::index_t n, geomkit::index_t d, geomkit::pentachoron_params p) {
    const auto x = random_table<T>(n, d, 1);
    const auto view = geomkit::make_view(x.data(), n, d);
    double cv = 0;
    for (auto _ : state) {
        const auto r = geomkit::pentachoron_cv(view, p);
        cv = r.cv.value_or(-1.0);
        benchmark::DoNotOptimize(cv);
    }
    state.counters["cv"] = cv;
    state.SetItemsProcessed(state.iterations() * p.n_samples);
    geomkit_bench::report_limits(state, double(p.n_samples) * 5.0 * double(d) * sizeof(T),
                                 double(p.n_samples) * 24.0 * double(d), p.threads);
}

// args: d, threads. Whole table (32128 rows; 8192 at d = 4096), direct path.
template <class T>
void BM_pentachoron_cv_table(benchmark::State& state) {
    const geomkit::index_t d = state.range(0), n = d <= 512 ? 32128 : 8192;
    geomkit::pentachoron_params p;
    p.n_samples = 100000;
    p.threads = int(state.range(1));
    run_cv<T>(state, n, d, p);
}

// args: d, method (1 direct, 2 pool Gram). A 512-row pool, 1e5 samples.
void BM_pentachoron_cv_pool512(benchmark::State& state) {
    const geomkit::index_t d = state.range(0);
    geomkit::pentachoron_params p;
    p.n_samples = 100000;
    p.pool = 512;
    p.threads = 1;
    p.method = geomkit::pentachoron_method(state.range(1));
    run_cv<float>(state, 512, d, p);
}

BENCHMARK_TEMPLATE(BM_pentachoron_cv_table, float)
    ->Args({64, 1})->Args({512, 1})->Args({512, 2})->Args({4096, 1})->Args({4096, 2})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_pentachoron_cv_table, double)->Args({512, 1})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_pentachoron_cv_pool512)
    ->Args({512, 1})->Args({512, 2})->Args({4096, 1})->Args({4096, 2})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

GEOMKIT_BENCHMARK_MAIN()
