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

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
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
    bool is_float16 = false;  // only with as_real_array(..., keep_half = true)
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

// repr(obj), cut to 80 characters (an argument may be a huge array or a huge int).
inline std::string short_repr(py::handle obj) {
    std::string r;
    try {
        r = std::string(py::repr(obj));
    } catch (...) {
        r = "<unprintable " + std::string(py::str(py::type::handle_of(obj).attr("__name__"))) + ">";
    }
    if (r.size() > 80) r = r.substr(0, 77) + "...";
    return r;
}
inline std::string type_name(py::handle obj) {
    return std::string(py::str(py::type::handle_of(obj).attr("__name__")));
}

// Arguments are taken as Python objects and validated here, so every wrong value or type
// gets the same message form ("geomkit.<function>: argument '<name>' must be ... (got
// ...)") instead of pybind11's "incompatible function arguments".

// An integer (int, numpy integer, anything with __index__; not bool) in [lo, hi].
inline long long int_arg(py::handle obj, const char* function, const char* argument, long long lo, long long hi) {
    const std::string expected = "must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
    if (PyBool_Check(obj.ptr()) || !PyIndex_Check(obj.ptr())) type_error(function, argument, expected, type_name(obj));
    py::object index = py::reinterpret_steal<py::object>(PyNumber_Index(obj.ptr()));
    if (!index) {
        PyErr_Clear();
        type_error(function, argument, expected, type_name(obj));
    }
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
    if (PyErr_Occurred()) PyErr_Clear();
    if (overflow != 0 || v < lo || v > hi) value_error(function, argument, expected, short_repr(index));
    return v;
}

// A 64-bit unsigned integer (e.g. a seed): an integer in [0, 2**64).
inline std::uint64_t uint64_arg(py::handle obj, const char* function, const char* argument) {
    const char* expected = "must be an integer in [0, 2**64)";
    if (PyBool_Check(obj.ptr()) || !PyIndex_Check(obj.ptr())) type_error(function, argument, expected, type_name(obj));
    py::object index = py::reinterpret_steal<py::object>(PyNumber_Index(obj.ptr()));
    if (!index) {
        PyErr_Clear();
        type_error(function, argument, expected, type_name(obj));
    }
    const unsigned long long v = PyLong_AsUnsignedLongLong(index.ptr());
    if (PyErr_Occurred()) {
        PyErr_Clear();
        value_error(function, argument, expected, short_repr(index));
    }
    return std::uint64_t(v);
}

// A real number (int, float, numpy scalar; not bool, not str), finite unless allowed,
// and >= minimum.
inline double float_arg(py::handle obj, const char* function, const char* argument, double minimum,
                        const char* expected = "must be a finite number >= 0") {
    if (PyBool_Check(obj.ptr()) || PyUnicode_Check(obj.ptr()) || PyBytes_Check(obj.ptr()) ||
        !(PyFloat_Check(obj.ptr()) || PyLong_Check(obj.ptr()) || PyIndex_Check(obj.ptr()) ||
          py::hasattr(obj, "__float__")))
        type_error(function, argument, expected, type_name(obj));
    const double v = PyFloat_AsDouble(obj.ptr());
    if (PyErr_Occurred()) {
        PyErr_Clear();
        value_error(function, argument, expected, short_repr(obj));
    }
    if (!std::isfinite(v) || v < minimum) value_error(function, argument, expected, short_repr(obj));
    return v;
}

// True or False (also numpy.bool_).
inline bool bool_arg(py::handle obj, const char* function, const char* argument) {
    if (PyBool_Check(obj.ptr())) return obj.ptr() == Py_True;
    const std::string t = type_name(obj);
    if (t == "bool_" || t == "bool") return PyObject_IsTrue(obj.ptr()) == 1;
    type_error(function, argument, "must be True or False", t + " " + short_repr(obj));
}

