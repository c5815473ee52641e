/* AVX2 + FMA + F16C dot products.  Each function carries its own target
 * attribute, so this file builds with the project's baseline flags and the
 * code runs only where kernels.c found the CPU features.
 *
 * Integer parts are exact and equal the scalar reference (vec_dot_scalar.c);
 * only the order of the float additions differs.  Patterns used throughout:
 *   - 32 int8 products summed in groups: _mm256_maddubs_epi16 multiplies
 *     unsigned bytes by signed bytes and adds adjacent pairs to int16;
 *     _mm256_madd_epi16 then multiplies int16 by int16 (1, or a sub-block
 *     scale) and adds adjacent pairs to int32.  Each call site notes why
 *     the int16 pair sums cannot saturate.
 *   - levels stored with an offset (u - 8, u - 16, ...) are multiplied
 *     unsigned and the offset's products subtracted (dot_u8_off, or the
 *     Q8_K bsums); truly signed x signed uses |a| * (b with a's sign),
 *     see dot_i8.
 *   - float accumulators stay in registers; one horizontal sum at the end.
 *   - the float formats sum in double, like the scalar reference.
 * Block fields are read through byte pointers (loadu / memcpy): rows need no
 * alignment. */
#if defined(__x86_64__)

#include <immintrin.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/kernels_internal.h"
#include "kernels/avx2_inline.h"
#include "tensor/blocks.h"

/* Loops over the activation rows of the multi-row kernels (at most
 * LAIR_VEC_DOT_MAX_ROWS, a constant in each instance) are unrolled fully so
 * that the per-row accumulators live in registers, not on the stack. */
#define UNROLL_ROWS _Pragma("GCC unroll 4")

/* ---- helpers ------------------------------------------------------------------ */

static inline AVX2_FN float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}



/* Products a0*b0 and a1*b1 of four f16 values, in lanes 0 and 1 (lanes 2
 * and 3 are junk).  The halves are gathered in a general register and
 * converted with one instruction: the vector ports are the bottleneck of
 * the 32-element kernels. */
static inline AVX2_FN __m128 f16_pair_products(const uint8_t *a0, const uint8_t *a1, const uint8_t *b0, const uint8_t *b1) {
    uint64_t u = (uint64_t)u16_at(a0) | (uint64_t)u16_at(a1) << 16 | (uint64_t)u16_at(b0) << 32 | (uint64_t)u16_at(b1) << 48;
    __m128 f = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)u)); /* a0 a1 b0 b1 */
    return _mm_mul_ps(f, _mm_movehl_ps(f, f));
}


/* 32 bits -> 32 bytes, byte k = 0xFF when bit k is set, else 0. */
static inline AVX2_FN __m256i bits_to_bytes(uint32_t bits) {
    /* byte k takes byte k/8 of the word (in-lane shuffle: the word is in
     * both 128-bit lanes, so lane 1 indexes bytes 2 and 3 of its own copy) */
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, //
                                            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfeLL); /* all bits but k%8 */
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), spread);
    return _mm256_cmpeq_epi8(_mm256_or_si256(v, bit), _mm256_set1_epi8(-1));
}


/* Sums of a*b over groups of 4 adjacent signed bytes, as int16 pairs or 8
 * int32.  Exact when b holds no -128 (a may): |a| <= 128 and |b| <= 127,
 * so a pair sum is at most 2 * 128 * 127 = 32512 < 32767. */
static inline AVX2_FN __m256i dot_i8_pairs16(__m256i a, __m256i b) {
    return _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}
static inline AVX2_FN __m256i dot_i8(__m256i a, __m256i b) { return sum_pairs16(dot_i8_pairs16(a, b)); }

/* Sums of (u - off) * y over groups of 4, for unsigned levels u <= 31 and
 * off <= 16: maddubs of u and of off with y, subtracted as int16 pairs
 * (at most 2 * 31 * 128 + 2 * 16 * 128 = 12032).  Cheaper than dot_i8. */
static inline AVX2_FN __m256i dot_u8_off(__m256i u, __m256i y, char off) {
    __m256i p = _mm256_maddubs_epi16(u, y);
    return sum_pairs16(_mm256_sub_epi16(p, _mm256_maddubs_epi16(_mm256_set1_epi8(off), y)));
}

/* int16 lanes all holding element j (0..7) of the 8 int16 in each 128-bit
 * lane of v. */
static inline AVX2_FN __m256i bcast_i16(__m256i v, int j) {
    return _mm256_shuffle_epi8(v, _mm256_set1_epi16((short)((2 * j + 1) << 8 | 2 * j)));
}

/* From 16 int8 sub-block scales: 16 int16 lanes, lanes 0..7 = sc[i] and
 * lanes 8..15 = sc[i+1] (the two 16-element sub-blocks of 32 elements). */
static inline AVX2_FN __m256i scale_pair_i16(__m128i sc, int i) {
    __m128i idx = _mm_set_epi64x(0x0101010101010101LL * (i + 1), 0x0101010101010101LL * i);
    return _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc, idx));
}

/* ---- float formats ----------------------------------------------------------------
 * Summed in double like the scalar reference, so the float formats give the
 * same results on every ISA (to the last bit in all but rare cases, as
 * only the order of double additions differs): f16 x f16 and bf16 x bf16
 * products are exact in float (11 + 11 and 8 + 8 significant bits) and are
 * widened after the multiply; f32 operands are widened first and the FMA
 * adds their exact product.  The float formats are memory-bound (2-4 bytes
 * per element), so the wider arithmetic costs little. */

static inline AVX2_FN double hsum_pd(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

/* acc_lo/acc_hi += the 8 floats of p, widened. */
static inline AVX2_FN void add_widened(__m256 p, __m256d *acc_lo, __m256d *acc_hi) {
    *acc_lo = _mm256_add_pd(*acc_lo, _mm256_cvtps_pd(_mm256_castps256_ps128(p)));
    *acc_hi = _mm256_add_pd(*acc_hi, _mm256_cvtps_pd(_mm256_extractf128_ps(p, 1)));
}

void AVX2_FN lair_vec_dot_f32_avx2(int64_t n, float *s, const void *w, const void *x) {
    const float *a = w, *b = x; /* unaligned loads only */
    __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
    __m256d acc2 = _mm256_setzero_pd(), acc3 = _mm256_setzero_pd();
#define F32X4(p, k) _mm256_cvtps_pd(_mm_loadu_ps((p) + (k)))
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_pd(F32X4(a, i), F32X4(b, i), acc0);
        acc1 = _mm256_fmadd_pd(F32X4(a, i + 4), F32X4(b, i + 4), acc1);
        acc2 = _mm256_fmadd_pd(F32X4(a, i + 8), F32X4(b, i + 8), acc2);
        acc3 = _mm256_fmadd_pd(F32X4(a, i + 12), F32X4(b, i + 12), acc3);
    }
    for (; i + 4 <= n; i += 4) acc0 = _mm256_fmadd_pd(F32X4(a, i), F32X4(b, i), acc0);
#undef F32X4
    double sum = hsum_pd(_mm256_add_pd(_mm256_add_pd(acc0, acc1), _mm256_add_pd(acc2, acc3)));
    const uint8_t *pa = w, *pb = x;
    for (; i < n; i++) sum += (double)f32_at(pa + 4 * i) * (double)f32_at(pb + 4 * i);
    *s = (float)sum;
}

