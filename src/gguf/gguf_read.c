/* The validating GGUF reader.  Every count, length and offset is checked
 * against the bytes that remain before anything is allocated or read, with
 * overflow-checked arithmetic, so a hostile file yields an error naming the
 * key or tensor and the byte offset — never a crash, a hang or an allocation
 * out of proportion to the file. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/checked.h"
#include "core/err.h"
#include "gguf/gguf.h"
#include "tensor/format.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "lair reads GGUF with little-endian loads; big-endian hosts are not supported"
#endif

/* Bounds: how many entries a file may declare at most (real models carry
 * under 100 keys and under 10,000 tensors). */
#define GGUF_MAX_KV 65536u
#define GGUF_MAX_TENSORS 1048576u
/* Smallest possible serialized entries, to bound counts by the bytes left. */
#define MIN_KV_BYTES 14u     /* key len 8 + 1 byte key + type 4 + 1 byte value */
#define MIN_TENSOR_BYTES 33u /* name len 8 + 1 byte name + n_dims 4 + ne 8 + type 4 + offset 8 */

typedef struct cursor {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;
    const char *name; /* file name for messages */
    lair_err *err;
} cursor;

static uint64_t remaining(const cursor *c) { return c->size - c->pos; }

static lair_status fail(cursor *c, lair_status code, const char *what, uint64_t at, const char *detail) {
    return lair_err_set(c->err, code, "gguf: %s: %s at offset 0x%llx: %s", c->name, what, (unsigned long long)at,
                        detail);
}

/* Ensures n more bytes exist. `what` names the field being read. */
static lair_status need(cursor *c, uint64_t n, const char *what) {
    if (n <= remaining(c)) return LAIR_OK;
    return lair_err_set(c->err, LAIR_ERR_FORMAT,
                        "gguf: %s: %s at offset 0x%llx needs %llu bytes but only %llu remain (file is %llu bytes)",
                        c->name, what, (unsigned long long)c->pos, (unsigned long long)n,
                        (unsigned long long)remaining(c), (unsigned long long)c->size);
}

static lair_status rd_u32(cursor *c, uint32_t *v, const char *what) {
    lair_status s = need(c, 4, what);
    if (s) return s;
    memcpy(v, c->base + c->pos, 4);
    c->pos += 4;
    return LAIR_OK;
}

static lair_status rd_u64(cursor *c, uint64_t *v, const char *what) {
    lair_status s = need(c, 8, what);
    if (s) return s;
    memcpy(v, c->base + c->pos, 8);
    c->pos += 8;
    return LAIR_OK;
}

/* A string: u64 length + bytes, at most max_len bytes, valid UTF-8. */
static lair_status rd_str(cursor *c, gguf_str *out, uint64_t max_len, const char *what) {
    uint64_t at = c->pos, len;
    lair_status s = rd_u64(c, &len, what);
    if (s) return s;
    if (len > max_len) {
        char d[96];
        snprintf(d, sizeof d, "length %llu exceeds the limit of %llu bytes", (unsigned long long)len,
                 (unsigned long long)max_len);
        return fail(c, LAIR_ERR_FORMAT, what, at, d);
    }
    if ((s = need(c, len, what))) return s;
    out->ptr = (const char *)c->base + c->pos;
    out->len = len;
    if (!gguf_utf8_valid(out->ptr, len)) return fail(c, LAIR_ERR_FORMAT, what, at, "not valid UTF-8");
    c->pos += len;
    return LAIR_OK;
}

/* Validates one value of type t at the cursor and moves past it.  kv, when
 * non-NULL, receives the decoded scalar or array description (top level). */
