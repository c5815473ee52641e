#include "tensor/rows8.h"

#include <string.h>

#include "tensor/blocks.h"
#include "tensor/format.h"

bool lair_rows8_format(lair_type t) {
    return t == LAIR_TYPE_Q4_0 || t == LAIR_TYPE_Q8_0 || t == LAIR_TYPE_Q4_K || t == LAIR_TYPE_Q6_K;
}

/* Bytes of one block of format t. */
static uint64_t block_bytes(lair_type t) { return lair_type_traits_of(t)->block_bytes; }

/* n bytes in 4-byte units, unit u of the 8 rows' blocks blk[i] + off at
 * units + (8u + i) * 4 (to_group), or back (from_group) for row i. */
static void units_to_group(const uint8_t *const blk[LAIR_ROWS8], uint64_t off, uint64_t n, uint8_t *units) {
    for (int i = 0; i < LAIR_ROWS8; i++)
        for (uint64_t u = 0; u < n / 4; u++) memcpy(units + (u * LAIR_ROWS8 + (uint64_t)i) * 4, blk[i] + off + 4 * u, 4);
}

static void units_from_group(const uint8_t *units, int i, uint64_t n, uint8_t *dst) {
    for (uint64_t u = 0; u < n / 4; u++) memcpy(dst + 4 * u, units + (u * LAIR_ROWS8 + (uint64_t)i) * 4, 4);
}

/* Q4_K's 12 scale bytes from the 16 six-bit values (sc[j], m[j]): the
 * inverse of k_scale_min_get, which uses all 96 bits. */
