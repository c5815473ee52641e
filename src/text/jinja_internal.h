/* Internals of the template engine, shared by src/text/jinja_*.c.
 *
 *   jinja_lex.c      source -> tokens (whitespace control, trim/lstrip_blocks, raw)
 *   jinja_parse.c    tokens -> AST; lair_jinja_parse / free
 *   jinja_value.c    values: refcounting, containers, Python str()/repr(), JSON in/out
 *   jinja_eval.c     the interpreter: scopes, statements, expressions, limits
 *   jinja_ops.c      operators, comparison, attribute and item access
 *   jinja_filters.c  filters and tests
 *   jinja_methods.c  methods of str/list/dict, globals, str.format and %-formatting
 *
 * Values are small tagged structs passed by value.  Heap parts are reference
 * counted; a function that returns a jv through an out-parameter returns a
 * new reference, and arguments are borrowed unless a comment says otherwise.
 * Objects allocated while parsing are immortal (rc < 0): renders on several
 * threads share them without touching their counts. */
#ifndef LAIR_TEXT_JINJA_INTERNAL_H
#define LAIR_TEXT_JINJA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "text/jinja.h"

#if defined(__GNUC__) || defined(__clang__)
#define JPRINTF(a, b) __attribute__((format(printf, a, b)))
#define JNOINLINE __attribute__((noinline))
#else
#define JPRINTF(a, b)
#define JNOINLINE
#endif

/* Fixed bounds (the configurable ones are in lair_jinja_limits). */
#define JINJA_MAX_SOURCE (1u << 20) /* template bytes (real chat templates are at most tens of KB) */
#define JINJA_MAX_PARSE_DEPTH 200    /* nested statements / brackets / unary operators */
#define JINJA_MAX_CDEPTH 1000        /* interpreter recursion: about 350 KB of C stack at most */
#define JINJA_MAX_NEST 400           /* nesting of container values */
#define JINJA_MAX_RANGE 100000       /* items of range(), as jinja2's sandbox */

/* ---- values ------------------------------------------------------------- */

typedef enum jv_kind {
    JV_MISSING, /* internal: "argument not given"; never visible to templates */
    JV_UNDEF,
    JV_NONE,
    JV_BOOL,
    JV_INT,
    JV_FLOAT,
    JV_STR,
    JV_LIST, /* list, tuple (JF_TUPLE) or one-shot generator result (JF_GEN) */
    JV_DICT,
    JV_NS,   /* namespace(): a mutable dict of attributes */
    JV_FUNC, /* macro, caller, global function or bound method */
    JV_LOOP, /* the `loop` variable */
} jv_kind;

enum { JF_MARKUP = 1 };            /* JV_STR: markupsafe.Markup */
enum { JF_TUPLE = 1, JF_GEN = 2, JF_GROUP = 4 }; /* JV_LIST; JF_GROUP: groupby's (grouper, list) */

typedef struct jhdr {
    int32_t rc; /* < 0: immortal */
} jhdr;

typedef struct jstr jstr;
typedef struct jlist jlist;
typedef struct jdict jdict;
typedef struct jundef jundef;
typedef struct jfunc jfunc;
typedef struct jloop jloop;
struct jnode;
struct jframe;

typedef struct jv {
    uint8_t k; /* jv_kind */
    uint8_t f; /* JF_* */
    union {
        int b;
        int64_t i;
        double d;
        jhdr *h;
        jstr *s;
        jlist *l;
        jdict *m;
        jfunc *fn;
        jloop *lp;
        jundef *u; /* may be NULL: an undefined with no detail */
    } u;
} jv;

struct jstr {
    jhdr h;
    size_t len;
    char s[]; /* len bytes + NUL */
};

struct jlist {
    jhdr h;
    uint32_t depth; /* 1 + deepest element container */
    size_t n, cap;
    jv *v;
    size_t gpos; /* JF_GEN: items before gpos were consumed (a generator runs once) */
};

struct jdict {
    jhdr h;
    uint32_t depth;
    size_t n, cap;
    jv *k, *v;    /* insertion order */
    uint32_t *ix; /* open-addressing index into k/v (+1; 0 empty) once n > 8 */
    size_t ixcap;
};

