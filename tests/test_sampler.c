/* Unit tests of the token samplers (src/text/sampler.h) and the stop-string
 * matcher (src/text/stop.h):
 *   - distributions: with a fixed seed, empirical frequencies of 20k-100k
 *     draws match the expected probabilities within 5 standard errors for
 *     temperature, top_k, top_p, min_p and typical_p (sets worked out by hand
 *     in the comments);
 *   - exact effects: penalties and bias seen through the log-probabilities,
 *     greedy ties, bans, chain order, determinism, reset;
 *   - parameter checks name the parameter and the value;
 *   - a 128k vocabulary against a reference computed with a full sort;
 *   - stop strings split across pieces, released partial matches, UTF-8,
 *     and a random comparison with a whole-text search. */
/* aarch64-linux-gnu-gcc 12 crashes vectorizing some loops of this file
 * (internal compiler error in vect_transform_reduction); a test need not be
 * vectorized. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-vectorize")
#endif
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/alloc.h"
#include "core/rng.h"
#include "text/sampler.h"
#include "text/stop.h"

/* ---- helpers ---------------------------------------------------------------- */

/* Params with every truncation off: a plain draw at temperature t. */
static lair_sampler_params plain(float t) {
    lair_sampler_params p = lair_sampler_default_params();
    p.temperature = t;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    return p;
}

static lair_sampler *make(const lair_sampler_params *p, int32_t n_vocab) {
    lair_sampler *s = NULL;
    lair_err err = {0};
    lair_status st = lair_sampler_create(p, n_vocab, &s, &err);
    CHECKF(st == LAIR_OK, "create: %s", err.msg);
    return s;
}

/* logits[i] = log(probs[i]): softmax gives probs back. */
static void log_of(const double *probs, float *logits, int n) {
    for (int i = 0; i < n; i++) logits[i] = (float)log(probs[i]);
}

/* Draws n_draws tokens from fixed logits (nothing accepted) and compares
 * the frequencies with want[] (0 means never); 5 standard errors. */
static void check_freq(lair_sampler *s, const float *logits, int n_vocab, const double *want, int n_draws, const char *what) {
    long count[64] = {0};
    REQUIRE(n_vocab <= 64);
    for (int i = 0; i < n_draws; i++) {
        int32_t t = lair_sampler_sample(s, logits, NULL);
        REQUIRE(t >= 0 && t < n_vocab);
        count[t]++;
    }
    for (int i = 0; i < n_vocab; i++) {
        double f = (double)count[i] / n_draws, se = sqrt(want[i] * (1 - want[i]) / n_draws);
        if (want[i] == 0) CHECKF(count[i] == 0, "%s: token %d drawn %ld times, should never be", what, i, count[i]);
        else CHECKF(fabs(f - want[i]) <= 5 * se + 1e-9, "%s: token %d frequency %.5f, want %.5f (se %.5f)", what, i, f, want[i], se);
    }
}

static void softmax_ref(const float *logits, int n, double t, double *out) {
    double mx = -INFINITY, z = 0;
    for (int i = 0; i < n; i++) mx = fmax(mx, logits[i]);
    for (int i = 0; i < n; i++) z += out[i] = exp((logits[i] - mx) / t);
    for (int i = 0; i < n; i++) out[i] /= z;
}

static const double five[5] = {0.5, 0.2, 0.15, 0.1, 0.05};

/* ---- distributions ------------------------------------------------------------ */

TEST(sampler_temperature_distribution) {
    const float logits[5] = {1.0f, 2.0f, 0.5f, -1.0f, 3.0f};
    const double temps[] = {1.0, 0.5, 2.0};
    for (int k = 0; k < 3; k++) {
        lair_sampler_params p = plain((float)temps[k]);
        p.seed = 1234 + (uint64_t)k;
        lair_sampler *s = make(&p, 5);
        REQUIRE(s);
        double want[5];
        softmax_ref(logits, 5, temps[k], want);
        char what[32];
        snprintf(what, sizeof what, "T=%g", temps[k]);
        check_freq(s, logits, 5, want, 100000, what);
        lair_sampler_free(s);
    }
}

TEST(sampler_top_k) {
    enum { N = 50, K = 5 };
    float logits[N];
    lair_rng r = lair_rng_seed(7);
    for (int i = 0; i < N; i++) logits[i] = lair_rng_normal(&r) * 2;
    /* the K best, by a full scan */
    int best[K];
    for (int k = 0; k < K; k++) {
        best[k] = -1;
        for (int i = 0; i < N; i++) {
            int taken = 0;
            for (int j = 0; j < k; j++) taken |= best[j] == i;
            if (!taken && (best[k] < 0 || logits[i] > logits[best[k]])) best[k] = i;
        }
    }
    double want[N] = {0}, z = 0;
    for (int k = 0; k < K; k++) z += exp(logits[best[k]]);
    for (int k = 0; k < K; k++) want[best[k]] = exp(logits[best[k]]) / z;
    lair_sampler_params p = plain(1.0f);
    p.top_k = K;
    lair_sampler *s = make(&p, N);
    REQUIRE(s);
    check_freq(s, logits, N, want, 40000, "top_k 5");
    lair_sampler_free(s);
    /* k larger than the vocabulary is no truncation */
    p.top_k = 1000;
    s = make(&p, 5);
    float l5[5];
    log_of(five, l5, 5);
    check_freq(s, l5, 5, five, 20000, "top_k 1000");
    lair_sampler_free(s);
}

