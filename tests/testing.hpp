// Shared test helpers: Catch2 v2 (Debian) or v3, and small reference utilities.
#pragma once

#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
#endif

#include <geomkit/core/error.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace geomkit_test {

// Checks that `fn` throws geomkit::error whose message contains every fragment.
template <class Fn>
void require_error(Fn&& fn, std::initializer_list<const char*> fragments) {
    try {
        fn();
    } catch (const geomkit::error& e) {
        const std::string what = e.what();
        for (const char* f : fragments) {
            INFO("message: " << what);
            CHECK(what.find(f) != std::string::npos);
        }
        return;
    }
    FAIL("expected geomkit::error");
}

template <class T>
std::vector<T> random_vector(std::size_t n, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
    std::mt19937_64 gen(seed);
    std::uniform_real_distribution<double> dist(lo, hi);
    std::vector<T> v(n);
    for (auto& x : v) x = T(dist(gen));
    return v;
}

}  // namespace geomkit_test
