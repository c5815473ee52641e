#include "server/toolcall.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "grammar/schema.h"
#include "server/http.h"

/* ---- formats ------------------------------------------------------------- */

static const char *const format_names[] = {
    [TC_GENERIC] = "generic",           [TC_LLAMA3] = "llama3",
    [TC_HERMES] = "hermes",             [TC_MISTRAL] = "mistral",
    [TC_FUNCTIONARY_V32] = "functionary-v3.2", [TC_FUNCTIONARY_V31] = "functionary-v3.1",
    [TC_COMMAND_R] = "command-r",       [TC_COMMAND_R7B] = "command-r7b",
    [TC_FIREFUNCTION] = "firefunction", [TC_DEEPSEEK_R1] = "deepseek-r1",
};

const char *tc_format_name(tc_format f) { return format_names[f]; }

static bool has(const char *s, const char *needle) { return s && strstr(s, needle) != NULL; }

tc_format tc_detect(const char *t) {
    /* most specific marker first: several families are built on Llama 3's */
    if (has(t, "[TOOL_CALLS]")) return TC_MISTRAL;
    if (has(t, "<|START_ACTION|>")) return TC_COMMAND_R7B;
    if (has(t, "Action:") && has(t, "tool_name")) return TC_COMMAND_R;
    if (has(t, "functools[")) return TC_FIREFUNCTION;
    if (has(t, ">>>all") || (has(t, ">>>") && has(t, "recipient"))) return TC_FUNCTIONARY_V32;
    if (has(t, "<function=")) return TC_FUNCTIONARY_V31;
    if (has(t, "<tool_call>")) return TC_HERMES;
    if (has(t, "tool\xe2\x96\x81" "calls\xe2\x96\x81" "begin")) return TC_DEEPSEEK_R1;
    if (has(t, "<|python_tag|>") || (has(t, "<|start_header_id|>") && has(t, "tools"))) return TC_LLAMA3;
    return TC_GENERIC;
}

bool tc_template_takes_tools(const char *t) {
    if (!t) return false;
    for (const char *p = strstr(t, "tools"); p; p = strstr(p + 1, "tools")) {
        char before = p == t ? ' ' : p[-1], after = p[5];
        bool ident_before = before == '_' || (before >= 'a' && before <= 'z') || (before >= 'A' && before <= 'Z');
        bool ident_after = after == '_' || (after >= 'a' && after <= 'z') || (after >= '0' && after <= '9');
        if (!ident_before && !ident_after && before != '\'' && before != '"') return true;
    }
    return false;
}

/* ---- markers of each format ---------------------------------------------- */

#define DS_CALLS_BEGIN "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define DS_CALLS_END "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "end\xef\xbd\x9c>"
#define DS_CALL_BEGIN "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define DS_CALL_END "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "end\xef\xbd\x9c>"
#define DS_SEP "<\xef\xbd\x9ctool\xe2\x96\x81sep\xef\xbd\x9c>"

/* The text that starts the calls of a format (NULL: the calls are the whole
 * reply, recognised by its first character). */
static const char *start_marker(tc_format f) {
    switch (f) {
    case TC_HERMES: return "<tool_call>";
    case TC_MISTRAL: return "[TOOL_CALLS]";
    case TC_FUNCTIONARY_V31: return "<function=";
    case TC_COMMAND_R: return "Action:";
    case TC_COMMAND_R7B: return "<|START_ACTION|>";
    case TC_FIREFUNCTION: return "functools[";
    case TC_DEEPSEEK_R1: return DS_CALLS_BEGIN;
    case TC_LLAMA3: return "<|python_tag|>";
    case TC_GENERIC:
    case TC_FUNCTIONARY_V32: break;
    }
    return NULL;
}

/* ---- parsing ------------------------------------------------------------- */

static const char *skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')) p++;
    return p;
}

static const char *find(const char *p, const char *end, const char *needle) {
    size_t n = strlen(needle);
    for (; p + n <= end; p++)
        if (memcmp(p, needle, n) == 0) return p;
    return NULL;
}

static bool starts(const char *p, const char *end, const char *s) {
    size_t n = strlen(s);
    return (size_t)(end - p) >= n && memcmp(p, s, n) == 0;
}

