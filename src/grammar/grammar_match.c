/* The matcher: the parse state after the accepted tokens, and the mask of
 * tokens that may come next.
 *
 * A mask is a walk of the token trie in preorder against the state
 * automaton (grammar_engine.c): each trie node costs one transition-table
 * load once the automaton is warm, and a dead transition skips the whole
 * subtree.  Two shortcuts allow a whole subtree at once from the ASCII
 * byte set of its pieces: when it lies on the uniform run of the walk's
 * state (string contents, "x{0,64}" counting down; gengine_chain), or when
 * its bytes loop on the state reached.  Inside strings and bounded runs the
 * plain-text index does most of the work (grammar_plain.c): a state whose
 * plain run is known takes the row of plain tokens that fit it and walks
 * only the small trie of the other tokens, and a walk takes whole subtrees
 * whose suffixes are plain text that fits the run of the state reached
 * (a '"' node in a value position).  Masks are cached per parse state
 * (an LRU of MASK_SLOTS bitsets) together with the largest "fewest bytes to
 * finish" after any allowed token, so a budget only costs a filtered walk
 * when it is tight. */
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "grammar/grammar_internal.h"

#define MASK_SLOTS 256

struct lair_grammar_matcher {
    const lair_grammar *g;
    const lair_grammar_vocab *gv;
    gengine e;
    int32_t cur;       /* current state id (GS_DEAD after a failure inside the engine) */
    int32_t gen;       /* engine generation the cache belongs to */
    int32_t n_words;   /* (gv->n_vocab + 31) / 32 */
    uint32_t *slots;   /* [MASK_SLOTS][n_words], allocated as used */
    int32_t n_slots;
    int32_t slot_set[MASK_SLOTS];
    int32_t slot_maxmin[MASK_SLOTS]; /* largest min_bytes after an allowed token */
    int64_t slot_count[MASK_SLOTS];  /* allowed tokens (end tokens not included) */
    uint64_t slot_tick[MASK_SLOTS];
    uint64_t tick;
    int32_t *states;   /* [max_depth + 1] walk state per trie depth */
    int64_t n_hits, n_misses; /* mask cache statistics */
    int64_t n_plain_masks, n_plain_subtrees; /* fast paths taken (tests) */
};

lair_status lair_grammar_matcher_create(const lair_grammar *g, const lair_grammar_vocab *gv,
                                        lair_grammar_matcher **out, lair_err *err) {
    *out = NULL;
    lair_grammar_matcher *m = lair_calloc(1, sizeof *m);
    if (!m) return lair_err_set(err, LAIR_ERR_NOMEM, "grammar: out of memory");
    m->g = g;
    m->gv = gv;
    m->n_words = (gv->n_vocab + 31) / 32;
    m->states = lair_malloc(((size_t)gv->max_depth + 1) * sizeof *m->states);
    m->cur = gengine_init(&m->e, g);
    if (!m->states || m->cur < 0) {
        bool oom = !m->states || m->e.nomem;
        lair_grammar_matcher_free(m);
        return oom ? lair_err_set(err, LAIR_ERR_NOMEM, "grammar: out of memory")
                   : lair_err_set(err, LAIR_ERR_LIMIT, "grammar: the start state exceeds the parse-stack limits");
    }
    m->gen = m->e.generation;
    return (*out = m), LAIR_OK;
}

void lair_grammar_matcher_free(lair_grammar_matcher *m) {
    if (!m) return;
    gengine_free(&m->e);
    lair_free(m->slots);
    lair_free(m->states);
    lair_free(m);
}

/* Rebuilds the engine's tables when they grew past their soft sizes; the
 * mask cache refers to state ids, so it goes with them. */
static void maybe_rebase(lair_grammar_matcher *m) {
    if (m->cur < 0) return;
    m->e.overflow = m->e.nomem = false; /* flags describe this operation only */
    m->cur = gengine_maybe_rebase(&m->e, m->cur);
    if (m->e.generation != m->gen) {
        m->gen = m->e.generation;
        m->n_slots = 0;
    }
}

/* Allows every token of the trie nodes [i, end); returns their count. */
static int64_t take_subtree(const lair_grammar_vocab *gv, int32_t i, int32_t end, uint32_t *bits) {
    int32_t k0 = gv->tok0[i], k1 = gv->tok0[end];
    for (int32_t q = k0; q < k1; q++) {
        int32_t tok = gv->toks[q];
        bits[tok >> 5] |= 1u << (tok & 31);
    }
    return k1 - k0;
}

