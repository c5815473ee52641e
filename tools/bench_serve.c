/* lair bench serve: a fixed load test of an OpenAI-compatible endpoint.
 * The same prompts (data/bench/prompts.json), max tokens, temperature, top_p
 * and seed at each concurrency level; warm-up requests are sent first and
 * not counted.  Writes results.json, summary.md and report.html. */
#define _POSIX_C_SOURCE 200809L /* strtok_r, readlink, gmtime_r */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bench_serve.h"
#include "cli.h"
#include "core/alloc.h"
#include "core/platform.h"
#include "core/threads.h"
#include "data_files.h"
#include "lair.h"

enum { MAX_LEVELS = 16, MAX_SETS = 8 };

static const char *o_endpoint, *o_model, *o_key, *o_conc = "1,4,8", *o_out = "bench-out", *o_sets = "P1,P2,P3";
static int o_runs = 3, o_max_tokens = 128, o_seed = 42, o_pid, o_warmup = 2, o_timeout = 600;

static const cli_opt serve_opts[] = {
    {"endpoint", 0, CLI_STR, &o_endpoint, "URL", "server base URL, e.g. http://127.0.0.1:8080 (required)"},
    {"model", 0, CLI_STR, &o_model, "NAME", "model id to request (required)"},
    {"api-key", 0, CLI_STR, &o_key, "K", "bearer token"},
    {"concurrency", 0, CLI_STR, &o_conc, "LIST", "concurrent clients per level, comma-separated (default 1,4,8)"},
    {"runs", 0, CLI_INT, &o_runs, "N", "passes over the prompt set per level (default 3)"},
    {"max-tokens", 0, CLI_INT, &o_max_tokens, "N", "max_tokens of every request (default 128)"},
    {"seed", 0, CLI_INT, &o_seed, "S", "sampling seed of every request (default 42)"},
    {"out", 0, CLI_STR, &o_out, "DIR", "output directory (default bench-out)"},
    {"pid", 0, CLI_INT, &o_pid, "PID", "server process for peak RSS (default: found when the endpoint is local)"},
    {"set", 0, CLI_STR, &o_sets, "LIST", "prompt sets, comma-separated (default P1,P2,P3)"},
    {"warmup", 0, CLI_INT, &o_warmup, "N", "uncounted warm-up requests before each level (default 2)"},
    {"timeout", 0, CLI_INT, &o_timeout, "S", "per-request timeout in seconds (default 600)"},
    {0},
};
static const cli_cmd serve_cmd = {"bench serve", "--endpoint URL --model NAME [--concurrency 1,4,8] [--runs N] [--out DIR] ...",
                                  "Load-test an OpenAI-compatible chat endpoint.", NULL, serve_opts};

/* One request to send: a prompt of a set in one mode (plain,
 * response_format, tools). */
typedef struct job {
    const char *set, *mode;
    const json_t *schema;
    bool is_long;
    int prompt;
    char *body;
} job;

typedef struct pool {
    const char *url;
    job *jobs;
    int n_jobs, n_total, next, done, level_conc;
    bench_result *res;
    lair_mutex *mu;
    double t0;
    const char *phase;
} pool;

static void progress(pool *p) {
    double el = lair_time_seconds() - p->t0;
    double eta = p->done ? el / p->done * (p->n_total - p->done) : 0;
    fprintf(stderr, "\r[%s] %d/%d requests, %.0f s elapsed, ETA %.0f s   ", p->phase, p->done, p->n_total, el, eta);
    if (p->done == p->n_total) fputc('\n', stderr);
}

static void worker(void *arg) {
    pool *p = arg;
    for (;;) {
        lair_mutex_lock(p->mu);
        int i = p->next < p->n_total ? p->next++ : -1;
        lair_mutex_unlock(p->mu);
        if (i < 0) return;
        bench_http_chat(p->url, o_key, p->jobs[i % p->n_jobs].body, o_timeout, &p->res[i]);
        lair_mutex_lock(p->mu);
        p->done++;
        progress(p);
        lair_mutex_unlock(p->mu);
    }
}

