/* Hostile GGUF input: every malformed file must be rejected with
 * LAIR_ERR_FORMAT (or UNSUPPORTED for foreign versions) and a message that
 * names the key or tensor and the byte offset — never a crash, a hang, a leak
 * or an allocation out of proportion to the file.
 *
 * The synthetic file is built here byte by byte; an independent walker then
 * lists the offset, width and owner of every count, length, type, dimension
 * and offset field, in it and in the real files of ../shared/testdata, so
 * that each field can be overwritten with boundary values.  Every parse runs
 * on a heap copy of exactly the file's size, so AddressSanitizer (make asan)
 * sees any read past the end. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/platform.h"
#include "gguf/gguf.h"

/* $LAIR_TESTS_QUICK (emulated cross runs): real files sampled more sparsely,
 * and time limits scaled for an emulator. */
static bool quick(void) { return getenv("LAIR_TESTS_QUICK") != NULL; }
static double time_scale(void) { return quick() ? 20.0 : 1.0; }

/* ---- byte builder ----------------------------------------------------------- */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void b_bytes(buf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) abort();
        b->p = q;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
}
static void b_u8(buf *b, uint8_t v) { b_bytes(b, &v, 1); }
static void b_u16(buf *b, uint16_t v) { b_bytes(b, &v, 2); }
static void b_u32(buf *b, uint32_t v) { b_bytes(b, &v, 4); }
static void b_u64(buf *b, uint64_t v) { b_bytes(b, &v, 8); }
static void b_f32(buf *b, float v) { b_bytes(b, &v, 4); }
static void b_f64(buf *b, double v) { b_bytes(b, &v, 8); }
static void b_strn(buf *b, const char *s, size_t n) {
    b_u64(b, n);
    b_bytes(b, s, n);
}
static void b_str(buf *b, const char *s) { b_strn(b, s, strlen(s)); }
static void b_key(buf *b, const char *key, uint32_t vtype) {
    b_str(b, key);
    b_u32(b, vtype);
}
static void b_arr(buf *b, uint32_t elem, uint64_t n) {
    b_u32(b, elem);
    b_u64(b, n);
}
static void b_zeros(buf *b, size_t n) {
    static const uint8_t z[64];
    while (n) {
        size_t k = n < sizeof z ? n : sizeof z;
        b_bytes(b, z, k);
        n -= k;
    }
}
static void b_free(buf *b) {
    free(b->p);
    *b = (buf){0};
}

