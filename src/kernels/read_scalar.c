/* Streaming read: the bandwidth probe of `lair bench --roofline` and
 * `lair plan`.  Every ISA reads with its widest loads, as its matrix
 * kernels do: with 8-byte loads two Zen 3 cores measured 25-29 GB/s where
 * 32-byte loads read 30-36, which would have put the decode roofline too
 * low. */
#include "kernels/kernels_internal.h"

#include <string.h>

uint64_t lair_read_scalar(const void *p, uint64_t bytes) {
    const unsigned char *b = p;
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    uint64_t i = 0;
    for (; i + 32 <= bytes; i += 32) { /* four independent chains: the loads, not the xors, set the pace */
        uint64_t w[4];
        memcpy(w, b + i, sizeof w);
        a0 ^= w[0], a1 ^= w[1], a2 ^= w[2], a3 ^= w[3];
    }
    for (; i < bytes; i++) a0 ^= b[i];
    return a0 ^ a1 ^ a2 ^ a3;
}
