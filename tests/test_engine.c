/* Engine behaviour beyond the golden logits: mixing sequences in one batch,
 * sharing a prefix between sequences, removing and re-evaluating ranges,
 * every KV type, and the errors that must leave the cache untouched. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gguf/gguf.h"
#include "lair.h"

#define N_PROMPT 12

static const int32_t prompt_a[N_PROMPT] = {1, 303, 323, 357, 405, 467, 34, 124, 228, 346, 478, 115};
static const int32_t prompt_b[N_PROMPT] = {1, 275, 449, 128, 330, 37, 267, 511, 260, 23, 309, 100};

static lair_model *load(const char *rel) {
    const char *path = check_testdata(rel);
    if (!path) return NULL;
    lair_model *m;
    lair_err err;
    if (lair_model_load(path, &m, &err)) {
        check_fail(__FILE__, __LINE__, "%s", err.msg);
        return NULL;
    }
    return m;
}

static lair_context *ctx(const lair_model *m, lair_type kv, int n_seq) {
    lair_context_params p = lair_context_default_params();
    p.n_ctx = 96;
    p.n_batch = 32;
    p.n_seq_max = n_seq;
    p.kv_type = kv;
    p.n_threads = 2;
    lair_context *c;
    lair_err err;
    if (lair_context_create(m, &p, &c, &err)) {
        check_fail(__FILE__, __LINE__, "%s", err.msg);
        return NULL;
    }
    return c;
}

/* Logits of the last token of `toks` evaluated alone in a fresh context. */
static void reference_logits(const lair_model *m, const int32_t *toks, int n, float *out) {
    lair_context *c = ctx(m, LAIR_TYPE_F32, 1);
    if (!c) return;
    lair_batch_entry e[N_PROMPT + 4];
    for (int i = 0; i < n; i++) e[i] = (lair_batch_entry){toks[i], i, 0, i == n - 1};
    lair_err err;
    CHECK(lair_decode(c, e, n, &err) == LAIR_OK);
    memcpy(out, lair_logits(c, n - 1), (size_t)lair_model_n_vocab(m) * sizeof *out);
    lair_context_free(c);
}

static double max_rel_diff(const float *a, const float *b, int64_t n) {
    double m = 0, scale = 1e-6;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs((double)b[i]));
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]) / scale);
    return m;
}

TEST(interleaved_sequences_match_separate_runs) {
    lair_model *m = load("golden/tiny-llama-Q4_K_M.gguf");
    if (!m) return;
    int64_t V = lair_model_n_vocab(m);
    float *ra = malloc((size_t)V * 4), *rb = malloc((size_t)V * 4);
    reference_logits(m, prompt_a, N_PROMPT, ra);
    reference_logits(m, prompt_b, N_PROMPT, rb);
    lair_context *c = ctx(m, LAIR_TYPE_F32, 2);
    REQUIRE(c);
    lair_batch_entry e[2 * N_PROMPT];
    for (int i = 0; i < N_PROMPT; i++) {
        e[2 * i] = (lair_batch_entry){prompt_a[i], i, 0, i == N_PROMPT - 1};
        e[2 * i + 1] = (lair_batch_entry){prompt_b[i], i, 1, i == N_PROMPT - 1};
    }
    lair_err err;
    REQUIRE(lair_decode(c, e, 2 * N_PROMPT, &err) == LAIR_OK);
    CHECK(lair_logits(c, 0) == NULL);
    /* every kernel path (one token, a few, many) and the attention's split
     * give the same bits, so a sequence's logits do not depend on what else
     * is in the batch */
    CHECKF(max_rel_diff(lair_logits(c, 2 * N_PROMPT - 2), ra, V) == 0.0, "seq 0 differs");
    CHECKF(max_rel_diff(lair_logits(c, 2 * N_PROMPT - 1), rb, V) == 0.0, "seq 1 differs");
    CHECK(lair_kv_seq_len(c, 0) == N_PROMPT && lair_kv_seq_len(c, 1) == N_PROMPT);
    lair_context_free(c);
    free(ra);
    free(rb);
    lair_model_free(m);
}

