/* bench_util.h - what the benchmark programs share: a monotonic clock,
 * reading a whole file, opening a blob. Header-only, so each bench still
 * builds from its own .c plus the runtime. */
#ifndef NNZ_BENCH_UTIL_H
#define NNZ_BENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "nnz.h"

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The whole file, malloc'ed; NULL if it cannot be read or is empty. */
static inline unsigned char *bench_read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    unsigned char *buf = n > 0 ? malloc((size_t)n) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size = n > 0 ? (size_t)n : 0;
    return buf;
}

/* The blob at `path`, read and opened into b: its bytes (to free), or
 * NULL after a message naming `who`. */
static inline unsigned char *bench_open_blob(const char *who, const char *path, nnz_blob *b)
{
    size_t size;
    unsigned char *data = bench_read_all(path, &size);
    if (!data || nnz_open(b, data, size, 0) != NNZ_OK) {
        fprintf(stderr, "%s: cannot open %s\n", who, path);
        free(data);
        return NULL;
    }
    return data;
}

#endif
