// Module-wide settings: the thread count used when a function's `threads` is None.
#include "common.hpp"

namespace geomkit_py {

void bind_core(py::module_& m) {
    m.def("set_num_threads", &geomkit::set_num_threads, py::arg("threads"),
          "Threads geomkit kernels use when a call's `threads` is None; 0 restores the default "
          "(GEOMKIT_NUM_THREADS, else all cores).");
    m.def("get_num_threads", &geomkit::num_threads, "Threads a kernel called now would use.");
}

}  // namespace geomkit_py
