// Pentachoron CV: the coefficient of variation of 4-simplex volumes over random 5-point
// subsets of the rows of a matrix.
//
// FORMULA. For X (n × d, row-major, float or double, possibly strided): draw n_samples
// subsets of 5 distinct rows from the first `pool` rows (default all n), compute each
// subset's vol² (geomkit/cayley_menger.hpp), keep those with vol² > eps, vols = sqrt(vol²),
//
//     cv = std(vols, ddof) / (mean(vols) + mean_eps).
//
// There is no CV (result.cv is empty, never a NaN) when pool < 5, or fewer than
// max(min_valid, ddof + 1, 1) subsets are valid. in_band says 0.13 < cv < 0.30, the band
// the notebook calls universal (trained embeddings sit near 0.20–0.23).
//
// SETTINGS OF THE SEEDS. pentachoron_params::notebook() is the notebook battery (all rows,
// 1000 samples, eps 0, ddof 0, mean_eps 0, min_valid 1; the default-constructed params);
// pentachoron_params::probe(n) is mha_cv_probe's cv_metric (pool = min(n, 512),
// 300 samples, eps 1e-20, ddof 1, mean_eps 1e-8, min_valid 10).
//
// SAMPLING. Sample i takes counter_rng(seed, i) and sample_distinct(rng, pool, 5, ·)
// (core/random.hpp): a pure function of (seed, i, pool), so it is the same at any thread
// count, in any shard of the job, and on the GPU (pentachoron_sample is GEOMKIT_HD). The
// seeds draw with numpy / torch generators, so individual samples differ from theirs;
// the CV is the same statistic of the same distribution.
//
// REPRODUCIBILITY AND SHARDS. Samples are taken in chunks of pentachoron_chunk; each chunk
// keeps a running_stats (core/statistics.hpp) of its valid volumes and the chunks merge in
// order, so the result is bitwise the same at any thread count and across calls.
// pentachoron_partial(X, params, begin, end) returns the running_stats of samples
// [begin, end), chunked the same way; merging the shards' stats in order and passing them
// to pentachoron_finish gives the full job's result, count exact, mean and M2 up to
// rounding (bitwise when there is one shard).
//
// TWO PATHS, ONE ANSWER. `direct`: each sample's vol² from its 5 rows, O(d) per sample
// (the precision policy of cayley_menger.hpp). `pool_gram`: when many samples share a
// small pool, the pool is centred on its mean and its Gram C = Xc·Xcᵀ formed once in
// double (Eigen, pool² · d); each sample then costs O(1) in d, with edge products
// e_a·e_b = C_ab − C_a0 − C_b0 + C_00. That cancellation loses accuracy when a sample's
// edges are short next to the pool's spread (near-duplicate rows), so every sample gets
// an error estimate, 2k · (2√d + 8) · 2^-53 · max C_aa · Σ 1/|pivot|, and one above the
// tolerance (1e-9 relative for float input, 1e-13 for double) is recomputed directly: the
// precision is that of the direct path either way. `automatic` (default) picks pool_gram
// when pool² <= 16 · (samples in the call) and pool <= 4096; `method` forces either.
// The two paths agree to rounding, not bitwise.
//
// ERRORS (geomkit::error naming the argument): X with negative sizes, bad stride or null
// data; NaN/Inf in the pool rows; n_samples < 0; pool < 0 or > n; eps, mean_eps negative
// or not finite; ddof < 0; min_valid < 0; shard bounds outside [0, n_samples]; pool_gram
// forced with pool > 16384 (its Gram would not fit in memory).
//
// REFERENCE. The notebook's per-simplex loop (`cayley_menger_volume_sq`, vol² > 0,
// std / mean) and the multi-head attention CV probe's `cv_metric`.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <vector>

#include "cayley_menger.hpp"
#include "config.hpp"
#include "core/eigen.hpp"
#include "core/error.hpp"
#include "core/matrix_view.hpp"
#include "core/parallel.hpp"
#include "core/random.hpp"
#include "core/statistics.hpp"

