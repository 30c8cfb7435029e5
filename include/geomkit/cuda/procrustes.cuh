// Batched small orthogonal Procrustes on the GPU: the contract of geomkit/procrustes.hpp's
// orthogonal_procrustes_batched for problems in device memory, d <= 32.
//
//   cuda::orthogonal_procrustes_batched(A, B, n, R_out, scale_out, proper_rotation, stream)
//
// A and B are (batch·n) × d device matrices, problem b owning rows [b·n, (b+1)·n); R_out is
// a (batch·d) × d device matrix (R_b in rows [b·d, (b+1)·d)), scale_out `batch` device
// doubles. Per problem: M = AᵀB accumulated in double (one block per problem, one thread
// per entry, rows added in order: bitwise reproducible), then cuSOLVER's batched Jacobi SVD
// (gesvdjBatched, d <= 32) M = U·Σ·Vᵀ and R = U·Vᵀ, scale = Σσ — scipy's convention, the
// CPU's answer (its polar iteration gives the same U·Vᵀ) to ~1e-12 on well-conditioned
// problems. With proper_rotation, when det(U·Vᵀ) < 0 the singular pair of the smallest σ is
// flipped: R = U·diag(1, …, −1)·Vᵀ, scale = Σσ − 2σ_min, as on the CPU. A singular M gives
// one of the minimisers (as scipy and the CPU do; which one may differ).
//
// Errors: the CPU's (same words, function named cuda::orthogonal_procrustes_batched) with
// d <= 32 instead of 64; NaN/Inf in A or B, detected from each problem's AᵀB and then
// located by a scan (R_out and scale_out may already be written); a finite problem whose
// AᵀB overflows gets NaN in R and scale, as on the CPU; an SVD that does not converge.
// Synchronises `stream`.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "common.cuh"

