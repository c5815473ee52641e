/* GGUF (versions 2 and 3): a validating reader over a read-only memory map,
 * a streaming writer, and split-file bundles.
 *
 * File layout (all little-endian):
 *   u32 magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv
 *   n_kv    x { str key | u32 value_type | value }
 *   n_tensors x { str name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset }
 *   padding to `general.alignment` (default 32) | data section
 * where str = u64 length + bytes (no terminator) and an array value is
 * u32 element_type | u64 count | elements.
 *
 * Everything the reader returns points into the map or into memory owned by
 * the gguf_file; it stays valid until gguf_close.  A file is fully validated
 * by gguf_open: afterwards every tensor's bytes are in bounds, aligned,
 * non-overlapping and consistent with its type and shape. */
#ifndef LAIR_GGUF_H
#define LAIR_GGUF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/platform.h"
#include "lair.h"

#define GGUF_MAGIC 0x46554747u /* "GGUF" read as a little-endian u32 */
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4
/* Limits with documented bounds (an input beyond them is rejected by name). */
#define GGUF_MAX_KEY_LEN 65535u        /* bytes */
#define GGUF_MAX_NAME_LEN 255u         /* tensor name bytes */
#define GGUF_MAX_STRING_LEN (1u << 30) /* bytes of one string value */
#define GGUF_MAX_ARRAY_DEPTH 4         /* nesting of array values */
#define GGUF_MAX_ALIGNMENT (1u << 20)  /* bytes */

typedef enum gguf_vtype {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT
} gguf_vtype;

const char *gguf_vtype_name(gguf_vtype t);
/* Bytes of one scalar element; 0 for STRING and ARRAY. */
unsigned gguf_vtype_size(gguf_vtype t);

/* A string inside the map: not NUL-terminated. */
typedef struct gguf_str {
    const char *ptr;
    uint64_t len;
} gguf_str;

typedef struct gguf_kv {
    const char *key;      /* NUL-terminated copy */
    gguf_vtype type;
    uint64_t file_offset; /* where this entry's key starts (for messages) */
    const uint8_t *raw;   /* serialized value (after the type field), in the map */
    uint64_t raw_len;     /* its length in bytes */
    /* Scalars (type != ARRAY): the value, widened. */
    union {
        uint64_t u64; /* UINT8..UINT64 */
        int64_t i64;  /* INT8..INT64 */
        double f64;   /* FLOAT32, FLOAT64 */
        bool b;       /* BOOL */
        gguf_str str; /* STRING */
    } v;
    /* Arrays (type == ARRAY). */
    gguf_vtype arr_type;
    uint64_t arr_n;
    const uint8_t *arr_data;  /* first element */
    uint64_t *arr_str_off;    /* STRING arrays: offset of element i from arr_data */
} gguf_kv;

typedef struct gguf_tensor {
    const char *name;     /* NUL-terminated copy */
    lair_type type;
    int n_dims;           /* 1..4 */
    int64_t ne[GGUF_MAX_DIMS]; /* elements per dim; ne[0] is contiguous; unused dims are 1 */
    uint64_t offset;      /* from the start of the data section */
    uint64_t nbytes;
    const void *data;     /* view into the map (no copy) */
    uint64_t info_offset; /* file offset of this tensor's info entry (for messages) */
    int file_index;       /* which file of a split bundle holds it (0 for a single file) */
    bool rows8;           /* false as parsed; true in the model loader's copies whose data it
                           * regrouped in interleaved groups of 8 rows (tensor/rows8.h) */
} gguf_tensor;

typedef struct gguf_file {
    char *path;
    lair_map map;
    bool owns_map;
    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset; /* file offset of the data section */
    uint64_t n_kv;
    gguf_kv *kv;
    uint64_t n_tensors;
    gguf_tensor *tensors;
    uint64_t *kv_sorted;     /* indices of kv sorted by key (lookups) */
    uint64_t *tensor_sorted; /* indices of tensors sorted by name */
    char *strings;           /* arena for key and name copies */
} gguf_file;

/* Maps and validates a file.  On error *out is NULL and err names the key or
 * tensor and the byte offset. */
lair_status gguf_open(const char *path, gguf_file **out, lair_err *err);
/* Validates a file already in memory; `data` must outlive the result.  `name`
 * is used in messages. */
