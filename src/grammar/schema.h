/* JSON Schema (draft 2020-12) -> GBNF grammar (grammar.h), so that every
 * output the grammar allows is a JSON text that validates against the
 * schema.
 *
 * Supported: type (every type, and unions), properties, required,
 * additionalProperties (bool and schema), items, prefixItems, enum, const,
 * anyOf, oneOf (as anyOf when the branches are disjoint, else refused),
 * allOf (merged), $ref/$defs (recursive too; local "#/..." pointers),
 * minLength/maxLength, minItems/maxItems, minimum/maximum/exclusiveMinimum/
 * exclusiveMaximum for integers, pattern (a regular-expression subset),
 * format (date, time, date-time, uuid, email), nullable unions; the
 * annotations (title, description, default, examples, $comment, $schema,
 * $id, deprecated, readOnly, writeOnly) are ignored.  Objects are produced
 * with their properties in the schema's order.
 *
 * Fail closed: any other keyword, or a supported one in a form that cannot
 * be enforced (e.g. minimum on a "number"), is LAIR_ERR_UNSUPPORTED with a
 * message naming the keyword and where it is ("/properties/age: keyword
 * 'multipleOf' cannot be enforced").  With strict = false the compiler
 * drops what it cannot enforce instead and lists it in *unenforced.
 *
 * Input is untrusted: depth, $ref expansion and the grammar's size are
 * bounded (LAIR_ERR_LIMIT, quickly). */
#ifndef LAIR_GRAMMAR_SCHEMA_H
#define LAIR_GRAMMAR_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>

#include "lair.h"

typedef struct lair_schema_opts {
    bool strict;             /* true: refuse what cannot be enforced */
    int32_t max_depth;       /* schema nesting (default 64) */
    size_t max_grammar;      /* bytes of GBNF produced (default 1 MiB) */
} lair_schema_opts;

lair_schema_opts lair_schema_default_opts(void);

/* *gbnf (lair_malloc'd, NUL-terminated) receives a grammar whose root is
 * the schema's JSON text.  *unenforced (may be NULL; lair_malloc'd or NULL)
 * receives "keyword at /pointer; ..." for what strict = false dropped. */
lair_status lair_schema_to_gbnf(const json_t *schema, const lair_schema_opts *o, char **gbnf, char **unenforced,
                                lair_err *err);

/* A grammar for any JSON object ({"type":"json_object"}, Ollama's
 * format: "json"). */
const char *lair_schema_json_object_gbnf(void);

#endif
