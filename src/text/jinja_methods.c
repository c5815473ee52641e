/* Methods of built-in values (str, list, tuple, dict, loop) and the global
 * functions (range, namespace, dict, raise_exception, strftime_now).
 * Python's string formatting mini-languages (str.format and %) are in
 * jinja_format.c. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

#include "core/err.h"
#include "text/jinja_internal.h"

enum { RS = 1, RL = 2, RT = 4, RD = 8, RP = 16 }; /* receivers: str, list, tuple, dict, loop */

enum {
    M_CAPITALIZE, M_CASEFOLD, M_CENTER, M_COUNT, M_ENDSWITH, M_FIND, M_FORMAT, M_INDEX, M_ISALNUM, M_ISALPHA,
    M_ISDECIMAL, M_ISDIGIT, M_ISLOWER, M_ISNUMERIC, M_ISSPACE, M_ISTITLE, M_ISUPPER, M_JOIN, M_LJUST, M_LOWER,
    M_LSTRIP, M_PARTITION, M_REMOVEPREFIX, M_REMOVESUFFIX, M_REPLACE, M_RFIND, M_RINDEX, M_RJUST, M_RPARTITION,
    M_RSPLIT, M_RSTRIP, M_SPLIT, M_SPLITLINES, M_STARTSWITH, M_STRIP, M_SWAPCASE, M_TITLE, M_UPPER, M_ZFILL,
    M_APPEND, M_CLEAR, M_COPY, M_EXTEND, M_INSERT, M_POP, M_REMOVE, M_REVERSE, M_SORT,
    M_GET, M_ITEMS, M_KEYS, M_VALUES, M_POPITEM, M_SETDEFAULT, M_UPDATE,
    M_CYCLE, M_CHANGED,
};

static const struct mdef {
    const char *name;
    int id;
    uint8_t recv;
    uint8_t unsafe_recv; /* receivers on which jinja2's immutable sandbox refuses it */
} methods[] = {
    {"capitalize", M_CAPITALIZE, RS, 0}, {"casefold", M_CASEFOLD, RS, 0}, {"center", M_CENTER, RS, 0},
    {"count", M_COUNT, RS | RL | RT, 0}, {"endswith", M_ENDSWITH, RS, 0}, {"find", M_FIND, RS, 0},
    {"format", M_FORMAT, RS, 0}, {"index", M_INDEX, RS | RL | RT, 0}, {"isalnum", M_ISALNUM, RS, 0},
    {"isalpha", M_ISALPHA, RS, 0}, {"isdecimal", M_ISDECIMAL, RS, 0}, {"isdigit", M_ISDIGIT, RS, 0},
    {"islower", M_ISLOWER, RS, 0}, {"isnumeric", M_ISNUMERIC, RS, 0}, {"isspace", M_ISSPACE, RS, 0},
    {"istitle", M_ISTITLE, RS, 0}, {"isupper", M_ISUPPER, RS, 0}, {"join", M_JOIN, RS, 0},
    {"ljust", M_LJUST, RS, 0}, {"lower", M_LOWER, RS, 0}, {"lstrip", M_LSTRIP, RS, 0},
    {"partition", M_PARTITION, RS, 0}, {"removeprefix", M_REMOVEPREFIX, RS, 0},
    {"removesuffix", M_REMOVESUFFIX, RS, 0}, {"replace", M_REPLACE, RS, 0}, {"rfind", M_RFIND, RS, 0},
    {"rindex", M_RINDEX, RS, 0}, {"rjust", M_RJUST, RS, 0}, {"rpartition", M_RPARTITION, RS, 0},
    {"rsplit", M_RSPLIT, RS, 0}, {"rstrip", M_RSTRIP, RS, 0}, {"split", M_SPLIT, RS, 0},
    {"splitlines", M_SPLITLINES, RS, 0}, {"startswith", M_STARTSWITH, RS, 0}, {"strip", M_STRIP, RS, 0},
    {"swapcase", M_SWAPCASE, RS, 0}, {"title", M_TITLE, RS, 0}, {"upper", M_UPPER, RS, 0},
    {"zfill", M_ZFILL, RS, 0},
    {"append", M_APPEND, RL, RL}, {"clear", M_CLEAR, RL | RD, RD}, {"copy", M_COPY, RL | RD, 0},
    {"extend", M_EXTEND, RL, RL}, {"insert", M_INSERT, RL, RL}, {"pop", M_POP, RL | RD, RD},
    {"remove", M_REMOVE, RL, RL}, {"reverse", M_REVERSE, RL, RL}, {"sort", M_SORT, RL, RL},
    {"get", M_GET, RD, 0}, {"items", M_ITEMS, RD, 0}, {"keys", M_KEYS, RD, 0}, {"values", M_VALUES, RD, 0},
    {"popitem", M_POPITEM, RD, RD}, {"setdefault", M_SETDEFAULT, RD, RD}, {"update", M_UPDATE, RD, RD},
    {"cycle", M_CYCLE, RP, 0}, {"changed", M_CHANGED, RP, 0},
};
#define N_METHODS (sizeof methods / sizeof methods[0])

static int recv_mask(jv v) {
    switch (v.k) {
    case JV_STR: return RS;
    case JV_LIST: return (v.f & JF_GEN) ? 0 : (v.f & JF_TUPLE) ? RT : RL;
    case JV_DICT: return RD;
    case JV_LOOP: return RP;
    default: return 0;
    }
}

int jm_getattr(jrender *R, jv obj, const char *name, size_t n, jv *out) {
    int mask = recv_mask(obj);
    if (!mask) return 0;
    for (size_t i = 0; i < N_METHODS; i++) {
        const struct mdef *m = &methods[i];
        if (!(m->recv & mask) || strlen(m->name) != n || memcmp(m->name, name, n) != 0) continue;
        if (m->unsafe_recv & mask) {
            jv nm;
            if (jv_str_new(R, name, n, &nm)) return -1;
            const char *hint = mask == RL ? "access to a mutating method of a 'list' object is unsafe"
                                          : "access to a mutating method of a 'dict' object is unsafe";
            int r = jv_undef_new(R, hint, &nm, mask == RL ? "list object" : "dict object", true, out);
            jv_unref(R, nm);
            return r < 0 ? -1 : 1;
        }
        jfunc *fn = jr_alloc(R, sizeof *fn);
        if (!fn) return -1;
        memset(fn, 0, sizeof *fn);
        fn->h.rc = 1;
        fn->kind = FN_METHOD;
        fn->id = m->id;
        fn->self = jv_ref(obj);
        jv v = {JV_FUNC, 0, {0}};
        v.u.fn = fn;
        *out = v;
        return 1;
    }
    return 0;
}

