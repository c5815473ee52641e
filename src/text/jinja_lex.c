/* Template source -> tokens, following jinja2's lexer with trim_blocks and
 * lstrip_blocks on:
 *   - "{%-" / "{{-" / "{#-" strip all whitespace before the tag, "-%}" /
 *     "-}}" / "-#}" all whitespace after it;
 *   - lstrip_blocks: spaces and tabs between the start of a line and a "{%"
 *     or "{#" are removed (not before "{{"; "{%+" keeps them);
 *   - trim_blocks: one newline after "%}" or "#}" is removed ("+%}" keeps it);
 *   - "{% raw %}...{% endraw %}" is text;
 *   - the source's newlines are normalized to "\n" and one trailing newline
 *     is dropped (keep_trailing_newline=False).
 * Inside tags, "}}" / "%}" only end the tag when brackets are balanced. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "text/jinja_internal.h"

#define NONE_POS ((size_t)-1)

typedef struct lexer {
    struct lair_jinja *t;
    const char *s;
    size_t n;
    size_t pos;
    int line;      /* line of s[pos] */
    size_t lpos;   /* position `line` was counted up to */
    jtok *toks;
    size_t ntok, cap;
    lair_err *err;
    lair_status st;
} lexer;

static int line_at(lexer *L, size_t pos) {
    if (pos < L->lpos) { /* never happens: positions only move forward */
        L->lpos = 0;
        L->line = 1;
    }
    for (size_t i = L->lpos; i < pos; i++)
        if (L->s[i] == '\n') L->line++;
    L->lpos = pos;
    return L->line;
}

static int lex_fail(lexer *L, size_t pos, const char *fmt, ...) JPRINTF(3, 4);
static int lex_fail(lexer *L, size_t pos, const char *fmt, ...) {
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    L->st = lair_err_set(L->err, LAIR_ERR_FORMAT, "template: line %d: %s", line_at(L, pos), msg);
    return -1;
}

static jtok *push(lexer *L, int type, size_t pos) {
    if (L->ntok == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 256;
        jtok *g = lair_realloc(L->toks, cap * sizeof *g);
        if (!g) {
            L->st = lair_err_set(L->err, LAIR_ERR_NOMEM, "template: out of memory");
            return NULL;
        }
        L->toks = g;
        L->cap = cap;
    }
    jtok *k = &L->toks[L->ntok++];
    memset(k, 0, sizeof *k);
    k->type = (uint8_t)type;
    k->line = line_at(L, pos);
    k->p = L->s + pos;
    return k;
}

static size_t skip_space(const char *s, size_t n, size_t i) {
    size_t k;
    while (i < n && (k = py_space_len(s + i, n - i)) > 0) i += k;
    return i;
}

static bool at(const char *s, size_t n, size_t i, const char *lit) {
    size_t k = strlen(lit);
    return i <= n && n - i >= k && memcmp(s + i, lit, k) == 0;
}

/* End of a block tag at i ("+%}", "-%}" + whitespace, "%}" + one newline), or NONE_POS. */
static size_t block_end_at(const char *s, size_t n, size_t i) {
    if (at(s, n, i, "+%}")) return i + 3;
    if (at(s, n, i, "-%}")) return skip_space(s, n, i + 3);
    if (at(s, n, i, "%}")) return i + 2 < n && s[i + 2] == '\n' ? i + 3 : i + 2;
    return NONE_POS;
}

/* jinja2's OptionalLStrip: the text [from, *to) before a tag with strip sign `sign`. */
static void strip_text(const char *s, size_t from, size_t *to, char sign, bool is_var, bool line_starting) {
    size_t end = *to;
    if (sign == '-') {
        size_t k;
        while (end > from && (k = py_rspace_len(s + from, end - from)) > 0) end -= k;
    } else if (sign != '+' && !is_var) {
        size_t lp = from;
        bool found = false;
        for (size_t i = end; i > from; i--)
            if (s[i - 1] == '\n') {
                lp = i;
                found = true;
                break;
            }
        if ((found || line_starting) && lp < end && skip_space(s, end, lp) == end) end = lp;
    }
    *to = end;
}

static int emit_data(lexer *L, size_t from, size_t to) {
    if (to <= from) return 0;
    jtok *k = push(L, T_DATA, from);
    if (!k) return -1;
    k->len = to - from;
    return 0;
}

/* (\d+_)*\d+ at i: end, or NONE_POS. */
static size_t m_digits(const char *s, size_t n, size_t i) {
    if (i >= n || !isdigit((unsigned char)s[i])) return NONE_POS;
    while (i < n && isdigit((unsigned char)s[i])) i++;
    while (i + 1 < n && s[i] == '_' && isdigit((unsigned char)s[i + 1])) {
        i++;
        while (i < n && isdigit((unsigned char)s[i])) i++;
    }
    return i;
}

