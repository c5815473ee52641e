/* lair bench report: summary.md and report.html from results.json files
 * written by lair bench serve (one series per endpoint). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench_serve.h"
#include "cli.h"

static const char *r_out = "bench-report";
static const cli_opt report_opts[] = {
    {"out", 0, CLI_STR, &r_out, "DIR", "output directory (default bench-report)"},
    {0},
};
static const cli_cmd report_cmd = {"bench report", "A.json [B.json ...] [--out DIR]",
                                   "Merge lair bench serve results into summary.md and report.html.", NULL, report_opts};

void bench_label(const json_t *r, char *out, size_t n) {
    snprintf(out, n, "%s @ %s", json_string_value(json_object_get(r, "model")) ? json_string_value(json_object_get(r, "model")) : "?",
             json_string_value(json_object_get(r, "endpoint")) ? json_string_value(json_object_get(r, "endpoint")) : "?");
}

static const char *str(const json_t *o, const char *k) {
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "unknown";
}

/* A number of seconds/rates for a table cell; "-" when absent. */
static void cell(FILE *f, const json_t *o, const char *k, int prec) {
    const json_t *v = json_object_get(o, k);
    if (json_is_number(v)) {
        fprintf(f, " %.*f |", prec, json_number_value(v));
    } else {
        fputs(" - |", f);
    }
}

static void md_one(FILE *f, const json_t *r) {
    char label[512];
    bench_label(r, label, sizeof label);
    const json_t *s = json_object_get(r, "server"), *m = json_object_get(r, "machine"), *c = json_object_get(r, "conditions");
    fprintf(f, "## %s\n\n", label);
    fprintf(f, "- started: %s; runtime: %s %s", str(r, "started"), str(s, "runtime"), str(s, "version"));
    if (json_object_get(s, "server_header")) fprintf(f, " (Server: %s)", str(s, "server_header"));
    fprintf(f, "; model digest: %s\n", str(s, "model_digest"));
    fprintf(f, "- client machine: %s, %lld cores, %.1f GiB, %s\n", str(m, "cpu"),
            (long long)json_integer_value(json_object_get(m, "cores")),
            (double)json_integer_value(json_object_get(m, "memory_bytes")) / (1 << 30), str(m, "os"));
    char *cj = json_dumps(c, JSON_COMPACT);
    fprintf(f, "- conditions: `%s`\n", cj ? cj : "?");
    free(cj);
    const json_t *rss = json_object_get(r, "server_peak_rss_bytes");
    if (json_is_integer(rss)) fprintf(f, "- server peak RSS (VmHWM): %.1f MiB\n\n", (double)json_integer_value(rss) / (1 << 20));
    else fprintf(f, "- server peak RSS: not available (%s)\n\n", str(r, "server_peak_rss_note"));
    fputs("| concurrency | prompts | n | TTFT p50 (s) | TTFT p95 (s) | E2E p50 (s) | E2E p95 (s) | tok/s per stream p50 | "
          "aggregate tok/s | errors |\n|---|---|---|---|---|---|---|---|---|---|\n",
          f);
    size_t i;
    json_t *lv;
    json_array_foreach(json_object_get(r, "levels"), i, lv) {
        for (int cls = 0; cls < 2; cls++) {
            const json_t *st = json_object_get(lv, cls ? "long" : "short");
            fprintf(f, "| %lld | %s | %lld |", (long long)json_integer_value(json_object_get(lv, "concurrency")),
                    cls ? "long" : "short", (long long)json_integer_value(json_object_get(st, "n")));
            cell(f, st, "ttft_p50_s", 3);
            cell(f, st, "ttft_p95_s", 3);
            cell(f, st, "e2e_p50_s", 3);
            cell(f, st, "e2e_p95_s", 3);
            cell(f, st, "stream_tok_s_p50", 2);
            cell(f, lv, "aggregate_tok_s", 2);
            fprintf(f, " %lld/%lld |\n", (long long)json_integer_value(json_object_get(lv, "errors")),
                    (long long)json_integer_value(json_object_get(lv, "requests")));
        }
    }
    fputs("\n| concurrency | set | mode | requests | errors | parse fail | schema fail | no tool call | breakage rate | "
          "first error |\n|---|---|---|---|---|---|---|---|---|---|\n",
          f);
    json_array_foreach(json_object_get(r, "levels"), i, lv) {
        size_t k;
        json_t *q;
        json_array_foreach(json_object_get(lv, "quality"), k, q) {
            fprintf(f, "| %lld | %s | %s | %lld | %lld | %lld | %lld | %lld |",
                    (long long)json_integer_value(json_object_get(lv, "concurrency")), str(q, "set"), str(q, "mode"),
                    (long long)json_integer_value(json_object_get(q, "requests")),
                    (long long)json_integer_value(json_object_get(q, "errors")),
                    (long long)json_integer_value(json_object_get(q, "parse_fail")),
                    (long long)json_integer_value(json_object_get(q, "schema_fail")),
                    (long long)json_integer_value(json_object_get(q, "no_tool_call")));
            const json_t *b = json_object_get(q, "breakage_rate");
            if (json_is_number(b)) fprintf(f, " %.0f%% |", 100 * json_number_value(b));
            else fputs(" - |", f);
            const char *e = json_string_value(json_object_get(q, "first_error"));
            fputc(' ', f);
            for (; e && *e; e++) fputs(*e == '|' ? "\\|" : *e == '\n' ? " " : (char[2]){*e, 0}, f);
            fputs(" |\n", f);
        }
    }
    fputs("\n", f);
}

