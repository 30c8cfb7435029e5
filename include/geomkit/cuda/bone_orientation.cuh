// Bone orientation and head entropy on the GPU: the contract of
// geomkit/bone_orientation.hpp for a key snapshot in device memory.
//
//   cuda::bone_orientation(keys, options, stream)   -> bone_orientation_result (host)
//   cuda::head_entropy(heads, out, stream)          entropies of batch × S × D device keys
//   cuda::head_entropy(keys, stream)                -> double, one S × D head
//
// `keys` is a key_snapshot whose data pointers are device pointers (the single-buffer form,
// or a host array of key_layer whose `data` point into device memory). Keys are float,
// double, float16 or bfloat16. options.threads is ignored.
//
// SAME ANSWERS. Integer fields and every threshold decision (cos >= 0.7, cos < 0.3,
// cross < 0.5, smoothness < 0.5) are the reference's, as on the CPU, and composite()
// follows; float fields agree with the CPU's to rounding (sums in another order).
//   Position-wise: each position pair's cosine is computed the reference's way — |k_i|²
//   and k_i·k_j summed one product at a time in dimension order, each product of two
//   float32-exact doubles exact (so fused multiply-adds cannot change it) — so the cosine
//   is bitwise the reference's and `cos < 0.3` needs no error band. The per-layer sum of
//   cosines is an order-fixed block reduction; where a smoothness lies within its rounding
//   bound of 0.5 (the CPU's bound), the layer's differentiation is recomputed by adding the
//   reference cosines one by one in the reference's pair order, on one device thread.
//   Multi-head: head-pair dots and layer mean-key products are order-fixed block sums in
//   double (products exact); a cosine within the CPU's rigorous error bound of 0.7 (pairs)
//   or 0.5 (mean keys) is recomputed on the device by the CPU's own GEOMKIT_HD reference
//   functions (reference_cosine, reference_mean_cosine: the reference's order, float mean
//   keys bit for bit).
//   Entropies: |k_t| from the reference-order sum, then the shared GEOMKIT_HD
//   entropy_from_magnitudes; the host finishes with the CPU's formulas and bo_composite.
//
// Errors: the CPU's (same words, function named cuda::<name>); a NaN/Inf key is found on
// the device and its row read back for the message. Synchronises `stream`.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "../bone_orientation.hpp"
#include "../core/batch_view.hpp"
#include "common.cuh"

