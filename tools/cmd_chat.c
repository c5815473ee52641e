/* lair chat: a multi-turn conversation in the terminal through the model's
 * chat template.  Ctrl-C stops the current answer (not the program);
 * /reset, /save FILE, /load FILE, /help, /quit.  The context keeps the
 * conversation's tokens, so each turn only evaluates what is new. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/alloc.h"
#include "core/err.h"
#include "sampling_opts.h"
#include "term.h"
#include "text/chat.h"

static const char *opt_system, *opt_template_file;
static bool opt_ctx_shift, opt_stats, opt_verbose_prompt;

static const cli_opt chat_opts[] = {
    {"system", 0, CLI_STR, &opt_system, "TEXT", "system prompt"},
    {"template-file", 0, CLI_STR, &opt_template_file, "FILE", "chat template to use instead of the model's"},
    {"ctx-shift", 0, CLI_FLAG, &opt_ctx_shift, NULL,
     "when the conversation outgrows the context, drop the oldest turns (default: say so and stop)"},
    {"stats", 0, CLI_FLAG, &opt_stats, NULL, "print timings after each answer (stderr)"},
    {"verbose-prompt", 0, CLI_FLAG, &opt_verbose_prompt, NULL, "print each prompt's token ids (stderr)"},
    CLI_GEN_OPTS,
    {0},
};

static int run_chat(int argc, char **argv);
const cli_cmd cmd_chat = {"chat", "-m MODEL [--system S] [--ctx-shift] [sampling options]",
                          "Chat with a model in the terminal (Ctrl-C stops an answer; /help lists the commands).",
                          run_chat, chat_opts};

typedef struct chat {
    session s;
    lair_jinja *tmpl;
    json_t *messages; /* [{role, content}] */
} chat;

static lair_status load_template(chat *c, lair_err *e) {
    if (!opt_template_file) {
        bool fallback = false;
        lair_status st = lair_chat_template_load(c->s.model, &c->tmpl, &fallback, e);
        if (st == LAIR_OK && fallback) fprintf(stderr, "lair: warning: the model has no chat template; using ChatML\n");
        return st;
    }
    size_t len = 0;
    char *src = term_read_file(opt_template_file, &len);
    if (!src) return lair_err_set(e, LAIR_ERR_IO, "cannot read '%s'", opt_template_file);
    lair_status st = lair_jinja_parse(src, len, &c->tmpl, e);
    free(src);
    return st;
}

/* Renders the conversation with the generation prompt and tokenizes it. */
static lair_status build_prompt(chat *c, lair_tokens *out, lair_err *e) {
    char *text = NULL;
    size_t len = 0;
    lair_status st = lair_chat_render(c->tmpl, c->s.vocab, c->messages, NULL, true, &text, &len, e);
    if (st == LAIR_OK) st = lair_chat_tokenize(c->s.vocab, text, len, c->messages, out, e);
    lair_free(text);
    return st;
}

static void add_message(chat *c, const char *role, const char *content) {
    json_array_append_new(c->messages, json_pack("{s:s, s:s}", "role", role, "content", content));
}

static void reset(chat *c) {
    json_array_clear(c->messages);
    if (opt_system && opt_system[0]) add_message(c, "system", opt_system);
}

/* First message after the system prompt (the oldest turn), or -1. */
static int oldest_turn(const chat *c) {
    size_t n = json_array_size(c->messages);
    for (size_t i = 0; i < n; i++) {
        const char *role = json_string_value(json_object_get(json_array_get(c->messages, i), "role"));
        if (!role || strcmp(role, "system") != 0) return i + 1 < n ? (int)i : -1; /* never the message being answered */
    }
    return -1;
}

static bool valid_conversation(json_t *j) {
    if (!json_is_array(j)) return false;
    size_t i;
    json_t *m;
    json_array_foreach(j, i, m) {
        if (!json_is_string(json_object_get(m, "role")) || !json_is_string(json_object_get(m, "content"))) return false;
    }
    return true;
}

