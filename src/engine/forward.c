/* The forward pass: a batch of (token, position, sequence) entries through
 * every layer, with the semantics of the reference implementation of GGUF
 * inference (operation order and roundings included where they matter for
 * exactness: float products summed in double for norms, rotary angles built
 * by repeated float multiplication, activations converted to each weight
 * format's partner format before every matrix product). */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "core/err.h"
#include "core/fp16.h"
#include "engine/context.h"
#include "tensor/format.h"
#include "tensor/rows8.h"

static uint64_t row_bytes(lair_type t, int64_t n) {
    uint64_t b = 0;
    lair_type_row_bytes(t, n, &b);
    return b;
}

/* One matrix product, split by weight rows over the pool's threads.  Each
 * weight row is read once and applied to every token while it is in cache.
 * Threads take chunks of rows from a shared counter rather than fixed
 * shares: on a machine whose cores are shared (virtual CPUs, other work) a
 * thread that runs slowly or not at all for a while does not hold up the
 * others.  A row's result does not depend on which thread computes it. */
typedef struct matmul_job {
    const uint8_t *w, *act;
    uint64_t wrow, arow; /* bytes per weight row / converted activation row */
    int64_t ne0, n_rows;
    int n_tok;
    float *y;
    int64_t ldy;
    lair_vec_dot_fn dot;
    lair_vec_dot_rows_fn rows; /* several tokens per weight row, or NULL */
    lair_gemv_fn gemv;         /* several weight rows per pass (one token), or NULL */
    lair_gemm_fn gemm;         /* tiles of weight rows x many tokens, or NULL */
    int gemm_min;              /* fewest tokens for which gemm beats the multi-row kernels */
    bool rows8;                /* w in groups of 8 interleaved rows: gemv and gemm only */
    uint8_t *scratch;          /* the gemm kernels' scratch: per thread, scratch_bytes each */
    uint64_t scratch_bytes;
    int64_t chunk;             /* fewest rows per chunk, a multiple of 16 */
    int t0, nt;                /* gemm: the tokens of this pool run (one piece) */
    _Atomic int64_t next;      /* first row of the next chunk to take */
} matmul_job;

/* Rows [r0, r1) for tokens [t0, t1) with the one- and multi-row kernels. */
static void matmul_rows_tokens(const matmul_job *j, int64_t r0, int64_t r1, int t0, int t1) {
    lair_vec_dot_rows_fn rows = t1 - t0 > 1 ? j->rows : NULL;
    if (!rows) {
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t *wr = j->w + (uint64_t)r * j->wrow;
            for (int t = t0; t < t1; t++) j->dot(j->ne0, &j->y[(int64_t)t * j->ldy + r], wr, j->act + (uint64_t)t * j->arow);
        }
        return;
    }
    /* Tiles of 16 weight rows x all tokens, a group of up to 4 tokens at a
     * time: the tile's weight rows stay in cache while every token group
     * passes over them, and a token group is reused by all 16 rows. */
    enum { TILE_ROWS = 16 };
    for (int64_t rt = r0; rt < r1; rt += TILE_ROWS) {
        int64_t rt1 = rt + TILE_ROWS < r1 ? rt + TILE_ROWS : r1;
        for (int t = t0; t < t1; t += LAIR_VEC_DOT_MAX_ROWS) {
            int nx = t1 - t < LAIR_VEC_DOT_MAX_ROWS ? t1 - t : LAIR_VEC_DOT_MAX_ROWS;
            const uint8_t *xt = j->act + (uint64_t)t * j->arow;
            for (int64_t r = rt; r < rt1; r++) {
                float out[LAIR_VEC_DOT_MAX_ROWS];
                rows(j->ne0, out, j->w + (uint64_t)r * j->wrow, xt, j->arow, nx);
                for (int k = 0; k < nx; k++) j->y[(int64_t)(t + k) * j->ldy + r] = out[k];
            }
        }
    }
}

/* Rows [r0, r1) on thread ith: every token, or with gemm the piece
 * [t0, t0 + nt).  *packed: this thread's gemm scratch holds the piece's
 * activations, packed by its previous call in this pool run. */
static void matmul_range(const matmul_job *j, int64_t r0, int64_t r1, int ith, bool *packed) {
    if (j->n_tok == 1 && j->gemv) {
        j->gemv(j->ne0, r1 - r0, &j->y[r0], j->w + (uint64_t)r0 * j->wrow, j->wrow, j->act);
        return;
    }
    if (!j->gemm || j->n_tok < j->gemm_min) {
        if (j->rows8) { /* the row kernels cannot read the layout: gemv per token */
            for (int t = 0; t < j->n_tok; t++)
                j->gemv(j->ne0, r1 - r0, &j->y[(int64_t)t * j->ldy + r0], j->w + (uint64_t)r0 * j->wrow, j->wrow,
                        j->act + (uint64_t)t * j->arow);
            return;
        }
        matmul_rows_tokens(j, r0, r1, 0, j->n_tok);
        return;
    }
    j->gemm(j->ne0, r1 - r0, j->nt, &j->y[(int64_t)j->t0 * j->ldy + r0], j->ldy, j->w + (uint64_t)r0 * j->wrow, j->wrow,
            j->act + (uint64_t)j->t0 * j->arow, j->arow, j->scratch + (uint64_t)ith * j->scratch_bytes, *packed);
    *packed = true;
}

