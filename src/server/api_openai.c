/* OpenAI-compatible routes: POST /v1/chat/completions, POST /v1/completions,
 * GET /v1/models, GET /v1/models/{id}.  Shapes follow OpenAI's API
 * reference; "timings" (llama-server's field) is an extra: prompt_n,
 * cache_n, prompt_ms, predicted_n, predicted_ms, ttft_ms, queue_ms. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "server/api.h"

#define FINGERPRINT "lair-" LAIR_VERSION_STRING

static json_t *usage_json(const srv_usage *u) {
    return json_pack("{s:i,s:i,s:i,s:{s:i}}", "prompt_tokens", u->prompt_tokens, "completion_tokens",
                     u->completion_tokens, "total_tokens", u->prompt_tokens + u->completion_tokens,
                     "prompt_tokens_details", "cached_tokens", u->cached_tokens);
}

static json_t *timings_json(const srv_usage *u) {
    return json_pack("{s:i,s:i,s:f,s:i,s:f,s:f,s:f}", "prompt_n", u->prompt_tokens, "cache_n", u->cached_tokens,
                     "prompt_ms", u->prompt_ms, "predicted_n", u->completion_tokens, "predicted_ms", u->gen_ms,
                     "ttft_ms", u->ttft_ms, "queue_ms", u->queue_ms);
}

/* Chat shape: {"content":[{token, logprob, bytes, top_logprobs:[...]}, ...]}. */
static json_t *chat_logprobs(const lair_vocab *v, const lair_token_logprobs *lp, size_t n) {
    json_t *content = json_array();
    for (size_t i = 0; content && i < n; i++) {
        if (lp[i].token < 0) continue;
        json_t *bytes = NULL, *tok = srv_token_text(v, lp[i].token, &bytes), *top = json_array();
        for (int k = 0; top && k < lp[i].n_top; k++) {
            json_t *tb = NULL, *tt = srv_token_text(v, lp[i].top[k].token, &tb);
            json_array_append_new(top, json_pack("{s:o?,s:f,s:o?}", "token", tt, "logprob",
                                                 (double)lp[i].top[k].logprob, "bytes", tb));
        }
        json_array_append_new(content, json_pack("{s:o?,s:f,s:o?,s:o?}", "token", tok, "logprob",
                                                 (double)lp[i].logprob, "bytes", bytes, "top_logprobs", top));
    }
    return json_pack("{s:o?,s:n}", "content", content, "refusal");
}

/* Legacy completions shape: tokens, token_logprobs, top_logprobs, text_offset. */
static json_t *completion_logprobs(const lair_vocab *v, const lair_token_logprobs *lp, size_t n, size_t *offset) {
    json_t *tokens = json_array(), *lps = json_array(), *tops = json_array(), *offs = json_array();
    for (size_t i = 0; i < n; i++) {
        if (lp[i].token < 0) continue;
        char piece[256];
        size_t plen = lair_token_piece(v, lp[i].token, true, piece, sizeof piece);
        json_array_append_new(tokens, srv_token_text(v, lp[i].token, NULL));
        json_array_append_new(lps, json_real(lp[i].logprob));
        json_t *top = json_object();
        for (int k = 0; top && k < lp[i].n_top; k++) {
            json_t *t = srv_token_text(v, lp[i].top[k].token, NULL);
            if (t) json_object_set_new(top, json_string_value(t), json_real(lp[i].top[k].logprob));
            json_decref(t);
        }
        json_array_append_new(tops, top);
        json_array_append_new(offs, json_integer((json_int_t)*offset));
        *offset += plen;
    }
    return json_pack("{s:o?,s:o?,s:o?,s:o?}", "tokens", tokens, "token_logprobs", lps, "top_logprobs", tops,
                     "text_offset", offs);
}

/* OpenAI's tool_calls array for parsed calls; with for_delta, the shape of
 * a streamed delta (index per call, arguments sent separately). */
static json_t *tool_calls_json(const tc_parsed *pc) {
    json_t *a = json_array();
    for (int i = 0; a && i < pc->n_calls; i++) {
        char id[40];
        srv_make_id("call_", id, sizeof id);
        json_array_append_new(a, json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", id, "type", "function", "function", "name",
                                           pc->calls[i].name, "arguments", pc->calls[i].arguments));
    }
    return a;
}

