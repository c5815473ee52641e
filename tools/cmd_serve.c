/* lair serve: the OpenAI- and Ollama-compatible HTTP server.
 *
 * Options come from the command line, else from LAIR_* environment
 * variables, else defaults.  -m and --cors-origin may be repeated (the
 * table parser keeps one value, so they are collected here by a pre-scan
 * that walks argv the way cli_parse does). */
#define _POSIX_C_SOURCE 200809L
#define _DARWIN_C_SOURCE 1

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "term.h"
#include "core/alloc.h"
#include "core/platform.h"
#include "server/api.h"
#include "session.h"

#define MAX_SPECS 64

static const char *o_model, *o_models_dir, *o_host, *o_kv_type, *o_api_key, *o_api_key_file, *o_cors,
    *o_template_file;
static int o_port, o_parallel, o_ctx, o_threads, o_queue, o_timeout, o_batch, o_chunk;
static uint64_t o_max_body;
static bool o_insecure, o_no_mem_check;

static const cli_opt serve_opts[] = {
    {"model", 'm', CLI_STR, &o_model, "FILE", "GGUF model, or ALIAS=FILE; repeatable (env LAIR_MODEL)"},
    {"models-dir", 0, CLI_STR, &o_models_dir, "DIR", "serve every .gguf in DIR, loaded on first use (env LAIR_MODELS_DIR)"},
    {"host", 0, CLI_STR, &o_host, "ADDR", "address to listen on (default 127.0.0.1; env LAIR_HOST)"},
    {"port", 0, CLI_INT, &o_port, "N", "port (default 8080, 0: any free one; env LAIR_PORT)"},
    {"parallel", 0, CLI_INT, &o_parallel, "N", "requests generating at once per model (default 4; env LAIR_PARALLEL)"},
    {"ctx", 'c', CLI_INT, &o_ctx, "N", "KV cache tokens per model, shared by all requests (default 4096; env LAIR_CTX)"},
    {"kv-type", 0, CLI_STR, &o_kv_type, "T", "KV cache type: f32, f16 (default), q8_0, q4_0 (env LAIR_KV_TYPE)"},
    {"api-key", 0, CLI_STR, &o_api_key, "KEY", "require 'Authorization: Bearer KEY' (visible in ps: prefer the file or env LAIR_API_KEY)"},
    {"api-key-file", 0, CLI_STR, &o_api_key_file, "FILE", "read the API key from FILE (env LAIR_API_KEY_FILE)"},
    {"cors-origin", 0, CLI_STR, &o_cors, "ORIGIN", "allow browser requests from ORIGIN; repeatable (env LAIR_CORS_ORIGIN, comma-separated)"},
    {"threads", 't', CLI_INT, &o_threads, "N", "threads per model (default: CPU count; env LAIR_THREADS)"},
    {"insecure-no-auth", 0, CLI_FLAG, &o_insecure, NULL, "allow a non-loopback --host without an API key (env LAIR_INSECURE_NO_AUTH=1)"},
    {"queue", 0, CLI_INT, &o_queue, "N", "requests waiting per model before 503 (default 64; env LAIR_QUEUE)"},
    {"max-body", 0, CLI_SIZE, &o_max_body, "SIZE", "largest request body (default 4M; env LAIR_MAX_BODY)"},
    {"timeout", 0, CLI_INT, &o_timeout, "S", "seconds to receive a request's headers; idle connections close after it (default 30; env LAIR_TIMEOUT)"},
    {"batch", 0, CLI_INT, &o_batch, "N", "most tokens per engine step (default 256; env LAIR_BATCH)"},
    {"prefill-chunk", 0, CLI_INT, &o_chunk, "N",
     "most prompt tokens per step while other requests generate: larger gives sooner first tokens, smaller a steadier pace to the streams already running (default 64; env LAIR_PREFILL_CHUNK)"},
    {"chat-template-file", 0, CLI_STR, &o_template_file, "FILE",
     "use this Jinja chat template for every model instead of the file's own (env LAIR_CHAT_TEMPLATE_FILE)"},
    {"no-mem-check", 0, CLI_FLAG, &o_no_mem_check, NULL, "load models even when they look too big for the free memory"},
    {0},
};

