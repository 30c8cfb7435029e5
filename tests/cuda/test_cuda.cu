// geomkit/cuda: what runs without a GPU ([host]: error translation, argument checks with
// the CPU's messages, empty inputs, and the shared per-item math of the kernels run on
// the host through the same .cuh functions, against the CPU functions), and what needs
// one ([device]: every GPU function against the CPU function on the same data).
//
// Usage: test_cuda [--require-device] [Catch2 arguments]. With --require-device and no
// usable GPU it prints "no CUDA device: <reason>" and exits 77 (CTest's SKIP_RETURN_CODE).
#define CATCH_CONFIG_RUNNER
#include "../testing.hpp"

#include <geomkit/bone_orientation.hpp>
#include <geomkit/cayley_menger.hpp>
#include <geomkit/cuda.cuh>
#include <geomkit/pentachoron.hpp>

#include "cpu_reference.hpp"

#include <cmath>
#include <cstring>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

using geomkit::index_t;
namespace gc = geomkit::cuda;
using geomkit_test::random_vector;
using geomkit_test::require_error;

namespace {

// The message of the geomkit::error `fn` throws ("" when it throws none).
template <class Fn>
std::string message_of(Fn&& fn) {
    try {
        fn();
    } catch (const geomkit::error& e) {
        return e.what();
    }
    return "";
}

// The CPU's message for the same bad input, as the GPU function words it.
std::string as_gpu(std::string cpu, const std::string& function) {
    const std::string from = "geomkit::" + function + ":", to = "geomkit::cuda::" + function + ":";
    REQUIRE(cpu.compare(0, from.size(), from) == 0);
    return to + cpu.substr(from.size());
}

template <class CpuFn, class GpuFn>
void same_error(const std::string& function, CpuFn&& cpu, GpuFn&& gpu) {
    const std::string expected = message_of(cpu), got = message_of(gpu);
    INFO("cpu: " << expected);
    REQUIRE(!expected.empty());
    CHECK(got == as_gpu(expected, function));
}

bool have_device() {
    static const bool available = gc::device_available();
    return available;
}

#define GEOMKIT_REQUIRE_DEVICE()                                       \
    do {                                                               \
        std::string reason_;                                           \
        if (!gc::device_available(&reason_)) {                         \
            WARN("skipped: no CUDA device: " << reason_);              \
            return;                                                    \
        }                                                              \
    } while (0)

// Device copy of a host vector.
template <class T>
struct device_copy {
    T* ptr = nullptr;
    std::size_t n = 0;
    explicit device_copy(const std::vector<T>& host) : n(host.size()) {
        gc::check(cudaMalloc(&ptr, std::max<std::size_t>(n, 1) * sizeof(T)), "test");
        if (n) gc::check(cudaMemcpy(ptr, host.data(), n * sizeof(T), cudaMemcpyHostToDevice), "test");
    }
    explicit device_copy(std::size_t count) : n(count) {
        gc::check(cudaMalloc(&ptr, std::max<std::size_t>(n, 1) * sizeof(T)), "test");
    }
    ~device_copy() { cudaFree(ptr); }
    std::vector<T> to_host() const {
        std::vector<T> h(n);
        if (n) gc::check(cudaMemcpy(h.data(), ptr, n * sizeof(T), cudaMemcpyDeviceToHost), "test");
        return h;
    }
};

double rel(double a, double b) { return std::fabs(a - b) / std::max(std::fabs(b), 1e-300); }

// The xor butterfly of warp_lanes::sum, emulated over 32 host values.
double butterfly(std::vector<double> lane) {
    for (int offset = 16; offset > 0; offset /= 2) {
        std::vector<double> next(32);
        for (int l = 0; l < 32; ++l) next[std::size_t(l)] = lane[std::size_t(l)] + lane[std::size_t(l ^ offset)];
        lane = next;
    }
    for (int l = 1; l < 32; ++l) REQUIRE(lane[std::size_t(l)] == lane[0]);  // every lane agrees bitwise
    return lane[0];
}

}  // namespace