/* ---- streams (SSE) -------------------------------------------------------- */

typedef struct oai_stream {
    srv_model *m;
    srv_job *job;
    bool chat, include_usage;
    int n_logprobs;
    bool role_sent, finished;
    char id[48];
    long long created;
    size_t text_offset;
    /* tools: the reply so far and how much of it went out as content */
    bool tools;
    tc_format tool_format;
    http_buf reply;
    size_t sent;
    const char *unenforced; /* owned by the stream (lair_malloc'd) */
} oai_stream;

static json_t *chunk_base(const oai_stream *s) {
    json_t *c = json_pack("{s:s,s:s,s:I,s:s,s:s}", "id", s->id, "object",
                          s->chat ? "chat.completion.chunk" : "text_completion", "created", (json_int_t)s->created,
                          "model", s->m->id, "system_fingerprint", FINGERPRINT);
    if (c && s->include_usage) json_object_set_new(c, "usage", json_null());
    return c;
}

static void sse(http_buf *out, json_t *v) {
    if (!v) {
        out->oom = true;
        return;
    }
    http_buf_puts(out, "data: ");
    http_buf_json(out, v);
    http_buf_puts(out, "\n\n");
    json_decref(v);
}

/* One choice of a chunk: delta (chat) or text (completions). */
static json_t *chunk(const oai_stream *s, json_t *delta_or_text, json_t *logprobs, const char *finish) {
    json_t *c = chunk_base(s);
    json_t *choice = s->chat ? json_pack("{s:i,s:o,s:o,s:s?}", "index", 0, "delta", delta_or_text, "logprobs",
                                         logprobs ? logprobs : json_null(), "finish_reason", finish)
                             : json_pack("{s:i,s:o,s:o,s:s?}", "index", 0, "text", delta_or_text, "logprobs",
                                         logprobs ? logprobs : json_null(), "finish_reason", finish);
    if (!c || !choice) {
        json_decref(c);
        json_decref(choice);
        return NULL;
    }
    json_object_set_new(c, "choices", json_pack("[o]", choice));
    return c;
}

