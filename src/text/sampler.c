/* Token samplers: the chain, parameter checks, penalties, logit bias, the
 * truncating stages, the draw and log-probabilities.  Semantics in sampler.h. */
#include "text/sampler.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/rng.h"

typedef enum stage { ST_PENALTIES, ST_TOP_K, ST_TYPICAL_P, ST_TOP_P, ST_MIN_P, ST_TEMPERATURE, ST_COUNT } stage;

static const struct {
    const char *name;
    stage st;
} stage_names[] = {
    {"penalties", ST_PENALTIES}, {"top_k", ST_TOP_K},     {"typical_p", ST_TYPICAL_P}, {"typ_p", ST_TYPICAL_P},
    {"top_p", ST_TOP_P},         {"min_p", ST_MIN_P},     {"temperature", ST_TEMPERATURE}, {"temp", ST_TEMPERATURE},
};

/* One candidate token.  Candidates are ordered by `key`, descending, ties to
 * the lower id (a total order, so every selection result is unique).  key
 * equals logit except inside typical_p, which orders by typicality. */
typedef struct cand {
    int32_t id;
    float logit; /* after bias and the stages so far; finite */
    float key;
    float p;     /* probability from the last softmax over the live candidates */
} cand;

/* Selection pivots come from their own generator, restarted every call, so
 * the candidates' order (and with it the token a given draw picks) depends
 * only on the inputs. */
#define PIVOT_SEED 0x5eed5a3d1e5ull

struct lair_sampler {
    lair_sampler_params p; /* chain and bias cleared: not owned */
    int32_t n_vocab;
    stage chain[ST_COUNT];
    int32_t n_chain;
    bool has_penalties;
    float *bias;      /* [n_vocab] added to the logits (-inf bans), NULL without bias */
    const uint32_t *allow; /* [n_vocab / 32] bit set of allowed tokens (a grammar mask), NULL: all */
    cand *cands;      /* [n_vocab]; [0, n_cur) are live */
    int32_t n_cur;
    int32_t n_sorted; /* cands[0, n_sorted) are the n_sorted best by key, in order */
    double scale;     /* 1/T once the temperature stage has run, else 1 */
    lair_rng pivot;
    int32_t *counts;  /* [n_vocab] occurrences of each token in the penalty window */
    int32_t *ring;    /* [penalty_last_n] the window, oldest at ring_pos once full */
    int32_t ring_len, ring_pos;
    lair_rng rng;
};

lair_sampler_params lair_sampler_default_params(void) {
    return (lair_sampler_params){
        .temperature = 0.8f,
        .top_k = 40,
        .top_p = 0.95f,
        .min_p = 0.05f,
        .typical_p = 1.0f,
        .repeat_penalty = 1.0f,
        .frequency_penalty = 0.0f,
        .presence_penalty = 0.0f,
        .penalty_last_n = 64,
        .seed = 0,
        .chain = NULL,
        .bias = NULL,
        .n_bias = 0,
        .n_logprobs = 0,
    };
}

/* ---- parameters ---------------------------------------------------------- */

static lair_status check_unit(const char *name, float v, lair_err *err) {
    if (!(v >= 0.0f && v <= 1.0f)) return lair_err_set(err, LAIR_ERR_ARG, "sampler: %s must be in [0, 1], got %g", name, (double)v);
    return LAIR_OK;
}

