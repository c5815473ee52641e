/* Matrix x matrix products for prefill (AVX2 + FMA + F16C).
 *
 * Q4_0 weights against Q8_0 activations.  The one-weight-row kernels spend
 * most of their instructions reducing each 32-element block's products to
 * one integer (a horizontal sum per block, per token).  Here the reduction
 * disappears: a tile of 8 weight rows is repacked so that one vector holds
 * 4 consecutive levels of each of the 8 rows,
 *
 *     q[s] = [row0 k..k+3 | row1 k..k+3 | ... | row7 k..k+3],  k = 4s,
 *
 * and one token's 4 activation bytes k..k+3 are broadcast against it:
 * maddubs gives the 8 rows' partial sums in place, lanes = rows.  Eight
 * steps cover a block; the int16 partial sums of the 8 steps are added
 * before one madd widens them to int32 (levels are unsigned 0..15 and
 * activations within +-127, so a maddubs lane is at most 2 * 15 * 127 =
 * 3810 and 8 of them 30480 < 32767).  The offset of the levels (u - 8) is
 * taken out once per block and token: S = sum(u * y) - 8 * sum(y).  Per
 * block, token and 8 rows that is 8 maddubs, 8 adds, and 5 instructions
 * for the float part, against about 6 instructions per row in vec_dot.
 *
 * The float part is the one every Q4_0 kernel shares (vec_dot_avx2.c): the
 * exact block sum S_b, c_b = float(d_w) * float(d_x), A_j = fma(c_b, S_b, A_j)
 * for blocks b = j (mod 4), dot = (A_0 + A_2) + (A_1 + A_3); with lanes =
 * rows it is evaluated for 8 rows at once.  So a product here gives the
 * same bits as vec_dot, vec_dot_rows and gemv: prefill, batched decode and
 * single decode agree on every row and token.
 *
 * Q8_0 weights use the same tiles and token groups with signed values; see
 * q8_0_tile_block_tokens for how the signed x signed products stay exact.
 *
 * The AVX-512 table builds this file again with KERNEL_VNNI (gemm_avx512.c,
 * avx2_inline.h): a step is then one vpdpbusd into int32 lanes, with the
 * token's 4 bytes broadcast from memory by the instruction itself, instead
 * of maddubs, an int16 add and (per block) a madd.  The integers are the
 * same, so the bits are.
 *
 * Costs: a tile is repacked once per call (8 unpacks and an 8 x 8 dword
 * transpose per block) and used by every token of the call; the
 * activations' scales and sums are prepared once per call for all its
 * tokens.  Both live in the caller's scratch (LAIR_GEMM_SCRATCH_BYTES).
 * Weights the loader regrouped into 8 interleaved rows (tensor/rows8.h)
 * are tiles already but for the Q4_0 nibble split, so the kernels read
 * them in place and split nibbles as they go: for the few tokens of a
 * batched decode step the packing pass had cost as much as 30% of the
 * kernel, waiting on memory with nothing to overlap.  Q4_K and Q6_K groups
 * (their in-place kernels are in rows8_k_avx2.c) are read in place for up
 * to 8 tokens and packed into tiles for more (see gemm_format). */
#if defined(__x86_64__)

#include <limits.h>

#include "kernels/avx2_inline.h"
#include "kernels/kernels.h"
#include "kernels/kernels_internal.h"
#include "tensor/rows8.h"

/* One 32-element block of a tile: values 4s..4s+3 of rows 0..7 in q[s]
 * (Q4_0: the unsigned levels 0..15; Q8_0: the signed values); the rows'
 * scales as floats (0 for rows past the end of the matrix). */
typedef struct tile32_block {
    uint8_t q[8][32];
    float d[8];
} tile32_block;

_Static_assert(sizeof(tile32_block) <= LAIR_GEMM_TILE_BLOCK_BYTES && sizeof(tile32_block) % 32 == 0, "tile block size");

/* Rows i = 0..7 of 8 dwords each, transposed: r[k] = dword k of every row. */
static inline KERNEL_FN void transpose8_epi32(__m256i r[8]) {
    __m256i t[8], u[8];
    UNROLL_FULL for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_epi32(r[2 * i], r[2 * i + 1]);     /* d0 d1 | d4 d5 of rows 2i, 2i+1 */
        t[2 * i + 1] = _mm256_unpackhi_epi32(r[2 * i], r[2 * i + 1]); /* d2 d3 | d6 d7 */
    }
    UNROLL_FULL for (int h = 0; h < 2; h++) { /* rows 0..3, then 4..7 */
        u[4 * h + 0] = _mm256_unpacklo_epi64(t[4 * h], t[4 * h + 2]);     /* d0 | d4 */
        u[4 * h + 1] = _mm256_unpackhi_epi64(t[4 * h], t[4 * h + 2]);     /* d1 | d5 */
        u[4 * h + 2] = _mm256_unpacklo_epi64(t[4 * h + 1], t[4 * h + 3]); /* d2 | d6 */
        u[4 * h + 3] = _mm256_unpackhi_epi64(t[4 * h + 1], t[4 * h + 3]); /* d3 | d7 */
    }
    UNROLL_FULL for (int k = 0; k < 4; k++) {
        r[k] = _mm256_permute2x128_si256(u[k], u[4 + k], 0x20);
        r[k + 4] = _mm256_permute2x128_si256(u[k], u[4 + k], 0x31);
    }
}

/* The f16 at p + i * ws of rows i < nrow (0 for the others) as 8 floats:
 * gathered in general registers and converted with one instruction. */
static inline KERNEL_FN __m256 rows_f16(const uint8_t *p, uint64_t ws, int nrow) {
    /* two words in registers (unrolled, constant shifts): an array indexed
     * in a loop went through the stack, and the vector load after its
     * scalar stores stalled on store forwarding */
    uint64_t lo = 0, hi = 0;
    UNROLL_FULL for (int i = 0; i < 4; i++) {
        if (i < nrow) lo |= (uint64_t)u16_at(p + (uint64_t)i * ws) << (16 * i);
        if (i + 4 < nrow) hi |= (uint64_t)u16_at(p + (uint64_t)(i + 4) * ws) << (16 * i);
    }
    return _mm256_cvtph_ps(_mm_insert_epi64(_mm_cvtsi64_si128((long long)lo), (long long)hi, 1));
}

/* Rows r[0..7] of 16 bytes (per-row sub-block scales or mins), transposed:
 * g[k] holds column 2k (bytes 0..7, rows 0..7) and column 2k + 1 (bytes
 * 8..15). */
