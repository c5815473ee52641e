/* Loading a vocabulary from tokenizer.ggml.* metadata: texts, scores, types,
 * special ids and flags, and the tables the tokenizers use (text -> id, byte
 * tokens, BPE merges, special-token texts). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "text/pretok.h"
#include "text/vocab.h"

#define NOMEM(err) lair_err_set(err, LAIR_ERR_NOMEM, "tokenizer: out of memory")

/* The GPT-2 byte-to-character map: printable Latin-1 bytes stand for
 * themselves, the other 68 bytes for U+0100.. in byte order.  Writes the
 * character's UTF-8 (2 bytes at most) and returns its length. */
size_t bpe_byte_char(unsigned char b, char out[2]) {
    unsigned cp = b;
    if (b <= 0x20) cp = 0x100 + b;                   /* controls and space: U+0100..U+0120 */
    else if (b >= 0x7F && b <= 0xA0) cp = 0x121 + (b - 0x7F); /* DEL..NBSP: U+0121..U+0142 */
    else if (b == 0xAD) cp = 0x143;                  /* soft hyphen */
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

static lair_token get_id(const gguf_file *f, const char *key, lair_token def, int32_t n_tokens) {
    int64_t v;
    if (gguf_get_i64(f, key, &v, NULL) != LAIR_OK) return def < n_tokens ? def : -1;
    return v >= 0 && v < n_tokens ? (lair_token)v : -1;
}

static bool get_flag(const gguf_file *f, const char *key, bool def) {
    bool b;
    return gguf_get_bool(f, key, &b, NULL) == LAIR_OK ? b : def;
}

/* Special texts sort longest first (then by id), so a longer text wins over
 * a shorter one it contains. */
typedef struct special_key {
    uint64_t len;
    int32_t id;
} special_key;
static int cmp_special(const void *a, const void *b) {
    const special_key *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static bool text_is(const lair_vocab *v, int32_t id, const char *s) {
    size_t n = strlen(s);
    return v->text[id].len == n && memcmp(v->text[id].ptr, s, n) == 0;
}

/* Texts that end a turn in the families lair runs (used when the file names
 * no EOT id, as chat models often do). */
static const char *const k_eog_texts[] = {"<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                          "<|endoftext|>", "<|end_of_text|>", "<EOT>", "<|END_OF_TURN_TOKEN|>",
                                          "<｜end▁of▁sentence｜>"};

static lair_status load_merges(lair_vocab *v, const gguf_file *f, lair_err *err) {
    const gguf_kv *kv = NULL;
    lair_status st = gguf_get_arr(f, "tokenizer.ggml.merges", GGUF_TYPE_STRING, &kv, err);
    if (st == LAIR_ERR_ARG)
        return lair_err_set(err, LAIR_ERR_FORMAT, "tokenizer: gpt2 vocabulary without tokenizer.ggml.merges");
    if (st != LAIR_OK) return st;
    uint64_t n = kv->arr_n;
    if (n > (1u << 24)) return lair_err_set(err, LAIR_ERR_LIMIT, "tokenizer: %llu merges (limit 16M)", (unsigned long long)n);
    size_t total = 0;
    for (uint64_t i = 0; i < n; i++) total += gguf_arr_str(kv, i).len;
    v->arena = lair_malloc(total + 1);
    size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    v->merges = lair_malloc(cap * sizeof *v->merges);
    if (!v->arena || !v->merges) return NOMEM(err);
    for (size_t i = 0; i < cap; i++) v->merges[i].left = -1;
    v->merge_mask = cap - 1;
    size_t used = 0;
    for (uint64_t i = 0; i < n; i++) {
        gguf_str m = gguf_arr_str(kv, i);
        const char *sp = m.len > 1 ? memchr(m.ptr + 1, ' ', m.len - 1) : NULL; /* a leading space belongs to the left part */
        if (!sp)
            return lair_err_set(err, LAIR_ERR_FORMAT, "tokenizer: merge %llu ('%.*s') has no space between its parts",
                                (unsigned long long)i, (int)(m.len > 40 ? 40 : m.len), m.ptr);
        size_t ll = (size_t)(sp - m.ptr), rl = m.len - ll - 1;
        int32_t id[3];
        const char *part[3] = {m.ptr, sp + 1, v->arena + used};
        size_t plen[3] = {ll, rl, ll + rl};
        memcpy(v->arena + used, m.ptr, ll);
        memcpy(v->arena + used + ll, sp + 1, rl);
        for (int k = 0; k < 3; k++) {
            id[k] = lair_strmap_get(&v->by_text, part[k], plen[k]);
            if (id[k] < 0) {
                id[k] = v->n_interned++;
                if (lair_strmap_put(&v->by_text, part[k], plen[k], id[k]) != 0) return NOMEM(err);
                if (k == 2) used += plen[2];
            }
        }
        /* the first rank of a pair wins */
        uint64_t h = ((uint64_t)(uint32_t)id[0] * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)(uint32_t)id[1] * 0xc2b2ae3d27d4eb4full);
        for (size_t s = (h >> 20) & v->merge_mask;; s = (s + 1) & v->merge_mask) {
            bpe_merge *e = &v->merges[s];
            if (e->left < 0) {
                *e = (bpe_merge){id[0], id[1], id[2], (int32_t)i};
                break;
            }
            if (e->left == id[0] && e->right == id[1]) break;
        }
    }
    return LAIR_OK;
}

/* The bit set of character pairs inside SPM tokens (see vocab.h). */
static bool build_spm_pairs(lair_vocab *v) {
    uint64_t pairs = 0;
    for (int32_t i = 0; i < v->n_tokens; i++) pairs += v->text[i].len;
    uint64_t bits = 1u << 16;
    while (bits < pairs * 16 && bits < (1ull << 25)) bits <<= 1; /* <= 4 MiB */
    v->spm_pairs = lair_calloc(bits / 64, sizeof *v->spm_pairs);
    if (!v->spm_pairs) return false;
    v->spm_pairs_mask = bits - 1;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        const char *s = v->text[i].ptr;
        size_t n = v->text[i].len, a = 0;
        while (a < n) {
            size_t la = utf8_seq_len((unsigned char)s[a]);
            if (la > n - a) la = n - a;
            size_t b = a + la;
            if (b >= n) break;
            size_t lb = utf8_seq_len((unsigned char)s[b]);
            if (lb > n - b) lb = n - b;
            uint64_t h = spm_pair_hash(s + a, la, s + b, lb) & v->spm_pairs_mask;
            v->spm_pairs[h >> 6] |= 1ull << (h & 63);
            a = b;
        }
    }
    return true;
}