static void put_le(uint8_t *p, int width, uint64_t v) {
    for (int i = 0; i < width; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get_le(const uint8_t *p, int width) {
    uint64_t v = 0;
    for (int i = 0; i < width; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* ---- the standard synthetic file --------------------------------------------
 * 24 entries covering every value type (a string array, a nested array, an
 * empty string, general.alignment = 64, a 5-token vocabulary with scores,
 * token types and bos/eos ids), then three tensors:
 *   token_embd.weight    f32  [8, 3]      96 bytes at data + 0
 *   blk.0.attn_q.weight  q4_0 [64, 2]     72 bytes at data + 128
 *   blk.0.attn_k.weight  q8_0 [32, 2, 2] 136 bytes at data + 256
 * and the file ends right after the last tensor, so every shorter prefix is
 * invalid. */
enum { ALIGN_U32, ALIGN_STR, ALIGN_NONE };

typedef struct spec {
    int align_mode;
    uint64_t n_token_type; /* entries of tokenizer.ggml.token_type (5 agrees with the vocabulary) */
    const buf *extra;      /* serialized entries appended to the metadata */
    uint64_t n_extra;
} spec;

#define STD_N_KV 24
#define STD_N_TENSORS 3
static const char *const std_tokens[5] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81\x61", "b"};
static const float std_scores[5] = {0.0f, -1.0f, -2.0f, -3.5f, -4.0f};
static const int32_t std_token_type[5] = {2, 3, 3, 1, 1};
static const char std_name[] = "hostile \xe2\x9c\x93 h\xc3\xa9"; /* "hostile ✓ hé" */

typedef struct std_tensor {
    const char *name;
    uint32_t n_dims;
    uint64_t ne[3];
    lair_type type;
    uint64_t nbytes; /* computed here, independently of the library */
} std_tensor;

static const std_tensor std_t[STD_N_TENSORS] = {
    {"token_embd.weight", 2, {8, 3, 1}, LAIR_TYPE_F32, 8 * 3 * 4},
    {"blk.0.attn_q.weight", 2, {64, 2, 1}, LAIR_TYPE_Q4_0, 2 * 2 * 18},
    {"blk.0.attn_k.weight", 3, {32, 2, 2}, LAIR_TYPE_Q8_0, 1 * 2 * 2 * 34},
};

static uint8_t data_pattern(int tensor, uint64_t k) { return (uint8_t)(tensor * 37 + k * 7 + 1); }

/* Returns the data section's offset in *data_off. */
static void build_std(buf *b, const spec *s, size_t *data_off) {
    uint64_t align = s->align_mode == ALIGN_U32 ? 64 : GGUF_DEFAULT_ALIGNMENT;
    uint64_t n_kv = STD_N_KV - (s->align_mode == ALIGN_NONE) + s->n_extra;
    b_u32(b, GGUF_MAGIC);
    b_u32(b, 3);
    b_u64(b, STD_N_TENSORS);
    b_u64(b, n_kv);

    b_key(b, "general.architecture", GGUF_TYPE_STRING);
    b_str(b, "llama");
    b_key(b, "general.name", GGUF_TYPE_STRING);
    b_str(b, std_name);
    if (s->align_mode == ALIGN_U32) {
        b_key(b, "general.alignment", GGUF_TYPE_UINT32);
        b_u32(b, (uint32_t)align);
    } else if (s->align_mode == ALIGN_STR) {
        b_key(b, "general.alignment", GGUF_TYPE_STRING);
        b_str(b, "32");
    }
    b_key(b, "test.u8", GGUF_TYPE_UINT8);
    b_u8(b, 200);
    b_key(b, "test.i8", GGUF_TYPE_INT8);
    b_u8(b, (uint8_t)-5);
    b_key(b, "test.u16", GGUF_TYPE_UINT16);
    b_u16(b, 60000);
    b_key(b, "test.i16", GGUF_TYPE_INT16);
    b_u16(b, (uint16_t)-30000);
    b_key(b, "test.u32", GGUF_TYPE_UINT32);
    b_u32(b, 4000000000u);
    b_key(b, "test.i32", GGUF_TYPE_INT32);
    b_u32(b, (uint32_t)-123456);
    b_key(b, "test.f32", GGUF_TYPE_FLOAT32);
    b_f32(b, 1.5f);
    b_key(b, "test.bool", GGUF_TYPE_BOOL);
    b_u8(b, 1);
    b_key(b, "test.u64", GGUF_TYPE_UINT64);
    b_u64(b, 1ull << 40);
    b_key(b, "test.i64", GGUF_TYPE_INT64);
    b_u64(b, (uint64_t)-(1ll << 40));
    b_key(b, "test.f64", GGUF_TYPE_FLOAT64);
    b_f64(b, 3.25);
    b_key(b, "test.empty", GGUF_TYPE_STRING);
    b_str(b, "");
    b_key(b, "test.arr_str", GGUF_TYPE_ARRAY);
    b_arr(b, GGUF_TYPE_STRING, 3);
    b_str(b, "a");
    b_str(b, "");
    b_str(b, "h\xc3\xa9llo");
    b_key(b, "test.arr_bool", GGUF_TYPE_ARRAY);
    b_arr(b, GGUF_TYPE_BOOL, 3);
    b_u8(b, 1);
    b_u8(b, 0);
    b_u8(b, 1);
    /* [[1, 2, 3] as i32, ["x", "yz"]] */
    b_key(b, "test.nested", GGUF_TYPE_ARRAY);
    b_arr(b, GGUF_TYPE_ARRAY, 2);
    b_arr(b, GGUF_TYPE_INT32, 3);
    b_u32(b, 1);
    b_u32(b, 2);
    b_u32(b, 3);
    b_arr(b, GGUF_TYPE_STRING, 2);
    b_str(b, "x");
    b_str(b, "yz");
    b_key(b, "tokenizer.ggml.model", GGUF_TYPE_STRING);
    b_str(b, "llama");
    b_key(b, "tokenizer.ggml.tokens", GGUF_TYPE_ARRAY);
    b_arr(b, GGUF_TYPE_STRING, 5);
    for (int i = 0; i < 5; i++) b_str(b, std_tokens[i]);
    b_key(b, "tokenizer.ggml.scores", GGUF_TYPE_ARRAY);
    b_arr(b, GGUF_TYPE_FLOAT32, 5);
    for (int i = 0; i < 5; i++) b_f32(b, std_scores[i]);
    b_key(b, "tokenizer.ggml.token_type", GGUF_TYPE_ARRAY);
    b_arr(b, GGUF_TYPE_INT32, s->n_token_type);
    for (uint64_t i = 0; i < s->n_token_type; i++) b_u32(b, (uint32_t)std_token_type[i % 5]);
    b_key(b, "tokenizer.ggml.bos_token_id", GGUF_TYPE_UINT32);
    b_u32(b, 1);
    b_key(b, "tokenizer.ggml.eos_token_id", GGUF_TYPE_UINT32);
    b_u32(b, 2);
    if (s->extra) b_bytes(b, s->extra->p, s->extra->n);

    uint64_t off[STD_N_TENSORS], end = 0;
    for (int i = 0; i < STD_N_TENSORS; i++) {
        off[i] = (end + align - 1) / align * align;
        end = off[i] + std_t[i].nbytes;
        b_str(b, std_t[i].name);
        b_u32(b, std_t[i].n_dims);
        for (uint32_t d = 0; d < std_t[i].n_dims; d++) b_u64(b, std_t[i].ne[d]);
        b_u32(b, (uint32_t)std_t[i].type);
        b_u64(b, off[i]);
    }
    b_zeros(b, (align - b->n % align) % align);
    *data_off = b->n;
    for (int i = 0; i < STD_N_TENSORS; i++) {
        b_zeros(b, *data_off + off[i] - b->n);
        for (uint64_t k = 0; k < std_t[i].nbytes; k++) b_u8(b, data_pattern(i, k));
    }
}

static spec std_spec(void) { return (spec){ALIGN_U32, 5, NULL, 0}; }

/* ---- field walker -----------------------------------------------------------
 * Lists the fields of a valid file (it trusts its input).  Elements of big
 * arrays are sampled: the first three and the last. */
enum fkind {
    F_NT, F_NKV,                                   /* header counts */
    F_KEYLEN, F_VTYPE, F_STRLEN, F_ETYPE, F_ARRN,  /* metadata */
    F_NAMELEN, F_NDIMS, F_NE, F_TTYPE, F_TOFF,     /* tensor infos */
    F_VAL,                                         /* a top-level scalar value (not mutated) */
    F_NKINDS
};
static const char *const fkind_name[F_NKINDS] = {
    "tensor count", "metadata count", "key length", "value type", "string length", "array element type",
    "array count", "tensor name length", "n_dims", "ne", "tensor type", "tensor offset", "value",
};

typedef struct field {
    size_t off;                  /* where the field starts */
    size_t owner_off, owner_end; /* the metadata entry or tensor info holding it */
    int width, kind, idx; /* idx: entry or tensor number */
    char owner[96];   /* key or tensor name */
} field;

typedef struct layout {
    field *f;
    int n, cap;
    uint64_t n_kv, n_tensors, align;
    size_t data_off;
} layout;

static void add_field(layout *L, size_t off, size_t owner_off, int width, int kind, int idx, const char *owner) {
    if (L->n == L->cap) {
        L->cap = L->cap ? L->cap * 2 : 256;
        L->f = realloc(L->f, (size_t)L->cap * sizeof *L->f);
        if (!L->f) abort();
    }
    field *f = &L->f[L->n++];
    *f = (field){off, owner_off, off + (size_t)width, width, kind, idx, {0}};
    snprintf(f->owner, sizeof f->owner, "%s", owner);
}

static const unsigned scalar_size[GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

static size_t walk_value(layout *L, const uint8_t *p, size_t pos, uint32_t t, bool record, size_t owner_off, int idx,
                         const char *owner) {
    if (t == GGUF_TYPE_STRING) {
        if (record) add_field(L, pos, owner_off, 8, F_STRLEN, idx, owner);
        return pos + 8 + (size_t)get_le(p + pos, 8);
    }
    if (t == GGUF_TYPE_ARRAY) {
        uint32_t et = (uint32_t)get_le(p + pos, 4);
        uint64_t n = get_le(p + pos + 4, 8);
        if (record) {
            add_field(L, pos, owner_off, 4, F_ETYPE, idx, owner);
            add_field(L, pos + 4, owner_off, 8, F_ARRN, idx, owner);
        }
        pos += 12;
        if (scalar_size[et]) return pos + (size_t)n * scalar_size[et];
        for (uint64_t i = 0; i < n; i++)
            pos = walk_value(L, p, pos, et, record && (i < 3 || i == n - 1), owner_off, idx, owner);
        return pos;
    }
    return pos + scalar_size[t];
}

static void set_owner_end(layout *L, int from, size_t end) {
    for (int i = from; i < L->n; i++) L->f[i].owner_end = end;
}

static void walk(layout *L, const uint8_t *p) {
    *L = (layout){0};
    L->n_tensors = get_le(p + 8, 8);
    L->n_kv = get_le(p + 16, 8);
    L->align = GGUF_DEFAULT_ALIGNMENT;
    add_field(L, 8, 8, 8, F_NT, 0, "tensor count");
    add_field(L, 16, 16, 8, F_NKV, 0, "metadata count");
    size_t pos = 24;
    char name[256];
    for (uint64_t i = 0; i < L->n_kv; i++) {
        size_t start = pos, len = (size_t)get_le(p + pos, 8);
        int first = L->n;
        snprintf(name, sizeof name, "%.*s", (int)(len < 255 ? len : 255), (const char *)p + pos + 8);
        add_field(L, pos, start, 8, F_KEYLEN, (int)i, name);
        pos += 8 + len;
        uint32_t t = (uint32_t)get_le(p + pos, 4);
        add_field(L, pos, start, 4, F_VTYPE, (int)i, name);
        pos += 4;
        if (scalar_size[t]) add_field(L, pos, start, (int)scalar_size[t], F_VAL, (int)i, name);
        if (strcmp(name, "general.alignment") == 0 && t == GGUF_TYPE_UINT32) L->align = get_le(p + pos, 4);
        pos = walk_value(L, p, pos, t, true, start, (int)i, name);
        set_owner_end(L, first, pos);
    }
    for (uint64_t i = 0; i < L->n_tensors; i++) {
        size_t start = pos, len = (size_t)get_le(p + pos, 8);
        int first = L->n;
        snprintf(name, sizeof name, "%.*s", (int)(len < 255 ? len : 255), (const char *)p + pos + 8);
        add_field(L, pos, start, 8, F_NAMELEN, (int)i, name);
        pos += 8 + len;
        uint32_t nd = (uint32_t)get_le(p + pos, 4);
        add_field(L, pos, start, 4, F_NDIMS, (int)i, name);
        pos += 4;
        for (uint32_t d = 0; d < nd; d++, pos += 8) add_field(L, pos, start, 8, F_NE, (int)i, name);
        add_field(L, pos, start, 4, F_TTYPE, (int)i, name);
        add_field(L, pos + 4, start, 8, F_TOFF, (int)i, name);
        pos += 12;
        set_owner_end(L, first, pos);
    }
    L->data_off = (pos + L->align - 1) / L->align * L->align;
}

/* The nth field of this kind owned by `owner` (NULL: any). */
static const field *find_field(const layout *L, int kind, const char *owner, int nth) {
    for (int i = 0; i < L->n; i++)
        if (L->f[i].kind == kind && (!owner || strcmp(L->f[i].owner, owner) == 0) && nth-- == 0) return &L->f[i];
    return NULL;
}

/* ---- parsing helpers -------------------------------------------------------- */

static volatile unsigned sink;

/* Reads everything a caller may read from a parsed file. */
static void touch(const gguf_file *f) {
    unsigned acc = 0;
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const gguf_kv *kv = &f->kv[i];
        acc += (unsigned)strlen(kv->key);
        CHECK(gguf_find_kv(f, kv->key) == kv);
        if (kv->raw_len) acc += kv->raw[0] + kv->raw[kv->raw_len - 1];
        if (kv->type == GGUF_TYPE_STRING && kv->v.str.len) acc += (unsigned char)kv->v.str.ptr[kv->v.str.len - 1];
        if (kv->type != GGUF_TYPE_ARRAY) continue;
        for (uint64_t j = 0; j < kv->arr_n; j++) {
            if (kv->arr_type == GGUF_TYPE_STRING) {
                gguf_str s = gguf_arr_str(kv, j);
                CHECK(gguf_utf8_valid(s.ptr, s.len));
                if (s.len) acc += (unsigned char)s.ptr[0] + (unsigned char)s.ptr[s.len - 1];
            } else if (gguf_vtype_size(kv->arr_type)) {
                acc += (unsigned)gguf_arr_i64(kv, j);
            }
        }
    }
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        const uint8_t *d = t->data;
        CHECK(gguf_find_tensor(f, t->name) == t);
        CHECK(t->nbytes > 0 && t->offset % f->alignment == 0);
        CHECK(d >= f->map.data + f->data_offset && d + t->nbytes <= f->map.data + f->map.size);
        acc += d[0] + d[t->nbytes - 1];
    }
    sink += acc;
}

static bool has(const char *msg, const char *needle) { return strstr(msg, needle) != NULL; }

/* The number after the first "offset 0x" of a message. */
static bool msg_offset(const char *msg, uint64_t *out) {
    const char *p = strstr(msg, "offset 0x");
    if (!p) return false;
    *out = strtoull(p + 9, NULL, 16);
    return true;
}

/* Parses a heap copy of exactly n bytes; on success touches every part of the
 * result.  The name in messages is "hostile.gguf". */
static lair_status parse_copy(const uint8_t *p, size_t n, lair_err *err) {
    uint8_t *c = malloc(n ? n : 1);
    if (!c) abort();
    if (n) memcpy(c, p, n);
    static gguf_file sentinel;
    gguf_file *f = &sentinel;
    memset(err, 0, sizeof *err);
    lair_status s = gguf_parse(c, n, "hostile.gguf", &f, err);
    if (s == LAIR_OK) {
        touch(f);
        gguf_close(f);
    } else {
        CHECKF(f == NULL, "failed parse left *out set");
        CHECKF(err->code == s, "err.code %d but status %d", (int)err->code, (int)s);
    }
    free(c);
    return s;
}

/* Expects `code` and a message of the form "gguf: hostile.gguf: ..." holding
 * every needle given (a NULL-terminated list). */
static void expect_err(const char *label, const uint8_t *p, size_t n, lair_status code, ...) {
    lair_err err;
    lair_status s = parse_copy(p, n, &err);
    if (s != code) {
        CHECKF(0, "%s: status %s, expected %s (%s)", label, lair_status_name(s), lair_status_name(code),
               s ? err.msg : "parsed");
        return;
    }
    CHECKF(strncmp(err.msg, "gguf: hostile.gguf: ", 20) == 0, "%s: message lacks the prefix: %s", label, err.msg);
    va_list ap;
    va_start(ap, code);
    for (const char *needle; (needle = va_arg(ap, const char *)) != NULL;)
        CHECKF(has(err.msg, needle), "%s: message lacks \"%s\": %s", label, needle, err.msg);
    va_end(ap);
}

static void expect_ok(const char *label, const uint8_t *p, size_t n) {
    lair_err err;
    lair_status s = parse_copy(p, n, &err);
    CHECKF(s == LAIR_OK, "%s: %s", label, err.msg);
}

/* The standard file with one field of the given kind/owner set to v. */
static void std_patched(buf *b, layout *L, int kind, const char *owner, int nth, uint64_t v) {
    size_t data_off;
    spec s = std_spec();
    build_std(b, &s, &data_off);
    walk(L, b->p);
    const field *f = find_field(L, kind, owner, nth);
    if (!f) {
        check_fail(__FILE__, __LINE__, "no %s field of %s", fkind_name[kind], owner ? owner : "any");
        return;
    }
    put_le(b->p + f->off, f->width, v);
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static char *fmt(char *dst, size_t cap, const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    vsnprintf(dst, cap, f, ap);
    va_end(ap);
    return dst;
}

/* ---- the valid file ---------------------------------------------------------- */

TEST(std_file_parses) {
    buf b = {0};
    size_t data_off;
    spec s = std_spec();
    build_std(&b, &s, &data_off);
    uint8_t *c = malloc(b.n);
    REQUIRE(c);
    memcpy(c, b.p, b.n);
    gguf_file *f;
    lair_err err;
    lair_status st = gguf_parse(c, b.n, "std.gguf", &f, &err);
    CHECKF(st == LAIR_OK, "%s", err.msg);
    if (st == LAIR_OK) {
        CHECK(f->version == 3 && f->n_kv == STD_N_KV && f->n_tensors == STD_N_TENSORS);
        CHECK(f->alignment == 64 && f->data_offset == data_off && data_off % 64 == 0);
        uint64_t u;
        int64_t i;
        double d;
        bool bo;
        gguf_str str;
        const gguf_kv *kv = NULL;
        CHECK(gguf_get_str(f, "general.architecture", &str, &err) == LAIR_OK && str.len == 5 && !memcmp(str.ptr, "llama", 5));
        CHECK(gguf_get_str(f, "general.name", &str, &err) == LAIR_OK && str.len == strlen(std_name) &&
              !memcmp(str.ptr, std_name, str.len));
        CHECK(gguf_get_u64(f, "general.alignment", &u, &err) == LAIR_OK && u == 64);
        CHECK(gguf_get_u64(f, "test.u8", &u, &err) == LAIR_OK && u == 200);
        CHECK(gguf_get_i64(f, "test.i8", &i, &err) == LAIR_OK && i == -5);
        CHECK(gguf_get_u64(f, "test.u16", &u, &err) == LAIR_OK && u == 60000);
        CHECK(gguf_get_i64(f, "test.i16", &i, &err) == LAIR_OK && i == -30000);
        CHECK(gguf_get_u64(f, "test.u32", &u, &err) == LAIR_OK && u == 4000000000u);
        CHECK(gguf_get_i64(f, "test.i32", &i, &err) == LAIR_OK && i == -123456);
        CHECK(gguf_get_f64(f, "test.f32", &d, &err) == LAIR_OK && d == 1.5);
        CHECK(gguf_get_bool(f, "test.bool", &bo, &err) == LAIR_OK && bo);
        CHECK(gguf_get_u64(f, "test.u64", &u, &err) == LAIR_OK && u == 1ull << 40);
        CHECK(gguf_get_i64(f, "test.i64", &i, &err) == LAIR_OK && i == -(1ll << 40));
        CHECK(gguf_get_f64(f, "test.f64", &d, &err) == LAIR_OK && d == 3.25);
        CHECK(gguf_get_str(f, "test.empty", &str, &err) == LAIR_OK && str.len == 0);
        CHECK(gguf_get_u64(f, "test.i8", &u, &err) == LAIR_ERR_FORMAT && has(err.msg, "key 'test.i8' at offset 0x"));
        CHECK(gguf_get_str(f, "test.u8", &str, &err) == LAIR_ERR_FORMAT);
        CHECK(gguf_get_u64(f, "no.such.key", &u, &err) == LAIR_ERR_ARG);

        CHECK(gguf_get_arr(f, "test.arr_str", GGUF_TYPE_STRING, &kv, &err) == LAIR_OK && kv->arr_n == 3);
        if (kv && kv->arr_n == 3) {
            gguf_str e0 = gguf_arr_str(kv, 0), e1 = gguf_arr_str(kv, 1), e2 = gguf_arr_str(kv, 2);
            CHECK(e0.len == 1 && e0.ptr[0] == 'a');
            CHECK(e1.len == 0);
            CHECK(e2.len == 6 && !memcmp(e2.ptr, "h\xc3\xa9llo", 6));
        }
        CHECK(gguf_get_arr(f, "test.arr_bool", GGUF_TYPE_BOOL, &kv, &err) == LAIR_OK && kv->arr_n == 3 &&
              gguf_arr_i64(kv, 0) == 1 && gguf_arr_i64(kv, 1) == 0);
        CHECK(gguf_get_arr(f, "test.nested", GGUF_TYPE_ARRAY, &kv, &err) == LAIR_OK && kv->arr_n == 2 &&
              kv->raw_len == 12 + (12 + 12) + (12 + 9 + 10));
        CHECK(gguf_get_arr(f, "test.nested", GGUF_TYPE_STRING, &kv, &err) == LAIR_ERR_FORMAT &&
              has(err.msg, "expected array of string, found array of array"));
        CHECK(gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &kv, &err) == LAIR_OK && kv->arr_n == 5);
        for (uint64_t k = 0; kv && k < kv->arr_n && k < 5; k++) {
            gguf_str t = gguf_arr_str(kv, k);
            CHECK(t.len == strlen(std_tokens[k]) && !memcmp(t.ptr, std_tokens[k], t.len));
        }
        CHECK(gguf_get_arr(f, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, &kv, &err) == LAIR_OK &&
              gguf_arr_f64(kv, 3) == -3.5);
        CHECK(gguf_get_arr(f, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, &kv, &err) == LAIR_OK &&
              gguf_arr_i64(kv, 1) == 3);
        CHECK(gguf_get_u64(f, "tokenizer.ggml.bos_token_id", &u, &err) == LAIR_OK && u == 1);

        uint64_t expect_off[STD_N_TENSORS] = {0, 128, 256};
        for (int t = 0; t < STD_N_TENSORS; t++) {
            const gguf_tensor *ten = gguf_find_tensor(f, std_t[t].name);
            CHECKF(ten != NULL, "tensor %s missing", std_t[t].name);
            if (!ten) continue;
            CHECK(ten == &f->tensors[t]);
            CHECK(ten->type == std_t[t].type && ten->n_dims == (int)std_t[t].n_dims);
            for (int dd = 0; dd < GGUF_MAX_DIMS; dd++)
                CHECK(ten->ne[dd] == (dd < (int)std_t[t].n_dims ? (int64_t)std_t[t].ne[dd] : 1));
            CHECK(ten->offset == expect_off[t] && ten->nbytes == std_t[t].nbytes);
            CHECK(ten->data == c + data_off + expect_off[t]);
            bool same = true;
            for (uint64_t k = 0; k < ten->nbytes; k++) same &= ((const uint8_t *)ten->data)[k] == data_pattern(t, k);
            CHECKF(same, "tensor %s data differs", std_t[t].name);
        }
        CHECK(gguf_find_tensor(f, "blk.0.attn_v.weight") == NULL);
        touch(f);
        gguf_close(f);
    }
    free(c);

    /* variants that are valid too: default alignment; arrays nested exactly
     * GGUF_MAX_ARRAY_DEPTH deep; a "none" special token id of -1 */
    buf x = {0};
    b_key(&x, "test.deep", GGUF_TYPE_ARRAY);
    for (int l = 0; l < GGUF_MAX_ARRAY_DEPTH - 1; l++) b_arr(&x, GGUF_TYPE_ARRAY, 1);
    b_arr(&x, GGUF_TYPE_INT32, 1);
    b_u32(&x, 7);
    b_key(&x, "tokenizer.ggml.padding_token_id", GGUF_TYPE_INT32);
    b_u32(&x, (uint32_t)-1);
    s = (spec){ALIGN_NONE, 5, &x, 2};
    b_free(&b);
    build_std(&b, &s, &data_off);
    expect_ok("default alignment, deep nesting, id -1", b.p, b.n);
    b_free(&b);
    b_free(&x);
}

/* ---- truncation -------------------------------------------------------------- */

/* Every prefix shorter than the file must fail with FORMAT and an offset. */
static int truncate_each(const char *label, const uint8_t *p, size_t n, size_t from, size_t to, size_t step) {
    int cases = 0;
    for (size_t k = from; k < to && k < n; k += step, cases++) {
        lair_err err;
        lair_status s = parse_copy(p, k, &err);
        CHECKF(s == LAIR_ERR_FORMAT, "%s truncated to %zu bytes: %s", label, k, s ? err.msg : "parsed");
        CHECKF(s == LAIR_OK || has(err.msg, "offset 0"), "%s truncated to %zu bytes: no offset in: %s", label, k,
               err.msg);
    }
    return cases;
}

TEST(std_file_truncated_at_every_offset) {
    int modes[] = {ALIGN_U32, ALIGN_NONE};
    int cases = 0;
    for (int m = 0; m < 2; m++) {
        buf b = {0};
        size_t data_off;
        spec s = std_spec();
        s.align_mode = modes[m];
        build_std(&b, &s, &data_off);
        expect_ok("untruncated", b.p, b.n);
        cases += truncate_each("std file", b.p, b.n, 0, b.n, 1);
        /* ending at the tensor infos: the data section would start past the end */
        layout L;
        walk(&L, b.p);
        size_t end_info = find_field(&L, F_TOFF, std_t[2].name, 0)->off + 8;
        char label[128];
        if (end_info % L.align)
            expect_err(fmt(label, sizeof label, "ends at 0x%zx", end_info), b.p, end_info, LAIR_ERR_FORMAT,
                       "data section at offset 0x", "starts past the end", (const char *)NULL);
        /* truncated inside a tensor: names it and its info offset */
        const field *fi = find_field(&L, F_NAMELEN, std_t[1].name, 0);
        fmt(label, sizeof label, "tensor '%s' (info at offset 0x%zx)", std_t[1].name, fi->off);
        uint64_t t1_off = get_le(b.p + find_field(&L, F_TOFF, std_t[1].name, 0)->off, 8);
        expect_err("inside tensor 1", b.p, data_off + t1_off + 10, LAIR_ERR_FORMAT, label, "runs past the end",
                   (const char *)NULL);
        free(L.f);
        b_free(&b);
    }
    printf("# %d truncations\n", cases);
}

/* ---- corrupted fields -------------------------------------------------------- */

/* Boundary values by field width: 0, 1, orig-1, orig+1 and the big ones. */
static int field_values(int width, uint64_t orig, uint64_t *v) {
    int n = 0;
    v[n++] = 0;
    v[n++] = 1;
    v[n++] = orig - 1;
    v[n++] = orig + 1;
    if (width == 4) {
        v[n++] = 0xffff;
        v[n++] = 1u << 31;
        v[n++] = 0xffffffffu;
    } else {
        v[n++] = 0xffffffffu;
        v[n++] = 1ull << 31;
        v[n++] = 1ull << 32;
        v[n++] = 1ull << 63;
        v[n++] = UINT64_MAX;
    }
    if (width == 4)
        for (int i = 0; i < n; i++) v[i] &= 0xffffffffu;
    return n;
}

/* Values a field can never hold in a valid file (given the rest intact). */
static bool must_fail(const field *f, uint64_t v, uint64_t orig, uint64_t align) {
    bool huge = v >= 1ull << 31;
    switch (f->kind) {
    case F_NT: case F_NKV: case F_STRLEN: case F_ARRN: return huge;
    case F_KEYLEN: case F_NAMELEN: return huge || v == 0;
    case F_VTYPE: case F_ETYPE: return v >= GGUF_TYPE_COUNT;
    case F_TTYPE: return v >= LAIR_TYPE_COUNT || lair_type_name((lair_type)v) == NULL;
    case F_NDIMS: return v == 0 || v > GGUF_MAX_DIMS;
    case F_NE: return v == 0 || huge;
    case F_TOFF: return huge || v % align != 0 || (v == 0 && orig != 0);
    default: return false;
    }
}

/* What a rejection of a huge value must name: the entry or tensor, and an
 * offset between the start of that entry and the field itself. */
static void check_names(const char *label, const field *f, const char *msg) {
    char want[160];
    switch (f->kind) {
    case F_NT: case F_NKV: snprintf(want, sizeof want, "%s", f->owner); break;
    case F_KEYLEN: snprintf(want, sizeof want, "metadata entry %d key", f->idx); break;
    case F_NAMELEN: snprintf(want, sizeof want, "tensor %d name", f->idx); break;
    case F_NDIMS: case F_NE: case F_TTYPE: case F_TOFF: snprintf(want, sizeof want, "tensor '%s'", f->owner); break;
    default: snprintf(want, sizeof want, "key '%s'", f->owner); break;
    }
    CHECKF(has(msg, want), "%s: message does not name \"%s\": %s", label, want, msg);
    uint64_t at;
    CHECKF(msg_offset(msg, &at) && at >= f->owner_off && at < f->owner_end,
           "%s: offset in message outside 0x%zx..0x%zx: %s", label, f->owner_off, f->owner_end, msg);
}

typedef struct mut_stats {
    int cases, accepted, rejected;
} mut_stats;

/* Overwrites each field of p (the file, n bytes, heap memory of exactly that
 * size) with each boundary value in turn; `every` > 1 samples the fields. */
static void mutate_fields(const char *file, uint8_t *p, size_t n, const layout *L, int every, mut_stats *st) {
    for (int i = 0; i < L->n; i += every) {
        const field *f = &L->f[i];
        if (f->kind == F_VAL) continue;
        uint64_t orig = get_le(p + f->off, f->width), vals[16];
        int nv = field_values(f->width, orig, vals);
        for (int k = 0; k < nv; k++) {
            if (vals[k] == orig) continue;
            put_le(p + f->off, f->width, vals[k]);
            char label[256];
            snprintf(label, sizeof label, "%s: %s of %s at 0x%zx = 0x%llx", file, fkind_name[f->kind], f->owner, f->off,
                     (unsigned long long)vals[k]);
            gguf_file *g = NULL;
            lair_err err;
            lair_status s = gguf_parse(p, n, "hostile.gguf", &g, &err);
            st->cases++;
            if (s == LAIR_OK) {
                st->accepted++;
                touch(g);
                gguf_close(g);
                CHECKF(!must_fail(f, vals[k], orig, L->align), "%s: accepted", label);
                if (getenv("LAIR_TEST_VERBOSE")) printf("# accepted %s\n", label);
            } else {
                st->rejected++;
                CHECKF(g == NULL && s == LAIR_ERR_FORMAT, "%s: %s: %s", label, lair_status_name(s), err.msg);
                CHECKF(strncmp(err.msg, "gguf: hostile.gguf: ", 20) == 0 && has(err.msg, "offset 0x"),
                       "%s: message lacks the name or an offset: %s", label, err.msg);
                /* an offset of 0 is reported as an overlap, which names
                 * whichever tensor comes second in the file's data */
                if (must_fail(f, vals[k], orig, L->align) && !(f->kind == F_TOFF && vals[k] == 0))
                    check_names(label, f, err.msg);
            }
        }
        put_le(p + f->off, f->width, orig);
    }
}

TEST(std_file_fields_corrupted) {
    mut_stats st = {0};
    int modes[] = {ALIGN_U32, ALIGN_NONE};
    for (int m = 0; m < 2; m++) {
        buf b = {0};
        size_t data_off;
        spec s = std_spec();
        s.align_mode = modes[m];
        build_std(&b, &s, &data_off);
        layout L;
        walk(&L, b.p);
        CHECK(L.data_off == data_off);
        uint8_t *c = malloc(b.n); /* exact size: ASan sees over-reads */
        REQUIRE(c);
        memcpy(c, b.p, b.n);
        mutate_fields("std", c, b.n, &L, 1, &st);
        free(c);
        free(L.f);
        b_free(&b);
    }
    printf("# %d corrupted fields: %d rejected, %d accepted\n", st.cases, st.rejected, st.accepted);
    CHECK(st.rejected > st.cases / 2);
}

/* ---- specific malformations -------------------------------------------------- */

TEST(bad_alignment) {
    buf b = {0};
    layout L;
    uint32_t bad[] = {0, 3, 48, GGUF_MAX_ALIGNMENT * 2};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        std_patched(&b, &L, F_VAL, "general.alignment", 0, bad[i]);
        char want[80], label[40];
        fmt(want, sizeof want, "key 'general.alignment' at offset 0x%zx: %u is not a power of two",
            find_field(&L, F_KEYLEN, "general.alignment", 0)->off, bad[i]);
        expect_err(fmt(label, sizeof label, "alignment %u", bad[i]), b.p, b.n, LAIR_ERR_FORMAT, want,
                   (const char *)NULL);
        free(L.f);
        b_free(&b);
    }
    size_t data_off;
    spec s = std_spec();
    s.align_mode = ALIGN_STR;
    build_std(&b, &s, &data_off);
    expect_err("alignment as a string", b.p, b.n, LAIR_ERR_FORMAT, "key 'general.alignment' at offset 0x",
               "expected u32, found string", (const char *)NULL);
    b_free(&b);
}

TEST(duplicates) {
    buf b = {0};
    layout L;
    size_t data_off;
    spec s = std_spec();
    build_std(&b, &s, &data_off);
    walk(&L, b.p);
    /* "test.u32" -> "test.i32": the later entry is reported */
    const field *u32 = find_field(&L, F_KEYLEN, "test.u32", 0), *i32 = find_field(&L, F_KEYLEN, "test.i32", 0);
    REQUIRE(u32 && i32);
    b.p[u32->off + 8 + 5] = 'i';
    char want[96];
    expect_err("duplicate key", b.p, b.n, LAIR_ERR_FORMAT,
               fmt(want, sizeof want, "key 'test.i32' at offset 0x%zx: duplicate key", i32->off), (const char *)NULL);
    b.p[u32->off + 8 + 5] = 'u';
    /* "blk.0.attn_k.weight" -> "blk.0.attn_q.weight" */
    const field *k = find_field(&L, F_NAMELEN, std_t[2].name, 0);
    REQUIRE(k);
    b.p[k->off + 8 + 11] = 'q';
    expect_err("duplicate tensor name", b.p, b.n, LAIR_ERR_FORMAT,
               fmt(want, sizeof want, "tensor 'blk.0.attn_q.weight' at offset 0x%zx: duplicate tensor name", k->off),
               (const char *)NULL);
    free(L.f);
    b_free(&b);
}

TEST(unknown_types) {
    buf b = {0};
    layout L;
    char want[128], label[64];
    std_patched(&b, &L, F_VTYPE, "test.u16", 0, 13);
    expect_err("value type 13", b.p, b.n, LAIR_ERR_FORMAT,
               fmt(want, sizeof want, "key 'test.u16' at offset 0x%zx: unknown value type 13",
                   find_field(&L, F_VTYPE, "test.u16", 0)->off),
               (const char *)NULL);
    free(L.f);
    b_free(&b);
    std_patched(&b, &L, F_ETYPE, "test.arr_str", 0, 13);
    expect_err("array element type 13", b.p, b.n, LAIR_ERR_FORMAT, "key 'test.arr_str' at offset 0x",
               "unknown array element type 13", (const char *)NULL);
    free(L.f);
    b_free(&b);
    std_patched(&b, &L, F_ETYPE, "test.nested", 1, 200);
    expect_err("nested array element type 200", b.p, b.n, LAIR_ERR_FORMAT, "key 'test.nested'",
               "unknown array element type 200", (const char *)NULL);
    free(L.f);
    b_free(&b);
    uint32_t bad[] = {4, 5, 31, 32, 33, 36, 38, LAIR_TYPE_COUNT, 99, 0xffffffffu};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        std_patched(&b, &L, F_TTYPE, std_t[1].name, 0, bad[i]);
        fmt(want, sizeof want, "tensor '%s' at offset 0x%zx: unknown tensor type %u", std_t[1].name,
            find_field(&L, F_TTYPE, std_t[1].name, 0)->off, bad[i]);
        expect_err(fmt(label, sizeof label, "tensor type %u", bad[i]), b.p, b.n, LAIR_ERR_FORMAT, want,
                   (const char *)NULL);
        free(L.f);
        b_free(&b);
    }
}

TEST(bad_shapes) {
    buf b = {0};
    layout L;
    char want[160], label[64];
    uint32_t nd[] = {0, 5, 0x80000000u};
    for (size_t i = 0; i < 3; i++) {
        std_patched(&b, &L, F_NDIMS, std_t[0].name, 0, nd[i]);
        fmt(want, sizeof want, "tensor '%s' at offset 0x%zx: %u dimensions (1 to 4 allowed)", std_t[0].name,
            find_field(&L, F_NDIMS, std_t[0].name, 0)->off, nd[i]);
        expect_err(fmt(label, sizeof label, "n_dims %u", nd[i]), b.p, b.n, LAIR_ERR_FORMAT, want, (const char *)NULL);
        free(L.f);
        b_free(&b);
    }
    for (int d = 0; d < 3; d++) {
        std_patched(&b, &L, F_NE, std_t[2].name, d, 0);
        fmt(want, sizeof want, "tensor '%s' at offset 0x%zx: dimension %d is 0", std_t[2].name,
            find_field(&L, F_NE, std_t[2].name, d)->off, d);
        expect_err(fmt(label, sizeof label, "ne[%d] = 0", d), b.p, b.n, LAIR_ERR_FORMAT, want, (const char *)NULL);
        free(L.f);
        b_free(&b);
    }
    std_patched(&b, &L, F_NE, std_t[1].name, 0, 33);
    expect_err("q4_0 row of 33", b.p, b.n, LAIR_ERR_FORMAT, "tensor 'blk.0.attn_q.weight' at offset 0x",
               "row length 33 is not a multiple of q4_0's block size 32", (const char *)NULL);
    free(L.f);
    b_free(&b);
    std_patched(&b, &L, F_NE, std_t[2].name, 0, 48);
    expect_err("q8_0 row of 48", b.p, b.n, LAIR_ERR_FORMAT, "tensor 'blk.0.attn_k.weight'",
               "row length 48 is not a multiple of q8_0's block size 32", (const char *)NULL);
    free(L.f);
    b_free(&b);
    std_patched(&b, &L, F_NE, std_t[0].name, 0, 1ull << 63);
    expect_err("ne = 2^63", b.p, b.n, LAIR_ERR_FORMAT, "tensor 'token_embd.weight'", "must be 1 to 2^63-1",
               (const char *)NULL);
    free(L.f);
    b_free(&b);

    /* products: f32 2^40 x 2^40; 2^62 x 1 (2^64 bytes); 2^62 x 2; (2^63-1) x 3;
     * and for q4_0, whose bytes fit: 2^62 x 4 (2^64 elements), 2^62 x 2 (> int64) */
    struct { int t; uint64_t ne0, ne1; } big[] = {
        {0, 1ull << 40, 1ull << 40}, {0, 1ull << 62, 1}, {0, 1ull << 62, 2}, {0, INT64_MAX, 3},
        {1, 1ull << 62, 4}, {1, 1ull << 62, 2},
    };
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        const char *tn = std_t[big[i].t].name;
        std_patched(&b, &L, F_NE, tn, 0, big[i].ne0);
        put_le(b.p + find_field(&L, F_NE, tn, 1)->off, 8, big[i].ne1);
        fmt(want, sizeof want, "tensor '%s' at offset 0x%zx: shape overflows", tn, find_field(&L, F_NAMELEN, tn, 0)->off);
        expect_err(fmt(label, sizeof label, "shape %llu x %llu", (unsigned long long)big[i].ne0,
                       (unsigned long long)big[i].ne1),
                   b.p, b.n, LAIR_ERR_FORMAT, want, (const char *)NULL);
        free(L.f);
        b_free(&b);
    }
    /* 2^31 x 2 elements: fits every type, but not the file */
    std_patched(&b, &L, F_NE, std_t[0].name, 1, 1ull << 31);
    expect_err("large but valid shape", b.p, b.n, LAIR_ERR_FORMAT, "tensor 'token_embd.weight' (info at offset 0x",
               "runs past the end", (const char *)NULL);
    free(L.f);
    b_free(&b);
}

