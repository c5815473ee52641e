/* JSON Schema (draft 2020-12) -> GBNF: one rule "sN" per subschema, shared
 * primitive rules (ws, value, string, number, ...) in a fixed prelude.
 * See schema.h for what is supported; everything else is refused (strict)
 * or listed as not enforced. */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "grammar/grammar.h"
#include "grammar/schema.h"
#include "grammar/schema_internal.h"

#define MAX_REFS 512      /* distinct $ref targets per schema */
#define MAX_REPEAT 2000   /* largest minLength/maxLength/minItems/maxItems enforced */
#define MAX_ENUM 4096     /* values in one enum */
#define PTR_MAX 256       /* bytes of a JSON pointer kept for messages */

/* Bounded whitespace: a model cannot loop on it (at most 21 bytes per gap). */
#define PRELUDE_TEXT \
    "ws ::= | \" \" | \"\\n\" [ \\t]{0,20}\n" \
    "value ::= object | array | string | number | \"true\" | \"false\" | \"null\"\n" \
    "object ::= \"{\" ws (member (ws \",\" ws member)*)? ws \"}\"\n" \
    "member ::= string ws \":\" ws value\n" \
    "array ::= \"[\" ws (value (ws \",\" ws value)*)? ws \"]\"\n" \
    "string ::= \"\\\"\" char* \"\\\"\"\n" \
    "char ::= [^\"\\\\\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4})\n" \
    "keychar ::= [\\x20-\\x21\\x23-\\x5B\\x5D-\\x7E]\n" \
    "number ::= integer (\".\" [0-9]+)? ([eE] [\\-+]? [0-9]+)?\n" \
    "integer ::= \"-\"? (\"0\" | [1-9] [0-9]*)\n" \
    "boolean ::= \"true\" | \"false\"\n"
static const char PRELUDE[] = PRELUDE_TEXT;

enum { T_NULL = 1, T_BOOL = 2, T_INT = 4, T_NUM = 8, T_STR = 16, T_ARR = 32, T_OBJ = 64, T_ALL = 127 };

typedef struct ctx {
    const lair_schema_opts *o;
    const json_t *root;
    sch_buf rules;
    sch_buf unenf;
    int n_rules;
    int n_refs;
    char *ref_ptr[MAX_REFS];
    int ref_id[MAX_REFS];
    bool fmt_done[5];
    json_t *keep; /* merged schemas that rules were built from */
    lair_err *err;
    lair_status st;
} ctx;

static const char *const ANNOTATIONS[] = {"title", "description", "default", "examples", "$comment", "$schema",
                                          "deprecated", "readOnly", "writeOnly", "$defs", "definitions", NULL};
static const char *const HANDLED[] = {"type", "nullable", "enum", "const", "anyOf", "oneOf", "allOf", "$ref",
                                      "properties", "required", "additionalProperties", "items", "prefixItems",
                                      "minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum",
                                      "exclusiveMinimum", "exclusiveMaximum", "pattern", "format", NULL};

static bool in_list(const char *k, const char *const *l) {
    for (; *l; l++)
        if (strcmp(k, *l) == 0) return true;
    return false;
}

/* fmt takes the pointer ("/" for the root) and the keyword, in that order. */
static bool set_err(ctx *c, lair_status st, const char *fmt, const char *ptr, const char *kw) LAIR_PRINTF(3, 0);
static bool set_err(ctx *c, lair_status st, const char *fmt, const char *ptr, const char *kw) {
    char msg[LAIR_ERR_MSG_MAX];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(msg, sizeof msg, fmt, ptr[0] ? ptr : "/", kw);
#pragma GCC diagnostic pop
    if (c->st == LAIR_OK) c->st = lair_err_set(c->err, st, "%s", msg);
    return false;
}

/* A keyword that cannot be enforced: strict refuses, otherwise it is noted
 * and dropped (returns true: go on without it). */
static bool cannot(ctx *c, const char *ptr, const char *kw) {
    if (c->o->strict) return set_err(c, LAIR_ERR_UNSUPPORTED, "%s: keyword '%s' cannot be enforced", ptr, kw);
    sch_printf(&c->unenf, "%s%s at %s", c->unenf.len ? "; " : "", kw, ptr[0] ? ptr : "/");
    return true;
}

static void sub_ptr(char *out, const char *ptr, const char *a, const char *b) {
    if (b) snprintf(out, PTR_MAX, "%s/%s/%s", ptr, a, b);
    else snprintf(out, PTR_MAX, "%s/%s", ptr, a);
}

static bool gen(ctx *c, const json_t *s, const char *ptr, int depth, char name[24]);

/* ---- $ref ---------------------------------------------------------- */

/* Resolves a local pointer ("#", "#/a/b" with ~0 ~1 escapes). */
static const json_t *resolve(ctx *c, const char *ref) {
    if (ref[0] != '#') return NULL;
    const json_t *cur = c->root;
    const char *p = ref + 1;
    if (*p && *p != '/') return NULL; /* "#name" anchors are not supported */
    while (*p == '/' && cur) {
        p++;
        char tok[256];
        size_t n = 0;
        while (*p && *p != '/' && n + 1 < sizeof tok) {
            if (p[0] == '~' && p[1] == '0') tok[n++] = '~', p += 2;
            else if (p[0] == '~' && p[1] == '1') tok[n++] = '/', p += 2;
            else tok[n++] = *p++;
        }
        tok[n] = 0;
        if (json_is_object(cur)) {
            cur = json_object_get(cur, tok);
        } else if (json_is_array(cur)) {
            char *e;
            unsigned long i = strtoul(tok, &e, 10);
            cur = (*e || !n) ? NULL : json_array_get(cur, i);
        } else {
            cur = NULL;
        }
    }
    return *p ? NULL : cur;
}

