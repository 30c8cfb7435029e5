// The one error type geomkit throws, and the validation helpers every public function
// uses at its boundary. Messages follow one shape:
//
//     geomkit::<function>: argument '<name>' <what was expected> (got <what was given>)
//
// so a user can see which call and which argument went wrong without reading code.
// Core math (GEOMKIT_HD functions) never throws; only the host-side API layer does.
#pragma once

#include <cmath>
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

}  // namespace detail
}  // namespace geomkit