static int run_serve(int argc, char **argv);
const cli_cmd cmd_serve = {"serve",
                           "(-m MODEL ... | --models-dir DIR) [--host 127.0.0.1] [--port 8080] [--parallel N] [--ctx N] "
                           "[--api-key K | --api-key-file F] [--cors-origin O ...] [-t N]",
                           "Serve models over HTTP with OpenAI- and Ollama-compatible APIs.", run_serve, serve_opts};

static const char *model_specs[MAX_SPECS], *cors_specs[HTTP_MAX_CORS];
static int n_model_specs, n_cors_specs;
static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

/* Collects every -m/--model and --cors-origin value, skipping other options'
 * values exactly as cli_parse does. */
static int prescan(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) break;
        if (a[0] != '-' || a[1] == 0) continue;
        const cli_opt *o = NULL;
        const char *val = NULL;
        if (a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            for (const cli_opt *p = serve_opts; p->name; p++)
                if (strlen(p->name) == nl && strncmp(p->name, a + 2, nl) == 0) o = p;
            if (eq) val = eq + 1;
        } else if (a[2] == 0) {
            for (const cli_opt *p = serve_opts; p->name; p++)
                if (p->short_name == a[1]) o = p;
        }
        if (!o || o->kind == CLI_FLAG) continue;
        if (!val) {
            if (i + 1 >= argc) continue; /* cli_parse reports it */
            val = argv[++i];
        }
        if (o->dst == &o_model) {
            if (n_model_specs == MAX_SPECS) return cli_error("serve", "at most %d -m models", MAX_SPECS);
            model_specs[n_model_specs++] = val;
        } else if (o->dst == &o_cors) {
            if (n_cors_specs == HTTP_MAX_CORS) return cli_error("serve", "at most %d --cors-origin", HTTP_MAX_CORS);
            cors_specs[n_cors_specs++] = val;
        }
    }
    return 0;
}

static int env_int(const char *name, int *dst) {
    const char *v = getenv(name);
    if (!v || !*v) return 0;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || x < -2147483647L || x > 2147483647L)
        return cli_error("serve", "%s must be an integer, got '%s'", name, v);
    *dst = (int)x;
    return 0;
}

static int env_defaults(void) {
    o_host = "127.0.0.1";
    o_port = 8080;
    o_parallel = 4;
    o_ctx = 4096;
    o_kv_type = "f16";
    o_queue = 64;
    o_timeout = HTTP_DEFAULT_TIMEOUT_S;
    o_batch = 256;
    o_chunk = 64;
    o_max_body = HTTP_DEFAULT_MAX_BODY;
    const char *v;
    if ((v = getenv("LAIR_HOST")) && *v) o_host = v;
    if ((v = getenv("LAIR_KV_TYPE")) && *v) o_kv_type = v;
    o_template_file = (v = getenv("LAIR_CHAT_TEMPLATE_FILE")) && *v ? v : NULL;
    o_api_key = o_api_key_file = o_models_dir = o_model = o_cors = NULL; /* env_lists: after the command line */
    o_insecure = o_no_mem_check = false;
    o_threads = 0;
    if ((v = getenv("LAIR_INSECURE_NO_AUTH")) && *v && strcmp(v, "0") != 0) o_insecure = true;
    if ((v = getenv("LAIR_MAX_BODY")) && *v) {
        char *end;
        errno = 0;
        double x = strtod(v, &end);
        double mul = *end == 'k' || *end == 'K' ? 1024.0 : *end == 'm' || *end == 'M' ? 1048576.0
                     : *end == 'g' || *end == 'G' ? 1073741824.0 : 1.0;
        if (mul != 1.0) end++;
        if (errno || *end || !(x > 0 && x * mul < 1e18)) return cli_error("serve", "LAIR_MAX_BODY must be a size such as 4M, got '%s'", v);
        o_max_body = (uint64_t)(x * mul);
    }
    return env_int("LAIR_PORT", &o_port) || env_int("LAIR_PARALLEL", &o_parallel) || env_int("LAIR_CTX", &o_ctx) ||
           env_int("LAIR_THREADS", &o_threads) || env_int("LAIR_QUEUE", &o_queue) ||
           env_int("LAIR_TIMEOUT", &o_timeout) || env_int("LAIR_BATCH", &o_batch) || env_int("LAIR_PREFILL_CHUNK", &o_chunk);
}

/* The settings that come in groups, from the environment only when the
 * command line set none of the group: the models (LAIR_MODEL,
 * LAIR_MODELS_DIR), the key (LAIR_API_KEY, LAIR_API_KEY_FILE) and the CORS
 * origins (LAIR_CORS_ORIGIN, split at commas into a copy). */
