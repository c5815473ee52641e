/* JSON Schema "pattern" (an ECMA-262 regular expression) -> a GBNF
 * expression over the JSON text of a string's content (between the quotes).
 *
 * Subset: literals (UTF-8), ".", classes [...] / [^...] with ranges and the
 * escapes \d \D \w \W \s \S, groups (...) (?:...) (?<name>...), alternation,
 * the quantifiers * + ? {n} {n,} {n,m} (lazy forms too: they match the same
 * strings), anchors ^ at the start and $ at the end.  A pattern not anchored
 * at an end may have any characters there (patterns match anywhere).
 * Refused, by name: backreferences, lookaround, \b \B, \p{...}, anchors
 * elsewhere, repetition counts above 2000.
 *
 * Characters become their JSON spelling: '"' is \", '\' is \\, tab, newline
 * and carriage return their short escapes; other controls are not
 * produced.  Every string the expression produces is the JSON text of a
 * value the pattern matches (the output is a subset when a class holds
 * characters JSON could only write as \u escapes: never a superset). */
#include <stdio.h>
#include <string.h>

#include "grammar/schema_internal.h"

#define RX_MAX_LEN 1000   /* bytes of pattern */
#define RX_MAX_DEPTH 32   /* nested groups */
#define RX_MAX_REPEAT 2000
#define RX_MAX_RANGES 256 /* ranges in one class */

typedef struct rx {
    const char *p, *end;
    int depth;
    sch_buf *out;
    char *err;
    size_t err_cap;
} rx;

typedef struct cls {
    uint32_t lo[RX_MAX_RANGES], hi[RX_MAX_RANGES];
    int n;
} cls;

static bool fail(rx *r, const char *what) {
    if (r->err && !r->err[0]) snprintf(r->err, r->err_cap, "%s", what);
    return false;
}

static bool cls_add(rx *r, cls *c, uint32_t lo, uint32_t hi) {
    if (c->n == RX_MAX_RANGES) return fail(r, "a character class with too many ranges");
    c->lo[c->n] = lo;
    c->hi[c->n] = hi;
    c->n++;
    return true;
}

/* Sorted, merged. */
static void cls_norm(cls *c) {
    for (int i = 1; i < c->n; i++)
        for (int j = i; j > 0 && c->lo[j] < c->lo[j - 1]; j--) {
            uint32_t t = c->lo[j]; c->lo[j] = c->lo[j - 1]; c->lo[j - 1] = t;
            t = c->hi[j]; c->hi[j] = c->hi[j - 1]; c->hi[j - 1] = t;
        }
    int k = 0;
    for (int i = 0; i < c->n; i++) {
        if (k && c->lo[i] <= c->hi[k - 1] + 1) {
            if (c->hi[i] > c->hi[k - 1]) c->hi[k - 1] = c->hi[i];
        } else {
            c->lo[k] = c->lo[i];
            c->hi[k] = c->hi[i];
            k++;
        }
    }
    c->n = k;
}

static void cls_negate(cls *c) {
    cls_norm(c);
    cls o = {.n = 0};
    uint32_t next = 0;
    for (int i = 0; i < c->n; i++) {
        if (c->lo[i] > next) o.lo[o.n] = next, o.hi[o.n] = c->lo[i] - 1, o.n++;
        next = c->hi[i] + 1;
    }
    if (next <= 0x10FFFF) o.lo[o.n] = next, o.hi[o.n] = 0x10FFFF, o.n++;
    *c = o;
}

static bool cls_has(const cls *c, uint32_t x) {
    for (int i = 0; i < c->n; i++)
        if (x >= c->lo[i] && x <= c->hi[i]) return true;
    return false;
}

