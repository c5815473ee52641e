/* Structured output and tools in requests: OpenAI's response_format and
 * tools/tool_choice/parallel_tool_calls, llama.cpp's raw "grammar", Ollama's
 * format and tools — turned into the grammar a job must follow (GBNF text,
 * compiled at submit) and the tool-call format of the model's template.
 *
 * Fail closed: a schema the compiler cannot enforce is a 400 naming the
 * keyword, unless the request says "strict": false (then the response lists
 * what was not enforced).  A forced tool call (tool_choice "required" or a
 * named function) is a grammar too, and wins over response_format. */
#define _POSIX_C_SOURCE 200809L /* localtime_r */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "grammar/schema.h"
#include "server/api.h"

static LAIR_PRINTF(3, 4) bool fail(srv_param_err *e, const char *param, const char *fmt, ...) {
    snprintf(e->param, sizeof e->param, "%s", param);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return false;
}

/* The grammar of a JSON Schema; strict false keeps what can be kept. */
static bool from_schema(const json_t *schema, bool strict, const char *field, srv_gen_params *p, srv_param_err *e) {
    if (!json_is_object(schema) && !json_is_boolean(schema))
        return fail(e, field, "%s must be a JSON Schema (an object)", field);
    lair_schema_opts o = lair_schema_default_opts();
    o.strict = strict;
    lair_err err = {0};
    char *unenforced = NULL;
    lair_status st = lair_schema_to_gbnf(schema, &o, &p->gbnf, strict ? NULL : &unenforced, &err);
    if (st != LAIR_OK) return fail(e, field, "%s: %s", field, err.msg);
    p->unenforced = unenforced;
    p->gbnf_field = field;
    return true;
}

static bool json_object_grammar(const char *field, srv_gen_params *p, srv_param_err *e) {
    const char *g = lair_schema_json_object_gbnf();
    p->gbnf = lair_strndup(g, strlen(g));
    p->gbnf_field = field;
    return p->gbnf ? true : fail(e, field, "out of memory");
}

static bool response_format(const json_t *body, srv_gen_params *p, srv_param_err *e) {
    const json_t *v = json_object_get(body, "response_format");
    if (!v || json_is_null(v)) return true;
    const json_t *t = json_is_object(v) ? json_object_get(v, "type") : NULL;
    if (!json_is_string(t)) return fail(e, "response_format", "response_format must be an object with a \"type\"");
    const char *type = json_string_value(t);
    if (strcmp(type, "text") == 0) return true;
    if (strcmp(type, "json_object") == 0) return json_object_grammar("response_format", p, e);
    if (strcmp(type, "json_schema") != 0)
        return fail(e, "response_format", "response_format.type must be text, json_object or json_schema, got '%.40s'",
                    type);
    const json_t *js = json_object_get(v, "json_schema");
    if (!json_is_object(js))
        return fail(e, "response_format", "response_format.json_schema must be an object {name, schema, strict}");
    const json_t *name = json_object_get(js, "name"), *strict = json_object_get(js, "strict");
    if (name && !json_is_string(name))
        return fail(e, "response_format", "response_format.json_schema.name must be a string");
    if (strict && !json_is_null(strict) && !json_is_boolean(strict))
        return fail(e, "response_format", "response_format.json_schema.strict must be true or false");
    const json_t *schema = json_object_get(js, "schema");
    if (!schema) return json_object_grammar("response_format", p, e); /* no schema: any JSON object */
    /* fail closed unless the request explicitly accepts best effort */
    return from_schema(schema, !json_is_false(strict), "response_format.json_schema.schema", p, e);
}

static bool raw_grammar(const json_t *body, srv_gen_params *p, srv_param_err *e) {
    const json_t *g = json_object_get(body, "grammar");
    if (!g || json_is_null(g) || (json_is_string(g) && !json_string_length(g))) return true;
    if (!json_is_string(g)) return fail(e, "grammar", "grammar must be a string (GBNF)");
    if (p->gbnf) return fail(e, "grammar", "grammar cannot be combined with response_format");
    p->gbnf = lair_strndup(json_string_value(g), json_string_length(g));
    p->gbnf_field = "grammar";
    return p->gbnf ? true : fail(e, "grammar", "out of memory");
}

/* tools, tool_choice, parallel_tool_calls (OpenAI and Ollama shapes). */
static bool tools_fields(const json_t *body, srv_gen_params *p, srv_param_err *e) {
    const json_t *tools = json_object_get(body, "tools");
    p->parallel_tools = true;
    if (!tools || json_is_null(tools) || (json_is_array(tools) && !json_array_size(tools))) return true;
    char msg[200];
    if (!tc_tools_valid(tools, msg, sizeof msg)) return fail(e, "tools", "tools%s", msg);
    p->tools = tools;
    const json_t *c = json_object_get(body, "tool_choice");
    if (!c || json_is_null(c)) p->tool_choice = SRV_TOOLS_AUTO;
    else if (json_is_string(c)) {
        const char *s = json_string_value(c);
        if (strcmp(s, "auto") == 0) p->tool_choice = SRV_TOOLS_AUTO;
        else if (strcmp(s, "none") == 0) p->tool_choice = SRV_TOOLS_NONE;
        else if (strcmp(s, "required") == 0) p->tool_choice = SRV_TOOLS_REQUIRED;
        else return fail(e, "tool_choice", "tool_choice must be auto, none, required or {\"type\": \"function\", ...}");
    } else {
        const json_t *name = json_object_get(json_object_get(c, "function"), "name");
        if (!json_is_string(name))
            return fail(e, "tool_choice", "tool_choice must name a function: {\"type\": \"function\", \"function\": "
                                          "{\"name\": ...}}");
        p->tool_choice = SRV_TOOLS_NAMED;
        p->tool_name = json_string_value(name);
        bool found = false;
        size_t i;
        const json_t *t;
        json_array_foreach(tools, i, t) found = found ||
            strcmp(json_string_value(json_object_get(json_object_get(t, "function"), "name")), p->tool_name) == 0;
        if (!found) return fail(e, "tool_choice", "tool_choice names '%.64s', which is not in tools", p->tool_name);
    }
    const json_t *par = json_object_get(body, "parallel_tool_calls");
    if (par && !json_is_null(par)) {
        if (!json_is_boolean(par)) return fail(e, "parallel_tool_calls", "parallel_tool_calls must be true or false");
        p->parallel_tools = json_is_true(par);
    }
    return true;
}

