// Q/K bone orientation (BO) coherence of a KV-cache key snapshot, and head entropy.
//
// The reference is the research Go analysis engine `AnalyseAttention` (its outputs on fixed
// snapshots are recorded in tests/data/bo_reference/ and checked on every test run; CTest
// also runs it live when GEOMKIT_BO_REFERENCE_DIR names its sources). With default options
// every result field matches it: integer fields and threshold decisions exactly, float
// fields to rounding (they differ only in the order of additions), see "Precision".
//
// ## Snapshot layout
// L layers x H KV heads x S positions x D dims. Head h of layer l is an S x D row-major
// block: position p starts at `layer(l).data + h * head_stride + p * position_stride`,
// its D values contiguous. A `key_snapshot` is either one buffer laid out
// [layer][head][position][dim] with strides (a contiguous (L, H, S, D) array by default)
// or an array of per-layer descriptions (`key_layer`), where
//   - a layer with null data is missing (the reference's nil layer), and
//   - a layer may hold a different number of heads than the snapshot's H (the reference
//     iterates the heads a layer has, but averages entropy over L * H).
// Keys are float, double, float16 or bfloat16 (core/half.hpp); 16-bit keys are converted
// to float on the fly, exactly, so they give the result of the same values as float.
//
// ## head_entropy(keys)     keys: S x D
//   m_t = |k_t|, p_t = m_t / sum m, H = -sum_{p_t > 0} p_t log2 p_t / log2 S;
//   0 when S <= 1, D = 0 or every m_t = 0.
//
// ## bone_orientation(keys, options)
// Mode: position-wise ("GQA") when H <= 4, multi-head otherwise (options.mode overrides).
// cos(a, b) = a.b / (|a| |b|) in double over float values, 0 when |a| |b| = 0 (and for
// empty vectors).
// Multi-head, for each present layer (data and at least one head):
//   layer_coherence[l] = mean over head pairs i<j of cos(head_i, head_j), each head
//     flattened to S*D values (0 with fewer than two heads);
//   a pair with cos >= 0.7 is phase-locked; phase_lock_score = locked / all pairs;
//   mean key of the layer = element-wise sum of its heads in head order, divided by the
//     head count, in float (as the reference: float accumulation, float division);
//   layer_cross_alignment[l] = cos(mean key l, mean key l+1) when both layers are
//     present (else 0 and not counted); a joint collapse when it is < 0.5;
//   mean_head_entropy = sum of head_entropy over every head of every layer / (L * H).
// Position-wise, for each present layer, head 0 only (all heads with options.all_heads):
//   layer_coherence[l] = differentiation = 1 - mean over position pairs i<j of
//     cos(k_i, k_j); a pair with cos < 0.3 counts for phase_lock_score;
//   layer_cross_alignment[l] = smoothness = 1 - |layer_coherence[l+1] - layer_coherence[l]|
//     for every adjacent pair (missing layers count as 0), a collapse when < 0.5;
//   mean_head_entropy = sum of head-0 entropies / L.
//   S < 2 or D = 0: the reference's early result (gqa set, per-layer vectors of zeros).
// Both modes: mean_coherence = sum of layer_coherence / L (missing layers add 0),
// mean_cross_alignment = sum of layer_cross_alignment / (L - 1), joint_collapse_count =
// collapses. L = 0 gives the reference's empty result (gqa false, empty vectors).
// composite() (0-10000, Go's int() truncation toward zero, then clamped):
//   multi-head: (0.30 coh + 0.25 cross + 0.20 phase + 0.15 entropy + 0.10 stability) * 1e4
//   position-wise: (0.45 clamp((coh - 0.1) / 0.6, 0, 1) + 0.25 min(1, sigma / 0.2)
//                   + 0.15 entropy + 0.15 stability) * 1e4,
//   stability = max(0, 1 - 0.2 collapses), sigma = population std of layer_coherence
//   about mean_coherence (0 with one layer); every product rounded on its own, in the
//   reference's order. features() = {coh, cross, entropy, phase, stability}, labelled by
//   feature_labels().
//
// ## Beyond the reference (opt-in; the defaults are reference-exact)
// options.all_heads: position-wise analysis over every KV head of each layer. Per layer,
//   differentiation = 1 - mean cosine over the position pairs of all its heads (each head
//   contributes its S(S-1)/2 pairs; heads are never compared with each other); phase lock
//   counts the pairs of every head; entropy is averaged over L * H heads as in multi-head
//   mode. With H = 1 it is the reference result.
// options.mode: force multi-head or position-wise analysis whatever H is.
//
// ## Precision
// Sums run in double over float-exact values (no float accumulation except the
// reference's float mean keys, which are reproduced bit for bit). Float fields differ from
// the reference only through the order of additions: about 1e-15 relative, more only where
// the reference itself cancels (1 - mean cosine of nearly identical keys), where the
// difference stays below ~1e-12 absolute. Every threshold decision is the reference's:
// a cosine (or smoothness) computed fast is settled from its rigorous error bound, and one
// inside that bound of its threshold (0.7, 0.3, 0.5) is recomputed exactly as the
// reference does (products rounded one by one, summed in the reference's order). Position-
// wise mode finds each pair's side of 0.3 from float32 dot products of unit rows (a
// register-tiled panel kernel on AVX-512, a GEMM elsewhere; error bound (D + 4) 2^-23,
// whatever the summation order) and forms the mean cosine in O(S D) as (|sum u|^2 - sum |u|^2) / 2.
// So composite() equals the reference's except when the score itself lies within ~1e-12
// of an integer.
//
// ## Errors (geomkit::error, naming the argument)
// Negative layers / heads / seq_len / head_dim / strides or per-layer head counts; a
// position stride smaller than head_dim; sizes whose element count or strides whose
// offsets overflow index_t (e.g. a huge zero-strided view); null data with a non-zero size (a null layer in
// the per-layer form means "missing"); a non-finite value among the keys the analysis
// reads (the reference would return NaN fields), reported with its [layer, head,
// position, dim]; a layer mean key that overflows float; options.threads < 0.
//
// Threads: options.threads (0 = geomkit::num_threads()). Results are bitwise identical at
// any thread count: work is cut by fixed row blocks and partial sums combine in order.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "config.hpp"
#include "core/error.hpp"
#include "core/half.hpp"
#include "core/matrix_view.hpp"
#include "core/parallel.hpp"

