/* jinja2's built-in filters and tests (FILTERS / TESTS of jinja2 3.1), with
 * the tojson filter of HF transformers:
 *   json.dumps(x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys)
 * Filters that return generators in jinja2 (map, select, items, ...) return
 * JF_GEN lists here: iterable once, no len(), no indexing. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/err.h"
#include "text/jinja_filter_util.h"
#include "text/jinja_internal.h"

int jargs_bind(jrender *R, const char *fname, const jargs *a, const char *const *names, size_t nnames, jv *slots) {
    for (size_t i = 0; i < nnames; i++) slots[i] = jv_missing();
    if (a->npos > nnames)
        return jr_fail(R, LAIR_ERR_ARG, "%s() takes at most %zu argument%s (%zu given)", fname, nnames, nnames == 1 ? "" : "s",
                       a->npos);
    for (size_t i = 0; i < a->npos; i++) slots[i] = a->pos[i];
    for (size_t k = 0; k < a->nkw; k++) {
        size_t i;
        for (i = 0; i < nnames; i++)
            if (strcmp(names[i], a->kwn[k]) == 0) break;
        if (i == nnames) return jr_fail(R, LAIR_ERR_ARG, "%s() got an unexpected keyword argument '%s'", fname, a->kwn[k]);
        if (slots[i].k != JV_MISSING) return jr_fail(R, LAIR_ERR_ARG, "%s() got multiple values for argument '%s'", fname, names[i]);
        slots[i] = a->kwv[k];
    }
    return 0;
}

/* ---- filters --------------------------------------------------------------------------- */

static int f_abs(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("abs");
    (void)sl;
    if (v.k == JV_INT || v.k == JV_BOOL) {
        int64_t x = v.k == JV_INT ? v.u.i : v.u.b;
        if (x == INT64_MIN) return jr_fail(R, LAIR_ERR_ARG, "integer overflow");
        *out = jv_int(x < 0 ? -x : x);
        return 0;
    }
    if (v.k == JV_FLOAT) {
        *out = jv_float(fabs(v.u.d));
        return 0;
    }
    if (v.k == JV_UNDEF) return jv_undef_fail(R, v);
    return jr_fail(R, LAIR_ERR_ARG, "bad operand type for abs(): '%s'", jv_type_name(v));
}

static int f_attr(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("attr", "name");
    if (!given(sl[0]) || sl[0].k != JV_STR) return jr_fail(R, LAIR_ERR_ARG, "attr() needs an attribute name");
    if (v.k == JV_UNDEF) return jv_undef_fail(R, v);
    int m = jm_getattr(R, v, sl[0].u.s->s, sl[0].u.s->len, out);
    if (m) return m < 0 ? -1 : 0;
    if (v.k == JV_NS || v.k == JV_LOOP) return je_getattr(R, v, sl[0].u.s->s, sl[0].u.s->len, out);
    return jv_undef_new(R, NULL, &sl[0], NULL, false, out);
}

static int str_then_method(jrender *R, jv v, const char *method, const jargs *a, jv *out) {
    jv s;
    if (soft_str(R, v, &s)) return -1;
    int r = call_method(R, s, method, a, out);
    jv_unref(R, s);
    return r;
}

static int f_capitalize(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("capitalize");
    (void)sl;
    return str_then_method(R, v, "capitalize", NO_ARGS, out);
}
static int f_upper(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("upper");
    (void)sl;
    return str_then_method(R, v, "upper", NO_ARGS, out);
}
static int f_lower(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("lower");
    (void)sl;
    return str_then_method(R, v, "lower", NO_ARGS, out);
}

static int f_center(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("center", "width");
    jv w = given(sl[0]) ? sl[0] : jv_int(80);
    jargs ma = {&w, 1, NULL, NULL, 0};
    return str_then_method(R, v, "center", &ma, out);
}

static int f_trim(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("trim", "chars");
    jargs ma = {&sl[0], given(sl[0]) ? 1u : 0u, NULL, NULL, 0};
    return str_then_method(R, v, "strip", &ma, out);
}

static int f_length(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("length");
    (void)sl;
    int64_t n = jv_len_items(v);
    if (n < 0) {
        if (v.k == JV_NS) return jr_fail(R, LAIR_ERR_ARG, "object of type 'Namespace' has no len()");
        return jr_fail(R, LAIR_ERR_ARG, "object of type '%s' has no len()", jv_type_name(v));
    }
    *out = jv_int(n);
    return 0;
}

