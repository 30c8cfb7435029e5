// Pentachoron CV on the GPU: the contract of geomkit/pentachoron.hpp for a matrix X in
// device memory.
//
//   cuda::pentachoron_cv(X, params, stream)                     -> pentachoron_result
//   cuda::pentachoron_partial(X, params, begin, end, stream)    -> running_stats
//
// SAME SAMPLES. Sample i is pentachoron_sample(seed, i, pool) — the CPU's GEOMKIT_HD
// draw (Philox counter_rng + Floyd), so the GPU takes exactly the CPU's 5-row subsets.
// SAME MERGE. The valid volumes are gathered per chunk of pentachoron_chunk (256)
// samples, aligned to absolute sample numbers, each chunk's running_stats adds its samples
// in order, and the host merges the chunks in order starting from an empty running_stats —
// the CPU's reduction. Shards from cuda:: and CPU pentachoron_partial merge with each other.
// WHAT DIFFERS. Each vol² is computed by one warp (cuda/cayley_menger.cuh): the edge Gram
// is summed in another order than on the CPU, so volumes (and through them mean, std, cv)
// agree with the CPU's to rounding, about 1e-15 relative — not bitwise; n_valid and
// n_samples are equal unless a vol² lies within rounding of `eps`. The device may also
// contract running_stats' updates into FMAs. params.method and params.threads are ignored
// (always the direct path: no pool Gram).
//
// Errors: those of the CPU function (same messages, function named cuda::<name>), the
// NaN/Inf scan of the pool rows running on the device. Synchronises `stream`.
#pragma once

#include <cstdint>
#include <type_traits>
#include <vector>

#include "../pentachoron.hpp"
#include "cayley_menger.cuh"
#include "common.cuh"

