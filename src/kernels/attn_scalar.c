/* Attention over one KV head, scalar reference: the specification the
 * SIMD variants (attn_avx2.c) reproduce bit for bit.
 *
 * Scores.  dot(K row, q) over hd elements (hd a multiple of 8) as 8 lanes
 * times two accumulators: element 8j + l goes into lane l of accumulator
 * j mod 2 with one fused multiply-add; the two accumulators are added lane
 * by lane, and the 8 lanes summed as ((l0 + l1) + (l2 + l3)) + ((l4 + l5)
 * + (l6 + l7)).  A head's score depends only on its own query and the K
 * row, never on the other heads of the group or on the cells listed.
 *
 * Values.  o[d] = fma(p_i, V_i[d], o[d]) for the listed cells i in order,
 * a term with p_i == 0 skipped: the fused multiply-add per term of the
 * one-row axpy kernels, so a head's output does not depend on how cells or
 * heads are grouped either. */
#include <math.h>
#include <stdbool.h>

#include "core/fp16.h"
#include "kernels/kernels_internal.h"

static float kv_at(const uint8_t *row, int64_t d, bool f16) {
    if (f16) {
        lair_f16 h;
        memcpy(&h, row + 2 * d, 2);
        return lair_f16_to_f32(h);
    }
    float f;
    memcpy(&f, row + 4 * d, 4);
    return f;
}

static float score_one(int64_t hd, const uint8_t *kr, const float *q, bool f16) {
    float acc[2][8] = {{0}};
    for (int64_t j = 0; j < hd / 8; j++)
        for (int l = 0; l < 8; l++) acc[j % 2][l] = fmaf(kv_at(kr, 8 * j + l, f16), q[8 * j + l], acc[j % 2][l]);
    float t[8];
    for (int l = 0; l < 8; l++) t[l] = acc[0][l] + acc[1][l];
    return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
}

static void scores(int64_t hd, int G, int32_t n, const int32_t *cells, const void *k, uint64_t rs, const float *q,
                   float *s, int64_t ss, bool f16) {
    for (int32_t i = 0; i < n; i++) {
        const uint8_t *kr = (const uint8_t *)k + (uint64_t)cells[i] * rs;
        for (int g = 0; g < G; g++) s[(int64_t)g * ss + i] = score_one(hd, kr, q + (int64_t)g * hd, f16);
    }
}

static void values(int64_t hd, int G, int32_t n, const int32_t *cells, const void *v, uint64_t rs, const float *p,
                   int64_t ps, float *o, bool f16) {
    for (int32_t i = 0; i < n; i++) {
        const uint8_t *vr = (const uint8_t *)v + (uint64_t)cells[i] * rs;
        for (int g = 0; g < G; g++) {
            float pg = p[(int64_t)g * ps + i];
            if (pg == 0.0f) continue;
            float *og = o + (int64_t)g * hd;
            for (int64_t d = 0; d < hd; d++) og[d] = fmaf(pg, kv_at(vr, d, f16), og[d]);
        }
    }
}

void lair_attn_scores_f32_scalar(int64_t hd, int G, int32_t n, const int32_t *cells, const void *k, uint64_t rs,
                                 const float *q, float *s, int64_t ss) {
    scores(hd, G, n, cells, k, rs, q, s, ss, false);
}

void lair_attn_scores_f16_scalar(int64_t hd, int G, int32_t n, const int32_t *cells, const void *k, uint64_t rs,
                                 const float *q, float *s, int64_t ss) {
    scores(hd, G, n, cells, k, rs, q, s, ss, true);
}

void lair_attn_values_f32_scalar(int64_t hd, int G, int32_t n, const int32_t *cells, const void *v, uint64_t rs,
                                 const float *p, int64_t ps, float *o) {
    values(hd, G, n, cells, v, rs, p, ps, o, false);
}

void lair_attn_values_f16_scalar(int64_t hd, int G, int32_t n, const int32_t *cells, const void *v, uint64_t rs,
                                 const float *p, int64_t ps, float *o) {
    values(hd, G, n, cells, v, rs, p, ps, o, true);
}
