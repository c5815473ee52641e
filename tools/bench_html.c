/* report.html of lair bench serve / report: one self-contained UTF-8 page
 * with inline SVG charts (aggregate and per-stream tok/s against
 * concurrency, TTFT and end-to-end latency distributions), one colour per
 * series (results file), and the request tables. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_serve.h"

enum { W = 640, H = 300, ML = 60, MR = 20, MT = 30, MB = 40, MAXC = 64 };
static const char *const colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

static void esc(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* The sorted distinct concurrency levels over all results; returns count. */
static int levels(json_t *const *r, int n, int *c) {
    int k = 0;
    for (int i = 0; i < n; i++) {
        size_t j;
        json_t *lv;
        json_array_foreach(json_object_get(r[i], "levels"), j, lv) {
            int v = (int)json_integer_value(json_object_get(lv, "concurrency")), seen = 0;
            for (int q = 0; q < k; q++) seen |= c[q] == v;
            if (!seen && k < MAXC) c[k++] = v;
        }
    }
    for (int a = 1; a < k; a++)
        for (int b = a; b > 0 && c[b - 1] > c[b]; b--) {
            int t = c[b];
            c[b] = c[b - 1];
            c[b - 1] = t;
        }
    return k;
}

static double xpos(int idx, int k) { return ML + (W - ML - MR) * (k > 1 ? (idx + 0.5) / k : 0.5); }
static double ypos(double v, double ymax) { return MT + (H - MT - MB) * (1 - v / ymax); }

static double nice_max(double v) {
    if (v <= 0) return 1;
    double p = pow(10, floor(log10(v)));
    for (double m = 1; m <= 10; m += m < 2 ? 1 : m < 5 ? 3 : 5)
        if (m * p >= v) return m * p;
    return 10 * p;
}

/* Frame, title, y ticks, x categories. */
static void axes(FILE *f, const char *title, const char *ylabel, double ymax, const int *c, int k) {
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n", W, H,
            W, H);
    fprintf(f, "<text x=\"%d\" y=\"18\" font-size=\"14\" font-weight=\"bold\">", ML);
    esc(f, title);
    fprintf(f, "</text>\n<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#000\"/>\n", ML, H - MB, W - MR, H - MB);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#000\"/>\n", ML, MT, ML, H - MB);
    for (int t = 0; t <= 4; t++) {
        double v = ymax * t / 4, y = ypos(v, ymax);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>", ML, y, W - MR, y);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.4g</text>\n", ML - 4, y + 4, v);
    }
    for (int i = 0; i < k; i++)
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">c=%d</text>\n", xpos(i, k), H - MB + 16,
                c[i]);
    fprintf(f, "<text x=\"14\" y=\"%d\" font-size=\"11\" transform=\"rotate(-90 14 %d)\" text-anchor=\"middle\">", H / 2, H / 2);
    esc(f, ylabel);
    fputs("</text>\n", f);
}

static int cidx(const int *c, int k, int v) {
    for (int i = 0; i < k; i++)
        if (c[i] == v) return i;
    return 0;
}

/* A line per series: field of each level (aggregate_tok_s) or of its
 * "short" stats (sub != NULL). */
static void line_chart(FILE *f, json_t *const *r, int n, const char *title, const char *sub, const char *field) {
    int c[MAXC], k = levels(r, n, c);
    double ymax = 0;
    size_t j;
    json_t *lv;
    for (int i = 0; i < n; i++) json_array_foreach(json_object_get(r[i], "levels"), j, lv) {
            const json_t *o = sub ? json_object_get(lv, sub) : lv;
            double v = json_number_value(json_object_get(o, field));
            if (v > ymax) ymax = v;
        }
    ymax = nice_max(ymax);
    axes(f, title, "tokens/s", ymax, c, k);
    for (int i = 0; i < n; i++) {
        const char *col = colours[i % 6];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", col);
        json_array_foreach(json_object_get(r[i], "levels"), j, lv) {
            const json_t *o = sub ? json_object_get(lv, sub) : lv;
            fprintf(f, "%.1f,%.1f ", xpos(cidx(c, k, (int)json_integer_value(json_object_get(lv, "concurrency"))), k),
                    ypos(json_number_value(json_object_get(o, field)), ymax));
        }
        fputs("\"/>\n", f);
        json_array_foreach(json_object_get(r[i], "levels"), j, lv) {
            const json_t *o = sub ? json_object_get(lv, sub) : lv;
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"><title>%.2f tok/s</title></circle>\n",
                    xpos(cidx(c, k, (int)json_integer_value(json_object_get(lv, "concurrency"))), k),
                    ypos(json_number_value(json_object_get(o, field)), ymax), col,
                    json_number_value(json_object_get(o, field)));
        }
    }
    fputs("</svg>\n", f);
}

