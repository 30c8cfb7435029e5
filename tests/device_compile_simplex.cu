// Compiles the simplex core math (GEOMKIT_HD: pivoted Gram determinant, vol² from a Gram,
// the Cayley–Menger conversion, the sampling of pentachoron sample i) as CUDA device code.
#include <geomkit/pentachoron.hpp>

__global__ void simplex_core_on_device(const float* x, double* out) {
    std::uint32_t idx[5];
    geomkit::pentachoron_sample(1, blockIdx.x * blockDim.x + threadIdx.x, 100, idx);
    double G[16] = {};
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j <= i; ++j) G[i * 4 + j] = double(x[idx[i]]) * double(x[idx[j]]) + (i == j);
    out[threadIdx.x] = geomkit::simplex_volume_sq_from_gram(G, 4) + geomkit::cayley_menger_to_volume_sq(-9216.0, 4);
}
