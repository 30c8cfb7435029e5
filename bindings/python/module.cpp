// The extension module. It is compiled once per SIMD level (_geomkit_sse2, _geomkit_avx2,
// _geomkit_avx512 on x86-64; _geomkit_native elsewhere), each a complete module built with
// that level's flags; geomkit/_loader.py imports the best one the CPU runs.
#include "common.hpp"

#ifndef GEOMKIT_PY_MODULE
#error "GEOMKIT_PY_MODULE must name the module variant"
#endif
#ifndef GEOMKIT_PY_VARIANT
#define GEOMKIT_PY_VARIANT "native"
#endif

namespace geomkit_py GEOMKIT_PY_HIDDEN {
// One declaration per concept translation unit (bindings/python/<concept>.cpp).
#define GEOMKIT_PY_CONCEPTS(X) \
    X(core) X(cayley_menger) X(pentachoron) X(bone_orientation) X(procrustes) X(spectrum) X(cosine)
#define GEOMKIT_PY_DECLARE(name) void bind_##name(py::module_& m);
GEOMKIT_PY_CONCEPTS(GEOMKIT_PY_DECLARE)
}  // namespace geomkit_py

PYBIND11_MODULE(GEOMKIT_PY_MODULE, m) {
    namespace py = pybind11;
    m.doc() = "geomkit native kernels (" GEOMKIT_PY_VARIANT ")";
    m.attr("__version__") = GEOMKIT_VERSION_STRING;
    m.attr("variant") = GEOMKIT_PY_VARIANT;
    m.attr("arch") = geomkit::simd::arch_name();
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const geomkit::error& e) {
            PyErr_SetString(PyExc_ValueError, e.what());
        }
    });
#define GEOMKIT_PY_BIND(name) geomkit_py::bind_##name(m);
    GEOMKIT_PY_CONCEPTS(GEOMKIT_PY_BIND)
}
