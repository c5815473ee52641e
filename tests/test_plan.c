/* lair plan's formulas: the seed's two reference tables reproduced digit for
 * digit; weight bytes from a preset equal the tensors of the file lair gen
 * writes; KV and buffer bytes equal what the engine allocates; fit, largest
 * context, KV choice, decode bound and tiers. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "model/synth.h"
#include "plan/plan.h"

/* Seed 004, section (4), as printed: GiB at 4, 4.5, 8 and 16 bits. */
static const struct { double b; const char *v[4]; } seed_weights[] = {
    {0.5, {"0.3", "0.3", "0.5", "1.0"}},     {1.5, {"0.8", "0.9", "1.5", "3.1"}},
    {3, {"1.5", "1.7", "3.1", "6.1"}},       {7, {"3.6", "4.0", "7.2", "14.3"}},
    {8, {"4.1", "4.6", "8.2", "16.4"}},      {14, {"7.2", "8.1", "14.3", "28.7"}},
    {27, {"13.8", "15.6", "27.7", "55.3"}},  {32, {"16.4", "18.4", "32.8", "65.6"}},
    {34, {"17.4", "19.6", "34.8", "69.7"}},  {70, {"35.9", "40.3", "71.7", "143.4"}},
};
/* KV for 32 layers x 8 KV heads x 128: GiB at FP16, 8-bit, 4-bit. */
static const struct { int ctx; const char *v[3]; } seed_kv[] = {
    {2048, {"0.25", "0.12", "0.06"}},   {4096, {"0.50", "0.25", "0.12"}},  {8192, {"1.00", "0.50", "0.25"}},
    {16384, {"2.00", "1.00", "0.50"}},  {32768, {"4.00", "2.00", "1.00"}}, {131072, {"16.00", "8.00", "4.00"}},
};

TEST(seed_weight_table) {
    static const double bits[] = {4, 4.5, 8, 16};
    for (size_t i = 0; i < sizeof seed_weights / sizeof *seed_weights; i++)
        for (int j = 0; j < 4; j++) {
            char got[32];
            snprintf(got, sizeof got, "%.1f", lair_plan_seed_weights_gib(seed_weights[i].b * 1e9, bits[j]));
            CHECKF(strcmp(got, seed_weights[i].v[j]) == 0, "%gB at %g bits: %s, seed %s", seed_weights[i].b, bits[j], got, seed_weights[i].v[j]);
        }
}

TEST(seed_kv_table) {
    static const double bpe[] = {2, 1, 0.5};
    for (size_t i = 0; i < sizeof seed_kv / sizeof *seed_kv; i++)
        for (int j = 0; j < 3; j++) {
            char got[32];
            snprintf(got, sizeof got, "%.2f", lair_plan_seed_kv_gib(32, 8, 128, seed_kv[i].ctx, bpe[j]));
            CHECKF(strcmp(got, seed_kv[i].v[j]) == 0, "ctx %d col %d: %s, seed %s", seed_kv[i].ctx, j, got, seed_kv[i].v[j]);
        }
    /* lair's own q8_0 / q4_0 layout costs 34/32 and 18/32 of a byte per element */
    lair_plan_shape s = {0, 4096, 32, 32, 8, 128, 0, 128, 0};
    uint64_t b = 0;
    CHECK(lair_plan_kv_bytes(&s, 8192, 1, LAIR_TYPE_F16, &b) && b == (1ull << 30));
    CHECK(lair_plan_kv_bytes(&s, 8192, 1, LAIR_TYPE_Q8_0, &b) && b == (1ull << 29) / 32 * 34);
    CHECK(lair_plan_kv_bytes(&s, 8192, 2, LAIR_TYPE_Q4_0, &b) && b == (1ull << 30) / 32 * 18);
    lair_plan_shape odd = s;
    odd.head_dim = 100; /* not a multiple of 32: no q8_0 rows */
    CHECK(!lair_plan_kv_bytes(&odd, 8192, 1, LAIR_TYPE_Q8_0, &b));
}

static uint64_t file_tensor_bytes(const char *path) {
    gguf_file *f = NULL;
    lair_err err = {0};
    if (gguf_open(path, &f, &err) != LAIR_OK) return 0;
    uint64_t n = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) n += f->tensors[i].nbytes;
    gguf_close(f);
    return n;
}

