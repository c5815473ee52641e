/* Parse states of a grammar, as a lazily built automaton over bytes.
 *
 * A state is a set of parse stacks plus a partial UTF-8 character.  Stack
 * frames are hash-consed (node = (pos, parent)), so equal stacks have equal
 * top-node ids, a state is a sorted id list, and equal states are found by
 * hashing.  Each state owns a row of 256 transitions filled on first use:
 * after warm-up, following a token's bytes costs one array load per byte.
 * Right recursion pushes no frame (a reference last in its alternative
 * returns straight to its caller), so repetitions revisit the same states. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "grammar/grammar_internal.h"

static bool grow_arr(void **p, int32_t *cap, int64_t need, size_t el) {
    if (need <= *cap) return true;
    int64_t nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    if (nc > INT32_MAX) return false;
    void *q = lair_realloc(*p, (size_t)nc * el);
    if (!q) return false;
    *p = q;
    *cap = (int32_t)nc;
    return true;
}

static uint32_t mix(uint32_t h, uint32_t v) {
    h ^= v + 0x9E3779B9u + (h << 6) + (h >> 2);
    return h;
}

static bool rehash_nodes(gengine *e, uint32_t size) {
    int32_t *b = lair_malloc((size_t)size * sizeof *b);
    if (!b) return false;
    memset(b, 0xFF, (size_t)size * sizeof *b);
    for (int32_t i = 1; i < e->n_nodes; i++) {
        uint32_t h = mix(mix(0, (uint32_t)e->nodes[i].pos), (uint32_t)e->nodes[i].parent) & (size - 1);
        e->nodes[i].chain = b[h];
        b[h] = i;
    }
    lair_free(e->node_buckets);
    e->node_buckets = b;
    e->node_mask = size - 1;
    return true;
}

/* The node (pos, parent); -1 at a limit or out of memory. */
static int32_t intern_node(gengine *e, int32_t pos, int32_t parent) {
    uint32_t h = mix(mix(0, (uint32_t)pos), (uint32_t)parent);
    for (int32_t i = e->node_buckets[h & e->node_mask]; i >= 0; i = e->nodes[i].chain)
        if (e->nodes[i].pos == pos && e->nodes[i].parent == parent) return i;
    if (e->n_nodes >= GRAM_HARD_NODES) {
        e->overflow = true;
        return -1;
    }
    if (e->n_nodes >= e->cap_nodes) {
        int32_t cap = e->cap_nodes;
        if (!grow_arr((void **)&e->nodes, &cap, e->n_nodes + 1, sizeof *e->nodes)) goto oom;
        uint32_t *st = lair_realloc(e->stamp, (size_t)cap * sizeof *st);
        if (!st) goto oom;
        memset(st + e->cap_nodes, 0, (size_t)(cap - e->cap_nodes) * sizeof *st);
        e->stamp = st;
        e->cap_nodes = cap;
    }
    const lair_grammar *g = e->g;
    int32_t t = g->elems[pos].type;
    int32_t own = t == GE_CHAR ? g->min_from[pos] : t == GE_REF ? g->min_from[pos + 1] : 0;
    int32_t m = own + e->nodes[parent].min;
    int32_t id = e->n_nodes++;
    e->nodes[id] = (gnode){pos, parent, m >= GRAM_INF ? GRAM_INF : m, e->node_buckets[h & e->node_mask]};
    e->node_buckets[h & e->node_mask] = id;
    e->stamp[id] = 0;
    if ((uint32_t)e->n_nodes > e->node_mask && !rehash_nodes(e, (e->node_mask + 1) * 2)) goto oom;
    return id;
oom:
    e->nomem = e->overflow = true;
    return -1;
}

static bool push_work(gengine *e, int32_t *n, int32_t pos, int32_t parent) {
    if (*n + 2 > GRAM_MAX_WORK * 2) {
        e->overflow = true;
        return false;
    }
    if (!grow_arr((void **)&e->work, &e->cap_work, *n + 2, sizeof *e->work)) {
        e->nomem = e->overflow = true;
        return false;
    }
    e->work[(*n)++] = pos;
    e->work[(*n)++] = parent;
    return true;
}

/* Expands the n_work/2 queued (pos, parent) items until every stack's top is
 * a character: e->out gets the top nodes, *complete whether a stack emptied.
 * Returns the number of tops, -1 at a limit. */
