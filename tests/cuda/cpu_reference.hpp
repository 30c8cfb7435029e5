// The CPU functions the CUDA tests compare with whose headers pull in Eigen's SVD and
// eigensolvers: compiled once by the C++ compiler (cpu_reference.cpp), so nvcc's front end
// never parses them.
#pragma once

#include <geomkit/core/matrix_view.hpp>

namespace geomkit_test {

double cpu_participation_ratio(geomkit::matrix_view<const float> X, bool centered = true);
double cpu_participation_ratio(geomkit::matrix_view<const double> X, bool centered = true);
void cpu_procrustes_batched(geomkit::matrix_view<const float> A, geomkit::matrix_view<const float> B,
                            geomkit::index_t n, geomkit::matrix_view<double> R, double* scale, bool proper = false);
void cpu_procrustes_batched(geomkit::matrix_view<const double> A, geomkit::matrix_view<const double> B,
                            geomkit::index_t n, geomkit::matrix_view<double> R, double* scale, bool proper = false);

}  // namespace geomkit_test
