/* The interpreter: statements write to the current output buffer,
 * expressions produce values.  Scoping follows jinja2: every for-loop
 * iteration, macro call, caller, with-block and block-set body gets a fresh
 * scope whose parent is the enclosing one; if-blocks share their scope; names
 * resolve through the scopes, then the caller's variables, then globals. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/platform.h"
#include "text/jinja_internal.h"

static int eval(jrender *R, jframe *F, const jnode *n, jv *out);
static int exec(jrender *R, jframe *F, const jnode *n);

lair_jinja_limits lair_jinja_default_limits(void) {
    lair_jinja_limits l = {4u << 20, 64, 100.0, 20000000};
    return l;
}

static int enter(jrender *R, const jnode *n) {
    if (n->line > 0) R->line = n->line;
    if (++R->cdepth > JINJA_MAX_CDEPTH) {
        R->cdepth--;
        return jr_fail(R, LAIR_ERR_LIMIT, "template nested too deeply (more than %d levels of evaluation)", JINJA_MAX_CDEPTH);
    }
    if (jr_step(R)) {
        R->cdepth--;
        return -1;
    }
    return 0;
}

/* ---- names ------------------------------------------------------------------ */

static int lookup(jrender *R, jframe *F, const char *name, jv *out) {
    for (jframe *f = F; f; f = f->parent) {
        jv *v = jframe_find(f, name);
        if (v) {
            *out = jv_ref(*v);
            return 0;
        }
    }
    if (R->ctx) {
        jv *v = jdict_get_str(R->ctx, name, strlen(name));
        if (v) {
            *out = jv_ref(*v);
            return 0;
        }
    }
    int g = jm_global(R, name, out);
    if (g < 0) return -1;
    if (g > 0) return 0;
    return jv_undef_name(R, name, out);
}

/* ---- assignment --------------------------------------------------------------- */

static int assign(jrender *R, jframe *F, const jnode *target, jv v) { /* takes v */
    if (target->kind == N_NAME) return jframe_set(R, F, target->name, v);
    if (target->kind == N_NSREF) {
        jv ns;
        if (lookup(R, F, target->name, &ns)) {
            jv_unref(R, v);
            return -1;
        }
        if (ns.k != JV_NS) {
            jv_unref(R, ns);
            jv_unref(R, v);
            return jr_fail(R, LAIR_ERR_ARG, "cannot assign attribute on non-namespace object");
        }
        jv key;
        int r = jv_str_cstr(R, target->attr, &key);
        if (r == 0) r = jdict_set(R, ns.u.m, key, v);
        else jv_unref(R, v);
        jv_unref(R, ns);
        return r;
    }
    /* tuple unpacking */
    jlist *items;
    if (je_iterate(R, v, &items)) {
        jv_unref(R, v);
        return -1;
    }
    int r = 0;
    if (items->n != target->n) {
        if (items->n > target->n) r = jr_fail(R, LAIR_ERR_ARG, "too many values to unpack (expected %u)", target->n);
        else r = jr_fail(R, LAIR_ERR_ARG, "not enough values to unpack (expected %u, got %zu)", target->n, items->n);
    } else {
        for (uint32_t i = 0; i < target->n && !r; i++) r = assign(R, F, target->list[i], jv_ref(items->v[i]));
    }
    jv_unref(R, jv_listv(items, 0));
    jv_unref(R, v);
    return r;
}

/* ---- calls ---------------------------------------------------------------------- */

/* Evaluated call arguments: a few inline (the interpreter recurses through
 * here, so its frames stay small), more on the heap. */
#define ARGS_INLINE 4
typedef struct argv_s {
    jv pos[ARGS_INLINE];
    jv kwv[ARGS_INLINE];
    jv *hpos, *hkw;
    size_t npos, nkw;
    size_t hpos_cap, hkw_cap;
} argv_s;

