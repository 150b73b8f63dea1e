/* sha256.h - SHA-256 (FIPS 180-4), for the source-model digest in blobs. */
#ifndef NNZ_CORE_SHA256_H
#define NNZ_CORE_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct nnz_sha256 {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t nbuf;
} nnz_sha256;

void nnz_sha256_init(nnz_sha256 *s);
void nnz_sha256_update(nnz_sha256 *s, const void *data, size_t len);
void nnz_sha256_final(nnz_sha256 *s, uint8_t out[32]);
/* Lower-case hex of the digest of `data` into out[65]. */
void nnz_sha256_hex(const void *data, size_t len, char out[65]);

#endif
