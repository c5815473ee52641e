/* Allocation wrappers.  All library allocations go through these so tests can
 * make the Nth allocation fail on purpose (SQLite-style fault injection) and
 * prove that out-of-memory is reported, never fatal. */
#ifndef LAIR_CORE_ALLOC_H
#define LAIR_CORE_ALLOC_H

#include <stddef.h>

void *lair_malloc(size_t n);
void *lair_calloc(size_t count, size_t size);
void *lair_realloc(void *p, size_t n);
void lair_free(void *p);
char *lair_strndup(const char *s, size_t n);

/* Test hook: the allocation after `n` more successful ones fails (n < 0: never). */
void lair_alloc_fail_after(long n);

#endif