static void args_free(jrender *R, argv_s *A) {
    jv *p = A->hpos ? A->hpos : A->pos, *k = A->hkw ? A->hkw : A->kwv;
    for (size_t i = 0; i < A->npos; i++) jv_unref(R, p[i]);
    for (size_t i = 0; i < A->nkw; i++) jv_unref(R, k[i]);
    if (A->hpos) jr_release(R, A->hpos, A->hpos_cap * sizeof(jv));
    if (A->hkw) jr_release(R, A->hkw, A->hkw_cap * sizeof(jv));
}

/* Evaluates n->list / n->kw* into A (skipping the first `skip` positional nodes). */
static int eval_args(jrender *R, jframe *F, const jnode *n, argv_s *A, jargs *a) {
    memset(A, 0, sizeof *A);
    jv *p = A->pos, *k = A->kwv;
    if (n->n > ARGS_INLINE) {
        if (!(p = A->hpos = jr_alloc(R, (n->n + 1) * sizeof(jv)))) return -1;
        A->hpos_cap = n->n + 1;
    }
    if (n->nkw >= ARGS_INLINE) { /* one spare slot: call blocks add caller= */
        if (!(k = A->hkw = jr_alloc(R, (n->nkw + 1) * sizeof(jv)))) return -1;
        A->hkw_cap = n->nkw + 1;
    }
    for (uint32_t i = 0; i < n->n; i++) {
        if (eval(R, F, n->list[i], &p[i])) return -1;
        A->npos++;
    }
    for (uint32_t i = 0; i < n->nkw; i++) {
        if (eval(R, F, n->kwv[i], &k[i])) return -1;
        A->nkw++;
    }
    a->pos = p;
    a->npos = A->npos;
    a->kwn = n->kwn;
    a->kwv = k;
    a->nkw = A->nkw;
    return 0;
}

static int capture(jrender *R, jframe *F, const jnode *body, jv *out) {
    jbuf b = {0}, *saved = R->out;
    R->out = &b;
    int r = exec(R, F, body);
    R->out = saved;
    if (r) {
        jr_release(R, b.p, b.cap);
        return -1;
    }
    return jb_take(R, &b, 0, out);
}