void AVX2_FN lair_vec_dot_f16_avx2(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *a = w, *b = x;
    __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
    __m256d acc2 = _mm256_setzero_pd(), acc3 = _mm256_setzero_pd();
#define F16X8(p, k) _mm256_cvtph_ps(load16((p) + 2 * (k)))
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        add_widened(_mm256_mul_ps(F16X8(a, i), F16X8(b, i)), &acc0, &acc1);
        add_widened(_mm256_mul_ps(F16X8(a, i + 8), F16X8(b, i + 8)), &acc2, &acc3);
    }
    if (i + 8 <= n) {
        add_widened(_mm256_mul_ps(F16X8(a, i), F16X8(b, i)), &acc0, &acc1);
        i += 8;
    }
#undef F16X8
    double sum = hsum_pd(_mm256_add_pd(_mm256_add_pd(acc0, acc1), _mm256_add_pd(acc2, acc3)));
    for (; i < n; i++) sum += (double)f16_at(a + 2 * i) * (double)f16_at(b + 2 * i);
    *s = (float)sum;
}

static inline AVX2_FN float bf16_at(const uint8_t *p) {
    uint32_t u = (uint32_t)u16_at(p) << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

void AVX2_FN lair_vec_dot_bf16_avx2(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *a = w, *b = x;
    __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
    __m256d acc2 = _mm256_setzero_pd(), acc3 = _mm256_setzero_pd();
    /* bf16 -> f32: the 16 bits become the top half of the word */
#define BF16X8(p, k) _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(load16((p) + 2 * (k))), 16))
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        add_widened(_mm256_mul_ps(BF16X8(a, i), BF16X8(b, i)), &acc0, &acc1);
        add_widened(_mm256_mul_ps(BF16X8(a, i + 8), BF16X8(b, i + 8)), &acc2, &acc3);
    }
    if (i + 8 <= n) {
        add_widened(_mm256_mul_ps(BF16X8(a, i), BF16X8(b, i)), &acc0, &acc1);
        i += 8;
    }
#undef BF16X8
    double sum = hsum_pd(_mm256_add_pd(_mm256_add_pd(acc0, acc1), _mm256_add_pd(acc2, acc3)));
    for (; i < n; i++) sum += (double)bf16_at(a + 2 * i) * (double)bf16_at(b + 2 * i);
    *s = (float)sum;
}

/* ---- 32-element formats against Q8_0 / Q8_1 --------------------------------------
 * A format supplies block_sums: the 8 int32 partial sums of level products
 * of one weight block and one activation block.  dot32 runs the blocks in
 * pairs (two accumulators: independent FMA chains; one conversion for the
 * four f16 scales), scaling each block's sums by d_w * d_x; formats with a
 * min add m_w * s_x of each block. */

typedef __m256i (*block_sums_fn)(const uint8_t *bw, const uint8_t *bx);

typedef struct dot32_layout {
    size_t wsize, wd; /* weight block bytes, offset of its f16 d */
    size_t xsize, xd; /* activation block bytes, offset of its f16 d */
    bool has_min;     /* add m * s (Q4_1/Q5_1 against Q8_1) */
    size_t wm, xs;    /* offsets of the weight m and activation s (f16) */
} dot32_layout;

/* Always inlined, so that `sums` and the layout are constants in each
 * caller and the block function is inlined into the loop. */
static inline __attribute__((always_inline)) AVX2_FN float dot32(int64_t nb, const uint8_t *pw, const uint8_t *px,
                                                                  const dot32_layout L, block_sums_fn sums) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m128 accm = _mm_setzero_ps(); /* lanes 0, 1: sums of m * s */
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        const uint8_t *w0 = pw + i * L.wsize, *w1 = w0 + L.wsize;
        const uint8_t *x0 = px + i * L.xsize, *x1 = x0 + L.xsize;
        __m128 d = f16_pair_products(w0 + L.wd, w1 + L.wd, x0 + L.xd, x1 + L.xd);
        acc0 = _mm256_fmadd_ps(_mm256_broadcastss_ps(d), _mm256_cvtepi32_ps(sums(w0, x0)), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_movehdup_ps(d)), _mm256_cvtepi32_ps(sums(w1, x1)), acc1);
        if (L.has_min) accm = _mm_add_ps(accm, f16_pair_products(w0 + L.wm, w1 + L.wm, x0 + L.xs, x1 + L.xs));
    }
    float sum = 0.0f;
    if (i < nb) {
        const uint8_t *w0 = pw + i * L.wsize, *x0 = px + i * L.xsize;
        float d = f16_at(w0 + L.wd) * f16_at(x0 + L.xd);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sums(w0, x0)), acc0);
        if (L.has_min) sum = f16_at(w0 + L.wm) * f16_at(x0 + L.xs);
    }
    sum += hsum_ps(_mm256_add_ps(acc0, acc1));
    if (L.has_min) sum += _mm_cvtss_f32(accm) + _mm_cvtss_f32(_mm_movehdup_ps(accm));
    return sum;
}

#define Q8_0_LAYOUT(blk) \
    ((dot32_layout){sizeof(blk), offsetof(blk, d), sizeof(block_q8_0), offsetof(block_q8_0, d), false, 0, 0})
#define Q8_1_LAYOUT(blk)                                                                                     \
    ((dot32_layout){sizeof(blk), offsetof(blk, d), sizeof(block_q8_1), offsetof(block_q8_1, d), true,        \
                    offsetof(blk, m), offsetof(block_q8_1, s)})

/* ---- Q4_0 and Q8_0 against Q8_0: one exact int32 sum per block ---------------------
 * Decode streams these formats most, so the three entry points (vec_dot,
 * vec_dot_rows and gemv) share one float evaluation order and give
 * bit-identical results for the same weight row and activation row however
 * rows are grouped: a sequence's logits do not depend on which other
 * sequences share its batch, or on how the rows are split over threads.
 *   S_b = the exact integer sum of block b's level products,
 *   c_b = float(d_w) * float(d_x) of block b, rounded to float,
 *   A_j = fma(c_b, S_b, A_j) over the blocks b = j (mod 4) in order, from +0,
 *   dot = (A_0 + A_2) + (A_1 + A_3).
 * A kernel that pads the last group of four blocks adds c = 0 times S = 0,
 * which leaves an accumulator unchanged (one that starts at +0 never
 * becomes -0).  Reducing each block to one integer first is what lets the
 * float work be shared: gemv converts and scales 8 rows' sums with one
 * instruction each, the one-weight-row kernels 4 blocks at a time.
 *
 * Levels: Q4_0 u - 8 (u in 0..15), Q8_0 the stored bytes (which may be
 * -128).  The one-weight-row kernels multiply signed levels as |v| * (y with
 * v's sign): Q8_0 activations never hold -128, so pair sums stay within
 * 2 * 128 * 127 = 32512.  gemv for Q4_0 multiplies the unsigned u (pairs <=
 * 2 * 15 * 128 = 3840, two of them added: 7680) and subtracts 8 * sum(y) of
 * the block once for all rows. */



/* Full sums of 8 int32x8 vectors given as their half sums x = sum4_halves
 * of vectors 0..3 and y of 4..7: lanes [0 1 2 3 4 5 6 7]. */
static inline AVX2_FN __m256i sum8_from_halves(__m256i x, __m256i y) {
    return _mm256_add_epi32(_mm256_blend_epi32(x, y, 0xF0), _mm256_permute2x128_si256(x, y, 0x21));
}

