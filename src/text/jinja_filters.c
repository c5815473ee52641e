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

#define BIND(fname, ...)                                                                         \
    static const char *const pnames_[] = {__VA_ARGS__};                                          \
    jv sl[sizeof pnames_ / sizeof pnames_[0]];                                                   \
    if (jargs_bind(R, fname, a, pnames_, sizeof pnames_ / sizeof pnames_[0], sl)) return -1

static const jargs no_args = {NULL, 0, NULL, NULL, 0};

static bool given(jv v) { return v.k != JV_MISSING; }

static int get_int(jrender *R, jv v, int64_t def, int64_t *out, const char *what) {
    if (!given(v)) *out = def;
    else if (v.k == JV_INT) *out = v.u.i;
    else if (v.k == JV_BOOL) *out = v.u.b;
    else if (v.k == JV_FLOAT && v.u.d == floor(v.u.d) && fabs(v.u.d) < 9e18) *out = (int64_t)v.u.d;
    else if (v.k == JV_UNDEF) return jv_undef_fail(R, v);
    else return jr_fail(R, LAIR_ERR_ARG, "%s: '%s' object cannot be interpreted as an integer", what, jv_type_name(v));
    return 0;
}

/* soft_str(): strings (and Markup) as they are, anything else through str(). */
static int soft_str(jrender *R, jv v, jv *out) {
    if (v.k == JV_STR) {
        *out = jv_ref(v);
        return 0;
    }
    return jv_to_string(R, v, out);
}

static int call_method(jrender *R, jv self, const char *name, const jargs *a, jv *out) {
    jv m;
    int r = jm_getattr(R, self, name, strlen(name), &m);
    if (r <= 0) return r < 0 ? -1 : jr_fail(R, LAIR_ERR_ARG, "no method '%s'", name);
    r = je_call(R, m, a, out);
    jv_unref(R, m);
    return r;
}

static int gen_result(jlist *l, jv *out) {
    *out = jv_listv(l, JF_GEN);
    return 0;
}

/* ---- attribute getters (make_attrgetter) --------------------------------------------- */

typedef struct attrpath {
    jv parts[16];
    size_t n;
} attrpath;

static void attrpath_free(jrender *R, attrpath *p) {
    for (size_t i = 0; i < p->n; i++) jv_unref(R, p->parts[i]);
    p->n = 0;
}

/* "a.b.0" -> ["a", "b", 0]; an int attribute is one int part. */
static int attrpath_parse(jrender *R, jv attr, const char *s, size_t n, attrpath *p) {
    p->n = 0;
    if (!s) {
        if (attr.k == JV_INT || attr.k == JV_BOOL) {
            p->parts[p->n++] = attr;
            return 0;
        }
        if (attr.k != JV_STR) return jr_fail(R, LAIR_ERR_ARG, "attribute must be a string or an integer, not %s", jv_type_name(attr));
        s = attr.u.s->s;
        n = attr.u.s->len;
    }
    size_t i = 0;
    for (;;) {
        size_t j = i;
        while (j < n && s[j] != '.') j++;
        if (p->n == 16) {
            attrpath_free(R, p);
            return jr_fail(R, LAIR_ERR_LIMIT, "attribute path too long");
        }
        bool digits = j > i;
        for (size_t k = i; k < j; k++)
            if (!isdigit((unsigned char)s[k])) digits = false;
        if (digits) {
            int64_t v = 0;
            for (size_t k = i; k < j && v < 100000000; k++) v = v * 10 + (s[k] - '0');
            p->parts[p->n++] = jv_int(v);
        } else if (jv_str_new(R, s + i, j - i, &p->parts[p->n])) {
            attrpath_free(R, p);
            return -1;
        } else {
            p->n++;
        }
        if (j >= n) break;
        i = j + 1;
    }
    return 0;
}

static int attrpath_get(jrender *R, const attrpath *p, jv item, jv dflt, jv *out) {
    jv cur = jv_ref(item);
    for (size_t i = 0; i < p->n; i++) {
        jv nx;
        if (je_getitem(R, cur, p->parts[i], &nx)) {
            jv_unref(R, cur);
            return -1;
        }
        jv_unref(R, cur);
        cur = nx;
        if (given(dflt) && dflt.k != JV_NONE && cur.k == JV_UNDEF) {
            jv_unref(R, cur);
            cur = jv_ref(dflt);
        }
    }
    *out = cur;
    return 0;
}

