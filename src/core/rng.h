/* Small, fast, seedable pseudo-random numbers (splitmix64): deterministic
 * across platforms, for synthetic data and sampling seeds. */
#ifndef LAIR_CORE_RNG_H
#define LAIR_CORE_RNG_H

#include <stdint.h>

typedef struct lair_rng {
    uint64_t s;
} lair_rng;

static inline lair_rng lair_rng_seed(uint64_t seed) { return (lair_rng){seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull}; }

static inline uint64_t lair_rng_next(lair_rng *r) {
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) (n > 0); the tiny modulo bias is irrelevant here. */
static inline uint64_t lair_rng_below(lair_rng *r, uint64_t n) { return lair_rng_next(r) % n; }

/* Uniform in [0, 1). */
static inline double lair_rng_unit(lair_rng *r) { return (double)(lair_rng_next(r) >> 11) * 0x1.0p-53; }

/* Approximately standard normal (sum of four uniforms, rescaled): cheap and
 * good enough for random weights. */
static inline float lair_rng_normal(lair_rng *r) {
    uint64_t x = lair_rng_next(r);
    int s = (int)(x & 0xffff) + (int)((x >> 16) & 0xffff) + (int)((x >> 32) & 0xffff) + (int)(x >> 48);
    return (float)((s - 131070) * (1.0 / 37837.0)); /* mean 2*65535, sd 65536*sqrt(4/12) */
}

#endif
