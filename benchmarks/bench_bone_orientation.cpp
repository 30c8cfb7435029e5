// bone_orientation on the two snapshot shapes the Go reference is quoted for:
//   multi-head 32 x 8 x 512 x 128 (reads 64 MiB: rows read as a fraction of read bandwidth)
//   GQA        32 x 2 x 1024 x 128 (head 0 pairs: rows read as a fraction of the FMA peak,
//              counting S^2 D / 2 multiply-adds per layer, i.e. the useful half of S x S)
// at 1 and 2 threads, float keys (and bfloat16 keys for the multi-head shape).
//
// The Go reference is timed on the same snapshots when GEOMKIT_BO_REF names its binary
// (built from shared/peers/bo_go): each benchmark then runs it once, reads its `seconds`
// (analysis time only), checks the composite is equal and reports go_s and speedup.
#include <geomkit/bone_orientation.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "limits.hpp"

namespace {

struct shape {
    int L, H, S, D;
};

const std::vector<float>& keys_for(shape s) {
    static std::vector<float> mh, gqa;
    auto& k = s.H > 4 ? mh : gqa;
    if (k.empty()) {
        std::mt19937_64 gen(42);
        std::normal_distribution<float> normal;
        std::vector<float> common(std::size_t(s.D));
        for (auto& c : common) c = normal(gen);
        k.resize(std::size_t(s.L) * s.H * s.S * s.D);
        for (std::size_t i = 0; i < k.size(); ++i) k[i] = normal(gen) + 0.6f * common[i % std::size_t(s.D)];
    }
    return k;
}

// Runs the Go reference once on the snapshot; returns {seconds, composite} or {-1, -1}.
std::pair<double, int> go_reference(shape s) {
    const char* binary = std::getenv("GEOMKIT_BO_REF");
    if (!binary) return {-1.0, -1};
    const std::string path = "/tmp/geomkit_bench_bo_" + std::to_string(s.H) + ".bin";
    {
        std::ofstream out(path, std::ios::binary);
        const std::int32_t hdr[4] = {s.L, s.H, s.S, s.D};
        out.write(reinterpret_cast<const char*>(hdr), sizeof hdr);
        const auto& k = keys_for(s);
        out.write(reinterpret_cast<const char*>(k.data()), std::streamsize(k.size() * sizeof(float)));
    }
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(("\"" + std::string(binary) + "\" " + path).c_str(), "r"), pclose);
    std::string line;
    char buf[8192];
    while (pipe && std::fgets(buf, sizeof buf, pipe.get())) line += buf;
    const auto at = [&](const char* key) {
        const auto p = line.find(key);
        return p == std::string::npos ? -1.0 : std::atof(line.c_str() + p + std::strlen(key));
    };
    return {at("\"seconds\":"), int(at("\"composite\":"))};
}

float to_key(float x, float) { return x; }
geomkit::bfloat16 to_key(float x, geomkit::bfloat16) { return geomkit::bfloat16::from_float(x); }

// range(0): 0 = multi-head shape, 1 = GQA shape; range(1): threads.
template <class T>
void BM_bone_orientation(benchmark::State& state) {
    const shape s = state.range(0) == 0 ? shape{32, 8, 512, 128} : shape{32, 2, 1024, 128};
    const int threads = int(state.range(1));
    const auto& f = keys_for(s);
    std::vector<T> keys(f.size());
    for (std::size_t i = 0; i < f.size(); ++i) keys[i] = to_key(f[i], T{});
    geomkit::bone_orientation_options options;
    options.threads = threads;
    int composite = 0;
    for (auto _ : state) {
        auto r = geomkit::bone_orientation(keys.data(), s.L, s.H, s.S, s.D, options);
        composite = r.composite();
        benchmark::DoNotOptimize(r.mean_coherence);
    }
    const bool multi_head = s.H > 4;
    const double bytes = double(keys.size() * sizeof(T)) / (multi_head ? 1.0 : double(s.H));
    const double flops = multi_head ? 0.0 : 2.0 * s.L * 0.5 * double(s.S) * s.S * s.D;
    geomkit_bench::report_limits(state, bytes, flops, threads);
    state.counters["snapshots_per_s"] = benchmark::Counter(double(state.iterations()), benchmark::Counter::kIsRate);
    state.counters["composite"] = composite;
    static std::map<int, std::pair<double, int>> go;
    if (!go.count(s.H)) go[s.H] = go_reference(s);
    if (go[s.H].first > 0) {
        state.counters["go_s"] = go[s.H].first;
        state.counters["go_composite"] = go[s.H].second;
        state.counters["speedup"] = benchmark::Counter(go[s.H].first * double(state.iterations()),
                                                       benchmark::Counter::kIsRate);
    }
}

BENCHMARK_TEMPLATE(BM_bone_orientation, float)
    ->ArgNames({"gqa", "threads"})->Args({0, 1})->Args({0, 2})->Args({1, 1})->Args({1, 2})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_bone_orientation, geomkit::bfloat16)
    ->ArgNames({"gqa", "threads"})->Args({0, 1})->Args({0, 2})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

GEOMKIT_BENCHMARK_MAIN()
