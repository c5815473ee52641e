/* The 32-element block formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1.
 *
 * Weight formats (Q4_x, Q5_x) are encoded with a least-squares scale search
 * (quant_search.c); levels are then assigned against the scale as stored in
 * f16, so the rounding of the scale costs nothing extra.  The 8-bit formats
 * also quantize activations at run time, so they keep the plain rule
 * d = max|x| / 127, q = round-half-even(x * (1/d)) that SIMD code can
 * reproduce bit for bit. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include <string.h>

#include "tensor/quant_internal.h"

/* Starting scales per block (per end level for the symmetric ones), spread
 * over +-1 level; more buy almost nothing once each start is refined. */
#define NGRID_4BIT 7
#define NGRID_5BIT 7

/* ---- decoders ------------------------------------------------------------- */

void lair_q4_0_to_float(const void *src, float *dst, int64_t n) {
    const block_q4_0 *b = src;
    for (int64_t i = 0; i < n / QK4_0; i++, b++, dst += QK4_0) {
        float d = lair_f16_to_f32(b->d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            dst[j] = (float)((b->qs[j] & 0xF) - 8) * d;
            dst[j + 16] = (float)((b->qs[j] >> 4) - 8) * d;
        }
    }
}

void lair_q4_1_to_float(const void *src, float *dst, int64_t n) {
    const block_q4_1 *b = src;
    for (int64_t i = 0; i < n / QK4_1; i++, b++, dst += QK4_1) {
        float d = lair_f16_to_f32(b->d);
        float m = lair_f16_to_f32(b->m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            float v0 = (float)(b->qs[j] & 0xF) * d;
            float v1 = (float)(b->qs[j] >> 4) * d;
            dst[j] = v0 + m;
            dst[j + 16] = v1 + m;
        }
    }
}

