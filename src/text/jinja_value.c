/* Template values: the render context's budgets, reference counting,
 * strings / lists / dicts / scopes, Python truthiness, equality, ordering,
 * str() and repr(), markupsafe escaping, and JSON in and out (json.dumps). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/platform.h"
#include "text/jinja_internal.h"

/* ---- render context: errors, budgets, memory -------------------------------- */

int jr_fail(jrender *R, lair_status code, const char *fmt, ...) {
    if (R->st != LAIR_OK) return -1;
    char msg[LAIR_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    R->st = code;
    if (R->line > 0) lair_err_set(R->err, code, "template: line %d: %s", R->line, msg);
    else lair_err_set(R->err, code, "template: %s", msg);
    return -1;
}

int jr_nomem(jrender *R) { return jr_fail(R, LAIR_ERR_NOMEM, "out of memory"); }

int jr_step(jrender *R) {
    if (++R->steps > R->lim.max_steps)
        return jr_fail(R, LAIR_ERR_LIMIT, "evaluation step limit exceeded (%llu steps)", (unsigned long long)R->lim.max_steps);
    if ((R->steps & 255) == 0 && lair_time_seconds() > R->deadline)
        return jr_fail(R, LAIR_ERR_LIMIT, "time limit exceeded (%.0f ms)", R->lim.max_ms);
    return 0;
}

void *jr_alloc(jrender *R, size_t n) {
    if (n > R->mem_max || R->mem > R->mem_max - n) {
        jr_fail(R, LAIR_ERR_LIMIT, "memory limit exceeded (%zu bytes)", R->mem_max);
        return NULL;
    }
    void *p = lair_malloc(n);
    if (!p) {
        jr_nomem(R);
        return NULL;
    }
    R->mem += n;
    return p;
}

void jr_release(jrender *R, void *p, size_t n) {
    if (!p) return;
    R->mem -= n < R->mem ? n : R->mem;
    lair_free(p);
}

static void *jr_grow(jrender *R, void *p, size_t old, size_t n) {
    if (n > R->mem_max || R->mem - old > R->mem_max - n) {
        jr_fail(R, LAIR_ERR_LIMIT, "memory limit exceeded (%zu bytes)", R->mem_max);
        return NULL;
    }
    void *g = lair_realloc(p, n);
    if (!g) {
        jr_nomem(R);
        return NULL;
    }
    R->mem = R->mem - old + n;
    return g;
}

int jr_register(jrender *R, jhdr *h, int kind) {
    if (R->nreg == R->capreg) {
        size_t cap = R->capreg ? R->capreg * 2 : 16;
        jhdr **g = jr_grow(R, R->reg, R->capreg * sizeof *g, cap * sizeof *g);
        if (!g) return -1;
        R->reg = g;
        uint8_t *k = jr_grow(R, R->regkind, R->capreg, cap);
        if (!k) return -1;
        R->regkind = k;
        R->capreg = cap;
    }
    if (h->rc >= 0) h->rc++;
    R->reg[R->nreg] = h;
    R->regkind[R->nreg++] = (uint8_t)kind;
    return 0;
}

/* ---- UTF-8 and Python character classes -------------------------------------- */

size_t u8_decode(const char *s, size_t n, uint32_t *cp) {
    const unsigned char *u = (const unsigned char *)s;
    if (n == 0) {
        *cp = 0;
        return 0;
    }
    unsigned c = u[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) len = 2, v = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, v = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, v = c & 0x07, min = 0x10000;
    else {
        *cp = 0xFFFD;
        return 1;
    }
    if (n < len) {
        *cp = 0xFFFD;
        return 1;
    }
    for (size_t i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        v = (v << 6) | (u[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        *cp = 0xFFFD;
        return 1;
    }
    *cp = v;
    return len;
}

size_t u8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t u8_count(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += u8_decode(s + i, n - i, &cp);
        c++;
    }
    return c;
}

size_t u8_offset(const char *s, size_t n, size_t idx) {
    size_t i = 0;
    while (idx > 0 && i < n) {
        uint32_t cp;
        i += u8_decode(s + i, n - i, &cp);
        idx--;
    }
    return i;
}

bool py_isspace_cp(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

size_t py_space_len(const char *s, size_t n) {
    if (n == 0) return 0;
    unsigned char c = (unsigned char)s[0];
    if (c < 0x80) return py_isspace_cp(c) ? 1 : 0;
    uint32_t cp;
    size_t k = u8_decode(s, n, &cp);
    return (cp != 0xFFFD || k > 1) && py_isspace_cp(cp) ? k : 0;
}

size_t py_rspace_len(const char *s, size_t n) {
    if (n == 0) return 0;
    unsigned char c = (unsigned char)s[n - 1];
    if (c < 0x80) return py_isspace_cp(c) ? 1 : 0;
    size_t st = n - 1;
    while (st > 0 && n - st < 4 && ((unsigned char)s[st] & 0xC0) == 0x80) st--;
    uint32_t cp;
    size_t k = u8_decode(s + st, n - st, &cp);
    return k == n - st && py_isspace_cp(cp) ? k : 0;
}

bool py_isprintable_cp(uint32_t cp) {
    if (cp == ' ') return true;
    if (cp < 0x20 || cp == 0x7F) return false;
    if (cp < 0x7F) return true;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP: return false;
    default: return true;
    }
}

/* ---- buffers --------------------------------------------------------------- */

int jb_put(jrender *R, jbuf *b, const char *s, size_t n) {
    if (n == 0) return 0;
    if (n > R->lim.max_output || b->n > R->lim.max_output - n)
        return jr_fail(R, LAIR_ERR_LIMIT, "output exceeds the limit of %zu bytes", R->lim.max_output);
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) cap *= 2;
        char *g = jr_grow(R, b->p, b->cap, cap);
        if (!g) return -1;
        b->p = g;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

int jb_puts(jrender *R, jbuf *b, const char *s) { return jb_put(R, b, s, strlen(s)); }

int jb_printf(jrender *R, jbuf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0) return jr_fail(R, LAIR_ERR_ARG, "formatting failed");
    if ((size_t)k >= sizeof tmp) k = (int)sizeof tmp - 1;
    return jb_put(R, b, tmp, (size_t)k);
}

static void jb_release(jrender *R, jbuf *b) {
    jr_release(R, b->p, b->cap);
    b->p = NULL;
    b->n = b->cap = 0;
}

int jb_take(jrender *R, jbuf *b, int markup, jv *out) {
    int r = jv_str_new(R, b->p ? b->p : "", b->n, out);
    if (r == 0 && markup) out->f = JF_MARKUP;
    jb_release(R, b);
    return r;
}

/* ---- construction and release ---------------------------------------------- */

jstr *jstr_alloc(jrender *R, size_t len) {
    if (len > R->lim.max_output) {
        jr_fail(R, LAIR_ERR_LIMIT, "string of %zu bytes exceeds the output limit of %zu bytes", len, R->lim.max_output);
        return NULL;
    }
    jstr *s = jr_alloc(R, sizeof(jstr) + len + 1);
    if (!s) return NULL;
    s->h.rc = 1;
    s->len = len;
    s->s[len] = '\0';
    return s;
}

jv jv_strv(jstr *s, int markup) {
    jv v = {JV_STR, (uint8_t)(markup ? JF_MARKUP : 0), {0}};
    v.u.s = s;
    return v;
}

int jv_str_new(jrender *R, const char *s, size_t n, jv *out) {
    jstr *p = jstr_alloc(R, n);
    if (!p) return -1;
    if (n) memcpy(p->s, s, n);
    *out = jv_strv(p, 0);
    return 0;
}

int jv_str_cstr(jrender *R, const char *s, jv *out) { return jv_str_new(R, s, strlen(s), out); }

jlist *jlist_new(jrender *R, size_t cap) {
    jlist *l = jr_alloc(R, sizeof *l);
    if (!l) return NULL;
    l->h.rc = 1;
    l->depth = 1;
    l->n = 0;
    l->cap = cap;
    l->v = NULL;
    l->gpos = 0;
    if (cap) {
        l->v = jr_alloc(R, cap * sizeof(jv));
        if (!l->v) {
            jr_release(R, l, sizeof *l);
            return NULL;
        }
    }
    return l;
}

static uint32_t child_depth(jv v) {
    if (v.k == JV_LIST) return v.u.l->depth;
    if (v.k == JV_DICT) return v.u.m->depth;
    return 0;
}

int jlist_push(jrender *R, jlist *l, jv v) {
    uint32_t d = child_depth(v) + 1;
    if (d > JINJA_MAX_NEST) {
        jv_unref(R, v);
        return jr_fail(R, LAIR_ERR_LIMIT, "values nested more than %d levels deep", JINJA_MAX_NEST);
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        jv *g = jr_grow(R, l->v, l->cap * sizeof(jv), cap * sizeof(jv));
        if (!g) {
            jv_unref(R, v);
            return -1;
        }
        l->v = g;
        l->cap = cap;
    }
    if (d > l->depth) l->depth = d;
    l->v[l->n++] = v;
    return 0;
}

jv jv_listv(jlist *l, int flags) {
    jv v = {JV_LIST, (uint8_t)flags, {0}};
    v.u.l = l;
    return v;
}

jdict *jdict_new(jrender *R, size_t cap) {
    jdict *d = jr_alloc(R, sizeof *d);
    if (!d) return NULL;
    memset(d, 0, sizeof *d);
    d->h.rc = 1;
    d->depth = 1;
    if (cap) {
        d->k = jr_alloc(R, cap * sizeof(jv));
        d->v = d->k ? jr_alloc(R, cap * sizeof(jv)) : NULL;
        if (!d->v) {
            jr_release(R, d->k, cap * sizeof(jv));
            jr_release(R, d, sizeof *d);
            return NULL;
        }
        d->cap = cap;
    }
    return d;
}

static bool hashable(jv k) {
    if (k.k == JV_DICT || (k.k == JV_LIST && !(k.f & (JF_TUPLE | JF_GEN)))) return false;
    if (k.k == JV_LIST && (k.f & JF_TUPLE))
        for (size_t i = 0; i < k.u.l->n; i++)
            if (!hashable(k.u.l->v[i])) return false;
    return true;
}

static size_t dict_find(const jdict *d, jv key, uint64_t h) {
    if (d->ix) {
        size_t mask = d->ixcap - 1;
        for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
            uint32_t e = d->ix[i];
            if (!e) return (size_t)-1;
            if (jv_eq(d->k[e - 1], key)) return e - 1;
        }
    }
    for (size_t i = 0; i < d->n; i++)
        if (jv_eq(d->k[i], key)) return i;
    return (size_t)-1;
}