/* One JSON value at *p; advances *p past it.  NULL when there is none. */
static json_t *json_at(const char **p, const char *end) {
    const char *q = skip_ws(*p, end);
    json_error_t e;
    json_t *v = json_loadb(q, (size_t)(end - q), JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, &e);
    if (v) *p = q + e.position;
    return v;
}

static bool add_call(tc_parsed *out, const char *name, size_t name_len, const json_t *args) {
    if (!json_is_object(args)) return false;
    tc_call *c = lair_realloc(out->calls, (size_t)(out->n_calls + 1) * sizeof *c);
    if (!c) return false;
    out->calls = c;
    c += out->n_calls;
    char *a = json_dumps(args, JSON_COMPACT); /* malloc'd by jansson: copied to keep one allocator */
    c->name = lair_strndup(name, name_len);
    c->arguments = a ? lair_strndup(a, strlen(a)) : NULL;
    free(a);
    if (!c->name || !c->arguments) {
        lair_free(c->name);
        lair_free(c->arguments);
        return false;
    }
    out->n_calls++;
    return true;
}

/* A call object {name, <args_key>} (args_key: "arguments"/"parameters");
 * arguments given as a JSON string are parsed. */
static bool add_call_object(tc_parsed *out, const json_t *o, const char *name_key, const char *args_key) {
    const json_t *name = json_object_get(o, name_key), *args = json_object_get(o, args_key);
    if (!args && strcmp(args_key, "arguments") == 0) args = json_object_get(o, "parameters");
    if (!args && strcmp(args_key, "parameters") == 0) args = json_object_get(o, "arguments");
    if (!json_is_string(name)) return false;
    json_t *parsed = NULL;
    if (json_is_string(args)) args = parsed = json_loads(json_string_value(args), 0, NULL);
    if (!args) args = parsed = json_object();
    bool ok = add_call(out, json_string_value(name), json_string_length(name), args);
    json_decref(parsed);
    return ok;
}

static bool add_call_array(tc_parsed *out, const json_t *a, const char *name_key, const char *args_key) {
    if (json_is_object(a)) return add_call_object(out, a, name_key, args_key);
    if (!json_is_array(a) || !json_array_size(a)) return false;
    size_t i;
    const json_t *o;
    json_array_foreach(a, i, o) if (!add_call_object(out, o, name_key, args_key)) return false;
    return true;
}

/* Llama 3.1's built-in tool syntax: name.call(key="value", n=3). */
static bool add_python_call(tc_parsed *out, const char *p, const char *end) {
    p = skip_ws(p, end);
    const char *dot = find(p, end, ".call(");
    if (!dot) return false;
    json_t *args = json_object();
    const char *q = dot + 6;
    bool ok = args != NULL;
    while (ok && (q = skip_ws(q, end)) < end && *q != ')') {
        const char *k = q;
        while (q < end && *q != '=' && *q != ')') q++;
        if (q >= end || *q != '=') { ok = false; break; }
        const char *ke = q;
        while (ke > k && ke[-1] == ' ') ke--;
        q++;
        json_t *v = json_at(&q, end);
        if (!v) { ok = false; break; }
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)(ke - k), k);
        json_object_set_new(args, key, v);
        q = skip_ws(q, end);
        if (q < end && *q == ',') q++;
    }
    if (ok) ok = add_call(out, p, (size_t)(dot - p), args);
    json_decref(args);
    return ok;
}

static void drop_calls(tc_parsed *out) {
    for (int i = 0; i < out->n_calls; i++) lair_free(out->calls[i].name), lair_free(out->calls[i].arguments);
    lair_free(out->calls);
    out->calls = NULL;
    out->n_calls = 0;
}

/* The calls of a reply (text from the start marker on, or the whole reply
 * for marker-less formats).  False: not (well-formed) calls. */