namespace geomkit {
namespace cuda {
namespace detail {

using geomkit::detail::key_value;
using geomkit::detail::mean_type_t;
using geomkit::detail::unfused_product;

// A layer (or, position-wise, one head) as the kernels see it.
template <class T>
struct bo_part {
    const T* data = nullptr;     // device
    index_t heads = 0;           // multi-head: the layer's heads; position-wise: 1
    index_t head_stride = 0;
    index_t position_stride = 0;
    index_t layer = 0;           // snapshot layer
    index_t head = 0;            // position-wise: the head analysed
    index_t row_offset = -1;     // first of heads * S rows in the row arrays; -1: missing layer
    index_t head_offset = 0;     // first of `heads` per-head values
    index_t pair_offset = 0;     // first of heads (heads - 1) / 2 pair cosines
};

// |row|² summed one product at a time in dimension order (the reference's |k|²).
template <class T>
GEOMKIT_HD double reference_squared_norm(const T* row, index_t D) noexcept {
    double s = 0.0;
    for (index_t c = 0; c < D; ++c) {
        const double x = double(key_value(row[c]));
        s += unfused_product(x, x);
    }
    return s;
}

// row · other, the same way.
template <class T>
GEOMKIT_HD double reference_dot(const T* a, const T* b, index_t D) noexcept {
    double s = 0.0;
    for (index_t c = 0; c < D; ++c) s += unfused_product(double(key_value(a[c])), double(key_value(b[c])));
    return s;
}

// The reference's cosine from its three sums.
GEOMKIT_HD inline double cosine_from_sums(double dot, double na, double nb) noexcept {
    const double denom = std::sqrt(na) * std::sqrt(nb);
    return denom == 0.0 ? 0.0 : dot / denom;
}

// Row p of head h of part `part` (rows numbered h * S + p).
template <class T>
GEOMKIT_HD const T* part_row(const bo_part<T>& part, index_t r, index_t S) noexcept {
    const index_t h = r / S, p = r % S;
    return part.data + h * part.head_stride + p * part.position_stride;
}

// Per row of every part: the reference |k|², the magnitude |k|, the first non-finite row.
template <class T>
__global__ void bo_rows_kernel(const bo_part<T>* parts, index_t S, index_t D, double* row_sq, double* magnitude,
                               unsigned long long* bad) {
    const bo_part<T> part = parts[blockIdx.y];
    if (part.row_offset < 0) return;
    const index_t rows = part.heads * S;
    for (index_t r = index_t(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += index_t(gridDim.x) * blockDim.x) {
        const double n2 = reference_squared_norm(part_row(part, r, S), D);
        row_sq[part.row_offset + r] = n2;
        magnitude[part.row_offset + r] = std::sqrt(n2);
        if (!(n2 - n2 == 0.0)) report_first(bad, std::uint64_t(part.row_offset + r));
    }
}

// Normalised entropy of each head of every part (grid: heads / 32 × part).
template <class T>
__global__ void bo_entropy_kernel(const bo_part<T>* parts, index_t S, const double* magnitude, double* entropy) {
    const bo_part<T> part = parts[blockIdx.y];
    const index_t h = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (part.row_offset < 0 || h >= part.heads) return;
    entropy[part.head_offset + h] = geomkit::detail::entropy_from_magnitudes(magnitude + part.row_offset + h * S, S);
}

constexpr int bo_threads = 256;

// Multi-head: |head|² = Σ_p |k_p|² per head (grid: head × layer).
template <class T>
__global__ void bo_head_norms_kernel(const bo_part<T>* parts, index_t S, const double* row_sq, double* head_sq) {
    __shared__ double scratch[bo_threads];
    const bo_part<T> part = parts[blockIdx.y];
    const index_t h = index_t(blockIdx.x);
    if (part.row_offset < 0 || h >= part.heads) return;
    double s = 0.0;
    for (index_t p = threadIdx.x; p < S; p += bo_threads) s += row_sq[part.row_offset + h * S + p];
    s = block_sum<bo_threads>(s, scratch);
    if (threadIdx.x == 0) head_sq[part.head_offset + h] = s;
}

GEOMKIT_HD inline void pair_from_index(index_t q, index_t heads, index_t& i, index_t& j) noexcept {
    i = 0;
    while (q >= heads - 1 - i) {
        q -= heads - 1 - i;
        ++i;
    }
    j = i + 1 + q;
}

// Multi-head: cos(head_i, head_j) of every head pair i < j (grid: pair × layer), settled by
// the reference's own evaluation when within `band` of 0.7.
template <class T>
__global__ void bo_pairs_kernel(const bo_part<T>* parts, index_t S, index_t D, const double* head_sq, double band,
                                double* cosine) {
    __shared__ double scratch[bo_threads];
    const bo_part<T> part = parts[blockIdx.y];
    const index_t pairs = part.heads * (part.heads - 1) / 2, q = index_t(blockIdx.x);
    if (part.row_offset < 0 || q >= pairs) return;
    index_t i = 0, j = 0;
    pair_from_index(q, part.heads, i, j);
    const T* a = part.data + i * part.head_stride;
    const T* b = part.data + j * part.head_stride;
    double s = 0.0;
    for (index_t e = threadIdx.x; e < S * D; e += bo_threads) {
        const index_t p = e / D, c = e % D;
        s += double(key_value(a[p * part.position_stride + c])) * double(key_value(b[p * part.position_stride + c]));
    }
    s = block_sum<bo_threads>(s, scratch);
    if (threadIdx.x != 0) return;
    double c = cosine_from_sums(s, head_sq[part.head_offset + i], head_sq[part.head_offset + j]);
    if (std::fabs(c - 0.7) <= band)
        c = geomkit::detail::reference_cosine(a, part.position_stride, b, part.position_stride, S, D);
    cosine[part.pair_offset + q] = c;
}

constexpr int bo_mean_blocks = 32;

// Multi-head: partial sums (block x of bo_mean_blocks) of |mean key l|² and, when layer
// l + 1 is present, mean key l · mean key l+1, the means formed as the reference forms them.
template <class T>
__global__ void bo_means_kernel(const bo_part<T>* parts, index_t n_parts, index_t S, index_t D, double* mean_sq,
                                double* cross_dot) {
    __shared__ double scratch[bo_threads];
    const index_t l = index_t(blockIdx.y);
    const bo_part<T> a = parts[l];
    if (a.row_offset < 0) return;
    const bool next = l + 1 < n_parts && parts[l + 1].row_offset >= 0;
    const bo_part<T> b = next ? parts[l + 1] : a;
    double sq = 0.0, dot = 0.0;
    for (index_t e = index_t(blockIdx.x) * bo_threads + threadIdx.x; e < S * D; e += index_t(bo_mean_blocks) * bo_threads) {
        const index_t p = e / D, c = e % D;
        const double x = double(geomkit::detail::reference_mean_element(a.data, a.heads, a.head_stride, p * a.position_stride + c));
        sq += x * x;
        if (next)
            dot += x * double(geomkit::detail::reference_mean_element(b.data, b.heads, b.head_stride, p * b.position_stride + c));
    }
    sq = block_sum<bo_threads>(sq, scratch);
    dot = block_sum<bo_threads>(dot, scratch);
    if (threadIdx.x == 0) {
        mean_sq[l * bo_mean_blocks + blockIdx.x] = sq;
        cross_dot[l * bo_mean_blocks + blockIdx.x] = dot;
    }
}

// The reference's cosine of two layers' mean keys (one thread; for values near 0.5).
template <class T>
__global__ void bo_reference_mean_cosine_kernel(bo_part<T> a, bo_part<T> b, index_t S, index_t D, double* out) {
    *out = geomkit::detail::reference_mean_cosine(a.data, a.heads, a.head_stride, a.position_stride, b.data, b.heads,
                                                  b.head_stride, b.position_stride, S, D);
}

// Position-wise: for row i of each part (grid: row × part), the sum over j > i of the
// reference cosine cos(k_i, k_j) and the count of those below `threshold`.
template <class T>
__global__ void bo_position_pairs_kernel(const bo_part<T>* parts, index_t S, index_t D, const double* row_sq,
                                         double threshold, double* row_sum, double* row_below) {
    __shared__ double scratch[bo_threads];
    const bo_part<T> part = parts[blockIdx.y];
    const index_t i = index_t(blockIdx.x);
    if (i >= S) return;
    const T* a = part.data + i * part.position_stride;
    const double na = row_sq[part.row_offset + i];
    double sum = 0.0, below = 0.0;
    for (index_t j = i + 1 + threadIdx.x; j < S; j += bo_threads) {
        const double c = cosine_from_sums(reference_dot(a, part.data + j * part.position_stride, D), na,
                                          row_sq[part.row_offset + j]);
        sum += c;
        below += c < threshold ? 1.0 : 0.0;
    }
    sum = block_sum<bo_threads>(sum, scratch);
    below = block_sum<bo_threads>(below, scratch);
    if (threadIdx.x == 0) {
        row_sum[part.row_offset + i] = sum;
        row_below[part.row_offset + i] = below;
    }
}

// Position pairs (r, j > r) of rows r in [i0, i): Σ_{r=i0}^{i-1} (S - 1 - r).
GEOMKIT_HD inline index_t pairs_between(index_t i0, index_t i, index_t S) noexcept {
    return (i - i0) * (S - 1) - (i * (i - 1) / 2 - i0 * (i0 - 1) / 2);
}

// Position-wise exact path: the cosines of pairs (i, j > i), i in [i0, i1), in the
// reference's pair order into out (grid: row; block: j).
template <class T>
__global__ void bo_pair_cosines_kernel(bo_part<T> part, index_t S, index_t D, const double* row_sq, index_t i0,
                                       double* out) {
    const index_t i = i0 + index_t(blockIdx.x);
    const index_t before = pairs_between(i0, i, S);
    const T* a = part.data + i * part.position_stride;
    for (index_t j = i + 1 + threadIdx.x; j < S; j += blockDim.x)
        out[before + (j - i - 1)] = cosine_from_sums(reference_dot(a, part.data + j * part.position_stride, D),
                                                     row_sq[part.row_offset + i], row_sq[part.row_offset + j]);
}

// total += values[0], values[1], … one by one (one thread: the reference's order).
template <int Unused = 0>
__global__ void sequential_sum_kernel(const double* values, index_t n, double* total) {
    double s = *total;
    for (index_t k = 0; k < n; ++k) s += values[k];
    *total = s;
}

template <class T>
struct bo_device_parts {
    std::vector<bo_part<T>> parts;
    index_t rows = 0, heads = 0, pairs = 0;
};

// Reads row r (global row numbering) back and throws the CPU's non-finite message.
template <class T>
[[noreturn]] void fail_non_finite_key(const std::vector<bo_part<T>>& parts, index_t S, index_t D, index_t row,
                                      cudaStream_t stream, const char* name) {
    for (const auto& part : parts) {
        if (part.row_offset < 0 || row < part.row_offset || row >= part.row_offset + part.heads * S) continue;
        const index_t r = row - part.row_offset, h = r / S, p = r % S;
        std::vector<T> host(static_cast<std::size_t>(D));
        copy_to_host(host.data(), part_row(part, r, S), std::size_t(D), stream, name);
        geomkit::detail::fail_non_finite_row(host.data(), D, part.layer, part.heads == 1 ? part.head : h, p,
                                             qualified(name).c_str());
    }
    throw error(concat("geomkit::cuda::", name, ": internal error: non-finite row ", row, " not found"));
}

template <class T>
bone_orientation_result multi_head(const key_snapshot<T>& keys, cudaStream_t stream, const char* name) {
    const index_t L = keys.layers(), S = keys.seq_len(), D = keys.head_dim();
    bone_orientation_result r;
    r.layer_coherence.assign(std::size_t(L), 0.0);
    r.layer_cross_alignment.assign(std::size_t(L > 1 ? L - 1 : 0), 0.0);
    std::vector<bo_part<T>> parts(static_cast<std::size_t>(L));
    index_t rows = 0, heads = 0, pairs = 0, max_heads = 0, max_pairs = 0;
    for (index_t l = 0; l < L; ++l) {
        const key_layer<T> k = keys.layer(l);
        auto& p = parts[std::size_t(l)];
        p.layer = l;
        if (!k.present()) continue;
        p.data = k.data;
        p.heads = k.heads;
        p.head_stride = k.head_stride;
        p.position_stride = k.position_stride;
        p.row_offset = rows;
        p.head_offset = heads;
        p.pair_offset = pairs;
        rows += k.heads * S;
        heads += k.heads;
        pairs += k.heads * (k.heads - 1) / 2;
        max_heads = std::max(max_heads, k.heads);
        max_pairs = std::max(max_pairs, k.heads * (k.heads - 1) / 2);
    }
    device_buffer<bo_part<T>> d_parts(parts.size(), stream, name);
    copy_to_device(d_parts.data(), parts.data(), parts.size(), stream, name);
    device_buffer<double> row_sq(std::size_t(rows), stream, name), magnitude(std::size_t(rows), stream, name);
    device_buffer<double> head_sq(std::size_t(heads), stream, name), entropy(std::size_t(heads), stream, name);
    device_buffer<double> cosine(std::size_t(pairs), stream, name);
    device_buffer<double> mean_sq(std::size_t(L * bo_mean_blocks), stream, name),
        cross_dot(std::size_t(L * bo_mean_blocks), stream, name);
    device_buffer<unsigned long long> bad(1, stream, name);
    check(cudaMemsetAsync(bad.data(), 0xff, sizeof(unsigned long long), stream), name);
    for (const device_buffer<double>* b : {&entropy, &cosine, &mean_sq, &cross_dot})
        if (b->size() > 0) check(cudaMemsetAsync(b->data(), 0, b->size() * sizeof(double), stream), name);
    const unsigned grid_layers = unsigned(L);
    if (rows > 0 && max_heads > 0) {
        const unsigned row_blocks = std::min<unsigned>(grid_for(max_heads * S, bo_threads), 1024u);
        bo_rows_kernel<T><<<dim3(row_blocks, grid_layers), bo_threads, 0, stream>>>(d_parts.data(), S, D, row_sq.data(),
                                                                                    magnitude.data(), bad.data());
        check_launch(name);
        bo_entropy_kernel<T><<<dim3(grid_for(max_heads, 32), grid_layers), 32, 0, stream>>>(
            d_parts.data(), S, magnitude.data(), entropy.data());
        check_launch(name);
        bo_head_norms_kernel<T><<<dim3(unsigned(max_heads), grid_layers), bo_threads, 0, stream>>>(
            d_parts.data(), S, row_sq.data(), head_sq.data());
        check_launch(name);
        if (max_pairs > 0) {
            bo_pairs_kernel<T><<<dim3(unsigned(max_pairs), grid_layers), bo_threads, 0, stream>>>(
                d_parts.data(), S, D, head_sq.data(), geomkit::detail::cosine_error_bound(S * D), cosine.data());
            check_launch(name);
        }
        bo_means_kernel<T><<<dim3(bo_mean_blocks, grid_layers), bo_threads, 0, stream>>>(d_parts.data(), L, S, D,
                                                                                        mean_sq.data(), cross_dot.data());
        check_launch(name);
    }
    unsigned long long first_bad = none_reported;
    copy_to_host(&first_bad, bad.data(), 1, stream, name);
    std::vector<double> h_cos(static_cast<std::size_t>(pairs)), h_entropy(static_cast<std::size_t>(heads)),
        h_mean_sq(static_cast<std::size_t>(L * bo_mean_blocks)), h_cross(static_cast<std::size_t>(L * bo_mean_blocks));
    copy_to_host(h_cos.data(), cosine.data(), h_cos.size(), stream, name);
    copy_to_host(h_entropy.data(), entropy.data(), h_entropy.size(), stream, name);
    copy_to_host(h_mean_sq.data(), mean_sq.data(), h_mean_sq.size(), stream, name);
    copy_to_host(h_cross.data(), cross_dot.data(), h_cross.size(), stream, name);
    auto partial_total = [](const std::vector<double>& v, index_t l) {
        double s = 0.0;
        for (index_t b = 0; b < bo_mean_blocks; ++b) s += v[std::size_t(l * bo_mean_blocks + b)];
        return s;
    };

    const std::string function = qualified(name);
    const double pair_band = geomkit::detail::cosine_error_bound(S * D);
    double total_coherence = 0.0, total_entropy = 0.0, total_cross = 0.0;
    std::int64_t locked = 0, all_pairs = 0;
    for (index_t l = 0; l < L; ++l) {
        const auto& part = parts[std::size_t(l)];
        if (part.row_offset < 0) continue;
        const index_t H = part.heads, n_pairs = H * (H - 1) / 2;
        if (first_bad != none_reported && index_t(first_bad) >= part.row_offset &&
            index_t(first_bad) < part.row_offset + H * S)
            fail_non_finite_key(parts, S, D, index_t(first_bad), stream, name);
        if (!std::isfinite(partial_total(h_mean_sq, l)))
            fail(function.c_str(), "keys", "must have layer mean keys representable in the mean type (float for float keys)",
                 concat("overflow in layer ", l));
        double coherence = 0.0;
        for (index_t q = 0; q < n_pairs; ++q) {
            const double c = h_cos[std::size_t(part.pair_offset + q)];
            coherence += c;
            locked += c >= 0.7;
            ++all_pairs;
        }
        if (n_pairs > 0) coherence /= double(n_pairs);
        r.layer_coherence[std::size_t(l)] = coherence;
        total_coherence += coherence;
        for (index_t h = 0; h < H; ++h) total_entropy += h_entropy[std::size_t(part.head_offset + h)];
    }
    for (index_t l = 0; l + 1 < L; ++l) {
        const auto &a = parts[std::size_t(l)], &b = parts[std::size_t(l + 1)];
        if (a.row_offset < 0 || b.row_offset < 0) continue;
        double c = cosine_from_sums(partial_total(h_cross, l), partial_total(h_mean_sq, l), partial_total(h_mean_sq, l + 1));
        if (std::fabs(c - 0.5) <= pair_band) {
            device_buffer<double> exact(1, stream, name);
            bo_reference_mean_cosine_kernel<T><<<1, 1, 0, stream>>>(a, b, S, D, exact.data());
            check_launch(name);
            copy_to_host(&c, exact.data(), 1, stream, name);
        }
        r.layer_cross_alignment[std::size_t(l)] = c;
        total_cross += c;
        r.joint_collapse_count += c < 0.5;
    }
    r.mean_coherence = total_coherence / double(L);
    if (L > 1) r.mean_cross_alignment = total_cross / double(L - 1);
    if (L * keys.heads() > 0) r.mean_head_entropy = total_entropy / double(L * keys.heads());
    if (all_pairs > 0) r.phase_lock_score = double(locked) / double(all_pairs);
    return r;
}

// Σ of the reference cosines of all position pairs of `part`, added one by one in the
// reference's order onto *total (device), in row blocks of at most 2^22 pairs.
template <class T>
void exact_pair_sum(const bo_part<T>& part, index_t S, index_t D, const double* row_sq, double* total,
                    cudaStream_t stream, const char* name) {
    constexpr index_t max_pairs = index_t(1) << 22;
    device_buffer<double> cos(std::size_t(std::min<index_t>(max_pairs, S * (S - 1) / 2) + S), stream, name);
    for (index_t i0 = 0; i0 < S - 1;) {
        index_t i1 = i0, n = 0;
        while (i1 < S - 1 && (n + (S - 1 - i1) <= max_pairs || i1 == i0)) n += S - 1 - i1++;
        bo_pair_cosines_kernel<T><<<unsigned(i1 - i0), 128, 0, stream>>>(part, S, D, row_sq, i0, cos.data());
        check_launch(name);
        sequential_sum_kernel<><<<1, 1, 0, stream>>>(cos.data(), n, total);
        check_launch(name);
        i0 = i1;
    }
}

template <class T>
bone_orientation_result position_wise(const key_snapshot<T>& keys, bool all_heads, cudaStream_t stream,
                                      const char* name) {
    const index_t L = keys.layers(), S = keys.seq_len(), D = keys.head_dim();
    bone_orientation_result r;
    r.gqa = true;
    r.layer_coherence.assign(std::size_t(L), 0.0);
    r.layer_cross_alignment.assign(std::size_t(L > 1 ? L - 1 : 0), 0.0);
    if (S < 2 || D == 0) return r;

    std::vector<bo_part<T>> units;
    for (index_t l = 0; l < L; ++l) {
        const key_layer<T> k = keys.layer(l);
        if (!k.present()) continue;
        for (index_t h = 0; h < (all_heads ? k.heads : 1); ++h) {
            bo_part<T> u;
            u.data = k.head(h);
            u.heads = 1;
            u.position_stride = k.position_stride;
            u.layer = l;
            u.head = h;
            u.row_offset = index_t(units.size()) * S;
            u.head_offset = index_t(units.size());
            units.push_back(u);
        }
    }
    const index_t n_units = index_t(units.size()), rows = n_units * S;
    std::vector<double> similarity(static_cast<std::size_t>(L), 0.0), pairs(static_cast<std::size_t>(L), 0.0);
    double total_entropy = 0.0;
    std::int64_t locked = 0, all_pairs = 0;
    device_buffer<bo_part<T>> d_units(units.size(), stream, name);
    device_buffer<double> row_sq(std::size_t(rows), stream, name);
    if (n_units > 0) {
        copy_to_device(d_units.data(), units.data(), units.size(), stream, name);
        device_buffer<double> magnitude(std::size_t(rows), stream, name), entropy(std::size_t(n_units), stream, name);
        device_buffer<double> row_sum(std::size_t(rows), stream, name), row_below(std::size_t(rows), stream, name);
        device_buffer<unsigned long long> bad(1, stream, name);
        check(cudaMemsetAsync(bad.data(), 0xff, sizeof(unsigned long long), stream), name);
        const unsigned row_blocks = std::min<unsigned>(grid_for(S, bo_threads), 1024u);
        for (index_t u0 = 0; u0 < n_units; u0 += 65535) {  // grid.y limit
            const unsigned count = unsigned(std::min<index_t>(65535, n_units - u0));
            bo_rows_kernel<T><<<dim3(row_blocks, count), bo_threads, 0, stream>>>(d_units.data() + u0, S, D, row_sq.data(),
                                                                                 magnitude.data(), bad.data());
            check_launch(name);
        }
        for (index_t u0 = 0; u0 < n_units; u0 += 65535) {
            const unsigned count = unsigned(std::min<index_t>(65535, n_units - u0));
            bo_entropy_kernel<T><<<dim3(1, count), 32, 0, stream>>>(d_units.data() + u0, S, magnitude.data(),
                                                                   entropy.data());
            check_launch(name);
        }
        unsigned long long first_bad = none_reported;
        copy_to_host(&first_bad, bad.data(), 1, stream, name);
        if (first_bad != none_reported) fail_non_finite_key(units, S, D, index_t(first_bad), stream, name);
        for (index_t u0 = 0; u0 < n_units; u0 += 65535) {
            const unsigned count = unsigned(std::min<index_t>(65535, n_units - u0));
            bo_position_pairs_kernel<T><<<dim3(unsigned(S), count), bo_threads, 0, stream>>>(
                d_units.data() + u0, S, D, row_sq.data(), 0.3, row_sum.data(), row_below.data());
            check_launch(name);
        }
        std::vector<double> h_sum(static_cast<std::size_t>(rows)), h_below(static_cast<std::size_t>(rows)), h_entropy(static_cast<std::size_t>(n_units));
        copy_to_host(h_sum.data(), row_sum.data(), h_sum.size(), stream, name);
        copy_to_host(h_below.data(), row_below.data(), h_below.size(), stream, name);
        copy_to_host(h_entropy.data(), entropy.data(), h_entropy.size(), stream, name);
        const double pairs_per_head = double(S) * double(S - 1) / 2.0;
        for (index_t u = 0; u < n_units; ++u) {
            double s = 0.0;
            std::int64_t below = 0;
            for (index_t i = 0; i < S; ++i) {
                s += h_sum[std::size_t(u * S + i)];
                below += std::int64_t(h_below[std::size_t(u * S + i)]);
            }
            const index_t l = units[std::size_t(u)].layer;
            similarity[std::size_t(l)] += s;
            pairs[std::size_t(l)] += pairs_per_head;
            total_entropy += h_entropy[std::size_t(u)];
            locked += below;
            all_pairs += S * (S - 1) / 2;
        }
    }
    for (index_t l = 0; l < L; ++l)
        if (pairs[std::size_t(l)] > 0)
            r.layer_coherence[std::size_t(l)] = 1.0 - similarity[std::size_t(l)] / pairs[std::size_t(l)];
    // A smoothness within rounding of 0.5 is settled with the two layers' exact values
    // (the CPU's tolerance: it bounds this path's rounding too).
    std::vector<bool> exact(static_cast<std::size_t>(L), false);
    for (index_t l = 0; l + 1 < L; ++l) {
        const double smooth = 1.0 - std::fabs(r.layer_coherence[std::size_t(l + 1)] - r.layer_coherence[std::size_t(l)]);
        const double tol = 4.0 * (std::max(pairs[std::size_t(l)], pairs[std::size_t(l + 1)]) + double(4 * S + 4 * D + 64)) *
                           std::ldexp(1.0, -53);
        if (std::fabs(smooth - 0.5) <= tol) exact[std::size_t(l)] = exact[std::size_t(l + 1)] = true;
    }
    for (index_t l = 0; l < L; ++l) {
        if (!exact[std::size_t(l)] || pairs[std::size_t(l)] == 0) continue;
        device_buffer<double> total(1, stream, name);
        check(cudaMemsetAsync(total.data(), 0, sizeof(double), stream), name);
        for (const auto& u : units)
            if (u.layer == l) exact_pair_sum(u, S, D, row_sq.data(), total.data(), stream, name);
        double sum = 0.0;
        copy_to_host(&sum, total.data(), 1, stream, name);
        r.layer_coherence[std::size_t(l)] = 1.0 - sum / pairs[std::size_t(l)];
    }
    double total_diff = 0.0, total_cross = 0.0;
    for (index_t l = 0; l < L; ++l) total_diff += r.layer_coherence[std::size_t(l)];
    for (index_t l = 0; l + 1 < L; ++l) {
        const double smooth = 1.0 - std::fabs(r.layer_coherence[std::size_t(l + 1)] - r.layer_coherence[std::size_t(l)]);
        r.layer_cross_alignment[std::size_t(l)] = smooth;
        r.joint_collapse_count += smooth < 0.5;
    }
    for (double v : r.layer_cross_alignment) total_cross += v;
    r.mean_coherence = total_diff / double(L);
    if (!r.layer_cross_alignment.empty()) r.mean_cross_alignment = total_cross / double(r.layer_cross_alignment.size());
    const index_t entropy_heads = all_heads ? L * keys.heads() : L;
    if (entropy_heads > 0) r.mean_head_entropy = total_entropy / double(entropy_heads);
    if (all_pairs > 0) r.phase_lock_score = double(locked) / double(all_pairs);
    return r;
}

}  // namespace detail

// Bone-orientation metrics of a key snapshot in device memory; see the top of this file
// and geomkit/bone_orientation.hpp.
template <class T>
bone_orientation_result bone_orientation(const key_snapshot<T>& keys, const bone_orientation_options& options = {},
                                         cudaStream_t stream = nullptr) {
    const char* name = "bone_orientation";
    const std::string function = detail::qualified(name);
    geomkit::detail::check_keys(keys, function.c_str());
    if (options.threads < 0)
        detail::fail(function.c_str(), "options.threads", "must be >= 0 (0 = the geomkit setting)",
                     detail::concat(options.threads));
    if (keys.layers() == 0) return bone_orientation_result{};
    if (keys.layers() > 65535)
        detail::fail(function.c_str(), "layers", "must be at most 65535 on the GPU", detail::concat(keys.layers()));
    const bool position_wise = options.mode == bo_mode::position_wise ||
                               (options.mode == bo_mode::automatic && keys.heads() <= 4);
    return position_wise ? detail::position_wise(keys, options.all_heads, stream, name)
                         : detail::multi_head(keys, stream, name);
}

// A contiguous (layers, heads, seq_len, head_dim) device array.
template <class T>
bone_orientation_result bone_orientation(const T* keys, index_t layers, index_t heads, index_t seq_len,
                                         index_t head_dim, const bone_orientation_options& options = {},
                                         cudaStream_t stream = nullptr) {
    return cuda::bone_orientation(key_snapshot<T>(keys, layers, heads, seq_len, head_dim), options, stream);
}

// Normalised entropy of each head of a device batch × S × D (any strides) into device
// out[0..batch): geomkit::head_entropy of each. Synchronises `stream` (NaN/Inf flag).
template <class T>
void head_entropy(batch_view<const T> heads, double* out, cudaStream_t stream = nullptr) {
    const char* name = "head_entropy";
    const std::string function = detail::qualified(name);
    geomkit::detail::check_batch_view(heads, function.c_str(), "keys");
    geomkit::detail::require_data(out, heads.batch(), function.c_str(), "out");
    const index_t B = heads.batch(), S = heads.rows(), D = heads.cols();
    if (B == 0) return;
    if (S <= 1 || D == 0) {
        check(cudaMemsetAsync(out, 0, std::size_t(B) * sizeof(double), stream), name);
        return;
    }
    std::vector<detail::bo_part<T>> units(static_cast<std::size_t>(B));
    for (index_t b = 0; b < B; ++b) {
        auto& u = units[std::size_t(b)];
        u.data = heads[b].data();
        u.heads = 1;
        u.position_stride = heads.row_stride();
        u.layer = b;
        u.row_offset = b * S;
        u.head_offset = b;
    }
    detail::device_buffer<detail::bo_part<T>> d_units(units.size(), stream, name);
    detail::copy_to_device(d_units.data(), units.data(), units.size(), stream, name);
    detail::device_buffer<double> row_sq(std::size_t(B * S), stream, name), magnitude(std::size_t(B * S), stream, name);
    detail::device_buffer<unsigned long long> bad(1, stream, name);
    check(cudaMemsetAsync(bad.data(), 0xff, sizeof(unsigned long long), stream), name);
    const unsigned row_blocks = std::min<unsigned>(detail::grid_for(S, detail::bo_threads), 1024u);
    for (index_t b0 = 0; b0 < B; b0 += 65535) {
        const unsigned count = unsigned(std::min<index_t>(65535, B - b0));
        detail::bo_rows_kernel<T><<<dim3(row_blocks, count), detail::bo_threads, 0, stream>>>(
            d_units.data() + b0, S, D, row_sq.data(), magnitude.data(), bad.data());
        check_launch(name);
    }
    for (index_t b0 = 0; b0 < B; b0 += 65535) {
        const unsigned count = unsigned(std::min<index_t>(65535, B - b0));
        detail::bo_entropy_kernel<T><<<dim3(1, count), 32, 0, stream>>>(d_units.data() + b0, S, magnitude.data(), out);
        check_launch(name);
    }
    unsigned long long first = detail::none_reported;
    detail::copy_to_host(&first, bad.data(), 1, stream, name);
    if (first == detail::none_reported) return;
    const index_t b = index_t(first) / S, p = index_t(first) % S;
    std::vector<T> row(static_cast<std::size_t>(D));
    detail::copy_to_host(row.data(), heads[b].row(p), std::size_t(D), stream, name);
    const std::string where = B == 1 ? std::string() : detail::concat("head ", b, ", ");
    for (index_t c = 0; c < D; ++c) {
        const double v = double(detail::key_value(row[std::size_t(c)]));
        if (!std::isfinite(v))
            detail::fail(function.c_str(), "keys", "must contain only finite values",
                         detail::concat(v, " at [", where, p, ", ", c, "]"));
    }
    detail::fail(function.c_str(), "keys", "must have rows whose squared norm is finite in double",
                 detail::concat("overflow in ", where, "row ", p));
}
template <class T>
void head_entropy(batch_view<T> heads, double* out, cudaStream_t stream = nullptr) {
    cuda::head_entropy(batch_view<const T>(heads), out, stream);
}

// Normalised entropy of one head's keys (S × D device matrix).
template <class T>
double head_entropy(matrix_view<const T> keys, cudaStream_t stream = nullptr) {
    const std::string function = detail::qualified("head_entropy");
    geomkit::detail::check_view(keys, function.c_str(), "keys");
    if (keys.rows() <= 1 || keys.cols() == 0) return 0.0;
    detail::device_buffer<double> out(1, stream, "head_entropy");
    cuda::head_entropy(batch_view<const T>(keys.data(), 1, keys.rows(), keys.cols(), 0, keys.row_stride()), out.data(),
                       stream);
    double h = 0.0;
    detail::copy_to_host(&h, out.data(), 1, stream, "head_entropy");
    return h;
}

}  // namespace cuda
}  // namespace geomkit
