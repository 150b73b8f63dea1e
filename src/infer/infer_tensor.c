/* infer_tensor.c - the interpreter's tensors: types, allocation, reading
 * TensorProto and .npy, writing them back. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer_int.h"

size_t nnz_it_esize(int dtype)
{
    switch (dtype) {
    case NNZ_DT_FLOAT: case NNZ_DT_FLOAT16: case NNZ_DT_BFLOAT16: case NNZ_DT_INT32:
        return 4;
    case NNZ_DT_INT64: case NNZ_DT_DOUBLE:
        return 8;
    case NNZ_DT_BOOL: case NNZ_DT_UINT8: case NNZ_DT_INT8:
        return 1;
    default:
        return 0;
    }
}

int nni_is_float(int dtype)
{
    return dtype == NNZ_DT_FLOAT || dtype == NNZ_DT_FLOAT16 || dtype == NNZ_DT_BFLOAT16;
}

int nni_is_int(int dtype)
{
    return dtype == NNZ_DT_INT64 || dtype == NNZ_DT_INT32 || dtype == NNZ_DT_INT8 ||
           dtype == NNZ_DT_UINT8 || dtype == NNZ_DT_BOOL;
}

size_t nni_shape_count(int nd, const int64_t *dims)
{
    size_t n = 1;
    for (int i = 0; i < nd; i++)
        n *= (size_t)dims[i];
    return n;
}

int nnz_it_alloc(nnz_itensor *t, int dtype, int ndims, const int64_t *dims, nnz_error *e)
{
    return nni_it_alloc(t, dtype, ndims, dims, 1, e);
}

int nni_it_alloc(nnz_itensor *t, int dtype, int ndims, const int64_t *dims, int zero, nnz_error *e)
{
    size_t es = nnz_it_esize(dtype);
    if (!es)
        return nnz_fail(e, NNZ_EXIT_INPUT, "tensors of type %s are not supported",
                        nnz_dtype_name(dtype));
    if (ndims < 0 || ndims > NNZ_MAX_DIMS)
        return nnz_fail(e, NNZ_EXIT_INPUT, "%d dims; the limit is %d", ndims, NNZ_MAX_DIMS);
    size_t count = 1;
    for (int i = 0; i < ndims; i++) {
        if (dims[i] < 0)
            return nnz_fail(e, NNZ_EXIT_INPUT, "dim %d is negative (%lld)", i,
                            (long long)dims[i]);
        if ((uint64_t)dims[i] > SIZE_MAX || nnz_mul_size(count, (size_t)dims[i], &count) != 0)
            return nnz_fail(e, NNZ_EXIT_INPUT, "the product of the dims overflows");
    }
    size_t bytes;
    if (nnz_mul_size(count, es, &bytes) != 0 || bytes > NNZ_MAX_TENSOR_BYTES)
        return nnz_fail(e, NNZ_EXIT_INPUT, "%zu elements of %zu bytes: over the limit of one tensor",
                        count, es);
    void *d = zero ? calloc(bytes ? bytes : 1, 1) : malloc(bytes ? bytes : 1);
    if (!d)
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory (%zu bytes)", bytes);
    t->dtype = dtype;
    t->ndims = ndims;
    for (int i = 0; i < ndims; i++)
        t->dims[i] = dims[i];
    t->count = count;
    t->data = d;
    t->bytes = bytes;
    t->borrowed = 0;
    return 0;
}

void nnz_it_free(nnz_itensor *t)
{
    if (!t->borrowed)
        free(t->data);
    t->data = NULL;
    t->bytes = 0;
    t->count = 0;
    t->borrowed = 0;
}

/* ---- half and bfloat16 ----------------------------------------------------- */

float nni_half_to_float(uint16_t h)
{
    uint32_t s = (uint32_t)(h >> 15) << 31, ex = (h >> 10) & 31, m = h & 1023, u;
    if (ex == 31)
        u = s | 0x7f800000u | (m << 13);
    else if (ex)
        u = s | ((ex + 112) << 23) | (m << 13);
    else if (m) {
        /* subnormal: normalise */
        int k = 0;
        while (!(m & 1024)) {
            m <<= 1;
            k++;
        }
        u = s | ((uint32_t)(113 - k) << 23) | ((m & 1023) << 13);
    } else
        u = s;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t nni_float_to_half(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t s = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u)
        return (uint16_t)(s | 0x7e00);            /* NaN */
    if (a >= 0x477ff000u)
        return (uint16_t)(s | 0x7c00);            /* rounds past the largest half */
    if (a < 0x38800000u) {                        /* subnormal or zero in half */
        if (a < 0x33000000u)
            return s;                             /* below half the smallest subnormal */
        /* half subnormal: units of 2^-24; the value is m * 2^(E-150) */
        uint32_t m = (a & 0x7fffff) | 0x800000, sh = 126 - (a >> 23);
        uint32_t q = m >> sh, rem = m & ((1u << sh) - 1), half = 1u << (sh - 1);
        if (rem > half || (rem == half && (q & 1)))
            q++;
        return (uint16_t)(s | q);
    }
    uint32_t r = a + 0xfff + ((a >> 13) & 1) - 0x38000000u;
    return (uint16_t)(s | (r >> 13));
}

