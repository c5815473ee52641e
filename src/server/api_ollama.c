/* Ollama-compatible routes: POST /api/chat, POST /api/generate, GET
 * /api/tags, GET /api/ps, POST /api/show, GET /api/version.  Streaming is
 * NDJSON (one JSON object per line) and on by default, as in Ollama;
 * durations are nanoseconds.  Models stay loaded (keep_alive is accepted and
 * ignored); /api/generate's "template" and "context" are ignored, "raw" and
 * "system" are honoured. */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/platform.h"
#include "gguf/gguf.h"
#include "server/api.h"

#define NS 1e9

static json_t *created_at(void) {
    char t[48];
    http_time_rfc3339(http_wall_time(), t, sizeof t);
    return json_string(t);
}

static json_t *details(const srv_model *m) {
    return json_pack("{s:s,s:s,s:s,s:[s],s:s,s:s}", "parent_model", "", "format", "gguf", "family", m->arch,
                     "families", m->arch, "parameter_size", m->param_size, "quantization_level", m->quant);
}

/* The final object's timing fields, added to o. */
static void add_stats(json_t *o, const srv_usage *u, double t0, double load_s) {
    json_object_set_new(o, "total_duration", json_integer((json_int_t)((lair_time_seconds() - t0) * NS)));
    json_object_set_new(o, "load_duration", json_integer((json_int_t)(load_s * NS)));
    json_object_set_new(o, "prompt_eval_count", json_integer(u->prompt_tokens));
    json_object_set_new(o, "prompt_eval_duration", json_integer((json_int_t)(u->prompt_ms * 1e6)));
    json_object_set_new(o, "eval_count", json_integer(u->completion_tokens));
    json_object_set_new(o, "eval_duration", json_integer((json_int_t)(u->gen_ms * 1e6)));
}

/* {"model","created_at", then "message" (chat) or "response" (generate), "done"}. */
static json_t *piece(const srv_model *m, bool chat, json_t *text, bool done) {
    if (chat)
        return json_pack("{s:s,s:o?,s:{s:s,s:o?},s:b}", "model", m->id, "created_at", created_at(), "message",
                         "role", "assistant", "content", text, "done", done);
    return json_pack("{s:s,s:o?,s:o?,s:b}", "model", m->id, "created_at", created_at(), "response", text, "done",
                     done);
}

static void line(http_buf *out, json_t *v) {
    if (!v) {
        out->oom = true;
        return;
    }
    http_buf_json(out, v);
    http_buf_puts(out, "\n");
    json_decref(v);
}

/* Ollama's tool_calls: [{"function": {"name", "arguments": {object}}}]. */
static json_t *tool_calls_json(const tc_parsed *pc) {
    json_t *a = json_array();
    for (int i = 0; a && i < pc->n_calls; i++) {
        json_t *args = json_loads(pc->calls[i].arguments, 0, NULL);
        json_array_append_new(a, json_pack("{s:{s:s,s:o?}}", "function", "name", pc->calls[i].name, "arguments",
                                           args ? args : json_object()));
    }
    return a;
}

typedef struct oll_stream {
    srv_model *m;
    srv_job *job;
    bool chat;
    double t0, load_s;
    /* tools: the reply so far and how much of it went out as content */
    bool tools;
    tc_format tool_format;
    http_buf reply;
    size_t sent;
} oll_stream;

/* With tools: content goes out as far as it cannot be a call; the calls
 * come as one message at the end. */
static void oll_tools_output(oll_stream *s, const srv_output *o, http_buf *out) {
    http_buf_add(&s->reply, o->text ? o->text : "", o->len);
    const char *all = s->reply.p ? s->reply.p : "";
    if (o->finish == SRV_RUNNING) {
        size_t safe = tc_content_prefix(s->tool_format, all, s->reply.len);
        if (safe > s->sent) line(out, piece(s->m, true, srv_json_text(all + s->sent, safe - s->sent), false));
        if (safe > s->sent) s->sent = safe;
        return;
    }
    if (o->finish != SRV_FINISH_STOP && o->finish != SRV_FINISH_LENGTH) return;
    tc_parsed pc;
    lair_err e = {0};
    if (tc_parse(s->tool_format, all, s->reply.len, &pc, &e) != LAIR_OK) {
        out->oom = true;
        return;
    }
    size_t end = pc.n_calls ? pc.content_len : s->reply.len;
    if (end > s->sent) line(out, piece(s->m, true, srv_json_text(all + s->sent, end - s->sent), false));
    if (pc.n_calls) {
        json_t *msg = piece(s->m, true, json_string(""), false);
        if (msg) json_object_set_new(json_object_get(msg, "message"), "tool_calls", tool_calls_json(&pc));
        line(out, msg);
    }
    tc_parsed_free(&pc);
}

