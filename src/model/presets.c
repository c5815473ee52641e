#include "model/presets.h"

#include <string.h>

/* Shapes from the models' published configurations. */
static const lair_preset presets[] = {
    /* name            arch      vocab   ctx     embd  layer head kv  hdim  ff     exp used rope      eps    tied   rfreq  swa   vocab */
    {"tiny",          "llama",  512,    4096,   256,  2,    4,   2,  64,   768,   0,  0,   10000.0,  1e-6f, false, false, 0,    LAIR_VOCAB_SPM},
    {"llama-3.2-1b",  "llama",  128256, 131072, 2048, 16,   32,  8,  64,   8192,  0,  0,   500000.0, 1e-5f, true,  true,  0,    LAIR_VOCAB_BPE},
    {"llama-3.2-3b",  "llama",  128256, 131072, 3072, 28,   24,  8,  128,  8192,  0,  0,   500000.0, 1e-5f, true,  true,  0,    LAIR_VOCAB_BPE},
    {"llama-3.1-8b",  "llama",  128256, 131072, 4096, 32,   32,  8,  128,  14336, 0,  0,   500000.0, 1e-5f, false, true,  0,    LAIR_VOCAB_BPE},
    {"qwen2.5-0.5b",  "qwen2",  151936, 32768,  896,  24,   14,  2,  64,   4864,  0,  0,   1000000.0,1e-6f, true,  false, 0,    LAIR_VOCAB_BPE},
    {"qwen2.5-7b",    "qwen2",  152064, 32768,  3584, 28,   28,  4,  128,  18944, 0,  0,   1000000.0,1e-6f, false, false, 0,    LAIR_VOCAB_BPE},
    {"phi-3-mini",    "phi3",   32064,  4096,   3072, 32,   32,  32, 96,   8192,  0,  0,   10000.0,  1e-5f, false, false, 2047, LAIR_VOCAB_SPM},
    {"gemma-2-2b",    "gemma2", 256000, 8192,   2304, 26,   8,   4,  256,  9216,  0,  0,   10000.0,  1e-6f, true,  false, 4096, LAIR_VOCAB_SPM},
    {"mixtral-8x7b",  "llama",  32000,  32768,  4096, 32,   32,  8,  128,  14336, 8,  2,   1000000.0,1e-5f, false, false, 0,    LAIR_VOCAB_SPM},
};

const lair_preset *lair_preset_find(const char *name) {
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (strcmp(presets[i].name, name) == 0) return &presets[i];
    return NULL;
}

const lair_preset *lair_preset_at(int i) {
    return i >= 0 && (size_t)i < sizeof presets / sizeof presets[0] ? &presets[i] : NULL;
}
