/* Attention over one KV head, AArch64 NEON: bit-identical to the scalar
 * reference (attn_scalar.c, which states the summation orders).  The
 * reference's 8-lane vector is a pair of float32x4 (lanes 0-3, 4-7); f16
 * rows are widened exactly by FCVTL, every product is a fused FMLA.
 *
 * Scores: up to 4 heads at a time against each listed K row.  The row is
 * converted to float once, 16 elements at a time, and each head's two
 * accumulators (vectors j even / odd, 2 x float32x4 each: 16 registers
 * for 4 heads) take it with fused multiply-adds; at the end of the row the
 * 4 heads' accumulators are reduced together by three rounds of pairwise
 * adds (FADDP adds adjacent lanes, so the rounds build the reference's
 * tree).  Against one-row dot products this reads and converts each K row
 * once per group of heads and makes one call per group instead of one per
 * (cell, head).
 *
 * Values: two heads x 32 dimensions (16 accumulators) stay in registers
 * while the listed V rows pass; each row's 32 values (8 registers) are
 * converted once for both heads.  The one-row axpy instead loaded, added
 * and stored the output for every (cell, head). */
#if defined(__aarch64__)

#include <arm_neon.h>
#include <stdbool.h>

#include "kernels/kernels_internal.h"
#include "kernels/kernels_neon.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* Elements d .. d+7 of a row as lanes 0-3 (lo) and 4-7 (hi); byte loads,
 * so rows need no alignment. */
ALWAYS_INLINE void kv8(const uint8_t *row, int64_t d, const bool f16, float32x4_t *lo, float32x4_t *hi) {
    if (f16) {
        float16x8_t h = vreinterpretq_f16_u8(vld1q_u8(row + 2 * d));
        *lo = vcvt_f32_f16(vget_low_f16(h));
        *hi = vcvt_high_f32_f16(h);
    } else {
        *lo = vreinterpretq_f32_u8(vld1q_u8(row + 4 * d));
        *hi = vreinterpretq_f32_u8(vld1q_u8(row + 4 * d + 16));
    }
}

/* Heads g0 .. g0 + GN - 1 (GN <= 4, a constant in each instance). */
ALWAYS_INLINE void scores_heads(int64_t hd, int32_t n, const int32_t *cells, const uint8_t *k, uint64_t rs,
                                const float *q, float *s, int64_t ss, const int GN, const bool f16) {
    for (int32_t i = 0; i < n; i++) {
        const uint8_t *kr = k + (uint64_t)cells[i] * rs;
        float32x4_t alo[4], ahi[4], blo[4], bhi[4]; /* a: even vectors j, b: odd */
        UNROLL_FULL for (int g = 0; g < 4; g++) alo[g] = ahi[g] = blo[g] = bhi[g] = vdupq_n_f32(0.0f);
        int64_t d = 0;
        for (; d + 16 <= hd; d += 16) {
            float32x4_t k0l, k0h, k1l, k1h;
            kv8(kr, d, f16, &k0l, &k0h);
            kv8(kr, d + 8, f16, &k1l, &k1h);
            UNROLL_FULL for (int g = 0; g < GN; g++) {
                const float *qg = q + g * hd + d;
                alo[g] = vfmaq_f32(alo[g], k0l, vld1q_f32(qg));
                ahi[g] = vfmaq_f32(ahi[g], k0h, vld1q_f32(qg + 4));
            }
            /* keeps the second half's q loads below: GCC hoists all 16 and
             * spills (16 accumulators + 4 K + 16 q > 32 registers) */
            __asm__("" ::: "memory");
            UNROLL_FULL for (int g = 0; g < GN; g++) {
                const float *qg = q + g * hd + d;
                blo[g] = vfmaq_f32(blo[g], k1l, vld1q_f32(qg + 8));
                bhi[g] = vfmaq_f32(bhi[g], k1h, vld1q_f32(qg + 12));
            }
        }
        if (d < hd) { /* an even last vector */
            float32x4_t k0l, k0h;
            kv8(kr, d, f16, &k0l, &k0h);
            UNROLL_FULL for (int g = 0; g < GN; g++) {
                const float *qg = q + g * hd + d;
                alo[g] = vfmaq_f32(alo[g], k0l, vld1q_f32(qg));
                ahi[g] = vfmaq_f32(ahi[g], k0h, vld1q_f32(qg + 4));
            }
        }
        /* t = a + b lane by lane; FADDP(x, y) = {x0+x1, x2+x3, y0+y1, y2+y3}:
         * u_g = {l0+l1, l2+l3, l4+l5, l6+l7}, then (u_0, u_1) -> {h0 (l0+l1)+(l2+l3),
         * h0 (l4+l5)+(l6+l7), h1 .., h1 ..}, and the last round gives heads 0..3 */
        float32x4_t u[4];
        UNROLL_FULL for (int g = 0; g < 4; g++)
            u[g] = vpaddq_f32(vaddq_f32(alo[g], blo[g]), vaddq_f32(ahi[g], bhi[g]));
        float out[4];
        vst1q_f32(out, vpaddq_f32(vpaddq_f32(u[0], u[1]), vpaddq_f32(u[2], u[3])));
        UNROLL_FULL for (int g = 0; g < GN; g++) s[g * ss + i] = out[g];
    }
}

