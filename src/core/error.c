/* error.c - filling and wrapping nnz_error. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nnz_fail(nnz_error *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->code = code;
    }
    return -1;
}

int nnz_wrap(nnz_error *e, const char *fmt, ...)
{
    if (!e)
        return -1;
    char head[512], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    /* truncation is fine: the message is for people */
    size_t hl = strlen(head), ol = strlen(old);
    if (hl > sizeof e->msg - 1)
        hl = sizeof e->msg - 1;
    if (ol > sizeof e->msg - 1 - hl)
        ol = sizeof e->msg - 1 - hl;
    memcpy(e->msg, head, hl);
    memcpy(e->msg + hl, old, ol);
    e->msg[hl + ol] = '\0';
    if (e->code == 0)
        e->code = NNZ_EXIT_INTERNAL;
    return -1;
}

void *nnz_malloc(size_t n, nnz_error *e)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory (%zu bytes)", n);
    return p;
}

void *nnz_calloc(size_t count, size_t size, nnz_error *e)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory (%zu x %zu bytes)", count, size);
    return p;
}

void *nnz_realloc(void *p, size_t n, nnz_error *e)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory (%zu bytes)", n);
    return q;
}

char *nnz_strdup(const char *s, nnz_error *e)
{
    size_t n = strlen(s) + 1;
    char *p = nnz_malloc(n, e);
    if (p)
        memcpy(p, s, n);
    return p;
}