static size_t m_float(const char *s, size_t n, size_t i) {
    size_t e = m_digits(s, n, i);
    if (e == NONE_POS) return NONE_POS;
    size_t frac = e < n && s[e] == '.' ? m_digits(s, n, e + 1) : NONE_POS;
    size_t after = frac != NONE_POS ? frac : e;
    if (after < n && (s[after] == 'e' || s[after] == 'E')) {
        size_t x = after + 1;
        if (x < n && (s[x] == '+' || s[x] == '-')) x++;
        size_t ex = m_digits(s, n, x);
        if (ex != NONE_POS) return ex;
    }
    return frac;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Integer literal at i (decimal, 0b, 0o, 0x, with '_' separators). */
static int lex_int(lexer *L, size_t i, size_t *end, int64_t *val) {
    const char *s = L->s;
    size_t n = L->n;
    int base = 10;
    size_t j = i;
    if (s[i] == '0' && i + 1 < n && strchr("bBoOxX", s[i + 1]) && s[i + 1]) {
        int b = (s[i + 1] | 0x20) == 'b' ? 2 : (s[i + 1] | 0x20) == 'o' ? 8 : 16;
        size_t k = i + 2;
        int nd = 0;
        for (;;) {
            size_t k2 = k;
            if (k2 < n && s[k2] == '_') k2++;
            int d = k2 < n ? hexval((unsigned char)s[k2]) : -1;
            if (d < 0 || d >= b) break;
            k = k2 + 1;
            nd++;
        }
        if (nd > 0) {
            base = b;
            j = k;
        }
    }
    if (base == 10) {
        if (s[i] == '0') {
            j = i + 1;
            while (j + 1 < n && s[j] == '_' && s[j + 1] == '0') j += 2;
            while (j < n && s[j] == '0') j++;
        } else {
            j = i + 1;
            for (;;) {
                size_t k2 = j;
                if (k2 < n && s[k2] == '_') k2++;
                if (k2 < n && isdigit((unsigned char)s[k2])) j = k2 + 1;
                else break;
            }
        }
    }
    uint64_t v = 0;
    for (size_t k = base == 10 ? i : i + 2; k < j; k++) {
        if (s[k] == '_') continue;
        int d = hexval((unsigned char)s[k]);
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base || v * (uint64_t)base + (uint64_t)d > (uint64_t)INT64_MAX)
            return lex_fail(L, i, "integer literal too large (more than 63 bits)");
        v = v * (uint64_t)base + (uint64_t)d;
    }
    *end = j;
    *val = (int64_t)v;
    return 0;
}

static size_t put_cp(char *out, size_t o, uint32_t cp) { return o + u8_encode(cp, out + o); }

/* Unescapes a string literal body like Python's "unicode-escape" codec. */
static int lex_string(lexer *L, size_t start, size_t body, size_t bend, jtok *k) {
    const char *s = L->s;
    char *out = jarena_alloc(L->t, bend - body + 1);
    if (!out) {
        L->st = lair_err_set(L->err, LAIR_ERR_NOMEM, "template: out of memory");
        return -1;
    }
    size_t o = 0;
    for (size_t i = body; i < bend;) {
        if (s[i] != '\\' || i + 1 >= bend) {
            out[o++] = s[i++];
            continue;
        }
        char c = s[i + 1];
        i += 2;
        switch (c) {
        case '\n': break;
        case '\\': out[o++] = '\\'; break;
        case '\'': out[o++] = '\''; break;
        case '"': out[o++] = '"'; break;
        case 'a': out[o++] = '\a'; break;
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case 'v': out[o++] = '\v'; break;
        case 'x':
        case 'u':
        case 'U': {
            int nd = c == 'x' ? 2 : c == 'u' ? 4 : 8;
            uint32_t cp = 0;
            for (int d = 0; d < nd; d++) {
                int h = i < bend ? hexval((unsigned char)s[i]) : -1;
                if (h < 0)
                    return lex_fail(L, start, "truncated \\%s escape in string literal",
                                    c == 'x' ? "xXX" : c == 'u' ? "uXXXX" : "UXXXXXXXX");
                cp = cp * 16 + (uint32_t)h;
                i++;
            }
            if (cp > 0x10FFFF) return lex_fail(L, start, "%s", "illegal Unicode character in string literal");
            if (cp >= 0xD800 && cp <= 0xDFFF) return lex_fail(L, start, "%s", "surrogate escape in string literal");
            o = put_cp(out, o, cp);
            break;
        }
        case 'N': return lex_fail(L, start, "%s", "\\N{...} escapes are not supported");
        default:
            if (c >= '0' && c <= '7') {
                uint32_t cp = (uint32_t)(c - '0');
                for (int d = 0; d < 2 && i < bend && s[i] >= '0' && s[i] <= '7'; d++) cp = cp * 8 + (uint32_t)(s[i++] - '0');
                o = put_cp(out, o, cp);
            } else {
                out[o++] = '\\';
                i--; /* the character after the backslash stays as it is */
            }
        }
    }
    out[o] = '\0';
    k->p = out;
    k->len = o;
    return 0;
}