lair_status vocab_from_gguf(const gguf_file *f, lair_vocab **out, lair_err *err) {
    *out = NULL;
    gguf_str model;
    lair_status st = gguf_get_str(f, "tokenizer.ggml.model", &model, err);
    if (st == LAIR_ERR_ARG) return lair_err_set(err, LAIR_ERR_FORMAT, "tokenizer: the file has no tokenizer.ggml.model");
    if (st != LAIR_OK) return st;
    vocab_kind kind;
    if (model.len == 5 && memcmp(model.ptr, "llama", 5) == 0) kind = VOCAB_SPM;
    else if (model.len == 4 && memcmp(model.ptr, "gpt2", 4) == 0) kind = VOCAB_BPE;
    else if (model.len == 4 && memcmp(model.ptr, "bert", 4) == 0) kind = VOCAB_WPM;
    else
        return lair_err_set(err, LAIR_ERR_UNSUPPORTED,
                            "tokenizer: tokenizer.ggml.model '%.*s' is not supported (lair reads llama, gpt2, bert)",
                            (int)(model.len > 40 ? 40 : model.len), model.ptr);
    const gguf_kv *tokens = NULL, *scores = NULL, *types = NULL;
    st = gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tokens, err);
    if (st == LAIR_ERR_ARG) return lair_err_set(err, LAIR_ERR_FORMAT, "tokenizer: the file has no tokenizer.ggml.tokens");
    if (st != LAIR_OK) return st;
    if (tokens->arr_n == 0 || tokens->arr_n > (1u << 24))
        return lair_err_set(err, LAIR_ERR_FORMAT, "tokenizer: tokenizer.ggml.tokens has %llu entries (1..16M)",
                            (unsigned long long)tokens->arr_n);
    int32_t n = (int32_t)tokens->arr_n;
    if (gguf_find_kv(f, "tokenizer.ggml.scores")) {
        st = gguf_get_arr(f, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, &scores, err);
        if (st != LAIR_OK) return st;
        if (scores->arr_n != (uint64_t)n)
            return lair_err_set(err, LAIR_ERR_FORMAT, "tokenizer: %llu scores for %d tokens",
                                (unsigned long long)scores->arr_n, n);
    }
    if (gguf_find_kv(f, "tokenizer.ggml.token_type")) {
        st = gguf_get_arr(f, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, &types, err);
        if (st != LAIR_OK) return st;
        if (types->arr_n != (uint64_t)n)
            return lair_err_set(err, LAIR_ERR_FORMAT, "tokenizer: %llu token types for %d tokens",
                                (unsigned long long)types->arr_n, n);
    }

    lair_vocab *v = lair_calloc(1, sizeof *v);
    if (!v) return NOMEM(err);
    v->kind = kind;
    v->n_tokens = v->n_interned = n;
    v->text = lair_malloc((size_t)n * sizeof *v->text);
    v->score = lair_calloc((size_t)n, sizeof *v->score);
    v->attr = lair_malloc((size_t)n);
    const gguf_kv *merges_kv = gguf_find_kv(f, "tokenizer.ggml.merges");
    size_t extra = kind == VOCAB_BPE && merges_kv && merges_kv->type == GGUF_TYPE_ARRAY ? 3 * merges_kv->arr_n : 0;
    if (!v->text || !v->score || !v->attr || lair_strmap_init(&v->by_text, (size_t)n + extra) != 0) goto nomem;
    for (int32_t i = 0; i < n; i++) {
        v->text[i] = gguf_arr_str(tokens, (uint64_t)i);
        if (v->text[i].len > v->max_token_len) v->max_token_len = v->text[i].len;
        if (scores) v->score[i] = (float)gguf_arr_f64(scores, (uint64_t)i);
        int64_t t = types ? gguf_arr_i64(types, (uint64_t)i) : 1;
        v->attr[i] = t == 2 ? TOK_UNKNOWN : t == 3 ? TOK_CONTROL : t == 4 ? TOK_USER_DEFINED : t == 5 ? TOK_UNUSED
                   : t == 6 ? TOK_BYTE : TOK_NORMAL;
        if (lair_strmap_put(&v->by_text, v->text[i].ptr, v->text[i].len, i) != 0) goto nomem;
    }

    /* special ids and flags; defaults are those of each tokenizer family */
    v->bos = get_id(f, "tokenizer.ggml.bos_token_id", kind == VOCAB_SPM ? 1 : kind == VOCAB_WPM ? 101 : -1, n);
    v->eos = get_id(f, "tokenizer.ggml.eos_token_id", kind == VOCAB_SPM ? 2 : -1, n);
    v->eot = get_id(f, "tokenizer.ggml.eot_token_id", -1, n);
    v->eom = get_id(f, "tokenizer.ggml.eom_token_id", -1, n);
    v->unk = get_id(f, "tokenizer.ggml.unknown_token_id", kind == VOCAB_SPM ? 0 : kind == VOCAB_WPM ? 100 : -1, n);
    v->pad = get_id(f, "tokenizer.ggml.padding_token_id", -1, n);
    v->sep = get_id(f, "tokenizer.ggml.seperator_token_id", kind == VOCAB_WPM ? 102 : -1, n);
    v->cls = get_id(f, "tokenizer.ggml.cls_token_id", kind == VOCAB_WPM ? 101 : -1, n);
    v->mask = get_id(f, "tokenizer.ggml.mask_token_id", -1, n);
    v->add_space_prefix = get_flag(f, "tokenizer.ggml.add_space_prefix", kind == VOCAB_SPM);
    v->add_eos = get_flag(f, "tokenizer.ggml.add_eos_token", kind == VOCAB_WPM);

    if (kind == VOCAB_BPE) {
        gguf_str pre = {0};
        if (gguf_get_str(f, "tokenizer.ggml.pre", &pre, NULL) != LAIR_OK) pre = (gguf_str){NULL, 0};
        const char *chosen = NULL;
        st = pretok_create(pre.ptr, pre.len, &v->pre, &chosen, v->warning, sizeof v->warning, err);
        if (st != LAIR_OK) goto fail;
        snprintf(v->pre_name, sizeof v->pre_name, "%s", chosen);
        v->ignore_merges = strcmp(chosen, "llama3") == 0 || strcmp(chosen, "tekken") == 0;
        v->add_bos = get_flag(f, "tokenizer.ggml.add_bos_token", v->ignore_merges);
        st = load_merges(v, f, err);
        if (st != LAIR_OK) goto fail;
    } else {
        snprintf(v->pre_name, sizeof v->pre_name, "%s", kind == VOCAB_SPM ? "spm" : "bert");
        if (kind == VOCAB_SPM && !build_spm_pairs(v)) goto nomem;
        v->add_bos = get_flag(f, "tokenizer.ggml.add_bos_token", true);
    }

    /* byte tokens */
    for (int b = 0; b < 256; b++) {
        char buf[8];
        size_t len;
        if (kind == VOCAB_BPE) {
            len = bpe_byte_char((unsigned char)b, buf);
        } else {
            static const char hex[] = "0123456789ABCDEF";
            memcpy(buf, "<0x", 3);
            buf[3] = hex[b >> 4];
            buf[4] = hex[b & 15];
            buf[5] = '>';
            len = 6;
        }
        int32_t id = lair_strmap_get(&v->by_text, buf, len);
        if (id < 0 && kind != VOCAB_BPE) {
            buf[0] = (char)b;
            id = lair_strmap_get(&v->by_text, buf, 1);
        }
        v->byte_token[b] = id < n ? id : -1;
    }

    /* end-of-generation tokens */
    if (v->eos >= 0) v->attr[v->eos] |= TOK_EOG;
    if (v->eot >= 0) v->attr[v->eot] |= TOK_EOG;
    if (v->eom >= 0) v->attr[v->eom] |= TOK_EOG;
    for (int32_t i = 0; i < n; i++) {
        if (!(v->attr[i] & (TOK_CONTROL | TOK_USER_DEFINED))) continue;
        for (size_t k = 0; k < sizeof k_eog_texts / sizeof k_eog_texts[0]; k++)
            if (text_is(v, i, k_eog_texts[k])) {
                v->attr[i] |= TOK_EOG;
                if (v->eot < 0 && k != 5 && k != 1) v->eot = i; /* not <|endoftext|> or <|eom_id|> */
            }
    }

    /* special texts, longest first */
    v->specials = lair_malloc((size_t)n * sizeof *v->specials);
    special_key *keys = lair_malloc((size_t)n * sizeof *keys);
    if (!v->specials || !keys) {
        lair_free(keys);
        goto nomem;
    }
    for (int32_t i = 0; i < n; i++)
        if ((v->attr[i] & (TOK_CONTROL | TOK_USER_DEFINED | TOK_UNKNOWN)) && v->text[i].len > 0)
            keys[v->n_specials++] = (special_key){v->text[i].len, i};
    qsort(keys, (size_t)v->n_specials, sizeof *keys, cmp_special);
    for (int32_t i = 0; i < v->n_specials; i++) v->specials[i] = keys[i].id;
    lair_free(keys);
    *out = v;
    return LAIR_OK;
