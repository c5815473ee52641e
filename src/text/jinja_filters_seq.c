/* jinja2's filters over sequences and mappings: batch, dictsort, first,
 * last, groupby, items, join, list, map, max, min, select, reject,
 * selectattr, rejectattr, reverse, slice, sort, sum, unique; with the
 * attribute getters (make_attrgetter) and the stable key sort they share.
 * The filter table and the string and number filters are in
 * jinja_filters.c.  Filters that return generators in jinja2 (map, select,
 * items, ...) return JF_GEN lists: iterable once, no len(), no indexing. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/sort.h"
#include "text/jinja_filter_util.h"
#include "text/jinja_internal.h"

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
    return call_method(R, v, "lower", NO_ARGS, out);
}

/* The comparison key of item: the value at path p (when p is given),
 * lower-cased when a string unless cs (jinja2's case_sensitive=False). */
static int item_key(jrender *R, const attrpath *p, bool cs, jv item, jv *key) {
    jv raw;
    int r = p ? attrpath_get(R, p, item, jv_missing(), &raw) : (raw = jv_ref(item), 0);
    if (r) return r;
    if (cs) {
        *key = raw;
        return 0;
    }
    r = lower_if_str(R, raw, key);
    jv_unref(R, raw);
    return r;
}

/* ---- sorting ------------------------------------------------------------------------- */

typedef struct sortctx {
    jrender *R;
    jv *keys;
    bool reverse;
    int failed;
} sortctx;

static int key_cmp(void *ctx, uint64_t x, uint64_t y) {
    sortctx *c = ctx;
    int r = 0;
    if (c->failed) return 0;
    if (jv_cmp(c->R, c->keys[x], c->keys[y], &r)) {
        c->failed = 1;
        return 0;
    }
    return c->reverse ? -r : r;
}

/* Sorts items by keys (both n long); returns a new list. */
static int sort_by_keys(jrender *R, jv *items, jv *keys, size_t n, bool reverse, jlist **out) {
    uint64_t *idx = jr_alloc(R, (n + 1) * sizeof *idx), *tmp = jr_alloc(R, (n + 1) * sizeof *tmp);
    if (!idx || !tmp) {
        jr_release(R, idx, (n + 1) * sizeof *idx);
        jr_release(R, tmp, (n + 1) * sizeof *tmp);
        return -1;
    }
    for (size_t i = 0; i < n; i++) idx[i] = i;
    sortctx c = {R, keys, reverse, 0};
    /* Python's reverse=True keeps equal items in their original order too */
    lair_sort_indices(idx, tmp, n, key_cmp, &c);
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

int jf_batch(jrender *R, jv v, const jargs *a, jv *out) {
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
    return gen_finish(R, r, res, out);
}

int jf_dictsort(jrender *R, jv v, const jargs *a, jv *out) {
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

int jf_first(jrender *R, jv v, const jargs *a, jv *out) {
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

int jf_last(jrender *R, jv v, const jargs *a, jv *out) {
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

int jf_groupby(jrender *R, jv v, const jargs *a, jv *out) {
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
    uint64_t *order = NULL;
    if (!r) {
        /* sort indices by key, then group runs of equal keys */
        order = jr_alloc(R, (n + 1) * sizeof *order);
        uint64_t *tmp = jr_alloc(R, (n + 1) * sizeof *tmp);
        if (!order || !tmp) r = -1;
        else {
            for (size_t i = 0; i < n; i++) order[i] = i;
            sortctx c = {R, keys, false, 0};
            lair_sort_indices(order, tmp, n, key_cmp, &c);
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

int jf_items(jrender *R, jv v, const jargs *a, jv *out) {
    BIND("items");
    (void)sl;
    if (v.k == JV_UNDEF) {
        jlist *l = jlist_new(R, 0);
        if (!l) return -1;
        return gen_result(l, out);
    }
    if (v.k != JV_DICT) return jr_fail(R, LAIR_ERR_ARG, "Can only get item pairs from a mapping.");
    jv lst;
    if (call_method(R, v, "items", NO_ARGS, &lst)) return -1;
    lst.f = JF_GEN;
    *out = lst;
    return 0;
}

int jf_join(jrender *R, jv v, const jargs *a, jv *out) {
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

int jf_list(jrender *R, jv v, const jargs *a, jv *out) {
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

int jf_map(jrender *R, jv v, const jargs *a, jv *out) {
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
        jv key;
        if ((r = item_key(R, use_attr ? &p : NULL, cs, items->v[i], &key))) break;
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
int jf_max(jrender *R, jv v, const jargs *a, jv *out) { return minmax(R, v, a, true, out); }
int jf_min(jrender *R, jv v, const jargs *a, jv *out) { return minmax(R, v, a, false, out); }

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
int jf_select(jrender *R, jv v, const jargs *a, jv *out) { return select_common(R, v, a, true, false, out); }
int jf_reject(jrender *R, jv v, const jargs *a, jv *out) { return select_common(R, v, a, false, false, out); }
int jf_selectattr(jrender *R, jv v, const jargs *a, jv *out) { return select_common(R, v, a, true, true, out); }
int jf_rejectattr(jrender *R, jv v, const jargs *a, jv *out) { return select_common(R, v, a, false, true, out); }

int jf_reverse(jrender *R, jv v, const jargs *a, jv *out) {
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

int jf_slice(jrender *R, jv v, const jargs *a, jv *out) {
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
    return gen_finish(R, r, res, out);
}

int jf_sort(jrender *R, jv v, const jargs *a, jv *out) {
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
            jv key;
            if ((r = item_key(R, use_attr ? &paths[q] : NULL, cs, items->v[i], &key))) break;
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

int jf_sum(jrender *R, jv v, const jargs *a, jv *out) {
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

int jf_unique(jrender *R, jv v, const jargs *a, jv *out) {
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
        jv key;
        if ((r = item_key(R, use_attr ? &p : NULL, cs, items->v[i], &key))) break;
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
    return gen_finish(R, r, res, out);
}