namespace geomkit {

enum class pentachoron_method { automatic, direct, pool_gram };

struct pentachoron_params {
    index_t n_samples = 1000;
    std::optional<index_t> pool;  // rows sampled from: the first `pool` rows; empty = all
    std::uint64_t seed = 0;
    double eps = 0.0;       // valid when vol² > eps
    int ddof = 0;           // std(vols, ddof)
    double mean_eps = 0.0;  // cv = std / (mean + mean_eps)
    index_t min_valid = 1;  // fewer valid samples: no CV
    pentachoron_method method = pentachoron_method::automatic;
    int threads = 0;        // 0: geomkit::num_threads()

    // The notebook battery: all rows, 1000 samples, eps 0, ddof 0, mean_eps 0, min_valid 1.
    static pentachoron_params notebook() { return pentachoron_params{}; }
    // mha_cv_probe's cv_metric for a matrix of `rows` rows: pool min(rows, 512),
    // 300 samples, eps 1e-20, ddof 1, mean_eps 1e-8, min_valid 10.
    static pentachoron_params probe(index_t rows) {
        pentachoron_params p;
        p.n_samples = 300;
        p.pool = std::min<index_t>(std::max<index_t>(rows, 0), 512);
        p.eps = 1e-20;
        p.ddof = 1;
        p.mean_eps = 1e-8;
        p.min_valid = 10;
        return p;
    }
};

struct pentachoron_result {
    std::optional<double> cv;  // empty when there is no CV (see above)
    double mean = NAN;         // mean of the valid volumes (NaN when none)
    double std = NAN;          // their std with ddof (NaN when n_valid <= ddof)
    index_t n_valid = 0;       // samples with vol² > eps
    index_t n_samples = 0;     // samples drawn
    bool in_band = false;      // 0.13 < cv < 0.30
};

// Samples merged per chunk; part of the result's definition (merge order), not a tuning knob.
constexpr index_t pentachoron_chunk = 256;

// The most samples one pentachoron_cv call draws (params.n_samples): 2^40. The samples'
// statistics stream (memory does not grow with the count), but at ~10^7-10^8 samples a
// second a larger count would run for days.
constexpr index_t pentachoron_max_samples = index_t(1) << 40;

// The 5 distinct row indices in [0, pool) of sample i (pool >= 5).
GEOMKIT_HD inline void pentachoron_sample(std::uint64_t seed, std::uint64_t i, std::uint32_t pool,
                                          std::uint32_t* idx) noexcept {
    counter_rng rng(seed, i);
    sample_distinct(rng, pool, 5, idx);
}

namespace detail {

inline bool pentachoron_use_pool_gram(pentachoron_method method, index_t pool, index_t samples) {
    if (method == pentachoron_method::direct) return false;
    if (method == pentachoron_method::pool_gram) return true;
    return pool <= 4096 && double(pool) * double(pool) <= 16.0 * double(samples);
}

constexpr index_t pool_gram_max_pool = 16384;

// Every check but the scan of the pool's values (the GPU path scans them on the device);
// returns the pool.
template <class T>
index_t pentachoron_validate_shape(matrix_view<const T> X, const pentachoron_params& p, const char* function) {
    static_assert(std::is_floating_point<T>::value, "geomkit: pentachoron_cv needs float or double values");
    check_view(X, function, "X");
    require_non_negative(p.n_samples, function, "params.n_samples");
    if (p.n_samples > pentachoron_max_samples)
        fail(function, "params.n_samples",
             concat("must be at most 2^40 = ", pentachoron_max_samples,
                    " (the statistic streams, but more samples would not finish; split the job with "
                    "pentachoron_partial)"),
             concat(p.n_samples));
    const index_t pool = p.pool ? *p.pool : X.rows();
    if (p.pool) {
        require_non_negative(pool, function, "params.pool");
        if (pool > X.rows())
            fail(function, "params.pool", concat("must be at most the rows of 'X' (", X.rows(), ")"), concat(pool));
    }
    if (pool > index_t(UINT32_MAX)) fail(function, "params.pool", "must be below 2^32", concat(pool));
    if (!(std::isfinite(p.eps) && p.eps >= 0.0))
        fail(function, "params.eps", "must be a finite non-negative number", concat(p.eps));
    if (!(std::isfinite(p.mean_eps) && p.mean_eps >= 0.0))
        fail(function, "params.mean_eps", "must be a finite non-negative number", concat(p.mean_eps));
    require_non_negative(p.ddof, function, "params.ddof");
    require_non_negative(p.min_valid, function, "params.min_valid");
    if (p.threads < 0) fail(function, "params.threads", "must be >= 0 (0 = geomkit::num_threads())", concat(p.threads));
    if (p.method == pentachoron_method::pool_gram && pool > pool_gram_max_pool)
        fail(function, "params.method", concat("pool_gram needs a pool of at most ", pool_gram_max_pool, " rows"),
             concat("pool ", pool));
    return pool;
}

template <class T>
index_t pentachoron_validate(matrix_view<const T> X, const pentachoron_params& p, const char* function) {
    const index_t pool = pentachoron_validate_shape(X, p, function);
    check_finite(X.middle_rows(0, pool), function, "X", p.threads);
    return pool;
}

inline void check_sample_range(index_t begin, index_t end, const pentachoron_params& p, const char* function) {
    if (begin < 0 || end < begin || end > p.n_samples)
        fail(function, "sample_begin, sample_end", concat("must satisfy 0 <= begin <= end <= params.n_samples (",
                                                          p.n_samples, ")"),
             concat(begin, ", ", end));
}

// The pool's centred Gram C = Xc·Xcᵀ (pool × pool, double), formed in fixed row blocks.
template <class T>
Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> centred_pool_gram(matrix_view<const T> X,
                                                                                          index_t pool, int threads) {
    using matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    matrix xc = as_eigen(X.middle_rows(0, pool)).template cast<double>();
    const Eigen::RowVectorXd mean = xc.colwise().sum() / double(pool);
    xc.rowwise() -= mean;
    matrix C(pool, pool);
    constexpr index_t block = 64;
    parallel_for((pool + block - 1) / block, [&](index_t b) {
        const index_t r0 = b * block, nr = std::min(block, pool - r0);
        C.middleRows(r0, nr).noalias() = xc.middleRows(r0, nr) * xc.transpose();
    }, threads);
    return C;
}

template <class T>
struct pentachoron_kernel {
    matrix_view<const T> X;
    std::uint64_t seed;
    std::uint32_t pool;
    double eps;
    const double* C = nullptr;  // pool Gram, or null for the direct path
    double tolerance = 0.0;
    double error_unit = 0.0;    // (2√d + 8) · 2^-53

