/* Unit tests of the compute kernels (no test data needed):
 *   - the scalar vec_dot of every format equals the double-precision dot of
 *     the decoded rows (to_float of weights and activations), which proves
 *     the scalar reference right;
 *   - every other ISA available on this CPU equals the scalar one up to
 *     float summation order (the float formats, summed in double on every
 *     ISA, to within one rounding of the result);
 *   - the weight -> activation format mapping and the ISA tables/selection.
 * Rows are quantized from random floats with the formats' own quantizers,
 * and also filled with random bytes (finite scales) to reach every level
 * and scale code, including ones the quantizers never write; they are
 * placed at odd addresses to check that no kernel assumes alignment. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/fp16.h"
#include "core/rng.h"
#include "kernels/kernels.h"
#include "tensor/blocks.h"
#include "tensor/format.h"
#include "tensor/rows8.h"

/* ---- helpers ---------------------------------------------------------------- */

/* Deterministic stream (the project's generator, src/core/rng.h). */
static lair_rng rng_state = {0x2545f4914f6cdd1dull};
static uint32_t rng_u32(void) { return (uint32_t)(lair_rng_next(&rng_state) >> 32); }
static double rng_uniform(void) { return ((double)rng_u32() + 0.5) / 4294967296.0; }
static float rng_normal(void) {
    double u = rng_uniform(), v = rng_uniform();
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

/* Formats with a vec_dot, the block sizes they are tested at, and the byte
 * offsets of their f16 scale fields (set to finite values in random-byte
 * rows; -1 ends the list). */
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

/* Row lengths in blocks: awkward counts for the 2-blocks-per-iteration
 * loops; for the float formats (block size 1) element counts around the
 * SIMD widths. */
static const int64_t blocks_32[] = {1, 2, 7, 33};
static const int64_t blocks_256[] = {1, 3, 9};
static const int64_t elems_float[] = {1, 2, 7, 8, 15, 31, 33, 100, 257, 1000};

enum fill { FILL_QUANTIZED, FILL_RANDOM_BYTES, FILL_ZERO };

/* A test row: encoded bytes at an odd address (buf + 1: the kernels must
 * not assume alignment; the format codecs may, so they work on an aligned
 * copy) and the decoded floats. */
typedef struct row {
    unsigned char *buf;
    void *data;
    float *dec;
} row;

static void row_free(row *r) {
    free(r->buf);
    free(r->dec);
}

static bool row_make(row *r, lair_type t, int64_t n, enum fill fill, const fmt_case *fc, float scale) {
    const lair_type_traits *tr = lair_type_traits_of(t);
    uint64_t bytes = 0;
    r->buf = NULL;
    r->dec = NULL;
    if (!tr || !lair_type_row_bytes(t, n, &bytes)) return false;
    r->buf = malloc((size_t)bytes + 1);
    r->dec = malloc((size_t)n * sizeof(float));
    float *src = malloc((size_t)n * sizeof(float));
    unsigned char *p = malloc((size_t)bytes); /* aligned encoding */
    if (!r->buf || !r->dec || !src || !p) {
        free(src);
        free(p);
        return false;
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
        for (int64_t i = 0; i < n; i++) src[i] = fill == FILL_ZERO ? 0.0f : scale * rng_normal();
        tr->from_float(src, p, n);
    }
    tr->to_float(p, r->dec, n);
    r->data = r->buf + 1;
    memcpy(r->data, p, (size_t)bytes);
    free(src);
    free(p);
    return true;
}

/* The exact value the kernels compute, in double: the dot of the decoded
 * rows, except that Q8_1 activations contribute their stored s (the f16 of
 * d * sum(qs)) to the min term where the decoding has d * sum(qs).  *mag
 * is the sum of |terms|, the scale of the allowed rounding error. */
static double reference_dot(lair_type wt, const row *w, const row *x, int64_t n, double *mag) {
    double sum = 0.0, m = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double t = (double)w->dec[i] * (double)x->dec[i];
        sum += t;
        m += fabs(t);
    }
    if (lair_vec_dot_type(wt) == LAIR_TYPE_Q8_1) {
        const lair_type_traits *tr = lair_type_traits_of(wt);
        size_t moff = wt == LAIR_TYPE_Q4_1 ? offsetof(block_q4_1, m) : offsetof(block_q5_1, m);
        for (int64_t b = 0; b < n / 32; b++) {
            block_q8_1 xb;
            lair_f16 mh;
            memcpy(&xb, (const unsigned char *)x->data + (size_t)b * sizeof xb, sizeof xb);
            memcpy(&mh, (const unsigned char *)w->data + (size_t)b * tr->block_bytes + moff, 2);
            int sumq = 0;
            for (int j = 0; j < 32; j++) sumq += xb.qs[j];
            double mw = lair_f16_to_f32(mh);
            double s_exact = (double)lair_f16_to_f32(xb.d) * sumq;
            sum += mw * ((double)lair_f16_to_f32(xb.s) - s_exact);
            m += fabs(mw * (double)lair_f16_to_f32(xb.s));
        }
    }
    *mag = m;
    return sum;
}

/* Relative tolerance on the sum of |terms|: float accumulation over at most
 * a few thousand terms stays far below it; any wrong level or scale is far
 * above it. */
#define REL_TOL 1e-5

static bool close_enough(double got, double want, double mag) { return fabs(got - want) <= REL_TOL * mag + 1e-30; }

static const lair_kernels *other_isas[LAIR_ISA_COUNT];
static int n_other_isas;

static void find_isas(void) {
    n_other_isas = 0;
    for (int i = 1; i < LAIR_ISA_COUNT; i++) {
        const lair_kernels *k = lair_kernels_for((lair_isa)i);
        if (k) other_isas[n_other_isas++] = k;
    }
}

/* One format, one fill: every length; (a) scalar vs reference, (b) other
 * ISAs vs scalar. */
static void check_format(const fmt_case *fc, enum fill fill, int rounds) {
    const lair_type wt = fc->t;
    const lair_type xt = lair_vec_dot_type(wt);
    const lair_type_traits *tr = lair_type_traits_of(wt);
    const lair_kernels *scalar = lair_kernels_for(LAIR_ISA_SCALAR);
    REQUIRE(tr && xt != LAIR_TYPE_COUNT && scalar && scalar->vec_dot[wt]);
    const int64_t *lens;
    size_t nlens;
    if (tr->block_size == 1) {
        lens = elems_float;
        nlens = sizeof elems_float / sizeof elems_float[0];
    } else if (tr->block_size == 32) {
        lens = blocks_32;
        nlens = sizeof blocks_32 / sizeof blocks_32[0];
    } else {
        lens = blocks_256;
        nlens = sizeof blocks_256 / sizeof blocks_256[0];
    }
    for (int round = 0; round < rounds; round++) {
        for (size_t li = 0; li < nlens; li++) {
            const int64_t n = lens[li] * tr->block_size;
            /* scales spread over orders of magnitude between rounds */
            const float wscale = round % 3 == 0 ? 1.0f : (round % 3 == 1 ? 3e-3f : 40.0f);
            const float xscale = round % 2 == 0 ? 1.0f : 0.05f;
            row w, x;
            bool okw = row_make(&w, wt, n, fill, fc, wscale);
            bool okx = row_make(&x, xt, n, fill == FILL_ZERO ? FILL_ZERO : FILL_QUANTIZED, NULL, xscale);
            if (!okw || !okx) {
                check_fail(__FILE__, __LINE__, "out of memory");
                row_free(&w);
                row_free(&x);
                return;
            }
            double mag;
            const double want = reference_dot(wt, &w, &x, n, &mag);
            float got = NAN;
            scalar->vec_dot[wt](n, &got, w.data, x.data);
            CHECKF(close_enough(got, want, mag), "%s n=%lld fill=%d: scalar %.9g, reference %.9g (|terms| %.3g)",
                   tr->name, (long long)n, (int)fill, (double)got, want, mag);
            if (fill == FILL_ZERO) CHECKF(got == 0.0f, "%s n=%lld: zero rows give %g", tr->name, (long long)n, (double)got);
            for (int k = 0; k < n_other_isas; k++) {
                float simd = NAN;
                other_isas[k]->vec_dot[wt](n, &simd, w.data, x.data);
                CHECKF(close_enough(simd, got, mag), "%s n=%lld fill=%d: %s %.9g, scalar %.9g (|terms| %.3g)", tr->name,
                       (long long)n, (int)fill, other_isas[k]->name, (double)simd, (double)got, mag);
                /* float formats sum in double everywhere: at most the final
                 * rounding to float differs */
                if (tr->block_size == 1) {
                    double ulp = (double)nextafterf(fabsf(got), INFINITY) - fabsf(got);
                    CHECKF(fabs((double)simd - got) <= ulp + 1e-12 * mag, "%s n=%lld: %s %.9g, scalar %.9g differ by more than 1 ulp",
                           tr->name, (long long)n, other_isas[k]->name, (double)simd, (double)got);
                }
            }
            row_free(&w);
            row_free(&x);
        }
    }
}

/* ---- cases ---------------------------------------------------------------------- */

TEST(vec_dot_quantized_rows) {
    for (size_t i = 0; i < NCASES; i++) check_format(&cases[i], FILL_QUANTIZED, 6);
}

