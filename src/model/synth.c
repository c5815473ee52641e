#include "model/synth.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fp16.h"
#include "core/platform.h"
#include "core/rng.h"
#include "gguf/gguf.h"
#include "model/synth_vocab.h"
#include "tensor/format.h"

#define WEIGHT_SD 0.02f           /* spread of random weights, as at initialisation */
#define CHUNK_BYTES (4u << 20)    /* tensor data is generated and written in chunks */
#define CALIB_BLOCKS 64

/* Where a block format keeps its f16 scale (d) and min/offset (m): the only
 * fields a random block must have set to sensible values. */
typedef struct block_fields {
    lair_type type;
    int d_off, m_off; /* byte offsets; m_off -1 when absent */
} block_fields;

static const block_fields fields[] = {
    {LAIR_TYPE_Q4_0, 0, -1},  {LAIR_TYPE_Q4_1, 0, 2},   {LAIR_TYPE_Q5_0, 0, -1},   {LAIR_TYPE_Q5_1, 0, 2},
    {LAIR_TYPE_Q8_0, 0, -1},  {LAIR_TYPE_Q2_K, 80, 82}, {LAIR_TYPE_Q3_K, 108, -1}, {LAIR_TYPE_Q4_K, 0, 2},
    {LAIR_TYPE_Q5_K, 0, 2},   {LAIR_TYPE_Q6_K, 208, -1}, {LAIR_TYPE_IQ4_NL, 0, -1}, {LAIR_TYPE_IQ4_XS, 0, -1},
};

static const block_fields *fields_of(lair_type t) {
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (fields[i].type == t) return &fields[i];
    return NULL;
}

/* Per-format scale and offset that give weights of mean ~0 and sd WEIGHT_SD. */
typedef struct calib {
    float d, m;
} calib;

static void put_f16(uint8_t *p, float v) {
    lair_f16 h = lair_f32_to_f16(v);
    memcpy(p, &h, 2);
}

static void random_bytes(lair_rng *r, uint8_t *p, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x = lair_rng_next(r);
        memcpy(p + i, &x, 8);
    }
    if (i < n) {
        uint64_t x = lair_rng_next(r);
        memcpy(p + i, &x, n - i);
    }
}

/* Makes random blocks valid: scales set, and int8 quants never -128 (the
 * quantizers never write it, and SIMD kernels may rely on that). */
static void fix_blocks(lair_type t, const block_fields *bf, uint8_t *blk, size_t n_blocks, size_t bb, calib c,
                       lair_rng *r) {
    for (size_t b = 0; b < n_blocks; b++, blk += bb) {
        float jitter = 0.75f + 0.5f * (float)lair_rng_unit(r);
        put_f16(blk + bf->d_off, c.d * jitter);
        if (bf->m_off >= 0) put_f16(blk + bf->m_off, c.m * jitter);
        if (t == LAIR_TYPE_Q8_0)
            for (int i = 2; i < 34; i++)
                if (blk[i] == 0x80) blk[i] = 0x81;
    }
}

static lair_status calibrate(lair_type t, calib *out, lair_err *err) {
    const lair_type_traits *tr = lair_type_traits_of(t);
    const block_fields *bf = fields_of(t);
    if (!tr || !tr->to_float || !bf) return lair_err_set(err, LAIR_ERR_UNSUPPORTED, "gen: cannot generate %s tensors", lair_type_name(t));
    size_t nb = CALIB_BLOCKS, n = nb * (size_t)tr->block_size;
    uint8_t *blk = lair_malloc(nb * tr->block_bytes);
    float *a = lair_malloc(n * sizeof *a), *b = lair_malloc(n * sizeof *b);
    if (!blk || !a || !b) {
        lair_free(blk); lair_free(a); lair_free(b);
        return lair_err_set(err, LAIR_ERR_NOMEM, "gen: out of memory");
    }
    lair_rng r = lair_rng_seed((uint64_t)t);
    random_bytes(&r, blk, nb * tr->block_bytes);
    /* weights are linear in d and m: decode with (1, 0) and (0, 1) */
    for (size_t i = 0; i < nb; i++) {
        put_f16(blk + i * tr->block_bytes + bf->d_off, 1.0f);
        if (bf->m_off >= 0) put_f16(blk + i * tr->block_bytes + bf->m_off, 0.0f);
        if (t == LAIR_TYPE_Q8_0)
            for (int k = 2; k < 34; k++)
                if (blk[i * tr->block_bytes + k] == 0x80) blk[i * tr->block_bytes + k] = 0x81;
    }
    tr->to_float(blk, a, (int64_t)n);
    double mb = 0;
    if (bf->m_off >= 0) {
        for (size_t i = 0; i < nb; i++) {
            put_f16(blk + i * tr->block_bytes + bf->d_off, 0.0f);
            put_f16(blk + i * tr->block_bytes + bf->m_off, 1.0f);
        }
        tr->to_float(blk, b, (int64_t)n);
        for (size_t i = 0; i < n; i++) mb += b[i];
        mb /= (double)n;
    }
    double ma = 0;
    for (size_t i = 0; i < n; i++) ma += a[i];
    ma /= (double)n;
    double ratio = bf->m_off >= 0 && mb != 0 ? -ma / mb : 0; /* m = ratio * d centres the weights */
    double var = 0, mean = 0;
    for (size_t i = 0; i < n; i++) mean += a[i] + ratio * (bf->m_off >= 0 ? b[i] : 0);
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double v = a[i] + ratio * (bf->m_off >= 0 ? b[i] : 0) - mean;
        var += v * v;
    }
    double sd = sqrt(var / (double)n);
    out->d = (float)(WEIGHT_SD / (sd > 0 ? sd : 1));
    out->m = (float)(ratio * out->d);
    lair_free(blk); lair_free(a); lair_free(b);
    return LAIR_OK;
}

