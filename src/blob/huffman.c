/* huffman.c - building canonical, length-limited Huffman codes, and
 * writing their tables (docs/FORMAT.md, "Huffman table").
 *
 * Code lengths come from the two-queue Huffman construction over the
 * symbols sorted by count (ties broken by symbol, so the code is
 * deterministic). When the longest code passes the limit, the lengths come
 * instead from package-merge (Larmore and Hirschberg 1990), which gives
 * the optimal code under the limit: on the corpus it costs half of what
 * the JPEG adjustment (Annex K.3) did at 12 bits (docs/passes/huffman.md).
 * Codes are then assigned canonically: by length, then by symbol value. */
#include "huffman.h"
#include "sort.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct item {
    uint64_t freq;
    uint32_t sym;
} item;

/* Sort it[0..n) by count, ties by symbol: as keys count << 16 | symbol
 * (symbols are below 2^16; counts, of elements, below 2^48). */
static int sort_by_freq(item *it, uint32_t n, nnz_error *e)
{
    uint64_t *k = nnz_malloc(2 * (size_t)n * sizeof *k, e);
    if (!k)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        if (it[i].freq >> 48) {
            free(k);
            return nnz_fail(e, NNZ_EXIT_INTERNAL, "huffman: a count of 2^48 or more");
        }
        k[i] = it[i].freq << 16 | it[i].sym;
    }
    nnz_radix_sort64(k, k + n, n);
    for (uint32_t i = 0; i < n; i++)
        it[i] = (item){ k[i] >> 16, (uint32_t)(k[i] & 0xffff) };
    free(k);
    return 0;
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

/* Plain Huffman code lengths of the n leaves it[] (sorted by weight,
 * n >= 2) into depth[0..n); returns the longest. */
