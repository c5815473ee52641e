/* Q4_K and Q6_K products on weights in groups of 8 interleaved rows
 * (tensor/rows8.h), AVX2 + FMA + F16C: decode's gemv and, read in place,
 * the gemm tiles of batches and prefill.
 *
 * In the file's layout one super-block of one row costs the one-row kernels
 * (vec_dot_avx2.c) about 130 instructions for 144 bytes of Q4_K: unpacking
 * 12 scale bytes, broadcasting each sub-block's scale, a madd per 32
 * products and the float part, all per row.  That is more than a core can
 * issue at its share of the memory bandwidth (12.5 GB/s per thread, against
 * about 15 needed).  Interleaved, a vector holds 4 levels of each of the 8
 * rows, a token's 4 activation bytes are broadcast against it, and maddubs
 * leaves the 8 rows' sums in place (lanes = rows), as in the Q4_0 tiles of
 * gemm_avx2.c; a sub-block's 8 scales come with one load, and the float
 * part is one instruction for 8 rows.  About 60 instructions per 144 bytes.
 *
 * Exactness: the integers are those of q4_K_rows / q6_K_rows, and the
 * float steps are theirs lane by lane (k_phases in vec_dot_avx2.c): per
 * super-block i, P_{i mod 8} = fma(c_i, S_i, P) with c_i = dy_i * d_i, then
 * (Q4_K) fma(-e_i, M_i, P) with e_i = dy_i * dmin_i, and at the end
 * ((P0 + P4) + (P2 + P6)) + ((P1 + P5) + (P3 + P7)).  So a row gives the
 * bits of vec_dot on the row as the file has it.
 *
 * Built again with KERNEL_VNNI for the AVX-512 table (rows8_k_avx512.c):
 * a sub-block's steps are then summed in int32 by vpdpbusd and multiplied
 * by the rows' scales with one vpmulld, the same integers. */
#if defined(__x86_64__)

#include "kernels/avx2_inline.h"
#include "kernels/kernels.h"
#include "kernels/kernels_internal.h"
#include "tensor/rows8.h"

/* Token t's Q8_K data of super-block b: its int8 values, float scale and
 * 16 int16 sums (one per 16 values).  The gemv reads one block_q8_K row
 * (grouped false, t = 0), the gemm a group of 8 tokens as gemm_avx2.c packs
 * them (q8_K_group_block in avx2_inline.h); both are constants in every
 * instance, so each token's data is at a constant offset. */
static inline __attribute__((always_inline)) const uint8_t *act_q(const uint8_t *x, int64_t b, int t, const bool grouped) {
    return grouped ? (const uint8_t *)((const q8_K_group_block *)(const void *)x + b)->q[t]
                   : x + (uint64_t)b * sizeof(block_q8_K) + offsetof(block_q8_K, qs);
}

static inline __attribute__((always_inline)) float act_d(const uint8_t *x, int64_t b, int t, const bool grouped) {
    return grouped ? ((const q8_K_group_block *)(const void *)x + b)->d[t] : f32_at(x + (uint64_t)b * sizeof(block_q8_K) + offsetof(block_q8_K, d));
}

static inline __attribute__((always_inline)) const uint8_t *act_bsums(const uint8_t *x, int64_t b, int t, const bool grouped) {
    return grouped ? (const uint8_t *)((const q8_K_group_block *)(const void *)x + b)->bs16[t]
                   : x + (uint64_t)b * sizeof(block_q8_K) + offsetof(block_q8_K, bsums);
}

/* Super-blocks ahead that are prefetched into L2 (9.2 KB of Q4_K, 13.4 KB
 * of Q6_K).  Of 2, 4, 8 and 12 (two threads, 2048 x 65536, three runs
 * each against a plain read) 8 was as good as any for Q4_K (0.85-0.95 of
 * the read) and the best for Q6_K; 2 left Q6_K at 0.72. */
