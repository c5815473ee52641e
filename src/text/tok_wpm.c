/* WordPiece (tokenizer.ggml.model = "bert"), with BERT's normalisation.
 *
 * The text is decomposed (NFD) and lower-cased with utf8proc; control
 * characters and accents (nonspacing marks) are dropped; whitespace separates words; punctuation, ASCII
 * symbols and CJK ideographs become words of their own.  Each word, prefixed
 * with U+2581 (how GGUF files mark word starts in WordPiece vocabularies), is
 * cut greedily into the longest vocabulary entries from the left; a word with
 * a piece that matches nothing becomes the unknown token. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/alloc.h"
#include "core/err.h"
#include "text/utf8.h"
#include "text/vocab.h"

static bool is_ws(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* The CJK Unified Ideograph blocks BERT splits into single characters. */
static bool is_cjk(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Greedy longest-match of one word (already prefixed with U+2581). */
static bool wpm_word(const lair_vocab *v, const char *w, size_t n, lair_tokens *out) {
    size_t mark = out->n;
    for (size_t i = 0; i < n;) {
        size_t j = n - i > v->max_token_len ? i + v->max_token_len : n;
        int32_t id = -1;
        for (; j > i; j--) {
            id = lair_strmap_get(&v->by_text, w + i, j - i);
            if (id >= 0 && id < v->n_tokens) break;
        }
        if (j == i) { /* nothing matches here: the whole word is unknown */
            out->n = mark;
            break;
        }
        if (!tokens_push(out, id)) return false;
        i = j;
    }
    if (out->n == mark && v->unk >= 0) return tokens_push(out, v->unk);
    return true;
}

lair_status wpm_tokenize(const lair_vocab *v, const char *text, size_t len, lair_tokens *out, lair_err *err) {
    utf8proc_uint8_t *nfd = NULL; /* NFD of the text, UTF-8, malloc'd by utf8proc */
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len, &nfd, UTF8PROC_DECOMPOSE);
    if (n < 0) return lair_err_set(err, LAIR_ERR_FORMAT, "tokenizer: %s", utf8proc_errmsg(n));
    size_t nfd_len = (size_t)n;
    char *word = lair_malloc(nfd_len * 2 + 8); /* lower-casing may lengthen a character by one byte */
    if (!word) {
        free(nfd);
        return lair_err_set(err, LAIR_ERR_NOMEM, "tokenizer: out of memory");
    }
    memcpy(word, "\xE2\x96\x81", 3);
    size_t wl = 3;
    bool ok = true;
    for (size_t i = 0; i < nfd_len && ok;) {
        uint32_t c;
        size_t cl = utf8_decode(nfd + i, nfd_len - i, &c);
        if (!cl) cl = 1, c = 0xFFFD;
        i += cl;
        if (is_ws(c)) {
            if (wl > 3) ok = wpm_word(v, word, wl, out);
            wl = 3;
            continue;
        }
        utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
        if (c == 0 || c == 0xFFFD || cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF ||
            cat == UTF8PROC_CATEGORY_CO || cat == UTF8PROC_CATEGORY_CS || cat == UTF8PROC_CATEGORY_CN ||
            cat == UTF8PROC_CATEGORY_MN) /* accents, split off by NFD: uncased BERT strips them */
            continue;
        char enc[4];
        size_t el = utf8_encode((uint32_t)utf8proc_tolower((utf8proc_int32_t)c), enc);
        bool punct = (cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO) ||
                     (c < 0x7F && cat >= UTF8PROC_CATEGORY_SM && cat <= UTF8PROC_CATEGORY_SO);
        if (punct || is_cjk(c)) {
            if (wl > 3) ok = wpm_word(v, word, wl, out);
            memcpy(word + 3, enc, el);
            if (ok) ok = wpm_word(v, word, 3 + el, out);
            wl = 3;
        } else {
            memcpy(word + wl, enc, el);
            wl += el;
        }
    }
    if (ok && wl > 3) ok = wpm_word(v, word, wl, out);
    lair_free(word);
    free(nfd);
    return ok ? LAIR_OK : lair_err_set(err, LAIR_ERR_NOMEM, "tokenizer: out of memory");
}
