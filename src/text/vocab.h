/* The vocabulary behind lair_vocab (include/lair.h): token texts, scores and
 * attributes from tokenizer.ggml.*, the lookup tables each tokenizer needs,
 * and the special ids.  Built once by vocab_load.c, then read-only. */
#ifndef LAIR_TEXT_VOCAB_H
#define LAIR_TEXT_VOCAB_H

#include "lair.h"
#include "gguf/gguf.h"
#include "text/strmap.h"

typedef enum vocab_kind { VOCAB_SPM, VOCAB_BPE, VOCAB_WPM } vocab_kind;

/* Token attributes: tokenizer.ggml.token_type values 1..6, as bits. */
enum {
    TOK_NORMAL = 1u << 0,
    TOK_UNKNOWN = 1u << 1,
    TOK_CONTROL = 1u << 2,
    TOK_USER_DEFINED = 1u << 3,
    TOK_UNUSED = 1u << 4,
    TOK_BYTE = 1u << 5,
    TOK_EOG = 1u << 6, /* ends a generation (derived, not from the file) */
};

/* One byte-pair merge: the pair of interned strings (left, right) becomes
 * `result` with priority `rank` (lower merges first). */
typedef struct bpe_merge {
    int32_t left, right, result, rank;
} bpe_merge;

typedef struct pretok pretok; /* pre-tokenizer regexes (pretok.c) */

struct lair_vocab {
    vocab_kind kind;
    gguf_file *file;      /* owned when loaded standalone (texts point into it) */
    int32_t n_tokens;
    gguf_str *text;       /* [n_tokens] */
    float *score;         /* [n_tokens] (0 when the file has none) */
    uint8_t *attr;        /* [n_tokens] TOK_* bits */
    lair_strmap by_text;  /* text -> id (BPE: also the interned merge strings, ids >= n_tokens) */
    size_t max_token_len; /* bytes */

    /* BPE: interned strings beyond the vocabulary, and the merge table. */
    int32_t n_interned;   /* n_tokens + extra strings */
    char *arena;          /* texts of interned strings that are not tokens */
    bpe_merge *merges;    /* open-addressed by (left, right) */
    size_t merge_mask;
    bool ignore_merges;   /* a whole word that is a token is taken as is (llama3) */
    pretok *pre;
    char pre_name[32];
    char warning[160];

    /* SPM: a bit set of the adjacent character pairs inside any token (keyed
     * by a hash of the pair).  Between two characters whose pair is not in
     * it no token can ever form, so the text is tokenized in independent
     * pieces cut there: the same result as one pass, with small heaps.  False
     * positives only mean fewer cuts. */
    uint64_t *spm_pairs;
    uint64_t spm_pairs_mask; /* bits - 1 */

    /* SPM: <0xNN> tokens (-1: none); BPE: the token of each byte's character. */
    int32_t byte_token[256];

    /* Special-token texts matched inside text, longest first. */
    int32_t *specials;
    int32_t n_specials;

    lair_token bos, eos, eot, eom, unk, pad, sep, cls, mask;
    bool add_bos, add_eos, add_space_prefix;
};

/* Reads the vocabulary from an open GGUF; `f` must outlive it. */
lair_status vocab_from_gguf(const gguf_file *f, lair_vocab **out, lair_err *err);

/* Tokenizer passes over one run of plain text (no special tokens inside). */
lair_status spm_tokenize(const lair_vocab *v, const char *text, size_t len, lair_tokens *out, lair_err *err);
lair_status bpe_tokenize(const lair_vocab *v, const char *text, size_t len, lair_tokens *out, lair_err *err);
lair_status wpm_tokenize(const lair_vocab *v, const char *text, size_t len, lair_tokens *out, lair_err *err);

/* GPT-2's byte characters: the UTF-8 (1-2 bytes) of the character standing
 * for byte b in byte-level vocabularies, and the way back (-1: not one). */
size_t bpe_byte_char(unsigned char b, char out[2]);
int bpe_char_byte(uint32_t cp);

/* The hash of two adjacent characters (their UTF-8 bytes) for spm_pairs. */
static inline uint64_t spm_pair_hash(const char *a, size_t na, const char *b, size_t nb) {
    uint64_t x = 0, y = 0;
    for (size_t i = 0; i < na; i++) x = (x << 8) | (unsigned char)a[i];
    for (size_t i = 0; i < nb; i++) y = (y << 8) | (unsigned char)b[i];
    uint64_t h = (x * 0x9e3779b97f4a7c15ull) ^ (y + 0x632be59bd9b4e019ull) * 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 29);
}

/* Appends one id (grows the list); false when out of memory. */
bool tokens_push(lair_tokens *t, lair_token id);

/* Length of the UTF-8 sequence a lead byte announces (1 for stray bytes). */
static inline size_t utf8_seq_len(unsigned char c) {
    static const unsigned char len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return len[c >> 4];
}

#endif
