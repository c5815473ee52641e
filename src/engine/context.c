#include "engine/context.h"

#include <string.h>

#include "core/alloc.h"
#include "core/checked.h"
#include "core/err.h"
#include "core/platform.h"
#include "tensor/format.h"

lair_context_params lair_context_default_params(void) {
    lair_context_params p;
    p.n_ctx = 4096;
    p.n_batch = 512;
    p.n_seq_max = 1;
    p.kv_type = LAIR_TYPE_F16;
    p.n_threads = 0;
    p.n_outputs_max = 0;
    return p;
}

static void *alloc_floats(uint64_t n, bool *ok) {
    void *p = n && n < (UINT64_MAX / 8) ? lair_malloc((size_t)n * sizeof(float)) : NULL;
    if (!p) *ok = false;
    return p;
}

/* Per-thread scratch of the gemm kernels: enough for the widest input of
 * any matrix product (n_embd, the query width or n_ff), rounded to 64. */
static uint64_t gemm_scratch_per_thread(const lair_hparams *hp) {
    int64_t k = hp->n_embd;
    if (hp->n_head * hp->head_dim > k) k = hp->n_head * hp->head_dim;
    if (hp->n_ff > k) k = hp->n_ff;
    return (LAIR_GEMM_SCRATCH_BYTES(k) + 63) & ~(uint64_t)63;
}

lair_status lair_context_memory(const lair_model *m, const lair_context_params *params, lair_context_bytes *out) {
    lair_context_params p = params ? *params : lair_context_default_params();
    const lair_hparams *hp = &m->hp;
    if (p.n_threads <= 0) p.n_threads = lair_cpu_count();
    if (p.n_threads > 256) p.n_threads = 256;
    uint64_t head = 0;
    if (p.n_ctx < 1 || p.n_batch < 1 || !lair_type_traits_of(p.kv_type) ||
        !lair_type_row_bytes(p.kv_type, hp->head_dim, &head))
        return LAIR_ERR_ARG;
    /* the same sizes lair_context_create allocates */
    if (p.n_outputs_max <= 0 || p.n_outputs_max > p.n_batch) p.n_outputs_max = p.n_batch;
    uint64_t row = head * (uint64_t)hp->n_head_kv, B = (uint64_t)p.n_batch, T = (uint64_t)p.n_threads;
    uint64_t G = (uint64_t)(hp->n_head / hp->n_head_kv); /* query heads per KV head */
    uint64_t n_q = (uint64_t)(hp->n_head * hp->head_dim), n_kv = (uint64_t)(hp->n_head_kv * hp->head_dim);
    uint64_t ffn_w = (uint64_t)(hp->n_ff * 2 > hp->n_embd ? hp->n_ff * 2 : hp->n_embd);
    uint64_t widest = n_q + 2 * n_kv;
    if (ffn_w > widest) widest = ffn_w;
    if ((uint64_t)hp->n_vocab > widest) widest = (uint64_t)hp->n_vocab;
    out->kv = 2 * row * (uint64_t)p.n_ctx * (uint64_t)hp->n_layer;
    out->buffers = (uint64_t)p.n_ctx * (4 + 8) +
                   4 * B * ((uint64_t)hp->n_embd * 4 + n_q + 2 * n_kv + n_q + ffn_w + (uint64_t)hp->n_rot) +
                   4 * (uint64_t)p.n_outputs_max * (uint64_t)hp->n_vocab +
                   4 * T * (G * (uint64_t)p.n_ctx + (uint64_t)p.n_ctx + (uint64_t)hp->head_dim) + T * G * ((uint64_t)hp->head_dim * 4 + 64) +
                   B * (widest * 4 + 64 + 8) + T * gemm_scratch_per_thread(hp) + 64 +
                   (hp->n_expert > 0 ? B * (4 * (uint64_t)(hp->n_embd + hp->n_expert) + 4) : 0);
    out->weights = 0;
    for (uint64_t i = 0; i < m->gguf->n_tensors; i++) out->weights += m->gguf->tensors[i]->nbytes;
    return LAIR_OK;
}

