/* POSIX (Linux, macOS, BSD) implementation of platform.h. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE 1 /* madvise (glibc) */
#define _DARWIN_C_SOURCE 1

#include "core/platform.h"

#include <stdbool.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#elif defined(__aarch64__) && defined(__APPLE__)
#include <sys/sysctl.h>
#endif

#include "core/alloc.h"
#include "core/err.h"

lair_status lair_map_file(const char *path, lair_map *out, lair_err *err) {
    out->data = NULL;
    out->size = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return lair_err_set(err, LAIR_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return lair_err_set(err, LAIR_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return lair_err_set(err, LAIR_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return lair_err_set(err, LAIR_ERR_IO, "%s: cannot map %lld bytes: %s", path, (long long)st.st_size,
                                strerror(e));
        }
        out->data = p;
        out->size = (uint64_t)st.st_size;
    }
    close(fd);
    return LAIR_OK;
}

void lair_map_release(lair_map *m) {
    if (m && m->data) munmap((void *)m->data, (size_t)m->size);
    if (m) {
        m->data = NULL;
        m->size = 0;
    }
}

void lair_map_discard(const void *p, uint64_t n) {
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || n == 0) return;
    uintptr_t a = ((uintptr_t)p + (uintptr_t)page - 1) & ~(uintptr_t)(page - 1), e = ((uintptr_t)p + (uintptr_t)n) & ~(uintptr_t)(page - 1);
    if (e > a) (void)madvise((void *)a, (size_t)(e - a), MADV_DONTNEED);
}

int lair_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

uint64_t lair_file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && st.st_size > 0 ? (uint64_t)st.st_size : 0;
}

typedef struct par_job {
    void (*fn)(void *ctx, int ith, int nth);
    void *ctx;
    int ith, nth;
} par_job;

static void *par_main(void *arg) {
    par_job *j = arg;
    j->fn(j->ctx, j->ith, j->nth);
    return NULL;
}

#define LAIR_MAX_THREADS 256

void lair_run_parallel(int n, void (*fn)(void *ctx, int ith, int nth), void *ctx) {
    if (n < 1) n = 1;
    if (n > LAIR_MAX_THREADS) n = LAIR_MAX_THREADS;
    pthread_t tid[LAIR_MAX_THREADS];
    par_job jobs[LAIR_MAX_THREADS];
    bool started[LAIR_MAX_THREADS] = {false};
    for (int i = 1; i < n; i++) {
        jobs[i] = (par_job){fn, ctx, i, n};
        started[i] = pthread_create(&tid[i], NULL, par_main, &jobs[i]) == 0;
    }
    fn(ctx, 0, n);
    for (int i = 1; i < n; i++) {
        if (started[i]) pthread_join(tid[i], NULL);
        else fn(ctx, i, n);
    }
}

FILE *lair_file_create_tmp(const char *path, char **tmp_path, lair_err *err) {
    size_t n = strlen(path);
    char *t = lair_malloc(n + 5);
    *tmp_path = t;
    if (!t) {
        lair_err_set(err, LAIR_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    memcpy(t, path, n);
    memcpy(t + n, ".tmp", 5);
    FILE *f = fopen(t, "wb");
    if (!f) lair_err_set(err, LAIR_ERR_IO, "%s: cannot create: %s", t, strerror(errno));
    return f;
}

lair_status lair_file_commit(FILE *f, const char *tmp_path, const char *path, lair_err *err) {
    int bad = fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0;
    int e = errno;
    bad |= fclose(f) != 0;
    if (bad) {
        unlink(tmp_path);
        return lair_err_set(err, LAIR_ERR_IO, "%s: write failed: %s", path, strerror(e));
    }
    if (rename(tmp_path, path) != 0) {
        e = errno;
        unlink(tmp_path);
        return lair_err_set(err, LAIR_ERR_IO, "%s: cannot rename temporary file: %s", path, strerror(e));
    }
    return LAIR_OK;
}

void lair_file_abort(FILE *f, const char *tmp_path) {
    if (f) fclose(f);
    if (tmp_path) unlink(tmp_path);
}

uint64_t lair_peak_rss_bytes(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
#if defined(__APPLE__)
    return (uint64_t)ru.ru_maxrss; /* bytes on macOS */
#else
    return (uint64_t)ru.ru_maxrss * 1024u; /* KiB on Linux and the BSDs */
#endif
}

double lair_time_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int lair_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

bool lair_cpu_arm_dotprod(void) {
#if defined(__aarch64__) && defined(__linux__)
    return (getauxval(AT_HWCAP) & (1ul << 20)) != 0; /* HWCAP_ASIMDDP */
#elif defined(__aarch64__) && defined(__APPLE__)
    int v = 0;
    size_t n = sizeof v;
    return sysctlbyname("hw.optional.arm.FEAT_DotProd", &v, &n, NULL, 0) == 0 && v != 0;
#else
    return false;
#endif
}

uint64_t lair_mem_total(void) {
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}

uint64_t lair_mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r"); /* Linux: counts reclaimable page cache, unlike free pages */
    if (f) {
        char line[256];
        unsigned long long kib;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1) {
                fclose(f);
                return (uint64_t)kib * 1024;
            }
        fclose(f);
    }
#ifdef _SC_AVPHYS_PAGES
    long pages = sysconf(_SC_AVPHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    if (pages > 0 && size > 0) return (uint64_t)pages * (uint64_t)size;
#endif
    return lair_mem_total();
}
