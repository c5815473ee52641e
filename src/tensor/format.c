/* The traits table: one row per ggml type id.  Formats lair cannot compute
 * with yet still carry their geometry (so tensors of them can be sized and
 * listed) but have NULL (de)quantizers. */
#include <stddef.h>

#include "core/checked.h"
#include "tensor/format.h"
#include "tensor/quant_internal.h"

#define ROW(id, nm, bs, bb, q, tf, ff) [id] = {nm, bs, bb, q, tf, ff}

static const lair_type_traits type_traits[LAIR_TYPE_COUNT] = {
    ROW(LAIR_TYPE_F32, "f32", 1, 4, false, lair_f32_to_float, lair_f32_from_float),
    ROW(LAIR_TYPE_F16, "f16", 1, 2, false, lair_f16_to_float, lair_f16_from_float),
    ROW(LAIR_TYPE_Q4_0, "q4_0", 32, 18, true, lair_q4_0_to_float, lair_q4_0_from_float),
    ROW(LAIR_TYPE_Q4_1, "q4_1", 32, 20, true, lair_q4_1_to_float, lair_q4_1_from_float),
    ROW(LAIR_TYPE_Q5_0, "q5_0", 32, 22, true, lair_q5_0_to_float, lair_q5_0_from_float),
    ROW(LAIR_TYPE_Q5_1, "q5_1", 32, 24, true, lair_q5_1_to_float, lair_q5_1_from_float),
    ROW(LAIR_TYPE_Q8_0, "q8_0", 32, 34, true, lair_q8_0_to_float, lair_q8_0_from_float),
    ROW(LAIR_TYPE_Q8_1, "q8_1", 32, 36, true, lair_q8_1_to_float, lair_q8_1_from_float),
    ROW(LAIR_TYPE_Q2_K, "q2_K", 256, 84, true, lair_q2_K_to_float, lair_q2_K_from_float),
    ROW(LAIR_TYPE_Q3_K, "q3_K", 256, 110, true, lair_q3_K_to_float, lair_q3_K_from_float),
    ROW(LAIR_TYPE_Q4_K, "q4_K", 256, 144, true, lair_q4_K_to_float, lair_q4_K_from_float),
    ROW(LAIR_TYPE_Q5_K, "q5_K", 256, 176, true, lair_q5_K_to_float, lair_q5_K_from_float),
    ROW(LAIR_TYPE_Q6_K, "q6_K", 256, 210, true, lair_q6_K_to_float, lair_q6_K_from_float),
    ROW(LAIR_TYPE_Q8_K, "q8_K", 256, 292, true, lair_q8_K_to_float, lair_q8_K_from_float),
    ROW(LAIR_TYPE_IQ2_XXS, "iq2_xxs", 256, 66, true, NULL, NULL),
    ROW(LAIR_TYPE_IQ2_XS, "iq2_xs", 256, 74, true, NULL, NULL),
    ROW(LAIR_TYPE_IQ3_XXS, "iq3_xxs", 256, 98, true, NULL, NULL),
    ROW(LAIR_TYPE_IQ1_S, "iq1_s", 256, 50, true, NULL, NULL),
    ROW(LAIR_TYPE_IQ4_NL, "iq4_nl", 32, 18, true, lair_iq4_nl_to_float, lair_iq4_nl_from_float),
    ROW(LAIR_TYPE_IQ3_S, "iq3_s", 256, 110, true, NULL, NULL),
    ROW(LAIR_TYPE_IQ2_S, "iq2_s", 256, 82, true, NULL, NULL),
    ROW(LAIR_TYPE_IQ4_XS, "iq4_xs", 256, 136, true, lair_iq4_xs_to_float, lair_iq4_xs_from_float),
    ROW(LAIR_TYPE_I8, "i8", 1, 1, false, NULL, NULL),
    ROW(LAIR_TYPE_I16, "i16", 1, 2, false, NULL, NULL),
    ROW(LAIR_TYPE_I32, "i32", 1, 4, false, NULL, NULL),
    ROW(LAIR_TYPE_I64, "i64", 1, 8, false, NULL, NULL),
    ROW(LAIR_TYPE_F64, "f64", 1, 8, false, lair_f64_to_float, NULL),
    ROW(LAIR_TYPE_IQ1_M, "iq1_m", 256, 56, true, NULL, NULL),
    ROW(LAIR_TYPE_BF16, "bf16", 1, 2, false, lair_bf16_to_float, lair_bf16_from_float),
    ROW(LAIR_TYPE_TQ1_0, "tq1_0", 256, 54, true, NULL, NULL),
    ROW(LAIR_TYPE_TQ2_0, "tq2_0", 256, 66, true, NULL, NULL),
    ROW(LAIR_TYPE_MXFP4, "mxfp4", 32, 17, true, NULL, NULL),
};

const lair_type_traits *lair_type_traits_of(lair_type t) {
    int i = (int)t;
    if (i < 0 || i >= LAIR_TYPE_COUNT) return NULL;
    const lair_type_traits *tr = &type_traits[i];
    return tr->name ? tr : NULL; /* retired ids are the empty rows */
}

const char *lair_type_name(lair_type t) {
    const lair_type_traits *tr = lair_type_traits_of(t);
    return tr ? tr->name : NULL;
}

static int ascii_lower(int c) { return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c; }

static bool name_equal_nocase(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        if (ascii_lower((unsigned char)*a) != ascii_lower((unsigned char)*b)) return false;
    }
    return *a == *b;
}

bool lair_type_from_name(const char *name, lair_type *out) {
    if (!name) return false;
    for (int i = 0; i < LAIR_TYPE_COUNT; i++) {
        const char *nm = type_traits[i].name;
        if (nm && name_equal_nocase(name, nm)) {
            *out = (lair_type)i;
            return true;
        }
    }
    return false;
}

bool lair_type_row_bytes(lair_type t, int64_t n, uint64_t *out) {
    const lair_type_traits *tr = lair_type_traits_of(t);
    if (!tr || n < 0 || n % tr->block_size != 0) return false;
    return !ck_mul_u64((uint64_t)(n / tr->block_size), (uint64_t)tr->block_bytes, out);
}
