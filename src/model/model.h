/* A loaded model: validated hyperparameters and, per layer, views of the
 * weight tensors inside the memory-mapped GGUF file (nothing is copied). */
#ifndef LAIR_MODEL_MODEL_H
#define LAIR_MODEL_MODEL_H

#include <stdint.h>

#include "gguf/gguf.h"
#include "text/vocab.h"
#include "lair.h"
#include "model/arch.h"

/* Bounds on hyperparameters (a file beyond them is rejected by name). */
#define LAIR_MAX_LAYERS 1024
#define LAIR_MAX_EMBD (1 << 17)
#define LAIR_MAX_HEADS 1024
#define LAIR_MAX_EXPERTS 1024
#define LAIR_MAX_VOCAB (1 << 24)

typedef struct lair_hparams {
    int64_t n_vocab, n_ctx_train, n_embd, n_layer;
    int64_t n_head, n_head_kv;
    int64_t head_dim;       /* per head, for Q and K (and V) */
    int64_t n_rot;          /* dimensions rotated by RoPE (<= head_dim, even) */
    int64_t n_ff;           /* per expert for MoE */
    int64_t n_expert, n_expert_used;
    int64_t sliding_window; /* 0: none */
    float norm_eps;
    float rope_base;
    float attn_softcap, final_softcap; /* 0: none */
    int64_t n_ctx_orig;     /* context the rotary frequencies were trained for (LongRoPE switch point) */
    float rope_attn_factor; /* scales cos/sin (LongRoPE's attention factor); 1 when absent */
} lair_hparams;

typedef struct lair_layer {
    const gguf_tensor *attn_norm;
    const gguf_tensor *wq, *wk, *wv, *wqkv, *wo; /* [n_embd, rows] views */
    const gguf_tensor *bq, *bk, *bv;
    const gguf_tensor *attn_post_norm;
    const gguf_tensor *ffn_norm;
    const gguf_tensor *ffn_gate, *ffn_up, *ffn_down;
    const gguf_tensor *ffn_post_norm;
    const gguf_tensor *ffn_gate_inp;                            /* router [n_embd, n_expert] */
    const gguf_tensor *ffn_gate_exps, *ffn_up_exps, *ffn_down_exps; /* [.., .., n_expert] */
    bool sliding;                                               /* attends within the window only */
} lair_layer;

struct lair_model {
    gguf_bundle *gguf;
    const lair_arch *arch;
    lair_hparams hp;
    const gguf_tensor *tok_embd, *output_norm, *output;
    /* rotary frequency divisors [n_rot/2]: Llama 3.1+ (rope_freqs), or
     * LongRoPE's pair, the long one for contexts beyond n_ctx_orig */
    const gguf_tensor *rope_freqs, *rope_long, *rope_short;
    lair_layer *layers;
    lair_vocab *vocab; /* NULL when the file has no tokenizer.ggml.model */
    /* matrices regrouped at load time (lair_model_regroup): copies of their
     * tensors, which the layers point at, and the bytes they point into */
    gguf_tensor *rows8_tensors;
    int n_rows8;
    uint8_t *rows8_data;
};

/* Regroups the model's matrices for this CPU's kernels where that is
 * faster (model/regroup.c); called once by lair_model_load. */
lair_status lair_model_regroup(lair_model *m, lair_err *err);

#endif