const char *jm_func_name(const jfunc *fn) {
    static const char *const globals[] = {"range", "namespace", "dict", "raise_exception", "strftime_now"};
    if (fn->kind == FN_GLOBAL) return fn->id >= 0 && fn->id < 5 ? globals[fn->id] : "?";
    for (size_t i = 0; i < N_METHODS; i++)
        if (methods[i].id == fn->id) return methods[i].name;
    return "?";
}

/* ---- helpers ------------------------------------------------------------------ */

static int bind(jrender *R, const char *fname, const jargs *a, const char *const *names, size_t n, jv *slots) {
    return jargs_bind(R, fname, a, names, n, slots);
}

static int need_str(jrender *R, jv v, const char *what) {
    if (v.k == JV_STR) return 0;
    if (v.k == JV_UNDEF) return jv_undef_fail(R, v);
    return jr_fail(R, LAIR_ERR_ARG, "%s must be str, not %s", what, jv_type_name(v));
}

/* Builds a string value from a buffer; markup when the receiver was Markup. */
static int buf_result(jrender *R, jbuf *b, int markup, jv *out) { return jb_take(R, b, markup, out); }

static bool in_chars(uint32_t cp, const char *chars, size_t n) {
    for (size_t i = 0; i < n;) {
        uint32_t c;
        i += u8_decode(chars + i, n - i, &c);
        if (c == cp) return true;
    }
    return false;
}

/* strip family: which = 1 left, 2 right, 3 both.  chars NULL: whitespace. */
static void strip_range(const char *s, size_t n, const char *chars, size_t cn, int which, size_t *b, size_t *e) {
    size_t i = 0, j = n;
    if (which & 1)
        while (i < j) {
            uint32_t cp;
            size_t k = u8_decode(s + i, j - i, &cp);
            if (chars ? !in_chars(cp, chars, cn) : !py_isspace_cp(cp)) break;
            i += k;
        }
    if (which & 2)
        while (j > i) {
            size_t st = j - 1;
            while (st > i && ((unsigned char)s[st] & 0xC0) == 0x80 && j - st < 4) st--;
            uint32_t cp;
            u8_decode(s + st, j - st, &cp);
            if (chars ? !in_chars(cp, chars, cn) : !py_isspace_cp(cp)) break;
            j = st;
        }
    *b = i;
    *e = j;
}

static int do_strip(jrender *R, jv self, jv chars, int which, jv *out) {
    const char *c = NULL;
    size_t cn = 0;
    if (chars.k != JV_MISSING && chars.k != JV_NONE) {
        if (need_str(R, chars, "strip arg")) return -1;
        c = chars.u.s->s;
        cn = chars.u.s->len;
    }
    size_t b, e;
    strip_range(self.u.s->s, self.u.s->len, c, cn, which, &b, &e);
    int r = jv_str_new(R, self.u.s->s + b, e - b, out);
    if (!r) out->f = self.f & JF_MARKUP;
    return r;
}

static size_t find_bytes(const char *h, size_t hn, const char *nd, size_t nn, size_t from) {
    if (nn == 0) return from <= hn ? from : (size_t)-1;
    for (size_t i = from; i + nn <= hn; i++)
        if (h[i] == nd[0] && memcmp(h + i, nd, nn) == 0) return i;
    return (size_t)-1;
}

static size_t rfind_bytes(const char *h, size_t hn, const char *nd, size_t nn, size_t from, size_t to) {
    (void)hn;
    if (nn > to - from) return (size_t)-1;
    for (size_t i = to - nn + 1; i-- > from;)
        if (memcmp(h + i, nd, nn) == 0) return i;
    return (size_t)-1;
}

static int push_str(jrender *R, jlist *l, const char *s, size_t n, int markup) {
    jv v;
    if (jv_str_new(R, s, n, &v)) return -1;
    v.f = (uint8_t)(markup ? JF_MARKUP : 0);
    return jlist_push(R, l, v);
}

static int do_split(jrender *R, jv self, jv sepv, jv maxv, bool right, jv *out) {
    int64_t maxsplit = -1;
    if (maxv.k != JV_MISSING && jv_need_int(R, maxv, &maxsplit, "maxsplit")) return -1;
    const char *s = self.u.s->s;
    size_t n = self.u.s->len;
    int mk = self.f & JF_MARKUP;
    jlist *l = jlist_new(R, 0);
    if (!l) return -1;
    int r = 0;
    if (sepv.k == JV_MISSING || sepv.k == JV_NONE) {
        /* runs of whitespace; no empty strings */
        if (!right) {
            size_t i = 0;
            int64_t splits = 0;
            while (!r) {
                while (i < n && py_space_len(s + i, n - i)) i += py_space_len(s + i, n - i);
                if (i >= n) break;
                if (maxsplit >= 0 && splits >= maxsplit) { /* the rest, trailing whitespace included */
                    r = push_str(R, l, s + i, n - i, mk);
                    break;
                }
                size_t j = i;
                while (j < n && !py_space_len(s + j, n - j)) {
                    uint32_t cp;
                    j += u8_decode(s + j, n - j, &cp);
                }
                r = push_str(R, l, s + i, j - i, mk);
                splits++;
                i = j;
            }
        } else {
            /* collect from the right, then reverse */
            size_t j = n;
            int64_t splits = 0;
            while (!r) {
                size_t k;
                while (j > 0 && (k = py_rspace_len(s, j)) > 0) j -= k;
                if (j == 0) break;
                if (maxsplit >= 0 && splits >= maxsplit) { /* the rest, leading whitespace included */
                    r = push_str(R, l, s, j, mk);
                    break;
                }
                size_t i = j;
                while (i > 0 && !py_rspace_len(s, i)) {
                    i--;
                    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80) i--;
                }
                r = push_str(R, l, s + i, j - i, mk);
                splits++;
                j = i;
            }
            for (size_t a = 0, b = l->n; b > a + 1; a++, b--) {
                jv t = l->v[a];
                l->v[a] = l->v[b - 1];
                l->v[b - 1] = t;
            }
        }
    } else {
        if (need_str(R, sepv, "separator")) {
            jv_unref(R, jv_listv(l, 0));
            return -1;
        }
        const char *sep = sepv.u.s->s;
        size_t sn = sepv.u.s->len;
        if (sn == 0) {
            jv_unref(R, jv_listv(l, 0));
            return jr_fail(R, LAIR_ERR_ARG, "empty separator");
        }
        if (!right) {
            size_t i = 0;
            int64_t splits = 0;
            while (!r) {
                size_t at = (maxsplit >= 0 && splits >= maxsplit) ? (size_t)-1 : find_bytes(s, n, sep, sn, i);
                if (at == (size_t)-1) {
                    r = push_str(R, l, s + i, n - i, mk);
                    break;
                }
                r = push_str(R, l, s + i, at - i, mk);
                i = at + sn;
                splits++;
            }
        } else {
            size_t j = n;
            int64_t splits = 0;
            while (!r) {
                size_t at = (maxsplit >= 0 && splits >= maxsplit) ? (size_t)-1 : rfind_bytes(s, n, sep, sn, 0, j);
                if (at == (size_t)-1) {
                    r = push_str(R, l, s, j, mk);
                    break;
                }
                r = push_str(R, l, s + at + sn, j - at - sn, mk);
                j = at;
                splits++;
            }
            for (size_t a = 0, b = l->n; b > a + 1; a++, b--) {
                jv t = l->v[a];
                l->v[a] = l->v[b - 1];
                l->v[b - 1] = t;
            }
        }
    }
    if (r) {
        jv_unref(R, jv_listv(l, 0));
        return -1;
    }
    *out = jv_listv(l, 0);
    return 0;
}

