/* Synthetic tokenizers for `lair gen`: a valid vocabulary of the requested
 * size in the model family's style — SentencePiece-style ("llama": byte
 * fallback tokens, scores) or byte-level BPE ("gpt2": merges that build every
 * token from two others) — with the family's special tokens and a chat
 * template in its prompt format, so every command works on a generated model. */
#ifndef LAIR_MODEL_SYNTH_VOCAB_H
#define LAIR_MODEL_SYNTH_VOCAB_H

#include <stdint.h>

#include "lair.h"
#include "model/presets.h"

typedef struct lair_synth_vocab {
    const char *model;         /* tokenizer.ggml.model: "llama" or "gpt2" */
    const char *pre;           /* tokenizer.ggml.pre, NULL for SPM */
    int64_t n;                 /* tokens */
    char **tokens;             /* n UTF-8 strings */
    float *scores;             /* n */
    int32_t *types;            /* n: 1 normal, 2 unknown, 3 control, 6 byte */
    int64_t n_merges;
    char **merges;             /* "left right", BPE only */
    int32_t bos, eos, eot, unk; /* -1 when absent */
    bool add_bos;
    const char *chat_template; /* static text */
    char *arena;               /* backing store of tokens and merges */
} lair_synth_vocab;

/* n_vocab tokens for a model of architecture `arch` with vocabulary kind `kind`. */
lair_status lair_synth_vocab_make(const char *arch, lair_vocab_kind kind, int64_t n_vocab, uint64_t seed,
                                  lair_synth_vocab *out, lair_err *err);
void lair_synth_vocab_free(lair_synth_vocab *v);

#endif