/* Runs n_total requests (job i % n_jobs) with conc clients; returns wall seconds. */
static double run_pool(pool *p, int conc, int n_total, bench_result *res, const char *phase) {
    p->next = p->done = 0;
    p->n_total = n_total;
    p->res = res;
    p->phase = phase;
    p->t0 = lair_time_seconds();
    lair_thread *t[64];
    int k = 0;
    for (; k < conc; k++)
        if (!(t[k] = lair_thread_start(worker, p))) break;
    if (k == 0) worker(p);
    for (int i = 0; i < k; i++) lair_thread_join(t[i]);
    return lair_time_seconds() - p->t0;
}

static int parse_list(const char *s, int *v, int max) {
    int n = 0;
    const char *q = s;
    while (*q) {
        char *e;
        errno = 0;
        long x = strtol(q, &e, 10);
        if (e == q || errno || x < 1 || x > 64 || n == max || (*e && *e != ',')) return -1;
        v[n++] = (int)x;
        q = *e ? e + 1 : e;
        if (*e && !*q) return -1;
    }
    return n;
}

static char *make_body(const json_t *set, const char *mode, const char *prompt, const char *name) {
    json_t *b = json_pack("{s:s, s:[{s:s,s:s},{s:s,s:s}], s:b, s:{s:b}, s:i, s:f, s:f, s:i}", "model", o_model, "messages",
                          "role", "system", "content", json_string_value(json_object_get(set, "system")), "role", "user",
                          "content", prompt, "stream", 1, "stream_options", "include_usage", 1, "max_tokens", o_max_tokens,
                          "temperature", 0.0, "top_p", 1.0, "seed", o_seed);
    if (strcmp(mode, "response_format") == 0)
        json_object_set_new(b, "response_format",
                            json_pack("{s:s, s:{s:s, s:O, s:b}}", "type", "json_schema", "json_schema", "name", name, "schema",
                                      json_object_get(set, "schema"), "strict", 1));
    if (strcmp(mode, "tools") == 0) {
        json_t *tool = json_object_get(set, "tool");
        json_object_set_new(b, "tools", json_pack("[O]", tool));
        json_object_set_new(b, "tool_choice",
                            json_pack("{s:s, s:{s:O}}", "type", "function", "function", "name",
                                      json_object_get(json_object_get(tool, "function"), "name")));
    }
    char *s = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    return s;
}

/* The reply as JSON: surrounding whitespace and one ``` fence are allowed. */
static json_t *parse_reply(const char *t) {
    if (!t) return NULL;
    const char *a = t, *e = t + strlen(t);
    while (a < e && strchr(" \t\r\n", *a)) a++;
    if (e - a > 3 && strncmp(a, "```", 3) == 0) {
        a = strchr(a, '\n');
        if (!a) return NULL;
        const char *f = e;
        while (f > a && strchr(" \t\r\n", f[-1])) f--;
        if (f - a >= 3 && strncmp(f - 3, "```", 3) == 0) e = f - 3;
    }
    return json_loadb(a, (size_t)(e - a), 0, NULL);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of v[0..n) (sorts v); n > 0. */
static double pct(double *v, int n, double q) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    int k = (int)(q * n + 0.999999);
    if (k < 1) k = 1;
    return v[k - 1];
}

/* p50/p95 of TTFT, end-to-end latency and per-stream decode tok/s over
 * the successful requests of one prompt length class. */