static bool gen_ref(ctx *c, const char *ref, const char *ptr, int depth, char name[24]) {
    for (int i = 0; i < c->n_refs; i++)
        if (strcmp(c->ref_ptr[i], ref) == 0) {
            snprintf(name, 24, "s%d", c->ref_id[i]);
            return true;
        }
    if (c->n_refs >= MAX_REFS)
        return set_err(c, LAIR_ERR_LIMIT, "%s: more than 512 distinct '%s' targets", ptr, "$ref");
    /* follow chains of bare {"$ref"} so that a cycle of aliases (which no
     * text can satisfy) is refused instead of emitted */
    const json_t *t = resolve(c, ref);
    for (int hops = 0; t && json_is_object(t) && json_object_size(t) == 1 && json_object_get(t, "$ref"); hops++) {
        if (hops > 64) return set_err(c, LAIR_ERR_UNSUPPORTED, "%s: keyword '%s' forms a cycle that allows no value", ptr, "$ref");
        const char *r = json_string_value(json_object_get(t, "$ref"));
        t = r ? resolve(c, r) : NULL;
    }
    if (!t) return set_err(c, LAIR_ERR_UNSUPPORTED, "%s: keyword '%s' must be a local pointer that resolves (\"#/$defs/name\")", ptr, "$ref");
    int id = c->n_rules++;
    c->ref_ptr[c->n_refs] = lair_malloc(strlen(ref) + 1);
    if (!c->ref_ptr[c->n_refs]) return set_err(c, LAIR_ERR_NOMEM, "%s: out of memory in '%s'", ptr, "$ref");
    strcpy(c->ref_ptr[c->n_refs], ref);
    c->ref_id[c->n_refs++] = id;
    char inner[24], rptr[PTR_MAX];
    snprintf(rptr, sizeof rptr, "%s", ref + 1);
    if (!gen(c, t, rptr, depth + 1, inner)) return false;
    sch_printf(&c->rules, "s%d ::= %s\n", id, inner);
    snprintf(name, 24, "s%d", id);
    return true;
}

/* ---- allOf / siblings: merging ------------------------------------- */

static bool is_constraint(const char *k) { return !in_list(k, ANNOTATIONS); }

/* Merges b's keywords into a (a fresh object owned by the caller); false
 * (with *kw naming the keyword) when the two cannot be combined exactly. */
static bool merge_into(json_t *a, const json_t *b, const char **kw) {
    const char *k;
    json_t *v;
    if (json_is_true(b)) return true;
    if (!json_is_object(b)) {
        *kw = "allOf";
        return false;
    }
    json_object_foreach((json_t *)b, k, v) {
        json_t *av = json_object_get(a, k);
        if (!is_constraint(k)) continue;
        *kw = k;
        if (!av) {
            json_object_set(a, k, v);
        } else if (json_equal(av, v)) {
            continue;
        } else if (!strcmp(k, "minimum") || !strcmp(k, "minLength") || !strcmp(k, "minItems")) {
            if (!json_is_number(v) || !json_is_number(av)) return false;
            if (json_number_value(v) > json_number_value(av)) json_object_set(a, k, v);
        } else if (!strcmp(k, "maximum") || !strcmp(k, "maxLength") || !strcmp(k, "maxItems")) {
            if (!json_is_number(v) || !json_is_number(av)) return false;
            if (json_number_value(v) < json_number_value(av)) json_object_set(a, k, v);
        } else if (!strcmp(k, "required")) {
            json_t *u = json_copy(av);
            size_t i;
            json_t *x;
            json_array_foreach(v, i, x) json_array_append(u, x);
            json_object_set_new(a, k, u);
        } else if (!strcmp(k, "type")) {
            json_t *u = json_array();
            const json_t *ta = json_is_string(av) ? NULL : av, *tb = json_is_string(v) ? NULL : v;
            size_t na = ta ? json_array_size(ta) : 1, nb = tb ? json_array_size(tb) : 1;
            for (size_t i = 0; i < na; i++)
                for (size_t j = 0; j < nb; j++) {
                    const char *x = json_string_value(ta ? json_array_get(ta, i) : av);
                    const char *y = json_string_value(tb ? json_array_get(tb, j) : v);
                    if (!x || !y) continue;
                    if (!strcmp(x, y)) json_array_append_new(u, json_string(x));
                    else if ((!strcmp(x, "integer") && !strcmp(y, "number")) || (!strcmp(y, "integer") && !strcmp(x, "number")))
                        json_array_append_new(u, json_string("integer"));
                }
            json_object_set_new(a, k, u);
        } else if (!strcmp(k, "properties")) {
            /* same name in both: only when the schemas are equal */
            const char *pk;
            json_t *pv;
            json_t *u = json_copy(av);
            json_object_foreach(v, pk, pv) {
                json_t *q = json_object_get(u, pk);
                if (q && !json_equal(q, pv)) {
                    json_decref(u);
                    return false;
                }
                json_object_set(u, pk, pv);
            }
            json_object_set_new(a, k, u);
        } else {
            return false;
        }
    }
    return true;
}

/* additionalProperties of one side forbids/constrains names that only the
 * other side lists: merging would wrongly let them through. */