/* Guided self-scheduling: each chunk is a share of the rows still left
 * (1 / (2 * threads), a multiple of 16 rows, at least j->chunk), so chunks
 * start large (long sequential reads) and end small (an even finish). */
static void matmul_rows(void *arg, int ith, int nth) {
    matmul_job *j = arg;
    bool packed = false;
    int64_t r0 = atomic_load_explicit(&j->next, memory_order_relaxed);
    for (;;) {
        if (r0 >= j->n_rows) return;
        int64_t size = ((j->n_rows - r0) / (2 * nth)) & ~(int64_t)15;
        if (size < j->chunk) size = j->chunk;
        if (!atomic_compare_exchange_weak_explicit(&j->next, &r0, r0 + size, memory_order_relaxed, memory_order_relaxed))
            continue; /* r0 now holds the current value */
        matmul_range(j, r0, r0 + size < j->n_rows ? r0 + size : j->n_rows, ith, &packed);
        r0 = atomic_load_explicit(&j->next, memory_order_relaxed);
    }
}

/* Converting the activations to the partner format, tokens spread over
 * the pool (for a long prompt this is a few percent of a product). */
typedef struct convert_job {
    lair_quantize_fn quant;
    const float *x;
    int64_t ldx, ne0;
    uint8_t *act;
    uint64_t arow;
    int n_tok;
} convert_job;

static void convert_tokens(void *arg, int ith, int nth) {
    const convert_job *j = arg;
    for (int t = ith; t < j->n_tok; t += nth) j->quant(j->x + (int64_t)t * j->ldx, j->act + (uint64_t)t * j->arow, j->ne0);
}

/* y[t*ldy + r] = dot(W row r, x[t*ldx ..]) for r < n_rows, t < n_tok.
 * W: n_rows rows of ne0 values of type wt starting at w, in groups of 8
 * interleaved rows if rows8 (the loader regrouped it only if this kernel
 * table has gemv and gemm kernels for that layout).  The activations are
 * first converted to the weight format's partner format. */
static void matmul(lair_context *c, const uint8_t *w, lair_type wt, bool rows8, int64_t ne0, int64_t n_rows,
                   const float *x, int64_t ldx, int n_tok, float *y, int64_t ldy, bool again) {
    lair_type at = lair_vec_dot_type(wt);
    const lair_type_traits *atr = lair_type_traits_of(at);
    const lair_kernels *k = c->kern;
    matmul_job j = {w, c->act, row_bytes(wt, ne0), row_bytes(at, ne0), ne0, n_rows, n_tok, y, ldy, k->vec_dot[wt],
                    rows8 ? NULL : k->vec_dot_rows[wt], rows8 ? k->gemv_rows8[wt] : k->gemv[wt],
                    rows8 ? k->gemm_rows8[wt] : k->gemm[wt], rows8 ? 1 : k->gemm_min_tokens[wt], rows8, c->gemm_scratch,
                    c->gemm_scratch_bytes, 16, 0, n_tok, 0};
    if (LAIR_GEMM_SCRATCH_BYTES(ne0) > c->gemm_scratch_bytes) j.gemm = NULL; /* a row wider than the context planned for */
    /* the smallest chunk: about 32 KiB of weight reads per token, 16 to 256
     * rows, a multiple of 16 (whole gemv groups, and no two threads write
     * one cache line of y); gemm kernels pack a tile of rows per call
     * (but for regrouped weights), so they get at least 64 rows (one token
     * goes to the gemv whatever gemm_min says) */
    const bool use_gemm = j.gemm && n_tok >= j.gemm_min && !(n_tok == 1 && j.gemv);
    uint64_t per_row = j.wrow * (uint64_t)n_tok;
    j.chunk = per_row ? (int64_t)((32768 / per_row) & ~(uint64_t)15) : 256;
    j.chunk = j.chunk < 16 ? 16 : j.chunk > 256 ? 256 : j.chunk;
    if (use_gemm && j.chunk < 64) j.chunk = 64;
    atomic_init(&j.next, 0);
    /* again: x is the previous product's input, unchanged since (Q, K and V
     * of one block; gate and up); its rows are converted already if the
     * partner format and shape are the same */
    if (!(again && c->act_of.x == x && c->act_of.ldx == ldx && c->act_of.ne0 == ne0 && c->act_of.n_tok == n_tok &&
          c->act_of.type == at)) {
        convert_job cj = {c->kern->quantize[at] ? c->kern->quantize[at] : atr->from_float, x, ldx, ne0, c->act, j.arow, n_tok};
        if (n_tok >= 4) lair_pool_run(c->pool, convert_tokens, &cj);
        else convert_tokens(&cj, 0, 1);
        c->act_of.x = x, c->act_of.ldx = ldx, c->act_of.ne0 = ne0, c->act_of.n_tok = n_tok, c->act_of.type = at;
    }
    /* gemm takes the tokens in even pieces of at most LAIR_GEMM_MAX_TOKENS
     * (72 tokens: 36 + 36, not 64 + 8), one pool run each, so that a
     * thread packs a piece's activations once for all its chunks of rows
     * (the weights are read again per piece, from L3 or memory, while the
     * kernel computes: a piece does up to 64 multiply-adds per byte read) */
    const int pieces = use_gemm ? (n_tok + LAIR_GEMM_MAX_TOKENS - 1) / LAIR_GEMM_MAX_TOKENS : 1;
    for (int p = 0; p < pieces; p++) {
        j.t0 = n_tok * p / pieces, j.nt = n_tok * (p + 1) / pieces - j.t0;
        atomic_store_explicit(&j.next, 0, memory_order_relaxed);
        /* small products are not worth waking the other threads for */
        bool packed = false;
        if (n_rows * ne0 * n_tok < 32768) matmul_range(&j, 0, n_rows, 0, &packed);
        else lair_pool_run(c->pool, matmul_rows, &j);
    }
}

