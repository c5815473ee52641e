/* Pre-tokenizer regular expressions, run with PCRE2.
 *
 * The expressions are those the model families publish with their tokenizers
 * (HF tokenizers' "Split" pre-tokenizers), written in PCRE2 syntax.  Two
 * details make PCRE2 agree with them exactly:
 *   - "\s" means Unicode White_Space (U+0085 and U+3000 included), which is
 *     what the original engines match; PCRE2's own \s under UCP omits U+0085,
 *     so \s and \S are spelled out as the explicit set below before compiling.
 *   - "$" matches only at the very end of a piece (PCRE2_DOLLAR_ENDONLY), and
 *     each expression sees one piece at a time, as a subject of its own, so
 *     lookaheads never look past the piece. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "text/pretok.h"

#include <pcre2.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"

/* White_Space (Unicode PropList), inside a character class. */
#define WS_CLASS "\\t\\n\\x0B\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"

#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RE_LLAMA3 \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}" \
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2 \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}" \
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_GPT4O \
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?" \
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?" \
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_TEKKEN \
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+" \
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*" \
    "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)"
/* CJK ideographs, the blocks before them, and Hangul syllables. */
#define RE_CJK "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"

#define MAX_EXPRS 6

typedef struct pretok_set {
    const char *name;
    const char *exprs[MAX_EXPRS];
} pretok_set;

static const pretok_set k_sets[] = {
    {"default", {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}},
    {"gpt2", {RE_GPT2}},
    {"llama3", {RE_LLAMA3}},
    {"qwen2", {RE_QWEN2}},
    {"deepseek-llm",
     {"[\\r\\n]", "\\s?\\p{L&}+",
      "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+", "\\s+$", RE_CJK,
      "\\p{N}+"}},
    {"deepseek-coder", {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_CJK, "\\p{N}"}},
    {"deepseek-v3",
     {"\\p{N}{1,3}", "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*"
      "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    {"falcon", {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"}},
    {"starcoder", {"\\p{N}", RE_GPT2}},
    {"bloom", {" ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{0964}\\x{06D4}\\x{060C})]+"}},
    {"viking", {" ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{0964}\\x{06D4}\\x{060C})]+", "\\p{N}"}},
    {"gpt-4o", {RE_GPT4O}},
    {"tekken", {RE_TEKKEN}},
};

/* tokenizer.ggml.pre values real GGUF files carry -> the set they use. */
static const struct {
    const char *pre, *set;
} k_names[] = {
    {"default", "default"},       {"gpt-2", "gpt2"},          {"gpt2", "gpt2"},
    {"phi-2", "gpt2"},            {"jina-es", "gpt2"},        {"jina-de", "gpt2"},
    {"jina-v1-en", "gpt2"},       {"jina-v2-es", "gpt2"},     {"jina-v2-de", "gpt2"},
    {"jina-v2-code", "gpt2"},     {"roberta-bpe", "gpt2"},    {"gigachat", "gpt2"},
    {"mpt", "gpt2"},              {"olmo", "gpt2"},           {"jais", "gpt2"},
    {"gpt-neox", "gpt2"},         {"llama3", "llama3"},       {"llama-v3", "llama3"},
    {"llama-bpe", "llama3"},      {"falcon3", "llama3"},      {"dbrx", "llama3"},
    {"smaug-bpe", "llama3"},      {"chatglm-bpe", "llama3"},  {"qwen2", "qwen2"},
    {"deepseek-r1-qwen", "qwen2"}, {"megrez", "qwen2"},       {"stablelm2", "qwen2"},
    {"deepseek-llm", "deepseek-llm"}, {"deepseek-coder", "deepseek-coder"}, {"deepseek-v3", "deepseek-v3"},
    {"falcon", "falcon"},         {"starcoder", "starcoder"}, {"refact", "starcoder"},
    {"command-r", "starcoder"},   {"smollm", "starcoder"},    {"codeshell", "starcoder"},
    {"exaone", "starcoder"},      {"minerva-7b", "starcoder"}, {"bloom", "bloom"},
    {"poro-chat", "bloom"},       {"gpt3-finnish", "bloom"},  {"viking", "viking"},
    {"gpt-4o", "gpt-4o"},         {"tekken", "tekken"},
};

struct pretok {
    const pretok_set *set;
    int n;
    pcre2_code *code[MAX_EXPRS];
};

static const pretok_set *set_by_name(const char *name) {
    for (size_t i = 0; i < sizeof k_sets / sizeof k_sets[0]; i++)
        if (strcmp(k_sets[i].name, name) == 0) return &k_sets[i];
    return NULL;
}

/* Rewrites \s and \S into the explicit White_Space set. */
static char *expand_ws(const char *re) {
    size_t n = strlen(re), cap = n * (sizeof "[^" WS_CLASS "]") + 1, o = 0; /* each byte may grow into the class */
    char *out = lair_malloc(cap);
    if (!out) return NULL;
    bool in_class = false;
    for (size_t i = 0; i < n; i++) {
        char c = re[i];
        if (c == '\\' && i + 1 < n) {
            char d = re[i + 1];
            const char *rep = NULL;
            if (d == 's') rep = in_class ? WS_CLASS : "[" WS_CLASS "]";
            else if (d == 'S') rep = "[^" WS_CLASS "]"; /* never used inside a class */
            if (rep) {
                size_t rl = strlen(rep);
                memcpy(out + o, rep, rl);
                o += rl;
            } else {
                out[o++] = c;
                out[o++] = d;
            }
            i++;
            continue;
        }
        if (c == '[' && !in_class) in_class = true;
        else if (c == ']' && in_class) in_class = false;
        out[o++] = c;
    }
    out[o] = 0;
    return out;
}

