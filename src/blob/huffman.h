/* huffman.h - canonical, length-limited Huffman codes (Deep Compression
 * section 4; the stream layout is docs/FORMAT.md, "Huffman table" and
 * "Huffman, four lanes").
 *
 * The blob's entropy coder: the encoder codes symbol streams with it (the
 * huffman pass only asks for it, through the tensor's state), and the
 * benchmarks report what coding costs. */
#ifndef NNZ_BLOB_HUFFMAN_H
#define NNZ_BLOB_HUFFMAN_H

#include <stddef.h>
#include <stdint.h>

#include "bitio.h"
#include "error.h"
#include "metrics.h" /* nnz_entropy: what a code's cost is weighed against */
#include "state.h" /* NNZ_HUFF_DEFAULT_MAX_LEN, the limit a state asks for by default */

/* Longest code nnz_huff_build makes when asked for "no limit" (only for
 * measuring what a limit costs; the format stores at most 16). */
#define NNZ_HUFF_BUILD_MAX_LEN 32

/* Codes that all fit the runtime's first-level table (NNZ_HUFF_FAST_BITS,
 * nnz.h) decode 11-22% faster: the encoder takes them when they cost at
 * most NNZ_HUFF_FAST_COST more data bits than the unlimited code. */
#define NNZ_HUFF_FAST_COST 0.005

typedef struct nnz_huff {
    unsigned width;        /* bits that hold any symbol of the alphabet */
    unsigned maxlen;       /* longest code; 0 when one symbol (or none) is used */
    uint32_t nsyms;        /* symbols with a code (1 when maxlen is 0) */
    uint32_t *syms;        /* nsyms symbols in canonical order (length, then value) */
    uint32_t count[NNZ_HUFF_BUILD_MAX_LEN + 1]; /* codes per length */
    uint8_t *len;          /* per alphabet symbol: its code length (0: unused) */
    uint32_t *code;        /* per alphabet symbol: its code */
    uint32_t alphabet;
} nnz_huff;

/* Build the optimal prefix code for symbol counts freq[0..alphabet) whose
 * codes are at most `max_len` bits: plain Huffman when it fits the limit,
 * else package-merge (the optimal length-limited code). Ties are broken by
 * symbol value, so the code is deterministic. alphabet 1..65536; max_len
 * 1..NNZ_HUFF_BUILD_MAX_LEN (the format takes up to 16). Fails for lack of
 * memory, or when more than 2^max_len symbols occur. */
int nnz_huff_build(const uint64_t *freq, uint32_t alphabet, unsigned max_len, nnz_huff *h,
                   nnz_error *e);
/* The same, but codes of at most pref_len bits when they cost at most
 * max_cost (a fraction) more bits of freq than the unlimited optimal code,
 * and at most max_bits. */
int nnz_huff_build_pref(const uint64_t *freq, uint32_t alphabet, unsigned max_len,
                        unsigned pref_len, double max_cost, double max_bits, nnz_huff *h,
                        nnz_error *e);
void nnz_huff_free(nnz_huff *h);

/* Table forms (docs/FORMAT.md): the symbol list at `width` bits each
 * (stream coding 1), or as Elias-gamma gaps within each length (coding 2). */
enum { NNZ_HUFF_TABLE_LIST = 1, NNZ_HUFF_TABLE_GAMMA = 2 };

/* Bits of the table as stored (a whole number of bytes), and of `freq`
 * coded with it. */
uint64_t nnz_huff_table_bits(const nnz_huff *h, int form);
uint64_t nnz_huff_data_bits(const nnz_huff *h, const uint64_t *freq);

/* Write the table (byte-aligned after). */
void nnz_huff_write_table(const nnz_huff *h, int form, nnz_bitw *w);

/* Write one symbol. */
static inline void nnz_huff_put(const nnz_huff *h, nnz_bitw *w, uint32_t sym)
{
    if (h->maxlen)
        nnz_bitw_put(w, h->code[sym], h->len[sym]);
}

#endif