// ===================================================================== host side

TEST_CASE("cuda: errors carry the function and the CUDA/cuBLAS/cuSOLVER name and text", "[host]") {
    require_error([] { gc::check(cudaErrorInvalidValue, "simplex_volume_sq"); },
                  {"geomkit::cuda::simplex_volume_sq: cudaErrorInvalidValue: invalid argument"});
    CHECK(message_of([] { gc::check(cudaErrorNoDevice, "pentachoron_cv"); }) ==
          std::string("geomkit::cuda::pentachoron_cv: cudaErrorNoDevice: ") + cudaGetErrorString(cudaErrorNoDevice));
    require_error([] { gc::check(CUBLAS_STATUS_NOT_INITIALIZED, "participation_ratio"); },
                  {"geomkit::cuda::participation_ratio: CUBLAS_STATUS_NOT_INITIALIZED: "});
    require_error([] { gc::check(CUSOLVER_STATUS_INVALID_VALUE, "orthogonal_procrustes_batched"); },
                  {"geomkit::cuda::orthogonal_procrustes_batched: CUSOLVER_STATUS_INVALID_VALUE: "});
    CHECK(message_of([] { gc::check(cudaSuccess, "x"); }).empty());
    CHECK(message_of([] { gc::check(CUBLAS_STATUS_SUCCESS, "x"); }).empty());
    std::string reason;
    if (!gc::device_available(&reason)) {
        CHECK(!reason.empty());
        // A call that reaches the device reports the runtime's reason, as geomkit::error.
        std::vector<float> x(10 * 4, 1.0f);
        require_error([&] { gc::participation_ratio(geomkit::make_view(x.data(), 10, 4)); },
                      {"geomkit::cuda::participation_ratio: cuda"});
    }
}