#define K_ROWS8_PREFETCH 8

#define Q4K_GROUP_BYTES (LAIR_ROWS8 * sizeof(block_q4_K))
#define Q6K_GROUP_BYTES (LAIR_ROWS8 * sizeof(block_q6_K))

/* Token t's 8 sums of 32 activations (sub-blocks of Q4_K) as int16, from
 * its 16 sums of 16 (each pair at most 32 * 128 in magnitude). */
static inline KERNEL_FN __m128i q8k_sub_sums(const uint8_t *bs) { return _mm_hadd_epi16(load16(bs), load16(bs + 16)); }

/* Sub-block j = 2c + odd of Q4_K super-block b (group block gb) against
 * the T tokens, into their exact sums S[t]. */
static inline __attribute__((always_inline)) KERNEL_FN void q4_K_rows8_sub_block(const uint8_t *gb, int c, const bool odd, const uint8_t *x,
                                                                              int64_t b, __m256i S[], const int T, const bool grouped) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const int j = 2 * c + odd;
    const __m128i sc8 = _mm_and_si128(_mm_loadl_epi64((const __m128i *)(const void *)(gb + 32 + 8 * j)), _mm_set1_epi8(0x3F));
    __m256i wv[8];
    _Pragma("GCC unroll 8") for (int s = 0; s < 8; s++) {
        __m256i v = load32(gb + 128 + 32 * (8 * c + s));
        wv[s] = _mm256_and_si256(odd ? _mm256_srli_epi16(v, 4) : v, m4);
    }
#if KERNEL_VNNI
    /* the sub-block's int32 sums (8 vpdpbusd) times the rows' scales */
    const __m256i sc32 = _mm256_cvtepu8_epi32(sc8);
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) {
        S[t] = _mm256_add_epi32(S[t], _mm256_mullo_epi32(dpbusd_steps(wv, act_q(x, b, t, grouped) + 32 * j, 0), sc32));
    }
#else
    const __m256i sc = dup_rows_i16(sc8);
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) {
        const uint8_t *y = act_q(x, b, t, grouped) + 32 * j;
        __m256i s16 = _mm256_setzero_si256();
        _Pragma("GCC unroll 8") for (int s = 0; s < 8; s++) {
            s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(wv[s], _mm256_set1_epi32((int)u32_at(y + 4 * s))));
            __asm__("" : "+x"(s16)); /* a chain (see q4_0_tile_block_tokens in gemm_avx2.c) */
        }
        S[t] = _mm256_add_epi32(S[t], _mm256_madd_epi16(s16, sc));
    }
#endif
}

/* out[t][i] = dot(row i of the group at w, token t), t < T (1..8, a
 * constant in each instance), over nb super-blocks of Q4_K.
 * Per super-block: the rows' scales and mins decoded from their 96 bytes
 * in a few vector operations; per sub-block j its 8 step vectors (unit
 * 8(j / 2) + s, low nibbles for even j, high for odd) against each token,
 * 8 maddubs summed in int16 (8 x 2 x 15 x 128 = 30720 < 32767) and one
 * madd with the scales; the min term M is 4 madds of the rows' paired
 * mins against the token's paired sub-block sums. */
