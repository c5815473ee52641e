/* Matrix x vector on weights in groups of 8 interleaved rows (tensor/rows8.h),
 * AVX2 + FMA + F16C: decode's products once the loader has regrouped them.
 *
 * Per block of a group, one vector holds 4 levels of each of the 8 rows
 * (lanes = rows), so the activation's matching 4 bytes, broadcast, give the
 * 8 rows' partial sums in place with one maddubs: no horizontal adds, and
 * the 8 scales come in one 16-byte load.  The float part is every Q4_0 /
 * Q8_0 kernel's (vec_dot_avx2.c): S_b exact, c_b = float(d_w) * float(d_x),
 * A_j = fma(c_b, S_b, A_j) for blocks b = j (mod 4), dot = (A_0 + A_2) +
 * (A_1 + A_3), so every row gives the bits of vec_dot on the original row.
 *
 * Rows past the last whole group are in the file's layout and go to the
 * row kernels (which give the same bits).  Built again with KERNEL_VNNI
 * for the AVX-512 table (rows8_avx512.c; see rows8_block_sums). */
#if defined(__x86_64__)

#include "kernels/avx2_inline.h"
#include "kernels/kernels.h"
#include "kernels/kernels_internal.h"
#include "tensor/rows8.h"

#define ROWS8_CHUNK 2048 /* activation blocks prepared at a time (a multiple of 4) */
/* Bytes ahead that are prefetched into L2.  A group is one sequential
 * stream, yet the hardware prefetchers alone left two threads at 0.78 of
 * a plain read's bandwidth.  On Zen 3, 16 Q4_0 blocks ahead (2.3 KB) gave
 * 0.92 and 32 (4.6 KB) 0.93, 16 Q8_0 blocks (4.3 KB) 0.88; on Zen 4, 2.3 KB
 * left Q4_0 at 0.75-0.88 and 4.6 KB or 9.2 KB gave 0.93-1.05, Q8_0 0.9-0.97
 * at 4.3 to 17 KB (best of 7, 2048 x 131072, two threads, against a plain
 * read in the same run). */
#define ROWS8_PREFETCH_BYTES 4608

/* Block b of a group (gb) against activation block xb: the 8 rows' exact
 * sums S_b, lanes = rows.
 * Q4_0: units u = 0..3 hold levels 4u..4u+3 in their low nibbles and
 * 16+4u.. in their high nibbles; unsigned levels (pairs <= 2 * 15 * 127,
 * eight steps summed in int16 <= 30480) minus 8 * sum(y) (ysum8).
 * Q8_0: units s = 0..7 hold values 4s..4s+3, signed: |w| against y given
 * w's sign (a pair reaches 2 * 128 * 127 = 32512, so each step is widened).
 * With VNNI every step is one vpdpbusd into int32: Q4_0 levels as they are,
 * Q8_0 values as w + 128 with 16 * ysum8 = 128 * sum(y) taken out. */
static inline __attribute__((always_inline)) KERNEL_FN __m256i rows8_block_sums(const uint8_t *gb, const uint8_t *xb, int32_t ysum8,
                                                                              const bool q4) {
    const uint8_t *q = gb + LAIR_ROWS8 * sizeof(lair_f16), *y = xb + offsetof(block_q8_0, qs);
    const __m256i ones = _mm256_set1_epi16(1);
#if KERNEL_VNNI
    (void)ones;
    __m256i u[8]; /* the 8 steps as the unsigned operand (dpbusd_steps) */
    if (q4) {
        const __m256i m4 = _mm256_set1_epi8(0x0F);
        UNROLL_FULL for (int k = 0; k < 4; k++) {
            __m256i v = load32(q + 32 * k);
            u[k] = _mm256_and_si256(v, m4);
            u[k + 4] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        }
        return dpbusd_steps(u, y, -ysum8);
    }
    UNROLL_FULL for (int s = 0; s < 8; s++) u[s] = _mm256_xor_si256(load32(q + 32 * s), _mm256_set1_epi8((char)0x80));
    return dpbusd_steps(u, y, -16 * ysum8);
#else
    if (q4) {
        const __m256i m4 = _mm256_set1_epi8(0x0F);
        __m256i s16 = _mm256_setzero_si256();
        UNROLL_FULL for (int u = 0; u < 4; u++) {
            __m256i v = load32(q + 32 * u);
            __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
            s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(lo, _mm256_set1_epi32((int)u32_at(y + 4 * u))));
            s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(hi, _mm256_set1_epi32((int)u32_at(y + 16 + 4 * u))));
        }
        return _mm256_sub_epi32(_mm256_madd_epi16(s16, ones), _mm256_set1_epi32(ysum8));
    }
    __m256i si = _mm256_setzero_si256();
    UNROLL_FULL for (int s = 0; s < 8; s++) {
        __m256i v = load32(q + 32 * s);
        __m256i ys = _mm256_sign_epi8(_mm256_set1_epi32((int)u32_at(y + 4 * s)), v);
        si = _mm256_add_epi32(si, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(v), ys), ones));
    }
    return si;
#endif
}