int bench_report_write(json_t *const *results, int n, const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/summary.md", dir);
    FILE *f = fopen(path, "w");
    if (!f) return cli_error("bench", "cannot write %s: %s", path, strerror(errno));
    fputs("# lair bench serve\n\nTTFT: time to the first streamed content; E2E: to the end of the stream; tok/s per stream: "
          "(completion tokens - 1) / (E2E - TTFT); aggregate: all completion tokens / wall time of the level. Breakage: "
          "replies that do not parse as JSON, break the schema, or (tools mode) carry no tool call, over the answered "
          "requests.\n\n",
          f);
    for (int i = 0; i < n; i++) md_one(f, results[i]);
    if (fclose(f) != 0) return cli_error("bench", "cannot write %s: %s", path, strerror(errno));
    snprintf(path, sizeof path, "%s/report.html", dir);
    f = fopen(path, "w");
    if (!f) return cli_error("bench", "cannot write %s: %s", path, strerror(errno));
    int rc = bench_html_write(results, n, f);
    if (fclose(f) != 0) return cli_error("bench", "cannot write %s: %s", path, strerror(errno));
    return rc;
}

int bench_report_main(int argc, char **argv) {
    const char *pos[32];
    int n_pos, r = cli_parse(&report_cmd, argc, argv, pos, 32, &n_pos);
    if (r) return r == 2 ? 0 : 1;
    if (n_pos < 1) return cli_error("bench report", "give one or more results.json files");
    json_t *res[32];
    int rc = 1, n = 0;
    for (; n < n_pos; n++) {
        json_error_t e;
        res[n] = json_load_file(pos[n], 0, &e);
        if (!res[n]) {
            cli_error("bench report", "%s: %s (line %d)", pos[n], e.text, e.line);
            goto out;
        }
        if (!json_is_array(json_object_get(res[n], "levels"))) {
            json_decref(res[n]);
            cli_error("bench report", "%s: not a lair bench serve results.json (no \"levels\")", pos[n]);
            goto out;
        }
    }
    if (mkdir(r_out, 0777) != 0 && errno != EEXIST) {
        cli_error("bench report", "cannot create %s: %s", r_out, strerror(errno));
        goto out;
    }
    rc = bench_report_write(res, n, r_out);
    if (!rc) fprintf(stderr, "lair bench report: wrote %s/summary.md and %s/report.html\n", r_out, r_out);
out:
    for (int i = 0; i < n; i++) json_decref(res[i]);
    return rc;
}