float nni_half_round(float f)
{
    return nni_half_to_float(nni_float_to_half(f));
}

float nni_bf16_round(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        u |= 0x00400000u;
    else
        u += 0x7fff + ((u >> 16) & 1);
    u &= 0xffff0000u;
    memcpy(&f, &u, 4);
    return f;
}

void nni_round_to_type(nnz_itensor *t)
{
    float *f = t->data;
    if (t->dtype == NNZ_DT_FLOAT16)
        for (size_t i = 0; i < t->count; i++)
            f[i] = nni_half_round(f[i]);
    else if (t->dtype == NNZ_DT_BFLOAT16)
        for (size_t i = 0; i < t->count; i++)
            f[i] = nni_bf16_round(f[i]);
}

/* ---- element access ------------------------------------------------------- */

double nnz_it_get(const nnz_itensor *t, size_t i)
{
    switch (t->dtype) {
    case NNZ_DT_FLOAT: case NNZ_DT_FLOAT16: case NNZ_DT_BFLOAT16:
        return ((const float *)t->data)[i];
    case NNZ_DT_DOUBLE: return ((const double *)t->data)[i];
    case NNZ_DT_INT64: return (double)((const int64_t *)t->data)[i];
    case NNZ_DT_INT32: return ((const int32_t *)t->data)[i];
    case NNZ_DT_INT8: return ((const int8_t *)t->data)[i];
    case NNZ_DT_UINT8: case NNZ_DT_BOOL: return ((const uint8_t *)t->data)[i];
    default: return 0;
    }
}

int64_t nni_get_i64(const nnz_itensor *t, size_t i)
{
    switch (t->dtype) {
    case NNZ_DT_INT64: return ((const int64_t *)t->data)[i];
    case NNZ_DT_INT32: return ((const int32_t *)t->data)[i];
    case NNZ_DT_INT8: return ((const int8_t *)t->data)[i];
    case NNZ_DT_UINT8: case NNZ_DT_BOOL: return ((const uint8_t *)t->data)[i];
    default: {
        double v = nnz_it_get(t, i);
        if (!(v == v))
            return 0;
        if (v >= 9.2e18)
            return INT64_MAX;
        if (v <= -9.2e18)
            return INT64_MIN;
        return (int64_t)v;
    }
    }
}

void nni_set_i64(nnz_itensor *t, size_t i, int64_t v)
{
    switch (t->dtype) {
    case NNZ_DT_INT64: ((int64_t *)t->data)[i] = v; break;
    case NNZ_DT_INT32: ((int32_t *)t->data)[i] = (int32_t)(uint32_t)(uint64_t)v; break;
    case NNZ_DT_INT8: ((int8_t *)t->data)[i] = (int8_t)(uint8_t)(uint64_t)v; break;
    case NNZ_DT_UINT8: ((uint8_t *)t->data)[i] = (uint8_t)(uint64_t)v; break;
    case NNZ_DT_BOOL: ((uint8_t *)t->data)[i] = v != 0; break;
    default: nni_set(t, i, (double)v); break;
    }
}

/* Convert like a C cast, but defined for every value (NaN and out of range
 * go to 0 / the nearest end for int64). */
static int64_t to_i64(double v)
{
    if (!(v == v))
        return 0;
    if (v >= 9.2233720368547758e18)
        return INT64_MIN; /* what x86 gives; ORT matches the hardware */
    if (v < -9.2233720368547758e18)
        return INT64_MIN;
    return (int64_t)v;
}

void nni_set(nnz_itensor *t, size_t i, double v)
{
    switch (t->dtype) {
    case NNZ_DT_FLOAT: ((float *)t->data)[i] = (float)v; break;
    case NNZ_DT_FLOAT16: ((float *)t->data)[i] = nni_half_round((float)v); break;
    case NNZ_DT_BFLOAT16: ((float *)t->data)[i] = nni_bf16_round((float)v); break;
    case NNZ_DT_DOUBLE: ((double *)t->data)[i] = v; break;
    case NNZ_DT_BOOL: ((uint8_t *)t->data)[i] = v != 0; break;
    default: nni_set_i64(t, i, to_i64(v)); break;
    }
}

