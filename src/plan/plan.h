/* Memory and speed planning: will a model fit on a machine, and how fast can
 * decode be at best.  Pure formulas over shapes and machine figures; nothing
 * here loads weights or reads the catalog file (the CLI parses that). */
#ifndef LAIR_PLAN_PLAN_H
#define LAIR_PLAN_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "lair.h"
#include "model/presets.h"
#include "model/recipe.h"

#define LAIR_GIB 1073741824.0

/* The shape figures the formulas need (from a preset or a GGUF's metadata). */
typedef struct lair_plan_shape {
    int64_t n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_rot;
    int64_t n_expert; /* 0: dense */
} lair_plan_shape;

/* The seed's weight table: params x bits / 8 bytes, +10% overhead, in GiB. */
double lair_plan_seed_weights_gib(double n_params, double bits);
/* The seed's KV table: 2 (K and V) x layers x KV heads x head size x context
 * x bytes per element, in GiB (bytes per element 2, 1, 0.5 for FP16/8/4-bit). */
double lair_plan_seed_kv_gib(int64_t n_layer, int64_t n_head_kv, int64_t head_dim, int64_t n_ctx, double bytes_per_elem);

/* Exact weight bytes of the file `lair gen --preset P --type R` writes (the
 * same tensor list and per-tensor formats); *n_params gets the element count. */
lair_status lair_plan_preset_weights(const lair_preset *p, const lair_recipe *r, uint64_t *bytes, uint64_t *n_params,
                                     lair_err *err);
lair_plan_shape lair_plan_shape_of_preset(const lair_preset *p);

/* KV cache bytes for n_seq sequences of n_ctx tokens each, in lair's layout
 * (kv_type rows of head_dim elements); false if kv_type has no block layout
 * that divides head_dim. */
bool lair_plan_kv_bytes(const lair_plan_shape *s, int64_t n_ctx, int n_seq, lair_type kv_type, uint64_t *out);
/* Compute buffers lair_context_create allocates (same formula as
 * lair_context_memory), for n_ctx cells, n_batch tokens and n_threads. */
uint64_t lair_plan_buffers(const lair_plan_shape *s, int64_t n_ctx, int64_t n_batch, int n_threads);

/* A machine: catalog entry or measured. */
typedef struct lair_plan_machine {
    const char *name;
    double mem_gib;        /* memory the model can use (VRAM for a discrete GPU) */
    double bandwidth_gbs;  /* memory read bandwidth, 10^9 bytes/s */
    double compute_tflops; /* peak, 10^12 FLOP/s (0: unknown) */
    double power_w;        /* 0: unknown */
    double price_yen;      /* 0: unknown */
    const char *kind;      /* "apple", "cpu", "gpu", "gb10" */
} lair_plan_machine;

typedef struct lair_plan_input {
    lair_plan_shape shape;
    uint64_t weight_bytes;
    uint64_t n_params;
    int64_t n_ctx;   /* per sequence */
    int n_seq;
    lair_type kv_type;
    int64_t n_batch;
    int n_threads;
} lair_plan_input;

typedef struct lair_plan_result {
    uint64_t weights, kv, buffers, overhead, total; /* bytes */
    bool fits;
    double margin_gib;          /* memory minus total (negative: short by) */
    int64_t max_ctx;            /* largest per-sequence context with this KV type (0: none) */
    lair_type fit_kv_type;      /* widest KV type that fits at n_ctx; LAIR_TYPE_COUNT: none */
    double decode_tps_bound;    /* bandwidth / bytes read per token */
    double prefill_tps_est;     /* compute peak / (2 x params) at 50% utilisation; 0: unknown peak */
} lair_plan_result;

/* Runtime overhead beyond weights, KV and buffers: code, tokenizer, heap
 * slack.  A fixed 256 MiB, measured as lair's RSS minus those on small models. */
#define LAIR_PLAN_OVERHEAD_BYTES (256ull << 20)

lair_status lair_plan_compute(const lair_plan_input *in, const lair_plan_machine *m, lair_plan_result *out, lair_err *err);

/* The seed's tier for a machine: "A-16", "A-24/32", "A-64", "A-96/128", "W-CPU1", "W-CPU2", "G-8" ... "G-24";
 * NULL when outside them all (e.g. > 128 GB Apple or > 24 GB VRAM gives the top tier of its kind). */
const char *lair_plan_tier(const char *kind, double mem_gib);

#endif
