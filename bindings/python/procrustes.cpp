// orthogonal_procrustes (single or batched over leading axes) and procrustes_align.
#include <geomkit/procrustes.hpp>

#include "common.hpp"

namespace geomkit_py GEOMKIT_PY_HIDDEN {

namespace {

py::array_t<double> to_numpy(const geomkit::row_major_matrix& m) {
    py::array_t<double> out({py::ssize_t(m.rows()), py::ssize_t(m.cols())});
    std::copy(m.data(), m.data() + m.size(), out.mutable_data());
    return out;
}

py::array_t<double> to_numpy(const Eigen::VectorXd& v) {
    py::array_t<double> out(py::ssize_t(v.size()));
    std::copy(v.data(), v.data() + v.size(), out.mutable_data());
    return out;
}

// A and B as arrays of the same dtype and shape (float32 only when both are).
std::pair<real_array, real_array> pair_args(py::handle A, py::handle B, const char* function, int max_ndim,
                                            const char* shape_doc) {
    real_array a = as_real_array(A, function, "A", 2, max_ndim, shape_doc);
    real_array b = as_real_array(B, function, "B", 2, max_ndim, shape_doc);
    if (a.shape != b.shape)
        value_error(function, "B", "must have the same shape as 'A' " + shape_string(a.shape), shape_string(b.shape));
    if (a.is_float32 != b.is_float32) {  // mixed precision: both in double
        if (a.is_float32) a = as_real_array(c_array<double>(a.array, function, "A"), function, "A", 2, max_ndim, shape_doc);
        if (b.is_float32) b = as_real_array(c_array<double>(b.array, function, "B"), function, "B", 2, max_ndim, shape_doc);
    }
    return {a, b};
}

}  // namespace

void bind_procrustes(py::module_& m) {
    m.def(
        "orthogonal_procrustes",
        [](py::handle A_obj, py::handle B_obj, py::handle proper_obj) -> py::tuple {
            const char* fn = "orthogonal_procrustes";
            auto ab = pair_args(A_obj, B_obj, fn, -1, "(..., n, d)");
            const bool proper = bool_arg(proper_obj, fn, "proper");
            real_array& a = ab.first;
            real_array& b = ab.second;
            {
                // No rows or no columns: scipy's answer, R = I_d and scale 0 (for every
                // problem of a batch).
                const index_t nd = a.ndim(), n = a.shape[std::size_t(nd - 2)], d = a.shape[std::size_t(nd - 1)];
                if (n == 0 || d == 0) {
                    std::vector<py::ssize_t> lead(a.shape.begin(), a.shape.end() - 2), r_shape = lead;
                    r_shape.push_back(py::ssize_t(d));
                    r_shape.push_back(py::ssize_t(d));
                    py::array_t<double> R(r_shape);
                    double* r = R.mutable_data();
                    for (py::ssize_t i = 0; i < R.size(); ++i) r[i] = (i % (d * d)) % (d + 1) == 0 ? 1.0 : 0.0;
                    if (lead.empty()) return py::make_tuple(R, 0.0);
                    py::array_t<double> scale(lead);
                    std::fill_n(scale.mutable_data(), scale.size(), 0.0);
                    return py::make_tuple(R, scale);
                }
            }
            if (a.ndim() == 2) {
                return visit_real(a, [&](auto tag) {
                    using T = decltype(tag);
                    geomkit::procrustes_result r;
                    {
                        py::gil_scoped_release release;
                        r = geomkit::orthogonal_procrustes(view2d<T>(a), view2d<T>(b), proper);
                    }
                    return py::make_tuple(to_numpy(r.R), r.scale);
                });
            }
            // Batched: the problems must be stacked (n rows each, one after the other).
            const index_t nd = a.ndim();
            const index_t n = a.shape[std::size_t(nd - 2)], d = a.shape[std::size_t(nd - 1)];
            auto stack = [&](real_array& x, const char* name) {
                if (a.is_float32)
                    x.array = c_array<float>(x.array, fn, name);
                else
                    x.array = c_array<double>(x.array, fn, name);
            };
            stack(a, "A");
            stack(b, "B");
            const leading_batch lead = fold_leading(a, 2, fn, "A");
            if (d > geomkit::procrustes_small_max_dim)
                value_error("orthogonal_procrustes", "A",
                            "must have d <= " + std::to_string(geomkit::procrustes_small_max_dim) +
                                " when batched (..., n, d); loop over larger problems",
                            shape_string(a.shape));
            std::vector<py::ssize_t> r_shape = lead.shape;
            r_shape.push_back(py::ssize_t(d));
            r_shape.push_back(py::ssize_t(d));
            py::array_t<double> R(r_shape);
            py::array_t<double> scale(lead.shape);
            visit_real(a, [&](auto tag) {
                using T = decltype(tag);
                geomkit::matrix_view<const T> av(a.data<T>(), lead.count * n, d), bv(b.data<T>(), lead.count * n, d);
                geomkit::matrix_view<double> rv(R.mutable_data(), lead.count * d, d);
                double* s = scale.mutable_data();
                py::gil_scoped_release release;
                geomkit::orthogonal_procrustes_batched(av, bv, n, rv, s, proper);
            });
            return py::make_tuple(R, scale);
        },
        py::arg("A"), py::arg("B"), py::arg("proper") = false,
        "The orthogonal R minimising |A R - B|_F and scale = sum of the singular values of AᵀB, as "
        "scipy.linalg.orthogonal_procrustes returns them (reflections allowed; proper=True forces "
        "det R = +1). Leading axes (..., n, d) solve many problems (d <= 64) in one call. No rows or no "
        "columns give R = I_d and scale 0, as scipy does.");
    m.def(
        "procrustes_align",
        [](py::handle A_obj, py::handle B_obj, py::handle proper_obj) {
            auto ab = pair_args(A_obj, B_obj, "procrustes_align", 2, "(n, d)");
            const bool proper = bool_arg(proper_obj, "procrustes_align", "proper");
            return visit_real(ab.first, [&](auto tag) {
                using T = decltype(tag);
                geomkit::alignment_result r;
                {
                    py::gil_scoped_release release;
                    r = geomkit::procrustes_align(view2d<T>(ab.first), view2d<T>(ab.second), proper);
                }
                py::dict out;
                out["R"] = to_numpy(r.R);
                out["scale"] = r.scale;
                out["mean_a"] = to_numpy(r.mean_a);
                out["mean_b"] = to_numpy(r.mean_b);
                out["aligned"] = to_numpy(r.aligned);
                out["cosine"] = to_numpy(r.cosine);
                out["mean_cosine"] = r.mean_cosine;
                out["relative_residual"] = r.relative_residual;
                return out;
            });
        },
        py::arg("A"), py::arg("B"), py::arg("proper") = false,
        "The notebook's alignment: centre A and B on their means, fit R, aligned = (A - mean_A) R + "
        "mean_B, the per-row cosine between aligned and B, and the relative residual.");
}

}  // namespace geomkit_py
