#include "model/synth_vocab.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/rng.h"

#define MAX_PIECE_BYTES 24 /* longest generated token */

/* A set of strings kept as offsets into a growing byte buffer. */
typedef struct strbuf {
    char *buf;
    size_t len, cap;
    int64_t *off; /* start of each string */
    int64_t n, cap_n;
    int64_t *table; /* open addressing: index+1, 0 = empty */
    uint64_t table_mask;
} strbuf;

static uint64_t fnv(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static const char *sb_str(const strbuf *b, int64_t i) { return b->buf + b->off[i]; }

static bool sb_init(strbuf *b, int64_t max_n) {
    memset(b, 0, sizeof *b);
    uint64_t ts = 1024;
    while (ts < (uint64_t)max_n * 2) ts <<= 1;
    b->table = lair_calloc(ts, sizeof *b->table);
    b->table_mask = ts - 1;
    b->cap_n = max_n > 0 ? max_n : 1;
    b->off = lair_malloc((size_t)b->cap_n * sizeof *b->off);
    b->cap = 1 << 16;
    b->buf = lair_malloc(b->cap);
    return b->table && b->off && b->buf;
}

static void sb_free(strbuf *b) {
    lair_free(b->table);
    lair_free(b->off);
    lair_free(b->buf);
}

/* Adds s (n bytes) unless present.  Returns 1 added, 0 duplicate, -1 no memory. */
static int sb_add(strbuf *b, const char *s, size_t n) {
    if (b->n >= b->cap_n) return 0;
    uint64_t h = fnv(s, n) & b->table_mask;
    while (b->table[h]) {
        const char *o = sb_str(b, b->table[h] - 1);
        if (strlen(o) == n && memcmp(o, s, n) == 0) return 0;
        h = (h + 1) & b->table_mask;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap * 2 + n + 1;
        char *nb = lair_realloc(b->buf, cap);
        if (!nb) return -1;
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->buf[b->len + n] = '\0';
    b->off[b->n] = (int64_t)b->len;
    b->len += n + 1;
    b->table[h] = ++b->n;
    return 1;
}

static size_t utf8_put(char *o, uint32_t cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xc0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Family conventions: special tokens and the chat prompt format. */
typedef struct family {
    const char *arch;
    lair_vocab_kind kind;
    const char *pre;
    const char *const *head; /* special tokens at the start of the vocabulary */
    const char *const *tail; /* special tokens at the end */
    const char *bos, *eos, *eot, *unk;
    bool add_bos;
    const char *chat_template;
} family;

static const char *const spm_head[] = {"<unk>", "<s>", "</s>", NULL};
static const char *const none[] = {NULL};
static const char *const gemma_head[] = {"<pad>", "<eos>", "<bos>", "<unk>", NULL};
static const char *const gemma_tail[] = {"<start_of_turn>", "<end_of_turn>", NULL};
static const char *const phi3_tail[] = {"<|endoftext|>", "<|assistant|>", "<|system|>", "<|end|>", "<|user|>", NULL};
static const char *const llama3_tail[] = {"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                                          "<|end_header_id|>", "<|eot_id|>", "<|eom_id|>", "<|python_tag|>", NULL};
static const char *const qwen_tail[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>", NULL};

static const family families[] = {
    {"llama", LAIR_VOCAB_SPM, NULL, spm_head, none, "<s>", "</s>", NULL, "<unk>", true,
     "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}[INST] {{ message['content'] }} [/INST]"
     "{% elif message['role'] == 'assistant' %}{{ message['content'] }}{{ eos_token }}{% endif %}{% endfor %}"},
    {"llama", LAIR_VOCAB_BPE, "llama-bpe", none, llama3_tail, "<|begin_of_text|>", "<|eot_id|>", "<|eot_id|>", NULL, true,
     "{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n"
     "{{ message['content'] | trim }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}"
     "<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"},
    {"qwen2", LAIR_VOCAB_BPE, "qwen2", none, qwen_tail, NULL, "<|im_end|>", "<|im_end|>", NULL, false,
     "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
     "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"},
    {"phi3", LAIR_VOCAB_SPM, NULL, spm_head, phi3_tail, "<s>", "<|endoftext|>", "<|end|>", "<unk>", false,
     "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n{% endfor %}"
     "{% if add_generation_prompt %}<|assistant|>\n{% else %}{{ eos_token }}{% endif %}"},
    {"gemma2", LAIR_VOCAB_SPM, NULL, gemma_head, gemma_tail, "<bos>", "<eos>", "<end_of_turn>", "<unk>", true,
     "{{ bos_token }}{% for message in messages %}<start_of_turn>{{ 'model' if message['role'] == 'assistant' else "
     "message['role'] }}\n{{ message['content'] | trim }}<end_of_turn>\n{% endfor %}"
     "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"},
};

static const family *family_of(const char *arch, lair_vocab_kind kind) {
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        if (strcmp(families[i].arch, arch) == 0 && families[i].kind == kind) return &families[i];
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        if (strcmp(families[i].arch, arch) == 0) return &families[i];
    return &families[0];
}

/* Base symbols of an SPM vocabulary: the word-start marker, printable ASCII,
 * hiragana, katakana and common kanji, so English and Japanese text map to
 * real pieces (anything else falls back to byte tokens). */
static int add_spm_alphabet(strbuf *b, int64_t room) {
    char tmp[8];
    uint32_t ranges[][2] = {{0x2581, 0x2581}, {33, 126}, {0x3041, 0x3096}, {0x30a1, 0x30fa}, {0x3001, 0x3002},
                            {0x30fc, 0x30fc}, {0x4e00, 0x4fff}};
    for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++)
        for (uint32_t cp = ranges[r][0]; cp <= ranges[r][1] && b->n < room; cp++)
            if (sb_add(b, tmp, utf8_put(tmp, cp)) < 0) return -1;
    return 0;
}

/* GPT-2's byte-to-symbol map: printable bytes stand for themselves, the
 * others are shifted to U+0100 onwards, so every byte is a visible symbol. */
static uint32_t byte_symbol(unsigned b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) return b;
    unsigned n = 0;
    for (unsigned x = 0; x < b; x++)
        if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) n++;
    return 256 + n;
}

lair_status lair_synth_vocab_make(const char *arch, lair_vocab_kind kind, int64_t n_vocab, uint64_t seed,
                                  lair_synth_vocab *out, lair_err *err) {
    memset(out, 0, sizeof *out);
    const family *fam = family_of(arch, kind);
    kind = fam->kind;
    int64_t n_head = 0, n_tail = 0;
    while (fam->head[n_head]) n_head++;
    while (fam->tail[n_tail]) n_tail++;
    int64_t n_base = kind == LAIR_VOCAB_SPM ? 256 : 256; /* byte tokens / byte symbols */
    if (n_vocab < n_head + n_tail + n_base + 1)
        return lair_err_set(err, LAIR_ERR_ARG, "synthetic vocabulary: %lld tokens is too small (need at least %lld)",
                            (long long)n_vocab, (long long)(n_head + n_tail + n_base + 1));
    int64_t n_body = n_vocab - n_head - n_tail; /* bytes + pieces */
    strbuf body, merges;
    memset(&merges, 0, sizeof merges);
    bool ok = sb_init(&body, n_body) && (kind == LAIR_VOCAB_SPM || sb_init(&merges, n_body));
    lair_rng rng = lair_rng_seed(seed ^ 0x766f636162ull);
    char tmp[2 * MAX_PIECE_BYTES + 8];
    int64_t first_piece = 0;
    if (ok && kind == LAIR_VOCAB_SPM) {
        for (unsigned byte = 0; byte < 256; byte++) {
            snprintf(tmp, sizeof tmp, "<0x%02X>", byte);
            sb_add(&body, tmp, strlen(tmp));
        }
        first_piece = body.n;
        ok = add_spm_alphabet(&body, n_body) == 0;
    } else if (ok) {
        for (unsigned byte = 0; byte < 256; byte++) sb_add(&body, tmp, utf8_put(tmp, byte_symbol(byte)));
        first_piece = 0;
    }
    /* Grow pieces by joining two existing ones; pieces created later get
     * lower scores (SPM) or later merge ranks (BPE), so each is reachable. */
    const char *marker = "\xe2\x96\x81"; /* U+2581, SPM's word start */
    int64_t guard = 0;
    while (ok && body.n < n_body && guard++ < n_body * 64) {
        int64_t pool = body.n - first_piece;
        int64_t window = pool < 4096 ? pool : 4096 + (pool - 4096) / 4;
        int64_t a = first_piece + (int64_t)lair_rng_below(&rng, (uint64_t)window);
        int64_t c = first_piece + (int64_t)lair_rng_below(&rng, (uint64_t)window);
        const char *sa = sb_str(&body, a), *sc = sb_str(&body, c);
        size_t la = strlen(sa), lc = strlen(sc);
        if (la + lc > MAX_PIECE_BYTES) continue;
        if (kind == LAIR_VOCAB_SPM && strncmp(sc, marker, 3) == 0) continue; /* the marker only starts a piece */
        /* sa and sc point into body's buffer, which sb_add may move: copy first */
        char merge[2 * MAX_PIECE_BYTES + 2];
        memcpy(merge, sa, la);
        merge[la] = ' ';
        memcpy(merge + la + 1, sc, lc);
        memcpy(tmp, sa, la);
        memcpy(tmp + la, sc, lc);
        int r = sb_add(&body, tmp, la + lc);
        if (r < 0) ok = false;
        if (r == 1 && kind == LAIR_VOCAB_BPE && sb_add(&merges, merge, la + lc + 1) < 0) ok = false;
    }
    if (ok && body.n < n_body) ok = false;
    size_t special_bytes = 0;
    for (int64_t i = 0; i < n_head; i++) special_bytes += strlen(fam->head[i]) + 1;
    for (int64_t i = 0; i < n_tail; i++) special_bytes += strlen(fam->tail[i]) + 1;
    if (ok) {
        out->arena = lair_malloc(body.len + merges.len + special_bytes + 1);
        out->tokens = lair_malloc((size_t)n_vocab * sizeof *out->tokens);
        out->scores = lair_malloc((size_t)n_vocab * sizeof *out->scores);
        out->types = lair_malloc((size_t)n_vocab * sizeof *out->types);
        out->merges = lair_malloc((size_t)(merges.n ? merges.n : 1) * sizeof *out->merges);
        ok = out->arena && out->tokens && out->scores && out->types && out->merges;
    }
    if (!ok) {
        sb_free(&body);
        if (kind == LAIR_VOCAB_BPE) sb_free(&merges);
        lair_synth_vocab_free(out);
        return lair_err_set(err, LAIR_ERR_NOMEM, "synthetic vocabulary: out of memory for %lld tokens", (long long)n_vocab);
    }
    char *p = out->arena;
    int64_t k = 0;
    for (int64_t i = 0; i < n_head; i++, k++) {
        size_t l = strlen(fam->head[i]) + 1;
        out->tokens[k] = memcpy(p, fam->head[i], l);
        p += l;
        out->scores[k] = 0.0f;
        out->types[k] = (fam->unk && strcmp(fam->head[i], fam->unk) == 0) ? 2 : 3;
    }
    memcpy(p, body.buf, body.len);
    for (int64_t i = 0; i < body.n; i++, k++) {
        out->tokens[k] = p + body.off[i];
        bool byte_tok = kind == LAIR_VOCAB_SPM && i < 256;
        out->types[k] = byte_tok ? 6 : 1;
        out->scores[k] = byte_tok || i == first_piece ? 0.0f : -(float)(i - first_piece); /* no -0 */
    }
    p += body.len;
    for (int64_t i = 0; i < n_tail; i++, k++) {
        size_t l = strlen(fam->tail[i]) + 1;
        out->tokens[k] = memcpy(p, fam->tail[i], l);
        p += l;
        out->scores[k] = 0.0f;
        out->types[k] = 3;
    }
    if (kind == LAIR_VOCAB_BPE) {
        memcpy(p, merges.buf, merges.len);
        for (int64_t i = 0; i < merges.n; i++) out->merges[i] = p + merges.off[i];
        out->n_merges = merges.n;
        sb_free(&merges);
    }
    sb_free(&body);
    out->n = n_vocab;
    out->model = kind == LAIR_VOCAB_SPM ? "llama" : "gpt2";
    out->pre = fam->pre;
    out->add_bos = fam->add_bos;
    out->chat_template = fam->chat_template;
    out->bos = out->eos = out->eot = out->unk = -1;
    for (int64_t i = 0; i < n_vocab; i++) {
        if (out->types[i] != 3 && out->types[i] != 2) continue;
        const char *t = out->tokens[i];
        if (fam->bos && strcmp(t, fam->bos) == 0) out->bos = (int32_t)i;
        if (fam->eos && strcmp(t, fam->eos) == 0) out->eos = (int32_t)i;
        if (fam->eot && strcmp(t, fam->eot) == 0) out->eot = (int32_t)i;
        if (fam->unk && strcmp(t, fam->unk) == 0) out->unk = (int32_t)i;
    }
    return LAIR_OK;
}

void lair_synth_vocab_free(lair_synth_vocab *v) {
    if (!v) return;
    lair_free(v->arena);
    lair_free(v->tokens);
    lair_free(v->scores);
    lair_free(v->types);
    lair_free(v->merges);
    memset(v, 0, sizeof *v);
}
