#include "session.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/platform.h"
#include "text/vocab.h"

bool session_kv_type(const char *name, lair_type *out) {
    static const struct {
        const char *name;
        lair_type t;
    } k[] = {{"f32", LAIR_TYPE_F32}, {"f16", LAIR_TYPE_F16}, {"q8_0", LAIR_TYPE_Q8_0}, {"q4_0", LAIR_TYPE_Q4_0}};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (strcmp(k[i].name, name) == 0) return *out = k[i].t, true;
    return false;
}

/* The sampler of o->sampling; with ignore_eos every end-of-generation token
 * of the vocabulary is banned by a -inf bias (added to the caller's biases). */
static lair_status create_sampler(session *s, const session_opts *o, lair_err *err) {
    const int32_t n_vocab = (int32_t)lair_model_n_vocab(s->model);
    if (!o->ignore_eos) return lair_sampler_create(&o->sampling, n_vocab, &s->sampler, err);
    const int32_t n_tok = lair_vocab_n_tokens(s->vocab);
    int32_t n_eog = 0;
    for (int32_t t = 0; t < n_tok; t++) n_eog += lair_vocab_is_eog(s->vocab, t);
    size_t n = (size_t)o->sampling.n_bias + (size_t)n_eog;
    lair_logit_bias *bias = lair_malloc((n ? n : 1) * sizeof *bias);
    if (!bias) return lair_err_set(err, LAIR_ERR_NOMEM, "out of memory");
    if (o->sampling.n_bias) memcpy(bias, o->sampling.bias, (size_t)o->sampling.n_bias * sizeof *bias);
    size_t k = (size_t)o->sampling.n_bias;
    for (int32_t t = 0; t < n_tok; t++)
        if (lair_vocab_is_eog(s->vocab, t)) bias[k++] = (lair_logit_bias){t, -INFINITY};
    lair_sampler_params p = o->sampling;
    p.bias = bias;
    p.n_bias = (int32_t)n;
    lair_status st = lair_sampler_create(&p, n_vocab, &s->sampler, err);
    lair_free(bias);
    return st;
}

lair_status session_open(session *s, const session_opts *o, lair_err *err) {
    memset(s, 0, sizeof *s);
    double t0 = lair_time_seconds();
    lair_status st = lair_model_load(o->model_path, &s->model, err);
    if (st != LAIR_OK) return st;
    s->vocab = lair_model_vocab(s->model);
    if (!s->vocab) {
        session_close(s);
        return lair_err_set(err, LAIR_ERR_UNSUPPORTED, "%s: the model has no tokenizer (tokenizer.ggml.model)",
                            o->model_path);
    }
    lair_context_params cp = lair_context_default_params();
    int64_t train = lair_model_n_ctx_train(s->model);
    cp.n_ctx = o->n_ctx > 0 ? o->n_ctx : (train > 0 && train < 4096 ? (int32_t)train : 4096);
    cp.n_threads = o->n_threads;
    cp.kv_type = o->kv_type;
    if (cp.n_batch > cp.n_ctx) cp.n_batch = cp.n_ctx;
    st = lair_context_create(s->model, &cp, &s->ctx, err);
    if (st == LAIR_OK) st = create_sampler(s, o, err);
    if (st != LAIR_OK) {
        session_close(s);
        return st;
    }
    s->n_ctx = cp.n_ctx;
    s->n_batch = cp.n_batch;
    s->load_s = lair_time_seconds() - t0;
    return LAIR_OK;
}

void session_close(session *s) {
    lair_sampler_free(s->sampler);
    lair_context_free(s->ctx);
    lair_model_free(s->model);
    lair_tokens_free(&s->kv);
    memset(s, 0, sizeof *s);
}

/* Evaluates tokens at positions kv.n.. in batches; *last_row is the index of
 * the last token's logits (lair_logits) in the final batch. */
static lair_status eval(session *s, const lair_token *t, size_t n, int32_t *last_row, lair_err *err) {
    lair_batch_entry *b = lair_malloc((size_t)s->n_batch * sizeof *b);
    if (!b) return lair_err_set(err, LAIR_ERR_NOMEM, "out of memory");
    lair_status st = LAIR_OK;
    for (size_t i = 0; i < n && st == LAIR_OK;) {
        size_t m = n - i < (size_t)s->n_batch ? n - i : (size_t)s->n_batch;
        for (size_t k = 0; k < m; k++)
            b[k] = (lair_batch_entry){t[i + k], (int32_t)(s->kv.n + k), 0, i + k == n - 1};
        st = lair_decode(s->ctx, b, (int32_t)m, err);
        *last_row = (int32_t)m - 1;
        for (size_t k = 0; st == LAIR_OK && k < m; k++)
            if (!tokens_push(&s->kv, t[i + k])) st = lair_err_set(err, LAIR_ERR_NOMEM, "out of memory");
        i += m;
    }
    lair_free(b);
    return st;
}

