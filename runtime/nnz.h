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
 * with a newer major format version is refused (NNZ_E_VERSION); every
 * older major (1: a 4-byte directory slot per entry, format 2: compact
 * entries, docs/FORMAT.md) is read. Minor versions only add encodings and
 * sections, so any minor is opened and a tensor with an encoding this
 * runtime lacks says NNZ_E_ENCODING. */
#define NNZ_RUNTIME_VERSION "0.1.0"
#define NNZ_FORMAT_MAJOR 2
#define NNZ_FORMAT_MINOR 1

#define NNZ_MAX_DIMS 32

/* Status codes: 0 ok, negative errors. Values never change once released.
 * X(name, value, message) */
#define NNZ_STATUS_LIST(X)                                                        \
    X(NNZ_OK, 0, "ok")                                                            \
    /* the blob is bad */                                                         \
    X(NNZ_E_TRUNCATED, -1, "blob truncated")                                      \
    X(NNZ_E_MAGIC, -2, "not an nnz blob")                                         \
    X(NNZ_E_VERSION, -3, "newer blob format")                                     \
    X(NNZ_E_CHECKSUM, -4, "checksum mismatch")                                    \
    X(NNZ_E_CORRUPT, -5, "malformed blob")                                        \
    X(NNZ_E_ENCODING, -6, "unknown encoding")                                     \
    X(NNZ_E_OVERFLOW, -7, "size overflow")                                        \
    X(NNZ_E_UNSUPPORTED, -8, "feature not built")                                 \
    /* the caller is wrong */                                                     \
    X(NNZ_E_ARGUMENT, -20, "bad argument")                                        \
    X(NNZ_E_INDEX, -21, "index out of range")                                     \
    X(NNZ_E_NOT_FOUND, -22, "no such tensor")                                     \
    X(NNZ_E_OUTPUT_SMALL, -23, "output too small")                                \
    X(NNZ_E_SCRATCH_SMALL, -24, "scratch too small")                              \
    X(NNZ_E_OUT_TYPE, -25, "bad output type")                                     \
    X(NNZ_E_WRITE, -26, "write failed")

typedef enum nnz_status {
#define NNZ_X_ENUM(name, value, msg) name = value,
    NNZ_STATUS_LIST(NNZ_X_ENUM)
#undef NNZ_X_ENUM
    NNZ_STATUS_END_ = 1
} nnz_status;

/* A short English message for a status; never NULL. Terse on purpose:
 * each byte is flash on a small device. docs/embedding.md explains each. */
const char *nnz_strerror(int status);

/* Output element types for nnz_decode. */
enum {
    NNZ_OUT_NATIVE = 0,  /* the tensor's own ONNX type (info.dtype) */
    NNZ_OUT_F32 = 1,     /* float32, for float16/bfloat16/float tensors */
    NNZ_OUT_F16 = 2,     /* IEEE half, round to nearest even */
    NNZ_OUT_I8 = 3,      /* affine tensors of at most 8 bits: int8 symbol - zero point,
                            to multiply by the channel's scale (nnz_value_map_get) */
    NNZ_OUT_I4 = 4,      /* affine tensors whose symbol - zero point fits -8..7 (4-bit
                            symmetric: zero point 8): signed int4, two per byte, element
                            2i in the low nibble of byte i, 2i+1 in the high one (CMSIS-NN's
                            int4 layout); an odd count leaves the last high nibble 0 */
    /* OR'ed into out_type of nnz_decode, nnz_decode_block or nnz_reader_open:
     * `scratch` holds what the last such call with this blob left there,
     * unchanged since (never pass it on the first call with a scratch). A
     * Huffman table shared between tensors (NNZ_CODING_SHARED) that the
     * last call built there is then used again, not built anew. */
    NNZ_OUT_KEEP = 0x100
};

