/* lair_tokenize: cut the text at special-token texts, run the vocabulary's
 * tokenizer over each plain run, add BOS/EOS. */
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "text/utf8.h"
#include "text/vocab.h"

#define NOMEM(err) lair_err_set(err, LAIR_ERR_NOMEM, "tokenizer: out of memory")

/* Longest text lair_tokenize takes in one call (the tokenizers index with 32-bit ints). */
#define TOKENIZE_MAX_BYTES ((size_t)1 << 30)

bool tokens_push(lair_tokens *t, lair_token id) {
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        lair_token *ids = lair_realloc(t->ids, cap * sizeof *ids);
        if (!ids) return false;
        t->ids = ids;
        t->cap = cap;
    }
    t->ids[t->n++] = id;
    return true;
}

bool lair_tokens_append(lair_tokens *t, const lair_token *ids, size_t n) {
    if (t->n + n > t->cap) {
        size_t cap = t->cap ? t->cap : 64;
        while (cap < t->n + n) cap *= 2;
        lair_token *g = lair_realloc(t->ids, cap * sizeof *g);
        if (!g) return false;
        t->ids = g;
        t->cap = cap;
    }
    if (n) memcpy(t->ids + t->n, ids, n * sizeof *ids);
    t->n += n;
    return true;
}

void lair_tokens_free(lair_tokens *t) {
    if (!t) return;
    lair_free(t->ids);
    *t = (lair_tokens){0};
}

/* A piece of the input: plain text [start, start+len) or one special token. */
typedef struct frag {
    size_t start, len;
    lair_token token; /* -1: plain text */
} frag;

typedef struct frag_list {
    frag *v;
    size_t n, cap;
} frag_list;

static bool frag_push(frag_list *l, frag f) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        frag *v = lair_realloc(l->v, cap * sizeof *v);
        if (!v) return false;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = f;
    return true;
}

static const char *find_bytes(const char *h, size_t hn, const char *n, size_t nn) {
    if (nn == 0 || nn > hn) return NULL;
    const char *end = h + hn - nn;
    for (const char *p = h; p <= end; p++) {
        p = memchr(p, n[0], (size_t)(end - p) + 1);
        if (!p) return NULL;
        if (memcmp(p, n, nn) == 0) return p;
    }
    return NULL;
}

/* Splits plain fragments at every occurrence of each special text, longest
 * texts first.  Control and unknown tokens only when parse_special; user-defined
 * tokens always (they are ordinary words of the vocabulary). */
static bool guarded(const lair_text_range *g, size_t n_g, size_t at, size_t len) {
    for (size_t i = 0; i < n_g; i++)
        if (at < g[i].end && at + len > g[i].start) return true;
    return false;
}

static lair_status partition(const lair_vocab *v, const char *text, size_t len, bool parse_special,
                             const lair_text_range *g, size_t n_g, frag_list *out, lair_err *err) {
    frag_list cur = {0}, next = {0};
    if (!frag_push(&cur, (frag){0, len, -1})) return NOMEM(err);
    for (int32_t s = 0; s < v->n_specials; s++) {
        lair_token id = v->specials[s];
        if (!parse_special && (v->attr[id] & (TOK_CONTROL | TOK_UNKNOWN))) continue;
        const char *st = v->text[id].ptr;
        size_t sl = v->text[id].len;
        if (!find_bytes(text, len, st, sl)) continue; /* cheap filter: most specials never occur */
        next.n = 0;
        for (size_t i = 0; i < cur.n; i++) {
            frag f = cur.v[i];
            if (f.token >= 0) {
                if (!frag_push(&next, f)) goto nomem;
                continue;
            }
            const char *p = text + f.start, *end = p + f.len, *hit;
            const char *from = p;
            while ((hit = find_bytes(from, (size_t)(end - from), st, sl)) != NULL) {
                if (guarded(g, n_g, (size_t)(hit - text), sl)) { /* plain text here, whatever it spells */
                    from = hit + 1;
                    continue;
                }
                if (hit > p && !frag_push(&next, (frag){(size_t)(p - text), (size_t)(hit - p), -1})) goto nomem;
                if (!frag_push(&next, (frag){(size_t)(hit - text), sl, id})) goto nomem;
                p = from = hit + sl;
            }
            if (p < end && !frag_push(&next, (frag){(size_t)(p - text), (size_t)(end - p), -1})) goto nomem;
        }
        frag_list t = cur;
        cur = next;
        next = t;
    }
    lair_free(next.v);
    *out = cur;
    return LAIR_OK;
nomem:
    lair_free(cur.v);
    lair_free(next.v);
    return NOMEM(err);
}

