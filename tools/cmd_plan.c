/* `lair plan`: will a model fit on a machine, and how fast can decode be.
 * Model: a GGUF file (exact tensor bytes, weights not loaded), a preset plus
 * a format, or a parameter count plus bits per weight.  Machine: the catalog
 * (data/machines.json), `this` (measured), or --mem/--bandwidth. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <utf8proc.h>

#include "cli.h"
#include "core/alloc.h"
#include "core/membw.h"
#include "core/platform.h"
#include "data_files.h"
#include "gguf/gguf.h"
#include "kernels/kernels.h"
#include "plan/plan.h"
#include "tensor/format.h"

static bool opt_json, opt_tables, opt_compare;
static const char *opt_preset, *opt_type, *opt_machine, *opt_catalog, *opt_kv = "f16";
static double opt_params_b = -1, opt_bpw = -1, opt_mem = -1, opt_bw = -1, opt_tflops = -1;
static int opt_ctx = 4096, opt_seq = 1, opt_batch = 512, opt_threads = 0;

static const cli_opt plan_opts[] = {
    {"preset", 0, CLI_STR, &opt_preset, "NAME", "architecture preset (as lair gen)"},
    {"type", 0, CLI_STR, &opt_type, "FMT", "format or recipe with --preset (q4_k_m, q8_0, f16...)"},
    {"params", 0, CLI_FLOAT, &opt_params_b, "B", "parameter count in billions (with --bpw)"},
    {"bpw", 0, CLI_FLOAT, &opt_bpw, "BITS", "bits per weight (with --params)"},
    {"ctx", 'c', CLI_INT, &opt_ctx, "N", "context tokens per sequence (default 4096)"},
    {"kv", 0, CLI_STR, &opt_kv, "TYPE", "KV cache type: f32, f16, q8_0, q4_0 (default f16)"},
    {"parallel", 0, CLI_INT, &opt_seq, "N", "parallel sequences (default 1)"},
    {"batch", 0, CLI_INT, &opt_batch, "N", "batch size for compute buffers (default 512)"},
    {"threads", 't', CLI_INT, &opt_threads, "N", "threads for compute buffers (default: all cores)"},
    {"machine", 'm', CLI_STR, &opt_machine, "NAME", "catalog machine, or 'this' (measured here)"},
    {"mem", 0, CLI_FLOAT, &opt_mem, "GIB", "memory of the machine in GiB"},
    {"bandwidth", 0, CLI_FLOAT, &opt_bw, "GB/S", "memory bandwidth in GB/s"},
    {"tflops", 0, CLI_FLOAT, &opt_tflops, "T", "compute peak in 10^12 FLOP/s (for the prefill estimate)"},
    {"catalog", 0, CLI_STR, &opt_catalog, "FILE", "machine catalog (default: the built-in data/machines.json)"},
    {"compare", 0, CLI_FLAG, &opt_compare, NULL, "rank every catalog machine for this model"},
    {"tables", 0, CLI_FLAG, &opt_tables, NULL, "print the seed's reference tables from the formulas"},
    {"json", 0, CLI_FLAG, &opt_json, NULL, "machine-readable output"},
    {0},
};

static int run_plan(int argc, char **argv);
const cli_cmd cmd_plan = {"plan", "[FILE | --preset P --type T | --params B --bpw BITS] [--machine NAME|this] [--json]",
                          "Estimate memory (weights, KV, buffers), fit, largest context and decode tok/s bound.",
                          run_plan, plan_opts};

/* ---- the seed's tables ---------------------------------------------------- */

