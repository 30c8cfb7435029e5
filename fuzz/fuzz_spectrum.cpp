// libFuzzer harness: participation_ratio, eigenspectrum, spectrum_stats, qk_manifold,
// qk_manifold_fused. Oracle: no crash, errors name an argument, no NaN in any reported
// number for finite input.
#include <geomkit/spectrum.hpp>

#include "fuzz_input.hpp"

using namespace geomkit_fuzz;

inline void no_nan(double v, const char* what) {
    if (std::isnan(v)) finding(std::string(what) + " is NaN for finite input");
}

template <class T>
void run(FuzzedDataProvider& in) {
    const int which = in.ConsumeIntegralInRange<int>(0, 4);
    const auto method = geomkit::singular_value_method(in.ConsumeIntegralInRange<int>(0, 2));
    auto a = draw_matrix<T>(in, 0, 30, 0, 30);
    const bool centered = in.ConsumeBool();
    if (which == 0) {
        guarded([&] {
            const auto r = geomkit::participation(a.view(), centered);
            if (a.finite) { no_nan(r.pr, "participation_ratio"); no_nan(r.total_variance, "total_variance"); }
        });
    } else if (which == 1) {
        guarded([&] {
            const auto r = geomkit::eigenspectrum(a.view(), centered);
            if (a.finite) {
                no_nan(r.pr, "eigenspectrum pr");
                for (double v : r.eigenvalues) no_nan(v, "eigenvalue");
            }
        });
    } else if (which == 2) {
        guarded([&] {
            const auto r = geomkit::spectrum_stats(a.view(), method);
            if (a.finite) {
                no_nan(r.stable_rank, "stable_rank"); no_nan(r.pr, "pr"); no_nan(r.condition, "condition");
                no_nan(r.max_sv, "max_sv"); no_nan(r.min_sv, "min_sv");
            }
        });
    } else if (which == 3) {
        auto b = draw_matrix<T>(in, a.rows, a.rows + (in.ConsumeBool() ? 0 : 1), a.cols, a.cols);
        guarded([&] {
            const auto r = geomkit::qk_manifold(a.view(), b.view(), method);
            if (a.finite && b.finite) {
                no_nan(r.stable_rank, "qk stable_rank"); no_nan(r.pr, "qk pr"); no_nan(r.sym_dev, "qk sym_dev");
                for (double v : r.top3_eig) no_nan(v, "qk eigenvalue");
            }
        });
    } else {
        guarded([&] {
            const auto r = geomkit::qk_manifold_fused(a.view(), method);
            if (a.finite) { no_nan(r.stable_rank, "qk stable_rank"); no_nan(r.pr, "qk pr"); }
        });
    }
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    if (in.ConsumeBool()) run<float>(in);
    else run<double>(in);
    return 0;
}
