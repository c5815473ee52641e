/* libFuzzer target: tokenizers and the streaming detokenizer on arbitrary
 * bytes.  The first input byte picks the vocabulary (real ones from
 * $LAIR_TESTDATA/vocab) and the flags; the rest is the text.  Every id must be
 * in range and detokenizing must give valid UTF-8. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lair.h"

static const char *const k_names[] = {"llama-spm", "gpt-2", "bert-bge", "deepseek-llm", "starcoder", "phi-3"};
#define N_VOCABS (sizeof k_names / sizeof k_names[0])
static lair_vocab *g_vocab[N_VOCABS];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *td = getenv("LAIR_TESTDATA");
    if (!td) td = "../shared/testdata";
    for (size_t i = 0; i < N_VOCABS; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/vocab/ggml-vocab-%s.gguf", td, k_names[i]);
        lair_err e;
        if (lair_vocab_load(path, &g_vocab[i], &e) != LAIR_OK) {
            fprintf(stderr, "fuzz_tokenize: %s\n", e.msg);
            abort();
        }
    }
    return 0;
}

static bool utf8_ok(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i], len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (!len || i + len > n) return false;
        for (unsigned k = 1; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80) return false;
        i += len;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    if (size < 1) return 0;
    const lair_vocab *v = g_vocab[data[0] % N_VOCABS];
    unsigned flags = (data[0] / N_VOCABS) & 3;
    lair_tokens t = {0};
    lair_err e;
    if (lair_tokenize(v, (const char *)data + 1, size - 1, flags, &t, &e) != LAIR_OK) abort();
    lair_detok d;
    if (lair_detok_init(&d, v, (data[0] & 0x80) != 0, true, &e) != LAIR_OK) abort();
    for (size_t i = 0; i < t.n; i++) {
        if (t.ids[i] < 0 || t.ids[i] >= lair_vocab_n_tokens(v)) abort();
        size_t n;
        const char *p = lair_detok_push(&d, t.ids[i], &n);
        if (!utf8_ok((const unsigned char *)p, n)) abort();
    }
    size_t n;
    const char *p = lair_detok_flush(&d, &n);
    if (!utf8_ok((const unsigned char *)p, n)) abort();
    lair_detok_free(&d);
    lair_tokens_free(&t);
    return 0;
}