static void matmul_tensor(lair_context *c, const gguf_tensor *W, const float *x, int64_t ldx, int n_tok, float *y,
                          int64_t ldy, bool again) {
    matmul(c, W->data, W->type, W->rows8, W->ne[0], W->ne[1], x, ldx, n_tok, y, ldy, again);
}

static void add_bias(const gguf_tensor *b, float *y, int64_t ldy, int n_tok) {
    if (!b) return;
    const float *bv = b->data;
    for (int t = 0; t < n_tok; t++)
        for (int64_t i = 0; i < b->ne[0]; i++) y[(int64_t)t * ldy + i] += bv[i];
}

/* y = x / sqrt(mean(x^2) + eps) * w */
static void rms_norm(float *y, const float *x, const gguf_tensor *w, int64_t n, float eps) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
    float mean = (float)(sum / (double)n);
    float scale = 1.0f / sqrtf(mean + eps);
    const float *wv = w->data;
    for (int64_t i = 0; i < n; i++) y[i] = (x[i] * scale) * wv[i];
}

/* cap * tanh(x / cap), computed as the reference does: scale by the
 * reciprocal, tanh, scale back. */
static float softcap(float x, float cap) { return tanhf(x * (1.0f / cap)) * cap; }

/* GELU, tanh approximation. */
static float gelu_exact(float x) {
    const float sqrt_2_over_pi = 0.79788456080286535587989211986876f;
    return 0.5f * x * (1.0f + tanhf(sqrt_2_over_pi * x * (1.0f + 0.044715f * x * x)));
}

/* GELU as the reference CPU backend evaluates it: through a table indexed by
 * the f16 value of x and holding f16 results (exact beyond |x| >= 10).
 * Matching it moves Gemma 2's NMSE from 1.3e-6 to below 1e-6. */
static float gelu(float x) {
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    return lair_f16_to_f32(lair_f32_to_f16(gelu_exact(lair_f16_to_f32(lair_f32_to_f16(x)))));
}

/* cos/sin of each rotated pair's angle for every entry's position. */
static void rope_tables(lair_context *c, const lair_batch_entry *e, int n) {
    const lair_hparams *hp = &c->m->hp;
    int64_t half = hp->n_rot / 2;
    float theta_scale = powf(hp->rope_base, -2.0f / (float)hp->n_rot);
    const float *ff = c->rope_factors;
    float mscale = hp->rope_attn_factor;
    for (int t = 0; t < n; t++) {
        float theta = (float)e[t].pos;
        for (int64_t i = 0; i < half; i++) {
            float a = theta / (ff ? ff[i] : 1.0f);
            c->rope_cos[t * half + i] = cosf(a) * mscale;
            c->rope_sin[t * half + i] = sinf(a) * mscale;
            theta *= theta_scale;
        }
    }
}

