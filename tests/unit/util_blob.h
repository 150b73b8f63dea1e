/* util_blob.h - helpers the unit tests share: small ONNX models built in
 * memory, blobs written from them, and re-sealing mutated blobs. */
#ifndef NNZ_TESTS_UTIL_BLOB_H
#define NNZ_TESTS_UTIL_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "blob.h"
#include "model.h"
#include "state.h"

/* Fill what every test model shares: IR version 8, one default-domain
 * opset import of version `opset` (op, pointed to by *ops), and graph g,
 * named `graph_name`. All four must live as long as m. */
void tu_model_init(Onnx__ModelProto *m, Onnx__GraphProto *g, Onnx__OperatorSetIdProto *op,
                   Onnx__OperatorSetIdProto **ops, int64_t opset, const char *graph_name);

/* A chain of MatMuls, one per weight: weight i is "w<i>" of dims[i],
 * float32 (float16 when fp16) with element j of value(ctx, i, j), asked
 * in order. */
uint8_t *tu_matmul_model(int nweights, const int64_t (*dims)[2], int fp16,
                         float (*value)(void *ctx, int w, size_t j), void *ctx, size_t *len);

/* When set, tu_matmul_model names each node as an exporter would
 * ("StatefulPartitionedCall/model/layer_<i>/dense/MatMul"): a graph that
 * compresses (format 2.1). */
extern int tu_long_node_names;

/* tu_matmul_model of k x k weights, values from a fixed pattern. */
uint8_t *tu_model_bytes(int nweights, int k, size_t *len);

/* Load `bytes` as a model (no external data). Fails the test on error. */
nnz_model *tu_load(const uint8_t *bytes, size_t len);

/* The directory layout tu_blob_with writes when the writer does not say:
 * 0 the current format, 1 format 1.2's (tests that walk its entries). */
extern int tu_format_major;

/* Write a blob of the model with writer w into memory; returns malloc'ed
 * bytes. Fails the test when writing fails. */
uint8_t *tu_blob_with(nnz_model *m, nnz_blob_writer w, size_t *len);

/* Write a lossless blob of the model; returns malloc'ed bytes. */
uint8_t *tu_blob(nnz_model *m, size_t *len);
/* The same with every name in its directory entry (format 1.1's layout). */
uint8_t *tu_blob_dirnames(nnz_model *m, size_t *len);

/* A model with one initializer "w" of ONNX type `dtype` and shape dims[0..ndims)
 * (its data all zero), read by an Identity node. */
uint8_t *tu_model_tensor(int dtype, const int64_t *dims, int ndims, size_t *len);

/* Write a blob of `m` in which tensor i, when states[i] is not NULL, is encoded
 * from it by nnz_encode_tensor (a directory entry whatever its size); its
 * report object goes to reports[i] when reports is given (caller deletes). */
uint8_t *tu_blob_states(nnz_model *m, nnz_state *const *states, cJSON **reports, size_t *len);

/* Write a blob of `m` whose tensor 0 takes the encoding `x` byte for byte
 * (params and payload copied), whatever they hold: malformed blobs. */
uint8_t *tu_blob_encoded(nnz_model *m, const nnz_encoded *x, size_t *len);

/* Parameter bytes of directory entry `index` of a blob (what the format
 * calls params_len). */
uint64_t tu_entry_params_len(const uint8_t *blob, uint32_t index);

/* Recompute every CRC of a (mutated) blob so deeper checks are reached. */
void tu_fix_crcs(uint8_t *blob, size_t len);

/* Little-endian helpers. */
void tu_put32(uint8_t *p, uint32_t v);
void tu_put64(uint8_t *p, uint64_t v);
uint32_t tu_get32(const uint8_t *p);
uint64_t tu_get64(const uint8_t *p);

/* Offset and length of the first section of `type` (1 dir, 2 graph,
 * 3 payload, 4 metadata); returns the table entry's offset. */
size_t tu_section(const uint8_t *blob, uint32_t type, uint64_t *off, uint64_t *len);

#endif