static lair_status rd_value(cursor *c, gguf_vtype t, int depth, const char *what, gguf_kv *kv) {
    lair_status s;
    uint64_t at = c->pos;
    switch (t) {
    case GGUF_TYPE_STRING: {
        gguf_str str;
        if ((s = rd_str(c, &str, GGUF_MAX_STRING_LEN, what))) return s;
        if (kv) kv->v.str = str;
        return LAIR_OK;
    }
    case GGUF_TYPE_ARRAY: {
        uint32_t et;
        uint64_t n;
        if (depth >= GGUF_MAX_ARRAY_DEPTH) return fail(c, LAIR_ERR_FORMAT, what, at, "arrays nested too deeply");
        if ((s = rd_u32(c, &et, what))) return s;
        if (et >= GGUF_TYPE_COUNT) {
            char d[64];
            snprintf(d, sizeof d, "unknown array element type %u", et);
            return fail(c, LAIR_ERR_FORMAT, what, at, d);
        }
        if ((s = rd_u64(c, &n, what))) return s;
        if (kv) {
            kv->arr_type = (gguf_vtype)et;
            kv->arr_n = n;
            kv->arr_data = c->base + c->pos;
        }
        unsigned esz = gguf_vtype_size((gguf_vtype)et);
        if (esz) {
            uint64_t bytes;
            if (ck_mul_u64(n, esz, &bytes) || bytes > remaining(c)) {
                char d[128];
                snprintf(d, sizeof d, "array of %llu %s elements needs more than the %llu bytes that remain",
                         (unsigned long long)n, gguf_vtype_name((gguf_vtype)et), (unsigned long long)remaining(c));
                return fail(c, LAIR_ERR_FORMAT, what, at, d);
            }
            if (et == GGUF_TYPE_BOOL) {
                for (uint64_t i = 0; i < n; i++)
                    if (c->base[c->pos + i] > 1) return fail(c, LAIR_ERR_FORMAT, what, c->pos + i, "bool is neither 0 nor 1");
            }
            c->pos += bytes;
            return LAIR_OK;
        }
        /* strings take >= 8 bytes each, arrays >= 12: bound n before allocating */
        uint64_t min_elem = et == GGUF_TYPE_STRING ? 8 : 12;
        if (n > remaining(c) / min_elem) {
            char d[128];
            snprintf(d, sizeof d, "array of %llu %s elements cannot fit in the %llu bytes that remain",
                     (unsigned long long)n, gguf_vtype_name((gguf_vtype)et), (unsigned long long)remaining(c));
            return fail(c, LAIR_ERR_FORMAT, what, at, d);
        }
        if (kv && et == GGUF_TYPE_STRING) {
            kv->arr_str_off = lair_malloc(n ? n * sizeof(uint64_t) : 1);
            if (!kv->arr_str_off) return lair_err_set(c->err, LAIR_ERR_NOMEM, "gguf: %s: out of memory", c->name);
        }
        for (uint64_t i = 0; i < n; i++) {
            if (kv && et == GGUF_TYPE_STRING) kv->arr_str_off[i] = (uint64_t)(c->base + c->pos - kv->arr_data);
            if ((s = rd_value(c, (gguf_vtype)et, depth + 1, what, NULL))) return s;
        }
        return LAIR_OK;
    }
    default: {
        unsigned esz = gguf_vtype_size(t);
        if ((s = need(c, esz, what))) return s;
        const uint8_t *p = c->base + c->pos;
        if (t == GGUF_TYPE_BOOL && p[0] > 1) return fail(c, LAIR_ERR_FORMAT, what, at, "bool is neither 0 nor 1");
        if (kv) {
            switch (t) {
            case GGUF_TYPE_UINT8: kv->v.u64 = p[0]; break;
            case GGUF_TYPE_INT8: kv->v.i64 = (int8_t)p[0]; break;
            case GGUF_TYPE_UINT16: { uint16_t v; memcpy(&v, p, 2); kv->v.u64 = v; break; }
            case GGUF_TYPE_INT16: { int16_t v; memcpy(&v, p, 2); kv->v.i64 = v; break; }
            case GGUF_TYPE_UINT32: { uint32_t v; memcpy(&v, p, 4); kv->v.u64 = v; break; }
            case GGUF_TYPE_INT32: { int32_t v; memcpy(&v, p, 4); kv->v.i64 = v; break; }
            case GGUF_TYPE_UINT64: memcpy(&kv->v.u64, p, 8); break;
            case GGUF_TYPE_INT64: memcpy(&kv->v.i64, p, 8); break;
            case GGUF_TYPE_FLOAT32: { float v; memcpy(&v, p, 4); kv->v.f64 = v; break; }
            case GGUF_TYPE_FLOAT64: memcpy(&kv->v.f64, p, 8); break;
            case GGUF_TYPE_BOOL: kv->v.b = p[0] != 0; break;
            default: break;
            }
        }
        c->pos += esz;
        return LAIR_OK;
    }
    }
}

