/* lair tokenize: text to token ids with a model's (or vocabulary file's)
 * tokenizer; --bench measures tokenizer throughput on one core. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/alloc.h"
#include "core/platform.h"
#include "lair.h"

static const char *opt_model, *opt_text, *opt_file;
static bool opt_no_special, opt_pieces, opt_bench;
static int opt_runs = 5;
static uint64_t opt_bench_bytes = 4u << 20;

static const cli_opt tokenize_opts[] = {
    {"model", 'm', CLI_STR, &opt_model, "FILE", "GGUF model or vocabulary file (required)"},
    {"text", 0, CLI_STR, &opt_text, "S", "text to tokenize"},
    {"file", 'f', CLI_STR, &opt_file, "F", "read the text from a file (- for stdin)"},
    {"no-special", 0, CLI_FLAG, &opt_no_special, NULL, "add no BOS/EOS and read special-token text as plain text"},
    {"pieces", 0, CLI_FLAG, &opt_pieces, NULL, "also print each token's id and piece, one per line"},
    {"bench", 0, CLI_FLAG, &opt_bench, NULL, "measure throughput (MB/s, one core) instead of printing ids"},
    {"runs", 0, CLI_INT, &opt_runs, "N", "--bench: timed runs, median reported (default 5)"},
    {"bench-bytes", 0, CLI_SIZE, &opt_bench_bytes, "SIZE", "--bench: repeat the text up to this size (default 4M)"},
    {0},
};

static int run_tokenize(int argc, char **argv);
const cli_cmd cmd_tokenize = {"tokenize", "-m MODEL (--text S | --file F) [--no-special] [--pieces] [--bench]",
                              "Print the token ids of a text (one line, separated by spaces).", run_tokenize,
                              tokenize_opts};

/* Whole stdin or file into a malloc'd buffer. */
static char *read_all(const char *path, size_t *len) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (size_t r; buf && (r = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += r;
        if (n == cap) {
            char *g = realloc(buf, cap *= 2);
            if (!g) {
                free(buf);
                buf = NULL;
            }
            buf = g;
        }
    }
    bool bad = ferror(f);
    if (f != stdin) fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* A piece with bytes that would disturb a terminal written as escapes. */
static void print_piece(const char *p, size_t n) {
    putchar('\'');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\r') fputs("\\r", stdout);
        else if (c == '\\' || c == '\'') printf("\\%c", c);
        else if (c < 0x20 || c == 0x7F) printf("\\x%02x", c);
        else putchar(c);
    }
    putchar('\'');
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int bench(const lair_vocab *v, const char *text, size_t len, unsigned flags) {
    if (len == 0) return cli_error("tokenize", "--bench needs a non-empty text");
    if (opt_runs < 1 || opt_runs > 1000) return cli_error("tokenize", "--runs must be in 1..1000");
    size_t total = len;
    while (total < opt_bench_bytes) total += len;
    char *big = malloc(total);
    if (!big) return cli_error("tokenize", "out of memory");
    for (size_t o = 0; o < total; o += len) memcpy(big + o, text, len);
    double *secs = malloc((size_t)opt_runs * sizeof *secs);
    size_t n_tokens = 0;
    for (int r = 0; r < opt_runs; r++) {
        lair_tokens t = {0};
        lair_err e = {0};
        double t0 = lair_time_seconds();
        lair_status st = lair_tokenize(v, big, total, flags, &t, &e);
        secs[r] = lair_time_seconds() - t0;
        n_tokens = t.n;
        lair_tokens_free(&t);
        if (st != LAIR_OK) {
            free(big);
            free(secs);
            fprintf(stderr, "lair: %s\n", e.msg);
            return 1;
        }
    }
    qsort(secs, (size_t)opt_runs, sizeof *secs, cmp_double);
    double med = secs[opt_runs / 2];
    printf("tokenizer %s (pre %s): %zu bytes (input repeated %zu times) -> %zu tokens, %.2f bytes/token\n",
           lair_vocab_model(v), lair_vocab_pre(v), total, total / len, n_tokens, (double)total / (double)n_tokens);
    printf("median of %d runs: %.3f s, %.2f MB/s, %.0f tokens/s (min %.3f s, max %.3f s)\n", opt_runs, med,
           (double)total / med / 1e6, (double)n_tokens / med, secs[0], secs[opt_runs - 1]);
    free(big);
    free(secs);
    return 0;
}

static int run_tokenize(int argc, char **argv) {
    int n_pos;
    const char *pos[1];
    int rc = cli_parse(&cmd_tokenize, argc, argv, pos, 0, &n_pos);
    if (rc) return rc == 2 ? 0 : 1;
    if (!opt_model) return cli_error("tokenize", "-m MODEL is required");
    if (!!opt_text == !!opt_file) return cli_error("tokenize", "give exactly one of --text and --file");
    size_t len = 0;
    char *owned = NULL;
    const char *text = opt_text;
    if (opt_file) {
        owned = read_all(opt_file, &len);
        if (!owned) return cli_error("tokenize", "cannot read '%s'", opt_file);
        text = owned;
    } else {
        len = strlen(opt_text);
    }
    lair_vocab *v = NULL;
    lair_err e = {0};
    if (lair_vocab_load(opt_model, &v, &e) != LAIR_OK) {
        free(owned);
        fprintf(stderr, "lair: %s\n", e.msg);
        return 1;
    }
    if (lair_vocab_warning(v)) fprintf(stderr, "lair: warning: %s\n", lair_vocab_warning(v));
    unsigned flags = opt_no_special ? 0 : LAIR_TOK_ADD_SPECIAL | LAIR_TOK_PARSE_SPECIAL;
    if (opt_bench) {
        rc = bench(v, text, len, flags);
    } else {
        lair_tokens t = {0};
        if (lair_tokenize(v, text, len, flags, &t, &e) != LAIR_OK) {
            fprintf(stderr, "lair: %s\n", e.msg);
            rc = 1;
        } else {
            for (size_t i = 0; i < t.n; i++) printf(i ? " %d" : "%d", t.ids[i]);
            putchar('\n');
            for (size_t i = 0; opt_pieces && i < t.n; i++) {
                char piece[1024];
                size_t n = lair_token_piece(v, t.ids[i], true, piece, sizeof piece);
                printf("%d\t", t.ids[i]);
                print_piece(piece, n < sizeof piece ? n : sizeof piece);
                putchar('\n');
            }
        }
        lair_tokens_free(&t);
    }
    lair_vocab_free(v);
    free(owned);
    return rc;
}
