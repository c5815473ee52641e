/* The streaming GGUF writer: metadata and tensor infos are collected first,
 * then tensor bytes stream straight to PATH.tmp with the alignment padding
 * GGUF requires, and the file is renamed into place only when complete. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/checked.h"
#include "core/err.h"
#include "gguf/gguf.h"
#include "tensor/format.h"

typedef struct wkv {
    char *key;
    gguf_vtype type;
    uint8_t *raw; /* serialized value */
    uint64_t raw_len;
} wkv;

typedef struct wtensor {
    char *name;
    lair_type type;
    int n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    uint64_t offset, nbytes;
} wtensor;

struct gguf_writer {
    wkv *kv;
    uint64_t n_kv, cap_kv;
    wtensor *t;
    uint64_t n_t, cap_t;
    uint64_t data_size; /* bytes of the data section so far (aligned) */
    FILE *f;
    char *path;
    char *tmp_path; /* where the file is written until it is complete */
    uint64_t cur;         /* tensor being written */
    uint64_t cur_written; /* its bytes so far */
};

static uint64_t writer_alignment(const gguf_writer *w) {
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, "general.alignment") == 0 && w->kv[i].type == GGUF_TYPE_UINT32) {
            uint32_t a;
            memcpy(&a, w->kv[i].raw, 4);
            if (a && !(a & (a - 1))) return a;
        }
    return GGUF_DEFAULT_ALIGNMENT;
}

lair_status gguf_writer_init(gguf_writer **out, lair_err *err) {
    *out = lair_calloc(1, sizeof **out);
    if (!*out) return lair_err_set(err, LAIR_ERR_NOMEM, "gguf writer: out of memory");
    return LAIR_OK;
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    if (w->f) lair_file_abort(w->f, w->tmp_path);
    lair_free(w->tmp_path);
    for (uint64_t i = 0; i < w->n_kv; i++) {
        lair_free(w->kv[i].key);
        lair_free(w->kv[i].raw);
    }
    for (uint64_t i = 0; i < w->n_t; i++) lair_free(w->t[i].name);
    lair_free(w->kv);
    lair_free(w->t);
    lair_free(w->path);
    lair_free(w);
}

bool gguf_writer_has(const gguf_writer *w, const char *key) {
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) return true;
    return false;
}

void gguf_writer_remove(gguf_writer *w, const char *key) {
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) {
            lair_free(w->kv[i].key);
            lair_free(w->kv[i].raw);
            memmove(&w->kv[i], &w->kv[i + 1], (w->n_kv - i - 1) * sizeof *w->kv);
            w->n_kv--;
            return;
        }
}

/* Takes ownership of raw (freed on failure). Replaces an existing key in place. */
static lair_status set_raw(gguf_writer *w, const char *key, gguf_vtype type, uint8_t *raw, uint64_t len) {
    if (!raw) return LAIR_ERR_NOMEM;
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) {
            lair_free(w->kv[i].raw);
            w->kv[i].type = type;
            w->kv[i].raw = raw;
            w->kv[i].raw_len = len;
            return LAIR_OK;
        }
    if (w->n_kv == w->cap_kv) {
        uint64_t cap = w->cap_kv ? w->cap_kv * 2 : 32;
        wkv *n = lair_realloc(w->kv, cap * sizeof *n);
        if (!n) {
            lair_free(raw);
            return LAIR_ERR_NOMEM;
        }
        w->kv = n;
        w->cap_kv = cap;
    }
    char *k = lair_strndup(key, strlen(key));
    if (!k) {
        lair_free(raw);
        return LAIR_ERR_NOMEM;
    }
    w->kv[w->n_kv++] = (wkv){k, type, raw, len};
    return LAIR_OK;
}

static uint8_t *dup_bytes(const void *p, uint64_t n) {
    uint8_t *d = lair_malloc(n ? n : 1);
    if (d && n) memcpy(d, p, n);
    return d;
}

lair_status gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v) { return set_raw(w, key, GGUF_TYPE_UINT32, dup_bytes(&v, 4), 4); }
lair_status gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v) { return set_raw(w, key, GGUF_TYPE_INT32, dup_bytes(&v, 4), 4); }
lair_status gguf_writer_set_u16(gguf_writer *w, const char *key, uint16_t v) { return set_raw(w, key, GGUF_TYPE_UINT16, dup_bytes(&v, 2), 2); }
lair_status gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v) { return set_raw(w, key, GGUF_TYPE_UINT64, dup_bytes(&v, 8), 8); }
lair_status gguf_writer_set_f32(gguf_writer *w, const char *key, float v) { return set_raw(w, key, GGUF_TYPE_FLOAT32, dup_bytes(&v, 4), 4); }
lair_status gguf_writer_set_bool(gguf_writer *w, const char *key, bool v) {
    uint8_t b = v ? 1 : 0;
    return set_raw(w, key, GGUF_TYPE_BOOL, dup_bytes(&b, 1), 1);
}