static char *env_cors_copy;
static int env_lists(void) {
    const char *v;
    if (!n_model_specs && !o_models_dir) {
        if ((v = getenv("LAIR_MODEL")) && *v) model_specs[n_model_specs++] = v;
        if ((v = getenv("LAIR_MODELS_DIR")) && *v) o_models_dir = v;
    }
    if (!o_api_key && !o_api_key_file) {
        if ((v = getenv("LAIR_API_KEY")) && *v) o_api_key = v;
        if ((v = getenv("LAIR_API_KEY_FILE")) && *v) o_api_key_file = v;
    }
    if (!n_cors_specs && (v = getenv("LAIR_CORS_ORIGIN")) && *v) {
        env_cors_copy = strdup(v);
        if (!env_cors_copy) return cli_error("serve", "out of memory");
        for (char *tok = strtok(env_cors_copy, ","); tok; tok = strtok(NULL, ",")) {
            while (*tok == ' ') tok++;
            if (!*tok) continue;
            if (n_cors_specs == HTTP_MAX_CORS) return cli_error("serve", "at most %d CORS origins", HTTP_MAX_CORS);
            cors_specs[n_cors_specs++] = tok;
        }
    }
    return 0;
}

static char *read_key_file(const char *path) {
    size_t len;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char buf[4096];
    len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    while (len && isspace((unsigned char)buf[len - 1])) buf[--len] = 0;
    char *start = buf;
    while (*start && isspace((unsigned char)*start)) start++;
    return strdup(start);
}

static void log_line(void *ud, const char *line) {
    (void)ud;
    char ts[16];
    time_t t = time(NULL);
    struct tm tm;
    if (localtime_r(&t, &tm)) strftime(ts, sizeof ts, "%H:%M:%S", &tm);
    else ts[0] = 0;
    fprintf(stderr, "lair serve %s %s\n", ts, line);
}

static int add_model(srv_state *st, const char *id, const char *path) {
    for (int i = 0; i < st->n_models; i++)
        if (strcmp(st->models[i]->id, id) == 0)
            return cli_error("serve", "two models are called '%s' (name one with -m ALIAS=FILE)", id);
    if (st->n_models == SRV_MAX_MODELS) return cli_error("serve", "at most %d models", SRV_MAX_MODELS);
    lair_err e = {0};
    srv_model *m;
    if (srv_model_open(id, path, &m, &e) != LAIR_OK) return cli_error("serve", "%s", e.msg);
    st->models[st->n_models++] = m;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every .gguf in dir (first shards of split sets), sorted; unreadable files
 * are reported and skipped. */
static int scan_dir(srv_state *st, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return cli_error("serve", "cannot open --models-dir '%s': %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char id[256];
        if (de->d_name[0] == '.' || !srv_model_id_from_path(de->d_name, id, sizeof id)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **g = realloc(names, cap * sizeof *g);
            if (!g) break;
            names = g;
        }
        if (!(names[n] = strdup(de->d_name))) break;
        n++;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        char id[256], path[4096];
        srv_model_id_from_path(names[i], id, sizeof id);
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        bool dup = false;
        for (int k = 0; k < st->n_models; k++) dup = dup || strcmp(st->models[k]->id, id) == 0;
        lair_err e = {0};
        srv_model *m = NULL;
        if (dup) fprintf(stderr, "lair serve: skipping %s: a model is already called '%s'\n", path, id);
        else if (st->n_models == SRV_MAX_MODELS) fprintf(stderr, "lair serve: skipping %s: too many models\n", path);
        else if (srv_model_open(id, path, &m, &e) != LAIR_OK) fprintf(stderr, "lair serve: skipping %s\n", e.msg);
        else st->models[st->n_models++] = m;
        free(names[i]);
    }
    free(names);
    if (!st->n_models) return cli_error("serve", "no usable .gguf model in '%s'", dir);
    return 0;
}

static int load_specs(srv_state *st) {
    for (int i = 0; i < n_model_specs; i++) {
        const char *spec = model_specs[i], *eq = strchr(spec, '=');
        char id[256];
        const char *path = spec;
        if (eq && eq > spec && !memchr(spec, '/', (size_t)(eq - spec))) { /* ALIAS=FILE */
            if ((size_t)(eq - spec) >= sizeof id) return cli_error("serve", "alias too long in '%s'", spec);
            memcpy(id, spec, (size_t)(eq - spec));
            id[eq - spec] = 0;
            path = eq + 1;
        } else if (!srv_model_id_from_path(spec, id, sizeof id)) {
            const char *base = strrchr(spec, '/');
            snprintf(id, sizeof id, "%s", base ? base + 1 : spec);
        }
        if (add_model(st, id, path)) return 1;
    }
    return 0;
}

static void print_banner(const srv_state *st, const char *host, int port, const char *key) {
    const srv_model *m = st->models[0];
    char h[300];
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0) snprintf(h, sizeof h, "127.0.0.1");
    else if (strchr(host, ':')) snprintf(h, sizeof h, "[%s]", host);
    else snprintf(h, sizeof h, "%s", host);
    printf("lair serve: listening on http://%s:%d (%d model%s; %d slots and %d KV tokens per model)\n", h, port,
           st->n_models, st->n_models == 1 ? "" : "s", st->load.sched.n_parallel, st->load.sched.n_ctx);
    printf("  OpenAI API at http://%s:%d/v1, Ollama API at http://%s:%d/api, metrics at /metrics\n", h, port, h,
           port);
    printf("  try: curl http://%s:%d/v1/chat/completions -H 'Content-Type: application/json'%s \\\n"
           "         -d '{\"model\": \"%s\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello!\"}]}'\n",
           h, port, key ? " -H \"Authorization: Bearer $LAIR_API_KEY\"" : "", m->id);
    printf("  Ctrl-C stops the server.\n");
    fflush(stdout);
}

