/* lair run: complete a prompt, streaming the text to stdout; timings on stderr. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sampling_opts.h"
#include "term.h"

static const char *opt_prompt, *opt_prompt_file;
static bool opt_no_special;

static const cli_opt run_opts[] = {
    {"prompt", 'p', CLI_STR, &opt_prompt, "TEXT", "the prompt"},
    {"file", 'f', CLI_STR, &opt_prompt_file, "FILE", "read the prompt from a file (- for stdin)"},
    {"no-special", 0, CLI_FLAG, &opt_no_special, NULL, "read special-token text in the prompt as plain text"},
    CLI_GEN_OPTS,
    {0},
};

static int run_run(int argc, char **argv);
const cli_cmd cmd_run = {"run", "-m MODEL (-p PROMPT | -f FILE) [-n N] [--temp T] [--seed S] [--top-k K] ...",
                         "Complete a prompt with a model and stream the text to stdout (timings on stderr).", run_run,
                         run_opts};

static int run_run(int argc, char **argv) {
    gen_cli_defaults();
    int n_pos;
    const char *pos[1];
    int rc = cli_parse(&cmd_run, argc, argv, pos, 0, &n_pos);
    if (rc) return rc == 2 ? 0 : 1;
    if (!!opt_prompt == !!opt_prompt_file) return cli_error("run", "give exactly one of -p PROMPT and -f FILE");
    session_opts so;
    if (gen_cli_session("run", &so)) return 1;
    size_t plen = 0;
    char *owned = NULL;
    const char *prompt = opt_prompt;
    if (opt_prompt_file) {
        owned = term_read_file(opt_prompt_file, &plen);
        if (!owned) return cli_error("run", "cannot read '%s'", opt_prompt_file);
        prompt = owned;
    } else {
        plen = strlen(prompt);
    }
    session s;
    lair_err e = {0};
    lair_tokens toks = {0};
    gen_stats st = {0};
    if (session_open(&s, &so, &e) != LAIR_OK) {
        free(owned);
        fprintf(stderr, "lair: %s\n", e.msg);
        return 1;
    }
    unsigned flags = LAIR_TOK_ADD_SPECIAL | (opt_no_special ? 0 : LAIR_TOK_PARSE_SPECIAL);
    rc = 1;
    if (lair_tokenize(s.vocab, prompt, plen, flags, &toks, &e) == LAIR_OK &&
        session_prefill(&s, toks.ids, toks.n, &st, &e) == LAIR_OK) {
        term_catch_interrupt();
        if (session_generate(&s, g_gen.n_predict, NULL, &term_interrupted, term_emit_text, NULL, NULL, &st, &e) ==
            LAIR_OK) {
            rc = 0;
            session_print_stats(&s, &st);
        }
    }
    if (rc) fprintf(stderr, "lair: %s\n", e.msg);
    lair_tokens_free(&toks);
    session_close(&s);
    free(owned);
    return rc;
}
