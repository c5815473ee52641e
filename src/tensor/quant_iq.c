/* IQ4_NL and IQ4_XS: 4-bit indices into 16 non-uniform levels (denser near
 * zero, where most weights are), x = scale * kvalues_iq4nl[q].
 *
 * Encoding searches the group scale the same way as the uniform formats
 * (starting scales around "largest magnitude onto an end level", each
 * refined by nearest-level assignment and a least-squares refit), only the
 * nearest level comes from a lookup table over half-unit bins.  IQ4_XS then
 * codes its 8 sub-block scales in 6 bits against the super-block d like the
 * symmetric K-quants (both ends tried, codes within +-1, up to two
 * least-squares refits of d). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include <float.h>
#include <string.h>

#include "tensor/quant_internal.h"

const int8_t kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

#define IQ4_ZERO 8   /* index of the level nearest 0 (value 1) */
#define IQ4_GROUP 32 /* elements per IQ4_NL block and per IQ4_XS sub-block */
#define IQ4_NGRID 7  /* starting scales per end level */

/* ---- decoders ------------------------------------------------------------- */

static void iq4_group_decode(const uint8_t *qs, float d, float *y) {
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)kvalues_iq4nl[qs[j] & 0xF];
        y[j + 16] = d * (float)kvalues_iq4nl[qs[j] >> 4];
    }
}

void lair_iq4_nl_to_float(const void *src, float *dst, int64_t n) {
    const block_iq4_nl *b = src;
    for (int64_t i = 0; i < n / QK4_NL; i++, b++, dst += QK4_NL) iq4_group_decode(b->qs, lair_f16_to_f32(b->d), dst);
}

static int iq4xs_scale_get(const block_iq4_xs *b, int ib) {
    int lo = (b->scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF;
    int hi = (b->scales_h >> (2 * ib)) & 3;
    return (lo | (hi << 4)) - 32;
}

void lair_iq4_xs_to_float(const void *src, float *dst, int64_t n) {
    const block_iq4_xs *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b++) {
        float d = lair_f16_to_f32(b->d);
        for (int ib = 0; ib < QK_K / IQ4_GROUP; ib++, dst += IQ4_GROUP) {
            float dl = d * (float)iq4xs_scale_get(b, ib);
            iq4_group_decode(b->qs + 16 * ib, dl, dst);
        }
    }
}

/* ---- encoders ------------------------------------------------------------- */

/* Nearest-level lookup: v (in units of the scale) clamped to [-128, 127.5]
 * falls into one of 512 half-unit bins; every midpoint between neighbouring
 * levels is a multiple of 0.5, so each bin lies wholly on one side of each
 * midpoint and has a single nearest level (a value exactly on a midpoint
 * goes to the upper level).  Built on the caller's stack once per call of a
 * from_float (no mutable static state). */
typedef struct iq4_lut {
    uint8_t idx[512];
} iq4_lut;

static void iq4_lut_init(iq4_lut *t) {
    static const float mid[15] = {-115.5f, -93.5f, -74.0f, -57.0f, -42.0f, -28.5f, -16.0f, -4.5f,
                                  7.0f,    19.0f,  31.5f,  45.5f,  61.0f,  79.0f,  101.0f};
    int k = 0;
    for (int b = 0; b < 512; b++) {
        float lo = (float)b * 0.5f - 128.0f; /* the bin is [lo, lo + 0.5) */
        while (k < 15 && lo >= mid[k]) k++;
        t->idx[b] = (uint8_t)k;
    }
}

static inline int iq4_nearest(const iq4_lut *t, float v) {
    v = v > -128.0f ? v : -128.0f; /* NaN -> -128 */
    v = v < 127.5f ? v : 127.5f;
    return t->idx[(int)((v + 128.0f) * 2.0f)];
}

/* Levels of a group for scale S (decoded as S*kv[q]); returns the squared
 * error.  q may be NULL. */
