/* The scheduler (sched.h): continuous batching over one context, with the
 * prefix cache.  One thread runs step(); HTTP threads submit, read and
 * cancel jobs.  Everything shared is guarded by s->mu; the engine call itself
 * runs unlocked (only the scheduler thread touches the context). */
#include "server/sched.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/platform.h"
#include "core/threads.h"
#include "text/stop.h"

const double srv_ttft_bounds[SRV_TTFT_BUCKETS] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

#define N_SEQ 64 /* sequence ids: running jobs and cache entries (LAIR_MAX_SEQ) */

typedef enum job_state { JOB_QUEUED, JOB_PREFILL, JOB_GENERATING, JOB_DONE } job_state;

/* A 128-bit block hash, chained: block i covers every token before it too. */
typedef struct block_hash {
    uint64_t a, b;
} block_hash;

struct srv_job {
    srv_sched *s;
    int refs;             /* the caller's and, while not done, the scheduler's */
    job_state state;
    bool cancelled;
    struct srv_job *next; /* queue link */

    /* tokens of the sequence: the prompt, then every sampled token */
    lair_tokens toks;
    size_t n_prompt;
    block_hash *hashes;   /* [n_prompt / SRV_KV_BLOCK] */
    size_t n_past;        /* tokens whose KV is in the context */
    int32_t seq;          /* sequence id while running */
    int32_t max_tokens, n_gen;
    bool ignore_eos;
    int32_t n_logprobs;
    lair_sampler *sampler;
    lair_stop *stop;
    lair_detok detok;
    lair_token pending;   /* sampled, not yet evaluated (-1: none) */
    int32_t row;          /* logits row of this job in the last batch (-1: none) */
    bool stop_string;     /* ended by a stop string (its text is not output) */

    /* structured output: the grammar the output must follow (owned), its
     * matcher, and the mask of allowed tokens ((n_vocab + 31) / 32 words) */
    lair_grammar *grammar;
    lair_grammar_matcher *gm;
    uint32_t *allow;

    /* output not yet read (guarded by s->mu) */
    char *out;
    size_t out_len, out_cap;
    lair_token_logprobs *lp;
    size_t n_lp, cap_lp;
    bool nomem;
    srv_finish finish;
    char error[256];
    srv_usage usage;
    double t_submit, t_start, t_first, t_last, t_prompt_done;
    lair_cond *cond;      /* output arrived or the job ended */
};

/* A finished sequence kept for prefix reuse. */
typedef struct cache_entry {
    bool used;
    int32_t seq;
    lair_tokens toks;     /* tokens whose KV the sequence holds */
    block_hash *hashes;   /* of its full blocks */
    size_t n_blocks;
    double last_used;
} cache_entry;

struct srv_sched {
    srv_sched_params p;
    const lair_model *m;
    const lair_vocab *vocab;
    int32_t n_vocab;
    lair_context *ctx;
    lair_thread *thread;
    lair_mutex *mu;
    lair_cond *work;      /* something for the scheduler to do */
    bool quit;

    srv_job *queue_head, *queue_tail;
    int32_t n_queued;
    srv_job *active[SRV_MAX_PARALLEL];
    int32_t n_active;
    bool seq_busy[N_SEQ];
    cache_entry cache[N_SEQ];

    lair_batch_entry *batch; /* [n_batch] */
    srv_job **batch_job;     /* [n_batch]: the job whose logits each entry gives (NULL: none) */

    srv_stats st;
    int32_t kv_free;         /* free cells after the last step (the context is the scheduler thread's) */
    double rate_t0;          /* decode-rate window start */
    uint64_t rate_tokens;
};

srv_sched_params srv_sched_default_params(void) {
    return (srv_sched_params){.n_ctx = 4096, .n_parallel = 4, .n_batch = 256, .queue_max = 64, .n_threads = 0,
                              .kv_type = LAIR_TYPE_F16, .out_max = 1u << 20, .n_chunk = 64};
}

/* ---- hashing ---------------------------------------------------------------- */

static uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Chained hashes of the full blocks of toks[0..n).  Two independent 64-bit
 * lanes; a match is always confirmed by comparing the tokens themselves, so a
 * collision can never hand one request another's KV. */