static lair_status check_params(const lair_sampler_params *p, int32_t n_vocab, lair_err *err) {
    lair_status st;
    if (n_vocab <= 0) return lair_err_set(err, LAIR_ERR_ARG, "sampler: n_vocab must be > 0, got %d", (int)n_vocab);
    if (!isfinite(p->temperature))
        return lair_err_set(err, LAIR_ERR_ARG, "sampler: temperature must be finite, got %g", (double)p->temperature);
    if (p->top_k < 0) return lair_err_set(err, LAIR_ERR_ARG, "sampler: top_k must be >= 0 (0: off), got %d", (int)p->top_k);
    if ((st = check_unit("top_p", p->top_p, err)) != LAIR_OK) return st;
    if ((st = check_unit("min_p", p->min_p, err)) != LAIR_OK) return st;
    if ((st = check_unit("typical_p", p->typical_p, err)) != LAIR_OK) return st;
    if (!(p->repeat_penalty > 0.0f && p->repeat_penalty <= FLT_MAX))
        return lair_err_set(err, LAIR_ERR_ARG, "sampler: repeat_penalty must be finite and > 0 (1: off), got %g",
                            (double)p->repeat_penalty);
    if (!isfinite(p->frequency_penalty))
        return lair_err_set(err, LAIR_ERR_ARG, "sampler: frequency_penalty must be finite, got %g", (double)p->frequency_penalty);
    if (!isfinite(p->presence_penalty))
        return lair_err_set(err, LAIR_ERR_ARG, "sampler: presence_penalty must be finite, got %g", (double)p->presence_penalty);
    if (p->penalty_last_n < 0 || p->penalty_last_n > LAIR_SAMPLER_MAX_LAST_N)
        return lair_err_set(err, LAIR_ERR_ARG, "sampler: penalty_last_n must be in [0, %d], got %d", LAIR_SAMPLER_MAX_LAST_N,
                            (int)p->penalty_last_n);
    if (p->n_logprobs < 0 || p->n_logprobs > LAIR_SAMPLER_MAX_LOGPROBS)
        return lair_err_set(err, LAIR_ERR_ARG, "sampler: n_logprobs must be in [0, %d], got %d", LAIR_SAMPLER_MAX_LOGPROBS,
                            (int)p->n_logprobs);
    if (p->n_bias < 0 || (p->n_bias > 0 && !p->bias))
        return lair_err_set(err, LAIR_ERR_ARG, "sampler: logit_bias: %d entries at NULL", (int)p->n_bias);
    for (int32_t i = 0; i < p->n_bias; i++) {
        const lair_logit_bias *b = &p->bias[i];
        if (b->token < 0 || b->token >= n_vocab)
            return lair_err_set(err, LAIR_ERR_ARG, "sampler: logit_bias[%d]: token must be in [0, %d), got %d", (int)i,
                                (int)n_vocab, (int)b->token);
        if (!(b->bias <= FLT_MAX)) /* NaN, +inf */
            return lair_err_set(err, LAIR_ERR_ARG, "sampler: logit_bias[%d] (token %d) must be finite or -inf, got %g", (int)i,
                                (int)b->token, (double)b->bias);
    }
    return LAIR_OK;
}

/* "penalties; top_k,top_p" -> stages; separators ';' or ',', blanks ignored. */
static lair_status parse_chain(lair_sampler *s, const char *text, lair_err *err) {
    bool seen[ST_COUNT] = {false};
    s->n_chain = 0;
    const char *q = text;
    while (*q) {
        while (*q == ' ' || *q == '\t' || *q == ';' || *q == ',') q++;
        const char *start = q;
        while (*q && *q != ' ' && *q != '\t' && *q != ';' && *q != ',') q++;
        size_t len = (size_t)(q - start);
        if (len == 0) continue;
        int found = -1;
        for (size_t i = 0; i < sizeof stage_names / sizeof stage_names[0]; i++)
            if (strlen(stage_names[i].name) == len && memcmp(stage_names[i].name, start, len) == 0) found = (int)i;
        int shown = len > 40 ? 40 : (int)len;
        if (found < 0)
            return lair_err_set(err, LAIR_ERR_ARG,
                                "sampler: chain: unknown stage '%.*s' (known: penalties, top_k, typical_p, top_p, min_p, temperature)",
                                shown, start);
        stage st = stage_names[found].st;
        if (seen[st]) return lair_err_set(err, LAIR_ERR_ARG, "sampler: chain: stage '%.*s' appears twice", shown, start);
        seen[st] = true;
        s->chain[s->n_chain++] = st;
    }
    s->has_penalties = seen[ST_PENALTIES];
    return LAIR_OK;
}