static bool parse_calls(tc_format f, const char *p, const char *end, tc_parsed *out) {
    json_t *v = NULL;
    bool ok = false;
    switch (f) {
    case TC_HERMES:
        while ((p = skip_ws(p, end)) < end && starts(p, end, "<tool_call>")) {
            p += strlen("<tool_call>");
            v = json_at(&p, end);
            ok = v && add_call_object(out, v, "name", "arguments");
            json_decref(v);
            if (!ok) return false;
            p = skip_ws(p, end);
            if (starts(p, end, "</tool_call>")) p += strlen("</tool_call>");
        }
        return ok && skip_ws(p, end) == end;
    case TC_MISTRAL:
        p += strlen("[TOOL_CALLS]");
        v = json_at(&p, end);
        ok = v && add_call_array(out, v, "name", "arguments");
        break;
    case TC_FIREFUNCTION:
        p += strlen("functools");
        v = json_at(&p, end);
        ok = v && add_call_array(out, v, "name", "arguments");
        break;
    case TC_COMMAND_R7B:
        p += strlen("<|START_ACTION|>");
        v = json_at(&p, end);
        ok = v && add_call_array(out, v, "tool_name", "parameters");
        p = skip_ws(p, end);
        if (starts(p, end, "<|END_ACTION|>")) p += strlen("<|END_ACTION|>");
        break;
    case TC_COMMAND_R:
        p = skip_ws(p + strlen("Action:"), end);
        if (starts(p, end, "```json")) p += 7;
        else if (starts(p, end, "```")) p += 3;
        v = json_at(&p, end);
        ok = v && add_call_array(out, v, "tool_name", "parameters");
        p = skip_ws(p, end);
        if (starts(p, end, "```")) p += 3;
        break;
    case TC_FUNCTIONARY_V31:
        while ((p = skip_ws(p, end)) < end && starts(p, end, "<function=")) {
            p += strlen("<function=");
            const char *gt = find(p, end, ">");
            if (!gt) return false;
            const char *q = gt + 1;
            v = json_at(&q, end);
            ok = v && add_call(out, p, (size_t)(gt - p), v);
            json_decref(v);
            v = NULL;
            if (!ok) return false;
            p = skip_ws(q, end);
            if (starts(p, end, "</function>")) p += strlen("</function>");
        }
        return ok && skip_ws(p, end) == end;
    case TC_FUNCTIONARY_V32:
        /* "name\n{args}" segments separated by ">>>" */
        for (;;) {
            if (starts(p, end, ">>>")) p += 3;
            const char *nl = find(p, end, "\n");
            if (!nl) return false;
            const char *q = nl + 1;
            v = json_at(&q, end);
            ok = v && add_call(out, p, (size_t)(nl - p), v);
            json_decref(v);
            v = NULL;
            if (!ok) return false;
            p = skip_ws(q, end);
            if (p == end) return true;
            if (!starts(p, end, ">>>")) return false;
        }
    case TC_DEEPSEEK_R1:
        p += strlen(DS_CALLS_BEGIN);
        while ((p = skip_ws(p, end)) < end && starts(p, end, DS_CALL_BEGIN)) {
            const char *sep = find(p, end, DS_SEP);
            if (!sep) return false;
            const char *name = sep + strlen(DS_SEP), *nl = find(name, end, "\n");
            if (!nl) return false;
            const char *q = skip_ws(nl, end);
            if (starts(q, end, "```json")) q += 7;
            v = json_at(&q, end);
            ok = v && add_call(out, name, (size_t)(nl - name), v);
            json_decref(v);
            v = NULL;
            if (!ok) return false;
            q = skip_ws(q, end);
            if (starts(q, end, "```")) q += 3;
            q = skip_ws(q, end);
            if (starts(q, end, DS_CALL_END)) q += strlen(DS_CALL_END);
            p = q;
        }
        if (starts(p, end, DS_CALLS_END)) p += strlen(DS_CALLS_END);
        return ok && skip_ws(p, end) == end;
    case TC_LLAMA3:
        if (starts(p, end, "<|python_tag|>")) {
            p = skip_ws(p + strlen("<|python_tag|>"), end);
            if (p < end && *p != '{') return add_python_call(out, p, end);
        }
        /* one or more {"name", "parameters"} objects separated by ';' */
        for (;;) {
            v = json_at(&p, end);
            ok = v && json_object_get(v, "name") && add_call_object(out, v, "name", "parameters");
            json_decref(v);
            v = NULL;
            if (!ok) return false;
            p = skip_ws(p, end);
            if (p == end) return true;
            if (*p != ';') return false;
            p++;
        }
    case TC_GENERIC:
        v = json_at(&p, end);
        if (v && json_is_array(json_object_get(v, "tool_calls")))
            ok = add_call_array(out, json_object_get(v, "tool_calls"), "name", "arguments");
        else if (v && json_is_object(json_object_get(v, "tool_call")))
            ok = add_call_object(out, json_object_get(v, "tool_call"), "name", "arguments");
        break;
    }
    json_decref(v);
    return ok && skip_ws(p, end) == end;
}