static int do_splitlines(jrender *R, jv self, jv keepv, jv *out) {
    bool keep = keepv.k != JV_MISSING && jv_truthy(keepv);
    const char *s = self.u.s->s;
    size_t n = self.u.s->len;
    jlist *l = jlist_new(R, 0);
    if (!l) return -1;
    size_t i = 0, start = 0;
    int r = 0;
    while (i < n && !r) {
        uint32_t cp;
        size_t k = u8_decode(s + i, n - i, &cp);
        bool nl = cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || (cp >= 0x1C && cp <= 0x1E) || cp == 0x85 ||
                  cp == 0x2028 || cp == 0x2029;
        if (!nl) {
            i += k;
            continue;
        }
        size_t e = i + k;
        if (cp == '\r' && e < n && s[e] == '\n') e++;
        r = push_str(R, l, s + start, (keep ? e : i) - start, self.f & JF_MARKUP);
        i = start = e;
    }
    if (!r && start < n) r = push_str(R, l, s + start, n - start, self.f & JF_MARKUP);
    if (r) {
        jv_unref(R, jv_listv(l, 0));
        return -1;
    }
    *out = jv_listv(l, 0);
    return 0;
}

/* Case mapping per code point.  mode: 0 lower, 1 upper, 2 title, 3 swap, 4 capitalize. */
static int do_case(jrender *R, jv self, int mode, jv *out) {
    const char *s = self.u.s->s;
    size_t n = self.u.s->len;
    jbuf b = {0};
    bool prev_cased = false, first = true;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = u8_decode(s + i, n - i, &cp);
        utf8proc_int32_t c = (utf8proc_int32_t)cp, o = c;
        utf8proc_category_t cat = utf8proc_category(c);
        bool upper = cat == UTF8PROC_CATEGORY_LU, lower = cat == UTF8PROC_CATEGORY_LL, title = cat == UTF8PROC_CATEGORY_LT;
        switch (mode) {
        case 0: o = utf8proc_tolower(c); break;
        case 1: {
            /* the few full (one-to-many) upper-case mappings of SpecialCasing.txt that matter in practice */
            static const struct {
                uint32_t cp;
                const char *up;
            } special[] = {{0xDF, "SS"}, {0xFB00, "FF"}, {0xFB01, "FI"}, {0xFB02, "FL"}, {0xFB03, "FFI"}, {0xFB04, "FFL"},
                           {0xFB05, "ST"}, {0xFB06, "ST"}, {0x149, "\xCA\xBCN"}};
            const char *sp = NULL;
            for (size_t q = 0; q < sizeof special / sizeof special[0]; q++)
                if (special[q].cp == cp) sp = special[q].up;
            if (sp) {
                if (jb_puts(R, &b, sp)) {
                    jr_release(R, b.p, b.cap);
                    return -1;
                }
                i += k;
                first = false;
                continue;
            }
            o = utf8proc_toupper(c);
            break;
        }
        case 2:
            if (upper || title) {
                o = prev_cased ? utf8proc_tolower(c) : c;
                prev_cased = true;
            } else if (lower) {
                o = prev_cased ? c : utf8proc_totitle(c);
                prev_cased = true;
            } else prev_cased = false;
            break;
        case 3: o = upper ? utf8proc_tolower(c) : lower ? utf8proc_toupper(c) : c; break;
        case 4: o = first ? utf8proc_totitle(c) : utf8proc_tolower(c); break;
        }
        first = false;
        char enc[4];
        size_t el = u8_encode((uint32_t)o, enc);
        if (jb_put(R, &b, enc, el)) {
            jr_release(R, b.p, b.cap);
            return -1;
        }
        i += k;
    }
    return buf_result(R, &b, self.f & JF_MARKUP, out);
}

static bool cp_class(uint32_t cp, int which) {
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    bool alpha = c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO;
    bool dec = c == UTF8PROC_CATEGORY_ND;
    bool num = dec || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
    switch (which) {
    case M_ISALPHA: return alpha;
    case M_ISALNUM: return alpha || num;
    case M_ISDECIMAL: return dec;
    case M_ISDIGIT: return dec || c == UTF8PROC_CATEGORY_NO;
    case M_ISNUMERIC: return num;
    case M_ISSPACE: return py_isspace_cp(cp);
    default: return false;
    }
}

