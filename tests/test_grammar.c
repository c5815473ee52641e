/* The grammar engine: GBNF parsing (every syntax element, errors naming the
 * line and rule, limits), accepts() on many grammars (a JSON grammar against
 * valid and invalid JSON incl. Japanese and emoji, repetition bounds,
 * classes, "." on multibyte), and the matcher on real vocabularies: mask and
 * accept agree, tokens ending inside a character, end-of-generation only
 * when complete, the budget guarantee, finished(). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/alloc.h"
#include "core/platform.h"
#include "grammar/grammar.h"
#include "grammar/grammar_internal.h"
#include "lair.h"

static lair_grammar *parse(const char *text) {
    lair_grammar *g = NULL;
    lair_err e = {0};
    lair_status st = lair_grammar_parse(text, strlen(text), NULL, NULL, &g, &e);
    if (st != LAIR_OK) check_fail(__FILE__, __LINE__, "parse failed: %s", e.msg);
    return g;
}

/* Parse must fail with code and a message containing each of want[]. */
static void parse_fails(const char *text, lair_status code, const char *want1, const char *want2) {
    lair_grammar *g = NULL;
    lair_err e = {0};
    lair_status st = lair_grammar_parse(text, strlen(text), NULL, NULL, &g, &e);
    CHECKF(st == code, "'%s': status %s, want %s (%s)", text, lair_status_name(st), lair_status_name(code), e.msg);
    CHECKF(g == NULL, "'%s': grammar returned on failure", text);
    if (want1) CHECKF(strstr(e.msg, want1) != NULL, "'%s': message '%s' lacks '%s'", text, e.msg, want1);
    if (want2) CHECKF(strstr(e.msg, want2) != NULL, "'%s': message '%s' lacks '%s'", text, e.msg, want2);
    lair_grammar_free(g);
}

static bool acc(const lair_grammar *g, const char *s) { return lair_grammar_accepts(g, s, strlen(s)); }

#define YES(g, s) CHECKF(acc(g, s), "should accept '%s'", s)
#define NO(g, s) CHECKF(!acc(g, s), "should reject '%s'", s)

TEST(parse_syntax_elements) {
    lair_grammar *g = parse("# a comment line\n"
                            "root ::= greeting \" \" name   # trailing comment\n"
                            "greeting ::= \"hello\" | \"hi\"\n"
                            "name ::= [A-Z] [a-z]* (\"-\" [A-Z] [a-z]+)? digits?\n"
                            "digits ::= [0-9]{1,3}\n");
    REQUIRE(g);
    YES(g, "hello Bob");
    YES(g, "hi Ann-Marie");
    YES(g, "hi X12");
    YES(g, "hi X123");
    NO(g, "hi X1234");
    NO(g, "hi Ann-");
    NO(g, "hey Bob");
    NO(g, "hello bob");
    NO(g, "hello Bob ");
    NO(g, "");
    lair_grammar_free(g);
    /* rules continue over newlines; alternatives after "|" on the next line */
    g = parse("root ::= \"a\"\n  \"b\"\n  | \"c\"\nother ::= \"x\"");
    REQUIRE(g);
    YES(g, "ab");
    YES(g, "c");
    NO(g, "a");
    lair_grammar_free(g);
    /* empty alternative, empty literal, nested groups */
    g = parse("root ::= (\"x\" (\"y\" | \"\") | ) \"\" \"z\"");
    REQUIRE(g);
    YES(g, "xyz");
    YES(g, "xz");
    YES(g, "z");
    NO(g, "yz");
    lair_grammar_free(g);
    /* another start rule */
    lair_grammar *g2 = NULL;
    lair_err e;
    const char *t = "a ::= \"1\"\nb ::= \"2\"";
    REQUIRE(lair_grammar_parse(t, strlen(t), "b", NULL, &g2, &e) == LAIR_OK);
    CHECK(acc(g2, "2") && !acc(g2, "1"));
    lair_grammar_free(g2);
}

TEST(parse_escapes) {
    lair_grammar *g = parse("root ::= \"\\n\\r\\t\\\\\\\"\\x41\\u00e9\\U0001F600\" [\\]\\[\\-] [\\x30-\\x39]");
    REQUIRE(g);
    YES(g, "\n\r\t\\\"A\xC3\xA9\xF0\x9F\x98\x80]5");
    YES(g, "\n\r\t\\\"A\xC3\xA9\xF0\x9F\x98\x80[0");
    YES(g, "\n\r\t\\\"A\xC3\xA9\xF0\x9F\x98\x80-9");
    NO(g, "\n\r\t\\\"A\xC3\xA9\xF0\x9F\x98\x80x9");
    lair_grammar_free(g);
    g = parse("root ::= \"日本語\" [ぁ-ん]+");
    REQUIRE(g);
    YES(g, "日本語ひらがな");
    NO(g, "日本語カタカナ");
    NO(g, "日本");
    lair_grammar_free(g);
}

TEST(parse_errors_name_line_and_rule) {
    parse_fails("root ::= foo\n", LAIR_ERR_FORMAT, "'foo'", "line 1");
    parse_fails("root ::= \"a\"\nx ::= \"b\" y\n", LAIR_ERR_FORMAT, "'y' is referenced but not defined", "rule 'x'");
    parse_fails("start ::= \"a\"\n", LAIR_ERR_FORMAT, "no rule 'root'", NULL);
    parse_fails("root ::= \"a\"\n\nx ::= \"\\q\"\n", LAIR_ERR_FORMAT, "bad escape '\\q'", "line 3, rule 'x'");
    parse_fails("root ::= \"abc\n", LAIR_ERR_FORMAT, "line 1, rule 'root'", NULL);
    parse_fails("root ::= \"abc", LAIR_ERR_FORMAT, "unterminated literal", NULL);
    parse_fails("root ::= [abc", LAIR_ERR_FORMAT, "unterminated character class", NULL);
    parse_fails("root ::= [z-a]", LAIR_ERR_FORMAT, "out of order", NULL);
    parse_fails("root ::= (\"a\"", LAIR_ERR_FORMAT, "missing ')'", NULL);
    parse_fails("root ::= \"a\")", LAIR_ERR_FORMAT, "unmatched ')'", NULL);
    parse_fails("root ::= \"a\"{3,2}", LAIR_ERR_FORMAT, "m < n", NULL);
    parse_fails("root ::= \"\\u12\"", LAIR_ERR_FORMAT, "hex digits", NULL);
    parse_fails("root ::= \"\\uD800\"", LAIR_ERR_FORMAT, "surrogate", NULL);
    parse_fails("root = \"a\"", LAIR_ERR_FORMAT, "expected '::='", NULL);
    parse_fails("root ::= \"a\"\nroot ::= \"b\"", LAIR_ERR_FORMAT, "defined twice", "line 2");
    parse_fails("root ::= @", LAIR_ERR_FORMAT, "unexpected character '@'", NULL);
    parse_fails("root ::= [^\\x00-\\U0010FFFF]", LAIR_ERR_FORMAT, "matches no character", NULL);
    parse_fails("root ::= \"\xff\"", LAIR_ERR_FORMAT, "invalid UTF-8", NULL);
    parse_fails("root ::= x\nx ::= \"a\" x", LAIR_ERR_FORMAT, "'x' can never finish", "line 2");
    parse_fails("root ::= x\nx ::= x \"a\" | \"b\"", LAIR_ERR_UNSUPPORTED, "'x' is left-recursive", "line 2");
    parse_fails("root ::= y\ny ::= z? x\nz ::= \"q\"\nx ::= y \"a\" | \"b\"", LAIR_ERR_UNSUPPORTED, "left-recursive", NULL);
}