static uint32_t u32_le(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

void lair_q5_0_to_float(const void *src, float *dst, int64_t n) {
    const block_q5_0 *b = src;
    for (int64_t i = 0; i < n / QK5_0; i++, b++, dst += QK5_0) {
        float d = lair_f16_to_f32(b->d);
        uint32_t qh = u32_le(b->qh);
        for (int j = 0; j < QK5_0 / 2; j++) {
            int q0 = (b->qs[j] & 0xF) | (int)(((qh >> j) & 1u) << 4);
            int q1 = (b->qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
            dst[j] = (float)(q0 - 16) * d;
            dst[j + 16] = (float)(q1 - 16) * d;
        }
    }
}

void lair_q5_1_to_float(const void *src, float *dst, int64_t n) {
    const block_q5_1 *b = src;
    for (int64_t i = 0; i < n / QK5_1; i++, b++, dst += QK5_1) {
        float d = lair_f16_to_f32(b->d);
        float m = lair_f16_to_f32(b->m);
        uint32_t qh = u32_le(b->qh);
        for (int j = 0; j < QK5_1 / 2; j++) {
            int q0 = (b->qs[j] & 0xF) | (int)(((qh >> j) & 1u) << 4);
            int q1 = (b->qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
            float v0 = (float)q0 * d;
            float v1 = (float)q1 * d;
            dst[j] = v0 + m;
            dst[j + 16] = v1 + m;
        }
    }
}

void lair_q8_0_to_float(const void *src, float *dst, int64_t n) {
    const block_q8_0 *b = src;
    for (int64_t i = 0; i < n / QK8_0; i++, b++, dst += QK8_0) {
        float d = lair_f16_to_f32(b->d);
        for (int j = 0; j < QK8_0; j++) dst[j] = (float)b->qs[j] * d;
    }
}

void lair_q8_1_to_float(const void *src, float *dst, int64_t n) {
    const block_q8_1 *b = src;
    for (int64_t i = 0; i < n / QK8_1; i++, b++, dst += QK8_1) {
        float d = lair_f16_to_f32(b->d);
        for (int j = 0; j < QK8_1; j++) dst[j] = (float)b->qs[j] * d;
    }
}

/* ---- encoders ------------------------------------------------------------- */

/* Level of x for the grid d*(q - zero), q in 0..nmax; d == 0 gives the level
 * of 0 (the block decodes to zeros, or to the offset alone). */
static int level_sym(float x, float d, int zero, int nmax) {
    if (d == 0.0f) return zero;
    return q_round_clamp(x / d, -zero, nmax - zero) + zero;
}

static int level_affine(float x, float d, float m, int nmax) {
    if (d == 0.0f) return 0;
    return q_round_clamp((x - m) / d, 0, nmax);
}

void lair_q4_0_from_float(const float *src, void *dst, int64_t n) {
    block_q4_0 *b = dst;
    for (int64_t i = 0; i < n / QK4_0; i++, b++, src += QK4_0) {
        float s;
        q_fit_sym(src, QK4_0, 8, 7, NGRID_4BIT, &s);
        b->d = q_f16_scale(s);
        float d = lair_f16_to_f32(b->d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            int q0 = level_sym(src[j], d, 8, 15);
            int q1 = level_sym(src[j + 16], d, 8, 15);
            b->qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void lair_q4_1_from_float(const float *src, void *dst, int64_t n) {
    block_q4_1 *b = dst;
    for (int64_t i = 0; i < n / QK4_1; i++, b++, src += QK4_1) {
        float s, o;
        q_fit_affine(src, QK4_1, 15, false, NGRID_4BIT, &s, &o);
        b->d = q_f16_scale(s);
        b->m = q_f16_scale(o);
        float d = lair_f16_to_f32(b->d);
        float m = lair_f16_to_f32(b->m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            int q0 = level_affine(src[j], d, m, 15);
            int q1 = level_affine(src[j + 16], d, m, 15);
            b->qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

/* Packs 32 five-bit levels: low nibbles as Q4_0, bit 4 of level j at bit j
 * of the little-endian qh. */
static void q5_pack(const int *q, uint8_t *qs, uint8_t *qh) {
    uint32_t h = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
        h |= (uint32_t)(q[j] >> 4) << j;
        h |= (uint32_t)(q[j + 16] >> 4) << (j + 16);
    }
    for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(h >> (8 * k));
}

void lair_q5_0_from_float(const float *src, void *dst, int64_t n) {
    block_q5_0 *b = dst;
    for (int64_t i = 0; i < n / QK5_0; i++, b++, src += QK5_0) {
        float s;
        q_fit_sym(src, QK5_0, 16, 15, NGRID_5BIT, &s);
        b->d = q_f16_scale(s);
        float d = lair_f16_to_f32(b->d);
        int q[QK5_0];
        for (int j = 0; j < QK5_0; j++) q[j] = level_sym(src[j], d, 16, 31);
        q5_pack(q, b->qs, b->qh);
    }
}

void lair_q5_1_from_float(const float *src, void *dst, int64_t n) {
    block_q5_1 *b = dst;
    for (int64_t i = 0; i < n / QK5_1; i++, b++, src += QK5_1) {
        float s, o;
        q_fit_affine(src, QK5_1, 31, false, NGRID_5BIT, &s, &o);
        b->d = q_f16_scale(s);
        b->m = q_f16_scale(o);
        float d = lair_f16_to_f32(b->d);
        float m = lair_f16_to_f32(b->m);
        int q[QK5_1];
        for (int j = 0; j < QK5_1; j++) q[j] = level_affine(src[j], d, m, 31);
        q5_pack(q, b->qs, b->qh);
    }
}

/* The activation rule shared by Q8_0 and Q8_1: d = max|x| / 127 (float),
 * q = round-half-even(x * (1/d)) in -127..127; the f16 of d is stored.  A
 * block whose stored d is 0 gets zero levels.  Returns the stored d. */
static float q8_block(const float *x, int8_t *qs, lair_f16 *dh) {
    float amax = q_absmax(x, 32);
    float d = amax / 127.0f;
    *dh = q_f16_scale(d);
    float ds = lair_f16_to_f32(*dh);
    if (ds == 0.0f) {
        memset(qs, 0, 32);
        return 0.0f;
    }
    float id = 1.0f / d; /* d >= 2^-25 here, so finite */
    for (int j = 0; j < 32; j++) qs[j] = (int8_t)q_round_clamp(x[j] * id, -127, 127);
    return ds;
}

void lair_q8_0_from_float(const float *src, void *dst, int64_t n) {
    block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / QK8_0; i++, b++, src += QK8_0) q8_block(src, b->qs, &b->d);
}

void lair_q8_1_from_float(const float *src, void *dst, int64_t n) {
    block_q8_1 *b = dst;
    for (int64_t i = 0; i < n / QK8_1; i++, b++, src += QK8_1) {
        float d = q8_block(src, b->qs, &b->d);
        int sum = 0;
        for (int j = 0; j < QK8_1; j++) sum += b->qs[j];
        b->s = q_f16_scale(d * (float)sum);
    }
}
