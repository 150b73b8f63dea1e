/* graph_pack.c - the compressed graph section's writer (docs/FORMAT.md,
 * "Compressed graph section"; the runtime's zg_run is its reader).
 *
 * LZ77 over the graph bytes: a hash-chain match finder gives, at each
 * position, the longest match at each distance it reaches; a shortest-path
 * parse over the positions picks literals and matches by their cost in
 * bits under the Huffman codes of the parse before (the first parse prices
 * with flat estimates). Three parses, the smallest kept. The symbols go
 * out as two Huffman streams of the blob's own table format and a stream
 * of extra bits, so the runtime decodes them with the code it has. */
#include "graph_pack.h"

#include <stdlib.h>
#include <string.h>

#include "huffman.h"

/* The format's constants (runtime/nnz.c has the same). */
#define ZG_VERSION 1
#define LIT_ALPHABET 512 /* 0..255 literals, 256 + c a match of length code c */
#define DIST_ALPHABET 64 /* 0 the last distance again, 1 + c distance code c */
#define MIN_MATCH 3
#define MAX_MATCH 65536u
#define MAX_DIST (1u << 30) /* codes stay at or below 59: 28 extra bits */

/* The match finder's effort: chain steps per position, and the length at
 * which it stops looking (a match that long is taken whole). */
#define CHAIN 256
#define NICE 128
#define HASH_BITS 16
#define PASSES 3

/* A length or distance value v (length - 3, distance - 1) as its code c
 * and the number of extra bits: 0..3 are codes of their own; else v =
 * (2 + c % 2) << n plus n extra bits (its low n bits), n = c / 2 - 1. */
static unsigned value_code(uint32_t v, unsigned *nextra)
{
    if (v < 4) {
        *nextra = 0;
        return v;
    }
    unsigned top = 31 - (unsigned)__builtin_clz(v); /* v >= 4: top >= 2 */
    unsigned n = top - 1;
    *nextra = n;
    return 2 * (n + 1) + ((v >> n) & 1);
}

/* What a parse costs, in bits, per symbol (the code lengths of the parse
 * before; 0-length symbols priced as rare). */
typedef struct prices {
    uint32_t lit[LIT_ALPHABET], dist[DIST_ALPHABET];
} prices;

static uint32_t len_price(const prices *p, uint32_t len)
{
    unsigned nx, c = value_code(len - MIN_MATCH, &nx);
    return p->lit[256 + c] + nx;
}

static uint32_t dist_price(const prices *p, uint32_t dist, uint32_t rep)
{
    if (dist == rep)
        return p->dist[0];
    unsigned nx, c = value_code(dist - 1, &nx);
    return p->dist[1 + c] + nx;
}

/* The parse: per position, the step that reached it on the cheapest path
 * (length 1 and distance 0: a literal) and the last distance used. */
typedef struct parse {
    uint64_t *cost;
    uint32_t *len, *dist, *rep;
} parse;

/* Longest common run of a and b, at most max bytes. */
static uint32_t run_len(const uint8_t *a, const uint8_t *b, uint32_t max)
{
    uint32_t l = 0;
    while (l < max && a[l] == b[l])
        l++;
    return l;
}

static uint32_t hash3(const uint8_t *p)
{
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
    return (v * 2654435761u) >> (32 - HASH_BITS);
}

/* Relax the edges of a match of distance `dist` and length up to `max`
 * from position i, for the lengths above `from` (beyond NICE, only `max`
 * itself: such a match is taken whole). */
static void relax(const prices *pr, parse *ps, size_t i, uint32_t dist, uint32_t from,
                  uint32_t max)
{
    uint64_t base = ps->cost[i] + dist_price(pr, dist, ps->rep[i]);
    for (uint32_t l = from + 1; l <= max; l++) {
        if (l > NICE && l < max)
            l = max;
        uint64_t c = base + len_price(pr, l);
        if (c < ps->cost[i + l]) {
            ps->cost[i + l] = c;
            ps->len[i + l] = l;
            ps->dist[i + l] = dist;
            ps->rep[i + l] = dist;
        }
    }
}

/* One shortest-path parse of g under the prices. head/prev: the hash
 * chains, rebuilt here. */
