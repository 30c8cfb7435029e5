// Shared input decoding and oracle for the libFuzzer harnesses in this directory.
//
// Every harness turns the fuzzer's bytes into arguments of one public geomkit function
// family: shapes, row/batch strides (dense, padded, zero, negative, smaller than a row,
// huge where the layout allows it), float or double values from a magnitude chosen
// between denormal and 1e308, NaN/Inf placed at chosen positions, and parameter values.
// The oracle:
//   * a geomkit::error whose message names the function and an argument is fine;
//   * any other exception, or a crash/UB (ASan/UBSan), is a finding;
//   * where the contract promises a finite result for finite input, a non-finite one is
//     a finding (abort with a message);
//   * harnesses compare with an independent Eigen computation where one exists.
#pragma once

#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <vector>

#include <geomkit/core/error.hpp>
#include <geomkit/core/matrix_view.hpp>

namespace geomkit_fuzz {

using geomkit::index_t;

[[noreturn]] inline void finding(const std::string& what) {
    std::fprintf(stderr, "geomkit fuzz finding: %s\n", what.c_str());
    std::abort();
}

// An error is acceptable only in the documented form "geomkit::<fn>: argument '<a>' ...".
inline void check_error(const geomkit::error& e) {
    const std::string m = e.what();
    if (m.rfind("geomkit::", 0) != 0 || m.find("argument '") == std::string::npos)
        finding("error message without function/argument: " + m);
}

// Runs body(); geomkit::error is accepted (message checked), anything else is a finding.
template <class Body>
bool guarded(Body&& body) {
    try {
        body();
        return true;
    } catch (const geomkit::error& e) {
        check_error(e);
    } catch (const std::bad_alloc&) {
        finding("std::bad_alloc for a small input");
    } catch (const std::exception& e) {
        finding(std::string("unexpected exception: ") + e.what());
    } catch (...) {
        finding("unexpected non-standard exception");
    }
    return false;
}

template <class T>
struct fuzz_matrix {
    std::vector<T> buffer;
    index_t rows = 0, cols = 0, stride = 0;
    bool layout_valid = true;  // the documented layout rules hold
    bool finite = true;        // every value in the view is finite
    double max_abs = 0;

    geomkit::matrix_view<const T> view() const {
        return geomkit::matrix_view<const T>(buffer.empty() ? nullptr : buffer.data(), rows, cols, stride);
    }
};

// A value of magnitude about 10^exponent (0 keeps it; denormals and overflow to Inf in
// float are deliberate), or a special value.
template <class T>
T draw_value(FuzzedDataProvider& in, int exponent) {
    const std::uint8_t kind = in.ConsumeIntegral<std::uint8_t>();
    if (kind < 4) return T(0);
    if (kind == 4) return std::numeric_limits<T>::denorm_min();
    if (kind == 5) return std::numeric_limits<T>::max();
    if (kind == 6) return -std::numeric_limits<T>::min();
    const double unit = (double(in.ConsumeIntegral<std::int16_t>()) + 0.5) / 32768.0;
    return T(unit * std::pow(10.0, double(exponent)));
}

// Rows x cols (each at most max_dim) with a chosen row stride and value distribution.
template <class T>
fuzz_matrix<T> draw_matrix(FuzzedDataProvider& in, index_t min_rows, index_t max_rows, index_t min_cols,
                           index_t max_cols) {
    fuzz_matrix<T> m;
    m.rows = in.ConsumeIntegralInRange<index_t>(min_rows, max_rows);
    m.cols = in.ConsumeIntegralInRange<index_t>(min_cols, max_cols);
    switch (in.ConsumeIntegralInRange<int>(0, 7)) {
        case 0: case 1: case 2: m.stride = m.cols; break;
        case 3: m.stride = m.cols + in.ConsumeIntegralInRange<index_t>(1, 9); break;
        case 4: m.stride = 0; break;                                                         // zero stride
        case 5: m.stride = -in.ConsumeIntegralInRange<index_t>(1, 1 << 20); break;          // negative
        case 6: m.stride = m.cols > 0 ? m.cols - 1 : 0; break;                              // overlapping rows
        default: m.stride = std::numeric_limits<index_t>::max() - in.ConsumeIntegral<std::uint8_t>(); break;  // huge
    }
    const bool needs_stride = m.rows > 1;
    m.layout_valid = !needs_stride || m.stride >= m.cols;
    if (needs_stride && m.stride > (index_t(1) << 20)) {
        // A huge stride only fits in memory with at most one row: the harness keeps the
        // memory contract (the caller owns every addressed element) and lets the size
        // checks see the huge product only through index arithmetic.
        m.rows = 1;
        m.layout_valid = true;
    }
    const index_t span = m.rows == 0 ? 0
                         : (m.layout_valid ? (m.rows - 1) * (m.rows > 1 ? m.stride : 0) + m.cols
                                           : m.rows * (m.cols + 1));
    m.buffer.assign(std::size_t(span), T(0));
    const int exponent = in.ConsumeIntegralInRange<int>(-330, 310);
    const bool spread = in.ConsumeBool();  // each value its own magnitude within +-8 decades
    for (index_t i = 0; i < m.rows; ++i)
        for (index_t j = 0; j < m.cols; ++j) {
            const int e = spread ? exponent + in.ConsumeIntegralInRange<int>(-8, 8) : exponent;
            const index_t at = m.layout_valid ? i * (m.rows > 1 ? m.stride : 0) + j : i * (m.cols + 1) + j;
            m.buffer[std::size_t(at)] = draw_value<T>(in, e);
        }
    // NaN/Inf placement: up to two chosen positions.
    const int specials = in.ConsumeIntegralInRange<int>(0, 8) < 7 ? 0 : in.ConsumeIntegralInRange<int>(1, 2);
    for (int s = 0; s < specials && m.rows > 0 && m.cols > 0; ++s) {
        const index_t i = in.ConsumeIntegralInRange<index_t>(0, m.rows - 1), j = in.ConsumeIntegralInRange<index_t>(0, m.cols - 1);
        const index_t at = m.layout_valid ? i * (m.rows > 1 ? m.stride : 0) + j : i * (m.cols + 1) + j;
        const int k = in.ConsumeIntegralInRange<int>(0, 2);
        m.buffer[std::size_t(at)] = k == 0 ? std::numeric_limits<T>::quiet_NaN()
                                    : k == 1 ? std::numeric_limits<T>::infinity() : -std::numeric_limits<T>::infinity();
    }
    if (m.layout_valid)
        for (index_t i = 0; i < m.rows; ++i)
            for (index_t j = 0; j < m.cols; ++j) {
                const double v = double(m.buffer[std::size_t(i * (m.rows > 1 ? m.stride : 0) + j)]);
                if (!std::isfinite(v)) m.finite = false;
                else m.max_abs = std::max(m.max_abs, std::fabs(v));
            }
    return m;
}

inline bool all_finite(const double* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
        if (!std::isfinite(p[i])) return false;
    return true;
}

}  // namespace geomkit_fuzz