static float iq4_assign(const iq4_lut *t, const float *x, int n, float S, uint8_t *q) {
    float e[4] = {0};
    float iS = S != 0 ? 1.0f / S : 0.0f; /* S == 0: every index is IQ4_ZERO */
    for (int i = 0; i < n; i += 4) {
        for (int k = 0; k < 4; k++) {
            int idx = iq4_nearest(t, x[i + k] * iS);
            float v = S * (float)kvalues_iq4nl[idx];
            float r = v - x[i + k];
            e[k] += r * r;
            if (q) q[i + k] = (uint8_t)idx;
        }
    }
    return (e[0] + e[1]) + (e[2] + e[3]);
}

/* One refinement step on a normalised group: levels for scale s, then the
 * least-squares scale for those levels (returned; 0 when none exists) and
 * its squared error in *e (sxx: sum of x^2). */
static float iq4_pass(const iq4_lut *t, const float *xn, int n, float s, float sxx, float *e) {
    float axk[4] = {0}, akk[4] = {0};
    float is = 1.0f / s;
    for (int i = 0; i < n; i += 4) {
        for (int k = 0; k < 4; k++) {
            float kv = (float)kvalues_iq4nl[iq4_nearest(t, xn[i + k] * is)];
            axk[k] += xn[i + k] * kv;
            akk[k] += kv * kv;
        }
    }
    float sxk = (axk[0] + axk[1]) + (axk[2] + axk[3]);
    float skk = (akk[0] + akk[1]) + (akk[2] + akk[3]);
    if (!(skk > 0) || sxk == 0) {
        *e = sxx;
        return 0.0f;
    }
    float r = sxx - sxk * (sxk / skk);
    *e = r > 0 ? r : 0;
    return sxk / skk;
}

/* Best real scale of a group of n <= 32 values (on a copy normalised by
 * max|x|, like q_fit_sym): starting scales put the value of largest
 * magnitude onto the lowest level (-127) or the highest (113), that end
 * varied by +-10 units to trade clipping against resolution; each start is
 * refined twice.  Returns the scale; 0 for an all-zero group. */
static float iq4_fit(const iq4_lut *lut, const float *x, int n) {
    float xn[IQ4_GROUP];
    float amax = q_absmax(x, n);
    if (amax == 0.0f) return 0.0f;
    float m = 0.0f, sxx = 0.0f;
    for (int i = 0; i < n; i++) {
        xn[i] = x[i] / amax;
        sxx += xn[i] * xn[i];
        if (fabsf(xn[i]) > fabsf(m)) m = xn[i];
    }
    float best_s = 0.0f, best_e = sxx;
    static const float ends[2] = {-127.0f, 113.0f};
    for (int side = 0; side < 2; side++) {
        for (int g = 0; g < IQ4_NGRID; g++) {
            float t = ends[side] + (side == 0 ? -1.0f : 1.0f) * (-10.0f + 20.0f * (float)g / (IQ4_NGRID - 1));
            float e, cs = iq4_pass(lut, xn, n, m / t, sxx, &e);
            if (cs == 0.0f) continue;
            cs = iq4_pass(lut, xn, n, cs, sxx, &e);
            if (cs != 0.0f && e < best_e) {
                best_e = e;
                best_s = cs;
            }
        }
    }
    double r = (double)best_s * amax;
    if (r > FLT_MAX) return FLT_MAX;
    if (r < -FLT_MAX) return -FLT_MAX;
    return (float)r;
}

static void iq4_pack(const uint8_t *q, uint8_t *qs) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)(q[j] | (q[j + 16] << 4));
}

void lair_iq4_nl_from_float(const float *src, void *dst, int64_t n) {
    block_iq4_nl *b = dst;
    iq4_lut lut;
    iq4_lut_init(&lut);
    for (int64_t i = 0; i < n / QK4_NL; i++, b++, src += QK4_NL) {
        uint8_t q[QK4_NL];
        b->d = q_f16_scale(iq4_fit(&lut, src, QK4_NL));
        iq4_assign(&lut, src, QK4_NL, lair_f16_to_f32(b->d), q);
        iq4_pack(q, b->qs);
    }
}

#define XS_NSUB (QK_K / IQ4_GROUP)
#define XS_REFIT_STEPS 2

/* Codes (-32..31, within +-1 of s/d) and levels of all 8 sub-blocks for the
 * stored d; returns the total squared error. */