static inline KERNEL_FN void transpose8x16_epi8(const __m128i r[8], __m128i g[8]) {
    __m128i a[8], e[8];
    UNROLL_FULL for (int i = 0; i < 4; i++) { /* rows 2i, 2i+1 interleaved: columns 0..7, then 8..15 */
        a[2 * i] = _mm_unpacklo_epi8(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm_unpackhi_epi8(r[2 * i], r[2 * i + 1]);
    }
    UNROLL_FULL for (int h = 0; h < 2; h++) /* rows 0..3 (h = 0) and 4..7: four columns per vector */
        UNROLL_FULL for (int k = 0; k < 2; k++) {
            e[4 * h + 2 * k] = _mm_unpacklo_epi16(a[4 * h + k], a[4 * h + 2 + k]);
            e[4 * h + 2 * k + 1] = _mm_unpackhi_epi16(a[4 * h + k], a[4 * h + 2 + k]);
        }
    UNROLL_FULL for (int k = 0; k < 4; k++) { /* rows 0..3 with rows 4..7: two columns per vector */
        g[2 * k] = _mm_unpacklo_epi32(e[k], e[4 + k]);
        g[2 * k + 1] = _mm_unpackhi_epi32(e[k], e[4 + k]);
    }
}

/* From columns g (transpose8x16_epi8), as int16 lanes: dup[j] = column j
 * with each row twice (row r in lanes 2r, 2r + 1), for j < ndup. */
static inline KERNEL_FN void columns_dup_i16(const __m128i g[8], int16_t dup[][16], int ndup) {
    UNROLL_FULL for (int j = 0; j < ndup; j++) {
        __m128i v = j % 2 ? _mm_srli_si128(g[j / 2], 8) : g[j / 2];
        _mm256_store_si256((__m256i *)(void *)dup[j], dup_rows_i16(v));
    }
}

/* pair[p] = columns 2p and 2p + 1 interleaved (row r's in lanes 2r, 2r + 1),
 * as int16, for p < npair. */
static inline KERNEL_FN void columns_pair_i16(const __m128i g[8], int16_t pair[][16], int npair) {
    UNROLL_FULL for (int p = 0; p < npair; p++)
        _mm256_store_si256((__m256i *)(void *)pair[p], pair_rows_i16(g[p]));
}

/* ---- the driver shared by every format ---------------------------------------
 * A format supplies its tile and token-group layouts (bytes per block of
 * its own size), their packing functions, and its tile x group kernel for
 * T = 1..8 tokens.  Token groups are packed once per call, each tile once
 * and applied to every group. */
typedef void (*tile_pack_fn)(int64_t nb, const uint8_t *w, uint64_t ws, int nrow, void *tile);
typedef void (*group_pack_fn)(int64_t nb, const uint8_t *x, uint64_t xs, int nt, void *group);
typedef void (*tile_group_fn)(int64_t nb, const void *tile, const void *group, float out[][8]);

typedef struct gemm_format {
    int64_t block;           /* elements per block */
    size_t wblock_bytes;     /* bytes of one weight block */
    size_t tile_bytes, group_bytes;
    tile_pack_fn pack_tile;
    group_pack_fn pack_group;
    tile_group_fn tokens[8]; /* [T - 1] */
    /* the same kernels reading a group of 8 interleaved rows (tensor/rows8.h)
     * in place of a tile; NULL: the format has no such layout */
    tile_group_fn rows8_tokens[8];
    /* They re-derive a tile's vectors per token group: cheap for Q4_0/Q8_0
     * (a nibble split), not for the K-quants' scales, mins and 6-bit levels.
     * Up to this many token groups per call they read in place; beyond, a
     * group of rows is packed into a tile first (pack_tile_rows8, cheaper
     * than from the file's layout: no transposes). */
    int rows8_in_place_groups;
    tile_pack_fn pack_tile_rows8; /* (nb, group of 8 rows, -, 8, tile); NULL if always in place */
} gemm_format;

/* Blocks packed between two rounds of prefetches of the next tile. */
#define PACK_PIECE 8

/* rows8: w is in groups of 8 interleaved rows (tensor/rows8.h), the rows
 * after the last whole group as the file has them.  A group is already a
 * tile in all but the nibble split (Q4_0), so the kernels read it in place:
 * no packing, and the group is read from memory while the kernel computes
 * (it prefetches ahead) instead of in a packing pass that only waits.
 * x_packed: scratch holds x's token groups already (lair_gemm_fn). */
static void gemm_run(const gemm_format *f, int64_t n, int64_t nr, int nt, float *y, int64_t ldy, const uint8_t *w,
                     uint64_t ws, const uint8_t *x, uint64_t xs, void *scratch, bool rows8, bool x_packed) {
    const int64_t nb = n / f->block;
    const int ng = (nt + 7) / 8;
    uint8_t *tile = scratch, *groups = tile + (size_t)nb * f->tile_bytes; /* groups: [ng][nb] */
    for (int gi = 0; gi < ng && !x_packed; gi++)
        f->pack_group(nb, x + (uint64_t)gi * 8 * xs, xs, nt - 8 * gi < 8 ? nt - 8 * gi : 8, groups + (size_t)gi * (size_t)nb * f->group_bytes);
    /* A tile's 8 rows are 8 interleaved streams, which the hardware
     * prefetchers follow poorly (with few tokens per call the packing
     * stalls on memory more than the kernel computes).  So the next tile's
     * rows, one contiguous range, are prefetched into L2 in order while
     * this tile is packed, a piece's share at a time. */
    const uint64_t pf_piece = (8 * ws * PACK_PIECE + (uint64_t)nb - 1) / (uint64_t)nb;
    for (int64_t r = 0; r < nr; r += 8) {
        const int nrow = nr - r < 8 ? (int)(nr - r) : 8;
        const bool group8 = rows8 && nrow == 8;
        const bool in_place = group8 && ng <= f->rows8_in_place_groups; /* else packed into the tile first */
        if (!in_place) {
            uintptr_t pf = (uintptr_t)(w + (uint64_t)r * ws) + 8 * ws, pf_end = (uintptr_t)(w + (uint64_t)(r + 16 < nr ? r + 16 : nr) * ws);
            for (int64_t b = 0; b < nb; b += PACK_PIECE) {
                for (uintptr_t p = pf, e = pf + pf_piece < pf_end ? pf + pf_piece : pf_end; p < e; p += 64)
                    _mm_prefetch((const char *)p, _MM_HINT_T1);
                pf += pf_piece;
                const int64_t m = nb - b < PACK_PIECE ? nb - b : PACK_PIECE;
                if (group8) f->pack_tile_rows8(m, w + (uint64_t)r * ws + (uint64_t)b * 8 * f->wblock_bytes, ws, 8, tile + (size_t)b * f->tile_bytes);
                else f->pack_tile(m, w + (uint64_t)r * ws + (uint64_t)b * f->wblock_bytes, ws, nrow, tile + (size_t)b * f->tile_bytes);
            }
        }
        const tile_group_fn *kernels = in_place ? f->rows8_tokens : f->tokens;
        const uint8_t *src = in_place ? w + (uint64_t)r * ws : tile;
        for (int gi = 0; gi < ng; gi++) {
            const int T = nt - 8 * gi < 8 ? nt - 8 * gi : 8;
            float out[8][8];
            kernels[T - 1](nb, src, groups + (size_t)gi * (size_t)nb * f->group_bytes, out);
            for (int k = 0; k < T; k++)
                for (int i = 0; i < nrow; i++) y[(int64_t)(8 * gi + k) * ldy + r + i] = out[k][i];
        }
    }
}

/* A format's packer NAME(nb, w, ws, nrow, tile) from its always-inline
 * NAME_rows: a full tile (the usual case) gets the row count as a
 * constant, so every loop over rows unrolls and the rows' vectors stay in
 * registers instead of going through the stack. */
#define TILE_PACK(NAME)                                                                 \
    static KERNEL_FN void NAME(int64_t nb, const uint8_t *w, uint64_t ws, int nrow, void *tile) { \
        if (nrow == 8) NAME##_rows(nb, w, ws, 8, tile);                                 \
        else NAME##_rows(nb, w, ws, nrow, tile);                                        \
    }

/* The 8 instances of a format's always-inline kernel KERNEL(nb, tile, group, out, T). */
#define TILE_GROUP_INSTANCE(KERNEL, TILE, GROUP, T)                                         \
    static KERNEL_FN void KERNEL##_##T(int64_t nb, const void *t, const void *g, float o[][8]) { \
        KERNEL(nb, (const TILE *)t, (const GROUP *)g, o, T);                               \
    }