/* ---- TensorProto ------------------------------------------------------------ */

static uint64_t rd_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int nnz_it_from_proto(const Onnx__TensorProto *p, nnz_itensor *t, nnz_error *e)
{
    int dtype = p->has_data_type ? p->data_type : 0;
    if (!nnz_it_esize(dtype))
        return nnz_fail(e, NNZ_EXIT_INPUT, "tensors of type %s are not supported",
                        nnz_dtype_name(dtype));
    if (p->n_dims > NNZ_MAX_DIMS)
        return nnz_fail(e, NNZ_EXIT_INPUT, "%zu dims; the limit is %d", p->n_dims, NNZ_MAX_DIMS);
    if (p->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL || p->n_external_data)
        return nnz_fail(e, NNZ_EXIT_INPUT, "refers to external data here; not supported");
    memset(t, 0, sizeof *t);
    if (nnz_it_alloc(t, dtype, (int)p->n_dims, p->dims, e) != 0)
        return -1;
    size_t n = t->count, fsz = nnz_dtype_size(dtype);
    if (p->has_raw_data && p->raw_data.len) {
        if (p->raw_data.len != n * fsz) {
            nnz_it_free(t);
            return nnz_fail(e, NNZ_EXIT_INPUT, "raw_data has %zu bytes, its dims need %zu",
                            p->raw_data.len, n * fsz);
        }
        const uint8_t *r = p->raw_data.data;
        for (size_t i = 0; i < n; i++) {
            uint64_t u = rd_le(r + i * fsz, fsz);
            switch (dtype) {
            case NNZ_DT_FLOAT: { float f; uint32_t w = (uint32_t)u; memcpy(&f, &w, 4); ((float *)t->data)[i] = f; break; }
            case NNZ_DT_FLOAT16: ((float *)t->data)[i] = nni_half_to_float((uint16_t)u); break;
            case NNZ_DT_BFLOAT16: { float f; uint32_t w = (uint32_t)u << 16; memcpy(&f, &w, 4); ((float *)t->data)[i] = f; break; }
            case NNZ_DT_DOUBLE: { double d; memcpy(&d, &u, 8); ((double *)t->data)[i] = d; break; }
            case NNZ_DT_INT64: ((int64_t *)t->data)[i] = (int64_t)u; break;
            case NNZ_DT_INT32: ((int32_t *)t->data)[i] = (int32_t)(uint32_t)u; break;
            case NNZ_DT_INT8: ((int8_t *)t->data)[i] = (int8_t)(uint8_t)u; break;
            case NNZ_DT_BOOL: ((uint8_t *)t->data)[i] = u != 0; break;
            default: ((uint8_t *)t->data)[i] = (uint8_t)u; break;
            }
        }
        return 0;
    }
    size_t have;
    switch (dtype) {
    case NNZ_DT_FLOAT: have = p->n_float_data; break;
    case NNZ_DT_DOUBLE: have = p->n_double_data; break;
    case NNZ_DT_INT64: have = p->n_int64_data; break;
    default: have = p->n_int32_data; break;
    }
    if (have != n) {
        nnz_it_free(t);
        return nnz_fail(e, NNZ_EXIT_INPUT, "holds %zu values, its dims say %zu", have, n);
    }
    for (size_t i = 0; i < n; i++) {
        switch (dtype) {
        case NNZ_DT_FLOAT: ((float *)t->data)[i] = p->float_data[i]; break;
        case NNZ_DT_DOUBLE: ((double *)t->data)[i] = p->double_data[i]; break;
        case NNZ_DT_INT64: ((int64_t *)t->data)[i] = p->int64_data[i]; break;
        case NNZ_DT_FLOAT16: ((float *)t->data)[i] = nni_half_to_float((uint16_t)p->int32_data[i]); break;
        case NNZ_DT_BFLOAT16: { float f; uint32_t w = (uint32_t)p->int32_data[i] << 16; memcpy(&f, &w, 4); ((float *)t->data)[i] = f; break; }
        default: nni_set_i64(t, i, p->int32_data[i]); break;
        }
    }
    return 0;
}