/* ---- the model's tensor list ------------------------------------------- */

typedef enum fill_kind { FILL_WEIGHT, FILL_NORM, FILL_ROPE_FREQS } fill_kind;

typedef struct synth_tensor {
    char name[64];
    int n_dims;
    int64_t ne[4];
    lair_type type;
    fill_kind fill;
} synth_tensor;

typedef struct synth_model {
    const lair_preset *p;
    const char *arch;
    int64_t n_expert, n_expert_used;
    synth_tensor *t;
    int n, cap;
} synth_model;

/* layer >= 0: the tensor is "blk.<layer>.<name>"; otherwise just <name>. */
static int add_tensor(synth_model *m, fill_kind fill, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2, const char *name,
                      int layer) {
    if (m->n == m->cap) {
        int cap = m->cap ? m->cap * 2 : 64;
        synth_tensor *nt = lair_realloc(m->t, (size_t)cap * sizeof *nt);
        if (!nt) return -1;
        m->t = nt;
        m->cap = cap;
    }
    synth_tensor *t = &m->t[m->n++];
    memset(t, 0, sizeof *t);
    if (layer >= 0) snprintf(t->name, sizeof t->name, "blk.%d.%s", layer, name);
    else snprintf(t->name, sizeof t->name, "%s", name);
    t->n_dims = n_dims;
    t->ne[0] = ne0; t->ne[1] = ne1; t->ne[2] = ne2; t->ne[3] = 1;
    t->fill = fill;
    return 0;
}