static json_t *latency_stats(pool *p, bench_result *res, int n, bool want_long) {
    double *tt = lair_calloc((size_t)n + 1, sizeof *tt), *ee = lair_calloc((size_t)n + 1, sizeof *ee),
           *ts = lair_calloc((size_t)n + 1, sizeof *ts);
    int k = 0, kt = 0;
    json_t *o = NULL;
    if (!tt || !ee || !ts) goto out;
    for (int i = 0; i < n; i++) {
        const job *j = &p->jobs[i % p->n_jobs];
        if (j->is_long != want_long || res[i].error[0]) continue;
        tt[k] = res[i].ttft_s;
        ee[k] = res[i].e2e_s;
        k++;
        double dec = res[i].e2e_s - res[i].ttft_s;
        if (res[i].completion_tokens > 1 && dec > 0) ts[kt++] = (double)(res[i].completion_tokens - 1) / dec;
    }
    o = json_pack("{s:i}", "n", k);
    if (k) {
        json_object_set_new(o, "ttft_p50_s", json_real(pct(tt, k, .5)));
        json_object_set_new(o, "ttft_p95_s", json_real(pct(tt, k, .95)));
        json_object_set_new(o, "e2e_p50_s", json_real(pct(ee, k, .5)));
        json_object_set_new(o, "e2e_p95_s", json_real(pct(ee, k, .95)));
    }
    if (kt) {
        json_object_set_new(o, "stream_tok_s_p50", json_real(pct(ts, kt, .5)));
        json_object_set_new(o, "stream_tok_s_p95", json_real(pct(ts, kt, .95)));
    }
out:
    lair_free(tt);
    lair_free(ee);
    lair_free(ts);
    return o;
}

/* Per set and mode: request errors, replies that do not parse, replies that
 * parse but break the schema (tools mode: also replies without a tool call). */
static json_t *quality(pool *p, bench_result *res, int n, json_t *reqs, int conc) {
    json_t *q = json_array();
    for (int jx = 0; jx < p->n_jobs; jx++) {
        const job *j0 = &p->jobs[jx];
        if (j0->prompt != 0) continue; /* one entry per set x mode */
        int cnt = 0, err = 0, bad_parse = 0, bad_schema = 0, no_tool = 0;
        const char *first_err = NULL, *first_why = NULL;
        char why[256], keep_why[256] = "";
        for (int i = 0; i < n; i++) {
            const job *j = &p->jobs[i % p->n_jobs];
            if (strcmp(j->set, j0->set) || strcmp(j->mode, j0->mode)) continue;
            cnt++;
            const char *verdict = "ok";
            if (res[i].error[0]) {
                err++;
                verdict = "error";
                if (!first_err) first_err = res[i].error;
            } else if (strcmp(j->mode, "tools") == 0 && !res[i].tool_call) {
                no_tool++;
                verdict = "no_tool_call";
            } else {
                json_t *v = parse_reply(res[i].text);
                if (!v) {
                    bad_parse++;
                    verdict = "parse";
                } else if (!bench_schema_validate(j->schema, v, why, sizeof why)) {
                    bad_schema++;
                    verdict = "schema";
                    if (!first_why) {
                        snprintf(keep_why, sizeof keep_why, "%s", why);
                        first_why = keep_why;
                    }
                }
                json_decref(v);
            }
            double dec = res[i].e2e_s - res[i].ttft_s;
            json_array_append_new(
                reqs, json_pack("{s:i, s:s, s:s, s:i, s:b, s:i, s:s, s:f, s:f, s:I, s:b, s:f, s:s}", "concurrency", conc, "set",
                                j->set, "mode", j->mode, "prompt", j->prompt, "long", j->is_long, "http_status",
                                res[i].http_status, "error", res[i].error, "ttft_s", res[i].ttft_s, "e2e_s", res[i].e2e_s,
                                "completion_tokens", (json_int_t)res[i].completion_tokens, "usage_reported",
                                res[i].usage_reported, "stream_tok_s",
                                res[i].completion_tokens > 1 && dec > 0 ? (double)(res[i].completion_tokens - 1) / dec : 0.0,
                                "verdict", verdict));
        }
        int answered = cnt - err;
        json_t *e = json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:i}", "set", j0->set, "mode", j0->mode, "requests", cnt,
                              "errors", err, "parse_fail", bad_parse, "schema_fail", bad_schema, "no_tool_call", no_tool);
        json_object_set_new(e, "error_rate", json_real(cnt ? (double)err / cnt : 0));
        json_object_set_new(e, "breakage_rate",
                            answered ? json_real((double)(bad_parse + bad_schema + no_tool) / answered) : json_null());
        if (first_err) json_object_set_new(e, "first_error", json_string(first_err));
        if (first_why) json_object_set_new(e, "first_schema_problem", json_string(first_why));
        json_array_append_new(q, e);
    }
    return q;
}