/* Where a tensor goes back in the model. */
enum {
    NNZ_LOC_INITIALIZER = 0,
    NNZ_LOC_CONSTANT = 1,
    NNZ_LOC_EXTERNAL = 0x40, /* flag: its bytes go to the model's external data file,
                                at graph_offset there, not into the graph */
    NNZ_LOC_SUBGRAPH = 0x80, /* flag: inside an If/Loop/Scan body */
    NNZ_LOC_GRAPH_DESCRIBED = 0x20 /* format 2 directory flag: name, type and shape are
                                      the graph's TensorProto fields before the bytes
                                      (never set in nnz_tensor_info.location) */
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
    const uint8_t *graph;   /* graph section; NULL when it is compressed */
    size_t graph_size;      /* its bytes (expanded, when compressed) */
    const uint8_t *graph_packed; /* compressed graph section (format 2.1), or NULL:
                                    nnz_graph_get expands it */
    size_t graph_packed_size;
    const uint8_t *payload; /* payload section */
    size_t payload_size;
    uint32_t payload_crc;   /* its CRC-32 as the table states it */
    const uint8_t *meta;    /* metadata section (may be NULL) */
    size_t meta_size;
    const uint8_t *names;   /* names section (format 1.2; may be NULL) */
    size_t names_size;
    /* after a failed nnz_open: where the check failed (NNZ_AT_*) and which
     * section (table index) or tensor (directory index) */
    uint32_t fail_at, fail_index;
} nnz_blob;

/* Where a failed nnz_open found the blob bad. */
enum { NNZ_AT_HEADER = 0, NNZ_AT_SECTION = 1, NNZ_AT_DIRECTORY = 2, NNZ_AT_TENSOR = 3 };

typedef struct nnz_tensor_info {
    const char *name;        /* NUL-terminated, inside the blob: the directory's copy,
                                or "" when the blob keeps the name in its graph
                                only (format 1.2 names section): see name_bytes */
    const char *name_bytes;  /* the name, name_len bytes (not NUL-terminated),
                                wherever the blob keeps it */
    size_t name_len;
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
    uint64_t block_elems;    /* elements per block (nnz_decode_block) */
    uint64_t nblocks;        /* blocks; the last may be shorter */
    uint32_t alias_of;       /* NNZ_ENC_ALIAS: the earlier tensor whose values these are */
} nnz_tensor_info;

/* Tensor encodings: append-only; a retired id stays reserved. Each carries
 * its own version byte (docs/FORMAT.md). */
enum {
    NNZ_ENC_RAW = 0,         /* the decoded bytes as stored */
    NNZ_ENC_DENSE = 1,       /* a symbol per element through a value map */
    NNZ_ENC_SPARSE = 2,      /* positions and symbols of the non-zero elements */
    NNZ_ENC_HASHED = 3,      /* K bucket symbols shared through a hash */
    NNZ_ENC_GRAPH = 4,       /* raw bytes left in the graph section, at graph_offset
                                (a tensor too small for a payload of its own; format 1.1) */
    NNZ_ENC_ALIAS = 5,       /* the values of an earlier tensor (alias_of), decoded again
                                from its payload: a repeated tensor stored once (1.2) */
    NNZ_ENC_INLINE = 6       /* raw bytes held in the directory entry as its parameters
                                (format 2.1: the small tensors of a blob whose graph is
                                compressed) */
};

/* Value maps of the dense, sparse and hashed encodings. */
enum {
    NNZ_VAL_F32 = 0,         /* symbol = IEEE float32 bits */
    NNZ_VAL_F16 = 1,         /* symbol = IEEE half bits */
    NNZ_VAL_BF16 = 2,        /* symbol = bfloat16 bits */
    NNZ_VAL_AFFINE = 3,      /* scale[c] * (symbol - zero_point[c]) */
    NNZ_VAL_CODEBOOK = 4,    /* codebook[symbol] */
    NNZ_VAL_INT = 5,         /* symbol - offset, an integer tensor */
    NNZ_VAL_AFFINE_LOG = 6   /* affine, each channel's scale a code on a log grid
                                (encoding version 3: a byte each; 4 and 5: packed):
                                nnz_scale_code, nnz_log_scale */
};
/* The encoding version of dense, sparse and hashed tensors that format 2's
 * writer uses (docs/FORMAT.md): parameters in fewer bytes, scale codes of
 * any span. */