/* The string arena holds NUL-terminated copies of keys and tensor names; its
 * capacity is bounded by the file size, since each copy comes from the file. */
typedef struct arena {
    char *buf;
    uint64_t used, cap;
} arena;

static const char *arena_copy(arena *a, gguf_str s) {
    char *d = a->buf + a->used;
    memcpy(d, s.ptr, s.len);
    d[s.len] = '\0';
    a->used += s.len + 1;
    return d;
}

static bool has_nul(gguf_str s) { return memchr(s.ptr, '\0', s.len) != NULL; }

static int sort_kv_cmp(const void *a, const void *b, const gguf_file *f) {
    return strcmp(f->kv[*(const uint64_t *)a].key, f->kv[*(const uint64_t *)b].key);
}
static int sort_tensor_name_cmp(const void *a, const void *b, const gguf_file *f) {
    return strcmp(f->tensors[*(const uint64_t *)a].name, f->tensors[*(const uint64_t *)b].name);
}
static int sort_tensor_off_cmp(const void *a, const void *b, const gguf_file *f) {
    uint64_t x = f->tensors[*(const uint64_t *)a].offset, y = f->tensors[*(const uint64_t *)b].offset;
    return x < y ? -1 : x > y;
}

/* qsort has no context argument in C11; a small merge sort of indices does. */
static void sort_idx(uint64_t *idx, uint64_t *tmp, uint64_t n, const gguf_file *f,
                     int (*cmp)(const void *, const void *, const gguf_file *)) {
    if (n < 2) return;
    uint64_t h = n / 2;
    sort_idx(idx, tmp, h, f, cmp);
    sort_idx(idx + h, tmp, n - h, f, cmp);
    uint64_t i = 0, j = h, k = 0;
    while (i < h && j < n) tmp[k++] = cmp(&idx[j], &idx[i], f) < 0 ? idx[j++] : idx[i++];
    while (i < h) tmp[k++] = idx[i++];
    while (j < n) tmp[k++] = idx[j++];
    memcpy(idx, tmp, n * sizeof *idx);
}

static lair_status parse_header(cursor *c, gguf_file *f, uint64_t *n_tensors, uint64_t *n_kv) {
    uint32_t magic, version;
    lair_status s;
    if (c->size < 4 || memcmp(c->base, "GGUF", 4) != 0)
        return lair_err_set(c->err, LAIR_ERR_FORMAT, "gguf: %s: not a GGUF file (no 'GGUF' magic at offset 0)", c->name);
    if ((s = rd_u32(c, &magic, "header magic"))) return s;
    if ((s = rd_u32(c, &version, "header version"))) return s;
    if (version == 1)
        return lair_err_set(c->err, LAIR_ERR_UNSUPPORTED,
                            "gguf: %s: GGUF version 1 is not supported (re-convert the model with a current tool)", c->name);
    if (version == 0x02000000u || version == 0x03000000u)
        return lair_err_set(c->err, LAIR_ERR_UNSUPPORTED, "gguf: %s: big-endian GGUF files are not supported", c->name);
    if (version != 2 && version != 3)
        return lair_err_set(c->err, LAIR_ERR_UNSUPPORTED, "gguf: %s: unsupported GGUF version %u at offset 0x4",
                            c->name, version);
    f->version = version;
    if ((s = rd_u64(c, n_tensors, "tensor count"))) return s;
    if ((s = rd_u64(c, n_kv, "metadata count"))) return s;
    if (*n_kv > GGUF_MAX_KV || *n_kv > remaining(c) / MIN_KV_BYTES)
        return lair_err_set(c->err, LAIR_ERR_FORMAT,
                            "gguf: %s: metadata count %llu at offset 0x10 is impossible for the %llu bytes that follow",
                            c->name, (unsigned long long)*n_kv, (unsigned long long)remaining(c));
    if (*n_tensors > GGUF_MAX_TENSORS || *n_tensors > remaining(c) / MIN_TENSOR_BYTES)
        return lair_err_set(c->err, LAIR_ERR_FORMAT,
                            "gguf: %s: tensor count %llu at offset 0x8 is impossible for the %llu bytes that follow",
                            c->name, (unsigned long long)*n_tensors, (unsigned long long)remaining(c));
    return LAIR_OK;
}