/* Every successful request as a dot at its level, series side by side:
 * the latency distribution (field: ttft_s or e2e_s), long prompts hollow. */
static void strip_chart(FILE *f, json_t *const *r, int n, const char *title, const char *field) {
    int c[MAXC], k = levels(r, n, c);
    double ymax = 0;
    size_t j;
    json_t *q;
    for (int i = 0; i < n; i++) json_array_foreach(json_object_get(r[i], "requests"), j, q) {
            double v = json_number_value(json_object_get(q, field));
            if (!*json_string_value(json_object_get(q, "error")) && v > ymax) ymax = v;
        }
    ymax = nice_max(ymax);
    axes(f, title, "seconds", ymax, c, k);
    double band = (W - ML - MR) / (double)(k ? k : 1) * 0.7;
    for (int i = 0; i < n; i++) {
        json_array_foreach(json_object_get(r[i], "requests"), j, q) {
            const char *e = json_string_value(json_object_get(q, "error"));
            if (!e || *e) continue;
            int ci = cidx(c, k, (int)json_integer_value(json_object_get(q, "concurrency")));
            double x = xpos(ci, k) - band / 2 + band * (i + 0.5) / n + ((double)(j * 37 % 17) - 8) * band / n / 20;
            bool lg = json_is_true(json_object_get(q, "long"));
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\" stroke=\"%s\" fill-opacity=\"0.6\"/>\n", x,
                    ypos(json_number_value(json_object_get(q, field)), ymax), lg ? "none" : colours[i % 6], colours[i % 6]);
        }
    }
    fputs("</svg>\n", f);
}

static void table(FILE *f, const json_t *r) {
    fputs("<table><tr><th>c</th><th>prompts</th><th>n</th><th>TTFT p50</th><th>TTFT p95</th><th>E2E p50</th><th>E2E "
          "p95</th><th>tok/s/stream p50</th><th>aggregate tok/s</th><th>errors</th></tr>\n",
          f);
    size_t i;
    json_t *lv;
    json_array_foreach(json_object_get(r, "levels"), i, lv) for (int cls = 0; cls < 2; cls++) {
            const json_t *st = json_object_get(lv, cls ? "long" : "short");
            fprintf(f, "<tr><td>%lld</td><td>%s</td><td>%lld</td>", (long long)json_integer_value(json_object_get(lv, "concurrency")),
                    cls ? "long" : "short", (long long)json_integer_value(json_object_get(st, "n")));
            const char *keys[] = {"ttft_p50_s", "ttft_p95_s", "e2e_p50_s", "e2e_p95_s", "stream_tok_s_p50"};
            for (int q = 0; q < 5; q++) {
                const json_t *v = json_object_get(st, keys[q]);
                if (json_is_number(v)) fprintf(f, "<td>%.3f</td>", json_number_value(v));
                else fputs("<td>-</td>", f);
            }
            fprintf(f, "<td>%.2f</td><td>%lld/%lld</td></tr>\n", json_number_value(json_object_get(lv, "aggregate_tok_s")),
                    (long long)json_integer_value(json_object_get(lv, "errors")),
                    (long long)json_integer_value(json_object_get(lv, "requests")));
        }
    fputs("</table>\n<table><tr><th>c</th><th>set</th><th>mode</th><th>requests</th><th>errors</th><th>parse fail</th><th>schema "
          "fail</th><th>no tool call</th><th>breakage</th><th>first error</th></tr>\n",
          f);
    json_array_foreach(json_object_get(r, "levels"), i, lv) {
        size_t k;
        json_t *q;
        json_array_foreach(json_object_get(lv, "quality"), k, q) {
            fprintf(f, "<tr><td>%lld</td><td>", (long long)json_integer_value(json_object_get(lv, "concurrency")));
            esc(f, json_string_value(json_object_get(q, "set")));
            fputs("</td><td>", f);
            esc(f, json_string_value(json_object_get(q, "mode")));
            const char *cnt[] = {"requests", "errors", "parse_fail", "schema_fail", "no_tool_call"};
            fputs("</td>", f);
            for (int z = 0; z < 5; z++) fprintf(f, "<td>%lld</td>", (long long)json_integer_value(json_object_get(q, cnt[z])));
            const json_t *b = json_object_get(q, "breakage_rate");
            if (json_is_number(b)) fprintf(f, "<td>%.0f%%</td><td>", 100 * json_number_value(b));
            else fputs("<td>-</td><td>", f);
            esc(f, json_string_value(json_object_get(q, "first_error")));
            fputs("</td></tr>\n", f);
        }
    }
    fputs("</table>\n", f);
}

