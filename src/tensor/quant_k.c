/* The K-quants: super-blocks of 256 elements split into sub-blocks that each
 * carry a small integer scale (and, for Q2_K/Q4_K/Q5_K, a min) relative to
 * the super-block's f16 d (and dmin).  Q8_K is the activation format their
 * dot products use.
 *
 * Encoding a super-block (weight formats):
 *   1. each sub-block gets its own best real scale (and min) from the
 *      least-squares searches of quant_search.c;
 *   2. d (dmin) is chosen so the largest sub-block scale (min) gets the
 *      largest code (the signed formats try both ends: the scale of largest
 *      magnitude onto the most negative or the most positive code); each
 *      sub-block then tries the integer codes within +-1 of scale/d and
 *      keeps the one whose re-assigned levels give the smallest squared
 *      error, computed exactly as the decoder computes values;
 *   3. d (and dmin) are refit by least squares for the chosen codes and
 *      levels, and step 2 is repeated with them if that lowers the error.
 * The error minimised throughout is the plain squared error (the RMS error
 * of the weights), not a weighted one. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include <float.h>
#include <string.h>

#include "tensor/quant_internal.h"

#define KSUB_MAX 16   /* sub-blocks per super-block, at most */
#define KREFIT_STEPS 1 /* rounds of step 3 (a second one gains ~0.1% RMS) */

/* ---- decoders ------------------------------------------------------------- */

void lair_q2_K_to_float(const void *src, float *dst, int64_t n) {
    const block_q2_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b++) {
        float d = lair_f16_to_f32(b->d);
        float dmin = lair_f16_to_f32(b->dmin);
        int is = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *q = b->qs + 32 * h;
            for (int shift = 0; shift < 8; shift += 2) {
                for (int g = 0; g < 2; g++, is++) {
                    uint8_t sc = b->scales[is];
                    float dl = d * (float)(sc & 0xF);
                    float ml = dmin * (float)(sc >> 4);
                    for (int l = 0; l < 16; l++) {
                        float v = dl * (float)((q[16 * g + l] >> shift) & 3);
                        *dst++ = v - ml;
                    }
                }
            }
        }
    }
}

/* Q3_K's 16 scales: code i keeps its low nibble in byte i%8 (low nibble for
 * i < 8, high for i >= 8) and its top 2 bits in byte 8 + i%4 at bit 2*(i/4);
 * the stored 6-bit value is the signed scale + 32.  (This is the three-word
 * kmask description of the format, written per byte so it is independent
 * of the host's byte order.) */
static int q3k_scale_get(const uint8_t *s, int i) {
    int lo = i < 8 ? (s[i] & 0xF) : (s[i - 8] >> 4);
    int hi = (s[8 + (i & 3)] >> (2 * (i >> 2))) & 3;
    return (lo | (hi << 4)) - 32;
}

static void q3k_scales_put(uint8_t *s, const int8_t *sc) {
    memset(s, 0, 12);
    for (int i = 0; i < 16; i++) {
        int u = sc[i] + 32; /* 0..63 */
        if (i < 8) s[i] |= (uint8_t)(u & 0xF);
        else s[i - 8] |= (uint8_t)((u & 0xF) << 4);
        s[8 + (i & 3)] |= (uint8_t)((u >> 4) << (2 * (i >> 2)));
    }
}

void lair_q3_K_to_float(const void *src, float *dst, int64_t n) {
    const block_q3_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b++) {
        float d = lair_f16_to_f32(b->d);
        int is = 0;
        int bit = 0; /* hmask bit: one per (half, shift) step */
        for (int h = 0; h < 2; h++) {
            const uint8_t *q = b->qs + 32 * h;
            for (int shift = 0; shift < 8; shift += 2, bit++) {
                for (int g = 0; g < 2; g++, is++) {
                    float dl = d * (float)q3k_scale_get(b->scales, is);
                    for (int l = 0; l < 16; l++) {
                        int lv = (q[16 * g + l] >> shift) & 3;
                        if (!((b->hmask[16 * g + l] >> bit) & 1)) lv -= 4;
                        *dst++ = dl * (float)lv;
                    }
                }
            }
        }
    }
}

