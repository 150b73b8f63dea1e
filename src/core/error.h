/* error.h - the tool's error out-parameter.
 *
 * Every function that can fail takes an `nnz_error *` and returns -1 after
 * filling it (0 on success). Callers add context on the way up, so the
 * message the user sees reads outermost first:
 *   model.onnx: tensor 'fc1.weight': dims product overflows ...
 * The code is the process exit status `main` will use (docs/cli.md). */
#ifndef NNZ_CORE_ERROR_H
#define NNZ_CORE_ERROR_H

#include <stddef.h>

/* Exit codes, documented in docs/cli.md and `nnzip --help`. Fixed once
 * released: scripts test them. */
enum {
    NNZ_EXIT_OK = 0,
    NNZ_EXIT_VERIFY = 1,   /* verify ran and a check failed */
    NNZ_EXIT_USAGE = 2,    /* bad command line, option or pipeline */
    NNZ_EXIT_INPUT = 3,    /* input unreadable, malformed or over a limit */
    NNZ_EXIT_OUTPUT = 4,   /* output could not be written */
    NNZ_EXIT_INTERNAL = 5  /* out of memory, or a bug */
};

typedef struct nnz_error {
    int code;        /* an NNZ_EXIT_* value; 0 while no error */
    char msg[1024];
} nnz_error;

/* Set the error (printf-style) and return -1. */
int nnz_fail(nnz_error *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the message with context ("tensor 'w': "); returns -1. */
int nnz_wrap(nnz_error *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* malloc/calloc/realloc that report failure through `e`. */
void *nnz_malloc(size_t n, nnz_error *e);
void *nnz_calloc(size_t count, size_t size, nnz_error *e);
void *nnz_realloc(void *p, size_t n, nnz_error *e);
char *nnz_strdup(const char *s, nnz_error *e);

/* a*b without wrapping; 0 on success, -1 when it would not fit. */
static inline int nnz_mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > (size_t)-1 / a)
        return -1;
    *out = a * b;
    return 0;
}

#endif
