/* Byte-level BPE by merge rank (tokenizer.ggml.model = "gpt2").
 *
 * The pre-tokenizer cuts the text into words; each word's bytes are written
 * as GPT-2's byte characters (vocab_load.c) and start as one symbol per
 * character.  Repeatedly the adjacent pair with the lowest merge rank
 * (leftmost on ties) is merged.  Symbols are interned string ids, so a pair
 * lookup is one probe of an integer hash table.  A final symbol that is not a
 * token is spelled with the tokens of its single bytes, where they exist. */
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "text/pretok.h"
#include "text/vocab.h"

typedef struct bpe_sym {
    int32_t prev, next;
    int32_t id;          /* interned string id, -1: not interned */
    uint32_t start, len; /* bytes of the encoded word; len 0: merged away */
} bpe_sym;

typedef struct bpe_pair {
    int32_t rank, left, right, result;
    int32_t right_id; /* the right symbol's id when queued: a pair whose right
                         symbol has grown since is stale (the left one cannot
                         change while it still borders the right one) */
} bpe_pair;

static inline bool pair_before(const bpe_pair *a, const bpe_pair *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

/* Scratch reused across the words of one call. */
typedef struct bpe_work {
    char *enc;          /* the encoded word */
    size_t enc_cap;
    bpe_sym *sym;
    size_t sym_cap;
    bpe_pair *heap;
    size_t heap_n, heap_cap;
} bpe_work;

static const bpe_merge *find_merge(const lair_vocab *v, int32_t l, int32_t r) {
    uint64_t h = ((uint64_t)(uint32_t)l * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)(uint32_t)r * 0xc2b2ae3d27d4eb4full);
    for (size_t s = (h >> 20) & v->merge_mask;; s = (s + 1) & v->merge_mask) {
        const bpe_merge *e = &v->merges[s];
        if (e->left < 0) return NULL;
        if (e->left == l && e->right == r) return e;
    }
}

static bool heap_push(bpe_work *w, bpe_pair p) {
    if (w->heap_n == w->heap_cap) {
        size_t cap = w->heap_cap ? w->heap_cap * 2 : 64;
        bpe_pair *v = lair_realloc(w->heap, cap * sizeof *v);
        if (!v) return false;
        w->heap = v;
        w->heap_cap = cap;
    }
    size_t i = w->heap_n++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!pair_before(&p, &w->heap[up])) break;
        w->heap[i] = w->heap[up];
        i = up;
    }
    w->heap[i] = p;
    return true;
}

static bpe_pair heap_pop(bpe_work *w) {
    bpe_pair top = w->heap[0], last = w->heap[--w->heap_n];
    size_t i = 0, n = w->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && pair_before(&w->heap[c + 1], &w->heap[c])) c++;
        if (!pair_before(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n) w->heap[i] = last;
    return top;
}

static bool try_pair(const lair_vocab *v, bpe_work *w, int32_t l, int32_t r) {
    if (l < 0 || r < 0 || w->sym[l].id < 0 || w->sym[r].id < 0) return true;
    const bpe_merge *m = find_merge(v, w->sym[l].id, w->sym[r].id);
    if (!m) return true;
    return heap_push(w, (bpe_pair){m->rank, l, r, m->result, w->sym[r].id});
}

static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = lair_realloc(*p, c * elem);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

/* One word: encode, merge, emit. */
static bool bpe_word(const lair_vocab *v, bpe_work *w, const char *word, size_t wl, lair_tokens *out) {
    if (!grow((void **)&w->enc, &w->enc_cap, wl * 2, 1)) return false;
    size_t el = 0;
    for (size_t i = 0; i < wl; i++) el += bpe_byte_char((unsigned char)word[i], w->enc + el);
    const char *e = w->enc;
    if (v->ignore_merges) { /* a whole word that is a token stays whole */
        int32_t id = lair_strmap_get(&v->by_text, e, el);
        if (id >= 0 && id < v->n_tokens) return tokens_push(out, id);
    }
    if (!grow((void **)&w->sym, &w->sym_cap, el, sizeof *w->sym)) return false;
    int32_t n = 0;
    for (size_t i = 0; i < el;) {
        size_t cl = utf8_seq_len((unsigned char)e[i]);
        if (cl > el - i) cl = el - i;
        w->sym[n] = (bpe_sym){n - 1, -1, lair_strmap_get(&v->by_text, e + i, cl), (uint32_t)i, (uint32_t)cl};
        if (n > 0) w->sym[n - 1].next = n;
        n++;
        i += cl;
    }
    w->heap_n = 0;
    for (int32_t i = 1; i < n; i++)
        if (!try_pair(v, w, i - 1, i)) return false;
    while (w->heap_n) {
        bpe_pair p = heap_pop(w);
        bpe_sym *l = &w->sym[p.left], *r = &w->sym[p.right];
        if (l->len == 0 || r->len == 0 || l->next != p.right || r->id != p.right_id) continue; /* stale */
        l->len += r->len;
        l->id = p.result;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) w->sym[r->next].prev = p.left;
        if (!try_pair(v, w, l->prev, p.left) || !try_pair(v, w, p.left, l->next)) return false;
    }
    for (int32_t i = 0; i >= 0 && i < n; i = w->sym[i].next) {
        const bpe_sym *s = &w->sym[i];
        if (s->id >= 0 && s->id < v->n_tokens) {
            if (!tokens_push(out, s->id)) return false;
            continue;
        }
        for (uint32_t b = 0; b < s->len; b++) { /* single bytes of the encoded text, where they are tokens */
            int32_t id = lair_strmap_get(&v->by_text, e + s->start + b, 1);
            if (id >= 0 && id < v->n_tokens && !tokens_push(out, id)) return false;
        }
    }
    return true;
}

lair_status bpe_tokenize(const lair_vocab *v, const char *text, size_t len, lair_tokens *out, lair_err *err) {
    pretok_span *words = NULL;
    size_t n_words = 0;
    lair_status st = pretok_split(v->pre, text, len, &words, &n_words, err);
    if (st != LAIR_OK) return st;
    bpe_work w = {0};
    for (size_t i = 0; i < n_words; i++)
        if (!bpe_word(v, &w, text + words[i].start, words[i].len, out)) {
            st = lair_err_set(err, LAIR_ERR_NOMEM, "tokenizer: out of memory");
            break;
        }
    lair_free(w.enc);
    lair_free(w.sym);
    lair_free(w.heap);
    lair_free(words);
    return st;
}
