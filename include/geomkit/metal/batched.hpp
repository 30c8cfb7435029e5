// The host side of geomkit's Metal functions, written once for any backend that can run
// the kernels of geomkit/metal/kernels.hpp: validation, packing the input into the
// kernels' contiguous float32 buffers, and turning the kernels' outputs into the CPU API's
// double results. Two backends use it: geomkit::metal::context (metal.hpp, the GPU) and
// geomkit::metal::cpu_emulation (below, the same kernel bodies run as C++ on the CPU;
// what the tests exercise, and a way to see on any machine what the GPU computes).
//
// API (members of both backends; float32 input only — Metal has no double):
//   simplex_volume_sq(simplices)   batch × (k+1) × d → vol² per simplex, double (1 <= k <= 8)
//   simplex_volume(simplices)      the volumes (0 where rounding made vol² negative)
//   pentachoron_cv(X, params)      as geomkit::pentachoron_cv
//   pentachoron_partial(X, params, begin, end)   as geomkit::pentachoron_partial
//   head_entropy(keys)             heads × S × D → one geomkit::head_entropy per head
//   cosine(a, b)                   n × D twice → cos(a_i, b_i) per row, 0 when a norm is 0
//
// SAME ANSWERS AS THE CPU. Pentachoron sample i is drawn on the device by the shared
// Philox code, bit for bit geomkit::pentachoron_sample(seed, i, pool); the device returns
// each sample's vol² (float-float, ~1e-12 relative), and the host forms the statistics
// exactly as the CPU does: valid volumes of each chunk of pentachoron_chunk samples into a
// running_stats in sample order, chunks merged in order. Results agree with the CPU's to
// the precision of vol² (the CPU's own two paths agree to rounding, not bitwise). Head
// entropy: the device forms the row norms (float-float), the host the entropy with the
// CPU's entropy_from_magnitudes. Cosine: the device forms a·b, a·a, b·b; the host divides.
// Statistics and entropies, O(samples) or O(S), need double and stay on the host.
//
// ERRORS: geomkit::error naming the argument, with the CPU functions' messages for the
// CPU's error cases; plus k > 8 and inputs of 2^32 or more floats per buffer (the kernels
// index with 32-bit integers).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../bone_orientation.hpp"
#include "../cayley_menger.hpp"
#include "../core/batch_view.hpp"
#include "../core/error.hpp"
#include "../core/matrix_view.hpp"
#include "../core/parallel.hpp"
#include "../core/statistics.hpp"
#include "../pentachoron.hpp"
#include "kernels.hpp"

namespace geomkit {
namespace metal {

namespace host {

inline void require_u32(double count, const char* function, const char* argument, const char* what) {
    if (count >= 4294967296.0)
        geomkit::detail::fail(function, argument, geomkit::detail::concat("must hold fewer than 2^32 ", what,
                                                                           " on Metal (32-bit kernel indices)"),
                              geomkit::detail::concat(count));
}

// sqrt(max(v, 0)) of a scaled value without leaving double's range first.
inline double sqrt_value(const kernels::scaled_df& r) {
    const double m = double(r.hi) + double(r.lo);
    if (!(m > 0.0)) return 0.0;
    const bool odd = (r.exponent % 2) != 0;
    return std::ldexp(std::sqrt(odd ? 2.0 * m : m), (odd ? r.exponent - 1 : r.exponent) / 2);
}

}  // namespace host

// Backend requirements: `make_buffer<T>(n)` returns an object with `T* data()` holding n
// values; `run<Kernel>(threads, params, buffers...)` runs Kernel for thread ids
// [0, threads) with the buffers bound at indices 0, 1, … and params after them.
template <class Backend>
class batched_api {
  public:
    std::vector<double> simplex_volume_sq(batch_view<const float> simplices) {
        const auto out = volumes(simplices, "metal::simplex_volume_sq");
        std::vector<double> r(out.size());
        for (std::size_t b = 0; b < out.size(); ++b) r[b] = kernels::to_double(out[b]);
        return r;
    }

    std::vector<double> simplex_volume(batch_view<const float> simplices) {
        const auto out = volumes(simplices, "metal::simplex_volume");
        std::vector<double> r(out.size());
        for (std::size_t b = 0; b < out.size(); ++b) r[b] = host::sqrt_value(out[b]);
        return r;
    }

    running_stats pentachoron_partial(matrix_view<const float> X, const pentachoron_params& params,
                                      index_t sample_begin, index_t sample_end) {
        return pentachoron_stats(X, params, sample_begin, sample_end, "metal::pentachoron_partial");
    }

