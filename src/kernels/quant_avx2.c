/* Activation quantizers, AVX2 + FMA + F16C: the same bits as the formats'
 * own from_float (src/tensor: q8_block in quant_legacy.c for Q8_0,
 * lair_q8_K_from_float in quant_k.c), which are the specification.
 *
 * Every matrix product converts its input rows first (once per token and
 * product); the scalar converters spend about 10 cycles per value, a few
 * percent of prefill and, in decode, serial time on the calling thread.
 * What keeps the bits:
 *   - max|x| with max_ps(|x|, m) = (|x| > m ? |x| : m), the scalar loop's
 *     own rule, so NaNs are skipped the same way, and max is order-free;
 *   - products x * (1/d) as in the scalar code, clamped with max_ps/min_ps
 *     (a NaN becomes the lower bound, as the scalar clamp does), then
 *     rounded half to even (round_ps), which the scalar code does by adding
 *     and removing 1.5 * 2^23;
 *   - f16 scales by VCVTPS2PH, which lair_f32_to_f16 matches bit for bit. */
#if defined(__x86_64__)

#include <float.h>
#include <math.h>

#include "kernels/avx2_inline.h"
#include "kernels/kernels_internal.h"

/* max over the 8 lanes of m (no NaN lanes) */
static inline AVX2_FN float hmax_ps(__m256 m) {
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

static inline AVX2_FN __m256 abs_ps(__m256 x) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x); }

/* round-half-even(clamp(x * s, lo, hi)) as int32 lanes */
static inline AVX2_FN __m256i levels(__m256 x, __m256 s, __m256 lo, __m256 hi) {
    __m256 v = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(x, s), lo), hi);
    return _mm256_cvtps_epi32(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

/* 32 int32 lanes (v[0..3], in order) as 32 int8 */
static inline AVX2_FN __m256i pack32_epi8(const __m256i v[4]) {
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

void AVX2_FN lair_quantize_q8_0_avx2(const float *src, void *dst, int64_t n) {
    uint8_t *b = dst; /* blocks at any address: fields through their offsets */
    const __m256 lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
    for (int64_t i = 0; i < n / QK8_0; i++, b += sizeof(block_q8_0), src += QK8_0) {
        __m256 x[4], m = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) {
            x[k] = _mm256_loadu_ps(src + 8 * k);
            m = _mm256_max_ps(abs_ps(x[k]), m);
        }
        float d = hmax_ps(m) / 127.0f;
        uint16_t dh = (uint16_t)_mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(d < 65504.0f ? d : 65504.0f), _MM_FROUND_TO_NEAREST_INT), 0);
        memcpy(b + offsetof(block_q8_0, d), &dh, 2);
        if (_cvtsh_ss(dh) == 0.0f) {
            memset(b + offsetof(block_q8_0, qs), 0, QK8_0);
            continue;
        }
        const __m256 id = _mm256_set1_ps(1.0f / d);
        __m256i q[4];
        for (int k = 0; k < 4; k++) q[k] = levels(x[k], id, lo, hi);
        _mm256_storeu_si256((__m256i *)(void *)(b + offsetof(block_q8_0, qs)), pack32_epi8(q));
    }
}

void AVX2_FN lair_quantize_q8_K_avx2(const float *src, void *dst, int64_t n) {
    uint8_t *b = dst; /* blocks at any address: fields through their offsets */
    const __m256 lo = _mm256_set1_ps(-128.0f), hi = _mm256_set1_ps(127.0f);
    for (int64_t i = 0; i < n / QK_K; i++, b += sizeof(block_q8_K), src += QK_K) {
        __m256 m = _mm256_setzero_ps();
        for (int k = 0; k < QK_K / 8; k++) m = _mm256_max_ps(abs_ps(_mm256_loadu_ps(src + 8 * k)), m);
        const float amax = hmax_ps(m);
        /* the scale's sign is that of the first value of largest magnitude */
        float mx = 0.0f;
        if (amax > 0.0f) {
            const __m256 va = _mm256_set1_ps(amax);
            for (int k = 0; k < QK_K / 8; k++) {
                int hit = _mm256_movemask_ps(_mm256_cmp_ps(abs_ps(_mm256_loadu_ps(src + 8 * k)), va, _CMP_EQ_OQ));
                if (hit) {
                    mx = src[8 * k + __builtin_ctz((unsigned)hit)];
                    break;
                }
            }
        }
        float iscale = mx != 0 ? -128.0f / mx : 0.0f;
        if (!(fabsf(iscale) <= FLT_MAX) || iscale == 0) {
            memset(b, 0, sizeof(block_q8_K));
            continue;
        }
        const __m256 s = _mm256_set1_ps(iscale);
        for (int k = 0; k < QK_K / 32; k++) { /* 32 values: groups 2k and 2k + 1 of 16 */
            __m256i q[4];
            for (int j = 0; j < 4; j++) q[j] = levels(_mm256_loadu_ps(src + 32 * k + 8 * j), s, lo, hi);
            _mm256_storeu_si256((__m256i *)(void *)(b + offsetof(block_q8_K, qs) + 32 * k), pack32_epi8(q));
            /* the two groups' sums: lanes 0 + 4 of the twice pairwise-added vector */
            __m256i h = _mm256_hadd_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
            h = _mm256_hadd_epi32(h, h);
            __m128i g = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
            int16_t sums[2] = {(int16_t)_mm_cvtsi128_si32(g), (int16_t)_mm_extract_epi32(g, 1)};
            memcpy(b + offsetof(block_q8_K, bsums) + 2 * sizeof(int16_t) * (size_t)k, sums, sizeof sums);
        }
        float d = 1.0f / iscale;
        memcpy(b + offsetof(block_q8_K, d), &d, sizeof d);
    }
}

#endif /* __x86_64__ */