static void hash_blocks(const lair_token *t, size_t n, block_hash *out) {
    block_hash h = {0x243f6a8885a308d3ull, 0x13198a2e03707344ull};
    for (size_t b = 0; b < n / SRV_KV_BLOCK; b++) {
        for (size_t i = 0; i < SRV_KV_BLOCK; i++) {
            uint64_t x = (uint64_t)(uint32_t)t[b * SRV_KV_BLOCK + i];
            h.a = mix64(h.a ^ (x + 0x9e3779b97f4a7c15ull));
            h.b = mix64(h.b + x * 0xc2b2ae3d27d4eb4full + 0x165667b19e3779f9ull);
        }
        out[b] = h;
    }
}

/* ---- output (caller holds s->mu) --------------------------------------------- */

static void out_text(srv_job *j, const char *p, size_t n) {
    if (!n || j->nomem) return;
    if (j->out_len + n + 1 > j->out_cap) {
        size_t cap = j->out_cap ? j->out_cap : 256;
        while (j->out_len + n + 1 > cap) cap *= 2;
        char *g = lair_realloc(j->out, cap);
        if (!g) {
            j->nomem = true;
            return;
        }
        j->out = g;
        j->out_cap = cap;
    }
    memcpy(j->out + j->out_len, p, n);
    j->out_len += n;
    j->out[j->out_len] = 0;
}

static void out_lp(srv_job *j, const lair_token_logprobs *lp) {
    if (j->nomem) return;
    if (j->n_lp == j->cap_lp) {
        size_t cap = j->cap_lp ? j->cap_lp * 2 : 16;
        lair_token_logprobs *g = lair_realloc(j->lp, cap * sizeof *g);
        if (!g) {
            j->nomem = true;
            return;
        }
        j->lp = g;
        j->cap_lp = cap;
    }
    j->lp[j->n_lp++] = *lp;
}

static void job_unref(srv_job *j) { /* s->mu held */
    if (--j->refs > 0) return;
    lair_tokens_free(&j->toks);
    lair_free(j->hashes);
    lair_sampler_free(j->sampler);
    lair_stop_free(j->stop);
    lair_detok_free(&j->detok);
    if (j->gm) lair_grammar_matcher_free(j->gm);
    if (j->grammar) lair_grammar_free(j->grammar);
    lair_free(j->allow);
    lair_free(j->out);
    lair_free(j->lp);
    lair_cond_free(j->cond);
    lair_free(j);
}

/* ---- the cache ---------------------------------------------------------------- */

static void cache_drop(srv_sched *s, cache_entry *e) {
    lair_kv_seq_rm(s->ctx, e->seq, 0, -1);
    s->seq_busy[e->seq] = false;
    lair_tokens_free(&e->toks);
    lair_free(e->hashes);
    memset(e, 0, sizeof *e);
    s->st.cache_entries--;
}

static cache_entry *cache_lru(srv_sched *s) {
    cache_entry *best = NULL;
    for (int i = 0; i < N_SEQ; i++)
        if (s->cache[i].used && (!best || s->cache[i].last_used < best->last_used)) best = &s->cache[i];
    return best;
}

/* Evicts least-recently-used entries until `cells` cells are free; false if
 * even an empty cache cannot give them. */
static bool make_room(srv_sched *s, int32_t cells) {
    while (lair_kv_free_cells(s->ctx) < cells) {
        cache_entry *e = cache_lru(s);
        if (!e) return false;
        cache_drop(s, e);
    }
    return true;
}

static int32_t take_seq(srv_sched *s) {
    for (;;) {
        for (int32_t i = 0; i < N_SEQ; i++)
            if (!s->seq_busy[i]) {
                s->seq_busy[i] = true;
                return i;
            }
        cache_entry *e = cache_lru(s);
        if (!e) return -1;
        cache_drop(s, e);
    }
}

/* Full blocks of j's prompt that a cache entry or a running sequence already
 * holds: their cells become j's too.  At least one prompt token is left to
 * evaluate (its logits start the generation). */