/* Runtime name, version, model digest: whatever the endpoint tells. */
static json_t *server_info(const char *base) {
    char url[1100], hdr[256] = ""; /* base is at most 1023 bytes */
    json_t *o = json_pack("{s:s, s:s}", "runtime", "unknown", "version", "unknown");
    snprintf(url, sizeof url, "%s/v1/models", base);
    char *b = bench_http_get(url, o_key, hdr, sizeof hdr);
    if (hdr[0]) json_object_set_new(o, "server_header", json_string(hdr));
    json_t *j = b ? json_loads(b, 0, NULL) : NULL;
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(j, "data"), i, m) {
        const char *id = json_string_value(json_object_get(m, "id")), *own = json_string_value(json_object_get(m, "owned_by"));
        if (id && strcmp(id, o_model) == 0 && own) json_object_set_new(o, "owned_by", json_string(own));
    }
    const char *own = json_string_value(json_object_get(o, "owned_by"));
    if (own && strcmp(own, "lair") == 0) json_object_set_new(o, "runtime", json_string("lair"));
    else if (hdr[0]) json_object_set_new(o, "runtime", json_string(hdr));
    json_decref(j);
    lair_free(b);
    const char *vp[] = {"/api/version", "/version"};
    for (int k = 0; k < 2; k++) {
        snprintf(url, sizeof url, "%s%s", base, vp[k]);
        b = bench_http_get(url, o_key, NULL, 0);
        j = b ? json_loads(b, 0, NULL) : NULL;
        const char *v = json_string_value(json_object_get(j, "version"));
        if (v) json_object_set_new(o, "version", json_string(v));
        json_decref(j);
        lair_free(b);
        if (v) break;
    }
    snprintf(url, sizeof url, "%s/api/tags", base);
    b = bench_http_get(url, o_key, NULL, 0);
    j = b ? json_loads(b, 0, NULL) : NULL;
    json_array_foreach(json_object_get(j, "models"), i, m) {
        const char *n = json_string_value(json_object_get(m, "name")), *d = json_string_value(json_object_get(m, "digest"));
        if (n && d && strcmp(n, o_model) == 0) json_object_set_new(o, "model_digest", json_string(d));
    }
    json_decref(j);
    lair_free(b);
    return o;
}

/* The port of a loopback endpoint ("http://127.0.0.1:8080"), or 0. */
static int local_port(const char *base) {
    const char *h = strstr(base, "://");
    h = h ? h + 3 : base;
    const char *names[] = {"127.0.0.1:", "localhost:", "[::1]:"};
    for (int i = 0; i < 3; i++)
        if (strncmp(h, names[i], strlen(names[i])) == 0) return atoi(h + strlen(names[i]));
    return 0;
}