static lair_status parse_kvs(cursor *c, gguf_file *f, arena *names) {
    lair_status s;
    for (uint64_t i = 0; i < f->n_kv; i++) {
        gguf_kv *kv = &f->kv[i];
        char what[64];
        snprintf(what, sizeof what, "metadata entry %llu key", (unsigned long long)i);
        kv->file_offset = c->pos;
        gguf_str key;
        if ((s = rd_str(c, &key, GGUF_MAX_KEY_LEN, what))) return s;
        if (key.len == 0 || has_nul(key)) return fail(c, LAIR_ERR_FORMAT, what, kv->file_offset, "empty key or key with a NUL byte");
        kv->key = arena_copy(names, key);
        char kwhat[GGUF_MAX_NAME_LEN + 32];
        snprintf(kwhat, sizeof kwhat, "key '%.*s'", key.len > GGUF_MAX_NAME_LEN ? (int)GGUF_MAX_NAME_LEN : (int)key.len, key.ptr);
        uint32_t t;
        uint64_t tat = c->pos;
        if ((s = rd_u32(c, &t, kwhat))) return s;
        if (t >= GGUF_TYPE_COUNT) {
            char d[64];
            snprintf(d, sizeof d, "unknown value type %u", t);
            return fail(c, LAIR_ERR_FORMAT, kwhat, tat, d);
        }
        kv->type = (gguf_vtype)t;
        kv->raw = c->base + c->pos;
        uint64_t start = c->pos;
        if ((s = rd_value(c, kv->type, 0, kwhat, kv))) return s;
        kv->raw_len = c->pos - start;
    }
    return LAIR_OK;
}

