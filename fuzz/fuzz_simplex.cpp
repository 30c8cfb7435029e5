// libFuzzer harness: cayley_menger_determinant, simplex_volume(_sq) (single and batched),
// pentachoron_cv / pentachoron_partial / pentachoron_finish with fuzzed parameters.
#include <geomkit/cayley_menger.hpp>
#include <geomkit/core/batch_view.hpp>
#include <geomkit/pentachoron.hpp>

#include "fuzz_input.hpp"

using namespace geomkit_fuzz;

template <class T>
void run(FuzzedDataProvider& in) {
    const int which = in.ConsumeIntegralInRange<int>(0, 4);
    if (which <= 1) {
        auto m = draw_matrix<T>(in, 0, 9, 0, 12);
        guarded([&] {
            const double v = which == 0 ? geomkit::simplex_volume_sq(m.view()) : geomkit::simplex_volume(m.view());
            if (m.finite && std::isnan(v)) finding("simplex volume NaN from finite points");
            if (which == 1 && v < 0) finding("negative simplex_volume");
        });
        return;
    }
    if (which == 2) {  // batched: (batch*rows) x cols buffer, batch stride fuzzed
        const index_t batch = in.ConsumeIntegralInRange<index_t>(0, 6);
        auto m = draw_matrix<T>(in, 0, 40, 0, 8);
        const index_t rows = in.ConsumeIntegralInRange<index_t>(0, 6);
        index_t bstride = in.ConsumeIntegralInRange<index_t>(-8, 64);
        switch (in.ConsumeIntegralInRange<int>(0, 2)) {
            case 0: if (!geomkit::detail::product_fits(rows, std::max<index_t>(m.stride, 0), bstride)) bstride = 0; break;
            case 1: bstride = std::numeric_limits<index_t>::max() - in.ConsumeIntegral<std::uint8_t>(); break;  // huge
            default: break;
        }
        const double need = batch == 0 || rows == 0 ? 0.0
                            : double(batch - 1) * double(std::max<index_t>(bstride, 0)) +
                                  double(rows - 1) * double(std::max<index_t>(m.stride, 0)) + double(m.cols);
        // Layouts that address more than a few MiB only run when the view must be refused
        // before any read (a row stride smaller than a row); otherwise they are skipped.
        if (need > double(1 << 20)) {
            if (!(rows > 1 && m.stride < m.cols)) return;
        } else if (need > double(m.buffer.size())) {
            m.buffer.resize(std::size_t(need), T(0));
        }
        geomkit::batch_view<const T> b(m.buffer.empty() ? nullptr : m.buffer.data(), batch, rows, m.cols, bstride, m.stride);
        std::vector<double> out(std::size_t(batch) + 1);
        const bool square = rows == m.cols;
        guarded([&] {
            if (square && in.ConsumeBool()) geomkit::cayley_menger_determinant(b, out.data());
            else geomkit::simplex_volume_sq(b, out.data());
        });
        return;
    }
    // pentachoron
    auto m = draw_matrix<T>(in, 0, 40, 0, 12);
    geomkit::pentachoron_params p;
    p.n_samples = in.ConsumeBool() ? in.ConsumeIntegralInRange<index_t>(-2, 600)
                                   : index_t(in.ConsumeIntegral<std::uint64_t>() >> in.ConsumeIntegralInRange<int>(0, 63));
    // Accepted counts are real work (time in proportion): only counts past the documented
    // limit (2^40, refused up front) are fuzzed large.
    if (p.n_samples > 600 && p.n_samples <= geomkit::pentachoron_max_samples) p.n_samples = 600;
    if (in.ConsumeBool()) p.pool = in.ConsumeIntegralInRange<index_t>(-3, 45);
    p.seed = in.ConsumeIntegral<std::uint64_t>();
    const double specials[] = {0.0, 1e-20, -1.0, NAN, INFINITY, 1e300, 1e-8};
    p.eps = specials[in.ConsumeIntegralInRange<int>(0, 6)];
    p.mean_eps = specials[in.ConsumeIntegralInRange<int>(0, 6)];
    p.ddof = in.ConsumeIntegralInRange<int>(-2, 5);
    p.min_valid = in.ConsumeIntegralInRange<index_t>(-2, 20);
    p.method = geomkit::pentachoron_method(in.ConsumeIntegralInRange<int>(0, 2));
    p.threads = in.ConsumeIntegralInRange<int>(-1, 2);
    if (in.ConsumeBool()) {
        guarded([&] {
            const auto r = geomkit::pentachoron_cv(m.view(), p);
            if (r.cv && !std::isfinite(*r.cv)) finding("non-finite cv");
            if (r.n_valid < 0 || r.n_valid > r.n_samples) finding("n_valid out of range");
        });
    } else {
        const index_t b = in.ConsumeIntegralInRange<index_t>(-2, 700), e = in.ConsumeIntegralInRange<index_t>(-2, 700);
        guarded([&] {
            const auto s = geomkit::pentachoron_partial(m.view(), p, b, e);
            if (s.count < 0 || s.count > std::max<index_t>(e - b, 0)) finding("partial count out of range");
            (void)geomkit::pentachoron_finish(s, p);
        });
    }
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    if (in.ConsumeBool()) run<float>(in);
    else run<double>(in);
    return 0;
}
