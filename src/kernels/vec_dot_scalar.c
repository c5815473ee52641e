/* Scalar reference dot products: the specification the SIMD kernels are
 * tested against, and the kernels of CPUs without a SIMD variant.
 *
 * Quantized formats compute as the reference engine does: inside a block
 * (or sub-block) the products of the integer levels are summed exactly in
 * int32, then scaled by the weight and activation scales in float and
 * added to a float total.  Where the weight format has a min/offset term,
 * it uses the sums the activation format stores: s = d * sum(qs) of Q8_1
 * (so Q4_1/Q5_1 see the f16-rounded s), bsums of Q8_K.
 *
 * The float formats sum exact double products in double and round once.
 *
 * Every block is copied out of its row with memcpy, so rows need no
 * alignment and the code reads the block layouts of tensor/blocks.h
 * directly.  int32 bounds: the largest per-block sum (Q6_K with hostile
 * scales) is 16 sub-blocks * 16 * 32 * 128 * 128 < 2^28. */
#include <string.h>

#include "core/fp16.h"
#include "kernels/kernels_internal.h"
#include "tensor/blocks.h"

/* dst = block i of a row starting at base (blocks are sizeof(dst) bytes). */
#define LOAD_BLOCK(dst, base, i) memcpy(&(dst), (const uint8_t *)(base) + (size_t)(i) * sizeof(dst), sizeof(dst))

/* ---- float formats ---------------------------------------------------------- */

void lair_vec_dot_f32_scalar(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *pw = w, *px = x;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        float a, b;
        memcpy(&a, pw + 4 * i, 4);
        memcpy(&b, px + 4 * i, 4);
        sum += (double)a * (double)b;
    }
    *s = (float)sum;
}

void lair_vec_dot_f16_scalar(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *pw = w, *px = x;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        lair_f16 a, b;
        memcpy(&a, pw + 2 * i, 2);
        memcpy(&b, px + 2 * i, 2);
        sum += (double)lair_f16_to_f32(a) * (double)lair_f16_to_f32(b);
    }
    *s = (float)sum;
}

void lair_vec_dot_bf16_scalar(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *pw = w, *px = x;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        lair_bf16 a, b;
        memcpy(&a, pw + 2 * i, 2);
        memcpy(&b, px + 2 * i, 2);
        sum += (double)lair_bf16_to_f32(a) * (double)lair_bf16_to_f32(b);
    }
    *s = (float)sum;
}

/* ---- 32-element formats against Q8_0 ---------------------------------------- */

/* Nibble-packed 32-element blocks: element j (j < 16) is the low nibble of
 * qs[j], element j + 16 the high nibble. */

/* Bit j of the little-endian 32-bit qh of Q5_0/Q5_1. */
static int qh_bit(const uint8_t *qh, int j) { return (qh[j / 8] >> (j % 8)) & 1; }

void lair_vec_dot_q4_0_scalar(int64_t n, float *s, const void *w, const void *x) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        block_q4_0 a;
        block_q8_0 b;
        LOAD_BLOCK(a, w, i);
        LOAD_BLOCK(b, x, i);
        int32_t sumi = 0;
        for (int j = 0; j < 16; j++) sumi += ((a.qs[j] & 0xF) - 8) * b.qs[j] + ((a.qs[j] >> 4) - 8) * b.qs[j + 16];
        sum += (float)sumi * lair_f16_to_f32(a.d) * lair_f16_to_f32(b.d);
    }
    *s = sum;
}

void lair_vec_dot_q5_0_scalar(int64_t n, float *s, const void *w, const void *x) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK5_0; i++) {
        block_q5_0 a;
        block_q8_0 b;
        LOAD_BLOCK(a, w, i);
        LOAD_BLOCK(b, x, i);
        int32_t sumi = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = (a.qs[j] & 0xF) | (qh_bit(a.qh, j) << 4);
            int q1 = (a.qs[j] >> 4) | (qh_bit(a.qh, j + 16) << 4);
            sumi += (q0 - 16) * b.qs[j] + (q1 - 16) * b.qs[j + 16];
        }
        sum += (float)sumi * lair_f16_to_f32(a.d) * lair_f16_to_f32(b.d);
    }
    *s = sum;
}