static int do_is(jrender *R, jv self, int which, jv *out) {
    (void)R;
    const char *s = self.u.s->s;
    size_t n = self.u.s->len;
    if (which == M_ISLOWER || which == M_ISUPPER || which == M_ISTITLE) {
        bool cased = false, ok = true, prev_cased = false;
        for (size_t i = 0; i < n && ok;) {
            uint32_t cp;
            i += u8_decode(s + i, n - i, &cp);
            utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
            bool up = c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LT, lo = c == UTF8PROC_CATEGORY_LL;
            if (which == M_ISLOWER) {
                if (up) ok = false;
                if (lo) cased = true;
            } else if (which == M_ISUPPER) {
                if (lo) ok = false;
                if (up) cased = true;
            } else {
                if (up) {
                    if (prev_cased) ok = false;
                    prev_cased = cased = true;
                } else if (lo) {
                    if (!prev_cased) ok = false;
                    prev_cased = cased = true;
                } else prev_cased = false;
            }
        }
        *out = jv_bool(ok && cased);
        return 0;
    }
    bool ok = n > 0;
    for (size_t i = 0; i < n && ok;) {
        uint32_t cp;
        i += u8_decode(s + i, n - i, &cp);
        if (!cp_class(cp, which)) ok = false;
    }
    *out = jv_bool(ok);
    return 0;
}

static int do_pad(jrender *R, jv self, jv widthv, jv fillv, int how, jv *out) { /* how: 0 center, 1 ljust, 2 rjust */
    int64_t width;
    if (jv_need_int(R, widthv, &width, "width")) return -1;
    const char *fill = " ";
    size_t fl = 1;
    if (fillv.k != JV_MISSING) {
        if (need_str(R, fillv, "fill character")) return -1;
        if (u8_count(fillv.u.s->s, fillv.u.s->len) != 1)
            return jr_fail(R, LAIR_ERR_ARG, "The fill character must be exactly one character long");
        fill = fillv.u.s->s;
        fl = fillv.u.s->len;
    }
    int64_t len = (int64_t)u8_count(self.u.s->s, self.u.s->len);
    if (width <= len) {
        *out = jv_ref(self);
        return 0;
    }
    if ((uint64_t)(width - len) > R->lim.max_output) return jr_fail(R, LAIR_ERR_LIMIT, "padding exceeds the output limit");
    int64_t pad = width - len, left;
    if (how == 1) left = 0;
    else if (how == 2) left = pad;
    else left = pad / 2 + (pad & width & 1);
    jbuf b = {0};
    int r = 0;
    for (int64_t i = 0; i < left && !r; i++) r = jb_put(R, &b, fill, fl);
    if (!r) r = jb_put(R, &b, self.u.s->s, self.u.s->len);
    for (int64_t i = 0; i < pad - left && !r; i++) r = jb_put(R, &b, fill, fl);
    if (r) {
        jr_release(R, b.p, b.cap);
        return -1;
    }
    return buf_result(R, &b, self.f & JF_MARKUP, out);
}

/* Code-point range [start, end) arguments of find/count/startswith as byte offsets. */
static int cp_range(jrender *R, jv self, jv startv, jv endv, size_t *b, size_t *e) {
    const char *s = self.u.s->s;
    size_t n = self.u.s->len;
    int64_t len = (int64_t)u8_count(s, n), st = 0, en = len;
    if (startv.k != JV_MISSING && startv.k != JV_NONE && jv_need_int(R, startv, &st, "start")) return -1;
    if (endv.k != JV_MISSING && endv.k != JV_NONE && jv_need_int(R, endv, &en, "end")) return -1;
    if (st < 0) st = st + len < 0 ? 0 : st + len;
    if (en < 0) en = en + len < 0 ? 0 : en + len;
    if (en > len) en = len;
    if (st > len) st = len + 1; /* an empty window past the end */
    *b = st > len ? n + 1 : u8_offset(s, n, (size_t)st);
    *e = u8_offset(s, n, (size_t)en);
    return 0;
}

static int do_find(jrender *R, jv self, const jv *sl, int which, jv *out) {
    if (need_str(R, sl[0], "substring")) return -1;
    size_t b, e;
    if (cp_range(R, self, sl[1], sl[2], &b, &e)) return -1;
    const char *s = self.u.s->s;
    size_t at = (size_t)-1;
    if (b <= e) {
        if (which == M_FIND || which == M_INDEX) at = find_bytes(s, e, sl[0].u.s->s, sl[0].u.s->len, b);
        else at = rfind_bytes(s, e, sl[0].u.s->s, sl[0].u.s->len, b, e);
    }
    if (at == (size_t)-1) {
        if (which == M_INDEX || which == M_RINDEX) return jr_fail(R, LAIR_ERR_ARG, "substring not found");
        *out = jv_int(-1);
        return 0;
    }
    *out = jv_int((int64_t)u8_count(s, at));
    return 0;
}

static int do_affix(jrender *R, jv self, const jv *sl, bool ends, jv *out) {
    size_t b, e;
    if (cp_range(R, self, sl[1], sl[2], &b, &e)) return -1;
    jv p = sl[0];
    size_t np = 1;
    const jv *items = &p;
    if (p.k == JV_LIST && (p.f & JF_TUPLE)) {
        items = p.u.l->v;
        np = p.u.l->n;
    }
    bool hit = false;
    for (size_t i = 0; i < np && !hit; i++) {
        if (items[i].k != JV_STR)
            return jr_fail(R, LAIR_ERR_ARG, "%s first arg must be str or a tuple of str, not %s",
                           ends ? "endswith" : "startswith", jv_type_name(items[i]));
        size_t k = items[i].u.s->len;
        if (b > e || e - b < k) continue;
        const char *at = ends ? self.u.s->s + e - k : self.u.s->s + b;
        if (memcmp(at, items[i].u.s->s, k) == 0) hit = true;
    }
    *out = jv_bool(hit);
    return 0;
}

