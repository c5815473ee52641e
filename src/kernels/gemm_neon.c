/* Matrix x matrix products for prefill (AArch64 NEON, SDOT where available).
 *
 * The shape of gemm_avx2.c for 128-bit registers: a tile of 4 weight rows
 * is repacked so that one vector holds 4 consecutive levels of each row,
 *
 *     q[s] = [row0 k..k+3 | row1 k..k+3 | row2 k..k+3 | row3 k..k+3],  k = 4s,
 *
 * and SDOT by element multiplies it with 4 bytes of one token's activations
 * (one lane of a loaded vector): the int32 lanes are the 4 rows' partial
 * sums, with no horizontal reduction.  Levels are stored signed (value, not
 * code), so no offset term is needed.  Without SDOT the same lane sums come
 * from SMULL and pairwise widening adds (exact integers either way).
 *
 * The float steps per row are those of the NEON vec_dot of the format
 * (vec_dot_neon.c), evaluated for 4 rows at once, so both give the same
 * bits: prefill and decode agree.  Tiles live in the caller's scratch
 * (LAIR_GEMM_SCRATCH_BYTES); weights are repacked once per call and used by
 * every token of the call. */
#if defined(__aarch64__)

#include <arm_neon.h>
#include <stddef.h>
#include <string.h>

#include "kernels/kernels_neon.h"
#include "tensor/blocks.h"

/* Kernels may use Armv8.2-A + dotprod (see vec_dot_neon.c). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC target("arch=armv8.2-a+dotprod")
#define LAIR_NEON_POP_TARGET 1
#endif

/* acc + for each row r (lane r of w holding its 4 levels) the dot with the
 * 4 bytes 4 * LANE .. of y. */
#if defined(__ARM_FEATURE_DOTPROD)
#define DOT4_ROWS(acc, w, y, LANE) vdotq_laneq_s32((acc), (w), (y), (LANE))
#else
#define DOT4_ROWS(acc, w, y, LANE) dot4_rows_fallback((acc), (w), vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(y), (LANE))))
static inline int32x4_t dot4_rows_fallback(int32x4_t acc, int8x16_t w, int8x16_t b) {
    int32x4_t p0 = vpaddlq_s16(vmull_s8(vget_low_s8(w), vget_low_s8(b))); /* rows 0, 1: two pair sums each */
    int32x4_t p1 = vpaddlq_s16(vmull_high_s8(w, b));                      /* rows 2, 3 */
    return vaddq_s32(acc, vpaddq_s32(p0, p1));
}
#endif

/* Sum over one 32-element run: the 8 step vectors q[0..7] against the 32
 * activations at y. */
static inline int32x4_t dot32_rows(const int8_t q[8][16], const int8_t *y) {
    const int8x16_t y0 = vld1q_s8(y), y1 = vld1q_s8(y + 16);
    int32x4_t s = vdupq_n_s32(0);
    s = DOT4_ROWS(s, vld1q_s8(q[0]), y0, 0);
    s = DOT4_ROWS(s, vld1q_s8(q[1]), y0, 1);
    s = DOT4_ROWS(s, vld1q_s8(q[2]), y0, 2);
    s = DOT4_ROWS(s, vld1q_s8(q[3]), y0, 3);
    s = DOT4_ROWS(s, vld1q_s8(q[4]), y1, 0);
    s = DOT4_ROWS(s, vld1q_s8(q[5]), y1, 1);
    s = DOT4_ROWS(s, vld1q_s8(q[6]), y1, 2);
    return DOT4_ROWS(s, vld1q_s8(q[7]), y1, 3);
}

/* The same over 16 elements (q[0..3], the first half of y's 32). */
static inline int32x4_t dot16_rows(const int8_t q[4][16], const int8_t *y) {
    const int8x16_t y0 = vld1q_s8(y);
    int32x4_t s = vdupq_n_s32(0);
    s = DOT4_ROWS(s, vld1q_s8(q[0]), y0, 0);
    s = DOT4_ROWS(s, vld1q_s8(q[1]), y0, 1);
    s = DOT4_ROWS(s, vld1q_s8(q[2]), y0, 2);
    return DOT4_ROWS(s, vld1q_s8(q[3]), y0, 3);
}

static inline float h2f_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

/* Scatters one row's levels (n of them) into step vectors: run u (32
 * levels) goes to q[u][s][4 * row ..]. */