static void rope_apply(const lair_context *c, float *v, int t) {
    const lair_hparams *hp = &c->m->hp;
    int64_t half = hp->n_rot / 2;
    const float *cs = c->rope_cos + t * half, *sn = c->rope_sin + t * half;
    bool neox = c->m->arch->rope == LAIR_ROPE_NEOX;
    for (int64_t i = 0; i < half; i++) {
        int64_t a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
        float x0 = v[a], x1 = v[b];
        v[a] = x0 * cs[i] - x1 * sn[i];
        v[b] = x0 * sn[i] + x1 * cs[i];
    }
}

/* Attention.  The work is split in units of (entry, group of query heads):
 * a group is the query heads that share one KV head (GQA), so each K and V
 * row is read once per group rather than once per query head; when there
 * are too few units to keep every thread busy (one entry, few KV heads), a
 * unit is a single query head.  A thread first lists the cells its entry
 * sees: those of its sequence at positions up to its own (and within the
 * sliding window on sliding layers), in cell order; its units then visit
 * only those cells, however many other sequences share the pool.  K is read
 * in the cache's format by the dot kernels, V one row at a time.
 *
 * Every head's arithmetic is the one-head computation in cell order (max,
 * then the exponentials summed in double, then V rows added in order), so
 * neither the grouping nor the other sequences in the pool change a bit of
 * an entry's result. */
typedef struct attn_job {
    lair_context *c;
    const lair_layer *l;
    int il, n;
    int group;   /* query heads per unit: n_head / n_head_kv, or 1 */
    const lair_batch_entry *e;
} attn_job;

/* The cells entry e sees on layer l, in ascending order, into vis; returns
 * their count. */
static int32_t visible_cells(const lair_context *c, const lair_layer *l, const lair_batch_entry *e, int32_t *vis) {
    const uint64_t seq_bit = 1ull << e->seq;
    const int32_t window = l->sliding ? c->m->hp.sliding_window : 0;
    int32_t n = 0;
    for (int32_t i = 0; i < c->cells_hi; i++) {
        int32_t p = c->cell_pos[i];
        if (p >= 0 && (c->cell_seq[i] & seq_bit) && p <= e->pos && !(window && e->pos - p >= window)) vis[n++] = i;
    }
    return n;
}

/* Query heads h0 .. h0 + G - 1 (G = j->group) of entry e, all reading KV
 * head h0 / (n_head / n_head_kv), over the n_vis cells in vis. */
static void attend_heads(const attn_job *j, const float *q, float *o, int64_t h0,
                         const int32_t *vis, int32_t n_vis, int ith) {
    lair_context *c = j->c;
    const lair_hparams *hp = &c->m->hp;
    const int G = j->group;
    int64_t hd = hp->head_dim, kvh = h0 / (hp->n_head / hp->n_head_kv);
    /* the head's plane of the layer: its rows for every cell, rs bytes apart */
    const uint64_t rs = c->kv_head_bytes;
    uint64_t layer_off = (uint64_t)j->il * (uint64_t)c->p.n_ctx * c->kv_row_bytes + (uint64_t)kvh * (uint64_t)c->p.n_ctx * rs;
    const uint8_t *kc = c->k_cache + layer_off, *vc = c->v_cache + layer_off;
    const lair_type_traits *qtr = lair_type_traits_of(lair_vec_dot_type(c->kv_type)), *vtr = lair_type_traits_of(c->kv_type);
    lair_vec_dot_fn dot = c->kern->vec_dot[c->kv_type];
    float *scores = c->scores + (int64_t)ith * c->scores_per_thread; /* [G][n_vis] */
    float *vrow = c->vrow + (int64_t)ith * hd;
    uint8_t *qconv = c->qconv + (uint64_t)ith * c->qconv_bytes * (uint64_t)c->attn_group; /* [G][qconv_bytes] */
    /* 1/sqrt(head_dim) scales the scores, or (Gemma 2, Phi-3) the query itself
     * before the product, as the reference computes them */
    float scale = 1.0f / sqrtf((float)hd), cap = hp->attn_softcap;
    bool pre = c->m->arch->q_prescale;
    /* the one-KV-head kernels take the whole group of heads per call: scores
     * for f16 caches (f32 ones keep the double-precision dot products that
     * the golden tests' exactness rests on), values for f32 and f16 caches;
     * otherwise one dot product (and one axpy) per cell and head */
    lair_attn_scores_fn group_scores = hd % 8 == 0 ? c->kern->attn_scores[c->kv_type] : NULL;
    lair_attn_values_fn group_values = hd % 8 == 0 ? c->kern->attn_values[c->kv_type] : NULL;
    float *qf = (float *)(void *)qconv; /* group_scores' queries: [G][hd] */
    for (int g = 0; g < G; g++) {
        const float *qg = q + g * hd;
        float *dst = group_scores ? qf + g * hd : vrow;
        if (pre) {
            for (int64_t d = 0; d < hd; d++) dst[d] = qg[d] * scale;
            qg = dst;
        }
        if (group_scores) { /* rounded as the partner format rounds it, back as floats */
            qtr->from_float(qg, (uint8_t *)vrow, hd);
            qtr->to_float((const uint8_t *)vrow, dst, hd);
        } else {
            qtr->from_float(qg, qconv + (uint64_t)g * c->qconv_bytes, hd);
        }
    }
    if (group_scores) {
        group_scores(hd, G, n_vis, vis, kc, rs, qf, scores, n_vis);
    } else {
        for (int32_t k = 0; k < n_vis; k++) {
            const uint8_t *kr = kc + (uint64_t)vis[k] * rs;
            for (int g = 0; g < G; g++) dot(hd, &scores[(int64_t)g * n_vis + k], kr, qconv + (uint64_t)g * c->qconv_bytes);
        }
    }
    /* probabilities in place: soft-capped scores (Gemma 2) are scaled and
     * capped here, the others scaled by the kernel */
    for (int g = 0; g < G; g++) {
        float *sg = scores + (int64_t)g * n_vis;
        float sc = pre ? 1.0f : scale;
        if (cap > 0) {
            for (int32_t k = 0; k < n_vis; k++) sg[k] = softcap(sg[k] * sc, cap);
            sc = 1.0f;
        }
        c->kern->softmax(n_vis, sg, sc);
        memset(o + g * hd, 0, (size_t)hd * sizeof *o);
    }
    if (group_values) {
        group_values(hd, G, n_vis, vis, vc, rs, scores, n_vis, o);
        return;
    }
    lair_axpy_fn axpy = c->kern->axpy[c->kv_type];
    for (int32_t k = 0; k < n_vis; k++) {
        const uint8_t *vr = vc + (uint64_t)vis[k] * rs;
        bool decoded = false;
        for (int g = 0; g < G; g++) {
            float pr = scores[(int64_t)g * n_vis + k];
            if (pr == 0.0f) continue;
            float *og = o + g * hd;
            if (axpy) {
                axpy(hd, og, pr, vr);
            } else { /* block formats: decode the row once, then add */
                if (!decoded) vtr->to_float(vr, vrow, hd);
                decoded = true;
                for (int64_t d = 0; d < hd; d++) og[d] += pr * vrow[d];
            }
        }
    }
}

