/* nnz.c - the nnzip decoder runtime. See nnz.h for the contract and
 * docs/FORMAT.md for the bytes.
 *
 * In the order a reader needs it: the build's choices, reading bytes and
 * bits, Huffman tables and the symbols of a stream (sym_get is the
 * reference; the speed paths after it, NNZ_FAST, decode the same symbols
 * faster), the coded encodings' parameters, value maps, decoding each
 * encoding, the blob's directory and its checks, setting a decode up and
 * the reader that decodes (nnz_decode too reads its blocks through it),
 * and last the public functions (nnz.h), then decoding in pieces
 * (nnz_reader_*) and rebuilding the model.
 * Public helpers that are building blocks (CRC-32, half floats, hashing)
 * sit with their kind.
 *
 * Conventions of this file: the blob is read through `rd` cursors that
 * never move past their end (a read past it sets `bad` and yields zeros);
 * room is checked as remaining space, `(size_t)(end - p) < need`; integers
 * are read byte by byte, little-endian; products and sums are checked
 * before use. */
#include "nnz.h"

#include <string.h>

/* ---- build choices and layout constants (docs/FORMAT.md) ---------------- */

static const uint8_t MAGIC[8] = { 'N', 'N', 'Z', 'B', 0x0d, 0x0a, 0x1a, 0x0a };
#define HEADER_SIZE 64u
#define SECTION_ENTRY_SIZE 32u
#define MAX_SECTIONS 64u
#define PAYLOAD_ALIGN 64u
/* External tensors are packed in their file: each starts less than this
 * many bytes after the previous one ends (the first, after 0), so the file
 * is no larger than the tensors it holds plus alignment. */
#define EXTERNAL_GAP 4096u

enum { SEC_DIRECTORY = 1, SEC_GRAPH = 2, SEC_PAYLOAD = 3, SEC_METADATA = 4, SEC_NAMES = 5,
       SEC_GRAPH_PACKED = 6 };
/* A compressed graph expands to at most this many bytes: the graph, its
 * work and their sum fit a 32-bit size_t. */
#define GRAPH_PACKED_MAX 0x7fffffffu

#define HAVE_ALIAS ((NNZ_FEATURES_BUILT & NNZ_FEAT_ALIAS) != 0)
/* Format 1: its directory (an offset per entry, the names section) and
 * the parameter layouts of encoding versions 1 to 4, read unless the build
 * leaves them out (NNZ_NO_FORMAT1; such blobs then give NNZ_E_UNSUPPORTED
 * at open, and such tensors of a format 2 blob when decoded). */
#ifdef NNZ_NO_FORMAT1
#define HAVE_FORMAT1 0
#else
#define HAVE_FORMAT1 1
#endif

/* Features this build has (nnz.h, NNZ_NO_*): constants, so the code of a
 * feature left out is dead and the compiler drops it; parse_coded refuses
 * a tensor that needs it (NNZ_E_UNSUPPORTED) before any of it would run. */
#define HAVE_SPARSE ((NNZ_FEATURES_BUILT & NNZ_FEAT_SPARSE) != 0)
#define HAVE_HUFFMAN ((NNZ_FEATURES_BUILT & NNZ_FEAT_HUFFMAN) != 0)
#define HAVE_CODEBOOK ((NNZ_FEATURES_BUILT & NNZ_FEAT_CODEBOOK) != 0)
#define HAVE_HASHED ((NNZ_FEATURES_BUILT & NNZ_FEAT_HASHED) != 0)
#define HAVE_SHARED ((NNZ_FEATURES_BUILT & NNZ_FEAT_SHARED) != 0)

/* Out of line where GCC would copy a function into each of its callers:
 * one copy is smaller on small cores (make size), and none of these is in
 * a loop that bounds the speed. */
#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

/* Out of line on cores with 32-bit pointers (one copy is smaller: make
 * size), inline where pointers are 64-bit: these are in the directory
 * walk, which bounds the speed of models of many small tensors. */
#if UINTPTR_MAX > 0xffffffffu
#define NOINLINE_SMALL
#else
#define NOINLINE_SMALL NOINLINE
#endif

/* The bit reader's buffer: 64 bits where pointers are, else 32 (smaller
 * and faster code on 32-bit cores). NNZ_BITBUF_BITS 32 or 64 overrides. */
#ifndef NNZ_BITBUF_BITS
#if UINTPTR_MAX > 0xffffffffu
#define NNZ_BITBUF_BITS 64
#else
#define NNZ_BITBUF_BITS 32
#endif
#endif
#if NNZ_BITBUF_BITS == 64
typedef uint64_t bitbuf;
#else
typedef uint32_t bitbuf;
#endif
#define BB NNZ_BITBUF_BITS

/* The speed paths: four Huffman lanes decoded at once, and runs of affine
 * symbols to float32 in a loop of their own. They pay on cores that run
 * instructions out of order (the lanes overlap) and cost flash on a small
 * in-order MCU, so they default to 64-bit buffers only. NNZ_FAST 0 or 1
 * overrides; both ways decode the same values (tests/suite/48-huffman.sh). */
#ifndef NNZ_FAST
#define NNZ_FAST (NNZ_BITBUF_BITS == 64)
#endif

/* Symbols decoded at a time: a stack buffer of 4 * CHUNK bytes (two for a
 * sparse tensor). Larger chunks amortize the lanes' setup; NNZ_CHUNK
 * overrides (16..65536) for a thread with little stack. */
#ifdef NNZ_CHUNK
#if NNZ_CHUNK < 16 || NNZ_CHUNK > 65536
#error "NNZ_CHUNK is 16..65536"
#endif
#define CHUNK NNZ_CHUNK
#elif NNZ_FAST
#define CHUNK 1024
#else
#define CHUNK 32
#endif

/* The symbols in flight: CHUNK, and as many gaps for a sparse tensor in the
 * fast build. The outermost decoding call holds them on its stack, once. */
#define CHUNK_BUF (NNZ_FAST ? 2 * CHUNK : CHUNK)

/* ---- byte reading -------------------------------------------------------- */

static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
/* A u64 size or offset inside the blob, saturated to SIZE_MAX as rd_size's. */
static size_t le64_size(const uint8_t *p)
{
    uint64_t v = (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
    return v > SIZE_MAX ? SIZE_MAX : (size_t)v;
}

typedef struct rd {
    const uint8_t *p, *end;
    int bad;
} rd;

static uint32_t rd_u8(rd *r)
{
    if (r->p >= r->end) {
        r->bad = 1;
        return 0;
    }
    return *r->p++;
}

static uint64_t rd_varint(rd *r)
{
    uint64_t v = 0;
    unsigned shift;
    for (shift = 0; shift < 64; shift += 7) {
        uint32_t b = rd_u8(r);
        if (r->bad)
            return 0;
        if (shift == 63 && b > 1) /* more than 64 bits */
            break;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->bad = 1;
    return 0;
}

/* A length or an offset that must lie inside the blob: a varint, as a
 * size_t, saturated (a value past SIZE_MAX is past every blob, and fails
 * the same bound check SIZE_MAX does). Checks on it then need no 64-bit
 * arithmetic on 32-bit cores. */
static NOINLINE_SMALL size_t rd_size(rd *r)
{
    uint64_t v = rd_varint(r);
    return v > SIZE_MAX ? SIZE_MAX : (size_t)v;
}

/* Skip `n` bytes, returning where they start (NULL and bad if too few). */
static const uint8_t *rd_bytes(rd *r, uint64_t n)
{
    if ((uint64_t)(r->end - r->p) < n) {
        r->bad = 1;
        r->p = r->end;
        return NULL;
    }
    const uint8_t *at = r->p;
    r->p += (size_t)n;
    return at;
}

static uint32_t rd_u32(rd *r)
{
    const uint8_t *p = rd_bytes(r, 4);
    return p ? le32(p) : 0;
}

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* ---- numbers: CRC-32, half floats, log-grid scales, types ---------------- */

uint32_t nnz_crc32(uint32_t crc, const void *data, size_t size)
{
    /* Half-byte table: 64 bytes of rodata instead of 1 KiB, for small cores. */
    static const uint32_t tab[16] = {
        0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu, 0x76dc4190u, 0x6b6b51f4u,
        0x4db26158u, 0x5005713cu, 0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu,
        0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu
    };
    const uint8_t *p = (const uint8_t *)data;
    crc = ~crc;
    while (size--) {
        crc ^= *p++;
        crc = (crc >> 4) ^ tab[crc & 15];
        crc = (crc >> 4) ^ tab[crc & 15];
    }
    return ~crc;
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float nnz_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ffu;
    if (exp == 0x1f) /* inf or NaN */
        return bits_f32(sign | 0x7f800000u | man << 13);
    if (exp == 0) {
        if (man == 0)
            return bits_f32(sign);
        /* subnormal: value = man * 2^-24 */
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    return bits_f32(sign | (exp + 112) << 23 | man << 13);
}

uint16_t nnz_float_to_half(float f)
{
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t exp = (u >> 23) & 0xff, man = u & 0x7fffffu;
    if (exp == 0xff) /* inf stays inf, NaN stays a (quiet) NaN */
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u | (man >> 13) : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 0x1f)
        return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) { /* subnormal half or zero */
        if (e < -10)
            return sign;
        man |= 0x800000u;
        unsigned shift = (unsigned)(14 - e);
        uint32_t half = man >> shift, rest = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rest > mid || (rest == mid && (half & 1)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = (uint32_t)e << 10 | man >> 13, rest = man & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (half & 1)))
        half++; /* may carry into the exponent, up to infinity: correct */
    return (uint16_t)(sign | half);
}

float nnz_bf16_to_float(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t nnz_float_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x7fffffu))
        return (uint16_t)((u >> 16) | 0x40u); /* NaN stays NaN */
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

/* Symbol `k` of a packed run of `bits`-bit symbols (0..12 bits, most
 * significant bit first): value map 6's scale codes. */
static uint32_t packed_code(const uint8_t *p, unsigned bits, uint64_t k)
{
    uint64_t at = k * bits;
    /* the code lies within the bytes it touches: up to three */
    unsigned n = (unsigned)((at & 7) + bits + 7) >> 3;
    uint32_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = v << 8 | p[(at >> 3) + i];
    return (v >> (8 * n - (at & 7) - bits)) & ((1u << bits) - 1);
}

float nnz_log_scale(uint32_t code, int exp)
{
    /* 2^(j/16) for j = 0..15, each the nearest float32: the format's
     * definition (docs/FORMAT.md), so every reader gets the same bits */
    static const uint32_t frac[16] = {
        0x3f800000u, 0x3f85aac3u, 0x3f8b95c2u, 0x3f91c3d3u, 0x3f9837f0u, 0x3f9ef532u,
        0x3fa5fed7u, 0x3fad583fu, 0x3fb504f3u, 0x3fbd08a4u, 0x3fc5672au, 0x3fce248cu,
        0x3fd744fdu, 0x3fe0ccdfu, 0x3feac0c7u, 0x3ff5257du
    };
    /* 2^e is a normal float for e in -126..126 (exp as nnz.h says): the
     * product is exact. Outside, no undefined behaviour, a meaningless value. */
    uint32_t e = (uint32_t)(exp + 127) + (code >> 4);
    return bits_f32(frac[code & 15]) * bits_f32(e << 23);
}

/* The ONNX types the format allows, one byte each: bytes per element (0:
 * not allowed); for float types, the value map of their bits plus one
 * (DT_FK: float32 NNZ_VAL_F32 + 1, float16 NNZ_VAL_F16 + 1, bfloat16
 * NNZ_VAL_BF16 + 1); and whether the integer value map may write it (DT_I).
 * One table, so no type is listed twice. */
enum { DT_SIZE = 31, DT_FK_SHIFT = 5, DT_FK = 3 << DT_FK_SHIFT, DT_I = 128 };
#define DT_F32 ((NNZ_VAL_F32 + 1) << DT_FK_SHIFT)
#define DT_F16 ((NNZ_VAL_F16 + 1) << DT_FK_SHIFT)
#define DT_BF16 ((NNZ_VAL_BF16 + 1) << DT_FK_SHIFT)
static NOINLINE_SMALL unsigned dtype_bits(int dtype)
{
    static const uint8_t bits[21] = {
        0, 4 | DT_F32, 1 | DT_I, 1 | DT_I, 2 | DT_I, 2 | DT_I, 4 | DT_I, 8, 0, 1 | DT_I,
        2 | DT_F16, 8, 4 | DT_I, 8, 8, 16, 2 | DT_BF16, 1, 1, 1, 1
    };
    return dtype >= 0 && dtype < 21 ? bits[dtype] : 0;
}

static unsigned dtype_size(int dtype) { return dtype_bits(dtype) & DT_SIZE; }

static int is_float_type(int dtype) { return (dtype_bits(dtype) & DT_FK) != 0; }

/* Raw and in-graph tensors are the stored bytes, from the payload or the
 * graph section (parse_entry points payload_offset at them). */
static int is_raw(int encoding)
{
    return encoding == NNZ_ENC_RAW || encoding == NNZ_ENC_GRAPH || encoding == NNZ_ENC_INLINE;
}

/* ---- the bit reader ------------------------------------------------------ */

/* A bit reader over a range of bytes: most significant bit first; past the
 * end it feeds zero bits and counts them (up to a sticky 128), so running
 * over is seen afterwards (br_over). */
typedef struct bitrd {
    const uint8_t *p, *end;
    bitbuf buf;    /* next bits, left-aligned; the bits after the n valid ones are */
    unsigned n;    /* valid bits in buf      the stream's next bits or zero */
    unsigned over; /* zero bits fed past the end */
} bitrd;

/* At least BB - 7 valid bits: BB / 8 bytes at once when there are. */
static void br_fill(bitrd *r)
{
    if (r->end - r->p >= BB / 8) {
        bitbuf v = 0;
        for (unsigned i = 0; i < BB / 8; i++)
            v = v << 8 | r->p[i];
        r->buf |= v >> r->n;
        r->p += (BB - 1 - r->n) >> 3;
        r->n |= BB - 8;
        return;
    }
    while (r->n <= BB - 8) {
        bitbuf byte = 0;
        if (r->p < r->end)
            byte = *r->p++;
        else if (r->over < 128)
            r->over += 8;
        r->buf |= byte << (BB - 8 - r->n);
        r->n += 8;
    }
}

/* The next w bits, w 1..32. */
static uint32_t br_get(bitrd *r, unsigned w)
{
    if (w > BB - 8) { /* a 32-bit buffer holds 25 bits for sure: in two parts */
        uint32_t hi = br_get(r, 16);
        return hi << (w - 16) | br_get(r, w - 16);
    }
    if (r->n < w || !NNZ_FAST) /* the test only pays where calls cost more than bytes */
        br_fill(r);
    uint32_t v = (uint32_t)(r->buf >> (BB - w));
    r->buf <<= w;
    r->n -= w;
    return v;
}

/* Did the reader consume bits that were not there? */
static int br_over(const bitrd *r) { return r->over > r->n; }

/* ---- Huffman tables ------------------------------------------------------ */

/* One stream of symbols: where its bytes are and how they are coded. */
typedef struct stream {
    unsigned coding, width;    /* a shared table's stream: coding 1..4 as its lanes
                                  and the table's list form say */
    const uint8_t *data, *end; /* data: after the Huffman table */
    const uint8_t *list, *lend; /* Huffman: the symbol list, after the counts, and
                                   the end of the bytes it lies in */
    uint32_t owner;            /* coding 5, 6: the entry whose table it is */
    unsigned shared;
    unsigned maxlen;           /* Huffman: longest code; 0 = one symbol */
    uint32_t single;           /* the symbol when maxlen = 0 */
    uint32_t nlong;            /* symbols whose codes are longer than the fast table's bits */
    uint32_t count[NNZ_HUFF_MAX_LEN + 1];
} stream;