static int build_tensors(synth_model *m) {
    const lair_preset *p = m->p;
    const char *a = m->arch;
    int64_t E = p->n_embd, hd = p->head_dim, q = p->n_head * hd, kv = p->n_head_kv * hd, F = p->n_ff;
    int rc = 0;
    rc |= add_tensor(m, FILL_WEIGHT, 2, E, p->n_vocab, 1, "token_embd.weight", -1);
    if (p->rope_freqs && strcmp(a, "llama") == 0) rc |= add_tensor(m, FILL_ROPE_FREQS, 1, hd / 2, 1, 1, "rope_freqs.weight", -1);
    for (int il = 0; il < p->n_layer && !rc; il++) {
        rc |= add_tensor(m, FILL_NORM, 1, E, 1, 1, "attn_norm.weight", il);
        if (strcmp(a, "phi3") == 0) {
            rc |= add_tensor(m, FILL_WEIGHT, 2, E, q + 2 * kv, 1, "attn_qkv.weight", il);
        } else {
            rc |= add_tensor(m, FILL_WEIGHT, 2, E, q, 1, "attn_q.weight", il);
            rc |= add_tensor(m, FILL_WEIGHT, 2, E, kv, 1, "attn_k.weight", il);
            rc |= add_tensor(m, FILL_WEIGHT, 2, E, kv, 1, "attn_v.weight", il);
        }
        if (strcmp(a, "qwen2") == 0) {
            rc |= add_tensor(m, FILL_WEIGHT, 1, q, 1, 1, "attn_q.bias", il);
            rc |= add_tensor(m, FILL_WEIGHT, 1, kv, 1, 1, "attn_k.bias", il);
            rc |= add_tensor(m, FILL_WEIGHT, 1, kv, 1, 1, "attn_v.bias", il);
        }
        rc |= add_tensor(m, FILL_WEIGHT, 2, q, E, 1, "attn_output.weight", il);
        if (strcmp(a, "gemma2") == 0) rc |= add_tensor(m, FILL_NORM, 1, E, 1, 1, "post_attention_norm.weight", il);
        rc |= add_tensor(m, FILL_NORM, 1, E, 1, 1, "ffn_norm.weight", il);
        if (m->n_expert > 0) {
            rc |= add_tensor(m, FILL_WEIGHT, 2, E, m->n_expert, 1, "ffn_gate_inp.weight", il);
            rc |= add_tensor(m, FILL_WEIGHT, 3, E, F, m->n_expert, "ffn_gate_exps.weight", il);
            rc |= add_tensor(m, FILL_WEIGHT, 3, F, E, m->n_expert, "ffn_down_exps.weight", il);
            rc |= add_tensor(m, FILL_WEIGHT, 3, E, F, m->n_expert, "ffn_up_exps.weight", il);
        } else if (strcmp(a, "phi3") == 0) {
            rc |= add_tensor(m, FILL_WEIGHT, 2, E, 2 * F, 1, "ffn_up.weight", il);
            rc |= add_tensor(m, FILL_WEIGHT, 2, F, E, 1, "ffn_down.weight", il);
        } else {
            rc |= add_tensor(m, FILL_WEIGHT, 2, E, F, 1, "ffn_gate.weight", il);
            rc |= add_tensor(m, FILL_WEIGHT, 2, F, E, 1, "ffn_down.weight", il);
            rc |= add_tensor(m, FILL_WEIGHT, 2, E, F, 1, "ffn_up.weight", il);
        }
        if (strcmp(a, "gemma2") == 0) rc |= add_tensor(m, FILL_NORM, 1, E, 1, 1, "post_ffw_norm.weight", il);
    }
    rc |= add_tensor(m, FILL_NORM, 1, E, 1, 1, "output_norm.weight", -1);
    if (!p->tied_embeddings) rc |= add_tensor(m, FILL_WEIGHT, 2, E, p->n_vocab, 1, "output.weight", -1);
    return rc;
}

/* Llama 3.1 frequency factors: long wavelengths are stretched by `factor`,
 * short ones kept, with a smooth ramp between (original context 8192). */
static float llama3_rope_factor(int64_t i, int64_t head_dim, double base) {
    const double factor = 8.0, low = 1.0, high = 4.0, old_ctx = 8192.0;
    double freq = pow(base, -2.0 * (double)i / (double)head_dim);
    double wavelen = 2.0 * 3.14159265358979323846 / freq;
    if (wavelen < old_ctx / high) return 1.0f;
    if (wavelen > old_ctx / low) return (float)factor;
    double smooth = (old_ctx / wavelen - low) / (high - low);
    return (float)(1.0 / ((1.0 - smooth) / factor + smooth));
}

static lair_status write_metadata(gguf_writer *w, const synth_model *m, const lair_synth_opts *o,
                                  const lair_synth_vocab *v, bool quantized) {
    const lair_preset *p = m->p;
    char key[128], name[96];
    lair_status s = LAIR_OK;
#define KEY(suffix) (snprintf(key, sizeof key, "%s." suffix, m->arch), key)
    snprintf(name, sizeof name, "lair synthetic %s (%s)", p->name, o->recipe->name);
    s |= gguf_writer_set_str(w, "general.architecture", m->arch);
    s |= gguf_writer_set_str(w, "general.name", name);
    s |= gguf_writer_set_u32(w, "general.file_type", (uint32_t)o->recipe->ftype);
    if (quantized) s |= gguf_writer_set_u32(w, "general.quantization_version", 2);
    s |= gguf_writer_set_str(w, "lair.gen.preset", p->name);
    s |= gguf_writer_set_u64(w, "lair.gen.seed", o->seed);
    s |= gguf_writer_set_u32(w, KEY("context_length"), (uint32_t)p->n_ctx_train);
    s |= gguf_writer_set_u32(w, KEY("embedding_length"), (uint32_t)p->n_embd);
    s |= gguf_writer_set_u32(w, KEY("block_count"), (uint32_t)p->n_layer);
    s |= gguf_writer_set_u32(w, KEY("feed_forward_length"), (uint32_t)p->n_ff);
    s |= gguf_writer_set_u32(w, KEY("attention.head_count"), (uint32_t)p->n_head);
    s |= gguf_writer_set_u32(w, KEY("attention.head_count_kv"), (uint32_t)p->n_head_kv);
    s |= gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), p->norm_eps);
    s |= gguf_writer_set_f32(w, KEY("rope.freq_base"), (float)p->rope_base);
    s |= gguf_writer_set_u32(w, KEY("rope.dimension_count"), (uint32_t)p->head_dim);
    s |= gguf_writer_set_u32(w, KEY("vocab_size"), (uint32_t)p->n_vocab);
    if (p->head_dim * p->n_head != p->n_embd) {
        s |= gguf_writer_set_u32(w, KEY("attention.key_length"), (uint32_t)p->head_dim);
        s |= gguf_writer_set_u32(w, KEY("attention.value_length"), (uint32_t)p->head_dim);
    }
    if (m->n_expert > 0) {
        s |= gguf_writer_set_u32(w, KEY("expert_count"), (uint32_t)m->n_expert);
        s |= gguf_writer_set_u32(w, KEY("expert_used_count"), (uint32_t)m->n_expert_used);
    }
    if (p->sliding_window > 0 && (strcmp(m->arch, "gemma2") == 0 || strcmp(m->arch, "phi3") == 0))
        s |= gguf_writer_set_u32(w, KEY("attention.sliding_window"), (uint32_t)p->sliding_window);
    if (strcmp(m->arch, "gemma2") == 0) {
        s |= gguf_writer_set_f32(w, KEY("attn_logit_softcapping"), 50.0f);
        s |= gguf_writer_set_f32(w, KEY("final_logit_softcapping"), 30.0f);
    }
    if (strcmp(m->arch, "phi3") == 0)
        s |= gguf_writer_set_u32(w, KEY("rope.scaling.original_context_length"), (uint32_t)p->n_ctx_train);