int je_invoke_macro(jrender *R, jfunc *fn, const jargs *a, jv *out) {
    const jnode *node = fn->node;
    const char *mname = fn->kind == FN_MACRO ? node->name : "caller";
    if (R->depth >= R->lim.max_depth)
        return jr_fail(R, LAIR_ERR_LIMIT, "macro recursion too deep ('%s': more than %d nested calls)", mname, R->lim.max_depth);
    int saved_line = R->line;
    jframe *f = jframe_new(R, fn->frame);
    if (!f) return -1;
    R->depth++;
    int r = 0;
    bool used_kw[64] = {false};
    size_t nparams = node->n;
    if (a->nkw > 64) r = jr_fail(R, LAIR_ERR_LIMIT, "too many keyword arguments");
    size_t npos = a->npos < nparams ? a->npos : nparams;
    for (size_t i = 0; i < npos && !r; i++) r = jframe_set(R, f, node->list[i]->name, jv_ref(a->pos[i]));
    bool found_caller = false;
    for (size_t i = npos; i < nparams && !r; i++) {
        const char *pn = node->list[i]->name;
        size_t k;
        for (k = 0; k < a->nkw; k++)
            if (!used_kw[k] && strcmp(a->kwn[k], pn) == 0) break;
        if (strcmp(pn, "caller") == 0) found_caller = true;
        jv v;
        if (k < a->nkw) {
            used_kw[k] = true;
            v = jv_ref(a->kwv[k]);
        } else if (node->kwv && node->kwv[i]) {
            if (eval(R, f, node->kwv[i], &v)) {
                r = -1;
                break;
            }
        } else {
            jv name;
            if (jv_str_cstr(R, pn, &name)) {
                r = -1;
                break;
            }
            r = jv_undef_new(R, "parameter was not provided", &name, NULL, false, &v);
            jv_unref(R, name);
            if (r) break;
        }
        r = jframe_set(R, f, pn, v);
    }
    if (!r && (node->flags & NF_CALLER) && !found_caller) {
        size_t k;
        for (k = 0; k < a->nkw; k++)
            if (!used_kw[k] && strcmp(a->kwn[k], "caller") == 0) break;
        jv v;
        if (k < a->nkw) {
            used_kw[k] = true;
            v = jv_ref(a->kwv[k]);
            r = jframe_set(R, f, "caller", v);
        } else {
            jv name;
            r = jv_str_cstr(R, "caller", &name);
            if (!r) {
                r = jv_undef_new(R, "No caller defined", &name, NULL, false, &v);
                jv_unref(R, name);
                if (!r) r = jframe_set(R, f, "caller", v);
            }
        }
    }
    if (!r && (node->flags & NF_KWARGS)) {
        jdict *d = jdict_new(R, 0);
        if (!d) r = -1;
        for (size_t k = 0; k < a->nkw && !r; k++) {
            if (used_kw[k]) continue;
            jv key;
            if (jv_str_cstr(R, a->kwn[k], &key)) r = -1;
            else r = jdict_set(R, d, key, jv_ref(a->kwv[k]));
        }
        if (d) {
            jv dv = {JV_DICT, 0, {0}};
            dv.u.m = d;
            if (!r) r = jframe_set(R, f, "kwargs", dv);
            else jv_unref(R, dv);
        }
    } else if (!r) {
        for (size_t k = 0; k < a->nkw; k++)
            if (!used_kw[k]) {
                if (strcmp(a->kwn[k], "caller") == 0)
                    r = jr_fail(R, LAIR_ERR_ARG, "macro '%s' was invoked with two values for the special caller argument", mname);
                else r = jr_fail(R, LAIR_ERR_ARG, "macro '%s' takes no keyword argument '%s'", mname, a->kwn[k]);
                break;
            }
    }
    if (!r && (node->flags & NF_VARARGS)) {
        jlist *l = jlist_new(R, 0);
        if (!l) r = -1;
        for (size_t i = nparams; i < a->npos && !r; i++) r = jlist_push(R, l, jv_ref(a->pos[i]));
        if (l) {
            if (!r) r = jframe_set(R, f, "varargs", jv_listv(l, JF_TUPLE));
            else jv_unref(R, jv_listv(l, 0));
        }
    } else if (!r && a->npos > nparams) {
        r = jr_fail(R, LAIR_ERR_ARG, "macro '%s' takes not more than %zu argument(s)", mname, nparams);
    }
    if (!r) r = capture(R, f, node->b, out);
    R->depth--;
    jframe_unref(R, f);
    R->line = saved_line;
    return r;
}

static int run_for(jrender *R, jframe *F, const jnode *n, jv iterable, int depth0);

int je_call(jrender *R, jv callee, const jargs *a, jv *out) {
    switch (callee.k) {
    case JV_FUNC:
        switch (callee.u.fn->kind) {
        case FN_MACRO:
        case FN_CALLER: return je_invoke_macro(R, callee.u.fn, a, out);
        case FN_METHOD: return jm_call_method(R, callee.u.fn, a, out);
        case FN_GLOBAL: return jm_call_global(R, callee.u.fn, a, out);
        default: break;
        }
        break;
    case JV_LOOP: {
        jloop *lp = callee.u.lp;
        if (!lp->node) return jr_fail(R, LAIR_ERR_ARG, "the loop must have the 'recursive' marker to be called recursively");
        if (a->npos != 1 || a->nkw) return jr_fail(R, LAIR_ERR_ARG, "loop() takes exactly one argument");
        if (R->depth >= R->lim.max_depth)
            return jr_fail(R, LAIR_ERR_LIMIT, "recursive loop too deep (more than %d levels)", R->lim.max_depth);
        jbuf b = {0}, *saved = R->out;
        R->out = &b;
        R->depth++;
        int r = run_for(R, lp->frame, lp->node, a->pos[0], lp->depth0 + 1);
        R->depth--;
        R->out = saved;
        if (r) {
            jr_release(R, b.p, b.cap);
            return -1;
        }
        return jb_take(R, &b, 0, out);
    }
    case JV_UNDEF: return jv_undef_fail(R, callee);
    default: break;
    }
    return jr_fail(R, LAIR_ERR_ARG, "'%s' object is not callable", jv_type_name(callee));
}