/* The set for a name that is not in the table: by family, else GPT-2's. */
static const char *closest_set(const char *name) {
    if (strstr(name, "llama") || strstr(name, "smaug")) return "llama3";
    if (strstr(name, "qwen")) return "qwen2";
    if (strstr(name, "deepseek")) return "deepseek-llm";
    return "gpt2";
}

lair_status pretok_create(const char *name, size_t name_len, pretok **out, const char **chosen, char *warning,
                          size_t warning_cap, lair_err *err) {
    *out = NULL;
    if (warning_cap) warning[0] = 0;
    char key[64];
    if (name_len >= sizeof key) name_len = sizeof key - 1;
    if (name) memcpy(key, name, name_len);
    key[name ? name_len : 0] = 0;
    const char *set_name = NULL;
    if (!key[0]) {
        set_name = "default";
        snprintf(warning, warning_cap, "tokenizer.ggml.pre is missing; using the 'default' pre-tokenizer");
    } else {
        for (size_t i = 0; i < sizeof k_names / sizeof k_names[0]; i++)
            if (strcmp(k_names[i].pre, key) == 0) set_name = k_names[i].set;
        if (!set_name) {
            set_name = closest_set(key);
            snprintf(warning, warning_cap, "unknown pre-tokenizer '%s'; using '%s', the closest known one", key,
                     set_name);
        }
    }
    pretok *p = lair_calloc(1, sizeof *p);
    if (!p) return lair_err_set(err, LAIR_ERR_NOMEM, "tokenizer: out of memory");
    p->set = set_by_name(set_name);
    for (int i = 0; i < MAX_EXPRS && p->set->exprs[i]; i++) {
        char *re = expand_ws(p->set->exprs[i]);
        if (!re) {
            pretok_free(p);
            return lair_err_set(err, LAIR_ERR_NOMEM, "tokenizer: out of memory");
        }
        int ec = 0;
        PCRE2_SIZE eo = 0;
        p->code[i] = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY | PCRE2_NO_UTF_CHECK, &ec, &eo, NULL);
        lair_free(re);
        if (!p->code[i]) {
            PCRE2_UCHAR msg[128];
            pcre2_get_error_message(ec, msg, sizeof msg);
            lair_status st = lair_err_set(err, LAIR_ERR_UNSUPPORTED,
                                          "tokenizer: pre-tokenizer '%s' expression %d: %s at offset %zu", set_name,
                                          i + 1, (const char *)msg, (size_t)eo);
            pretok_free(p);
            return st;
        }
        pcre2_jit_compile(p->code[i], PCRE2_JIT_COMPLETE); /* optional: the interpreter is the fallback */
        p->n = i + 1;
    }
    *chosen = set_name;
    *out = p;
    return LAIR_OK;
}

void pretok_free(pretok *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) pcre2_code_free(p->code[i]);
    lair_free(p);
}

typedef struct span_list {
    pretok_span *v;
    size_t n, cap;
} span_list;

static bool span_push(span_list *l, size_t start, size_t len) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        pretok_span *v = lair_realloc(l->v, cap * sizeof *v);
        if (!v) return false;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (pretok_span){start, len};
    return true;
}

/* One expression over one piece: matches and the gaps between them. */
static int split_piece(pcre2_code *code, pcre2_match_data *md, const char *text, pretok_span piece, span_list *out) {
    const PCRE2_SPTR subj = (PCRE2_SPTR)(text + piece.start);
    size_t at = 0, gap = 0; /* next search offset; start of the unmatched run */
    while (at < piece.len) {
        int rc = pcre2_match(code, subj, piece.len, at, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) return rc;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t m0 = ov[0], m1 = ov[1];
        if (m1 == m0) { /* an empty match: step over one character */
            at = m0 + 1;
            while (at < piece.len && ((unsigned char)text[piece.start + at] & 0xC0) == 0x80) at++;
            continue;
        }
        if (m0 > gap && !span_push(out, piece.start + gap, m0 - gap)) return PCRE2_ERROR_NOMEMORY;
        if (!span_push(out, piece.start + m0, m1 - m0)) return PCRE2_ERROR_NOMEMORY;
        at = gap = m1;
    }
    if (gap < piece.len && !span_push(out, piece.start + gap, piece.len - gap)) return PCRE2_ERROR_NOMEMORY;
    return 0;
}

lair_status pretok_split(const pretok *p, const char *text, size_t len, pretok_span **words, size_t *n_words,
                         lair_err *err) {
    *words = NULL;
    *n_words = 0;
    span_list cur = {0}, next = {0};
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    lair_status st = LAIR_OK;
    if (!md || !span_push(&cur, 0, len)) {
        st = lair_err_set(err, LAIR_ERR_NOMEM, "tokenizer: out of memory");
        goto done;
    }
    for (int e = 0; e < p->n; e++) {
        next.n = 0;
        for (size_t i = 0; i < cur.n; i++) {
            int rc = split_piece(p->code[e], md, text, cur.v[i], &next);
            if (rc == PCRE2_ERROR_NOMEMORY) {
                st = lair_err_set(err, LAIR_ERR_NOMEM, "tokenizer: out of memory");
                goto done;
            }
            if (rc < 0) {
                PCRE2_UCHAR msg[128];
                pcre2_get_error_message(rc, msg, sizeof msg);
                st = lair_err_set(err, LAIR_ERR_LIMIT, "tokenizer: pre-tokenizer '%s': %s", p->set->name,
                                  (const char *)msg);
                goto done;
            }
        }
        span_list t = cur;
        cur = next;
        next = t;
    }
    *words = cur.v;
    *n_words = cur.n;
    cur.v = NULL;
done:
    lair_free(cur.v);
    lair_free(next.v);
    pcre2_match_data_free(md);
    return st;
}
