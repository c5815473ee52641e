/* Options shared by the commands that generate text (run, chat): sampling,
 * context and threads.  CLI_GEN_OPTS expands to their cli_opt table entries;
 * gen_opts_session() turns the parsed values into session options (and
 * reports invalid ones, naming them). */
#ifndef LAIR_TOOLS_SAMPLING_OPTS_H
#define LAIR_TOOLS_SAMPLING_OPTS_H

#include "cli.h"
#include "session.h"

typedef struct gen_cli {
    const char *model, *kv_type, *chain;
    int n_predict, ctx, threads, top_k, repeat_last_n;
    uint64_t seed;
    bool seed_set, ignore_eos;
    double temp, top_p, min_p, typical_p, repeat_penalty, frequency_penalty, presence_penalty;
} gen_cli;

extern gen_cli g_gen;

#define CLI_GEN_OPTS                                                                                                 \
    {"model", 'm', CLI_STR, &g_gen.model, "FILE", "GGUF model (required)"},                                         \
    {"n-predict", 'n', CLI_INT, &g_gen.n_predict, "N", "tokens to generate (-1: until the context is full)"},      \
    {"temp", 0, CLI_FLOAT, &g_gen.temp, "T", "temperature (default 0.8; 0: greedy)"},                               \
    {"top-k", 0, CLI_INT, &g_gen.top_k, "K", "keep the K most likely tokens (default 40; 0: off)"},                 \
    {"top-p", 0, CLI_FLOAT, &g_gen.top_p, "P", "nucleus: smallest set with mass >= P (default 0.95; 1: off)"},      \
    {"min-p", 0, CLI_FLOAT, &g_gen.min_p, "P", "drop tokens below P x the best one's probability (default 0.05)"},  \
    {"typical-p", 0, CLI_FLOAT, &g_gen.typical_p, "P", "locally typical sampling (default 1: off)"},               \
    {"repeat-penalty", 0, CLI_FLOAT, &g_gen.repeat_penalty, "R", "penalise recent tokens (default 1: off)"},       \
    {"repeat-last-n", 0, CLI_INT, &g_gen.repeat_last_n, "N", "window of the penalties (default 64)"},              \
    {"frequency-penalty", 0, CLI_FLOAT, &g_gen.frequency_penalty, "F", "subtract F x count (default 0)"},          \
    {"presence-penalty", 0, CLI_FLOAT, &g_gen.presence_penalty, "P", "subtract P once per seen token (default 0)"}, \
    {"samplers", 0, CLI_STR, &g_gen.chain, "LIST",                                                                  \
     "sampler order (default penalties;top_k;typical_p;top_p;min_p;temperature)"},                                  \
    {"ignore-eos", 0, CLI_FLAG, &g_gen.ignore_eos, NULL, "never sample an end-of-generation token"},              \
    {"seed", 's', CLI_U64, &g_gen.seed, "S", "random seed (default: from the clock; printed)"},                    \
    {"ctx", 'c', CLI_INT, &g_gen.ctx, "N", "context size in tokens (default min(4096, training context))"},        \
    {"kv-type", 0, CLI_STR, &g_gen.kv_type, "T", "KV cache type: f32, f16 (default), q8_0, q4_0"},                  \
    {"threads", 't', CLI_INT, &g_gen.threads, "N", "threads (default: CPU count)"}

/* Sets the defaults (before cli_parse). */
void gen_cli_defaults(void);
/* Fills o; returns 0, or 1 after printing what is wrong. */
int gen_cli_session(const char *cmd, session_opts *o);

#endif
