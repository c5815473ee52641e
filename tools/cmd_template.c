/* lair template: render a chat template (a model's tokenizer.chat_template or
 * a file) for a conversation, exactly as model hubs render it with Python's
 * jinja2.  Prints the text and nothing else. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "core/alloc.h"
#include "gguf/gguf.h"
#include "lair.h"
#include "text/jinja.h"

static const char *opt_model, *opt_template_file, *opt_messages, *opt_tools, *opt_bos, *opt_eos;
static bool opt_gen_prompt;

static const cli_opt template_opts[] = {
    {"model", 'm', CLI_STR, &opt_model, "FILE", "GGUF model whose tokenizer.chat_template is rendered"},
    {"template-file", 0, CLI_STR, &opt_template_file, "F", "render this Jinja template file instead"},
    {"messages", 0, CLI_STR, &opt_messages, "F.json",
     "the conversation: a JSON array of messages, or an object {\"messages\": [...], ...} whose other members are more template variables (required)"},
    {"tools", 0, CLI_STR, &opt_tools, "F.json", "tools: a JSON array of OpenAI-style function tools"},
    {"add-generation-prompt", 0, CLI_FLAG, &opt_gen_prompt, NULL, "end with the start of an assistant turn"},
    {"bos-token", 0, CLI_STR, &opt_bos, "S", "BOS token text (default: the model's)"},
    {"eos-token", 0, CLI_STR, &opt_eos, "S", "EOS token text (default: the model's)"},
    {0},
};

static int run_template(int argc, char **argv);
const cli_cmd cmd_template = {
    "template",
    "(-m MODEL | --template-file F) --messages F.json [--tools F.json] [--add-generation-prompt] [--bos-token S] [--eos-token S]",
    "Render a chat template for a conversation and print the text.", run_template, template_opts};

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 14, n = 0;
    char *buf = lair_malloc(cap + 1);
    for (size_t r; buf && (r = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += r;
        if (n == cap) {
            char *g = lair_realloc(buf, (cap *= 2) + 1);
            if (!g) lair_free(buf);
            buf = g;
        }
    }
    bool bad = ferror(f) != 0;
    fclose(f);
    if (bad || !buf) {
        lair_free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* The text of token `id_key`'s token, or "" when the model does not say. */
static char *token_text(const gguf_file *g, const char *id_key) {
    uint64_t id;
    const gguf_kv *toks;
    if (gguf_get_u64(g, id_key, &id, NULL) == LAIR_OK &&
        gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &toks, NULL) == LAIR_OK && id < toks->arr_n) {
        gguf_str s = gguf_arr_str(toks, id);
        return lair_strndup(s.ptr, (size_t)s.len);
    }
    return lair_strndup("", 0);
}

static int load_json(const char *path, const char *what, json_t **out) {
    json_error_t je;
    *out = json_load_file(path, JSON_DECODE_ANY, &je);
    if (!*out) {
        if (je.line < 0 || strstr(je.text, "unable to open")) fprintf(stderr, "lair: %s: cannot read %s: %s\n", path, what, je.text);
        else fprintf(stderr, "lair: %s: line %d: invalid JSON: %s\n", path, je.line, je.text);
        return 1;
    }
    return 0;
}