TEST_CASE("cuda: argument errors are the CPU's, before any device work", "[host]") {
    std::vector<float> buf(4096, 1.0f);
    std::vector<double> out(64);
    const float* p = buf.data();  // never read: every call below fails its checks first
    SECTION("simplex volumes") {
        for (const char* fn : {"simplex_volume_sq", "simplex_volume"}) {
            const bool sq = std::strcmp(fn, "simplex_volume_sq") == 0;
            auto both = [&](geomkit::batch_view<const float> s, double* o) {
                same_error(
                    fn, [&] { sq ? geomkit::simplex_volume_sq(s, o) : geomkit::simplex_volume(s, o); },
                    [&] { sq ? gc::simplex_volume_sq(s, o) : gc::simplex_volume(s, o); });
            };
            both(geomkit::batch_view<const float>(p, 3, 1, 4), out.data());      // k = 0
            both(geomkit::batch_view<const float>(p, -1, 3, 4), out.data());     // negative batch
            both(geomkit::batch_view<const float>(nullptr, 2, 3, 4), out.data());
            both(geomkit::batch_view<const float>(p, 2, 3, 4), nullptr);
            both(geomkit::batch_view<const float>(p, 2, 3, 4, 5, 4), out.data());  // overlapping matrices
        }
        require_error([&] { gc::simplex_volume_sq(geomkit::batch_view<const float>(p, 2, 18, 4), out.data()); },
                      {"geomkit::cuda::simplex_volume_sq: argument 'simplices' must have at most 17 vertices",
                       "(got 18 vertices)"});
    }
    SECTION("pentachoron") {
        const auto X = geomkit::make_view(p, 20, 8);
        auto both = [&](geomkit::pentachoron_params q) {
            same_error("pentachoron_cv", [&] { geomkit::pentachoron_cv(X, q); }, [&] { gc::pentachoron_cv(X, q); });
        };
        geomkit::pentachoron_params q;
        q.n_samples = -1;
        both(q);
        q = {};
        q.pool = 21;
        both(q);
        q = {};
        q.eps = -1;
        both(q);
        q = {};
        q.mean_eps = NAN;
        both(q);
        q = {};
        q.ddof = -1;
        both(q);
        q = {};
        q.min_valid = -2;
        both(q);
        same_error(
            "pentachoron_partial", [&] { geomkit::pentachoron_partial(X, geomkit::pentachoron_params{}, 5, 2000); },
            [&] { gc::pentachoron_partial(X, geomkit::pentachoron_params{}, 5, 2000); });
        same_error(
            "pentachoron_cv", [&] { geomkit::pentachoron_cv(geomkit::make_view(p, -1, 8)); },
            [&] { gc::pentachoron_cv(geomkit::make_view(p, -1, 8)); });
    }
    SECTION("bone orientation and head entropy") {
        auto both = [&](const geomkit::key_snapshot<float>& k, geomkit::bone_orientation_options o = {}) {
            same_error("bone_orientation", [&] { geomkit::bone_orientation(k, o); },
                       [&] { gc::bone_orientation(k, o); });
        };
        both(geomkit::key_snapshot<float>(p, -1, 2, 4, 8));
        both(geomkit::key_snapshot<float>(p, 2, 2, 4, 8, 64, 32, 4));  // position stride < head dim
        both(geomkit::key_snapshot<float>(static_cast<const float*>(nullptr), 2, 2, 4, 8));
        geomkit::bone_orientation_options o;
        o.threads = -1;
        both(geomkit::key_snapshot<float>(p, 2, 2, 4, 8), o);
        same_error("head_entropy", [&] { geomkit::head_entropy(geomkit::make_view(p, 4, -8)); },
                   [&] { gc::head_entropy(geomkit::make_view(p, 4, -8)); });
        require_error([&] { gc::head_entropy(geomkit::batch_view<const float>(p, 2, 4, 8), nullptr); },
                      {"geomkit::cuda::head_entropy: argument 'out' is a null pointer"});
    }
    SECTION("participation ratio") {
        same_error("participation_ratio", [&] { geomkit_test::cpu_participation_ratio(geomkit::make_view(p, 0, 8)); },
                   [&] { gc::participation_ratio(geomkit::make_view(p, 0, 8)); });
        same_error("participation_ratio", [&] { geomkit_test::cpu_participation_ratio(geomkit::make_view(p, 4, 8, 3)); },
                   [&] { gc::participation_ratio(geomkit::make_view(p, 4, 8, 3)); });
    }
    SECTION("procrustes") {
        std::vector<double> R(64 * 64);
        auto both = [&](geomkit::matrix_view<const float> A, geomkit::matrix_view<const float> B, index_t n,
                        geomkit::matrix_view<double> Rv, double* s) {
            same_error("orthogonal_procrustes_batched",
                       [&] { geomkit_test::cpu_procrustes_batched(A, B, n, Rv, s); },
                       [&] { gc::orthogonal_procrustes_batched(A, B, n, Rv, s); });
        };
        const auto A = geomkit::make_view(p, 12, 4), B = geomkit::make_view(p, 12, 4);
        both(A, geomkit::make_view(p, 12, 3), 4, geomkit::make_view(R.data(), 12, 4), out.data());
        both(A, B, 0, geomkit::make_view(R.data(), 12, 4), out.data());
        both(A, B, 5, geomkit::make_view(R.data(), 12, 4), out.data());
        both(A, B, 4, geomkit::make_view(R.data(), 8, 4), out.data());
        both(A, B, 4, geomkit::make_view(R.data(), 12, 4), nullptr);
        require_error(
            [&] {
                gc::orthogonal_procrustes_batched(geomkit::make_view(p, 66, 33), geomkit::make_view(p, 66, 33), 33,
                                                  geomkit::make_view(R.data(), 66, 33), out.data());
            },
            {"geomkit::cuda::orthogonal_procrustes_batched: argument 'A' must have between 1 and 32 columns on the GPU"});
    }
}