static lair_status parse_tensor_infos(cursor *c, gguf_file *f, arena *names) {
    lair_status s;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        char what[GGUF_MAX_NAME_LEN + 32];
        snprintf(what, sizeof what, "tensor %llu name", (unsigned long long)i);
        t->info_offset = c->pos;
        gguf_str name;
        if ((s = rd_str(c, &name, GGUF_MAX_NAME_LEN, what))) return s;
        if (name.len == 0 || has_nul(name)) return fail(c, LAIR_ERR_FORMAT, what, t->info_offset, "empty name or name with a NUL byte");
        t->name = arena_copy(names, name);
        snprintf(what, sizeof what, "tensor '%s'", t->name);
        uint32_t nd;
        uint64_t at = c->pos;
        if ((s = rd_u32(c, &nd, what))) return s;
        if (nd < 1 || nd > GGUF_MAX_DIMS) {
            char d[64];
            snprintf(d, sizeof d, "%u dimensions (1 to %d allowed)", nd, GGUF_MAX_DIMS);
            return fail(c, LAIR_ERR_FORMAT, what, at, d);
        }
        t->n_dims = (int)nd;
        for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < nd; d++) {
            uint64_t ne;
            at = c->pos;
            if ((s = rd_u64(c, &ne, what))) return s;
            if (ne < 1 || ne > (uint64_t)INT64_MAX) {
                char dd[96];
                snprintf(dd, sizeof dd, "dimension %u is %llu (must be 1 to 2^63-1)", d, (unsigned long long)ne);
                return fail(c, LAIR_ERR_FORMAT, what, at, dd);
            }
            t->ne[d] = (int64_t)ne;
        }
        uint32_t type;
        at = c->pos;
        if ((s = rd_u32(c, &type, what))) return s;
        const lair_type_traits *tr = type < LAIR_TYPE_COUNT ? lair_type_traits_of((lair_type)type) : NULL;
        if (!tr) {
            char d[64];
            snprintf(d, sizeof d, "unknown tensor type %u", type);
            return fail(c, LAIR_ERR_FORMAT, what, at, d);
        }
        t->type = (lair_type)type;
        if (t->ne[0] % tr->block_size != 0) {
            char d[128];
            snprintf(d, sizeof d, "row length %lld is not a multiple of %s's block size %lld", (long long)t->ne[0],
                     tr->name, (long long)tr->block_size);
            return fail(c, LAIR_ERR_FORMAT, what, at, d);
        }
        if (!gguf_tensor_bytes(t->type, t->ne, &t->nbytes))
            return fail(c, LAIR_ERR_FORMAT, what, t->info_offset, "shape overflows 64-bit sizes");
        at = c->pos;
        if ((s = rd_u64(c, &t->offset, what))) return s;
        if (t->offset % f->alignment != 0) {
            char d[96];
            snprintf(d, sizeof d, "data offset 0x%llx is not a multiple of the alignment %llu",
                     (unsigned long long)t->offset, (unsigned long long)f->alignment);
            return fail(c, LAIR_ERR_FORMAT, what, at, d);
        }
    }
    return LAIR_OK;
}