/* ---- expressions ------------------------------------------------------------------ */

/* A filter node applied to `input` when its operand is NULL (filter blocks, block sets). */
static JNOINLINE int apply_filter_node(jrender *R, jframe *F, const jnode *n, jv input, jv *out) {
    jv val;
    if (!n->a) val = jv_ref(input);
    else if (n->a->kind == N_FILTER) {
        if (enter(R, n->a)) return -1;
        int r = apply_filter_node(R, F, n->a, input, &val);
        R->cdepth--;
        if (r) return -1;
    } else if (eval(R, F, n->a, &val)) return -1;
    argv_s A;
    jargs a;
    int r = eval_args(R, F, n, &A, &a);
    if (!r) {
        if (n->line > 0) R->line = n->line;
        r = jinja_apply_filter(R, n->id, n->name, val, &a, out);
    }
    args_free(R, &A);
    jv_unref(R, val);
    return r;
}

/* A call; `caller` (call blocks) is passed as one more keyword argument. */
static JNOINLINE int eval_call(jrender *R, jframe *F, const jnode *n, const jv *caller, jv *out) {
    jv callee;
    if (eval(R, F, n->a, &callee)) return -1;
    argv_s A;
    jargs a;
    int r = eval_args(R, F, n, &A, &a);
    const char **kwn = NULL;
    size_t kwn_size = (n->nkw + 1) * sizeof *kwn;
    if (!r && caller) {
        /* eval_args left a spare keyword slot (inline or on the heap) */
        kwn = jr_alloc(R, kwn_size);
        if (!kwn) r = -1;
        else {
            for (size_t i = 0; i < a.nkw; i++) kwn[i] = a.kwn[i];
            kwn[a.nkw] = "caller";
            ((jv *)a.kwv)[a.nkw] = jv_ref(*caller);
            A.nkw++;
            a.kwn = kwn;
            a.nkw++;
        }
    }
    if (!r) {
        R->line = n->line;
        r = je_call(R, callee, &a, out);
    }
    jr_release(R, kwn, kwn_size);
    args_free(R, &A);
    jv_unref(R, callee);
    return r;
}

static JNOINLINE int eval_test(jrender *R, jframe *F, const jnode *n, jv *out) {
    jv val;
    if (eval(R, F, n->a, &val)) return -1;
    argv_s A;
    jargs a;
    int r = eval_args(R, F, n, &A, &a);
    bool res = false;
    R->line = n->line;
    if (!r) r = jinja_apply_test(R, n->id, n->name, val, &a, &res);
    args_free(R, &A);
    jv_unref(R, val);
    if (!r) *out = jv_bool(res);
    return r;
}

static int eval_seq(jrender *R, jframe *F, const jnode *n, int flags, jv *out) {
    jlist *l = jlist_new(R, n->n);
    if (!l) return -1;
    for (uint32_t i = 0; i < n->n; i++) {
        jv v;
        if (eval(R, F, n->list[i], &v) || jlist_push(R, l, v)) {
            jv_unref(R, jv_listv(l, 0));
            return -1;
        }
    }
    *out = jv_listv(l, flags);
    return 0;
}

