/* Load-time regrouping of weight matrices into interleaved groups of 8 rows
 * (tensor/rows8.h), for the kernels that read that layout faster (decode
 * about 1.3x on Q4_0 with AVX2; Q4_K and Q6_K 1.3x on one thread, less
 * on two, where memory is nearer the limit).
 *
 * A matrix is regrouped when the CPU's kernel table has both a gemv and a
 * gemm kernel for its format on that layout; LAIR_REPACK=0 in the
 * environment keeps every matrix as the file has it (for comparisons).
 * The regrouped copies live in one allocation the model owns, as large as
 * the matrices themselves; the file pages they came from are then dropped
 * from the resident set, so memory use stays about what it was (anonymous
 * memory instead of file-backed pages).  Tied embeddings (the output matrix
 * is token_embd) are regrouped too: the lookup of one row per token reads
 * it back with lair_rows8_row_to_float. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/platform.h"
#include "kernels/kernels.h"
#include "model/model.h"
#include "tensor/format.h"
#include "tensor/rows8.h"

/* The model's matrices used only as products' weights, as slots to
 * re-point; *n counts them (slots may be NULL when out is NULL). */
static int weight_slots(lair_model *m, const gguf_tensor ***out) {
    int n = 0;
#define SLOT(field)                          \
    do {                                     \
        if (field) {                         \
            if (out) out[n] = &(field);      \
            n++;                             \
        }                                    \
    } while (0)
    for (int64_t il = 0; il < m->hp.n_layer; il++) {
        lair_layer *l = &m->layers[il];
        SLOT(l->wq);
        SLOT(l->wk);
        SLOT(l->wv);
        SLOT(l->wqkv);
        SLOT(l->wo);
        SLOT(l->ffn_gate);
        SLOT(l->ffn_up);
        SLOT(l->ffn_down);
        SLOT(l->ffn_gate_exps);
        SLOT(l->ffn_up_exps);
        SLOT(l->ffn_down_exps);
    }
    SLOT(m->output); /* with tied embeddings also the lookup table (see below) */
#undef SLOT
    return n;
}

/* Pieces a matrix (one expert's) is copied in: about 4 MiB each, so that
 * the pages of a large matrix (an output matrix of 200+ MiB) are not
 * resident twice at once. */
static int64_t pieces(const gguf_tensor *t) {
    const uint64_t per = t->nbytes / (uint64_t)t->ne[2];
    int64_t np = (int64_t)(per >> 22) + 1, max = (t->ne[1] + LAIR_ROWS8 - 1) / LAIR_ROWS8;
    return np < max ? np : max;
}

static bool regroupable(const lair_kernels *k, const gguf_tensor *t) {
    return lair_rows8_format(t->type) && k->gemv_rows8[t->type] && k->gemm_rows8[t->type] && t->ne[1] >= LAIR_ROWS8;
}

/* Rows of one matrix to regroup (an expert's slice of a 3-D tensor is a
 * matrix of its own); nr is a multiple of 8 but in the last piece. */
typedef struct regroup_item {
    lair_type type;
    int64_t n, nr;
    const uint8_t *src;
    uint8_t *dst;
    bool discard; /* src is in a file map: drop its pages once copied */
} regroup_item;

typedef struct regroup_job {
    const regroup_item *items;
    int n_items;
    _Atomic int next;
} regroup_job;

static void regroup_items(void *arg, int ith, int nth) {
    (void)ith, (void)nth;
    regroup_job *j = arg;
    for (int i; (i = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < j->n_items;) {
        const regroup_item *it = &j->items[i];
        uint64_t rb = 0;
        lair_type_row_bytes(it->type, it->n, &rb);
        lair_rows8_pack(it->type, it->n, it->nr, it->src, rb, it->dst);
        if (it->discard) lair_map_discard(it->src, rb * (uint64_t)it->nr); /* one piece per thread is resident twice */
    }
}

lair_status lair_model_regroup(lair_model *m, lair_err *err) {
    const lair_kernels *k = lair_kernels_get();
    const char *env = getenv("LAIR_REPACK");
    if (env && strcmp(env, "0") == 0) return LAIR_OK;
    const int n_slots = weight_slots(m, NULL);
    if (n_slots == 0) return LAIR_OK;
    const gguf_tensor ***slots = lair_calloc((size_t)n_slots, sizeof *slots);
    if (!slots) return lair_err_set(err, LAIR_ERR_NOMEM, "model: out of memory");
    weight_slots(m, slots);
    int n = 0, n_items = 0;
    uint64_t bytes = 0;
    for (int i = 0; i < n_slots; i++)
        if (regroupable(k, *slots[i])) {
            n++;
            n_items += (int)((*slots[i])->ne[2] * pieces(*slots[i]));
            bytes += (*slots[i])->nbytes;
        }
    lair_status s = LAIR_OK;
    regroup_item *items = NULL;
    if (n > 0) {
        m->rows8_tensors = lair_calloc((size_t)n, sizeof *m->rows8_tensors);
        m->rows8_data = bytes <= SIZE_MAX ? lair_malloc((size_t)bytes) : NULL;
        items = lair_calloc((size_t)n_items, sizeof *items);
        if (!m->rows8_tensors || !m->rows8_data || !items) {
            s = lair_err_set(err, LAIR_ERR_NOMEM, "model: out of memory regrouping %llu bytes of weights (LAIR_REPACK=0 keeps them mapped)",
                             (unsigned long long)bytes);
        } else {
            /* each matrix's copy is laid out and pointed at first; the
             * copying is page faulting and memory traffic more than
             * arithmetic, so a few threads then take pieces from a counter */
            uint64_t off = 0;
            int j = 0, it = 0;
            for (int i = 0; i < n_slots; i++) {
                const gguf_tensor *t = *slots[i];
                if (!regroupable(k, t)) continue;
                uint64_t rb = 0;
                lair_type_row_bytes(t->type, t->ne[0], &rb);
                const uint64_t slice = rb * (uint64_t)t->ne[1];
                const int64_t np = pieces(t), step = ((t->ne[1] + np - 1) / np + LAIR_ROWS8 - 1) / LAIR_ROWS8 * LAIR_ROWS8;
                for (int64_t e = 0; e < t->ne[2]; e++)
                    for (int64_t r = 0; r < t->ne[1]; r += step) /* whole groups, the tail in the last piece */
                        items[it++] = (regroup_item){t->type, t->ne[0], r + step < t->ne[1] ? step : t->ne[1] - r,
                                                     (const uint8_t *)t->data + (uint64_t)e * slice + (uint64_t)r * rb,
                                                     m->rows8_data + off + (uint64_t)e * slice + (uint64_t)r * rb,
                                                     m->gguf->files[t->file_index]->owns_map};
                gguf_tensor *copy = &m->rows8_tensors[j++];
                *copy = *t;
                copy->data = m->rows8_data + off;
                copy->rows8 = true;
                off += t->nbytes;
                if (m->tok_embd == t) m->tok_embd = copy;
                *slots[i] = copy;
            }
            regroup_job job = {items, it, 0};
            int nth = lair_cpu_count() < 8 ? lair_cpu_count() : 8;
            lair_run_parallel(nth < it ? nth : it, regroup_items, &job);
            m->n_rows8 = n;
        }
    }
    lair_free(items);
    lair_free(slots);
    return s;
}