static http_stream_rc oll_next(void *ctx, http_buf *out, int timeout_ms) {
    oll_stream *s = ctx;
    srv_output o;
    memset(&o, 0, sizeof o);
    if (!srv_job_wait(s->job, &o, timeout_ms)) return HTTP_STREAM_MORE;
    if (s->tools) oll_tools_output(s, &o, out);
    else if (o.len) line(out, piece(s->m, s->chat, srv_json_text(o.text, o.len), false));
    http_stream_rc rc = HTTP_STREAM_MORE;
    if (o.finish == SRV_FINISH_STOP || o.finish == SRV_FINISH_LENGTH) {
        json_t *f = piece(s->m, s->chat, json_string(""), true);
        if (f) {
            json_object_set_new(f, "done_reason", json_string(srv_finish_name(o.finish)));
            add_stats(f, &o.usage, s->t0, s->load_s);
        }
        line(out, f);
        rc = HTTP_STREAM_DONE;
    } else if (o.finish == SRV_FINISH_ERROR) {
        line(out, json_pack("{s:s}", "error", o.error));
        rc = HTTP_STREAM_DONE;
    } else if (o.finish == SRV_FINISH_CANCELLED) {
        rc = HTTP_STREAM_ABORT;
    }
    srv_output_free(&o);
    return rc;
}

static void oll_stream_free(void *ctx) {
    oll_stream *s = ctx;
    srv_job_free(s->job);
    http_buf_free(&s->reply);
    lair_free(s);
}

static void run(http_req *r, srv_model *m, const lair_tokens *prompt, const srv_gen_params *gp, bool chat,
                double t0, double load_s) {
    srv_job *j = srv_start(r, m, prompt, gp);
    if (!j) return;
    if (gp->stream) {
        oll_stream *s = lair_malloc(sizeof *s);
        if (!s) {
            srv_job_free(j);
            http_reply_error(r, 500, NULL, NULL, "out of memory");
            return;
        }
        *s = (oll_stream){m, j, chat, t0, load_s, chat && srv_tools_active(gp), gp->tool_format, {0}, 0};
        http_reply_stream(r, "application/x-ndjson", NULL, oll_next, oll_stream_free, s);
        return;
    }
    srv_result res;
    bool ok = srv_collect(r, j, &res);
    srv_job_free(j);
    if (!ok) {
        http_reply_error(r, 503, NULL, NULL, "the request was cancelled (client gone or server stopping)");
        return;
    }
    if (res.finish == SRV_FINISH_ERROR || res.finish == SRV_FINISH_CANCELLED) {
        http_reply_error(r, res.finish == SRV_FINISH_ERROR ? 500 : 503, NULL, NULL, "%s",
                         res.error[0] ? res.error : "the request was cancelled");
        srv_result_free(&res);
        return;
    }
    tc_parsed pc = {0};
    lair_err e = {0};
    bool calls = chat && srv_tools_active(gp) && tc_parse(gp->tool_format, res.text, res.len, &pc, &e) == LAIR_OK &&
                 pc.n_calls > 0;
    json_t *o = calls ? piece(m, chat, srv_json_text(pc.content, pc.content_len), true)
                      : piece(m, chat, srv_json_text(res.text, res.len), true);
    if (o) {
        if (calls) json_object_set_new(json_object_get(o, "message"), "tool_calls", tool_calls_json(&pc));
        json_object_set_new(o, "done_reason", json_string(srv_finish_name(res.finish)));
        add_stats(o, &res.usage, t0, load_s);
    }
    tc_parsed_free(&pc);
    srv_result_free(&res);
    http_reply_json(r, o ? 200 : 500, o);
}

/* "model" (or the older "name") is required by Ollama. */
static const char *model_field(http_req *r, const json_t *body) {
    const json_t *v = json_object_get(body, "model");
    if (!v || json_is_null(v)) v = json_object_get(body, "name");
    if (!json_is_string(v) || !json_string_length(v)) {
        http_reply_error(r, 400, "model", NULL, "model is required (a string)");
        return NULL;
    }
    return json_string_value(v);
}

/* An empty request loads the model and says so, as Ollama does. */
static void reply_loaded(http_req *r, const srv_model *m, bool chat) {
    json_t *o = piece(m, chat, json_string(""), true);
    if (o) json_object_set_new(o, "done_reason", json_string("load"));
    http_reply_json(r, o ? 200 : 500, o);
}

