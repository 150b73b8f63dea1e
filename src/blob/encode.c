/* encode.c - see encode.h.
 *
 * The choice is made from histograms, not from trial encodings: the
 * symbol counts of each candidate stream give its exact packed size and,
 * through a Huffman code built from them, its Huffman size; only the
 * winner is then written. Candidates: dense (one symbol per element),
 * sparse (gap symbols with every escape worth trying, plus the survivors'
 * symbols), and raw for float tensors nothing made smaller. Each stream is
 * packed or Huffman, whichever is smaller; a Huffman table is a plain
 * symbol list or gamma-coded (the smaller), in one lane or in four (four
 * unless one is smaller by more than a thousandth): codings 1 to 4
 * (docs/passes/huffman.md). */
#include "encode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bitio.h"
#include "huffman.h"
#include "nnz.h"
#include "scale_grid.h"

/* Tensors share Huffman tables only over alphabets this small: a group's
 * cost is weighed symbol by symbol for each tensor it may take. */
#define SHARE_ALPHABET 1024u

/* Escape symbols a sparse gap stream may use are 2^k - 1, k = 1..16; the
 * histogram of gaps below this is an array, longer gaps a list. */
#define GAP_SMALL 65536u

/* ---- small byte writers ---------------------------------------------------- */

static void put_u8(nnz_bitw *w, unsigned v) { nnz_bitw_put(w, v & 0xff, 8); }

static void put_varint(nnz_bitw *w, uint64_t v)
{
    uint8_t x[10];
    size_t n = nnz_varint_put(x, v);
    for (size_t i = 0; i < n; i++) /* through the bits: w need not be at a byte */
        put_u8(w, x[i]);
}