TEST(parse_limits) {
    lair_grammar_limits lim = lair_grammar_default_limits();
    CHECK(lim.max_text == 1u << 20 && lim.max_rules == 10000 && lim.max_depth == 64 && lim.max_repeat == 10000);
    /* 60 000-deep nesting: refused fast with LAIR_ERR_LIMIT */
    size_t n = 60000;
    char *t = malloc(2 * n + 32);
    REQUIRE(t);
    size_t w = (size_t)sprintf(t, "root ::= ");
    memset(t + w, '(', n);
    w += n;
    t[w++] = '"';
    t[w++] = 'a';
    t[w++] = '"';
    memset(t + w, ')', n);
    w += n;
    lair_grammar *g = NULL;
    lair_err e = {0};
    double t0 = lair_time_seconds();
    lair_status st = lair_grammar_parse(t, w, NULL, NULL, &g, &e);
    double dt = lair_time_seconds() - t0;
    CHECKF(st == LAIR_ERR_LIMIT && strstr(e.msg, "nested"), "60k nesting: %s", e.msg);
    CHECKF(dt < 0.1, "60k nesting took %.3f s", dt);
    free(t);
    /* 10 MB text */
    size_t big = 10u << 20;
    t = malloc(big);
    REQUIRE(t);
    memset(t, ' ', big);
    memcpy(t, "root ::= \"a\"", 12);
    t0 = lair_time_seconds();
    st = lair_grammar_parse(t, big, NULL, NULL, &g, &e);
    dt = lair_time_seconds() - t0;
    CHECKF(st == LAIR_ERR_LIMIT && strstr(e.msg, "exceeds the limit"), "10 MB: %s", e.msg);
    CHECKF(dt < 0.1, "10 MB took %.3f s", dt);
    free(t);
    parse_fails("root ::= \"a\"{10001}", LAIR_ERR_LIMIT, "repetition bound", NULL);
    parse_fails("root ::= \"a\"{99999999999999999999}", LAIR_ERR_LIMIT, "repetition bound", NULL);
    /* rules after expansion: 3 x {0,5000} = 15000 generated rules */
    parse_fails("root ::= \"a\"{0,5000} \"b\"{0,5000} \"c\"{0,5000}", LAIR_ERR_LIMIT, "rules", NULL);
    /* nested repetitions share their inner rule: small, and a shortest
     * sentence of 2e16 bytes saturates instead of overflowing */
    g = parse("root ::= ((((\"ab\"{10000}){10000}){10000}){10000}) | \"z\"");
    REQUIRE(g);
    CHECK(acc(g, "z") && !acc(g, "ab"));
    lair_grammar_free(g);
    /* expansion bounded by element count: 500 x {10000} = 5M elements */
    size_t cap = 600 * 12 + 32;
    t = malloc(cap);
    REQUIRE(t);
    w = (size_t)sprintf(t, "root ::=");
    for (int k = 0; k < 500; k++) w += (size_t)sprintf(t + w, " \"a\"{10000}");
    t0 = lair_time_seconds();
    parse_fails(t, LAIR_ERR_LIMIT, "too large", NULL);
    dt = lair_time_seconds() - t0;
    CHECKF(dt < 1.0, "expansion to the element limit took %.3f s", dt);
    free(t);
    /* 200 000 alternatives (1 MiB of text) parse and check in linear time */
    t = malloc(1u << 20);
    REQUIRE(t);
    w = (size_t)sprintf(t, "root ::= a");
    while (w + 4 < (1u << 20) - 16) w += (size_t)sprintf(t + w, " | a");
    w += (size_t)sprintf(t + w, "\na ::= \"x\"");
    t0 = lair_time_seconds();
    st = lair_grammar_parse(t, w, NULL, NULL, &g, &e);
    dt = lair_time_seconds() - t0;
    CHECKF(st == LAIR_OK, "%s", e.msg);
    CHECKF(dt < 1.0, "200k alternatives took %.3f s", dt);
    if (st == LAIR_OK) CHECK(acc(g, "x") && !acc(g, "xx"));
    lair_grammar_free(g);
    free(t);
    lim.max_depth = 2;
    const char *d3 = "root ::= (((\"a\")))";
    CHECK(lair_grammar_parse(d3, strlen(d3), NULL, &lim, &g, &e) == LAIR_ERR_LIMIT);
    const char *d2 = "root ::= ((\"a\"))";
    CHECK(lair_grammar_parse(d2, strlen(d2), NULL, &lim, &g, &e) == LAIR_OK);
    CHECK(acc(g, "a"));
    lair_grammar_free(g);
}

static const char *k_json_gbnf =
    "root   ::= ws value ws\n"
    "value  ::= object | array | string | number | (\"true\" | \"false\" | \"null\")\n"
    "object ::= \"{\" ws ( string ws \":\" ws value ( ws \",\" ws string ws \":\" ws value )* )? ws \"}\"\n"
    "array  ::= \"[\" ws ( value ( ws \",\" ws value )* )? ws \"]\"\n"
    "string ::= \"\\\"\" ( [^\"\\\\\\x00-\\x1f] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4} ) )* \"\\\"\"\n"
    "number ::= \"-\"? ( \"0\" | [1-9] [0-9]* ) ( \".\" [0-9]+ )? ( [eE] [-+]? [0-9]+ )?\n"
    "ws     ::= [ \\t\\n\\r]*\n";

TEST(accepts_json) {
    lair_grammar *g = parse(k_json_gbnf);
    REQUIRE(g);
    static const char *const good[] = {
        "{}", "[]", "0", "-0.5e+10", "\"\"", "true", " null ", "{\"a\":1,\"b\":[1,2,{\"c\":null}]}",
        "{\"名前\": \"山田太郎\", \"趣味\": [\"読書\", \"🎉 パーティー\"]}", "\"\\u00e9\\n\\\"\"",
        "[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]", "\"😀😀😀\"", "\n{\n  \"k\" : false\n}\n",
    };
    static const char *const bad[] = {
        "{", "[1,]", "01", "-", "\"abc", "{\"a\" 1}", "{a:1}", "[1 2]", "\"\\x\"", "\"\\u12\"", "nul", "1.",
        "\"tab\there\"", "{}{}", "\"\xE3\x81\"", "\"\xFF\"", "\"\xED\xA0\x80\"", "\"\xC0\xAF\"",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) YES(g, good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) NO(g, bad[i]);
    /* deep nesting in the output: the stack grows as a list, no recursion */
    size_t n = 20000;
    char *t = malloc(2 * n + 1);
    REQUIRE(t);
    memset(t, '[', n);
    memset(t + n, ']', n);
    CHECK(lair_grammar_accepts(g, t, 2 * n));
    CHECK(!lair_grammar_accepts(g, t, 2 * n - 1));
    free(t);
    lair_grammar_free(g);
}

