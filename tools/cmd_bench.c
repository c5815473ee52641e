/* lair bench: prefill and decode speed of a model on this machine, and how
 * close decode comes to the memory-bandwidth limit (the roofline). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_serve.h"
#include "cli.h"
#include "core/alloc.h"
#include "core/membw.h"
#include "core/platform.h"
#include "core/rng.h"
#include "engine/context.h"
#include "lair.h"
#include "model/model.h"
#include "tensor/format.h"

static const char *opt_model, *opt_kv = "f16";
static int opt_p = 512, opt_n = 128, opt_threads, opt_reps = 5;
static bool opt_json, opt_roofline;

static const cli_opt bench_opts[] = {
    {"model", 'm', CLI_STR, &opt_model, "FILE", "GGUF model (required)"},
    {"prompt", 'p', CLI_INT, &opt_p, "N", "prompt tokens for the prefill test (default 512; 0 skips it)"},
    {"gen", 'n', CLI_INT, &opt_n, "N", "tokens for the decode test (default 128; 0 skips it)"},
    {"threads", 't', CLI_INT, &opt_threads, "N", "threads (default: CPU count)"},
    {"reps", 'r', CLI_INT, &opt_reps, "N", "repetitions (default 5)"},
    {"kv-type", 0, CLI_STR, &opt_kv, "T", "KV cache type (default f16)"},
    {"roofline", 0, CLI_FLAG, &opt_roofline, NULL, "measure memory bandwidth and report decode as % of its limit"},
    {"json", 0, CLI_FLAG, &opt_json, NULL, "machine-readable output"},
    {0},
};

static int run_bench(int argc, char **argv);
const cli_cmd cmd_bench = {"bench",
                           "-m FILE [-p 512] [-n 128] [-t N] [-r 5] [--roofline] [--json]\n"
                           "       lair bench serve --endpoint URL --model NAME [...]   (lair bench serve --help)\n"
                           "       lair bench report A.json [B.json ...] [--out DIR]",
                           "Measure prefill and decode speed (tokens/s) and the decode roofline; load-test a server.", run_bench,
                           bench_opts};

typedef struct stats {
    double mean, sd, median;
} stats;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static stats summarize(double *v, int n) {
    stats s = {0, 0, 0};
    for (int i = 0; i < n; i++) s.mean += v[i];
    s.mean /= n;
    for (int i = 0; i < n; i++) s.sd += (v[i] - s.mean) * (v[i] - s.mean);
    s.sd = n > 1 ? sqrt(s.sd / (n - 1)) : 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    return s;
}

/* Bytes of weights one decode step reads: every tensor except the
 * embedding table (one row of it), unless the output projection reuses it. */
static uint64_t bytes_per_token(const lair_model *m) {
    uint64_t total = 0;
    for (uint64_t i = 0; i < m->gguf->n_tensors; i++) total += m->gguf->tensors[i]->nbytes;
    if (m->output != m->tok_embd) total -= m->tok_embd->nbytes;
    return total;
}