static void print_tables(void) {
    static const double sizes[] = {0.5, 1.5, 3, 7, 8, 14, 27, 32, 34, 70};
    static const double bits[] = {4, 4.5, 8, 16};
    if (opt_json) {
        json_t *o = json_object(), *w = json_array(), *k = json_array();
        for (int i = 0; i < 10; i++) {
            json_t *r = json_pack("{s:f}", "params_b", sizes[i]);
            json_t *v = json_array();
            for (int j = 0; j < 4; j++) json_array_append_new(v, json_real(round(lair_plan_seed_weights_gib(sizes[i] * 1e9, bits[j]) * 10) / 10));
            json_object_set_new(r, "gib_4_4.5_8_16", v);
            json_array_append_new(w, r);
        }
        static const int ctxs[] = {2048, 4096, 8192, 16384, 32768, 131072};
        for (int i = 0; i < 6; i++)
            json_array_append_new(k, json_pack("{s:i,s:f,s:f,s:f}", "ctx", ctxs[i], "fp16_gib", lair_plan_seed_kv_gib(32, 8, 128, ctxs[i], 2),
                                               "int8_gib", lair_plan_seed_kv_gib(32, 8, 128, ctxs[i], 1), "int4_gib", lair_plan_seed_kv_gib(32, 8, 128, ctxs[i], 0.5)));
        json_object_set_new(o, "weights", w);
        json_object_set_new(o, "kv", k);
        json_dumpf(o, stdout, JSON_INDENT(1));
        putchar('\n');
        json_decref(o);
        return;
    }
    printf("Weights (params x bits / 8, +10%% overhead)\n");
    printf("| %-6s | %-9s | %-11s | %-9s | %-9s |\n", "Model", "4bit(4b)", "EXL2 4.5bpw", "INT8(8b)", "FP16(16b)");
    for (int i = 0; i < 10; i++) {
        char name[16];
        snprintf(name, sizeof name, "%gB", sizes[i]);
        printf("| %-6s |", name);
        for (int j = 0; j < 4; j++) {
            char v[32];
            snprintf(v, sizeof v, "%.1f GiB", lair_plan_seed_weights_gib(sizes[i] * 1e9, bits[j]));
            printf(" %-*s |", j == 1 ? 11 : 9, v);
        }
        putchar('\n');
    }
    printf("\nKV cache (32 layers, 8 KV heads, head size 128; K and V)\n");
    printf("| %-8s | %-9s | %-9s | %-9s |\n", "Context", "FP16/BF16", "FP8/INT8", "INT4");
    static const int ctxs[] = {2048, 4096, 8192, 16384, 32768, 131072};
    for (int i = 0; i < 6; i++) {
        char c[16];
        snprintf(c, sizeof c, "%d,%03d", ctxs[i] / 1000, ctxs[i] % 1000);
        printf("| %8s |", c);
        /* %.2f rounds the exact binary value half-to-even: 0.125 -> 0.12, as the seed prints */
        static const double bpe[] = {2, 1, 0.5};
        for (int j = 0; j < 3; j++) {
            char v[32];
            snprintf(v, sizeof v, "%.2f GiB", lair_plan_seed_kv_gib(32, 8, 128, ctxs[i], bpe[j]));
            printf(" %-9s |", v);
        }
        putchar('\n');
    }
}

/* ---- the model ------------------------------------------------------------ */

static bool meta_i64(const gguf_file *f, const char *arch, const char *key, int64_t *out) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    return gguf_find_kv(f, k) && gguf_get_i64(f, k, out, NULL) == LAIR_OK;
}

static int model_from_file(const char *path, lair_plan_input *in, char *desc, size_t dn) {
    lair_err err = {0};
    gguf_bundle *b = NULL;
    if (gguf_bundle_open(path, &b, &err) != LAIR_OK) return cli_error("plan", "%s", err.msg);
    const gguf_file *f = b->files[0];
    gguf_str a = {0};
    char arch[64] = "";
    if (gguf_get_str(f, "general.architecture", &a, &err) == LAIR_OK && a.len < sizeof arch) memcpy(arch, a.ptr, a.len), arch[a.len] = 0;
    lair_plan_shape *s = &in->shape;
    bool ok = arch[0] && meta_i64(f, arch, "block_count", &s->n_layer) && meta_i64(f, arch, "embedding_length", &s->n_embd) &&
              meta_i64(f, arch, "attention.head_count", &s->n_head) && meta_i64(f, arch, "feed_forward_length", &s->n_ff);
    if (ok && !meta_i64(f, arch, "attention.head_count_kv", &s->n_head_kv)) s->n_head_kv = s->n_head;
    if (ok && s->n_head > 0 && !meta_i64(f, arch, "attention.key_length", &s->head_dim)) s->head_dim = s->n_embd / s->n_head;
    if (ok && !meta_i64(f, arch, "rope.dimension_count", &s->n_rot)) s->n_rot = s->head_dim;
    if (ok && !meta_i64(f, arch, "expert_count", &s->n_expert)) s->n_expert = 0;
    if (ok && !meta_i64(f, arch, "vocab_size", &s->n_vocab)) {
        const gguf_kv *t = gguf_find_kv(f, "tokenizer.ggml.tokens");
        s->n_vocab = t ? (int64_t)t->arr_n : 0;
    }
    if (!ok || s->n_layer < 1 || s->n_head < 1 || s->n_head_kv < 1 || s->head_dim < 1) {
        gguf_bundle_free(b);
        return cli_error("plan", "%s: missing or invalid model shape metadata (architecture, block_count, head counts)", path);
    }
    for (uint64_t i = 0; i < b->n_tensors; i++) {
        in->weight_bytes += b->tensors[i]->nbytes;
        uint64_t n = 1;
        for (int d = 0; d < GGUF_MAX_DIMS; d++) n *= (uint64_t)b->tensors[i]->ne[d];
        in->n_params += n;
    }
    snprintf(desc, dn, "%s (%s)", path, arch);
    gguf_bundle_free(b);
    return 0;
}