TEST(accepts_repetition_bounds) {
    lair_grammar *g = parse("root ::= \"a\"{2} \"b\"{1,3} \"c\"{2,} (\"de\"){0,2} \"f\"{0}");
    REQUIRE(g);
    YES(g, "aabcc");
    YES(g, "aabbbccccdede");
    YES(g, "aabccde");
    NO(g, "abcc");
    NO(g, "aaabcc");
    NO(g, "aacc");
    NO(g, "aabbbbcc");
    NO(g, "aabc");
    NO(g, "aabccdedede");
    NO(g, "aabccd");
    NO(g, "aabccf");
    lair_grammar_free(g);
    g = parse("root ::= [0-9]{3,5}");
    REQUIRE(g);
    NO(g, "12");
    YES(g, "123");
    YES(g, "12345");
    NO(g, "123456");
    lair_grammar_free(g);
}

TEST(accepts_classes) {
    lair_grammar *g = parse("root ::= [^a-z0-9\\n] [a-cx] [^\\u3040-\\u309F]");
    REQUIRE(g);
    YES(g, "Abq");
    YES(g, "あcカ");
    YES(g, "😀x!");
    NO(g, "abq");
    NO(g, "5bq");
    NO(g, "\nbq");
    NO(g, "Adq");
    NO(g, "Abぁ");
    lair_grammar_free(g);
    g = parse("root ::= . . \".\"");
    REQUIRE(g);
    YES(g, "ab.");
    YES(g, "日😀.");
    YES(g, "é\n.");
    NO(g, "日.");
    NO(g, "ab");
    NO(g, "\xE6\x97.."); /* truncated character */
    lair_grammar_free(g);
}

TEST(accepts_ambiguous_bounded) {
    /* exponentially ambiguous: (a|a|aa)* over a long input stays fast */
    lair_grammar *g = parse("root ::= (\"a\" | \"a\" | \"aa\" | x)* \"b\"\nx ::= \"a\"+");
    REQUIRE(g);
    size_t n = 5000;
    char *t = malloc(n + 1);
    REQUIRE(t);
    memset(t, 'a', n);
    t[n] = 'b';
    double t0 = lair_time_seconds();
    CHECK(lair_grammar_accepts(g, t, n + 1));
    CHECK(!lair_grammar_accepts(g, t, n));
    double dt = lair_time_seconds() - t0;
    CHECKF(dt < 1.0, "ambiguous grammar took %.3f s", dt);
    free(t);
    lair_grammar_free(g);
}


/* ---- matcher on real vocabularies ----------------------------------------- */

typedef struct vfix {
    lair_vocab *v;
    lair_grammar_vocab *gv;
    int32_t n;
} vfix;

static bool load_vocab(const char *name, vfix *f) {
    char rel[128];
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", name);
    const char *path = check_testdata(rel);
    if (!path) return false;
    lair_err e = {0};
    if (lair_vocab_load(path, &f->v, &e) != LAIR_OK) {
        check_fail(__FILE__, __LINE__, "%s: %s", name, e.msg);
        return false;
    }
    if (lair_grammar_vocab_create(f->v, &f->gv, &e) != LAIR_OK) {
        check_fail(__FILE__, __LINE__, "%s: %s", name, e.msg);
        lair_vocab_free(f->v);
        return false;
    }
    f->n = lair_vocab_n_tokens(f->v);
    return true;
}

static void free_vocab(vfix *f) {
    lair_grammar_vocab_free(f->gv);
    lair_vocab_free(f->v);
}

static uint64_t g_rng = 0x9E3779B97F4A7C15u;
static uint32_t rnd(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 11);
}

/* A random set bit of the mask (-1 when empty); end-of-generation tokens
 * only when prefer_end or nothing else is set. */
static int32_t pick(const uint32_t *mask, int32_t n, const lair_vocab *v, bool prefer_end) {
    int32_t cnt = 0, end = -1;
    for (int32_t t = 0; t < n; t++)
        if (mask[t >> 5] >> (t & 31) & 1) {
            if (lair_vocab_is_eog(v, t)) end = t;
            else cnt++;
        }
    if (end >= 0 && (prefer_end || cnt == 0)) return end;
    if (cnt == 0) return -1;
    int32_t k = (int32_t)(rnd() % (uint32_t)cnt);
    for (int32_t t = 0; t < n; t++)
        if ((mask[t >> 5] >> (t & 31) & 1) && !lair_vocab_is_eog(v, t) && k-- == 0) return t;
    return -1;
}

static const char *k_obj_gbnf =
    "root ::= \"{\" ws \"\\\"name\\\"\" ws \":\" ws str ws \",\" ws \"\\\"tags\\\"\" ws \":\" ws \"[\" ws "
    "( str ( ws \",\" ws str )* )? ws \"]\" ws \",\" ws \"\\\"n\\\"\" ws \":\" ws num ws \"}\"\n"
    "str ::= \"\\\"\" ( [^\"\\\\\\x00-\\x1f] | \"\\\\\" [\"\\\\nt] )* \"\\\"\"\n"
    "num ::= \"-\"? [0-9]{1,6}\n"
    "ws ::= [ \\n]{0,2}\n";

static const char *k_bounded_gbnf = "root ::= \"{\\\"id\\\": \\\"\" [a-z0-9 ]{2,12} \"\\\", \\\"s\\\": \\\"\" "
                                    "[^\"\\\\]{0,40} \"\\\"}\"";

/* For states reached by random walks: bit t of the mask iff allows(t) iff
 * accept(t) would succeed; the text of a walk that ends complete is
 * accepted by lair_grammar_accepts. */
