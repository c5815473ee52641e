/* What makes a serving benchmark reproducible on the client side: the CPU,
 * its flags, cores, memory and OS; and the server's peak RSS.  The /proc
 * readings are Linux-only and say "not available" elsewhere. */
#define _POSIX_C_SOURCE 200809L /* strtok_r, readlink, gmtime_r */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench_serve.h"
#include "core/platform.h"

/* The value after "key<spaces>:" in /proc/cpuinfo, first occurrence. */
static bool cpuinfo(const char *key, char *out, size_t n) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return false;
    char line[8192];
    bool found = false;
    size_t kl = strlen(key);
    while (!found && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) != 0) continue;
        char *c = strchr(line, ':');
        if (!c) continue;
        c++;
        while (*c == ' ') c++;
        c[strcspn(c, "\n")] = 0;
        snprintf(out, n, "%s", c);
        found = true;
    }
    fclose(f);
    return found;
}

json_t *bench_machine_info(void) {
    char cpu[256] = "not available", flags[8192] = "not available";
    if (!cpuinfo("model name", cpu, sizeof cpu)) cpuinfo("CPU part", cpu, sizeof cpu);
    if (!cpuinfo("flags", flags, sizeof flags)) cpuinfo("Features", flags, sizeof flags);
    struct utsname u;
    char os[512] = "unknown";
    if (uname(&u) == 0) snprintf(os, sizeof os, "%s %s %s", u.sysname, u.release, u.machine);
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    return json_pack("{s:s, s:s, s:i, s:I, s:s}", "cpu", cpu, "cpu_flags", flags, "cores", lair_cpu_count(), "memory_bytes",
                     (json_int_t)(pages > 0 && psz > 0 ? (long long)pages * psz : 0), "os", os);
}

#if defined(__linux__)
unsigned long long bench_peak_rss(long pid, const char **why) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) {
        *why = "cannot read /proc/PID/status (no such process, or not permitted)";
        return 0;
    }
    unsigned long long kib = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) kib = strtoull(line + 6, NULL, 10);
    fclose(f);
    if (!kib) *why = "no VmHWM in /proc/PID/status";
    return kib * 1024;
}

long bench_find_listener(int port) {
    FILE *f = fopen("/proc/net/tcp", "r");
    if (!f) return 0;
    char line[512];
    unsigned long inode = 0;
    while (!inode && fgets(line, sizeof line, f)) {
        unsigned lport, st;
        unsigned long ino;
        /* sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode */
        if (sscanf(line, " %*d: %*x:%x %*x:%*x %x %*x:%*x %*x:%*x %*x %*u %*u %lu", &lport, &st, &ino) == 3 &&
            (int)lport == port && st == 0x0A)
            inode = ino;
    }
    fclose(f);
    if (!inode) return 0;
    char want[64];
    snprintf(want, sizeof want, "socket:[%lu]", inode);
    DIR *d = opendir("/proc");
    long found = 0;
    struct dirent *e;
    while (d && !found && (e = readdir(d))) {
        long pid = strtol(e->d_name, NULL, 10);
        if (pid <= 0) continue;
        char fdp[64];
        snprintf(fdp, sizeof fdp, "/proc/%ld/fd", pid);
        DIR *fd = opendir(fdp);
        struct dirent *x;
        while (fd && !found && (x = readdir(fd))) {
            char lp[320], tgt[64];
            snprintf(lp, sizeof lp, "%s/%s", fdp, x->d_name);
            ssize_t k = readlink(lp, tgt, sizeof tgt - 1);
            if (k > 0) {
                tgt[k] = 0;
                if (strcmp(tgt, want) == 0) found = pid;
            }
        }
        if (fd) closedir(fd);
    }
    if (d) closedir(d);
    return found;
}
#else
unsigned long long bench_peak_rss(long pid, const char **why) {
    (void)pid;
    *why = "not available on this platform (reads /proc/PID/status on Linux)";
    return 0;
}
long bench_find_listener(int port) {
    (void)port;
    return 0;
}
#endif