static void free_state(srv_state *st) {
    for (int i = 0; i < st->n_models; i++) srv_model_free(st->models[i]);
    free(st->models);
    st->models = NULL;
    st->n_models = 0;
}

static int check_opts(srv_state *st) {
    if (!n_model_specs && !o_models_dir) return cli_error("serve", "give -m MODEL or --models-dir DIR (see lair serve --help)");
    if (o_port < 0 || o_port > 65535) return cli_error("serve", "--port must be 0 to 65535, got %d", o_port);
    if (o_parallel < 1 || o_parallel > SRV_MAX_PARALLEL)
        return cli_error("serve", "--parallel must be 1 to %d, got %d", SRV_MAX_PARALLEL, o_parallel);
    if (o_ctx < 2 * SRV_KV_BLOCK) return cli_error("serve", "--ctx must be at least %d, got %d", 2 * SRV_KV_BLOCK, o_ctx);
    if (o_threads < 0) return cli_error("serve", "--threads must be positive, got %d", o_threads);
    if (o_queue < 0) return cli_error("serve", "--queue must be 0 or more, got %d", o_queue);
    if (o_batch < 1) return cli_error("serve", "--batch must be positive, got %d", o_batch);
    if (o_chunk < 1) return cli_error("serve", "--prefill-chunk must be positive, got %d", o_chunk);
    if (o_timeout < 1 || o_timeout > 3600) return cli_error("serve", "--timeout must be 1 to 3600 seconds, got %d", o_timeout);
    if (o_max_body < 1024 || o_max_body > (1ull << 30))
        return cli_error("serve", "--max-body must be between 1K and 1G, got %llu bytes", (unsigned long long)o_max_body);
    srv_sched_params sp = srv_sched_default_params();
    if (!session_kv_type(o_kv_type, &sp.kv_type))
        return cli_error("serve", "--kv-type must be f32, f16, q8_0 or q4_0, got '%s'", o_kv_type);
    sp.n_ctx = o_ctx;
    sp.n_parallel = o_parallel;
    sp.n_threads = o_threads;
    sp.queue_max = o_queue;
    sp.n_batch = o_batch;
    sp.n_chunk = o_chunk;
    st->load.sched = sp;
    st->load.skip_mem_check = o_no_mem_check;
    if (o_template_file) { /* read and checked now: a broken template is a start-up error, not a 500 later */
        size_t len = 0;
        char *src = term_read_file(o_template_file, &len);
        if (!src) return cli_error("serve", "cannot read --chat-template-file '%s': %s", o_template_file, strerror(errno));
        lair_jinja *t = NULL;
        lair_err e = {0};
        if (lair_jinja_parse(src, len, &t, &e) != LAIR_OK) {
            free(src);
            return cli_error("serve", "--chat-template-file '%s': %s", o_template_file, e.msg);
        }
        lair_jinja_free(t);
        st->load.template_src = src;
    }
    return 0;
}