TEST(sampler_top_p) {
    /* p = .5 .2 .15 .1 .05; top_p .8: .5, .7, .85 >= .8 -> {0, 1, 2} */
    float logits[5];
    log_of(five, logits, 5);
    lair_sampler_params p = plain(1.0f);
    p.top_p = 0.8f;
    lair_sampler *s = make(&p, 5);
    REQUIRE(s);
    const double want[5] = {0.5 / 0.85, 0.2 / 0.85, 0.15 / 0.85, 0, 0};
    check_freq(s, logits, 5, want, 50000, "top_p .8");
    lair_sampler_free(s);
    /* top_p 0 keeps only the most probable */
    p.top_p = 0.0f;
    s = make(&p, 5);
    const double only0[5] = {1, 0, 0, 0, 0};
    check_freq(s, logits, 5, only0, 1000, "top_p 0");
    lair_sampler_free(s);
    /* exact mass: four equal logits give p = .25 exactly; top_p .5 is reached
     * (>=) with two tokens, ties going to the lower ids */
    const float flat[4] = {0, 0, 0, 0};
    p.top_p = 0.5f;
    s = make(&p, 4);
    const double half[4] = {0.5, 0.5, 0, 0};
    check_freq(s, flat, 4, half, 20000, "top_p .5 flat");
    lair_sampler_free(s);
    p.top_p = 0.0f;
    p.top_k = 3;
    p.chain = "top_p;top_k"; /* top_p first: one token left, top_k has nothing to do */
    s = make(&p, 4);
    const double first[4] = {1, 0, 0, 0};
    check_freq(s, flat, 4, first, 1000, "top_p 0 flat");
    lair_sampler_free(s);
}

TEST(sampler_min_p) {
    /* min_p .25: p >= .25 * .5 = .125 -> {0, 1, 2} */
    float logits[5];
    log_of(five, logits, 5);
    lair_sampler_params p = plain(1.0f);
    p.min_p = 0.25f;
    lair_sampler *s = make(&p, 5);
    REQUIRE(s);
    const double want[5] = {0.5 / 0.85, 0.2 / 0.85, 0.15 / 0.85, 0, 0};
    check_freq(s, logits, 5, want, 50000, "min_p .25");
    lair_sampler_free(s);
}

TEST(sampler_typical_p) {
    /* p = .5 .2 .15 .1 .05: entropy H = 1.33308 nats; |-ln p - H| =
     * .640 .276 .564 .970 1.663, so the order by typicality is 1, 2, 0, 3, 4.
     * typical_p .3: .2, .35 >= .3 -> {1, 2}: the most probable token goes.
     * typical_p .5: .2, .35, .85 -> {1, 2, 0}. */
    float logits[5];
    log_of(five, logits, 5);
    lair_sampler_params p = plain(1.0f);
    p.typical_p = 0.3f;
    lair_sampler *s = make(&p, 5);
    REQUIRE(s);
    const double want3[5] = {0, 0.2 / 0.35, 0.15 / 0.35, 0, 0};
    check_freq(s, logits, 5, want3, 50000, "typical_p .3");
    lair_sampler_free(s);
    p.typical_p = 0.5f;
    s = make(&p, 5);
    const double want5[5] = {0.5 / 0.85, 0.2 / 0.85, 0.15 / 0.85, 0, 0};
    check_freq(s, logits, 5, want5, 50000, "typical_p .5");
    lair_sampler_free(s);
}

/* ---- exact effects ------------------------------------------------------------- */

TEST(sampler_greedy) {
    const float logits[6] = {0.5f, 3.0f, -2.0f, 3.0f, NAN, 1.0f};
    const float temps[] = {0.0f, -1.0f};
    for (int k = 0; k < 2; k++) {
        lair_sampler_params p = lair_sampler_default_params();
        p.temperature = temps[k];
        lair_sampler *s = make(&p, 6);
        REQUIRE(s);
        for (int i = 0; i < 5; i++) CHECK(lair_sampler_sample(s, logits, NULL) == 1); /* tie 1 vs 3: lower id */
        lair_sampler_free(s);
    }
    /* plain greedy picks without listing candidates: the same token as the
     * candidate path (taken when a penalty applies: here to the last token,
     * said once and always -inf) on random logits with ties, -inf, NaN, +inf */
    enum { V = 5000 };
    float *big = malloc(V * sizeof *big);
    REQUIRE(big);
    lair_rng r = lair_rng_seed(11);
    lair_sampler_params pg = plain(0.0f), pp = plain(0.0f);
    pp.repeat_penalty = 1.5f;
    lair_sampler *sg = make(&pg, V), *sp = make(&pp, V);
    REQUIRE(sg && sp);
    lair_sampler_accept(sp, V - 1);
    for (int round = 0; round < 40; round++) {
        for (int i = 0; i < V; i++) big[i] = (float)(int)(lair_rng_normal(&r) * 3); /* many ties */
        for (int i = 0; i < V; i += 97 + round) big[i] = round % 3 == 0 ? NAN : round % 3 == 1 ? -INFINITY : big[i];
        if (round % 5 == 4) big[(round * 131) % V] = INFINITY;
        if (round % 5 == 4) big[(round * 131) % V / 2] = FLT_MAX; /* ties with +inf, and comes first */
        if (round == 39)
            for (int i = 0; i < V; i++) big[i] = -INFINITY;
        big[V - 1] = -INFINITY;
        int32_t a = lair_sampler_sample(sg, big, NULL), b = lair_sampler_sample(sp, big, NULL);
        CHECKF(a == b, "round %d: greedy %d, candidate path %d", round, (int)a, (int)b);
    }
    lair_sampler_free(sg);
    lair_sampler_free(sp);
    free(big);
    /* greedy still applies penalties: 0 was said, so 1 wins */
    lair_sampler_params p = plain(0.0f);
    p.repeat_penalty = 1.5f;
    lair_sampler *s = make(&p, 2);
    REQUIRE(s);
    const float l2[2] = {2.0f, 1.9f};
    CHECK(lair_sampler_sample(s, l2, NULL) == 0);
    lair_sampler_accept(s, 0);
    CHECK(lair_sampler_sample(s, l2, NULL) == 1);
    lair_sampler_free(s);
}