static int f_default(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("default", "default_value", "boolean");
    bool use = v.k == JV_UNDEF || (given(sl[1]) && jv_truthy(sl[1]) && !jv_truthy(v));
    if (!use) {
        *out = jv_ref(v);
        return 0;
    }
    if (given(sl[0])) *out = jv_ref(sl[0]);
    else return jv_str_new(R, "", 0, out);
    return 0;
}

static int f_escape(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("escape");
    (void)sl;
    return jv_escape(R, v, out);
}

static int f_forceescape(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("forceescape");
    (void)sl;
    jv s;
    if (jv_to_string(R, v, &s)) return -1;
    int r = jv_escape(R, s, out);
    jv_unref(R, s);
    return r;
}

/* Python float() of a string; false when it is not a number. */
static bool parse_py_float(const char *s, size_t n, double *out) {
    size_t b = 0, e = n, k;
    while (b < e && (k = py_space_len(s + b, e - b)) > 0) b += k;
    while (e > b && (k = py_rspace_len(s + b, e - b)) > 0) e -= k;
    if (b == e || e - b > 300) return false;
    char buf[320];
    size_t o = 0;
    for (size_t i = b; i < e; i++) {
        char c = s[i];
        if (c == '_') { /* only between digits */
            if (i == b || i + 1 >= e || !isdigit((unsigned char)s[i - 1]) || !isdigit((unsigned char)s[i + 1])) return false;
            continue;
        }
        if (!(isalnum((unsigned char)c) || c == '.' || c == '+' || c == '-')) return false;
        buf[o++] = c;
    }
    buf[o] = 0;
    const char *p = buf;
    if (*p == '+' || *p == '-') p++;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) return false; /* strtod would take hex */
    char *end;
    double d = strtod(buf, &end);
    if (*end) return false;
    /* strtod accepts "infinity"/"nan" like Python; Python also accepts "inf"/"nan" forms only */
    *out = d;
    return true;
}

static bool parse_py_int(const char *s, size_t n, int base, int64_t *out) {
    size_t b = 0, e = n, k;
    while (b < e && (k = py_space_len(s + b, e - b)) > 0) b += k;
    while (e > b && (k = py_rspace_len(s + b, e - b)) > 0) e -= k;
    if (b == e) return false;
    bool neg = false;
    if (s[b] == '+' || s[b] == '-') neg = s[b++] == '-';
    if (e - b >= 2 && s[b] == '0') {
        char p = (char)(s[b + 1] | 0x20);
        int pb = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
        if (pb && (base == 0 || base == pb)) {
            base = pb;
            b += 2;
            if (b < e && s[b] == '_') b++;
        }
    }
    if (base == 0) base = 10;
    if (b == e) return false;
    uint64_t v = 0;
    bool prev_us = true;
    for (size_t i = b; i < e; i++) {
        if (s[i] == '_') {
            if (prev_us) return false;
            prev_us = true;
            continue;
        }
        int d = isdigit((unsigned char)s[i]) ? s[i] - '0' : isalpha((unsigned char)s[i]) ? (s[i] | 0x20) - 'a' + 10 : 99;
        if (d >= base) return false;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) return false;
        v = v * (uint64_t)base + (uint64_t)d;
        prev_us = false;
    }
    if (prev_us) return false;
    if (v > (uint64_t)INT64_MAX + (neg ? 1u : 0u)) return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

static int f_float(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("float", "default");
    double d;
    if (v.k == JV_FLOAT) d = v.u.d;
    else if (v.k == JV_INT || v.k == JV_BOOL) d = (double)(v.k == JV_INT ? v.u.i : v.u.b);
    else if (v.k == JV_STR && parse_py_float(v.u.s->s, v.u.s->len, &d)) {
    } else if (v.k == JV_UNDEF) return jv_undef_fail(R, v);
    else {
        *out = given(sl[0]) ? jv_ref(sl[0]) : jv_float(0.0);
        return 0;
    }
    *out = jv_float(d);
    return 0;
}