/* A sequence decoded one token at a time, next to other sequences whose
 * cells are interleaved with its own in the pool, gives the bits of the
 * same tokens evaluated alone in one batch. */
TEST(decoding_beside_other_sequences_changes_no_bit) {
    lair_model *m = load("golden/tiny-llama-Q4_K_M.gguf");
    if (!m) return;
    int64_t V = lair_model_n_vocab(m);
    lair_context *c = ctx(m, LAIR_TYPE_F16, 3);
    REQUIRE(c);
    lair_err err;
    /* seq 0 one token per call; seqs 1 and 2 take cells in between */
    for (int i = 0; i < N_PROMPT; i++) {
        lair_batch_entry e[3] = {{prompt_b[i], i, 1, false}, {prompt_a[i], i, 0, i == N_PROMPT - 1}, {prompt_b[N_PROMPT - 1 - i], i, 2, false}};
        REQUIRE(lair_decode(c, e + (i % 3 == 0 ? 1 : 0), i % 3 == 0 ? 1 : 3, &err) == LAIR_OK);
    }
    lair_context *alone = ctx(m, LAIR_TYPE_F16, 1);
    REQUIRE(alone);
    lair_batch_entry all[N_PROMPT];
    for (int i = 0; i < N_PROMPT; i++) all[i] = (lair_batch_entry){prompt_a[i], i, 0, i == N_PROMPT - 1};
    REQUIRE(lair_decode(alone, all, N_PROMPT, &err) == LAIR_OK);
    const int last = N_PROMPT - 1; /* seq 0's entry in the last call: alone, or second of three */
    const float *got = lair_logits(c, last % 3 == 0 ? 0 : 1), *want = lair_logits(alone, N_PROMPT - 1);
    REQUIRE(got && want);
    CHECKF(max_rel_diff(got, want, V) == 0.0, "differs by %g", max_rel_diff(got, want, V));
    lair_context_free(alone);
    lair_context_free(c);
    lair_model_free(m);
}

TEST(shared_prefix_and_range_removal) {
    lair_model *m = load("golden/tiny-qwen2-F32.gguf");
    if (!m) return;
    int64_t V = lair_model_n_vocab(m);
    lair_context *c = ctx(m, LAIR_TYPE_F16, 3);
    REQUIRE(c);
    lair_batch_entry e[N_PROMPT];
    for (int i = 0; i < N_PROMPT - 1; i++) e[i] = (lair_batch_entry){prompt_a[i], i, 0, false};
    lair_err err;
    REQUIRE(lair_decode(c, e, N_PROMPT - 1, &err) == LAIR_OK);
    int32_t free_before = lair_kv_free_cells(c);
    lair_kv_seq_cp(c, 0, 1, 0, -1); /* share the prefix: no new cells */
    CHECK(lair_kv_free_cells(c) == free_before);
    CHECK(lair_kv_seq_len(c, 1) == N_PROMPT - 1);
    /* continue both sequences with different last tokens in one batch */
    lair_batch_entry two[2] = {{prompt_a[N_PROMPT - 1], N_PROMPT - 1, 0, true}, {999 % V, N_PROMPT - 1, 1, true}};
    REQUIRE(lair_decode(c, two, 2, &err) == LAIR_OK);
    float *got0 = malloc((size_t)V * 4), *got1 = malloc((size_t)V * 4), *ref = malloc((size_t)V * 4);
    memcpy(got0, lair_logits(c, 0), (size_t)V * 4);
    memcpy(got1, lair_logits(c, 1), (size_t)V * 4);
    reference_logits(m, prompt_a, N_PROMPT, ref);
    CHECKF(max_rel_diff(got0, ref, V) < 1e-2, "seq 0 after sharing: %g", max_rel_diff(got0, ref, V));
    int32_t alt[N_PROMPT];
    memcpy(alt, prompt_a, sizeof alt);
    alt[N_PROMPT - 1] = (int32_t)(999 % V);
    reference_logits(m, alt, N_PROMPT, ref);
    CHECKF(max_rel_diff(got1, ref, V) < 1e-2, "seq 1 after sharing: %g", max_rel_diff(got1, ref, V));
    /* drop seq 1's last token and evaluate it again: same logits */
    lair_kv_seq_rm(c, 1, N_PROMPT - 1, -1);
    CHECK(lair_kv_seq_len(c, 1) == N_PROMPT - 1 && lair_kv_seq_len(c, 0) == N_PROMPT);
    REQUIRE(lair_decode(c, &two[1], 1, &err) == LAIR_OK);
    CHECK(max_rel_diff(lair_logits(c, 0), got1, V) == 0.0);
    /* removing seq 0 keeps the cells seq 1 still shares */
    lair_kv_seq_rm(c, 0, 0, -1);
    CHECK(lair_kv_seq_len(c, 0) == 0 && lair_kv_seq_len(c, 1) == N_PROMPT);
    CHECK(lair_kv_free_cells(c) == 96 - N_PROMPT);
    lair_kv_clear(c);
    CHECK(lair_kv_free_cells(c) == 96);
    free(got0);
    free(got1);
    free(ref);
    lair_context_free(c);
    lair_model_free(m);
}

