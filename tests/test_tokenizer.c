/* Tokenizers against the reference vectors of real vocabularies
 * ($LAIR_TESTDATA/vocab: inputs separated by "\n__ggml_vocab_test__\n", one
 * line of ids per input, no BOS/EOS, special-token text as plain text), plus
 * our own cases: round trips, Japanese, emoji, whitespace runs, special
 * tokens, streaming detokenization, hostile input. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gguf/gguf.h"
#include "lair.h"

static const char *const k_vocabs[] = {"llama-spm", "phi-3", "gpt-2", "deepseek-coder", "deepseek-llm", "falcon",
                                       "mpt", "refact", "starcoder", "bert-bge"};

/* Runs every vector of one vocabulary; returns failures (first few printed). */
static int run_vectors(const char *name) {
    char rel[128];
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", name);
    const char *path = check_testdata(rel);
    if (!path) return -1;
    char gguf[1000], inp[1024], outp[1024];
    snprintf(gguf, sizeof gguf, "%s", path);
    snprintf(inp, sizeof inp, "%s.inp", gguf);
    snprintf(outp, sizeof outp, "%s.out", gguf);
    lair_vocab *v = NULL;
    lair_err e = {0};
    if (lair_vocab_load(gguf, &v, &e) != LAIR_OK) {
        check_fail(__FILE__, __LINE__, "%s: %s", name, e.msg);
        return 1;
    }
    size_t in_len = 0, out_len = 0;
    char *in = (char *)check_read_file(inp, &in_len);
    char *out = (char *)check_read_file(outp, &out_len);
    int fails = 0, cases = 0;
    if (!in || !out) {
        check_fail(__FILE__, __LINE__, "%s: cannot read the vector files", name);
        fails = 1;
        goto done;
    }
    const char *sep = "\n__ggml_vocab_test__\n";
    char *ip = in, *op = out;
    for (;;) {
        char *end = strstr(ip, sep);
        char *eol = memchr(op, '\n', (size_t)(out + out_len - op));
        if (!end || !eol) break;
        *eol = 0;
        lair_tokens t = {0};
        if (lair_tokenize(v, ip, (size_t)(end - ip), 0, &t, &e) != LAIR_OK) {
            if (fails++ < 3) check_fail(__FILE__, __LINE__, "%s case %d: %s", name, cases, e.msg);
        } else {
            char got[8192];
            size_t g = 0;
            for (size_t i = 0; i < t.n && g + 16 < sizeof got; i++) g += (size_t)snprintf(got + g, sizeof got - g, " %d", t.ids[i]);
            got[g] = 0;
            if (strcmp(got, op) != 0 && fails++ < 3)
                check_fail(__FILE__, __LINE__, "%s case %d '%.*s': got [%s] want [%s]", name, cases,
                           (int)(end - ip > 60 ? 60 : end - ip), ip, got, op);
        }
        lair_tokens_free(&t);
        cases++;
        ip = end + strlen(sep);
        op = eol + 1;
    }
    if (cases < 10) check_fail(__FILE__, __LINE__, "%s: only %d cases read", name, cases), fails++;
done:
    free(in);
    free(out);
    lair_vocab_free(v);
    return fails;
}

TEST(reference_vectors) {
    for (size_t i = 0; i < sizeof k_vocabs / sizeof k_vocabs[0]; i++) run_vectors(k_vocabs[i]);
}

static lair_vocab *load(const char *name) {
    char rel[128];
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", name);
    const char *path = check_testdata(rel);
    if (!path) return NULL;
    lair_vocab *v = NULL;
    lair_err e = {0};
    if (lair_vocab_load(path, &v, &e) != LAIR_OK) check_fail(__FILE__, __LINE__, "%s: %s", name, e.msg);
    return v;
}

/* Detokenizing the tokens of s gives s back (streaming, one token at a time). */
static void roundtrip(lair_vocab *v, const char *name, const char *s) {
    lair_tokens t = {0};
    lair_err e = {0};
    REQUIRE(lair_tokenize(v, s, strlen(s), 0, &t, &e) == LAIR_OK);
    lair_detok d;
    REQUIRE(lair_detok_init(&d, v, false, true, &e) == LAIR_OK);
    char back[4096];
    size_t b = 0, n;
    for (size_t i = 0; i < t.n; i++) {
        const char *p = lair_detok_push(&d, t.ids[i], &n);
        CHECKF(n == strlen(p), "%s: piece with a NUL", name);
        memcpy(back + b, p, n);
        b += n;
    }
    const char *p = lair_detok_flush(&d, &n);
    memcpy(back + b, p, n);
    b += n;
    back[b] = 0;
    /* WordPiece lower-cases and drops spacing around punctuation: compare loosely there */
    if (strcmp(lair_vocab_model(v), "bert") != 0)
        CHECKF(strcmp(back, s) == 0, "%s: '%s' came back as '%s'", name, s, back);
    lair_detok_free(&d);
    lair_tokens_free(&t);
}