static int dict_reindex(jrender *R, jdict *d) {
    size_t cap = 16;
    while (cap < d->n * 2 + 2) cap *= 2;
    uint32_t *ix = jr_alloc(R, cap * sizeof *ix);
    if (!ix) return -1;
    memset(ix, 0, cap * sizeof *ix);
    for (size_t j = 0; j < d->n; j++) {
        size_t i = (size_t)jv_hash(d->k[j]) & (cap - 1);
        while (ix[i]) i = (i + 1) & (cap - 1);
        ix[i] = (uint32_t)(j + 1);
    }
    jr_release(R, d->ix, d->ixcap * sizeof *d->ix);
    d->ix = ix;
    d->ixcap = cap;
    return 0;
}

int jdict_set(jrender *R, jdict *d, jv key, jv val) {
    if (!hashable(key)) {
        int r = jr_fail(R, LAIR_ERR_ARG, "unhashable type: '%s'", jv_type_name(key));
        jv_unref(R, key);
        jv_unref(R, val);
        return r;
    }
    uint64_t h = jv_hash(key);
    size_t at = dict_find(d, key, h);
    if (at != (size_t)-1) {
        jv_unref(R, key);
        jv_unref(R, d->v[at]);
        d->v[at] = val;
        uint32_t dd = child_depth(val) + 1;
        if (dd > d->depth) d->depth = dd;
        return 0;
    }
    uint32_t dd = child_depth(val) + 1;
    if (dd > JINJA_MAX_NEST) {
        jv_unref(R, key);
        jv_unref(R, val);
        return jr_fail(R, LAIR_ERR_LIMIT, "values nested more than %d levels deep", JINJA_MAX_NEST);
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4;
        jv *k = jr_grow(R, d->k, d->cap * sizeof(jv), cap * sizeof(jv));
        if (!k) goto fail;
        d->k = k;
        jv *v = jr_grow(R, d->v, d->cap * sizeof(jv), cap * sizeof(jv));
        if (!v) goto fail; /* the render fails; k's extra room is released with the dict */
        d->v = v;
        d->cap = cap;
    }
    d->k[d->n] = key;
    d->v[d->n] = val;
    d->n++;
    if (dd > d->depth) d->depth = dd;
    if (d->n > 8 && (d->ix == NULL || d->n * 2 > d->ixcap)) return dict_reindex(R, d);
    if (d->ix) {
        size_t i = (size_t)h & (d->ixcap - 1);
        while (d->ix[i]) i = (i + 1) & (d->ixcap - 1);
        d->ix[i] = (uint32_t)d->n;
    }
    return 0;
fail:
    jv_unref(R, key);
    jv_unref(R, val);
    return -1;
}

