/* A persistent pool of worker threads for data-parallel loops: the forward
 * pass runs each matrix product as fn(ctx, ith, nth) on all nth threads (the
 * caller is thread 0) without creating threads per token.  Idle workers spin
 * briefly, then sleep, so a pool costs nothing between requests. */
#ifndef LAIR_CORE_THREADS_H
#define LAIR_CORE_THREADS_H

#include "lair.h"

typedef struct lair_pool lair_pool;
typedef void (*lair_pool_fn)(void *ctx, int ith, int nth);

/* n >= 1 threads in total (n - 1 workers are started). */
lair_status lair_pool_create(int n, lair_pool **out, lair_err *err);
void lair_pool_free(lair_pool *p);
int lair_pool_size(const lair_pool *p);
/* Runs fn on every thread and returns when all have finished.  Not
 * re-entrant: one run at a time per pool. */
void lair_pool_run(lair_pool *p, lair_pool_fn fn, void *ctx);

/* Plain threads, mutexes and condition variables for long-lived workers (the
 * server's scheduler).  Objects are heap-allocated so the header stays free
 * of platform types; creation returns NULL when out of memory. */
typedef struct lair_mutex lair_mutex;
typedef struct lair_cond lair_cond;
typedef struct lair_thread lair_thread;

lair_mutex *lair_mutex_create(void);
void lair_mutex_free(lair_mutex *m);
void lair_mutex_lock(lair_mutex *m);
void lair_mutex_unlock(lair_mutex *m);

lair_cond *lair_cond_create(void);
void lair_cond_free(lair_cond *c);
/* Waits (the mutex held) until signalled or timeout_ms passed (< 0: no
 * timeout).  Returns false on timeout.  Spurious wake-ups happen: re-check. */
bool lair_cond_wait(lair_cond *c, lair_mutex *m, int timeout_ms);
void lair_cond_signal(lair_cond *c);
void lair_cond_broadcast(lair_cond *c);

lair_thread *lair_thread_start(void (*fn)(void *arg), void *arg);
void lair_thread_join(lair_thread *t); /* also frees t */

#endif