static void scatter_levels(int8_t (*q)[8][16], const int8_t *levels, int n, int row) {
    for (int u = 0; u < n / 32; u++)
        for (int s = 0; s < 8; s++) memcpy(&q[u][s][4 * row], levels + 32 * u + 4 * s, 4);
}

/* ---- the driver shared by every format ---------------------------------------
 * A format supplies its tile packing (4 rows of nb blocks into the
 * scratch) and its dot of the 4 tile rows with one token's activation
 * row; each tile is packed once and used by every token. */
typedef struct tile4_format {
    int64_t block; /* elements per block */
    void (*pack)(int64_t nb, const uint8_t *w, uint64_t ws, int nrow, void *tile);
    float32x4_t (*rows_dot)(int64_t nb, const void *tile, const uint8_t *x);
} tile4_format;

static void tile4_gemm(const tile4_format *f, int64_t n, int64_t nr, int nt, float *y, int64_t ldy, const uint8_t *w,
                       uint64_t ws, const uint8_t *x, uint64_t xs, void *scratch) {
    const int64_t nb = n / f->block;
    for (int64_t r = 0; r < nr; r += 4) {
        const int nrow = nr - r < 4 ? (int)(nr - r) : 4;
        f->pack(nb, w + (uint64_t)r * ws, ws, nrow, scratch);
        for (int t = 0; t < nt; t++) {
            float out[4];
            vst1q_f32(out, f->rows_dot(nb, scratch, x + (uint64_t)t * xs));
            for (int i = 0; i < nrow; i++) y[(int64_t)t * ldy + r + i] = out[i];
        }
    }
}

/* ---- Q4_0 and Q8_0 against Q8_0 -------------------------------------------
 * vec_dot's order: S_b the exact block sum, c_b = d_w * d_x, A_{b mod 4} =
 * fma(c_b, S_b, A), dot = (A_0 + A_2) + (A_1 + A_3). */

typedef struct n32_tile_block {
    int8_t q[1][8][16];
    float d[4];
} n32_tile_block;

static void n32_tile_pack(int64_t nb, const uint8_t *w, uint64_t ws, int nrow, int q4, n32_tile_block *tb) {
    const size_t wsize = q4 ? sizeof(block_q4_0) : sizeof(block_q8_0);
    for (int64_t b = 0; b < nb; b++) {
        memset(tb[b].q, 0, sizeof tb[b].q);
        for (int i = 0; i < 4; i++) {
            tb[b].d[i] = 0.0f;
            if (i >= nrow) continue;
            const uint8_t *bw = w + (uint64_t)i * ws + (uint64_t)b * wsize;
            int8_t lv[32];
            if (q4) {
                const uint8_t *qs = bw + offsetof(block_q4_0, qs);
                for (int k = 0; k < 16; k++) {
                    lv[k] = (int8_t)((qs[k] & 0x0F) - 8);
                    lv[k + 16] = (int8_t)((qs[k] >> 4) - 8);
                }
            } else {
                memcpy(lv, bw + offsetof(block_q8_0, qs), 32);
            }
            scatter_levels(tb[b].q, lv, 32, i);
            tb[b].d[i] = h2f_at(bw);
        }
    }
}

static inline float32x4_t n32_block(const n32_tile_block *tb, const uint8_t *bx, float32x4_t a) {
    int32x4_t s = dot32_rows(tb->q[0], (const int8_t *)(bx + offsetof(block_q8_0, qs)));
    float32x4_t c = vmulq_n_f32(vld1q_f32(tb->d), h2f_at(bx));
    return vfmaq_f32(a, c, vcvtq_f32_s32(s));
}

static float32x4_t n32_rows_dot(int64_t nb, const void *tile, const uint8_t *x) {
    const n32_tile_block *tb = tile;
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) {
        a0 = n32_block(&tb[b], x + b * sizeof(block_q8_0), a0);
        a1 = n32_block(&tb[b + 1], x + (b + 1) * sizeof(block_q8_0), a1);
        a2 = n32_block(&tb[b + 2], x + (b + 2) * sizeof(block_q8_0), a2);
        a3 = n32_block(&tb[b + 3], x + (b + 3) * sizeof(block_q8_0), a3);
    }
    if (b < nb) a0 = n32_block(&tb[b], x + b * sizeof(block_q8_0), a0);
    if (b + 1 < nb) a1 = n32_block(&tb[b + 1], x + (b + 1) * sizeof(block_q8_0), a1);
    if (b + 2 < nb) a2 = n32_block(&tb[b + 2], x + (b + 2) * sizeof(block_q8_0), a2);
    return vaddq_f32(vaddq_f32(a0, a2), vaddq_f32(a1, a3));
}