jv *jdict_get(const jdict *d, jv key) {
    if (!hashable(key)) return NULL;
    size_t at = dict_find(d, key, jv_hash(key));
    return at == (size_t)-1 ? NULL : &d->v[at];
}

static uint64_t bytes_hash(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

jv *jdict_get_str(const jdict *d, const char *s, size_t n) {
    if (d->ix) {
        size_t mask = d->ixcap - 1;
        for (size_t i = (size_t)bytes_hash(s, n) & mask;; i = (i + 1) & mask) {
            uint32_t e = d->ix[i];
            if (!e) return NULL;
            jv k = d->k[e - 1];
            if (k.k == JV_STR && k.u.s->len == n && memcmp(k.u.s->s, s, n) == 0) return &d->v[e - 1];
        }
    }
    for (size_t i = 0; i < d->n; i++) {
        jv k = d->k[i];
        if (k.k == JV_STR && k.u.s->len == n && memcmp(k.u.s->s, s, n) == 0) return &d->v[i];
    }
    return NULL;
}

int jv_undef_new(jrender *R, const char *hint, const jv *name, const char *objtype, bool security, jv *out) {
    jundef *u = jr_alloc(R, sizeof *u);
    if (!u) return -1;
    u->h.rc = 1;
    u->security = security;
    u->hint = hint;
    u->objtype = objtype;
    u->name = name ? jv_ref(*name) : jv_missing();
    jv v = {JV_UNDEF, 0, {0}};
    v.u.u = u;
    *out = v;
    return 0;
}

int jv_undef_name(jrender *R, const char *name, jv *out) {
    jv n;
    if (jv_str_cstr(R, name, &n)) return -1;
    int r = jv_undef_new(R, NULL, &n, NULL, false, out);
    jv_unref(R, n);
    return r;
}

int jv_undef_fail(jrender *R, jv u) {
    jundef *d = u.u.u;
    if (!d) return jr_fail(R, LAIR_ERR_ARG, "undefined value used");
    if (d->hint) return jr_fail(R, LAIR_ERR_ARG, "%s%s", d->security ? "security error: " : "", d->hint);
    jbuf b = {0};
    int r = 0;
    if (d->name.k != JV_MISSING) r = jv_write_repr(R, &b, d->name);
    if (r) {
        jb_release(R, &b);
        return -1;
    }
    const char *nm = b.p ? b.p : "?";
    if (!d->objtype) r = jr_fail(R, LAIR_ERR_ARG, "%s is undefined", nm);
    else if (d->name.k != JV_STR) r = jr_fail(R, LAIR_ERR_ARG, "%s has no element %s", d->objtype, nm);
    else r = jr_fail(R, LAIR_ERR_ARG, "'%s' has no attribute %s", d->objtype, nm);
    jb_release(R, &b);
    return r;
}

jframe *jframe_new(jrender *R, jframe *parent) {
    jframe *f = jr_alloc(R, sizeof *f);
    if (!f) return NULL;
    memset(f, 0, sizeof *f);
    f->h.rc = 1;
    f->parent = parent;
    if (parent) parent->h.rc++;
    return f;
}

static void frame_clear(jrender *R, jframe *f) {
    for (size_t i = 0; i < f->n; i++) jv_unref(R, f->vars[i].v);
    jr_release(R, f->vars, f->cap * sizeof *f->vars);
    f->vars = NULL;
    f->n = f->cap = 0;
}

void jframe_unref(jrender *R, jframe *f) {
    while (f && --f->h.rc == 0) {
        jframe *p = f->parent;
        frame_clear(R, f);
        jr_release(R, f, sizeof *f);
        f = p;
    }
}

jv *jframe_find(jframe *f, const char *name) {
    for (size_t i = 0; i < f->n; i++)
        if (f->vars[i].name[0] == name[0] && strcmp(f->vars[i].name, name) == 0) return &f->vars[i].v;
    return NULL;
}

int jframe_set(jrender *R, jframe *f, const char *name, jv v) {
    jv *p = jframe_find(f, name);
    if (p) {
        jv old = *p;
        *p = v;
        jv_unref(R, old);
        return 0;
    }
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 4;
        jvar *g = jr_grow(R, f->vars, f->cap * sizeof *g, cap * sizeof *g);
        if (!g) {
            jv_unref(R, v);
            return -1;
        }
        f->vars = g;
        f->cap = cap;
    }
    f->vars[f->n].name = name;
    f->vars[f->n].v = v;
    f->n++;
    return 0;
}