namespace geomkit {
namespace cuda {

// Largest d of the batched GPU Procrustes (cuSOLVER's gesvdjBatched limit).
constexpr index_t procrustes_gpu_max_dim = 32;

namespace detail {

// M_b = A_bᵀ B_b, column-major d × d at m + b·d², one block per problem, thread (i, j) per
// entry. A problem whose M is not finite gets the identity (so the SVD stays defined) and
// flag[b] = 1.
template <class T>
__global__ void procrustes_cross_kernel(matrix_view<const T> A, matrix_view<const T> B, index_t n, int d, double* m,
                                        int* flag) {
    __shared__ int bad;
    const index_t b = index_t(blockIdx.x);
    const int i = int(threadIdx.x) % d, j = int(threadIdx.x) / d;
    if (threadIdx.x == 0) bad = 0;
    __syncthreads();
    double s = 0.0;
    if (j < d) {
        for (index_t r = b * n; r < (b + 1) * n; ++r) s += double(A(r, i)) * double(B(r, j));
        if (!(s - s == 0.0)) atomicExch(&bad, 1);
    }
    __syncthreads();
    if (j < d) m[b * d * d + index_t(j) * d + i] = bad ? (i == j ? 1.0 : 0.0) : s;
    if (threadIdx.x == 0) flag[b] = bad;
}

// R_b = U_b·V_bᵀ (flipped for a proper rotation when det < 0), written row-major to R_out,
// and scale_b; NaN for flagged problems. One block per problem, thread (i, j) per entry;
// thread 0 takes det(R) by LU with partial pivoting.
template <int Unused = 0>
__global__ void procrustes_finish_kernel(const double* U, const double* S, const double* V, const int* flag, int d,
                                         bool proper, matrix_view<double> R_out, double* scale_out) {
    __shared__ double R[32 * 32];
    __shared__ double lu[32 * 32];
    __shared__ int flip;
    __shared__ int smallest;
    const index_t b = index_t(blockIdx.x);
    const int i = int(threadIdx.x) % d, j = int(threadIdx.x) / d;
    const double* u = U + b * d * d;
    const double* v = V + b * d * d;
    const double* sigma = S + b * d;
    const bool nan = flag[b] != 0;
    if (j < d) {
        double s = 0.0;
        for (int k = 0; k < d; ++k) s += u[k * d + i] * v[k * d + j];
        R[i * d + j] = s;
        lu[i * d + j] = s;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        flip = 0;
        smallest = 0;
        for (int k = 1; k < d; ++k)
            if (sigma[k] < sigma[smallest]) smallest = k;
        if (proper && !nan) {
            double sign = 1.0;
            for (int c = 0; c < d; ++c) {
                int p = c;
                for (int r = c + 1; r < d; ++r)
                    if (std::fabs(lu[r * d + c]) > std::fabs(lu[p * d + c])) p = r;
                if (lu[p * d + c] == 0.0) {
                    sign = 0.0;
                    break;
                }
                if (p != c) {
                    for (int q = 0; q < d; ++q) {
                        const double t = lu[c * d + q];
                        lu[c * d + q] = lu[p * d + q];
                        lu[p * d + q] = t;
                    }
                    sign = -sign;
                }
                if (lu[c * d + c] < 0.0) sign = -sign;
                for (int r = c + 1; r < d; ++r) {
                    const double f = lu[r * d + c] / lu[c * d + c];
                    for (int q = c + 1; q < d; ++q) lu[r * d + q] -= f * lu[c * d + q];
                }
            }
            flip = sign < 0.0;
        }
        double total = 0.0;
        for (int k = 0; k < d; ++k) total += sigma[k];
        if (flip) total -= 2.0 * sigma[smallest];
        scale_out[b] = nan ? NAN : total;
    }
    __syncthreads();
    if (j < d) {
        double r = R[i * d + j];
        if (flip) r -= 2.0 * u[smallest * d + i] * v[smallest * d + j];
        R_out(b * d + i, j) = nan ? NAN : r;
    }
}

}  // namespace detail

template <class T>
void orthogonal_procrustes_batched(matrix_view<const T> A, matrix_view<const T> B, index_t n, matrix_view<double> R_out,
                                   double* scale_out, bool proper_rotation = false, cudaStream_t stream = nullptr) {
    const char* name = "orthogonal_procrustes_batched";
    const std::string function = detail::qualified(name);
    const char* fn = function.c_str();
    using geomkit::detail::concat;
    geomkit::detail::check_view(A, fn, "A");
    geomkit::detail::check_view(B, fn, "B");
    geomkit::detail::check_same_shape(A, "A", B, "B", fn);
    geomkit::detail::require_at_least(n, 1, fn, "n");
    const index_t d = A.cols();
    if (d < 1 || d > procrustes_gpu_max_dim)
        detail::fail(fn, "A", concat("must have between 1 and ", procrustes_gpu_max_dim,
                                     " columns on the GPU (use orthogonal_procrustes for larger d)"),
                     concat(A.rows(), " x ", d));
    if (A.rows() % n != 0)
        detail::fail(fn, "A", concat("must have a number of rows that is a multiple of n = ", n),
                     concat(A.rows(), " x ", d));
    const index_t batch = A.rows() / n;
    geomkit::detail::check_view(R_out, fn, "R_out");
    if (R_out.rows() != batch * d || R_out.cols() != d)
        detail::fail(fn, "R_out", concat("must be (batch*d) x d = ", batch * d, " x ", d),
                     concat(R_out.rows(), " x ", R_out.cols()));
    geomkit::detail::require_data(scale_out, batch, fn, "scale_out");
    if (batch == 0) return;
    if (batch > 0x7fffffff) detail::fail(fn, "A", "must hold fewer than 2^31 problems", concat(batch, " problems"));

    const std::size_t dd = std::size_t(d * d);
    detail::device_buffer<double> m(dd * std::size_t(batch), stream, name), u(dd * std::size_t(batch), stream, name),
        v(dd * std::size_t(batch), stream, name), s(std::size_t(d * batch), stream, name);
    detail::device_buffer<int> flag(std::size_t(batch), stream, name), info(std::size_t(batch), stream, name);
    const int threads = int((d * d + 31) / 32 * 32);
    detail::procrustes_cross_kernel<T><<<unsigned(batch), threads, 0, stream>>>(A, B, n, int(d), m.data(), flag.data());
    check_launch(name);

    const cusolverDnHandle_t handle = detail::cusolver_handle(stream, name);
    gesvdjInfo_t params = nullptr;
    check(cusolverDnCreateGesvdjInfo(&params), name);
    struct params_guard {
        gesvdjInfo_t p;
        ~params_guard() { (void)cusolverDnDestroyGesvdjInfo(p); }
    } guard{params};
    check(cusolverDnXgesvdjSetTolerance(params, std::numeric_limits<double>::epsilon()), name);
    check(cusolverDnXgesvdjSetMaxSweeps(params, 100), name);
    const int id = int(d);
    int lwork = 0;
    check(cusolverDnDgesvdjBatched_bufferSize(handle, CUSOLVER_EIG_MODE_VECTOR, id, id, m.data(), id, s.data(), u.data(),
                                              id, v.data(), id, &lwork, params, int(batch)),
          name);
    detail::device_buffer<double> work(std::size_t(lwork), stream, name);
    check(cusolverDnDgesvdjBatched(handle, CUSOLVER_EIG_MODE_VECTOR, id, id, m.data(), id, s.data(), u.data(), id,
                                   v.data(), id, work.data(), lwork, info.data(), params, int(batch)),
          name);
    detail::procrustes_finish_kernel<><<<unsigned(batch), threads, 0, stream>>>(
        u.data(), s.data(), v.data(), flag.data(), int(d), proper_rotation, R_out, scale_out);
    check_launch(name);

    std::vector<int> h_flag(static_cast<std::size_t>(batch)), h_info(static_cast<std::size_t>(batch));
    detail::copy_to_host(h_flag.data(), flag.data(), h_flag.size(), stream, name);
    detail::copy_to_host(h_info.data(), info.data(), h_info.size(), stream, name);
    bool nonfinite = false;
    for (int f : h_flag) nonfinite = nonfinite || f != 0;
    if (nonfinite) {
        detail::check_finite(A, stream, name, "A");
        detail::check_finite(B, stream, name, "B");
    }
    for (index_t b = 0; b < batch; ++b)
        if (h_info[std::size_t(b)] != 0)
            throw error(concat("geomkit::cuda::", name, ": cusolverDnDgesvdjBatched did not converge for problem ", b,
                               " (info ", h_info[std::size_t(b)], ")"));
}

template <class T>
void orthogonal_procrustes_batched(matrix_view<T> A, matrix_view<T> B, index_t n, matrix_view<double> R_out,
                                   double* scale_out, bool proper_rotation = false, cudaStream_t stream = nullptr) {
    cuda::orthogonal_procrustes_batched(matrix_view<const T>(A), matrix_view<const T>(B), n, R_out, scale_out,
                                        proper_rotation, stream);
}

}  // namespace cuda
}  // namespace geomkit