/* Walks the trie from state s; sets bits of allowed tokens in bits (zeroed
 * by the caller).  budget < 0: no limit.  Returns the allowed count. */
static int64_t walk(lair_grammar_matcher *m, const lair_grammar_vocab *gv, int32_t s, uint32_t *bits, int32_t budget,
                    int32_t *maxmin, bool use_chain) {
    gengine *e = &m->e;
    int32_t *st = m->states, mx = 0;
    int64_t count = 0;
    st[0] = s;
    /* NULL (out of memory, or not wanted): no skipping along the run */
    const gchain *run = use_chain ? gengine_chain(e, s) : NULL;
    const gtnode *nodes = gv->nodes;
    const int32_t *next = e->next; /* reloaded after a step: it may move */
    for (int32_t i = 0, n = gv->n_nodes; i < n;) {
        const gtnode nd = nodes[i];
        int32_t t = next[(int64_t)st[nd.depth - 1] * 256 + nd.byte];
        if (t == GS_UNKNOWN) {
            t = gengine_step(e, st[nd.depth - 1], nd.byte);
            next = e->next;
        }
        if (t < 0) {
            i = nd.end;
            continue;
        }
        int32_t need = gv->pcp[i] == 255 ? GRAM_RUN_LOOP : gv->pcp[i]; /* 255: that many or more */
        if (need && gengine_plain_run(e, t, need == GRAM_RUN_LOOP ? 1 : need)) {
            /* every token below continues with at most pcp[i] plain
             * characters: allowed at once when t's plain run is that long */
            next = e->next;
            const gset *T = &e->sets[t];
            if (T->run_len >= need && (budget < 0 || T->run_mx <= budget - 1)) {
                if (T->run_mx > mx) mx = T->run_mx;
                count += take_subtree(gv, i, nd.end, bits);
                m->n_plain_subtrees++;
                i = nd.end;
                continue;
            }
        }
        next = e->next;
        if (run && nd.end > i + 1 && nd.depth - 1 <= GRAM_CHAIN && st[nd.depth - 1] == run->state[nd.depth - 1]) {
            /* the parent state lies on the uniform run from the walk's
             * state; when every byte below keeps to the run, all tokens of
             * the subtree are allowed at once */
            int k = nd.depth - 1 + gv->height[i]; /* the deepest byte's step */
            if (k > GRAM_CHAIN) k = run->stable ? GRAM_CHAIN : -1;
            gbyteset b = gv->sub[i];
            if (k > 0 && !(b.w[0] & ~run->set[k].w[0]) && !(b.w[1] & ~run->set[k].w[1]) &&
                (budget < 0 || run->maxmin[k] <= budget - 1)) {
                if (run->maxmin[k] > mx) mx = run->maxmin[k];
                count += take_subtree(gv, i, nd.end, bits);
                i = nd.end;
                continue;
            }
        } else if (t == st[nd.depth - 1] && nd.end > i + 1) {
            /* off the run, the node's byte loops on its state: when every
             * byte below does too, each token below ends in this state */
            gbyteset l = gengine_loop(e, t), b = gv->sub[i];
            next = e->next;
            int32_t mb = e->sets[t].min_bytes;
            if (!(b.w[0] & ~l.w[0]) && !(b.w[1] & ~l.w[1]) && (budget < 0 || mb <= budget - 1)) {
                if (mb > mx) mx = mb;
                count += take_subtree(gv, i, nd.end, bits);
                i = nd.end;
                continue;
            }
        }
        st[nd.depth] = t;
        if (nd.has_tok) {
            int32_t k0 = gv->tok0[i], k1 = gv->tok0[i + 1];
            int32_t mb = e->sets[t].min_bytes;
            if (budget < 0 || mb <= budget - 1) {
                if (mb > mx) mx = mb;
                for (int32_t k = k0; k < k1; k++) {
                    int32_t tok = gv->toks[k];
                    bits[tok >> 5] |= 1u << (tok & 31);
                }
                count += k1 - k0;
            }
        }
        i++;
    }
    *maxmin = mx;
    return count;
}

/* The mask of state s without a budget through the plain-text index
 * (grammar_plain.c), when every plain character leads from s and from the
 * states of its run alike: row n of the index, n the run's length, plus a
 * walk of the other tokens' trie.  False (bits untouched) when the index
 * does not apply. */