static http_stream_rc oai_next(void *ctx, http_buf *out, int timeout_ms) {
    oai_stream *s = ctx;
    if (s->chat && !s->role_sent) {
        s->role_sent = true;
        sse(out, chunk(s, json_pack("{s:s,s:s}", "role", "assistant", "content", ""), NULL, NULL));
        return HTTP_STREAM_MORE;
    }
    srv_output o;
    memset(&o, 0, sizeof o);
    if (!srv_job_wait(s->job, &o, timeout_ms)) return HTTP_STREAM_MORE;
    const lair_vocab *v = lair_model_vocab(s->m->model);
    if (s->tools) { /* hold back what may be a tool call */
        http_buf_add(&s->reply, o.text ? o.text : "", o.len);
        size_t safe = o.finish == SRV_RUNNING ? tc_content_prefix(s->tool_format, s->reply.p ? s->reply.p : "",
                                                                    s->reply.len)
                                              : s->sent;
        if (safe > s->sent || o.n_lp > 0) {
            size_t n = safe > s->sent ? safe - s->sent : 0;
            json_t *text = srv_json_text(s->reply.p ? s->reply.p + s->sent : "", n);
            json_t *lp = s->n_logprobs >= 0 && o.n_lp > 0 ? chat_logprobs(v, o.lp, (size_t)o.n_lp) : NULL;
            sse(out, chunk(s, json_pack("{s:o}", "content", text), lp, NULL));
            s->sent += n;
        }
        if (o.finish == SRV_FINISH_STOP || o.finish == SRV_FINISH_LENGTH) {
            tc_parsed pc;
            lair_err e = {0};
            if (tc_parse(s->tool_format, s->reply.p ? s->reply.p : "", s->reply.len, &pc, &e) != LAIR_OK) {
                out->oom = true;
            } else {
                size_t content_end = pc.n_calls ? pc.content_len : s->reply.len;
                /* content before the calls that was held back (the parser trims only after it) */
                if (pc.n_calls && content_end > s->reply.len) content_end = s->reply.len;
                if (content_end > s->sent)
                    sse(out, chunk(s, json_pack("{s:o}", "content",
                                                srv_json_text(s->reply.p + s->sent, content_end - s->sent)),
                                   NULL, NULL));
                for (int i = 0; i < pc.n_calls; i++) {
                    char cid[40];
                    srv_make_id("call_", cid, sizeof cid);
                    sse(out, chunk(s, json_pack("{s:[{s:i,s:s,s:s,s:{s:s,s:s}}]}", "tool_calls", "index", i, "id", cid,
                                                "type", "function", "function", "name", pc.calls[i].name,
                                                "arguments", ""),
                                   NULL, NULL));
                    sse(out, chunk(s, json_pack("{s:[{s:i,s:{s:s}}]}", "tool_calls", "index", i, "function",
                                                "arguments", pc.calls[i].arguments),
                                   NULL, NULL));
                }
                if (pc.n_calls) o.finish = SRV_FINISH_TOOL_CALLS;
                tc_parsed_free(&pc);
            }
        }
    } else if (o.len || o.n_lp > 0) {
        json_t *text = srv_json_text(o.text ? o.text : "", o.len);
        json_t *lp = NULL;
        if (s->n_logprobs >= 0 && o.n_lp > 0)
            lp = s->chat ? chat_logprobs(v, o.lp, (size_t)o.n_lp)
                         : completion_logprobs(v, o.lp, (size_t)o.n_lp, &s->text_offset);
        sse(out, chunk(s, s->chat ? json_pack("{s:o}", "content", text) : text, lp, NULL));
    }
    http_stream_rc rc = HTTP_STREAM_MORE;
    if (o.finish == SRV_FINISH_STOP || o.finish == SRV_FINISH_LENGTH || o.finish == SRV_FINISH_TOOL_CALLS) {
        s->finished = true;
        json_t *last = chunk(s, s->chat ? json_object() : json_string(""), NULL, srv_finish_name(o.finish));
        if (last && s->unenforced) json_object_set_new(last, "unenforced", json_string(s->unenforced));
        sse(out, last);
        if (s->include_usage) {
            json_t *u = chunk_base(s);
            if (u) {
                json_object_set_new(u, "choices", json_array());
                json_object_set_new(u, "usage", usage_json(&o.usage));
                json_object_set_new(u, "timings", timings_json(&o.usage));
            }
            sse(out, u);
        }
        http_buf_puts(out, "data: [DONE]\n\n");
        rc = HTTP_STREAM_DONE;
    } else if (o.finish == SRV_FINISH_ERROR) {
        s->finished = true;
        sse(out, json_pack("{s:{s:s,s:s,s:n,s:n}}", "error", "message", o.error, "type", "server_error", "param",
                           "code"));
        http_buf_puts(out, "data: [DONE]\n\n");
        rc = HTTP_STREAM_DONE;
    } else if (o.finish == SRV_FINISH_CANCELLED) {
        rc = HTTP_STREAM_ABORT;
    }
    srv_output_free(&o);
    return rc;
}

static void oai_stream_free(void *ctx) {
    oai_stream *s = ctx;
    srv_job_free(s->job); /* cancels it when the client left early */
    http_buf_free(&s->reply);
    lair_free((char *)s->unenforced);
    lair_free(s);
}

/* ---- handlers ------------------------------------------------------------- */

