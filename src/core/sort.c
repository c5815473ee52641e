/* Stable merge sort of indices (sort.h). */
#include "core/sort.h"

#include <string.h>

void lair_sort_indices(uint64_t *idx, uint64_t *tmp, uint64_t n, lair_index_cmp cmp, void *ctx) {
    if (n < 2) return;
    uint64_t h = n / 2;
    lair_sort_indices(idx, tmp, h, cmp, ctx);
    lair_sort_indices(idx + h, tmp, n - h, cmp, ctx);
    uint64_t i = 0, j = h, k = 0;
    /* the right run's item goes first only when strictly smaller: stable */
    while (i < h && j < n) tmp[k++] = cmp(ctx, idx[j], idx[i]) < 0 ? idx[j++] : idx[i++];
    while (i < h) tmp[k++] = idx[i++];
    while (j < n) tmp[k++] = idx[j++];
    memcpy(idx, tmp, (size_t)n * sizeof *idx);
}