/* The next symbol of a Huffman table's list: `width` bits (codings 1, 3),
 * or the previous symbol of this length plus an Elias-gamma gap (codings 2,
 * 4; *prev is -1 at the start of each length). 2^16 or more when malformed. */
static uint32_t list_next(bitrd *r, const stream *s, uint32_t *prev)
{
    unsigned z = 0;
    if (s->coding & 1) /* codings 1 and 3 */
        return br_get(r, s->width);
    if (r->n < 17 || !NNZ_FAST)
        br_fill(r);
#if BB == 64 && defined(__GNUC__) /* the zeros counted at once */
    if (r->buf >> (BB - 17) && r->n >= 33) {
        z = (unsigned)__builtin_clzll(r->buf);
        uint32_t g = (uint32_t)(r->buf >> (BB - 2 * z - 1));
        r->buf <<= 2 * z + 1;
        r->n -= 2 * z + 1;
        return *prev += g;
    }
#endif
    while (!(r->buf >> (BB - 1))) { /* gaps are at most 2^16: at most 16 zeros */
        if (++z > 16)
            return 1u << 16;
        r->buf <<= 1;
        r->n--;
    }
    return *prev += br_get(r, z + 1);
}

/* Bits of a Huffman stream's first-level table: NNZ_HUFF_FAST_BITS for a
 * four-lane stream in the fast build (huff4 shifts by a constant), else no
 * more than the longest code needs (less table to fill). */
static unsigned fast_bits(const stream *s)
{
    return s->maxlen < NNZ_HUFF_FAST_BITS && (!NNZ_FAST || s->coding < NNZ_CODING_HUFFMAN_X4)
               ? s->maxlen
               : NNZ_HUFF_FAST_BITS;
}

/* A stream being read: the bit reader of each lane, and its tables. */
typedef struct sym_rd {
    const stream *s;
    bitrd r[4];              /* one per lane: four for codings 3 and 4, else one */
    unsigned lanes, lane;    /* how many, and the lane of the next symbol */
    const uint32_t *tab;     /* 2^fb entries: symbol << 6 | code length (0: longer) */
    const uint16_t *longs;   /* the symbols of longer codes, canonical order */
    unsigned fb;
    uint32_t first[NNZ_HUFF_MAX_LEN + 1], offset[NNZ_HUFF_MAX_LEN + 1];
} sym_rd;

/* Walk a Huffman stream's symbol list: every symbol inside the alphabet,
 * and the data from the byte after the list's last bit (a stream with a
 * table of its own). With `mem`, build d's tables there (huff_scratch
 * bytes, aligned) on the way; `built`: they are there already (a shared
 * table kept from the call before), only d is set. */
static nnz_status walk_list(stream *s, sym_rd *d, uint32_t *mem, int built)
{
    unsigned fb = fast_bits(s);
    uint32_t code = 0, nl = 0, prev;
    uint16_t *longs = mem ? (uint16_t *)(void *)(mem + ((size_t)1 << fb)) : NULL;
    bitrd b = { s->list, s->lend, 0, 0, 0 };
    d->s = s;
    d->tab = mem;
    d->longs = longs;
    d->fb = fb;
    for (unsigned l = 1; l <= s->maxlen; l++) {
        d->first[l] = code;
        d->offset[l] = nl;
        prev = (uint32_t)-1;
        if (HAVE_SHARED && built) {
            code += s->count[l];
            nl += l > fb ? s->count[l] : 0;
            code <<= 1;
            continue;
        }
        for (uint32_t j = 0; j < s->count[l]; j++, code++) {
            uint32_t sym = list_next(&b, s, &prev);
            if (sym >> s->width)
                return NNZ_E_CORRUPT;
            if (!mem)
                continue;
            if (l > fb) {
                longs[nl++] = (uint16_t)sym;
                continue;
            }
            uint32_t *t = mem + ((size_t)code << (fb - l)), e = sym << 6 | l, k = 0;
            for (; NNZ_FAST && k + 4 <= (1u << (fb - l)); k += 4)
                t[k] = t[k + 1] = t[k + 2] = t[k + 3] = e;
            for (; k < (1u << (fb - l)); k++)
                t[k] = e;
        }
        if (mem && l == fb) /* the rest starts longer codes: entry 0 sends them to huff_long */
            memset(mem + code, 0, (((size_t)1 << fb) - code) * 4);
        code <<= 1;
    }
    if (s->maxlen == 0 && !(HAVE_SHARED && s->shared))
        s->single = br_get(&b, s->width);
    if (br_over(&b))
        return NNZ_E_CORRUPT;
    if (!(HAVE_SHARED && s->shared))
        s->data = b.p - (b.n - b.over) / 8;
    return NNZ_OK;
}

/* Parse a stream's Huffman table (if any) from its bytes: the code lengths,
 * and the symbol list when `lists` or in small builds; else walk_list
 * reads it (and finds where the data starts) when the stream is decoded,
 * after nnz_open checked it. */
static NOINLINE nnz_status parse_stream(stream *s, const uint8_t *p, size_t len, int lists)
{
    rd r = { p, p + len, 0 };
    if (s->coding > NNZ_CODING_HUFFMAN_GAMMA_X4 ||
        s->width - 1 >= (s->coding ? NNZ_HUFF_MAX_LEN : 32u))
        return NNZ_E_CORRUPT; /* widths 1..32 packed, 1..16 Huffman */
    if (HAVE_HUFFMAN && s->coding != NNZ_CODING_PACKED) {
        s->maxlen = rd_u8(&r);
        if (r.bad || s->maxlen > NNZ_HUFF_MAX_LEN)
            return NNZ_E_CORRUPT;
        uint32_t n = 0, kraft = 0;
        unsigned fb = fast_bits(s);
        /* Kraft sum, scaled by 2^maxlen: exactly 1 for a complete code */
        for (unsigned l = 1; l <= s->maxlen; l++) {
            uint64_t c = rd_varint(&r);
            if (c > (1u << l))
                return NNZ_E_CORRUPT; /* over-subscribed at this length alone */
            s->count[l] = (uint32_t)c;
            n += (uint32_t)c;
            kraft += (uint32_t)c << (s->maxlen - l);
            if (l > fb)
                s->nlong += (uint32_t)c;
        }
        if (r.bad || (s->maxlen && (kraft != (1u << s->maxlen) || n < 2)) || n > (1u << s->width))
            return NNZ_E_CORRUPT; /* over-subscribed, incomplete, or more codes than symbols */
        s->list = r.p;
        s->end = s->lend = r.end;
        if (lists || s->maxlen == 0 || !NNZ_FAST) {
            sym_rd d;
            return walk_list(s, &d, NULL, 0);
        }
        return NNZ_OK;
    }
    s->data = r.p;
    s->end = r.end;
    return NNZ_OK;
}

/* Scratch bytes of a stream's decoding tables: the first-level table, and
 * the symbols whose codes are longer (two bytes each, rounded to four). */
static size_t huff_scratch(const stream *s)
{
    if (!HAVE_HUFFMAN || s->coding == NNZ_CODING_PACKED || s->maxlen == 0)
        return 0;
    return ((size_t)4 << fast_bits(s)) + (((size_t)s->nlong * 2 + 3) & ~(size_t)3);
}

/* The table entry of a code longer than the table's bits, from the
 * canonical code's first code and symbol of each length. */
static uint32_t huff_long(const sym_rd *d, bitbuf buf)
{
    for (unsigned l = d->fb + 1; l <= d->s->maxlen; l++) {
        uint32_t k = (uint32_t)(buf >> (BB - l)) - d->first[l];
        if (k < d->s->count[l])
            return (uint32_t)d->longs[d->offset[l] + k] << 6 | l;
    }
    return 1; /* not reached: parse_stream refused incomplete codes */
}

/* One Huffman symbol from reader r, which holds at least maxlen bits. */
static uint32_t huff_next(const sym_rd *d, bitrd *r)
{
    uint32_t t = d->tab[r->buf >> (BB - d->fb)];
    if (!t) /* a longer code: entries are never 0 */
        t = huff_long(d, r->buf);
    r->buf <<= t & 63;
    r->n -= t & 63;
    return t >> 6;
}

/* ---- symbols of a stream: sym_get, and the speed paths ------------------- */

static uint32_t sym_get(sym_rd *d)
{
    const stream *s = d->s;
    bitrd *r = &d->r[d->lane];
    d->lane = (d->lane + 1) & (d->lanes - 1);
    if (!HAVE_HUFFMAN || s->coding == NNZ_CODING_PACKED)
        return br_get(r, s->width);
    if (s->maxlen == 0)
        return s->single;
    br_fill(r);
    return huff_next(d, r);
}

#if NNZ_FAST
/* Bytes p[0..7] as a big-endian number: one load and a byte swap, as
 * compilers see it. */