/* Steps shared by both generation routes once the prompt is known. */
static void run(http_req *r, srv_model *m, const lair_tokens *prompt, srv_gen_params *gp, bool chat) {
    srv_job *j = srv_start(r, m, prompt, gp);
    if (!j) return;
    char id[48];
    srv_make_id(chat ? "chatcmpl-" : "cmpl-", id, sizeof id);
    long long created = (long long)time(NULL);
    if (gp->stream) {
        oai_stream *s = lair_calloc(1, sizeof *s);
        if (!s) {
            srv_job_free(j);
            http_reply_error(r, 500, NULL, NULL, "out of memory");
            return;
        }
        *s = (oai_stream){m, j, chat, gp->include_usage, gp->n_logprobs, false, false, {0}, created, 0,
                          chat && srv_tools_active(gp), gp->tool_format, {0}, 0, gp->unenforced};
        gp->unenforced = NULL; /* the stream's now */
        memcpy(s->id, id, sizeof id);
        http_reply_stream(r, "text/event-stream", ": ping\n\n", oai_next, oai_stream_free, s);
        return;
    }
    srv_result res;
    if (!srv_collect(r, j, &res)) {
        srv_job_free(j);
        http_reply_error(r, 503, NULL, NULL, "the request was cancelled (client gone or server stopping)");
        return;
    }
    srv_job_free(j);
    if (res.finish == SRV_FINISH_ERROR || res.finish == SRV_FINISH_CANCELLED) {
        http_reply_error(r, res.finish == SRV_FINISH_ERROR ? 500 : 503, NULL, NULL, "%s",
                         res.error[0] ? res.error : "the request was cancelled");
        srv_result_free(&res);
        return;
    }
    const lair_vocab *v = lair_model_vocab(m->model);
    json_t *tool_calls = NULL;
    const char *reply = res.text;
    size_t reply_len = res.len;
    tc_parsed pc = {0};
    if (chat && srv_tools_active(gp)) {
        lair_err e = {0};
        if (tc_parse(gp->tool_format, res.text, res.len, &pc, &e) == LAIR_OK && pc.n_calls) {
            tool_calls = tool_calls_json(&pc);
            reply = pc.content;
            reply_len = pc.content_len;
            res.finish = SRV_FINISH_TOOL_CALLS;
        }
    }
    json_t *text = tool_calls && !reply_len ? json_null() : srv_json_text(reply, reply_len);
    json_t *lp = NULL;
    size_t off = 0;
    if (gp->n_logprobs >= 0)
        lp = chat ? chat_logprobs(v, res.lp, res.n_lp) : completion_logprobs(v, res.lp, res.n_lp, &off);
    json_t *choice = chat ? json_pack("{s:i,s:{s:s,s:o?,s:o*},s:o,s:s}", "index", 0, "message", "role", "assistant",
                                      "content", text, "tool_calls", tool_calls, "logprobs", lp ? lp : json_null(),
                                      "finish_reason", srv_finish_name(res.finish))
                          : json_pack("{s:i,s:o?,s:o,s:s}", "index", 0, "text", text, "logprobs",
                                      lp ? lp : json_null(), "finish_reason", srv_finish_name(res.finish));
    json_t *body = json_pack("{s:s,s:s,s:I,s:s,s:s,s:[o?],s:o?,s:o?}", "id", id, "object",
                             chat ? "chat.completion" : "text_completion", "created", (json_int_t)created, "model",
                             m->id, "system_fingerprint", FINGERPRINT, "choices", choice, "usage",
                             usage_json(&res.usage), "timings", timings_json(&res.usage));
    if (body && gp->unenforced) json_object_set_new(body, "unenforced", json_string(gp->unenforced));
    tc_parsed_free(&pc);
    srv_result_free(&res);
    http_reply_json(r, body ? 200 : 500, body);
}

/* The "model" field: a string, or absent/null for the default model. */
static bool model_name(http_req *r, const json_t *body, const char **name) {
    const json_t *v = json_object_get(body, "model");
    *name = NULL;
    if (!v || json_is_null(v)) return true;
    if (!json_is_string(v)) {
        http_reply_error(r, 400, "model", NULL, "model must be a string");
        return false;
    }
    *name = json_string_value(v);
    return true;
}

void oai_h_chat(http_req *r, void *ud) {
    srv_state *st = ud;
    json_t *body = http_req_json(r);
    const char *name;
    if (!model_name(r, body, &name)) return;
    srv_param_err pe = {{0}, {0}};
    json_t *msgs = srv_messages_normalize(json_object_get(body, "messages"), "messages", &pe);
    if (!msgs) {
        http_reply_error(r, 400, pe.param, NULL, "%s", pe.msg);
        return;
    }
    srv_model *m = srv_find_model(st, r, name, NULL);
    srv_gen_params gp;
    if (m && !srv_params_openai(body, SRV_API_CHAT, (int32_t)lair_model_n_vocab(m->model), &gp, &pe)) {
        http_reply_error(r, 400, pe.param, NULL, "%s", pe.msg);
        srv_gen_params_free(&gp);
        m = NULL;
    }
    if (!m) {
        json_decref(msgs);
        return;
    }
    lair_tokens prompt = {0};
    lair_err e = {0};
    json_t *extra = NULL;
    lair_status ts = srv_tools_prepare(m, &gp, &msgs, &extra, &pe);
    if (ts != LAIR_OK)
        http_reply_error(r, ts == LAIR_ERR_NOMEM ? 500 : 400, pe.param, NULL, "%s", pe.msg);
    else if (srv_chat_tokens(m, msgs, extra, &prompt, &e) != LAIR_OK)
        http_reply_error(r, e.code == LAIR_ERR_NOMEM ? 500 : 400, "messages", NULL, "%s", e.msg);
    else
        run(r, m, &prompt, &gp, true);
    json_decref(extra);
    lair_tokens_free(&prompt);
    srv_gen_params_free(&gp);
    json_decref(msgs);
}

