/* libFuzzer target: the JSON Schema compiler on arbitrary schemas.
 * Input: byte 0 selects the options (bit 0: non-strict, bit 1: small
 * limits: depth 8, 16 KiB of grammar); the rest is JSON text.  A JSON object
 * or boolean is compiled as one schema; an array of objects with "schema"
 * members (a file of the official suite) compiles each of the first 16.
 * Whatever compiles must parse as GBNF, and the instances of suite groups
 * are run through accepts().  Everything must stay in bounds and finish. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "grammar/grammar.h"
#include "grammar/schema.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static void one(const json_t *schema, const json_t *tests, const lair_schema_opts *o) {
    char *g = NULL, *un = NULL;
    lair_err e = {0};
    if (lair_schema_to_gbnf(schema, o, &g, &un, &e) != LAIR_OK) {
        if (!e.msg[0]) abort(); /* every refusal says why */
        return;
    }
    lair_grammar *gr = NULL;
    lair_grammar_limits lim = lair_grammar_default_limits();
    if (lim.max_text < o->max_grammar + 1) lim.max_text = o->max_grammar + 1;
    if (lair_grammar_parse(g, strlen(g), NULL, &lim, &gr, &e) != LAIR_OK) abort(); /* checked inside already */
    size_t i;
    json_t *t;
    json_array_foreach(tests, i, t) {
        char *text = json_dumps(json_object_get(t, "data"), JSON_COMPACT | JSON_ENCODE_ANY);
        if (text) (void)lair_grammar_accepts(gr, text, strlen(text));
        free(text);
    }
    lair_grammar_free(gr);
    lair_free(g);
    lair_free(un);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    if (size < 1) return 0;
    lair_schema_opts o = lair_schema_default_opts();
    o.strict = !(data[0] & 1);
    if (data[0] & 2) o.max_depth = 8, o.max_grammar = 16384;
    json_error_t je;
    json_t *j = json_loadb((const char *)data + 1, size - 1, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!j) return 0;
    if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j) && i < 16; i++) {
            const json_t *grp = json_array_get(j, i);
            const json_t *s = json_object_get(grp, "schema");
            if (s) one(s, json_object_get(grp, "tests"), &o);
        }
    } else {
        one(j, NULL, &o);
    }
    json_decref(j);
    return 0;
}
