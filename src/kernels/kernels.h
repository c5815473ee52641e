/* Compute kernels: dot products of weight rows with activation rows, chosen
 * once per process for the CPU (scalar reference, AVX2+FMA, ...).
 *
 * As in the reference implementation of GGUF inference, a weight format is
 * multiplied with activations converted to its partner format ("vec_dot
 * type"): quantized weights with 8-bit activations (q8_0, q8_1 or q8_K),
 * f16 weights with f16 activations, bf16 with bf16, f32 with f32.  Matching
 * this rounding is what makes lair's logits agree with the reference. */
#ifndef LAIR_KERNELS_H
#define LAIR_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

#include "lair.h"

/* *s = dot(w, x) over n elements (n a multiple of both formats' block size):
 * w is one weight row in its format, x one activation row already converted
 * to lair_vec_dot_type(weight format).  Pointers need no alignment. */
typedef void (*lair_vec_dot_fn)(int64_t n, float *s, const void *w, const void *x);

/* The same for nx activation rows at once (prefill): s[k] = dot(w, x + k *
 * x_stride bytes) for k < nx (1 <= nx <= LAIR_VEC_DOT_MAX_ROWS).  A kernel
 * unpacks each weight block once and applies it to all nx rows while it sits
 * in registers: this is what makes prefill compute-bound rather than
 * decode-like.  Results equal nx calls of vec_dot up to float summation order. */
#define LAIR_VEC_DOT_MAX_ROWS 4
typedef void (*lair_vec_dot_rows_fn)(int64_t n, float *s, const void *w, const void *x, uint64_t x_stride, int nx);

/* Matrix x vector (decode): s[r] = dot(w + r * row_stride bytes, x) for
 * r < nr, the nr weight rows against one activation row.  A kernel computes
 * several rows per pass over x, so the activation's loads, scales and
 * horizontal sums are shared.  Results equal vec_dot on each row (and
 * vec_dot_rows) bit for bit, so a row's value never depends on how rows or
 * tokens are grouped. */
typedef void (*lair_gemv_fn)(int64_t n, int64_t nr, float *s, const void *w, uint64_t row_stride, const void *x);

/* y[i] += a * x[i] for i < n, x in its format (attention's weighted sum of
 * V rows read straight from the KV cache). */
typedef void (*lair_axpy_fn)(int64_t n, float *y, float a, const void *x);

/* Matrix x matrix (prefill): y[t * ldy + r] = dot(w + r * ws bytes, x + t *
 * xs bytes) for r < nr weight rows and t < nt activation rows (1 <= nt <=
 * LAIR_GEMM_MAX_TOKENS).  A kernel repacks tiles of weight rows into
 * scratch (LAIR_GEMM_SCRATCH_BYTES(n) bytes, 32-byte aligned, owned by the
 * calling thread) and applies each tile to all nt tokens.  Bit-identical to
 * vec_dot on every (row, token), like gemv.
 * x_packed: the previous call on this scratch had the same n, nt, x and xs,
 * and x has not changed since; a kernel that also repacks the activations
 * into scratch then keeps them (for the caller's next chunk of rows) instead
 * of packing them again.  The result is the same either way. */
#define LAIR_GEMM_MAX_TOKENS 64
#define LAIR_GEMM_TILE_BLOCK_BYTES 360  /* at most, per 32 elements: 8 weight rows' levels and scales */
#define LAIR_GEMM_GROUP_BLOCK_BYTES 320 /* at most, per 32 elements: 8 tokens' values, scales and sums */
#define LAIR_GEMM_SCRATCH_BYTES(n) \
    ((uint64_t)((n) / 32) * (LAIR_GEMM_TILE_BLOCK_BYTES + LAIR_GEMM_GROUP_BLOCK_BYTES * (LAIR_GEMM_MAX_TOKENS / 8)) + 64)
typedef void (*lair_gemm_fn)(int64_t n, int64_t nr, int nt, float *y, int64_t ldy, const void *w, uint64_t ws,
                             const void *x, uint64_t xs, void *scratch, bool x_packed);

/* Attention over one KV head for the G query heads sharing it, over n cells
 * of the KV cache (rows at k or v + cells[i] * rs bytes, in the KV format;
 * hd, the head size, a multiple of 8):
 *   scores: s[g * ss + i] = dot(K row cells[i], q + g * hd) for g < G,
 *           i < n; q holds G query heads as floats (already rounded as the
 *           format's partner would round them);
 *   values: o[g * hd + d] += p[g * ps + i] * V row cells[i] [d], over
 *           i = 0 .. n-1 in order, one fused multiply-add per term, terms
 *           with p == 0 skipped.
 * Every variant gives the scalar reference's bits (attn_scalar.c states the
 * summation order), and a head's result depends on nothing but its own
 * query, probabilities and the rows listed: not on G, on the other heads,
 * or on the batch. */
typedef void (*lair_attn_scores_fn)(int64_t hd, int G, int32_t n, const int32_t *cells, const void *k, uint64_t rs,
                                    const float *q, float *s, int64_t ss);
typedef void (*lair_attn_values_fn)(int64_t hd, int G, int32_t n, const int32_t *cells, const void *v, uint64_t rs,
                                    const float *p, int64_t ps, float *o);