    // vol² of sample `idx`; the rows of sample `next` (may be null) are prefetched on the way.
    double direct(const std::uint32_t* idx, double* G, const std::uint32_t* next = nullptr) const noexcept {
        const T* v[5];
        const T* ahead_rows[5];
        for (int i = 0; i < 5; ++i) {
            v[i] = X.row(idx[i]);
            if (next) ahead_rows[i] = X.row(next[i]);
        }
        gram_outcome outcome;
        return simplex_volume_sq_rows(v, 4, X.cols(), G, outcome, next ? ahead_rows : nullptr).value();
    }

    double from_pool_gram(const std::uint32_t* idx, double* G) const noexcept {
        const index_t n = pool;
        auto c = [&](int a, int b) { return C[index_t(idx[a]) * n + index_t(idx[b])]; };
        double top = 0.0;
        for (int a = 0; a < 5; ++a) top = std::max(top, c(a, a));
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j <= i; ++j) G[i * 4 + j] = c(i + 1, j + 1) - c(i + 1, 0) - c(j + 1, 0) + c(0, 0);
        double inverse_pivot_sum = 0.0;
        const scaled_double r = simplex_volume_sq_scaled_from_gram(G, 4, &inverse_pivot_sum);
        if (8.0 * error_unit * top * inverse_pivot_sum <= tolerance) return r.value();
        return direct(idx, G);
    }

    // Random rows defeat the hardware prefetcher: each direct sample would wait on five
    // cold 4·d-byte rows. So the sample `ahead` places further on is drawn early, and its
    // rows are prefetched while this one is computed, at the pace the Gram pass reads
    // (detail/simplex_gram.hpp).
    static constexpr index_t ahead = 2;