static int lower_if_str(jrender *R, jv v, jv *out) {
    if (v.k != JV_STR) {
        *out = jv_ref(v);
        return 0;
    }
    return call_method(R, v, "lower", &no_args, out);
}

/* ---- sorting ------------------------------------------------------------------------- */

typedef struct sortctx {
    jrender *R;
    jv *keys;
    bool reverse;
    int failed;
} sortctx;

static int key_cmp(sortctx *c, size_t x, size_t y) {
    int r = 0;
    if (c->failed) return 0;
    if (jv_cmp(c->R, c->keys[x], c->keys[y], &r)) {
        c->failed = 1;
        return 0;
    }
    return c->reverse ? -r : r;
}

/* Stable merge sort of idx[0..n) by keys. */
static void merge_sort(sortctx *c, size_t *idx, size_t *tmp, size_t n) {
    if (n < 2) return;
    size_t h = n / 2;
    merge_sort(c, idx, tmp, h);
    merge_sort(c, idx + h, tmp, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) tmp[k++] = key_cmp(c, idx[j], idx[i]) < 0 ? idx[j++] : idx[i++];
    while (i < h) tmp[k++] = idx[i++];
    while (j < n) tmp[k++] = idx[j++];
    memcpy(idx, tmp, n * sizeof *idx);
}

/* Sorts items by keys (both n long); returns a new list. */
static int sort_by_keys(jrender *R, jv *items, jv *keys, size_t n, bool reverse, jlist **out) {
    size_t *idx = jr_alloc(R, (n + 1) * sizeof *idx), *tmp = jr_alloc(R, (n + 1) * sizeof *tmp);
    if (!idx || !tmp) {
        jr_release(R, idx, (n + 1) * sizeof *idx);
        jr_release(R, tmp, (n + 1) * sizeof *tmp);
        return -1;
    }
    for (size_t i = 0; i < n; i++) idx[i] = i;
    sortctx c = {R, keys, reverse, 0};
    /* Python's reverse=True keeps equal items in their original order too */
    merge_sort(&c, idx, tmp, n);
    int r = c.failed ? -1 : 0;
    jlist *l = r ? NULL : jlist_new(R, n);
    if (!r && !l) r = -1;
    for (size_t i = 0; i < n && !r; i++) r = jlist_push(R, l, jv_ref(items[idx[i]]));
    jr_release(R, idx, (n + 1) * sizeof *idx);
    jr_release(R, tmp, (n + 1) * sizeof *tmp);
    if (r) {
        if (l) jv_unref(R, jv_listv(l, 0));
        return -1;
    }
    *out = l;
    return 0;
}