TEST(vec_dot_random_byte_rows) {
    for (size_t i = 0; i < NCASES; i++) {
        if (lair_type_traits_of(cases[i].t)->quantized) check_format(&cases[i], FILL_RANDOM_BYTES, 6);
    }
}

TEST(vec_dot_zero_rows) {
    for (size_t i = 0; i < NCASES; i++) check_format(&cases[i], FILL_ZERO, 1);
}

/* Multi-row kernels: for every ISA table with a vec_dot_rows entry, nx = 1..4
 * activation rows at a stride that is not a multiple of anything (and an odd
 * address) give the same results as that ISA's vec_dot on each row, and as
 * the scalar one, up to float summation order. */
static void check_rows_format(const fmt_case *fc, enum fill fill, int rounds) {
    const lair_type wt = fc->t;
    const lair_type xt = lair_vec_dot_type(wt);
    const lair_type_traits *tr = lair_type_traits_of(wt);
    const lair_kernels *scalar = lair_kernels_for(LAIR_ISA_SCALAR);
    REQUIRE(tr && xt != LAIR_TYPE_COUNT && scalar);
    const int64_t *lens = tr->block_size == 1 ? elems_float : tr->block_size == 32 ? blocks_32 : blocks_256;
    const size_t nlens = tr->block_size == 1   ? sizeof elems_float / sizeof elems_float[0]
                         : tr->block_size == 32 ? sizeof blocks_32 / sizeof blocks_32[0]
                                                : sizeof blocks_256 / sizeof blocks_256[0];
    for (int round = 0; round < rounds; round++) {
        for (size_t li = 0; li < nlens; li++) {
            const int64_t n = lens[li] * tr->block_size;
            const float wscale = round % 3 == 0 ? 1.0f : (round % 3 == 1 ? 3e-3f : 40.0f);
            uint64_t xbytes = 0;
            REQUIRE(lair_type_row_bytes(xt, n, &xbytes));
            const uint64_t stride = xbytes + 5;
            row w, x[LAIR_VEC_DOT_MAX_ROWS];
            bool ok = row_make(&w, wt, n, fill, fc, wscale);
            for (int k = 0; k < LAIR_VEC_DOT_MAX_ROWS; k++)
                ok &= row_make(&x[k], xt, n, fill == FILL_ZERO ? FILL_ZERO : FILL_QUANTIZED, NULL, k % 2 ? 0.05f : 1.0f);
            unsigned char *xbuf = malloc((size_t)(stride * LAIR_VEC_DOT_MAX_ROWS) + 1);
            if (ok && xbuf) {
                for (int k = 0; k < LAIR_VEC_DOT_MAX_ROWS; k++) memcpy(xbuf + 1 + k * stride, x[k].data, (size_t)xbytes);
                double mag[LAIR_VEC_DOT_MAX_ROWS];
                float want[LAIR_VEC_DOT_MAX_ROWS];
                for (int k = 0; k < LAIR_VEC_DOT_MAX_ROWS; k++) {
                    (void)reference_dot(wt, &w, &x[k], n, &mag[k]);
                    scalar->vec_dot[wt](n, &want[k], w.data, x[k].data);
                }
                for (int i = 0; i < n_other_isas; i++) {
                    const lair_kernels *kt = other_isas[i];
                    if (!kt->vec_dot_rows[wt]) continue;
                    for (int nx = 1; nx <= LAIR_VEC_DOT_MAX_ROWS; nx++) {
                        float got[LAIR_VEC_DOT_MAX_ROWS + 1];
                        for (int k = 0; k <= LAIR_VEC_DOT_MAX_ROWS; k++) got[k] = NAN;
                        kt->vec_dot_rows[wt](n, got, w.data, xbuf + 1, stride, nx);
                        for (int k = 0; k < nx; k++) {
                            float one = NAN;
                            kt->vec_dot[wt](n, &one, w.data, xbuf + 1 + k * stride);
                            CHECKF(close_enough(got[k], one, mag[k]) && close_enough(got[k], want[k], mag[k]),
                                   "%s %s rows n=%lld nx=%d row %d fill=%d: %.9g, vec_dot %.9g, scalar %.9g (|terms| %.3g)",
                                   kt->name, tr->name, (long long)n, nx, k, (int)fill, (double)got[k], (double)one,
                                   (double)want[k], mag[k]);
                            if (fill == FILL_ZERO) CHECKF(got[k] == 0.0f, "%s %s rows: zero rows give %g", kt->name, tr->name, (double)got[k]);
                        }
                        /* nothing written past s[nx - 1] */
                        CHECKF(isnan(got[nx]), "%s %s rows nx=%d wrote s[%d]", kt->name, tr->name, nx, nx);
                    }
                }
            } else {
                check_fail(__FILE__, __LINE__, "out of memory");
            }
            free(xbuf);
            row_free(&w);
            for (int k = 0; k < LAIR_VEC_DOT_MAX_ROWS; k++) row_free(&x[k]);
        }
    }
}

TEST(vec_dot_rows_match_vec_dot) {
    for (size_t i = 0; i < NCASES; i++) {
        check_rows_format(&cases[i], FILL_QUANTIZED, 3);
        if (lair_type_traits_of(cases[i].t)->quantized) check_rows_format(&cases[i], FILL_RANDOM_BYTES, 3);
        check_rows_format(&cases[i], FILL_ZERO, 1);
    }
}

/* Matrix x vector kernels: for every ISA table with a gemv entry, nr weight
 * rows (counts around the kernels' row groups, rows at a stride that is not
 * a multiple of anything, odd addresses) against one activation row give,
 * row by row, exactly the bits of that ISA's vec_dot and of its multi-row
 * kernel at every position in a group of activation rows (so a token's
 * result does not depend on how the engine groups rows or tokens), and the
 * scalar result up to float summation order.  Nothing is written past
 * s[nr - 1]. */
static void check_gemv_format(const fmt_case *fc, enum fill fill, int rounds) {
    const lair_type wt = fc->t;
    const lair_type xt = lair_vec_dot_type(wt);
    const lair_type_traits *tr = lair_type_traits_of(wt);
    const lair_kernels *scalar = lair_kernels_for(LAIR_ISA_SCALAR);
    REQUIRE(tr && xt != LAIR_TYPE_COUNT && scalar);
    static const int64_t row_counts[] = {1, 3, 7, 8, 9, 16, 17, 29};
    enum { MAX_NR = 29 };
    const int64_t *lens = tr->block_size == 1 ? elems_float : tr->block_size == 32 ? blocks_32 : blocks_256;
    const size_t nlens = tr->block_size == 1   ? sizeof elems_float / sizeof elems_float[0]
                         : tr->block_size == 32 ? sizeof blocks_32 / sizeof blocks_32[0]
                                                : sizeof blocks_256 / sizeof blocks_256[0];
    for (int round = 0; round < rounds; round++) {
        for (size_t li = 0; li < nlens; li++) {
            const int64_t n = lens[li] * tr->block_size;
            const float wscale = round % 3 == 0 ? 1.0f : (round % 3 == 1 ? 3e-3f : 40.0f);
            uint64_t wbytes = 0, xbytes = 0;
            REQUIRE(lair_type_row_bytes(wt, n, &wbytes) && lair_type_row_bytes(xt, n, &xbytes));
            const uint64_t wstride = wbytes + 3, xstride = xbytes + 5;
            row w[MAX_NR], x[LAIR_VEC_DOT_MAX_ROWS];
            bool ok = true;
            for (int r = 0; r < MAX_NR; r++) ok &= row_make(&w[r], wt, n, fill, fc, r % 4 == 3 ? wscale * 7.0f : wscale);
            for (int k = 0; k < LAIR_VEC_DOT_MAX_ROWS; k++)
                ok &= row_make(&x[k], xt, n, fill == FILL_ZERO ? FILL_ZERO : FILL_QUANTIZED, NULL, k % 2 ? 0.05f : 1.0f);
            unsigned char *wbuf = malloc((size_t)(wstride * MAX_NR) + 1);
            unsigned char *xbuf = malloc((size_t)(xstride * LAIR_VEC_DOT_MAX_ROWS) + 1);
            if (ok && wbuf && xbuf) {
                for (int r = 0; r < MAX_NR; r++) memcpy(wbuf + 1 + r * wstride, w[r].data, (size_t)wbytes);
                for (int k = 0; k < LAIR_VEC_DOT_MAX_ROWS; k++) memcpy(xbuf + 1 + k * xstride, x[k].data, (size_t)xbytes);
                for (int i = 0; i < n_other_isas; i++) {
                    const lair_kernels *kt = other_isas[i];
                    if (!kt->gemv[wt]) continue;
                    for (size_t ci = 0; ci < sizeof row_counts / sizeof row_counts[0]; ci++) {
                        const int64_t nr = row_counts[ci];
                        for (int k = 0; k < LAIR_VEC_DOT_MAX_ROWS; k++) {
                            const unsigned char *xk = xbuf + 1 + k * xstride;
                            float got[MAX_NR + 1];
                            for (int r = 0; r <= MAX_NR; r++) got[r] = NAN;
                            kt->gemv[wt](n, nr, got, wbuf + 1, wstride, xk);
                            CHECKF(isnan(got[nr]), "%s %s gemv nr=%lld wrote s[%lld]", kt->name, tr->name, (long long)nr,
                                   (long long)nr);
                            for (int64_t r = 0; r < nr; r++) {
                                const unsigned char *wr = wbuf + 1 + r * wstride;
                                float one = NAN, want = NAN;
                                kt->vec_dot[wt](n, &one, wr, xk);
                                scalar->vec_dot[wt](n, &want, w[r].data, x[k].data);
                                double mag;
                                (void)reference_dot(wt, &w[r], &x[k], n, &mag);
                                CHECKF(memcmp(&got[r], &one, sizeof one) == 0 && close_enough(got[r], want, mag),
                                       "%s %s gemv n=%lld nr=%lld row %lld act %d fill=%d: %.9g, vec_dot %.9g, scalar %.9g",
                                       kt->name, tr->name, (long long)n, (long long)nr, (long long)r, k, (int)fill,
                                       (double)got[r], (double)one, (double)want);
                                /* the multi-row kernel, with this activation at every position of a group */
                                for (int nx = k + 1; kt->vec_dot_rows[wt] && nx <= LAIR_VEC_DOT_MAX_ROWS; nx++) {
                                    float rows_out[LAIR_VEC_DOT_MAX_ROWS];
                                    kt->vec_dot_rows[wt](n, rows_out, wr, xbuf + 1, xstride, nx);
                                    CHECKF(memcmp(&rows_out[k], &got[r], sizeof got[r]) == 0,
                                           "%s %s gemv n=%lld row %lld act %d: %.9g, rows nx=%d %.9g", kt->name, tr->name,
                                           (long long)n, (long long)r, k, (double)got[r], nx, (double)rows_out[k]);
                                }
                            }
                        }
                    }
                }
            } else {
                check_fail(__FILE__, __LINE__, "out of memory");
            }
            free(wbuf);
            free(xbuf);
            for (int r = 0; r < MAX_NR; r++) row_free(&w[r]);
            for (int k = 0; k < LAIR_VEC_DOT_MAX_ROWS; k++) row_free(&x[k]);
        }
    }
}

