/* qdq.h - the QDQ form of a compressed model: quantized weights stay
 * quantized in the ONNX model (docs/passes/quantize.md, "QDQ output"):
 *   affine codes of at most 8 bits: INT8/UINT8 initializers behind
 *     DequantizeLinear (per axis where the blob has a step per channel,
 *     from opset 13; per tensor from opset 10), or behind Cast -> [Sub] ->
 *     Mul by the scales where DequantizeLinear cannot say it (per channel
 *     below opset 13, anything below 10);
 *   k-means codebooks: UINT8/UINT16 indices behind Cast (int32) -> Gather;
 *   FP16/BF16: half initializers behind Cast.
 * Every form computes the runtime's float weights bit for bit. What cannot
 * be expressed (more than 8 bits, hashed weights, BF16 below opset 13)
 * stays float, and the report says why. */
#ifndef NNZ_BLOB_QDQ_H
#define NNZ_BLOB_QDQ_H

#include <cjson/cJSON.h>

#include "model.h"
#include "nnz.h"

/* Rewrite `m` (the model rebuilt from blob `b`, float weights) in place.
 * `report` (an array, may be NULL) gets one object per compressed tensor:
 * `name`, `as` (DequantizeLinear, Cast+Mul, Gather, Cast or float) and,
 * when it is not plain DequantizeLinear, a `note` saying why. */
int nnz_qdq_rewrite(nnz_model *m, const nnz_blob *b, cJSON *report, nnz_error *e);

#endif
