/* Terminal and process services for the interactive commands: Ctrl-C as a
 * flag instead of an exit, line editing with history, whole-file reads.
 * POSIX implementation in term_posix.c (one platform file for this concern). */
#ifndef LAIR_TOOLS_TERM_H
#define LAIR_TOOLS_TERM_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

/* Set by Ctrl-C (SIGINT) once term_catch_interrupt() ran; the caller clears it. */
extern volatile sig_atomic_t term_interrupted;
void term_catch_interrupt(void);

/* A gen_emit_fn for generated text on stdout (ud unused).  On a terminal,
 * control characters other than newline and tab (C0, DEL, C1) are shown as
 * U+FFFD: a model's output must not move the cursor, retitle the window or
 * make the terminal answer with input.  Redirected output is written as is. */
void term_emit_text(void *ud, const char *text, size_t len);

/* Whole file ("-": stdin) into a malloc'd, NUL-terminated buffer; NULL on error. */
char *term_read_file(const char *path, size_t *len);

/* Reads one line with editing and history when stdin is a terminal (the
 * prompt is shown then), plain reading otherwise.  Returns a malloc'd line
 * without its newline, or NULL at end of input.  *interrupted is set when
 * Ctrl-C cancelled the line (the result is then an empty line). */
char *term_read_line(const char *prompt, bool *interrupted);
void term_add_history(const char *line);

#endif
