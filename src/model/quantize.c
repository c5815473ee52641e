#include "model/quantize.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/platform.h"
#include "gguf/gguf.h"
#include "tensor/format.h"

#define CHUNK_ELEMS (1u << 22) /* floats converted per step: 16 MiB of f32 */

typedef struct plan_entry {
    const gguf_tensor *src;
    lair_type type;
    uint64_t nbytes;
    int shard;
} plan_entry;

/* One chunk of rows converted by n threads. */
typedef struct convert_job {
    const plan_entry *e;
    const uint8_t *src;     /* first source row of the chunk */
    uint8_t *dst;           /* first output row */
    float *f32;             /* scratch: rows as float */
    float *back;            /* scratch: output decoded again (stats) */
    int64_t rows, row_len;
    uint64_t src_row_bytes, dst_row_bytes;
    bool stats;
    double sq_err[256], sq_ref[256]; /* per thread */
    int64_t bad_row;                /* first row with a non-finite value, or -1 */
} convert_job;

static void convert_rows(void *ctx, int ith, int nth) {
    convert_job *j = ctx;
    const lair_type_traits *st = lair_type_traits_of(j->e->src->type), *dt = lair_type_traits_of(j->e->type);
    int64_t per = (j->rows + nth - 1) / nth, r0 = per * ith, r1 = r0 + per < j->rows ? r0 + per : j->rows;
    double se = 0, sr = 0;
    for (int64_t r = r0; r < r1; r++) {
        float *x = j->f32 + r * j->row_len;
        st->to_float(j->src + (uint64_t)r * j->src_row_bytes, x, j->row_len);
        for (int64_t i = 0; i < j->row_len; i++)
            if (!isfinite(x[i])) {
                j->bad_row = r; /* benign race: any bad row will do for the message */
                return;
            }
        dt->from_float(x, j->dst + (uint64_t)r * j->dst_row_bytes, j->row_len);
        if (j->stats) {
            float *y = j->back + r * j->row_len;
            dt->to_float(j->dst + (uint64_t)r * j->dst_row_bytes, y, j->row_len);
            for (int64_t i = 0; i < j->row_len; i++) {
                double d = (double)y[i] - x[i];
                se += d * d;
                sr += (double)x[i] * x[i];
            }
        }
    }
    j->sq_err[ith] = se;
    j->sq_ref[ith] = sr;
}

static lair_status read_model_info(const gguf_bundle *b, lair_recipe_model *m, lair_err *err) {
    const gguf_file *f = b->files[0];
    gguf_str arch;
    memset(m, 0, sizeof *m);
    m->n_gqa = 1;
    m->has_output = gguf_bundle_find_tensor(b, "output.weight") != NULL;
    if (gguf_get_str(f, "general.architecture", &arch, err) != LAIR_OK)
        return lair_err_set(err, LAIR_ERR_FORMAT, "quantize: %s has no general.architecture", f->path);
    char key[160];
    uint64_t v, heads = 0, kv = 0;
    snprintf(key, sizeof key, "%.*s.block_count", (int)(arch.len < 100 ? arch.len : 100), arch.ptr);
    if (gguf_get_u64(f, key, &v, NULL) == LAIR_OK) m->n_layer = (int64_t)v;
    snprintf(key, sizeof key, "%.*s.expert_count", (int)(arch.len < 100 ? arch.len : 100), arch.ptr);
    if (gguf_get_u64(f, key, &v, NULL) == LAIR_OK) m->n_expert = (int64_t)v;
    snprintf(key, sizeof key, "%.*s.attention.head_count", (int)(arch.len < 100 ? arch.len : 100), arch.ptr);
    gguf_get_u64(f, key, &heads, NULL);
    snprintf(key, sizeof key, "%.*s.attention.head_count_kv", (int)(arch.len < 100 ? arch.len : 100), arch.ptr);
    gguf_get_u64(f, key, &kv, NULL);
    if (heads && kv && heads % kv == 0) m->n_gqa = (int64_t)(heads / kv);
    return LAIR_OK;
}

static char *shard_path(const char *out, int i, int n) {
    size_t l = strlen(out);
    size_t stem = l > 5 && strcmp(out + l - 5, ".gguf") == 0 ? l - 5 : l;
    char *p = lair_malloc(stem + 32);
    if (p) snprintf(p, stem + 32, "%.*s-%05d-of-%05d.gguf", (int)stem, out, i + 1, n);
    return p;
}