static void reuse_prefix(srv_sched *s, srv_job *j) {
    size_t n_blocks = j->n_prompt / SRV_KV_BLOCK, best = 0;
    int32_t best_seq = -1;
    cache_entry *best_entry = NULL;
    for (int i = 0; i < N_SEQ; i++) {
        cache_entry *e = &s->cache[i];
        if (!e->used) continue;
        size_t k = 0, lim = n_blocks < e->n_blocks ? n_blocks : e->n_blocks;
        while (k < lim && e->hashes[k].a == j->hashes[k].a && e->hashes[k].b == j->hashes[k].b) k++;
        while (k > 0 && memcmp(e->toks.ids, j->toks.ids, k * SRV_KV_BLOCK * sizeof(lair_token)) != 0) k--;
        if (k > best) best = k, best_seq = e->seq, best_entry = e;
    }
    for (int i = 0; i < s->n_active; i++) { /* running prompts too: concurrent requests share a system prompt */
        srv_job *o = s->active[i];
        if (o == j || !o->hashes) continue;
        size_t have = o->n_past / SRV_KV_BLOCK, lim = o->n_prompt / SRV_KV_BLOCK;
        if (have < lim) lim = have;
        if (n_blocks < lim) lim = n_blocks;
        size_t k = 0;
        while (k < lim && o->hashes[k].a == j->hashes[k].a && o->hashes[k].b == j->hashes[k].b) k++;
        while (k > 0 && memcmp(o->toks.ids, j->toks.ids, k * SRV_KV_BLOCK * sizeof(lair_token)) != 0) k--;
        if (k > best) best = k, best_seq = o->seq, best_entry = NULL;
    }
    s->st.prefix_lookups += n_blocks;
    size_t n = best * SRV_KV_BLOCK;
    if (n >= j->n_prompt) n = j->n_prompt - 1;
    if (best_seq < 0 || n == 0) return;
    s->st.prefix_hits += best;
    lair_kv_seq_cp(s->ctx, best_seq, j->seq, 0, (int32_t)n);
    j->n_past = n;
    j->usage.cached_tokens = (int32_t)n;
    if (best_entry) best_entry->last_used = lair_time_seconds();
}

/* A job leaves its slot: its sequence becomes a cache entry. */
static void retire(srv_sched *s, srv_job *j) {
    if (j->seq < 0) return;
    int32_t seq = j->seq;
    j->seq = -1;
    lair_kv_seq_rm(s->ctx, seq, (int32_t)j->n_past, -1); /* nothing beyond what was evaluated */
    cache_entry *e = &s->cache[seq];
    if (j->n_past < SRV_KV_BLOCK) {
        lair_kv_seq_rm(s->ctx, seq, 0, -1);
        s->seq_busy[seq] = false;
        return;
    }
    e->used = true;
    e->seq = seq;
    e->toks = (lair_tokens){0};
    e->n_blocks = j->n_past / SRV_KV_BLOCK;
    e->hashes = lair_malloc(e->n_blocks * sizeof *e->hashes);
    if (!e->hashes || !lair_tokens_append(&e->toks, j->toks.ids, j->n_past)) {
        lair_free(e->hashes);
        lair_tokens_free(&e->toks);
        memset(e, 0, sizeof *e);
        lair_kv_seq_rm(s->ctx, seq, 0, -1);
        s->seq_busy[seq] = false;
        return;
    }
    hash_blocks(e->toks.ids, e->n_blocks * SRV_KV_BLOCK, e->hashes);
    e->last_used = lair_time_seconds();
    s->st.cache_entries++;
}

/* ---- job life (s->mu held) ----------------------------------------------------- */

static void finish(srv_sched *s, srv_job *j, srv_finish f, const char *error) {
    if (j->state == JOB_DONE) return;
    if (!j->stop_string && f != SRV_FINISH_ERROR) { /* the tail the stop matcher or detokenizer held */
        size_t n;
        const char *tail = lair_detok_flush(&j->detok, &n);
        lair_stop_result r = {tail, n, -1};
        if (n && j->stop) lair_stop_feed(j->stop, tail, n, &r, NULL);
        out_text(j, r.text, r.len);
        if (j->stop && r.stop < 0) {
            lair_stop_flush(j->stop, &r);
            out_text(j, r.text, r.len);
        }
    }
    if (j->nomem && f != SRV_FINISH_CANCELLED) f = SRV_FINISH_ERROR, error = "out of memory";
    j->finish = f;
    if (error) snprintf(j->error, sizeof j->error, "%s", error);
    double now = lair_time_seconds();
    j->usage.prompt_tokens = (int32_t)j->n_prompt;
    j->usage.completion_tokens = j->n_gen;
    j->usage.queue_ms = ((j->t_start > 0 ? j->t_start : now) - j->t_submit) * 1e3;
    j->usage.prompt_ms = j->t_prompt_done > 0 && j->t_start > 0 ? (j->t_prompt_done - j->t_start) * 1e3 : 0;
    j->usage.ttft_ms = j->t_first > 0 ? (j->t_first - j->t_submit) * 1e3 : 0;
    j->usage.gen_ms = j->t_first > 0 ? (j->t_last - j->t_first) * 1e3 : 0;
    if (j->state != JOB_QUEUED) {
        retire(s, j);
        for (int i = 0; i < s->n_active; i++)
            if (s->active[i] == j) {
                s->active[i] = s->active[--s->n_active];
                break;
            }
    }
    j->state = JOB_DONE;
    s->st.requests_done++;
    s->st.completion_tokens += (uint64_t)j->n_gen;
    lair_cond_broadcast(j->cond);
    job_unref(j); /* the scheduler's reference */
}

