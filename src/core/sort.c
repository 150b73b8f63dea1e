/* sort.c - the radix sort of sort.h. */
#include "sort.h"

#include <string.h>

/* Key i of `width` bytes (4 or 8) at p: the callers pass a constant width,
 * so each inlined copy reads its keys directly. */
static inline uint64_t key_at(const void *p, size_t i, size_t width)
{
    if (width == 8) {
        uint64_t k;
        memcpy(&k, (const uint8_t *)p + i * 8, 8);
        return k;
    }
    uint32_t k;
    memcpy(&k, (const uint8_t *)p + i * 4, 4);
    return k;
}

/* Sort the n keys of `width` bytes at k ascending, 8 bits a pass, tmp
 * holding n more; a pass in which every key has the same digit is skipped
 * (the high bits of small numbers). */
static inline void radix_sort(void *k, void *tmp, size_t n, size_t width)
{
    uint8_t *src = k, *dst = tmp;
    for (unsigned shift = 0; shift < 8 * width; shift += 8) {
        size_t count[256] = { 0 };
        for (size_t i = 0; i < n; i++)
            count[(key_at(src, i, width) >> shift) & 0xff]++;
        if (n == 0 || count[(key_at(src, 0, width) >> shift) & 0xff] == n)
            continue;
        size_t at = 0;
        for (unsigned d = 0; d < 256; d++) {
            size_t c = count[d];
            count[d] = at;
            at += c;
        }
        for (size_t i = 0; i < n; i++)
            memcpy(dst + width * count[(key_at(src, i, width) >> shift) & 0xff]++,
                   src + width * i, width);
        uint8_t *s = src;
        src = dst;
        dst = s;
    }
    if (src != (uint8_t *)k)
        memcpy(k, src, n * width);
}

void nnz_radix_sort64(uint64_t *k, uint64_t *tmp, size_t n)
{
    radix_sort(k, tmp, n, 8);
}

/* Floats as unsigned keys in the same order: flip all bits of negatives,
 * the sign bit of the others (an involution's inverse below). */
static uint32_t float_key(uint32_t u) { return u & 0x80000000u ? ~u : u | 0x80000000u; }
static uint32_t key_float(uint32_t k) { return k & 0x80000000u ? k & 0x7fffffffu : ~k; }

void nnz_sort_floats(float *v, float *tmp, size_t n)
{
    for (size_t i = 0; i < n; i++) { /* the keys in v's own storage */
        uint32_t u;
        memcpy(&u, &v[i], 4);
        u = float_key(u);
        memcpy(&v[i], &u, 4);
    }
    radix_sort(v, tmp, n, 4);
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        u = key_float(u);
        memcpy(&v[i], &u, 4);
    }
}
