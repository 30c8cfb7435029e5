// Simplex volumes: batched (contiguous batch × (k+1) × d) and indexed (5-tuples of row
// indices into one table, read in place), float and double, for d = 64, 512, 4096; and,
// in the same binary, the seeds' float32 recipe (gather, Gram trick, bordered CM
// determinant in float) on the same indexed job as the peer. Rows give simplices/s
// (items_per_second), GB/s of vertex data read, and the fraction of read bandwidth.
#include <geomkit/cayley_menger.hpp>
#include <geomkit/core/random.hpp>

#include <random>
#include <vector>

#include "limits.hpp"

namespace {

template <class T>
std::vector<T> random_values(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<double> g(0.0, 1.0);
    std::vector<T> x(n);
    for (auto& v : x) v = T(g(gen));
    return x;
}

std::vector<std::int32_t> random_tuples(geomkit::index_t batch, geomkit::index_t n, std::uint64_t seed) {
    std::vector<std::int32_t> idx(std::size_t(batch * 5));
    for (geomkit::index_t b = 0; b < batch; ++b) {
        std::uint32_t t[5];
        geomkit::counter_rng rng(seed, std::uint64_t(b));
        geomkit::sample_distinct(rng, std::uint32_t(n), 5, t);
        for (int i = 0; i < 5; ++i) idx[std::size_t(b * 5 + i)] = std::int32_t(t[i]);
    }
    return idx;
}

// Batch sizes that keep each contiguous input near 100-200 MB.
geomkit::index_t batch_for(geomkit::index_t d) { return d <= 64 ? 100000 : d <= 512 ? 20000 : 2500; }

template <class T>
void BM_batched_volume_sq(benchmark::State& state) {
    const auto d = geomkit::index_t(state.range(0));
    const int threads = int(state.range(1));
    const auto batch = batch_for(d);
    const auto x = random_values<T>(std::size_t(batch * 5 * d), 1);
    std::vector<double> out(static_cast<std::size_t>(batch));
    geomkit::set_num_threads(threads);
    for (auto _ : state) {
        geomkit::simplex_volume_sq(geomkit::batch_view<const T>(x.data(), batch, 5, d), out.data());
        benchmark::DoNotOptimize(out.data());
    }
    geomkit::set_num_threads(0);
    state.SetItemsProcessed(state.iterations() * batch);
    geomkit_bench::report_limits(state, double(batch * 5 * d) * sizeof(T), double(batch) * 24.0 * double(d), threads);
}

template <class T>
void BM_indexed_volume_sq(benchmark::State& state) {
    const auto d = geomkit::index_t(state.range(0));
    const int threads = int(state.range(1));
    const geomkit::index_t n = d <= 512 ? 32128 : 8192, batch = 100000;
    const auto x = random_values<T>(std::size_t(n * d), 2);
    const auto idx = random_tuples(batch, n, 3);
    std::vector<double> out(static_cast<std::size_t>(batch));
    geomkit::set_num_threads(threads);
    for (auto _ : state) {
        geomkit::simplex_volume_sq(geomkit::make_view(x.data(), n, d), geomkit::make_view(idx.data(), batch, 5),
                                   out.data());
        benchmark::DoNotOptimize(out.data());
    }
    geomkit::set_num_threads(0);
    state.SetItemsProcessed(state.iterations() * batch);
    geomkit_bench::report_limits(state, double(batch * 5 * d) * sizeof(T), double(batch) * 24.0 * double(d), threads);
}

// The seeds' float32 batched recipe, written as a C++ user would port it: gather the
// 5 rows, Gram by float dot products, d² = |a|² + |b|² − 2a·b, 6×6 bordered determinant
// by partial-pivot LU in float. (It also fails the accuracy bar: tests/test_cayley_menger.)
void BM_peer_float32_recipe(benchmark::State& state) {
    const geomkit::index_t d = state.range(0), n = d <= 512 ? 32128 : 8192, batch = 100000;
    const auto x = random_values<float>(std::size_t(n * d), 2);
    const auto idx = random_tuples(batch, n, 3);
    std::vector<double> out(static_cast<std::size_t>(batch));
    std::vector<float> pts(static_cast<std::size_t>(5 * d));
    for (auto _ : state) {
        for (geomkit::index_t b = 0; b < batch; ++b) {
            for (int i = 0; i < 5; ++i)
                std::copy_n(x.data() + idx[std::size_t(b * 5 + i)] * d, d, pts.data() + i * d);
            float g[5][5], cm[6][6];
            for (int i = 0; i < 5; ++i)
                for (int j = 0; j <= i; ++j) {
                    float s = 0.0f;
                    for (geomkit::index_t l = 0; l < d; ++l) s += pts[std::size_t(i * d + l)] * pts[std::size_t(j * d + l)];
                    g[i][j] = g[j][i] = s;
                }
            for (int i = 0; i < 6; ++i)
                for (int j = 0; j < 6; ++j)
                    cm[i][j] = (i == 0 && j == 0) ? 0.0f : (i == 0 || j == 0) ? 1.0f
                               : std::max(0.0f, g[i - 1][i - 1] + g[j - 1][j - 1] - 2.0f * g[i - 1][j - 1]);
            float det = 1.0f;
            for (int c = 0; c < 6; ++c) {
                int p = c;
                for (int i = c + 1; i < 6; ++i)
                    if (std::fabs(cm[i][c]) > std::fabs(cm[p][c])) p = i;
                if (p != c) {
                    for (int j = 0; j < 6; ++j) std::swap(cm[c][j], cm[p][j]);
                    det = -det;
                }
                det *= cm[c][c];
                if (cm[c][c] == 0.0f) break;
                for (int i = c + 1; i < 6; ++i) {
                    const float l = cm[i][c] / cm[c][c];
                    for (int j = c; j < 6; ++j) cm[i][j] -= l * cm[c][j];
                }
            }
            out[std::size_t(b)] = -double(det) / 9216.0;
        }
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(state.iterations() * batch);
    geomkit_bench::report_limits(state, double(batch * 5 * d) * sizeof(float), double(batch) * 30.0 * double(d), 1);
}

#define GEOMKIT_DIMS ->Args({64, 1})->Args({512, 1})->Args({4096, 1})->Args({512, 2})->Unit(benchmark::kMillisecond)->UseRealTime()
BENCHMARK_TEMPLATE(BM_batched_volume_sq, float) GEOMKIT_DIMS;
BENCHMARK_TEMPLATE(BM_batched_volume_sq, double) GEOMKIT_DIMS;
BENCHMARK_TEMPLATE(BM_indexed_volume_sq, float) GEOMKIT_DIMS;
BENCHMARK_TEMPLATE(BM_indexed_volume_sq, double) ->Args({512, 1})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_peer_float32_recipe)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

GEOMKIT_BENCHMARK_MAIN()
