/* sort.h - an LSD radix sort of 64-bit keys, shared by the passes that
 * order many numbers in O(n): magnitude pruning's ranks and the Huffman
 * builder's counts. A caller packs what it sorts by, and what ties break
 * by, into the key. */
#ifndef NNZ_SORT_H
#define NNZ_SORT_H

#include <stddef.h>
#include <stdint.h>

/* Sort k[0..n) ascending, 8 bits a pass; a pass in which every key has the
 * same digit is skipped (the high bits of small numbers). `tmp` holds n
 * keys. */
void nnz_radix_sort64(uint64_t *k, uint64_t *tmp, size_t n);

#endif