static inline __attribute__((always_inline)) KERNEL_FN __m256 rows8_block(const uint8_t *gb, const uint8_t *xb, float dx,
                                                                        int32_t ysum8, __m256 acc, const bool q4) {
    __m256i si = rows8_block_sums(gb, xb, ysum8, q4);
    __m256 c = _mm256_mul_ps(_mm256_cvtph_ps(load16(gb)), _mm256_set1_ps(dx));
    return _mm256_fmadd_ps(c, _mm256_cvtepi32_ps(si), acc);
}

/* Blocks [0, m) of a group (g) against activation blocks px, into the
 * phase accumulators a[4] (m % 4 != 0 only for a row's last blocks). */
static inline __attribute__((always_inline)) KERNEL_FN void rows8_blocks(int64_t m, const uint8_t *g, const uint8_t *px, const float *dx,
                                                                        const int32_t *ysum8, __m256 a[4], const bool q4) {
    const uint64_t gblock = LAIR_ROWS8 * (q4 ? sizeof(block_q4_0) : sizeof(block_q8_0)), xsize = sizeof(block_q8_0);
    __m256 a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
    int64_t b = 0;
    for (; b + 4 <= m; b += 4) {
        const uint8_t *gb = g + (uint64_t)b * gblock, *xb = px + (uint64_t)b * xsize;
        for (uint64_t l = 0; l < 4 * gblock; l += 64) _mm_prefetch((const char *)(gb + ROWS8_PREFETCH_BYTES + l), _MM_HINT_T1);
        a0 = rows8_block(gb, xb, dx[b], ysum8[b], a0, q4);
        a1 = rows8_block(gb + gblock, xb + xsize, dx[b + 1], ysum8[b + 1], a1, q4);
        a2 = rows8_block(gb + 2 * gblock, xb + 2 * xsize, dx[b + 2], ysum8[b + 2], a2, q4);
        a3 = rows8_block(gb + 3 * gblock, xb + 3 * xsize, dx[b + 3], ysum8[b + 3], a3, q4);
    }
    if (b < m) a0 = rows8_block(g + (uint64_t)b * gblock, px + (uint64_t)b * xsize, dx[b], ysum8[b], a0, q4);
    if (b + 1 < m) a1 = rows8_block(g + (uint64_t)(b + 1) * gblock, px + (uint64_t)(b + 1) * xsize, dx[b + 1], ysum8[b + 1], a1, q4);
    if (b + 2 < m) a2 = rows8_block(g + (uint64_t)(b + 2) * gblock, px + (uint64_t)(b + 2) * xsize, dx[b + 2], ysum8[b + 2], a2, q4);
    a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3;
}

/* The activation's block scales and (Q4_0) offset sums are prepared once
 * per call, or, for rows of more than ROWS8_CHUNK blocks, a chunk at a time
 * for each group (chunks of a multiple of 4 blocks keep every block in its
 * phase). */
static inline __attribute__((always_inline)) KERNEL_FN void rows8_gemv(int64_t n, int64_t nr, float *s, const uint8_t *pw,
                                                                      uint64_t ws, const uint8_t *px, const bool q4) {
    const uint64_t gblock = LAIR_ROWS8 * (q4 ? sizeof(block_q4_0) : sizeof(block_q8_0)), xsize = sizeof(block_q8_0);
    const int64_t nb = n / 32;
    float dx[ROWS8_CHUNK];
    int32_t ysum8[ROWS8_CHUNK];
    const bool sums = q4 || KERNEL_VNNI; /* the offset sums: Q4_0's levels, VNNI's Q8_0 + 128 */
    if (nb <= ROWS8_CHUNK) q80_act_prep(nb, px, dx, ysum8, sums);
    int64_t r = 0;
    for (; r + LAIR_ROWS8 <= nr; r += LAIR_ROWS8) {
        const uint8_t *g = pw + (uint64_t)r * ws;
        __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int64_t c0 = 0; c0 < nb; c0 += ROWS8_CHUNK) {
            const int64_t m = nb - c0 < ROWS8_CHUNK ? nb - c0 : ROWS8_CHUNK;
            if (nb > ROWS8_CHUNK) q80_act_prep(m, px + (uint64_t)c0 * xsize, dx, ysum8, sums);
            rows8_blocks(m, g + (uint64_t)c0 * gblock, px + (uint64_t)c0 * xsize, dx, ysum8, a, q4);
        }
        _mm256_storeu_ps(s + r, _mm256_add_ps(_mm256_add_ps(a[0], a[2]), _mm256_add_ps(a[1], a[3])));
    }
    if (r < nr) (q4 ? lair_gemv_q4_0_avx2 : lair_gemv_q8_0_avx2)(n, nr - r, s + r, pw + (uint64_t)r * ws, ws, px);
}

void KERNEL_FN KERNEL_NAME(lair_gemv_rows8_q4_0)(int64_t n, int64_t nr, float *s, const void *w, uint64_t ws, const void *x) {
    rows8_gemv(n, nr, s, w, ws, x, true);
}

void KERNEL_FN KERNEL_NAME(lair_gemv_rows8_q8_0)(int64_t n, int64_t nr, float *s, const void *w, uint64_t ws, const void *x) {
    rows8_gemv(n, nr, s, w, ws, x, false);
}

#endif
