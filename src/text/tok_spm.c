/* SentencePiece BPE by scores (tokenizer.ggml.model = "llama").
 *
 * The text (spaces already U+2581) starts as one symbol per UTF-8 character.
 * Repeatedly, of all adjacent pairs whose concatenation is a vocabulary token,
 * the one whose token has the highest score (leftmost on ties) is merged.
 * Symbols that end up outside the vocabulary are spelled with byte tokens
 * <0xNN>.  Pairs live in a binary heap; a pair made stale by an earlier merge
 * is recognised by its length and skipped.  The text is first cut where no
 * token can span (vocab.h: spm_pairs), which keeps the heaps small. */
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "text/vocab.h"

typedef struct spm_sym {
    int32_t prev, next;  /* neighbours in the live list (-1: none) */
    uint32_t start, len; /* bytes of the text; len 0: merged away */
    int32_t id;          /* its token once merged (-1: look it up) */
} spm_sym;

typedef struct spm_pair {
    float score;
    int32_t left;     /* index of the left symbol */
    uint32_t len;     /* combined length when queued */
    int32_t id;       /* the token the pair makes */
} spm_pair;

/* Heap order: higher score first, then the leftmost pair. */
static inline bool pair_before(const spm_pair *a, const spm_pair *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

typedef struct spm_heap {
    spm_pair *v;
    size_t n, cap;
} spm_heap;

static bool heap_push(spm_heap *h, spm_pair p) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 256;
        spm_pair *v = lair_realloc(h->v, cap * sizeof *v);
        if (!v) return false;
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!pair_before(&p, &h->v[up])) break;
        h->v[i] = h->v[up];
        i = up;
    }
    h->v[i] = p;
    return true;
}

static spm_pair heap_pop(spm_heap *h) {
    spm_pair top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && pair_before(&h->v[c + 1], &h->v[c])) c++;
        if (!pair_before(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}

static bool try_pair(const lair_vocab *v, const char *text, const spm_sym *sym, int32_t l, int32_t r, spm_heap *h) {
    if (l < 0 || r < 0) return true;
    uint32_t len = sym[l].len + sym[r].len;
    int32_t id = lair_strmap_get(&v->by_text, text + sym[l].start, len);
    if (id < 0 || id >= v->n_tokens) return true;
    return heap_push(h, (spm_pair){v->score[id], l, len, id});
}

/* Scratch reused by the pieces of one call. */
typedef struct spm_work {
    spm_sym *sym;
    size_t sym_cap;
    spm_heap h;
} spm_work;

static lair_status spm_piece(const lair_vocab *v, const char *text, size_t len, spm_work *w, lair_tokens *out,
                             lair_err *err) {
    if (len == 0) return LAIR_OK;
    lair_status st = LAIR_OK;
    if (len > w->sym_cap) {
        spm_sym *g = lair_realloc(w->sym, len * sizeof *g);
        if (!g) return lair_err_set(err, LAIR_ERR_NOMEM, "tokenizer: out of memory");
        w->sym = g;
        w->sym_cap = len;
    }
    spm_sym *sym = w->sym;
    spm_heap *hp = &w->h;
    hp->n = 0;
    int32_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t cl = utf8_seq_len((unsigned char)text[i]);
        if (cl > len - i) cl = len - i;
        sym[n] = (spm_sym){n - 1, -1, (uint32_t)i, (uint32_t)cl, -1};
        if (n > 0) sym[n - 1].next = n;
        n++;
        i += cl;
    }
    for (int32_t i = 1; i < n; i++)
        if (!try_pair(v, text, sym, i - 1, i, hp)) goto nomem;
    while (hp->n) {
        spm_pair p = heap_pop(hp);
        spm_sym *l = &sym[p.left];
        if (l->len == 0 || l->next < 0) continue;
        spm_sym *r = &sym[l->next];
        if (r->len == 0 || l->len + r->len != p.len) continue; /* stale */
        l->len += r->len;
        l->id = p.id;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = p.left;
        if (!try_pair(v, text, sym, l->prev, p.left, hp) || !try_pair(v, text, sym, p.left, l->next, hp)) goto nomem;
    }
    for (int32_t i = 0; i >= 0 && i < n; i = sym[i].next) {
        const char *s = text + sym[i].start;
        int32_t id = sym[i].id >= 0 ? sym[i].id : lair_strmap_get(&v->by_text, s, sym[i].len);
        if (id >= 0 && id < v->n_tokens) {
            if (!tokens_push(out, id)) goto nomem;
            continue;
        }
        for (uint32_t b = 0; b < sym[i].len; b++) { /* byte fallback */
            int32_t bt = v->byte_token[(unsigned char)s[b]];
            if (bt < 0) bt = v->unk;
            if (bt >= 0 && !tokens_push(out, bt)) goto nomem;
        }
    }
    return st;
nomem:
    return lair_err_set(err, LAIR_ERR_NOMEM, "tokenizer: out of memory");
}

lair_status spm_tokenize(const lair_vocab *v, const char *text, size_t len, lair_tokens *out, lair_err *err) {
    size_t start = 0, prev = 0, prev_len = 0;
    spm_work w = {0};
    lair_status st = LAIR_OK;
    for (size_t i = 0; i < len;) {
        size_t cl = utf8_seq_len((unsigned char)text[i]);
        if (cl > len - i) cl = len - i;
        if (i > 0) {
            uint64_t h = spm_pair_hash(text + prev, prev_len, text + i, cl) & v->spm_pairs_mask;
            if (!(v->spm_pairs[h >> 6] >> (h & 63) & 1)) { /* no token spans this point: cut */
                st = spm_piece(v, text + start, i - start, &w, out, err);
                if (st != LAIR_OK) break;
                start = i;
            }
        }
        prev = i;
        prev_len = cl;
        i += cl;
    }
    if (st == LAIR_OK) st = spm_piece(v, text + start, len - start, &w, out, err);
    lair_free(w.sym);
    lair_free(w.h.v);
    return st;
}
