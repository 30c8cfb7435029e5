// cayley_menger_determinant, simplex_volume_sq, simplex_volume: leading axes broadcast.
#include <geomkit/cayley_menger.hpp>

#include "common.hpp"

namespace geomkit_py GEOMKIT_PY_HIDDEN {

namespace {

template <class Finish>
py::object volumes(py::handle points_obj, const char* function) {
    real_array a = as_real_array(points_obj, function, "points", 2, -1, "(..., k+1, d)");
    const leading_batch lead = fold_leading(a, 2);
    if (lead.count == 0) return shaped_result(lead, {});  // numpy gives empty arrays zero strides
    std::vector<double> out(std::size_t(std::max<index_t>(lead.count, 1)));
    visit_real(a, [&](auto tag) {
        using T = decltype(tag);
        const auto m = view2d<T>(a);
        geomkit::batch_view<const T> s(a.data<T>(), lead.count, m.rows(), m.cols(), lead.stride, m.row_stride());
        py::gil_scoped_release release;
        geomkit::detail::batched_volumes(s, out.data(), function, Finish{}, "points");
    });
    return shaped_result(lead, out);
}

}  // namespace

void bind_cayley_menger(py::module_& m) {
    m.def(
        "cayley_menger_determinant",
        [](py::handle d2_obj) {
            real_array a = as_real_array(d2_obj, "cayley_menger_determinant", "d2", 2, -1, "(..., m, m)");
            const index_t nd = a.ndim();
            if (a.shape[std::size_t(nd - 1)] != a.shape[std::size_t(nd - 2)])
                value_error("cayley_menger_determinant", "d2", "must hold square m x m matrices (..., m, m)",
                            shape_string(a.shape));
            const leading_batch lead = fold_leading(a, 2);
            if (lead.count == 0) return shaped_result(lead, {});
            std::vector<double> out(std::size_t(std::max<index_t>(lead.count, 1)));
            visit_real(a, [&](auto tag) {
                using T = decltype(tag);
                const auto v = view2d<T>(a);
                geomkit::batch_view<const T> s(a.data<T>(), lead.count, v.rows(), v.cols(), lead.stride,
                                               v.row_stride());
                py::gil_scoped_release release;
                geomkit::cayley_menger_determinant(s, out.data());
            });
            return shaped_result(lead, out);
        },
        py::arg("d2"),
        "det of the bordered Cayley-Menger matrix of each m x m squared-distance matrix in d2 "
        "(..., m, m). vol² of the simplex = (-1)^(k+1) det / (2^k (k!)²), k = m - 1.");
    m.def(
        "simplex_volume_sq", [](py::handle points) {
            return volumes<geomkit::detail::finish_volume_sq>(points, "simplex_volume_sq");
        },
        py::arg("points"),
        "Squared k-volume of each simplex whose k+1 vertices are the rows of points (..., k+1, d), "
        "float64-accurate from float32 input. Rounding may leave it slightly negative for a "
        "degenerate simplex.");
    m.def(
        "simplex_volume", [](py::handle points) {
            return volumes<geomkit::detail::finish_volume>(points, "simplex_volume");
        },
        py::arg("points"), "k-volume of each simplex (..., k+1, d); 0 for degenerate ones.");
}

}  // namespace geomkit_py
