/* lair logits: evaluate a token sequence and write every position's logits
 * (the acceptance test of the engine against reference logits). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/alloc.h"
#include "core/platform.h"
#include "lair.h"
#include "tensor/format.h"

static const char *opt_model, *opt_tokens, *opt_kv = "f16", *opt_out;
static int opt_greedy, opt_threads;

static const cli_opt logits_opts[] = {
    {"model", 'm', CLI_STR, &opt_model, "FILE", "GGUF model (required)"},
    {"tokens", 0, CLI_STR, &opt_tokens, "IDS", "comma-separated token ids, evaluated from position 0 (required)"},
    {"kv-type", 0, CLI_STR, &opt_kv, "T", "KV cache type: f32, f16 (default), q8_0, q4_0"},
    {"out", 0, CLI_STR, &opt_out, "FILE", "write n_tokens rows of n_vocab float32 logits (little-endian)"},
    {"greedy", 0, CLI_INT, &opt_greedy, "N", "then continue N tokens by argmax and print them"},
    {"threads", 't', CLI_INT, &opt_threads, "N", "threads (default: CPU count)"},
    {0},
};

static int run_logits(int argc, char **argv);
const cli_cmd cmd_logits = {"logits", "-m FILE --tokens 1,2,3 [--kv-type T] [--out FILE.f32] [--greedy N]",
                            "Evaluate tokens as one sequence and output every position's logits.", run_logits,
                            logits_opts};

/* "1, 2,3" -> ids; returns the count or -1 (message printed). */
static int parse_tokens(const char *s, int32_t **out) {
    int cap = 16, n = 0;
    int32_t *ids = lair_malloc((size_t)cap * sizeof *ids);
    while (ids && *s) {
        while (*s == ' ' || *s == ',') s++;
        if (!*s) break;
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || v < 0 || v > 2147483647L) {
            cli_error("logits", "--tokens: '%.20s' is not a token id", s);
            lair_free(ids);
            return -1;
        }
        if (n == cap) {
            int32_t *g = lair_realloc(ids, (size_t)(cap *= 2) * sizeof *ids);
            if (!g) break;
            ids = g;
        }
        ids[n++] = (int32_t)v;
        s = end;
    }
    *out = ids;
    return n;
}

static int32_t argmax(const float *v, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return (int32_t)best;
}

static int run_logits(int argc, char **argv) {
    const char *pos[1];
    int n_pos;
    int r = cli_parse(&cmd_logits, argc, argv, pos, 0, &n_pos);
    if (r) return r == 2 ? 0 : 1;
    if (!opt_model || !opt_tokens) return cli_error("logits", "-m FILE and --tokens IDS are required");
    if (opt_greedy < 0) return cli_error("logits", "--greedy must be >= 0");
    lair_type kv;
    if (!lair_type_from_name(opt_kv, &kv)) return cli_error("logits", "unknown KV type '%s'", opt_kv);
    int32_t *ids = NULL;
    int n = parse_tokens(opt_tokens, &ids);
    if (n <= 0) {
        lair_free(ids);
        return n == 0 ? cli_error("logits", "--tokens is empty") : 1;
    }
    lair_err err;
    lair_model *m = NULL;
    lair_context *c = NULL;
    lair_batch_entry *batch = NULL;
    FILE *out = NULL;
    int rc = 1;
    double t0 = lair_time_seconds();
    if (lair_model_load(opt_model, &m, &err)) goto fail;
    lair_context_params p = lair_context_default_params();
    p.n_ctx = n + opt_greedy + 1;
    p.n_batch = n;
    p.kv_type = kv;
    p.n_threads = opt_threads;
    if (lair_context_create(m, &p, &c, &err)) goto fail;
    batch = lair_malloc((size_t)n * sizeof *batch);
    if (!batch) {
        fprintf(stderr, "lair: out of memory\n");
        goto out;
    }
    for (int i = 0; i < n; i++) batch[i] = (lair_batch_entry){ids[i], i, 0, true};
    double t1 = lair_time_seconds();
    if (lair_decode(c, batch, n, &err)) goto fail;
    double t2 = lair_time_seconds();
    int64_t V = lair_model_n_vocab(m);
    if (opt_out) {
        out = fopen(opt_out, "wb");
        if (!out) {
            fprintf(stderr, "lair: %s: cannot create: %s\n", opt_out, strerror(errno));
            goto out;
        }
        for (int i = 0; i < n; i++)
            if (fwrite(lair_logits(c, i), sizeof(float), (size_t)V, out) != (size_t)V) {
                fprintf(stderr, "lair: %s: write failed\n", opt_out);
                goto out;
            }
        if (fclose(out) != 0) {
            out = NULL;
            fprintf(stderr, "lair: %s: write failed\n", opt_out);
            goto out;
        }
        out = NULL;
    }
    fprintf(stderr, "lair logits: %d tokens, load %.3f s, evaluate %.3f s\n", n, t1 - t0, t2 - t1);
    if (opt_greedy > 0) {
        int32_t next = argmax(lair_logits(c, n - 1), V);
        for (int g = 0; g < opt_greedy; g++) {
            printf("%s%d", g ? "," : "", next);
            lair_batch_entry e = {next, n + g, 0, true};
            if (g + 1 < opt_greedy) {
                if (lair_decode(c, &e, 1, &err)) goto fail;
                next = argmax(lair_logits(c, 0), V);
            }
        }
        printf("\n");
    }
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "lair: %s\n", err.msg);
out:
    if (out) fclose(out);
    lair_free(batch);
    lair_free(ids);
    lair_context_free(c);
    lair_model_free(m);
    return rc;
}
