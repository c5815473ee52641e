/* Small AVX2 + FMA + F16C helpers shared by the x86-64 kernel files
 * (vec_dot_avx2.c: dot products and gemv; gemm_avx2.c: matrix x matrix).
 * Include only from files built for x86-64; every function carries its own
 * target attribute, so callers need no special compiler flags. */
#ifndef LAIR_KERNELS_AVX2_INLINE_H
#define LAIR_KERNELS_AVX2_INLINE_H

#include <immintrin.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tensor/blocks.h"

#define AVX2_FN __attribute__((target("avx2,fma,f16c")))


static inline AVX2_FN __m256i load32(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)(const void *)p); }
static inline AVX2_FN __m128i load16(const uint8_t *p) { return _mm_loadu_si128((const __m128i *)(const void *)p); }

static inline uint16_t u16_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return h;
}

static inline uint32_t u32_at(const uint8_t *p) {
    uint32_t u;
    memcpy(&u, p, 4);
    return u;
}

static inline AVX2_FN float f16_at(const uint8_t *p) { return _cvtsh_ss(u16_at(p)); /* exact, as lair_f16_to_f32 */ }

static inline AVX2_FN float f32_at(const uint8_t *p) {
    float f;
    memcpy(&f, p, 4);
    return f;
}

/* 16 bytes of nibble pairs -> 32 levels 0..15 in element order: bytes 0..15
 * the low nibbles, bytes 16..31 the high nibbles (the Q4_0 layout).  The
 * bytes are loaded into both 128-bit lanes and the upper lane shifted by 4. */
static inline AVX2_FN __m256i unpack_nibbles16(const uint8_t *p) {
    __m256i b = _mm256_broadcastsi128_si256(load16(p));
    return _mm256_and_si256(_mm256_srlv_epi64(b, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(0x0F));
}

/* int16 pair sums -> int32 lanes. */
static inline AVX2_FN __m256i sum_pairs16(__m256i p) { return _mm256_madd_epi16(p, _mm256_set1_epi16(1)); }

/* Sums within each 128-bit half of four int32x8 vectors: lanes [a b c d]
 * of the low half from the low halves, of the high half from the high
 * ones.  Unpacks and adds: vphaddd costs several times as much on the AMD
 * cores this was tuned on (about 0.45 per cycle against 2 for unpacks). */
static inline AVX2_FN __m256i sum4_halves_i32(__m256i a, __m256i b, __m256i c, __m256i d) {
    __m256i ab = _mm256_add_epi32(_mm256_unpacklo_epi32(a, b), _mm256_unpackhi_epi32(a, b)); /* a02 b02 a13 b13 */
    __m256i cd = _mm256_add_epi32(_mm256_unpacklo_epi32(c, d), _mm256_unpackhi_epi32(c, d));
    return _mm256_add_epi32(_mm256_unpacklo_epi64(ab, cd), _mm256_unpackhi_epi64(ab, cd));
}

/* Full sums of four int32x8 vectors, as lanes [a b c d]. */
static inline AVX2_FN __m128i hsum4_i32(__m256i a, __m256i b, __m256i c, __m256i d) {
    __m256i h = sum4_halves_i32(a, b, c, d);
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/* dx[b] = float(d) and (Q4_0) ysum8[b] = 8 * sum(qs) of every activation block. */
static inline __attribute__((always_inline)) AVX2_FN void q80_act_prep(int64_t nb, const uint8_t *px, float *dx,
                                                                        int32_t *ysum8, const bool q4) {
    const size_t xsize = sizeof(block_q8_0);
    for (int64_t b = 0; b < nb; b++) dx[b] = f16_at(px + b * xsize);
    if (!q4) return;
    const __m256i one8 = _mm256_set1_epi8(1);
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) {
        __m256i p[4];
        for (int j = 0; j < 4; j++) p[j] = sum_pairs16(_mm256_maddubs_epi16(one8, load32(px + (b + j) * xsize + offsetof(block_q8_0, qs))));
        _mm_storeu_si128((__m128i *)(void *)(ysum8 + b), _mm_slli_epi32(hsum4_i32(p[0], p[1], p[2], p[3]), 3));
    }
    for (; b < nb; b++) {
        const int8_t *q = (const int8_t *)(const void *)(px + b * xsize + offsetof(block_q8_0, qs));
        int32_t t = 0;
        for (int j = 0; j < 32; j++) t += q[j];
        ysum8[b] = 8 * t;
    }
}


/* Q4_K: scales and mins as 8 bytes each (see k4_scales_mins). */
static inline void k4_scales_mins_u64(const uint8_t *p, uint64_t *sc, uint64_t *mn) {
    const uint32_t lo6 = 0x3F3F3F3Fu, lo4 = 0x0F0F0F0Fu, hi2 = 0x03030303u;
    uint32_t a0 = u32_at(p), a1 = u32_at(p + 4), a2 = u32_at(p + 8);
    uint64_t sc_hi = (a2 & lo4) | (((a0 >> 6) & hi2) << 4), m_hi = ((a2 >> 4) & lo4) | (((a1 >> 6) & hi2) << 4);
    *sc = (a0 & lo6) | sc_hi << 32;
    *mn = (a1 & lo6) | m_hi << 32;
}

#endif
