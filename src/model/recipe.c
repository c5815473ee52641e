#include "model/recipe.h"

#include <stdlib.h>
#include <string.h>

#include "tensor/format.h"

/* ASCII case-insensitive equality (strcasecmp is not portable to Windows). */
static bool name_eq(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        char x = (*a >= 'A' && *a <= 'Z') ? (char)(*a + 32) : *a, y = (*b >= 'A' && *b <= 'Z') ? (char)(*b + 32) : *b;
        if (x != y) return false;
    }
    return *a == *b;
}

static const lair_recipe recipes[] = {
    {"f32", LAIR_FTYPE_F32, LAIR_TYPE_F32},       {"f16", LAIR_FTYPE_F16, LAIR_TYPE_F16},
    {"bf16", LAIR_FTYPE_BF16, LAIR_TYPE_BF16},    {"q8_0", LAIR_FTYPE_Q8_0, LAIR_TYPE_Q8_0},
    {"q4_0", LAIR_FTYPE_Q4_0, LAIR_TYPE_Q4_0},    {"q4_1", LAIR_FTYPE_Q4_1, LAIR_TYPE_Q4_1},
    {"q5_0", LAIR_FTYPE_Q5_0, LAIR_TYPE_Q5_0},    {"q5_1", LAIR_FTYPE_Q5_1, LAIR_TYPE_Q5_1},
    {"q2_k", LAIR_FTYPE_Q2_K, LAIR_TYPE_Q2_K},    {"q3_k_s", LAIR_FTYPE_Q3_K_S, LAIR_TYPE_Q3_K},
    {"q3_k_m", LAIR_FTYPE_Q3_K_M, LAIR_TYPE_Q3_K}, {"q3_k_l", LAIR_FTYPE_Q3_K_L, LAIR_TYPE_Q3_K},
    {"q4_k_s", LAIR_FTYPE_Q4_K_S, LAIR_TYPE_Q4_K}, {"q4_k_m", LAIR_FTYPE_Q4_K_M, LAIR_TYPE_Q4_K},
    {"q5_k_s", LAIR_FTYPE_Q5_K_S, LAIR_TYPE_Q5_K}, {"q5_k_m", LAIR_FTYPE_Q5_K_M, LAIR_TYPE_Q5_K},
    {"q6_k", LAIR_FTYPE_Q6_K, LAIR_TYPE_Q6_K},    {"iq4_nl", LAIR_FTYPE_IQ4_NL, LAIR_TYPE_IQ4_NL},
    {"iq4_xs", LAIR_FTYPE_IQ4_XS, LAIR_TYPE_IQ4_XS},
};
#define N_RECIPES (sizeof recipes / sizeof recipes[0])

const lair_recipe *lair_recipe_at(int i) { return i >= 0 && (size_t)i < N_RECIPES ? &recipes[i] : NULL; }

const lair_recipe *lair_recipe_find(const char *name) {
    static const struct { const char *alias, *recipe; } aliases[] = {
        {"q3_k", "q3_k_s"}, {"q4_k", "q4_k_s"}, {"q5_k", "q5_k_s"}};
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (name_eq(name, aliases[i].alias)) name = aliases[i].recipe;
    for (size_t i = 0; i < N_RECIPES; i++)
        if (name_eq(recipes[i].name, name)) return &recipes[i];
    return NULL;
}

