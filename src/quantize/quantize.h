/* quantize.h - the quantize pass's parts, shared inside src/quantize only:
 * uniform (n-bit, symmetric/affine, per tensor/channel, error-targeted,
 * rate-aware rounding), k-means weight sharing, and half floats. */
#ifndef NNZ_QUANTIZE_QUANTIZE_H
#define NNZ_QUANTIZE_QUANTIZE_H

#include <cjson/cJSON.h>

#include "pass.h"
#include "state.h"

enum { Q_UNIFORM, Q_KMEANS, Q_FP16, Q_BF16 };
enum { Q_SYM, Q_ASYM };
enum { Q_CHANNEL, Q_TENSOR };
enum { Q_NEAREST, Q_RATE };

typedef struct quant_opts {
    int mode;
    int bits;               /* 2..16 */
    int bits_given;
    int scheme;
    int granularity;
    double max_rel_error;   /* > 0: error-targeted steps */
    int rounding;
    double rate_lambda;     /* rate-aware rounding: error (in steps^2) worth one bit */
    int kmeans_iters;
} quant_opts;

/* Each fills st (codes, value map, values) and its report object. */
int quantize_uniform(const nnz_tensor *t, nnz_state *st, const quant_opts *o, cJSON *rep,
                     nnz_error *e);
int quantize_kmeans(const nnz_tensor *t, nnz_state *st, const quant_opts *o, cJSON *rep,
                    nnz_error *e);
int quantize_half(const nnz_tensor *t, nnz_state *st, const quant_opts *o, cJSON *rep,
                  nnz_error *e);

/* Distinct codes in use. */
size_t quantize_levels(const uint32_t *codes, size_t n, unsigned bits);

#endif
