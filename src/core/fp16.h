/* IEEE half precision and bfloat16 conversions, bit-exact with the hardware
 * instructions (F16C VCVTPS2PH with round-to-nearest-even; BF16 rounding as
 * in AVX512-BF16 VCVTNEPS2BF16, except that NaN stays NaN). */
#ifndef LAIR_CORE_FP16_H
#define LAIR_CORE_FP16_H

#include <stdint.h>
#include <string.h>

typedef uint16_t lair_f16;  /* IEEE 754 binary16 bits */
typedef uint16_t lair_bf16; /* upper half of a binary32 */

static inline uint32_t lair_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float lair_f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline float lair_f16_to_f32(lair_f16 h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13); /* inf / nan */
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else { /* subnormal: value = man * 2^-24 */
        float v = (float)man * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    return lair_f32_from_bits(bits);
}

static inline lair_f16 lair_f32_to_f16(float f) {
    uint32_t x = lair_f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) { /* inf or nan (nan keeps a quiet payload bit) */
        return (lair_f16)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u | ((ax >> 13) & 0x3ffu) : 0));
    }
    if (ax >= 0x477ff000u) return (lair_f16)(sign | 0x7c00u); /* rounds to >= 65520: inf */
    if (ax < 0x38800000u) {                                     /* result is subnormal or zero */
        if (ax < 0x33000000u) return (lair_f16)sign;             /* < 2^-25 rounds to 0 */
        uint32_t e = ax >> 23;
        uint32_t m = (ax & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - e; /* 14..24: places to move the 24-bit significand */
        uint32_t q = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1u);
        uint32_t half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (q & 1u))) q++;
        return (lair_f16)(sign | q);
    }
    uint32_t r = ax + 0xfffu + ((ax >> 13) & 1u); /* round to nearest even at bit 13 */
    return (lair_f16)(sign | ((r - 0x38000000u) >> 13));
}

static inline float lair_bf16_to_f32(lair_bf16 h) { return lair_f32_from_bits((uint32_t)h << 16); }

static inline lair_bf16 lair_f32_to_bf16(float f) {
    uint32_t u = lair_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (lair_bf16)((u >> 16) | 64u); /* force quiet nan */
    return (lair_bf16)((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

#endif