/* Layers near both ends, and every third one between, get more bits. */
static bool use_more_bits(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* "blk.12.ffn_down.weight" -> 12; -1 when there is no block number. */
static int64_t layer_of(const char *name) {
    if (strncmp(name, "blk.", 4) != 0) return -1;
    char *end;
    long v = strtol(name + 4, &end, 10);
    return end != name + 4 && *end == '.' ? v : -1;
}

static bool is_ftype(const lair_recipe *r, lair_ftype a) { return r->ftype == a; }

/* When a row does not divide into the chosen format's blocks, the nearest
 * format with 32-element blocks takes over. */
static lair_type fallback_for_row(lair_type t, int64_t ne0) {
    const lair_type_traits *tr = lair_type_traits_of(t);
    if (tr && ne0 % tr->block_size == 0) return t;
    switch (t) {
    case LAIR_TYPE_Q2_K: case LAIR_TYPE_Q3_K: case LAIR_TYPE_IQ4_XS: t = LAIR_TYPE_IQ4_NL; break;
    case LAIR_TYPE_Q4_K: t = LAIR_TYPE_Q5_0; break;
    case LAIR_TYPE_Q5_K: t = LAIR_TYPE_Q5_1; break;
    case LAIR_TYPE_Q6_K: t = LAIR_TYPE_Q8_0; break;
    default: break;
    }
    tr = lair_type_traits_of(t);
    return tr && ne0 % tr->block_size == 0 ? t : LAIR_TYPE_F16;
}

lair_type lair_recipe_tensor_type(const lair_recipe *r, const lair_recipe_model *m, const char *name, int n_dims,
                                  const int64_t *ne, lair_type src) {
    bool matrix = n_dims >= 2 && ends_with(name, ".weight") && !strstr(name, "ffn_gate_inp") &&
                  !strstr(name, "rope_freqs") && !strstr(name, "_norm");
    if (!matrix) return src;
    lair_type t = r->base;
    const lair_type_traits *tr = lair_type_traits_of(t);
    if (!tr || !tr->quantized) return fallback_for_row(t, ne[0]); /* f32 / f16 / bf16: uniform */

    int64_t il = layer_of(name), nl = m->n_layer > 0 ? m->n_layer : 1;
    bool is_output = strcmp(name, "output.weight") == 0 || (!m->has_output && strcmp(name, "token_embd.weight") == 0);
    if (is_output) {
        if (ne[0] % 256 != 0) t = LAIR_TYPE_Q8_0;
        else if (t != LAIR_TYPE_Q8_0) t = LAIR_TYPE_Q6_K;
    } else if (strstr(name, "attn_v.weight")) {
        if (is_ftype(r, LAIR_FTYPE_Q2_K)) t = m->n_gqa >= 4 ? LAIR_TYPE_Q4_K : LAIR_TYPE_Q3_K;
        else if (is_ftype(r, LAIR_FTYPE_Q3_K_M)) t = il < 2 ? LAIR_TYPE_Q5_K : LAIR_TYPE_Q4_K;
        else if (is_ftype(r, LAIR_FTYPE_Q3_K_L)) t = LAIR_TYPE_Q5_K;
        else if ((is_ftype(r, LAIR_FTYPE_IQ4_NL) || is_ftype(r, LAIR_FTYPE_IQ4_XS)) && m->n_gqa >= 4) t = LAIR_TYPE_Q5_K;
        else if ((is_ftype(r, LAIR_FTYPE_Q4_K_M) || is_ftype(r, LAIR_FTYPE_Q5_K_M)) && use_more_bits(il, nl)) t = LAIR_TYPE_Q6_K;
        else if (is_ftype(r, LAIR_FTYPE_Q4_K_S) && il < 4) t = LAIR_TYPE_Q5_K;
        if (m->n_expert == 8) t = LAIR_TYPE_Q8_0; /* tiny next to 8 experts' FFNs, and it matters */
    } else if (strstr(name, "attn_k.weight")) {
        if (m->n_expert == 8) t = LAIR_TYPE_Q8_0;
    } else if (strstr(name, "ffn_down")) {
        if (is_ftype(r, LAIR_FTYPE_Q2_K)) t = LAIR_TYPE_Q3_K;
        else if (is_ftype(r, LAIR_FTYPE_Q3_K_M)) t = il < nl / 16 ? LAIR_TYPE_Q5_K : LAIR_TYPE_Q4_K;
        else if (is_ftype(r, LAIR_FTYPE_Q3_K_L)) t = LAIR_TYPE_Q5_K;
        else if ((is_ftype(r, LAIR_FTYPE_Q4_K_M) || is_ftype(r, LAIR_FTYPE_Q5_K_M)) && use_more_bits(il, nl)) t = LAIR_TYPE_Q6_K;
        else if (is_ftype(r, LAIR_FTYPE_Q4_K_S) && il < nl / 8) t = LAIR_TYPE_Q5_K;
        else if ((is_ftype(r, LAIR_FTYPE_IQ4_NL) || is_ftype(r, LAIR_FTYPE_IQ4_XS)) && il < nl / 8) t = LAIR_TYPE_Q5_K;
    } else if (strstr(name, "attn_output.weight")) {
        if (m->n_expert == 8) {
            if (is_ftype(r, LAIR_FTYPE_Q2_K) || is_ftype(r, LAIR_FTYPE_Q3_K_S) || is_ftype(r, LAIR_FTYPE_Q3_K_M) ||
                is_ftype(r, LAIR_FTYPE_IQ4_NL) || is_ftype(r, LAIR_FTYPE_Q4_K_S) || is_ftype(r, LAIR_FTYPE_Q4_K_M) ||
                is_ftype(r, LAIR_FTYPE_IQ4_XS))
                t = LAIR_TYPE_Q5_K;
        } else {
            if (is_ftype(r, LAIR_FTYPE_Q2_K)) t = LAIR_TYPE_Q3_K;
            else if (is_ftype(r, LAIR_FTYPE_Q3_K_M)) t = LAIR_TYPE_Q4_K;
            else if (is_ftype(r, LAIR_FTYPE_Q3_K_L)) t = LAIR_TYPE_Q5_K;
        }
    } else if (strstr(name, "attn_qkv.weight")) {
        if (is_ftype(r, LAIR_FTYPE_Q3_K_M) || is_ftype(r, LAIR_FTYPE_Q3_K_L)) t = LAIR_TYPE_Q4_K;
        else if (is_ftype(r, LAIR_FTYPE_Q4_K_M)) t = LAIR_TYPE_Q5_K;
        else if (is_ftype(r, LAIR_FTYPE_Q5_K_M)) t = LAIR_TYPE_Q6_K;
    }
    return fallback_for_row(t, ne[0]);
}