TEST(sampler_penalties_exact) {
    /* window 0 0 1: counts 2, 1.  repeat 2, frequency .5, presence .25:
     *   token 0: 2 / 2 - 2 * .5 - .25 = -.25
     *   token 1: -1 * 2 - 1 * .5 - .25 = -2.75
     *   tokens 2, 3 unchanged.  Seen through the logprobs (chain has penalties). */
    const float logits[4] = {2.0f, -1.0f, 0.5f, 1.0f};
    lair_sampler_params p = plain(1.0f);
    p.repeat_penalty = 2.0f;
    p.frequency_penalty = 0.5f;
    p.presence_penalty = 0.25f;
    p.n_logprobs = 4;
    lair_sampler *s = make(&p, 4);
    REQUIRE(s);
    lair_sampler_accept(s, 0);
    lair_sampler_accept(s, 0);
    lair_sampler_accept(s, 1);
    lair_sampler_accept(s, 99); /* out of range: ignored */
    lair_sampler_accept(s, -1);
    lair_token_logprobs lp;
    lair_sampler_sample(s, logits, &lp);
    float want[4] = {-0.25f, -2.75f, 0.5f, 1.0f};
    double wp[4];
    softmax_ref(want, 4, 1.0, wp);
    REQUIRE(lp.n_top == 4);
    const int order[4] = {3, 2, 0, 1};
    for (int j = 0; j < 4; j++) {
        CHECKF(lp.top[j].token == order[j], "rank %d: token %d, want %d", j, lp.top[j].token, order[j]);
        CHECKF(fabs(lp.top[j].logprob - log(wp[order[j]])) < 1e-5, "rank %d: logprob %g want %g", j, lp.top[j].logprob,
               log(wp[order[j]]));
    }
    /* a window of 2 keeps only the last two tokens: 0 once, 1 once:
     *   token 0: 1 - .5 - .25 = .25; token 1: -2 - .75 = -2.75 */
    p.penalty_last_n = 2;
    lair_sampler_free(s);
    s = make(&p, 4);
    lair_sampler_accept(s, 0);
    lair_sampler_accept(s, 0);
    lair_sampler_accept(s, 1);
    lair_sampler_sample(s, logits, &lp);
    want[0] = 0.25f;
    softmax_ref(want, 4, 1.0, wp);
    for (int j = 0; j < 4; j++) {
        int t = lp.top[j].token;
        CHECKF(fabs(lp.top[j].logprob - log(wp[t])) < 1e-5, "window 2: token %d logprob %g want %g", t, lp.top[j].logprob, log(wp[t]));
    }
    /* reset forgets the window */
    lair_sampler_reset(s);
    lair_sampler_sample(s, logits, &lp);
    softmax_ref(logits, 4, 1.0, wp);
    for (int j = 0; j < 4; j++) {
        int t = lp.top[j].token;
        CHECKF(fabs(lp.top[j].logprob - log(wp[t])) < 1e-5, "after reset: token %d logprob %g want %g", t, lp.top[j].logprob, log(wp[t]));
    }
    lair_sampler_free(s);
    /* without "penalties" in the chain nothing is penalised */
    p.chain = "top_k;top_p;min_p;temperature";
    p.penalty_last_n = 64;
    s = make(&p, 4);
    lair_sampler_accept(s, 0);
    lair_sampler_sample(s, logits, &lp);
    CHECK(lp.top[0].token == 0 && fabs(lp.top[0].logprob - log(wp[0])) < 1e-5);
    lair_sampler_free(s);
}

TEST(sampler_penalty_draws) {
    /* penalties change the drawn distribution, not only the logprobs:
     * logits 0 0, token 0 said, presence 1: p(0) = e^-1 / (1 + e^-1) */
    const float logits[2] = {0.0f, 0.0f};
    lair_sampler_params p = plain(1.0f);
    p.presence_penalty = 1.0f;
    lair_sampler *s = make(&p, 2);
    REQUIRE(s);
    lair_sampler_accept(s, 0);
    const double e = exp(-1.0), want[2] = {e / (1 + e), 1 / (1 + e)};
    check_freq(s, logits, 2, want, 50000, "presence 1");
    lair_sampler_free(s);
}

TEST(sampler_logit_bias) {
    float logits[5];
    log_of(five, logits, 5);
    const lair_logit_bias bias[3] = {{0, -INFINITY}, {1, -100.0f}, {3, 1.0f}};
    lair_sampler_params p = plain(1.0f);
    p.bias = bias;
    p.n_bias = 3;
    p.n_logprobs = 5;
    lair_sampler *s = make(&p, 5);
    REQUIRE(s);
    /* left: 2 (.15), 3 (.1 e), 4 (.05) */
    const double z = 0.15 + 0.1 * exp(1.0) + 0.05;
    const double want[5] = {0, 0, 0.15 / z, 0.1 * exp(1.0) / z, 0.05 / z};
    check_freq(s, logits, 5, want, 50000, "bias");
    lair_token_logprobs lp;
    lair_sampler_sample(s, logits, &lp);
    CHECK(lp.n_top == 3); /* banned tokens are not alternatives */
    CHECK(lp.top[0].token == 3 && fabs(lp.top[0].logprob - log(want[3])) < 1e-5);
    lair_sampler_free(s);

    /* everything banned or not a number: -1, and the logprobs say so */
    const lair_logit_bias ban_all[2] = {{0, -200.0f}, {1, -INFINITY}};
    const float two[2] = {1.0f, NAN};
    p = lair_sampler_default_params();
    p.bias = ban_all;
    p.n_bias = 1;
    p.n_logprobs = 2;
    s = make(&p, 2);
    CHECK(lair_sampler_sample(s, two, &lp) == -1);
    CHECK(lp.token == -1 && lp.n_top == 0);
    lair_sampler_free(s);
    p.n_bias = 2;
    p.temperature = 0;
    s = make(&p, 2);
    const float fine[2] = {1.0f, 2.0f};
    CHECK(lair_sampler_sample(s, fine, NULL) == -1);
    lair_sampler_free(s);
    /* +inf logits do not break the arithmetic */
    p = plain(1.0f);
    p.n_logprobs = 2;
    s = make(&p, 3);
    const float inf3[3] = {INFINITY, 0.0f, -INFINITY};
    for (int i = 0; i < 10; i++) CHECK(lair_sampler_sample(s, inf3, &lp) == 0);
    CHECK(lp.logprob == 0.0f && lp.n_top == 2 && lp.top[1].token == 1 && isfinite(lp.top[1].logprob));
    lair_sampler_free(s);
}