static int model_from_args(const char *file, lair_plan_input *in, char *desc, size_t dn) {
    if (file) return model_from_file(file, in, desc, dn);
    if (opt_preset) {
        const lair_preset *p = lair_preset_find(opt_preset);
        if (!p) return cli_error("plan", "unknown preset '%s' (see lair gen --help)", opt_preset);
        const lair_recipe *r = lair_recipe_find(opt_type ? opt_type : "q4_k_m");
        if (!r) return cli_error("plan", "--type: unknown format or recipe '%s'", opt_type);
        lair_err err = {0};
        in->shape = lair_plan_shape_of_preset(p);
        if (lair_plan_preset_weights(p, r, &in->weight_bytes, &in->n_params, &err) != LAIR_OK) return cli_error("plan", "%s", err.msg);
        snprintf(desc, dn, "preset %s, %s", p->name, r->name);
        return 0;
    }
    if (opt_params_b != -1 || opt_bpw != -1) {
        if (!(opt_params_b > 0 && opt_params_b < 1e5)) return cli_error("plan", "--params must be a count of billions above 0");
        if (!(opt_bpw > 0 && opt_bpw <= 32)) return cli_error("plan", "--bpw must be bits per weight in (0, 32]");
        /* no shape: assume a Llama-3-8B-like attention scaled by layers (KV uses 32x8x128 per 8B) */
        in->n_params = (uint64_t)(opt_params_b * 1e9);
        in->weight_bytes = (uint64_t)(opt_params_b * 1e9 * opt_bpw / 8.0);
        lair_plan_shape s = {128256, 4096, 32, 32, 8, 128, 14336, 128, 0};
        in->shape = s;
        snprintf(desc, dn, "%gB params at %g bpw (KV shape of Llama-3-8B)", opt_params_b, opt_bpw);
        return 0;
    }
    return cli_error("plan", "give a GGUF file, --preset with --type, or --params with --bpw");
}

/* ---- machines ------------------------------------------------------------- */

static json_t *load_catalog(void) {
    json_error_t je;
    json_t *c;
    if (opt_catalog) {
        c = json_load_file(opt_catalog, 0, &je);
    } else {
        size_t len = 0;
        const char *d = data_file("data/machines.json", &len);
        c = d ? json_loadb(d, len, 0, &je) : NULL;
        if (!d) snprintf(je.text, sizeof je.text, "not built in");
    }
    if (!c) {
        cli_error("plan", "catalog %s: %s (line %d)", opt_catalog ? opt_catalog : "data/machines.json", je.text, je.line);
        return NULL;
    }
    if (!json_is_array(json_object_get(c, "machines"))) {
        cli_error("plan", "catalog %s: no \"machines\" array", opt_catalog ? opt_catalog : "data/machines.json");
        json_decref(c);
        return NULL;
    }
    return c;
}

