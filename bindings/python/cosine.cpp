// pairwise_cosines.
#include <geomkit/cosine.hpp>

#include "common.hpp"

namespace geomkit_py GEOMKIT_PY_HIDDEN {

void bind_cosine(py::module_& m) {
    m.def(
        "pairwise_cosines",
        [](py::handle X_obj, py::handle eps_obj, py::handle threads_obj) {
            constexpr const char* function = "pairwise_cosines";
            real_array a = as_real_array(X_obj, function, "X", 2, 2, "(m, d)");
            const double eps = float_arg(eps_obj, function, "eps", 0.0);
            const int threads = threads_arg(threads_obj, function);
            std::vector<double> out = visit_real(a, [&](auto tag) {
                using T = decltype(tag);
                py::gil_scoped_release release;
                return geomkit::pairwise_cosines(view2d<T>(a), eps, threads);
            });
            py::array_t<double> result(static_cast<py::ssize_t>(out.size()));
            std::copy(out.begin(), out.end(), result.mutable_data());
            return result;
        },
        py::arg("X"), py::arg("eps") = 0.0, py::arg("threads") = py::none(),
        "Cosines of every pair of rows i < j of X (m, d): (x_i . x_j) / ((|x_i| + eps)(|x_j| + eps)), "
        "as a float64 array of m(m-1)/2 values in row-major order of the upper triangle; double Gram, "
        "bitwise the same at any thread count.");
}

}  // namespace geomkit_py
