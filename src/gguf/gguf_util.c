/* GGUF helpers shared by the reader, the writer and the bundle: value type
 * names and sizes, UTF-8 validation, tensor sizes, typed getters. */
#include <string.h>

#include "core/checked.h"
#include "core/err.h"
#include "gguf/gguf.h"
#include "tensor/format.h"

static const char *const vtype_names[GGUF_TYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};
static const unsigned vtype_sizes[GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *gguf_vtype_name(gguf_vtype t) { return (unsigned)t < GGUF_TYPE_COUNT ? vtype_names[t] : "invalid"; }
unsigned gguf_vtype_size(gguf_vtype t) { return (unsigned)t < GGUF_TYPE_COUNT ? vtype_sizes[t] : 0; }

bool gguf_utf8_valid(const char *str, uint64_t len) {
    const unsigned char *s = (const unsigned char *)str;
    uint64_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        unsigned n;
        uint32_t cp, min;
        if (c >= 0xc2 && c <= 0xdf) { n = 1; cp = c & 0x1f; min = 0x80; }
        else if (c >= 0xe0 && c <= 0xef) { n = 2; cp = c & 0x0f; min = 0x800; }
        else if (c >= 0xf0 && c <= 0xf4) { n = 3; cp = c & 0x07; min = 0x10000; }
        else return false;
        if (len - i <= n) return false;
        for (unsigned k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += n + 1;
    }
    return true;
}

bool gguf_tensor_bytes(lair_type type, const int64_t ne[GGUF_MAX_DIMS], uint64_t *out) {
    const lair_type_traits *tr = lair_type_traits_of(type);
    if (!tr || ne[0] <= 0 || ne[0] % tr->block_size != 0) return false;
    uint64_t rows = 1;
    for (int d = 1; d < GGUF_MAX_DIMS; d++) {
        if (ne[d] <= 0 || ck_mul_u64(rows, (uint64_t)ne[d], &rows)) return false;
    }
    uint64_t row_bytes, total, elems;
    if (ck_mul_u64((uint64_t)(ne[0] / tr->block_size), tr->block_bytes, &row_bytes)) return false;
    if (ck_mul_u64(row_bytes, rows, &total)) return false;
    /* the element count must fit int64 and size_t too (kernels index with them) */
    if (ck_mul_u64((uint64_t)ne[0], rows, &elems) || elems > (uint64_t)INT64_MAX || elems > (uint64_t)SIZE_MAX)
        return false;
    if (total > (uint64_t)SIZE_MAX) return false;
    *out = total;
    return true;
}

static int kv_cmp_key(const gguf_file *f, uint64_t idx, const char *key) { return strcmp(f->kv[idx].key, key); }

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key) {
    uint64_t lo = 0, hi = f->n_kv;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int c = kv_cmp_key(f, f->kv_sorted[mid], key);
        if (c == 0) return &f->kv[f->kv_sorted[mid]];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
    uint64_t lo = 0, hi = f->n_tensors;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->tensors[f->tensor_sorted[mid]].name, name);
        if (c == 0) return &f->tensors[f->tensor_sorted[mid]];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static lair_status wrong_type(const gguf_file *f, const gguf_kv *kv, const char *want, lair_err *err) {
    return lair_err_set(err, LAIR_ERR_FORMAT, "gguf: %s: key '%s' at offset 0x%llx: expected %s, found %s", f->path,
                        kv->key, (unsigned long long)kv->file_offset, want, gguf_vtype_name(kv->type));
}

static bool is_unsigned(gguf_vtype t) {
    return t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_UINT16 || t == GGUF_TYPE_UINT32 || t == GGUF_TYPE_UINT64;
}
static bool is_signed(gguf_vtype t) {
    return t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 || t == GGUF_TYPE_INT32 || t == GGUF_TYPE_INT64;
}

lair_status gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out, lair_err *err) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return LAIR_ERR_ARG;
    if (is_unsigned(kv->type)) *out = kv->v.u64;
    else if (is_signed(kv->type) && kv->v.i64 >= 0) *out = (uint64_t)kv->v.i64;
    else return wrong_type(f, kv, "a non-negative integer", err);
    return LAIR_OK;
}

lair_status gguf_get_i64(const gguf_file *f, const char *key, int64_t *out, lair_err *err) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return LAIR_ERR_ARG;
    if (is_signed(kv->type)) *out = kv->v.i64;
    else if (is_unsigned(kv->type) && kv->v.u64 <= (uint64_t)INT64_MAX) *out = (int64_t)kv->v.u64;
    else return wrong_type(f, kv, "an integer", err);
    return LAIR_OK;
}

