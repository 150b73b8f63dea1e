/* strmap.c - see strmap.h. */
#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

int nnz_strmap_init(nnz_strmap *m, size_t expected, nnz_error *e)
{
    size_t cap = 16;
    while (cap < expected * 2 + 1)
        cap *= 2;
    m->keys = nnz_calloc(cap, sizeof *m->keys, e);
    m->vals = nnz_calloc(cap, sizeof *m->vals, e);
    m->cap = cap;
    m->used = 0;
    if (!m->keys || !m->vals) {
        nnz_strmap_free(m);
        return -1;
    }
    return 0;
}

void nnz_strmap_free(nnz_strmap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static size_t slot(const nnz_strmap *m, const char *key)
{
    size_t i = (size_t)hash(key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & (m->cap - 1);
    return i;
}

int nnz_strmap_put(nnz_strmap *m, const char *key, size_t val, nnz_error *e)
{
    if ((m->used + 1) * 2 > m->cap) {
        nnz_strmap bigger;
        if (nnz_strmap_init(&bigger, m->cap, e) != 0)
            return -1;
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i]) {
                size_t j = slot(&bigger, m->keys[i]);
                bigger.keys[j] = m->keys[i];
                bigger.vals[j] = m->vals[i];
                bigger.used++;
            }
        nnz_strmap_free(m);
        *m = bigger;
    }
    size_t i = slot(m, key);
    if (!m->keys[i]) {
        m->keys[i] = key;
        m->used++;
    }
    m->vals[i] = val;
    return 0;
}

int nnz_strmap_get(const nnz_strmap *m, const char *key, size_t *val)
{
    if (!m->cap)
        return 0;
    size_t i = slot(m, key);
    if (!m->keys[i])
        return 0;
    *val = m->vals[i];
    return 1;
}