static void dict_clear(jrender *R, jdict *d) {
    for (size_t i = 0; i < d->n; i++) {
        jv_unref(R, d->k[i]);
        jv_unref(R, d->v[i]);
    }
    jr_release(R, d->k, d->cap * sizeof(jv));
    jr_release(R, d->v, d->cap * sizeof(jv));
    jr_release(R, d->ix, d->ixcap * sizeof *d->ix);
    d->k = d->v = NULL;
    d->ix = NULL;
    d->n = d->cap = d->ixcap = 0;
}

void jv_unref(jrender *R, jv v) {
    if (!jv_heap(v)) return;
    jhdr *h = v.u.h;
    if (h->rc < 0 || --h->rc > 0) return;
    switch (v.k) {
    case JV_STR: jr_release(R, h, sizeof(jstr) + v.u.s->len + 1); break;
    case JV_LIST: {
        jlist *l = v.u.l;
        for (size_t i = 0; i < l->n; i++) jv_unref(R, l->v[i]);
        jr_release(R, l->v, l->cap * sizeof(jv));
        jr_release(R, l, sizeof *l);
        break;
    }
    case JV_DICT:
    case JV_NS:
        dict_clear(R, v.u.m);
        jr_release(R, v.u.m, sizeof(jdict));
        break;
    case JV_UNDEF:
        jv_unref(R, v.u.u->name);
        jr_release(R, v.u.u, sizeof(jundef));
        break;
    case JV_FUNC: {
        jfunc *fn = v.u.fn;
        jframe_unref(R, fn->frame);
        jv_unref(R, fn->self);
        if (fn->loop) {
            jv lv = {JV_LOOP, 0, {0}};
            lv.u.lp = fn->loop;
            jv_unref(R, lv);
        }
        jr_release(R, fn, sizeof *fn);
        break;
    }
    case JV_LOOP: {
        jloop *lp = v.u.lp;
        jv_unref(R, jv_listv(lp->items, 0));
        jframe_unref(R, lp->frame);
        jv_unref(R, lp->last_changed);
        jr_release(R, lp, sizeof *lp);
        break;
    }
    default: break;
    }
}

/* Releases what the render still holds: registered namespaces and frames may
 * reference each other in cycles, so their contents are cleared first. */
void jr_release_registry(jrender *R) {
    for (size_t i = 0; i < R->nreg; i++) {
        if (R->regkind[i] == 0) dict_clear(R, (jdict *)R->reg[i]);
        else frame_clear(R, (jframe *)R->reg[i]);
    }
    for (size_t i = 0; i < R->nreg; i++) {
        if (R->regkind[i] == 0) {
            jv v = {JV_NS, 0, {0}};
            v.u.m = (jdict *)R->reg[i];
            jv_unref(R, v);
        } else {
            jframe_unref(R, (jframe *)R->reg[i]);
        }
    }
    jr_release(R, R->reg, R->capreg * sizeof *R->reg);
    jr_release(R, R->regkind, R->capreg);
    R->reg = NULL;
    R->regkind = NULL;
    R->nreg = R->capreg = 0;
}

/* ---- Python semantics of values --------------------------------------------- */

int64_t jv_len_items(jv v) {
    switch (v.k) {
    case JV_STR: return (int64_t)u8_count(v.u.s->s, v.u.s->len);
    case JV_LIST: return (v.f & JF_GEN) ? -1 : (int64_t)v.u.l->n;
    case JV_DICT: return (int64_t)v.u.m->n;
    case JV_UNDEF: return 0;
    case JV_LOOP: return (int64_t)v.u.lp->items->n;
    default: return -1;
    }
}

bool jv_truthy(jv v) {
    switch (v.k) {
    case JV_MISSING:
    case JV_UNDEF:
    case JV_NONE: return false;
    case JV_BOOL: return v.u.b != 0;
    case JV_INT: return v.u.i != 0;
    case JV_FLOAT: return v.u.d != 0.0;
    case JV_STR: return v.u.s->len > 0;
    case JV_LIST: return (v.f & JF_GEN) || v.u.l->n > 0;
    case JV_DICT: return v.u.m->n > 0;
    case JV_LOOP: return v.u.lp->items->n > 0;
    default: return true;
    }
}

static double num_of(jv v) { return v.k == JV_FLOAT ? v.u.d : v.k == JV_INT ? (double)v.u.i : (double)v.u.b; }

