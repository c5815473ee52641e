/* GGUF writer -> reader round trips, metadata copying, alignment, split
 * bundles, and the writer's refusal to leave partial files behind. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/platform.h"
#include "gguf/gguf.h"
#include "model/quantize.h"
#include "model/recipe.h"
#include "tensor/format.h"

static bool str_eq(gguf_str s, const char *c) { return s.len == strlen(c) && memcmp(s.ptr, c, s.len) == 0; }

/* Writes a file with every metadata type and tensors of several formats. */
static lair_status write_sample(const char *path, uint32_t alignment, uint8_t *payload[3], lair_err *err) {
    gguf_writer *w;
    lair_status s = gguf_writer_init(&w, err);
    if (s) return s;
    if (alignment) gguf_writer_set_u32(w, "general.alignment", alignment);
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_str(w, "general.name", "日本語のモデル 🚀");
    gguf_writer_set_u16(w, "test.u16", 65535);
    gguf_writer_set_i32(w, "test.i32", -123456);
    gguf_writer_set_u64(w, "test.u64", 18446744073709551615ull);
    gguf_writer_set_f32(w, "test.f32", 0.25f);
    gguf_writer_set_bool(w, "test.bool", true);
    const char *toks[] = {"<unk>", "<s>", "</s>", "▁こんにちは", ""};
    float scores[] = {0, 0, 0, -1.5f, -2};
    int32_t types[] = {2, 3, 3, 1, 1};
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 5);
    gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, 5);
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, 5);
    gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    gguf_writer_set_str(w, "test.replaced", "old");
    gguf_writer_set_str(w, "test.replaced", "new");
    gguf_writer_set_str(w, "test.removed", "x");
    gguf_writer_remove(w, "test.removed");
    int64_t ne_a[] = {7}, ne_b[] = {64, 3}, ne_c[] = {256, 2, 2};
    if ((s = gguf_writer_add_tensor(w, "a.weight", LAIR_TYPE_F32, 1, ne_a, err)) ||
        (s = gguf_writer_add_tensor(w, "b.weight", LAIR_TYPE_Q8_0, 2, ne_b, err)) ||
        (s = gguf_writer_add_tensor(w, "c.weight", LAIR_TYPE_Q4_K, 3, ne_c, err)) ||
        (s = gguf_writer_begin(w, path, err)))
        goto out;
    uint64_t sizes[3] = {7 * 4, 2 * 3 * 34, 4 * 144};
    for (int i = 0; i < 3 && !s; i++) {
        for (uint64_t k = 0; k < sizes[i]; k++) payload[i][k] = (uint8_t)(k * 7 + (uint64_t)i);
        /* in two pieces, to exercise chunked writes */
        s = gguf_writer_write(w, payload[i], sizes[i] / 2, err);
        if (!s) s = gguf_writer_write(w, payload[i] + sizes[i] / 2, sizes[i] - sizes[i] / 2, err);
    }
    if (!s) s = gguf_writer_finish(w, err);
out:
    gguf_writer_free(w);
    return s;
}