#define TILE_GROUP_INSTANCES(KERNEL, TILE, GROUP)                                                                  \
    TILE_GROUP_INSTANCE(KERNEL, TILE, GROUP, 1) TILE_GROUP_INSTANCE(KERNEL, TILE, GROUP, 2)                          \
    TILE_GROUP_INSTANCE(KERNEL, TILE, GROUP, 3) TILE_GROUP_INSTANCE(KERNEL, TILE, GROUP, 4)                          \
    TILE_GROUP_INSTANCE(KERNEL, TILE, GROUP, 5) TILE_GROUP_INSTANCE(KERNEL, TILE, GROUP, 6)                          \
    TILE_GROUP_INSTANCE(KERNEL, TILE, GROUP, 7) TILE_GROUP_INSTANCE(KERNEL, TILE, GROUP, 8)
/* (two levels, so that a KERNEL_NAME(...) argument is expanded before pasting) */
#define TILE_GROUP_TABLE(KERNEL) TILE_GROUP_TABLE_(KERNEL)
#define TILE_GROUP_TABLE_(K) {K##_1, K##_2, K##_3, K##_4, K##_5, K##_6, K##_7, K##_8}

/* Repacks rows 0..nrow-1 (nrow <= 8) of nb blocks; missing rows are zeros. */
static inline __attribute__((always_inline)) KERNEL_FN void q4_0_tile_pack_rows(int64_t nb, const uint8_t *w, uint64_t ws, const int nrow, void *tile) {
    tile32_block *tb = tile;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *bw = w + (uint64_t)b * sizeof(block_q4_0);
        __m256i r[8];
        UNROLL_FULL for (int i = 0; i < 8; i++)
            r[i] = i < nrow ? unpack_nibbles16(bw + (uint64_t)i * ws + offsetof(block_q4_0, qs)) : _mm256_setzero_si256();
        _mm256_store_ps(tb[b].d, rows_f16(bw + offsetof(block_q4_0, d), ws, nrow));
        transpose8_epi32(r);
        UNROLL_FULL for (int s = 0; s < 8; s++) _mm256_store_si256((__m256i *)(void *)tb[b].q[s], r[s]);
    }
}
TILE_PACK(q4_0_tile_pack)

/* Q8_0: the rows' 32 signed values as they are. */
static inline __attribute__((always_inline)) KERNEL_FN void q8_0_tile_pack_rows(int64_t nb, const uint8_t *w, uint64_t ws, const int nrow, void *tile) {
    tile32_block *tb = tile;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *bw = w + (uint64_t)b * sizeof(block_q8_0);
        __m256i r[8];
        UNROLL_FULL for (int i = 0; i < 8; i++) r[i] = i < nrow ? load32(bw + (uint64_t)i * ws + offsetof(block_q8_0, qs)) : _mm256_setzero_si256();
        _mm256_store_ps(tb[b].d, rows_f16(bw + offsetof(block_q8_0, d), ws, nrow));
        transpose8_epi32(r);
        UNROLL_FULL for (int s = 0; s < 8; s++) _mm256_store_si256((__m256i *)(void *)tb[b].q[s], r[s]);
    }
}
TILE_PACK(q8_0_tile_pack)

/* One block of a group of 8 tokens: their Q8_0 values, scales as floats
 * and the weights' offset term -c * sum(y), where the products are of
 * weights stored as w + c (Q4_0's levels: c = 8; Q8_0 with VNNI: c = 128;
 * Q8_0 with AVX2, c = 0: |w| against y given w's sign); tokens past the
 * end of the call are zeros.  Gathering a group's blocks in one place lets
 * the inner loop address every token at a constant offset. */
typedef struct q8_0_group_block {
    int8_t q[8][32];
    float d[8];
    int32_t off[8];
} q8_0_group_block;

_Static_assert(sizeof(q8_0_group_block) <= LAIR_GEMM_GROUP_BLOCK_BYTES, "token group block size");

/* Gathers tokens 0..nt-1 (nt <= 8) of nb blocks into a group, with the
 * offset of weights stored as w + c. */
static inline __attribute__((always_inline)) KERNEL_FN void q8_0_group_pack_offset(int64_t nb, const uint8_t *x, uint64_t xs, int nt,
                                                                                   void *group, const int c) {
    q8_0_group_block *g = group;
    float dx[8];
    int32_t s8[8];
    for (int64_t b = 0; b < nb; b++) memset(&g[b], 0, sizeof g[b]);
    for (int t = 0; t < nt; t++) {
        const uint8_t *xt = x + (uint64_t)t * xs;
        for (int64_t b0 = 0; b0 < nb; b0 += 8) {
            const int64_t m = nb - b0 < 8 ? nb - b0 : 8;
            q80_act_prep(m, xt + (uint64_t)b0 * sizeof(block_q8_0), dx, s8, c != 0); /* s8: 8 * sum(y) */
            for (int64_t k = 0; k < m; k++) {
                q8_0_group_block *gb = &g[b0 + k];
                memcpy(gb->q[t], xt + (uint64_t)(b0 + k) * sizeof(block_q8_0) + offsetof(block_q8_0, qs), 32);
                gb->d[t] = dx[k];
                gb->off[t] = c ? -(c / 8) * s8[k] : 0;
            }
        }
    }
}

static KERNEL_FN void q4_0_group_pack(int64_t nb, const uint8_t *x, uint64_t xs, int nt, void *group) {
    q8_0_group_pack_offset(nb, x, xs, nt, group, 8);
}

