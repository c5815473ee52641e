/* The formats against files written by llama.cpp (tests/testdata golden/).
 *
 * decode_*: every tensor of every golden file, decoded by lair, must match the
 *   float weights it was made from (the family's F32/F16 file) within the
 *   format's resolution: a small NMSE, and nearly every element within half
 *   a level step of the block it sits in.  A layout error (wrong nibble,
 *   wrong scale) shows up as errors the size of the weights themselves.
 * quantize_*: lair's quantizer, applied to the same float weights and writing
 *   the same format per tensor, must reach an RMS error of at most 1.05x that
 *   of llama.cpp's quantizer (per file and format, over all its tensors). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/fp16.h"
#include "gguf/gguf.h"
#include "tensor/blocks.h"
#include "tensor/format.h"

typedef struct golden_pair {
    const char *golden; /* file under golden/, without ".gguf" */
    const char *source; /* the float file it was quantized from */
} golden_pair;

static const golden_pair pairs[] = {
    {"tiny-llama-F16", "tiny-llama-F32"},       {"tiny-llama-BF16", "tiny-llama-F32"},
    {"tiny-llama-Q4_0", "tiny-llama-F32"},      {"tiny-llama-Q4_1", "tiny-llama-F32"},
    {"tiny-llama-Q5_0", "tiny-llama-F32"},      {"tiny-llama-Q5_1", "tiny-llama-F32"},
    {"tiny-llama-Q8_0", "tiny-llama-F32"},      {"tiny-llama-Q2_K", "tiny-llama-F32"},
    {"tiny-llama-Q3_K_M", "tiny-llama-F32"},    {"tiny-llama-Q4_K_M", "tiny-llama-F32"},
    {"tiny-llama-Q5_K_M", "tiny-llama-F32"},    {"tiny-llama-Q6_K", "tiny-llama-F32"},
    {"tiny-llama-IQ4_NL", "tiny-llama-F32"},    {"tiny-llama-IQ4_XS", "tiny-llama-F32"},
    {"tiny-llama-tied-Q4_0", "tiny-llama-tied-F32"},
    {"tiny-llama3-Q4_K_M", "tiny-llama3-F32"},  {"tiny-llama3-Q8_0", "tiny-llama3-F32"},
    {"tiny-qwen2-Q4_K_M", "tiny-qwen2-F32"},    {"tiny-qwen2-Q8_0", "tiny-qwen2-F32"},
    {"tiny-phi3-Q4_0", "tiny-phi3-F32"},        {"tiny-phi3-Q6_K", "tiny-phi3-F32"},
    {"tiny-moe-Q4_K_M", "tiny-moe-F16"},        {"tiny-moe-Q8_0", "tiny-moe-F16"},
    {"tiny-gemma2-Q8_0", "tiny-gemma2-F16"},
};
#define N_PAIRS (sizeof pairs / sizeof pairs[0])

/* ---- helpers ---------------------------------------------------------------- */

static gguf_file *golden_open(const char *stem) {
    char rel[256];
    snprintf(rel, sizeof rel, "golden/%s.gguf", stem);
    const char *path = check_testdata(rel);
    if (!path) return NULL;
    gguf_file *f = NULL;
    lair_err err;
    if (gguf_open(path, &f, &err) != LAIR_OK) {
        check_fail(__FILE__, __LINE__, "%s: %s", rel, err.msg);
        return NULL;
    }
    return f;
}

static int64_t tensor_elems(const gguf_tensor *t) { return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]; }

/* Decoded copy of a tensor (caller frees); NULL when lair cannot decode it. */
static float *tensor_floats(const gguf_tensor *t) {
    const lair_type_traits *tr = lair_type_traits_of(t->type);
    if (!tr || !tr->to_float) return NULL;
    int64_t n = tensor_elems(t);
    float *y = malloc((size_t)n * sizeof(float));
    if (y) tr->to_float(t->data, y, n);
    return y;
}

/* Level spacing at each element of one block (magnitude, in weight units).
 * IQ4 levels are not evenly spaced: the larger of the two gaps next to the
 * decoded level is used.  Returns false for formats without blocks. */
