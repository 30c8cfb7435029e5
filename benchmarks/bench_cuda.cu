// GPU against CPU in the same run: batched simplex volumes (2·10^4 pentachora, d = 128,
// float), pentachoron CV (10^5 samples of a 32128 × 512 float table), participation ratio
// (8192 × 512 float) and batched Procrustes (10^4 problems of 128 × 16). GPU rows time
// the launcher including its synchronisation (inputs already on the device); CPU rows are
// the CPU function on the same data. Without a usable GPU the program prints
// "no CUDA device: <reason>" and runs only the CPU rows.
#include <benchmark/benchmark.h>

#include <geomkit/cayley_menger.hpp>
#include <geomkit/cuda.cuh>
#include <geomkit/pentachoron.hpp>

#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "../tests/cuda/cpu_reference.hpp"

namespace {

using geomkit::index_t;

std::vector<float> random_floats(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::vector<float> x(n);
    for (auto& v : x) v = g(gen);
    return x;
}

bool gpu() {
    static const bool available = geomkit::cuda::device_available();
    return available;
}

template <class T>
struct device_array {
    T* ptr = nullptr;
    explicit device_array(const std::vector<T>& h) {
        geomkit::cuda::check(cudaMalloc(&ptr, h.size() * sizeof(T)), "bench");
        geomkit::cuda::check(cudaMemcpy(ptr, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice), "bench");
    }
    explicit device_array(std::size_t n) { geomkit::cuda::check(cudaMalloc(&ptr, n * sizeof(T)), "bench"); }
    ~device_array() { cudaFree(ptr); }
};

constexpr index_t volume_batch = 20000, volume_d = 128;

void simplex_volumes(benchmark::State& state, bool on_gpu) {
    if (on_gpu && !gpu()) return state.SkipWithError("no CUDA device");
    const auto x = random_floats(static_cast<std::size_t>(volume_batch * 5 * volume_d), 1);
    std::vector<double> out(static_cast<std::size_t>(volume_batch));
    if (on_gpu) {
        device_array<float> dx(x);
        device_array<double> dout(static_cast<std::size_t>(volume_batch));
        for (auto _ : state)
            geomkit::cuda::simplex_volume_sq(geomkit::batch_view<const float>(dx.ptr, volume_batch, 5, volume_d), dout.ptr);
    } else {
        for (auto _ : state)
            geomkit::simplex_volume_sq(geomkit::batch_view<const float>(x.data(), volume_batch, 5, volume_d), out.data());
    }
    state.SetItemsProcessed(state.iterations() * volume_batch);
    state.SetBytesProcessed(state.iterations() * volume_batch * 5 * volume_d * index_t(sizeof(float)));
}

void pentachoron(benchmark::State& state, bool on_gpu) {
    if (on_gpu && !gpu()) return state.SkipWithError("no CUDA device");
    const index_t n = 32128, d = 512;
    const auto x = random_floats(static_cast<std::size_t>(n * d), 2);
    geomkit::pentachoron_params p;
    p.n_samples = 100000;
    p.method = geomkit::pentachoron_method::direct;
    double cv = 0;
    if (on_gpu) {
        device_array<float> dx(x);
        for (auto _ : state) cv = *geomkit::cuda::pentachoron_cv(geomkit::make_view<const float>(dx.ptr, n, d), p).cv;
    } else {
        for (auto _ : state) cv = *geomkit::pentachoron_cv(geomkit::make_view<const float>(x.data(), n, d), p).cv;
    }
    state.counters["cv"] = cv;
    state.SetItemsProcessed(state.iterations() * p.n_samples);
}

void participation(benchmark::State& state, bool on_gpu) {
    if (on_gpu && !gpu()) return state.SkipWithError("no CUDA device");
    const index_t n = 8192, d = 512;
    const auto x = random_floats(static_cast<std::size_t>(n * d), 3);
    double pr = 0;
    if (on_gpu) {
        device_array<float> dx(x);
        for (auto _ : state) pr = geomkit::cuda::participation_ratio(geomkit::make_view<const float>(dx.ptr, n, d));
    } else {
        for (auto _ : state) pr = geomkit_test::cpu_participation_ratio(geomkit::make_view<const float>(x.data(), n, d));
    }
    state.counters["pr"] = pr;
    state.SetBytesProcessed(state.iterations() * n * d * index_t(sizeof(float)));
}

void procrustes(benchmark::State& state, bool on_gpu) {
    if (on_gpu && !gpu()) return state.SkipWithError("no CUDA device");
    const index_t batch = 10000, n = 128, d = 16;
    const auto a = random_floats(static_cast<std::size_t>(batch * n * d), 4), b = random_floats(static_cast<std::size_t>(batch * n * d), 5);
    std::vector<double> R(static_cast<std::size_t>(batch * d * d)), s(static_cast<std::size_t>(batch));
    if (on_gpu) {
        device_array<float> da(a), db(b);
        device_array<double> dR(R.size()), ds(s.size());
        for (auto _ : state)
            geomkit::cuda::orthogonal_procrustes_batched(geomkit::make_view<const float>(da.ptr, batch * n, d),
                                                         geomkit::make_view<const float>(db.ptr, batch * n, d), n,
                                                         geomkit::make_view(dR.ptr, batch * d, d), ds.ptr);
    } else {
        for (auto _ : state)
            geomkit_test::cpu_procrustes_batched(geomkit::make_view<const float>(a.data(), batch * n, d),
                                                 geomkit::make_view<const float>(b.data(), batch * n, d), n,
                                                 geomkit::make_view(R.data(), batch * d, d), s.data());
    }
    state.SetItemsProcessed(state.iterations() * batch);
}

}  // namespace

int main(int argc, char** argv) {
    std::string reason;
    const bool have_gpu = geomkit::cuda::device_available(&reason);
    if (!have_gpu) std::cout << "no CUDA device: " << reason << " (GPU rows skipped)\n";
    for (bool on_gpu : {false, true}) {
        if (on_gpu && !have_gpu) continue;
        const std::string side = on_gpu ? "gpu" : "cpu";
        benchmark::RegisterBenchmark(("simplex_volume_sq/" + side).c_str(), simplex_volumes, on_gpu)->Unit(benchmark::kMillisecond)->UseRealTime();
        benchmark::RegisterBenchmark(("pentachoron_cv/" + side).c_str(), pentachoron, on_gpu)->Unit(benchmark::kMillisecond)->UseRealTime();
        benchmark::RegisterBenchmark(("participation_ratio/" + side).c_str(), participation, on_gpu)->Unit(benchmark::kMillisecond)->UseRealTime();
        benchmark::RegisterBenchmark(("procrustes_batched/" + side).c_str(), procrustes, on_gpu)->Unit(benchmark::kMillisecond)->UseRealTime();
    }
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
