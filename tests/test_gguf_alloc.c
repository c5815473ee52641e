/* Out of memory, SQLite-style: every allocation made by the GGUF reader, the
 * bundle opener and the writer is failed in turn (lair_alloc_fail_after(n)
 * for n = 0, 1, 2, ...; once one allocation fails, all later ones fail too).
 * Each run must report LAIR_ERR_NOMEM with a message and leave nothing
 * behind: no leak (LeakSanitizer checks the asan build at exit), no file at
 * the destination path.  Once n exceeds the allocations a run makes, it must
 * succeed with the same result as without fault injection. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/alloc.h"
#include "gguf/gguf.h"

#define MAX_ALLOCS 10000 /* a run that still fails after this many is stuck */

static bool exists(const char *path) { return access(path, F_OK) == 0; }

static bool tmp_exists(const char *path) {
    char t[1100];
    snprintf(t, sizeof t, "%s.tmp", path);
    return exists(t);
}

/* ---- the file written and read ---------------------------------------------- */

static const char *const tokens[] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81the", "a", "b", "c"};
#define N_TOKENS 7
static const char *const merges[] = {"a b", "\xe2\x96\x81 t", "h e"};

typedef struct tdesc {
    const char *name;
    lair_type type;
    int n_dims;
    int64_t ne[3];
    uint64_t nbytes;
} tdesc;

static const tdesc tens[] = {
    {"token_embd.weight", LAIR_TYPE_F32, 2, {8, N_TOKENS, 1}, 8 * N_TOKENS * 4},
    {"blk.0.attn_q.weight", LAIR_TYPE_Q4_0, 2, {64, 3, 1}, 2 * 3 * 18},
    {"blk.0.ffn_up.weight", LAIR_TYPE_Q8_0, 3, {32, 2, 2}, 4 * 34},
};
#define N_TENS 3

static uint8_t pattern(int t, uint64_t k) { return (uint8_t)(t * 53 + k * 3 + 5); }

/* The whole writer sequence; the writer is freed on every path (a failure
 * included, while fault injection is still armed). `extra`, when non-NULL,
 * is copied in verbatim (gguf_writer_copy_kv). */
static lair_status write_file(const char *path, const gguf_kv *extra, lair_err *err) {
    gguf_writer *w;
    lair_status s = gguf_writer_init(&w, err);
    if (s) return s;
    float scores[N_TOKENS];
    int32_t ttype[N_TOKENS];
    for (int i = 0; i < N_TOKENS; i++) {
        scores[i] = -(float)i;
        ttype[i] = i < 3 ? 3 : 1;
    }
    static const uint16_t shorts[4] = {1, 2, 3, 65535};
    if ((s = gguf_writer_set_str(w, "general.architecture", "llama")) ||
        (s = gguf_writer_set_str(w, "general.name", "alloc \xe2\x9c\x93")) ||
        (s = gguf_writer_set_u32(w, "general.alignment", 64)) ||
        (s = gguf_writer_set_u32(w, "general.file_type", 2)) ||
        (s = gguf_writer_set_i32(w, "test.i32", -7)) || (s = gguf_writer_set_u16(w, "test.u16", 513)) ||
        (s = gguf_writer_set_u64(w, "test.u64", 1ull << 50)) || (s = gguf_writer_set_f32(w, "test.f32", 0.25f)) ||
        (s = gguf_writer_set_bool(w, "test.bool", true)) || (s = gguf_writer_set_str(w, "test.gone", "x")) ||
        (s = gguf_writer_set_arr(w, "test.shorts", GGUF_TYPE_UINT16, shorts, 4)) ||
        (s = gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2")) ||
        (s = gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tokens, N_TOKENS)) ||
        (s = gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, N_TOKENS)) ||
        (s = gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, ttype, N_TOKENS)) ||
        (s = gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, 3)) ||
        (s = gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1)) ||
        (s = gguf_writer_set_str(w, "test.gone", "replaced")) || (extra && (s = gguf_writer_copy_kv(w, extra)))) {
        if (err) snprintf(err->msg, sizeof err->msg, "gguf writer: setting metadata: %s", lair_status_name(s));
        gguf_writer_free(w);
        return s;
    }
    gguf_writer_remove(w, "test.gone");
    for (int i = 0; i < N_TENS && !s; i++) s = gguf_writer_add_tensor(w, tens[i].name, tens[i].type, tens[i].n_dims, tens[i].ne, err);
    if (!s) s = gguf_writer_begin(w, path, err);
    for (int i = 0; i < N_TENS && !s; i++) {
        uint8_t buf[512];
        for (uint64_t k = 0; k < tens[i].nbytes; k++) buf[k] = pattern(i, k);
        /* in two chunks: the writer must join them */
        uint64_t half = tens[i].nbytes / 2;
        s = gguf_writer_write(w, buf, half, err);
        if (!s) s = gguf_writer_write(w, buf + half, tens[i].nbytes - half, err);
    }
    if (!s) s = gguf_writer_finish(w, err);
    gguf_writer_free(w);
    return s;
}