/* (A_0 + A_2) + (A_1 + A_3) of the four lanes of a. */
static inline AVX2_FN float acc4_sum(__m128 a) {
    __m128 h = _mm_add_ps(a, _mm_movehl_ps(a, a));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

static inline uint64_t pack4_f16(uint16_t a, uint16_t b, uint16_t c, uint16_t d) {
    return (uint64_t)a | (uint64_t)b << 16 | (uint64_t)c << 32 | (uint64_t)d << 48;
}

/* Signed levels of one weight block (see above). */
static inline __attribute__((always_inline)) AVX2_FN __m256i q80_levels(const uint8_t *bw, const bool q4) {
    if (q4) return _mm256_sub_epi8(unpack_nibbles16(bw + offsetof(block_q4_0, qs)), _mm256_set1_epi8(8));
    return load32(bw + offsetof(block_q8_0, qs));
}

/* One weight row against NX (1..4) activation rows, four blocks at a time:
 * each weight block is unpacked once for all NX rows; per row the four
 * block sums are reduced to one vector, scaled and added with one FMA.  M
 * (1..4) is the number of blocks in the group, a constant in every caller. */
static inline __attribute__((always_inline)) AVX2_FN void q80_group(const uint8_t *pw, const uint8_t *px, uint64_t xs,
                                                                     __m128 *acc, const int NX, const bool q4, const int M) {
    const size_t wsize = q4 ? sizeof(block_q4_0) : sizeof(block_q8_0), xsize = sizeof(block_q8_0);
    __m256i v[4], a[4];
    uint16_t dw[4] = {0, 0, 0, 0};
    _Pragma("GCC unroll 4")
    for (int j = 0; j < M; j++) {
        v[j] = q80_levels(pw + j * wsize, q4);
        a[j] = _mm256_sign_epi8(v[j], v[j]);
        dw[j] = u16_at(pw + j * wsize);
    }
    __m128 cw = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)pack4_f16(dw[0], dw[1], dw[2], dw[3])));
    UNROLL_ROWS
    for (int k = 0; k < NX; k++) {
        const uint8_t *bx = px + k * xs;
        __m256i p[4];
        uint16_t dx[4] = {0, 0, 0, 0};
        _Pragma("GCC unroll 4")
        for (int j = 0; j < 4; j++) {
            if (j < M) {
                __m256i y = load32(bx + j * xsize + offsetof(block_q8_0, qs));
                p[j] = sum_pairs16(_mm256_maddubs_epi16(a[j], _mm256_sign_epi8(y, v[j])));
                dx[j] = u16_at(bx + j * xsize);
            } else {
                p[j] = _mm256_setzero_si256();
            }
        }
        __m128 c = _mm_mul_ps(cw, _mm_cvtph_ps(_mm_cvtsi64_si128((long long)pack4_f16(dx[0], dx[1], dx[2], dx[3]))));
        acc[k] = _mm_fmadd_ps(c, _mm_cvtepi32_ps(hsum4_i32(p[0], p[1], p[2], p[3])), acc[k]);
    }
}

static inline __attribute__((always_inline)) AVX2_FN void q80_rows(int64_t nb, float *s, const uint8_t *pw, const uint8_t *px,
                                                                    uint64_t xs, const int NX, const bool q4) {
    const size_t wsize = q4 ? sizeof(block_q4_0) : sizeof(block_q8_0), xsize = sizeof(block_q8_0);
    __m128 acc[LAIR_VEC_DOT_MAX_ROWS];
    UNROLL_ROWS
    for (int k = 0; k < NX; k++) acc[k] = _mm_setzero_ps();
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) q80_group(pw + b * wsize, px + b * xsize, xs, acc, NX, q4, 4);
    switch (nb - b) {
    case 1: q80_group(pw + b * wsize, px + b * xsize, xs, acc, NX, q4, 1); break;
    case 2: q80_group(pw + b * wsize, px + b * xsize, xs, acc, NX, q4, 2); break;
    case 3: q80_group(pw + b * wsize, px + b * xsize, xs, acc, NX, q4, 3); break;
    default: break;
    }
    UNROLL_ROWS
    for (int k = 0; k < NX; k++) s[k] = acc4_sum(acc[k]);
}

/* The rows entry points: one instance per row count. */
#define ROWS_DISPATCH(body1, body2, body3, body4) \
    switch (nx) {                                  \
    case 1: body1; break;                          \
    case 2: body2; break;                          \
    case 3: body3; break;                          \
    default: body4; break;                         \
    }

void AVX2_FN lair_vec_dot_q4_0_avx2(int64_t n, float *s, const void *w, const void *x) {
    q80_rows(n / QK4_0, s, w, x, 0, 1, true);
}

void AVX2_FN lair_vec_dot_q4_0_rows_avx2(int64_t n, float *s, const void *w, const void *x, uint64_t xs, int nx) {
    ROWS_DISPATCH(q80_rows(n / QK4_0, s, w, x, xs, 1, true), q80_rows(n / QK4_0, s, w, x, xs, 2, true),
                  q80_rows(n / QK4_0, s, w, x, xs, 3, true), q80_rows(n / QK4_0, s, w, x, xs, 4, true))
}

void AVX2_FN lair_vec_dot_q8_0_avx2(int64_t n, float *s, const void *w, const void *x) {
    q80_rows(n / QK8_0, s, w, x, 0, 1, false);
}

void AVX2_FN lair_vec_dot_q8_0_rows_avx2(int64_t n, float *s, const void *w, const void *x, uint64_t xs, int nx) {
    ROWS_DISPATCH(q80_rows(n / QK8_0, s, w, x, xs, 1, false), q80_rows(n / QK8_0, s, w, x, xs, 2, false),
                  q80_rows(n / QK8_0, s, w, x, xs, 3, false), q80_rows(n / QK8_0, s, w, x, xs, 4, false))
}

/* gemv: 8 weight rows per pass over the activation row.  Per block the 8
 * rows' sums are reduced to one vector (lanes = rows), then converted,
 * scaled and accumulated with one instruction each; the activation's
 * per-block scale (and for Q4_0 its offset term 8 * sum(y)) is prepared
 * once per call.  Rows left over (nr % 8) and rows longer than
 * GEMV_MAX_BLOCKS blocks use vec_dot, which gives the same bits. */
#define GEMV_MAX_BLOCKS 2048


/* Q4_0, rows r and r + 4 of the pass in the two 128-bit lanes: unsigned
 * levels, low nibbles against y[0..15], high nibbles against y[16..31]
 * (both in both lanes); 4 int32 partial sums per row.  The second row is
 * broadcast and blended in (any vector port) rather than inserted (one
 * shuffle port). */
static inline AVX2_FN __m256i q4_0_pair_sums(const uint8_t *qa, const uint8_t *qb, __m256i ylo, __m256i yhi) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256i v = _mm256_blend_epi32(_mm256_castsi128_si256(load16(qa)), _mm256_broadcastsi128_si256(load16(qb)), 0xF0);
    __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    return sum_pairs16(_mm256_add_epi16(_mm256_maddubs_epi16(lo, ylo), _mm256_maddubs_epi16(hi, yhi)));
}

/* Q8_0, one row: 8 partial sums. */
static inline AVX2_FN __m256i q8_0_row_sums(const uint8_t *qw, __m256i y) {
    __m256i v = load32(qw);
    return sum_pairs16(_mm256_maddubs_epi16(_mm256_sign_epi8(v, v), _mm256_sign_epi8(y, v)));
}

/* The f16 scales of block b of the 8 rows as floats (row order).  They
 * are packed in general registers (the empty asm keeps the compiler from
 * moving the shifts to the vector unit, the bottleneck of these loops). */
static inline AVX2_FN __m256 scales8(const uint8_t *p, uint64_t ws) {
    uint64_t lo = pack4_f16(u16_at(p), u16_at(p + ws), u16_at(p + 2 * ws), u16_at(p + 3 * ws));
    p += 4 * ws;
    uint64_t hi = pack4_f16(u16_at(p), u16_at(p + ws), u16_at(p + 2 * ws), u16_at(p + 3 * ws));
    __asm__("" : "+r"(lo), "+r"(hi));
    return _mm256_cvtph_ps(_mm_insert_epi64(_mm_cvtsi64_si128((long long)lo), (long long)hi, 1));
}

