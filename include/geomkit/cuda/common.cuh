// What every geomkit CUDA header shares: error translation, the device query, a
// stream-ordered device buffer, per-thread library handles and the warp reductions.
//
// ERRORS. A failed CUDA runtime, cuBLAS or cuSOLVER call throws geomkit::error with
//
//     geomkit::cuda::<function>: <error name>: <error string>
//
// (for example "geomkit::cuda::simplex_volume_sq: cudaErrorNoDevice: no CUDA-capable
// device is detected"). Invalid arguments are reported before any device work, by the
// same checks and with the same words as the CPU functions, the function named
// `cuda::<function>`. Views passed to the GPU functions hold device pointers; the host
// side reads only their shapes, never their data.
//
// STREAMS. Every launcher takes a cudaStream_t (default: the legacy default stream) and
// orders all its work on it. Launchers that must read something back (a result, or the
// flag that reports NaN/Inf input) synchronise that stream before returning; the header
// comment of each function says which.
#pragma once

#if !defined(__CUDACC__)
#error "geomkit/cuda/*.cuh are CUDA headers: include them from a .cu file compiled by nvcc"
#endif

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "../config.hpp"
#include "../core/error.hpp"
#include "../core/matrix_view.hpp"

namespace geomkit {
namespace cuda {

// ------------------------------------------------------------------ errors
inline std::string status_text(cudaError_t status) {
    return detail::concat(cudaGetErrorName(status), ": ", cudaGetErrorString(status));
}

inline std::string status_text(cublasStatus_t status) {
    return detail::concat(cublasGetStatusName(status), ": ", cublasGetStatusString(status));
}

inline std::string status_text(cusolverStatus_t status) {
    switch (status) {
        case CUSOLVER_STATUS_SUCCESS: return "CUSOLVER_STATUS_SUCCESS: success";
        case CUSOLVER_STATUS_NOT_INITIALIZED: return "CUSOLVER_STATUS_NOT_INITIALIZED: the library was not initialized";
        case CUSOLVER_STATUS_ALLOC_FAILED: return "CUSOLVER_STATUS_ALLOC_FAILED: resource allocation failed";
        case CUSOLVER_STATUS_INVALID_VALUE: return "CUSOLVER_STATUS_INVALID_VALUE: an invalid value was passed";
        case CUSOLVER_STATUS_ARCH_MISMATCH: return "CUSOLVER_STATUS_ARCH_MISMATCH: the device does not support a required feature";
        case CUSOLVER_STATUS_EXECUTION_FAILED: return "CUSOLVER_STATUS_EXECUTION_FAILED: a kernel failed to launch or run";
        case CUSOLVER_STATUS_INTERNAL_ERROR: return "CUSOLVER_STATUS_INTERNAL_ERROR: an internal operation failed";
        case CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED: return "CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED: matrix type not supported";
        case CUSOLVER_STATUS_NOT_SUPPORTED: return "CUSOLVER_STATUS_NOT_SUPPORTED: operation not supported";
        default: return detail::concat("cusolverStatus_t ", int(status), ": unknown status");
    }
}

// Throws geomkit::error "geomkit::cuda::<function>: <name>: <string>" unless status is success.
inline void check(cudaError_t status, const char* function) {
    if (status != cudaSuccess) throw error(detail::concat("geomkit::cuda::", function, ": ", status_text(status)));
}
inline void check(cublasStatus_t status, const char* function) {
    if (status != CUBLAS_STATUS_SUCCESS) throw error(detail::concat("geomkit::cuda::", function, ": ", status_text(status)));
}
inline void check(cusolverStatus_t status, const char* function) {
    if (status != CUSOLVER_STATUS_SUCCESS) throw error(detail::concat("geomkit::cuda::", function, ": ", status_text(status)));
}

// The launch just made (kernel configuration errors surface here; faults inside the
// kernel surface at the next synchronisation).
inline void check_launch(const char* function) { check(cudaGetLastError(), function); }

// ------------------------------------------------------------------ device query
// Whether a CUDA device can be used; when not, `reason` (if given) receives why, e.g.
// "cudaErrorNoDevice: no CUDA-capable device is detected".
inline bool device_available(std::string* reason = nullptr) {
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess) {
        (void)cudaGetLastError();  // not sticky, but leave no trace for the next check
        if (reason) *reason = status_text(status);
        return false;
    }
    if (count == 0) {
        if (reason) *reason = "cudaGetDeviceCount reports 0 devices";
        return false;
    }
    return true;
}

namespace detail {

using geomkit::detail::concat;
using geomkit::detail::fail;

// "cuda::<name>": the function name the argument checks print after "geomkit::".
inline std::string qualified(const char* name) { return std::string("cuda::") + name; }

// ------------------------------------------------------------------ device buffer
// Uninitialised device memory for `count` values of T, allocated and freed in stream order
// (cudaMallocAsync / cudaFreeAsync), so a buffer may be released as soon as the last
// kernel using it has been queued.
template <class T>
class device_buffer {
  public:
    device_buffer() = default;
    device_buffer(std::size_t count, cudaStream_t stream, const char* function) : count_(count), stream_(stream) {
        if (count > 0) check(cudaMallocAsync(reinterpret_cast<void**>(&data_), count * sizeof(T), stream), function);
    }
    device_buffer(const device_buffer&) = delete;
    device_buffer& operator=(const device_buffer&) = delete;
    device_buffer(device_buffer&& other) noexcept { swap(other); }
    device_buffer& operator=(device_buffer&& other) noexcept {
        device_buffer(std::move(other)).swap(*this);
        return *this;
    }
    ~device_buffer() {
        if (data_) (void)cudaFreeAsync(data_, stream_);
    }

