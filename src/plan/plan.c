/* Memory and speed formulas for `lair plan`. */
#include "plan/plan.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "kernels/kernels.h"
#include "tensor/format.h"

double lair_plan_seed_weights_gib(double n_params, double bits) {
    return n_params * bits / 8.0 * 1.1 / LAIR_GIB;
}

double lair_plan_seed_kv_gib(int64_t n_layer, int64_t n_head_kv, int64_t head_dim, int64_t n_ctx, double bytes_per_elem) {
    return 2.0 * (double)n_layer * (double)n_head_kv * (double)head_dim * (double)n_ctx * bytes_per_elem / LAIR_GIB;
}

lair_plan_shape lair_plan_shape_of_preset(const lair_preset *p) {
    lair_plan_shape s = {p->n_vocab, p->n_embd, p->n_layer, p->n_head, p->n_head_kv, p->head_dim, p->n_ff, p->head_dim, p->n_expert};
    return s;
}

/* One tensor of the preset's list: adds its bytes in the recipe's format.
 * weight: a weight matrix or bias (the recipe picks); otherwise F32 (norms,
 * rope factors), as lair gen writes them. */
typedef struct acc {
    const lair_recipe *r;
    lair_recipe_model rm;
    uint64_t bytes, params;
    bool ok;
} acc;

static void add(acc *a, bool weight, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2, const char *name, int layer) {
    char full[64];
    if (layer >= 0) snprintf(full, sizeof full, "blk.%d.%s", layer, name);
    else snprintf(full, sizeof full, "%s", name);
    int64_t ne[4] = {ne0, ne1, ne2, 1};
    lair_type t = weight ? lair_recipe_tensor_type(a->r, &a->rm, full, n_dims, ne, LAIR_TYPE_F32) : LAIR_TYPE_F32;
    uint64_t nb = 0;
    if (!lair_type_row_bytes(t, ne0, &nb)) { a->ok = false; return; }
    a->bytes += nb * (uint64_t)ne1 * (uint64_t)ne2;
    a->params += (uint64_t)ne0 * (uint64_t)ne1 * (uint64_t)ne2;
}

/* Mirrors the tensor list of src/model/synth.c (build_tensors); tests/test_plan.c
 * checks the sum against files lair gen writes. */
lair_status lair_plan_preset_weights(const lair_preset *p, const lair_recipe *r, uint64_t *bytes, uint64_t *n_params,
                                     lair_err *err) {
    acc a = {r, {p->n_layer, p->n_expert, p->n_head / p->n_head_kv, !p->tied_embeddings}, 0, 0, true};
    const char *ar = p->arch;
    int64_t E = p->n_embd, hd = p->head_dim, q = p->n_head * hd, kv = p->n_head_kv * hd, F = p->n_ff, X = p->n_expert;
    add(&a, true, 2, E, p->n_vocab, 1, "token_embd.weight", -1);
    if (p->rope_freqs && strcmp(ar, "llama") == 0) add(&a, false, 1, hd / 2, 1, 1, "rope_freqs.weight", -1);
    for (int il = 0; il < p->n_layer; il++) {
        add(&a, false, 1, E, 1, 1, "attn_norm.weight", il);
        if (strcmp(ar, "phi3") == 0) {
            add(&a, true, 2, E, q + 2 * kv, 1, "attn_qkv.weight", il);
        } else {
            add(&a, true, 2, E, q, 1, "attn_q.weight", il);
            add(&a, true, 2, E, kv, 1, "attn_k.weight", il);
            add(&a, true, 2, E, kv, 1, "attn_v.weight", il);
        }
        if (strcmp(ar, "qwen2") == 0) {
            add(&a, true, 1, q, 1, 1, "attn_q.bias", il);
            add(&a, true, 1, kv, 1, 1, "attn_k.bias", il);
            add(&a, true, 1, kv, 1, 1, "attn_v.bias", il);
        }
        add(&a, true, 2, q, E, 1, "attn_output.weight", il);
        if (strcmp(ar, "gemma2") == 0) add(&a, false, 1, E, 1, 1, "post_attention_norm.weight", il);
        add(&a, false, 1, E, 1, 1, "ffn_norm.weight", il);
        if (X > 0) {
            add(&a, true, 2, E, X, 1, "ffn_gate_inp.weight", il);
            add(&a, true, 3, E, F, X, "ffn_gate_exps.weight", il);
            add(&a, true, 3, F, E, X, "ffn_down_exps.weight", il);
            add(&a, true, 3, E, F, X, "ffn_up_exps.weight", il);
        } else if (strcmp(ar, "phi3") == 0) {
            add(&a, true, 2, E, 2 * F, 1, "ffn_up.weight", il);
            add(&a, true, 2, F, E, 1, "ffn_down.weight", il);
        } else {
            add(&a, true, 2, E, F, 1, "ffn_gate.weight", il);
            add(&a, true, 2, F, E, 1, "ffn_down.weight", il);
            add(&a, true, 2, E, F, 1, "ffn_up.weight", il);
        }
        if (strcmp(ar, "gemma2") == 0) add(&a, false, 1, E, 1, 1, "post_ffw_norm.weight", il);
    }
    add(&a, false, 1, E, 1, 1, "output_norm.weight", -1);
    if (!p->tied_embeddings) add(&a, true, 2, E, p->n_vocab, 1, "output.weight", -1);
    if (!a.ok) return lair_err_set(err, LAIR_ERR_ARG, "plan: format %s does not fit the shapes of preset %s", r->name, p->name);
    *bytes = a.bytes;
    if (n_params) *n_params = a.params;
    return LAIR_OK;
}