struct jundef {
    jhdr h;
    bool security;       /* raising it is a SecurityError (unsafe attribute) */
    const char *hint;    /* static text, or NULL */
    const char *objtype; /* "dict object"...; NULL: a plain name */
    jv name;             /* the missing name or key (owned); JV_MISSING if none */
};

typedef enum jfn_kind { FN_MACRO, FN_CALLER, FN_GLOBAL, FN_METHOD, FN_LOOPCALL } jfn_kind;

struct jfunc {
    jhdr h;
    uint8_t kind;
    int id;                   /* FN_GLOBAL: global id; FN_METHOD: method id */
    const struct jnode *node; /* FN_MACRO / FN_CALLER: the definition */
    struct jframe *frame;     /* FN_MACRO / FN_CALLER: enclosing scope (owned ref) */
    jv self;                  /* FN_METHOD: receiver; cycler/joiner: state (owned) */
    jloop *loop;              /* FN_LOOPCALL (owned) */
};

struct jloop {
    jhdr h;
    jlist *items; /* owned */
    size_t index0;
    int depth0;
    const struct jnode *node; /* recursive loops: the for node */
    struct jframe *frame;     /* recursive loops: the enclosing scope (owned) */
    jv last_changed;          /* loop.changed() memory (JV_MISSING at first) */
};

static inline jv jv_missing(void) { jv v = {JV_MISSING, 0, {0}}; return v; }
static inline jv jv_undef0(void) { jv v = {JV_UNDEF, 0, {0}}; return v; }
static inline jv jv_none(void) { jv v = {JV_NONE, 0, {0}}; return v; }
static inline jv jv_bool(bool b) { jv v = {JV_BOOL, 0, {0}}; v.u.b = b ? 1 : 0; return v; }
static inline jv jv_int(int64_t i) { jv v = {JV_INT, 0, {0}}; v.u.i = i; return v; }
static inline jv jv_float(double d) { jv v = {JV_FLOAT, 0, {0}}; v.u.d = d; return v; }
static inline bool jv_heap(jv v) { return v.k >= JV_STR || (v.k == JV_UNDEF && v.u.u); }
static inline jv jv_ref(jv v) {
    if (jv_heap(v) && v.u.h->rc >= 0) v.u.h->rc++;
    return v;
}
static inline bool jv_is_str(jv v) { return v.k == JV_STR; }
static inline bool jv_is_num(jv v) { return v.k == JV_INT || v.k == JV_FLOAT || v.k == JV_BOOL; }
static inline const char *jv_sp(jv v) { return v.u.s->s; }
static inline size_t jv_sn(jv v) { return v.u.s->len; }

/* ---- scopes --------------------------------------------------------------- */

typedef struct jvar {
    const char *name; /* immortal (AST) or owned by the frame (owned_names) */
    jv v;
} jvar;

typedef struct jframe {
    jhdr h;
    struct jframe *parent; /* owned ref */
    jvar *vars;
    size_t n, cap;
    bool registered; /* held by the render until its end (captured by a closure) */
} jframe;

/* ---- arguments ------------------------------------------------------------ */

typedef struct jargs {
    const jv *pos;
    size_t npos;
    const char *const *kwn;
    const jv *kwv;
    size_t nkw;
} jargs;

/* ---- output buffers ------------------------------------------------------- */

typedef struct jbuf {
    char *p;
    size_t n, cap;
} jbuf;

/* ---- the render context --------------------------------------------------- */

typedef struct jrender {
    const struct lair_jinja *t;
    lair_jinja_limits lim;
    lair_err *err;
    lair_status st; /* first failure */
    int line;       /* template line being evaluated */
    uint64_t steps;
    double deadline; /* lair_time_seconds() */
    int depth;       /* macro nesting */
    int cdepth;      /* interpreter recursion */
    size_t mem, mem_max;
    jbuf *out;
    jframe *top;
    jdict *ctx;  /* the caller's variables */
    jhdr **reg;  /* namespaces and captured frames, released at the end */
    uint8_t *regkind;
    size_t nreg, capreg;
    int ctl; /* loop control in flight: 0, CTL_BREAK, CTL_CONTINUE */
} jrender;

