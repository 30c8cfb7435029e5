// Running mean and variance (Welford) whose partial results merge exactly in the sense
// of Chan et al.: merging the statistics of two shards gives the statistics of their
// union up to rounding, with count exact. Sampled kernels keep one per chunk of samples
// and merge them in a fixed order, so a job can be split across threads, devices or
// machines and recombined.
#pragma once

#include <cmath>
#include <cstdint>

#include "../config.hpp"

namespace geomkit {

struct running_stats {
    std::int64_t count = 0;
    double mean = 0.0;
    double m2 = 0.0;  // sum of squared deviations from the mean

    GEOMKIT_HD void add(double x) noexcept {
        ++count;
        const double delta = x - mean;
        mean += delta / double(count);
        m2 += delta * (x - mean);
    }

    GEOMKIT_HD void merge(const running_stats& other) noexcept {
        if (other.count == 0) return;
        if (count == 0) {
            *this = other;
            return;
        }
        const double n = double(count + other.count);
        const double delta = other.mean - mean;
        mean += delta * (double(other.count) / n);
        m2 += other.m2 + delta * delta * (double(count) * double(other.count) / n);
        count += other.count;
    }

    // Variance with `ddof` delta degrees of freedom; NaN when count <= ddof.
    GEOMKIT_HD double variance(int ddof = 0) const noexcept {
        return count > ddof ? m2 / double(count - ddof) : NAN;
    }
    GEOMKIT_HD double stddev(int ddof = 0) const noexcept { return std::sqrt(variance(ddof)); }
};

GEOMKIT_HD inline running_stats merged(running_stats a, const running_stats& b) noexcept {
    a.merge(b);
    return a;
}

}  // namespace geomkit
