/* Tokens -> AST, with jinja2's grammar and operator precedence:
 *   condexpr: or ["if" or ["else" condexpr]]
 *   or / and / not / compare (== != < <= > >= in, not in; chained)
 *   math1 (+ -) / concat (~) / math2 (* / // %) / pow (**)
 *   unary (- +) primary postfix (.attr [sub] (call)) then filters (|f) and tests (is t)
 * Nodes, names and constants live in the template's arena and are freed with it. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "text/jinja_internal.h"

/* ---- arena ------------------------------------------------------------------ */

struct jarena_chunk {
    struct jarena_chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

void *jarena_alloc(struct lair_jinja *t, size_t n) {
    n = (n + 15) & ~(size_t)15;
    struct jarena_chunk *c = t->arena;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        c = lair_malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->next = t->arena;
        c->used = 0;
        c->cap = cap;
        t->arena = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

void lair_jinja_free(lair_jinja *t) {
    if (!t) return;
    struct jarena_chunk *c = t->arena;
    while (c) {
        struct jarena_chunk *nx = c->next;
        lair_free(c);
        c = nx;
    }
    lair_free(t);
}

/* ---- parser state ----------------------------------------------------------- */

typedef struct parser {
    struct lair_jinja *t;
    jtok *tk;
    size_t ntk, i;
    lair_err *err;
    lair_status st;
    int depth;
    bool soft;      /* inside an if: unknown filters/tests fail only when evaluated */
    int loop_depth; /* for break / continue */
} parser;

typedef struct nvec {
    jnode **v;
    size_t n, cap;
} nvec;

static int pfail(parser *P, int line, lair_status code, const char *fmt, ...) JPRINTF(4, 5);
static int pfail(parser *P, int line, lair_status code, const char *fmt, ...) {
    if (P->st) return -1;
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    P->st = lair_err_set(P->err, code, "template: line %d: %s", line, msg);
    return -1;
}

static int nomem(parser *P) {
    if (!P->st) P->st = lair_err_set(P->err, LAIR_ERR_NOMEM, "template: out of memory");
    return -1;
}

static jtok *cur(parser *P) { return &P->tk[P->i]; }
static jtok *peek(parser *P, size_t k) { return &P->tk[P->i + k < P->ntk ? P->i + k : P->ntk - 1]; }
static void adv(parser *P) {
    if (P->i + 1 < P->ntk) P->i++;
}

static bool tok_is_name(const jtok *k, const char *name) {
    return k->type == T_NAME && k->len == strlen(name) && memcmp(k->p, name, k->len) == 0;
}
static bool is_op(parser *P, int op) { return cur(P)->type == T_OP && cur(P)->op == op; }
static bool is_name(parser *P, const char *name) { return tok_is_name(cur(P), name); }

static const char *describe(const jtok *k, char buf[64]) {
    switch (k->type) {
    case T_EOF: return "end of template";
    case T_DATA: return "template data";
    case T_VAR_BEGIN: return "'{{'";
    case T_VAR_END: return "end of print statement '}}'";
    case T_BLOCK_BEGIN: return "'{%'";
    case T_BLOCK_END: return "end of statement block '%}'";
    case T_STRING: return "string";
    case T_INT: return "integer";
    case T_FLOAT: return "float";
    default: break;
    }
    size_t n = k->len < 40 ? k->len : 40;
    snprintf(buf, 64, "'%.*s'", (int)n, k->p);
    return buf;
}

static int unexpected(parser *P, const char *what) {
    char b[64];
    return pfail(P, cur(P)->line, LAIR_ERR_FORMAT, "expected %s, got %s", what, describe(cur(P), b));
}

static int expect_op(parser *P, int op, const char *what) {
    if (!is_op(P, op)) return unexpected(P, what);
    adv(P);
    return 0;
}

static int expect_block_end(parser *P) {
    if (cur(P)->type != T_BLOCK_END) return unexpected(P, "end of statement block '%}'");
    adv(P);
    return 0;
}

static const char *arena_str(parser *P, const char *s, size_t n) {
    char *p = jarena_alloc(P->t, n + 1);
    if (!p) {
        nomem(P);
        return NULL;
    }
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static jnode *mknode(parser *P, int kind, int line) {
    jnode *n = jarena_alloc(P->t, sizeof *n);
    if (!n) {
        nomem(P);
        return NULL;
    }
    n->kind = (uint8_t)kind;
    n->line = line;
    n->id = -1;
    return n;
}

static int vpush(parser *P, nvec *v, jnode *n) {
    if (!n) return -1;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 4;
        jnode **g = jarena_alloc(P->t, cap * sizeof *g);
        if (!g) return nomem(P);
        if (v->n) memcpy(g, v->v, v->n * sizeof *g);
        v->v = g;
        v->cap = cap;
    }
    v->v[v->n++] = n;
    return 0;
}

static int enter(parser *P) {
    if (++P->depth > JINJA_MAX_PARSE_DEPTH)
        return pfail(P, cur(P)->line, LAIR_ERR_LIMIT, "template nested more than %d levels deep", JINJA_MAX_PARSE_DEPTH);
    return 0;
}
static void leave(parser *P) { P->depth--; }

static jnode *mkconst_str(parser *P, const char *s, size_t n, int line) {
    jnode *k = mknode(P, N_CONST, line);
    if (!k) return NULL;
    jstr *js = jarena_alloc(P->t, sizeof(jstr) + n + 1);
    if (!js) {
        nomem(P);
        return NULL;
    }
    js->h.rc = -1;
    js->len = n;
    memcpy(js->s, s, n);
    js->s[n] = '\0';
    k->val = jv_strv(js, 0);
    return k;
}

/* ---- expressions -------------------------------------------------------------- */

static jnode *parse_expression(parser *P, bool with_condexpr);
static jnode *parse_tuple(parser *P, bool simplified, bool with_condexpr, const char *extra_end, bool explicit_paren);
static jnode *parse_unary(parser *P, bool with_filter);
static jnode *parse_primary(parser *P);
static jnode *parse_postfix(parser *P, jnode *node);

static bool is_tuple_end(parser *P, const char *extra_end) {
    jtok *k = cur(P);
    if (k->type == T_VAR_END || k->type == T_BLOCK_END || (k->type == T_OP && k->op == OP_RPAREN)) return true;
    return extra_end && tok_is_name(k, extra_end);
}

/* (args, kwargs) after '(' is current. */
static int parse_call_args(parser *P, jnode *n) {
    nvec args = {0}, kwv = {0};
    const char **kwn = NULL;
    size_t kwcap = 0;
    int line = cur(P)->line;
    if (expect_op(P, OP_LPAREN, "'('")) return -1;
    bool need_comma = false;
    while (!is_op(P, OP_RPAREN)) {
        if (cur(P)->type == T_EOF) return unexpected(P, "')'");
        if (need_comma) {
            if (expect_op(P, OP_COMMA, "','")) return -1;
            if (is_op(P, OP_RPAREN)) break;
        }
        if (is_op(P, OP_MUL) || is_op(P, OP_POW))
            return pfail(P, line, LAIR_ERR_UNSUPPORTED, "*args and **kwargs in calls are not supported");
        if (cur(P)->type == T_NAME && peek(P, 1)->type == T_OP && peek(P, 1)->op == OP_ASSIGN) {
            const char *name = arena_str(P, cur(P)->p, cur(P)->len);
            if (!name) return -1;
            adv(P);
            adv(P);
            jnode *v = parse_expression(P, true);
            if (!v || vpush(P, &kwv, v)) return -1;
            if (kwv.n > kwcap) {
                size_t cap = kwcap ? kwcap * 2 : 4;
                const char **g = jarena_alloc(P->t, cap * sizeof *g);
                if (!g) return nomem(P);
                if (kwcap) memcpy(g, kwn, (kwv.n - 1) * sizeof *g);
                kwn = g;
                kwcap = cap;
            }
            kwn[kwv.n - 1] = name;
        } else {
            if (kwv.n) return pfail(P, line, LAIR_ERR_FORMAT, "invalid syntax for function call expression (positional argument after keyword argument)");
            jnode *v = parse_expression(P, true);
            if (!v || vpush(P, &args, v)) return -1;
        }
        need_comma = true;
    }
    adv(P);
    n->list = args.v;
    n->n = (uint32_t)args.n;
    n->kwv = kwv.v;
    n->kwn = kwn;
    n->nkw = (uint32_t)kwv.n;
    return 0;
}

static const char *parse_dotted_name(parser *P) {
    if (cur(P)->type != T_NAME) {
        unexpected(P, "a name");
        return NULL;
    }
    const char *start = cur(P)->p;
    const char *end = cur(P)->p + cur(P)->len;
    adv(P);
    /* jinja2 allows dotted filter/test names ("|foo.bar"); no such filter exists here */
    while (is_op(P, OP_DOT) && peek(P, 1)->type == T_NAME) {
        adv(P);
        end = cur(P)->p + cur(P)->len;
        adv(P);
    }
    return arena_str(P, start, (size_t)(end - start));
}

/* One or more "|name(args)" applied to node (NULL for filter blocks / set blocks). */
static jnode *parse_filter(parser *P, jnode *node, bool start_inline) {
    while (is_op(P, OP_PIPE) || start_inline) {
        if (!start_inline) adv(P);
        int line = cur(P)->line;
        const char *name = parse_dotted_name(P);
        if (!name) return NULL;
        jnode *f = mknode(P, N_FILTER, line);
        if (!f) return NULL;
        f->a = node;
        f->name = name;
        f->id = jinja_filter_id(name);
        if (f->id < 0 && !P->soft) {
            pfail(P, line, LAIR_ERR_FORMAT, "unknown filter '%s'", name);
            return NULL;
        }
        if (is_op(P, OP_LPAREN) && parse_call_args(P, f)) return NULL;
        node = f;
        start_inline = false;
    }
    return node;
}

static jnode *parse_test(parser *P, jnode *node) {
    int line = cur(P)->line;
    adv(P); /* is */
    bool negated = false;
    if (is_name(P, "not")) {
        adv(P);
        negated = true;
    }
    const char *name = parse_dotted_name(P);
    if (!name) return NULL;
    jnode *t = mknode(P, N_TEST, line);
    if (!t) return NULL;
    t->a = node;
    t->name = name;
    t->id = jinja_test_id(name);
    if (t->id < 0 && !P->soft) {
        pfail(P, line, LAIR_ERR_FORMAT, "unknown test '%s'", name);
        return NULL;
    }
    jtok *k = cur(P);
    if (is_op(P, OP_LPAREN)) {
        if (parse_call_args(P, t)) return NULL;
    } else if ((k->type == T_NAME || k->type == T_STRING || k->type == T_INT || k->type == T_FLOAT ||
                (k->type == T_OP && (k->op == OP_LPAREN || k->op == OP_LBRACKET || k->op == OP_LBRACE))) &&
               !tok_is_name(k, "else") && !tok_is_name(k, "or") && !tok_is_name(k, "and")) {
        if (tok_is_name(k, "is")) {
            pfail(P, k->line, LAIR_ERR_FORMAT, "you cannot chain multiple tests with is");
            return NULL;
        }
        jnode *arg = parse_primary(P);
        if (arg) arg = parse_postfix(P, arg);
        if (!arg) return NULL;
        t->list = jarena_alloc(P->t, sizeof(jnode *));
        if (!t->list) {
            nomem(P);
            return NULL;
        }
        t->list[0] = arg;
        t->n = 1;
    }
    if (!negated) return t;
    jnode *n = mknode(P, N_NOT, line);
    if (n) n->a = t;
    return n;
}

static jnode *parse_subscribed(parser *P) {
    int line = cur(P)->line;
    jnode *args[3] = {NULL, NULL, NULL};
    if (is_op(P, OP_COLON)) {
        adv(P);
    } else {
        jnode *e = parse_expression(P, true);
        if (!e) return NULL;
        if (!is_op(P, OP_COLON)) return e;
        adv(P);
        args[0] = e;
    }
    if (!is_op(P, OP_COLON) && !is_op(P, OP_RBRACKET) && !is_op(P, OP_COMMA)) {
        args[1] = parse_expression(P, true);
        if (!args[1]) return NULL;
    }
    if (is_op(P, OP_COLON)) {
        adv(P);
        if (!is_op(P, OP_RBRACKET) && !is_op(P, OP_COMMA)) {
            args[2] = parse_expression(P, true);
            if (!args[2]) return NULL;
        }
    }
    jnode *s = mknode(P, N_SLICE, line);
    if (!s) return NULL;
    s->a = args[0];
    s->b = args[1];
    s->c = args[2];
    return s;
}

static jnode *parse_subscript(parser *P, jnode *node) {
    jtok *k = cur(P);
    int line = k->line;
    adv(P);
    if (k->op == OP_DOT) {
        jtok *a = cur(P);
        if (a->type == T_NAME) {
            jnode *g = mknode(P, N_GETATTR, line);
            if (!g) return NULL;
            g->a = node;
            g->name = arena_str(P, a->p, a->len);
            if (!g->name) return NULL;
            adv(P);
            return g;
        }
        if (a->type != T_INT) {
            unexpected(P, "name or number");
            return NULL;
        }
        jnode *c = mknode(P, N_CONST, a->line);
        if (!c) return NULL;
        c->val = jv_int(a->ival);
        adv(P);
        jnode *g = mknode(P, N_GETITEM, line);
        if (!g) return NULL;
        g->a = node;
        g->b = c;
        return g;
    }
    nvec args = {0};
    while (!is_op(P, OP_RBRACKET)) {
        if (cur(P)->type == T_EOF) {
            unexpected(P, "']'");
            return NULL;
        }
        if (args.n && expect_op(P, OP_COMMA, "','")) return NULL;
        if (vpush(P, &args, parse_subscribed(P))) return NULL;
    }
    adv(P);
    if (args.n == 0) {
        pfail(P, line, LAIR_ERR_FORMAT, "expected subscript expression");
        return NULL;
    }
    jnode *g = mknode(P, N_GETITEM, line);
    if (!g) return NULL;
    g->a = node;
    if (args.n == 1) {
        g->b = args.v[0];
    } else {
        jnode *t = mknode(P, N_TUPLE, line);
        if (!t) return NULL;
        t->list = args.v;
        t->n = (uint32_t)args.n;
        g->b = t;
    }
    return g;
}

static jnode *parse_call(parser *P, jnode *node) {
    jnode *c = mknode(P, N_CALL, cur(P)->line);
    if (!c) return NULL;
    c->a = node;
    if (parse_call_args(P, c)) return NULL;
    return c;
}

static jnode *parse_postfix(parser *P, jnode *node) {
    while (node) {
        if (is_op(P, OP_DOT) || is_op(P, OP_LBRACKET)) node = parse_subscript(P, node);
        else if (is_op(P, OP_LPAREN)) node = parse_call(P, node);
        else break;
    }
    return node;
}

static jnode *parse_filter_expr(parser *P, jnode *node) {
    while (node) {
        if (is_op(P, OP_PIPE)) node = parse_filter(P, node, false);
        else if (is_name(P, "is")) node = parse_test(P, node);
        else if (is_op(P, OP_LPAREN)) node = parse_call(P, node);
        else break;
    }
    return node;
}

static jnode *parse_list_or_dict(parser *P, bool dict) {
    int line = cur(P)->line;
    adv(P);
    int close = dict ? OP_RBRACE : OP_RBRACKET;
    nvec items = {0};
    while (!is_op(P, close)) {
        if (cur(P)->type == T_EOF) {
            unexpected(P, dict ? "'}'" : "']'");
            return NULL;
        }
        if (items.n && expect_op(P, OP_COMMA, "','")) return NULL;
        if (is_op(P, close)) break;
        if (vpush(P, &items, parse_expression(P, true))) return NULL;
        if (dict) {
            if (expect_op(P, OP_COLON, "':'")) return NULL;
            if (vpush(P, &items, parse_expression(P, true))) return NULL;
        }
    }
    adv(P);
    jnode *n = mknode(P, dict ? N_DICT : N_LIST, line);
    if (!n) return NULL;
    n->list = items.v;
    n->n = (uint32_t)items.n;
    return n;
}

static jnode *parse_primary(parser *P) {
    if (enter(P)) return NULL;
    jtok *k = cur(P);
    jnode *n = NULL;
    switch (k->type) {
    case T_NAME:
        if (tok_is_name(k, "true") || tok_is_name(k, "True") || tok_is_name(k, "false") || tok_is_name(k, "False")) {
            n = mknode(P, N_CONST, k->line);
            if (n) n->val = jv_bool(k->p[0] == 't' || k->p[0] == 'T');
        } else if (tok_is_name(k, "none") || tok_is_name(k, "None")) {
            n = mknode(P, N_CONST, k->line);
            if (n) n->val = jv_none();
        } else {
            n = mknode(P, N_NAME, k->line);
            if (n && !(n->name = arena_str(P, k->p, k->len))) n = NULL;
        }
        adv(P);
        break;
    case T_STRING: {
        int line = k->line;
        size_t total = 0, j = P->i;
        while (P->tk[j].type == T_STRING) total += P->tk[j++].len;
        char *buf = jarena_alloc(P->t, total + 1);
        if (!buf) {
            nomem(P);
            break;
        }
        size_t o = 0;
        while (cur(P)->type == T_STRING) {
            memcpy(buf + o, cur(P)->p, cur(P)->len);
            o += cur(P)->len;
            adv(P);
        }
        n = mkconst_str(P, buf, o, line);
        break;
    }
    case T_INT:
    case T_FLOAT:
        n = mknode(P, N_CONST, k->line);
        if (n) n->val = k->type == T_INT ? jv_int(k->ival) : jv_float(k->fval);
        adv(P);
        break;
    case T_OP:
        if (k->op == OP_LPAREN) {
            adv(P);
            n = parse_tuple(P, false, true, NULL, true);
            if (n && expect_op(P, OP_RPAREN, "')'")) n = NULL;
            break;
        }
        if (k->op == OP_LBRACKET || k->op == OP_LBRACE) {
            n = parse_list_or_dict(P, k->op == OP_LBRACE);
            break;
        }
        /* fall through */
    default: {
        char b[64];
        pfail(P, k->line, LAIR_ERR_FORMAT, "unexpected %s", describe(k, b));
        break;
    }
    }
    leave(P);
    return n;
}

static jnode *parse_unary(parser *P, bool with_filter) {
    if (enter(P)) return NULL;
    jnode *node;
    int line = cur(P)->line;
    if (is_op(P, OP_SUB) || is_op(P, OP_ADD)) {
        int kind = is_op(P, OP_SUB) ? N_NEG : N_POS;
        adv(P);
        jnode *operand = parse_unary(P, false);
        node = operand ? mknode(P, kind, line) : NULL;
        if (node) node->a = operand;
    } else {
        node = parse_primary(P);
    }
    node = parse_postfix(P, node);
    if (with_filter) node = parse_filter_expr(P, node);
    leave(P);
    return node;
}

static jnode *binop(parser *P, int op, jnode *l, jnode *r, int line) {
    if (!l || !r) return NULL;
    jnode *n = mknode(P, N_BINOP, line);
    if (!n) return NULL;
    n->op = (uint8_t)op;
    n->a = l;
    n->b = r;
    return n;
}

static jnode *parse_pow(parser *P) {
    jnode *l = parse_unary(P, true);
    while (l && is_op(P, OP_POW)) {
        int line = cur(P)->line;
        adv(P);
        l = binop(P, OP_POW, l, parse_unary(P, true), line);
    }
    return l;
}

static jnode *parse_math2(parser *P) {
    jnode *l = parse_pow(P);
    while (l && (is_op(P, OP_MUL) || is_op(P, OP_DIV) || is_op(P, OP_FLOORDIV) || is_op(P, OP_MOD))) {
        int op = cur(P)->op, line = cur(P)->line;
        adv(P);
        l = binop(P, op, l, parse_pow(P), line);
    }
    return l;
}

static jnode *parse_concat(parser *P) {
    int line = cur(P)->line;
    jnode *first = parse_math2(P);
    if (!first || !is_op(P, OP_TILDE)) return first;
    nvec args = {0};
    if (vpush(P, &args, first)) return NULL;
    while (is_op(P, OP_TILDE)) {
        adv(P);
        if (vpush(P, &args, parse_math2(P))) return NULL;
    }
    jnode *n = mknode(P, N_CONCAT, line);
    if (!n) return NULL;
    n->list = args.v;
    n->n = (uint32_t)args.n;
    return n;
}

static jnode *parse_math1(parser *P) {
    jnode *l = parse_concat(P);
    while (l && (is_op(P, OP_ADD) || is_op(P, OP_SUB))) {
        int op = cur(P)->op, line = cur(P)->line;
        adv(P);
        l = binop(P, op, l, parse_concat(P), line);
    }
    return l;
}

static jnode *parse_compare(parser *P) {
    int line = cur(P)->line;
    jnode *expr = parse_math1(P);
    if (!expr) return NULL;
    nvec operands = {0};
    uint8_t opsbuf[64];
    size_t nops = 0;
    for (;;) {
        int op;
        jtok *k = cur(P);
        if (k->type == T_OP && (k->op == OP_EQ || k->op == OP_NE || k->op == OP_LT || k->op == OP_LTEQ ||
                                k->op == OP_GT || k->op == OP_GTEQ)) {
            op = k->op;
            adv(P);
        } else if (tok_is_name(k, "in")) {
            op = OP_IN;
            adv(P);
        } else if (tok_is_name(k, "not") && tok_is_name(peek(P, 1), "in")) {
            op = OP_NOTIN;
            adv(P);
            adv(P);
        } else {
            break;
        }
        if (nops == sizeof opsbuf) {
            pfail(P, line, LAIR_ERR_LIMIT, "too many chained comparisons");
            return NULL;
        }
        opsbuf[nops++] = (uint8_t)op;
        if (vpush(P, &operands, parse_math1(P))) return NULL;
    }
    if (!nops) return expr;
    jnode *n = mknode(P, N_COMPARE, line);
    if (!n) return NULL;
    n->a = expr;
    n->list = operands.v;
    n->n = (uint32_t)operands.n;
    n->ops = jarena_alloc(P->t, nops);
    if (!n->ops) {
        nomem(P);
        return NULL;
    }
    memcpy(n->ops, opsbuf, nops);
    return n;
}

static jnode *parse_not(parser *P) {
    if (is_name(P, "not")) {
        int line = cur(P)->line;
        if (enter(P)) return NULL;
        adv(P);
        jnode *operand = parse_not(P);
        leave(P);
        jnode *n = operand ? mknode(P, N_NOT, line) : NULL;
        if (n) n->a = operand;
        return n;
    }
    return parse_compare(P);
}

static jnode *parse_and(parser *P) {
    jnode *l = parse_not(P);
    while (l && is_name(P, "and")) {
        int line = cur(P)->line;
        adv(P);
        jnode *r = parse_not(P);
        jnode *n = r ? mknode(P, N_AND, line) : NULL;
        if (n) {
            n->a = l;
            n->b = r;
        }
        l = n;
    }
    return l;
}

static jnode *parse_or(parser *P) {
    jnode *l = parse_and(P);
    while (l && is_name(P, "or")) {
        int line = cur(P)->line;
        adv(P);
        jnode *r = parse_and(P);
        jnode *n = r ? mknode(P, N_OR, line) : NULL;
        if (n) {
            n->a = l;
            n->b = r;
        }
        l = n;
    }
    return l;
}

static jnode *parse_condexpr(parser *P) {
    int line = cur(P)->line;
    jnode *e1 = parse_or(P);
    while (e1 && is_name(P, "if")) {
        adv(P);
        bool soft = P->soft;
        P->soft = true;
        jnode *e2 = parse_or(P), *e3 = NULL;
        if (e2 && is_name(P, "else")) {
            adv(P);
            e3 = parse_condexpr(P);
            if (!e3) e2 = NULL;
        }
        P->soft = soft;
        jnode *n = e2 ? mknode(P, N_COND, line) : NULL;
        if (n) {
            n->a = e2;
            n->b = e1;
            n->c = e3;
        }
        e1 = n;
        line = cur(P)->line;
    }
    return e1;
}

static jnode *parse_expression(parser *P, bool with_condexpr) {
    if (enter(P)) return NULL;
    jnode *n = with_condexpr ? parse_condexpr(P) : parse_or(P);
    leave(P);
    return n;
}

static jnode *parse_tuple(parser *P, bool simplified, bool with_condexpr, const char *extra_end, bool explicit_paren) {
    int line = cur(P)->line;
    nvec args = {0};
    bool is_tuple = false;
    for (;;) {
        if (args.n && expect_op(P, OP_COMMA, "','")) return NULL;
        if (is_tuple_end(P, extra_end)) break;
        jnode *e = simplified ? parse_primary(P) : parse_expression(P, with_condexpr);
        if (vpush(P, &args, e)) return NULL;
        if (is_op(P, OP_COMMA)) is_tuple = true;
        else break;
    }
    if (!is_tuple) {
        if (args.n) return args.v[0];
        if (!explicit_paren) {
            unexpected(P, "an expression");
            return NULL;
        }
    }
    jnode *t = mknode(P, N_TUPLE, line);
    if (!t) return NULL;
    t->list = args.v;
    t->n = (uint32_t)args.n;
    return t;
}

/* ---- statements ----------------------------------------------------------------- */

static jnode *parse_body(parser *P, const char *const *ends, size_t nends);
static jnode *parse_statement(parser *P);

/* Consumes "{% name" for an end/else tag the body stopped at. */
static void take_tag(parser *P) {
    adv(P); /* {% */
    adv(P); /* name */
}

static int close_tag(parser *P, const char *name) {
    if (cur(P)->type != T_BLOCK_BEGIN || !tok_is_name(peek(P, 1), name)) {
        if (cur(P)->type == T_EOF)
            return pfail(P, cur(P)->line, LAIR_ERR_FORMAT, "unexpected end of template: missing '{%% %s %%}'", name);
        return unexpected(P, name);
    }
    take_tag(P);
    return expect_block_end(P);
}

/* Fails unless the body ended at one of the expected tags. */
static int body_end_check(parser *P, const char *const *ends, size_t nends, const char *opener, int line) {
    if (cur(P)->type != T_EOF) return 0;
    char want[160] = "";
    for (size_t i = 0; i < nends; i++) {
        size_t l = strlen(want);
        snprintf(want + l, sizeof want - l, "%s'%s'", i ? " or " : "", ends[i]);
    }
    return pfail(P, line, LAIR_ERR_FORMAT, "unexpected end of template: '%s' is never closed (expected %s)", opener, want);
}

static bool can_assign(const jnode *n) {
    if (n->kind == N_NAME) return true;
    if (n->kind != N_TUPLE) return false;
    for (uint32_t i = 0; i < n->n; i++)
        if (!can_assign(n->list[i])) return false;
    return true;
}

static jnode *parse_assign_target(parser *P, const char *extra_end, bool with_namespace) {
    int line = cur(P)->line;
    if (with_namespace && cur(P)->type == T_NAME && peek(P, 1)->type == T_OP && peek(P, 1)->op == OP_DOT) {
        jnode *n = mknode(P, N_NSREF, line);
        if (!n || !(n->name = arena_str(P, cur(P)->p, cur(P)->len))) return NULL;
        adv(P);
        adv(P);
        if (cur(P)->type != T_NAME) {
            unexpected(P, "attribute name");
            return NULL;
        }
        if (!(n->attr = arena_str(P, cur(P)->p, cur(P)->len))) return NULL;
        adv(P);
        return n;
    }
    jnode *t = parse_tuple(P, true, true, extra_end, false);
    if (!t) return NULL;
    if (!can_assign(t)) {
        pfail(P, line, LAIR_ERR_FORMAT, "can't assign to this expression");
        return NULL;
    }
    return t;
}

static const char *const ENDS_FOR[] = {"endfor", "else"};
static const char *const ENDS_ENDFOR[] = {"endfor"};
static const char *const ENDS_IF[] = {"elif", "else", "endif"};
static const char *const ENDS_ENDIF[] = {"endif"};

static jnode *parse_for(parser *P, int line) {
    jnode *n = mknode(P, N_FOR, line);
    if (!n) return NULL;
    if (!(n->a = parse_assign_target(P, "in", false))) return NULL;
    if (!is_name(P, "in")) {
        unexpected(P, "'in'");
        return NULL;
    }
    adv(P);
    if (!(n->b = parse_tuple(P, false, false, "recursive", false))) return NULL;
    if (is_name(P, "if")) {
        adv(P);
        if (!(n->e = parse_expression(P, true))) return NULL;
    }
    if (is_name(P, "recursive")) {
        adv(P);
        n->flags |= NF_RECURSIVE;
    }
    if (expect_block_end(P)) return NULL;
    P->loop_depth++;
    bool soft = P->soft;
    P->soft = false;
    n->c = parse_body(P, ENDS_FOR, 2);
    P->loop_depth--;
    if (!n->c || body_end_check(P, ENDS_FOR, 2, "for", line)) return NULL;
    if (tok_is_name(peek(P, 1), "else")) {
        take_tag(P);
        if (expect_block_end(P)) return NULL;
        n->d = parse_body(P, ENDS_ENDFOR, 1);
        if (!n->d || body_end_check(P, ENDS_ENDFOR, 1, "for", line)) return NULL;
    }
    P->soft = soft;
    if (close_tag(P, "endfor")) return NULL;
    return n;
}

static jnode *parse_if(parser *P, int line) {
    jnode *top = mknode(P, N_IF, line), *node = top;
    if (!top) return NULL;
    bool soft = P->soft;
    P->soft = true;
    for (;;) {
        if (!(node->a = parse_tuple(P, false, false, NULL, false))) return NULL;
        if (expect_block_end(P)) return NULL;
        if (!(node->b = parse_body(P, ENDS_IF, 3))) return NULL;
        if (body_end_check(P, ENDS_IF, 3, "if", line)) return NULL;
        if (tok_is_name(peek(P, 1), "elif")) {
            int l2 = peek(P, 1)->line;
            take_tag(P);
            jnode *e = mknode(P, N_IF, l2);
            if (!e) return NULL;
            node->c = e;
            node = e;
            continue;
        }
        if (tok_is_name(peek(P, 1), "else")) {
            take_tag(P);
            if (expect_block_end(P)) return NULL;
            if (!(node->c = parse_body(P, ENDS_ENDIF, 1))) return NULL;
            if (body_end_check(P, ENDS_ENDIF, 1, "if", line)) return NULL;
        }
        break;
    }
    P->soft = soft;
    if (close_tag(P, "endif")) return NULL;
    return top;
}

static const char *const ENDS_SET[] = {"endset"};

static jnode *parse_set(parser *P, int line) {
    jnode *target = parse_assign_target(P, NULL, true);
    if (!target) return NULL;
    if (is_op(P, OP_ASSIGN)) {
        adv(P);
        jnode *n = mknode(P, N_SET, line);
        if (!n) return NULL;
        n->a = target;
        if (!(n->b = parse_tuple(P, false, true, NULL, false))) return NULL;
        if (expect_block_end(P)) return NULL;
        return n;
    }
    jnode *n = mknode(P, N_SETBLK, line);
    if (!n) return NULL;
    n->a = target;
    if (is_op(P, OP_PIPE) && !(n->c = parse_filter(P, NULL, false))) return NULL;
    if (expect_block_end(P)) return NULL;
    bool soft = P->soft;
    P->soft = false;
    n->b = parse_body(P, ENDS_SET, 1);
    P->soft = soft;
    if (!n->b || body_end_check(P, ENDS_SET, 1, "set", line)) return NULL;
    if (close_tag(P, "endset")) return NULL;
    return n;
}

/* "(a, b=1, ...)" into n->list (names) and n->kwv (defaults, NULL = none). */
static int parse_signature(parser *P, jnode *n) {
    nvec params = {0}, defs = {0};
    if (expect_op(P, OP_LPAREN, "'('")) return -1;
    bool any_default = false;
    while (!is_op(P, OP_RPAREN)) {
        if (params.n && expect_op(P, OP_COMMA, "','")) return -1;
        if (cur(P)->type != T_NAME) return unexpected(P, "parameter name");
        jnode *p = mknode(P, N_NAME, cur(P)->line);
        if (!p || !(p->name = arena_str(P, cur(P)->p, cur(P)->len))) return -1;
        adv(P);
        jnode *def = NULL;
        if (is_op(P, OP_ASSIGN)) {
            adv(P);
            if (!(def = parse_expression(P, true))) return -1;
            any_default = true;
        } else if (any_default) {
            return pfail(P, p->line, LAIR_ERR_FORMAT, "non-default argument follows default argument");
        }
        if (vpush(P, &params, p)) return -1;
        if (defs.n == defs.cap) {
            size_t cap = defs.cap ? defs.cap * 2 : 4;
            jnode **g = jarena_alloc(P->t, cap * sizeof *g);
            if (!g) return nomem(P);
            if (defs.n) memcpy(g, defs.v, defs.n * sizeof *g);
            defs.v = g;
            defs.cap = cap;
        }
        defs.v[defs.n++] = def;
    }
    adv(P);
    n->list = params.v;
    n->n = (uint32_t)params.n;
    n->kwv = defs.v;
    n->nkw = (uint32_t)defs.n;
    return 0;
}

/* Which of caller / varargs / kwargs a macro body uses (NF_* bits).  Operator
 * and filter chains make the tree deeper than the parser's recursion: past
 * JINJA_MAX_CDEPTH levels *too_deep is set (evaluating it would fail anyway). */
static int names_used(const jnode *n, int depth, bool *too_deep) {
    if (!n || *too_deep) return 0;
    if (depth > JINJA_MAX_CDEPTH) {
        *too_deep = true;
        return 0;
    }
    int used = 0;
    if (n->kind == N_NAME) {
        if (!strcmp(n->name, "caller")) used |= NF_CALLER;
        else if (!strcmp(n->name, "varargs")) used |= NF_VARARGS;
        else if (!strcmp(n->name, "kwargs")) used |= NF_KWARGS;
    }
    /* a nested macro / call block was scanned when it was parsed: its body's result is in op */
    bool nested = n->kind == N_MACRO || n->kind == N_CALLBLK;
    if (nested) used |= n->op;
    const jnode *kids[5] = {n->a, nested ? NULL : n->b, n->c, n->d, n->e};
    for (int i = 0; i < 5; i++) used |= names_used(kids[i], depth + 1, too_deep);
    if (n->kind != N_MACRO && n->kind != N_CALLBLK) /* their list holds parameter names */
        for (uint32_t i = 0; i < n->n; i++) used |= names_used(n->list[i], depth + 1, too_deep);
    for (uint32_t i = 0; i < n->nkw; i++) used |= names_used(n->kwv[i], depth + 1, too_deep);
    return used;
}

static int mark_specials(parser *P, jnode *n) {
    bool declared_caller = false, deep = false;
    for (uint32_t i = 0; i < n->n; i++)
        if (strcmp(n->list[i]->name, "caller") == 0) declared_caller = true;
    int used = names_used(n->b, 0, &deep);
    n->op = (uint8_t)used; /* for enclosing macros (jinja2 counts names used by nested macros too) */
    if (declared_caller) used &= ~NF_CALLER;
    n->flags |= (uint8_t)used;
    if (deep) return pfail(P, n->line, LAIR_ERR_LIMIT, "template nested more than %d levels deep", JINJA_MAX_CDEPTH);
    return 0;
}

static const char *const ENDS_MACRO[] = {"endmacro"};
static const char *const ENDS_CALL[] = {"endcall"};
static const char *const ENDS_FILTER[] = {"endfilter"};
static const char *const ENDS_WITH[] = {"endwith"};
static const char *const ENDS_BLOCK[] = {"endblock"};

static jnode *parse_scoped_body(parser *P, jnode *n, const char *const *ends, const char *opener, int line) {
    bool soft = P->soft;
    int loops = P->loop_depth;
    P->soft = false;
    if (n->kind == N_MACRO || n->kind == N_CALLBLK) P->loop_depth = 0;
    n->b = parse_body(P, ends, 1);
    P->soft = soft;
    P->loop_depth = loops;
    if (!n->b || body_end_check(P, ends, 1, opener, line)) return NULL;
    if (close_tag(P, ends[0])) return NULL;
    return n;
}

static jnode *parse_macro(parser *P, int line) {
    jnode *n = mknode(P, N_MACRO, line);
    if (!n) return NULL;
    if (cur(P)->type != T_NAME) {
        unexpected(P, "macro name");
        return NULL;
    }
    if (!(n->name = arena_str(P, cur(P)->p, cur(P)->len))) return NULL;
    adv(P);
    if (parse_signature(P, n) || expect_block_end(P)) return NULL;
    if (!parse_scoped_body(P, n, ENDS_MACRO, "macro", line) || mark_specials(P, n)) return NULL;
    return n;
}

static jnode *parse_call_block(parser *P, int line) {
    jnode *n = mknode(P, N_CALLBLK, line);
    if (!n) return NULL;
    if (is_op(P, OP_LPAREN) && parse_signature(P, n)) return NULL;
    if (!(n->a = parse_expression(P, true))) return NULL;
    if (n->a->kind != N_CALL) {
        pfail(P, line, LAIR_ERR_FORMAT, "expected a call after 'call'");
        return NULL;
    }
    if (expect_block_end(P)) return NULL;
    if (!parse_scoped_body(P, n, ENDS_CALL, "call", line) || mark_specials(P, n)) return NULL;
    return n;
}

static jnode *parse_filter_block(parser *P, int line) {
    jnode *n = mknode(P, N_FILTBLK, line);
    if (!n) return NULL;
    if (!(n->c = parse_filter(P, NULL, true))) return NULL;
    if (expect_block_end(P)) return NULL;
    return parse_scoped_body(P, n, ENDS_FILTER, "filter", line);
}

static jnode *parse_with(parser *P, int line) {
    jnode *n = mknode(P, N_WITH, line);
    if (!n) return NULL;
    nvec targets = {0}, values = {0};
    while (cur(P)->type != T_BLOCK_END) {
        if (targets.n && expect_op(P, OP_COMMA, "','")) return NULL;
        jnode *t = parse_assign_target(P, NULL, false);
        if (vpush(P, &targets, t)) return NULL;
        if (expect_op(P, OP_ASSIGN, "'='")) return NULL;
        if (vpush(P, &values, parse_expression(P, true))) return NULL;
    }
    adv(P);
    n->list = targets.v;
    n->n = (uint32_t)targets.n;
    n->kwv = values.v;
    n->nkw = (uint32_t)values.n;
    return parse_scoped_body(P, n, ENDS_WITH, "with", line) ? n : NULL;
}

static jnode *parse_block(parser *P, int line) {
    jnode *n = mknode(P, N_BLOCK, line);
    if (!n) return NULL;
    if (cur(P)->type != T_NAME) {
        unexpected(P, "block name");
        return NULL;
    }
    if (!(n->name = arena_str(P, cur(P)->p, cur(P)->len))) return NULL;
    adv(P);
    while (is_name(P, "scoped") || is_name(P, "required")) adv(P);
    if (expect_block_end(P)) return NULL;
    bool soft = P->soft;
    P->soft = false;
    n->b = parse_body(P, ENDS_BLOCK, 1);
    P->soft = soft;
    if (!n->b || body_end_check(P, ENDS_BLOCK, 1, "block", line)) return NULL;
    if (cur(P)->type != T_BLOCK_BEGIN || !tok_is_name(peek(P, 1), "endblock")) {
        unexpected(P, "'endblock'");
        return NULL;
    }
    take_tag(P);
    if (cur(P)->type == T_NAME) adv(P);
    if (expect_block_end(P)) return NULL;
    return n;
}

static jnode *parse_print_stmt(parser *P, int line) {
    jnode *body = mknode(P, N_BODY, line);
    nvec items = {0};
    if (!body) return NULL;
    while (cur(P)->type != T_BLOCK_END) {
        if (items.n && expect_op(P, OP_COMMA, "','")) return NULL;
        jnode *e = parse_expression(P, true);
        jnode *p = e ? mknode(P, N_PRINT, line) : NULL;
        if (!p) return NULL;
        p->a = e;
        if (vpush(P, &items, p)) return NULL;
    }
    adv(P);
    body->list = items.v;
    body->n = (uint32_t)items.n;
    return body;
}

/* "{% generation %}...{% endgeneration %}": HF transformers' AssistantTracker
 * extension marks assistant text for training masks; rendering just runs the
 * body (in its own scope, as the extension's caller does). */
static const char *const ENDS_GENERATION[] = {"endgeneration"};

static jnode *parse_generation(parser *P, int line) {
    jnode *n = mknode(P, N_BLOCK, line);
    if (!n || expect_block_end(P)) return NULL;
    n->name = "generation";
    return parse_scoped_body(P, n, ENDS_GENERATION, "generation", line);
}

/* Current token is the tag name after "{%". */
static jnode *parse_statement(parser *P) {
    jtok *k = cur(P);
    int line = k->line;
    if (k->type != T_NAME) {
        char b[64];
        pfail(P, line, LAIR_ERR_FORMAT, "tag name expected, got %s", describe(k, b));
        return NULL;
    }
    if (enter(P)) return NULL;
    char name[32];
    snprintf(name, sizeof name, "%.*s", (int)(k->len < 31 ? k->len : 31), k->p);
    adv(P);
    jnode *n = NULL;
    if (!strcmp(name, "for")) n = parse_for(P, line);
    else if (!strcmp(name, "if")) n = parse_if(P, line);
    else if (!strcmp(name, "set")) n = parse_set(P, line);
    else if (!strcmp(name, "macro")) n = parse_macro(P, line);
    else if (!strcmp(name, "call")) n = parse_call_block(P, line);
    else if (!strcmp(name, "filter")) n = parse_filter_block(P, line);
    else if (!strcmp(name, "with")) n = parse_with(P, line);
    else if (!strcmp(name, "block")) n = parse_block(P, line);
    else if (!strcmp(name, "print")) n = parse_print_stmt(P, line);
    else if (!strcmp(name, "generation")) n = parse_generation(P, line);
    else if (!strcmp(name, "break") || !strcmp(name, "continue")) {
        if (P->loop_depth == 0) pfail(P, line, LAIR_ERR_FORMAT, "'%s' outside of a loop", name);
        else if ((n = mknode(P, name[0] == 'b' ? N_BREAK : N_CONTINUE, line)) && expect_block_end(P)) n = NULL;
    } else if (!strcmp(name, "include") || !strcmp(name, "import") || !strcmp(name, "from") ||
               !strcmp(name, "extends")) {
        pfail(P, line, LAIR_ERR_UNSUPPORTED, "'%s' is not supported: templates are sandboxed and cannot load other templates",
              name);
    } else if (!strcmp(name, "autoescape")) {
        pfail(P, line, LAIR_ERR_UNSUPPORTED, "'autoescape' blocks are not supported");
    } else {
        pfail(P, line, LAIR_ERR_FORMAT, "unknown tag '%s'", name);
    }
    leave(P);
    return n;
}

static jnode *parse_body(parser *P, const char *const *ends, size_t nends) {
    jnode *body = mknode(P, N_BODY, cur(P)->line);
    if (!body) return NULL;
    nvec items = {0};
    for (;;) {
        jtok *k = cur(P);
        if (k->type == T_EOF) break;
        if (k->type == T_DATA) {
            jnode *t = mknode(P, N_TEXT, k->line);
            if (!t) return NULL;
            t->text = k->p;
            t->tlen = k->len;
            if (vpush(P, &items, t)) return NULL;
            adv(P);
        } else if (k->type == T_VAR_BEGIN) {
            int line = k->line;
            adv(P);
            jnode *e = parse_tuple(P, false, true, NULL, false);
            if (!e) return NULL;
            if (cur(P)->type != T_VAR_END) {
                unexpected(P, "end of print statement '}}'");
                return NULL;
            }
            adv(P);
            jnode *p = mknode(P, N_PRINT, line);
            if (!p) return NULL;
            p->a = e;
            if (vpush(P, &items, p)) return NULL;
        } else if (k->type == T_BLOCK_BEGIN) {
            jtok *nm = peek(P, 1);
            bool is_end = false;
            for (size_t i = 0; i < nends; i++)
                if (tok_is_name(nm, ends[i])) is_end = true;
            if (is_end) break;
            adv(P);
            if (vpush(P, &items, parse_statement(P))) return NULL;
        } else {
            char b[64];
            pfail(P, k->line, LAIR_ERR_FORMAT, "unexpected %s", describe(k, b));
            return NULL;
        }
    }
    body->list = items.v;
    body->n = (uint32_t)items.n;
    return body;
}

/* ---- entry points ----------------------------------------------------------------- */

static bool utf8_valid(const char *s, size_t n, size_t *bad) {
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = u8_decode(s + i, n - i, &cp);
        if (cp == 0xFFFD && k == 1) {
            *bad = i;
            return false;
        }
        i += k;
    }
    return true;
}

lair_status lair_jinja_parse(const char *src, size_t len, lair_jinja **out, lair_err *err) {
    *out = NULL;
    if (!src && len) return lair_err_set(err, LAIR_ERR_ARG, "template: no source");
    if (len > JINJA_MAX_SOURCE)
        return lair_err_set(err, LAIR_ERR_LIMIT, "template: %zu bytes exceeds the limit of %u bytes", len, JINJA_MAX_SOURCE);
    size_t bad;
    if (!utf8_valid(src, len, &bad)) {
        int line = 1;
        for (size_t i = 0; i < bad; i++)
            if (src[i] == '\n') line++;
        return lair_err_set(err, LAIR_ERR_FORMAT, "template: line %d: invalid UTF-8 at byte %zu", line, bad);
    }
    lair_jinja *t = lair_calloc(1, sizeof *t);
    if (!t) return lair_err_set(err, LAIR_ERR_NOMEM, "template: out of memory");
    /* Normalize \r\n and \r to \n and drop one trailing newline. */
    char *s = jarena_alloc(t, len + 1);
    if (!s) {
        lair_jinja_free(t);
        return lair_err_set(err, LAIR_ERR_NOMEM, "template: out of memory");
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            s[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            s[n++] = src[i];
        }
    }
    if (n && s[n - 1] == '\n') n--;
    s[n] = '\0';

    jtok *toks = NULL;
    size_t ntoks = 0;
    lair_status st = jinja_lex(t, s, n, &toks, &ntoks, err);
    if (st) {
        lair_jinja_free(t);
        return st;
    }
    parser P = {.t = t, .tk = toks, .ntk = ntoks, .err = err};
    jnode *root = parse_body(&P, NULL, 0);
    if (root && cur(&P)->type != T_EOF && !P.st) {
        char b[64];
        pfail(&P, cur(&P)->line, LAIR_ERR_FORMAT, "unexpected %s", describe(cur(&P), b));
    }
    lair_free(toks);
    if (!root || P.st) {
        lair_jinja_free(t);
        return P.st ? P.st : LAIR_ERR_FORMAT;
    }
    t->root = root;
    *out = t;
    return LAIR_OK;
}

const char *lair_jinja_chatml_template(void) {
    return "{%- for message in messages %}"
           "{{- '<|im_start|>' ~ message['role'] ~ '\\n' }}"
           "{%- if message['content'] is string %}{{- message['content'] }}"
           "{%- elif message['content'] is iterable %}"
           "{%- for part in message['content'] %}{%- if part['type'] == 'text' %}{{- part['text'] }}{%- endif %}{%- endfor %}"
           "{%- endif %}"
           "{{- '<|im_end|>\\n' }}"
           "{%- endfor %}"
           "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";
}