#define NNZ_ENC_VERSION_COMPACT 5
/* The version that adds stream codings 5 and 6 (a Huffman table shared
 * with an earlier tensor); the writer uses it only for tensors that use
 * them (docs/FORMAT.md). */
#define NNZ_ENC_VERSION_SHARED 6

/* Symbol stream codings. */
enum {
    NNZ_CODING_PACKED = 0,       /* fixed width */
    NNZ_CODING_HUFFMAN = 1,          /* Huffman: list table, one lane */
    NNZ_CODING_HUFFMAN_GAMMA = 2,    /* gamma-coded table, one lane (encoding version 2) */
    NNZ_CODING_HUFFMAN_X4 = 3,       /* list table, four lanes per block (version 2) */
    NNZ_CODING_HUFFMAN_GAMMA_X4 = 4, /* gamma-coded table, four lanes (version 2) */
    NNZ_CODING_SHARED = 5,           /* Huffman, the table of another tensor's stream,
                                        one lane (version 6) */
    NNZ_CODING_SHARED_X4 = 6         /* the same, four lanes (version 6) */
};
/* Huffman codings 2 and 4 have gamma tables; 3 and 4 have four lanes. */

/* How a dense, sparse or hashed tensor maps symbols to values: what an app
 * running integer kernels needs beside NNZ_OUT_I8 codes. Pointers are into
 * the blob; arrays are little-endian. */
typedef struct nnz_value_map {
    int kind;                    /* NNZ_VAL_*, or -1 for a raw tensor */
    unsigned width;              /* bits of a symbol */
    uint64_t nchan, inner;       /* affine: element i is in channel (i / inner) % nchan */
    const uint8_t *scales;       /* affine: nchan float32; affine-log: nchan codes of
                                    scale_bits bits, channel c's scale
                                    nnz_log_scale(nnz_scale_code(map, c), scale_exp) */
    int scale_exp;               /* affine-log: the tensor's exponent base */
    const uint8_t *zero_points;  /* affine: channel c's uint32 at c * 4, or NULL when
                                    every channel's is zero_point */
    unsigned zero_point_stride;  /* 4, or 0 when every channel shares zero_point */
    uint32_t zero_point;         /* affine: the zero point every channel shares */
    uint64_t ncodebook;          /* codebook: entries */
    const uint8_t *codebook;     /* codebook: ncodebook float32 */
    uint64_t int_offset;         /* integer: value = symbol - offset */
    unsigned scale_bits;         /* affine-log: bits of a packed code (0..12; 8: a byte each) */
    uint32_t scale_base;         /* affine-log: added to every packed code */
} nnz_value_map;

/* Huffman decoding: codes of at most NNZ_HUFF_MAX_LEN bits; one lookup in
 * a table of 2^NNZ_HUFF_FAST_BITS four-byte entries per stream (8 KiB at
 * 11; only as many as the longest code needs on 32-bit builds and for
 * one-lane streams) decodes
 * every code that short, longer ones take a short search. A device short
 * of RAM may build with a smaller NNZ_HUFF_FAST_BITS (8..11): nnz_decode_sizes
 * then asks for less scratch. runtime/README.md lists the other build
 * options (NNZ_BITBUF_BITS, NNZ_FAST). */
#define NNZ_HUFF_MAX_LEN 16
#ifndef NNZ_HUFF_FAST_BITS
#define NNZ_HUFF_FAST_BITS 11
#endif

