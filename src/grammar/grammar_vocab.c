/* The token trie of a vocabulary: every token's piece bytes, sorted, laid
 * out in depth-first preorder (node i's subtree is [i, end[i])), so a mask
 * walk visits nodes in order and skips a rejected subtree with one jump.
 * Built once per model; immutable afterwards. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "grammar/grammar_internal.h"

typedef struct sort_ctx {
    const char *blob;
    const int64_t *off;
} sort_ctx;

/* qsort has no context argument in C11: the pieces being sorted, guarded by g_sort_lock */
static sort_ctx g_sort;

static int cmp_piece(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    int64_t lx = g_sort.off[x + 1] - g_sort.off[x], ly = g_sort.off[y + 1] - g_sort.off[y];
    int64_t l = lx < ly ? lx : ly;
    int c = memcmp(g_sort.blob + g_sort.off[x], g_sort.blob + g_sort.off[y], (size_t)l);
    if (c) return c;
    if (lx != ly) return lx < ly ? -1 : 1;
    return (x > y) - (x < y);
}

void lair_grammar_vocab_free(lair_grammar_vocab *gv) {
    if (!gv) return;
    if (gv->rest) { /* borrows the pieces */
        gv->rest->blob = NULL;
        gv->rest->off = NULL;
        lair_grammar_vocab_free(gv->rest);
    }
    lair_free(gv->plain_bits);
    lair_free(gv->pcp);
    lair_free(gv->plain_count);
    lair_free(gv->nodes);
    lair_free(gv->sub);
    lair_free(gv->height);
    lair_free(gv->tok0);
    lair_free(gv->toks);
    lair_free(gv->blob);
    lair_free(gv->off);
    lair_free(gv->eog);
    lair_free(gv->is_eog);
    lair_free(gv);
}

bool lair_grammar_vocab_has_all_bytes(const lair_grammar_vocab *gv) { return gv->all_bytes; }

static pthread_mutex_t g_sort_lock = PTHREAD_MUTEX_INITIALIZER;

/* Sorts the n_order tokens with non-empty pieces (gv->blob, gv->off set)
 * and lays out the trie; false when out of memory. */
