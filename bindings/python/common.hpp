// Shared by every binding translation unit: numpy array intake without copies, the
// error translation, and the module-variant naming.
//
// Arrays: float32 and float64 are used in place when each row is contiguous (any row
// stride); other real dtypes (integers, float16) are converted once to float64; complex,
// object and other dtypes are refused with a TypeError naming the argument.
#pragma once

#include <geomkit/geomkit.hpp>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

// pybind11 compiles modules with hidden visibility; our types holding pybind11 objects
// must match it.
#if defined(__GNUC__) || defined(__clang__)
#define GEOMKIT_PY_HIDDEN __attribute__((visibility("hidden")))
#else
#define GEOMKIT_PY_HIDDEN
#endif

namespace geomkit_py GEOMKIT_PY_HIDDEN {

namespace py = pybind11;
using geomkit::index_t;

// A float32 or float64 array as given (or converted once), with its shape and strides in
// elements. Keeps the owning numpy array alive.
struct real_array {
    py::array array;
    bool is_float32 = false;
    std::vector<index_t> shape;
    std::vector<index_t> strides;  // in elements

    index_t ndim() const { return index_t(shape.size()); }
    template <class T>
    const T* data() const { return static_cast<const T*>(array.data()); }
};

[[noreturn]] inline void type_error(const char* function, const char* argument, const std::string& expected,
                                    const std::string& got) {
    throw py::type_error(std::string("geomkit.") + function + ": argument '" + argument + "' " + expected +
                         " (got " + got + ")");
}
[[noreturn]] inline void value_error(const char* function, const char* argument, const std::string& expected,
                                     const std::string& got) {
    throw py::value_error(std::string("geomkit.") + function + ": argument '" + argument + "' " + expected +
                          " (got " + got + ")");
}

inline std::string shape_string(const std::vector<index_t>& shape) {
    std::string s = "(";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + (shape.size() == 1 ? ",)" : ")");
}

// Takes any array-like; `min_ndim`/`max_ndim` bound its dimensions (max_ndim < 0: any).
inline real_array as_real_array(py::handle obj, const char* function, const char* argument, int min_ndim,
                                int max_ndim, const char* shape_doc) {
    py::array arr;
    if (py::isinstance<py::array>(obj)) {
        arr = py::reinterpret_borrow<py::array>(obj);
    } else {
        try {
            arr = py::array::ensure(obj);
        } catch (...) {
        }
        if (!arr) type_error(function, argument, "must be a numpy array or array-like", std::string(py::str(py::type::handle_of(obj))));
    }
    const char kind = arr.dtype().kind();
    const py::ssize_t itemsize = arr.dtype().itemsize();
    real_array out;
    if (kind == 'f' && itemsize == 4) {
        out.is_float32 = true;
    } else if (kind == 'f' && itemsize == 8) {
    } else if (kind == 'f' || kind == 'i' || kind == 'u' || kind == 'b') {
        arr = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(arr);
    } else {
        type_error(function, argument, "must be a real float32 or float64 array", std::string(py::str(arr.dtype())));
    }
    const int nd = int(arr.ndim());
    std::vector<index_t> shape(static_cast<std::size_t>(nd));
    for (int i = 0; i < nd; ++i) shape[std::size_t(i)] = index_t(arr.shape(i));
    if (nd < min_ndim || (max_ndim >= 0 && nd > max_ndim))
        value_error(function, argument, std::string("must have shape ") + shape_doc, shape_string(shape));
    // Rows must be contiguous; everything else may be strided (in whole elements).
    const py::ssize_t item = arr.dtype().itemsize();
    bool usable = true;
    for (int i = 0; i < nd; ++i) {
        if (arr.strides(i) % item != 0 || arr.strides(i) < 0) usable = false;
    }
    if (nd >= 1 && arr.shape(nd - 1) > 1 && arr.strides(nd - 1) != item) usable = false;
    if (!usable) {
        if (out.is_float32)
            arr = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(arr);
        else
            arr = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(arr);
    }
    out.array = arr;
    out.shape = shape;
    out.strides.resize(std::size_t(nd));
    for (int i = 0; i < nd; ++i) out.strides[std::size_t(i)] = index_t(arr.strides(i) / item);
    if (nd >= 1 && out.shape.back() <= 1) out.strides.back() = 1;
    return out;
}

// A 2-D view of the last two axes at leading offset `offset` (elements).
template <class T>
geomkit::matrix_view<const T> view2d(const real_array& a, index_t offset = 0) {
    const index_t nd = a.ndim();
    const index_t rows = a.shape[std::size_t(nd - 2)], cols = a.shape[std::size_t(nd - 1)];
    const index_t stride = rows > 1 ? a.strides[std::size_t(nd - 2)] : cols;
    return geomkit::matrix_view<const T>(a.data<T>() + offset, rows, cols, stride);
}

// The axes before the last `keep` of an array, folded into one batch axis. When they do
// not fold with one stride the array is converted to C order once.
struct leading_batch {
    std::vector<py::ssize_t> shape;  // the leading axes, for shaping the result
    index_t count = 1;
    index_t stride = 0;  // elements between consecutive batch items
};

inline leading_batch fold_leading(real_array& a, int keep) {
    const int nd = int(a.ndim()), lead = nd - keep;
    leading_batch b;
    for (int i = 0; i < lead; ++i) {
        b.shape.push_back(py::ssize_t(a.shape[std::size_t(i)]));
        b.count *= a.shape[std::size_t(i)];
    }
    bool uniform = true;
    for (int i = 0; i + 1 < lead; ++i)
        if (a.shape[std::size_t(i)] > 1 &&
            a.strides[std::size_t(i)] != a.strides[std::size_t(i + 1)] * a.shape[std::size_t(i + 1)])
            uniform = false;
    if (!uniform) {
        if (a.is_float32)
            a.array = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(a.array);
        else
            a.array = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(a.array);
        index_t step = 1;
        for (int i = nd - 1; i >= 0; --i) {
            a.strides[std::size_t(i)] = step;
            step *= a.shape[std::size_t(i)];
        }
    }
    if (lead > 0) b.stride = a.strides[std::size_t(lead - 1)];
    return b;
}

// A float result for no leading axes, else an array of the leading shape.
inline py::object shaped_result(const leading_batch& b, const std::vector<double>& values) {
    if (b.shape.empty()) return py::float_(values.at(0));
    py::array_t<double> out(b.shape);
    std::copy_n(values.begin(), std::min<std::size_t>(values.size(), std::size_t(out.size())), out.mutable_data());
    return std::move(out);
}

// Calls fn(tag) with tag a float or double value, per the array's dtype.
template <class Fn>
auto visit_real(const real_array& a, Fn&& fn) {
    if (a.is_float32) return fn(float{});
    return fn(double{});
}

// Thread count argument: None → the module setting; otherwise >= 1.
inline int threads_arg(const py::object& threads, const char* function) {
    if (threads.is_none()) return 0;
    const int t = threads.cast<int>();
    if (t < 1) value_error(function, "threads", "must be >= 1 or None", std::to_string(t));
    return t;
}

void bind_core(py::module_& m);

}  // namespace geomkit_py