    T* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return count_; }
    void swap(device_buffer& other) noexcept {
        std::swap(data_, other.data_);
        std::swap(count_, other.count_);
        std::swap(stream_, other.stream_);
    }

  private:
    T* data_ = nullptr;
    std::size_t count_ = 0;
    cudaStream_t stream_ = nullptr;
};

// Host <-> device copies on `stream`; to_host waits for the stream.
template <class T>
void copy_to_device(T* device, const T* host, std::size_t count, cudaStream_t stream, const char* function) {
    if (count > 0) check(cudaMemcpyAsync(device, host, count * sizeof(T), cudaMemcpyHostToDevice, stream), function);
}
template <class T>
void copy_to_host(T* host, const T* device, std::size_t count, cudaStream_t stream, const char* function) {
    if (count > 0) check(cudaMemcpyAsync(host, device, count * sizeof(T), cudaMemcpyDeviceToHost, stream), function);
    check(cudaStreamSynchronize(stream), function);
}

// ------------------------------------------------------------------ library handles
// One cuBLAS / cuSOLVER handle per host thread and device, created on first use (creating
// one costs far more than a small call) and bound to the caller's stream at each use.
constexpr int max_devices = 64;

template <class Handle, class Create, class Destroy>
class handle_cache {
  public:
    Handle get(Create create, const char* function) {
        int device = 0;
        check(cudaGetDevice(&device), function);
        if (device < 0 || device >= max_devices)
            throw error(concat("geomkit::cuda::", function, ": device ordinal ", device, " is beyond ", max_devices));
        if (!handles_[device]) check(create(&handles_[device]), function);
        return handles_[device];
    }
    ~handle_cache() {
        for (Handle h : handles_)
            if (h) (void)Destroy{}(h);
    }