TEST(gemv_matches_vec_dot) {
    for (size_t i = 0; i < NCASES; i++) {
        check_gemv_format(&cases[i], FILL_QUANTIZED, 3);
        if (lair_type_traits_of(cases[i].t)->quantized) check_gemv_format(&cases[i], FILL_RANDOM_BYTES, 3);
        check_gemv_format(&cases[i], FILL_ZERO, 1);
    }
}

/* A gemm's outputs y[t * ldy + r] against want[t * ld_want + r] (bits) for
 * t < nt, r < nr; every other slot of y up to max_nt x ldy must still be
 * NaN.  Reports the first 3 differences and returns how many there were. */
static int gemm_output_errors(const char *what, int64_t n, const float *y, int ldy, const float *want, int ld_want, int64_t nr,
                              int nt, int max_nt) {
    int bad = 0;
    for (int t = 0; t < max_nt; t++)
        for (int r = 0; r < ldy; r++) {
            const float got = y[t * ldy + r];
            if (t < nt && r < nr) {
                if (memcmp(&got, &want[t * ld_want + r], sizeof got) != 0 && bad++ < 3)
                    check_fail(__FILE__, __LINE__, "%s n=%lld nr=%lld nt=%d row %d token %d: %.9g, vec_dot %.9g", what, (long long)n,
                               (long long)nr, nt, r, t, (double)got, (double)want[t * ld_want + r]);
            } else if (!isnan(got) && bad++ < 3) {
                check_fail(__FILE__, __LINE__, "%s nr=%lld nt=%d wrote y[%d][%d]", what, (long long)nr, nt, t, r);
            }
        }
    return bad;
}

/* Matrix x matrix kernels: for every ISA table with a gemm entry, nr weight
 * rows (around the kernels' 8-row tiles) against nt activation rows (around
 * their 8-token groups, up to LAIR_GEMM_MAX_TOKENS), both at odd strides
 * and addresses, give exactly the bits of that ISA's vec_dot for every
 * (row, token): prefill and decode agree.  Outputs land at y[t * ldy + r]
 * and nothing else in y is written. */
static void check_gemm_format(const fmt_case *fc, enum fill fill) {
    const lair_type wt = fc->t;
    const lair_type xt = lair_vec_dot_type(wt);
    const lair_type_traits *tr = lair_type_traits_of(wt);
    REQUIRE(tr && xt != LAIR_TYPE_COUNT);
    static const int64_t row_counts[] = {1, 7, 8, 9, 17, 29};
    static const int tok_counts[] = {1, 3, 8, 9, 17, LAIR_GEMM_MAX_TOKENS};
    enum { MAX_NR = 29, MAX_NT = LAIR_GEMM_MAX_TOKENS, LDY = MAX_NR + 3 };
    const int64_t *lens = tr->block_size == 32 ? blocks_32 : blocks_256;
    const size_t nlens = tr->block_size == 32 ? sizeof blocks_32 / sizeof blocks_32[0] : sizeof blocks_256 / sizeof blocks_256[0];
    for (size_t li = 0; li < nlens; li++) {
        const int64_t n = lens[li] * tr->block_size;
        uint64_t wbytes = 0, xbytes = 0;
        REQUIRE(lair_type_row_bytes(wt, n, &wbytes) && lair_type_row_bytes(xt, n, &xbytes));
        const uint64_t wstride = wbytes + 3, xstride = xbytes + 5;
        unsigned char *wbuf = malloc((size_t)(wstride * MAX_NR) + 1), *xbuf = malloc((size_t)(xstride * MAX_NT) + 1);
        const size_t scratch_bytes = (size_t)((LAIR_GEMM_SCRATCH_BYTES(n) + 63) & ~(uint64_t)63);
        void *scratch = aligned_alloc(64, scratch_bytes);
        float *y = malloc(sizeof(float) * MAX_NT * LDY), *want = malloc(sizeof(float) * MAX_NT * MAX_NR);
        bool ok = wbuf && xbuf && scratch && y && want;
        for (int r = 0; ok && r < MAX_NR; r++) {
            row w;
            ok = row_make(&w, wt, n, fill, fc, r % 4 == 3 ? 7.0f : 1.0f);
            if (ok) memcpy(wbuf + 1 + r * wstride, w.data, (size_t)wbytes);
            row_free(&w);
        }
        for (int t = 0; ok && t < MAX_NT; t++) {
            row x;
            ok = row_make(&x, xt, n, fill == FILL_ZERO ? FILL_ZERO : FILL_QUANTIZED, NULL, t % 2 ? 0.05f : 1.0f);
            if (ok) memcpy(xbuf + 1 + t * xstride, x.data, (size_t)xbytes);
            row_free(&x);
        }
        for (int i = 0; ok && i < n_other_isas; i++) {
            const lair_kernels *kt = other_isas[i];
            if (!kt->gemm[wt]) continue;
            for (int t = 0; t < MAX_NT; t++)
                for (int r = 0; r < MAX_NR; r++) kt->vec_dot[wt](n, &want[t * MAX_NR + r], wbuf + 1 + r * wstride, xbuf + 1 + t * xstride);
            for (size_t ri = 0; ri < sizeof row_counts / sizeof row_counts[0]; ri++) {
                for (size_t ti = 0; ti < sizeof tok_counts / sizeof tok_counts[0]; ti++) {
                    const int64_t nr = row_counts[ri];
                    const int nt = tok_counts[ti];
                    for (int k = 0; k < MAX_NT * LDY; k++) y[k] = NAN;
                    kt->gemm[wt](n, nr, nt, y, LDY, wbuf + 1, wstride, xbuf + 1, xstride, scratch, false);
                    char what[64];
                    snprintf(what, sizeof what, "%s %s gemm", kt->name, tr->name);
                    int bad = gemm_output_errors(what, n, y, LDY, want, MAX_NR, nr, nt, MAX_NT);
                    CHECKF(bad == 0, "%s %s gemm n=%lld nr=%lld nt=%d: %d wrong outputs", kt->name, tr->name, (long long)n,
                           (long long)nr, nt, bad);
                    /* the next chunk of rows with the activations the call kept (x_packed) */
                    const int64_t nr2 = nr < MAX_NR ? nr : MAX_NR - 1;
                    for (int k = 0; k < MAX_NT * LDY; k++) y[k] = NAN;
                    kt->gemm[wt](n, nr2, nt, y, LDY, wbuf + 1 + wstride, wstride, xbuf + 1, xstride, scratch, true);
                    snprintf(what, sizeof what, "%s %s gemm, x packed", kt->name, tr->name);
                    bad = gemm_output_errors(what, n, y, LDY, want + 1, MAX_NR, nr2, nt, MAX_NT);
                    CHECKF(bad == 0, "%s %s gemm n=%lld nr=%lld nt=%d, x packed: %d wrong outputs", kt->name, tr->name, (long long)n,
                           (long long)nr2, nt, bad);
                }
            }
        }
        if (!ok) check_fail(__FILE__, __LINE__, "out of memory");
        free(wbuf);
        free(xbuf);
        free(scratch);
        free(y);
        free(want);
    }
}

TEST(gemm_matches_vec_dot) {
    for (size_t i = 0; i < NCASES; i++) {
        check_gemm_format(&cases[i], FILL_QUANTIZED);
        if (lair_type_traits_of(cases[i].t)->quantized) check_gemm_format(&cases[i], FILL_RANDOM_BYTES);
        check_gemm_format(&cases[i], FILL_ZERO);
    }
}

