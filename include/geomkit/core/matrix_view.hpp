// Non-owning views over strided row-major matrices.
//
// Every geomkit kernel takes its point clouds, representations and weight matrices as a
// `matrix_view<const T>`: `rows × cols` values of type T (float or double), row i
// starting at `data + i * row_stride`, the values of a row contiguous. A view can
// describe a whole buffer, a block of rows, or the first `cols` columns of a wider
// buffer, without copying. Views are GEOMKIT_HD so device code can use them too.
// Eigen interop lives in core/eigen.hpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../config.hpp"
#include "error.hpp"
#include "parallel.hpp"

namespace geomkit {

template <class T>
class matrix_view {
  public:
    using element_type = T;
    using value_type = std::remove_cv_t<T>;

    constexpr matrix_view() noexcept = default;  // defaulted: host and device alike
    GEOMKIT_HD constexpr matrix_view(T* data, index_t rows, index_t cols) noexcept
        : data_(data), rows_(rows), cols_(cols), row_stride_(cols) {}
    GEOMKIT_HD constexpr matrix_view(T* data, index_t rows, index_t cols, index_t row_stride) noexcept
        : data_(data), rows_(rows), cols_(cols), row_stride_(row_stride) {}

    // A view of non-const data converts to a view of const data.
    template <class U, class = std::enable_if_t<std::is_same<const U, T>::value &&
                                                !std::is_same<U, T>::value>>
    GEOMKIT_HD constexpr matrix_view(const matrix_view<U>& other) noexcept
        : data_(other.data()), rows_(other.rows()), cols_(other.cols()),
          row_stride_(other.row_stride()) {}

    GEOMKIT_HD constexpr T* data() const noexcept { return data_; }
    GEOMKIT_HD constexpr index_t rows() const noexcept { return rows_; }
    GEOMKIT_HD constexpr index_t cols() const noexcept { return cols_; }
    GEOMKIT_HD constexpr index_t row_stride() const noexcept { return row_stride_; }
    GEOMKIT_HD constexpr index_t size() const noexcept { return rows_ * cols_; }
    GEOMKIT_HD constexpr bool empty() const noexcept { return rows_ == 0 || cols_ == 0; }
    GEOMKIT_HD constexpr bool contiguous() const noexcept { return row_stride_ == cols_ || rows_ <= 1; }

    GEOMKIT_HD constexpr T* row(index_t i) const noexcept { return data_ + i * row_stride_; }
    GEOMKIT_HD constexpr T& operator()(index_t i, index_t j) const noexcept {
        return data_[i * row_stride_ + j];
    }

    // Rows [first, first + count).
    GEOMKIT_HD constexpr matrix_view middle_rows(index_t first, index_t count) const noexcept {
        return matrix_view(data_ + first * row_stride_, count, cols_, row_stride_);
    }
    // Columns [first, first + count) of every row.
    GEOMKIT_HD constexpr matrix_view middle_cols(index_t first, index_t count) const noexcept {
        return matrix_view(data_ + first, rows_, count, row_stride_);
    }