bool jv_eq(jv a, jv b) {
    if (jv_is_num(a) && jv_is_num(b)) {
        if (a.k != JV_FLOAT && b.k != JV_FLOAT) return (a.k == JV_INT ? a.u.i : a.u.b) == (b.k == JV_INT ? b.u.i : b.u.b);
        return num_of(a) == num_of(b);
    }
    if (a.k != b.k) return false;
    switch (a.k) {
    case JV_UNDEF:
    case JV_NONE:
    case JV_MISSING: return true;
    case JV_STR: return a.u.s->len == b.u.s->len && memcmp(a.u.s->s, b.u.s->s, a.u.s->len) == 0;
    case JV_LIST: {
        if ((a.f & JF_GEN) || (b.f & JF_GEN)) return a.u.l == b.u.l;
        if ((a.f & JF_TUPLE) != (b.f & JF_TUPLE)) return false;
        if (a.u.l->n != b.u.l->n) return false;
        for (size_t i = 0; i < a.u.l->n; i++)
            if (!jv_eq(a.u.l->v[i], b.u.l->v[i])) return false;
        return true;
    }
    case JV_DICT: {
        if (a.u.m->n != b.u.m->n) return false;
        for (size_t i = 0; i < a.u.m->n; i++) {
            jv *o = jdict_get(b.u.m, a.u.m->k[i]);
            if (!o || !jv_eq(a.u.m->v[i], *o)) return false;
        }
        return true;
    }
    default: return a.u.h == b.u.h;
    }
}

uint64_t jv_hash(jv v) {
    switch (v.k) {
    case JV_BOOL: return (uint64_t)v.u.b * 0x9E3779B97F4A7C15ull;
    case JV_INT: return (uint64_t)v.u.i * 0x9E3779B97F4A7C15ull;
    case JV_FLOAT:
        if (v.u.d == floor(v.u.d) && fabs(v.u.d) < 9e18) return (uint64_t)(int64_t)v.u.d * 0x9E3779B97F4A7C15ull;
        {
            uint64_t x;
            memcpy(&x, &v.u.d, sizeof x);
            return x * 0x9E3779B97F4A7C15ull;
        }
    case JV_STR: return bytes_hash(v.u.s->s, v.u.s->len);
    case JV_LIST: {
        uint64_t h = 7;
        for (size_t i = 0; i < v.u.l->n; i++) h = h * 31 + jv_hash(v.u.l->v[i]);
        return h;
    }
    case JV_NONE: return 0x1234567;
    case JV_UNDEF: return 0x7654321;
    default: return (uint64_t)(uintptr_t)v.u.h * 0x9E3779B97F4A7C15ull;
    }
}

const char *jv_type_name(jv v) {
    switch (v.k) {
    case JV_MISSING:
    case JV_UNDEF: return "Undefined";
    case JV_NONE: return "NoneType";
    case JV_BOOL: return "bool";
    case JV_INT: return "int";
    case JV_FLOAT: return "float";
    case JV_STR: return (v.f & JF_MARKUP) ? "Markup" : "str";
    case JV_LIST: return (v.f & JF_GEN) ? "generator" : (v.f & JF_TUPLE) ? "tuple" : "list";
    case JV_DICT: return "dict";
    case JV_NS: return "Namespace";
    case JV_FUNC:
        return v.u.fn->kind == FN_MACRO || v.u.fn->kind == FN_CALLER ? "Macro"
               : v.u.fn->kind == FN_METHOD                          ? "builtin_function_or_method"
                                                                    : "function";
    case JV_LOOP: return "LoopContext";
    }
    return "object";
}

int jv_cmp(jrender *R, jv a, jv b, int *cmp) {
    if (a.k == JV_UNDEF) return jv_undef_fail(R, a);
    if (b.k == JV_UNDEF) return jv_undef_fail(R, b);
    if (jv_is_num(a) && jv_is_num(b)) {
        if (a.k != JV_FLOAT && b.k != JV_FLOAT) {
            int64_t x = a.k == JV_INT ? a.u.i : a.u.b, y = b.k == JV_INT ? b.u.i : b.u.b;
            *cmp = x < y ? -1 : x > y;
        } else {
            double x = num_of(a), y = num_of(b);
            *cmp = x < y ? -1 : x > y ? 1 : 0; /* NaN compares "equal": Python's < and > are both false */
        }
        return 0;
    }
    if (a.k == JV_STR && b.k == JV_STR) {
        size_t n = a.u.s->len < b.u.s->len ? a.u.s->len : b.u.s->len;
        int c = memcmp(a.u.s->s, b.u.s->s, n);
        *cmp = c < 0 ? -1 : c > 0 ? 1 : a.u.s->len < b.u.s->len ? -1 : a.u.s->len > b.u.s->len;
        return 0;
    }
    if (a.k == JV_LIST && b.k == JV_LIST && !((a.f | b.f) & JF_GEN) && (a.f & JF_TUPLE) == (b.f & JF_TUPLE)) {
        size_t n = a.u.l->n < b.u.l->n ? a.u.l->n : b.u.l->n;
        for (size_t i = 0; i < n; i++) {
            if (jv_eq(a.u.l->v[i], b.u.l->v[i])) continue;
            return jv_cmp(R, a.u.l->v[i], b.u.l->v[i], cmp);
        }
        *cmp = a.u.l->n < b.u.l->n ? -1 : a.u.l->n > b.u.l->n;
        return 0;
    }
    return jr_fail(R, LAIR_ERR_ARG, "'<' not supported between instances of '%s' and '%s'", jv_type_name(a), jv_type_name(b));
}

/* ---- str() and repr() --------------------------------------------------------- */