/* Kernels on interleaved groups of 8 rows (tensor/rows8.h): for every
 * table with them, a matrix of nr rows packed by lair_rows8_pack (whole
 * groups, and the rows after the last one as they were), at an odd address,
 * gives for every (row, token) exactly the bits of vec_dot on the original
 * rows, through gemv (one token) and gemm (up to LAIR_GEMM_MAX_TOKENS), and
 * writes nothing past its outputs.  Every row reads back from the packed
 * matrix as it was (Q4_K's scale bytes re-encoded bit for bit, random
 * bytes included).  Row lengths include one past the Q4_0/Q8_0 gemv
 * kernels' chunk of 2048 activation blocks. */
static void check_rows8_format(const fmt_case *fc, enum fill fill) {
    const lair_type wt = fc->t, xt = lair_vec_dot_type(wt);
    const lair_type_traits *tr = lair_type_traits_of(wt);
    REQUIRE(lair_rows8_format(wt));
    /* blocks per row: 32-element blocks, or K-quant super-blocks */
    static const int64_t lens32[] = {1, 7, 33, 2053}, lensK[] = {1, 3, 9, 17};
    const int64_t *lens = tr->block_size == 32 ? lens32 : lensK;
    static const int64_t row_counts[] = {8, 9, 15, 16, 29};
    static const int tok_counts[] = {1, 2, 3, 9, LAIR_GEMM_MAX_TOKENS};
    enum { MAX_NR = 29, MAX_NT = LAIR_GEMM_MAX_TOKENS, LDY = MAX_NR + 3 };
    for (size_t li = 0; li < sizeof lens32 / sizeof lens32[0]; li++) {
        const int64_t n = lens[li] * tr->block_size;
        const bool long_row = lens[li] > 64;
        const int max_nt = long_row ? 2 : MAX_NT;
        uint64_t wbytes = 0, xbytes = 0;
        REQUIRE(lair_type_row_bytes(wt, n, &wbytes) && lair_type_row_bytes(xt, n, &xbytes));
        unsigned char *rows = malloc((size_t)(wbytes * MAX_NR)), *packed = malloc((size_t)(wbytes * MAX_NR) + 1);
        unsigned char *xbuf = malloc((size_t)(xbytes * (uint64_t)max_nt) + 1), *back = malloc((size_t)wbytes);
        const size_t scratch_bytes = (size_t)((LAIR_GEMM_SCRATCH_BYTES(n) + 63) & ~(uint64_t)63);
        void *scratch = aligned_alloc(64, scratch_bytes);
        float *y = malloc(sizeof(float) * MAX_NT * LDY), *want = malloc(sizeof(float) * MAX_NT * MAX_NR);
        float *dec = malloc(sizeof(float) * (size_t)n), *dec_back = malloc(sizeof(float) * (size_t)n);
        bool ok = rows && packed && xbuf && back && scratch && y && want && dec && dec_back;
        for (int r = 0; ok && r < MAX_NR; r++) {
            row w;
            ok = row_make(&w, wt, n, fill, fc, r % 4 == 3 ? 7.0f : 1.0f);
            if (ok) memcpy(rows + r * wbytes, w.data, (size_t)wbytes);
            row_free(&w);
        }
        for (int t = 0; ok && t < max_nt; t++) {
            row x;
            ok = row_make(&x, xt, n, fill == FILL_ZERO ? FILL_ZERO : FILL_QUANTIZED, NULL, t % 2 ? 0.05f : 1.0f);
            if (ok) memcpy(xbuf + 1 + t * xbytes, x.data, (size_t)xbytes);
            row_free(&x);
        }
        for (size_t ri = 0; ok && ri < sizeof row_counts / sizeof row_counts[0]; ri++) {
            const int64_t nr = row_counts[ri];
            lair_rows8_pack(wt, n, nr, rows, wbytes, packed + 1);
            for (int64_t r = 0; r < nr; r++) {
                lair_rows8_row(wt, n, nr, packed + 1, r, back);
                CHECKF(memcmp(back, rows + r * wbytes, (size_t)wbytes) == 0, "%s rows8 n=%lld nr=%lld: row %lld reads back wrong",
                       tr->name, (long long)n, (long long)nr, (long long)r);
                tr->to_float(rows + r * wbytes, dec, n);
                lair_rows8_row_to_float(wt, n, nr, packed + 1, r, dec_back);
                CHECKF(memcmp(dec, dec_back, sizeof(float) * (size_t)n) == 0, "%s rows8 n=%lld nr=%lld: row %lld decodes wrong",
                       tr->name, (long long)n, (long long)nr, (long long)r);
            }
            if (nr >= 8) CHECKF(memcmp(packed + 1, rows, (size_t)wbytes) != 0 || fill == FILL_ZERO, "%s rows8: the first group is not regrouped", tr->name);
            for (int i = 0; i < n_other_isas; i++) {
                const lair_kernels *kt = other_isas[i];
                if (!kt->gemv_rows8[wt] && !kt->gemm_rows8[wt]) continue;
                CHECKF(kt->gemv_rows8[wt] && kt->gemm_rows8[wt], "%s %s: a rows8 gemv without gemm or the reverse", kt->name, tr->name);
                for (int t = 0; t < max_nt; t++)
                    for (int64_t r = 0; r < nr; r++) kt->vec_dot[wt](n, &want[t * MAX_NR + r], rows + r * wbytes, xbuf + 1 + t * xbytes);
                for (int t = 0; t < max_nt; t++) { /* gemv, one token at a time */
                    float got[MAX_NR + 1];
                    for (int r = 0; r <= MAX_NR; r++) got[r] = NAN;
                    kt->gemv_rows8[wt](n, nr, got, packed + 1, wbytes, xbuf + 1 + t * xbytes);
                    CHECKF(isnan(got[nr]), "%s %s rows8 gemv nr=%lld wrote s[%lld]", kt->name, tr->name, (long long)nr, (long long)nr);
                    for (int64_t r = 0; r < nr; r++)
                        CHECKF(memcmp(&got[r], &want[t * MAX_NR + r], sizeof got[r]) == 0,
                               "%s %s rows8 gemv n=%lld nr=%lld row %lld token %d fill=%d: %.9g, vec_dot %.9g", kt->name, tr->name,
                               (long long)n, (long long)nr, (long long)r, t, (int)fill, (double)got[r], (double)want[t * MAX_NR + r]);
                }
                for (size_t ti = 0; ti < sizeof tok_counts / sizeof tok_counts[0]; ti++) {
                    const int nt = tok_counts[ti];
                    if (nt > max_nt || LAIR_GEMM_SCRATCH_BYTES(n) > scratch_bytes) continue;
                    for (int k = 0; k < MAX_NT * LDY; k++) y[k] = NAN;
                    kt->gemm_rows8[wt](n, nr, nt, y, LDY, packed + 1, wbytes, xbuf + 1, xbytes, scratch, false);
                    char what[64];
                    snprintf(what, sizeof what, "%s %s rows8 gemm", kt->name, tr->name);
                    const int bad = gemm_output_errors(what, n, y, LDY, want, MAX_NR, nr, nt, MAX_NT);
                    CHECKF(bad == 0, "%s %s rows8 gemm n=%lld nr=%lld nt=%d: %d wrong outputs", kt->name, tr->name, (long long)n,
                           (long long)nr, nt, bad);
                }
            }
        }
        if (!ok) check_fail(__FILE__, __LINE__, "out of memory");
        free(rows);
        free(packed);
        free(xbuf);
        free(back);
        free(scratch);
        free(y);
        free(want);
        free(dec);
        free(dec_back);
    }
}

/* The bandwidth probe: every ISA's read returns the scalar one's xor, for
 * lengths around its vector and unrolling widths, at odd addresses. */
TEST(read_probe_matches_scalar) {
    const lair_kernels *scalar = lair_kernels_for(LAIR_ISA_SCALAR);
    REQUIRE(scalar && scalar->read);
    unsigned char buf[1200];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)rng_u32();
    static const uint64_t lens[] = {0, 1, 7, 31, 32, 127, 128, 129, 1000};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        const uint64_t want = scalar->read(buf + 3, lens[li]);
        uint64_t naive = 0; /* 8-byte words of whole 32-byte pieces, then bytes */
        uint64_t i = 0;
        for (; i < lens[li] / 32 * 32; i += 8) {
            uint64_t w;
            memcpy(&w, buf + 3 + i, 8);
            naive ^= w;
        }
        for (; i < lens[li]; i++) naive ^= buf[3 + i];
        CHECKF(want == naive, "scalar read of %llu bytes: %llx, want %llx", (unsigned long long)lens[li], (unsigned long long)want,
               (unsigned long long)naive);
        for (int k = 0; k < n_other_isas; k++)
            if (other_isas[k]->read)
                CHECKF(other_isas[k]->read(buf + 3, lens[li]) == want, "%s read of %llu bytes differs", other_isas[k]->name,
                       (unsigned long long)lens[li]);
    }
}

TEST(rows8_kernels_match_vec_dot) {
    int formats = 0;
    for (size_t i = 0; i < NCASES; i++) {
        if (!lair_rows8_format(cases[i].t)) continue;
        formats++;
        check_rows8_format(&cases[i], FILL_QUANTIZED);
        check_rows8_format(&cases[i], FILL_RANDOM_BYTES);
        check_rows8_format(&cases[i], FILL_ZERO);
    }
    CHECKF(formats == 4, "%d formats with a rows8 layout (Q4_0, Q8_0, Q4_K and Q6_K expected)", formats);
}

