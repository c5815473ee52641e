/* From tokens back to text: one token's piece, and a streaming detokenizer
 * that only ever hands out whole UTF-8 characters. */
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "text/utf8.h"
#include "text/vocab.h"

int bpe_char_byte(uint32_t cp) {
    if (cp >= 0x100 && cp <= 0x120) return (int)(cp - 0x100);
    if (cp >= 0x121 && cp <= 0x142) return (int)(0x7F + cp - 0x121);
    if (cp == 0x143) return 0xAD;
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF)) return (int)cp;
    return -1;
}

static size_t put(char *buf, size_t cap, size_t o, const char *s, size_t n) {
    if (o < cap) memcpy(buf + o, s, o + n <= cap ? n : cap - o);
    return o + n;
}

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

size_t lair_token_piece(const lair_vocab *v, lair_token t, bool special, char *buf, size_t cap) {
    if (!v || t < 0 || t >= v->n_tokens) return 0;
    const char *s = v->text[t].ptr;
    size_t n = v->text[t].len, o = 0;
    uint8_t a = v->attr[t];
    if (a & TOK_CONTROL) return special ? put(buf, cap, 0, s, n) : 0;
    if (a & TOK_USER_DEFINED) return put(buf, cap, 0, s, n);
    if ((a & TOK_BYTE) && v->kind != VOCAB_BPE) {
        if (n == 6 && memcmp(s, "<0x", 3) == 0 && hexval(s[3]) >= 0 && hexval(s[4]) >= 0) {
            char b = (char)(hexval(s[3]) * 16 + hexval(s[4]));
            return put(buf, cap, 0, &b, 1);
        }
        return put(buf, cap, 0, s, n);
    }
    if ((a & TOK_UNKNOWN) && v->kind == VOCAB_SPM) return put(buf, cap, 0, "\xE2\x96\x85", 3); /* ▅, as SentencePiece prints it */
    if (v->kind == VOCAB_BPE) { /* byte characters back to bytes */
        for (size_t i = 0; i < n;) {
            uint32_t cp;
            size_t cl = utf8_decode((const unsigned char *)s + i, n - i, &cp);
            int b = cl ? bpe_char_byte(cp) : -1;
            if (!cl) cl = 1;
            if (b >= 0) {
                char c = (char)b;
                o = put(buf, cap, o, &c, 1);
            } else {
                o = put(buf, cap, o, s + i, cl);
            }
            i += cl;
        }
        return o;
    }
    for (size_t i = 0; i < n;) { /* SentencePiece and WordPiece: U+2581 is a space */
        if (n - i >= 3 && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
            o = put(buf, cap, o, " ", 1);
            i += 3;
        } else {
            o = put(buf, cap, o, s + i, 1);
            i++;
        }
    }
    return o;
}

lair_status lair_detok_init(lair_detok *d, const lair_vocab *v, bool special, bool text_start, lair_err *err) {
    memset(d, 0, sizeof *d);
    d->vocab = v;
    d->special = special;
    d->strip_space = text_start && v->kind == VOCAB_SPM && v->add_space_prefix;
    d->cap = (v->max_token_len + 8) * 3 + 1; /* every byte may turn into U+FFFD */
    d->buf = lair_malloc(2 * d->cap);         /* output, then scratch */
    if (!d->buf) return lair_err_set(err, LAIR_ERR_NOMEM, "detokenizer: out of memory");
    d->buf[0] = 0;
    return LAIR_OK;
}

void lair_detok_free(lair_detok *d) {
    if (!d) return;
    lair_free(d->buf);
    d->buf = NULL;
}

/* True when s[0..n) is the start of a valid character that needs more bytes. */
static bool unfinished(const unsigned char *s, size_t n) {
    size_t want = utf8_seq_len(s[0]);
    if (want < 2 || n >= want) return false;
    for (size_t j = 1; j < n; j++)
        if ((s[j] & 0xC0) != 0x80) return false;
    return true;
}

/* Moves the complete characters of pending+in to d->buf and keeps an
 * unfinished last one in pending.  Bytes that cannot be part of a valid
 * character become U+FFFD.  The scratch half of d->buf holds pending+in. */
static size_t drain(lair_detok *d, const unsigned char *in, size_t n, bool final) {
    unsigned char *src = (unsigned char *)d->buf + d->cap;
    size_t m = d->n_pending + n, o = 0, k = 0;
    memcpy(src, d->pending, d->n_pending);
    if (n) memcpy(src + d->n_pending, in, n);
    d->n_pending = 0;
    while (k < m) {
        uint32_t cp;
        size_t cl = utf8_decode(src + k, m - k, &cp);
        if (cl) {
            memcpy(d->buf + o, src + k, cl);
            o += cl;
            k += cl;
        } else if (!final && unfinished(src + k, m - k)) {
            memcpy(d->pending, src + k, m - k);
            d->n_pending = m - k;
            break;
        } else {
            memcpy(d->buf + o, "\xEF\xBF\xBD", 3);
            o += 3;
            k++;
        }
    }
    d->buf[o] = 0;
    return o;
}

const char *lair_detok_push(lair_detok *d, lair_token t, size_t *len) {
    char piece[1024];
    size_t n = lair_token_piece(d->vocab, t, d->special, piece, sizeof piece);
    const char *p = piece;
    char *big = NULL;
    if (n > sizeof piece) { /* longer than any real token, but a file may say so */
        big = lair_malloc(n);
        if (!big) {
            *len = 0;
            d->buf[0] = 0;
            return d->buf;
        }
        lair_token_piece(d->vocab, t, d->special, big, n);
        p = big;
    }
    if (d->strip_space && n > 0) {
        if (p[0] == ' ') p++, n--;
        d->strip_space = false;
    }
    *len = drain(d, (const unsigned char *)p, n, false);
    lair_free(big);
    return d->buf;
}

const char *lair_detok_flush(lair_detok *d, size_t *len) {
    *len = drain(d, NULL, 0, true);
    return d->buf;
}