void py_float_repr(double d, char out[32]) {
    if (isnan(d)) {
        strcpy(out, "nan");
        return;
    }
    if (isinf(d)) {
        strcpy(out, d < 0 ? "-inf" : "inf");
        return;
    }
    char buf[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
        if (strtod(buf, NULL) == d) break;
    }
    /* buf: [-]D[.DDD]e[+-]XX */
    const char *p = buf;
    char *o = out;
    if (*p == '-') *o++ = *p++;
    char digits[24];
    int nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9' && nd < 20) digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    if (exp >= -4 && exp < 16) {
        int decpt = exp + 1;
        if (decpt <= 0) {
            *o++ = '0';
            *o++ = '.';
            for (int i = 0; i < -decpt; i++) *o++ = '0';
            for (int i = 0; i < nd; i++) *o++ = digits[i];
        } else if (decpt >= nd) {
            for (int i = 0; i < nd; i++) *o++ = digits[i];
            for (int i = nd; i < decpt; i++) *o++ = '0';
            *o++ = '.';
            *o++ = '0';
        } else {
            for (int i = 0; i < decpt; i++) *o++ = digits[i];
            *o++ = '.';
            for (int i = decpt; i < nd; i++) *o++ = digits[i];
        }
        *o = '\0';
    } else {
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            for (int i = 1; i < nd; i++) *o++ = digits[i];
        }
        int ax = exp < 0 ? -exp : exp;
        *o++ = 'e';
        *o++ = exp < 0 ? '-' : '+';
        if (ax >= 100) *o++ = (char)('0' + ax / 100 % 10);
        *o++ = (char)('0' + ax / 10 % 10);
        *o++ = (char)('0' + ax % 10);
        *o = '\0';
    }
}

static int write_str_repr(jrender *R, jbuf *b, const char *s, size_t n) {
    bool has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    if (jb_put(R, b, &q, 1)) return -1;
    size_t run = 0; /* start of a run of bytes copied as they are */
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = u8_decode(s + i, n - i, &cp);
        char esc[16];
        const char *e = NULL;
        if (cp == (uint32_t)q || cp == '\\') {
            esc[0] = '\\';
            esc[1] = (char)cp;
            esc[2] = 0;
            e = esc;
        } else if (cp == '\n') e = "\\n";
        else if (cp == '\r') e = "\\r";
        else if (cp == '\t') e = "\\t";
        else if (!py_isprintable_cp(cp)) {
            if (cp < 0x100) snprintf(esc, sizeof esc, "\\x%02x", (unsigned)cp);
            else if (cp < 0x10000) snprintf(esc, sizeof esc, "\\u%04x", (unsigned)cp);
            else snprintf(esc, sizeof esc, "\\U%08x", (unsigned)cp);
            e = esc;
        }
        if (e) {
            if (jb_put(R, b, s + run, i - run) || jb_puts(R, b, e)) return -1;
            run = i + k;
        }
        i += k;
    }
    if (jb_put(R, b, s + run, n - run)) return -1;
    return jb_put(R, b, &q, 1);
}

static int write_value(jrender *R, jbuf *b, jv v, bool repr, int depth);

static int write_seq(jrender *R, jbuf *b, jv v, int depth) {
    bool tuple = v.f & JF_TUPLE;
    if (jb_put(R, b, tuple ? "(" : "[", 1)) return -1;
    for (size_t i = 0; i < v.u.l->n; i++) {
        if (i && jb_put(R, b, ", ", 2)) return -1;
        if (write_value(R, b, v.u.l->v[i], true, depth + 1)) return -1;
    }
    if (tuple && v.u.l->n == 1 && jb_put(R, b, ",", 1)) return -1;
    return jb_put(R, b, tuple ? ")" : "]", 1);
}

static int write_dict(jrender *R, jbuf *b, const jdict *d, int depth) {
    if (jb_put(R, b, "{", 1)) return -1;
    for (size_t i = 0; i < d->n; i++) {
        if (i && jb_put(R, b, ", ", 2)) return -1;
        if (write_value(R, b, d->k[i], true, depth + 1) || jb_put(R, b, ": ", 2) ||
            write_value(R, b, d->v[i], true, depth + 1))
            return -1;
    }
    return jb_put(R, b, "}", 1);
}

static int write_value(jrender *R, jbuf *b, jv v, bool repr, int depth) {
    if (depth > JINJA_MAX_NEST) return jr_fail(R, LAIR_ERR_LIMIT, "values nested more than %d levels deep", JINJA_MAX_NEST);
    char tmp[64];
    switch (v.k) {
    case JV_MISSING:
    case JV_UNDEF: return repr ? jb_puts(R, b, "Undefined") : 0;
    case JV_NONE: return jb_puts(R, b, "None");
    case JV_BOOL: return jb_puts(R, b, v.u.b ? "True" : "False");
    case JV_INT: snprintf(tmp, sizeof tmp, "%lld", (long long)v.u.i); return jb_puts(R, b, tmp);
    case JV_FLOAT: py_float_repr(v.u.d, tmp); return jb_puts(R, b, tmp);
    case JV_STR:
        if (!repr) return jb_put(R, b, v.u.s->s, v.u.s->len);
        if (v.f & JF_MARKUP) {
            if (jb_puts(R, b, "Markup(")) return -1;
            if (write_str_repr(R, b, v.u.s->s, v.u.s->len)) return -1;
            return jb_puts(R, b, ")");
        }
        return write_str_repr(R, b, v.u.s->s, v.u.s->len);
    case JV_LIST:
        if (v.f & JF_GEN) return jb_puts(R, b, "<generator object>");
        return write_seq(R, b, v, depth);
    case JV_DICT: return write_dict(R, b, v.u.m, depth);
    case JV_NS:
        if (jb_puts(R, b, "<Namespace ")) return -1;
        if (write_dict(R, b, v.u.m, depth)) return -1;
        return jb_puts(R, b, ">");
    case JV_FUNC:
        if (v.u.fn->kind == FN_MACRO || v.u.fn->kind == FN_CALLER) {
            const char *nm = v.u.fn->kind == FN_MACRO ? v.u.fn->node->name : "caller";
            return jb_printf(R, b, "<Macro '%s'>", nm);
        }
        if (v.u.fn->kind == FN_METHOD)
            return jb_printf(R, b, "<built-in method %s of %s object>", jm_func_name(v.u.fn), jv_type_name(v.u.fn->self));
        return jb_printf(R, b, "<function %s>", jm_func_name(v.u.fn));
    case JV_LOOP: return jb_printf(R, b, "<LoopContext %zu/%zu>", v.u.lp->index0 + 1, v.u.lp->items->n);
    }
    return 0;
}