void lair_q4_K_to_float(const void *src, float *dst, int64_t n) {
    const block_q4_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b++) {
        float d = lair_f16_to_f32(b->d);
        float dmin = lair_f16_to_f32(b->dmin);
        for (int c = 0; c < 4; c++) { /* 64-element chunks */
            const uint8_t *q = b->qs + 32 * c;
            for (int half = 0; half < 2; half++) {
                uint8_t sc, m;
                k_scale_min_get(b->scales, 2 * c + half, &sc, &m);
                float d1 = d * (float)sc;
                float m1 = dmin * (float)m;
                for (int l = 0; l < 32; l++) {
                    int lv = half ? (q[l] >> 4) : (q[l] & 0xF);
                    float v = d1 * (float)lv;
                    *dst++ = v - m1;
                }
            }
        }
    }
}

void lair_q5_K_to_float(const void *src, float *dst, int64_t n) {
    const block_q5_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b++) {
        float d = lair_f16_to_f32(b->d);
        float dmin = lair_f16_to_f32(b->dmin);
        for (int c = 0; c < 4; c++) {
            const uint8_t *q = b->qs + 32 * c;
            for (int half = 0; half < 2; half++) {
                uint8_t sc, m;
                k_scale_min_get(b->scales, 2 * c + half, &sc, &m);
                float d1 = d * (float)sc;
                float m1 = dmin * (float)m;
                int hb = 2 * c + half; /* qh bit of this 32-element run */
                for (int l = 0; l < 32; l++) {
                    int lv = (half ? (q[l] >> 4) : (q[l] & 0xF)) | (((b->qh[l] >> hb) & 1) << 4);
                    float v = d1 * (float)lv;
                    *dst++ = v - m1;
                }
            }
        }
    }
}

void lair_q6_K_to_float(const void *src, float *dst, int64_t n) {
    const block_q6_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b++, dst += QK_K) {
        float d = lair_f16_to_f32(b->d);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b->ql + 64 * h;
            const uint8_t *qh = b->qh + 32 * h;
            const int8_t *sc = b->scales + 8 * h;
            float *y = dst + 128 * h;
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                float s1 = d * (float)sc[is];
                float s2 = d * (float)sc[is + 2];
                float s3 = d * (float)sc[is + 4];
                float s4 = d * (float)sc[is + 6];
                y[l] = s1 * (float)q1;
                y[l + 32] = s2 * (float)q2;
                y[l + 64] = s3 * (float)q3;
                y[l + 96] = s4 * (float)q4;
            }
        }
    }
}

void lair_q8_K_to_float(const void *src, float *dst, int64_t n) {
    const block_q8_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b++, dst += QK_K) {
        for (int j = 0; j < QK_K; j++) dst[j] = b->d * (float)b->qs[j];
    }
}

/* ---- encoders: formats with mins (Q2_K, Q4_K, Q5_K) ---------------------- */

typedef struct kmin_shape {
    int nsub;   /* sub-blocks per super-block */
    int len;    /* elements per sub-block */
    int nmax;   /* largest level */
    int cmax;   /* largest scale / min code */
    int ngrid;  /* starting scales of the per-sub-block search */
} kmin_shape;

/* Levels of one sub-block for step S = d*sc and offset M = dmin*m, decoded
 * as S*q - M; returns the squared error (float: inf only for inputs near
 * 1e19 and beyond, where every candidate saturates alike).  L may be NULL;
 * len is a multiple of 4. */
