/* Operators, membership, iteration, attribute / item access and slicing, with
 * the semantics of Python values under jinja2's sandbox: a missing attribute
 * or item is an undefined value (an error only once it is used), an
 * attribute of a dict falls back to its item, item access falls back to
 * attributes, and attributes named like dunders are refused. */
#include <math.h>
#include <string.h>

#include "core/err.h"
#include "text/jinja_internal.h"

static const char *objtype(jv v) {
    switch (v.k) {
    case JV_NONE: return "None";
    case JV_BOOL: return "bool object";
    case JV_INT: return "int object";
    case JV_FLOAT: return "float object";
    case JV_STR: return (v.f & JF_MARKUP) ? "Markup object" : "str object";
    case JV_LIST: return (v.f & JF_GEN) ? "generator object" : (v.f & JF_TUPLE) ? "tuple object" : "list object";
    case JV_DICT: return "dict object";
    case JV_NS: return "Namespace object";
    case JV_FUNC: return "function object";
    case JV_LOOP: return "LoopContext object";
    default: return "object";
    }
}

static int undef_attr(jrender *R, jv obj, const char *name, size_t n, jv *out) {
    jv nm;
    if (jv_str_new(R, name, n, &nm)) return -1;
    int r = jv_undef_new(R, NULL, &nm, objtype(obj), false, out);
    jv_unref(R, nm);
    return r;
}

static int undef_item(jrender *R, jv obj, jv key, jv *out) { return jv_undef_new(R, NULL, &key, objtype(obj), false, out); }

static int loop_attr(jrender *R, jloop *lp, const char *name, jv *out) {
    size_t len = lp->items->n, i = lp->index0;
    if (!strcmp(name, "index")) *out = jv_int((int64_t)i + 1);
    else if (!strcmp(name, "index0")) *out = jv_int((int64_t)i);
    else if (!strcmp(name, "revindex")) *out = jv_int((int64_t)(len - i));
    else if (!strcmp(name, "revindex0")) *out = jv_int((int64_t)(len - i - 1));
    else if (!strcmp(name, "first")) *out = jv_bool(i == 0);
    else if (!strcmp(name, "last")) *out = jv_bool(i + 1 == len);
    else if (!strcmp(name, "length")) *out = jv_int((int64_t)len);
    else if (!strcmp(name, "depth")) *out = jv_int(lp->depth0 + 1);
    else if (!strcmp(name, "depth0")) *out = jv_int(lp->depth0);
    else if (!strcmp(name, "previtem")) {
        if (i == 0) return jv_undef_new(R, "there is no previous item", NULL, NULL, false, out);
        *out = jv_ref(lp->items->v[i - 1]);
    } else if (!strcmp(name, "nextitem")) {
        if (i + 1 >= len) return jv_undef_new(R, "there is no next item", NULL, NULL, false, out);
        *out = jv_ref(lp->items->v[i + 1]);
    } else return 1;
    return 0;
}

int je_getattr(jrender *R, jv obj, const char *name, size_t n, jv *out) {
    if (obj.k == JV_UNDEF) return jv_undef_fail(R, obj);
    if (n >= 2 && name[0] == '_' && name[1] == '_') {
        if (obj.k == JV_DICT) {
            jv *v = jdict_get_str(obj.u.m, name, n);
            if (v) {
                *out = jv_ref(*v);
                return 0;
            }
        }
        jv nm;
        if (jv_str_new(R, name, n, &nm)) return -1;
        int r = jv_undef_new(R, "access to an attribute whose name starts with '__' is unsafe", &nm, objtype(obj), true, out);
        jv_unref(R, nm);
        return r;
    }
    if (obj.k == JV_LOOP) {
        int r = loop_attr(R, obj.u.lp, name, out);
        if (r <= 0) return r;
    }
    if (obj.k == JV_LIST && (obj.f & JF_GROUP) && obj.u.l->n == 2) {
        if (n == 7 && !memcmp(name, "grouper", 7)) {
            *out = jv_ref(obj.u.l->v[0]);
            return 0;
        }
        if (n == 4 && !memcmp(name, "list", 4)) {
            *out = jv_ref(obj.u.l->v[1]);
            return 0;
        }
    }
    if (obj.k == JV_FUNC && (obj.u.fn->kind == FN_MACRO) && n == 4 && !memcmp(name, "name", 4))
        return jv_str_cstr(R, obj.u.fn->node->name, out);
    int m = jm_getattr(R, obj, name, n, out);
    if (m) return m < 0 ? -1 : 0;
    if (obj.k == JV_DICT || obj.k == JV_NS) {
        jv *v = jdict_get_str(obj.u.m, name, n);
        if (v) {
            *out = jv_ref(*v);
            return 0;
        }
    }
    return undef_attr(R, obj, name, n, out);
}