static int f_int(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("int", "default", "base");
    int64_t base = 10, x;
    if (get_int(R, sl[1], 10, &base, "int")) return -1;
    if (v.k == JV_INT || v.k == JV_BOOL) {
        *out = jv_int(v.k == JV_INT ? v.u.i : v.u.b);
        return 0;
    }
    if (v.k == JV_UNDEF) return jv_undef_fail(R, v);
    double d;
    if (v.k == JV_FLOAT) {
        if (!isfinite(v.u.d) || fabs(v.u.d) >= 9.2e18) return jr_fail(R, LAIR_ERR_ARG, "cannot convert float to integer");
        *out = jv_int((int64_t)trunc(v.u.d));
        return 0;
    }
    if (v.k == JV_STR) {
        if ((base == 0 || (base >= 2 && base <= 36)) && parse_py_int(v.u.s->s, v.u.s->len, (int)base, &x)) {
            *out = jv_int(x);
            return 0;
        }
        if (parse_py_float(v.u.s->s, v.u.s->len, &d) && isfinite(d) && fabs(d) < 9.2e18) {
            *out = jv_int((int64_t)trunc(d));
            return 0;
        }
    }
    *out = given(sl[0]) ? jv_ref(sl[0]) : jv_int(0);
    return 0;
}

static int f_format(jrender *R, jv v, const jargs *a, jv *out) {
    if (a->npos && a->nkw) return jr_fail(R, LAIR_ERR_ARG, "can't handle positional and keyword arguments at the same time");
    jv s;
    if (soft_str(R, v, &s)) return -1;
    int r;
    if (a->nkw) {
        jdict *d = jdict_new(R, a->nkw);
        if (!d) {
            jv_unref(R, s);
            return -1;
        }
        jv dv = {JV_DICT, 0, {0}};
        dv.u.m = d;
        r = 0;
        for (size_t i = 0; i < a->nkw && !r; i++) {
            jv k;
            r = jv_str_cstr(R, a->kwn[i], &k);
            if (!r) r = jdict_set(R, d, k, jv_ref(a->kwv[i]));
        }
        if (!r) r = jm_percent_format(R, s, dv, out);
        jv_unref(R, dv);
    } else {
        jlist *l = jlist_new(R, a->npos);
        if (!l) {
            jv_unref(R, s);
            return -1;
        }
        for (size_t i = 0; i < a->npos; i++) l->v[l->n++] = jv_ref(a->pos[i]);
        jv t = jv_listv(l, JF_TUPLE);
        r = jm_percent_format(R, s, t, out);
        jv_unref(R, t);
    }
    jv_unref(R, s);
    return r;
}

/* Python str.splitlines() boundaries (used by indent). */
static size_t line_break_at(const char *s, size_t n, size_t i, size_t *brk_len) {
    uint32_t cp;
    size_t k = u8_decode(s + i, n - i, &cp);
    bool nl = cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || (cp >= 0x1C && cp <= 0x1E) || cp == 0x85 ||
              cp == 0x2028 || cp == 0x2029;
    if (!nl) {
        *brk_len = 0;
        return k;
    }
    if (cp == '\r' && i + 1 < n && s[i + 1] == '\n') k = 2;
    *brk_len = k;
    return k;
}

static int f_indent(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("indent", "width", "first", "blank");
    if (v.k == JV_UNDEF) return jv_undef_fail(R, v);
    if (v.k != JV_STR) return jr_fail(R, LAIR_ERR_ARG, "indent: unsupported operand type(s) for +=: '%s' and 'str'", jv_type_name(v));
    char spaces[256];
    const char *ind = spaces;
    size_t il;
    if (given(sl[0]) && sl[0].k == JV_STR) {
        ind = sl[0].u.s->s;
        il = sl[0].u.s->len;
    } else {
        int64_t w;
        if (get_int(R, sl[0], 4, &w, "indent")) return -1;
        if (w < 0) w = 0;
        if (w > 255) return jr_fail(R, LAIR_ERR_LIMIT, "indent width too large");
        memset(spaces, ' ', (size_t)w);
        il = (size_t)w;
    }
    bool first = given(sl[1]) && jv_truthy(sl[1]), blank = given(sl[2]) && jv_truthy(sl[2]);
    const char *s = v.u.s->s;
    size_t n = v.u.s->len;
    jbuf b = {0};
    int r = 0;
    if (first) r = jb_put(R, &b, ind, il);
    /* s + "\n" split into lines (the added newline ends the last line) */
    size_t start = 0, i = 0, line_no = 0;
    for (;;) {
        size_t brk = 0;
        bool at_end = i >= n;
        if (!at_end) {
            size_t k = line_break_at(s, n, i, &brk);
            if (!brk) {
                i += k;
                continue;
            }
        }
        /* line [start, i) */
        if (r) break;
        if (line_no > 0) {
            r = jb_put(R, &b, "\n", 1);
            if (!r && (blank || i > start)) r = jb_put(R, &b, ind, il);
        }
        if (!r) r = jb_put(R, &b, s + start, i - start);
        line_no++;
        if (at_end) break;
        i += brk;
        start = i;
        /* s + "\n": a final "\r" and the added "\n" form one line break, so no empty last line follows */
        if (i >= n && s[n - 1] == '\r' && brk == 1) break;
    }
    if (r) {
        jr_release(R, b.p, b.cap);
        return -1;
    }
    if (!b.p && jb_put(R, &b, "", 0)) return -1;
    return jb_take(R, &b, v.f & JF_MARKUP, out);
}

