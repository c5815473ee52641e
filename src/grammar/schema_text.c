/* Text buffers and GBNF literal escaping for the schema compiler. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "grammar/schema_internal.h"

void sch_putn(sch_buf *b, const char *s, size_t n) {
    if (!b->ok) return;
    if (b->len + n + 1 > b->cap) {
        b->ok = false;
        return;
    }
    if (b->len + n + 1 > b->size) {
        size_t ns = b->size ? b->size * 2 : 4096;
        while (ns < b->len + n + 1) ns *= 2;
        char *p = lair_realloc(b->s, ns);
        if (!p) {
            b->ok = false;
            return;
        }
        b->s = p;
        b->size = ns;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

void sch_put(sch_buf *b, const char *s) { sch_putn(b, s, strlen(s)); }

void sch_printf(sch_buf *b, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        b->ok = false; /* callers only format short pieces */
        return;
    }
    sch_putn(b, tmp, (size_t)n);
}

void sch_lit(sch_buf *b, const char *s, size_t n) {
    sch_put(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[3] = {'\\', (char)c, 0};
            sch_put(b, e);
        } else if (c < 0x20 || c == 0x7f) {
            sch_printf(b, "\\x%02X", c);
        } else {
            sch_putn(b, (const char *)&s[i], 1);
        }
    }
    sch_put(b, "\"");
}