    pentachoron_result pentachoron_cv(matrix_view<const float> X,
                                      const pentachoron_params& params = pentachoron_params{}) {
        return pentachoron_finish(pentachoron_stats(X, params, 0, params.n_samples, "metal::pentachoron_cv"), params);
    }

    std::vector<double> head_entropy(batch_view<const float> keys) {
        const char* fn = "metal::head_entropy";
        geomkit::detail::check_batch_view(keys, fn, "keys");
        const index_t H = keys.batch(), S = keys.rows(), D = keys.cols();
        std::vector<double> r(std::size_t(H), 0.0);
        if (S <= 1 || D == 0 || H == 0) return r;
        host::require_u32(double(H) * double(S) * double(D), fn, "keys", "values");
        auto x = backend().template make_buffer<float>(std::size_t(H * S * D));
        float* dst = x.data();
        for (index_t h = 0; h < H; ++h)
            for (index_t p = 0; p < S; ++p) {
                const float* row = keys[h].row(p);
                for (index_t c = 0; c < D; ++c) {
                    if (!std::isfinite(row[c]))
                        geomkit::detail::fail(fn, "keys", "must contain only finite values",
                                              geomkit::detail::concat(row[c], " at [", h, ", ", p, ", ", c, "]"));
                    *dst++ = row[c];
                }
            }
        auto out = backend().template make_buffer<kernels::scaled_df>(std::size_t(H * S));
        const kernels::rows_params p{kernels::u32(H * S), kernels::u32(D), 0u, 0u};
        backend().template run<kernels::row_squared_norms_kernel>(std::size_t(H * S), p, x, out);
        std::vector<double> magnitudes(static_cast<std::size_t>(S));
        for (index_t h = 0; h < H; ++h) {
            for (index_t t = 0; t < S; ++t) magnitudes[std::size_t(t)] = host::sqrt_value(out.data()[h * S + t]);
            r[std::size_t(h)] = geomkit::detail::entropy_from_magnitudes(magnitudes.data(), S);
        }
        return r;
    }

    std::vector<double> cosine(matrix_view<const float> a, matrix_view<const float> b) {
        const char* fn = "metal::cosine";
        geomkit::detail::check_view(a, fn, "a");
        geomkit::detail::check_view(b, fn, "b");
        if (a.rows() != b.rows() || a.cols() != b.cols())
            geomkit::detail::fail(fn, "b", geomkit::detail::concat("must have the shape of 'a' (", a.rows(), " x ",
                                                                   a.cols(), ")"),
                                  geomkit::detail::concat(b.rows(), " x ", b.cols()));
        geomkit::detail::check_finite(a, fn, "a");
        geomkit::detail::check_finite(b, fn, "b");
        const index_t n = a.rows(), D = a.cols();
        std::vector<double> r(std::size_t(n), 0.0);
        if (n == 0 || D == 0) return r;
        host::require_u32(double(n) * double(D), fn, "a", "values");
        host::require_u32(3.0 * double(n), fn, "a", "rows / 3");
        auto xa = pack(a);
        auto xb = pack(b);
        auto out = backend().template make_buffer<kernels::scaled_df>(std::size_t(3 * n));
        const kernels::rows_params p{kernels::u32(n), kernels::u32(D), 0u, 0u};
        backend().template run<kernels::row_dot_products_kernel>(std::size_t(n), p, xa, xb, out);
        for (index_t i = 0; i < n; ++i) {
            const kernels::scaled_df* o = out.data() + 3 * i;
            const double denom = host::sqrt_value(o[1]) * host::sqrt_value(o[2]);
            r[std::size_t(i)] = denom == 0.0 ? 0.0 : kernels::to_double(o[0]) / denom;
        }
        return r;
    }

  private:
    Backend& backend() { return static_cast<Backend&>(*this); }

    auto pack(matrix_view<const float> x) {
        auto buffer = backend().template make_buffer<float>(std::size_t(std::max<index_t>(x.size(), 1)));
        float* dst = buffer.data();
        for (index_t i = 0; i < x.rows(); ++i) dst = std::copy(x.row(i), x.row(i) + x.cols(), dst);
        return buffer;
    }

