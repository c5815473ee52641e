/* AArch64 Advanced SIMD (NEON) dot products.
 *
 * Integer parts are exact and equal the scalar reference (vec_dot_scalar.c,
 * the specification); each block's (or super-block's) integer sum is scaled
 * in float exactly as there, so only rounding-order details may differ.
 *
 * Patterns used throughout:
 *   - levels are unpacked to int8 lanes (nibbles with AND/shift, high bits
 *     with vtstq against a bit mask, offsets subtracted in int8: every level
 *     fits int8) and multiplied by the int8 activations with dot_s8, which
 *     adds groups of four products into int32 lanes (SDOT where available);
 *   - 32-element blocks: the four int32 lanes of a block's dot (each below
 *     2^24, so exact in float) are converted to float, scaled by d * dx and
 *     added to a float32x4 accumulator; one horizontal add per row (Q4_0
 *     and Q8_0 instead reduce each block to one exact integer first, the
 *     order their matrix x matrix tiles in gemm_neon.c reproduce);
 *   - super-blocks: where sub-blocks carry their own scales, hsum4 reduces
 *     four sub-block accumulators to one int32x4 of sums, multiplied
 *     lane-wise by the four scales; the integer total is scaled in float
 *     once per super-block as in the scalar reference;
 *   - the float formats sum exact double products in double, like the
 *     scalar reference (two float64x2 accumulators).
 * Blocks are read through byte pointers (vld1q_u8 / memcpy with offsetof):
 * rows need no alignment.
 *
 * Compiler notes: GCC 12's arm_neon.h defines vdotq_s32 for
 * "arch=armv8.2-a+dotprod", and a caller must carry that whole target (a
 * plain "+dotprod" does not inline), hence the pragma around the kernels.
 * Clang 14 only declares vdotq_s32 when dotprod is on the command line, so
 * there (and with any compiler lacking the feature) dot_s8 falls back to
 * SMULL + SADALP, which needs nothing beyond Armv8.0. */
#if defined(__aarch64__)

#include <arm_neon.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "core/fp16.h"
#include "core/platform.h"
#include "kernels/kernels_internal.h"
#include "kernels/kernels_neon.h"
#include "tensor/blocks.h"

/* The kernels (up to the table section) may use Armv8.2-A + dotprod; the
 * table and the CPU check after pop_options are baseline code. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC target("arch=armv8.2-a+dotprod")
#define LAIR_NEON_POP_TARGET 1
#endif

#if defined(__ARM_FEATURE_DOTPROD)
#define LAIR_NEON_SDOT 1 /* kernels use SDOT: callers must check the CPU */
#endif

/* ---- helpers ------------------------------------------------------------------ */

/* acc + four-way dot products: lane k += sum of a[4k..4k+3] * b[4k..4k+3]
 * (fallback: the same total spread differently over the lanes; callers only
 * use whole-vector sums).  int16 products of the fallback cannot overflow:
 * |a*b| <= 128 * 128. */
static inline int32x4_t dot_s8(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(LAIR_NEON_SDOT)
    return vdotq_s32(acc, a, b);
#else
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
#endif
}

/* Dot of 32 int8 levels (two vectors) with 32 int8 activations at y. */
static inline int32x4_t dot32(int8x16_t q0, int8x16_t q1, const uint8_t *y) {
    int32x4_t acc = dot_s8(vdupq_n_s32(0), q0, vreinterpretq_s8_u8(vld1q_u8(y)));
    return dot_s8(acc, q1, vreinterpretq_s8_u8(vld1q_u8(y + 16)));
}

/* [sum(d0), sum(d1), sum(d2), sum(d3)]: pairwise adds twice. */
static inline int32x4_t hsum4(int32x4_t d0, int32x4_t d1, int32x4_t d2, int32x4_t d3) {
    return vpaddq_s32(vpaddq_s32(d0, d1), vpaddq_s32(d2, d3));
}

