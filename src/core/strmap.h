/* strmap.h - a small string -> size_t hash map (open addressing). Keys are
 * borrowed: they must outlive the map. */
#ifndef NNZ_CORE_STRMAP_H
#define NNZ_CORE_STRMAP_H

#include <stddef.h>

#include "error.h"

typedef struct nnz_strmap {
    const char **keys;
    size_t *vals;
    size_t cap;   /* a power of two */
    size_t used;
} nnz_strmap;

int nnz_strmap_init(nnz_strmap *m, size_t expected, nnz_error *e);
void nnz_strmap_free(nnz_strmap *m);
/* Insert or replace. */
int nnz_strmap_put(nnz_strmap *m, const char *key, size_t val, nnz_error *e);
/* 1 and *val when found, 0 when not. */
int nnz_strmap_get(const nnz_strmap *m, const char *key, size_t *val);

#endif