static bool ap_safe(const json_t *x, const json_t *y) {
    const json_t *ap = json_object_get(x, "additionalProperties");
    if (!ap || json_is_true(ap)) return true;
    const json_t *px = json_object_get(x, "properties"), *py = json_object_get(y, "properties");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)py, k, v) if (!json_object_get(px, k)) return false;
    return true;
}

/* A new schema: s without the keywords in drop[], merged with each of
 * the schemas in parts (NULL: none) and extra (NULL: none). */
static json_t *merged(ctx *c, const json_t *s, const char *const *drop, const json_t *parts, const json_t *extra,
                      const char *ptr, const char *what) {
    json_t *m = json_object();
    const char *k, *kw = what;
    json_t *v;
    json_object_foreach((json_t *)s, k, v) if (!in_list(k, drop)) json_object_set(m, k, v);
    size_t i, n = parts ? json_array_size(parts) : 0;
    bool ok = true;
    for (i = 0; ok && i <= n; i++) {
        const json_t *p = i < n ? json_array_get(parts, i) : extra;
        if (!p) continue;
        if (json_is_object(p) && (json_object_get(p, "$ref") || json_object_get(p, "allOf") ||
                                  json_object_get(p, "anyOf") || json_object_get(p, "oneOf"))) {
            ok = false;
            kw = what;
        } else if (json_is_object(p) && (!ap_safe(m, p) || !ap_safe(p, m))) {
            ok = false;
            kw = "additionalProperties";
        } else {
            ok = merge_into(m, p, &kw);
        }
    }
    if (!ok) {
        json_decref(m);
        set_err(c, LAIR_ERR_UNSUPPORTED, "%s: keyword '%s' cannot be enforced (the subschemas cannot be merged)",
                ptr, kw);
        return NULL;
    }
    json_array_append_new(c->keep, m);
    return m;
}

/* ---- per-type pieces ----------------------------------------------- */

static int types_of(ctx *c, const json_t *s, const char *ptr, bool *ok) {
    const json_t *t = json_object_get(s, "type");
    int m = 0;
    *ok = true;
    if (!t) {
        m = T_ALL & ~T_INT;
    } else {
        size_t n = json_is_array(t) ? json_array_size(t) : 1;
        for (size_t i = 0; i < n; i++) {
            const char *x = json_string_value(json_is_array(t) ? json_array_get(t, i) : t);
            static const char *const names[] = {"null", "boolean", "integer", "number", "string", "array", "object"};
            int bit = 0;
            for (int j = 0; j < 7 && x; j++)
                if (!strcmp(x, names[j])) bit = 1 << j;
            if (!bit) {
                *ok = false;
                set_err(c, LAIR_ERR_FORMAT, "%s: keyword '%s' has an unknown type name", ptr, "type");
                return 0;
            }
            m |= bit;
        }
    }
    if (json_is_true(json_object_get(s, "nullable"))) m |= T_NULL;
    if (m & T_NUM) m &= ~T_INT;
    return m;
}

static bool json_type_in(const json_t *v, int m) {
    switch (json_typeof(v)) {
    case JSON_NULL: return m & T_NULL;
    case JSON_TRUE:
    case JSON_FALSE: return m & T_BOOL;
    case JSON_INTEGER: return m & (T_INT | T_NUM);
    case JSON_REAL: return (m & T_NUM) || ((m & T_INT) && json_real_value(v) == (double)(long long)json_real_value(v));
    case JSON_STRING: return m & T_STR;
    case JSON_ARRAY: return m & T_ARR;
    default: return m & T_OBJ;
    }
}

static bool get_count(ctx *c, const json_t *s, const char *kw, const char *ptr, long long *out, bool *present) {
    const json_t *v = json_object_get(s, kw);
    *present = v != NULL;
    if (!v) return true;
    double d = json_number_value(v);
    if (!json_is_number(v) || d < 0 || d != (double)(long long)d)
        return set_err(c, LAIR_ERR_FORMAT, "%s: keyword '%s' must be a non-negative integer", ptr, kw);
    if (d > MAX_REPEAT)
        return set_err(c, LAIR_ERR_LIMIT, "%s: keyword '%s' is larger than 2000 (the limit lair enforces)", ptr, kw);
    *out = (long long)d;
    return true;
}

static void rep(sch_buf *b, long long lo, long long hi) {
    if (hi < 0) sch_printf(b, "{%lld,}", lo);
    else sch_printf(b, "{%lld,%lld}", lo, hi);
}

