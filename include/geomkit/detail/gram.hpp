// Multi-threaded, deterministic Gram products of row-major views, accumulated in double:
// the shared engine behind procrustes.hpp (AᵀB) and spectrum.hpp (XcᵀXc or XcXcᵀ).
//
// The depth (the summed-over index) is walked in chunks: each chunk of the centred inputs
// is packed once (threads split the rows), then the output, cut into square tiles of
// `tile` columns, is updated tile by tile in parallel, each tile summing the chunk in
// blocks of `depth_block` with Eigen's GEMM (its rank update on diagonal tiles of a
// symmetric product). Every output entry is updated by one task at a time in one fixed
// order, so the result is bitwise the same at any thread count, and no per-thread copy of
// the output is kept. Panels and products are double. A symmetric product in a build with
// SIMD takes symmetric_gram_slivers instead: geomkit's own register-blocked kernel on
// double slivers, about 1.15x Eigen's rate here. The participation ratio of float
// input takes float_gram, the register-blocked float kernel further down, instead (or
// this double path, in a build without SIMD).
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <new>
#include <thread>
#include <utility>
#include <vector>

#include "../core/matrix_view.hpp"
#include "../core/parallel.hpp"
#include "../simd/arch.hpp"

#if defined(__linux__)
#include <sys/mman.h>
#elif defined(_MSC_VER)
#include <malloc.h>
#endif

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
template <class T, class Panel>
void pack_gram_panel(const matrix_view<const T>& X, const double* mean, gram_depth depth,
                     index_t k0, index_t kn, index_t c0, index_t cn, Panel&& P) {
    GEOMKIT_ASSERT(P.rows() == kn && P.cols() == cn);
    if (depth == gram_depth::rows) {
        for (index_t k = 0; k < kn; ++k) {
            const T* row = X.row(k0 + k) + c0;
            double* out = &P(k, 0);
            if (mean)
                for (index_t c = 0; c < cn; ++c) out[c] = double(row[c]) - mean[c0 + c];
            else
                for (index_t c = 0; c < cn; ++c) out[c] = double(row[c]);
        }
    } else {
        for (index_t c = 0; c < cn; ++c) {
            const T* row = X.row(c0 + c) + k0;
            double* out = &P(0, c);
            if (mean)
                for (index_t k = 0; k < kn; ++k) out[k] = double(row[k]) - mean[k0 + k];
            else
                for (index_t k = 0; k < kn; ++k) out[k] = double(row[k]);
        }
    }
}

// Packs depth [k0, k0+kn) of (X − mean) for the whole width, splitting the work over threads.
template <class T, class Panel>
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
                pack_gram_panel(X, mean, depth, k0 + first, count, 0, width, P.middleRows(first, count));
            else
                pack_gram_panel(X, mean, depth, k0, kn, first, count, P.middleCols(first, count));
        },
        threads);
}

#if GEOMKIT_HAS_SIMD
template <class Arch, class T>
void symmetric_gram_slivers(const matrix_view<const T>& X, const double* mean, gram_depth depth, Eigen::MatrixXd& out,
                            int threads);
#endif