/* One block of 8 rows (the pass starts at pw; block b at bw = pw + b * wsize). */
static inline __attribute__((always_inline)) AVX2_FN __m256 q80_gemv_block(const uint8_t *bw, uint64_t ws, const uint8_t *bx,
                                                                           float dx, int32_t ysum8, __m256 acc, const bool q4) {
    __m256i sum;
    if (q4) {
        const uint8_t *q = bw + offsetof(block_q4_0, qs);
        __m256i ylo = _mm256_broadcastsi128_si256(load16(bx + offsetof(block_q8_0, qs)));
        __m256i yhi = _mm256_broadcastsi128_si256(load16(bx + offsetof(block_q8_0, qs) + 16));
        __m256i p0 = q4_0_pair_sums(q, q + 4 * ws, ylo, yhi);
        __m256i p1 = q4_0_pair_sums(q + ws, q + 5 * ws, ylo, yhi);
        __m256i p2 = q4_0_pair_sums(q + 2 * ws, q + 6 * ws, ylo, yhi);
        __m256i p3 = q4_0_pair_sums(q + 3 * ws, q + 7 * ws, ylo, yhi);
        /* lanes: rows 0..3 (low halves), 4..7 (high halves) */
        sum = sum4_halves_i32(p0, p1, p2, p3);
        sum = _mm256_sub_epi32(sum, _mm256_set1_epi32(ysum8));
    } else {
        const uint8_t *q = bw + offsetof(block_q8_0, qs);
        __m256i y = load32(bx + offsetof(block_q8_0, qs));
        __m256i h0 = sum4_halves_i32(q8_0_row_sums(q, y), q8_0_row_sums(q + ws, y), q8_0_row_sums(q + 2 * ws, y),
                                     q8_0_row_sums(q + 3 * ws, y));
        q += 4 * ws;
        __m256i h1 = sum4_halves_i32(q8_0_row_sums(q, y), q8_0_row_sums(q + ws, y), q8_0_row_sums(q + 2 * ws, y),
                                     q8_0_row_sums(q + 3 * ws, y));
        sum = sum8_from_halves(h0, h1);
    }
    __m256 c = _mm256_mul_ps(scales8(bw, ws), _mm256_set1_ps(dx));
    return _mm256_fmadd_ps(c, _mm256_cvtepi32_ps(sum), acc);
}

static inline __attribute__((always_inline)) AVX2_FN void q80_gemv(int64_t n, int64_t nr, float *s, const uint8_t *pw,
                                                                    uint64_t ws, const uint8_t *px, const bool q4) {
    const size_t wsize = q4 ? sizeof(block_q4_0) : sizeof(block_q8_0), xsize = sizeof(block_q8_0);
    const int64_t nb = n / 32;
    int64_t r = 0;
    if (nb <= GEMV_MAX_BLOCKS) {
        float dx[GEMV_MAX_BLOCKS];
        int32_t ysum8[GEMV_MAX_BLOCKS];
        q80_act_prep(nb, px, dx, ysum8, q4);
        /* The 8 rows of a pass are 8 interleaved streams, which the
         * hardware prefetchers follow poorly; the next pass's rows (one
         * contiguous range) are prefetched in order instead, spread over
         * this pass's steps of 4 blocks (a fixed number of lines per step,
         * a little more than the step's share, into L2). */
        const int pf_lines = q4 ? 10 : 18; /* 8 rows x 4 blocks: 576 or 1088 bytes */
        const uint64_t pf_step = nb >= 4 ? 32 * ws / (uint64_t)nb : 0;
        for (; r + 8 <= nr; r += 8) {
            const uint8_t *w0 = pw + (uint64_t)r * ws;
            uintptr_t pf = (uintptr_t)(w0 + 8 * ws), pf_end = r + 16 <= nr ? pf + 8 * ws : pf;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            int64_t b = 0;
            for (; b + 4 <= nb; b += 4) {
                if (pf < pf_end) {
                    for (int l = 0; l < pf_lines; l++) _mm_prefetch((const char *)(pf + 64 * (uintptr_t)l), _MM_HINT_T1);
                    pf += pf_step;
                }
                const uint8_t *bw = w0 + b * wsize, *bx = px + b * xsize;
                a0 = q80_gemv_block(bw, ws, bx, dx[b], ysum8[b], a0, q4);
                a1 = q80_gemv_block(bw + wsize, ws, bx + xsize, dx[b + 1], ysum8[b + 1], a1, q4);
                a2 = q80_gemv_block(bw + 2 * wsize, ws, bx + 2 * xsize, dx[b + 2], ysum8[b + 2], a2, q4);
                a3 = q80_gemv_block(bw + 3 * wsize, ws, bx + 3 * xsize, dx[b + 3], ysum8[b + 3], a3, q4);
            }
            if (b < nb) a0 = q80_gemv_block(w0 + b * wsize, ws, px + b * xsize, dx[b], ysum8[b], a0, q4);
            if (b + 1 < nb) a1 = q80_gemv_block(w0 + (b + 1) * wsize, ws, px + (b + 1) * xsize, dx[b + 1], ysum8[b + 1], a1, q4);
            if (b + 2 < nb) a2 = q80_gemv_block(w0 + (b + 2) * wsize, ws, px + (b + 2) * xsize, dx[b + 2], ysum8[b + 2], a2, q4);
            _mm256_storeu_ps(s + r, _mm256_add_ps(_mm256_add_ps(a0, a2), _mm256_add_ps(a1, a3)));
        }
    }
    for (; r < nr; r++) q80_rows(nb, s + r, pw + (uint64_t)r * ws, px, 0, 1, q4);
}

void AVX2_FN lair_gemv_q4_0_avx2(int64_t n, int64_t nr, float *s, const void *w, uint64_t ws, const void *x) {
    q80_gemv(n, nr, s, w, ws, x, true);
}

void AVX2_FN lair_gemv_q8_0_avx2(int64_t n, int64_t nr, float *s, const void *w, uint64_t ws, const void *x) {
    q80_gemv(n, nr, s, w, ws, x, false);
}

/* Q5_0: levels (lo | bit << 4) - 16. */
static inline AVX2_FN __m256i q5_0_sums(const uint8_t *bw, const uint8_t *bx) {
    __m256i hi = _mm256_and_si256(bits_to_bytes(u32_at(bw + offsetof(block_q5_0, qh))), _mm256_set1_epi8(0x10));
    __m256i u = _mm256_or_si256(unpack_nibbles16(bw + offsetof(block_q5_0, qs)), hi);
    return dot_u8_off(u, load32(bx + offsetof(block_q8_0, qs)), 16);
}

void AVX2_FN lair_vec_dot_q5_0_avx2(int64_t n, float *s, const void *w, const void *x) {
    *s = dot32(n / QK5_0, w, x, Q8_0_LAYOUT(block_q5_0), q5_0_sums);
}

/* IQ4_NL levels from the 16-entry table (in both lanes for the in-lane
 * shuffle); activations are the a side of dot_i8 since the table has no
 * -128 (so Q8_K's -128 is fine too). */
static inline AVX2_FN __m256i iq4_levels(const uint8_t *qs) {
    const __m256i table = _mm256_broadcastsi128_si256(load16((const uint8_t *)kvalues_iq4nl));
    return _mm256_shuffle_epi8(table, unpack_nibbles16(qs));
}

static inline AVX2_FN __m256i iq4_nl_sums(const uint8_t *bw, const uint8_t *bx) {
    return dot_i8(load32(bx + offsetof(block_q8_0, qs)), iq4_levels(bw + offsetof(block_iq4_nl, qs)));
}