lair_status tc_parse(tc_format f, const char *text, size_t len, tc_parsed *out, lair_err *err) {
    memset(out, 0, sizeof *out);
    const char *end = text + len, *marker = start_marker(f), *at = NULL;
    if (marker) at = find(text, end, marker);
    if (!at && (f == TC_LLAMA3 || f == TC_GENERIC || f == TC_FUNCTIONARY_V32)) {
        const char *p = skip_ws(text, end);
        if (f == TC_FUNCTIONARY_V32) { /* "all\n" starts text, ">>>" the calls after it */
            if (starts(p, end, ">>>")) p += 3;
            if (starts(p, end, "all\n")) {
                text = p + 4;
                at = find(text, end, ">>>");
            } else if (p < end) at = p;
        } else if (p < end && *p == '{')
            at = p;
    }
    len = (size_t)(end - text);
    size_t content_len = at ? (size_t)(at - text) : len;
    if (at && !parse_calls(f, at, end, out)) drop_calls(out);
    if (!out->n_calls) content_len = len;
    const char *content = text;
    while (out->n_calls && content_len && (content[content_len - 1] == ' ' || content[content_len - 1] == '\n'))
        content_len--;
    out->content = lair_strndup(content, content_len);
    out->content_len = content_len;
    if (!out->content) {
        tc_parsed_free(out);
        return lair_err_set(err, LAIR_ERR_NOMEM, "out of memory");
    }
    return LAIR_OK;
}

void tc_parsed_free(tc_parsed *p) {
    drop_calls(p);
    lair_free(p->content);
    memset(p, 0, sizeof *p);
}

size_t tc_content_prefix(tc_format f, const char *text, size_t len) {
    const char *marker = start_marker(f);
    const char *p = skip_ws(text, text + len);
    /* formats whose calls are the whole reply: nothing is content until the
     * first character says it is not a call */
    const size_t rest = (size_t)(text + len - p);
    if (f == TC_GENERIC || f == TC_LLAMA3) {
        static const char tag[] = "<|python_tag|>";
        bool tag_prefix = f == TC_LLAMA3 && strncmp(p, tag, rest < sizeof tag - 1 ? rest : sizeof tag - 1) == 0;
        if (rest == 0 || *p == '{' || tag_prefix) return 0;
        return len;
    }
    if (f == TC_FUNCTIONARY_V32) {
        /* "all\n" starts text; anything else is a call (held) */
        return rest >= 4 && memcmp(p, "all\n", 4) == 0 ? len : 0;
    }
    if (!marker) return len;
    /* hold back from the marker on, or from a suffix that may begin it */
    const char *at = find(text, text + len, marker);
    if (at) return (size_t)(at - text);
    size_t m = strlen(marker);
    for (size_t k = m - 1; k > 0; k--)
        if (k <= len && memcmp(text + len - k, marker, k) == 0) return len - k;
    return len;
}

/* ---- tools --------------------------------------------------------------- */

static bool name_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 64) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

bool tc_tools_valid(const json_t *tools, char *msg, size_t cap) {
    if (!json_is_array(tools)) return snprintf(msg, cap, "must be an array of tools"), false;
    if (json_array_size(tools) > 128) return snprintf(msg, cap, "has more than 128 tools"), false;
    size_t i;
    const json_t *t;
    json_array_foreach(tools, i, t) {
        const json_t *type = json_object_get(t, "type"), *fn = json_object_get(t, "function");
        if (!json_is_object(t) || !json_is_string(type) || strcmp(json_string_value(type), "function") != 0)
            return snprintf(msg, cap, "[%zu] must be {\"type\": \"function\", \"function\": {...}}", i), false;
        const json_t *name = json_object_get(fn, "name"), *params = json_object_get(fn, "parameters");
        if (!json_is_object(fn) || !json_is_string(name) || !name_ok(json_string_value(name)))
            return snprintf(msg, cap, "[%zu].function.name must be 1-64 letters, digits, '_' or '-'", i), false;
        if (params && !json_is_object(params))
            return snprintf(msg, cap, "[%zu].function.parameters must be a JSON Schema object", i), false;
    }
    return true;
}