static int32_t closure(gengine *e, int32_t n_work, bool *complete) {
    const lair_grammar *g = e->g;
    int32_t n_out = 0;
    if (++e->cur_stamp == 0) { /* wrapped: clear the marks */
        memset(e->stamp, 0, (size_t)e->cap_nodes * sizeof *e->stamp);
        e->cur_stamp = 1;
    }
    while (n_work > 0) {
        int32_t parent = e->work[--n_work];
        int32_t pos = e->work[--n_work];
        int32_t id = intern_node(e, pos, parent);
        if (id < 0) return -1;
        if (e->stamp[id] == e->cur_stamp) continue;
        e->stamp[id] = e->cur_stamp;
        const gelem *el = &g->elems[pos];
        if (el->type == GE_CHAR) {
            if (n_out >= GRAM_MAX_STACKS) {
                e->overflow = true;
                return -1;
            }
            if (!grow_arr((void **)&e->out, &e->cap_out, n_out + 1, sizeof *e->out)) {
                e->nomem = e->overflow = true;
                return -1;
            }
            e->out[n_out++] = id;
        } else if (el->type == GE_END) {
            if (parent == 0) *complete = true;
            else if (!push_work(e, &n_work, e->nodes[parent].pos + 1, e->nodes[parent].parent)) return -1;
        } else {
            int32_t ret = g->elems[pos + 1].type == GE_END ? parent : id;
            const grule *r = &g->rules[el->a];
            for (int32_t a = r->n_alts - 1; a >= 0; a--)
                if (!push_work(e, &n_work, g->alts[r->alt0 + a], ret)) return -1;
        }
    }
    return n_out;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static bool rehash_sets(gengine *e, uint32_t size) {
    int32_t *b = lair_malloc((size_t)size * sizeof *b);
    if (!b) return false;
    memset(b, 0xFF, (size_t)size * sizeof *b);
    for (int32_t i = 0; i < e->n_sets; i++) {
        uint32_t h = e->sets[i].hash & (size - 1);
        e->sets[i].chain = b[h];
        b[h] = i;
    }
    lair_free(e->set_buckets);
    e->set_buckets = b;
    e->set_mask = size - 1;
    return true;
}

/* Interns the state made of tops (n of them, sorted here) and the partial
 * character; GS_DEAD when empty or at a limit. */
static int32_t make_set(gengine *e, int32_t *tops, int32_t n, bool complete, uint32_t acc, uint8_t rem, uint8_t nlo,
                        uint8_t nhi) {
    if (n == 0 && !complete) return GS_DEAD;
    if (n > 1) qsort(tops, (size_t)n, sizeof *tops, cmp_i32);
    uint32_t h = mix(mix(mix(complete, acc), rem), (uint32_t)nlo << 8 | nhi);
    for (int32_t k = 0; k < n; k++) h = mix(h, (uint32_t)tops[k]);
    for (int32_t i = e->set_buckets[h & e->set_mask]; i >= 0; i = e->sets[i].chain) {
        const gset *s = &e->sets[i];
        if (s->hash == h && s->n == n && s->complete == complete && s->acc == acc && s->rem == rem && s->nlo == nlo &&
            s->nhi == nhi && (n == 0 || memcmp(e->set_nodes + s->first, tops, (size_t)n * sizeof *tops) == 0))
            return i;
    }
    if (e->n_sets >= GRAM_HARD_SETS || e->n_set_nodes + n > INT32_MAX) {
        e->overflow = true;
        return GS_DEAD;
    }
    int32_t cap = e->cap_sets;
    if (!grow_arr((void **)&e->sets, &cap, e->n_sets + 1, sizeof *e->sets)) goto oom;
    if (cap != e->cap_sets) {
        int32_t *nx = lair_realloc(e->next, (size_t)cap * 256 * sizeof *nx);
        if (!nx) goto oom;
        e->next = nx;
        e->cap_sets = cap;
    }
    int32_t cap_sn = (int32_t)e->cap_set_nodes;
    if (!grow_arr((void **)&e->set_nodes, &cap_sn, e->n_set_nodes + n + 1, sizeof *e->set_nodes)) goto oom;
    e->cap_set_nodes = cap_sn;
    if (n) memcpy(e->set_nodes + e->n_set_nodes, tops, (size_t)n * sizeof *tops);
    const lair_grammar *g = e->g;
    int32_t mb = complete ? 0 : GRAM_INF;
    for (int32_t k = 0; k < n; k++) {
        const gnode *nd = &e->nodes[tops[k]];
        int32_t m = rem ? rem + g->min_from[nd->pos + 1] + e->nodes[nd->parent].min : nd->min;
        if (m < mb) mb = m;
    }
    int32_t id = e->n_sets++;
    e->sets[id] = (gset){.first = (int32_t)e->n_set_nodes, .n = n, .acc = acc, .rem = rem, .nlo = nlo, .nhi = nhi,
                         .complete = complete, .min_bytes = mb >= GRAM_INF ? GRAM_INF : mb,
                         .chain = e->set_buckets[h & e->set_mask], .mask_slot = -1, .hash = h};
    e->set_buckets[h & e->set_mask] = id;
    e->n_set_nodes += n;
    for (int k = 0; k < 256; k++) e->next[(int64_t)id * 256 + k] = GS_UNKNOWN;
    if ((uint32_t)e->n_sets > e->set_mask && !rehash_sets(e, (e->set_mask + 1) * 2)) goto oom;
    return id;
oom:
    e->nomem = e->overflow = true;
    return GS_DEAD;
}

static bool class_has(const lair_grammar *g, const gelem *el, uint32_t cp) {
    const grange *r = g->ranges + el->a;
    for (int32_t k = 0; k < el->b; k++) {
        if (cp < r[k].lo) return false;
        if (cp <= r[k].hi) return true;
    }
    return false;
}

static bool class_meets(const lair_grammar *g, const gelem *el, uint32_t lo, uint32_t hi) {
    const grange *r = g->ranges + el->a;
    for (int32_t k = 0; k < el->b; k++) {
        if (r[k].lo > hi) return false;
        if (r[k].hi >= lo) return true;
    }
    return false;
}

static bool class_covers(const lair_grammar *g, const gelem *el, uint32_t lo, uint32_t hi) {
    const grange *r = g->ranges + el->a;
    for (int32_t k = 0; k < el->b; k++) /* ranges are merged: a cover lies in one */
        if (r[k].lo <= lo && r[k].hi >= hi) return true;
    return false;
}

/* A state with the same stacks, keeping those whose character class can
 * still match a character of the code point range [lo, hi].  When every
 * kept class holds the whole range, which character it becomes no longer
 * matters: the state forgets the bits (acc = GS_UNIFORM), so "." and
 * negated classes do not split into one state per character prefix. */
static int32_t partial_set(gengine *e, int32_t s, uint32_t acc, uint8_t rem, uint8_t nlo, uint8_t nhi) {
    uint32_t lo = (((acc << 6) | (nlo & 0x3Fu)) << (6 * (rem - 1)));
    uint32_t hi = (((acc << 6) | (nhi & 0x3Fu)) << (6 * (rem - 1))) | ((1u << (6 * (rem - 1))) - 1);
    int32_t n = e->sets[s].n, first = e->sets[s].first, m = 0;
    if (!grow_arr((void **)&e->out, &e->cap_out, n + 1, sizeof *e->out)) {
        e->nomem = e->overflow = true;
        return GS_DEAD;
    }
    bool uniform = true;
    for (int32_t k = 0; k < n; k++) {
        int32_t id = e->set_nodes[first + k];
        const gelem *el = &e->g->elems[e->nodes[id].pos];
        if (class_meets(e->g, el, lo, hi)) {
            e->out[m++] = id;
            uniform = uniform && class_covers(e->g, el, lo, hi);
        }
    }
    return make_set(e, e->out, m, false, uniform ? GS_UNIFORM : acc, rem, nlo, nhi);
}

/* A uniform partial state after one more continuation byte: the same stacks
 * (all of them advance when the character completes). */
static int32_t uniform_next(gengine *e, int32_t s) {
    const gset S = e->sets[s];
    if (S.rem == 1) {
        int32_t n_work = 0;
        for (int32_t k = 0; k < S.n; k++) {
            const gnode *nd = &e->nodes[e->set_nodes[S.first + k]];
            if (!push_work(e, &n_work, nd->pos + 1, nd->parent)) return GS_DEAD;
        }
        bool complete = false;
        int32_t m = closure(e, n_work, &complete);
        return m < 0 ? GS_DEAD : make_set(e, e->out, m, complete, 0, 0, 0, 0);
    }
    if (!grow_arr((void **)&e->out, &e->cap_out, S.n + 1, sizeof *e->out)) {
        e->nomem = e->overflow = true;
        return GS_DEAD;
    }
    memcpy(e->out, e->set_nodes + S.first, (size_t)S.n * sizeof *e->out); /* make_set may move set_nodes */
    return make_set(e, e->out, S.n, false, GS_UNIFORM, (uint8_t)(S.rem - 1), 0x80, 0xBF);
}

/* Every stack of s whose top character class holds cp, advanced past it. */
static int32_t char_set(gengine *e, int32_t s, uint32_t cp) {
    int32_t n = e->sets[s].n, first = e->sets[s].first, n_work = 0;
    for (int32_t k = 0; k < n; k++) {
        const gnode *nd = &e->nodes[e->set_nodes[first + k]];
        if (class_has(e->g, &e->g->elems[nd->pos], cp) && !push_work(e, &n_work, nd->pos + 1, nd->parent))
            return GS_DEAD;
    }
    bool complete = false;
    int32_t m = closure(e, n_work, &complete);
    if (m < 0) return GS_DEAD;
    return make_set(e, e->out, m, complete, 0, 0, 0, 0);
}

int32_t gengine_step(gengine *e, int32_t s, uint8_t b) {
    gset S = e->sets[s];
    int32_t t = GS_DEAD;
    if (S.rem == 0) {
        if (b < 0x80) t = char_set(e, s, b);
        else if (b >= 0xC2 && b <= 0xDF) t = partial_set(e, s, b & 0x1Fu, 1, 0x80, 0xBF);
        else if (b == 0xE0) t = partial_set(e, s, 0, 2, 0xA0, 0xBF);
        else if (b == 0xED) t = partial_set(e, s, 0x0D, 2, 0x80, 0x9F);
        else if (b >= 0xE1 && b <= 0xEF) t = partial_set(e, s, b & 0x0Fu, 2, 0x80, 0xBF);
        else if (b == 0xF0) t = partial_set(e, s, 0, 3, 0x90, 0xBF);
        else if (b >= 0xF1 && b <= 0xF3) t = partial_set(e, s, b & 0x07u, 3, 0x80, 0xBF);
        else if (b == 0xF4) t = partial_set(e, s, 4, 3, 0x80, 0x8F);
    } else if (b >= S.nlo && b <= S.nhi && S.acc == GS_UNIFORM) {
        t = uniform_next(e, s);
        if (t != GS_DEAD || !e->overflow) /* every byte of the range leads there */
            for (int k = S.nlo; k <= S.nhi; k++) e->next[(int64_t)s * 256 + k] = t;
    } else if (b >= S.nlo && b <= S.nhi) {
        uint32_t acc = (S.acc << 6) | (b & 0x3Fu);
        t = S.rem == 1 ? char_set(e, s, acc) : partial_set(e, s, acc, (uint8_t)(S.rem - 1), 0x80, 0xBF);
    }
    /* a transition cut by a limit is not remembered: it may succeed after a rebase */
    if (t != GS_DEAD || !e->overflow) {
        e->next[(int64_t)s * 256 + b] = t;
        if (S.rem == 0 && b >= 0xC2 && b <= 0xF4 && S.has_run && S.run_len > 0) {
            /* a state that treats plain characters alike: every lead byte of
             * the group (same continuation bytes due) starts the same
             * partial state, which keeps the stacks taking plain characters */
            static const uint8_t group[][2] = {{0xC2, 0xDF}, {0xE0, 0xE0}, {0xE1, 0xEC}, {0xED, 0xED},
                                               {0xEE, 0xEF}, {0xF0, 0xF0}, {0xF1, 0xF3}, {0xF4, 0xF4}};
            for (int g = 0; g < 8; g++)
                if (b >= group[g][0] && b <= group[g][1])
                    for (int k = group[g][0]; k <= group[g][1]; k++) e->next[(int64_t)s * 256 + k] = t;
        }
    }
    return t;
}

gbyteset gengine_loop(gengine *e, int32_t s) {
    if (!e->sets[s].has_loop) {
        gbyteset l = {{0, 0}};
        for (int b = 0; b < 0x7F; b++)
            if (gengine_next(e, s, (uint8_t)b) == s) l.w[b >> 6] |= 1ull << (b & 63);
        e->sets[s].loop = l;
        e->sets[s].has_loop = true;
    }
    return e->sets[s].loop;
}

const gchain *gengine_chain(gengine *e, int32_t s) {
    if (e->sets[s].run) return e->sets[s].run;
    gchain *c = lair_calloc(1, sizeof *c);
    if (!c) {
        e->nomem = true;
        return NULL;
    }
    gbyteset cur = {{~0ull, ~(1ull << 63)}}; /* every ASCII byte but DEL */
    int32_t st = s, mx = 0;
    for (int k = 0; k <= GRAM_CHAIN; k++) c->state[k] = -1;
    c->state[0] = s;
    for (int k = 1; k <= GRAM_CHAIN; k++) {
        /* the run follows the target of a typical text byte ('e', else the
         * first byte still in the set); cheaper than finding the mode */
        int32_t tgt[0x7F];
        int pick = -1;
        for (int b = 0; b < 0x7F; b++) {
            tgt[b] = -1;
            if (cur.w[b >> 6] >> (b & 63) & 1) {
                tgt[b] = gengine_next(e, st, (uint8_t)b);
                if (tgt[b] >= 0 && (pick < 0 || b == 'e')) pick = b;
            }
        }
        if (pick < 0) break;
        gbyteset next = {{0, 0}};
        int n_next = 0;
        for (int b = 0; b < 0x7F; b++)
            if (tgt[b] == tgt[pick]) {
                next.w[b >> 6] |= 1ull << (b & 63);
                n_next++;
            }
        if (n_next < 8) break; /* too narrow to skip much: walk it */
        st = tgt[pick];
        if (e->sets[st].min_bytes > mx) mx = e->sets[st].min_bytes;
        c->set[k] = next;
        c->maxmin[k] = mx;
        c->state[k] = st;
        cur = next;
    }
    c->stable = c->state[GRAM_CHAIN] >= 0 && c->state[GRAM_CHAIN] == c->state[GRAM_CHAIN - 1] &&
                c->set[GRAM_CHAIN].w[0] == c->set[GRAM_CHAIN - 1].w[0] &&
                c->set[GRAM_CHAIN].w[1] == c->set[GRAM_CHAIN - 1].w[1];
    e->sets[s].run = c;
    return c;
}

static void free_chains(gengine *e) {
    for (int32_t i = 0; i < e->n_sets; i++) {
        lair_free(e->sets[i].run);
        e->sets[i].run = NULL;
    }
}

static void reset_tables(gengine *e) {
    free_chains(e);
    e->n_nodes = 1;
    e->nodes[0] = (gnode){-1, -1, 0, -1};
    memset(e->node_buckets, 0xFF, ((size_t)e->node_mask + 1) * sizeof *e->node_buckets);
    e->n_sets = 0;
    e->n_set_nodes = 0;
    memset(e->set_buckets, 0xFF, ((size_t)e->set_mask + 1) * sizeof *e->set_buckets);
    e->overflow = false;
    e->generation++;
}

int32_t gengine_init(gengine *e, const lair_grammar *g) {
    memset(e, 0, sizeof *e);
    e->g = g;
    e->cap_nodes = 1024;
    e->nodes = lair_malloc((size_t)e->cap_nodes * sizeof *e->nodes);
    e->stamp = lair_calloc((size_t)e->cap_nodes, sizeof *e->stamp);
    e->node_buckets = lair_malloc(1024 * sizeof *e->node_buckets);
    e->set_buckets = lair_malloc(256 * sizeof *e->set_buckets);
    /* room for the soft number of states up front (4 MiB of transitions,
     * touched only as states appear): growing the table by copying would
     * cost milliseconds in the middle of a mask */
    e->sets = lair_malloc((size_t)GRAM_SOFT_SETS * sizeof *e->sets);
    e->next = lair_malloc((size_t)GRAM_SOFT_SETS * 256 * sizeof *e->next);
    e->cap_sets = GRAM_SOFT_SETS;
    if (!e->nodes || !e->stamp || !e->node_buckets || !e->set_buckets || !e->sets || !e->next) {
        e->nomem = true;
        return GS_DEAD;
    }
    e->node_mask = 1023;
    e->set_mask = 255;
    reset_tables(e);
    int32_t n_work = 0;
    const grule *r = &g->rules[g->root];
    for (int32_t a = r->n_alts - 1; a >= 0; a--)
        if (!push_work(e, &n_work, g->alts[r->alt0 + a], 0)) return GS_DEAD;
    bool complete = false;
    int32_t m = closure(e, n_work, &complete);
    return m < 0 ? GS_DEAD : make_set(e, e->out, m, complete, 0, 0, 0, 0);
}

void gengine_free(gengine *e) {
    if (e->sets) free_chains(e);
    lair_free(e->nodes);
    lair_free(e->node_buckets);
    lair_free(e->sets);
    lair_free(e->set_buckets);
    lair_free(e->set_nodes);
    lair_free(e->next);
    lair_free(e->work);
    lair_free(e->run_buf);
    lair_free(e->out);
    lair_free(e->stamp);
    memset(e, 0, sizeof *e);
}

int32_t gengine_maybe_rebase(gengine *e, int32_t s) {
    if (e->n_sets <= GRAM_SOFT_SETS && e->n_nodes <= GRAM_SOFT_NODES) return s;
    gset S = e->sets[s];
    /* each stack as its positions bottom-up, after a count: [depth, pos...]* */
    int64_t total = 0;
    for (int32_t k = 0; k < S.n; k++)
        for (int32_t id = e->set_nodes[S.first + k]; id > 0; id = e->nodes[id].parent) total++;
    int32_t *chains = lair_malloc((size_t)(total + S.n + 1) * sizeof *chains);
    if (!chains) {
        e->nomem = true;
        return GS_DEAD;
    }
    int64_t w = 0;
    for (int32_t k = 0; k < S.n; k++) {
        int32_t d = 0;
        for (int32_t id = e->set_nodes[S.first + k]; id > 0; id = e->nodes[id].parent) d++;
        chains[w] = d;
        int64_t at = w + d;
        for (int32_t id = e->set_nodes[S.first + k]; id > 0; id = e->nodes[id].parent) chains[at--] = e->nodes[id].pos;
        w += d + 1;
    }
    reset_tables(e);
    int32_t *tops = lair_malloc((size_t)(S.n + 1) * sizeof *tops);
    int32_t r = GS_DEAD;
    if (!tops) {
        e->nomem = true;
        goto out;
    }
    w = 0;
    for (int32_t k = 0; k < S.n; k++) {
        int32_t d = chains[w++], id = 0;
        for (int32_t j = 0; j < d; j++) {
            id = intern_node(e, chains[w++], id);
            if (id < 0) goto out;
        }
        tops[k] = id;
    }
    r = make_set(e, tops, S.n, S.complete, S.acc, S.rem, S.nlo, S.nhi);
out:
    lair_free(chains);
    lair_free(tops);
    return r;
}

/* Follows the bytes from the start state: *n_ok gets how many were taken;
 * returns whether all were and the result is complete. */
static bool run_text(const lair_grammar *g, const char *text, size_t len, size_t *n_ok) {
    gengine e;
    int32_t s = gengine_init(&e, g);
    size_t i = 0;
    for (; i < len && s >= 0; i++) {
        int32_t t = gengine_next(&e, s, (uint8_t)text[i]);
        if (t < 0) break;
        s = t;
        if (e.n_sets > GRAM_SOFT_SETS || e.n_nodes > GRAM_SOFT_NODES) s = gengine_maybe_rebase(&e, s);
    }
    *n_ok = s >= 0 ? i : 0;
    bool ok = s >= 0 && i == len && e.sets[s].complete;
    gengine_free(&e);
    return ok;
}

bool lair_grammar_accepts(const lair_grammar *g, const char *text, size_t len) {
    size_t n;
    return run_text(g, text, len, &n);
}

size_t lair_grammar_valid_prefix(const lair_grammar *g, const char *text, size_t len) {
    size_t n;
    run_text(g, text, len, &n);
    return n;
}

bool gengine_plain_uniform(const gengine *e, int32_t s) {
    static const grange plain[4] = {{0x20, 0x21}, {0x23, 0x5B}, {0x5D, 0xD7FF}, {0xE000, 0x10FFFF}};
    const gset *S = &e->sets[s];
    if (S->rem) return false;
    for (int32_t k = 0; k < S->n; k++) {
        const gelem *el = &e->g->elems[e->nodes[e->set_nodes[S->first + k]].pos];
        int n_cov = 0, n_meet = 0;
        for (int j = 0; j < 4; j++) {
            n_cov += class_covers(e->g, el, plain[j].lo, plain[j].hi);
            n_meet += class_meets(e->g, el, plain[j].lo, plain[j].hi);
        }
        if (n_meet && n_cov < 4) return false;
    }
    return true;
}

/* Measures the plain run from s afresh: follows 'a' (standing for every
 * plain character) while the states are uniform, up to GRAM_RUN_CAP steps,
 * a loop, or a state whose run is known; then fills the run of every state
 * passed, last first.  A run cut at the cap is open: it continues from its
 * end state (run_end), measured when some caller needs more. */
static bool measure_run(gengine *e, int32_t s) {
    if (!e->run_buf && !(e->run_buf = lair_malloc((GRAM_RUN_CAP + 2) * sizeof *e->run_buf))) {
        e->nomem = true;
        return false;
    }
    int32_t *c = e->run_buf, n = 0, len = 0, mx = 0, end = -1;
    bool dead = false, open = false;
    c[n++] = s;
    for (;;) {
        int32_t cur = c[n - 1];
        if (n - 1 >= GRAM_RUN_CAP) { /* measured far enough; it may go on from cur */
            open = true;
            end = cur;
            break;
        }
        if (!gengine_plain_uniform(e, cur)) break; /* len 0 from cur */
        int32_t t = gengine_next(e, cur, 'a');
        if (t < 0 && (e->overflow || e->nomem)) return false; /* cut by a limit, not refused */
        /* every plain ASCII byte goes where 'a' goes: fill the row at once */
        int32_t *row = e->next + (int64_t)cur * 256;
        for (int b = 0x20; b < 0x80; b++)
            if (b != '"' && b != '\\' && row[b] == GS_UNKNOWN) row[b] = t;
        if (t < 0) {
            dead = true;
            break;
        }
        if (t == cur) {
            len = GRAM_RUN_LOOP;
            break;
        }
        if (e->sets[t].has_run && t != s) { /* continue from a known run */
            const gset *T = &e->sets[t];
            len = T->run_len == GRAM_RUN_LOOP ? GRAM_RUN_LOOP : T->run_len + 1;
            dead = T->run_dead;
            open = T->run_open;
            end = T->run_end;
            mx = T->run_mx - 3;
            break;
        }
        c[n++] = t;
    }
    /* c[n - 1]'s run: len (0, or continuing into a known run, or a loop) */
    for (int32_t j = n - 1; j >= 0; j--) {
        gset *S = &e->sets[c[j]];
        if (S->min_bytes > mx) mx = S->min_bytes;
        int32_t l = len == GRAM_RUN_LOOP ? GRAM_RUN_LOOP : len + (n - 1 - j);
        S->run_len = (int16_t)(l > GRAM_RUN_MAX && l != GRAM_RUN_LOOP ? GRAM_RUN_MAX : l);
        S->run_dead = dead;
        S->run_open = open;
        S->run_end = end;
        S->run_mx = mx >= GRAM_INF - 3 ? GRAM_INF : mx + 3;
        S->has_run = true;
    }
    return true;
}

bool gengine_plain_run(gengine *e, int32_t s, int32_t need) {
    if (!e->sets[s].has_run && !measure_run(e, s)) return false;
    for (int k = 0; k < GRAM_RUN_MAX / GRAM_RUN_CAP + 2; k++) {
        const gset *S = &e->sets[s];
        if (!S->run_open || S->run_len >= need || S->run_len >= GRAM_RUN_MAX) return true;
        int32_t before = S->run_len;
        int32_t end = S->run_end;
        const gset *E = &e->sets[end];
        if (E->run_open && E->run_end == end && !measure_run(e, end)) return false; /* the end itself: measure on */
        E = &e->sets[end];
        gset *W = &e->sets[s];
        if (end != s) { /* s's run = the way to end, then end's run */
            int32_t l = E->run_len == GRAM_RUN_LOOP ? GRAM_RUN_LOOP : W->run_len + E->run_len;
            W->run_len = (int16_t)(l > GRAM_RUN_MAX && l != GRAM_RUN_LOOP ? GRAM_RUN_MAX : l);
            W->run_dead = E->run_dead;
            W->run_open = E->run_open;
            W->run_end = E->run_end;
            if (E->run_mx > W->run_mx) W->run_mx = E->run_mx;
        }
        if (W->run_len <= before) return true; /* no progress (a cycle of states): stays open, a lower bound */
    }
    return true;
}