void AVX2_FN lair_vec_dot_iq4_nl_avx2(int64_t n, float *s, const void *w, const void *x) {
    *s = dot32(n / QK4_NL, w, x, Q8_0_LAYOUT(block_iq4_nl), iq4_nl_sums);
}

/* Q4_1 / Q5_1: unsigned levels straight into maddubs (pair sums at most
 * 2 * 31 * 128 = 7936). */
static inline AVX2_FN __m256i q4_1_sums(const uint8_t *bw, const uint8_t *bx) {
    __m256i u = unpack_nibbles16(bw + offsetof(block_q4_1, qs));
    return sum_pairs16(_mm256_maddubs_epi16(u, load32(bx + offsetof(block_q8_1, qs))));
}

void AVX2_FN lair_vec_dot_q4_1_avx2(int64_t n, float *s, const void *w, const void *x) {
    *s = dot32(n / QK4_1, w, x, Q8_1_LAYOUT(block_q4_1), q4_1_sums);
}

static inline AVX2_FN __m256i q5_1_sums(const uint8_t *bw, const uint8_t *bx) {
    __m256i hi = _mm256_and_si256(bits_to_bytes(u32_at(bw + offsetof(block_q5_1, qh))), _mm256_set1_epi8(0x10));
    __m256i u = _mm256_or_si256(unpack_nibbles16(bw + offsetof(block_q5_1, qs)), hi);
    return sum_pairs16(_mm256_maddubs_epi16(u, load32(bx + offsetof(block_q8_1, qs))));
}

void AVX2_FN lair_vec_dot_q5_1_avx2(int64_t n, float *s, const void *w, const void *x) {
    *s = dot32(n / QK5_1, w, x, Q8_1_LAYOUT(block_q5_1), q5_1_sums);
}

/* ---- K-quants and IQ4_XS against Q8_K ---------------------------------------------
 * Per super-block int32x8 vectors collect sum_sub scale * sum(q y) exactly
 * (bounds noted per format; all well below 2^31), then
 * acc += (dy * d) * sums.  Mins use the Q8_K bsums (16 int16, one per 16
 * elements): madd(bsums, mins as int16) gives min-weighted sums in int32,
 * added into a second float accumulator with dy * dmin.  Levels stored with
 * an offset (Q3_K: -4, Q6_K: -32) are multiplied unsigned and the offset
 * times sum_sub scale * bsum is subtracted.  The fixed loops over the parts
 * of a super-block are written out as calls of a step function with
 * constant arguments, so that every shuffle index is a constant. */

#define Q8K_D offsetof(block_q8_K, d)
#define Q8K_QS offsetof(block_q8_K, qs)
#define Q8K_BSUMS offsetof(block_q8_K, bsums)

/* Q2_K / Q3_K order: half h (qs bytes 32h..32h+31), 2-bit plane p: the 32
 * elements 128h + 32p + l are bits 2p..2p+1 of qs[32h + l], sub-blocks
 * 8h + 2p (l < 16, the low 128-bit lane) and 8h + 2p + 1 (the high lane). */

/* Q2_K, one plane: maddubs pairs <= 2 * 3 * 128; madd with scales <= 15. */
static inline AVX2_FN __m256i q2k_plane(__m256i q, const uint8_t *yq, __m128i sc, int h, int p) {
    __m256i lv = _mm256_and_si256(_mm256_srli_epi16(q, 2 * p), _mm256_set1_epi8(3));
    __m256i prod = _mm256_maddubs_epi16(lv, load32(yq + 128 * h + 32 * p));
    return _mm256_madd_epi16(prod, scale_pair_i16(sc, 8 * h + 2 * p));
}

static inline AVX2_FN __m256i q2k_half(const uint8_t *qs, const uint8_t *yq, __m128i sc, int h) {
    __m256i q = load32(qs + 32 * h);
    __m256i a = _mm256_add_epi32(q2k_plane(q, yq, sc, h, 0), q2k_plane(q, yq, sc, h, 1));
    __m256i b = _mm256_add_epi32(q2k_plane(q, yq, sc, h, 2), q2k_plane(q, yq, sc, h, 3));
    return _mm256_add_epi32(a, b);
}

/* Q2_K: scale (low nibble) and min (high nibble) of 16 sub-blocks of 16. */
void AVX2_FN lair_vec_dot_q2_K_avx2(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *pw = w, *px = x;
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *bw = pw + i * sizeof(block_q2_K), *bx = px + i * sizeof(block_q8_K);
        const uint8_t *qs = bw + offsetof(block_q2_K, qs), *yq = bx + Q8K_QS;
        float dy = f32_at(bx + Q8K_D);
        __m128i sm = load16(bw + offsetof(block_q2_K, scales));
        __m128i sc = _mm_and_si128(sm, _mm_set1_epi8(0x0F));
        __m128i mn = _mm_and_si128(_mm_srli_epi16(sm, 4), _mm_set1_epi8(0x0F));
        __m256i msum = _mm256_madd_epi16(load32(bx + Q8K_BSUMS), _mm256_cvtepu8_epi16(mn));
        accm = _mm256_fmadd_ps(_mm256_set1_ps(dy * f16_at(bw + offsetof(block_q2_K, dmin))), _mm256_cvtepi32_ps(msum), accm);
        __m256i sumi = _mm256_add_epi32(q2k_half(qs, yq, sc, 0), q2k_half(qs, yq, sc, 1));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dy * f16_at(bw + offsetof(block_q2_K, d))), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum_ps(acc) - hsum_ps(accm);
}

/* Q3_K, one plane: u = low 2 bits | hmask bit (4h + p of byte l) << 2, in
 * 0..7; maddubs pairs <= 2 * 7 * 128; madd with |scale| <= 32. */
static inline AVX2_FN __m256i q3k_plane(__m256i q, __m256i hm, const uint8_t *yq, __m128i sc, int h, int p) {
    __m256i lo = _mm256_and_si256(_mm256_srli_epi16(q, 2 * p), _mm256_set1_epi8(3));
    /* the hmask bit to bit 2: shift right by 4h + p - 2 (or left by 2 - ...),
     * then keep bit 2 of each byte */
    const int sh = 4 * h + p - 2;
    __m256i hb = sh >= 0 ? _mm256_srli_epi16(hm, sh) : _mm256_slli_epi16(hm, -sh);
    __m256i u = _mm256_or_si256(lo, _mm256_and_si256(hb, _mm256_set1_epi8(4)));
    __m256i prod = _mm256_maddubs_epi16(u, load32(yq + 128 * h + 32 * p));
    return _mm256_madd_epi16(prod, scale_pair_i16(sc, 8 * h + 2 * p));
}

static inline AVX2_FN __m256i q3k_half(const uint8_t *qs, __m256i hm, const uint8_t *yq, __m128i sc, int h) {
    __m256i q = load32(qs + 32 * h);
    __m256i a = _mm256_add_epi32(q3k_plane(q, hm, yq, sc, h, 0), q3k_plane(q, hm, yq, sc, h, 1));
    __m256i b = _mm256_add_epi32(q3k_plane(q, hm, yq, sc, h, 2), q3k_plane(q, hm, yq, sc, h, 3));
    return _mm256_add_epi32(a, b);
}

/* Q3_K: levels u - 4.  The 16 signed 6-bit scales are unpacked per 4-byte
 * word: word k (scales 4k..4k+3) has low nibbles from word k%2 (shifted by
 * 4 for k >= 2) and top bits from word 2 shifted by 2k. */
