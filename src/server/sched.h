/* The scheduler: one engine context shared by every request of one model,
 * driven by one thread (continuous batching).
 *
 * Each step makes one lair_decode call holding one token for every sequence
 * that is generating plus a chunk of pending prompt tokens (at most n_batch
 * entries in all), so a long prompt is prefilled over several steps and never
 * stalls the streams already running.  Sampling, stop strings and
 * detokenization happen on the scheduler thread; the text goes into each
 * job's output buffer, which HTTP threads drain with srv_job_wait.
 *
 * KV cache: the context's cells are one pool for all sequences (a single
 * request may use all of it).  It is accounted in blocks of SRV_KV_BLOCK
 * tokens.  Prefix sharing: the full blocks of every prompt are identified by
 * a chained 128-bit hash (block i's hash covers tokens 0 .. (i+1)*B-1); when a
 * request finishes, its sequence is kept as a cache entry.  A new prompt
 * starting with cached blocks reuses their cells (they are shared, not
 * copied: a new token after the divergence gets a new cell), so a long
 * system prompt or chat history is computed once.  Cache entries are evicted
 * least-recently-used when the pool needs their cells.
 *
 * Thread safety: every function may be called from any thread. */
#ifndef LAIR_SERVER_SCHED_H
#define LAIR_SERVER_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lair.h"
#include "grammar/grammar.h"
#include "text/sampler.h"

#define SRV_KV_BLOCK 16       /* tokens per KV block (accounting and prefix matching) */
#define SRV_MAX_PARALLEL 32   /* sequences decoding at once */
#define SRV_MAX_STOP 16       /* stop strings per request */

typedef struct srv_sched srv_sched;
typedef struct srv_job srv_job;

typedef struct srv_sched_params {
    int32_t n_ctx;       /* KV cells in the pool, all sequences together (default 4096) */
    int32_t n_parallel;  /* sequences generating at once, 1..SRV_MAX_PARALLEL (default 4) */
    int32_t n_batch;     /* most tokens per engine call (default 256) */
    int32_t n_chunk;     /* most prompt tokens in a step while other streams generate (default 64) */
    int32_t queue_max;   /* jobs waiting for a slot before submit says busy (default 64) */
    int32_t n_threads;   /* 0: all CPUs */
    lair_type kv_type;   /* default F16 */
    size_t out_max;      /* unread output bytes per job before it pauses (default 1 MiB): a slow
                            reader cannot make the server buffer without bound */
} srv_sched_params;

srv_sched_params srv_sched_default_params(void);

/* The engine context a scheduler with these parameters creates (for
 * lair_context_memory: the memory check before loading). */
lair_context_params srv_sched_context_params(const srv_sched_params *p);

/* Creates the context (all memory allocated now) and starts the thread.  The
 * model must outlive the scheduler. */
lair_status srv_sched_create(const lair_model *m, const srv_sched_params *p, srv_sched **out, lair_err *err);
/* Stops the thread; running jobs finish with SRV_FINISH_CANCELLED. */
void srv_sched_free(srv_sched *s);
int32_t srv_sched_n_ctx(const srv_sched *s);

typedef struct srv_job_params {
    const lair_token *prompt; /* copied */
    size_t n_prompt;
    lair_sampler_params sampling; /* checked here: LAIR_ERR_ARG naming the parameter */
    int32_t max_tokens;      /* <= 0: until the context is full; always clamped so prompt + output
                                fits the pool (finish "length") */
    const char *const *stop; /* copied; at most SRV_MAX_STOP */
    int32_t n_stop;
    bool ignore_eos;         /* keep going after end-of-generation tokens */
    int32_t n_logprobs;      /* -1: no logprobs; 0..20: a record per token with that many alternatives */
    bool special_text;       /* output control tokens' text too (tool-call markers) */
    /* Structured output: the output must be a sentence of grammar (the job
     * owns it from submit on, whatever the outcome; NULL: free text), with
     * gvocab the model's token trie.  Stop strings do not apply then: the
     * output ends when the grammar is complete. */
    lair_grammar *grammar;
    const lair_grammar_vocab *gvocab;
} srv_job_params;

