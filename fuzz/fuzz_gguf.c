/* libFuzzer target for the GGUF reader: gguf_parse on the input, then every
 * access a caller may make to an accepted file — typed getters on every key,
 * every element of every array, the first and last byte of every tensor —
 * with the reader's promises checked (abort() marks a broken one, so the
 * fuzzer reports it as a crash).  Built by `make fuzz`. */
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t sink;

static void promise(int ok) {
    if (!ok) abort();
}

static void walk_kv(const gguf_file *f, const gguf_kv *kv) {
    lair_err err;
    uint64_t u;
    int64_t i;
    double d;
    bool b;
    gguf_str s;
    const gguf_kv *arr;
    uint64_t acc = 0;
    promise(gguf_find_kv(f, kv->key) == kv);
    promise(kv->raw >= f->map.data && kv->raw + kv->raw_len <= f->map.data + f->map.size);
    /* each typed getter answers or reports the wrong type (never "absent") */
    lair_status st;
    if ((st = gguf_get_u64(f, kv->key, &u, &err)) == LAIR_OK) acc += u;
    promise(st == LAIR_OK || st == LAIR_ERR_FORMAT);
    if ((st = gguf_get_i64(f, kv->key, &i, &err)) == LAIR_OK) acc += (uint64_t)i;
    promise(st == LAIR_OK || st == LAIR_ERR_FORMAT);
    if ((st = gguf_get_f64(f, kv->key, &d, &err)) == LAIR_OK) acc += d == d;
    promise(st == LAIR_OK || st == LAIR_ERR_FORMAT);
    if ((st = gguf_get_bool(f, kv->key, &b, &err)) == LAIR_OK) acc += b;
    promise(st == LAIR_OK || st == LAIR_ERR_FORMAT);
    if ((st = gguf_get_str(f, kv->key, &s, &err)) == LAIR_OK) {
        promise(gguf_utf8_valid(s.ptr, s.len));
        if (s.len) acc += (unsigned char)s.ptr[0] + (unsigned char)s.ptr[s.len - 1];
    }
    promise(st == LAIR_OK || st == LAIR_ERR_FORMAT);
    promise(gguf_get_arr(f, kv->key, GGUF_TYPE_COUNT, &arr, &err) == (kv->type == GGUF_TYPE_ARRAY ? LAIR_OK : LAIR_ERR_FORMAT));
    if (kv->type != GGUF_TYPE_ARRAY) {
        sink += acc;
        return;
    }
    promise(gguf_get_arr(f, kv->key, kv->arr_type, &arr, &err) == LAIR_OK && arr == kv);
    if (kv->arr_type == GGUF_TYPE_STRING) {
        for (uint64_t k = 0; k < kv->arr_n; k++) {
            gguf_str e = gguf_arr_str(kv, k);
            promise((const uint8_t *)e.ptr >= kv->raw && (const uint8_t *)e.ptr + e.len <= kv->raw + kv->raw_len);
            if (e.len) acc += (unsigned char)e.ptr[0] + (unsigned char)e.ptr[e.len - 1];
        }
    } else if (gguf_vtype_size(kv->arr_type)) {
        promise(kv->arr_data + kv->arr_n * gguf_vtype_size(kv->arr_type) <= kv->raw + kv->raw_len);
        for (uint64_t k = 0; k < kv->arr_n; k++) acc += (uint64_t)gguf_arr_i64(kv, k) + (gguf_arr_f64(kv, k) == 0);
    }
    sink += acc;
}

static void walk_tensor(const gguf_file *f, const gguf_tensor *t) {
    promise(gguf_find_tensor(f, t->name) == t);
    promise(t->n_dims >= 1 && t->n_dims <= GGUF_MAX_DIMS);
    for (int d = 0; d < GGUF_MAX_DIMS; d++) promise(t->ne[d] >= 1 && (d < t->n_dims || t->ne[d] == 1));
    uint64_t nbytes;
    promise(gguf_tensor_bytes(t->type, t->ne, &nbytes) && nbytes == t->nbytes && nbytes > 0);
    promise(t->offset % f->alignment == 0);
    const uint8_t *p = t->data;
    promise(p == f->map.data + f->data_offset + t->offset);
    promise(p + t->nbytes <= f->map.data + f->map.size);
    sink += p[0] + p[t->nbytes - 1];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gguf_file *f = NULL;
    lair_err err;
    lair_status s = gguf_parse(data, size, "fuzz.gguf", &f, &err);
    if (s != LAIR_OK) {
        /* rejected: cleanly, with a message naming the input */
        promise(f == NULL && err.code == s && (s == LAIR_ERR_FORMAT || s == LAIR_ERR_UNSUPPORTED));
        promise(strncmp(err.msg, "gguf: fuzz.gguf: ", 17) == 0);
        return 0;
    }
    promise(f->version == 2 || f->version == 3);
    promise(f->alignment && (f->alignment & (f->alignment - 1)) == 0 && f->data_offset % f->alignment == 0);
    for (uint64_t i = 0; i < f->n_kv; i++) walk_kv(f, &f->kv[i]);
    for (uint64_t i = 0; i < f->n_tensors; i++) walk_tensor(f, &f->tensors[i]);
    /* lookups of absent names */
    promise(gguf_find_kv(f, "") == NULL && gguf_find_tensor(f, "") == NULL);
    /* overlap: sorted by offset, each tensor ends before the next begins */
    for (uint64_t i = 0; i < f->n_tensors; i++)
        for (uint64_t j = i + 1; j < f->n_tensors && j < i + 64; j++) {
            const gguf_tensor *a = &f->tensors[i], *b = &f->tensors[j];
            promise(a->offset + a->nbytes <= b->offset || b->offset + b->nbytes <= a->offset);
        }
    gguf_close(f);
    return 0;
}