static void mask_consistency(const char *vname, const char *gbnf, int walks, int steps) {
    vfix f;
    if (!load_vocab(vname, &f)) return;
    lair_grammar *g = parse(gbnf);
    uint32_t *mask = calloc((size_t)(f.n + 31) / 32, 4);
    char *text = malloc(1 << 16);
    if (!g || !mask || !text) goto out;
    for (int w = 0; w < walks; w++) {
        lair_grammar_matcher *m = NULL;
        lair_err e;
        if (lair_grammar_matcher_create(g, f.gv, &m, &e) != LAIR_OK) {
            check_fail(__FILE__, __LINE__, "%s", e.msg);
            break;
        }
        size_t len = 0;
        bool ended = false;
        for (int st = 0; st < steps && !ended; st++) {
            int64_t cnt = lair_grammar_matcher_mask(m, mask, f.n, -1);
            int64_t c2 = 0, bad = 0, first_bad = -1;
            for (int32_t t = 0; t < f.n; t++) {
                bool bit = mask[t >> 5] >> (t & 31) & 1;
                c2 += bit;
                if (bit != lair_grammar_matcher_allows(m, t) && bad++ == 0) first_bad = t;
            }
            CHECKF(bad == 0, "%s walk %d step %d: %lld tokens disagree with allows(), e.g. %lld", vname, w, st,
                   (long long)bad, (long long)first_bad);
            CHECKF(c2 == cnt, "%s: mask count %lld, bits %lld", vname, (long long)cnt, (long long)c2);
            CHECKF(cnt > 0, "%s walk %d step %d: empty mask", vname, w, st);
            if (cnt == 0) break;
            int32_t t = pick(mask, f.n, f.v, st == steps - 1 || rnd() % 16 == 0);
            if (lair_vocab_is_eog(f.v, t)) {
                CHECK(lair_grammar_matcher_complete(m));
                ended = true;
            } else {
                char piece[256];
                size_t pl = lair_token_piece(f.v, t, false, piece, sizeof piece);
                if (pl <= sizeof piece && len + pl < (1 << 16)) {
                    memcpy(text + len, piece, pl);
                    len += pl;
                }
            }
            lair_status as = lair_grammar_matcher_accept(m, t, &e);
            CHECKF(as == LAIR_OK, "%s: accept of a masked token %d failed: %s", vname, (int)t, e.msg);
            /* a token outside the mask is refused, state unchanged */
            for (int k = 0; k < 3; k++) {
                int32_t r = (int32_t)(rnd() % (uint32_t)f.n);
                if (!lair_grammar_matcher_allows(m, r)) {
                    bool was = lair_grammar_matcher_complete(m);
                    int32_t mb = lair_grammar_matcher_min_bytes(m);
                    CHECK(lair_grammar_matcher_accept(m, r, &e) == LAIR_ERR_ARG);
                    CHECK(was == lair_grammar_matcher_complete(m) && mb == lair_grammar_matcher_min_bytes(m));
                }
            }
        }
        if (lair_grammar_matcher_complete(m))
            CHECKF(lair_grammar_accepts(g, text, len), "%s: complete output '%.*s' not accepted", vname, (int)len, text);
        lair_grammar_matcher_free(m);
    }
out:
    free(mask);
    free(text);
    lair_grammar_free(g);
    free_vocab(&f);
}

TEST(mask_consistency_llama_spm) {
    mask_consistency("llama-spm", k_obj_gbnf, 4, 40);
    mask_consistency("llama-spm", k_json_gbnf, 3, 30);
}

TEST(mask_consistency_gpt2) {
    mask_consistency("gpt-2", k_obj_gbnf, 4, 40);
    mask_consistency("gpt-2", "root ::= \"「\" [^」]* \"」\" | \"😀\"+ | [a-z]+ \"日本\"", 4, 20);
    /* bounded runs: the trie walk skips subtrees along the counting-down run */
    mask_consistency("gpt-2", k_bounded_gbnf, 4, 30);
    mask_consistency("deepseek-llm", k_bounded_gbnf, 2, 30);
}

/* The token whose whole piece is the given bytes (-1 if none). */
static int32_t find_piece(const vfix *f, const char *want, size_t wl) {
    char buf[64];
    for (int32_t t = 0; t < f->n; t++) {
        size_t l = lair_token_piece(f->v, t, false, buf, sizeof buf);
        if (l == wl && memcmp(buf, want, wl) == 0) return t;
    }
    return -1;
}

static bool bit(const uint32_t *mask, int32_t t) { return t >= 0 && (mask[t >> 5] >> (t & 31) & 1); }

TEST(mask_mid_character_and_eog) {
    vfix f;
    if (!load_vocab("llama-spm", &f)) return;
    CHECK(lair_grammar_vocab_has_all_bytes(f.gv));
    lair_grammar *g = parse("root ::= \"日本\"");
    uint32_t *mask = calloc((size_t)(f.n + 31) / 32, 4);
    lair_grammar_matcher *m = NULL;
    lair_err e;
    REQUIRE(g && mask && lair_grammar_matcher_create(g, f.gv, &m, &e) == LAIR_OK);
    int32_t b_e6 = find_piece(&f, "\xE6", 1), b_97 = find_piece(&f, "\x97", 1), b_a5 = find_piece(&f, "\xA5", 1);
    int32_t b_e7 = find_piece(&f, "\xE7", 1), eos = lair_vocab_eos(f.v);
    REQUIRE(b_e6 >= 0 && b_97 >= 0 && b_a5 >= 0 && b_e7 >= 0 && eos >= 0);
    CHECK(lair_grammar_matcher_min_bytes(m) == 6);
    lair_grammar_matcher_mask(m, mask, f.n, -1);
    CHECK(bit(mask, b_e6) && !bit(mask, b_e7) && !bit(mask, eos));
    CHECK(lair_grammar_matcher_accept(m, eos, &e) == LAIR_ERR_ARG);
    CHECK(lair_grammar_matcher_accept(m, b_e6, &e) == LAIR_OK);
    CHECK(lair_grammar_matcher_min_bytes(m) == 5);
    lair_grammar_matcher_mask(m, mask, f.n, -1);
    CHECK(bit(mask, b_97) && !bit(mask, b_a5) && !bit(mask, b_e6));
    CHECK(lair_grammar_matcher_accept(m, b_97, &e) == LAIR_OK);
    CHECK(lair_grammar_matcher_accept(m, b_a5, &e) == LAIR_OK);
    CHECK(!lair_grammar_matcher_complete(m));
    int32_t hon = find_piece(&f, "本", 3);
    if (hon >= 0) {
        lair_grammar_matcher_mask(m, mask, f.n, -1);
        CHECK(bit(mask, hon));
        CHECK(lair_grammar_matcher_accept(m, hon, &e) == LAIR_OK);
        CHECK(lair_grammar_matcher_complete(m) && lair_grammar_matcher_finished(m));
        CHECK(lair_grammar_matcher_min_bytes(m) == 0);
        int64_t cnt = lair_grammar_matcher_mask(m, mask, f.n, -1);
        CHECK(bit(mask, eos));
        CHECKF(cnt >= 1 && cnt <= 3, "after the end only end-of-generation tokens: %lld", (long long)cnt);
        CHECK(lair_grammar_matcher_accept(m, eos, &e) == LAIR_OK);
    }
    lair_grammar_matcher_free(m);
    lair_grammar_free(g);
    /* complete but not finished: more may follow */
    g = parse("root ::= \"a\"+");
    REQUIRE(g && lair_grammar_matcher_create(g, f.gv, &m, &e) == LAIR_OK);
    int32_t ta = find_piece(&f, "a", 1);
    REQUIRE(ta >= 0);
    CHECK(lair_grammar_matcher_accept(m, ta, &e) == LAIR_OK);
    CHECK(lair_grammar_matcher_complete(m) && !lair_grammar_matcher_finished(m));
    lair_grammar_matcher_mask(m, mask, f.n, -1);
    CHECK(bit(mask, ta) && bit(mask, eos));
    /* a smaller caller vocabulary than the grammar vocabulary, and control tokens */
    CHECK(lair_grammar_matcher_accept(m, lair_vocab_bos(f.v), &e) == LAIR_ERR_ARG);
    CHECK(lair_grammar_matcher_accept(m, f.n, &e) == LAIR_ERR_ARG);
    lair_grammar_matcher_free(m);
    lair_grammar_free(g);
    free(mask);
    free_vocab(&f);
}