/* Dimensions d0 .. d0 + 8W - 1 of heads g0 .. g0 + GN - 1 (GN <= 2, W <= 4):
 * 2W float32x4 accumulators per head. */
ALWAYS_INLINE void values_slice(int64_t hd, int32_t n, const int32_t *cells, const uint8_t *v, uint64_t rs,
                                const float *p, int64_t ps, float *o, int64_t d0, const int W, const int GN,
                                const bool f16) {
    float32x4_t acc[2][8];
    UNROLL_FULL for (int g = 0; g < GN; g++)
        UNROLL_FULL for (int w = 0; w < 2 * W; w++) acc[g][w] = vld1q_f32(o + g * hd + d0 + 4 * w);
    for (int32_t i = 0; i < n; i++) {
        const uint8_t *vr = v + (uint64_t)cells[i] * rs;
        float32x4_t x[8];
        UNROLL_FULL for (int w = 0; w < W; w++) kv8(vr, d0 + 8 * w, f16, &x[2 * w], &x[2 * w + 1]);
        UNROLL_FULL for (int g = 0; g < GN; g++) {
            float pg = p[g * ps + i];
            if (pg == 0.0f) continue;
            float32x4_t vp = vdupq_n_f32(pg);
            UNROLL_FULL for (int w = 0; w < 2 * W; w++) acc[g][w] = vfmaq_f32(acc[g][w], vp, x[w]);
        }
    }
    UNROLL_FULL for (int g = 0; g < GN; g++)
        UNROLL_FULL for (int w = 0; w < 2 * W; w++) vst1q_f32(o + g * hd + d0 + 4 * w, acc[g][w]);
}

ALWAYS_INLINE void values_heads(int64_t hd, int32_t n, const int32_t *cells, const uint8_t *v, uint64_t rs,
                                const float *p, int64_t ps, float *o, const int GN, const bool f16) {
    int64_t d = 0;
    for (; d + 32 <= hd; d += 32) values_slice(hd, n, cells, v, rs, p, ps, o, d, 4, GN, f16);
    for (; d < hd; d += 8) values_slice(hd, n, cells, v, rs, p, ps, o, d, 1, GN, f16);
}

ALWAYS_INLINE void values(int64_t hd, int G, int32_t n, const int32_t *cells, const void *v, uint64_t rs,
                          const float *p, int64_t ps, float *o, const bool f16) {
    int g = 0;
    for (; g + 2 <= G; g += 2) values_heads(hd, n, cells, v, rs, p + g * ps, ps, o + g * hd, 2, f16);
    if (g < G) values_heads(hd, n, cells, v, rs, p + g * ps, ps, o + g * hd, 1, f16);
}

void lair_attn_scores_f16_neon(int64_t hd, int G, int32_t n, const int32_t *cells, const void *k, uint64_t rs,
                               const float *q, float *s, int64_t ss) {
    for (int g0 = 0; g0 < G; g0 += 4) {
        const float *qg = q + (int64_t)g0 * hd;
        float *sg = s + (int64_t)g0 * ss;
        switch (G - g0 < 4 ? G - g0 : 4) {
        case 1: scores_heads(hd, n, cells, k, rs, qg, sg, ss, 1, true); break;
        case 2: scores_heads(hd, n, cells, k, rs, qg, sg, ss, 2, true); break;
        case 3: scores_heads(hd, n, cells, k, rs, qg, sg, ss, 3, true); break;
        default: scores_heads(hd, n, cells, k, rs, qg, sg, ss, 4, true); break;
        }
    }
}

void lair_attn_values_f32_neon(int64_t hd, int G, int32_t n, const int32_t *cells, const void *v, uint64_t rs,
                               const float *p, int64_t ps, float *o) {
    values(hd, G, n, cells, v, rs, p, ps, o, false);
}

void lair_attn_values_f16_neon(int64_t hd, int G, int32_t n, const int32_t *cells, const void *v, uint64_t rs,
                               const float *p, int64_t ps, float *o) {
    values(hd, G, n, cells, v, rs, p, ps, o, true);
}

#endif /* __aarch64__ */