/* One user turn: prompt, answer, remember it.  Returns false on a fatal error. */
static bool turn(chat *c, const char *line) {
    lair_err e = {0};
    lair_tokens prompt = {0};
    gen_stats st = {0};
    add_message(c, "user", line);
    for (;;) {
        if (build_prompt(c, &prompt, &e) != LAIR_OK) {
            fprintf(stderr, "lair: %s\n", e.msg);
            json_array_remove(c->messages, json_array_size(c->messages) - 1);
            lair_tokens_free(&prompt);
            return true;
        }
        if (prompt.n + 8 < (size_t)c->s.n_ctx) break;
        int old = opt_ctx_shift ? oldest_turn(c) : -1;
        if (old < 0) {
            fprintf(stderr,
                    "lair: the conversation is %zu tokens and no longer fits the %d-token context; /reset starts "
                    "over, --ctx N gives a larger context, --ctx-shift drops the oldest turns\n",
                    prompt.n, c->s.n_ctx);
            json_array_remove(c->messages, json_array_size(c->messages) - 1);
            lair_tokens_free(&prompt);
            return true;
        }
        json_array_remove(c->messages, (size_t)old);
        fprintf(stderr, "lair: context full: dropped the oldest message\n");
    }
    if (opt_verbose_prompt) {
        fprintf(stderr, "prompt:");
        for (size_t i = 0; i < prompt.n; i++) fprintf(stderr, " %d", prompt.ids[i]);
        fputc('\n', stderr);
    }
    char *answer = NULL;
    term_interrupted = 0;
    lair_status rc = session_prefill(&c->s, prompt.ids, prompt.n, &st, &e);
    if (rc == LAIR_OK) rc = session_generate(&c->s, g_gen.n_predict, NULL, &term_interrupted, term_emit_text, NULL,
                                             &answer, &st, &e);
    lair_tokens_free(&prompt);
    if (rc != LAIR_OK) {
        fprintf(stderr, "\nlair: %s\n", e.msg);
        lair_free(answer);
        json_array_remove(c->messages, json_array_size(c->messages) - 1);
        return true;
    }
    if (st.end == GEN_INTERRUPTED) fputs(" [interrupted]", stdout);
    if (st.end == GEN_CONTEXT_FULL) fputs(" [context full]", stdout);
    fputc('\n', stdout);
    fflush(stdout);
    term_interrupted = 0;
    add_message(c, "assistant", answer ? answer : "");
    lair_free(answer);
    if (opt_stats) session_print_stats(&c->s, &st);
    return true;
}

static void help(void) {
    puts("/reset       start a new conversation (keeps the system prompt)\n"
         "/save FILE   save the conversation as JSON\n"
         "/load FILE   load a conversation saved with /save\n"
         "/quit        leave (also Ctrl-D)\n"
         "Ctrl-C stops the answer being written.");
}

static int run_chat(int argc, char **argv) {
    gen_cli_defaults();
    int n_pos;
    const char *pos[1];
    int rc = cli_parse(&cmd_chat, argc, argv, pos, 0, &n_pos);
    if (rc) return rc == 2 ? 0 : 1;
    session_opts so;
    if (gen_cli_session("chat", &so)) return 1;
    chat c;
    memset(&c, 0, sizeof c);
    lair_err e = {0};
    if (session_open(&c.s, &so, &e) != LAIR_OK || load_template(&c, &e) != LAIR_OK) {
        fprintf(stderr, "lair: %s\n", e.msg);
        lair_jinja_free(c.tmpl);
        session_close(&c.s);
        return 1;
    }
    c.messages = json_array();
    reset(&c);
    term_catch_interrupt();
    fprintf(stderr, "lair chat: %s, context %d tokens. /help for commands, Ctrl-D to leave.\n", g_gen.model, c.s.n_ctx);
    for (;;) {
        bool cancelled;
        char *line = term_read_line("> ", &cancelled);
        if (!line) break;
        term_add_history(line);
        if (strcmp(line, "/quit") == 0 || strcmp(line, "/exit") == 0) {
            free(line);
            break;
        } else if (strcmp(line, "/help") == 0) {
            help();
        } else if (strcmp(line, "/reset") == 0) {
            reset(&c);
            lair_kv_clear(c.s.ctx);
            c.s.kv.n = 0;
            puts("[conversation reset]");
        } else if (strncmp(line, "/save ", 6) == 0) {
            if (json_dump_file(c.messages, line + 6, JSON_INDENT(2)) == 0) printf("[saved %zu messages to %s]\n",
                                                                                 json_array_size(c.messages), line + 6);
            else fprintf(stderr, "lair: cannot write '%s'\n", line + 6);
        } else if (strncmp(line, "/load ", 6) == 0) {
            json_error_t je;
            json_t *j = json_load_file(line + 6, 0, &je);
            if (!j || !valid_conversation(j)) {
                fprintf(stderr, "lair: '%s' is not a saved conversation%s%s\n", line + 6, j ? "" : ": ",
                        j ? "" : je.text);
                json_decref(j);
            } else {
                json_decref(c.messages);
                c.messages = j;
                printf("[loaded %zu messages]\n", json_array_size(j));
            }
        } else if (line[0] == '/') {
            fprintf(stderr, "lair: unknown command '%s' (/help lists them)\n", line);
        } else if (line[0] && !cancelled) {
            turn(&c, line);
        }
        fflush(stdout);
        free(line);
    }
    json_decref(c.messages);
    lair_jinja_free(c.tmpl);
    session_close(&c.s);
    return 0;
}