static bool as_index(jv k, int64_t *i) {
    if (k.k == JV_INT) *i = k.u.i;
    else if (k.k == JV_BOOL) *i = k.u.b;
    else return false;
    return true;
}

int je_getitem(jrender *R, jv obj, jv key, jv *out) {
    if (obj.k == JV_UNDEF) return jv_undef_fail(R, obj);
    int64_t i;
    switch (obj.k) {
    case JV_DICT: {
        jv *v = jdict_get(obj.u.m, key);
        if (v) {
            *out = jv_ref(*v);
            return 0;
        }
        break;
    }
    case JV_LIST:
        if (!(obj.f & JF_GEN) && as_index(key, &i)) {
            int64_t n = (int64_t)obj.u.l->n;
            if (i < 0) i += n;
            if (i >= 0 && i < n) {
                *out = jv_ref(obj.u.l->v[i]);
                return 0;
            }
            return undef_item(R, obj, key, out);
        }
        break;
    case JV_STR:
        if (as_index(key, &i)) {
            const char *s = obj.u.s->s;
            size_t len = obj.u.s->len;
            int64_t n = (int64_t)u8_count(s, len);
            if (i < 0) i += n;
            if (i >= 0 && i < n) {
                size_t off = u8_offset(s, len, (size_t)i);
                uint32_t cp;
                size_t k = u8_decode(s + off, len - off, &cp);
                int r = jv_str_new(R, s + off, k, out);
                if (!r) out->f = obj.f;
                return r;
            }
            return undef_item(R, obj, key, out);
        }
        break;
    default: break;
    }
    if (key.k == JV_STR) {
        if (obj.k == JV_DICT) { /* d['items'] without such a key: the method, as jinja2 */
            int m = jm_getattr(R, obj, key.u.s->s, key.u.s->len, out);
            if (m) return m < 0 ? -1 : 0;
            return undef_item(R, obj, key, out);
        }
        return je_getattr(R, obj, key.u.s->s, key.u.s->len, out);
    }
    return undef_item(R, obj, key, out);
}

/* Python's slice.indices(): the positions [start, stop) with step of a sequence of n. */
static int slice_indices(jrender *R, int64_t n, jv start, jv stop, jv step, int64_t *st, int64_t *sp, int64_t *stepo,
                         int64_t *count) {
    int64_t a = 0, b = 0, s = 1;
    if (step.k != JV_NONE && !as_index(step, &s))
        return jr_fail(R, LAIR_ERR_ARG, "slice indices must be integers or None or have an __index__ method");
    if (s == 0) return jr_fail(R, LAIR_ERR_ARG, "slice step cannot be zero");
    if (start.k != JV_NONE && !as_index(start, &a))
        return jr_fail(R, LAIR_ERR_ARG, "slice indices must be integers or None or have an __index__ method");
    if (stop.k != JV_NONE && !as_index(stop, &b))
        return jr_fail(R, LAIR_ERR_ARG, "slice indices must be integers or None or have an __index__ method");
    if (s > 0) {
        if (start.k == JV_NONE) a = 0;
        else if (a < 0) a = a + n < 0 ? 0 : a + n;
        else if (a > n) a = n;
        if (stop.k == JV_NONE) b = n;
        else if (b < 0) b = b + n < 0 ? 0 : b + n;
        else if (b > n) b = n;
        *count = b > a ? (b - a - 1) / s + 1 : 0;
    } else {
        if (start.k == JV_NONE) a = n - 1;
        else if (a < 0) a = a + n < 0 ? -1 : a + n;
        else if (a >= n) a = n - 1;
        if (stop.k == JV_NONE) b = -1;
        else if (b < 0) b = b + n < 0 ? -1 : b + n;
        else if (b >= n) b = n - 1;
        *count = a > b ? (a - b - 1) / (-s) + 1 : 0;
    }
    *st = a;
    *sp = b;
    *stepo = s;
    return 0;
}

