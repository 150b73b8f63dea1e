/* bitio.c - see bitio.h. */
#include "bitio.h"

#include <stdlib.h>
#include <string.h>

static void reserve(nnz_bitw *w, size_t more)
{
    if (w->failed || w->cap - w->len >= more)
        return;
    size_t cap = w->cap ? w->cap : 256;
    while (cap - w->len < more)
        cap *= 2;
    uint8_t *b = realloc(w->buf, cap);
    if (!b) {
        w->failed = 1;
        return;
    }
    w->buf = b;
    w->cap = cap;
}

void nnz_bitw_put(nnz_bitw *w, uint32_t v, unsigned width)
{
    uint64_t mask = width == 32 ? 0xffffffffu : (1u << width) - 1;
    w->acc = w->acc << width | (v & mask);
    w->nacc += width;
    if (w->nacc >= 32) {
        reserve(w, 8);
        while (w->nacc >= 8 && !w->failed) {
            w->buf[w->len++] = (uint8_t)(w->acc >> (w->nacc - 8));
            w->nacc -= 8;
        }
        if (w->failed)
            w->nacc = 0;
    }
}

void nnz_bitw_align(nnz_bitw *w)
{
    reserve(w, 8);
    while (w->nacc >= 8 && !w->failed) {
        w->buf[w->len++] = (uint8_t)(w->acc >> (w->nacc - 8));
        w->nacc -= 8;
    }
    if (w->nacc && !w->failed)
        w->buf[w->len++] = (uint8_t)(w->acc << (8 - w->nacc));
    w->nacc = 0;
    w->acc = 0;
}

void nnz_bitw_bytes(nnz_bitw *w, const void *p, size_t n)
{
    nnz_bitw_align(w); /* pending bits go out first */
    reserve(w, n);
    if (!w->failed && n) {
        memcpy(w->buf + w->len, p, n);
        w->len += n;
    }
}

void nnz_bitw_free(nnz_bitw *w)
{
    free(w->buf);
    memset(w, 0, sizeof *w);
}