/* Every gemm kernel of format wt (a 32-element block: an f16 scale, then
 * its level bytes) on blocks whose level bytes are all fill_odd (odd rows,
 * each value level_odd) or fill_even (even rows), scale 0.5, against
 * activations all +-127 with scale 0.25: the exact products' sums. */
static void check_gemm_extremes(lair_type wt, uint8_t fill_odd, double level_odd, uint8_t fill_even, double level_even) {
    enum { NB = 5, NR = 9, NT = 9 };
    uint64_t wb;
    REQUIRE(lair_type_row_bytes(wt, 32, &wb) && wb <= sizeof(block_q8_0));
    unsigned char wbuf[NR * NB * sizeof(block_q8_0) + 1], xbuf[NT * NB * sizeof(block_q8_0) + 1];
    for (int r = 0; r < NR; r++)
        for (int b = 0; b < NB; b++) {
            unsigned char *blk = wbuf + 1 + (r * NB + b) * wb;
            lair_f16 d = lair_f32_to_f16(0.5f);
            memcpy(blk, &d, sizeof d);
            memset(blk + sizeof d, r % 2 ? fill_odd : fill_even, wb - sizeof d);
        }
    for (int t = 0; t < NT; t++)
        for (int b = 0; b < NB; b++) {
            block_q8_0 xb;
            xb.d = lair_f32_to_f16(0.25f);
            for (int j = 0; j < 32; j++) xb.qs[j] = (int8_t)(t % 2 ? 127 : -127);
            memcpy(xbuf + 1 + (t * NB + b) * sizeof xb, &xb, sizeof xb);
        }
    void *scratch = aligned_alloc(64, (size_t)((LAIR_GEMM_SCRATCH_BYTES(NB * 32) + 63) & ~(uint64_t)63));
    REQUIRE(scratch);
    for (int k = 0; k < n_other_isas; k++) {
        const lair_kernels *kt = other_isas[k];
        if (!kt->gemm[wt]) continue;
        float y[NT * NR];
        kt->gemm[wt](NB * 32, NR, NT, y, NR, wbuf + 1, NB * wb, xbuf + 1, NB * sizeof(block_q8_0), scratch, false);
        for (int t = 0; t < NT; t++)
            for (int r = 0; r < NR; r++) {
                const double want = 0.5 * 0.25 * NB * 32 * (r % 2 ? level_odd : level_even) * (t % 2 ? 127.0 : -127.0);
                CHECKF(y[t * NR + r] == (float)want, "%s %s row %d token %d: %g, want %g", kt->name, lair_type_name(wt), r, t,
                       (double)y[t * NR + r], want);
            }
        if (!kt->gemm_rows8[wt]) continue;
        /* the same rows regrouped (one group and a row after it), through
         * the rows8 gemm and, token by token, its gemv */
        unsigned char packed[NR * NB * sizeof(block_q8_0)];
        lair_rows8_pack(wt, NB * 32, NR, wbuf + 1, NB * wb, packed);
        kt->gemm_rows8[wt](NB * 32, NR, NT, y, NR, packed, NB * wb, xbuf + 1, NB * sizeof(block_q8_0), scratch, false);
        for (int t = 0; t < NT; t++) {
            float s[NR];
            kt->gemv_rows8[wt](NB * 32, NR, s, packed, NB * wb, xbuf + 1 + t * NB * sizeof(block_q8_0));
            for (int r = 0; r < NR; r++) {
                const double want = 0.5 * 0.25 * NB * 32 * (r % 2 ? level_odd : level_even) * (t % 2 ? 127.0 : -127.0);
                CHECKF(y[t * NR + r] == (float)want && s[r] == (float)want, "%s %s rows8 row %d token %d: gemm %g, gemv %g, want %g",
                       kt->name, lair_type_name(wt), r, t, (double)y[t * NR + r], (double)s[r], want);
            }
        }
    }
    free(scratch);
}

/* The largest partial sums a Q4_0 gemm carries in int16: every level 15
 * (u = 15, value 7) or 0 (value -8) against every activation +-127. */
TEST(gemm_q4_0_extremes) { check_gemm_extremes(LAIR_TYPE_Q4_0, 0xFF, 7.0, 0x00, -8.0); }

/* The same for Q8_0, whose tiles take |w| against the activations given
 * w's sign: weights of -128 (which the reference quantiser never writes,
 * but a file may hold) and 127 against activations +-127, the largest
 * products a step carries. */
TEST(gemm_q8_0_extremes) { check_gemm_extremes(LAIR_TYPE_Q8_0, 0x7F, 127.0, 0x80, -128.0); }

/* Where a format has several kernels, they agree bit for bit on each
 * (weight row, activation row) pair, whatever the number of activation rows
 * (the engine's results must not depend on batch composition). */
TEST(vec_dot_rows_bitwise) {
    for (size_t i = 0; i < NCASES; i++) {
        const fmt_case *fc = &cases[i];
        const lair_type wt = fc->t, xt = lair_vec_dot_type(wt);
        const lair_type_traits *tr = lair_type_traits_of(wt);
        for (int a = 0; a < n_other_isas; a++) {
            const lair_kernels *kt = other_isas[a];
            if (!kt->vec_dot_rows[wt] || !kt->gemv[wt]) continue; /* formats that promise it */
            const int64_t n = (tr->block_size == 32 ? 33 : 9) * tr->block_size;
            uint64_t xbytes = 0;
            REQUIRE(lair_type_row_bytes(xt, n, &xbytes));
            row w, x[LAIR_VEC_DOT_MAX_ROWS];
            bool ok = row_make(&w, wt, n, FILL_RANDOM_BYTES, fc, 1.0f);
            for (int k = 0; k < LAIR_VEC_DOT_MAX_ROWS; k++) ok &= row_make(&x[k], xt, n, FILL_QUANTIZED, NULL, 1.0f);
            unsigned char *xbuf = malloc((size_t)(xbytes * LAIR_VEC_DOT_MAX_ROWS));
            if (ok && xbuf) {
                for (int k = 0; k < LAIR_VEC_DOT_MAX_ROWS; k++) memcpy(xbuf + k * xbytes, x[k].data, (size_t)xbytes);
                for (int nx = 1; nx <= LAIR_VEC_DOT_MAX_ROWS; nx++) {
                    float out[LAIR_VEC_DOT_MAX_ROWS];
                    kt->vec_dot_rows[wt](n, out, w.data, xbuf, xbytes, nx);
                    for (int k = 0; k < nx; k++) {
                        float one = NAN;
                        kt->vec_dot[wt](n, &one, w.data, x[k].data);
                        CHECKF(memcmp(&out[k], &one, sizeof one) == 0, "%s %s rows nx=%d row %d: %.9g, vec_dot %.9g",
                               kt->name, tr->name, nx, k, (double)out[k], (double)one);
                    }
                }
            } else {
                check_fail(__FILE__, __LINE__, "out of memory");
            }
            free(xbuf);
            row_free(&w);
            for (int k = 0; k < LAIR_VEC_DOT_MAX_ROWS; k++) row_free(&x[k]);
        }
    }
}

/* The scalar table has no multi-row kernels; a table's multi-row kernel
 * exists only for a format it has a vec_dot for. */
TEST(vec_dot_rows_tables) {
    const lair_kernels *scalar = lair_kernels_for(LAIR_ISA_SCALAR);
    REQUIRE(scalar);
    for (int t = 0; t < LAIR_TYPE_COUNT; t++) CHECKF(scalar->vec_dot_rows[t] == NULL, "scalar rows kernel for type %d", t);
    for (int i = 0; i < n_other_isas; i++)
        for (int t = 0; t < LAIR_TYPE_COUNT; t++)
            CHECKF(!other_isas[i]->vec_dot_rows[t] || other_isas[i]->vec_dot[t], "%s: rows kernel without vec_dot for type %d",
                   other_isas[i]->name, t);
}

/* The scalar table has no gemv or gemm kernels; a table's gemv or gemm
 * kernel exists only for a format it has a vec_dot for. */
TEST(gemv_tables) {
    const lair_kernels *scalar = lair_kernels_for(LAIR_ISA_SCALAR);
    REQUIRE(scalar);
    for (int t = 0; t < LAIR_TYPE_COUNT; t++) CHECKF(!scalar->gemv[t] && !scalar->gemm[t], "scalar gemv/gemm kernel for type %d", t);
    for (int i = 0; i < n_other_isas; i++)
        for (int t = 0; t < LAIR_TYPE_COUNT; t++)
            CHECKF((!other_isas[i]->gemv[t] && !other_isas[i]->gemm[t]) || other_isas[i]->vec_dot[t],
                   "%s: gemv/gemm kernel without vec_dot for type %d", other_isas[i]->name, t);
    /* a gemm kernel says from how many tokens it pays (at most one call's worth) */
    for (int i = 0; i < n_other_isas; i++)
        for (int t = 0; t < LAIR_TYPE_COUNT; t++)
            CHECKF(!other_isas[i]->gemm[t] || (other_isas[i]->gemm_min_tokens[t] >= 1 &&
                                               other_isas[i]->gemm_min_tokens[t] <= LAIR_GEMM_MAX_TOKENS),
                   "%s: gemm kernel for type %d with break-even %d", other_isas[i]->name, t, other_isas[i]->gemm_min_tokens[t]);
}