static bool gen_string(ctx *c, const json_t *s, const char *ptr, sch_buf *b) {
    long long mn = 0, mx = -1;
    bool has_mn, has_mx;
    if (!get_count(c, s, "minLength", ptr, &mn, &has_mn) || !get_count(c, s, "maxLength", ptr, &mx, &has_mx))
        return false;
    if (!has_mx) mx = -1;
    if (has_mx && mx < mn) return set_err(c, LAIR_ERR_UNSUPPORTED, "%s: keyword '%s' is below minLength: no string is allowed", ptr, "maxLength");
    const json_t *f = json_object_get(s, "format");
    const json_t *pat = json_object_get(s, "pattern");
    if (pat) {
        if (!json_is_string(pat)) return set_err(c, LAIR_ERR_FORMAT, "%s: keyword '%s' must be a string", ptr, "pattern");
        /* a pattern with lengths or a format would need the intersection of two languages */
        const char *also = f ? "format" : has_mn ? "minLength" : has_mx ? "maxLength" : NULL;
        if (also && !cannot(c, ptr, also)) return false;
        char why[160];
        size_t mark = b->len;
        sch_put(b, "\"\\\"\" ");
        if (sch_pattern(b, json_string_value(pat), json_string_length(pat), "char", why, sizeof why)) {
            sch_put(b, " \"\\\"\"");
            return true;
        }
        if (b->s && b->len >= mark) b->len = mark, b->s[mark] = 0; /* drop the partial expression */
        if (c->o->strict)
            return set_err(c, LAIR_ERR_UNSUPPORTED, "%s: keyword 'pattern' cannot be enforced: lair does not support %s",
                           ptr, why);
        if (!cannot(c, ptr, "pattern")) return false;
        has_mn = has_mx = false, mn = 0, mx = -1, f = NULL; /* best effort: any string */
    }
    if (f) {
        static const char *const fmts[] = {"date", "time", "date-time", "uuid", "email"};
        const char *fs = json_string_value(f);
        int k = -1;
        for (int i = 0; i < 5 && fs; i++)
            if (!strcmp(fs, fmts[i])) k = i;
        if (k < 0 || has_mn || has_mx) {
            if (!cannot(c, ptr, k < 0 ? "format" : has_mn ? "minLength" : "maxLength")) return false;
        }
        if (k >= 0) {
            int need[3] = {k, -1, -1};
            if (k == 2) need[1] = 0, need[2] = 1;
            for (int i = 0; i < 3; i++)
                if (need[i] >= 0 && !c->fmt_done[need[i]]) {
                    c->fmt_done[need[i]] = true;
                    sch_format_rules(&c->rules, fmts[need[i]]);
                }
            sch_printf(b, "\"\\\"\" fmt-%s \"\\\"\"", fmts[k]);
            return true;
        }
    }
    sch_put(b, "\"\\\"\" char");
    if (has_mn || has_mx) rep(b, mn, mx);
    else sch_put(b, "*");
    sch_put(b, " \"\\\"\"");
    return true;
}

static bool bound(ctx *c, const json_t *s, const char *kw, const char *ptr, sch_big *cur, bool lower, bool excl) {
    const json_t *v = json_object_get(s, kw);
    if (!v) return true;
    if (!json_is_number(v)) return set_err(c, LAIR_ERR_FORMAT, "%s: keyword '%s' must be a number", ptr, kw);
    sch_big x;
    sch_big_from_json_number(&x, json_number_value(v), json_is_integer(v) ? (long long)json_integer_value(v) : 0,
                             json_is_integer(v), lower, excl);
    if (cur->inf || (lower ? sch_big_cmp(&x, cur) > 0 : sch_big_cmp(&x, cur) < 0)) *cur = x;
    return true;
}

static bool gen_integer(ctx *c, const json_t *s, const char *ptr, sch_buf *b) {
    sch_big lo = {.inf = true}, hi = {.inf = true};
    if (!bound(c, s, "minimum", ptr, &lo, true, false) || !bound(c, s, "exclusiveMinimum", ptr, &lo, true, true) ||
        !bound(c, s, "maximum", ptr, &hi, false, false) || !bound(c, s, "exclusiveMaximum", ptr, &hi, false, true))
        return false;
    sch_put(b, "(");
    if (!sch_int_range(b, &lo, &hi))
        return set_err(c, LAIR_ERR_UNSUPPORTED, "%s: keyword '%s': no integer is in the range", ptr, "minimum");
    sch_put(b, ")");
    return true;
}

static bool gen_array(ctx *c, const json_t *s, const char *ptr, int depth, sch_buf *b) {
    long long mn = 0, mx = -1;
    bool has_mn, has_mx;
    if (!get_count(c, s, "minItems", ptr, &mn, &has_mn) || !get_count(c, s, "maxItems", ptr, &mx, &has_mx))
        return false;
    if (!has_mx) mx = -1;
    const json_t *pre = json_object_get(s, "prefixItems"), *items = json_object_get(s, "items");
    if (pre && !json_is_array(pre)) return set_err(c, LAIR_ERR_FORMAT, "%s: keyword '%s' must be an array", ptr, "prefixItems");
    long long k = pre ? (long long)json_array_size(pre) : 0;
    if (k > MAX_REPEAT) return set_err(c, LAIR_ERR_LIMIT, "%s: keyword '%s' has more than 2000 entries", ptr, "prefixItems");
    if (json_is_false(items) && (mx < 0 || mx > k)) mx = k;
    if (mx >= 0 && mx < mn) return set_err(c, LAIR_ERR_UNSUPPORTED, "%s: keyword '%s': no array length is allowed", ptr, "minItems");
    char item[24] = "value", sp[PTR_MAX];
    if (items && !json_is_false(items)) {
        sub_ptr(sp, ptr, "items", NULL);
        if (!gen(c, items, sp, depth + 1, item)) return false;
    }
    /* positions 0..k-1 one by one (element i present => all before it),
     * then items repeated: count in [max(0, mn-k), mx-k] */
    long long n_pre = mx >= 0 && mx < k ? mx : k;
    sch_put(b, "\"[\" ws ");
    long long opened = 0;
    for (long long i = 0; i < n_pre; i++) {
        char en[24];
        char idx[24];
        snprintf(idx, sizeof idx, "%lld", i);
        sub_ptr(sp, ptr, "prefixItems", idx);
        if (!gen(c, json_array_get(pre, (size_t)i), sp, depth + 1, en)) return false;
        if (i >= mn) {
            sch_put(b, "(");
            opened++;
        }
        sch_printf(b, "%s%s ", i ? "ws \",\" ws " : "", en);
    }
    long long a = mn > k ? mn - k : 0, z = mx < 0 ? -1 : (mx > k ? mx - k : 0);
    if (z != 0) {
        if (k == 0) {
            if (a == 0) sch_put(b, "(");
            sch_printf(b, "%s (ws \",\" ws %s)", item, item);
            rep(b, a ? a - 1 : 0, z < 0 ? -1 : z - 1);
            if (a == 0) sch_put(b, ")?");
        } else {
            sch_printf(b, "(ws \",\" ws %s)", item);
            rep(b, a, z);
        }
        sch_put(b, " ");
    }
    for (long long i = 0; i < opened; i++) sch_put(b, ")? ");
    sch_put(b, "ws \"]\"");
    return true;
}