bool gvocab_build_trie(lair_grammar_vocab *gv, int32_t *order, int32_t n_order) {
    bool seen[256] = {0};
    int64_t used = gv->off[gv->n_vocab];
    for (int32_t k = 0; k < n_order; k++)
        if (gv->off[order[k] + 1] - gv->off[order[k]] == 1) seen[(uint8_t)gv->blob[gv->off[order[k]]]] = true;
    gv->all_bytes = true; /* C0, C1 and F5..FF never occur in UTF-8 */
    for (int k = 0; k < 256; k++) gv->all_bytes &= seen[k] || k == 0xC0 || k == 0xC1 || k >= 0xF5;
    pthread_mutex_lock(&g_sort_lock);
    g_sort = (sort_ctx){gv->blob, gv->off};
    qsort(order, (size_t)n_order, sizeof *order, cmp_piece);
    pthread_mutex_unlock(&g_sort_lock);
    /* nodes: one per distinct prefix; at most the total piece bytes + 1 */
    int64_t max_nodes = used + 1;
    gv->nodes = lair_malloc((size_t)max_nodes * sizeof *gv->nodes);
    gv->tok0 = lair_malloc(((size_t)max_nodes + 1) * sizeof *gv->tok0);
    gv->toks = lair_malloc(((size_t)n_order + 1) * sizeof *gv->toks);
    int32_t *open = lair_malloc(65537 * sizeof *open); /* node at each depth on the current path */
    if (!gv->nodes || !gv->tok0 || !gv->toks || !open) {
        lair_free(open);
        return false;
    }
    int32_t nn = 0, n_open = 0, nt = 0;
    const uint8_t *prev = NULL;
    int64_t prev_len = 0;
    for (int32_t k = 0; k < n_order; k++) {
        int32_t t = order[k];
        const uint8_t *p = (const uint8_t *)gv->blob + gv->off[t];
        int64_t len = gv->off[t + 1] - gv->off[t];
        int64_t lcp = 0;
        while (lcp < len && lcp < prev_len && p[lcp] == prev[lcp]) lcp++;
        /* close nodes deeper than the common prefix */
        while (n_open > lcp) gv->nodes[open[--n_open]].end = nn;
        for (int64_t d = lcp; d < len; d++) {
            gv->nodes[nn] = (gtnode){p[d], 0, (uint16_t)(d + 1), 0};
            gv->tok0[nn] = nt;
            open[n_open++] = nn++;
        }
        /* the token ends at the deepest open node; tokens there are consecutive */
        gv->toks[nt++] = t;
        gv->nodes[nn - 1].has_tok = 1;
        prev = p;
        prev_len = len;
        if (len > gv->max_piece) gv->max_piece = (int32_t)len;
    }
    while (n_open > 0) gv->nodes[open[--n_open]].end = nn;
    lair_free(open);
    gv->n_nodes = nn;
    gv->max_depth = gv->max_piece;
    /* Tokens ending at node i are toks[tok0[i] .. tok0[i + 1]): sorted order
     * puts a piece before every piece it prefixes, so a token is appended
     * right after its node (or its duplicates') and before the next node. */
    gv->tok0[nn] = nt;
    gtnode *fit = nn ? lair_realloc(gv->nodes, (size_t)nn * sizeof *gv->nodes) : NULL; /* shrink to size */
    if (fit) gv->nodes = fit;
    int32_t *fit0 = lair_realloc(gv->tok0, ((size_t)nn + 1) * sizeof *gv->tok0);
    if (fit0) gv->tok0 = fit0;
    /* ASCII byte sets of every subtree, bottom-up: a node's parent is the
     * nearest earlier node one level up (preorder) */
    gv->sub = lair_calloc((size_t)nn + 1, sizeof *gv->sub);
    gv->height = lair_calloc((size_t)nn + 1, 1);
    int32_t *parent_at = lair_malloc(65537 * sizeof *parent_at);
    int32_t *parent = lair_malloc(((size_t)nn + 1) * sizeof *parent);
    if (!gv->sub || !gv->height || !parent_at || !parent) {
        lair_free(parent_at);
        lair_free(parent);
        return false;
    }
    for (int32_t i = 0; i < nn; i++) {
        int d = gv->nodes[i].depth;
        parent[i] = d > 1 ? parent_at[d - 1] : -1;
        parent_at[d] = i;
    }
    for (int32_t i = nn - 1; i >= 0; i--) {
        uint8_t b = gv->nodes[i].byte;
        int bitno = b < 0x7F ? b : 127; /* every non-ASCII byte (and DEL) is bit 127 */
        gv->sub[i].w[bitno >> 6] |= 1ull << (bitno & 63);
        if (gv->height[i] < 255) gv->height[i]++; /* children raised it to their height */
        if (parent[i] >= 0) {
            if (gv->height[parent[i]] < gv->height[i]) gv->height[parent[i]] = gv->height[i];
            gv->sub[parent[i]].w[0] |= gv->sub[i].w[0];
            gv->sub[parent[i]].w[1] |= gv->sub[i].w[1];
        }
    }
    lair_free(parent_at);
    lair_free(parent);
    return true;
}

/* Where the token texts come from: a model's vocabulary, or arrays (tests). */
typedef struct piece_source {
    size_t (*piece)(const void *ctx, int32_t t, char *buf, size_t cap); /* bytes of the text; written when <= cap */
    bool (*is_eog)(const void *ctx, int32_t t);
    const void *ctx;
} piece_source;