/* Hand-built extremes: every Q8_0 weight -128 with every activation +-127,
 * the largest sums the SIMD pair tricks must carry without saturating. */
TEST(vec_dot_q8_0_extremes) {
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
    const lair_kernels *scalar = lair_kernels_for(LAIR_ISA_SCALAR);
    float got = NAN;
    scalar->vec_dot[LAIR_TYPE_Q8_0](NB * 32, &got, wbuf + 1, xbuf + 1);
    CHECKF(got == (float)want, "scalar %g, want %g", (double)got, want);
    for (int k = 0; k < n_other_isas; k++) {
        float simd = NAN;
        other_isas[k]->vec_dot[LAIR_TYPE_Q8_0](NB * 32, &simd, wbuf + 1, xbuf + 1);
        CHECKF(simd == (float)want, "%s %g, want %g", other_isas[k]->name, (double)simd, want);
    }
}

TEST(vec_dot_type_mapping) {
    static const struct {
        lair_type w, x;
    } expect[] = {
        {LAIR_TYPE_F32, LAIR_TYPE_F32},     {LAIR_TYPE_F16, LAIR_TYPE_F16},     {LAIR_TYPE_BF16, LAIR_TYPE_BF16},
        {LAIR_TYPE_Q4_0, LAIR_TYPE_Q8_0},   {LAIR_TYPE_Q5_0, LAIR_TYPE_Q8_0},   {LAIR_TYPE_Q8_0, LAIR_TYPE_Q8_0},
        {LAIR_TYPE_IQ4_NL, LAIR_TYPE_Q8_0}, {LAIR_TYPE_Q4_1, LAIR_TYPE_Q8_1},   {LAIR_TYPE_Q5_1, LAIR_TYPE_Q8_1},
        {LAIR_TYPE_Q2_K, LAIR_TYPE_Q8_K},   {LAIR_TYPE_Q3_K, LAIR_TYPE_Q8_K},   {LAIR_TYPE_Q4_K, LAIR_TYPE_Q8_K},
        {LAIR_TYPE_Q5_K, LAIR_TYPE_Q8_K},   {LAIR_TYPE_Q6_K, LAIR_TYPE_Q8_K},   {LAIR_TYPE_IQ4_XS, LAIR_TYPE_Q8_K},
        {LAIR_TYPE_Q8_1, LAIR_TYPE_COUNT},  {LAIR_TYPE_Q8_K, LAIR_TYPE_COUNT},  {LAIR_TYPE_F64, LAIR_TYPE_COUNT},
        {LAIR_TYPE_I8, LAIR_TYPE_COUNT},    {LAIR_TYPE_IQ2_XXS, LAIR_TYPE_COUNT}, {LAIR_TYPE_MXFP4, LAIR_TYPE_COUNT},
        {LAIR_TYPE_COUNT, LAIR_TYPE_COUNT},
    };
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++)
        CHECKF(lair_vec_dot_type(expect[i].w) == expect[i].x, "type %d -> %d, want %d", (int)expect[i].w,
               (int)lair_vec_dot_type(expect[i].w), (int)expect[i].x);
    CHECK(lair_vec_dot_type((lair_type)-1) == LAIR_TYPE_COUNT);

    /* A format has a vec_dot exactly when it has a partner, and both sides
     * can be decoded and the partner encoded (what the tests above need). */
    const lair_kernels *scalar = lair_kernels_for(LAIR_ISA_SCALAR);
    REQUIRE(scalar);
    size_t tested = 0;
    for (int t = 0; t < LAIR_TYPE_COUNT; t++) {
        lair_type x = lair_vec_dot_type((lair_type)t);
        CHECKF((scalar->vec_dot[t] != NULL) == (x != LAIR_TYPE_COUNT), "type %d: has vec_dot %d, partner %d", t,
               scalar->vec_dot[t] != NULL, (int)x);
        if (x == LAIR_TYPE_COUNT) continue;
        const lair_type_traits *tw = lair_type_traits_of((lair_type)t), *tx = lair_type_traits_of(x);
        CHECKF(tw && tw->to_float && tx && tx->to_float && tx->from_float, "type %d: traits incomplete", t);
        CHECKF(tw && tx && tx->block_size == tw->block_size, "type %d: block sizes differ", t);
        bool listed = false;
        for (size_t i = 0; i < NCASES; i++) listed |= cases[i].t == (lair_type)t;
        CHECKF(listed, "type %d has a vec_dot but no test case", t);
        tested++;
    }
    CHECK(tested == NCASES);
}

TEST(isa_tables) {
    const lair_kernels *scalar = lair_kernels_for(LAIR_ISA_SCALAR);
    REQUIRE(scalar);
    CHECK(scalar->isa == LAIR_ISA_SCALAR);
    CHECK(strcmp(scalar->name, "scalar") == 0);
    CHECK(lair_kernels_for(LAIR_ISA_COUNT) == NULL);
    CHECK(lair_kernels_for((lair_isa)-1) == NULL);
    for (int i = 0; i < LAIR_ISA_COUNT; i++) {
        const lair_kernels *k = lair_kernels_for((lair_isa)i);
        if (!k) continue;
        CHECKF(k->isa == (lair_isa)i, "table %d says isa %d", i, (int)k->isa);
        CHECK(k == lair_kernels_for((lair_isa)i)); /* stable */
        for (int t = 0; t < LAIR_TYPE_COUNT; t++)
            CHECKF((k->vec_dot[t] != NULL) == (scalar->vec_dot[t] != NULL), "%s: type %d entry missing or extra", k->name, t);
    }
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        CHECKF(lair_kernels_for(LAIR_ISA_AVX2) != NULL, "CPU has AVX2+FMA but no avx2 kernels");
#else
    CHECK(lair_kernels_for(LAIR_ISA_AVX2) == NULL);
#endif
}

static bool name_is(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        char ca = (*a >= 'A' && *a <= 'Z') ? (char)(*a - 'A' + 'a') : *a;
        if (ca != *b) return false;
    }
    return *a == *b;
}

/* lair_kernels_get: stable, and the ISA that LAIR_ISA names when that one
 * is available, else the best available (tests/test_kernels_env.c checks
 * forcing with the variable set by the test itself). */
TEST(kernels_get_best) {
    const lair_kernels *k = lair_kernels_get();
    REQUIRE(k);
    CHECK(k == lair_kernels_get());
    CHECK(k == lair_kernels_for(k->isa));
    const lair_isa order[] = {LAIR_ISA_AVX512, LAIR_ISA_AVX2, LAIR_ISA_NEON, LAIR_ISA_SCALAR};
    const lair_kernels *want = NULL;
    for (size_t i = 0; i < sizeof order / sizeof order[0] && !want; i++) want = lair_kernels_for(order[i]);
    const char *env = getenv("LAIR_ISA");
    static const char *const names[LAIR_ISA_COUNT] = {"scalar", "avx2", "avx512", "neon"};
    for (int i = 0; env && i < LAIR_ISA_COUNT; i++) {
        if (name_is(env, names[i]) && lair_kernels_for((lair_isa)i)) want = lair_kernels_for((lair_isa)i);
    }
    CHECKF(k == want, "chose %s, expected %s", k->name, want ? want->name : "?");
}

/* y += a * x for the KV formats: every ISA against the scalar kernel, on
 * lengths with and without a vector tail, x at an odd address. */
TEST(axpy_matches_scalar) {
    const lair_kernels *ref = lair_kernels_for(LAIR_ISA_SCALAR);
    const lair_type types[] = {LAIR_TYPE_F32, LAIR_TYPE_F16};
    const int64_t lens[] = {1, 7, 8, 64, 129, 256};
    for (int isa = 0; isa < LAIR_ISA_COUNT; isa++) {
        const lair_kernels *k = lair_kernels_for((lair_isa)isa);
        if (!k) continue;
        for (int ti = 0; ti < 2; ti++) {
            const lair_type_traits *tr = lair_type_traits_of(types[ti]);
            REQUIRE(k->axpy[types[ti]] && ref->axpy[types[ti]]);
            for (int li = 0; li < 6; li++) {
                int64_t n = lens[li];
                float src[256], y0[256], y1[256];
                unsigned char raw[256 * 4 + 1];
                for (int64_t i = 0; i < n; i++) {
                    src[i] = (float)((i * 37) % 19) * 0.25f - 2.0f;
                    y0[i] = y1[i] = (float)i * 0.5f;
                }
                unsigned char aligned[256 * 4];
                tr->from_float(src, aligned, n); /* encoders write in place: aligned buffer, then moved */
                memcpy(raw + 1, aligned, (size_t)n * tr->block_bytes);
                ref->axpy[types[ti]](n, y0, 0.75f, raw + 1);
                k->axpy[types[ti]](n, y1, 0.75f, raw + 1);
                for (int64_t i = 0; i < n; i++) {
                    float want = (float)i * 0.5f + 0.75f * src[i];
                    CHECKF(fabsf(y0[i] - want) <= 1e-6f * (1 + fabsf(want)), "scalar %s n=%lld i=%lld", tr->name, (long long)n, (long long)i);
                    CHECKF(fabsf(y1[i] - y0[i]) <= 1e-6f * (1 + fabsf(y0[i])), "%s %s n=%lld i=%lld", k->name, tr->name, (long long)n, (long long)i);
                }
            }
        }
    }
}