static int f_replace(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("replace", "old", "new", "count");
    if (!given(sl[0]) || !given(sl[1])) return jr_fail(R, LAIR_ERR_ARG, "replace() missing arguments");
    /* without autoescape: str(s).replace(str(old), str(new), count) */
    jv s, o, nw;
    if (jv_to_string(R, v, &s)) return -1;
    if (jv_to_string(R, sl[0], &o)) {
        jv_unref(R, s);
        return -1;
    }
    if (jv_to_string(R, sl[1], &nw)) {
        jv_unref(R, s);
        jv_unref(R, o);
        return -1;
    }
    jv args[3] = {o, nw, given(sl[2]) && sl[2].k != JV_NONE ? sl[2] : jv_int(-1)};
    jargs ma = {args, 3, NULL, NULL, 0};
    int r = call_method(R, s, "replace", &ma, out);
    jv_unref(R, s);
    jv_unref(R, o);
    jv_unref(R, nw);
    return r;
}

static int f_round(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("round", "precision", "method");
    int64_t prec;
    if (get_int(R, sl[0], 0, &prec, "round")) return -1;
    const char *method = "common";
    if (given(sl[1])) {
        if (sl[1].k != JV_STR) return jr_fail(R, LAIR_ERR_ARG, "method must be common, ceil or floor");
        method = sl[1].u.s->s;
    }
    if (strcmp(method, "common") && strcmp(method, "ceil") && strcmp(method, "floor"))
        return jr_fail(R, LAIR_ERR_ARG, "method must be common, ceil or floor");
    if (v.k == JV_UNDEF) return jv_undef_fail(R, v);
    if (!jv_is_num(v)) return jr_fail(R, LAIR_ERR_ARG, "type %s doesn't define __round__ method", jv_type_name(v));
    if (prec > 300) prec = 300;
    if (prec < -300) prec = -300;
    double x = v.k == JV_FLOAT ? v.u.d : (double)(v.k == JV_INT ? v.u.i : v.u.b);
    if (!strcmp(method, "common")) {
        if (v.k != JV_FLOAT) { /* round(int, n) stays an int */
            int64_t iv = v.k == JV_INT ? v.u.i : v.u.b;
            if (prec >= 0) {
                *out = jv_int(iv);
                return 0;
            }
            double p10 = pow(10.0, (double)-prec);
            double q = iv / p10, rq = nearbyint(q);
            if (fabs(q - trunc(q)) == 0.5) rq = 2.0 * nearbyint(q / 2.0);
            *out = jv_int((int64_t)(rq * p10));
            return 0;
        }
        if (!isfinite(x)) {
            *out = jv_float(x);
            return 0;
        }
        if (prec >= 0) {
            char buf[400];
            snprintf(buf, sizeof buf, "%.*f", (int)prec, x); /* correctly rounded, half to even on the exact value */
            *out = jv_float(strtod(buf, NULL));
        } else {
            double p10 = pow(10.0, (double)-prec);
            *out = jv_float(nearbyint(x / p10) * p10);
        }
        return 0;
    }
    double p10 = pow(10.0, (double)prec);
    double y = !strcmp(method, "ceil") ? ceil(x * p10) : floor(x * p10);
    *out = jv_float(y / p10);
    return 0;
}

static int f_safe(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("safe");
    (void)sl;
    if (v.k == JV_STR) {
        *out = jv_ref(v);
        out->f = JF_MARKUP;
        return 0;
    }
    if (jv_to_string(R, v, out)) return -1;
    out->f = JF_MARKUP;
    return 0;
}

static int f_string(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("string");
    (void)sl;
    return soft_str(R, v, out);
}

