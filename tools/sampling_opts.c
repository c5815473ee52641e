#include "sampling_opts.h"

#include <stdio.h>

#include "core/platform.h"

gen_cli g_gen;

#define SEED_UNSET UINT64_MAX

void gen_cli_defaults(void) {
    lair_sampler_params p = lair_sampler_default_params();
    g_gen = (gen_cli){0};
    g_gen.kv_type = "f16";
    g_gen.n_predict = -1;
    g_gen.top_k = p.top_k;
    g_gen.repeat_last_n = p.penalty_last_n;
    g_gen.seed = SEED_UNSET;
    g_gen.temp = p.temperature;
    g_gen.top_p = p.top_p;
    g_gen.min_p = p.min_p;
    g_gen.typical_p = p.typical_p;
    g_gen.repeat_penalty = p.repeat_penalty;
    g_gen.frequency_penalty = p.frequency_penalty;
    g_gen.presence_penalty = p.presence_penalty;
}

int gen_cli_session(const char *cmd, session_opts *o) {
    if (!g_gen.model) return cli_error(cmd, "-m MODEL is required");
    *o = (session_opts){0};
    o->model_path = g_gen.model;
    if (!session_kv_type(g_gen.kv_type, &o->kv_type))
        return cli_error(cmd, "--kv-type must be f32, f16, q8_0 or q4_0, got '%s'", g_gen.kv_type);
    if (g_gen.ctx < 0) return cli_error(cmd, "--ctx must be positive, got %d", g_gen.ctx);
    if (g_gen.threads < 0) return cli_error(cmd, "--threads must be positive, got %d", g_gen.threads);
    o->n_ctx = g_gen.ctx;
    o->n_threads = g_gen.threads;
    lair_sampler_params p = lair_sampler_default_params();
    p.temperature = (float)g_gen.temp;
    p.top_k = g_gen.top_k;
    p.top_p = (float)g_gen.top_p;
    p.min_p = (float)g_gen.min_p;
    p.typical_p = (float)g_gen.typical_p;
    p.repeat_penalty = (float)g_gen.repeat_penalty;
    p.frequency_penalty = (float)g_gen.frequency_penalty;
    p.presence_penalty = (float)g_gen.presence_penalty;
    p.penalty_last_n = g_gen.repeat_last_n;
    p.chain = g_gen.chain;
    if (g_gen.seed == SEED_UNSET) {
        g_gen.seed = (uint64_t)(lair_time_seconds() * 1e9) ^ 0x5eed;
        fprintf(stderr, "lair: seed %llu\n", (unsigned long long)g_gen.seed);
    }
    p.seed = g_gen.seed;
    o->sampling = p;
    o->ignore_eos = g_gen.ignore_eos;
    return 0;
}