static int do_replace(jrender *R, jv self, jv oldv, jv newv, jv countv, jv *out) {
    if (need_str(R, oldv, "replace() argument 1") || need_str(R, newv, "replace() argument 2")) return -1;
    int64_t count = -1;
    if (countv.k != JV_MISSING && jv_need_int(R, countv, &count, "count")) return -1;
    bool mk = self.f & JF_MARKUP;
    jv newe = jv_ref(newv);
    jv olde = jv_ref(oldv);
    if (mk) { /* Markup.replace escapes its arguments */
        jv_unref(R, newe);
        jv_unref(R, olde);
        if (jv_escape(R, newv, &newe)) return -1;
        if (jv_escape(R, oldv, &olde)) {
            jv_unref(R, newe);
            return -1;
        }
    }
    const char *s = self.u.s->s, *o = olde.u.s->s, *nw = newe.u.s->s;
    size_t n = self.u.s->len, on = olde.u.s->len, nn = newe.u.s->len;
    jbuf b = {0};
    int r = 0;
    int64_t done = 0;
    if (on == 0) {
        /* "abc".replace("", "-") == "-a-b-c-" */
        for (size_t i = 0; i <= n && !r;) {
            if (count < 0 || done < count) {
                r = jb_put(R, &b, nw, nn);
                done++;
            }
            if (i == n) break;
            uint32_t cp;
            size_t k = u8_decode(s + i, n - i, &cp);
            if (!r) r = jb_put(R, &b, s + i, k);
            i += k;
            if (count >= 0 && done >= count) {
                if (!r) r = jb_put(R, &b, s + i, n - i);
                break;
            }
        }
    } else {
        size_t i = 0;
        while (!r) {
            size_t at = (count >= 0 && done >= count) ? (size_t)-1 : find_bytes(s, n, o, on, i);
            if (at == (size_t)-1) {
                r = jb_put(R, &b, s + i, n - i);
                break;
            }
            r = jb_put(R, &b, s + i, at - i);
            if (!r) r = jb_put(R, &b, nw, nn);
            i = at + on;
            done++;
        }
    }
    jv_unref(R, newe);
    jv_unref(R, olde);
    if (r) {
        jr_release(R, b.p, b.cap);
        return -1;
    }
    if (!b.p && jb_put(R, &b, "", 0)) return -1;
    return buf_result(R, &b, mk, out);
}

static int do_join(jrender *R, jv self, jv iterable, jv *out) {
    jlist *l;
    if (je_iterate(R, iterable, &l)) return -1;
    bool mk = self.f & JF_MARKUP;
    jbuf b = {0};
    int r = 0;
    for (size_t i = 0; i < l->n && !r; i++) {
        jv it = l->v[i];
        if (it.k != JV_STR) {
            r = jr_fail(R, LAIR_ERR_ARG, "sequence item %zu: expected str instance, %s found", i, jv_type_name(it));
            break;
        }
        if (i) r = jb_put(R, &b, self.u.s->s, self.u.s->len);
        if (!r) r = (mk && !(it.f & JF_MARKUP)) ? jb_put_escaped(R, &b, it.u.s->s, it.u.s->len) : jb_put(R, &b, it.u.s->s, it.u.s->len);
    }
    jv_unref(R, jv_listv(l, 0));
    if (r) {
        jr_release(R, b.p, b.cap);
        return -1;
    }
    return buf_result(R, &b, mk, out);
}

static int do_partition(jrender *R, jv self, jv sepv, bool right, jv *out) {
    if (need_str(R, sepv, "separator")) return -1;
    if (sepv.u.s->len == 0) return jr_fail(R, LAIR_ERR_ARG, "empty separator");
    const char *s = self.u.s->s;
    size_t n = self.u.s->len, sn = sepv.u.s->len;
    size_t at = right ? rfind_bytes(s, n, sepv.u.s->s, sn, 0, n) : find_bytes(s, n, sepv.u.s->s, sn, 0);
    jlist *l = jlist_new(R, 3);
    if (!l) return -1;
    int mk = self.f & JF_MARKUP, r;
    if (at == (size_t)-1) {
        if (right) r = push_str(R, l, "", 0, mk) || push_str(R, l, "", 0, mk) || push_str(R, l, s, n, mk);
        else r = push_str(R, l, s, n, mk) || push_str(R, l, "", 0, mk) || push_str(R, l, "", 0, mk);
    } else {
        r = push_str(R, l, s, at, mk) || push_str(R, l, s + at, sn, mk) || push_str(R, l, s + at + sn, n - at - sn, mk);
    }
    if (r) {
        jv_unref(R, jv_listv(l, 0));
        return -1;
    }
    *out = jv_listv(l, JF_TUPLE);
    return 0;
}