TEST_CASE("cuda: empty inputs need no device", "[host]") {
    gc::simplex_volume_sq(geomkit::batch_view<const double>(nullptr, 0, 5, 8), nullptr);
    const auto r = gc::pentachoron_cv(geomkit::make_view<const float>(nullptr, 0, 16));
    CHECK(!r.cv);
    CHECK(r.n_valid == 0);
    CHECK(gc::pentachoron_partial(geomkit::make_view<const float>(nullptr, 0, 16), geomkit::pentachoron_params{}, 0, 0)
              .count == 0);
    const auto bo = gc::bone_orientation(geomkit::key_snapshot<float>(static_cast<const float*>(nullptr), 0, 8, 16, 4));
    CHECK(!bo.gqa);
    CHECK(bo.layer_coherence.empty());
    const std::vector<float> one(8, 1.0f);
    CHECK(gc::head_entropy(geomkit::make_view(one.data(), 1, 8)) == 0.0);  // S <= 1 is 0 without reading
    gc::head_entropy(geomkit::batch_view<const float>(nullptr, 0, 4, 8), nullptr);
    std::vector<double> R;
    gc::orthogonal_procrustes_batched(geomkit::make_view<const float>(nullptr, 0, 4),
                                      geomkit::make_view<const float>(nullptr, 0, 4), 3,
                                      geomkit::make_view<double>(nullptr, 0, 4), nullptr);
}

TEMPLATE_TEST_CASE("cuda: the kernels' per-simplex math, run on the host, matches the CPU", "[host]", float, double) {
    using T = TestType;
    double G[gc::max_simplex_k * gc::max_simplex_k];
    for (int k = 1; k <= gc::max_simplex_k; k += (k < 5 ? 1 : 5)) {
        for (index_t d : {index_t(k), index_t(7), index_t(64), index_t(515)}) {
            for (double spread : {1.0, 1e-4}) {
                // Clustered simplices: offset + spread · noise.
                auto x = random_vector<T>(std::size_t((k + 1) * d), std::uint64_t(k * 1000 + d), -1.0, 1.0);
                for (auto& v : x) v = T(3.0 + spread * double(v));
                std::vector<const T*> rows(static_cast<std::size_t>(k + 1));
                for (int i = 0; i <= k; ++i) rows[std::size_t(i)] = x.data() + i * d;
                bool finite = false;
                const double gpu_path =
                    gc::detail::simplex_volume_sq_lanes(rows.data(), k, d, 0, 1, gc::detail::single_lane{}, G, finite)
                        .value();
                const double cpu = geomkit::simplex_volume_sq(geomkit::make_view<const T>(x.data(), k + 1, d));
                INFO("k " << k << " d " << d << " spread " << spread);
                CHECK(finite);
                if (d < k) {
                    CHECK(gpu_path == 0.0);
                    CHECK(cpu == 0.0);
                } else {
                    CHECK(rel(gpu_path, cpu) < (spread < 1 ? 1e-9 : 1e-12));
                }
                // The 32-lane split covers every coordinate once: lanes' partial Grams, summed
                // by the butterfly, give the serial Gram to rounding.
                std::vector<std::vector<double>> parts(32, std::vector<double>(std::size_t(k * k)));
                for (int lane = 0; lane < 32; ++lane)
                    gc::detail::edge_gram_lanes(rows.data(), k, d, 1.0, lane, 32, parts[std::size_t(lane)].data());
                gc::detail::edge_gram_lanes(rows.data(), k, d, 1.0, 0, 1, G);
                for (int i = 0; i < k; ++i)
                    for (int j = 0; j <= i; ++j) {
                        std::vector<double> lanes(32);
                        for (int lane = 0; lane < 32; ++lane) lanes[std::size_t(lane)] = parts[std::size_t(lane)][std::size_t(i * k + j)];
                        CHECK(std::fabs(butterfly(lanes) - G[i * k + j]) <= 1e-12 * std::fabs(G[i * k + j]) + 1e-300);
                    }
            }
        }
    }
    SECTION("huge and tiny coordinates take the CPU's power-of-two rescaling") {
        if (std::is_same<T, double>::value) {
            // Triangles: Gram entries beyond 2^±500, the area still inside double's range.
            for (double scale : {1e80, 1e-80}) {
                auto x = random_vector<double>(3 * 9, 3);
                for (auto& v : x) v *= scale;
                const double* rows[3] = {x.data(), x.data() + 9, x.data() + 18};
                bool finite = false;
                const geomkit::scaled_double r =
                    gc::detail::simplex_volume_sq_lanes(rows, 2, 9, 0, 1, gc::detail::single_lane{}, G, finite);
                const double cpu = geomkit::simplex_volume(geomkit::make_view<const double>(x.data(), 3, 9));
                CHECK(std::isfinite(cpu));
                CHECK(cpu > 0);
                CHECK(rel(r.sqrt_value(), cpu) < 1e-12);
            }
        }
    }
    SECTION("a non-finite coordinate is reported, not computed") {
        auto x = random_vector<T>(3 * 4, 5);
        x[5] = T(NAN);
        const T* rows[3] = {x.data(), x.data() + 4, x.data() + 8};
        bool finite = true;
        gc::detail::simplex_volume_sq_lanes(rows, 2, 4, 0, 1, gc::detail::single_lane{}, G, finite);
        CHECK(!finite);
    }
}