#undef KEY
    s |= gguf_writer_set_str(w, "tokenizer.ggml.model", v->model);
    if (v->pre) s |= gguf_writer_set_str(w, "tokenizer.ggml.pre", v->pre);
    s |= gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->tokens, (uint64_t)v->n);
    s |= gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, v->scores, (uint64_t)v->n);
    s |= gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, v->types, (uint64_t)v->n);
    if (v->n_merges) s |= gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)v->merges, (uint64_t)v->n_merges);
    if (v->bos >= 0) s |= gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)v->bos);
    if (v->eos >= 0) s |= gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)v->eos);
    if (v->eot >= 0) s |= gguf_writer_set_u32(w, "tokenizer.ggml.eot_token_id", (uint32_t)v->eot);
    if (v->unk >= 0) s |= gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)v->unk);
    s |= gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", v->add_bos);
    s |= gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false);
    s |= gguf_writer_set_str(w, "tokenizer.chat_template", v->chat_template);
    return s ? LAIR_ERR_NOMEM : LAIR_OK;
}

static lair_status write_tensor_data(gguf_writer *w, const synth_tensor *t, const lair_synth_opts *o, int index,
                                     const calib *cal, uint8_t *buf, lair_err *err) {
    const lair_type_traits *tr = lair_type_traits_of(t->type);
    lair_rng r = lair_rng_seed(o->seed * 1000003u + (uint64_t)index);
    uint64_t total;
    gguf_tensor_bytes(t->type, t->ne, &total);
    uint64_t elems = (uint64_t)t->ne[0] * (uint64_t)t->ne[1] * (uint64_t)t->ne[2];
    if (t->fill != FILL_WEIGHT || !tr->quantized) {
        /* float formats: generate values, convert chunk by chunk */
        float vals[1024];
        uint64_t done = 0;
        while (done < elems) {
            size_t bytes = 0;
            while (done < elems && bytes + 1024 * tr->block_bytes <= CHUNK_BYTES) {
                size_t n = elems - done < 1024 ? (size_t)(elems - done) : 1024;
                for (size_t i = 0; i < n; i++) {
                    uint64_t e = done + i;
                    if (t->fill == FILL_NORM) vals[i] = 1.0f + 0.1f * WEIGHT_SD * lair_rng_normal(&r);
                    else if (t->fill == FILL_ROPE_FREQS) vals[i] = llama3_rope_factor((int64_t)e, 2 * t->ne[0], o->preset->rope_base);
                    else vals[i] = WEIGHT_SD * lair_rng_normal(&r);
                }
                tr->from_float(vals, buf + bytes, (int64_t)n);
                bytes += n * tr->block_bytes;
                done += n;
            }
            lair_status s = gguf_writer_write(w, buf, bytes, err);
            if (s) return s;
        }
        return LAIR_OK;
    }
    const block_fields *bf = fields_of(t->type);
    uint64_t written = 0;
    size_t per_chunk = CHUNK_BYTES / tr->block_bytes;
    while (written < total) {
        uint64_t left_blocks = (total - written) / tr->block_bytes;
        size_t nb = left_blocks < per_chunk ? (size_t)left_blocks : per_chunk;
        random_bytes(&r, buf, nb * tr->block_bytes);
        fix_blocks(t->type, bf, buf, nb, tr->block_bytes, *cal, &r);
        lair_status s = gguf_writer_write(w, buf, nb * tr->block_bytes, err);
        if (s) return s;
        written += nb * tr->block_bytes;
    }
    return LAIR_OK;
}

