/* Error detail helpers shared by every module. */
#ifndef LAIR_CORE_ERR_H
#define LAIR_CORE_ERR_H

#include "lair.h"

#if defined(__GNUC__) || defined(__clang__)
#define LAIR_PRINTF(fmt_idx, first_arg) __attribute__((format(printf, fmt_idx, first_arg)))
#else
#define LAIR_PRINTF(fmt_idx, first_arg)
#endif

/* Fills *err (if non-NULL) and returns code, so callers can write
 * `return lair_err_set(err, LAIR_ERR_FORMAT, "gguf: ...", ...);`. */
lair_status lair_err_set(lair_err *err, lair_status code, const char *fmt, ...) LAIR_PRINTF(3, 4);

#endif
