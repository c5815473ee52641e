/* lair grammar: parse a GBNF grammar and check texts against it, or measure
 * the per-token mask cost by replaying a text's tokens through a matcher. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "term.h"
#include "core/alloc.h"
#include "core/platform.h"
#include "grammar/grammar.h"
#include "grammar/grammar_internal.h"
#include "grammar/schema.h"
#include "lair.h"

static const char *opt_gbnf, *opt_schema, *opt_model, *opt_text, *opt_root;
static bool opt_check, opt_bench;
static int opt_runs = 3;

static const cli_opt grammar_opts[] = {
    {"gbnf", 0, CLI_STR, &opt_gbnf, "FILE", "the grammar (GBNF text)"},
    {"schema", 0, CLI_STR, &opt_schema, "FILE", "a JSON Schema, compiled to GBNF (instead of --gbnf)"},
    {"root", 0, CLI_STR, &opt_root, "NAME", "start rule (default root)"},
    {"check", 0, CLI_FLAG, &opt_check, NULL, "check each TEXTFILE given after the options: ok / rejected at byte N"},
    {"model", 'm', CLI_STR, &opt_model, "FILE", "--bench: GGUF model or vocabulary file"},
    {"bench", 0, CLI_FLAG, &opt_bench, NULL, "time the token mask while replaying --text token by token"},
    {"text", 0, CLI_STR, &opt_text, "FILE", "--bench: a text the grammar accepts"},
    {"runs", 0, CLI_INT, &opt_runs, "N", "--bench: replays, each with a fresh matcher (default 3)"},
    {0},
};

static int run_grammar(int argc, char **argv);
const cli_cmd cmd_grammar = {"grammar",
                             "(--gbnf FILE | --schema FILE) [--check TEXTFILE...] [-m MODEL --bench --text FILE]",
                             "Parse a GBNF grammar; check texts against it or time its token masks.", run_grammar,
                             grammar_opts};


static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Prints "label: n masks, median / p99 / max µs" of the sorted times. */
static void print_times(const char *label, double *us, size_t n) {
    if (n == 0) {
        printf("  %-12s none\n", label);
        return;
    }
    qsort(us, n, sizeof *us, cmp_double);
    size_t p99 = (size_t)((double)(n - 1) * 0.99 + 0.5);
    printf("  %-12s %8zu masks  median %9.1f us  p99 %9.1f us  max %9.1f us\n", label, n, us[n / 2], us[p99],
           us[n - 1]);
}

/* CPU seconds of this thread: a mask's cost without the time other
 * processes held the core (a shared machine's wall times have spikes). */
