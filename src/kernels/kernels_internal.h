/* Private to src/kernels: the per-ISA vec_dot functions that kernels.c puts
 * in its tables.  Every function has the lair_vec_dot_fn signature
 *   (n elements, *s = result, w = weight row, x = activation row)
 * with x in lair_vec_dot_type(weight format) and n a multiple of the block
 * size; rows need no alignment.
 *
 * The scalar ones (vec_dot_scalar.c) are the specification: integer sums
 * inside each block, scaled by the block scales in float.  The SIMD ones
 * must equal them up to float summation order. */
#ifndef LAIR_KERNELS_INTERNAL_H
#define LAIR_KERNELS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

/* Full unrolling of a short loop (at most 16 passes) whose count is a
 * constant in each inlined instance, so that its arrays of vectors live in
 * registers: the SIMD kernels' register blocks.  clang reads "GCC unroll N"
 * as a factor and may keep such loops rolled, hence its own pragma. */
#if defined(__clang__)
#define UNROLL_FULL _Pragma("clang loop unroll(full)")
#else
#define UNROLL_FULL _Pragma("GCC unroll 16")
#endif

/* ---- scalar reference (every ISA) ---------------------------------------- */
void lair_vec_dot_f32_scalar(int64_t n, float *s, const void *w, const void *x);    /* x: f32  */
void lair_vec_dot_f16_scalar(int64_t n, float *s, const void *w, const void *x);    /* x: f16  */
void lair_vec_dot_bf16_scalar(int64_t n, float *s, const void *w, const void *x);   /* x: bf16 */
void lair_vec_dot_q4_0_scalar(int64_t n, float *s, const void *w, const void *x);   /* x: q8_0 */
void lair_vec_dot_q5_0_scalar(int64_t n, float *s, const void *w, const void *x);   /* x: q8_0 */
void lair_vec_dot_q8_0_scalar(int64_t n, float *s, const void *w, const void *x);   /* x: q8_0 */
void lair_vec_dot_iq4_nl_scalar(int64_t n, float *s, const void *w, const void *x); /* x: q8_0 */
void lair_vec_dot_q4_1_scalar(int64_t n, float *s, const void *w, const void *x);   /* x: q8_1 */
void lair_vec_dot_q5_1_scalar(int64_t n, float *s, const void *w, const void *x);   /* x: q8_1 */
void lair_vec_dot_q2_K_scalar(int64_t n, float *s, const void *w, const void *x);   /* x: q8_K */
void lair_vec_dot_q3_K_scalar(int64_t n, float *s, const void *w, const void *x);   /* x: q8_K */
void lair_vec_dot_q4_K_scalar(int64_t n, float *s, const void *w, const void *x);   /* x: q8_K */
void lair_vec_dot_q5_K_scalar(int64_t n, float *s, const void *w, const void *x);   /* x: q8_K */
void lair_vec_dot_q6_K_scalar(int64_t n, float *s, const void *w, const void *x);   /* x: q8_K */
void lair_vec_dot_iq4_xs_scalar(int64_t n, float *s, const void *w, const void *x); /* x: q8_K */

/* the bandwidth probe (lair_read_fn) */
uint64_t lair_read_scalar(const void *p, uint64_t n);
uint64_t lair_read_avx2(const void *p, uint64_t n);

/* y += a * x (x f32 or f16), every ISA */
void lair_axpy_f32_scalar(int64_t n, float *y, float a, const void *x);
void lair_axpy_f16_scalar(int64_t n, float *y, float a, const void *x);

/* e^x (exp_scalar.c states the method; every ISA's variant gives its bits):
 * the constants, one value, and the lair_exp_fn / lair_softmax_fn /
 * lair_silu_mul_fn kernels */
#define LAIR_EXP_MIN (-104.0)   /* x clamped to [MIN, MAX]: e^MIN rounds to float 0, */
#define LAIR_EXP_MAX 89.0       /* e^MAX to inf */
#define LAIR_EXP_LOG2E 1.4426950408889634
#define LAIR_EXP_LN2_HI 0x1.62e42fee00000p-1 /* low 21 bits zero: n * hi is exact */
#define LAIR_EXP_LN2_LO 0x1.a39ef35793c76p-33 /* ln 2 - hi */
extern const double lair_exp_taylor[11];  /* 1 / k!, k = 0 .. 10 */
float lair_exp_ref(float x);
void lair_exp_scalar(int64_t n, float *y, const float *x, float sub);
void lair_softmax_scalar(int64_t n, float *x, float scale);
/* lair_softmax_fn's passes from element i on (SIMD tails): lane maxima m
 * -> the max; e^(x - max) into lane sums a -> the sum; x *= inv */
