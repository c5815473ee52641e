/* A context: the KV cache and the scratch buffers of a forward pass, sized at
 * creation so that decoding allocates nothing.
 *
 * KV cache layout: n_ctx cells; cell c holds, for every layer, one K row and
 * one V row of n_head_kv * head_dim values in kv_type, plus its position and
 * the set of sequences that share it (a bit mask).  Copying a prefix to
 * another sequence only sets bits, so shared prompts cost no memory.  Cells
 * are independent, so a later paged allocator can hand them out in blocks. */
#ifndef LAIR_ENGINE_CONTEXT_H
#define LAIR_ENGINE_CONTEXT_H

#include <stdint.h>

#include "core/threads.h"
#include "kernels/kernels.h"
#include "lair.h"
#include "model/model.h"

#define LAIR_MAX_SEQ 64

struct lair_context {
    const lair_model *m;
    lair_context_params p;
    const lair_kernels *kern;
    lair_pool *pool;         /* n_threads threads for matrix products */
    lair_type kv_type;
    uint64_t kv_row_bytes;   /* one cell's K (or V) values of one layer: n_head_kv * head_dim values */
    uint64_t kv_head_bytes;  /* one head's part of them: a row of a head's plane */
    /* [n_layer][n_head_kv][n_ctx] rows of kv_head_bytes: per layer, one plane
     * per KV head, so attention over a head reads its cells' rows as one
     * stream.  (Cell-major rows put a head's rows kv_row_bytes apart; the
     * prefetchers missed them, and decode attention at 600 cells waited on
     * memory for a fifth of a step.) */
    uint8_t *k_cache, *v_cache;
    int32_t *cell_pos;       /* -1: free */
    int32_t cells_hi;        /* no cell at or above this index is in use */
    uint64_t *cell_seq;      /* sequences sharing the cell */

    /* scratch for n_batch tokens; shapes in floats */
    float *x;        /* [n_batch][n_embd]   residual stream */
    float *xn;       /* [n_batch][n_embd]   normalised input of a block */
    float *qkv;      /* [n_batch][n_q + 2 n_kv] projections (q | k | v) */
    float *attn;     /* [n_batch][n_q]      attention output before wo */
    float *proj;     /* [n_batch][n_embd]   output of wo / ffn_down */
    float *ffn;      /* [n_batch][2 n_ff]   gate | up */
    float *moe_acc;  /* [n_batch][n_embd]   weighted sum of experts */
    float *moe_in;   /* [n_batch][n_embd]   the tokens routed to one expert (MoE models only) */
    float *moe_route; /* [n_batch][n_expert] expert weights per token, -1 where not chosen */
    int32_t *moe_tok; /* [n_batch]           which token each moe_in row is */
    /* per thread (attention runs one entry's group of query heads sharing a
     * KV head per thread at a time; attn_group = n_head / n_head_kv) */
    int attn_group;
    float *scores;   /* [n_threads][attn_group * (n_ctx + 2)] the group's scores, maxima and 1/sums */
    uint64_t scores_per_thread;
    int32_t *visible; /* [n_threads][n_ctx]   the cells one entry sees */
    float *vrow;     /* [n_threads][head_dim]  one V row (or scaled query) as float */
    uint8_t *qconv;  /* [n_threads][attn_group][qconv_bytes] query heads converted for the K dot kernel */
    uint64_t qconv_bytes;
    uint8_t *act;    /* activations converted for vec_dot: [n_batch][largest row] */
    uint64_t act_row_cap; /* bytes per token in act */
    struct {              /* what act holds: the rows last converted (a product whose */
        const float *x;   /* input is the previous one's skips converting them again) */
        int64_t ldx, ne0;
        int n_tok;
        lair_type type;
    } act_of;
    uint8_t *gemm_scratch; /* [n_threads][gemm_scratch_bytes] tiles of the gemm kernels, 64-byte aligned */
    uint64_t gemm_scratch_bytes; /* per thread, a multiple of 64 */
    void *gemm_scratch_block;    /* the allocation gemm_scratch lies in */
    float *logits;   /* [n_out][n_vocab] */
    int32_t *out_row; /* [n_batch] logits row of each entry, -1 if none */
    int32_t *cells;  /* [n_batch] cell given to each entry */
    float *rope_cos, *rope_sin; /* [n_batch][n_rot / 2] */
    const float *rope_factors;  /* [n_rot / 2] frequency divisors for this context, or NULL */
};

#endif
