/* lair quantize IN OUT TYPE: rewrite a model in other tensor formats. */
#include <math.h>
#include <stdio.h>

#include "cli.h"
#include "core/platform.h"
#include "model/quantize.h"
#include "model/recipe.h"

static int opt_threads;
static bool opt_requant, opt_stats;
static uint64_t opt_split;

static const cli_opt quantize_opts[] = {
    {"threads", 't', CLI_INT, &opt_threads, "N", "worker threads (default: all CPUs)"},
    {"allow-requantize", 0, CLI_FLAG, &opt_requant, NULL, "accept an already-quantized input"},
    {"split-max-size", 0, CLI_SIZE, &opt_split, "SIZE", "write shards of at most SIZE tensor bytes (e.g. 4G)"},
    {"stats", 0, CLI_FLAG, &opt_stats, NULL, "report each format's error against the source weights"},
    {0},
};

static int run_quantize(int argc, char **argv);
const cli_cmd cmd_quantize = {"quantize", "IN.gguf OUT.gguf TYPE [--threads N] [--split-max-size SIZE] [--stats]",
                              "Quantize a model from F32/F16/BF16 to a tensor format or recipe (q4_k_m, q8_0, ...).",
                              run_quantize, quantize_opts};

static int run_quantize(int argc, char **argv) {
    const char *pos[3];
    int n_pos;
    int r = cli_parse(&cmd_quantize, argc, argv, pos, 3, &n_pos);
    if (r) return r == 2 ? 0 : 1;
    if (n_pos != 3) return cli_error("quantize", "expected IN OUT TYPE (see lair quantize --help)");
    lair_quantize_opts o = {0};
    o.recipe = lair_recipe_find(pos[2]);
    if (!o.recipe) return cli_error("quantize", "unknown type '%s' (lair gen --list shows the types)", pos[2]);
    if (opt_threads < 0) return cli_error("quantize", "--threads must be at least 1");
    o.n_threads = opt_threads ? opt_threads : lair_cpu_count();
    o.allow_requantize = opt_requant;
    o.split_max_bytes = opt_split;
    o.stats = opt_stats;
    lair_quantize_result res;
    lair_err err;
    double t0 = lair_time_seconds();
    if (lair_quantize_file(pos[0], pos[1], &o, &res, &err)) {
        fprintf(stderr, "lair: %s\n", err.msg);
        return 1;
    }
    double dt = lair_time_seconds() - t0;
    fprintf(stderr, "lair quantize: %s -> %s (%s): %llu tensors, %.1f MiB -> %.1f MiB in %d file%s, %.1f s, %d threads\n",
            pos[0], pos[1], o.recipe->name, (unsigned long long)res.n_tensors, (double)res.in_bytes / (1 << 20),
            (double)res.out_bytes / (1 << 20), res.n_files, res.n_files == 1 ? "" : "s", dt, o.n_threads);
    if (opt_stats) {
        printf("%-8s %8s %14s %14s %12s\n", "type", "tensors", "elements", "rms_error", "nmse");
        for (int t = 0; t < LAIR_TYPE_COUNT; t++) {
            const lair_quantize_type_stats *s = &res.per_type[t];
            if (!s->tensors) continue;
            printf("%-8s %8llu %14llu %14.6g %12.4g\n", lair_type_name((lair_type)t), (unsigned long long)s->tensors,
                   (unsigned long long)s->elems, sqrt(s->sum_sq_err / (double)s->elems),
                   s->sum_sq_ref > 0 ? s->sum_sq_err / s->sum_sq_ref : 0.0);
        }
    }
    return 0;
}