/* Features a build may leave out (runtime/README.md): define NNZ_NO_SPARSE,
 * NNZ_NO_HASHED, NNZ_NO_CODEBOOK, NNZ_NO_HUFFMAN, NNZ_NO_ALIAS or NNZ_NO_SHARED for nnz.c and every file
 * that includes nnz.h. A tensor that needs a feature left out opens, and
 * decoding it returns NNZ_E_UNSUPPORTED; nnz_tensor_features says which.
 * NNZ_NO_REBUILD leaves out nnz_rebuild* and nnz_graph_*, NNZ_NO_READER
 * nnz_reader_* (and needs NNZ_NO_REBUILD, which decodes through a reader).
 * NNZ_NO_GRAPH_CODEC leaves out expanding a compressed graph section (a
 * blob-wide feature, NNZ_FEAT_GRAPH_CODEC: such a blob opens and its
 * tensors decode; nnz_rebuild and nnz_graph_get say NNZ_E_UNSUPPORTED);
 * so do NNZ_NO_REBUILD and NNZ_NO_HUFFMAN (its streams are Huffman-coded). */
enum {
    NNZ_FEAT_SPARSE = 1,   /* encoding sparse */
    NNZ_FEAT_HASHED = 2,   /* encoding hashed */
    NNZ_FEAT_CODEBOOK = 4, /* value map codebook */
    NNZ_FEAT_HUFFMAN = 8,  /* a Huffman-coded stream (codings 1..4) */
    NNZ_FEAT_ALIAS = 16,   /* encoding alias (then also what its tensor needs) */
    NNZ_FEAT_GRAPH_CODEC = 32, /* a compressed graph section (the blob's, not a tensor's) */
    NNZ_FEAT_SHARED = 64   /* a stream coded with another tensor's Huffman table */
};
#ifdef NNZ_NO_SPARSE
#define NNZ_BUILT_SPARSE_ 0
#else
#define NNZ_BUILT_SPARSE_ NNZ_FEAT_SPARSE
#endif
#ifdef NNZ_NO_HASHED
#define NNZ_BUILT_HASHED_ 0
#else
#define NNZ_BUILT_HASHED_ NNZ_FEAT_HASHED
#endif
#ifdef NNZ_NO_CODEBOOK
#define NNZ_BUILT_CODEBOOK_ 0
#else
#define NNZ_BUILT_CODEBOOK_ NNZ_FEAT_CODEBOOK
#endif
#ifdef NNZ_NO_HUFFMAN
#define NNZ_BUILT_HUFFMAN_ 0
#else
#define NNZ_BUILT_HUFFMAN_ NNZ_FEAT_HUFFMAN
#endif
#ifdef NNZ_NO_ALIAS
#define NNZ_BUILT_ALIAS_ 0
#else
#define NNZ_BUILT_ALIAS_ NNZ_FEAT_ALIAS
#endif
#if defined(NNZ_NO_GRAPH_CODEC) || defined(NNZ_NO_REBUILD) || defined(NNZ_NO_HUFFMAN)
#define NNZ_BUILT_GRAPH_CODEC_ 0
#else
#define NNZ_BUILT_GRAPH_CODEC_ NNZ_FEAT_GRAPH_CODEC
#endif
#if defined(NNZ_NO_SHARED) || defined(NNZ_NO_HUFFMAN)
#define NNZ_BUILT_SHARED_ 0
#else
#define NNZ_BUILT_SHARED_ NNZ_FEAT_SHARED
#endif
/* The NNZ_FEAT_* this build decodes. */
#define NNZ_FEATURES_BUILT                                                           \
    (NNZ_BUILT_SPARSE_ | NNZ_BUILT_HASHED_ | NNZ_BUILT_CODEBOOK_ | NNZ_BUILT_HUFFMAN_ | \
     NNZ_BUILT_ALIAS_ | NNZ_BUILT_GRAPH_CODEC_ | NNZ_BUILT_SHARED_)
