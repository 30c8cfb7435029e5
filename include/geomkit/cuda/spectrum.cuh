// Participation ratio on the GPU through cuBLAS: the contract of geomkit/spectrum.hpp's
// participation_ratio for an n × d matrix X in device memory.
//
//   cuda::participation_ratio(X, centered, stream)  -> double
//
// PR = tr(C)² / ‖C‖_F² (= (Σλ)² / Σλ² over the eigenvalues of C = XcᵀXc / n), with no
// eigendecomposition: X is widened to double and centred on its column means (summed in
// row order, one thread per column), the smaller Gram — XcᵀXc (d × d) when n >= d, else
// XcXcᵀ (n × n), which has the same trace and Frobenius norm — is one cuBLAS DSYRK in
// double, and trace and ‖·‖_F² are order-fixed block sums over its lower triangle. The
// value agrees with the CPU's to rounding (about 1e-14 relative; from float input both
// are float64-quality). 0 when the Gram is all zero, as on the CPU.
//
// Errors: the CPU's (same words, function named cuda::participation_ratio): a malformed
// view, no rows or columns, NaN/Inf (scanned on the device). Memory: n·d doubles plus the
// m × m Gram, m = min(n, d). Synchronises `stream`.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "common.cuh"

namespace geomkit {
namespace cuda {
namespace detail {

// Column means of X in double (thread per column, rows summed in order), or zeros.
template <class T>
__global__ void column_means_kernel(matrix_view<const T> X, bool centered, double* mean) {
    const index_t j = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (j >= X.cols()) return;
    double s = 0.0;
    if (centered)
        for (index_t i = 0; i < X.rows(); ++i) s += double(X(i, j));
    mean[j] = centered ? s / double(X.rows()) : 0.0;
}

// Xc (row-major n × d, contiguous, double) = X − mean.
template <class T>
__global__ void centre_kernel(matrix_view<const T> X, const double* mean, double* xc) {
    const std::int64_t n = std::int64_t(X.rows()) * X.cols();
    for (std::int64_t e = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
         e += std::int64_t(gridDim.x) * blockDim.x) {
        const index_t i = index_t(e / X.cols()), j = index_t(e % X.cols());
        xc[e] = double(X(i, j)) - mean[j];
    }
}

constexpr int pr_threads = 256, pr_blocks = 64;

// Partial sums (block b of pr_blocks) of the trace, the squared diagonal and the squared
// strict lower triangle of the m × m column-major Gram G (lower triangle valid).
template <int Unused = 0>
__global__ void gram_moments_kernel(const double* G, index_t m, double* partial) {
    __shared__ double scratch[pr_threads];
    double trace = 0.0, diag = 0.0, off = 0.0;
    const std::int64_t n = std::int64_t(m) * m;
    for (std::int64_t e = std::int64_t(blockIdx.x) * pr_threads + threadIdx.x; e < n;
         e += std::int64_t(pr_blocks) * pr_threads) {
        const index_t col = index_t(e / m), row = index_t(e % m);
        const double g = G[e];
        if (row == col) {
            trace += g;
            diag += g * g;
        } else if (row > col) {
            off += g * g;
        }
    }
    trace = block_sum<pr_threads>(trace, scratch);
    diag = block_sum<pr_threads>(diag, scratch);
    off = block_sum<pr_threads>(off, scratch);
    if (threadIdx.x == 0) {
        partial[3 * blockIdx.x] = trace;
        partial[3 * blockIdx.x + 1] = diag;
        partial[3 * blockIdx.x + 2] = off;
    }
}

}  // namespace detail

// Participation ratio of the rows of the device matrix X (n × d); centered = false skips
// the centring (C = XᵀX / n), as on the CPU.
template <class T>
double participation_ratio(matrix_view<T> X_in, bool centered = true, cudaStream_t stream = nullptr) {
    using V = std::remove_const_t<T>;
    static_assert(std::is_floating_point<V>::value, "geomkit: participation_ratio needs float or double values");
    const matrix_view<const V> X = X_in;
    const char* name = "participation_ratio";
    const std::string function = detail::qualified(name);
    geomkit::detail::check_view(X, function.c_str(), "X");
    if (X.rows() < 1 || X.cols() < 1)
        detail::fail(function.c_str(), "X", "must have at least 1 row and 1 column",
                     detail::concat(X.rows(), " x ", X.cols()));
    if (X.rows() > 0x7fffffff || X.cols() > 0x7fffffff)
        detail::fail(function.c_str(), "X", "must have fewer than 2^31 rows and columns (cuBLAS sizes)",
                     detail::concat(X.rows(), " x ", X.cols()));
    detail::check_finite(X, stream, name, "X");
    const index_t n = X.rows(), d = X.cols(), m = std::min(n, d);
    detail::device_buffer<double> mean(static_cast<std::size_t>(d), stream, name);
    detail::device_buffer<double> xc(static_cast<std::size_t>(n * d), stream, name);
    detail::device_buffer<double> gram(static_cast<std::size_t>(m * m), stream, name);
    detail::device_buffer<double> partial(static_cast<std::size_t>(3 * detail::pr_blocks), stream, name);
    detail::column_means_kernel<V><<<detail::grid_for(d, 128), 128, 0, stream>>>(X, centered, mean.data());
    check_launch(name);
    detail::centre_kernel<V><<<std::min(detail::grid_for(n * d, 256), 8192u), 256, 0, stream>>>(X, mean.data(),
                                                                                               xc.data());
    check_launch(name);
    // Row-major Xc (n × d) is the column-major d × n matrix M (ld d): XcᵀXc = M·Mᵀ, XcXcᵀ = Mᵀ·M.
    const cublasHandle_t handle = detail::cublas_handle(stream, name);
    const double one = 1.0, zero = 0.0;
    if (n >= d)
        check(cublasDsyrk(handle, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, int(d), int(n), &one, xc.data(), int(d), &zero,
                          gram.data(), int(d)),
              name);
    else
        check(cublasDsyrk(handle, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_T, int(n), int(d), &one, xc.data(), int(d), &zero,
                          gram.data(), int(n)),
              name);
    detail::gram_moments_kernel<><<<detail::pr_blocks, detail::pr_threads, 0, stream>>>(gram.data(), m, partial.data());
    check_launch(name);
    std::vector<double> h(static_cast<std::size_t>(3 * detail::pr_blocks));
    detail::copy_to_host(h.data(), partial.data(), h.size(), stream, name);
    double trace = 0.0, diag = 0.0, off = 0.0;
    for (int b = 0; b < detail::pr_blocks; ++b) {
        trace += h[std::size_t(3 * b)];
        diag += h[std::size_t(3 * b + 1)];
        off += h[std::size_t(3 * b + 2)];
    }
    const double frob_sq = diag + 2.0 * off;
    return frob_sq > 0 ? trace * trace / frob_sq : 0.0;
}

}  // namespace cuda
}  // namespace geomkit