static double thread_cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int bench(const lair_grammar *g, const char *text, size_t len) {
    if (!opt_model) return cli_error("grammar", "--bench needs -m MODEL");
    if (opt_runs < 1 || opt_runs > 1000) return cli_error("grammar", "--runs must be in 1..1000");
    lair_vocab *v = NULL;
    lair_err e = {0};
    if (lair_vocab_load(opt_model, &v, &e) != LAIR_OK) {
        fprintf(stderr, "lair: %s\n", e.msg);
        return 1;
    }
    int rc = 1;
    lair_grammar_vocab *gv = NULL;
    lair_tokens toks = {0};
    double *all = NULL, *first = NULL, *cached = NULL, *cpu = NULL;
    uint32_t *mask = NULL;
    double t0 = lair_time_seconds();
    if (lair_grammar_vocab_create(v, &gv, &e) != LAIR_OK) {
        fprintf(stderr, "lair: %s\n", e.msg);
        goto out;
    }
    double t_trie = lair_time_seconds() - t0;
    if (lair_tokenize(v, text, len, 0, &toks, &e) != LAIR_OK) {
        fprintf(stderr, "lair: %s\n", e.msg);
        goto out;
    }
    int32_t n_vocab = lair_vocab_n_tokens(v);
    size_t n_masks = (toks.n + 1) * (size_t)opt_runs;
    all = malloc(n_masks * sizeof *all);
    first = malloc(n_masks * sizeof *first);
    cached = malloc(n_masks * sizeof *cached);
    cpu = malloc(n_masks * sizeof *cpu);
    mask = malloc(((size_t)n_vocab + 31) / 32 * sizeof *mask);
    if (!all || !first || !cached || !cpu || !mask) {
        fprintf(stderr, "lair: out of memory\n");
        goto out;
    }
    size_t n_all = 0, n_first = 0, n_cached = 0;
    int64_t allowed_sum = 0;
    double worst_us = -1; /* the slowest mask: before token worst_i */
    size_t worst_i = 0;
    for (int r = 0; r < opt_runs; r++) {
        lair_grammar_matcher *m = NULL;
        if (lair_grammar_matcher_create(g, gv, &m, &e) != LAIR_OK) {
            fprintf(stderr, "lair: %s\n", e.msg);
            goto out;
        }
        for (size_t i = 0; i <= toks.n; i++) {
            int64_t h0, m0, h1, m1;
            lair_grammar_matcher_stats(m, &h0, &m0);
            double c0 = thread_cpu_seconds(), a = lair_time_seconds();
            int64_t cnt = lair_grammar_matcher_mask(m, mask, n_vocab, -1);
            double us = (lair_time_seconds() - a) * 1e6;
            cpu[n_all] = (thread_cpu_seconds() - c0) * 1e6;
            lair_grammar_matcher_stats(m, &h1, &m1);
            allowed_sum += cnt;
            if (cpu[n_all] > worst_us) {
                worst_us = cpu[n_all];
                worst_i = i;
            }
            all[n_all++] = us;
            if (m1 > m0) first[n_first++] = us;
            else cached[n_cached++] = us;
            if (i == toks.n) break;
            lair_token t = toks.ids[i];
            bool in_mask = t >= 0 && t < n_vocab && (mask[t >> 5] >> (t & 31) & 1);
            if (!in_mask || lair_grammar_matcher_accept(m, t, &e) != LAIR_OK) {
                char piece[256];
                size_t pl = lair_token_piece(v, t, false, piece, sizeof piece);
                fprintf(stderr, "lair: grammar: the text's token %zu (id %d, '%.*s') is not allowed by the grammar\n", i,
                        (int)t, (int)(pl < sizeof piece ? pl : sizeof piece), piece);
                lair_grammar_matcher_free(m);
                goto out;
            }
        }
        if (r == 0 && !lair_grammar_matcher_complete(m))
            fprintf(stderr, "lair: warning: the text is a prefix of a sentence, not a complete one\n");
        lair_grammar_matcher_free(m);
    }
    printf("vocabulary %s: %d tokens, %d trie nodes (built in %.1f ms, all bytes: %s)\n", lair_vocab_model(v),
           (int)n_vocab, (int)gv->n_nodes,
           t_trie * 1e3, lair_grammar_vocab_has_all_bytes(gv) ? "yes" : "no");
    printf("plain-text index: %lld tokens of 1..%d code points; the other tokens' trie: %d nodes\n",
           gv->plain_max ? (long long)gv->plain_count[gv->plain_max] : 0LL, (int)gv->plain_max,
           gv->rest ? (int)gv->rest->n_nodes : 0);
    printf("text: %zu bytes, %zu tokens; %d runs; %.0f tokens allowed per mask on average\n", len, toks.n, opt_runs,
           (double)allowed_sum / (double)n_all);
    print_times("all", all, n_all);
    print_times("first visit", first, n_first);
    print_times("cached", cached, n_cached);
    print_times("all, cpu", cpu, n_all);
    if (n_all) {
        size_t at = 0; /* text bytes before token worst_i */
        for (size_t i = 0; i < worst_i && i < toks.n; i++) {
            char piece[256];
            at += lair_token_piece(v, toks.ids[i], false, piece, sizeof piece);
        }
        printf("  slowest mask: %.1f us cpu, before token %zu (text byte %zu)\n", worst_us, worst_i, at);
    }
    rc = 0;
out:
    free(all);
    free(first);
    free(cached);
    free(cpu);
    free(mask);
    lair_tokens_free(&toks);
    lair_grammar_vocab_free(gv);
    lair_vocab_free(v);
    return rc;
}