static int run_template(int argc, char **argv) {
    const char *pos[1];
    int n_pos;
    int r = cli_parse(&cmd_template, argc, argv, pos, 0, &n_pos);
    if (r) return r == 2 ? 0 : 1;
    if (!opt_model == !opt_template_file) return cli_error("template", "give exactly one of -m MODEL and --template-file F");
    if (!opt_messages) return cli_error("template", "--messages F.json is required");

    int rc = 1;
    char *src = NULL, *bos = NULL, *eos = NULL, *text = NULL;
    size_t src_len = 0, text_len = 0;
    json_t *msgs = NULL, *tools = NULL, *vars = NULL, *extra = NULL;
    gguf_bundle *b = NULL;
    lair_jinja *t = NULL;
    lair_err err;

    if (opt_template_file) {
        src = read_file(opt_template_file, &src_len);
        if (!src) {
            fprintf(stderr, "lair: %s: cannot read: %s\n", opt_template_file, strerror(errno));
            goto out;
        }
    } else {
        if (gguf_bundle_open(opt_model, &b, &err)) {
            fprintf(stderr, "lair: %s\n", err.msg);
            goto out;
        }
        const gguf_file *g = b->files[0];
        gguf_str ts;
        if (gguf_get_str(g, "tokenizer.chat_template", &ts, NULL) == LAIR_OK) {
            src = lair_strndup(ts.ptr, (size_t)ts.len);
            src_len = (size_t)ts.len;
        } else {
            fprintf(stderr, "lair template: warning: %s has no chat template; using ChatML\n", opt_model);
            src_len = strlen(lair_jinja_chatml_template());
            src = lair_strndup(lair_jinja_chatml_template(), src_len);
        }
        if (!opt_bos) bos = token_text(g, "tokenizer.ggml.bos_token_id");
        if (!opt_eos) eos = token_text(g, "tokenizer.ggml.eos_token_id");
        if (!src || (!opt_bos && !bos) || (!opt_eos && !eos)) {
            fprintf(stderr, "lair: out of memory\n");
            goto out;
        }
    }

    if (load_json(opt_messages, "messages", &msgs)) goto out;
    if (json_is_object(msgs)) { /* {"messages": [...], other template variables...} */
        extra = msgs;
        msgs = json_incref(json_object_get(extra, "messages"));
    }
    if (!json_is_array(msgs)) {
        fprintf(stderr, "lair: %s: expected a JSON array of messages (or an object with \"messages\")\n", opt_messages);
        goto out;
    }
    if (opt_tools) {
        if (load_json(opt_tools, "tools", &tools)) goto out;
        if (json_is_object(tools) && json_object_get(tools, "tools")) {
            json_t *tt = json_incref(json_object_get(tools, "tools"));
            json_decref(tools);
            tools = tt;
        }
    }

    if (lair_jinja_parse(src, src_len, &t, &err)) {
        fprintf(stderr, "lair: %s\n", err.msg);
        goto out;
    }
    vars = extra ? json_deep_copy(extra) : json_object();
    if (vars && !opt_gen_prompt && json_is_true(json_object_get(vars, "add_generation_prompt"))) opt_gen_prompt = true;
    if (vars && opt_tools) json_object_del(vars, "tools");
    if (!opt_bos && vars && json_is_string(json_object_get(vars, "bos_token")))
        opt_bos = json_string_value(json_object_get(vars, "bos_token"));
    if (!opt_eos && vars && json_is_string(json_object_get(vars, "eos_token")))
        opt_eos = json_string_value(json_object_get(vars, "eos_token"));
    if (!vars || json_object_set(vars, "messages", msgs) ||
        json_object_set_new(vars, "add_generation_prompt", json_boolean(opt_gen_prompt)) ||
        json_object_set_new(vars, "bos_token", json_string(opt_bos ? opt_bos : bos ? bos : "")) ||
        json_object_set_new(vars, "eos_token", json_string(opt_eos ? opt_eos : eos ? eos : "")) ||
        (tools && json_object_set(vars, "tools", tools))) {
        fprintf(stderr, "lair: out of memory (or a --bos-token / --eos-token that is not UTF-8)\n");
        goto out;
    }
    if (lair_jinja_render(t, vars, NULL, &text, &text_len, &err)) {
        fprintf(stderr, "lair: %s\n", err.msg);
        goto out;
    }
    if (fwrite(text, 1, text_len, stdout) != text_len || fflush(stdout) != 0) {
        fprintf(stderr, "lair: writing the output failed\n");
        goto out;
    }
    rc = 0;
out:
    lair_free(text);
    lair_jinja_free(t);
    json_decref(vars);
    json_decref(msgs);
    json_decref(tools);
    json_decref(extra);
    gguf_bundle_free(b);
    lair_free(src);
    lair_free(bos);
    lair_free(eos);
    return rc;
}
