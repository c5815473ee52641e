/* GET /metrics (Prometheus text exposition format 0.0.4), GET /health and
 * GET / .  Per-model series carry a model="id" label; only loaded models
 * have them. */
#include <stdio.h>
#include <string.h>

#include "server/api.h"

/* A label value with \, " and newline escaped. */
static void label(http_buf *b, const char *s) {
    for (; *s; s++) {
        if (*s == '\\') http_buf_puts(b, "\\\\");
        else if (*s == '"') http_buf_puts(b, "\\\"");
        else if (*s == '\n') http_buf_puts(b, "\\n");
        else http_buf_add(b, s, 1);
    }
}

static void head(http_buf *b, const char *name, const char *type, const char *help) {
    char l[320];
    snprintf(l, sizeof l, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    http_buf_puts(b, l);
}

static void sample(http_buf *b, const char *name, const char *model, const char *extra, double v) {
    char num[64];
    http_buf_puts(b, name);
    http_buf_puts(b, "{model=\"");
    label(b, model);
    http_buf_puts(b, "\"");
    if (extra) http_buf_puts(b, extra);
    snprintf(num, sizeof num, "} %.17g\n", v);
    http_buf_puts(b, num);
}

typedef struct metric {
    const char *name, *type, *help;
} metric;

static const metric gauges[] = {
    {"lair_requests_total", "counter", "Generation requests accepted by the scheduler."},
    {"lair_prompt_tokens_total", "counter", "Prompt tokens of accepted requests."},
    {"lair_cached_prompt_tokens_total", "counter", "Prompt tokens whose KV came from the prefix cache."},
    {"lair_completion_tokens_total", "counter", "Tokens generated."},
    {"lair_tokens_per_second", "gauge", "Tokens sampled per second over the last few seconds."},
    {"lair_queue_depth", "gauge", "Requests waiting for a slot."},
    {"lair_slots_busy", "gauge", "Sequences generating now."},
    {"lair_slots", "gauge", "Sequences that can generate at once (--parallel)."},
    {"lair_kv_blocks_used", "gauge", "KV cache blocks in use (running and cached sequences)."},
    {"lair_kv_blocks_free", "gauge", "KV cache blocks free."},
    {"lair_prefix_cache_hit_ratio", "gauge", "Prompt blocks found in the prefix cache / blocks looked up."},
};

static double value(int i, const srv_stats *s) {
    switch (i) {
    case 0: return (double)s->requests;
    case 1: return (double)s->prompt_tokens;
    case 2: return (double)s->cached_tokens;
    case 3: return (double)s->completion_tokens;
    case 4: return s->decode_tok_s;
    case 5: return s->queue_depth;
    case 6: return s->slots_busy;
    case 7: return s->n_parallel;
    case 8: return s->kv_blocks_used;
    case 9: return s->kv_blocks_total - s->kv_blocks_used;
    default: return s->prefix_lookups ? (double)s->prefix_hits / (double)s->prefix_lookups : 0;
    }
}

void srv_h_metrics(http_req *r, void *ud) {
    srv_state *st = ud;
    http_buf b = {0};
    int n = 0;
    srv_model *loaded[SRV_MAX_MODELS];
    srv_stats stats[SRV_MAX_MODELS];
    for (int i = 0; i < st->n_models && n < SRV_MAX_MODELS; i++)
        if (srv_model_loaded(st->models[i])) {
            loaded[n] = st->models[i];
            srv_sched_stats(loaded[n]->sched, &stats[n]);
            n++;
        }
    for (size_t g = 0; g < sizeof gauges / sizeof gauges[0]; g++) {
        head(&b, gauges[g].name, gauges[g].type, gauges[g].help);
        for (int i = 0; i < n; i++) sample(&b, gauges[g].name, loaded[i]->id, NULL, value((int)g, &stats[i]));
    }
    head(&b, "lair_time_to_first_token_seconds", "histogram", "Time from submission to the first token.");
    for (int i = 0; i < n; i++) {
        char le[48];
        for (int k = 0; k <= SRV_TTFT_BUCKETS; k++) {
            if (k < SRV_TTFT_BUCKETS) snprintf(le, sizeof le, ",le=\"%g\"", srv_ttft_bounds[k]);
            else snprintf(le, sizeof le, ",le=\"+Inf\"");
            sample(&b, "lair_time_to_first_token_seconds_bucket", loaded[i]->id, le, (double)stats[i].ttft_count[k]);
        }
        sample(&b, "lair_time_to_first_token_seconds_sum", loaded[i]->id, NULL, stats[i].ttft_sum_s);
        sample(&b, "lair_time_to_first_token_seconds_count", loaded[i]->id, NULL,
               (double)stats[i].ttft_count[SRV_TTFT_BUCKETS]);
    }
    head(&b, "lair_http_responses_total", "counter", "HTTP responses by status code.");
    static const int codes[] = {200, 204, 400, 401, 403, 404, 405, 413, 500, 503}; /* 431 is MHD's own */
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        char l[96];
        snprintf(l, sizeof l, "lair_http_responses_total{code=\"%d\"} %llu\n", codes[i],
                 (unsigned long long)http_server_responses(http_req_server(r), codes[i]));
        http_buf_puts(&b, l);
    }
    if (b.oom) http_reply_error(r, 500, NULL, NULL, "out of memory");
    else http_reply_raw(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.p ? b.p : "", b.len);
    http_buf_free(&b);
}

void srv_h_health(http_req *r, void *ud) {
    (void)ud;
    http_reply_raw(r, 200, "application/json", "{\"status\":\"ok\"}", 15);
}

void srv_h_root(http_req *r, void *ud) {
    (void)ud;
    static const char msg[] = "lair is running\n"; /* Ollama clients probe GET / */
    http_reply_raw(r, 200, "text/plain; charset=utf-8", msg, sizeof msg - 1);
}