/* The f16 at p as float (hardware conversion: exact, subnormals included). */
static inline float h2f(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

static inline float ld_f32(const uint8_t *p) {
    float f;
    memcpy(&f, p, 4);
    return f;
}

static inline int8x16_t as_s8(uint8x16_t v) { return vreinterpretq_s8_u8(v); }

/* The 16 int8 values at p widened to four int32x4 (lanes 0-3, 4-7, ...). */
static inline void widen16(const int8_t *p, int32x4_t out[4]) {
    int8x16_t v = vld1q_s8(p);
    int16x8_t lo = vmovl_s8(vget_low_s8(v)), hi = vmovl_high_s8(v);
    out[0] = vmovl_s16(vget_low_s16(lo));
    out[1] = vmovl_high_s16(lo);
    out[2] = vmovl_s16(vget_low_s16(hi));
    out[3] = vmovl_high_s16(hi);
}

/* Q5_0/Q5_1 fifth bits as 0x10 in each lane: elements 0..15 (*lo) and
 * 16..31 (*hi); element j's bit is bit j%8 of qh[j/8].  Each qh byte is
 * broadcast to 8 lanes (table lookup), then tested against 1, 2, 4, ... */
static inline void q5_high_bits(const uint8_t *qh, uint8x16_t *lo, uint8x16_t *hi) {
    static const uint8_t idx_lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
    static const uint8_t idx_hi[16] = {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};
    static const uint8_t bits[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    uint32_t b;
    memcpy(&b, qh, 4);
    const uint8x16_t v = vreinterpretq_u8_u32(vdupq_n_u32(b));
    const uint8x16_t m = vld1q_u8(bits), bit4 = vdupq_n_u8(0x10);
    *lo = vandq_u8(vtstq_u8(vqtbl1q_u8(v, vld1q_u8(idx_lo)), m), bit4);
    *hi = vandq_u8(vtstq_u8(vqtbl1q_u8(v, vld1q_u8(idx_hi)), m), bit4);
}

/* ---- float formats (exact products summed in double) ------------------------ */

/* acc += a * b for two float32 lanes each widened to double: the products of
 * two floats are exact in double, so FMA rounds only the addition. */
static inline float64x2_t fma_lo(float64x2_t acc, float32x4_t a, float32x4_t b) {
    return vfmaq_f64(acc, vcvt_f64_f32(vget_low_f32(a)), vcvt_f64_f32(vget_low_f32(b)));
}
static inline float64x2_t fma_hi(float64x2_t acc, float32x4_t a, float32x4_t b) {
    return vfmaq_f64(acc, vcvt_high_f64_f32(a), vcvt_high_f64_f32(b));
}

void lair_vec_dot_f32_neon(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *pw = w, *px = x;
    float64x2_t acc0 = vdupq_n_f64(0.0), acc1 = vdupq_n_f64(0.0);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t a = vreinterpretq_f32_u8(vld1q_u8(pw + 4 * i));
        float32x4_t b = vreinterpretq_f32_u8(vld1q_u8(px + 4 * i));
        acc0 = fma_lo(acc0, a, b);
        acc1 = fma_hi(acc1, a, b);
    }
    double sum = vaddvq_f64(vaddq_f64(acc0, acc1));
    for (; i < n; i++) sum += (double)ld_f32(pw + 4 * i) * (double)ld_f32(px + 4 * i);
    *s = (float)sum;
}

void lair_vec_dot_f16_neon(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *pw = w, *px = x;
    float64x2_t acc0 = vdupq_n_f64(0.0), acc1 = vdupq_n_f64(0.0);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) { /* 8 halves = 16 bytes per row */
        float16x8_t a = vreinterpretq_f16_u8(vld1q_u8(pw + 2 * i));
        float16x8_t b = vreinterpretq_f16_u8(vld1q_u8(px + 2 * i));
        float32x4_t a0 = vcvt_f32_f16(vget_low_f16(a)), a1 = vcvt_high_f32_f16(a);
        float32x4_t b0 = vcvt_f32_f16(vget_low_f16(b)), b1 = vcvt_high_f32_f16(b);
        acc0 = fma_lo(acc0, a0, b0);
        acc1 = fma_hi(acc1, a0, b0);
        acc0 = fma_lo(acc0, a1, b1);
        acc1 = fma_hi(acc1, a1, b1);
    }
    double sum = vaddvq_f64(vaddq_f64(acc0, acc1));
    for (; i < n; i++) sum += (double)h2f(pw + 2 * i) * (double)h2f(px + 2 * i);
    *s = (float)sum;
}

void lair_vec_dot_bf16_neon(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *pw = w, *px = x;
    float64x2_t acc0 = vdupq_n_f64(0.0), acc1 = vdupq_n_f64(0.0);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) { /* bf16 -> f32: the 16 bits become the top half */
        uint16x8_t a = vreinterpretq_u16_u8(vld1q_u8(pw + 2 * i));
        uint16x8_t b = vreinterpretq_u16_u8(vld1q_u8(px + 2 * i));
        float32x4_t a0 = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(a), 16));
        float32x4_t a1 = vreinterpretq_f32_u32(vshll_high_n_u16(a, 16));
        float32x4_t b0 = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(b), 16));
        float32x4_t b1 = vreinterpretq_f32_u32(vshll_high_n_u16(b, 16));
        acc0 = fma_lo(acc0, a0, b0);
        acc1 = fma_hi(acc1, a0, b0);
        acc0 = fma_lo(acc0, a1, b1);
        acc1 = fma_hi(acc1, a1, b1);
    }
    double sum = vaddvq_f64(vaddq_f64(acc0, acc1));
    for (; i < n; i++) {
        lair_bf16 a, b;
        memcpy(&a, pw + 2 * i, 2);
        memcpy(&b, px + 2 * i, 2);
        sum += (double)lair_bf16_to_f32(a) * (double)lair_bf16_to_f32(b);
    }
    *s = (float)sum;
}