/* A grammar's mask: tokens outside it behave as banned, in draws, greedy
 * picks and logprobs; clearing it restores every token. */
TEST(sampler_allowed_mask) {
    float logits[5];
    log_of(five, logits, 5);
    lair_sampler_params p = plain(1.0f);
    p.n_logprobs = 5;
    lair_sampler *s = make(&p, 5);
    REQUIRE(s);
    const uint32_t allow = 1u << 1 | 1u << 3; /* tokens 1 (.2) and 3 (.1) */
    lair_sampler_set_allowed(s, &allow);
    const double want[5] = {0, 0.2 / 0.3, 0, 0.1 / 0.3, 0};
    check_freq(s, logits, 5, want, 30000, "allowed");
    lair_token_logprobs lp;
    lair_sampler_sample(s, logits, &lp);
    CHECK(lp.n_top == 2 && lp.top[0].token == 1 && fabs(lp.top[0].logprob - log(want[1])) < 1e-5);
    lair_sampler_set_allowed(s, NULL);
    check_freq(s, logits, 5, five, 30000, "cleared");
    lair_sampler_free(s);
    p.temperature = 0;
    s = make(&p, 5);
    lair_sampler_set_allowed(s, &allow);
    CHECK(lair_sampler_sample(s, logits, NULL) == 1);
    const uint32_t none = 0;
    lair_sampler_set_allowed(s, &none);
    CHECK(lair_sampler_sample(s, logits, NULL) == -1);
    lair_sampler_free(s);
}

TEST(sampler_determinism) {
    enum { N = 1000, STEPS = 300 };
    static float logits[N];
    int32_t a[STEPS], b[STEPS], c[STEPS], d[STEPS];
    int32_t *runs[4] = {a, b, c, d};
    const uint64_t seeds[4] = {42, 42, 43, 42};
    for (int run = 0; run < 4; run++) {
        lair_sampler_params p = lair_sampler_default_params();
        p.seed = seeds[run];
        p.repeat_penalty = 1.1f;
        p.top_k = 100;
        lair_sampler *s = make(&p, N);
        REQUIRE(s);
        if (run == 3) { /* used, then reset: same as fresh */
            lair_rng junk = lair_rng_seed(5);
            for (int i = 0; i < N; i++) logits[i] = lair_rng_normal(&junk);
            for (int i = 0; i < 17; i++) lair_sampler_accept(s, lair_sampler_sample(s, logits, NULL));
            lair_sampler_reset(s);
        }
        lair_rng r = lair_rng_seed(99);
        for (int t = 0; t < STEPS; t++) {
            for (int i = 0; i < N; i++) logits[i] = lair_rng_normal(&r) * 1.5f;
            runs[run][t] = lair_sampler_sample(s, logits, NULL);
            lair_sampler_accept(s, runs[run][t]);
        }
        lair_sampler_free(s);
    }
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(a, d, sizeof a) == 0);
    int differ = 0;
    for (int t = 0; t < STEPS; t++) differ += a[t] != c[t];
    CHECKF(differ > STEPS / 4, "seeds 42 and 43 differ at only %d of %d steps", differ, STEPS);
}

TEST(sampler_chain_order) {
    /* p = .5 .2 .15 .1 .05, T .5 (p^2: .769 .123 .069 .031 .008), top_p .8:
     *   "top_p;temperature": nucleus at T 1 = {0, 1, 2}, then drawn from p^2
     *   "temperature;top_p": nucleus at T .5 = {0, 1} (.769, .892) */
    float logits[5];
    log_of(five, logits, 5);
    lair_sampler_params p = plain(0.5f);
    p.top_p = 0.8f;
    p.chain = "top_p; temperature";
    lair_sampler *s = make(&p, 5);
    REQUIRE(s);
    const double z3 = 0.25 + 0.04 + 0.0225, z2 = 0.25 + 0.04;
    const double want_a[5] = {0.25 / z3, 0.04 / z3, 0.0225 / z3, 0, 0};
    check_freq(s, logits, 5, want_a, 50000, "top_p;temperature");
    lair_sampler_free(s);
    p.chain = "temperature,top_p";
    s = make(&p, 5);
    const double want_b[5] = {0.25 / z2, 0.04 / z2, 0, 0, 0};
    check_freq(s, logits, 5, want_b, 50000, "temperature;top_p");
    lair_sampler_free(s);
    /* an empty chain ignores top_p and temperature (but not greedy) */
    p.chain = "";
    s = make(&p, 5);
    check_freq(s, logits, 5, five, 50000, "empty chain");
    lair_sampler_free(s);
}

/* ---- parameter checks ---------------------------------------------------------- */

