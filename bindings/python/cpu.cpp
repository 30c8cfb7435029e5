// _cpu: which SIMD levels this processor (and its OS) can run. Built with baseline flags
// so importing it is always safe; geomkit/_loader.py uses it to choose a module variant.
#include <pybind11/pybind11.h>

#include <string>

namespace {
bool supports(const std::string& level) {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (level == "sse2") return __builtin_cpu_supports("sse2");
    if (level == "avx2") return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (level == "avx512")
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512vl");
    return level == "native";
#else
    return level == "native";
#endif
}
}  // namespace

PYBIND11_MODULE(_cpu, m) {
    m.def("supports", &supports, pybind11::arg("level"),
          "Whether this CPU can run the given SIMD level (sse2, avx2, avx512, native).");
}