/* ---- 32-element formats against Q8_0 / Q8_1 ----------------------------------
 * Nibble order: element j (j < 16) is the low nibble of qs[j], element
 * j + 16 the high nibble, so the low nibbles meet y[0..15], the high ones
 * y[16..31].  Accumulator lane k sums every block's int32 lane k times that
 * block's d * dx (float rounding differs from the scalar per-block sum only
 * in order). */

#define Q8_0_D offsetof(block_q8_0, d)
#define Q8_0_QS offsetof(block_q8_0, qs)

/* Q4_0 and Q8_0 share gemm_neon.c's float order, so a row gives the same
 * bits alone (decode) and in a tile (prefill): S_b the exact integer sum of
 * block b, c_b = d_w * d_x, A_{b mod 4} = fma(c_b, S_b, A), dot = (A_0 +
 * A_2) + (A_1 + A_3).  Four blocks at a time: lanes = blocks of the group
 * (padding blocks add 0 * 0, which leaves an accumulator that started at
 * +0 unchanged). */
static inline int32x4_t q4_0_block_dot(const uint8_t *bw, const uint8_t *bx) {
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const int8x16_t off = vdupq_n_s8(8);
    uint8x16_t q = vld1q_u8(bw + offsetof(block_q4_0, qs));
    int8x16_t lo = vsubq_s8(as_s8(vandq_u8(q, m4)), off); /* -8..7 */
    int8x16_t hi = vsubq_s8(as_s8(vshrq_n_u8(q, 4)), off);
    return dot32(lo, hi, bx + Q8_0_QS);
}

static inline int32x4_t q8_0_block_dot(const uint8_t *bw, const uint8_t *bx) {
    return dot32(as_s8(vld1q_u8(bw + Q8_0_QS)), as_s8(vld1q_u8(bw + Q8_0_QS + 16)), bx + Q8_0_QS);
}

static inline float q80_dot(int64_t nb, const uint8_t *pw, const uint8_t *px, size_t wsize, int q4) {
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < nb; b += 4) {
        int32x4_t d[4];
        float c[4];
        for (int j = 0; j < 4; j++) {
            const uint8_t *bw = pw + (b + j) * wsize, *bx = px + (b + j) * sizeof(block_q8_0);
            if (b + j < nb) {
                d[j] = q4 ? q4_0_block_dot(bw, bx) : q8_0_block_dot(bw, bx);
                c[j] = h2f(bw) * h2f(bx + Q8_0_D);
            } else {
                d[j] = vdupq_n_s32(0);
                c[j] = 0.0f;
            }
        }
        acc = vfmaq_f32(acc, vld1q_f32(c), vcvtq_f32_s32(hsum4(d[0], d[1], d[2], d[3])));
    }
    float32x2_t h = vadd_f32(vget_low_f32(acc), vget_high_f32(acc)); /* A0 + A2, A1 + A3 */
    return vget_lane_f32(h, 0) + vget_lane_f32(h, 1);
}

void lair_vec_dot_q4_0_neon(int64_t n, float *s, const void *w, const void *x) {
    *s = q80_dot(n / QK4_0, w, x, sizeof(block_q4_0), 1);
}

void lair_vec_dot_q8_0_neon(int64_t n, float *s, const void *w, const void *x) {
    *s = q80_dot(n / QK8_0, w, x, sizeof(block_q8_0), 0);
}

void lair_vec_dot_iq4_nl_neon(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *pw = w, *px = x;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const int8x16_t kv = vld1q_s8(kvalues_iq4nl);
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < n / QK4_NL; i++, pw += sizeof(block_iq4_nl), px += sizeof(block_q8_0)) {
        uint8x16_t q = vld1q_u8(pw + offsetof(block_iq4_nl, qs));
        int8x16_t lo = vqtbl1q_s8(kv, vandq_u8(q, m4)); /* level -> value */
        int8x16_t hi = vqtbl1q_s8(kv, vshrq_n_u8(q, 4));
        acc = vmlaq_n_f32(acc, vcvtq_f32_s32(dot32(lo, hi, px + Q8_0_QS)), h2f(pw + offsetof(block_iq4_nl, d)) * h2f(px + Q8_0_D));
    }
    *s = vaddvq_f32(acc);
}

void lair_vec_dot_q5_0_neon(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *pw = w, *px = x;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const int8x16_t off = vdupq_n_s8(16);
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < n / QK5_0; i++, pw += sizeof(block_q5_0), px += sizeof(block_q8_0)) {
        uint8x16_t hb_lo, hb_hi;
        q5_high_bits(pw + offsetof(block_q5_0, qh), &hb_lo, &hb_hi);
        uint8x16_t q = vld1q_u8(pw + offsetof(block_q5_0, qs));
        int8x16_t lo = vsubq_s8(as_s8(vorrq_u8(vandq_u8(q, m4), hb_lo)), off); /* -16..15 */
        int8x16_t hi = vsubq_s8(as_s8(vorrq_u8(vshrq_n_u8(q, 4), hb_hi)), off);
        acc = vmlaq_n_f32(acc, vcvtq_f32_s32(dot32(lo, hi, px + Q8_0_QS)), h2f(pw + offsetof(block_q5_0, d)) * h2f(px + Q8_0_D));
    }
    *s = vaddvq_f32(acc);
}