enum { CTL_BREAK = 1, CTL_CONTINUE = 2 };

/* Records the first error ("template: line N: ...") and returns -1. */
int jr_fail(jrender *R, lair_status code, const char *fmt, ...) JPRINTF(3, 4);
int jr_nomem(jrender *R);
/* Counts one evaluation step and checks the step and time budgets. */
int jr_step(jrender *R);

void *jr_alloc(jrender *R, size_t n);
void jr_release(jrender *R, void *p, size_t n);
int jr_register(jrender *R, jhdr *h, int kind); /* kind 0: namespace, 1: frame; takes a reference */
void jr_release_registry(jrender *R);

/* ---- jinja_value.c -------------------------------------------------------- */

void jv_unref(jrender *R, jv v);
jstr *jstr_alloc(jrender *R, size_t len); /* uninitialised bytes, NUL added; fails above max_output */
int jv_str_new(jrender *R, const char *s, size_t n, jv *out);
int jv_str_cstr(jrender *R, const char *s, jv *out);
jv jv_strv(jstr *s, int markup); /* wraps a fresh jstr (takes it) */
jlist *jlist_new(jrender *R, size_t cap);
int jlist_push(jrender *R, jlist *l, jv v); /* takes v (also on failure) */
jv jv_listv(jlist *l, int flags);           /* takes l */
jdict *jdict_new(jrender *R, size_t cap);
int jdict_set(jrender *R, jdict *d, jv key, jv val); /* takes key and val */
jv *jdict_get(const jdict *d, jv key);
jv *jdict_get_str(const jdict *d, const char *s, size_t n);
int jv_undef_new(jrender *R, const char *hint, const jv *name, const char *objtype, bool security, jv *out);
int jv_undef_name(jrender *R, const char *name, jv *out);
int jv_undef_fail(jrender *R, jv u); /* raises the error an undefined value carries */
jframe *jframe_new(jrender *R, jframe *parent);
void jframe_unref(jrender *R, jframe *f);
jv *jframe_find(jframe *f, const char *name);
int jframe_set(jrender *R, jframe *f, const char *name, jv v); /* takes v */

bool jv_truthy(jv v);
bool jv_eq(jv a, jv b);
/* Python ordering: sets *cmp to -1/0/1; fails with TypeError text for unorderable values. */
int jv_cmp(jrender *R, jv a, jv b, int *cmp);
uint64_t jv_hash(jv v);
const char *jv_type_name(jv v); /* Python type name: "str", "dict", "NoneType", ... */
/* An int (or bool) argument as Python's index protocol takes it; anything
 * else fails with "<what>: '<type>' object cannot be interpreted as an integer". */
static inline int jv_need_int(jrender *R, jv v, int64_t *out, const char *what) {
    *out = 0; /* set on every path: callers stop at an error, but compilers cannot see that */
    if (v.k == JV_INT) *out = v.u.i;
    else if (v.k == JV_BOOL) *out = v.u.b;
    else if (v.k == JV_UNDEF) return jv_undef_fail(R, v);
    else return jr_fail(R, LAIR_ERR_ARG, "%s: '%s' object cannot be interpreted as an integer", what, jv_type_name(v));
    return 0;
}
int64_t jv_len_items(jv v);     /* len() for containers/strings; -1 when it has none */

int jb_put(jrender *R, jbuf *b, const char *s, size_t n);
int jb_puts(jrender *R, jbuf *b, const char *s);
int jb_printf(jrender *R, jbuf *b, const char *fmt, ...) JPRINTF(3, 4);
int jb_take(jrender *R, jbuf *b, int markup, jv *out); /* turns the buffer into a string value */

int jv_write_str(jrender *R, jbuf *b, jv v);  /* Python str(v) */
int jv_write_repr(jrender *R, jbuf *b, jv v); /* Python repr(v) */
int jv_to_string(jrender *R, jv v, jv *out);  /* str(v) as a plain string value */
void py_float_repr(double d, char out[32]);
int jv_escape(jrender *R, jv v, jv *out); /* markupsafe.escape */
int jb_put_escaped(jrender *R, jbuf *b, const char *s, size_t n);

