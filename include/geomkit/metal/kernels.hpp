// The Metal kernels of geomkit, as one text that is both compiled here as C++ and handed
// to the Metal compiler as MSL source.
//
// HOW ONE TEXT SERVES BOTH. The kernel code below is the argument of one macro,
// GEOMKIT_METAL_SHARED_SOURCE(...), which expands to the code itself (compiled as C++ in
// namespace geomkit::metal::kernels, so CPU tests run the very kernel bodies, entry points
// included) followed by `shared_source`, the same tokens stringified (#__VA_ARGS__). The
// Metal side compiles msl_program() = msl_prelude + shared_source. The text therefore
// cannot drift between the two: it is one token sequence, spelled once. Its only
// dialect-specific spellings are the GEOMKIT_MSL_* macros and the gk_* helpers, which
// each prelude defines (address spaces and attributes are empty in C++; fma, bit casts).
// Rules for the text (MSL is C++14 without the standard library): no std::, no double,
// no 64-bit integers, no exceptions, recursion, lambdas or function pointers, no '#'
// (preprocessor lines cannot live inside a macro argument), every pointer or reference
// parameter qualified with GEOMKIT_MSL_THREAD / GEOMKIT_MSL_DEVICE. Stringification
// joins the text into one line, so Metal compiler messages all point at line 1 of the
// shared part; compile the C++ side (tests/test_metal_math.cpp) to locate a mistake.
//
// NUMERICS: float32 only (Metal has no double), yet float64-quality results. Values are
// kept as double-float pairs (df64: hi + lo, |lo| <= ulp(hi)/2, about 48 bits) built from
// error-free transformations: two_sum (Knuth), fast_two_sum (Dekker) and two_prod by fma;
// addition, multiplication and division are the accurate double-word algorithms analysed
// by Joldes, Muller and Popescu (ACM TOMS 2017): relative errors below 3u², 5u², 15u²
// (u = 2^-24). None of them relies on a correctly rounded division, and a compiler that
// contracts a*b+c into fma keeps every one of them valid; reassociation (fast math) would
// not, so the Metal library is compiled with fast math off.
//  - Simplex vol²: edges p_i - p_0 are exact (two_sum of the two floats); their products
//    are df64 products, summed in df64: the edge Gram to ~2^-44 relative per entry. Its
//    determinant by LDLᵀ with diagonal pivoting (the CPU's algorithm) in df64, with the
//    pivot product kept as df64 mantissa × 2^exponent, then / (k!)². Gram entries whose
//    scale would leave float's safe range (above 2^100, or nonzero below 2^-60) are
//    recomputed from rescaled coordinates (overflow) or rescaled edges (underflow), by
//    powers of two (exact). Results are scaled_df {hi, lo, exponent}: the host forms
//    (hi + lo) · 2^exponent in double, so no float range limits what comes back.
//  - Row squared norms (head entropy) and dot products (cosine): exact float products
//    summed in df64, rescaled the same way when out of range.
//  - Random draws: Philox4x32-10 and Floyd's sampling in 32-bit integer arithmetic only,
//    the 32×32→64 multiply done in 16-bit limbs: bit for bit the CPU's counter_rng /
//    sample_distinct (core/random.hpp), whatever the device's 64-bit support.
// Measured accuracy (tests/test_metal_math.cpp, this code compiled as C++): see docs/reference/gpu.md.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

