/* HTTP on libmicrohttpd: see http.h for the checks and limits. */
#define _POSIX_C_SOURCE 200809L
#define _DARWIN_C_SOURCE 1

#include "server/http.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "core/alloc.h"
#include "core/platform.h"
#include "core/threads.h"
#include "server/sha256.h"

#define STREAM_SLICE_MS 250 /* a stream producer blocks at most this long per call */
#define STREAM_PING_S 10.0  /* idle seconds before a keep-alive comment */
#define STREAM_BLOCK 8192   /* bytes MHD asks a stream for at most */

/* A connection as the header-deadline watchdog sees it. */
typedef struct http_conn {
    struct http_conn *prev, *next;
    int fd;
    double deadline; /* lair_time_seconds(); 0: none (a request is being handled) */
} http_conn;

struct http_server {
    struct MHD_Daemon *d;
    const http_route *routes;
    int n_routes;
    void *ud;
    void (*log)(void *, const char *);
    void *log_ud;
    bool has_key;
    uint8_t key_hash[32];
    char **cors;
    int n_cors;
    bool cors_any;
    size_t max_body;
    int timeout_s;
    int port;
    bool loopback;
    atomic_bool stopping;
    _Atomic uint64_t status_count[600];
    /* header deadlines */
    lair_mutex *mu;
    lair_cond *cv;
    http_conn *conns;
    bool wd_stop;
    lair_thread *wd;
};

struct http_req {
    http_server *srv;
    struct MHD_Connection *conn;
    const http_route *route;
    http_style style;
    int fd;
    char method[16];
    char *path;
    const char *origin; /* allowed Origin to echo (owned by MHD for the request), NULL: none */
    char *body;
    size_t body_len, body_cap, discarded;
    bool too_large, body_oom;
    json_t *json;
    bool replied;
    int status;
    bool streamed;
    int n_hdr;
    char *hdr[HTTP_MAX_EXTRA_HEADERS][2];
    double t0;
};

static LAIR_PRINTF(2, 3) void logf_(http_server *s, const char *fmt, ...) {
    if (!s->log) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->log(s->log_ud, line);
}

/* ---- small helpers -------------------------------------------------------- */

double http_wall_time(void) {
    struct timespec ts;
    if (timespec_get(&ts, TIME_UTC) != TIME_UTC) return (double)time(NULL);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void http_time_rfc3339(double unix_s, char *buf, size_t cap) {
    time_t sec = (time_t)unix_s;
    long ns = (long)((unix_s - (double)sec) * 1e9);
    if (ns < 0) ns = 0;
    if (ns > 999999999) ns = 999999999;
    struct tm tm;
    if (!gmtime_r(&sec, &tm)) memset(&tm, 0, sizeof tm);
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, ns);
}

/* The client is still connected: no hang-up, and a readable socket is not at
 * end of stream (a pipelined request is fine). */
static bool fd_alive(int fd) {
    if (fd < 0) return true;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, 0);
    if (n <= 0) return true;
    if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) return false;
    if (p.revents & POLLIN) {
        char c;
        ssize_t k = recv(fd, &c, 1, MSG_PEEK);
        if (k == 0) return false;
        if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
    }
    return true;
}

/* Suspends the idle timer while we (not the client) are the slow side;
 * restoring it restarts the timer (MHD resets it when the timeout was 0). */
static void busy_begin(struct MHD_Connection *c) { MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 0u); }
static void busy_end(http_server *s, struct MHD_Connection *c) {
    MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)s->timeout_s);
}

/* Scans brackets outside strings; deeper than max is refused before parsing. */
static bool json_depth_ok(const char *p, size_t n, int max) {
    int depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max) return false;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return true;
}

/* ---- responses ------------------------------------------------------------ */

static void add_common_headers(http_req *r, struct MHD_Response *resp) {
    if (r->origin) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", r->srv->cors_any ? "*" : r->origin);
        MHD_add_response_header(resp, "Vary", "Origin");
    }
    for (int i = 0; i < r->n_hdr; i++) MHD_add_response_header(resp, r->hdr[i][0], r->hdr[i][1]);
}

static void queue(http_req *r, int status, struct MHD_Response *resp) {
    r->replied = true;
    r->status = status;
    if (!resp) return; /* out of memory: MHD closes the connection */
    add_common_headers(r, resp);
    MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    if (status >= 0 && status < 600) atomic_fetch_add(&r->srv->status_count[status], 1);
}

