/* A stable sort of indices by a caller's comparison: the tensor names of a
 * split GGUF bundle, the keys of the Jinja sort and groupby filters (which,
 * like Python's, must keep equal items in order, so qsort will not do). */
#ifndef LAIR_CORE_SORT_H
#define LAIR_CORE_SORT_H

#include <stdint.h>

/* < 0, 0 or > 0 as item a sorts before, with or after item b. */
typedef int (*lair_index_cmp)(void *ctx, uint64_t a, uint64_t b);

/* Sorts idx[0..n) by cmp, equal items keeping their order (merge sort);
 * tmp is scratch of n entries.  Allocates nothing. */
void lair_sort_indices(uint64_t *idx, uint64_t *tmp, uint64_t n, lair_index_cmp cmp, void *ctx);

#endif