/* What write_file wrote (extra: the copied key, or NULL). */
static void check_contents(const gguf_file *f, const char *extra) {
    lair_err err;
    uint64_t u;
    int64_t i;
    gguf_str str;
    const gguf_kv *kv = NULL;
    CHECKF(f->n_kv == 16u + (extra != NULL) && f->n_tensors == N_TENS && f->alignment == 64,
           "%llu keys, %llu tensors, alignment %llu", (unsigned long long)f->n_kv, (unsigned long long)f->n_tensors,
           (unsigned long long)f->alignment);
    CHECK(gguf_get_str(f, "general.name", &str, &err) == LAIR_OK && str.len == 9 && !memcmp(str.ptr, "alloc \xe2\x9c\x93", 9));
    CHECK(gguf_get_i64(f, "test.i32", &i, &err) == LAIR_OK && i == -7);
    CHECK(gguf_get_u64(f, "test.u64", &u, &err) == LAIR_OK && u == 1ull << 50);
    CHECK(gguf_find_kv(f, "test.gone") == NULL);
    CHECK(gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &kv, &err) == LAIR_OK && kv->arr_n == N_TOKENS);
    for (uint64_t k = 0; kv && k < kv->arr_n && k < N_TOKENS; k++) {
        gguf_str t = gguf_arr_str(kv, k);
        CHECK(t.len == strlen(tokens[k]) && !memcmp(t.ptr, tokens[k], t.len));
    }
    kv = NULL;
    CHECK(gguf_get_arr(f, "tokenizer.ggml.merges", GGUF_TYPE_STRING, &kv, &err) == LAIR_OK && kv->arr_n == 3);
    if (kv && kv->arr_n == 3) CHECK(gguf_arr_str(kv, 2).len == 3 && !memcmp(gguf_arr_str(kv, 2).ptr, "h e", 3));
    kv = NULL;
    CHECK(gguf_get_arr(f, "test.shorts", GGUF_TYPE_UINT16, &kv, &err) == LAIR_OK && gguf_arr_i64(kv, 3) == 65535);
    if (extra) CHECK(gguf_find_kv(f, extra) != NULL);
    for (int t = 0; t < N_TENS; t++) {
        const gguf_tensor *ten = gguf_find_tensor(f, tens[t].name);
        CHECKF(ten && ten->type == tens[t].type && ten->nbytes == tens[t].nbytes && ten->offset % 64 == 0,
               "tensor %s", tens[t].name);
        if (!ten) continue;
        bool same = true;
        for (uint64_t k = 0; k < ten->nbytes; k++) same &= ((const uint8_t *)ten->data)[k] == pattern(t, k);
        CHECKF(same, "tensor %s data", tens[t].name);
    }
}

/* Reads a file into heap memory of exactly its size. */
static uint8_t *read_exact(const char *path, size_t *n) {
    unsigned char *raw = check_read_file(path, n);
    if (!raw) return NULL;
    uint8_t *p = malloc(*n ? *n : 1);
    if (p && *n) memcpy(p, raw, *n);
    free(raw);
    return p;
}

/* Checks a failed run: NOMEM, a message, *out untouched-or-NULL. */
static void check_nomem(const char *label, long n, lair_status s, const lair_err *err) {
    CHECKF(s == LAIR_ERR_NOMEM, "%s, allocation %ld failed: %s: %s", label, n, lair_status_name(s), err->msg);
    CHECKF(err->msg[0] != '\0' && strstr(err->msg, "out of memory") != NULL,
           "%s, allocation %ld failed: message \"%s\"", label, n, err->msg);
}

/* ---- reader ------------------------------------------------------------------ */

