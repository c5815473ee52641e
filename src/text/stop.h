/* Stop strings: finds the first of a set of byte strings in generated text
 * that arrives one token piece at a time, so that a stop string split over
 * several tokens ("Hel" "lo wor" "ld" with stop "lo w") is still found and
 * never shown to the user.
 *
 * Feed each piece as it is produced; the result says which bytes are safe to
 * emit now.  Bytes at the end of the text that could be the start of a stop
 * string (a suffix that is a proper prefix of one) are held back, at most
 * (longest stop - 1) of them, and released as soon as a later piece shows
 * they are not, or by lair_stop_flush at the end of the generation.  When a
 * stop string completes, the result holds the text before its first byte and
 * names it; everything from it on (the rest of that piece too) is dropped and
 * later feeds emit nothing.  If several complete at once the one starting
 * first wins (among equal starts, the one listed first).
 *
 * Matching is on bytes: UTF-8 stop strings ("。") match UTF-8 text exactly,
 * including when a token ends inside a multi-byte character.  No allocation
 * happens per piece except when a piece is longer than any seen before (the
 * buffer starts at the longest stop + 256 bytes and doubles). */
#ifndef LAIR_TEXT_STOP_H
#define LAIR_TEXT_STOP_H

#include <stddef.h>
#include <stdint.h>

#include "lair.h"

#define LAIR_STOP_MAX 64        /* stop strings per matcher */
#define LAIR_STOP_MAX_LEN 1024  /* bytes per stop string */

typedef struct lair_stop lair_stop;

typedef struct lair_stop_result {
    const char *text; /* bytes to emit now (not NUL-terminated); valid until the next call on the matcher */
    size_t len;
    int32_t stop;     /* index of the stop string that completed, or -1 */
} lair_stop_result;

/* Copies n stop strings (NUL-terminated, non-empty, at most
 * LAIR_STOP_MAX_LEN bytes; n == 0 gives a matcher that passes text through).
 * Errors: LAIR_ERR_ARG (NULL or empty string), LAIR_ERR_LIMIT (too many or too
 * long), LAIR_ERR_NOMEM. */
lair_status lair_stop_create(const char *const *stops, int32_t n, lair_stop **out, lair_err *err);
void lair_stop_free(lair_stop *m);

/* Adds piece[len] to the text.  Fails only with LAIR_ERR_NOMEM (when the piece
 * does not fit the buffer and growing it fails; the matcher is unchanged). */
lair_status lair_stop_feed(lair_stop *m, const char *piece, size_t len, lair_stop_result *r, lair_err *err);

/* End of the generation: releases the held-back bytes (none after a stop). */
void lair_stop_flush(lair_stop *m, lair_stop_result *r);

/* Ready for a new text with the same stop strings. */
void lair_stop_reset(lair_stop *m);

#endif