/* ---- the plain-text index: fast masks in strings and bounded runs ---------- */

/* A JSON-schema-like grammar: maxLength runs with escapes, an unbounded
 * string, an array of bounded strings, Japanese keys. */
static const char *k_schema_gbnf =
    "root ::= \"{\" ws \"\\\"名前\\\":\" ws \"\\\"\" char{1,12} \"\\\"\" ws \",\" ws \"\\\"note\\\":\" ws \"\\\"\" "
    "char{0,40} \"\\\"\" ws \",\" ws \"\\\"tags\\\":\" ws \"[\" ( \"\\\"\" char{1,6} \"\\\"\" "
    "( \",\" ws \"\\\"\" char{1,6} \"\\\"\" )* )? \"]\" ws \",\" ws \"\\\"free\\\":\" ws \"\\\"\" char* \"\\\"\" ws \"}\"\n"
    "char ::= [^\"\\\\\\x00-\\x1f] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4} )\n"
    "ws ::= [ \\n]{0,2}\n";

/* Random walks over a pieces vocabulary (token n - 1 ends generation):
 * bit t of the mask iff allows(t), the count matches, masked tokens are
 * accepted, complete texts are accepted by the grammar. */
static void pieces_walks(lair_grammar_vocab *gv, int32_t n, const char *const *pieces, const size_t *lens,
                         const char *gbnf, int walks, int steps, int64_t *plain_masks, int64_t *plain_subtrees) {
    lair_grammar *g = parse(gbnf);
    uint32_t *mask = calloc((size_t)(n + 31) / 32, 4);
    char *text = malloc(1 << 16);
    int32_t *ok = malloc((size_t)n * sizeof *ok);
    REQUIRE(g && mask && text && ok);
    for (int w = 0; w < walks; w++) {
        lair_grammar_matcher *m = NULL;
        lair_err e;
        REQUIRE(lair_grammar_matcher_create(g, gv, &m, &e) == LAIR_OK);
        size_t len = 0;
        for (int st = 0; st < steps; st++) {
            int64_t cnt = lair_grammar_matcher_mask(m, mask, n, -1), c2 = 0, bad = 0, first_bad = -1;
            int32_t n_ok = 0;
            for (int32_t t = 0; t < n; t++) {
                bool b = mask[t >> 5] >> (t & 31) & 1;
                c2 += b;
                if (b != lair_grammar_matcher_allows(m, t) && bad++ == 0) first_bad = t;
                if (b && t != n - 1) ok[n_ok++] = t;
            }
            CHECKF(bad == 0, "'%s' walk %d step %d: %lld tokens disagree with allows(), e.g. %lld ('%.*s')", gbnf, w,
                   st, (long long)bad, (long long)first_bad, first_bad >= 0 ? (int)lens[first_bad] : 0,
                   first_bad >= 0 ? pieces[first_bad] : "");
            CHECKF(c2 == cnt, "mask count %lld, bits %lld", (long long)cnt, (long long)c2);
            if (bad || n_ok == 0) break;
            int32_t t = ok[rnd() % (uint32_t)n_ok];
            CHECK(lair_grammar_matcher_accept(m, t, &e) == LAIR_OK);
            if (len + lens[t] < (1 << 16)) {
                memcpy(text + len, pieces[t], lens[t]);
                len += lens[t];
            }
        }
        if (lair_grammar_matcher_complete(m)) CHECK(lair_grammar_accepts(g, text, len));
        int64_t pm, ps;
        gmatcher_plain_stats(m, &pm, &ps);
        *plain_masks += pm;
        *plain_subtrees += ps;
        lair_grammar_matcher_free(m);
    }
    free(mask);
    free(text);
    free(ok);
    lair_grammar_free(g);
}

/* Whether token t is in the trie of gv. */
static bool in_trie(const lair_grammar_vocab *gv, int32_t t) {
    for (int32_t q = 0; q < gv->tok0[gv->n_nodes]; q++)
        if (gv->toks[q] == t) return true;
    return false;
}

/* Plain pieces, pieces with quotes, backslashes and control bytes, UTF-8
 * cut at either end, broken UTF-8 (never allowed), a plain piece longer
 * than the index holds, random bytes: the index's facts, and masks against
 * allows() for counting runs at every remaining count. */