typedef struct jjson_opts {
    bool ensure_ascii;
    bool indent_set;
    const char *indent; /* indent text per level */
    size_t indent_len;
    const char *item_sep, *key_sep;
    size_t item_sep_len, key_sep_len;
    bool sort_keys;
} jjson_opts;
int jv_to_json(jrender *R, jbuf *b, jv v, const jjson_opts *o);
int jv_from_json(jrender *R, const json_t *j, jv *out);

/* UTF-8 and Python whitespace. */
size_t u8_decode(const char *s, size_t n, uint32_t *cp); /* bytes used (>= 1); invalid bytes decode as U+FFFD */
size_t u8_encode(uint32_t cp, char out[4]);
size_t u8_count(const char *s, size_t n);                       /* code points */
size_t u8_offset(const char *s, size_t n, size_t cp_index);     /* byte offset of a code point (n if past) */
bool py_isspace_cp(uint32_t cp);
size_t py_space_len(const char *s, size_t n);   /* bytes of one whitespace char at s, 0 if none */
size_t py_rspace_len(const char *s, size_t n);  /* bytes of one whitespace char ending at s+n */
bool py_isprintable_cp(uint32_t cp);

/* ---- AST ------------------------------------------------------------------ */

typedef enum jnode_kind {
    /* statements */
    N_BODY,   /* list */
    N_TEXT,   /* text, tlen */
    N_PRINT,  /* a */
    N_IF,     /* a cond, b body, c else (body or NULL) */
    N_FOR,    /* a target, b iter, c body, d else, e filter; flags: recursive */
    N_SET,    /* a target, b value */
    N_SETBLK, /* a target, b body, c filter chain or NULL */
    N_MACRO,  /* name, list params (N_NAME), kwv defaults (n, NULL = none), b body */
    N_CALLBLK,/* a call, list params, kwv defaults, b body */
    N_FILTBLK,/* b body, c filter chain */
    N_WITH,   /* list targets, kwv values, b body */
    N_BREAK,
    N_CONTINUE,
    N_BLOCK,  /* b body */
    /* expressions */
    N_CONST,  /* val */
    N_NAME,   /* name */
    N_GETATTR,/* a obj, name */
    N_GETITEM,/* a obj, b key */
    N_SLICE,  /* a start, b stop, c step (each may be NULL) */
    N_CALL,   /* a callee, list args, kwn/kwv kwargs */
    N_FILTER, /* a operand (NULL inside filter blocks), name, id, list/kw args */
    N_TEST,   /* a operand, name, id, list/kw args */
    N_BINOP,  /* op, a, b */
    N_NEG,
    N_POS,
    N_NOT,
    N_AND,
    N_OR,
    N_COMPARE,/* a first, list operands, ops */
    N_COND,   /* a cond, b then, c else (may be NULL) */
    N_CONCAT, /* list */
    N_LIST,
    N_TUPLE,
    N_DICT,   /* list: k0, v0, k1, v1, ... */
    N_NSREF,  /* name (variable), attr */
} jnode_kind;

enum { NF_RECURSIVE = 1, NF_VARARGS = 2, NF_KWARGS = 4, NF_CALLER = 8 };

typedef enum jop {
    OP_NONE,
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW, OP_TILDE,
    OP_LBRACKET, OP_RBRACKET, OP_LPAREN, OP_RPAREN, OP_LBRACE, OP_RBRACE,
    OP_EQ, OP_NE, OP_GT, OP_GTEQ, OP_LT, OP_LTEQ, OP_ASSIGN, OP_DOT, OP_COLON,
    OP_PIPE, OP_COMMA, OP_SEMICOLON,
    OP_IN, OP_NOTIN, /* comparison operators only */
} jop;

