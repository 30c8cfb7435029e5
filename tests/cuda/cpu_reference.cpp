#include "cpu_reference.hpp"

#include <geomkit/procrustes.hpp>
#include <geomkit/spectrum.hpp>

namespace geomkit_test {

double cpu_participation_ratio(geomkit::matrix_view<const float> X, bool centered) {
    return geomkit::participation_ratio(X, centered);
}
double cpu_participation_ratio(geomkit::matrix_view<const double> X, bool centered) {
    return geomkit::participation_ratio(X, centered);
}
void cpu_procrustes_batched(geomkit::matrix_view<const float> A, geomkit::matrix_view<const float> B,
                            geomkit::index_t n, geomkit::matrix_view<double> R, double* scale, bool proper) {
    geomkit::orthogonal_procrustes_batched(A, B, n, R, scale, proper);
}
void cpu_procrustes_batched(geomkit::matrix_view<const double> A, geomkit::matrix_view<const double> B,
                            geomkit::index_t n, geomkit::matrix_view<double> R, double* scale, bool proper) {
    geomkit::orthogonal_procrustes_batched(A, B, n, R, scale, proper);
}

}  // namespace geomkit_test