lair_status lair_sampler_create(const lair_sampler_params *p, int32_t n_vocab, lair_sampler **out, lair_err *err) {
    *out = NULL;
    if (!p) return lair_err_set(err, LAIR_ERR_ARG, "sampler: params is NULL");
    lair_status st = check_params(p, n_vocab, err);
    if (st != LAIR_OK) return st;
    lair_sampler *s = lair_calloc(1, sizeof *s);
    if (!s) return lair_err_set(err, LAIR_ERR_NOMEM, "sampler: out of memory");
    s->p = *p;
    s->p.chain = NULL;
    s->p.bias = NULL;
    s->p.n_bias = 0;
    s->n_vocab = n_vocab;
    st = parse_chain(s, p->chain ? p->chain : LAIR_SAMPLER_DEFAULT_CHAIN, err);
    if (st != LAIR_OK) goto fail;
    /* calloc(count, size) checks count * size for overflow itself */
    s->cands = lair_calloc((size_t)n_vocab, sizeof *s->cands);
    s->counts = lair_calloc((size_t)n_vocab, sizeof *s->counts);
    if (!s->cands || !s->counts) goto nomem;
    if (p->penalty_last_n > 0 && !(s->ring = lair_calloc((size_t)p->penalty_last_n, sizeof *s->ring))) goto nomem;
    if (p->n_bias > 0) {
        if (!(s->bias = lair_calloc((size_t)n_vocab, sizeof *s->bias))) goto nomem;
        for (int32_t i = 0; i < p->n_bias; i++) s->bias[p->bias[i].token] += p->bias[i].bias;
        for (int32_t i = 0; i < p->n_bias; i++) {
            float *b = &s->bias[p->bias[i].token];
            if (*b <= LAIR_SAMPLER_BIAS_BAN || isnan(*b)) *b = -INFINITY; /* NaN: -inf plus +huge sums */
        }
    }
    s->rng = lair_rng_seed(p->seed);
    *out = s;
    return LAIR_OK;
nomem:
    st = lair_err_set(err, LAIR_ERR_NOMEM, "sampler: out of memory for a vocabulary of %d tokens", (int)n_vocab);
fail:
    lair_sampler_free(s);
    return st;
}

void lair_sampler_free(lair_sampler *s) {
    if (!s) return;
    lair_free(s->bias);
    lair_free(s->cands);
    lair_free(s->counts);
    lair_free(s->ring);
    lair_free(s);
}

/* ---- history ------------------------------------------------------------- */

void lair_sampler_accept(lair_sampler *s, int32_t token) {
    if (!s || token < 0 || token >= s->n_vocab || s->p.penalty_last_n == 0) return;
    if (s->ring_len == s->p.penalty_last_n) s->counts[s->ring[s->ring_pos]]--;
    else s->ring_len++;
    s->ring[s->ring_pos] = token;
    s->counts[token]++;
    s->ring_pos = s->ring_pos + 1 == s->p.penalty_last_n ? 0 : s->ring_pos + 1;
}

void lair_sampler_reset(lair_sampler *s) {
    if (!s) return;
    for (int32_t i = 0; i < s->ring_len; i++) s->counts[s->ring[i]]--;
    s->ring_len = 0;
    s->ring_pos = 0;
    s->rng = lair_rng_seed(s->p.seed);
}

/* ---- ordering ------------------------------------------------------------ */

static inline bool better(const cand *a, const cand *b) { return a->key > b->key || (a->key == b->key && a->id < b->id); }

static inline void cand_swap(cand *a, cand *b) {
    cand t = *a;
    *a = *b;
    *b = t;
}

/* Partitions c[lo, hi) (hi - lo >= 2) around a random pivot and returns its
 * final index: better candidates before it, worse after. */
