/* The server's API layer: the model registry, the route table and what the
 * OpenAI and Ollama handlers share (model lookup, prompts, sampling
 * parameters, running a job).  The HTTP details live in http.h, the
 * batching in sched.h.
 *
 *   models.c      the registry: ids, file facts, loading on first use with a
 *                 memory check
 *   params.c      request fields -> sampling parameters, validated (400 names
 *                 the field)
 *   gen.c         prompt tokens, submitting a job, waiting for its output
 *   api_openai.c  /v1/chat/completions, /v1/completions, /v1/models
 *   api_ollama.c  /api/chat, /api/generate, /api/tags, /api/ps, /api/show,
 *                 /api/version
 *   metrics.c     /metrics (Prometheus text) and /health
 *   routes.c      the route table */
#ifndef LAIR_SERVER_API_H
#define LAIR_SERVER_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/threads.h"
#include "lair.h"
#include "server/http.h"
#include "server/sched.h"
#include "server/toolcall.h"
#include "text/jinja.h"

/* ---- models ---------------------------------------------------------------- */

#define SRV_MAX_MODELS 256
/* Added to a model's needs in the memory check: the server's own threads,
 * HTTP buffers and jansson documents (per-slot samplers and output buffers
 * are counted separately). */
#define SRV_MEM_OVERHEAD (64ull << 20)

typedef struct srv_model {
    char *id;              /* file name without .gguf (or the alias) */
    char *path;
    uint64_t size;         /* bytes of the file (all shards) */
    double mtime;          /* seconds since 1970 */
    char digest[65];       /* sha256 hex of: the file's first MiB, then its size as 8 little-endian bytes */
    char arch[32];         /* general.architecture */
    char quant[16];        /* "Q4_K_M", from general.file_type (or the main tensor type) */
    char param_size[16];   /* "1.2B", "494M" */
    uint64_t n_params;
    int64_t n_ctx_train;

    /* Loaded on first use (guarded by mu). */
    lair_mutex *mu;
    lair_model *model;
    lair_jinja *tmpl;
    bool tmpl_fallback;    /* no template in the file: ChatML */
    char *tmpl_src;        /* the template text (for /api/show) */
    srv_sched *sched;
    double load_s;         /* seconds the load took */
    double loaded_at;      /* wall clock */
    lair_context_bytes mem;
    lair_grammar_vocab *gvocab; /* token trie for structured output, built on first use */
} srv_model;

/* What every loaded model gets. */
typedef struct srv_load_opts {
    srv_sched_params sched;
    bool skip_mem_check;
    const char *template_src; /* a chat template for every model (--chat-template-file), NULL: the file's */
} srv_load_opts;

/* The memory a model would need with these options (bytes). */
typedef struct srv_mem_need {
    uint64_t weights, kv, buffers, server, total, available;
    bool fits;
} srv_mem_need;

/* Reads a model file's header facts (no weights loaded); *out is owned by
 * the caller (srv_model_free). */
lair_status srv_model_open(const char *id, const char *path, srv_model **out, lair_err *err);
void srv_model_free(srv_model *m);
/* Loads the weights, checks memory, creates the template and scheduler;
 * returns at once when already loaded.  *just_loaded tells whether this call
 * did it.  Thread-safe. */
lair_status srv_model_acquire(srv_model *m, const srv_load_opts *o, bool *just_loaded, lair_err *err);
bool srv_model_loaded(srv_model *m);
/* The model's token trie for grammars (built on first use; thread-safe). */
lair_status srv_model_grammar_vocab(srv_model *m, const lair_grammar_vocab **out, lair_err *err);
/* Memory figures for the loaded weights m->model (used by acquire; exposed
 * for the start-up banner).  The message names every figure in GiB. */
void srv_model_mem_need(const srv_model *m, const lair_model *lm, const srv_load_opts *o, srv_mem_need *out);
void srv_mem_need_text(const srv_model *m, const srv_mem_need *n, const srv_load_opts *o, char *buf, size_t cap);
/* "llama-3.2-1b-q4_0" for "dir/llama-3.2-1b-q4_0.gguf"; split shards lose
 * their "-00001-of-00003" too.  False when the name is not a first shard or
 * single .gguf file. */
bool srv_model_id_from_path(const char *path, char *id, size_t cap);

/* ---- the server ------------------------------------------------------------ */

typedef struct srv_state {
    srv_model **models;
    int n_models;
    srv_load_opts load;
    http_server *http;      /* set after start, for the owner (handlers use http_req_server) */
    double started;         /* wall clock */
    void (*log)(void *ud, const char *line);
    void *log_ud;
} srv_state;

void srv_log(const srv_state *st, const char *fmt, ...) LAIR_PRINTF(2, 3);

/* The route table (routes.c); the e2e test reads it from the source too. */
extern const http_route srv_routes[];
extern const int srv_n_routes;

/* ---- handlers -------------------------------------------------------------- */
void srv_h_health(http_req *r, void *ud);
void srv_h_metrics(http_req *r, void *ud);
void srv_h_root(http_req *r, void *ud);
void oai_h_chat(http_req *r, void *ud);
void oai_h_completions(http_req *r, void *ud);
void oai_h_models(http_req *r, void *ud);
void oai_h_model(http_req *r, void *ud);
void oll_h_chat(http_req *r, void *ud);
void oll_h_generate(http_req *r, void *ud);
void oll_h_tags(http_req *r, void *ud);
void oll_h_ps(http_req *r, void *ud);
void oll_h_show(http_req *r, void *ud);
void oll_h_version(http_req *r, void *ud);

/* ---- sampling parameters (params.c) ---------------------------------------- */

#define SRV_MAX_STOP_LEN 4096 /* bytes per stop string */