int je_slice(jrender *R, jv obj, jv start, jv stop, jv step, jv *out) {
    if (obj.k == JV_UNDEF) return jv_undef_fail(R, obj);
    if (start.k == JV_UNDEF || stop.k == JV_UNDEF || step.k == JV_UNDEF)
        return jr_fail(R, LAIR_ERR_ARG, "slice indices must be integers or None or have an __index__ method");
    int64_t a, b, s, count;
    if (obj.k == JV_LIST && !(obj.f & JF_GEN)) {
        jlist *l = obj.u.l;
        if (slice_indices(R, (int64_t)l->n, start, stop, step, &a, &b, &s, &count)) return -1;
        jlist *o = jlist_new(R, (size_t)count);
        if (!o) return -1;
        for (int64_t i = 0, p = a; i < count; i++, p += s)
            if (jlist_push(R, o, jv_ref(l->v[p]))) {
                jv_unref(R, jv_listv(o, 0));
                return -1;
            }
        *out = jv_listv(o, obj.f & JF_TUPLE);
        return 0;
    }
    if (obj.k == JV_STR) {
        const char *str = obj.u.s->s;
        size_t len = obj.u.s->len;
        size_t ncp = u8_count(str, len);
        if (slice_indices(R, (int64_t)ncp, start, stop, step, &a, &b, &s, &count)) return -1;
        if (s == 1) {
            size_t o1 = u8_offset(str, len, (size_t)a), o2 = count ? u8_offset(str, len, (size_t)(a + count)) : o1;
            int r = jv_str_new(R, str + o1, o2 - o1, out);
            if (!r) out->f = obj.f;
            return r;
        }
        /* general step: index the code points first */
        size_t *offs = jr_alloc(R, (ncp + 1) * sizeof *offs);
        if (!offs) return -1;
        size_t k = 0;
        for (size_t i = 0; i < len;) {
            uint32_t cp;
            offs[k++] = i;
            i += u8_decode(str + i, len - i, &cp);
        }
        offs[k] = len;
        jbuf buf = {0};
        int r = 0;
        for (int64_t i = 0, p = a; i < count && !r; i++, p += s) r = jb_put(R, &buf, str + offs[p], offs[p + 1] - offs[p]);
        jr_release(R, offs, (ncp + 1) * sizeof *offs);
        if (r) {
            jr_release(R, buf.p, buf.cap);
            return -1;
        }
        return jb_take(R, &buf, obj.f & JF_MARKUP, out);
    }
    /* obj[slice] is a TypeError for other values; jinja2 turns that into undefined */
    return jv_undef_new(R, NULL, NULL, objtype(obj), false, out);
}

/* ---- arithmetic ----------------------------------------------------------------- */

static const char *op_sym(int op) {
    switch (op) {
    case OP_ADD: return "+";
    case OP_SUB: return "-";
    case OP_MUL: return "*";
    case OP_DIV: return "/";
    case OP_FLOORDIV: return "//";
    case OP_MOD: return "%";
    case OP_POW: return "** or pow()";
    default: return "?";
    }
}

static int unsupported(jrender *R, int op, jv a, jv b) {
    return jr_fail(R, LAIR_ERR_ARG, "unsupported operand type(s) for %s: '%s' and '%s'", op_sym(op), jv_type_name(a),
                   jv_type_name(b));
}

static int64_t ival(jv v) { return v.k == JV_INT ? v.u.i : v.u.b; }
static double fval(jv v) { return v.k == JV_FLOAT ? v.u.d : (double)ival(v); }

static double py_fmod(double a, double b, double *div_out) {
    double mod = fmod(a, b);
    double div = (a - mod) / b;
    if (mod != 0.0) {
        if ((b < 0) != (mod < 0)) {
            mod += b;
            div -= 1.0;
        }
    } else {
        mod = copysign(0.0, b);
    }
    if (div_out) {
        double fl;
        if (div != 0.0) {
            fl = floor(div);
            if (div - fl > 0.5) fl += 1.0;
        } else {
            fl = copysign(0.0, a / b);
        }
        *div_out = fl;
    }
    return mod;
}

static int str_concat(jrender *R, jv a, jv b, jv *out) {
    bool ma = a.f & JF_MARKUP, mb = b.f & JF_MARKUP;
    if (ma == mb) {
        jstr *s = jstr_alloc(R, a.u.s->len + b.u.s->len);
        if (!s) return -1;
        memcpy(s->s, a.u.s->s, a.u.s->len);
        memcpy(s->s + a.u.s->len, b.u.s->s, b.u.s->len);
        *out = jv_strv(s, ma);
        return 0;
    }
    /* Markup + str escapes the str (markupsafe) */
    jbuf buf = {0};
    int r = ma ? jb_put(R, &buf, a.u.s->s, a.u.s->len) : jb_put_escaped(R, &buf, a.u.s->s, a.u.s->len);
    if (!r) r = mb ? jb_put(R, &buf, b.u.s->s, b.u.s->len) : jb_put_escaped(R, &buf, b.u.s->s, b.u.s->len);
    if (r) {
        jr_release(R, buf.p, buf.cap);
        return -1;
    }
    return jb_take(R, &buf, 1, out);
}

