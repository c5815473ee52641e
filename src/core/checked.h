/* Overflow-checked arithmetic for sizes that come from untrusted input.
 * Each returns true when the result overflowed (and then *out is unspecified). */
#ifndef LAIR_CORE_CHECKED_H
#define LAIR_CORE_CHECKED_H

#include <stdbool.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
static inline bool ck_mul_u64(uint64_t a, uint64_t b, uint64_t *out) { return __builtin_mul_overflow(a, b, out); }
static inline bool ck_add_u64(uint64_t a, uint64_t b, uint64_t *out) { return __builtin_add_overflow(a, b, out); }
static inline bool ck_mul_i64(int64_t a, int64_t b, int64_t *out) { return __builtin_mul_overflow(a, b, out); }
#else
static inline bool ck_mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
    if (a != 0 && b > UINT64_MAX / a) return true;
    *out = a * b;
    return false;
}
static inline bool ck_add_u64(uint64_t a, uint64_t b, uint64_t *out) {
    if (b > UINT64_MAX - a) return true;
    *out = a + b;
    return false;
}
static inline bool ck_mul_i64(int64_t a, int64_t b, int64_t *out) { /* callers pass a, b >= 0 */
    if (a < 0 || b < 0 || (a != 0 && b > INT64_MAX / a)) return true;
    *out = a * b;
    return false;
}
#endif

#endif