/* general.alignment and the other keys whose type lair relies on. */
static lair_status check_known_keys(cursor *c, gguf_file *f) {
    static const struct { const char *key; gguf_vtype type; gguf_vtype elem; } known[] = {
        {"general.alignment", GGUF_TYPE_UINT32, 0},
        {"general.architecture", GGUF_TYPE_STRING, 0},
        {"general.name", GGUF_TYPE_STRING, 0},
        {"general.file_type", GGUF_TYPE_UINT32, 0},
        {"general.quantization_version", GGUF_TYPE_UINT32, 0},
        {"tokenizer.ggml.model", GGUF_TYPE_STRING, 0},
        {"tokenizer.ggml.pre", GGUF_TYPE_STRING, 0},
        {"tokenizer.chat_template", GGUF_TYPE_STRING, 0},
        {"tokenizer.ggml.tokens", GGUF_TYPE_ARRAY, GGUF_TYPE_STRING},
        {"tokenizer.ggml.scores", GGUF_TYPE_ARRAY, GGUF_TYPE_FLOAT32},
        {"tokenizer.ggml.token_type", GGUF_TYPE_ARRAY, GGUF_TYPE_INT32},
        {"tokenizer.ggml.merges", GGUF_TYPE_ARRAY, GGUF_TYPE_STRING},
        {"tokenizer.ggml.add_bos_token", GGUF_TYPE_BOOL, 0},
        {"tokenizer.ggml.add_eos_token", GGUF_TYPE_BOOL, 0},
        {"tokenizer.ggml.add_space_prefix", GGUF_TYPE_BOOL, 0},
        {"split.no", GGUF_TYPE_UINT16, 0},
        {"split.count", GGUF_TYPE_UINT16, 0},
        {"split.tensors.count", GGUF_TYPE_INT32, 0},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        const gguf_kv *kv = gguf_find_kv(f, known[i].key);
        if (!kv) continue;
        bool ok = kv->type == known[i].type && (kv->type != GGUF_TYPE_ARRAY || kv->arr_type == known[i].elem);
        if (!ok) {
            char d[128];
            if (kv->type == GGUF_TYPE_ARRAY)
                snprintf(d, sizeof d, "expected %s%s%s, found array of %s", gguf_vtype_name(known[i].type),
                         known[i].type == GGUF_TYPE_ARRAY ? " of " : "",
                         known[i].type == GGUF_TYPE_ARRAY ? gguf_vtype_name(known[i].elem) : "", gguf_vtype_name(kv->arr_type));
            else
                snprintf(d, sizeof d, "expected %s%s%s, found %s", gguf_vtype_name(known[i].type),
                         known[i].type == GGUF_TYPE_ARRAY ? " of " : "",
                         known[i].type == GGUF_TYPE_ARRAY ? gguf_vtype_name(known[i].elem) : "", gguf_vtype_name(kv->type));
            char what[96];
            snprintf(what, sizeof what, "key '%s'", kv->key);
            return fail(c, LAIR_ERR_FORMAT, what, kv->file_offset, d);
        }
    }
    /* token tables must agree in length, and token ids must index them */
    const gguf_kv *tokens = gguf_find_kv(f, "tokenizer.ggml.tokens");
    uint64_t n_tokens = tokens ? tokens->arr_n : 0;
    const char *per_token[] = {"tokenizer.ggml.scores", "tokenizer.ggml.token_type"};
    for (size_t i = 0; i < 2; i++) {
        const gguf_kv *kv = gguf_find_kv(f, per_token[i]);
        if (kv && kv->arr_n != n_tokens) {
            char d[128], what[64];
            snprintf(d, sizeof d, "%llu entries but tokenizer.ggml.tokens has %llu", (unsigned long long)kv->arr_n,
                     (unsigned long long)n_tokens);
            snprintf(what, sizeof what, "key '%s'", kv->key);
            return fail(c, LAIR_ERR_FORMAT, what, kv->file_offset, d);
        }
    }
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const gguf_kv *kv = &f->kv[i];
        size_t kl = strlen(kv->key);
        if (strncmp(kv->key, "tokenizer.ggml.", 15) != 0 || kl < 9 || strcmp(kv->key + kl - 9, "_token_id") != 0) continue;
        char what[96];
        snprintf(what, sizeof what, "key '%s'", kv->key);
        int64_t id;
        bool integer = true;
        switch (kv->type) {
        case GGUF_TYPE_UINT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_UINT32: case GGUF_TYPE_UINT64:
            /* an unsigned id is never "none": past INT64_MAX it is simply out of range */
            id = kv->v.u64 > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)kv->v.u64; break;
        case GGUF_TYPE_INT8: case GGUF_TYPE_INT16: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64:
            id = kv->v.i64; break;
        default: integer = false; id = 0; break;
        }
        if (!integer) {
            char d[96];
            snprintf(d, sizeof d, "expected an integer token id, found %s", gguf_vtype_name(kv->type));
            return fail(c, LAIR_ERR_FORMAT, what, kv->file_offset, d);
        }
        /* -1 is the conventional "none" for optional special tokens */
        if (id != -1 && tokens && (id < 0 || (uint64_t)id >= n_tokens)) {
            char d[128];
            if (kv->type == GGUF_TYPE_UINT64) /* id may have been clamped */
                snprintf(d, sizeof d, "token id %llu is out of range (vocabulary has %llu tokens)",
                         (unsigned long long)kv->v.u64, (unsigned long long)n_tokens);
            else
                snprintf(d, sizeof d, "token id %lld is out of range (vocabulary has %llu tokens)", (long long)id,
                         (unsigned long long)n_tokens);
            return fail(c, LAIR_ERR_FORMAT, what, kv->file_offset, d);
        }
    }
    return LAIR_OK;
}