void lair_vec_dot_q8_0_scalar(int64_t n, float *s, const void *w, const void *x) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        block_q8_0 a, b;
        LOAD_BLOCK(a, w, i);
        LOAD_BLOCK(b, x, i);
        int32_t sumi = 0;
        for (int j = 0; j < QK8_0; j++) sumi += a.qs[j] * b.qs[j];
        sum += (float)sumi * lair_f16_to_f32(a.d) * lair_f16_to_f32(b.d);
    }
    *s = sum;
}

void lair_vec_dot_iq4_nl_scalar(int64_t n, float *s, const void *w, const void *x) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK4_NL; i++) {
        block_iq4_nl a;
        block_q8_0 b;
        LOAD_BLOCK(a, w, i);
        LOAD_BLOCK(b, x, i);
        int32_t sumi = 0;
        for (int j = 0; j < 16; j++) sumi += kvalues_iq4nl[a.qs[j] & 0xF] * b.qs[j] + kvalues_iq4nl[a.qs[j] >> 4] * b.qs[j + 16];
        sum += (float)sumi * lair_f16_to_f32(a.d) * lair_f16_to_f32(b.d);
    }
    *s = sum;
}

/* ---- 32-element formats with a min, against Q8_1 ----------------------------
 * sum_j (d q_j + m) * (dx y_j) = d dx sum_j q_j y_j + m * (dx sum_j y_j),
 * and the last factor is the activation block's stored s. */

void lair_vec_dot_q4_1_scalar(int64_t n, float *s, const void *w, const void *x) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK4_1; i++) {
        block_q4_1 a;
        block_q8_1 b;
        LOAD_BLOCK(a, w, i);
        LOAD_BLOCK(b, x, i);
        int32_t sumi = 0;
        for (int j = 0; j < 16; j++) sumi += (a.qs[j] & 0xF) * b.qs[j] + (a.qs[j] >> 4) * b.qs[j + 16];
        float dd = lair_f16_to_f32(a.d) * lair_f16_to_f32(b.d);
        sum += (float)sumi * dd + lair_f16_to_f32(a.m) * lair_f16_to_f32(b.s);
    }
    *s = sum;
}

void lair_vec_dot_q5_1_scalar(int64_t n, float *s, const void *w, const void *x) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK5_1; i++) {
        block_q5_1 a;
        block_q8_1 b;
        LOAD_BLOCK(a, w, i);
        LOAD_BLOCK(b, x, i);
        int32_t sumi = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = (a.qs[j] & 0xF) | (qh_bit(a.qh, j) << 4);
            int q1 = (a.qs[j] >> 4) | (qh_bit(a.qh, j + 16) << 4);
            sumi += q0 * b.qs[j] + q1 * b.qs[j + 16];
        }
        float dd = lair_f16_to_f32(a.d) * lair_f16_to_f32(b.d);
        sum += (float)sumi * dd + lair_f16_to_f32(a.m) * lair_f16_to_f32(b.s);
    }
    *s = sum;
}

/* ---- K-quants and IQ4_XS against Q8_K ----------------------------------------
 * With activations x_j = dy * y_j:
 *   formats with a min:   sum = dy d sum_sub sc * sum(q y) - dy dmin sum_sub m * sum(y)
 *     where sum(y) over a sub-block comes from bsums (16 elements each);
 *   symmetric formats:    sum = dy d sum_sub sc * sum(q y).
 * Both integer sums cover the whole super-block before the float scaling. */

/* Sum of 16 int8 products (one 16-element sub-block). */
static int32_t dot16(const int8_t *q, const int8_t *y) {
    int32_t t = 0;
    for (int l = 0; l < 16; l++) t += q[l] * y[l];
    return t;
}

/* Q3_K signed scale of sub-block i (0..15): low nibble in byte i%8 (low
 * half for i < 8), top 2 bits in byte 8 + i%4 at bit 2*(i/4); stored +32. */
static int q3k_scale(const uint8_t *sc, int i) {
    int lo = i < 8 ? (sc[i] & 0xF) : (sc[i - 8] >> 4);
    int hi = (sc[8 + i % 4] >> (2 * (i / 4))) & 3;
    return (lo | (hi << 4)) - 32;
}

