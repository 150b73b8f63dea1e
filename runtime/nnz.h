/* nnz.h - the nnzip decoder runtime: reads .nnz blobs on the device.
 *
 * Two files, nnz.h and nnz.c, are all an app copies (runtime/README.md).
 * C99; no malloc, no globals, no I/O; depends on <stdint.h>, <stddef.h>
 * and <string.h> only.
 *
 * Safety contract. The blob is untrusted: every offset, length, count and
 * product read from it is checked before use, and a bad blob makes a
 * function return a negative status, never read or write out of bounds.
 * The caller owns all memory: the blob is a read-only view that must stay
 * valid and unchanged while an nnz_blob refers to it; decoding writes into
 * buffers the caller passes with their sizes. Functions are reentrant: two
 * threads may decode from one opened blob at once with separate scratch.
 *
 * The format is specified byte by byte in docs/FORMAT.md. */
#ifndef NNZ_H
#define NNZ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* This runtime's version, and the blob format it writes and reads. A blob
 * with a newer major format version is refused (NNZ_E_VERSION); minor
 * versions only add encodings and sections, so any minor is opened and a
 * tensor with an encoding this runtime lacks says NNZ_E_ENCODING. */
#define NNZ_RUNTIME_VERSION "0.1.0"
#define NNZ_FORMAT_MAJOR 1
#define NNZ_FORMAT_MINOR 0

#define NNZ_MAX_DIMS 32

/* Status codes: 0 ok, negative errors. Values never change once released.
 * X(name, value, message) */
#define NNZ_STATUS_LIST(X)                                                        \
    X(NNZ_OK, 0, "ok")                                                            \
    /* the blob is bad */                                                         \
    X(NNZ_E_TRUNCATED, -1, "blob is truncated")                                   \
    X(NNZ_E_MAGIC, -2, "not an .nnz blob (bad magic)")                            \
    X(NNZ_E_VERSION, -3, "blob format version is newer than this runtime")       \
    X(NNZ_E_CHECKSUM, -4, "checksum mismatch: the blob is corrupt")               \
    X(NNZ_E_CORRUPT, -5, "blob is malformed (a field is out of range)")           \
    X(NNZ_E_ENCODING, -6, "tensor uses an encoding this runtime does not know")   \
    X(NNZ_E_OVERFLOW, -7, "a size in the blob overflows")                         \
    /* the caller is wrong */                                                     \
    X(NNZ_E_ARGUMENT, -20, "invalid argument")                                    \
    X(NNZ_E_INDEX, -21, "tensor index out of range")                              \
    X(NNZ_E_NOT_FOUND, -22, "no tensor with that name")                           \
    X(NNZ_E_OUTPUT_SMALL, -23, "output buffer too small")                         \
    X(NNZ_E_SCRATCH_SMALL, -24, "scratch buffer too small")                       \
    X(NNZ_E_OUT_TYPE, -25, "tensor cannot be decoded to that output type")        \
    X(NNZ_E_WRITE, -26, "the write callback reported an error")

typedef enum nnz_status {
#define NNZ_X_ENUM(name, value, msg) name = value,
    NNZ_STATUS_LIST(NNZ_X_ENUM)
#undef NNZ_X_ENUM
    NNZ_STATUS_END_ = 1
} nnz_status;

/* A short English message for a status; never NULL. */
const char *nnz_strerror(int status);

/* Output element types for nnz_decode. */
enum {
    NNZ_OUT_NATIVE = 0,  /* the tensor's own ONNX type (info.dtype) */
    NNZ_OUT_F32 = 1,     /* float32, for float16/bfloat16/float tensors */
    NNZ_OUT_F16 = 2      /* IEEE half, round to nearest even */
};

/* Where a tensor goes back in the model. */
enum {
    NNZ_LOC_INITIALIZER = 0,
    NNZ_LOC_CONSTANT = 1,
    NNZ_LOC_SUBGRAPH = 0x80  /* flag: inside an If/Loop/Scan body */
};

/* nnz_open flags. */
enum {
    /* Skip the payload section's CRC at open (for large memory-mapped
     * blobs). Every bound is still checked; corrupt payload bytes then give
     * wrong weights instead of NNZ_E_CHECKSUM. */
    NNZ_OPEN_SKIP_PAYLOAD_CRC = 1
};

