/* Checks of a laid-out grammar: the shortest sentence of every rule (which
 * also finds rules that can never finish) by Knuth's generalisation of
 * Dijkstra's algorithm, per-element suffix lengths for the matcher's
 * budget, and left recursion (the pushdown matcher cannot run it).  All
 * iterative, O(n log n) in the grammar's size. */
#include <stdlib.h>

#include "core/alloc.h"
#include "core/err.h"
#include "grammar/grammar_internal.h"

static int32_t utf8_len(uint32_t cp) { return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4; }

/* Lengths saturate at GRAM_INF - 1; GRAM_INF itself means "never finishes". */
static int32_t sat_add(int32_t a, int32_t b) {
    if (a >= GRAM_INF || b >= GRAM_INF) return GRAM_INF;
    return a + b >= GRAM_INF ? GRAM_INF - 1 : a + b;
}

/* Shortest sentence per rule: alternatives become ready when all their
 * references are final; rules are finalised cheapest first (binary heap). */
static bool min_lengths(lair_grammar *g) {
    int32_t na = g->n_alts_total, nr = g->n_rules;
    int32_t *pend = lair_calloc((size_t)na + 1, sizeof *pend), *sum = lair_calloc((size_t)na + 1, sizeof *sum);
    int32_t *alt_rule = lair_malloc(((size_t)na + 1) * sizeof *alt_rule);
    int32_t *occ0 = lair_calloc((size_t)nr + 1, sizeof *occ0);
    int64_t n_refs = 0;
    for (int32_t k = 0; k < g->n_elems; k++) n_refs += g->elems[k].type == GE_REF;
    int32_t *occ = lair_malloc(((size_t)n_refs + 1) * sizeof *occ);
    int64_t *heap = lair_malloc(((size_t)na + 1) * sizeof *heap);
    int32_t *fill = lair_calloc((size_t)nr + 1, sizeof *fill);
    bool ok = pend && sum && alt_rule && occ0 && occ && heap && fill;
    if (!ok) goto out;
    for (int32_t r = 0; r < nr; r++) {
        g->rules[r].min_len = GRAM_INF;
        for (int32_t a = 0; a < g->rules[r].n_alts; a++) {
            int32_t ai = g->rules[r].alt0 + a;
            alt_rule[ai] = r;
            for (int32_t k = g->alts[ai]; g->elems[k].type != GE_END; k++) {
                if (g->elems[k].type == GE_REF) {
                    pend[ai]++;
                    occ0[g->elems[k].a + 1]++;
                } else {
                    sum[ai] = sat_add(sum[ai], utf8_len(g->ranges[g->elems[k].a].lo));
                }
            }
        }
    }
    for (int32_t r = 0; r < nr; r++) occ0[r + 1] += occ0[r];
    for (int32_t ai = 0; ai < na; ai++)
        for (int32_t k = g->alts[ai]; g->elems[k].type != GE_END; k++)
            if (g->elems[k].type == GE_REF) {
                int32_t t = g->elems[k].a;
                occ[occ0[t] + fill[t]++] = ai;
            }
    /* heap of (length << 32 | alt) */
    int32_t hn = 0;
#define HPUSH(v)                                                                                                   \
    do {                                                                                                           \
        int32_t c_ = hn++;                                                                                         \
        heap[c_] = (v);                                                                                            \
        while (c_ > 0 && heap[(c_ - 1) / 2] > heap[c_]) {                                                          \
            int64_t t_ = heap[c_];                                                                                 \
            heap[c_] = heap[(c_ - 1) / 2];                                                                         \
            heap[(c_ - 1) / 2] = t_;                                                                               \
            c_ = (c_ - 1) / 2;                                                                                     \
        }                                                                                                          \
    } while (0)
    for (int32_t ai = 0; ai < na; ai++)
        if (pend[ai] == 0) HPUSH(((int64_t)sum[ai] << 32) | ai);
    while (hn > 0) {
        int64_t top = heap[0];
        heap[0] = heap[--hn];
        for (int32_t c = 0;;) {
            int32_t l = 2 * c + 1, rr = l + 1, m = c;
            if (l < hn && heap[l] < heap[m]) m = l;
            if (rr < hn && heap[rr] < heap[m]) m = rr;
            if (m == c) break;
            int64_t t = heap[c];
            heap[c] = heap[m];
            heap[m] = t;
            c = m;
        }
        int32_t ai = (int32_t)(top & 0xFFFFFFFF), len = (int32_t)(top >> 32);
        int32_t r = alt_rule[ai];
        if (g->rules[r].min_len != GRAM_INF) continue;
        g->rules[r].min_len = len;
        for (int32_t o = occ0[r]; o < occ0[r + 1]; o++) {
            int32_t b = occ[o];
            sum[b] = sat_add(sum[b], len);
            if (--pend[b] == 0) HPUSH(((int64_t)sum[b] << 32) | b);
        }
    }
#undef HPUSH
    for (int32_t ai = 0; ai < na; ai++) { /* per-element suffix lengths */
        int32_t k = g->alts[ai];
        while (g->elems[k].type != GE_END) k++;
        g->min_from[k] = 0;
        for (k--; k >= g->alts[ai]; k--) {
            const gelem *e = &g->elems[k];
            int32_t l = e->type == GE_REF ? g->rules[e->a].min_len : utf8_len(g->ranges[e->a].lo);
            g->min_from[k] = sat_add(l, g->min_from[k + 1]);
        }
    }
out:
    lair_free(pend);
    lair_free(sum);
    lair_free(alt_rule);
    lair_free(occ0);
    lair_free(occ);
    lair_free(heap);
    lair_free(fill);
    return ok;
}

