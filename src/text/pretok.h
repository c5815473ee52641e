/* Pre-tokenizers of byte-level BPE vocabularies: the regular expressions that
 * cut text into words before merging, chosen by tokenizer.ggml.pre.  Each
 * expression of a set refines the pieces the previous one produced; text no
 * expression matches stays a piece of its own. */
#ifndef LAIR_TEXT_PRETOK_H
#define LAIR_TEXT_PRETOK_H

#include <stddef.h>

#include "lair.h"

typedef struct pretok pretok;

/* A word: bytes [start, start + len) of the text. */
typedef struct pretok_span {
    size_t start, len;
} pretok_span;

/* Compiles the set for `name` (NULL or "": the default set).  Unknown names
 * get the closest safe set; *chosen receives the set's name and, when the
 * name was unknown or missing, *warning a sentence saying so. */
lair_status pretok_create(const char *name, size_t name_len, pretok **out, const char **chosen, char *warning,
                          size_t warning_cap, lair_err *err);
void pretok_free(pretok *p);

/* Splits valid UTF-8 text into words (allocated list; caller frees with lair_free). */
lair_status pretok_split(const pretok *p, const char *text, size_t len, pretok_span **words, size_t *n_words,
                         lair_err *err);

#endif