typedef enum srv_tool_choice { SRV_TOOLS_AUTO, SRV_TOOLS_NONE, SRV_TOOLS_REQUIRED, SRV_TOOLS_NAMED } srv_tool_choice;

/* A request's generation settings, parsed and range-checked.  Strings point
 * into the request's JSON (valid while it is). */
typedef struct srv_gen_params {
    lair_sampler_params sp;
    lair_logit_bias *bias;   /* lair_malloc'd; srv_gen_params_free */
    int32_t max_tokens;      /* 0: until the context is full */
    const char *stop[SRV_MAX_STOP];
    int32_t n_stop;
    int32_t n_logprobs;      /* -1: none */
    bool ignore_eos;
    bool stream, include_usage;

    /* structured output and tools (structured.c) */
    char *gbnf;               /* lair_malloc'd: the grammar the output must follow; NULL: free text */
    const char *gbnf_field;   /* the request field it came from (400s name it) */
    char *unenforced;         /* "strict": false: what the schema compiler dropped (lair_malloc'd) */
    const json_t *tools;      /* the request's tools (borrowed; validated), NULL: none */
    srv_tool_choice tool_choice;
    const char *tool_name;    /* SRV_TOOLS_NAMED */
    bool parallel_tools;
    tc_format tool_format;    /* the model template's (srv_tools_prepare) */
} srv_gen_params;

/* Which request field is wrong and why (400). */
typedef struct srv_param_err {
    char param[64];
    char msg[256];
} srv_param_err;

typedef enum srv_api { SRV_API_CHAT, SRV_API_COMPLETIONS } srv_api;

/* OpenAI fields (plus llama.cpp's top_k, min_p, typical_p, repeat_penalty,
 * repeat_last_n, ignore_eos). */
bool srv_params_openai(const json_t *body, srv_api api, int32_t n_vocab, srv_gen_params *out, srv_param_err *e);
/* Ollama: "stream" (default true) and the "options" object. */
bool srv_params_ollama(const json_t *body, srv_gen_params *out, srv_param_err *e);
void srv_gen_params_free(srv_gen_params *p);

/* ---- structured output and tools (structured.c) ----------------------------- */

/* response_format, grammar; on chat also tools, tool_choice, parallel_tool_calls. */
bool srv_structured_openai(const json_t *body, srv_api api, srv_gen_params *p, srv_param_err *e);
/* format ("json" or a schema), tools. */
bool srv_structured_ollama(const json_t *body, srv_gen_params *p, srv_param_err *e);
void srv_structured_free(srv_gen_params *p);
/* Once the model is known: the tool-call format of its template, the
 * messages as that template wants them (replaces *messages), the extra
 * template variables (*extra, NULL when none) and, for a forced call, the
 * grammar.  Fails naming "tools" (a schema that cannot be enforced). */
lair_status srv_tools_prepare(srv_model *m, srv_gen_params *p, json_t **messages, json_t **extra, srv_param_err *e);
/* Whether the reply of this request is read for tool calls. */
static inline bool srv_tools_active(const srv_gen_params *p) { return p->tools && p->tool_choice != SRV_TOOLS_NONE; }

/* ---- running a request (gen.c) --------------------------------------------- */

/* Finds the model by name (the default when name is NULL and there is one
 * model; Ollama's ":latest" suffix is ignored) and makes sure it is loaded.
 * Replies 404/500 itself and returns NULL on failure. */
srv_model *srv_find_model(srv_state *st, http_req *r, const char *name, bool *just_loaded);
/* Looks a model up by name without loading it (NULL: unknown). */
srv_model *srv_lookup_model(srv_state *st, const char *name);

/* Prompt tokens of a chat (messages already validated; extra: template
 * variables or NULL) or a plain text. */
lair_status srv_chat_tokens(srv_model *m, const json_t *messages, const json_t *extra, lair_tokens *out, lair_err *err);
lair_status srv_text_tokens(srv_model *m, const char *text, size_t len, lair_tokens *out, lair_err *err);

/* Validates an OpenAI/Ollama messages array and returns a copy whose
 * contents are plain strings (text parts joined).  NULL with *e filled on a
 * bad message. */
json_t *srv_messages_normalize(const json_t *messages, const char *field, srv_param_err *e);

/* Submits; on failure replies (400 naming the problem, 503 with Retry-After,
 * 500) and returns NULL. */
srv_job *srv_start(http_req *r, srv_model *m, const lair_tokens *prompt, const srv_gen_params *gp);

/* Non-streaming: everything a job produced. */
typedef struct srv_result {
    char *text;
    size_t len;
    lair_token_logprobs *lp;
    size_t n_lp;
    srv_finish finish;
    srv_usage usage;
    char error[256];
} srv_result;
/* Waits for the end, checking the client a few times a second.  Returns
 * false (and cancels) when the client left or the server is stopping or
 * memory ran out; the caller then replies with whatever it likes (nobody
 * may be listening). */
bool srv_collect(http_req *r, srv_job *j, srv_result *out);
void srv_result_free(srv_result *res);

/* "stop", "length" (also used by Ollama's done_reason). */
const char *srv_finish_name(srv_finish f);

/* ---- small JSON helpers ---------------------------------------------------- */

/* A JSON string of possibly invalid UTF-8 (each bad byte -> U+FFFD). */
json_t *srv_json_text(const char *s, size_t len);
/* The token's text and bytes, for logprob records. */
json_t *srv_token_text(const lair_vocab *v, lair_token t, json_t **bytes);
/* Random hex id with a prefix ("chatcmpl-3f9a..."). */
void srv_make_id(const char *prefix, char *buf, size_t cap);

#endif
