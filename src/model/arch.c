#include "model/arch.h"

#include <string.h>

static const lair_arch archs[] = {
    /* name     rope            act            qkv_b  f_qkv  f_gu   emb    post   swa_alt tied   q_pre */
    {"llama",  LAIR_ROPE_NORM, LAIR_FFN_SILU, false, false, false, false, false, false, false, false},
    {"qwen2",  LAIR_ROPE_NEOX, LAIR_FFN_SILU, true,  false, false, false, false, false, false, false},
    {"phi3",   LAIR_ROPE_NEOX, LAIR_FFN_SILU, false, true,  true,  false, false, false, false, true},
    {"gemma2", LAIR_ROPE_NEOX, LAIR_FFN_GELU, false, false, false, true,  true,  true,  true,  true},
};

const lair_arch *lair_arch_find(const char *name) {
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (strcmp(archs[i].name, name) == 0) return &archs[i];
    return NULL;
}

const char *lair_arch_names(void) { return "llama, qwen2, phi3, gemma2"; }