static void attend_units(void *arg, int ith, int nth) {
    const attn_job *j = arg;
    lair_context *c = j->c;
    const lair_hparams *hp = &c->m->hp;
    int64_t hd = hp->head_dim, n_q = hp->n_head * hd, ld = n_q + 2 * hp->n_head_kv * hd;
    int64_t per_entry = hp->n_head / j->group, n_units = (int64_t)j->n * per_entry;
    int32_t *vis = c->visible + (int64_t)ith * c->p.n_ctx, n_vis = 0;
    int listed = -1; /* the entry vis holds */
    /* entries round robin when there are enough for every thread (the cost
     * of an entry grows with its position, so contiguous ranges would load
     * one thread with a prompt's last tokens); otherwise units */
    bool by_entry = j->n >= 2 * nth;
    for (int64_t u = by_entry ? (int64_t)ith * per_entry : ith; u < n_units;) {
        int t = (int)(u / per_entry);
        int64_t h0 = (u % per_entry) * j->group;
        if (t != listed) {
            n_vis = visible_cells(c, j->l, &j->e[t], vis);
            listed = t;
        }
        attend_heads(j, c->qkv + t * ld + h0 * hd, c->attn + t * n_q + h0 * hd, h0, vis, n_vis, ith);
        if (!by_entry) u += nth;
        else if (++u % per_entry == 0) u += (int64_t)(nth - 1) * per_entry;
    }
}

/* act(gate) * up for n values; gate and up may be interleaved by the caller. */
static void glu(const lair_context *c, float *gate, const float *up, int64_t n) {
    if (c->m->arch->act != LAIR_FFN_GELU) {
        c->kern->silu_mul(n, gate, up);
        return;
    }
    for (int64_t i = 0; i < n; i++) gate[i] = gelu(gate[i]) * up[i];
}

/* glu over the rows [gate (F) | up (F)] of n tokens, ld floats apart: every
 * thread takes a slice (a multiple of 8 values) of every row. */
typedef struct glu_job {
    const lair_context *c;
    float *ffn;
    int64_t ld, F;
    int n;
} glu_job;

static void glu_slices(void *arg, int ith, int nth) {
    const glu_job *j = arg;
    int64_t lo = (j->F * ith / nth) & ~(int64_t)7, hi = ith == nth - 1 ? j->F : (j->F * (ith + 1) / nth) & ~(int64_t)7;
    for (int t = 0; t < j->n; t++) glu(j->c, j->ffn + t * j->ld + lo, j->ffn + t * j->ld + j->F + lo, hi - lo);
}