TEMPLATE_TEST_CASE("cuda: pentachoron's sample, chunk and merge pipeline, run on the host, is the CPU's", "[host]",
                   float, double) {
    using T = TestType;
    const index_t n = 300, d = 24;
    auto x = random_vector<T>(std::size_t(n * d), 11);
    const auto X = geomkit::make_view<const T>(x.data(), n, d);
    geomkit::pentachoron_params p = geomkit::pentachoron_params::probe(n);
    p.n_samples = 1000;
    p.method = geomkit::pentachoron_method::direct;
    // The GPU pipeline for samples [begin, end): vol² per sample (the kernel's function),
    // stats per absolute chunk (the chunk kernel's function), merged in order.
    auto emulate = [&](index_t begin, index_t end) {
        std::vector<double> vol2(std::size_t(end - begin));
        double G[16];
        for (index_t i = begin; i < end; ++i) {
            std::uint32_t idx[5];
            geomkit::pentachoron_sample(p.seed, std::uint64_t(i), std::uint32_t(*p.pool), idx);
            const T* v[5];
            for (int q = 0; q < 5; ++q) v[q] = X.row(index_t(idx[q]));
            bool finite = false;
            vol2[std::size_t(i - begin)] =
                gc::detail::simplex_volume_sq_lanes(v, 4, d, 0, 1, gc::detail::single_lane{}, G, finite).value();
        }
        std::vector<geomkit::running_stats> chunks;
        for (index_t c = begin / geomkit::pentachoron_chunk; c <= (end - 1) / geomkit::pentachoron_chunk; ++c)
            chunks.push_back(gc::detail::pentachoron_chunk_stats(
                vol2.data(), begin, std::max(begin, c * geomkit::pentachoron_chunk),
                std::min(end, (c + 1) * geomkit::pentachoron_chunk), p.eps));
        return gc::detail::merge_in_order(chunks);
    };
    const geomkit::running_stats all = emulate(0, p.n_samples);
    const geomkit::pentachoron_result gpu = geomkit::pentachoron_finish(all, p), cpu = geomkit::pentachoron_cv(X, p);
    CHECK(gpu.n_valid == cpu.n_valid);
    REQUIRE(gpu.cv);
    REQUIRE(cpu.cv);
    CHECK(rel(*gpu.cv, *cpu.cv) < 1e-12);
    CHECK(rel(gpu.mean, cpu.mean) < 1e-12);
    // Shards cut anywhere merge like the CPU's shards.
    const geomkit::running_stats a = emulate(0, 300), b = emulate(300, 1000);
    const geomkit::running_stats ca = geomkit::pentachoron_partial(X, p, 0, 300), cb = geomkit::pentachoron_partial(X, p, 300, 1000);
    CHECK(a.count == ca.count);
    CHECK(b.count == cb.count);
    CHECK(rel(geomkit::merged(a, b).mean, geomkit::merged(ca, cb).mean) < 1e-12);
}

