/* model.h - the model IR: a parsed ONNX ModelProto plus the list of its
 * weight tensors, wherever the model keeps them (docs/architecture.md). */
#ifndef NNZ_CORE_MODEL_H
#define NNZ_CORE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include <limits.h> /* the generated header needs INT_MAX */

#include "error.h"
#include "nnz_limits.h"
#include "nnz.h"
#include "onnx.pb-c.h"

/* ONNX TensorProto.DataType values used by name in the code. */
enum {
    NNZ_DT_UNDEFINED = 0, NNZ_DT_FLOAT = 1, NNZ_DT_UINT8 = 2, NNZ_DT_INT8 = 3,
    NNZ_DT_UINT16 = 4, NNZ_DT_INT16 = 5, NNZ_DT_INT32 = 6, NNZ_DT_INT64 = 7,
    NNZ_DT_STRING = 8, NNZ_DT_BOOL = 9, NNZ_DT_FLOAT16 = 10, NNZ_DT_DOUBLE = 11,
    NNZ_DT_UINT32 = 12, NNZ_DT_UINT64 = 13, NNZ_DT_COMPLEX64 = 14,
    NNZ_DT_COMPLEX128 = 15, NNZ_DT_BFLOAT16 = 16
};

/* Name of an ONNX data type ("float", "int8", ...), or "type N". */
const char *nnz_dtype_name(int dtype);
/* Bytes per element of a fixed-size type this tool handles; 0 otherwise. */
size_t nnz_dtype_size(int dtype);
/* True for FLOAT, FLOAT16, BFLOAT16: what the lossy passes work on. */
int nnz_dtype_is_float(int dtype);

/* How its data was stored in the file it came from. */
typedef enum {
    NNZ_STORE_RAW = 0,      /* raw_data */
    NNZ_STORE_TYPED = 1,    /* float_data, int32_data, ... */
    NNZ_STORE_EXTERNAL = 2, /* a separate file */
    NNZ_STORE_EMPTY = 3     /* no elements */
} nnz_storage;

typedef struct nnz_tensor {
    char *name;               /* unique in the model (see docs/architecture.md) */
    const char *onnx_name;    /* the name nodes use (may repeat in subgraphs) */
    const Onnx__GraphProto *graph; /* the graph it belongs to */
    int dtype;                /* ONNX data type */
    int ndims;
    int64_t dims[NNZ_MAX_DIMS];
    size_t count;             /* elements */
    size_t nbytes;            /* bytes of the data, little-endian, in dtype */
    size_t stored_bytes;      /* bytes the data took in the source file */
    Onnx__TensorProto *proto; /* the TensorProto inside the ModelProto */
    int loc;                  /* NNZ_LOC_INITIALIZER or NNZ_LOC_CONSTANT (nnz.h) */
    nnz_storage storage;
    int graph_depth;          /* 0 = main graph, 1+ = inside If/Loop/Scan */

    /* Where the data is while it is not in proto->raw_data: a slice of an
     * external file. proto->raw_data.data then points at `tag` (below), a
     * unique address the writers recognise. */
    char *ext_path;
    uint64_t ext_offset;

    /* The first node that reads this tensor, and in which input slot. */
    const Onnx__NodeProto *consumer;
    int consumer_slot;
    int n_consumers;

    /* The compute op that reads it as a weight, directly or through
     * data-movement ops (weights.c), its input slot there, how many such
     * ops lie between (0: read directly), and the channel axis mapped back
     * to this tensor's dims (-1: per tensor; axis_note, a static string,
     * says why when a compute op has one). weight_op NULL: not a weight. */
    const Onnx__NodeProto *weight_op;
    int weight_slot, weight_hops, weight_axis;
    const char *axis_note;

    unsigned char tag;        /* see ext_path; never read */
} nnz_tensor;

typedef struct nnz_model {
    Onnx__ModelProto *proto;
    char *path;               /* as given; for messages */
    char *dir;                /* folder external data is resolved in */
    nnz_tensor *tensors;
    size_t ntensors;
    uint64_t file_size;
    char sha256[65];          /* hex digest of the model file */
    /* indexes built on first use, so lookups stay O(1) at a million
     * tensors: tensor name -> index (nnz_model_find; rebuilt after a
     * rescan), and every name in the graphs (nnz_edit_unique_name) */
    struct nnz_strmap *find_index;
    struct nnz_name_index *names;
} nnz_model;