static void admit(srv_sched *s) {
    while (s->queue_head && s->n_active < s->p.n_parallel) {
        srv_job *j = s->queue_head;
        s->queue_head = j->next;
        if (!s->queue_head) s->queue_tail = NULL;
        s->n_queued--;
        j->next = NULL;
        j->seq = take_seq(s);
        if (j->seq < 0) { /* cannot happen with n_parallel <= 32 < N_SEQ, but never crash */
            finish(s, j, SRV_FINISH_ERROR, "no free sequence");
            continue;
        }
        lair_kv_seq_rm(s->ctx, j->seq, 0, -1);
        j->state = JOB_PREFILL;
        j->t_start = lair_time_seconds();
        s->active[s->n_active++] = j;
        reuse_prefix(s, j);
        s->st.cached_tokens += (uint64_t)j->usage.cached_tokens;
    }
}

static void reap_cancelled(srv_sched *s) {
    for (srv_job **pp = &s->queue_head; *pp;) {
        srv_job *j = *pp;
        if (j->cancelled) {
            *pp = j->next;
            s->n_queued--;
            finish(s, j, SRV_FINISH_CANCELLED, NULL);
        } else {
            pp = &j->next;
        }
    }
    s->queue_tail = NULL;
    for (srv_job *j = s->queue_head; j; j = j->next) s->queue_tail = j;
    for (int i = s->n_active - 1; i >= 0; i--)
        if (s->active[i]->cancelled) finish(s, s->active[i], SRV_FINISH_CANCELLED, NULL);
}

/* Sampling after an engine call: one token for every job with a logits row. */
static void sample(srv_sched *s, srv_job *j) {
    const float *logits = lair_logits(s->ctx, j->row);
    j->row = -1;
    lair_token_logprobs lp;
    if (j->gm) { /* only tokens that keep the output valid and completable within the budget */
        int64_t n_ok = lair_grammar_matcher_mask(j->gm, j->allow, s->n_vocab, j->max_tokens - j->n_gen);
        if (n_ok == 0) {
            finish(s, j, SRV_FINISH_ERROR, "the grammar allows no token here (max_tokens too small to complete it)");
            return;
        }
        lair_sampler_set_allowed(j->sampler, j->allow);
    }
    lair_token t = logits ? lair_sampler_sample(j->sampler, logits, j->n_logprobs >= 0 ? &lp : NULL) : -1;
    double now = lair_time_seconds();
    if (t < 0 || t >= s->n_vocab) {
        finish(s, j, SRV_FINISH_ERROR,
               j->gm ? "no token allowed by the grammar can be sampled (banned by logit_bias or not a number)"
                     : "no token can be sampled (every logit is banned or not a number)");
        return;
    }
    if (j->state == JOB_PREFILL) {
        j->state = JOB_GENERATING;
        j->t_prompt_done = now;
    }
    if (j->t_first == 0) {
        j->t_first = now;
        double ttft = now - j->t_submit;
        for (int b = 0; b < SRV_TTFT_BUCKETS; b++)
            if (ttft <= srv_ttft_bounds[b]) s->st.ttft_count[b]++;
        s->st.ttft_count[SRV_TTFT_BUCKETS]++;
        s->st.ttft_sum_s += ttft;
    }
    j->t_last = now;
    j->n_gen++;
    s->rate_tokens++;
    if ((!j->ignore_eos || j->gm) && lair_vocab_is_eog(s->vocab, t)) { /* a grammar allows it only when complete */
        finish(s, j, SRV_FINISH_STOP, NULL);
        return;
    }
    if (j->gm && lair_grammar_matcher_accept(j->gm, t, NULL) != LAIR_OK) { /* the mask said it could */
        finish(s, j, SRV_FINISH_ERROR, "internal error: the grammar refused a token its mask allowed");
        return;
    }
    lair_sampler_accept(j->sampler, t);
    if (j->n_logprobs >= 0) out_lp(j, &lp);
    size_t n;
    const char *piece = lair_detok_push(&j->detok, t, &n);
    lair_stop_result r = {piece, n, -1};
    if (j->stop && lair_stop_feed(j->stop, piece, n, &r, NULL) != LAIR_OK) j->nomem = true;
    out_text(j, r.text, r.len);
    lair_cond_broadcast(j->cond);
    if (r.stop >= 0) {
        j->stop_string = true;
        finish(s, j, SRV_FINISH_STOP, NULL);
        return;
    }
    if (j->gm && lair_grammar_matcher_finished(j->gm)) { /* complete, and nothing may follow */
        finish(s, j, SRV_FINISH_STOP, NULL);
        return;
    }
    if (j->n_gen >= j->max_tokens || j->toks.n + 1 >= (size_t)s->p.n_ctx) {
        finish(s, j, SRV_FINISH_LENGTH, NULL);
        return;
    }
    if (!lair_tokens_append(&j->toks, &t, 1)) {
        finish(s, j, SRV_FINISH_ERROR, "out of memory");
        return;
    }
    j->pending = t;
}