/* Q4_1/Q5_1: sum += d dx sum(q y) + m * s, s the activation's stored
 * dx * sum(y) (see vec_dot_scalar.c). */

void lair_vec_dot_q4_1_neon(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *pw = w, *px = x;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float32x4_t acc = vdupq_n_f32(0.0f);
    float sum = 0.0f; /* min terms */
    for (int64_t i = 0; i < n / QK4_1; i++, pw += sizeof(block_q4_1), px += sizeof(block_q8_1)) {
        uint8x16_t q = vld1q_u8(pw + offsetof(block_q4_1, qs));
        int8x16_t lo = as_s8(vandq_u8(q, m4)); /* 0..15 */
        int8x16_t hi = as_s8(vshrq_n_u8(q, 4));
        float dd = h2f(pw + offsetof(block_q4_1, d)) * h2f(px + offsetof(block_q8_1, d));
        acc = vmlaq_n_f32(acc, vcvtq_f32_s32(dot32(lo, hi, px + offsetof(block_q8_1, qs))), dd);
        sum += h2f(pw + offsetof(block_q4_1, m)) * h2f(px + offsetof(block_q8_1, s));
    }
    *s = vaddvq_f32(acc) + sum;
}

void lair_vec_dot_q5_1_neon(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *pw = w, *px = x;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float32x4_t acc = vdupq_n_f32(0.0f);
    float sum = 0.0f; /* min terms */
    for (int64_t i = 0; i < n / QK5_1; i++, pw += sizeof(block_q5_1), px += sizeof(block_q8_1)) {
        uint8x16_t hb_lo, hb_hi;
        q5_high_bits(pw + offsetof(block_q5_1, qh), &hb_lo, &hb_hi);
        uint8x16_t q = vld1q_u8(pw + offsetof(block_q5_1, qs));
        int8x16_t lo = as_s8(vorrq_u8(vandq_u8(q, m4), hb_lo)); /* 0..31 */
        int8x16_t hi = as_s8(vorrq_u8(vshrq_n_u8(q, 4), hb_hi));
        float dd = h2f(pw + offsetof(block_q5_1, d)) * h2f(px + offsetof(block_q8_1, d));
        acc = vmlaq_n_f32(acc, vcvtq_f32_s32(dot32(lo, hi, px + offsetof(block_q8_1, qs))), dd);
        sum += h2f(pw + offsetof(block_q5_1, m)) * h2f(px + offsetof(block_q8_1, s));
    }
    *s = vaddvq_f32(acc) + sum;
}

/* ---- K-quants and IQ4_XS against Q8_K -----------------------------------------
 * Per super-block: sum += dy d sum_sub sc * sum(q y) [- dy dmin sum_sub m *
 * sum(y)], the integer sums over the whole super-block as in the scalar
 * reference; sum(y) per 16 elements comes from bsums. */

#define Q8K_D offsetof(block_q8_K, d)
#define Q8K_QS offsetof(block_q8_K, qs)
#define Q8K_BSUMS offsetof(block_q8_K, bsums)

/* The 16 int16 bsums of a Q8_K block as two int16x8 (bytes may be unaligned). */
static inline void load_bsums(const uint8_t *b, int16x8_t *b0, int16x8_t *b1) {
    *b0 = vreinterpretq_s16_u8(vld1q_u8(b + Q8K_BSUMS));
    *b1 = vreinterpretq_s16_u8(vld1q_u8(b + Q8K_BSUMS + 16));
}

/* Q4_K/Q5_K: the 8 six-bit scales and mins (layout: blocks.h). */
static void k4_unpack(const uint8_t *p, uint8_t sc[8], uint8_t mn[8]) {
    for (int j = 0; j < 8; j++) k_scale_min_get(p, j, &sc[j], &mn[j]);
}

/* sum_j mn[j] * (bsums[2j] + bsums[2j+1]) for Q4_K/Q5_K (pair sums <= 2 *
 * 16 * 128 fit int16). */
static inline int32_t k4_min_term(const uint8_t *b, const uint8_t mn[8]) {
    int16x8_t b0, b1;
    load_bsums(b, &b0, &b1);
    int16x8_t pairs = vpaddq_s16(b0, b1);
    int16x8_t m = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mn)));
    int32x4_t t = vmull_s16(vget_low_s16(pairs), vget_low_s16(m));
    t = vmlal_high_s16(t, pairs, m);
    return vaddvq_s32(t);
}

