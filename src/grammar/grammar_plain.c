/* The plain-text index of a vocabulary, for fast masks inside strings.
 *
 * Plain code points: U+0020..U+10FFFF except '"', '\\' and the surrogates
 * (what a JSON string holds without escapes).  Inside a string, and in
 * every position of a bounded run such as char{0,200}, each plain
 * character leads to the same next state, so a plain token of n code
 * points is allowed exactly when the run from the state lasts n steps:
 * the mask is one precomputed bitset row (plain tokens of <= n points)
 * plus a walk of the much smaller trie of the other tokens (those with a
 * quote, a backslash, a control byte, a broken UTF-8 start, or more than
 * GRAM_PLAIN_MAX points).  A token cut inside its last character counts
 * that character: the partial state is alive exactly when a whole plain
 * character would be. */
#include <string.h>

#include "core/alloc.h"
#include "grammar/grammar_internal.h"

/* The length of the UTF-8 character starting with lead byte b (1..4) and
 * its first continuation byte's range; 0 for a byte no character starts with. */
static int utf8_lead(uint8_t b, uint8_t *lo, uint8_t *hi) {
    *lo = 0x80;
    *hi = 0xBF;
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) return 2;
    if (b >= 0xE0 && b <= 0xEF) {
        if (b == 0xE0) *lo = 0xA0;
        if (b == 0xED) *hi = 0x9F; /* no surrogates */
        return 3;
    }
    if (b >= 0xF0 && b <= 0xF4) {
        if (b == 0xF0) *lo = 0x90;
        if (b == 0xF4) *hi = 0x8F;
        return 4;
    }
    return 0;
}

/* Decodes p[i..len) as whole characters, the last one possibly cut short;
 * counts them in *n and checks each with ok(cp or -1 for a cut one).
 * False at broken UTF-8 or when ok refuses. */
static bool utf8_scan(const uint8_t *p, int64_t i, int64_t len, int32_t *n, bool (*ok)(int32_t cp)) {
    for (*n = 0; i < len; ++*n) {
        uint8_t lo, hi;
        int l = utf8_lead(p[i], &lo, &hi);
        if (!l) return false;
        uint32_t cp = l == 1 ? p[i] : p[i] & (0x7Fu >> l);
        i++;
        int k = 1;
        for (; k < l && i < len; k++, i++) {
            if (p[i] < lo || p[i] > hi) return false;
            cp = cp << 6 | (p[i] & 0x3Fu);
            lo = 0x80;
            hi = 0xBF;
        }
        if (ok && !ok(k == l ? (int32_t)cp : -1)) return false;
    }
    return true;
}

bool gvocab_utf8_possible(const uint8_t *p, int64_t len) {
    int64_t i = 0;
    while (i < len && i < 4 && p[i] >= 0x80 && p[i] <= 0xBF) i++;
    int32_t n;
    return i <= 3 && utf8_scan(p, i, len, &n, NULL);
}

/* Plain: not '"', '\\' or a control character (a cut character is >= U+0080). */
static bool plain_cp(int32_t cp) { return cp < 0 || (cp >= 0x20 && cp != '"' && cp != '\\'); }

/* Code points of a plain piece, 0 when the piece is not plain. */
static int32_t plain_points(const uint8_t *p, int64_t len) {
    int32_t n;
    if (!utf8_scan(p, 0, len, &n, plain_cp) || n > GRAM_PLAIN_MAX) return 0;
    return n;
}

/* UTF-8 decoder states for build_pcp: 0 at a character boundary; 1..3
 * continuation bytes still due (80..BF); 4 after E0 (A0..BF then one), 5
 * after ED (80..9F then one), 6 after F0 (90..BF then two), 7 after F4
 * (80..8F then two).  The next state after byte b, -1 when b breaks the
 * UTF-8 or is a character that is not plain. */
static int plain_step(int q, uint8_t b) {
    static const uint8_t lo[8] = {0, 0x80, 0x80, 0x80, 0xA0, 0x80, 0x90, 0x80};
    static const uint8_t hi[8] = {0, 0xBF, 0xBF, 0xBF, 0xBF, 0x9F, 0xBF, 0x8F};
    static const int8_t to[8] = {0, 0, 1, 2, 1, 1, 2, 2};
    if (q) return b >= lo[q] && b <= hi[q] ? to[q] : -1;
    if (b < 0x80) return b >= 0x20 && b != '"' && b != '\\' ? 0 : -1;
    if (b >= 0xC2 && b <= 0xDF) return 1;
    if (b == 0xE0) return 4;
    if (b == 0xED) return 5;
    if (b >= 0xE1 && b <= 0xEF) return 2;
    if (b == 0xF0) return 6;
    if (b >= 0xF1 && b <= 0xF3) return 3;
    if (b == 0xF4) return 7;
    return -1;
}