TEST(sampler_validation) {
    const lair_logit_bias bad_tok[1] = {{5, 1.0f}}, bad_val[1] = {{1, NAN}}, pos_inf[1] = {{1, INFINITY}};
    struct {
        const char *want; /* substring of the message */
        lair_sampler_params p;
    } cases[20];
    int n = 0;
    for (int i = 0; i < 20; i++) cases[i].p = lair_sampler_default_params();
    cases[n].want = "sampler: top_p must be in [0, 1], got nan", cases[n++].p.top_p = NAN;
    cases[n].want = "top_p must be in [0, 1], got 1.5", cases[n++].p.top_p = 1.5f;
    cases[n].want = "top_k must be >= 0 (0: off), got -1", cases[n++].p.top_k = -1;
    cases[n].want = "min_p must be in [0, 1], got -0.1", cases[n++].p.min_p = -0.1f;
    cases[n].want = "typical_p must be in [0, 1], got inf", cases[n++].p.typical_p = INFINITY;
    cases[n].want = "temperature must be finite, got inf", cases[n++].p.temperature = INFINITY;
    cases[n].want = "temperature must be finite, got nan", cases[n++].p.temperature = NAN;
    cases[n].want = "repeat_penalty must be finite and > 0 (1: off), got 0", cases[n++].p.repeat_penalty = 0;
    cases[n].want = "repeat_penalty must be finite and > 0 (1: off), got -1", cases[n++].p.repeat_penalty = -1;
    cases[n].want = "frequency_penalty must be finite, got nan", cases[n++].p.frequency_penalty = NAN;
    cases[n].want = "presence_penalty must be finite, got -inf", cases[n++].p.presence_penalty = -INFINITY;
    cases[n].want = "penalty_last_n must be in [0, 1048576], got -1", cases[n++].p.penalty_last_n = -1;
    cases[n].want = "n_logprobs must be in [0, 20], got 21", cases[n++].p.n_logprobs = 21;
    cases[n].want = "chain: unknown stage 'xtc'", cases[n++].p.chain = "top_k;xtc";
    cases[n].want = "chain: stage 'temp' appears twice", cases[n++].p.chain = "temperature;top_k;temp";
    cases[n].want = "logit_bias[0]: token must be in [0, 5), got 5", cases[n].p.bias = bad_tok, cases[n++].p.n_bias = 1;
    cases[n].want = "logit_bias[0] (token 1) must be finite or -inf, got nan", cases[n].p.bias = bad_val, cases[n++].p.n_bias = 1;
    cases[n].want = "logit_bias[0] (token 1) must be finite or -inf, got inf", cases[n].p.bias = pos_inf, cases[n++].p.n_bias = 1;
    cases[n].want = "logit_bias: 2 entries at NULL", cases[n++].p.n_bias = 2;
    for (int i = 0; i < n; i++) {
        lair_sampler *s = (lair_sampler *)&s; /* must be cleared */
        lair_err err = {0};
        lair_status st = lair_sampler_create(&cases[i].p, 5, &s, &err);
        CHECKF(st == LAIR_ERR_ARG && err.code == LAIR_ERR_ARG, "case %d: status %d", i, (int)st);
        CHECKF(s == NULL, "case %d: out not cleared", i);
        CHECKF(strstr(err.msg, cases[i].want) != NULL, "case %d: message '%s', want '%s'", i, err.msg, cases[i].want);
    }
    lair_sampler *s = NULL;
    lair_err err = {0};
    lair_sampler_params p = lair_sampler_default_params();
    CHECK(lair_sampler_create(&p, 0, &s, &err) == LAIR_ERR_ARG && strstr(err.msg, "n_vocab must be > 0, got 0"));
    CHECK(lair_sampler_create(NULL, 5, &s, &err) == LAIR_ERR_ARG);
    /* edges that are valid */
    p.top_p = 0;
    p.min_p = 1;
    p.typical_p = 0;
    p.top_k = 0;
    p.temperature = -3;
    p.penalty_last_n = 0;
    p.n_logprobs = LAIR_SAMPLER_MAX_LOGPROBS;
    p.chain = " penalties ,, top_k;";
    CHECKF(lair_sampler_create(&p, 5, &s, &err) == LAIR_OK, "%s", err.msg);
    lair_sampler_accept(s, 1); /* penalty_last_n 0: no window, no crash */
    lair_sampler_free(s);
    lair_sampler_free(NULL);
}

TEST(sampler_defaults) {
    lair_sampler_params p = lair_sampler_default_params();
    CHECK(p.temperature == 0.8f && p.top_k == 40 && p.top_p == 0.95f && p.min_p == 0.05f && p.typical_p == 1.0f);
    CHECK(p.repeat_penalty == 1.0f && p.frequency_penalty == 0 && p.presence_penalty == 0 && p.penalty_last_n == 64);
    CHECK(p.chain == NULL && p.bias == NULL && p.n_bias == 0 && p.n_logprobs == 0);
    /* p = .5 .2 .15 .08 .04 .03 at the defaults: top_k 40 keeps all; top_p
     * .95: .5 .7 .85 .93 .97 -> {0..4}; min_p .05 keeps p >= .025 (all of
     * those); T .8: draws from p^1.25 over {0..4} */
    const double six[6] = {0.5, 0.2, 0.15, 0.08, 0.04, 0.03};
    float logits[6];
    log_of(six, logits, 6);
    lair_sampler *s = make(&p, 6);
    REQUIRE(s);
    double want[6] = {0}, z = 0;
    for (int i = 0; i < 5; i++) z += want[i] = pow(six[i], 1.25);
    for (int i = 0; i < 5; i++) want[i] /= z;
    check_freq(s, logits, 6, want, 50000, "defaults");
    lair_sampler_free(s);
}

TEST(sampler_create_out_of_memory) {
    lair_sampler_params p = lair_sampler_default_params();
    const lair_logit_bias bias[1] = {{3, 2.0f}};
    p.bias = bias;
    p.n_bias = 1;
    int ok = 0;
    for (long n = 0; n < 20 && !ok; n++) {
        lair_sampler *s = NULL;
        lair_err err = {0};
        lair_alloc_fail_after(n);
        lair_status st = lair_sampler_create(&p, 1000, &s, &err);
        lair_alloc_fail_after(-1);
        CHECKF(st == LAIR_OK || st == LAIR_ERR_NOMEM, "fail after %ld: status %d", n, (int)st);
        CHECKF((st == LAIR_OK) == (s != NULL), "fail after %ld: out", n);
        ok = st == LAIR_OK;
        lair_sampler_free(s);
    }
    CHECK(ok);
}

/* ---- log-probabilities ----------------------------------------------------------- */

