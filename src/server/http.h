/* The HTTP layer: libmicrohttpd underneath, a route table on top.
 *
 * It owns everything that is about HTTP rather than about models: the
 * listening socket, the security checks every request passes before a
 * handler sees it, request bodies and their JSON, error responses in the
 * caller's API shape, and streamed responses.
 *
 * Order of checks for each request (the first that fails answers):
 *   1. Host header (only when bound to loopback): localhost, 127.0.0.1 or
 *      [::1], with or without a port; anything else is 403 (DNS rebinding).
 *      A request without Host (HTTP/1.0) passes: no browser sends one.
 *   2. OPTIONS: a CORS preflight, 204 (CORS headers only for listed origins).
 *   3. API key (when configured) on every route not marked public:
 *      "Authorization: Bearer KEY", compared in constant time (both sides
 *      hashed with SHA-256, all 32 bytes compared); 401 otherwise.  The key
 *      is never stored in clear, logged or echoed.
 *   4. Route: unknown path 404; known path, other method 405 (with Allow).
 *   5. Body: Content-Length above max_body is 413 before any byte is read;
 *      a chunked body is counted as it arrives (413 at its end; beyond twice
 *      the limit the connection is closed).
 *   6. JSON (POST routes): the body must be one JSON object, valid UTF-8,
 *      nested at most HTTP_MAX_JSON_DEPTH deep (checked by a scan before
 *      jansson parses, so no recursion depends on the client); else 400.
 *
 * Threads: one per connection (MHD_USE_THREAD_PER_CONNECTION), so a handler
 * may block while a model generates; streamed responses are produced by a
 * callback that blocks at most a fraction of a second at a time so the
 * client's liveness and shutdown are checked between slices.
 *
 * Limits on clients: at most max_connections at once; request line and
 * headers share a HTTP_CONN_MEMORY pool per connection (beyond it: 431),
 * which also bounds the header count; a request's headers must arrive
 * within timeout_s of the connection opening (or of the previous response:
 * slow-loris clients are dropped, whatever their pace); a connection with no
 * traffic for timeout_s is closed, which also ends a stream whose reader
 * stopped reading (the job's own output buffer is bounded by the scheduler).
 * While a handler or a stream is working, the idle timer is suspended. */
#ifndef LAIR_SERVER_HTTP_H
#define LAIR_SERVER_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "lair.h"

#define HTTP_MAX_JSON_DEPTH 64            /* nesting of arrays and objects in a request body */
#define HTTP_DEFAULT_MAX_BODY (4u << 20)  /* bytes */
#define HTTP_DEFAULT_TIMEOUT_S 30         /* header deadline and idle timeout */
#define HTTP_DEFAULT_MAX_CONNECTIONS 256
#define HTTP_CONN_MEMORY (64u << 10)      /* per-connection pool: request line, headers, write buffer */
#define HTTP_MAX_CORS 16                  /* listed origins */
#define HTTP_MAX_EXTRA_HEADERS 8          /* headers a handler adds to one response */

typedef enum http_style {
    HTTP_STYLE_OPENAI, /* {"error":{"message","type","param","code"}} */
    HTTP_STYLE_OLLAMA, /* {"error":"message"} */
} http_style;

typedef struct http_req http_req;
typedef void (*http_handler)(http_req *r, void *ud);

typedef struct http_route {
    const char *method; /* "GET" (also answers HEAD) or "POST" (body parsed as a JSON object) */
    const char *path;   /* exact, or a prefix when it ends with '/' and prefix is set */
    bool prefix;
    bool public_route;  /* no API key needed */
    http_style style;
    http_handler fn;
} http_route;