/* One engine step.  Called with s->mu held; returns false when idle. */
static bool step(srv_sched *s) {
    reap_cancelled(s);
    admit(s);
    if (s->n_active == 0) return false;
    int32_t n = 0, cap = s->p.n_batch;
    /* one token for every generating job whose reader keeps up */
    for (int i = 0; i < s->n_active && n < cap; i++) {
        srv_job *j = s->active[i];
        if (j->state != JOB_GENERATING || j->pending < 0 || j->out_len >= s->p.out_max) continue;
        if (!make_room(s, n + 1)) { /* the n entries already in the batch need cells too */
            finish(s, j, SRV_FINISH_LENGTH, NULL); /* the pool is full of running sequences */
            i--;
            continue;
        }
        s->batch[n] = (lair_batch_entry){j->pending, (int32_t)j->n_past, j->seq, true};
        s->batch_job[n] = j;
        j->row = n;
        j->pending = -1;
        j->n_past++;
        n++;
    }
    /* then prompt chunks, oldest job first.  While streams are generating,
     * a step carries at most n_chunk prompt tokens, so a long prompt delays
     * their next token by one short step, not by its whole prefill. */
    if (n > 0 && cap > n + s->p.n_chunk) cap = n + s->p.n_chunk;
    for (int i = 0; i < s->n_active && n < cap; i++) {
        srv_job *j = s->active[i];
        if (j->state != JOB_PREFILL) continue;
        int32_t chunk = (int32_t)(j->n_prompt - j->n_past);
        if (chunk > cap - n) chunk = cap - n;
        if (!make_room(s, n + chunk)) {
            int32_t free_cells = lair_kv_free_cells(s->ctx) - n;
            if (free_cells <= 0) continue; /* wait for running sequences to finish */
            chunk = free_cells < chunk ? free_cells : chunk;
        }
        for (int32_t k = 0; k < chunk; k++) {
            bool last = j->n_past + 1 == j->n_prompt;
            s->batch[n] = (lair_batch_entry){j->toks.ids[j->n_past], (int32_t)j->n_past, j->seq, last};
            s->batch_job[n] = last ? j : NULL;
            if (last) j->row = n;
            j->n_past++;
            n++;
        }
    }
    if (n == 0) {
        /* everyone is paused by slow readers, or prompts wait for cells */
        bool waiting = false;
        for (int i = 0; i < s->n_active; i++) waiting |= s->active[i]->state == JOB_PREFILL;
        if (waiting && s->st.cache_entries == 0 && s->n_active > 0) {
            /* a prompt waits for cells that only running jobs hold: end the oldest running one */
            for (int i = 0; i < s->n_active; i++)
                if (s->active[i]->state == JOB_GENERATING) {
                    finish(s, s->active[i], SRV_FINISH_LENGTH, NULL);
                    return true;
                }
        }
        return false;
    }
    lair_mutex_unlock(s->mu);
    lair_err e = {0};
    lair_status st = lair_decode(s->ctx, s->batch, n, &e);
    lair_mutex_lock(s->mu);
    if (st != LAIR_OK) {
        for (int32_t k = 0; k < n; k++)
            if (s->batch_job[k] && s->batch_job[k]->state != JOB_DONE) finish(s, s->batch_job[k], SRV_FINISH_ERROR, e.msg);
        return true;
    }
    for (int32_t k = 0; k < n; k++) {
        srv_job *j = s->batch_job[k];
        if (j && j->state != JOB_DONE && j->row == k) sample(s, j);
    }
    return true;
}