static float kmin_assign(const float *x, int len, int nmax, float S, float M, uint8_t *L) {
    float e[4] = {0};
    float iS = S > 0 ? 1.0f / S : 0.0f; /* S == 0: every level is 0 */
    for (int i = 0; i < len; i += 4) {
        for (int k = 0; k < 4; k++) {
            float q = q_nearest_clamp((x[i + k] + M) * iS, 0.0f, (float)nmax);
            float v = S * q;
            v = v - M;
            float r = v - x[i + k];
            e[k] += r * r;
            if (L) L[i + k] = (uint8_t)q;
        }
    }
    return (e[0] + e[1]) + (e[2] + e[3]);
}

/* Picks the codes (sc, m) of one sub-block within +-1 of the real scale s and
 * min mn measured in units of d and dmin; writes its levels, returns the
 * squared error. */
static double kmin_codes(const float *x, const kmin_shape *sh, float d, float dmin, float s, float mn,
                         uint8_t *sc, uint8_t *m, uint8_t *L) {
    int c0 = d > 0 ? q_round_clamp(s / d, 0, sh->cmax) : 0;
    int m0 = dmin > 0 ? q_round_clamp(mn / dmin, 0, sh->cmax) : 0;
    float best = FLT_MAX;
    int bc = c0, bm = m0;
    for (int c = c0 - 1; c <= c0 + 1; c++) {
        if (c < 0 || c > sh->cmax) continue;
        for (int mm = m0 - 1; mm <= m0 + 1; mm++) {
            if (mm < 0 || mm > sh->cmax) continue;
            float e = kmin_assign(x, sh->len, sh->nmax, d * (float)c, dmin * (float)mm, NULL);
            if (e < best) {
                best = e;
                bc = c;
                bm = mm;
            }
        }
    }
    *sc = (uint8_t)bc;
    *m = (uint8_t)bm;
    return kmin_assign(x, sh->len, sh->nmax, d * (float)bc, dmin * (float)bm, L);
}

/* Codes and levels of every sub-block for stored d, dmin; returns the total
 * squared error. */
static double kmin_all_codes(const float *x, const kmin_shape *sh, lair_f16 dh, lair_f16 dminh, const float *s,
                             const float *mn, uint8_t *sc, uint8_t *m, uint8_t *L) {
    float d = lair_f16_to_f32(dh), dmin = lair_f16_to_f32(dminh);
    double e = 0;
    for (int j = 0; j < sh->nsub; j++) {
        int o = j * sh->len;
        e += kmin_codes(x + o, sh, d, dmin, s[j], mn[j], &sc[j], &m[j], L + o);
    }
    return e;
}

/* Least-squares (d, dmin) for fixed codes and levels: x ~ d*(sc*q) - dmin*m.
 * False when the system gives no usable (positive d, non-negative dmin). */
static bool kmin_refit(const float *x, const kmin_shape *sh, const uint8_t *sc, const uint8_t *m, const uint8_t *L,
                       float *d, float *dmin) {
    double saa = 0, sab = 0, sbb = 0, sax = 0, sbx = 0;
    for (int j = 0; j < sh->nsub; j++) {
        double b = -(double)m[j];
        for (int i = 0; i < sh->len; i++) {
            double a = (double)sc[j] * L[j * sh->len + i];
            double xi = x[j * sh->len + i];
            saa += a * a;
            sab += a * b;
            sbb += b * b;
            sax += a * xi;
            sbx += b * xi;
        }
    }
    if (saa <= 0) return false;
    double det = saa * sbb - sab * sab;
    double dd, dm;
    if (sbb > 0 && det > 1e-9 * saa * sbb) {
        dd = (sax * sbb - sab * sbx) / det;
        dm = (saa * sbx - sab * sax) / det;
    } else {
        dm = *dmin;
        dd = (sax - dm * sab) / saa;
    }
    if (!(dd > 0) || !(dm >= 0) || dd > FLT_MAX || dm > FLT_MAX) return false;
    *d = (float)dd;
    *dmin = (float)dm;
    return true;
}