/* \d \w \s and their negations into c. */
static bool cls_escape_set(rx *r, cls *c, char e) {
    cls t = {.n = 0};
    switch (e | 0x20) {
    case 'd': cls_add(r, &t, '0', '9'); break;
    case 'w':
        cls_add(r, &t, '0', '9'), cls_add(r, &t, 'A', 'Z'), cls_add(r, &t, 'a', 'z'), cls_add(r, &t, '_', '_');
        break;
    case 's':
        cls_add(r, &t, '\t', '\r'), cls_add(r, &t, ' ', ' '), cls_add(r, &t, 0xA0, 0xA0);
        cls_add(r, &t, 0x1680, 0x1680), cls_add(r, &t, 0x2000, 0x200A), cls_add(r, &t, 0x2028, 0x2029);
        cls_add(r, &t, 0x202F, 0x202F), cls_add(r, &t, 0x205F, 0x205F), cls_add(r, &t, 0x3000, 0x3000);
        cls_add(r, &t, 0xFEFF, 0xFEFF);
        break;
    default: return false;
    }
    if (e >= 'A' && e <= 'Z') cls_negate(&t);
    for (int i = 0; i < t.n; i++)
        if (!cls_add(r, c, t.lo[i], t.hi[i])) return false;
    return true;
}

/* Emits a class as JSON-text alternatives. */
static void emit_cls(rx *r, cls *c) {
    cls_norm(c);
    sch_buf *b = r->out;
    /* plain characters: not '"', '\', nor a control */
    cls plain = {.n = 0};
    for (int i = 0; i < c->n; i++) {
        uint32_t lo = c->lo[i] < 0x20 ? 0x20 : c->lo[i], hi = c->hi[i];
        if (lo > hi) continue;
        /* cut out '"' (0x22) and '\' (0x5C) */
        uint32_t cuts[2] = {0x22, 0x5C};
        for (int k = 0; k < 2 && lo <= hi; k++) {
            if (cuts[k] < lo || cuts[k] > hi) continue;
            if (cuts[k] > lo) plain.lo[plain.n] = lo, plain.hi[plain.n] = cuts[k] - 1, plain.n++;
            lo = cuts[k] + 1;
        }
        if (lo <= hi) plain.lo[plain.n] = lo, plain.hi[plain.n] = hi, plain.n++;
    }
    int alts = 0;
    sch_put(b, "(");
    if (plain.n) {
        sch_put(b, "[");
        for (int i = 0; i < plain.n; i++) {
            sch_printf(b, "\\U%08X", plain.lo[i]);
            if (plain.hi[i] != plain.lo[i]) sch_printf(b, "-\\U%08X", plain.hi[i]);
        }
        sch_put(b, "]");
        alts++;
    }
    static const struct {
        uint32_t c;
        const char *json; /* as a GBNF literal */
    } esc[] = {{'"', "\"\\\\\\\"\""}, {'\\', "\"\\\\\\\\\""}, {'\t', "\"\\\\t\""}, {'\n', "\"\\\\n\""},
               {'\r', "\"\\\\r\""}};
    for (size_t k = 0; k < sizeof esc / sizeof esc[0]; k++)
        if (cls_has(c, esc[k].c)) sch_printf(b, "%s%s", alts++ ? " | " : "", esc[k].json);
    if (!alts) sch_put(b, "[^\\U00000000-\\U0010FFFF]"); /* an empty class matches nothing */
    sch_put(b, ")");
}

/* One UTF-8 code point at r->p. */
static bool next_cp(rx *r, uint32_t *cp) {
    const unsigned char *s = (const unsigned char *)r->p;
    size_t left = (size_t)(r->end - r->p);
    uint32_t c = s[0];
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!n || (size_t)n > left) return fail(r, "invalid UTF-8 in the pattern");
    if (n > 1) c &= 0x3F >> (n - 1);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return fail(r, "invalid UTF-8 in the pattern");
        c = c << 6 | (s[i] & 0x3F);
    }
    r->p += n;
    *cp = c;
    return true;
}

static int hexv(char c) {
    return c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : -1;
}

