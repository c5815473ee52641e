/* lair gen: a synthetic model with real shapes and random weights. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "core/platform.h"
#include "model/presets.h"
#include "model/recipe.h"
#include "model/synth.h"

static const char *opt_out, *opt_arch, *opt_preset = "tiny", *opt_type = "q4_k_m";
static uint64_t opt_seed = 42;
static int opt_experts = -1;
static bool opt_list;

static const cli_opt gen_opts[] = {
    {"output", 'o', CLI_STR, &opt_out, "FILE", "where to write the model (required)"},
    {"arch", 0, CLI_STR, &opt_arch, "ARCH", "llama | qwen2 | phi3 | gemma2 (default: the preset's)"},
    {"preset", 0, CLI_STR, &opt_preset, "P", "model shape (default tiny; --list shows all)"},
    {"type", 0, CLI_STR, &opt_type, "T", "tensor format or recipe: q4_0, q8_0, q4_k_m, f16, ... (default q4_k_m)"},
    {"seed", 0, CLI_U64, &opt_seed, "S", "random seed (default 42)"},
    {"experts", 0, CLI_INT, &opt_experts, "E", "mixture of E experts (0: dense; default: the preset's)"},
    {"list", 0, CLI_FLAG, &opt_list, NULL, "list presets and types"},
    {0},
};

static int run_gen(int argc, char **argv);
const cli_cmd cmd_gen = {"gen", "-o FILE [--preset P] [--arch A] [--type T] [--seed S] [--experts E]",
                         "Write a synthetic GGUF model: real shapes, random weights, a synthetic tokenizer.", run_gen,
                         gen_opts};

static void list_all(void) {
    printf("presets:\n  %-14s %-7s %7s %6s %6s %5s %4s %6s %7s\n", "name", "arch", "vocab", "embd", "layers", "heads",
           "kv", "ff", "experts");
    for (int i = 0; lair_preset_at(i); i++) {
        const lair_preset *p = lair_preset_at(i);
        printf("  %-14s %-7s %7lld %6lld %6lld %5lld %4lld %6lld %7lld\n", p->name, p->arch, (long long)p->n_vocab,
               (long long)p->n_embd, (long long)p->n_layer, (long long)p->n_head, (long long)p->n_head_kv,
               (long long)p->n_ff, (long long)p->n_expert);
    }
    printf("types:\n ");
    for (int i = 0; lair_recipe_at(i); i++) printf(" %s", lair_recipe_at(i)->name);
    printf("\n");
}

static int run_gen(int argc, char **argv) {
    const char *pos[1];
    int n_pos;
    int r = cli_parse(&cmd_gen, argc, argv, pos, 0, &n_pos);
    if (r) return r == 2 ? 0 : 1;
    if (opt_list) {
        list_all();
        return 0;
    }
    if (!opt_out) return cli_error("gen", "missing -o FILE");
    lair_synth_opts o = {0};
    o.preset = lair_preset_find(opt_preset);
    if (!o.preset) return cli_error("gen", "unknown preset '%s' (lair gen --list shows them)", opt_preset);
    o.recipe = lair_recipe_find(opt_type);
    if (!o.recipe) return cli_error("gen", "unknown type '%s' (lair gen --list shows them)", opt_type);
    if (opt_arch) {
        static const char *const archs[] = {"llama", "qwen2", "phi3", "gemma2"};
        bool known = false;
        for (size_t i = 0; i < 4; i++) known |= strcmp(opt_arch, archs[i]) == 0;
        if (!known) return cli_error("gen", "unknown architecture '%s' (llama, qwen2, phi3, gemma2)", opt_arch);
        if (strcmp(o.preset->name, "tiny") != 0 && strcmp(opt_arch, o.preset->arch) != 0)
            return cli_error("gen", "preset '%s' is a %s model; --arch %s only combines with --preset tiny", o.preset->name,
                             o.preset->arch, opt_arch);
    }
    o.arch = opt_arch;
    o.seed = opt_seed;
    o.n_expert = opt_experts;
    lair_synth_stats st;
    lair_err err;
    double t0 = lair_time_seconds();
    if (lair_synth_write(opt_out, &o, &st, &err)) {
        fprintf(stderr, "lair: %s\n", err.msg);
        return 1;
    }
    double dt = lair_time_seconds() - t0;
    fprintf(stderr, "lair gen: wrote %s: %s %s, %llu tensors, %.3f B parameters, %.2f GiB in %.1f s\n", opt_out,
            o.preset->name, o.recipe->name, (unsigned long long)st.n_tensors, (double)st.n_params / 1e9,
            (double)st.file_bytes / (1u << 30), dt);
    return 0;
}