static int f_striptags(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("striptags");
    (void)sl;
    jv s;
    if (jv_to_string(R, v, &s)) return -1;
    const char *p = s.u.s->s;
    size_t n = s.u.s->len;
    jbuf t = {0}, b = {0};
    int r = 0;
    for (size_t i = 0; i < n && !r;) { /* drop comments and tags */
        if (p[i] == '<' && i + 3 < n && !memcmp(p + i, "<!--", 4)) {
            const char *e = NULL;
            for (size_t j = i + 4; j + 2 < n; j++)
                if (!memcmp(p + j, "-->", 3)) {
                    e = p + j + 3;
                    break;
                }
            if (e) {
                i = (size_t)(e - p);
                continue;
            }
        }
        if (p[i] == '<') {
            size_t j = i + 1;
            while (j < n && p[j] != '>') j++;
            if (j < n) {
                i = j + 1;
                continue;
            }
        }
        r = jb_put(R, &t, p + i, 1);
        i++;
    }
    /* " ".join(text.split()), then unescape the basic entities */
    const char *q = t.p ? t.p : "";
    size_t m = t.n;
    bool need_space = false;
    for (size_t i = 0; i < m && !r;) {
        size_t k = py_space_len(q + i, m - i);
        if (k) {
            need_space = b.n > 0;
            i += k;
            continue;
        }
        if (need_space) {
            r = jb_put(R, &b, " ", 1);
            need_space = false;
        }
        static const struct {
            const char *ent, *ch;
        } ents[] = {{"&amp;", "&"},   {"&lt;", "<"},   {"&gt;", ">"},          {"&quot;", "\""},
                    {"&#34;", "\""}, {"&#39;", "'"}, {"&nbsp;", "\xc2\xa0"}};
        bool done = false;
        if (q[i] == '&')
            for (size_t e = 0; e < sizeof ents / sizeof ents[0] && !r; e++) {
                size_t el = strlen(ents[e].ent);
                if (m - i >= el && !memcmp(q + i, ents[e].ent, el)) {
                    r = jb_puts(R, &b, ents[e].ch);
                    i += el;
                    done = true;
                    break;
                }
            }
        if (!done && !r) {
            uint32_t cp;
            size_t cl = u8_decode(q + i, m - i, &cp);
            r = jb_put(R, &b, q + i, cl);
            i += cl;
        }
    }
    jr_release(R, t.p, t.cap);
    jv_unref(R, s);
    if (r) {
        jr_release(R, b.p, b.cap);
        return -1;
    }
    return jb_take(R, &b, 0, out);
}

/* filter title: each run of non-separators gets its first character upper-cased and the rest lower-cased. */
static bool title_sep(uint32_t cp) { return cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || py_isspace_cp(cp); }

static int f_title(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("title");
    (void)sl;
    jv s;
    if (soft_str(R, v, &s)) return -1;
    const char *p = s.u.s->s;
    size_t n = s.u.s->len;
    jbuf b = {0};
    int r = 0;
    bool start = true;
    bool prev_sep = false;
    for (size_t i = 0; i < n && !r;) {
        uint32_t cp;
        size_t k = u8_decode(p + i, n - i, &cp);
        bool sep = title_sep(cp);
        if (i == 0 || sep != prev_sep) start = true;
        utf8proc_int32_t o = start ? utf8proc_toupper((utf8proc_int32_t)cp) : utf8proc_tolower((utf8proc_int32_t)cp);
        if (sep) o = (utf8proc_int32_t)cp;
        char enc[4];
        r = jb_put(R, &b, enc, u8_encode((uint32_t)o, enc));
        start = false;
        prev_sep = sep;
        i += k;
    }
    jv_unref(R, s);
    if (r) {
        jr_release(R, b.p, b.cap);
        return -1;
    }
    if (!b.p && jb_put(R, &b, "", 0)) return -1;
    return jb_take(R, &b, 0, out);
}

