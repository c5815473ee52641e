/* Unit tests of the NEON kernels (vec_dot_neon.c) against the scalar
 * reference, called directly through lair_kernels_neon_table() (whether or
 * not kernels.c selects them).  For every format: awkward row lengths (1, 2,
 * 7, 33 blocks of 32; 1, 3, 9 super-blocks of 256; element counts around
 * the vector widths for the float formats), weights quantized from random
 * floats with the format's own from_float or filled with random bytes
 * (finite scales: every level and scale code), activations quantized with
 * the partner format's from_float.  Rows sit at odd addresses.  The NEON
 * result must equal the scalar one within 1e-5 of the sum of |terms| (the
 * integer parts are exact; only float summation order may differ), the
 * float formats to within one rounding of the result (both sum in double).
 * On other CPUs the test prints one skip line. */
#include "check.h"

#if defined(__aarch64__)

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/fp16.h"
#include "kernels/kernels.h"
#include "kernels/kernels_neon.h"
#include "tensor/blocks.h"
#include "tensor/format.h"

/* Deterministic xorshift64* stream. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rng_u32(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}
static double rng_uniform(void) { return ((double)rng_u32() + 0.5) / 4294967296.0; }
static float rng_normal(void) {
    double u = rng_uniform(), v = rng_uniform();
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

/* A format and the byte offsets of its f16 scale fields (-1 ends). */
typedef struct fmt_case {
    lair_type t;
    int f16_at[3];
} fmt_case;

static const fmt_case cases[] = {
    {LAIR_TYPE_F32, {-1}},
    {LAIR_TYPE_F16, {-1}},
    {LAIR_TYPE_BF16, {-1}},
    {LAIR_TYPE_Q4_0, {offsetof(block_q4_0, d), -1}},
    {LAIR_TYPE_Q4_1, {offsetof(block_q4_1, d), offsetof(block_q4_1, m), -1}},
    {LAIR_TYPE_Q5_0, {offsetof(block_q5_0, d), -1}},
    {LAIR_TYPE_Q5_1, {offsetof(block_q5_1, d), offsetof(block_q5_1, m), -1}},
    {LAIR_TYPE_Q8_0, {offsetof(block_q8_0, d), -1}},
    {LAIR_TYPE_IQ4_NL, {offsetof(block_iq4_nl, d), -1}},
    {LAIR_TYPE_Q2_K, {offsetof(block_q2_K, d), offsetof(block_q2_K, dmin), -1}},
    {LAIR_TYPE_Q3_K, {offsetof(block_q3_K, d), -1}},
    {LAIR_TYPE_Q4_K, {offsetof(block_q4_K, d), offsetof(block_q4_K, dmin), -1}},
    {LAIR_TYPE_Q5_K, {offsetof(block_q5_K, d), offsetof(block_q5_K, dmin), -1}},
    {LAIR_TYPE_Q6_K, {offsetof(block_q6_K, d), -1}},
    {LAIR_TYPE_IQ4_XS, {offsetof(block_iq4_xs, d), -1}},
};
#define NCASES (sizeof cases / sizeof cases[0])

static const int64_t blocks_32[] = {1, 2, 7, 33};
static const int64_t blocks_256[] = {1, 3, 9};
static const int64_t elems_float[] = {1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 31, 33, 100, 257, 1000};

enum fill { FILL_QUANTIZED, FILL_RANDOM_BYTES };

/* Encoded row of n elements at buf + 1 (odd address); *bytes its size.
 * The quantizers may assume alignment, so they write an aligned copy. */
static unsigned char *row_make(lair_type t, int64_t n, enum fill fill, const fmt_case *fc, float scale) {
    const lair_type_traits *tr = lair_type_traits_of(t);
    uint64_t bytes = 0;
    if (!tr || !tr->from_float || !lair_type_row_bytes(t, n, &bytes)) return NULL;
    unsigned char *buf = malloc((size_t)bytes + 1), *p = malloc((size_t)bytes);
    float *src = malloc((size_t)n * sizeof(float));
    if (!buf || !p || !src) {
        free(buf);
        free(p);
        free(src);
        return NULL;
    }
    if (fill == FILL_RANDOM_BYTES && tr->quantized) {
        for (uint64_t i = 0; i < bytes; i++) p[i] = (unsigned char)rng_u32();
        for (int64_t b = 0; b < n / tr->block_size; b++) {
            for (int k = 0; fc && k < 3 && fc->f16_at[k] >= 0; k++) {
                lair_f16 h = lair_f32_to_f16(scale * 0.01f * (float)(rng_uniform() * 2.0 - 1.0));
                memcpy(p + (size_t)b * tr->block_bytes + (size_t)fc->f16_at[k], &h, 2);
            }
        }
    } else {
        for (int64_t i = 0; i < n; i++) src[i] = scale * rng_normal();
        tr->from_float(src, p, n);
    }
    memcpy(buf + 1, p, (size_t)bytes);
    free(src);
    free(p);
    return buf;
}