/* Extra keys are printable ASCII without escapes ("keychar"), so the only
 * listed names they could equal are ASCII ones: the excluded set is finite
 * and exact.  "name is not one of these strings" over that text: a
 * trie of the names, where each node allows ending (unless it is a name),
 * any character that leaves the trie followed by anything, or a child. */
static void not_names(ctx *c, const char **names, size_t n, size_t off, int id) {
    sch_buf *r = &c->rules;
    bool term = false;
    sch_printf(r, "s%d ::= ", id);
    int alts = 0;
    for (size_t i = 0; i < n; i++)
        if (strlen(names[i]) == off) term = true;
    if (!term) alts++; /* the empty alternative */
    /* the class of characters that leave the trie */
    sch_buf cls = {0};
    cls.cap = (size_t)1 << 20;
    cls.ok = true;
    sch_put(&cls, "[^\"\\\\\\x00-\\x1F\\x7F-\\U0010FFFF");
    int kids[256];
    size_t nk = 0;
    for (size_t i = 0; i < n; i++) {
        if (strlen(names[i]) <= off) continue;
        unsigned char ch = (unsigned char)names[i][off];
        bool seen = false;
        for (size_t j = 0; j < nk; j++)
            if ((unsigned char)names[kids[j]][off] == ch) seen = true;
        if (!seen && nk < 256) kids[nk++] = (int)i;
        sch_printf(&cls, "\\x%02X", ch);
    }
    sch_put(&cls, "]");
    /* byte-wise trie: a multi-byte character's lead byte leaves or follows
     * like any other; continuation bytes are matched as literal bytes */
    sch_printf(r, "%s%s keychar*", alts ? "| " : "", cls.s ? cls.s : "");
    lair_free(cls.s);
    int first_child = c->n_rules;
    c->n_rules += (int)nk;
    for (size_t j = 0; j < nk; j++) sch_printf(r, " | \"\\x%02X\" s%d", (unsigned char)names[kids[j]][off], first_child + (int)j);
    sch_put(r, "\n");
    for (size_t j = 0; j < nk; j++) {
        unsigned char ch = (unsigned char)names[kids[j]][off];
        const char **sub = lair_malloc(n * sizeof *sub);
        size_t m = 0;
        if (!sub) {
            c->rules.ok = false;
            return;
        }
        for (size_t i = 0; i < n && m < MAX_REPEAT; i++)
            if (strlen(names[i]) > off && (unsigned char)names[i][off] == ch) sub[m++] = names[i];
        not_names(c, sub, m, off + 1, first_child + (int)j);
        lair_free(sub);
    }
}