TEST(plain_index_pieces) {
    enum { N_FIXED = 42, N_RAND = 600, N = 256 + N_FIXED + N_RAND + 1 };
    static char bytes[256][2], rand_p[N_RAND][8], longa[71], longb[65], longc[301], longd[301];
    memset(longa, 'a', 70);
    memset(longb, 'b', 64);
    memset(longc, 'c', 300); /* a trie path of more than 255 plain characters */
    memset(longd, 'e', 300);
    longd[299] = '"';
    const char *fixed[N_FIXED] = {"ab", "abc", "abcd", " the", "日本", "日本語", "\xE6\x97", "\xA5", "\x97\xA5",
                                  "本\xE8", "a\"", "\"a", "\",", "\\n", "\\u00", "a\\", "x\ny", "😀", "\xF0\x9F",
                                  "\x98\x80", longa, longb, "é", "\xED\x9F\xBF", "\xED\xA0\x80", "\xC0\x80",
                                  "\x80\x80\x80\x80", "\x80\x80\x80" "a", "a\x80", "\xF5", "\"}", " \"", "\\\"",
                                  "12", "ab\"cd", "日\"", "\t", "\x7F", "u00e9", "\xE6\x97\xA5\xE6", longc,
                                  longd};
    const char *pieces[N];
    size_t lens[N];
    bool eog[N] = {0};
    for (int b = 0; b < 256; b++) {
        bytes[b][0] = (char)b;
        pieces[b] = bytes[b];
        lens[b] = b == 0 ? 0 : 1; /* byte 0: a control token */
    }
    for (int k = 0; k < N_FIXED; k++) {
        pieces[256 + k] = fixed[k];
        lens[256 + k] = strlen(fixed[k]);
    }
    static const char alpha[] = "ab \"\\\n,{}\xE6\x97\xA5\xE3\x81\x82\xF0\x9F\x98\x80\x80\xC3\xA9";
    for (int k = 0; k < N_RAND; k++) {
        size_t l = 1 + rnd() % 7;
        for (size_t i = 0; i < l; i++) rand_p[k][i] = alpha[rnd() % (sizeof alpha - 1)];
        pieces[256 + N_FIXED + k] = rand_p[k];
        lens[256 + N_FIXED + k] = l;
    }
    pieces[N - 1] = "";
    lens[N - 1] = 0;
    eog[N - 1] = true;
    lair_grammar_vocab *gv = NULL;
    lair_err e;
    REQUIRE(gvocab_from_pieces(pieces, lens, eog, N, &gv, &e) == LAIR_OK);
    /* index facts: plain tokens sit in the rows of their code point counts */
    int32_t words = (N + 31) / 32;
    CHECK(gv->plain_max == 64);
#define ROW_HAS(k, t) (gv->plain_bits[(size_t)(k) * (size_t)words + (size_t)((t) >> 5)] >> ((t) & 31) & 1)
    CHECK(ROW_HAS(3, 257) && !ROW_HAS(2, 257));                    /* abc */
    CHECK(ROW_HAS(2, 265) && !ROW_HAS(1, 265));                    /* 本 + a cut character */
    CHECK(ROW_HAS(1, 262) && !ROW_HAS(0, 262));                    /* a cut character */
    CHECK(ROW_HAS(64, 256 + 21) && !ROW_HAS(63, 256 + 21));        /* 64 b */
    CHECK(ROW_HAS(1, 256 + 23));                                   /* U+D7FF */
    CHECK(!ROW_HAS(64, 256 + 20) && in_trie(gv->rest, 256 + 20));  /* 70 a: too long */
    CHECK(!ROW_HAS(64, 256 + 10) && in_trie(gv->rest, 256 + 10));  /* a" */
    CHECK(!ROW_HAS(64, '\n') && in_trie(gv->rest, '\n'));
    CHECK(!ROW_HAS(64, 263) && in_trie(gv->rest, 263));            /* a lone continuation byte */
    CHECK(!in_trie(gv, 256 + 24) && !in_trie(gv, 256 + 25) && !in_trie(gv, 256 + 26)); /* surrogate, C0, 4 cont. */
    CHECK(!in_trie(gv, 256 + 28) && !in_trie(gv, 0xF5) && !in_trie(gv, 256 + 29)); /* a 80, F5 */
    CHECK(in_trie(gv, 256 + 27) && in_trie(gv, 0x80));            /* 3 continuation bytes, then a */
    CHECK(!in_trie(gv->rest, 257) && in_trie(gv, 257));
    int64_t plain = gv->plain_count[gv->plain_max];
    CHECK(plain > 0 && plain + gv->rest->tok0[gv->rest->n_nodes] == gv->tok0[gv->n_nodes]);
#undef ROW_HAS
    /* counting down: after '"abcd' one character is left */
    lair_grammar *g = parse("root ::= \"\\\"\" [^\"\\\\\\x00-\\x1f]{0,5} \"\\\"\"");
    lair_grammar_matcher *m = NULL;
    REQUIRE(g && lair_grammar_matcher_create(g, gv, &m, &e) == LAIR_OK);
    uint32_t mask[(N + 31) / 32];
    CHECK(lair_grammar_matcher_accept(m, '"', &e) == LAIR_OK);
    lair_grammar_matcher_mask(m, mask, N, -1);
    CHECK(bit(mask, 256 + 21) == false && bit(mask, 258) && bit(mask, 256 + 39) && !bit(mask, 256 + 20));
    CHECK(lair_grammar_matcher_accept(m, 258, &e) == LAIR_OK); /* abcd */
    lair_grammar_matcher_mask(m, mask, N, -1);
    CHECK(bit(mask, 'a') && bit(mask, 262) && bit(mask, 0xE6) && bit(mask, '"') && !bit(mask, 256 + 11));
    CHECK(!bit(mask, 256) && !bit(mask, 265) && !bit(mask, 256 + 39) && !bit(mask, '\n'));
    CHECK(bit(mask, 256 + 10) && bit(mask, 256 + 31) && !bit(mask, 263)); /* a", space" end the string */
    int64_t pm, ps;
    gmatcher_plain_stats(m, &pm, &ps);
    CHECK(pm == 2);
    lair_grammar_matcher_free(m);
    lair_grammar_free(g);
    /* random walks: counting runs, escapes, a run that is not uniform */
    pm = ps = 0;
    pieces_walks(gv, N, pieces, lens, "root ::= \"\\\"\" [^\"\\\\\\x00-\\x1f]{0,5} \"\\\"\"", 40, 12, &pm, &ps);
    pieces_walks(gv, N, pieces, lens,
                 "root ::= \"\\\"\" char{0,7} \"\\\",\\\"\" char* \"\\\"\"\n"
                 "char ::= [^\"\\\\\\x00-\\x1f] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4} )",
                 40, 20, &pm, &ps);
    pieces_walks(gv, N, pieces, lens, "root ::= \"\\\"\" [^\"\\\\]{2,3} \"x\" | \"日\" [^\"\\\\]{0,70} \"\\\"\"", 40, 12,
                 &pm, &ps);
    pieces_walks(gv, N, pieces, lens, "root ::= \"{\" ( \"\\\"\" [^\"\\\\]* \"\\\"\" | [^\"\\\\]{0,3} \"!\" ) \"}\"", 40,
                 12, &pm, &ps);
    pieces_walks(gv, N, pieces, lens, k_schema_gbnf, 40, 40, &pm, &ps);
    /* a run that cycles through two states; runs longer than one measurement */
    pieces_walks(gv, N, pieces, lens, "root ::= \"\\\"\" ( [^\"\\\\] [^\"\\\\\\x00-\\x1f] )* \"\\\"\"", 30, 20,
                 &pm, &ps);
    pieces_walks(gv, N, pieces, lens, "root ::= \"\\\"\" [^\"\\\\]{100,300} \"\\\"\"", 20, 60, &pm, &ps);
    CHECKF(pm > 100 && ps > 10, "plain masks %lld, plain subtrees %lld", (long long)pm, (long long)ps);
    lair_grammar_vocab_free(gv);
}

/* Real vocabularies: JSON-schema-like strings with maxLength, escapes and
 * Japanese, and nested JSON; the fast paths are taken. */
TEST(plain_index_real_vocabs) {
    static const char *names[] = {"gpt-2", "deepseek-llm", "llama-spm"};
    for (int k = 0; k < 3; k++) {
        mask_consistency(names[k], k_schema_gbnf, 3, 40);
        mask_consistency(names[k], k_bounded_gbnf, 2, 30);
    }
    mask_consistency("deepseek-llm", k_json_gbnf, 3, 40);
    mask_consistency("deepseek-llm", "root ::= \"\\\"\" [^\"\\\\]{100,300} \"\\\"\"", 2, 30); /* runs past a measurement */
    vfix f;
    if (!load_vocab("deepseek-llm", &f)) return;
    CHECK(f.gv->plain_max > 0 && f.gv->plain_count[f.gv->plain_max] > f.n / 2);
    lair_grammar *g = parse(k_schema_gbnf);
    lair_grammar_matcher *m = NULL;
    lair_err e;
    uint32_t *mask = calloc((size_t)(f.n + 31) / 32, 4);
    REQUIRE(g && mask && lair_grammar_matcher_create(g, f.gv, &m, &e) == LAIR_OK);
    const char *text = "{\"名前\": \"山田太郎\"";
    lair_tokens toks = {0};
    REQUIRE(lair_tokenize(f.v, text, strlen(text), 0, &toks, &e) == LAIR_OK);
    for (size_t i = 0; i < toks.n; i++) {
        lair_grammar_matcher_mask(m, mask, f.n, -1);
        CHECK(bit(mask, toks.ids[i]) && lair_grammar_matcher_accept(m, toks.ids[i], &e) == LAIR_OK);
    }
    int64_t pm, ps;
    gmatcher_plain_stats(m, &pm, &ps);
    CHECKF(pm >= 2, "plain masks %lld", (long long)pm);
    lair_tokens_free(&toks);
    lair_grammar_matcher_free(m);
    lair_grammar_free(g);
    free(mask);
    free_vocab(&f);
}