static KERNEL_FN void q8_0_group_pack(int64_t nb, const uint8_t *x, uint64_t xs, int nt, void *group) {
    q8_0_group_pack_offset(nb, x, xs, nt, group, KERNEL_VNNI ? 128 : 0);
}

/* Q8_0 values as the unsigned operand of the products: |w| (AVX2, against
 * the activations given w's sign) or, with VNNI, w + 128 (against the
 * activations as they are; 128 * sum(y) is taken out once per block). */
static inline KERNEL_FN __m256i q8_0_unsigned(__m256i w) {
    return KERNEL_VNNI ? _mm256_xor_si256(w, _mm256_set1_epi8((char)0x80)) : _mm256_abs_epi8(w);
}

/* Block k's 8 step vectors (Q4_0: the unsigned levels; Q8_0: the values
 * made unsigned, q8_0_unsigned) and its rows' scales, from a packed tile (rows8 false)
 * or straight from a group of 8 interleaved rows: there a Q4_0 unit u
 * holds step u in its low nibbles and step u + 4 in its high ones, and
 * Q8_0 units are the steps.  *steps: the 8 signed step vectors, 32 bytes
 * apart, which the AVX2 Q8_0 kernel re-reads. */
static inline __attribute__((always_inline)) KERNEL_FN void tile32_block_load(const uint8_t *w, int64_t k, const bool rows8,
                                                                            const bool q8, __m256i wv[8], __m256 *dw,
                                                                            const uint8_t **steps) {
    if (!rows8) {
        const tile32_block *tb = (const tile32_block *)(const void *)w + k;
        *dw = _mm256_load_ps(tb->d);
        *steps = tb->q[0];
        _Pragma("GCC unroll 8") for (int s = 0; s < 8; s++) {
            __m256i v = _mm256_load_si256((const __m256i *)(const void *)tb->q[s]);
            wv[s] = q8 ? q8_0_unsigned(v) : v;
        }
        return;
    }
    const uint8_t *gb = w + (uint64_t)k * LAIR_ROWS8 * (q8 ? sizeof(block_q8_0) : sizeof(block_q4_0));
    *dw = _mm256_cvtph_ps(load16(gb));
    *steps = gb + LAIR_ROWS8 * sizeof(lair_f16);
    if (q8) {
        _Pragma("GCC unroll 8") for (int s = 0; s < 8; s++) wv[s] = q8_0_unsigned(load32(*steps + 32 * s));
        return;
    }
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) {
        __m256i v = load32(*steps + 32 * u);
        wv[u] = _mm256_and_si256(v, m4);
        wv[u + 4] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    }
}

/* One block (levels wv, row scales dw) against the T tokens of a group,
 * into the tokens' accumulators of phase J = b mod 4 (a constant, so the
 * accumulators, which do not fit in registers, are plain stack slots).
 * The block's 8 weight vectors stay in registers for every token.  The
 * empty asm after each add keeps the int16 sums a chain: reassociated, the
 * compiler would keep all 8 x T products live at once and spill them. */
static inline __attribute__((always_inline)) KERNEL_FN void q4_0_tile_block_tokens(const __m256i wv[8], __m256 dw,
                                                                                 const q8_0_group_block *xb,
                                                                                 __m256 acc[][4], const int T, const int J) {
    const __m256i ones = _mm256_set1_epi16(1);
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) {
        __m256i si;
#if KERNEL_VNNI
        si = dpbusd_steps(wv, xb->q[t], xb->off[t]);
        (void)ones;
#else
        __m256i s16 = _mm256_setzero_si256();
        _Pragma("GCC unroll 8") for (int s = 0; s < 8; s++) {
            int32_t y4;
            memcpy(&y4, &xb->q[t][4 * s], 4);
            s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(wv[s], _mm256_set1_epi32(y4)));
            __asm__("" : "+x"(s16));
        }
        si = _mm256_add_epi32(_mm256_madd_epi16(s16, ones), _mm256_set1_epi32(xb->off[t]));
#endif
        __m256 c = _mm256_mul_ps(dw, _mm256_set1_ps(xb->d[t]));
        acc[t][J] = _mm256_fmadd_ps(c, _mm256_cvtepi32_ps(si), acc[t][J]);
    }
}

/* Q8_0 weights are signed, and maddubs wants one unsigned side: the
 * weights' magnitudes |w| (aw, the unsigned side, up to 128) against the
 * activations given the weights' signs (sign_epi8: within +-127, Q8_0
 * activations never being -128), which is exact even for a weight of -128.
 * A maddubs lane can reach 2 * 128 * 127 = 32512, so each step is widened
 * at once (madd) instead of summing steps in int16 as Q4_0 does.  With
 * VNNI the weights are w + 128 (xor 0x80) against y as it is, and the
 * group's offset term takes out 128 * sum(y).  The float part is Q4_0's (and vec_dot_q8_0's): S_b exact, then c_b * S_b
 * into the phase accumulator of block b. */
static inline __attribute__((always_inline)) KERNEL_FN void q8_0_tile_block_tokens(const __m256i aw[8], __m256 dw,
                                                                                 const uint8_t *steps,
                                                                                 const q8_0_group_block *xb,
                                                                                 __m256 acc[][4], const int T, const int J) {
    const __m256i ones = _mm256_set1_epi16(1);
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) {
#if KERNEL_VNNI
        __m256i si = dpbusd_steps(aw, xb->q[t], xb->off[t]); /* sum (w + 128) y - 128 sum y */
        (void)ones, (void)steps;
#else
        __m256i si = _mm256_setzero_si256();
        _Pragma("GCC unroll 8") for (int s = 0; s < 8; s++) {
            int32_t y4;
            memcpy(&y4, &xb->q[t][4 * s], 4);
            /* the signed values are re-read from L1 (a load port) rather than
             * kept in registers beside |w| */
            __m256i ys = _mm256_sign_epi8(_mm256_set1_epi32(y4), load32(steps + 32 * s));
            si = _mm256_add_epi32(si, _mm256_madd_epi16(_mm256_maddubs_epi16(aw[s], ys), ones));
        }
#endif
        __m256 c = _mm256_mul_ps(dw, _mm256_set1_ps(xb->d[t]));
        acc[t][J] = _mm256_fmadd_ps(c, _mm256_cvtepi32_ps(si), acc[t][J]);
    }
}

/* Blocks ahead that the in-place (rows8) kernels prefetch into L2, as the
 * rows8 gemv does (rows8_avx2.c): with few tokens per call a group is
 * read from memory about as fast as it is computed on. */
#define TILE_ROWS8_PREFETCH 16

/* out[t][i] = dot(row i of the tile, token t of the group) for t < T (1..8,
 * a constant in each instance); w: a packed tile, or a group of 8
 * interleaved rows if rows8; q8 picks the Q8_0 block kernel. */