static void sched_main(void *arg) {
    srv_sched *s = arg;
    lair_mutex_lock(s->mu);
    while (!s->quit) {
        bool busy = step(s);
        s->kv_free = lair_kv_free_cells(s->ctx);
        if (!busy) lair_cond_wait(s->work, s->mu, 100);
        double now = lair_time_seconds();
        if (now - s->rate_t0 >= 2.0) {
            s->st.decode_tok_s = (double)s->rate_tokens / (now - s->rate_t0);
            s->rate_t0 = now;
            s->rate_tokens = 0;
        }
    }
    while (s->queue_head) {
        srv_job *j = s->queue_head;
        s->queue_head = j->next;
        s->n_queued--;
        finish(s, j, SRV_FINISH_CANCELLED, "the server is shutting down");
    }
    while (s->n_active) finish(s, s->active[0], SRV_FINISH_CANCELLED, "the server is shutting down");
    lair_mutex_unlock(s->mu);
}

/* ---- public ------------------------------------------------------------------- */

lair_context_params srv_sched_context_params(const srv_sched_params *params) {
    srv_sched_params p = *params;
    if (p.n_batch < 1) p.n_batch = 256;
    if (p.n_batch > p.n_ctx) p.n_batch = p.n_ctx;
    lair_context_params cp = lair_context_default_params();
    cp.n_ctx = p.n_ctx;
    cp.n_batch = p.n_batch;
    cp.n_seq_max = N_SEQ;
    cp.kv_type = p.kv_type;
    cp.n_threads = p.n_threads;
    cp.n_outputs_max = 2 * p.n_parallel; /* a decode row per running job, plus one per finishing prompt */
    return cp;
}

lair_status srv_sched_create(const lair_model *m, const srv_sched_params *params, srv_sched **out, lair_err *err) {
    *out = NULL;
    srv_sched_params p = params ? *params : srv_sched_default_params();
    if (p.n_parallel < 1 || p.n_parallel > SRV_MAX_PARALLEL)
        return lair_err_set(err, LAIR_ERR_ARG, "server: parallel %d out of range (1 to %d)", p.n_parallel,
                            SRV_MAX_PARALLEL);
    if (p.n_ctx < 2 * SRV_KV_BLOCK) return lair_err_set(err, LAIR_ERR_ARG, "server: context %d too small", p.n_ctx);
    if (p.n_batch < 1) p.n_batch = 256;
    if (p.n_batch > p.n_ctx) p.n_batch = p.n_ctx;
    if (p.queue_max < 0) p.queue_max = 0;
    if (p.n_chunk < 1) p.n_chunk = 64;
    if (p.out_max == 0) p.out_max = 1u << 20;
    if (!lair_model_vocab(m)) return lair_err_set(err, LAIR_ERR_UNSUPPORTED, "server: the model has no tokenizer");
    srv_sched *s = lair_calloc(1, sizeof *s);
    if (!s) return lair_err_set(err, LAIR_ERR_NOMEM, "server: out of memory");
    s->p = p;
    s->m = m;
    s->vocab = lair_model_vocab(m);
    s->n_vocab = (int32_t)lair_model_n_vocab(m);
    lair_context_params cp = srv_sched_context_params(&p);
    lair_status st = lair_context_create(m, &cp, &s->ctx, err);
    s->batch = lair_malloc((size_t)p.n_batch * sizeof *s->batch);
    s->batch_job = lair_malloc((size_t)p.n_batch * sizeof *s->batch_job);
    s->mu = lair_mutex_create();
    s->work = lair_cond_create();
    if (st == LAIR_OK && (!s->batch || !s->batch_job || !s->mu || !s->work))
        st = lair_err_set(err, LAIR_ERR_NOMEM, "server: out of memory");
    s->st.n_parallel = p.n_parallel;
    s->st.kv_blocks_total = p.n_ctx / SRV_KV_BLOCK;
    s->kv_free = p.n_ctx;
    s->rate_t0 = lair_time_seconds();
    if (st == LAIR_OK && !(s->thread = lair_thread_start(sched_main, s)))
        st = lair_err_set(err, LAIR_ERR_NOMEM, "server: cannot start the scheduler thread");
    if (st != LAIR_OK) {
        srv_sched_free(s);
        return st;
    }
    *out = s;
    return LAIR_OK;
}