void http_reply_raw(http_req *r, int status, const char *content_type, const char *body, size_t len) {
    if (r->replied) return;
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (resp && content_type) MHD_add_response_header(resp, "Content-Type", content_type);
    queue(r, status, resp);
}

void http_reply_json(http_req *r, int status, json_t *body) {
    char *s = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(body);
    if (!s) {
        static const char oom[] = "{\"error\":\"out of memory\"}";
        http_reply_raw(r, 500, "application/json", oom, sizeof oom - 1);
        return;
    }
    http_reply_raw(r, status, "application/json; charset=utf-8", s, strlen(s));
    free(s);
}

static const char *default_code(int status) {
    switch (status) {
    case 401: return "invalid_api_key";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 413: return "request_too_large";
    case 503: return "server_busy";
    default: return NULL;
    }
}

void http_reply_error(http_req *r, int status, const char *param, const char *code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *body;
    if (r->style == HTTP_STYLE_OLLAMA) {
        body = json_pack("{s:s}", "error", msg);
    } else {
        if (!code) code = default_code(status);
        const char *type = status >= 500 ? "server_error" : status == 403 ? "permission_error" : "invalid_request_error";
        body = json_pack("{s:{s:s,s:s,s:s?,s:s?}}", "error", "message", msg, "type", type, "param", param, "code",
                         code);
    }
    http_reply_json(r, status, body);
}

void http_req_add_header(http_req *r, const char *name, const char *value) {
    if (r->n_hdr >= HTTP_MAX_EXTRA_HEADERS) return;
    char *n = lair_strndup(name, strlen(name)), *v = lair_strndup(value, strlen(value));
    if (!n || !v) {
        lair_free(n);
        lair_free(v);
        return;
    }
    r->hdr[r->n_hdr][0] = n;
    r->hdr[r->n_hdr][1] = v;
    r->n_hdr++;
}

/* ---- streams -------------------------------------------------------------- */

typedef struct http_stream {
    http_server *srv;
    struct MHD_Connection *conn;
    int fd;
    http_stream_fn fn;
    void (*free_fn)(void *);
    void *ctx;
    const char *ping;
    http_buf buf;
    size_t off;
    bool done;
    double last_out;
} http_stream;

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max) {
    (void)pos;
    http_stream *st = cls;
    busy_begin(st->conn);
    ssize_t ret;
    for (;;) {
        if (st->off < st->buf.len) {
            size_t n = st->buf.len - st->off < max ? st->buf.len - st->off : max;
            memcpy(out, st->buf.p + st->off, n);
            st->off += n;
            ret = (ssize_t)n;
            break;
        }
        st->buf.len = st->off = 0;
        if (st->done) {
            ret = MHD_CONTENT_READER_END_OF_STREAM;
            break;
        }
        if (atomic_load(&st->srv->stopping) || !fd_alive(st->fd)) {
            ret = MHD_CONTENT_READER_END_WITH_ERROR;
            break;
        }
        http_stream_rc rc = st->fn(st->ctx, &st->buf, STREAM_SLICE_MS);
        if (st->buf.oom || rc == HTTP_STREAM_ABORT) {
            ret = MHD_CONTENT_READER_END_WITH_ERROR;
            break;
        }
        if (rc == HTTP_STREAM_DONE) st->done = true;
        double now = lair_time_seconds();
        if (st->buf.len) st->last_out = now;
        else if (st->ping && now - st->last_out > STREAM_PING_S) {
            http_buf_puts(&st->buf, st->ping);
            st->last_out = now;
        }
    }
    busy_end(st->srv, st->conn);
    return ret;
}

static void stream_free(void *cls) {
    http_stream *st = cls;
    if (st->free_fn) st->free_fn(st->ctx);
    http_buf_free(&st->buf);
    lair_free(st);
}

void http_reply_stream(http_req *r, const char *content_type, const char *ping, http_stream_fn fn,
                       void (*free_fn)(void *ctx), void *ctx) {
    http_stream *st = r->replied ? NULL : lair_calloc(1, sizeof *st);
    if (!st) {
        if (free_fn) free_fn(ctx);
        if (!r->replied) http_reply_error(r, 500, NULL, NULL, "out of memory");
        return;
    }
    *st = (http_stream){r->srv, r->conn, r->fd, fn, free_fn, ctx, ping, {0}, 0, false, lair_time_seconds()};
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_read, st,
                                                                  stream_free);
    if (!resp) {
        stream_free(st);
        http_reply_error(r, 500, NULL, NULL, "out of memory");
        return;
    }
    MHD_add_response_header(resp, "Content-Type", content_type);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    r->streamed = true;
    queue(r, 200, resp);
}