static void glu_rows(lair_context *c, float *ffn, int64_t ld, int64_t F, int n) {
    glu_job j = {c, ffn, ld, F, n};
    if (n >= 4) lair_pool_run(c->pool, glu_slices, &j);
    else glu_slices(&j, 0, 1); /* a few microseconds: not worth waking the pool */
}

static void ffn_dense(lair_context *c, const lair_layer *l, int n) {
    const lair_hparams *hp = &c->m->hp;
    int64_t E = hp->n_embd, F = hp->n_ff, ld = 2 * F;
    if (l->ffn_gate) {
        matmul_tensor(c, l->ffn_gate, c->xn, E, n, c->ffn, ld, false);
        matmul_tensor(c, l->ffn_up, c->xn, E, n, c->ffn + F, ld, true);
    } else { /* fused [gate; up] rows */
        matmul_tensor(c, l->ffn_up, c->xn, E, n, c->ffn, ld, false);
    }
    glu_rows(c, c->ffn, ld, F, n);
    matmul_tensor(c, l->ffn_down, c->ffn, ld, n, c->proj, E, false);
}

/* Mixture of experts: each entry goes through its top-k experts by router
 * probability; their outputs are summed with the renormalised probabilities.
 * The router runs for every token at once; then,
 * expert by expert in ascending order, the tokens routed to an expert go
 * through it as one batch, so each expert's weights are read once per
 * batch rather than once per token.  A token's output sums its experts'
 * weighted outputs in ascending expert order, whatever else is in the
 * batch. */
static void ffn_moe(lair_context *c, const lair_layer *l, int n) {
    const lair_hparams *hp = &c->m->hp;
    int64_t E = hp->n_embd, F = hp->n_ff, X = hp->n_expert, K = hp->n_expert_used, ld = 2 * F;
    uint64_t gate_stride = row_bytes(l->ffn_gate_exps->type, E) * (uint64_t)F;
    uint64_t up_stride = row_bytes(l->ffn_up_exps->type, E) * (uint64_t)F;
    uint64_t down_stride = row_bytes(l->ffn_down_exps->type, F) * (uint64_t)E;
    /* route[t][x]: the weight of expert x for token t, or -1 if not chosen */
    float *route = c->moe_route;
    matmul_tensor(c, l->ffn_gate_inp, c->xn, E, n, route, X, false);
    for (int t = 0; t < n; t++) {
        float *probs = route + (int64_t)t * X;
        float max = -INFINITY;
        for (int64_t x = 0; x < X; x++) max = probs[x] > max ? probs[x] : max;
        double sum = 0.0;
        for (int64_t x = 0; x < X; x++) {
            probs[x] = expf(probs[x] - max);
            sum += (double)probs[x];
        }
        float inv = (float)(1.0 / sum);
        for (int64_t x = 0; x < X; x++) probs[x] *= inv;
        /* top K by probability (ties: lower index first) */
        int chosen[LAIR_MAX_EXPERTS];
        for (int64_t k = 0; k < K; k++) {
            int best = -1;
            for (int64_t x = 0; x < X; x++) {
                bool taken = false;
                for (int64_t j = 0; j < k; j++) taken |= chosen[j] == x;
                if (!taken && (best < 0 || probs[x] > probs[best])) best = (int)x;
            }
            chosen[k] = best;
        }
        float wsum = 0.0f, w[LAIR_MAX_EXPERTS];
        for (int64_t k = 0; k < K; k++) wsum += probs[chosen[k]];
        for (int64_t k = 0; k < K; k++) w[k] = probs[chosen[k]] / wsum;
        for (int64_t x = 0; x < X; x++) probs[x] = -1.0f;
        for (int64_t k = 0; k < K; k++) probs[chosen[k]] = w[k];
    }
    memset(c->moe_acc, 0, (size_t)n * (size_t)E * sizeof *c->moe_acc);
    for (int64_t x = 0; x < X; x++) {
        int m = 0; /* the expert's tokens, gathered into moe_in */
        for (int t = 0; t < n; t++) {
            if (route[(int64_t)t * X + x] < 0) continue;
            c->moe_tok[m] = t;
            memcpy(c->moe_in + (int64_t)m * E, c->xn + (int64_t)t * E, (size_t)E * sizeof(float));
            m++;
        }
        if (m == 0) continue;
        matmul(c, (const uint8_t *)l->ffn_gate_exps->data + (uint64_t)x * gate_stride, l->ffn_gate_exps->type, l->ffn_gate_exps->rows8, E, F, c->moe_in,
               E, m, c->ffn, ld, false);
        matmul(c, (const uint8_t *)l->ffn_up_exps->data + (uint64_t)x * up_stride, l->ffn_up_exps->type, l->ffn_up_exps->rows8, E, F, c->moe_in, E,
               m, c->ffn + F, ld, true);
        glu_rows(c, c->ffn, ld, F, m);
        /* proj serves as scratch for the expert's outputs until the end */
        matmul(c, (const uint8_t *)l->ffn_down_exps->data + (uint64_t)x * down_stride, l->ffn_down_exps->type, l->ffn_down_exps->rows8, F, E, c->ffn,
               ld, m, c->proj, E, false);
        for (int i = 0; i < m; i++) {
            int t = c->moe_tok[i];
            float wt = route[(int64_t)t * X + x], *acc = c->moe_acc + (int64_t)t * E;
            const float *y = c->proj + (int64_t)i * E;
            for (int64_t e = 0; e < E; e++) acc[e] += y[e] * wt;
        }
    }
    memcpy(c->proj, c->moe_acc, (size_t)n * (size_t)E * sizeof(float));
}

