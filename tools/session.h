/* A generation session for the CLI (run, chat): a model, one context whose
 * sequence 0 holds the conversation so far, a sampler, and the loop that
 * prefills a prompt and streams sampled text. */
#ifndef LAIR_TOOLS_SESSION_H
#define LAIR_TOOLS_SESSION_H

#include <signal.h>

#include "lair.h"
#include "text/sampler.h"
#include "text/stop.h"

typedef struct session {
    lair_model *model;
    const lair_vocab *vocab;
    lair_context *ctx;
    lair_sampler *sampler;
    lair_tokens kv;   /* the tokens the context holds, at positions 0..n-1 */
    int32_t n_ctx, n_batch;
    int32_t last_row; /* lair_logits row of the last evaluated token */
    double load_s;    /* seconds to load the model and create the context */
} session;

typedef struct session_opts {
    const char *model_path;
    int32_t n_ctx;     /* 0: min(4096, training context) */
    int32_t n_threads; /* 0: all CPUs */
    lair_type kv_type;
    lair_sampler_params sampling;
    bool ignore_eos;   /* ban end-of-generation tokens: stop only at the length or a full context */
} session_opts;

typedef enum gen_end { GEN_EOG, GEN_STOP_STRING, GEN_LENGTH, GEN_CONTEXT_FULL, GEN_INTERRUPTED } gen_end;

typedef struct gen_stats {
    int32_t n_prompt;   /* prompt tokens */
    int32_t n_reused;   /* of which already in the context (not evaluated again) */
    int32_t n_gen;      /* tokens sampled */
    double prompt_s;    /* evaluating the prompt */
    double first_s;     /* prompt start to the first sampled token */
    double gen_s;       /* first sampled token to the end */
    gen_end end;
} gen_stats;

/* Writes `len` bytes of generated text (complete UTF-8 characters). */
typedef void (*gen_emit_fn)(void *ud, const char *text, size_t len);

lair_status session_open(session *s, const session_opts *o, lair_err *err);
void session_close(session *s);

/* Makes the context hold exactly prompt[0..n): the longest prefix it already
 * holds is kept, the rest evaluated in batches.  Fails with LAIR_ERR_LIMIT
 * when the prompt does not fit the context. */
lair_status session_prefill(session *s, const lair_token *prompt, size_t n, gen_stats *st, lair_err *err);

/* After session_prefill: samples up to n_predict tokens (< 0: until the
 * context is full), streaming their text to emit, until an end-of-generation
 * token, a stop string (stop may be NULL), the length, a full context or
 * *interrupt.  *text (may be NULL) receives everything emitted (lair_malloc). */
lair_status session_generate(session *s, int32_t n_predict, lair_stop *stop, volatile sig_atomic_t *interrupt,
                             gen_emit_fn emit, void *ud, char **text, gen_stats *st, lair_err *err);

/* "prompt 12 tokens in 0.05 s (240 tok/s) ..." on stderr. */
void session_print_stats(const session *s, const gen_stats *st);

/* Parses a KV type name (f32, f16, q8_0, q4_0); false when unknown. */
bool session_kv_type(const char *name, lair_type *out);

#endif
