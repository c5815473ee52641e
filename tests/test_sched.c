/* The server's scheduler on a real tiny model: results do not depend on
 * what else runs, prefixes are reused and give the same text, cancel and
 * limits work, a slow reader pauses its job instead of growing buffers. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/platform.h"
#include "lair.h"
#include "server/sched.h"

static lair_model *g_model;

typedef struct result {
    char text[8192];
    size_t len;
    srv_finish finish;
    srv_usage usage;
    int32_t n_lp;
} result;

/* Reads a job to its end. */
static void drain(srv_job *j, result *r) {
    memset(r, 0, sizeof *r);
    for (;;) {
        srv_output o;
        if (!srv_job_wait(j, &o, 60000)) { /* generous: sanitizer builds are 10-20x slower */
            check_fail(__FILE__, __LINE__, "no output for 60 s");
            return;
        }
        if (o.len && r->len + o.len < sizeof r->text) {
            memcpy(r->text + r->len, o.text, o.len);
            r->len += o.len;
        }
        r->n_lp += o.n_lp;
        srv_finish f = o.finish;
        if (f != SRV_RUNNING) {
            r->finish = f;
            r->usage = o.usage;
        }
        srv_output_free(&o);
        if (f != SRV_RUNNING) return;
    }
}

static void prompt_of(int variant, int n, lair_token *out) {
    for (int i = 0; i < n; i++) out[i] = 3 + (i * 7 + variant * 13) % 400;
    out[0] = 1;
}

static srv_job_params greedy(const lair_token *p, size_t n, int32_t max_tokens) {
    srv_job_params jp = {0};
    jp.prompt = p;
    jp.n_prompt = n;
    jp.sampling = lair_sampler_default_params();
    jp.sampling.temperature = 0;
    jp.max_tokens = max_tokens;
    jp.n_logprobs = -1;
    jp.ignore_eos = true;
    return jp;
}

static srv_sched *make(int parallel, int queue, size_t out_max) {
    srv_sched_params sp = srv_sched_default_params();
    sp.n_ctx = 1024;
    sp.n_parallel = parallel;
    sp.queue_max = queue;
    sp.n_threads = 1;
    sp.n_batch = 64;
    sp.kv_type = LAIR_TYPE_F32;
    if (out_max) sp.out_max = out_max;
    srv_sched *s = NULL;
    lair_err e = {0};
    if (srv_sched_create(g_model, &sp, &s, &e) != LAIR_OK) check_fail(__FILE__, __LINE__, "%s", e.msg);
    return s;
}

static void run_one(srv_sched *s, const lair_token *p, size_t n, int32_t max_tokens, result *r) {
    srv_job_params jp = greedy(p, n, max_tokens);
    srv_job *j = NULL;
    lair_err e = {0};
    if (srv_submit(s, &jp, &j, &e) != SRV_SUBMIT_OK) {
        check_fail(__FILE__, __LINE__, "submit: %s", e.msg);
        return;
    }
    drain(j, r);
    srv_job_free(j);
}

TEST(concurrency_does_not_change_results) {
    srv_sched *s = make(8, 8, 0);
    REQUIRE(s);
    enum { N = 8, LEN = 40 };
    lair_token prompts[N][LEN];
    result alone[N], together[N];
    for (int v = 0; v < N; v++) {
        prompt_of(v, LEN, prompts[v]);
        run_one(s, prompts[v], LEN - v, 24, &alone[v]);
        CHECK(alone[v].finish == SRV_FINISH_LENGTH && alone[v].usage.completion_tokens == 24);
    }
    srv_sched_free(s);
    s = make(8, 8, 0); /* fresh: no cached prefixes */
    REQUIRE(s);
    srv_job *jobs[N];
    lair_err e = {0};
    for (int v = 0; v < N; v++) {
        srv_job_params jp = greedy(prompts[v], LEN - v, 24);
        REQUIRE(srv_submit(s, &jp, &jobs[v], &e) == SRV_SUBMIT_OK);
    }
    for (int v = 0; v < N; v++) {
        drain(jobs[v], &together[v]);
        srv_job_free(jobs[v]);
        CHECKF(together[v].len == alone[v].len && memcmp(together[v].text, alone[v].text, alone[v].len) == 0,
               "request %d: alone '%.*s', beside 7 others '%.*s'", v, (int)alone[v].len, alone[v].text,
               (int)together[v].len, together[v].text);
    }
    srv_stats st;
    srv_sched_stats(s, &st);
    CHECK(st.requests == N && st.requests_done == N && st.slots_busy == 0);
    srv_sched_free(s);
}

