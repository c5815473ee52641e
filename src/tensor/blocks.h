/* Block layouts of the quantized tensor formats, exactly as stored in GGUF
 * files (little-endian, no padding).  Sizes are pinned with static_assert:
 * a layout change here would silently corrupt every model. */
#ifndef LAIR_TENSOR_BLOCKS_H
#define LAIR_TENSOR_BLOCKS_H

#include <assert.h>
#include <stdint.h>

#include "core/fp16.h"

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK_K 256    /* super-block size of the K-quants and IQ4_XS */
#define K_SCALE_SIZE 12
#define QK4_NL 32

/* Q4_0: x = d * (q - 8), q in 0..15; element j in the low nibble of qs[j],
 * element j+16 in the high nibble. */
typedef struct { lair_f16 d; uint8_t qs[QK4_0 / 2]; } block_q4_0;
static_assert(sizeof(block_q4_0) == 18, "block_q4_0 layout");

/* Q4_1: x = d * q + m, q in 0..15; nibble order as Q4_0. */
typedef struct { lair_f16 d; lair_f16 m; uint8_t qs[QK4_1 / 2]; } block_q4_1;
static_assert(sizeof(block_q4_1) == 20, "block_q4_1 layout");

/* Q5_0: x = d * (q - 16), q in 0..31; low 4 bits as Q4_0, bit 4 of element j
 * is bit j of qh (little-endian u32). */
typedef struct { lair_f16 d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; } block_q5_0;
static_assert(sizeof(block_q5_0) == 22, "block_q5_0 layout");

/* Q5_1: x = d * q + m, q in 0..31; bits as Q5_0. */
typedef struct { lair_f16 d; lair_f16 m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; } block_q5_1;
static_assert(sizeof(block_q5_1) == 24, "block_q5_1 layout");

/* Q8_0: x = d * q, q in -127..127 (the quantizer never writes -128). */
typedef struct { lair_f16 d; int8_t qs[QK8_0]; } block_q8_0;
static_assert(sizeof(block_q8_0) == 34, "block_q8_0 layout");

/* Q8_1: as Q8_0 plus s = d * sum(qs), used for activations against Q4_1/Q5_1. */
typedef struct { lair_f16 d; lair_f16 s; int8_t qs[QK8_1]; } block_q8_1;
static_assert(sizeof(block_q8_1) == 36, "block_q8_1 layout");

/* Q2_K: 16 sub-blocks of 16; scales[i] low nibble = scale, high nibble = min;
 * x = d * sc * q - dmin * m, q in 0..3 (2 bits, four planes per 32 bytes). */
typedef struct { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; lair_f16 d; lair_f16 dmin; } block_q2_K;
static_assert(sizeof(block_q2_K) == 84, "block_q2_K layout");

/* Q3_K: 16 sub-blocks of 16 with 6-bit signed scales (stored +32) packed in
 * 12 bytes; x = d * (sc - 32) * (q - (hbit ? 0 : 4)), q low 2 bits in qs,
 * high bit in hmask. */
typedef struct { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[12]; lair_f16 d; } block_q3_K;
static_assert(sizeof(block_q3_K) == 110, "block_q3_K layout");

/* Q4_K: 8 sub-blocks of 32 with 6-bit scales and mins packed in 12 bytes;
 * x = d * sc * q - dmin * m, q in 0..15. */
typedef struct { lair_f16 d; lair_f16 dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K / 2]; } block_q4_K;
static_assert(sizeof(block_q4_K) == 144, "block_q4_K layout");

/* Scale and min (0..63) of sub-block j (0..7) of a Q4_K/Q5_K block from its
 * 12 packed bytes: sub-blocks 0..3 sit in the low 6 bits of bytes 0..3
 * (scale) and 4..7 (min); 4..7 take their low nibbles from bytes 8..11
 * (scale low, min high) and their top 2 bits from the top bits of bytes 0..3
 * (scale) and 4..7 (min). */
static inline void k_scale_min_get(const uint8_t *scales, int j, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = scales[j] & 63;
        *m = scales[j + 4] & 63;
    } else {
        *sc = (uint8_t)((scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4));
        *m = (uint8_t)((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
    }
}

/* Q5_K: as Q4_K with a fifth bit per element in qh; q in 0..31. */
typedef struct {
    lair_f16 d;
    lair_f16 dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_K;
static_assert(sizeof(block_q5_K) == 176, "block_q5_K layout");

/* Q6_K: 16 sub-blocks of 16 with int8 scales; x = d * sc * (q - 32), q in
 * 0..63 (low 4 bits in ql, high 2 bits in qh). */
typedef struct { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; lair_f16 d; } block_q6_K;
static_assert(sizeof(block_q6_K) == 210, "block_q6_K layout");

/* Q8_K: activation format for K-quant dot products: float scale, int8 values,
 * and the sums of each group of 16 values. */
typedef struct { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; } block_q8_K;
static_assert(sizeof(block_q8_K) == 292, "block_q8_K layout");

/* IQ4_NL: non-linear 4-bit: x = d * kvalues_iq4nl[q]; nibble order as Q4_0. */
typedef struct { lair_f16 d; uint8_t qs[QK4_NL / 2]; } block_iq4_nl;
static_assert(sizeof(block_iq4_nl) == 18, "block_iq4_nl layout");

/* IQ4_XS: 8 sub-blocks of 32 sharing d, each with a 6-bit scale (stored +32):
 * low 4 bits in scales_l (nibble ib%2 of byte ib/2), high 2 bits at bits
 * 2*ib of scales_h; x = d * (ls - 32) * kvalues_iq4nl[q]. */
typedef struct { lair_f16 d; uint16_t scales_h; uint8_t scales_l[QK_K / 64]; uint8_t qs[QK_K / 2]; } block_iq4_xs;
static_assert(sizeof(block_iq4_xs) == 136, "block_iq4_xs layout");

/* The 16 levels of IQ4_NL / IQ4_XS. */
extern const int8_t kvalues_iq4nl[16];

#endif
