/* Grammar-constrained decoding: a context-free grammar in GBNF text, matched
 * incrementally against generated tokens, and the per-step mask of tokens
 * that can continue a valid output.
 *
 * GBNF (the syntax llama.cpp's users write; lair accepts the same text):
 *   rule     ::= name "::=" alts            names: [a-zA-Z0-9-]+, "root" is the start
 *   alts     ::= seq ("|" seq)*
 *   seq      ::= item*                      an empty seq matches the empty string
 *   item     ::= atom ("*" | "+" | "?" | "{" n "}" | "{" n ",}" | "{" n "," m "}")?
 *   atom     ::= "\"" literal "\"" | "[" "^"? class "]" | "." | name | "(" alts ")"
 *   escapes in literals and classes: \n \r \t \\ \" \] \[ \- \xHH \uHHHH \UHHHHHHHH
 *   comments: "#" to the end of the line; newlines end a rule only where the
 *   next line starts a new "name ::=".
 * Literals and classes are Unicode code points (UTF-8 in the text); "." is
 * any code point.  Matching is over the UTF-8 bytes of the output: a token
 * may end inside a character, and a token may span several symbols.
 *
 * Objects:
 *   lair_grammar          compiled from text; immutable, shared by threads
 *   lair_grammar_vocab    per vocabulary: every token's output bytes in a
 *                         trie (built once per model, shared by threads)
 *   lair_grammar_matcher  per generation: the parse state after the tokens
 *                         accepted so far; one thread at a time
 *
 * Token bytes are lair_token_piece(v, t, false, ...): what a continuation
 * prints (SPM "▁" is a space, <0xNN> is the byte).  Control tokens (empty
 * pieces) are never allowed, end-of-generation tokens exactly when the
 * output so far is a complete sentence of the grammar.
 *
 * Untrusted input: text size, rule count, nesting depth and repetition
 * bounds are limited (lair_grammar_limits); a violation is LAIR_ERR_LIMIT or
 * LAIR_ERR_FORMAT with a message naming the rule and the line. */
#ifndef LAIR_GRAMMAR_GRAMMAR_H
#define LAIR_GRAMMAR_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lair.h"

typedef struct lair_grammar lair_grammar;
typedef struct lair_grammar_vocab lair_grammar_vocab;
typedef struct lair_grammar_matcher lair_grammar_matcher;

typedef struct lair_grammar_limits {
    size_t max_text;      /* bytes of GBNF text (default 1 MiB) */
    int32_t max_rules;    /* default 10000 (after expanding repetitions) */
    int32_t max_depth;    /* nesting of parentheses in the text (default 64) */
    int32_t max_repeat;   /* largest n or m in {n,m} (default 10000) */
} lair_grammar_limits;

lair_grammar_limits lair_grammar_default_limits(void);

/* Parses and checks (every referenced rule defined, root present, no rule
 * that can only recurse forever).  root NULL means "root".  Errors:
 * LAIR_ERR_FORMAT (syntax, undefined rule, missing root: the message names
 * the line and rule), LAIR_ERR_LIMIT (lim exceeded, or more than 4M
 * elements after expanding repetitions), LAIR_ERR_UNSUPPORTED (a
 * left-recursive rule, named: rewrite it with repetition). */
lair_status lair_grammar_parse(const char *text, size_t len, const char *root, const lair_grammar_limits *lim,
                               lair_grammar **out, lair_err *err);
void lair_grammar_free(lair_grammar *g);

/* Whether the bytes are exactly one complete sentence of the grammar (no
 * vocabulary involved: the conformance tests run instances through this). */
bool lair_grammar_accepts(const lair_grammar *g, const char *text, size_t len);

/* Length of the longest prefix of the bytes that some sentence of the
 * grammar starts with (len: the whole text can be continued or is
 * complete); where a rejected text went wrong. */
size_t lair_grammar_valid_prefix(const lair_grammar *g, const char *text, size_t len);

/* Once per model: the token trie (about 50 ms for 100k tokens, 100 ms for
 * 128k with 774k trie nodes; ~30 bytes per trie node). */
lair_status lair_grammar_vocab_create(const lair_vocab *v, lair_grammar_vocab **out, lair_err *err);
void lair_grammar_vocab_free(lair_grammar_vocab *gv);

/* A matcher at the start of the grammar.  g and gv must outlive it.
 * Memory: its state tables are rebuilt from the current state past ~4k
 * states or ~1M stack frames, and it caches up to 256 masks (4 KiB each
 * per 32k tokens).  A parse state holds at most 1024 stacks; a grammar so
 * ambiguous that it needs more has those continuations refused (accept
 * then fails with LAIR_ERR_LIMIT) rather than growing without bound. */
lair_status lair_grammar_matcher_create(const lair_grammar *g, const lair_grammar_vocab *gv,
                                        lair_grammar_matcher **out, lair_err *err);
void lair_grammar_matcher_free(lair_grammar_matcher *m);

/* Writes the allowed set: bit (t & 31) of allow[t >> 5] is set when token t
 * may come next, for t < n_vocab (allow has (n_vocab + 31) / 32 words).
 * budget: tokens the generation may still sample (this one included), or
 * -1 for no limit; with a budget only tokens after which the grammar can
 * still be completed within the remaining budget are allowed, so an output
 * that follows the mask to its last token is complete (this assumes one
 * token per byte can always finish it, which holds for byte-level and
 * byte-fallback vocabularies; see lair_grammar_vocab_has_all_bytes).
 * Returns the number of allowed tokens (0: nothing can continue). */
int64_t lair_grammar_matcher_mask(lair_grammar_matcher *m, uint32_t *allow, int64_t n_vocab, int32_t budget);

/* Advances past token t; LAIR_ERR_ARG (state unchanged) when t is not
 * allowed.  An end-of-generation token is allowed only when complete. */
lair_status lair_grammar_matcher_accept(lair_grammar_matcher *m, lair_token t, lair_err *err);

/* The output so far is a complete sentence (an end-of-generation token is allowed). */
bool lair_grammar_matcher_complete(const lair_grammar_matcher *m);
/* Complete and nothing can follow: the generation should end here. */
bool lair_grammar_matcher_finished(const lair_grammar_matcher *m);
/* Fewest bytes that complete the output from here (0 when complete). */
int32_t lair_grammar_matcher_min_bytes(const lair_grammar_matcher *m);

/* Every byte that can occur in UTF-8 text (all but C0, C1 and F5..FF, which
 * no output the grammar allows contains) is some token's whole piece: the
 * budget guarantee of lair_grammar_matcher_mask holds.  True for byte-level
 * (gpt2) and byte-fallback (llama) vocabularies. */
bool lair_grammar_vocab_has_all_bytes(const lair_grammar_vocab *gv);

/* Whether token t may come next (as its mask bit with no budget), checked by
 * following its bytes alone: a sample-then-check sampler can try the
 * sampled token first and build the mask only when it is refused. */
bool lair_grammar_matcher_allows(lair_grammar_matcher *m, lair_token t);

/* Mask cache statistics since create: masks served from the per-state cache
 * and masks computed by walking the token trie. */
void lair_grammar_matcher_stats(const lair_grammar_matcher *m, int64_t *hits, int64_t *misses);

#endif
