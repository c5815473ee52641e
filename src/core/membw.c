#include "core/membw.h"

#include <string.h>

#include "core/alloc.h"
#include "core/platform.h"
#include "core/threads.h"
#include "kernels/kernels.h"

typedef struct bw_job {
    const uint64_t *buf;
    uint64_t n; /* u64 words */
    lair_read_fn read;
    uint64_t sums[256];
} bw_job;

/* Each thread reads its share with the CPU's widest loads (the kernels'
 * read probe). */
static void bw_read(void *arg, int ith, int nth) {
    bw_job *j = arg;
    uint64_t per = (j->n / (uint64_t)nth) & ~(uint64_t)7, i0 = per * (uint64_t)ith, i1 = ith == nth - 1 ? j->n : i0 + per;
    j->sums[ith] = j->read(j->buf + i0, (i1 - i0) * 8);
}

double lair_measure_read_bandwidth(uint64_t bytes, int n_threads, int rounds) {
    bytes &= ~(uint64_t)63;
    uint64_t *buf = lair_malloc((size_t)bytes);
    if (!buf) return 0;
    memset(buf, 1, (size_t)bytes); /* fault every page in before timing */
    lair_pool *pool;
    if (lair_pool_create(n_threads, &pool, NULL)) {
        lair_free(buf);
        return 0;
    }
    const lair_kernels *k = lair_kernels_get();
    bw_job j = {buf, bytes / 8, k->read ? k->read : lair_kernels_for(LAIR_ISA_SCALAR)->read, {0}};
    double best = 0;
    for (int r = 0; r < rounds; r++) {
        double t0 = lair_time_seconds();
        lair_pool_run(pool, bw_read, &j);
        double dt = lair_time_seconds() - t0;
        if (dt > 0 && (double)bytes / dt > best) best = (double)bytes / dt;
    }
    lair_pool_free(pool);
    lair_free(buf);
    return best;
}
