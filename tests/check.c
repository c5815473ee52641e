#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int n_pass, n_fail, n_skip;
static int case_failed, case_skipped;
static char case_why[512];

void check_run(const char *name, void (*fn)(void)) {
    case_failed = 0;
    case_skipped = 0;
    case_why[0] = '\0';
    fn();
    if (case_failed) {
        printf("not ok %s: %s\n", name, case_why);
        n_fail++;
    } else if (case_skipped) {
        printf("skip %s: %s\n", name, case_why);
        n_skip++;
    } else {
        printf("ok %s\n", name);
        n_pass++;
    }
    fflush(stdout);
}

void check_fail(const char *file, int line, const char *fmt, ...) {
    if (!case_failed) {
        int k = snprintf(case_why, sizeof case_why, "%s:%d: ", file, line);
        va_list ap;
        va_start(ap, fmt);
        if (k > 0 && (size_t)k < sizeof case_why) vsnprintf(case_why + k, sizeof case_why - (size_t)k, fmt, ap);
        va_end(ap);
    }
    case_failed = 1;
}

void check_skip(const char *why) {
    case_skipped = 1;
    if (!case_failed) snprintf(case_why, sizeof case_why, "%s", why);
}

int check_done(void) { return n_fail ? 1 : 0; }

const char *check_testdata(const char *rel) {
    static char path[4][1024];
    static int slot;
    const char *root = getenv("LAIR_TESTDATA");
    if (!root) root = "../shared/testdata";
    char *p = path[slot++ & 3];
    snprintf(p, 1024, "%s/%s", root, rel);
    if (access(p, R_OK) == 0) return p;
    if (getenv("LAIR_REQUIRE_TESTDATA")) check_fail(__FILE__, __LINE__, "test data missing: %s", p);
    else check_skip("test data not found (set LAIR_TESTDATA)");
    return NULL;
}

const char *check_tmp(const char *name) {
    static char path[4][1024];
    static int slot;
    const char *root = getenv("LAIR_TMP");
    if (!root) root = "/tmp";
    char *p = path[slot++ & 3];
    snprintf(p, 1024, "%s/%ld-%s", root, (long)getpid(), name);
    return p;
}

unsigned char *check_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    for (;;) {
        if (n == cap) buf = realloc(buf, cap *= 2);
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0) break;
        n += r;
    }
    fclose(f);
    *len = n;
    return buf;
}

int check_write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, len, f);
    return (fclose(f) == 0 && w == len) ? 0 : -1;
}
