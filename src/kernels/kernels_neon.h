/* AArch64 Advanced SIMD (NEON) dot products, vec_dot_neon.c.  Same contract
 * as the other per-ISA functions of kernels_internal.h: (n elements, *s =
 * result, w = weight row, x = activation row in lair_vec_dot_type(weight)),
 * n a multiple of the block size, rows need no alignment.
 *
 * Built with GCC the integer kernels use the dotprod extension (SDOT,
 * Armv8.2-A optional, Armv8.4-A mandatory); call them only where
 * lair_neon_usable() says so.  Built with a compiler that cannot enable
 * dotprod per file (clang without -march=...+dotprod) they use plain
 * Armv8.0 NEON multiplies and run on every AArch64 CPU. */
#ifndef LAIR_KERNELS_NEON_H
#define LAIR_KERNELS_NEON_H

#if defined(__aarch64__)

#include <stdbool.h>
#include <stdint.h>

#include "kernels/kernels.h"

void lair_vec_dot_f32_neon(int64_t n, float *s, const void *w, const void *x);    /* x: f32  */
void lair_vec_dot_f16_neon(int64_t n, float *s, const void *w, const void *x);    /* x: f16  */
void lair_vec_dot_bf16_neon(int64_t n, float *s, const void *w, const void *x);   /* x: bf16 */
void lair_vec_dot_q4_0_neon(int64_t n, float *s, const void *w, const void *x);   /* x: q8_0 */
void lair_vec_dot_q5_0_neon(int64_t n, float *s, const void *w, const void *x);   /* x: q8_0 */
void lair_vec_dot_q8_0_neon(int64_t n, float *s, const void *w, const void *x);   /* x: q8_0 */
void lair_vec_dot_iq4_nl_neon(int64_t n, float *s, const void *w, const void *x); /* x: q8_0 */
void lair_vec_dot_q4_1_neon(int64_t n, float *s, const void *w, const void *x);   /* x: q8_1 */
void lair_vec_dot_q5_1_neon(int64_t n, float *s, const void *w, const void *x);   /* x: q8_1 */
/* Matrix x matrix (lair_gemm_fn, gemm_neon.c): tiles of 4 weight rows;
 * bit-identical to the vec_dot of the same format. */
void lair_gemm_q4_0_neon(int64_t n, int64_t nr, int nt, float *y, int64_t ldy, const void *w, uint64_t ws, const void *x,
                         uint64_t xs, void *scratch, bool x_packed);
void lair_gemm_q8_0_neon(int64_t n, int64_t nr, int nt, float *y, int64_t ldy, const void *w, uint64_t ws, const void *x,
                         uint64_t xs, void *scratch, bool x_packed);
void lair_gemm_q4_K_neon(int64_t n, int64_t nr, int nt, float *y, int64_t ldy, const void *w, uint64_t ws, const void *x,
                         uint64_t xs, void *scratch, bool x_packed);
void lair_gemm_q6_K_neon(int64_t n, int64_t nr, int nt, float *y, int64_t ldy, const void *w, uint64_t ws, const void *x,
                         uint64_t xs, void *scratch, bool x_packed);
void lair_vec_dot_q2_K_neon(int64_t n, float *s, const void *w, const void *x);   /* x: q8_K */
void lair_vec_dot_q3_K_neon(int64_t n, float *s, const void *w, const void *x);   /* x: q8_K */
void lair_vec_dot_q4_K_neon(int64_t n, float *s, const void *w, const void *x);   /* x: q8_K */
void lair_vec_dot_q5_K_neon(int64_t n, float *s, const void *w, const void *x);   /* x: q8_K */
void lair_vec_dot_q6_K_neon(int64_t n, float *s, const void *w, const void *x);   /* x: q8_K */
void lair_vec_dot_iq4_xs_neon(int64_t n, float *s, const void *w, const void *x); /* x: q8_K */
/* Attention over one KV head (lair_attn_scores_fn / lair_attn_values_fn,
 * attn_neon.c): bit-identical to the scalar ones; scores for f16 only, like
 * every ISA. */
void lair_attn_scores_f16_neon(int64_t hd, int G, int32_t n, const int32_t *cells, const void *k, uint64_t rs,
                               const float *q, float *s, int64_t ss);
void lair_attn_values_f32_neon(int64_t hd, int G, int32_t n, const int32_t *cells, const void *v, uint64_t rs,
                               const float *p, int64_t ps, float *o);
void lair_attn_values_f16_neon(int64_t hd, int G, int32_t n, const int32_t *cells, const void *v, uint64_t rs,
                               const float *p, int64_t ps, float *o);

/* True when this CPU can run the kernels of this build (checks the dotprod
 * hardware capability when they were built to use SDOT). */
bool lair_neon_usable(void);

/* The NEON table: isa LAIR_ISA_NEON, name "neon", vec_dot by weight format
 * (the scalar reference where no NEON version exists), vec_dot_rows NULL. */
const lair_kernels *lair_kernels_neon_table(void);

#endif /* __aarch64__ */

#endif
