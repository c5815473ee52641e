/* e^x, softmax and SiLU, scalar reference: the specification that the
 * SIMD variants (exp_avx2.c) reproduce bit for bit.
 *
 * Evaluated in double and rounded once to float, so the result is the
 * correctly rounded e^x except within about 1e-5 units in the last place
 * of a rounding boundary: it agrees with a good libm expf (glibc's is
 * within 0.502 units) on all but about 0.06% of inputs.  That matters:
 * greedy continuations of the float golden models sit on near-ties (two
 * logits 1e-4 apart), which a one-unit error in every exponential flips.
 *
 * x clamped to [-104, 89] (e^-104 rounds to float 0 and e^89 to inf, so
 * the clamp changes no result); x = n ln2 + r with n = round-half-even(x
 * log2 e), |r| <= ln2 / 2 (ln2 split in a part exact in n * hi and the
 * rest, both subtracted with fused multiply-adds); e^r by its Taylor
 * polynomial of degree 10 in Horner form, one fused multiply-add per step
 * (truncation below 3e-13 relative); 2^n added to the exponent bits; then
 * the conversion to float, which also makes the subnormal results and the
 * overflow to inf.  NaN stays NaN. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels/kernels_internal.h"

const double lair_exp_taylor[11] = {1.0,         1.0,          1.0 / 2,      1.0 / 6,       1.0 / 24,      1.0 / 120,
                                    1.0 / 720,   1.0 / 5040,   1.0 / 40320,  1.0 / 362880,  1.0 / 3628800};

float lair_exp_ref(float x) {
    if (x != x) return x;
    double xd = x < LAIR_EXP_MIN ? LAIR_EXP_MIN : x > LAIR_EXP_MAX ? LAIR_EXP_MAX : (double)x;
    double n = rint(xd * LAIR_EXP_LOG2E);
    double r = fma(n, -LAIR_EXP_LN2_HI, xd);
    r = fma(n, -LAIR_EXP_LN2_LO, r);
    double p = lair_exp_taylor[10];
    for (int k = 9; k >= 0; k--) p = fma(p, r, lair_exp_taylor[k]);
    uint64_t b;
    memcpy(&b, &p, 8);
    b += (uint64_t)(int64_t)n << 52;
    memcpy(&p, &b, 8);
    return (float)p;
}

void lair_exp_scalar(int64_t n, float *y, const float *x, float sub) {
    for (int64_t i = 0; i < n; i++) y[i] = lair_exp_ref(x[i] - sub);
}

/* The three passes of lair_softmax_fn (kernels.h states its lanes: lane
 * i % 8) from element i on, as scalars: the SIMD variants run them on the
 * elements after their last whole vector, so their tails are these. */
float lair_softmax_max_from(int64_t i, int64_t n, float *x, float scale, float m[8]) {
    for (; i < n; i++) {
        float s = x[i] * scale;
        x[i] = s;
        if (s > m[i % 8]) m[i % 8] = s;
    }
    float max = m[0];
    for (int l = 1; l < 8; l++) max = m[l] > max ? m[l] : max;
    return max;
}

double lair_softmax_exp_from(int64_t i, int64_t n, float *x, float max, double a[8]) {
    for (; i < n; i++) {
        x[i] = lair_exp_ref(x[i] - max);
        a[i % 8] += (double)x[i];
    }
    double sum = a[0];
    for (int l = 1; l < 8; l++) sum += a[l];
    return sum;
}

void lair_softmax_scale_from(int64_t i, int64_t n, float *x, float inv) {
    for (; i < n; i++) x[i] = x[i] == 0.0f ? 0.0f : x[i] * inv; /* 0, not 0 * inf */
}

void lair_softmax_scalar(int64_t n, float *x, float scale) {
    float m[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    const float max = lair_softmax_max_from(0, n, x, scale, m);
    if (max == -INFINITY) {
        memset(x, 0, (size_t)n * sizeof *x);
        return;
    }
    double a[8] = {0};
    lair_softmax_scale_from(0, n, x, (float)(1.0 / lair_softmax_exp_from(0, n, x, max, a)));
}

void lair_silu_mul_scalar(int64_t n, float *gate, const float *up) {
    for (int64_t i = 0; i < n; i++) gate[i] = gate[i] / (1.0f + lair_exp_ref(-gate[i])) * up[i];
}