/* Sum of |w_i x_i| over the decoded rows: the scale of allowed rounding.
 * Q4_1/Q5_1 also add |m * s| per block (their min term uses the stored s). */
static double magnitude(lair_type wt, const unsigned char *w, const unsigned char *x, int64_t n) {
    const lair_type_traits *tw = lair_type_traits_of(wt), *tx = lair_type_traits_of(lair_vec_dot_type(wt));
    float *dw = malloc((size_t)n * sizeof(float)), *dx = malloc((size_t)n * sizeof(float));
    uint64_t bw = 0, bx = 0;
    double m = 0.0;
    if (dw && dx && lair_type_row_bytes(wt, n, &bw) && lair_type_row_bytes(lair_vec_dot_type(wt), n, &bx)) {
        /* decode from aligned copies */
        unsigned char *cw = malloc((size_t)bw), *cx = malloc((size_t)bx);
        if (cw && cx) {
            memcpy(cw, w, (size_t)bw);
            memcpy(cx, x, (size_t)bx);
            tw->to_float(cw, dw, n);
            tx->to_float(cx, dx, n);
            for (int64_t i = 0; i < n; i++) m += fabs((double)dw[i] * (double)dx[i]);
            if (wt == LAIR_TYPE_Q4_1 || wt == LAIR_TYPE_Q5_1) {
                size_t moff = wt == LAIR_TYPE_Q4_1 ? offsetof(block_q4_1, m) : offsetof(block_q5_1, m);
                for (int64_t b = 0; b < n / 32; b++) {
                    lair_f16 mh, sh;
                    memcpy(&mh, cw + (size_t)b * tw->block_bytes + moff, 2);
                    memcpy(&sh, cx + (size_t)b * sizeof(block_q8_1) + offsetof(block_q8_1, s), 2);
                    m += fabs((double)lair_f16_to_f32(mh) * (double)lair_f16_to_f32(sh));
                }
            }
        }
        free(cw);
        free(cx);
    }
    free(dw);
    free(dx);
    return m;
}

static void check_format(const lair_kernels *neon, const lair_kernels *scalar, const fmt_case *fc, enum fill fill,
                         int rounds) {
    const lair_type wt = fc->t, xt = lair_vec_dot_type(wt);
    const lair_type_traits *tr = lair_type_traits_of(wt);
    REQUIRE(tr && xt != LAIR_TYPE_COUNT && scalar->vec_dot[wt] && neon->vec_dot[wt]);
    const int64_t *lens = tr->block_size == 1 ? elems_float : tr->block_size == 32 ? blocks_32 : blocks_256;
    const size_t nlens = tr->block_size == 1    ? sizeof elems_float / sizeof elems_float[0]
                         : tr->block_size == 32 ? sizeof blocks_32 / sizeof blocks_32[0]
                                                : sizeof blocks_256 / sizeof blocks_256[0];
    for (int round = 0; round < rounds; round++) {
        for (size_t li = 0; li < nlens; li++) {
            const int64_t n = lens[li] * tr->block_size;
            const float wscale = round % 3 == 0 ? 1.0f : (round % 3 == 1 ? 3e-3f : 40.0f);
            const float xscale = round % 2 == 0 ? 1.0f : 0.05f;
            unsigned char *w = row_make(wt, n, fill, fc, wscale);
            unsigned char *x = row_make(xt, n, FILL_QUANTIZED, NULL, xscale);
            if (!w || !x) {
                check_fail(__FILE__, __LINE__, "%s: cannot make rows", tr->name);
                free(w);
                free(x);
                return;
            }
            const double mag = magnitude(wt, w + 1, x + 1, n);
            float want = NAN, got = NAN;
            scalar->vec_dot[wt](n, &want, w + 1, x + 1);
            neon->vec_dot[wt](n, &got, w + 1, x + 1);
            CHECKF(fabs((double)got - (double)want) <= 1e-5 * mag + 1e-30,
                   "%s n=%lld fill=%d round=%d: neon %.9g, scalar %.9g (|terms| %.3g)", tr->name, (long long)n,
                   (int)fill, round, (double)got, (double)want, mag);
            if (tr->block_size == 1) { /* both sum in double: one rounding apart at most */
                double ulp = (double)nextafterf(fabsf(want), INFINITY) - fabsf(want);
                CHECKF(fabs((double)got - (double)want) <= ulp, "%s n=%lld: neon %.9g, scalar %.9g differ by > 1 ulp",
                       tr->name, (long long)n, (double)got, (double)want);
            }
            free(w);
            free(x);
        }
    }
}