static lair_status parse_all(cursor *c, gguf_file *f) {
    lair_status s;
    uint64_t n_tensors, n_kv;
    if ((s = parse_header(c, f, &n_tensors, &n_kv))) return s;

    /* Keys and names are copies of file bytes plus a terminator each, and each
     * is bounded by its length limit: the arena is sized by the metadata, not
     * by the file (whose data section may be far larger than memory). */
    arena names = {0};
    names.cap = c->size + n_kv + n_tensors + 1;
    uint64_t names_limit = n_kv * (GGUF_MAX_KEY_LEN + 1) + n_tensors * (GGUF_MAX_NAME_LEN + 1) + 1;
    if (names.cap > names_limit) names.cap = names_limit;
    f->strings = names.buf = lair_malloc(names.cap);
    f->kv = lair_calloc(n_kv ? n_kv : 1, sizeof *f->kv);
    f->tensors = lair_calloc(n_tensors ? n_tensors : 1, sizeof *f->tensors);
    f->kv_sorted = lair_malloc((n_kv ? n_kv : 1) * sizeof *f->kv_sorted);
    f->tensor_sorted = lair_malloc((n_tensors ? n_tensors : 1) * sizeof *f->tensor_sorted);
    uint64_t ntmp = (n_kv > n_tensors ? n_kv : n_tensors);
    uint64_t *tmp = lair_malloc((ntmp ? ntmp : 1) * sizeof *tmp);
    if (!names.buf || !f->kv || !f->tensors || !f->kv_sorted || !f->tensor_sorted || !tmp) {
        lair_free(tmp);
        return lair_err_set(c->err, LAIR_ERR_NOMEM, "gguf: %s: out of memory for %llu keys and %llu tensors", c->name,
                            (unsigned long long)n_kv, (unsigned long long)n_tensors);
    }
    f->n_kv = n_kv;
    f->n_tensors = n_tensors;

    if ((s = parse_kvs(c, f, &names))) goto out;

    for (uint64_t i = 0; i < n_kv; i++) f->kv_sorted[i] = i;
    sort_idx(f->kv_sorted, tmp, n_kv, f, sort_kv_cmp);
    for (uint64_t i = 1; i < n_kv; i++) {
        const gguf_kv *a = &f->kv[f->kv_sorted[i - 1]], *b = &f->kv[f->kv_sorted[i]];
        if (strcmp(a->key, b->key) == 0) {
            const gguf_kv *later = a->file_offset > b->file_offset ? a : b;
            s = lair_err_set(c->err, LAIR_ERR_FORMAT, "gguf: %s: key '%s' at offset 0x%llx: duplicate key", c->name,
                             later->key, (unsigned long long)later->file_offset);
            goto out;
        }
    }
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv *al = gguf_find_kv(f, "general.alignment");
    if (al && al->type == GGUF_TYPE_UINT32) {
        uint64_t a = al->v.u64;
        if (a == 0 || (a & (a - 1)) != 0 || a > GGUF_MAX_ALIGNMENT) {
            s = lair_err_set(c->err, LAIR_ERR_FORMAT,
                             "gguf: %s: key 'general.alignment' at offset 0x%llx: %llu is not a power of two up to %u",
                             c->name, (unsigned long long)al->file_offset, (unsigned long long)a, GGUF_MAX_ALIGNMENT);
            goto out;
        }
        f->alignment = a;
    }
    if ((s = check_known_keys(c, f))) goto out;
    if ((s = parse_tensor_infos(c, f, &names))) goto out;

    /* data section: starts at the next multiple of the alignment */
    uint64_t data_off;
    if (ck_add_u64(c->pos, f->alignment - 1, &data_off)) data_off = UINT64_MAX;
    data_off -= data_off % f->alignment;
    f->data_offset = data_off;
    uint64_t data_size = data_off <= c->size ? c->size - data_off : 0;
    if (n_tensors > 0 && data_off > c->size) {
        s = lair_err_set(c->err, LAIR_ERR_FORMAT, "gguf: %s: data section at offset 0x%llx starts past the end of the file (%llu bytes)",
                         c->name, (unsigned long long)data_off, (unsigned long long)c->size);
        goto out;
    }
    for (uint64_t i = 0; i < n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        uint64_t end;
        if (ck_add_u64(t->offset, t->nbytes, &end) || end > data_size) {
            s = lair_err_set(c->err, LAIR_ERR_FORMAT,
                             "gguf: %s: tensor '%s' (info at offset 0x%llx): data at offset 0x%llx + %llu bytes runs past the end of the file (%llu bytes)",
                             c->name, t->name, (unsigned long long)t->info_offset, (unsigned long long)(data_off + t->offset),
                             (unsigned long long)t->nbytes, (unsigned long long)c->size);
            goto out;
        }
        t->data = c->base + data_off + t->offset;
        f->tensor_sorted[i] = i;
    }
    /* overlap: sort by offset and compare neighbours */
    sort_idx(f->tensor_sorted, tmp, n_tensors, f, sort_tensor_off_cmp);
    for (uint64_t i = 1; i < n_tensors; i++) {
        const gguf_tensor *a = &f->tensors[f->tensor_sorted[i - 1]], *b = &f->tensors[f->tensor_sorted[i]];
        if (a->offset + a->nbytes > b->offset) {
            s = lair_err_set(c->err, LAIR_ERR_FORMAT,
                             "gguf: %s: tensor '%s' (info at offset 0x%llx): data at 0x%llx overlaps tensor '%s' (0x%llx + %llu bytes)",
                             c->name, b->name, (unsigned long long)b->info_offset, (unsigned long long)(data_off + b->offset),
                             a->name, (unsigned long long)(data_off + a->offset), (unsigned long long)a->nbytes);
            goto out;
        }
    }
    sort_idx(f->tensor_sorted, tmp, n_tensors, f, sort_tensor_name_cmp);
    for (uint64_t i = 1; i < n_tensors; i++) {
        const gguf_tensor *a = &f->tensors[f->tensor_sorted[i - 1]], *b = &f->tensors[f->tensor_sorted[i]];
        if (strcmp(a->name, b->name) == 0) {
            const gguf_tensor *later = a->info_offset > b->info_offset ? a : b;
            s = lair_err_set(c->err, LAIR_ERR_FORMAT, "gguf: %s: tensor '%s' at offset 0x%llx: duplicate tensor name",
                             c->name, later->name, (unsigned long long)later->info_offset);
            goto out;
        }
    }
    s = LAIR_OK;
out:
    lair_free(tmp);
    return s;
}