void AVX2_FN lair_vec_dot_q3_K_avx2(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *pw = w, *px = x;
    const uint32_t lo4 = 0x0F0F0F0Fu, hi2 = 0x03030303u;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *bw = pw + i * sizeof(block_q3_K), *bx = px + i * sizeof(block_q8_K);
        const uint8_t *qs = bw + offsetof(block_q3_K, qs), *yq = bx + Q8K_QS;
        const uint8_t *sp = bw + offsetof(block_q3_K, scales);
        uint32_t a0 = u32_at(sp), a1 = u32_at(sp + 4), a2 = u32_at(sp + 8);
        __m128i sc = _mm_setr_epi32((int)((a0 & lo4) | ((a2 & hi2) << 4)), (int)((a1 & lo4) | (((a2 >> 2) & hi2) << 4)),
                                    (int)(((a0 >> 4) & lo4) | (((a2 >> 4) & hi2) << 4)),
                                    (int)(((a1 >> 4) & lo4) | (((a2 >> 6) & hi2) << 4)));
        sc = _mm_sub_epi8(sc, _mm_set1_epi8(32)); /* signed -32..31 */
        /* offset: sums -= 4 * sum_sub scale * bsum */
        __m256i off = _mm256_madd_epi16(load32(bx + Q8K_BSUMS), _mm256_cvtepi8_epi16(sc));
        __m256i hm = load32(bw + offsetof(block_q3_K, hmask));
        __m256i sumi = _mm256_add_epi32(q3k_half(qs, hm, yq, sc, 0), q3k_half(qs, hm, yq, sc, 1));
        sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(off, 2));
        float d = f32_at(bx + Q8K_D) * f16_at(bw + offsetof(block_q3_K, d));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum_ps(acc);
}

/* Q4_K/Q5_K 6-bit scales and mins from the 12 packed bytes as three
 * little-endian words a0..a2: sub-blocks 0..3 are the low 6 bits of a0
 * (scale) and a1 (min); sub-blocks 4..7 take low nibbles from a2 (scale
 * low, min high) and top 2 bits from the top bits of a0 / a1.
 * Returns scales in bytes 0..7 and mins in bytes 8..15. */
static inline AVX2_FN __m128i k4_scales_mins(const uint8_t *p) {
    const uint32_t lo6 = 0x3F3F3F3Fu, lo4 = 0x0F0F0F0Fu, hi2 = 0x03030303u;
    uint32_t a0 = u32_at(p), a1 = u32_at(p + 4), a2 = u32_at(p + 8);
    uint32_t sc_lo = a0 & lo6, m_lo = a1 & lo6;
    uint32_t sc_hi = (a2 & lo4) | (((a0 >> 6) & hi2) << 4);
    uint32_t m_hi = ((a2 >> 4) & lo4) | (((a1 >> 6) & hi2) << 4);
    return _mm_setr_epi32((int)sc_lo, (int)sc_hi, (int)m_lo, (int)m_hi);
}

/* Shared by Q4_K and Q5_K: the mins term of one super-block into accm and
 * the 8 scales as int16, replicated in both 128-bit lanes (for bcast_i16). */
static inline AVX2_FN __m256i k4_prepare(const uint8_t *bw_scales, const uint8_t *bx, float dmin, __m256 *accm) {
    __m128i sm = k4_scales_mins(bw_scales);
    /* mins m_j duplicated to lanes 2j, 2j+1 meet bsums 2j, 2j+1 */
    __m128i mins = _mm_unpackhi_epi8(sm, sm);
    __m256i msum = _mm256_madd_epi16(load32(bx + Q8K_BSUMS), _mm256_cvtepu8_epi16(mins));
    *accm = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(msum), *accm);
    return _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
}

/* Q5_K, chunk c: as Q4_K plus bit j of qh[l] as bit 4 of element 32j + l
 * (j = 2c for the low nibbles, 2c + 1 for the high ones).  maddubs pairs
 * <= 2 * 31 * 128; madd with scales <= 63. */
static inline AVX2_FN __m256i q5k_chunk(const uint8_t *qs, __m256i qh, const uint8_t *yq, __m256i sc, int c) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), b4 = _mm256_set1_epi8(0x10);
    __m256i q = load32(qs + 32 * c);
    /* qh bit j to bit 4 (shift left 4 - j or right j - 4; the mask drops
     * what 16-bit shifts carry across bytes) */
    const int j = 2 * c;
    __m256i h0 = j <= 4 ? _mm256_slli_epi16(qh, 4 - j) : _mm256_srli_epi16(qh, j - 4);
    __m256i h1 = j + 1 <= 4 ? _mm256_slli_epi16(qh, 3 - j) : _mm256_srli_epi16(qh, j - 3);
    __m256i u0 = _mm256_or_si256(_mm256_and_si256(q, m4), _mm256_and_si256(h0, b4));
    __m256i u1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), _mm256_and_si256(h1, b4));
    __m256i p0 = _mm256_maddubs_epi16(u0, load32(yq + 64 * c));
    __m256i p1 = _mm256_maddubs_epi16(u1, load32(yq + 64 * c + 32));
    return _mm256_add_epi32(_mm256_madd_epi16(p0, bcast_i16(sc, 2 * c)), _mm256_madd_epi16(p1, bcast_i16(sc, 2 * c + 1)));
}

void AVX2_FN lair_vec_dot_q5_K_avx2(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *pw = w, *px = x;
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *bw = pw + i * sizeof(block_q5_K), *bx = px + i * sizeof(block_q8_K);
        const uint8_t *qs = bw + offsetof(block_q5_K, qs), *yq = bx + Q8K_QS;
        float dy = f32_at(bx + Q8K_D);
        __m256i sc = k4_prepare(bw + offsetof(block_q5_K, scales), bx, dy * f16_at(bw + offsetof(block_q5_K, dmin)), &accm);
        __m256i qh = load32(bw + offsetof(block_q5_K, qh));
        __m256i s01 = _mm256_add_epi32(q5k_chunk(qs, qh, yq, sc, 0), q5k_chunk(qs, qh, yq, sc, 1));
        __m256i s23 = _mm256_add_epi32(q5k_chunk(qs, qh, yq, sc, 2), q5k_chunk(qs, qh, yq, sc, 3));
        __m256 d = _mm256_set1_ps(dy * f16_at(bw + offsetof(block_q5_K, d)));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_add_epi32(s01, s23)), acc);
    }
    *s = hsum_ps(acc) - hsum_ps(accm);
}

/* IQ4_XS, sub-blocks ib and ib + 1 (even ib): levels at qs + 16ib in IQ4_NL
 * order.  Activations (which may hold -128) are the a side of the signed
 * product, the table values (>= -127) the b side: pairs <= 32512; madd
 * with |scale| <= 32.  sc holds the 8 scales as int16 in both lanes. */
static inline AVX2_FN __m256i iq4xs_pair(const uint8_t *qs, const uint8_t *yq, __m256i sc, int ib) {
    __m256i p0 = dot_i8_pairs16(load32(yq + 32 * ib), iq4_levels(qs + 16 * ib));
    __m256i p1 = dot_i8_pairs16(load32(yq + 32 * ib + 32), iq4_levels(qs + 16 * ib + 16));
    return _mm256_add_epi32(_mm256_madd_epi16(p0, bcast_i16(sc, ib)), _mm256_madd_epi16(p1, bcast_i16(sc, ib + 1)));
}

/* IQ4_XS: scale of sub-block ib = (nibble ib%2 of scales_l[ib/2] | bits
 * 2ib..2ib+1 of scales_h << 4) - 32. */