static void q4_0_pack(int64_t nb, const uint8_t *w, uint64_t ws, int nrow, void *tile) { n32_tile_pack(nb, w, ws, nrow, 1, tile); }
static void q8_0_pack(int64_t nb, const uint8_t *w, uint64_t ws, int nrow, void *tile) { n32_tile_pack(nb, w, ws, nrow, 0, tile); }
static const tile4_format q4_0_format = {QK4_0, q4_0_pack, n32_rows_dot};
static const tile4_format q8_0_format = {QK8_0, q8_0_pack, n32_rows_dot};

void lair_gemm_q4_0_neon(int64_t n, int64_t nr, int nt, float *y, int64_t ldy, const void *w, uint64_t ws, const void *x,
                         uint64_t xs, void *scratch, bool x_packed) {
    (void)x_packed; /* the activations are read in place */
    tile4_gemm(&q4_0_format, n, nr, nt, y, ldy, w, ws, x, xs, scratch);
}

void lair_gemm_q8_0_neon(int64_t n, int64_t nr, int nt, float *y, int64_t ldy, const void *w, uint64_t ws, const void *x,
                         uint64_t xs, void *scratch, bool x_packed) {
    (void)x_packed; /* the activations are read in place */
    tile4_gemm(&q8_0_format, n, nr, nt, y, ldy, w, ws, x, xs, scratch);
}

/* ---- Q4_K and Q6_K against Q8_K ---------------------------------------------
 * vec_dot's order per super-block: exact integers S (and Q4_K's min term
 * M), then sum += (dy * d) * S (Q4_K: - (dy * dmin) * M), in order. */

typedef struct k_tile_block {
    int8_t q[8][8][16]; /* [32-element run][step] */
    int32_t sc[16][4];  /* [sub-block][row]: Q4_K 8 scales, Q6_K 16 */
    int32_t mn[8][4];   /* [sub-block][row]: Q4_K mins */
    float d[4], dmin[4];
} k_tile_block;

static void q4_K_tile_pack_neon(int64_t nb, const uint8_t *w, uint64_t ws, int nrow, void *tile) {
    k_tile_block *tb = tile;
    for (int64_t b = 0; b < nb; b++) {
        k_tile_block *t = &tb[b];
        memset(t, 0, sizeof *t);
        for (int i = 0; i < nrow; i++) {
            const uint8_t *bw = w + (uint64_t)i * ws + (uint64_t)b * sizeof(block_q4_K);
            const uint8_t *qs = bw + offsetof(block_q4_K, qs);
            int8_t lv[256];
            for (int c = 0; c < 4; c++)
                for (int l = 0; l < 32; l++) {
                    lv[64 * c + l] = (int8_t)(qs[32 * c + l] & 0x0F);
                    lv[64 * c + 32 + l] = (int8_t)(qs[32 * c + l] >> 4);
                }
            scatter_levels(t->q, lv, 256, i);
            for (int j = 0; j < 8; j++) {
                uint8_t sc, mn;
                k_scale_min_get(bw + offsetof(block_q4_K, scales), j, &sc, &mn);
                t->sc[j][i] = sc;
                t->mn[j][i] = mn;
            }
            t->d[i] = h2f_at(bw + offsetof(block_q4_K, d));
            t->dmin[i] = h2f_at(bw + offsetof(block_q4_K, dmin));
        }
    }
}

static void q6_K_tile_pack_neon(int64_t nb, const uint8_t *w, uint64_t ws, int nrow, void *tile) {
    k_tile_block *tb = tile;
    for (int64_t b = 0; b < nb; b++) {
        k_tile_block *t = &tb[b];
        memset(t, 0, sizeof *t);
        for (int i = 0; i < nrow; i++) {
            const uint8_t *bw = w + (uint64_t)i * ws + (uint64_t)b * sizeof(block_q6_K);
            const uint8_t *ql = bw + offsetof(block_q6_K, ql), *qh = bw + offsetof(block_q6_K, qh);
            int8_t lv[256];
            for (int e = 0; e < 256; e++) { /* element 128h + 32k + l */
                int h = e / 128, k = (e % 128) / 32, l = e % 32;
                int lo = ql[64 * h + 32 * (k % 2) + l], hb = qh[32 * h + l] >> (2 * k) & 3;
                lv[e] = (int8_t)(((k < 2 ? lo & 0x0F : lo >> 4) | hb << 4) - 32);
            }
            scatter_levels(t->q, lv, 256, i);
            const int8_t *sc = (const int8_t *)(const void *)(bw + offsetof(block_q6_K, scales));
            for (int j = 0; j < 16; j++) t->sc[j][i] = sc[j];
            t->d[i] = h2f_at(bw + offsetof(block_q6_K, d));
        }
    }
}