static void shortest_parse(const uint8_t *g, size_t n, const prices *pr, parse *ps,
                           uint32_t *head, uint32_t *prev)
{
    memset(head, 0xff, sizeof(uint32_t) << HASH_BITS);
    for (size_t i = 0; i <= n; i++)
        ps->cost[i] = UINT64_MAX;
    ps->cost[0] = 0;
    ps->rep[0] = 1;
    for (size_t i = 0; i < n; i++) {
        /* a literal */
        uint64_t c = ps->cost[i] + pr->lit[g[i]];
        if (c < ps->cost[i + 1]) {
            ps->cost[i + 1] = c;
            ps->len[i + 1] = 1;
            ps->dist[i + 1] = 0;
            ps->rep[i + 1] = ps->rep[i];
        }
        size_t left = n - i;
        uint32_t max = left < MAX_MATCH ? (uint32_t)left : MAX_MATCH;
        if (max < MIN_MATCH)
            continue;
        /* the last distance again */
        uint32_t r = ps->rep[i], best = MIN_MATCH - 1, longest = 0;
        if (r <= i) {
            longest = run_len(g + i, g + i - r, max);
            if (longest >= MIN_MATCH)
                relax(pr, ps, i, r, MIN_MATCH - 1, longest);
        }
        /* the chain: each longer match than the ones before */
        uint32_t h = hash3(g + i), k = head[h];
        head[h] = (uint32_t)i;
        prev[i] = k;
        for (unsigned steps = 0; k != UINT32_MAX && steps < CHAIN; steps++, k = prev[k]) {
            uint32_t dist = (uint32_t)(i - k);
            if (dist > MAX_DIST)
                break;
            if (g[k + best] != g[i + best]) /* cannot beat the best */
                continue;
            uint32_t l = run_len(g + i, g + k, max);
            if (l <= best)
                continue;
            relax(pr, ps, i, dist, best, l);
            best = l;
            if (l >= NICE || l == max)
                break;
        }
        if (best > longest)
            longest = best;
        if (longest >= NICE) { /* a long match is taken whole: insert and skip it */
            size_t to = i + longest;
            for (i++; i < to && i + 2 < n; i++) {
                h = hash3(g + i);
                prev[i] = head[h];
                head[h] = (uint32_t)i;
            }
            i = to - 1;
            /* positions skipped have no edges of their own: cost only via
             * the long match, which reached `to` */
        }
    }
}

/* The parse's steps in order (traced back from the end). */
typedef struct tokens {
    uint32_t *len, *dist; /* in order; len 1 and dist 0: a literal of g at its place */
    size_t count;
} tokens;

static void trace(const parse *ps, size_t n, tokens *t)
{
    size_t k = 0;
    for (size_t i = n; i > 0; i -= ps->len[i])
        k++;
    t->count = k;
    for (size_t i = n; i > 0; i -= ps->len[i]) {
        k--;
        t->len[k] = ps->len[i];
        t->dist[k] = ps->dist[i];
    }
}

/* Count the symbols of the tokens (rep: as the decoder will track it). */
static void count_syms(const uint8_t *g, const tokens *t, uint64_t *lit, uint64_t *dist)
{
    memset(lit, 0, LIT_ALPHABET * sizeof *lit);
    memset(dist, 0, DIST_ALPHABET * sizeof *dist);
    size_t pos = 0;
    uint32_t rep = 1;
    for (size_t k = 0; k < t->count; k++) {
        unsigned nx;
        if (t->dist[k] == 0) {
            lit[g[pos]]++;
        } else {
            lit[256 + value_code(t->len[k] - MIN_MATCH, &nx)]++;
            dist[t->dist[k] == rep ? 0 : 1 + value_code(t->dist[k] - 1, &nx)]++;
            rep = t->dist[k];
        }
        pos += t->len[k];
    }
}

/* A stream: coding byte, varint length, table and data bits. */
static void put_stream(nnz_bytes *out, const nnz_huff *h, const nnz_bitw *data)
{
    nnz_bitw w = { 0 };
    nnz_huff_write_table(h, NNZ_HUFF_TABLE_GAMMA, &w);
    nnz_bitw_bytes(&w, data->out.buf, data->out.len);
    nnz_bytes_u8(out, 2); /* NNZ_CODING_HUFFMAN_GAMMA */
    nnz_bytes_varint(out, w.out.len);
    nnz_bytes_put(out, w.out.buf, w.out.len);
    if (w.out.failed)
        out->failed = 1;
    nnz_bitw_free(&w);
}

