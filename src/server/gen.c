/* What both APIs do with a request: find the model, make the prompt's
 * tokens, submit the job and (without streaming) wait for all of it. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/platform.h"
#include "server/api.h"
#include "text/chat.h"

#define WAIT_SLICE_MS 200 /* how often a waiting handler checks its client */

void srv_log(const srv_state *st, const char *fmt, ...) {
    if (!st->log) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    st->log(st->log_ud, line);
}

srv_model *srv_lookup_model(srv_state *st, const char *name) {
    if (!name || !name[0]) return st->n_models ? st->models[0] : NULL;
    for (int i = 0; i < st->n_models; i++)
        if (strcmp(st->models[i]->id, name) == 0) return st->models[i];
    size_t n = strlen(name);
    if (n > 7 && strcmp(name + n - 7, ":latest") == 0)
        for (int i = 0; i < st->n_models; i++)
            if (strlen(st->models[i]->id) == n - 7 && strncmp(st->models[i]->id, name, n - 7) == 0)
                return st->models[i];
    return NULL;
}

srv_model *srv_find_model(srv_state *st, http_req *r, const char *name, bool *just_loaded) {
    srv_model *m = srv_lookup_model(st, name);
    if (!m) {
        if (http_req_style(r) == HTTP_STYLE_OLLAMA)
            http_reply_error(r, 404, "model", "model_not_found", "model '%.200s' not found", name);
        else
            http_reply_error(r, 404, "model", "model_not_found",
                             "The model '%.200s' does not exist (GET /v1/models lists the models)", name);
        return NULL;
    }
    lair_err e = {0};
    bool just = false;
    if (srv_model_acquire(m, &st->load, &just, &e) != LAIR_OK) {
        srv_log(st, "cannot load model %s: %s", m->id, e.msg);
        http_reply_error(r, 500, "model", "model_load_failed",
                         "cannot load model %s: %s", m->id, e.msg);
        return NULL;
    }
    if (just) {
        srv_log(st, "loaded model %s in %.2f s", m->id, m->load_s);
    }
    if (just_loaded) *just_loaded = just;
    return m;
}

lair_status srv_chat_tokens(srv_model *m, const json_t *messages, const json_t *extra, lair_tokens *out, lair_err *err) {
    const lair_vocab *v = lair_model_vocab(m->model);
    char *text = NULL;
    size_t len = 0;
    lair_status st = lair_chat_render(m->tmpl, v, messages, extra, true, &text, &len, err);
    if (st == LAIR_OK) st = lair_chat_tokenize(v, text, len, messages, out, err);
    lair_free(text);
    return st;
}

lair_status srv_text_tokens(srv_model *m, const char *text, size_t len, lair_tokens *out, lair_err *err) {
    return lair_tokenize(lair_model_vocab(m->model), text, len, LAIR_TOK_ADD_SPECIAL | LAIR_TOK_PARSE_SPECIAL, out,
                         err);
}

static LAIR_PRINTF(3, 4) json_t *msg_err(srv_param_err *e, const char *param, const char *fmt, ...) {
    snprintf(e->param, sizeof e->param, "%s", param);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return NULL;
}

/* A message's content as one string: a string, null (an assistant turn with
 * tool calls) or an array of {"type":"text","text":...} parts, joined by
 * newlines. */
static json_t *content_text(const json_t *c, const char *field, size_t i, srv_param_err *e) {
    if (!c || json_is_null(c)) return json_string("");
    if (json_is_string(c)) return json_incref((json_t *)c);
    if (!json_is_array(c))
        return msg_err(e, field, "%s[%zu].content must be a string or an array of text parts", field, i);
    size_t total = 0, k;
    const json_t *part;
    json_array_foreach(c, k, part) {
        const json_t *type = json_object_get(part, "type"), *text = json_object_get(part, "text");
        if (!json_is_object(part) || !json_is_string(type))
            return msg_err(e, field, "%s[%zu].content[%zu] must be an object with a \"type\"", field, i, k);
        if (strcmp(json_string_value(type), "text") != 0)
            return msg_err(e, field, "%s[%zu].content[%zu]: part type '%.40s' is not supported (text only)", field,
                           i, k, json_string_value(type));
        if (!json_is_string(text))
            return msg_err(e, field, "%s[%zu].content[%zu].text must be a string", field, i, k);
        total += json_string_length(text) + 1;
    }
    char *buf = lair_malloc(total + 1);
    if (!buf) return msg_err(e, field, "%s[%zu].content is too large", field, i);
    size_t n = 0;
    json_array_foreach(c, k, part) {
        const json_t *text = json_object_get(part, "text");
        if (k) buf[n++] = '\n';
        memcpy(buf + n, json_string_value(text), json_string_length(text));
        n += json_string_length(text);
    }
    json_t *s = json_stringn(buf, n);
    lair_free(buf);
    return s;
}

