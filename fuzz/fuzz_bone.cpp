// libFuzzer harness: bone_orientation over key snapshots (contiguous, strided, zero
// strides, per-layer descriptions, sizes whose products overflow) and head_entropy.
#include <geomkit/bone_orientation.hpp>

#include "fuzz_input.hpp"

using namespace geomkit_fuzz;

template <class T>
void check_result(const geomkit::bone_orientation_result& r, bool finite) {
    if (!finite) return;
    const auto f = r.features();
    for (double v : f)
        if (!std::isfinite(v)) finding("bone_orientation: non-finite feature from finite keys");
    const int c = r.composite();
    if (c < 0 || c > 10000) finding("bone_orientation: composite outside 0..10000");
}

template <class T>
void run(FuzzedDataProvider& in) {
    geomkit::bone_orientation_options opt;
    opt.all_heads = in.ConsumeBool();
    opt.mode = geomkit::bo_mode(in.ConsumeIntegralInRange<int>(0, 2));
    opt.threads = in.ConsumeIntegralInRange<int>(-1, 2);
    const int which = in.ConsumeIntegralInRange<int>(0, 3);
    if (which == 0) {  // head_entropy of an (S, D) matrix
        auto m = draw_matrix<T>(in, 0, 40, 0, 16);
        guarded([&] {
            const double h = geomkit::head_entropy(m.view());
            if (m.finite && !(h >= 0 && h <= 1 + 1e-12)) finding("head_entropy outside [0, 1]");
        });
        return;
    }
    if (which == 1) {  // huge dimensions with zero strides: the size products overflow
        const index_t L = index_t(1) << in.ConsumeIntegralInRange<int>(0, 62);
        const index_t H = index_t(1) << in.ConsumeIntegralInRange<int>(0, 62);
        const index_t S = index_t(1) << in.ConsumeIntegralInRange<int>(0, 62);
        const index_t D = index_t(1) << in.ConsumeIntegralInRange<int>(0, 62);
        // Only products past 2^63 are fuzzed here: smaller ones are real (if slow) work.
        const double logical = double(L) * double(H) * double(S) * double(D);
        if (logical < 0x1p63) return;
        static T zero[1] = {T(0)};
        geomkit::key_snapshot<T> k(zero, L, H, S, D, 0, 0, 0);
        bool ok = guarded([&] { (void)geomkit::bone_orientation(k, opt); });
        if (ok) finding("bone_orientation accepted a snapshot whose size overflows");
        return;
    }
    const index_t L = in.ConsumeIntegralInRange<index_t>(0, 4), H = in.ConsumeIntegralInRange<index_t>(0, 6);
    const index_t S = in.ConsumeIntegralInRange<index_t>(0, 40), D = in.ConsumeIntegralInRange<index_t>(0, 16);
    auto m = draw_matrix<T>(in, L * H * S, L * H * S, D, D);
    if (m.rows != L * H * S) return;  // a huge stride leaves one row
    if (!m.layout_valid || m.stride < 0) {
        // invalid position stride: must be refused
        geomkit::key_snapshot<T> k(m.buffer.data(), L, H, S, D, H * S * std::max<index_t>(m.stride, 0),
                                   S * std::max<index_t>(m.stride, 0), m.stride);
        guarded([&] { (void)geomkit::bone_orientation(k, opt); });
        return;
    }
    const index_t ps = L * H * S > 1 ? m.stride : D;
    if (which == 2) {
        // strided or zero-strided layers/heads over the same buffer
        const int mode = in.ConsumeIntegralInRange<int>(0, 2);
        const index_t hs = mode == 0 ? S * ps : 0, ls = mode == 2 ? 0 : H * hs;
        geomkit::key_snapshot<T> k(m.buffer.empty() ? nullptr : m.buffer.data(), L, H, S, D, ls, hs, ps);
        guarded([&] { check_result<T>(geomkit::bone_orientation(k, opt), m.finite); });
        return;
    }
    // per-layer descriptions, some layers missing or with fewer heads
    std::vector<geomkit::key_layer<T>> layers(static_cast<std::size_t>(L));
    for (index_t l = 0; l < L; ++l) {
        auto& kl = layers[std::size_t(l)];
        if (in.ConsumeIntegralInRange<int>(0, 4) == 0) continue;
        kl.data = m.buffer.empty() ? nullptr : m.buffer.data() + l * H * S * ps;
        kl.heads = in.ConsumeIntegralInRange<index_t>(0, H);
        kl.head_stride = S * ps;
        kl.position_stride = ps;
    }
    geomkit::key_snapshot<T> k(layers.data(), L, H, S, D);
    guarded([&] { check_result<T>(geomkit::bone_orientation(k, opt), m.finite); });
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    if (in.ConsumeBool()) run<float>(in);
    else run<double>(in);
    return 0;
}
