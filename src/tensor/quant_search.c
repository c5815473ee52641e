/* Scale searches shared by the quantizers of uniform-grid formats.
 *
 * Both searches run on a copy of the group divided by max|x| (values in
 * [-1, 1]), so their arithmetic neither overflows for 1e30 inputs nor
 * underflows for 1e-30 ones; the results are scaled back at the end.
 *
 * Each starting scale of a small grid is refined by alternating two steps
 * that never increase the squared error: assign every value its nearest
 * level, then refit the scale (and offset) by least squares for those
 * levels.  One pass over the group does both: it assigns the levels and
 * accumulates the sums of the normal equations, and the error of the refit
 * follows in closed form from the same sums (for a least-squares fit the
 * residual is sum x^2 - coef . (X^T x)), so a candidate costs two passes. */
#include <float.h>

#include "tensor/quant_internal.h"

#define GROUP_MAX 256 /* largest group any caller passes */

/* Normalises x[0..n) into xn by max|x|; returns max|x| (0: all zero). */
static float group_normalise(const float *x, int n, float *xn) {
    float amax = q_absmax(x, n);
    if (amax == 0.0f) return 0.0f;
    for (int i = 0; i < n; i++) xn[i] = x[i] / amax;
    return amax;
}

/* Scales a normalised result back, saturating at FLT_MAX. */
static float denormalise(float v, float amax) {
    double r = (double)v * (double)amax;
    if (r > FLT_MAX) return FLT_MAX;
    if (r < -FLT_MAX) return -FLT_MAX;
    return (float)r;
}

/* ---- affine: x ~ s*q + o, q in 0..nmax ------------------------------------ */

typedef struct affine_sums {
    float sq, sqq, sxq; /* sums of q, q^2, x*q (sum x, x^2 are fixed per group) */
} affine_sums;

/* Four interleaved partial sums keep the passes free of one long chain of
 * dependent additions (n is a multiple of 4). */
static affine_sums affine_pass(const float *xn, int n, int nmax, float s, float o) {
    float sq[4] = {0}, sqq[4] = {0}, sxq[4] = {0};
    float is = 1.0f / s;
    for (int i = 0; i < n; i += 4) {
        for (int k = 0; k < 4; k++) {
            float q = q_nearest_clamp((xn[i + k] - o) * is, 0.0f, (float)nmax);
            sq[k] += q;
            sqq[k] += q * q;
            sxq[k] += xn[i + k] * q;
        }
    }
    affine_sums a = {(sq[0] + sq[1]) + (sq[2] + sq[3]), (sqq[0] + sqq[1]) + (sqq[2] + sqq[3]),
                     (sxq[0] + sxq[1]) + (sxq[2] + sxq[3])};
    return a;
}

/* Least-squares (s, o) for the levels summed in a; returns the squared
 * error of the fit, or -1 when the levels determine no positive scale. */
static double affine_refit(const affine_sums *a, int n, double sx, double sxx, bool o_le_zero, float *s, float *o) {
    double det = (double)n * a->sqq - (double)a->sq * a->sq;
    if (det <= 0) return -1;
    double ss = ((double)n * a->sxq - (double)a->sq * sx) / det;
    double oo = ((double)a->sqq * sx - (double)a->sq * a->sxq) / det;
    if (o_le_zero && oo > 0) { /* best with the offset pinned at its bound */
        oo = 0;
        ss = a->sxq / (double)a->sqq;
    }
    if (!(ss > 0)) return -1;
    *s = (float)ss;
    *o = (float)oo;
    double e = sxx - ss * a->sxq - oo * sx;
    return e > 0 ? e : 0;
}