/* Q2_K and Q3_K share the element order: for half h (128 elements, qs bytes
 * 32h..32h+31) and 2-bit plane p (0..3), the 32 elements 128h + 32p + l
 * take bits 2p..2p+1 of qs[32h + l]; sub-block (16 elements) 8h + 2p + l/16. */

void lair_vec_dot_q2_K_scalar(int64_t n, float *s, const void *w, const void *x) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        block_q2_K a;
        block_q8_K b;
        LOAD_BLOCK(a, w, i);
        LOAD_BLOCK(b, x, i);
        int32_t summ = 0; /* sum over sub-blocks of min * sum(y) */
        for (int k = 0; k < QK_K / 16; k++) summ += (a.scales[k] >> 4) * b.bsums[k];
        int32_t sumi = 0;
        for (int h = 0; h < 2; h++) {
            for (int p = 0; p < 4; p++) {
                for (int g = 0; g < 2; g++) {
                    int8_t q[16];
                    for (int l = 0; l < 16; l++) q[l] = (int8_t)((a.qs[32 * h + 16 * g + l] >> (2 * p)) & 3);
                    int sub = 8 * h + 2 * p + g;
                    sumi += (a.scales[sub] & 0xF) * dot16(q, b.qs + 16 * sub);
                }
            }
        }
        float dall = b.d * lair_f16_to_f32(a.d);
        float dmin = b.d * lair_f16_to_f32(a.dmin);
        sum += dall * (float)sumi - dmin * (float)summ;
    }
    *s = sum;
}

void lair_vec_dot_q3_K_scalar(int64_t n, float *s, const void *w, const void *x) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        block_q3_K a;
        block_q8_K b;
        LOAD_BLOCK(a, w, i);
        LOAD_BLOCK(b, x, i);
        int32_t sumi = 0;
        for (int h = 0; h < 2; h++) {
            for (int p = 0; p < 4; p++) {
                int hbit = 4 * h + p; /* bit of hmask[l] for this plane */
                for (int g = 0; g < 2; g++) {
                    int8_t q[16];
                    for (int l = 0; l < 16; l++) {
                        int lv = (a.qs[32 * h + 16 * g + l] >> (2 * p)) & 3;
                        int hi = (a.hmask[16 * g + l] >> hbit) & 1;
                        q[l] = (int8_t)(hi ? lv : lv - 4); /* -4..3 */
                    }
                    int sub = 8 * h + 2 * p + g;
                    sumi += q3k_scale(a.scales, sub) * dot16(q, b.qs + 16 * sub);
                }
            }
        }
        sum += b.d * lair_f16_to_f32(a.d) * (float)sumi;
    }
    *s = sum;
}

/* Q4_K/Q5_K element order: chunk c (64 elements, qs bytes 32c..32c+31)
 * holds sub-block 2c in the low nibbles and 2c+1 in the high nibbles;
 * Q5_K's fifth bit of element 32j + l is bit j of qh[l]. */

void lair_vec_dot_q4_K_scalar(int64_t n, float *s, const void *w, const void *x) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        block_q4_K a;
        block_q8_K b;
        LOAD_BLOCK(a, w, i);
        LOAD_BLOCK(b, x, i);
        int32_t sumi = 0, summ = 0;
        for (int j = 0; j < 8; j++) { /* sub-blocks of 32 */
            uint8_t sc, m;
            k_scale_min_get(a.scales, j, &sc, &m);
            const uint8_t *q = a.qs + 32 * (j / 2);
            const int8_t *y = b.qs + 32 * j;
            int32_t t = 0;
            for (int l = 0; l < 32; l++) t += ((j % 2) ? (q[l] >> 4) : (q[l] & 0xF)) * y[l];
            sumi += sc * t;
            summ += m * (b.bsums[2 * j] + b.bsums[2 * j + 1]);
        }
        float d = b.d * lair_f16_to_f32(a.d);
        float dmin = b.d * lair_f16_to_f32(a.dmin);
        sum += d * (float)sumi - dmin * (float)summ;
    }
    *s = sum;
}

