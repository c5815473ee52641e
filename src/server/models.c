/* The model registry: facts from each file's header at start-up (cheap: only
 * the header is read), the weights, template and scheduler on first use. */
#define _POSIX_C_SOURCE 200809L
#define _DARWIN_C_SOURCE 1

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/platform.h"
#include "core/threads.h"
#include "gguf/gguf.h"
#include "model/recipe.h"
#include "server/api.h"
#include "server/sha256.h"
#include "text/chat.h"

#define DIGEST_BYTES (1u << 20) /* the digest covers the first MiB and the size */

static const struct {
    int ftype;
    const char *name;
} ftype_names[] = {
    {LAIR_FTYPE_F32, "F32"},       {LAIR_FTYPE_F16, "F16"},       {LAIR_FTYPE_Q4_0, "Q4_0"},
    {LAIR_FTYPE_Q4_1, "Q4_1"},     {LAIR_FTYPE_Q8_0, "Q8_0"},     {LAIR_FTYPE_Q5_0, "Q5_0"},
    {LAIR_FTYPE_Q5_1, "Q5_1"},     {LAIR_FTYPE_Q2_K, "Q2_K"},     {LAIR_FTYPE_Q3_K_S, "Q3_K_S"},
    {LAIR_FTYPE_Q3_K_M, "Q3_K_M"}, {LAIR_FTYPE_Q3_K_L, "Q3_K_L"}, {LAIR_FTYPE_Q4_K_S, "Q4_K_S"},
    {LAIR_FTYPE_Q4_K_M, "Q4_K_M"}, {LAIR_FTYPE_Q5_K_S, "Q5_K_S"}, {LAIR_FTYPE_Q5_K_M, "Q5_K_M"},
    {LAIR_FTYPE_Q6_K, "Q6_K"},     {LAIR_FTYPE_IQ4_NL, "IQ4_NL"}, {LAIR_FTYPE_IQ4_XS, "IQ4_XS"},
    {LAIR_FTYPE_BF16, "BF16"},
};

bool srv_model_id_from_path(const char *path, char *id, size_t cap) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n <= 5 || strcmp(base + n - 5, ".gguf") != 0) return false;
    n -= 5;
    /* NAME-00001-of-00003: the set is listed once, by its first shard */
    static const char pat[] = "-#####-of-#####";
    size_t pl = sizeof pat - 1;
    if (n > pl) {
        bool shard = true;
        for (size_t i = 0; i < pl && shard; i++)
            shard = pat[i] == '#' ? isdigit((unsigned char)base[n - pl + i]) != 0 : base[n - pl + i] == pat[i];
        if (shard) {
            if (strncmp(base + n - pl, "-00001-", 7) != 0) return false;
            n -= pl;
        }
    }
    if (n + 1 > cap || n == 0) return false;
    memcpy(id, base, n);
    id[n] = 0;
    return true;
}

static void human_params(uint64_t n, char *buf, size_t cap) {
    if (n >= 1000000000ull) snprintf(buf, cap, "%.1fB", n / 1e9);
    else if (n >= 1000000ull) snprintf(buf, cap, "%.1fM", n / 1e6);
    else snprintf(buf, cap, "%.1fK", n / 1e3);
}

static lair_status file_digest(const char *path, uint64_t size, char out[65], lair_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return lair_err_set(err, LAIR_ERR_IO, "%s: cannot open", path);
    uint8_t *buf = lair_malloc(DIGEST_BYTES);
    if (!buf) {
        fclose(f);
        return lair_err_set(err, LAIR_ERR_NOMEM, "out of memory");
    }
    size_t n = fread(buf, 1, DIGEST_BYTES, f);
    fclose(f);
    srv_sha256_ctx c;
    srv_sha256_init(&c);
    srv_sha256_update(&c, buf, n);
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)(size >> (8 * i));
    srv_sha256_update(&c, le, 8);
    uint8_t d[32];
    srv_sha256_final(&c, d);
    srv_sha256_hex(d, out);
    lair_free(buf);
    return LAIR_OK;
}

