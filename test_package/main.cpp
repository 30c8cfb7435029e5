#include <geomkit/geomkit.hpp>

#include <cstdio>
#include <vector>

int main() {
    // 3-4-5 triangle legs, 9 entries long so the SIMD loop and its tail both run.
    std::vector<double> a(9, 3.0), b(9, 4.0);
    const double d = geomkit::simd::squared_distance(a.data(), b.data(), 9);
    const double n = geomkit::simd::squared_norm(a.data(), 9);
    std::printf("geomkit %s (%s): squared_distance=%g squared_norm=%g\n", GEOMKIT_VERSION_STRING,
                geomkit::simd::arch_name(), d, n);
    return d == 9.0 && n == 81.0 ? 0 : 1;
}
