#include "tensor/rows8.h"

#include <string.h>

#include "tensor/blocks.h"
#include "tensor/format.h"

bool lair_rows8_format(lair_type t) { return t == LAIR_TYPE_Q4_0 || t == LAIR_TYPE_Q8_0; }

/* Bytes of one block and of its level bytes (after the f16 scale). */
static void geometry(lair_type t, uint64_t *block, uint64_t *qs) {
    *block = t == LAIR_TYPE_Q4_0 ? sizeof(block_q4_0) : sizeof(block_q8_0);
    *qs = *block - sizeof(lair_f16);
}

void lair_rows8_pack(lair_type t, int64_t n, int64_t nr, const void *src, uint64_t src_stride, void *dst) {
    uint64_t bb, qs, rb = 0;
    geometry(t, &bb, &qs);
    lair_type_row_bytes(t, n, &rb);
    const int64_t nb = n / 32, whole = nr / LAIR_ROWS8 * LAIR_ROWS8;
    const uint8_t *s = src;
    uint8_t *d = dst;
    for (int64_t r = 0; r < whole; r += LAIR_ROWS8) {
        uint8_t *g = d + (uint64_t)r * rb;
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *gb = g + (uint64_t)b * LAIR_ROWS8 * bb;
            for (int i = 0; i < LAIR_ROWS8; i++) {
                const uint8_t *blk = s + (uint64_t)(r + i) * src_stride + (uint64_t)b * bb;
                memcpy(gb + i * sizeof(lair_f16), blk, sizeof(lair_f16));
                for (uint64_t u = 0; u < qs / 4; u++)
                    memcpy(gb + LAIR_ROWS8 * sizeof(lair_f16) + (u * LAIR_ROWS8 + (uint64_t)i) * 4, blk + sizeof(lair_f16) + 4 * u, 4);
            }
        }
    }
    for (int64_t r = whole; r < nr; r++) memcpy(d + (uint64_t)r * rb, s + (uint64_t)r * src_stride, (size_t)rb);
}

/* Block b of row r of a packed matrix, in the format's own layout. */
static void row_block(const uint8_t *p, uint64_t rb, uint64_t bb, uint64_t qs, int64_t nr, int64_t r, int64_t b, uint8_t *blk) {
    if (r >= nr / LAIR_ROWS8 * LAIR_ROWS8) {
        memcpy(blk, p + (uint64_t)r * rb + (uint64_t)b * bb, (size_t)bb);
        return;
    }
    const uint8_t *gb = p + (uint64_t)(r - r % LAIR_ROWS8) * rb + (uint64_t)b * LAIR_ROWS8 * bb;
    const uint64_t i = (uint64_t)(r % LAIR_ROWS8);
    memcpy(blk, gb + i * sizeof(lair_f16), sizeof(lair_f16));
    for (uint64_t u = 0; u < qs / 4; u++) memcpy(blk + sizeof(lair_f16) + 4 * u, gb + LAIR_ROWS8 * sizeof(lair_f16) + (u * LAIR_ROWS8 + i) * 4, 4);
}

void lair_rows8_row(lair_type t, int64_t n, int64_t nr, const void *packed, int64_t r, void *row) {
    uint64_t bb, qs, rb = 0;
    geometry(t, &bb, &qs);
    lair_type_row_bytes(t, n, &rb);
    for (int64_t b = 0; b < n / 32; b++) row_block(packed, rb, bb, qs, nr, r, b, (uint8_t *)row + (uint64_t)b * bb);
}

void lair_rows8_row_to_float(lair_type t, int64_t n, int64_t nr, const void *packed, int64_t r, float *out) {
    uint64_t bb, qs, rb = 0;
    geometry(t, &bb, &qs);
    lair_type_row_bytes(t, n, &rb);
    const lair_type_traits *tr = lair_type_traits_of(t);
    uint8_t blk[sizeof(block_q8_0)];
    for (int64_t b = 0; b < n / 32; b++) {
        row_block(packed, rb, bb, qs, nr, r, b, blk);
        tr->to_float(blk, out + 32 * b, 32);
    }
}
