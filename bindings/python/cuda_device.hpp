// The interface between geomkit._geomkit_cuda's pybind11 code (cuda_module.cpp, compiled
// by the C++ compiler) and its device code (cuda_device.cu, compiled by nvcc). pybind11
// never goes through nvcc; the device side sees only contiguous host arrays.
//
// Every function copies its contiguous (C-order) host input to device memory (cudaMalloc +
// cudaMemcpy), runs the geomkit::cuda function on the legacy default stream, copies the
// result back and frees the device memory. Errors are geomkit::error (argument errors in the
// CPU's words with the function named cuda::<name>; failed CUDA / cuBLAS / cuSOLVER calls as
// "geomkit::cuda::<name>: <error name>: <error string>").
#pragma once

#include <geomkit/bone_orientation.hpp>
#include <geomkit/core/half.hpp>
#include <geomkit/pentachoron.hpp>

#include <string>

namespace geomkit_pycuda {

using geomkit::index_t;

// Largest d of the GPU Procrustes (geomkit::cuda::procrustes_gpu_max_dim; checked in the .cu).
constexpr index_t procrustes_max_dim = 32;

// Whether a CUDA device can be used; `reason` receives why not.
bool device_available(std::string& reason);

#define GEOMKIT_PYCUDA_DECLARE(T)                                                                                    \
    /* vol² (root = false) or vol of `batch` simplices of rows × cols values each, into out[batch]. */              \
    void simplex_volumes(const T* points, index_t batch, index_t rows, index_t cols, bool root, double* out);        \
    geomkit::pentachoron_result pentachoron_cv(const T* X, index_t n, index_t d, const geomkit::pentachoron_params& p); \
    double participation_ratio(const T* X, index_t n, index_t d, bool centered);                                      \
    /* A, B: batch problems of n × d stacked; R: batch × d × d; scale: batch. */                                    \
    void orthogonal_procrustes_batched(const T* A, const T* B, index_t batch, index_t n, index_t d, bool proper,      \
                                       double* R, double* scale);
GEOMKIT_PYCUDA_DECLARE(float)
GEOMKIT_PYCUDA_DECLARE(double)
#undef GEOMKIT_PYCUDA_DECLARE

// keys: a contiguous (L, H, S, D) array.
#define GEOMKIT_PYCUDA_DECLARE_BO(T)                                                                     \
    geomkit::bone_orientation_result bone_orientation(const T* keys, index_t L, index_t H, index_t S, index_t D, \
                                                      bool all_heads);
GEOMKIT_PYCUDA_DECLARE_BO(float)
GEOMKIT_PYCUDA_DECLARE_BO(double)
GEOMKIT_PYCUDA_DECLARE_BO(geomkit::float16)
#undef GEOMKIT_PYCUDA_DECLARE_BO

}  // namespace geomkit_pycuda
