// Compiler and target glue shared by every geomkit header.
//
// GEOMKIT_HD marks core scalar math that must also compile as device code under nvcc
// (or any compiler defining __CUDACC__ / __HIPCC__). Functions so marked throw nothing
// and allocate nothing; validation happens at the host API boundary instead.
#pragma once

#include <cstddef>
#include <cstdint>

#include "version.hpp"

#if defined(__CUDACC__) || defined(__HIPCC__)
#define GEOMKIT_HD __host__ __device__
#define GEOMKIT_DEVICE_COMPILER 1
#else
#define GEOMKIT_HD
#define GEOMKIT_DEVICE_COMPILER 0
#endif

// True while compiling the device side of a CUDA/HIP translation unit.
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
#define GEOMKIT_DEVICE_PASS 1
#else
#define GEOMKIT_DEVICE_PASS 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define GEOMKIT_FORCE_INLINE inline __attribute__((always_inline))
#define GEOMKIT_RESTRICT __restrict__
#elif defined(_MSC_VER)
#define GEOMKIT_FORCE_INLINE __forceinline
#define GEOMKIT_RESTRICT __restrict
#else
#define GEOMKIT_FORCE_INLINE inline
#define GEOMKIT_RESTRICT
#endif

// Hint that `address` will be read soon: fetch its cache line into L2; or, for
// GEOMKIT_PREFETCH_WRITE, that it will be read and written soon: fetch it, for writing,
// into L1. No-ops where the compiler has no prefetch builtin.
#if defined(__GNUC__) || defined(__clang__)
#define GEOMKIT_PREFETCH(address) __builtin_prefetch((address), 0, 2)
#define GEOMKIT_PREFETCH_WRITE(address) __builtin_prefetch((address), 1, 3)
#else
#define GEOMKIT_PREFETCH(address) ((void)(address))
#define GEOMKIT_PREFETCH_WRITE(address) ((void)(address))
#endif

// Internal invariant check: active in debug builds on the host, a no-op on the device
// and in release builds. Public input is validated with geomkit::error instead.
#if !defined(NDEBUG) && !GEOMKIT_DEVICE_PASS
#include <cassert>
#define GEOMKIT_ASSERT(cond) assert(cond)
#else
#define GEOMKIT_ASSERT(cond) ((void)0)
#endif

namespace geomkit {

// Signed index type used for every size and stride in the public API: negative sizes are
// representable, so they can be rejected with a clear message instead of wrapping around.
using index_t = std::ptrdiff_t;

}  // namespace geomkit
