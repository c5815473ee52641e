/* Architectures as data: what differs between Llama, Qwen2, Phi-3, Gemma 2
 * (and Mixtral, a Llama with experts) is a handful of switches, so adding the
 * next family is one table row plus, at most, a small hook in the forward
 * pass. */
#ifndef LAIR_MODEL_ARCH_H
#define LAIR_MODEL_ARCH_H

#include <stdbool.h>

typedef enum lair_rope_kind {
    LAIR_ROPE_NORM, /* rotate adjacent pairs (x[2i], x[2i+1]) — GGUF llama */
    LAIR_ROPE_NEOX, /* rotate halves (x[i], x[i + n_rot/2]) */
} lair_rope_kind;

typedef enum lair_ffn_act { LAIR_FFN_SILU, LAIR_FFN_GELU } lair_ffn_act;

typedef struct lair_arch {
    const char *name;       /* general.architecture */
    lair_rope_kind rope;
    lair_ffn_act act;       /* gate activation: act(gate(x)) * up(x) */
    bool qkv_bias;          /* attn_{q,k,v}.bias (Qwen2) */
    bool fused_qkv;         /* one attn_qkv.weight (Phi-3) */
    bool fused_gate_up;     /* ffn_up holds [gate; up] (Phi-3) */
    bool embed_scale;       /* embeddings times sqrt(n_embd) (Gemma) */
    bool post_norms;        /* post_attention_norm and post_ffw_norm (Gemma 2) */
    bool swa_alternating;   /* sliding window on even layers only (Gemma 2); else all layers when set */
    bool tied_default;      /* output.weight normally absent */
    bool q_prescale;        /* queries scaled by 1/sqrt(head_dim) before K.Q (not the scores after) */
} lair_arch;

/* NULL for an architecture lair does not implement. */
const lair_arch *lair_arch_find(const char *name);
/* "llama, qwen2, phi3, gemma2" — for error messages. */
const char *lair_arch_names(void);

#endif