namespace geomkit {

// One layer of a key snapshot. Null data marks a missing layer.
template <class T>
struct key_layer {
    const T* data = nullptr;
    index_t heads = 0;
    index_t head_stride = 0;      // elements from head h to head h + 1
    index_t position_stride = 0;  // elements from position p to p + 1 (>= head_dim)

    GEOMKIT_HD const T* head(index_t h) const noexcept { return data + h * head_stride; }
    GEOMKIT_HD bool present() const noexcept { return data != nullptr && heads > 0; }
};

// Non-owning view of L x H x S x D keys (see "Snapshot layout"). Not validated on
// construction; bone_orientation validates it.
template <class T>
class key_snapshot {
  public:
    // A contiguous [layer][head][position][dim] buffer.
    key_snapshot(const T* data, index_t layers, index_t heads, index_t seq_len, index_t head_dim) noexcept
        : key_snapshot(data, layers, heads, seq_len, head_dim, heads * seq_len * head_dim, seq_len * head_dim,
                       head_dim) {}
    // The same order with explicit strides (elements), e.g. a slice of a larger cache.
    key_snapshot(const T* data, index_t layers, index_t heads, index_t seq_len, index_t head_dim,
                 index_t layer_stride, index_t head_stride, index_t position_stride) noexcept
        : data_(data), layers_(layers), heads_(heads), seq_len_(seq_len), head_dim_(head_dim),
          layer_stride_(layer_stride), head_stride_(head_stride), position_stride_(position_stride) {}
    // One description per layer: layers[0 .. num_layers), each may be missing or short.
    key_snapshot(const key_layer<T>* layers, index_t num_layers, index_t heads, index_t seq_len,
                 index_t head_dim) noexcept
        : per_layer_(layers), per_layer_mode_(true), layers_(num_layers), heads_(heads), seq_len_(seq_len), head_dim_(head_dim) {}

    index_t layers() const noexcept { return layers_; }
    index_t heads() const noexcept { return heads_; }
    index_t seq_len() const noexcept { return seq_len_; }
    index_t head_dim() const noexcept { return head_dim_; }
    bool per_layer() const noexcept { return per_layer_mode_; }
    const T* data() const noexcept { return data_; }
    const key_layer<T>* layer_list() const noexcept { return per_layer_; }
    index_t layer_stride() const noexcept { return layer_stride_; }
    index_t head_stride() const noexcept { return head_stride_; }
    index_t position_stride() const noexcept { return position_stride_; }

    // Layer l (0 <= l < layers()). In the single-buffer form every layer is present; an
    // empty snapshot (no values) may have null data.
    key_layer<T> layer(index_t l) const noexcept {
        if (per_layer_mode_) return per_layer_[l];
        if (data_ == nullptr) return key_layer<T>{&empty_, heads_, 0, 0};
        return key_layer<T>{data_ + l * layer_stride_, heads_, head_stride_, position_stride_};
    }