TEST(sampler_logprobs) {
    /* a vocabulary of 20 with 20 alternatives: top[] is the whole
     * distribution, so its exp sums to 1; the model's softmax at T 1 whatever
     * the temperature and truncation */
    enum { N = 20 };
    float logits[N];
    lair_rng r = lair_rng_seed(3);
    for (int i = 0; i < N; i++) logits[i] = lair_rng_normal(&r) * 3;
    logits[7] = logits[11]; /* a tie: 7 before 11 */
    double ref[N];
    softmax_ref(logits, N, 1.0, ref);
    lair_sampler_params p = lair_sampler_default_params();
    p.temperature = 0.3f;
    p.top_k = 2;
    p.n_logprobs = N;
    lair_sampler *s = make(&p, N);
    REQUIRE(s);
    for (int it = 0; it < 50; it++) {
        lair_token_logprobs lp;
        int32_t t = lair_sampler_sample(s, logits, &lp);
        REQUIRE(t >= 0 && t < N && lp.token == t && lp.n_top == N);
        CHECKF(fabs(lp.logprob - log(ref[t])) < 1e-5, "chosen %d: %g want %g", t, lp.logprob, log(ref[t]));
        double sum = 0;
        for (int j = 0; j < N; j++) {
            sum += exp(lp.top[j].logprob);
            CHECK(lp.top[j].logprob <= 0);
            CHECK(fabs(lp.top[j].logprob - log(ref[lp.top[j].token])) < 1e-5);
            if (j > 0) {
                CHECK(lp.top[j].logprob <= lp.top[j - 1].logprob);
                if (logits[lp.top[j].token] == logits[lp.top[j - 1].token]) CHECK(lp.top[j].token > lp.top[j - 1].token);
            }
        }
        CHECKF(fabs(sum - 1) < 1e-5, "sum of probabilities %.8f", sum);
    }
    lair_sampler_free(s);
    /* n_logprobs 0: the chosen token only */
    p.n_logprobs = 0;
    s = make(&p, N);
    lair_token_logprobs lp;
    int32_t t = lair_sampler_sample(s, logits, &lp);
    CHECK(lp.n_top == 0 && lp.token == t && fabs(lp.logprob - log(ref[t])) < 1e-5);
    lair_sampler_free(s);
}

/* ---- a 128k vocabulary ----------------------------------------------------------- */

static const float *sort_logits;
static int by_logit_desc(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (sort_logits[x] != sort_logits[y]) return sort_logits[x] > sort_logits[y] ? -1 : 1;
    return x < y ? -1 : 1;
}

TEST(sampler_large_vocab) {
    /* Against a reference made with a full sort: the drawn token is inside
     * the top_k set / the nucleus.  Logits N(0, 2^2) with a few repeated
     * values; the nucleus of .9 holds thousands of tokens, so the growing
     * partial sort goes through many rounds.  Not timed; it would take
     * minutes if anything were quadratic. */
    enum { N = 128 * 1024 };
    float *logits = malloc(N * sizeof *logits);
    int32_t *order = malloc(N * sizeof *order), *rank = malloc(N * sizeof *rank);
    double *prob = malloc(N * sizeof *prob);
    REQUIRE(logits && order && rank && prob);
    lair_rng r = lair_rng_seed(11);
    for (int i = 0; i < N; i++) logits[i] = i % 1000 == 0 ? 1.0f : lair_rng_normal(&r) * 2;
    for (int i = 0; i < N; i++) order[i] = i;
    sort_logits = logits;
    qsort(order, N, sizeof *order, by_logit_desc);
    for (int i = 0; i < N; i++) rank[order[i]] = i;
    softmax_ref(logits, N, 1.0, prob);
    int nucleus = 0;
    for (double cum = 0; cum < 0.9;) cum += prob[order[nucleus++]];
    CHECKF(nucleus > 1000, "nucleus of %d tokens: not a real test of growth", nucleus);

    lair_sampler_params p = plain(1.0f);
    p.top_p = 0.9f;
    p.n_logprobs = 20;
    lair_sampler *s = make(&p, N);
    REQUIRE(s);
    for (int it = 0; it < 20; it++) {
        lair_token_logprobs lp;
        int32_t t = lair_sampler_sample(s, logits, &lp);
        REQUIRE(t >= 0 && t < N);
        CHECKF(rank[t] < nucleus, "top_p: token of rank %d outside the nucleus of %d", rank[t], nucleus);
        for (int j = 0; j < 20; j++) CHECKF(lp.top[j].token == order[j], "top[%d] = %d, want %d", j, lp.top[j].token, order[j]);
        CHECK(fabs(lp.logprob - log(prob[t])) < 1e-4);
    }
    lair_sampler_free(s);

    p = lair_sampler_default_params(); /* top_k 40 first */
    s = make(&p, N);
    for (int it = 0; it < 50; it++) {
        int32_t t = lair_sampler_sample(s, logits, NULL);
        CHECKF(t >= 0 && rank[t] < 40, "default chain: rank %d", t >= 0 ? rank[t] : -1);
        lair_sampler_accept(s, t);
    }
    lair_sampler_free(s);

    p = plain(1.0f);
    p.typical_p = 0.9f;
    p.min_p = 0.01f;
    s = make(&p, N);
    for (int it = 0; it < 5; it++) CHECK(lair_sampler_sample(s, logits, NULL) >= 0);
    lair_sampler_free(s);

    /* the selections' worst orders: logits ascending and descending by id */
    p = lair_sampler_default_params();
    p.min_p = 0;
    s = make(&p, N);
    for (int i = 0; i < N; i++) logits[i] = (float)i * 1e-3f;
    for (int it = 0; it < 5; it++) {
        int32_t t = lair_sampler_sample(s, logits, NULL);
        CHECKF(t >= N - 40, "ascending: token %d", t);
    }
    for (int i = 0; i < N; i++) logits[i] = (float)-i * 1e-3f;
    for (int it = 0; it < 5; it++) {
        int32_t t = lair_sampler_sample(s, logits, NULL);
        CHECKF(t >= 0 && t < 40, "descending: token %d", t);
    }
    lair_sampler_free(s);
    free(logits);
    free(order);
    free(rank);
    free(prob);
}

/* ---- stop strings ----------------------------------------------------------------- */

/* Feeds pieces, appends what is emitted to out (NUL-terminated); returns the
 * stop index or -1 after a flush. */