inline std::string str_arg(py::handle obj, const char* function, const char* argument, const char* expected) {
    if (!PyUnicode_Check(obj.ptr())) type_error(function, argument, expected, type_name(obj));
    return obj.cast<std::string>();
}

// The most threads a call may ask for.
constexpr long long max_threads = 1024;

// The most elements (product of the shape) an array argument may describe: 2^40, far
// beyond any array that fits in memory; only zero-strided (broadcast) views reach it, and
// the work they describe would not finish.
constexpr index_t max_elements = index_t(1) << 40;

[[noreturn]] inline void memory_error(const char* function, const char* argument, const std::string& what) {
    PyErr_SetString(PyExc_MemoryError,
                    (std::string("geomkit.") + function + ": argument '" + argument + "' " + what).c_str());
    throw py::error_already_set();
}

// `arr` converted to a C-contiguous array of T (a copy when it is not one already);
// a failed allocation raises MemoryError naming the argument (pybind11's ensure() would
// return a null array).
template <class T>
py::array c_array(const py::array& arr, const char* function, const char* argument) {
    py::array out;
    if constexpr (std::is_same<T, geomkit::float16>::value) {
        try {
            out = py::module_::import("numpy").attr("ascontiguousarray")(arr, "float16");
        } catch (py::error_already_set&) {
        }
    } else {
        out = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(arr);
    }
    if (!out) {
        PyErr_Clear();
        std::vector<index_t> shape;
        for (py::ssize_t i = 0; i < arr.ndim(); ++i) shape.push_back(index_t(arr.shape(i)));
        memory_error(function, argument,
                     "could not be copied to a contiguous " + std::string(sizeof(T) == 4 ? "float32" : sizeof(T) == 8 ? "float64" : "float16") +
                         " array of shape " + shape_string(shape));
    }
    return out;
}

// numpy.asarray(obj), or null with the Python error set.
inline PyObject* PyArray_FromAny_wrapper(PyObject* obj) {
    try {
        py::object r = py::module_::import("numpy").attr("asarray")(py::handle(obj));
        return r.release().ptr();
    } catch (py::error_already_set& e) {
        e.restore();
        return nullptr;
    }
}

