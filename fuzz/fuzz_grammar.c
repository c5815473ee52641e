/* libFuzzer target: the grammar engine on arbitrary grammars and texts.
 * Input: byte 0 and 1 give the split (little-endian 16-bit offset into the
 * rest, clamped) between the GBNF text and the input text.  The grammar is
 * parsed; if it parses, the text is run through accepts() and
 * valid_prefix(), and a matcher on a tiny built-in vocabulary follows a walk
 * chosen by the text's bytes, checking mask and allows() agree and that the
 * budget guarantee holds.  Everything must stay in bounds and finish. */
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "grammar/grammar_internal.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

/* Single bytes (all 256, so budgets hold), a few multi-byte and
 * mid-character pieces, a control token and an end-of-generation token. */
#define N_MULTI 12
static const char *const k_multi[N_MULTI] = {"\"", "{\"", "\": ", "true", "null", "日本", "\xE6\x97", "\xA5\xE6",
                                             "😀", "ab", "\\u00", ""};
static lair_grammar_vocab *g_gv;
static int32_t g_n;

static void init_vocab(void) {
    static char bytes[256];
    const char *pieces[256 + N_MULTI + 1];
    size_t lens[256 + N_MULTI + 1];
    bool eog[256 + N_MULTI + 1] = {0};
    int32_t n = 0;
    for (int b = 0; b < 256; b++) {
        bytes[b] = (char)b;
        pieces[n] = bytes + b;
        lens[n++] = 1;
    }
    for (int k = 0; k < N_MULTI; k++) {
        pieces[n] = k_multi[k];
        lens[n++] = strlen(k_multi[k]);
    }
    pieces[n] = "";
    lens[n] = 0;
    eog[n++] = true;
    lair_err e;
    if (gvocab_from_pieces(pieces, lens, eog, n, &g_gv, &e) != LAIR_OK) abort();
    g_n = n;
}

static void run_matcher(const lair_grammar *g, const unsigned char *walk, size_t n_walk) {
    lair_grammar_matcher *m = NULL;
    lair_err e;
    if (lair_grammar_matcher_create(g, g_gv, &m, &e) != LAIR_OK) return;
    uint32_t mask[(256 + N_MULTI + 1 + 31) / 32];
    int32_t budget = n_walk ? (int32_t)(walk[0] % 64) + lair_grammar_matcher_min_bytes(m) : -1;
    if (budget > 4000) budget = -1;
    for (size_t i = 1; i < n_walk && i < 256; i++) {
        int64_t cnt = lair_grammar_matcher_mask(m, mask, g_n, budget);
        int64_t c2 = 0;
        for (int32_t t = 0; t < g_n; t++) {
            bool bit = mask[t >> 5] >> (t & 31) & 1;
            c2 += bit;
            if (budget < 0 && bit != lair_grammar_matcher_allows(m, t)) abort();
            if (bit && !lair_grammar_matcher_allows(m, t)) abort();
        }
        if (c2 != cnt) abort();
        /* a complete state always allows the end token (budget left) */
        if (cnt == 0 && budget != 0 && lair_grammar_matcher_complete(m)) abort();
        if (cnt == 0) break;
        int32_t k = walk[i] % (int32_t)cnt, t = 0;
        for (; t < g_n; t++)
            if ((mask[t >> 5] >> (t & 31) & 1) && k-- == 0) break;
        if (lair_grammar_matcher_accept(m, t, &e) != LAIR_OK) abort();
        if (t == g_n - 1) {
            if (!lair_grammar_matcher_complete(m)) abort();
            break;
        }
        if (budget > 0) {
            budget--;
            if (lair_grammar_matcher_min_bytes(m) > budget) abort();
            if (budget == 0 && !lair_grammar_matcher_complete(m)) abort();
        }
    }
    lair_grammar_matcher_free(m);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    if (!g_gv) init_vocab();
    if (size < 2) return 0;
    size_t split = (size_t)data[0] | (size_t)data[1] << 8;
    data += 2;
    size -= 2;
    if (split > size) split = size;
    lair_grammar_limits lim = lair_grammar_default_limits();
    lim.max_rules = 2000; /* keeps each input fast */
    lim.max_repeat = 200;
    lair_grammar *g = NULL;
    lair_err e;
    if (lair_grammar_parse((const char *)data, split, NULL, &lim, &g, &e) != LAIR_OK) {
        if (!memchr(e.msg, 0, sizeof e.msg) || strncmp(e.msg, "grammar: ", 9) != 0) abort();
        return 0;
    }
    const char *text = (const char *)data + split;
    size_t len = size - split;
    bool ok = lair_grammar_accepts(g, text, len);
    size_t pre = lair_grammar_valid_prefix(g, text, len);
    if (pre > len || (ok && pre != len)) abort();
    run_matcher(g, (const unsigned char *)text, len);
    lair_grammar_free(g);
    return 0;
}