TEST(prefix_is_reused_and_gives_the_same_text) {
    enum { LEN = 200 };
    lair_token a[LEN], b[LEN];
    prompt_of(1, LEN, a);
    memcpy(b, a, sizeof b);
    for (int i = 150; i < LEN; i++) b[i] = 3 + (i * 11) % 300; /* diverges at 150 */
    result cold, warm;
    srv_sched *s = make(2, 4, 0);
    REQUIRE(s);
    run_one(s, b, LEN, 16, &cold);
    srv_sched_free(s);
    s = make(2, 4, 0);
    REQUIRE(s);
    result first;
    run_one(s, a, LEN, 16, &first);
    CHECK(first.usage.cached_tokens == 0);
    run_one(s, b, LEN, 16, &warm);
    CHECKF(warm.usage.cached_tokens == 144, "cached %d tokens, want 144 (9 blocks of 16)", warm.usage.cached_tokens);
    CHECKF(warm.len == cold.len && memcmp(warm.text, cold.text, cold.len) == 0, "cached '%.*s' vs cold '%.*s'",
           (int)warm.len, warm.text, (int)cold.len, cold.text);
    srv_stats st;
    srv_sched_stats(s, &st);
    CHECK(st.prefix_hits == 9 && st.cache_entries >= 1);
    srv_sched_free(s);
}

TEST(cancel_frees_the_slot) {
    srv_sched *s = make(1, 4, 0);
    REQUIRE(s);
    lair_token p[20];
    prompt_of(2, 20, p);
    srv_job_params jp = greedy(p, 20, 0); /* until the context is full */
    srv_job *j = NULL;
    lair_err e = {0};
    REQUIRE(srv_submit(s, &jp, &j, &e) == SRV_SUBMIT_OK);
    srv_output o;
    while (srv_job_wait(j, &o, 2000) && o.len == 0) srv_output_free(&o); /* it has started */
    srv_output_free(&o);
    double t0 = lair_time_seconds();
    srv_job_cancel(j);
    result r;
    drain(j, &r);
    CHECK(r.finish == SRV_FINISH_CANCELLED);
    CHECK(lair_time_seconds() - t0 < 1.0);
    srv_job_free(j);
    srv_stats st;
    srv_sched_stats(s, &st);
    CHECK(st.slots_busy == 0);
    srv_sched_free(s);
}

TEST(limits_and_bad_requests) {
    srv_sched *s = make(1, 0, 0);
    REQUIRE(s);
    lair_err e = {0};
    srv_job *j = NULL;
    static lair_token big[1100];
    prompt_of(3, 1100, big);
    srv_job_params jp = greedy(big, 1100, 4);
    CHECK(srv_submit(s, &jp, &j, &e) == SRV_SUBMIT_BAD_REQUEST && strstr(e.msg, "1100 tokens") && strstr(e.msg, "1024"));
    lair_token bad[3] = {1, 99999, 2};
    jp = greedy(bad, 3, 4);
    CHECK(srv_submit(s, &jp, &j, &e) == SRV_SUBMIT_BAD_REQUEST && strstr(e.msg, "outside the vocabulary"));
    jp = greedy(big, 10, 4);
    jp.sampling.top_p = -1;
    CHECK(srv_submit(s, &jp, &j, &e) == SRV_SUBMIT_BAD_REQUEST && strstr(e.msg, "top_p"));
    /* one running, none may wait: the next is busy */
    jp = greedy(big, 10, 0);
    srv_job *first = NULL, *second = NULL;
    REQUIRE(srv_submit(s, &jp, &first, &e) == SRV_SUBMIT_OK);
    CHECK(srv_submit(s, &jp, &second, &e) == SRV_SUBMIT_BUSY);
    srv_job_free(first);
    /* max_tokens is exact, and huge values are clamped to the context */
    srv_sched_free(s);
    s = make(1, 4, 0);
    REQUIRE(s);
    result r;
    run_one(s, big, 10, 7, &r);
    CHECK(r.finish == SRV_FINISH_LENGTH && r.usage.completion_tokens == 7);
    run_one(s, big, 1000, 1 << 30, &r);
    CHECKF(r.finish == SRV_FINISH_LENGTH && r.usage.completion_tokens == 24, "%d tokens", r.usage.completion_tokens);
    srv_sched_free(s);
}

