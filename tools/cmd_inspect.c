/* lair inspect FILE [--json]: what is in a GGUF file, without reading its
 * tensor data (the file is mapped; only the header pages are touched). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "core/fp16.h"
#include "gguf/gguf.h"
#include "tensor/format.h"

#define ARRAY_PREVIEW 8       /* elements shown of a long array */
#define STRING_PREVIEW 72     /* bytes shown of a long string (text mode) */

static bool opt_json, opt_full;
static const cli_opt inspect_opts[] = {
    {"json", 0, CLI_FLAG, &opt_json, NULL, "machine-readable output"},
    {"full", 0, CLI_FLAG, &opt_full, NULL, "print arrays and strings in full"},
    {0},
};

static int run_inspect(int argc, char **argv);
const cli_cmd cmd_inspect = {"inspect", "FILE [--json] [--full]",
                             "Show a GGUF file's metadata, tensors, per-type totals and parameter count.", run_inspect,
                             inspect_opts};

static uint64_t tensor_elems(const gguf_tensor *t) {
    uint64_t n = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) n *= (uint64_t)t->ne[d];
    return n;
}

/* Prints a string with control characters escaped, optionally shortened. */
static void print_str(gguf_str s, bool shorten) {
    uint64_t n = s.len;
    if (shorten && n > STRING_PREVIEW) {
        n = STRING_PREVIEW;
        while (n > 0 && ((unsigned char)s.ptr[n] & 0xc0) == 0x80) n--; /* whole UTF-8 characters */
    }
    putchar('"');
    for (uint64_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        if (ch == '\n') fputs("\\n", stdout);
        else if (ch == '\t') fputs("\\t", stdout);
        else if (ch == '"' || ch == '\\') printf("\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f) printf("\\x%02x", ch);
        else putchar(ch);
    }
    putchar('"');
    if (n < s.len) printf("... (%llu bytes)", (unsigned long long)s.len);
}

static void print_scalar(const gguf_kv *kv) {
    switch (kv->type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_UINT32: case GGUF_TYPE_UINT64:
        printf("%llu", (unsigned long long)kv->v.u64); break;
    case GGUF_TYPE_INT8: case GGUF_TYPE_INT16: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64:
        printf("%lld", (long long)kv->v.i64); break;
    case GGUF_TYPE_FLOAT32: case GGUF_TYPE_FLOAT64: printf("%.9g", kv->v.f64); break;
    case GGUF_TYPE_BOOL: fputs(kv->v.b ? "true" : "false", stdout); break;
    case GGUF_TYPE_STRING: print_str(kv->v.str, !opt_full); break;
    default: break;
    }
}

static void print_array(const gguf_kv *kv) {
    printf("[%s x %llu]", gguf_vtype_name(kv->arr_type), (unsigned long long)kv->arr_n);
    if (kv->arr_type == GGUF_TYPE_ARRAY) return; /* nested arrays: shape only */
    uint64_t show = opt_full || kv->arr_n <= ARRAY_PREVIEW ? kv->arr_n : ARRAY_PREVIEW;
    fputs(" [", stdout);
    for (uint64_t i = 0; i < show; i++) {
        if (i) fputs(", ", stdout);
        if (kv->arr_type == GGUF_TYPE_STRING) print_str(gguf_arr_str(kv, i), !opt_full);
        else if (kv->arr_type == GGUF_TYPE_FLOAT32 || kv->arr_type == GGUF_TYPE_FLOAT64) printf("%.6g", gguf_arr_f64(kv, i));
        else if (kv->arr_type == GGUF_TYPE_UINT64) printf("%llu", (unsigned long long)(uint64_t)gguf_arr_f64(kv, i));
        else if (kv->arr_type == GGUF_TYPE_BOOL) fputs(gguf_arr_i64(kv, i) ? "true" : "false", stdout);
        else printf("%lld", (long long)gguf_arr_i64(kv, i));
    }
    if (show < kv->arr_n) fputs(", ...", stdout);
    putchar(']');
}

static void human_bytes(uint64_t n, char *buf, size_t cap) {
    if (n >= (1ull << 30)) snprintf(buf, cap, "%.2f GiB", (double)n / (1ull << 30));
    else if (n >= (1ull << 20)) snprintf(buf, cap, "%.2f MiB", (double)n / (1ull << 20));
    else if (n >= 1024) snprintf(buf, cap, "%.1f KiB", (double)n / 1024);
    else snprintf(buf, cap, "%llu B", (unsigned long long)n);
}

static void human_count(uint64_t n, char *buf, size_t cap) {
    if (n >= 1000000000ull) snprintf(buf, cap, "%.2f B", (double)n / 1e9);
    else if (n >= 1000000ull) snprintf(buf, cap, "%.2f M", (double)n / 1e6);
    else if (n >= 1000ull) snprintf(buf, cap, "%.2f K", (double)n / 1e3);
    else snprintf(buf, cap, "%llu", (unsigned long long)n);
}

typedef struct type_total {
    uint64_t tensors, elems, bytes;
} type_total;

static void print_text(const char *path, const gguf_bundle *b, const type_total *totals, uint64_t params) {
    const gguf_file *f = b->files[0];
    char hb[32], hc[32];
    human_bytes(gguf_bundle_file_bytes(b), hb, sizeof hb);
    printf("file:       %s\n", path);
    if (b->n_files > 1) printf("split:      %d files\n", b->n_files);
    printf("size:       %llu bytes (%s)\n", (unsigned long long)gguf_bundle_file_bytes(b), hb);
    printf("gguf:       version %u, alignment %llu, data at offset 0x%llx\n", f->version,
           (unsigned long long)f->alignment, (unsigned long long)f->data_offset);
    printf("\nmetadata (%llu keys):\n", (unsigned long long)f->n_kv);
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const gguf_kv *kv = &f->kv[i];
        printf("  %-40s %-7s ", kv->key, gguf_vtype_name(kv->type));
        if (kv->type == GGUF_TYPE_ARRAY) print_array(kv);
        else print_scalar(kv);
        putchar('\n');
    }
    printf("\ntensors (%llu):\n", (unsigned long long)b->n_tensors);
    printf("  %-36s %-7s %-26s %14s %12s\n", "name", "type", "shape", "offset", "bytes");
    for (uint64_t i = 0; i < b->n_tensors; i++) {
        const gguf_tensor *t = b->tensors[i];
        char shape[64];
        int k = snprintf(shape, sizeof shape, "[%lld", (long long)t->ne[0]);
        for (int d = 1; d < t->n_dims && k < (int)sizeof shape; d++)
            k += snprintf(shape + k, sizeof shape - (size_t)k, ", %lld", (long long)t->ne[d]);
        if (k < (int)sizeof shape) snprintf(shape + k, sizeof shape - (size_t)k, "]");
        const gguf_file *tf = b->files[t->file_index];
        printf("  %-36s %-7s %-26s %#14llx %12llu\n", t->name, lair_type_name(t->type), shape,
               (unsigned long long)(tf->data_offset + t->offset), (unsigned long long)t->nbytes);
    }
    printf("\ntotals per type:\n");
    printf("  %-7s %8s %16s %16s %12s\n", "type", "tensors", "elements", "bytes", "bits/weight");
    for (int ty = 0; ty < LAIR_TYPE_COUNT; ty++) {
        const type_total *tt = &totals[ty];
        if (!tt->tensors) continue;
        printf("  %-7s %8llu %16llu %16llu %12.4f\n", lair_type_name((lair_type)ty), (unsigned long long)tt->tensors,
               (unsigned long long)tt->elems, (unsigned long long)tt->bytes, 8.0 * (double)tt->bytes / (double)tt->elems);
    }
    human_count(params, hc, sizeof hc);
    printf("\nparameters: %llu (%s)\n", (unsigned long long)params, hc);
}