static int run_grammar(int argc, char **argv) {
    int n_pos;
    const char *pos[64];
    int rc = cli_parse(&cmd_grammar, argc, argv, pos, 64, &n_pos);
    if (rc) return rc == 2 ? 0 : 1;
    if (!!opt_gbnf == !!opt_schema) return cli_error("grammar", "give exactly one of --gbnf FILE and --schema FILE");
    if (n_pos && !opt_check) return cli_error("grammar", "text files given without --check");
    if (opt_check && n_pos == 0) return cli_error("grammar", "--check needs at least one TEXTFILE");
    if (opt_bench && !opt_text) return cli_error("grammar", "--bench needs --text FILE");
    const char *gpath = opt_gbnf ? opt_gbnf : opt_schema;
    size_t glen;
    char *gtext = term_read_file(gpath, &glen);
    if (!gtext) return cli_error("grammar", "cannot read '%s'", gpath);
    lair_grammar *g = NULL;
    lair_err e = {0};
    if (opt_schema) { /* JSON Schema -> GBNF, then as --gbnf */
        json_error_t je;
        json_t *schema = json_loadb(gtext, glen, 0, &je);
        free(gtext);
        if (!schema) return cli_error("grammar", "%s: not valid JSON: line %d: %s", gpath, je.line, je.text);
        lair_schema_opts so = lair_schema_default_opts();
        char *gbnf = NULL, *unenforced = NULL;
        lair_status sst = lair_schema_to_gbnf(schema, &so, &gbnf, &unenforced, &e);
        json_decref(schema);
        lair_free(unenforced); /* strict: nothing is dropped */
        if (sst != LAIR_OK) {
            fprintf(stderr, "lair: %s: %s\n", gpath, e.msg);
            return 1;
        }
        glen = strlen(gbnf);
        gtext = malloc(glen + 1);
        if (gtext) memcpy(gtext, gbnf, glen + 1);
        lair_free(gbnf);
        if (!gtext) return cli_error("grammar", "out of memory");
    }
    double t0 = lair_time_seconds();
    lair_status st = lair_grammar_parse(gtext, glen, opt_root, NULL, &g, &e);
    double dt = lair_time_seconds() - t0;
    free(gtext);
    if (st != LAIR_OK) {
        fprintf(stderr, "lair: %s: %s\n", gpath, e.msg);
        return 1;
    }
    if (!opt_check && !opt_bench) printf("ok: %s parsed in %.2f ms\n", gpath, dt * 1e3);
    rc = 0;
    for (int k = 0; opt_check && k < n_pos; k++) {
        size_t len;
        char *t = term_read_file(pos[k], &len);
        if (!t) {
            rc = cli_error("grammar", "cannot read '%s'", pos[k]);
            continue;
        }
        if (lair_grammar_accepts(g, t, len)) {
            printf("%s: ok\n", pos[k]);
        } else {
            size_t n = lair_grammar_valid_prefix(g, t, len);
            printf("%s: rejected at byte %zu%s\n", pos[k], n, n == len ? " (incomplete)" : "");
            rc = 1;
        }
        free(t);
    }
    if (opt_bench) {
        size_t len;
        char *t = term_read_file(opt_text, &len);
        if (!t) rc = cli_error("grammar", "cannot read '%s'", opt_text);
        else if (bench(g, t, len)) rc = 1;
        free(t);
    }
    lair_grammar_free(g);
    return rc;
}