  private:
    Handle handles_[max_devices] = {};
};

struct cublas_destroy {
    cublasStatus_t operator()(cublasHandle_t h) const { return cublasDestroy(h); }
};
struct cusolver_destroy {
    cusolverStatus_t operator()(cusolverDnHandle_t h) const { return cusolverDnDestroy(h); }
};

inline cublasHandle_t cublas_handle(cudaStream_t stream, const char* function) {
    thread_local handle_cache<cublasHandle_t, cublasStatus_t (*)(cublasHandle_t*), cublas_destroy> cache;
    const cublasHandle_t h = cache.get(&cublasCreate, function);
    check(cublasSetStream(h, stream), function);
    return h;
}

inline cusolverDnHandle_t cusolver_handle(cudaStream_t stream, const char* function) {
    thread_local handle_cache<cusolverDnHandle_t, cusolverStatus_t (*)(cusolverDnHandle_t*), cusolver_destroy> cache;
    const cusolverDnHandle_t h = cache.get(&cusolverDnCreate, function);
    check(cusolverDnSetStream(h, stream), function);
    return h;
}

// ------------------------------------------------------------------ launch shapes
constexpr int warp_size = 32;

inline unsigned grid_for(std::int64_t items, int per_block) {
    const std::int64_t blocks = (items + per_block - 1) / per_block;
    return unsigned(blocks < 1 ? 1 : (blocks > 0x7fffffff ? 0x7fffffff : blocks));
}

// ------------------------------------------------------------------ reductions
// Reducers that the shared per-item math (written once, GEOMKIT_HD) is parameterised on:
// on the device a warp's lanes each hold a partial value and the xor butterfly gives every
// lane the same, order-fixed total (IEEE addition is commutative, so lane a's a+b equals
// lane b's b+a: all lanes agree bitwise and the result does not depend on timing); on the
// host, with a single lane, the reducers are the identity, so the same code runs there.
struct single_lane {
    GEOMKIT_HD double sum(double x) const noexcept { return x; }
    GEOMKIT_HD double max(double x) const noexcept { return x; }
    GEOMKIT_HD bool all(bool x) const noexcept { return x; }
};

struct warp_lanes {
    __device__ double sum(double x) const noexcept {
        for (int offset = warp_size / 2; offset > 0; offset /= 2) x += __shfl_xor_sync(0xffffffffu, x, offset);
        return x;
    }
    __device__ double max(double x) const noexcept {
        for (int offset = warp_size / 2; offset > 0; offset /= 2) x = fmax(x, __shfl_xor_sync(0xffffffffu, x, offset));
        return x;
    }
    __device__ bool all(bool x) const noexcept { return __all_sync(0xffffffffu, x) != 0; }
};

// Order-fixed sum over a block of `Threads` threads (a power of two) through shared
// memory `scratch[Threads]`: the same tree whatever the timing. Every thread gets the sum.
template <int Threads>
__device__ double block_sum(double x, double* scratch) {
    const int t = int(threadIdx.x);
    scratch[t] = x;
    __syncthreads();
    for (int half = Threads / 2; half > 0; half /= 2) {
        if (t < half) scratch[t] += scratch[t + half];
        __syncthreads();
    }
    const double total = scratch[0];
    __syncthreads();
    return total;
}

// Lowest index reported by any thread (the first bad item), for error messages.
__device__ inline void report_first(unsigned long long* first, std::uint64_t index) {
    atomicMin(first, static_cast<unsigned long long>(index));
}

constexpr unsigned long long none_reported = ~0ull;

// ------------------------------------------------------------------ NaN/Inf scan
template <class T>
__global__ void find_non_finite_kernel(matrix_view<const T> x, unsigned long long* first) {
    const std::int64_t n = std::int64_t(x.rows()) * x.cols();
    for (std::int64_t e = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
         e += std::int64_t(gridDim.x) * blockDim.x) {
        const double v = double(x(e / x.cols(), e % x.cols()));
        if (!(v - v == 0.0)) report_first(first, std::uint64_t(e));
    }
}

// The device version of geomkit::detail::check_finite: scans x on the device and throws
// the CPU's message ("must contain only finite values (got nan at [i, j])") for the first
// NaN/Inf in row-major order. Synchronises `stream`.
template <class T>
void check_finite(matrix_view<const T> x, cudaStream_t stream, const char* name, const char* argument) {
    if (x.rows() <= 0 || x.cols() <= 0) return;
    device_buffer<unsigned long long> bad(1, stream, name);
    check(cudaMemsetAsync(bad.data(), 0xff, sizeof(unsigned long long), stream), name);
    const std::int64_t n = std::int64_t(x.rows()) * x.cols();
    const unsigned grid = grid_for(n, 256) < 4096u ? grid_for(n, 256) : 4096u;
    find_non_finite_kernel<T><<<grid, 256, 0, stream>>>(x, bad.data());
    check_launch(name);
    unsigned long long first = none_reported;
    copy_to_host(&first, bad.data(), 1, stream, name);
    if (first == none_reported) return;
    const index_t i = index_t(first / std::uint64_t(x.cols())), j = index_t(first % std::uint64_t(x.cols()));
    T value{};
    copy_to_host(&value, &x(i, j), 1, stream, name);
    fail(qualified(name).c_str(), argument, "must contain only finite values", concat(value, " at [", i, ", ", j, "]"));
}

}  // namespace detail
}  // namespace cuda
}  // namespace geomkit