static int32_t partition(lair_sampler *s, cand *c, int32_t lo, int32_t hi) {
    int32_t r = lo + (int32_t)lair_rng_below(&s->pivot, (uint64_t)(hi - lo));
    cand_swap(&c[r], &c[hi - 1]);
    const cand piv = c[hi - 1];
    int32_t at = lo;
    for (int32_t i = lo; i < hi - 1; i++)
        if (better(&c[i], &piv)) cand_swap(&c[i], &c[at++]);
    cand_swap(&c[at], &c[hi - 1]);
    return at;
}

/* Quickselect: moves the best k - lo of c[lo, hi) into c[lo, k), unordered.
 * Expected O(hi - lo). */
static void select_best(lair_sampler *s, cand *c, int32_t lo, int32_t hi, int32_t k) {
    while (lo < k && k < hi) {
        int32_t q = partition(s, c, lo, hi);
        if (q < k) lo = q + 1;
        else hi = q;
    }
}

/* Quicksort, best first; recursion on the smaller side keeps the depth at log n. */
static void sort_range(lair_sampler *s, cand *c, int32_t lo, int32_t hi) {
    while (hi - lo > 16) {
        int32_t q = partition(s, c, lo, hi);
        if (q - lo < hi - q) {
            sort_range(s, c, lo, q);
            lo = q + 1;
        } else {
            sort_range(s, c, q + 1, hi);
            hi = q;
        }
    }
    for (int32_t i = lo + 1; i < hi; i++) {
        cand x = c[i];
        int32_t j = i;
        for (; j > lo && better(&x, &c[j - 1]); j--) c[j] = c[j - 1];
        c[j] = x;
    }
}

/* Heap selection: moves the best k_end - lo of c[lo, hi) into c[lo, k_end),
 * unordered.  The heap's root is the worst kept so far; one comparison
 * rejects almost every other candidate, so for small k this is about one
 * pass over the rest (worst case, logits ascending by id, O(n log k)). */
static void sift_down(cand *h, int32_t k, int32_t i) {
    for (;;) {
        int32_t l = 2 * i + 1, w = i;
        if (l < k && better(&h[w], &h[l])) w = l;
        if (l + 1 < k && better(&h[w], &h[l + 1])) w = l + 1;
        if (w == i) return;
        cand_swap(&h[i], &h[w]);
        i = w;
    }
}

static void heap_select(cand *c, int32_t lo, int32_t hi, int32_t k_end) {
    cand *h = c + lo;
    const int32_t k = k_end - lo;
    for (int32_t i = k / 2 - 1; i >= 0; i--) sift_down(h, k, i);
    for (int32_t i = k_end; i < hi; i++) {
        if (better(&c[i], &h[0])) {
            cand_swap(&c[i], &h[0]);
            sift_down(h, k, 0);
        }
    }
}

/* Grows the sorted prefix to min(m, n_cur) candidates: selects the best of
 * the unsorted rest and sorts only those. */
static void sort_prefix(lair_sampler *s, int32_t m) {
    if (m > s->n_cur) m = s->n_cur;
    if (m <= s->n_sorted) return;
    const int32_t want = m - s->n_sorted, rest = s->n_cur - s->n_sorted;
    if (want <= 256 && rest >= 8 * want) heap_select(s->cands, s->n_sorted, s->n_cur, m);
    else select_best(s, s->cands, s->n_sorted, s->n_cur, m);
    sort_range(s, s->cands, s->n_sorted, m);
    s->n_sorted = m;
}

static float max_logit(const lair_sampler *s) {
    if (s->n_sorted > 0) return s->cands[0].logit; /* keys are logits outside typical_p */
    float mx = -FLT_MAX;
    for (int32_t i = 0; i < s->n_cur; i++)
        if (s->cands[i].logit > mx) mx = s->cands[i].logit;
    return mx;
}

/* exp(x) for x <= 0 given in double; below -150 expf is 0 anyway, and the
 * clamp keeps the conversion to float in range. */
