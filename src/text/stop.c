/* Stop-string matcher over streamed token pieces (see stop.h). */
#include "text/stop.h"

#include <string.h>

#include "core/alloc.h"
#include "core/err.h"

struct lair_stop {
    int32_t n;
    const char **str;  /* [n] into `strings` */
    size_t *len;       /* [n] bytes */
    size_t max_len;
    char *strings;     /* the copies, NUL-separated */
    char *buf;         /* [cap]: buf[off, off + held) are the held-back bytes */
    size_t cap, off, held;
    int32_t stopped;   /* index of the completed stop string, -1 while running */
};

lair_status lair_stop_create(const char *const *stops, int32_t n, lair_stop **out, lair_err *err) {
    *out = NULL;
    if (n < 0 || (n > 0 && !stops)) return lair_err_set(err, LAIR_ERR_ARG, "stop: %d strings at %p", (int)n, (const void *)stops);
    if (n > LAIR_STOP_MAX)
        return lair_err_set(err, LAIR_ERR_LIMIT, "stop: %d stop strings, more than the limit of %d", (int)n, LAIR_STOP_MAX);
    size_t total = 0, max_len = 0;
    for (int32_t i = 0; i < n; i++) {
        if (!stops[i] || !stops[i][0]) return lair_err_set(err, LAIR_ERR_ARG, "stop: string %d is %s", (int)i, stops[i] ? "empty" : "NULL");
        size_t l = 0;
        while (l <= LAIR_STOP_MAX_LEN && stops[i][l]) l++;
        if (l > LAIR_STOP_MAX_LEN)
            return lair_err_set(err, LAIR_ERR_LIMIT, "stop: string %d is longer than the limit of %d bytes", (int)i, LAIR_STOP_MAX_LEN);
        total += l + 1;
        if (l > max_len) max_len = l;
    }
    lair_stop *m = lair_calloc(1, sizeof *m);
    if (!m) goto nomem;
    m->n = n;
    m->max_len = max_len;
    m->stopped = -1;
    m->cap = max_len + 256;
    m->str = lair_calloc((size_t)n, sizeof *m->str);
    m->len = lair_calloc((size_t)n, sizeof *m->len);
    m->strings = lair_malloc(total);
    m->buf = lair_malloc(m->cap);
    if (!m->str || !m->len || !m->strings || !m->buf) goto nomem;
    char *w = m->strings;
    for (int32_t i = 0; i < n; i++) {
        size_t l = strlen(stops[i]);
        memcpy(w, stops[i], l + 1);
        m->str[i] = w;
        m->len[i] = l;
        w += l + 1;
    }
    *out = m;
    return LAIR_OK;
nomem:
    lair_stop_free(m);
    return lair_err_set(err, LAIR_ERR_NOMEM, "stop: out of memory");
}

void lair_stop_free(lair_stop *m) {
    if (!m) return;
    lair_free(m->str);
    lair_free(m->len);
    lair_free(m->strings);
    lair_free(m->buf);
    lair_free(m);
}

void lair_stop_reset(lair_stop *m) {
    m->off = m->held = 0;
    m->stopped = -1;
}

/* Earliest position in t[n] where a stop string starts and completes; sets
 * *which.  Returns n when none does. */
static size_t find_stop(const lair_stop *m, const char *t, size_t n, int32_t *which) {
    for (size_t pos = 0; pos < n; pos++) {
        for (int32_t k = 0; k < m->n; k++) {
            if (t[pos] == m->str[k][0] && m->len[k] <= n - pos && memcmp(t + pos, m->str[k], m->len[k]) == 0) {
                *which = k;
                return pos;
            }
        }
    }
    return n;
}

/* Length of the longest suffix of t[n] that is a proper prefix of a stop string. */
static size_t partial_suffix(const lair_stop *m, const char *t, size_t n) {
    size_t h = m->max_len > 0 ? m->max_len - 1 : 0;
    if (h > n) h = n;
    for (; h > 0; h--)
        for (int32_t k = 0; k < m->n; k++)
            if (m->len[k] > h && memcmp(t + n - h, m->str[k], h) == 0) return h;
    return 0;
}

lair_status lair_stop_feed(lair_stop *m, const char *piece, size_t len, lair_stop_result *r, lair_err *err) {
    r->text = m->buf;
    r->len = 0;
    r->stop = m->stopped;
    if (m->stopped >= 0) return LAIR_OK;
    if (m->held > 0 && m->off > 0) memmove(m->buf, m->buf + m->off, m->held);
    m->off = 0;
    if (len > m->cap - m->held) { /* held < max_len <= cap, so no underflow */
        size_t need = m->held + len, cap = m->cap;
        if (need < m->held) return lair_err_set(err, LAIR_ERR_NOMEM, "stop: piece of %zu bytes is too large", len);
        while (cap < need) cap = cap > SIZE_MAX / 2 ? need : 2 * cap;
        char *b = lair_realloc(m->buf, cap);
        if (!b) return lair_err_set(err, LAIR_ERR_NOMEM, "stop: out of memory for a piece of %zu bytes", len);
        m->buf = b;
        m->cap = cap;
        r->text = b;
    }
    if (len > 0) memcpy(m->buf + m->held, piece, len);
    size_t n = m->held + len;
    int32_t which = -1;
    size_t at = find_stop(m, m->buf, n, &which);
    if (which >= 0) {
        m->stopped = which;
        m->held = 0;
        r->len = at;
        r->stop = which;
        return LAIR_OK;
    }
    size_t hold = partial_suffix(m, m->buf, n);
    r->len = n - hold;
    m->off = n - hold;
    m->held = hold;
    return LAIR_OK;
}

void lair_stop_flush(lair_stop *m, lair_stop_result *r) {
    r->text = m->buf + m->off;
    r->len = m->stopped >= 0 ? 0 : m->held;
    r->stop = m->stopped;
    m->off += m->held;
    m->held = 0;
}