/* The tiny preset under every architecture's tensor list, dense and MoE, and
 * with 16 layers so q4_k_m's layer-position rules (more bits for attn_v and
 * ffn_down in the first and last eighth) apply as they do on an 8B: the same
 * code path as the large presets, only narrower, so writing each file takes
 * milliseconds.  The 8B itself was checked once by hand (see the report). */
TEST(preset_weights_equal_gen_files) {
    const lair_preset *tiny = lair_preset_find("tiny");
    REQUIRE(tiny);
    static const char *archs[] = {"llama", "qwen2", "phi3", "gemma2"};
    static const char *types[] = {"q4_k_m", "q8_0", "f16", "q3_k_m", "q6_k", "q4_0"};
    const char *path = check_tmp("plan.gguf");
    int n_checked = 0;
    for (int v = 0; v < 6; v++) {
        lair_preset p = *tiny;
        if (v < 4) p.arch = archs[v];
        if (v == 4) p.n_layer = 16;
        if (v == 5) { p.n_expert = 4; p.n_expert_used = 2; }
        for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
            const lair_recipe *r = lair_recipe_find(types[t]);
            REQUIRE(r);
            lair_synth_opts o = {&p, NULL, r, 7, -1};
            lair_err err = {0};
            lair_synth_stats st;
            CHECKF(lair_synth_write(path, &o, &st, &err) == LAIR_OK, "gen %s %s: %s", p.arch, types[t], err.msg);
            uint64_t want = file_tensor_bytes(path), got = 0, n_params = 0;
            CHECK(lair_plan_preset_weights(&p, r, &got, &n_params, &err) == LAIR_OK);
            CHECKF(want > 0 && got == want, "variant %d %s %s: plan %llu bytes, file %llu", v, p.arch, types[t],
                   (unsigned long long)got, (unsigned long long)want);
            CHECKF(n_params == st.n_params, "variant %d %s: params %llu vs %llu", v, types[t], (unsigned long long)n_params,
                   (unsigned long long)st.n_params);
            n_checked++;
        }
    }
    remove(path);
    CHECK(n_checked == 36);
}

/* KV and buffer bytes equal lair_context_memory on real (golden) models,
 * dense and mixture of experts. */
TEST(kv_and_buffers_equal_the_engine) {
    static const char *const files[] = {"golden/tiny-llama-F16.gguf", "golden/tiny-moe-F16.gguf"};
    for (int fi = 0; fi < 2; fi++) {
        const char *path = check_testdata(files[fi]);
        if (!path) return;
        lair_model *m = NULL;
        lair_err err = {0};
        REQUIRE(lair_model_load(path, &m, &err) == LAIR_OK);
        const lair_hparams *hp = &m->hp;
        lair_plan_shape s = {hp->n_vocab, hp->n_embd, hp->n_layer, hp->n_head, hp->n_head_kv, hp->head_dim, hp->n_ff, hp->n_rot, hp->n_expert};
        static const lair_type kv[] = {LAIR_TYPE_F32, LAIR_TYPE_F16, LAIR_TYPE_Q8_0, LAIR_TYPE_Q4_0};
        static const int ctx[] = {1, 100, 4096};
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 3; j++) {
                lair_context_params p = lair_context_default_params();
                p.n_ctx = ctx[j]; p.kv_type = kv[i]; p.n_threads = 3; p.n_batch = 64;
                lair_context_bytes b;
                uint64_t pk = 0;
                if (lair_context_memory(m, &p, &b) != LAIR_OK) continue; /* head size not divisible by the block */
                CHECK(lair_plan_kv_bytes(&s, ctx[j], 1, kv[i], &pk) && pk == b.kv);
                CHECKF(lair_plan_buffers(&s, ctx[j], 64, 3) == b.buffers, "%s: buffers %llu vs engine %llu", files[fi],
                       (unsigned long long)lair_plan_buffers(&s, ctx[j], 64, 3), (unsigned long long)b.buffers);
                CHECK(file_tensor_bytes(path) == b.weights);
            }
        lair_model_free(m);
    }
}