static void store_kv(lair_context *c, int il, int n) {
    const lair_hparams *hp = &c->m->hp;
    int64_t n_q = hp->n_head * hp->head_dim, n_kv = hp->n_head_kv * hp->head_dim, ld = n_q + 2 * n_kv;
    const lair_type_traits *kt = lair_type_traits_of(c->kv_type);
    uint8_t *kc = c->k_cache + (uint64_t)il * (uint64_t)c->p.n_ctx * c->kv_row_bytes;
    uint8_t *vc = c->v_cache + (uint64_t)il * (uint64_t)c->p.n_ctx * c->kv_row_bytes;
    const uint64_t plane = (uint64_t)c->p.n_ctx * c->kv_head_bytes; /* one head's rows (context.h) */
    for (int t = 0; t < n; t++) {
        uint64_t off = (uint64_t)c->cells[t] * c->kv_head_bytes;
        for (int64_t h = 0; h < hp->n_head_kv; h++) {
            kt->from_float(c->qkv + t * ld + n_q + h * hp->head_dim, kc + (uint64_t)h * plane + off, hp->head_dim);
            kt->from_float(c->qkv + t * ld + n_q + n_kv + h * hp->head_dim, vc + (uint64_t)h * plane + off, hp->head_dim);
        }
    }
}

static void layer_forward(lair_context *c, int il, const lair_batch_entry *e, int n) {
    const lair_hparams *hp = &c->m->hp;
    const lair_layer *l = &c->m->layers[il];
    int64_t E = hp->n_embd, n_q = hp->n_head * hp->head_dim, n_kv = hp->n_head_kv * hp->head_dim, ld = n_q + 2 * n_kv;
    for (int t = 0; t < n; t++) rms_norm(c->xn + t * E, c->x + t * E, l->attn_norm, E, hp->norm_eps);
    if (l->wqkv) {
        matmul_tensor(c, l->wqkv, c->xn, E, n, c->qkv, ld, false);
    } else {
        matmul_tensor(c, l->wq, c->xn, E, n, c->qkv, ld, false);
        matmul_tensor(c, l->wk, c->xn, E, n, c->qkv + n_q, ld, true);
        matmul_tensor(c, l->wv, c->xn, E, n, c->qkv + n_q + n_kv, ld, true);
    }
    add_bias(l->bq, c->qkv, ld, n);
    add_bias(l->bk, c->qkv + n_q, ld, n);
    add_bias(l->bv, c->qkv + n_q + n_kv, ld, n);
    for (int t = 0; t < n; t++) {
        for (int64_t h = 0; h < hp->n_head; h++) rope_apply(c, c->qkv + t * ld + h * hp->head_dim, t);
        for (int64_t h = 0; h < hp->n_head_kv; h++) rope_apply(c, c->qkv + t * ld + n_q + h * hp->head_dim, t);
    }
    store_kv(c, il, n);
    /* whole KV groups per unit unless that leaves threads idle */
    int per_kv = (int)(hp->n_head / hp->n_head_kv);
    int group = (int64_t)n * hp->n_head_kv >= 2 * (int64_t)lair_pool_size(c->pool) ? per_kv : 1;
    attn_job aj = {c, l, il, n, group, e};
    lair_pool_run(c->pool, attend_units, &aj);
    matmul_tensor(c, l->wo, c->attn, n_q, n, c->proj, E, false);
    for (int t = 0; t < n; t++) {
        float *p = c->proj + t * E, *x = c->x + t * E;
        if (l->attn_post_norm) rms_norm(p, p, l->attn_post_norm, E, hp->norm_eps);
        for (int64_t i = 0; i < E; i++) x[i] += p[i];
        rms_norm(c->xn + t * E, x, l->ffn_norm, E, hp->norm_eps);
    }
    if (hp->n_expert > 0) ffn_moe(c, l, n);
    else ffn_dense(c, l, n);
    for (int t = 0; t < n; t++) {
        float *p = c->proj + t * E, *x = c->x + t * E;
        if (l->ffn_post_norm) rms_norm(p, p, l->ffn_post_norm, E, hp->norm_eps);
        for (int64_t i = 0; i < E; i++) x[i] += p[i];
    }
}