void srv_sched_free(srv_sched *s) {
    if (!s) return;
    if (s->thread) {
        lair_mutex_lock(s->mu);
        s->quit = true;
        lair_cond_signal(s->work);
        lair_mutex_unlock(s->mu);
        lair_thread_join(s->thread);
    }
    for (int i = 0; i < N_SEQ; i++) {
        lair_tokens_free(&s->cache[i].toks);
        lair_free(s->cache[i].hashes);
    }
    lair_context_free(s->ctx);
    lair_free(s->batch);
    lair_free(s->batch_job);
    lair_cond_free(s->work);
    lair_mutex_free(s->mu);
    lair_free(s);
}

int32_t srv_sched_n_ctx(const srv_sched *s) { return s->p.n_ctx; }

static srv_submit_status submit(srv_sched *s, const srv_job_params *p, srv_job **out, bool *grammar_taken,
                                lair_err *err) {
    *out = NULL;
    if (p->n_prompt == 0 || !p->prompt) {
        lair_err_set(err, LAIR_ERR_ARG, "the prompt is empty");
        return SRV_SUBMIT_BAD_REQUEST;
    }
    if (p->n_prompt >= (size_t)s->p.n_ctx) {
        lair_err_set(err, LAIR_ERR_LIMIT, "the prompt has %zu tokens but the context holds %d", p->n_prompt,
                     s->p.n_ctx);
        return SRV_SUBMIT_BAD_REQUEST;
    }
    for (size_t i = 0; i < p->n_prompt; i++)
        if (p->prompt[i] < 0 || p->prompt[i] >= s->n_vocab) {
            lair_err_set(err, LAIR_ERR_ARG, "token %d at prompt position %zu is outside the vocabulary (0..%d)",
                         p->prompt[i], i, s->n_vocab - 1);
            return SRV_SUBMIT_BAD_REQUEST;
        }
    if (p->n_stop < 0 || p->n_stop > SRV_MAX_STOP) {
        lair_err_set(err, LAIR_ERR_ARG, "at most %d stop strings, got %d", SRV_MAX_STOP, p->n_stop);
        return SRV_SUBMIT_BAD_REQUEST;
    }
    if (p->n_logprobs > LAIR_SAMPLER_MAX_LOGPROBS) {
        lair_err_set(err, LAIR_ERR_ARG, "top_logprobs must be at most %d, got %d", LAIR_SAMPLER_MAX_LOGPROBS,
                     p->n_logprobs);
        return SRV_SUBMIT_BAD_REQUEST;
    }
    srv_job *j = lair_calloc(1, sizeof *j);
    if (!j) goto nomem;
    j->grammar = p->grammar; /* freed with the job from here on */
    *grammar_taken = true;
    j->s = s;
    j->refs = 2;
    j->seq = -1;
    j->pending = -1;
    j->row = -1;
    j->n_prompt = p->n_prompt;
    j->ignore_eos = p->ignore_eos;
    j->n_logprobs = p->n_logprobs < 0 ? -1 : p->n_logprobs;
    int32_t room = s->p.n_ctx - (int32_t)p->n_prompt;
    j->max_tokens = p->max_tokens <= 0 || p->max_tokens > room ? room : p->max_tokens;
    lair_sampler_params sp = p->sampling;
    if (j->n_logprobs > sp.n_logprobs) sp.n_logprobs = j->n_logprobs;
    j->cond = lair_cond_create();
    j->hashes = lair_malloc((p->n_prompt / SRV_KV_BLOCK + 1) * sizeof *j->hashes);
    if (!j->cond || !j->hashes || !lair_tokens_append(&j->toks, p->prompt, p->n_prompt)) goto nomem_job;
    hash_blocks(j->toks.ids, j->n_prompt, j->hashes);
    lair_status st = lair_sampler_create(&sp, s->n_vocab, &j->sampler, err);
    if (st == LAIR_OK && p->n_stop > 0 && !p->grammar) st = lair_stop_create(p->stop, p->n_stop, &j->stop, err);
    if (st == LAIR_OK) st = lair_detok_init(&j->detok, s->vocab, p->special_text, false, err);
    if (st == LAIR_OK && p->grammar) {
        j->allow = lair_malloc(((size_t)s->n_vocab + 31) / 32 * sizeof *j->allow);
        st = j->allow ? lair_grammar_matcher_create(p->grammar, p->gvocab, &j->gm, err)
                      : lair_err_set(err, LAIR_ERR_NOMEM, "out of memory");
        if (st == LAIR_OK && lair_grammar_matcher_min_bytes(j->gm) > j->max_tokens)
            st = lair_err_set(err, LAIR_ERR_ARG,
                              "max_tokens (%d) is too small for the requested format: its shortest output takes "
                              "up to %d tokens",
                              j->max_tokens, lair_grammar_matcher_min_bytes(j->gm));
    }
    if (st != LAIR_OK) {
        j->refs = 1;
        job_unref(j);
        return st == LAIR_ERR_NOMEM ? SRV_SUBMIT_NOMEM : SRV_SUBMIT_BAD_REQUEST;
    }
    for (size_t i = 0; i < p->n_prompt; i++) lair_sampler_accept(j->sampler, p->prompt[i]);
    j->t_submit = lair_time_seconds();
    lair_mutex_lock(s->mu);
    if (s->quit || s->n_queued >= s->p.queue_max + (s->p.n_parallel - s->n_active)) {
        int32_t n_waiting = s->n_queued;
        j->refs = 1;
        job_unref(j);
        lair_mutex_unlock(s->mu);
        lair_err_set(err, LAIR_ERR_LIMIT, "the server is busy: %d requests are waiting", n_waiting);
        return SRV_SUBMIT_BUSY;
    }
    if (s->queue_tail) s->queue_tail->next = j;
    else s->queue_head = j;
    s->queue_tail = j;
    s->n_queued++;
    s->st.requests++;
    s->st.prompt_tokens += p->n_prompt;
    lair_cond_signal(s->work);
    lair_mutex_unlock(s->mu);
    *out = j;
    return SRV_SUBMIT_OK;
nomem_job:
    j->refs = 1;
    job_unref(j);
nomem:
    lair_err_set(err, LAIR_ERR_NOMEM, "out of memory");
    return SRV_SUBMIT_NOMEM;
}

