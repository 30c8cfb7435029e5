// libFuzzer harness: orthogonal_procrustes, procrustes_align and the batched solver.
// Oracle beyond "no crash": for finite input R is finite and orthogonal, and scale
// matches the sum of singular values of AᵀB computed independently (Eigen's JacobiSVD
// on copies scaled by powers of two, so the reference itself cannot overflow).
#include <Eigen/SVD>
#include <geomkit/procrustes.hpp>

#include "fuzz_input.hpp"

using namespace geomkit_fuzz;

// Σσ(AᵀB) as scale·2^e (exponent returned separately), computed on scaled copies.
template <class T>
double reference_scale(const fuzz_matrix<T>& a, const fuzz_matrix<T>& b, bool centre, int& exponent) {
    const index_t n = a.rows, d = a.cols;
    int ea = 0, eb = 0;
    std::frexp(a.max_abs, &ea);
    std::frexp(b.max_abs, &eb);
    Eigen::MatrixXd A(n, d), B(n, d);
    for (index_t i = 0; i < n; ++i)
        for (index_t j = 0; j < d; ++j) {
            A(i, j) = std::ldexp(double(a.view()(i, j)), -ea);
            B(i, j) = std::ldexp(double(b.view()(i, j)), -eb);
        }
    if (centre) {
        A.rowwise() -= A.colwise().mean();
        B.rowwise() -= B.colwise().mean();
    }
    Eigen::JacobiSVD<Eigen::MatrixXd> svd(A.transpose() * B);
    exponent = ea + eb;
    return svd.singularValues().sum();
}

template <class T>
void run(FuzzedDataProvider& in) {
    const int which = in.ConsumeIntegralInRange<int>(0, 2);
    const bool proper = in.ConsumeBool();
    auto a = draw_matrix<T>(in, 0, 24, 0, 10);
    auto b = draw_matrix<T>(in, a.rows, in.ConsumeBool() ? a.rows : a.rows + 1, a.cols, a.cols);
    if (which == 2) {
        const index_t n = in.ConsumeIntegralInRange<index_t>(-1, 6);
        const index_t d = a.cols, batch = n > 0 ? a.rows / n : 0;
        std::vector<double> R(std::size_t(std::max<index_t>(batch * d * d, 1))), s(std::size_t(std::max<index_t>(batch, 1)));
        geomkit::matrix_view<double> rv(R.data(), batch * d, d);
        guarded([&] {
            geomkit::orthogonal_procrustes_batched(a.view(), b.view(), n, rv, s.data(), proper);
            if (a.finite && b.finite && !all_finite(R.data(), std::size_t(batch * d * d)))
                finding("batched procrustes: non-finite R from finite input");
        });
        return;
    }
    geomkit::row_major_matrix R;
    double scale = 0;
    bool ok = guarded([&] {
        if (which == 0) {
            auto r = geomkit::orthogonal_procrustes(a.view(), b.view(), proper);
            R = r.R;
            scale = r.scale;
        } else {
            auto r = geomkit::procrustes_align(a.view(), b.view(), proper);
            R = r.R;
            scale = r.scale;
            if (a.finite && b.finite && !std::isfinite(r.mean_cosine)) finding("procrustes_align: non-finite mean_cosine");
        }
    });
    if (!ok || !a.finite || !b.finite) return;
    const index_t d = a.cols;
    if (R.rows() != d || R.cols() != d) finding("procrustes: R has the wrong shape");
    if (!all_finite(R.data(), std::size_t(R.size()))) finding("procrustes: non-finite R from finite input");
    const double orth = (R.transpose() * R - Eigen::MatrixXd::Identity(d, d)).cwiseAbs().maxCoeff();
    if (d > 0 && orth > 1e-6) finding("procrustes: R not orthogonal (" + std::to_string(orth) + ")");
    if (proper && d > 0 && R.determinant() < 0) finding("procrustes: proper=True gave det R < 0");
    if (!proper && a.rows > 0 && d > 0) {
        int e = 0;
        const double ref = reference_scale(a, b, which == 1, e);
        const double got = std::ldexp(scale, -e);
        // Where Σσ lies below the normal doubles (2^-1022) the returned scale is rounded to
        // the subnormal grid or flushed to 0: compare it in absolute terms there.
        const double true_scale = std::ldexp(ref, e);
        if (true_scale < 0x1p-1000) {
            if (!(scale >= 0 && scale <= std::max(2 * true_scale, 0x1p-1000)))
                finding("procrustes: scale " + std::to_string(scale) + " for a true scale below 2^-1000");
        } else if (std::isfinite(true_scale) && std::fabs(got - ref) > 1e-6 * ref + 1e-200)
            finding("procrustes: scale " + std::to_string(got) + " vs reference " + std::to_string(ref) + " (x2^" +
                    std::to_string(e) + ")");
    }
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    if (in.ConsumeBool()) run<float>(in);
    else run<double>(in);
    return 0;
}