static int seq_repeat(jrender *R, jv seq, int64_t times, jv *out) {
    if (times < 0) times = 0;
    if (seq.k == JV_STR) {
        size_t len = seq.u.s->len;
        if (times > 0 && len > R->lim.max_output / (uint64_t)times)
            return jr_fail(R, LAIR_ERR_LIMIT, "string repetition exceeds the output limit of %zu bytes", R->lim.max_output);
        jstr *s = jstr_alloc(R, len * (size_t)times);
        if (!s) return -1;
        size_t total = len * (size_t)times, done = times > 0 ? len : 0;
        if (done) memcpy(s->s, seq.u.s->s, len);
        while (done < total) { /* double what is there: O(log n) copies */
            size_t k = done < total - done ? done : total - done;
            memcpy(s->s + done, s->s, k);
            done += k;
        }
        *out = jv_strv(s, seq.f & JF_MARKUP);
        return 0;
    }
    jlist *l = seq.u.l;
    if (times > 0 && l->n > (R->lim.max_output / 8) / (uint64_t)times)
        return jr_fail(R, LAIR_ERR_LIMIT, "list repetition too large");
    jlist *o = jlist_new(R, l->n * (size_t)times);
    if (!o) return -1;
    for (int64_t t = 0; t < times; t++)
        for (size_t i = 0; i < l->n; i++)
            if (jlist_push(R, o, jv_ref(l->v[i]))) {
                jv_unref(R, jv_listv(o, 0));
                return -1;
            }
    *out = jv_listv(o, seq.f & JF_TUPLE);
    return 0;
}