void oai_h_completions(http_req *r, void *ud) {
    srv_state *st = ud;
    json_t *body = http_req_json(r);
    const char *name;
    if (!model_name(r, body, &name)) return;
    const json_t *p = json_object_get(body, "prompt");
    if (json_is_array(p) && json_array_size(p) == 1 && json_is_string(json_array_get(p, 0))) p = json_array_get(p, 0);
    bool ids = json_is_array(p) && json_array_size(p) > 0;
    for (size_t i = 0; ids && i < json_array_size(p); i++) ids = json_is_integer(json_array_get(p, i));
    if (!json_is_string(p) && !ids) {
        http_reply_error(r, 400, "prompt", NULL,
                         "prompt must be a string, a one-string array or an array of token ids (one prompt per "
                         "request)");
        return;
    }
    srv_model *m = srv_find_model(st, r, name, NULL);
    if (!m) return;
    srv_gen_params gp;
    srv_param_err pe = {{0}, {0}};
    if (!srv_params_openai(body, SRV_API_COMPLETIONS, (int32_t)lair_model_n_vocab(m->model), &gp, &pe)) {
        http_reply_error(r, 400, pe.param, NULL, "%s", pe.msg);
        srv_gen_params_free(&gp);
        return;
    }
    lair_tokens prompt = {0};
    lair_err e = {0};
    lair_status ls = LAIR_OK;
    if (ids) {
        for (size_t i = 0; ls == LAIR_OK && i < json_array_size(p); i++) {
            json_int_t t = json_integer_value(json_array_get(p, i));
            lair_token tok = t < 0 || t > INT32_MAX ? -1 : (lair_token)t;
            if (tok < 0 || tok >= lair_model_n_vocab(m->model))
                ls = lair_err_set(&e, LAIR_ERR_ARG, "prompt token %lld is outside the vocabulary (0 to %lld)",
                                  (long long)t, (long long)lair_model_n_vocab(m->model) - 1);
            else if (!lair_tokens_append(&prompt, &tok, 1))
                ls = lair_err_set(&e, LAIR_ERR_NOMEM, "out of memory");
        }
    } else {
        ls = srv_text_tokens(m, json_string_value(p), json_string_length(p), &prompt, &e);
    }
    if (ls != LAIR_OK) http_reply_error(r, ls == LAIR_ERR_NOMEM ? 500 : 400, "prompt", NULL, "%s", e.msg);
    else run(r, m, &prompt, &gp, false);
    lair_tokens_free(&prompt);
    srv_gen_params_free(&gp);
}

static json_t *model_obj(const srv_model *m) {
    return json_pack("{s:s,s:s,s:I,s:s}", "id", m->id, "object", "model", "created", (json_int_t)m->mtime,
                     "owned_by", "lair");
}

void oai_h_models(http_req *r, void *ud) {
    srv_state *st = ud;
    json_t *data = json_array();
    for (int i = 0; data && i < st->n_models; i++) json_array_append_new(data, model_obj(st->models[i]));
    http_reply_json(r, 200, json_pack("{s:s,s:o?}", "object", "list", "data", data));
}

void oai_h_model(http_req *r, void *ud) {
    srv_state *st = ud;
    const char *id = http_req_path(r) + strlen("/v1/models/");
    for (int i = 0; i < st->n_models; i++)
        if (strcmp(st->models[i]->id, id) == 0) {
            http_reply_json(r, 200, model_obj(st->models[i]));
            return;
        }
    http_reply_error(r, 404, "model", "model_not_found", "The model '%.200s' does not exist", id);
}