TEST_CASE("cuda: bone orientation's pair arithmetic, run on the host, is the reference's bit for bit", "[host]") {
    for (index_t D : {index_t(1), index_t(7), index_t(64), index_t(128)}) {
        auto x = random_vector<float>(std::size_t(2 * D), std::uint64_t(D));
        const float *a = x.data(), *b = x.data() + D;
        const double c = gc::detail::cosine_from_sums(gc::detail::reference_dot(a, b, D),
                                                      gc::detail::reference_squared_norm(a, D),
                                                      gc::detail::reference_squared_norm(b, D));
        CHECK(c == geomkit::detail::reference_cosine(a, 0, b, 0, 1, D));
        const std::vector<geomkit::float16> h = [&] {
            std::vector<geomkit::float16> v(x.size());
            for (std::size_t i = 0; i < x.size(); ++i) v[i] = geomkit::float16::from_float(x[i]);
            return v;
        }();
        CHECK(gc::detail::cosine_from_sums(gc::detail::reference_dot(h.data(), h.data() + D, D),
                                           gc::detail::reference_squared_norm(h.data(), D),
                                           gc::detail::reference_squared_norm(h.data() + D, D)) ==
              geomkit::detail::reference_cosine(h.data(), 0, h.data() + D, 0, 1, D));
    }
    CHECK(gc::detail::cosine_from_sums(0.0, 0.0, 1.0) == 0.0);
    for (index_t H = 2; H <= 40; ++H) {
        index_t q = 0;
        for (index_t i = 0; i < H; ++i)
            for (index_t j = i + 1; j < H; ++j, ++q) {
                index_t pi = -1, pj = -1;
                gc::detail::pair_from_index(q, H, pi, pj);
                CHECK(pi == i);
                CHECK(pj == j);
                CHECK(geomkit::detail::pair_index(i, j, H) == q);
            }
    }
    for (index_t S : {index_t(2), index_t(9), index_t(100)})
        for (index_t i0 = 0; i0 < S; ++i0) {
            index_t count = 0;
            for (index_t i = i0; i <= S; ++i) {
                CHECK(gc::detail::pairs_between(i0, i, S) == count);
                if (i < S) count += S - 1 - i;
            }
        }
}

// ===================================================================== device side

TEMPLATE_TEST_CASE("cuda: simplex volumes equal the CPU's", "[device]", float, double) {
    GEOMKIT_REQUIRE_DEVICE();
    using T = TestType;
    for (int k : {1, 2, 4, 7, 16}) {
        const index_t batch = 1000, d = 100;
        auto x = random_vector<T>(std::size_t(batch * (k + 1) * d), std::uint64_t(k));
        const device_copy<T> dx(x);
        device_copy<double> out{std::size_t(batch)};
        gc::simplex_volume_sq(geomkit::batch_view<const T>(dx.ptr, batch, k + 1, d), out.ptr);
        const auto gpu = out.to_host();
        const auto cpu = geomkit::simplex_volume_sq(geomkit::batch_view<const T>(x.data(), batch, k + 1, d));
        for (index_t b = 0; b < batch; ++b) CHECK(rel(gpu[std::size_t(b)], cpu[std::size_t(b)]) < 1e-11);
        gc::simplex_volume(geomkit::batch_view<const T>(dx.ptr, batch, k + 1, d), out.ptr);
        const auto vol = out.to_host();
        for (index_t b = 0; b < batch; ++b) CHECK(rel(vol[std::size_t(b)], std::sqrt(std::max(cpu[std::size_t(b)], 0.0))) < 1e-11);
    }
    std::vector<T> x(3 * 5 * 4, T(1));
    x[2 * 20 + 3 * 4 + 1] = T(NAN);
    const device_copy<T> dx(x);
    device_copy<double> out(3);
    same_error("simplex_volume_sq",
               [&] { geomkit::simplex_volume_sq(geomkit::batch_view<const T>(x.data(), 3, 5, 4), std::vector<double>(3).data()); },
               [&] { gc::simplex_volume_sq(geomkit::batch_view<const T>(dx.ptr, 3, 5, 4), out.ptr); });
}