namespace geomkit {
namespace cuda {
namespace detail {

// vol² of samples [first, first + count) into vol2[0..count), one warp per sample.
template <class T>
__global__ void pentachoron_volumes_kernel(matrix_view<const T> X, std::uint64_t seed, std::uint32_t pool,
                                           std::int64_t first, std::int64_t count, double* vol2) {
    const std::int64_t w = (std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / warp_size;
    const index_t lane = index_t(threadIdx.x % warp_size);
    if (w >= count) return;
    std::uint32_t idx[5];
    pentachoron_sample(seed, std::uint64_t(first + w), pool, idx);
    const T* v[5];
    for (int i = 0; i < 5; ++i) v[i] = X.row(index_t(idx[i]));
    double G[16];
    bool finite = true;
    const scaled_double r = simplex_volume_sq_lanes(v, 4, X.cols(), lane, index_t(warp_size), warp_lanes{}, G, finite);
    if (lane == 0) vol2[w] = r.value();
}

// The statistics of one chunk of samples [lo, hi) whose vol² are vol2[lo - offset ...], as
// the CPU's pentachoron_kernel::run forms them.
GEOMKIT_HD inline running_stats pentachoron_chunk_stats(const double* vol2, std::int64_t offset, std::int64_t lo,
                                                        std::int64_t hi, double eps) noexcept {
    running_stats s;
    for (std::int64_t i = lo; i < hi; ++i) {
        const double v2 = vol2[i - offset];
        if (v2 > eps) s.add(std::sqrt(v2));
    }
    return s;
}

// Chunk first_chunk + c (c < n_chunks), restricted to samples [begin, end) whose vol² start
// at vol2[0] for sample `begin`.
template <int Unused = 0>  // a template, so every translation unit may define it
__global__ void pentachoron_chunks_kernel(const double* vol2, std::int64_t begin, std::int64_t end,
                                                 std::int64_t first_chunk, std::int64_t n_chunks, double eps,
                                                 running_stats* out) {
    const std::int64_t c = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (c >= n_chunks) return;
    const std::int64_t chunk = first_chunk + c;
    const std::int64_t lo = chunk * pentachoron_chunk > begin ? chunk * pentachoron_chunk : begin;
    const std::int64_t hi = (chunk + 1) * pentachoron_chunk < end ? (chunk + 1) * pentachoron_chunk : end;
    out[c] = pentachoron_chunk_stats(vol2, begin, lo, hi, eps);
}

// Chunks per device pass (bounds the vol² buffer to 8 MiB).
constexpr index_t pentachoron_chunks_per_pass = 4096;

// Per-chunk statistics of samples [begin, end) in chunk order (the host-side merge input).
template <class T>
std::vector<running_stats> pentachoron_chunk_list(matrix_view<const T> X, const pentachoron_params& p, index_t pool,
                                                  index_t begin, index_t end, cudaStream_t stream, const char* name) {
    std::vector<running_stats> chunks;
    if (pool < 5 || begin == end) return chunks;
    const index_t first = begin / pentachoron_chunk, last = (end - 1) / pentachoron_chunk;
    chunks.resize(static_cast<std::size_t>(last - first + 1));
    device_buffer<double> vol2(std::size_t(pentachoron_chunks_per_pass * pentachoron_chunk), stream, name);
    device_buffer<running_stats> stats(std::size_t(pentachoron_chunks_per_pass), stream, name);
    for (index_t c0 = first; c0 <= last; c0 += pentachoron_chunks_per_pass) {
        const index_t n_chunks = std::min<index_t>(pentachoron_chunks_per_pass, last - c0 + 1);
        const index_t lo = std::max(begin, c0 * pentachoron_chunk);
        const index_t hi = std::min(end, (c0 + n_chunks) * pentachoron_chunk);
        constexpr int threads = 128;
        pentachoron_volumes_kernel<T><<<grid_for((hi - lo) * warp_size, threads), threads, 0, stream>>>(
            X, p.seed, std::uint32_t(pool), lo, hi - lo, vol2.data());
        check_launch(name);
        pentachoron_chunks_kernel<><<<grid_for(n_chunks, 128), 128, 0, stream>>>(vol2.data(), lo, hi, c0, n_chunks, p.eps,
                                                                              stats.data());
        check_launch(name);
        copy_to_host(chunks.data() + (c0 - first), stats.data(), std::size_t(n_chunks), stream, name);
    }
    return chunks;
}

// The CPU's merge: from an empty running_stats, chunk after chunk.
inline running_stats merge_in_order(const std::vector<running_stats>& chunks) {
    running_stats total;
    for (const auto& c : chunks) total = merged(total, c);
    return total;
}

template <class T>
running_stats pentachoron_stats(matrix_view<const T> X, const pentachoron_params& p, index_t begin, index_t end,
                                cudaStream_t stream, const char* name) {
    const std::string function = qualified(name);
    const index_t pool = geomkit::detail::pentachoron_validate_shape(X, p, function.c_str());
    geomkit::detail::check_sample_range(begin, end, p, function.c_str());
    check_finite(X.middle_rows(0, pool), stream, name, "X");
    return merge_in_order(pentachoron_chunk_list(X, p, pool, begin, end, stream, name));
}

}  // namespace detail

// Statistics (count, mean, M2) of the valid volumes among samples [sample_begin,
// sample_end) of the job `params` describes on the device matrix X; they merge with the
// CPU's shards. See geomkit/pentachoron.hpp.
template <class T>
running_stats pentachoron_partial(matrix_view<T> X, const pentachoron_params& params, index_t sample_begin,
                                  index_t sample_end, cudaStream_t stream = nullptr) {
    return detail::pentachoron_stats(matrix_view<const std::remove_const_t<T>>(X), params, sample_begin, sample_end,
                                     stream, "pentachoron_partial");
}

// Pentachoron CV of the rows of the device matrix X (n × d).
template <class T>
pentachoron_result pentachoron_cv(matrix_view<T> X, const pentachoron_params& params = pentachoron_params{},
                                  cudaStream_t stream = nullptr) {
    const running_stats s = detail::pentachoron_stats(matrix_view<const std::remove_const_t<T>>(X), params, 0,
                                                      params.n_samples, stream, "pentachoron_cv");
    return pentachoron_finish(s, params);
}

}  // namespace cuda
}  // namespace geomkit
