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

void nnz_bitw_spill(nnz_bitw *w)
{
    reserve(w, 4);
    if (w->failed) {
        w->nacc = 0;
        return;
    }
    w->nacc -= 32;
    uint32_t out = (uint32_t)(w->acc >> w->nacc);
    w->buf[w->len] = (uint8_t)(out >> 24);
    w->buf[w->len + 1] = (uint8_t)(out >> 16);
    w->buf[w->len + 2] = (uint8_t)(out >> 8);
    w->buf[w->len + 3] = (uint8_t)out;
    w->len += 4;
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