static int f_tojson(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("tojson", "ensure_ascii", "indent", "separators", "sort_keys");
    jjson_opts o;
    memset(&o, 0, sizeof o);
    o.ensure_ascii = given(sl[0]) && jv_truthy(sl[0]);
    char spaces[128];
    if (given(sl[1]) && sl[1].k != JV_NONE) {
        o.indent_set = true;
        if (sl[1].k == JV_STR) {
            o.indent = sl[1].u.s->s;
            o.indent_len = sl[1].u.s->len;
        } else {
            int64_t w;
            if (get_int(R, sl[1], 0, &w, "tojson indent")) return -1;
            if (w < 0) w = 0;
            if (w > 100) return jr_fail(R, LAIR_ERR_LIMIT, "tojson indent too large");
            memset(spaces, ' ', (size_t)w);
            o.indent = spaces;
            o.indent_len = (size_t)w;
        }
    }
    o.item_sep = o.indent_set ? "," : ", ";
    o.key_sep = ": ";
    if (given(sl[2]) && sl[2].k != JV_NONE) {
        jv s = sl[2];
        if (s.k != JV_LIST || s.u.l->n != 2 || s.u.l->v[0].k != JV_STR || s.u.l->v[1].k != JV_STR)
            return jr_fail(R, LAIR_ERR_ARG, "tojson separators must be a pair of strings");
        o.item_sep = s.u.l->v[0].u.s->s;
        o.item_sep_len = s.u.l->v[0].u.s->len;
        o.key_sep = s.u.l->v[1].u.s->s;
        o.key_sep_len = s.u.l->v[1].u.s->len;
    } else {
        o.item_sep_len = strlen(o.item_sep);
        o.key_sep_len = strlen(o.key_sep);
    }
    o.sort_keys = given(sl[3]) && jv_truthy(sl[3]);
    jbuf b = {0};
    if (jv_to_json(R, &b, v, &o)) {
        jr_release(R, b.p, b.cap);
        return -1;
    }
    return jb_take(R, &b, 0, out);
}

static int f_truncate(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("truncate", "length", "killwords", "end", "leeway");
    int64_t length, leeway;
    if (get_int(R, sl[0], 255, &length, "truncate") || get_int(R, sl[3], 5, &leeway, "truncate")) return -1;
    if (given(sl[3]) && sl[3].k == JV_NONE) leeway = 5;
    jv end = given(sl[2]) ? sl[2] : jv_missing();
    const char *es = "...";
    size_t el = 3;
    if (given(end)) {
        if (end.k != JV_STR) return jr_fail(R, LAIR_ERR_ARG, "truncate: end must be a string");
        es = end.u.s->s;
        el = end.u.s->len;
    }
    int64_t endlen = (int64_t)u8_count(es, el);
    if (length < endlen) return jr_fail(R, LAIR_ERR_ARG, "expected length >= %lld, got %lld", (long long)endlen, (long long)length);
    if (leeway < 0) return jr_fail(R, LAIR_ERR_ARG, "expected leeway >= 0, got %lld", (long long)leeway);
    if (v.k != JV_STR) {
        if (v.k == JV_UNDEF) return jv_undef_fail(R, v);
        return jr_fail(R, LAIR_ERR_ARG, "object of type '%s' has no len()", jv_type_name(v));
    }
    const char *s = v.u.s->s;
    size_t n = v.u.s->len;
    int64_t len = (int64_t)u8_count(s, n);
    if (len <= length + leeway) {
        *out = jv_ref(v);
        return 0;
    }
    size_t cut = u8_offset(s, n, (size_t)(length - endlen));
    if (!(given(sl[1]) && jv_truthy(sl[1]))) {
        /* rsplit(" ", 1)[0] */
        size_t sp = cut;
        while (sp > 0 && s[sp - 1] != ' ') sp--;
        if (sp > 0) cut = sp - 1;
    }
    jbuf b = {0};
    if (jb_put(R, &b, s, cut) || jb_put(R, &b, es, el)) {
        jr_release(R, b.p, b.cap);
        return -1;
    }
    return jb_take(R, &b, v.f & JF_MARKUP, out);
}

static int f_wordcount(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("wordcount");
    (void)sl;
    jv s;
    if (soft_str(R, v, &s)) return -1;
    const char *p = s.u.s->s;
    size_t n = s.u.s->len;
    int64_t words = 0;
    bool in = false;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += u8_decode(p + i, n - i, &cp);
        utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
        bool w = cp == '_' || (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) || c == UTF8PROC_CATEGORY_ND ||
                 c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
        if (w && !in) words++;
        in = w;
    }
    jv_unref(R, s);
    *out = jv_int(words);
    return 0;
}

typedef int (*filter_fn)(jrender *R, jv v, const jargs *a, jv *out);

