/* Request fields -> sampling parameters.  Every field is optional (null is
 * the same as absent); a present field of the wrong type or out of range is
 * a 400 naming it.  Unknown fields are ignored; fields that would change the
 * output in ways lair does not implement yet (structured output, tools,
 * several choices) are refused rather than silently ignored.
 *
 * Ranges: OpenAI's documented ones for its fields (temperature 0..2,
 * penalties -2..2, logit_bias -100..100, top_logprobs 0..20); llama.cpp's
 * extras and Ollama's options get the sampler's own bounds (sampler.h),
 * with temperature up to 100 and penalties within -100..100. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/platform.h"
#include "server/api.h"

static LAIR_PRINTF(4, 5) bool perr(srv_param_err *e, const char *pfx, const char *name, const char *fmt, ...) {
    snprintf(e->param, sizeof e->param, "%s%s", pfx, name);
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(e->msg, sizeof e->msg, "%s%s %s", pfx, name, msg);
    return false;
}

/* 0: absent or null; 1: *out set; -1: *e filled. */
static int get_num(const json_t *o, const char *pfx, const char *k, double lo, double hi, double *out,
                   srv_param_err *e) {
    const json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) return perr(e, pfx, k, "must be a number"), -1;
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi)) return perr(e, pfx, k, "must be between %g and %g, got %g", lo, hi, x), -1;
    *out = x;
    return 1;
}

static int get_int(const json_t *o, const char *pfx, const char *k, int64_t lo, int64_t hi, int64_t *out,
                   srv_param_err *e) {
    const json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    int64_t x;
    if (json_is_integer(v)) x = (int64_t)json_integer_value(v);
    else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) && fabs(json_real_value(v)) < 9e15)
        x = (int64_t)json_real_value(v);
    else return perr(e, pfx, k, "must be an integer"), -1;
    if (x < lo || x > hi)
        return perr(e, pfx, k, "must be between %lld and %lld, got %lld", (long long)lo, (long long)hi,
                    (long long)x), -1;
    *out = x;
    return 1;
}

static int get_bool(const json_t *o, const char *pfx, const char *k, bool *out, srv_param_err *e) {
    const json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return perr(e, pfx, k, "must be true or false"), -1;
    *out = json_is_true(v);
    return 1;
}

/* Any integer (negative ones wrap, as llama.cpp's seeds do). */
static int get_seed(const json_t *o, const char *pfx, const char *k, uint64_t *out, srv_param_err *e) {
    const json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v)) return perr(e, pfx, k, "must be an integer"), -1;
    *out = (uint64_t)json_integer_value(v);
    return 1;
}

static bool get_stop(const json_t *o, const char *pfx, const char *k, srv_gen_params *p, srv_param_err *e) {
    const json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return true;
    if (json_is_string(v)) {
        if (json_string_length(v) > SRV_MAX_STOP_LEN) return perr(e, pfx, k, "is longer than %d bytes", SRV_MAX_STOP_LEN);
        if (json_string_length(v)) p->stop[p->n_stop++] = json_string_value(v);
        return true;
    }
    if (!json_is_array(v)) return perr(e, pfx, k, "must be a string or an array of strings");
    if (json_array_size(v) > SRV_MAX_STOP) return perr(e, pfx, k, "has more than %d strings", SRV_MAX_STOP);
    size_t i;
    const json_t *s;
    json_array_foreach(v, i, s) {
        if (!json_is_string(s)) return perr(e, pfx, k, "must be a string or an array of strings");
        if (json_string_length(s) > SRV_MAX_STOP_LEN)
            return perr(e, pfx, k, "has a string longer than %d bytes", SRV_MAX_STOP_LEN);
        if (json_string_length(s)) p->stop[p->n_stop++] = json_string_value(s);
    }
    return true;
}

