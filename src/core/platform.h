/* Operating-system services.  Each concern has one implementation file per
 * platform (platform_posix.c today; a platform_win32.c would sit beside it),
 * so the rest of the code base stays free of OS #ifdefs. */
#ifndef LAIR_CORE_PLATFORM_H
#define LAIR_CORE_PLATFORM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "lair.h"

/* A read-only memory map of a whole file. */
typedef struct lair_map {
    const uint8_t *data; /* NULL for an empty file */
    uint64_t size;       /* bytes */
} lair_map;

lair_status lair_map_file(const char *path, lair_map *out, lair_err *err);
void lair_map_release(lair_map *m);
/* Tells the OS that bytes [p, p + n) of a file map will not be read for a
 * while: the whole pages among them leave the process's resident set (a
 * later read brings them back from the file).  Only for maps made by
 * lair_map_file; a no-op where the OS has no such call. */
void lair_map_discard(const void *p, uint64_t n);

int lair_file_exists(const char *path);
uint64_t lair_file_size(const char *path); /* 0 when it cannot be read */

/* Runs fn(ctx, i, n) for i in 0..n-1 on n threads (the caller's thread runs
 * i = 0) and returns when all are done.  Falls back to running them one
 * after another if a thread cannot be started. */
void lair_run_parallel(int n, void (*fn)(void *ctx, int ith, int nth), void *ctx);

/* Opens `path` + ".tmp" for writing and returns its name in *tmp_path (the
 * caller frees it with lair_free).  lair_file_commit renames it over `path`
 * only after everything was written and flushed, so an interrupted write
 * never leaves a truncated file where a good one is expected; it always
 * closes f.  lair_file_abort closes f (if any) and removes the temporary file.
 * Neither allocates, so cleanup works even when memory has run out. */
FILE *lair_file_create_tmp(const char *path, char **tmp_path, lair_err *err);
lair_status lair_file_commit(FILE *f, const char *tmp_path, const char *path, lair_err *err);
void lair_file_abort(FILE *f, const char *tmp_path);

uint64_t lair_peak_rss_bytes(void); /* 0 when unknown */
double lair_time_seconds(void);     /* monotonic */
/* Physical memory in bytes, and how much of it can be had now without
 * swapping (Linux: MemAvailable; elsewhere free pages).  0 when unknown. */
uint64_t lair_mem_total(void);
uint64_t lair_mem_available(void);
int lair_cpu_count(void);           /* logical CPUs online, >= 1 */
/* 64-bit Arm: the CPU has the dot-product extension (SDOT/UDOT).  False
 * elsewhere. */
bool lair_cpu_arm_dotprod(void);

#endif