template <class Panel, class T>
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
        1, index_t(8u << 20) / index_t(sizeof(double)) / std::max<index_t>(1, std::max(wx, wy)) / kb);
    const index_t chunk = per_chunk * kb;
    Panel PX, PY;
    for (index_t c0 = 0; c0 < n_depth; c0 += chunk) {
        const index_t cn = std::min(chunk, n_depth - c0);
        pack_gram_chunk(X, mx, depth, c0, cn, PX, threads);
        if (!symmetric) pack_gram_chunk(Y, my, depth, c0, cn, PY, threads);
        const Panel& QY = symmetric ? PX : PY;
        parallel_for(
            index_t(tiles.size()),
            [&](index_t t) {
                const index_t i0 = tiles[std::size_t(t)].first * tile, j0 = tiles[std::size_t(t)].second * tile;
                const index_t ni = std::min(tile, wx - i0), nj = std::min(tile, wy - j0);
                const bool diagonal = symmetric && i0 == j0;
                auto acc = out.block(i0, j0, ni, nj);
                for (index_t k0 = 0; k0 < cn; k0 += kb) {
                    const index_t kn = std::min(kb, cn - k0);
                    const auto PI = PX.block(k0, i0, kn, ni);
                    const auto PJ = QY.block(k0, j0, kn, nj);
                    if (diagonal)
                        acc.template selfadjointView<Eigen::Lower>().rankUpdate(PI.transpose());
                    else
                        acc.noalias() += PI.transpose() * PJ;
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
template <class T>
void gram_product(const matrix_view<const T>& X, const double* mx, const matrix_view<const T>& Y,
                  const double* my, gram_depth depth, bool symmetric, gram_tiling tiling,
                  Eigen::MatrixXd& out, int threads = 0) {
    const bool by_rows = depth == gram_depth::rows;
#if GEOMKIT_HAS_SIMD
    if (symmetric) return symmetric_gram_slivers<simd::default_arch>(X, mx, depth, out, threads);
#endif
    out.setZero(by_rows ? X.cols() : X.rows(), by_rows ? Y.cols() : Y.rows());
    using row_panel = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using col_panel = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic>;
    if (by_rows)
        gram_tiles<row_panel>(X, mx, Y, my, depth, symmetric, tiling, out, threads);
    else
        gram_tiles<col_panel>(X, mx, Y, my, depth, symmetric, tiling, out, threads);
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
            double* GEOMKIT_RESTRICT p = partial.data() + c * d;
            for (index_t i = c * grain; i < std::min(n, (c + 1) * grain); ++i) {
                const T* GEOMKIT_RESTRICT r = X.row(i);
                for (index_t j = 0; j < d; ++j) p[j] += double(r[j]);
            }
        },
        threads);
    for (index_t c = 0; c < chunks; ++c)
        for (index_t j = 0; j < d; ++j) mean[std::size_t(j)] += partial[std::size_t(c * d + j)];
    for (auto& m : mean) m /= double(n);
    return mean;
}

// A few freed scratch buffers of 1 MiB and more, kept for the next call that asks for the
// same size: a repeated large Gram (a participation ratio per layer or per step) then
// skips the first-touch page faults of its accumulators (1 % of a 32128 × 512 participation
// ratio, 5 % at 4000 × 512). At most `slots` buffers and `max_bytes` in all are kept, for
// the life of the process. The lock is only ever tried: a caller that finds it taken (or a
// forked child whose parent held it) allocates or frees as if there were no cache.
class scratch_cache {
public:
    static constexpr std::size_t min_bytes = std::size_t(1) << 20, max_bytes = std::size_t(64) << 20;
    static constexpr int slots = 4;
    // A kept buffer of exactly `bytes`, or null.
    static void* take(std::size_t bytes) noexcept {
        if (bytes < min_bytes) return nullptr;
        state& s = get();
        if (s.busy.test_and_set(std::memory_order_acquire)) return nullptr;
        void* p = nullptr;
        for (auto& e : s.kept)
            if (e.p && e.bytes == bytes) {
                p = e.p;
                e.p = nullptr;
                s.total -= bytes;
                break;
            }
        s.busy.clear(std::memory_order_release);
        return p;
    }
    // True when the cache took p (of `bytes`); the caller frees it otherwise.
    static bool keep(void* p, std::size_t bytes) noexcept {
        if (bytes < min_bytes || bytes > max_bytes) return false;
        state& s = get();
        if (s.busy.test_and_set(std::memory_order_acquire)) return false;
        bool kept = false;
        if (s.total + bytes <= max_bytes)
            for (auto& e : s.kept)
                if (!e.p) {
                    e = {p, bytes};
                    s.total += bytes;
                    kept = true;
                    break;
                }
        s.busy.clear(std::memory_order_release);
        return kept;
    }

    // Bytes kept now (0 when the lock is taken).
    static std::size_t kept_bytes() noexcept {
        state& s = get();
        if (s.busy.test_and_set(std::memory_order_acquire)) return 0;
        const std::size_t total = s.total;
        s.busy.clear(std::memory_order_release);
        return total;
    }
    // Frees every kept buffer (false, freeing nothing, when the lock is taken).
    static bool clear() noexcept {
        state& s = get();
        if (s.busy.test_and_set(std::memory_order_acquire)) return false;
        for (auto& e : s.kept) {
            release(e.p);
            e = entry{};
        }
        s.total = 0;
        s.busy.clear(std::memory_order_release);
        return true;
    }
    static void release(void* p) noexcept {
#if defined(_MSC_VER)
        _aligned_free(p);
#else
        std::free(p);
#endif
    }

private:
    struct entry {
        void* p = nullptr;
        std::size_t bytes = 0;
    };
    struct state {
        std::atomic_flag busy = ATOMIC_FLAG_INIT;
        entry kept[slots];
        std::size_t total = 0;
    };
    // Never destroyed: buffers still kept at exit are the process's to reclaim.
    static state& get() noexcept {
        static state* s = new state();
        return *s;
    }
};

// Uninitialised scratch memory for large temporaries. Buffers of 2 MiB and more are
// 2 MiB-aligned and, on Linux, advised onto transparent huge pages: first-touch page
// faults, not arithmetic, otherwise dominate the set-up of a large Gram (one fault per
// 4 KiB page, each costing microseconds on a virtual machine). Freed buffers of 1 MiB and
// more go to scratch_cache.
template <class T>
class scratch {
public:
    scratch() = default;
    explicit scratch(std::size_t n) : n_(n) {
        if (n == 0) return;
        constexpr std::size_t huge = std::size_t(2) << 20;
        std::size_t bytes = n * sizeof(T), align = 64;
        if (bytes >= huge) {
            bytes = (bytes + huge - 1) / huge * huge;
            align = huge;
        } else {
            bytes = (bytes + 63) / 64 * 64;
        }
        bytes_ = bytes;
        if ((data_ = static_cast<T*>(scratch_cache::take(bytes)))) return;
#if defined(_MSC_VER)
        data_ = static_cast<T*>(_aligned_malloc(bytes, align));
#else
        data_ = static_cast<T*>(std::aligned_alloc(align, bytes));
#endif
        if (!data_) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
        if (align == huge) (void)madvise(data_, bytes, MADV_HUGEPAGE);
#endif
    }
    scratch(scratch&& o) noexcept : data_(o.data_), n_(o.n_), bytes_(o.bytes_) { o.data_ = nullptr; }
    scratch& operator=(scratch&& o) noexcept {
        std::swap(data_, o.data_);
        std::swap(n_, o.n_);
        std::swap(bytes_, o.bytes_);
        return *this;
    }
    scratch(const scratch&) = delete;
    scratch& operator=(const scratch&) = delete;
    ~scratch() {
        if (data_ && !scratch_cache::keep(data_, bytes_)) scratch_cache::release(data_);
    }
    T* data() noexcept { return data_; }
    const T* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return n_; }

private:
    T* data_ = nullptr;
    std::size_t n_ = 0, bytes_ = 0;  // bytes_: as allocated (rounded up)
};

#if GEOMKIT_HAS_SIMD
// ---------------------------------------------------------------- double symmetric Gram
// The symmetric double Gram (the spectrum's WᵀW or WWᵀ) by a register-blocked kernel in the
// BLIS manner, as the float one further down: each 1024-deep chunk of the centred
// vectors is packed in double into slivers of mr values (for each depth index, mr
// consecutive doubles, zero past the width), and a micro-kernel holds an mr × nr block of G
// (3 vectors × 8 columns on AVX-512, 3 × 4 on AVX2) in registers over each kc = 256 deep
// block of the chunk, reading a
// row sliver by vector loads and a column group as broadcasts from the same packing. Tiles
// of ts slivers square (whose row slivers stay in L2 while a column group's 16 KiB stays in
// L1) are updated in parallel, each chunk's sums added to G in chunk order: bitwise the
// same at any thread count. Only micro-tiles touching the lower triangle are computed.
// Eigen's GEMM per tile, which this replaced, repacked both operands on every call and ran
// at about 40 of a Zen 4 core's 58 GFLOP/s on a 5632 x 2048 float matrix.
template <class Arch>
struct double_syrk_shape {
    using batch = xsimd::batch<double, Arch>;
    static constexpr index_t lanes = index_t(batch::size);
    static constexpr index_t mr = 3 * lanes;
    static constexpr index_t nr = lanes >= 8 ? 8 : lanes >= 4 ? 4 : 2;  // divides mr
    static constexpr index_t kc = 256;
    static constexpr index_t chunk = 4 * kc;  // depth packed at once
    static constexpr index_t ts = 8;          // slivers per tile side
};

// g[j·ldg + i] += Σ_k a[k·mr + i] · b[k·mr + j] for i < mr, j < nr (the sum over k < kn
// formed in registers, in k order, then added to g).
template <class Arch>
GEOMKIT_FORCE_INLINE void double_syrk_micro(const double* GEOMKIT_RESTRICT a, const double* GEOMKIT_RESTRICT b,
                                            index_t kn, double* GEOMKIT_RESTRICT g, index_t ldg) noexcept {
    using S = double_syrk_shape<Arch>;
    using B = typename S::batch;
    constexpr index_t L = S::lanes, MR = S::mr, NR = S::nr;
    for (index_t j = 0; j < NR; ++j)
        for (index_t v = 0; v < MR; v += index_t(64 / sizeof(double))) GEOMKIT_PREFETCH_WRITE(g + j * ldg + v);
    B c[3][NR];
    for (int v = 0; v < 3; ++v)
        for (index_t j = 0; j < NR; ++j) c[v][j] = B(0.0);
    for (index_t k = 0; k < kn; ++k, a += MR, b += MR) {
        const B x0 = B::load_aligned(a), x1 = B::load_aligned(a + L), x2 = B::load_aligned(a + 2 * L);
        for (index_t j = 0; j < NR; ++j) {
            const B y(b[j]);
            c[0][j] = xsimd::fma(x0, y, c[0][j]);
            c[1][j] = xsimd::fma(x1, y, c[1][j]);
            c[2][j] = xsimd::fma(x2, y, c[2][j]);
        }
    }
    for (index_t j = 0; j < NR; ++j)
        for (int v = 0; v < 3; ++v) {
            double* o = g + j * ldg + v * L;
            (B::load_unaligned(o) + c[v][j]).store_unaligned(o);
        }
}

// Depth [k0, k0 + kn) of (X − mean) into slivers: P[(s·kn + k)·mr + t] = vector s·mr + t at
// depth k0 + k (zero past the width). Parallel over groups of slivers.
template <class Arch, class T>
void pack_double_slivers(const matrix_view<const T>& X, const double* mean, gram_depth depth, index_t k0,
                         index_t kn, index_t slivers, double* P, int threads) {
    constexpr index_t MR = double_syrk_shape<Arch>::mr, group = 8;
    const bool rows = depth == gram_depth::rows;
    const index_t width = rows ? X.cols() : X.rows();
    parallel_for(
        (slivers + group - 1) / group,
        [&](index_t q) {
            const index_t s0 = q * group, s1 = std::min(slivers, s0 + group);
            if (rows) {
                // Row k of X, across the group's slivers: one contiguous read per row.
                for (index_t k = 0; k < kn; ++k) {
                    const T* row = X.row(k0 + k);
                    for (index_t s = s0; s < s1; ++s) {
                        double* out = P + (s * kn + k) * MR;
                        for (index_t t = 0; t < MR; ++t) {
                            const index_t j = s * MR + t;
                            out[t] = j < width ? double(row[j]) - (mean ? mean[j] : 0.0) : 0.0;
                        }
                    }
                }
            } else {
                for (index_t s = s0; s < s1; ++s)
                    for (index_t t = 0; t < MR; ++t) {
                        double* out = P + s * kn * MR + t;
                        const index_t v = s * MR + t;
                        if (v >= width) {
                            for (index_t k = 0; k < kn; ++k) out[k * MR] = 0.0;
                            continue;
                        }
                        const T* row = X.row(v) + k0;
                        for (index_t k = 0; k < kn; ++k)
                            out[k * MR] = double(row[k]) - (mean ? mean[k0 + k] : 0.0);
                    }
            }
        },
        threads);
}

// out = the symmetric Gram of (X − mean) (the lower triangle computed, the upper mirrored).
template <class Arch, class T>
void symmetric_gram_slivers(const matrix_view<const T>& X, const double* mean, gram_depth depth, Eigen::MatrixXd& out,
                            int threads) {
    using S = double_syrk_shape<Arch>;
    constexpr index_t MR = S::mr, NR = S::nr, KC = S::kc, TS = S::ts, CH = S::chunk;
    const bool rows = depth == gram_depth::rows;
    const index_t width = rows ? X.cols() : X.rows(), n_depth = rows ? X.rows() : X.cols();
    const index_t slivers = (width + MR - 1) / MR, wp = slivers * MR, across = (slivers + TS - 1) / TS;
    scratch<double> G(std::size_t(wp * wp)), panel(std::size_t(slivers * std::min(CH, n_depth) * MR));
    std::vector<std::pair<index_t, index_t>> tiles;
    for (index_t i = 0; i < across; ++i)
        for (index_t j = 0; j <= i; ++j) tiles.emplace_back(i, j);
    // Zero the lower part of G that the tiles add to (column by column, in parallel).
    parallel_for(
        slivers,
        [&](index_t q) {
            for (index_t j = q * MR; j < q * MR + MR; ++j) std::fill(G.data() + j * wp + q * MR, G.data() + j * wp + wp, 0.0);
        },
        threads);
    for (index_t c0 = 0; c0 < n_depth; c0 += CH) {
        const index_t cn = std::min(CH, n_depth - c0);
        pack_double_slivers<Arch>(X, mean, depth, c0, cn, slivers, panel.data(), threads);
        const double* P = panel.data();
        parallel_for(
            index_t(tiles.size()),
            [&](index_t t) {
                const index_t ti = tiles[std::size_t(t)].first, tj = tiles[std::size_t(t)].second;
                const index_t s_end = std::min(slivers, (ti + 1) * TS);
                const index_t j_end = std::min(slivers, (tj + 1) * TS) * MR;
                // The chunk's kc blocks in order: the tile's part of G stays in L2 between them.
                for (index_t k0 = 0; k0 < cn; k0 += KC) {
                    const index_t kn = std::min(KC, cn - k0);
                    for (index_t j0 = tj * TS * MR; j0 < j_end; j0 += NR)
                        // Row slivers holding an entry on or below the diagonal (rows ≥ j0).
                        for (index_t s = std::max(ti * TS, j0 / MR); s < s_end; ++s)
                            double_syrk_micro<Arch>(P + (s * cn + k0) * MR, P + ((j0 / MR) * cn + k0) * MR + j0 % MR,
                                                    kn, G.data() + j0 * wp + s * MR, wp);
                }
            },
            threads);
    }
    out.resize(width, width);
    parallel_for(
        width,
        [&](index_t j) {
            for (index_t i = j; i < width; ++i) out(i, j) = G.data()[j * wp + i];
        },
        threads);
    out.template triangularView<Eigen::StrictlyUpper>() = out.transpose();
}
#endif

// ------------------------------------------------------------------ float symmetric Gram
// The Gram of float vectors with float products and double sums, for the participation
// ratio of float input (float_gram below): the vectors are the columns of X
// (gram_depth::rows, G is d × d) or its rows (gram_depth::cols, n × n).
//
// Products by a register-blocked kernel in the BLIS manner. Each kc = 256 deep block of
// the depth is centred and scaled on its own (pack_float_block) and packed into slivers of
// mr vectors (for each depth index, mr consecutive floats). A micro-kernel holds an
// mr × nr block of G in SIMD registers; per depth step it loads the mr/lanes vectors of a
// row sliver and broadcasts nr values of a column sliver (read from the same packing).
// Each block's float result is unscaled and added in double to the micro-tile's
// accumulator, so float rounding never accumulates over more than 256 terms. The
// accumulators are stored tile by tile, micro-tile by micro-tile, so those additions
// stream through memory instead of striding across a d × d matrix. Only the lower triangle
// is computed: micro-tiles on the diagonal skip their vectors that lie wholly above it.
//
// Two schedules, both giving bitwise the same result at any thread count:
//   - lanes, when one block's packing fits in a core's L2 cache (width ≤ 640): the blocks
//     are dealt round-robin to a fixed number of accumulators (lanes); a thread packs the
//     block it takes and runs every tile on it from its own cache, each lane receives its
//     blocks in order, and the lanes are summed in lane order at the end. There is no
//     barrier between blocks, and no packed data crosses cores.
//   - chunks, for wider Grams: chunks of blocks are packed by all threads into a shared
//     panel, and the output, cut into tiles, is updated tile by tile in parallel, each
//     tile visiting the depth in order; each chunk's tiles run in the same parallel region
//     as the packing of the next chunk.
#if GEOMKIT_HAS_SIMD
template <class Arch>
struct float_syrk_shape {
    using batch = xsimd::batch<float, Arch>;
    static constexpr index_t lanes = index_t(batch::size);
    // Micro-tile: mv vectors of rows × nr columns, mv·nr accumulators plus mv + 1 registers.
    // 2 × 8 on AVX-512 (32 rows: a narrow sliver wastes little on the diagonal and pads no
    // d that is a multiple of 32), 3 × 4 where there are 16 vector registers.
    static constexpr int mv = lanes >= 16 ? 2 : 3;
    static constexpr index_t mr = mv * lanes;
    static constexpr index_t nr = lanes >= 16 ? 8 : 4;
    static constexpr index_t kc = 256;  // depth summed in float
};

// out[j·mr + i] = Σ_k a[k·mr + i] · b[k·mr + j] over k < kn, for the last MV of the
// sliver's mv vectors (i ≥ (mv − MV)·lanes; the rest of out is left alone).
template <class Arch, int MV>
GEOMKIT_FORCE_INLINE void float_syrk_micro(const float* GEOMKIT_RESTRICT a, const float* GEOMKIT_RESTRICT b,
                                           index_t kn, float* GEOMKIT_RESTRICT out) noexcept {
    using S = float_syrk_shape<Arch>;
    using B = typename S::batch;
    constexpr index_t L = S::lanes, MR = S::mr, NR = S::nr, skip = (S::mv - MV) * L;
    B c[MV][NR];
    for (int v = 0; v < MV; ++v)
        for (index_t j = 0; j < NR; ++j) c[v][j] = B(0.0f);
    a += skip;
    for (index_t k = 0; k < kn; ++k, a += MR, b += MR) {
        B x[MV];
        for (int v = 0; v < MV; ++v) x[v] = B::load_aligned(a + v * L);
        for (index_t j = 0; j < NR; ++j) {
            const B bj(b[j]);
            for (int v = 0; v < MV; ++v) c[v][j] = xsimd::fma(x[v], bj, c[v][j]);
        }
    }
    for (index_t j = 0; j < NR; ++j)
        for (int v = 0; v < MV; ++v) c[v][j].store_aligned(out + j * MR + skip + v * L);
}

// The micro-kernel for a sliver of which the first `skip` vectors are not needed.
template <class Arch>
GEOMKIT_FORCE_INLINE void float_syrk_micro_skipping(index_t skip, const float* a, const float* b, index_t kn,
                                                    float* out) noexcept {
    constexpr int MV = float_syrk_shape<Arch>::mv;
    if (skip == 0)
        float_syrk_micro<Arch, MV>(a, b, kn, out);
    else if (MV == 3 && skip == 1)
        float_syrk_micro<Arch, (MV > 2 ? 2 : 1)>(a, b, kn, out);
    else
        float_syrk_micro<Arch, 1>(a, b, kn, out);
}

// The part of X that depth [k0, k0 + kn) of a float Gram reads: rows [r0, r0 + nr),
// columns [q0, q0 + nq).
struct float_block_region {
    index_t r0 = 0, nr = 0, q0 = 0, nq = 0;
    float_block_region() = default;
    float_block_region(const matrix_view<const float>& X, gram_depth depth, index_t k0, index_t kn) noexcept
        : r0(depth == gram_depth::rows ? k0 : 0),
          nr(depth == gram_depth::rows ? kn : X.rows()),
          q0(depth == gram_depth::rows ? 0 : k0),
          nq(depth == gram_depth::rows ? X.cols() : kn) {}
};

// Prefetches the first rows of a block's part of X while another block's tiles run, so
// that its packing starts from cache; block_column_sums requests the rest itself, a fixed
// number of rows ahead of the ones it sums. `step()` is called once per micro-kernel call
// (`calls` per block), and the lines are requested a few per call over the last sixteenth
// of the calls. Requesting the whole block here instead, spread over the last quarter of
// the calls, was 2 % slower at 32128 × 512: its 512 KiB did not fit in L2 beside the
// panel the tiles read, and the prefetches stalled the micro-kernels.
class float_block_prefetch {
public:
    float_block_prefetch() = default;
    float_block_prefetch(const matrix_view<const float>& X, const float_block_region& r, index_t calls)
        : X_(&X), r_(r), per_row_((r.nq + 15) / 16 + 1), total_(std::min(r.nr, rows) * per_row_),
          wait_(calls - calls / 16), per_call_((total_ + std::max<index_t>(1, calls / 16) - 1) / std::max<index_t>(1, calls / 16)) {}
    // Rows requested ahead: here, the first ones of the block; in block_column_sums, the
    // distance between the rows summed and the rows requested.
    static constexpr index_t rows = 16;
    void step() noexcept {
        if (wait_ > 0)
            --wait_;
        else
            issue(per_call_);
    }
    void finish() noexcept { issue(total_); }

private:
    void issue(index_t count) noexcept {
        for (const index_t end = std::min(total_, next_ + count); next_ < end; ++next_) {
            const index_t row = next_ / per_row_, line = next_ % per_row_;
            // A row's lines, then its last float (its segment need not start on a line).
            const index_t at = line + 1 < per_row_ ? line * 16 : r_.nq - 1;
            GEOMKIT_PREFETCH(X_->row(r_.r0 + row) + r_.q0 + at);
        }
    }
    const matrix_view<const float>* X_ = nullptr;
    float_block_region r_;
    index_t per_row_ = 0, total_ = 0, wait_ = 0, per_call_ = 0, next_ = 0;
};

// Sweep 1 of pack_float_block over the whole SIMD vectors of the block's rows (rows
// [r0, r0 + nr), columns [q0, q0 + full), full a multiple of the vector width):
// sum[j] += Σ x in double, and the largest |x| (returned; meaningless when a column holds
// a NaN or Inf, whose sum is then not finite, which the caller checks first). Eight rows
// at a time: a vector's double sums stay in registers over the eight, which are read as
// eight sequential streams (a column strip of all the rows would read across DRAM pages),
// while the same columns of the rows float_block_prefetch::rows further on are requested.
// Those requests took 1.5–2.5 % off a 32128 × 512 participation ratio at one and two
// threads, against relying on the hardware prefetcher.
template <class Arch>
float block_column_sums(const matrix_view<const float>& X, index_t r0, index_t nr, index_t q0, index_t full,
                        double* GEOMKIT_RESTRICT sum) noexcept {
    using B = xsimd::batch<float, Arch>;
    using DB = xsimd::batch<double, Arch>;
    constexpr index_t L = index_t(B::size), DL = index_t(DB::size), H = L / DL, R = 8;
    B top(0.0f);
    for (index_t i0 = r0; i0 < r0 + nr; i0 += R) {
        const index_t i1 = std::min(r0 + nr, i0 + R);
        for (index_t j = 0; j < full; j += L) {
            for (index_t i = i0 + float_block_prefetch::rows; i < std::min(r0 + nr, i1 + float_block_prefetch::rows); ++i)
                GEOMKIT_PREFETCH(X.row(i) + q0 + j);
            DB acc[H];
            for (index_t h = 0; h < H; ++h) acc[h] = DB::load_unaligned(sum + j + h * DL);
            for (index_t i = i0; i < i1; ++i) {
                const float* x = X.row(i) + q0 + j;
                top = xsimd::max(top, xsimd::abs(B::load_unaligned(x)));
                for (index_t h = 0; h < H; ++h) acc[h] += simd::load_as_double<Arch>(x + h * DL);
            }
            for (index_t h = 0; h < H; ++h) acc[h].store_unaligned(sum + j + h * DL);
        }
    }
    alignas(64) float lanes[L];
    top.store_aligned(lanes);
    float peak = 0.0f;
    for (index_t l = 0; l < L; ++l) peak = peak < lanes[l] ? lanes[l] : peak;
    return peak;
}

// Where a block of rows (gram_depth::rows) is centred, column by column. The block's
// mean, normally; but when a few rows lie far from the rest (a huge row, heavy tails) the
// mean sits far outside the bulk, every other row then carries nearly the same large
// y = x − mean, and their float products add up with one rounding error repeated over
// the block (up to 3e-6 of the PR with 1-10 rows of tight clusters scaled by 300-1e25,
// 7e-6 on log-normal data with σ = 3). Such a column is centred on the median of 7 rows
// sampled across the block instead, and the block's products are corrected by its offset
// o = mean − centre (float_gram::compute). The switch is made only when
// |mean − median| > 8 × the spread of the samples' middle five (2nd to 6th of 7), which
// no Gaussian column and one uniform column met in 20000 simulated blocks. It then costs
// little precision: the bulk lying that far from the mean gives the column a variance
// of at least about o² per row, so the correction cancels little. Writes means[j] and
// offsets[j] (0 where the mean is kept); blocks of fewer than 7 rows keep their means.
template <class Arch>
void block_centres(const matrix_view<const float>& X, index_t r0, index_t nr, index_t nq, const double* sum,
                   double* means, double* offsets) {
    using B = xsimd::batch<float, Arch>;
    constexpr index_t L = index_t(B::size), NS = 7;
    for (index_t j = 0; j < nq; ++j) {
        means[j] = sum[j] / double(nr);
        offsets[j] = 0.0;
    }
    if (nr < NS) return;
    const float* at[NS];
    for (index_t i = 0; i < NS; ++i) at[i] = X.row(r0 + (2 * i + 1) * nr / (2 * NS));
    // Compare-exchanges that sort seven values (16, in six parallel rounds).
    static constexpr int net[16][2] = {{0, 6}, {2, 3}, {4, 5}, {0, 2}, {1, 4}, {3, 6}, {0, 1}, {2, 5},
                                       {3, 4}, {1, 2}, {4, 6}, {2, 3}, {4, 5}, {1, 2}, {3, 4}, {5, 6}};
    alignas(64) float lo[L], mid[L], hi[L];
    for (index_t j0 = 0; j0 < nq; j0 += L) {
        const index_t n = std::min(L, nq - j0);
        if (n == L) {
            B v[NS];
            for (index_t i = 0; i < NS; ++i) v[i] = B::load_unaligned(at[i] + j0);
            for (const auto& c : net) {
                const B a = v[c[0]];
                v[c[0]] = xsimd::min(a, v[c[1]]);
                v[c[1]] = xsimd::max(a, v[c[1]]);
            }
            v[1].store_aligned(lo);
            v[3].store_aligned(mid);
            v[5].store_aligned(hi);
        } else {
            for (index_t l = 0; l < n; ++l) {
                float v[NS];
                for (index_t i = 0; i < NS; ++i) v[i] = at[i][j0 + l];
                std::sort(v, v + NS);
                lo[l] = v[1];
                mid[l] = v[3];
                hi[l] = v[5];
            }
        }
        for (index_t l = 0; l < n; ++l) {
            const double o = means[j0 + l] - double(mid[l]);
            if (std::abs(o) > 8.0 * (double(hi[l]) - double(lo[l]))) offsets[j0 + l] = o;
        }
    }
}

// The order in which a block's rows are summed when some of its columns left their
// means for a median (block_centres): slot[i] is the depth at which row r0 + i goes, and
// rows go in increasing size, measured as max_j |y_ij| / max_i |y_ij| over every column
// (ties in row order). The bulk's small products then accumulate before the few large
// rows arrive, and every column's largest entry is in the last group of rows, those that
// hold some column's largest. In the data's order, a large row met early leaves partial
// sums too large to take the bulk's products, and float addition drops them (3e-6 of the
// PR at 300× one row of tight clusters). An order measured on the moved columns alone
// could put a kept column's largest entry first (1e-5 on log-normal data at kc = 384).
// The Gram does not depend on the order of its depth.
// hi[j] is the block's scaled centre s·c_j as packed (to a float), so |s·x − hi| < 1.
template <class Arch>
void block_order(const matrix_view<const float>& X, index_t r0, index_t nr, index_t nq, float s, const float* hi,
                 std::vector<index_t>& slot) {
    using B = xsimd::batch<float, Arch>;
    constexpr index_t L = index_t(B::size);
    thread_local std::vector<float> weight;
    thread_local std::vector<std::pair<float, index_t>> key;
    const index_t full = nq / L * L;
    const B sv(s);
    weight.assign(std::size_t(nq), 0.0f);  // largest |y| first, then its inverse (0 for a column of zeros)
    for (index_t i = r0; i < r0 + nr; ++i) {
        const float* x = X.row(i);
        for (index_t j = 0; j < full; j += L)
            xsimd::max(B::load_unaligned(weight.data() + j), xsimd::abs(B::load_unaligned(x + j) * sv - B::load_unaligned(hi + j)))
                .store_unaligned(weight.data() + j);
        for (index_t j = full; j < nq; ++j)
            weight[std::size_t(j)] = std::max(weight[std::size_t(j)], std::abs(x[j] * s - hi[j]));
    }
    for (float& w : weight) w = w > 0.0f ? 1.0f / w : 0.0f;
    key.resize(std::size_t(nr));
    alignas(64) float lanes[L];
    for (index_t i = 0; i < nr; ++i) {
        const float* x = X.row(r0 + i);
        B top(0.0f);
        for (index_t j = 0; j < full; j += L)
            top = xsimd::max(top, xsimd::abs(B::load_unaligned(x + j) * sv - B::load_unaligned(hi + j)) *
                                      B::load_unaligned(weight.data() + j));
        top.store_aligned(lanes);
        float k = 0.0f;
        for (index_t l = 0; l < L; ++l) k = std::max(k, lanes[l]);
        for (index_t j = full; j < nq; ++j) k = std::max(k, std::abs(x[j] * s - hi[j]) * weight[std::size_t(j)]);
        key[std::size_t(i)] = {k, i};
    }
    std::sort(key.begin(), key.end());
    slot.resize(std::size_t(nr));
    for (index_t p = 0; p < nr; ++p) slot[std::size_t(key[std::size_t(p)].second)] = p;
}

// One kc block of the depth, centred on its own means and scaled by its own power of two,
// packed into slivers: P[(s·cn + k)·mr + r] = y of vector s·mr + r at depth c0 + k (the
// chunk starts at depth c0 and is cn deep; the block is [k0, k0 + kn) of it), zero past
// the last vector. Two sweeps over the block's part of X (the second from cache), rows
// read contiguously in either layout:
//   1. per column of X, the sum over the block (double) and the largest |x|;
//   2. y = (s·x − hi) − lo with hi + lo = s·centre split into floats (s·x is exact), so y
//      is s·(x − centre) to two float roundings of itself.
// gram_depth::rows (vectors = columns of X): the centre is the block's own column means,
// written to `means`, except in columns whose mean lies outside the block's bulk
// (block_centres), which are centred on a median and record their offset (mean − centre
// as packed) in `offsets`; such a block's rows are also packed in increasing size
// (block_order). gram_depth::cols (vectors = rows): the block's columns are whole
// columns of X, so the centre is their exact means, or zero uncentred. s puts |y| < 1, so
// no float product overflows or sinks into the subnormals at any input magnitude.
// Returns 1 / s², or NaN when the block holds a NaN or Inf (its sums are then not finite;
// float sums cannot overflow a double).
template <class Arch>
double pack_float_block(const matrix_view<const float>& X, gram_depth depth, bool centered, index_t c0, index_t cn,
                        index_t k0, index_t kn, float* P, double* means, double* offsets, std::vector<double>& sum,
                        std::vector<float>& hi, std::vector<float>& lo, std::vector<index_t>& slot) {
    using S = float_syrk_shape<Arch>;
    using B = typename S::batch;
    constexpr index_t MR = S::mr, L = S::lanes;
    const bool rows = depth == gram_depth::rows;
    const index_t width = rows ? X.cols() : X.rows(), slivers = (width + MR - 1) / MR;
    const float_block_region region(X, depth, c0 + k0, kn);
    const index_t r0 = region.r0, nr = region.nr, q0 = region.q0, nq = region.nq;
    sum.assign(std::size_t(nq), 0.0);
    const index_t j0 = nq / L * L;  // columns from j0 on: one at a time
    float peak = block_column_sums<Arch>(X, r0, nr, q0, j0, sum.data());
    for (index_t i = r0; i < r0 + nr && j0 < nq; ++i) {
        const float* x = X.row(i) + q0;
        for (index_t j = j0; j < nq; ++j) {
            sum[std::size_t(j)] += double(x[j]);
            const float a = std::abs(x[j]);
            peak = peak < a ? a : peak;
        }
    }
    bool finite = true;
    for (index_t j = 0; j < nq; ++j) finite = finite && std::isfinite(sum[std::size_t(j)]);
    if (!finite) return std::numeric_limits<double>::quiet_NaN();
    const bool shift = rows || centered;
    const double bound = shift ? 2.0 * double(peak) : double(peak);
    // A power of two that brings the block's values into [-1, 1), kept within float's
    // normal range (2^±126): subnormal float data would otherwise ask for 2^149, which is
    // inf as a float (NaN Gram); there the values land in [2^-23, 1) instead.
    const double scale = bound > 0 ? std::ldexp(1.0, std::max(-126, std::min(-std::ilogb(bound) - 1, 126))) : 1.0;
    hi.assign(std::size_t(nq), 0.0f);
    lo.assign(std::size_t(nq), 0.0f);
    if (rows) block_centres<Arch>(X, r0, nr, nq, sum.data(), means, offsets);
    for (index_t j = 0; j < nq; ++j) {
        const double m = rows ? means[j] - offsets[j] : sum[std::size_t(j)] / double(nr);
        if (!shift) continue;
        hi[std::size_t(j)] = float(m * scale);
        lo[std::size_t(j)] = float(m * scale - double(hi[std::size_t(j)]));
        if (rows && offsets[j] != 0.0) offsets[j] = means[j] - (double(hi[std::size_t(j)]) + double(lo[std::size_t(j)])) / scale;
    }
    const float s = float(scale);
    // Row c0 + k goes to depth at(k): k itself, or its slot when the block is reordered.
    auto pack_rows = [&](auto at) {
        const index_t full = width / MR;
        const B sv(s);
        // Eight rows at a time per sliver: the slivers lie cn·mr floats apart (32 KiB for
        // a 256-deep chunk), so a row at a time would store to `slivers` lines that share
        // one L1 set; eight consecutive rows of one sliver are one contiguous KiB.
        for (index_t g0 = k0; g0 < k0 + kn; g0 += 8) {
            const index_t g1 = std::min(k0 + kn, g0 + 8);
            for (index_t q = 0; q < full; ++q)
                for (index_t v = 0; v < MR; v += L) {
                    const index_t j = q * MR + v;
                    const B h = B::load_unaligned(hi.data() + j), l = B::load_unaligned(lo.data() + j);
                    for (index_t k = g0; k < g1; ++k)
                        ((B::load_unaligned(X.row(c0 + k) + j) * sv - h) - l).store_aligned(P + (q * cn + at(k)) * MR + v);
                }
        }
        for (index_t k = k0; k < k0 + kn; ++k) {
            const float* row = X.row(c0 + k);
            for (index_t q = full; q < slivers; ++q) {
                float* out = P + (q * cn + at(k)) * MR;
                for (index_t r = 0; r < MR; ++r) {
                    const index_t j = q * MR + r;
                    out[r] = j < width ? (row[j] * s - hi[std::size_t(j)]) - lo[std::size_t(j)] : 0.0f;
                }
            }
        }
    };
    if (rows && std::any_of(offsets, offsets + nq, [](double o) { return o != 0.0; })) {
        block_order<Arch>(X, r0, nr, nq, s, hi.data(), slot);
        pack_rows([&](index_t k) { return k0 + slot[std::size_t(k - k0)]; });
    } else if (rows) {
        pack_rows([](index_t k) { return k; });
    } else {
        for (index_t v = 0; v < slivers * MR; ++v) {
            float* out = P + ((v / MR) * cn + k0) * MR + v % MR;
            if (v >= width) {
                for (index_t k = 0; k < kn; ++k) out[k * MR] = 0.0f;
                continue;
            }
            const float* row = X.row(v) + q0;
            for (index_t k = 0; k < kn; ++k) out[k * MR] = (row[k] * s - hi[std::size_t(k)]) - lo[std::size_t(k)];
        }
    }
    return 1.0 / (scale * scale);
}

// G = Σ (x − μ)(x − μ)ᵀ over the vectors' depth (μ the mean over the depth, or 0
// uncentred): the lower triangle, as per-tile micro-tile accumulators.
//
// Each kc block of the depth is centred on its own means before its float products (so
// float rounding is relative to the local spread, whatever the offset or ordering of the
// data) and the block decomposition is undone in double:
//   Σ_k (x_k − μ)(x_k − μ)ᵀ = Σ_blocks [Σ_{k∈b} (x_k − m_b)(x_k − m_b)ᵀ + n_b (m_b − μ)(m_b − μ)ᵀ],
// exact because Σ_{k∈b} (x_k − m_b) = 0. A block centred on c_b = m_b − o_b instead
// (block_centres) has Σ_{k∈b} (x_k − c_b)(x_k − c_b)ᵀ − n_b o_b o_bᵀ for its first term.
// Both corrections are rank one per block: D has a row √n_b (m_b − μ) per block and E a
// row √n_b o_b per block with an offset, and DᵀD − EᵀE is added in double. For
// gram_depth::cols the blocks' centres are the exact column means already and the
// corrections vanish. One pass over X in all (two more over a block with an offset).
template <class Arch = simd::default_arch>
class float_gram {
    using S = float_syrk_shape<Arch>;
    static constexpr index_t MR = S::mr, NR = S::nr, KC = S::kc, L = S::lanes;

public:
    float_gram(const matrix_view<const float>& X, bool centered, gram_depth depth, int threads = 0)
        : width_(depth == gram_depth::rows ? X.cols() : X.rows()),
          slivers_((width_ + MR - 1) / MR),
          ts_(slivers_ >= 24 ? 4 : slivers_ >= 8 ? 2 : 1) {
        const index_t across = (slivers_ + ts_ - 1) / ts_;
        for (index_t i = 0; i < across; ++i)
            for (index_t j = 0; j <= i; ++j) tiles_.emplace_back(i, j);
        acc_ = scratch<double>(tiles_.size() * std::size_t(tile_size()));
        for (index_t t = 0; t < tile_count(); ++t) for_each_micro(t, [&](index_t, index_t, std::size_t) { ++micro_calls_; });
        compute(X, centered, depth, threads);
    }

    index_t width() const noexcept { return width_; }
    index_t tile_count() const noexcept { return index_t(tiles_.size()); }
    // False when X holds a NaN or Inf (the Gram is then meaningless).
    bool finite() const noexcept { return finite_; }

    // f(i, j, G_ij) for every i ≥ j of tile t (each such entry lies in exactly one tile).
    template <class F>
    void for_each_lower(index_t t, F&& f) const {
        for_each_micro(t, [&](index_t j0, index_t s, std::size_t at) {
            const double* g = acc_.data() + at;
            for (index_t j = j0; j < std::min(width_, j0 + NR); ++j)
                for (index_t i = std::max(j, s * MR); i < std::min(width_, s * MR + MR); ++i)
                    f(i, j, g[(j - j0) * MR + i - s * MR]);
        });
    }

    // The number of lane accumulators a Gram of this width over n_depth uses (0: the
    // chunked schedule). It depends on the machine's core count, never on the thread count.
    static index_t lane_count(index_t width, index_t n_depth) {
        const index_t slivers = (width + MR - 1) / MR, blocks = (n_depth + KC - 1) / KC;
        if (slivers * MR * KC * index_t(sizeof(float)) > (index_t(640) << 10)) return 0;
        const index_t cores = index_t(std::max(1u, std::thread::hardware_concurrency()));
        return std::max<index_t>(1, std::min({blocks, std::max<index_t>(4, std::min<index_t>(32, 2 * cores))}));
    }

private:
    index_t tile_size() const noexcept { return ts_ * MR * ts_ * MR; }
    // Offset into a tile array of the micro-tile (column group starting `column` into the
    // tile, row sliver `sliver` of the tile) of tile t.
    std::size_t block(index_t t, index_t column, index_t sliver) const noexcept {
        return std::size_t(t * tile_size() + ((column / NR) * ts_ + sliver) * MR * NR);
    }
    // f(j0, s, offset) for every micro-tile of tile t that holds lower-triangle entries:
    // columns [j0, j0 + NR) of G, rows of sliver s (mr × nr, column-major at offset).
    template <class F>
    void for_each_micro(index_t t, F&& f) const {
        const index_t ti = tiles_[std::size_t(t)].first, tj = tiles_[std::size_t(t)].second;
        const index_t j_begin = tj * ts_ * MR, j_end = std::min(width_, (tj + 1) * ts_ * MR);
        const index_t s_end = std::min(slivers_, (ti + 1) * ts_);
        for (index_t j0 = j_begin; j0 < j_end; j0 += NR)
            for (index_t s = std::max(ti * ts_, j0 / MR); s < s_end; ++s) f(j0, s, block(t, j0 - j_begin, s - ti * ts_));
    }

    void compute(const matrix_view<const float>& X, bool centered, gram_depth depth, int threads) {
        const bool rows = depth == gram_depth::rows;
        const index_t n_depth = rows ? X.rows() : X.cols(), n_blocks = (n_depth + KC - 1) / KC;
        // Per block: 1/s² (NaN for a non-finite block) and, over rows, the block's means.
        std::vector<double> unscale(std::size_t(n_blocks), 0.0);
        // Over rows, each block's means and offsets (block_centres): scratch, since every
        // finite block writes its own and the rest are read only when every block is finite.
        scratch<double> centres(rows ? std::size_t(2 * n_blocks * width_) : 0);
        double* const means = centres.data();
        double* const offsets = rows ? means + n_blocks * width_ : nullptr;
        const index_t lanes = lane_count(width_, n_depth);
        scratch<double> extra;  // lanes 1, 2, … of the lane schedule (lane 0 is acc_)
        if (lanes > 0)
            compute_by_lanes(X, centered, depth, lanes, unscale, means, offsets, extra, threads);
        else
            compute_by_chunks(X, centered, depth, unscale, means, offsets, threads);
        for (double u : unscale) finite_ = finite_ && std::isfinite(u);
        // The blocks' scatter about the overall mean and their offsets, in double: every
        // tile gets DᵀD − EᵀE added (after its lanes are summed, in the same pass over the
        // tile). Gaussian data has no offsets, and E no rows.
        const bool scatter = rows && finite_;
        std::vector<double> D, E;
        index_t n_e = 0;
        if (scatter) {
            for (index_t g = 0; g < n_blocks; ++g) {
                const double* o = offsets + g * width_;
                if (std::all_of(o, o + width_, [](double v) { return v == 0.0; })) continue;
                E.resize(std::size_t((n_e + 1) * slivers_ * MR), 0.0);
                const double w = std::sqrt(double(std::min(KC, n_depth - g * KC)));
                for (index_t j = 0; j < width_; ++j) E[std::size_t(n_e * slivers_ * MR + j)] = w * o[j];
                ++n_e;
            }
            std::vector<double> mu(std::size_t(width_), 0.0);
            if (centered)
                for (index_t g = 0; g < n_blocks; ++g)
                    for (index_t j = 0; j < width_; ++j)
                        mu[std::size_t(j)] +=
                            means[std::size_t(g * width_ + j)] * double(std::min(KC, n_depth - g * KC));
            for (auto& m : mu) m /= double(n_depth);
            D.assign(std::size_t(n_blocks * slivers_ * MR), 0.0);
            for (index_t g = 0; g < n_blocks; ++g) {
                const double w = std::sqrt(double(std::min(KC, n_depth - g * KC)));
                for (index_t j = 0; j < width_; ++j)
                    D[std::size_t(g * slivers_ * MR + j)] = w * (means[std::size_t(g * width_ + j)] - mu[std::size_t(j)]);
            }
        }
        if (lanes <= 1 && !scatter) return;
        parallel_for(
            tile_count(),
            [&](index_t t) {
                if (lanes > 1) add_lanes(t, extra.data(), lanes);
                if (scatter) add_block_scatter(t, D.data(), n_blocks, E.data(), n_e, slivers_ * MR);
            },
            threads);
    }

    // Tile t of acc_ (lane 0) += the same tile of lanes 1, …, lanes − 1 (stored one after
    // another at `extra`), in lane order.
    void add_lanes(index_t t, const double* extra, index_t lanes) {
        const std::size_t per_lane = tiles_.size() * std::size_t(tile_size());
        for_each_micro(t, [&](index_t, index_t, std::size_t at) {
            double* GEOMKIT_RESTRICT a = acc_.data() + at;
            for (index_t l = 1; l < lanes; ++l) {
                const double* GEOMKIT_RESTRICT e = extra + std::size_t(l - 1) * per_lane + at;
                for (index_t q = 0; q < MR * NR; ++q) a[q] += e[q];
            }
        });
    }

    // Block b goes to lane b mod lanes. Each worker takes blocks from a shared counter, one
    // ahead: it claims its next block before running the tiles of its current one, and
    // prefetches that next block's rows during them. It packs its block into its own
    // panel, waits until its lane has had block b − lanes (normally long done: it waits
    // only when another thread is `lanes` blocks behind), and updates every tile of the
    // lane from its cache. No wait can deadlock: the least block not yet done is some
    // worker's current block (a worker's claimed block is above its current one), and the
    // block before it in its lane is done.
    void compute_by_lanes(const matrix_view<const float>& X, bool centered, gram_depth depth, index_t lanes,
                          std::vector<double>& unscale, double* means, double* offsets,
                          scratch<double>& extra,
                          int threads) {
        const bool rows = depth == gram_depth::rows;
        const index_t n_depth = rows ? X.rows() : X.cols(), n_blocks = index_t(unscale.size());
        const std::size_t per_lane = tiles_.size() * std::size_t(tile_size());
        extra = scratch<double>(per_lane * std::size_t(lanes - 1));
        auto lane = [&](index_t l) { return l == 0 ? acc_.data() : extra.data() + std::size_t(l - 1) * per_lane; };
        std::unique_ptr<std::atomic<index_t>[]> turn(new std::atomic<index_t>[std::size_t(lanes)]);
        for (index_t l = 0; l < lanes; ++l) turn[std::size_t(l)].store(l);
        std::atomic<index_t> next{0};
        std::atomic<bool> failed{false};
        const index_t workers = std::min<index_t>(n_blocks, threads > 0 ? threads : num_threads());
        parallel_for(
            workers,
            [&](index_t) {
                thread_local scratch<float> panel;
                thread_local std::vector<double> sum;
                thread_local std::vector<float> hi, lo;
                thread_local std::vector<index_t> slot;
                for (index_t b = next.fetch_add(1); b < n_blocks;) {
                    const index_t k0 = b * KC, kn = std::min(KC, n_depth - k0);
                    try {
                        if (panel.size() < std::size_t(slivers_ * KC * MR))
                            panel = scratch<float>(std::size_t(slivers_ * KC * MR));
                        unscale[std::size_t(b)] =
                            pack_float_block<Arch>(X, depth, centered, k0, kn, 0, kn, panel.data(),
                                                   rows ? means + b * width_ : nullptr,
                                                   rows ? offsets + b * width_ : nullptr, sum, hi, lo, slot);
                    } catch (...) {
                        failed.store(true);
                        throw;
                    }
                    const index_t ahead = next.fetch_add(1);
                    float_block_prefetch pf;
                    if (ahead < n_blocks)
                        pf = float_block_prefetch(
                            X, float_block_region(X, depth, ahead * KC, std::min(KC, n_depth - ahead * KC)), micro_calls_);
                    std::atomic<index_t>& my_turn = turn[std::size_t(b % lanes)];
                    while (my_turn.load(std::memory_order_acquire) != b) {
                        if (failed.load()) return;  // the block before us in this lane threw
                        std::this_thread::yield();
                    }
                    for (index_t t = 0; t < tile_count(); ++t)
                        tile_update(t, panel.data(), kn, &unscale[std::size_t(b)], lane(b % lanes), b < lanes, &pf);
                    pf.finish();
                    my_turn.store(b + lanes, std::memory_order_release);
                    b = ahead;
                }
            },
            int(workers));
    }

    void compute_by_chunks(const matrix_view<const float>& X, bool centered, gram_depth depth,
                           std::vector<double>& unscale, double* means, double* offsets,
                           int threads) {
        const bool rows = depth == gram_depth::rows;
        const index_t n_depth = rows ? X.rows() : X.cols();
        // Depth chunks of at least 4 kc blocks (each tile's accumulators then stay cached
        // over ≥ 1024 steps), about 4 MiB packed; two panels, packed alternately.
        const index_t chunk =
            std::min(std::max<index_t>(4, (index_t(1) << 20) / (slivers_ * MR) / KC) * KC, n_depth);
        const index_t n_chunks = (n_depth + chunk - 1) / chunk, n_tiles = tile_count();
        scratch<float> panels[2] = {scratch<float>(std::size_t(slivers_ * chunk * MR)),
                                    scratch<float>(std::size_t(n_chunks > 1 ? slivers_ * chunk * MR : 0))};
        auto pack_tasks = [&](index_t c) { return c < n_chunks ? (std::min(chunk, n_depth - c * chunk) + KC - 1) / KC : 0; };
        auto pack = [&](index_t c, index_t b) {
            thread_local std::vector<double> sum;
            thread_local std::vector<float> hi, lo;
            thread_local std::vector<index_t> slot;
            const index_t c0 = c * chunk, cn = std::min(chunk, n_depth - c0), k0 = b * KC, g = (c0 + k0) / KC;
            unscale[std::size_t(g)] =
                pack_float_block<Arch>(X, depth, centered, c0, cn, k0, std::min(KC, cn - k0), panels[c % 2].data(),
                                       rows ? means + g * width_ : nullptr,
                                       rows ? offsets + g * width_ : nullptr, sum, hi, lo, slot);
        };
        parallel_for(pack_tasks(0), [&](index_t b) { pack(0, b); }, threads);
        for (index_t c = 0; c < n_chunks; ++c) {
            // The tiles of chunk c and the packing of chunk c + 1, in one parallel region.
            const index_t cn = std::min(chunk, n_depth - c * chunk);
            const float* P = panels[c % 2].data();
            const double* f = unscale.data() + c * chunk / KC;
            parallel_for(
                n_tiles + pack_tasks(c + 1),
                [&](index_t t) {
                    if (t >= n_tiles) return pack(c + 1, t - n_tiles);
                    tile_update(t, P, cn, f, acc_.data(), c == 0);
                },
                threads);
        }
    }

    // Tile t of the accumulators at `acc` += the products of a packed chunk cn deep (kc
    // block k scaled back by unscale[k]); with `first`, the chunk's first block stores
    // instead of adding (the accumulators start uninitialised). pf, if given, steps once
    // per micro-kernel call.
    void tile_update(index_t t, const float* P, index_t cn, const double* unscale, double* acc, bool first,
                     float_block_prefetch* pf = nullptr) {
        alignas(64) float out[MR * NR] = {};  // entries of skipped vectors are stale, never read
        for (index_t k0 = 0; k0 < cn; k0 += KC) {
            const index_t kn = std::min(KC, cn - k0);
            const double f = unscale[k0 / KC];
            const bool store = first && k0 == 0;
            for_each_micro(t, [&](index_t j0, index_t s, std::size_t at) {
                // Vectors of the sliver wholly above the diagonal (rows < j0) are skipped.
                const index_t skip = s == j0 / MR ? (j0 - s * MR) / L : 0;
                if (pf) pf->step();
                // The micro-tile's double accumulators (2 KiB on AVX-512) stream from L2 or
                // L3; requested now, they are in L1 when the product is added to them.
                for (index_t q = 0; q < MR * NR; q += index_t(64 / sizeof(double))) GEOMKIT_PREFETCH_WRITE(acc + at + q);
                float_syrk_micro_skipping<Arch>(skip, P + (s * cn + k0) * MR, P + ((j0 / MR) * cn + k0) * MR + j0 % MR,
                                                kn, out);
                double* GEOMKIT_RESTRICT g = acc + at;
                if (store)
                    for (index_t q = 0; q < MR * NR; ++q) g[q] = double(out[q]) * f;
                else
                    for (index_t q = 0; q < MR * NR; ++q) g[q] += double(out[q]) * f;
            });
        }
    }

    // Tile t += DᵀD − EᵀE (D: `count` rows of `ld` doubles, E: `e_count`, both zero past
    // the width), four columns of a micro-tile at a time held in registers over the rows.
    void add_block_scatter(index_t t, const double* D, index_t count, const double* E, index_t e_count, index_t ld) {
        using DB = xsimd::batch<double, Arch>;
        constexpr index_t DL = index_t(DB::size), V = MR / DL, C = V <= 4 ? 4 : 2;
        static_assert(MR % DL == 0 && NR % C == 0, "micro-tile shape");
        for_each_micro(t, [&](index_t j0, index_t s, std::size_t at) {
            double* g = acc_.data() + at;
            for (index_t j = 0; j < NR; j += C) {
                DB sum[V][C];
                for (index_t v = 0; v < V; ++v)
                    for (index_t c = 0; c < C; ++c) sum[v][c] = DB(0.0);
                // sum ±= MᵀM over this micro-tile's rows and columns j0 + j, …, + C − 1.
                auto add = [&](const double* M, index_t rows, auto update) {
                    for (index_t r = 0; r < rows; ++r) {
                        const double* d = M + r * ld;
                        DB x[V];
                        for (index_t v = 0; v < V; ++v) x[v] = DB::load_unaligned(d + s * MR + v * DL);
                        for (index_t c = 0; c < C; ++c) {
                            const DB y(d[j0 + j + c]);
                            for (index_t v = 0; v < V; ++v) sum[v][c] = update(x[v], y, sum[v][c]);
                        }
                    }
                };
                add(D, count, [](const DB& a, const DB& b, const DB& acc) { return xsimd::fma(a, b, acc); });
                add(E, e_count, [](const DB& a, const DB& b, const DB& acc) { return xsimd::fnma(a, b, acc); });
                for (index_t c = 0; c < C; ++c)
                    for (index_t v = 0; v < V; ++v) {
                        double* o = g + (j + c) * MR + v * DL;
                        (DB::load_unaligned(o) + sum[v][c]).store_unaligned(o);
                    }
            }
        });
    }

    index_t width_, slivers_, ts_;
    index_t micro_calls_ = 0;  // micro-kernel calls per kc block, over all tiles
    bool finite_ = true;
    std::vector<std::pair<index_t, index_t>> tiles_;
    scratch<double> acc_;
};

// trace(G) and ‖G‖_F² of a float_gram (or amx_gram: any Gram with tile_count() and
// for_each_lower(t, f)), summed per tile on geomkit threads and then in tile order
// (thread-count independent).
template <class Gram>
std::pair<double, double> trace_and_frobenius_sq(const Gram& G, int threads = 0) {
    std::vector<std::pair<double, double>> part(std::size_t(G.tile_count()));
    parallel_for(
        G.tile_count(),
        [&](index_t t) {
            double trace = 0, diag = 0, off = 0;
            G.for_each_lower(t, [&](index_t i, index_t j, double g) {
                if (i == j) {
                    trace += g;
                    diag += g * g;
                } else {
                    off += g * g;
                }
            });
            part[std::size_t(t)] = {trace, diag + 2.0 * off};
        },
        threads);
    std::pair<double, double> total{0.0, 0.0};
    for (const auto& p : part) {
        total.first += p.first;
        total.second += p.second;
    }
    return total;
}

// The full symmetric G (for tests and callers that need the matrix itself); an entry no
// tile holds would stay NaN.
template <class Arch>
Eigen::MatrixXd to_matrix(const float_gram<Arch>& G) {
    Eigen::MatrixXd out = Eigen::MatrixXd::Constant(G.width(), G.width(), std::numeric_limits<double>::quiet_NaN());
    for (index_t t = 0; t < G.tile_count(); ++t)
        G.for_each_lower(t, [&](index_t i, index_t j, double g) { out(i, j) = out(j, i) = g; });
    return out;
}
#endif

}  // namespace detail
}  // namespace geomkit