int je_binop(jrender *R, int op, jv a, jv b, jv *out) {
    if (a.k == JV_UNDEF) return jv_undef_fail(R, a);
    if (b.k == JV_UNDEF) return jv_undef_fail(R, b);
    bool na = jv_is_num(a), nb = jv_is_num(b);
    bool both_int = na && nb && a.k != JV_FLOAT && b.k != JV_FLOAT;
    switch (op) {
    case OP_ADD:
        if (both_int) {
            int64_t r;
            if (__builtin_add_overflow(ival(a), ival(b), &r)) return jr_fail(R, LAIR_ERR_ARG, "integer overflow");
            *out = jv_int(r);
            return 0;
        }
        if (na && nb) {
            *out = jv_float(fval(a) + fval(b));
            return 0;
        }
        if (a.k == JV_STR && b.k == JV_STR) return str_concat(R, a, b, out);
        if (a.k == JV_LIST && b.k == JV_LIST && !((a.f | b.f) & JF_GEN) && (a.f & JF_TUPLE) == (b.f & JF_TUPLE)) {
            jlist *o = jlist_new(R, a.u.l->n + b.u.l->n);
            if (!o) return -1;
            for (size_t i = 0; i < a.u.l->n + b.u.l->n; i++) {
                jv x = i < a.u.l->n ? a.u.l->v[i] : b.u.l->v[i - a.u.l->n];
                if (jlist_push(R, o, jv_ref(x))) {
                    jv_unref(R, jv_listv(o, 0));
                    return -1;
                }
            }
            *out = jv_listv(o, a.f & JF_TUPLE);
            return 0;
        }
        if (a.k == JV_STR)
            return jr_fail(R, LAIR_ERR_ARG, "can only concatenate str (not \"%s\") to str", jv_type_name(b));
        if (a.k == JV_LIST && !(a.f & JF_GEN))
            return jr_fail(R, LAIR_ERR_ARG, "can only concatenate %s (not \"%s\") to %s", jv_type_name(a), jv_type_name(b),
                           jv_type_name(a));
        return unsupported(R, op, a, b);
    case OP_SUB:
        if (both_int) {
            int64_t r;
            if (__builtin_sub_overflow(ival(a), ival(b), &r)) return jr_fail(R, LAIR_ERR_ARG, "integer overflow");
            *out = jv_int(r);
            return 0;
        }
        if (na && nb) {
            *out = jv_float(fval(a) - fval(b));
            return 0;
        }
        return unsupported(R, op, a, b);
    case OP_MUL:
        if (both_int) {
            int64_t r;
            if (__builtin_mul_overflow(ival(a), ival(b), &r)) return jr_fail(R, LAIR_ERR_ARG, "integer overflow");
            *out = jv_int(r);
            return 0;
        }
        if (na && nb) {
            *out = jv_float(fval(a) * fval(b));
            return 0;
        }
        if ((a.k == JV_STR || (a.k == JV_LIST && !(a.f & JF_GEN))) && (b.k == JV_INT || b.k == JV_BOOL))
            return seq_repeat(R, a, ival(b), out);
        if ((b.k == JV_STR || (b.k == JV_LIST && !(b.f & JF_GEN))) && (a.k == JV_INT || a.k == JV_BOOL))
            return seq_repeat(R, b, ival(a), out);
        if (a.k == JV_STR || b.k == JV_STR)
            return jr_fail(R, LAIR_ERR_ARG, "can't multiply sequence by non-int of type '%s'",
                           jv_type_name(a.k == JV_STR ? b : a));
        return unsupported(R, op, a, b);
    case OP_DIV:
        if (na && nb) {
            if (fval(b) == 0.0) return jr_fail(R, LAIR_ERR_ARG, "division by zero");
            *out = jv_float(fval(a) / fval(b));
            return 0;
        }
        return unsupported(R, op, a, b);
    case OP_FLOORDIV:
    case OP_MOD:
        if (op == OP_MOD && a.k == JV_STR) return jm_percent_format(R, a, b, out);
        if (both_int) {
            int64_t x = ival(a), y = ival(b);
            if (y == 0) return jr_fail(R, LAIR_ERR_ARG, "integer division or modulo by zero");
            if (x == INT64_MIN && y == -1) {
                if (op == OP_MOD) {
                    *out = jv_int(0);
                    return 0;
                }
                return jr_fail(R, LAIR_ERR_ARG, "integer overflow");
            }
            int64_t q = x / y, m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) {
                q--;
                m += y;
            }
            *out = jv_int(op == OP_MOD ? m : q);
            return 0;
        }
        if (na && nb) {
            if (fval(b) == 0.0) return jr_fail(R, LAIR_ERR_ARG, op == OP_MOD ? "float modulo" : "float floor division by zero");
            double q;
            double m = py_fmod(fval(a), fval(b), &q);
            *out = jv_float(op == OP_MOD ? m : q);
            return 0;
        }
        return unsupported(R, op, a, b);
    case OP_POW:
        if (both_int && ival(b) >= 0) {
            int64_t base = ival(a), e = ival(b), r = 1;
            while (e > 0) {
                if ((e & 1) && __builtin_mul_overflow(r, base, &r)) return jr_fail(R, LAIR_ERR_ARG, "integer overflow");
                e >>= 1;
                if (e && __builtin_mul_overflow(base, base, &base)) return jr_fail(R, LAIR_ERR_ARG, "integer overflow");
            }
            *out = jv_int(r);
            return 0;
        }
        if (na && nb) {
            double x = fval(a), y = fval(b);
            if (x == 0.0 && y < 0) return jr_fail(R, LAIR_ERR_ARG, "0.0 cannot be raised to a negative power");
            if (x < 0 && y != floor(y)) return jr_fail(R, LAIR_ERR_ARG, "negative number cannot be raised to a fractional power");
            *out = jv_float(pow(x, y));
            return 0;
        }
        return unsupported(R, op, a, b);
    default: break;
    }
    return jr_fail(R, LAIR_ERR_ARG, "internal error: operator %d", op);
}

/* ---- comparison and membership --------------------------------------------------- */