void AVX2_FN lair_vec_dot_iq4_xs_avx2(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *pw = w, *px = x;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *bw = pw + i * sizeof(block_iq4_xs), *bx = px + i * sizeof(block_q8_K);
        const uint8_t *qs = bw + offsetof(block_iq4_xs, qs), *yq = bx + Q8K_QS;
        /* nibble ib of scales_l (as a little-endian word) and 2-bit field
         * ib of scales_h spread to byte ib by halving the field groups */
        uint64_t lo = u32_at(bw + offsetof(block_iq4_xs, scales_l));
        lo = (lo | lo << 16) & 0x0000FFFF0000FFFFull;
        lo = (lo | lo << 8) & 0x00FF00FF00FF00FFull;
        lo = (lo | lo << 4) & 0x0F0F0F0F0F0F0F0Full;
        uint64_t hi = u16_at(bw + offsetof(block_iq4_xs, scales_h));
        hi = (hi | hi << 24) & 0x000000FF000000FFull;
        hi = (hi | hi << 12) & 0x000F000F000F000Full;
        hi = (hi | hi << 6) & 0x0303030303030303ull;
        __m128i sc8 = _mm_sub_epi8(_mm_cvtsi64_si128((long long)(lo | hi << 4)), _mm_set1_epi8(32));
        __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(sc8));
        __m256i s01 = _mm256_add_epi32(iq4xs_pair(qs, yq, sc, 0), iq4xs_pair(qs, yq, sc, 2));
        __m256i s23 = _mm256_add_epi32(iq4xs_pair(qs, yq, sc, 4), iq4xs_pair(qs, yq, sc, 6));
        __m256 d = _mm256_set1_ps(f32_at(bx + Q8K_D) * f16_at(bw + offsetof(block_iq4_xs, d)));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_add_epi32(s01, s23)), acc);
    }
    *s = hsum_ps(acc);
}

/* ---- Q4_K and Q6_K: one kernel for 1 to LAIR_VEC_DOT_MAX_ROWS activation rows ----
 * vec_dot is the one-row instance of the multi-row kernel, so a weight row
 * gives the same bits against an activation row whether the engine
 * multiplies it alone (decode) or beside other tokens (batches, prefill).
 * Each unpacked group of 32 weight levels and its sub-block scales are
 * applied to all NX activation rows before the next group is unpacked; the
 * int32 sums of a super-block are kept per row and scaled once per
 * super-block (Q4_K's min term goes into the same float accumulator).  NX
 * is a constant in every instance.  With one row the weight stream is
 * prefetched 2 KiB ahead (measured +20-30% out of cache on AMD EPYC). */


/* Float order of the Q4_K and Q6_K kernels, shared with their matrix x
 * matrix tiles (gemm_avx2.c) so that all give the same bits.  Per
 * super-block i the exact integers
 *   S_i = sum over sub-blocks j of sc_j * (sum of level x activation products)
 *         (Q6_K: levels u - 32),
 *   M_i = sum over j of m_j * (sum of the activations of sub-block j) (Q4_K),
 * then with c_i = dy_i * d_i and e_i = dy_i * dmin_i (float products)
 *   P_{i mod 8} = fma(c_i, S_i, P), then (Q4_K) P = fma(-e_i, M_i, P),
 * in order from P = +0, and dot = ((P0 + P4) + (P2 + P6)) + ((P1 + P5) + (P3
 * + P7)).  Eight phases let a one-row kernel collect 8 super-blocks' sums
 * and scale them with one instruction each; padding phases add 0 * 0.
 * K_PHASES buffers a group per activation row. */
typedef struct k_phases {
    __m256i S[8], M[8];
    float c[8], e[8];
} k_phases;

/* Folds a group of n (1..8) super-blocks into acc. */
static inline __attribute__((always_inline)) AVX2_FN __m256 k_phases_fold(k_phases *g, int n, __m256 acc, const bool mins) {
    for (int q = n; q < 8; q++) {
        g->S[q] = g->M[q] = _mm256_setzero_si256();
        g->c[q] = g->e[q] = 0.0f;
    }
    /* (Q6_K leaves M and e unset in the filled phases: they are not read) */
    __m256i S8 = sum8_from_halves(sum4_halves_i32(g->S[0], g->S[1], g->S[2], g->S[3]), sum4_halves_i32(g->S[4], g->S[5], g->S[6], g->S[7]));
    acc = _mm256_fmadd_ps(_mm256_loadu_ps(g->c), _mm256_cvtepi32_ps(S8), acc);
    if (mins) {
        __m256i M8 = sum8_from_halves(sum4_halves_i32(g->M[0], g->M[1], g->M[2], g->M[3]), sum4_halves_i32(g->M[4], g->M[5], g->M[6], g->M[7]));
        acc = _mm256_fnmadd_ps(_mm256_loadu_ps(g->e), _mm256_cvtepi32_ps(M8), acc);
    }
    return acc;
}

/* Q4_K levels 0..15 (pairs <= 2 * 15 * 128; scales <= 63). */
static inline __attribute__((always_inline)) AVX2_FN void q4_K_rows(int64_t nb, float *s, const uint8_t *pw, const uint8_t *px,
                                                                    uint64_t xs, const int NX) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc[LAIR_VEC_DOT_MAX_ROWS];
    k_phases ph[LAIR_VEC_DOT_MAX_ROWS];
    UNROLL_ROWS
    for (int k = 0; k < NX; k++) acc[k] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const int p = (int)(i & 7);
        const uint8_t *bw = pw + i * sizeof(block_q4_K), *qs = bw + offsetof(block_q4_K, qs);
        const uint8_t *bx = px + i * sizeof(block_q8_K);
        if (NX == 1)
            for (int l = 0; l < 3; l++) _mm_prefetch((const char *)bw + 2048 + 64 * l, _MM_HINT_T0);
        uint64_t sc8, mn8;
        k4_scales_mins_u64(bw + offsetof(block_q4_K, scales), &sc8, &mn8);
        __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc8)));
        __m256i sumi[LAIR_VEC_DOT_MAX_ROWS];
        UNROLL_ROWS
        for (int k = 0; k < NX; k++) sumi[k] = _mm256_setzero_si256();
        _Pragma("GCC unroll 4")
        for (int c = 0; c < 4; c++) {
            __m256i q = load32(qs + 32 * c);
            /* sub-block 2c: low nibbles; 2c + 1: high nibbles */
            __m256i lo = _mm256_and_si256(q, m4), slo = bcast_i16(sc, 2 * c);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4), shi = bcast_i16(sc, 2 * c + 1);
            UNROLL_ROWS
            for (int k = 0; k < NX; k++) {
                const uint8_t *y = bx + k * xs + Q8K_QS + 64 * c;
                __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load32(y)), slo);
                __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load32(y + 32)), shi);
                sumi[k] = _mm256_add_epi32(sumi[k], _mm256_add_epi32(p0, p1));
            }
        }
        /* mins m_j duplicated to lanes 2j, 2j+1 meet bsums 2j, 2j+1 */
        __m128i m = _mm_cvtsi64_si128((long long)mn8);
        __m256i mins = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m, m));
        float d = f16_at(bw + offsetof(block_q4_K, d)), dmin = f16_at(bw + offsetof(block_q4_K, dmin));
        UNROLL_ROWS
        for (int k = 0; k < NX; k++) {
            const uint8_t *bxk = bx + k * xs;
            float dy = f32_at(bxk + Q8K_D);
            ph[k].S[p] = sumi[k];
            ph[k].M[p] = _mm256_madd_epi16(load32(bxk + Q8K_BSUMS), mins);
            ph[k].c[p] = dy * d;
            ph[k].e[p] = dy * dmin;
            if (p == 7 || i == nb - 1) acc[k] = k_phases_fold(&ph[k], p + 1, acc[k], true);
        }
    }
    UNROLL_ROWS
    for (int k = 0; k < NX; k++) s[k] = hsum_ps(acc[k]);
}