static int huffman_depths(const item *it, uint32_t n, uint32_t *depth_out, unsigned *longest,
                          nnz_error *e)
{
    /* Two queues: leaves in order, internal nodes as made (their weights
     * never decrease). parent[] links every node; depth = code length. */
    size_t nodes = 2 * (size_t)n - 1;
    uint64_t *w = nnz_malloc(nodes * sizeof *w, e);
    uint32_t *parent = nnz_malloc(nodes * sizeof *parent, e);
    if (!w || !parent) {
        free(w);
        free(parent);
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
    uint32_t *depth = (uint32_t *)parent; /* in place: a node's parent is done first */
    depth[nodes - 1] = 0;
    for (size_t i = nodes - 1; i-- > 0;)
        depth[i] = depth[parent[i]] + 1;
    *longest = 0;
    for (uint32_t i = 0; i < n; i++) {
        depth_out[i] = depth[i];
        if (depth[i] > *longest)
            *longest = depth[i];
    }
    free(w);
    free(parent);
    return 0;
}

/* Package-merge: optimal code lengths of at most L bits for the n leaves
 * it[] (sorted by weight, 2 <= n <= 2^L) into depth[0..n).
 *
 * The coin collector's view: every leaf is a coin at each of the L levels
 * (denominations 2^-1 .. 2^-L). Going up from the deepest level, the items
 * of a level are paired into packages, which join the next level's coins;
 * the cheapest 2n - 2 items of the top level are bought, which buys 2p
 * items of the level below for every p packages bought, and so on down. A
 * leaf's code length is the number of levels where it was bought. Each
 * level's items are sorted, and leaves enter in weight order, so the
 * leaves bought at a level are always its c lightest: only the count c per
 * level is needed. */
static int package_merge(const item *it, uint32_t n, unsigned L, uint32_t *depth, nnz_error *e)
{
    size_t cap = 2 * (size_t)n;
    uint8_t *leaf = nnz_malloc(cap * L, e);   /* per level: is item k a leaf */
    uint64_t *cur = nnz_malloc(cap * sizeof *cur, e), *nxt = nnz_malloc(cap * sizeof *nxt, e);
    if (!leaf || !cur || !nxt) {
        free(leaf);
        free(cur);
        free(nxt);
        return -1;
    }
    size_t m = n;
    for (uint32_t i = 0; i < n; i++) {
        cur[i] = it[i].freq;
        leaf[(size_t)(L - 1) * cap + i] = 1;
    }
    for (unsigned j = L - 1; j > 0; j--) { /* make level j - 1 from level j */
        uint8_t *fl = leaf + (size_t)(j - 1) * cap;
        size_t np = m / 2, a = 0, b = 0, o = 0;
        while (a < n || b < np) {
            uint64_t pw = b < np ? cur[2 * b] + cur[2 * b + 1] : 0;
            if (a < n && (b >= np || it[a].freq <= pw)) {
                nxt[o] = it[a++].freq;
                fl[o++] = 1;
            } else {
                nxt[o] = pw;
                b++;
                fl[o++] = 0;
            }
        }
        uint64_t *t = cur;
        cur = nxt;
        nxt = t;
        m = o;
    }
    memset(depth, 0, n * sizeof *depth);
    size_t take = 2 * (size_t)n - 2;
    for (unsigned j = 0; j < L && take > 0; j++) {
        const uint8_t *fl = leaf + (size_t)j * cap;
        size_t c = 0;
        for (size_t k = 0; k < take; k++)
            c += fl[k];
        for (size_t i = 0; i < c; i++)
            depth[i]++;
        take = 2 * (take - c);
    }
    free(leaf);
    free(cur);
    free(nxt);
    return 0;
}

int nnz_huff_build(const uint64_t *freq, uint32_t alphabet, unsigned max_len, nnz_huff *h,
                   nnz_error *e)
{
    return nnz_huff_build_pref(freq, alphabet, max_len, max_len, 0, 0, h, e);
}

int nnz_huff_build_pref(const uint64_t *freq, uint32_t alphabet, unsigned max_len,
                        unsigned pref_len, double max_cost, double max_bits, nnz_huff *h,
                        nnz_error *e)
{
    memset(h, 0, sizeof *h);
    if (alphabet == 0 || alphabet > 65536 || max_len < 1 || max_len > NNZ_HUFF_BUILD_MAX_LEN)
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "huffman: alphabet %u / length limit %u out of range",
                        alphabet, max_len);
    h->alphabet = alphabet;
    h->width = width_for(alphabet);
    h->len = nnz_calloc(alphabet, 1, e);
    h->code = nnz_calloc(alphabet, sizeof *h->code, e);
    item *it = nnz_calloc(alphabet, sizeof *it, e);
    uint32_t *depth = nnz_calloc(alphabet, sizeof *depth, e);
    if (!h->len || !h->code || !it || !depth)
        goto fail;
    uint32_t n = 0;
    for (uint32_t s = 0; s < alphabet; s++)
        if (freq[s])
            it[n++] = (item){ freq[s], s };
    if (n <= 1) { /* one symbol (or none): it takes zero bits */
        h->syms = nnz_malloc(sizeof *h->syms, e);
        if (!h->syms)
            goto fail;
        h->syms[0] = n ? it[0].sym : 0;
        h->nsyms = 1;
        free(it);
        free(depth);
        return 0;
    }
    if (max_len < 32 && ((uint64_t)1 << max_len) < n) {
        free(it);
        free(depth);
        nnz_huff_free(h);
        return nnz_fail(e, NNZ_EXIT_INTERNAL,
                        "huffman: %u symbols cannot have codes of at most %u bits", n, max_len);
    }
    if (sort_by_freq(it, n, e) != 0)
        goto fail;
    unsigned longest;
    if (huffman_depths(it, n, depth, &longest, e) != 0)
        goto fail;
    if (pref_len < max_len && longest > pref_len && ((uint64_t)1 << pref_len) >= n) {
        /* the shorter limit if it costs at most max_cost over the unlimited
         * code (so over the max_len one too): then no second package-merge */
        uint32_t *d2 = nnz_calloc(n, sizeof *d2, e);
        if (!d2 || package_merge(it, n, pref_len, d2, e) != 0) {
            free(d2);
            goto fail;
        }
        double bits = 0, bits2 = 0;
        for (uint32_t i = 0; i < n; i++) {
            bits += (double)it[i].freq * depth[i];
            bits2 += (double)it[i].freq * d2[i];
        }
        if (bits2 <= bits * (1 + max_cost) && bits2 <= max_bits) {
            free(depth);
            depth = d2;
            longest = pref_len;
        } else {
            free(d2);
        }
    }
    if (longest > max_len && package_merge(it, n, max_len, depth, e) != 0)
        goto fail;
    /* depth[i] is the length of it[i]; lighter leaves are never shorter */
    for (uint32_t i = 0; i < n; i++) {
        h->len[it[i].sym] = (uint8_t)depth[i];
        h->count[depth[i]]++;
        if (depth[i] > h->maxlen)
            h->maxlen = depth[i];
    }
    free(it);
    free(depth);
    it = NULL;
    depth = NULL;
    /* canonical order and codes */
    h->syms = nnz_malloc(n * sizeof *h->syms, e);
    if (!h->syms)
        goto fail;
    uint32_t next[NNZ_HUFF_BUILD_MAX_LEN + 2], at[NNZ_HUFF_BUILD_MAX_LEN + 2];
    uint32_t code = 0, k = 0;
    for (unsigned l = 1; l <= h->maxlen; l++) {
        next[l] = code;
        at[l] = k;
        code = (code + h->count[l]) << 1;
        k += h->count[l];
    }
    for (uint32_t s = 0; s < alphabet; s++) {
        unsigned l = h->len[s];
        if (l) {
            h->code[s] = next[l]++;
            h->syms[at[l]++] = s;
        }
    }
    h->nsyms = n;
    return 0;
fail:
    free(it);
    free(depth);
    nnz_huff_free(h);
    return -1;
}

