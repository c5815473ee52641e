/* Groups of 8 interleaved weight rows ("rows8"): a load-time layout for the
 * decode and prefill kernels.
 *
 * Decode reads every weight once per token, so it runs at the speed of
 * memory only if the kernel needs few instructions per byte.  In the file's
 * layout (row after row) a kernel that shares an activation block among 8
 * rows has to gather 8 scales from 8 places and reduce each row's products
 * to one number with horizontal adds, about 10 instructions per block and
 * row on AVX2, which one core cannot issue at its share of the memory
 * bandwidth.  Interleaved, one load brings 8 rows' scales and one vector 4
 * levels of each of the 8 rows, so the products land in place, lanes =
 * rows, with no horizontal work: about half the instructions.
 *
 * The layout, for a 32-element format with its f16 scale first and then its
 * level bytes (Q4_0: 16 bytes of nibbles; Q8_0: 32 signed bytes): the 8
 * rows' blocks b are stored together as
 *     d[8]          the 8 rows' f16 scales, row order (16 bytes),
 *     q[u][8][4]    the rows' level bytes in 4-byte units: unit u of row 0,
 *                   unit u of row 1, ..., for u = 0 .. qs_bytes / 4 - 1,
 * and blocks b = 0, 1, ... follow each other.  The K-quant super-blocks (256
 * elements) follow the same idea, with their scales rearranged so that one
 * load brings a sub-block's scales for the 8 rows:
 *   Q4_K (8 x 144 bytes): d[8] and dmin[8] (f16, row order, 16 bytes each);
 *     sc[8][8] (64 bytes): byte [j][i] = scale of sub-block j of row i (6
 *     bits) | bits 4..5 of its min << 6; mlo[32]: entry e = 8j + i holds
 *     bits 0..3 of that min, in the low nibble of byte e (e < 32) or the
 *     high nibble of byte e - 32; then qs in units as above (1024 bytes):
 *     unit u = bytes 4u..4u+3 of the row's qs, low nibbles in sub-block
 *     2(u / 8), high nibbles in 2(u / 8) + 1.
 *   Q6_K (8 x 210 bytes): d[8] (f16, 16 bytes); sc[16][8] (int8, 128
 *     bytes): [j][i] = scale of 16-element sub-block j of row i; then the
 *     levels (0..63) re-encoded in 16 quads of 96 bytes.  Quad (h, s), at
 *     144 + 96 (8h + s), holds step s (4 elements, + 4s) of the 4 groups of
 *     32 elements 128h + 32g (g = 0..3) as three vectors V1, V2, V3 of 8
 *     rows x 4 bytes: V1 = level of g = 0 | bits 0..1 of g = 3's << 6, V2 =
 *     g = 1 | bits 2..3 of g = 3 << 6, V3 = g = 2 | bits 4..5 of g = 3 << 6,
 *     so 11 vector operations give the 4 steps (20 from ql and qh).
 * The 12 packed scale bytes of Q4_K hold exactly the 16 six-bit values, so
 * a row reads back bit for bit.  A group takes exactly the
 * bytes of its 8 rows, so in a matrix packed from row 0 a group starts where
 * its first row did (row r, r a multiple of 8, at r * row_bytes); the rows
 * after the last whole group stay as they were.  Only the byte order
 * changes: every kernel on this layout gives the bits of vec_dot on the
 * original rows. */
#ifndef LAIR_TENSOR_ROWS8_H
#define LAIR_TENSOR_ROWS8_H

#include <stdbool.h>
#include <stdint.h>

#include "lair.h"

#define LAIR_ROWS8 8

/* Whether format t has a rows8 layout. */
bool lair_rows8_format(lair_type t);

/* Packs nr rows of n elements of format t (row i at src + i * src_stride)
 * into dst (nr * row_bytes bytes, rows at row_bytes each): whole groups of
 * 8 interleaved, the last nr % 8 rows copied as they are.  dst and src do
 * not overlap. */
void lair_rows8_pack(lair_type t, int64_t n, int64_t nr, const void *src, uint64_t src_stride, void *dst);

/* Row r of a packed matrix of nr rows (as lair_rows8_pack wrote it) back in
 * the format's own layout: row_bytes bytes into row. */
void lair_rows8_row(lair_type t, int64_t n, int64_t nr, const void *packed, int64_t r, void *row);

/* The same row decoded to n floats (the format's to_float), one block at a
 * time: no buffer of a whole row is needed. */
void lair_rows8_row_to_float(lair_type t, int64_t n, int64_t nr, const void *packed, int64_t r, float *out);

#endif