static lair_plan_machine machine_of(json_t *e) {
    lair_plan_machine m = {json_string_value(json_object_get(e, "label")), json_number_value(json_object_get(e, "mem_gib")),
                           json_number_value(json_object_get(e, "bandwidth_gbs")), json_number_value(json_object_get(e, "compute_tflops")),
                           json_number_value(json_object_get(e, "power_w")), json_number_value(json_object_get(e, "price_yen")),
                           json_string_value(json_object_get(e, "kind"))};
    if (!m.name) m.name = json_string_value(json_object_get(e, "name"));
    return m;
}

static char this_isa[32];
static int measure_this(lair_plan_machine *m) {
    memset(m, 0, sizeof *m);
    m->name = "this machine";
    m->mem_gib = (double)lair_mem_total() / LAIR_GIB;
    /* 256 MiB: well past the last-level cache, small enough to be quick */
    m->bandwidth_gbs = lair_measure_read_bandwidth(256u << 20, lair_cpu_count(), 3) / 1e9;
    m->kind = "cpu";
    snprintf(this_isa, sizeof this_isa, "%s", lair_kernels_get()->name);
    if (!(m->mem_gib > 0) || !(m->bandwidth_gbs > 0)) return cli_error("plan", "could not measure this machine's memory or bandwidth");
    return 0;
}

/* Pads to `w` terminal columns by display width (Japanese counts 2). */
static void print_padded(const char *s, int w) {
    int cols = 0;
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    utf8proc_int32_t c;
    utf8proc_ssize_t n;
    while (*p && (n = utf8proc_iterate(p, -1, &c)) > 0) {
        int cw = utf8proc_charwidth(c);
        cols += cw > 0 ? cw : 0;
        p += n;
    }
    fputs(s, stdout);
    for (; cols < w; cols++) putchar(' ');
}

static int compare(const lair_plan_input *in, const char *desc) {
    json_t *c = load_catalog();
    if (!c) return 1;
    json_t *arr = json_object_get(c, "machines"), *out = json_array();
    size_t n = json_array_size(arr);
    if (!opt_json) {
        printf("Model: %s, weights %.2f GiB, context %d x %d, KV %s\n", desc, (double)in->weight_bytes / LAIR_GIB, opt_ctx, opt_seq, opt_kv);
        print_padded("Machine", 30);
        printf(" %-9s %4s %9s %10s %11s %9s\n", "Tier", "Fits", "Margin", "tok/s max", "tok/s/10k¥", "tok/s/W");
    }
    /* ranked by tok/s bound among those that fit, then the rest */
    size_t *order = lair_calloc(n ? n : 1, sizeof *order);
    double *tps = lair_calloc(n ? n : 1, sizeof *tps);
    lair_plan_result *res = lair_calloc(n ? n : 1, sizeof *res);
    if (!order || !tps || !res) { lair_free(order); lair_free(tps); lair_free(res); json_decref(c); json_decref(out); return cli_error("plan", "out of memory"); }
    for (size_t i = 0; i < n; i++) {
        lair_plan_machine m = machine_of(json_array_get(arr, i));
        lair_err err = {0};
        order[i] = i;
        if (lair_plan_compute(in, &m, &res[i], &err) != LAIR_OK) { lair_free(order); lair_free(tps); lair_free(res); json_decref(c); json_decref(out); return cli_error("plan", "%s", err.msg); }
        tps[i] = res[i].fits ? res[i].decode_tps_bound : -1.0 / (1.0 + (double)i);
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && tps[order[j]] > tps[order[j - 1]]; j--) { size_t t = order[j]; order[j] = order[j - 1]; order[j - 1] = t; }
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        json_t *e = json_array_get(arr, i);
        lair_plan_machine m = machine_of(e);
        lair_plan_result *r = &res[i];
        double per10k = m.price_yen > 0 ? r->decode_tps_bound / (m.price_yen / 10000) : 0, perw = m.power_w > 0 ? r->decode_tps_bound / m.power_w : 0;
        const char *tier = json_is_true(json_object_get(e, "tier")) ? json_string_value(json_object_get(e, "name")) : lair_plan_tier(m.kind, m.mem_gib);
        if (opt_json) {
            json_array_append_new(out, json_pack("{s:s,s:s?,s:b,s:f,s:f,s:f,s:f}", "machine", m.name, "tier", tier, "fits", r->fits,
                                                 "margin_gib", r->margin_gib, "decode_tps_bound", r->decode_tps_bound,
                                                 "tps_per_10k_yen", per10k, "tps_per_watt", perw));
        } else {
            print_padded(m.name, 30);
            char a[16] = "-", b[16] = "-";
            if (per10k > 0) snprintf(a, sizeof a, "%.2f", per10k);
            if (perw > 0) snprintf(b, sizeof b, "%.3f", perw);
            printf(" %-9s %4s %9.2f %10.1f %11s %9s\n", tier ? tier : "-", r->fits ? "yes" : "no", r->margin_gib, r->decode_tps_bound, a, b);
        }
    }
    if (opt_json) { json_dumpf(out, stdout, JSON_INDENT(1)); putchar('\n'); }
    lair_free(order); lair_free(tps); lair_free(res);
    json_decref(out);
    json_decref(c);
    return 0;
}