static lair_status write_shard(const gguf_bundle *b, const plan_entry *plan, uint64_t n, int shard, int n_shards,
                               const char *path, const lair_quantize_opts *o, bool any_quantized,
                               lair_quantize_result *res, lair_err *err) {
    gguf_writer *w;
    lair_status s = gguf_writer_init(&w, err);
    if (s) return s;
    const gguf_file *f0 = b->files[0];
    lair_status ms = LAIR_OK;
    if (shard == 0) {
        for (uint64_t i = 0; i < f0->n_kv; i++)
            if (strncmp(f0->kv[i].key, "split.", 6) != 0) ms |= gguf_writer_copy_kv(w, &f0->kv[i]);
        ms |= gguf_writer_set_u32(w, "general.file_type", (uint32_t)o->recipe->ftype);
        if (any_quantized) ms |= gguf_writer_set_u32(w, "general.quantization_version", 2);
        else gguf_writer_remove(w, "general.quantization_version");
    }
    if (n_shards > 1) {
        ms |= gguf_writer_set_u16(w, "split.no", (uint16_t)shard);
        ms |= gguf_writer_set_u16(w, "split.count", (uint16_t)n_shards);
        ms |= gguf_writer_set_i32(w, "split.tensors.count", (int32_t)n);
    }
    if (ms) {
        gguf_writer_free(w);
        return lair_err_set(err, LAIR_ERR_NOMEM, "quantize: out of memory");
    }
    for (uint64_t i = 0; i < n && !s; i++)
        if (plan[i].shard == shard)
            s = gguf_writer_add_tensor(w, plan[i].src->name, plan[i].type, plan[i].src->n_dims, plan[i].src->ne, err);
    if (!s) s = gguf_writer_begin(w, path, err);

    float *f32 = NULL, *back = NULL;
    uint8_t *dst = NULL;
    convert_job *job = lair_calloc(1, sizeof *job);
    if (!job) s = s ? s : lair_err_set(err, LAIR_ERR_NOMEM, "quantize: out of memory");
    for (uint64_t i = 0; i < n && !s; i++) {
        const plan_entry *e = &plan[i];
        if (e->shard != shard) continue;
        const gguf_tensor *t = e->src;
        if (e->type == t->type) { /* unchanged: copy the bytes straight from the map */
            s = gguf_writer_write(w, t->data, t->nbytes, err);
            continue;
        }
        int64_t row_len = t->ne[0], rows;
        uint64_t src_row, dst_row;
        lair_type_row_bytes(t->type, row_len, &src_row);
        lair_type_row_bytes(e->type, row_len, &dst_row);
        rows = (int64_t)(t->nbytes / src_row);
        int64_t rows_per_chunk = (int64_t)(CHUNK_ELEMS / (uint64_t)row_len);
        if (rows_per_chunk < 1) rows_per_chunk = 1;
        if (!f32) {
            /* sized for the largest chunk: CHUNK_ELEMS floats or one (long) row */
            uint64_t cap = CHUNK_ELEMS;
            for (uint64_t k = 0; k < n; k++)
                if ((uint64_t)plan[k].src->ne[0] > cap) cap = (uint64_t)plan[k].src->ne[0];
            f32 = lair_malloc(cap * sizeof *f32);
            back = o->stats ? lair_malloc(cap * sizeof *back) : NULL;
            dst = lair_malloc(cap * 4 + 4096);
            if (!f32 || !dst || (o->stats && !back)) {
                s = lair_err_set(err, LAIR_ERR_NOMEM, "quantize: out of memory");
                break;
            }
        }
        lair_quantize_type_stats *ts = &res->per_type[e->type];
        for (int64_t r0 = 0; r0 < rows && !s; r0 += rows_per_chunk) {
            int64_t nr = rows - r0 < rows_per_chunk ? rows - r0 : rows_per_chunk;
            memset(job, 0, sizeof *job);
            job->e = e;
            job->src = (const uint8_t *)t->data + (uint64_t)r0 * src_row;
            job->dst = dst;
            job->f32 = f32;
            job->back = back;
            job->rows = nr;
            job->row_len = row_len;
            job->src_row_bytes = src_row;
            job->dst_row_bytes = dst_row;
            job->stats = o->stats;
            job->bad_row = -1;
            int nt = o->n_threads < 1 ? 1 : (o->n_threads > 256 ? 256 : o->n_threads);
            if (nt > nr) nt = (int)nr;
            lair_run_parallel(nt, convert_rows, job);
            if (job->bad_row >= 0) {
                s = lair_err_set(err, LAIR_ERR_FORMAT, "quantize: tensor '%s': row %lld holds a NaN or infinite value",
                                 t->name, (long long)(r0 + job->bad_row));
                break;
            }
            for (int k = 0; k < nt; k++) {
                ts->sum_sq_err += job->sq_err[k];
                ts->sum_sq_ref += job->sq_ref[k];
            }
            s = gguf_writer_write(w, dst, (uint64_t)nr * dst_row, err);
        }
        ts->tensors++;
        ts->elems += (uint64_t)rows * (uint64_t)row_len;
    }
    if (!s) s = gguf_writer_finish(w, err);
    gguf_writer_free(w);
    lair_free(job);
    lair_free(f32);
    lair_free(back);
    lair_free(dst);
    return s;
}