static bool plain_mask(lair_grammar_matcher *m, int32_t s, uint32_t *bits, int64_t *count, int32_t *maxmin) {
    const lair_grammar_vocab *gv = m->gv;
    gengine *e = &m->e;
    if (!gv->plain_max || !gv->rest || !gengine_plain_run(e, s, gv->plain_max)) return false;
    const gset *S = &e->sets[s];
    int32_t n = S->run_len, mx = 0;
    if (n >= gv->plain_max) n = gv->plain_max; /* loops and long runs: every plain token */
    else if (!S->run_dead) return false;      /* the run's end is not a refusal: longer tokens need walking */
    if (n > 0) {
        memcpy(bits, gv->plain_bits + (size_t)n * (size_t)m->n_words, (size_t)m->n_words * sizeof *bits);
        mx = S->run_mx;
    }
    m->n_plain_masks++;
    int32_t rmx; /* the other tokens rarely stay on a uniform run: no chain */
    *count = (n > 0 ? gv->plain_count[n] : 0) + walk(m, gv->rest, s, bits, -1, &rmx, false);
    *maxmin = rmx > mx ? rmx : mx;
    return true;
}

/* The cached mask slot of state s, computed on a miss; -1 out of memory. */
static int32_t mask_slot(lair_grammar_matcher *m, int32_t s) {
    int32_t slot = m->e.sets[s].mask_slot;
    if (slot >= 0 && slot < m->n_slots && m->slot_set[slot] == s) {
        m->n_hits++;
        m->slot_tick[slot] = ++m->tick;
        return slot;
    }
    m->n_misses++;
    if (m->n_slots < MASK_SLOTS) {
        if (!m->slots) {
            m->slots = lair_malloc((size_t)MASK_SLOTS * (size_t)m->n_words * sizeof *m->slots);
            if (!m->slots) return -1;
        }
        slot = m->n_slots++;
    } else { /* evict the least recently used */
        slot = 0;
        for (int32_t k = 1; k < MASK_SLOTS; k++)
            if (m->slot_tick[k] < m->slot_tick[slot]) slot = k;
        if (m->slot_set[slot] >= 0 && m->slot_set[slot] < m->e.n_sets) m->e.sets[m->slot_set[slot]].mask_slot = -1;
    }
    uint32_t *bits = m->slots + (size_t)slot * (size_t)m->n_words;
    memset(bits, 0, (size_t)m->n_words * sizeof *bits);
    if (!plain_mask(m, s, bits, &m->slot_count[slot], &m->slot_maxmin[slot]))
        m->slot_count[slot] = walk(m, m->gv, s, bits, -1, &m->slot_maxmin[slot], true);
    bool keep = !m->e.nomem; /* a walk cut short by out of memory is used once, not cached */
    m->slot_set[slot] = keep ? s : -1;
    m->slot_tick[slot] = keep ? ++m->tick : 0;
    m->e.sets[s].mask_slot = keep ? slot : -1;
    return slot;
}

int64_t lair_grammar_matcher_mask(lair_grammar_matcher *m, uint32_t *allow, int64_t n_vocab, int32_t budget) {
    if (n_vocab <= 0) return 0;
    int64_t words = (n_vocab + 31) / 32;
    memset(allow, 0, (size_t)words * sizeof *allow);
    if (budget == 0) return 0;
    maybe_rebase(m);
    int32_t s = m->cur;
    if (s < 0) return 0;
    int64_t nw = words < m->n_words ? words : m->n_words;
    int32_t slot = mask_slot(m, s);
    if (slot < 0) return 0;
    int64_t count = -1; /* known without counting bits only for a whole cached mask */
    if (budget > 0 && budget - 1 < m->slot_maxmin[slot]) {
        if (words >= m->n_words) {
            int32_t mx;
            walk(m, m->gv, s, allow, budget, &mx, true);
        } else { /* the caller's vocabulary is smaller: filter into a scratch copy */
            uint32_t *tmp = lair_calloc((size_t)m->n_words, sizeof *tmp);
            if (!tmp) return 0;
            int32_t mx;
            walk(m, m->gv, s, tmp, budget, &mx, true);
            memcpy(allow, tmp, (size_t)nw * sizeof *allow);
            lair_free(tmp);
        }
    } else {
        memcpy(allow, m->slots + (size_t)slot * (size_t)m->n_words, (size_t)nw * sizeof *allow);
        if (nw == m->n_words && n_vocab >= m->gv->n_vocab) count = m->slot_count[slot];
    }
    if (n_vocab % 32 && nw == words) allow[words - 1] &= (1u << (n_vocab % 32)) - 1;
    if (count < 0) {
        count = 0;
        for (int64_t w = 0; w < nw; w++) count += __builtin_popcount(allow[w]);
    }
    if (m->e.sets[s].complete)
        for (int32_t k = 0; k < m->gv->n_eog; k++) {
            int32_t t = m->gv->eog[k];
            if (t < n_vocab && !(allow[t >> 5] >> (t & 31) & 1)) {
                allow[t >> 5] |= 1u << (t & 31);
                count++;
            }
        }
    return count;
}