TEST(kv_types_stay_close_to_f32) {
    lair_model *m = load("golden/tiny-llama-F32.gguf");
    if (!m) return;
    int64_t V = lair_model_n_vocab(m);
    float *ref = malloc((size_t)V * 4);
    reference_logits(m, prompt_a, N_PROMPT, ref);
    const lair_type types[] = {LAIR_TYPE_F16, LAIR_TYPE_Q8_0, LAIR_TYPE_Q4_0};
    const double bars[] = {1e-5, 1e-3, 3e-2}; /* NMSE of the last row against an f32 cache */
    for (int k = 0; k < 3; k++) {
        lair_context *c = ctx(m, types[k], 1);
        if (!c) continue;
        lair_batch_entry e[N_PROMPT];
        for (int i = 0; i < N_PROMPT; i++) e[i] = (lair_batch_entry){prompt_a[i], i, 0, i == N_PROMPT - 1};
        lair_err err;
        CHECK(lair_decode(c, e, N_PROMPT, &err) == LAIR_OK);
        const float *l = lair_logits(c, N_PROMPT - 1);
        double num = 0, den = 0;
        for (int64_t i = 0; i < V; i++) {
            num += ((double)l[i] - ref[i]) * ((double)l[i] - ref[i]);
            den += (double)ref[i] * ref[i];
        }
        printf("# kv %s: nmse against f32 cache %.3g\n", lair_type_name(types[k]), num / den);
        CHECKF(num / den <= bars[k], "kv %s: nmse %g", lair_type_name(types[k]), num / den);
        lair_context_free(c);
    }
    free(ref);
    lair_model_free(m);
}

TEST(bad_requests_leave_the_cache_alone) {
    lair_model *m = load("golden/tiny-llama-Q8_0.gguf");
    if (!m) return;
    lair_context *c = ctx(m, LAIR_TYPE_F16, 2);
    REQUIRE(c);
    lair_err err;
    lair_batch_entry e = {5, 0, 0, true};
    REQUIRE(lair_decode(c, &e, 1, &err) == LAIR_OK);
    lair_batch_entry bad_tok = {512, 1, 0, true}, bad_seq = {5, 1, 2, true}, bad_pos = {5, -1, 0, true};
    CHECK(lair_decode(c, &bad_tok, 1, &err) == LAIR_ERR_ARG && strstr(err.msg, "token 512"));
    CHECK(lair_decode(c, &bad_seq, 1, &err) == LAIR_ERR_ARG && strstr(err.msg, "sequence 2"));
    CHECK(lair_decode(c, &bad_pos, 1, &err) == LAIR_ERR_ARG && strstr(err.msg, "position"));
    CHECK(lair_decode(c, &e, 0, &err) == LAIR_ERR_ARG);
    CHECK(lair_decode(c, &e, 33, &err) == LAIR_ERR_ARG);
    /* 1 + 2 x 32 cells used of 96: a third batch of 32 does not fit, is
     * refused, and changes nothing */
    lair_batch_entry many[32];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 32; i++) many[i] = (lair_batch_entry){7, 1 + round * 32 + i, 1, false};
        if (round < 2) CHECK(lair_decode(c, many, 32, &err) == LAIR_OK);
    }
    CHECK(lair_kv_free_cells(c) == 31);
    int32_t free_before = lair_kv_free_cells(c), len_before = lair_kv_seq_len(c, 1);
    CHECK(lair_decode(c, many, 32, &err) == LAIR_ERR_LIMIT && strstr(err.msg, "KV cache full"));
    CHECK(lair_kv_free_cells(c) == free_before && lair_kv_seq_len(c, 1) == len_before);
    lair_context_free(c);
    lair_model_free(m);
}

