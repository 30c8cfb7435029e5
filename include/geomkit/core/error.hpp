// The one error type geomkit throws, and the validation helpers every public function
// uses at its boundary. Messages follow one shape:
//
//     geomkit::<function>: argument '<name>' <what was expected> (got <what was given>)
//
// so a user can see which call and which argument went wrong without reading code.
// Core math (GEOMKIT_HD functions) never throws; only the host-side API layer does.
#pragma once

#include <cmath>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>

#include "../config.hpp"

namespace geomkit {

// Thrown for invalid arguments (sizes, shapes, non-finite values, out-of-range
// parameters) and, from the GPU headers, for failed device calls.
class error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

namespace detail {

template <class... Parts>
std::string concat(const Parts&... parts) {
    std::ostringstream out;
    out.precision(17);
    (out << ... << parts);
    return out.str();
}

[[noreturn]] inline void fail(const char* function, const char* argument,
                              const std::string& expected, const std::string& got) {
    std::string message = concat("geomkit::", function, ": argument '", argument, "' ", expected);
    if (!got.empty()) message += concat(" (got ", got, ")");
    throw error(message);
}

inline void require(bool ok, const char* function, const char* argument,
                    const char* expected, const std::string& got = std::string()) {
    if (!ok) fail(function, argument, expected, got);
}

inline void require_at_least(index_t value, index_t minimum, const char* function,
                             const char* argument) {
    if (value < minimum) fail(function, argument, concat("must be at least ", minimum), concat(value));
}

inline void require_non_negative(index_t value, const char* function, const char* argument) {
    if (value < 0) fail(function, argument, "must be non-negative", concat(value));
}

// Size check that keeps a non-null pointer contract: data may be null only when the
// described extent is empty.
inline void require_data(const void* data, index_t count, const char* function,
                         const char* argument) {
    if (data == nullptr && count > 0)
        fail(function, argument, "is a null pointer with non-zero size", concat(count, " elements"));
}

// a * b for non-negative a, b; false (out untouched) when it does not fit in index_t.
inline bool product_fits(index_t a, index_t b, index_t& out) noexcept {
    if (a < 0 || b < 0) return false;
    if (a != 0 && b > std::numeric_limits<index_t>::max() / a) return false;
    out = a * b;
    return true;
}

// a + b for non-negative a, b; false when it does not fit.
inline bool sum_fits(index_t a, index_t b, index_t& out) noexcept {
    if (a < 0 || b < 0 || b > std::numeric_limits<index_t>::max() - a) return false;
    out = a + b;
    return true;
}

// The elements a strided extent addresses, 1 + Σ (size_i - 1)·stride_i over the axes
// (sizes and strides non-negative), or -1 when that or the product of the sizes does not
// fit in index_t: views whose index arithmetic would overflow are refused up front.
inline index_t checked_extent(std::initializer_list<index_t> sizes, std::initializer_list<index_t> strides) noexcept {
    index_t count = 1, last = 0;
    auto st = strides.begin();
    for (index_t n : sizes) {
        const index_t stride = st == strides.end() ? 0 : *st++;
        if (!product_fits(count, n, count)) return -1;
        if (n > 0) {
            index_t step = 0;
            if (!product_fits(n - 1, stride, step) || !sum_fits(last, step, last)) return -1;
        }
    }
    if (count == 0) return 0;
    return last == std::numeric_limits<index_t>::max() ? -1 : last + 1;  // the count of elements must fit too
}

}  // namespace detail
}  // namespace geomkit