void AVX2_FN lair_vec_dot_q4_K_avx2(int64_t n, float *s, const void *w, const void *x) { q4_K_rows(n / QK_K, s, w, x, 0, 1); }

/* gemv: rows one after another (each a sequential stream the prefetch
 * follows), without a call per row. */
void AVX2_FN lair_gemv_q4_K_avx2(int64_t n, int64_t nr, float *s, const void *w, uint64_t ws, const void *x) {
    for (int64_t r = 0; r < nr; r++) q4_K_rows(n / QK_K, s + r, (const uint8_t *)w + (uint64_t)r * ws, x, 0, 1);
}

void AVX2_FN lair_vec_dot_q4_K_rows_avx2(int64_t n, float *s, const void *w, const void *x, uint64_t xs, int nx) {
    ROWS_DISPATCH(q4_K_rows(n / QK_K, s, w, x, xs, 1), q4_K_rows(n / QK_K, s, w, x, xs, 2),
                  q4_K_rows(n / QK_K, s, w, x, xs, 3), q4_K_rows(n / QK_K, s, w, x, xs, 4))
}

/* Q6_K, half h (128 elements): ql bytes 64h.. (two 32-byte loads), qh bytes
 * 32h..; group g (elements 128h + 32g + l) is nibble g/2 of
 * ql[64h + 32(g%2) + l] with bits 2g..2g+1 of qh[32h + l] on top, sub-blocks
 * 8h + 2g (l < 16, the low 128-bit lane) and 8h + 2g + 1 (the high lane).
 * Levels u - 32 with u in 0..63 (pairs <= 2 * 63 * 128 = 16128; madd with
 * |scale| <= 128).  The scale pair of a group comes from one in-lane
 * shuffle of sc_h, which holds scales 8h..8h+7 in its low lane and
 * 8h+1..8h+8 in its high lane as int16.  Float order: see k_phases. */
static inline __attribute__((always_inline)) AVX2_FN void q6_K_rows(int64_t nb, float *s, const uint8_t *pw, const uint8_t *px,
                                                                    uint64_t xs, const int NX) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x30);
    const __m128i lanes0 = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 1, 2, 3, 4, 5, 6, 7, 8);
    const __m128i lanes1 = _mm_setr_epi8(8, 9, 10, 11, 12, 13, 14, 15, 9, 10, 11, 12, 13, 14, 15, 15);
    __m256 acc[LAIR_VEC_DOT_MAX_ROWS];
    k_phases ph[LAIR_VEC_DOT_MAX_ROWS];
    UNROLL_ROWS
    for (int k = 0; k < NX; k++) acc[k] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const int ph_i = (int)(i & 7);
        const uint8_t *bw = pw + i * sizeof(block_q6_K), *bx = px + i * sizeof(block_q8_K);
        if (NX == 1)
            for (int l = 0; l < 4; l++) _mm_prefetch((const char *)bw + 2048 + 64 * l, _MM_HINT_T0);
        __m128i sc = load16(bw + offsetof(block_q6_K, scales));
        const __m256i sch[2] = {_mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc, lanes0)),
                                _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc, lanes1))};
        __m256i sumi[LAIR_VEC_DOT_MAX_ROWS];
        UNROLL_ROWS
        for (int k = 0; k < NX; k++) sumi[k] = _mm256_setzero_si256();
        _Pragma("GCC unroll 2")
        for (int h = 0; h < 2; h++) {
            __m256i ql0 = load32(bw + offsetof(block_q6_K, ql) + 64 * h);
            __m256i ql1 = load32(bw + offsetof(block_q6_K, ql) + 64 * h + 32);
            __m256i qh = load32(bw + offsetof(block_q6_K, qh) + 32 * h);
            _Pragma("GCC unroll 4")
            for (int g = 0; g < 4; g++) {
                /* group g: nibble g/2 of ql(g%2), bits 2g..2g+1 of qh to bits 4..5
                 * (the masks drop what the 16-bit shifts carry across bytes) */
                __m256i ql = g % 2 ? ql1 : ql0;
                __m256i lo = g / 2 ? _mm256_srli_epi16(ql, 4) : ql;
                __m256i hb = g == 0 ? _mm256_slli_epi16(qh, 4)
                             : g == 1 ? _mm256_slli_epi16(qh, 2)
                             : g == 2 ? qh
                                      : _mm256_srli_epi16(qh, 2);
                __m256i u = _mm256_or_si256(_mm256_and_si256(lo, m4), _mm256_and_si256(hb, m2));
                __m256i sg = _mm256_shuffle_epi8(sch[h], _mm256_set1_epi16((short)((4 * g + 1) << 8 | 4 * g)));
                UNROLL_ROWS
                for (int k = 0; k < NX; k++) {
                    __m256i p = _mm256_maddubs_epi16(u, load32(bx + k * xs + Q8K_QS + 128 * h + 32 * g));
                    sumi[k] = _mm256_add_epi32(sumi[k], _mm256_madd_epi16(p, sg));
                }
            }
        }
        __m256i sc16 = _mm256_cvtepi8_epi16(sc);
        float d = f16_at(bw + offsetof(block_q6_K, d));
        UNROLL_ROWS
        for (int k = 0; k < NX; k++) {
            const uint8_t *bxk = bx + k * xs;
            /* offset: sums -= 32 * sum_sub scale * bsum */
            __m256i off = _mm256_madd_epi16(load32(bxk + Q8K_BSUMS), sc16);
            ph[k].S[ph_i] = _mm256_sub_epi32(sumi[k], _mm256_slli_epi32(off, 5));
            ph[k].c[ph_i] = f32_at(bxk + Q8K_D) * d;
            if (ph_i == 7 || i == nb - 1) acc[k] = k_phases_fold(&ph[k], ph_i + 1, acc[k], false);
        }
    }
    UNROLL_ROWS
    for (int k = 0; k < NX; k++) s[k] = hsum_ps(acc[k]);
}

void AVX2_FN lair_vec_dot_q6_K_avx2(int64_t n, float *s, const void *w, const void *x) { q6_K_rows(n / QK_K, s, w, x, 0, 1); }

void AVX2_FN lair_gemv_q6_K_avx2(int64_t n, int64_t nr, float *s, const void *w, uint64_t ws, const void *x) {
    for (int64_t r = 0; r < nr; r++) q6_K_rows(n / QK_K, s + r, (const uint8_t *)w + (uint64_t)r * ws, x, 0, 1);
}

void AVX2_FN lair_vec_dot_q6_K_rows_avx2(int64_t n, float *s, const void *w, const void *x, uint64_t xs, int nx) {
    ROWS_DISPATCH(q6_K_rows(n / QK_K, s, w, x, xs, 1), q6_K_rows(n / QK_K, s, w, x, xs, 2),
                  q6_K_rows(n / QK_K, s, w, x, xs, 3), q6_K_rows(n / QK_K, s, w, x, xs, 4))
}

/* ---- y += a * x ------------------------------------------------------------ */

void AVX2_FN lair_axpy_f32_avx2(int64_t n, float *y, float a, const void *x) {
    const uint8_t *p = x;
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps((const float *)(const void *)(p + 4 * i)), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * f32_at(p + 4 * i);
}

void AVX2_FN lair_axpy_f16_avx2(int64_t n, float *y, float a, const void *x) {
    const uint8_t *p = x;
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_cvtph_ps(load16(p + 2 * i)), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * f16_at(p + 2 * i);
}

#endif /* __x86_64__ */