lair_status lair_context_create(const lair_model *m, const lair_context_params *params, lair_context **out, lair_err *err) {
    *out = NULL;
    lair_context_params p = params ? *params : lair_context_default_params();
    const lair_hparams *hp = &m->hp;
    if (!(p.n_ctx >= 1 && p.n_ctx <= (1 << 24)))
        return lair_err_set(err, LAIR_ERR_ARG, "context: n_ctx %d out of range (1 to 16777216)", p.n_ctx);
    if (!(p.n_batch >= 1 && p.n_batch <= 65536))
        return lair_err_set(err, LAIR_ERR_ARG, "context: n_batch %d out of range (1 to 65536)", p.n_batch);
    if (p.n_outputs_max <= 0 || p.n_outputs_max > p.n_batch) p.n_outputs_max = p.n_batch;
    if (!(p.n_seq_max >= 1 && p.n_seq_max <= LAIR_MAX_SEQ))
        return lair_err_set(err, LAIR_ERR_ARG, "context: n_seq_max %d out of range (1 to %d)", p.n_seq_max, LAIR_MAX_SEQ);
    if (p.kv_type != LAIR_TYPE_F32 && p.kv_type != LAIR_TYPE_F16 && p.kv_type != LAIR_TYPE_Q8_0 && p.kv_type != LAIR_TYPE_Q4_0)
        return lair_err_set(err, LAIR_ERR_ARG, "context: KV type %s not supported (f32, f16, q8_0, q4_0)",
                            lair_type_name(p.kv_type) ? lair_type_name(p.kv_type) : "?");
    if (p.n_threads <= 0) p.n_threads = lair_cpu_count();
    if (p.n_threads > 256) p.n_threads = 256;
    const lair_type_traits *kt = lair_type_traits_of(p.kv_type);
    if (hp->head_dim % kt->block_size != 0)
        return lair_err_set(err, LAIR_ERR_ARG, "context: KV type %s needs head sizes that are multiples of %lld (model has %lld)",
                            kt->name, (long long)kt->block_size, (long long)hp->head_dim);
    const lair_kernels *kern = lair_kernels_get();
    if (!kern->vec_dot[p.kv_type])
        return lair_err_set(err, LAIR_ERR_UNSUPPORTED, "context: no attention kernel for KV type %s", kt->name);

    lair_context *c = lair_calloc(1, sizeof *c);
    if (!c) return lair_err_set(err, LAIR_ERR_NOMEM, "context: out of memory");
    c->m = m;
    c->p = p;
    c->kern = kern;
    c->kv_type = p.kv_type;
    int64_t n_q = hp->n_head * hp->head_dim, n_kv = hp->n_head_kv * hp->head_dim;
    lair_type_row_bytes(p.kv_type, hp->head_dim, &c->kv_head_bytes);
    c->kv_row_bytes = c->kv_head_bytes * (uint64_t)hp->n_head_kv;
    uint64_t cache_bytes;
    bool ok = !ck_mul_u64(c->kv_row_bytes, (uint64_t)p.n_ctx * (uint64_t)hp->n_layer, &cache_bytes) &&
              cache_bytes <= (uint64_t)SIZE_MAX;
    if (ok) {
        c->k_cache = lair_malloc((size_t)cache_bytes);
        c->v_cache = lair_malloc((size_t)cache_bytes);
        ok = c->k_cache && c->v_cache;
    }
    c->cell_pos = lair_malloc((size_t)p.n_ctx * sizeof *c->cell_pos);
    c->cell_seq = lair_calloc((size_t)p.n_ctx, sizeof *c->cell_seq);
    ok = ok && c->cell_pos && c->cell_seq;
    uint64_t B = (uint64_t)p.n_batch;
    int64_t ffn_w = hp->n_ff * 2 > hp->n_embd ? hp->n_ff * 2 : hp->n_embd;
    c->x = alloc_floats(B * (uint64_t)hp->n_embd, &ok);
    c->xn = alloc_floats(B * (uint64_t)hp->n_embd, &ok);
    c->qkv = alloc_floats(B * (uint64_t)(n_q + 2 * n_kv), &ok);
    c->attn = alloc_floats(B * (uint64_t)n_q, &ok);
    c->proj = alloc_floats(B * (uint64_t)hp->n_embd, &ok);
    c->ffn = alloc_floats(B * (uint64_t)ffn_w, &ok);
    c->moe_acc = alloc_floats(B * (uint64_t)hp->n_embd, &ok);
    if (hp->n_expert > 0) {
        c->moe_in = alloc_floats(B * (uint64_t)hp->n_embd, &ok);
        c->moe_route = alloc_floats(B * (uint64_t)hp->n_expert, &ok);
        c->moe_tok = lair_malloc((size_t)B * sizeof *c->moe_tok);
        ok = ok && c->moe_tok;
    }
    uint64_t T = (uint64_t)p.n_threads;
    c->attn_group = (int)(hp->n_head / hp->n_head_kv);
    c->scores_per_thread = (uint64_t)c->attn_group * (uint64_t)p.n_ctx; /* [group][cell] scores, then probabilities */
    c->scores = alloc_floats(T * c->scores_per_thread, &ok);
    c->visible = ok ? lair_malloc((size_t)(T * (uint64_t)p.n_ctx) * sizeof *c->visible) : NULL;
    c->vrow = alloc_floats(T * (uint64_t)hp->head_dim, &ok);
    c->qconv_bytes = (uint64_t)hp->head_dim * 4 + 64;
    c->qconv = ok ? lair_malloc((size_t)(T * (uint64_t)c->attn_group * c->qconv_bytes)) : NULL;
    ok = ok && c->qconv && c->visible;
    c->logits = alloc_floats((uint64_t)p.n_outputs_max * (uint64_t)hp->n_vocab, &ok);
    c->rope_cos = alloc_floats(B * (uint64_t)(hp->n_rot / 2), &ok);
    c->rope_sin = alloc_floats(B * (uint64_t)(hp->n_rot / 2), &ok);
    c->out_row = lair_malloc((size_t)B * sizeof *c->out_row);
    c->cells = lair_malloc((size_t)B * sizeof *c->cells);
    ok = ok && c->out_row && c->cells;
    /* activations converted for the dot kernels: the widest row, in the
     * widest partner format (f32 is the widest: 4 bytes per value) */
    int64_t widest = n_q + 2 * n_kv;
    if (ffn_w > widest) widest = ffn_w;
    if (hp->n_vocab > widest) widest = hp->n_vocab;
    c->act_row_cap = (uint64_t)widest * 4 + 64;
    c->act = ok ? lair_malloc((size_t)(B * c->act_row_cap)) : NULL;
    c->gemm_scratch_bytes = gemm_scratch_per_thread(hp);
    c->gemm_scratch_block = ok ? lair_malloc((size_t)(T * c->gemm_scratch_bytes + 64)) : NULL;
    c->gemm_scratch = c->gemm_scratch_block ? (uint8_t *)(((uintptr_t)c->gemm_scratch_block + 63) & ~(uintptr_t)63) : NULL;
    ok = ok && c->gemm_scratch;
    lair_status ps = ok && c->act ? lair_pool_create(p.n_threads, &c->pool, err) : LAIR_OK;
    if (ps) {
        lair_context_free(c);
        return ps;
    }
    if (!ok || !c->act) {
        lair_context_free(c);
        return lair_err_set(err, LAIR_ERR_NOMEM, "context: out of memory for a %d-token KV cache (%llu MiB) and %d-token buffers",
                            p.n_ctx, (unsigned long long)(2 * cache_bytes >> 20), p.n_batch);
    }
    lair_kv_clear(c);
    for (int32_t i = 0; i < p.n_batch; i++) c->out_row[i] = -1;
    /* LongRoPE: the long factors serve contexts beyond the original length */
    const gguf_tensor *rf = m->rope_freqs;
    if (m->rope_long && m->rope_short) rf = p.n_ctx > hp->n_ctx_orig ? m->rope_long : m->rope_short;
    else if (m->rope_long || m->rope_short) rf = m->rope_long ? m->rope_long : m->rope_short;
    c->rope_factors = rf ? rf->data : NULL;
    *out = c;
    return LAIR_OK;
}

