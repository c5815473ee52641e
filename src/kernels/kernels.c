/* Kernel tables per ISA and the choice of one for this process.
 *
 * Tables are constant and complete: an ISA without its own variant of a
 * format lists the scalar function, so a caller never needs a fallback.
 * The choice (lair_kernels_get) is made once, on the first call, and
 * published with a C11 atomic pointer: concurrent first calls are safe
 * (each computes the same answer; the first store wins). */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "kernels/kernels.h"
#include "kernels/kernels_internal.h"
#include "kernels/kernels_neon.h"

lair_type lair_vec_dot_type(lair_type weight) {
    switch (weight) {
    case LAIR_TYPE_F32: return LAIR_TYPE_F32;
    case LAIR_TYPE_F16: return LAIR_TYPE_F16;
    case LAIR_TYPE_BF16: return LAIR_TYPE_BF16;
    case LAIR_TYPE_Q4_0:
    case LAIR_TYPE_Q5_0:
    case LAIR_TYPE_Q8_0:
    case LAIR_TYPE_IQ4_NL: return LAIR_TYPE_Q8_0;
    case LAIR_TYPE_Q4_1:
    case LAIR_TYPE_Q5_1: return LAIR_TYPE_Q8_1;
    case LAIR_TYPE_Q2_K:
    case LAIR_TYPE_Q3_K:
    case LAIR_TYPE_Q4_K:
    case LAIR_TYPE_Q5_K:
    case LAIR_TYPE_Q6_K:
    case LAIR_TYPE_IQ4_XS: return LAIR_TYPE_Q8_K;
    default: return LAIR_TYPE_COUNT;
    }
}

static const lair_kernels kernels_scalar = {
    LAIR_ISA_SCALAR,
    "scalar",
    {
        [LAIR_TYPE_F32] = lair_vec_dot_f32_scalar,
        [LAIR_TYPE_F16] = lair_vec_dot_f16_scalar,
        [LAIR_TYPE_BF16] = lair_vec_dot_bf16_scalar,
        [LAIR_TYPE_Q4_0] = lair_vec_dot_q4_0_scalar,
        [LAIR_TYPE_Q4_1] = lair_vec_dot_q4_1_scalar,
        [LAIR_TYPE_Q5_0] = lair_vec_dot_q5_0_scalar,
        [LAIR_TYPE_Q5_1] = lair_vec_dot_q5_1_scalar,
        [LAIR_TYPE_Q8_0] = lair_vec_dot_q8_0_scalar,
        [LAIR_TYPE_Q2_K] = lair_vec_dot_q2_K_scalar,
        [LAIR_TYPE_Q3_K] = lair_vec_dot_q3_K_scalar,
        [LAIR_TYPE_Q4_K] = lair_vec_dot_q4_K_scalar,
        [LAIR_TYPE_Q5_K] = lair_vec_dot_q5_K_scalar,
        [LAIR_TYPE_Q6_K] = lair_vec_dot_q6_K_scalar,
        [LAIR_TYPE_IQ4_NL] = lair_vec_dot_iq4_nl_scalar,
        [LAIR_TYPE_IQ4_XS] = lair_vec_dot_iq4_xs_scalar,
    },
    {0}, /* no multi-row kernels: the engine calls vec_dot per row */
    {[LAIR_TYPE_F32] = lair_axpy_f32_scalar, [LAIR_TYPE_F16] = lair_axpy_f16_scalar},
    {0}, /* no gemv kernels: the engine calls vec_dot per row */
    {0}, /* no gemm kernels */
    {0},
    {[LAIR_TYPE_F16] = lair_attn_scores_f16_scalar},
    {[LAIR_TYPE_F32] = lair_attn_values_f32_scalar, [LAIR_TYPE_F16] = lair_attn_values_f16_scalar},
    {0}, /* activations quantized by the formats' own from_float */
    lair_exp_scalar,
    lair_softmax_scalar,
    lair_silu_mul_scalar,
    {0}, /* weights stay in the file's layout: the scalar path is the specification */
    {0},
    lair_read_scalar,
};

#if defined(__x86_64__)
/* The two x86 tables: every format has an AVX2 variant today (one without
 * would list its scalar function here).  The AVX-512 table is the AVX2 one
 * with the matrix kernels (gemv on regrouped rows, gemm) built again for
 * AVX-512 VNNI (suffix M: avx2 or avx512, see avx2_inline.h); the other
 * operations are memory-bound or a small share of the time, and their AVX2
 * variants serve both. */