#if defined(NNZ_NO_READER) && !defined(NNZ_NO_REBUILD)
#error "NNZ_NO_READER needs NNZ_NO_REBUILD: nnz_rebuild decodes through a reader"
#endif

/* Open a blob: checks the header, section table, directory, graph and (by
 * default) every checksum. */
nnz_status nnz_open(nnz_blob *blob, const void *data, size_t size, unsigned flags);

/* Number of tensors. */
uint32_t nnz_tensor_count(const nnz_blob *blob);

/* Describe tensor `index` (0 <= index < count). */
nnz_status nnz_tensor_info_get(const nnz_blob *blob, uint32_t index, nnz_tensor_info *info);

/* Find a tensor by its NUL-terminated name. */
nnz_status nnz_find(const nnz_blob *blob, const char *name, uint32_t *index);

/* The NNZ_FEAT_* tensor `index` needs (0 for raw, packed dense affine,
 * integer and float-bits tensors), whether or not this build has them; a
 * build without the tensor's encoding or value map names that one and may
 * leave out NNZ_FEAT_HUFFMAN (it reads no further: runtime/README.md). */
nnz_status nnz_tensor_features(const nnz_blob *blob, uint32_t index, unsigned *features);

/* Bytes of output for `out_type`, and of scratch, that decoding needs. */
nnz_status nnz_decode_sizes(const nnz_blob *blob, uint32_t index, int out_type,
                            size_t *out_size, size_t *scratch_size);

/* Decode tensor `index` into `out` (`out_size` bytes, at least what
 * nnz_decode_sizes says) using `scratch`. */
nnz_status nnz_decode(const nnz_blob *blob, uint32_t index, int out_type, void *out,
                      size_t out_size, void *scratch, size_t scratch_size);

/* The value map of tensor `index` (kind -1 for raw tensors). */
nnz_status nnz_value_map_get(const nnz_blob *blob, uint32_t index, nnz_value_map *map);

/* Channel c's scale code of an affine-log map (0 for any other map or c out
 * of range): its scale is nnz_log_scale(code, map->scale_exp). */
uint32_t nnz_scale_code(const nnz_value_map *map, uint64_t c);

/* Decode block `block` (0 <= block < info.nblocks): elements
 * [block * block_elems, min(count, (block + 1) * block_elems)) into `out`,
 * which needs room for block_elems elements. Lets a small device decode a
 * large tensor piece by piece, or several cores decode blocks at once. */
nnz_status nnz_decode_block(const nnz_blob *blob, uint32_t index, uint64_t block,
                            int out_type, void *out, size_t out_size, void *scratch,
                            size_t scratch_size);

#ifndef NNZ_NO_READER
/* ---- decoding in pieces ------------------------------------------------ */

/* A tensor decoded in order into a buffer of any size, a piece at a time:
 * memory is the piece and nnz_decode_sizes' scratch, whatever the tensor's
 * or its blocks' size (a hashed tensor is one block; so may be a dense one).
 * The state is the caller's, opaque; the blob and scratch must stay valid
 * and unchanged while it is used. Each element is decoded once: reading a
 * tensor piece by piece costs what nnz_decode does. */
#define NNZ_READER_WORDS 256
typedef struct nnz_reader {
    union {
        uint64_t words[NNZ_READER_WORDS];
        const void *align_ptr;
        double align_double;
    } opaque;
} nnz_reader;

/* Start reading tensor `index` as `out_type` from its first element;
 * `scratch` as nnz_decode_sizes says. */
nnz_status nnz_reader_open(nnz_reader *r, const nnz_blob *blob, uint32_t index, int out_type,
                           void *scratch, size_t scratch_size);

/* The next elements into `out`: as many as fit in out_size bytes, or as
 * remain; *got says how many (0 once all are read; NNZ_E_OUTPUT_SMALL when
 * elements remain and out_size holds none). A bad block is found as it is
 * read: the error is returned (and returned again by every later call),
 * and the elements of that call must not be used. */