static json_t *json_str(gguf_str s) { return json_stringn(s.ptr, (size_t)s.len); }

static json_t *json_kv_value(const gguf_kv *kv) {
    switch (kv->type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_UINT32: case GGUF_TYPE_UINT64:
        if (kv->v.u64 > (uint64_t)INT64_MAX) return json_real((double)kv->v.u64);
        return json_integer((json_int_t)kv->v.u64);
    case GGUF_TYPE_INT8: case GGUF_TYPE_INT16: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64: return json_integer(kv->v.i64);
    case GGUF_TYPE_FLOAT32: case GGUF_TYPE_FLOAT64:
        return (kv->v.f64 == kv->v.f64 && kv->v.f64 - kv->v.f64 == 0) ? json_real(kv->v.f64) : json_null();
    case GGUF_TYPE_BOOL: return json_boolean(kv->v.b);
    case GGUF_TYPE_STRING: return json_str(kv->v.str);
    case GGUF_TYPE_ARRAY: {
        json_t *a = json_array();
        if (kv->arr_type == GGUF_TYPE_ARRAY) return a;
        uint64_t show = opt_full || kv->arr_n <= ARRAY_PREVIEW ? kv->arr_n : ARRAY_PREVIEW;
        for (uint64_t i = 0; i < show; i++) {
            json_t *e;
            if (kv->arr_type == GGUF_TYPE_STRING) e = json_str(gguf_arr_str(kv, i));
            else if (kv->arr_type == GGUF_TYPE_FLOAT32 || kv->arr_type == GGUF_TYPE_FLOAT64) {
                double v = gguf_arr_f64(kv, i);
                e = (v == v && v - v == 0) ? json_real(v) : json_null();
            } else if (kv->arr_type == GGUF_TYPE_BOOL) e = json_boolean(gguf_arr_i64(kv, i));
            else e = json_integer(gguf_arr_i64(kv, i));
            json_array_append_new(a, e);
        }
        return a;
    }
    default: return json_null();
    }
}

