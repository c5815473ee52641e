/* Shared pieces of the JSON Schema -> GBNF compiler (schema*.c). */
#ifndef LAIR_GRAMMAR_SCHEMA_INTERNAL_H
#define LAIR_GRAMMAR_SCHEMA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lair.h"

/* A growing NUL-terminated text; ok goes false on allocation failure or
 * when len would pass cap (the grammar-size limit), and later appends are
 * ignored, so callers check once at the end. */
typedef struct sch_buf {
    char *s;
    size_t len, size, cap;
    bool ok;
} sch_buf;

void sch_put(sch_buf *b, const char *s);
void sch_putn(sch_buf *b, const char *s, size_t n);
void sch_printf(sch_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends a GBNF string literal ("...") whose content is the UTF-8 bytes
 * s[0..n): ASCII specials and controls escaped, other characters raw. */
void sch_lit(sch_buf *b, const char *s, size_t n);

/* An integer bound as sign + decimal digits without leading zeros
 * ("0" for zero); inf: no bound on that side. */
typedef struct sch_big {
    bool inf, neg;
    char d[400]; /* a double's integral part has at most 309 digits */
} sch_big;

int sch_big_cmp(const sch_big *a, const sch_big *b);
/* Integer bound from a JSON number value: lower = true gives the least
 * integer >= x (> x when exclusive), else the greatest <= x (< x). */
void sch_big_from_json_number(sch_big *out, double x, long long i, bool is_int, bool lower, bool exclusive);

/* Appends the body (alternatives, no rule name) of a rule matching exactly
 * the integers in [lo, hi] as JSON writes them (no "-0", no leading zeros).
 * Returns false when the range is empty. */
bool sch_int_range(sch_buf *b, const sch_big *lo, const sch_big *hi);

/* Appends the rules of format f ("date", "time", "date-time", "uuid",
 * "email") named "fmt-<f>" (string content, no quotes); false: unknown.
 * "date-time" refers to the rules of "date" and "time": emit those too. */
bool sch_format_rules(sch_buf *b, const char *f);

/* Appends a GBNF expression for the JSON text of the content of strings
 * that the ECMA-262 regular expression re[0..len) matches (searching:
 * unanchored ends allow any characters, written with the rule any_char).
 * False with why (a phrase naming the construct) for what it cannot
 * translate; b may then hold a partial expression. */
bool sch_pattern(sch_buf *b, const char *re, size_t len, const char *any_char, char *why, size_t why_cap);

#endif