typedef struct jnode {
    uint8_t kind;
    uint8_t op;
    uint8_t flags;
    int line;
    int id; /* filter / test id (-1 unknown: fails when evaluated) */
    struct jnode *a, *b, *c, *d, *e;
    struct jnode **list;
    uint32_t n;
    const char **kwn; /* keyword names (N_CALL/N_FILTER/N_TEST) */
    struct jnode **kwv;
    uint32_t nkw;
    uint8_t *ops; /* N_COMPARE */
    const char *name;
    const char *attr; /* N_NSREF */
    const char *text; /* N_TEXT */
    size_t tlen;
    jv val; /* N_CONST */
} jnode;

struct lair_jinja {
    struct jarena_chunk *arena;
    jnode *root;
};

/* ---- tokens (jinja_lex.c) ------------------------------------------------- */

typedef enum jtok_type {
    T_EOF,
    T_DATA,
    T_VAR_BEGIN,
    T_VAR_END,
    T_BLOCK_BEGIN,
    T_BLOCK_END,
    T_NAME,
    T_STRING,
    T_INT,
    T_FLOAT,
    T_OP,
} jtok_type;

typedef struct jtok {
    uint8_t type;
    uint8_t op;
    int line;
    const char *p; /* DATA/NAME: into the source copy; STRING: unescaped, in the arena */
    size_t len;
    int64_t ival;
    double fval;
} jtok;

void *jarena_alloc(struct lair_jinja *t, size_t n); /* zeroed; NULL when out of memory */
/* Tokenizes the (normalized, NUL-terminated) source; tokens live in the arena. */
lair_status jinja_lex(struct lair_jinja *t, const char *src, size_t len, jtok **toks, size_t *ntoks, lair_err *err);

/* ---- jinja_eval.c / jinja_ops.c ------------------------------------------- */

int je_getattr(jrender *R, jv obj, const char *name, size_t n, jv *out);
int je_getitem(jrender *R, jv obj, jv key, jv *out);
int je_binop(jrender *R, int op, jv a, jv b, jv *out);
int je_compare(jrender *R, int op, jv a, jv b, bool *res);
int je_contains(jrender *R, jv container, jv item, bool *res);
/* Materializes an iterable as a list (new ref): list/tuple itself, dict keys,
 * string characters, undefined -> empty; other values fail. */
int je_iterate(jrender *R, jv v, jlist **out);
int je_call(jrender *R, jv callee, const jargs *a, jv *out);
int je_slice(jrender *R, jv obj, jv start, jv stop, jv step, jv *out);
/* Renders a macro/caller body into a string. */
int je_invoke_macro(jrender *R, jfunc *fn, const jargs *a, jv *out);

/* ---- jinja_filters.c ------------------------------------------------------ */

int jinja_filter_id(const char *name);
int jinja_test_id(const char *name);
int jinja_apply_filter(jrender *R, int id, const char *name, jv val, const jargs *a, jv *out);
int jinja_apply_test(jrender *R, int id, const char *name, jv val, const jargs *a, bool *out);
/* Binds positional + keyword arguments to the named parameters (slots get
 * borrowed values or JV_MISSING). */
int jargs_bind(jrender *R, const char *fname, const jargs *a, const char *const *names, size_t nnames, jv *slots);

/* ---- jinja_methods.c ------------------------------------------------------ */

/* Attribute of a built-in value that is a method: 1 and *out = bound method;
 * 0 when it is not one (fall back to item lookup); -1 on failure.  Mutating
 * methods give an undefined that raises a SecurityError when used, as in
 * jinja2's ImmutableSandboxedEnvironment. */
int jm_getattr(jrender *R, jv obj, const char *name, size_t n, jv *out);
int jm_call_method(jrender *R, jfunc *fn, const jargs *a, jv *out);
int jm_global(jrender *R, const char *name, jv *out); /* 1 found, 0 not a global, -1 failure */
int jm_call_global(jrender *R, jfunc *fn, const jargs *a, jv *out);
const char *jm_func_name(const jfunc *fn);
/* printf-style `fmt % args` (Python str.__mod__). */
int jm_percent_format(jrender *R, jv fmt, jv args, jv *out);
/* str.format(*args, **kwargs). */
int jm_str_format(jrender *R, jv fmt, const jargs *a, jv *out);

#endif
