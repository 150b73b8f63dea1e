/* encode.c - see encode.h. */
#include "encode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bitio.h"
#include "huffman.h"
#include "nnz.h"

/* ---- small byte writers ---------------------------------------------------- */

static void put_u8(nnz_bitw *w, unsigned v) { nnz_bitw_put(w, v & 0xff, 8); }

static void put_varint(nnz_bitw *w, uint64_t v)
{
    do {
        put_u8(w, (unsigned)((v & 0x7f) | (v > 0x7f ? 0x80 : 0)));
        v >>= 7;
    } while (v);
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

/* ---- one stream of symbols ------------------------------------------------ */

/* The symbols of a stream, cut into blocks: block b is syms[start[b], start[b+1]). */
typedef struct symbols {
    uint32_t *syms;
    size_t n;
    size_t *start;   /* nblocks + 1 */
    size_t nblocks;
    uint32_t max;    /* largest symbol */
} symbols;

/* A stream as it will be stored. */
typedef struct coded_stream {
    unsigned coding, width;
    nnz_bitw data;       /* table + data */
    uint32_t *offsets;   /* per block: byte offset from the data start */
    double entropy;      /* bits per symbol, order 0 */
} coded_stream;

static unsigned bits_for(uint32_t max)
{
    unsigned w = 1;
    while (w < 32 && ((uint64_t)1 << w) <= max)
        w++;
    return w;
}

static void stream_free(coded_stream *s)
{
    nnz_bitw_free(&s->data);
    free(s->offsets);
    memset(s, 0, sizeof *s);
}

/* Code `sy` packed at `width` bits, or with Huffman (max code length
 * `max_len`); table first, then each block byte-aligned. */
static int code_stream(const symbols *sy, unsigned coding, unsigned width, unsigned max_len,
                       coded_stream *out, nnz_error *e)
{
    memset(out, 0, sizeof *out);
    out->coding = coding;
    out->width = width;
    out->offsets = nnz_calloc(sy->nblocks + 1, sizeof *out->offsets, e);
    if (!out->offsets)
        return -1;
    nnz_huff h;
    memset(&h, 0, sizeof h);
    size_t header = 0;
    if (coding == NNZ_CODING_HUFFMAN) {
        uint32_t alphabet = sy->max + 1;
        uint64_t *freq = nnz_calloc(alphabet, sizeof *freq, e);
        if (!freq)
            return -1;
        for (size_t i = 0; i < sy->n; i++)
            freq[sy->syms[i]]++;
        out->entropy = nnz_entropy(freq, alphabet);
        int rc = nnz_huff_build(freq, alphabet, max_len, &h, e);
        free(freq);
        if (rc != 0)
            return -1;
        out->width = h.width;
        nnz_huff_write_table(&h, &out->data);
        header = out->data.len;
    }
    for (size_t b = 0; b < sy->nblocks; b++) {
        uint64_t off = out->data.len - header;
        if (off > UINT32_MAX) {
            nnz_huff_free(&h);
            return nnz_fail(e, NNZ_EXIT_INPUT, "a coded stream passes 4 GiB (the format's limit)");
        }
        out->offsets[b] = (uint32_t)off;
        for (size_t i = sy->start[b]; i < sy->start[b + 1]; i++) {
            if (coding == NNZ_CODING_HUFFMAN)
                nnz_huff_put(&h, &out->data, sy->syms[i]);
            else
                nnz_bitw_put(&out->data, sy->syms[i], width);
        }
        nnz_bitw_align(&out->data);
    }
    nnz_huff_free(&h);
    if (out->data.failed)
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory coding a stream");
    return 0;
}

/* The better of packed and (if allowed) Huffman for a stream. */
static int best_stream(const symbols *sy, unsigned packed_width, int allow_huffman,
                       unsigned max_len, coded_stream *out, nnz_error *e)
{
    if (code_stream(sy, NNZ_CODING_PACKED, packed_width, 0, out, e) != 0)
        return -1;
    if (!allow_huffman || sy->max > 65535 || sy->n == 0)
        return 0;
    coded_stream h;
    if (code_stream(sy, NNZ_CODING_HUFFMAN, 0, max_len, &h, e) != 0) {
        stream_free(&h);
        return -1;
    }
    if (h.data.len < out->data.len) {
        h.entropy = h.entropy;
        stream_free(out);
        *out = h;
    } else {
        out->entropy = h.entropy;
        stream_free(&h);
    }
    return 0;
}

/* ---- building the symbols ---------------------------------------------------- */

/* The symbol of element i (or bucket i) as stored. */
static uint32_t symbol_of(const nnz_state *st, size_t i)
{
    if (st->codes)
        return st->codes[i];
    return f32_bits(st->hashed ? st->buckets[i] : st->values[i]);
}

static int is_zero(const nnz_state *st, size_t i)
{
    if (st->kind == NNZ_VAL_INT)
        return (int64_t)st->codes[i] == st->int_offset;
    return nnz_state_is_zero(st, i);
}

static int blocks_for(size_t n, unsigned block_log2, size_t **start, size_t *nblocks, nnz_error *e)
{
    size_t be = block_log2 ? (size_t)1 << block_log2 : (n ? n : 1);
    *nblocks = n ? (n + be - 1) / be : 1;
    *start = nnz_calloc(*nblocks + 1, sizeof **start, e);
    return *start ? 0 : -1;
}

/* Dense: every element's symbol. */
static int dense_symbols(const nnz_state *st, unsigned block_log2, symbols *sy, nnz_error *e)
{
    memset(sy, 0, sizeof *sy);
    size_t n = nnz_state_nstored(st);
    sy->syms = nnz_malloc((n ? n : 1) * sizeof *sy->syms, e);
    if (!sy->syms || blocks_for(n, st->hashed ? 0 : block_log2, &sy->start, &sy->nblocks, e) != 0)
        return -1;
    size_t be = st->hashed || !block_log2 ? (n ? n : 1) : (size_t)1 << block_log2;
    for (size_t i = 0; i < n; i++) {
        sy->syms[i] = symbol_of(st, i);
        if (sy->syms[i] > sy->max)
            sy->max = sy->syms[i];
    }
    for (size_t b = 0; b <= sy->nblocks; b++)
        sy->start[b] = b * be < n ? b * be : n;
    sy->n = n;
    return 0;
}

/* Sparse: gap symbols (with `escape`) and the survivors' symbols, per block;
 * before[b] = survivors before block b. */
static int sparse_symbols(const nnz_state *st, unsigned block_log2, uint32_t escape,
                          symbols *gaps, symbols *vals, size_t *nnz, nnz_error *e)
{
    memset(gaps, 0, sizeof *gaps);
    memset(vals, 0, sizeof *vals);
    size_t n = st->n, cnt = 0, ngaps = 0;
    size_t be = block_log2 ? (size_t)1 << block_log2 : (n ? n : 1);
    for (size_t i = 0; i < n; i++)
        cnt += !is_zero(st, i);
    /* gap symbols: at most one per survivor plus the escapes */
    size_t cap = cnt + n / escape + 2;
    gaps->syms = nnz_malloc(cap * sizeof *gaps->syms, e);
    vals->syms = nnz_malloc((cnt ? cnt : 1) * sizeof *vals->syms, e);
    if (!gaps->syms || !vals->syms ||
        blocks_for(n, block_log2, &gaps->start, &gaps->nblocks, e) != 0 ||
        blocks_for(n, block_log2, &vals->start, &vals->nblocks, e) != 0)
        return -1;
    size_t k = 0;
    for (size_t b = 0; b < gaps->nblocks; b++) {
        size_t lo = b * be, hi = lo + be < n ? lo + be : n, cur = lo;
        gaps->start[b] = ngaps;
        vals->start[b] = k;
        for (size_t i = lo; i < hi; i++) {
            if (is_zero(st, i))
                continue;
            size_t g = i - cur;
            while (g >= escape) {
                gaps->syms[ngaps++] = escape;
                g -= escape;
            }
            gaps->syms[ngaps++] = (uint32_t)g;
            vals->syms[k] = symbol_of(st, i);
            if (vals->syms[k] > vals->max)
                vals->max = vals->syms[k];
            k++;
            cur = i + 1;
        }
    }
    gaps->start[gaps->nblocks] = ngaps;
    vals->start[vals->nblocks] = k;
    gaps->n = ngaps;
    vals->n = k;
    gaps->max = escape;
    *nnz = cnt;
    return 0;
}

static void symbols_free(symbols *s)
{
    free(s->syms);
    free(s->start);
    memset(s, 0, sizeof *s);
}

/* ---- value map parameters --------------------------------------------------- */

static void put_value_map(nnz_bitw *w, const nnz_state *st)
{
    switch (st->kind) {
    case NNZ_VAL_AFFINE:
        put_varint(w, st->nchan);
        put_varint(w, st->inner);
        for (size_t c = 0; c < st->nchan; c++)
            put_le32(w, f32_bits(st->scale[c]));
        {
            int shared = 1; /* symmetric steps share their zero point */
            for (size_t c = 1; c < st->nchan; c++)
                shared &= st->zero_point[c] == st->zero_point[0];
            put_u8(w, (unsigned)shared);
            for (size_t c = 0; c < (shared ? 1 : st->nchan); c++)
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

static const char *kind_name(int kind)
{
    static const char *n[] = { "f32", "f16", "bf16", "affine", "codebook", "integer" };
    return kind >= 0 && kind <= 5 ? n[kind] : "?";
}

/* ---- assembling an encoding --------------------------------------------------- */

typedef struct candidate {
    int enc;
    nnz_bitw params, payload;
} candidate;

static void candidate_free(candidate *c)
{
    nnz_bitw_free(&c->params);
    nnz_bitw_free(&c->payload);
}

static void describe_stream(cJSON *o, const char *name, const coded_stream *s, size_t nsyms)
{
    cJSON *x = cJSON_AddObjectToObject(o, name);
    cJSON_AddStringToObject(x, "coding", s->coding == NNZ_CODING_HUFFMAN ? "huffman" : "packed");
    cJSON_AddNumberToObject(x, "width", s->width);
    cJSON_AddNumberToObject(x, "symbols", (double)nsyms);
    cJSON_AddNumberToObject(x, "bytes", (double)s->data.len);
    if (s->entropy > 0 || s->coding == NNZ_CODING_HUFFMAN)
        cJSON_AddNumberToObject(x, "entropy_bits", s->entropy);
}

/* Lay out params and payload from coded streams (1 or 2). */
static int assemble(candidate *c, int enc, const nnz_state *st, unsigned block_log2, size_t nnz,
                    uint32_t escape, coded_stream *s, size_t ns, size_t nblocks,
                    const size_t *before, nnz_error *e)
{
    memset(c, 0, sizeof *c);
    c->enc = enc;
    put_u8(&c->params, (unsigned)st->kind);
    put_u8(&c->params, enc == NNZ_ENC_HASHED ? 0 : block_log2);
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
        put_u8(&c->params, s[k].coding);
        put_u8(&c->params, s[k].width);
        put_varint(&c->params, s[k].data.len);
    }
    if (enc != NNZ_ENC_HASHED)
        for (size_t b = 1; b < nblocks; b++) {
            for (size_t k = 0; k < ns; k++) {
                /* offsets are from the start of the data, after any table */
                put_le32(&c->payload, s[k].offsets[b]);
            }
            if (enc == NNZ_ENC_SPARSE)
                put_le32(&c->payload, (uint32_t)before[b]);
        }
    for (size_t k = 0; k < ns; k++)
        nnz_bitw_bytes(&c->payload, s[k].data.buf, s[k].data.len);
    nnz_bitw_align(&c->params);
    nnz_bitw_align(&c->payload);
    if (c->params.failed || c->payload.failed)
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory assembling an encoding");
    return 0;
}

static size_t candidate_bytes(const candidate *c) { return c->params.len + c->payload.len; }

int nnz_encode_tensor(const nnz_tensor *t, const nnz_state *st, cJSON *rep, nnz_encoded *out,
                      nnz_error *e)
{
    memset(out, 0, sizeof *out);
    unsigned block_log2 = st->block_log2 > 0 ? (unsigned)st->block_log2 : NNZ_DEFAULT_BLOCK_LOG2;
    unsigned max_len = st->max_code_len > 0 ? (unsigned)st->max_code_len : NNZ_HUFF_MAX_LEN;
    int huff = st->entropy;
    cJSON *info = rep ? cJSON_AddObjectToObject(rep, "encoding") : NULL;
    candidate best;
    memset(&best, 0, sizeof best);
    int have = 0, rc = -1;

    /* dense (or hashed): one stream of every stored value's symbol */
    {
        symbols sy;
        coded_stream s;
        memset(&s, 0, sizeof s);
        if (dense_symbols(st, block_log2, &sy, e) == 0 &&
            best_stream(&sy, value_width(st, sy.max), huff, max_len, &s, e) == 0 &&
            assemble(&best, st->hashed ? NNZ_ENC_HASHED : NNZ_ENC_DENSE, st, block_log2, 0, 0, &s, 1,
                     sy.nblocks, NULL, e) == 0) {
            have = 1;
            if (info) {
                cJSON_AddNumberToObject(info, st->hashed ? "hashed_bytes" : "dense_bytes",
                                        (double)candidate_bytes(&best));
                describe_stream(info, "values", &s, sy.n);
            }
        }
        stream_free(&s);
        symbols_free(&sy);
        if (!have)
            goto done;
    }

    /* sparse: positions of the non-zero elements, and their symbols */
    size_t zeros = 0;
    if (!st->hashed)
        for (size_t i = 0; i < st->n; i++)
            zeros += is_zero(st, i);
    if (zeros > 0) {
        /* the escape: packed gaps pay it at every multiple, Huffman only
         * in its table, so try a few and keep the smallest */
        static const uint32_t escapes[] = { 1, 3, 7, 15, 31, 63, 255, 1023, 4095, 16383, 65535 };
        candidate sparse;
        int have_sparse = 0;
        cJSON *pos_info = NULL;
        for (size_t k = 0; k < sizeof escapes / sizeof escapes[0]; k++) {
            uint32_t esc = escapes[k];
            if (k > 0 && esc / 2 > st->n)
                break;
            symbols gaps, vals;
            coded_stream s[2];
            size_t nnz;
            memset(s, 0, sizeof s);
            candidate c;
            memset(&c, 0, sizeof c);
            int ok = sparse_symbols(st, block_log2, esc, &gaps, &vals, &nnz, e) == 0 &&
                     best_stream(&gaps, bits_for(esc), huff, max_len, &s[0], e) == 0 &&
                     best_stream(&vals, value_width(st, vals.max), huff, max_len, &s[1], e) == 0 &&
                     assemble(&c, NNZ_ENC_SPARSE, st, block_log2, nnz, esc, s, 2, gaps.nblocks,
                              vals.start, e) == 0;
            if (ok && (!have_sparse || candidate_bytes(&c) < candidate_bytes(&sparse))) {
                if (have_sparse)
                    candidate_free(&sparse);
                sparse = c;
                have_sparse = 1;
                if (info) {
                    cJSON_DeleteItemFromObject(info, "sparse");
                    pos_info = cJSON_AddObjectToObject(info, "sparse");
                    cJSON_AddNumberToObject(pos_info, "bytes", (double)candidate_bytes(&c));
                    cJSON_AddNumberToObject(pos_info, "nonzero", (double)nnz);
                    cJSON_AddNumberToObject(pos_info, "escape", esc);
                    describe_stream(pos_info, "positions", &s[0], gaps.n);
                    describe_stream(pos_info, "values", &s[1], vals.n);
                }
            } else {
                candidate_free(&c);
            }
            stream_free(&s[0]);
            stream_free(&s[1]);
            symbols_free(&gaps);
            symbols_free(&vals);
            if (!ok)
                goto done;
        }
        if (have_sparse && candidate_bytes(&sparse) < candidate_bytes(&best)) {
            candidate_free(&best);
            best = sparse;
        } else if (have_sparse) {
            candidate_free(&sparse);
        }
    }

    /* raw beats everything only for unquantized dense floats */
    if (!st->hashed && t->dtype == NNZ_DT_FLOAT && st->kind == NNZ_VAL_F32 &&
        candidate_bytes(&best) >= t->nbytes) {
        candidate_free(&best);
        out->encoding = NNZ_ENC_RAW;
        out->version = 1;
        if (info)
            cJSON_AddStringToObject(info, "layout", "raw");
        rc = 0;
        goto done;
    }
    out->encoding = (uint8_t)best.enc;
    out->version = 1;
    out->params = best.params.buf;
    out->params_len = best.params.len;
    out->payload = best.payload.buf;
    out->payload_len = best.payload.len;
    if (!out->payload) { /* an empty payload still needs a pointer */
        out->payload = nnz_malloc(1, e);
        if (!out->payload) {
            candidate_free(&best);
            goto done;
        }
    }
    if (info) {
        static const char *layout[] = { "raw", "dense", "sparse", "hashed" };
        cJSON_AddStringToObject(info, "layout", layout[best.enc]);
        cJSON_AddStringToObject(info, "value_map", kind_name(st->kind));
        cJSON_AddNumberToObject(info, "params_bytes", (double)best.params.len);
        cJSON_AddNumberToObject(info, "payload_bytes", (double)best.payload.len);
    }
    rc = 0;
done:
    return rc;
}