static inline __attribute__((always_inline)) KERNEL_FN void q4_K_rows8(int64_t nb, const uint8_t *w, const uint8_t *x,
                                                                     float out[][8], const int T, const bool grouped) {
    __m256 acc[8][8]; /* [token][phase b mod 8] */
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) for (int p = 0; p < 8; p++) acc[t][p] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const int ph = (int)(b & 7);
        const uint8_t *gb = w + (uint64_t)b * Q4K_GROUP_BYTES;
        for (uint64_t l = 0; l < Q4K_GROUP_BYTES; l += 64)
            _mm_prefetch((const char *)(gb + K_ROWS8_PREFETCH * Q4K_GROUP_BYTES + l), _MM_HINT_T1);
        __m256i mn[2]; /* (the sub-blocks read their scales from memory, widened) */
        q4_K_group_mins(gb, mn);
        const __m256i mnp[4] = {pair_rows_i16(_mm256_castsi256_si128(mn[0])), pair_rows_i16(_mm256_extracti128_si256(mn[0], 1)),
                                pair_rows_i16(_mm256_castsi256_si128(mn[1])), pair_rows_i16(_mm256_extracti128_si256(mn[1], 1))};
        __m256i S[8];
        _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) S[t] = _mm256_setzero_si256();
        /* chunks of two sub-blocks; rolled but for one token, where the
         * unrolled loop keeps the chunk's loads for both (with many tokens
         * the unrolled code overflows the instruction caches and spills) */
        if (T == 1) {
            _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++) {
                q4_K_rows8_sub_block(gb, c, false, x, b, S, T, grouped);
                q4_K_rows8_sub_block(gb, c, true, x, b, S, T, grouped);
            }
        } else {
            _Pragma("GCC unroll 1") for (int c = 0; c < 4; c++) {
                q4_K_rows8_sub_block(gb, c, false, x, b, S, T, grouped);
                q4_K_rows8_sub_block(gb, c, true, x, b, S, T, grouped);
            }
        }
        const __m256 d = _mm256_cvtph_ps(load16(gb)), dmin = _mm256_cvtph_ps(load16(gb + 16));
        _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) {
            const __m128i sub = q8k_sub_sums(act_bsums(x, b, t, grouped));
            __m256i M = _mm256_madd_epi16(mnp[0], _mm256_set1_epi32(_mm_cvtsi128_si32(sub)));
            M = _mm256_add_epi32(M, _mm256_madd_epi16(mnp[1], _mm256_set1_epi32(_mm_extract_epi32(sub, 1))));
            M = _mm256_add_epi32(M, _mm256_madd_epi16(mnp[2], _mm256_set1_epi32(_mm_extract_epi32(sub, 2))));
            M = _mm256_add_epi32(M, _mm256_madd_epi16(mnp[3], _mm256_set1_epi32(_mm_extract_epi32(sub, 3))));
            const __m256 dy = _mm256_set1_ps(act_d(x, b, t, grouped));
            acc[t][ph] = _mm256_fmadd_ps(_mm256_mul_ps(dy, d), _mm256_cvtepi32_ps(S[t]), acc[t][ph]);
            acc[t][ph] = _mm256_fnmadd_ps(_mm256_mul_ps(dy, dmin), _mm256_cvtepi32_ps(M), acc[t][ph]);
        }
    }
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) _mm256_storeu_ps(out[t], k_phases_sum(acc[t]));
}

/* Quarter q = 2h + hf of Q6_K super-block b (group block gb): the 16-element
 * half hf of the 4 groups of half h, against the T tokens, into S[t]. */
static inline __attribute__((always_inline)) KERNEL_FN void q6_K_rows8_quarter(const uint8_t *gb, int q, const uint8_t *x, int64_t b,
                                                                            __m256i S[], const int T, const bool grouped) {
    const uint8_t *scb = gb + 16, *lv = gb + 144;
    const int h = q / 2, hf = q % 2;
#if KERNEL_VNNI
    /* per group g: its sub-block's 4 steps (4 quads' levels, 16 vectors:
     * there are 32 registers) in one int32 sum, times the rows' scales */
    __m256i u[4][4]; /* [step 4hf + e][group] */
    _Pragma("GCC unroll 4") for (int e = 0; e < 4; e++) q6_K_quad_levels(lv + 96 * (8 * h + 4 * hf + e), u[e]);
    __m256i sc32[4];
    _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++)
        sc32[g] = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(scb + 8 * (8 * h + 2 * g + hf))));
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) {
        __m256i st = S[t];
        _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++) {
            const uint8_t *y = act_q(x, b, t, grouped) + 128 * h + 32 * g + 16 * hf;
            __m256i p = _mm256_setzero_si256(), p2 = _mm256_setzero_si256();
            p = dpbusd_bcast(p, u[0][g], y);
            p2 = dpbusd_bcast(p2, u[1][g], y + 4);
            p = dpbusd_bcast(p, u[2][g], y + 8);
            p2 = dpbusd_bcast(p2, u[3][g], y + 12);
            st = _mm256_add_epi32(st, _mm256_mullo_epi32(_mm256_add_epi32(p, p2), sc32[g]));
        }
        S[t] = st;
    }