static lair_status gvocab_build(const piece_source *src, int32_t n, lair_grammar_vocab **out, lair_err *err) {
    *out = NULL;
    if (n <= 0) return lair_err_set(err, LAIR_ERR_ARG, "grammar: the vocabulary has no tokens");
    lair_grammar_vocab *gv = lair_calloc(1, sizeof *gv);
    if (!gv) return lair_err_set(err, LAIR_ERR_NOMEM, "grammar: out of memory");
    gv->n_vocab = n;
    int32_t *order = NULL;
    int64_t cap = (int64_t)n * 8 + 64, used = 0;
    gv->off = lair_malloc(((size_t)n + 1) * sizeof *gv->off);
    gv->blob = lair_malloc((size_t)cap);
    gv->is_eog = lair_calloc((size_t)n, 1);
    gv->eog = lair_malloc((size_t)n * sizeof *gv->eog);
    order = lair_malloc((size_t)n * sizeof *order);
    if (!gv->off || !gv->blob || !gv->is_eog || !gv->eog || !order) goto oom;
    int32_t n_order = 0;
    for (int32_t t = 0; t < n; t++) {
        gv->off[t] = used;
        if (src->is_eog(src->ctx, t)) { /* allowed by completeness, never by bytes */
            gv->is_eog[t] = 1;
            gv->eog[gv->n_eog++] = t;
            continue;
        }
        size_t len;
        for (;;) {
            len = src->piece(src->ctx, t, gv->blob + used, (size_t)(cap - used));
            if ((int64_t)len <= cap - used) break;
            cap = (cap + (int64_t)len) * 2;
            char *nb = lair_realloc(gv->blob, (size_t)cap);
            if (!nb) goto oom;
            gv->blob = nb;
        }
        if (len == 0) continue; /* control tokens: never allowed */
        if (len > 65535) {
            lair_grammar_vocab_free(gv);
            lair_free(order);
            return lair_err_set(err, LAIR_ERR_LIMIT, "grammar: token %d has a piece of %zu bytes (limit 65535)", (int)t, len);
        }
        if (gvocab_utf8_possible((const uint8_t *)gv->blob + used, (int64_t)len)) order[n_order++] = t;
        used += (int64_t)len;
    }
    gv->off[n] = used;
    if (!gvocab_build_trie(gv, order, n_order) || !gvocab_build_plain(gv)) goto oom;
    lair_free(order);
    *out = gv;
    return LAIR_OK;
oom:
    lair_free(order);
    lair_grammar_vocab_free(gv);
    return lair_err_set(err, LAIR_ERR_NOMEM, "grammar: out of memory building the token trie");
}

static size_t vocab_piece(const void *ctx, int32_t t, char *buf, size_t cap) { return lair_token_piece(ctx, t, false, buf, cap); }
static bool vocab_is_eog(const void *ctx, int32_t t) { return lair_vocab_is_eog(ctx, t); }

lair_status lair_grammar_vocab_create(const lair_vocab *v, lair_grammar_vocab **out, lair_err *err) {
    const piece_source src = {vocab_piece, vocab_is_eog, v};
    return gvocab_build(&src, lair_vocab_n_tokens(v), out, err);
}

typedef struct piece_arrays {
    const char *const *pieces;
    const size_t *lens;
    const bool *eog;
} piece_arrays;

static size_t array_piece(const void *ctx, int32_t t, char *buf, size_t cap) {
    const piece_arrays *a = ctx;
    if (a->lens[t] <= cap) memcpy(buf, a->pieces[t], a->lens[t]);
    return a->lens[t];
}
static bool array_is_eog(const void *ctx, int32_t t) { return ((const piece_arrays *)ctx)->eog[t]; }

lair_status gvocab_from_pieces(const char *const *pieces, const size_t *lens, const bool *eog, int32_t n,
                               lair_grammar_vocab **out, lair_err *err) {
    const piece_arrays a = {pieces, lens, eog};
    const piece_source src = {array_piece, array_is_eog, &a};
    return gvocab_build(&src, n, out, err);
}
