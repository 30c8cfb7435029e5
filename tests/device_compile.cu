// Compiles geomkit's host/device core math as CUDA device code (no GPU needed to build).
#include <geomkit/core/matrix_view.hpp>
#include <geomkit/core/random.hpp>
#include <geomkit/core/statistics.hpp>
#include <geomkit/simd/dot.hpp>

__global__ void core_on_device(const float* x, geomkit::index_t rows, geomkit::index_t cols,
                               double* out) {
    geomkit::matrix_view<const float> v(x, rows, cols);
    geomkit::counter_rng rng(7, blockIdx.x * blockDim.x + threadIdx.x);
    std::uint32_t idx[5];
    geomkit::sample_distinct(rng, std::uint32_t(rows), 5, idx);
    geomkit::running_stats s;
    s.add(geomkit::simd::scalar::dot(v.row(idx[0]), v.row(idx[1]), cols));
    s.add(geomkit::simd::scalar::squared_distance(v.row(idx[2]), v.row(idx[3]), cols));
    out[threadIdx.x] = s.mean + rng.next_double();
}
