/* lair bench serve / lair bench report: load tests against an
 * OpenAI-compatible HTTP endpoint, and the reports made from their results. */
#ifndef LAIR_TOOLS_BENCH_SERVE_H
#define LAIR_TOOLS_BENCH_SERVE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* One streamed chat completion, as the client saw it.  Times in seconds
 * from sending the request. */
typedef struct bench_result {
    int http_status;       /* 0: transport failure */
    char error[256];       /* "" when the request succeeded */
    double ttft_s;         /* to the first content or tool-call delta; < 0: none came */
    double e2e_s;          /* to the end of the stream */
    long completion_tokens; /* usage from the server, else the chunks counted */
    bool usage_reported;
    char *text;            /* content, or the tool-call arguments when tool_calls came (lair_malloc) */
    bool tool_call;        /* the reply was a tool call */
} bench_result;

/* POSTs body (JSON) to url with stream: true and reads the SSE reply.
 * api_key may be NULL.  Never fails: problems land in r->error. */
void bench_http_chat(const char *url, const char *api_key, const char *body, double timeout_s, bench_result *r);
/* GETs url; returns the body (lair_malloc, NUL-terminated) or NULL; *server
 * receives the Server header when server != NULL (size n). */
char *bench_http_get(const char *url, const char *api_key, char *server, size_t n);

/* Validates v against the JSON-schema subset the prompt sets use: type
 * (string or array of names), properties, required, additionalProperties:
 * false, items, enum, minItems.  Returns true, or false with a reason. */
bool bench_schema_validate(const json_t *schema, const json_t *v, char *why, size_t n);

/* Facts about this machine: {"cpu", "cpu_flags", "cores", "memory_bytes", "os"}. */
json_t *bench_machine_info(void);
/* Peak resident memory of process pid in bytes (VmHWM), or 0 with *why set
 * when this platform cannot tell. */
unsigned long long bench_peak_rss(long pid, const char **why);
/* The pid of the process listening on TCP port (Linux: /proc/net/tcp and
 * /proc/PID/fd), or 0. */
long bench_find_listener(int port);

/* Writes summary.md and report.html into dir from one or more results.json
 * documents (one series per endpoint).  Returns 0 or 1 after a message. */
int bench_report_write(json_t *const *results, int n, const char *dir);

/* report.html: the tables and inline SVG charts (tools/bench_html.c). */
int bench_html_write(json_t *const *results, int n, FILE *f);
/* The series label of one results.json: "model @ endpoint". */
void bench_label(const json_t *r, char *out, size_t n);

int bench_serve_main(int argc, char **argv);
int bench_report_main(int argc, char **argv);

#endif