bool lair_plan_kv_bytes(const lair_plan_shape *s, int64_t n_ctx, int n_seq, lair_type kv_type, uint64_t *out) {
    uint64_t head = 0;
    if (n_ctx < 1 || n_seq < 1 || !lair_type_row_bytes(kv_type, s->head_dim, &head)) return false;
    /* K and V, per layer, per KV head, per cell; cells = n_ctx x n_seq */
    *out = 2 * head * (uint64_t)s->n_head_kv * (uint64_t)n_ctx * (uint64_t)n_seq * (uint64_t)s->n_layer;
    return true;
}

uint64_t lair_plan_buffers(const lair_plan_shape *s, int64_t n_ctx, int64_t n_batch, int n_threads) {
    /* the formula of lair_context_memory (src/engine/context.c), n_outputs_max = n_batch */
    uint64_t B = (uint64_t)n_batch, T = (uint64_t)n_threads, C = (uint64_t)n_ctx;
    uint64_t G = s->n_head_kv > 0 ? (uint64_t)(s->n_head / s->n_head_kv) : 1; /* query heads per KV head */
    uint64_t n_q = (uint64_t)(s->n_head * s->head_dim), n_kv = (uint64_t)(s->n_head_kv * s->head_dim);
    uint64_t ffn_w = (uint64_t)(s->n_ff * 2 > s->n_embd ? s->n_ff * 2 : s->n_embd);
    uint64_t widest = n_q + 2 * n_kv;
    if (ffn_w > widest) widest = ffn_w;
    if ((uint64_t)s->n_vocab > widest) widest = (uint64_t)s->n_vocab;
    int64_t k = s->n_embd; /* the widest input of a matrix product: the gemm scratch */
    if ((int64_t)n_q > k) k = (int64_t)n_q;
    if (s->n_ff > k) k = s->n_ff;
    uint64_t gemm = (LAIR_GEMM_SCRATCH_BYTES(k) + 63) & ~(uint64_t)63;
    return C * (4 + 8) + 4 * B * ((uint64_t)s->n_embd * 4 + n_q + 2 * n_kv + n_q + ffn_w + (uint64_t)s->n_rot) +
           4 * B * (uint64_t)s->n_vocab + 4 * T * (G * C + C + (uint64_t)s->head_dim) + T * G * ((uint64_t)s->head_dim * 4 + 64) +
           B * (widest * 4 + 64 + 8) + T * gemm + 64 +
           (s->n_expert > 0 ? B * (4 * (uint64_t)(s->n_embd + s->n_expert) + 4) : 0);
}

