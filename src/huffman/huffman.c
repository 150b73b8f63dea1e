/* huffman.c - building canonical, length-limited Huffman codes.
 *
 * Code lengths come from the two-queue Huffman construction over the
 * symbols sorted by count (ties broken by symbol, so the code is
 * deterministic), are limited to max_len by the adjustment of the JPEG
 * standard (Annex K.3: a code longer than the limit and its sibling move up
 * while a shorter code moves down one level, which keeps the Kraft sum at
 * one), and are handed out again shortest-first to the most frequent
 * symbols. Codes are then assigned canonically. */
#include "huffman.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct item {
    uint64_t freq;
    uint32_t sym;
} item;

static int by_freq_then_sym(const void *a, const void *b)
{
    const item *x = a, *y = b;
    if (x->freq != y->freq)
        return x->freq < y->freq ? -1 : 1;
    return x->sym < y->sym ? -1 : x->sym > y->sym;
}

static unsigned width_for(uint32_t alphabet)
{
    unsigned w = 1;
    while (w < 32 && ((uint64_t)1 << w) < alphabet)
        w++;
    return w;
}

void nnz_huff_free(nnz_huff *h)
{
    free(h->syms);
    free(h->len);
    free(h->code);
    memset(h, 0, sizeof *h);
}

int nnz_huff_build(const uint64_t *freq, uint32_t alphabet, unsigned max_len, nnz_huff *h,
                   nnz_error *e)
{
    memset(h, 0, sizeof *h);
    if (alphabet == 0 || alphabet > 65536 || max_len < 1 || max_len > 16)
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "huffman: alphabet %u / length limit %u out of range",
                        alphabet, max_len);
    h->alphabet = alphabet;
    h->width = width_for(alphabet);
    h->len = nnz_calloc(alphabet, 1, e);
    h->code = nnz_calloc(alphabet, sizeof *h->code, e);
    item *it = nnz_calloc(alphabet, sizeof *it, e);
    if (!h->len || !h->code || !it) {
        free(it);
        nnz_huff_free(h);
        return -1;
    }
    uint32_t n = 0;
    for (uint32_t s = 0; s < alphabet; s++)
        if (freq[s])
            it[n++] = (item){ freq[s], s };
    if (n <= 1) { /* one symbol (or none): it takes zero bits */
        h->syms = nnz_malloc(sizeof *h->syms, e);
        if (!h->syms) {
            free(it);
            nnz_huff_free(h);
            return -1;
        }
        h->syms[0] = n ? it[0].sym : 0;
        h->nsyms = 1;
        free(it);
        return 0;
    }
    if (((uint64_t)1 << max_len) < n) {
        free(it);
        nnz_huff_free(h);
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "huffman: %u symbols cannot have codes of at most %u bits",
                        n, max_len);
    }
    qsort(it, n, sizeof *it, by_freq_then_sym);

    /* Two queues: leaves in order, internal nodes as made (their weights
     * never decrease). parent[] links every node; depth = code length. */
    size_t nodes = 2 * (size_t)n - 1;
    uint64_t *w = nnz_malloc(nodes * sizeof *w, e);
    uint32_t *parent = nnz_malloc(nodes * sizeof *parent, e);
    if (!w || !parent) {
        free(w);
        free(parent);
        free(it);
        nnz_huff_free(h);
        return -1;
    }
    for (uint32_t i = 0; i < n; i++)
        w[i] = it[i].freq;
    uint32_t leaf = 0, inner = n, made = n;
    while (made < nodes) {
        uint32_t pick[2];
        for (int k = 0; k < 2; k++) {
            if (leaf < n && (inner >= made || w[leaf] <= w[inner]))
                pick[k] = leaf++;
            else
                pick[k] = inner++;
        }
        w[made] = w[pick[0]] + w[pick[1]];
        parent[pick[0]] = parent[pick[1]] = made;
        made++;
    }
    /* depths, from the root down (parents come after children) */
    uint32_t *depth = (uint32_t *)w; /* reuse: weights are no longer needed */
    depth[nodes - 1] = 0;
    for (size_t i = nodes - 1; i-- > 0;)
        depth[i] = depth[parent[i]] + 1;
    uint32_t count[128] = { 0 };
    unsigned longest = 0;
    for (uint32_t i = 0; i < n; i++) {
        unsigned d = depth[i] < 127 ? depth[i] : 127;
        count[d]++;
        if (d > longest)
            longest = d;
    }
    free(w);
    free(parent);
    /* length limit (JPEG Annex K.3) */
    for (unsigned i = longest; i > max_len; i--) {
        while (count[i] > 0) {
            unsigned j = i - 2;
            while (count[j] == 0)
                j--;
            count[i] -= 2;
            count[i - 1] += 1;
            count[j + 1] += 2;
            count[j] -= 1;
        }
    }
    /* most frequent symbols get the shortest codes */
    uint32_t k = n;
    for (unsigned l = 1; l <= max_len; l++) {
        h->count[l] = count[l];
        for (uint32_t c = 0; c < count[l]; c++)
            h->len[it[--k].sym] = (uint8_t)l;
        if (count[l])
            h->maxlen = l;
    }
    free(it);
    /* canonical order and codes */
    h->syms = nnz_malloc(n * sizeof *h->syms, e);
    if (!h->syms) {
        nnz_huff_free(h);
        return -1;
    }
    uint32_t code = 0, at = 0;
    for (unsigned l = 1; l <= h->maxlen; l++) {
        for (uint32_t s = 0; s < alphabet; s++)
            if (h->len[s] == l) {
                h->syms[at++] = s;
                h->code[s] = code++;
            }
        code <<= 1;
    }
    h->nsyms = n;
    return 0;
}

static unsigned varint_bytes(uint64_t v)
{
    unsigned n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

uint64_t nnz_huff_table_bits(const nnz_huff *h)
{
    uint64_t bits = 8;
    for (unsigned l = 1; l <= h->maxlen; l++)
        bits += 8u * varint_bytes(h->count[l]);
    return bits + ((uint64_t)h->nsyms * h->width + 7) / 8 * 8;
}

uint64_t nnz_huff_data_bits(const nnz_huff *h, const uint64_t *freq)
{
    uint64_t bits = 0;
    for (uint32_t s = 0; s < h->alphabet; s++)
        bits += freq[s] * h->len[s];
    return bits;
}

void nnz_huff_write_table(const nnz_huff *h, nnz_bitw *w)
{
    nnz_bitw_put(w, h->maxlen, 8);
    for (unsigned l = 1; l <= h->maxlen; l++) {
        uint64_t v = h->count[l];
        do {
            nnz_bitw_put(w, (uint32_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0)), 8);
            v >>= 7;
        } while (v);
    }
    for (uint32_t i = 0; i < h->nsyms; i++)
        nnz_bitw_put(w, h->syms[i], h->width);
    nnz_bitw_align(w);
}

double nnz_entropy(const uint64_t *freq, uint32_t alphabet)
{
    double total = 0, h = 0;
    for (uint32_t s = 0; s < alphabet; s++)
        total += (double)freq[s];
    for (uint32_t s = 0; s < alphabet; s++)
        if (freq[s])
            h -= (double)freq[s] / total * log2((double)freq[s] / total);
    return h;
}
