/* nnz.c - the nnzip decoder runtime. See nnz.h for the contract and
 * docs/FORMAT.md for the bytes.
 *
 * Conventions of this file: the blob is read through `rd` cursors that
 * never move past their end (a read past it sets `bad` and yields zeros);
 * room is checked as remaining space, `(size_t)(end - p) < need`; integers
 * are read byte by byte, little-endian; products and sums are checked
 * before use. */
#include "nnz.h"

#include <string.h>

/* ---- layout constants (docs/FORMAT.md) ---------------------------------- */

static const uint8_t MAGIC[8] = { 'N', 'N', 'Z', 'B', 0x0d, 0x0a, 0x1a, 0x0a };
#define HEADER_SIZE 64u
#define SECTION_ENTRY_SIZE 32u
#define MAX_SECTIONS 64u
#define PAYLOAD_ALIGN 64u

enum { SEC_DIRECTORY = 1, SEC_GRAPH = 2, SEC_PAYLOAD = 3, SEC_METADATA = 4 };

/* ---- status messages --------------------------------------------------- */

const char *nnz_strerror(int status)
{
    switch (status) {
#define NNZ_X_CASE(name, value, msg) case value: return msg;
        NNZ_STATUS_LIST(NNZ_X_CASE)
#undef NNZ_X_CASE
    default:
        return "unknown status";
    }
}

/* ---- byte reading ------------------------------------------------------- */

static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

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

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* ---- CRC-32 ------------------------------------------------------------ */

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

/* ---- half floats ------------------------------------------------------- */

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

/* ---- types ------------------------------------------------------------- */

/* Bytes per element of an ONNX type the format allows; 0 if not allowed. */
static unsigned dtype_size(int dtype)
{
    static const uint8_t size[21] = { 0, 4, 1, 1, 2, 2, 4, 8, 0, 1, 2, 8, 4, 8, 8, 16, 2,
                                      1, 1, 1, 1 };
    return dtype >= 0 && dtype < 21 ? size[dtype] : 0;
}

enum { DT_FLOAT = 1, DT_FLOAT16 = 10, DT_BFLOAT16 = 16 };

/* ---- opening ----------------------------------------------------------- */

/* Parse directory entry `index` into `info`; `params` gets its parameter
 * bytes. Everything is checked against the sections it points into. */
static nnz_status parse_entry(const nnz_blob *b, uint32_t index, nnz_tensor_info *info,
                              rd *params)
{
    if (index >= b->ntensors)
        return NNZ_E_INDEX;
    uint32_t off = le32(b->dir + 4 + 4 * (size_t)index);
    if (off > b->dir_size)
        return NNZ_E_CORRUPT;
    rd r = { b->dir + off, b->dir + b->dir_size, 0 };
    memset(info, 0, sizeof *info);

    uint64_t name_len = rd_varint(&r);
    const uint8_t *name = rd_bytes(&r, name_len);
    if (r.bad || rd_u8(&r) != 0 || r.bad || memchr(name, 0, (size_t)name_len))
        return NNZ_E_CORRUPT; /* a name is followed by NUL and holds none */
    info->name = (const char *)name;

    info->dtype = (int)rd_u8(&r);
    unsigned es = dtype_size(info->dtype);
    info->ndims = (int)rd_u8(&r);
    if (r.bad || es == 0 || info->ndims > NNZ_MAX_DIMS)
        return NNZ_E_CORRUPT;
    uint64_t count = 1;
    for (int i = 0; i < info->ndims; i++) {
        uint64_t d = rd_varint(&r);
        info->dims[i] = d;
        if (d != 0 && count > UINT64_MAX / d)
            return NNZ_E_OVERFLOW;
        count *= d;
    }
    if (count > UINT64_MAX / es)
        return NNZ_E_OVERFLOW;
    info->count = count;
    info->decoded_size = count * es;

    info->location = (int)rd_u8(&r);
    if ((info->location & 0x7f) > NNZ_LOC_CONSTANT)
        return NNZ_E_CORRUPT;
    info->graph_offset = rd_varint(&r);
    uint64_t poff = rd_varint(&r), plen = rd_varint(&r);
    info->encoding = (int)rd_u8(&r);
    info->encoding_version = (int)rd_u8(&r);
    uint64_t params_len = rd_varint(&r);
    const uint8_t *pp = rd_bytes(&r, params_len);
    if (r.bad)
        return NNZ_E_CORRUPT;
    if (info->graph_offset > b->graph_size || poff % PAYLOAD_ALIGN != 0 ||
        poff > b->payload_size || plen > b->payload_size - poff)
        return NNZ_E_CORRUPT;
    info->payload_offset = (uint64_t)(b->payload - b->data) + poff;
    info->payload_size = plen;
    params->p = pp ? pp : r.p;
    params->end = params->p + (size_t)params_len;
    params->bad = 0;
    return NNZ_OK;
}