/* Write the section for the tokens. */
static int emit(const uint8_t *g, size_t n, const tokens *t, nnz_bytes *out, nnz_error *e)
{
    uint64_t flit[LIT_ALPHABET], fdist[DIST_ALPHABET];
    nnz_huff hl, hd;
    nnz_bitw wl = { 0 }, wd = { 0 }, wx = { 0 };
    int rc = -1;
    count_syms(g, t, flit, fdist);
    memset(&hd, 0, sizeof hd);
    if (nnz_huff_build(flit, LIT_ALPHABET, NNZ_HUFF_MAX_LEN, &hl, e) != 0)
        return -1;
    if (nnz_huff_build(fdist, DIST_ALPHABET, NNZ_HUFF_MAX_LEN, &hd, e) != 0)
        goto done;
    size_t pos = 0;
    uint32_t rep = 1;
    for (size_t k = 0; k < t->count; k++) {
        unsigned nx, c;
        if (t->dist[k] == 0) {
            nnz_huff_put(&hl, &wl, g[pos]);
        } else {
            uint32_t lv = t->len[k] - MIN_MATCH;
            c = value_code(lv, &nx);
            nnz_huff_put(&hl, &wl, 256 + c);
            if (nx)
                nnz_bitw_put(&wx, lv & ((1u << nx) - 1), nx);
            if (t->dist[k] == rep) {
                nnz_huff_put(&hd, &wd, 0);
            } else {
                uint32_t dv = t->dist[k] - 1;
                c = value_code(dv, &nx);
                nnz_huff_put(&hd, &wd, 1 + c);
                if (nx)
                    nnz_bitw_put(&wx, dv & ((1u << nx) - 1), nx);
            }
            rep = t->dist[k];
        }
        pos += t->len[k];
    }
    nnz_bitw_align(&wl);
    nnz_bitw_align(&wd);
    nnz_bitw_align(&wx);
    nnz_bytes_varint(out, n);
    nnz_bytes_u8(out, ZG_VERSION);
    put_stream(out, &hl, &wl);
    put_stream(out, &hd, &wd);
    nnz_bytes_put(out, wx.out.buf, wx.out.len);
    if (out->failed || wl.out.failed || wd.out.failed || wx.out.failed) {
        nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory compressing the graph");
        goto done;
    }
    rc = 0;
done:
    nnz_huff_free(&hl);
    nnz_huff_free(&hd);
    nnz_bitw_free(&wl);
    nnz_bitw_free(&wd);
    nnz_bitw_free(&wx);
    return rc;
}

/* Prices from the code lengths of the counts (a symbol the code lacks:
 * as if it had a long code, so a parse can still take it). */
static int set_prices(const uint64_t *flit, const uint64_t *fdist, prices *p, nnz_error *e)
{
    nnz_huff h;
    if (nnz_huff_build(flit, LIT_ALPHABET, NNZ_HUFF_MAX_LEN, &h, e) != 0)
        return -1;
    for (unsigned s = 0; s < LIT_ALPHABET; s++)
        p->lit[s] = h.maxlen == 0 ? (flit[s] ? 1 : 16) : h.len[s] ? h.len[s] : 16;
    nnz_huff_free(&h);
    if (nnz_huff_build(fdist, DIST_ALPHABET, NNZ_HUFF_MAX_LEN, &h, e) != 0)
        return -1;
    for (unsigned s = 0; s < DIST_ALPHABET; s++)
        p->dist[s] = h.maxlen == 0 ? (fdist[s] ? 1 : 12) : h.len[s] ? h.len[s] : 12;
    nnz_huff_free(&h);
    return 0;
}

int nnz_graph_pack(const uint8_t *g, size_t n, nnz_bytes *out, nnz_error *e)
{
    memset(out, 0, sizeof *out);
    if (n == 0 || n > NNZ_GRAPH_PACK_MAX)
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "graph of %zu bytes: packs 1..%u", n,
                        (unsigned)NNZ_GRAPH_PACK_MAX);
    parse ps = { 0 };
    tokens t = { 0 };
    uint32_t *head = nnz_malloc(sizeof(uint32_t) << HASH_BITS, e);
    uint32_t *prev = nnz_calloc(n, sizeof *prev, e);
    ps.cost = nnz_calloc(n + 1, sizeof *ps.cost, e);
    ps.len = nnz_calloc(n + 1, sizeof *ps.len, e);
    ps.dist = nnz_calloc(n + 1, sizeof *ps.dist, e);
    ps.rep = nnz_calloc(n + 1, sizeof *ps.rep, e);
    t.len = nnz_calloc(n, sizeof *t.len, e);
    t.dist = nnz_calloc(n, sizeof *t.dist, e);
    int rc = -1;
    if (!head || !prev || !ps.cost || !ps.len || !ps.dist || !ps.rep || !t.len || !t.dist)
        goto done;
    /* first prices: flat guesses (literals 8 bits, symbols 6) */
    prices pr;
    for (unsigned s = 0; s < LIT_ALPHABET; s++)
        pr.lit[s] = s < 256 ? 8 : 6;
    for (unsigned s = 0; s < DIST_ALPHABET; s++)
        pr.dist[s] = s ? 6 : 2;
    for (int pass = 0; pass < PASSES; pass++) {
        shortest_parse(g, n, &pr, &ps, head, prev);
        trace(&ps, n, &t);
        nnz_bytes try = { 0 };
        if (emit(g, n, &t, &try, e) != 0) {
            nnz_bytes_free(&try);
            goto done;
        }
        if (!out->buf || try.len < out->len) {
            nnz_bytes_free(out);
            *out = try;
        } else {
            nnz_bytes_free(&try);
        }
        uint64_t flit[LIT_ALPHABET], fdist[DIST_ALPHABET];
        count_syms(g, &t, flit, fdist);
        if (set_prices(flit, fdist, &pr, e) != 0)
            goto done;
    }
    rc = 0;
done:
    if (rc != 0)
        nnz_bytes_free(out);
    free(head);
    free(prev);
    free(ps.cost);
    free(ps.len);
    free(ps.dist);
    free(ps.rep);
    free(t.len);
    free(t.dist);
    return rc;
}