static double iq4xs_all_codes(const iq4_lut *t, const float *x, lair_f16 dh, const float *s, int8_t *ls, uint8_t *q) {
    float d = lair_f16_to_f32(dh);
    double total = 0;
    for (int j = 0; j < XS_NSUB; j++) {
        const float *xj = x + IQ4_GROUP * j;
        int c0 = d != 0 ? q_round_clamp(s[j] / d, -32, 31) : 0;
        float best = FLT_MAX;
        int bc = c0;
        for (int c = c0 - 1; c <= c0 + 1; c++) {
            if (c < -32 || c > 31) continue;
            float e = iq4_assign(t, xj, IQ4_GROUP, d * (float)c, NULL);
            if (e < best) {
                best = e;
                bc = c;
            }
        }
        ls[j] = (int8_t)bc;
        total += iq4_assign(t, xj, IQ4_GROUP, d * (float)bc, q + IQ4_GROUP * j);
    }
    return total;
}

/* Least-squares d for fixed codes and levels: x ~ d*(ls*kv[q]). */
static bool iq4xs_refit(const float *x, const int8_t *ls, const uint8_t *q, float *d) {
    double saa = 0, sax = 0;
    for (int i = 0; i < QK_K; i++) {
        double a = (double)ls[i / IQ4_GROUP] * kvalues_iq4nl[q[i]];
        saa += a * a;
        sax += a * x[i];
    }
    if (saa <= 0) return false;
    double dd = sax / saa;
    if (!(fabs(dd) <= FLT_MAX) || dd == 0) return false;
    *d = (float)dd;
    return true;
}

void lair_iq4_xs_from_float(const float *src, void *dst, int64_t n) {
    block_iq4_xs *b = dst;
    iq4_lut lut;
    iq4_lut_init(&lut);
    for (int64_t i = 0; i < n / QK_K; i++, b++, src += QK_K) {
        float s[XS_NSUB], sm = 0;
        for (int j = 0; j < XS_NSUB; j++) {
            s[j] = iq4_fit(&lut, src + IQ4_GROUP * j, IQ4_GROUP);
            if (fabsf(s[j]) > fabsf(sm)) sm = s[j];
        }
        int8_t ls[XS_NSUB] = {0}, tls[XS_NSUB];
        uint8_t q[QK_K], tq[QK_K];
        lair_f16 best_dh = 0;
        if (sm == 0) {
            memset(q, IQ4_ZERO, sizeof q);
        } else {
            double best = HUGE_VAL; /* the first candidate is always taken (errors may be inf) */
            bool have = false;
            for (int start = 0; start < 2; start++) { /* sm onto code -32 or 31 */
                lair_f16 dh = q_f16_scale(start == 0 ? -sm / 32.0f : sm / 31.0f);
                double e = iq4xs_all_codes(&lut, src, dh, s, tls, tq);
                for (int it = 0; it <= XS_REFIT_STEPS; it++) {
                    if (!have || e < best) {
                        have = true;
                        best = e;
                        best_dh = dh;
                        memcpy(ls, tls, sizeof ls);
                        memcpy(q, tq, sizeof q);
                    }
                    if (it == XS_REFIT_STEPS) break;
                    float d;
                    if (!iq4xs_refit(src, tls, tq, &d)) break;
                    lair_f16 ndh = q_f16_scale(d);
                    if (ndh == dh) break;
                    dh = ndh;
                    e = iq4xs_all_codes(&lut, src, dh, s, tls, tq);
                }
            }
        }
        b->d = best_dh;
        b->scales_h = 0;
        memset(b->scales_l, 0, sizeof b->scales_l);
        for (int j = 0; j < XS_NSUB; j++) {
            int u = ls[j] + 32;
            b->scales_l[j / 2] |= (uint8_t)((u & 0xF) << (4 * (j % 2)));
            b->scales_h |= (uint16_t)((u >> 4) << (2 * j));
        }
        for (int j = 0; j < XS_NSUB; j++) iq4_pack(q + IQ4_GROUP * j, b->qs + 16 * j);
    }
}