static int run_bench(int argc, char **argv) {
    /* lair bench serve / lair bench report: argv[1] names the sub-command */
    if (argc > 1 && strcmp(argv[1], "serve") == 0) return bench_serve_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "report") == 0) return bench_report_main(argc - 1, argv + 1);
    const char *pos[1];
    int n_pos;
    int r = cli_parse(&cmd_bench, argc, argv, pos, 0, &n_pos);
    if (r) return r == 2 ? 0 : 1;
    if (!opt_model) return cli_error("bench", "missing -m FILE");
    if (opt_p < 0 || opt_n < 0 || (opt_p == 0 && opt_n == 0)) return cli_error("bench", "-p and -n must be >= 0, not both 0");
    if (opt_reps < 1 || opt_reps > 1000) return cli_error("bench", "-r must be 1 to 1000");
    lair_type kv;
    if (!lair_type_from_name(opt_kv, &kv)) return cli_error("bench", "unknown KV type '%s'", opt_kv);
    int threads = opt_threads > 0 ? opt_threads : lair_cpu_count();
    lair_err err;
    lair_model *m = NULL;
    lair_context *c = NULL;
    lair_batch_entry *b = NULL;
    double *pp = NULL, *tg = NULL;
    int rc = 1;
    double t0 = lair_time_seconds();
    if (lair_model_load(opt_model, &m, &err)) goto fail;
    lair_context_params p = lair_context_default_params();
    p.n_ctx = opt_p + opt_n + 1;
    p.n_batch = opt_p > 0 ? (opt_p < 512 ? opt_p : 512) : 1;
    p.kv_type = kv;
    p.n_threads = threads;
    if (lair_context_create(m, &p, &c, &err)) goto fail;
    double load_s = lair_time_seconds() - t0;
    int64_t V = lair_model_n_vocab(m);
    b = lair_malloc((size_t)p.n_batch * sizeof *b);
    pp = lair_calloc((size_t)opt_reps, sizeof *pp);
    tg = lair_calloc((size_t)opt_reps, sizeof *tg);
    if (!b || !pp || !tg) {
        fprintf(stderr, "lair: out of memory\n");
        goto out;
    }
    lair_rng rng = lair_rng_seed(1);
    double first_token_s = 0;
    /* one untimed warm-up step pages the weights in */
    b[0] = (lair_batch_entry){(int32_t)lair_rng_below(&rng, (uint64_t)V), 0, 0, true};
    if (lair_decode(c, b, 1, &err)) goto fail;
    first_token_s = lair_time_seconds() - t0;
    for (int rep = 0; rep < opt_reps; rep++) {
        lair_kv_clear(c);
        if (opt_p > 0) {
            double s0 = lair_time_seconds();
            for (int done = 0; done < opt_p; done += p.n_batch) {
                int k = opt_p - done < p.n_batch ? opt_p - done : p.n_batch;
                for (int i = 0; i < k; i++)
                    b[i] = (lair_batch_entry){(int32_t)lair_rng_below(&rng, (uint64_t)V), done + i, 0, done + i == opt_p - 1};
                if (lair_decode(c, b, k, &err)) goto fail;
            }
            pp[rep] = opt_p / (lair_time_seconds() - s0);
        }
        if (opt_n > 0) {
            double s0 = lair_time_seconds();
            for (int i = 0; i < opt_n; i++) {
                b[0] = (lair_batch_entry){(int32_t)lair_rng_below(&rng, (uint64_t)V), opt_p + i, 0, true};
                if (lair_decode(c, b, 1, &err)) goto fail;
            }
            tg[rep] = opt_n / (lair_time_seconds() - s0);
        }
    }
    stats sp = summarize(pp, opt_reps), st = summarize(tg, opt_reps);
    uint64_t bpt = bytes_per_token(m);
    double peak_rss = (double)lair_peak_rss_bytes() / (1 << 20); /* before the bandwidth test's buffer */
    double bw = opt_roofline ? lair_measure_read_bandwidth(1ull << 30, threads, 5) : 0;
    double limit = bw > 0 ? bw / (double)bpt : 0;
    const char *isa = lair_kernels_get()->name;
    if (opt_json) {
        printf("{\"model\": \"%s\", \"threads\": %d, \"isa\": \"%s\", \"kv_type\": \"%s\", \"reps\": %d,\n", opt_model, threads,
               isa, opt_kv, opt_reps);
        printf(" \"prefill\": {\"tokens\": %d, \"tok_s_mean\": %.2f, \"tok_s_sd\": %.2f, \"tok_s_median\": %.2f},\n", opt_p,
               sp.mean, sp.sd, sp.median);
        printf(" \"decode\": {\"tokens\": %d, \"tok_s_mean\": %.2f, \"tok_s_sd\": %.2f, \"tok_s_median\": %.2f},\n", opt_n,
               st.mean, st.sd, st.median);
        printf(" \"bytes_per_token\": %llu, \"read_bandwidth_gb_s\": %.2f, \"roofline_tok_s\": %.2f, \"roofline_pct\": %.1f,\n",
               (unsigned long long)bpt, bw / 1e9, limit, limit > 0 ? 100 * st.median / limit : 0);
        printf(" \"load_s\": %.3f, \"first_token_s\": %.3f, \"peak_rss_mib\": %.1f}\n", load_s, first_token_s, peak_rss);
    } else {
        printf("model:    %s (%s, %.2f GiB of weights read per token)\n", opt_model, lair_model_arch(m), (double)bpt / (1u << 30));
        printf("threads:  %d, kernels %s, KV %s, %d repetitions\n", threads, isa, opt_kv, opt_reps);
        if (opt_p > 0) printf("prefill:  pp%-4d %8.2f ± %.2f tok/s (median %.2f)\n", opt_p, sp.mean, sp.sd, sp.median);
        if (opt_n > 0) printf("decode:   tg%-4d %8.2f ± %.2f tok/s (median %.2f)\n", opt_n, st.mean, st.sd, st.median);
        if (opt_roofline)
            printf("roofline: read bandwidth %.2f GB/s -> at most %.2f tok/s; decode median at %.1f%%\n", bw / 1e9, limit,
                   limit > 0 ? 100 * st.median / limit : 0);
        printf("load:     %.3f s to context, %.3f s to the first token; peak RSS %.1f MiB\n", load_s, first_token_s, peak_rss);
    }
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "lair: %s\n", err.msg);
out:
    lair_free(b);
    lair_free(pp);
    lair_free(tg);
    lair_context_free(c);
    lair_model_free(m);
    return rc;
}