/* After a backslash (not \d \w \s): the literal code point it stands for. */
static bool escape_cp(rx *r, uint32_t *cp) {
    if (r->p >= r->end) return fail(r, "a pattern ending in a backslash");
    char e = *r->p++;
    switch (e) {
    case 'n': *cp = '\n'; return true;
    case 't': *cp = '\t'; return true;
    case 'r': *cp = '\r'; return true;
    case 'f': *cp = '\f'; return true;
    case 'v': *cp = '\v'; return true;
    case '0': *cp = 0; return true;
    case 'x':
    case 'u': {
        int n = e == 'x' ? 2 : 4;
        uint32_t v = 0;
        for (int i = 0; i < n; i++) {
            if (r->p >= r->end || hexv(*r->p) < 0) return fail(r, "a bad \\x or \\u escape in the pattern");
            v = v << 4 | (uint32_t)hexv(*r->p++);
        }
        *cp = v;
        return true;
    }
    case 'b':
    case 'B': return fail(r, "word boundaries (\\b, \\B) in a pattern");
    case 'p':
    case 'P': return fail(r, "Unicode property classes (\\p{...}) in a pattern");
    case 'k': return fail(r, "backreferences in a pattern");
    default:
        if (e >= '1' && e <= '9') return fail(r, "backreferences in a pattern");
        if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z')) return fail(r, "an unknown escape in a pattern");
        r->p--;
        return next_cp(r, cp);
    }
}

static bool parse_class(rx *r) {
    cls c = {.n = 0};
    bool neg = r->p < r->end && *r->p == '^';
    if (neg) r->p++;
    bool first = true;
    while (r->p < r->end && (*r->p != ']' || first)) {
        first = false;
        uint32_t lo;
        if (*r->p == '\\') {
            r->p++;
            if (r->p < r->end && strchr("dDwWsS", *r->p) && *r->p) {
                if (!cls_escape_set(r, &c, *r->p++)) return false;
                continue;
            }
            if (!escape_cp(r, &lo)) return false;
        } else if (!next_cp(r, &lo)) {
            return false;
        }
        uint32_t hi = lo;
        if (r->p + 1 < r->end && *r->p == '-' && r->p[1] != ']') {
            r->p++;
            if (*r->p == '\\') {
                r->p++;
                if (!escape_cp(r, &hi)) return false;
            } else if (!next_cp(r, &hi)) {
                return false;
            }
            if (hi < lo) return fail(r, "a class range out of order in a pattern");
        }
        if (!cls_add(r, &c, lo, hi)) return false;
    }
    if (r->p >= r->end) return fail(r, "an unterminated character class in a pattern");
    r->p++;
    if (neg) cls_negate(&c);
    emit_cls(r, &c);
    return true;
}

static bool parse_alt(rx *r);

static bool parse_atom(rx *r) {
    char ch = *r->p;
    if (ch == '(') {
        r->p++;
        if (r->p < r->end && *r->p == '?') {
            r->p++;
            if (r->p < r->end && *r->p == ':') r->p++;
            else if (r->p + 1 < r->end && *r->p == '<' && r->p[1] != '=' && r->p[1] != '!') {
                while (r->p < r->end && *r->p != '>') r->p++; /* a named group: the name does not matter */
                if (r->p >= r->end) return fail(r, "an unterminated group name in a pattern");
                r->p++;
            } else
                return fail(r, "lookaround assertions in a pattern");
        }
        if (++r->depth > RX_MAX_DEPTH) return fail(r, "groups nested too deep in a pattern");
        sch_put(r->out, "(");
        if (!parse_alt(r)) return false;
        if (r->p >= r->end || *r->p != ')') return fail(r, "an unbalanced parenthesis in a pattern");
        r->p++;
        r->depth--;
        sch_put(r->out, ")");
        return true;
    }
    if (ch == '[') {
        r->p++;
        return parse_class(r);
    }
    cls c = {.n = 0};
    if (ch == '.') {
        r->p++;
        cls_add(r, &c, '\n', '\n');
        cls_add(r, &c, '\r', '\r');
        cls_add(r, &c, 0x2028, 0x2029);
        cls_negate(&c);
        emit_cls(r, &c);
        return true;
    }
    if (ch == '^' || ch == '$') return fail(r, "anchors (^, $) inside a pattern (only at its start and end)");
    if (ch == ')' ) return fail(r, "an unbalanced parenthesis in a pattern");
    if (ch == '*' || ch == '+' || ch == '?') return fail(r, "a quantifier with nothing before it in a pattern");
    uint32_t cp;
    if (ch == '\\') {
        r->p++;
        if (r->p < r->end && strchr("dDwWsS", *r->p) && *r->p) {
            if (!cls_escape_set(r, &c, *r->p++)) return false;
            emit_cls(r, &c);
            return true;
        }
        if (!escape_cp(r, &cp)) return false;
    } else if (!next_cp(r, &cp)) {
        return false;
    }
    cls_add(r, &c, cp, cp);
    emit_cls(r, &c);
    return true;
}

