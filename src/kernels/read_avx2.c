/* Streaming read with 32-byte loads (read_scalar.c says why). */
#if defined(__x86_64__)

#include "kernels/avx2_inline.h"
#include "kernels/kernels_internal.h"

uint64_t AVX2_FN lair_read_avx2(const void *p, uint64_t bytes) {
    const uint8_t *b = p;
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    uint64_t i = 0;
    for (; i + 128 <= bytes; i += 128) {
        a0 = _mm256_xor_si256(a0, load32(b + i));
        a1 = _mm256_xor_si256(a1, load32(b + i + 32));
        a2 = _mm256_xor_si256(a2, load32(b + i + 64));
        a3 = _mm256_xor_si256(a3, load32(b + i + 96));
    }
    __m256i a = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
    uint64_t r = (uint64_t)_mm256_extract_epi64(a, 0) ^ (uint64_t)_mm256_extract_epi64(a, 1) ^ (uint64_t)_mm256_extract_epi64(a, 2) ^
                 (uint64_t)_mm256_extract_epi64(a, 3);
    return r ^ lair_read_scalar(b + i, bytes - i);
}

#endif
