/* bytes.c - see bytes.h. */
#include "bytes.h"

#include <stdlib.h>
#include <string.h>

int nnz_bytes_reserve(nnz_bytes *b, size_t n)
{
    if (b->failed)
        return -1;
    if (b->cap - b->len >= n)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2) {
            b->failed = 1;
            return -1;
        }
        cap *= 2;
    }
    uint8_t *p = realloc(b->buf, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->buf = p;
    b->cap = cap;
    return 0;
}

void nnz_bytes_put(nnz_bytes *b, const void *data, size_t n)
{
    if (n == 0 || nnz_bytes_reserve(b, n) != 0)
        return;
    memcpy(b->buf + b->len, data, n);
    b->len += n;
}

void nnz_bytes_u8(nnz_bytes *b, unsigned v)
{
    uint8_t x = (uint8_t)v;
    nnz_bytes_put(b, &x, 1);
}

size_t nnz_varint_put(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    do {
        out[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            out[n] |= 0x80;
        n++;
    } while (v);
    return n;
}

void nnz_bytes_varint(nnz_bytes *b, uint64_t v)
{
    uint8_t x[10];
    nnz_bytes_put(b, x, nnz_varint_put(x, v));
}

void nnz_bytes_text(nnz_bytes *b, const char *s, size_t n)
{
    if (n == SIZE_MAX || nnz_bytes_reserve(b, n + 1) != 0)
        return;
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

void nnz_bytes_puts(nnz_bytes *b, const char *s)
{
    nnz_bytes_text(b, s, strlen(s));
}

void nnz_bytes_free(nnz_bytes *b)
{
    free(b->buf);
    memset(b, 0, sizeof *b);
}