static const struct {
    const char *s;
    uint8_t op;
} ops2[] = {{"//", OP_FLOORDIV}, {"**", OP_POW}, {"==", OP_EQ}, {"!=", OP_NE}, {">=", OP_GTEQ}, {"<=", OP_LTEQ}};

static int op1(char c) {
    switch (c) {
    case '+': return OP_ADD;
    case '-': return OP_SUB;
    case '/': return OP_DIV;
    case '*': return OP_MUL;
    case '%': return OP_MOD;
    case '~': return OP_TILDE;
    case '[': return OP_LBRACKET;
    case ']': return OP_RBRACKET;
    case '(': return OP_LPAREN;
    case ')': return OP_RPAREN;
    case '{': return OP_LBRACE;
    case '}': return OP_RBRACE;
    case '>': return OP_GT;
    case '<': return OP_LT;
    case '=': return OP_ASSIGN;
    case '.': return OP_DOT;
    case ':': return OP_COLON;
    case '|': return OP_PIPE;
    case ',': return OP_COMMA;
    case ';': return OP_SEMICOLON;
    }
    return 0;
}

/* Tokens of one {{ }} / {% %} tag starting after its opener at L->pos; on
 * return L->pos is after the closing delimiter. */
static int lex_tag(lexer *L, bool is_var, size_t open_pos) {
    const char *s = L->s;
    size_t n = L->n;
    char bal[JINJA_MAX_PARSE_DEPTH];
    int nbal = 0;
    size_t i = L->pos;
    for (;;) {
        if (i >= n) return lex_fail(L, open_pos, "unexpected end of template: '%s' is never closed", is_var ? "{{" : "{%");
        if (nbal == 0) {
            size_t end = NONE_POS;
            if (is_var) {
                if (at(s, n, i, "-}}")) end = skip_space(s, n, i + 3);
                else if (at(s, n, i, "}}")) end = i + 2;
            } else {
                end = block_end_at(s, n, i);
            }
            if (end != NONE_POS) {
                if (!push(L, is_var ? T_VAR_END : T_BLOCK_END, i)) return -1;
                L->pos = end;
                return 0;
            }
        }
        size_t k = py_space_len(s + i, n - i);
        if (k) {
            i += k;
            continue;
        }
        unsigned char c = (unsigned char)s[i];
        if (isdigit(c)) {
            size_t fe = (i > 0 && s[i - 1] == '.') ? NONE_POS : m_float(s, n, i);
            jtok *t = push(L, fe != NONE_POS ? T_FLOAT : T_INT, i);
            if (!t) return -1;
            if (fe != NONE_POS) {
                char tmp[128];
                size_t o = 0;
                for (size_t j = i; j < fe && o + 1 < sizeof tmp; j++)
                    if (s[j] != '_') tmp[o++] = s[j];
                tmp[o] = '\0';
                t->fval = strtod(tmp, NULL);
                t->len = fe - i;
                i = fe;
            } else {
                size_t e = i;
                if (lex_int(L, i, &e, &t->ival)) return -1;
                t->len = e - i;
                i = e;
            }
            continue;
        }
        if (isalpha(c) || c == '_') {
            size_t j = i + 1;
            while (j < n && (isalnum((unsigned char)s[j]) || s[j] == '_')) j++;
            jtok *t = push(L, T_NAME, i);
            if (!t) return -1;
            t->len = j - i;
            i = j;
            continue;
        }
        if (c == '\'' || c == '"') {
            size_t j = i + 1;
            while (j < n && s[j] != (char)c) j += (s[j] == '\\' && j + 1 < n) ? 2 : 1;
            if (j >= n) return lex_fail(L, i, "%s", "unterminated string literal");
            jtok *t = push(L, T_STRING, i);
            if (!t || lex_string(L, i, i + 1, j, t)) return -1;
            i = j + 1;
            continue;
        }
        int op = 0;
        size_t olen = 1;
        for (size_t q = 0; q < sizeof ops2 / sizeof ops2[0]; q++)
            if (at(s, n, i, ops2[q].s)) {
                op = ops2[q].op;
                olen = 2;
                break;
            }
        if (!op) op = op1((char)c);
        if (!op) {
            char cs[8] = {0};
            uint32_t cp;
            size_t cl = u8_decode(s + i, n - i, &cp);
            memcpy(cs, s + i, cl < 4 ? cl : 4);
            return lex_fail(L, i, "unexpected character '%s'", cs);
        }
        if (op == OP_LPAREN || op == OP_LBRACKET || op == OP_LBRACE) {
            if (nbal == (int)sizeof bal) return lex_fail(L, i, "%s", "brackets nested too deeply");
            bal[nbal++] = op == OP_LPAREN ? ')' : op == OP_LBRACKET ? ']' : '}';
        } else if (op == OP_RPAREN || op == OP_RBRACKET || op == OP_RBRACE) {
            if (nbal == 0) return lex_fail(L, i, "unexpected '%c'", c);
            if (bal[nbal - 1] != (char)c) {
                return lex_fail(L, i, "unexpected '%c', expected '%c'", c, bal[nbal - 1]);
            }
            nbal--;
        }
        jtok *t = push(L, T_OP, i);
        if (!t) return -1;
        t->op = (uint8_t)op;
        t->len = olen;
        i += olen;
    }
}