TEST(bad_tensor_offsets) {
    buf b = {0};
    layout L;
    char want[200], want2[64];
    std_patched(&b, &L, F_TOFF, std_t[2].name, 0, 256 + 32); /* aligned to 32, not to 64 */
    expect_err("unaligned offset", b.p, b.n, LAIR_ERR_FORMAT,
               fmt(want, sizeof want, "tensor '%s' at offset 0x%zx: data offset 0x120 is not a multiple of the alignment 64",
                   std_t[2].name, find_field(&L, F_TOFF, std_t[2].name, 0)->off),
               (const char *)NULL);
    free(L.f);
    b_free(&b);
    std_patched(&b, &L, F_TOFF, std_t[1].name, 0, 128 + 1);
    expect_err("offset + 1", b.p, b.n, LAIR_ERR_FORMAT, "not a multiple of the alignment", (const char *)NULL);
    free(L.f);
    b_free(&b);
    std_patched(&b, &L, F_TOFF, std_t[2].name, 0, 320); /* 320 + 136 > 392 */
    expect_err("out of bounds", b.p, b.n, LAIR_ERR_FORMAT,
               fmt(want, sizeof want, "tensor '%s' (info at offset 0x%zx): data at ", std_t[2].name,
                   find_field(&L, F_NAMELEN, std_t[2].name, 0)->off),
               fmt(want2, sizeof want2, "0x%zx + 136 bytes runs past the end", L.data_off + 320), (const char *)NULL);
    free(L.f);
    b_free(&b);
    std_patched(&b, &L, F_TOFF, std_t[2].name, 0, 1ull << 63);
    expect_err("offset 2^63", b.p, b.n, LAIR_ERR_FORMAT, "runs past the end", (const char *)NULL);
    free(L.f);
    b_free(&b);
    std_patched(&b, &L, F_TOFF, std_t[2].name, 0, UINT64_MAX - 63); /* aligned; offset + size wraps */
    expect_err("offset near 2^64", b.p, b.n, LAIR_ERR_FORMAT, "tensor 'blk.0.attn_k.weight'", "runs past the end",
               (const char *)NULL);
    free(L.f);
    b_free(&b);
    std_patched(&b, &L, F_TOFF, std_t[1].name, 0, 64); /* [64, 136) overlaps token_embd [0, 96) */
    expect_err("overlap", b.p, b.n, LAIR_ERR_FORMAT,
               fmt(want, sizeof want, "tensor 'blk.0.attn_q.weight' (info at offset 0x%zx): data at 0x%zx overlaps tensor 'token_embd.weight'",
                   find_field(&L, F_NAMELEN, std_t[1].name, 0)->off, L.data_off + 64),
               (const char *)NULL);
    free(L.f);
    b_free(&b);
    std_patched(&b, &L, F_TOFF, std_t[2].name, 0, 0); /* same start as token_embd */
    expect_err("same offset", b.p, b.n, LAIR_ERR_FORMAT, "overlaps tensor", (const char *)NULL);
    free(L.f);
    b_free(&b);
}