static const json_t *tool_fn(const json_t *tool) { return json_object_get(tool, "function"); }
static const char *tool_name(const json_t *tool) { return json_string_value(json_object_get(tool_fn(tool), "name")); }

/* Appends text to a GBNF literal (between quotes), escaped. */
static void lit(http_buf *b, const char *s) {
    for (; *s; s++) {
        char c = *s;
        if (c == '"' || c == '\\') http_buf_add(b, "\\", 1), http_buf_add(b, &c, 1);
        else if (c == '\n') http_buf_puts(b, "\\n");
        else if (c == '\t') http_buf_puts(b, "\\t");
        else if (c == '\r') http_buf_puts(b, "\\r");
        else http_buf_add(b, &c, 1);
    }
}

/* Appends grammar g with every rule name prefixed (so several compiled
 * schemas live in one grammar): identifiers outside literals, classes,
 * repetition braces and comments are names. */
static void add_renamed(http_buf *b, const char *g, const char *prefix) {
    const char *p = g;
    while (*p) {
        char c = *p;
        if (c == '"' || c == '[') {
            char close = c == '"' ? '"' : ']';
            const char *q = p + 1;
            while (*q && *q != close) q += q[0] == '\\' && q[1] ? 2 : 1;
            if (*q) q++;
            http_buf_add(b, p, (size_t)(q - p));
            p = q;
        } else if (c == '{' || c == '#') {
            const char *q = p;
            while (*q && *q != (c == '{' ? '}' : '\n')) q++;
            if (*q && c == '{') q++;
            http_buf_add(b, p, (size_t)(q - p));
            p = q;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
            const char *q = p;
            while ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '-' ||
                   *q == '_')
                q++;
            http_buf_puts(b, prefix);
            http_buf_add(b, p, (size_t)(q - p));
            p = q;
        } else {
            http_buf_add(b, p, 1);
            p++;
        }
    }
    http_buf_puts(b, "\n");
}

/* One call of tool i in format f, as a GBNF sequence; its arguments are
 * rule "t<i>-root". */
static void call_seq(http_buf *b, tc_format f, int i, const char *name) {
    char args[32];
    snprintf(args, sizeof args, " t%d-root ", i);
    switch (f) {
    case TC_LLAMA3:
        http_buf_puts(b, "\"{\\\"name\\\": \\\"");
        lit(b, name);
        http_buf_puts(b, "\\\", \\\"parameters\\\": \"");
        http_buf_puts(b, args);
        http_buf_puts(b, "\"}\"");
        break;
    case TC_HERMES:
    case TC_FIREFUNCTION:
    case TC_GENERIC:
    case TC_MISTRAL:
        http_buf_puts(b, "\"{\\\"name\\\": \\\"");
        lit(b, name);
        http_buf_puts(b, "\\\", \\\"arguments\\\": \"");
        http_buf_puts(b, args);
        http_buf_puts(b, f == TC_MISTRAL ? "\", \\\"id\\\": \\\"\" [a-zA-Z0-9]{9} \"\\\"}\"" : "\"}\"");
        break;
    case TC_COMMAND_R:
    case TC_COMMAND_R7B:
        http_buf_puts(b, f == TC_COMMAND_R7B ? "\"{\\\"tool_call_id\\\": \\\"\" [0-9] \"\\\", \\\"tool_name\\\": \\\"\""
                                             : "\"{\\\"tool_name\\\": \\\"\"");
        http_buf_puts(b, " \"");
        lit(b, name);
        http_buf_puts(b, "\\\", \\\"parameters\\\": \"");
        http_buf_puts(b, args);
        http_buf_puts(b, "\"}\"");
        break;
    case TC_FUNCTIONARY_V32:
        http_buf_puts(b, "\"");
        lit(b, name);
        http_buf_puts(b, "\\n\"");
        http_buf_puts(b, args);
        break;
    case TC_FUNCTIONARY_V31:
        http_buf_puts(b, "\"<function=");
        lit(b, name);
        http_buf_puts(b, ">\"");
        http_buf_puts(b, args);
        http_buf_puts(b, "\"</function>\"");
        break;
    case TC_DEEPSEEK_R1:
        http_buf_puts(b, "\"" DS_CALL_BEGIN "function" DS_SEP);
        lit(b, name);
        http_buf_puts(b, "\\n```json\\n\"");
        http_buf_puts(b, args);
        http_buf_puts(b, "\"\\n```" DS_CALL_END "\"");
        break;
    }
}