static int str_method(jrender *R, jv self, int id, const jargs *a, jv *out) {
    jv sl[3];
    const char *nm = NULL;
    switch (id) {
    case M_STRIP:
    case M_LSTRIP:
    case M_RSTRIP: {
        static const char *const p[] = {"chars"};
        if (bind(R, id == M_STRIP ? "strip" : id == M_LSTRIP ? "lstrip" : "rstrip", a, p, 1, sl)) return -1;
        return do_strip(R, self, sl[0], id == M_STRIP ? 3 : id == M_LSTRIP ? 1 : 2, out);
    }
    case M_SPLIT:
    case M_RSPLIT: {
        static const char *const p[] = {"sep", "maxsplit"};
        if (bind(R, id == M_SPLIT ? "split" : "rsplit", a, p, 2, sl)) return -1;
        return do_split(R, self, sl[0], sl[1], id == M_RSPLIT, out);
    }
    case M_SPLITLINES: {
        static const char *const p[] = {"keepends"};
        if (bind(R, "splitlines", a, p, 1, sl)) return -1;
        return do_splitlines(R, self, sl[0], out);
    }
    case M_LOWER:
    case M_CASEFOLD:
    case M_UPPER:
    case M_TITLE:
    case M_SWAPCASE:
    case M_CAPITALIZE:
        if (bind(R, "lower", a, NULL, 0, sl)) return -1;
        return do_case(R, self, id == M_LOWER || id == M_CASEFOLD ? 0 : id == M_UPPER ? 1 : id == M_TITLE ? 2 : id == M_SWAPCASE ? 3 : 4,
                       out);
    case M_ISALNUM:
    case M_ISALPHA:
    case M_ISDECIMAL:
    case M_ISDIGIT:
    case M_ISLOWER:
    case M_ISNUMERIC:
    case M_ISSPACE:
    case M_ISTITLE:
    case M_ISUPPER:
        if (bind(R, "isalpha", a, NULL, 0, sl)) return -1;
        return do_is(R, self, id, out);
    case M_CENTER:
    case M_LJUST:
    case M_RJUST: {
        static const char *const p[] = {"width", "fillchar"};
        if (bind(R, id == M_CENTER ? "center" : id == M_LJUST ? "ljust" : "rjust", a, p, 2, sl)) return -1;
        if (sl[0].k == JV_MISSING) return jr_fail(R, LAIR_ERR_ARG, "missing width argument");
        return do_pad(R, self, sl[0], sl[1], id == M_CENTER ? 0 : id == M_LJUST ? 1 : 2, out);
    }
    case M_ZFILL: {
        static const char *const p[] = {"width"};
        if (bind(R, "zfill", a, p, 1, sl)) return -1;
        int64_t w;
        if (sl[0].k == JV_MISSING) return jr_fail(R, LAIR_ERR_ARG, "zfill() takes exactly one argument");
        if (jv_need_int(R, sl[0], &w, "width")) return -1;
        int64_t len = (int64_t)u8_count(self.u.s->s, self.u.s->len);
        if (w <= len) {
            *out = jv_ref(self);
            return 0;
        }
        if ((uint64_t)(w - len) > R->lim.max_output) return jr_fail(R, LAIR_ERR_LIMIT, "padding exceeds the output limit");
        jbuf b = {0};
        const char *s = self.u.s->s;
        size_t n = self.u.s->len, st = 0;
        int r = 0;
        if (n && (s[0] == '+' || s[0] == '-')) {
            r = jb_put(R, &b, s, 1);
            st = 1;
        }
        for (int64_t i = 0; i < w - len && !r; i++) r = jb_put(R, &b, "0", 1);
        if (!r) r = jb_put(R, &b, s + st, n - st);
        if (r) {
            jr_release(R, b.p, b.cap);
            return -1;
        }
        return buf_result(R, &b, self.f & JF_MARKUP, out);
    }
    case M_FIND:
    case M_RFIND:
    case M_INDEX:
    case M_RINDEX: {
        static const char *const p[] = {"sub", "start", "end"};
        nm = id == M_FIND ? "find" : id == M_RFIND ? "rfind" : id == M_INDEX ? "index" : "rindex";
        if (bind(R, nm, a, p, 3, sl)) return -1;
        if (sl[0].k == JV_MISSING) return jr_fail(R, LAIR_ERR_ARG, "%s() takes at least 1 argument", nm);
        return do_find(R, self, sl, id, out);
    }
    case M_COUNT: {
        static const char *const p[] = {"sub", "start", "end"};
        if (bind(R, "count", a, p, 3, sl)) return -1;
        if (sl[0].k == JV_MISSING) return jr_fail(R, LAIR_ERR_ARG, "count() takes at least 1 argument");
        if (need_str(R, sl[0], "substring")) return -1;
        size_t b, e;
        if (cp_range(R, self, sl[1], sl[2], &b, &e)) return -1;
        int64_t c = 0;
        if (b <= e) {
            size_t sn = sl[0].u.s->len;
            if (sn == 0) c = (int64_t)u8_count(self.u.s->s + b, e - b) + 1;
            else
                for (size_t i = b; (i = find_bytes(self.u.s->s, e, sl[0].u.s->s, sn, i)) != (size_t)-1; i += sn) c++;
        }
        *out = jv_int(c);
        return 0;
    }
    case M_STARTSWITH:
    case M_ENDSWITH: {
        static const char *const p[] = {"prefix", "start", "end"};
        if (bind(R, id == M_STARTSWITH ? "startswith" : "endswith", a, p, 3, sl)) return -1;
        if (sl[0].k == JV_MISSING) return jr_fail(R, LAIR_ERR_ARG, "startswith() takes at least 1 argument");
        return do_affix(R, self, sl, id == M_ENDSWITH, out);
    }
    case M_REPLACE: {
        static const char *const p[] = {"old", "new", "count"};
        if (bind(R, "replace", a, p, 3, sl)) return -1;
        if (sl[0].k == JV_MISSING || sl[1].k == JV_MISSING) return jr_fail(R, LAIR_ERR_ARG, "replace() takes at least 2 arguments");
        return do_replace(R, self, sl[0], sl[1], sl[2], out);
    }
    case M_JOIN: {
        static const char *const p[] = {"iterable"};
        if (bind(R, "join", a, p, 1, sl)) return -1;
        if (sl[0].k == JV_MISSING) return jr_fail(R, LAIR_ERR_ARG, "join() takes exactly one argument");
        return do_join(R, self, sl[0], out);
    }
    case M_PARTITION:
    case M_RPARTITION: {
        static const char *const p[] = {"sep"};
        if (bind(R, "partition", a, p, 1, sl)) return -1;
        if (sl[0].k == JV_MISSING) return jr_fail(R, LAIR_ERR_ARG, "partition() takes exactly one argument");
        return do_partition(R, self, sl[0], id == M_RPARTITION, out);
    }
    case M_REMOVEPREFIX:
    case M_REMOVESUFFIX: {
        static const char *const p[] = {"affix"};
        if (bind(R, id == M_REMOVEPREFIX ? "removeprefix" : "removesuffix", a, p, 1, sl)) return -1;
        if (sl[0].k == JV_MISSING) return jr_fail(R, LAIR_ERR_ARG, "missing argument");
        if (need_str(R, sl[0], "argument")) return -1;
        size_t n = self.u.s->len, k = sl[0].u.s->len;
        const char *s = self.u.s->s;
        size_t b = 0, e = n;
        if (k <= n) {
            if (id == M_REMOVEPREFIX && memcmp(s, sl[0].u.s->s, k) == 0) b = k;
            if (id == M_REMOVESUFFIX && k && memcmp(s + n - k, sl[0].u.s->s, k) == 0) e = n - k;
        }
        int r = jv_str_new(R, s + b, e - b, out);
        if (!r) out->f = self.f & JF_MARKUP;
        return r;
    }
    case M_FORMAT: {
        int r = jm_str_format(R, self, a, out);
        return r;
    }
    default: break;
    }
    return jr_fail(R, LAIR_ERR_ARG, "str has no method %d", id);
}