/* "{%" sign? \s* raw \s* ("-%}" \s* | "%}") at q (after "{%" and sign). */
static size_t raw_begin_at(const char *s, size_t n, size_t q) {
    size_t i = skip_space(s, n, q);
    if (!at(s, n, i, "raw")) return NONE_POS;
    i = skip_space(s, n, i + 3);
    if (at(s, n, i, "-%}")) return skip_space(s, n, i + 3);
    if (at(s, n, i, "%}")) return i + 2;
    return NONE_POS;
}

lair_status jinja_lex(struct lair_jinja *t, const char *src, size_t len, jtok **toks, size_t *ntoks, lair_err *err) {
    lexer L = {.t = t, .s = src, .n = len, .line = 1, .err = err};
    const char *s = src;
    size_t n = len;
    bool line_starting = true;
    while (L.pos < n) {
        size_t pos = L.pos, tg = pos;
        while (tg + 1 < n && !(s[tg] == '{' && (s[tg + 1] == '{' || s[tg + 1] == '%' || s[tg + 1] == '#'))) tg++;
        if (tg + 1 >= n) {
            if (emit_data(&L, pos, n)) goto fail;
            break;
        }
        char kind = s[tg + 1];
        size_t q = tg + 2;
        char sign = 0;
        if (q < n && (s[q] == '-' || s[q] == '+')) sign = s[q++];
        size_t raw_end = kind == '%' ? raw_begin_at(s, n, q) : NONE_POS;
        size_t tend = tg;
        strip_text(s, pos, &tend, sign, kind == '{', line_starting);
        if (emit_data(&L, pos, tend)) goto fail;

        if (raw_end != NONE_POS) {
            line_starting = s[raw_end - 1] == '\n';
            size_t i = raw_end, end = NONE_POS;
            char sign2 = 0;
            for (; i + 1 < n; i++) {
                if (s[i] != '{' || s[i + 1] != '%') continue;
                size_t j = i + 2;
                sign2 = 0;
                if (j < n && (s[j] == '-' || s[j] == '+')) sign2 = s[j++];
                j = skip_space(s, n, j);
                if (!at(s, n, j, "endraw")) continue;
                j = skip_space(s, n, j + 6);
                end = block_end_at(s, n, j);
                if (end != NONE_POS) break;
            }
            if (end == NONE_POS) {
                lex_fail(&L, tg, "%s", "missing end of raw directive ({% endraw %})");
                goto fail;
            }
            size_t cend = i;
            strip_text(s, raw_end, &cend, sign2, false, line_starting);
            if (emit_data(&L, raw_end, cend)) goto fail;
            L.pos = end;
            line_starting = s[end - 1] == '\n';
            continue;
        }
        if (kind == '#') {
            size_t i = q, end = NONE_POS;
            for (; i + 1 < n; i++) {
                if (at(s, n, i, "+#}")) end = i + 3;
                else if (at(s, n, i, "-#}")) end = skip_space(s, n, i + 3);
                else if (at(s, n, i, "#}")) end = i + 2 < n && s[i + 2] == '\n' ? i + 3 : i + 2;
                if (end != NONE_POS) break;
            }
            if (end == NONE_POS) {
                lex_fail(&L, tg, "%s", "missing end of comment tag");
                goto fail;
            }
            L.pos = end;
            line_starting = s[end - 1] == '\n';
            continue;
        }
        if (!push(&L, kind == '{' ? T_VAR_BEGIN : T_BLOCK_BEGIN, tg)) goto fail;
        L.pos = q;
        if (lex_tag(&L, kind == '{', tg)) goto fail;
        line_starting = s[L.pos - 1] == '\n';
    }
    if (!push(&L, T_EOF, n)) goto fail;
    *toks = L.toks;
    *ntoks = L.ntok;
    return LAIR_OK;
fail:
    lair_free(L.toks);
    *toks = NULL;
    *ntoks = 0;
    return L.st ? L.st : LAIR_ERR_FORMAT;
}