static bool get_bias(const json_t *o, int32_t n_vocab, srv_gen_params *p, srv_param_err *e) {
    const json_t *v = json_object_get(o, "logit_bias");
    if (!v || json_is_null(v)) return true;
    if (!json_is_object(v)) return perr(e, "", "logit_bias", "must be an object of token ids to numbers");
    size_t n = json_object_size(v);
    if (!n) return true;
    p->bias = lair_malloc(n * sizeof *p->bias);
    if (!p->bias) return perr(e, "", "logit_bias", "is too large (out of memory)");
    const char *key;
    const json_t *b;
    json_object_foreach((json_t *)v, key, b) {
        char *end;
        errno = 0;
        long id = key[0] >= '0' && key[0] <= '9' ? strtol(key, &end, 10) : -1;
        if (id < 0 || errno || *end || id >= n_vocab)
            return perr(e, "", "logit_bias", "key '%.40s' is not a token id of this model (0 to %d)", key,
                        n_vocab - 1);
        if (!json_is_number(b)) return perr(e, "", "logit_bias", "value for token %ld must be a number", id);
        double x = json_number_value(b);
        if (!(x >= -100 && x <= 100))
            return perr(e, "", "logit_bias", "value for token %ld must be between -100 and 100, got %g", id, x);
        p->bias[p->sp.n_bias++] = (lair_logit_bias){(int32_t)id, (float)x};
    }
    return true;
}

static void defaults(srv_gen_params *p) {
    static _Atomic uint64_t counter;
    memset(p, 0, sizeof *p);
    p->sp = lair_sampler_default_params();
    /* an unseeded request gets its own seed: identical unseeded requests may differ, as with OpenAI */
    p->sp.seed = (uint64_t)(lair_time_seconds() * 1e9) ^ (++counter * 0x9e3779b97f4a7c15ull);
    p->n_logprobs = -1;
}

/* Fields shared by the OpenAI request and llama.cpp's extras. */
static bool sampling_fields(const json_t *o, const char *pfx, double t_max, double pen, srv_gen_params *p,
                            srv_param_err *e) {
    double x;
    int64_t i;
    int r;
    if ((r = get_num(o, pfx, "temperature", 0, t_max, &x, e)) < 0) return false;
    if (r) p->sp.temperature = (float)x;
    if ((r = get_num(o, pfx, "top_p", 0, 1, &x, e)) < 0) return false;
    if (r) p->sp.top_p = (float)x;
    if ((r = get_num(o, pfx, "min_p", 0, 1, &x, e)) < 0) return false;
    if (r) p->sp.min_p = (float)x;
    if ((r = get_num(o, pfx, "typical_p", 0, 1, &x, e)) < 0) return false;
    if (r) p->sp.typical_p = (float)x;
    if ((r = get_num(o, pfx, "presence_penalty", -pen, pen, &x, e)) < 0) return false;
    if (r) p->sp.presence_penalty = (float)x;
    if ((r = get_num(o, pfx, "frequency_penalty", -pen, pen, &x, e)) < 0) return false;
    if (r) p->sp.frequency_penalty = (float)x;
    if ((r = get_num(o, pfx, "repeat_penalty", 0, 100, &x, e)) < 0) return false;
    if (r && !(x > 0)) return perr(e, pfx, "repeat_penalty", "must be greater than 0");
    if (r) p->sp.repeat_penalty = (float)x;
    if ((r = get_int(o, pfx, "top_k", 0, INT32_MAX, &i, e)) < 0) return false;
    if (r) p->sp.top_k = (int32_t)i;
    if ((r = get_int(o, pfx, "repeat_last_n", -1, LAIR_SAMPLER_MAX_LAST_N, &i, e)) < 0) return false;
    if (r) p->sp.penalty_last_n = i < 0 ? LAIR_SAMPLER_MAX_LAST_N : (int32_t)i;
    if (get_seed(o, pfx, "seed", &p->sp.seed, e) < 0) return false;
    return true;
}

static bool refuse_unsupported_openai(const json_t *body, srv_param_err *e) {
    const json_t *v = json_object_get(body, "n");
    if (v && !json_is_null(v) && !(json_is_integer(v) && json_integer_value(v) == 1))
        return perr(e, "", "n", "must be 1: lair returns one choice per request");
    v = json_object_get(body, "best_of");
    if (v && !json_is_null(v) && !(json_is_integer(v) && json_integer_value(v) == 1))
        return perr(e, "", "best_of", "must be 1: lair returns one choice per request");
    v = json_object_get(body, "echo");
    if (v && json_is_true(v)) return perr(e, "", "echo", "is not supported");
    v = json_object_get(body, "suffix");
    if (v && !json_is_null(v) && !(json_is_string(v) && !json_string_length(v)))
        return perr(e, "", "suffix", "is not supported (fill-in-the-middle)");
    return true;
}