/* Element i as little-endian bytes of its ONNX type. */
static void put_elem(const nnz_itensor *t, size_t i, uint8_t *o)
{
    uint64_t u = 0;
    size_t n = nnz_dtype_size(t->dtype);
    switch (t->dtype) {
    case NNZ_DT_FLOAT: { uint32_t w; memcpy(&w, (const float *)t->data + i, 4); u = w; break; }
    case NNZ_DT_FLOAT16: u = nni_float_to_half(((const float *)t->data)[i]); break;
    case NNZ_DT_BFLOAT16: { uint32_t w; memcpy(&w, (const float *)t->data + i, 4); u = w >> 16; break; }
    case NNZ_DT_DOUBLE: memcpy(&u, (const double *)t->data + i, 8); break;
    default: u = (uint64_t)nni_get_i64(t, i); break;
    }
    for (size_t k = 0; k < n; k++)
        o[k] = (uint8_t)(u >> (8 * k));
}

int nnz_it_to_pb(const nnz_itensor *t, const char *name, uint8_t **buf, size_t *len,
                 nnz_error *e)
{
    Onnx__TensorProto p = ONNX__TENSOR_PROTO__INIT;
    int64_t dims[NNZ_MAX_DIMS];
    for (int i = 0; i < t->ndims; i++)
        dims[i] = t->dims[i];
    p.n_dims = (size_t)t->ndims;
    p.dims = dims;
    p.has_data_type = 1;
    p.data_type = t->dtype;
    p.name = (char *)name;
    size_t es = nnz_dtype_size(t->dtype), raw_len;
    if (nnz_mul_size(t->count, es, &raw_len) != 0)
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "tensor too large");
    uint8_t *raw = malloc(raw_len ? raw_len : 1);
    if (!raw)
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory");
    for (size_t i = 0; i < t->count; i++)
        put_elem(t, i, raw + i * es);
    p.has_raw_data = 1;
    p.raw_data.data = raw;
    p.raw_data.len = raw_len;
    size_t n = onnx__tensor_proto__get_packed_size(&p);
    uint8_t *out = malloc(n ? n : 1);
    if (!out) {
        free(raw);
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory");
    }
    onnx__tensor_proto__pack(&p, out);
    free(raw);
    *buf = out;
    *len = n;
    return 0;
}

/* ---- .npy ---------------------------------------------------------------------- */

static const struct { const char *descr; int dtype; } npy_types[] = {
    { "<f4", NNZ_DT_FLOAT }, { "<f2", NNZ_DT_FLOAT16 }, { "<f8", NNZ_DT_DOUBLE },
    { "<i8", NNZ_DT_INT64 }, { "<i4", NNZ_DT_INT32 }, { "|i1", NNZ_DT_INT8 },
    { "|u1", NNZ_DT_UINT8 }, { "|b1", NNZ_DT_BOOL },
};