static int run_serve(int argc, char **argv) {
    n_model_specs = n_cors_specs = 0;
    if (env_defaults()) return 1;
    if (prescan(argc, argv)) return 1;
    int n_pos;
    const char *pos[1];
    int rc = cli_parse(&cmd_serve, argc, argv, pos, 0, &n_pos);
    if (rc) return rc == 2 ? 0 : 1;
    if (env_lists()) return 1;
    srv_state st = {0};
    st.log = log_line;
    if (check_opts(&st)) return 1;

    char *key = NULL;
    if (o_api_key && o_api_key_file) return cli_error("serve", "give --api-key or --api-key-file, not both");
    if (o_api_key_file) {
        key = read_key_file(o_api_key_file);
        if (!key) return cli_error("serve", "cannot read --api-key-file '%s': %s", o_api_key_file, strerror(errno));
        if (!*key) {
            free(key);
            return cli_error("serve", "--api-key-file '%s' is empty", o_api_key_file);
        }
    } else if (o_api_key) {
        if (!*o_api_key) return cli_error("serve", "--api-key is empty");
        key = strdup(o_api_key);
    }

    /* Signals go to this thread only: block them before any thread starts
     * (threads inherit the mask) and wait for them with sigsuspend. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    pthread_sigmask(SIG_BLOCK, &block, &old);

    rc = 1;
    st.models = calloc(SRV_MAX_MODELS, sizeof *st.models);
    if (!st.models) {
        cli_error("serve", "out of memory");
        goto out;
    }
    if (load_specs(&st)) goto out;
    int n_preload = st.n_models;
    if (o_models_dir && scan_dir(&st, o_models_dir)) goto out;
    for (int i = 0; i < n_preload; i++) {
        srv_model *m = st.models[i];
        lair_err e = {0};
        if (srv_model_acquire(m, &st.load, NULL, &e) != LAIR_OK) {
            cli_error("serve", "%s", e.msg);
            goto out;
        }
        srv_mem_need need;
        char msg[LAIR_ERR_MSG_MAX];
        srv_model_mem_need(m, m->model, &st.load, &need);
        srv_mem_need_text(m, &need, &st.load, msg, sizeof msg);
        fprintf(stderr, "lair serve: %s; loaded in %.2f s\n", msg, m->load_s);
        if (m->tmpl_fallback) fprintf(stderr, "lair serve: model %s has no chat template: using ChatML\n", m->id);
    }
    for (int i = n_preload; i < st.n_models; i++)
        fprintf(stderr, "lair serve: model %s (%s, %s) will load on first use\n", st.models[i]->id,
                st.models[i]->param_size, st.models[i]->quant);

    http_config hc = {0};
    hc.host = o_host;
    hc.port = o_port;
    hc.api_key = key;
    hc.insecure_no_auth = o_insecure;
    hc.cors = cors_specs;
    hc.n_cors = n_cors_specs;
    hc.max_body = (size_t)o_max_body;
    hc.timeout_s = o_timeout;
    hc.routes = srv_routes;
    hc.n_routes = srv_n_routes;
    hc.ud = &st;
    hc.log = log_line;
    lair_err e = {0};
    if (http_server_start(&hc, &st.http, &e) != LAIR_OK) {
        cli_error("serve", "%s", e.msg);
        goto out;
    }
    if (!http_server_loopback(st.http) && !key)
        fprintf(stderr, "lair serve: WARNING: listening on %s without an API key (--insecure-no-auth): anyone who "
                        "can reach this address can use the models\n", o_host);
    for (int i = 0; i < n_cors_specs; i++)
        if (strcmp(cors_specs[i], "*") == 0)
            fprintf(stderr, "lair serve: warning: --cors-origin '*' lets every web page you visit call this server\n");
    st.started = http_wall_time();
    print_banner(&st, o_host, http_server_port(st.http), key);

    while (!g_stop) sigsuspend(&old);
    fprintf(stderr, "lair serve: shutting down\n");
    http_server_stop(st.http);
    st.http = NULL;
    rc = 0;
out:
    free_state(&st);
    free(key);
    free(env_cors_copy);
    free((char *)st.load.template_src);
    env_cors_copy = NULL;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}