static void put_le32(nnz_bitw *w, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        put_u8(w, (v >> (8 * i)) & 0xff);
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static unsigned bits_for(uint32_t max)
{
    unsigned w = 1;
    while (w < 32 && ((uint64_t)1 << w) <= max)
        w++;
    return w;
}

/* ---- streams: what to code, and how ------------------------------------------- */

/* The symbols of a stream, cut into blocks: block b is syms[start[b], start[b+1]). */
typedef struct symbols {
    const uint32_t *syms;
    uint32_t *own;   /* syms, when this owns them */
    size_t n;
    size_t *start;   /* nblocks + 1 */
    size_t nblocks;
} symbols;

static void symbols_free(symbols *s)
{
    free(s->own);
    free(s->start);
    memset(s, 0, sizeof *s);
}

/* How a stream will be coded, chosen from its histogram. */
typedef struct plan {
    unsigned coding;     /* NNZ_CODING_* */
    unsigned width;      /* packed: bits per symbol; Huffman: bits of a table symbol */
    nnz_huff h;          /* Huffman codings */
    uint64_t bytes;      /* estimated bytes of the stream: table, data, lane heads, padding */
    uint64_t nsyms;
    double entropy;      /* order-0, bits per symbol (-1: not computed) */
    uint64_t table_bytes;
    int lanes_close;     /* one lane, where four cost at most half a percent more */
} plan;

static void plan_free(plan *p) { nnz_huff_free(&p->h); }

/* Bytes a four-lane stream may take beyond est_bytes: the index entry of
 * each block after the first, and lane padding up to 2 bytes more than
 * estimated per block. */
#define LANES_SLACK(nblocks) (6.0 * (double)(nblocks) + 4.0 * (double)((nblocks) - 1))

/* Estimated bytes of `nsyms` symbols of `bits` bits in all, over `nblocks`
 * byte-aligned blocks of `lanes` byte-aligned lanes each. */
static uint64_t est_bytes(uint64_t bits, size_t nblocks, unsigned lanes)
{
    uint64_t b = (bits + 7) / 8 + (uint64_t)nblocks * (lanes - 1) / 2;
    if (lanes > 1) /* three varint lane lengths per block */
        b += (uint64_t)nblocks * 3 * nnz_varint_len(bits / 8 / nblocks / lanes + 1);
    return b;
}

/* Choose packed (`packed_width` bits) or Huffman (max code length
 * `max_len`) for a stream with symbol counts freq[0..alphabet) (alphabet 0:
 * too wide for Huffman, packed only), cut into `nblocks` blocks. */
static int plan_stream(const uint64_t *freq, uint32_t alphabet, uint64_t nsyms, size_t nblocks,
                       unsigned packed_width, int allow_huffman, unsigned max_len, int gaps,
                       plan *p, nnz_error *e)
{
    memset(p, 0, sizeof *p);
    p->coding = NNZ_CODING_PACKED;
    p->width = packed_width;
    p->nsyms = nsyms;
    p->entropy = -1;
    p->bytes = est_bytes(nsyms * packed_width, nblocks, 1);
    if (!alphabet || nsyms == 0)
        return 0;
    p->entropy = nnz_entropy(freq, alphabet);
    if (!allow_huffman)
        return 0;
    /* a limit too tight for the symbols in use gives way, up to the format's 16 */
    uint64_t used = 0;
    for (uint32_t s = 0; s < alphabet; s++)
        used += freq[s] != 0;
    while (max_len < NNZ_HUFF_MAX_LEN && ((uint64_t)1 << max_len) < used)
        max_len++;
    /* codes that all fit the decoder's first table decode without a test
     * for longer ones and five to a refill (11-22% faster): taken when they
     * cost at most NNZ_HUFF_FAST_COST more than the unlimited code, and
     * leave room for four lanes (lengths, padding) within 1% of the entropy */
    nnz_huff h;
    unsigned pref = max_len < NNZ_HUFF_FAST_BITS ? max_len : NNZ_HUFF_FAST_BITS;
    /* (8 bytes a block: the lane lengths and padding est_bytes adds to the data) */
    double cap = 1.01 * p->entropy * (double)nsyms - 8 * (LANES_SLACK(nblocks) + 8.0 * nblocks);
    if (nnz_huff_build_pref(freq, alphabet, max_len, pref, NNZ_HUFF_FAST_COST, cap, &h, e) != 0)
        return -1;
    uint64_t data = nnz_huff_data_bits(&h, freq);
    uint64_t tl = nnz_huff_table_bits(&h, NNZ_HUFF_TABLE_LIST) / 8;
    uint64_t tg = nnz_huff_table_bits(&h, NNZ_HUFF_TABLE_GAMMA) / 8;
    uint64_t one = est_bytes(data, nblocks, 1), four = est_bytes(data, nblocks, 4);
    int gamma = tg < tl;
    uint64_t table = gamma ? tg : tl;
    /* four lanes decode two to four times as fast: worth a thousandth of
     * the size always, and up to half a percent for a sparse tensor's gaps
     * or while values stay within 1% of their entropy (docs/passes/huffman.md) */
    double entropy_bytes = p->entropy * (double)nsyms / 8;
    int lanes = four <= one + one / 1000 ||
                (four <= one + one / 200 &&
                 (gaps || (double)four + LANES_SLACK(nblocks) <= 1.01 * entropy_bytes));
    unsigned coding = (lanes ? NNZ_CODING_HUFFMAN_X4 : NNZ_CODING_HUFFMAN) + (unsigned)gamma;
    int close = !lanes && four <= one + one / 200;
    uint64_t bytes = table + (lanes ? four : one);
    if (bytes < p->bytes) {
        p->coding = coding;
        p->width = h.width;
        p->bytes = bytes;
        p->table_bytes = table;
        p->lanes_close = close;
        p->h = h;
    } else {
        nnz_huff_free(&h);
    }
    return 0;
}

/* A stream as it will be stored. */
typedef struct coded_stream {
    unsigned coding, width;
    nnz_bitw data;       /* table + data */
    uint32_t *offsets;   /* per block: byte offset from the data start */
} coded_stream;

static void stream_free(coded_stream *s)
{
    nnz_bitw_free(&s->data);
    free(s->offsets);
    memset(s, 0, sizeof *s);
}

/* A bit writer into a buffer sized beforehand: no checks per symbol. */
typedef struct lane_w {
    uint8_t *p;
    uint64_t acc;   /* pending bits, right-aligned: fewer than 32 between calls */
    unsigned n;
} lane_w;

static inline void lw_put(lane_w *l, uint32_t v, unsigned len)
{
    l->acc = l->acc << len | v;
    l->n += len;
    if (l->n >= 32) {
        l->n -= 32;
        uint32_t x = (uint32_t)(l->acc >> l->n);
        l->p[0] = (uint8_t)(x >> 24);
        l->p[1] = (uint8_t)(x >> 16);
        l->p[2] = (uint8_t)(x >> 8);
        l->p[3] = (uint8_t)x;
        l->p += 4;
    }
}

/* Pad to a byte; returns the end. */
static uint8_t *lw_end(lane_w *l)
{
    for (; l->n >= 8; l->n -= 8)
        *l->p++ = (uint8_t)(l->acc >> (l->n - 8));
    if (l->n)
        *l->p++ = (uint8_t)(l->acc << (8 - l->n));
    l->n = 0;
    return l->p;
}

/* Code `sy` as `p` says: the table, then each block byte-aligned (and for
 * codings 3 and 4, each block's four lanes byte-aligned, the first three
 * after their lengths). */
static int code_stream(const symbols *sy, const plan *p, coded_stream *out, nnz_error *e)
{
    memset(out, 0, sizeof *out);
    out->coding = p->coding;
    out->width = p->width;
    out->offsets = nnz_calloc(sy->nblocks + 1, sizeof *out->offsets, e);
    if (!out->offsets)
        return -1;
    nnz_bitw *w = &out->data;
    size_t header = 0, most = 0;
    if (p->coding != NNZ_CODING_PACKED && p->coding <= NNZ_CODING_HUFFMAN_GAMMA_X4) {
        nnz_huff_write_table(&p->h, p->coding & 1 ? NNZ_HUFF_TABLE_LIST : NNZ_HUFF_TABLE_GAMMA,
                             w);
        header = w->out.len;
    } /* codings 5 and 6: the table is another tensor's */
    /* code and length of each symbol in one word; the largest block's bytes */
    uint32_t *cl = NULL;
    unsigned bits = p->coding == NNZ_CODING_PACKED ? p->width : p->h.maxlen;
    if (p->coding != NNZ_CODING_PACKED) {
        cl = nnz_malloc((size_t)p->h.alphabet * sizeof *cl, e);
        if (!cl)
            return -1;
        for (uint32_t s = 0; s < p->h.alphabet; s++)
            cl[s] = p->h.code[s] << 5 | p->h.len[s];
    }
    for (size_t b = 0; b < sy->nblocks; b++)
        if (sy->start[b + 1] - sy->start[b] > most)
            most = sy->start[b + 1] - sy->start[b];
    uint8_t *buf = nnz_malloc(4 * ((most / 4 + 1) * bits / 8 + 8), e);
    if (!buf) {
        free(cl);
        return -1;
    }
    int rc = 0;
    for (size_t b = 0; b < sy->nblocks && rc == 0; b++) {
        uint64_t off = w->out.len - header;
        if (off > UINT32_MAX) {
            rc = nnz_fail(e, NNZ_EXIT_INPUT, "a coded stream passes 4 GiB (the format's limit)");
            break;
        }
        out->offsets[b] = (uint32_t)off;
        const uint32_t *s = sy->syms + sy->start[b];
        size_t n = sy->start[b + 1] - sy->start[b], i;
        lane_w l = { buf, 0, 0 };
        if (p->coding == NNZ_CODING_PACKED) {
            for (i = 0; i < n; i++)
                lw_put(&l, s[i], bits);
            nnz_bitw_bytes(w, buf, (size_t)(lw_end(&l) - buf));
        } else if (p->coding < NNZ_CODING_HUFFMAN_X4 || p->coding == NNZ_CODING_SHARED) {
            if (p->h.maxlen)
                for (i = 0; i < n; i++)
                    lw_put(&l, cl[s[i]] >> 5, cl[s[i]] & 31);
            nnz_bitw_bytes(w, buf, (size_t)(lw_end(&l) - buf));
        } else { /* lane q takes symbols q, q + 4, ...: each its own quarter of buf */
            size_t quarter = (n / 4 + 1) * bits / 8 + 8;
            lane_w q[4];
            for (int k = 0; k < 4; k++)
                q[k] = (lane_w){ buf + (size_t)k * quarter, 0, 0 };
            if (p->h.maxlen) {
                for (i = 0; i + 4 <= n; i += 4) {
                    lw_put(&q[0], cl[s[i]] >> 5, cl[s[i]] & 31);
                    lw_put(&q[1], cl[s[i + 1]] >> 5, cl[s[i + 1]] & 31);
                    lw_put(&q[2], cl[s[i + 2]] >> 5, cl[s[i + 2]] & 31);
                    lw_put(&q[3], cl[s[i + 3]] >> 5, cl[s[i + 3]] & 31);
                }
                for (; i < n; i++)
                    lw_put(&q[i & 3], cl[s[i]] >> 5, cl[s[i]] & 31);
            }
            for (int k = 0; k < 4; k++) { /* each lane but the last after its length */
                uint8_t *from = buf + (size_t)k * quarter, *to = lw_end(&q[k]);
                if (k < 3)
                    put_varint(w, (uint64_t)(to - from));
                nnz_bitw_bytes(w, from, (size_t)(to - from));
            }
        }
        nnz_bitw_align(w);
    }
    free(cl);
    free(buf);
    if (rc == 0 && w->out.failed)
        rc = nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory coding a stream");
    return rc;
}

/* The histogram of codes[0..n) (all below alphabet). A large tensor is
 * counted in four interleaved tables, summed at the end: runs of one code
 * then do not wait on the count they just stored; a small one in one
 * table (clearing four would cost more than it saves). */
static uint64_t *count_codes(const uint32_t *codes, size_t n, uint32_t alphabet, nnz_error *e)
{
    size_t a = alphabet, ways = n >= 16 * a ? 4 : 1, i = 0;
    uint64_t *f = nnz_calloc(ways * a, sizeof *f, e);
    if (!f)
        return NULL;
    if (ways == 4) {
        for (; i + 4 <= n; i += 4) {
            f[codes[i]]++;
            f[a + codes[i + 1]]++;
            f[2 * a + codes[i + 2]]++;
            f[3 * a + codes[i + 3]]++;
        }
        for (size_t s = 0; s < a; s++)
            f[s] += f[a + s] + f[2 * a + s] + f[3 * a + s];
    }
    for (; i < n; i++)
        f[codes[i]]++;
    return f; /* the first alphabet counts; the rest is slack */
}

/* ---- the tensor's symbols ------------------------------------------------------ */

static int is_zero(const nnz_state *st, size_t i)
{
    if (st->kind == NNZ_VAL_INT)
        return (int64_t)st->codes[i] == st->int_offset;
    return nnz_state_is_zero(st, i);
}

/* The symbol of element (or bucket) i as stored. */
static uint32_t symbol_of(const nnz_state *st, size_t i)
{
    if (st->codes)
        return st->codes[i];
    return f32_bits(st->hashed ? st->buckets[i] : st->values[i]);
}

static int block_starts(size_t n, size_t be, symbols *sy, nnz_error *e)
{
    sy->nblocks = n ? (n + be - 1) / be : 1;
    sy->start = nnz_calloc(sy->nblocks + 1, sizeof *sy->start, e);
    return sy->start ? 0 : -1;
}

/* Dense: every stored value's symbol (the codes themselves when there are). */
static int dense_symbols(const nnz_state *st, size_t be, symbols *sy, nnz_error *e)
{
    memset(sy, 0, sizeof *sy);
    size_t n = nnz_state_nstored(st);
    if (block_starts(n, be, sy, e) != 0)
        return -1;
    if (st->codes) {
        sy->syms = st->codes;
    } else {
        sy->own = nnz_malloc((n ? n : 1) * sizeof *sy->own, e);
        if (!sy->own)
            return -1;
        for (size_t i = 0; i < n; i++)
            sy->own[i] = symbol_of(st, i);
        sy->syms = sy->own;
    }
    for (size_t b = 0; b <= sy->nblocks; b++)
        sy->start[b] = b * be < n ? b * be : n;
    sy->n = n;
    return 0;
}

/* Sparse: gap symbols (with `escape`) and the survivors' symbols, per block. */
static int sparse_symbols(const nnz_state *st, size_t be, uint32_t escape, size_t nnz,
                          uint64_t ngaps, symbols *gaps, symbols *vals, nnz_error *e)
{
    memset(gaps, 0, sizeof *gaps);
    memset(vals, 0, sizeof *vals);
    size_t n = st->n;
    gaps->own = nnz_malloc((ngaps ? ngaps : 1) * sizeof *gaps->own, e);
    vals->own = nnz_malloc((nnz ? nnz : 1) * sizeof *vals->own, e);
    if (!gaps->own || !vals->own || block_starts(n, be, gaps, e) != 0 ||
        block_starts(n, be, vals, e) != 0)
        return -1;
    size_t k = 0, g = 0;
    for (size_t b = 0; b < gaps->nblocks; b++) {
        size_t lo = b * be, hi = lo + be < n ? lo + be : n, cur = lo;
        gaps->start[b] = g;
        vals->start[b] = k;
        for (size_t i = lo; i < hi; i++) {
            if (is_zero(st, i))
                continue;
            size_t d = i - cur;
            for (; d >= escape; d -= escape)
                gaps->own[g++] = escape;
            gaps->own[g++] = (uint32_t)d;
            vals->own[k++] = symbol_of(st, i);
            cur = i + 1;
        }
    }
    gaps->start[gaps->nblocks] = g;
    vals->start[vals->nblocks] = k;
    gaps->syms = gaps->own;
    vals->syms = vals->own;
    gaps->n = g;
    vals->n = k;
    return g == ngaps && k == nnz ? 0 : nnz_fail(e, NNZ_EXIT_INTERNAL, "sparse symbol count mismatch");
}

/* The histogram of a sparse layout: gaps between survivors (per block) and
 * the survivors' symbols. */
typedef struct gap_hist {
    uint64_t *small;    /* small[g]: gaps of g zeros, g < nsmall */
    size_t nsmall;      /* min(GAP_SMALL, block size): no gap is longer */
    size_t *big;        /* longer gaps, one entry each */
    size_t nbig;
    size_t maxgap, nnz;
    uint64_t *vfreq;    /* survivors' symbols (NULL: too wide) */
    uint32_t vmax;
} gap_hist;

static void gap_hist_free(gap_hist *g)
{
    free(g->small);
    free(g->big);
    free(g->vfreq);
    memset(g, 0, sizeof *g);
}

/* One pass over the elements: the gaps, and the survivors' symbol counts,
 * which are the dense counts `freq` (NULL: too wide) less the zeros'. */
static int gap_histogram(const nnz_state *st, size_t be, const uint64_t *freq, uint32_t alphabet,
                         gap_hist *gh, nnz_error *e)
{
    memset(gh, 0, sizeof *gh);
    size_t n = st->n, capbig = 0;
    gh->nsmall = be < n ? be : n;
    if (gh->nsmall > GAP_SMALL)
        gh->nsmall = GAP_SMALL;
    gh->small = nnz_calloc(gh->nsmall + 1, sizeof *gh->small, e);
    gh->vfreq = freq ? nnz_malloc(alphabet * sizeof *gh->vfreq, e) : NULL;
    if (!gh->small || (freq && !gh->vfreq))
        return -1;
    if (freq)
        memcpy(gh->vfreq, freq, alphabet * sizeof *freq);
    for (size_t lo = 0; lo < n; lo += be) {
        size_t hi = lo + be < n ? lo + be : n, cur = lo;
        for (size_t i = lo; i < hi; i++) {
            if (is_zero(st, i)) {
                if (gh->vfreq)
                    gh->vfreq[symbol_of(st, i)]--;
                continue;
            }
            size_t d = i - cur;
            if (d < gh->nsmall) {
                gh->small[d]++;
            } else {
                if (gh->nbig == capbig) {
                    capbig = capbig ? 2 * capbig : 64;
                    size_t *nb = nnz_realloc(gh->big, capbig * sizeof *nb, e);
                    if (!nb)
                        return -1;
                    gh->big = nb;
                }
                gh->big[gh->nbig++] = d;
            }
            if (d > gh->maxgap)
                gh->maxgap = d;
            if (!gh->vfreq) {
                uint32_t v = symbol_of(st, i);
                if (v > gh->vmax)
                    gh->vmax = v;
            }
            gh->nnz++;
            cur = i + 1;
        }
    }
    if (gh->vfreq)
        for (uint32_t v = 0; v < alphabet; v++)
            if (gh->vfreq[v])
                gh->vmax = v;
    return 0;
}

/* Sparse is taken only when 1/32 (3%) smaller than dense: it decodes a gap,
 * a value and a scatter per survivor, two to three times the time of dense
 * where few elements are zero (docs/passes/huffman.md). */
static int sparse_wins(uint64_t sparse_bytes, uint64_t dense_bytes)
{
    return sparse_bytes + sparse_bytes / 32 < dense_bytes;
}

/* Whether a sparse layout of at least `bits` bits can win (sparse_wins is
 * monotone, so its least whole byte count decides). */
static int sparse_may_win(double bits, uint64_t dense_bytes)
{
    return sparse_wins((uint64_t)ceil(bits / 8), dense_bytes);
}

/* Before the gaps are counted (a slow pass): a sparse layout cannot beat
 * `dense_bytes` when its survivors' values at their entropy, plus a bit
 * each for their gaps, take more. The survivors' entropy is bounded from
 * the whole tensor's, H, with z the fraction of zeros and A the alphabet:
 * H <= H2(z) + z log2 A + (1 - z) H(survivors). A gap costs a bit at least
 * when gaps take two values or more: some survivor right after another
 * (or first in its block), and some after a zero. */
static int zeros_rule_out_sparse(const nnz_state *st, size_t be, double h, uint32_t alphabet,
                                 uint64_t dense_bytes)
{
    size_t n = st->n, zeros = 0, i = 0;
    if (st->kind == NNZ_VAL_INT) {
        for (; i < n; i++)
            zeros += (size_t)is_zero(st, i);
    } else { /* the bits of +0.0f, in blocks of 8: SIMD at -O2 */
        uint32_t c[8] = { 0 }, u;
        for (; i + 8 <= n; i += 8)
            for (unsigned j = 0; j < 8; j++) {
                memcpy(&u, &st->values[i + j], 4);
                c[j] += u == 0;
            }
        for (unsigned j = 0; j < 8; j++)
            zeros += c[j];
        for (; i < n; i++)
            zeros += (size_t)is_zero(st, i);
    }
    if (zeros == 0)
        return 1;
    /* with fewer zeros than survivors, some survivor is first in its block
     * or right after another: gap 0; a gap of 1 or more is looked for */
    int gap1 = 0;
    for (size_t lo = 0; lo < n && !gap1; lo += be)
        for (i = lo + 1; i < n && i < lo + be && !gap1; i++)
            gap1 = is_zero(st, i - 1) && !is_zero(st, i);
    double zf = (double)zeros / (double)n, h2 = -zf * log2(zf);
    if (zf >= 0.5 || !gap1 || h < 0 || !alphabet)
        return 0;
    h2 -= (1 - zf) * log2(1 - zf);
    double hs = (h - h2 - zf * log2((double)alphabet)) / (1 - zf);
    if (hs < 0)
        hs = 0;
    return !sparse_may_win((double)(n - zeros) * (hs + 1), dense_bytes);
}

/* A sparse layout cannot beat `dense_bytes` when its values alone, at
 * their entropy, plus one bit per survivor for its position (the least a
 * gap symbol costs, unless every gap is the same) take more. */
static int sparse_cannot_win(const gap_hist *gh, uint64_t dense_bytes)
{
    size_t top = gh->maxgap < gh->nsmall ? gh->maxgap + 1 : gh->nsmall, distinct = gh->nbig;
    for (size_t g = 0; g < top && distinct < 2; g++)
        distinct += gh->small[g] != 0;
    if (distinct < 2 || !gh->vfreq)
        return 0;
    double h = nnz_entropy(gh->vfreq, gh->vmax + 1);
    return !sparse_may_win((double)gh->nnz * (h + 1), dense_bytes);
}

/* The gap symbols' counts with escape E (freq: E + 1 entries); returns how
 * many symbols. */
static uint64_t gap_freq(const gap_hist *gh, uint32_t E, uint64_t *freq)
{
    memset(freq, 0, ((size_t)E + 1) * sizeof *freq);
    size_t top = gh->maxgap < gh->nsmall ? gh->maxgap + 1 : gh->nsmall;
    uint64_t total = 0;
    for (size_t g = 0; g < top; g++) {
        uint64_t c = gh->small[g];
        if (!c)
            continue;
        freq[g % E] += c;
        freq[E] += c * (g / E);
        total += c * (1 + g / E);
    }
    for (size_t k = 0; k < gh->nbig; k++) {
        size_t g = gh->big[k];
        freq[g % E]++;
        freq[E] += g / E;
        total += 1 + g / E;
    }
    return total;
}

/* ---- value map parameters --------------------------------------------------- */

/* The value map kind written: affine per-channel scales on the log grid
 * take a code each (value map 6, docs/FORMAT.md); *exp gets their frame. */
static int stored_kind(const nnz_state *st, int *exp)
{
    *exp = 0;
    if (st->kind == NNZ_VAL_AFFINE && st->nchan > 1 &&
        nnz_scale_grid_fits(st->scale, st->nchan, exp))
        return NNZ_VAL_AFFINE_LOG;
    return st->kind;
}

/* Value map 6's scale codes, packed (encoding version 5): the codes less
 * a base, in as many bits as their span needs (a tensor's channels span a
 * few binades: 5 to 7 bits; a near-dead channel far below the others
 * widens it, up to 12 bits, rather than leave the tensor float32 steps). */
static void log_codes_span(const nnz_state *st, int exp, unsigned *base, unsigned *bits)
{
    uint32_t lo = UINT32_MAX, hi = 0;
    for (size_t c = 0; c < st->nchan; c++) {
        uint32_t k = nnz_scale_grid_code(st->scale[c], exp);
        lo = k < lo ? k : lo;
        hi = k > hi ? k : hi;
    }
    *base = lo; /* < 16: the frame is the smallest scale's binade */
    *bits = hi == lo ? 0 : bits_for(hi - lo);
}

static void put_value_map(nnz_bitw *w, const nnz_state *st)
{
    int exp, kind = stored_kind(st, &exp);
    unsigned base, bits;
    switch (st->kind) {
    case NNZ_VAL_AFFINE:
        put_varint(w, st->nchan);
        put_varint(w, st->inner);
        if (kind == NNZ_VAL_AFFINE_LOG) {
            log_codes_span(st, exp, &base, &bits);
            put_u8(w, (unsigned)(exp + 127));
            put_u8(w, base);
            put_u8(w, bits);
            for (size_t c = 0; bits && c < st->nchan; c++)
                nnz_bitw_put(w, nnz_scale_grid_code(st->scale[c], exp) - base, bits);
            nnz_bitw_align(w);
        } else {
            for (size_t c = 0; c < st->nchan; c++)
                put_le32(w, f32_bits(st->scale[c]));
        }
        {
            /* one zero point for every channel (symmetric steps): varint
             * zp + 1; else 0, then a u32 each (version 5) */
            int shared = 1;
            for (size_t c = 1; c < st->nchan; c++)
                shared &= st->zero_point[c] == st->zero_point[0];
            put_varint(w, shared ? (uint64_t)st->zero_point[0] + 1 : 0);
            for (size_t c = 0; !shared && c < st->nchan; c++)
                put_le32(w, st->zero_point[c]);
        }
        break;
    case NNZ_VAL_CODEBOOK:
        put_varint(w, st->ncodebook);
        for (size_t c = 0; c < st->ncodebook; c++)
            put_le32(w, f32_bits(st->codebook[c]));
        break;
    case NNZ_VAL_INT:
        put_varint(w, (uint64_t)st->int_offset);
        break;
    default:
        break;
    }
}

/* The width a value kind needs for its symbols when packed. */
static unsigned value_width(const nnz_state *st, uint32_t max)
{
    switch (st->kind) {
    case NNZ_VAL_F32: return 32;
    case NNZ_VAL_F16:
    case NNZ_VAL_BF16: return 16;
    default: return bits_for(max);
    }
}

/* ---- assembling an encoding --------------------------------------------------- */

typedef struct candidate {
    int enc;
    unsigned version;
    nnz_bitw params, payload;
} candidate;

static void candidate_free(candidate *c)
{
    nnz_bitw_free(&c->params);
    nnz_bitw_free(&c->payload);
}

static void describe_stream(cJSON *o, const char *name, const coded_stream *s, const plan *p)
{
    cJSON *x = cJSON_AddObjectToObject(o, name);
    cJSON_AddStringToObject(x, "coding", nnz_coding_name(s->coding));
    if (s->coding != NNZ_CODING_PACKED) {
        cJSON_AddStringToObject(x, "table", s->coding & 1 ? "list" : "gamma");
        cJSON_AddNumberToObject(x, "lanes", s->coding >= NNZ_CODING_HUFFMAN_X4 ? 4 : 1);
        cJSON_AddNumberToObject(x, "max_code_len", p->h.maxlen);
        cJSON_AddNumberToObject(x, "table_bytes", (double)p->table_bytes);
    }
    cJSON_AddNumberToObject(x, "width", s->width);
    cJSON_AddNumberToObject(x, "symbols", (double)p->nsyms);
    cJSON_AddNumberToObject(x, "bytes", (double)s->data.out.len);
    if (p->entropy >= 0)
        cJSON_AddNumberToObject(x, "entropy_bits", p->entropy);
}

/* A one-lane stream `cs` whose four-lane form plan_stream's estimate
 * (with its slack for lane padding) put just over the size target: coded
 * in four lanes, taken when the stream as coded keeps the target, within
 * 1% of its entropy plus its table. Small tensors (BlazeFace's) decode
 * 10-15% faster in four lanes (docs/passes/huffman.md). */
static int try_four_lanes(const symbols *sy, plan *p, coded_stream *cs, nnz_error *e)
{
    plan four = *p; /* shares p->h: freed with p only */
    coded_stream alt;
    four.coding = p->coding + (NNZ_CODING_HUFFMAN_X4 - NNZ_CODING_HUFFMAN);
    if (code_stream(sy, &four, &alt, e) != 0) {
        stream_free(&alt);
        return -1;
    }
    double target = 1.01 * p->entropy * (double)p->nsyms / 8 + (double)p->table_bytes;
    if ((double)alt.data.out.len <= target) {
        stream_free(cs);
        *cs = alt;
        p->coding = four.coding;
        p->bytes = alt.data.out.len;
    } else {
        stream_free(&alt);
    }
    return 0;
}

/* Lay out params and payload from coded streams (1 or 2). */
static int assemble(candidate *c, int enc, const nnz_state *st, unsigned block_log2, size_t nnz,
                    uint32_t escape, coded_stream *s, size_t ns, size_t nblocks,
                    const size_t *before, nnz_error *e)
{
    memset(c, 0, sizeof *c);
    c->enc = enc;
    int exp, kind = stored_kind(st, &exp);
    /* version 5 (docs/FORMAT.md): kind and block size in one byte, the
     * zero point a varint, each stream's coding and width in one byte and
     * the last stream's length left to the payload's */
    c->version = NNZ_ENC_VERSION_COMPACT;
    put_u8(&c->params, (unsigned)kind | (enc == NNZ_ENC_HASHED ? 0 : block_log2) << 3);
    put_value_map(&c->params, st);
    if (enc == NNZ_ENC_SPARSE) {
        put_varint(&c->params, nnz);
        put_varint(&c->params, escape);
    } else if (enc == NNZ_ENC_HASHED) {
        put_varint(&c->params, st->nbuckets);
        put_le32(&c->params, st->seed);
        put_u8(&c->params, st->sign ? 1 : 0);
    }
    for (size_t k = 0; k < ns; k++) {
        put_u8(&c->params, s[k].coding | (s[k].width - 1) << 3);
        if (k + 1 < ns)
            put_varint(&c->params, s[k].data.out.len);
    }
    if (enc == NNZ_ENC_SPARSE && nblocks > 1 && before[nblocks - 1] > UINT32_MAX)
        return nnz_fail(e, NNZ_EXIT_INPUT, "a sparse tensor has 2^32 or more non-zero "
                        "elements before its last block (the block index's limit)");
    if (enc != NNZ_ENC_HASHED)
        for (size_t b = 1; b < nblocks; b++) {
            for (size_t k = 0; k < ns; k++) /* from the start of the data, after any table */
                put_le32(&c->payload, s[k].offsets[b]);
            if (enc == NNZ_ENC_SPARSE)
                put_le32(&c->payload, (uint32_t)before[b]);
        }
    for (size_t k = 0; k < ns; k++)
        nnz_bitw_bytes(&c->payload, s[k].data.out.buf, s[k].data.out.len);
    nnz_bitw_align(&c->params);
    nnz_bitw_align(&c->payload);
    if (c->params.out.failed || c->payload.out.failed)
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory assembling an encoding");
    return 0;
}

static size_t candidate_bytes(const candidate *c) { return c->params.out.len + c->payload.out.len; }

/* Bytes of the block index for `nblocks` blocks of `per_block` u32 each. */
static uint64_t index_bytes(size_t nblocks, unsigned per_block)
{
    return nblocks > 1 ? (uint64_t)(nblocks - 1) * per_block * 4 : 0;
}

/* The sparse layout's best plan: the escape and both streams' codings. */
typedef struct sparse_plan {
    uint32_t escape;
    uint64_t ngaps;
    plan pos, val;
    uint64_t bytes;
} sparse_plan;

static int plan_sparse(const nnz_state *st, const gap_hist *gh, size_t nblocks, int huff,
                       unsigned max_len, sparse_plan *sp, nnz_error *e)
{
    memset(sp, 0, sizeof *sp);
    uint32_t valpha = gh->vfreq ? (gh->vmax + 1) : 0;
    if (plan_stream(gh->vfreq, valpha, gh->nnz, nblocks, value_width(st, gh->vmax), huff,
                    max_len, 0, &sp->val, e) != 0)
        return -1;
    /* escapes E + 1 symbols: E up to 2 * maxgap + 1 (below), never past 2^16 - 1 */
    size_t cap = gh->maxgap < GAP_SMALL / 2 ? 2 * gh->maxgap + 2 : GAP_SMALL;
    uint64_t *freq = nnz_malloc((cap < 4 ? 4 : cap) * sizeof *freq, e);
    if (!freq)
        return -1;
    int have = 0;
    /* escapes 2^k - 1 fill a packed width; past the longest gap they
     * change nothing but the table; Huffman may also take one just past it */
    for (unsigned k = 1; k <= 17; k++) {
        uint32_t E = k <= 16 ? (1u << k) - 1 : (uint32_t)gh->maxgap + 1;
        if (k <= 16 && k > 1 && (1u << (k - 1)) - 1 > gh->maxgap)
            break;
        if (k == 17 && (!huff || E >= GAP_SMALL || E <= 1 || ((E + 1) & E) == 0))
            continue;
        uint64_t ng = gap_freq(gh, E, freq);
        plan p;
        if (plan_stream(freq, E + 1, ng, nblocks, bits_for(E), huff, max_len, 1, &p, e) != 0) {
            free(freq);
            return -1;
        }
        if (!have || p.bytes < sp->pos.bytes) {
            if (have)
                plan_free(&sp->pos);
            sp->pos = p;
            sp->escape = E;
            sp->ngaps = ng;
            have = 1;
        } else {
            plan_free(&p);
        }
    }
    free(freq);
    sp->bytes = sp->pos.bytes + sp->val.bytes + index_bytes(nblocks, 3) +
                nnz_varint_len(gh->nnz) + nnz_varint_len(sp->escape);
    return 0;
}

/* The tensor's own float bytes, as they are: no params, no payload of ours. */
static int encode_raw(nnz_encoded *out, cJSON *info)
{
    out->encoding = NNZ_ENC_RAW;
    out->version = 1;
    if (info) {
        cJSON_AddStringToObject(info, "layout", "raw");
        cJSON_AddStringToObject(info, "coding", "raw");
    }
    return 0;
}

int nnz_encode_tensor(const nnz_tensor *t, const nnz_state *st, cJSON *rep, nnz_encoded *out,
                      nnz_error *e)
{
    memset(out, 0, sizeof *out);
    unsigned block_log2 = st->block_log2 > 0 ? (unsigned)st->block_log2 : NNZ_DEFAULT_BLOCK_LOG2;
    unsigned max_len = st->max_code_len > 0 ? (unsigned)st->max_code_len : NNZ_HUFF_DEFAULT_MAX_LEN;
    int huff = st->entropy;
    size_t n = nnz_state_nstored(st);
    size_t be = st->hashed ? (n ? n : 1) : (size_t)1 << block_log2;
    size_t nblocks = n ? (n + be - 1) / be : 1;
    cJSON *info = rep ? cJSON_AddObjectToObject(rep, "encoding") : NULL;
    int rc = -1;
    uint64_t *freq = NULL;
    plan dense;
    sparse_plan sp;
    gap_hist gh;
    symbols sy[2];
    coded_stream cs[2];
    candidate best;
    memset(&dense, 0, sizeof dense);
    memset(&sp, 0, sizeof sp);
    memset(&gh, 0, sizeof gh);
    memset(sy, 0, sizeof sy);
    memset(cs, 0, sizeof cs);
    memset(&best, 0, sizeof best);

    /* dense (or hashed): one stream of every stored value's symbol; the
     * counts in one pass when the codes' width bounds them */
    uint32_t max = 0, alphabet = 0;
    if (st->codes && st->bits >= 1 && st->bits <= 16) {
        uint32_t any[8] = { 0 }, all = 0; /* every code below 2^bits: no bit above */
        size_t i = 0;
        alphabet = 1u << st->bits;
        for (; i + 8 <= n; i += 8) /* blocks of 8: SIMD at -O2 */
            for (unsigned j = 0; j < 8; j++)
                any[j] |= st->codes[i + j];
        for (; i < n; i++)
            all |= st->codes[i];
        for (unsigned j = 0; j < 8; j++)
            all |= any[j];
        if (all < alphabet && !(freq = count_codes(st->codes, n, alphabet, e)))
            goto done;
    }
    if (!freq) {
        for (size_t i = 0; i < n; i++)
            if (symbol_of(st, i) > max)
                max = symbol_of(st, i);
        alphabet = max <= 65535 ? max + 1 : 0;
        if (alphabet) {
            freq = nnz_calloc(alphabet, sizeof *freq, e);
            if (!freq)
                goto done;
            for (size_t i = 0; i < n; i++)
                freq[symbol_of(st, i)]++;
        }
    } else {
        for (uint32_t v = 0; v < alphabet; v++)
            if (freq[v])
                max = v;
        alphabet = max + 1;
    }
    if (plan_stream(freq, alphabet, n, nblocks, value_width(st, max), huff, max_len, 0, &dense,
                    e) != 0)
        goto done;
    uint64_t dense_bytes = dense.bytes + (st->hashed ? 0 : index_bytes(nblocks, 1));

    /* sparse: positions of the non-zero elements, and their symbols */
    int use_sparse = 0;
    size_t zeros = 0;
    if (!st->hashed && n > 0 &&
        !zeros_rule_out_sparse(st, be, dense.entropy, alphabet, dense_bytes)) {
        if (gap_histogram(st, be, freq, alphabet, &gh, e) != 0)
            goto done;
        zeros = n - gh.nnz;
        if (zeros > 0 && !sparse_cannot_win(&gh, dense_bytes)) {
            if (plan_sparse(st, &gh, nblocks, huff, max_len, &sp, e) != 0)
                goto done;
            use_sparse = sparse_wins(sp.bytes, dense_bytes);
        }
    }
    /* raw can beat our codings only for unquantized dense floats */
    int raw_ok = !st->hashed && t->dtype == NNZ_DT_FLOAT && st->kind == NNZ_VAL_F32;
    if (info) {
        cJSON *alt = cJSON_AddObjectToObject(info, "estimates");
        cJSON_AddNumberToObject(alt, "dense", (double)dense_bytes);
        if (sp.bytes) /* weighed, not ruled out by its bound */
            cJSON_AddNumberToObject(alt, "sparse", (double)sp.bytes);
        if (raw_ok)
            cJSON_AddNumberToObject(alt, "raw", (double)t->nbytes);
    }

    uint64_t est = use_sparse ? sp.bytes : dense_bytes;
    if (raw_ok && est >= t->nbytes) {
        rc = encode_raw(out, info);
        goto done;
    }

    if (use_sparse) {
        if (sparse_symbols(st, be, sp.escape, gh.nnz, sp.ngaps, &sy[0], &sy[1], e) != 0 ||
            code_stream(&sy[0], &sp.pos, &cs[0], e) != 0 ||
            code_stream(&sy[1], &sp.val, &cs[1], e) != 0 ||
            assemble(&best, NNZ_ENC_SPARSE, st, block_log2, gh.nnz, sp.escape, cs, 2, nblocks,
                     sy[1].start, e) != 0)
            goto done;
    } else {
        if (dense_symbols(st, be, &sy[0], e) != 0 || code_stream(&sy[0], &dense, &cs[0], e) != 0 ||
            (dense.lanes_close && try_four_lanes(&sy[0], &dense, &cs[0], e) != 0) ||
            assemble(&best, st->hashed ? NNZ_ENC_HASHED : NNZ_ENC_DENSE, st, block_log2, 0, 0, cs,
                     1, nblocks, NULL, e) != 0)
            goto done;
    }
    /* a float tensor whose estimate was close may still come out larger */
    if (raw_ok && candidate_bytes(&best) >= t->nbytes) {
        candidate_free(&best);
        rc = encode_raw(out, info);
        goto done;
    }
    out->encoding = (uint8_t)best.enc;
    out->version = (uint8_t)best.version;
    out->params = best.params.out.buf;
    out->params_len = best.params.out.len;
    out->payload = best.payload.out.buf;
    out->payload_len = best.payload.out.len;
    if (!out->payload) { /* an empty payload still needs a pointer */
        out->payload = nnz_malloc(1, e);
        if (!out->payload) {
            candidate_free(&best);
            memset(out, 0, sizeof *out);
            goto done;
        }
    }
    if (info) {
        int any_huff = cs[0].coding != NNZ_CODING_PACKED ||
                       (use_sparse && cs[1].coding != NNZ_CODING_PACKED);
        cJSON_AddStringToObject(info, "layout", nnz_layout_name(best.enc));
        cJSON_AddStringToObject(info, "coding",
                                nnz_coding_name(any_huff ? NNZ_CODING_HUFFMAN : NNZ_CODING_PACKED));
        int exp;
        cJSON_AddStringToObject(info, "value_map", nnz_value_map_name(stored_kind(st, &exp)));
        cJSON_AddNumberToObject(info, "version", best.version);
        cJSON_AddNumberToObject(info, "block", (double)(st->hashed ? n : be));
        cJSON_AddNumberToObject(info, "params_bytes", (double)best.params.out.len);
        cJSON_AddNumberToObject(info, "payload_bytes", (double)best.payload.out.len);
        if (use_sparse) {
            cJSON_AddNumberToObject(info, "nonzero", (double)gh.nnz);
            cJSON_AddNumberToObject(info, "escape", sp.escape);
            describe_stream(info, "positions", &cs[0], &sp.pos);
            describe_stream(info, "values", &cs[1], &sp.val);
        } else {
            describe_stream(info, "values", &cs[0], &dense);
        }
    }
    /* a dense tensor of one block: its symbols, for nnz_share_tables */
    if (!use_sparse && !st->hashed && nblocks == 1 && huff && alphabet >= 2 &&
        alphabet <= SHARE_ALPHABET && best.enc == NNZ_ENC_DENSE) {
        out->syms = nnz_malloc(n * sizeof *out->syms, e);
        if (!out->syms) {
            nnz_encoded_free(out);
            goto done;
        }
        memcpy(out->syms, sy[0].syms, n * sizeof *out->syms);
        out->nsyms = n;
        out->width = bits_for(max);
        out->max_len = max_len;
    }
    rc = 0;
done:
    free(freq);
    plan_free(&dense);
    plan_free(&sp.pos);
    plan_free(&sp.val);
    gap_hist_free(&gh);
    symbols_free(&sy[0]);
    symbols_free(&sy[1]);
    stream_free(&cs[0]);
    stream_free(&cs[1]);
    return rc;
}

/* ---- shared tables ------------------------------------------------------------ */

/* Groups of tensors weighed at once: a tensor may join any of the last
 * SHARE_OPEN groups, each of at most SHARE_MEMBERS tensors (the cost of a
 * trial grows with both). */
#define SHARE_OPEN 8
#define SHARE_MEMBERS 64

/* A candidate tensor: its symbol counts, its bytes as encoded on its own,
 * and the most data bytes it may take under a shared table (the size
 * target of an own table: 1% over its entropy, plus that table). */
typedef struct share_cand {
    uint64_t *freq;
    uint64_t own;
    double budget;
    size_t dup_of;   /* an earlier candidate with the same bytes, or SIZE_MAX */
} share_cand;

typedef struct share_group {
    size_t members[SHARE_MEMBERS]; /* entry indices, increasing: the first owns the table */
    size_t n;
    uint64_t *freq;
    unsigned width, max_len;
    uint64_t bytes;                /* as stored: shared, or (one member) its own bytes */
} share_group;

/* Tensor i into group g's members, which stay in entry order; and out. */
static void group_add(share_group *g, size_t i)
{
    size_t k = g->n++;
    for (; k > 0 && g->members[k - 1] > i; k--)
        g->members[k] = g->members[k - 1];
    g->members[k] = i;
}

static void group_remove(share_group *g, size_t i)
{
    size_t k = 0;
    while (g->members[k] != i)
        k++;
    for (g->n--; k < g->n; k++)
        g->members[k] = g->members[k + 1];
}

/* The code a group's counts get, as plan_stream builds a tensor's. */
static int share_code(const uint64_t *freq, unsigned width, unsigned max_len, nnz_huff *h,
                      nnz_error *e)
{
    uint32_t alphabet = 1u << width;
    uint64_t used = 0, total = 0;
    for (uint32_t s = 0; s < alphabet; s++) {
        used += freq[s] != 0;
        total += freq[s];
    }
    while (max_len < NNZ_HUFF_MAX_LEN && ((uint64_t)1 << max_len) < used)
        max_len++;
    unsigned pref = max_len < NNZ_HUFF_FAST_BITS ? max_len : NNZ_HUFF_FAST_BITS;
    double cap = 1.01 * nnz_entropy(freq, alphabet) * (double)total;
    return nnz_huff_build_pref(freq, alphabet, max_len, pref, NNZ_HUFF_FAST_COST, cap, h, e);
}

/* A member's data under code h: its bytes, and whether in four lanes
 * (when they cost at most half a percent more: they decode faster). */
static uint64_t share_data(const nnz_huff *h, const uint64_t *freq, int *four)
{
    uint64_t bits = nnz_huff_data_bits(h, freq), one = est_bytes(bits, 1, 1),
             x4 = est_bytes(bits, 1, 4);
    *four = x4 <= one + one / 200;
    return *four ? x4 : one;
}

/* Bytes of group g's tensors coded with one table built from `freq` (g's
 * counts, with any tensor being tried), the table in the first; UINT64_MAX
 * when a member would pass its budget. */
static int share_cost(const share_group *g, const uint64_t *freq, const nnz_encoded *x,
                      const share_cand *c, uint64_t *bytes, nnz_error *e)
{
    nnz_huff h;
    int four;
    if (share_code(freq, g->width, g->max_len, &h, e) != 0)
        return -1;
    uint64_t tl = nnz_huff_table_bits(&h, NNZ_HUFF_TABLE_LIST) / 8,
             tg = nnz_huff_table_bits(&h, NNZ_HUFF_TABLE_GAMMA) / 8;
    *bytes = tl < tg ? tl : tg;
    for (size_t k = 0; k < g->n && *bytes != UINT64_MAX; k++) {
        size_t i = g->members[k];
        uint64_t d = share_data(&h, c[i].freq, &four);
        *bytes = (double)d > c[i].budget ? UINT64_MAX
                                         : *bytes + d + x[i].params_len +
                                               (k ? nnz_varint_len(g->members[0]) : 0);
    }
    nnz_huff_free(&h);
    return 0;
}

/* Code group g's tensors with its table: the first's stream with the
 * table (codings 1 to 4), the others' without it (codings 5 and 6, encoding
 * version 6, the first's entry index after the stream's descriptor). */
static int share_write(const share_group *g, nnz_encoded *x, const share_cand *c, nnz_error *e)
{
    nnz_huff h;
    if (share_code(g->freq, g->width, g->max_len, &h, e) != 0)
        return -1;
    int gamma = nnz_huff_table_bits(&h, NNZ_HUFF_TABLE_GAMMA) <
                nnz_huff_table_bits(&h, NNZ_HUFF_TABLE_LIST),
        rc = 0;
    for (size_t k = 0; k < g->n && rc == 0; k++) {
        nnz_encoded *t = &x[g->members[k]];
        size_t start[2] = { 0, t->nsyms };
        symbols sy = { .syms = t->syms, .n = t->nsyms, .start = start, .nblocks = 1 };
        int four;
        share_data(&h, c[g->members[k]].freq, &four);
        plan p = { .width = g->width, .h = h };
        p.coding = k ? (four ? NNZ_CODING_SHARED_X4 : NNZ_CODING_SHARED)
                     : (four ? NNZ_CODING_HUFFMAN_X4 : NNZ_CODING_HUFFMAN) + (unsigned)gamma;
        coded_stream cs;
        nnz_bitw params = { 0 };
        rc = code_stream(&sy, &p, &cs, e);
        /* the parameters but their last byte, the stream's descriptor */
        nnz_bitw_bytes(&params, t->params, t->params_len - 1);
        put_u8(&params, p.coding | (g->width - 1) << 3);
        if (k)
            put_varint(&params, g->members[0]);
        nnz_bitw_align(&params);
        if (rc == 0 && (params.out.failed || cs.data.out.failed))
            rc = nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory sharing a Huffman table");
        if (rc == 0) {
            free(t->params);
            free(t->payload);
            t->params = params.out.buf;
            t->params_len = params.out.len;
            t->payload = cs.data.out.buf;
            t->payload_len = cs.data.out.len;
            t->shared_coding = (uint8_t)p.coding;
            if (k)
                t->version = NNZ_ENC_VERSION_SHARED;
            memset(&params, 0, sizeof params);
            memset(&cs.data, 0, sizeof cs.data);
        }
        nnz_bitw_free(&params);
        stream_free(&cs);
    }
    nnz_huff_free(&h);
    return rc;
}

static int same_bytes(const nnz_encoded *a, const nnz_encoded *b)
{
    return a->encoding == b->encoding && a->version == b->version &&
           a->params_len == b->params_len && a->payload_len == b->payload_len &&
           a->width == b->width && memcmp(a->params, b->params, a->params_len) == 0 &&
           memcmp(a->payload, b->payload, a->payload_len) == 0;
}

int nnz_share_tables(nnz_encoded *x, size_t n, size_t *owner_of, nnz_error *e)
{
    share_cand *c = nnz_calloc(n ? n : 1, sizeof *c, e);
    share_group *g = NULL;
    size_t ng = 0, cap = 0;
    uint64_t *f = NULL;
    int rc = -1;
    if (!c)
        return -1;
    for (size_t i = 0; i < n; i++)
        owner_of[i] = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        c[i].dup_of = SIZE_MAX;
        if (!x[i].syms)
            continue;
        /* a repeat of an earlier tensor is coded as that one is (an alias after) */
        for (size_t j = 0; j < i && c[i].dup_of == SIZE_MAX; j++)
            if (x[j].syms && c[j].dup_of == SIZE_MAX && same_bytes(&x[i], &x[j]))
                c[i].dup_of = j;
        if (c[i].dup_of != SIZE_MAX)
            continue;
        uint32_t a = 1u << x[i].width;
        nnz_huff h;
        if (!(c[i].freq = nnz_calloc(a, sizeof *c[i].freq, e)))
            goto done;
        for (size_t k = 0; k < x[i].nsyms; k++)
            c[i].freq[x[i].syms[k]]++;
        if (share_code(c[i].freq, x[i].width, x[i].max_len, &h, e) != 0)
            goto done;
        uint64_t tl = nnz_huff_table_bits(&h, NNZ_HUFF_TABLE_LIST) / 8,
                 tg = nnz_huff_table_bits(&h, NNZ_HUFF_TABLE_GAMMA) / 8;
        nnz_huff_free(&h);
        c[i].own = x[i].params_len + x[i].payload_len;
        c[i].budget = 1.01 * nnz_entropy(c[i].freq, a) * (double)x[i].nsyms / 8 +
                      (double)(tl < tg ? tl : tg);
    }
    /* each tensor in turn, the largest first (groups form around them; a
     * small tensor pays for no table, but may join one), joins the open
     * group it makes smallest, when that is smaller than keeping it
     * apart; else it opens one */
    size_t *ord = nnz_malloc((n ? n : 1) * sizeof *ord, e), no = 0;
    if (!ord)
        goto done;
    for (size_t i = 0; i < n; i++) {
        if (!c[i].freq)
            continue;
        size_t k = no++;
        for (; k > 0 && x[ord[k - 1]].nsyms < x[i].nsyms; k--)
            ord[k] = ord[k - 1];
        ord[k] = i;
    }
    for (size_t oi = 0; oi < no; oi++) {
        size_t i = ord[oi];
        uint32_t a = 1u << x[i].width;
        size_t best = SIZE_MAX;
        uint64_t best_bytes = 0, best_gain = 0;
        free(f);
        if (!(f = nnz_malloc(a * sizeof *f, e))) {
            free(ord);
            goto done;
        }
        for (size_t k = ng > SHARE_OPEN ? ng - SHARE_OPEN : 0; k < ng; k++) {
            share_group *q = &g[k];
            uint64_t bytes;
            if (q->width != x[i].width || q->max_len != x[i].max_len || q->n == SHARE_MEMBERS)
                continue;
            for (uint32_t s = 0; s < a; s++)
                f[s] = q->freq[s] + c[i].freq[s];
            group_add(q, i);
            int r = share_cost(q, f, x, c, &bytes, e);
            group_remove(q, i);
            if (r != 0) {
                free(ord);
                goto done;
            }
            if (bytes < q->bytes + c[i].own && q->bytes + c[i].own - bytes > best_gain) {
                best = k;
                best_bytes = bytes;
                best_gain = q->bytes + c[i].own - bytes;
            }
        }
        if (best != SIZE_MAX) {
            share_group *q = &g[best];
            group_add(q, i);
            q->bytes = best_bytes;
            for (uint32_t s = 0; s < a; s++)
                q->freq[s] += c[i].freq[s];
            continue;
        }
        if (ng == cap) {
            share_group *ng2 = nnz_realloc(g, (cap = cap ? 2 * cap : 16) * sizeof *g, e);
            if (!ng2) {
                free(ord);
                goto done;
            }
            g = ng2;
        }
        share_group *q = &g[ng];
        memset(q, 0, sizeof *q);
        if (!(q->freq = nnz_malloc(a * sizeof *q->freq, e))) {
            free(ord);
            goto done;
        }
        ng++;
        memcpy(q->freq, c[i].freq, a * sizeof *q->freq);
        q->members[q->n++] = i;
        q->width = x[i].width;
        q->max_len = x[i].max_len;
        q->bytes = c[i].own;
    }
    free(ord);
    free(f);
    f = NULL;
    for (size_t k = 0; k < ng; k++) {
        if (g[k].n < 2)
            continue;
        if (share_write(&g[k], x, c, e) != 0)
            goto done;
        owner_of[g[k].members[0]] = g[k].members[0];
        for (size_t j = 1; j < g[k].n; j++)
            owner_of[g[k].members[j]] = g[k].members[0];
    }
    /* repeats: the bytes of the tensor they repeat */
    for (size_t i = 0; i < n; i++) {
        size_t j = c[i].dup_of;
        if (j == SIZE_MAX || owner_of[j] == SIZE_MAX)
            continue;
        uint8_t *pa = nnz_malloc(x[j].params_len, e), *pl = nnz_malloc(x[j].payload_len + 1, e);
        if (!pa || !pl) {
            free(pa);
            free(pl);
            goto done;
        }
        memcpy(pa, x[j].params, x[j].params_len);
        memcpy(pl, x[j].payload, x[j].payload_len);
        free(x[i].params);
        free(x[i].payload);
        x[i].params = pa;
        x[i].payload = pl;
        x[i].params_len = x[j].params_len;
        x[i].payload_len = x[j].payload_len;
        x[i].version = x[j].version;
        x[i].shared_coding = x[j].shared_coding;
        if (owner_of[j] != j)
            owner_of[i] = owner_of[j];
    }
    rc = 0;
done:
    free(f);
    for (size_t k = 0; k < ng; k++)
        free(g[k].freq);
    free(g);
    for (size_t i = 0; i < n; i++)
        free(c[i].freq);
    free(c);
    return rc;
}
