/* One streamed chat completion over libcurl (easy interface, one per client
 * thread), read as server-sent events: TTFT is the first content delta. */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "bench_serve.h"
#include "core/alloc.h"
#include "core/platform.h"

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static bool buf_add(buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = lair_realloc(b->p, cap);
        if (!p) return false;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return true;
}

typedef struct sse {
    bench_result *r;
    double t0;
    long status;
    CURL *curl;
    buf line, raw, text, args;
    long chunks;
} sse;

/* One "data: {...}" event: content deltas, tool-call argument deltas, usage. */
static void sse_event(sse *s, const char *data) {
    if (strcmp(data, "[DONE]") == 0) return;
    json_t *j = json_loads(data, 0, NULL);
    if (!j) return;
    json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
    json_t *delta = json_object_get(ch, "delta");
    const char *c = json_string_value(json_object_get(delta, "content"));
    bool got = false;
    if (c && *c) {
        buf_add(&s->text, c, strlen(c));
        got = true;
    }
    json_t *tc = json_object_get(delta, "tool_calls");
    size_t i;
    json_t *t;
    json_array_foreach(tc, i, t) {
        const char *a = json_string_value(json_object_get(json_object_get(t, "function"), "arguments"));
        s->r->tool_call = true;
        if (a && *a) {
            buf_add(&s->args, a, strlen(a));
            got = true;
        }
    }
    if (got) {
        s->chunks++;
        if (s->r->ttft_s < 0) s->r->ttft_s = lair_time_seconds() - s->t0;
    }
    json_t *u = json_object_get(j, "usage");
    if (json_is_object(u) && json_is_integer(json_object_get(u, "completion_tokens"))) {
        s->r->completion_tokens = (long)json_integer_value(json_object_get(u, "completion_tokens"));
        s->r->usage_reported = true;
    }
    json_decref(j);
}

static size_t on_data(char *p, size_t sz, size_t n, void *ud) {
    sse *s = ud;
    size_t len = sz * n;
    if (!s->status) curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->status);
    if (s->status != 200) return buf_add(&s->raw, p, len) ? len : 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] != '\n') {
            if (!buf_add(&s->line, p + i, 1)) return 0;
            continue;
        }
        if (s->line.len && s->line.p[s->line.len - 1] == '\r') s->line.p[--s->line.len] = 0;
        if (s->line.len > 5 && strncmp(s->line.p, "data:", 5) == 0) {
            const char *d = s->line.p + 5;
            while (*d == ' ') d++;
            sse_event(s, d);
        }
        s->line.len = 0;
    }
    return len;
}

/* The Bearer header when a key is given (curl copies the string). */
static struct curl_slist *add_auth(struct curl_slist *h, const char *api_key) {
    if (!api_key) return h;
    char auth[512];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", api_key);
    return curl_slist_append(h, auth);
}

void bench_http_chat(const char *url, const char *api_key, const char *body, double timeout_s, bench_result *r) {
    memset(r, 0, sizeof *r);
    r->ttft_s = -1;
    sse s = {.r = r, .t0 = lair_time_seconds()};
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(r->error, sizeof r->error, "curl_easy_init failed");
        return;
    }
    s.curl = c;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = add_auth(curl_slist_append(h, "Accept: text/event-stream"), api_key);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_s * 1000));
    CURLcode rc = curl_easy_perform(c);
    r->e2e_s = lair_time_seconds() - s.t0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &s.status);
    r->http_status = (int)s.status;
    if (rc != CURLE_OK) {
        snprintf(r->error, sizeof r->error, "%s", curl_easy_strerror(rc));
    } else if (s.status != 200) {
        json_t *j = s.raw.p ? json_loads(s.raw.p, 0, NULL) : NULL;
        const char *m = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
        if (!m) m = json_string_value(json_object_get(j, "error"));
        snprintf(r->error, sizeof r->error, "HTTP %ld: %.200s", s.status, m ? m : s.raw.p ? s.raw.p : "");
        json_decref(j);
    } else if (r->ttft_s < 0) {
        snprintf(r->error, sizeof r->error, "the stream carried no content");
    }
    if (!r->usage_reported) r->completion_tokens = s.chunks;
    buf *keep = r->tool_call ? &s.args : &s.text;
    r->text = keep->p ? keep->p : NULL;
    keep->p = NULL;
    lair_free(s.text.p);
    lair_free(s.args.p);
    lair_free(s.line.p);
    lair_free(s.raw.p);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

static size_t on_get(char *p, size_t sz, size_t n, void *ud) {
    return buf_add(ud, p, sz * n) ? sz * n : 0;
}

typedef struct hdr_ctx {
    char *server;
    size_t n;
} hdr_ctx;

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
    hdr_ctx *h = ud;
    size_t len = sz * n;
    if (h->server && len > 7 && (p[0] | 32) == 's' && strncmp(p + 1, "erver:", 6) == 0) {
        size_t a = 7, e = len;
        while (a < e && p[a] == ' ') a++;
        while (e > a && (p[e - 1] == '\r' || p[e - 1] == '\n')) e--;
        snprintf(h->server, h->n, "%.*s", (int)(e - a), p + a);
    }
    return len;
}

char *bench_http_get(const char *url, const char *api_key, char *server, size_t n) {
    CURL *c = curl_easy_init();
    if (!c) return NULL;
    buf b = {0};
    hdr_ctx hc = {server, n};
    struct curl_slist *h = add_auth(NULL, api_key);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_get);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hc);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    long st = 0;
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK || st != 200) {
        lair_free(b.p);
        return NULL;
    }
    if (!b.p) buf_add(&b, "", 0);
    return b.p;
}