static inline __attribute__((always_inline)) KERNEL_FN void tile32_group(int64_t nb, const uint8_t *w, const q8_0_group_block *g,
                                                                       float out[][8], const int T, const bool rows8,
                                                                       const bool q8) {
    const uint64_t gblock = LAIR_ROWS8 * (q8 ? sizeof(block_q8_0) : sizeof(block_q4_0));
    __m256 acc[8][4];
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) for (int j = 0; j < 4; j++) acc[t][j] = _mm256_setzero_ps();
#define BLOCK_TOKENS(k, J)                                                 \
    do {                                                                   \
        __m256i wv[8];                                                     \
        __m256 dw;                                                         \
        const uint8_t *steps;                                              \
        tile32_block_load(w, k, rows8, q8, wv, &dw, &steps);               \
        if (q8) q8_0_tile_block_tokens(wv, dw, steps, &g[k], acc, T, J);   \
        else q4_0_tile_block_tokens(wv, dw, &g[k], acc, T, J);             \
    } while (0)
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) {
        if (rows8)
            for (uint64_t l = 0; l < 4 * gblock; l += 64)
                _mm_prefetch((const char *)(w + (uint64_t)(b + TILE_ROWS8_PREFETCH) * gblock + l), _MM_HINT_T1);
        BLOCK_TOKENS(b, 0);
        BLOCK_TOKENS(b + 1, 1);
        BLOCK_TOKENS(b + 2, 2);
        BLOCK_TOKENS(b + 3, 3);
    }
    if (b < nb) BLOCK_TOKENS(b, 0);
    if (b + 1 < nb) BLOCK_TOKENS(b + 1, 1);
    if (b + 2 < nb) BLOCK_TOKENS(b + 2, 2);
#undef BLOCK_TOKENS
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++)
        _mm256_storeu_ps(out[t], _mm256_add_ps(_mm256_add_ps(acc[t][0], acc[t][2]), _mm256_add_ps(acc[t][1], acc[t][3])));
}

static inline __attribute__((always_inline)) KERNEL_FN void q4_0_tile_group(int64_t nb, const uint8_t *tile,
                                                                          const q8_0_group_block *g, float out[][8], const int T) {
    tile32_group(nb, tile, g, out, T, false, false);
}

static inline __attribute__((always_inline)) KERNEL_FN void q8_0_tile_group(int64_t nb, const uint8_t *tile,
                                                                          const q8_0_group_block *g, float out[][8], const int T) {
    tile32_group(nb, tile, g, out, T, false, true);
}

static inline __attribute__((always_inline)) KERNEL_FN void q4_0_rows8_group(int64_t nb, const uint8_t *group,
                                                                           const q8_0_group_block *g, float out[][8], const int T) {
    tile32_group(nb, group, g, out, T, true, false);
}

static inline __attribute__((always_inline)) KERNEL_FN void q8_0_rows8_group(int64_t nb, const uint8_t *group,
                                                                           const q8_0_group_block *g, float out[][8], const int T) {
    tile32_group(nb, group, g, out, T, true, true);
}

TILE_GROUP_INSTANCES(q4_0_tile_group, uint8_t, q8_0_group_block)
TILE_GROUP_INSTANCES(q8_0_tile_group, uint8_t, q8_0_group_block)
TILE_GROUP_INSTANCES(q4_0_rows8_group, uint8_t, q8_0_group_block)
TILE_GROUP_INSTANCES(q8_0_rows8_group, uint8_t, q8_0_group_block)
static const gemm_format q4_0_format = {QK4_0, sizeof(block_q4_0), sizeof(tile32_block), sizeof(q8_0_group_block), q4_0_tile_pack, q4_0_group_pack, TILE_GROUP_TABLE(q4_0_tile_group), TILE_GROUP_TABLE(q4_0_rows8_group), INT_MAX, NULL};
static const gemm_format q8_0_format = {QK8_0, sizeof(block_q8_0), sizeof(tile32_block), sizeof(q8_0_group_block), q8_0_tile_pack, q8_0_group_pack, TILE_GROUP_TABLE(q8_0_tile_group), TILE_GROUP_TABLE(q8_0_rows8_group), INT_MAX, NULL};

void KERNEL_FN KERNEL_NAME(lair_gemm_q4_0)(int64_t n, int64_t nr, int nt, float *y, int64_t ldy, const void *w, uint64_t ws,
                                 const void *x, uint64_t xs, void *scratch, bool x_packed) {
    gemm_run(&q4_0_format, n, nr, nt, y, ldy, w, ws, x, xs, scratch, false, x_packed);
}

void KERNEL_FN KERNEL_NAME(lair_gemm_q8_0)(int64_t n, int64_t nr, int nt, float *y, int64_t ldy, const void *w, uint64_t ws,
                                 const void *x, uint64_t xs, void *scratch, bool x_packed) {
    gemm_run(&q8_0_format, n, nr, nt, y, ldy, w, ws, x, xs, scratch, false, x_packed);
}

void KERNEL_FN KERNEL_NAME(lair_gemm_rows8_q4_0)(int64_t n, int64_t nr, int nt, float *y, int64_t ldy, const void *w, uint64_t ws,
                                       const void *x, uint64_t xs, void *scratch, bool x_packed) {
    gemm_run(&q4_0_format, n, nr, nt, y, ldy, w, ws, x, xs, scratch, true, x_packed);
}

void KERNEL_FN KERNEL_NAME(lair_gemm_rows8_q8_0)(int64_t n, int64_t nr, int nt, float *y, int64_t ldy, const void *w, uint64_t ws,
                                       const void *x, uint64_t xs, void *scratch, bool x_packed) {
    gemm_run(&q8_0_format, n, nr, nt, y, ldy, w, ws, x, xs, scratch, true, x_packed);
}

/* ---- Q4_K against Q8_K -----------------------------------------------------
 * The same idea per super-block of 256: each of the 8 sub-blocks of 32 is
 * 8 steps of 4 levels x 8 rows; a sub-block's int16 step sums are added
 * (levels 0..15, activations -128..127: 8 x 2 x 15 x 128 = 30720) and
 * widened with one madd against the rows' 6-bit scales, giving the exact
 * S of vec_dot_avx2.c's q4_K_rows for 8 rows at once; the min term M is 4
 * madds of the rows' mins against the token's sub-block sums.  The float
 * steps are q4_K_rows' own (k_phases in vec_dot_avx2.c), per lane. */

/* One super-block of a tile of 8 rows. */
typedef struct q4_K_tile_block {
    uint8_t q[8][8][32]; /* [sub-block][step]: levels 4s..4s+3 of rows 0..7 */
    int16_t sc[8][16];   /* [sub-block]: row r's scale in lanes 2r and 2r+1 */
    int16_t mn[4][16];   /* [pair p]: row r's mins of sub-blocks 2p, 2p+1 in lanes 2r, 2r+1 */
    float d[8], dmin[8];
} q4_K_tile_block;