/* Random walks under a budget always end complete, for budgets from the
 * start's min_bytes to +20; the mask is never empty before that. */
static void budget_walks(const char *vname, const char *gbnf) {
    vfix f;
    if (!load_vocab(vname, &f)) return;
    REQUIRE(lair_grammar_vocab_has_all_bytes(f.gv));
    lair_grammar *g = parse(gbnf);
    uint32_t *mask = calloc((size_t)(f.n + 31) / 32, 4);
    REQUIRE(g && mask);
    lair_grammar_matcher *m = NULL;
    lair_err e;
    REQUIRE(lair_grammar_matcher_create(g, f.gv, &m, &e) == LAIR_OK);
    int32_t min0 = lair_grammar_matcher_min_bytes(m);
    lair_grammar_matcher_free(m);
    for (int32_t b = min0; b <= min0 + 20; b++) {
        REQUIRE(lair_grammar_matcher_create(g, f.gv, &m, &e) == LAIR_OK);
        bool ended = false;
        for (int32_t left = b; left > 0 && !ended; left--) {
            int64_t cnt = lair_grammar_matcher_mask(m, mask, f.n, left);
            CHECKF(cnt > 0, "%s budget %d: empty mask with %d left", vname, (int)b, (int)left);
            if (cnt == 0) break;
            int32_t t = pick(mask, f.n, f.v, false);
            CHECK(lair_grammar_matcher_allows(m, t));
            if (lair_vocab_is_eog(f.v, t)) ended = true;
            CHECK(lair_grammar_matcher_accept(m, t, &e) == LAIR_OK);
            CHECKF(lair_grammar_matcher_min_bytes(m) <= left - 1, "%s: min_bytes %d > %d after a masked token", vname,
                   (int)lair_grammar_matcher_min_bytes(m), (int)left - 1);
        }
        CHECKF(lair_grammar_matcher_complete(m), "%s budget %d: ran out incomplete", vname, (int)b);
        CHECK(lair_grammar_matcher_mask(m, mask, f.n, 0) == 0);
        lair_grammar_matcher_free(m);
    }
    lair_grammar_free(g);
    free(mask);
    free_vocab(&f);
}

TEST(budget_guarantee) {
    budget_walks("llama-spm", k_obj_gbnf);
    budget_walks("gpt-2", k_obj_gbnf);
    budget_walks("gpt-2", k_json_gbnf);
    budget_walks("deepseek-llm", k_obj_gbnf); /* lacks only the bytes UTF-8 never uses */
    budget_walks("deepseek-llm", k_schema_gbnf);
    budget_walks("gpt-2", k_schema_gbnf);
    budget_walks("gpt-2", k_bounded_gbnf);
}

TEST(valid_prefix) {
    lair_grammar *g = parse(k_json_gbnf);
    REQUIRE(g);
    CHECK(lair_grammar_valid_prefix(g, "{\"a\": [1, 2}", 12) == 11);
    CHECK(lair_grammar_valid_prefix(g, "{\"a\"", 4) == 4);
    CHECK(lair_grammar_valid_prefix(g, "x", 1) == 0);
    CHECK(lair_grammar_valid_prefix(g, "\"日\xE6\x9C", 6) == 6); /* ends inside a character */
    CHECK(lair_grammar_valid_prefix(g, "\"\xE6\x9C\x41", 4) == 3);
    lair_grammar_free(g);
}

/* A long generation: 6000 nested arrays push the matcher's tables past
 * their soft sizes, so they are rebuilt (and the mask cache dropped)
 * mid-generation; masks stay right. */
TEST(matcher_rebase_deep_nesting) {
    vfix f;
    if (!load_vocab("llama-spm", &f)) return;
    lair_grammar *g = parse(k_json_gbnf);
    uint32_t *mask = calloc((size_t)(f.n + 31) / 32, 4);
    lair_grammar_matcher *m = NULL;
    lair_err e;
    REQUIRE(g && mask && lair_grammar_matcher_create(g, f.gv, &m, &e) == LAIR_OK);
    int32_t open = find_piece(&f, "[", 1), close = find_piece(&f, "]", 1), one = find_piece(&f, "1", 1);
    int32_t brace = find_piece(&f, "}", 1), eos = lair_vocab_eos(f.v);
    REQUIRE(open >= 0 && close >= 0 && one >= 0 && brace >= 0);
    int depth = 6000, fails = 0;
    for (int k = 0; k < depth && !fails; k++) {
        if (k % 500 == 0) {
            lair_grammar_matcher_mask(m, mask, f.n, -1);
            fails += !bit(mask, open) || !bit(mask, one) || bit(mask, brace) || bit(mask, eos);
        }
        fails += lair_grammar_matcher_accept(m, open, &e) != LAIR_OK;
        fails += lair_grammar_matcher_min_bytes(m) != k + 1; /* the closers */
    }
    CHECKF(fails == 0, "opening: %d failures", fails);
    CHECK(lair_grammar_matcher_accept(m, one, &e) == LAIR_OK);
    for (int k = 0; k < depth && !fails; k++) {
        if (k % 500 == 0) {
            lair_grammar_matcher_mask(m, mask, f.n, -1);
            fails += !bit(mask, close) || bit(mask, brace) || bit(mask, eos);
        }
        fails += lair_grammar_matcher_accept(m, close, &e) != LAIR_OK;
    }
    CHECKF(fails == 0, "closing: %d failures", fails);
    CHECK(lair_grammar_matcher_complete(m) && lair_grammar_matcher_min_bytes(m) == 0);
    lair_grammar_matcher_mask(m, mask, f.n, -1);
    CHECK(bit(mask, eos) && !bit(mask, close));
    lair_grammar_matcher_free(m);
    lair_grammar_free(g);
    free(mask);
    free_vocab(&f);
}

/* A grammar vocabulary for a smaller caller vocabulary, and pieces given
 * directly (tokens sharing a piece, a control token, an end token). */