static int list_method(jrender *R, jv self, int id, const jargs *a, jv *out) {
    jlist *l = self.u.l;
    jv sl[3];
    switch (id) {
    case M_COUNT: {
        static const char *const p[] = {"value"};
        if (bind(R, "count", a, p, 1, sl)) return -1;
        if (sl[0].k == JV_MISSING) return jr_fail(R, LAIR_ERR_ARG, "count() takes exactly one argument");
        int64_t c = 0;
        for (size_t i = 0; i < l->n; i++) c += jv_eq(l->v[i], sl[0]);
        *out = jv_int(c);
        return 0;
    }
    case M_INDEX: {
        static const char *const p[] = {"value", "start", "stop"};
        if (bind(R, "index", a, p, 3, sl)) return -1;
        if (sl[0].k == JV_MISSING) return jr_fail(R, LAIR_ERR_ARG, "index expected at least 1 argument");
        int64_t n = (int64_t)l->n, st = 0, en = n;
        if (sl[1].k != JV_MISSING && jv_need_int(R, sl[1], &st, "start")) return -1;
        if (sl[2].k != JV_MISSING && jv_need_int(R, sl[2], &en, "stop")) return -1;
        if (st < 0) st = st + n < 0 ? 0 : st + n;
        if (en < 0) en = en + n < 0 ? 0 : en + n;
        for (int64_t i = st; i < en && i < n; i++)
            if (jv_eq(l->v[i], sl[0])) {
                *out = jv_int(i);
                return 0;
            }
        return jr_fail(R, LAIR_ERR_ARG, "value is not in list");
    }
    case M_POP: {
        static const char *const p[] = {"index"};
        if (bind(R, "pop", a, p, 1, sl)) return -1;
        int64_t i = -1, n = (int64_t)l->n;
        if (sl[0].k != JV_MISSING && jv_need_int(R, sl[0], &i, "index")) return -1;
        if (n == 0) return jr_fail(R, LAIR_ERR_ARG, "pop from empty list");
        if (i < 0) i += n;
        if (i < 0 || i >= n) return jr_fail(R, LAIR_ERR_ARG, "pop index out of range");
        if (l->h.rc < 0) return jr_fail(R, LAIR_ERR_ARG, "cannot modify a constant list");
        *out = l->v[i];
        memmove(l->v + i, l->v + i + 1, (size_t)(n - i - 1) * sizeof(jv));
        l->n--;
        return 0;
    }
    case M_CLEAR:
        if (bind(R, "clear", a, NULL, 0, sl)) return -1;
        for (size_t i = 0; i < l->n; i++) jv_unref(R, l->v[i]);
        l->n = 0;
        *out = jv_none();
        return 0;
    case M_COPY: {
        if (bind(R, "copy", a, NULL, 0, sl)) return -1;
        jlist *o = jlist_new(R, l->n);
        if (!o) return -1;
        for (size_t i = 0; i < l->n; i++)
            if (jlist_push(R, o, jv_ref(l->v[i]))) {
                jv_unref(R, jv_listv(o, 0));
                return -1;
            }
        *out = jv_listv(o, 0);
        return 0;
    }
    default: break;
    }
    return jr_fail(R, LAIR_ERR_ARG, "list has no method %d", id);
}

static int dict_view(jrender *R, jdict *d, int which, jv *out) { /* 0 keys, 1 values, 2 items */
    jlist *l = jlist_new(R, d->n);
    if (!l) return -1;
    for (size_t i = 0; i < d->n; i++) {
        jv v;
        if (which == 0) v = jv_ref(d->k[i]);
        else if (which == 1) v = jv_ref(d->v[i]);
        else {
            jlist *p = jlist_new(R, 2);
            if (!p || jlist_push(R, p, jv_ref(d->k[i])) || jlist_push(R, p, jv_ref(d->v[i]))) {
                if (p) jv_unref(R, jv_listv(p, 0));
                jv_unref(R, jv_listv(l, 0));
                return -1;
            }
            v = jv_listv(p, JF_TUPLE);
        }
        if (jlist_push(R, l, v)) {
            jv_unref(R, jv_listv(l, 0));
            return -1;
        }
    }
    *out = jv_listv(l, 0);
    return 0;
}

static int dict_method(jrender *R, jv self, int id, const jargs *a, jv *out) {
    jdict *d = self.u.m;
    jv sl[2];
    switch (id) {
    case M_GET: {
        static const char *const p[] = {"key", "default"};
        if (bind(R, "get", a, p, 2, sl)) return -1;
        if (sl[0].k == JV_MISSING) return jr_fail(R, LAIR_ERR_ARG, "get expected at least 1 argument, got 0");
        if (sl[0].k == JV_DICT || (sl[0].k == JV_LIST && !(sl[0].f & JF_TUPLE)))
            return jr_fail(R, LAIR_ERR_ARG, "unhashable type: '%s'", jv_type_name(sl[0]));
        jv *v = jdict_get(d, sl[0]);
        *out = v ? jv_ref(*v) : sl[1].k == JV_MISSING ? jv_none() : jv_ref(sl[1]);
        return 0;
    }
    case M_ITEMS:
    case M_KEYS:
    case M_VALUES:
        if (bind(R, "items", a, NULL, 0, sl)) return -1;
        return dict_view(R, d, id == M_KEYS ? 0 : id == M_VALUES ? 1 : 2, out);
    case M_COPY: {
        if (bind(R, "copy", a, NULL, 0, sl)) return -1;
        jdict *o = jdict_new(R, d->n);
        if (!o) return -1;
        jv ov = {JV_DICT, 0, {0}};
        ov.u.m = o;
        for (size_t i = 0; i < d->n; i++)
            if (jdict_set(R, o, jv_ref(d->k[i]), jv_ref(d->v[i]))) {
                jv_unref(R, ov);
                return -1;
            }
        *out = ov;
        return 0;
    }
    default: break;
    }
    return jr_fail(R, LAIR_ERR_ARG, "dict has no method %d", id);
}

static int loop_method(jrender *R, jv self, int id, const jargs *a, jv *out) {
    jloop *lp = self.u.lp;
    if (a->nkw) return jr_fail(R, LAIR_ERR_ARG, "loop.%s() takes no keyword arguments", id == M_CYCLE ? "cycle" : "changed");
    if (id == M_CYCLE) {
        if (a->npos == 0) return jr_fail(R, LAIR_ERR_ARG, "no items for cycling given");
        *out = jv_ref(a->pos[lp->index0 % a->npos]);
        return 0;
    }
    jlist *l = jlist_new(R, a->npos);
    if (!l) return -1;
    for (size_t i = 0; i < a->npos; i++)
        if (jlist_push(R, l, jv_ref(a->pos[i]))) {
            jv_unref(R, jv_listv(l, 0));
            return -1;
        }
    jv t = jv_listv(l, JF_TUPLE);
    if (lp->last_changed.k != JV_MISSING && jv_eq(lp->last_changed, t)) {
        jv_unref(R, t);
        *out = jv_bool(false);
        return 0;
    }
    jv_unref(R, lp->last_changed);
    lp->last_changed = t;
    *out = jv_bool(true);
    return 0;
}