TEST(roundtrip_japanese_emoji_whitespace) {
    static const char *const texts[] = {
        "東京の天気は晴れです。明日は雨が降るでしょう。",
        "ローカルAIをMac miniで動かす 🚀🤖 (4-bit量子化)",
        "  two leading spaces, trailing three   ",
        "tabs\tand\nnew\n\nlines\r\n  indented",
        "emoji family 👨‍👩‍👧 and flags 🇯🇵",
        "mixed: カタカナ、ひらがな、漢字 and English 123456789",
    };
    static const char *const names[] = {"llama-spm", "gpt-2", "deepseek-llm", "starcoder", "falcon"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        lair_vocab *v = load(names[k]);
        if (!v) return;
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) roundtrip(v, names[k], texts[i]);
        lair_vocab_free(v);
    }
}

TEST(special_tokens_only_when_asked) {
    lair_vocab *v = load("phi-3");
    if (!v) return;
    lair_err e = {0};
    const char *s = "<s>hi</s>";
    lair_tokens plain = {0}, parsed = {0}, added = {0};
    REQUIRE(lair_tokenize(v, s, strlen(s), 0, &plain, &e) == LAIR_OK);
    REQUIRE(lair_tokenize(v, s, strlen(s), LAIR_TOK_PARSE_SPECIAL, &parsed, &e) == LAIR_OK);
    REQUIRE(lair_tokenize(v, "hi", 2, LAIR_TOK_ADD_SPECIAL, &added, &e) == LAIR_OK);
    for (size_t i = 0; i < plain.n; i++) CHECKF(!lair_vocab_is_control(v, plain.ids[i]), "user text became a control token");
    CHECK(parsed.n >= 2 && parsed.ids[0] == lair_vocab_bos(v));
    CHECK(added.n >= 2 && added.ids[0] == lair_vocab_bos(v));
    CHECK(lair_vocab_is_eog(v, lair_vocab_eos(v)));
    lair_tokens_free(&plain);
    lair_tokens_free(&parsed);
    lair_tokens_free(&added);
    lair_vocab_free(v);
}

/* In a rendered chat prompt, guarded message contents stay plain text. */
TEST(guarded_ranges_stay_plain) {
    lair_vocab *v = load("phi-3");
    if (!v) return;
    lair_err e = {0};
    const char *s = "</s>user: say </s> now</s>";
    lair_text_range g = {10, 22}; /* "say </s> now" */
    lair_tokens open = {0}, guarded = {0};
    REQUIRE(lair_tokenize(v, s, strlen(s), LAIR_TOK_PARSE_SPECIAL, &open, &e) == LAIR_OK);
    REQUIRE(lair_tokenize_guarded(v, s, strlen(s), LAIR_TOK_PARSE_SPECIAL, &g, 1, &guarded, &e) == LAIR_OK);
    int eos_open = 0, eos_guarded = 0;
    for (size_t i = 0; i < open.n; i++) eos_open += open.ids[i] == 2;
    for (size_t i = 0; i < guarded.n; i++) eos_guarded += guarded.ids[i] == 2;
    CHECKF(eos_open == 3 && eos_guarded == 2, "</s> tokens: %d unguarded, %d guarded", eos_open, eos_guarded);
    lair_tokens_free(&open);
    lair_tokens_free(&guarded);
    lair_vocab_free(v);
}

TEST(streaming_never_splits_characters) {
    lair_vocab *v = load("llama-spm");
    if (!v) return;
    lair_err e = {0};
    /* 🚀 is not in this vocabulary: it becomes four byte tokens */
    const char *s = "a🚀b";
    lair_tokens t = {0};
    REQUIRE(lair_tokenize(v, s, strlen(s), 0, &t, &e) == LAIR_OK);
    CHECK(t.n >= 6);
    lair_detok d;
    REQUIRE(lair_detok_init(&d, v, false, true, &e) == LAIR_OK);
    for (size_t i = 0; i < t.n; i++) {
        size_t n;
        const char *p = lair_detok_push(&d, t.ids[i], &n);
        for (size_t k = 0; k < n; k++) CHECKF(((unsigned char)p[k] & 0xC0) != 0x80 || k > 0, "piece starts mid-character");
    }
    /* a lone lead byte at the end is flushed as U+FFFD */
    lair_detok_free(&d);
    REQUIRE(lair_detok_init(&d, v, false, false, &e) == LAIR_OK);
    size_t n;
    lair_detok_push(&d, 3 + 0xE3, &n); /* <0xE3> */
    CHECK(n == 0);
    const char *p = lair_detok_flush(&d, &n);
    CHECK(n == 3 && memcmp(p, "\xEF\xBF\xBD", 3) == 0);
    lair_detok_free(&d);
    lair_tokens_free(&t);
    lair_vocab_free(v);
}

