/* POSIX implementation of the thread pool (threads.h). */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>

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
