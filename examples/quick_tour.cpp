// A first look at geomkit's core: a strided view over an embedding-like table, SIMD
// dot products accumulated in double, and reproducible sampling of rows.
#include <geomkit/geomkit.hpp>

#include <cstdio>
#include <vector>

int main() {
    const geomkit::index_t vocab = 1000, dim = 64;
    std::vector<float> table(std::size_t(vocab * dim));
    geomkit::counter_rng fill(2026, 0);
    for (auto& x : table) x = float(fill.next_double() - 0.5);
    auto E = geomkit::make_view(table.data(), vocab, dim);

    // Five distinct rows, reproducible from (seed, sample index) at any thread count.
    geomkit::counter_rng rng(/*seed=*/0, /*stream=*/42);
    std::uint32_t rows[5];
    geomkit::sample_distinct(rng, std::uint32_t(vocab), 5, rows);

    std::printf("geomkit %s, SIMD path %s, %d threads\n", GEOMKIT_VERSION_STRING,
                geomkit::simd::arch_name(), geomkit::num_threads());
    for (int i = 1; i < 5; ++i)
        std::printf("|e%u - e%u|^2 = %.12f\n", rows[0], rows[i],
                    geomkit::simd::squared_distance(E.row(rows[0]), E.row(rows[i]), dim));
    return 0;
}