/* Invalid UTF-8 becomes U+FFFD, one per bad byte (what the reference does
 * before byte-level BPE); returns text itself when it is valid. */
static const char *sanitize(const char *text, size_t len, char **owned, size_t *out_len) {
    *owned = NULL;
    *out_len = len;
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    uint32_t cp;
    while (i < len) {
        size_t n = utf8_decode(s + i, len - i, &cp);
        if (!n) break;
        i += n;
    }
    if (i == len) return text;
    char *buf = lair_malloc(len * 3 + 1);
    if (!buf) return NULL;
    memcpy(buf, text, i);
    size_t o = i;
    while (i < len) {
        size_t n = utf8_decode(s + i, len - i, &cp);
        if (n) {
            memcpy(buf + o, s + i, n);
            o += n;
            i += n;
        } else {
            memcpy(buf + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    *owned = buf;
    *out_len = o;
    return buf;
}

/* SentencePiece's view of text: a leading space when asked, spaces as U+2581. */
static lair_status spm_run(const lair_vocab *v, const char *text, size_t len, bool space_prefix, lair_tokens *out,
                           lair_err *err) {
    size_t spaces = space_prefix;
    for (size_t i = 0; i < len; i++) spaces += text[i] == ' ';
    char *buf = lair_malloc(len + spaces * 2 + 1);
    if (!buf) return NOMEM(err);
    size_t o = 0;
    if (space_prefix) memcpy(buf, "\xE2\x96\x81", 3), o = 3;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') memcpy(buf + o, "\xE2\x96\x81", 3), o += 3;
        else buf[o++] = text[i];
    }
    lair_status st = spm_tokenize(v, buf, o, out, err);
    lair_free(buf);
    return st;
}

lair_status lair_tokenize(const lair_vocab *v, const char *text, size_t len, unsigned flags, lair_tokens *out,
                          lair_err *err) {
    return lair_tokenize_guarded(v, text, len, flags, NULL, 0, out, err);
}

lair_status lair_tokenize_guarded(const lair_vocab *v, const char *text, size_t len, unsigned flags,
                                  const lair_text_range *guard, size_t n_guard, lair_tokens *out, lair_err *err) {
    if (!v || !out || (!text && len)) return lair_err_set(err, LAIR_ERR_ARG, "tokenizer: NULL argument");
    if (len > TOKENIZE_MAX_BYTES)
        return lair_err_set(err, LAIR_ERR_LIMIT, "tokenizer: text of %zu bytes exceeds the 1 GiB limit", len);
    const bool add_special = flags & LAIR_TOK_ADD_SPECIAL;
    lair_token first = v->kind == VOCAB_WPM ? (v->cls >= 0 ? v->cls : v->bos) : v->bos;
    lair_token last = v->kind == VOCAB_WPM ? v->sep : v->eos;
    if (add_special && v->add_bos && first >= 0 && !tokens_push(out, first)) return NOMEM(err);

    char *owned = NULL;
    size_t clean_len = len;
    const char *clean = text ? text : "";
    if (v->kind != VOCAB_SPM) {
        clean = sanitize(clean, len, &owned, &clean_len);
        if (!clean) return NOMEM(err);
        if (owned && n_guard) flags &= ~LAIR_TOK_PARSE_SPECIAL; /* offsets moved: fail closed, parse no specials */
    }
    frag_list frags = {0};
    lair_status st = clean_len ? partition(v, clean, clean_len, flags & LAIR_TOK_PARSE_SPECIAL, guard, n_guard, &frags, err) : LAIR_OK;
    bool prev_special = true; /* SentencePiece adds its space prefix at the start and after a special token */
    for (size_t i = 0; st == LAIR_OK && i < frags.n; i++) {
        frag f = frags.v[i];
        if (f.token >= 0) {
            if (!tokens_push(out, f.token)) st = NOMEM(err);
            prev_special = true;
            continue;
        }
        const char *p = clean + f.start;
        switch (v->kind) {
        case VOCAB_SPM: st = spm_run(v, p, f.len, v->add_space_prefix && prev_special, out, err); break;
        case VOCAB_BPE: st = bpe_tokenize(v, p, f.len, out, err); break;
        case VOCAB_WPM: st = wpm_tokenize(v, p, f.len, out, err); break;
        }
        prev_special = false;
    }
    lair_free(frags.v);
    lair_free(owned);
    if (st == LAIR_OK && add_special && v->add_eos && last >= 0 && !tokens_push(out, last))
        st = NOMEM(err);
    return st;
}
