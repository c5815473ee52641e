/* GBNF text -> lair_grammar.  A recursive-descent parser whose recursion is
 * bounded by max_depth (parentheses), building each rule's alternatives in
 * its own element vector; repetitions become generated rules.  Checks here:
 * every rule defined, root present; gbnf_check.c does the rest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "grammar/grammar_internal.h"

#define GRAM_MAX_ELEMS (1 << 22) /* elements after expansion (~48 MiB) */

typedef struct pbody {
    gelem *e;
    int32_t n, cap;
} pbody;

typedef struct prule {
    char *name;
    pbody body;
    bool defined;
    int32_t def_line, ref_line, ref_rule;
} prule;

typedef struct parser {
    const char *s;
    size_t len, i;
    int32_t line;
    lair_grammar_limits lim;
    prule *rules;
    int32_t n_rules, cap_rules;
    int32_t *names; /* open-addressing hash of named rules: rule id + 1, 0 empty */
    uint32_t names_mask;
    grange *ranges;
    int32_t n_ranges, cap_ranges;
    int64_t n_elems;
    int32_t cur;   /* rule being defined (for messages) */
    int32_t depth;
    int32_t gen;   /* generated-rule counter */
    lair_err *err;
    lair_status st;
} parser;

static lair_status perr(parser *p, lair_status code, const char *what) {
    if (p->st != LAIR_OK) return p->st;
    const char *rn = p->cur >= 0 ? p->rules[p->cur].name : NULL;
    if (rn)
        lair_err_set(p->err, code, "grammar: line %d, rule '%s': %s", (int)p->line, rn, what);
    else
        lair_err_set(p->err, code, "grammar: line %d: %s", (int)p->line, what);
    p->st = code;
    return code;
}

static lair_status nomem(parser *p) { return perr(p, LAIR_ERR_NOMEM, "out of memory"); }

static bool grow(void **ptr, int32_t *cap, int32_t need, size_t elsize) {
    if (need <= *cap) return true;
    int32_t nc = *cap ? *cap : 16;
    while (nc < need) {
        if (nc > INT32_MAX / 2) return false;
        nc *= 2;
    }
    void *q = lair_realloc(*ptr, (size_t)nc * elsize);
    if (!q) return false;
    *ptr = q;
    *cap = nc;
    return true;
}