lair_status gguf_get_f64(const gguf_file *f, const char *key, double *out, lair_err *err) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return LAIR_ERR_ARG;
    if (kv->type != GGUF_TYPE_FLOAT32 && kv->type != GGUF_TYPE_FLOAT64) return wrong_type(f, kv, "a float", err);
    *out = kv->v.f64;
    return LAIR_OK;
}

lair_status gguf_get_bool(const gguf_file *f, const char *key, bool *out, lair_err *err) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return LAIR_ERR_ARG;
    if (kv->type != GGUF_TYPE_BOOL) return wrong_type(f, kv, "bool", err);
    *out = kv->v.b;
    return LAIR_OK;
}

lair_status gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, lair_err *err) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return LAIR_ERR_ARG;
    if (kv->type != GGUF_TYPE_STRING) return wrong_type(f, kv, "string", err);
    *out = kv->v.str;
    return LAIR_OK;
}

lair_status gguf_get_arr(const gguf_file *f, const char *key, gguf_vtype elem, const gguf_kv **out, lair_err *err) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return LAIR_ERR_ARG;
    if (kv->type != GGUF_TYPE_ARRAY || (elem != GGUF_TYPE_COUNT && kv->arr_type != elem)) {
        char want[64];
        if (elem == GGUF_TYPE_COUNT) strcpy(want, "array");
        else {
            strcpy(want, "array of ");
            strcat(want, gguf_vtype_name(elem));
        }
        if (kv->type == GGUF_TYPE_ARRAY)
            return lair_err_set(err, LAIR_ERR_FORMAT, "gguf: %s: key '%s' at offset 0x%llx: expected %s, found array of %s",
                                f->path, kv->key, (unsigned long long)kv->file_offset, want, gguf_vtype_name(kv->arr_type));
        return wrong_type(f, kv, want, err);
    }
    *out = kv;
    return LAIR_OK;
}

gguf_str gguf_arr_str(const gguf_kv *kv, uint64_t i) {
    const uint8_t *p = kv->arr_data + kv->arr_str_off[i];
    gguf_str s;
    memcpy(&s.len, p, 8);
    s.ptr = (const char *)p + 8;
    return s;
}

double gguf_arr_f64(const gguf_kv *kv, uint64_t i) {
    const uint8_t *p = kv->arr_data + i * gguf_vtype_size(kv->arr_type);
    switch (kv->arr_type) {
    case GGUF_TYPE_FLOAT32: { float v; memcpy(&v, p, 4); return v; }
    case GGUF_TYPE_FLOAT64: { double v; memcpy(&v, p, 8); return v; }
    case GGUF_TYPE_UINT64: { uint64_t v; memcpy(&v, p, 8); return (double)v; }
    default: return (double)gguf_arr_i64(kv, i);
    }
}

int64_t gguf_arr_i64(const gguf_kv *kv, uint64_t i) {
    const uint8_t *p = kv->arr_data + i * gguf_vtype_size(kv->arr_type);
    switch (kv->arr_type) {
    case GGUF_TYPE_UINT8: return p[0];
    case GGUF_TYPE_INT8: return (int8_t)p[0];
    case GGUF_TYPE_BOOL: return p[0];
    case GGUF_TYPE_UINT16: { uint16_t v; memcpy(&v, p, 2); return v; }
    case GGUF_TYPE_INT16: { int16_t v; memcpy(&v, p, 2); return v; }
    case GGUF_TYPE_UINT32: { uint32_t v; memcpy(&v, p, 4); return v; }
    case GGUF_TYPE_INT32: { int32_t v; memcpy(&v, p, 4); return v; }
    case GGUF_TYPE_UINT64: { uint64_t v; memcpy(&v, p, 8); return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v; }
    case GGUF_TYPE_INT64: { int64_t v; memcpy(&v, p, 8); return v; }
    case GGUF_TYPE_FLOAT32: { float v; memcpy(&v, p, 4); return (v >= -9.2e18f && v <= 9.2e18f) ? (int64_t)v : 0; }
    case GGUF_TYPE_FLOAT64: { double v; memcpy(&v, p, 8); return (v >= -9.2e18 && v <= 9.2e18) ? (int64_t)v : 0; }
    default: return 0;
    }
}