static void k4_scales_put(const uint8_t sc[8], const uint8_t m[8], uint8_t *scales) {
    for (int j = 0; j < 4; j++) {
        scales[j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
        scales[j + 4] = (uint8_t)(m[j] | (m[j + 4] >> 4) << 6);
        scales[j + 8] = (uint8_t)((sc[j + 4] & 15) | (m[j + 4] & 15) << 4);
    }
}

/* Where the Q6_K group layout keeps the quad of steps (h, s) (rows8.h). */
static uint64_t q6_quad_offset(int h, int s) { return 144 + 96 * (uint64_t)(8 * h + s); }

/* Little-endian 32-bit words: byte k of the word is byte k in memory. */
static uint32_t u32_le(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static void u32_put(uint8_t *p, uint32_t v) {
    for (int k = 0; k < 4; k++) p[k] = (uint8_t)(v >> (8 * k));
}

/* One block b of the 8 rows (blk[i] = row i's block) as a group block gb
 * (rows8.h gives the layouts). */
static void group_put(lair_type t, const uint8_t *const blk[LAIR_ROWS8], uint8_t *gb) {
    switch (t) {
    case LAIR_TYPE_Q4_0:
    case LAIR_TYPE_Q8_0:
        for (int i = 0; i < LAIR_ROWS8; i++) memcpy(gb + 2 * i, blk[i], 2);
        units_to_group(blk, 2, block_bytes(t) - 2, gb + 16);
        return;
    case LAIR_TYPE_Q4_K: {
        uint8_t *sc = gb + 32, *mlo = gb + 96;
        memset(mlo, 0, 32);
        for (int i = 0; i < LAIR_ROWS8; i++) {
            memcpy(gb + 2 * i, blk[i] + offsetof(block_q4_K, d), 2);
            memcpy(gb + 16 + 2 * i, blk[i] + offsetof(block_q4_K, dmin), 2);
            for (int j = 0; j < 8; j++) {
                uint8_t s, m;
                k_scale_min_get(blk[i] + offsetof(block_q4_K, scales), j, &s, &m);
                const int e = 8 * j + i;
                sc[e] = (uint8_t)(s | (m >> 4) << 6);
                mlo[e % 32] |= (uint8_t)((m & 15) << (e < 32 ? 0 : 4));
            }
        }
        units_to_group(blk, offsetof(block_q4_K, qs), QK_K / 2, gb + 128);
        return;
    }
    default: /* Q6_K */
        for (int i = 0; i < LAIR_ROWS8; i++) {
            memcpy(gb + 2 * i, blk[i] + offsetof(block_q6_K, d), 2);
            for (int j = 0; j < 16; j++) gb[16 + 8 * j + i] = blk[i][offsetof(block_q6_K, scales) + (uint64_t)j];
            /* four elements (l = 4s .. 4s + 3) at a time, one per byte */
            const uint32_t lo4 = 0x0F0F0F0Fu, b45 = 0x30303030u, b01 = 0x03030303u;
            for (int h = 0; h < 2; h++)
                for (int st = 0; st < 8; st++) {
                    const uint8_t *q = blk[i];
                    const uint32_t ql0 = u32_le(q + offsetof(block_q6_K, ql) + 64 * h + 4 * st);
                    const uint32_t ql1 = u32_le(q + offsetof(block_q6_K, ql) + 64 * h + 32 + 4 * st);
                    const uint32_t qh = u32_le(q + offsetof(block_q6_K, qh) + 32 * h + 4 * st);
                    const uint32_t u0 = (ql0 & lo4) | ((qh << 4) & b45), u1 = (ql1 & lo4) | ((qh << 2) & b45);
                    const uint32_t u2 = ((ql0 >> 4) & lo4) | (qh & b45), u3 = ((ql1 >> 4) & lo4) | ((qh >> 2) & b45);
                    uint8_t *v = gb + q6_quad_offset(h, st) + 4 * i;
                    u32_put(v, u0 | (u3 & b01) << 6);
                    u32_put(v + 32, u1 | ((u3 >> 2) & b01) << 6);
                    u32_put(v + 64, u2 | ((u3 >> 4) & b01) << 6);
                }
        }
        return;
    }
}

/* Row i's block back from a group block gb. */
static void group_get(lair_type t, const uint8_t *gb, int i, uint8_t *blk) {
    switch (t) {
    case LAIR_TYPE_Q4_0:
    case LAIR_TYPE_Q8_0:
        memcpy(blk, gb + 2 * i, 2);
        units_from_group(gb + 16, i, block_bytes(t) - 2, blk + 2);
        return;
    case LAIR_TYPE_Q4_K: {
        uint8_t sc[8], m[8];
        for (int j = 0; j < 8; j++) {
            const int e = 8 * j + i;
            sc[j] = gb[32 + e] & 63;
            m[j] = (uint8_t)((gb[32 + e] >> 6) << 4 | ((gb[96 + e % 32] >> (e < 32 ? 0 : 4)) & 15));
        }
        memcpy(blk + offsetof(block_q4_K, d), gb + 2 * i, 2);
        memcpy(blk + offsetof(block_q4_K, dmin), gb + 16 + 2 * i, 2);
        k4_scales_put(sc, m, blk + offsetof(block_q4_K, scales));
        units_from_group(gb + 128, i, QK_K / 2, blk + offsetof(block_q4_K, qs));
        return;
    }
    default: /* Q6_K */
        memcpy(blk + offsetof(block_q6_K, d), gb + 2 * i, 2);
        for (int j = 0; j < 16; j++) blk[offsetof(block_q6_K, scales) + (uint64_t)j] = gb[16 + 8 * j + i];
        for (int h = 0; h < 2; h++)
            for (int l = 0; l < 32; l++) {
                const uint8_t *v = gb + q6_quad_offset(h, l / 4) + 4 * i + l % 4;
                const uint8_t u[4] = {v[0] & 63, v[32] & 63, v[64] & 63, (uint8_t)(v[0] >> 6 | (v[32] >> 6) << 2 | (v[64] >> 6) << 4)};
                uint8_t *qh = blk + offsetof(block_q6_K, qh) + 32 * h + l;
                *qh = 0;
                for (int g = 0; g < 4; g++) {
                    uint8_t *ql = blk + offsetof(block_q6_K, ql) + 64 * h + 32 * (g % 2) + l;
                    if (g < 2) *ql = u[g] & 15;
                    else *ql = (uint8_t)(*ql | (u[g] & 15) << 4);
                    *qh = (uint8_t)(*qh | (u[g] >> 4) << (2 * g));
                }
            }
        return;
    }
}

void lair_rows8_pack(lair_type t, int64_t n, int64_t nr, const void *src, uint64_t src_stride, void *dst) {
    const uint64_t bb = block_bytes(t);
    uint64_t rb = 0;
    lair_type_row_bytes(t, n, &rb);
    const int64_t nb = n / lair_type_traits_of(t)->block_size, whole = nr / LAIR_ROWS8 * LAIR_ROWS8;
    const uint8_t *s = src;
    uint8_t *d = dst;
    for (int64_t r = 0; r < whole; r += LAIR_ROWS8)
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *blk[LAIR_ROWS8];
            for (int i = 0; i < LAIR_ROWS8; i++) blk[i] = s + (uint64_t)(r + i) * src_stride + (uint64_t)b * bb;
            group_put(t, blk, d + (uint64_t)r * rb + (uint64_t)b * LAIR_ROWS8 * bb);
        }
    for (int64_t r = whole; r < nr; r++) memcpy(d + (uint64_t)r * rb, s + (uint64_t)r * src_stride, (size_t)rb);
}

/* Block b of row r of a packed matrix, in the format's own layout. */
static void row_block(lair_type t, const uint8_t *p, uint64_t rb, int64_t nr, int64_t r, int64_t b, uint8_t *blk) {
    const uint64_t bb = block_bytes(t);
    if (r >= nr / LAIR_ROWS8 * LAIR_ROWS8) {
        memcpy(blk, p + (uint64_t)r * rb + (uint64_t)b * bb, (size_t)bb);
        return;
    }
    group_get(t, p + (uint64_t)(r - r % LAIR_ROWS8) * rb + (uint64_t)b * LAIR_ROWS8 * bb, (int)(r % LAIR_ROWS8), blk);
}

void lair_rows8_row(lair_type t, int64_t n, int64_t nr, const void *packed, int64_t r, void *row) {
    const uint64_t bb = block_bytes(t);
    uint64_t rb = 0;
    lair_type_row_bytes(t, n, &rb);
    for (int64_t b = 0; b < n / lair_type_traits_of(t)->block_size; b++) row_block(t, packed, rb, nr, r, b, (uint8_t *)row + (uint64_t)b * bb);
}

void lair_rows8_row_to_float(lair_type t, int64_t n, int64_t nr, const void *packed, int64_t r, float *out) {
    uint64_t rb = 0;
    lair_type_row_bytes(t, n, &rb);
    const lair_type_traits *tr = lair_type_traits_of(t);
    uint8_t blk[sizeof(block_q6_K)]; /* the largest block of a rows8 format */
    for (int64_t b = 0; b < n / tr->block_size; b++) {
        row_block(t, packed, rb, nr, r, b, blk);
        tr->to_float(blk, out + tr->block_size * b, tr->block_size);
    }
}