static void generate(http_req *r, srv_state *st, bool chat) {
    double t0 = lair_time_seconds();
    json_t *body = http_req_json(r);
    const char *name = model_field(r, body);
    if (!name) return;
    srv_gen_params gp;
    srv_param_err pe = {{0}, {0}};
    if (!srv_params_ollama(body, &gp, &pe)) {
        http_reply_error(r, 400, pe.param, NULL, "%s", pe.msg);
        srv_gen_params_free(&gp);
        return;
    }
    json_t *msgs = NULL;
    const char *prompt = NULL;
    size_t prompt_len = 0;
    bool raw = false, empty;
    if (chat) {
        const json_t *jm = json_object_get(body, "messages");
        empty = !jm || json_is_null(jm) || (json_is_array(jm) && !json_array_size(jm));
        if (!empty && !(msgs = srv_messages_normalize(jm, "messages", &pe))) {
            http_reply_error(r, 400, pe.param, NULL, "%s", pe.msg);
            srv_gen_params_free(&gp);
            return;
        }
    } else {
        const json_t *jp = json_object_get(body, "prompt"), *js = json_object_get(body, "system"),
                     *jr = json_object_get(body, "raw");
        const char *bad = jp && !json_is_null(jp) && !json_is_string(jp)   ? "prompt"
                          : js && !json_is_null(js) && !json_is_string(js) ? "system"
                          : jr && !json_is_null(jr) && !json_is_boolean(jr) ? "raw"
                                                                             : NULL;
        if (bad) {
            http_reply_error(r, 400, bad, NULL, "%s must be a %s", bad, strcmp(bad, "raw") ? "string" : "boolean");
            srv_gen_params_free(&gp);
            return;
        }
        prompt = json_is_string(jp) ? json_string_value(jp) : "";
        prompt_len = json_is_string(jp) ? json_string_length(jp) : 0;
        raw = json_is_true(jr);
        empty = prompt_len == 0;
        if (!empty && !raw) {
            msgs = json_array();
            if (json_is_string(js) && json_string_length(js))
                json_array_append_new(msgs, json_pack("{s:s,s:O}", "role", "system", "content", js));
            json_array_append_new(msgs, json_pack("{s:s,s:s%}", "role", "user", "content", prompt, prompt_len));
        }
    }
    bool just = false;
    srv_model *m = srv_find_model(st, r, name, &just);
    if (m && empty) reply_loaded(r, m, chat);
    if (!m || empty) {
        json_decref(msgs);
        srv_gen_params_free(&gp);
        return;
    }
    lair_tokens toks = {0};
    lair_err e = {0};
    json_t *extra = NULL;
    if (!chat && gp.tools) {
        http_reply_error(r, 400, "tools", NULL, "tools need /api/chat");
        json_decref(msgs);
        srv_gen_params_free(&gp);
        return;
    }
    lair_status ls = chat ? srv_tools_prepare(m, &gp, &msgs, &extra, &pe) : LAIR_OK;
    if (ls != LAIR_OK) {
        http_reply_error(r, ls == LAIR_ERR_NOMEM ? 500 : 400, pe.param, NULL, "%s", pe.msg);
        json_decref(msgs);
        srv_gen_params_free(&gp);
        return;
    }
    ls = msgs ? srv_chat_tokens(m, msgs, extra, &toks, &e) : srv_text_tokens(m, prompt, prompt_len, &toks, &e);
    json_decref(extra);
    if (ls != LAIR_OK)
        http_reply_error(r, ls == LAIR_ERR_NOMEM ? 500 : 400, chat ? "messages" : "prompt", NULL, "%s", e.msg);
    else
        run(r, m, &toks, &gp, chat, t0, just ? m->load_s : 0);
    lair_tokens_free(&toks);
    json_decref(msgs);
    srv_gen_params_free(&gp);
}

void oll_h_chat(http_req *r, void *ud) { generate(r, ud, true); }
void oll_h_generate(http_req *r, void *ud) { generate(r, ud, false); }

static json_t *tag(const srv_model *m) {
    char t[48];
    http_time_rfc3339(m->mtime, t, sizeof t);
    return json_pack("{s:s,s:s,s:s,s:I,s:s,s:o?}", "name", m->id, "model", m->id, "modified_at", t, "size",
                     (json_int_t)m->size, "digest", m->digest, "details", details(m));
}