static void check_roundtrip(uint32_t alignment) {
    uint8_t a[28], b[204], c[576];
    uint8_t *payload[3] = {a, b, c};
    const char *path = check_tmp("roundtrip.gguf");
    lair_err err;
    REQUIRE(write_sample(path, alignment, payload, &err) == LAIR_OK);
    gguf_file *f;
    lair_status s = gguf_open(path, &f, &err);
    CHECKF(s == LAIR_OK, "%s", err.msg);
    if (s) return;
    uint64_t align = alignment ? alignment : 32;
    CHECK(f->version == 3);
    CHECK(f->alignment == align);
    CHECK(f->data_offset % align == 0);
    gguf_str str;
    CHECK(gguf_get_str(f, "general.name", &str, &err) == LAIR_OK && str_eq(str, "日本語のモデル 🚀"));
    CHECK(gguf_get_str(f, "test.replaced", &str, &err) == LAIR_OK && str_eq(str, "new"));
    CHECK(gguf_find_kv(f, "test.removed") == NULL);
    uint64_t u;
    int64_t i;
    double d;
    bool bo;
    CHECK(gguf_get_u64(f, "test.u16", &u, &err) == LAIR_OK && u == 65535);
    CHECK(gguf_get_i64(f, "test.i32", &i, &err) == LAIR_OK && i == -123456);
    CHECK(gguf_get_u64(f, "test.u64", &u, &err) == LAIR_OK && u == 18446744073709551615ull);
    CHECK(gguf_get_i64(f, "test.u64", &i, &err) == LAIR_ERR_FORMAT); /* does not fit */
    CHECK(gguf_get_u64(f, "test.i32", &u, &err) == LAIR_ERR_FORMAT); /* negative */
    CHECK(gguf_get_f64(f, "test.f32", &d, &err) == LAIR_OK && d == 0.25);
    CHECK(gguf_get_bool(f, "test.bool", &bo, &err) == LAIR_OK && bo);
    CHECK(gguf_get_str(f, "test.f32", &str, &err) == LAIR_ERR_FORMAT && strstr(err.msg, "test.f32"));
    CHECK(gguf_get_u64(f, "missing.key", &u, &err) == LAIR_ERR_ARG);
    const gguf_kv *arr;
    CHECK(gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &arr, &err) == LAIR_OK);
    if (arr) {
        CHECK(arr->arr_n == 5);
        CHECK(str_eq(gguf_arr_str(arr, 3), "▁こんにちは"));
        CHECK(gguf_arr_str(arr, 4).len == 0);
    }
    CHECK(gguf_get_arr(f, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, &arr, &err) == LAIR_OK && gguf_arr_f64(arr, 3) == -1.5);
    CHECK(gguf_get_arr(f, "tokenizer.ggml.scores", GGUF_TYPE_INT32, &arr, &err) == LAIR_ERR_FORMAT);
    CHECK(f->n_tensors == 3);
    const char *names[] = {"a.weight", "b.weight", "c.weight"};
    uint64_t sizes[3] = {28, 204, 576};
    for (int k = 0; k < 3; k++) {
        const gguf_tensor *t = gguf_find_tensor(f, names[k]);
        REQUIRE(t);
        CHECK(t->nbytes == sizes[k]);
        CHECK(t->offset % align == 0);
        CHECK(((uintptr_t)t->data - (uintptr_t)f->map.data) % align == 0);
        CHECK(memcmp(t->data, payload[k], sizes[k]) == 0);
    }
    const gguf_tensor *c3 = gguf_find_tensor(f, "c.weight");
    CHECK(c3 && c3->n_dims == 3 && c3->ne[0] == 256 && c3->ne[1] == 2 && c3->ne[2] == 2 && c3->ne[3] == 1 &&
          c3->type == LAIR_TYPE_Q4_K);
    CHECK(gguf_find_tensor(f, "nope") == NULL);
    gguf_close(f);
}

TEST(writer_reader_roundtrip) { check_roundtrip(0); }
TEST(writer_reader_roundtrip_alignment_64) { check_roundtrip(64); }
TEST(writer_reader_roundtrip_alignment_1) { check_roundtrip(1); }

TEST(writer_leaves_no_partial_file) {
    const char *path = check_tmp("partial.gguf");
    remove(path);
    gguf_writer *w;
    lair_err err;
    REQUIRE(gguf_writer_init(&w, &err) == LAIR_OK);
    int64_t ne[] = {32};
    CHECK(gguf_writer_add_tensor(w, "x", LAIR_TYPE_F32, 1, ne, &err) == LAIR_OK);
    CHECK(gguf_writer_add_tensor(w, "x", LAIR_TYPE_F32, 1, ne, &err) == LAIR_ERR_ARG && strstr(err.msg, "duplicate"));
    int64_t bad[] = {33};
    CHECK(gguf_writer_add_tensor(w, "y", LAIR_TYPE_Q4_0, 1, bad, &err) == LAIR_ERR_ARG);
    CHECK(gguf_writer_begin(w, path, &err) == LAIR_OK);
    float v[4] = {0};
    CHECK(gguf_writer_write(w, v, sizeof v, &err) == LAIR_OK);
    CHECK(gguf_writer_finish(w, &err) == LAIR_ERR_ARG && strstr(err.msg, "0 of 1"));
    gguf_writer_free(w);
    CHECK(!lair_file_exists(path));
    /* freeing an unfinished writer also removes its temporary file */
    REQUIRE(gguf_writer_init(&w, &err) == LAIR_OK);
    CHECK(gguf_writer_add_tensor(w, "x", LAIR_TYPE_F32, 1, ne, &err) == LAIR_OK);
    CHECK(gguf_writer_begin(w, path, &err) == LAIR_OK);
    gguf_writer_free(w);
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(!lair_file_exists(path) && !lair_file_exists(tmp));
}