_Static_assert(sizeof(q4_K_tile_block) <= 8 * LAIR_GEMM_TILE_BLOCK_BYTES && sizeof(q4_K_tile_block) % 32 == 0,
               "Q4_K tile block fits the scratch");
_Static_assert(sizeof(q8_K_group_block) <= 8 * LAIR_GEMM_GROUP_BLOCK_BYTES, "Q8_K group block fits the scratch");

static inline __attribute__((always_inline)) KERNEL_FN void q4_K_tile_pack_rows(int64_t nb, const uint8_t *w, uint64_t ws, const int nrow, void *tile) {
    q4_K_tile_block *tb = tile;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < nb; b++) {
        q4_K_tile_block *t = &tb[b];
        const uint8_t *bw0 = w + (uint64_t)b * sizeof(block_q4_K);
        __m128i sc[8], mn[8], col[8]; /* per row: 8 scales, 8 mins (6 bits each) */
        UNROLL_FULL for (int i = 0; i < 8; i++) {
            uint64_t sc8 = 0, mn8 = 0;
            if (i < nrow) k4_scales_mins_u64(bw0 + (uint64_t)i * ws + offsetof(block_q4_K, scales), &sc8, &mn8);
            sc[i] = _mm_cvtsi64_si128((long long)sc8);
            mn[i] = _mm_cvtsi64_si128((long long)mn8);
        }
        transpose8x16_epi8(sc, col);
        columns_dup_i16(col, t->sc, 8);
        transpose8x16_epi8(mn, col);
        columns_pair_i16(col, t->mn, 4);
        _mm256_store_ps(t->d, rows_f16(bw0 + offsetof(block_q4_K, d), ws, nrow));
        _mm256_store_ps(t->dmin, rows_f16(bw0 + offsetof(block_q4_K, dmin), ws, nrow));
        UNROLL_FULL for (int j = 0; j < 8; j++) { /* sub-block j: the low (j even) or high nibbles of qs[32 (j / 2) ..] */
            __m256i u[8];
            UNROLL_FULL for (int i = 0; i < 8; i++) {
                if (i < nrow) {
                    __m256i q = load32(w + (uint64_t)i * ws + (uint64_t)b * sizeof(block_q4_K) + offsetof(block_q4_K, qs) + 32 * (j / 2));
                    u[i] = _mm256_and_si256(j % 2 ? _mm256_srli_epi16(q, 4) : q, m4);
                } else {
                    u[i] = _mm256_setzero_si256();
                }
            }
            transpose8_epi32(u);
            UNROLL_FULL for (int st = 0; st < 8; st++) _mm256_store_si256((__m256i *)(void *)t->q[j][st], u[st]);
        }
    }
}
TILE_PACK(q4_K_tile_pack)

/* The same tile from a group of 8 interleaved rows (rows8.h): scales and
 * mins from their 96 bytes, nibbles split. */
static KERNEL_FN void q4_K_tile_pack_rows8(int64_t nb, const uint8_t *w, uint64_t ws, int nrow, void *tile) {
    (void)ws, (void)nrow;
    q4_K_tile_block *tb = tile;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < nb; b++) {
        q4_K_tile_block *t = &tb[b];
        const uint8_t *gb = w + (uint64_t)b * LAIR_ROWS8 * sizeof(block_q4_K);
        __m256i sc[2], mn[2];
        q4_K_group_scales(gb, sc);
        q4_K_group_mins(gb, mn);
        const __m128i scol[8] = {_mm256_castsi256_si128(sc[0]), _mm256_extracti128_si256(sc[0], 1), _mm256_castsi256_si128(sc[1]),
                                 _mm256_extracti128_si256(sc[1], 1)};
        const __m128i mcol[8] = {_mm256_castsi256_si128(mn[0]), _mm256_extracti128_si256(mn[0], 1), _mm256_castsi256_si128(mn[1]),
                                 _mm256_extracti128_si256(mn[1], 1)};
        columns_dup_i16(scol, t->sc, 8);
        columns_pair_i16(mcol, t->mn, 4);
        _mm256_store_ps(t->d, _mm256_cvtph_ps(load16(gb)));
        _mm256_store_ps(t->dmin, _mm256_cvtph_ps(load16(gb + 16)));
        UNROLL_FULL for (int c = 0; c < 4; c++) UNROLL_FULL for (int st = 0; st < 8; st++) {
            const __m256i v = load32(gb + 128 + 32 * (8 * c + st));
            _mm256_store_si256((__m256i *)(void *)t->q[2 * c][st], _mm256_and_si256(v, m4));
            _mm256_store_si256((__m256i *)(void *)t->q[2 * c + 1][st], _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
        }
    }
}

static KERNEL_FN void q8_K_group_pack(int64_t nb, const uint8_t *x, uint64_t xs, int nt, void *group) {
    q8_K_group_block *g = group;
    for (int64_t b = 0; b < nb; b++) memset(&g[b], 0, sizeof g[b]);
    for (int t = 0; t < nt; t++)
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *bx = x + (uint64_t)t * xs + (uint64_t)b * sizeof(block_q8_K);
            memcpy(g[b].q[t], bx + offsetof(block_q8_K, qs), 256);
            memcpy(&g[b].d[t], bx + offsetof(block_q8_K, d), sizeof(float));
            int16_t *bs = g[b].bs16[t];
            memcpy(bs, bx + offsetof(block_q8_K, bsums), sizeof g[b].bs16[t]);
            for (int j = 0; j < 8; j++) g[b].sub[t][j] = (int16_t)(bs[2 * j] + bs[2 * j + 1]);
        }
}

/* out[t][i] = dot(row i of the tile, token t of the group), t < T (1..8). */
static inline __attribute__((always_inline)) KERNEL_FN void q4_K_tile_group(int64_t nb, const q4_K_tile_block *tb,
                                                                          const q8_K_group_block *g, float out[][8],
                                                                          const int T) {
    __m256 acc[8][8]; /* [token][phase b mod 8], see k_phases in vec_dot_avx2.c */
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) for (int p = 0; p < 8; p++) acc[t][p] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const int ph = (int)(b & 7);
        const q4_K_tile_block *wb = &tb[b];
        const q8_K_group_block *xb = &g[b];
        __m256i S[8];
        _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) S[t] = _mm256_setzero_si256();
        for (int j = 0; j < 8; j++) {
            __m256i wv[8];
            _Pragma("GCC unroll 8") for (int st = 0; st < 8; st++)
                wv[st] = _mm256_load_si256((const __m256i *)(const void *)wb->q[j][st]);
            const __m256i sc = _mm256_load_si256((const __m256i *)(const void *)wb->sc[j]);
#if KERNEL_VNNI
            const __m256i sc32 = _mm256_srai_epi32(sc, 16); /* row r's scale in int32 lane r */
            _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) {
                S[t] = _mm256_add_epi32(S[t], _mm256_mullo_epi32(dpbusd_steps(wv, xb->q[t] + 32 * j, 0), sc32));
            }