static int run_stop(lair_stop *m, const char *const *pieces, int n, char *out, size_t cap) {
    size_t used = 0;
    int stop = -1;
    for (int i = 0; i <= n; i++) {
        lair_stop_result r;
        if (i < n) {
            lair_err err = {0};
            lair_status st = lair_stop_feed(m, pieces[i], strlen(pieces[i]), &r, &err);
            CHECKF(st == LAIR_OK, "feed: %s", err.msg);
        } else {
            lair_stop_flush(m, &r);
        }
        if (used + r.len >= cap) {
            CHECK(!"output too long");
            break;
        }
        memcpy(out + used, r.text, r.len);
        used += r.len;
        if (r.stop >= 0) stop = r.stop;
    }
    out[used] = '\0';
    return stop;
}

static lair_stop *make_stop(const char *const *stops, int n) {
    lair_stop *m = NULL;
    lair_err err = {0};
    CHECKF(lair_stop_create(stops, n, &m, &err) == LAIR_OK, "stop create: %s", err.msg);
    return m;
}

TEST(stop_spanning_tokens) {
    const char *stops[] = {"lo w"};
    lair_stop *m = make_stop(stops, 1);
    REQUIRE(m);
    lair_stop_result r;
    CHECK(lair_stop_feed(m, "Hel", 3, &r, NULL) == LAIR_OK);
    CHECK(r.len == 2 && memcmp(r.text, "He", 2) == 0 && r.stop == -1); /* "l" might start "lo w" */
    CHECK(lair_stop_feed(m, "lo wor", 6, &r, NULL) == LAIR_OK);
    CHECK(r.len == 1 && r.text[0] == 'l' && r.stop == 0);
    CHECK(lair_stop_feed(m, "ld", 2, &r, NULL) == LAIR_OK);
    CHECK(r.len == 0 && r.stop == 0);
    lair_stop_flush(m, &r);
    CHECK(r.len == 0 && r.stop == 0);
    /* the same through the helper, then after a reset */
    char out[64];
    const char *pieces[] = {"Hel", "lo wor", "ld"};
    lair_stop_reset(m);
    CHECK(run_stop(m, pieces, 3, out, sizeof out) == 0 && strcmp(out, "Hel") == 0);
    lair_stop_free(m);
}

TEST(stop_partial_released) {
    const char *stops[] = {"world"};
    lair_stop *m = make_stop(stops, 1);
    REQUIRE(m);
    lair_stop_result r;
    lair_stop_feed(m, "hello wor", 9, &r, NULL);
    CHECK(r.len == 6 && memcmp(r.text, "hello ", 6) == 0);
    lair_stop_feed(m, "m", 1, &r, NULL); /* "worm": not a stop */
    CHECK(r.len == 4 && memcmp(r.text, "worm", 4) == 0 && r.stop == -1);
    lair_stop_feed(m, " wo", 3, &r, NULL);
    CHECK(r.len == 1 && r.text[0] == ' ');
    lair_stop_flush(m, &r); /* end of generation: "wo" was never a stop */
    CHECK(r.len == 2 && memcmp(r.text, "wo", 2) == 0 && r.stop == -1);
    lair_stop_flush(m, &r);
    CHECK(r.len == 0);
    /* a partial match whose tail starts another partial match: "wowo" + "rld" */
    lair_stop_reset(m);
    char out[64];
    const char *pieces[] = {"wowo", "rld!"};
    CHECK(run_stop(m, pieces, 2, out, sizeof out) == 0 && strcmp(out, "wo") == 0);
    lair_stop_free(m);
}

TEST(stop_multiple) {
    const char *stops[] = {"END", "\n\n", "ab"};
    lair_stop *m = make_stop(stops, 3);
    REQUIRE(m);
    char out[64];
    const char *p1[] = {"x\n", "\nEND"};
    CHECK(run_stop(m, p1, 2, out, sizeof out) == 1 && strcmp(out, "x") == 0);
    lair_stop_reset(m);
    const char *p2[] = {"E", "N", "x a", "b"};
    CHECK(run_stop(m, p2, 4, out, sizeof out) == 2 && strcmp(out, "ENx ") == 0);
    lair_stop_reset(m);
    const char *p3[] = {"no stop here"};
    CHECK(run_stop(m, p3, 1, out, sizeof out) == -1 && strcmp(out, "no stop here") == 0);
    lair_stop_reset(m);
    const char *p4[] = {"the E", "ND and ab"}; /* both in one piece: the earlier wins */
    CHECK(run_stop(m, p4, 2, out, sizeof out) == 0 && strcmp(out, "the ") == 0);
    lair_stop_free(m);
}

TEST(stop_utf8) {
    const char *stops[] = {"。", "終わり"};
    lair_stop *m = make_stop(stops, 2);
    REQUIRE(m);
    char out[128];
    /* "。" is E3 80 82; the token ends inside it */
    const char *p1[] = {"こんにちは", "\xe3\x80", "\x82次の文"};
    CHECK(run_stop(m, p1, 3, out, sizeof out) == 0 && strcmp(out, "こんにちは") == 0);
    lair_stop_reset(m);
    /* "「" is E3 80 8C: held E3 80 are released when 8C arrives */
    lair_stop_result r;
    lair_stop_feed(m, "\xe3\x80", 2, &r, NULL);
    CHECK(r.len == 0);
    lair_stop_feed(m, "\x8c", 1, &r, NULL);
    CHECK(r.len == 3 && memcmp(r.text, "「", 3) == 0);
    lair_stop_reset(m);
    const char *p2[] = {"話の終", "わり", "です"};
    CHECK(run_stop(m, p2, 3, out, sizeof out) == 1 && strcmp(out, "話の") == 0);
    lair_stop_free(m);
}

