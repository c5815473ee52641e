/* Tool calls (src/server/toolcall.h): format detection on the real
 * templates of ../shared/testdata/templates, parsing each family's replies
 * (several calls, Japanese arguments, text around them), the streaming
 * hold-back, template argument shapes, and the forcing grammars: each
 * family's grammar accepts that family's canonical reply, and the parser
 * reads the reply back into the same calls. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/alloc.h"
#include "grammar/grammar.h"
#include "server/toolcall.h"

static char *read_template(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "templates/%s.jinja", name);
    const char *path = check_testdata(rel);
    if (!path) return NULL;
    size_t n;
    unsigned char *raw = check_read_file(path, &n);
    char *t = raw ? malloc(n + 1) : NULL; /* check_read_file does not terminate */
    if (t) memcpy(t, raw, n), t[n] = 0;
    free(raw);
    return t;
}

TEST(toolcall_detects_real_templates) {
    static const struct {
        const char *file;
        tc_format want;
        bool takes_tools;
    } cases[] = {
        {"meta-llama-Llama-3.1-8B-Instruct", TC_LLAMA3, true},
        {"meta-llama-Llama-3.2-3B-Instruct", TC_LLAMA3, true},
        {"meta-llama-Llama-3.3-70B-Instruct", TC_LLAMA3, true},
        {"NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use", TC_HERMES, true},
        {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use", TC_HERMES, true},
        {"Qwen-Qwen2.5-7B-Instruct", TC_HERMES, true},
        {"mistralai-Mistral-Nemo-Instruct-2407", TC_MISTRAL, true},
        {"meetkai-functionary-medium-v3.2", TC_FUNCTIONARY_V32, true},
        {"meetkai-functionary-medium-v3.1", TC_FUNCTIONARY_V31, true},
        {"CohereForAI-c4ai-command-r-plus-tool_use", TC_COMMAND_R, true},
        {"CohereForAI-c4ai-command-r7b-12-2024-tool_use", TC_COMMAND_R7B, true},
        {"fireworks-ai-llama-3-firefunction-v2", TC_FIREFUNCTION, false}, /* reads "functions" */
        {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", TC_DEEPSEEK_R1, false},
        {"google-gemma-2-2b-it", TC_GENERIC, false},
        {"microsoft-Phi-3.5-mini-instruct", TC_GENERIC, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t = read_template(cases[i].file);
        if (!t) return;
        tc_format f = tc_detect(t);
        CHECKF(f == cases[i].want, "%s: detected %s, want %s", cases[i].file, tc_format_name(f),
               tc_format_name(cases[i].want));
        CHECKF(tc_template_takes_tools(t) == cases[i].takes_tools, "%s: takes tools %d", cases[i].file,
               !cases[i].takes_tools);
        free(t);
    }
}

/* A reply of format f and the calls it holds. */
typedef struct reply_case {
    tc_format f;
    const char *text;
    const char *content;
    int n;
    const char *names[2];
    const char *args[2];
} reply_case;

static const reply_case replies[] = {
    {TC_HERMES,
     "確認します。\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"東京\"}}\n</tool_call>\n"
     "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"tz\": \"Asia/Tokyo\"}}\n</tool_call>",
     "確認します。", 2, {"get_weather", "get_time"}, {"{\"city\":\"東京\"}", "{\"tz\":\"Asia/Tokyo\"}"}},
    {TC_LLAMA3, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"大阪\", \"days\": 3}}", "", 1,
     {"get_weather"}, {"{\"city\":\"大阪\",\"days\":3}"}},
    {TC_LLAMA3, "<|python_tag|>brave_search.call(query=\"東京 天気\")", "", 1, {"brave_search"},
     {"{\"query\":\"東京 天気\"}"}},
    {TC_LLAMA3, "{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"parameters\": {\"x\": 1}}", "", 2,
     {"a", "b"}, {"{}", "{\"x\":1}"}},
    {TC_MISTRAL,
     "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"札幌\"}, \"id\": \"abc123def\"}, "
     "{\"name\": \"get_time\", \"arguments\": {}}]",
     "", 2, {"get_weather", "get_time"}, {"{\"city\":\"札幌\"}", "{}"}},
    {TC_FUNCTIONARY_V32, "get_weather\n{\"city\": \"福岡\"}>>>get_time\n{}", "", 2, {"get_weather", "get_time"},
     {"{\"city\":\"福岡\"}", "{}"}},
    {TC_FUNCTIONARY_V32, "all\nこんにちは。>>>get_time\n{\"tz\": \"JST\"}", "こんにちは。", 1, {"get_time"},
     {"{\"tz\":\"JST\"}"}},
    {TC_FUNCTIONARY_V31, "<function=get_weather>{\"city\": \"那覇\"}</function>", "", 1, {"get_weather"},
     {"{\"city\":\"那覇\"}"}},
    {TC_COMMAND_R, "Action: ```json\n[{\"tool_name\": \"search\", \"parameters\": {\"q\": \"日本語\"}}]\n```", "", 1,
     {"search"}, {"{\"q\":\"日本語\"}"}},
    {TC_COMMAND_R7B,
     "<|START_ACTION|>[{\"tool_call_id\": \"0\", \"tool_name\": \"search\", \"parameters\": {\"q\": \"京都\"}}, "
     "{\"tool_call_id\": \"1\", \"tool_name\": \"get_time\", \"parameters\": {}}]<|END_ACTION|>",
     "", 2, {"search", "get_time"}, {"{\"q\":\"京都\"}", "{}"}},
    {TC_FIREFUNCTION, " functools[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"神戸\"}}]", "", 1,
     {"get_weather"}, {"{\"city\":\"神戸\"}"}},
    {TC_DEEPSEEK_R1,
     "<think>考え中</think>\n\n<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
     "{\"city\": \"仙台\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
     "<think>考え中</think>", 1, {"get_weather"}, {"{\"city\":\"仙台\"}"}},
    {TC_GENERIC, "{\"tool_calls\": [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"横浜\"}}]}", "", 1,
     {"get_weather"}, {"{\"city\":\"横浜\"}"}},
    /* not calls: stays content */
    {TC_HERMES, "<tool_call>\n{\"name\": broken}\n</tool_call>", "<tool_call>\n{\"name\": broken}\n</tool_call>", 0,
     {0}, {0}},
    {TC_GENERIC, "{\"answer\": \"はい\"}", "{\"answer\": \"はい\"}", 0, {0}, {0}},
    {TC_LLAMA3, "普通の答えです。", "普通の答えです。", 0, {0}, {0}},
};

TEST(toolcall_parses_each_family) {
    for (size_t i = 0; i < sizeof replies / sizeof replies[0]; i++) {
        const reply_case *c = &replies[i];
        tc_parsed p;
        lair_err e = {0};
        REQUIRE(tc_parse(c->f, c->text, strlen(c->text), &p, &e) == LAIR_OK);
        CHECKF(p.n_calls == c->n, "case %zu (%s): %d calls, want %d", i, tc_format_name(c->f), p.n_calls, c->n);
        CHECKF(strcmp(p.content, c->content) == 0, "case %zu (%s): content '%s'", i, tc_format_name(c->f), p.content);
        for (int k = 0; k < p.n_calls && k < c->n; k++) {
            CHECKF(strcmp(p.calls[k].name, c->names[k]) == 0, "case %zu call %d name %s", i, k, p.calls[k].name);
            CHECKF(strcmp(p.calls[k].arguments, c->args[k]) == 0, "case %zu call %d args %s", i, k,
                   p.calls[k].arguments);
        }
        tc_parsed_free(&p);
    }
}

TEST(toolcall_stream_holds_back_calls) {
    const char *t = "答えは<tool_c";
    CHECK(tc_content_prefix(TC_HERMES, t, strlen(t)) == strlen("答えは"));
    t = "答えは<b>";
    CHECK(tc_content_prefix(TC_HERMES, t, strlen(t)) == strlen(t));
    t = "前置き[TOOL_CALLS][{";
    CHECK(tc_content_prefix(TC_MISTRAL, t, strlen(t)) == strlen("前置き"));
    CHECK(tc_content_prefix(TC_LLAMA3, "{\"na", 4) == 0);
    CHECK(tc_content_prefix(TC_LLAMA3, "<|pyt", 5) == 0);
    CHECK(tc_content_prefix(TC_LLAMA3, "はい", strlen("はい")) == strlen("はい"));
    CHECK(tc_content_prefix(TC_FUNCTIONARY_V32, "al", 2) == 0);
    CHECK(tc_content_prefix(TC_FUNCTIONARY_V32, "all\nやあ", strlen("all\nやあ")) == strlen("all\nやあ"));
    CHECK(tc_content_prefix(TC_GENERIC, "  ", 2) == 0);
    CHECK(tc_content_prefix(TC_GENERIC, "ok", 2) == 2);
}

TEST(toolcall_tools_validated) {
    char msg[256];
    json_t *ok = json_loads("[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":"
                            "{\"type\":\"object\"}}}]", 0, NULL);
    CHECK(tc_tools_valid(ok, msg, sizeof msg));
    json_t *bad = json_loads("[{\"type\":\"function\",\"function\":{\"name\":\"天気\"}}]", 0, NULL);
    CHECK(!tc_tools_valid(bad, msg, sizeof msg) && strstr(msg, "name"));
    json_t *bad2 = json_loads("[{\"type\":\"retrieval\"}]", 0, NULL);
    CHECK(!tc_tools_valid(bad2, msg, sizeof msg) && strstr(msg, "function"));
    json_decref(ok);
    json_decref(bad);
    json_decref(bad2);
}

TEST(toolcall_template_argument_shapes) {
    json_t *m = json_loads("[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":"
                           "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":\\\"東\\\"}\"}}]}]",
                           0, NULL);
    REQUIRE(m);
    json_t *o = tc_messages_for_template(m, TC_HERMES);
    json_t *args = json_object_get(json_object_get(json_array_get(json_object_get(json_array_get(o, 0), "tool_calls"), 0), "function"), "arguments");
    CHECK(json_is_object(args) && strcmp(json_string_value(json_object_get(args, "a")), "東") == 0);
    json_t *o2 = tc_messages_for_template(o, TC_FUNCTIONARY_V32);
    args = json_object_get(json_object_get(json_array_get(json_object_get(json_array_get(o2, 0), "tool_calls"), 0), "function"), "arguments");
    CHECK(json_is_string(args) && strcmp(json_string_value(args), "{\"a\":\"東\"}") == 0);
    /* Mistral: ids become 9 alphanumerics, the same for a call and its result */
    json_t *mm = json_loads("[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"call_abc\",\"type\":\"function\","
                            "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
                            "{\"role\":\"tool\",\"tool_call_id\":\"call_abc\",\"content\":\"x\"}]", 0, NULL);
    REQUIRE(mm);
    json_t *mo = tc_messages_for_template(mm, TC_MISTRAL);
    const char *a = json_string_value(json_object_get(json_array_get(json_object_get(json_array_get(mo, 0), "tool_calls"), 0), "id"));
    const char *b = json_string_value(json_object_get(json_array_get(mo, 1), "tool_call_id"));
    CHECK(a && b && strlen(a) == 9 && strcmp(a, b) == 0);
    json_decref(mm);
    json_decref(mo);
    json_decref(m);
    json_decref(o);
    json_decref(o2);
}

/* The canonical reply of each family for two calls (Japanese arguments)
 * must be a sentence of that family's forcing grammar and parse back. */
TEST(toolcall_grammar_accepts_canonical_replies) {
    json_t *tools = json_loads(
        "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\","
        "\"properties\":{\"city\":{\"type\":\"string\"},\"days\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":7}},"
        "\"required\":[\"city\"]}}},"
        "{\"type\":\"function\",\"function\":{\"name\":\"get_time\"}}]",
        0, NULL);
    REQUIRE(tools);
    static const struct {
        tc_format f;
        const char *reply;
    } cases[] = {
        {TC_HERMES, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"東京\",\"days\":3}}\n</tool_call>\n"
                    "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>"},
        {TC_LLAMA3, "{\"name\": \"get_weather\", \"parameters\": {\"city\":\"東京\",\"days\":3}}; "
                    "{\"name\": \"get_time\", \"parameters\": {}}"},
        {TC_MISTRAL, "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\":\"東京\",\"days\":3}, \"id\": "
                     "\"a1b2c3d4e\"}, {\"name\": \"get_time\", \"arguments\": {}, \"id\": \"zzzzzzzzz\"}]"},
        {TC_FUNCTIONARY_V32, "get_weather\n{\"city\":\"東京\",\"days\":3}>>>get_time\n{}"},
        {TC_FUNCTIONARY_V31, "<function=get_weather>{\"city\":\"東京\",\"days\":3}</function><function=get_time>{}</function>"},
        {TC_COMMAND_R, "Action: ```json\n[{\"tool_name\": \"get_weather\", \"parameters\": {\"city\":\"東京\",\"days\":3}}, "
                       "{\"tool_name\": \"get_time\", \"parameters\": {}}]\n```"},
        {TC_COMMAND_R7B, "<|START_ACTION|>[{\"tool_call_id\": \"0\", \"tool_name\": \"get_weather\", \"parameters\": "
                         "{\"city\":\"東京\",\"days\":3}}, {\"tool_call_id\": \"1\", \"tool_name\": \"get_time\", "
                         "\"parameters\": {}}]<|END_ACTION|>"},
        {TC_FIREFUNCTION, " functools[{\"name\": \"get_weather\", \"arguments\": {\"city\":\"東京\",\"days\":3}}, "
                          "{\"name\": \"get_time\", \"arguments\": {}}]"},
        {TC_DEEPSEEK_R1, "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
                         "{\"city\":\"東京\",\"days\":3}\n```<｜tool▁call▁end｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>"
                         "get_time\n```json\n{}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>"},
        {TC_GENERIC, "{\"tool_calls\": [{\"name\": \"get_weather\", \"arguments\": {\"city\":\"東京\",\"days\":3}}, "
                     "{\"name\": \"get_time\", \"arguments\": {}}]}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *g = NULL;
        lair_err e = {0};
        lair_status st = tc_grammar(cases[i].f, tools, NULL, 4, &g, &e);
        CHECKF(st == LAIR_OK, "%s: %s", tc_format_name(cases[i].f), e.msg);
        if (st != LAIR_OK) continue;
        lair_grammar *gr = NULL;
        st = lair_grammar_parse(g, strlen(g), NULL, NULL, &gr, &e);
        CHECKF(st == LAIR_OK, "%s: grammar does not parse: %s\n%s", tc_format_name(cases[i].f), e.msg, g);
        if (st == LAIR_OK) {
            CHECKF(lair_grammar_accepts(gr, cases[i].reply, strlen(cases[i].reply)), "%s: reply rejected\n%s",
                   tc_format_name(cases[i].f), g);
            /* days out of range: rejected */
            const char *bad = strstr(cases[i].reply, "\"days\":3");
            if (bad) {
                char *r = lair_strndup(cases[i].reply, strlen(cases[i].reply));
                r[bad - cases[i].reply + 7] = '9';
                CHECKF(!lair_grammar_accepts(gr, r, strlen(r)), "%s: days 9 accepted", tc_format_name(cases[i].f));
                lair_free(r);
            }
            tc_parsed p;
            REQUIRE(tc_parse(cases[i].f, cases[i].reply, strlen(cases[i].reply), &p, &e) == LAIR_OK);
            CHECKF(p.n_calls == 2 && strcmp(p.calls[0].name, "get_weather") == 0 &&
                       strcmp(p.calls[0].arguments, "{\"city\":\"東京\",\"days\":3}") == 0 &&
                       strcmp(p.calls[1].name, "get_time") == 0,
                   "%s: parsed %d calls", tc_format_name(cases[i].f), p.n_calls);
            tc_parsed_free(&p);
        }
        lair_grammar_free(gr);
        lair_free(g);
    }
    /* a named function only; an unknown name is an error */
    char *g = NULL;
    lair_err e = {0};
    CHECK(tc_grammar(TC_HERMES, tools, "nope", 1, &g, &e) == LAIR_ERR_ARG && strstr(e.msg, "nope"));
    json_decref(tools);
}

int main(void) {
    RUN(toolcall_detects_real_templates);
    RUN(toolcall_parses_each_family);
    RUN(toolcall_stream_holds_back_calls);
    RUN(toolcall_tools_validated);
    RUN(toolcall_template_argument_shapes);
    RUN(toolcall_grammar_accepts_canonical_replies);
    return check_done();
}
