// Multi-threaded, deterministic Gram products of row-major views, accumulated in double:
// the shared engine behind procrustes.hpp (AᵀB) and spectrum.hpp (XcᵀXc or XcXcᵀ).
//
// The depth (the summed-over index) is walked in chunks: each chunk of the centred inputs
// is packed once (threads split the rows), then the output, cut into square tiles of
// `tile` columns, is updated tile by tile in parallel, each tile summing the chunk in
// blocks of `depth_block` with Eigen's GEMM (its rank update on diagonal tiles of a
// symmetric product). Every output entry is updated by one task at a time in one fixed
// order, so the result is bitwise the same at any thread count, and no per-thread copy of
// the output is kept. `Work` is the precision of the products: double, or float for the fast
// participation-ratio path, whose per-block float results are summed in double so float
// rounding never accumulates over more than `depth_block` terms.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <type_traits>
#include <vector>

#include "../core/matrix_view.hpp"
#include "../core/parallel.hpp"

namespace geomkit {
namespace detail {

// Which index is summed over: the rows (XᵀY, d × d) or the columns (XYᵀ, n × n).
enum class gram_depth { rows, cols };

struct gram_tiling {
    index_t tile = 256;
    index_t depth_block = 512;
};

inline index_t default_gram_tile(index_t width) {
    const index_t quarter = (width / 4 + 63) / 64 * 64;
    return std::min<index_t>(512, std::max<index_t>(256, quarter));
}

// Packs the depth block [k0, k0+kn) × width block [c0, c0+cn) of (X − mean) into P
// (kn × cn; row-major when the depth runs over rows, column-major otherwise, so X is read
// along its rows), mean indexed by the column of X (may be null).
template <class Work, class T, class Panel>
void pack_gram_panel(const matrix_view<const T>& X, const double* mean, gram_depth depth,
                     index_t k0, index_t kn, index_t c0, index_t cn, Panel&& P) {
    GEOMKIT_ASSERT(P.rows() == kn && P.cols() == cn);
    if (depth == gram_depth::rows) {
        for (index_t k = 0; k < kn; ++k) {
            const T* row = X.row(k0 + k) + c0;
            Work* out = &P(k, 0);
            if (mean)
                for (index_t c = 0; c < cn; ++c) out[c] = Work(double(row[c]) - mean[c0 + c]);
            else
                for (index_t c = 0; c < cn; ++c) out[c] = Work(row[c]);
        }
    } else {
        for (index_t c = 0; c < cn; ++c) {
            const T* row = X.row(c0 + c) + k0;
            Work* out = &P(0, c);
            if (mean)
                for (index_t k = 0; k < kn; ++k) out[k] = Work(double(row[k]) - mean[k0 + k]);
            else
                for (index_t k = 0; k < kn; ++k) out[k] = Work(row[k]);
        }
    }
}

// Packs depth [k0, k0+kn) of (X − mean) for the whole width, splitting the work over threads.
template <class Work, class T, class Panel>
void pack_gram_chunk(const matrix_view<const T>& X, const double* mean, gram_depth depth,
                     index_t k0, index_t kn, Panel& P, int threads) {
    const index_t width = depth == gram_depth::rows ? X.cols() : X.rows();
    P.resize(kn, width);
    const index_t lines = depth == gram_depth::rows ? kn : width, grain = 64;
    parallel_for(
        (lines + grain - 1) / grain,
        [&](index_t c) {
            const index_t first = c * grain, count = std::min(grain, lines - first);
            if (depth == gram_depth::rows)
                pack_gram_panel<Work>(X, mean, depth, k0 + first, count, 0, width, P.middleRows(first, count));
            else
                pack_gram_panel<Work>(X, mean, depth, k0, kn, first, count, P.middleCols(first, count));
        },
        threads);
}

template <class Work, class Panel, class T>
void gram_tiles(const matrix_view<const T>& X, const double* mx, const matrix_view<const T>& Y,
                const double* my, gram_depth depth, bool symmetric, gram_tiling tiling,
                Eigen::MatrixXd& out, int threads) {
    const bool by_rows = depth == gram_depth::rows;
    const index_t wx = by_rows ? X.cols() : X.rows(), wy = by_rows ? Y.cols() : Y.rows();
    const index_t n_depth = by_rows ? X.rows() : X.cols();
    const index_t tile = std::max<index_t>(1, tiling.tile), kb = std::max<index_t>(1, tiling.depth_block);
    const index_t tx = (wx + tile - 1) / tile, ty = (wy + tile - 1) / tile;
    std::vector<std::pair<index_t, index_t>> tiles;
    for (index_t i = 0; i < tx; ++i)
        for (index_t j = 0; j < (symmetric ? i + 1 : ty); ++j) tiles.emplace_back(i, j);
    // Depth is packed in chunks of whole blocks, about 8 MiB per input, shared by all tiles.
    const index_t per_chunk = std::max<index_t>(
        1, index_t(8u << 20) / index_t(sizeof(Work)) / std::max<index_t>(1, std::max(wx, wy)) / kb);
    const index_t chunk = per_chunk * kb;
    Panel PX, PY;
    for (index_t c0 = 0; c0 < n_depth; c0 += chunk) {
        const index_t cn = std::min(chunk, n_depth - c0);
        pack_gram_chunk<Work>(X, mx, depth, c0, cn, PX, threads);
        if (!symmetric) pack_gram_chunk<Work>(Y, my, depth, c0, cn, PY, threads);
        const Panel& QY = symmetric ? PX : PY;
        parallel_for(
            index_t(tiles.size()),
            [&](index_t t) {
                const index_t i0 = tiles[std::size_t(t)].first * tile, j0 = tiles[std::size_t(t)].second * tile;
                const index_t ni = std::min(tile, wx - i0), nj = std::min(tile, wy - j0);
                const bool diagonal = symmetric && i0 == j0;
                auto acc = out.block(i0, j0, ni, nj);
                Eigen::Matrix<Work, Eigen::Dynamic, Eigen::Dynamic> partial;
                for (index_t k0 = 0; k0 < cn; k0 += kb) {
                    const index_t kn = std::min(kb, cn - k0);
                    const auto PI = PX.block(k0, i0, kn, ni);
                    const auto PJ = QY.block(k0, j0, kn, nj);
                    if (std::is_same<Work, double>::value) {
                        if (diagonal)
                            acc.template selfadjointView<Eigen::Lower>().rankUpdate(PI.transpose().template cast<double>());
                        else
                            acc.noalias() += PI.transpose().template cast<double>() * PJ.template cast<double>();
                    } else {
                        partial.setZero(ni, nj);
                        if (diagonal) {
                            partial.template selfadjointView<Eigen::Lower>().rankUpdate(PI.transpose());
                            acc.template triangularView<Eigen::Lower>() += partial.template cast<double>();
                        } else {
                            partial.noalias() += PI.transpose() * PJ;
                            acc += partial.template cast<double>();
                        }
                    }
                }
            },
            threads);
    }
}

// out = (X − mx)ᵀ(Y − my) for gram_depth::rows (out is X.cols() × Y.cols()), or
// (X − mx)(Y − my)ᵀ for gram_depth::cols (X.rows() × Y.rows()); mx, my are column means
// of X and Y (or null for no centring). With `symmetric` (Y is X) only the lower triangle
// is computed and the upper one is mirrored from it. Panels are packed in the layout that
// reads X contiguously.
template <class Work, class T>
void gram_product(const matrix_view<const T>& X, const double* mx, const matrix_view<const T>& Y,
                  const double* my, gram_depth depth, bool symmetric, gram_tiling tiling,
                  Eigen::MatrixXd& out, int threads = 0) {
    const bool by_rows = depth == gram_depth::rows;
    out.setZero(by_rows ? X.cols() : X.rows(), by_rows ? Y.cols() : Y.rows());
    using row_panel = Eigen::Matrix<Work, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using col_panel = Eigen::Matrix<Work, Eigen::Dynamic, Eigen::Dynamic>;
    if (by_rows)
        gram_tiles<Work, row_panel>(X, mx, Y, my, depth, symmetric, tiling, out, threads);
    else
        gram_tiles<Work, col_panel>(X, mx, Y, my, depth, symmetric, tiling, out, threads);
    if (symmetric) out.template triangularView<Eigen::StrictlyUpper>() = out.transpose();
}

// Column means of X in double (summed over fixed blocks of rows, so thread-count independent).
template <class T>
std::vector<double> column_means(const matrix_view<const T>& X, int threads = 0) {
    const index_t n = X.rows(), d = X.cols();
    const index_t grain = 1024;
    const index_t chunks = (n + grain - 1) / grain;
    std::vector<double> partial(std::size_t(chunks * d), 0.0), mean(std::size_t(d), 0.0);
    parallel_for(
        chunks,
        [&](index_t c) {
            double* p = partial.data() + c * d;
            for (index_t i = c * grain; i < std::min(n, (c + 1) * grain); ++i) {
                const T* r = X.row(i);
                for (index_t j = 0; j < d; ++j) p[j] += double(r[j]);
            }
        },
        threads);
    for (index_t c = 0; c < chunks; ++c)
        for (index_t j = 0; j < d; ++j) mean[std::size_t(j)] += partial[std::size_t(c * d + j)];
    for (auto& m : mean) m /= double(n);
    return mean;
}

}  // namespace detail
}  // namespace geomkit