lair_status gguf_writer_set_str(gguf_writer *w, const char *key, const char *s) {
    uint64_t n = strlen(s);
    uint8_t *raw = lair_malloc(8 + n);
    if (raw) {
        memcpy(raw, &n, 8);
        memcpy(raw + 8, s, n);
    }
    return set_raw(w, key, GGUF_TYPE_STRING, raw, 8 + n);
}

lair_status gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_vtype elem, const void *data, uint64_t n) {
    unsigned esz = gguf_vtype_size(elem);
    uint64_t bytes, total;
    if (!esz || ck_mul_u64(n, esz, &bytes) || ck_add_u64(bytes, 12, &total)) return LAIR_ERR_ARG;
    uint8_t *raw = lair_malloc(total);
    if (raw) {
        uint32_t t = (uint32_t)elem;
        memcpy(raw, &t, 4);
        memcpy(raw + 4, &n, 8);
        if (bytes) memcpy(raw + 12, data, bytes);
    }
    return set_raw(w, key, GGUF_TYPE_ARRAY, raw, total);
}

lair_status gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *strs, uint64_t n) {
    uint64_t total = 12;
    for (uint64_t i = 0; i < n; i++) total += 8 + strlen(strs[i]);
    uint8_t *raw = lair_malloc(total);
    if (raw) {
        uint32_t t = GGUF_TYPE_STRING;
        memcpy(raw, &t, 4);
        memcpy(raw + 4, &n, 8);
        uint8_t *p = raw + 12;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t l = strlen(strs[i]);
            memcpy(p, &l, 8);
            memcpy(p + 8, strs[i], l);
            p += 8 + l;
        }
    }
    return set_raw(w, key, GGUF_TYPE_ARRAY, raw, total);
}

lair_status gguf_writer_copy_kv(gguf_writer *w, const gguf_kv *kv) {
    return set_raw(w, kv->key, kv->type, dup_bytes(kv->raw, kv->raw_len), kv->raw_len);
}

uint64_t gguf_writer_n_tensors(const gguf_writer *w) { return w->n_t; }