#else
    __m256i sc[4]; /* group g's sub-block 8h + 2g + hf */
    _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++)
        sc[g] = dup_rows_i16(_mm_loadl_epi64((const __m128i *)(const void *)(scb + 8 * (8 * h + 2 * g + hf))));
    _Pragma("GCC unroll 2") for (int k = 0; k < 2; k++) {
        const int s0 = 4 * hf + 2 * k;
        __m256i u[2][4]; /* steps s0, s0 + 1 of the 4 groups, from their quads */
        _Pragma("GCC unroll 2") for (int e = 0; e < 2; e++) q6_K_quad_levels(lv + 96 * (8 * h + s0 + e), u[e]);
        /* tokens outer: a token's sum stays in a register for the 4 groups */
        _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) {
            __m256i st = S[t];
            _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++) {
                const uint8_t *y = act_q(x, b, t, grouped) + 128 * h + 32 * g + 4 * s0;
                const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(u[0][g], _mm256_set1_epi32((int)u32_at(y))),
                                                   _mm256_maddubs_epi16(u[1][g], _mm256_set1_epi32((int)u32_at(y + 4))));
                st = _mm256_add_epi32(st, _mm256_madd_epi16(p, sc[g]));
            }
            S[t] = st;
        }
    }
#endif
}

/* The same for Q6_K: levels u in 0..63, value u - 32, int8 scales per 16
 * elements.  Step s (elements + 4s ..) of the groups (h, g) of 32 elements
 * (128h + 32g ..) comes from the quad (h, s) of the layout (rows8.h).
 * Two steps' maddubs are added in int16 (2 x 2 x 63 x 128 = 32256) before
 * each madd with the 16-element sub-block's scales; the offset is taken
 * out once per super-block: S = sum sc_j * sum u * y - 32 * sum sc_j * bsum_j. */
static inline __attribute__((always_inline)) KERNEL_FN void q6_K_rows8(int64_t nb, const uint8_t *w, const uint8_t *x,
                                                                     float out[][8], const int T, const bool grouped) {
    __m256 acc[8][8];
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) for (int p = 0; p < 8; p++) acc[t][p] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const int ph = (int)(b & 7);
        const uint8_t *gb = w + (uint64_t)b * Q6K_GROUP_BYTES, *scb = gb + 16;
        for (uint64_t l = 0; l < Q6K_GROUP_BYTES; l += 64)
            _mm_prefetch((const char *)(gb + K_ROWS8_PREFETCH * Q6K_GROUP_BYTES + l), _MM_HINT_T1);
        __m256i S[8];
        _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) S[t] = _mm256_setzero_si256();
        /* per quarter (half h, 16-element half hf of its groups): the 4
         * groups' scales; per pair of steps s, s + 1 (s = 4hf + 2k): their
         * quads.  Rolled but for one token (see q4_K_rows8). */
        if (T == 1) {
            _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++) q6_K_rows8_quarter(gb, q, x, b, S, T, grouped);
        } else {
            _Pragma("GCC unroll 1") for (int q = 0; q < 4; q++) q6_K_rows8_quarter(gb, q, x, b, S, T, grouped);
        }
        __m256i scp[8]; /* [pair pp]: row i's scales of sub-blocks 2pp, 2pp + 1 in lanes 2i, 2i + 1 */
        _Pragma("GCC unroll 8") for (int pp = 0; pp < 8; pp++) scp[pp] = pair_rows_i16(load16(scb + 16 * pp));
        const __m256 d = _mm256_cvtph_ps(load16(gb));
        _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) {
            const uint8_t *bs = act_bsums(x, b, t, grouped);
            __m256i off = _mm256_setzero_si256();
            _Pragma("GCC unroll 8") for (int pp = 0; pp < 8; pp++)
                off = _mm256_add_epi32(off, _mm256_madd_epi16(scp[pp], _mm256_set1_epi32((int)u32_at(bs + 4 * pp))));
            const __m256 dy = _mm256_set1_ps(act_d(x, b, t, grouped));
            acc[t][ph] = _mm256_fmadd_ps(_mm256_mul_ps(dy, d), _mm256_cvtepi32_ps(_mm256_sub_epi32(S[t], _mm256_slli_epi32(off, 5))),
                                         acc[t][ph]);
        }
    }
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) _mm256_storeu_ps(out[t], k_phases_sum(acc[t]));
}