static int eval_inner(jrender *R, jframe *F, const jnode *n, jv *out) {
    switch (n->kind) {
    case N_CONST: *out = jv_ref(n->val); return 0;
    case N_NAME: return lookup(R, F, n->name, out);
    case N_GETATTR: {
        jv obj;
        if (eval(R, F, n->a, &obj)) return -1;
        R->line = n->line;
        int r = je_getattr(R, obj, n->name, strlen(n->name), out);
        jv_unref(R, obj);
        return r;
    }
    case N_GETITEM: {
        jv obj;
        if (eval(R, F, n->a, &obj)) return -1;
        int r;
        if (n->b->kind == N_SLICE) {
            jv parts[3] = {jv_none(), jv_none(), jv_none()};
            const jnode *pn[3] = {n->b->a, n->b->b, n->b->c};
            r = 0;
            for (int i = 0; i < 3 && !r; i++)
                if (pn[i]) r = eval(R, F, pn[i], &parts[i]);
            R->line = n->line;
            if (!r) r = je_slice(R, obj, parts[0], parts[1], parts[2], out);
            for (int i = 0; i < 3; i++) jv_unref(R, parts[i]);
        } else {
            jv key;
            r = eval(R, F, n->b, &key);
            R->line = n->line;
            if (!r) {
                r = je_getitem(R, obj, key, out);
                jv_unref(R, key);
            }
        }
        jv_unref(R, obj);
        return r;
    }
    case N_CALL: return eval_call(R, F, n, NULL, out);
    case N_FILTER: return apply_filter_node(R, F, n, jv_missing(), out);
    case N_TEST: return eval_test(R, F, n, out);
    case N_BINOP: {
        jv a, b;
        if (eval(R, F, n->a, &a)) return -1;
        if (eval(R, F, n->b, &b)) {
            jv_unref(R, a);
            return -1;
        }
        R->line = n->line;
        int r = je_binop(R, n->op, a, b, out);
        jv_unref(R, a);
        jv_unref(R, b);
        return r;
    }
    case N_NEG:
    case N_POS: {
        jv a;
        if (eval(R, F, n->a, &a)) return -1;
        int r = 0;
        R->line = n->line;
        if (a.k == JV_INT || a.k == JV_BOOL) {
            int64_t x = a.k == JV_INT ? a.u.i : a.u.b;
            if (n->kind == N_NEG && x == INT64_MIN) r = jr_fail(R, LAIR_ERR_ARG, "integer overflow");
            else *out = jv_int(n->kind == N_NEG ? -x : x);
        } else if (a.k == JV_FLOAT) {
            *out = jv_float(n->kind == N_NEG ? -a.u.d : a.u.d);
        } else if (a.k == JV_UNDEF) {
            r = jv_undef_fail(R, a);
        } else {
            r = jr_fail(R, LAIR_ERR_ARG, "bad operand type for unary %c: '%s'", n->kind == N_NEG ? '-' : '+', jv_type_name(a));
        }
        jv_unref(R, a);
        return r;
    }
    case N_NOT: {
        jv a;
        if (eval(R, F, n->a, &a)) return -1;
        *out = jv_bool(!jv_truthy(a));
        jv_unref(R, a);
        return 0;
    }
    case N_AND:
    case N_OR: {
        jv a;
        if (eval(R, F, n->a, &a)) return -1;
        bool t = jv_truthy(a);
        if ((n->kind == N_AND) != t) {
            *out = a;
            return 0;
        }
        jv_unref(R, a);
        return eval(R, F, n->b, out);
    }
    case N_COMPARE: {
        jv left;
        if (eval(R, F, n->a, &left)) return -1;
        bool res = true;
        for (uint32_t i = 0; i < n->n; i++) {
            jv right;
            if (eval(R, F, n->list[i], &right)) {
                jv_unref(R, left);
                return -1;
            }
            R->line = n->line;
            int r = je_compare(R, n->ops[i], left, right, &res);
            jv_unref(R, left);
            left = right;
            if (r) {
                jv_unref(R, left);
                return -1;
            }
            if (!res) break;
        }
        jv_unref(R, left);
        *out = jv_bool(res);
        return 0;
    }
    case N_COND: {
        jv c;
        if (eval(R, F, n->a, &c)) return -1;
        bool t = jv_truthy(c);
        jv_unref(R, c);
        if (t) return eval(R, F, n->b, out);
        if (n->c) return eval(R, F, n->c, out);
        return jv_undef_new(R, "the inline if-expression evaluated to false and no else section was defined", NULL, NULL,
                            false, out);
    }
    case N_CONCAT: {
        jbuf b = {0};
        for (uint32_t i = 0; i < n->n; i++) {
            jv v;
            if (eval(R, F, n->list[i], &v)) {
                jr_release(R, b.p, b.cap);
                return -1;
            }
            int r = jv_write_str(R, &b, v);
            jv_unref(R, v);
            if (r) {
                jr_release(R, b.p, b.cap);
                return -1;
            }
        }
        return jb_take(R, &b, 0, out);
    }
    case N_LIST: return eval_seq(R, F, n, 0, out);
    case N_TUPLE: return eval_seq(R, F, n, JF_TUPLE, out);
    case N_DICT: {
        jdict *d = jdict_new(R, n->n / 2);
        if (!d) return -1;
        jv dv = {JV_DICT, 0, {0}};
        dv.u.m = d;
        for (uint32_t i = 0; i + 1 < n->n; i += 2) {
            jv k, v;
            if (eval(R, F, n->list[i], &k)) goto dfail;
            if (eval(R, F, n->list[i + 1], &v)) {
                jv_unref(R, k);
                goto dfail;
            }
            if (jdict_set(R, d, k, v)) goto dfail;
        }
        *out = dv;
        return 0;
    dfail:
        jv_unref(R, dv);
        return -1;
    }
    default: break;
    }
    return jr_fail(R, LAIR_ERR_ARG, "internal error: node %d is not an expression", n->kind);
}

