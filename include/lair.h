/*
 * lair — a local-AI runtime.  Public C API.
 *
 * Conventions
 *   - Every fallible function returns a lair_status and, when given a non-NULL
 *     lair_err, fills it with a message that names the object and the place
 *     ("gguf: tensor 'blk.3.attn_q.weight': offset 0x1f00 + 4096 bytes past end of file").
 *   - Objects come in init/free pairs; free(NULL) is a no-op.
 *   - Nothing in the library exits the process or prints unless asked to.
 */
#ifndef LAIR_H
#define LAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LAIR_VERSION_MAJOR 0
#define LAIR_VERSION_MINOR 1
#define LAIR_VERSION_PATCH 0
#define LAIR_VERSION_STRING "0.1.0"

typedef enum lair_status {
    LAIR_OK = 0,
    LAIR_ERR_IO,          /* open/read/write/map failed                       */
    LAIR_ERR_FORMAT,      /* malformed or hostile input                        */
    LAIR_ERR_UNSUPPORTED, /* well-formed but not something lair implements     */
    LAIR_ERR_NOMEM,       /* an allocation failed                              */
    LAIR_ERR_ARG,         /* the caller passed something invalid               */
    LAIR_ERR_LIMIT,       /* input exceeds a documented limit                  */
} lair_status;

/* Error detail: the status plus a human-readable message. */
#define LAIR_ERR_MSG_MAX 512
typedef struct lair_err {
    lair_status code;
    char msg[LAIR_ERR_MSG_MAX];
} lair_err;

const char *lair_status_name(lair_status s);
const char *lair_version(void);

/*
 * Tensor formats.  The numeric values are the ggml type ids stored in GGUF
 * files, so they must never change.  Ids that ggml retired (4, 5, 31-33) are
 * absent; a file using them is rejected.
 */
typedef enum lair_type {
    LAIR_TYPE_F32 = 0,
    LAIR_TYPE_F16 = 1,
    LAIR_TYPE_Q4_0 = 2,
    LAIR_TYPE_Q4_1 = 3,
    LAIR_TYPE_Q5_0 = 6,
    LAIR_TYPE_Q5_1 = 7,
    LAIR_TYPE_Q8_0 = 8,
    LAIR_TYPE_Q8_1 = 9,
    LAIR_TYPE_Q2_K = 10,
    LAIR_TYPE_Q3_K = 11,
    LAIR_TYPE_Q4_K = 12,
    LAIR_TYPE_Q5_K = 13,
    LAIR_TYPE_Q6_K = 14,
    LAIR_TYPE_Q8_K = 15,
    LAIR_TYPE_IQ2_XXS = 16,
    LAIR_TYPE_IQ2_XS = 17,
    LAIR_TYPE_IQ3_XXS = 18,
    LAIR_TYPE_IQ1_S = 19,
    LAIR_TYPE_IQ4_NL = 20,
    LAIR_TYPE_IQ3_S = 21,
    LAIR_TYPE_IQ2_S = 22,
    LAIR_TYPE_IQ4_XS = 23,
    LAIR_TYPE_I8 = 24,
    LAIR_TYPE_I16 = 25,
    LAIR_TYPE_I32 = 26,
    LAIR_TYPE_I64 = 27,
    LAIR_TYPE_F64 = 28,
    LAIR_TYPE_IQ1_M = 29,
    LAIR_TYPE_BF16 = 30,
    LAIR_TYPE_TQ1_0 = 34,
    LAIR_TYPE_TQ2_0 = 35,
    LAIR_TYPE_MXFP4 = 39,
    LAIR_TYPE_COUNT = 40 /* one past the largest id */
} lair_type;

/* "q4_K", "f16", ...; NULL for an id that is not a known format. */
const char *lair_type_name(lair_type t);

#ifdef __cplusplus
}
#endif
#endif /* LAIR_H */
