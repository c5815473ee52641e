/* Loading: GGUF metadata -> validated hyperparameters; tensor names ->
 * per-layer views, each checked for the shape the architecture implies. */
#include "model/model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "tensor/format.h"

typedef struct loader {
    lair_model *m;
    const gguf_file *meta;
    char arch[64];
    lair_err *err;
} loader;

/* "<arch>.<suffix>" as an integer; `def` < 0 means required. */
static lair_status hp_int(loader *L, const char *suffix, int64_t def, int64_t lo, int64_t hi, int64_t *out) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", L->arch, suffix);
    const gguf_kv *kv = gguf_find_kv(L->meta, key);
    if (!kv) {
        if (def < 0) return lair_err_set(L->err, LAIR_ERR_FORMAT, "model: %s: missing key '%s'", L->meta->path, key);
        *out = def;
        return LAIR_OK;
    }
    if (kv->type == GGUF_TYPE_ARRAY)
        return lair_err_set(L->err, LAIR_ERR_UNSUPPORTED, "model: %s: key '%s' holds per-layer values, which lair does not support yet",
                            L->meta->path, key);
    int64_t v;
    lair_status s = gguf_get_i64(L->meta, key, &v, L->err);
    if (s) return s;
    if (v < lo || v > hi)
        return lair_err_set(L->err, LAIR_ERR_FORMAT, "model: %s: key '%s' is %lld (must be %lld to %lld)", L->meta->path, key,
                            (long long)v, (long long)lo, (long long)hi);
    *out = v;
    return LAIR_OK;
}

static lair_status hp_float(loader *L, const char *suffix, double def, double lo, double hi, float *out) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", L->arch, suffix);
    double v = def;
    lair_status s = gguf_get_f64(L->meta, key, &v, L->err);
    if (s == LAIR_ERR_ARG) {
        if (def < 0) return lair_err_set(L->err, LAIR_ERR_FORMAT, "model: %s: missing key '%s'", L->meta->path, key);
        v = def;
    } else if (s) {
        return s;
    }
    if (!(v >= lo && v <= hi)) /* written so NaN fails */
        return lair_err_set(L->err, LAIR_ERR_FORMAT, "model: %s: key '%s' is %g (must be %g to %g)", L->meta->path, key, v, lo, hi);
    *out = (float)v;
    return LAIR_OK;
}

/* Finds a tensor and checks its shape; ne entries of 0 are not checked. */
static lair_status tensor(loader *L, const char *name, bool required, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2,
                          const gguf_tensor **out) {
    *out = gguf_bundle_find_tensor(L->m->gguf, name);
    if (!*out) {
        if (!required) return LAIR_OK;
        return lair_err_set(L->err, LAIR_ERR_FORMAT, "model: %s: missing tensor '%s'", L->meta->path, name);
    }
    const gguf_tensor *t = *out;
    int64_t want[3] = {ne0, ne1, ne2};
    bool ok = t->n_dims <= n_dims;
    for (int d = 0; d < 3 && ok; d++) ok = want[d] == 0 || (d < n_dims ? t->ne[d] == want[d] : t->ne[d] == 1);
    for (int d = n_dims; d < GGUF_MAX_DIMS && ok; d++) ok = t->ne[d] == 1;
    if (!ok)
        return lair_err_set(L->err, LAIR_ERR_FORMAT,
                            "model: %s: tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld, %lld]",
                            L->meta->path, name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                            (long long)t->ne[3], (long long)ne0, (long long)ne1, (long long)ne2);
    const lair_type_traits *tr = lair_type_traits_of(t->type);
    if ((uintptr_t)t->data % 4 != 0) /* decoders read f16/f32 fields in place */
        return lair_err_set(L->err, LAIR_ERR_UNSUPPORTED,
                            "model: %s: tensor '%s' data is not 4-byte aligned (the file's general.alignment is too small)",
                            L->meta->path, name);
    if (n_dims == 1 && t->type != LAIR_TYPE_F32) /* norms, biases and factors are read as floats directly */
        return lair_err_set(L->err, LAIR_ERR_UNSUPPORTED, "model: %s: tensor '%s' is %s; lair expects f32 for 1-D tensors",
                            L->meta->path, name, tr->name);
    if (!tr->to_float)
        return lair_err_set(L->err, LAIR_ERR_UNSUPPORTED, "model: %s: tensor '%s' uses format %s, which lair cannot compute with yet",
                            L->meta->path, name, tr->name);
    return LAIR_OK;
}