/* keys: an array of alloc_n + 1 values of which the first `made` are set. */
static void free_keys(jrender *R, jv *keys, size_t made, size_t alloc_n) {
    if (!keys) return;
    for (size_t i = 0; i < made; i++) jv_unref(R, keys[i]);
    jr_release(R, keys, (alloc_n + 1) * sizeof *keys);
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

static int f_batch(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("batch", "linecount", "fill_with");
    int64_t n;
    if (!given(sl[0])) return jr_fail(R, LAIR_ERR_ARG, "batch() missing argument 'linecount'");
    if (get_int(R, sl[0], 0, &n, "batch")) return -1;
    if (n <= 0) return jr_fail(R, LAIR_ERR_ARG, "batch(): linecount must be positive");
    jlist *items;
    if (je_iterate(R, v, &items)) return -1;
    jlist *res = jlist_new(R, 0), *cur = NULL;
    int r = res ? 0 : -1;
    for (size_t i = 0; i < items->n && !r; i++) {
        if (!cur && !(cur = jlist_new(R, (size_t)n))) r = -1;
        if (!r) r = jlist_push(R, cur, jv_ref(items->v[i]));
        if (!r && (int64_t)cur->n == n) {
            r = jlist_push(R, res, jv_listv(cur, 0));
            cur = NULL;
        }
    }
    if (!r && cur) {
        if (given(sl[1]) && sl[1].k != JV_NONE)
            while (!r && (int64_t)cur->n < n) r = jlist_push(R, cur, jv_ref(sl[1]));
        if (!r) r = jlist_push(R, res, jv_listv(cur, 0));
        cur = NULL;
    }
    if (cur) jv_unref(R, jv_listv(cur, 0));
    jv_unref(R, jv_listv(items, 0));
    if (r) {
        if (res) jv_unref(R, jv_listv(res, 0));
        return -1;
    }
    return gen_result(res, out);
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
    return str_then_method(R, v, "capitalize", &no_args, out);
}
static int f_upper(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("upper");
    (void)sl;
    return str_then_method(R, v, "upper", &no_args, out);
}
static int f_lower(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("lower");
    (void)sl;
    return str_then_method(R, v, "lower", &no_args, out);
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

static int f_dictsort(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("dictsort", "case_sensitive", "by", "reverse");
    if (v.k != JV_DICT) {
        if (v.k == JV_UNDEF) return jv_undef_fail(R, v);
        return jr_fail(R, LAIR_ERR_ARG, "dictsort: '%s' object has no attribute 'items'", jv_type_name(v));
    }
    int pos = 0;
    if (given(sl[1])) {
        if (sl[1].k == JV_STR && !strcmp(sl[1].u.s->s, "value")) pos = 1;
        else if (!(sl[1].k == JV_STR && !strcmp(sl[1].u.s->s, "key")))
            return jr_fail(R, LAIR_ERR_ARG, "You can only sort by either \"key\" or \"value\"");
    }
    bool cs = given(sl[0]) && jv_truthy(sl[0]);
    jdict *d = v.u.m;
    size_t n = d->n;
    jv *items = jr_alloc(R, (n + 1) * sizeof(jv));
    jv *keys = jr_alloc(R, (n + 1) * sizeof(jv));
    if (!items || !keys) {
        jr_release(R, items, (n + 1) * sizeof(jv));
        jr_release(R, keys, (n + 1) * sizeof(jv));
        return -1;
    }
    size_t made = 0;
    int r = 0;
    for (size_t i = 0; i < n && !r; i++) {
        jlist *p = jlist_new(R, 2);
        if (!p) {
            r = -1;
            break;
        }
        p->v[0] = jv_ref(d->k[i]);
        p->v[1] = jv_ref(d->v[i]);
        p->n = 2;
        items[i] = jv_listv(p, JF_TUPLE);
        jv k = pos ? d->v[i] : d->k[i];
        r = cs ? (keys[i] = jv_ref(k), 0) : lower_if_str(R, k, &keys[i]);
        if (r) {
            jv_unref(R, items[i]);
            break;
        }
        made++;
    }
    jlist *res = NULL;
    if (!r) r = sort_by_keys(R, items, keys, n, given(sl[2]) && jv_truthy(sl[2]), &res);
    for (size_t i = 0; i < made; i++) jv_unref(R, items[i]);
    jr_release(R, items, (n + 1) * sizeof(jv));
    free_keys(R, keys, made, n);
    if (r) return -1;
    *out = jv_listv(res, 0);
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

static int f_first(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("first");
    (void)sl;
    if (v.k == JV_LIST && (v.f & JF_GEN)) {
        jlist *l = v.u.l;
        if (l->gpos < l->n) {
            *out = jv_ref(l->v[l->gpos++]);
            return 0;
        }
        return jv_undef_new(R, "No first item, sequence was empty.", NULL, NULL, false, out);
    }
    jlist *items;
    if (je_iterate(R, v, &items)) return -1;
    int r = 0;
    if (items->n) *out = jv_ref(items->v[0]);
    else r = jv_undef_new(R, "No first item, sequence was empty.", NULL, NULL, false, out);
    jv_unref(R, jv_listv(items, 0));
    return r;
}

static int f_last(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("last");
    (void)sl;
    if (v.k == JV_LIST && (v.f & JF_GEN)) return jr_fail(R, LAIR_ERR_ARG, "'generator' object is not reversible");
    if (v.k == JV_NS || v.k == JV_NONE || jv_is_num(v) || v.k == JV_FUNC)
        return jr_fail(R, LAIR_ERR_ARG, "'%s' object is not reversible", jv_type_name(v));
    jlist *items;
    if (je_iterate(R, v, &items)) return -1;
    int r = 0;
    if (items->n) *out = jv_ref(items->v[items->n - 1]);
    else r = jv_undef_new(R, "No last item, sequence was empty.", NULL, NULL, false, out);
    jv_unref(R, jv_listv(items, 0));
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

static int f_groupby(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("groupby", "attribute", "default", "case_sensitive");
    if (!given(sl[0])) return jr_fail(R, LAIR_ERR_ARG, "groupby() missing argument 'attribute'");
    attrpath p;
    if (attrpath_parse(R, sl[0], NULL, 0, &p)) return -1;
    jlist *items;
    if (je_iterate(R, v, &items)) {
        attrpath_free(R, &p);
        return -1;
    }
    size_t n = items->n;
    bool cs = given(sl[2]) && jv_truthy(sl[2]);
    jv *keys = jr_alloc(R, (n + 1) * sizeof(jv)), *raw = jr_alloc(R, (n + 1) * sizeof(jv));
    int r = keys && raw ? 0 : -1;
    size_t made = 0;
    for (size_t i = 0; i < n && !r; i++) {
        r = attrpath_get(R, &p, items->v[i], sl[1], &raw[i]);
        if (r) break;
        r = cs ? (keys[i] = jv_ref(raw[i]), 0) : lower_if_str(R, raw[i], &keys[i]);
        if (r) {
            jv_unref(R, raw[i]);
            break;
        }
        made++;
    }
    jlist *res = NULL;
    size_t *order = NULL;
    if (!r) {
        /* sort indices by key, then group runs of equal keys */
        order = jr_alloc(R, (n + 1) * sizeof *order);
        size_t *tmp = jr_alloc(R, (n + 1) * sizeof *tmp);
        if (!order || !tmp) r = -1;
        else {
            for (size_t i = 0; i < n; i++) order[i] = i;
            sortctx c = {R, keys, false, 0};
            merge_sort(&c, order, tmp, n);
            r = c.failed ? -1 : 0;
        }
        jr_release(R, tmp, (n + 1) * sizeof *tmp);
    }
    if (!r && !(res = jlist_new(R, 0))) r = -1;
    for (size_t i = 0; i < n && !r;) {
        size_t j = i;
        jlist *grp = jlist_new(R, 0);
        if (!grp) {
            r = -1;
            break;
        }
        while (j < n && !r && jv_eq(keys[order[j]], keys[order[i]])) r = jlist_push(R, grp, jv_ref(items->v[order[j++]]));
        jlist *pair = r ? NULL : jlist_new(R, 2);
        if (!pair) {
            jv_unref(R, jv_listv(grp, 0));
            r = -1;
            break;
        }
        pair->v[0] = jv_ref(raw[order[i]]); /* the first item's own value, not the lower-cased key */
        pair->v[1] = jv_listv(grp, 0);
        pair->n = 2;
        r = jlist_push(R, res, jv_listv(pair, JF_TUPLE | JF_GROUP));
        i = j;
    }
    jr_release(R, order, (n + 1) * sizeof *order);
    free_keys(R, keys, made, n);
    free_keys(R, raw, made, n);
    jv_unref(R, jv_listv(items, 0));
    attrpath_free(R, &p);
    if (r) {
        if (res) jv_unref(R, jv_listv(res, 0));
        return -1;
    }
    *out = jv_listv(res, 0);
    return 0;
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

static int f_items(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("items");
    (void)sl;
    if (v.k == JV_UNDEF) {
        jlist *l = jlist_new(R, 0);
        if (!l) return -1;
        return gen_result(l, out);
    }
    if (v.k != JV_DICT) return jr_fail(R, LAIR_ERR_ARG, "Can only get item pairs from a mapping.");
    jv lst;
    if (call_method(R, v, "items", &no_args, &lst)) return -1;
    lst.f = JF_GEN;
    *out = lst;
    return 0;
}

static int f_join(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("join", "d", "attribute");
    jlist *items;
    if (je_iterate(R, v, &items)) return -1;
    attrpath p = {.n = 0};
    bool use_attr = given(sl[1]) && sl[1].k != JV_NONE;
    if (use_attr && attrpath_parse(R, sl[1], NULL, 0, &p)) {
        jv_unref(R, jv_listv(items, 0));
        return -1;
    }
    jbuf b = {0};
    int r = 0;
    for (size_t i = 0; i < items->n && !r; i++) {
        if (i && given(sl[0])) r = jv_write_str(R, &b, sl[0]);
        if (r) break;
        if (use_attr) {
            jv x;
            r = attrpath_get(R, &p, items->v[i], jv_missing(), &x);
            if (!r) {
                r = jv_write_str(R, &b, x);
                jv_unref(R, x);
            }
        } else {
            r = jv_write_str(R, &b, items->v[i]);
        }
    }
    attrpath_free(R, &p);
    jv_unref(R, jv_listv(items, 0));
    if (r) {
        jr_release(R, b.p, b.cap);
        return -1;
    }
    return jb_take(R, &b, 0, out);
}

static int f_list(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("list");
    (void)sl;
    jlist *items;
    if (je_iterate(R, v, &items)) return -1;
    jlist *l = jlist_new(R, items->n);
    int r = l ? 0 : -1;
    for (size_t i = 0; i < items->n && !r; i++) r = jlist_push(R, l, jv_ref(items->v[i]));
    jv_unref(R, jv_listv(items, 0));
    if (r) {
        if (l) jv_unref(R, jv_listv(l, 0));
        return -1;
    }
    *out = jv_listv(l, 0);
    return 0;
}

static int f_map(jrender *R, jv v, const jargs *a, jv *out) {
    jlist *res = jlist_new(R, 0);
    if (!res) return -1;
    if (!jv_truthy(v)) return gen_result(res, out);
    const jv *attr = NULL, *dflt = NULL;
    for (size_t k = 0; k < a->nkw; k++) {
        if (!strcmp(a->kwn[k], "attribute")) attr = &a->kwv[k];
        else if (!strcmp(a->kwn[k], "default")) dflt = &a->kwv[k];
    }
    int r = 0;
    attrpath p = {.n = 0};
    int fid = -1;
    const char *fname = NULL;
    jargs rest = {0};
    if (a->npos == 0 && attr) {
        for (size_t k = 0; k < a->nkw; k++)
            if (strcmp(a->kwn[k], "attribute") && strcmp(a->kwn[k], "default"))
                r = jr_fail(R, LAIR_ERR_ARG, "Unexpected keyword argument '%s'", a->kwn[k]);
        if (!r) r = attrpath_parse(R, *attr, NULL, 0, &p);
    } else {
        if (a->npos == 0) r = jr_fail(R, LAIR_ERR_ARG, "map requires a filter argument");
        else if (a->pos[0].k != JV_STR) r = jr_fail(R, LAIR_ERR_ARG, "map: the filter name must be a string");
        else {
            fname = a->pos[0].u.s->s;
            fid = jinja_filter_id(fname);
            rest = (jargs){a->pos + 1, a->npos - 1, a->kwn, a->kwv, a->nkw};
        }
    }
    jlist *items = NULL;
    if (!r) r = je_iterate(R, v, &items);
    for (size_t i = 0; !r && i < items->n; i++) {
        jv x;
        if (fname) r = jinja_apply_filter(R, fid, fname, items->v[i], &rest, &x);
        else r = attrpath_get(R, &p, items->v[i], dflt ? *dflt : jv_missing(), &x);
        if (!r) r = jlist_push(R, res, x);
    }
    attrpath_free(R, &p);
    if (items) jv_unref(R, jv_listv(items, 0));
    if (r) {
        jv_unref(R, jv_listv(res, 0));
        return -1;
    }
    return gen_result(res, out);
}

static int minmax(jrender *R, jv v, const jargs *a, bool want_max, jv *out) {
    BIND(want_max ? "max" : "min", "case_sensitive", "attribute");
    jlist *items;
    if (je_iterate(R, v, &items)) return -1;
    if (items->n == 0) {
        jv_unref(R, jv_listv(items, 0));
        return jv_undef_new(R, "No aggregated item, sequence was empty.", NULL, NULL, false, out);
    }
    attrpath p = {.n = 0};
    bool use_attr = given(sl[1]) && sl[1].k != JV_NONE;
    bool cs = given(sl[0]) && jv_truthy(sl[0]);
    int r = use_attr ? attrpath_parse(R, sl[1], NULL, 0, &p) : 0;
    size_t best = 0;
    jv bestkey = jv_missing();
    for (size_t i = 0; i < items->n && !r; i++) {
        jv raw, key;
        if (use_attr) r = attrpath_get(R, &p, items->v[i], jv_missing(), &raw);
        else raw = jv_ref(items->v[i]);
        if (r) break;
        if (cs) key = raw;
        else {
            r = lower_if_str(R, raw, &key);
            jv_unref(R, raw);
            if (r) break;
        }
        if (i == 0) {
            bestkey = key;
            continue;
        }
        int c;
        r = jv_cmp(R, key, bestkey, &c);
        if (!r && (want_max ? c > 0 : c < 0)) {
            jv_unref(R, bestkey);
            bestkey = key;
            best = i;
        } else {
            jv_unref(R, key);
        }
    }
    jv_unref(R, bestkey);
    attrpath_free(R, &p);
    if (!r) *out = jv_ref(items->v[best]);
    jv_unref(R, jv_listv(items, 0));
    return r;
}
static int f_max(jrender *R, jv v, const jargs *a, jv *out) { return minmax(R, v, a, true, out); }
static int f_min(jrender *R, jv v, const jargs *a, jv *out) { return minmax(R, v, a, false, out); }

/* select / reject / selectattr / rejectattr */
static int select_common(jrender *R, jv v, const jargs *a, bool keep_true, bool lookup_attr, jv *out) {
    jlist *res = jlist_new(R, 0);
    if (!res) return -1;
    if (!jv_truthy(v)) return gen_result(res, out);
    int r = 0;
    attrpath p = {.n = 0};
    size_t off = 0;
    if (lookup_attr) {
        if (a->npos == 0) r = jr_fail(R, LAIR_ERR_ARG, "Missing parameter for attribute name");
        else r = attrpath_parse(R, a->pos[0], NULL, 0, &p);
        off = 1;
    }
    const char *tname = NULL;
    int tid = -1;
    jargs rest = {0};
    if (!r && a->npos > off) {
        if (a->pos[off].k != JV_STR) r = jr_fail(R, LAIR_ERR_ARG, "the test name must be a string");
        else {
            tname = a->pos[off].u.s->s;
            tid = jinja_test_id(tname);
            rest = (jargs){a->pos + off + 1, a->npos - off - 1, a->kwn, a->kwv, a->nkw};
        }
    }
    jlist *items = NULL;
    if (!r) r = je_iterate(R, v, &items);
    for (size_t i = 0; !r && i < items->n; i++) {
        jv x;
        if (lookup_attr) r = attrpath_get(R, &p, items->v[i], jv_missing(), &x);
        else x = jv_ref(items->v[i]);
        if (r) break;
        bool t;
        if (tname) r = jinja_apply_test(R, tid, tname, x, &rest, &t);
        else t = jv_truthy(x);
        jv_unref(R, x);
        if (!r && t == keep_true) r = jlist_push(R, res, jv_ref(items->v[i]));
    }
    attrpath_free(R, &p);
    if (items) jv_unref(R, jv_listv(items, 0));
    if (r) {
        jv_unref(R, jv_listv(res, 0));
        return -1;
    }
    return gen_result(res, out);
}
static int f_select(jrender *R, jv v, const jargs *a, jv *out) { return select_common(R, v, a, true, false, out); }
static int f_reject(jrender *R, jv v, const jargs *a, jv *out) { return select_common(R, v, a, false, false, out); }
static int f_selectattr(jrender *R, jv v, const jargs *a, jv *out) { return select_common(R, v, a, true, true, out); }
static int f_rejectattr(jrender *R, jv v, const jargs *a, jv *out) { return select_common(R, v, a, false, true, out); }

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

static int f_reverse(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("reverse");
    (void)sl;
    if (v.k == JV_STR) {
        jv none = jv_none(), step = jv_int(-1);
        return je_slice(R, v, none, none, step, out);
    }
    if (v.k == JV_LIST && (v.f & JF_GEN)) {
        /* reversed(generator) fails; jinja2 then reverses list(value) */
    } else if (v.k != JV_LIST && v.k != JV_DICT && v.k != JV_UNDEF) {
        return jr_fail(R, LAIR_ERR_ARG, "argument must be iterable");
    }
    jlist *items;
    if (je_iterate(R, v, &items)) return -1;
    jlist *l = jlist_new(R, items->n);
    if (!l) {
        jv_unref(R, jv_listv(items, 0));
        return -1;
    }
    for (size_t i = items->n; i-- > 0;) l->v[l->n++] = jv_ref(items->v[i]);
    l->depth = items->depth;
    bool was_gen = v.k == JV_LIST && (v.f & JF_GEN);
    jv_unref(R, jv_listv(items, 0));
    *out = jv_listv(l, was_gen ? 0 : JF_GEN);
    return 0;
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

static int f_slice(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("slice", "slices", "fill_with");
    int64_t slices;
    if (!given(sl[0])) return jr_fail(R, LAIR_ERR_ARG, "slice() missing argument 'slices'");
    if (get_int(R, sl[0], 0, &slices, "slice")) return -1;
    if (slices <= 0 || slices > 100000) return jr_fail(R, LAIR_ERR_ARG, "slice(): invalid number of slices");
    jlist *items;
    if (je_iterate(R, v, &items)) return -1;
    size_t len = items->n, per = len / (size_t)slices, extra = len % (size_t)slices, offset = 0;
    jlist *res = jlist_new(R, (size_t)slices);
    int r = res ? 0 : -1;
    for (int64_t s = 0; s < slices && !r; s++) {
        size_t start = offset + (size_t)s * per;
        if ((size_t)s < extra) offset++;
        size_t end = offset + (size_t)(s + 1) * per;
        jlist *part = jlist_new(R, end - start + 1);
        if (!part) {
            r = -1;
            break;
        }
        for (size_t i = start; i < end && !r; i++) r = jlist_push(R, part, jv_ref(items->v[i]));
        if (!r && given(sl[1]) && sl[1].k != JV_NONE && (size_t)s >= extra) r = jlist_push(R, part, jv_ref(sl[1]));
        if (r) jv_unref(R, jv_listv(part, 0));
        else r = jlist_push(R, res, jv_listv(part, 0));
    }
    jv_unref(R, jv_listv(items, 0));
    if (r) {
        if (res) jv_unref(R, jv_listv(res, 0));
        return -1;
    }
    return gen_result(res, out);
}

static int f_sort(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("sort", "reverse", "case_sensitive", "attribute");
    jlist *items;
    if (je_iterate(R, v, &items)) return -1;
    size_t n = items->n;
    bool cs = given(sl[1]) && jv_truthy(sl[1]);
    bool use_attr = given(sl[2]) && sl[2].k != JV_NONE;
    /* "a,b": a list of keys per item */
    attrpath paths[8];
    size_t npaths = 0;
    int r = 0;
    if (use_attr) {
        if (sl[2].k == JV_STR) {
            const char *s = sl[2].u.s->s;
            size_t len = sl[2].u.s->len, i = 0;
            for (;;) {
                size_t j = i;
                while (j < len && s[j] != ',') j++;
                if (npaths == 8) {
                    r = jr_fail(R, LAIR_ERR_LIMIT, "too many sort attributes");
                    break;
                }
                if (attrpath_parse(R, jv_missing(), s + i, j - i, &paths[npaths])) {
                    r = -1;
                    break;
                }
                npaths++;
                if (j >= len) break;
                i = j + 1;
            }
        } else if (!(r = attrpath_parse(R, sl[2], NULL, 0, &paths[0]))) {
            npaths = 1;
        }
    }
    jv *keys = r ? NULL : jr_alloc(R, (n + 1) * sizeof(jv));
    if (!r && !keys) r = -1;
    size_t made = 0;
    for (size_t i = 0; i < n && !r; i++) {
        jlist *kl = NULL;
        if (use_attr && !(kl = jlist_new(R, npaths))) {
            r = -1;
            break;
        }
        for (size_t q = 0; q < (use_attr ? npaths : 1) && !r; q++) {
            jv raw, key;
            if (use_attr) r = attrpath_get(R, &paths[q], items->v[i], jv_missing(), &raw);
            else raw = jv_ref(items->v[i]);
            if (r) break;
            if (cs) key = raw;
            else {
                r = lower_if_str(R, raw, &key);
                jv_unref(R, raw);
                if (r) break;
            }
            if (use_attr) r = jlist_push(R, kl, key);
            else keys[i] = key;
        }
        if (r) {
            if (kl) jv_unref(R, jv_listv(kl, 0));
            break;
        }
        if (use_attr) keys[i] = jv_listv(kl, 0);
        made++;
    }
    jlist *res = NULL;
    if (!r) r = sort_by_keys(R, items->v, keys, n, given(sl[0]) && jv_truthy(sl[0]), &res);
    free_keys(R, keys, made, n);
    for (size_t q = 0; q < npaths; q++) attrpath_free(R, &paths[q]);
    jv_unref(R, jv_listv(items, 0));
    if (r) return -1;
    *out = jv_listv(res, 0);
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

static int f_sum(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("sum", "attribute", "start");
    jlist *items;
    if (je_iterate(R, v, &items)) return -1;
    attrpath p = {.n = 0};
    bool use_attr = given(sl[0]) && sl[0].k != JV_NONE;
    int r = use_attr ? attrpath_parse(R, sl[0], NULL, 0, &p) : 0;
    jv acc = given(sl[1]) ? jv_ref(sl[1]) : jv_int(0);
    if (!r && acc.k == JV_STR) r = jr_fail(R, LAIR_ERR_ARG, "sum() can't sum strings [use ''.join(seq) instead]");
    for (size_t i = 0; i < items->n && !r; i++) {
        jv x, nx;
        if (use_attr) r = attrpath_get(R, &p, items->v[i], jv_missing(), &x);
        else x = jv_ref(items->v[i]);
        if (r) break;
        r = je_binop(R, OP_ADD, acc, x, &nx);
        jv_unref(R, x);
        if (!r) {
            jv_unref(R, acc);
            acc = nx;
        }
    }
    attrpath_free(R, &p);
    jv_unref(R, jv_listv(items, 0));
    if (r) {
        jv_unref(R, acc);
        return -1;
    }
    *out = acc;
    return 0;
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

static int f_unique(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("unique", "case_sensitive", "attribute");
    jlist *items;
    if (je_iterate(R, v, &items)) return -1;
    bool cs = given(sl[0]) && jv_truthy(sl[0]);
    attrpath p = {.n = 0};
    bool use_attr = given(sl[1]) && sl[1].k != JV_NONE;
    int r = use_attr ? attrpath_parse(R, sl[1], NULL, 0, &p) : 0;
    jlist *res = r ? NULL : jlist_new(R, 0);
    jdict *seen = r ? NULL : jdict_new(R, 0);
    if (!r && (!res || !seen)) r = -1;
    for (size_t i = 0; i < items->n && !r; i++) {
        jv raw, key;
        if (use_attr) r = attrpath_get(R, &p, items->v[i], jv_missing(), &raw);
        else raw = jv_ref(items->v[i]);
        if (r) break;
        if (cs) key = raw;
        else {
            r = lower_if_str(R, raw, &key);
            jv_unref(R, raw);
            if (r) break;
        }
        if (jdict_get(seen, key)) {
            jv_unref(R, key);
            continue;
        }
        r = jdict_set(R, seen, key, jv_none());
        if (!r) r = jlist_push(R, res, jv_ref(items->v[i]));
    }
    attrpath_free(R, &p);
    jv_unref(R, jv_listv(items, 0));
    if (seen) {
        jv sv = {JV_DICT, 0, {0}};
        sv.u.m = seen;
        jv_unref(R, sv);
    }
    if (r) {
        if (res) jv_unref(R, jv_listv(res, 0));
        return -1;
    }
    return gen_result(res, out);
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
    {"abs", f_abs}, {"attr", f_attr}, {"batch", f_batch}, {"capitalize", f_capitalize}, {"center", f_center},
    {"count", f_length}, {"d", f_default}, {"default", f_default}, {"dictsort", f_dictsort}, {"e", f_escape},
    {"escape", f_escape}, {"filesizeformat", NULL}, {"first", f_first}, {"float", f_float},
    {"forceescape", f_forceescape}, {"format", f_format}, {"groupby", f_groupby}, {"indent", f_indent},
    {"int", f_int}, {"items", f_items}, {"join", f_join}, {"last", f_last}, {"length", f_length},
    {"list", f_list}, {"lower", f_lower}, {"map", f_map}, {"max", f_max}, {"min", f_min}, {"pprint", NULL},
    {"random", NULL}, {"reject", f_reject}, {"rejectattr", f_rejectattr}, {"replace", f_replace},
    {"reverse", f_reverse}, {"round", f_round}, {"safe", f_safe}, {"select", f_select},
    {"selectattr", f_selectattr}, {"slice", f_slice}, {"sort", f_sort}, {"string", f_string},
    {"striptags", f_striptags}, {"sum", f_sum}, {"title", f_title}, {"tojson", f_tojson}, {"trim", f_trim},
    {"truncate", f_truncate}, {"unique", f_unique}, {"upper", f_upper}, {"urlencode", NULL}, {"urlize", NULL},
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
    int r = call_method(R, s, method, &no_args, &res);
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