lair_status gguf_writer_add_tensor(gguf_writer *w, const char *name, lair_type type, int n_dims, const int64_t *ne,
                                   lair_err *err) {
    size_t len = strlen(name);
    if (w->f) return lair_err_set(err, LAIR_ERR_ARG, "gguf writer: tensor '%s' added after the header was written", name);
    if (len == 0 || len > GGUF_MAX_NAME_LEN || !gguf_utf8_valid(name, len))
        return lair_err_set(err, LAIR_ERR_ARG, "gguf writer: invalid tensor name '%s'", name);
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return lair_err_set(err, LAIR_ERR_ARG, "gguf writer: tensor '%s': %d dimensions", name, n_dims);
    for (uint64_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return lair_err_set(err, LAIR_ERR_ARG, "gguf writer: duplicate tensor name '%s'", name);
    wtensor t = {0};
    t.type = type;
    t.n_dims = n_dims;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t.ne[d] = d < n_dims ? ne[d] : 1;
    if (!gguf_tensor_bytes(type, t.ne, &t.nbytes))
        return lair_err_set(err, LAIR_ERR_ARG, "gguf writer: tensor '%s': shape does not fit type %s", name,
                            lair_type_name(type) ? lair_type_name(type) : "?");
    uint64_t align = writer_alignment(w);
    t.offset = w->data_size;
    uint64_t end;
    if (ck_add_u64(t.offset, t.nbytes, &end) || ck_add_u64(end, align - 1, &end))
        return lair_err_set(err, LAIR_ERR_ARG, "gguf writer: tensor '%s': file too large", name);
    if (w->n_t == w->cap_t) {
        uint64_t cap = w->cap_t ? w->cap_t * 2 : 64;
        wtensor *n = lair_realloc(w->t, cap * sizeof *n);
        if (!n) return lair_err_set(err, LAIR_ERR_NOMEM, "gguf writer: out of memory");
        w->t = n;
        w->cap_t = cap;
    }
    t.name = lair_strndup(name, len);
    if (!t.name) return lair_err_set(err, LAIR_ERR_NOMEM, "gguf writer: out of memory");
    w->data_size = end - end % align;
    w->t[w->n_t++] = t;
    return LAIR_OK;
}

static bool put(FILE *f, const void *p, size_t n) { return fwrite(p, 1, n, f) == n; }

static bool put_zeros(FILE *f, uint64_t n) {
    static const uint8_t zeros[64];
    while (n) {
        size_t k = n > sizeof zeros ? sizeof zeros : (size_t)n;
        if (!put(f, zeros, k)) return false;
        n -= k;
    }
    return true;
}

lair_status gguf_writer_begin(gguf_writer *w, const char *path, lair_err *err) {
    if (w->f) return lair_err_set(err, LAIR_ERR_ARG, "gguf writer: begin called twice");
    /* offsets were computed with the alignment known at add time; recompute in
     * case general.alignment was set afterwards */
    uint64_t align = writer_alignment(w), off = 0;
    for (uint64_t i = 0; i < w->n_t; i++) {
        w->t[i].offset = off;
        off += w->t[i].nbytes;
        off += (align - off % align) % align;
    }
    w->data_size = off;
    w->path = lair_strndup(path, strlen(path));
    if (!w->path) return lair_err_set(err, LAIR_ERR_NOMEM, "gguf writer: out of memory");
    FILE *f = lair_file_create_tmp(path, &w->tmp_path, err);
    if (!f) return err ? err->code : LAIR_ERR_IO;
    w->f = f;
    uint32_t magic = GGUF_MAGIC, version = 3;
    uint64_t pos = 0;
    bool ok = put(f, &magic, 4) && put(f, &version, 4) && put(f, &w->n_t, 8) && put(f, &w->n_kv, 8);
    pos += 24;
    for (uint64_t i = 0; ok && i < w->n_kv; i++) {
        uint64_t kl = strlen(w->kv[i].key);
        uint32_t t = (uint32_t)w->kv[i].type;
        ok = put(f, &kl, 8) && put(f, w->kv[i].key, kl) && put(f, &t, 4) && put(f, w->kv[i].raw, w->kv[i].raw_len);
        pos += 12 + kl + w->kv[i].raw_len;
    }
    for (uint64_t i = 0; ok && i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        uint64_t nl = strlen(t->name);
        uint32_t nd = (uint32_t)t->n_dims, ty = (uint32_t)t->type;
        ok = put(f, &nl, 8) && put(f, t->name, nl) && put(f, &nd, 4);
        for (int d = 0; ok && d < t->n_dims; d++) ok = put(f, &t->ne[d], 8);
        ok = ok && put(f, &ty, 4) && put(f, &t->offset, 8);
        pos += 8 + nl + 4 + 8 * (uint64_t)t->n_dims + 12;
    }
    ok = ok && put_zeros(f, (align - pos % align) % align);
    if (!ok) return lair_err_set(err, LAIR_ERR_IO, "%s: write failed", path);
    w->cur = 0;
    w->cur_written = 0;
    return LAIR_OK;
}

lair_status gguf_writer_write(gguf_writer *w, const void *data, uint64_t nbytes, lair_err *err) {
    const uint8_t *p = data;
    if (!w->f) return lair_err_set(err, LAIR_ERR_ARG, "gguf writer: write before begin");
    uint64_t align = writer_alignment(w);
    while (nbytes) {
        if (w->cur >= w->n_t) return lair_err_set(err, LAIR_ERR_ARG, "gguf writer: more bytes written than the tensors hold");
        const wtensor *t = &w->t[w->cur];
        uint64_t k = t->nbytes - w->cur_written;
        if (k > nbytes) k = nbytes;
        if (!put(w->f, p, (size_t)k)) return lair_err_set(err, LAIR_ERR_IO, "%s: write failed", w->path);
        p += k;
        nbytes -= k;
        w->cur_written += k;
        if (w->cur_written == t->nbytes) {
            if (!put_zeros(w->f, (align - t->nbytes % align) % align))
                return lair_err_set(err, LAIR_ERR_IO, "%s: write failed", w->path);
            w->cur++;
            w->cur_written = 0;
        }
    }
    return LAIR_OK;
}

lair_status gguf_writer_finish(gguf_writer *w, lair_err *err) {
    if (!w->f) return lair_err_set(err, LAIR_ERR_ARG, "gguf writer: finish before begin");
    if (w->cur != w->n_t) {
        lair_file_abort(w->f, w->tmp_path);
        w->f = NULL;
        return lair_err_set(err, LAIR_ERR_ARG, "gguf writer: %s: only %llu of %llu tensors were written", w->path,
                            (unsigned long long)w->cur, (unsigned long long)w->n_t);
    }
    FILE *f = w->f;
    w->f = NULL;
    return lair_file_commit(f, w->tmp_path, w->path, err);
}