void lair_vec_dot_q4_K_neon(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *pw = w, *px = x;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++, pw += sizeof(block_q4_K), px += sizeof(block_q8_K)) {
        uint8_t sc[8], mn[8];
        k4_unpack(pw + offsetof(block_q4_K, scales), sc, mn);
        int32_t summ = k4_min_term(px, mn);
        /* chunk c: 32 qs bytes; low nibbles = sub-block 2c (y[64c..]),
         * high nibbles = sub-block 2c+1 (y[64c+32..]) */
        int32x4_t d[8];
        const uint8_t *qs = pw + offsetof(block_q4_K, qs), *y = px + Q8K_QS;
        for (int c = 0; c < 4; c++) {
            uint8x16_t q0 = vld1q_u8(qs + 32 * c), q1 = vld1q_u8(qs + 32 * c + 16);
            d[2 * c] = dot32(as_s8(vandq_u8(q0, m4)), as_s8(vandq_u8(q1, m4)), y + 64 * c);
            d[2 * c + 1] = dot32(as_s8(vshrq_n_u8(q0, 4)), as_s8(vshrq_n_u8(q1, 4)), y + 64 * c + 32);
        }
        int32x4_t sc0 = vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(vmovl_u8(vld1_u8(sc)))));
        int32x4_t sc1 = vreinterpretq_s32_u32(vmovl_high_u16(vmovl_u8(vld1_u8(sc))));
        int32x4_t acc = vmulq_s32(hsum4(d[0], d[1], d[2], d[3]), sc0);
        acc = vmlaq_s32(acc, hsum4(d[4], d[5], d[6], d[7]), sc1);
        int32_t sumi = vaddvq_s32(acc);
        float dy = ld_f32(px + Q8K_D);
        float dd = dy * h2f(pw + offsetof(block_q4_K, d));
        float dmin = dy * h2f(pw + offsetof(block_q4_K, dmin));
        sum += dd * (float)sumi - dmin * (float)summ;
    }
    *s = sum;
}

void lair_vec_dot_q5_K_neon(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *pw = w, *px = x;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), bit4 = vdupq_n_u8(0x10);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++, pw += sizeof(block_q5_K), px += sizeof(block_q8_K)) {
        uint8_t sc[8], mn[8];
        k4_unpack(pw + offsetof(block_q5_K, scales), sc, mn);
        int32_t summ = k4_min_term(px, mn);
        /* as Q4_K, plus the fifth bit of element 32j + l: bit j of qh[l] */
        const uint8_t *qs = pw + offsetof(block_q5_K, qs), *y = px + Q8K_QS;
        const uint8x16_t h0 = vld1q_u8(pw + offsetof(block_q5_K, qh));
        const uint8x16_t h1 = vld1q_u8(pw + offsetof(block_q5_K, qh) + 16);
        int32x4_t d[8];
        for (int c = 0; c < 4; c++) {
            uint8x16_t q0 = vld1q_u8(qs + 32 * c), q1 = vld1q_u8(qs + 32 * c + 16);
            uint8x16_t mlo = vdupq_n_u8((uint8_t)(1u << (2 * c))), mhi = vdupq_n_u8((uint8_t)(2u << (2 * c)));
            uint8x16_t l0 = vorrq_u8(vandq_u8(q0, m4), vandq_u8(vtstq_u8(h0, mlo), bit4));
            uint8x16_t l1 = vorrq_u8(vandq_u8(q1, m4), vandq_u8(vtstq_u8(h1, mlo), bit4));
            uint8x16_t u0 = vorrq_u8(vshrq_n_u8(q0, 4), vandq_u8(vtstq_u8(h0, mhi), bit4));
            uint8x16_t u1 = vorrq_u8(vshrq_n_u8(q1, 4), vandq_u8(vtstq_u8(h1, mhi), bit4));
            d[2 * c] = dot32(as_s8(l0), as_s8(l1), y + 64 * c);
            d[2 * c + 1] = dot32(as_s8(u0), as_s8(u1), y + 64 * c + 32);
        }
        int32x4_t sc0 = vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(vmovl_u8(vld1_u8(sc)))));
        int32x4_t sc1 = vreinterpretq_s32_u32(vmovl_high_u16(vmovl_u8(vld1_u8(sc))));
        int32x4_t acc = vmulq_s32(hsum4(d[0], d[1], d[2], d[3]), sc0);
        acc = vmlaq_s32(acc, hsum4(d[4], d[5], d[6], d[7]), sc1);
        int32_t sumi = vaddvq_s32(acc);
        float dy = ld_f32(px + Q8K_D);
        float dd = dy * h2f(pw + offsetof(block_q5_K, d));
        float dmin = dy * h2f(pw + offsetof(block_q5_K, dmin));
        sum += dd * (float)sumi - dmin * (float)summ;
    }
    *s = sum;
}