  private:
    static constexpr T empty_{};
    const T* data_ = nullptr;
    const key_layer<T>* per_layer_ = nullptr;
    bool per_layer_mode_ = false;
    index_t layers_ = 0, heads_ = 0, seq_len_ = 0, head_dim_ = 0;
    index_t layer_stride_ = 0, head_stride_ = 0, position_stride_ = 0;
};

enum class bo_mode {
    automatic,      // the reference's choice: position-wise when heads <= 4
    multi_head,     // head-pair coherence whatever the head count
    position_wise,  // position-pair differentiation whatever the head count
};

struct bone_orientation_options {
    bo_mode mode = bo_mode::automatic;
    bool all_heads = false;  // position-wise over every KV head, not only head 0
    int threads = 0;         // 0 = geomkit::num_threads()
};

struct bone_orientation_result {
    double mean_coherence = 0.0;        // multi-head: head coherence; position-wise: differentiation
    double mean_cross_alignment = 0.0;  // multi-head: mean-key alignment; position-wise: smoothness
    double mean_head_entropy = 0.0;
    double phase_lock_score = 0.0;
    index_t joint_collapse_count = 0;
    std::vector<double> layer_coherence;        // L values
    std::vector<double> layer_cross_alignment;  // L - 1 values
    bool gqa = false;                           // position-wise mode was used

    inline int composite() const noexcept;
    inline std::array<double, 5> features() const noexcept;
    static const std::array<const char*, 5>& feature_labels() noexcept {
        static const std::array<const char*, 5> labels{
            {"mean_coherence", "cross_alignment", "head_entropy", "phase_lock", "joint_stability"}};
        return labels;
    }
};

}  // namespace geomkit

#include "detail/bone_orientation_kernels.hpp"