/* gv->pcp, bottom-up over the trie: ok[i] holds the decoder states from
 * which every path below node i (its own byte excluded) is plain text cut
 * anywhere; most[i] the most characters begun on such a path. */
static bool build_pcp(lair_grammar_vocab *gv) {
    int32_t nn = gv->n_nodes;
    gv->pcp = lair_calloc((size_t)nn + 1, 1);
    uint8_t *ok = lair_malloc((size_t)nn + 1);
    uint16_t *most = lair_calloc((size_t)nn + 1, sizeof *most);
    int32_t *parent = lair_malloc(((size_t)nn + 1) * sizeof *parent);
    int32_t *parent_at = lair_malloc(65537 * sizeof *parent_at);
    bool good = gv->pcp && ok && most && parent && parent_at;
    if (good) {
        memset(ok, 0xFF, (size_t)nn + 1);
        for (int32_t i = 0; i < nn; i++) {
            int d = gv->nodes[i].depth;
            parent[i] = d > 1 ? parent_at[d - 1] : -1;
            parent_at[d] = i;
        }
        for (int32_t i = nn - 1; i >= 0; i--) { /* children come after their parent */
            bool leaf = gv->nodes[i].end == i + 1;
            if (!leaf && (ok[i] & 1)) gv->pcp[i] = (uint8_t)(most[i] < 1 ? 1 : most[i] > 255 ? 255 : most[i]);
            int32_t p = parent[i];
            if (p < 0) continue;
            uint8_t b = gv->nodes[i].byte, at = 0;
            for (int q = 0; q < 8; q++) {
                int r = plain_step(q, b);
                if (r >= 0 && (ok[i] >> r & 1)) at |= (uint8_t)(1u << q);
            }
            ok[p] &= at;
            uint16_t c = (uint16_t)((b < 0x80 || b >= 0xC0) + most[i]);
            if (c > 255) c = 255;
            if (c > most[p]) most[p] = c;
        }
    }
    lair_free(ok);
    lair_free(most);
    lair_free(parent);
    lair_free(parent_at);
    return good;
}

bool gvocab_build_plain(lair_grammar_vocab *gv) {
    int32_t n = gv->n_vocab, words = (n + 31) / 32;
    uint8_t *pts = lair_calloc((size_t)n, 1);
    int32_t *order = lair_malloc(((size_t)n + 1) * sizeof *order);
    if (!pts || !order) goto oom;
    int32_t n_rest = 0, mx = 0;
    for (int32_t q = 0; q < gv->tok0[gv->n_nodes]; q++) { /* tokens in the trie */
        int32_t t = gv->toks[q];
        int32_t c = plain_points((const uint8_t *)gv->blob + gv->off[t], gv->off[t + 1] - gv->off[t]);
        pts[t] = (uint8_t)c;
        if (c > mx) mx = c;
        if (!c) order[n_rest++] = t;
    }
    gv->plain_max = mx;
    gv->plain_bits = lair_calloc((size_t)(mx + 1) * (size_t)words, sizeof *gv->plain_bits);
    gv->plain_count = lair_calloc((size_t)mx + 1, sizeof *gv->plain_count);
    gv->rest = lair_calloc(1, sizeof *gv->rest);
    if (!gv->plain_bits || !gv->plain_count || !gv->rest) goto oom;
    for (int32_t t = 0; t < n; t++)
        if (pts[t]) {
            gv->plain_bits[(size_t)pts[t] * (size_t)words + (size_t)(t >> 5)] |= 1u << (t & 31);
            gv->plain_count[pts[t]]++;
        }
    for (int32_t k = 1; k <= mx; k++) { /* rows are cumulative */
        uint32_t *row = gv->plain_bits + (size_t)k * (size_t)words;
        const uint32_t *prev = row - words;
        for (int32_t w = 0; w < words; w++) row[w] |= prev[w];
        gv->plain_count[k] += gv->plain_count[k - 1];
    }
    gv->rest->n_vocab = n;
    gv->rest->blob = gv->blob;
    gv->rest->off = gv->off;
    if (!gvocab_build_trie(gv->rest, order, n_rest)) goto oom;
    gv->rest->all_bytes = false; /* describes the whole vocabulary only */
    if (!build_pcp(gv) || !build_pcp(gv->rest)) goto oom;
    lair_free(pts);
    lair_free(order);
    return true;
oom:
    lair_free(pts);
    lair_free(order);
    return false;
}