static inline uint64_t be64(const uint8_t *p)
{
    return (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 |
           (uint64_t)p[3] << 32 | (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 |
           (uint64_t)p[6] << 8 | p[7];
}

/* br_fill for a reader known to have BB / 8 bytes left. */
static inline void fast_fill(bitrd *r)
{
#if BB == 64
    bitbuf v = be64(r->p);
#else
    const uint8_t *p = r->p;
    bitbuf v = (bitbuf)p[0] << 24 | (bitbuf)p[1] << 16 | (bitbuf)p[2] << 8 | p[3];
#endif
    r->buf |= v >> r->n;
    r->p += (BB - 1 - r->n) >> 3;
    r->n |= BB - 8;
}

/* huff_next, inline, for the one-lane loop. */
static inline uint32_t fast_huff(const sym_rd *d, const uint32_t *tab, unsigned sh, bitrd *r)
{
    uint32_t t = tab[r->buf >> sh];
    if (!t) /* a longer code: entries are never 0 */
        t = huff_long(d, r->buf);
    r->buf <<= t & 63;
    r->n -= t & 63;
    return t >> 6;
}

#if BB == 64
/* The zero bits under the lowest 1 of x (x > 0). */
static inline unsigned ctz64(uint64_t x)
{
#if defined(__GNUC__)
    return (unsigned)__builtin_ctzll(x);
#else /* de Bruijn: the lowest 1 alone, times a sequence whose top 6 bits then say where */
    static const uint8_t at[64] = { 0,  1,  48, 2,  57, 49, 28, 3,  61, 58, 50, 42, 38,
                                    29, 17, 4,  62, 55, 59, 36, 53, 51, 43, 22, 45, 39,
                                    33, 30, 24, 18, 12, 5,  63, 47, 56, 27, 60, 41, 37,
                                    16, 54, 35, 52, 21, 44, 32, 23, 11, 46, 26, 40, 15,
                                    34, 20, 31, 10, 25, 14, 19, 9,  13, 8,  7,  6 };
    return at[((x & (0 - x)) * 0x03f79d71b4cb0a89u) >> 58];
#endif
}

/* Marks a function to be inlined at every call, so that each call with
 * constant arguments becomes code of its own, the constants folded in
 * (huff4_group's rounds). */
#if defined(__GNUC__)
#define ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE static inline
#endif

/* A lane as huff4 reads it: its next byte q and the bit s in it, and x,
 * the bits loaded from there. A refill is one big-endian load at q shifted
 * to s, with a 1 put in the load's last bit; codes then shift x up,
 * carrying the 1 along, so the zeros under it say where the lane got to:
 * no count kept per code. */
typedef struct lane {
    const uint8_t *q;
    unsigned s;
    uint64_t x;
} lane;

/* The lane of reader r: its next bit is n bits before p. */
ALWAYS_INLINE void lane_start(lane *l, const bitrd *r)
{
    l->q = r->p - ((r->n + 7) >> 3);
    l->s = (0u - r->n) & 7;
}

/* Back to reader r: the bits of q's byte after s in buf, the rest at p. */
ALWAYS_INLINE void lane_end(const lane *l, bitrd *r)
{
    r->p = l->q;
    r->buf = 0;
    r->n = 0;
    if (l->s) {
        r->buf = (bitbuf)*r->p++ << (56 + l->s);
        r->n = 8 - l->s;
    }
}

ALWAYS_INLINE void lane_load(lane *l) { l->x = (be64(l->q) | 1) << l->s; }

/* The zeros under the 1: how far the lane got since its load. */
ALWAYS_INLINE void lane_move(lane *l)
{
    unsigned z = ctz64(l->x);
    l->q += z >> 3;
    l->s = z & 7;
}

/* One code of a lane, as its table entry (symbol << 6 | length);
 * `longer`: codes may be longer than the table's bits. */
ALWAYS_INLINE uint32_t lane_code(const sym_rd *d, const uint32_t *tab, lane *l, int longer)
{
    uint32_t t = tab[l->x >> (64 - NNZ_HUFF_FAST_BITS)];
    if (longer && !t) /* entries are never 0 */
        t = huff_long(d, l->x);
    l->x <<= t & 63;
    return t;
}

/* A code of each lane in turn, into v[0..3]. */
ALWAYS_INLINE void huff4_round(const sym_rd *d, const uint32_t *tab, uint32_t *v, lane *a,
                               lane *b, lane *c, lane *e, int longer)
{
    v[0] = lane_code(d, tab, a, longer);
    v[1] = lane_code(d, tab, b, longer);
    v[2] = lane_code(d, tab, c, longer);
    v[3] = lane_code(d, tab, e, longer);
}

/* A refill of the four lanes and `rounds` rounds of codes, 4 * rounds
 * entries into v. rounds (1..5) and longer are constants at each call:
 * the tests on them vanish, and the four lanes' chains of dependent
 * shifts are straight code that overlaps. */
ALWAYS_INLINE void huff4_group(const sym_rd *d, const uint32_t *tab, uint32_t *v, lane *a,
                               lane *b, lane *c, lane *e, unsigned rounds, int longer)
{
    lane_load(a);
    lane_load(b);
    lane_load(c);
    lane_load(e);
    huff4_round(d, tab, v, a, b, c, e, longer);
    if (rounds > 1)
        huff4_round(d, tab, v + 4, a, b, c, e, longer);
    if (rounds > 2)
        huff4_round(d, tab, v + 8, a, b, c, e, longer);
    if (rounds > 3)
        huff4_round(d, tab, v + 12, a, b, c, e, longer);
    if (rounds > 4)
        huff4_round(d, tab, v + 16, a, b, c, e, longer);
    lane_move(a);
    lane_move(b);
    lane_move(c);
    lane_move(e);
}

/* Huffman codes from the four lanes of d together, in whole groups while
 * every lane has eight bytes to load; returns how many went to v (at most
 * m, a multiple of four), as their table entries: symbol << 6 | length.
 * A load holds 56 bits for sure: five codes of up to 11 bits (all in the
 * table: no test for longer ones), four of up to 14, or three of 15 or 16,
 * per refill. */
static size_t huff4(sym_rd *d, uint32_t *v, size_t m)
{
    const uint32_t *tab = d->tab;
    unsigned per = d->s->maxlen <= 14 ? 4 : 3, j;
    if (d->s->maxlen <= NNZ_HUFF_FAST_BITS && NNZ_HUFF_FAST_BITS <= 11)
        per = 5;
    size_t k = 0, room = (size_t)-1, groups;
    lane a, b, c, e;
    for (j = 0; j < 4; j++) {
        const bitrd *r = &d->r[j];
        if (r->end - r->p < 8)
            return 0; /* so no zero fed past the end is in buf: these bytes hold its bits */
        size_t left = (size_t)(r->end - r->p) + ((r->n + 7) >> 3); /* from the lane's byte */
        if (left < room)
            room = left;
    }
    lane_start(&a, &d->r[0]);
    lane_start(&b, &d->r[1]);
    lane_start(&c, &d->r[2]);
    lane_start(&e, &d->r[3]);
    /* a group moves a lane at most 7 bytes: the lane with the fewest
     * bytes left says how many groups are safe with no test */
    groups = (room - 8) / 7 + 1;
    if (groups > m / (4 * per))
        groups = m / (4 * per);
    if (per == 5)
        for (; groups; groups--, k += 20)
            huff4_group(d, tab, v + k, &a, &b, &c, &e, 5, 0);
    else if (per == 4)
        for (; groups; groups--, k += 16)
            huff4_group(d, tab, v + k, &a, &b, &c, &e, 4, 1);
    else
        for (; groups; groups--, k += 12)
            huff4_group(d, tab, v + k, &a, &b, &c, &e, 3, 1);
    /* the rest a round at a time, each lane's bytes tested */
    while (m - k >= 4 && d->r[0].end - a.q >= 8 && d->r[1].end - b.q >= 8 &&
           d->r[2].end - c.q >= 8 && d->r[3].end - e.q >= 8) {
        huff4_group(d, tab, v + k, &a, &b, &c, &e, 1, 1);
        k += 4;
    }
    lane_end(&a, &d->r[0]);
    lane_end(&b, &d->r[1]);
    lane_end(&c, &d->r[2]);
    lane_end(&e, &d->r[3]);
    return k;
}
#endif /* BB == 64 */
#endif /* NNZ_FAST */

/* The next m symbols into v, each shifted left by sh (0, or 6 for
 * sym_shift's streams, whose low 6 bits are then not 0). The fast paths
 * refill once and then take as many symbols as BB - 8 bits surely hold,
 * with no test between: 8-bit and other packed symbols, one-lane Huffman
 * codes, and (64-bit buffers) the four lanes in turn (huff4: the lanes'
 * chains of dependent shifts overlap); what huff4 leaves (a chunk's end,
 * a lane's last bytes) goes a round at a time through br_fill. */
static void get_syms(sym_rd *d, uint32_t *v, size_t m, unsigned sh)
{
    size_t k = 0;
#if NNZ_FAST
    const stream *s = d->s;
    unsigned j;
    if (s->coding == NNZ_CODING_PACKED && s->width == 8) { /* bytes: widened, no shifts */
        bitrd *r = &d->r[0];
        for (; k < m && r->n >= 8; k++) /* the bytes the buffer holds first */
            v[k] = (uint32_t)br_get(r, 8);
        size_t c = m - k < (size_t)(r->end - r->p) ? m - k : (size_t)(r->end - r->p);
        for (j = 0; j < c; j++)
            v[k + j] = r->p[j];
        r->p += c;
        k += c;
    } else if (s->coding == NNZ_CODING_PACKED && s->width <= BB - 8) {
        unsigned w = s->width, per = (BB - 8) / w, n;
        bitrd a = d->r[0];
        while (m > k && a.end - a.p >= BB / 8) {
            fast_fill(&a);
            n = m - k < per ? (unsigned)(m - k) : per;
            for (j = 0; j < n; j++, k++) {
                v[k] = (uint32_t)(a.buf >> (BB - w));
                a.buf <<= w;
                a.n -= w;
            }
        }
        d->r[0] = a;
    } else if (HAVE_HUFFMAN && d->lanes == 1 && s->maxlen) {
        const uint32_t *tab = d->tab;
        unsigned per = (BB - 8) / s->maxlen, top = BB - d->fb, n;
        bitrd a = d->r[0];
        while (m > k && a.end - a.p >= BB / 8) {
            fast_fill(&a);
            n = m - k < per ? (unsigned)(m - k) : per;
            for (j = 0; j < n; j++)
                v[k++] = fast_huff(d, tab, top, &a);
        }
        d->r[0] = a;
#if BB == 64
    } else if (HAVE_HUFFMAN && d->lanes == 4 && s->maxlen) {
        while (k < m && d->lane != 0) /* to lane 0 first (a sparse stream's chunks) */
            v[k++] = sym_get(d) << sh;
        size_t k0 = k;
        k += huff4(d, v + k, m - k);
        if (!sh) /* the entries to symbols, four at a time (SIMD) */
            for (j = 0; k0 + j < k; j += 4) {
                v[k0 + j] >>= 6;
                v[k0 + j + 1] >>= 6;
                v[k0 + j + 2] >>= 6;
                v[k0 + j + 3] >>= 6;
            }
        while (m - k >= 4) { /* past huff4's rounds: a refill a round, byte-wise near the end */
            for (j = 0; j < 4; j++)
                br_fill(&d->r[j]);
            for (j = 0; j < 4; j++)
                v[k++] = huff_next(d, &d->r[j]) << sh;
        }
#endif
    }
#endif
    for (; k < m; k++)
        v[k] = sym_get(d) << sh;
}

/* The shift get_syms may leave on d's symbols: 6 where the four lanes'
 * loop writes table entries (whose consumers shift them in their own SIMD
 * loops, a shift per symbol less in the loop that bounds the speed). */
static unsigned sym_shift(const sym_rd *d)
{
    return NNZ_FAST && BB == 64 && d->s->coding >= NNZ_CODING_HUFFMAN_X4 && d->s->maxlen ? 6 : 0;
}

/* ---- coded encodings: parameters ----------------------------------------- */

/* A dense, sparse or hashed tensor's parameters, parsed and checked. */
typedef struct coded {
    unsigned enc, kind, block_log2, nstreams; /* kind: NNZ_VAL_*, affine-log as affine */
    unsigned need;                     /* NNZ_FEAT_* */
    unsigned log_scales;               /* scales are log-grid codes (value map 6) */
    nnz_value_map vm;                  /* the value map as nnz_value_map_get gives it */
    uint64_t nnz, escape;              /* sparse */
    uint64_t k;                        /* hashed */
    uint32_t seed;
    unsigned sign;
    size_t nblocks;                    /* (its index is in the payload: fits) */
    uint64_t block_elems;
    const uint8_t *index;              /* block index */
    unsigned index_stride;             /* u32 per index entry */
    stream st[2];                      /* sparse: positions, values */
    int keep;                          /* NNZ_OUT_KEEP: scratch is the last call's */
} coded;

/* The layout of c: false where the build leaves the encoding out
 * (parse_coded refused such tensors), so the code under it is dropped. */
static int is_sparse(const coded *c) { return HAVE_SPARSE && c->enc == NNZ_ENC_SPARSE; }
static int is_hashed(const coded *c) { return HAVE_HASHED && c->enc == NNZ_ENC_HASHED; }

/* Where block b starts, by entry k of the block index: 0 for the first
 * block, `last` for the end of the last. */
static size_t index_at(const coded *c, size_t b, unsigned k, size_t last)
{
    if (b == 0)
        return 0;
    if (b >= c->nblocks)
        return last;
    return le32(c->index + ((size_t)(b - 1) * c->index_stride + k) * 4);
}

/* Value map 6's scale codes: a byte each (version 3), or, since version 4,
 * u8 base, u8 bits, then nchan codes of `bits` bits each, packed most
 * significant bit first, padded to a byte: a tensor's codes span a few
 * binades, 5 to 7 bits, not 8. Version 4 keeps codes below 256 (bits 0..8);
 * version 5 takes up to 12 bits, as long as every code's scale stays
 * below 2^(NNZ_LOG_SCALE_TOP + 1) (exp + code / 16 <= NNZ_LOG_SCALE_TOP). */
static nnz_status log_scale_codes(rd *r, int version, coded *c)
{
    c->vm.scale_bits = 8;
    c->vm.scale_base = 0;
    if (version >= 4) {
        c->vm.scale_base = rd_u8(r);
        c->vm.scale_bits = rd_u8(r);
        uint32_t top = c->vm.scale_base + (1u << (c->vm.scale_bits & 15)) - 1;
        /* (version 4: a top of 255 at most leaves bits of 8 at most) */
        if (r->bad || c->vm.scale_bits > 12 ||
            (version < 5 ? top > 255 : c->vm.scale_exp + (int)(top >> 4) > NNZ_LOG_SCALE_TOP))
            return NNZ_E_CORRUPT;
    }
    /* nchan <= 2^32 (checked), so the product fits */
    c->vm.scales = rd_bytes(r, (c->vm.nchan * c->vm.scale_bits + 7) / 8);
    return r->bad ? NNZ_E_CORRUPT : NNZ_OK;
}

static nnz_status read_entry(const nnz_blob *b, uint32_t index, nnz_tensor_info *info,
                             rd *params);

/* A shared table built for stream 0 (the only one the reference writer
 * shares) follows a tag in scratch: a magic word, the owner's index and
 * the stream as parsed (its `list` points into the blob: which table;
 * its coding: which lanes, so which first-level bits), for the next call
 * with NNZ_OUT_KEEP, which then neither reads the owner's entry nor builds
 * the table. The magic word has its top bit set, which no first word of
 * a table (a code entry, below 2^22) has. */
#define TAG_WORDS (2u + (unsigned)(sizeof(stream) + 3) / 4)
#define TAG_MAGIC 0x8E5A7AB1u

/* The stream a tag at `at` holds, when it is one of table `owner`. */
static NOINLINE int tag_get(const uint32_t *at, uint32_t owner, stream *k)
{
    memcpy(k, at + 2, sizeof *k);
    return at[0] == TAG_MAGIC && at[1] == owner;
}

/* A stream coded with another entry's Huffman table (codings 5, 6, a
 * dense tensor's, version 6): the table at the start of the payload of
 * entry `owner`, a dense entry of version 5 and one block (its stream's
 * descriptor the last byte of its parameters) whose stream has a table of
 * its own (coding 1 to 4: no chains, no cycles) over symbols of the same
 * width; or, under NNZ_OUT_KEEP, that stream as the call before left it in
 * scratch (`kept`). The stream then reads as coding 1 to 4 would, its
 * lanes its own, its table the owner's. */
static NOINLINE nnz_status shared_table(const nnz_blob *b, stream *s, const uint8_t *p,
                                        uint64_t len, int lists, const uint32_t *kept)
{
    nnz_tensor_info oi;
    rd op;
    unsigned x4 = s->coding == NNZ_CODING_SHARED_X4, width = s->width;
    uint32_t owner = s->owner;
    stream k;
    if (kept && tag_get(kept, owner, &k) && (uintptr_t)k.list - (uintptr_t)b->data < b->size) {
        *s = k; /* (the list inside this blob: a tag of this blob's) */
    } else {
        nnz_status st = read_entry(b, owner, &oi, &op);
        if (st != NNZ_OK || oi.encoding != NNZ_ENC_DENSE || oi.encoding_version != 5 ||
            oi.nblocks != 1 || op.p == op.end || (op.end[-1] & 7) - 1u > 3u)
            return NNZ_E_CORRUPT; /* no table of its own there */
        s->coding = op.end[-1] & 7u;
        s->width = (op.end[-1] >> 3) + 1u;
        st = parse_stream(s, b->data + oi.payload_offset, oi.payload_size, lists);
        if (st != NNZ_OK)
            return st;
    }
    if (s->width != width)
        return NNZ_E_CORRUPT; /* a table over another alphabet */
    s->coding = (x4 ? 3u : 1u) + (~s->coding & 1); /* codings 2 and 4: gamma lists */
    s->shared = 1;
    s->owner = owner;
    s->data = p;
    s->end = p + (size_t)len;
    s->nlong = 0; /* as fast_bits is for these lanes */
    for (unsigned l = fast_bits(s) + 1; l <= s->maxlen; l++)
        s->nlong += s->count[l];
    return NNZ_OK;
}

/* Parse and check a coded encoding's parameters into c (zeroed); `lists`:
 * parse_stream's; `kept`: the caller's scratch under NNZ_OUT_KEEP (where a
 * shared table's tag would be), or NULL. */
static nnz_status parse_coded(const nnz_blob *b, const nnz_tensor_info *info, rd *r, coded *c,
                              int lists, const uint32_t *kept)
{
    /* format 2's writer writes version 5 only: a build without format 1
     * (NNZ_NO_FORMAT1) reads no other layout */
    int v5 = !HAVE_FORMAT1 || info->encoding_version >= NNZ_ENC_VERSION_COMPACT;
    if (!HAVE_FORMAT1 && info->encoding_version >= 1 &&
        info->encoding_version < NNZ_ENC_VERSION_COMPACT)
        return NNZ_E_UNSUPPORTED;
    c->enc = (unsigned)info->encoding;
    c->kind = rd_u8(r);
    if (v5) { /* version 5: one byte for both */
        c->block_log2 = c->kind >> 3;
        c->kind &= 7;
    } else {
        c->block_log2 = rd_u8(r);
    }
    if (info->encoding_version > NNZ_ENC_VERSION_SHARED)
        return NNZ_E_ENCODING; /* a later version: this tensor alone will not decode */
    if (r->bad || info->encoding_version < 1 || c->kind > NNZ_VAL_AFFINE_LOG ||
        c->block_log2 > 31 || (is_hashed(c) && c->block_log2 != 0) ||
        (c->kind == NNZ_VAL_AFFINE_LOG && info->encoding_version < 3))
        return NNZ_E_CORRUPT; /* log-grid scales came with version 3 */
    if (c->kind == NNZ_VAL_AFFINE_LOG) { /* decodes as affine; only the scales differ */
        c->kind = NNZ_VAL_AFFINE;
        c->log_scales = 1;
    }
    if (!(dtype_bits(info->dtype) & (c->kind == NNZ_VAL_INT ? DT_I : DT_FK)))
        return NNZ_E_CORRUPT;
    /* what the encoding and value map need; a build without it checks no
     * more (the tensor never decodes there), so that code is left out */
    static const uint8_t enc_need[4] = { 0, 0, NNZ_FEAT_SPARSE, NNZ_FEAT_HASHED };
    c->need = enc_need[c->enc] | (c->kind == NNZ_VAL_CODEBOOK ? NNZ_FEAT_CODEBOOK : 0);
    if (c->need & ~(unsigned)NNZ_FEATURES_BUILT)
        return NNZ_E_UNSUPPORTED; /* this tensor alone will not decode here */
    switch (c->kind) {
    case NNZ_VAL_AFFINE:
        c->vm.nchan = rd_varint(r);
        c->vm.inner = rd_varint(r);
        /* nchan in 1..2^32: nchan - 1 fits 32 bits */
        if (r->bad || (c->vm.nchan - 1) >> 32 || c->vm.inner == 0 ||
            (is_hashed(c) && c->vm.nchan != 1))
            return NNZ_E_CORRUPT;
        if (c->log_scales) {
            /* exp_byte - 127 in NNZ_LOG_SCALE_EXP_MIN..MAX: 1..238 (version 5:
             * up to NNZ_LOG_SCALE_TOP, as its codes' tops are checked) */
            uint32_t eb = rd_u8(r);
            if (eb - 1u > (uint32_t)((v5 ? NNZ_LOG_SCALE_TOP : NNZ_LOG_SCALE_EXP_MAX) -
                                     NNZ_LOG_SCALE_EXP_MIN))
                return NNZ_E_CORRUPT;
            c->vm.scale_exp = (int)eb - 127;
        }
        if (c->log_scales) {
            nnz_status ls = log_scale_codes(r, info->encoding_version, c);
            if (ls != NNZ_OK)
                return ls;
        } else {
            c->vm.scales = rd_bytes(r, c->vm.nchan * 4);
        }
        /* zero points: version 5, varint zp + 1 for every channel, or 0
         * and a u32 each; before, u8 1 and a u32 for every channel, or 0
         * and a u32 each */
        uint64_t z = v5 ? rd_varint(r) : rd_u8(r);
        if (z) { /* one for every channel: z - 1 (version 5), or the u32 after */
            if (z > (uint64_t)UINT32_MAX + 1)
                return NNZ_E_CORRUPT;
            c->vm.zero_point = v5 ? (uint32_t)(z - 1) : rd_u32(r);
        } else {
            c->vm.zero_point_stride = 4;
            c->vm.zero_points = rd_bytes(r, c->vm.nchan * 4);
        }
        break;
    case NNZ_VAL_CODEBOOK:
        if (!HAVE_CODEBOOK)
            break; /* not reached: refused above */
        c->vm.ncodebook = rd_varint(r);
        if (r->bad || c->vm.ncodebook == 0 || c->vm.ncodebook > 65536)
            return NNZ_E_CORRUPT;
        c->vm.codebook = rd_bytes(r, c->vm.ncodebook * 4);
        break;
    case NNZ_VAL_INT:
        c->vm.int_offset = rd_varint(r);
        break;
    default:
        break;
    }
    uint64_t nsym = info->count; /* symbols in the values stream */
    c->nstreams = 1;
    if (is_sparse(c)) {
        c->nnz = rd_varint(r);
        c->escape = rd_varint(r);
        if (c->nnz > info->count || c->escape == 0)
            return NNZ_E_CORRUPT;
        c->nstreams = 2;
        nsym = c->nnz;
    } else if (is_hashed(c)) {
        c->k = rd_varint(r);
        c->seed = rd_u32(r);
        c->sign = rd_u8(r);
        /* K in 1..2^32 (K - 1 fits 32 bits) and no more than the elements */
        if (r->bad || (c->k - 1) >> 32 || c->k > info->count || c->sign > 1)
            return NNZ_E_CORRUPT;
        nsym = c->k;
    }
    size_t lens[2] = { 0, 0 }; /* inside the payload, once checked */
    for (unsigned s = 0; s < c->nstreams; s++) {
        /* version 5: coding and width - 1 in one byte; the last stream's
         * length is what the payload has left */
        uint32_t cw = rd_u8(r);
        if (v5) {
            c->st[s].coding = cw & 7;
            c->st[s].width = (cw >> 3) + 1;
        } else {
            c->st[s].coding = cw;
            c->st[s].width = rd_u8(r);
        }
        if (c->st[s].coding - NNZ_CODING_SHARED <= 1u) { /* then the owner's index */
            c->st[s].owner = (uint32_t)rd_varint(r);
            c->st[s].shared = 1;
            if (info->encoding_version < NNZ_ENC_VERSION_SHARED || c->enc != NNZ_ENC_DENSE)
                return NNZ_E_CORRUPT; /* version 6's, a dense tensor's */
        }
        if (!v5 || s + 1 < c->nstreams)
            lens[s] = rd_size(r);
        if (c->st[s].coding > NNZ_CODING_HUFFMAN && info->encoding_version < 2)
            return NNZ_E_CORRUPT; /* codings 2 to 4 came with version 2 */
    }
    if (r->bad || r->p != r->end)
        return NNZ_E_CORRUPT;
    for (unsigned s = 0; s < c->nstreams; s++) {
        if (c->st[s].coding - 1u < NNZ_CODING_SHARED_X4) /* codings 1..6 are Huffman */
            c->need |= NNZ_FEAT_HUFFMAN;
        if (c->st[s].shared)
            c->need |= NNZ_FEAT_SHARED;
    }
    if (c->need & ~(unsigned)NNZ_FEATURES_BUILT)
        return NNZ_E_UNSUPPORTED;
    /* widths the value map needs */
    unsigned vw = c->st[c->nstreams - 1].width;
    c->vm.kind = (int)(c->log_scales ? NNZ_VAL_AFFINE_LOG : c->kind);
    c->vm.width = vw;
    if ((c->kind == NNZ_VAL_F32 && vw != 32) ||
        ((c->kind == NNZ_VAL_F16 || c->kind == NNZ_VAL_BF16) && vw != 16))
        return NNZ_E_CORRUPT;

    /* blocks and the payload's parts */
    c->block_elems = info->block_elems; /* read_entry's, from this block_log2 */
    c->index_stride = c->nstreams + (is_sparse(c) ? 1u : 0u);
    /* nblocks - 1 index entries in the payload (whose size fits a size_t) */
    if (info->nblocks - 1 > (size_t)info->payload_size / (4u * c->index_stride))
        return NNZ_E_CORRUPT;
    c->nblocks = (size_t)info->nblocks;
    size_t index_len = (c->nblocks - 1) * 4u * c->index_stride;
    rd p = { b->data + info->payload_offset,
             b->data + info->payload_offset + (size_t)info->payload_size, 0 };
    c->index = rd_bytes(&p, index_len);
    for (unsigned s = 0; s < c->nstreams; s++) {
        if (v5 && s + 1 == c->nstreams)
            lens[s] = (size_t)(p.end - p.p);
        const uint8_t *at = rd_bytes(&p, lens[s]);
        if (p.bad)
            return NNZ_E_CORRUPT;
        nnz_status st = HAVE_SHARED && c->st[s].shared
                            ? shared_table(b, &c->st[s], at, lens[s], lists, kept)
                            : parse_stream(&c->st[s], at, lens[s], lists);
        if (st != NNZ_OK)
            return st;
    }
    if (p.bad || p.p != p.end)
        return NNZ_E_CORRUPT;
    /* the block index is checked block by block where it is used */
    /* a hashed packed stream is read in place: all K symbols must be there */
    if (is_hashed(c) && c->st[0].coding == NNZ_CODING_PACKED &&
        ((uint64_t)(c->st[0].end - c->st[0].data) << 3) < nsym * c->st[0].width)
        return NNZ_E_CORRUPT; /* (bytes << 3: the stream lies in the blob, far below 2^61) */
    return NNZ_OK;
}

/* Point d at block blk of stream s (codings 3, 4: the block's four lanes,
 * the first three after their varint lengths). */
static nnz_status sym_block(const coded *c, unsigned s, size_t blk, sym_rd *d)
{
    const uint8_t *p = c->st[s].data, *to = c->st[s].end;
    if (!is_hashed(c)) { /* hashed: one block */
        size_t len = (size_t)(to - p), lo = index_at(c, blk, s, len),
               hi = index_at(c, blk + 1, s, len);
        if (lo > hi || hi > len)
            return NNZ_E_CORRUPT;
        to = p + hi;
        p += lo;
    }
    rd h = { p, to, 0 };
    d->lane = 0;
    d->lanes = c->st[s].coding >= NNZ_CODING_HUFFMAN_X4 ? 4 : 1;
    for (unsigned q = 0; q < d->lanes; q++) {
        bitrd *r = &d->r[q];
        size_t len = q + 1 < d->lanes ? rd_size(&h) : (size_t)(h.end - h.p);
        r->p = rd_bytes(&h, len);
        r->end = h.p;
        r->buf = 0;
        r->n = r->over = 0;
    }
    return h.bad ? NNZ_E_CORRUPT : NNZ_OK;
}

/* Did any lane of d read past its end? */
static int sym_over(const sym_rd *d)
{
    for (unsigned q = 0; q < d->lanes; q++)
        if (br_over(&d->r[q]))
            return 1;
    return 0;
}

/* ---- value maps: symbols to output elements ------------------------------ */

/* Output types once NNZ_OUT_NATIVE is resolved. */
enum {
    OT_F32 = NNZ_OUT_F32, OT_F16 = NNZ_OUT_F16, OT_I8 = NNZ_OUT_I8, OT_I4 = NNZ_OUT_I4,
    OT_BF16 = 5, OT_INT = 6
};

/* The value map while decoding, with the channel it last looked up. */
typedef struct vmap {
    const coded *c;
    unsigned kind;         /* NNZ_VAL_*: c->kind, or a raw float tensor's */
    int ot;                /* OT_* */
    unsigned es;           /* output bytes per element */
    size_t inner, nchan;   /* affine: c's, at most SIZE_MAX (elements are fewer) */
    size_t lo, hi;         /* affine: elements [lo, hi) are in the cached channel */
    size_t q, ch;          /* affine: lo / inner, and the channel it is */
    float scale;
    int64_t zp;
    int bad;               /* a codebook symbol past the codebook */
    int f32;               /* affine symbols under 32 bits to float32 (NNZ_FAST) */
    int copy;              /* raw: the bytes as stored (output in the tensor's own type) */
} vmap;

/* Output element size for a tensor of `dtype` decoded as `out_type` (1 for
 * int4, which out_span halves). */
static unsigned out_elem_size(int dtype, int out_type)
{
    if (out_type == NNZ_OUT_NATIVE)
        return dtype_size(dtype);
    if (out_type == NNZ_OUT_I8 || out_type == NNZ_OUT_I4)
        return 1;
    if ((out_type != NNZ_OUT_F32 && out_type != NNZ_OUT_F16) || !is_float_type(dtype))
        return 0;
    return out_type == NNZ_OUT_F32 ? 4 : 2;
}

/* Bytes of n output elements of es bytes; int4 packs two to a byte. */
static NOINLINE size_t out_span(int out_type, unsigned es, size_t n)
{
    return out_type == NNZ_OUT_I4 ? n / 2 + (n & 1) : n * es;
}

/* Channel ch's scale (ch < nchan, inside the blob: parse_coded checked). */
static float chan_scale(const coded *c, size_t ch)
{
    if (c->log_scales)
        return nnz_log_scale(c->vm.scale_base + packed_code(c->vm.scales, c->vm.scale_bits, ch),
                             c->vm.scale_exp);
    return bits_f32(le32(c->vm.scales + ch * 4));
}

/* Store one element at o: symbol v mapped, negated for a hashed sign. */
static void put_one(vmap *m, uint8_t *o, uint32_t v, int neg)
{
    const coded *c = m->c;
    float f;
    if (m->ot == OT_I8) { /* fits_int checked it fits, but -(-128) saturates */
        int64_t q = (int64_t)v - m->zp;
        int8_t t = (int8_t)(neg ? (q == -128 ? 127 : -q) : q);
        memcpy(o, &t, 1);
        return;
    }
    if (m->ot == OT_INT) { /* v - offset, two's complement, truncated */
        uint32_t x = v - (uint32_t)c->vm.int_offset;
        uint16_t t16 = (uint16_t)x;
        uint8_t t8 = (uint8_t)x;
        memcpy(o, m->es == 1 ? (void *)&t8 : m->es == 2 ? (void *)&t16 : (void *)&x, m->es);
        return;
    }
    switch (m->kind) {
    case NNZ_VAL_F32: f = bits_f32(v); break;
    case NNZ_VAL_F16: f = nnz_half_to_float((uint16_t)v); break;
    case NNZ_VAL_BF16: f = nnz_bf16_to_float((uint16_t)v); break;
    case NNZ_VAL_AFFINE: f = m->scale * (float)((int64_t)v - m->zp); break;
    default: /* codebook */
        if (!HAVE_CODEBOOK || v >= c->vm.ncodebook) { /* never without: parse_coded refused it */
            m->bad = 1;
            v = 0;
        }
        f = bits_f32(le32(c->vm.codebook + (size_t)v * 4));
    }
    if (neg)
        f = -f;
    if (m->ot == OT_F32) {
        memcpy(o, &f, 4);
    } else {
        uint16_t h = m->ot == OT_F16 ? nnz_float_to_half(f) : nnz_float_to_bf16(f);
        memcpy(o, &h, 2);
    }
}

#if NNZ_FAST
/* Affine symbols to float32 and to int8 (fits_int: they fit), in loops that
 * compilers turn into SIMD at -O2: GCC only loops of a known count (so
 * blocks, through a small array for int8), clang any loop, and the blocks
 * make clang's code 20% slower. */
#if defined(__clang__)
#define VEC_F32 1
#define VEC_I8 1
#else
#define VEC_F32 8
#define VEC_I8 16
#endif
static void put_f32(uint8_t *restrict o, const uint32_t *restrict v, size_t n, float scale,
                    int32_t zp, unsigned sh)
{
    size_t k = 0;
    for (; k + VEC_F32 <= n; k += VEC_F32)
        for (unsigned j = 0; j < VEC_F32; j++) {
            float f = scale * (float)((int32_t)(v[k + j] >> sh) - zp);
            memcpy(o + 4 * (k + j), &f, 4);
        }
    for (; k < n; k++) {
        float f = scale * (float)((int32_t)(v[k] >> sh) - zp);
        memcpy(o + 4 * k, &f, 4);
    }
}

static void put_i8(uint8_t *restrict o, const uint32_t *restrict v, size_t n, uint32_t zp,
                   unsigned sh)
{
    size_t k = 0;
    uint8_t t[VEC_I8];
    for (; k + VEC_I8 <= n; k += VEC_I8) {
        for (unsigned j = 0; j < VEC_I8; j++)
            t[j] = (uint8_t)((v[k + j] >> sh) - zp);
        memcpy(o + k, t, VEC_I8);
    }
    for (; k < n; k++)
        o[k] = (uint8_t)((v[k] >> sh) - zp);
}
#endif

/* NNZ_OUT_I4: q = symbol - zero point (fits_int: -8..7; a hashed sign's
 * -(-8) saturates to 7) as element `at` of out: the low nibble of byte
 * at / 2 when at is even, else its high nibble. Elements come in order (a
 * sparse tensor's zeros are set first), so an even one sets its whole byte
 * and an odd count leaves the last high nibble 0. */
static void put_i4(uint8_t *out, size_t at, const uint32_t *v, size_t n, int32_t zp, int neg,
                   unsigned sh)
{
    for (size_t k = 0; k < n; k++, at++) { /* fits_int: symbols and zero point are small */
        int32_t q = (int32_t)(v[k] >> sh) - zp;
        if (neg)
            q = q == -8 ? 7 : -q;
        uint8_t x = (uint8_t)(q & 15);
        if (at & 1)
            out[at >> 1] = (uint8_t)((out[at >> 1] & 15) | x << 4);
        else
            out[at >> 1] = x;
    }
}

/* Store symbols v[0..n) as elements i, i + 1, ... at out + at * es. Runs of
 * one affine channel get its scale and zero point once; affine to float32
 * has its own loop. */
static void put_syms(vmap *m, void *out, size_t at, const uint32_t *v, size_t n, size_t i,
                     int neg, unsigned sh)
{
    const coded *c = m->c;
    while (n) {
        uint8_t *o = (uint8_t *)out + (m->ot == OT_I4 ? 0 : at * m->es);
        size_t run = n, k;
        if (m->kind == NNZ_VAL_AFFINE) {
            if (i < m->lo || i >= m->hi) {
                size_t q, ch; /* the next channel mostly: no division */
                if (NNZ_FAST && i == m->hi && m->hi) {
                    q = m->q + 1;
                    ch = m->ch + 1 == m->nchan ? 0 : m->ch + 1;
                } else {
                    q = i / m->inner;
                    ch = q % m->nchan;
                }
                m->q = q;
                m->ch = ch;
                m->lo = q * m->inner;
                m->hi = m->inner > SIZE_MAX - m->lo ? SIZE_MAX : m->lo + m->inner;
                m->scale = chan_scale(c, ch);
                m->zp = (int64_t)(c->vm.zero_points ? le32(c->vm.zero_points + ch * 4) : c->vm.zero_point);
            }
            if (m->hi - i < run)
                run = m->hi - i;
        }
        if (m->ot == OT_I4) {
            put_i4((uint8_t *)out, at, v, run, (int32_t)m->zp, neg, sh);
        } else
#if NNZ_FAST
        if (m->f32 && !neg && m->zp <= INT32_MAX) { /* v - zp is exact in int32 */
            put_f32(o, v, run, m->scale, (int32_t)m->zp, sh);
        } else if (m->ot == OT_I8 && !neg) {
            put_i8(o, v, run, (uint32_t)m->zp, sh);
        } else
#endif
            for (k = 0; k < run; k++)
                put_one(m, o + k * m->es, v[k] >> sh, neg);
        v += run;
        n -= run;
        i += run;
        at += run;
    }
}

/* ---- decoding the encodings ---------------------------------------------- */

static uint32_t *align4(void *p)
{
    uintptr_t a = (uintptr_t)p;
    return (uint32_t *)(void *)((a + 3) & ~(uintptr_t)3);
}

#ifndef NNZ_NO_HASHED
static uint32_t rotl32(uint32_t x, unsigned r) { return x << r | x >> (32 - r); }

uint32_t nnz_hash_index(uint64_t index, uint32_t seed)
{
    const uint32_t p2 = 2246822519u, p3 = 3266489917u, p4 = 668265263u, p5 = 374761393u;
    uint32_t h = seed + p5 + 8u;
    h = rotl32(h + (uint32_t)index * p3, 17) * p4;
    h = rotl32(h + (uint32_t)(index >> 32) * p3, 17) * p4;
    h ^= h >> 15;
    h *= p2;
    h ^= h >> 13;
    h *= p3;
    h ^= h >> 16;
    return h;
}

uint64_t nnz_hash_bucket(uint64_t index, uint32_t seed, uint64_t k)
{
    return ((uint64_t)nnz_hash_index(index, seed) * k) >> 32;
}

int nnz_hash_sign(uint64_t index, uint32_t seed)
{
    return (nnz_hash_index(index, seed + 0x9E3779B9u) >> 31) ? -1 : 1;
}
#endif

static void swap_elems(uint8_t *o, size_t n, unsigned es)
{
    for (size_t i = 0; i < n; i++)
        for (unsigned k = 0; k < es / 2; k++) {
            uint8_t t = o[i * es + k];
            o[i * es + k] = o[i * es + es - 1 - k];
            o[i * es + es - 1 - k] = t;
        }
}

/* Raw tensors: elements [first, first + n), converted by put_one when the
 * output type differs (prepare set m up). */
static void decode_raw(const nnz_blob *b, const nnz_tensor_info *info, vmap *m, size_t first,
                       size_t n, void *out)
{
    unsigned es = dtype_size(info->dtype);
    const uint8_t *src = b->data + (size_t)info->payload_offset + first * es;
    if (m->copy) { /* to its own type */
        memcpy(out, src, n * es);
        if (!host_is_little_endian() && es > 1)
            swap_elems((uint8_t *)out, n, es);
        return;
    }
    for (size_t i = 0; i < n; i++)
        put_one(m, (uint8_t *)out + i * m->es, es == 4 ? le32(src + 4 * i) : le16(src + 2 * i), 0);
}

/* Dense: the next n symbols of d as elements first.. of the tensor, into
 * out (element `first` at 0), through v (CHUNK). Resumable: d keeps its
 * place. */
static void dense_run(sym_rd *d, vmap *m, void *out, size_t first, size_t n, uint32_t *v)
{
    unsigned sh = sym_shift(d);
    for (size_t k = 0, j; k < n; k += j) {
        j = n - k < CHUNK ? n - k : CHUNK;
        get_syms(d, v, j, sh);
        put_syms(m, out, k, v, j, first + k, 0, sh);
    }
}

/* Hashed: elements [first, first + n) into out, any range at all (each
 * element is its bucket's value); `buckets`: the K symbols of a Huffman
 * stream, else each is read in place from the packed stream. */
#ifndef NNZ_NO_HASHED
static void hashed_run(const coded *c, vmap *m, const uint32_t *buckets, size_t first, size_t n,
                       void *out)
{
    for (size_t k = 0; k < n; k++) {
        size_t i = first + k;
        uint64_t bk = nnz_hash_bucket(i, c->seed, c->k);
        uint32_t x;
        if (buckets) {
            x = buckets[bk];
        } else { /* a packed bucket symbol, read in place */
            uint64_t bit = bk * c->st[0].width;
            bitrd r = { c->st[0].data + (size_t)(bit >> 3), c->st[0].end, 0, 0, 0 };
            if (bit & 7)
                br_get(&r, (unsigned)(bit & 7));
            x = br_get(&r, c->st[0].width);
        }
        put_syms(m, out, k, &x, 1, i, c->sign && nnz_hash_sign(i, c->seed) < 0, 0);
    }
}
#endif

/* A sparse block being read: the element the next gap counts from, where
 * the block ends, its survivors not read yet, and one read ahead of the
 * elements being filled (have: its element `at` and symbol `sym`). */
typedef struct sparse_pos {
    size_t cur, end, left, at; /* (counts fit size_t: setup checked) */
    uint32_t sym;
    int have;
} sparse_pos;

/* Streams d of block blk (elements [first, end)) from their start, and a
 * sparse block's survivors, from the block index. */
static NOINLINE nnz_status block_start(const coded *c, sym_rd *d, size_t blk, size_t first,
                                       size_t end, sparse_pos *p)
{
    for (unsigned s = 0; s < c->nstreams; s++) {
        nnz_status st = sym_block(c, s, blk, &d[s]);
        if (st != NNZ_OK)
            return st;
    }
    if (is_sparse(c)) {
        size_t nnz = (size_t)c->nnz, /* <= count, which fits size_t (setup) */
            lo = index_at(c, blk, c->nstreams, nnz), hi = index_at(c, blk + 1, c->nstreams, nnz);
        if (lo > hi || hi > nnz)
            return NNZ_E_CORRUPT;
        p->left = hi - lo;
        p->cur = first;
        p->end = end;
        p->have = 0;
    }
    return NNZ_OK;
}

/* Sparse: the survivors among elements [pos, pos + n) of the block into
 * out (element pos at 0, its zeros set); a survivor past them is kept for
 * the next call. Nonzero when the streams are bad. */
static int sparse_run(sym_rd *d, const coded *c, vmap *m, sparse_pos *p, uint8_t *out,
                      size_t pos, size_t n)
{
    size_t hi = pos + n;
    for (;;) {
        if (!p->have) {
            if (!p->left)
                return 0;
            uint32_t g = sym_get(&d[0]);
            if (g > p->end - p->cur) /* past the block */
                return 1;
            size_t at = p->cur + g;
            if (g == c->escape) { /* moves on `escape` elements */
                p->cur = at;
                continue;
            }
            if (at == p->end) /* a survivor lies before the end */
                return 1;
            p->sym = sym_get(&d[1]);
            p->at = at;
            p->have = 1;
            p->left--;
        }
        if (p->at >= hi)
            return 0;
        put_syms(m, out, p->at - pos, &p->sym, 1, p->at, 0, 0);
        p->cur = p->at + 1;
        p->have = 0;
    }
}

#if NNZ_FAST
/* Sparse, the speed path: every survivor left in the block, the rest of
 * which is elements [pos, p->end), into out (element pos at 0, its zeros
 * set): the gaps, then their values, a chunk at a time through v
 * (CHUNK_BUF). Nonzero when the streams are bad. */
static int sparse_chunks(sym_rd *d, const coded *c, vmap *m, sparse_pos *p, uint8_t *out,
                         size_t pos, uint32_t *v)
{
    size_t cur = p->cur, end = p->end, survivors = p->left, j, k;
    uint32_t *gs = v + CHUNK;
    unsigned sh = sym_shift(&d[1]);
    int bad = 0;
    while (survivors && !bad) {
        size_t ng = survivors < CHUNK ? survivors : CHUNK, nv = 0;
        get_syms(&d[0], gs, ng, 0); /* no further than the block: each survivor has a gap */
        for (j = 0; j < ng; j++)
            nv += gs[j] != c->escape;
        get_syms(&d[1], v, nv, sh);
        for (j = 0, k = 0; j < ng && !bad; j++) {
            size_t at = cur + gs[j], run = 1;
            if (gs[j] == c->escape) {
                bad = at < cur || at > end;
                cur = at;
                continue;
            }
            while (j + run < ng && gs[j + run] == 0) /* next to each other: one call */
                run++;
            if (at < cur || at >= end || end - at < run) {
                bad = 1;
                break;
            }
            if (run == 1 && m->f32 && at >= m->lo && at < m->hi && m->zp <= INT32_MAX) {
                float f = m->scale * (float)((int32_t)(v[k] >> sh) - (int32_t)m->zp); /* put_syms' */
                memcpy(out + (at - pos) * 4, &f, 4);
            } else {
                put_syms(m, out, at - pos, &v[k], run, at, 0, sh);
            }
            k += run;
            j += run - 1;
            cur = at + run;
            survivors -= run;
        }
    }
    p->cur = cur;
    p->left = survivors;
    return bad;
}
#endif

/* ---- the blob: directory entries and their checks ------------------------ */

/* The head of a protobuf length-delimited field: its tag byte, then
 * varint(v), into h (11 bytes); returns its length. */
static unsigned field_head(uint8_t *h, unsigned tag, uint64_t v)
{
    unsigned n = 0;
    h[n++] = (uint8_t)tag;
    do {
        h[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}

/* Where the raw_data header the decoded bytes fill (tag 0x4A, then
 * varint(decoded_size)) starts, if the graph holds it right before
 * graph_offset (which is inside the graph); else NULL. */
static NOINLINE const uint8_t *raw_head(const nnz_blob *b, const nnz_tensor_info *info)
{
    uint8_t h[11];
    unsigned n = field_head(h, 0x4a, info->decoded_size);
    size_t go = (size_t)info->graph_offset; /* <= graph_size: checked by the callers */
    if (go < n)
        return NULL;
    const uint8_t *at = b->graph + go - n;
    return memcmp(at, h, n) == 0 ? at : NULL;
}

/* A tensor's name: len bytes at name (NULL: not there), none of them NUL;
 * 0 if it is not one. */
static int set_name(nnz_tensor_info *info, const uint8_t *name, size_t len)
{
    if (!name || memchr(name, 0, len))
        return 0;
    info->name_bytes = (const char *)name;
    info->name_len = len;
    return 1;
}

/* Format 1.2's names section: a u16 per entry, the length of its name
 * when the name is left in the graph only, as the TensorProto name field
 * (tag 0x42, varint length) right before the raw_data header of its bytes
 * (hole or in-graph tensor): the directory's copy is then empty. 0: the
 * directory holds the name. */
static nnz_status graph_name(const nnz_blob *b, uint32_t index, nnz_tensor_info *info)
{
    if (!b->names)
        return NNZ_OK;
    uint32_t len = le16(b->names + 2 * (size_t)index); /* the size was checked at open */
    if (len == 0)
        return NNZ_OK;
    if (info->name_len != 0 || (info->location & NNZ_LOC_EXTERNAL))
        return NNZ_E_CORRUPT;
    /* the name field (tag 0x42), then the raw_data header (0x4A), end at
     * graph_offset */
    uint8_t h[11];
    unsigned raw = field_head(h, 0x4a, info->decoded_size), fh = field_head(h, 0x42, len);
    size_t go = (size_t)info->graph_offset; /* <= graph_size: checked before */
    if (go < raw + len + fh)
        return NNZ_E_CORRUPT;
    const uint8_t *name = b->graph + go - raw - len;
    /* info->name stays the directory's empty name: "" */
    return memcmp(name - fh, h, fh) == 0 && set_name(info, name, len) ? NNZ_OK : NNZ_E_CORRUPT;
}

/* Format 2's directory comes in runs of RUN entries: the first of each has
 * a u32 offset and stands alone; each other one follows the one before and
 * takes its graph_offset (as a difference) and payload_offset from it. */
#define RUN 16u

/* What an entry of a run takes from the one before (format 2). */
typedef struct run_state {
    uint64_t graph_offset;
    size_t payload_end;
    int external;
} run_state;

/* A name (varint length, the bytes, a 0 byte: none inside), dtype and
 * shape as a directory entry holds them. */
static nnz_status entry_name_shape(rd *r, nnz_tensor_info *info)
{
    size_t name_len = rd_size(r);
    const uint8_t *name = rd_bytes(r, name_len);
    if (!set_name(info, name, name_len) || rd_u8(r) != 0 || r->bad)
        return NNZ_E_CORRUPT; /* a name is followed by NUL */
    info->name = (const char *)name;
    info->dtype = (int)rd_u8(r);
    info->ndims = (int)rd_u8(r);
    if (r->bad || info->ndims > NNZ_MAX_DIMS)
        return NNZ_E_CORRUPT;
    for (int i = 0; i < info->ndims; i++)
        info->dims[i] = rd_varint(r);
    return r->bad ? NNZ_E_CORRUPT : NNZ_OK;
}

/* Format 2, an entry described by the graph: graph[graph_offset - back,
 * graph_offset) is the TensorProto's dims (tag 0x08, a varint each),
 * data_type (0x10), name (0x42) and raw_data header (0x4A varint(size),
 * checked by the caller), and nothing else. *hdr gets where the header is. */
static nnz_status graph_name_shape(const nnz_blob *b, size_t back, nnz_tensor_info *info,
                                   const uint8_t **hdr)
{
    if ((info->location & NNZ_LOC_EXTERNAL) || !b->graph || info->graph_offset > b->graph_size)
        return NNZ_E_CORRUPT;
    size_t at = (size_t)info->graph_offset;
    if (back > at)
        return NNZ_E_CORRUPT;
    rd g = { b->graph + at - back, b->graph + at, 0 };
    while (g.p < g.end && *g.p == 0x08) {
        g.p++;
        if (info->ndims == NNZ_MAX_DIMS)
            return NNZ_E_CORRUPT;
        info->dims[info->ndims++] = rd_varint(&g);
    }
    uint32_t tag = rd_u8(&g);
    uint64_t dtype = rd_varint(&g);
    tag |= rd_u8(&g) << 8;
    size_t len = rd_size(&g);
    if (g.bad || tag != (0x10 | 0x42 << 8) || dtype > 255 || !set_name(info, rd_bytes(&g, len), len))
        return NNZ_E_CORRUPT;
    info->dtype = (int)dtype;
    info->name = "";
    *hdr = g.p; /* the raw_data header: checked once the size is known */
    return NNZ_OK;
}

/* Read the entry at r (directory index `index`) into `info`; `params` gets
 * its parameter bytes. Everything is checked against the sections it
 * points into. */
static nnz_status entry_at(const nnz_blob *b, rd *r, uint32_t index, run_state *rs,
                           nnz_tensor_info *info, rd *params)
{
    nnz_status st;
    size_t poff, plen; /* inside the payload section once checked */
    const uint8_t *hdr = NULL; /* format 2 graph-described: where the raw_data header is */
    memset(info, 0, sizeof *info);
    int v1 = HAVE_FORMAT1 && b->major == 1;
    if (v1) {
        st = entry_name_shape(r, info);
        info->location = (int)rd_u8(r);
        info->graph_offset = rd_varint(r);
        poff = rd_size(r);
    } else {
        info->location = (int)rd_u8(r);
        uint64_t go = rd_varint(r);
        int ext = (info->location & NNZ_LOC_EXTERNAL) != 0;
        if (index % RUN && !ext && !rs->external) { /* a difference from the one before */
            if (go > b->graph_size) /* the one before is inside the graph (checked) */
                return NNZ_E_CORRUPT;
            go += rs->graph_offset;
        }
        info->graph_offset = go;
        st = info->location & NNZ_LOC_GRAPH_DESCRIBED ? graph_name_shape(b, rd_size(r), info, &hdr)
                                                      : entry_name_shape(r, info);
        /* the first of a run: payload_offset / 64 (past the payload: SIZE_MAX,
         * refused below); else where the one before ends, aligned (it ends
         * inside the payload, which lies after the header: no wrap) */
        if (index % RUN) {
            poff = rs->payload_end + ((0 - rs->payload_end) & (PAYLOAD_ALIGN - 1));
        } else {
            poff = rd_size(r);
            poff = poff > b->payload_size / PAYLOAD_ALIGN ? SIZE_MAX : poff * PAYLOAD_ALIGN;
        }
        info->location &= ~NNZ_LOC_GRAPH_DESCRIBED;
        rs->graph_offset = go;
        rs->external = ext;
    }
    plen = rd_size(r);
    rs->payload_end = poff + plen; /* format 2; checked below against the payload section */
    /* encoding and its version: a byte each (format 1), or 4 bits each */
    uint32_t ev = rd_u8(r);
    info->encoding = (int)(v1 ? ev : ev & 15);
    info->encoding_version = (int)(v1 ? rd_u8(r) : ev >> 4);
    size_t params_len = rd_size(r);
    const uint8_t *pp = rd_bytes(r, params_len);
    if (st != NNZ_OK)
        return st;
    if (r->bad)
        return NNZ_E_CORRUPT;

    unsigned es = dtype_size(info->dtype);
    if (es == 0)
        return NNZ_E_CORRUPT;
    uint64_t count = 1;
    for (int i = 0; i < info->ndims; i++) {
        uint64_t d = info->dims[i];
        if (d != 0 && count > UINT64_MAX / d)
            return NNZ_E_OVERFLOW;
        count *= d;
    }
    if (count > UINT64_MAX / es)
        return NNZ_E_OVERFLOW;
    info->count = count;
    info->decoded_size = count * es;
    if (hdr && raw_head(b, info) != hdr) /* the graph's fields end with it, exactly */
        return NNZ_E_CORRUPT;

    if ((info->location & 0x3f) > NNZ_LOC_CONSTANT)
        return NNZ_E_CORRUPT;
    if ((!(info->location & NNZ_LOC_EXTERNAL) && info->graph_offset > b->graph_size) ||
        poff % PAYLOAD_ALIGN != 0 ||
        poff > b->payload_size || plen > b->payload_size - poff)
        return NNZ_E_CORRUPT;
    info->payload_offset = (size_t)(b->payload - b->data) + poff;
    info->payload_size = plen;
    st = v1 ? graph_name(b, index, info) : NNZ_OK;
    if (st != NNZ_OK)
        return st;
    if (info->encoding == NNZ_ENC_GRAPH) { /* its bytes are the graph's, where they stand */
        size_t go = (size_t)info->graph_offset; /* in the graph unless external */
        if (plen != 0 || (info->location & NNZ_LOC_EXTERNAL) || !b->graph ||
            info->decoded_size > b->graph_size - go)
            return NNZ_E_CORRUPT;
        info->payload_offset = (size_t)(b->graph - b->data) + go;
        info->payload_size = info->decoded_size;
    }
    if (info->encoding == NNZ_ENC_INLINE) { /* its bytes are its parameters */
        if (plen != 0 || params_len != info->decoded_size)
            return NNZ_E_CORRUPT;
        info->payload_offset = (uint64_t)(pp - b->data);
        info->payload_size = params_len;
    }
    /* blocks: coded encodings give their size in their params (version 5:
     * the first byte's top five bits; before, the second byte) */
    info->block_elems = count;
    info->nblocks = 1;
    unsigned bl = 0;
    if (info->encoding >= NNZ_ENC_DENSE && info->encoding <= NNZ_ENC_HASHED && params_len >= 2)
        bl = info->encoding_version >= NNZ_ENC_VERSION_COMPACT ? pp[0] >> 3 : pp[1];
    if (bl > 0 && bl < 32 && ((uint32_t)1 << bl) < count) {
        info->block_elems = (uint32_t)1 << bl;
        info->nblocks = ((count - 1) >> bl) + 1;
    }
    params->p = pp ? pp : r->p;
    params->end = params->p + params_len;
    params->bad = 0;
    return NNZ_OK;
}

/* Read directory entry `index`: format 1 has each entry's offset; format 2
 * the offset of its run's first, and the entries up to it are read too. */
static nnz_status read_entry(const nnz_blob *b, uint32_t index, nnz_tensor_info *info,
                             rd *params)
{
    if (index >= b->ntensors)
        return NNZ_E_INDEX;
    int v1 = HAVE_FORMAT1 && b->major == 1;
    uint32_t k = v1 ? index : index & ~(RUN - 1);
    uint32_t off = le32(b->dir + 4 + 4 * (size_t)(v1 ? k : k / RUN));
    if (off > b->dir_size)
        return NNZ_E_CORRUPT;
    rd r = { b->dir + off, b->dir + b->dir_size, 0 };
    run_state rs = { 0, 0, 0 };
    for (;; k++) {
        nnz_status st = entry_at(b, &r, k, &rs, info, params);
        if (st != NNZ_OK || k == index)
            return st;
    }
}

/* An alias entry (version 1) holds no payload; its parameters are the
 * varint index of an earlier entry, not itself an alias (so no chains and
 * no cycles), of the same dtype and shape, whose payload gives its values;
 * its blocks are that entry's. A build without aliases checks none of it:
 * such a tensor only ever says NNZ_E_UNSUPPORTED. */
static nnz_status check_alias(const nnz_blob *b, uint32_t index, nnz_tensor_info *info,
                              const rd *params)
{
    nnz_tensor_info t;
    rd r = *params, tp;
    if (!HAVE_ALIAS)
        return NNZ_OK;
    uint64_t k = rd_varint(&r);
    if (r.bad || r.p != r.end || k >= index || info->payload_size != 0 ||
        read_entry(b, (uint32_t)k, &t, &tp) != NNZ_OK || t.encoding == NNZ_ENC_ALIAS ||
        t.dtype != info->dtype || t.ndims != info->ndims ||
        memcmp(t.dims, info->dims, sizeof t.dims) != 0)
        return NNZ_E_CORRUPT;
    info->alias_of = (uint32_t)k;
    info->block_elems = t.block_elems;
    info->nblocks = t.nblocks;
    return NNZ_OK;
}

/* read_entry, and an alias's own checks (versions after 1 are not known:
 * decoding them fails with NNZ_E_ENCODING). */
static nnz_status parse_entry(const nnz_blob *b, uint32_t index, nnz_tensor_info *info,
                              rd *params)
{
    nnz_status st = read_entry(b, index, info, params);
    if (st == NNZ_OK && info->encoding == NNZ_ENC_ALIAS && info->encoding_version == 1)
        st = check_alias(b, index, info, params);
    return st;
}

/* The entry whose payload decodes tensor `index`: its own, or an alias's
 * target (the runtime keeps no decoded tensor: an alias is decoded again
 * from its target's payload). `need` gets NNZ_FEAT_ALIAS for an alias. */
static nnz_status decodable_entry(const nnz_blob *b, uint32_t index, nnz_tensor_info *info,
                                  rd *params, unsigned *need)
{
    nnz_status st = parse_entry(b, index, info, params);
    *need = 0;
    if (st != NNZ_OK || info->encoding != NNZ_ENC_ALIAS)
        return st;
    if (info->encoding_version != 1)
        return NNZ_E_ENCODING;
    *need = NNZ_FEAT_ALIAS;
    if (!HAVE_ALIAS)
        return NNZ_E_UNSUPPORTED;
    return read_entry(b, info->alias_of, info, params);
}

/* The graph bytes right before a hole must be the header of the raw_data
 * field the decoded bytes fill: tag 0x4A, then varint(decoded_size). This
 * ties the directory to the graph: a hole in the wrong place or of the
 * wrong size is refused. */
static nnz_status check_hole(const nnz_blob *b, const nnz_tensor_info *info)
{
    return raw_head(b, info) ? NNZ_OK : NNZ_E_CORRUPT;
}

/* Checks of an encoding's parameters that need no output buffer; a coded
 * encoding's parsed parameters go to `c`; `lists` and `kept`: parse_coded's. */
static nnz_status check_params(const nnz_blob *b, const nnz_tensor_info *info, const rd *params,
                               coded *c, int lists, const uint32_t *kept)
{
    memset(c, 0, sizeof *c);
    switch (info->encoding) {
    case NNZ_ENC_RAW:
    case NNZ_ENC_GRAPH:
    case NNZ_ENC_INLINE: /* (its parameters are its bytes: entry_at checked their length) */
        if (info->encoding_version != 1 ||
            (info->encoding != NNZ_ENC_INLINE && params->p != params->end) ||
            info->payload_size != info->decoded_size)
            return NNZ_E_CORRUPT;
        return NNZ_OK;
    case NNZ_ENC_DENSE:
    case NNZ_ENC_SPARSE:
    case NNZ_ENC_HASHED: {
        rd r = *params;
        return parse_coded(b, info, &r, c, lists, kept);
    }
    default:
        return NNZ_E_ENCODING;
    }
}

/* The entry that decodes tensor `index` and its checked parameters: what
 * every call on one tensor starts with. `need` gets NNZ_FEAT_ALIAS for an
 * alias, and c->need what its encoding needs (also when the status is
 * NNZ_E_UNSUPPORTED). */
static nnz_status tensor_at(const nnz_blob *b, uint32_t index, nnz_tensor_info *info, coded *c,
                            unsigned *need, const uint32_t *kept)
{
    rd params;
    c->need = 0;
    nnz_status st = decodable_entry(b, index, info, &params, need);
    if (st == NNZ_OK && (*need & ~(unsigned)NNZ_FEATURES_BUILT))
        st = NNZ_E_UNSUPPORTED;
    if (st == NNZ_OK)
        st = check_params(b, info, &params, c, 0, kept);
    return st;
}

static nnz_status check_encoding(const nnz_blob *b, const nnz_tensor_info *info, rd *params)
{
    coded c;
    return check_params(b, info, params, &c, 1, NULL);
}

static nnz_status open_checked(nnz_blob *b, const void *data, size_t size, unsigned flags,
                               uint32_t *at, uint32_t *index)
{
    const uint8_t *h = (const uint8_t *)data;
    if (size < sizeof MAGIC)
        return NNZ_E_TRUNCATED;
    if (memcmp(h, MAGIC, sizeof MAGIC) != 0)
        return NNZ_E_MAGIC;
    if (size < HEADER_SIZE)
        return NNZ_E_TRUNCATED;
    uint32_t major = le16(h + 8), minor = le16(h + 10);
    if (major > NNZ_FORMAT_MAJOR)
        return NNZ_E_VERSION;
    if (major == 0)
        return NNZ_E_CORRUPT;
    if (major == 1 && !HAVE_FORMAT1)
        return NNZ_E_UNSUPPORTED;
    if (nnz_crc32(0, h, 60) != le32(h + 60))
        return NNZ_E_CHECKSUM;
    size_t file_size = le64_size(h + 16);
    uint32_t nsec = le32(h + 24), table_crc = le32(h + 28);
    size_t table_off = le64_size(h + 32);
    for (unsigned i = 40; i < 60; i++)
        if (h[i] != 0)
            return NNZ_E_CORRUPT; /* reserved */
    if (le32(h + 12) != 0)
        return NNZ_E_CORRUPT; /* no flags are defined */
    if (file_size > size)
        return NNZ_E_TRUNCATED;
    if (file_size < HEADER_SIZE || table_off != HEADER_SIZE || nsec == 0 || nsec > MAX_SECTIONS)
        return NNZ_E_CORRUPT;
    size_t table_end = table_off + (size_t)nsec * SECTION_ENTRY_SIZE; /* both small */
    if (table_end > file_size)
        return NNZ_E_TRUNCATED;
    if (nnz_crc32(0, h + table_off, table_end - table_off) != table_crc)
        return NNZ_E_CHECKSUM;

    size_t prev_end = table_end;
    uint32_t gsec = 0; /* the compressed graph's table index */
    *at = NNZ_AT_SECTION;
    for (uint32_t i = 0; i < nsec; i++) {
        *index = i;
        const uint8_t *s = h + table_off + (size_t)i * SECTION_ENTRY_SIZE;
        uint32_t type = le32(s), sflags = le32(s + 4), crc = le32(s + 24);
        size_t off = le64_size(s + 8), len = le64_size(s + 16);
        if (sflags != 0 || le32(s + 28) != 0)
            return NNZ_E_CORRUPT;
        /* sections in order, apart, inside the file */
        if (off < prev_end || off > file_size || len > file_size - off)
            return off > file_size || len > file_size - off ? NNZ_E_TRUNCATED : NNZ_E_CORRUPT;
        prev_end = off + len;
        if (!(type == SEC_PAYLOAD && (flags & NNZ_OPEN_SKIP_PAYLOAD_CRC)) &&
            nnz_crc32(0, h + off, len) != crc)
            return NNZ_E_CHECKSUM;
        /* where each known section's bytes and size go in b: format 1 reads
         * types 1-5; format 2 has no names section (skipped, as a later minor
         * version's are) but may have a compressed graph (2.1) */
        static const uint8_t at_ptr[7] = { 0, offsetof(nnz_blob, dir), offsetof(nnz_blob, graph),
                                           offsetof(nnz_blob, payload), offsetof(nnz_blob, meta),
                                           offsetof(nnz_blob, names),
                                           offsetof(nnz_blob, graph_packed) };
        static const uint8_t at_size[7] = { 0, offsetof(nnz_blob, dir_size),
                                            offsetof(nnz_blob, graph_size),
                                            offsetof(nnz_blob, payload_size),
                                            offsetof(nnz_blob, meta_size),
                                            offsetof(nnz_blob, names_size),
                                            offsetof(nnz_blob, graph_packed_size) };
        if (type == SEC_PAYLOAD) {
            if (off % PAYLOAD_ALIGN)
                return NNZ_E_CORRUPT;
            b->payload_crc = crc;
        }
        if (type == SEC_GRAPH_PACKED)
            gsec = i;
        if (major == 1 ? type - 1u < SEC_NAMES : type - 1u < SEC_METADATA || type == SEC_GRAPH_PACKED) {
            const uint8_t **ptr = (const uint8_t **)(void *)((uint8_t *)b + at_ptr[type]);
            if (*ptr)
                return NNZ_E_CORRUPT; /* twice */
            *ptr = h + off;
            *(size_t *)(void *)((uint8_t *)b + at_size[type]) = len;
        }
    }
    if (!b->dir || !b->graph == !b->graph_packed || !b->payload)
        return NNZ_E_CORRUPT; /* the graph once, stored or compressed */
    if (b->graph_packed) { /* its expanded size leads it; the rest is read when expanded */
        *index = gsec;
        rd g = { b->graph_packed, b->graph_packed + b->graph_packed_size, 0 };
        uint64_t raw = rd_varint(&g);
        if (g.bad || raw == 0 || raw > GRAPH_PACKED_MAX)
            return NNZ_E_CORRUPT;
        b->graph_size = (size_t)raw;
    }

    /* Directory: u32 count, u32 offset per entry, then the entries. */
    *at = NNZ_AT_DIRECTORY;
    if (b->dir_size < 4)
        return NNZ_E_CORRUPT;
    uint32_t n = le32(b->dir);
    /* format 1: an offset per entry; format 2: per run of RUN entries */
    if ((b->dir_size - 4) / 4 < (major == 1 ? n : n / RUN + (n % RUN != 0)))
        return NNZ_E_CORRUPT;
    if (b->names && b->names_size != 2 * (size_t)n)
        return NNZ_E_CORRUPT; /* a u16 per entry */
    b->ntensors = n;
    b->data = h;
    b->size = file_size;
    b->major = (uint16_t)major;
    b->minor = (uint16_t)minor;

    /* Every entry is checked now, so later calls fail only on what they add. */
    /* graph holes, and external data, each in increasing order (holes and
     * payloads lie in the blob: size_t; external offsets need not) */
    size_t prev_graph = 0, prev_payload_end = 0;
    uint64_t ext_end = 0;
    *at = NNZ_AT_TENSOR;
    for (uint32_t i = 0; i < n; i++) {
        nnz_tensor_info info;
        *index = i;
        rd params;
        nnz_status st = parse_entry(b, i, &info, &params);
        if (st == NNZ_OK) {
            size_t poff = (size_t)info.payload_offset - (size_t)(b->payload - b->data);
            if (info.encoding != NNZ_ENC_GRAPH && info.encoding != NNZ_ENC_ALIAS &&
                info.encoding != NNZ_ENC_INLINE) {
                if (poff < prev_payload_end)
                    st = NNZ_E_CORRUPT; /* payloads apart, in order */
                prev_payload_end = poff + (size_t)info.payload_size;
            }
            if (info.location & NNZ_LOC_EXTERNAL) {
                if (info.graph_offset < ext_end || info.graph_offset - ext_end >= EXTERNAL_GAP ||
                    info.decoded_size > UINT64_MAX - info.graph_offset)
                    st = NNZ_E_CORRUPT;
                ext_end = info.graph_offset + info.decoded_size;
            } else {
                /* holes increase; in-graph bytes lie before what follows */
                size_t go = (size_t)info.graph_offset;
                if (go < prev_graph)
                    st = NNZ_E_CORRUPT;
                prev_graph = go + (info.encoding == NNZ_ENC_GRAPH ? (size_t)info.decoded_size : 1);
                if (st == NNZ_OK && b->graph) /* a compressed graph's: when expanded */
                    st = check_hole(b, &info);
            }
        }
        if (st == NNZ_OK) {
            st = check_encoding(b, &info, &params);
            if (st == NNZ_E_ENCODING || st == NNZ_E_UNSUPPORTED)
                st = NNZ_OK; /* opened; that tensor alone will not decode */
        }
        if (st != NNZ_OK)
            return st;
    }
    return NNZ_OK;
}

/* ---- setting a decode up ------------------------------------------------- */

/* NNZ_OUT_I8 and NNZ_OUT_I4 need an affine map whose symbols minus zero
 * points fit a signed integer of `bits` (8 or 4): at most 4-bit symbols with
 * zero point 8 (symmetric) for int4. */
static int fits_int(const coded *c, unsigned bits)
{
    if (c->kind != NNZ_VAL_AFFINE)
        return 0;
    unsigned w = c->st[c->nstreams - 1].width, half = 1u << (bits - 1);
    if (w > bits)
        return 0;
    /* a zero point each (nchan u32 in the blob: fits size_t), or one for all */
    size_t n = c->vm.zero_points ? (size_t)c->vm.nchan : 1;
    for (size_t ch = 0; ch < n; ch++) {
        uint32_t zp = c->vm.zero_points ? le32(c->vm.zero_points + ch * 4) : c->vm.zero_point;
        if (zp > half || (1u << w) - 1 > zp + half - 1)
            return 0;
    }
    return 1;
}

/* Scratch bytes a tensor needs: Huffman tables (huff_scratch), and the
 * buckets of a hashed Huffman stream. The +64 lets the decoder align the
 * caller's pointer. */
static nnz_status scratch_needed(const coded *c, size_t *need)
{
    size_t n = huff_scratch(&c->st[0]) + huff_scratch(&c->st[1]);
    if (HAVE_SHARED && n && c->st[0].shared) /* the tag of a table kept for the next call */
        n += TAG_WORDS * 4;
    if (is_hashed(c) && c->st[0].coding != NNZ_CODING_PACKED) {
        if (c->k > ((size_t)-1 - n - 64) / 4)
            return NNZ_E_OVERFLOW;
        n += (size_t)c->k * 4;
    }
    *need = n ? n + 64 : 0;
    return NNZ_OK;
}

/* Everything a decode call checks first: the entry, its encoding, the
 * output type, and the sizes it needs. */
static nnz_status setup(const nnz_blob *b, uint32_t index, int out_type, nnz_tensor_info *info,
                        coded *c, size_t *out_size, size_t *scratch_size, void *scratch,
                        size_t scratch_have)
{
    unsigned need;
    int keep = out_type & NNZ_OUT_KEEP;
    out_type &= ~NNZ_OUT_KEEP;
    if (!b || !b->data)
        return NNZ_E_ARGUMENT;
    /* under NNZ_OUT_KEEP, where a kept table's tag would be, when scratch
     * holds one (it is read before what the tensor needs is known) */
    keep = HAVE_SHARED && keep && scratch && scratch_have >= TAG_WORDS * 4 + 3;
    nnz_status st = tensor_at(b, index, info, c, &need, keep ? align4(scratch) : NULL);
    c->keep = keep;
    if (st != NNZ_OK)
        return st;
    unsigned es = out_elem_size(info->dtype, out_type);
    if (es == 0 || (!is_raw(info->encoding) && out_type != NNZ_OUT_NATIVE &&
                    !is_float_type(info->dtype)))
        return NNZ_E_OUT_TYPE;
    if (info->count > (uint64_t)(SIZE_MAX / es))
        return NNZ_E_OVERFLOW;
    *out_size = out_span(out_type, es, (size_t)info->count);
    *scratch_size = 0;
    int ints = out_type == NNZ_OUT_I8 || out_type == NNZ_OUT_I4;
    if (is_raw(info->encoding))
        return ints ? NNZ_E_OUT_TYPE : NNZ_OK;
    if (ints && !fits_int(c, out_type == NNZ_OUT_I8 ? 8 : 4))
        return NNZ_E_OUT_TYPE;
    return scratch_needed(c, scratch_size);
}

/* What decoding a tensor needs once it is set up: the value map, each
 * Huffman stream's tables built in `scratch` (checked to be large enough),
 * and a hashed Huffman tensor's K bucket symbols decoded there. */
static nnz_status prepare(const nnz_tensor_info *info, coded *c, int out_type, vmap *m,
                          sym_rd *d, void *scratch, const uint32_t **buckets)
{
    uint32_t *mem = align4(scratch);
    nnz_status st;
    memset(m, 0, sizeof *m);
    m->c = c;
    m->kind = c->kind;
    m->es = out_elem_size(info->dtype, out_type);
    /* saturated: an element's index is below SIZE_MAX, so past it inner
     * and nchan (up to 2^32, with scale codes of 0 bits) act the same */
    m->inner = c->vm.inner > SIZE_MAX ? SIZE_MAX : (size_t)c->vm.inner;
    m->nchan = c->vm.nchan > SIZE_MAX ? SIZE_MAX : (size_t)c->vm.nchan;
    /* the output type of NNZ_OUT_NATIVE, by the type's float value map + 1 */
    static const uint8_t native_ot[4] = { OT_INT, OT_F32, OT_F16, OT_BF16 };
    unsigned fk = (dtype_bits(info->dtype) & DT_FK) >> DT_FK_SHIFT;
    int native = native_ot[fk];
    m->ot = out_type != NNZ_OUT_NATIVE ? out_type : native;
    m->f32 = NNZ_FAST && c->kind == NNZ_VAL_AFFINE && m->ot == OT_F32 &&
             c->st[c->nstreams - 1].width < 32;
    *buckets = NULL;
    if (is_raw(info->encoding)) { /* copied as is, or converted from its float type */
        m->copy = m->ot == native;
        m->kind = fk - 1;
        return NNZ_OK;
    }
    /* the tables once for all blocks; stream 0's shared table after its
     * tag, and not built again when the last call left it there */
    for (unsigned s = 0; s < c->nstreams; s++) {
        stream *t = &c->st[s];
        d[s].s = t;
        if (HAVE_HUFFMAN && huff_scratch(t)) {
            uint32_t *at = mem;
            stream k;
            int tagged = HAVE_SHARED && s == 0 && t->shared;
            if (tagged)
                mem += TAG_WORDS;
            st = walk_list(t, &d[s], mem,
                           tagged && c->keep && tag_get(at, t->owner, &k) && k.list == t->list &&
                               k.coding == t->coding);
            if (tagged) { /* a tag only over a table built whole */
                at[0] = st == NNZ_OK ? TAG_MAGIC : 0;
                at[1] = t->owner;
                memcpy(at + 2, t, sizeof *t);
            }
            if (st != NNZ_OK)
                return st;
            mem += huff_scratch(t) / 4;
        }
    }
#ifndef NNZ_NO_HASHED
    if (is_hashed(c) && c->st[0].coding != NNZ_CODING_PACKED) {
        *buckets = mem; /* the K bucket symbols, decoded once */
        if ((st = sym_block(c, 0, 0, &d[0])) != NNZ_OK)
            return st;
        get_syms(&d[0], mem, (size_t)c->k, 0);
        if (sym_over(&d[0]))
            return NNZ_E_CORRUPT;
    }
#endif
    return NNZ_OK;
}

/* ---- decoding a tensor: the reader --------------------------------------- */

/* A tensor being decoded: set up (setup, prepare), and where it has got
 * to. nnz_decode reads a range of blocks through one; nnz_reader is its
 * opaque storage. Its pointers to itself (m.c, d[].s) are set again at
 * each read, so a copied reader works. */
typedef struct reader {
    const nnz_blob *b;
    nnz_tensor_info info;
    coded c;
    sym_rd d[2];
    vmap m;
    const uint32_t *buckets;
    size_t pos;           /* the next element (counts fit size_t: setup checked) */
    size_t blk_end;       /* where the block being read ends; pos == blk_end: between blocks */
    sparse_pos sp;        /* sparse: where the block's survivors have got to */
    nnz_status status;    /* sticky: the first error */
} reader;

/* The next elements of r's tensor into out, as many as out_size holds
 * (*got says how many), starting each block as it comes to it; a block's
 * streams are checked for reading past their end where the block ends. */
static nnz_status reader_next(reader *r, void *out, size_t out_size, size_t *got)
{
    uint32_t v[CHUNK_BUF];
    *got = 0;
    if (!r->b)
        return NNZ_E_ARGUMENT;
    if (r->status != NNZ_OK)
        return r->status;
    const nnz_tensor_info *info = &r->info;
    coded *c = &r->c;
    r->m.c = c;
    r->d[0].s = &c->st[0];
    r->d[1].s = &c->st[1];
    size_t es = r->m.es, done = 0, k;
    size_t count = (size_t)info->count; /* fits: setup checked count * es fits size_t */
    size_t n = r->m.ot != OT_I4 ? out_size / es : out_size > SIZE_MAX / 2 ? SIZE_MAX : out_size * 2;
    if (n > count - r->pos)
        n = count - r->pos;
    if (n == 0 && r->pos < count)
        return NNZ_E_OUTPUT_SMALL; /* not one element's room: never mistaken for the end */
    uint8_t *o = (uint8_t *)out;
    nnz_status st = NNZ_OK;
    for (; done < n && st == NNZ_OK;
         done += k, r->pos += k, o += out_span(r->m.ot, (unsigned)es, k)) {
        size_t pos = r->pos;
        k = n - done;
        if (is_raw(info->encoding)) {
            decode_raw(r->b, info, &r->m, pos, k, o);
            continue;
        }
#ifndef NNZ_NO_HASHED
        if (is_hashed(c)) {
            hashed_run(c, &r->m, r->buckets, pos, k, o);
            continue;
        }
#endif
        if (r->pos == r->blk_end) { /* a block starts */
            size_t blk = c->nblocks > 1 ? pos >> c->block_log2 : 0, be = (size_t)c->block_elems;
            r->blk_end = count - pos > be ? pos + be : count;
            if ((st = block_start(c, r->d, blk, r->pos, r->blk_end, &r->sp)) != NNZ_OK)
                break;
        }
        if (k > r->blk_end - pos)
            k = r->blk_end - pos;
        int bad = 0;
        if (c->enc == NNZ_ENC_DENSE)
            dense_run(&r->d[0], &r->m, o, pos, k, v);
        else if (HAVE_SPARSE) {
            memset(o, 0, out_span(r->m.ot, r->m.es, k));
#if NNZ_FAST
            if (r->pos + k == r->blk_end && !r->sp.have) /* the rest of the block */
                bad = sparse_chunks(r->d, c, &r->m, &r->sp, o, pos, v);
#endif
            bad = bad || sparse_run(r->d, c, &r->m, &r->sp, o, r->pos, k);
        }
        if (!bad && r->pos + k == r->blk_end) /* the block's end: did it read past its bytes? */
            bad = sym_over(&r->d[0]) || (c->nstreams > 1 && sym_over(&r->d[1]));
        if (bad)
            st = NNZ_E_CORRUPT;
    }
    if (st == NNZ_OK && r->m.bad)
        st = NNZ_E_CORRUPT;
    r->status = st;
    if (st == NNZ_OK)
        *got = n;
    return st;
}

/* Set r up to read tensor `index` from its start (nnz_decode too: a call
 * per tensor, so no memset of r; the rest is set where it is used). */
static nnz_status reader_start(reader *r, const nnz_blob *b, uint32_t index, int out_type,
                               void *scratch, size_t scratch_size)
{
    size_t need_out, need_scratch;
    r->pos = r->blk_end = 0; /* a block starts there */
    nnz_status st = setup(b, index, out_type, &r->info, &r->c, &need_out, &need_scratch, scratch,
                          scratch_size);
    out_type &= ~NNZ_OUT_KEEP;
    if (st == NNZ_OK && (scratch_size < need_scratch || (need_scratch && !scratch)))
        st = NNZ_E_SCRATCH_SMALL;
    if (st == NNZ_OK)
        st = prepare(&r->info, &r->c, out_type, &r->m, r->d, scratch, &r->buckets);
    r->b = b;
    r->status = st;
    return st;
}

/* Shared by nnz_decode (nblocks 0: every block, from block 0) and
 * nnz_decode_block (nblocks 1): a reader moved to the first block. */
static nnz_status decode_blocks(const nnz_blob *b, uint32_t index, uint64_t block,
                                uint64_t nblocks, int out_type, void *out, size_t out_size,
                                void *scratch, size_t scratch_size)
{
    reader r;
    size_t got;
    if (!out && out_size)
        return NNZ_E_ARGUMENT;
    nnz_status st = reader_start(&r, b, index, out_type, scratch, scratch_size);
    out_type &= ~NNZ_OUT_KEEP;
    if (st != NNZ_OK)
        return st;
    if (block >= r.info.nblocks || nblocks > r.info.nblocks - block)
        return NNZ_E_INDEX; /* nnz_decode_block's; nnz_decode's block 0 is there */
    /* element counts fit size_t from here: setup checked count * es does */
    size_t be = (size_t)r.info.block_elems, first = (size_t)block * be;
    size_t n = (size_t)r.info.count - first;
    if (nblocks == 1 && n > be)
        n = be;
    if (out_size < out_span(out_type, r.m.es, n))
        return NNZ_E_OUTPUT_SMALL;
    r.pos = r.blk_end = first; /* a block starts there */
    return reader_next(&r, out, out_span(out_type, r.m.es, n), &got);
}

/* ---- the API ------------------------------------------------------------- */

const char *nnz_strerror(int status)
{
    /* the messages end to end, and their statuses: a switch would add a
     * table of pointers, 4 bytes a status, on small cores */
#define NNZ_X_MSG(name, value, msg) msg "\0"
#define NNZ_X_VAL(name, value, msg) value,
    static const char msgs[] = NNZ_STATUS_LIST(NNZ_X_MSG) "unknown status";
    static const signed char vals[] = { NNZ_STATUS_LIST(NNZ_X_VAL) };
#undef NNZ_X_MSG
#undef NNZ_X_VAL
    const char *m = msgs;
    for (size_t i = 0; i < sizeof vals && vals[i] != status; i++)
        m += strlen(m) + 1;
    return m;
}

nnz_status nnz_open(nnz_blob *b, const void *data, size_t size, unsigned flags)
{
    uint32_t at = NNZ_AT_HEADER, index = 0;
    if (!b || !data)
        return NNZ_E_ARGUMENT;
    memset(b, 0, sizeof *b);
    nnz_status st = open_checked(b, data, size, flags, &at, &index);
    if (st != NNZ_OK) {
        memset(b, 0, sizeof *b);
        b->fail_at = at;
        b->fail_index = index;
    }
    return st;
}

uint32_t nnz_tensor_count(const nnz_blob *b) { return b ? b->ntensors : 0; }

nnz_status nnz_tensor_info_get(const nnz_blob *b, uint32_t index, nnz_tensor_info *info)
{
    rd params;
    if (!b || !info || !b->data)
        return NNZ_E_ARGUMENT;
    return parse_entry(b, index, info, &params);
}

nnz_status nnz_find(const nnz_blob *b, const char *name, uint32_t *index)
{
    if (!b || !name || !index || !b->data)
        return NNZ_E_ARGUMENT;
    for (uint32_t i = 0; i < b->ntensors; i++) {
        nnz_tensor_info info;
        rd params;
        /* name_bytes holds no NUL: equal up to name_len, and name ends there */
        if (parse_entry(b, i, &info, &params) == NNZ_OK &&
            strncmp(info.name_bytes, name, info.name_len) == 0 && name[info.name_len] == 0) {
            *index = i;
            return NNZ_OK;
        }
    }
    return NNZ_E_NOT_FOUND;
}

nnz_status nnz_metadata(const nnz_blob *b, const char **text, size_t *size)
{
    if (!b || !text || !size || !b->data)
        return NNZ_E_ARGUMENT;
    *text = b->meta ? (const char *)b->meta : "";
    *size = b->meta ? b->meta_size : 0;
    return NNZ_OK;
}

nnz_status nnz_tensor_features(const nnz_blob *b, uint32_t index, unsigned *features)
{
    nnz_tensor_info info;
    coded c;
    if (!b || !b->data || !features)
        return NNZ_E_ARGUMENT;
    unsigned need;
    *features = 0;
    nnz_status st = tensor_at(b, index, &info, &c, &need, NULL);
    if (st == NNZ_OK || st == NNZ_E_UNSUPPORTED) {
        *features = need | c.need;
        st = NNZ_OK;
    }
    return st;
}

nnz_status nnz_value_map_get(const nnz_blob *b, uint32_t index, nnz_value_map *map)
{
    nnz_tensor_info info;
    coded c;
    if (!b || !b->data || !map)
        return NNZ_E_ARGUMENT;
    unsigned need;
    memset(map, 0, sizeof *map);
    map->kind = -1;
    nnz_status st = tensor_at(b, index, &info, &c, &need, NULL);
    if (st != NNZ_OK || is_raw(info.encoding))
        return st;
    *map = c.vm;
    return NNZ_OK;
}

uint32_t nnz_scale_code(const nnz_value_map *map, uint64_t c)
{
    if (!map || map->kind != NNZ_VAL_AFFINE_LOG || c >= map->nchan)
        return 0;
    return map->scale_base + packed_code(map->scales, map->scale_bits, c);
}

nnz_status nnz_decode_sizes(const nnz_blob *b, uint32_t index, int out_type,
                            size_t *out_size, size_t *scratch_size)
{
    nnz_tensor_info info;
    coded c;
    if (!out_size || !scratch_size)
        return NNZ_E_ARGUMENT;
    return setup(b, index, out_type, &info, &c, out_size, scratch_size, NULL, 0);
}

nnz_status nnz_decode(const nnz_blob *b, uint32_t index, int out_type, void *out,
                      size_t out_size, void *scratch, size_t scratch_size)
{
    return decode_blocks(b, index, 0, 0, out_type, out, out_size, scratch, scratch_size);
}

nnz_status nnz_decode_block(const nnz_blob *b, uint32_t index, uint64_t block, int out_type,
                            void *out, size_t out_size, void *scratch, size_t scratch_size)
{
    return decode_blocks(b, index, block, 1, out_type, out, out_size, scratch, scratch_size);
}

#ifndef NNZ_NO_READER
/* ---- decoding in pieces -------------------------------------------------- */

/* C99's static assertion: the state fits its public storage. */
typedef char nnz_reader_fits[sizeof(reader) <= sizeof(nnz_reader) ? 1 : -1];

nnz_status nnz_reader_open(nnz_reader *r, const nnz_blob *b, uint32_t index, int out_type,
                           void *scratch, size_t scratch_size)
{
    if (!r)
        return NNZ_E_ARGUMENT;
    return reader_start((reader *)(void *)r->opaque.words, b, index, out_type, scratch,
                        scratch_size);
}

nnz_status nnz_reader_read(nnz_reader *r, void *out, size_t out_size, size_t *got)
{
    if (!r || !got || (!out && out_size))
        return NNZ_E_ARGUMENT;
    return reader_next((reader *)(void *)r->opaque.words, out, out_size, got);
}

#endif /* NNZ_NO_READER */

#ifndef NNZ_NO_REBUILD
/* ---- the compressed graph (docs/FORMAT.md, "Compressed graph section") --- */

#define HAVE_GRAPH_CODEC ((NNZ_FEATURES_BUILT & NNZ_FEAT_GRAPH_CODEC) != 0)
#define ZG_VERSION 1
#define ZG_LIT_WIDTH 9  /* symbols 0..255 literal bytes, 256 + c a match of length code c */
#define ZG_DIST_WIDTH 6 /* 0 the last distance again, 1 + c distance code c */
#define ZG_MIN_MATCH 3
#define ZG_MAX_CODE 59  /* length and distance codes: at most 28 extra bits */

/* The two symbol streams and the extra bits of a compressed graph. */
typedef struct zgraph {
    stream s[2]; /* literal/length, distance */
    const uint8_t *extra, *end;
} zgraph;

/* Parse the section after its expanded size: the version, each stream's
 * coding byte, length and Huffman table; the extra bits are the rest. */
static nnz_status zg_parse(const nnz_blob *b, zgraph *z)
{
    rd r = { b->graph_packed, b->graph_packed + b->graph_packed_size, 0 };
    memset(z, 0, sizeof *z);
    rd_varint(&r); /* the expanded size, checked at open */
    if (rd_u8(&r) != ZG_VERSION)
        return r.bad ? NNZ_E_CORRUPT : NNZ_E_ENCODING;
    for (unsigned k = 0; k < 2; k++) {
        stream *s = &z->s[k];
        s->coding = rd_u8(&r);
        s->width = k ? ZG_DIST_WIDTH : ZG_LIT_WIDTH;
        uint64_t len = rd_varint(&r);
        const uint8_t *p = rd_bytes(&r, len);
        if (r.bad || s->coding > NNZ_CODING_HUFFMAN_GAMMA)
            return NNZ_E_CORRUPT; /* one lane: packed or Huffman */
        nnz_status st = parse_stream(s, p, len, 1);
        if (st != NNZ_OK)
            return st;
    }
    z->extra = r.p;
    z->end = r.end;
    return NNZ_OK;
}

/* A length or distance from its code c (at most ZG_MAX_CODE): 0..3 as
 * they are, else (2 + c % 2) << n plus n extra bits, n = c / 2 - 1. */
static uint32_t zg_value(uint32_t c, bitrd *x)
{
    if (c < 4)
        return c;
    unsigned n = c / 2 - 1;
    return ((2 | (c & 1)) << n) + br_get(x, n);
}

/* Bits of r not read yet (more than 7 when the output ends early, and
 * also when r read past its end: zg_run refuses both). */
static uint64_t zg_unread(const bitrd *r)
{
    if (br_over(r))
        return 8;
    return (uint64_t)(r->end - r->p) * 8 + r->n - r->over;
}

/* Parse the compressed graph and give the work it needs (*need: the
 * graph, 4-byte alignment, the two Huffman tables); with out, expand it
 * there, the tables after the graph: every match within what is out so
 * far and within graph_size, the output exactly graph_size, each stream
 * read to its end and no further. */
static nnz_status zg_run(const nnz_blob *b, uint8_t *out, size_t out_size, size_t *need)
{
    zgraph z;
    sym_rd d[2];
    nnz_status st = zg_parse(b, &z);
    size_t n = b->graph_size, o = 0, dist = 1;
    *need = n + 3 + huff_scratch(&z.s[0]) + huff_scratch(&z.s[1]); /* tables under 10 KiB */
    if (st != NNZ_OK || !out)
        return st;
    if (out_size < *need)
        return NNZ_E_SCRATCH_SMALL;
    uint32_t *mem = align4(out + n);
    for (unsigned k = 0; k < 2; k++) {
        memset(&d[k], 0, sizeof d[k]);
        d[k].s = &z.s[k];
        d[k].lanes = 1;
        d[k].r[0].p = z.s[k].data;
        d[k].r[0].end = z.s[k].end;
        if (huff_scratch(&z.s[k])) {
            if ((st = walk_list(&z.s[k], &d[k], mem, 0)) != NNZ_OK)
                return st;
            mem += huff_scratch(&z.s[k]) / 4;
        }
    }
    bitrd x = { z.extra, z.end, 0, 0, 0 };
    while (o < n) {
        uint32_t c = sym_get(&d[0]);
        if (c < 256) {
            out[o++] = (uint8_t)c;
            continue;
        }
        if (c - 256 > ZG_MAX_CODE)
            return NNZ_E_CORRUPT;
        size_t len = (size_t)zg_value(c - 256, &x) + ZG_MIN_MATCH;
        uint32_t dc = sym_get(&d[1]);
        if (dc > ZG_MAX_CODE + 1)
            return NNZ_E_CORRUPT;
        if (dc)
            dist = (size_t)zg_value(dc - 1, &x) + 1;
        if (dist > o || len > n - o)
            return NNZ_E_CORRUPT;
        for (; len; len--, o++) /* byte by byte: the copy may overlap itself */
            out[o] = out[o - dist];
    }
    /* every stream read to its end: no bit past it, no byte left over */
    return zg_unread(&x) > 7 || zg_unread(&d[0].r[0]) > 7 || zg_unread(&d[1].r[0]) > 7
               ? NNZ_E_CORRUPT
               : NNZ_OK;
}

nnz_status nnz_graph_sizes(const nnz_blob *b, size_t *work_size)
{
    if (!b || !b->data || !work_size)
        return NNZ_E_ARGUMENT;
    *work_size = 0;
    if (!b->graph_packed)
        return NNZ_OK;
    return HAVE_GRAPH_CODEC ? zg_run(b, NULL, 0, work_size) : NNZ_E_UNSUPPORTED;
}

nnz_status nnz_graph_get(const nnz_blob *b, void *work, size_t work_size,
                         const uint8_t **graph)
{
    size_t need;
    if (!b || !b->data || !graph)
        return NNZ_E_ARGUMENT;
    *graph = b->graph;
    if (!b->graph_packed)
        return NNZ_OK;
    if (!HAVE_GRAPH_CODEC)
        return NNZ_E_UNSUPPORTED;
    if (!work)
        return NNZ_E_SCRATCH_SMALL;
    nnz_status st = zg_run(b, (uint8_t *)work, work_size, &need);
    *graph = st == NNZ_OK ? (const uint8_t *)work : NULL;
    return st;
}

/* ---- rebuilding the model ------------------------------------------------ */

/* RAW tensors on a little-endian host go straight from the blob; the rest
 * are decoded through a reader, a piece of at most NNZ_REBUILD_PIECE bytes
 * (a whole block when one fits) at a time, into `work`. */
static int rebuild_direct(const nnz_tensor_info *info)
{
    return (info->encoding == NNZ_ENC_RAW || info->encoding == NNZ_ENC_INLINE) &&
           host_is_little_endian();
}

#ifndef NNZ_REBUILD_PIECE
#define NNZ_REBUILD_PIECE (1u << 20)
#endif
#if NNZ_REBUILD_PIECE < 16
#error "NNZ_REBUILD_PIECE is at least 16 bytes (an element of every type)"
#endif

/* The piece of a tensor nnz_rebuild decodes at a time: a block, or
 * NNZ_REBUILD_PIECE bytes of whole elements when the block is larger. */
static size_t rebuild_piece(const nnz_tensor_info *info)
{
    size_t es = dtype_size(info->dtype), per = (size_t)NNZ_REBUILD_PIECE / es; /* es 1..16 */
    return (info->block_elems < per ? (size_t)info->block_elems : per) * es;
}

/* work = [reader][piece][scratch], each 8-byte aligned. */
#define WORK_ALIGN(n) (((n) + 7) & ~(size_t)7)

/* The model's tensors in order, once to size (write NULL: the model's bytes
 * and the work memory) and once to write them: one walk, so both agree. */
static nnz_status rebuild_walk(const nnz_blob *b, nnz_write_fn write, void *ctx, void *work,
                               size_t work_size, uint64_t *model_size, size_t *work_need)
{
    uint64_t total = b->graph_size;
    size_t need = 0, pos = 0;
    for (uint32_t i = 0; i < b->ntensors; i++) {
        nnz_tensor_info info;
        size_t out, scratch, got;
        nnz_status st = nnz_tensor_info_get(b, i, &info);
        if (st == NNZ_OK)
            st = nnz_decode_sizes(b, i, NNZ_OUT_NATIVE, &out, &scratch);
        if (st != NNZ_OK)
            return st;
        if (info.location & NNZ_LOC_EXTERNAL || info.encoding == NNZ_ENC_GRAPH)
            continue; /* outside the model, or already in the graph bytes */
        size_t piece = rebuild_piece(&info);
        if (!write) {
            if (info.decoded_size > UINT64_MAX - total)
                return NNZ_E_OVERFLOW;
            total += info.decoded_size;
            size_t fixed = 8 + WORK_ALIGN(sizeof(reader)) + WORK_ALIGN(piece);
            if (rebuild_direct(&info))
                continue;
            if (scratch > SIZE_MAX - fixed)
                return NNZ_E_OVERFLOW;
            if (fixed + scratch > need)
                need = fixed + scratch;
            continue;
        }
        size_t hole = (size_t)info.graph_offset;
        if (b->graph_packed && check_hole(b, &info) != NNZ_OK)
            return NNZ_E_CORRUPT; /* a compressed graph's holes: not checked at open */
        if (hole > pos && write(ctx, b->graph + pos, hole - pos) != 0)
            return NNZ_E_WRITE;
        pos = hole;
        if (info.decoded_size == 0)
            continue;
        if (rebuild_direct(&info)) {
            if (write(ctx, b->data + info.payload_offset, (size_t)info.decoded_size) != 0)
                return NNZ_E_WRITE;
            continue;
        }
        uint8_t *w = (uint8_t *)work + ((8 - (uintptr_t)work % 8) % 8); /* work: not NULL here */
        reader *r = (reader *)(void *)w;
        uint8_t *o = w + WORK_ALIGN(sizeof(reader)), *sc = o + WORK_ALIGN(piece);
        unsigned es = dtype_size(info.dtype);
        st = reader_start(r, b, i, NNZ_OUT_NATIVE, sc, work_size - (size_t)(sc - (uint8_t *)work));
        while (st == NNZ_OK && (st = reader_next(r, o, piece, &got)) == NNZ_OK && got) {
            if (!host_is_little_endian()) /* ONNX raw_data is little-endian */
                swap_elems(o, got, es);
            if (write(ctx, o, got * es) != 0)
                return NNZ_E_WRITE;
        }
        if (st != NNZ_OK)
            return st;
    }
    if (write && b->graph_size > pos && write(ctx, b->graph + pos, b->graph_size - pos) != 0)
        return NNZ_E_WRITE;
    *model_size = total;
    *work_need = need;
    return NNZ_OK;
}

nnz_status nnz_rebuild_sizes(const nnz_blob *b, uint64_t *model_size, size_t *work_size)
{
    if (!b || !b->data || !model_size || !work_size)
        return NNZ_E_ARGUMENT;
    nnz_status st = rebuild_walk(b, NULL, NULL, NULL, 0, model_size, work_size);
    size_t gw; /* a compressed graph: expanded at the front of work, the rest after it */
    if (st == NNZ_OK && (st = nnz_graph_sizes(b, &gw)) == NNZ_OK && gw) {
        if (*work_size > SIZE_MAX - b->graph_size)
            return NNZ_E_OVERFLOW;
        *work_size = gw > b->graph_size + *work_size ? gw : b->graph_size + *work_size;
    }
    return st;
}

nnz_status nnz_rebuild(const nnz_blob *b, nnz_write_fn write, void *ctx, void *work,
                       size_t work_size)
{
    uint64_t total;
    size_t need;
    if (!write)
        return NNZ_E_ARGUMENT;
    nnz_status st = nnz_rebuild_sizes(b, &total, &need);
    if (st != NNZ_OK)
        return st;
    if (work_size < need || (need && !work))
        return NNZ_E_SCRATCH_SMALL;
    /* g: b with its graph expanded at the front of work (a stored graph:
     * b itself), the rest of work after it */
    nnz_blob g = *b;
    if ((st = nnz_graph_get(b, work, work_size, &g.graph)) != NNZ_OK)
        return st;
    if (b->graph_packed) {
        work = (uint8_t *)work + b->graph_size;
        work_size -= b->graph_size;
    }
    return rebuild_walk(&g, write, ctx, work, work_size, &total, &need);
}
#endif /* NNZ_NO_REBUILD */