lair_status gguf_parse(const uint8_t *data, uint64_t size, const char *name, gguf_file **out, lair_err *err);
void gguf_close(gguf_file *f);

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* Typed getters.  Return LAIR_ERR_ARG when the key is absent (err untouched),
 * LAIR_ERR_FORMAT when it holds the wrong type or an out-of-range value. */
lair_status gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out, lair_err *err); /* any unsigned or non-negative signed integer */
lair_status gguf_get_i64(const gguf_file *f, const char *key, int64_t *out, lair_err *err);  /* any integer that fits */
lair_status gguf_get_f64(const gguf_file *f, const char *key, double *out, lair_err *err);   /* FLOAT32/FLOAT64 */
lair_status gguf_get_bool(const gguf_file *f, const char *key, bool *out, lair_err *err);
lair_status gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, lair_err *err);
/* Array of `elem` type (GGUF_TYPE_COUNT: any). */
lair_status gguf_get_arr(const gguf_file *f, const char *key, gguf_vtype elem, const gguf_kv **out, lair_err *err);

/* Element i of a STRING array (i < arr_n). */
gguf_str gguf_arr_str(const gguf_kv *kv, uint64_t i);
/* Element i of a numeric array, widened (i < arr_n). */
double gguf_arr_f64(const gguf_kv *kv, uint64_t i);
int64_t gguf_arr_i64(const gguf_kv *kv, uint64_t i);

/* Bytes of a tensor of this type and shape; false on overflow or when ne[0]
 * is not a multiple of the type's block size. */
bool gguf_tensor_bytes(lair_type type, const int64_t ne[GGUF_MAX_DIMS], uint64_t *out);

/* True when s is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool gguf_utf8_valid(const char *s, uint64_t len);

/* ---- split bundles --------------------------------------------------------
 * "NAME-00001-of-00003.gguf" with keys split.no (u16, 0-based), split.count
 * (u16) and split.tensors.count (i32).  Opening any file of a set opens all of
 * them; metadata comes from the first, tensors from all. */
typedef struct gguf_bundle {
    int n_files;
    gguf_file **files;        /* files[0] carries the model's metadata */
    uint64_t n_tensors;
    const gguf_tensor **tensors; /* all tensors, in file then file-order */
    uint64_t *tensor_sorted;
} gguf_bundle;

lair_status gguf_bundle_open(const char *path, gguf_bundle **out, lair_err *err);
void gguf_bundle_free(gguf_bundle *b);
const gguf_tensor *gguf_bundle_find_tensor(const gguf_bundle *b, const char *name);
uint64_t gguf_bundle_file_bytes(const gguf_bundle *b);

/* ---- writer ---------------------------------------------------------------
 * Usage: init; set metadata (any order; setting a key twice replaces it);
 * add every tensor's info in file order; begin (writes the header to
 * PATH.tmp); write each tensor's bytes in the same order (any number of
 * chunks per tensor); finish (pads, flushes, renames over PATH).  Any error
 * leaves no file at PATH. */
typedef struct gguf_writer gguf_writer;

lair_status gguf_writer_init(gguf_writer **out, lair_err *err);
void gguf_writer_free(gguf_writer *w); /* also aborts an unfinished file */

lair_status gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
lair_status gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v);
lair_status gguf_writer_set_u16(gguf_writer *w, const char *key, uint16_t v);
lair_status gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v);
lair_status gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
lair_status gguf_writer_set_bool(gguf_writer *w, const char *key, bool v);
lair_status gguf_writer_set_str(gguf_writer *w, const char *key, const char *s);
/* Array of fixed-size scalars: n elements of `elem` at data (little-endian). */
lair_status gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_vtype elem, const void *data, uint64_t n);
/* Array of strings. */
lair_status gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *strs, uint64_t n);
/* Copies a value verbatim from a reader (any type, nested arrays too). */
lair_status gguf_writer_copy_kv(gguf_writer *w, const gguf_kv *kv);
void gguf_writer_remove(gguf_writer *w, const char *key);
bool gguf_writer_has(const gguf_writer *w, const char *key);

lair_status gguf_writer_add_tensor(gguf_writer *w, const char *name, lair_type type, int n_dims, const int64_t *ne,
                                   lair_err *err);
lair_status gguf_writer_begin(gguf_writer *w, const char *path, lair_err *err);
lair_status gguf_writer_write(gguf_writer *w, const void *data, uint64_t nbytes, lair_err *err);
lair_status gguf_writer_finish(gguf_writer *w, lair_err *err);
uint64_t gguf_writer_n_tensors(const gguf_writer *w);

#endif
