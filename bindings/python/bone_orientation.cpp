// bone_orientation over (L, H, S, D) key snapshots and head_entropy of (S, D) keys.
// float16 keys are read as they are (converted on the fly), like float32 and float64.
#include <geomkit/bone_orientation.hpp>

#include "common.hpp"

namespace geomkit_py GEOMKIT_PY_HIDDEN {

namespace {

// Calls fn(data pointer, shape, strides in elements) with the keys as float16, float32 or
// float64, used in place when their rows are contiguous (any other non-negative,
// non-overlapping strides), else copied once.
template <class Fn>
auto with_keys(py::handle obj, const char* function, int ndim, const char* shape_doc, Fn&& fn) {
    real_array a = as_real_array(obj, function, "keys", ndim, ndim, shape_doc, /*keep_half=*/true);
    if (a.is_float16) return fn(a.data<geomkit::float16>(), a);
    if (a.is_float32) return fn(a.data<float>(), a);
    return fn(a.data<double>(), a);
}

}  // namespace

void bind_bone_orientation(py::module_& m) {
    using result = geomkit::bone_orientation_result;
    py::class_<result>(m, "BoneOrientationResult", "Q/K bone-orientation metrics of a key snapshot.")
        .def_readonly("mean_coherence", &result::mean_coherence)
        .def_readonly("mean_cross_alignment", &result::mean_cross_alignment)
        .def_readonly("mean_head_entropy", &result::mean_head_entropy)
        .def_readonly("phase_lock_score", &result::phase_lock_score)
        .def_readonly("joint_collapse_count", &result::joint_collapse_count)
        .def_readonly("layer_coherence", &result::layer_coherence)
        .def_readonly("layer_cross_alignment", &result::layer_cross_alignment)
        .def_readonly("gqa", &result::gqa)
        .def("composite", &result::composite, "The 0-10000 integer score (truncated, then clamped).")
        .def("features", [](const result& r) {
            const auto f = r.features();
            return std::vector<double>(f.begin(), f.end());
        }, "mean_coherence, cross_alignment, head_entropy, phase_lock, joint_stability.")
        .def_static("feature_labels", [] {
            const auto& l = result::feature_labels();
            return std::vector<std::string>(l.begin(), l.end());
        })
        .def("__repr__", [](const result& r) {
            return "BoneOrientationResult(composite=" + std::to_string(r.composite()) +
                   ", mean_coherence=" + std::to_string(r.mean_coherence) + ", gqa=" + (r.gqa ? "True" : "False") +
                   ")";
        });

    m.def(
        "bone_orientation",
        [](py::handle keys, py::handle all_heads, py::handle threads) {
            geomkit::bone_orientation_options opt;
            opt.all_heads = bool_arg(all_heads, "bone_orientation", "all_heads");
            opt.threads = threads_arg(threads, "bone_orientation");
            return with_keys(keys, "bone_orientation", 4, "(L, H, S, D)", [&](auto* data, const real_array& a) {
                using T = std::remove_const_t<std::remove_pointer_t<decltype(data)>>;
                const auto& s = a.shape;
                const auto& st = a.strides;
                geomkit::key_snapshot<T> snap(data, s[0], s[1], s[2], s[3], st[0], st[1], st[2]);
                py::gil_scoped_release release;
                return geomkit::bone_orientation(snap, opt);
            });
        },
        py::arg("keys"), py::arg("all_heads") = false, py::arg("threads") = py::none(),
        "Bone-orientation coherence of keys (L layers, H KV heads, S positions, D dims), exactly as "
        "the reference engine: H <= 4 is the position-wise (GQA) mode on head 0, else multi-head. "
        "all_heads=True runs the position-wise analysis over every KV head (beyond the reference).");
    m.def(
        "head_entropy",
        [](py::handle keys) {
            return with_keys(keys, "head_entropy", 2, "(S, D)",
                             [&](auto* data, const real_array& a) {
                                 using T = std::remove_const_t<std::remove_pointer_t<decltype(data)>>;
                                 geomkit::matrix_view<const T> v(data, a.shape[0], a.shape[1],
                                                                 a.shape[0] > 1 ? a.strides[0] : a.shape[1]);
                                 py::gil_scoped_release release;
                                 return geomkit::head_entropy(v);
                             });
        },
        py::arg("keys"),
        "Normalised Shannon entropy (base 2, divided by log2 S) of the L2 norms of the S key "
        "positions of one head (S, D); 0 when S <= 1, D = 0 or every norm is 0.");
}

}  // namespace geomkit_py