TEST(tokenizer_tables) {
    buf b = {0};
    layout L;
    std_patched(&b, &L, F_ETYPE, "tokenizer.ggml.scores", 0, GGUF_TYPE_INT32);
    expect_err("scores as i32", b.p, b.n, LAIR_ERR_FORMAT, "key 'tokenizer.ggml.scores' at offset 0x",
               "expected array of f32, found array of i32", (const char *)NULL);
    free(L.f);
    b_free(&b);
    std_patched(&b, &L, F_VTYPE, "tokenizer.ggml.bos_token_id", 0, GGUF_TYPE_FLOAT32);
    expect_err("bos id as f32", b.p, b.n, LAIR_ERR_FORMAT, "key 'tokenizer.ggml.bos_token_id'",
               "expected an integer token id, found f32", (const char *)NULL);
    free(L.f);
    b_free(&b);
    uint32_t ids[] = {5, 0xffffffffu};
    for (int i = 0; i < 2; i++) {
        std_patched(&b, &L, F_VAL, "tokenizer.ggml.bos_token_id", 0, ids[i]);
        char want[128];
        fmt(want, sizeof want, "key 'tokenizer.ggml.bos_token_id' at offset 0x%zx: token id %u is out of range",
            find_field(&L, F_KEYLEN, "tokenizer.ggml.bos_token_id", 0)->off, ids[i]);
        expect_err("bos id out of range", b.p, b.n, LAIR_ERR_FORMAT, want, "vocabulary has 5 tokens", (const char *)NULL);
        free(L.f);
        b_free(&b);
    }
    /* wider and signed ids: only -1 ("none") may lie outside the vocabulary */
    struct { uint32_t type; uint64_t v; int width; bool ok; } ids2[] = {
        {GGUF_TYPE_UINT64, 4, 8, true},          {GGUF_TYPE_UINT64, 5, 8, false},
        {GGUF_TYPE_UINT64, 1ull << 63, 8, false}, {GGUF_TYPE_UINT64, UINT64_MAX, 8, false},
        {GGUF_TYPE_INT64, UINT64_MAX, 8, true},   {GGUF_TYPE_INT64, 1ull << 63, 8, false},
        {GGUF_TYPE_INT32, 0xffffffffu, 4, true},  {GGUF_TYPE_INT32, 0xfffffffeu, 4, false},
        {GGUF_TYPE_INT8, 0xff, 1, true},          {GGUF_TYPE_UINT16, 0xffff, 2, false},
    };
    for (size_t i = 0; i < sizeof ids2 / sizeof ids2[0]; i++) {
        buf x = {0};
        b_key(&x, "tokenizer.ggml.eot_token_id", ids2[i].type);
        b_bytes(&x, &ids2[i].v, (size_t)ids2[i].width);
        spec s = {ALIGN_U32, 5, &x, 1};
        size_t data_off;
        build_std(&b, &s, &data_off);
        char label[96], want[96];
        fmt(label, sizeof label, "eot id %s 0x%llx", gguf_vtype_name(ids2[i].type), (unsigned long long)ids2[i].v);
        if (ids2[i].ok)
            expect_ok(label, b.p, b.n);
        else if (ids2[i].type == GGUF_TYPE_UINT64)
            expect_err(label, b.p, b.n, LAIR_ERR_FORMAT, "key 'tokenizer.ggml.eot_token_id' at offset 0x",
                       fmt(want, sizeof want, "token id %llu is out of range", (unsigned long long)ids2[i].v),
                       (const char *)NULL);
        else
            expect_err(label, b.p, b.n, LAIR_ERR_FORMAT, "key 'tokenizer.ggml.eot_token_id' at offset 0x",
                       "is out of range", (const char *)NULL);
        b_free(&b);
        b_free(&x);
    }
    uint64_t counts[] = {4, 6, 0};
    for (int i = 0; i < 3; i++) {
        size_t data_off;
        spec s = std_spec();
        s.n_token_type = counts[i];
        build_std(&b, &s, &data_off);
        char want[96];
        expect_err("token_type length", b.p, b.n, LAIR_ERR_FORMAT, "key 'tokenizer.ggml.token_type' at offset 0x",
                   fmt(want, sizeof want, "%llu entries but tokenizer.ggml.tokens has 5", (unsigned long long)counts[i]),
                   (const char *)NULL);
        b_free(&b);
    }
    std_patched(&b, &L, F_ETYPE, "tokenizer.ggml.tokens", 0, GGUF_TYPE_UINT8); /* then the strings read as bytes */
    expect_err("tokens not strings", b.p, b.n, LAIR_ERR_FORMAT, (const char *)NULL);
    free(L.f);
    b_free(&b);
}