// Takes any array-like (numpy arrays and subclasses, memory maps, lists, objects with
// __array__ or __dlpack__); `min_ndim`/`max_ndim` bound its dimensions (max_ndim < 0:
// any). float16 stays float16 when keep_half (the keys of bone_orientation), otherwise
// it is converted like the integer dtypes. Non-native byte order is swapped in a copy.
inline real_array as_real_array(py::handle obj, const char* function, const char* argument, int min_ndim,
                                int max_ndim, const char* shape_doc, bool keep_half = false) {
    // (A default-constructed py::array is an empty float64 array, not a null handle: the
    // conversion result is held as an object until it is known to be an array.)
    py::object got;
    if (py::isinstance<py::array>(obj)) {
        got = py::reinterpret_borrow<py::object>(obj);
    } else {
        const bool array_like = py::hasattr(obj, "__array__") || py::hasattr(obj, "__array_interface__") ||
                                PyList_Check(obj.ptr()) || PyTuple_Check(obj.ptr()) || PyFloat_Check(obj.ptr()) ||
                                PyLong_Check(obj.ptr());
        if (array_like) {
            PyObject* converted = PyArray_FromAny_wrapper(obj.ptr());
            if (converted) got = py::reinterpret_steal<py::object>(converted);
            else PyErr_Clear();
        }
        if (!got && py::hasattr(obj, "__dlpack__")) {
            try {
                got = py::module_::import("numpy").attr("from_dlpack")(obj);
            } catch (py::error_already_set& e) {
                type_error(function, argument, "must be a numpy array or array-like; its __dlpack__ failed",
                           type_name(obj) + ": " + std::string(py::str(e.value())).substr(0, 80));
            }
        }
        if (!got || !py::isinstance<py::array>(got))
            type_error(function, argument, "must be a numpy array or array-like", type_name(obj));
    }
    py::array arr = py::reinterpret_borrow<py::array>(got);
    const char kind = arr.dtype().kind();
    const py::ssize_t itemsize = arr.dtype().itemsize();
    real_array out;
    const int nd = int(arr.ndim());
    std::vector<index_t> shape(static_cast<std::size_t>(nd));
    for (int i = 0; i < nd; ++i) shape[std::size_t(i)] = index_t(arr.shape(i));
    if (!(kind == 'f' || kind == 'i' || kind == 'u' || kind == 'b'))
        type_error(function, argument, "must be a real float32 or float64 array", std::string(py::str(arr.dtype())));
    if (nd < min_ndim || (max_ndim >= 0 && nd > max_ndim))
        value_error(function, argument, std::string("must have shape ") + shape_doc, shape_string(shape));
    index_t elements = 1;
    for (index_t n : shape)
        if (!geomkit::detail::product_fits(elements, n, elements) || elements > max_elements)
            value_error(function, argument,
                        "must have at most 2**40 elements (a broadcast view this large describes work that "
                        "would not finish)",
                        "shape " + shape_string(shape));
    int target = 8;  // bytes of the element type used
    if (kind == 'f' && itemsize == 4) {
        out.is_float32 = true;
        target = 4;
    } else if (kind == 'f' && itemsize == 2 && keep_half) {
        out.is_float16 = true;
        target = 2;
    } else if (kind == 'f' && itemsize == 8) {
    } else {
        arr = c_array<double>(arr, function, argument);
    }
    // Used in place when native, rows contiguous, and the other axes strided without
    // overlap (each stride at least the extent of the axes after it); else one C copy.
    bool usable = py::bool_(arr.dtype().attr("isnative"));
    index_t inner = 1;  // elements spanned by the axes after i
    const py::ssize_t item = arr.dtype().itemsize();
    for (int i = nd - 1; i >= 0 && elements > 0; --i) {
        const py::ssize_t st = arr.strides(i);
        if (arr.shape(i) <= 1) continue;
        if (st % item != 0 || st < 0) {
            usable = false;
            break;
        }
        const index_t e = index_t(st / item);
        if (i == nd - 1 ? e != 1 : e < inner) {
            usable = false;
            break;
        }
        inner = e * index_t(arr.shape(i));
    }
    if (!usable) {
        if (target == 4) arr = c_array<float>(arr, function, argument);
        else if (target == 2) arr = c_array<geomkit::float16>(arr, function, argument);
        else arr = c_array<double>(arr, function, argument);
    }
    out.array = arr;
    out.shape = shape;
    out.strides.resize(std::size_t(nd));
    for (int i = 0; i < nd; ++i) out.strides[std::size_t(i)] = index_t(arr.strides(i) / arr.dtype().itemsize());
    // Axes of length <= 1 never step: give them the dense stride, which every check accepts.
    index_t dense = 1;
    for (int i = nd - 1; i >= 0; --i) {
        if (out.shape[std::size_t(i)] <= 1 || elements == 0) out.strides[std::size_t(i)] = i == nd - 1 ? 1 : dense;
        dense = std::max<index_t>(out.strides[std::size_t(i)], 1) * std::max<index_t>(out.shape[std::size_t(i)], 1);
    }
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

inline leading_batch fold_leading(real_array& a, int keep, const char* function = "", const char* argument = "") {
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
            a.array = c_array<float>(a.array, function, argument);
        else
            a.array = c_array<double>(a.array, function, argument);
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

// Thread count argument: None → the module setting; otherwise an integer in [1, 1024].
inline int threads_arg(py::handle threads, const char* function) {
    if (threads.is_none()) return 0;
    if (PyBool_Check(threads.ptr()) || !PyIndex_Check(threads.ptr()))
        type_error(function, "threads", "must be None or an integer in [1, " + std::to_string(max_threads) + "]",
                   type_name(threads));
    return int(int_arg(threads, function, "threads", 1, max_threads));
}

void bind_core(py::module_& m);

}  // namespace geomkit_py
