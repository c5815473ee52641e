/* The engine against the reference: for every golden model, the logits of
 * the 40-token prompt (NMSE against llama.cpp's) and, for float weights, the
 * greedy continuation.  Bars from ../shared/testdata/README.md: F32/F16
 * <= 1e-6 and identical greedy tokens; BF16 <= 1e-4; dense quantized <= 2e-3;
 * quantized MoE <= 1e-2.  Each available kernel ISA is checked, with an F32
 * KV cache; the default F16 cache is measured and reported. */
#define _POSIX_C_SOURCE 200809L /* setenv, strdup */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/context.h"
#include "kernels/kernels.h"
#include "lair.h"

typedef struct golden {
    const char *name;
    double bar;
    bool check_greedy;
} golden;

/* Under emulation (LAIR_TESTS_QUICK) one file per architecture and kernel family. */
static bool in_quick_set(const char *name) {
    static const char *const quick[] = {"tiny-llama-F32", "tiny-llama-Q4_K_M", "tiny-llama-Q4_0", "tiny-llama-IQ4_XS",
                                        "tiny-qwen2-Q8_0", "tiny-phi3-Q6_K", "tiny-gemma2-Q8_0", "tiny-moe-Q4_K_M"};
    for (size_t i = 0; i < sizeof quick / sizeof quick[0]; i++)
        if (strcmp(quick[i], name) == 0) return true;
    return false;
}

static const golden models[] = {
    {"tiny-llama-F32", 1e-6, true},      {"tiny-llama-F16", 1e-6, true},     {"tiny-llama-BF16", 1e-4, false},
    {"tiny-llama-Q8_0", 2e-3, false},    {"tiny-llama-Q4_0", 2e-3, false},   {"tiny-llama-Q4_1", 2e-3, false},
    {"tiny-llama-Q5_0", 2e-3, false},    {"tiny-llama-Q5_1", 2e-3, false},   {"tiny-llama-Q2_K", 2e-3, false},
    {"tiny-llama-Q3_K_M", 2e-3, false},  {"tiny-llama-Q4_K_M", 2e-3, false}, {"tiny-llama-Q5_K_M", 2e-3, false},
    {"tiny-llama-Q6_K", 2e-3, false},    {"tiny-llama-IQ4_NL", 2e-3, false}, {"tiny-llama-IQ4_XS", 2e-3, false},
    {"tiny-llama3-F32", 1e-6, true},     {"tiny-llama3-Q4_K_M", 2e-3, false}, {"tiny-llama3-Q8_0", 2e-3, false},
    {"tiny-llama-tied-F32", 1e-6, true}, {"tiny-llama-tied-Q4_0", 2e-3, false}, {"tiny-qwen2-F32", 1e-6, true},
    {"tiny-qwen2-Q8_0", 2e-3, false},    {"tiny-qwen2-Q4_K_M", 2e-3, false}, {"tiny-phi3-F32", 1e-6, true},
    {"tiny-phi3-Q4_0", 2e-3, false},     {"tiny-phi3-Q6_K", 2e-3, false},    {"tiny-gemma2-F16", 1e-6, true},
    {"tiny-gemma2-Q8_0", 2e-3, false},   {"tiny-moe-F16", 1e-6, true},       {"tiny-moe-Q8_0", 1e-2, false},
    {"tiny-moe-Q4_K_M", 1e-2, false},
};

typedef struct reference {
    int32_t tokens[64], greedy[64];
    int n_tokens, n_greedy;
    int64_t n_vocab;
    float *logits; /* [n_tokens][n_vocab] */
} reference;