typedef lair_status (*open_fn)(const void *ctx, void **out, lair_err *err);
typedef void (*close_fn)(void *obj);
typedef void (*verify_fn)(const void *obj, const void *ctx);

/* Fails allocation 0, 1, 2, ... of one operation until it succeeds; returns
 * how many allocations the successful run made (its n). */
static long fail_each(const char *label, open_fn op, close_fn cl, verify_fn verify, const void *ctx) {
    for (long n = 0; n < MAX_ALLOCS; n++) {
        void *obj = (void *)&obj; /* must come back NULL on failure */
        lair_err err;
        memset(&err, 0, sizeof err);
        lair_alloc_fail_after(n);
        lair_status s = op(ctx, &obj, &err);
        lair_alloc_fail_after(-1);
        if (s == LAIR_OK) {
            if (verify) verify(obj, ctx);
            cl(obj);
            printf("# %s: %ld allocations, each failed once\n", label, n);
            return n;
        }
        check_nomem(label, n, s, &err);
        CHECKF(obj == NULL, "%s, allocation %ld failed: result not NULL", label, n);
    }
    CHECKF(0, "%s: still failing after %d allocations", label, MAX_ALLOCS);
    return -1;
}

typedef struct mem_file {
    const uint8_t *p;
    size_t n;
    const char *extra;
} mem_file;

static lair_status op_parse(const void *ctx, void **out, lair_err *err) {
    const mem_file *m = ctx;
    return gguf_parse(m->p, m->n, "alloc.gguf", (gguf_file **)out, err);
}
static lair_status op_open(const void *ctx, void **out, lair_err *err) {
    return gguf_open(ctx, (gguf_file **)out, err);
}
static lair_status op_bundle(const void *ctx, void **out, lair_err *err) {
    return gguf_bundle_open(ctx, (gguf_bundle **)out, err);
}
static void cl_file(void *obj) { gguf_close(obj); }
static void cl_bundle(void *obj) { gguf_bundle_free(obj); }
static void verify_mem(const void *obj, const void *ctx) { check_contents(obj, ((const mem_file *)ctx)->extra); }
static void verify_written(const void *obj, const void *ctx) {
    (void)ctx;
    check_contents(obj, NULL);
}
static void verify_any(const void *obj, const void *ctx) {
    const gguf_file *f = obj;
    (void)ctx;
    CHECK(f->n_kv > 0);
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const gguf_kv *kv = &f->kv[i];
        CHECK(gguf_find_kv(f, kv->key) == kv);
        if (kv->type == GGUF_TYPE_ARRAY && kv->arr_type == GGUF_TYPE_STRING && kv->arr_n)
            CHECK(gguf_utf8_valid(gguf_arr_str(kv, kv->arr_n - 1).ptr, gguf_arr_str(kv, kv->arr_n - 1).len));
    }
    for (uint64_t i = 0; i < f->n_tensors; i++) CHECK(gguf_find_tensor(f, f->tensors[i].name) == &f->tensors[i]);
}

TEST(parse_in_memory) {
    char path[1024];
    snprintf(path, sizeof path, "%s", check_tmp("alloc-mem.gguf"));
    lair_err err;
    lair_status s = write_file(path, NULL, &err);
    REQUIRE(s == LAIR_OK);
    size_t n;
    uint8_t *p = read_exact(path, &n);
    REQUIRE(p);
    mem_file m = {p, n, NULL};
    long allocs = fail_each("gguf_parse", op_parse, cl_file, verify_mem, &m);
    CHECK(allocs >= 8); /* file, name, arena, tables, two string arrays */
    /* the same file through gguf_open (mapping + parse) */
    fail_each("gguf_open", op_open, cl_file, verify_written, path);
    free(p);
    remove(path);
}

TEST(open_golden_files) {
    const char *files[] = {"golden/tiny-llama-Q4_0.gguf", "golden/tiny-moe-Q4_K_M.gguf", "vocab/ggml-vocab-gpt-2.gguf"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        const char *path = check_testdata(files[i]);
        if (!path) return;
        char copy[1024];
        snprintf(copy, sizeof copy, "%s", path);
        fail_each(files[i], op_open, cl_file, verify_any, copy);
    }
}

