// Eigen interop for matrix_view: map a view as an Eigen expression without copying, and
// view any row-major Eigen matrix, block or Ref as a matrix_view.
#pragma once

#include <Eigen/Core>
#include <type_traits>

#include "matrix_view.hpp"

namespace geomkit {

template <class T>
using eigen_row_major = Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <class T>
using eigen_map = Eigen::Map<std::conditional_t<std::is_const<T>::value, const eigen_row_major<T>, eigen_row_major<T>>,
                             Eigen::Unaligned, Eigen::OuterStride<>>;

// The view as an Eigen::Map (row-major, outer stride = row_stride).
template <class T>
eigen_map<T> as_eigen(const matrix_view<T>& x) {
    return eigen_map<T>(x.data(), x.rows(), x.cols(), Eigen::OuterStride<>(x.row_stride()));
}

namespace detail {
template <class Element, class Derived>
matrix_view<Element> eigen_view(const Derived& d) {
    static_assert(bool(Derived::IsRowMajor) || Derived::ColsAtCompileTime == 1,
                  "geomkit::make_view needs a row-major Eigen matrix (or a column vector)");
    if (d.innerStride() != 1 && d.cols() > 1)
        fail("make_view", "x", "must have unit inner stride", concat(d.innerStride()));
    const index_t stride = Derived::IsRowMajor ? index_t(d.outerStride()) : index_t(d.innerStride());
    return matrix_view<Element>(const_cast<Element*>(d.data()), d.rows(), d.cols(),
                                d.rows() > 1 ? stride : d.cols());
}
}  // namespace detail

// A view of a row-major Eigen object with unit inner stride (Matrix, Map, Block, Ref).
// A single column is accepted whatever its storage order.
template <class Derived>
auto make_view(Eigen::DenseBase<Derived>& x) {
    using scalar = typename Derived::Scalar;
    constexpr bool writable = bool(Eigen::internal::traits<Derived>::Flags & Eigen::LvalueBit);
    return detail::eigen_view<std::conditional_t<writable, scalar, const scalar>>(x.derived());
}

template <class Derived>
auto make_view(const Eigen::DenseBase<Derived>& x) {
    return detail::eigen_view<const typename Derived::Scalar>(x.derived());
}

}  // namespace geomkit