static float iq4_gap(int k) {
    float lo = k > 0 ? (float)(kvalues_iq4nl[k] - kvalues_iq4nl[k - 1]) : 0.0f;
    float hi = k < 15 ? (float)(kvalues_iq4nl[k + 1] - kvalues_iq4nl[k]) : 0.0f;
    return lo > hi ? lo : hi;
}

static bool block_steps(lair_type type, const void *blk, float *step) {
    switch (type) {
    case LAIR_TYPE_Q4_0: case LAIR_TYPE_Q4_1: case LAIR_TYPE_Q5_0: case LAIR_TYPE_Q5_1: case LAIR_TYPE_Q8_0: {
        float d = fabsf(lair_f16_to_f32(*(const lair_f16 *)blk)); /* d leads every one of these */
        for (int i = 0; i < 32; i++) step[i] = d;
        return true;
    }
    case LAIR_TYPE_Q2_K: {
        const block_q2_K *b = blk;
        float d = fabsf(lair_f16_to_f32(b->d));
        for (int i = 0; i < QK_K; i++) step[i] = d * (float)(b->scales[i / 16] & 0xF);
        return true;
    }
    case LAIR_TYPE_Q3_K: {
        const block_q3_K *b = blk;
        float d = fabsf(lair_f16_to_f32(b->d));
        for (int j = 0; j < 16; j++) {
            int lo = j < 8 ? (b->scales[j] & 0xF) : (b->scales[j - 8] >> 4);
            int hi = (b->scales[8 + (j & 3)] >> (2 * (j >> 2))) & 3;
            float s = d * fabsf((float)((lo | (hi << 4)) - 32));
            for (int l = 0; l < 16; l++) step[16 * j + l] = s;
        }
        return true;
    }
    case LAIR_TYPE_Q4_K: case LAIR_TYPE_Q5_K: {
        const block_q4_K *b = blk; /* Q5_K starts with the same d, dmin, scales */
        float d = fabsf(lair_f16_to_f32(b->d));
        for (int j = 0; j < 8; j++) {
            int sc = j < 4 ? (b->scales[j] & 63) : ((b->scales[j + 4] & 0xF) | ((b->scales[j - 4] >> 6) << 4));
            for (int l = 0; l < 32; l++) step[32 * j + l] = d * (float)sc;
        }
        return true;
    }
    case LAIR_TYPE_Q6_K: {
        const block_q6_K *b = blk;
        float d = fabsf(lair_f16_to_f32(b->d));
        for (int i = 0; i < QK_K; i++) step[i] = d * fabsf((float)b->scales[i / 16]);
        return true;
    }
    case LAIR_TYPE_IQ4_NL: {
        const block_iq4_nl *b = blk;
        float d = fabsf(lair_f16_to_f32(b->d));
        for (int j = 0; j < 16; j++) {
            step[j] = d * iq4_gap(b->qs[j] & 0xF);
            step[j + 16] = d * iq4_gap(b->qs[j] >> 4);
        }
        return true;
    }
    case LAIR_TYPE_IQ4_XS: {
        const block_iq4_xs *b = blk;
        float d = fabsf(lair_f16_to_f32(b->d));
        for (int ib = 0; ib < 8; ib++) {
            int ls = (((b->scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((b->scales_h >> (2 * ib)) & 3) << 4)) - 32;
            float dl = d * fabsf((float)ls);
            const uint8_t *qs = b->qs + 16 * ib;
            for (int j = 0; j < 16; j++) {
                step[32 * ib + j] = dl * iq4_gap(qs[j] & 0xF);
                step[32 * ib + j + 16] = dl * iq4_gap(qs[j] >> 4);
            }
        }
        return true;
    }
    default:
        return false;
    }
}

/* NMSE bound of a tensor decoded from a golden file (about 2-3x the largest
 * value llama.cpp's quantizer reaches on these weights; a layout error gives
 * about 1 or more). */
static double nmse_bound(lair_type t) {
    switch (t) {
    case LAIR_TYPE_Q8_0: return 1e-4;
    case LAIR_TYPE_Q6_K: return 1e-3;
    case LAIR_TYPE_Q5_0: case LAIR_TYPE_Q5_1: case LAIR_TYPE_Q5_K: return 5e-3;
    case LAIR_TYPE_Q4_0: case LAIR_TYPE_Q4_1: case LAIR_TYPE_Q4_K: return 2e-2;
    case LAIR_TYPE_IQ4_NL: case LAIR_TYPE_IQ4_XS: return 2e-2;
    case LAIR_TYPE_Q3_K: return 6e-2;
    case LAIR_TYPE_Q2_K: return 0.2;
    case LAIR_TYPE_F16: return 1e-6;
    case LAIR_TYPE_BF16: return 1e-5;
    default: return 0; /* f32: exact */
    }
}

/* Share of elements allowed farther than half a step from their level.
 * Only values clipped at a block's extreme levels may be: none for min/max
 * formats, a few where llama.cpp's scale search trades clipping for
 * resolution (measured: <= 0.02% for the tight group, <= 0.55% for the
 * others). */
static double beyond_half_share(lair_type t) {
    switch (t) {
    case LAIR_TYPE_Q8_0: case LAIR_TYPE_Q6_K: case LAIR_TYPE_Q4_1: case LAIR_TYPE_Q5_1:
    case LAIR_TYPE_IQ4_NL: case LAIR_TYPE_IQ4_XS:
        return 1e-3;
    default:
        return 1e-2;
    }
}

/* ---- decode ------------------------------------------------------------------ */

typedef struct decode_stats {
    double se, sx;        /* squared error, squared weights */
    int64_t n;            /* elements */
    int64_t beyond_half;  /* |err| > step/2 (+ f16 slack): clipped ends only */
    int64_t beyond_step;  /* |err| > 1.5 steps */
} decode_stats;

/* Compares one decoded golden tensor with its float source. */
static void decode_compare(const gguf_tensor *t, const float *y, const float *x, decode_stats *st) {
    int64_t n = tensor_elems(t);
    const lair_type_traits *tr = lair_type_traits_of(t->type);
    float step[QK_K];
    for (int64_t b = 0; b < n / tr->block_size; b++) {
        const void *blk = (const uint8_t *)t->data + (size_t)b * tr->block_bytes;
        bool has_steps = block_steps(t->type, blk, step);
        for (int64_t i = 0; i < tr->block_size; i++) {
            int64_t k = b * tr->block_size + i;
            double e = (double)y[k] - x[k];
            st->se += e * e;
            st->sx += (double)x[k] * x[k];
            if (!has_steps) continue;
            /* the scale's own f16 rounding moves a level by up to
             * 2^-11 * level (level <= 127 units of step) */
            float slack = 0.07f * step[i] + 1e-7f;
            if (fabs(e) > 0.5 * step[i] + slack) st->beyond_half++;
            if (fabs(e) > 1.5 * step[i] + slack) st->beyond_step++;
        }
    }
    st->n += n;
}

static void decode_pair(const golden_pair *p) {
    gguf_file *g = golden_open(p->golden);
    if (!g) return;
    gguf_file *s = golden_open(p->source);
    if (!s) {
        gguf_close(g);
        return;
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        const gguf_tensor *src = gguf_find_tensor(s, t->name);
        CHECKF(src != NULL, "%s: %s missing in %s", p->golden, t->name, p->source);
        if (!src) continue;
        CHECKF(memcmp(src->ne, t->ne, sizeof t->ne) == 0, "%s: %s shape differs", p->golden, t->name);
        float *y = tensor_floats(t), *x = tensor_floats(src);
        CHECKF(y && x, "%s: %s (%s) cannot be decoded", p->golden, t->name, lair_type_name(t->type));
        if (y && x) {
            decode_stats st = {0};
            decode_compare(t, y, x, &st);
            double nmse = st.sx > 0 ? st.se / st.sx : st.se;
            const lair_type_traits *tr = lair_type_traits_of(t->type);
            CHECKF(nmse <= nmse_bound(t->type), "%s: %s (%s) nmse %.3g > %.3g", p->golden, t->name, tr->name, nmse,
                   nmse_bound(t->type));
            CHECKF((double)st.beyond_half <= beyond_half_share(t->type) * (double)st.n,
                   "%s: %s (%s) %lld of %lld elements beyond half a step", p->golden, t->name, tr->name,
                   (long long)st.beyond_half, (long long)st.n);
            CHECKF(st.beyond_step <= st.n / 2000, "%s: %s (%s) %lld of %lld elements beyond 1.5 steps", p->golden,
                   t->name, tr->name, (long long)st.beyond_step, (long long)st.n);
            if (t->type == LAIR_TYPE_F16 || t->type == LAIR_TYPE_BF16) {
                int64_t n = tensor_elems(t), exact = 0;
                for (int64_t k = 0; k < n; k++) {
                    float r = t->type == LAIR_TYPE_F16 ? lair_f16_to_f32(lair_f32_to_f16(x[k]))
                                                       : lair_bf16_to_f32(lair_f32_to_bf16(x[k]));
                    exact += lair_f32_bits(r) == lair_f32_bits(y[k]);
                }
                CHECKF(exact == n, "%s: %s: %lld of %lld elements differ from round-to-nearest-even", p->golden,
                       t->name, (long long)(n - exact), (long long)n);
            }
            if (getenv("LAIR_TEST_VERBOSE"))
                printf("# decode %s %s %s nmse=%.3g half=%.4f%% step=%.4f%%\n", p->golden, t->name, tr->name, nmse,
                       100.0 * (double)st.beyond_half / (double)st.n, 100.0 * (double)st.beyond_step / (double)st.n);
        }
        free(y);
        free(x);
    }
    gguf_close(s);
    gguf_close(g);
}

TEST(decode_golden_files) {
    for (size_t i = 0; i < N_PAIRS; i++) decode_pair(&pairs[i]);
}

/* ---- quantize ---------------------------------------------------------------- */

#define RMS_BAR 1.05

static void quantize_pair(const golden_pair *p) {
    gguf_file *g = golden_open(p->golden);
    if (!g) return;
    gguf_file *s = golden_open(p->source);
    if (!s) {
        gguf_close(g);
        return;
    }
    double se_ours[LAIR_TYPE_COUNT] = {0}, se_gold[LAIR_TYPE_COUNT] = {0};
    int64_t count[LAIR_TYPE_COUNT] = {0};
    int n_tensors[LAIR_TYPE_COUNT] = {0};
    /* $LAIR_TESTS_QUICK (emulated cross runs): two tensors per format and file */
    int max_tensors = getenv("LAIR_TESTS_QUICK") ? 2 : INT32_MAX;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        const lair_type_traits *tr = lair_type_traits_of(t->type);
        if (!tr || !tr->quantized || n_tensors[t->type] >= max_tensors) continue;
        n_tensors[t->type]++;
        const gguf_tensor *src = gguf_find_tensor(s, t->name);
        CHECKF(src && tr->from_float && tr->to_float, "%s: %s (%s) cannot be requantized", p->golden, t->name,
               tr->name);
        if (!src || !tr->from_float || !tr->to_float) continue;
        int64_t n = tensor_elems(t);
        float *x = tensor_floats(src), *y = tensor_floats(t), *z = malloc((size_t)n * sizeof(float));
        void *blocks = malloc(t->nbytes);
        REQUIRE(x && y && z && blocks);
        tr->from_float(x, blocks, n);
        tr->to_float(blocks, z, n);
        for (int64_t k = 0; k < n; k++) {
            double eo = (double)z[k] - x[k], eg = (double)y[k] - x[k];
            se_ours[t->type] += eo * eo;
            se_gold[t->type] += eg * eg;
        }
        count[t->type] += n;
        free(x);
        free(y);
        free(z);
        free(blocks);
    }
    for (int ty = 0; ty < LAIR_TYPE_COUNT; ty++) {
        if (!count[ty]) continue;
        double ro = sqrt(se_ours[ty] / (double)count[ty]), rg = sqrt(se_gold[ty] / (double)count[ty]);
        double ratio = rg > 0 ? ro / rg : (ro > 0 ? INFINITY : 1.0);
        printf("# rms %s %s ours=%.6g golden=%.6g ratio=%.4f\n", p->golden, lair_type_name((lair_type)ty), ro, rg,
               ratio);
        CHECKF(ratio <= RMS_BAR, "%s %s: rms ratio %.4f > %.2f", p->golden, lair_type_name((lair_type)ty), ratio,
               RMS_BAR);
    }
    gguf_close(s);
    gguf_close(g);
}

TEST(quantize_matches_llama_cpp) {
    for (size_t i = 0; i < N_PAIRS; i++) quantize_pair(&pairs[i]);
}

int main(void) {
    RUN(decode_golden_files);
    RUN(quantize_matches_llama_cpp);
    return check_done();
}