void lair_context_free(lair_context *c) {
    if (!c) return;
    lair_pool_free(c->pool);
    lair_free(c->k_cache);
    lair_free(c->v_cache);
    lair_free(c->cell_pos);
    lair_free(c->cell_seq);
    lair_free(c->x);
    lair_free(c->xn);
    lair_free(c->qkv);
    lair_free(c->attn);
    lair_free(c->proj);
    lair_free(c->ffn);
    lair_free(c->moe_acc);
    lair_free(c->moe_in);
    lair_free(c->moe_route);
    lair_free(c->moe_tok);
    lair_free(c->scores);
    lair_free(c->visible);
    lair_free(c->vrow);
    lair_free(c->qconv);
    lair_free(c->act);
    lair_free(c->gemm_scratch_block);
    lair_free(c->logits);
    lair_free(c->out_row);
    lair_free(c->cells);
    lair_free(c->rope_cos);
    lair_free(c->rope_sin);
    lair_free(c);
}

/* ---- KV cache operations ------------------------------------------------- */

static bool seq_ok(const lair_context *c, int32_t seq) { return seq >= 0 && seq < c->p.n_seq_max; }
static bool in_range(int32_t pos, int32_t p0, int32_t p1) { return pos >= p0 && (p1 < 0 || pos < p1); }