/* Q6_K: half h (128 elements: ql bytes 64h.., qh bytes 32h..), group k
 * (0..3) of 32 elements 128h + 32k + l: low 4 bits = nibble k/2 of
 * ql[64h + 32(k%2) + l], high 2 bits = bits 2k..2k+1 of qh[32h + l];
 * 16-element sub-block 8h + 2k + l/16, so each group gives two sub-block
 * dots and two groups give the four sums of one hsum4. */
void lair_vec_dot_q6_K_neon(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *pw = w, *px = x;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m30 = vdupq_n_u8(0x30);
    const int8x16_t off = vdupq_n_s8(32);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++, pw += sizeof(block_q6_K), px += sizeof(block_q8_K)) {
        int32x4_t scv[4]; /* scales of sub-blocks 0-3, 4-7, 8-11, 12-15 */
        widen16((const int8_t *)(pw + offsetof(block_q6_K, scales)), scv);
        int32x4_t acc = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = pw + offsetof(block_q6_K, ql) + 64 * h;
            const uint8_t *qh = pw + offsetof(block_q6_K, qh) + 32 * h;
            const uint8_t *y = px + Q8K_QS + 128 * h;
            const uint8x16_t h0 = vld1q_u8(qh), h1 = vld1q_u8(qh + 16);
            int32x4_t d[8];
            for (int k = 0; k < 4; k++) {
                uint8x16_t l0 = vld1q_u8(ql + 32 * (k % 2)), l1 = vld1q_u8(ql + 32 * (k % 2) + 16);
                if (k < 2) {
                    l0 = vandq_u8(l0, m4);
                    l1 = vandq_u8(l1, m4);
                } else {
                    l0 = vshrq_n_u8(l0, 4);
                    l1 = vshrq_n_u8(l1, 4);
                }
                /* bits 2k..2k+1 moved to bits 4..5: shift left by 4 - 2k */
                const int8x16_t sh = vdupq_n_s8((int8_t)(4 - 2 * k));
                uint8x16_t u0 = vorrq_u8(l0, vandq_u8(vshlq_u8(h0, sh), m30));
                uint8x16_t u1 = vorrq_u8(l1, vandq_u8(vshlq_u8(h1, sh), m30));
                int8x16_t q0 = vsubq_s8(as_s8(u0), off), q1 = vsubq_s8(as_s8(u1), off); /* -32..31 */
                d[2 * k] = dot_s8(vdupq_n_s32(0), q0, as_s8(vld1q_u8(y + 32 * k)));
                d[2 * k + 1] = dot_s8(vdupq_n_s32(0), q1, as_s8(vld1q_u8(y + 32 * k + 16)));
            }
            acc = vmlaq_s32(acc, hsum4(d[0], d[1], d[2], d[3]), scv[2 * h]);
            acc = vmlaq_s32(acc, hsum4(d[4], d[5], d[6], d[7]), scv[2 * h + 1]);
        }
        int32_t sumi = vaddvq_s32(acc);
        sum += ld_f32(px + Q8K_D) * h2f(pw + offsetof(block_q6_K, d)) * (float)sumi;
    }
    *s = sum;
}

/* Q3_K signed scales (stored +32) of the 16 sub-blocks: low nibble in byte
 * i%8 (low half for i < 8), top 2 bits in byte 8 + i%4 at bit 2(i/4). */
static void q3k_unpack(const uint8_t *p, int8_t sc[16]) {
    for (int i = 0; i < 16; i++) {
        int lo = i < 8 ? (p[i] & 0xF) : (p[i - 8] >> 4);
        int hi = (p[8 + i % 4] >> (2 * (i / 4))) & 3;
        sc[i] = (int8_t)((lo | (hi << 4)) - 32);
    }
}

/* Q2_K/Q3_K element order: half h (qs bytes 32h..32h+31), plane p (0..3):
 * elements 128h + 32p + l take bits 2p..2p+1 of qs[32h + l]; sub-block 8h +
 * 2p + l/16.  Q3_K's third bit is bit 4h + p of hmask[l]; clear means -4. */