static lair_status layer_tensor(loader *L, int il, const char *suffix, bool required, int n_dims, int64_t ne0,
                                int64_t ne1, int64_t ne2, const gguf_tensor **out) {
    char name[96];
    snprintf(name, sizeof name, "blk.%d.%s", il, suffix);
    return tensor(L, name, required, n_dims, ne0, ne1, ne2, out);
}

static lair_status load_hparams(loader *L) {
    lair_hparams *hp = &L->m->hp;
    lair_status s;
    if ((s = hp_int(L, "block_count", -1, 1, LAIR_MAX_LAYERS, &hp->n_layer)) ||
        (s = hp_int(L, "embedding_length", -1, 1, LAIR_MAX_EMBD, &hp->n_embd)) ||
        (s = hp_int(L, "feed_forward_length", -1, 1, 16 * LAIR_MAX_EMBD, &hp->n_ff)) ||
        (s = hp_int(L, "attention.head_count", -1, 1, LAIR_MAX_HEADS, &hp->n_head)) ||
        (s = hp_int(L, "attention.head_count_kv", hp->n_head, 1, hp->n_head, &hp->n_head_kv)) ||
        (s = hp_int(L, "context_length", 4096, 1, 1 << 24, &hp->n_ctx_train)) ||
        (s = hp_int(L, "expert_count", 0, 0, LAIR_MAX_EXPERTS, &hp->n_expert)) ||
        (s = hp_int(L, "expert_used_count", 0, 0, hp->n_expert, &hp->n_expert_used)) ||
        (s = hp_int(L, "attention.sliding_window", 0, 0, 1 << 24, &hp->sliding_window)) ||
        (s = hp_float(L, "attention.layer_norm_rms_epsilon", -1, 1e-12, 1.0, &hp->norm_eps)) ||
        (s = hp_float(L, "rope.freq_base", 10000.0, 1.0, 1e12, &hp->rope_base)) ||
        (s = hp_float(L, "attn_logit_softcapping", 0.0, 0.0, 1e6, &hp->attn_softcap)) ||
        (s = hp_float(L, "final_logit_softcapping", 0.0, 0.0, 1e6, &hp->final_softcap)) ||
        (s = hp_int(L, "rope.scaling.original_context_length", hp->n_ctx_train, 1, 1 << 24, &hp->n_ctx_orig)) ||
        (s = hp_float(L, "rope.scaling.attn_factor", 1.0, 1e-3, 1e3, &hp->rope_attn_factor)))
        return s;
    if (hp->n_head % hp->n_head_kv != 0)
        return lair_err_set(L->err, LAIR_ERR_FORMAT, "model: %s: %lld attention heads do not divide into %lld KV heads",
                            L->meta->path, (long long)hp->n_head, (long long)hp->n_head_kv);
    if (hp->n_expert == 1 || (hp->n_expert > 0 && hp->n_expert_used < 1))
        return lair_err_set(L->err, LAIR_ERR_FORMAT, "model: %s: %lld experts with %lld used per token", L->meta->path,
                            (long long)hp->n_expert, (long long)hp->n_expert_used);
    int64_t def_hd = hp->n_embd % hp->n_head == 0 ? hp->n_embd / hp->n_head : -1;
    int64_t vlen;
    if ((s = hp_int(L, "attention.key_length", def_hd, 2, 1 << 16, &hp->head_dim)) ||
        (s = hp_int(L, "attention.value_length", hp->head_dim, 2, 1 << 16, &vlen)) ||
        (s = hp_int(L, "rope.dimension_count", hp->head_dim, 2, hp->head_dim, &hp->n_rot)))
        return s;
    if (vlen != hp->head_dim)
        return lair_err_set(L->err, LAIR_ERR_UNSUPPORTED, "model: %s: key and value head sizes differ (%lld, %lld)",
                            L->meta->path, (long long)hp->head_dim, (long long)vlen);
    if (hp->n_rot % 2 != 0)
        return lair_err_set(L->err, LAIR_ERR_FORMAT, "model: %s: rope.dimension_count %lld is odd", L->meta->path, (long long)hp->n_rot);
    return LAIR_OK;
}

