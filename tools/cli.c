#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "lair %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

void cli_print_help(const cli_cmd *cmd) {
    printf("usage: lair %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->summary);
    if (!cmd->opts) return;
    printf("\noptions:\n");
    for (const cli_opt *o = cmd->opts; o->name; o++) {
        char left[64];
        if (o->short_name)
            snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
        else
            snprintf(left, sizeof left, "    --%s%s%s", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
        printf("  %-28s %s\n", left, o->help);
    }
    printf("  %-28s %s\n", "-h, --help", "show this help");
}

/* "123", "512K", "2G", "1.5G": bytes (binary multiples). */
static bool parse_size(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !(v >= 0)) return false;
    double mul = 1;
    switch (*end) {
    case 'k': case 'K': mul = 1024.0; end++; break;
    case 'm': case 'M': mul = 1024.0 * 1024; end++; break;
    case 'g': case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end == 'B' || *end == 'b') end++;
    if (*end) return false;
    v *= mul;
    if (!(v < 1.8e19)) return false;
    *out = (uint64_t)v;
    return true;
}

static int set_value(const cli_cmd *cmd, const cli_opt *o, const char *val) {
    char *end;
    switch (o->kind) {
    case CLI_STR: *(const char **)o->dst = val; return 0;
    case CLI_INT: {
        errno = 0;
        long v = strtol(val, &end, 10);
        if (end == val || *end || errno || v < -2147483647L || v > 2147483647L)
            return cli_error(cmd->name, "--%s expects an integer, got '%s'", o->name, val);
        *(int *)o->dst = (int)v;
        return 0;
    }
    case CLI_U64: {
        errno = 0;
        if (val[0] == '-') return cli_error(cmd->name, "--%s expects a non-negative integer, got '%s'", o->name, val);
        unsigned long long v = strtoull(val, &end, 10);
        if (end == val || *end || errno) return cli_error(cmd->name, "--%s expects a non-negative integer, got '%s'", o->name, val);
        *(uint64_t *)o->dst = v;
        return 0;
    }
    case CLI_SIZE:
        if (!parse_size(val, (uint64_t *)o->dst))
            return cli_error(cmd->name, "--%s expects a size such as 512M or 2G, got '%s'", o->name, val);
        return 0;
    case CLI_FLOAT: {
        errno = 0;
        double v = strtod(val, &end);
        if (end == val || *end || errno || !(v == v) || v > 1e300 || v < -1e300)
            return cli_error(cmd->name, "--%s expects a finite number, got '%s'", o->name, val);
        *(double *)o->dst = v;
        return 0;
    }
    case CLI_FLAG: break;
    }
    return 0;
}

int cli_parse(const cli_cmd *cmd, int argc, char **argv, const char **pos, int max_pos, int *n_pos) {
    *n_pos = 0;
    bool only_pos = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == '\0') {
            if (*n_pos >= max_pos) return cli_error(cmd->name, "unexpected argument '%s' (see lair %s --help)", a, cmd->name);
            pos[(*n_pos)++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            cli_print_help(cmd);
            return 2;
        }
        const cli_opt *o = NULL;
        const char *inline_val = NULL;
        if (a[1] == '-') {
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t nl = eq ? (size_t)(eq - name) : strlen(name);
            for (const cli_opt *p = cmd->opts; p && p->name; p++)
                if (strlen(p->name) == nl && strncmp(p->name, name, nl) == 0) o = p;
            if (eq) inline_val = eq + 1;
        } else if (a[2] == '\0') {
            for (const cli_opt *p = cmd->opts; p && p->name; p++)
                if (p->short_name == a[1]) o = p;
        }
        if (!o) return cli_error(cmd->name, "unknown option '%s' (see lair %s --help)", a, cmd->name);
        if (o->kind == CLI_FLAG) {
            if (inline_val) return cli_error(cmd->name, "--%s takes no value", o->name);
            *(bool *)o->dst = true;
            continue;
        }
        if (!inline_val) {
            if (i + 1 >= argc) return cli_error(cmd->name, "--%s needs a value (%s)", o->name, o->metavar ? o->metavar : "VALUE");
            inline_val = argv[++i];
        }
        if (set_value(cmd, o, inline_val)) return 1;
    }
    return 0;
}