lair_status lair_grammar_matcher_accept(lair_grammar_matcher *m, lair_token t, lair_err *err) {
    const lair_grammar_vocab *gv = m->gv;
    if (t < 0 || t >= gv->n_vocab)
        return lair_err_set(err, LAIR_ERR_ARG, "grammar: token %d is outside the vocabulary (%d tokens)", (int)t,
                            (int)gv->n_vocab);
    maybe_rebase(m);
    if (m->cur < 0) return lair_err_set(err, LAIR_ERR_LIMIT, "grammar: the parse state exceeded its limits");
    if (gv->is_eog[t]) {
        if (!m->e.sets[m->cur].complete)
            return lair_err_set(err, LAIR_ERR_ARG, "grammar: end-of-generation token %d before the output is complete",
                                (int)t);
        return LAIR_OK;
    }
    int64_t len = gv->off[t + 1] - gv->off[t];
    if (len == 0) return lair_err_set(err, LAIR_ERR_ARG, "grammar: control token %d is never allowed", (int)t);
    const uint8_t *p = (const uint8_t *)gv->blob + gv->off[t];
    int32_t s = m->cur;
    for (int64_t i = 0; i < len && s >= 0; i++) s = gengine_next(&m->e, s, p[i]);
    if (s < 0) {
        if (m->e.nomem) return lair_err_set(err, LAIR_ERR_NOMEM, "grammar: out of memory");
        if (m->e.overflow)
            return lair_err_set(err, LAIR_ERR_LIMIT,
                                "grammar: token %d: the parse exceeded its limits (%d stacks per state)", (int)t,
                                GRAM_MAX_STACKS);
        return lair_err_set(err, LAIR_ERR_ARG, "grammar: token %d does not continue the grammar", (int)t);
    }
    m->cur = s;
    return LAIR_OK;
}

bool lair_grammar_matcher_allows(lair_grammar_matcher *m, lair_token t) {
    const lair_grammar_vocab *gv = m->gv;
    if (t < 0 || t >= gv->n_vocab) return false;
    maybe_rebase(m);
    if (m->cur < 0) return false;
    if (gv->is_eog[t]) return m->e.sets[m->cur].complete;
    int64_t len = gv->off[t + 1] - gv->off[t];
    const uint8_t *p = (const uint8_t *)gv->blob + gv->off[t];
    int32_t s = len > 0 ? m->cur : GS_DEAD;
    for (int64_t i = 0; i < len && s >= 0; i++) s = gengine_next(&m->e, s, p[i]);
    return s >= 0;
}

bool lair_grammar_matcher_complete(const lair_grammar_matcher *m) {
    return m->cur >= 0 && m->e.sets[m->cur].complete;
}

bool lair_grammar_matcher_finished(const lair_grammar_matcher *m) {
    return m->cur >= 0 && m->e.sets[m->cur].complete && m->e.sets[m->cur].n == 0;
}

int32_t lair_grammar_matcher_min_bytes(const lair_grammar_matcher *m) {
    return m->cur >= 0 ? m->e.sets[m->cur].min_bytes : GRAM_INF;
}

void lair_grammar_matcher_stats(const lair_grammar_matcher *m, int64_t *hits, int64_t *misses) {
    *hits = m->n_hits;
    *misses = m->n_misses;
}

void gmatcher_plain_stats(const lair_grammar_matcher *m, int64_t *plain_masks, int64_t *plain_subtrees) {
    *plain_masks = m->n_plain_masks;
    *plain_subtrees = m->n_plain_subtrees;
}
