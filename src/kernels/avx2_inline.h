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

/* The matrix kernels on tiles and groups of 8 rows (gemm_avx2.c,
 * rows8_avx2.c, rows8_k_avx2.c) are compiled twice: as they are, for the
 * AVX2 table, and by the *_avx512.c files with KERNEL_VNNI 1, for the
 * AVX-512 table.  There a product of 4 unsigned and 4 signed bytes is summed
 * into an int32 lane by one vpdpbusd (AVX-512 VNNI, on 256-bit vectors with
 * AVX-512 VL) instead of maddubs, an int16 add and a madd, and 32 vector
 * registers instead of 16 leave fewer of the tiles' token accumulators on
 * the stack.  The integers are the same, so the results are the same bits.
 * KERNEL_FN: a kernel function's target; KERNEL_NAME(f): f_avx2 or
 * f_avx512. */
#if !defined(KERNEL_VNNI)
#define KERNEL_VNNI 0
#endif
#if KERNEL_VNNI
#define KERNEL_FN __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))
#define KERNEL_NAME(f) f##_avx512
#else
#define KERNEL_FN AVX2_FN
#define KERNEL_NAME(f) f##_avx2
#endif

#if KERNEL_VNNI
/* acc + vpdpbusd(u, the 4 bytes at p in every lane), the bytes broadcast by
 * the instruction's own memory operand ({1to8}); from the intrinsic with
 * _mm256_set1_epi32, GCC 12 loads them with a separate vpbroadcastd, one
 * more instruction per product step (prefill 8% slower). */
typedef int32_t __attribute__((may_alias)) int32_any; /* the bytes are int8 data */
static inline KERNEL_FN __m256i dpbusd_bcast(__m256i acc, __m256i u, const void *p) {
    __asm__("vpdpbusd %2%{1to8%}, %1, %0" : "+v"(acc) : "v"(u), "m"(*(const int32_any *)p));
    return acc;
}

/* off + the 8 steps of a block: sum over s of u[s] . y[4s .. 4s + 3], in
 * two chains (a chain's vpdpbusd waits for the one before it). */
static inline KERNEL_FN __m256i dpbusd_steps(const __m256i u[8], const void *y, int32_t off) {
    const uint8_t *q = y;
    __m256i a = _mm256_set1_epi32(off), b = _mm256_setzero_si256();
    _Pragma("GCC unroll 4") for (int s = 0; s < 8; s += 2) {
        a = dpbusd_bcast(a, u[s], q + 4 * s);
        b = dpbusd_bcast(b, u[s + 1], q + 4 * s + 4);
    }
    return _mm256_add_epi32(a, b);
}
#endif

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

/* ((P0 + P4) + (P2 + P6)) + ((P1 + P5) + (P3 + P7)), lane by lane: the
 * horizontal sum of the one-row kernels' phase vector, for 8 rows. */
static inline AVX2_FN __m256 k_phases_sum(const __m256 P[8]) {
    return _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(P[0], P[4]), _mm256_add_ps(P[2], P[6])),
                         _mm256_add_ps(_mm256_add_ps(P[1], P[5]), _mm256_add_ps(P[3], P[7])));
}

/* One super-block of a group of 8 tokens: the K-quant gemm kernels'
 * activations (gemm_avx2.c packs them; rows8_k_avx2.c reads them too). */
typedef struct q8_K_group_block {
    int8_t q[8][256];
    float d[8];
    int16_t sub[8][8];  /* [token][j]: sum of the token's activations in 32-element sub-block j (Q4_K) */
    int16_t bs16[8][16]; /* [token][j]: the same per 16 elements (Q8_K's bsums, for Q6_K) */
} q8_K_group_block;


/* Per-row int8 values of 8 rows as madd's other operand (row i's two pair
 * sums in int16 lanes 2i, 2i + 1), sign-extended:
 * dup: 8 bytes v_0..v_7 -> lanes 2i and 2i + 1 both v_i (one value per row);
 * pair: 16 bytes [a_0..a_7 | b_0..b_7] -> lane 2i = a_i, 2i + 1 = b_i (two
 * sub-blocks' values per row). */
static inline AVX2_FN __m256i dup_rows_i16(__m128i v) { return _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(v, v)); }
static inline AVX2_FN __m256i pair_rows_i16(__m128i v) { return _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(v, _mm_srli_si128(v, 8))); }

/* Groups of 8 interleaved rows (tensor/rows8.h), shared by the rows8
 * kernels (rows8_k_avx2.c) and the tile packers (gemm_avx2.c). */

/* Q4_K group super-block gb: the 8 rows' scales or mins (0..63) as bytes
 * [j][i] (sub-block j, row i), sub-blocks 0..3 in [0] and 4..7 in [1]:
 * scales are the low 6 bits of the sc bytes, mins the mlo nibbles with
 * bits 4..5 from the sc bytes' top bits. */
static inline AVX2_FN void q4_K_group_scales(const uint8_t *gb, __m256i sc[2]) {
    const __m256i m3f = _mm256_set1_epi8(0x3F);
    sc[0] = _mm256_and_si256(load32(gb + 32), m3f);
    sc[1] = _mm256_and_si256(load32(gb + 64), m3f);
}

static inline AVX2_FN void q4_K_group_mins(const uint8_t *gb, __m256i mn[2]) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    const __m256i mlo = load32(gb + 96);
    mn[0] = _mm256_or_si256(_mm256_and_si256(mlo, m4), _mm256_and_si256(_mm256_srli_epi16(load32(gb + 32), 2), m30));
    mn[1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(mlo, 4), m4), _mm256_and_si256(_mm256_srli_epi16(load32(gb + 64), 2), m30));
}

/* Q6_K quad (h, s) of a group super-block: step s of the 4 groups
 * (h, g = 0..3) as levels 0..63, 4 per row, rows in order.  V1..V3 carry
 * groups 0..2 in their low 6 bits and group 3's bits 0-1, 2-3, 4-5 in
 * their top 2 (the masks drop what the 16-bit shifts carry across bytes). */
static inline AVX2_FN void q6_K_quad_levels(const uint8_t *quad, __m256i u[4]) {
    const __m256i m3f = _mm256_set1_epi8(0x3F), mc0 = _mm256_set1_epi8((char)0xC0);
    const __m256i v1 = load32(quad), v2 = load32(quad + 32), v3 = load32(quad + 64);
    u[0] = _mm256_and_si256(v1, m3f);
    u[1] = _mm256_and_si256(v2, m3f);
    u[2] = _mm256_and_si256(v3, m3f);
    u[3] = _mm256_or_si256(_mm256_or_si256(_mm256_srli_epi16(_mm256_and_si256(v1, mc0), 6), _mm256_srli_epi16(_mm256_and_si256(v2, mc0), 4)),
                           _mm256_srli_epi16(_mm256_and_si256(v3, mc0), 2));
}

#endif
