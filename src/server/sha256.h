/* SHA-256 (FIPS 180-4): model digests for /api/tags and constant-time API key
 * comparison (both sides hashed, then compared in full). */
#ifndef LAIR_SERVER_SHA256_H
#define LAIR_SERVER_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct srv_sha256_ctx {
    uint32_t h[8];
    uint64_t n;          /* bytes hashed so far */
    uint8_t block[64];
    size_t fill;         /* bytes in block */
} srv_sha256_ctx;

void srv_sha256_init(srv_sha256_ctx *s);
void srv_sha256_update(srv_sha256_ctx *s, const void *data, size_t len);
void srv_sha256_final(srv_sha256_ctx *s, uint8_t out[32]);
void srv_sha256(const void *data, size_t len, uint8_t out[32]);
/* 64 lowercase hex digits + NUL. */
void srv_sha256_hex(const uint8_t d[32], char out[65]);

#endif
