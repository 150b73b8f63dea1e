/* sort.h - the LSD radix sort the passes that order many numbers in O(n)
 * share: magnitude pruning's ranks and the Huffman builder's counts (64-bit
 * keys: a caller packs what it sorts by, and what ties break by, into the
 * key), k-means' sorted values (floats). */
#ifndef NNZ_SORT_H
#define NNZ_SORT_H

#include <stddef.h>
#include <stdint.h>

/* Sort k[0..n) ascending, 8 bits a pass; a pass in which every key has the
 * same digit is skipped (the high bits of small numbers). `tmp` holds n
 * keys. */
void nnz_radix_sort64(uint64_t *k, uint64_t *tmp, size_t n);

/* Sort v[0..n) ascending by value (-0 before +0; NaNs by their bits, past
 * the infinities of their sign), the same radix sort; `tmp` holds n floats. */
void nnz_sort_floats(float *v, float *tmp, size_t n);

#endif
