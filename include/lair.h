/*
 * lair — a local-AI runtime.  Public C API.
 *
 * Conventions
 *   - Every fallible function returns a lair_status and, when given a non-NULL
 *     lair_err, fills it with a message that names the object and the place
 *     ("gguf: tensor 'blk.3.attn_q.weight': offset 0x1f00 + 4096 bytes past end of file").
 *   - Objects come in init/free pairs; free(NULL) is a no-op.
 *   - Nothing in the library exits the process or prints unless asked to.
 */
#ifndef LAIR_H
#define LAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LAIR_VERSION_MAJOR 0
#define LAIR_VERSION_MINOR 1
#define LAIR_VERSION_PATCH 0
#define LAIR_VERSION_STRING "0.1.0"

typedef enum lair_status {
    LAIR_OK = 0,
    LAIR_ERR_IO,          /* open/read/write/map failed                       */
    LAIR_ERR_FORMAT,      /* malformed or hostile input                        */
    LAIR_ERR_UNSUPPORTED, /* well-formed but not something lair implements     */
    LAIR_ERR_NOMEM,       /* an allocation failed                              */
    LAIR_ERR_ARG,         /* the caller passed something invalid               */
    LAIR_ERR_LIMIT,       /* input exceeds a documented limit                  */
} lair_status;

/* Error detail: the status plus a human-readable message. */
#define LAIR_ERR_MSG_MAX 512
typedef struct lair_err {
    lair_status code;
    char msg[LAIR_ERR_MSG_MAX];
} lair_err;

const char *lair_status_name(lair_status s);
const char *lair_version(void);

/*
 * Tensor formats.  The numeric values are the ggml type ids stored in GGUF
 * files, so they must never change.  Ids that ggml retired (4, 5, 31-33) are
 * absent; a file using them is rejected.
 */
typedef enum lair_type {
    LAIR_TYPE_F32 = 0,
    LAIR_TYPE_F16 = 1,
    LAIR_TYPE_Q4_0 = 2,
    LAIR_TYPE_Q4_1 = 3,
    LAIR_TYPE_Q5_0 = 6,
    LAIR_TYPE_Q5_1 = 7,
    LAIR_TYPE_Q8_0 = 8,
    LAIR_TYPE_Q8_1 = 9,
    LAIR_TYPE_Q2_K = 10,
    LAIR_TYPE_Q3_K = 11,
    LAIR_TYPE_Q4_K = 12,
    LAIR_TYPE_Q5_K = 13,
    LAIR_TYPE_Q6_K = 14,
    LAIR_TYPE_Q8_K = 15,
    LAIR_TYPE_IQ2_XXS = 16,
    LAIR_TYPE_IQ2_XS = 17,
    LAIR_TYPE_IQ3_XXS = 18,
    LAIR_TYPE_IQ1_S = 19,
    LAIR_TYPE_IQ4_NL = 20,
    LAIR_TYPE_IQ3_S = 21,
    LAIR_TYPE_IQ2_S = 22,
    LAIR_TYPE_IQ4_XS = 23,
    LAIR_TYPE_I8 = 24,
    LAIR_TYPE_I16 = 25,
    LAIR_TYPE_I32 = 26,
    LAIR_TYPE_I64 = 27,
    LAIR_TYPE_F64 = 28,
    LAIR_TYPE_IQ1_M = 29,
    LAIR_TYPE_BF16 = 30,
    LAIR_TYPE_TQ1_0 = 34,
    LAIR_TYPE_TQ2_0 = 35,
    LAIR_TYPE_MXFP4 = 39,
    LAIR_TYPE_COUNT = 40 /* one past the largest id */
} lair_type;

/* "q4_K", "f16", ...; NULL for an id that is not a known format. */
const char *lair_type_name(lair_type t);


/* ---- models ---------------------------------------------------------------
 * A model is a validated, memory-mapped GGUF file (or split set): weights are
 * views into the map, never copied.  Architectures: llama (Llama 2/3.x,
 * Mistral, Mixtral MoE), qwen2, phi3, gemma2.  A model is read-only after
 * loading and may be shared by any number of contexts and threads. */
typedef struct lair_model lair_model;

/* Loads `path` (any file of a split set).  Fails with LAIR_ERR_UNSUPPORTED for
 * an architecture or tensor format lair cannot run, naming it. */
lair_status lair_model_load(const char *path, lair_model **out, lair_err *err);
void lair_model_free(lair_model *m);
int64_t lair_model_n_vocab(const lair_model *m);
int64_t lair_model_n_ctx_train(const lair_model *m);
int64_t lair_model_n_embd(const lair_model *m);
int64_t lair_model_n_layer(const lair_model *m);
const char *lair_model_arch(const lair_model *m); /* "llama", ... */
/* Metadata value of `key` as text (strings verbatim, numbers and booleans
 * formatted, arrays as "[type x count]"), NUL-terminated in buf.  Returns
 * the length the full text needs (excluding the NUL; it was cut at a UTF-8
 * character boundary when >= cap), or -1 when the key is absent. */
int64_t lair_model_meta(const lair_model *m, const char *key, char *buf, size_t cap);

/* ---- contexts --------------------------------------------------------------
 * A context holds the KV cache and every buffer a forward pass needs, all
 * allocated at creation: decoding allocates nothing.  One context is used by
 * one thread at a time. */
typedef struct lair_context lair_context;

typedef struct lair_context_params {
    int32_t n_ctx;     /* KV cache cells (tokens over all sequences); default 4096 */
    int32_t n_batch;   /* most entries one lair_decode call takes; default 512 */
    int32_t n_seq_max; /* sequence ids are 0 .. n_seq_max-1 (at most 64); default 1 */
    lair_type kv_type; /* F32, F16 (default), Q8_0 or Q4_0 */
    int32_t n_threads; /* default: CPU count */
} lair_context_params;

lair_context_params lair_context_default_params(void);
lair_status lair_context_create(const lair_model *m, const lair_context_params *p, lair_context **out, lair_err *err);
void lair_context_free(lair_context *c);

/* One token to evaluate: its id, its position in its sequence, the sequence
 * it belongs to, and whether its logits are wanted.  Entries of several
 * sequences may be mixed in one call (continuous batching); within a call a
 * sequence's entries must have increasing positions. */
typedef struct lair_batch_entry {
    int32_t token;
    int32_t pos;
    int32_t seq;
    bool logits;
} lair_batch_entry;

/* Evaluates n entries (1..n_batch).  On success the logits of entry i (when
 * requested) are available from lair_logits(c, i) until the next call.
 * Errors (token or position out of range, cache full, ...) leave the cache as
 * it was before the call. */
lair_status lair_decode(lair_context *c, const lair_batch_entry *entries, int32_t n, lair_err *err);
/* n_vocab floats for entry i of the last lair_decode call; NULL if entry i
 * did not ask for logits. */
const float *lair_logits(const lair_context *c, int32_t i);

/* KV cache operations.  Positions are half-open ranges [p0, p1); p1 < 0
 * means "to the end".  A prefix copied with lair_kv_seq_cp is shared, not
 * duplicated, until either sequence is changed. */
void lair_kv_clear(lair_context *c);
void lair_kv_seq_rm(lair_context *c, int32_t seq, int32_t p0, int32_t p1);
void lair_kv_seq_cp(lair_context *c, int32_t src, int32_t dst, int32_t p0, int32_t p1);
int32_t lair_kv_seq_len(const lair_context *c, int32_t seq); /* highest position + 1; 0 when empty */
int32_t lair_kv_free_cells(const lair_context *c);

#ifdef __cplusplus
}
#endif
#endif /* LAIR_H */
