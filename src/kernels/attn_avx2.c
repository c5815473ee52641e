/* Attention over one KV head, AVX2 + FMA + F16C: bit-identical to the
 * scalar reference (attn_scalar.c, which states the summation orders).
 *
 * Scores: up to 4 heads at a time against each listed K row.  The row is
 * converted to float once, 16 elements at a time, and each head's two
 * accumulators (vectors j even / odd) take it with fused multiply-adds;
 * at the end of the row the 4 heads' accumulators are reduced together by
 * three horizontal adds (the reference's lane tree).  Against one-row dot
 * products this reads and converts each K row once per group of heads and
 * makes one call per group instead of one per (cell, head).
 *
 * Values: two heads x 32 dimensions (8 accumulators) stay in registers
 * while the listed V rows pass; each row's 32 values are converted once
 * for both heads.  The one-row axpy instead loaded, added and stored the
 * output for every (cell, head). */
#if defined(__x86_64__)

#include "kernels/avx2_inline.h"
#include "kernels/kernels_internal.h"

static inline __attribute__((always_inline)) AVX2_FN __m256 kv8(const uint8_t *row, int64_t d, const bool f16) {
    return f16 ? _mm256_cvtph_ps(load16(row + 2 * d)) : _mm256_loadu_ps((const float *)(const void *)(row + 4 * d));
}

/* Lane sums of x[0..3] (the reference's tree) in the 4 lanes of the result. */
static inline AVX2_FN __m128 hsum4_ps(const __m256 x[4]) {
    __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(x[0], x[1]), _mm256_hadd_ps(x[2], x[3]));
    return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

/* Heads g0 .. g0 + GN - 1 (GN <= 4, a constant in each instance). */
static inline __attribute__((always_inline)) AVX2_FN void scores_heads(int64_t hd, int32_t n, const int32_t *cells,
                                                                       const uint8_t *k, uint64_t rs, const float *q,
                                                                       float *s, int64_t ss, const int GN, const bool f16) {
    for (int32_t i = 0; i < n; i++) {
        const uint8_t *kr = k + (uint64_t)cells[i] * rs;
        __m256 a[4], b[4];
        UNROLL_FULL for (int g = 0; g < 4; g++) a[g] = b[g] = _mm256_setzero_ps();
        int64_t d = 0;
        for (; d + 16 <= hd; d += 16) {
            __m256 k0 = kv8(kr, d, f16), k1 = kv8(kr, d + 8, f16);
            UNROLL_FULL for (int g = 0; g < GN; g++) {
                a[g] = _mm256_fmadd_ps(k0, _mm256_loadu_ps(q + g * hd + d), a[g]);
                b[g] = _mm256_fmadd_ps(k1, _mm256_loadu_ps(q + g * hd + d + 8), b[g]);
            }
        }
        if (d < hd) { /* an even last vector */
            __m256 k0 = kv8(kr, d, f16);
            UNROLL_FULL for (int g = 0; g < GN; g++) a[g] = _mm256_fmadd_ps(k0, _mm256_loadu_ps(q + g * hd + d), a[g]);
        }
        UNROLL_FULL for (int g = 0; g < 4; g++) a[g] = _mm256_add_ps(a[g], b[g]);
        float out[4];
        _mm_storeu_ps(out, hsum4_ps(a));
        UNROLL_FULL for (int g = 0; g < GN; g++) s[g * ss + i] = out[g];
    }
}

static inline __attribute__((always_inline)) AVX2_FN void scores(int64_t hd, int G, int32_t n, const int32_t *cells,
                                                                 const void *k, uint64_t rs, const float *q, float *s,
                                                                 int64_t ss, const bool f16) {
    for (int g0 = 0; g0 < G; g0 += 4) {
        const float *qg = q + (int64_t)g0 * hd;
        float *sg = s + (int64_t)g0 * ss;
        switch (G - g0 < 4 ? G - g0 : 4) {
        case 1: scores_heads(hd, n, cells, k, rs, qg, sg, ss, 1, f16); break;
        case 2: scores_heads(hd, n, cells, k, rs, qg, sg, ss, 2, f16); break;
        case 3: scores_heads(hd, n, cells, k, rs, qg, sg, ss, 3, f16); break;
        default: scores_heads(hd, n, cells, k, rs, qg, sg, ss, 4, f16); break;
        }
    }
}