static inline float exp_nonpos(double x) { return x < -150.0 ? 0.0f : expf((float)x); }

/* p = exp((logit - max) * scale) for the live candidates; returns their sum
 * (>= 1: the maximum contributes exp(0)).  The difference is formed in
 * double (logits may be as large as FLT_MAX, scale as large as 1/FLT_MIN);
 * expf of the result is exact enough for probabilities and much cheaper
 * than exp over 128k tokens. */
static double weights(lair_sampler *s) {
    cand *c = s->cands;
    const double mx = max_logit(s);
    double z = 0;
    for (int32_t i = 0; i < s->n_cur; i++) {
        c[i].p = exp_nonpos(((double)c[i].logit - mx) * s->scale);
        z += c[i].p;
    }
    return z;
}

/* p = softmax(logit * scale) over the live candidates. */
static void softmax(lair_sampler *s) {
    const float inv = (float)(1.0 / weights(s));
    for (int32_t i = 0; i < s->n_cur; i++) s->cands[i].p *= inv;
}

/* Quickselect on probability mass: given that the best `lo` candidates
 * (mass acc < mass) are in cands[0, lo), moves the smallest set of best
 * candidates whose mass reaches `mass` into cands[0, k) and returns k
 * (n_cur if the total falls short).  Only the last few are sorted; expected
 * O(n_cur - lo). */
static int32_t select_mass(lair_sampler *s, int32_t lo, double acc, double mass) {
    cand *c = s->cands;
    int32_t hi = s->n_cur; /* the answer is <= hi */
    while (hi - lo > 32) {
        const int32_t q = partition(s, c, lo, hi);
        double left = 0;
        for (int32_t i = lo; i < q; i++) left += c[i].p;
        if (acc + left >= mass) {
            hi = q;
        } else if (acc + left + c[q].p >= mass) {
            return q + 1;
        } else {
            acc += left + c[q].p;
            lo = q + 1;
        }
    }
    sort_range(s, c, lo, hi);
    for (int32_t i = lo; i < hi; i++) {
        acc += c[i].p;
        if (acc >= mass) return i + 1;
    }
    return hi; /* hi < n_cur only if summing in another order rounded differently */
}

/* Number of best-by-key candidates whose probabilities first add up to
 * >= mass (at least 1).  The 64 best are found by heap selection, which is
 * all a peaked distribution needs; a flat one goes on to select_mass. */
static int32_t keep_mass(lair_sampler *s, double mass) {
    sort_prefix(s, 64);
    double cum = 0;
    for (int32_t i = 0; i < s->n_sorted; i++) {
        cum += s->cands[i].p;
        if (cum >= mass) return i + 1;
    }
    if (s->n_sorted >= s->n_cur) return s->n_cur;
    return select_mass(s, s->n_sorted, cum, mass);
}

/* ---- stages -------------------------------------------------------------- */

static float penalise(const lair_sampler *s, float logit, int32_t count) {
    double l = logit, r = s->p.repeat_penalty;
    if (r != 1.0) l = l > 0 ? l / r : l * r;
    l -= (double)count * s->p.frequency_penalty + s->p.presence_penalty;
    if (l > FLT_MAX) l = FLT_MAX; /* a penalty never removes a token, only makes it unlikely */
    if (l < -FLT_MAX) l = -FLT_MAX;
    return (float)l;
}

static bool penalties_active(const lair_sampler *s) {
    return s->ring_len > 0 &&
           (s->p.repeat_penalty != 1.0f || s->p.frequency_penalty != 0.0f || s->p.presence_penalty != 0.0f);
}

static void stage_penalties(lair_sampler *s) {
    if (!penalties_active(s)) return;
    for (int32_t i = 0; i < s->n_cur; i++) {
        cand *c = &s->cands[i];
        int32_t n = s->counts[c->id];
        if (n > 0) c->logit = c->key = penalise(s, c->logit, n);
    }
    s->n_sorted = 0;
}