static lair_status load_tensors(loader *L) {
    lair_model *m = L->m;
    const lair_hparams *hp = &m->hp;
    const lair_arch *a = m->arch;
    int64_t E = hp->n_embd, V = hp->n_vocab, q = hp->n_head * hp->head_dim, kv = hp->n_head_kv * hp->head_dim;
    int64_t F = hp->n_ff, X = hp->n_expert;
    lair_status s;
    if ((s = tensor(L, "token_embd.weight", true, 2, E, V, 0, &m->tok_embd)) ||
        (s = tensor(L, "output_norm.weight", true, 1, E, 0, 0, &m->output_norm)) ||
        (s = tensor(L, "output.weight", false, 2, E, V, 0, &m->output)) ||
        (s = tensor(L, "rope_freqs.weight", false, 1, hp->n_rot / 2, 0, 0, &m->rope_freqs)) ||
        (s = tensor(L, "rope_factors_long.weight", false, 1, hp->n_rot / 2, 0, 0, &m->rope_long)) ||
        (s = tensor(L, "rope_factors_short.weight", false, 1, hp->n_rot / 2, 0, 0, &m->rope_short)))
        return s;
    if (!m->output) m->output = m->tok_embd; /* tied embeddings */
    for (int il = 0; il < hp->n_layer; il++) {
        lair_layer *l = &m->layers[il];
        if ((s = layer_tensor(L, il, "attn_norm.weight", true, 1, E, 0, 0, &l->attn_norm)) ||
            (s = layer_tensor(L, il, "attn_output.weight", true, 2, q, E, 0, &l->wo)) ||
            (s = layer_tensor(L, il, "ffn_norm.weight", true, 1, E, 0, 0, &l->ffn_norm)))
            return s;
        if (a->fused_qkv) {
            if ((s = layer_tensor(L, il, "attn_qkv.weight", true, 2, E, q + 2 * kv, 0, &l->wqkv))) return s;
        } else if ((s = layer_tensor(L, il, "attn_q.weight", true, 2, E, q, 0, &l->wq)) ||
                   (s = layer_tensor(L, il, "attn_k.weight", true, 2, E, kv, 0, &l->wk)) ||
                   (s = layer_tensor(L, il, "attn_v.weight", true, 2, E, kv, 0, &l->wv))) {
            return s;
        }
        if (a->qkv_bias && ((s = layer_tensor(L, il, "attn_q.bias", true, 1, q, 0, 0, &l->bq)) ||
                            (s = layer_tensor(L, il, "attn_k.bias", true, 1, kv, 0, 0, &l->bk)) ||
                            (s = layer_tensor(L, il, "attn_v.bias", true, 1, kv, 0, 0, &l->bv))))
            return s;
        if (a->post_norms && ((s = layer_tensor(L, il, "post_attention_norm.weight", true, 1, E, 0, 0, &l->attn_post_norm)) ||
                              (s = layer_tensor(L, il, "post_ffw_norm.weight", true, 1, E, 0, 0, &l->ffn_post_norm))))
            return s;
        if (X > 0) {
            if ((s = layer_tensor(L, il, "ffn_gate_inp.weight", true, 2, E, X, 0, &l->ffn_gate_inp)) ||
                (s = layer_tensor(L, il, "ffn_gate_exps.weight", true, 3, E, F, X, &l->ffn_gate_exps)) ||
                (s = layer_tensor(L, il, "ffn_up_exps.weight", true, 3, E, F, X, &l->ffn_up_exps)) ||
                (s = layer_tensor(L, il, "ffn_down_exps.weight", true, 3, F, E, X, &l->ffn_down_exps)))
                return s;
        } else if (a->fused_gate_up) {
            if ((s = layer_tensor(L, il, "ffn_up.weight", true, 2, E, 2 * F, 0, &l->ffn_up)) ||
                (s = layer_tensor(L, il, "ffn_down.weight", true, 2, F, E, 0, &l->ffn_down)))
                return s;
        } else if ((s = layer_tensor(L, il, "ffn_gate.weight", true, 2, E, F, 0, &l->ffn_gate)) ||
                   (s = layer_tensor(L, il, "ffn_up.weight", true, 2, E, F, 0, &l->ffn_up)) ||
                   (s = layer_tensor(L, il, "ffn_down.weight", true, 2, F, E, 0, &l->ffn_down))) {
            return s;
        }
        l->sliding = hp->sliding_window > 0 && (!a->swa_alternating || il % 2 == 0);
    }
    return LAIR_OK;
}

