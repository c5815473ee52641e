/* Architecture presets: the real shapes of popular models, used by `lair gen`
 * to make synthetic models and (later) by `lair plan` to size them. */
#ifndef LAIR_MODEL_PRESETS_H
#define LAIR_MODEL_PRESETS_H

#include <stdbool.h>
#include <stdint.h>

typedef enum lair_vocab_kind { LAIR_VOCAB_SPM, LAIR_VOCAB_BPE } lair_vocab_kind;

typedef struct lair_preset {
    const char *name;       /* "llama-3.1-8b" */
    const char *arch;       /* GGUF general.architecture: llama, qwen2, phi3, gemma2 */
    int64_t n_vocab;
    int64_t n_ctx_train;    /* context length the model was trained for */
    int64_t n_embd;
    int64_t n_layer;
    int64_t n_head;
    int64_t n_head_kv;
    int64_t head_dim;       /* n_embd / n_head unless the model says otherwise (gemma2) */
    int64_t n_ff;           /* per expert for MoE */
    int64_t n_expert;       /* 0: dense */
    int64_t n_expert_used;
    double rope_base;
    float norm_eps;
    bool tied_embeddings;   /* no output.weight: the output projection reuses token_embd */
    bool rope_freqs;        /* Llama 3.1+ frequency factors tensor (rope_freqs.weight) */
    int64_t sliding_window; /* 0: none */
    lair_vocab_kind vocab;
} lair_preset;

/* NULL when unknown. */
const lair_preset *lair_preset_find(const char *name);
/* For listings: the i-th preset, NULL past the end. */
const lair_preset *lair_preset_at(int i);

#endif