static inline float32x4_t q4_K_block_rows(const k_tile_block *t, const uint8_t *bx, float32x4_t sum) {
    const int8_t *y = (const int8_t *)(bx + offsetof(block_q8_K, qs));
    int16_t bs[16];
    memcpy(bs, bx + offsetof(block_q8_K, bsums), sizeof bs);
    int32x4_t S = vdupq_n_s32(0), M = vdupq_n_s32(0);
    for (int j = 0; j < 8; j++) {
        S = vmlaq_s32(S, dot32_rows(t->q[j], y + 32 * j), vld1q_s32(t->sc[j]));
        M = vmlaq_n_s32(M, vld1q_s32(t->mn[j]), bs[2 * j] + bs[2 * j + 1]);
    }
    float dy;
    memcpy(&dy, bx + offsetof(block_q8_K, d), sizeof dy);
    float32x4_t dd = vmulq_n_f32(vld1q_f32(t->d), dy), dm = vmulq_n_f32(vld1q_f32(t->dmin), dy);
    return vaddq_f32(sum, vsubq_f32(vmulq_f32(dd, vcvtq_f32_s32(S)), vmulq_f32(dm, vcvtq_f32_s32(M))));
}

static inline float32x4_t q6_K_block_rows(const k_tile_block *t, const uint8_t *bx, float32x4_t sum) {
    const int8_t *y = (const int8_t *)(bx + offsetof(block_q8_K, qs));
    int32x4_t S = vdupq_n_s32(0);
    for (int j = 0; j < 8; j++) {
        S = vmlaq_s32(S, dot16_rows(t->q[j], y + 32 * j), vld1q_s32(t->sc[2 * j]));
        S = vmlaq_s32(S, dot16_rows(t->q[j] + 4, y + 32 * j + 16), vld1q_s32(t->sc[2 * j + 1]));
    }
    float dy;
    memcpy(&dy, bx + offsetof(block_q8_K, d), sizeof dy);
    return vaddq_f32(sum, vmulq_f32(vmulq_n_f32(vld1q_f32(t->d), dy), vcvtq_f32_s32(S)));
}

static float32x4_t q4_K_rows_dot(int64_t nb, const void *tile, const uint8_t *x) {
    const k_tile_block *tb = tile;
    float32x4_t sum = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < nb; b++) sum = q4_K_block_rows(&tb[b], x + b * sizeof(block_q8_K), sum);
    return sum;
}

static float32x4_t q6_K_rows_dot(int64_t nb, const void *tile, const uint8_t *x) {
    const k_tile_block *tb = tile;
    float32x4_t sum = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < nb; b++) sum = q6_K_block_rows(&tb[b], x + b * sizeof(block_q8_K), sum);
    return sum;
}

static const tile4_format q4_K_format = {QK_K, q4_K_tile_pack_neon, q4_K_rows_dot};
static const tile4_format q6_K_format = {QK_K, q6_K_tile_pack_neon, q6_K_rows_dot};

void lair_gemm_q4_K_neon(int64_t n, int64_t nr, int nt, float *y, int64_t ldy, const void *w, uint64_t ws, const void *x,
                         uint64_t xs, void *scratch, bool x_packed) {
    (void)x_packed; /* the activations are read in place */
    tile4_gemm(&q4_K_format, n, nr, nt, y, ldy, w, ws, x, xs, scratch);
}

void lair_gemm_q6_K_neon(int64_t n, int64_t nr, int nt, float *y, int64_t ldy, const void *w, uint64_t ws, const void *x,
                         uint64_t xs, void *scratch, bool x_packed) {
    (void)x_packed; /* the activations are read in place */
    tile4_gemm(&q6_K_format, n, nr, nt, y, ldy, w, ws, x, xs, scratch);
}

_Static_assert(sizeof(n32_tile_block) <= LAIR_GEMM_TILE_BLOCK_BYTES, "Q4_0/Q8_0 tile block fits the scratch");
_Static_assert(sizeof(k_tile_block) <= 8 * LAIR_GEMM_TILE_BLOCK_BYTES, "K-quant tile block fits the scratch");

#if defined(LAIR_NEON_POP_TARGET)
#pragma GCC pop_options
#endif

#endif /* __aarch64__ */