/* Dimensions d0 .. d0 + 8W - 1 of heads g0 .. g0 + GN - 1 (GN <= 2). */
static inline __attribute__((always_inline)) AVX2_FN void values_slice(int64_t hd, int32_t n, const int32_t *cells,
                                                                       const uint8_t *v, uint64_t rs, const float *p,
                                                                       int64_t ps, float *o, int64_t d0, const int W,
                                                                       const int GN, const bool f16) {
    __m256 acc[2][4];
    UNROLL_FULL for (int g = 0; g < GN; g++)
        UNROLL_FULL for (int w = 0; w < W; w++) acc[g][w] = _mm256_loadu_ps(o + g * hd + d0 + 8 * w);
    for (int32_t i = 0; i < n; i++) {
        const uint8_t *vr = v + (uint64_t)cells[i] * rs;
        __m256 x[4];
        UNROLL_FULL for (int w = 0; w < W; w++) x[w] = kv8(vr, d0 + 8 * w, f16);
        UNROLL_FULL for (int g = 0; g < GN; g++) {
            float pg = p[g * ps + i];
            if (pg == 0.0f) continue;
            __m256 vp = _mm256_set1_ps(pg);
            UNROLL_FULL for (int w = 0; w < W; w++) acc[g][w] = _mm256_fmadd_ps(vp, x[w], acc[g][w]);
        }
    }
    UNROLL_FULL for (int g = 0; g < GN; g++)
        UNROLL_FULL for (int w = 0; w < W; w++) _mm256_storeu_ps(o + g * hd + d0 + 8 * w, acc[g][w]);
}

static inline __attribute__((always_inline)) AVX2_FN void values_heads(int64_t hd, int32_t n, const int32_t *cells,
                                                                       const uint8_t *v, uint64_t rs, const float *p,
                                                                       int64_t ps, float *o, const int GN, const bool f16) {
    int64_t d = 0;
    for (; d + 32 <= hd; d += 32) values_slice(hd, n, cells, v, rs, p, ps, o, d, 4, GN, f16);
    for (; d < hd; d += 8) values_slice(hd, n, cells, v, rs, p, ps, o, d, 1, GN, f16);
}

static inline __attribute__((always_inline)) AVX2_FN void values(int64_t hd, int G, int32_t n, const int32_t *cells,
                                                                 const void *v, uint64_t rs, const float *p, int64_t ps,
                                                                 float *o, const bool f16) {
    int g = 0;
    for (; g + 2 <= G; g += 2) values_heads(hd, n, cells, v, rs, p + g * ps, ps, o + g * hd, 2, f16);
    if (g < G) values_heads(hd, n, cells, v, rs, p + g * ps, ps, o + g * hd, 1, f16);
}

void AVX2_FN lair_attn_scores_f32_avx2(int64_t hd, int G, int32_t n, const int32_t *cells, const void *k, uint64_t rs,
                                       const float *q, float *s, int64_t ss) {
    scores(hd, G, n, cells, k, rs, q, s, ss, false);
}

void AVX2_FN lair_attn_scores_f16_avx2(int64_t hd, int G, int32_t n, const int32_t *cells, const void *k, uint64_t rs,
                                       const float *q, float *s, int64_t ss) {
    scores(hd, G, n, cells, k, rs, q, s, ss, true);
}

void AVX2_FN lair_attn_values_f32_avx2(int64_t hd, int G, int32_t n, const int32_t *cells, const void *v, uint64_t rs,
                                       const float *p, int64_t ps, float *o) {
    values(hd, G, n, cells, v, rs, p, ps, o, false);
}

void AVX2_FN lair_attn_values_f16_avx2(int64_t hd, int G, int32_t n, const int32_t *cells, const void *v, uint64_t rs,
                                       const float *p, int64_t ps, float *o) {
    values(hd, G, n, cells, v, rs, p, ps, o, true);
}

#endif /* __x86_64__ */