#else
            _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) {
                __m256i s16 = _mm256_setzero_si256();
                _Pragma("GCC unroll 8") for (int st = 0; st < 8; st++) {
                    int32_t y4;
                    memcpy(&y4, &xb->q[t][32 * j + 4 * st], 4);
                    s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(wv[st], _mm256_set1_epi32(y4)));
                    __asm__("" : "+x"(s16)); /* a chain, see q4_0_tile_block_tokens */
                }
                S[t] = _mm256_add_epi32(S[t], _mm256_madd_epi16(s16, sc));
            }
#endif
        }
        const __m256 d = _mm256_load_ps(wb->d), dmin = _mm256_load_ps(wb->dmin);
        _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) {
            __m256i M = _mm256_setzero_si256();
            for (int p = 0; p < 4; p++) {
                int32_t pair;
                memcpy(&pair, &xb->sub[t][2 * p], 4);
                M = _mm256_add_epi32(M, _mm256_madd_epi16(_mm256_load_si256((const __m256i *)(const void *)wb->mn[p]),
                                                          _mm256_set1_epi32(pair)));
            }
            const __m256 dy = _mm256_set1_ps(xb->d[t]);
            acc[t][ph] = _mm256_fmadd_ps(_mm256_mul_ps(dy, d), _mm256_cvtepi32_ps(S[t]), acc[t][ph]);
            acc[t][ph] = _mm256_fnmadd_ps(_mm256_mul_ps(dy, dmin), _mm256_cvtepi32_ps(M), acc[t][ph]);
        }
    }
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) _mm256_storeu_ps(out[t], k_phases_sum(acc[t]));
}

TILE_GROUP_INSTANCES(q4_K_tile_group, q4_K_tile_block, q8_K_group_block)
TILE_GROUP_INSTANCES(KERNEL_NAME(lair_rows8_group_q4_K), uint8_t, q8_K_group_block)
static const gemm_format q4_K_format = {QK_K, sizeof(block_q4_K), sizeof(q4_K_tile_block), sizeof(q8_K_group_block), q4_K_tile_pack, q8_K_group_pack, TILE_GROUP_TABLE(q4_K_tile_group), TILE_GROUP_TABLE(KERNEL_NAME(lair_rows8_group_q4_K)), 1, q4_K_tile_pack_rows8};

void KERNEL_FN KERNEL_NAME(lair_gemm_q4_K)(int64_t n, int64_t nr, int nt, float *y, int64_t ldy, const void *w, uint64_t ws,
                                 const void *x, uint64_t xs, void *scratch, bool x_packed) {
    gemm_run(&q4_K_format, n, nr, nt, y, ldy, w, ws, x, xs, scratch, false, x_packed);
}

void KERNEL_FN KERNEL_NAME(lair_gemm_rows8_q4_K)(int64_t n, int64_t nr, int nt, float *y, int64_t ldy, const void *w, uint64_t ws,
                                       const void *x, uint64_t xs, void *scratch, bool x_packed) {
    gemm_run(&q4_K_format, n, nr, nt, y, ldy, w, ws, x, xs, scratch, true, x_packed);
}

/* ---- Q6_K against Q8_K -----------------------------------------------------
 * Levels u in 0..63 (value u - 32), int8 scales per 16 elements.  A group of
 * 32 elements is 8 steps; steps 0..3 are its first 16-element sub-block and
 * 4..7 the second.  Two steps' int16 sums are added (2 x 2 x 63 x 128 =
 * 32256 < 32767) before each madd with the rows' scales.  The offset is
 * taken out once per super-block: S = sum sc_j * sum u * y - 32 * sum sc_j *
 * bsum_j, the exact S of q6_K_rows. */

typedef struct q6_K_tile_block {
    uint8_t q[8][8][32]; /* [32-element group][step]: levels 4s..4s+3 of rows 0..7 */
    int16_t sc[16][16];  /* [16-element sub-block]: row r's scale in lanes 2r and 2r+1 */
    int16_t scp[8][16];  /* [pair p]: row r's scales of sub-blocks 2p, 2p+1 in lanes 2r, 2r+1 */
    float d[8];
} q6_K_tile_block;

_Static_assert(sizeof(q6_K_tile_block) <= 8 * LAIR_GEMM_TILE_BLOCK_BYTES && sizeof(q6_K_tile_block) % 32 == 0,
               "Q6_K tile block fits the scratch");

static inline __attribute__((always_inline)) KERNEL_FN void q6_K_tile_pack_rows(int64_t nb, const uint8_t *w, uint64_t ws, const int nrow, void *tile) {
    q6_K_tile_block *tb = tile;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x30);
    for (int64_t b = 0; b < nb; b++) {
        q6_K_tile_block *t = &tb[b];
        const uint8_t *bw0 = w + (uint64_t)b * sizeof(block_q6_K);
        __m128i sc[8], col[8]; /* per row: 16 int8 scales */
        UNROLL_FULL for (int i = 0; i < 8; i++)
            sc[i] = i < nrow ? load16(bw0 + (uint64_t)i * ws + offsetof(block_q6_K, scales)) : _mm_setzero_si128();
        transpose8x16_epi8(sc, col);
        columns_dup_i16(col, t->sc, 16);
        columns_pair_i16(col, t->scp, 8);
        _mm256_store_ps(t->d, rows_f16(bw0 + offsetof(block_q6_K, d), ws, nrow));
        /* group (h, g) = elements 128h + 32g ..: nibble g/2 of ql[64h + 32(g%2) + l], bits 2g, 2g+1 of qh[32h + l] */
        UNROLL_FULL for (int h = 0; h < 2; h++)
            UNROLL_FULL for (int g = 0; g < 4; g++) {
                __m256i u[8];
                UNROLL_FULL for (int i = 0; i < 8; i++) {
                    if (i >= nrow) {
                        u[i] = _mm256_setzero_si256();
                        continue;
                    }
                    const uint8_t *bw = w + (uint64_t)i * ws + (uint64_t)b * sizeof(block_q6_K);
                    __m256i ql = load32(bw + offsetof(block_q6_K, ql) + 64 * h + 32 * (g % 2));
                    __m256i qh = load32(bw + offsetof(block_q6_K, qh) + 32 * h);
                    __m256i lo = g / 2 ? _mm256_srli_epi16(ql, 4) : ql;
                    __m256i hb = g == 0 ? _mm256_slli_epi16(qh, 4)
                                 : g == 1 ? _mm256_slli_epi16(qh, 2)
                                 : g == 2 ? qh
                                          : _mm256_srli_epi16(qh, 2);
                    u[i] = _mm256_or_si256(_mm256_and_si256(lo, m4), _mm256_and_si256(hb, m2));
                }
                transpose8_epi32(u);
                UNROLL_FULL for (int st = 0; st < 8; st++) _mm256_store_si256((__m256i *)(void *)t->q[4 * h + g][st], u[st]);
            }
    }
}
TILE_PACK(q6_K_tile_pack)