#define X86_KERNELS(ISA, NAME, M)                                                              \
{                                                                                                \
    ISA,                                                                                         \
    NAME,                                                                                        \
    {                                                                                            \
        [LAIR_TYPE_F32] = lair_vec_dot_f32_avx2,                                                 \
        [LAIR_TYPE_F16] = lair_vec_dot_f16_avx2,                                                 \
        [LAIR_TYPE_BF16] = lair_vec_dot_bf16_avx2,                                               \
        [LAIR_TYPE_Q4_0] = lair_vec_dot_q4_0_avx2,                                               \
        [LAIR_TYPE_Q4_1] = lair_vec_dot_q4_1_avx2,                                               \
        [LAIR_TYPE_Q5_0] = lair_vec_dot_q5_0_avx2,                                               \
        [LAIR_TYPE_Q5_1] = lair_vec_dot_q5_1_avx2,                                               \
        [LAIR_TYPE_Q8_0] = lair_vec_dot_q8_0_avx2,                                               \
        [LAIR_TYPE_Q2_K] = lair_vec_dot_q2_K_avx2,                                               \
        [LAIR_TYPE_Q3_K] = lair_vec_dot_q3_K_avx2,                                               \
        [LAIR_TYPE_Q4_K] = lair_vec_dot_q4_K_avx2,                                               \
        [LAIR_TYPE_Q5_K] = lair_vec_dot_q5_K_avx2,                                               \
        [LAIR_TYPE_Q6_K] = lair_vec_dot_q6_K_avx2,                                               \
        [LAIR_TYPE_IQ4_NL] = lair_vec_dot_iq4_nl_avx2,                                           \
        [LAIR_TYPE_IQ4_XS] = lair_vec_dot_iq4_xs_avx2,                                           \
    },                                                                                           \
    {                                                                                            \
        /* multi-row kernels (prefill); the engine calls vec_dot per row for the rest */         \
        [LAIR_TYPE_Q4_0] = lair_vec_dot_q4_0_rows_avx2,                                          \
        [LAIR_TYPE_Q8_0] = lair_vec_dot_q8_0_rows_avx2,                                          \
        [LAIR_TYPE_Q4_K] = lair_vec_dot_q4_K_rows_avx2,                                          \
        [LAIR_TYPE_Q6_K] = lair_vec_dot_q6_K_rows_avx2,                                          \
    },                                                                                           \
    {[LAIR_TYPE_F32] = lair_axpy_f32_avx2, [LAIR_TYPE_F16] = lair_axpy_f16_avx2},                \
    {                                                                                            \
        /* matrix x vector (decode); the engine calls vec_dot per row for the rest */            \
        [LAIR_TYPE_Q4_0] = lair_gemv_q4_0_avx2,                                                  \
        [LAIR_TYPE_Q8_0] = lair_gemv_q8_0_avx2,                                                  \
        [LAIR_TYPE_Q4_K] = lair_gemv_q4_K_avx2,                                                  \
        [LAIR_TYPE_Q6_K] = lair_gemv_q6_K_avx2,                                                  \
    },                                                                                           \
    {                                                                                            \
        /* matrix x matrix (prefill); the engine uses the multi-row kernels for the rest */      \
        [LAIR_TYPE_Q4_0] = lair_gemm_q4_0_##M,                                                   \
        [LAIR_TYPE_Q8_0] = lair_gemm_q8_0_##M,                                                   \
        [LAIR_TYPE_Q4_K] = lair_gemm_q4_K_##M,                                                   \
        [LAIR_TYPE_Q6_K] = lair_gemm_q6_K_##M,                                                   \
    },                                                                                           \
    /* break-even batch sizes against the multi-row kernels, one thread,                         \
     * 2048 x 4096 matrices (AMD EPYC Zen 3, AVX2), gemm / rows, three runs                      \
     * each: Q4_0 1.3-1.4x at 2 tokens, 1.7x at 4; Q8_0 1.06x at 3, 1.2x                         \
     * at 4; Q4_K 1.2x at 4, 1.2-1.5x at 6; Q6_K 0.94-1.4x at 16, 1.0-1.1x                       \
     * at 20, 1.1-1.2x at 24 (the AVX-512 table keeps them) */                                  \
    {[LAIR_TYPE_Q4_0] = 2, [LAIR_TYPE_Q8_0] = 4, [LAIR_TYPE_Q4_K] = 4, [LAIR_TYPE_Q6_K] = 20},   \
    {[LAIR_TYPE_F16] = lair_attn_scores_f16_avx2},                                               \
    {[LAIR_TYPE_F32] = lair_attn_values_f32_avx2, [LAIR_TYPE_F16] = lair_attn_values_f16_avx2},  \
    {[LAIR_TYPE_Q8_0] = lair_quantize_q8_0_avx2, [LAIR_TYPE_Q8_K] = lair_quantize_q8_K_avx2},    \
    lair_exp_avx2,                                                                               \
    lair_softmax_avx2,                                                                           \
    lair_silu_mul_avx2,                                                                          \
    {[LAIR_TYPE_Q4_0] = lair_gemv_rows8_q4_0_##M, [LAIR_TYPE_Q8_0] = lair_gemv_rows8_q8_0_##M,   \
     [LAIR_TYPE_Q4_K] = lair_gemv_rows8_q4_K_##M, [LAIR_TYPE_Q6_K] = lair_gemv_rows8_q6_K_##M},  \
    {[LAIR_TYPE_Q4_0] = lair_gemm_rows8_q4_0_##M, [LAIR_TYPE_Q8_0] = lair_gemm_rows8_q8_0_##M,   \
     [LAIR_TYPE_Q4_K] = lair_gemm_rows8_q4_K_##M, [LAIR_TYPE_Q6_K] = lair_gemm_rows8_q6_K_##M},  \
    lair_read_avx2,                                                                              \
}

static const lair_kernels kernels_avx2 = X86_KERNELS(LAIR_ISA_AVX2, "avx2", avx2);
static const lair_kernels kernels_avx512 = X86_KERNELS(LAIR_ISA_AVX512, "avx512", avx512);

/* AVX2, FMA and F16C (every AVX2 CPU has F16C, but the kernels use it, so
 * it is checked), with the OS saving the YMM state (libgcc's
 * __builtin_cpu_supports checks XGETBV for AVX features).  F16C comes from
 * CPUID directly because clang's builtin does not know its name.  Cached:
 * CPUID traps to the hypervisor in virtual machines. */
static bool cpu_has_avx2(void) {
    static atomic_int cached = 0; /* 0 unknown, 1 yes, 2 no */
    int v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (v) return v == 1;
    __builtin_cpu_init();
    bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    unsigned a, b, c, d;
    ok = ok && __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
    atomic_store_explicit(&cached, ok ? 1 : 2, memory_order_relaxed);
    return ok;
}

/* The AVX-512 table: AVX2 as above and AVX-512 F, BW, VL and VNNI, with
 * the OS saving the opmask and ZMM state (checked by libgcc's builtin as
 * for AVX2).  Cached like cpu_has_avx2. */
static bool cpu_has_avx512_vnni(void) {
    static atomic_int cached = 0;
    int v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (v) return v == 1;
    __builtin_cpu_init();
    bool ok = cpu_has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
              __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
    atomic_store_explicit(&cached, ok ? 1 : 2, memory_order_relaxed);
    return ok;
}
#endif

const lair_kernels *lair_kernels_for(lair_isa isa) {
    switch (isa) {
    case LAIR_ISA_SCALAR: return &kernels_scalar;
#if defined(__x86_64__)
    case LAIR_ISA_AVX2: return cpu_has_avx2() ? &kernels_avx2 : NULL;
    case LAIR_ISA_AVX512: return cpu_has_avx512_vnni() ? &kernels_avx512 : NULL;
#endif
#if defined(__aarch64__)
    case LAIR_ISA_NEON: return lair_neon_usable() ? lair_kernels_neon_table() : NULL;
#endif
    default: return NULL;
    }
}

static const char *const isa_names[LAIR_ISA_COUNT] = {"scalar", "avx2", "avx512", "neon"};

/* Best first. */
static const lair_isa isa_preference[] = {LAIR_ISA_AVX512, LAIR_ISA_AVX2, LAIR_ISA_NEON, LAIR_ISA_SCALAR};

static const lair_kernels *best_kernels(void) {
    for (size_t i = 0; i < sizeof isa_preference / sizeof isa_preference[0]; i++) {
        const lair_kernels *k = lair_kernels_for(isa_preference[i]);
        if (k) return k;
    }
    return &kernels_scalar; /* not reached: scalar is always there */
}

static bool name_is(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        char ca = (*a >= 'A' && *a <= 'Z') ? (char)(*a - 'A' + 'a') : *a;
        if (ca != *b) return false;
    }
    return *a == *b;
}

static atomic_flag warned = ATOMIC_FLAG_INIT;

/* LAIR_ISA (case-insensitive) if set, known and available; else the best. */
static const lair_kernels *select_kernels(void) {
    const lair_kernels *best = best_kernels();
    const char *want = getenv("LAIR_ISA");
    if (!want || !*want) return best;
    for (int i = 0; i < LAIR_ISA_COUNT; i++) {
        if (!name_is(want, isa_names[i])) continue;
        const lair_kernels *k = lair_kernels_for((lair_isa)i);
        if (k) return k;
        if (!atomic_flag_test_and_set(&warned))
            fprintf(stderr, "lair: LAIR_ISA=%s is not available on this CPU or build; using %s\n", want, best->name);
        return best;
    }
    if (!atomic_flag_test_and_set(&warned))
        fprintf(stderr, "lair: LAIR_ISA=%s is unknown (scalar|avx2|avx512|neon); using %s\n", want, best->name);
    return best;
}

static _Atomic(const lair_kernels *) chosen = NULL;

const lair_kernels *lair_kernels_get(void) {
    const lair_kernels *k = atomic_load_explicit(&chosen, memory_order_acquire);
    if (k) return k;
    k = select_kernels();
    const lair_kernels *expected = NULL;
    if (!atomic_compare_exchange_strong_explicit(&chosen, &expected, k, memory_order_acq_rel, memory_order_acquire))
        k = expected; /* another thread chose first */
    return k;
}
