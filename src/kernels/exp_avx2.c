/* e^x, softmax and SiLU, AVX2 + FMA: 8 values at a time as two vectors
 * of 4 doubles, the same operations as the scalar reference
 * (exp_scalar.c), so the same bits.  Against the C library's expf (about
 * 20 cycles a call) this is a few cycles per value. */
#if defined(__x86_64__)

#include <math.h>
#include <string.h>

#include "kernels/avx2_inline.h"
#include "kernels/kernels_internal.h"

static inline AVX2_FN __m128 exp4(__m128 x) {
    __m256d xd = _mm256_min_pd(_mm256_max_pd(_mm256_cvtps_pd(x), _mm256_set1_pd(LAIR_EXP_MIN)), _mm256_set1_pd(LAIR_EXP_MAX));
    __m256d n = _mm256_round_pd(_mm256_mul_pd(xd, _mm256_set1_pd(LAIR_EXP_LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256d r = _mm256_fmadd_pd(n, _mm256_set1_pd(-LAIR_EXP_LN2_HI), xd);
    r = _mm256_fmadd_pd(n, _mm256_set1_pd(-LAIR_EXP_LN2_LO), r);
    __m256d p = _mm256_set1_pd(lair_exp_taylor[10]);
    for (int k = 9; k >= 0; k--) p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(lair_exp_taylor[k]));
    /* n as an integer in the low bits of n + 1.5 * 2^52, shifted into the exponent */
    __m256i e = _mm256_slli_epi64(_mm256_castpd_si256(_mm256_add_pd(n, _mm256_set1_pd(6755399441055744.0))), 52);
    __m128 y = _mm256_cvtpd_ps(_mm256_castsi256_pd(_mm256_add_epi64(_mm256_castpd_si256(p), e)));
    return _mm_blendv_ps(y, x, _mm_cmpunord_ps(x, x)); /* NaN stays NaN (the clamp lost it) */
}

static inline AVX2_FN __m256 exp8(__m256 x) {
    return _mm256_set_m128(exp4(_mm256_extractf128_ps(x, 1)), exp4(_mm256_castps256_ps128(x)));
}

void AVX2_FN lair_exp_avx2(int64_t n, float *y, const float *x, float sub) {
    const __m256 s = _mm256_set1_ps(sub);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), s)));
    for (; i < n; i++) y[i] = lair_exp_ref(x[i] - sub);
}

/* lair_softmax_fn with the lanes as vector lanes: element i of a vector
 * loaded at a multiple of 8 is lane i % 8; the elements after the last
 * whole vector go to the scalar passes (exp_scalar.c). */
void AVX2_FN lair_softmax_avx2(int64_t n, float *x, float scale) {
    const __m256 sc = _mm256_set1_ps(scale);
    __m256 mv = _mm256_set1_ps(-INFINITY);
    const int64_t nv = n / 8 * 8;
    for (int64_t i = 0; i < nv; i += 8) {
        __m256 s = _mm256_mul_ps(_mm256_loadu_ps(x + i), sc);
        _mm256_storeu_ps(x + i, s);
        mv = _mm256_max_ps(s, mv); /* s > m ? s : m, lane by lane (NaN s: m) */
    }
    float m[8];
    _mm256_storeu_ps(m, mv);
    const float max = lair_softmax_max_from(nv, n, x, scale, m);
    if (max == -INFINITY) {
        memset(x, 0, (size_t)n * sizeof *x);
        return;
    }
    const __m256 sub = _mm256_set1_ps(max);
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd(); /* lanes 0-3, 4-7 */
    for (int64_t i = 0; i < nv; i += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), sub));
        _mm256_storeu_ps(x + i, e);
        lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double a[8];
    _mm256_storeu_pd(a, lo);
    _mm256_storeu_pd(a + 4, hi);
    const float inv = (float)(1.0 / lair_softmax_exp_from(nv, n, x, max, a));
    const __m256 iv = _mm256_set1_ps(inv), zero = _mm256_setzero_ps();
    for (int64_t i = 0; i < nv; i += 8) { /* e == 0 stays 0, not 0 * inf */
        __m256 e = _mm256_loadu_ps(x + i);
        _mm256_storeu_ps(x + i, _mm256_andnot_ps(_mm256_cmp_ps(e, zero, _CMP_EQ_OQ), _mm256_mul_ps(e, iv)));
    }
    lair_softmax_scale_from(nv, n, x, inv);
}

void AVX2_FN lair_silu_mul_avx2(int64_t n, float *gate, const float *up) {
    const __m256 one = _mm256_set1_ps(1.0f), neg = _mm256_set1_ps(-0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(gate + i);
        __m256 e = exp8(_mm256_xor_ps(g, neg));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
    }
    for (; i < n; i++) gate[i] = gate[i] / (1.0f + lair_exp_ref(-gate[i])) * up[i];
}

#endif /* __x86_64__ */