static bool gen_object(ctx *c, const json_t *s, const char *ptr, int depth, sch_buf *b) {
    const json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
    const json_t *ap = json_object_get(s, "additionalProperties");
    if ((props && !json_is_object(props)) || (req && !json_is_array(req)))
        return set_err(c, LAIR_ERR_FORMAT, "%s: keyword '%s' has the wrong JSON type", ptr, props && !json_is_object(props) ? "properties" : "required");
    /* members in order: listed properties, then required names that are not
     * listed (valued by additionalProperties) */
    size_t np = json_object_size(props) + json_array_size(req);
    const char **names = lair_calloc(np + 1, sizeof *names);
    int *kv = lair_calloc(np + 1, sizeof *kv);
    bool *must = lair_calloc(np + 1, sizeof *must);
    const char **excl = lair_calloc(np + 1, sizeof *excl);
    size_t n = 0, ne = 0;
    bool ok = names && kv && must && excl;
    if (!ok) set_err(c, LAIR_ERR_NOMEM, "%s: out of memory compiling '%s'", ptr, "properties");
    const char *k;
    json_t *v;
    char sp[PTR_MAX], en[24];
    json_object_foreach((json_t *)props, k, v) {
        if (!ok) break;
        bool r = false;
        size_t i;
        json_t *x;
        json_array_foreach(req, i, x) if (json_is_string(x) && !strcmp(json_string_value(x), k)) r = true;
        excl[ne++] = k;
        if (json_is_false(v)) {
            if (r) ok = set_err(c, LAIR_ERR_UNSUPPORTED, "%s: keyword '%s' requires a property whose schema is false", ptr, "required");
            continue;
        }
        sub_ptr(sp, ptr, "properties", k);
        if (!gen(c, v, sp, depth + 1, en)) {
            ok = false;
            break;
        }
        names[n] = k, must[n] = r, kv[n] = c->n_rules++;
        sch_printf(&c->rules, "s%d ::= ", kv[n]);
        json_t *js = json_string(k);
        char *t = json_dumps(js, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(js);
        if (t) sch_lit(&c->rules, t, strlen(t));
        free(t);
        sch_printf(&c->rules, " ws \":\" ws %s\n", en);
        n++;
    }
    size_t ri;
    json_t *rx;
    char extra[24] = "";
    if (ok && ap && !json_is_false(ap)) {
        sub_ptr(sp, ptr, "additionalProperties", NULL);
        ok = gen(c, ap, sp, depth + 1, extra);
    }
    json_array_foreach(req, ri, rx) {
        if (!ok) break;
        const char *rn = json_string_value(rx);
        if (!rn) {
            ok = set_err(c, LAIR_ERR_FORMAT, "%s: keyword '%s' must list strings", ptr, "required");
            break;
        }
        if (json_object_get(props, rn)) continue;
        bool dup = false;
        for (size_t i = 0; i < n; i++)
            if (!strcmp(names[i], rn)) dup = true;
        if (dup) continue;
        if (!extra[0]) {
            ok = set_err(c, LAIR_ERR_UNSUPPORTED, "%s: keyword '%s' names a property that additionalProperties does not allow", ptr, "required");
            break;
        }
        names[n] = rn, must[n] = true, kv[n] = c->n_rules++;
        excl[ne++] = rn;
        json_t *js = json_string(rn);
        char *t = json_dumps(js, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(js);
        sch_printf(&c->rules, "s%d ::= ", kv[n]);
        if (t) sch_lit(&c->rules, t, strlen(t));
        free(t);
        sch_printf(&c->rules, " ws \":\" ws %s\n", extra);
        n++;
    }
    int ex = -1; /* one extra member: a key not listed, then the value */
    if (ok && extra[0]) {
        size_t na = 0; /* keep the ASCII names (see not_names) */
        for (size_t i = 0; i < ne && ok; i++) {
            bool ascii = true;
            for (const char *q = excl[i]; *q; q++)
                if ((unsigned char)*q >= 0x80 || *q == '"' || *q == '\\' || (unsigned char)*q < 0x20) ascii = false;
            if (!ascii) continue;
            if (strlen(excl[i]) > 256) /* the exclusion trie recurses once per byte */
                ok = set_err(c, LAIR_ERR_LIMIT, "%s: a property name longer than 256 bytes with '%s'", ptr, "additionalProperties");
            excl[na++] = excl[i];
        }
        ne = na;
    }
    if (ok && extra[0]) {
        int nn = c->n_rules++;
        not_names(c, excl, ne, 0, nn);
        ex = c->n_rules++;
        sch_printf(&c->rules, "s%d ::= \"\\\"\" s%d \"\\\"\" ws \":\" ws %s\n", ex, nn, extra);
    }
    if (ok) {
        /* T_i: members i.. after something was written (each with a comma);
         * H_i: members i.. when nothing was written yet (first has none) */
        int base = c->n_rules;
        c->n_rules += 2 * (int)(n + 1);
        for (size_t i = n + 1; i-- > 0;) {
            int T = base + 2 * (int)i, H = T + 1;
            if (i == n) {
                if (ex >= 0) {
                    sch_printf(&c->rules, "s%d ::= (ws \",\" ws s%d)*\n", T, ex);
                    sch_printf(&c->rules, "s%d ::= (s%d s%d)?\n", H, ex, T);
                } else {
                    sch_printf(&c->rules, "s%d ::= \n", T);
                    sch_printf(&c->rules, "s%d ::= \n", H);
                }
            } else if (must[i]) {
                sch_printf(&c->rules, "s%d ::= ws \",\" ws s%d s%d\n", T, kv[i], T + 2);
                sch_printf(&c->rules, "s%d ::= s%d s%d\n", H, kv[i], T + 2);
            } else {
                sch_printf(&c->rules, "s%d ::= (ws \",\" ws s%d)? s%d\n", T, kv[i], T + 2);
                sch_printf(&c->rules, "s%d ::= s%d s%d | s%d\n", H, kv[i], T + 2, H + 2);
            }
        }
        sch_printf(b, "\"{\" ws s%d ws \"}\"", base + 1);
    }
    lair_free(names), lair_free(kv), lair_free(must), lair_free(excl);
    return ok;
}

/* Branches of oneOf are disjoint when their type sets (explicit type, or
 * the types of their enum/const values) do not meet, or both enumerate
 * values and share none. */
static bool disjoint(ctx *c, const json_t *a, const json_t *b, const char *ptr) {
    const json_t *s[2] = {a, b};
    int m[2];
    const json_t *vals[2] = {NULL, NULL};
    json_t *tmp[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
        bool ok = true;
        if (!json_is_object(s[i])) return false;
        const json_t *e = json_object_get(s[i], "enum"), *k = json_object_get(s[i], "const");
        if (k) vals[i] = tmp[i] = json_pack("[O]", k);
        else if (json_is_array(e)) vals[i] = e;
        m[i] = json_object_get(s[i], "type") ? types_of(c, s[i], ptr, &ok) : T_ALL;
        if (!ok) c->st = LAIR_OK; /* a bad type is reported when compiled */
        if (vals[i]) {
            int vm = 0;
            size_t j;
            json_t *x;
            json_array_foreach(vals[i], j, x) vm |= json_is_integer(x) || json_is_real(x) ? T_NUM | T_INT
                                                   : json_is_string(x) ? T_STR : json_is_boolean(x) ? T_BOOL
                                                   : json_is_null(x) ? T_NULL : json_is_array(x) ? T_ARR : T_OBJ;
            m[i] &= vm;
        }
        if (m[i] & (T_NUM | T_INT)) m[i] |= T_NUM | T_INT;
    }
    bool d = (m[0] & m[1]) == 0;
    if (!d && vals[0] && vals[1]) {
        d = true;
        size_t i, j;
        json_t *x, *y;
        json_array_foreach(vals[0], i, x) json_array_foreach(vals[1], j, y) {
            if (json_equal(x, y) || (json_is_number(x) && json_is_number(y) && json_number_value(x) == json_number_value(y)))
                d = false;
        }
    }
    json_decref(tmp[0]), json_decref(tmp[1]);
    return d;
}

static bool gen_enum(ctx *c, const json_t *s, const char *ptr, sch_buf *b) {
    const json_t *e = json_object_get(s, "enum"), *k = json_object_get(s, "const");
    if (e && !json_is_array(e)) return set_err(c, LAIR_ERR_FORMAT, "%s: keyword '%s' must be an array", ptr, "enum");
    if (json_array_size(e) > MAX_ENUM) return set_err(c, LAIR_ERR_LIMIT, "%s: keyword '%s' has more than 4096 values", ptr, "enum");
    const char *kw;
    json_t *v;
    json_object_foreach((json_t *)s, kw, v) {
        if (is_constraint(kw) && strcmp(kw, "enum") && strcmp(kw, "const") && strcmp(kw, "type") && strcmp(kw, "nullable"))
            if (!cannot(c, ptr, kw)) return false;
    }
    bool tok = true;
    int m = types_of(c, s, ptr, &tok);
    if (!tok) return false;
    m |= (m & T_NUM) ? T_INT : 0;
    int alts = 0;
    size_t n = k ? 1 : json_array_size(e);
    sch_put(b, "(");
    for (size_t i = 0; i < n; i++) {
        const json_t *x = k ? k : json_array_get(e, i);
        if (k && e) {
            bool in = false;
            size_t j;
            json_t *y;
            json_array_foreach(e, j, y) if (json_equal(x, y)) in = true;
            if (!in) continue;
        }
        if (!json_type_in(x, m)) continue;
        char *t = json_dumps(x, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!t) return set_err(c, LAIR_ERR_NOMEM, "%s: out of memory in '%s'", ptr, "enum");
        if (alts++) sch_put(b, " | ");
        sch_lit(b, t, strlen(t));
        free(t);
    }
    sch_put(b, ")");
    if (!alts) return set_err(c, LAIR_ERR_UNSUPPORTED, "%s: keyword '%s' leaves no value that the schema allows", ptr, k ? "const" : "enum");
    return true;
}

static bool gen_body(ctx *c, const json_t *s, const char *ptr, int depth, sch_buf *b) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v) {
        if (!in_list(k, ANNOTATIONS) && !in_list(k, HANDLED) && !(depth == 0 && !strcmp(k, "$id")))
            if (!cannot(c, ptr, k)) return false;
    }
    const json_t *ref = json_object_get(s, "$ref");
    if (ref) {
        if (!json_is_string(ref)) return set_err(c, LAIR_ERR_FORMAT, "%s: keyword '%s' must be a string", ptr, "$ref");
        json_object_foreach((json_t *)s, k, v) {
            if (strcmp(k, "$ref") && is_constraint(k) && in_list(k, HANDLED))
                if (!cannot(c, ptr, k)) return false;
        }
        char nm[24];
        if (!gen_ref(c, json_string_value(ref), ptr, depth, nm)) return false;
        sch_put(b, nm);
        return true;
    }
    const json_t *all = json_object_get(s, "allOf");
    if (all) {
        static const char *const drop[] = {"allOf", NULL};
        if (!json_is_array(all)) return set_err(c, LAIR_ERR_FORMAT, "%s: keyword '%s' must be an array", ptr, "allOf");
        json_t *m = merged(c, s, drop, all, NULL, ptr, "allOf");
        char nm[24];
        if (!m || !gen(c, m, ptr, depth + 1, nm)) return false;
        sch_put(b, nm);
        return true;
    }
    const json_t *any = json_object_get(s, "anyOf"), *one = json_object_get(s, "oneOf");
    if (any || one) {
        if (any && one) return set_err(c, LAIR_ERR_UNSUPPORTED, "%s: keyword '%s' cannot be enforced together with anyOf", ptr, "oneOf");
        const json_t *br = any ? any : one;
        const char *kw = any ? "anyOf" : "oneOf";
        if (!json_is_array(br) || !json_array_size(br)) return set_err(c, LAIR_ERR_FORMAT, "%s: keyword '%s' must be a non-empty array", ptr, kw);
        if (one) {
            for (size_t i = 0; i < json_array_size(br); i++)
                for (size_t j = i + 1; j < json_array_size(br); j++)
                    if (!disjoint(c, json_array_get(br, i), json_array_get(br, j), ptr) && !cannot(c, ptr, "oneOf")) return false;
        }
        bool siblings = false;
        json_object_foreach((json_t *)s, k, v) if (is_constraint(k) && strcmp(k, kw)) siblings = true;
        sch_put(b, "(");
        for (size_t i = 0; i < json_array_size(br); i++) {
            const json_t *bi = json_array_get(br, i);
            char nm[24], sp[PTR_MAX], idx[24];
            snprintf(idx, sizeof idx, "%zu", i);
            sub_ptr(sp, ptr, kw, idx);
            if (siblings) {
                const char *drop[] = {kw, NULL};
                bi = merged(c, s, drop, NULL, bi, sp, kw);
                if (!bi) return false;
            }
            if (!gen(c, bi, sp, depth + 1, nm)) return false;
            sch_printf(b, "%s%s", i ? " | " : "", nm);
        }
        sch_put(b, ")");
        return true;
    }
    if (json_object_get(s, "enum") || json_object_get(s, "const")) return gen_enum(c, s, ptr, b);
    bool tok = true;
    int m = types_of(c, s, ptr, &tok);
    if (!tok) return false;
    if (!m) return set_err(c, LAIR_ERR_UNSUPPORTED, "%s: keyword '%s' allows no type", ptr, "type");
    bool plain = !json_object_get(s, "type");
    json_object_foreach((json_t *)s, k, v) if (is_constraint(k) && strcmp(k, "nullable")) plain = false;
    if (plain) {
        sch_put(b, "value");
        return true;
    }
    int alts = 0;
    sch_put(b, "(");
#define ALT() (alts++ ? sch_put(b, " | ") : (void)0)
    if (m & T_NULL) ALT(), sch_put(b, "\"null\"");
    if (m & T_BOOL) ALT(), sch_put(b, "boolean");
    if (m & T_NUM) {
        static const char *const nk[] = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"};
        for (int i = 0; i < 4; i++)
            if (json_object_get(s, nk[i]) && !cannot(c, ptr, nk[i])) return false;
        ALT(), sch_put(b, "number");
    }
    if (m & T_INT) {
        ALT();
        if (!gen_integer(c, s, ptr, b)) return false;
    }
    if (m & T_STR) {
        ALT();
        if (!gen_string(c, s, ptr, b)) return false;
    }
    if (m & T_ARR) {
        ALT();
        if (!gen_array(c, s, ptr, depth, b)) return false;
    }
    if (m & T_OBJ) {
        ALT();
        if (!gen_object(c, s, ptr, depth, b)) return false;
    }
#undef ALT
    sch_put(b, ")");
    return true;
}