static int eval(jrender *R, jframe *F, const jnode *n, jv *out) {
    if (enter(R, n)) return -1;
    int r = eval_inner(R, F, n, out);
    R->cdepth--;
    return r;
}

/* ---- statements -------------------------------------------------------------------- */

static int write_value(jrender *R, jv v) { return jv_write_str(R, R->out, v); }

static int new_loop(jrender *R, jlist *items, const jnode *n, jframe *F, int depth0, jv *out) {
    jloop *lp = jr_alloc(R, sizeof *lp);
    if (!lp) return -1;
    memset(lp, 0, sizeof *lp);
    lp->h.rc = 1;
    lp->items = items;
    items->h.rc++;
    lp->depth0 = depth0;
    lp->last_changed = jv_missing();
    if (n->flags & NF_RECURSIVE) {
        lp->node = n;
        lp->frame = F;
        F->h.rc++;
        if (!F->registered) {
            F->registered = true;
            if (jr_register(R, &F->h, 1)) {
                jv lv = {JV_LOOP, 0, {0}};
                lv.u.lp = lp;
                jv_unref(R, lv);
                return -1;
            }
        }
    }
    jv v = {JV_LOOP, 0, {0}};
    v.u.lp = lp;
    *out = v;
    return 0;
}

static int run_for(jrender *R, jframe *F, const jnode *n, jv iterable, int depth0) {
    jlist *src;
    if (je_iterate(R, iterable, &src)) return -1;
    /* Iterate over a private copy: the body may pop() from the list. */
    jlist *items = jlist_new(R, src->n);
    int r = items ? 0 : -1;
    for (size_t i = 0; i < src->n && !r; i++) {
        jv item = src->v[i];
        if (n->e) { /* {% for x in xs if cond %}: filtered before the loop, so loop.length counts kept items */
            jframe *tf = jframe_new(R, F);
            if (!tf) {
                r = -1;
                break;
            }
            jv c;
            r = assign(R, tf, n->a, jv_ref(item));
            if (!r) r = eval(R, tf, n->e, &c);
            jframe_unref(R, tf);
            if (r) break;
            bool keep = jv_truthy(c);
            jv_unref(R, c);
            if (!keep) continue;
        }
        r = jlist_push(R, items, jv_ref(item));
    }
    jv_unref(R, jv_listv(src, 0));
    if (r) {
        if (items) jv_unref(R, jv_listv(items, 0));
        return -1;
    }
    if (items->n == 0) {
        jv_unref(R, jv_listv(items, 0));
        if (!n->d) return 0;
        jframe *ef = jframe_new(R, F);
        if (!ef) return -1;
        r = exec(R, ef, n->d);
        jframe_unref(R, ef);
        return r;
    }
    jv loopv;
    if (new_loop(R, items, n, F, depth0, &loopv)) {
        jv_unref(R, jv_listv(items, 0));
        return -1;
    }
    for (size_t i = 0; i < items->n && !r; i++) {
        if (jr_step(R)) {
            r = -1;
            break;
        }
        loopv.u.lp->index0 = i;
        jframe *lf = jframe_new(R, F);
        if (!lf) {
            r = -1;
            break;
        }
        r = jframe_set(R, lf, "loop", jv_ref(loopv));
        if (!r) r = assign(R, lf, n->a, jv_ref(items->v[i]));
        if (!r) r = exec(R, lf, n->c);
        jframe_unref(R, lf);
        if (R->ctl == CTL_BREAK) {
            R->ctl = 0;
            break;
        }
        R->ctl = 0;
    }
    jv_unref(R, loopv);
    jv_unref(R, jv_listv(items, 0));
    return r;
}