lair_status srv_model_open(const char *id, const char *path, srv_model **out, lair_err *err) {
    *out = NULL;
    gguf_bundle *b;
    lair_status st = gguf_bundle_open(path, &b, err);
    if (st != LAIR_OK) return st;
    if (!b->n_tensors) {
        gguf_bundle_free(b);
        return lair_err_set(err, LAIR_ERR_UNSUPPORTED, "%s: no tensors (a vocabulary-only file?)", path);
    }
    srv_model *m = lair_calloc(1, sizeof *m);
    if (!m || !(m->id = lair_strndup(id, strlen(id))) || !(m->path = lair_strndup(path, strlen(path))) ||
        !(m->mu = lair_mutex_create())) {
        gguf_bundle_free(b);
        srv_model_free(m);
        return lair_err_set(err, LAIR_ERR_NOMEM, "out of memory");
    }
    const gguf_file *f = b->files[0];
    gguf_str s;
    if (gguf_get_str(f, "general.architecture", &s, NULL) == LAIR_OK)
        snprintf(m->arch, sizeof m->arch, "%.*s", (int)(s.len < 31 ? s.len : 31), s.ptr);
    char key[96];
    snprintf(key, sizeof key, "%s.context_length", m->arch);
    uint64_t u;
    if (gguf_get_u64(f, key, &u, NULL) == LAIR_OK) m->n_ctx_train = (int64_t)u;
    snprintf(m->quant, sizeof m->quant, "unknown");
    if (gguf_get_u64(f, "general.file_type", &u, NULL) == LAIR_OK)
        for (size_t i = 0; i < sizeof ftype_names / sizeof ftype_names[0]; i++)
            if ((uint64_t)ftype_names[i].ftype == u) snprintf(m->quant, sizeof m->quant, "%s", ftype_names[i].name);
    for (uint64_t i = 0; i < b->n_tensors; i++) {
        uint64_t n = 1;
        for (int d = 0; d < b->tensors[i]->n_dims; d++) n *= (uint64_t)b->tensors[i]->ne[d];
        m->n_params += n;
    }
    human_params(m->n_params, m->param_size, sizeof m->param_size);
    m->size = gguf_bundle_file_bytes(b);
    gguf_bundle_free(b);
    struct stat sb;
    if (stat(path, &sb) == 0) m->mtime = (double)sb.st_mtime;
    st = file_digest(path, m->size, m->digest, err);
    if (st != LAIR_OK) {
        srv_model_free(m);
        return st;
    }
    *out = m;
    return LAIR_OK;
}

void srv_model_free(srv_model *m) {
    if (!m) return;
    srv_sched_free(m->sched);
    if (m->gvocab) lair_grammar_vocab_free(m->gvocab);
    lair_jinja_free(m->tmpl);
    lair_free(m->tmpl_src);
    lair_model_free(m->model);
    lair_mutex_free(m->mu);
    lair_free(m->id);
    lair_free(m->path);
    lair_free(m);
}

lair_status srv_model_grammar_vocab(srv_model *m, const lair_grammar_vocab **out, lair_err *err) {
    lair_mutex_lock(m->mu);
    lair_status st = LAIR_OK;
    if (!m->gvocab) st = lair_grammar_vocab_create(lair_model_vocab(m->model), &m->gvocab, err);
    *out = m->gvocab;
    lair_mutex_unlock(m->mu);
    return st;
}

bool srv_model_loaded(srv_model *m) {
    lair_mutex_lock(m->mu);
    bool ok = m->sched != NULL;
    lair_mutex_unlock(m->mu);
    return ok;
}

void srv_model_mem_need(const srv_model *m, const lair_model *lm, const srv_load_opts *o, srv_mem_need *n) {
    (void)m;
    memset(n, 0, sizeof *n);
    const srv_sched_params *sp = &o->sched;
    lair_context_params cp = srv_sched_context_params(sp);
    lair_context_bytes b = {0};
    if (lair_context_memory(lm, &cp, &b) == LAIR_OK) {
        n->weights = b.weights;
        n->kv = b.kv;
        n->buffers = b.buffers;
    }
    /* per slot: a sampler (24 bytes per vocabulary entry) and the unread-output bound */
    uint64_t out_max = sp->out_max ? sp->out_max : (1u << 20);
    n->server = SRV_MEM_OVERHEAD + (uint64_t)sp->n_parallel * ((uint64_t)lair_model_n_vocab(lm) * 24 + out_max);
    n->total = n->weights + n->kv + n->buffers + n->server;
    n->available = lair_mem_available();
    n->fits = n->available == 0 || n->total <= n->available; /* 0: unknown, not checked */
}

static void fmt_bytes(uint64_t b, char *buf, size_t cap) {
    if (b >= (1ull << 30)) snprintf(buf, cap, "%.1f GiB", b / (double)(1ull << 30));
    else snprintf(buf, cap, "%.1f MiB", b / (double)(1ull << 20));
}