lair_status gguf_parse(const uint8_t *data, uint64_t size, const char *name, gguf_file **out, lair_err *err) {
    *out = NULL;
    gguf_file *f = lair_calloc(1, sizeof *f);
    if (!f) return lair_err_set(err, LAIR_ERR_NOMEM, "gguf: %s: out of memory", name);
    f->path = lair_strndup(name, strlen(name));
    if (!f->path) {
        lair_free(f);
        return lair_err_set(err, LAIR_ERR_NOMEM, "gguf: %s: out of memory", name);
    }
    f->map.data = data;
    f->map.size = size;
    static const uint8_t empty[1];
    cursor c = {data ? data : empty, size, 0, name, err};
    lair_status s = parse_all(&c, f);
    if (s) {
        gguf_close(f);
        return s;
    }
    *out = f;
    return LAIR_OK;
}

lair_status gguf_open(const char *path, gguf_file **out, lair_err *err) {
    *out = NULL;
    lair_map m;
    lair_status s = lair_map_file(path, &m, err);
    if (s) return s;
    s = gguf_parse(m.data, m.size, path, out, err);
    if (s) {
        lair_map_release(&m);
        return s;
    }
    (*out)->owns_map = true;
    return LAIR_OK;
}

void gguf_close(gguf_file *f) {
    if (!f) return;
    if (f->kv) {
        for (uint64_t i = 0; i < f->n_kv; i++) lair_free(f->kv[i].arr_str_off);
    }
    lair_free(f->kv);
    lair_free(f->tensors);
    lair_free(f->kv_sorted);
    lair_free(f->tensor_sorted);
    lair_free(f->strings);
    if (f->owns_map) lair_map_release(&f->map);
    lair_free(f->path);
    lair_free(f);
}
