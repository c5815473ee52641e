/* Model quantization: rewrite a GGUF model with the formats a recipe chooses,
 * streaming tensor by tensor (memory stays at a few chunk buffers however
 * large the model), optionally into split files. */
#ifndef LAIR_MODEL_QUANTIZE_H
#define LAIR_MODEL_QUANTIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "lair.h"
#include "model/recipe.h"

typedef struct lair_quantize_opts {
    const lair_recipe *recipe;
    int n_threads;           /* >= 1 */
    bool allow_requantize;   /* accept already-quantized inputs (quality loss compounds) */
    uint64_t split_max_bytes; /* 0: one file; else shards of at most this many tensor bytes */
    bool stats;              /* measure the error of every tensor against its source */
} lair_quantize_opts;

/* Error of one format's tensors against their float source. */
typedef struct lair_quantize_type_stats {
    uint64_t tensors, elems;
    double sum_sq_err, sum_sq_ref; /* sum (q - x)^2 and sum x^2 */
} lair_quantize_type_stats;

typedef struct lair_quantize_result {
    uint64_t n_tensors, in_bytes, out_bytes;
    int n_files;
    lair_quantize_type_stats per_type[LAIR_TYPE_COUNT];
} lair_quantize_result;

lair_status lair_quantize_file(const char *in_path, const char *out_path, const lair_quantize_opts *o,
                               lair_quantize_result *res, lair_err *err);

#endif
