/* bitio.c - see bitio.h. */
#include "bitio.h"

#include <string.h>

void nnz_bitw_spill(nnz_bitw *w)
{
    if (nnz_bytes_reserve(&w->out, 4) != 0) {
        w->nacc = 0;
        return;
    }
    w->nacc -= 32;
    uint32_t v = (uint32_t)(w->acc >> w->nacc);
    uint8_t *p = w->out.buf + w->out.len;
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    w->out.len += 4;
}

void nnz_bitw_align(nnz_bitw *w)
{
    int ok = nnz_bytes_reserve(&w->out, 8) == 0;
    while (w->nacc >= 8 && ok) {
        w->out.buf[w->out.len++] = (uint8_t)(w->acc >> (w->nacc - 8));
        w->nacc -= 8;
    }
    if (w->nacc && ok)
        w->out.buf[w->out.len++] = (uint8_t)(w->acc << (8 - w->nacc));
    w->nacc = 0;
    w->acc = 0;
}

void nnz_bitw_bytes(nnz_bitw *w, const void *p, size_t n)
{
    nnz_bitw_align(w); /* pending bits go out first */
    nnz_bytes_put(&w->out, p, n);
}

void nnz_bitw_free(nnz_bitw *w)
{
    nnz_bytes_free(&w->out);
    memset(w, 0, sizeof *w);
}