bool srv_structured_openai(const json_t *body, srv_api api, srv_gen_params *p, srv_param_err *e) {
    const json_t *fn = json_object_get(body, "functions");
    if (fn && !json_is_null(fn) && !(json_is_array(fn) && !json_array_size(fn)))
        return fail(e, "functions", "functions (deprecated by OpenAI) are not supported: send them as tools");
    if (!response_format(body, p, e) || !raw_grammar(body, p, e)) return false;
    if (api != SRV_API_CHAT) {
        const json_t *t = json_object_get(body, "tools");
        if (t && !json_is_null(t)) return fail(e, "tools", "tools need /v1/chat/completions");
        return true;
    }
    return tools_fields(body, p, e);
}

bool srv_structured_ollama(const json_t *body, srv_gen_params *p, srv_param_err *e) {
    const json_t *f = json_object_get(body, "format");
    if (f && !json_is_null(f) && !(json_is_string(f) && !json_string_length(f))) {
        if (json_is_string(f)) {
            if (strcmp(json_string_value(f), "json") != 0)
                return fail(e, "format", "format must be \"json\" or a JSON Schema object");
            if (!json_object_grammar("format", p, e)) return false;
        } else if (!from_schema(f, true, "format", p, e))
            return false;
    }
    return tools_fields(body, p, e);
}

void srv_structured_free(srv_gen_params *p) {
    lair_free(p->gbnf);
    lair_free(p->unenforced);
    p->gbnf = p->unenforced = NULL;
}

lair_status srv_tools_prepare(srv_model *m, srv_gen_params *p, json_t **messages, json_t **extra, srv_param_err *e) {
    *extra = NULL;
    if (!p->tools || p->tool_choice == SRV_TOOLS_NONE) return LAIR_OK;
    const char *src = m->tmpl_fallback ? NULL : m->tmpl_src;
    p->tool_format = tc_detect(src);
    json_t *msgs = tc_messages_for_template(*messages, p->tool_format);
    json_t *vars = json_object();
    if (!msgs || !vars) goto nomem;
    if (tc_template_takes_tools(src)) {
        json_object_set(vars, "tools", (json_t *)p->tools);
    } else if (p->tool_format == TC_FIREFUNCTION) { /* its template reads "functions" (text) and "datetime" */
        json_t *fns = json_array();
        size_t i;
        const json_t *t;
        json_array_foreach(p->tools, i, t) json_array_append(fns, json_object_get(t, "function"));
        char *s = json_dumps(fns, JSON_INDENT(4));
        json_decref(fns);
        char date[64];
        time_t now = time(NULL);
        struct tm tmv;
        localtime_r(&now, &tmv);
        strftime(date, sizeof date, "%Y-%m-%d", &tmv);
        json_object_set_new(vars, "functions", json_string(s ? s : "[]"));
        json_object_set_new(vars, "datetime", json_string(date));
        free(s);
    } else { /* no tool support in the template: describe the tools in a system message */
        char *sys = tc_system_prompt(p->tool_format, p->tools);
        if (!sys) goto nomem;
        json_t *first = json_array_get(msgs, 0);
        const char *role = json_string_value(json_object_get(first, "role"));
        if (role && strcmp(role, "system") == 0) {
            const char *old = json_string_value(json_object_get(first, "content"));
            size_t n = strlen(old ? old : "") + strlen(sys) + 3;
            char *both = lair_malloc(n);
            if (both) snprintf(both, n, "%s\n\n%s", old ? old : "", sys);
            json_object_set_new(first, "content", json_string(both ? both : sys));
            lair_free(both);
        } else {
            json_array_insert_new(msgs, 0, json_pack("{s:s,s:s}", "role", "system", "content", sys));
        }
        lair_free(sys);
    }
    if (p->tool_choice == SRV_TOOLS_REQUIRED || p->tool_choice == SRV_TOOLS_NAMED) {
        lair_err err = {0};
        char *g = NULL;
        lair_status st = tc_grammar(p->tool_format, p->tools, p->tool_choice == SRV_TOOLS_NAMED ? p->tool_name : NULL,
                                    p->parallel_tools && p->tool_choice == SRV_TOOLS_REQUIRED ? 8 : 1, &g, &err);
        if (st != LAIR_OK) {
            json_decref(msgs);
            json_decref(vars);
            fail(e, "tools", "%s", err.msg);
            return st;
        }
        lair_free(p->gbnf); /* a forced call wins over response_format */
        lair_free(p->unenforced);
        p->unenforced = NULL;
        p->gbnf = g;
        p->gbnf_field = "tools";
    }
    json_decref(*messages);
    *messages = msgs;
    *extra = vars;
    return LAIR_OK;
nomem:
    json_decref(msgs);
    json_decref(vars);
    fail(e, "messages", "out of memory");
    return LAIR_ERR_NOMEM;
}