static bool parse_count(rx *r, long long *v) {
    if (r->p >= r->end || *r->p < '0' || *r->p > '9') return false;
    long long x = 0;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
        x = x * 10 + (*r->p++ - '0');
        if (x > RX_MAX_REPEAT) return fail(r, "a repetition count above 2000 in a pattern");
    }
    *v = x;
    return true;
}

static bool parse_seq(rx *r) {
    bool any = false;
    while (r->p < r->end && *r->p != '|' && *r->p != ')') {
        if (*r->p == '$' && r->p + 1 == r->end) break; /* the end anchor: handled by the caller */
        if (!parse_atom(r)) return false;
        any = true;
        if (r->p >= r->end) break;
        char q = *r->p;
        if (q == '*' || q == '+' || q == '?') {
            r->p++;
            sch_printf(r->out, "%c", q);
        } else if (q == '{') {
            const char *save = r->p;
            r->p++;
            long long lo = 0, hi = -1;
            if (!parse_count(r, &lo)) {
                if (r->err && r->err[0]) return false;
                r->p = save; /* a literal '{' */
                continue;
            }
            if (r->p < r->end && *r->p == ',') {
                r->p++;
                if (r->p < r->end && *r->p != '}' && !parse_count(r, &hi)) return fail(r, "a bad {n,m} in a pattern");
            } else {
                hi = lo;
            }
            if (r->p >= r->end || *r->p != '}') return fail(r, "a bad {n,m} in a pattern");
            r->p++;
            if (hi >= 0 && hi < lo) return fail(r, "a {n,m} with m < n in a pattern");
            if (hi < 0) sch_printf(r->out, "{%lld,}", lo);
            else sch_printf(r->out, "{%lld,%lld}", lo, hi);
        } else {
            continue;
        }
        if (r->p < r->end && *r->p == '?') r->p++; /* lazy: the same language */
        if (r->p < r->end && (*r->p == '*' || *r->p == '+' || *r->p == '{'))
            return fail(r, "a quantifier after a quantifier in a pattern");
    }
    if (!any) sch_put(r->out, "\"\"");
    return true;
}

static bool parse_alt(rx *r) {
    sch_put(r->out, "(");
    for (;;) {
        if (!parse_seq(r)) return false;
        if (r->p < r->end && *r->p == '|') {
            r->p++;
            sch_put(r->out, " | ");
            continue;
        }
        break;
    }
    sch_put(r->out, ")");
    return true;
}

bool sch_pattern(sch_buf *b, const char *re, size_t len, const char *any_char, char *err, size_t err_cap) {
    if (err_cap) err[0] = 0;
    rx r = {re, re + len, 0, b, err, err_cap};
    if (len > RX_MAX_LEN) return fail(&r, "a pattern longer than 1000 bytes");
    bool start = len && re[0] == '^';
    if (start) r.p++;
    sch_put(b, "(");
    if (!start) sch_printf(b, "%s* ", any_char);
    if (!parse_alt(&r)) return false;
    bool end_anchor = false;
    if (r.p < r.end && *r.p == '$' && r.p + 1 == r.end) r.p++, end_anchor = true;
    if (r.p < r.end) return fail(&r, *r.p == ')' ? "an unbalanced parenthesis in a pattern"
                                                 : "anchors (^, $) inside a pattern (only at its start and end)");
    if (!end_anchor) sch_printf(b, " %s*", any_char);
    sch_put(b, ")");
    return true;
}