/* ---- request accessors ---------------------------------------------------- */

const char *http_req_method(const http_req *r) { return r->method; }
const char *http_req_path(const http_req *r) { return r->path; }
json_t *http_req_json(const http_req *r) { return r->json; }
http_style http_req_style(const http_req *r) { return r->style; }
http_server *http_req_server(const http_req *r) { return r->srv; }
const char *http_req_header(const http_req *r, const char *name) {
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}
bool http_req_alive(const http_req *r) { return !atomic_load(&r->srv->stopping) && fd_alive(r->fd); }

/* ---- checks --------------------------------------------------------------- */

/* localhost, 127.0.0.1 or [::1], optionally with :port (digits). */
static bool host_allowed(const char *h) {
    static const char *const names[] = {"localhost", "127.0.0.1", "[::1]"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t n = strlen(names[i]);
        if (strncasecmp(h, names[i], n) != 0) continue;
        const char *p = h + n;
        if (!*p) return true;
        if (*p++ != ':' || !*p) continue;
        while (*p >= '0' && *p <= '9') p++;
        if (!*p && p - (h + n) <= 6) return true;
    }
    return false;
}

static bool origin_allowed(const http_server *s, const char *origin) {
    if (s->cors_any) return true;
    for (int i = 0; i < s->n_cors; i++)
        if (strcmp(s->cors[i], origin) == 0) return true;
    return false;
}

static bool auth_ok(const http_server *s, struct MHD_Connection *c) {
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h) return false;
    while (*h == ' ') h++;
    if (strncasecmp(h, "Bearer", 6) != 0 || h[6] != ' ') return false;
    h += 6;
    while (*h == ' ') h++;
    size_t n = strlen(h);
    while (n && h[n - 1] == ' ') n--;
    uint8_t d[32];
    srv_sha256(h, n, d);
    volatile uint8_t diff = 0;
    for (int i = 0; i < 32; i++) diff |= (uint8_t)(d[i] ^ s->key_hash[i]);
    return diff == 0;
}

static bool route_path_match(const http_route *rt, const char *path) {
    if (rt->prefix) {
        size_t n = strlen(rt->path);
        return strncmp(path, rt->path, n) == 0 && path[n] && !strchr(path + n, '/');
    }
    return strcmp(rt->path, path) == 0;
}

static bool route_method_match(const http_route *rt, const char *method) {
    return strcmp(rt->method, method) == 0 || (strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0);
}

static void preflight(http_req *r) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (resp) {
        MHD_add_response_header(resp, "Allow", "GET, HEAD, POST, OPTIONS");
        if (r->origin) {
            MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
            MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Authorization, Content-Type");
            MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
        }
    }
    queue(r, 204, resp);
}

/* ---- connection tracking (header deadline) -------------------------------- */

static http_conn *conn_of(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void conn_deadline(http_server *s, struct MHD_Connection *c, bool on) {
    http_conn *hc = conn_of(c);
    if (!hc) return;
    lair_mutex_lock(s->mu);
    hc->deadline = on ? lair_time_seconds() + s->timeout_s : 0;
    lair_mutex_unlock(s->mu);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
    http_server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        http_conn *hc = lair_calloc(1, sizeof *hc);
        if (!hc) return;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        hc->fd = ci ? ci->connect_fd : -1;
        lair_mutex_lock(s->mu);
        hc->deadline = lair_time_seconds() + s->timeout_s;
        hc->next = s->conns;
        if (s->conns) s->conns->prev = hc;
        s->conns = hc;
        lair_mutex_unlock(s->mu);
        *socket_context = hc;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        http_conn *hc = *socket_context;
        if (!hc) return;
        lair_mutex_lock(s->mu); /* before MHD closes the fd: the watchdog never touches a reused one */
        if (hc->prev) hc->prev->next = hc->next;
        else s->conns = hc->next;
        if (hc->next) hc->next->prev = hc->prev;
        lair_mutex_unlock(s->mu);
        lair_free(hc);
        *socket_context = NULL;
    }
}