void oll_h_tags(http_req *r, void *ud) {
    srv_state *st = ud;
    json_t *models = json_array();
    for (int i = 0; models && i < st->n_models; i++) json_array_append_new(models, tag(st->models[i]));
    http_reply_json(r, 200, json_pack("{s:o?}", "models", models));
}

void oll_h_ps(http_req *r, void *ud) {
    srv_state *st = ud;
    json_t *models = json_array();
    for (int i = 0; models && i < st->n_models; i++) {
        srv_model *m = st->models[i];
        if (!srv_model_loaded(m)) continue;
        json_t *o = tag(m);
        if (!o) continue;
        uint64_t bytes = m->mem.weights + m->mem.kv + m->mem.buffers;
        json_object_set_new(o, "size", json_integer((json_int_t)bytes));
        json_object_set_new(o, "size_vram", json_integer(0));
        json_object_set_new(o, "expires_at", json_string("9999-12-31T23:59:59Z")); /* kept loaded */
        srv_stats s;
        srv_sched_stats(m->sched, &s);
        json_object_set_new(o, "lair", json_pack("{s:i,s:i,s:i,s:i,s:i}", "slots_busy", s.slots_busy, "slots",
                                                 s.n_parallel, "queue_depth", s.queue_depth, "kv_blocks_used",
                                                 s.kv_blocks_used, "kv_blocks_total", s.kv_blocks_total));
        json_array_append_new(models, o);
    }
    http_reply_json(r, 200, json_pack("{s:o?}", "models", models));
}

/* Scalar metadata as model_info (arrays as null, as Ollama does without
 * "verbose"; strings over 4 KiB left out). */
static json_t *model_info(const gguf_file *f, const srv_model *m) {
    json_t *o = json_object();
    for (uint64_t i = 0; o && i < f->n_kv; i++) {
        const gguf_kv *kv = &f->kv[i];
        json_t *v = NULL;
        switch (kv->type) {
        case GGUF_TYPE_UINT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_UINT32: case GGUF_TYPE_UINT64:
            v = json_integer((json_int_t)kv->v.u64);
            break;
        case GGUF_TYPE_INT8: case GGUF_TYPE_INT16: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64:
            v = json_integer((json_int_t)kv->v.i64);
            break;
        case GGUF_TYPE_FLOAT32: case GGUF_TYPE_FLOAT64: v = json_real(kv->v.f64); break;
        case GGUF_TYPE_BOOL: v = json_boolean(kv->v.b); break;
        case GGUF_TYPE_STRING:
            if (kv->v.str.len <= 4096) v = srv_json_text(kv->v.str.ptr, (size_t)kv->v.str.len);
            break;
        case GGUF_TYPE_ARRAY: v = json_null(); break;
        default: break;
        }
        if (v) json_object_set_new(o, kv->key, v);
    }
    if (o) json_object_set_new(o, "general.parameter_count", json_integer((json_int_t)m->n_params));
    return o;
}

void oll_h_show(http_req *r, void *ud) {
    srv_state *st = ud;
    const char *name = model_field(r, http_req_json(r));
    if (!name) return;
    srv_model *m = srv_lookup_model(st, name);
    if (!m) {
        http_reply_error(r, 404, "model", NULL, "model '%.200s' not found", name);
        return;
    }
    gguf_bundle *b;
    lair_err e = {0};
    if (gguf_bundle_open(m->path, &b, &e) != LAIR_OK) {
        http_reply_error(r, 500, NULL, NULL, "%s", e.msg);
        return;
    }
    const gguf_file *f = b->files[0];
    gguf_str s;
    json_t *tmpl = gguf_get_str(f, "tokenizer.chat_template", &s, NULL) == LAIR_OK
                       ? srv_json_text(s.ptr, (size_t)s.len)
                       : json_string(lair_jinja_chatml_template());
    char mf[400];
    snprintf(mf, sizeof mf, "# Modelfile generated by lair\nFROM %.300s\n", m->id);
    char t[48];
    http_time_rfc3339(m->mtime, t, sizeof t);
    json_t *o = json_pack("{s:s,s:s,s:o?,s:o?,s:o?,s:s,s:[s]}", "modelfile", mf, "parameters", "", "template", tmpl,
                          "details", details(m), "model_info", model_info(f, m), "modified_at", t, "capabilities",
                          "completion");
    gguf_bundle_free(b);
    http_reply_json(r, o ? 200 : 500, o);
}

void oll_h_version(http_req *r, void *ud) {
    (void)ud;
    http_reply_json(r, 200, json_pack("{s:s}", "version", LAIR_VERSION_STRING));
}