lair_status lair_quantize_file(const char *in_path, const char *out_path, const lair_quantize_opts *o,
                               lair_quantize_result *res, lair_err *err) {
    memset(res, 0, sizeof *res);
    gguf_bundle *b;
    lair_status s = gguf_bundle_open(in_path, &b, err);
    if (s) return s;
    lair_recipe_model m;
    plan_entry *plan = NULL;
    if ((s = read_model_info(b, &m, err))) goto out;
    plan = lair_calloc(b->n_tensors ? b->n_tensors : 1, sizeof *plan);
    if (!plan) {
        s = lair_err_set(err, LAIR_ERR_NOMEM, "quantize: out of memory");
        goto out;
    }
    bool any_quantized = false;
    int n_shards = 1;
    uint64_t shard_bytes = 0;
    for (uint64_t i = 0; i < b->n_tensors; i++) {
        const gguf_tensor *t = b->tensors[i];
        const lair_type_traits *st = lair_type_traits_of(t->type);
        lair_type nt = lair_recipe_tensor_type(o->recipe, &m, t->name, t->n_dims, t->ne, t->type);
        const lair_type_traits *dt = lair_type_traits_of(nt);
        if (nt != t->type) {
            if (st->quantized && !o->allow_requantize) {
                s = lair_err_set(err, LAIR_ERR_ARG,
                                 "quantize: tensor '%s' is already %s; quantizing it again loses quality (use a float "
                                 "model, or pass --allow-requantize)", t->name, st->name);
                goto out;
            }
            if (!st->to_float || !dt->from_float) {
                s = lair_err_set(err, LAIR_ERR_UNSUPPORTED, "quantize: tensor '%s': cannot convert %s to %s", t->name,
                                 st->name, dt->name);
                goto out;
            }
        }
        any_quantized |= dt->quantized;
        plan[i].src = t;
        plan[i].type = nt;
        gguf_tensor_bytes(nt, t->ne, &plan[i].nbytes);
        if (o->split_max_bytes && shard_bytes > 0 && shard_bytes + plan[i].nbytes > o->split_max_bytes) {
            n_shards++;
            shard_bytes = 0;
        }
        plan[i].shard = n_shards - 1;
        shard_bytes += plan[i].nbytes;
    }
    if (n_shards > 9999) {
        s = lair_err_set(err, LAIR_ERR_ARG, "quantize: --split-max-size gives %d files (at most 9999)", n_shards);
        goto out;
    }
    for (int sh = 0; sh < n_shards && !s; sh++) {
        char *path = n_shards > 1 ? shard_path(out_path, sh, n_shards) : NULL;
        if (n_shards > 1 && !path) {
            s = lair_err_set(err, LAIR_ERR_NOMEM, "quantize: out of memory");
            break;
        }
        s = write_shard(b, plan, b->n_tensors, sh, n_shards, path ? path : out_path, o, any_quantized, res, err);
        if (!s) res->out_bytes += lair_file_size(path ? path : out_path);
        lair_free(path);
    }
    res->n_tensors = b->n_tensors;
    res->in_bytes = gguf_bundle_file_bytes(b);
    res->n_files = n_shards;
out:
    lair_free(plan);
    gguf_bundle_free(b);
    return s;
}