nomem:
    st = NOMEM(err);
fail:
    lair_vocab_free(v);
    return st;
}

lair_status lair_vocab_load(const char *path, lair_vocab **out, lair_err *err) {
    *out = NULL;
    gguf_file *f = NULL;
    lair_status st = gguf_open(path, &f, err);
    if (st != LAIR_OK) return st;
    st = vocab_from_gguf(f, out, err);
    if (st != LAIR_OK) {
        gguf_close(f);
        return st;
    }
    (*out)->file = f;
    return LAIR_OK;
}

void lair_vocab_free(lair_vocab *v) {
    if (!v) return;
    pretok_free(v->pre);
    lair_strmap_free(&v->by_text);
    lair_free(v->text);
    lair_free(v->score);
    lair_free(v->attr);
    lair_free(v->arena);
    lair_free(v->merges);
    lair_free(v->spm_pairs);
    lair_free(v->specials);
    if (v->file) gguf_close(v->file);
    lair_free(v);
}

const char *lair_vocab_warning(const lair_vocab *v) { return v->warning[0] ? v->warning : NULL; }
int32_t lair_vocab_n_tokens(const lair_vocab *v) { return v->n_tokens; }
const char *lair_vocab_model(const lair_vocab *v) {
    return v->kind == VOCAB_SPM ? "llama" : v->kind == VOCAB_BPE ? "gpt2" : "bert";
}
const char *lair_vocab_pre(const lair_vocab *v) { return v->pre_name; }
lair_token lair_vocab_bos(const lair_vocab *v) { return v->bos; }
lair_token lair_vocab_eos(const lair_vocab *v) { return v->eos; }
lair_token lair_vocab_eot(const lair_vocab *v) { return v->eot; }
bool lair_vocab_add_bos(const lair_vocab *v) { return v->add_bos; }
bool lair_vocab_add_eos(const lair_vocab *v) { return v->add_eos; }
lair_token lair_vocab_pad(const lair_vocab *v) { return v->pad; }
bool lair_vocab_is_eog(const lair_vocab *v, lair_token t) {
    return t >= 0 && t < v->n_tokens && (v->attr[t] & TOK_EOG);
}
bool lair_vocab_is_control(const lair_vocab *v, lair_token t) {
    return t >= 0 && t < v->n_tokens && (v->attr[t] & TOK_CONTROL);
}
const char *lair_vocab_text(const lair_vocab *v, lair_token t, size_t *len) {
    if (t < 0 || t >= v->n_tokens) {
        *len = 0;
        return "";
    }
    *len = v->text[t].len;
    return v->text[t].ptr;
}