  private:
    T* data_ = nullptr;
    index_t rows_ = 0;
    index_t cols_ = 0;
    index_t row_stride_ = 0;
};

template <class T>
GEOMKIT_HD constexpr matrix_view<T> make_view(T* data, index_t rows, index_t cols) noexcept {
    return matrix_view<T>(data, rows, cols);
}
template <class T>
GEOMKIT_HD constexpr matrix_view<T> make_view(T* data, index_t rows, index_t cols,
                                              index_t row_stride) noexcept {
    return matrix_view<T>(data, rows, cols, row_stride);
}

namespace detail {

// Boundary check of a view's shape: non-negative sizes, a stride that keeps rows apart,
// and a pointer whenever there is something to read.
template <class T>
void check_view(const matrix_view<T>& x, const char* function, const char* argument) {
    if (x.rows() < 0 || x.cols() < 0)
        fail(function, argument, "must have non-negative rows and cols",
             concat(x.rows(), " x ", x.cols()));
    if (x.rows() > 1 && x.row_stride() < x.cols())
        fail(function, argument, "must have a row stride of at least cols",
             concat("row_stride ", x.row_stride(), " with ", x.cols(), " cols"));
    if (checked_extent({x.rows(), x.cols()}, {x.rows() > 1 ? x.row_stride() : 0, 1}) < 0)
        fail(function, argument, "must have a size and row stride whose element offsets fit in index_t",
             concat(x.rows(), " x ", x.cols(), ", row_stride ", x.row_stride()));
    require_data(x.data(), x.size(), function, argument);
}

template <class T>
void check_rows_at_least(const matrix_view<T>& x, index_t minimum, const char* function,
                         const char* argument) {
    check_view(x, function, argument);
    if (x.rows() < minimum)
        fail(function, argument, concat("must have at least ", minimum, " rows"),
             concat(x.rows(), " x ", x.cols()));
}

// True when none of the n values at p is NaN or ±Inf. An exponent field of all ones marks
// them; adding its lowest bit to the masked field carries into the sign bit exactly then,
// so the scan is and/add/or on integers: it vectorises at -O3 on any SIMD level, with no
// floating-point compare the compiler must keep in order.
template <class T>
bool all_finite(const T* p, index_t n) noexcept {
    static_assert(std::is_floating_point<T>::value, "geomkit: all_finite needs float or double");
    using bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    static_assert(sizeof(T) == sizeof(bits), "geomkit: all_finite needs IEEE float or double");
    constexpr bits exponent = sizeof(T) == 4 ? bits(0x7f800000u) : bits(0x7ff0000000000000ull);
    constexpr bits carry = exponent & (~exponent + 1);
    constexpr bits sign = bits(1) << (8 * sizeof(T) - 1);
    bits seen = 0;
    for (index_t j = 0; j < n; ++j) {
        bits b;
        std::memcpy(&b, p + j, sizeof b);
        seen |= (b & exponent) + carry;
    }
    return (seen & sign) == 0;
}

// Throws naming `argument` and the first non-finite value (row-major order) when x holds
// NaN or ±Inf. Large views are scanned by blocks of rows on geomkit's threads; the
// culprit is then located serially, so the message does not depend on the thread count.
// `threads` as in parallel_for (0 = geomkit::num_threads()).
template <class T>
void check_finite(const matrix_view<T>& x, const char* function, const char* argument, int threads = 0) {
    using value = std::remove_const_t<T>;
    const index_t rows = x.rows(), cols = x.cols();
    if (rows == 0 || cols == 0) return;
    auto rows_finite = [&](index_t begin, index_t end) {  // int, not bool: no vector<bool> slots
        int ok = 1;
        for (index_t i = begin; i < end; ++i) ok &= int(all_finite<value>(x.row(i), cols));
        return ok;
    };
    constexpr index_t block_values = index_t(1) << 18;  // 1-2 MiB a block
    const index_t block_rows = std::max<index_t>(1, block_values / cols);
    const int ok = rows * cols < 2 * block_values
                       ? rows_finite(0, rows)
                       : parallel_reduce(rows, block_rows, 1, rows_finite, [](int a, int b) { return a & b; }, threads);
    if (ok) return;
    for (index_t i = 0; i < rows; ++i) {
        const value* r = x.row(i);
        for (index_t j = 0; j < cols; ++j)
            if (!std::isfinite(r[j]))
                fail(function, argument, "must contain only finite values", concat(r[j], " at [", i, ", ", j, "]"));
    }
}

template <class T, class U>
void check_same_shape(const matrix_view<T>& a, const char* name_a, const matrix_view<U>& b,
                      const char* name_b, const char* function) {
    if (a.rows() != b.rows() || a.cols() != b.cols())
        fail(function, name_b, concat("must have the same shape as '", name_a, "' (",
                                      a.rows(), " x ", a.cols(), ")"),
             concat(b.rows(), " x ", b.cols()));
}

}  // namespace detail
}  // namespace geomkit
