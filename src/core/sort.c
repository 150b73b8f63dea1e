/* sort.c - the radix sort of sort.h. */
#include "sort.h"

#include <string.h>

void nnz_radix_sort64(uint64_t *k, uint64_t *tmp, size_t n)
{
    uint64_t *src = k, *dst = tmp;
    for (unsigned shift = 0; shift < 64; shift += 8) {
        size_t count[256] = { 0 };
        for (size_t i = 0; i < n; i++)
            count[(src[i] >> shift) & 0xff]++;
        if (n == 0 || count[(src[0] >> shift) & 0xff] == n)
            continue;
        size_t at = 0;
        for (unsigned d = 0; d < 256; d++) {
            size_t c = count[d];
            count[d] = at;
            at += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[count[(src[i] >> shift) & 0xff]++] = src[i];
        uint64_t *s = src;
        src = dst;
        dst = s;
    }
    if (src != k)
        memcpy(k, src, n * sizeof *k);
}