/* The same tile from a group of 8 interleaved rows (rows8.h): the scales
 * as they are, the levels from their quads. */
static KERNEL_FN void q6_K_tile_pack_rows8(int64_t nb, const uint8_t *w, uint64_t ws, int nrow, void *tile) {
    (void)ws, (void)nrow;
    q6_K_tile_block *tb = tile;
    for (int64_t b = 0; b < nb; b++) {
        q6_K_tile_block *t = &tb[b];
        const uint8_t *gb = w + (uint64_t)b * LAIR_ROWS8 * sizeof(block_q6_K);
        __m128i col[8];
        UNROLL_FULL for (int k = 0; k < 8; k++) col[k] = load16(gb + 16 + 16 * k);
        columns_dup_i16(col, t->sc, 16);
        columns_pair_i16(col, t->scp, 8);
        _mm256_store_ps(t->d, _mm256_cvtph_ps(load16(gb)));
        UNROLL_FULL for (int h = 0; h < 2; h++) UNROLL_FULL for (int st = 0; st < 8; st++) {
            __m256i u[4];
            q6_K_quad_levels(gb + 144 + 96 * (8 * h + st), u);
            UNROLL_FULL for (int g = 0; g < 4; g++) _mm256_store_si256((__m256i *)(void *)t->q[4 * h + g][st], u[g]);
        }
    }
}

static inline __attribute__((always_inline)) KERNEL_FN void q6_K_tile_group(int64_t nb, const q6_K_tile_block *tb,
                                                                          const q8_K_group_block *g, float out[][8],
                                                                          const int T) {
    __m256 acc[8][8]; /* [token][phase b mod 8] */
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) for (int p = 0; p < 8; p++) acc[t][p] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const int ph = (int)(b & 7);
        const q6_K_tile_block *wb = &tb[b];
        const q8_K_group_block *xb = &g[b];
        __m256i S[8];
        _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) S[t] = _mm256_setzero_si256();
        for (int q = 0; q < 8; q++) {
            __m256i wv[8];
            _Pragma("GCC unroll 8") for (int st = 0; st < 8; st++)
                wv[st] = _mm256_load_si256((const __m256i *)(const void *)wb->q[q][st]);
            const __m256i sc0 = _mm256_load_si256((const __m256i *)(const void *)wb->sc[2 * q]);
            const __m256i sc1 = _mm256_load_si256((const __m256i *)(const void *)wb->sc[2 * q + 1]);
#if KERNEL_VNNI
            /* the two 16-element sub-blocks' sums (4 steps each), times their scales */
            const __m256i sc0_32 = _mm256_srai_epi32(sc0, 16), sc1_32 = _mm256_srai_epi32(sc1, 16);
            _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) {
                __m256i p0 = _mm256_setzero_si256(), p1 = _mm256_setzero_si256();
                _Pragma("GCC unroll 4") for (int st = 0; st < 4; st++) {
                    p0 = dpbusd_bcast(p0, wv[st], xb->q[t] + 32 * q + 4 * st);
                    p1 = dpbusd_bcast(p1, wv[st + 4], xb->q[t] + 32 * q + 16 + 4 * st);
                }
                S[t] = _mm256_add_epi32(S[t], _mm256_add_epi32(_mm256_mullo_epi32(p0, sc0_32), _mm256_mullo_epi32(p1, sc1_32)));
            }
#else
            _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) {
                __m256i p[4];
                _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {
                    int32_t y0, y1;
                    memcpy(&y0, &xb->q[t][32 * q + 8 * k], 4);
                    memcpy(&y1, &xb->q[t][32 * q + 8 * k + 4], 4);
                    p[k] = _mm256_add_epi16(_mm256_maddubs_epi16(wv[2 * k], _mm256_set1_epi32(y0)),
                                            _mm256_maddubs_epi16(wv[2 * k + 1], _mm256_set1_epi32(y1)));
                }
                __m256i lo = _mm256_add_epi32(_mm256_madd_epi16(p[0], sc0), _mm256_madd_epi16(p[1], sc0));
                __m256i hi = _mm256_add_epi32(_mm256_madd_epi16(p[2], sc1), _mm256_madd_epi16(p[3], sc1));
                S[t] = _mm256_add_epi32(S[t], _mm256_add_epi32(lo, hi));
            }
#endif
        }
        const __m256 d = _mm256_load_ps(wb->d);
        _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) {
            __m256i off = _mm256_setzero_si256();
            for (int pp = 0; pp < 8; pp++) {
                int32_t pair;
                memcpy(&pair, &xb->bs16[t][2 * pp], 4);
                off = _mm256_add_epi32(off, _mm256_madd_epi16(_mm256_load_si256((const __m256i *)(const void *)wb->scp[pp]),
                                                              _mm256_set1_epi32(pair)));
            }
            __m256i st = _mm256_sub_epi32(S[t], _mm256_slli_epi32(off, 5));
            acc[t][ph] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(xb->d[t]), d), _mm256_cvtepi32_ps(st), acc[t][ph]);
        }
    }
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) _mm256_storeu_ps(out[t], k_phases_sum(acc[t]));
}

TILE_GROUP_INSTANCES(q6_K_tile_group, q6_K_tile_block, q8_K_group_block)
TILE_GROUP_INSTANCES(KERNEL_NAME(lair_rows8_group_q6_K), uint8_t, q8_K_group_block)
static const gemm_format q6_K_format = {QK_K, sizeof(block_q6_K), sizeof(q6_K_tile_block), sizeof(q8_K_group_block), q6_K_tile_pack, q8_K_group_pack, TILE_GROUP_TABLE(q6_K_tile_group), TILE_GROUP_TABLE(KERNEL_NAME(lair_rows8_group_q6_K)), 1, q6_K_tile_pack_rows8};

void KERNEL_FN KERNEL_NAME(lair_gemm_q6_K)(int64_t n, int64_t nr, int nt, float *y, int64_t ldy, const void *w, uint64_t ws,
                                 const void *x, uint64_t xs, void *scratch, bool x_packed) {
    gemm_run(&q6_K_format, n, nr, nt, y, ldy, w, ws, x, xs, scratch, false, x_packed);
}

void KERNEL_FN KERNEL_NAME(lair_gemm_rows8_q6_K)(int64_t n, int64_t nr, int nt, float *y, int64_t ldy, const void *w, uint64_t ws,
                                       const void *x, uint64_t xs, void *scratch, bool x_packed) {
    gemm_run(&q6_K_format, n, nr, nt, y, ldy, w, ws, x, xs, scratch, true, x_packed);
}

#endif /* __x86_64__ */
