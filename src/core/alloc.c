#include "core/alloc.h"

#include <stdlib.h>
#include <string.h>

/* Not thread-safe by design: fault injection is only armed by single-threaded tests. */
static long fail_countdown = -1;

static int should_fail(void) {
    if (fail_countdown < 0) return 0;
    if (fail_countdown == 0) return 1;
    fail_countdown--;
    return 0;
}

void lair_alloc_fail_after(long n) { fail_countdown = n; }

void *lair_malloc(size_t n) { return should_fail() ? NULL : malloc(n ? n : 1); }
void *lair_calloc(size_t count, size_t size) { return should_fail() ? NULL : calloc(count ? count : 1, size ? size : 1); }
void *lair_realloc(void *p, size_t n) { return should_fail() ? NULL : realloc(p, n ? n : 1); }
void lair_free(void *p) { free(p); }

char *lair_strndup(const char *s, size_t n) {
    char *d = lair_malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}
