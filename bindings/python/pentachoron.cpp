// pentachoron_cv and its mergeable partial statistics.
#include <geomkit/pentachoron.hpp>

#include "common.hpp"

namespace geomkit_py GEOMKIT_PY_HIDDEN {

namespace {

// The most samples one call draws (2^40, hours of work): the statistic streams (no
// per-sample storage), but a larger count would not finish.
constexpr long long max_samples = 1LL << 40;
constexpr long long max_count = 1LL << 62;

geomkit::pentachoron_params make_params(const char* fn, py::handle n_samples, py::handle pool, py::handle seed,
                                        py::handle eps, py::handle ddof, py::handle mean_eps, py::handle min_valid,
                                        py::handle method, py::handle threads) {
    geomkit::pentachoron_params p;
    p.n_samples = index_t(int_arg(n_samples, fn, "n_samples", 0, max_samples));
    if (!pool.is_none()) {
        if (PyBool_Check(pool.ptr()) || !PyIndex_Check(pool.ptr()))
            type_error(fn, "pool", "must be None or an integer in [0, " + std::to_string(max_count) + "]",
                       type_name(pool));
        p.pool = index_t(int_arg(pool, fn, "pool", 0, max_count));
    }
    p.seed = uint64_arg(seed, fn, "seed");
    p.eps = float_arg(eps, fn, "eps", 0.0);
    p.ddof = int(int_arg(ddof, fn, "ddof", 0, 1LL << 30));
    p.mean_eps = float_arg(mean_eps, fn, "mean_eps", 0.0);
    p.min_valid = index_t(int_arg(min_valid, fn, "min_valid", 0, max_count));
    const char* methods = "must be 'auto', 'direct' or 'pool_gram'";
    const std::string m = str_arg(method, fn, "method", methods);
    if (m == "auto")
        p.method = geomkit::pentachoron_method::automatic;
    else if (m == "direct")
        p.method = geomkit::pentachoron_method::direct;
    else if (m == "pool_gram")
        p.method = geomkit::pentachoron_method::pool_gram;
    else
        value_error(fn, "method", methods, short_repr(method));
    p.threads = threads_arg(threads, fn);
    return p;
}

geomkit::running_stats stats_arg(py::handle obj, const char* function, const char* argument) {
    if (!py::isinstance<geomkit::running_stats>(obj))
        type_error(function, argument, "must be a geomkit.RunningStats", type_name(obj));
    return obj.cast<geomkit::running_stats>();
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
        .def(py::init([](py::handle count_obj, py::handle mean_obj, py::handle m2_obj) {
                 const char* fn = "RunningStats";
                 const auto count = std::int64_t(int_arg(count_obj, fn, "count", 0, max_count));
                 const double mean = float_arg(mean_obj, fn, "mean", -HUGE_VAL, "must be a finite number");
                 const double m2 = float_arg(m2_obj, fn, "m2", 0.0);
                 if (count == 0 && (mean != 0.0 || m2 != 0.0))
                     value_error(fn, "mean, m2", "must both be 0 when count is 0",
                                 std::to_string(mean) + ", " + std::to_string(m2));
                 if (count == 1 && m2 != 0.0)
                     value_error(fn, "m2", "must be 0 when count is 1 (one sample has no spread)", std::to_string(m2));
                 return geomkit::running_stats{count, mean, m2};
             }),
             py::arg("count"), py::arg("mean"), py::arg("m2"))
        .def_readonly("count", &geomkit::running_stats::count)
        .def_readonly("mean", &geomkit::running_stats::mean)
        .def_readonly("m2", &geomkit::running_stats::m2)
        .def("merge",
             [](geomkit::running_stats& s, py::handle other) {
                 const auto o = stats_arg(other, "RunningStats.merge", "other");
                 if (o.count > max_count - s.count)
                     value_error("RunningStats.merge", "other", "must keep the merged count at most 2**62",
                                 std::to_string(s.count) + " + " + std::to_string(o.count));
                 s.merge(o);
                 return s;
             },
             py::arg("other"))
        .def("__repr__", [](const geomkit::running_stats& s) {
            return "RunningStats(count=" + std::to_string(s.count) + ", mean=" + std::to_string(s.mean) +
                   ", m2=" + std::to_string(s.m2) + ")";
        });

    m.def(
        "pentachoron_cv",
        [](py::handle X, py::handle n_samples, py::handle pool, py::handle seed, py::handle eps, py::handle ddof,
           py::handle mean_eps, py::handle min_valid, py::handle method, py::handle threads) {
            real_array a = matrix_arg(X, "pentachoron_cv");
            const auto p = make_params("pentachoron_cv", n_samples, pool, seed, eps, ddof, mean_eps, min_valid, method,
                                       threads);
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
        [](py::handle X, py::handle begin_obj, py::handle end_obj, py::handle n_samples, py::handle pool,
           py::handle seed, py::handle eps, py::handle threads) {
            const char* fn = "pentachoron_partial";
            real_array a = matrix_arg(X, fn);
            const auto p = make_params(fn, n_samples, pool, seed, eps, py::int_(0), py::float_(0.0), py::int_(1),
                                       py::str("auto"), threads);
            const index_t sample_begin = index_t(int_arg(begin_obj, fn, "sample_begin", 0, p.n_samples));
            const index_t sample_end = index_t(int_arg(end_obj, fn, "sample_end", sample_begin, p.n_samples));
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
        [](py::handle stats_obj, py::handle n_samples, py::handle ddof, py::handle mean_eps, py::handle min_valid) {
            const char* fn = "pentachoron_finish";
            const auto stats = stats_arg(stats_obj, fn, "stats");
            geomkit::pentachoron_params p;
            p.n_samples = index_t(int_arg(n_samples, fn, "n_samples", 0, max_count));
            p.ddof = int(int_arg(ddof, fn, "ddof", 0, 1LL << 30));
            p.mean_eps = float_arg(mean_eps, fn, "mean_eps", 0.0);
            p.min_valid = index_t(int_arg(min_valid, fn, "min_valid", 0, max_count));
            if (stats.count > p.n_samples)
                value_error(fn, "n_samples", "must be at least stats.count (" + std::to_string(stats.count) + ")",
                            std::to_string(p.n_samples));
            return geomkit::pentachoron_finish(stats, p);
        },
        py::arg("stats"), py::arg("n_samples"), py::arg("ddof") = 0, py::arg("mean_eps") = 0.0,
        py::arg("min_valid") = 1, "The PentachoronResult of merged RunningStats.");
}

}  // namespace geomkit_py