static const struct {
    const char *name;
    filter_fn fn;
} filters[] = {
    {"abs", f_abs}, {"attr", f_attr}, {"batch", jf_batch}, {"capitalize", f_capitalize}, {"center", f_center},
    {"count", f_length}, {"d", f_default}, {"default", f_default}, {"dictsort", jf_dictsort}, {"e", f_escape},
    {"escape", f_escape}, {"filesizeformat", NULL}, {"first", jf_first}, {"float", f_float},
    {"forceescape", f_forceescape}, {"format", f_format}, {"groupby", jf_groupby}, {"indent", f_indent},
    {"int", f_int}, {"items", jf_items}, {"join", jf_join}, {"last", jf_last}, {"length", f_length},
    {"list", jf_list}, {"lower", f_lower}, {"map", jf_map}, {"max", jf_max}, {"min", jf_min}, {"pprint", NULL},
    {"random", NULL}, {"reject", jf_reject}, {"rejectattr", jf_rejectattr}, {"replace", f_replace},
    {"reverse", jf_reverse}, {"round", f_round}, {"safe", f_safe}, {"select", jf_select},
    {"selectattr", jf_selectattr}, {"slice", jf_slice}, {"sort", jf_sort}, {"string", f_string},
    {"striptags", f_striptags}, {"sum", jf_sum}, {"title", f_title}, {"tojson", f_tojson}, {"trim", f_trim},
    {"truncate", f_truncate}, {"unique", jf_unique}, {"upper", f_upper}, {"urlencode", NULL}, {"urlize", NULL},
    {"wordcount", f_wordcount}, {"wordwrap", NULL}, {"xmlattr", NULL},
};
#define N_FILTERS (sizeof filters / sizeof filters[0])

int jinja_filter_id(const char *name) {
    for (size_t i = 0; i < N_FILTERS; i++)
        if (!strcmp(filters[i].name, name)) return (int)i;
    return -1;
}

int jinja_apply_filter(jrender *R, int id, const char *name, jv val, const jargs *a, jv *out) {
    if (id < 0 || (size_t)id >= N_FILTERS) return jr_fail(R, LAIR_ERR_ARG, "unknown filter '%s'", name);
    if (!filters[id].fn) return jr_fail(R, LAIR_ERR_UNSUPPORTED, "filter '%s' is not supported", name);
    if (jr_step(R)) return -1;
    return filters[id].fn(R, val, a, out);
}

/* ---- tests ---------------------------------------------------------------------------- */

enum {
    TS_ODD, TS_EVEN, TS_DIVISIBLEBY, TS_DEFINED, TS_UNDEFINED, TS_FILTER, TS_TEST, TS_NONE, TS_BOOLEAN, TS_FALSE, TS_TRUE,
    TS_INTEGER, TS_FLOAT, TS_LOWER, TS_UPPER, TS_STRING, TS_MAPPING, TS_NUMBER, TS_SEQUENCE, TS_ITERABLE, TS_CALLABLE,
    TS_SAMEAS, TS_ESCAPED, TS_IN, TS_EQ, TS_NE, TS_GT, TS_GE, TS_LT, TS_LE,
};

static const struct {
    const char *name;
    int id;
} tests[] = {
    {"odd", TS_ODD}, {"even", TS_EVEN}, {"divisibleby", TS_DIVISIBLEBY}, {"defined", TS_DEFINED},
    {"undefined", TS_UNDEFINED}, {"filter", TS_FILTER}, {"test", TS_TEST}, {"none", TS_NONE}, {"boolean", TS_BOOLEAN},
    {"false", TS_FALSE}, {"true", TS_TRUE}, {"integer", TS_INTEGER}, {"float", TS_FLOAT}, {"lower", TS_LOWER},
    {"upper", TS_UPPER}, {"string", TS_STRING}, {"mapping", TS_MAPPING}, {"number", TS_NUMBER},
    {"sequence", TS_SEQUENCE}, {"iterable", TS_ITERABLE}, {"callable", TS_CALLABLE}, {"sameas", TS_SAMEAS},
    {"escaped", TS_ESCAPED}, {"in", TS_IN}, {"==", TS_EQ}, {"eq", TS_EQ}, {"equalto", TS_EQ}, {"!=", TS_NE},
    {"ne", TS_NE}, {">", TS_GT}, {"gt", TS_GT}, {"greaterthan", TS_GT}, {"ge", TS_GE}, {">=", TS_GE}, {"<", TS_LT},
    {"lt", TS_LT}, {"lessthan", TS_LT}, {"<=", TS_LE}, {"le", TS_LE},
};
#define N_TESTS (sizeof tests / sizeof tests[0])

int jinja_test_id(const char *name) {
    for (size_t i = 0; i < N_TESTS; i++)
        if (!strcmp(tests[i].name, name)) return (int)i;
    return -1;
}

static int mod_is(jrender *R, jv v, jv d, int64_t want, bool *out) {
    jv m;
    if (je_binop(R, OP_MOD, v, d, &m)) return -1;
    *out = jv_eq(m, jv_int(want));
    jv_unref(R, m);
    return 0;
}

