/* POSIX implementation of the thread pool (threads.h). */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/threads.h"

#define SPIN_ROUNDS 20000 /* polls of the generation counter before sleeping (~tens of µs) */

struct lair_pool {
    int n;
    pthread_t *tid;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    atomic_uint gen;     /* incremented for every run */
    atomic_int pending;  /* workers still busy in the current run */
    atomic_bool quit;
    lair_pool_fn fn;
    void *ctx;
};

typedef struct worker_arg {
    lair_pool *p;
    int ith;
} worker_arg;

static void *worker_main(void *arg) {
    worker_arg a = *(worker_arg *)arg;
    lair_free(arg);
    lair_pool *p = a.p;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen && !atomic_load(&p->quit)) {
            if (++spins < SPIN_ROUNDS) continue;
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->quit)) pthread_cond_wait(&p->wake, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit)) return NULL;
        seen = g;
        p->fn(p->ctx, a.ith, p->n);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
    }
}

lair_status lair_pool_create(int n, lair_pool **out, lair_err *err) {
    *out = NULL;
    if (n < 1) n = 1;
    lair_pool *p = lair_calloc(1, sizeof *p);
    if (!p) return lair_err_set(err, LAIR_ERR_NOMEM, "threads: out of memory");
    p->n = n;
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->quit, false);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    p->tid = lair_calloc((size_t)n, sizeof *p->tid);
    if (!p->tid) {
        lair_pool_free(p);
        return lair_err_set(err, LAIR_ERR_NOMEM, "threads: out of memory");
    }
    for (int i = 1; i < n; i++) {
        worker_arg *a = lair_malloc(sizeof *a);
        if (!a || (a->p = p, a->ith = i, pthread_create(&p->tid[i], NULL, worker_main, a) != 0)) {
            lair_free(a);
            p->n = i; /* workers 1..i-1 exist; free stops them */
            lair_pool_free(p);
            return lair_err_set(err, LAIR_ERR_NOMEM, "threads: cannot start thread %d of %d", i, n);
        }
    }
    *out = p;
    return LAIR_OK;
}

void lair_pool_free(lair_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, true);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->tid[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    lair_free(p->tid);
    lair_free(p);
}

int lair_pool_size(const lair_pool *p) { return p->n; }

void lair_pool_run(lair_pool *p, lair_pool_fn fn, void *ctx) {
    if (p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    fn(ctx, 0, p->n);
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) sched_yield();
}

/* ---- threads, mutexes, condition variables ---------------------------------- */

struct lair_mutex {
    pthread_mutex_t mu;
};
struct lair_cond {
    pthread_cond_t cv;
};
struct lair_thread {
    pthread_t tid;
    void (*fn)(void *);
    void *arg;
};

lair_mutex *lair_mutex_create(void) {
    lair_mutex *m = lair_malloc(sizeof *m);
    if (m && pthread_mutex_init(&m->mu, NULL) != 0) {
        lair_free(m);
        return NULL;
    }
    return m;
}
void lair_mutex_free(lair_mutex *m) {
    if (!m) return;
    pthread_mutex_destroy(&m->mu);
    lair_free(m);
}
void lair_mutex_lock(lair_mutex *m) { pthread_mutex_lock(&m->mu); }
void lair_mutex_unlock(lair_mutex *m) { pthread_mutex_unlock(&m->mu); }

lair_cond *lair_cond_create(void) {
    lair_cond *c = lair_malloc(sizeof *c);
    pthread_condattr_t a;
    if (!c || pthread_condattr_init(&a) != 0) {
        lair_free(c);
        return NULL;
    }
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC); /* timeouts immune to wall-clock changes */
    int rc = pthread_cond_init(&c->cv, &a);
    pthread_condattr_destroy(&a);
    if (rc != 0) {
        lair_free(c);
        return NULL;
    }
    return c;
}
void lair_cond_free(lair_cond *c) {
    if (!c) return;
    pthread_cond_destroy(&c->cv);
    lair_free(c);
}
bool lair_cond_wait(lair_cond *c, lair_mutex *m, int timeout_ms) {
    if (timeout_ms < 0) return pthread_cond_wait(&c->cv, &m->mu) == 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    return pthread_cond_timedwait(&c->cv, &m->mu, &ts) == 0;
}
void lair_cond_signal(lair_cond *c) { pthread_cond_signal(&c->cv); }
void lair_cond_broadcast(lair_cond *c) { pthread_cond_broadcast(&c->cv); }

static void *thread_main(void *arg) {
    lair_thread *t = arg;
    t->fn(t->arg);
    return NULL;
}
lair_thread *lair_thread_start(void (*fn)(void *arg), void *arg) {
    lair_thread *t = lair_malloc(sizeof *t);
    if (!t) return NULL;
    t->fn = fn;
    t->arg = arg;
    if (pthread_create(&t->tid, NULL, thread_main, t) != 0) {
        lair_free(t);
        return NULL;
    }
    return t;
}
void lair_thread_join(lair_thread *t) {
    if (!t) return;
    pthread_join(t->tid, NULL);
    lair_free(t);
}