static void kmin_quantize(const float *x, const kmin_shape *sh, lair_f16 *dh_out, lair_f16 *dminh_out, uint8_t *sc,
                          uint8_t *m, uint8_t *L) {
    float s[KSUB_MAX], mn[KSUB_MAX];
    float smax = 0, mmax = 0;
    for (int j = 0; j < sh->nsub; j++) {
        float o;
        q_fit_affine(x + j * sh->len, sh->len, sh->nmax, true, sh->ngrid, &s[j], &o);
        mn[j] = -o;
        if (s[j] > smax) smax = s[j];
        if (mn[j] > mmax) mmax = mn[j];
    }
    lair_f16 dh = q_f16_scale(smax / (float)sh->cmax);
    lair_f16 dminh = q_f16_scale(mmax / (float)sh->cmax);
    double best = kmin_all_codes(x, sh, dh, dminh, s, mn, sc, m, L);
    for (int it = 0; it < KREFIT_STEPS; it++) {
        float d = lair_f16_to_f32(dh), dmin = lair_f16_to_f32(dminh);
        if (!kmin_refit(x, sh, sc, m, L, &d, &dmin)) break;
        lair_f16 ndh = q_f16_scale(d), ndminh = q_f16_scale(dmin);
        if (ndh == dh && ndminh == dminh) break;
        uint8_t nsc[KSUB_MAX], nm[KSUB_MAX], nL[QK_K];
        double e = kmin_all_codes(x, sh, ndh, ndminh, s, mn, nsc, nm, nL);
        if (!(e < best)) break;
        best = e;
        dh = ndh;
        dminh = ndminh;
        memcpy(sc, nsc, (size_t)sh->nsub);
        memcpy(m, nm, (size_t)sh->nsub);
        memcpy(L, nL, QK_K);
    }
    *dh_out = dh;
    *dminh_out = dminh;
}

void lair_q2_K_from_float(const float *src, void *dst, int64_t n) {
    static const kmin_shape sh = {16, 16, 3, 15, 7};
    block_q2_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, b++, src += QK_K) {
        uint8_t sc[16], m[16], L[QK_K];
        kmin_quantize(src, &sh, &b->d, &b->dmin, sc, m, L);
        for (int j = 0; j < 16; j++) b->scales[j] = (uint8_t)(sc[j] | (m[j] << 4));
        /* element 128h + 32j + 16g + l sits in qs[32h + 16g + l] at bits 2j */
        memset(b->qs, 0, sizeof b->qs);
        for (int e = 0; e < QK_K; e++) {
            int h = e / 128, j = (e / 32) % 4, gl = e % 32;
            b->qs[32 * h + gl] |= (uint8_t)(L[e] << (2 * j));
        }
    }
}

void lair_q4_K_from_float(const float *src, void *dst, int64_t n) {
    static const kmin_shape sh = {8, 32, 15, 63, 7};
    block_q4_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, b++, src += QK_K) {
        uint8_t sc[8], m[8], L[QK_K];
        kmin_quantize(src, &sh, &b->d, &b->dmin, sc, m, L);
        kscale_put(b->scales, sc, m);
        for (int c = 0; c < 4; c++) {
            for (int l = 0; l < 32; l++) b->qs[32 * c + l] = (uint8_t)(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
        }
    }
}

void lair_q5_K_from_float(const float *src, void *dst, int64_t n) {
    static const kmin_shape sh = {8, 32, 31, 63, 7};
    block_q5_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, b++, src += QK_K) {
        uint8_t sc[8], m[8], L[QK_K];
        kmin_quantize(src, &sh, &b->d, &b->dmin, sc, m, L);
        kscale_put(b->scales, sc, m);
        memset(b->qh, 0, sizeof b->qh);
        for (int c = 0; c < 4; c++) {
            for (int l = 0; l < 32; l++) {
                int lo = L[64 * c + l], hi = L[64 * c + 32 + l];
                b->qs[32 * c + l] = (uint8_t)((lo & 0xF) | ((hi & 0xF) << 4));
                b->qh[l] |= (uint8_t)(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
            }
        }
    }
}

