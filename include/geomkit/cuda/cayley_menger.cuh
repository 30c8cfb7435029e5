// Batched simplex volumes on the GPU: the contract of geomkit/cayley_menger.hpp
// (formula, precision policy, degenerate and error cases) for a device-resident batch.
//
//   cuda::simplex_volume_sq(simplices, out, stream)   vol² of each simplex
//   cuda::simplex_volume(simplices, out, stream)      vol = sqrt(max(vol², 0))
//
// simplices: a batch_view of `batch × (k+1) × d` float or double values in device memory
// (any strides), 1 <= k <= 16; out: `batch` doubles in device memory. One warp per
// simplex: each lane accumulates the edge Gram over the coordinates l ≡ lane (mod 32),
// vertices widened to double before the subtraction (exact for float input), and the
// lanes' partial Grams are summed by a fixed butterfly; det(G) / (k!)² is then the CPU's
// own GEOMKIT_HD code (gram_determinant with diagonal pivoting, scaled_double, the
// power-of-two rescaling of huge or tiny coordinates, the repeated-vertex rule). The
// results equal the CPU's to rounding (the Gram is summed in another order: about 1e-15
// relative on well-spread simplices, within the CPU's documented error on clustered ones),
// and are bitwise reproducible from run to run.
//
// Errors (geomkit::error, the CPU's messages with the function named cuda::<name>): the
// shape errors of the CPU function, k > 16, NaN/Inf in a simplex (found on the device;
// the message names the first such simplex, vertex and coordinate, read back from the
// device), and failed CUDA calls. The call synchronises `stream` (it reads the NaN flag).
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "../cayley_menger.hpp"
#include "common.cuh"