int bench_html_write(json_t *const *r, int n, FILE *f) {
    fputs("<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\"><title>lair bench serve レポート</title>\n"
          "<style>body{font-family:sans-serif,'Noto Sans CJK JP','Hiragino Sans','Yu Gothic',Meiryo;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:1em 0}"
          "td,th{border:1px solid #bbb;padding:2px 6px;font-size:13px}svg{border:1px solid #eee;margin:.5em}"
          ".k{display:inline-block;width:12px;height:12px;margin-right:4px}</style></head><body>\n"
          "<h1>lair bench serve レポート（サービング性能）</h1>\n<p>",
          f);
    for (int i = 0; i < n; i++) {
        char label[512];
        bench_label(r[i], label, sizeof label);
        fprintf(f, "<span class=\"k\" style=\"background:%s\"></span>", colours[i % 6]);
        esc(f, label);
        fputs("<br>\n", f);
    }
    fputs("</p>\n<h2>スループット / throughput</h2>\n", f);
    line_chart(f, r, n, "aggregate tok/s vs concurrency", NULL, "aggregate_tok_s");
    line_chart(f, r, n, "per-stream decode tok/s (p50, short prompts)", "short", "stream_tok_s_p50");
    fputs("<h2>レイテンシ分布 / latency distributions</h2>\n<p>filled: short prompts, hollow: long prompts</p>\n", f);
    strip_chart(f, r, n, "time to first token (s)", "ttft_s");
    strip_chart(f, r, n, "end-to-end latency (s)", "e2e_s");
    for (int i = 0; i < n; i++) {
        char label[512];
        bench_label(r[i], label, sizeof label);
        const json_t *s = json_object_get(r[i], "server"), *m = json_object_get(r[i], "machine");
        fputs("<h2>", f);
        esc(f, label);
        fputs("</h2>\n<p>runtime: ", f);
        esc(f, json_string_value(json_object_get(s, "runtime")));
        fputs(" ", f);
        esc(f, json_string_value(json_object_get(s, "version")));
        fputs("; digest: ", f);
        esc(f, json_string_value(json_object_get(s, "model_digest")) ? json_string_value(json_object_get(s, "model_digest"))
                                                                      : "unknown");
        fputs("; CPU: ", f);
        esc(f, json_string_value(json_object_get(m, "cpu")));
        fprintf(f, ", %lld cores; ", (long long)json_integer_value(json_object_get(m, "cores")));
        esc(f, json_string_value(json_object_get(m, "os")));
        const json_t *rss = json_object_get(r[i], "server_peak_rss_bytes");
        if (json_is_integer(rss)) fprintf(f, "; server peak RSS %.1f MiB", (double)json_integer_value(rss) / (1 << 20));
        char *cj = json_dumps(json_object_get(r[i], "conditions"), JSON_COMPACT);
        fputs("<br>conditions: <code>", f);
        esc(f, cj);
        fputs("</code></p>\n", f);
        free(cj);
        table(f, r[i]);
    }
    fputs("</body></html>\n", f);
    return 0;
}