json_t *srv_messages_normalize(const json_t *messages, const char *field, srv_param_err *e) {
    if (!json_is_array(messages) || !json_array_size(messages))
        return msg_err(e, field, "%s must be a non-empty array of messages", field);
    static const char *const roles[] = {"system", "developer", "user", "assistant", "tool"};
    json_t *out = json_array();
    if (!out) return msg_err(e, field, "out of memory");
    size_t i;
    const json_t *msg;
    json_array_foreach(messages, i, msg) {
        if (!json_is_object(msg)) {
            json_decref(out);
            return msg_err(e, field, "%s[%zu] must be an object", field, i);
        }
        const json_t *role = json_object_get(msg, "role");
        bool known = false;
        for (size_t k = 0; json_is_string(role) && k < sizeof roles / sizeof roles[0]; k++)
            known = known || strcmp(json_string_value(role), roles[k]) == 0;
        if (!known) {
            json_decref(out);
            return msg_err(e, field, "%s[%zu].role must be one of system, developer, user, assistant, tool",
                           field, i);
        }
        const json_t *images = json_object_get(msg, "images");
        if (images && !json_is_null(images) && !(json_is_array(images) && !json_array_size(images))) {
            json_decref(out);
            return msg_err(e, field, "%s[%zu].images are not supported (text models only)", field, i);
        }
        const json_t *c = json_object_get(msg, "content");
        if (!c && strcmp(json_string_value(role), "assistant") != 0) {
            json_decref(out);
            return msg_err(e, field, "%s[%zu].content is required", field, i);
        }
        json_t *text = content_text(c, field, i, e);
        json_t *m = text ? json_deep_copy(msg) : NULL;
        if (!m || json_object_set_new(m, "content", text) != 0 ||
            (strcmp(json_string_value(role), "developer") == 0 &&
             json_object_set_new(m, "role", json_string("system")) != 0) ||
            json_array_append_new(out, m) != 0) {
            if (!m) json_decref(text);
            json_decref(out);
            if (!e->msg[0]) msg_err(e, field, "out of memory");
            return NULL;
        }
    }
    return out;
}

srv_job *srv_start(http_req *r, srv_model *m, const lair_tokens *prompt, const srv_gen_params *gp) {
    srv_job_params jp = {0};
    jp.prompt = prompt->ids;
    jp.n_prompt = prompt->n;
    jp.sampling = gp->sp;
    jp.max_tokens = gp->max_tokens;
    jp.stop = gp->stop;
    jp.n_stop = gp->n_stop;
    jp.ignore_eos = gp->ignore_eos;
    jp.n_logprobs = gp->n_logprobs;
    jp.special_text = srv_tools_active(gp); /* tool-call markers are often control tokens */
    lair_err e = {0};
    if (gp->gbnf) {
        lair_status st = lair_grammar_parse(gp->gbnf, strlen(gp->gbnf), NULL, NULL, &jp.grammar, &e);
        if (st == LAIR_OK) st = srv_model_grammar_vocab(m, &jp.gvocab, &e);
        if (st != LAIR_OK) {
            if (jp.grammar) lair_grammar_free(jp.grammar);
            http_reply_error(r, st == LAIR_ERR_NOMEM ? 500 : 400, gp->gbnf_field, NULL, "%s: %s", gp->gbnf_field,
                             e.msg);
            return NULL;
        }
    }
    srv_job *j = NULL;
    switch (srv_submit(m->sched, &jp, &j, &e)) {
    case SRV_SUBMIT_OK: return j;
    case SRV_SUBMIT_BAD_REQUEST:
        http_reply_error(r, 400, NULL, e.code == LAIR_ERR_LIMIT ? "context_length_exceeded" : NULL, "%s", e.msg);
        return NULL;
    case SRV_SUBMIT_BUSY:
        http_req_add_header(r, "Retry-After", "1");
        http_reply_error(r, 503, NULL, "server_busy", "%s; retry later", e.msg[0] ? e.msg : "the server is busy");
        return NULL;
    case SRV_SUBMIT_NOMEM: break;
    }
    http_reply_error(r, 500, NULL, NULL, "%s", e.msg[0] ? e.msg : "out of memory");
    return NULL;
}