lair_status session_prefill(session *s, const lair_token *prompt, size_t n, gen_stats *st, lair_err *err) {
    memset(st, 0, sizeof *st);
    st->n_prompt = (int32_t)n;
    if (n == 0) return lair_err_set(err, LAIR_ERR_ARG, "the prompt is empty");
    if (n >= (size_t)s->n_ctx)
        return lair_err_set(err, LAIR_ERR_LIMIT, "the prompt has %zu tokens but the context holds %d (use --ctx)", n,
                            s->n_ctx);
    size_t keep = 0;
    while (keep < s->kv.n && keep < n && s->kv.ids[keep] == prompt[keep]) keep++;
    if (keep == n) keep--; /* the last token is evaluated again for its logits */
    lair_kv_seq_rm(s->ctx, 0, (int32_t)keep, -1);
    s->kv.n = keep;
    st->n_reused = (int32_t)keep;
    lair_sampler_reset(s->sampler);
    for (size_t i = 0; i < keep; i++) lair_sampler_accept(s->sampler, prompt[i]);
    double t0 = lair_time_seconds();
    int32_t row = 0;
    lair_status rc = eval(s, prompt + keep, n - keep, &row, err);
    for (size_t i = keep; i < n; i++) lair_sampler_accept(s->sampler, prompt[i]);
    st->prompt_s = lair_time_seconds() - t0;
    s->last_row = row;
    return rc;
}

/* Generated text: streamed to emit and, when asked, collected. */
typedef struct gen_out {
    gen_emit_fn emit;
    void *ud;
    char *buf; /* NULL: not collected */
    size_t len, cap;
    bool nomem;
} gen_out;

static void out_add(gen_out *o, const char *p, size_t n) {
    if (!n) return;
    o->emit(o->ud, p, n);
    if (!o->buf || o->nomem) return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap;
        while (o->len + n + 1 > cap) cap *= 2;
        char *g = lair_realloc(o->buf, cap);
        if (!g) {
            o->nomem = true;
            return;
        }
        o->buf = g;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
}

lair_status session_generate(session *s, int32_t n_predict, lair_stop *stop, volatile sig_atomic_t *interrupt,
                             gen_emit_fn emit, void *ud, char **text, gen_stats *st, lair_err *err) {
    lair_detok d;
    lair_status rc = lair_detok_init(&d, s->vocab, false, false, err);
    if (rc != LAIR_OK) return rc;
    gen_out o = {emit, ud, text ? lair_malloc(256) : NULL, 0, 256, false};
    if (text && !o.buf) {
        lair_detok_free(&d);
        return lair_err_set(err, LAIR_ERR_NOMEM, "out of memory");
    }
    double t0 = lair_time_seconds(), t_first = 0;
    st->end = GEN_LENGTH;
    const int64_t n_vocab = lair_model_n_vocab(s->model);
    for (int32_t i = 0; n_predict < 0 || i < n_predict; i++) {
        if (interrupt && *interrupt) {
            st->end = GEN_INTERRUPTED;
            break;
        }
        const float *logits = lair_logits(s->ctx, s->last_row);
        lair_token t = logits ? lair_sampler_sample(s->sampler, logits, NULL) : -1;
        if (i == 0) t_first = lair_time_seconds();
        if (t < 0 || t >= n_vocab) {
            rc = lair_err_set(err, LAIR_ERR_ARG, "no token can be sampled (every logit is banned or not a number)");
            break;
        }
        st->n_gen++;
        if (lair_vocab_is_eog(s->vocab, t)) {
            st->end = GEN_EOG;
            break;
        }
        lair_sampler_accept(s->sampler, t);
        size_t n;
        const char *piece = lair_detok_push(&d, t, &n);
        lair_stop_result r = {piece, n, -1};
        if (stop && (rc = lair_stop_feed(stop, piece, n, &r, err)) != LAIR_OK) break;
        out_add(&o, r.text, r.len);
        if (r.stop >= 0) {
            st->end = GEN_STOP_STRING;
            break;
        }
        if (s->kv.n + 1 >= (size_t)s->n_ctx) {
            st->end = GEN_CONTEXT_FULL;
            break;
        }
        int32_t row;
        if ((rc = eval(s, &t, 1, &row, err)) != LAIR_OK) break;
        s->last_row = row;
    }
    /* the tail: an unfinished character, then bytes held for a stop string */
    if (rc == LAIR_OK && st->end != GEN_STOP_STRING) {
        size_t n;
        const char *tail = lair_detok_flush(&d, &n);
        lair_stop_result r = {tail, n, -1};
        if (stop && n) rc = lair_stop_feed(stop, tail, n, &r, err);
        out_add(&o, r.text, r.len);
        if (stop && r.stop < 0) {
            lair_stop_flush(stop, &r);
            out_add(&o, r.text, r.len);
        }
    }
    double t1 = lair_time_seconds();
    st->first_s = st->prompt_s + (t_first > 0 ? t_first - t0 : 0);
    st->gen_s = t_first > 0 ? t1 - t_first : 0;
    lair_detok_free(&d);
    if (o.nomem && rc == LAIR_OK) rc = lair_err_set(err, LAIR_ERR_NOMEM, "out of memory");
    if (text) {
        if (o.buf) o.buf[o.len] = 0;
        *text = o.buf;
    }
    return rc;
}

void session_print_stats(const session *s, const gen_stats *st) {
    static const char *const ends[] = {"end of generation", "stop string", "length limit", "context full", "interrupted"};
    int32_t evald = st->n_prompt - st->n_reused;
    fprintf(stderr, "\nload %.2f s | prompt %d tokens (%d reused) in %.3f s, %.1f tok/s | first token after %.3f s | "
                    "%d tokens in %.3f s, %.2f tok/s | stop: %s\n",
            s->load_s, st->n_prompt, st->n_reused, st->prompt_s, st->prompt_s > 0 ? evald / st->prompt_s : 0.0,
            st->first_s, st->n_gen, st->gen_s, st->n_gen > 1 && st->gen_s > 0 ? (st->n_gen - 1) / st->gen_s : 0.0,
            ends[st->end]);
}