void q_fit_affine(const float *x, int n, int nmax, bool o_le_zero, int ngrid, float *s, float *o) {
    float xn[GROUP_MAX];
    float amax = group_normalise(x, n, xn);
    if (amax == 0.0f) {
        *s = 0.0f;
        *o = 0.0f;
        return;
    }
    float lo = xn[0], hi = xn[0];
    double sx = 0, sxx = 0;
    for (int i = 0; i < n; i++) {
        if (xn[i] < lo) lo = xn[i];
        if (xn[i] > hi) hi = xn[i];
        sx += xn[i];
        sxx += (double)xn[i] * xn[i];
    }
    if (o_le_zero && lo > 0) lo = 0;
    if (!(hi > lo)) { /* constant group, representable exactly by the offset */
        *s = 0.0f;
        *o = x[0];
        return;
    }
    /* starting scales: the range spread over t levels, t around nmax
     * (t > nmax clips the extremes, t < nmax leaves headroom) */
    float t_lo = nmax >= 7 ? (float)nmax - 1.0f : (float)nmax - 0.5f;
    float t_hi = (float)nmax + 1.0f;
    float best_s = (hi - lo) / (float)nmax, best_o = lo;
    double best_e = DBL_MAX;
    for (int g = 0; g < ngrid; g++) {
        float t = ngrid > 1 ? t_lo + (t_hi - t_lo) * (float)g / (float)(ngrid - 1) : (float)nmax;
        float cs = (hi - lo) / t, co = lo;
        double e = -1;
        for (int it = 0; it < 2; it++) {
            affine_sums a = affine_pass(xn, n, nmax, cs, co);
            double ne = affine_refit(&a, n, sx, sxx, o_le_zero, &cs, &co);
            if (ne < 0) break;
            e = ne;
        }
        if (e >= 0 && e < best_e) {
            best_e = e;
            best_s = cs;
            best_o = co;
        }
    }
    *s = denormalise(best_s, amax); /* no refit succeeded: the min/max fit */
    *o = denormalise(best_o, amax);
}

/* ---- symmetric: x ~ s*q, q in -nneg..npos ---------------------------------- */

/* Assigns levels for scale s; returns the least-squares scale for them
 * (0 when all levels are 0) and its squared error in *e. */
static float sym_pass(const float *xn, int n, int nneg, int npos, float s, double sxx, double *e) {
    float axq[4] = {0}, aqq[4] = {0};
    float is = 1.0f / s;
    for (int i = 0; i < n; i += 4) {
        for (int k = 0; k < 4; k++) {
            float q = q_nearest_clamp(xn[i + k] * is, (float)-nneg, (float)npos);
            axq[k] += xn[i + k] * q;
            aqq[k] += q * q;
        }
    }
    float sxq = (axq[0] + axq[1]) + (axq[2] + axq[3]);
    float sqq = (aqq[0] + aqq[1]) + (aqq[2] + aqq[3]);
    if (!(sqq > 0) || sxq == 0) {
        *e = sxx;
        return 0.0f;
    }
    double r = sxx - (double)sxq * sxq / sqq;
    *e = r > 0 ? r : 0;
    return sxq / sqq;
}

void q_fit_sym(const float *x, int n, int nneg, int npos, int ngrid, float *s) {
    float xn[GROUP_MAX];
    float amax = group_normalise(x, n, xn);
    if (amax == 0.0f) {
        *s = 0.0f;
        return;
    }
    float m = 0.0f; /* the value of largest magnitude, with its sign (+-1) */
    double sxx = 0;
    for (int i = 0; i < n; i++) {
        if (fabsf(xn[i]) > fabsf(m)) m = xn[i];
        sxx += (double)xn[i] * xn[i];
    }
    double best_e = sxx;
    float best_s = 0.0f;
    /* side 0 maps m onto the negative end, side 1 onto the positive end;
     * the end level varies by +-1 to trade clipping against resolution */
    int sides = nneg == npos ? 1 : 2;
    for (int side = 0; side < sides; side++) {
        int base = side == 0 ? nneg : npos;
        for (int g = 0; g < ngrid; g++) {
            float t = ngrid > 1 ? (float)base - 1.0f + 2.0f * (float)g / (float)(ngrid - 1) : (float)base;
            if (t < 0.5f) continue;
            float cs = side == 0 ? -m / t : m / t;
            double e;
            cs = sym_pass(xn, n, nneg, npos, cs, sxx, &e);
            if (cs == 0.0f) continue;
            cs = sym_pass(xn, n, nneg, npos, cs, sxx, &e);
            if (cs != 0.0f && e < best_e) {
                best_e = e;
                best_s = cs;
            }
        }
    }
    *s = denormalise(best_s, amax);
}