bool srv_params_openai(const json_t *body, srv_api api, int32_t n_vocab, srv_gen_params *p, srv_param_err *e) {
    defaults(p);
    int64_t i;
    int r;
    if (!refuse_unsupported_openai(body, e)) return false;
    if (!srv_structured_openai(body, api, p, e)) return false;
    if (!sampling_fields(body, "", 2, 2, p, e)) return false;
    if ((r = get_int(body, "", "max_tokens", 1, INT64_MAX, &i, e)) < 0) return false;
    if (r) p->max_tokens = i > INT32_MAX ? INT32_MAX : (int32_t)i;
    if ((r = get_int(body, "", "max_completion_tokens", 1, INT64_MAX, &i, e)) < 0) return false;
    if (r) p->max_tokens = i > INT32_MAX ? INT32_MAX : (int32_t)i;
    if (!get_stop(body, "", "stop", p, e)) return false;
    if (!get_bias(body, n_vocab, p, e)) return false;
    p->sp.bias = p->bias;
    if (get_bool(body, "", "ignore_eos", &p->ignore_eos, e) < 0) return false;
    if (api == SRV_API_CHAT) {
        bool lp = false;
        if (get_bool(body, "", "logprobs", &lp, e) < 0) return false;
        if ((r = get_int(body, "", "top_logprobs", 0, LAIR_SAMPLER_MAX_LOGPROBS, &i, e)) < 0) return false;
        if (r && !lp) return perr(e, "", "top_logprobs", "needs \"logprobs\": true");
        p->n_logprobs = lp ? (r ? (int32_t)i : 0) : -1;
    } else {
        if ((r = get_int(body, "", "logprobs", 0, LAIR_SAMPLER_MAX_LOGPROBS, &i, e)) < 0) return false;
        if (r) p->n_logprobs = (int32_t)i;
    }
    if (get_bool(body, "", "stream", &p->stream, e) < 0) return false;
    const json_t *so = json_object_get(body, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) return perr(e, "", "stream_options", "must be an object");
        if (get_bool(so, "stream_options.", "include_usage", &p->include_usage, e) < 0) return false;
    }
    return true;
}

bool srv_params_ollama(const json_t *body, srv_gen_params *p, srv_param_err *e) {
    defaults(p);
    p->stream = true; /* Ollama streams unless told not to */
    if (get_bool(body, "", "stream", &p->stream, e) < 0) return false;
    if (!srv_structured_ollama(body, p, e)) return false;
    const json_t *v = json_object_get(body, "suffix");
    if (v && !json_is_null(v) && !(json_is_string(v) && !json_string_length(v)))
        return perr(e, "", "suffix", "is not supported (fill-in-the-middle)");
    v = json_object_get(body, "images");
    if (v && !json_is_null(v) && !(json_is_array(v) && !json_array_size(v)))
        return perr(e, "", "images", "are not supported (text models only)");
    v = json_object_get(body, "keep_alive"); /* accepted; models stay loaded */
    if (v && !json_is_null(v) && !json_is_string(v) && !json_is_number(v))
        return perr(e, "", "keep_alive", "must be a duration string or a number of seconds");
    const json_t *o = json_object_get(body, "options");
    if (!o || json_is_null(o)) return true;
    if (!json_is_object(o)) return perr(e, "", "options", "must be an object");
    if (!sampling_fields(o, "options.", 100, 100, p, e)) return false;
    int64_t i;
    int r;
    if ((r = get_int(o, "options.", "num_predict", -2, INT64_MAX, &i, e)) < 0) return false;
    if (r && i == 0) return perr(e, "options.", "num_predict", "must be positive, or -1 for no limit");
    if (r) p->max_tokens = i < 0 ? 0 : i > INT32_MAX ? INT32_MAX : (int32_t)i;
    if ((r = get_int(o, "options.", "num_ctx", 1, INT32_MAX, &i, e)) < 0) return false; /* the server's --ctx rules */
    if ((r = get_int(o, "options.", "mirostat", 0, 2, &i, e)) < 0) return false;
    if (r && i != 0) return perr(e, "options.", "mirostat", "is not supported");
    if (!get_stop(o, "options.", "stop", p, e)) return false;
    return true;
}

void srv_gen_params_free(srv_gen_params *p) {
    srv_structured_free(p);
    lair_free(p->bias);
    p->bias = NULL;
    p->sp.bias = NULL;
}