static int run_plan(int argc, char **argv) {
    const char *pos[1] = {0};
    int n_pos = 0;
    int rc = cli_parse(&cmd_plan, argc, argv, pos, 1, &n_pos);
    if (rc) return rc == 2 ? 0 : 1;
    if (opt_tables) { print_tables(); return 0; }
    if (opt_ctx < 1 || opt_ctx > (1 << 24)) return cli_error("plan", "--ctx must be 1 to 16777216 tokens");
    if (opt_seq < 1 || opt_seq > 256) return cli_error("plan", "--parallel must be 1 to 256");
    if (opt_batch < 1 || opt_batch > 65536) return cli_error("plan", "--batch must be 1 to 65536");
    if (opt_threads < 0 || opt_threads > 256) return cli_error("plan", "--threads must be 0 (all) to 256");
    if (opt_mem != -1 && !(opt_mem > 0)) return cli_error("plan", "--mem must be GiB above 0");
    if (opt_bw != -1 && !(opt_bw > 0)) return cli_error("plan", "--bandwidth must be GB/s above 0");
    if (opt_tflops != -1 && !(opt_tflops > 0)) return cli_error("plan", "--tflops must be above 0");
    lair_type kv;
    if (!lair_type_from_name(opt_kv, &kv) || (kv != LAIR_TYPE_F32 && kv != LAIR_TYPE_F16 && kv != LAIR_TYPE_Q8_0 && kv != LAIR_TYPE_Q4_0))
        return cli_error("plan", "--kv: '%s' is not a KV type (f32, f16, q8_0, q4_0)", opt_kv);
    lair_plan_input in = {0};
    char desc[600];
    if (model_from_args(pos[0], &in, desc, sizeof desc)) return 1;
    in.n_ctx = opt_ctx; in.n_seq = opt_seq; in.kv_type = kv; in.n_batch = opt_batch;
    in.n_threads = opt_threads ? opt_threads : lair_cpu_count();
    if (opt_compare) return compare(&in, desc);

    lair_plan_machine m = {0};
    json_t *cat = NULL;
    const char *tier = NULL;
    if (opt_machine && strcmp(opt_machine, "this") == 0) {
        if (measure_this(&m)) return 1;
    } else if (opt_machine) {
        if (!(cat = load_catalog())) return 1;
        json_t *arr = json_object_get(cat, "machines"), *e;
        size_t i;
        json_array_foreach(arr, i, e) {
            const char *nm = json_string_value(json_object_get(e, "name"));
            if (nm && strcmp(nm, opt_machine) == 0) {
                m = machine_of(e);
                if (json_is_true(json_object_get(e, "tier"))) tier = nm;
                break;
            }
        }
        if (!m.name) {
            fprintf(stderr, "lair plan: unknown machine '%s'; known: this", opt_machine);
            json_array_foreach(arr, i, e) fprintf(stderr, ", %s", json_string_value(json_object_get(e, "name")));
            fputc('\n', stderr);
            json_decref(cat);
            return 1;
        }
    } else {
        if (opt_mem == -1 || opt_bw == -1) return cli_error("plan", "give --machine NAME, --machine this, or both --mem and --bandwidth");
        m.name = "given";
        m.mem_gib = opt_mem;
        m.bandwidth_gbs = opt_bw;
    }
    if (opt_mem != -1) m.mem_gib = opt_mem;
    if (opt_bw != -1) m.bandwidth_gbs = opt_bw;
    if (opt_tflops != -1) m.compute_tflops = opt_tflops;
    if (!tier) tier = lair_plan_tier(m.kind, m.mem_gib);
    lair_plan_result r;
    lair_err err = {0};
    if (lair_plan_compute(&in, &m, &r, &err) != LAIR_OK) { json_decref(cat); return cli_error("plan", "%s", err.msg); }
    const char *fit_kv = r.fit_kv_type == LAIR_TYPE_COUNT ? NULL : lair_type_name(r.fit_kv_type);
    if (opt_json) {
        json_t *o = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:s}", "model", desc, "n_params", (json_int_t)in.n_params,
                              "weight_bytes", (json_int_t)r.weights, "kv_bytes", (json_int_t)r.kv, "buffer_bytes", (json_int_t)r.buffers,
                              "overhead_bytes", (json_int_t)r.overhead, "total_bytes", (json_int_t)r.total, "ctx", (json_int_t)opt_ctx,
                              "parallel", opt_seq, "kv_type", opt_kv);
        json_object_set_new(o, "machine", json_pack("{s:s,s:f,s:f,s:f,s:s?,s:s?}", "name", m.name, "mem_gib", m.mem_gib,
                                                    "bandwidth_gbs", m.bandwidth_gbs, "compute_tflops", m.compute_tflops, "tier", tier,
                                                    "isa", this_isa[0] ? this_isa : NULL));
        if (this_isa[0]) json_object_set_new(json_object_get(o, "machine"), "cores", json_integer(lair_cpu_count()));
        json_object_set_new(o, "fits", json_boolean(r.fits));
        json_object_set_new(o, "margin_gib", json_real(r.margin_gib));
        json_object_set_new(o, "max_ctx", json_integer(r.max_ctx));
        json_object_set_new(o, "fit_kv_type", fit_kv ? json_string(fit_kv) : json_null());
        json_object_set_new(o, "decode_tps_bound", json_real(r.decode_tps_bound));
        json_object_set_new(o, "prefill_tps_est", json_real(r.prefill_tps_est));
        json_dumpf(o, stdout, JSON_INDENT(1));
        putchar('\n');
        json_decref(o);
    } else {
        printf("Model     %s, %.3f B params\n", desc, (double)in.n_params / 1e9);
        printf("Machine   %s: %.2f GiB, %.1f GB/s%s%s", m.name, m.mem_gib, m.bandwidth_gbs, tier ? ", tier " : "", tier ? tier : "");
        if (this_isa[0]) printf(", %d cores, %s", lair_cpu_count(), this_isa);
        printf("\n\n");
        printf("  weights   %10.2f GiB  (%llu bytes)\n", (double)r.weights / LAIR_GIB, (unsigned long long)r.weights);
        printf("  KV cache  %10.2f GiB  (%d x %d tokens, %s)\n", (double)r.kv / LAIR_GIB, opt_seq, opt_ctx, opt_kv);
        printf("  buffers   %10.2f GiB  (batch %d, %d threads)\n", (double)r.buffers / LAIR_GIB, opt_batch, in.n_threads);
        printf("  overhead  %10.2f GiB\n", (double)r.overhead / LAIR_GIB);
        printf("  total     %10.2f GiB  %s, margin %.2f GiB\n\n", (double)r.total / LAIR_GIB, r.fits ? "FITS" : "DOES NOT FIT", r.margin_gib);
        printf("  largest context with %s KV: %lld tokens per sequence%s\n", opt_kv, (long long)r.max_ctx,
               r.max_ctx == (1 << 24) ? " (lair's limit)" : "");
        printf("  widest KV type that fits at %d: %s\n", opt_ctx, fit_kv ? fit_kv : "none");
        printf("  decode bound: %.1f tok/s (bandwidth / bytes read per token)\n", r.decode_tps_bound);
        if (r.prefill_tps_est > 0) printf("  prefill estimate: %.0f tok/s (50%% of %.1f TFLOPS)\n", r.prefill_tps_est, m.compute_tflops);
    }
    json_decref(cat);
    return 0;
}
