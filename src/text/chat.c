#include "text/chat.h"

#include <string.h>

#include "core/alloc.h"
#include "core/err.h"

lair_status lair_chat_template_load(const lair_model *m, lair_jinja **out, bool *fallback, lair_err *err) {
    *out = NULL;
    *fallback = false;
    int64_t need = lair_model_meta(m, "tokenizer.chat_template", NULL, 0);
    if (need < 0) {
        *fallback = true;
        const char *chatml = lair_jinja_chatml_template();
        return lair_jinja_parse(chatml, strlen(chatml), out, err);
    }
    char *src = lair_malloc((size_t)need + 1);
    if (!src) return lair_err_set(err, LAIR_ERR_NOMEM, "chat: out of memory");
    lair_model_meta(m, "tokenizer.chat_template", src, (size_t)need + 1);
    lair_status st = lair_jinja_parse(src, (size_t)need, out, err);
    lair_free(src);
    return st;
}

static json_t *token_string(const lair_vocab *v, lair_token t) {
    size_t n = 0;
    const char *p = t >= 0 ? lair_vocab_text(v, t, &n) : "";
    return json_stringn(p, n);
}

lair_status lair_chat_render(const lair_jinja *t, const lair_vocab *v, const json_t *messages, const json_t *extra,
                             bool add_generation_prompt, char **text, size_t *len, lair_err *err) {
    json_t *vars = json_object();
    if (!vars) return lair_err_set(err, LAIR_ERR_NOMEM, "chat: out of memory");
    if (extra) json_object_update(vars, (json_t *)extra);
    json_object_set(vars, "messages", (json_t *)messages);
    json_object_set_new(vars, "add_generation_prompt", json_boolean(add_generation_prompt));
    json_object_set_new(vars, "bos_token", token_string(v, lair_vocab_bos(v)));
    json_object_set_new(vars, "eos_token", token_string(v, lair_vocab_eos(v)));
    lair_status st = lair_jinja_render(t, vars, NULL, text, len, err);
    json_decref(vars);
    return st;
}

static const char *find_bytes(const char *h, size_t hn, const char *n, size_t nn) {
    for (size_t i = 0; nn && i + nn <= hn; i++)
        if (h[i] == n[0] && memcmp(h + i, n, nn) == 0) return h + i;
    return NULL;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

lair_status lair_chat_tokenize(const lair_vocab *v, const char *text, size_t len, const json_t *messages,
                               lair_tokens *out, lair_err *err) {
    size_t n_msg = json_array_size(messages), n_guard = 0, pos = 0;
    lair_text_range *guard = lair_malloc((n_msg + 1) * sizeof *guard);
    if (!guard) return lair_err_set(err, LAIR_ERR_NOMEM, "chat: out of memory");
    lair_status st = LAIR_OK;
    for (size_t i = 0; i < n_msg && st == LAIR_OK; i++) {
        const char *content = json_string_value(json_object_get(json_array_get(messages, i), "content"));
        size_t cl = content ? strlen(content) : 0;
        while (cl && is_space(content[cl - 1])) cl--;
        while (cl && is_space(content[0])) content++, cl--;
        if (!cl) continue;
        const char *hit = find_bytes(text + pos, len - pos, content, cl);
        if (!hit) { /* the template rewrote it: refuse if it could smuggle in a control token */
            lair_tokens probe = {0};
            st = lair_tokenize(v, content, cl, LAIR_TOK_PARSE_SPECIAL, &probe, err);
            for (size_t k = 0; st == LAIR_OK && k < probe.n; k++)
                if (lair_vocab_is_control(v, probe.ids[k]))
                    st = lair_err_set(err, LAIR_ERR_ARG,
                                      "chat: message %zu spells a control token and the template changes its text, so "
                                      "it cannot be kept as plain text",
                                      i + 1);
            lair_tokens_free(&probe);
            continue;
        }
        guard[n_guard++] = (lair_text_range){(size_t)(hit - text), (size_t)(hit - text) + cl};
        pos = (size_t)(hit - text) + cl;
    }
    if (st == LAIR_OK) {
        out->n = 0;
        st = lair_tokenize_guarded(v, text, len, LAIR_TOK_PARSE_SPECIAL, guard, n_guard, out, err);
    }
    lair_free(guard);
    lair_token bos = lair_vocab_bos(v);
    if (st == LAIR_OK && lair_vocab_add_bos(v) && bos >= 0 && (out->n == 0 || out->ids[0] != bos)) {
        lair_tokens t = {0};
        if (!lair_tokens_append(&t, &bos, 1) || !lair_tokens_append(&t, out->ids, out->n)) {
            lair_tokens_free(&t);
            return lair_err_set(err, LAIR_ERR_NOMEM, "chat: out of memory");
        }
        lair_tokens_free(out);
        *out = t;
    }
    return st;
}
