/* POSIX terminal services (term.h): sigaction for Ctrl-C, libedit's
 * readline interface for line editing and history. */
#define _POSIX_C_SOURCE 200809L
#include "term.h"

#include <editline/readline.h>
#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

volatile sig_atomic_t term_interrupted;

static void on_sigint(int sig) {
    (void)sig;
    term_interrupted = 1;
}

void term_catch_interrupt(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint; /* no SA_RESTART: a blocking read returns, so the line can be cancelled */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

void term_emit_text(void *ud, const char *text, size_t len) {
    (void)ud;
    static int tty = -1;
    if (tty < 0) tty = isatty(fileno(stdout));
    size_t start = 0;
    for (size_t i = 0; tty && i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        size_t n = (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ? 1
                   : c == 0xc2 && i + 1 < len && (unsigned char)text[i + 1] < 0xa0 ? 2 /* U+0080..U+009F */
                                                                                  : 0;
        if (!n) continue;
        fwrite(text + start, 1, i - start, stdout);
        fputs("\xef\xbf\xbd", stdout);
        i += n - 1;
        start = i + 1;
    }
    fwrite(text + start, 1, len - start, stdout);
    fflush(stdout);
}

char *term_read_file(const char *path, size_t *len) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
        if (n == cap) {
            char *g = realloc(buf, (cap *= 2) + 1);
            if (!g) free(buf);
            buf = g;
        }
    }
    bool bad = ferror(f);
    if (f != stdin) fclose(f);
    if (bad || !buf) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

char *term_read_line(const char *prompt, bool *interrupted) {
    *interrupted = false;
    if (isatty(STDIN_FILENO)) {
        static bool locale_set;
        if (!locale_set) { /* libedit reads multibyte (Japanese) input only in a UTF-8 character locale */
            setlocale(LC_CTYPE, "");
            locale_set = true;
        }
        term_interrupted = 0;
        char *line = readline(prompt);
        if (!line && term_interrupted) {
            term_interrupted = 0;
            *interrupted = true;
            fputc('\n', stdout);
            return strdup("");
        }
        return line;
    }
    char *line = NULL;
    size_t cap = 0;
    errno = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        return NULL;
    }
    if (n > 0 && line[n - 1] == '\n') line[--n] = 0;
    if (n > 0 && line[n - 1] == '\r') line[--n] = 0;
    return line;
}

void term_add_history(const char *line) {
    if (line[0]) add_history(line);
}
