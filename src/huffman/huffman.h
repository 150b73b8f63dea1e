/* huffman.h - canonical, length-limited Huffman codes (Deep Compression
 * section 4; the stream layout is docs/FORMAT.md, "Huffman table").
 *
 * Used by the blob encoder to code symbol streams, and by the huffman pass
 * to report what coding will save. */
#ifndef NNZ_HUFFMAN_HUFFMAN_H
#define NNZ_HUFFMAN_HUFFMAN_H

#include <stddef.h>
#include <stdint.h>

#include "bitio.h"
#include "error.h"

typedef struct nnz_huff {
    unsigned width;        /* bits of a symbol in the table (alphabet < 2^width) */
    unsigned maxlen;       /* longest code; 0 when one symbol is used */
    uint32_t nsyms;        /* symbols with a code */
    uint32_t *syms;        /* nsyms symbols in canonical order (length, then value) */
    uint32_t count[17];    /* codes per length */
    uint8_t *len;          /* per alphabet symbol: its code length (0: unused) */
    uint32_t *code;        /* per alphabet symbol: its code */
    uint32_t alphabet;
} nnz_huff;

/* Build the code for symbol counts freq[0..alphabet) with codes at most
 * `max_len` (1..16) bits. alphabet <= 2^16. Fails only for lack of memory
 * or an alphabet too large for max_len. */
int nnz_huff_build(const uint64_t *freq, uint32_t alphabet, unsigned max_len, nnz_huff *h,
                   nnz_error *e);
void nnz_huff_free(nnz_huff *h);

/* Bits of the table as stored, and of `freq` coded with it. */
uint64_t nnz_huff_table_bits(const nnz_huff *h);
uint64_t nnz_huff_data_bits(const nnz_huff *h, const uint64_t *freq);

/* Write the table (byte-aligned after), and one symbol. */
void nnz_huff_write_table(const nnz_huff *h, nnz_bitw *w);
static inline void nnz_huff_put(const nnz_huff *h, nnz_bitw *w, uint32_t sym)
{
    if (h->maxlen)
        nnz_bitw_put(w, h->code[sym], h->len[sym]);
}

/* Order-0 entropy of the counts, in bits per symbol. */
double nnz_entropy(const uint64_t *freq, uint32_t alphabet);

#endif
