#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *lair_status_name(lair_status s) {
    switch (s) {
    case LAIR_OK: return "ok";
    case LAIR_ERR_IO: return "i/o error";
    case LAIR_ERR_FORMAT: return "malformed input";
    case LAIR_ERR_UNSUPPORTED: return "unsupported";
    case LAIR_ERR_NOMEM: return "out of memory";
    case LAIR_ERR_ARG: return "invalid argument";
    case LAIR_ERR_LIMIT: return "limit exceeded";
    }
    return "unknown status";
}

const char *lair_version(void) { return LAIR_VERSION_STRING; }

lair_status lair_err_set(lair_err *err, lair_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}