static bool load_reference(const char *name, reference *r) {
    char rel[256];
    snprintf(rel, sizeof rel, "golden/%s.ref.json", name);
    const char *path = check_testdata(rel);
    if (!path) return false;
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) {
        check_fail(__FILE__, __LINE__, "%s: %s", path, je.text);
        return false;
    }
    json_t *tok = json_object_get(j, "tokens"), *gr = json_object_get(j, "greedy");
    r->n_tokens = (int)json_array_size(tok);
    r->n_greedy = (int)json_array_size(gr);
    r->n_vocab = json_integer_value(json_object_get(j, "n_vocab"));
    for (int i = 0; i < r->n_tokens && i < 64; i++) r->tokens[i] = (int32_t)json_integer_value(json_array_get(tok, (size_t)i));
    for (int i = 0; i < r->n_greedy && i < 64; i++) r->greedy[i] = (int32_t)json_integer_value(json_array_get(gr, (size_t)i));
    json_decref(j);
    snprintf(rel, sizeof rel, "golden/%s.logits.f32", name);
    path = check_testdata(rel);
    size_t len = 0;
    r->logits = path ? (float *)(void *)check_read_file(path, &len) : NULL;
    if (!r->logits || len != (size_t)r->n_tokens * (size_t)r->n_vocab * sizeof(float)) {
        check_fail(__FILE__, __LINE__, "%s: bad logits file", name);
        free(r->logits);
        return false;
    }
    return true;
}

static int32_t argmax(const float *v, int64_t n) {
    int64_t b = 0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return (int32_t)b;
}

/* Evaluates the prompt (and greedy continuation); returns NMSE, or -1.
 * logits_out (optional) receives every token's logits. */
static double run_model(const lair_model *m, const reference *r, lair_type kv, const lair_kernels *kern,
                        int32_t *greedy_out, float *logits_out) {
    lair_context_params p = lair_context_default_params();
    p.n_ctx = 128;
    p.n_batch = 64;
    p.kv_type = kv;
    p.n_threads = 1;
    lair_context *c;
    lair_err err;
    if (lair_context_create(m, &p, &c, &err)) {
        check_fail(__FILE__, __LINE__, "%s", err.msg);
        return -1;
    }
    c->kern = kern;
    lair_batch_entry e[64];
    for (int i = 0; i < r->n_tokens; i++) e[i] = (lair_batch_entry){r->tokens[i], i, 0, true};
    double num = 0, den = 0;
    if (lair_decode(c, e, r->n_tokens, &err)) {
        check_fail(__FILE__, __LINE__, "%s", err.msg);
        lair_context_free(c);
        return -1;
    }
    for (int i = 0; i < r->n_tokens; i++) {
        const float *a = lair_logits(c, i), *b = r->logits + (int64_t)i * r->n_vocab;
        if (logits_out) memcpy(logits_out + (int64_t)i * r->n_vocab, a, (size_t)r->n_vocab * sizeof *a);
        for (int64_t v = 0; v < r->n_vocab; v++) {
            double d = (double)a[v] - b[v];
            num += d * d;
            den += (double)b[v] * b[v];
        }
    }
    if (greedy_out) {
        int32_t next = argmax(lair_logits(c, r->n_tokens - 1), r->n_vocab);
        for (int g = 0; g < r->n_greedy; g++) {
            greedy_out[g] = next;
            lair_batch_entry one = {next, r->n_tokens + g, 0, true};
            if (lair_decode(c, &one, 1, &err)) break;
            next = argmax(lair_logits(c, 0), r->n_vocab);
        }
    }
    lair_context_free(c);
    return num / den;
}

/* The loader regroups matrices for the kernels of lair_kernels_get()
 * (model/regroup.c), which the other ISAs' tables cannot read: they run on
 * the same file loaded with LAIR_REPACK=0.  The default kernels run on both,
 * and the regrouping must not change a bit of any logit. */
static lair_model *load_plain(const char *path, lair_err *err) {
    const char *old = getenv("LAIR_REPACK");
    char *saved = old ? strdup(old) : NULL;
    setenv("LAIR_REPACK", "0", 1);
    lair_model *m = NULL;
    if (lair_model_load(path, &m, err)) m = NULL;
    if (saved) setenv("LAIR_REPACK", saved, 1);
    else unsetenv("LAIR_REPACK");
    free(saved);
    return m;
}

/* Whether kern reads regrouped matrices for exactly the formats the
 * process's kernels do (the loader regrouped m for those): then it runs on
 * m, else on the file's layout. */
