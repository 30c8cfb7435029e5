#include <geomkit/geomkit.hpp>

#include <cstdio>
#include <vector>

int main() {
    std::vector<float> x = {1, 2, 3, 4, 5, 6};
    auto v = geomkit::make_view(x.data(), 2, 3);
    const double d = geomkit::simd::dot(v.row(0), v.row(1), v.cols());  // 4 + 10 + 18
    geomkit::counter_rng rng(1, 2);
    const auto k = rng.uniform_index(10);
    std::printf("geomkit %s (%s): dot=%g draw=%u\n", GEOMKIT_VERSION_STRING,
                geomkit::simd::arch_name(), d, k);
    return d == 32.0 && k < 10 ? 0 : 1;
}