static void watchdog(void *arg) {
    http_server *s = arg;
    lair_mutex_lock(s->mu);
    while (!s->wd_stop) {
        double now = lair_time_seconds();
        for (http_conn *hc = s->conns; hc; hc = hc->next)
            if (hc->deadline > 0 && now > hc->deadline && hc->fd >= 0) {
                shutdown(hc->fd, SHUT_RDWR); /* MHD's thread sees the error and closes it */
                hc->deadline = 0;
            }
        lair_cond_wait(s->cv, s->mu, 250);
    }
    lair_mutex_unlock(s->mu);
}

/* ---- the request handler -------------------------------------------------- */

static void req_free(http_req *r) {
    if (!r) return;
    lair_free(r->path);
    lair_free(r->body);
    json_decref(r->json);
    for (int i = 0; i < r->n_hdr; i++) {
        lair_free(r->hdr[i][0]);
        lair_free(r->hdr[i][1]);
    }
    lair_free(r);
}

/* Checks 1-5 of http.h on the request's first call (headers complete). */
static void first_call(http_server *s, http_req *r, struct MHD_Connection *c) {
    const char *path = r->path;
    if (strncmp(path, "/api/", 5) == 0) r->style = HTTP_STYLE_OLLAMA;
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    if (origin && origin_allowed(s, origin)) r->origin = origin;
    if (s->loopback) {
        const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
        if (host && !host_allowed(host)) {
            http_reply_error(r, 403, NULL, NULL,
                             "Host header not allowed: this server only answers requests for localhost, 127.0.0.1 "
                             "or [::1]");
            return;
        }
    }
    if (strcmp(r->method, "OPTIONS") == 0) {
        preflight(r);
        return;
    }
    const http_route *any = NULL, *match = NULL;
    for (int i = 0; i < s->n_routes; i++) {
        const http_route *rt = &s->routes[i];
        if (!route_path_match(rt, path)) continue;
        if (!any) any = rt;
        if (!match && route_method_match(rt, r->method)) match = rt;
    }
    if (any) r->style = any->style;
    if (s->has_key && !(any && any->public_route) && !auth_ok(s, c)) {
        http_req_add_header(r, "WWW-Authenticate", "Bearer");
        http_reply_error(r, 401, NULL, NULL,
                         "missing or invalid API key: send the header 'Authorization: Bearer <key>'");
        return;
    }
    if (!any) {
        http_reply_error(r, 404, NULL, NULL, "no route for %s %s", r->method, path);
        return;
    }
    if (!match) {
        char allow[128] = "";
        for (int i = 0; i < s->n_routes; i++)
            if (route_path_match(&s->routes[i], path)) {
                if (allow[0]) strncat(allow, ", ", sizeof allow - strlen(allow) - 1);
                strncat(allow, s->routes[i].method, sizeof allow - strlen(allow) - 1);
            }
        http_req_add_header(r, "Allow", allow);
        http_reply_error(r, 405, NULL, NULL, "%s is not allowed on %s (allowed: %s)", r->method, path, allow);
        return;
    }
    r->route = match;
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || end == cl || n > s->max_body)
            http_reply_error(r, 413, NULL, NULL, "the request body (%s bytes) exceeds the limit of %zu bytes", cl,
                             s->max_body);
    }
}

static void body_add(http_server *s, http_req *r, const char *data, size_t n) {
    if (r->too_large || r->body_oom) {
        r->discarded += n;
        return;
    }
    if (r->body_len + n > s->max_body) {
        r->too_large = true;
        r->discarded += r->body_len + n;
        return;
    }
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_len + n + 1) cap *= 2;
        char *p = lair_realloc(r->body, cap);
        if (!p) {
            r->body_oom = true;
            return;
        }
        r->body = p;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
}