namespace geomkit {

// ------------------------------------------------------------------ core math (host/device)
// max(0, 1 - 0.2 * collapses), the joint-stability feature.
GEOMKIT_HD inline double bo_joint_stability(index_t collapses) noexcept {
    const double v = 1.0 - detail::unfused_product(double(collapses), 0.2);
    return v > 0.0 ? v : 0.0;
}

// Go's int(x) then min(10000, max(0, .)); int() of a NaN or out-of-range value is the
// minimum int64 on amd64, which clamps to 0.
GEOMKIT_HD inline int bo_score_to_int(double score) noexcept {
    if (!(score > -9.2e18 && score < 9.2e18)) return 0;
    const long long t = static_cast<long long>(score);
    return t < 0 ? 0 : (t > 10000 ? 10000 : int(t));
}

// The composite score from result fields; layer_coherence is used in position-wise mode.
GEOMKIT_HD inline int bo_composite(bool position_wise, double coherence, double cross, double entropy,
                                   double phase_lock, index_t collapses, const double* layer_coherence,
                                   index_t layers) noexcept {
    using detail::unfused_product;
    const double stability = bo_joint_stability(collapses);
    if (!position_wise) {
        double s = unfused_product(0.30, coherence);
        s += unfused_product(0.25, cross);
        s += unfused_product(0.20, phase_lock);
        s += unfused_product(0.15, entropy);
        s += unfused_product(0.10, stability);
        return bo_score_to_int(unfused_product(s, 10000.0));
    }
    double scaled = (coherence - 0.1) / 0.6;
    scaled = 0.0 > scaled ? 0.0 : scaled;
    scaled = 1.0 < scaled ? 1.0 : scaled;
    double spread = 0.0;
    if (layers > 1) {
        double sum_sq = 0.0;
        for (index_t l = 0; l < layers; ++l) {
            const double d = layer_coherence[l] - coherence;
            sum_sq += unfused_product(d, d);
        }
        spread = std::sqrt(sum_sq / double(layers));
    }
    double scaled_spread = spread / 0.2;
    scaled_spread = 1.0 < scaled_spread ? 1.0 : scaled_spread;
    double s = unfused_product(0.45, scaled);
    s += unfused_product(0.25, scaled_spread);
    s += unfused_product(0.15, entropy);
    s += unfused_product(0.15, stability);
    return bo_score_to_int(unfused_product(s, 10000.0));
}

inline int bone_orientation_result::composite() const noexcept {
    return bo_composite(gqa, mean_coherence, mean_cross_alignment, mean_head_entropy, phase_lock_score,
                        joint_collapse_count, layer_coherence.data(), index_t(layer_coherence.size()));
}

inline std::array<double, 5> bone_orientation_result::features() const noexcept {
    return {{mean_coherence, mean_cross_alignment, mean_head_entropy, phase_lock_score,
             bo_joint_stability(joint_collapse_count)}};
}

namespace detail {

template <class T>
void check_keys(const key_snapshot<T>& keys, const char* function) {
    require_non_negative(keys.layers(), function, "layers");
    require_non_negative(keys.heads(), function, "heads");
    require_non_negative(keys.seq_len(), function, "seq_len");
    require_non_negative(keys.head_dim(), function, "head_dim");
    const index_t S = keys.seq_len(), D = keys.head_dim();
    auto check_strides = [&](index_t head_stride, index_t position_stride, const std::string& where) {
        if (head_stride < 0 || position_stride < 0)
            fail(function, "keys", concat(where, "strides must be non-negative"),
                 concat("head_stride ", head_stride, ", position_stride ", position_stride));
        if (S > 1 && position_stride < D)
            fail(function, "keys", concat(where, "position_stride must be at least head_dim (", D, ")"),
                 concat(position_stride));
    };
    // Every size product and element offset must fit in index_t (a zero-strided view may
    // describe far more keys than memory holds).
    auto check_extent = [&](index_t layers, index_t heads, index_t layer_stride, index_t head_stride,
                            index_t position_stride, const std::string& where) {
        if (checked_extent({layers, heads, S, D}, {layer_stride, head_stride, position_stride, 1}) < 0)
            fail(function, "keys", concat(where, "must have sizes and strides whose element count and offsets fit in index_t"),
                 concat(layers, " x ", heads, " x ", S, " x ", D, " with strides (", layer_stride, ", ", head_stride,
                        ", ", position_stride, ", 1)"));
    };
    if (!keys.per_layer()) {
        require_non_negative(keys.layer_stride(), function, "layer_stride");
        check_strides(keys.head_stride(), keys.position_stride(), "");
        check_extent(keys.layers(), keys.heads(), keys.layer_stride(), keys.head_stride(), keys.position_stride(), "");
        require_data(keys.data(), keys.layers() * keys.heads() * S * D, function, "keys");
        return;
    }
    {
        index_t total = 0;
        if (!product_fits(keys.layers(), keys.heads(), total) || !product_fits(total, S, total) ||
            !product_fits(total, D, total))
            fail(function, "keys", "must have sizes whose element count fits in index_t",
                 concat(keys.layers(), " x ", keys.heads(), " x ", S, " x ", D));
    }
    if (keys.layers() > 0 && keys.layer_list() == nullptr)
        fail(function, "keys", "is a null array of layers with non-zero size", concat(keys.layers(), " layers"));
    for (index_t l = 0; l < keys.layers(); ++l) {
        const key_layer<T> k = keys.layer(l);
        if (k.heads < 0) fail(function, "keys", concat("layer ", l, ": heads must be non-negative"), concat(k.heads));
        if (k.data == nullptr) continue;
        check_strides(k.head_stride, k.position_stride, concat("layer ", l, ": "));
        check_extent(1, k.heads, 0, k.head_stride, k.position_stride, concat("layer ", l, ": "));
    }
}

// Throws for the first non-finite key of `row` (host memory, D keys), position p of head h
// of layer l, whose |row|^2 was not finite. (The GPU path reads the row back first.)
template <class T>
[[noreturn]] void fail_non_finite_row(const T* row, index_t D, index_t l, index_t h, index_t p,
                                      const char* function) {
    for (index_t c = 0; c < D; ++c) {
        const double v = double(key_value(row[c]));
        if (!std::isfinite(v))
            fail(function, "keys", "must contain only finite values",
                 concat(v, " at [layer ", l, ", head ", h, ", position ", p, ", dim ", c, "]"));
    }
    fail(function, "keys", "must have rows whose squared norm is finite in double",
         concat("overflow at [layer ", l, ", head ", h, ", position ", p, "]"));
}

template <class T>
[[noreturn]] void fail_non_finite(const key_snapshot<T>& keys, index_t l, index_t h, index_t p,
                                  const char* function) {
    fail_non_finite_row(keys.layer(l).head(h) + p * keys.layer(l).position_stride, keys.head_dim(), l, h, p, function);
}

template <class T>
void check_magnitudes(const key_snapshot<T>& keys, index_t l, index_t h, const double* magnitudes,
                      const char* function) {
    bool ok = true;
    for (index_t p = 0; p < keys.seq_len(); ++p) ok &= std::isfinite(magnitudes[p]);
    if (ok) return;
    for (index_t p = 0; p < keys.seq_len(); ++p)
        if (!std::isfinite(magnitudes[p])) fail_non_finite(keys, l, h, p, function);
}

// Worst-case |computed - exact| of a cosine whose three sums each add n double terms (in
// units of the cosine), doubled to cover the reference's own rounding.
inline double cosine_error_bound(index_t n) { return double(6 * n + 32) * std::ldexp(1.0, -53); }

template <class T>
bone_orientation_result analyse_multi_head(const key_snapshot<T>& keys, const bone_orientation_options& options) {
    const char* fn = "bone_orientation";
    const index_t L = keys.layers(), S = keys.seq_len(), D = keys.head_dim();
    bone_orientation_result r;
    r.layer_coherence.assign(std::size_t(L), 0.0);
    r.layer_cross_alignment.assign(std::size_t(L > 1 ? L - 1 : 0), 0.0);

    std::vector<mh_layer<T>> layers(static_cast<std::size_t>(L));
    index_t n_partial = 0, n_magnitudes = 0;
    for (index_t l = 0; l < L; ++l) {
        const key_layer<T> k = keys.layer(l);
        auto& m = layers[std::size_t(l)];
        m = {k.data, k.heads, k.head_stride, k.position_stride, -1, 0};
        if (!k.present()) continue;
        m.partial_offset = n_partial;
        m.magnitude_offset = n_magnitudes;
        n_partial += k.heads * (k.heads - 1) / 2 + k.heads + 2;
        n_magnitudes += k.heads * S;
    }
    const index_t rows = std::max((2048 + std::max<index_t>(D, 1) - 1) / std::max<index_t>(D, 1), (S + 31) / 32);
    const index_t chunks = (S + rows - 1) / rows;
    std::vector<double> partial(static_cast<std::size_t>(chunks * n_partial), 0.0), magnitudes(static_cast<std::size_t>(n_magnitudes));
    parallel_for(
        chunks,
        [&](index_t c) {
            multi_head_rows_fast(layers, S, D, c * rows, std::min(S, (c + 1) * rows), partial.data() + c * n_partial,
                            magnitudes.data());
        },
        options.threads);
    std::vector<double> sums(static_cast<std::size_t>(n_partial), 0.0);
    for (index_t c = 0; c < chunks; ++c)
        for (index_t i = 0; i < n_partial; ++i) sums[std::size_t(i)] += partial[std::size_t(c * n_partial + i)];

    const double pair_band = cosine_error_bound(S * D);
    double total_coherence = 0.0, total_entropy = 0.0, total_cross = 0.0;
    std::int64_t locked = 0, all_pairs = 0;
    for (index_t l = 0; l < L; ++l) {
        const auto& m = layers[std::size_t(l)];
        if (m.partial_offset < 0) continue;
        const index_t H = m.heads, pairs = H * (H - 1) / 2;
        const double* s = sums.data() + m.partial_offset;
        for (index_t h = 0; h < H; ++h) check_magnitudes(keys, l, h, magnitudes.data() + m.magnitude_offset + h * S, fn);
        if (!std::isfinite(s[pairs + H]))
            fail(fn, "keys", "must have layer mean keys representable in the mean type (float for float keys)",
                 concat("overflow in layer ", l));
        double coherence = 0.0;
        for (index_t i = 0; i < H; ++i)
            for (index_t j = i + 1; j < H; ++j) {
                const double denom = std::sqrt(s[pairs + i]) * std::sqrt(s[pairs + j]);
                double c = denom == 0.0 ? 0.0 : s[pair_index(i, j, H)] / denom;
                if (std::fabs(c - 0.7) <= pair_band)
                    c = reference_cosine(m.data + i * m.head_stride, m.position_stride, m.data + j * m.head_stride,
                                         m.position_stride, S, D);
                coherence += c;
                locked += c >= 0.7;
                ++all_pairs;
            }
        if (pairs > 0) coherence /= double(pairs);
        r.layer_coherence[std::size_t(l)] = coherence;
        total_coherence += coherence;
        for (index_t h = 0; h < H; ++h)
            total_entropy += entropy_from_magnitudes(magnitudes.data() + m.magnitude_offset + h * S, S);
    }
    for (index_t l = 0; l + 1 < L; ++l) {
        const auto &a = layers[std::size_t(l)], &b = layers[std::size_t(l + 1)];
        if (a.partial_offset < 0 || b.partial_offset < 0) continue;
        const double* sa = sums.data() + a.partial_offset + a.heads * (a.heads - 1) / 2 + a.heads;
        const double* sb = sums.data() + b.partial_offset + b.heads * (b.heads - 1) / 2 + b.heads;
        const double denom = std::sqrt(sa[0]) * std::sqrt(sb[0]);
        double c = denom == 0.0 ? 0.0 : sb[1] / denom;
        if (std::fabs(c - 0.5) <= pair_band)
            c = reference_mean_cosine(a.data, a.heads, a.head_stride, a.position_stride, b.data, b.heads,
                                      b.head_stride, b.position_stride, S, D);
        r.layer_cross_alignment[std::size_t(l)] = c;
        total_cross += c;
        r.joint_collapse_count += c < 0.5;
    }
    r.mean_coherence = total_coherence / double(L);
    if (L > 1) r.mean_cross_alignment = total_cross / double(L - 1);
    if (L * keys.heads() > 0) r.mean_head_entropy = total_entropy / double(L * keys.heads());
    if (all_pairs > 0) r.phase_lock_score = double(locked) / double(all_pairs);
    return r;
}

// One head analysed position-wise.
template <class T>
struct pw_unit {
    index_t layer, head;
    const T* data;
    index_t position_stride;
    double similarity_sum = 0.0, entropy = 0.0;
    std::int64_t below = 0;
};

// The reference's differentiation of a layer, pair by pair in its order.
template <class T>
double exact_differentiation(const std::vector<pw_unit<T>>& units, index_t layer, index_t S, index_t D) {
    double sum = 0.0;
    std::int64_t pairs = 0;
    for (const auto& u : units) {
        if (u.layer != layer) continue;
        for (index_t i = 0; i < S; ++i)
            for (index_t j = i + 1; j < S; ++j, ++pairs)
                sum += reference_cosine(u.data + i * u.position_stride, 0, u.data + j * u.position_stride, 0, 1, D);
    }
    return pairs > 0 ? 1.0 - sum / double(pairs) : 0.0;
}

template <class T>
bone_orientation_result analyse_position_wise(const key_snapshot<T>& keys, const bone_orientation_options& options) {
    const char* fn = "bone_orientation";
    const index_t L = keys.layers(), S = keys.seq_len(), D = keys.head_dim();
    bone_orientation_result r;
    r.gqa = true;
    r.layer_coherence.assign(std::size_t(L), 0.0);
    r.layer_cross_alignment.assign(std::size_t(L > 1 ? L - 1 : 0), 0.0);
    if (S < 2 || D == 0) return r;

    std::vector<pw_unit<T>> units;
    for (index_t l = 0; l < L; ++l) {
        const key_layer<T> k = keys.layer(l);
        if (!k.present()) continue;
        for (index_t h = 0; h < (options.all_heads ? k.heads : 1); ++h)
            units.push_back({l, h, k.head(h), k.position_stride});
    }
    const index_t n_units = index_t(units.size()), block = 128, blocks = (S + block - 1) / block;
    // Heads per group: a few MiB of unit rows, reused (not paged in afresh) group after group.
    const index_t group = std::max<index_t>(1, (index_t(4) << 20) / (S * D * index_t(sizeof(float))));
    const double band = double(D + 4) * std::ldexp(1.0, -23) + 1e-12;
    std::vector<double> magnitudes(static_cast<std::size_t>(S * std::min(group, n_units)));
    // (bo_count_panel reads up to bo_panel_rows rows past a head's last one: zero them.)
    const std::size_t unit_floats = std::size_t(std::min(group, n_units) * S * D), unit_pad = std::size_t(16 * D);
    std::unique_ptr<float[]> unit_rows(new float[unit_floats + unit_pad]);
    std::fill(unit_rows.get() + unit_floats, unit_rows.get() + unit_floats + unit_pad, 0.0f);
#if defined(GEOMKIT_BO_AVX512)
    const index_t panels = (S + bo_panel_cols - 1) / bo_panel_cols, panel_floats = panels * bo_panel_cols * D;
    std::unique_ptr<float[]> packed(new float[std::size_t(std::min(group, n_units) * panel_floats)]);
#endif
    for (index_t first = 0; first < n_units; first += group) {
        const index_t count = std::min(group, n_units - first);
        parallel_for(
            count,
            [&](index_t i) {
                auto& u = units[std::size_t(first + i)];
                double* mag = magnitudes.data() + i * S;
                u.similarity_sum =
                    position_wise_normalise(u.data, u.position_stride, S, D, unit_rows.get() + i * S * D, mag);
                u.entropy = entropy_from_magnitudes(mag, S);
#if defined(GEOMKIT_BO_AVX512)
                bo_pack_panels(unit_rows.get() + i * S * D, S, D, packed.get() + i * panel_floats);
#endif
            },
            options.threads);
        for (index_t i = 0; i < count; ++i)
            check_magnitudes(keys, units[std::size_t(first + i)].layer, units[std::size_t(first + i)].head,
                             magnitudes.data() + i * S, fn);
#if defined(GEOMKIT_BO_AVX512)
        (void)blocks;
        std::vector<std::int64_t> below(static_cast<std::size_t>(count * panels), 0);
        parallel_for(
            count * panels,
            [&](index_t item) {
                const index_t i = item / panels, c = panels - 1 - item % panels;  // costliest panels first
                const auto& u = units[std::size_t(first + i)];
                below[std::size_t(item)] = bo_count_panel(unit_rows.get() + i * S * D, packed.get() + i * panel_floats,
                                                          S, D, c, u.data, u.position_stride, 0.3, band);
            },
            options.threads);
        for (index_t item = 0; item < count * panels; ++item)
            units[std::size_t(first + item / panels)].below += below[std::size_t(item)];
#else
        std::vector<std::int64_t> below(static_cast<std::size_t>(count * blocks), 0);
        parallel_for(
            count * blocks,
            [&](index_t item) {
                const index_t i = item / blocks, b = item % blocks;
                const auto& u = units[std::size_t(first + i)];
                std::vector<float> tile(static_cast<std::size_t>(block * (S - b * block)));
                below[std::size_t(item)] = position_wise_count_below(
                    unit_rows.get() + i * S * D, S, D, b * block, std::min(block, S - b * block), u.data,
                    u.position_stride, 0.3, band, tile.data());
            },
            options.threads);
        for (index_t item = 0; item < count * blocks; ++item)
            units[std::size_t(first + item / blocks)].below += below[std::size_t(item)];
#endif
    }

    const double pairs_per_head = double(S) * double(S - 1) / 2.0;
    std::vector<double> similarity(static_cast<std::size_t>(L), 0.0), pairs(static_cast<std::size_t>(L), 0.0);
    double total_entropy = 0.0;
    std::int64_t locked = 0, all_pairs = 0;
    for (const auto& u : units) {
        similarity[std::size_t(u.layer)] += u.similarity_sum;
        pairs[std::size_t(u.layer)] += pairs_per_head;
        total_entropy += u.entropy;
        locked += u.below;
        all_pairs += S * (S - 1) / 2;
    }
    for (index_t l = 0; l < L; ++l)
        if (pairs[std::size_t(l)] > 0) r.layer_coherence[std::size_t(l)] = 1.0 - similarity[std::size_t(l)] / pairs[std::size_t(l)];
    // A smoothness within rounding of 0.5 is settled with the two layers' exact values.
    std::vector<bool> exact(static_cast<std::size_t>(L), false);
    for (index_t l = 0; l + 1 < L; ++l) {
        const double smooth = 1.0 - std::fabs(r.layer_coherence[std::size_t(l + 1)] - r.layer_coherence[std::size_t(l)]);
        const double tol = 4.0 * (std::max(pairs[std::size_t(l)], pairs[std::size_t(l + 1)]) + double(4 * S + 4 * D + 64)) *
                           std::ldexp(1.0, -53);
        if (std::fabs(smooth - 0.5) <= tol) exact[std::size_t(l)] = exact[std::size_t(l + 1)] = true;
    }
    for (index_t l = 0; l < L; ++l)
        if (exact[std::size_t(l)]) r.layer_coherence[std::size_t(l)] = exact_differentiation(units, l, S, D);
    double total_diff = 0.0, total_cross = 0.0;
    for (index_t l = 0; l < L; ++l) total_diff += r.layer_coherence[std::size_t(l)];
    for (index_t l = 0; l + 1 < L; ++l) {
        const double smooth = 1.0 - std::fabs(r.layer_coherence[std::size_t(l + 1)] - r.layer_coherence[std::size_t(l)]);
        r.layer_cross_alignment[std::size_t(l)] = smooth;
        r.joint_collapse_count += smooth < 0.5;
    }
    for (double v : r.layer_cross_alignment) total_cross += v;
    r.mean_coherence = total_diff / double(L);
    if (!r.layer_cross_alignment.empty()) r.mean_cross_alignment = total_cross / double(r.layer_cross_alignment.size());
    const index_t entropy_heads = options.all_heads ? L * keys.heads() : L;
    if (entropy_heads > 0) r.mean_head_entropy = total_entropy / double(entropy_heads);
    if (all_pairs > 0) r.phase_lock_score = double(locked) / double(all_pairs);
    return r;
}

}  // namespace detail

// ------------------------------------------------------------------ public API
// Normalised entropy of the position norms of one head's keys (S x D); see the top of
// this file. Errors: a malformed view, non-finite keys.
template <class T>
double head_entropy(matrix_view<const T> keys) {
    const char* fn = "head_entropy";
    detail::check_view(keys, fn, "keys");
    const index_t S = keys.rows(), D = keys.cols();
    if (S <= 1 || D == 0) return 0.0;
    std::vector<double> magnitudes(static_cast<std::size_t>(S));
    std::vector<detail::mean_type_t<T>> converted(static_cast<std::size_t>(D));
    std::vector<double> x(static_cast<std::size_t>(D));
    for (index_t p = 0; p < S; ++p) {
        detail::widen_row(detail::row_in_mean_type(keys.row(p), D, converted.data()), D, x.data());
        magnitudes[std::size_t(p)] = std::sqrt(simd::squared_norm(x.data(), D));
        if (!std::isfinite(magnitudes[std::size_t(p)])) {
            for (index_t c = 0; c < D; ++c)
                if (!std::isfinite(x[std::size_t(c)]))
                    detail::fail(fn, "keys", "must contain only finite values",
                                 detail::concat(x[std::size_t(c)], " at [", p, ", ", c, "]"));
            detail::fail(fn, "keys", "must have rows whose squared norm is finite in double",
                         detail::concat("overflow in row ", p));
        }
    }
    return detail::entropy_from_magnitudes(magnitudes.data(), S);
}
template <class T>
double head_entropy(matrix_view<T> keys) {
    return head_entropy(matrix_view<const T>(keys));
}
template <class T>
double head_entropy(const T* keys, index_t seq_len, index_t head_dim) {
    detail::require_non_negative(seq_len, "head_entropy", "seq_len");
    detail::require_non_negative(head_dim, "head_entropy", "head_dim");
    return head_entropy(matrix_view<const T>(keys, seq_len, head_dim));
}

namespace detail {

// Magnitude scaling. Every result is unchanged when all keys are multiplied by one positive
// number (cosines, magnitude entropies, means and the thresholds on them), and a power of
// two does it exactly; so double keys whose largest magnitude lies outside
// [2^-400, 2^400] (where squared norms and dot products overflow to Inf, giving NaN
// cosines, or underflow to 0) are analysed on a copy scaled by one. float keys never need
// it (their squares are formed in double).
constexpr int bo_safe_exponent = 400;

// The e with max |key| = m·2^e, m in [0.5, 1) (0 when every key is 0).
template <class T>
int snapshot_max_exponent(const key_snapshot<T>& keys) {
    double m = 0;
    const index_t S = keys.seq_len(), D = keys.head_dim();
    for (index_t l = 0; l < keys.layers(); ++l) {
        const key_layer<T> layer = keys.layer(l);
        if (!layer.present()) continue;
        for (index_t h = 0; h < layer.heads; ++h)
            for (index_t p = 0; p < S; ++p) {
                const T* row = layer.head(h) + p * layer.position_stride;
                for (index_t c = 0; c < D; ++c) m = std::max(m, std::fabs(double(row[c])));
            }
    }
    int e = 0;
    if (m > 0 && std::isfinite(m)) std::frexp(m, &e);
    return e;
}

// keys·2^-e as one contiguous buffer with per-layer descriptions (missing layers and
// per-layer head counts kept).
struct scaled_snapshot {
    std::vector<double> values;
    std::vector<key_layer<double>> layers;
};

inline scaled_snapshot scale_snapshot(const key_snapshot<double>& keys, int e) {
    const index_t L = keys.layers(), S = keys.seq_len(), D = keys.head_dim();
    index_t H = keys.heads();
    for (index_t l = 0; l < L; ++l) H = std::max(H, keys.layer(l).present() ? keys.layer(l).heads : 0);
    scaled_snapshot out;
    out.values.resize(static_cast<std::size_t>(L * H * S * D));
    out.layers.resize(static_cast<std::size_t>(L));
    for (index_t l = 0; l < L; ++l) {
        const key_layer<double> layer = keys.layer(l);
        key_layer<double>& o = out.layers[std::size_t(l)];
        if (!layer.present()) continue;
        double* base = out.values.data() + l * H * S * D;
        for (index_t h = 0; h < layer.heads; ++h)
            for (index_t p = 0; p < S; ++p) {
                const double* row = layer.head(h) + p * layer.position_stride;
                double* dst = base + (h * S + p) * D;
                for (index_t c = 0; c < D; ++c) dst[c] = std::ldexp(row[c], -e);
            }
        o.data = base;
        o.heads = layer.heads;
        o.head_stride = S * D;
        o.position_stride = D;
    }
    return out;
}

}  // namespace detail

// Bone-orientation metrics of a key snapshot; see the top of this file.
template <class T>
bone_orientation_result bone_orientation(const key_snapshot<T>& keys, const bone_orientation_options& options = {}) {
    detail::check_keys(keys, "bone_orientation");
    if (options.threads < 0)
        detail::fail("bone_orientation", "options.threads", "must be >= 0 (0 = the geomkit setting)",
                     detail::concat(options.threads));
    if (keys.layers() == 0) return bone_orientation_result{};
    if constexpr (std::is_same<T, double>::value) {
        const int e = detail::snapshot_max_exponent(keys);
        if (e > detail::bo_safe_exponent || e < -detail::bo_safe_exponent) {
            const detail::scaled_snapshot scaled = detail::scale_snapshot(keys, e);
            return bone_orientation(key_snapshot<double>(scaled.layers.data(), keys.layers(), keys.heads(),
                                                         keys.seq_len(), keys.head_dim()),
                                    options);
        }
    }
    const bool position_wise = options.mode == bo_mode::position_wise ||
                               (options.mode == bo_mode::automatic && keys.heads() <= 4);
    return position_wise ? detail::analyse_position_wise(keys, options) : detail::analyse_multi_head(keys, options);
}

// A contiguous (layers, heads, seq_len, head_dim) array.
template <class T>
bone_orientation_result bone_orientation(const T* keys, index_t layers, index_t heads, index_t seq_len,
                                         index_t head_dim, const bone_orientation_options& options = {}) {
    return bone_orientation(key_snapshot<T>(keys, layers, heads, seq_len, head_dim), options);
}

}  // namespace geomkit