TEMPLATE_TEST_CASE("cuda: pentachoron CV takes the CPU's samples", "[device]", float, double) {
    GEOMKIT_REQUIRE_DEVICE();
    using T = TestType;
    const index_t n = 700, d = 64;
    auto x = random_vector<T>(std::size_t(n * d), 21);
    const device_copy<T> dx(x);
    for (auto p : {geomkit::pentachoron_params::notebook(), geomkit::pentachoron_params::probe(n)}) {
        p.method = geomkit::pentachoron_method::direct;
        const auto cpu = geomkit::pentachoron_cv(geomkit::make_view<const T>(x.data(), n, d), p);
        const auto gpu = gc::pentachoron_cv(geomkit::make_view<const T>(dx.ptr, n, d), p);
        CHECK(gpu.n_valid == cpu.n_valid);
        CHECK(gpu.n_samples == cpu.n_samples);
        REQUIRE(gpu.cv);
        CHECK(rel(*gpu.cv, *cpu.cv) < 1e-12);
        CHECK(gpu.in_band == cpu.in_band);
        // A GPU shard merges with a CPU shard.
        const auto a = gc::pentachoron_partial(geomkit::make_view<const T>(dx.ptr, n, d), p, 0, 333);
        const auto b = geomkit::pentachoron_partial(geomkit::make_view<const T>(x.data(), n, d), p, 333, p.n_samples);
        const auto mixed = geomkit::pentachoron_finish(geomkit::merged(a, b), p);
        CHECK(mixed.n_valid == cpu.n_valid);
        CHECK(rel(*mixed.cv, *cpu.cv) < 1e-12);
    }
    x[3 * d + 5] = T(INFINITY);
    const device_copy<T> bad(x);
    same_error("pentachoron_cv", [&] { geomkit::pentachoron_cv(geomkit::make_view<const T>(x.data(), n, d)); },
               [&] { gc::pentachoron_cv(geomkit::make_view<const T>(bad.ptr, n, d)); });
}

TEST_CASE("cuda: bone orientation equals the CPU's, decisions and composite exactly", "[device]") {
    GEOMKIT_REQUIRE_DEVICE();
    for (index_t H : {index_t(2), index_t(8)})
        for (bool all_heads : {false, true}) {
            const index_t L = 5, S = 96, D = 32;
            auto x = random_vector<float>(std::size_t(L * H * S * D), std::uint64_t(H * 10 + all_heads));
            for (std::size_t i = 0; i < x.size(); ++i) x[i] += 0.4f * float((i / std::size_t(D)) % 3);  // some structure
            const device_copy<float> dx(x);
            geomkit::bone_orientation_options o;
            o.all_heads = all_heads;
            const auto cpu = geomkit::bone_orientation(x.data(), L, H, S, D, o);
            const auto gpu = gc::bone_orientation(dx.ptr, L, H, S, D, o);
            INFO("H " << H << " all_heads " << all_heads);
            CHECK(gpu.gqa == cpu.gqa);
            CHECK(gpu.joint_collapse_count == cpu.joint_collapse_count);
            CHECK(gpu.phase_lock_score == cpu.phase_lock_score);
            CHECK(gpu.composite() == cpu.composite());
            CHECK(std::fabs(gpu.mean_coherence - cpu.mean_coherence) < 1e-12);
            CHECK(std::fabs(gpu.mean_cross_alignment - cpu.mean_cross_alignment) < 1e-12);
            CHECK(std::fabs(gpu.mean_head_entropy - cpu.mean_head_entropy) < 1e-12);
            for (index_t l = 0; l < L; ++l)
                CHECK(std::fabs(gpu.layer_coherence[std::size_t(l)] - cpu.layer_coherence[std::size_t(l)]) < 1e-12);
        }
    const index_t S = 50, D = 16;
    auto x = random_vector<float>(std::size_t(3 * S * D), 9);
    const device_copy<float> dx(x);
    std::vector<double> h(3);
    device_copy<double> out(3);
    gc::head_entropy(geomkit::batch_view<const float>(dx.ptr, 3, S, D), out.ptr);
    const auto gpu = out.to_host();
    for (index_t b = 0; b < 3; ++b)
        CHECK(std::fabs(gpu[std::size_t(b)] - geomkit::head_entropy(geomkit::make_view<const float>(x.data() + b * S * D, S, D))) < 1e-13);
    x[S * D + 7] = NAN;
    const device_copy<float> bad(x);
    same_error("bone_orientation", [&] { geomkit::bone_orientation(x.data(), 1, 3, S, D); },
               [&] { gc::bone_orientation(bad.ptr, 1, 3, S, D); });
    same_error("head_entropy", [&] { geomkit::head_entropy(geomkit::make_view<const float>(x.data() + S * D, S, D)); },
               [&] { gc::head_entropy(geomkit::make_view<const float>(bad.ptr + S * D, S, D)); });
}