/* Read and validate an ONNX model. On failure *out is NULL and `e` says
 * what is wrong (code NNZ_EXIT_INPUT for a bad file). */
int nnz_model_load(const char *path, nnz_model **out, nnz_error *e);
/* The same from bytes in memory; `dir` resolves external data (NULL: a
 * model with external data is refused). */
int nnz_model_load_bytes(const uint8_t *data, size_t len, const char *name,
                         const char *dir, nnz_model **out, nnz_error *e);
/* The same, to check an output before it is renamed into place: external
 * data whose location is `location` is read from `actual` (a file name in
 * `dir`: the data file's temporary name) instead. */
int nnz_model_load_bytes_as(const uint8_t *data, size_t len, const char *name, const char *dir,
                            const char *location, const char *actual, nnz_model **out,
                            nnz_error *e);
void nnz_model_free(nnz_model *m);

/* Find the weight tensors again after the graph was edited (nodes or
 * initializers added or removed). Tensors keep their data. */
int nnz_model_rescan(nnz_model *m, nnz_error *e);

/* Make the tensor's data present in proto->raw_data (reading external data
 * if needed). Returns its bytes. */
const uint8_t *nnz_tensor_data(nnz_model *m, nnz_tensor *t, nnz_error *e);
/* Let go of data read from an external file (it is read again if needed):
 * compress calls it after each tensor so memory stays bounded. */
void nnz_tensor_release(nnz_tensor *t);
/* Replace the tensor's data with `bytes` (malloc'ed, taken over), `len`
 * bytes in the tensor's dtype. */
void nnz_tensor_set_data(nnz_tensor *t, uint8_t *bytes, size_t len);
/* Is proto->raw_data a stand-in for data that is elsewhere? */
int nnz_tensor_is_deferred(const nnz_tensor *t);
/* Read `len` bytes at `off` of a deferred tensor's data into `buf`. */
int nnz_tensor_read_deferred(const nnz_tensor *t, uint64_t off, void *buf,
                             size_t len, nnz_error *e);

/* The tensor's values as floats (FLOAT, FLOAT16, BFLOAT16 tensors); the
 * caller frees. */
float *nnz_tensor_floats(nnz_model *m, nnz_tensor *t, nnz_error *e);

/* Find which tensors are weights of compute ops and their channel axes
 * (fills weight_op ... axis_note); load and rescan call it. */
int nnz_model_find_weights(nnz_model *m, nnz_error *e);
/* Is t a float weight of a compute op (Conv, ConvTranspose, Gemm, MatMul,
 * Gather, LSTM, GRU, RNN), read directly or through data-movement ops? */
int nnz_tensor_is_weight(const nnz_tensor *t);
/* The output-channel axis of input `slot` of compute op n for a value of
 * `rank` dims (dims[k] -1 when unknown): Conv 0, ConvTranspose 1 (0 when
 * depthwise), Gemm B by transB, A by transA, MatMul B its last axis, A its
 * second last, LSTM/GRU/RNN W and R 1; -1 when it has none. */
int nnz_op_channel_axis(const Onnx__NodeProto *n, int slot, int rank, const int64_t *dims);
/* Is t the integer codes of a weight quantized before nnzip saw it: int8 or
 * uint8 read as DequantizeLinear's x, ConvInteger's or MatMulInteger's
 * inputs, QLinearConv's or QLinearMatMul's x and w, Gather's data (not a
 * zero point)? Lossless passes code these; quantize never requantizes them. */
int nnz_tensor_is_codes(const nnz_tensor *t);
/* Initializers of the main graph in a 4-bit type (int4, uint4): left in the
 * graph as the model packs them (the blob has no 4-bit element type). */
size_t nnz_model_count_int4(const nnz_model *m);
/* The axis of t along which its compute op has its output channels, or -1
 * (docs/architecture.md: Conv 0, ConvTranspose 1, Gemm by transB, ...). */
int nnz_tensor_channel_axis(const nnz_tensor *t);

/* The attribute `name` of node n, or NULL; its integer value, or `dflt`
 * when the node has no such integer attribute. */
const Onnx__AttributeProto *nnz_node_attr(const Onnx__NodeProto *n, const char *name);
int64_t nnz_node_int(const Onnx__NodeProto *n, const char *name, int64_t dflt);

/* Find a tensor by name; NULL when there is none. */
nnz_tensor *nnz_model_find(nnz_model *m, const char *name);

/* Number of elements of a tensor (sum over the weights). */
uint64_t nnz_model_param_count(const nnz_model *m);

#endif
