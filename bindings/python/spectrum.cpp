// participation_ratio, variance_profile, eigenspectrum, spectrum_stats, qk_manifold(_fused)
// (qk_manifold with head_dim: qk_manifold_gqa).
#include <geomkit/spectrum.hpp>

#include <limits>

#include "common.hpp"

namespace geomkit_py GEOMKIT_PY_HIDDEN {

namespace {

real_array matrix_arg(py::handle X, const char* function, const char* name) {
    return as_real_array(X, function, name, 2, 2, "(n, d)");
}

py::dict stats_dict(const geomkit::spectrum_stats_result& s) {
    py::dict d;
    d["stable_rank"] = s.stable_rank;
    d["pr"] = s.pr;
    d["active_frac"] = s.active_frac;
    d["rank_90"] = s.rank_90;
    d["condition"] = s.condition;
    d["max_sv"] = s.max_sv;
    d["min_sv"] = s.min_sv;
    return d;
}

py::dict qk_dict(const geomkit::qk_manifold_result& r) {
    py::dict d;
    d["stable_rank"] = r.stable_rank;
    d["pr"] = r.pr;
    d["symmetry_deviation"] = r.sym_dev;
    d["n_positive"] = r.n_positive;
    d["n_negative"] = r.n_negative;
    d["top3_eigenvalues"] = r.top3_eig;
    d["dim"] = r.dim;
    return d;
}

geomkit::eigenspectrum_result eigenspectrum_of(py::handle X, py::handle centered_obj, const char* function) {
    real_array a = matrix_arg(X, function, "X");
    const bool centered = bool_arg(centered_obj, function, "centered");
    return visit_real(a, [&](auto tag) {
        using T = decltype(tag);
        py::gil_scoped_release release;
        return geomkit::eigenspectrum(view2d<T>(a), centered);
    });
}

}  // namespace

void bind_spectrum(py::module_& m) {
    m.def(
        "amx_usable",
        [] {
#if GEOMKIT_HAS_AMX
            return geomkit::detail::amx_int8_usable();
#else
            return false;
#endif
        },
        "Whether participation_ratio of float32 input with 1024 or more columns (and at least as many "
        "rows) takes the AMX integer Gram here: this module has it, the CPU and OS allow it, and "
        "GEOMKIT_DISABLE_AMX is unset.");
    m.def(
        "_amx_int8_peak",
        [](py::handle threads_obj) {
            const int threads = int(int_arg(threads_obj, "_amx_int8_peak", "threads", 1, max_threads));
            py::gil_scoped_release release;
#if GEOMKIT_HAS_AMX
            return geomkit::detail::measure_amx_int8_peak(threads);
#else
            (void)threads;
            return 0.0;
#endif
        },
        py::arg("threads"), "AMX int8 multiply-add peak (MAC/s) measured at `threads` threads; 0 without AMX.");
    m.def(
        "participation_ratio",
        [](py::handle X, py::handle centered_obj) {
            real_array a = matrix_arg(X, "participation_ratio", "X");
            const bool centered = bool_arg(centered_obj, "participation_ratio", "centered");
            return visit_real(a, [&](auto tag) {
                using T = decltype(tag);
                py::gil_scoped_release release;
                return geomkit::participation_ratio(view2d<T>(a), centered);
            });
        },
        py::arg("X"), py::arg("centered") = true,
        "(Σλ)²/Σλ² over the eigenvalues of the covariance of the rows of X (n, d), computed as "
        "tr(C)²/|C|_F² from the smaller Gram matrix, without an eigendecomposition. centered=False "
        "uses the raw second-moment matrix. float32 input gives a float64-accurate result.");
    m.def(
        "eigenspectrum",
        [](py::handle X, py::handle centered) {
            const auto r = eigenspectrum_of(X, centered, "eigenspectrum");
            py::dict d;
            d["eigenvalues"] = py::array_t<double>(py::ssize_t(r.eigenvalues.size()), r.eigenvalues.data());
            d["pr"] = r.pr;
            d["pr_over_dim"] = r.pr_over_dim;
            d["total_variance"] = r.total_variance;
            d["variance_profile"] = py::dict(py::arg("80") = r.dims_80, py::arg("90") = r.dims_90,
                                             py::arg("95") = r.dims_95, py::arg("99") = r.dims_99);
            return d;
        },
        py::arg("X"), py::arg("centered") = true,
        "Covariance eigenvalues of the rows of X (descending), PR, PR/d, total variance and the "
        "variance profile.");
    m.def(
        "variance_profile",
        [](py::handle X, py::handle centered) {
            const auto r = eigenspectrum_of(X, centered, "variance_profile");
            py::dict d;
            d[py::int_(80)] = r.dims_80;
            d[py::int_(90)] = r.dims_90;
            d[py::int_(95)] = r.dims_95;
            d[py::int_(99)] = r.dims_99;
            return d;
        },
        py::arg("X"), py::arg("centered") = true,
        "{80: r, 90: r, 95: r, 99: r}: the number of leading covariance eigen-directions that "
        "reach each percentage of the total variance.");
    m.def(
        "spectrum_stats",
        [](py::handle W, py::handle values_obj) {
            real_array a = matrix_arg(W, "spectrum_stats", "W");
            const bool with_values = bool_arg(values_obj, "spectrum_stats", "singular_values");
            std::vector<double> S;
            int e = 0;
            visit_real(a, [&](auto tag) {
                using T = decltype(tag);
                py::gil_scoped_release release;
                S = geomkit::detail::scaled_singular_values(view2d<T>(a), geomkit::singular_value_method::automatic, e);
                return 0;
            });
            py::dict d = stats_dict(geomkit::spectrum_stats_from_singular_values(S, e));
            if (with_values) {
                py::array_t<double> out(py::ssize_t(S.size()));
                double* o = out.mutable_data();
                for (std::size_t i = 0; i < S.size(); ++i) o[i] = std::ldexp(S[i], -e);
                d["singular_values"] = out;
            }
            return d;
        },
        py::arg("W"), py::kw_only(), py::arg("singular_values") = false,
        "The weight battery of W's singular values S: stable_rank ΣS²/S₀², pr (ΣS)²/ΣS², "
        "active_frac #(S > 0.01 S₀)/len(S), rank_90, condition S₀/(S_min + 1e-10), max_sv, min_sv; "
        "with singular_values=True also S itself (descending float64 array) under 'singular_values'.");
    m.def(
        "qk_manifold",
        [](py::handle Wq, py::handle Wk, py::handle head_dim_obj) {
            real_array q = matrix_arg(Wq, "qk_manifold", "Wq");
            real_array k = matrix_arg(Wk, "qk_manifold", "Wk");
            if (q.shape[1] != k.shape[1])
                value_error("qk_manifold", "Wk", "must have as many columns as 'Wq' (" + std::to_string(q.shape[1]) + ")",
                            shape_string(k.shape));
            long long head_dim = 0;
            if (!head_dim_obj.is_none())
                head_dim = int_arg(head_dim_obj, "qk_manifold", "head_dim", 1, std::numeric_limits<long long>::max());
            else if (q.shape[0] != k.shape[0])
                value_error("qk_manifold", "head_dim",
                            "is needed when 'Wk' has fewer rows than 'Wq' (grouped-query keys: " +
                                std::to_string(k.shape[0]) + " rows against " + std::to_string(q.shape[0]) + ")",
                            "None");
            if (q.is_float32 != k.is_float32) {
                q = as_real_array(c_array<double>(q.array, "qk_manifold", "Wq"), "qk_manifold", "Wq", 2, 2, "(p, m)");
                k = as_real_array(c_array<double>(k.array, "qk_manifold", "Wk"), "qk_manifold", "Wk", 2, 2, "(p, m)");
            }
            return qk_dict(visit_real(q, [&](auto tag) {
                using T = decltype(tag);
                py::gil_scoped_release release;
                if (head_dim > 0) return geomkit::qk_manifold_gqa(view2d<T>(q), view2d<T>(k), geomkit::index_t(head_dim));
                return geomkit::qk_manifold(view2d<T>(q), view2d<T>(k));
            }));
        },
        py::arg("Wq"), py::arg("Wk"), py::kw_only(), py::arg("head_dim") = py::none(),
        "QK = Wq Wkᵀ: its stable rank and PR, symmetry_deviation |QK - QKᵀ|_F/(|QK|_F + 1e-10), the "
        "counts of positive and negative eigenvalues of (QK + QKᵀ)/2 (those within p·ε·max|λ| of zero "
        "count in neither) and the top three. With head_dim, Wk may hold grouped-query keys: H_kv heads "
        "of head_dim rows, each serving Wq.shape[0] / Wk.shape[0] query heads, as if repeated per head "
        "(without forming the p x p spectra).");
    m.def(
        "qk_manifold_fused",
        [](py::handle W) {
            real_array a = matrix_arg(W, "qk_manifold_fused", "Wqkv");
            return qk_dict(visit_real(a, [&](auto tag) {
                using T = decltype(tag);
                py::gil_scoped_release release;
                return geomkit::qk_manifold_fused(view2d<T>(a));
            }));
        },
        py::arg("Wqkv"), "qk_manifold of a fused (3p, m) [Wq; Wk; Wv] matrix split along its rows.");
}

}  // namespace geomkit_py