    running_stats run(index_t begin, index_t end) const noexcept {
        running_stats s;
        double G[16];
        std::uint32_t idx[ahead + 1][5];
        for (index_t i = begin; i < std::min(end, begin + ahead); ++i)
            pentachoron_sample(seed, std::uint64_t(i), pool, idx[i % (ahead + 1)]);
        for (index_t i = begin; i < end; ++i) {
            const std::uint32_t* next = nullptr;
            if (i + ahead < end) {
                std::uint32_t* slot = idx[(i + ahead) % (ahead + 1)];
                pentachoron_sample(seed, std::uint64_t(i + ahead), pool, slot);
                next = slot;
            }
            const std::uint32_t* cur = idx[i % (ahead + 1)];
            const double v2 = C ? from_pool_gram(cur, G) : direct(cur, G, next);
            if (v2 > eps) s.add(std::sqrt(v2));
        }
        return s;
    }
};

template <class T>
running_stats pentachoron_stats(matrix_view<const T> X, const pentachoron_params& p, index_t begin, index_t end,
                                const char* function) {
    const index_t pool = pentachoron_validate(X, p, function);
    check_sample_range(begin, end, p, function);
    if (pool < 5 || begin == end) return running_stats{};
    pentachoron_kernel<T> kernel{X, p.seed, std::uint32_t(pool), p.eps};
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> C;
    if (pentachoron_use_pool_gram(p.method, pool, end - begin)) {
        C = centred_pool_gram(X, pool, p.threads);
        kernel.C = C.data();
        kernel.tolerance = std::is_same<T, float>::value ? 1e-9 : 1e-13;
        kernel.error_unit = (2.0 * std::sqrt(double(X.cols())) + 8.0) * 0x1p-53;
    }
    // Chunks are aligned to absolute sample numbers, so shards cut at multiples of
    // pentachoron_chunk reproduce the full job's chunks.
    // Chunks are merged in order, a window of at most 2^16 chunks at a time, so memory
    // stays bounded whatever the sample count (the result is the same as one pass).
    const index_t first = begin / pentachoron_chunk, last = (end - 1) / pentachoron_chunk;
    constexpr index_t window = index_t(1) << 16;
    running_stats total;
    for (index_t w0 = first; w0 <= last; w0 += window) {
        const index_t w1 = std::min(last + 1, w0 + window);
        total = merged(total, parallel_reduce(
                                  w1 - w0, 1, running_stats{},
                                  [&](index_t c0, index_t) {
                                      const index_t c = w0 + c0;
                                      return kernel.run(std::max(begin, c * pentachoron_chunk),
                                                        std::min(end, (c + 1) * pentachoron_chunk));
                                  },
                                  [](const running_stats& a, const running_stats& b) { return merged(a, b); },
                                  p.threads));
    }
    return total;
}

}  // namespace detail

// Statistics (count, mean, M2) of the valid volumes among samples [sample_begin,
// sample_end) of the job `params` describes on X; merge shards in order with
// running_stats::merge and finish with pentachoron_finish.
template <class T>
running_stats pentachoron_partial(matrix_view<T> X, const pentachoron_params& params, index_t sample_begin,
                                  index_t sample_end) {
    return detail::pentachoron_stats(matrix_view<const std::remove_const_t<T>>(X), params, sample_begin, sample_end,
                                     "pentachoron_partial");
}

// The result from the merged statistics of all params.n_samples samples.
inline pentachoron_result pentachoron_finish(const running_stats& stats, const pentachoron_params& params) {
    detail::require_non_negative(params.ddof, "pentachoron_finish", "params.ddof");
    detail::require_non_negative(params.min_valid, "pentachoron_finish", "params.min_valid");
    pentachoron_result r;
    r.n_samples = params.n_samples;
    r.n_valid = index_t(stats.count);
    if (stats.count > 0) r.mean = stats.mean;
    if (stats.count > params.ddof) r.std = stats.stddev(params.ddof);
    if (r.n_valid >= std::max<index_t>({params.min_valid, index_t(params.ddof) + 1, 1})) {
        const double cv = r.std / (r.mean + params.mean_eps);
        if (std::isfinite(cv)) {
            r.cv = cv;
            r.in_band = cv > 0.13 && cv < 0.30;
        }
    }
    return r;
}

// Pentachoron CV of the rows of X (n × d); see the top of this header.
template <class T>
pentachoron_result pentachoron_cv(matrix_view<T> X, const pentachoron_params& params = pentachoron_params{}) {
    const running_stats s = detail::pentachoron_stats(matrix_view<const std::remove_const_t<T>>(X), params, 0,
                                                      params.n_samples, "pentachoron_cv");
    return pentachoron_finish(s, params);
}

}  // namespace geomkit