/* A model file whose architecture or shapes are wrong is refused by name. */
TEST(unsupported_models_are_refused_by_name) {
    const char *src = check_testdata("golden/tiny-llama-F32.gguf");
    if (!src) return;
    gguf_file *f;
    lair_err err;
    REQUIRE(gguf_open(src, &f, &err) == LAIR_OK);
    const char *cases[][3] = {
        {"general.architecture", "mamba", "architecture 'mamba' is not supported"},
        {"llama.embedding_length", "300", "has shape"},
        {"llama.attention.head_count_kv", "3", "do not divide"},
    };
    for (int k = 0; k < 3; k++) {
        gguf_writer *w;
        REQUIRE(gguf_writer_init(&w, &err) == LAIR_OK);
        for (uint64_t i = 0; i < f->n_kv; i++) gguf_writer_copy_kv(w, &f->kv[i]);
        if (k == 0) gguf_writer_set_str(w, cases[k][0], cases[k][1]);
        else gguf_writer_set_u32(w, cases[k][0], (uint32_t)atoi(cases[k][1]));
        for (uint64_t i = 0; i < f->n_tensors; i++)
            gguf_writer_add_tensor(w, f->tensors[i].name, f->tensors[i].type, f->tensors[i].n_dims, f->tensors[i].ne, &err);
        const char *out = check_tmp("bad-model.gguf");
        CHECK(gguf_writer_begin(w, out, &err) == LAIR_OK);
        for (uint64_t i = 0; i < f->n_tensors; i++) gguf_writer_write(w, f->tensors[i].data, f->tensors[i].nbytes, &err);
        CHECK(gguf_writer_finish(w, &err) == LAIR_OK);
        gguf_writer_free(w);
        lair_model *m = NULL;
        CHECKF(lair_model_load(out, &m, &err) != LAIR_OK && strstr(err.msg, cases[k][2]), "case %d: %s", k, err.msg);
        lair_model_free(m);
        remove(out);
    }
    gguf_close(f);
}

/* Copies a golden phi3 model, adding LongRoPE factors: short all 1, long all
 * `long_factor`, switching at an original context of 64. */
static bool write_longrope(const char *src, const char *out, float long_factor) {
    gguf_file *f;
    lair_err err;
    if (gguf_open(src, &f, &err)) return false;
    gguf_writer *w;
    if (gguf_writer_init(&w, &err)) return false;
    for (uint64_t i = 0; i < f->n_kv; i++) gguf_writer_copy_kv(w, &f->kv[i]);
    gguf_writer_set_u32(w, "phi3.rope.scaling.original_context_length", 64);
    int64_t half[] = {32}; /* n_rot / 2 */
    for (uint64_t i = 0; i < f->n_tensors; i++)
        gguf_writer_add_tensor(w, f->tensors[i].name, f->tensors[i].type, f->tensors[i].n_dims, f->tensors[i].ne, &err);
    gguf_writer_add_tensor(w, "rope_factors_long.weight", LAIR_TYPE_F32, 1, half, &err);
    gguf_writer_add_tensor(w, "rope_factors_short.weight", LAIR_TYPE_F32, 1, half, &err);
    bool ok = gguf_writer_begin(w, out, &err) == LAIR_OK;
    for (uint64_t i = 0; ok && i < f->n_tensors; i++) ok = !gguf_writer_write(w, f->tensors[i].data, f->tensors[i].nbytes, &err);
    float lf[32], sf[32];
    for (int i = 0; i < 32; i++) lf[i] = long_factor, sf[i] = 1.0f;
    ok = ok && !gguf_writer_write(w, lf, sizeof lf, &err) && !gguf_writer_write(w, sf, sizeof sf, &err) &&
         !gguf_writer_finish(w, &err);
    gguf_writer_free(w);
    gguf_close(f);
    return ok;
}