static int print_json(const char *path, const gguf_bundle *b, const type_total *totals, uint64_t params) {
    const gguf_file *f = b->files[0];
    json_t *root = json_object();
    json_object_set_new(root, "file", json_string(path));
    json_t *files = json_array();
    for (int i = 0; i < b->n_files; i++) json_array_append_new(files, json_string(b->files[i]->path));
    json_object_set_new(root, "files", files);
    json_object_set_new(root, "size", json_integer((json_int_t)gguf_bundle_file_bytes(b)));
    json_object_set_new(root, "version", json_integer(f->version));
    json_object_set_new(root, "alignment", json_integer((json_int_t)f->alignment));
    json_object_set_new(root, "data_offset", json_integer((json_int_t)f->data_offset));
    json_t *meta = json_array();
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const gguf_kv *kv = &f->kv[i];
        json_t *e = json_object();
        json_object_set_new(e, "key", json_string(kv->key));
        json_object_set_new(e, "type", json_string(gguf_vtype_name(kv->type)));
        if (kv->type == GGUF_TYPE_ARRAY) {
            json_object_set_new(e, "element_type", json_string(gguf_vtype_name(kv->arr_type)));
            json_object_set_new(e, "count", json_integer((json_int_t)kv->arr_n));
            bool cut = !opt_full && kv->arr_n > ARRAY_PREVIEW;
            json_object_set_new(e, "truncated", json_boolean(cut || kv->arr_type == GGUF_TYPE_ARRAY));
        }
        json_object_set_new(e, "value", json_kv_value(kv));
        json_array_append_new(meta, e);
    }
    json_object_set_new(root, "metadata", meta);
    json_t *tensors = json_array();
    for (uint64_t i = 0; i < b->n_tensors; i++) {
        const gguf_tensor *t = b->tensors[i];
        json_t *e = json_object(), *shape = json_array();
        for (int d = 0; d < t->n_dims; d++) json_array_append_new(shape, json_integer(t->ne[d]));
        json_object_set_new(e, "name", json_string(t->name));
        json_object_set_new(e, "type", json_string(lair_type_name(t->type)));
        json_object_set_new(e, "shape", shape);
        json_object_set_new(e, "offset", json_integer((json_int_t)(b->files[t->file_index]->data_offset + t->offset)));
        json_object_set_new(e, "bytes", json_integer((json_int_t)t->nbytes));
        if (b->n_files > 1) json_object_set_new(e, "file", json_integer(t->file_index));
        json_array_append_new(tensors, e);
    }
    json_object_set_new(root, "tensors", tensors);
    json_t *tot = json_object();
    for (int ty = 0; ty < LAIR_TYPE_COUNT; ty++) {
        if (!totals[ty].tensors) continue;
        json_t *e = json_object();
        json_object_set_new(e, "tensors", json_integer((json_int_t)totals[ty].tensors));
        json_object_set_new(e, "elements", json_integer((json_int_t)totals[ty].elems));
        json_object_set_new(e, "bytes", json_integer((json_int_t)totals[ty].bytes));
        json_object_set_new(tot, lair_type_name((lair_type)ty), e);
    }
    json_object_set_new(root, "totals", tot);
    json_object_set_new(root, "parameters", json_integer((json_int_t)params));
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!s) {
        fprintf(stderr, "lair inspect: out of memory\n");
        return 1;
    }
    puts(s);
    free(s);
    return 0;
}

static int run_inspect(int argc, char **argv) {
    const char *pos[1];
    int n_pos;
    int r = cli_parse(&cmd_inspect, argc, argv, pos, 1, &n_pos);
    if (r) return r == 2 ? 0 : 1;
    if (n_pos != 1) return cli_error("inspect", "expected one GGUF file (see lair inspect --help)");
    gguf_bundle *b;
    lair_err err;
    if (gguf_bundle_open(pos[0], &b, &err)) {
        fprintf(stderr, "lair: %s\n", err.msg);
        return 1;
    }
    type_total totals[LAIR_TYPE_COUNT] = {{0}};
    uint64_t params = 0;
    for (uint64_t i = 0; i < b->n_tensors; i++) {
        const gguf_tensor *t = b->tensors[i];
        uint64_t n = tensor_elems(t);
        totals[t->type].tensors++;
        totals[t->type].elems += n;
        totals[t->type].bytes += t->nbytes;
        params += n;
    }
    int rc = 0;
    if (opt_json) rc = print_json(pos[0], b, totals, params);
    else print_text(pos[0], b, totals, params);
    gguf_bundle_free(b);
    return rc;
}