/* An opened blob: a checked view of the caller's bytes. Treat as opaque. */
typedef struct nnz_blob {
    const uint8_t *data;
    size_t size;
    uint16_t major, minor;
    uint32_t ntensors;
    const uint8_t *dir;     /* directory section */
    size_t dir_size;
    const uint8_t *graph;   /* graph section */
    size_t graph_size;
    const uint8_t *payload; /* payload section */
    size_t payload_size;
    const uint8_t *meta;    /* metadata section (may be NULL) */
    size_t meta_size;
} nnz_blob;

typedef struct nnz_tensor_info {
    const char *name;        /* NUL-terminated, inside the blob */
    int dtype;               /* ONNX TensorProto.DataType of the decoded data */
    int ndims;
    uint64_t dims[NNZ_MAX_DIMS];
    uint64_t count;          /* elements */
    uint64_t decoded_size;   /* bytes of NNZ_OUT_NATIVE output */
    int location;            /* NNZ_LOC_* */
    int encoding;            /* NNZ_ENC_* */
    int encoding_version;
    uint64_t payload_offset; /* from the start of the blob */
    uint64_t payload_size;
    uint64_t graph_offset;   /* where its bytes go in the rebuilt graph */
} nnz_tensor_info;

/* Tensor encodings: append-only; a retired id stays reserved. Each carries
 * its own version byte (docs/FORMAT.md). */
enum {
    NNZ_ENC_RAW = 0          /* the decoded bytes as stored */
};

/* Open a blob: checks the header, section table, directory, graph and (by
 * default) every checksum. */
nnz_status nnz_open(nnz_blob *blob, const void *data, size_t size, unsigned flags);

/* Number of tensors. */
uint32_t nnz_tensor_count(const nnz_blob *blob);

/* Describe tensor `index` (0 <= index < count). */
nnz_status nnz_tensor_info_get(const nnz_blob *blob, uint32_t index, nnz_tensor_info *info);

/* Find a tensor by its NUL-terminated name. */
nnz_status nnz_find(const nnz_blob *blob, const char *name, uint32_t *index);

/* Bytes of output for `out_type`, and of scratch, that decoding needs. */
nnz_status nnz_decode_sizes(const nnz_blob *blob, uint32_t index, int out_type,
                            size_t *out_size, size_t *scratch_size);

/* Decode tensor `index` into `out` (`out_size` bytes, at least what
 * nnz_decode_sizes says) using `scratch`. */
nnz_status nnz_decode(const nnz_blob *blob, uint32_t index, int out_type, void *out,
                      size_t out_size, void *scratch, size_t scratch_size);

/* The metadata section: UTF-8 JSON written by the tool (may be empty). */
nnz_status nnz_metadata(const nnz_blob *blob, const char **text, size_t *size);

/* ---- rebuilding the ONNX model ----------------------------------------- */

/* Receives the rebuilt model in order; return 0 to go on, non-zero to stop
 * (nnz_rebuild then returns NNZ_E_WRITE). */
typedef int (*nnz_write_fn)(void *ctx, const void *data, size_t size);

/* Bytes of the rebuilt ONNX model, and of work memory nnz_rebuild needs. */
nnz_status nnz_rebuild_sizes(const nnz_blob *blob, uint64_t *model_size,
                             size_t *work_size);

/* Stream the complete ONNX model (graph with every tensor decoded to its
 * native type) through `write`. */
nnz_status nnz_rebuild(const nnz_blob *blob, nnz_write_fn write, void *ctx, void *work,
                       size_t work_size);

/* ---- helpers the tool shares with the runtime -------------------------- */

/* CRC-32 (ISO-HDLC, as zlib): crc = nnz_crc32(0, p, n), chainable. */
uint32_t nnz_crc32(uint32_t crc, const void *data, size_t size);

/* IEEE half and bfloat16 <-> float, round to nearest even; overflow goes
 * to infinity as IEEE says (the tool clamps before it calls these). */
float nnz_half_to_float(uint16_t h);
uint16_t nnz_float_to_half(float f);
float nnz_bf16_to_float(uint16_t h);
uint16_t nnz_float_to_bf16(float f);

#ifdef __cplusplus
}
#endif

#endif