int nnz_it_from_npy(const uint8_t *d, size_t len, nnz_itensor *t, nnz_error *e)
{
    if (len < 10 || memcmp(d, "\x93NUMPY", 6) != 0)
        return nnz_fail(e, NNZ_EXIT_INPUT, "not a .npy file (no \\x93NUMPY magic)");
    size_t hl, off;
    if (d[6] == 1) {
        hl = (size_t)d[8] | ((size_t)d[9] << 8);
        off = 10;
    } else if (d[6] == 2 || d[6] == 3) {
        if (len < 12)
            return nnz_fail(e, NNZ_EXIT_INPUT, ".npy header is truncated");
        hl = (size_t)rd_le(d + 8, 4);
        off = 12;
    } else
        return nnz_fail(e, NNZ_EXIT_INPUT, ".npy version %d is not supported (1, 2, 3 are)", d[6]);
    if (hl > len - off || hl > 65536)
        return nnz_fail(e, NNZ_EXIT_INPUT, ".npy header length %zu is past the file end", hl);
    char h[65537];
    memcpy(h, d + off, hl);
    h[hl] = 0;
    const char *ds = strstr(h, "'descr'"), *fo = strstr(h, "'fortran_order'"),
               *sh = strstr(h, "'shape'");
    if (!ds || !fo || !sh)
        return nnz_fail(e, NNZ_EXIT_INPUT, ".npy header lacks descr, fortran_order or shape");
    int dtype = 0;
    const char *q = strchr(ds + 7, '\'');
    for (size_t i = 0; q && i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (strncmp(q + 1, npy_types[i].descr, 3) == 0 && q[4] == '\'')
            dtype = npy_types[i].dtype;
    if (q && strncmp(q + 1, "<b1", 3) == 0)
        dtype = NNZ_DT_BOOL;
    if (!dtype)
        return nnz_fail(e, NNZ_EXIT_INPUT, ".npy dtype is not one of f4 f2 f8 i8 i4 i1 u1 b1 (little-endian)");
    if (strstr(fo, "True"))
        return nnz_fail(e, NNZ_EXIT_INPUT, ".npy in Fortran order is not supported");
    const char *s = strchr(sh, '(');
    if (!s)
        return nnz_fail(e, NNZ_EXIT_INPUT, ".npy shape is not a tuple");
    int64_t dims[NNZ_MAX_DIMS];
    int nd = 0;
    s++;
    while (*s && *s != ')') {
        while (*s == ' ' || *s == ',')
            s++;
        if (*s == ')')
            break;
        char *end;
        long long v = strtoll(s, &end, 10);
        if (end == s || v < 0)
            return nnz_fail(e, NNZ_EXIT_INPUT, ".npy shape is not a tuple of sizes");
        if (nd >= NNZ_MAX_DIMS)
            return nnz_fail(e, NNZ_EXIT_INPUT, ".npy has more than %d dims", NNZ_MAX_DIMS);
        dims[nd++] = v;
        s = end;
    }
    /* the shape must match the bytes there are before anything is allocated */
    size_t es = nnz_dtype_size(dtype), body = len - off - hl, count = 1;
    for (int i = 0; i < nd; i++)
        if (nnz_mul_size(count, (size_t)dims[i], &count) != 0 || count > body / es)
            return nnz_fail(e, NNZ_EXIT_INPUT, ".npy shape needs more than its %zu bytes of data", body);
    if (body != count * es)
        return nnz_fail(e, NNZ_EXIT_INPUT, ".npy data has %zu bytes, its shape needs %zu", body,
                        count * es);
    memset(t, 0, sizeof *t);
    if (nnz_it_alloc(t, dtype, nd, dims, e) != 0)
        return -1;
    const uint8_t *r = d + off + hl;
    for (size_t i = 0; i < t->count; i++) {
        uint64_t u = rd_le(r + i * es, es);
        switch (dtype) {
        case NNZ_DT_FLOAT: { float f; uint32_t w = (uint32_t)u; memcpy(&f, &w, 4); ((float *)t->data)[i] = f; break; }
        case NNZ_DT_FLOAT16: ((float *)t->data)[i] = nni_half_to_float((uint16_t)u); break;
        case NNZ_DT_DOUBLE: { double x; memcpy(&x, &u, 8); ((double *)t->data)[i] = x; break; }
        case NNZ_DT_INT64: ((int64_t *)t->data)[i] = (int64_t)u; break;
        case NNZ_DT_INT32: ((int32_t *)t->data)[i] = (int32_t)(uint32_t)u; break;
        case NNZ_DT_INT8: ((int8_t *)t->data)[i] = (int8_t)(uint8_t)u; break;
        default: ((uint8_t *)t->data)[i] = (uint8_t)(dtype == NNZ_DT_BOOL ? u != 0 : u); break;
        }
    }
    return 0;
}

int nnz_it_to_npy(const nnz_itensor *t, uint8_t **buf, size_t *len, nnz_error *e)
{
    const char *descr = NULL;
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (npy_types[i].dtype == t->dtype)
            descr = npy_types[i].descr;
    if (!descr)
        return nnz_fail(e, NNZ_EXIT_INPUT, "type %s cannot be written as .npy",
                        nnz_dtype_name(t->dtype));
    char h[1024], shape[900] = "";
    size_t sl = 0;
    for (int i = 0; i < t->ndims; i++)
        sl += (size_t)snprintf(shape + sl, sizeof shape - sl, "%lld%s", (long long)t->dims[i],
                               t->ndims == 1 ? "," : (i + 1 < t->ndims ? ", " : ""));
    int n = snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                     descr, shape);
    size_t hl = (size_t)n + 1, pad = (64 - (10 + hl) % 64) % 64;
    size_t es = nnz_dtype_size(t->dtype), total = 10 + hl + pad + t->count * es;
    uint8_t *o = malloc(total);
    if (!o)
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory");
    memcpy(o, "\x93NUMPY\x01\x00", 8);
    o[8] = (uint8_t)((hl + pad) & 255);
    o[9] = (uint8_t)((hl + pad) >> 8);
    memcpy(o + 10, h, (size_t)n);
    memset(o + 10 + n, ' ', pad);
    o[10 + n + pad] = '\n';
    for (size_t i = 0; i < t->count; i++)
        put_elem(t, i, o + 10 + hl + pad + i * es);
    *buf = o;
    *len = total;
    return 0;
}