static int make_closure(jrender *R, jframe *F, const jnode *n, int kind, jv *out) {
    jfunc *fn = jr_alloc(R, sizeof *fn);
    if (!fn) return -1;
    memset(fn, 0, sizeof *fn);
    fn->h.rc = 1;
    fn->kind = (uint8_t)kind;
    fn->node = n;
    fn->frame = F;
    fn->self = jv_missing();
    F->h.rc++;
    jv v = {JV_FUNC, 0, {0}};
    v.u.fn = fn;
    if (!F->registered) {
        /* The scope now (usually) holds the closure and the closure the scope:
         * the render releases such scopes at its end. */
        F->registered = true;
        if (jr_register(R, &F->h, 1)) {
            jv_unref(R, v);
            return -1;
        }
    }
    *out = v;
    return 0;
}

static int exec_inner(jrender *R, jframe *F, const jnode *n) {
    switch (n->kind) {
    case N_BODY:
        for (uint32_t i = 0; i < n->n; i++) {
            if (exec(R, F, n->list[i])) return -1;
            if (R->ctl) return 0;
        }
        return 0;
    case N_TEXT: return jb_put(R, R->out, n->text, n->tlen);
    case N_PRINT: {
        jv v;
        if (eval(R, F, n->a, &v)) return -1;
        int r = write_value(R, v);
        jv_unref(R, v);
        return r;
    }
    case N_IF: {
        jv c;
        if (eval(R, F, n->a, &c)) return -1;
        bool t = jv_truthy(c);
        jv_unref(R, c);
        if (t) return exec(R, F, n->b);
        return n->c ? exec(R, F, n->c) : 0;
    }
    case N_FOR: {
        jv it;
        if (eval(R, F, n->b, &it)) return -1;
        int r = run_for(R, F, n, it, 0);
        jv_unref(R, it);
        return r;
    }
    case N_SET: {
        jv v;
        if (eval(R, F, n->b, &v)) return -1;
        return assign(R, F, n->a, v);
    }
    case N_SETBLK: {
        jframe *bf = jframe_new(R, F);
        if (!bf) return -1;
        jv s;
        int r = capture(R, bf, n->b, &s);
        jframe_unref(R, bf);
        if (r) return -1;
        if (n->c) {
            jv f;
            r = apply_filter_node(R, F, n->c, s, &f);
            jv_unref(R, s);
            if (r) return -1;
            s = f;
        }
        return assign(R, F, n->a, s);
    }
    case N_MACRO: {
        jv fn;
        if (make_closure(R, F, n, FN_MACRO, &fn)) return -1;
        return jframe_set(R, F, n->name, fn);
    }
    case N_CALLBLK: {
        jv caller, res;
        if (make_closure(R, F, n, FN_CALLER, &caller)) return -1;
        int r = eval_call(R, F, n->a, &caller, &res);
        jv_unref(R, caller);
        if (r) return -1;
        r = write_value(R, res);
        jv_unref(R, res);
        return r;
    }
    case N_FILTBLK: {
        jframe *bf = jframe_new(R, F);
        if (!bf) return -1;
        jv s, f;
        int r = capture(R, bf, n->b, &s);
        jframe_unref(R, bf);
        if (r) return -1;
        r = apply_filter_node(R, F, n->c, s, &f);
        jv_unref(R, s);
        if (r) return -1;
        r = write_value(R, f);
        jv_unref(R, f);
        return r;
    }
    case N_WITH: {
        jframe *wf = jframe_new(R, F);
        if (!wf) return -1;
        int r = 0;
        for (uint32_t i = 0; i < n->n && !r; i++) {
            jv v;
            r = eval(R, F, n->kwv[i], &v);
            if (!r) r = assign(R, wf, n->list[i], v);
        }
        if (!r) r = exec(R, wf, n->b);
        jframe_unref(R, wf);
        return r;
    }
    case N_BLOCK: {
        jframe *bf = jframe_new(R, F);
        if (!bf) return -1;
        int r = exec(R, bf, n->b);
        jframe_unref(R, bf);
        return r;
    }
    case N_BREAK: R->ctl = CTL_BREAK; return 0;
    case N_CONTINUE: R->ctl = CTL_CONTINUE; return 0;
    default: break;
    }
    return jr_fail(R, LAIR_ERR_ARG, "internal error: node %d is not a statement", n->kind);
}

