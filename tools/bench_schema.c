/* The JSON-schema subset the benchmark prompt sets use, checked with jansson:
 * type, properties, required, additionalProperties: false, items, enum,
 * minItems.  Enough to tell "parses but has the wrong shape" apart. */
#include <stdio.h>
#include <string.h>

#include "bench_serve.h"

static bool type_is(const char *t, const json_t *v) {
    if (strcmp(t, "object") == 0) return json_is_object(v);
    if (strcmp(t, "array") == 0) return json_is_array(v);
    if (strcmp(t, "string") == 0) return json_is_string(v);
    if (strcmp(t, "integer") == 0) return json_is_integer(v);
    if (strcmp(t, "number") == 0) return json_is_number(v);
    if (strcmp(t, "boolean") == 0) return json_is_boolean(v);
    if (strcmp(t, "null") == 0) return json_is_null(v);
    return false;
}

static bool check(const json_t *s, const json_t *v, const char *path, char *why, size_t n) {
    const json_t *t = json_object_get(s, "type");
    if (json_is_string(t) && !type_is(json_string_value(t), v)) {
        snprintf(why, n, "%s: not of type %s", path, json_string_value(t));
        return false;
    }
    if (json_is_array(t)) {
        bool any = false;
        size_t i;
        const json_t *e;
        json_array_foreach(t, i, e) any = any || (json_is_string(e) && type_is(json_string_value(e), v));
        if (!any) {
            snprintf(why, n, "%s: of none of the allowed types", path);
            return false;
        }
    }
    const json_t *en = json_object_get(s, "enum");
    if (json_is_array(en)) {
        bool any = false;
        size_t i;
        const json_t *e;
        json_array_foreach(en, i, e) any = any || json_equal(e, v);
        if (!any) {
            snprintf(why, n, "%s: not one of the enum values", path);
            return false;
        }
    }
    char sub[256];
    if (json_is_object(v)) {
        const json_t *props = json_object_get(s, "properties");
        const json_t *req = json_object_get(s, "required");
        size_t i;
        const json_t *e;
        json_array_foreach(req, i, e) {
            if (json_is_string(e) && !json_object_get(v, json_string_value(e))) {
                snprintf(why, n, "%s: missing \"%s\"", path, json_string_value(e));
                return false;
            }
        }
        const char *k;
        json_t *val;
        json_object_foreach((json_t *)v, k, val) {
            const json_t *ps = json_object_get(props, k);
            if (!ps) {
                if (json_is_false(json_object_get(s, "additionalProperties"))) {
                    snprintf(why, n, "%s: unexpected key \"%s\"", path, k);
                    return false;
                }
                continue;
            }
            snprintf(sub, sizeof sub, "%s.%s", path, k);
            if (!check(ps, val, sub, why, n)) return false;
        }
    }
    if (json_is_array(v)) {
        const json_t *mi = json_object_get(s, "minItems");
        if (json_is_integer(mi) && (json_int_t)json_array_size(v) < json_integer_value(mi)) {
            snprintf(why, n, "%s: fewer than %lld items", path, (long long)json_integer_value(mi));
            return false;
        }
        const json_t *items = json_object_get(s, "items");
        size_t i;
        const json_t *e;
        if (json_is_object(items)) json_array_foreach(v, i, e) {
                snprintf(sub, sizeof sub, "%s[%zu]", path, i);
                if (!check(items, e, sub, why, n)) return false;
            }
    }
    return true;
}

bool bench_schema_validate(const json_t *schema, const json_t *v, char *why, size_t n) {
    if (n) why[0] = 0;
    return check(schema, v, "$", why, n);
}
