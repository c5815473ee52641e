/* Synthetic models: a complete GGUF file with the real shapes of a preset,
 * random weights in the requested formats and a synthetic tokenizer, so every
 * command, test and benchmark works without downloads.  Quantized tensors are
 * written as random blocks whose scales are calibrated to give weights of a
 * realistic spread, so an 8B Q4 file takes seconds, not a quantizer's hour. */
#ifndef LAIR_MODEL_SYNTH_H
#define LAIR_MODEL_SYNTH_H

#include <stdint.h>

#include "lair.h"
#include "model/presets.h"
#include "model/recipe.h"

typedef struct lair_synth_opts {
    const lair_preset *preset;
    const char *arch;        /* NULL: the preset's */
    const lair_recipe *recipe;
    uint64_t seed;
    int64_t n_expert;        /* < 0: the preset's; 0: dense; >= 2: MoE with that many experts */
} lair_synth_opts;

typedef struct lair_synth_stats {
    uint64_t n_tensors, n_params, file_bytes;
} lair_synth_stats;

lair_status lair_synth_write(const char *path, const lair_synth_opts *o, lair_synth_stats *stats, lair_err *err);

#endif