TEST(fit_context_kv_choice_and_bounds) {
    lair_plan_input in = {{128256, 4096, 32, 32, 8, 128, 14336, 128, 0}, 4000000000ull, 8000000000ull, 8192, 1, LAIR_TYPE_F16, 512, 4};
    lair_plan_machine m = {"m", 8.0, 100.0, 20.0, 100, 100000, "cpu"};
    lair_plan_result r;
    lair_err err = {0};
    REQUIRE(lair_plan_compute(&in, &m, &r, &err) == LAIR_OK);
    CHECK(r.kv == (1ull << 30));
    CHECK(r.total == r.weights + r.kv + r.buffers + r.overhead);
    CHECK(r.fits == (r.total <= (uint64_t)(8.0 * LAIR_GIB)));
    CHECK(fabs(r.margin_gib - (8.0 * LAIR_GIB - (double)r.total) / LAIR_GIB) < 1e-9);
    /* largest context: fits exactly, one more does not */
    lair_plan_input at = in;
    lair_plan_result r2;
    at.n_ctx = r.max_ctx;
    REQUIRE(r.max_ctx > 8192);
    CHECK(lair_plan_compute(&at, &m, &r2, &err) == LAIR_OK && r2.fits);
    at.n_ctx = r.max_ctx + 1;
    CHECK(lair_plan_compute(&at, &m, &r2, &err) == LAIR_OK && !r2.fits);
    /* decode reads the weights and the whole KV once per token */
    CHECK(fabs(r.decode_tps_bound - 100e9 / (4e9 + (double)(1ull << 30))) < 1e-9);
    CHECK(fabs(r.prefill_tps_est - 0.5 * 20e12 / 16e9) < 1e-6);
    /* a long context on little memory: f32 and f16 do not fit, q8_0 does */
    lair_plan_input lng = in;
    lng.n_ctx = 131072;
    lair_plan_machine small = m;
    small.mem_gib = 4e9 / LAIR_GIB + 12.0; /* q8_0 KV 8.5 GiB + buffers fit; f16 16 GiB does not */
    CHECK(lair_plan_compute(&lng, &small, &r2, &err) == LAIR_OK && !r2.fits && r2.fit_kv_type == LAIR_TYPE_Q8_0);
    small.mem_gib = 1.0;
    CHECK(lair_plan_compute(&in, &small, &r2, &err) == LAIR_OK && !r2.fits && r2.max_ctx == 0 && r2.fit_kv_type == LAIR_TYPE_COUNT &&
          r2.margin_gib < 0);
    /* bad input is refused by name */
    lair_plan_machine bad = m;
    bad.bandwidth_gbs = NAN;
    CHECK(lair_plan_compute(&in, &bad, &r2, &err) == LAIR_ERR_ARG && strstr(err.msg, "bandwidth"));
    lair_plan_input badin = in;
    badin.n_ctx = 0;
    CHECK(lair_plan_compute(&badin, &m, &r2, &err) == LAIR_ERR_ARG && strstr(err.msg, "context"));
}

TEST(tiers_follow_the_seed) {
    CHECK(strcmp(lair_plan_tier("apple", 16), "A-16") == 0);
    CHECK(strcmp(lair_plan_tier("apple", 32), "A-24/32") == 0);
    CHECK(strcmp(lair_plan_tier("apple", 64), "A-64") == 0);
    CHECK(strcmp(lair_plan_tier("apple", 128), "A-96/128") == 0);
    CHECK(strcmp(lair_plan_tier("cpu", 32), "W-CPU1") == 0);
    CHECK(strcmp(lair_plan_tier("cpu", 64), "W-CPU2") == 0);
    CHECK(strcmp(lair_plan_tier("gpu", 8), "G-8") == 0);
    CHECK(strcmp(lair_plan_tier("gpu", 12), "G-12") == 0);
    CHECK(strcmp(lair_plan_tier("gpu", 16), "G-16") == 0);
    CHECK(strcmp(lair_plan_tier("gpu", 32), "G-24") == 0);
    CHECK(lair_plan_tier("gb10", 128) == NULL);
}

int main(void) {
    RUN(seed_weight_table);
    RUN(seed_kv_table);
    RUN(preset_weights_equal_gen_files);
    RUN(kv_and_buffers_equal_the_engine);
    RUN(fit_context_kv_choice_and_bounds);
    RUN(tiers_follow_the_seed);
    return check_done();
}