static int exec(jrender *R, jframe *F, const jnode *n) {
    if (enter(R, n)) return -1;
    int r = exec_inner(R, F, n);
    R->cdepth--;
    return r;
}

/* ---- entry point ----------------------------------------------------------------------- */

lair_status lair_jinja_render(const lair_jinja *t, const json_t *vars, const lair_jinja_limits *lim, char **out,
                              size_t *out_len, lair_err *err) {
    *out = NULL;
    if (out_len) *out_len = 0;
    if (!t) return lair_err_set(err, LAIR_ERR_ARG, "template: no template");
    if (vars && !json_is_object(vars)) return lair_err_set(err, LAIR_ERR_ARG, "template: variables must be a JSON object");
    lair_jinja_limits d = lair_jinja_default_limits();
    jrender R;
    memset(&R, 0, sizeof R);
    R.t = t;
    R.lim = lim ? *lim : d;
    if (R.lim.max_output == 0) R.lim.max_output = d.max_output;
    if (R.lim.max_depth <= 0) R.lim.max_depth = d.max_depth;
    if (!(R.lim.max_ms > 0)) R.lim.max_ms = d.max_ms;
    if (R.lim.max_steps == 0) R.lim.max_steps = d.max_steps;
    R.err = err;
    size_t cap = R.lim.max_output > (SIZE_MAX - (1u << 20)) / 16 ? SIZE_MAX : R.lim.max_output * 16 + (1u << 20);
    R.mem_max = cap;
    R.deadline = lair_time_seconds() + R.lim.max_ms / 1000.0;

    jbuf outb = {0};
    R.out = &outb;
    int r = 0;
    if (vars) {
        jv ctx;
        r = jv_from_json(&R, vars, &ctx);
        if (!r) R.ctx = ctx.u.m;
    }
    if (!r) {
        R.top = jframe_new(&R, NULL);
        if (!R.top) r = -1;
    }
    if (!r) r = exec(&R, R.top, t->root);
    jframe_unref(&R, R.top);
    if (R.ctx) {
        jv ctx = {JV_DICT, 0, {0}};
        ctx.u.m = R.ctx;
        jv_unref(&R, ctx);
    }
    jr_release_registry(&R);
    if (r || R.st) {
        jr_release(&R, outb.p, outb.cap);
        return R.st ? R.st : LAIR_ERR_ARG;
    }
    if (!outb.p) {
        outb.p = lair_malloc(1);
        if (!outb.p) return lair_err_set(err, LAIR_ERR_NOMEM, "template: out of memory");
        outb.p[0] = '\0';
    }
    *out = outb.p;
    if (out_len) *out_len = outb.n;
    return LAIR_OK;
}