typedef struct http_config {
    const char *host;          /* address or name to bind; NULL: 127.0.0.1 */
    int port;                  /* 0: any free port (see http_server_port) */
    const char *api_key;       /* NULL or "": none (hashed at start; not kept) */
    bool insecure_no_auth;     /* allow a non-loopback bind without a key */
    const char *const *cors;   /* allowed origins ("*": any, never with credentials) */
    int n_cors;
    size_t max_body;           /* 0: HTTP_DEFAULT_MAX_BODY */
    int timeout_s;             /* 0: HTTP_DEFAULT_TIMEOUT_S */
    int max_connections;       /* 0: HTTP_DEFAULT_MAX_CONNECTIONS */
    const http_route *routes;  /* must outlive the server */
    int n_routes;
    void *ud;                  /* handlers' second argument */
    /* One line (no newline) about a request or the server; may be NULL.
     * Called from any thread. */
    void (*log)(void *log_ud, const char *line);
    void *log_ud;
} http_config;

typedef struct http_server http_server;

/* Binds and starts serving.  Refuses (LAIR_ERR_ARG) a non-loopback address
 * without an API key unless insecure_no_auth; LAIR_ERR_IO when the address
 * cannot be bound (the message names it and the reason). */
lair_status http_server_start(const http_config *cfg, http_server **out, lair_err *err);
/* Stops accepting, ends streams and waits for every connection's thread. */
void http_server_stop(http_server *s);
int http_server_port(const http_server *s);
bool http_server_loopback(const http_server *s);
/* Responses sent with this status so far (for /metrics); 0 for others. */
uint64_t http_server_responses(const http_server *s, int status);

/* ---- inside a handler ---------------------------------------------------- */
const char *http_req_method(const http_req *r);
const char *http_req_path(const http_req *r);
const char *http_req_header(const http_req *r, const char *name); /* NULL when absent */
json_t *http_req_json(const http_req *r); /* POST routes: the body (an object), borrowed */
http_style http_req_style(const http_req *r);
http_server *http_req_server(const http_req *r);
/* False once the client has gone or the server is stopping: handlers that
 * wait poll this (a few times a second) and give up. */
bool http_req_alive(const http_req *r);

/* Adds a header to the reply that follows (Retry-After, ...). */
void http_req_add_header(http_req *r, const char *name, const char *value);

/* Exactly one reply per request.  http_reply_json steals body and writes it
 * as UTF-8 (no \u escapes for non-ASCII). */
void http_reply_json(http_req *r, int status, json_t *body);
void http_reply_raw(http_req *r, int status, const char *content_type, const char *body, size_t len);
/* An error in the route's shape.  param: the request field at fault (NULL:
 * none); code: a short machine-readable code (NULL: derived from status). */
void http_reply_error(http_req *r, int status, const char *param, const char *code, const char *fmt, ...)
    LAIR_PRINTF(5, 6);

/* A growable byte buffer for stream producers. */
typedef struct http_buf {
    char *p;
    size_t len, cap;
    bool oom; /* an append failed: the stream is aborted */
} http_buf;
void http_buf_add(http_buf *b, const char *s, size_t n);
void http_buf_puts(http_buf *b, const char *s);
/* Appends json_dumps(v) (compact, UTF-8). */
void http_buf_json(http_buf *b, const json_t *v);
void http_buf_free(http_buf *b);

typedef enum http_stream_rc {
    HTTP_STREAM_MORE,  /* call again (out may be empty: nothing new yet) */
    HTTP_STREAM_DONE,  /* out holds the last bytes */
    HTTP_STREAM_ABORT, /* end the response now, unfinished */
} http_stream_rc;
/* Appends the next bytes to out, waiting at most timeout_ms for them. */
typedef http_stream_rc (*http_stream_fn)(void *ctx, http_buf *out, int timeout_ms);

/* A 200 response of unknown length (chunked) produced by fn.  When nothing
 * was produced for a while, `ping` (may be NULL; an SSE comment) is sent to
 * keep proxies and clients from timing out.  free_fn(ctx) runs exactly once
 * when the response is over, finished or not (the client may have gone). */
void http_reply_stream(http_req *r, const char *content_type, const char *ping, http_stream_fn fn,
                       void (*free_fn)(void *ctx), void *ctx);

/* "2024-05-01T12:34:56.123456789Z" (UTC, RFC 3339) for a wall-clock time in
 * seconds since 1970; buf needs 40 bytes. */
void http_time_rfc3339(double unix_s, char *buf, size_t cap);
double http_wall_time(void); /* seconds since 1970 */

#endif