int jv_write_str(jrender *R, jbuf *b, jv v) { return write_value(R, b, v, false, 0); }
int jv_write_repr(jrender *R, jbuf *b, jv v) { return write_value(R, b, v, true, 0); }

int jv_to_string(jrender *R, jv v, jv *out) {
    if (v.k == JV_STR) {
        *out = jv_ref(v);
        out->f = 0;
        return 0;
    }
    jbuf b = {0};
    if (jv_write_str(R, &b, v)) {
        jb_release(R, &b);
        return -1;
    }
    return jb_take(R, &b, 0, out);
}

int jb_put_escaped(jrender *R, jbuf *b, const char *s, size_t n) {
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        const char *e;
        switch (s[i]) {
        case '&': e = "&amp;"; break;
        case '<': e = "&lt;"; break;
        case '>': e = "&gt;"; break;
        case '\'': e = "&#39;"; break;
        case '"': e = "&#34;"; break;
        default: continue;
        }
        if (jb_put(R, b, s + run, i - run) || jb_puts(R, b, e)) return -1;
        run = i + 1;
    }
    return jb_put(R, b, s + run, n - run);
}

int jv_escape(jrender *R, jv v, jv *out) {
    if (v.k == JV_STR && (v.f & JF_MARKUP)) {
        *out = jv_ref(v);
        return 0;
    }
    jv s;
    if (jv_to_string(R, v, &s)) return -1;
    jbuf b = {0};
    int r = jb_put_escaped(R, &b, s.u.s->s, s.u.s->len);
    jv_unref(R, s);
    if (r) {
        jb_release(R, &b);
        return -1;
    }
    return jb_take(R, &b, 1, out);
}

/* ---- JSON ------------------------------------------------------------------- */

static int json_str(jrender *R, jbuf *b, const char *s, size_t n, bool ascii) {
    if (jb_put(R, b, "\"", 1)) return -1;
    size_t run = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        char esc[16];
        const char *e = NULL;
        size_t k = 1;
        if (c == '"') e = "\\\"";
        else if (c == '\\') e = "\\\\";
        else if (c == '\n') e = "\\n";
        else if (c == '\r') e = "\\r";
        else if (c == '\t') e = "\\t";
        else if (c == '\b') e = "\\b";
        else if (c == '\f') e = "\\f";
        else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            e = esc;
        } else if (c >= 0x80 && ascii) {
            uint32_t cp;
            k = u8_decode(s + i, n - i, &cp);
            if (cp >= 0x10000) {
                uint32_t v = cp - 0x10000;
                snprintf(esc, sizeof esc, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
            } else {
                snprintf(esc, sizeof esc, "\\u%04x", (unsigned)cp);
            }
            e = esc;
        }
        if (e) {
            if (jb_put(R, b, s + run, i - run) || jb_puts(R, b, e)) return -1;
            run = i + k;
        }
        i += k;
    }
    if (jb_put(R, b, s + run, n - run)) return -1;
    return jb_put(R, b, "\"", 1);
}

static int json_newline(jrender *R, jbuf *b, const jjson_opts *o, int level) {
    if (jb_put(R, b, "\n", 1)) return -1;
    for (int i = 0; i < level; i++)
        if (jb_put(R, b, o->indent, o->indent_len)) return -1;
    return 0;
}

static int json_key(jrender *R, jbuf *b, jv k, const jjson_opts *o) {
    char tmp[64];
    switch (k.k) {
    case JV_STR: return json_str(R, b, k.u.s->s, k.u.s->len, o->ensure_ascii);
    case JV_BOOL: return jb_puts(R, b, k.u.b ? "\"true\"" : "\"false\"");
    case JV_NONE: return jb_puts(R, b, "\"null\"");
    case JV_INT: snprintf(tmp, sizeof tmp, "\"%lld\"", (long long)k.u.i); return jb_puts(R, b, tmp);
    case JV_FLOAT: {
        char f[32];
        py_float_repr(k.u.d, f);
        if (isnan(k.u.d)) strcpy(f, "NaN");
        else if (isinf(k.u.d)) strcpy(f, k.u.d < 0 ? "-Infinity" : "Infinity");
        snprintf(tmp, sizeof tmp, "\"%s\"", f);
        return jb_puts(R, b, tmp);
    }
    default:
        return jr_fail(R, LAIR_ERR_ARG, "keys must be str, int, float, bool or None, not %s", jv_type_name(k));
    }
}

static int json_value(jrender *R, jbuf *b, jv v, const jjson_opts *o, int level);