    std::vector<kernels::scaled_df> volumes(batch_view<const float> s, const char* fn) {
        geomkit::detail::check_batch_view(s, fn, "simplices");
        geomkit::detail::require(s.rows() >= 2, fn, "simplices", "must have at least 2 vertices per simplex (k >= 1)",
                                 geomkit::detail::concat(s.rows(), " vertices"));
        if (s.rows() > kernels::metal_max_k + 1)
            geomkit::detail::fail(fn, "simplices", "must have at most 9 vertices per simplex on Metal (k <= 8)",
                                  geomkit::detail::concat(s.rows(), " vertices"));
        const index_t B = s.batch(), V = s.rows(), d = s.cols();
        if (B == 0) return {};
        host::require_u32(double(B) * double(V) * double(std::max<index_t>(d, 1)), fn, "simplices", "values");
        auto x = backend().template make_buffer<float>(std::size_t(std::max<index_t>(B * V * d, 1)));
        float* dst = x.data();
        std::vector<const float*> v(static_cast<std::size_t>(V));
        for (index_t b = 0; b < B; ++b)
            for (index_t i = 0; i < V; ++i) {
                const float* row = s[b].row(i);
                for (index_t l = 0; l < d; ++l) {
                    if (!std::isfinite(row[l])) {
                        for (index_t q = 0; q < V; ++q) v[std::size_t(q)] = s[b].row(q);
                        geomkit::detail::fail_non_finite(v.data(), int(V - 1), d, b, fn, "simplices");
                    }
                    *dst++ = row[l];
                }
            }
        auto out = backend().template make_buffer<kernels::scaled_df>(std::size_t(B));
        const kernels::simplex_params p{kernels::u32(B), kernels::u32(V), kernels::u32(d), 0u};
        backend().template run<kernels::simplex_volume_sq_kernel>(std::size_t(B), p, x, out);
        return std::vector<kernels::scaled_df>(out.data(), out.data() + B);
    }

    running_stats pentachoron_stats(matrix_view<const float> X, const pentachoron_params& params, index_t begin,
                                    index_t end, const char* fn) {
        const index_t pool = geomkit::detail::pentachoron_validate(X, params, fn);
        if (begin < 0 || end < begin || end > params.n_samples)
            geomkit::detail::fail(fn, "sample_begin, sample_end",
                                  geomkit::detail::concat("must satisfy 0 <= begin <= end <= params.n_samples (",
                                                          params.n_samples, ")"),
                                  geomkit::detail::concat(begin, ", ", end));
        if (pool < 5 || begin == end) return running_stats{};
        host::require_u32(double(pool) * double(X.cols()), fn, "X", "values in the pool rows");
        host::require_u32(double(end - begin), fn, "sample_begin, sample_end", "samples per call");
        auto x = pack(X.middle_rows(0, pool));
        const index_t count = end - begin;
        auto out = backend().template make_buffer<kernels::scaled_df>(std::size_t(count));
        const std::uint64_t first = std::uint64_t(begin);
        const kernels::pentachoron_draw_params p{
            kernels::u32(params.seed), kernels::u32(params.seed >> 32), kernels::u32(first), kernels::u32(first >> 32),
            kernels::u32(count), kernels::u32(pool), kernels::u32(X.cols()), 0u};
        backend().template run<kernels::pentachoron_volume_sq_kernel>(std::size_t(count), p, x, out);
        // The CPU's statistics: chunks aligned to absolute sample numbers, merged in order.
        running_stats total;
        const index_t first_chunk = begin / pentachoron_chunk, last_chunk = (end - 1) / pentachoron_chunk;
        for (index_t c = first_chunk; c <= last_chunk; ++c) {
            running_stats s;
            const index_t i0 = std::max(begin, c * pentachoron_chunk);
            const index_t i1 = std::min(end, (c + 1) * pentachoron_chunk);
            for (index_t i = i0; i < i1; ++i) {
                const double v2 = kernels::to_double(out.data()[i - begin]);
                if (v2 > params.eps) s.add(std::sqrt(v2));
            }
            total = merged(total, s);
        }
        return total;
    }
};

// The kernels run as C++ on the CPU, one call per thread id of the same (rounded-up) grid
// the GPU backend dispatches, chunks of ids in parallel (geomkit::num_threads()).
class cpu_emulation : public batched_api<cpu_emulation> {
  public:
    static constexpr std::size_t threadgroup_width = 64;

    template <class T>
    std::vector<T> make_buffer(std::size_t n) {
        return std::vector<T>(std::max<std::size_t>(n, 1));
    }

    template <class Kernel, class Params, class... Buffers>
    void run(std::size_t threads, const Params& params, Buffers&... buffers) {
        const std::size_t groups = (threads + threadgroup_width - 1) / threadgroup_width;
        parallel_for(index_t(groups), [&](index_t g) {
            for (std::size_t t = 0; t < threadgroup_width; ++t)
                Kernel::call(buffers.data()..., params, kernels::u32(std::size_t(g) * threadgroup_width + t));
        });
    }
};

}  // namespace metal
}  // namespace geomkit