typedef enum srv_submit_status {
    SRV_SUBMIT_OK = 0,
    SRV_SUBMIT_BAD_REQUEST, /* 400: err says why (bad parameter, empty prompt, token out of range,
                               "the prompt has N tokens but the context holds M") */
    SRV_SUBMIT_BUSY,        /* 503: the queue is full (Retry-After) */
    SRV_SUBMIT_NOMEM,       /* 500 */
} srv_submit_status;

srv_submit_status srv_submit(srv_sched *s, const srv_job_params *p, srv_job **out, lair_err *err);

typedef enum srv_finish {
    SRV_RUNNING = 0,
    SRV_FINISH_STOP,      /* end-of-generation token or a stop string ("stop") */
    SRV_FINISH_LENGTH,    /* max_tokens or the context ("length") */
    SRV_FINISH_CANCELLED, /* srv_job_cancel or shutdown */
    SRV_FINISH_ERROR,     /* see srv_output.error */
    SRV_FINISH_TOOL_CALLS, /* set by the API layer: the reply was tool calls ("tool_calls") */
} srv_finish;

typedef struct srv_usage {
    int32_t prompt_tokens;
    int32_t cached_tokens;     /* prompt tokens whose KV came from the prefix cache */
    int32_t completion_tokens;
    double queue_ms;           /* submit to the first engine step with this job */
    double prompt_ms;          /* prefilling the uncached part of the prompt */
    double ttft_ms;            /* submit to the first token */
    double gen_ms;             /* first token to the last */
} srv_usage;

/* What srv_job_wait hands over: everything produced since the last call. */
typedef struct srv_output {
    char *text;                /* new text (whole UTF-8 characters, stop strings removed); lair_malloc'd */
    size_t len;
    lair_token_logprobs *lp;   /* with n_logprobs >= 0: one record per new token; lair_malloc'd */
    int32_t n_lp;
    srv_finish finish;         /* != SRV_RUNNING: the job is over and this is the last output */
    srv_usage usage;           /* complete when finished */
    char error[256];           /* SRV_FINISH_ERROR */
} srv_output;

/* Waits up to timeout_ms (< 0: forever) for new output or the end; returns
 * true when *out holds something (text, records or the finish).  Draining
 * the output lets a job paused by out_max continue. */
bool srv_job_wait(srv_job *j, srv_output *out, int timeout_ms);
void srv_output_free(srv_output *o); /* frees text and lp; keeps the rest */

/* The client is gone: the job stops within one engine step and its slot and
 * blocks are freed (its prompt stays cached).  Idempotent. */
void srv_job_cancel(srv_job *j);
/* Drops the caller's reference (cancels a job still running). */
void srv_job_free(srv_job *j);

/* Counters for /metrics and /api/ps. */
#define SRV_TTFT_BUCKETS 10
extern const double srv_ttft_bounds[SRV_TTFT_BUCKETS]; /* seconds: 0.05 0.1 0.25 0.5 1 2.5 5 10 30 60 */
typedef struct srv_stats {
    uint64_t requests;         /* submitted and accepted */
    uint64_t requests_done;
    uint64_t prompt_tokens, cached_tokens, completion_tokens;
    uint64_t prefix_lookups, prefix_hits; /* blocks looked up / found in the cache */
    int32_t queue_depth, slots_busy, n_parallel;
    int32_t kv_blocks_used, kv_blocks_total; /* blocks of SRV_KV_BLOCK cells */
    int32_t cache_entries;     /* finished sequences kept for prefix reuse */
    double decode_tok_s;       /* tokens sampled per second over the last few seconds */
    uint64_t ttft_count[SRV_TTFT_BUCKETS + 1]; /* cumulative per bound, last = +Inf */
    double ttft_sum_s;
} srv_stats;
void srv_sched_stats(srv_sched *s, srv_stats *out);

#endif