/* A rule reachable from itself through references preceded only by
 * nullable elements; -1 when none (-2 out of memory).  Iterative DFS whose
 * frames keep their place (alternative, element) among the rule's edges. */
static int32_t find_left_recursion(const lair_grammar *g) {
    int32_t nr = g->n_rules;
    uint8_t *color = lair_calloc((size_t)nr, 1); /* 0 new, 1 on the DFS path, 2 done */
    int32_t *st = lair_malloc((size_t)nr * 3 * sizeof *st); /* (rule, alt, element) */
    int32_t found = -1;
    if (!color || !st) {
        found = -2;
        goto out;
    }
    for (int32_t s0 = 0; s0 < nr && found < 0; s0++) {
        if (color[s0]) continue;
        int32_t sp = 1;
        st[0] = s0;
        st[1] = 0;
        st[2] = -1; /* element: -1 = start of the alternative */
        color[s0] = 1;
        while (sp > 0 && found < 0) {
            int32_t *f = st + 3 * (sp - 1);
            const grule *r = &g->rules[f[0]];
            int32_t next = -1;
            while (f[1] < r->n_alts && next < 0) {
                int32_t k = f[2] < 0 ? g->alts[r->alt0 + f[1]] : f[2] + 1;
                /* the element after the last edge is only reached past a nullable reference */
                if (f[2] >= 0 && g->rules[g->elems[f[2]].a].min_len != 0) k = -1;
                if (k >= 0 && g->elems[k].type == GE_REF) {
                    next = g->elems[k].a;
                    f[2] = k;
                } else {
                    f[1]++;
                    f[2] = -1;
                }
            }
            if (next < 0) {
                color[f[0]] = 2;
                sp--;
            } else if (color[next] == 1) {
                found = next;
            } else if (color[next] == 0) {
                color[next] = 1;
                st[3 * sp] = next;
                st[3 * sp + 1] = 0;
                st[3 * sp + 2] = -1;
                sp++;
            }
        }
    }
out:
    lair_free(color);
    lair_free(st);
    return found;
}

/* From a rule that never finishes, follows references to never-finishing
 * rules until one repeats: that rule recurses forever itself (a better
 * culprit to name than its callers). */
static int32_t on_dead_cycle(const lair_grammar *g, int32_t r) {
    for (int32_t steps = 0; steps <= g->n_rules; steps++) {
        int32_t next = -1;
        for (int32_t k = g->alts[g->rules[r].alt0]; g->elems[k].type != GE_END && next < 0; k++)
            if (g->elems[k].type == GE_REF && g->rules[g->elems[k].a].min_len >= GRAM_INF) next = g->elems[k].a;
        if (next < 0) return r;
        r = next;
    }
    return r; /* after n_rules steps r lies on a cycle */
}

lair_status gbnf_check(lair_grammar *g, const int32_t *def_line, lair_err *err) {
    if (!min_lengths(g)) return lair_err_set(err, LAIR_ERR_NOMEM, "grammar: out of memory");
    for (int32_t r0 = 0; r0 < g->n_rules; r0++)
        if (g->rules[r0].min_len >= GRAM_INF) {
            int32_t r = on_dead_cycle(g, r0);
            return lair_err_set(err, LAIR_ERR_FORMAT,
                                "grammar: line %d, rule '%.80s' can never finish: every alternative recurses forever",
                                (int)def_line[r], g->rules[r].name);
        }
    int32_t lr = find_left_recursion(g);
    if (lr == -2) return lair_err_set(err, LAIR_ERR_NOMEM, "grammar: out of memory");
    if (lr >= 0)
        return lair_err_set(err, LAIR_ERR_UNSUPPORTED,
                            "grammar: line %d, rule '%.80s' is left-recursive (it can reach itself before reading a "
                            "character); rewrite it with repetition, e.g. x ::= y (\",\" y)*",
                            (int)def_line[lr], g->rules[lr].name);
    return LAIR_OK;
}