lair_status lair_synth_write(const char *path, const lair_synth_opts *o, lair_synth_stats *stats, lair_err *err) {
    synth_model m = {0};
    m.p = o->preset;
    m.arch = o->arch ? o->arch : o->preset->arch;
    m.n_expert = o->n_expert >= 0 ? o->n_expert : o->preset->n_expert;
    m.n_expert_used = m.n_expert > 0 ? (o->preset->n_expert_used > 0 && o->preset->n_expert_used <= m.n_expert ? o->preset->n_expert_used : 2) : 0;
    if (m.n_expert == 1 || m.n_expert_used > m.n_expert)
        return lair_err_set(err, LAIR_ERR_ARG, "gen: --experts must be 0 (dense) or at least 2");
    lair_vocab_kind vk = strcmp(m.arch, "qwen2") == 0 ? LAIR_VOCAB_BPE
                       : strcmp(m.arch, "llama") == 0 ? o->preset->vocab : LAIR_VOCAB_SPM;
    lair_synth_vocab v;
    gguf_writer *w = NULL;
    uint8_t *buf = NULL;
    calib cal[LAIR_TYPE_COUNT];
    bool have_cal[LAIR_TYPE_COUNT] = {0};
    lair_status s = lair_synth_vocab_make(m.arch, vk, o->preset->n_vocab, o->seed, &v, err);
    if (s) return s;
    if (build_tensors(&m)) {
        s = lair_err_set(err, LAIR_ERR_NOMEM, "gen: out of memory");
        goto out;
    }
    lair_recipe_model rm = {o->preset->n_layer, m.n_expert, o->preset->n_head / o->preset->n_head_kv, !o->preset->tied_embeddings};
    bool quantized = false;
    for (int i = 0; i < m.n; i++) {
        synth_tensor *t = &m.t[i];
        t->type = t->fill == FILL_WEIGHT ? lair_recipe_tensor_type(o->recipe, &rm, t->name, t->n_dims, t->ne, LAIR_TYPE_F32)
                                          : LAIR_TYPE_F32;
        const lair_type_traits *tr = lair_type_traits_of(t->type);
        if (tr->quantized) {
            quantized = true;
            if (!have_cal[t->type]) {
                if ((s = calibrate(t->type, &cal[t->type], err))) goto out;
                have_cal[t->type] = true;
            }
        } else if (!tr->from_float) {
            s = lair_err_set(err, LAIR_ERR_UNSUPPORTED, "gen: cannot write %s tensors", tr->name);
            goto out;
        }
    }
    if ((s = gguf_writer_init(&w, err))) goto out;
    if (write_metadata(w, &m, o, &v, quantized)) {
        s = lair_err_set(err, LAIR_ERR_NOMEM, "gen: out of memory");
        goto out;
    }
    for (int i = 0; i < m.n; i++)
        if ((s = gguf_writer_add_tensor(w, m.t[i].name, m.t[i].type, m.t[i].n_dims, m.t[i].ne, err))) goto out;
    buf = lair_malloc(CHUNK_BYTES + 4096);
    if (!buf) {
        s = lair_err_set(err, LAIR_ERR_NOMEM, "gen: out of memory");
        goto out;
    }
    if ((s = gguf_writer_begin(w, path, err))) goto out;
    uint64_t params = 0;
    for (int i = 0; i < m.n; i++) {
        if ((s = write_tensor_data(w, &m.t[i], o, i, &cal[m.t[i].type], buf, err))) goto out;
        params += (uint64_t)m.t[i].ne[0] * (uint64_t)m.t[i].ne[1] * (uint64_t)m.t[i].ne[2];
    }
    if ((s = gguf_writer_finish(w, err))) goto out;
    if (stats) {
        stats->n_tensors = (uint64_t)m.n;
        stats->n_params = params;
        stats->file_bytes = lair_file_size(path);
    }
out:
    gguf_writer_free(w);
    lair_free(buf);
    lair_free(m.t);
    lair_synth_vocab_free(&v);
    return s;
}