TEST(open_split_bundle) {
    /* NAME-00001-of-00003.gguf ...: three shards of one tensor each */
    char paths[3][1024];
    for (int i = 0; i < 3; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "alloc-split-%05d-of-00003.gguf", i + 1);
        snprintf(paths[i], sizeof paths[i], "%s", check_tmp(rel));
        gguf_writer *w;
        lair_err err;
        REQUIRE(gguf_writer_init(&w, &err) == LAIR_OK);
        bool ok = gguf_writer_set_u16(w, "split.no", (uint16_t)i) == LAIR_OK &&
                  gguf_writer_set_u16(w, "split.count", 3) == LAIR_OK &&
                  gguf_writer_set_i32(w, "split.tensors.count", 3) == LAIR_OK &&
                  (i > 0 || gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tokens, N_TOKENS) == LAIR_OK) &&
                  gguf_writer_add_tensor(w, tens[i].name, tens[i].type, tens[i].n_dims, tens[i].ne, &err) == LAIR_OK &&
                  gguf_writer_begin(w, paths[i], &err) == LAIR_OK;
        uint8_t buf[512] = {0};
        ok = ok && gguf_writer_write(w, buf, tens[i].nbytes, &err) == LAIR_OK && gguf_writer_finish(w, &err) == LAIR_OK;
        gguf_writer_free(w);
        REQUIRE(ok);
    }
    gguf_bundle *b;
    lair_err err;
    REQUIRE(gguf_bundle_open(paths[1], &b, &err) == LAIR_OK); /* any shard opens the set */
    CHECK(b->n_files == 3 && b->n_tensors == 3 && gguf_bundle_find_tensor(b, tens[2].name) != NULL);
    gguf_bundle_free(b);
    fail_each("gguf_bundle_open", op_bundle, cl_bundle, NULL, paths[0]);
    fail_each("gguf_bundle_open (second shard)", op_bundle, cl_bundle, NULL, paths[1]);
    for (int i = 0; i < 3; i++) remove(paths[i]);
}

/* ---- writer ------------------------------------------------------------------ */

TEST(writer) {
    char path[1024], src_path[1024];
    snprintf(path, sizeof path, "%s", check_tmp("alloc-out.gguf"));
    snprintf(src_path, sizeof src_path, "%s", check_tmp("alloc-src.gguf"));
    lair_err err;
    REQUIRE(write_file(src_path, NULL, &err) == LAIR_OK);
    gguf_file *src;
    REQUIRE(gguf_open(src_path, &src, &err) == LAIR_OK);
    const gguf_kv *merges_kv = gguf_find_kv(src, "tokenizer.ggml.merges");
    REQUIRE(merges_kv);
    /* copy_kv needs a key that is not set yet: rename by copying the struct */
    gguf_kv extra = *merges_kv;
    extra.key = "test.copied_merges";
    long n;
    for (n = 0; n < MAX_ALLOCS; n++) {
        remove(path);
        memset(&err, 0, sizeof err);
        lair_alloc_fail_after(n);
        lair_status s = write_file(path, &extra, &err);
        lair_alloc_fail_after(-1);
        if (s == LAIR_OK) break;
        CHECKF(s == LAIR_ERR_NOMEM, "writer, allocation %ld failed: %s: %s", n, lair_status_name(s), err.msg);
        CHECKF(err.msg[0] != '\0', "writer, allocation %ld failed: no message", n);
        CHECKF(!exists(path), "writer, allocation %ld failed: %s exists", n, path);
        CHECKF(!tmp_exists(path), "writer, allocation %ld failed: %s.tmp left behind", n, path);
    }
    CHECKF(n < MAX_ALLOCS, "writer still failing after %d allocations", MAX_ALLOCS);
    printf("# gguf_writer sequence: %ld allocations, each failed once\n", n);
    gguf_file *f;
    if (gguf_open(path, &f, &err) == LAIR_OK) {
        check_contents(f, "test.copied_merges");
        const gguf_kv *c = gguf_find_kv(f, "test.copied_merges");
        CHECK(c && c->arr_n == 3 && c->raw_len == merges_kv->raw_len && !memcmp(c->raw, merges_kv->raw, c->raw_len));
        gguf_close(f);
    } else {
        CHECKF(0, "%s", err.msg);
    }
    CHECK(!tmp_exists(path));
    gguf_close(src);
    remove(path);
    remove(src_path);
}

int main(void) {
    RUN(parse_in_memory);
    RUN(open_golden_files);
    RUN(open_split_bundle);
    RUN(writer);
    return check_done();
}