/* Bits of the Elias-gamma code of v >= 1: floor(log2 v) zeros, then v. */
static unsigned gamma_bits(uint32_t v)
{
    unsigned z = 0;
    while (v >> (z + 1))
        z++;
    return 2 * z + 1;
}

uint64_t nnz_huff_table_bits(const nnz_huff *h, int form)
{
    uint64_t bits = 8;
    if (h->maxlen == 0)
        return bits + (h->width + 7) / 8 * 8;
    for (unsigned l = 1; l <= h->maxlen; l++)
        bits += 8u * nnz_varint_len(h->count[l]);
    if (form == NNZ_HUFF_TABLE_LIST)
        return bits + ((uint64_t)h->nsyms * h->width + 7) / 8 * 8;
    uint64_t g = 0;
    for (uint32_t i = 0, l = 1; l <= h->maxlen; l++) {
        uint32_t prev = (uint32_t)-1; /* the first gap, from -1, is symbol + 1 */
        for (uint32_t j = 0; j < h->count[l]; j++, i++) {
            g += gamma_bits(h->syms[i] - prev);
            prev = h->syms[i];
        }
    }
    return bits + (g + 7) / 8 * 8;
}

uint64_t nnz_huff_data_bits(const nnz_huff *h, const uint64_t *freq)
{
    uint64_t bits = 0;
    for (uint32_t s = 0; s < h->alphabet; s++)
        bits += freq[s] * h->len[s];
    return bits;
}

void nnz_huff_write_table(const nnz_huff *h, int form, nnz_bitw *w)
{
    nnz_bitw_put(w, h->maxlen, 8);
    if (h->maxlen == 0) {
        nnz_bitw_put(w, h->syms[0], h->width);
        nnz_bitw_align(w);
        return;
    }
    for (unsigned l = 1; l <= h->maxlen; l++) {
        uint64_t v = h->count[l];
        do {
            nnz_bitw_put(w, (uint32_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0)), 8);
            v >>= 7;
        } while (v);
    }
    if (form == NNZ_HUFF_TABLE_LIST) {
        for (uint32_t i = 0; i < h->nsyms; i++)
            nnz_bitw_put(w, h->syms[i], h->width);
    } else {
        for (uint32_t i = 0, l = 1; l <= h->maxlen; l++) {
            uint32_t prev = (uint32_t)-1;
            for (uint32_t j = 0; j < h->count[l]; j++, i++) {
                uint32_t gap = h->syms[i] - prev;
                unsigned nb = gamma_bits(gap);
                if (nb > 1)
                    nnz_bitw_put(w, 0, nb / 2);
                nnz_bitw_put(w, gap, nb / 2 + 1);
                prev = h->syms[i];
            }
        }
    }
    nnz_bitw_align(w);
}