void lair_vec_dot_q3_K_neon(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *pw = w, *px = x;
    const uint8x16_t m3 = vdupq_n_u8(3), four = vdupq_n_u8(4);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++, pw += sizeof(block_q3_K), px += sizeof(block_q8_K)) {
        int8_t sc[16];
        q3k_unpack(pw + offsetof(block_q3_K, scales), sc);
        int32x4_t scv[4];
        widen16(sc, scv);
        const uint8_t *hm = pw + offsetof(block_q3_K, hmask);
        const uint8x16_t hm0 = vld1q_u8(hm), hm1 = vld1q_u8(hm + 16);
        int32x4_t acc = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            const uint8_t *qs = pw + offsetof(block_q3_K, qs) + 32 * h;
            const uint8_t *y = px + Q8K_QS + 128 * h;
            const uint8x16_t Q0 = vld1q_u8(qs), Q1 = vld1q_u8(qs + 16);
            int32x4_t d[8];
            for (int p = 0; p < 4; p++) {
                const int8x16_t sh = vdupq_n_s8((int8_t)(-2 * p)); /* right shift by 2p */
                const uint8x16_t hb = vdupq_n_u8((uint8_t)(1u << (4 * h + p)));
                /* level - (bit clear ? 4 : 0), -4..3 */
                int8x16_t q0 = vsubq_s8(as_s8(vandq_u8(vshlq_u8(Q0, sh), m3)), as_s8(vbicq_u8(four, vtstq_u8(hm0, hb))));
                int8x16_t q1 = vsubq_s8(as_s8(vandq_u8(vshlq_u8(Q1, sh), m3)), as_s8(vbicq_u8(four, vtstq_u8(hm1, hb))));
                d[2 * p] = dot_s8(vdupq_n_s32(0), q0, as_s8(vld1q_u8(y + 32 * p)));
                d[2 * p + 1] = dot_s8(vdupq_n_s32(0), q1, as_s8(vld1q_u8(y + 32 * p + 16)));
            }
            acc = vmlaq_s32(acc, hsum4(d[0], d[1], d[2], d[3]), scv[2 * h]);
            acc = vmlaq_s32(acc, hsum4(d[4], d[5], d[6], d[7]), scv[2 * h + 1]);
        }
        int32_t sumi = vaddvq_s32(acc);
        sum += ld_f32(px + Q8K_D) * h2f(pw + offsetof(block_q3_K, d)) * (float)sumi;
    }
    *s = sum;
}

void lair_vec_dot_q2_K_neon(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *pw = w, *px = x;
    const uint8x16_t m3 = vdupq_n_u8(3), m4 = vdupq_n_u8(0x0F);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++, pw += sizeof(block_q2_K), px += sizeof(block_q8_K)) {
        const uint8x16_t scb = vld1q_u8(pw + offsetof(block_q2_K, scales));
        /* min term: sum_k (scales[k] >> 4) * bsums[k] */
        int16x8_t b0, b1;
        load_bsums(px, &b0, &b1);
        const uint8x16_t mins = vshrq_n_u8(scb, 4);
        int16x8_t mlo = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(mins)));
        int16x8_t mhi = vreinterpretq_s16_u16(vmovl_high_u8(mins));
        int32x4_t tm = vmull_s16(vget_low_s16(mlo), vget_low_s16(b0));
        tm = vmlal_high_s16(tm, mlo, b0);
        tm = vmlal_s16(tm, vget_low_s16(mhi), vget_low_s16(b1));
        tm = vmlal_high_s16(tm, mhi, b1);
        int32_t summ = vaddvq_s32(tm);
        /* scales: low nibbles, 0..15 */
        int8_t sc[16];
        vst1q_s8(sc, as_s8(vandq_u8(scb, m4)));
        int32x4_t scv[4];
        widen16(sc, scv);
        int32x4_t acc = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            const uint8_t *qs = pw + offsetof(block_q2_K, qs) + 32 * h;
            const uint8_t *y = px + Q8K_QS + 128 * h;
            const uint8x16_t Q0 = vld1q_u8(qs), Q1 = vld1q_u8(qs + 16);
            int32x4_t d[8];
            for (int p = 0; p < 4; p++) {
                const int8x16_t sh = vdupq_n_s8((int8_t)(-2 * p));
                int8x16_t q0 = as_s8(vandq_u8(vshlq_u8(Q0, sh), m3)); /* 0..3 */
                int8x16_t q1 = as_s8(vandq_u8(vshlq_u8(Q1, sh), m3));
                d[2 * p] = dot_s8(vdupq_n_s32(0), q0, as_s8(vld1q_u8(y + 32 * p)));
                d[2 * p + 1] = dot_s8(vdupq_n_s32(0), q1, as_s8(vld1q_u8(y + 32 * p + 16)));
            }
            acc = vmlaq_s32(acc, hsum4(d[0], d[1], d[2], d[3]), scv[2 * h]);
            acc = vmlaq_s32(acc, hsum4(d[4], d[5], d[6], d[7]), scv[2 * h + 1]);
        }
        int32_t sumi = vaddvq_s32(acc);
        float dy = ld_f32(px + Q8K_D);
        float dall = dy * h2f(pw + offsetof(block_q2_K, d));
        float dmin = dy * h2f(pw + offsetof(block_q2_K, dmin));
        sum += dall * (float)sumi - dmin * (float)summ;
    }
    *s = sum;
}

/* IQ4_XS: sub-block ib (32 elements) has levels qs[16ib..16ib+15] in IQ4_NL
 * nibble order and a 6-bit scale (stored +32): low 4 bits nibble ib%2 of
 * scales_l[ib/2], high 2 bits at bit 2ib of scales_h. */