namespace geomkit {
namespace cuda {

// Largest k (vertices − 1) the GPU kernels accept.
constexpr int max_simplex_k = 16;

namespace detail {

// x is neither NaN nor ±Inf (no <cmath> classification, which device code may lack).
GEOMKIT_HD inline bool finite_value(double x) noexcept { return x - x == 0.0; }

// This lane's share of the edge Gram (lower triangle of k×k, full storage): coordinates
// l = lane, lane + lanes, … . `scale` is a power of two applied before the subtraction.
template <class T>
GEOMKIT_HD void edge_gram_lanes(const T* const* v, int k, index_t d, double scale, index_t lane, index_t lanes,
                                double* G) noexcept {
    double e[max_simplex_k];
    for (int i = 0; i < k; ++i)
        for (int j = 0; j <= i; ++j) G[i * k + j] = 0.0;
    for (index_t l = lane; l < d; l += lanes) {
        const double o = double(v[0][l]) * scale;
        for (int i = 0; i < k; ++i) e[i] = double(v[i + 1][l]) * scale - o;
        for (int i = 0; i < k; ++i)
            for (int j = 0; j <= i; ++j) G[i * k + j] += e[i] * e[j];
    }
}

template <class Lanes>
GEOMKIT_HD void reduce_gram(const Lanes& lanes, int k, double* G) noexcept {
    for (int i = 0; i < k; ++i)
        for (int j = 0; j <= i; ++j) G[i * k + j] = lanes.sum(G[i * k + j]);
}

// vol² of the simplex with vertex rows v[0..k] (1 <= k <= max_simplex_k) of d values, the
// work split over `lanes` cooperating lanes (single_lane on the host, warp_lanes on the
// device; every lane returns the same value). The steps of the CPU's simplex_volume_sq_rows.
// `finite` is false when a coordinate is NaN or ±Inf (the value is then 0).
template <class T, class Lanes>
GEOMKIT_HD scaled_double simplex_volume_sq_lanes(const T* const* v, int k, index_t d, index_t lane, index_t lanes,
                                                 const Lanes& reduce, double* G, bool& finite) noexcept {
    finite = true;
    scaled_double zero;
    zero.mantissa = 0.0;
    if (d < k) return zero;
    edge_gram_lanes(v, k, d, 1.0, lane, lanes, G);
    reduce_gram(reduce, k, G);
    double top = 0.0;
    bool diagonal_finite = true;
    for (int i = 0; i < k; ++i) {
        diagonal_finite = diagonal_finite && finite_value(G[i * k + i]);
        top = G[i * k + i] > top ? G[i * k + i] : top;
    }
    constexpr double big = 0x1p500, small = 0x1p-500;
    if (!diagonal_finite || top > big || (top > 0.0 && top < small)) {
        double largest = 0.0;
        bool all_finite = true;
        for (int i = 0; i <= k; ++i)
            for (index_t l = lane; l < d; l += lanes) {
                const double a = std::fabs(double(v[i][l]));
                all_finite = all_finite && finite_value(a);
                largest = a > largest ? a : largest;
            }
        all_finite = reduce.all(all_finite);
        if (!all_finite) {
            finite = false;
            return zero;
        }
        largest = reduce.max(largest);
        int e = 0;
        std::frexp(largest, &e);
        edge_gram_lanes(v, k, d, std::ldexp(1.0, -e), lane, lanes, G);
        reduce_gram(reduce, k, G);
        if (geomkit::detail::has_repeated_edge(G, k)) return zero;
        scaled_double r = simplex_volume_sq_scaled_from_gram(G, k);
        r.scale_pow2(2 * k * e);
        return r;
    }
    if (geomkit::detail::has_repeated_edge(G, k)) return zero;
    return simplex_volume_sq_scaled_from_gram(G, k);
}

GEOMKIT_HD inline double finish_scaled(const scaled_double& r, bool root) noexcept {
    return root ? r.sqrt_value() : r.value();
}

// One warp per simplex; KMax bounds k for the per-lane Gram storage.
template <class T, int KMax>
__global__ void simplex_volumes_kernel(batch_view<const T> s, bool root, double* out, unsigned long long* bad) {
    const std::int64_t b = (std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / warp_size;
    const index_t lane = index_t(threadIdx.x % warp_size);
    if (b >= s.batch()) return;  // whole warps leave together
    const int k = int(s.rows() - 1);
    const T* v[KMax + 1];
    const matrix_view<const T> simplex = s[b];
    for (int i = 0; i <= k; ++i) v[i] = simplex.row(i);
    double G[KMax * KMax];
    bool finite = true;
    const scaled_double r = simplex_volume_sq_lanes(v, k, s.cols(), lane, index_t(warp_size), warp_lanes{}, G, finite);
    if (lane != 0) return;
    if (!finite) report_first(bad, std::uint64_t(b));
    out[b] = finite ? finish_scaled(r, root) : 0.0;
}

// Reads simplex b back and throws the CPU's message for its first non-finite coordinate.
template <class T>
[[noreturn]] void fail_non_finite_simplex(const batch_view<const T>& s, index_t b, cudaStream_t stream,
                                          const char* function, const char* argument) {
    const index_t rows = s.rows(), d = s.cols();
    std::vector<T> host(static_cast<std::size_t>(rows * d));
    const matrix_view<const T> m = s[b];
    check(cudaMemcpy2DAsync(host.data(), std::size_t(d) * sizeof(T), m.data(), std::size_t(m.row_stride()) * sizeof(T),
                            std::size_t(d) * sizeof(T), std::size_t(rows), cudaMemcpyDeviceToHost, stream),
          function);
    check(cudaStreamSynchronize(stream), function);
    std::vector<const T*> v(static_cast<std::size_t>(rows));
    for (index_t i = 0; i < rows; ++i) v[std::size_t(i)] = host.data() + i * d;
    geomkit::detail::fail_non_finite(v.data(), int(rows - 1), d, b, qualified(function).c_str(), argument);
}

template <class T>
void simplex_volumes(batch_view<const T> s, double* out, bool root, cudaStream_t stream, const char* name) {
    const std::string qualified_name = qualified(name);
    const char* function = qualified_name.c_str();
    static_assert(std::is_floating_point<T>::value, "geomkit: simplex volumes need float or double values");
    const char* argument = "simplices";
    geomkit::detail::check_batch_view(s, function, argument);
    geomkit::detail::require(s.rows() >= 2, function, argument, "must have at least 2 vertices per simplex (k >= 1)",
                             concat(s.rows(), " vertices"));
    if (s.rows() - 1 > max_simplex_k)
        fail(function, argument, concat("must have at most ", max_simplex_k + 1, " vertices per simplex on the GPU (k <= ",
                                        max_simplex_k, ")"),
             concat(s.rows(), " vertices"));
    geomkit::detail::require_data(out, s.batch(), function, "out");
    if (s.batch() == 0) return;
    device_buffer<unsigned long long> bad(1, stream, name);
    check(cudaMemsetAsync(bad.data(), 0xff, sizeof(unsigned long long), stream), name);
    constexpr int threads = 128;
    const unsigned grid = grid_for(s.batch() * warp_size, threads);
    if (s.rows() - 1 <= 4)
        simplex_volumes_kernel<T, 4><<<grid, threads, 0, stream>>>(s, root, out, bad.data());
    else
        simplex_volumes_kernel<T, max_simplex_k><<<grid, threads, 0, stream>>>(s, root, out, bad.data());
    check_launch(name);
    unsigned long long first = none_reported;
    copy_to_host(&first, bad.data(), 1, stream, name);
    if (first != none_reported) fail_non_finite_simplex(s, index_t(first), stream, name, argument);
}

}  // namespace detail

// vol² of each simplex of a device batch × (k+1) × d into device out[0..batch).
template <class T>
void simplex_volume_sq(batch_view<T> simplices, double* out, cudaStream_t stream = nullptr) {
    detail::simplex_volumes(batch_view<const std::remove_const_t<T>>(simplices), out, false, stream,
                            "simplex_volume_sq");
}

// vol = sqrt(vol²) (0 where rounding made vol² negative) of each simplex, into device out.
template <class T>
void simplex_volume(batch_view<T> simplices, double* out, cudaStream_t stream = nullptr) {
    detail::simplex_volumes(batch_view<const std::remove_const_t<T>>(simplices), out, true, stream,
                            "simplex_volume");
}

}  // namespace cuda
}  // namespace geomkit
