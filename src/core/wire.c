/* wire.c - see wire.h. */
#include "wire.h"

#include "nnz_limits.h"

/* Bytes malloc spends per allocation beyond what was asked, roughly. */
#define ALLOC_OVERHEAD 16u

int nnz_varint_read(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (*p >= end)
            return -1;
        uint8_t b = *(*p)++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

static size_t scalar_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE:
    case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_MESSAGE:
        return 8;
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return 4;
    }
}

typedef struct walk {
    uint64_t mem;
    nnz_error *e;
} walk;

static int check_message(walk *w, const uint8_t *p, const uint8_t *end,
                         const ProtobufCMessageDescriptor *desc, int depth)
{
    if (depth > NNZ_MAX_MESSAGE_DEPTH)
        return nnz_fail(w->e, NNZ_EXIT_INPUT,
                        "messages nested more than %d deep (limit; a real model "
                        "needs far fewer)", NNZ_MAX_MESSAGE_DEPTH);
    w->mem += desc->sizeof_message + ALLOC_OVERHEAD;
    const uint8_t *start = p;
    /* singular message fields seen: protobuf-c merges a repeat into the
     * first, copying again each time, so thousands of repeats take
     * quadratic time; no ONNX writer repeats one */
    uint64_t seen_once = 0;
    while (p < end) {
        size_t at = (size_t)(p - start);
        uint64_t tag;
        if (nnz_varint_read(&p, end, &tag) != 0)
            return nnz_fail(w->e, NNZ_EXIT_INPUT, "%s: truncated field tag at byte %zu",
                            desc->name, at);
        uint64_t num = tag >> 3;
        unsigned wt = (unsigned)(tag & 7);
        if (num == 0 || num > 536870911u)
            return nnz_fail(w->e, NNZ_EXIT_INPUT, "%s: invalid field number %llu at byte %zu",
                            desc->name, (unsigned long long)num, at);
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field(desc, (unsigned)num);
        uint64_t len = 0, v;
        switch (wt) {
        case 0:
            if (nnz_varint_read(&p, end, &v) != 0)
                return nnz_fail(w->e, NNZ_EXIT_INPUT, "%s: field %llu: invalid or truncated varint",
                                desc->name, (unsigned long long)num);
            break;
        case 1: case 5:
            len = wt == 1 ? 8 : 4;
            if ((uint64_t)(end - p) < len)
                return nnz_fail(w->e, NNZ_EXIT_INPUT, "%s: field %llu: truncated fixed-size value",
                                desc->name, (unsigned long long)num);
            p += len;
            break;
        case 2:
            if (nnz_varint_read(&p, end, &len) != 0)
                return nnz_fail(w->e, NNZ_EXIT_INPUT, "%s: field %llu: invalid or truncated length",
                                desc->name, (unsigned long long)num);
            if ((uint64_t)(end - p) < len)
                return nnz_fail(w->e, NNZ_EXIT_INPUT,
                                "%s: field %llu declares %llu bytes, only %zu remain",
                                desc->name, (unsigned long long)num,
                                (unsigned long long)len, (size_t)(end - p));
            break;
        default:
            return nnz_fail(w->e, NNZ_EXIT_INPUT,
                            "%s: field %llu uses wire type %u (groups or invalid), "
                            "which ONNX never uses", desc->name,
                            (unsigned long long)num, wt);
        }
        if (!f) { /* unknown: kept as a copy */
            w->mem += (wt == 2 ? len : 8) + sizeof(ProtobufCMessageUnknownField) + ALLOC_OVERHEAD;
            if (wt == 2)
                p += len;
            continue;
        }
        int repeated = f->label == PROTOBUF_C_LABEL_REPEATED;
        if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            size_t fi = (size_t)(f - desc->fields);
            if (!repeated && fi < 64) {
                if (seen_once >> fi & 1)
                    return nnz_fail(w->e, NNZ_EXIT_INPUT,
                                    "%s.%s appears more than once (a single message field; "
                                    "ONNX writers store it once)", desc->name, f->name);
                seen_once |= (uint64_t)1 << fi;
            }
            if (wt != 2)
                return nnz_fail(w->e, NNZ_EXIT_INPUT,
                                "%s.%s has wire type %u, expected a length-delimited message",
                                desc->name, f->name, wt);
            if (repeated)
                w->mem += sizeof(void *);
            if (check_message(w, p, p + len, f->descriptor, depth + 1) != 0)
                return -1; /* the innermost message names itself */
            p += len;
        } else if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_BYTES) {
            if (wt != 2)
                return nnz_fail(w->e, NNZ_EXIT_INPUT,
                                "%s.%s has wire type %u, expected length-delimited bytes",
                                desc->name, f->name, wt);
            w->mem += len + 1 + ALLOC_OVERHEAD + (repeated ? scalar_size(f->type) : 0);
            p += len;
        } else if (wt == 2) { /* a packed run of scalars */
            if (!repeated)
                return nnz_fail(w->e, NNZ_EXIT_INPUT,
                                "%s.%s is a single value but is stored as a packed run",
                                desc->name, f->name);
            uint64_t n = 0;
            size_t es = scalar_size(f->type);
            if (f->type == PROTOBUF_C_TYPE_FLOAT || f->type == PROTOBUF_C_TYPE_FIXED32 ||
                f->type == PROTOBUF_C_TYPE_SFIXED32)
                n = len / 4;
            else if (f->type == PROTOBUF_C_TYPE_DOUBLE || f->type == PROTOBUF_C_TYPE_FIXED64 ||
                     f->type == PROTOBUF_C_TYPE_SFIXED64)
                n = len / 8;
            else
                for (uint64_t i = 0; i < len; i++) /* one varint ends per clear top bit */
                    n += !(p[i] & 0x80);
            w->mem += n * es;
            p += len;
        } else {
            w->mem += scalar_size(f->type);
        }
    }
    return 0;
}

int nnz_wire_check(const uint8_t *buf, size_t len,
                   const ProtobufCMessageDescriptor *desc, uint64_t *mem,
                   nnz_error *e)
{
    walk w = { 0, e };
    if (check_message(&w, buf, buf + len, desc, 0) != 0)
        return -1;
    *mem = w.mem;
    return 0;
}