static bool gen(ctx *c, const json_t *s, const char *ptr, int depth, char name[24]) {
    if (c->st != LAIR_OK) return false;
    if (depth > c->o->max_depth)
        return set_err(c, LAIR_ERR_LIMIT, "%s: schema nested deeper than the limit (%s levels)", ptr,
                       c->o->max_depth == 64 ? "64" : "max_depth");
    if (!c->rules.ok) return set_err(c, LAIR_ERR_LIMIT, "%s: the grammar grows past the size limit (%s)", ptr, "max_grammar");
    if (json_is_true(s)) {
        strcpy(name, "value");
        return true;
    }
    if (json_is_false(s)) return set_err(c, LAIR_ERR_UNSUPPORTED, "%s: keyword '%s' (the schema false) allows no value", ptr, "false");
    if (!json_is_object(s)) return set_err(c, LAIR_ERR_FORMAT, "%s: a schema must be an object or a boolean (%s)", ptr, "type");
    int id = c->n_rules++;
    sch_buf b = {0};
    b.cap = c->o->max_grammar;
    b.ok = true;
    bool ok = gen_body(c, s, ptr, depth, &b);
    if (ok) {
        if (!b.ok) ok = set_err(c, LAIR_ERR_LIMIT, "%s: the grammar grows past the size limit (%s)", ptr, "max_grammar");
        else sch_printf(&c->rules, "s%d ::= ", id), sch_put(&c->rules, b.s), sch_put(&c->rules, "\n");
    }
    lair_free(b.s);
    snprintf(name, 24, "s%d", id);
    return ok;
}

