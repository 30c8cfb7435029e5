// pentachoron_cv and its mergeable partial statistics.
#include <geomkit/pentachoron.hpp>

#include "common.hpp"

namespace geomkit_py GEOMKIT_PY_HIDDEN {

namespace {

geomkit::pentachoron_params make_params(index_t n_samples, const py::object& pool, std::uint64_t seed, double eps,
                                        int ddof, double mean_eps, index_t min_valid, const std::string& method,
                                        const py::object& threads) {
    geomkit::pentachoron_params p;
    p.n_samples = n_samples;
    if (!pool.is_none()) p.pool = pool.cast<index_t>();
    p.seed = seed;
    p.eps = eps;
    p.ddof = ddof;
    p.mean_eps = mean_eps;
    p.min_valid = min_valid;
    if (method == "auto")
        p.method = geomkit::pentachoron_method::automatic;
    else if (method == "direct")
        p.method = geomkit::pentachoron_method::direct;
    else if (method == "pool_gram")
        p.method = geomkit::pentachoron_method::pool_gram;
    else
        value_error("pentachoron_cv", "method", "must be 'auto', 'direct' or 'pool_gram'", method);
    p.threads = threads_arg(threads, "pentachoron_cv");
    return p;
}

real_array matrix_arg(py::handle X, const char* function) {
    return as_real_array(X, function, "X", 2, 2, "(n, d)");
}

}  // namespace

void bind_pentachoron(py::module_& m) {
    py::class_<geomkit::pentachoron_result>(m, "PentachoronResult",
                                            "Pentachoron CV: cv is None when there is none (fewer than "
                                            "min_valid valid samples, or fewer than 5 rows).")
        .def_property_readonly("cv", [](const geomkit::pentachoron_result& r) -> py::object {
            return r.cv ? py::object(py::float_(*r.cv)) : py::object(py::none());
        })
        .def_readonly("mean", &geomkit::pentachoron_result::mean)
        .def_readonly("std", &geomkit::pentachoron_result::std)
        .def_readonly("n_valid", &geomkit::pentachoron_result::n_valid)
        .def_readonly("n_samples", &geomkit::pentachoron_result::n_samples)
        .def_readonly("in_band", &geomkit::pentachoron_result::in_band)
        .def("__repr__", [](const geomkit::pentachoron_result& r) {
            return "PentachoronResult(cv=" + (r.cv ? std::to_string(*r.cv) : std::string("None")) +
                   ", mean=" + std::to_string(r.mean) + ", std=" + std::to_string(r.std) +
                   ", n_valid=" + std::to_string(r.n_valid) + ", n_samples=" + std::to_string(r.n_samples) +
                   ", in_band=" + (r.in_band ? "True" : "False") + ")";
        });

    py::class_<geomkit::running_stats>(m, "RunningStats",
                                       "count, mean and M2 of a shard of samples; merge() combines shards.")
        .def(py::init<>())
        .def(py::init([](std::int64_t count, double mean, double m2) {
                 return geomkit::running_stats{count, mean, m2};
             }),
             py::arg("count"), py::arg("mean"), py::arg("m2"))
        .def_readonly("count", &geomkit::running_stats::count)
        .def_readonly("mean", &geomkit::running_stats::mean)
        .def_readonly("m2", &geomkit::running_stats::m2)
        .def("merge", [](geomkit::running_stats& s, const geomkit::running_stats& o) { s.merge(o); return s; },
             py::arg("other"))
        .def("__repr__", [](const geomkit::running_stats& s) {
            return "RunningStats(count=" + std::to_string(s.count) + ", mean=" + std::to_string(s.mean) +
                   ", m2=" + std::to_string(s.m2) + ")";
        });

    m.def(
        "pentachoron_cv",
        [](py::handle X, index_t n_samples, const py::object& pool, std::uint64_t seed, double eps, int ddof,
           double mean_eps, index_t min_valid, const std::string& method, const py::object& threads) {
            real_array a = matrix_arg(X, "pentachoron_cv");
            const auto p = make_params(n_samples, pool, seed, eps, ddof, mean_eps, min_valid, method, threads);
            return visit_real(a, [&](auto tag) {
                using T = decltype(tag);
                const auto v = view2d<T>(a);
                py::gil_scoped_release release;
                return geomkit::pentachoron_cv(v, p);
            });
        },
        py::arg("X"), py::arg("n_samples") = 1000, py::arg("pool") = py::none(), py::arg("seed") = 0,
        py::arg("eps") = 0.0, py::arg("ddof") = 0, py::arg("mean_eps") = 0.0, py::arg("min_valid") = 1,
        py::arg("method") = "auto", py::arg("threads") = py::none(),
        "Coefficient of variation of 4-simplex volumes over n_samples random 5-row subsets of the "
        "first `pool` rows of X (n, d). Defaults are the notebook battery; the attention probe is "
        "pool=min(n, 512), n_samples=300, eps=1e-20, ddof=1, mean_eps=1e-8, min_valid=10. Sample i "
        "is drawn from (seed, i) alone: the result is the same at any thread count.");
    m.def(
        "pentachoron_partial",
        [](py::handle X, index_t sample_begin, index_t sample_end, index_t n_samples, const py::object& pool,
           std::uint64_t seed, double eps, const py::object& threads) {
            real_array a = matrix_arg(X, "pentachoron_partial");
            const auto p = make_params(n_samples, pool, seed, eps, 0, 0.0, 1, "auto", threads);
            return visit_real(a, [&](auto tag) {
                using T = decltype(tag);
                const auto v = view2d<T>(a);
                py::gil_scoped_release release;
                return geomkit::pentachoron_partial(v, p, sample_begin, sample_end);
            });
        },
        py::arg("X"), py::arg("sample_begin"), py::arg("sample_end"), py::arg("n_samples") = 1000,
        py::arg("pool") = py::none(), py::arg("seed") = 0, py::arg("eps") = 0.0, py::arg("threads") = py::none(),
        "RunningStats of the valid volumes of samples [sample_begin, sample_end): shards computed "
        "anywhere merge (in sample order) into the statistics of the whole job.");
    m.def(
        "pentachoron_finish",
        [](const geomkit::running_stats& stats, index_t n_samples, int ddof, double mean_eps, index_t min_valid) {
            geomkit::pentachoron_params p;
            p.n_samples = n_samples;
            p.ddof = ddof;
            p.mean_eps = mean_eps;
            p.min_valid = min_valid;
            return geomkit::pentachoron_finish(stats, p);
        },
        py::arg("stats"), py::arg("n_samples"), py::arg("ddof") = 0, py::arg("mean_eps") = 0.0,
        py::arg("min_valid") = 1, "The PentachoronResult of merged RunningStats.");
}

}  // namespace geomkit_py