/* Gives every entry a cell; on failure nothing is changed. */
static lair_status assign_cells(lair_context *c, const lair_batch_entry *e, int n, lair_err *err) {
    int32_t found = 0;
    for (int32_t i = 0; i < c->p.n_ctx && found < n; i++)
        if (c->cell_pos[i] < 0) c->cells[found++] = i;
    if (found < n)
        return lair_err_set(err, LAIR_ERR_LIMIT, "decode: KV cache full (%d cells, %d free, %d needed)", c->p.n_ctx,
                            lair_kv_free_cells(c), n);
    for (int t = 0; t < n; t++) {
        /* an entry replaces whatever its sequence held at that position */
        lair_kv_seq_rm(c, e[t].seq, e[t].pos, e[t].pos + 1);
        c->cell_pos[c->cells[t]] = e[t].pos;
        c->cell_seq[c->cells[t]] = 1ull << e[t].seq;
        if (c->cells[t] + 1 > c->cells_hi) c->cells_hi = c->cells[t] + 1;
    }
    return LAIR_OK;
}

lair_status lair_decode(lair_context *c, const lair_batch_entry *e, int32_t n, lair_err *err) {
    const lair_hparams *hp = &c->m->hp;
    if (n < 1 || n > c->p.n_batch)
        return lair_err_set(err, LAIR_ERR_ARG, "decode: %d entries (1 to %d allowed)", n, c->p.n_batch);
    int32_t n_want = 0;
    for (int t = 0; t < n; t++) n_want += e[t].logits;
    if (n_want > c->p.n_outputs_max)
        return lair_err_set(err, LAIR_ERR_ARG, "decode: %d entries want logits (at most %d per call)", n_want,
                            c->p.n_outputs_max);
    for (int t = 0; t < n; t++) {
        if (e[t].token < 0 || e[t].token >= hp->n_vocab)
            return lair_err_set(err, LAIR_ERR_ARG, "decode: entry %d: token %d out of range (vocabulary of %lld)", t,
                                e[t].token, (long long)hp->n_vocab);
        if (e[t].seq < 0 || e[t].seq >= c->p.n_seq_max)
            return lair_err_set(err, LAIR_ERR_ARG, "decode: entry %d: sequence %d out of range (0 to %d)", t, e[t].seq,
                                c->p.n_seq_max - 1);
        if (e[t].pos < 0 || e[t].pos >= (1 << 24))
            return lair_err_set(err, LAIR_ERR_ARG, "decode: entry %d: position %d out of range", t, e[t].pos);
    }
    lair_status s = assign_cells(c, e, n, err);
    if (s) return s;
    int64_t E = hp->n_embd;
    const lair_type_traits *et = lair_type_traits_of(c->m->tok_embd->type);
    uint64_t erow = row_bytes(c->m->tok_embd->type, E);
    for (int t = 0; t < n; t++) {
        float *x = c->x + t * E;
        const gguf_tensor *emb = c->m->tok_embd;
        if (emb->rows8) /* regrouped with a tied output matrix */
            lair_rows8_row_to_float(emb->type, E, emb->ne[1], emb->data, e[t].token, x);
        else
            et->to_float((const uint8_t *)emb->data + (uint64_t)e[t].token * erow, x, E);
        if (c->m->arch->embed_scale) {
            float sc = sqrtf((float)E);
            for (int64_t i = 0; i < E; i++) x[i] *= sc;
        }
    }
    rope_tables(c, e, n);
    for (int il = 0; il < hp->n_layer; il++) layer_forward(c, il, e, n);
    /* logits only for the entries that want them */
    int n_out = 0;
    for (int t = 0; t < n; t++) {
        c->out_row[t] = e[t].logits ? n_out : -1;
        if (e[t].logits) rms_norm(c->xn + (int64_t)n_out++ * E, c->x + t * E, c->m->output_norm, E, hp->norm_eps);
    }
    for (int t = n; t < c->p.n_batch; t++) c->out_row[t] = -1;
    if (n_out) {
        matmul_tensor(c, c->m->output, c->xn, E, n_out, c->logits, hp->n_vocab, false);
        float cap = hp->final_softcap;
        if (cap > 0)
            for (int64_t i = 0; i < (int64_t)n_out * hp->n_vocab; i++) c->logits[i] = softcap(c->logits[i], cap);
    }
    return LAIR_OK;
}