static bool same_rows8_layouts(const lair_kernels *kern) {
    const lair_kernels *best = lair_kernels_get();
    for (int t = 0; t < LAIR_TYPE_COUNT; t++)
        if ((kern->gemv_rows8[t] != NULL) != (best->gemv_rows8[t] != NULL)) return false;
    return true;
}

TEST(golden_logits) {
    for (size_t k = 0; k < sizeof models / sizeof models[0]; k++) {
        const golden *g = &models[k];
        if (getenv("LAIR_TESTS_QUICK") && !in_quick_set(g->name)) continue;
        reference r;
        if (!load_reference(g->name, &r)) return;
        char rel[256];
        snprintf(rel, sizeof rel, "golden/%s.gguf", g->name);
        lair_model *m, *plain;
        lair_err err;
        if (lair_model_load(check_testdata(rel), &m, &err)) {
            check_fail(__FILE__, __LINE__, "%s: %s", g->name, err.msg);
            free(r.logits);
            continue;
        }
        if (!(plain = load_plain(check_testdata(rel), &err))) {
            check_fail(__FILE__, __LINE__, "%s: %s", g->name, err.msg);
            lair_model_free(m);
            free(r.logits);
            continue;
        }
        const size_t n_logits = (size_t)r.n_tokens * (size_t)r.n_vocab;
        float *by_isa[LAIR_ISA_COUNT] = {0}; /* the x86 tables' logits, compared below */
        for (int isa = 0; isa < LAIR_ISA_COUNT; isa++) {
            const lair_kernels *kern = lair_kernels_for((lair_isa)isa);
            if (!kern) continue;
            if (isa == LAIR_ISA_AVX2 || isa == LAIR_ISA_AVX512) REQUIRE((by_isa[isa] = malloc(n_logits * sizeof(float))));
            int32_t greedy[64];
            double nmse = run_model(same_rows8_layouts(kern) ? m : plain, &r, LAIR_TYPE_F32, kern, greedy, by_isa[isa]);
            printf("# %-22s %-6s kv=f32 nmse=%.3g (bar %.0e)\n", g->name, kern->name, nmse, g->bar);
            CHECKF(nmse >= 0 && nmse <= g->bar, "%s (%s): NMSE %.3g above %.0e", g->name, kern->name, nmse, g->bar);
            if (g->check_greedy)
                CHECKF(memcmp(greedy, r.greedy, (size_t)r.n_greedy * sizeof *greedy) == 0, "%s (%s): greedy differs",
                       g->name, kern->name);
        }
        /* the AVX-512 table is the AVX2 one with VNNI matrix kernels: the
         * same integers, so the same bits */
        if (by_isa[LAIR_ISA_AVX2] && by_isa[LAIR_ISA_AVX512])
            CHECKF(memcmp(by_isa[LAIR_ISA_AVX2], by_isa[LAIR_ISA_AVX512], n_logits * sizeof(float)) == 0,
                   "%s: avx512 logits differ from avx2", g->name);
        for (int isa = 0; isa < LAIR_ISA_COUNT; isa++) free(by_isa[isa]);
        float *a = malloc(n_logits * sizeof *a), *b = malloc(n_logits * sizeof *b);
        REQUIRE(a && b);
        double nmse16 = run_model(m, &r, LAIR_TYPE_F16, lair_kernels_get(), NULL, a);
        printf("# %-22s default kv=f16 nmse=%.3g (%d matrices regrouped)\n", g->name, nmse16, m->n_rows8);
        if (m->n_rows8 > 0) {
            run_model(plain, &r, LAIR_TYPE_F16, lair_kernels_get(), NULL, b);
            CHECKF(memcmp(a, b, n_logits * sizeof *a) == 0, "%s: regrouped matrices change the logits", g->name);
        }
        free(a);
        free(b);
        lair_model_free(plain);
        lair_model_free(m);
        free(r.logits);
    }
}

int main(void) {
    RUN(golden_logits);
    return check_done();
}