void lair_kv_clear(lair_context *c) {
    for (int32_t i = 0; i < c->p.n_ctx; i++) {
        c->cell_pos[i] = -1;
        c->cell_seq[i] = 0;
    }
    c->cells_hi = 0;
}

/* Lowers cells_hi past cells freed at the top. */
static void trim_hi(lair_context *c) {
    while (c->cells_hi > 0 && c->cell_pos[c->cells_hi - 1] < 0) c->cells_hi--;
}

void lair_kv_seq_rm(lair_context *c, int32_t seq, int32_t p0, int32_t p1) {
    if (!seq_ok(c, seq)) return;
    for (int32_t i = 0; i < c->p.n_ctx; i++) {
        if (c->cell_pos[i] < 0 || !in_range(c->cell_pos[i], p0, p1)) continue;
        c->cell_seq[i] &= ~(1ull << seq);
        if (!c->cell_seq[i]) c->cell_pos[i] = -1;
    }
    trim_hi(c);
}

void lair_kv_seq_cp(lair_context *c, int32_t src, int32_t dst, int32_t p0, int32_t p1) {
    if (!seq_ok(c, src) || !seq_ok(c, dst) || src == dst) return;
    for (int32_t i = 0; i < c->p.n_ctx; i++)
        if (c->cell_pos[i] >= 0 && (c->cell_seq[i] >> src & 1) && in_range(c->cell_pos[i], p0, p1))
            c->cell_seq[i] |= 1ull << dst;
}

int32_t lair_kv_seq_len(const lair_context *c, int32_t seq) {
    if (!seq_ok(c, seq)) return 0;
    int32_t n = 0;
    for (int32_t i = 0; i < c->p.n_ctx; i++)
        if (c->cell_pos[i] >= 0 && (c->cell_seq[i] >> seq & 1) && c->cell_pos[i] + 1 > n) n = c->cell_pos[i] + 1;
    return n;
}

int32_t lair_kv_free_cells(const lair_context *c) {
    int32_t n = 0;
    for (int32_t i = 0; i < c->p.n_ctx; i++) n += c->cell_pos[i] < 0;
    return n;
}

const float *lair_logits(const lair_context *c, int32_t i) {
    if (i < 0 || i >= c->p.n_batch || c->out_row[i] < 0) return NULL;
    return c->logits + (uint64_t)c->out_row[i] * (uint64_t)c->m->hp.n_vocab;
}
