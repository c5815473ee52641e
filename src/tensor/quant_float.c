/* Plain floating-point formats: f32, f16, bf16 (both directions) and f64
 * (decode only).  Element bytes are little-endian in files; lair targets
 * little-endian hosts, so they are copied as host words (memcpy keeps the
 * unaligned loads defined). */
#include <string.h>

#include "core/fp16.h"
#include "tensor/quant_internal.h"

void lair_f32_to_float(const void *src, float *dst, int64_t n) {
    if (n > 0) memcpy(dst, src, (size_t)n * sizeof(float));
}

void lair_f32_from_float(const float *src, void *dst, int64_t n) {
    if (n > 0) memcpy(dst, src, (size_t)n * sizeof(float));
}

void lair_f16_to_float(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) {
        lair_f16 h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = lair_f16_to_f32(h);
    }
}

/* Round to nearest even; overflow gives inf, as the hardware conversion. */
void lair_f16_from_float(const float *src, void *dst, int64_t n) {
    uint8_t *p = dst;
    for (int64_t i = 0; i < n; i++) {
        lair_f16 h = lair_f32_to_f16(src[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}

void lair_bf16_to_float(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) {
        lair_bf16 h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = lair_bf16_to_f32(h);
    }
}

void lair_bf16_from_float(const float *src, void *dst, int64_t n) {
    uint8_t *p = dst;
    for (int64_t i = 0; i < n; i++) {
        lair_bf16 h = lair_f32_to_bf16(src[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}

/* f64 -> f32 rounds to nearest (C conversion); out-of-range gives inf. */
void lair_f64_to_float(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) {
        double v;
        memcpy(&v, p + 8 * i, 8);
        dst[i] = (float)v;
    }
}
