/* A minimal test harness.  A test binary defines cases with TEST(name), runs
 * them from main with RUN(name), and returns check_done().  Each case prints
 * "ok NAME", "not ok NAME: first failure" or "skip NAME: why". */
#ifndef LAIR_TESTS_CHECK_H
#define LAIR_TESTS_CHECK_H

#include <stdio.h>

#define TEST(name) static void name(void)
#define RUN(name) check_run(#name, name)

/* Records a failure (first one per case is printed) and goes on. */
#define CHECK(cond) \
    ((cond) ? (void)0 : check_fail(__FILE__, __LINE__, "%s", #cond))
#define CHECKF(cond, ...) \
    ((cond) ? (void)0 : check_fail(__FILE__, __LINE__, __VA_ARGS__))
/* Stops the case when cond fails (for preconditions of the rest). */
#define REQUIRE(cond) \
    do { if (!(cond)) { check_fail(__FILE__, __LINE__, "%s", #cond); return; } } while (0)

void check_run(const char *name, void (*fn)(void));
void check_fail(const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void check_skip(const char *why); /* marks the running case skipped */
int check_done(void);             /* exit status for main */

/* Path of a file under the shared test data ($LAIR_TESTDATA).  Returns NULL
 * (and marks the case skipped, or failed when $LAIR_REQUIRE_TESTDATA is set)
 * when the file is missing. */
const char *check_testdata(const char *rel);
/* A scratch path under $LAIR_TMP (or /tmp) unique to this process. */
const char *check_tmp(const char *name);
/* Whole-file read; NULL on failure.  Caller frees. */
unsigned char *check_read_file(const char *path, size_t *len);
int check_write_file(const char *path, const void *data, size_t len);

#endif