/* Check 6 and the handler, once the whole body is in. */
static void final_call(http_server *s, http_req *r) {
    if (r->body_oom) {
        http_reply_error(r, 500, NULL, NULL, "out of memory reading the request body");
        return;
    }
    if (r->too_large) {
        http_reply_error(r, 413, NULL, NULL, "the request body exceeds the limit of %zu bytes", s->max_body);
        return;
    }
    if (strcmp(r->route->method, "POST") == 0) {
        if (!r->body_len) {
            http_reply_error(r, 400, NULL, "invalid_json", "the request body is empty: a JSON object is expected");
            return;
        }
        if (!json_depth_ok(r->body, r->body_len, HTTP_MAX_JSON_DEPTH)) {
            http_reply_error(r, 400, NULL, "invalid_json", "the JSON body is nested deeper than %d levels",
                             HTTP_MAX_JSON_DEPTH);
            return;
        }
        json_error_t je;
        r->json = json_loadb(r->body, r->body_len, 0, &je);
        if (!r->json) {
            http_reply_error(r, 400, NULL, "invalid_json", "invalid JSON at line %d, column %d: %s", je.line,
                             je.column, je.text);
            return;
        }
        if (!json_is_object(r->json)) {
            http_reply_error(r, 400, NULL, "invalid_json", "the request body must be a JSON object");
            return;
        }
    }
    busy_begin(r->conn);
    r->route->fn(r, s->ud);
    busy_end(s, r->conn);
    if (!r->replied) http_reply_error(r, 500, NULL, NULL, "internal error: the handler gave no response");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size, void **con_cls) {
    (void)version;
    http_server *s = cls;
    http_req *r = *con_cls;
    if (!r) {
        r = lair_calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        *con_cls = r;
        r->srv = s;
        r->conn = c;
        r->t0 = lair_time_seconds();
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        r->fd = ci ? ci->connect_fd : -1;
        snprintf(r->method, sizeof r->method, "%s", method);
        r->path = lair_strndup(url, strlen(url));
        if (!r->path) return MHD_NO;
        conn_deadline(s, c, false);
        first_call(s, r, c);
        return MHD_YES;
    }
    if (*upload_size) {
        body_add(s, r, upload_data, *upload_size);
        *upload_size = 0;
        /* a chunked body far beyond the limit: stop reading it */
        return r->discarded > 2 * s->max_body ? MHD_NO : MHD_YES;
    }
    if (!r->replied) final_call(s, r);
    return MHD_YES;
}

/* Request line for the log, without control characters (the path is the
 * client's). */
static void log_safe(char *dst, size_t cap, const char *src) {
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++) dst[i] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f ? '?' : src[i];
    dst[i] = 0;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    http_server *s = cls;
    http_req *r = *con_cls;
    conn_deadline(s, c, true); /* the next request on this connection must arrive in time */
    if (!r) return;
    char path[160];
    log_safe(path, sizeof path, r->path ? r->path : "?");
    const char *how = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK       ? ""
                      : toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED  ? " (timed out)"
                      : toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT     ? " (client closed the connection)"
                      : toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? " (server shutting down)"
                                                                        : " (connection error)";
    logf_(s, "%s %s %d %.3f s%s", r->method, path, r->status, lair_time_seconds() - r->t0, how);
    req_free(r);
    *con_cls = NULL;
}

static LAIR_PRINTF(2, 0) void mhd_log(void *cls, const char *fmt, va_list ap) {
    http_server *s = cls;
    if (!s->log) return;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
    logf_(s, "http: %s", line);
}

/* ---- start and stop ------------------------------------------------------- */

static bool addr_loopback(const struct sockaddr *sa) {
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        static const uint8_t lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        static const uint8_t v4[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        const uint8_t *b = a->sin6_addr.s6_addr;
        return memcmp(b, lo, 16) == 0 || (memcmp(b, v4, 12) == 0 && b[12] == 127);
    }
    return false;
}

/* Resolves host and binds a listening socket; *loopback tells whether every
 * address it answers on is a loopback one. */
static int listen_on(const char *host, int port, bool *loopback, int *bound_port, lair_err *err) {
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int g = getaddrinfo(host, ps, &hints, &ai);
    if (g != 0) {
        lair_err_set(err, LAIR_ERR_IO, "cannot resolve host '%s': %s", host, gai_strerror(g));
        return -1;
    }
    int fd = -1, last_errno = 0;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 128) == 0) {
            *loopback = addr_loopback(a->ai_addr);
            break;
        }
        last_errno = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0) {
        lair_err_set(err, LAIR_ERR_IO, "cannot listen on %s port %d: %s", host, port, strerror(last_errno));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    *bound_port = port;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) *bound_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6) *bound_port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return fd;
}

