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

#endif