lair_status lair_model_load(const char *path, lair_model **out, lair_err *err) {
    *out = NULL;
    lair_model *m = lair_calloc(1, sizeof *m);
    if (!m) return lair_err_set(err, LAIR_ERR_NOMEM, "model: out of memory");
    lair_status s = gguf_bundle_open(path, &m->gguf, err);
    if (s) {
        lair_free(m);
        return s;
    }
    loader L = {m, m->gguf->files[0], "", err};
    gguf_str arch;
    if (gguf_get_str(L.meta, "general.architecture", &arch, err) != LAIR_OK) {
        s = lair_err_set(err, LAIR_ERR_FORMAT, "model: %s: missing key 'general.architecture'", path);
        goto fail;
    }
    snprintf(L.arch, sizeof L.arch, "%.*s", (int)(arch.len < 63 ? arch.len : 63), arch.ptr);
    m->arch = lair_arch_find(L.arch);
    if (!m->arch) {
        s = lair_err_set(err, LAIR_ERR_UNSUPPORTED, "model: %s: architecture '%s' is not supported (lair runs %s)", path,
                         L.arch, lair_arch_names());
        goto fail;
    }
    if ((s = load_hparams(&L))) goto fail;
    const gguf_tensor *emb = gguf_bundle_find_tensor(m->gguf, "token_embd.weight");
    if (!emb || emb->n_dims != 2 || emb->ne[1] > LAIR_MAX_VOCAB) {
        s = lair_err_set(err, LAIR_ERR_FORMAT, "model: %s: tensor 'token_embd.weight' missing or not [n_embd, n_vocab]", path);
        goto fail;
    }
    m->hp.n_vocab = emb->ne[1];
    m->layers = lair_calloc((size_t)m->hp.n_layer, sizeof *m->layers);
    if (!m->layers) {
        s = lair_err_set(err, LAIR_ERR_NOMEM, "model: out of memory");
        goto fail;
    }
    if ((s = load_tensors(&L))) goto fail;
    if ((s = lair_model_regroup(m, err))) goto fail;
    if (gguf_find_kv(L.meta, "tokenizer.ggml.model")) {
        if ((s = vocab_from_gguf(L.meta, &m->vocab, err))) goto fail;
        if (m->vocab->n_tokens > m->hp.n_vocab) {
            s = lair_err_set(err, LAIR_ERR_FORMAT, "model: %s: the vocabulary has %d tokens but token_embd.weight only %lld rows",
                             path, m->vocab->n_tokens, (long long)m->hp.n_vocab);
            goto fail;
        }
    }
    *out = m;
    return LAIR_OK;
fail:
    lair_model_free(m);
    return s;
}

void lair_model_free(lair_model *m) {
    if (!m) return;
    lair_vocab_free(m->vocab);
    gguf_bundle_free(m->gguf);
    lair_free(m->layers);
    lair_free(m->rows8_tensors);
    lair_free(m->rows8_data);
    lair_free(m);
}

int64_t lair_model_n_vocab(const lair_model *m) { return m->hp.n_vocab; }
const lair_vocab *lair_model_vocab(const lair_model *m) { return m->vocab; }
int64_t lair_model_n_ctx_train(const lair_model *m) { return m->hp.n_ctx_train; }
int64_t lair_model_n_embd(const lair_model *m) { return m->hp.n_embd; }
int64_t lair_model_n_layer(const lair_model *m) { return m->hp.n_layer; }
const char *lair_model_arch(const lair_model *m) { return m->arch->name; }

int64_t lair_model_meta(const lair_model *m, const char *key, char *buf, size_t cap) {
    const gguf_kv *kv = gguf_find_kv(m->gguf->files[0], key);
    if (!kv) return -1;
    char num[96];
    const char *text = num;
    uint64_t len;
    switch (kv->type) {
    case GGUF_TYPE_STRING: text = kv->v.str.ptr; break;
    case GGUF_TYPE_UINT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_UINT32: case GGUF_TYPE_UINT64:
        snprintf(num, sizeof num, "%llu", (unsigned long long)kv->v.u64); break;
    case GGUF_TYPE_INT8: case GGUF_TYPE_INT16: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64:
        snprintf(num, sizeof num, "%lld", (long long)kv->v.i64); break;
    case GGUF_TYPE_FLOAT32: case GGUF_TYPE_FLOAT64: snprintf(num, sizeof num, "%.9g", kv->v.f64); break;
    case GGUF_TYPE_BOOL: snprintf(num, sizeof num, "%s", kv->v.b ? "true" : "false"); break;
    default:
        snprintf(num, sizeof num, "[%s x %llu]", gguf_vtype_name(kv->arr_type), (unsigned long long)kv->arr_n);
        break;
    }
    len = kv->type == GGUF_TYPE_STRING ? kv->v.str.len : (uint64_t)strlen(num);
    if (cap > 0) {
        uint64_t n = len < cap - 1 ? len : cap - 1;
        while (n > 0 && n < len && ((unsigned char)text[n] & 0xc0) == 0x80) n--; /* whole characters */
        memcpy(buf, text, (size_t)n);
        buf[n] = '\0';
    }
    return (int64_t)len;
}
