/* Shared by the filter files (jinja_filters.c: the table, strings and
 * numbers, tests; jinja_filters_seq.c: sequences and mappings): argument
 * binding and the small conversions jinja2's filters use, and the
 * sequence filters the table refers to. */
#ifndef LAIR_TEXT_JINJA_FILTER_UTIL_H
#define LAIR_TEXT_JINJA_FILTER_UTIL_H

#include <math.h>
#include <string.h>

#include "core/err.h"
#include "text/jinja_internal.h"

/* No arguments, for calling a method the way a filter is called. */
#define NO_ARGS (&(const jargs){NULL, 0, NULL, NULL, 0})

/* Binds the call's arguments to the named parameters: sl[i] is parameter i
 * (JV_MISSING when not given); returns -1 from the caller on a bad call. */
#define BIND(fname, ...)                                                                         \
    static const char *const pnames_[] = {__VA_ARGS__};                                          \
    jv sl[sizeof pnames_ / sizeof pnames_[0]];                                                   \
    if (jargs_bind(R, fname, a, pnames_, sizeof pnames_ / sizeof pnames_[0], sl)) return -1

static inline bool given(jv v) { return v.k != JV_MISSING; }

static inline int get_int(jrender *R, jv v, int64_t def, int64_t *out, const char *what) {
    *out = def; /* set on every path (callers stop at an error, but compilers cannot see that) */
    if (!given(v)) return 0;
    if (v.k == JV_INT) *out = v.u.i;
    else if (v.k == JV_BOOL) *out = v.u.b;
    else if (v.k == JV_FLOAT && v.u.d == floor(v.u.d) && fabs(v.u.d) < 9e18) *out = (int64_t)v.u.d;
    else if (v.k == JV_UNDEF) return jv_undef_fail(R, v);
    else return jr_fail(R, LAIR_ERR_ARG, "%s: '%s' object cannot be interpreted as an integer", what, jv_type_name(v));
    return 0;
}

/* soft_str(): strings (and Markup) as they are, anything else through str(). */
static inline int soft_str(jrender *R, jv v, jv *out) {
    if (v.k == JV_STR) {
        *out = jv_ref(v);
        return 0;
    }
    return jv_to_string(R, v, out);
}

static inline int call_method(jrender *R, jv self, const char *name, const jargs *a, jv *out) {
    jv m;
    int r = jm_getattr(R, self, name, strlen(name), &m);
    if (r <= 0) return r < 0 ? -1 : jr_fail(R, LAIR_ERR_ARG, "no method '%s'", name);
    r = je_call(R, m, a, out);
    jv_unref(R, m);
    return r;
}

static inline int gen_result(jlist *l, jv *out) {
    *out = jv_listv(l, JF_GEN);
    return 0;
}

/* The end of a filter that built res (NULL when it failed early): after a
 * failure (r != 0) res is dropped and -1 returned, else res is the result. */
static inline int gen_finish(jrender *R, int r, jlist *res, jv *out) {
    if (r) {
        if (res) jv_unref(R, jv_listv(res, 0));
        return -1;
    }
    return gen_result(res, out);
}

/* The sequence filters (jinja_filters_seq.c), (value, arguments) -> result. */
int jf_batch(jrender *R, jv v, const jargs *a, jv *out);
int jf_dictsort(jrender *R, jv v, const jargs *a, jv *out);
int jf_first(jrender *R, jv v, const jargs *a, jv *out);
int jf_last(jrender *R, jv v, const jargs *a, jv *out);
int jf_groupby(jrender *R, jv v, const jargs *a, jv *out);
int jf_items(jrender *R, jv v, const jargs *a, jv *out);
int jf_join(jrender *R, jv v, const jargs *a, jv *out);
int jf_list(jrender *R, jv v, const jargs *a, jv *out);
int jf_map(jrender *R, jv v, const jargs *a, jv *out);
int jf_max(jrender *R, jv v, const jargs *a, jv *out);
int jf_min(jrender *R, jv v, const jargs *a, jv *out);
int jf_select(jrender *R, jv v, const jargs *a, jv *out);
int jf_reject(jrender *R, jv v, const jargs *a, jv *out);
int jf_selectattr(jrender *R, jv v, const jargs *a, jv *out);
int jf_rejectattr(jrender *R, jv v, const jargs *a, jv *out);
int jf_reverse(jrender *R, jv v, const jargs *a, jv *out);
int jf_slice(jrender *R, jv v, const jargs *a, jv *out);
int jf_sort(jrender *R, jv v, const jargs *a, jv *out);
int jf_sum(jrender *R, jv v, const jargs *a, jv *out);
int jf_unique(jrender *R, jv v, const jargs *a, jv *out);

#endif