TEST(slow_reader_pauses_the_job) {
    lair_token p[30];
    prompt_of(4, 30, p);
    result fast, slow;
    srv_sched *s = make(1, 4, 0);
    REQUIRE(s);
    run_one(s, p, 30, 64, &fast);
    srv_sched_free(s);
    s = make(1, 4, 8); /* at most 8 unread bytes */
    REQUIRE(s);
    srv_job_params jp = greedy(p, 30, 64);
    srv_job *j = NULL;
    lair_err e = {0};
    REQUIRE(srv_submit(s, &jp, &j, &e) == SRV_SUBMIT_OK);
    size_t most = 0;
    memset(&slow, 0, sizeof slow);
    for (;;) {
        double t0 = lair_time_seconds();
        while (lair_time_seconds() - t0 < 0.005) {} /* a slow client */
        srv_output o;
        if (!srv_job_wait(j, &o, 5000)) break;
        if (o.len > most) most = o.len;
        memcpy(slow.text + slow.len, o.text, o.len);
        slow.len += o.len;
        srv_finish f = o.finish;
        srv_output_free(&o);
        if (f != SRV_RUNNING) break;
    }
    srv_job_free(j);
    CHECKF(most < 8 + 64, "%zu bytes were buffered at once", most); /* one token past the limit at most */
    CHECK(slow.len == fast.len && memcmp(slow.text, fast.text, fast.len) == 0);
    srv_sched_free(s);
}

TEST(logprob_records_per_token) {
    srv_sched *s = make(1, 4, 0);
    REQUIRE(s);
    lair_token p[12];
    prompt_of(5, 12, p);
    srv_job_params jp = greedy(p, 12, 9);
    jp.n_logprobs = 3;
    srv_job *j = NULL;
    lair_err e = {0};
    REQUIRE(srv_submit(s, &jp, &j, &e) == SRV_SUBMIT_OK);
    result r;
    drain(j, &r);
    srv_job_free(j);
    CHECK(r.n_lp == 9);
    srv_sched_free(s);
}

/* More demand than the pool holds: jobs end with "length", never an error. */
TEST(a_full_pool_ends_jobs_cleanly) {
    srv_sched_params sp = srv_sched_default_params();
    sp.n_ctx = 128;
    sp.n_parallel = 4;
    sp.n_threads = 1;
    sp.n_batch = 64;
    srv_sched *s = NULL;
    lair_err e = {0};
    REQUIRE(srv_sched_create(g_model, &sp, &s, &e) == LAIR_OK);
    enum { N = 6 };
    lair_token p[N][40];
    srv_job *jobs[N];
    for (int v = 0; v < N; v++) {
        prompt_of(10 + v, 40, p[v]);
        srv_job_params jp = greedy(p[v], 40, 0);
        REQUIRE(srv_submit(s, &jp, &jobs[v], &e) == SRV_SUBMIT_OK);
    }
    for (int v = 0; v < N; v++) {
        result r;
        drain(jobs[v], &r);
        CHECKF(r.finish == SRV_FINISH_LENGTH && r.usage.completion_tokens > 0, "job %d: finish %d after %d tokens", v,
               (int)r.finish, r.usage.completion_tokens);
        srv_job_free(jobs[v]);
    }
    srv_sched_free(s);
}

/* The engine's logits buffer holds n_outputs_max rows; asking for more is an error, not an overflow. */
TEST(outputs_per_call_are_bounded) {
    lair_context_params cp = lair_context_default_params();
    cp.n_ctx = 64;
    cp.n_batch = 8;
    cp.n_outputs_max = 2;
    cp.n_threads = 1;
    lair_context *c = NULL;
    lair_err e = {0};
    REQUIRE(lair_context_create(g_model, &cp, &c, &e) == LAIR_OK);
    lair_batch_entry b[3] = {{1, 0, 0, true}, {5, 1, 0, true}, {6, 2, 0, true}};
    CHECK(lair_decode(c, b, 3, &e) == LAIR_ERR_ARG && strstr(e.msg, "3 entries want logits (at most 2"));
    b[0].logits = false;
    CHECK(lair_decode(c, b, 3, &e) == LAIR_OK && !lair_logits(c, 0) && lair_logits(c, 1) && lair_logits(c, 2));
    lair_context_free(c);
}

int main(void) {
    const char *path = check_testdata("golden/tiny-llama-Q8_0.gguf");
    lair_err e = {0};
    if (path && lair_model_load(path, &g_model, &e) != LAIR_OK) check_fail(__FILE__, __LINE__, "%s", e.msg);
    if (g_model) {
        RUN(concurrency_does_not_change_results);
        RUN(prefix_is_reused_and_gives_the_same_text);
        RUN(cancel_frees_the_slot);
        RUN(limits_and_bad_requests);
        RUN(slow_reader_pauses_the_job);
        RUN(logprob_records_per_token);
        RUN(outputs_per_call_are_bounded);
        RUN(a_full_pool_ends_jobs_cleanly);
    }
    lair_model_free(g_model);
    return check_done();
}