TEST(stop_flush_and_edges) {
    const char *stops[] = {"cd"};
    lair_stop *m = make_stop(stops, 1);
    REQUIRE(m);
    char out[64];
    const char *p1[] = {"abc"};
    CHECK(run_stop(m, p1, 1, out, sizeof out) == -1 && strcmp(out, "abc") == 0);
    lair_stop_reset(m);
    const char *p2[] = {"", "c", "", "d"}; /* empty pieces */
    CHECK(run_stop(m, p2, 4, out, sizeof out) == 0 && strcmp(out, "") == 0);
    lair_stop_free(m);
    /* no stop strings: text passes straight through */
    m = make_stop(NULL, 0);
    REQUIRE(m);
    const char *p3[] = {"a", "bc"};
    CHECK(run_stop(m, p3, 2, out, sizeof out) == -1 && strcmp(out, "abc") == 0);
    lair_stop_free(m);
    /* a piece far larger than the buffer, with the stop inside it */
    const char *big_stop[] = {"STOP"};
    m = make_stop(big_stop, 1);
    REQUIRE(m);
    enum { BIG = 100000 };
    char *big = malloc(BIG + 1);
    REQUIRE(big);
    memset(big, 'x', BIG);
    memcpy(big + 70000, "STOP", 4);
    big[BIG] = '\0';
    lair_stop_result r;
    CHECK(lair_stop_feed(m, "ST", 2, &r, NULL) == LAIR_OK && r.len == 0);
    CHECK(lair_stop_feed(m, big, BIG, &r, NULL) == LAIR_OK && r.len == 70002 && r.stop == 0);
    CHECK(memcmp(r.text, "ST", 2) == 0 && r.text[2] == 'x' && r.text[70001] == 'x');
    free(big);
    lair_stop_free(m);
}

TEST(stop_errors) {
    lair_stop *m = NULL;
    lair_err err = {0};
    const char *empty[] = {"a", ""};
    CHECK(lair_stop_create(empty, 2, &m, &err) == LAIR_ERR_ARG && m == NULL && strstr(err.msg, "string 1 is empty"));
    const char *null1[] = {NULL};
    CHECK(lair_stop_create(null1, 1, &m, &err) == LAIR_ERR_ARG && strstr(err.msg, "string 0 is NULL"));
    char *long_s = malloc(LAIR_STOP_MAX_LEN + 2);
    REQUIRE(long_s);
    memset(long_s, 'a', LAIR_STOP_MAX_LEN + 1);
    long_s[LAIR_STOP_MAX_LEN + 1] = '\0';
    const char *too_long[] = {long_s};
    CHECK(lair_stop_create(too_long, 1, &m, &err) == LAIR_ERR_LIMIT && strstr(err.msg, "longer than the limit"));
    long_s[LAIR_STOP_MAX_LEN] = '\0'; /* exactly the limit is fine */
    CHECK(lair_stop_create(too_long, 1, &m, &err) == LAIR_OK);
    lair_stop_free(m);
    free(long_s);
    const char *many[LAIR_STOP_MAX + 1];
    for (int i = 0; i <= LAIR_STOP_MAX; i++) many[i] = "x";
    CHECK(lair_stop_create(many, LAIR_STOP_MAX + 1, &m, &err) == LAIR_ERR_LIMIT);
    CHECK(lair_stop_create(NULL, 1, &m, &err) == LAIR_ERR_ARG);
    for (long n = 0; n < 10; n++) { /* every allocation failing in turn */
        lair_alloc_fail_after(n);
        lair_status st = lair_stop_create(many, 3, &m, &err);
        lair_alloc_fail_after(-1);
        CHECK(st == LAIR_OK || (st == LAIR_ERR_NOMEM && m == NULL));
        lair_stop_free(m);
        m = NULL;
    }
    lair_stop_free(NULL);
}

TEST(stop_random_against_search) {
    /* Random texts over {a, b, c} cut into random pieces; the emitted text
     * must be the text up to the first stop occurrence (all of it if none),
     * whatever the cuts. */
    const char *stops[] = {"abab", "bba", "cac", "aaaa"};
    lair_stop *m = make_stop(stops, 4);
    REQUIRE(m);
    lair_rng r = lair_rng_seed(17);
    for (int it = 0; it < 3000; it++) {
        char text[48], out[64];
        int n = 1 + (int)lair_rng_below(&r, 40);
        for (int i = 0; i < n; i++) text[i] = (char)('a' + lair_rng_below(&r, 3));
        text[n] = '\0';
        /* reference: earliest start of any stop */
        int first = n, which = -1;
        for (int pos = 0; pos < n && which < 0; pos++)
            for (int k = 0; k < 4 && which < 0; k++)
                if (strncmp(text + pos, stops[k], strlen(stops[k])) == 0) first = pos, which = k;
        char buf[48][48];
        const char *pieces[48];
        int np = 0;
        for (int at = 0; at < n; np++) {
            int len = 1 + (int)lair_rng_below(&r, 6);
            if (len > n - at) len = n - at;
            memcpy(buf[np], text + at, (size_t)len);
            buf[np][len] = '\0';
            pieces[np] = buf[np];
            at += len;
        }
        lair_stop_reset(m);
        int got = run_stop(m, pieces, np, out, sizeof out);
        CHECKF(got == which && (int)strlen(out) == first && strncmp(out, text, (size_t)first) == 0,
               "text '%s': emitted '%s' stop %d, want %d bytes stop %d", text, out, got, first, which);
        if (got != which) break;
    }
    lair_stop_free(m);
}

int main(void) {
    RUN(sampler_defaults);
    RUN(sampler_temperature_distribution);
    RUN(sampler_top_k);
    RUN(sampler_top_p);
    RUN(sampler_min_p);
    RUN(sampler_typical_p);
    RUN(sampler_greedy);
    RUN(sampler_penalties_exact);
    RUN(sampler_penalty_draws);
    RUN(sampler_logit_bias);
    RUN(sampler_allowed_mask);
    RUN(sampler_determinism);
    RUN(sampler_chain_order);
    RUN(sampler_validation);
    RUN(sampler_create_out_of_memory);
    RUN(sampler_logprobs);
    RUN(sampler_large_vocab);
    RUN(stop_spanning_tokens);
    RUN(stop_partial_released);
    RUN(stop_multiple);
    RUN(stop_utf8);
    RUN(stop_flush_and_edges);
    RUN(stop_errors);
    RUN(stop_random_against_search);
    return check_done();
}