bool srv_collect(http_req *r, srv_job *j, srv_result *res) {
    memset(res, 0, sizeof *res);
    http_buf text = {0};
    size_t cap_lp = 0;
    bool ok = true;
    double next_check = lair_time_seconds() + WAIT_SLICE_MS * 1e-3;
    for (;;) {
        srv_output o;
        memset(&o, 0, sizeof o);
        bool got = srv_job_wait(j, &o, WAIT_SLICE_MS);
        if (!got || lair_time_seconds() >= next_check) { /* output may arrive faster than the slice */
            next_check = lair_time_seconds() + WAIT_SLICE_MS * 1e-3;
            if (!http_req_alive(r)) {
                if (got) srv_output_free(&o);
                ok = false;
                break;
            }
        }
        if (!got) continue;
        http_buf_add(&text, o.text, o.len);
        if (o.n_lp > 0 && res->n_lp + (size_t)o.n_lp > cap_lp) {
            size_t cap = cap_lp ? cap_lp : 64;
            while (cap < res->n_lp + (size_t)o.n_lp) cap *= 2;
            lair_token_logprobs *p = lair_realloc(res->lp, cap * sizeof *p);
            if (!p) text.oom = true;
            else res->lp = p, cap_lp = cap;
        }
        if (o.n_lp > 0 && !text.oom) {
            memcpy(res->lp + res->n_lp, o.lp, (size_t)o.n_lp * sizeof *o.lp);
            res->n_lp += (size_t)o.n_lp;
        }
        bool over = o.finish != SRV_RUNNING;
        if (over) {
            res->finish = o.finish;
            res->usage = o.usage;
            memcpy(res->error, o.error, sizeof res->error);
            res->error[sizeof res->error - 1] = 0;
        }
        srv_output_free(&o);
        if (text.oom) ok = false;
        if (over || !ok) break;
    }
    if (!ok) {
        srv_job_cancel(j);
        http_buf_free(&text);
        srv_result_free(res);
        return false;
    }
    res->text = text.p;
    res->len = text.len;
    if (!res->text) res->text = lair_strndup("", 0);
    return res->text != NULL;
}

void srv_result_free(srv_result *res) {
    lair_free(res->text);
    lair_free(res->lp);
    memset(res, 0, sizeof *res);
}

const char *srv_finish_name(srv_finish f) {
    switch (f) {
    case SRV_FINISH_STOP: return "stop";
    case SRV_FINISH_LENGTH: return "length";
    case SRV_FINISH_CANCELLED: return "cancelled";
    case SRV_FINISH_ERROR: return "error";
    case SRV_FINISH_TOOL_CALLS: return "tool_calls";
    case SRV_RUNNING: break;
    }
    return "stop";
}

/* ---- JSON helpers -------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (0: invalid). */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (!len || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if (c == 0xe0 && s[1] < 0xa0) return 0;  /* overlong */
    if (c == 0xed && s[1] > 0x9f) return 0;  /* surrogate */
    if (c == 0xf0 && s[1] < 0x90) return 0;  /* overlong */
    if (c == 0xf4 && s[1] > 0x8f) return 0;  /* > U+10FFFF */
    return len;
}

json_t *srv_json_text(const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t k = utf8_seq(u + i, len - i);
        if (!k) break;
        i += k;
    }
    if (i == len) return json_stringn(s, len);
    http_buf b = {0};
    for (i = 0; i < len;) {
        size_t k = utf8_seq(u + i, len - i);
        if (k) http_buf_add(&b, s + i, k), i += k;
        else http_buf_add(&b, "\xef\xbf\xbd", 3), i++;
    }
    json_t *j = b.oom ? NULL : json_stringn(b.p ? b.p : "", b.len);
    http_buf_free(&b);
    return j;
}

json_t *srv_token_text(const lair_vocab *v, lair_token t, json_t **bytes) {
    char small[128];
    size_t n = lair_token_piece(v, t, true, small, sizeof small);
    char *buf = small;
    if (n > sizeof small) {
        buf = lair_malloc(n);
        if (!buf) return NULL;
        lair_token_piece(v, t, true, buf, n);
    }
    if (bytes) {
        *bytes = json_array();
        for (size_t i = 0; *bytes && i < n; i++) json_array_append_new(*bytes, json_integer((unsigned char)buf[i]));
    }
    json_t *s = srv_json_text(buf, n);
    if (buf != small) lair_free(buf);
    return s;
}

void srv_make_id(const char *prefix, char *buf, size_t cap) {
    static _Atomic uint64_t counter;
    uint64_t x = (uint64_t)(http_wall_time() * 1e6) ^ (atomic_fetch_add(&counter, 1) + 1) * 0x9e3779b97f4a7c15ull;
    uint64_t y = x ^ (uint64_t)(lair_time_seconds() * 1e9);
    /* splitmix64 finaliser on both halves */
    for (int r = 0; r < 2; r++) {
        uint64_t *z = r ? &y : &x;
        *z += 0x9e3779b97f4a7c15ull;
        *z = (*z ^ (*z >> 30)) * 0xbf58476d1ce4e5b9ull;
        *z = (*z ^ (*z >> 27)) * 0x94d049bb133111ebull;
        *z ^= *z >> 31;
    }
    snprintf(buf, cap, "%s%016llx%08llx", prefix, (unsigned long long)x, (unsigned long long)(y >> 32));
}