TEST(bad_text) {
    buf b = {0};
    layout L;
    size_t data_off;
    spec s = std_spec();
    build_std(&b, &s, &data_off);
    walk(&L, b.p);
    struct { const char *label; int kind; const char *owner; int nth; size_t at; const uint8_t bytes[3]; int nb; const char *want; } cases[] = {
        {"key 0xff", F_KEYLEN, "test.u16", 0, 8 + 2, {0xff}, 1, "metadata entry 5 key at offset 0x"},
        {"key NUL", F_KEYLEN, "test.u16", 0, 8 + 2, {0}, 1, "empty key or key with a NUL byte"},
        {"key truncated sequence", F_KEYLEN, "test.u16", 0, 8 + 7, {0xc3}, 1, "not valid UTF-8"},
        {"tensor name 0xc0 0x80 (overlong NUL)", F_NAMELEN, "blk.0.attn_q.weight", 0, 8 + 3, {0xc0, 0x80}, 2,
         "tensor 1 name at offset 0x"},
        {"tensor name NUL", F_NAMELEN, "blk.0.attn_q.weight", 0, 8 + 3, {0}, 1, "empty name or name with a NUL byte"},
        {"string value 0xfe", F_STRLEN, "general.name", 0, 8 + 0, {0xfe}, 1, "key 'general.name' at offset 0x"},
        {"string value surrogate", F_STRLEN, "general.name", 0, 8 + 8, {0xed, 0xa0, 0x80}, 3, "not valid UTF-8"},
        {"string value > U+10FFFF", F_STRLEN, "general.name", 0, 8 + 8, {0xf4, 0x90, 0x80}, 3, "not valid UTF-8"},
        {"string value overlong", F_STRLEN, "general.name", 0, 8 + 13, {0xc1, 0xa9}, 2, "not valid UTF-8"},
        {"string array element", F_STRLEN, "test.arr_str", 2, 8 + 1, {0xa9}, 1, "key 'test.arr_str' at offset 0x"},
        {"nested string element", F_STRLEN, "test.nested", 1, 8 + 1, {0x80}, 1, "key 'test.nested'"},
        {"token text", F_STRLEN, "tokenizer.ggml.tokens", 2, 8 + 2, {0xff}, 1, "key 'tokenizer.ggml.tokens'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const field *f = find_field(&L, cases[i].kind, cases[i].owner, cases[i].nth);
        REQUIRE(f);
        uint8_t save[3];
        memcpy(save, b.p + f->off + cases[i].at, (size_t)cases[i].nb);
        memcpy(b.p + f->off + cases[i].at, cases[i].bytes, (size_t)cases[i].nb);
        const char *utf8 = cases[i].bytes[0] ? "not valid UTF-8" : "NUL";
        expect_err(cases[i].label, b.p, b.n, LAIR_ERR_FORMAT, cases[i].want, utf8, (const char *)NULL);
        memcpy(b.p + f->off + cases[i].at, save, (size_t)cases[i].nb);
    }
    expect_ok("restored", b.p, b.n);
    /* empty key, empty tensor name */
    b_free(&b);
    free(L.f);
    std_patched(&b, &L, F_KEYLEN, "test.i8", 0, 0);
    expect_err("empty key", b.p, b.n, LAIR_ERR_FORMAT, "metadata entry 4 key", "empty key", (const char *)NULL);
    free(L.f);
    b_free(&b);
    std_patched(&b, &L, F_NAMELEN, std_t[0].name, 0, 0);
    expect_err("empty tensor name", b.p, b.n, LAIR_ERR_FORMAT, "tensor 0 name", "empty name", (const char *)NULL);
    free(L.f);
    b_free(&b);
    /* over-long key and tensor name */
    buf x = {0};
    char *big = malloc(GGUF_MAX_KEY_LEN + 2);
    REQUIRE(big);
    memset(big, 'k', GGUF_MAX_KEY_LEN + 1);
    big[GGUF_MAX_KEY_LEN + 1] = '\0';
    b_key(&x, big, GGUF_TYPE_UINT8);
    b_u8(&x, 1);
    spec s2 = {ALIGN_U32, 5, &x, 1};
    build_std(&b, &s2, &data_off);
    expect_err("key of 65536 bytes", b.p, b.n, LAIR_ERR_FORMAT, "metadata entry 24 key", "exceeds the limit of 65535",
               (const char *)NULL);
    b_free(&b);
    b_free(&x);
    big[GGUF_MAX_KEY_LEN] = '\0';
    b_key(&x, big, GGUF_TYPE_UINT8);
    b_u8(&x, 1);
    build_std(&b, &s2, &data_off);
    expect_ok("key of 65535 bytes", b.p, b.n);
    b_free(&b);
    b_free(&x);
    free(big);
}

TEST(bad_bools) {
    buf b = {0};
    layout L;
    std_patched(&b, &L, F_VAL, "test.bool", 0, 2);
    expect_err("bool 2", b.p, b.n, LAIR_ERR_FORMAT, "key 'test.bool' at offset 0x", "bool is neither 0 nor 1",
               (const char *)NULL);
    free(L.f);
    b_free(&b);
    std_patched(&b, &L, F_ARRN, "test.arr_bool", 0, 3);
    const field *f = find_field(&L, F_ARRN, "test.arr_bool", 0);
    b.p[f->off + 8 + 1] = 0xff;
    char want[64];
    expect_err("bool array element 0xff", b.p, b.n, LAIR_ERR_FORMAT, "key 'test.arr_bool'",
               fmt(want, sizeof want, "at offset 0x%zx: bool is neither", f->off + 8 + 1), (const char *)NULL);
    free(L.f);
    b_free(&b);
}

TEST(bad_header) {
    buf b = {0};
    size_t data_off;
    spec s = std_spec();
    build_std(&b, &s, &data_off);
    struct { uint32_t version; lair_status code; const char *want; } v[] = {
        {1, LAIR_ERR_UNSUPPORTED, "GGUF version 1 is not supported"},
        {0x03000000u, LAIR_ERR_UNSUPPORTED, "big-endian"},
        {0x02000000u, LAIR_ERR_UNSUPPORTED, "big-endian"},
        {0, LAIR_ERR_UNSUPPORTED, "unsupported GGUF version 0 at offset 0x4"},
        {4, LAIR_ERR_UNSUPPORTED, "unsupported GGUF version 4 at offset 0x4"},
        {0xffffffffu, LAIR_ERR_UNSUPPORTED, "unsupported GGUF version 4294967295"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        put_le(b.p + 4, 4, v[i].version);
        expect_err(v[i].want, b.p, b.n, v[i].code, v[i].want, (const char *)NULL);
    }
    put_le(b.p + 4, 4, 2);
    expect_ok("version 2", b.p, b.n);
    put_le(b.p + 4, 4, 3);
    const char *magics[] = {"GGUG", "gguf", "FUGG", "GGML", "\0\0\0\0"};
    for (size_t i = 0; i < sizeof magics / sizeof magics[0]; i++) {
        memcpy(b.p, magics[i], 4);
        expect_err("bad magic", b.p, b.n, LAIR_ERR_FORMAT, "not a GGUF file", (const char *)NULL);
    }
    memcpy(b.p, "GGUF", 4);
    /* counts impossible for the bytes that follow (but below the hard limits) */
    uint64_t nkv = (b.n - 24) / 14 + 1, nt = (b.n - 24) / 33 + 1;
    put_le(b.p + 16, 8, nkv);
    expect_err("n_kv too big for the file", b.p, b.n, LAIR_ERR_FORMAT, "metadata count", "at offset 0x10 is impossible",
               (const char *)NULL);
    put_le(b.p + 16, 8, STD_N_KV);
    put_le(b.p + 8, 8, nt);
    expect_err("n_tensors too big for the file", b.p, b.n, LAIR_ERR_FORMAT, "tensor count", "at offset 0x8 is impossible",
               (const char *)NULL);
    b_free(&b);
}

/* Arrays nested `levels` deep holding one i32. */
static void nested(buf *x, int levels) {
    for (int l = 0; l < levels - 1; l++) b_arr(x, GGUF_TYPE_ARRAY, 1);
    b_arr(x, GGUF_TYPE_INT32, 1);
    b_u32(x, 7);
}

TEST(deep_and_huge_arrays) {
    buf b = {0}, x = {0};
    size_t data_off;
    char label[64];
    for (int levels = GGUF_MAX_ARRAY_DEPTH + 1; levels <= GGUF_MAX_ARRAY_DEPTH + 3; levels++) {
        b_key(&x, "test.deep", GGUF_TYPE_ARRAY);
        nested(&x, levels);
        spec s = {ALIGN_U32, 5, &x, 1};
        build_std(&b, &s, &data_off);
        expect_err(fmt(label, sizeof label, "%d levels", levels), b.p, b.n, LAIR_ERR_FORMAT,
                   "key 'test.deep' at offset 0x", "arrays nested too deeply", (const char *)NULL);
        b_free(&b);
        b_free(&x);
    }
    /* 2^62 elements declared, 16 bytes present: rejected before any
     * allocation (a real one would fail, or abort under ASan) */
    uint32_t et[] = {GGUF_TYPE_UINT8, GGUF_TYPE_UINT64, GGUF_TYPE_STRING, GGUF_TYPE_ARRAY, GGUF_TYPE_BOOL};
    for (size_t i = 0; i < sizeof et / sizeof et[0]; i++) {
        uint64_t counts[] = {1ull << 62, UINT64_MAX, 1ull << 32};
        for (int k = 0; k < 3; k++) {
            b_key(&x, "test.huge", GGUF_TYPE_ARRAY);
            b_arr(&x, et[i], counts[k]);
            b_zeros(&x, 16);
            spec s = {ALIGN_U32, 5, &x, 1};
            build_std(&b, &s, &data_off);
            double t0 = lair_time_seconds();
            char want[64];
            expect_err(fmt(label, sizeof label, "%s array of %llu", gguf_vtype_name(et[i]), (unsigned long long)counts[k]),
                       b.p, b.n, LAIR_ERR_FORMAT, "key 'test.huge' at offset 0x",
                       fmt(want, sizeof want, "array of %llu %s elements", (unsigned long long)counts[k],
                           gguf_vtype_name(et[i])),
                       (const char *)NULL);
            CHECKF(lair_time_seconds() - t0 < 0.1 * time_scale(), "%s: slow rejection", label);
            b_free(&b);
            b_free(&x);
        }
    }
    /* a huge nested count inside a valid outer array */
    b_key(&x, "test.huge", GGUF_TYPE_ARRAY);
    b_arr(&x, GGUF_TYPE_ARRAY, 1);
    b_arr(&x, GGUF_TYPE_STRING, 1ull << 62);
    spec s = {ALIGN_U32, 5, &x, 1};
    build_std(&b, &s, &data_off);
    expect_err("nested 2^62 strings", b.p, b.n, LAIR_ERR_FORMAT, "key 'test.huge'", "cannot fit", (const char *)NULL);
    b_free(&b);
    b_free(&x);
}

/* ---- pathological but bounded inputs: no hang ------------------------------- */

/* A file with no tensors and the given extra entries. */
static void meta_only(buf *b, const buf *entries, uint64_t n) {
    b_u32(b, GGUF_MAGIC);
    b_u32(b, 3);
    b_u64(b, 0);
    b_u64(b, n);
    b_bytes(b, entries->p, entries->n);
}

static void timed(const char *label, const buf *b, lair_status want) {
    double t0 = lair_time_seconds();
    lair_err err;
    lair_status s = parse_copy(b->p, b->n, &err);
    double dt = lair_time_seconds() - t0;
    CHECKF(s == want, "%s: %s", label, s ? err.msg : "parsed");
    CHECKF(dt < 1.0 * time_scale(), "%s: %.3f s", label, dt);
    printf("# %s: %zu bytes, %.1f ms\n", label, b->n, dt * 1e3);
}

TEST(pathological_inputs_finish_quickly) {
    buf b = {0}, x = {0};
    /* 10^6 empty nested arrays (12 MB) */
    b_key(&x, "test.many", GGUF_TYPE_ARRAY);
    b_arr(&x, GGUF_TYPE_ARRAY, 1000000);
    for (int i = 0; i < 1000000; i++) b_arr(&x, GGUF_TYPE_UINT8, 0);
    meta_only(&b, &x, 1);
    timed("10^6 empty nested arrays", &b, LAIR_OK);
    /* the same, each inner array claiming 2^40 elements: the first fails */
    for (size_t i = 0; i < 1000000; i++) put_le(b.p + 24 + 8 + 9 + 4 + 12 + 12 * i + 4, 8, 1ull << 40);
    timed("10^6 nested arrays of 2^40", &b, LAIR_ERR_FORMAT);
    b_free(&b);
    b_free(&x);
    /* 10^6 empty strings (8 MB) */
    b_key(&x, "test.strings", GGUF_TYPE_ARRAY);
    b_arr(&x, GGUF_TYPE_STRING, 1000000);
    for (int i = 0; i < 1000000; i++) b_u64(&x, 0);
    meta_only(&b, &x, 1);
    timed("10^6 empty strings", &b, LAIR_OK);
    b_free(&b);
    b_free(&x);
    /* 10^7 bools, the last one bad */
    b_key(&x, "test.bools", GGUF_TYPE_ARRAY);
    b_arr(&x, GGUF_TYPE_BOOL, 10000000);
    b_zeros(&x, 10000000 - 1);
    b_u8(&x, 2);
    meta_only(&b, &x, 1);
    timed("10^7 bools", &b, LAIR_ERR_FORMAT);
    b_free(&b);
    b_free(&x);
    /* a 16 MiB string of 4-byte UTF-8 sequences */
    b_key(&x, "test.text", GGUF_TYPE_STRING);
    b_u64(&x, 16u << 20);
    size_t at = x.n;
    b_zeros(&x, 16u << 20);
    for (size_t i = 0; i < 16u << 20; i += 4) memcpy(x.p + at + i, "\xf0\x9f\x98\x80", 4);
    meta_only(&b, &x, 1);
    timed("16 MiB string", &b, LAIR_OK);
    b_free(&b);
    b_free(&x);
    /* the most keys allowed, then one more */
    for (int i = 0; i < 65536; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%05x", (unsigned)(i * 40503u) & 0xffff);
        b_key(&x, k, GGUF_TYPE_UINT8);
        b_u8(&x, 1);
    }
    meta_only(&b, &x, 65536);
    timed("65536 keys", &b, LAIR_OK);
    b_free(&b);
    b_key(&x, "k10000", GGUF_TYPE_UINT8);
    b_u8(&x, 1);
    meta_only(&b, &x, 65537);
    timed("65537 keys", &b, LAIR_ERR_FORMAT);
    b_free(&b);
    b_free(&x);
    /* 100,000 tensors of one f32, then the same all at offset 0 */
    enum { NT = 100000 };
    b_u32(&b, GGUF_MAGIC);
    b_u32(&b, 3);
    b_u64(&b, NT);
    b_u64(&b, 0);
    for (uint32_t i = 0; i < NT; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%06u", (i * 7919u) % NT);
        b_str(&b, name);
        b_u32(&b, 1);
        b_u64(&b, 1);
        b_u32(&b, LAIR_TYPE_F32);
        b_u64(&b, (uint64_t)i * 32);
    }
    b_zeros(&b, (32 - b.n % 32) % 32);
    size_t info_end = b.n;
    b_zeros(&b, (size_t)NT * 32);
    timed("100000 tensors", &b, LAIR_OK);
    for (size_t i = 0; i < NT; i++) put_le(b.p + 24 + 39 * i + 31, 8, 0); /* entries of 39 bytes, offset last */
    b.n = info_end + 32;
    timed("100000 overlapping tensors", &b, LAIR_ERR_FORMAT);
    b_free(&b);
}

/* ---- real files --------------------------------------------------------------- */

typedef struct name_list {
    char **v;
    int n;
} name_list;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Paths of dir/ *.gguf, sorted. */
static name_list list_gguf(const char *rel_dir) {
    name_list l = {0};
    const char *dir = check_testdata(rel_dir);
    if (!dir) return l;
    char root[1024];
    snprintf(root, sizeof root, "%s", dir);
    DIR *d = opendir(root);
    if (!d) return l;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".gguf") != 0) continue;
        l.v = realloc(l.v, (size_t)(l.n + 1) * sizeof *l.v);
        l.v[l.n] = malloc(strlen(root) + len + 2);
        if (!l.v || !l.v[l.n]) abort();
        sprintf(l.v[l.n++], "%s/%s", root, e->d_name);
    }
    closedir(d);
    if (l.n) qsort(l.v, (size_t)l.n, sizeof *l.v, cmp_str);
    return l;
}

