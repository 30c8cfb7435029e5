// Non-owning views over batches of small row-major matrices: `batch` matrices of
// `rows × cols` values, matrix b starting at `data + b * batch_stride`, its row i at
// `+ i * row_stride`, the values of a row contiguous. A contiguous `batch × rows × cols`
// array (numpy's C order) has batch_stride = rows * cols and row_stride = cols; a view
// into a wider buffer, or every other matrix of a stack, only changes the strides.
#pragma once

#include <type_traits>

#include "../config.hpp"
#include "error.hpp"
#include "matrix_view.hpp"

namespace geomkit {

template <class T>
class batch_view {
  public:
    using element_type = T;
    using value_type = std::remove_cv_t<T>;

    constexpr batch_view() noexcept = default;  // defaulted: host and device alike
    // Contiguous batch × rows × cols.
    GEOMKIT_HD constexpr batch_view(T* data, index_t batch, index_t rows, index_t cols) noexcept
        : data_(data), batch_(batch), rows_(rows), cols_(cols), batch_stride_(rows * cols),
          row_stride_(cols) {}
    GEOMKIT_HD constexpr batch_view(T* data, index_t batch, index_t rows, index_t cols,
                                    index_t batch_stride, index_t row_stride) noexcept
        : data_(data), batch_(batch), rows_(rows), cols_(cols), batch_stride_(batch_stride),
          row_stride_(row_stride) {}

    template <class U, class = std::enable_if_t<std::is_same<const U, T>::value &&
                                                !std::is_same<U, T>::value>>
    GEOMKIT_HD constexpr batch_view(const batch_view<U>& other) noexcept
        : data_(other.data()), batch_(other.batch()), rows_(other.rows()), cols_(other.cols()),
          batch_stride_(other.batch_stride()), row_stride_(other.row_stride()) {}

    GEOMKIT_HD constexpr T* data() const noexcept { return data_; }
    GEOMKIT_HD constexpr index_t batch() const noexcept { return batch_; }
    GEOMKIT_HD constexpr index_t rows() const noexcept { return rows_; }
    GEOMKIT_HD constexpr index_t cols() const noexcept { return cols_; }
    GEOMKIT_HD constexpr index_t batch_stride() const noexcept { return batch_stride_; }
    GEOMKIT_HD constexpr index_t row_stride() const noexcept { return row_stride_; }

    // Matrix b of the batch.
    GEOMKIT_HD constexpr matrix_view<T> operator[](index_t b) const noexcept {
        return matrix_view<T>(data_ + b * batch_stride_, rows_, cols_, row_stride_);
    }

  private:
    T* data_ = nullptr;
    index_t batch_ = 0;
    index_t rows_ = 0;
    index_t cols_ = 0;
    index_t batch_stride_ = 0;
    index_t row_stride_ = 0;
};

namespace detail {

// Boundary check of a batch view: non-negative sizes, row and batch strides that keep
// rows and matrices from overlapping, a pointer whenever there is something to read.
template <class T>
void check_batch_view(const batch_view<T>& x, const char* function, const char* argument) {
    if (x.batch() < 0 || x.rows() < 0 || x.cols() < 0)
        fail(function, argument, "must have non-negative batch, rows and cols",
             concat(x.batch(), " x ", x.rows(), " x ", x.cols()));
    if (x.rows() > 1 && x.row_stride() < x.cols())
        fail(function, argument, "must have a row stride of at least cols",
             concat("row_stride ", x.row_stride(), " with ", x.cols(), " cols"));
    const index_t extent = checked_extent({x.rows(), x.cols()}, {x.rows() > 1 ? x.row_stride() : 0, 1});
    if (extent < 0 || checked_extent({x.batch(), x.rows(), x.cols()},
                                     {x.batch() > 1 ? x.batch_stride() : 0, x.rows() > 1 ? x.row_stride() : 0, 1}) < 0)
        fail(function, argument, "must have sizes and strides whose element offsets fit in index_t",
             concat(x.batch(), " x ", x.rows(), " x ", x.cols(), ", batch_stride ", x.batch_stride(), ", row_stride ",
                    x.row_stride()));
    if (x.batch() > 1 && x.batch_stride() < extent)
        fail(function, argument, "must have a batch stride of at least (rows - 1) * row_stride + cols",
             concat("batch_stride ", x.batch_stride(), " with matrices spanning ", extent, " values"));
    require_data(x.data(), x.batch() * x.rows() * x.cols(), function, argument);
}

}  // namespace detail
}  // namespace geomkit