static void stage_top_k(lair_sampler *s) {
    int32_t k = s->p.top_k;
    if (k <= 0 || k >= s->n_cur) return;
    sort_prefix(s, k);
    s->n_cur = k;
    if (s->n_sorted > k) s->n_sorted = k;
}

static void stage_top_p(lair_sampler *s) {
    if (s->p.top_p >= 1.0f) return;
    softmax(s);
    s->n_cur = keep_mass(s, s->p.top_p);
    if (s->n_sorted > s->n_cur) s->n_sorted = s->n_cur;
}

static void stage_min_p(lair_sampler *s) {
    if (s->p.min_p <= 0.0f) return;
    const double mx = max_logit(s), lim = log((double)s->p.min_p);
    int32_t n = 0, sorted = 0;
    /* Stable compaction: the filter is monotone in the logit, so the sorted
     * prefix's survivors are still the best, in order. */
    for (int32_t i = 0; i < s->n_cur; i++) {
        if (((double)s->cands[i].logit - mx) * s->scale >= lim) {
            if (i < s->n_sorted) sorted++;
            s->cands[n++] = s->cands[i];
        }
    }
    s->n_cur = n;
    s->n_sorted = sorted;
}

static void stage_typical_p(lair_sampler *s) {
    if (s->p.typical_p >= 1.0f) return;
    softmax(s);
    double h = 0; /* entropy, nats */
    for (int32_t i = 0; i < s->n_cur; i++)
        if (s->cands[i].p > 0) h -= s->cands[i].p * log(s->cands[i].p);
    for (int32_t i = 0; i < s->n_cur; i++) {
        cand *c = &s->cands[i];
        c->key = c->p > 0 ? (float)-fabs(-log(c->p) - h) : -INFINITY; /* most typical first */
    }
    s->n_sorted = 0;
    s->n_cur = keep_mass(s, s->p.typical_p);
    for (int32_t i = 0; i < s->n_cur; i++) s->cands[i].key = s->cands[i].logit;
    s->n_sorted = 0;
}

/* ---- sampling ------------------------------------------------------------ */

/* Candidates = every token whose biased logit is not -inf/NaN, in id order. */
static void fill(lair_sampler *s, const float *logits) {
    int32_t n = 0;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        if (s->allow && !(s->allow[i >> 5] >> (i & 31) & 1)) continue;
        float l = logits[i];
        if (s->bias) l += s->bias[i];
        if (!(l > -INFINITY)) continue;
        if (l > FLT_MAX) l = FLT_MAX;
        s->cands[n++] = (cand){i, l, l, 0.0f};
    }
    s->n_cur = n;
    s->n_sorted = 0;
    s->scale = 1.0;
    s->pivot = lair_rng_seed(PIVOT_SEED);
}

static int32_t draw(lair_sampler *s) {
    const double u = lair_rng_unit(&s->rng) * weights(s);
    double acc = 0;
    int32_t last = 0;
    for (int32_t i = 0; i < s->n_cur; i++) {
        if (s->cands[i].p <= 0) continue;
        acc += s->cands[i].p;
        last = i;
        if (u < acc) return s->cands[i].id;
    }
    return s->cands[last].id; /* rounding: u landed on the last sliver */
}

/* The logit logprobs are computed from: bias, then penalties if the chain
 * has them; -inf for a removed token. */
static double full_logit(const lair_sampler *s, const float *logits, int32_t i, bool pen) {
    if (s->allow && !(s->allow[i >> 5] >> (i & 31) & 1)) return -INFINITY;
    float l = logits[i];
    if (s->bias) l += s->bias[i];
    if (!(l > -INFINITY)) return -INFINITY;
    if (l > FLT_MAX) l = FLT_MAX;
    if (pen && s->counts[i] > 0) l = penalise(s, l, s->counts[i]);
    return l;
}