static uint32_t hash_name(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static int32_t new_rule(parser *p, char *name) {
    if (p->n_rules >= p->lim.max_rules) {
        lair_free(name);
        char m[96];
        snprintf(m, sizeof m, "more than %d rules (after expanding repetitions)", (int)p->lim.max_rules);
        perr(p, LAIR_ERR_LIMIT, m);
        return -1;
    }
    if (!grow((void **)&p->rules, &p->cap_rules, p->n_rules + 1, sizeof *p->rules)) {
        lair_free(name);
        nomem(p);
        return -1;
    }
    prule *r = &p->rules[p->n_rules];
    memset(r, 0, sizeof *r);
    r->name = name;
    r->ref_rule = -1;
    return p->n_rules++;
}

static int32_t gen_rule(parser *p) {
    const char *base = p->cur >= 0 ? p->rules[p->cur].name : "root";
    size_t n = strlen(base) + 16;
    char *name = lair_malloc(n);
    if (!name) {
        nomem(p);
        return -1;
    }
    snprintf(name, n, "%s-%d", base, (int)++p->gen);
    int32_t id = new_rule(p, name);
    if (id >= 0) {
        p->rules[id].defined = true;
        p->rules[id].def_line = p->line;
    }
    return id;
}

/* The named rule's id, created (undefined) on first sight. */
static int32_t named_rule(parser *p, const char *s, size_t n) {
    if ((uint32_t)p->n_rules * 2 >= p->names_mask) {
        uint32_t nm = p->names_mask ? p->names_mask * 2 + 1 : 255;
        int32_t *nb = lair_calloc((size_t)nm + 1, sizeof *nb);
        if (!nb) {
            nomem(p);
            return -1;
        }
        for (uint32_t k = 0; p->names && k <= p->names_mask; k++) {
            if (!p->names[k]) continue;
            const char *nmn = p->rules[p->names[k] - 1].name;
            uint32_t h = hash_name(nmn, strlen(nmn)) & nm;
            while (nb[h]) h = (h + 1) & nm;
            nb[h] = p->names[k];
        }
        lair_free(p->names);
        p->names = nb;
        p->names_mask = nm;
    }
    uint32_t h = hash_name(s, n) & p->names_mask;
    for (; p->names[h]; h = (h + 1) & p->names_mask) {
        const char *rn = p->rules[p->names[h] - 1].name;
        if (strlen(rn) == n && memcmp(rn, s, n) == 0) return p->names[h] - 1;
    }
    char *name = lair_strndup(s, n);
    if (!name) {
        nomem(p);
        return -1;
    }
    int32_t id = new_rule(p, name);
    if (id >= 0) p->names[h] = id + 1;
    return id;
}

static bool emit(parser *p, int32_t r, uint8_t type, int32_t a, int32_t b) {
    if (++p->n_elems > GRAM_MAX_ELEMS) {
        perr(p, LAIR_ERR_LIMIT, "grammar too large after expanding repetitions (more than 4M elements)");
        return false;
    }
    pbody *bd = &p->rules[r].body;
    if (!grow((void **)&bd->e, &bd->cap, bd->n + 1, sizeof *bd->e)) {
        nomem(p);
        return false;
    }
    bd->e[bd->n++] = (gelem){type, a, b};
    return true;
}

static bool emit_class(parser *p, int32_t r, const grange *rg, int32_t n) {
    if (!grow((void **)&p->ranges, &p->cap_ranges, p->n_ranges + n, sizeof *p->ranges)) {
        nomem(p);
        return false;
    }
    memcpy(p->ranges + p->n_ranges, rg, (size_t)n * sizeof *rg);
    int32_t first = p->n_ranges;
    p->n_ranges += n;
    return emit(p, r, GE_CHAR, first, n);
}

/* ---- lexing ---------------------------------------------------------------- */

static bool is_word(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static void skip_space(parser *p) {
    while (p->i < p->len) {
        char c = p->s[p->i];
        if (c == '#') {
            while (p->i < p->len && p->s[p->i] != '\n') p->i++;
        } else if (c == '\n') {
            p->line++;
            p->i++;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            p->i++;
        } else {
            break;
        }
    }
}

/* Whether a word at p->i is followed by "::=" (a new rule starts). */
static bool at_rule_start(const parser *p) {
    size_t i = p->i;
    while (i < p->len && is_word(p->s[i])) i++;
    while (i < p->len && (p->s[i] == ' ' || p->s[i] == '\t')) i++;
    return i + 3 <= p->len && memcmp(p->s + i, "::=", 3) == 0;
}

/* One UTF-8 code point of the grammar text; -1 on invalid UTF-8. */
static int64_t read_utf8(parser *p) {
    const unsigned char *s = (const unsigned char *)p->s;
    unsigned c = s[p->i];
    int n = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
    if (!n || p->i + (size_t)n > p->len) return -1;
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (int k = 1; k < n; k++) {
        unsigned d = s[p->i + (size_t)k];
        if ((d & 0xC0) != 0x80) return -1;
        cp = (cp << 6) | (d & 0x3F);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
    p->i += (size_t)n;
    return cp;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* One character of a literal or class (escapes resolved); -1 after an error. */
static int64_t read_char(parser *p) {
    if (p->i >= p->len) return -1;
    if (p->s[p->i] != '\\') {
        if (p->s[p->i] == '\n') {
            perr(p, LAIR_ERR_FORMAT, "newline inside a literal or class (unterminated?)");
            return -1;
        }
        int64_t cp = read_utf8(p);
        if (cp < 0) perr(p, LAIR_ERR_FORMAT, "invalid UTF-8 in the grammar text");
        return cp;
    }
    if (p->i + 1 >= p->len) {
        perr(p, LAIR_ERR_FORMAT, "unterminated escape at the end of the text");
        return -1;
    }
    char c = p->s[p->i + 1];
    p->i += 2;
    int digits = 0;
    switch (c) {
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case '\\': case '"': case ']': case '[': case '-': case '/': case '\'': return (unsigned char)c;
    case 'x': digits = 2; break;
    case 'u': digits = 4; break;
    case 'U': digits = 8; break;
    default: {
        char m[64];
        snprintf(m, sizeof m, "bad escape '\\%c'", c >= 0x20 && c < 0x7F ? c : '?');
        perr(p, LAIR_ERR_FORMAT, m);
        return -1;
    }
    }
    uint32_t v = 0;
    for (int k = 0; k < digits; k++) {
        int h = p->i < p->len ? hexval(p->s[p->i]) : -1;
        if (h < 0) {
            perr(p, LAIR_ERR_FORMAT, "bad escape: \\x, \\u and \\U need 2, 4 and 8 hex digits");
            return -1;
        }
        if (v > 0x10FFFF) v = 0x110000; /* saturate before shifting 8 digits */
        v = v * 16 + (uint32_t)h;
        p->i++;
    }
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        perr(p, LAIR_ERR_FORMAT, "bad escape: not a Unicode scalar value (surrogate or above U+10FFFF)");
        return -1;
    }
    return v;
}

/* ---- syntax ---------------------------------------------------------------- */

static bool parse_alts(parser *p, int32_t r, bool nested);

static int cmp_range(const void *a, const void *b) {
    const grange *x = a, *y = b;
    return (x->lo > y->lo) - (x->lo < y->lo);
}

static bool parse_class(parser *p, int32_t r) {
    p->i++; /* [ */
    bool neg = p->i < p->len && p->s[p->i] == '^';
    if (neg) p->i++;
    grange *rg = NULL;
    int32_t n = 0, cap = 0;
    bool ok = false;
    for (;;) {
        if (p->i >= p->len) {
            perr(p, LAIR_ERR_FORMAT, "unterminated character class '['");
            goto out;
        }
        if (p->s[p->i] == ']') break;
        int64_t lo = read_char(p);
        if (lo < 0) goto out;
        int64_t hi = lo;
        if (p->i + 1 < p->len && p->s[p->i] == '-' && p->s[p->i + 1] != ']') {
            p->i++;
            hi = read_char(p);
            if (hi < 0) goto out;
            if (hi < lo) {
                perr(p, LAIR_ERR_FORMAT, "character class range out of order (end before start)");
                goto out;
            }
        }
        if (!grow((void **)&rg, &cap, n + 2, sizeof *rg)) {
            nomem(p);
            goto out;
        }
        rg[n++] = (grange){(uint32_t)lo, (uint32_t)hi};
    }
    p->i++; /* ] */
    /* sort, merge, then complement when negated */
    if (n) qsort(rg, (size_t)n, sizeof *rg, cmp_range);
    int32_t m = 0;
    for (int32_t k = 0; k < n; k++) {
        if (m && rg[k].lo <= rg[m - 1].hi + 1) {
            if (rg[k].hi > rg[m - 1].hi) rg[m - 1].hi = rg[k].hi;
        } else {
            rg[m++] = rg[k];
        }
    }
    n = m;
    if (neg) {
        grange *c = lair_malloc((size_t)(n + 1) * sizeof *c);
        if (!c) {
            nomem(p);
            goto out;
        }
        int32_t k2 = 0;
        uint32_t next = 0;
        for (int32_t k = 0; k < n; k++) {
            if (rg[k].lo > next) c[k2++] = (grange){next, rg[k].lo - 1};
            next = rg[k].hi + 1;
        }
        if (next <= 0x10FFFF) c[k2++] = (grange){next, 0x10FFFF};
        lair_free(rg);
        rg = c;
        n = k2;
    }
    if (n == 0) {
        perr(p, LAIR_ERR_FORMAT, "character class matches no character");
        goto out;
    }
    ok = emit_class(p, r, rg, n);
out:
    lair_free(rg);
    return ok;
}

static bool parse_literal(parser *p, int32_t r) {
    p->i++; /* " */
    for (;;) {
        if (p->i >= p->len) return perr(p, LAIR_ERR_FORMAT, "unterminated literal '\"'"), false;
        if (p->s[p->i] == '"') break;
        int64_t c = read_char(p);
        if (c < 0) return false;
        grange g1 = {(uint32_t)c, (uint32_t)c};
        if (!emit_class(p, r, &g1, 1)) return false;
    }
    p->i++;
    return true;
}

static bool read_int(parser *p, int64_t *v) {
    skip_space(p);
    if (p->i >= p->len || p->s[p->i] < '0' || p->s[p->i] > '9')
        return perr(p, LAIR_ERR_FORMAT, "expected a number in '{n,m}'"), false;
    int64_t x = 0;
    while (p->i < p->len && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
        if (x <= (int64_t)p->lim.max_repeat) x = x * 10 + (p->s[p->i] - '0');
        p->i++;
    }
    if (x > p->lim.max_repeat) {
        char m[96];
        snprintf(m, sizeof m, "repetition bound above the limit %d", (int)p->lim.max_repeat);
        return perr(p, LAIR_ERR_LIMIT, m), false;
    }
    *v = x;
    skip_space(p);
    return true;
}

/* R ::= x R | "" for element x; returns R. */
static int32_t star_rule(parser *p, gelem x) {
    int32_t s = gen_rule(p);
    if (s < 0) return -1;
    if (!emit(p, s, x.type, x.a, x.b) || !emit(p, s, GE_REF, s, 0) || !emit(p, s, GE_END, 0, 0) ||
        !emit(p, s, GE_END, 0, 0))
        return -1;
    return s;
}

/* Applies a repetition operator at p->i (if any) to the item emitted into
 * rule r from element index start. */
static bool parse_repeat(parser *p, int32_t r, int32_t start) {
    if (p->i >= p->len) return true;
    char op = p->s[p->i];
    if (op != '*' && op != '+' && op != '?' && op != '{') return true;
    p->i++;
    int64_t lo, hi;
    if (op == '*') lo = 0, hi = -1;
    else if (op == '+') lo = 1, hi = -1;
    else if (op == '?') lo = 0, hi = 1;
    else {
        if (!read_int(p, &lo)) return false;
        hi = lo;
        if (p->i < p->len && p->s[p->i] == ',') {
            p->i++;
            skip_space(p);
            hi = -1;
            if (p->i < p->len && p->s[p->i] != '}' && !read_int(p, &hi)) return false;
        }
        if (p->i >= p->len || p->s[p->i] != '}') return perr(p, LAIR_ERR_FORMAT, "expected '}' after '{n,m'"), false;
        p->i++;
        if (hi >= 0 && hi < lo) return perr(p, LAIR_ERR_FORMAT, "repetition {n,m} with m < n"), false;
    }
    pbody *bd = &p->rules[r].body;
    int32_t count = bd->n - start;
    if (count == 0) return true; /* repeating the empty string */
    gelem x;
    if (count > 1) { /* wrap the item into its own rule */
        int32_t sub = gen_rule(p);
        if (sub < 0) return false;
        for (int32_t k = 0; k < count; k++) {
            gelem e = p->rules[r].body.e[start + k];
            if (!emit(p, sub, e.type, e.a, e.b)) return false;
        }
        if (!emit(p, sub, GE_END, 0, 0)) return false;
        p->n_elems -= count;
        x = (gelem){GE_REF, sub, 0};
    } else {
        x = bd->e[start];
        p->n_elems--;
    }
    p->rules[r].body.n = start;
    for (int64_t k = 0; k < lo; k++)
        if (!emit(p, r, x.type, x.a, x.b)) return false;
    if (hi < 0) {
        int32_t s = star_rule(p, x);
        return s >= 0 && emit(p, r, GE_REF, s, 0);
    }
    int32_t prev = -1; /* O_k ::= x O_{k-1} | "" */
    for (int64_t k = lo; k < hi; k++) {
        int32_t o = gen_rule(p);
        if (o < 0 || !emit(p, o, x.type, x.a, x.b)) return false;
        if (prev >= 0 && !emit(p, o, GE_REF, prev, 0)) return false;
        if (!emit(p, o, GE_END, 0, 0) || !emit(p, o, GE_END, 0, 0)) return false;
        prev = o;
    }
    return prev < 0 || emit(p, r, GE_REF, prev, 0);
}

static bool parse_seq(parser *p, int32_t r, bool nested) {
    for (;;) {
        skip_space(p);
        if (p->i >= p->len) return true;
        char c = p->s[p->i];
        if (c == '|' || c == ')') return true;
        int32_t start = p->rules[r].body.n;
        if (c == '"') {
            if (!parse_literal(p, r)) return false;
        } else if (c == '[') {
            if (!parse_class(p, r)) return false;
        } else if (c == '.') {
            p->i++;
            grange any = {0, 0x10FFFF};
            if (!emit_class(p, r, &any, 1)) return false;
        } else if (c == '(') {
            if (++p->depth > p->lim.max_depth) {
                char m[96];
                snprintf(m, sizeof m, "parentheses nested deeper than the limit %d", (int)p->lim.max_depth);
                return perr(p, LAIR_ERR_LIMIT, m), false;
            }
            p->i++;
            int32_t sub = gen_rule(p);
            if (sub < 0 || !parse_alts(p, sub, true)) return false;
            if (p->i >= p->len || p->s[p->i] != ')') return perr(p, LAIR_ERR_FORMAT, "missing ')'"), false;
            p->i++;
            p->depth--;
            if (!emit(p, r, GE_REF, sub, 0)) return false;
        } else if (is_word(c)) {
            if (at_rule_start(p)) {
                if (nested) return perr(p, LAIR_ERR_FORMAT, "missing ')' before the next rule"), false;
                return true;
            }
            size_t b = p->i;
            while (p->i < p->len && is_word(p->s[p->i])) p->i++;
            int32_t ref = named_rule(p, p->s + b, p->i - b);
            if (ref < 0) return false;
            if (p->rules[ref].ref_rule < 0 && !p->rules[ref].defined) {
                p->rules[ref].ref_line = p->line;
                p->rules[ref].ref_rule = p->cur;
            }
            if (!emit(p, r, GE_REF, ref, 0)) return false;
        } else {
            char m[64];
            snprintf(m, sizeof m, "unexpected character '%c'", c >= 0x20 && c < 0x7F ? c : '?');
            return perr(p, LAIR_ERR_FORMAT, m), false;
        }
        if (!parse_repeat(p, r, start)) return false;
    }
}

static bool parse_alts(parser *p, int32_t r, bool nested) {
    for (;;) {
        if (!parse_seq(p, r, nested) || !emit(p, r, GE_END, 0, 0)) return false;
        if (p->i < p->len && p->s[p->i] == '|') {
            p->i++;
            continue;
        }
        return true;
    }
}

static bool parse_rules(parser *p) {
    for (;;) {
        p->cur = -1;
        skip_space(p);
        if (p->i >= p->len) return true;
        if (!is_word(p->s[p->i])) {
            char m[80];
            snprintf(m, sizeof m, "expected a rule name, found '%c'", p->s[p->i] >= 0x20 && p->s[p->i] < 0x7F ? p->s[p->i] : '?');
            return perr(p, LAIR_ERR_FORMAT, m), false;
        }
        size_t b = p->i;
        while (p->i < p->len && is_word(p->s[p->i])) p->i++;
        int32_t r = named_rule(p, p->s + b, p->i - b);
        if (r < 0) return false;
        p->cur = r;
        while (p->i < p->len && (p->s[p->i] == ' ' || p->s[p->i] == '\t')) p->i++;
        if (p->i + 3 > p->len || memcmp(p->s + p->i, "::=", 3) != 0)
            return perr(p, LAIR_ERR_FORMAT, "expected '::=' after the rule name"), false;
        if (p->rules[r].defined) return perr(p, LAIR_ERR_FORMAT, "rule defined twice"), false;
        p->rules[r].defined = true;
        p->rules[r].def_line = p->line;
        p->i += 3;
        if (!parse_alts(p, r, false)) return false;
        if (p->i < p->len && p->s[p->i] == ')') return perr(p, LAIR_ERR_FORMAT, "unmatched ')'"), false;
    }
}

/* ---- layout ------------------------------------------------------------------ */

lair_grammar_limits lair_grammar_default_limits(void) {
    return (lair_grammar_limits){.max_text = 1u << 20, .max_rules = 10000, .max_depth = 64, .max_repeat = 10000};
}

void lair_grammar_free(lair_grammar *g) {
    if (!g) return;
    for (int32_t r = 0; r < g->n_rules; r++) lair_free(g->rules[r].name);
    lair_free(g->rules);
    lair_free(g->elems);
    lair_free(g->ranges);
    lair_free(g->alts);
    lair_free(g->min_from);
    lair_free(g);
}

static lair_status layout(parser *p, lair_grammar *g) {
    int64_t ne = 0, na = 0;
    for (int32_t r = 0; r < p->n_rules; r++)
        for (int32_t k = 0; k < p->rules[r].body.n; k++) {
            ne++;
            na += p->rules[r].body.e[k].type == GE_END;
        }
    g->rules = lair_calloc((size_t)p->n_rules, sizeof *g->rules);
    g->elems = lair_malloc((size_t)(ne ? ne : 1) * sizeof *g->elems);
    g->alts = lair_malloc((size_t)(na ? na : 1) * sizeof *g->alts);
    g->min_from = lair_malloc((size_t)(ne ? ne : 1) * sizeof *g->min_from);
    if (!g->rules || !g->elems || !g->alts || !g->min_from) return nomem(p);
    g->n_rules = p->n_rules;
    for (int32_t r = 0; r < p->n_rules; r++) {
        prule *pr = &p->rules[r];
        g->rules[r].name = pr->name;
        pr->name = NULL;
        g->rules[r].alt0 = g->n_alts_total;
        bool start = true;
        for (int32_t k = 0; k < pr->body.n; k++) {
            if (start) g->alts[g->n_alts_total++] = g->n_elems;
            g->elems[g->n_elems++] = pr->body.e[k];
            start = pr->body.e[k].type == GE_END;
        }
        g->rules[r].n_alts = g->n_alts_total - g->rules[r].alt0;
    }
    g->ranges = p->ranges;
    g->n_ranges = p->n_ranges;
    p->ranges = NULL;
    return LAIR_OK;
}

lair_status lair_grammar_parse(const char *text, size_t len, const char *root, const lair_grammar_limits *lim,
                               lair_grammar **out, lair_err *err) {
    *out = NULL;
    parser p = {.s = text, .len = len, .line = 1, .cur = -1, .err = err, .st = LAIR_OK};
    p.lim = lim ? *lim : lair_grammar_default_limits();
    if (!root) root = "root";
    if (!text && len) return lair_err_set(err, LAIR_ERR_ARG, "grammar: NULL text");
    if (len > p.lim.max_text)
        return lair_err_set(err, LAIR_ERR_LIMIT, "grammar: text of %zu bytes exceeds the limit of %zu bytes", len,
                            p.lim.max_text);
    lair_grammar *g = lair_calloc(1, sizeof *g);
    if (!g) return lair_err_set(err, LAIR_ERR_NOMEM, "grammar: out of memory");
    lair_status st = LAIR_OK;
    if (!parse_rules(&p)) goto fail;
    p.cur = -1;
    for (int32_t r = 0; r < p.n_rules; r++) {
        if (p.rules[r].defined) continue;
        p.line = p.rules[r].ref_line;
        p.cur = p.rules[r].ref_rule;
        char m[160];
        snprintf(m, sizeof m, "rule '%.80s' is referenced but not defined", p.rules[r].name);
        perr(&p, LAIR_ERR_FORMAT, m);
        goto fail;
    }
    g->root = -1;
    for (int32_t r = 0; r < p.n_rules; r++)
        if (p.rules[r].defined && strcmp(p.rules[r].name, root) == 0) g->root = r;
    if (g->root < 0) {
        st = lair_err_set(err, LAIR_ERR_FORMAT, "grammar: no rule '%.80s' (the start rule)", root);
        goto fail_st;
    }
    int32_t *def_line = lair_malloc(((size_t)p.n_rules + 1) * sizeof *def_line);
    if (!def_line) {
        nomem(&p);
        goto fail;
    }
    for (int32_t r = 0; r < p.n_rules; r++) def_line[r] = p.rules[r].def_line;
    st = layout(&p, g);
    if (st == LAIR_OK) st = gbnf_check(g, def_line, err);
    lair_free(def_line);
    if (st != LAIR_OK) goto fail_st;
    goto done;
fail:
    st = p.st;
fail_st:
    lair_grammar_free(g);
    g = NULL;
done:
    for (int32_t r = 0; r < p.n_rules; r++) {
        lair_free(p.rules[r].name);
        lair_free(p.rules[r].body.e);
    }
    lair_free(p.rules);
    lair_free(p.names);
    lair_free(p.ranges);
    *out = g;
    return st;
}