static void server_free(http_server *s) {
    if (!s) return;
    if (s->wd) {
        lair_mutex_lock(s->mu);
        s->wd_stop = true;
        lair_cond_signal(s->cv);
        lair_mutex_unlock(s->mu);
        lair_thread_join(s->wd);
    }
    if (s->d) MHD_stop_daemon(s->d);
    while (s->conns) { /* MHD reported every close; this is only a safety net */
        http_conn *n = s->conns->next;
        lair_free(s->conns);
        s->conns = n;
    }
    for (int i = 0; i < s->n_cors; i++) lair_free(s->cors[i]);
    lair_free(s->cors);
    lair_cond_free(s->cv);
    lair_mutex_free(s->mu);
    lair_free(s);
}

lair_status http_server_start(const http_config *cfg, http_server **out, lair_err *err) {
    *out = NULL;
    if (cfg->n_cors < 0 || cfg->n_cors > HTTP_MAX_CORS)
        return lair_err_set(err, LAIR_ERR_ARG, "at most %d CORS origins, got %d", HTTP_MAX_CORS, cfg->n_cors);
    http_server *s = lair_calloc(1, sizeof *s);
    if (!s) return lair_err_set(err, LAIR_ERR_NOMEM, "out of memory");
    s->routes = cfg->routes;
    s->n_routes = cfg->n_routes;
    s->ud = cfg->ud;
    s->log = cfg->log;
    s->log_ud = cfg->log_ud;
    s->max_body = cfg->max_body ? cfg->max_body : HTTP_DEFAULT_MAX_BODY;
    s->timeout_s = cfg->timeout_s > 0 ? cfg->timeout_s : HTTP_DEFAULT_TIMEOUT_S;
    atomic_init(&s->stopping, false);
    if (cfg->api_key && cfg->api_key[0]) {
        s->has_key = true;
        srv_sha256(cfg->api_key, strlen(cfg->api_key), s->key_hash);
    }
    s->mu = lair_mutex_create();
    s->cv = lair_cond_create();
    s->cors = cfg->n_cors ? lair_calloc((size_t)cfg->n_cors, sizeof *s->cors) : NULL;
    if (!s->mu || !s->cv || (cfg->n_cors && !s->cors)) {
        server_free(s);
        return lair_err_set(err, LAIR_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < cfg->n_cors; i++) {
        const char *o = cfg->cors[i];
        if (strcmp(o, "*") == 0) s->cors_any = true;
        if (!(s->cors[s->n_cors++] = lair_strndup(o, strlen(o)))) {
            server_free(s);
            return lair_err_set(err, LAIR_ERR_NOMEM, "out of memory");
        }
    }
    const char *host = cfg->host && cfg->host[0] ? cfg->host : "127.0.0.1";
    int fd = listen_on(host, cfg->port, &s->loopback, &s->port, err);
    if (fd < 0) {
        server_free(s);
        return LAIR_ERR_IO;
    }
    if (!s->loopback && !s->has_key && !cfg->insecure_no_auth) {
        close(fd);
        server_free(s);
        return lair_err_set(err, LAIR_ERR_ARG,
                            "refusing to listen on %s (not a loopback address) without an API key: anyone on the "
                            "network could use it; give --api-key or --api-key-file (or --insecure-no-auth if "
                            "you really mean it)",
                            host);
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
                     MHD_USE_ERROR_LOG;
    unsigned max_conn = cfg->max_connections > 0 ? (unsigned)cfg->max_connections : HTTP_DEFAULT_MAX_CONNECTIONS;
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                            MHD_OPTION_LISTEN_SOCKET, fd,
                            MHD_OPTION_CONNECTION_LIMIT, max_conn, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)s->timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION,
                            on_connection, s, MHD_OPTION_END);
    if (!s->d) {
        close(fd);
        server_free(s);
        return lair_err_set(err, LAIR_ERR_IO, "cannot start the HTTP server on %s port %d", host, cfg->port);
    }
    s->wd = lair_thread_start(watchdog, s);
    if (!s->wd) {
        server_free(s);
        return lair_err_set(err, LAIR_ERR_NOMEM, "cannot start a thread");
    }
    *out = s;
    return LAIR_OK;
}

void http_server_stop(http_server *s) {
    if (!s) return;
    atomic_store(&s->stopping, true);
    server_free(s);
}

int http_server_port(const http_server *s) { return s->port; }
bool http_server_loopback(const http_server *s) { return s->loopback; }
uint64_t http_server_responses(const http_server *s, int status) {
    return status >= 0 && status < 600 ? atomic_load(&s->status_count[status]) : 0;
}