static int build_jobs(const json_t *doc, const char *sets, job **out, int *n_out) {
    const json_t *all = json_object_get(doc, "sets");
    job *jobs = NULL;
    int n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", sets);
    for (char *save = NULL, *name = strtok_r(buf, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        const json_t *set = json_object_get(all, name);
        if (!set) return cli_error("bench serve", "--set: unknown prompt set '%s' (there are P1, P2, P3)", name);
        const json_t *modes = json_object_get(set, "modes"), *prompts = json_object_get(set, "prompts");
        size_t mi, pi;
        json_t *m, *pr;
        json_array_foreach(modes, mi, m) json_array_foreach(prompts, pi, pr) {
                job *nj = lair_realloc(jobs, (size_t)(n + 1) * sizeof *jobs);
                if (!nj) return cli_error("bench serve", "out of memory");
                jobs = nj;
                jobs[n] = (job){json_object_iter_key(json_object_iter_at((json_t *)all, name)), json_string_value(m),
                                json_object_get(set, "schema"), json_is_true(json_object_get(set, "long")), (int)pi,
                                make_body(set, json_string_value(m), json_string_value(pr), name)};
                n++;
            }
    }
    if (!n) return cli_error("bench serve", "--set selects no prompts");
    *out = jobs;
    *n_out = n;
    return 0;
}

static int write_text(const char *dir, const char *name, const char *text) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        if (f) fclose(f);
        return cli_error("bench serve", "cannot write %s: %s", path, strerror(errno));
    }
    return 0;
}