TEST(copy_kv_preserves_every_value) {
    const char *src = check_testdata("golden/tiny-llama-Q4_K_M.gguf");
    if (!src) return;
    gguf_file *f;
    lair_err err;
    REQUIRE(gguf_open(src, &f, &err) == LAIR_OK);
    gguf_writer *w;
    REQUIRE(gguf_writer_init(&w, &err) == LAIR_OK);
    for (uint64_t i = 0; i < f->n_kv; i++) CHECK(gguf_writer_copy_kv(w, &f->kv[i]) == LAIR_OK);
    const char *out = check_tmp("copied.gguf");
    CHECK(gguf_writer_begin(w, out, &err) == LAIR_OK);
    CHECK(gguf_writer_finish(w, &err) == LAIR_OK);
    gguf_writer_free(w);
    gguf_file *g;
    REQUIRE(gguf_open(out, &g, &err) == LAIR_OK);
    CHECK(g->n_kv == f->n_kv && g->n_tensors == 0);
    for (uint64_t i = 0; i < f->n_kv && i < g->n_kv; i++) {
        const gguf_kv *a = &f->kv[i], *b = gguf_find_kv(g, a->key);
        CHECKF(b && b->type == a->type && b->raw_len == a->raw_len && memcmp(a->raw, b->raw, a->raw_len) == 0,
               "key %s differs", a->key);
    }
    gguf_close(g);
    gguf_close(f);
}

/* Quantizing into shards and opening any shard gives the same tensors as the
 * single-file result. */
TEST(split_bundle_matches_single_file) {
    const char *src = check_testdata("golden/tiny-llama-F32.gguf");
    if (!src) return;
    lair_quantize_opts o = {lair_recipe_find("q8_0"), 2, false, 0, false};
    lair_quantize_result res;
    lair_err err;
    const char *single = check_tmp("single.gguf");
    REQUIRE(lair_quantize_file(src, single, &o, &res, &err) == LAIR_OK);
    o.split_max_bytes = 300 * 1024;
    char stem[1024];
    snprintf(stem, sizeof stem, "%s", check_tmp("sharded.gguf"));
    lair_status s = lair_quantize_file(src, stem, &o, &res, &err);
    CHECKF(s == LAIR_OK, "%s", err.msg);
    CHECK(res.n_files >= 3);
    char shard[1100], last[1100];
    size_t stem_len = strlen(stem) - 5;
    snprintf(shard, sizeof shard, "%.*s-00002-of-%05d.gguf", (int)stem_len, stem, res.n_files);
    snprintf(last, sizeof last, "%.*s-%05d-of-%05d.gguf", (int)stem_len, stem, res.n_files, res.n_files);
    gguf_bundle *a, *b;
    REQUIRE(gguf_bundle_open(single, &a, &err) == LAIR_OK);
    s = gguf_bundle_open(shard, &b, &err);
    CHECKF(s == LAIR_OK, "%s", err.msg);
    if (s == LAIR_OK) {
        CHECK(b->n_files == res.n_files && b->n_tensors == a->n_tensors);
        gguf_str arch;
        CHECK(gguf_get_str(b->files[0], "general.architecture", &arch, &err) == LAIR_OK);
        for (uint64_t i = 0; i < a->n_tensors; i++) {
            const gguf_tensor *x = a->tensors[i], *y = gguf_bundle_find_tensor(b, x->name);
            CHECKF(y && y->type == x->type && y->nbytes == x->nbytes && memcmp(x->data, y->data, x->nbytes) == 0,
                   "tensor %s differs", x->name);
        }
        gguf_bundle_free(b);
    }
    gguf_bundle_free(a);
    /* a missing shard is named in the error */
    remove(last);
    CHECK(gguf_bundle_open(shard, &b, &err) == LAIR_ERR_IO && strstr(err.msg, "-of-"));
}

TEST(traits_cover_file_sizes) {
    /* every golden file's tensors are sized by the traits table */
    const char *src = check_testdata("golden/tiny-llama-Q3_K_M.gguf");
    if (!src) return;
    gguf_file *f;
    lair_err err;
    REQUIRE(gguf_open(src, &f, &err) == LAIR_OK);
    uint64_t total = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) total += f->tensors[i].nbytes;
    CHECK(total <= f->map.size - f->data_offset);
    CHECK(total + 32 * f->n_tensors >= f->map.size - f->data_offset);
    gguf_close(f);
}

int main(void) {
    RUN(writer_reader_roundtrip);
    RUN(writer_reader_roundtrip_alignment_64);
    RUN(writer_reader_roundtrip_alignment_1);
    RUN(writer_leaves_no_partial_file);
    RUN(copy_kv_preserves_every_value);
    RUN(split_bundle_matches_single_file);
    RUN(traits_cover_file_sizes);
    return check_done();
}