TEST(matcher_pieces_vocab) {
    const char *pieces[] = {"a", "ab", "abc", "b", "c", "", "ab", "\xE3\x81", "\x82", ""};
    size_t lens[10];
    bool eog[10] = {0};
    for (int k = 0; k < 10; k++) lens[k] = strlen(pieces[k]);
    eog[9] = true;
    lair_grammar_vocab *gv = NULL;
    lair_err e;
    REQUIRE(gvocab_from_pieces(pieces, lens, eog, 10, &gv, &e) == LAIR_OK);
    CHECK(!lair_grammar_vocab_has_all_bytes(gv));
    lair_grammar *g = parse("root ::= \"a\" \"b\"* \"c\" | \"あ\"");
    lair_grammar_matcher *m = NULL;
    REQUIRE(g && lair_grammar_matcher_create(g, gv, &m, &e) == LAIR_OK);
    uint32_t mask[1];
    CHECK(lair_grammar_matcher_mask(m, mask, 10, -1) == 5); /* a ab abc ab(6) E3 81 */
    CHECK(mask[0] == ((1u << 0) | (1u << 1) | (1u << 2) | (1u << 6) | (1u << 7)));
    CHECK(lair_grammar_matcher_mask(m, mask, 5, -1) == 3); /* caller vocabulary of 5 tokens */
    CHECK(mask[0] == 7u);
    CHECK(lair_grammar_matcher_accept(m, 6, &e) == LAIR_OK);
    CHECK(lair_grammar_matcher_mask(m, mask, 10, -1) == 2); /* b c */
    CHECK(mask[0] == ((1u << 3) | (1u << 4)));
    CHECK(lair_grammar_matcher_mask(m, mask, 10, 2) == 2);
    CHECK(lair_grammar_matcher_mask(m, mask, 10, 1) == 1); /* budget 1: only c finishes */
    CHECK(mask[0] == (1u << 4));
    CHECK(lair_grammar_matcher_accept(m, 9, &e) == LAIR_ERR_ARG); /* end before complete */
    CHECK(lair_grammar_matcher_accept(m, 5, &e) == LAIR_ERR_ARG); /* control */
    CHECK(lair_grammar_matcher_accept(m, 4, &e) == LAIR_OK);
    CHECK(lair_grammar_matcher_finished(m));
    CHECK(lair_grammar_matcher_mask(m, mask, 10, 1) == 1 && mask[0] == (1u << 9));
    CHECK(lair_grammar_matcher_accept(m, 9, &e) == LAIR_OK);
    lair_grammar_matcher_free(m);
    lair_grammar_free(g);
    lair_grammar_vocab_free(gv);
}

/* Every allocation of parse, vocabulary, matcher, mask and accept is failed
 * in turn: out of memory is reported (LAIR_ERR_NOMEM or an empty mask),
 * never a crash or a leak (the ASan build checks leaks). */
TEST(out_of_memory_reported) {
    const char *pieces[] = {"{", "\"", "a", "\":", " ", "1", "}", "日", "\xE6", ""};
    size_t lens[10];
    bool eog[10] = {0};
    for (int k = 0; k < 10; k++) lens[k] = strlen(pieces[k]);
    eog[9] = true;
    const int32_t walk[] = {0, 1, 2, 3, 4, 5, 6, 9};
    int completed = 0, n;
    for (n = 0; n < 2000 && !completed; n++) {
        lair_alloc_fail_after(n);
        lair_grammar *g = NULL;
        lair_grammar_vocab *gv = NULL;
        lair_grammar_matcher *m = NULL;
        lair_err e = {0};
        lair_status st = lair_grammar_parse(k_json_gbnf, strlen(k_json_gbnf), NULL, NULL, &g, &e);
        if (st == LAIR_OK) st = gvocab_from_pieces(pieces, lens, eog, 10, &gv, &e);
        if (st == LAIR_OK) st = lair_grammar_matcher_create(g, gv, &m, &e);
        bool all = st == LAIR_OK;
        for (size_t k = 0; all && k < sizeof walk / sizeof *walk; k++) {
            uint32_t mask[1];
            int64_t cnt = lair_grammar_matcher_mask(m, mask, 10, -1);
            if (cnt == 0 || !(mask[0] >> walk[k] & 1)) { /* a failed walk leaves an empty or partial mask */
                all = false;
                break;
            }
            st = lair_grammar_matcher_accept(m, walk[k], &e);
            if (st != LAIR_OK) {
                all = false;
                break;
            }
        }
        lair_alloc_fail_after(-1);
        if (st != LAIR_OK) CHECKF(st == LAIR_ERR_NOMEM || st == LAIR_ERR_LIMIT, "n=%d: %s: %s", n, lair_status_name(st), e.msg);
        completed = all;
        lair_grammar_matcher_free(m);
        lair_grammar_vocab_free(gv);
        lair_grammar_free(g);
    }
    CHECKF(completed, "never completed in %d allocations", n);
    /* accepts() under failing allocations answers false, never crashes */
    for (n = 0; n < 60; n++) {
        lair_grammar *g = parse(k_json_gbnf);
        REQUIRE(g);
        lair_alloc_fail_after(n);
        bool r = lair_grammar_accepts(g, "{\"a\": [1, \"日本\"]}", 21);
        lair_alloc_fail_after(-1);
        (void)r;
        lair_grammar_free(g);
    }
}

/* 2^n distinct stacks after n "a"s: the state is cut at 1024 stacks and
 * the matcher reports LAIR_ERR_LIMIT quickly instead of blowing up. */
TEST(stack_limit) {
    lair_grammar *g = parse("root ::= s\ns ::= \"a\" s x | \"a\" s y | \"\"\nx ::= \"b\"\ny ::= \"b\"");
    REQUIRE(g);
    YES(g, "aaabbb");
    NO(g, "aaabb");
    const char *pieces[] = {"a", "b", ""};
    size_t lens[] = {1, 1, 0};
    bool eog[] = {false, false, true};
    lair_grammar_vocab *gv = NULL;
    lair_grammar_matcher *m = NULL;
    lair_err e;
    REQUIRE(gvocab_from_pieces(pieces, lens, eog, 3, &gv, &e) == LAIR_OK);
    REQUIRE(lair_grammar_matcher_create(g, gv, &m, &e) == LAIR_OK);
    double t0 = lair_time_seconds();
    int k = 0;
    lair_status st = LAIR_OK;
    for (; k < 40 && st == LAIR_OK; k++) st = lair_grammar_matcher_accept(m, 0, &e);
    double dt = lair_time_seconds() - t0;
    CHECKF(st == LAIR_ERR_LIMIT && strstr(e.msg, "1024 stacks"), "after %d: %s", k, e.msg);
    CHECKF(k >= 8 && k <= 12, "limit reached after %d tokens", k);
    CHECKF(dt < 0.5, "took %.3f s", dt);
    uint32_t mask[1];
    CHECK(lair_grammar_matcher_mask(m, mask, 3, -1) >= 1); /* the state before the cut still continues */
    lair_grammar_matcher_free(m);
    lair_grammar_vocab_free(gv);
    lair_grammar_free(g);
}

int main(void) {
    RUN(parse_syntax_elements);
    RUN(parse_escapes);
    RUN(parse_errors_name_line_and_rule);
    RUN(parse_limits);
    RUN(accepts_json);
    RUN(accepts_repetition_bounds);
    RUN(accepts_classes);
    RUN(accepts_ambiguous_bounded);
    RUN(mask_consistency_llama_spm);
    RUN(mask_consistency_gpt2);
    RUN(mask_mid_character_and_eog);
    RUN(plain_index_pieces);
    RUN(plain_index_real_vocabs);
    RUN(budget_guarantee);
    RUN(valid_prefix);
    RUN(matcher_rebase_deep_nesting);
    RUN(matcher_pieces_vocab);
    RUN(out_of_memory_reported);
    RUN(stack_limit);
    return check_done();
}