void srv_mem_need_text(const srv_model *m, const srv_mem_need *n, const srv_load_opts *o, char *buf, size_t cap) {
    char t[24], w[24], k[24], bu[24], sv[24], av[24];
    fmt_bytes(n->total, t, sizeof t);
    fmt_bytes(n->weights, w, sizeof w);
    fmt_bytes(n->kv, k, sizeof k);
    fmt_bytes(n->buffers, bu, sizeof bu);
    fmt_bytes(n->server, sv, sizeof sv);
    fmt_bytes(n->available, av, sizeof av);
    const char *kvt = lair_type_name(o->sched.kv_type);
    if (n->fits) {
        snprintf(buf, cap, "model %s needs %s (weights %s, KV %s for --ctx %d as %s, buffers %s, server %s); %s available",
                 m->id, t, w, k, o->sched.n_ctx, kvt ? kvt : "?", bu, sv, n->available ? av : "unknown");
        return;
    }
    char hint[96];
    bool big_kv = o->sched.kv_type == LAIR_TYPE_F16 || o->sched.kv_type == LAIR_TYPE_F32;
    if (o->sched.n_ctx >= 2 * 512 && big_kv)
        snprintf(hint, sizeof hint, "try --ctx %d or --kv-type q8_0", o->sched.n_ctx / 2);
    else if (o->sched.n_ctx >= 2 * 512)
        snprintf(hint, sizeof hint, "try --ctx %d or fewer --parallel slots", o->sched.n_ctx / 2);
    else
        snprintf(hint, sizeof hint, "try a smaller quantization of the model");
    snprintf(buf, cap,
             "model %s needs %s (weights %s, KV %s for --ctx %d as %s, buffers %s, server %s) but %s is available; %s",
             m->id, t, w, k, o->sched.n_ctx, kvt ? kvt : "?", bu, sv, av, hint);
}

lair_status srv_model_acquire(srv_model *m, const srv_load_opts *o, bool *just_loaded, lair_err *err) {
    if (just_loaded) *just_loaded = false;
    lair_mutex_lock(m->mu);
    if (m->sched) {
        lair_mutex_unlock(m->mu);
        return LAIR_OK;
    }
    double t0 = lair_time_seconds();
    lair_model *lm = NULL;
    lair_jinja *tmpl = NULL;
    char *src = NULL;
    srv_sched *sched = NULL;
    bool fallback = false;
    lair_status st = lair_model_load(m->path, &lm, err);
    if (st == LAIR_OK && !lair_model_vocab(lm))
        st = lair_err_set(err, LAIR_ERR_UNSUPPORTED, "model %s has no tokenizer (tokenizer.ggml.model)", m->id);
    srv_mem_need need;
    if (st == LAIR_OK) {
        srv_model_mem_need(m, lm, o, &need);
        if (!need.fits && !o->skip_mem_check) {
            char msg[LAIR_ERR_MSG_MAX];
            srv_mem_need_text(m, &need, o, msg, sizeof msg);
            st = lair_err_set(err, LAIR_ERR_LIMIT, "%s", msg);
        }
    }
    if (st == LAIR_OK && o->template_src) {
        st = lair_jinja_parse(o->template_src, strlen(o->template_src), &tmpl, err);
        src = st == LAIR_OK ? lair_strndup(o->template_src, strlen(o->template_src)) : NULL;
        if (st == LAIR_OK && !src) st = lair_err_set(err, LAIR_ERR_NOMEM, "out of memory");
    } else if (st == LAIR_OK) {
        st = lair_chat_template_load(lm, &tmpl, &fallback, err);
    }
    if (st == LAIR_OK && !src) {
        int64_t len = lair_model_meta(lm, "tokenizer.chat_template", NULL, 0);
        const char *chatml = lair_jinja_chatml_template();
        size_t n = len >= 0 ? (size_t)len : strlen(chatml);
        src = lair_malloc(n + 1);
        if (!src) st = lair_err_set(err, LAIR_ERR_NOMEM, "out of memory");
        else if (len >= 0) lair_model_meta(lm, "tokenizer.chat_template", src, n + 1);
        else memcpy(src, chatml, n + 1);
    }
    if (st == LAIR_OK) st = srv_sched_create(lm, &o->sched, &sched, err);
    if (st != LAIR_OK) {
        lair_free(src);
        lair_jinja_free(tmpl);
        lair_model_free(lm);
        lair_mutex_unlock(m->mu);
        return st;
    }
    m->model = lm;
    m->tmpl = tmpl;
    m->tmpl_fallback = fallback;
    m->tmpl_src = src;
    m->sched = sched;
    m->mem = (lair_context_bytes){need.weights, need.kv, need.buffers};
    m->load_s = lair_time_seconds() - t0;
    m->loaded_at = http_wall_time();
    lair_mutex_unlock(m->mu);
    if (just_loaded) *just_loaded = true;
    return LAIR_OK;
}