/* Attention over one KV head (scores and values for a group of query heads
 * over listed cells): the scalar reference against double-precision sums of
 * the decoded rows; every ISA bit-identical to it; a head's result the same
 * bits whatever the group size; and a V row with infinities adds nothing
 * where its probability is 0.  Rows at an odd address with padding between
 * them; head sizes with and without a 16-element tail. */
TEST(attention_kernels_match_scalar) {
    const lair_kernels *ref = lair_kernels_for(LAIR_ISA_SCALAR);
    const lair_type types[] = {LAIR_TYPE_F32, LAIR_TYPE_F16};
    const int64_t hds[] = {8, 24, 64, 96, 128, 256};
    const int groups[] = {1, 2, 3, 4, 5, 7, 8};
    enum { POOL = 40, MAXG = 8, MAXHD = 256 };
    for (int ti = 0; ti < 2; ti++) {
        const lair_type t = types[ti];
        const lair_type_traits *tr = lair_type_traits_of(t);
        for (int isa = 0; isa < LAIR_ISA_COUNT; isa++) {
            const lair_kernels *k = lair_kernels_for((lair_isa)isa);
            if (!k) continue;
            CHECKF((k->attn_scores[t] != NULL) == (ref->attn_scores[t] != NULL), "%s %s: scores entry", k->name, tr->name);
            CHECKF((k->attn_values[t] != NULL) == (ref->attn_values[t] != NULL), "%s %s: values entry", k->name, tr->name);
        }
        for (int hi = 0; hi < 6; hi++) {
            const int64_t hd = hds[hi];
            const uint64_t rs = (uint64_t)hd * tr->block_bytes + 6; /* padding between rows */
            uint8_t *pool = malloc(POOL * rs + 1), *enc = malloc((size_t)hd * 4);
            float *dec = malloc((size_t)POOL * hd * sizeof *dec), f[MAXHD];
            for (int r = 0; r < POOL; r++) {
                for (int64_t d = 0; d < hd; d++) f[d] = rng_normal();
                tr->from_float(f, enc, hd);
                memcpy(pool + 1 + r * rs, enc, (size_t)hd * tr->block_bytes);
                tr->to_float(enc, dec + (int64_t)r * hd, hd);
            }
            /* row 3 holds infinities: listed, but with probability 0 */
            for (int64_t d = 0; d < hd; d++) f[d] = d % 2 ? INFINITY : -INFINITY;
            tr->from_float(f, enc, hd);
            memcpy(pool + 1 + 3 * rs, enc, (size_t)hd * tr->block_bytes);
            int32_t cells[POOL];
            int32_t n = 0;
            for (int32_t r = 0; r < POOL; r++)
                if (r == 3 || rng_u32() % 3) cells[n++] = r;
            float q[MAXG * MAXHD], p[MAXG * POOL];
            for (int i = 0; i < MAXG * MAXHD; i++) q[i] = lair_f16_to_f32(lair_f32_to_f16(rng_normal()));
            for (int g = 0; g < MAXG; g++)
                for (int32_t i = 0; i < n; i++) p[g * n + i] = cells[i] == 3 || i % 5 == 0 ? 0.0f : (float)rng_uniform();
            for (int gi = 0; gi < 7; gi++) {
                const int G = groups[gi];
                float s_ref[MAXG * POOL], o_ref[MAXG * MAXHD];
                memset(o_ref, 0, sizeof o_ref);
                if (ref->attn_scores[t]) ref->attn_scores[t](hd, G, n, cells, pool + 1, rs, q, s_ref, n);
                if (ref->attn_values[t]) ref->attn_values[t](hd, G, n, cells, pool + 1, rs, p, n, o_ref);
                for (int g = 0; g < G; g++) {
                    for (int32_t i = 0; ref->attn_scores[t] && i < n; i++) {
                        if (cells[i] == 3) continue;
                        double want = 0;
                        for (int64_t d = 0; d < hd; d++) want += (double)dec[(int64_t)cells[i] * hd + d] * q[g * hd + d];
                        CHECKF(fabs(s_ref[g * n + i] - want) <= 1e-5 * (1 + sqrt((double)hd)), "scalar %s scores hd=%lld g=%d i=%d: %g vs %g",
                               tr->name, (long long)hd, g, (int)i, s_ref[g * n + i], want);
                    }
                    for (int64_t d = 0; ref->attn_values[t] && d < hd; d++) {
                        double want = 0;
                        for (int32_t i = 0; i < n; i++)
                            if (p[g * n + i] != 0.0f) want += (double)p[g * n + i] * dec[(int64_t)cells[i] * hd + d];
                        CHECKF(fabs(o_ref[g * hd + d] - want) <= 1e-5 * (1 + fabs(want)), "scalar %s values hd=%lld g=%d d=%lld: %g vs %g",
                               tr->name, (long long)hd, g, (long long)d, o_ref[g * hd + d], want);
                    }
                }
                for (int isa = 0; isa < LAIR_ISA_COUNT; isa++) {
                    const lair_kernels *k = lair_kernels_for((lair_isa)isa);
                    if (!k) continue;
                    if (k->attn_scores[t]) {
                        float s[MAXG * POOL], one[POOL];
                        k->attn_scores[t](hd, G, n, cells, pool + 1, rs, q, s, n);
                        CHECKF(memcmp(s, s_ref, (size_t)G * n * sizeof *s) == 0, "%s %s scores hd=%lld G=%d differ from scalar", k->name,
                               tr->name, (long long)hd, G);
                        k->attn_scores[t](hd, 1, n, cells, pool + 1, rs, q + (G - 1) * hd, one, n);
                        CHECKF(memcmp(one, s + (G - 1) * n, (size_t)n * sizeof *s) == 0, "%s %s scores hd=%lld: head %d alone differs", k->name,
                               tr->name, (long long)hd, G - 1);
                    }
                    if (k->attn_values[t]) {
                        float o[MAXG * MAXHD], one[MAXHD];
                        memset(o, 0, sizeof o);
                        memset(one, 0, sizeof one);
                        k->attn_values[t](hd, G, n, cells, pool + 1, rs, p, n, o);
                        CHECKF(memcmp(o, o_ref, (size_t)G * hd * sizeof *o) == 0, "%s %s values hd=%lld G=%d differ from scalar", k->name,
                               tr->name, (long long)hd, G);
                        k->attn_values[t](hd, 1, n, cells, pool + 1, rs, p + (G - 1) * n, n, one);
                        CHECKF(memcmp(one, o + (G - 1) * hd, (size_t)hd * sizeof *o) == 0, "%s %s values hd=%lld: head %d alone differs", k->name,
                               tr->name, (long long)hd, G - 1);
                    }
                }
            }
            free(pool);
            free(enc);
            free(dec);
        }
    }
}

/* Activation quantizers: every ISA's the same bytes as the format's own
 * from_float, on random rows and on the cases the rules single out: zeros,
 * NaN and infinities, values too small for a finite scale, huge values (the
 * f16 scale saturating), exact ties of the rounding, and equal magnitudes
 * of opposite sign (Q8_K takes the first one's sign). */
TEST(quantize_matches_from_float) {
    const lair_type types[] = {LAIR_TYPE_Q8_0, LAIR_TYPE_Q8_K};
    enum { N = 512, CASES = 9 };
    for (int ti = 0; ti < 2; ti++) {
        const lair_type t = types[ti];
        const lair_type_traits *tr = lair_type_traits_of(t);
        uint64_t rb = 0;
        REQUIRE(lair_type_row_bytes(t, N, &rb));
        unsigned char *want = malloc(rb), *got = malloc(rb + 1);
        for (int c = 0; c < CASES; c++) {
            float x[N];
            for (int i = 0; i < N; i++) {
                float r = rng_normal();
                switch (c) {
                case 0: x[i] = r; break;
                case 1: x[i] = i % 64 < 32 ? 0.0f : r * 1e-3f; break;
                case 2: x[i] = i % 7 == 0 ? NAN : r; break;
                case 3: x[i] = i % 29 == 0 ? (i % 2 ? INFINITY : -INFINITY) : r; break;
                case 4: x[i] = r * 1e-40f; break;                  /* scale not finite */
                case 5: x[i] = r * 3e38f; break;                    /* f16 scale saturates */
                case 6: x[i] = (float)(i % 255 - 127) + 0.5f; break; /* ties after scaling by 1 */
                case 7: x[i] = i % 5 == 0 ? (i % 10 ? 4.0f : -4.0f) : r; break;
                default: x[i] = i % 3 ? -0.0f : 0.0f; break;
                }
            }
            if (c == 6)
                for (int b = 0; b < N; b += 32) x[b] = 127.0f; /* max 127: d = 1 */
            tr->from_float(x, want, N);
            for (int isa = 0; isa < LAIR_ISA_COUNT; isa++) {
                const lair_kernels *k = lair_kernels_for((lair_isa)isa);
                if (!k || !k->quantize[t]) continue;
                memset(got, 0xA5, rb + 1);
                k->quantize[t](x, got + 1, N); /* at an odd address */
                CHECKF(memcmp(got + 1, want, rb) == 0, "%s %s case %d differs from from_float", k->name, tr->name, c);
            }
        }
        free(want);
        free(got);
    }
}