void lair_vec_dot_q5_K_scalar(int64_t n, float *s, const void *w, const void *x) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        block_q5_K a;
        block_q8_K b;
        LOAD_BLOCK(a, w, i);
        LOAD_BLOCK(b, x, i);
        int32_t sumi = 0, summ = 0;
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            k_scale_min_get(a.scales, j, &sc, &m);
            const uint8_t *q = a.qs + 32 * (j / 2);
            const int8_t *y = b.qs + 32 * j;
            int32_t t = 0;
            for (int l = 0; l < 32; l++) {
                int lv = ((j % 2) ? (q[l] >> 4) : (q[l] & 0xF)) | (((a.qh[l] >> j) & 1) << 4);
                t += lv * y[l];
            }
            sumi += sc * t;
            summ += m * (b.bsums[2 * j] + b.bsums[2 * j + 1]);
        }
        float d = b.d * lair_f16_to_f32(a.d);
        float dmin = b.d * lair_f16_to_f32(a.dmin);
        sum += d * (float)sumi - dmin * (float)summ;
    }
    *s = sum;
}

/* Q6_K element order: half h (128 elements: ql bytes 64h.., qh bytes
 * 32h..), group k (0..3) of 32 elements 128h + 32k + l: low 4 bits are
 * nibble k/2 of ql[64h + 32(k%2) + l], high 2 bits are bits 2k..2k+1 of
 * qh[32h + l]; sub-block (16 elements) 8h + 2k + l/16. */
void lair_vec_dot_q6_K_scalar(int64_t n, float *s, const void *w, const void *x) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        block_q6_K a;
        block_q8_K b;
        LOAD_BLOCK(a, w, i);
        LOAD_BLOCK(b, x, i);
        int32_t sumi = 0;
        for (int h = 0; h < 2; h++) {
            for (int k = 0; k < 4; k++) {
                for (int g = 0; g < 2; g++) {
                    int8_t q[16];
                    for (int l = 16 * g; l < 16 * g + 16; l++) {
                        int lo = (a.ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 0xF;
                        int hi = (a.qh[32 * h + l] >> (2 * k)) & 3;
                        q[l - 16 * g] = (int8_t)((lo | (hi << 4)) - 32); /* -32..31 */
                    }
                    int sub = 8 * h + 2 * k + g;
                    sumi += a.scales[sub] * dot16(q, b.qs + 16 * sub);
                }
            }
        }
        sum += b.d * lair_f16_to_f32(a.d) * (float)sumi;
    }
    *s = sum;
}

/* IQ4_XS: sub-block ib (32 elements) has levels qs[16ib..16ib+15] in the
 * nibble order of IQ4_NL and the 6-bit scale described in blocks.h. */
void lair_vec_dot_iq4_xs_scalar(int64_t n, float *s, const void *w, const void *x) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        block_iq4_xs a;
        block_q8_K b;
        LOAD_BLOCK(a, w, i);
        LOAD_BLOCK(b, x, i);
        int32_t sumi = 0;
        for (int ib = 0; ib < QK_K / 32; ib++) {
            int ls = (((a.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((a.scales_h >> (2 * ib)) & 3) << 4)) - 32;
            int32_t t = 0;
            const uint8_t *q = a.qs + 16 * ib;
            const int8_t *y = b.qs + 32 * ib;
            for (int j = 0; j < 16; j++) t += kvalues_iq4nl[q[j] & 0xF] * y[j] + kvalues_iq4nl[q[j] >> 4] * y[j + 16];
            sumi += ls * t;
        }
        sum += b.d * lair_f16_to_f32(a.d) * (float)sumi;
    }
    *s = sum;
}

/* ---- y += a * x ------------------------------------------------------------ */

void lair_axpy_f32_scalar(int64_t n, float *y, float a, const void *x) {
    const uint8_t *p = x;
    for (int64_t i = 0; i < n; i++) {
        float v;
        memcpy(&v, p + 4 * i, 4);
        y[i] += a * v;
    }
}

void lair_axpy_f16_scalar(int64_t n, float *y, float a, const void *x) {
    const uint8_t *p = x;
    for (int64_t i = 0; i < n; i++) {
        lair_f16 h;
        memcpy(&h, p + 2 * i, 2);
        y[i] += a * lair_f16_to_f32(h);
    }
}
