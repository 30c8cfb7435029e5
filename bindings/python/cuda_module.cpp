// geomkit._geomkit_cuda: the batched functions on a CUDA device (built only with
// GEOMKIT_ENABLE_CUDA=ON). The functions have the CPU module's names, signatures and
// argument handling, and return the CPU module's types (PentachoronResult and
// BoneOrientationResult are the classes the CPU module registered, found through pybind11's
// shared type registry, so the CPU module must be imported first, as the geomkit package
// does). The geomkit package calls them for device="cuda".
//
// Inputs are made C-contiguous on the host, copied to the device, and the GPU work runs
// without the GIL. Errors: argument errors raise ValueError / TypeError as on the CPU (the
// GPU-only limits too, such as d <= 32 for Procrustes, and CPU-only options: threads,
// method='pool_gram'); with no usable device, RuntimeError "geomkit.<name>: no CUDA device:
// <reason>"; a failed CUDA, cuBLAS or cuSOLVER call raises RuntimeError.
#include "common.hpp"
#include "cuda_device.hpp"

#include <stdexcept>

namespace geomkit_py GEOMKIT_PY_HIDDEN {

namespace {

namespace gpu = geomkit_pycuda;

// Throws RuntimeError "geomkit.<function>: no CUDA device: <reason>" unless one is usable.
void require_device(const char* function) {
    std::string reason;
    bool ok;
    {
        py::gil_scoped_release release;
        ok = gpu::device_available(reason);
    }
    if (!ok) throw std::runtime_error(std::string("geomkit.") + function + ": no CUDA device: " + reason);
}

// The array as C-contiguous float32 / float64 (a copy only when it is not already).
void make_c_contiguous(real_array& a) {
    if (a.is_float32)
        a.array = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(a.array);
    else
        a.array = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(a.array);
}

[[noreturn]] void cpu_only(const char* function, const char* argument, const std::string& got) {
    value_error(function, argument, "is not supported with device='cuda' (it applies to the CPU only)", got);
}

void no_threads(const py::object& threads, const char* function) {
    if (!threads.is_none()) cpu_only(function, "threads", std::string(py::repr(threads)));
}

py::object volumes(py::handle points_obj, const char* function, bool root) {
    real_array a = as_real_array(points_obj, function, "points", 2, -1, "(..., k+1, d)");
    make_c_contiguous(a);
    const leading_batch lead = fold_leading(a, 2);
    if (lead.count == 0) return shaped_result(lead, {});
    const index_t nd = a.ndim();
    const index_t rows = a.shape[std::size_t(nd - 2)], cols = a.shape[std::size_t(nd - 1)];
    require_device(function);
    std::vector<double> out(std::size_t(lead.count));
    visit_real(a, [&](auto tag) {
        using T = decltype(tag);
        py::gil_scoped_release release;
        gpu::simplex_volumes(a.data<T>(), lead.count, rows, cols, root, out.data());
    });
    return shaped_result(lead, out);
}

std::pair<real_array, real_array> pair_args(py::handle A, py::handle B, const char* function) {
    const char* shape_doc = "(..., n, d)";
    real_array a = as_real_array(A, function, "A", 2, -1, shape_doc);
    real_array b = as_real_array(B, function, "B", 2, -1, shape_doc);
    if (a.shape != b.shape)
        value_error(function, "B", "must have the same shape as 'A' " + shape_string(a.shape), shape_string(b.shape));
    if (a.is_float32 != b.is_float32) {  // mixed precision: both in double, as on the CPU
        if (a.is_float32) a = as_real_array(py::array_t<double>::ensure(a.array), function, "A", 2, -1, shape_doc);
        if (b.is_float32) b = as_real_array(py::array_t<double>::ensure(b.array), function, "B", 2, -1, shape_doc);
    }
    make_c_contiguous(a);
    make_c_contiguous(b);
    return {a, b};
}

// Keys as a C-contiguous float16, float32 or float64 array of `ndim` axes.
template <class Fn>
auto with_keys(py::handle obj, const char* function, int ndim, const char* shape_doc, Fn&& fn) {
    py::array arr = py::isinstance<py::array>(obj) ? py::reinterpret_borrow<py::array>(obj) : py::array();
    if (arr && arr.dtype().kind() == 'f' && arr.dtype().itemsize() == 2) {
        if (arr.ndim() != ndim)
            value_error(function, "keys", std::string("must have shape ") + shape_doc,
                        std::to_string(arr.ndim()) + "-d array");
        auto half = py::array::ensure(arr, py::array::c_style);
        std::vector<index_t> shape;
        for (int i = 0; i < ndim; ++i) shape.push_back(index_t(half.shape(i)));
        return fn(reinterpret_cast<const geomkit::float16*>(half.data()), shape);
    }
    real_array a = as_real_array(obj, function, "keys", ndim, ndim, shape_doc);
    make_c_contiguous(a);
    if (a.is_float32) return fn(a.data<float>(), a.shape);
    return fn(a.data<double>(), a.shape);
}

}  // namespace

void bind_cuda(py::module_& m) {
    m.def(
        "device_available",
        [] {
            std::string reason;
            bool ok;
            {
                py::gil_scoped_release release;
                ok = gpu::device_available(reason);
            }
            return py::make_tuple(ok, ok ? std::string() : reason);
        },
        "(True, '') when a CUDA device can be used, else (False, reason).");
    m.def(
        "_default_results",
        [] { return py::make_tuple(geomkit::pentachoron_result{}, geomkit::bone_orientation_result{}); },
        "Default PentachoronResult and BoneOrientationResult converted by this module: checks, "
        "without a GPU, that it returns the CPU module's classes.");
    m.def(
        "simplex_volume_sq", [](py::handle points) { return volumes(points, "simplex_volume_sq", false); },
        py::arg("points"), "simplex_volume_sq on the GPU (k <= 16).");
    m.def(
        "simplex_volume", [](py::handle points) { return volumes(points, "simplex_volume", true); },
        py::arg("points"), "simplex_volume on the GPU (k <= 16).");
    m.def(
        "pentachoron_cv",
        [](py::handle X, index_t n_samples, const py::object& pool, std::uint64_t seed, double eps, int ddof,
           double mean_eps, index_t min_valid, const std::string& method, const py::object& threads) {
            const char* fn = "pentachoron_cv";
            real_array a = as_real_array(X, fn, "X", 2, 2, "(n, d)");
            if (method == "pool_gram") cpu_only(fn, "method", "'pool_gram'");
            if (method != "auto" && method != "direct")
                value_error(fn, "method", "must be 'auto', 'direct' or 'pool_gram'", method);
            no_threads(threads, fn);
            geomkit::pentachoron_params p;
            p.n_samples = n_samples;
            if (!pool.is_none()) p.pool = pool.cast<index_t>();
            p.seed = seed;
            p.eps = eps;
            p.ddof = ddof;
            p.mean_eps = mean_eps;
            p.min_valid = min_valid;
            p.method = geomkit::pentachoron_method::direct;
            make_c_contiguous(a);
            require_device(fn);
            return visit_real(a, [&](auto tag) {
                using T = decltype(tag);
                py::gil_scoped_release release;
                return gpu::pentachoron_cv(a.data<T>(), a.shape[0], a.shape[1], p);
            });
        },
        py::arg("X"), py::arg("n_samples") = 1000, py::arg("pool") = py::none(), py::arg("seed") = 0,
        py::arg("eps") = 0.0, py::arg("ddof") = 0, py::arg("mean_eps") = 0.0, py::arg("min_valid") = 1,
        py::arg("method") = "auto", py::arg("threads") = py::none(),
        "pentachoron_cv on the GPU: the CPU's samples; threads and method='pool_gram' are not supported.");
    m.def(
        "bone_orientation",
        [](py::handle keys, bool all_heads, const py::object& threads) {
            const char* fn = "bone_orientation";
            no_threads(threads, fn);
            return with_keys(keys, fn, 4, "(L, H, S, D)", [&](auto* data, const std::vector<index_t>& s) {
                require_device(fn);
                py::gil_scoped_release release;
                return gpu::bone_orientation(data, s[0], s[1], s[2], s[3], all_heads);
            });
        },
        py::arg("keys"), py::arg("all_heads") = false, py::arg("threads") = py::none(),
        "bone_orientation on the GPU; threads is not supported.");
    m.def(
        "participation_ratio",
        [](py::handle X, bool centered) {
            const char* fn = "participation_ratio";
            real_array a = as_real_array(X, fn, "X", 2, 2, "(n, d)");
            make_c_contiguous(a);
            require_device(fn);
            return visit_real(a, [&](auto tag) {
                using T = decltype(tag);
                py::gil_scoped_release release;
                return gpu::participation_ratio(a.data<T>(), a.shape[0], a.shape[1], centered);
            });
        },
        py::arg("X"), py::arg("centered") = true, "participation_ratio on the GPU (cuBLAS).");
    m.def(
        "orthogonal_procrustes",
        [](py::handle A_obj, py::handle B_obj, bool proper) -> py::tuple {
            const char* fn = "orthogonal_procrustes";
            auto ab = pair_args(A_obj, B_obj, fn);
            real_array& a = ab.first;
            real_array& b = ab.second;
            const index_t nd = a.ndim();
            const index_t n = a.shape[std::size_t(nd - 2)], d = a.shape[std::size_t(nd - 1)];
            if (d > gpu::procrustes_max_dim)
                value_error(fn, "A",
                            "must have d <= " + std::to_string(gpu::procrustes_max_dim) +
                                " with device='cuda' (..., n, d)",
                            shape_string(a.shape));
            const leading_batch lead = fold_leading(a, 2);
            (void)fold_leading(b, 2);
            std::vector<py::ssize_t> r_shape = lead.shape;
            r_shape.push_back(py::ssize_t(d));
            r_shape.push_back(py::ssize_t(d));
            py::array_t<double> R(r_shape);
            py::array_t<double> scale(lead.shape);
            if (lead.count > 0) {
                require_device(fn);
                visit_real(a, [&](auto tag) {
                    using T = decltype(tag);
                    double* r = R.mutable_data();
                    double* s = scale.mutable_data();
                    py::gil_scoped_release release;
                    gpu::orthogonal_procrustes_batched(a.data<T>(), b.data<T>(), lead.count, n, d, proper, r, s);
                });
            }
            if (nd == 2) return py::make_tuple(R, py::float_(*scale.data()));
            return py::make_tuple(R, scale);
        },
        py::arg("A"), py::arg("B"), py::arg("proper") = false,
        "orthogonal_procrustes on the GPU (cuSOLVER batched Jacobi SVD), d <= 32; a single (n, d) "
        "problem runs as a batch of one.");
}

}  // namespace geomkit_py

PYBIND11_MODULE(_geomkit_cuda, m) {
    namespace py = pybind11;
    m.doc() = "geomkit GPU (CUDA) kernels for device='cuda'";
    m.attr("__version__") = GEOMKIT_VERSION_STRING;
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const geomkit::error& e) {
            // Failed CUDA / cuBLAS / cuSOLVER calls and SVD failures are runtime errors; the
            // rest are argument errors, as on the CPU.
            const std::string what = e.what();
            const bool runtime = what.find(": cuda") != std::string::npos ||
                                 what.find("CUBLAS_STATUS") != std::string::npos ||
                                 what.find("CUSOLVER_STATUS") != std::string::npos ||
                                 what.find("did not converge") != std::string::npos;
            PyErr_SetString(runtime ? PyExc_RuntimeError : PyExc_ValueError, e.what());
        }
    });
    geomkit_py::bind_cuda(m);
}