int jm_call_method(jrender *R, jfunc *fn, const jargs *a, jv *out) {
    jv self = fn->self;
    switch (self.k) {
    case JV_STR: return str_method(R, self, fn->id, a, out);
    case JV_LIST: return list_method(R, self, fn->id, a, out);
    case JV_DICT: return dict_method(R, self, fn->id, a, out);
    case JV_LOOP: return loop_method(R, self, fn->id, a, out);
    default: break;
    }
    return jr_fail(R, LAIR_ERR_ARG, "'%s' object has no such method", jv_type_name(self));
}

/* ---- globals --------------------------------------------------------------------- */

enum { G_RANGE, G_NAMESPACE, G_DICT, G_RAISE, G_STRFTIME };

int jm_global(jrender *R, const char *name, jv *out) {
    static const char *const names[] = {"range", "namespace", "dict", "raise_exception", "strftime_now"};
    for (int i = 0; i < 5; i++) {
        if (strcmp(names[i], name) != 0) continue;
        jfunc *fn = jr_alloc(R, sizeof *fn);
        if (!fn) return -1;
        memset(fn, 0, sizeof *fn);
        fn->h.rc = 1;
        fn->kind = FN_GLOBAL;
        fn->id = i;
        fn->self = jv_missing();
        jv v = {JV_FUNC, 0, {0}};
        v.u.fn = fn;
        *out = v;
        return 1;
    }
    return 0;
}

static int fill_dict(jrender *R, jdict *d, const jargs *a, const char *fname) {
    if (a->npos > 1) return jr_fail(R, LAIR_ERR_ARG, "%s expected at most 1 positional argument, got %zu", fname, a->npos);
    if (a->npos == 1) {
        jv src = a->pos[0];
        if (src.k == JV_DICT || src.k == JV_NS) {
            for (size_t i = 0; i < src.u.m->n; i++)
                if (jdict_set(R, d, jv_ref(src.u.m->k[i]), jv_ref(src.u.m->v[i]))) return -1;
        } else {
            jlist *l;
            if (je_iterate(R, src, &l)) return -1;
            int r = 0;
            for (size_t i = 0; i < l->n && !r; i++) {
                jv p = l->v[i];
                if (p.k != JV_LIST || p.u.l->n != 2) {
                    r = jr_fail(R, LAIR_ERR_ARG, "%s: sequence element #%zu is not a pair", fname, i);
                    break;
                }
                r = jdict_set(R, d, jv_ref(p.u.l->v[0]), jv_ref(p.u.l->v[1]));
            }
            jv_unref(R, jv_listv(l, 0));
            if (r) return -1;
        }
    }
    for (size_t i = 0; i < a->nkw; i++) {
        jv k;
        if (jv_str_cstr(R, a->kwn[i], &k) || jdict_set(R, d, k, jv_ref(a->kwv[i]))) return -1;
    }
    return 0;
}

int jm_call_global(jrender *R, jfunc *fn, const jargs *a, jv *out) {
    switch (fn->id) {
    case G_RANGE: {
        if (a->nkw) return jr_fail(R, LAIR_ERR_ARG, "range() takes no keyword arguments");
        if (a->npos < 1 || a->npos > 3) return jr_fail(R, LAIR_ERR_ARG, "range expected 1 to 3 arguments, got %zu", a->npos);
        int64_t v[3] = {0, 0, 1};
        for (size_t i = 0; i < a->npos; i++)
            if (jv_need_int(R, a->pos[i], &v[i], "range")) return -1;
        int64_t start = a->npos == 1 ? 0 : v[0], stop = a->npos == 1 ? v[0] : v[1], step = a->npos == 3 ? v[2] : 1;
        if (step == 0) return jr_fail(R, LAIR_ERR_ARG, "range() arg 3 must not be zero");
        double cnt = step > 0 ? ceil(((double)stop - (double)start) / (double)step) : ceil(((double)start - (double)stop) / (double)-step);
        if (cnt < 0) cnt = 0;
        if (cnt > JINJA_MAX_RANGE)
            return jr_fail(R, LAIR_ERR_LIMIT, "range too big: the sandbox blocks ranges larger than %d items", JINJA_MAX_RANGE);
        jlist *l = jlist_new(R, (size_t)cnt);
        if (!l) return -1;
        for (int64_t i = 0, x = start; i < (int64_t)cnt; i++, x += step) l->v[l->n++] = jv_int(x);
        *out = jv_listv(l, 0);
        return 0;
    }
    case G_NAMESPACE:
    case G_DICT: {
        jdict *d = jdict_new(R, 0);
        if (!d) return -1;
        jv dv = {(uint8_t)(fn->id == G_NAMESPACE ? JV_NS : JV_DICT), 0, {0}};
        dv.u.m = d;
        if (fill_dict(R, d, a, fn->id == G_NAMESPACE ? "namespace" : "dict")) {
            jv_unref(R, dv);
            return -1;
        }
        /* A namespace can come to reference itself; the render releases it at its end. */
        if (fn->id == G_NAMESPACE && jr_register(R, &d->h, 0)) {
            jv_unref(R, dv);
            return -1;
        }
        *out = dv;
        return 0;
    }
    case G_RAISE: {
        jv msg = a->npos ? a->pos[0] : a->nkw ? a->kwv[0] : jv_none();
        jbuf b = {0};
        if (jv_write_str(R, &b, msg)) {
            jr_release(R, b.p, b.cap);
            return -1;
        }
        if (R->st == LAIR_OK) {
            R->st = LAIR_ERR_ARG;
            lair_err_set(R->err, LAIR_ERR_ARG, "template raised: %s", b.p ? b.p : "");
        }
        jr_release(R, b.p, b.cap);
        return -1;
    }
    case G_STRFTIME: {
        if (a->npos != 1 || a->nkw || a->pos[0].k != JV_STR)
            return jr_fail(R, LAIR_ERR_ARG, "strftime_now() takes one string argument");
        time_t now = time(NULL);
        struct tm tmv;
        if (!localtime_r(&now, &tmv)) return jr_fail(R, LAIR_ERR_ARG, "strftime_now(): no local time");
        char buf[512];
        if (a->pos[0].u.s->len > 200) return jr_fail(R, LAIR_ERR_ARG, "strftime_now(): format too long");
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#endif
        size_t n = strftime(buf, sizeof buf, a->pos[0].u.s->s, &tmv);
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic pop
#endif
        return jv_str_new(R, buf, n, out);
    }
    default: break;
    }
    return jr_fail(R, LAIR_ERR_ARG, "unknown global %d", fn->id);
}