lair_schema_opts lair_schema_default_opts(void) {
    lair_schema_opts o = {true, 64, (size_t)1 << 20};
    return o;
}

lair_status lair_schema_to_gbnf(const json_t *schema, const lair_schema_opts *o, char **gbnf, char **unenforced,
                                lair_err *err) {
    lair_schema_opts def = lair_schema_default_opts();
    if (!o) o = &def;
    *gbnf = NULL;
    if (unenforced) *unenforced = NULL;
    if (!schema) return lair_err_set(err, LAIR_ERR_ARG, "schema: no schema given");
    ctx c = {0};
    c.o = o;
    c.root = schema;
    c.err = err;
    c.keep = json_array();
    c.rules.cap = o->max_grammar;
    c.rules.ok = true;
    c.unenf.cap = 1 << 16;
    c.unenf.ok = true;
    sch_put(&c.rules, PRELUDE);
    char top[24];
    if (gen(&c, schema, "", 0, top)) {
        sch_printf(&c.rules, "root ::= ws %s ws\n", top);
        if (!c.rules.ok) set_err(&c, LAIR_ERR_LIMIT, "%s: the grammar grows past the size limit (%s)", "", "max_grammar");
    }
    for (int i = 0; i < c.n_refs; i++) lair_free(c.ref_ptr[i]);
    json_decref(c.keep);
    if (c.st == LAIR_OK) {
        /* a last check: the engine must accept what we emit (catches e.g.
         * recursion that can never end, which no JSON text satisfies) */
        lair_grammar *g = NULL;
        lair_grammar_limits lim = lair_grammar_default_limits();
        if (lim.max_text < o->max_grammar + 1) lim.max_text = o->max_grammar + 1;
        c.st = lair_grammar_parse(c.rules.s, c.rules.len, "root", &lim, &g, err);
        lair_grammar_free(g);
    }
    if (c.st != LAIR_OK) {
        lair_free(c.rules.s);
        lair_free(c.unenf.s);
        return c.st;
    }
    *gbnf = c.rules.s;
    if (unenforced && c.unenf.len) *unenforced = c.unenf.s;
    else lair_free(c.unenf.s);
    return LAIR_OK;
}

const char *lair_schema_json_object_gbnf(void) {
    static const char G[] = "root ::= ws object ws\n" PRELUDE_TEXT;
    return G;
}