namespace geomkit {
namespace metal {
namespace kernels {

// ---- C++ stand-ins for the MSL spellings (the MSL prelude below defines the same names).
#define GEOMKIT_MSL_KERNEL inline
#define GEOMKIT_MSL_DEVICE
#define GEOMKIT_MSL_THREAD
#define GEOMKIT_MSL_CONSTANT const
#define GEOMKIT_MSL_BUFFER(index)
#define GEOMKIT_MSL_THREAD_ID

using u32 = std::uint32_t;
inline float gk_fma(float a, float b, float c) { return std::fma(a, b, c); }
inline u32 gk_float_bits(float x) {
    u32 u;
    std::memcpy(&u, &x, sizeof u);
    return u;
}
inline float gk_bits_float(u32 u) {
    float x;
    std::memcpy(&x, &u, sizeof x);
    return x;
}

// Expands to the code, then to the same code as a string literal.
#define GEOMKIT_METAL_SHARED_SOURCE(...) \
    __VA_ARGS__                          \
    inline constexpr char shared_source[] = #__VA_ARGS__;

GEOMKIT_METAL_SHARED_SOURCE(

enum { metal_max_k = 8 };

struct scaled_df {
    float hi;
    float lo;
    int exponent;
    int reserved;
};

struct simplex_params {
    u32 batch;
    u32 vertices;
    u32 cols;
    u32 reserved;
};

struct pentachoron_draw_params {
    u32 seed_lo;
    u32 seed_hi;
    u32 first_lo;
    u32 first_hi;
    u32 count;
    u32 pool;
    u32 cols;
    u32 reserved;
};

struct rows_params {
    u32 rows;
    u32 cols;
    u32 reserved0;
    u32 reserved1;
};

struct df64 {
    float hi;
    float lo;
};

inline df64 df_make(float hi, float lo) {
    df64 r;
    r.hi = hi;
    r.lo = lo;
    return r;
}

inline scaled_df scaled_make(df64 v, int exponent) {
    scaled_df r;
    r.hi = v.hi;
    r.lo = v.lo;
    r.exponent = exponent;
    r.reserved = 0;
    return r;
}

inline df64 df_two_sum(float a, float b) {
    float s = a + b;
    float bb = s - a;
    float e = (a - (s - bb)) + (b - bb);
    return df_make(s, e);
}

inline df64 df_fast_two_sum(float a, float b) {
    float s = a + b;
    float e = b - (s - a);
    return df_make(s, e);
}

inline df64 df_two_prod(float a, float b) {
    float p = a * b;
    return df_make(p, gk_fma(a, b, -p));
}

inline df64 df_add(df64 x, df64 y) {
    df64 s = df_two_sum(x.hi, y.hi);
    df64 t = df_two_sum(x.lo, y.lo);
    df64 v = df_fast_two_sum(s.hi, s.lo + t.hi);
    return df_fast_two_sum(v.hi, t.lo + v.lo);
}

inline df64 df_neg(df64 x) { return df_make(-x.hi, -x.lo); }

inline df64 df_sub(df64 x, df64 y) { return df_add(x, df_neg(y)); }

inline df64 df_mul(df64 x, df64 y) {
    df64 c = df_two_prod(x.hi, y.hi);
    float t = x.lo * y.lo;
    t = gk_fma(x.hi, y.lo, t);
    t = gk_fma(x.lo, y.hi, t);
    return df_fast_two_sum(c.hi, c.lo + t);
}

inline df64 df_mul_float(df64 x, float y) {
    df64 c = df_two_prod(x.hi, y);
    return df_fast_two_sum(c.hi, gk_fma(x.lo, y, c.lo));
}

inline df64 df_div(df64 x, df64 y) {
    float th = x.hi / y.hi;
    df64 r = df_mul_float(y, th);
    float pi = x.hi - r.hi;
    float delta = (x.lo - r.lo) + pi;
    return df_fast_two_sum(th, delta / y.hi);
}

inline bool df_greater(df64 x, df64 y) { return x.hi > y.hi || (x.hi == y.hi && x.lo > y.lo); }

inline bool df_equal(df64 x, df64 y) { return x.hi == y.hi && x.lo == y.lo; }

inline float gk_abs(float x) { return x < 0.0f ? -x : x; }

inline int gk_max_int(int a, int b) { return a > b ? a : b; }

inline int gk_min_int(int a, int b) { return a < b ? a : b; }

// 2^e for -126 <= e <= 127 (a normal float, built from its bits).
inline float gk_pow2(int e) { return gk_bits_float(u32(e + 127) << 23); }

// e with x = m · 2^e, 1/2 <= m < 1, for finite x > 0.
inline int gk_exponent(float x) {
    int e = int((gk_float_bits(x) >> 23) & 255u);
    if (e == 0) return int((gk_float_bits(x * 16777216.0f) >> 23) & 255u) - 150;
    return e - 126;
}

// x · 2^e for |e| <= 252, in two exact steps while the result stays normal.
inline df64 df_ldexp(df64 x, int e) {
    int h = e / 2;
    float a = gk_pow2(h);
    float b = gk_pow2(e - h);
    return df_make(x.hi * a * b, x.lo * a * b);
}

// ---- Philox4x32-10 and Floyd sampling: geomkit::counter_rng / sample_distinct, 32-bit only.

inline void mul_wide(u32 a, u32 b, GEOMKIT_MSL_THREAD u32& hi, GEOMKIT_MSL_THREAD u32& lo) {
    u32 a0 = a & 65535u;
    u32 a1 = a >> 16;
    u32 b0 = b & 65535u;
    u32 b1 = b >> 16;
    u32 p00 = a0 * b0;
    u32 p01 = a0 * b1;
    u32 p10 = a1 * b0;
    u32 mid = (p00 >> 16) + (p01 & 65535u) + (p10 & 65535u);
    hi = a1 * b1 + (p01 >> 16) + (p10 >> 16) + (mid >> 16);
    lo = a * b;
}

struct philox_stream {
    u32 key0;
    u32 key1;
    u32 stream0;
    u32 stream1;
    u32 block_lo;
    u32 block_hi;
    u32 words[4];
    int used;
};

inline philox_stream philox_open(u32 seed_lo, u32 seed_hi, u32 stream_lo, u32 stream_hi) {
    philox_stream s;
    s.key0 = seed_lo;
    s.key1 = seed_hi;
    s.stream0 = stream_lo;
    s.stream1 = stream_hi;
    s.block_lo = 0u;
    s.block_hi = 0u;
    for (int i = 0; i < 4; ++i) s.words[i] = 0u;
    s.used = 4;
    return s;
}

inline void philox_refill(GEOMKIT_MSL_THREAD philox_stream& s) {
    u32 c0 = s.block_lo;
    u32 c1 = s.block_hi;
    u32 c2 = s.stream0;
    u32 c3 = s.stream1;
    u32 k0 = s.key0;
    u32 k1 = s.key1;
    for (int round = 0; round < 10; ++round) {
        u32 hi0;
        u32 lo0;
        u32 hi1;
        u32 lo1;
        mul_wide(3528531795u, c0, hi0, lo0);
        mul_wide(3449720151u, c2, hi1, lo1);
        u32 n0 = hi1 ^ c1 ^ k0;
        u32 n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
        k0 += 2654435769u;
        k1 += 3144134277u;
    }
    s.words[0] = c0;
    s.words[1] = c1;
    s.words[2] = c2;
    s.words[3] = c3;
    s.used = 0;
    s.block_lo += 1u;
    if (s.block_lo == 0u) s.block_hi += 1u;
}

inline u32 philox_next(GEOMKIT_MSL_THREAD philox_stream& s) {
    if (s.used == 4) philox_refill(s);
    u32 w = s.words[s.used];
    s.used += 1;
    return w;
}

// Uniform in [0, n), n >= 1: Lemire's multiply-and-reject, as counter_rng::uniform_index.
inline u32 philox_uniform_index(GEOMKIT_MSL_THREAD philox_stream& s, u32 n) {
    u32 hi;
    u32 lo;
    mul_wide(philox_next(s), n, hi, lo);
    if (lo < n) {
        u32 threshold = (0u - n) % n;
        while (lo < threshold) mul_wide(philox_next(s), n, hi, lo);
    }
    return hi;
}

// k distinct indices in [0, n) (Floyd), as geomkit::sample_distinct.
inline void philox_sample_distinct(GEOMKIT_MSL_THREAD philox_stream& s, u32 n, int k, GEOMKIT_MSL_THREAD u32* out) {
    for (int filled = 0; filled < k; ++filled) {
        u32 j = n - u32(k) + u32(filled);
        u32 t = philox_uniform_index(s, j + 1u);
        for (int q = 0; q < filled; ++q) {
            if (out[q] == t) {
                t = j;
                break;
            }
        }
        out[filled] = t;
    }
}

// The 5 rows of pentachoron sample (stream_hi · 2^32 + stream_lo), as geomkit::pentachoron_sample.
inline void pentachoron_draw(u32 seed_lo, u32 seed_hi, u32 stream_lo, u32 stream_hi, u32 pool,
                             GEOMKIT_MSL_THREAD u32* rows) {
    philox_stream s = philox_open(seed_lo, seed_hi, stream_lo, stream_hi);
    philox_sample_distinct(s, pool, 5, rows);
}

// ---- Simplex volume.

inline int tri_index(int i, int j, int k) { return i >= j ? i * k + j : j * k + i; }

// Lower triangle (row-major k × k) of the Gram of the edges (c·p_i − c·p_0) · s, i = 1..k,
// vertex i being row `rows[i]` of `base` (cols values each); c, s powers of two. Returns
// the largest diagonal entry's hi part.
inline float edge_gram_df(GEOMKIT_MSL_DEVICE const float* base, GEOMKIT_MSL_THREAD const u32* rows, int k, u32 cols,
                          float c, float s, GEOMKIT_MSL_THREAD df64* G) {
    for (int i = 0; i < k; ++i)
        for (int j = 0; j <= i; ++j) G[i * k + j] = df_make(0.0f, 0.0f);
    for (u32 l = 0; l < cols; ++l) {
        float o = base[rows[0] * cols + l] * c;
        df64 e[metal_max_k];
        for (int i = 0; i < k; ++i) {
            df64 d = df_two_sum(base[rows[i + 1] * cols + l] * c, -o);
            e[i] = df_make(d.hi * s, d.lo * s);
        }
        for (int i = 0; i < k; ++i)
            for (int j = 0; j <= i; ++j) G[i * k + j] = df_add(G[i * k + j], df_mul(e[i], e[j]));
    }
    float top = 0.0f;
    for (int i = 0; i < k; ++i)
        if (!(G[i * k + i].hi <= top)) top = G[i * k + i].hi;  // NaN (an overflow) wins
    return top;
}

// vol² = det(G) / (k!)² of the simplex with vertex rows `rows[0..k]` (1 <= k <= metal_max_k),
// as geomkit::simplex_volume_sq in float-float arithmetic (see the top of this file).
inline scaled_df simplex_volume_sq_df(GEOMKIT_MSL_DEVICE const float* base, GEOMKIT_MSL_THREAD const u32* rows,
                                      int k, u32 cols) {
    scaled_df zero = scaled_make(df_make(0.0f, 0.0f), 0);
    if (cols < u32(k)) return zero;
    df64 G[metal_max_k * metal_max_k];
    float top = edge_gram_df(base, rows, k, cols, 1.0f, 1.0f, G);
    int scale_exp = 0;
    if (!(top <= gk_pow2(100))) {
        float m = 0.0f;
        for (int i = 0; i <= k; ++i)
            for (u32 l = 0; l < cols; ++l) m = gk_abs(base[rows[i] * cols + l]) > m ? gk_abs(base[rows[i] * cols + l]) : m;
        scale_exp = gk_min_int(gk_exponent(m), 126);
        top = edge_gram_df(base, rows, k, cols, gk_pow2(-scale_exp), 1.0f, G);
    } else if (top < gk_pow2(-60)) {
        float m = 0.0f;
        for (int i = 1; i <= k; ++i)
            for (u32 l = 0; l < cols; ++l) {
                float d = gk_abs(base[rows[i] * cols + l] - base[rows[0] * cols + l]);
                m = d > m ? d : m;
            }
        if (m == 0.0f) return zero;
        scale_exp = gk_max_int(gk_exponent(m), -100);
        top = edge_gram_df(base, rows, k, cols, 1.0f, gk_pow2(-scale_exp), G);
    }
    if (!(top > 0.0f)) return zero;
    for (int i = 1; i < k; ++i)
        for (int j = 0; j < i; ++j)
            if (df_equal(G[i * k + j], G[i * k + i]) && df_equal(G[i * k + j], G[j * k + j])) return zero;
    int f = gk_exponent(top);
    for (int i = 0; i < k; ++i)
        for (int j = 0; j <= i; ++j) G[i * k + j] = df_ldexp(G[i * k + j], -f);
    df64 det = df_make(1.0f, 0.0f);
    int det_exp = 0;
    for (int j = 0; j < k; ++j) {
        int p = j;
        for (int i = j + 1; i < k; ++i)
            if (df_greater(G[i * k + i], G[p * k + p])) p = i;
        if (p != j) {
            for (int q = 0; q < k; ++q) {
                if (q != j && q != p) {
                    df64 t = G[tri_index(j, q, k)];
                    G[tri_index(j, q, k)] = G[tri_index(p, q, k)];
                    G[tri_index(p, q, k)] = t;
                }
            }
            df64 t = G[j * k + j];
            G[j * k + j] = G[p * k + p];
            G[p * k + p] = t;
        }
        df64 pivot = G[j * k + j];
        if (pivot.hi == 0.0f) return zero;
        det = df_mul(det, pivot);
        int e = gk_exponent(gk_abs(det.hi));
        det = df_ldexp(det, -e);
        det_exp += e;
        for (int i = j + 1; i < k; ++i) {
            df64 l = df_div(G[i * k + j], pivot);
            for (int m = j + 1; m <= i; ++m) G[i * k + m] = df_sub(G[i * k + m], df_mul(l, G[m * k + j]));
        }
    }
    float factorial = 1.0f;
    for (int j = 2; j <= k; ++j) factorial *= float(j);
    det = df_div(det, df_make(factorial, 0.0f));
    det = df_div(det, df_make(factorial, 0.0f));
    return scaled_make(det, det_exp + k * f + 2 * k * scale_exp);
}

// ---- Row norms and dot products.

inline float max_abs(GEOMKIT_MSL_DEVICE const float* x, u32 n) {
    float m = 0.0f;
    for (u32 l = 0; l < n; ++l) m = gk_abs(x[l]) > m ? gk_abs(x[l]) : m;
    return m;
}

// Too large (or NaN after an overflow), or so small (0 included: it may be an underflow)
// that the low parts would be subnormal.
inline bool outside_safe_range(float v) { return !(v <= gk_pow2(100)) || v < gk_pow2(-60); }

// Exponent e that brings max |x| to [1/2, 1) when multiplied by 2^-e, clamped to keep 2^-e normal.
inline int rescale_exponent(float m) { return m > 0.0f ? gk_max_int(gk_min_int(gk_exponent(m), 126), -100) : 0; }

// Σ x_l², as (hi + lo) · 2^exponent.
inline scaled_df squared_norm_df(GEOMKIT_MSL_DEVICE const float* x, u32 n) {
    df64 s = df_make(0.0f, 0.0f);
    for (u32 l = 0; l < n; ++l) s = df_add(s, df_two_prod(x[l], x[l]));
    if (!outside_safe_range(s.hi)) return scaled_make(s, 0);
    int e = rescale_exponent(max_abs(x, n));
    float c = gk_pow2(-e);
    s = df_make(0.0f, 0.0f);
    for (u32 l = 0; l < n; ++l) s = df_add(s, df_two_prod(x[l] * c, x[l] * c));
    return scaled_make(s, 2 * e);
}

// a·b, a·a and b·b into out[0..3).
inline void dot_products_df(GEOMKIT_MSL_DEVICE const float* a, GEOMKIT_MSL_DEVICE const float* b, u32 n,
                            GEOMKIT_MSL_DEVICE scaled_df* out) {
    df64 ab = df_make(0.0f, 0.0f);
    df64 aa = ab;
    df64 bb = ab;
    for (u32 l = 0; l < n; ++l) {
        ab = df_add(ab, df_two_prod(a[l], b[l]));
        aa = df_add(aa, df_two_prod(a[l], a[l]));
        bb = df_add(bb, df_two_prod(b[l], b[l]));
    }
    int ea = 0;
    int eb = 0;
    if (outside_safe_range(aa.hi) || outside_safe_range(bb.hi)) {
        ea = rescale_exponent(max_abs(a, n));
        eb = rescale_exponent(max_abs(b, n));
        float ca = gk_pow2(-ea);
        float cb = gk_pow2(-eb);
        ab = df_make(0.0f, 0.0f);
        aa = ab;
        bb = ab;
        for (u32 l = 0; l < n; ++l) {
            ab = df_add(ab, df_two_prod(a[l] * ca, b[l] * cb));
            aa = df_add(aa, df_two_prod(a[l] * ca, a[l] * ca));
            bb = df_add(bb, df_two_prod(b[l] * cb, b[l] * cb));
        }
    }
    out[0] = scaled_make(ab, ea + eb);
    out[1] = scaled_make(aa, 2 * ea);
    out[2] = scaled_make(bb, 2 * eb);
}

// ---- Entry points: one thread per result, bounds-checked (the grid is rounded up).

GEOMKIT_MSL_KERNEL void geomkit_simplex_volume_sq(GEOMKIT_MSL_DEVICE const float* points GEOMKIT_MSL_BUFFER(0),
                                                  GEOMKIT_MSL_DEVICE scaled_df* out GEOMKIT_MSL_BUFFER(1),
                                                  GEOMKIT_MSL_CONSTANT simplex_params& p GEOMKIT_MSL_BUFFER(2),
                                                  u32 gid GEOMKIT_MSL_THREAD_ID) {
    if (gid >= p.batch) return;
    u32 rows[metal_max_k + 1];
    for (u32 i = 0; i < p.vertices; ++i) rows[i] = gid * p.vertices + i;
    out[gid] = simplex_volume_sq_df(points, rows, int(p.vertices) - 1, p.cols);
}

GEOMKIT_MSL_KERNEL void geomkit_pentachoron_volume_sq(GEOMKIT_MSL_DEVICE const float* x GEOMKIT_MSL_BUFFER(0),
                                                      GEOMKIT_MSL_DEVICE scaled_df* out GEOMKIT_MSL_BUFFER(1),
                                                      GEOMKIT_MSL_CONSTANT pentachoron_draw_params& p GEOMKIT_MSL_BUFFER(2),
                                                      u32 gid GEOMKIT_MSL_THREAD_ID) {
    if (gid >= p.count) return;
    u32 lo = p.first_lo + gid;
    u32 hi = p.first_hi + (lo < gid ? 1u : 0u);
    u32 rows[5];
    pentachoron_draw(p.seed_lo, p.seed_hi, lo, hi, p.pool, rows);
    out[gid] = simplex_volume_sq_df(x, rows, 4, p.cols);
}

GEOMKIT_MSL_KERNEL void geomkit_row_squared_norms(GEOMKIT_MSL_DEVICE const float* x GEOMKIT_MSL_BUFFER(0),
                                                  GEOMKIT_MSL_DEVICE scaled_df* out GEOMKIT_MSL_BUFFER(1),
                                                  GEOMKIT_MSL_CONSTANT rows_params& p GEOMKIT_MSL_BUFFER(2),
                                                  u32 gid GEOMKIT_MSL_THREAD_ID) {
    if (gid >= p.rows) return;
    out[gid] = squared_norm_df(x + gid * p.cols, p.cols);
}

GEOMKIT_MSL_KERNEL void geomkit_row_dot_products(GEOMKIT_MSL_DEVICE const float* a GEOMKIT_MSL_BUFFER(0),
                                                 GEOMKIT_MSL_DEVICE const float* b GEOMKIT_MSL_BUFFER(1),
                                                 GEOMKIT_MSL_DEVICE scaled_df* out GEOMKIT_MSL_BUFFER(2),
                                                 GEOMKIT_MSL_CONSTANT rows_params& p GEOMKIT_MSL_BUFFER(3),
                                                 u32 gid GEOMKIT_MSL_THREAD_ID) {
    if (gid >= p.rows) return;
    dot_products_df(a + gid * p.cols, b + gid * p.cols, p.cols, out + 3u * gid);
}

)  // GEOMKIT_METAL_SHARED_SOURCE

static_assert(sizeof(scaled_df) == 16 && sizeof(simplex_params) == 16 && sizeof(rows_params) == 16 &&
                  sizeof(pentachoron_draw_params) == 32,
              "geomkit: the kernels' argument structs must have the same layout in C++ and MSL");

// What the Metal compiler sees before shared_source: the MSL spellings of the names above.
inline constexpr char msl_prelude[] = R"GEOMKIT_MSL(#include <metal_stdlib>
using namespace metal;
#define GEOMKIT_MSL_KERNEL kernel
#define GEOMKIT_MSL_DEVICE device
#define GEOMKIT_MSL_THREAD thread
#define GEOMKIT_MSL_CONSTANT constant
#define GEOMKIT_MSL_BUFFER(index) [[buffer(index)]]
#define GEOMKIT_MSL_THREAD_ID [[thread_position_in_grid]]
typedef uint u32;
inline float gk_fma(float a, float b, float c) { return metal::fma(a, b, c); }
inline u32 gk_float_bits(float x) { return as_type<uint>(x); }
inline float gk_bits_float(u32 u) { return as_type<float>(u); }
)GEOMKIT_MSL";

// The complete MSL program handed to MTL::Device::newLibrary.
inline std::string msl_program() { return std::string(msl_prelude) + shared_source + "\n"; }

// Entry points by name (the Metal function) and as the C++ function (CPU emulation).
struct simplex_volume_sq_kernel {
    static constexpr const char* name = "geomkit_simplex_volume_sq";
    template <class... A>
    static void call(A&&... a) { geomkit_simplex_volume_sq(a...); }
};
struct pentachoron_volume_sq_kernel {
    static constexpr const char* name = "geomkit_pentachoron_volume_sq";
    template <class... A>
    static void call(A&&... a) { geomkit_pentachoron_volume_sq(a...); }
};
struct row_squared_norms_kernel {
    static constexpr const char* name = "geomkit_row_squared_norms";
    template <class... A>
    static void call(A&&... a) { geomkit_row_squared_norms(a...); }
};
struct row_dot_products_kernel {
    static constexpr const char* name = "geomkit_row_dot_products";
    template <class... A>
    static void call(A&&... a) { geomkit_row_dot_products(a...); }
};

// (hi + lo) · 2^exponent in double: exact (hi + lo has at most 49 significant bits).
inline double to_double(const scaled_df& r) { return std::ldexp(double(r.hi) + double(r.lo), r.exponent); }

}  // namespace kernels
}  // namespace metal
}  // namespace geomkit