static uint64_t total_at(const lair_plan_input *in, int64_t n_ctx, lair_type kv_type, uint64_t *kv, uint64_t *buf) {
    uint64_t k = 0;
    if (!lair_plan_kv_bytes(&in->shape, n_ctx, in->n_seq, kv_type, &k)) return UINT64_MAX;
    uint64_t b = lair_plan_buffers(&in->shape, n_ctx * in->n_seq, in->n_batch, in->n_threads);
    if (kv) *kv = k;
    if (buf) *buf = b;
    return in->weight_bytes + k + b + LAIR_PLAN_OVERHEAD_BYTES;
}

lair_status lair_plan_compute(const lair_plan_input *in, const lair_plan_machine *m, lair_plan_result *out, lair_err *err) {
    memset(out, 0, sizeof *out);
    if (in->n_ctx < 1 || in->n_ctx > (1 << 24)) return lair_err_set(err, LAIR_ERR_ARG, "plan: context %lld out of range (1 to 16777216)", (long long)in->n_ctx);
    if (in->n_seq < 1 || in->n_seq > 256) return lair_err_set(err, LAIR_ERR_ARG, "plan: parallel sequences %d out of range (1 to 256)", in->n_seq);
    if (!(m->mem_gib > 0) || !(m->bandwidth_gbs > 0) || !isfinite(m->mem_gib) || !isfinite(m->bandwidth_gbs))
        return lair_err_set(err, LAIR_ERR_ARG, "plan: machine %s needs memory and bandwidth above 0", m->name ? m->name : "?");
    uint64_t mem = (uint64_t)(m->mem_gib * LAIR_GIB);
    out->total = total_at(in, in->n_ctx, in->kv_type, &out->kv, &out->buffers);
    if (out->total == UINT64_MAX) return lair_err_set(err, LAIR_ERR_ARG, "plan: KV type %s does not divide head size %lld", lair_type_name(in->kv_type), (long long)in->shape.head_dim);
    out->weights = in->weight_bytes;
    out->overhead = LAIR_PLAN_OVERHEAD_BYTES;
    out->fits = out->total <= mem;
    out->margin_gib = ((double)mem - (double)out->total) / LAIR_GIB;
    /* largest context: bisection, total grows monotonically with n_ctx */
    int64_t lo = 0, hi = 1 << 24;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo + 1) / 2;
        if (total_at(in, mid, in->kv_type, NULL, NULL) <= mem) lo = mid; else hi = mid - 1;
    }
    out->max_ctx = lo;
    static const lair_type kv_order[] = {LAIR_TYPE_F32, LAIR_TYPE_F16, LAIR_TYPE_Q8_0, LAIR_TYPE_Q4_0};
    out->fit_kv_type = LAIR_TYPE_COUNT;
    for (int i = 0; i < 4; i++)
        if (total_at(in, in->n_ctx, kv_order[i], NULL, NULL) <= mem) { out->fit_kv_type = kv_order[i]; break; }
    /* decode reads every weight once per token plus the KV written so far
     * (at the end of the context: the worst case) */
    double per_token = (double)in->weight_bytes + (double)out->kv / in->n_seq;
    out->decode_tps_bound = m->bandwidth_gbs * 1e9 / per_token;
    /* prefill: 2 FLOP per parameter per token; 50% of peak is what good
     * CPU/GPU matmul kernels reach on large batches */
    out->prefill_tps_est = m->compute_tflops > 0 && in->n_params ? 0.5 * m->compute_tflops * 1e12 / (2.0 * (double)in->n_params) : 0;
    return LAIR_OK;
}

const char *lair_plan_tier(const char *kind, double g) {
    if (!kind) return NULL;
    if (strcmp(kind, "apple") == 0) return g < 24 ? "A-16" : g < 64 ? "A-24/32" : g < 96 ? "A-64" : "A-96/128";
    if (strcmp(kind, "cpu") == 0) return g < 64 ? "W-CPU1" : "W-CPU2";
    if (strcmp(kind, "gpu") == 0) return g < 12 ? "G-8" : g < 16 ? "G-12" : g < 24 ? "G-16" : "G-24";
    return NULL;
}