void lair_vec_dot_iq4_xs_neon(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *pw = w, *px = x;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const int8x16_t kv = vld1q_s8(kvalues_iq4nl);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++, pw += sizeof(block_iq4_xs), px += sizeof(block_q8_K)) {
        uint16_t sh;
        memcpy(&sh, pw + offsetof(block_iq4_xs, scales_h), 2);
        const uint8_t *sl = pw + offsetof(block_iq4_xs, scales_l);
        int32_t ls[8];
        for (int ib = 0; ib < 8; ib++) ls[ib] = (((sl[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((sh >> (2 * ib)) & 3) << 4)) - 32;
        const uint8_t *qs = pw + offsetof(block_iq4_xs, qs), *y = px + Q8K_QS;
        int32x4_t d[8];
        for (int ib = 0; ib < 8; ib++) {
            uint8x16_t q = vld1q_u8(qs + 16 * ib);
            d[ib] = dot32(vqtbl1q_s8(kv, vandq_u8(q, m4)), vqtbl1q_s8(kv, vshrq_n_u8(q, 4)), y + 32 * ib);
        }
        int32x4_t acc = vmulq_s32(hsum4(d[0], d[1], d[2], d[3]), vld1q_s32(ls));
        acc = vmlaq_s32(acc, hsum4(d[4], d[5], d[6], d[7]), vld1q_s32(ls + 4));
        int32_t sumi = vaddvq_s32(acc);
        sum += ld_f32(px + Q8K_D) * h2f(pw + offsetof(block_iq4_xs, d)) * (float)sumi;
    }
    *s = sum;
}

/* ---- table -------------------------------------------------------------------- */

#if defined(LAIR_NEON_POP_TARGET)
#pragma GCC pop_options
#endif

bool lair_neon_usable(void) {
#if defined(LAIR_NEON_SDOT)
    return lair_cpu_arm_dotprod(); /* the OS query lives in the platform file */
#else
    return true; /* Armv8.0 Advanced SIMD is part of every AArch64 CPU */
#endif
}

static const lair_kernels neon_table = {
    .isa = LAIR_ISA_NEON,
    .name = "neon",
    .vec_dot =
        {
            [LAIR_TYPE_F32] = lair_vec_dot_f32_neon,
            [LAIR_TYPE_F16] = lair_vec_dot_f16_neon,
            [LAIR_TYPE_BF16] = lair_vec_dot_bf16_neon,
            [LAIR_TYPE_Q4_0] = lair_vec_dot_q4_0_neon,
            [LAIR_TYPE_Q4_1] = lair_vec_dot_q4_1_neon,
            [LAIR_TYPE_Q5_0] = lair_vec_dot_q5_0_neon,
            [LAIR_TYPE_Q5_1] = lair_vec_dot_q5_1_neon,
            [LAIR_TYPE_Q8_0] = lair_vec_dot_q8_0_neon,
            [LAIR_TYPE_IQ4_NL] = lair_vec_dot_iq4_nl_neon,
            [LAIR_TYPE_Q2_K] = lair_vec_dot_q2_K_neon,
            [LAIR_TYPE_Q3_K] = lair_vec_dot_q3_K_neon,
            [LAIR_TYPE_Q4_K] = lair_vec_dot_q4_K_neon,
            [LAIR_TYPE_Q5_K] = lair_vec_dot_q5_K_neon,
            [LAIR_TYPE_Q6_K] = lair_vec_dot_q6_K_neon,
            [LAIR_TYPE_IQ4_XS] = lair_vec_dot_iq4_xs_neon,
        },
    .vec_dot_rows = {0},
    .axpy = {[LAIR_TYPE_F32] = lair_axpy_f32_scalar, [LAIR_TYPE_F16] = lair_axpy_f16_scalar},
    .gemm =
        {
            [LAIR_TYPE_Q4_0] = lair_gemm_q4_0_neon,
            [LAIR_TYPE_Q8_0] = lair_gemm_q8_0_neon,
            [LAIR_TYPE_Q4_K] = lair_gemm_q4_K_neon,
            [LAIR_TYPE_Q6_K] = lair_gemm_q6_K_neon,
        },
    /* without multi-row kernels the alternative is vec_dot per row and
     * token, which reads each weight row once per token; not measured on
     * hardware (qemu checks results only) */
    .gemm_min_tokens = {[LAIR_TYPE_Q4_0] = 4, [LAIR_TYPE_Q8_0] = 4, [LAIR_TYPE_Q4_K] = 4, [LAIR_TYPE_Q6_K] = 4},
    .attn_scores = {[LAIR_TYPE_F16] = lair_attn_scores_f16_neon},
    .attn_values = {[LAIR_TYPE_F32] = lair_attn_values_f32_neon, [LAIR_TYPE_F16] = lair_attn_values_f16_neon},
    .exp = lair_exp_scalar,
    .softmax = lair_softmax_scalar, /* its e^x is the scalar one here too */
    .silu_mul = lair_silu_mul_scalar,
};

const lair_kernels *lair_kernels_neon_table(void) { return &neon_table; }

#endif /* __aarch64__ */