/* Checks of an encoding's parameters that need no output buffer. */
static nnz_status check_encoding(const nnz_tensor_info *info, const rd *params)
{
    switch (info->encoding) {
    case NNZ_ENC_RAW:
        if (info->encoding_version != 1 || params->p != params->end ||
            info->payload_size != info->decoded_size)
            return NNZ_E_CORRUPT;
        return NNZ_OK;
    default:
        return NNZ_E_ENCODING;
    }
}

nnz_status nnz_open(nnz_blob *b, const void *data, size_t size, unsigned flags)
{
    if (!b || !data)
        return NNZ_E_ARGUMENT;
    memset(b, 0, sizeof *b);
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
    if (nnz_crc32(0, h, 60) != le32(h + 60))
        return NNZ_E_CHECKSUM;
    uint64_t file_size = le64(h + 16);
    uint32_t nsec = le32(h + 24), table_crc = le32(h + 28);
    uint64_t table_off = le64(h + 32);
    for (unsigned i = 40; i < 60; i++)
        if (h[i] != 0)
            return NNZ_E_CORRUPT; /* reserved */
    if (le32(h + 12) != 0)
        return NNZ_E_CORRUPT; /* no flags are defined */
    if (file_size > size)
        return NNZ_E_TRUNCATED;
    if (file_size < HEADER_SIZE || table_off != HEADER_SIZE || nsec == 0 || nsec > MAX_SECTIONS)
        return NNZ_E_CORRUPT;
    uint64_t table_end = table_off + (uint64_t)nsec * SECTION_ENTRY_SIZE;
    if (table_end > file_size)
        return NNZ_E_TRUNCATED;
    if (nnz_crc32(0, h + table_off, (size_t)(table_end - table_off)) != table_crc)
        return NNZ_E_CHECKSUM;

    uint64_t prev_end = table_end;
    for (uint32_t i = 0; i < nsec; i++) {
        const uint8_t *s = h + table_off + (size_t)i * SECTION_ENTRY_SIZE;
        uint32_t type = le32(s), sflags = le32(s + 4), crc = le32(s + 24);
        uint64_t off = le64(s + 8), len = le64(s + 16);
        if (sflags != 0 || le32(s + 28) != 0)
            return NNZ_E_CORRUPT;
        /* sections in order, apart, inside the file */
        if (off < prev_end || off > file_size || len > file_size - off)
            return off > file_size || len > file_size - off ? NNZ_E_TRUNCATED : NNZ_E_CORRUPT;
        prev_end = off + len;
        if (!(type == SEC_PAYLOAD && (flags & NNZ_OPEN_SKIP_PAYLOAD_CRC)) &&
            nnz_crc32(0, h + off, (size_t)len) != crc)
            return NNZ_E_CHECKSUM;
        const uint8_t **ptr = NULL;
        size_t *sz = NULL;
        switch (type) {
        case SEC_DIRECTORY: ptr = &b->dir; sz = &b->dir_size; break;
        case SEC_GRAPH: ptr = &b->graph; sz = &b->graph_size; break;
        case SEC_PAYLOAD:
            if (off % PAYLOAD_ALIGN)
                return NNZ_E_CORRUPT;
            ptr = &b->payload; sz = &b->payload_size; break;
        case SEC_METADATA: ptr = &b->meta; sz = &b->meta_size; break;
        default: break; /* a section of a later minor version: skipped */
        }
        if (ptr) {
            if (*ptr)
                return NNZ_E_CORRUPT; /* twice */
            *ptr = h + off;
            *sz = (size_t)len;
        }
    }
    if (!b->dir || !b->graph || !b->payload)
        return NNZ_E_CORRUPT;

    /* Directory: u32 count, u32 offset per entry, then the entries. */
    if (b->dir_size < 4)
        return NNZ_E_CORRUPT;
    uint32_t n = le32(b->dir);
    if ((b->dir_size - 4) / 4 < n)
        return NNZ_E_CORRUPT;
    b->ntensors = n;
    b->data = h;
    b->size = (size_t)file_size;
    b->major = (uint16_t)major;
    b->minor = (uint16_t)minor;

    /* Every entry is checked now, so later calls fail only on what they add. */
    uint64_t prev_graph = 0, prev_payload_end = 0;
    for (uint32_t i = 0; i < n; i++) {
        nnz_tensor_info info;
        rd params;
        nnz_status st = parse_entry(b, i, &info, &params);
        if (st == NNZ_OK) {
            uint64_t poff = info.payload_offset - (uint64_t)(b->payload - b->data);
            if ((i > 0 && info.graph_offset <= prev_graph) || poff < prev_payload_end)
                st = NNZ_E_CORRUPT; /* holes in order; payloads apart */
            prev_graph = info.graph_offset;
            prev_payload_end = poff + info.payload_size;
        }
        if (st == NNZ_OK) {
            st = check_encoding(&info, &params);
            if (st == NNZ_E_ENCODING)
                st = NNZ_OK; /* opened; that tensor alone will not decode */
        }
        if (st != NNZ_OK) {
            memset(b, 0, sizeof *b);
            return st;
        }
    }
    return NNZ_OK;
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
        if (parse_entry(b, i, &info, &params) == NNZ_OK && strcmp(info.name, name) == 0) {
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

/* ---- decoding ---------------------------------------------------------- */

/* Output element size for a tensor of `dtype` decoded as `out_type`. */
static unsigned out_elem_size(int dtype, int out_type)
{
    switch (out_type) {
    case NNZ_OUT_NATIVE: return dtype_size(dtype);
    case NNZ_OUT_F32:
    case NNZ_OUT_F16:
        if (dtype != DT_FLOAT && dtype != DT_FLOAT16 && dtype != DT_BFLOAT16)
            return 0;
        return out_type == NNZ_OUT_F32 ? 4 : 2;
    default: return 0;
    }
}

nnz_status nnz_decode_sizes(const nnz_blob *b, uint32_t index, int out_type,
                            size_t *out_size, size_t *scratch_size)
{
    nnz_tensor_info info;
    rd params;
    if (!b || !out_size || !scratch_size || !b->data)
        return NNZ_E_ARGUMENT;
    nnz_status st = parse_entry(b, index, &info, &params);
    if (st != NNZ_OK)
        return st;
    if ((st = check_encoding(&info, &params)) != NNZ_OK)
        return st;
    unsigned es = out_elem_size(info.dtype, out_type);
    if (es == 0)
        return NNZ_E_OUT_TYPE;
    if (info.count > (uint64_t)SIZE_MAX / es)
        return NNZ_E_OVERFLOW;
    *out_size = (size_t)info.count * es;
    *scratch_size = 0;
    return NNZ_OK;
}

/* Store element i of a float-typed decode. */
static void put_float(void *out, size_t i, int out_type, int dtype, float v)
{
    if (out_type == NNZ_OUT_NATIVE)
        out_type = dtype == DT_FLOAT ? NNZ_OUT_F32 : NNZ_OUT_F16;
    if (out_type == NNZ_OUT_F32) {
        memcpy((uint8_t *)out + 4 * i, &v, 4);
    } else {
        uint16_t hv = dtype == DT_BFLOAT16 && out_type != NNZ_OUT_F16 ? nnz_float_to_bf16(v)
                                                                      : nnz_float_to_half(v);
        memcpy((uint8_t *)out + 2 * i, &hv, 2);
    }
}

/* Read element i of raw little-endian data of a float type as float. */
static float get_raw_float(const uint8_t *p, size_t i, int dtype)
{
    if (dtype == DT_FLOAT)
        return bits_f32(le32(p + 4 * i));
    uint16_t h = (uint16_t)le16(p + 2 * i);
    return dtype == DT_FLOAT16 ? nnz_half_to_float(h) : nnz_bf16_to_float(h);
}

static nnz_status decode_raw(const nnz_blob *b, const nnz_tensor_info *info, int out_type,
                             void *out)
{
    const uint8_t *src = b->data + info->payload_offset;
    size_t n = (size_t)info->count;
    unsigned es = dtype_size(info->dtype);
    int bf16_as_half = info->dtype == DT_BFLOAT16 && out_type == NNZ_OUT_F16;
    if (out_type == NNZ_OUT_NATIVE || (out_type == NNZ_OUT_F32 && info->dtype == DT_FLOAT) ||
        (out_type == NNZ_OUT_F16 && info->dtype == DT_FLOAT16)) {
        memcpy(out, src, (size_t)info->decoded_size);
        if (!host_is_little_endian() && es > 1) {
            uint8_t *o = (uint8_t *)out;
            for (size_t i = 0; i < n; i++)
                for (unsigned k = 0; k < es / 2; k++) {
                    uint8_t t = o[i * es + k];
                    o[i * es + k] = o[i * es + es - 1 - k];
                    o[i * es + es - 1 - k] = t;
                }
        }
        return NNZ_OK;
    }
    for (size_t i = 0; i < n; i++)
        put_float(out, i, bf16_as_half ? NNZ_OUT_F16 : out_type, info->dtype,
                  get_raw_float(src, i, info->dtype));
    return NNZ_OK;
}

nnz_status nnz_decode(const nnz_blob *b, uint32_t index, int out_type, void *out,
                      size_t out_size, void *scratch, size_t scratch_size)
{
    nnz_tensor_info info;
    rd params;
    size_t need_out, need_scratch;
    if (!b || !b->data || (!out && out_size))
        return NNZ_E_ARGUMENT;
    nnz_status st = nnz_decode_sizes(b, index, out_type, &need_out, &need_scratch);
    if (st != NNZ_OK)
        return st;
    if (out_size < need_out)
        return NNZ_E_OUTPUT_SMALL;
    if (scratch_size < need_scratch || (need_scratch && !scratch))
        return NNZ_E_SCRATCH_SMALL;
    if ((st = parse_entry(b, index, &info, &params)) != NNZ_OK)
        return st;
    if (need_out == 0)
        return NNZ_OK;
    switch (info.encoding) {
    case NNZ_ENC_RAW:
        return decode_raw(b, &info, out_type, out);
    default:
        return NNZ_E_ENCODING;
    }
}

/* ---- rebuilding the model ---------------------------------------------- */

nnz_status nnz_rebuild_sizes(const nnz_blob *b, uint64_t *model_size, size_t *work_size)
{
    if (!b || !b->data || !model_size || !work_size)
        return NNZ_E_ARGUMENT;
    uint64_t total = b->graph_size;
    size_t work = 0;
    for (uint32_t i = 0; i < b->ntensors; i++) {
        nnz_tensor_info info;
        rd params;
        size_t out, scratch;
        nnz_status st = parse_entry(b, i, &info, &params);
        if (st == NNZ_OK)
            st = nnz_decode_sizes(b, i, NNZ_OUT_NATIVE, &out, &scratch);
        if (st != NNZ_OK)
            return st;
        if (info.decoded_size > UINT64_MAX - total)
            return NNZ_E_OVERFLOW;
        total += info.decoded_size;
        /* RAW bytes go straight from the blob; others through `work`. */
        int direct = info.encoding == NNZ_ENC_RAW && host_is_little_endian();
        size_t need = direct ? 0 : out + scratch;
        if (!direct && need < out)
            return NNZ_E_OVERFLOW;
        if (need > work)
            work = need;
    }
    *model_size = total;
    *work_size = work;
    return NNZ_OK;
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
    size_t pos = 0;
    for (uint32_t i = 0; i < b->ntensors; i++) {
        nnz_tensor_info info;
        rd params;
        if ((st = parse_entry(b, i, &info, &params)) != NNZ_OK)
            return st;
        size_t hole = (size_t)info.graph_offset;
        if (hole > pos && write(ctx, b->graph + pos, hole - pos) != 0)
            return NNZ_E_WRITE;
        pos = hole;
        if (info.decoded_size == 0)
            continue;
        if (info.encoding == NNZ_ENC_RAW && host_is_little_endian()) {
            if (write(ctx, b->data + info.payload_offset, (size_t)info.decoded_size) != 0)
                return NNZ_E_WRITE;
            continue;
        }
        size_t out, scratch;
        if ((st = nnz_decode_sizes(b, i, NNZ_OUT_NATIVE, &out, &scratch)) != NNZ_OK)
            return st;
        uint8_t *o = (uint8_t *)work;
        if ((st = nnz_decode(b, i, NNZ_OUT_NATIVE, o, out, o + out, scratch)) != NNZ_OK)
            return st;
        if (!host_is_little_endian()) { /* ONNX raw_data is little-endian */
            unsigned es = dtype_size(info.dtype);
            for (size_t k = 0; k < out; k += es)
                for (unsigned j = 0; j < es / 2; j++) {
                    uint8_t t = o[k + j];
                    o[k + j] = o[k + es - 1 - j];
                    o[k + es - 1 - j] = t;
                }
        }
        if (write(ctx, o, out) != 0)
            return NNZ_E_WRITE;
    }
    if (b->graph_size > pos && write(ctx, b->graph + pos, b->graph_size - pos) != 0)
        return NNZ_E_WRITE;
    return NNZ_OK;
}