/* ---- encoders: symmetric formats (Q3_K, Q6_K) ----------------------------- */

typedef struct ksym_shape {
    int nneg, npos; /* levels -nneg..npos */
    int cneg, cpos; /* scale codes -cneg..cpos */
    int ngrid;
} ksym_shape;

#define KSYM_LEN 16 /* both formats: 16 sub-blocks of 16 */

/* Levels of one sub-block for step S = d*sc; returns the squared error
 * (float, as kmin_assign). */
static float ksym_assign(const float *x, const ksym_shape *sh, float S, int8_t *L) {
    float e[4] = {0};
    float iS = S != 0 ? 1.0f / S : 0.0f;
    for (int i = 0; i < KSYM_LEN; i += 4) {
        for (int k = 0; k < 4; k++) {
            float q = q_nearest_clamp(x[i + k] * iS, (float)-sh->nneg, (float)sh->npos);
            float r = S * q - x[i + k];
            e[k] += r * r;
            if (L) L[i + k] = (int8_t)q;
        }
    }
    return (e[0] + e[1]) + (e[2] + e[3]);
}

static double ksym_all_codes(const float *x, const ksym_shape *sh, lair_f16 dh, const float *s, int8_t *sc,
                             int8_t *L) {
    float d = lair_f16_to_f32(dh);
    double total = 0;
    for (int j = 0; j < QK_K / KSYM_LEN; j++) {
        const float *xj = x + KSYM_LEN * j;
        int c0 = d != 0 ? q_round_clamp(s[j] / d, -sh->cneg, sh->cpos) : 0;
        float best = FLT_MAX;
        int bc = c0;
        for (int c = c0 - 1; c <= c0 + 1; c++) {
            if (c < -sh->cneg || c > sh->cpos) continue;
            float e = ksym_assign(xj, sh, d * (float)c, NULL);
            if (e < best) {
                best = e;
                bc = c;
            }
        }
        sc[j] = (int8_t)bc;
        total += ksym_assign(xj, sh, d * (float)bc, L + KSYM_LEN * j);
    }
    return total;
}

/* Least-squares d for fixed codes and levels: x ~ d*(sc*q). */
static bool ksym_refit(const float *x, const int8_t *sc, const int8_t *L, float *d) {
    double saa = 0, sax = 0;
    for (int i = 0; i < QK_K; i++) {
        double a = (double)sc[i / KSYM_LEN] * L[i];
        saa += a * a;
        sax += a * x[i];
    }
    if (saa <= 0) return false;
    double dd = sax / saa;
    if (!(fabs(dd) <= FLT_MAX) || dd == 0) return false;
    *d = (float)dd;
    return true;
}

static void ksym_quantize(const float *x, const ksym_shape *sh, lair_f16 *dh_out, int8_t *sc, int8_t *L) {
    float s[QK_K / KSYM_LEN];
    float sm = 0; /* sub-block scale of largest magnitude, with its sign */
    for (int j = 0; j < QK_K / KSYM_LEN; j++) {
        q_fit_sym(x + KSYM_LEN * j, KSYM_LEN, sh->nneg, sh->npos, sh->ngrid, &s[j]);
        if (fabsf(s[j]) > fabsf(sm)) sm = s[j];
    }
    if (sm == 0) { /* all zero */
        *dh_out = 0;
        memset(sc, 0, QK_K / KSYM_LEN);
        memset(L, 0, QK_K);
        return;
    }
    /* two starts: sm onto the most negative code, or onto the most positive */
    double best = HUGE_VAL; /* the first candidate is always taken (errors may be inf) */
    bool have = false;
    lair_f16 best_dh = 0;
    int8_t tsc[QK_K / KSYM_LEN], tL[QK_K];
    for (int start = 0; start < 2; start++) {
        lair_f16 dh = q_f16_scale(start == 0 ? -sm / (float)sh->cneg : sm / (float)sh->cpos);
        double e = ksym_all_codes(x, sh, dh, s, tsc, tL);
        for (int it = 0; it <= KREFIT_STEPS; it++) {
            if (!have || e < best) {
                have = true;
                best = e;
                best_dh = dh;
                memcpy(sc, tsc, sizeof tsc);
                memcpy(L, tL, sizeof tL);
            }
            if (it == KREFIT_STEPS) break;
            float d;
            if (!ksym_refit(x, tsc, tL, &d)) break;
            lair_f16 ndh = q_f16_scale(d);
            if (ndh == dh) break;
            dh = ndh;
            e = ksym_all_codes(x, sh, dh, s, tsc, tL);
        }
    }
    *dh_out = best_dh;
}