lair_status tc_grammar(tc_format f, const json_t *tools, const char *only, int max_calls, char **gbnf, lair_err *err) {
    *gbnf = NULL;
    if (max_calls < 1) max_calls = 1;
    http_buf b = {0};
    http_buf_puts(&b, "call ::= ");
    int n = 0;
    size_t i;
    const json_t *t;
    lair_schema_opts so = lair_schema_default_opts();
    http_buf rules = {0};
    json_array_foreach(tools, i, t) {
        const char *name = tool_name(t);
        if (only && strcmp(name, only) != 0) continue;
        const json_t *params = json_object_get(tool_fn(t), "parameters");
        json_t *empty = params ? NULL : json_pack("{s:s}", "type", "object");
        char *g = NULL;
        lair_err e = {0};
        lair_status st = lair_schema_to_gbnf(params ? params : empty, &so, &g, NULL, &e);
        json_decref(empty);
        if (st != LAIR_OK) {
            http_buf_free(&b);
            http_buf_free(&rules);
            return lair_err_set(err, st, "tools[%zu] (%s): parameters: %s", i, name, e.msg);
        }
        char prefix[32];
        snprintf(prefix, sizeof prefix, "t%zu-", i);
        add_renamed(&rules, g, prefix);
        lair_free(g);
        if (n++) http_buf_puts(&b, " | ");
        http_buf_puts(&b, "(");
        call_seq(&b, f, (int)i, name);
        http_buf_puts(&b, ")");
    }
    if (!n) {
        http_buf_free(&b);
        http_buf_free(&rules);
        return lair_err_set(err, LAIR_ERR_ARG, "tool_choice names function '%s', which is not in tools", only);
    }
    char more[96];
    const char *sep = f == TC_HERMES ? "\"\\n</tool_call>\\n<tool_call>\\n\""
                      : f == TC_FUNCTIONARY_V32 ? "\">>>\""
                      : f == TC_FUNCTIONARY_V31 || f == TC_DEEPSEEK_R1 ? "\"\""
                      : f == TC_LLAMA3 ? "\"; \""
                                       : "\", \"";
    snprintf(more, sizeof more, " ( %s call ){0,%d}", sep, max_calls - 1);
    http_buf_puts(&b, "\nroot ::= ");
    switch (f) {
    case TC_HERMES: http_buf_puts(&b, "\"<tool_call>\\n\" call"); break;
    case TC_MISTRAL: http_buf_puts(&b, "\"[TOOL_CALLS][\" call"); break;
    case TC_FIREFUNCTION: http_buf_puts(&b, "\" functools[\" call"); break;
    case TC_COMMAND_R: http_buf_puts(&b, "\"Action: ```json\\n[\" call"); break;
    case TC_COMMAND_R7B: http_buf_puts(&b, "\"<|START_ACTION|>[\" call"); break;
    case TC_DEEPSEEK_R1: http_buf_puts(&b, "\"" DS_CALLS_BEGIN "\" call"); break;
    case TC_GENERIC: http_buf_puts(&b, "\"{\\\"tool_calls\\\": [\" call"); break;
    case TC_LLAMA3:
    case TC_FUNCTIONARY_V32:
    case TC_FUNCTIONARY_V31: http_buf_puts(&b, "call"); break;
    }
    if (max_calls > 1) http_buf_puts(&b, more);
    switch (f) {
    case TC_HERMES: http_buf_puts(&b, " \"\\n</tool_call>\""); break;
    case TC_MISTRAL:
    case TC_FIREFUNCTION: http_buf_puts(&b, " \"]\""); break;
    case TC_COMMAND_R: http_buf_puts(&b, " \"]\\n```\""); break;
    case TC_COMMAND_R7B: http_buf_puts(&b, " \"]<|END_ACTION|>\""); break;
    case TC_DEEPSEEK_R1: http_buf_puts(&b, " \"" DS_CALLS_END "\""); break;
    case TC_GENERIC: http_buf_puts(&b, " \"]}\""); break;
    case TC_LLAMA3:
    case TC_FUNCTIONARY_V32:
    case TC_FUNCTIONARY_V31: break;
    }
    http_buf_puts(&b, "\n");
    http_buf_add(&b, rules.p ? rules.p : "", rules.len);
    http_buf_free(&rules);
    if (b.oom) {
        http_buf_free(&b);
        return lair_err_set(err, LAIR_ERR_NOMEM, "out of memory");
    }
    *gbnf = b.p;
    return LAIR_OK;
}