float lair_softmax_max_from(int64_t i, int64_t n, float *x, float scale, float m[8]);
double lair_softmax_exp_from(int64_t i, int64_t n, float *x, float max, double a[8]);
void lair_softmax_scale_from(int64_t i, int64_t n, float *x, float inv);
void lair_silu_mul_scalar(int64_t n, float *gate, const float *up);

/* attention over one KV head (lair_attn_scores_fn / lair_attn_values_fn,
 * attn_scalar.c: the specification of their summation order), every ISA */
void lair_attn_scores_f32_scalar(int64_t hd, int G, int32_t n, const int32_t *cells, const void *k, uint64_t rs,
                                 const float *q, float *s, int64_t ss);
void lair_attn_scores_f16_scalar(int64_t hd, int G, int32_t n, const int32_t *cells, const void *k, uint64_t rs,
                                 const float *q, float *s, int64_t ss);
void lair_attn_values_f32_scalar(int64_t hd, int G, int32_t n, const int32_t *cells, const void *v, uint64_t rs,
                                 const float *p, int64_t ps, float *o);
void lair_attn_values_f16_scalar(int64_t hd, int G, int32_t n, const int32_t *cells, const void *v, uint64_t rs,
                                 const float *p, int64_t ps, float *o);

/* ---- AVX2 + FMA + F16C (x86-64; call only when the CPU has them) --------- */
#if defined(__x86_64__)
void lair_vec_dot_f32_avx2(int64_t n, float *s, const void *w, const void *x);
void lair_vec_dot_f16_avx2(int64_t n, float *s, const void *w, const void *x);
void lair_vec_dot_bf16_avx2(int64_t n, float *s, const void *w, const void *x);
void lair_vec_dot_q4_0_avx2(int64_t n, float *s, const void *w, const void *x);
void lair_vec_dot_q5_0_avx2(int64_t n, float *s, const void *w, const void *x);
void lair_vec_dot_q8_0_avx2(int64_t n, float *s, const void *w, const void *x);
void lair_vec_dot_iq4_nl_avx2(int64_t n, float *s, const void *w, const void *x);
void lair_vec_dot_q4_1_avx2(int64_t n, float *s, const void *w, const void *x);
void lair_vec_dot_q5_1_avx2(int64_t n, float *s, const void *w, const void *x);
void lair_vec_dot_q2_K_avx2(int64_t n, float *s, const void *w, const void *x);
void lair_vec_dot_q3_K_avx2(int64_t n, float *s, const void *w, const void *x);
void lair_vec_dot_q4_K_avx2(int64_t n, float *s, const void *w, const void *x);
void lair_vec_dot_q5_K_avx2(int64_t n, float *s, const void *w, const void *x);
void lair_vec_dot_q6_K_avx2(int64_t n, float *s, const void *w, const void *x);
void lair_vec_dot_iq4_xs_avx2(int64_t n, float *s, const void *w, const void *x);

/* Multi-row variants (lair_vec_dot_rows_fn): s[k] = dot(w, x + k * xs bytes)
 * for k < nx, 1 <= nx <= LAIR_VEC_DOT_MAX_ROWS. */
void lair_vec_dot_q4_0_rows_avx2(int64_t n, float *s, const void *w, const void *x, uint64_t xs, int nx);
void lair_vec_dot_q8_0_rows_avx2(int64_t n, float *s, const void *w, const void *x, uint64_t xs, int nx);
void lair_vec_dot_q4_K_rows_avx2(int64_t n, float *s, const void *w, const void *x, uint64_t xs, int nx);
void lair_vec_dot_q6_K_rows_avx2(int64_t n, float *s, const void *w, const void *x, uint64_t xs, int nx);
/* Matrix x vector (lair_gemv_fn): s[r] = dot(w + r * ws bytes, x), r < nr;
 * bit-identical to the vec_dot and multi-row variants of the same format. */
