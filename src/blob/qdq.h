/* qdq.h - the QDQ form of a compressed model: quantized weights stay
 * quantized in the ONNX model, as INT8/UINT8 initializers behind
 * DequantizeLinear (per axis where the blob has one step per channel,
 * which needs opset 13), k-means codebooks as UINT8 indices behind Gather,
 * and FP16 weights behind Cast. What cannot be expressed at the model's
 * opset (per-channel below 13, more than 8 bits, hashed weights) stays
 * float, and the report says so. */
#ifndef NNZ_BLOB_QDQ_H
#define NNZ_BLOB_QDQ_H

#include <cjson/cJSON.h>

#include "model.h"
#include "nnz.h"

/* Rewrite `m` (the model rebuilt from blob `b`, float weights) in place.
 * `report` (may be NULL) gets an array of what each tensor became. */
int nnz_qdq_rewrite(nnz_model *m, const nnz_blob *b, cJSON *report, nnz_error *e);

#endif