static void fill_logprobs(const lair_sampler *s, const float *logits, int32_t tok, lair_token_logprobs *lp) {
    lp->token = tok;
    lp->logprob = -INFINITY;
    lp->n_top = 0;
    if (tok < 0) return;
    const bool pen = s->has_penalties && penalties_active(s);
    double mx = -INFINITY;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        double l = full_logit(s, logits, i, pen);
        if (l > mx) mx = l;
    }
    const int32_t want = s->p.n_logprobs;
    double top_l[LAIR_SAMPLER_MAX_LOGPROBS];
    double z = 0;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        double l = full_logit(s, logits, i, pen);
        if (l == -INFINITY) continue;
        z += exp_nonpos(l - mx);
        if (want == 0 || (lp->n_top == want && !(l > top_l[want - 1]))) continue;
        int32_t j = lp->n_top < want ? lp->n_top++ : want - 1; /* ids ascend: an equal logit stays behind */
        for (; j > 0 && top_l[j - 1] < l; j--) {
            top_l[j] = top_l[j - 1];
            lp->top[j].token = lp->top[j - 1].token;
        }
        top_l[j] = l;
        lp->top[j].token = i;
    }
    const double log_z = mx + log(z);
    for (int32_t j = 0; j < lp->n_top; j++) lp->top[j].logprob = (float)fmax(top_l[j] - log_z, -FLT_MAX);
    lp->logprob = (float)fmax(full_logit(s, logits, tok, pen) - log_z, -FLT_MAX);
}

void lair_sampler_set_allowed(lair_sampler *s, const uint32_t *allow) { s->allow = allow; }

/* Greedy with no penalty to apply: of the candidates fill() would list,
 * the one with the largest biased logit (the lowest id among equals),
 * found without listing them (for a vocabulary of 128K that list is 2 MiB
 * per token); -1 when there is none. */
static int32_t greedy_argmax(const lair_sampler *s, const float *logits) {
    int32_t best = -1;
    if (!s->allow && !s->bias) { /* the usual case, one compare per logit */
        float best_l = -INFINITY; /* NaN and -inf never pass the compare */
        for (int32_t i = 0; i < s->n_vocab; i++) {
            float l = logits[i] > FLT_MAX ? FLT_MAX : logits[i]; /* fill()'s clamp: +inf ties with FLT_MAX */
            if (l > best_l) best = i, best_l = l;
        }
        return best;
    }
    double best_l = 0.0;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        double l = full_logit(s, logits, i, false);
        if (l > -INFINITY && (best < 0 || l > best_l)) best = i, best_l = l;
    }
    return best;
}

int32_t lair_sampler_sample(lair_sampler *s, const float *logits, lair_token_logprobs *lp) {
    if (s->p.temperature <= 0.0f && !(s->has_penalties && penalties_active(s))) {
        int32_t tok = greedy_argmax(s, logits);
        if (lp) fill_logprobs(s, logits, tok, lp);
        return tok;
    }
    fill(s, logits);
    int32_t tok = -1;
    if (s->n_cur > 0 && s->p.temperature <= 0.0f) {
        if (s->has_penalties) stage_penalties(s);
        const cand *best = &s->cands[0];
        for (int32_t i = 1; i < s->n_cur; i++)
            if (better(&s->cands[i], best)) best = &s->cands[i];
        tok = best->id;
    } else if (s->n_cur > 0) {
        for (int32_t i = 0; i < s->n_chain; i++) {
            switch (s->chain[i]) {
            case ST_PENALTIES: stage_penalties(s); break;
            case ST_TOP_K: stage_top_k(s); break;
            case ST_TYPICAL_P: stage_typical_p(s); break;
            case ST_TOP_P: stage_top_p(s); break;
            case ST_MIN_P: stage_min_p(s); break;
            case ST_TEMPERATURE: s->scale = 1.0 / s->p.temperature; break;
            case ST_COUNT: break;
            }
        }
        tok = draw(s);
    }
    if (lp) fill_logprobs(s, logits, tok, lp);
    return tok;
}