void lair_gemv_q4_0_avx2(int64_t n, int64_t nr, float *s, const void *w, uint64_t ws, const void *x);
void lair_gemv_q8_0_avx2(int64_t n, int64_t nr, float *s, const void *w, uint64_t ws, const void *x);
void lair_gemv_q4_K_avx2(int64_t n, int64_t nr, float *s, const void *w, uint64_t ws, const void *x);
void lair_gemv_q6_K_avx2(int64_t n, int64_t nr, float *s, const void *w, uint64_t ws, const void *x);
/* The matrix kernels built for both x86 tables (KERNEL_NAME in
 * avx2_inline.h): ISA avx2, or avx512 (the same source with AVX-512 VNNI;
 * call only when the CPU has AVX-512 F, BW, VL and VNNI).
 * gemv_rows8: lair_gemv_fn on groups of 8 interleaved rows (tensor/rows8.h).
 * rows8_group: one group of 8 interleaved rows against a group of T (1..8)
 * tokens as gemm_avx2.c packs them (q8_K_group_block): out[t][i] for row i
 * (rows8_k_avx2.c, the in-place tile kernels of the rows8 gemm).
 * gemm, gemm_rows8: lair_gemm_fn (gemm_avx2.c) on rows as the file has
 * them, or in groups of 8 interleaved rows.  All bit-identical to vec_dot. */
#define LAIR_GEMM_DECL(NAME)                                                                                            \
    void NAME(int64_t n, int64_t nr, int nt, float *y, int64_t ldy, const void *w, uint64_t ws, const void *x, uint64_t xs, \
              void *scratch, bool x_packed);
#define LAIR_MATRIX_KERNELS(ISA)                                                                                        \
    void lair_gemv_rows8_q4_0_##ISA(int64_t n, int64_t nr, float *s, const void *w, uint64_t ws, const void *x);         \
    void lair_gemv_rows8_q8_0_##ISA(int64_t n, int64_t nr, float *s, const void *w, uint64_t ws, const void *x);         \
    void lair_gemv_rows8_q4_K_##ISA(int64_t n, int64_t nr, float *s, const void *w, uint64_t ws, const void *x);         \
    void lair_gemv_rows8_q6_K_##ISA(int64_t n, int64_t nr, float *s, const void *w, uint64_t ws, const void *x);         \
    void lair_rows8_group_q4_K_##ISA(int64_t nb, const void *group_w, const void *group_x, float out[][8], int T);        \
    void lair_rows8_group_q6_K_##ISA(int64_t nb, const void *group_w, const void *group_x, float out[][8], int T);        \
    LAIR_GEMM_DECL(lair_gemm_q4_0_##ISA) LAIR_GEMM_DECL(lair_gemm_q8_0_##ISA)                                          \
    LAIR_GEMM_DECL(lair_gemm_q4_K_##ISA) LAIR_GEMM_DECL(lair_gemm_q6_K_##ISA)                                          \
    LAIR_GEMM_DECL(lair_gemm_rows8_q4_0_##ISA) LAIR_GEMM_DECL(lair_gemm_rows8_q8_0_##ISA)                              \
    LAIR_GEMM_DECL(lair_gemm_rows8_q4_K_##ISA) LAIR_GEMM_DECL(lair_gemm_rows8_q6_K_##ISA)
LAIR_MATRIX_KERNELS(avx2)
LAIR_MATRIX_KERNELS(avx512)
/* y += a * x (x f32 or f16) */
void lair_axpy_f32_avx2(int64_t n, float *y, float a, const void *x);
void lair_axpy_f16_avx2(int64_t n, float *y, float a, const void *x);
/* e^x, silu(gate) * up (exp_avx2.c); the scalar ones' bits */
void lair_exp_avx2(int64_t n, float *y, const float *x, float sub);
void lair_softmax_avx2(int64_t n, float *x, float scale);
void lair_silu_mul_avx2(int64_t n, float *gate, const float *up);
/* activation quantizers (quant_avx2.c); the same bits as from_float */
void lair_quantize_q8_0_avx2(const float *src, void *dst, int64_t n);
void lair_quantize_q8_K_avx2(const float *src, void *dst, int64_t n);
/* attention over one KV head (attn_avx2.c); bit-identical to the scalar ones */
void lair_attn_scores_f32_avx2(int64_t hd, int G, int32_t n, const int32_t *cells, const void *k, uint64_t rs,
                               const float *q, float *s, int64_t ss);
void lair_attn_scores_f16_avx2(int64_t hd, int G, int32_t n, const int32_t *cells, const void *k, uint64_t rs,
                               const float *q, float *s, int64_t ss);
void lair_attn_values_f32_avx2(int64_t hd, int G, int32_t n, const int32_t *cells, const void *v, uint64_t rs,
                               const float *p, int64_t ps, float *o);
void lair_attn_values_f16_avx2(int64_t hd, int G, int32_t n, const int32_t *cells, const void *v, uint64_t rs,
                               const float *p, int64_t ps, float *o);

#endif

#endif