static int str_case_test(jrender *R, jv v, const char *method, bool *out) {
    jv s, res;
    if (jv_to_string(R, v, &s)) return -1;
    int r = call_method(R, s, method, NO_ARGS, &res);
    jv_unref(R, s);
    if (r) return -1;
    *out = jv_truthy(res);
    jv_unref(R, res);
    return 0;
}

int jinja_apply_test(jrender *R, int id, const char *name, jv v, const jargs *a, bool *out) {
    if (id < 0 || (size_t)id >= N_TESTS) return jr_fail(R, LAIR_ERR_ARG, "unknown test '%s'", name);
    int t = tests[id].id;
    size_t want = (t == TS_DIVISIBLEBY || t == TS_SAMEAS || t == TS_IN || t >= TS_EQ) ? 1 : 0;
    if (a->nkw) return jr_fail(R, LAIR_ERR_ARG, "test '%s' takes no keyword arguments", name);
    if (a->npos != want)
        return jr_fail(R, LAIR_ERR_ARG, "test '%s' takes %zu argument%s (%zu given)", name, want, want == 1 ? "" : "s", a->npos);
    jv x = want ? a->pos[0] : jv_missing();
    switch (t) {
    case TS_ODD: return mod_is(R, v, jv_int(2), 1, out);
    case TS_EVEN: return mod_is(R, v, jv_int(2), 0, out);
    case TS_DIVISIBLEBY: return mod_is(R, v, x, 0, out);
    case TS_DEFINED: *out = v.k != JV_UNDEF; return 0;
    case TS_UNDEFINED: *out = v.k == JV_UNDEF; return 0;
    case TS_FILTER: *out = v.k == JV_STR && jinja_filter_id(v.u.s->s) >= 0; return 0;
    case TS_TEST: *out = v.k == JV_STR && jinja_test_id(v.u.s->s) >= 0; return 0;
    case TS_NONE: *out = v.k == JV_NONE; return 0;
    case TS_BOOLEAN: *out = v.k == JV_BOOL; return 0;
    case TS_FALSE: *out = v.k == JV_BOOL && !v.u.b; return 0;
    case TS_TRUE: *out = v.k == JV_BOOL && v.u.b; return 0;
    case TS_INTEGER: *out = v.k == JV_INT; return 0;
    case TS_FLOAT: *out = v.k == JV_FLOAT; return 0;
    case TS_LOWER: return str_case_test(R, v, "islower", out);
    case TS_UPPER: return str_case_test(R, v, "isupper", out);
    case TS_STRING: *out = v.k == JV_STR; return 0;
    case TS_MAPPING: *out = v.k == JV_DICT; return 0;
    case TS_NUMBER: *out = jv_is_num(v); return 0;
    case TS_SEQUENCE:
        *out = v.k == JV_STR || v.k == JV_DICT || v.k == JV_UNDEF || (v.k == JV_LIST && !(v.f & JF_GEN));
        return 0;
    case TS_ITERABLE:
        *out = v.k == JV_STR || v.k == JV_DICT || v.k == JV_UNDEF || v.k == JV_LIST || v.k == JV_LOOP;
        return 0;
    case TS_CALLABLE: *out = v.k == JV_FUNC || v.k == JV_LOOP; return 0;
    case TS_SAMEAS:
        if (v.k != x.k) *out = false;
        else if (v.k == JV_NONE || v.k == JV_UNDEF) *out = v.k == JV_NONE || v.u.u == x.u.u;
        else if (v.k == JV_BOOL) *out = v.u.b == x.u.b;
        else if (v.k == JV_INT) *out = v.u.i == x.u.i && v.u.i >= -5 && v.u.i <= 256; /* CPython's small ints */
        else if (v.k == JV_FLOAT) *out = false;
        else *out = v.u.h == x.u.h;
        return 0;
    case TS_ESCAPED: *out = v.k == JV_STR && (v.f & JF_MARKUP); return 0;
    case TS_IN: return je_contains(R, x, v, out);
    case TS_EQ: return je_compare(R, OP_EQ, v, x, out);
    case TS_NE: return je_compare(R, OP_NE, v, x, out);
    case TS_GT: return je_compare(R, OP_GT, v, x, out);
    case TS_GE: return je_compare(R, OP_GTEQ, v, x, out);
    case TS_LT: return je_compare(R, OP_LT, v, x, out);
    case TS_LE: return je_compare(R, OP_LTEQ, v, x, out);
    default: break;
    }
    return jr_fail(R, LAIR_ERR_ARG, "unknown test '%s'", name);
}