static int json_dict(jrender *R, jbuf *b, const jdict *d, const jjson_opts *o, int level) {
    if (d->n == 0) return jb_puts(R, b, "{}");
    size_t *order = NULL;
    if (o->sort_keys) {
        order = jr_alloc(R, d->n * sizeof *order);
        if (!order) return -1;
        for (size_t i = 0; i < d->n; i++) order[i] = i;
        for (size_t i = 1; i < d->n; i++) { /* insertion sort: stable, and reports unorderable keys */
            size_t x = order[i], j = i;
            while (j > 0) {
                int c;
                if (jv_cmp(R, d->k[order[j - 1]], d->k[x], &c)) {
                    jr_release(R, order, d->n * sizeof *order);
                    return -1;
                }
                if (c <= 0) break;
                order[j] = order[j - 1];
                j--;
            }
            order[j] = x;
        }
    }
    int r = jb_puts(R, b, "{");
    for (size_t i = 0; i < d->n && !r; i++) {
        size_t at = order ? order[i] : i;
        if (i) r = jb_put(R, b, o->item_sep, o->item_sep_len);
        if (!r && o->indent_set) r = json_newline(R, b, o, level + 1);
        if (!r) r = json_key(R, b, d->k[at], o);
        if (!r) r = jb_put(R, b, o->key_sep, o->key_sep_len);
        if (!r) r = json_value(R, b, d->v[at], o, level + 1);
    }
    if (!r && o->indent_set) r = json_newline(R, b, o, level);
    if (!r) r = jb_puts(R, b, "}");
    if (order) jr_release(R, order, d->n * sizeof *order);
    return r;
}

static int json_value(jrender *R, jbuf *b, jv v, const jjson_opts *o, int level) {
    char tmp[64];
    if (level > JINJA_MAX_NEST) return jr_fail(R, LAIR_ERR_LIMIT, "values nested more than %d levels deep", JINJA_MAX_NEST);
    switch (v.k) {
    case JV_NONE: return jb_puts(R, b, "null");
    case JV_BOOL: return jb_puts(R, b, v.u.b ? "true" : "false");
    case JV_INT: snprintf(tmp, sizeof tmp, "%lld", (long long)v.u.i); return jb_puts(R, b, tmp);
    case JV_FLOAT:
        if (isnan(v.u.d)) return jb_puts(R, b, "NaN");
        if (isinf(v.u.d)) return jb_puts(R, b, v.u.d < 0 ? "-Infinity" : "Infinity");
        py_float_repr(v.u.d, tmp);
        return jb_puts(R, b, tmp);
    case JV_STR: return json_str(R, b, v.u.s->s, v.u.s->len, o->ensure_ascii);
    case JV_LIST:
        if (!(v.f & JF_GEN)) {
            if (v.u.l->n == 0) return jb_puts(R, b, "[]");
            if (jb_puts(R, b, "[")) return -1;
            for (size_t i = 0; i < v.u.l->n; i++) {
                if (i && jb_put(R, b, o->item_sep, o->item_sep_len)) return -1;
                if (o->indent_set && json_newline(R, b, o, level + 1)) return -1;
                if (json_value(R, b, v.u.l->v[i], o, level + 1)) return -1;
            }
            if (o->indent_set && json_newline(R, b, o, level)) return -1;
            return jb_puts(R, b, "]");
        }
        break;
    case JV_DICT: return json_dict(R, b, v.u.m, o, level);
    case JV_UNDEF:
        /* json.dumps(Undefined) is a TypeError */
        break;
    default: break;
    }
    return jr_fail(R, LAIR_ERR_ARG, "Object of type %s is not JSON serializable", jv_type_name(v));
}

int jv_to_json(jrender *R, jbuf *b, jv v, const jjson_opts *o) { return json_value(R, b, v, o, 0); }

static int from_json(jrender *R, const json_t *j, jv *out, int depth) {
    if (depth > JINJA_MAX_NEST) return jr_fail(R, LAIR_ERR_LIMIT, "input JSON nested more than %d levels deep", JINJA_MAX_NEST);
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        jdict *d = jdict_new(R, json_object_size(j));
        if (!d) return -1;
        jv dv = {JV_DICT, 0, {0}};
        dv.u.m = d;
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)j, key, val) {
            jv k, v;
            if (jv_str_cstr(R, key, &k)) goto objfail;
            if (from_json(R, val, &v, depth + 1)) {
                jv_unref(R, k);
                goto objfail;
            }
            if (jdict_set(R, d, k, v)) goto objfail;
        }
        *out = dv;
        return 0;
    objfail:
        jv_unref(R, dv);
        return -1;
    }
    case JSON_ARRAY: {
        jlist *l = jlist_new(R, json_array_size(j));
        if (!l) return -1;
        for (size_t i = 0; i < json_array_size(j); i++) {
            jv v;
            if (from_json(R, json_array_get(j, i), &v, depth + 1) || jlist_push(R, l, v)) {
                jv_unref(R, jv_listv(l, 0));
                return -1;
            }
        }
        *out = jv_listv(l, 0);
        return 0;
    }
    case JSON_STRING: return jv_str_new(R, json_string_value(j), json_string_length(j), out);
    case JSON_INTEGER: *out = jv_int((int64_t)json_integer_value(j)); return 0;
    case JSON_REAL: *out = jv_float(json_real_value(j)); return 0;
    case JSON_TRUE: *out = jv_bool(true); return 0;
    case JSON_FALSE: *out = jv_bool(false); return 0;
    case JSON_NULL: *out = jv_none(); return 0;
    }
    *out = jv_none();
    return 0;
}

int jv_from_json(jrender *R, const json_t *j, jv *out) { return from_json(R, j, out, 0); }
