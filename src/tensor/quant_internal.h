/* Private to src/tensor: the (de)quantizer entry points that format.c puts in
 * the traits table, and helpers shared by the quantizers.
 *
 * Decoders compute in float exactly as the format defines (scale products
 * first, then the level), one operation per statement, so that no compiler
 * fuses a multiply and an add into an FMA: their results are bit-exact with
 * every other implementation of the formats. */
#ifndef LAIR_TENSOR_QUANT_INTERNAL_H
#define LAIR_TENSOR_QUANT_INTERNAL_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "tensor/blocks.h"
#include "tensor/format.h"

/* ---- entry points (n elements, a multiple of the block size) ------------ */
void lair_f32_to_float(const void *src, float *dst, int64_t n);
void lair_f32_from_float(const float *src, void *dst, int64_t n);
void lair_f16_to_float(const void *src, float *dst, int64_t n);
void lair_f16_from_float(const float *src, void *dst, int64_t n);
void lair_bf16_to_float(const void *src, float *dst, int64_t n);
void lair_bf16_from_float(const float *src, void *dst, int64_t n);
void lair_f64_to_float(const void *src, float *dst, int64_t n);

void lair_q4_0_to_float(const void *src, float *dst, int64_t n);
void lair_q4_0_from_float(const float *src, void *dst, int64_t n);
void lair_q4_1_to_float(const void *src, float *dst, int64_t n);
void lair_q4_1_from_float(const float *src, void *dst, int64_t n);
void lair_q5_0_to_float(const void *src, float *dst, int64_t n);
void lair_q5_0_from_float(const float *src, void *dst, int64_t n);
void lair_q5_1_to_float(const void *src, float *dst, int64_t n);
void lair_q5_1_from_float(const float *src, void *dst, int64_t n);
void lair_q8_0_to_float(const void *src, float *dst, int64_t n);
void lair_q8_0_from_float(const float *src, void *dst, int64_t n);
void lair_q8_1_to_float(const void *src, float *dst, int64_t n);
void lair_q8_1_from_float(const float *src, void *dst, int64_t n);

void lair_q2_K_to_float(const void *src, float *dst, int64_t n);
void lair_q2_K_from_float(const float *src, void *dst, int64_t n);
void lair_q3_K_to_float(const void *src, float *dst, int64_t n);
void lair_q3_K_from_float(const float *src, void *dst, int64_t n);
void lair_q4_K_to_float(const void *src, float *dst, int64_t n);
void lair_q4_K_from_float(const float *src, void *dst, int64_t n);
void lair_q5_K_to_float(const void *src, float *dst, int64_t n);
void lair_q5_K_from_float(const float *src, void *dst, int64_t n);
void lair_q6_K_to_float(const void *src, float *dst, int64_t n);
void lair_q6_K_from_float(const float *src, void *dst, int64_t n);
void lair_q8_K_to_float(const void *src, float *dst, int64_t n);
void lair_q8_K_from_float(const float *src, void *dst, int64_t n);

void lair_iq4_nl_to_float(const void *src, float *dst, int64_t n);
void lair_iq4_nl_from_float(const float *src, void *dst, int64_t n);
void lair_iq4_xs_to_float(const void *src, float *dst, int64_t n);
void lair_iq4_xs_from_float(const float *src, void *dst, int64_t n);

/* ---- scalar helpers ------------------------------------------------------- */

/* Nearest integer to v (ties to even), clamped to [lo, hi]; NaN gives lo;
 * as a float (q_nearest_clamp) or an int (q_round_clamp).  Clamping happens
 * in float first, so huge v never overflows the int, and the rounding is
 * done inline (adding and removing 1.5 * 2^23 leaves the nearest integer in
 * round-to-nearest-even mode, exact for |v| < 2^22) because lrintf is a
 * library call on baseline x86-64.  |lo|, |hi| < 2^22.  (Needs IEEE
 * arithmetic: no -ffast-math.) */
static inline float q_nearest_clamp(float v, float lo, float hi) {
    v = v > lo ? v : lo; /* branch-free max/min (NaN -> lo) */
    v = v < hi ? v : hi;
    float r = v + 12582912.0f;
    return r - 12582912.0f;
}

static inline int q_round_clamp(float v, int lo, int hi) { return (int)q_nearest_clamp(v, (float)lo, (float)hi); }

/* A block scale as stored f16: saturates at the largest finite half (65504)
 * instead of becoming inf, so a block of huge values decodes to large finite
 * numbers rather than inf/nan. */
static inline lair_f16 q_f16_scale(float v) {
    if (v > 65504.0f) v = 65504.0f;
    if (v < -65504.0f) v = -65504.0f;
    return lair_f32_to_f16(v);
}

/* Largest |x[i]| over n values. */
static inline float q_absmax(const float *x, int n) {
    float m = 0.0f;
    for (int i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (a > m) m = a;
    }
    return m;
}

/* ---- 6-bit scale/min packing of Q4_K and Q5_K ------------------------------
 * The inverse of k_scale_min_get (blocks.h, which documents the layout). */
/* sc[8], m[8] in 0..63. */
static inline void kscale_put(uint8_t *scales, const uint8_t *sc, const uint8_t *m) {
    for (int j = 0; j < 4; j++) {
        scales[j] = (uint8_t)((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
        scales[j + 4] = (uint8_t)((m[j] & 63) | ((m[j + 4] >> 4) << 6));
        scales[j + 8] = (uint8_t)((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
    }
}

/* ---- scale searches (quant_search.c) ---------------------------------------
 * Both work on groups of n <= 256 values (n a multiple of 4), minimise the
 * plain squared error sum_i (x_i - y_i)^2 (which is what the RMS error of a
 * model's weights measures) and are scale-invariant: they normalise by
 * max|x| internally, so 1e-30 and 1e30 inputs behave like ordinary ones.
 * ngrid is the number of starting scales tried (each refined by
 * nearest-level assignment and a least-squares refit, twice).  The results
 * are real numbers; callers round them to their stored form and re-assign
 * levels against that. */

/* x ~ s*q + o with q in 0..nmax, s >= 0; with o_le_zero also o <= 0 (the
 * K-quant mins are stored as non-negative numbers subtracted).  An all-zero
 * group gives s = o = 0, a constant one s = 0, o = the constant (when
 * allowed). */
void q_fit_affine(const float *x, int n, int nmax, bool o_le_zero, int ngrid, float *s, float *o);

/* x ~ s*q with q in -nneg..npos; s may be negative (when nneg > npos, the
 * value of largest magnitude may map onto -nneg whatever its sign: one more
 * level).  An all-zero group gives s = 0. */
void q_fit_sym(const float *x, int n, int nneg, int npos, int ngrid, float *s);

#endif
