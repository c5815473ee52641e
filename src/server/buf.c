/* http_buf: the growable byte buffer of the server's stream producers and
 * JSON writers (declared in http.h; kept apart from the HTTP code so that
 * tests can use it without libmicrohttpd). */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "server/http.h"

void http_buf_add(http_buf *b, const char *s, size_t n) {
    if (b->oom || !n) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = lair_realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void http_buf_puts(http_buf *b, const char *s) { http_buf_add(b, s, strlen(s)); }

void http_buf_json(http_buf *b, const json_t *v) {
    char *s = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(10));
    if (!s) {
        b->oom = true;
        return;
    }
    http_buf_puts(b, s);
    free(s);
}

void http_buf_free(http_buf *b) {
    lair_free(b->p);
    *b = (http_buf){0};
}
