// Device side of geomkit._geomkit_cuda: host arrays in, device copies, geomkit::cuda calls,
// host results out. See cuda_device.hpp.
#include <geomkit/cuda.cuh>

#include <cstddef>
#include <memory>

#include "cuda_device.hpp"

namespace geomkit_pycuda {

static_assert(procrustes_max_dim == geomkit::cuda::procrustes_gpu_max_dim, "procrustes_max_dim");

namespace {

struct cuda_free {
    void operator()(void* p) const noexcept { (void)cudaFree(p); }
};
template <class T>
using device_ptr = std::unique_ptr<T, cuda_free>;

template <class T>
device_ptr<T> allocate(std::size_t count, const char* function) {
    T* p = nullptr;
    if (count > 0) geomkit::cuda::check(cudaMalloc(reinterpret_cast<void**>(&p), count * sizeof(T)), function);
    return device_ptr<T>(p);
}

template <class T>
device_ptr<T> upload(const T* host, std::size_t count, const char* function) {
    device_ptr<T> d = allocate<T>(count, function);
    if (count > 0) geomkit::cuda::check(cudaMemcpy(d.get(), host, count * sizeof(T), cudaMemcpyHostToDevice), function);
    return d;
}

template <class T>
void download(T* host, const T* device, std::size_t count, const char* function) {
    if (count > 0) geomkit::cuda::check(cudaMemcpy(host, device, count * sizeof(T), cudaMemcpyDeviceToHost), function);
}

std::size_t count_of(index_t a, index_t b, index_t c = 1, index_t d = 1) {
    return std::size_t(a) * std::size_t(b) * std::size_t(c) * std::size_t(d);
}

template <class T>
void simplex_volumes_impl(const T* points, index_t batch, index_t rows, index_t cols, bool root, double* out) {
    const char* fn = root ? "simplex_volume" : "simplex_volume_sq";
    const auto x = upload(points, count_of(batch, rows, cols), fn);
    const auto y = allocate<double>(std::size_t(batch), fn);
    geomkit::batch_view<const T> s(x.get(), batch, rows, cols, rows * cols, cols);
    if (root)
        geomkit::cuda::simplex_volume(s, y.get());
    else
        geomkit::cuda::simplex_volume_sq(s, y.get());
    download(out, y.get(), std::size_t(batch), fn);
}

template <class T>
geomkit::pentachoron_result pentachoron_cv_impl(const T* X, index_t n, index_t d, const geomkit::pentachoron_params& p) {
    const auto x = upload(X, count_of(n, d), "pentachoron_cv");
    return geomkit::cuda::pentachoron_cv(geomkit::matrix_view<const T>(x.get(), n, d), p);
}

template <class T>
double participation_ratio_impl(const T* X, index_t n, index_t d, bool centered) {
    const auto x = upload(X, count_of(n, d), "participation_ratio");
    return geomkit::cuda::participation_ratio(geomkit::matrix_view<const T>(x.get(), n, d), centered);
}

template <class T>
void procrustes_impl(const T* A, const T* B, index_t batch, index_t n, index_t d, bool proper, double* R,
                     double* scale) {
    const char* fn = "orthogonal_procrustes_batched";
    const auto a = upload(A, count_of(batch, n, d), fn);
    const auto b = upload(B, count_of(batch, n, d), fn);
    const auto r = allocate<double>(count_of(batch, d, d), fn);
    const auto s = allocate<double>(std::size_t(batch), fn);
    geomkit::cuda::orthogonal_procrustes_batched(geomkit::matrix_view<const T>(a.get(), batch * n, d),
                                                 geomkit::matrix_view<const T>(b.get(), batch * n, d), n,
                                                 geomkit::matrix_view<double>(r.get(), batch * d, d), s.get(), proper);
    download(R, r.get(), count_of(batch, d, d), fn);
    download(scale, s.get(), std::size_t(batch), fn);
}

template <class T>
geomkit::bone_orientation_result bone_orientation_impl(const T* keys, index_t L, index_t H, index_t S, index_t D,
                                                       bool all_heads) {
    const auto k = upload(keys, count_of(L, H, S, D), "bone_orientation");
    geomkit::bone_orientation_options opt;
    opt.all_heads = all_heads;
    return geomkit::cuda::bone_orientation(static_cast<const T*>(k.get()), L, H, S, D, opt);
}

}  // namespace

bool device_available(std::string& reason) { return geomkit::cuda::device_available(&reason); }

#define GEOMKIT_PYCUDA_DEFINE(T)                                                                                   \
    void simplex_volumes(const T* points, index_t batch, index_t rows, index_t cols, bool root, double* out) {      \
        simplex_volumes_impl(points, batch, rows, cols, root, out);                                                \
    }                                                                                                              \
    geomkit::pentachoron_result pentachoron_cv(const T* X, index_t n, index_t d, const geomkit::pentachoron_params& p) { \
        return pentachoron_cv_impl(X, n, d, p);                                                                    \
    }                                                                                                              \
    double participation_ratio(const T* X, index_t n, index_t d, bool centered) {                                  \
        return participation_ratio_impl(X, n, d, centered);                                                        \
    }                                                                                                              \
    void orthogonal_procrustes_batched(const T* A, const T* B, index_t batch, index_t n, index_t d, bool proper,    \
                                       double* R, double* scale) {                                                 \
        procrustes_impl(A, B, batch, n, d, proper, R, scale);                                                      \
    }
GEOMKIT_PYCUDA_DEFINE(float)
GEOMKIT_PYCUDA_DEFINE(double)
#undef GEOMKIT_PYCUDA_DEFINE

#define GEOMKIT_PYCUDA_DEFINE_BO(T)                                                                                 \
    geomkit::bone_orientation_result bone_orientation(const T* keys, index_t L, index_t H, index_t S, index_t D,   \
                                                      bool all_heads) {                                            \
        return bone_orientation_impl(keys, L, H, S, D, all_heads);                                                 \
    }
GEOMKIT_PYCUDA_DEFINE_BO(float)
GEOMKIT_PYCUDA_DEFINE_BO(double)
GEOMKIT_PYCUDA_DEFINE_BO(geomkit::float16)
#undef GEOMKIT_PYCUDA_DEFINE_BO

}  // namespace geomkit_pycuda
