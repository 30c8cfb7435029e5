// Module-wide settings: the thread count used when a function's `threads` is None, and
// the machine-limit measurements the peer benchmark harness reports against.
#include <geomkit/detail/machine_limits.hpp>

#include "common.hpp"

namespace geomkit_py GEOMKIT_PY_HIDDEN {

void bind_core(py::module_& m) {
    m.def(
        "set_num_threads",
        [](py::handle threads, py::handle this_thread) {
            geomkit::set_num_threads(int(int_arg(threads, "set_num_threads", "threads", 0, max_threads)),
                                     bool_arg(this_thread, "set_num_threads", "this_thread"));
        },
        py::arg("threads"), py::kw_only(), py::arg("this_thread") = false,
          "Threads geomkit kernels use when a call's `threads` is None; 0 restores the default "
          "(GEOMKIT_NUM_THREADS, else all cores). this_thread=True: only for calls made from the "
          "calling thread (0 then follows the process-wide setting again); results do not depend on it.");
    m.def("get_num_threads", &geomkit::num_threads, "Threads a kernel called now, from this thread, would use.");
    m.def(
        "_machine_limits",
        [](py::handle threads_obj) {
            const int threads = int(int_arg(threads_obj, "_machine_limits", "threads", 1, max_threads));
            py::gil_scoped_release release;
            const double bw = geomkit::detail::measure_read_bandwidth(threads);
            const double peak = geomkit::detail::measure_peak_flops(threads);
            return std::make_pair(bw, peak);
        },
        py::arg("threads"),
        "(read bandwidth in bytes/s, double FMA peak in FLOP/s) measured at `threads` threads.");
}

}  // namespace geomkit_py