nnz_status nnz_reader_read(nnz_reader *r, void *out, size_t out_size, size_t *got);
#endif

/* The hash of hashed tensors (docs/FORMAT.md), shared with the tool:
 * xxHash32 of the 8 little-endian bytes of `index` with `seed`; the bucket
 * of element `index` among `k`; and its sign, -1 or +1. */
#ifndef NNZ_NO_HASHED
uint32_t nnz_hash_index(uint64_t index, uint32_t seed);
uint64_t nnz_hash_bucket(uint64_t index, uint32_t seed, uint64_t k);
int nnz_hash_sign(uint64_t index, uint32_t seed);
#endif

/* The metadata section: UTF-8 JSON written by the tool (may be empty). */
nnz_status nnz_metadata(const nnz_blob *blob, const char **text, size_t *size);

#ifndef NNZ_NO_REBUILD
/* ---- rebuilding the ONNX model ----------------------------------------- */

/* Receives the rebuilt model in order; return 0 to go on, non-zero to stop
 * (nnz_rebuild then returns NNZ_E_WRITE). */
typedef int (*nnz_write_fn)(void *ctx, const void *data, size_t size);

/* Bytes of the rebuilt ONNX model, and of work memory nnz_rebuild needs:
 * a tensor's scratch, a piece of at most NNZ_REBUILD_PIECE bytes (1 MiB
 * unless the runtime is built with another; a whole block when it fits)
 * and a reader, for the tensor that needs most. */
nnz_status nnz_rebuild_sizes(const nnz_blob *blob, uint64_t *model_size,
                             size_t *work_size);

/* Stream the complete ONNX model (graph with every tensor decoded to its
 * native type) through `write`. Tensors flagged NNZ_LOC_EXTERNAL are not
 * part of it: the model refers to them in an external data file, which the
 * app writes from nnz_decode_block output at each one's graph_offset
 * (docs/FORMAT.md); model_size counts the graph and inline tensors only. */
nnz_status nnz_rebuild(const nnz_blob *blob, nnz_write_fn write, void *ctx, void *work,
                       size_t work_size);

/* The graph section's bytes (docs/FORMAT.md), graph_size of them: the
 * blob's own (zero-copy, work unused) when stored as they are; else the
 * compressed graph section expanded into `work`, which needs the
 * nnz_graph_sizes bytes (blob->graph_size plus its two Huffman tables,
 * under 19 KiB). Every length and distance of the compressed stream is
 * checked (NNZ_E_CORRUPT); NNZ_E_UNSUPPORTED in a build without
 * NNZ_FEAT_GRAPH_CODEC. */
nnz_status nnz_graph_sizes(const nnz_blob *blob, size_t *work_size);
nnz_status nnz_graph_get(const nnz_blob *blob, void *work, size_t work_size,
                         const uint8_t **graph);
#endif

/* ---- helpers the tool shares with the runtime -------------------------- */

/* CRC-32 (ISO-HDLC, as zlib): crc = nnz_crc32(0, p, n), chainable. */
uint32_t nnz_crc32(uint32_t crc, const void *data, size_t size);

/* A log-grid scale (docs/FORMAT.md, value map 6): 2^(exp + code / 16),
 * computed exactly as a table entry times a power of two; exp must be at
 * least NNZ_LOG_SCALE_EXP_MIN and exp + code / 16 at most NNZ_LOG_SCALE_TOP
 * (as every opened blob's are; every result is then a normal float, and
 * outside it the value means nothing). Encoding versions 3 and 4 keep
 * exp <= NNZ_LOG_SCALE_EXP_MAX and codes below 256. */
#define NNZ_LOG_SCALE_EXP_MIN (-126)
#define NNZ_LOG_SCALE_EXP_MAX 111
#define NNZ_LOG_SCALE_TOP 127
float nnz_log_scale(uint32_t code, int exp);

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