TEST(invalid_utf8_is_not_fatal) {
    static const char *const names[] = {"llama-spm", "gpt-2", "bert-bge", "deepseek-llm"};
    const char bad[] = "ok \xff\xfe \xe3\x81 \xed\xa0\x80 \xc0\xaf end";
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        lair_vocab *v = load(names[k]);
        if (!v) return;
        lair_tokens t = {0};
        lair_err e = {0};
        CHECKF(lair_tokenize(v, bad, sizeof bad - 1, 0, &t, &e) == LAIR_OK, "%s: %s", names[k], e.msg);
        CHECK(t.n > 0);
        for (size_t i = 0; i < t.n; i++) CHECK(t.ids[i] >= 0 && t.ids[i] < lair_vocab_n_tokens(v));
        lair_tokens_free(&t);
        lair_vocab_free(v);
    }
}

/* A vocabulary-only GGUF: tokens a b ab c, with the given model, pre and merges. */
static const char *write_vocab(const char *name, const char *model, const char *pre, const char *const *merges,
                               int n_merges, int n_scores) {
    const char *path = check_tmp(name);
    gguf_writer *w = NULL;
    lair_err e = {0};
    if (gguf_writer_init(&w, &e) != LAIR_OK) return NULL;
    static const char *const toks[] = {"a", "b", "ab", "c", "<|end|>"};
    static const int32_t types[] = {1, 1, 1, 1, 3};
    static const float scores[] = {0, 0, 1, 0, 0};
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_str(w, "tokenizer.ggml.model", model);
    if (pre) gguf_writer_set_str(w, "tokenizer.ggml.pre", pre);
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 5);
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, 5);
    if (n_scores) gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, (uint64_t)n_scores);
    if (merges) gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, (uint64_t)n_merges);
    lair_status st = gguf_writer_begin(w, path, &e);
    if (st == LAIR_OK) st = gguf_writer_finish(w, &e);
    gguf_writer_free(w);
    return st == LAIR_OK ? path : NULL;
}

static void expect_load_error(const char *path, const char *needle) {
    lair_vocab *v = NULL;
    lair_err e = {0};
    REQUIRE(path);
    CHECKF(lair_vocab_load(path, &v, &e) != LAIR_OK && strstr(e.msg, needle), "'%s' not in '%s'", needle, e.msg);
    lair_vocab_free(v);
}

TEST(bad_vocabularies_are_refused_by_name) {
    static const char *const good[] = {"a b"}, *const bad[] = {"a b", "ab"};
    expect_load_error(write_vocab("v1.gguf", "t5", NULL, NULL, 0, 5), "'t5' is not supported");
    expect_load_error(write_vocab("v2.gguf", "gpt2", "gpt-2", NULL, 0, 0), "without tokenizer.ggml.merges");
    expect_load_error(write_vocab("v3.gguf", "gpt2", "gpt-2", bad, 2, 0), "merge 1 ('ab') has no space");
    expect_load_error(write_vocab("v4.gguf", "llama", NULL, NULL, 0, 3), "3 entries but tokenizer.ggml.tokens has 5"); /* caught by the GGUF reader */
    /* an unknown pre-tokenizer loads, with a warning naming it and the choice */
    lair_vocab *v = NULL;
    lair_err e = {0};
    const char *p = write_vocab("v5.gguf", "gpt2", "qwen9-new", good, 1, 0);
    REQUIRE(p && lair_vocab_load(p, &v, &e) == LAIR_OK);
    CHECKF(lair_vocab_warning(v) && strstr(lair_vocab_warning(v), "'qwen9-new'") && strcmp(lair_vocab_pre(v), "qwen2") == 0,
           "warning '%s', pre %s", lair_vocab_warning(v) ? lair_vocab_warning(v) : "(none)", lair_vocab_pre(v));
    lair_tokens t = {0};
    CHECK(lair_tokenize(v, "abc", 3, 0, &t, &e) == LAIR_OK && t.n == 2 && t.ids[0] == 2 && t.ids[1] == 3);
    CHECK(lair_vocab_is_eog(v, 4)); /* <|end|> ends a turn although no id names it */
    lair_tokens_free(&t);
    lair_vocab_free(v);
}

int main(void) {
    RUN(reference_vectors);
    RUN(roundtrip_japanese_emoji_whitespace);
    RUN(special_tokens_only_when_asked);
    RUN(guarded_ranges_stay_plain);
    RUN(streaming_never_splits_characters);
    RUN(invalid_utf8_is_not_fatal);
    RUN(bad_vocabularies_are_refused_by_name);
    return check_done();
}
