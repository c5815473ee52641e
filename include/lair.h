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

/* ---- vocabularies and tokenizers ------------------------------------------
 * A vocabulary comes from a GGUF's tokenizer.ggml.* keys: "llama" (SentencePiece
 * BPE by scores with byte fallback), "gpt2" (byte-level BPE by merge rank, with
 * the pre-tokenizer named by tokenizer.ggml.pre) or "bert" (WordPiece).  It is
 * immutable after loading, so any number of threads may tokenize with it. */
typedef struct lair_vocab lair_vocab;
typedef int32_t lair_token;

/* Loads the vocabulary of any GGUF (vocabulary-only files included).  A
 * missing or unknown tokenizer.ggml.pre is not an error: the closest safe
 * pre-tokenizer is chosen and lair_vocab_warning() says which. */
lair_status lair_vocab_load(const char *path, lair_vocab **out, lair_err *err);
void lair_vocab_free(lair_vocab *v);
/* The model's vocabulary (owned by the model; NULL when the file has none). */
const lair_vocab *lair_model_vocab(const lair_model *m);
const char *lair_vocab_warning(const lair_vocab *v); /* NULL when none */
int32_t lair_vocab_n_tokens(const lair_vocab *v);
const char *lair_vocab_model(const lair_vocab *v); /* tokenizer.ggml.model: "llama", "gpt2", "bert" */
const char *lair_vocab_pre(const lair_vocab *v);  /* the pre-tokenizer in use */
/* Special ids (-1 when the vocabulary has none). */
lair_token lair_vocab_bos(const lair_vocab *v);
lair_token lair_vocab_eos(const lair_vocab *v);
lair_token lair_vocab_eot(const lair_vocab *v);
lair_token lair_vocab_pad(const lair_vocab *v);
/* Whether tokenizing with LAIR_TOK_ADD_SPECIAL starts with BOS / ends with EOS. */
bool lair_vocab_add_bos(const lair_vocab *v);
bool lair_vocab_add_eos(const lair_vocab *v);
/* True for tokens that end a generation (EOS, EOT, EOM and their kin). */
bool lair_vocab_is_eog(const lair_vocab *v, lair_token t);
/* True for control tokens (never produced by tokenizing user text). */
bool lair_vocab_is_control(const lair_vocab *v, lair_token t);
/* The token's text as stored in the vocabulary (not NUL-terminated). */
const char *lair_vocab_text(const lair_vocab *v, lair_token t, size_t *len);

/* Tokenizer flags. */
#define LAIR_TOK_ADD_SPECIAL   1u /* add BOS/EOS as the vocabulary's add_*_token flags say */
#define LAIR_TOK_PARSE_SPECIAL 2u /* control-token text ("<|eot_id|>") becomes that token */

/* A growable token list. */
typedef struct lair_tokens {
    lair_token *ids;
    size_t n, cap;
} lair_tokens;
void lair_tokens_free(lair_tokens *t);
/* Appends n ids; false when out of memory (t unchanged then). */
bool lair_tokens_append(lair_tokens *t, const lair_token *ids, size_t n);

/* Appends the tokens of `len` bytes of UTF-8 text to *out.  Invalid UTF-8 is
 * read as U+FFFD for byte-level vocabularies and byte tokens for SentencePiece
 * ones, as the reference implementation does. */
lair_status lair_tokenize(const lair_vocab *v, const char *text, size_t len, unsigned flags, lair_tokens *out,
                          lair_err *err);

/* As lair_tokenize, but with LAIR_TOK_PARSE_SPECIAL special-token text is
 * only recognised outside the guarded byte ranges: a chat prompt rendered from
 * a template parses the template's own control tokens while the messages'
 * contents (guarded) stay plain text whatever they spell.  Ranges refer to
 * the text as given. */
typedef struct lair_text_range {
    size_t start, end; /* bytes [start, end) */
} lair_text_range;
lair_status lair_tokenize_guarded(const lair_vocab *v, const char *text, size_t len, unsigned flags,
                                  const lair_text_range *guard, size_t n_guard, lair_tokens *out, lair_err *err);

/* The bytes token t stands for: "▁" read as a space (llama), byte-level
 * characters decoded (gpt2), <0xNN> as one byte.  Control tokens give "" unless
 * `special`.  Returns the piece's length; writes min(len, cap) bytes. */
size_t lair_token_piece(const lair_vocab *v, lair_token t, bool special, char *buf, size_t cap);

/* Streaming detokenizer: tokens go in, only whole UTF-8 characters come out
 * (a character split across byte tokens is held back until complete), and the
 * leading space the llama tokenizer adds is removed from the first piece. */
typedef struct lair_detok {
    const lair_vocab *vocab;
    bool special;       /* print control tokens' text */
    bool strip_space;   /* drop one leading space from the next piece */
    unsigned char pending[4]; /* bytes of an unfinished character */
    size_t n_pending;
    char *buf;          /* output of the last call, NUL-terminated */
    size_t cap;
} lair_detok;
/* text_start: the tokens begin a text (the llama tokenizer's added leading
 * space is dropped), rather than continue one (a generation's first token). */
lair_status lair_detok_init(lair_detok *d, const lair_vocab *v, bool special, bool text_start, lair_err *err);
void lair_detok_free(lair_detok *d);
/* The text token t completes (valid UTF-8, possibly empty); valid until the
 * next call.  *len receives its length. */
const char *lair_detok_push(lair_detok *d, lair_token t, size_t *len);
/* Held bytes of an unfinished character, as U+FFFD (end of stream). */
const char *lair_detok_flush(lair_detok *d, size_t *len);

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
    int32_t n_outputs_max; /* most entries per lair_decode call that want logits; 0: n_batch.
                              The logits buffer is n_outputs_max x n_vocab floats (128k vocab:
                              0.5 MB each), so servers that prefill in big batches set it low. */
} lair_context_params;

lair_context_params lair_context_default_params(void);
lair_status lair_context_create(const lair_model *m, const lair_context_params *p, lair_context **out, lair_err *err);
void lair_context_free(lair_context *c);

/* What a context would take, without creating it (memory checks before
 * committing): the model's weights (bytes of its tensors, memory-mapped), the
 * KV cache, and every other buffer lair_context_create allocates. */
typedef struct lair_context_bytes {
    uint64_t weights, kv, buffers;
} lair_context_bytes;
lair_status lair_context_memory(const lair_model *m, const lair_context_params *p, lair_context_bytes *out);

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