srv_submit_status srv_submit(srv_sched *s, const srv_job_params *p, srv_job **out, lair_err *err) {
    bool taken = false;
    srv_submit_status st = submit(s, p, out, &taken, err);
    if (!taken && p->grammar) lair_grammar_free(p->grammar);
    return st;
}

bool srv_job_wait(srv_job *j, srv_output *out, int timeout_ms) {
    srv_sched *s = j->s;
    memset(out, 0, sizeof *out);
    lair_mutex_lock(s->mu);
    double deadline = lair_time_seconds() + timeout_ms / 1e3;
    while (j->out_len == 0 && j->n_lp == 0 && j->state != JOB_DONE) {
        int left = timeout_ms < 0 ? -1 : (int)((deadline - lair_time_seconds()) * 1e3);
        if (timeout_ms >= 0 && left <= 0) break;
        lair_cond_wait(j->cond, s->mu, left);
    }
    bool paused = j->out_len >= s->p.out_max;
    out->text = j->out;
    out->len = j->out_len;
    out->lp = j->lp;
    out->n_lp = (int32_t)j->n_lp;
    j->out = NULL;
    j->out_len = j->out_cap = 0;
    j->lp = NULL;
    j->n_lp = j->cap_lp = 0;
    if (j->state == JOB_DONE) {
        out->finish = j->finish;
        out->usage = j->usage;
        memcpy(out->error, j->error, sizeof out->error);
    }
    if (paused) lair_cond_signal(s->work);
    lair_mutex_unlock(s->mu);
    return out->len || out->n_lp || out->finish != SRV_RUNNING;
}

void srv_output_free(srv_output *o) {
    lair_free(o->text);
    lair_free(o->lp);
    o->text = NULL;
    o->lp = NULL;
    o->len = 0;
    o->n_lp = 0;
}

void srv_job_cancel(srv_job *j) {
    srv_sched *s = j->s;
    lair_mutex_lock(s->mu);
    if (j->state != JOB_DONE) {
        j->cancelled = true;
        lair_cond_signal(s->work);
    }
    lair_mutex_unlock(s->mu);
}

void srv_job_free(srv_job *j) {
    if (!j) return;
    srv_sched *s = j->s;
    lair_mutex_lock(s->mu);
    if (j->state != JOB_DONE) {
        j->cancelled = true;
        lair_cond_signal(s->work);
    }
    job_unref(j);
    lair_mutex_unlock(s->mu);
}

void srv_sched_stats(srv_sched *s, srv_stats *out) {
    lair_mutex_lock(s->mu);
    *out = s->st;
    out->queue_depth = s->n_queued;
    out->slots_busy = s->n_active;
    int32_t used = s->p.n_ctx - s->kv_free;
    out->kv_blocks_used = (used + SRV_KV_BLOCK - 1) / SRV_KV_BLOCK;
    lair_mutex_unlock(s->mu);
}