/* ---- gemv: one token, its block_q8_K row read in place ---------------------- */

static inline __attribute__((always_inline)) KERNEL_FN void k_rows8_gemv(int64_t n, int64_t nr, float *s, const uint8_t *pw,
                                                                       uint64_t ws, const uint8_t *px, const bool q6) {
    int64_t r = 0;
    for (; r + LAIR_ROWS8 <= nr; r += LAIR_ROWS8) {
        float out[1][8];
        if (q6) q6_K_rows8(n / QK_K, pw + (uint64_t)r * ws, px, out, 1, false);
        else q4_K_rows8(n / QK_K, pw + (uint64_t)r * ws, px, out, 1, false);
        memcpy(s + r, out[0], sizeof out[0]);
    }
    if (r < nr) (q6 ? lair_gemv_q6_K_avx2 : lair_gemv_q4_K_avx2)(n, nr - r, s + r, pw + (uint64_t)r * ws, ws, px);
}

void KERNEL_FN KERNEL_NAME(lair_gemv_rows8_q4_K)(int64_t n, int64_t nr, float *s, const void *w, uint64_t ws, const void *x) {
    k_rows8_gemv(n, nr, s, w, ws, x, false);
}

void KERNEL_FN KERNEL_NAME(lair_gemv_rows8_q6_K)(int64_t n, int64_t nr, float *s, const void *w, uint64_t ws, const void *x) {
    k_rows8_gemv(n, nr, s, w, ws, x, true);
}

/* ---- gemm: a group of T tokens as gemm_avx2.c packs it --------------------- */

#define K_GROUP_CASES(KERNEL)                          \
    switch (T) {                                       \
    case 1: KERNEL(nb, w, x, out, 1, true); break;     \
    case 2: KERNEL(nb, w, x, out, 2, true); break;     \
    case 3: KERNEL(nb, w, x, out, 3, true); break;     \
    case 4: KERNEL(nb, w, x, out, 4, true); break;     \
    case 5: KERNEL(nb, w, x, out, 5, true); break;     \
    case 6: KERNEL(nb, w, x, out, 6, true); break;     \
    case 7: KERNEL(nb, w, x, out, 7, true); break;     \
    default: KERNEL(nb, w, x, out, 8, true); break;    \
    }

void KERNEL_FN KERNEL_NAME(lair_rows8_group_q4_K)(int64_t nb, const void *group_w, const void *group_x, float out[][8], int T) {
    const uint8_t *w = group_w, *x = group_x;
    K_GROUP_CASES(q4_K_rows8)
}

void KERNEL_FN KERNEL_NAME(lair_rows8_group_q6_K)(int64_t nb, const void *group_w, const void *group_x, float out[][8], int T) {
    const uint8_t *w = group_w, *x = group_x;
    K_GROUP_CASES(q6_K_rows8)
}

#endif /* __x86_64__ */