int je_contains(jrender *R, jv c, jv item, bool *res) {
    switch (c.k) {
    case JV_STR:
        if (item.k != JV_STR)
            return jr_fail(R, LAIR_ERR_ARG, "'in <string>' requires string as left operand, not %s", jv_type_name(item));
        if (item.u.s->len == 0) *res = true;
        else {
            *res = false;
            const char *h = c.u.s->s, *nd = item.u.s->s;
            size_t hn = c.u.s->len, nn = item.u.s->len;
            for (size_t i = 0; i + nn <= hn; i++)
                if (h[i] == nd[0] && memcmp(h + i, nd, nn) == 0) {
                    *res = true;
                    break;
                }
        }
        return 0;
    case JV_LIST:
        *res = false;
        for (size_t i = (c.f & JF_GEN) ? c.u.l->gpos : 0; i < c.u.l->n; i++)
            if (jv_eq(c.u.l->v[i], item)) {
                *res = true;
                if (c.f & JF_GEN) c.u.l->gpos = i + 1;
                break;
            }
        if (!*res && (c.f & JF_GEN)) c.u.l->gpos = c.u.l->n;
        return 0;
    case JV_DICT:
        if (item.k == JV_DICT || (item.k == JV_LIST && !(item.f & JF_TUPLE)))
            return jr_fail(R, LAIR_ERR_ARG, "unhashable type: '%s'", jv_type_name(item));
        *res = jdict_get(c.u.m, item) != NULL;
        return 0;
    case JV_UNDEF: *res = false; return 0;
    case JV_LOOP:
        *res = false;
        for (size_t i = 0; i < c.u.lp->items->n; i++)
            if (jv_eq(c.u.lp->items->v[i], item)) *res = true;
        return 0;
    default: break;
    }
    return jr_fail(R, LAIR_ERR_ARG, "argument of type '%s' is not iterable", jv_type_name(c));
}

int je_compare(jrender *R, int op, jv a, jv b, bool *res) {
    int c;
    switch (op) {
    case OP_EQ: *res = jv_eq(a, b); return 0;
    case OP_NE: *res = !jv_eq(a, b); return 0;
    case OP_IN: return je_contains(R, b, a, res);
    case OP_NOTIN:
        if (je_contains(R, b, a, res)) return -1;
        *res = !*res;
        return 0;
    default: break;
    }
    if (jv_cmp(R, a, b, &c)) return -1;
    bool nan = (a.k == JV_FLOAT && isnan(a.u.d)) || (b.k == JV_FLOAT && isnan(b.u.d));
    switch (op) {
    case OP_LT: *res = !nan && c < 0; break;
    case OP_LTEQ: *res = !nan && c <= 0; break;
    case OP_GT: *res = !nan && c > 0; break;
    case OP_GTEQ: *res = !nan && c >= 0; break;
    default: return jr_fail(R, LAIR_ERR_ARG, "internal error: comparison %d", op);
    }
    return 0;
}

int je_iterate(jrender *R, jv v, jlist **out) {
    switch (v.k) {
    case JV_LIST:
        if ((v.f & JF_GEN) && v.u.l->gpos > 0) { /* what is left of a partly consumed generator */
            jlist *l = jlist_new(R, v.u.l->n - v.u.l->gpos);
            if (!l) return -1;
            for (size_t i = v.u.l->gpos; i < v.u.l->n; i++) l->v[l->n++] = jv_ref(v.u.l->v[i]);
            l->depth = v.u.l->depth;
            v.u.l->gpos = v.u.l->n;
            *out = l;
            return 0;
        }
        if (v.f & JF_GEN) v.u.l->gpos = v.u.l->n;
        if (v.u.l->h.rc >= 0) v.u.l->h.rc++;
        *out = v.u.l;
        return 0;
    case JV_DICT: {
        jlist *l = jlist_new(R, v.u.m->n);
        if (!l) return -1;
        for (size_t i = 0; i < v.u.m->n; i++)
            if (jlist_push(R, l, jv_ref(v.u.m->k[i]))) {
                jv_unref(R, jv_listv(l, 0));
                return -1;
            }
        *out = l;
        return 0;
    }
    case JV_STR: {
        const char *s = v.u.s->s;
        size_t n = v.u.s->len;
        jlist *l = jlist_new(R, u8_count(s, n));
        if (!l) return -1;
        for (size_t i = 0; i < n;) {
            uint32_t cp;
            size_t k = u8_decode(s + i, n - i, &cp);
            jv c;
            if (jv_str_new(R, s + i, k, &c) || jlist_push(R, l, c)) {
                jv_unref(R, jv_listv(l, 0));
                return -1;
            }
            i += k;
        }
        *out = l;
        return 0;
    }
    case JV_UNDEF: {
        jlist *l = jlist_new(R, 0);
        if (!l) return -1;
        *out = l;
        return 0;
    }
    case JV_LOOP:
        if (v.u.lp->items->h.rc >= 0) v.u.lp->items->h.rc++;
        *out = v.u.lp->items;
        return 0;
    default: break;
    }
    return jr_fail(R, LAIR_ERR_ARG, "'%s' object is not iterable", jv_type_name(v));
}