static void last_logits(const lair_model *m, int n_ctx, float *out) {
    lair_context_params p = lair_context_default_params();
    p.n_ctx = n_ctx;
    p.n_batch = N_PROMPT;
    p.kv_type = LAIR_TYPE_F32;
    p.n_threads = 1;
    lair_context *c;
    lair_err err;
    if (lair_context_create(m, &p, &c, &err)) {
        check_fail(__FILE__, __LINE__, "%s", err.msg);
        return;
    }
    lair_batch_entry e[N_PROMPT];
    for (int i = 0; i < N_PROMPT; i++) e[i] = (lair_batch_entry){prompt_a[i], i, 0, i == N_PROMPT - 1};
    CHECK(lair_decode(c, e, N_PROMPT, &err) == LAIR_OK);
    memcpy(out, lair_logits(c, N_PROMPT - 1), (size_t)lair_model_n_vocab(m) * sizeof *out);
    lair_context_free(c);
}

TEST(longrope_factors_follow_the_context_length) {
    const char *src = check_testdata("golden/tiny-phi3-F32.gguf");
    if (!src) return;
    const char *path = check_tmp("longrope.gguf");
    REQUIRE(write_longrope(src, path, 2.0f));
    lair_model *plain = load("golden/tiny-phi3-F32.gguf"), *m;
    lair_err err;
    REQUIRE(plain && lair_model_load(path, &m, &err) == LAIR_OK);
    int64_t V = lair_model_n_vocab(m);
    float *ref = malloc((size_t)V * 4), *shortctx = malloc((size_t)V * 4), *longctx = malloc((size_t)V * 4);
    last_logits(plain, 32, ref);
    last_logits(m, 32, shortctx); /* 32 <= 64: short factors (all 1) */
    last_logits(m, 96, longctx);  /* 96 > 64: long factors (all 2) */
    CHECK(max_rel_diff(shortctx, ref, V) == 0.0);
    CHECKF(max_rel_diff(longctx, ref, V) > 1e-3, "long factors had no effect");
    free(ref);
    free(shortctx);
    free(longctx);
    lair_model_free(m);
    lair_model_free(plain);
    remove(path);
}

TEST(model_metadata_as_text) {
    lair_model *m = load("golden/tiny-moe-Q4_K_M.gguf");
    if (!m) return;
    char buf[64];
    CHECK(lair_model_meta(m, "general.architecture", buf, sizeof buf) == 5 && strcmp(buf, "llama") == 0);
    CHECK(lair_model_meta(m, "llama.expert_count", buf, sizeof buf) == 1 && strcmp(buf, "4") == 0);
    CHECK(lair_model_meta(m, "tokenizer.ggml.add_bos_token", buf, sizeof buf) > 0 && strcmp(buf, "true") == 0);
    CHECK(lair_model_meta(m, "tokenizer.ggml.tokens", buf, sizeof buf) > 0 && strcmp(buf, "[string x 512]") == 0);
    CHECK(lair_model_meta(m, "general.architecture", buf, 3) == 5 && strcmp(buf, "ll") == 0);
    CHECK(lair_model_meta(m, "no.such.key", buf, sizeof buf) == -1);
    CHECK(lair_model_n_vocab(m) == 512 && lair_model_n_layer(m) == 2 && lair_model_n_embd(m) == 256 &&
          strcmp(lair_model_arch(m), "llama") == 0);
    lair_model_free(m);
}

int main(void) {
    RUN(interleaved_sequences_match_separate_runs);
    RUN(decoding_beside_other_sequences_changes_no_bit);
    RUN(shared_prefix_and_range_removal);
    RUN(kv_types_stay_close_to_f32);
    RUN(bad_requests_leave_the_cache_alone);
    RUN(unsupported_models_are_refused_by_name);
    RUN(longrope_factors_follow_the_context_length);
    RUN(model_metadata_as_text);
    return check_done();
}