int bench_serve_main(int argc, char **argv) {
    const char *pos[1];
    int n_pos, r = cli_parse(&serve_cmd, argc, argv, pos, 0, &n_pos);
    if (r) return r == 2 ? 0 : 1;
    if (!o_endpoint) return cli_error("bench serve", "missing --endpoint URL");
    if (!o_model) return cli_error("bench serve", "missing --model NAME");
    int conc[MAX_LEVELS];
    int n_levels = parse_list(o_conc, conc, MAX_LEVELS);
    if (n_levels <= 0)
        return cli_error("bench serve", "--concurrency '%s' is not a comma-separated list of 1 to 64 (e.g. 1,4,8)", o_conc);
    if (o_runs < 1 || o_runs > 1000) return cli_error("bench serve", "--runs must be 1 to 1000");
    if (o_max_tokens < 1) return cli_error("bench serve", "--max-tokens must be >= 1");
    if (o_warmup < 0) return cli_error("bench serve", "--warmup must be >= 0");
    if (o_timeout < 1) return cli_error("bench serve", "--timeout must be >= 1");
    size_t dl;
    const char *data = data_file("data/bench/prompts.json", &dl);
    json_error_t je;
    json_t *doc = data ? json_loadb(data, dl, 0, &je) : NULL;
    if (!doc) return cli_error("bench serve", "the built-in prompt set data/bench/prompts.json is missing or broken");
    char base[1024];
    snprintf(base, sizeof base, "%s", o_endpoint);
    for (size_t l = strlen(base); l && base[l - 1] == '/'; l--) base[l - 1] = 0;
    int rc = 1;
    job *jobs = NULL;
    int n_jobs = 0;
    json_t *res_doc = NULL;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (build_jobs(doc, o_sets, &jobs, &n_jobs)) goto out;
    if (mkdir(o_out, 0777) != 0 && errno != EEXIST) {
        cli_error("bench serve", "cannot create %s: %s", o_out, strerror(errno));
        goto out;
    }
    /* reachability first: a clear message instead of N failed requests */
    char url[1100], probe[1100];
    snprintf(url, sizeof url, "%s/v1/chat/completions", base);
    snprintf(probe, sizeof probe, "%s/v1/models", base);
    {
        CURL *c = curl_easy_init();
        curl_easy_setopt(c, CURLOPT_URL, probe);
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        CURLcode cr = curl_easy_perform(c);
        curl_easy_cleanup(c);
        if (cr != CURLE_OK) {
            cli_error("bench serve", "cannot reach the endpoint %s: %s", base, curl_easy_strerror(cr));
            goto out;
        }
    }
    long pid = o_pid;
    int lport = local_port(base);
    if (!pid && lport) pid = bench_find_listener(lport);
    time_t now = time(NULL);
    char started[64];
    strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    json_t *cond = json_pack("{s:i, s:f, s:f, s:i, s:i, s:i, s:s, s:i, s:b}", "max_tokens", o_max_tokens, "temperature", 0.0,
                             "top_p", 1.0, "seed", o_seed, "runs", o_runs, "warmup", o_warmup, "sets", o_sets, "timeout_s",
                             o_timeout, "stream", 1);
    json_t *cl = json_array();
    for (int i = 0; i < n_levels; i++) json_array_append_new(cl, json_integer(conc[i]));
    json_object_set_new(cond, "concurrency", cl);
    res_doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o}", "tool", "lair bench serve", "tool_version",
                        LAIR_VERSION_STRING, "started", started, "endpoint", base, "model", o_model, "server",
                        server_info(base), "machine", bench_machine_info(), "conditions", cond);
    json_t *levels = json_array(), *reqs = json_array();
    json_object_set_new(res_doc, "levels", levels);
    json_object_set_new(res_doc, "requests", reqs);
    const char *why = "no --pid given and the endpoint is not a local port";
    if (!pid && lport) why = "the process listening on the endpoint's port was not found (give --pid)";
    unsigned long long rss = 0;
    pool p = {.url = url, .jobs = jobs, .n_jobs = n_jobs, .mu = lair_mutex_create()};
    fprintf(stderr, "lair bench serve: %s, model %s, %d prompts x %d runs at concurrency %s\n", base, o_model, n_jobs, o_runs,
            o_conc);
    for (int li = 0; li < n_levels; li++) {
        int total = n_jobs * o_runs;
        bench_result *res = lair_calloc((size_t)(total > o_warmup ? total : o_warmup) + 1, sizeof *res);
        if (!res) {
            cli_error("bench serve", "out of memory");
            goto out;
        }
        char phase[64];
        if (o_warmup) {
            snprintf(phase, sizeof phase, "warm-up c=%d", conc[li]);
            run_pool(&p, conc[li] < o_warmup ? conc[li] : o_warmup, o_warmup, res, phase);
            for (int i = 0; i < o_warmup; i++) lair_free(res[i].text);
            memset(res, 0, (size_t)o_warmup * sizeof *res);
        }
        snprintf(phase, sizeof phase, "measure c=%d", conc[li]);
        double wall = run_pool(&p, conc[li], total, res, phase);
        long tokens = 0;
        int errors = 0;
        for (int i = 0; i < total; i++) {
            if (res[i].error[0]) errors++;
            else tokens += res[i].completion_tokens;
        }
        json_t *lv = json_pack("{s:i, s:f, s:i, s:i, s:I, s:f, s:o, s:o}", "concurrency", conc[li], "wall_s", wall, "requests",
                               total, "errors", errors, "completion_tokens", (json_int_t)tokens, "aggregate_tok_s",
                               wall > 0 ? tokens / wall : 0.0, "short", latency_stats(&p, res, total, false), "long",
                               latency_stats(&p, res, total, true));
        json_object_set_new(lv, "quality", quality(&p, res, total, reqs, conc[li]));
        /* VmHWM after every level: a server that dies later keeps its figure */
        unsigned long long hwm = pid ? bench_peak_rss(pid, &why) : 0;
        if (hwm > rss) rss = hwm;
        json_array_append_new(levels, lv);
        for (int i = 0; i < total; i++) lair_free(res[i].text);
        lair_free(res);
    }
    lair_mutex_free(p.mu);
    if (pid) json_object_set_new(res_doc, "server_pid", json_integer(pid));
    json_object_set_new(res_doc, "server_peak_rss_bytes", rss ? json_integer((json_int_t)rss) : json_null());
    if (!rss) json_object_set_new(res_doc, "server_peak_rss_note", json_string(why));
    char *txt = json_dumps(res_doc, JSON_INDENT(1));
    int w = txt ? write_text(o_out, "results.json", txt) : 1;
    free(txt);
    if (w || bench_report_write(&res_doc, 1, o_out)) goto out;
    fprintf(stderr, "lair bench serve: wrote %s/results.json, summary.md, report.html\n", o_out);
    rc = 0;
out:
    for (int i = 0; i < n_jobs; i++) free(jobs[i].body);
    lair_free(jobs);
    json_decref(res_doc);
    json_decref(doc);
    curl_global_cleanup();
    return rc;
}