/* Activation rows into a partner format (Q8_0, Q8_K): n values (a multiple
 * of the block size) from src into blocks at dst, the same bits as the
 * format's from_float (src/tensor), which is their specification. */
typedef void (*lair_quantize_fn)(const float *src, void *dst, int64_t n);

/* y[i] = e^(x[i] - sub) for i < n (y may be x), within about one unit in
 * the last place of expf: 0 where e^x would be below 2^-126 (no subnormal
 * results), inf above e^88.72, NaN for NaN; the same bits on every ISA
 * (kernels/exp_scalar.c states the method).  The e^x inside
 * lair_softmax_fn and lair_silu_mul_fn, kept on its own so that its
 * accuracy and its bits are tested over the whole range. */
typedef void (*lair_exp_fn)(int64_t n, float *y, const float *x, float sub);
/* Softmax of one head's n attention scores, in place, with the e^x above:
 *   s_i = x[i] * scale (scale 1: x as it is);
 *   max = the largest s_i, NaN skipped, taken in 8 lanes: lane l keeps
 *         m_l = s_i > m_l ? s_i : m_l over i = l, l + 8, ... in order (from
 *         -inf), then max = m_0 and for l = 1 .. 7 max = m_l > max ? m_l : max;
 *   if max is -inf (n = 0, or every s_i -inf or NaN), every x[i] = 0; else
 *   e_i = e^(s_i - max), sum = the e_i added as doubles in the same 8 lanes
 *         (a_l over i = l, l + 8, ... in order), then a_0 + a_1 + ... + a_7
 *         left to right; x[i] = e_i == 0 ? 0 : e_i * (float)(1 / sum).
 * The lanes are part of the result (the same bits on every ISA) and let a
 * vector unit keep 8 running maxima and sums instead of one chain. */
typedef void (*lair_softmax_fn)(int64_t n, float *x, float scale);
/* gate[i] = silu(gate[i]) * up[i] = gate[i] / (1 + e^-gate[i]) * up[i] for
 * i < n, with the e^x above: the SwiGLU of the feed-forward blocks. */
typedef void (*lair_silu_mul_fn)(int64_t n, float *gate, const float *up);

/* Reads n bytes at p and returns an xor of them (so the reads cannot be
 * left out): the memory-bandwidth probe, with the ISA's widest loads. */
typedef uint64_t (*lair_read_fn)(const void *p, uint64_t n);

typedef enum lair_isa { LAIR_ISA_SCALAR = 0, LAIR_ISA_AVX2, LAIR_ISA_AVX512, LAIR_ISA_NEON, LAIR_ISA_COUNT } lair_isa;

typedef struct lair_kernels {
    lair_isa isa;
    const char *name;                         /* "scalar", "avx2", ... */
    lair_vec_dot_fn vec_dot[LAIR_TYPE_COUNT]; /* by weight format; NULL: unsupported */
    lair_vec_dot_rows_fn vec_dot_rows[LAIR_TYPE_COUNT]; /* NULL: use vec_dot per row */
    lair_axpy_fn axpy[LAIR_TYPE_COUNT];                 /* f32, f16; NULL: decode the row, then add */
    lair_gemv_fn gemv[LAIR_TYPE_COUNT];                 /* NULL: use vec_dot per row */
    lair_gemm_fn gemm[LAIR_TYPE_COUNT];                 /* NULL: use vec_dot_rows / vec_dot */
    /* fewest tokens per call for which gemm beats vec_dot_rows: its tile
     * repacking is paid once per call, so it loses on small batches (measured
     * per ISA and format; the kernels give the same bits either way) */
    uint8_t gemm_min_tokens[LAIR_TYPE_COUNT];
    lair_attn_scores_fn attn_scores[LAIR_TYPE_COUNT]; /* by KV format: f16; NULL: vec_dot per (cell, head) */
    lair_attn_values_fn attn_values[LAIR_TYPE_COUNT]; /* f32, f16; NULL: axpy or decode per (cell, head) */
    lair_quantize_fn quantize[LAIR_TYPE_COUNT];       /* by activation format; NULL: its from_float */
    lair_exp_fn exp;
    lair_softmax_fn softmax;
    lair_silu_mul_fn silu_mul;
    /* The same products on weights regrouped in interleaved groups of 8 rows
     * (tensor/rows8.h; w at a group boundary, rows after the last whole
     * group in the file's layout), with the bits of vec_dot on the original
     * rows.  The loader regroups a format's matrices only when a table has
     * both; NULL: the format stays as the file has it. */
    lair_gemv_fn gemv_rows8[LAIR_TYPE_COUNT];
    lair_gemm_fn gemm_rows8[LAIR_TYPE_COUNT];
    lair_read_fn read; /* NULL: the scalar one */
} lair_kernels;

/* The partner activation format of a weight format (LAIR_TYPE_COUNT when
 * the weight format cannot be multiplied). */
lair_type lair_vec_dot_type(lair_type weight);

/* The kernels for this CPU: the best ISA it supports, or the one named by the
 * environment variable LAIR_ISA (scalar|avx2|avx512|neon) if the CPU has it.
 * Chosen on first call; thread-safe afterwards. */
const lair_kernels *lair_kernels_get(void);
/* The kernels of one ISA, NULL if this build or CPU lacks it (tests use this
 * to compare every available variant with the scalar reference). */
const lair_kernels *lair_kernels_for(lair_isa isa);

#endif
