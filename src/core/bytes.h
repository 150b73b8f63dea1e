/* bytes.h - the growing byte buffer every writer appends to: the blob's
 * sections, the bit writer, the model packer's in-memory sink, text the CLI
 * builds up. Out of memory is sticky: check `failed` once, at the end. */
#ifndef NNZ_CORE_BYTES_H
#define NNZ_CORE_BYTES_H

#include <stddef.h>
#include <stdint.h>

typedef struct nnz_bytes {
    uint8_t *buf;
    size_t len, cap;
    int failed;        /* out of memory (sticky) */
} nnz_bytes;

/* Room for n more bytes (the capacity doubles, from 256): 0, or -1 with
 * `failed` set. */
int nnz_bytes_reserve(nnz_bytes *b, size_t n);
/* Append n bytes. */
void nnz_bytes_put(nnz_bytes *b, const void *data, size_t n);
void nnz_bytes_u8(nnz_bytes *b, unsigned v);
/* Append v as a varint: 7 bits a byte, low first, the top bit set on all
 * but the last (protobuf's, and docs/FORMAT.md's). */
void nnz_bytes_varint(nnz_bytes *b, uint64_t v);
/* Append n bytes of text and keep a NUL after them (not counted in len),
 * so that nnz_bytes_str is a C string. */
void nnz_bytes_text(nnz_bytes *b, const char *s, size_t n);
void nnz_bytes_puts(nnz_bytes *b, const char *s);
/* The text appended so far, or NULL when none was. */
static inline char *nnz_bytes_str(const nnz_bytes *b) { return (char *)b->buf; }
void nnz_bytes_free(nnz_bytes *b);

/* Write v as a varint into out (room for 10 bytes); returns its length. */
size_t nnz_varint_put(uint8_t *out, uint64_t v);

/* How many bytes v takes as a varint (1..10). */
static inline unsigned nnz_varint_len(uint64_t v)
{
    unsigned n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

#endif