static const lair_kernels *neon_or_skip(void) {
    if (!lair_neon_usable()) {
        check_skip("this CPU lacks the dotprod extension the NEON kernels were built for");
        return NULL;
    }
    return lair_kernels_neon_table();
}

TEST(neon_table) {
    const lair_kernels *k = lair_kernels_neon_table();
    REQUIRE(k);
    CHECK(k->isa == LAIR_ISA_NEON);
    CHECK(strcmp(k->name, "neon") == 0);
    for (int t = 0; t < LAIR_TYPE_COUNT; t++) {
        CHECKF((k->vec_dot[t] != NULL) == (lair_vec_dot_type((lair_type)t) != LAIR_TYPE_COUNT),
               "type %d: vec_dot %s", t, k->vec_dot[t] ? "set" : "missing");
        CHECKF(k->vec_dot_rows[t] == NULL, "type %d: vec_dot_rows set", t);
    }
}

TEST(neon_quantized_rows) {
    const lair_kernels *neon = neon_or_skip(), *scalar = lair_kernels_for(LAIR_ISA_SCALAR);
    if (!neon) return;
    REQUIRE(scalar);
    for (size_t i = 0; i < NCASES; i++) check_format(neon, scalar, &cases[i], FILL_QUANTIZED, 6);
}

TEST(neon_random_byte_rows) {
    const lair_kernels *neon = neon_or_skip(), *scalar = lair_kernels_for(LAIR_ISA_SCALAR);
    if (!neon) return;
    REQUIRE(scalar);
    for (size_t i = 0; i < NCASES; i++) {
        if (lair_type_traits_of(cases[i].t)->quantized) check_format(neon, scalar, &cases[i], FILL_RANDOM_BYTES, 6);
    }
}

/* Q8_0 weights all -128 (never written by the quantizer, legal in files)
 * against activations +-127: the largest products, exact in int32. */
TEST(neon_q8_0_extremes) {
    const lair_kernels *neon = neon_or_skip();
    if (!neon) return;
    enum { NB = 3 };
    unsigned char wbuf[NB * sizeof(block_q8_0) + 1], xbuf[NB * sizeof(block_q8_0) + 1];
    for (int b = 0; b < NB; b++) {
        block_q8_0 wb, xb;
        wb.d = lair_f32_to_f16(0.5f);
        xb.d = lair_f32_to_f16(0.25f);
        for (int j = 0; j < 32; j++) {
            wb.qs[j] = -128;
            xb.qs[j] = (int8_t)(b == 1 ? 127 : -127);
        }
        memcpy(wbuf + 1 + b * sizeof wb, &wb, sizeof wb);
        memcpy(xbuf + 1 + b * sizeof xb, &xb, sizeof xb);
    }
    const double want = 0.5 * 0.25 * 32 * (-128.0) * (-127.0 + 127.0 - 127.0);
    float got = NAN;
    neon->vec_dot[LAIR_TYPE_Q8_0](NB * 32, &got, wbuf + 1, xbuf + 1);
    CHECKF(got == (float)want, "neon %g, want %g", (double)got, want);
}

int main(void) {
    RUN(neon_table);
    RUN(neon_quantized_rows);
    RUN(neon_random_byte_rows);
    RUN(neon_q8_0_extremes);
    return check_done();
}

#else /* not aarch64 */

TEST(neon_kernels) { check_skip("not aarch64"); }

int main(void) {
    RUN(neon_kernels);
    return check_done();
}

#endif