char *tc_system_prompt(tc_format f, const json_t *tools) {
    http_buf b = {0};
    http_buf_puts(&b, "You can call these functions (JSON Schema of their parameters given):\n");
    size_t i;
    const json_t *t;
    json_array_foreach(tools, i, t) {
        http_buf_json(&b, tool_fn(t));
        http_buf_puts(&b, "\n");
    }
    http_buf_puts(&b, "To call functions, reply with nothing but ");
    switch (f) {
    case TC_DEEPSEEK_R1:
        http_buf_puts(&b, DS_CALLS_BEGIN DS_CALL_BEGIN "function" DS_SEP "NAME\n```json\n{ARGUMENTS}\n```" DS_CALL_END
                          DS_CALLS_END);
        break;
    default: http_buf_puts(&b, "{\"tool_calls\": [{\"name\": NAME, \"arguments\": {ARGUMENTS}}]}"); break;
    }
    http_buf_puts(&b, "\nOtherwise answer normally.");
    if (b.oom) {
        http_buf_free(&b);
        return NULL;
    }
    return b.p;
}

/* Mistral's templates accept only 9-character alphanumeric call ids: any
 * other id is mapped to one (the same id always to the same one, so a call
 * and its result still match). */
static json_t *mistral_id(const char *id) {
    static const char digits[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    size_t n = strlen(id);
    bool ok = n == 9;
    for (size_t i = 0; ok && i < n; i++) ok = strchr(digits, id[i]) != NULL && id[i];
    if (ok) return json_string(id);
    uint64_t h = 1469598103934665603ull; /* FNV-1a: a stable mapping, not a secret */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)id[i]) * 1099511628211ull;
    char out[10];
    for (int i = 0; i < 9; i++, h /= 62) out[i] = digits[h % 62];
    out[9] = 0;
    return json_string(out);
}

json_t *tc_messages_for_template(const json_t *messages, tc_format f) {
    const bool as_text = f == TC_FUNCTIONARY_V31 || f == TC_FUNCTIONARY_V32 || f == TC_FIREFUNCTION ||
                         f == TC_DEEPSEEK_R1;
    json_t *out = json_deep_copy(messages);
    size_t i, k;
    json_t *m, *call;
    json_array_foreach(out, i, m) {
        json_t *calls = json_object_get(m, "tool_calls");
        const char *result_id = json_string_value(json_object_get(m, "tool_call_id"));
        if (f == TC_MISTRAL && result_id) json_object_set_new(m, "tool_call_id", mistral_id(result_id));
        json_array_foreach(calls, k, call) {
            const char *cid = json_string_value(json_object_get(call, "id"));
            if (f == TC_MISTRAL && cid) json_object_set_new(call, "id", mistral_id(cid));
            json_t *fn = json_object_get(call, "function");
            json_t *args = json_object_get(fn, "arguments");
            if (!as_text && json_is_string(args)) {
                json_t *obj = json_loads(json_string_value(args), 0, NULL);
                if (json_is_object(obj)) json_object_set_new(fn, "arguments", obj);
                else json_decref(obj);
            } else if (as_text && json_is_object(args)) {
                char *s = json_dumps(args, JSON_COMPACT);
                if (s) json_object_set_new(fn, "arguments", json_string(s));
                free(s);
            }
        }
    }
    return out;
}