static void free_list(name_list *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Truncations of a mapped real file: every offset below `dense` bytes, the
 * start of every field, a stride through the metadata, and a few offsets in
 * the data section (parsed in place: beyond the metadata the parser reads
 * nothing). */
static int truncate_real(const char *path, size_t dense, size_t stride) {
    lair_map m;
    lair_err err;
    if (lair_map_file(path, &m, &err) != LAIR_OK) {
        check_fail(__FILE__, __LINE__, "%s", err.msg);
        return 0;
    }
    const char *name = base_name(path);
    int cases = 0;
    gguf_file *f = NULL;
    lair_status s = gguf_parse(m.data, m.size, "hostile.gguf", &f, &err); /* whole: in place */
    CHECKF(s == LAIR_OK, "%s: %s", name, err.msg);
    if (s == LAIR_OK) touch(f);
    gguf_close(f);
    layout L;
    walk(&L, m.data);
    size_t meta = L.n_tensors ? L.data_off : (size_t)m.size;
    size_t copy_limit = meta < (1u << 20) ? meta : (1u << 20);
    cases += truncate_each(name, m.data, copy_limit, 0, dense, 1);
    cases += truncate_each(name, m.data, copy_limit, dense, copy_limit, stride);
    for (int i = 0; i < L.n; i++) {
        if (L.f[i].off + 1 >= copy_limit) continue;
        cases += truncate_each(name, m.data, copy_limit, L.f[i].off, L.f[i].off + 1, 1);
    }
    for (size_t k = copy_limit; k < m.size; k += (m.size - copy_limit) / 2 + 1) {
        f = NULL;
        s = gguf_parse(m.data, k, "hostile.gguf", &f, &err);
        CHECKF(s == LAIR_ERR_FORMAT && has(err.msg, "offset 0x"), "%s truncated to %zu: %s", name, k,
               s ? err.msg : "parsed");
        gguf_close(f);
        cases++;
    }
    f = NULL;
    s = gguf_parse(m.data, m.size - 1, "hostile.gguf", &f, &err);
    CHECKF(s == LAIR_ERR_FORMAT, "%s without its last byte: %s", name, s ? err.msg : "parsed");
    gguf_close(f);
    free(L.f);
    lair_map_release(&m);
    return cases + 1;
}

TEST(golden_files_truncated) {
    name_list l = list_gguf("golden");
    if (!l.n) return;
    int cases = 0;
    CHECK(l.n >= 3);
    for (int i = 0; i < l.n; i++) {
        /* the file with the most metadata at every offset, the rest sampled */
        bool full = strstr(l.v[i], "tiny-gemma2-F16.gguf") != NULL && !quick();
        cases += truncate_real(l.v[i], full ? SIZE_MAX / 2 : 64, 257);
    }
    printf("# %d truncations of %d files\n", cases, l.n);
    free_list(&l);
}

TEST(vocab_files_truncated) {
    name_list l = list_gguf("vocab");
    if (!l.n) return;
    int cases = 0;
    for (int i = 0; i < l.n && (i < 2 || !quick()); i++) cases += truncate_real(l.v[i], 1024, 49999);
    printf("# %d truncations of %d files\n", cases, l.n);
    free_list(&l);
}

/* The full matrix of field corruptions on real files (in a heap copy of
 * exactly the file's size, corrupted and restored in place). */
static void mutate_real(const char *rel, int every, mut_stats *st) {
    const char *path = check_testdata(rel);
    if (!path) return;
    size_t n;
    unsigned char *raw = check_read_file(path, &n);
    REQUIRE(raw);
    uint8_t *p = malloc(n);
    REQUIRE(p);
    memcpy(p, raw, n);
    free(raw);
    expect_ok(rel, p, n);
    layout L;
    walk(&L, p);
    mutate_fields(base_name(rel), p, n, &L, every, st);
    free(L.f);
    free(p);
}

TEST(real_files_fields_corrupted) {
    mut_stats st = {0};
    int q = quick() ? 4 : 1;
    mutate_real("golden/tiny-llama-Q2_K.gguf", q, &st);
    mutate_real("golden/tiny-moe-Q4_K_M.gguf", q, &st);
    mutate_real("golden/tiny-phi3-Q4_0.gguf", 3 * q, &st);
    mutate_real("vocab/ggml-vocab-bert-bge.gguf", q, &st);
    mutate_real("vocab/ggml-vocab-llama-spm.gguf", 2 * q, &st);
    printf("# %d corrupted fields: %d rejected, %d accepted\n", st.cases, st.rejected, st.accepted);
}

/* RUN, and the case's time on a comment line. */
#define TRUN(name)                                                                      \
    do {                                                                                \
        double t0_ = lair_time_seconds();                                               \
        RUN(name);                                                                      \
        printf("#   %s: %.0f ms\n", #name, (lair_time_seconds() - t0_) * 1e3);          \
    } while (0)

int main(void) {
    TRUN(std_file_parses);
    TRUN(std_file_truncated_at_every_offset);
    TRUN(std_file_fields_corrupted);
    TRUN(bad_alignment);
    TRUN(duplicates);
    TRUN(unknown_types);
    TRUN(bad_shapes);
    TRUN(bad_tensor_offsets);
    TRUN(tokenizer_tables);
    TRUN(bad_text);
    TRUN(bad_bools);
    TRUN(bad_header);
    TRUN(deep_and_huge_arrays);
    TRUN(pathological_inputs_finish_quickly);
    TRUN(golden_files_truncated);
    TRUN(vocab_files_truncated);
    TRUN(real_files_fields_corrupted);
    return check_done();
}