TEMPLATE_TEST_CASE("cuda: participation ratio equals the CPU's", "[device]", float, double) {
    GEOMKIT_REQUIRE_DEVICE();
    using T = TestType;
    for (auto shape : {std::pair<index_t, index_t>{500, 40}, {30, 200}}) {
        auto x = random_vector<T>(std::size_t(shape.first * shape.second), 31);
        const device_copy<T> dx(x);
        for (bool centered : {true, false}) {
            const double cpu = geomkit_test::cpu_participation_ratio(geomkit::make_view<const T>(x.data(), shape.first, shape.second), centered);
            const double gpu = gc::participation_ratio(geomkit::make_view<const T>(dx.ptr, shape.first, shape.second), centered);
            CHECK(rel(gpu, cpu) < 1e-12);
        }
    }
}

TEMPLATE_TEST_CASE("cuda: batched Procrustes equals the CPU's", "[device]", float, double) {
    GEOMKIT_REQUIRE_DEVICE();
    using T = TestType;
    for (index_t d : {index_t(2), index_t(3), index_t(16), index_t(32)})
        for (bool proper : {false, true}) {
            const index_t batch = 50, n = 64;
            auto a = random_vector<T>(std::size_t(batch * n * d), std::uint64_t(d)),
                 b = random_vector<T>(std::size_t(batch * n * d), std::uint64_t(d + 100));
            const device_copy<T> da(a), db(b);
            device_copy<double> R{std::size_t(batch * d * d)}, s{std::size_t(batch)};
            std::vector<double> cR(static_cast<std::size_t>(batch * d * d)), cs(static_cast<std::size_t>(batch));
            geomkit_test::cpu_procrustes_batched(geomkit::make_view<const T>(a.data(), batch * n, d),
                                                   geomkit::make_view<const T>(b.data(), batch * n, d), n,
                                                   geomkit::make_view(cR.data(), batch * d, d), cs.data(), proper);
            gc::orthogonal_procrustes_batched(geomkit::make_view<const T>(da.ptr, batch * n, d),
                                              geomkit::make_view<const T>(db.ptr, batch * n, d), n,
                                              geomkit::make_view(R.ptr, batch * d, d), s.ptr, proper);
            const auto gR = R.to_host(), gs = s.to_host();
            for (index_t q = 0; q < batch; ++q) CHECK(rel(gs[std::size_t(q)], cs[std::size_t(q)]) < 1e-10);
            for (std::size_t i = 0; i < gR.size(); ++i) CHECK(std::fabs(gR[i] - cR[i]) < 1e-8);
        }
}

int main(int argc, char** argv) {
    std::vector<char*> args;
    bool require_device = false;
    for (int i = 0; i < argc; ++i) {
        if (std::strcmp(argv[i], "--require-device") == 0)
            require_device = true;
        else
            args.push_back(argv[i]);
    }
    if (require_device) {
        std::string reason;
        if (!gc::device_available(&reason)) {
            std::cout << "no CUDA device: " << reason << "\n";
            return 77;
        }
    }
    (void)have_device;
    return Catch::Session().run(int(args.size()), args.data());
}
