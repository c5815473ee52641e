/* Quantization recipes: which format each tensor of a model gets.  A recipe
 * is either one format for every weight matrix ("q8_0") or a mix that gives
 * the tensors that matter most more bits ("q4_k_m").  The choices follow the
 * conventions of llama.cpp's file types, so a lair-made Q4_K_M file has the
 * same per-tensor formats as one downloaded from a model hub. */
#ifndef LAIR_MODEL_RECIPE_H
#define LAIR_MODEL_RECIPE_H

#include <stdbool.h>
#include <stdint.h>

#include "lair.h"

typedef enum lair_ftype { /* general.file_type values (llama.cpp's LLAMA_FTYPE_MOSTLY_*) */
    LAIR_FTYPE_F32 = 0,
    LAIR_FTYPE_F16 = 1,
    LAIR_FTYPE_Q4_0 = 2,
    LAIR_FTYPE_Q4_1 = 3,
    LAIR_FTYPE_Q8_0 = 7,
    LAIR_FTYPE_Q5_0 = 8,
    LAIR_FTYPE_Q5_1 = 9,
    LAIR_FTYPE_Q2_K = 10,
    LAIR_FTYPE_Q3_K_S = 11,
    LAIR_FTYPE_Q3_K_M = 12,
    LAIR_FTYPE_Q3_K_L = 13,
    LAIR_FTYPE_Q4_K_S = 14,
    LAIR_FTYPE_Q4_K_M = 15,
    LAIR_FTYPE_Q5_K_S = 16,
    LAIR_FTYPE_Q5_K_M = 17,
    LAIR_FTYPE_Q6_K = 18,
    LAIR_FTYPE_IQ4_NL = 25,
    LAIR_FTYPE_IQ4_XS = 30,
    LAIR_FTYPE_BF16 = 32,
} lair_ftype;

typedef struct lair_recipe {
    const char *name;  /* "q4_k_m" */
    lair_ftype ftype;
    lair_type base;    /* the format most weight matrices get */
} lair_recipe;

/* Accepts recipe names (q4_k_m, q3_k_s, ...) and format names (q4_0, q6_K,
 * f16, ...; plain q3_K/q4_K/q5_K mean their _S recipes), case-insensitive. */
const lair_recipe *lair_recipe_find(const char *name);
const lair_recipe *lair_recipe_at(int i); /* listing; NULL past the end */

/* What the recipe needs to know about the model. */
typedef struct lair_recipe_model {
    int64_t n_layer;
    int64_t n_expert;   /* 0 for dense models */
    int64_t n_gqa;      /* query heads per KV head */
    bool has_output;    /* false when output.weight is absent (tied embeddings) */
} lair_recipe_model;

/* The format for tensor `name` of shape ne (n_dims dims) whose source format
 * is `src`.  Tensors that are not weight matrices (norms, biases, routers,
 * rope factors) keep their source format. */
lair_type lair_recipe_tensor_type(const lair_recipe *r, const lair_recipe_model *m, const char *name, int n_dims,
                                  const int64_t *ne, lair_type src);

#endif
