/* One traits table describes every tensor format: its block geometry and the
 * scalar reference (de)quantizers.  The scalar code is the specification; the
 * SIMD kernels of later modules are tested against it. */
#ifndef LAIR_TENSOR_FORMAT_H
#define LAIR_TENSOR_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lair.h"

/* to_float:   decode n elements (n a multiple of block_size) from blocks.
 * from_float: encode n elements (n a multiple of block_size) into blocks with
 *             the format's error-minimising quantizer.  Inputs must be
 *             finite (callers check).  Thread-safe and allocation-free. */
typedef void (*lair_to_float_fn)(const void *src, float *dst, int64_t n);
typedef void (*lair_from_float_fn)(const float *src, void *dst, int64_t n);

typedef struct lair_type_traits {
    const char *name;      /* ggml's name: "f32", "q4_K", "iq4_nl", ... */
    int64_t block_size;    /* elements per block (1 for plain scalars) */
    size_t block_bytes;    /* bytes per block */
    bool quantized;        /* block format (as opposed to plain numbers) */
    lair_to_float_fn to_float;     /* NULL: lair cannot decode this format */
    lair_from_float_fn from_float; /* NULL: lair cannot encode this format */
} lair_type_traits;

/* NULL when `t` is not a known type id (including retired ids). */
const lair_type_traits *lair_type_traits_of(lair_type t);

/* Parses a format name as printed by lair_type_name (case-insensitive).
 * Returns false when the name is unknown. */
bool lair_type_from_name(const char *name, lair_type *out);

/* Bytes of a row of n elements; false when n is not a multiple of the block
 * size, or the type is unknown, or the size overflows. */
bool lair_type_row_bytes(lair_type t, int64_t n, uint64_t *out);

#endif