/* e^x (softmax) and silu(gate) * up: the scalar reference within one unit
 * in the last place of the C library's expf on a sweep of the whole range
 * (subnormal results included) and equal to it on all but a few in a
 * thousand; exact at the edges (-inf -> 0, inf and overflow -> inf, NaN);
 * every ISA bit-identical to the scalar kernels, on lengths with a tail. */
static int64_t float_order(float f) {
    int32_t i;
    memcpy(&i, &f, 4);
    return i < 0 ? -(int64_t)(i & 0x7fffffff) : i;
}

TEST(exp_kernels_match_scalar) {
    const lair_kernels *ref = lair_kernels_for(LAIR_ISA_SCALAR);
    REQUIRE(ref->exp && ref->silu_mul);
    enum { N = 4099 };
    float *x = malloc(N * sizeof *x), *y0 = malloc(N * sizeof *x), *y1 = malloc(N * sizeof *x), *up = malloc(N * sizeof *x);
    int64_t off_by_one = 0, total = 0;
    for (int64_t i = 0; i < N; i++) x[i] = -106.0f + 196.0f * (float)i / (N - 1); /* -106 .. 90 */
    x[0] = -INFINITY, x[1] = INFINITY, x[2] = NAN, x[3] = 0.0f, x[4] = -0.0f, x[5] = 88.72f, x[6] = -103.5f;
    ref->exp(N, y0, x, 0.0f);
    for (int64_t i = 0; i < N; i++) {
        float want = expf(x[i]);
        if (isnan(want)) {
            CHECKF(isnan(y0[i]), "exp(NaN) = %g", y0[i]);
            continue;
        }
        int64_t d = float_order(y0[i]) - float_order(want);
        CHECKF(d >= -1 && d <= 1, "exp(%.9g) = %.9g, expf %.9g", x[i], y0[i], want);
        off_by_one += d != 0;
        total++;
    }
    CHECK(y0[0] == 0.0f && y0[1] == INFINITY && y0[3] == 1.0f && y0[4] == 1.0f);
    CHECKF(off_by_one * 200 <= total, "%lld of %lld differ from expf", (long long)off_by_one, (long long)total);
    for (int64_t i = 0; i < N; i++) up[i] = 0.5f + (float)(i % 7);
    for (int isa = 0; isa < LAIR_ISA_COUNT; isa++) {
        const lair_kernels *k = lair_kernels_for((lair_isa)isa);
        if (!k) continue;
        REQUIRE(k->exp && k->silu_mul);
        for (int64_t n = N - 6; n <= N; n += 3) { /* tails of 5, 0 and 3 */
            for (int64_t i = 0; i < N; i++) y1[i] = 7.0f;
            k->exp(n, y1, x, 1.5f);
            ref->exp(n, y0, x, 1.5f);
            CHECKF(memcmp(y0, y1, (size_t)n * sizeof *y0) == 0, "%s exp n=%lld differs from scalar", k->name, (long long)n);
            CHECKF(n == N || y1[n] == 7.0f, "%s exp n=%lld wrote past the end", k->name, (long long)n);
            for (int64_t i = 0; i < n; i++) y0[i] = y1[i] = x[i] * 0.25f;
            ref->silu_mul(n, y0, up);
            k->silu_mul(n, y1, up);
            CHECKF(memcmp(y0, y1, (size_t)n * sizeof *y0) == 0, "%s silu_mul n=%lld differs from scalar", k->name, (long long)n);
        }
    }
    for (int64_t i = 7; i < N; i++) { /* silu against its formula with expf */
        float g = x[i] * 0.25f, want = g / (1.0f + expf(-g)) * up[i];
        CHECKF(fabsf(y0[i] - want) <= 1e-6f * fabsf(want) + 1e-30f, "silu_mul(%g) = %g, want %g", g, y0[i], want);
    }
    free(x);
    free(y0);
    free(y1);
    free(up);
}

/* Softmax of attention scores: the scalar kernel against the formula in
 * double (within a few units in the last place, summing to 1), its edges
 * (-inf scores get 0, a row of -inf or NaN only is all 0, a NaN score
 * poisons the row as e^NaN does, scores too far below the max get exactly
 * 0, -0 and +0 as the max), and every ISA bit-identical to it at every
 * length from 0 to 40 (every tail) and at 4099, writing nothing past n. */
TEST(softmax_kernels_match_scalar) {
    const lair_kernels *ref = lair_kernels_for(LAIR_ISA_SCALAR);
    REQUIRE(ref->softmax != NULL);
    enum { N = 4099 };
    float *x = malloc((N + 1) * sizeof *x), *y0 = malloc((N + 1) * sizeof *x), *y1 = malloc((N + 1) * sizeof *x);
    const float scales[] = {1.0f, 0.125f, 0.0883883476f};
    for (int case_ = 0; case_ < 6; case_++) {
        for (int64_t i = 0; i < N; i++) x[i] = 12.0f * (float)rng_normal();
        if (case_ == 1) /* -inf scores (masked cells, soft-capped -inf) and one far below */
            for (int64_t i = 0; i < N; i += 3) x[i] = i % 2 ? -INFINITY : -400.0f;
        if (case_ == 2) /* every score -inf or NaN: all zeros */
            for (int64_t i = 0; i < N; i++) x[i] = i % 7 == 5 ? NAN : -INFINITY;
        if (case_ == 3) /* NaN scores among finite and -inf ones (lane 0's last at some lengths) */
            x[N / 2] = NAN, x[9] = NAN, x[8] = NAN, x[5] = -INFINITY, x[30] = -INFINITY;
        if (case_ == 4) /* zeros of both signs are the max */
            for (int64_t i = 0; i < N; i++) x[i] = i % 5 == 0 ? (i % 2 ? -0.0f : 0.0f) : -fabsf(x[i]) - 1.0f;
        if (case_ == 5) /* equal scores */
            for (int64_t i = 0; i < N; i++) x[i] = 2.5f;
        for (int si = 0; si < 3; si++) {
            const float scale = scales[si];
            memcpy(y0, x, N * sizeof *x);
            ref->softmax(N, y0, scale);
            double max = -INFINITY, sum = 0.0, got = 0.0;
            bool has_nan = false;
            for (int64_t i = 0; i < N; i++) {
                float s = x[i] * scale;
                has_nan |= s != s;
                if (s > max) max = s;
            }
            for (int64_t i = 0; i < N; i++)
                if (max > -INFINITY) sum += exp((double)(x[i] * scale - (float)max)); /* the difference in float, as specified */
            for (int64_t i = 0; i < N; i++) {
                float s = x[i] * scale;
                if (max == -INFINITY) {
                    CHECKF(y0[i] == 0.0f && !signbit(y0[i]), "case %d: p[%lld] = %g, want 0", case_, (long long)i, y0[i]);
                    continue;
                }
                if (has_nan) {
                    CHECKF(s == -INFINITY ? y0[i] == 0.0f : isnan(y0[i]), "case %d NaN row: p[%lld] = %g", case_, (long long)i, y0[i]);
                    continue;
                }
                double want = exp((double)(s - (float)max)) / sum;
                CHECKF(fabs(y0[i] - want) <= 4e-7 * want + 1e-36, "case %d scale %g: p[%lld] = %.9g, want %.9g", case_, scale,
                       (long long)i, y0[i], want);
                got += y0[i];
            }
            if (max > -INFINITY && !has_nan) CHECKF(fabs(got - 1.0) < 1e-5, "case %d: probabilities sum to %.9g", case_, got);
            for (int isa = 0; isa < LAIR_ISA_COUNT; isa++) {
                const lair_kernels *k = lair_kernels_for((lair_isa)isa);
                if (!k) continue;
                REQUIRE(k->softmax != NULL);
                for (int64_t n = 0; n <= N; n = n < 40 ? n + 1 : n == 40 ? N : N + 1) {
                    memcpy(y0, x, N * sizeof *x), memcpy(y1, x, N * sizeof *x);
                    y0[n] = y1[n] = 7.0f;
                    ref->softmax(n, y0, scale);
                    k->softmax(n, y1, scale);
                    CHECKF(memcmp(y0, y1, (size_t)n * sizeof *y0) == 0, "%s softmax case %d n=%lld differs from scalar", k->name, case_,
                           (long long)n);
                    CHECKF(y1[n] == 7.0f, "%s softmax n=%lld wrote past the end", k->name, (long long)n);
                }
            }
        }
    }
    free(x);
    free(y0);
    free(y1);
}

int main(void) {
    find_isas();
    RUN(vec_dot_quantized_rows);
    RUN(vec_dot_random_byte_rows);
    RUN(vec_dot_zero_rows);
    RUN(vec_dot_rows_match_vec_dot);
    RUN(gemv_matches_vec_dot);
    RUN(rows8_kernels_match_vec_dot);
    RUN(read_probe_matches_scalar);
    RUN(gemm_matches_vec_dot);
    RUN(gemm_q4_0_extremes);
    RUN(gemm_q8_0_extremes);
    RUN(vec_dot_rows_bitwise);
    RUN(gemv_tables);
    RUN(vec_dot_rows_tables);
    RUN(axpy_matches_scalar);
    RUN(attention_kernels_match_scalar);
    RUN(quantize_matches_from_float);
    RUN(exp_kernels_match_scalar);
    RUN(softmax_kernels_match_scalar);
    RUN(vec_dot_q8_0_extremes);
    RUN(vec_dot_type_mapping);
    RUN(isa_tables);
    RUN(kernels_get_best);
    return check_done();
}