void lair_q3_K_from_float(const float *src, void *dst, int64_t n) {
    static const ksym_shape sh = {4, 3, 32, 31, 7};
    block_q3_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, b++, src += QK_K) {
        int8_t sc[16], L[QK_K];
        ksym_quantize(src, &sh, &b->d, sc, L);
        q3k_scales_put(b->scales, sc);
        /* element 128h + 32j + 16g + l: low bits in qs[32h + 16g + l] at bits
         * 2j, high bit in hmask[16g + l] at bit 4h + j; stored level + 4 */
        memset(b->qs, 0, sizeof b->qs);
        memset(b->hmask, 0, sizeof b->hmask);
        for (int e = 0; e < QK_K; e++) {
            int u = L[e] + 4;
            int h = e / 128, j = (e / 32) % 4, gl = e % 32;
            b->qs[32 * h + gl] |= (uint8_t)((u & 3) << (2 * j));
            b->hmask[gl] |= (uint8_t)((u >> 2) << (4 * h + j));
        }
    }
}

void lair_q6_K_from_float(const float *src, void *dst, int64_t n) {
    static const ksym_shape sh = {32, 31, 128, 127, 5};
    block_q6_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, b++, src += QK_K) {
        int8_t L[QK_K];
        ksym_quantize(src, &sh, &b->d, b->scales, L);
        for (int h = 0; h < 2; h++) {
            const int8_t *y = L + 128 * h;
            for (int l = 0; l < 32; l++) {
                int q1 = y[l] + 32, q2 = y[l + 32] + 32, q3 = y[l + 64] + 32, q4 = y[l + 96] + 32;
                b->ql[64 * h + l] = (uint8_t)((q1 & 0xF) | ((q3 & 0xF) << 4));
                b->ql[64 * h + l + 32] = (uint8_t)((q2 & 0xF) | ((q4 & 0xF) << 4));
                b->qh[32 * h + l] = (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
    }
}

/* ---- Q8_K (activations) -----------------------------------------------------
 * The value of largest magnitude maps onto -128: d = -max/128 (float, so its
 * sign may be negative), q = round-half-even(x * (-128/max)) clamped to 127;
 * bsums[k] is the sum of q over elements 16k..16k+15.  Blocks whose scale
 * would not be finite (max below ~4e-37) are stored as zeros. */
void lair_q8_K_from_float(const float *src, void *dst, int64_t n) {
    block_q8_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, b++, src += QK_K) {
        float mx = 0;
        for (int j = 0; j < QK_K; j++) {
            if (fabsf(src[j]) > fabsf(mx)) mx = src[j];
        }
        float iscale = mx != 0 ? -128.0f / mx : 0.0f;
        if (!(fabsf(iscale) <= FLT_MAX) || iscale == 0) {
            memset(b, 0, sizeof *b);
            continue;
        }
        for (int j = 0; j < QK_K; j++) b->qs[j] = (int8_t)q_round_clamp(iscale * src[j], -128, 127);
        for (int k = 0; k < QK_K / 16; k++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += b->qs[16 * k + l];
            b->bsums[k] = (int16_t)sum;
        }
        b->d = 1.0f / iscale;
    }
}
