/* quantize.h - the quantize pass's parts, shared inside src/quantize only:
 * uniform (n-bit, symmetric/affine, per tensor/channel, error-targeted,
 * rate-aware rounding), k-means weight sharing, and half floats
 * (docs/passes/quantize.md). */
#ifndef NNZ_QUANTIZE_QUANTIZE_H
#define NNZ_QUANTIZE_QUANTIZE_H

#include <cjson/cJSON.h>

#include "metrics.h"
#include "pass.h"
#include "state.h"
#include "strmap.h"

enum { Q_UNIFORM, Q_KMEANS, Q_FP16, Q_BF16 };
enum { Q_SYM, Q_ASYM };
enum { Q_CHANNEL, Q_TENSOR };
enum { Q_NEAREST, Q_RATE };

/* No floor by default: an INT8 deployment needs every weight of its
 * Conv/Gemm/MatMul/RNN ops in integers, small depthwise kernels too, and
 * the measurement in docs/passes/quantize.md ("Which tensors") found no
 * floor no larger in bytes. min-elements= sets one. */
#define QUANT_MIN_ELEMENTS 1

/* What an output budget (max-output-error=) chose for one tensor. */
typedef struct quant_choice {
    char *name;
    int keep_float;         /* its bits are not worth their error: left float */
    double rel_target;      /* else: error-targeted steps with this weight rel L2 */
    int granularity;        /* Q_TENSOR or Q_CHANNEL, whichever costs fewer bits */
    double bits_estimate;   /* entropy of its codes + steps (bits, whole tensor) */
    double sensitivity;     /* output rel L2^2 per weight rel L2^2 (the rest float) */
    double alpha;           /* output rel L2^2 grows as weight rel L2^alpha */
    int measured;           /* 0: too small to measure alone, given a fine step */
} quant_choice;

typedef struct quant_alloc {
    quant_choice *t;
    size_t n;
    nnz_strmap map;         /* name -> index in t */
} quant_alloc;

typedef struct quant_opts {
    int mode;
    int bits;               /* 2..16 */
    int bits_given;
    int scheme;
    int scheme_given;
    int granularity;
    int granularity_given;
    double max_rel_error;   /* > 0: error-targeted steps */
    int rounding;
    double rate_lambda;     /* rate-aware rounding: error (in steps^2) worth one bit */
    int kmeans_iters;
    double max_output_error; /* > 0: an output budget (quantize_budget.c) */
    quant_alloc *alloc;      /* its result, filled in prepare */
    int per_input;           /* the budget holds for each input alone (error=per-input) */
    int quiet_target;        /* the budget chose a target past 16 bits on purpose: no warning */
} quant_opts;

/* quantize:max-output-error=X: choose every selected tensor's step from
 * calibration runs (stage->calib) and keep the choice in o->alloc; the
 * measured errors go into report["quantize_budget"]. */
int quantize_budget(nnz_model *m, const nnz_stage *stage, quant_opts *o, cJSON *report,
                    nnz_error *e);
const quant_choice *quantize_alloc_find(const quant_alloc *a, const char *name);
void quantize_alloc_free(quant_alloc *a);
/* A FLOAT16/BFLOAT16 tensor's quantized values rounded to its type, as the
 * runtime rounds them. */
void quantize_round_to_dtype(const nnz_tensor *t, nnz_state *st);

/* Each fills st (codes, value map, stored values) and its report object,
 * and sums into `err` the error it made against the stored values it was
 * given (nnz_err_finish turns the sums into figures). */
int quantize_uniform(const nnz_tensor *t, nnz_state *st, const quant_opts *o, cJSON *rep,
                     nnz_err_stats *err, nnz_error *e);
int quantize_kmeans(const nnz_tensor *t, nnz_state *st, const quant_opts *o, cJSON *rep,
                    nnz_err_stats *err, nnz_error *e);
int quantize_half(const nnz_tensor *t, nnz_state *st, const quant_opts *o, cJSON *rep,
                  nnz_err_stats *err, nnz_error *e);

/* Distinct codes in use, and their order-0 entropy in bits per code (codes
 * above maxcode are not counted). */
void quantize_code_stats(const uint32_t *codes, size_t n, uint32_t maxcode, size_t *levels,
                         double *entropy_bits);

/* Add one value and its reconstruction to error sums. */
static inline void quantize_err_add(nnz_err_stats *s, float w, float q)
{
    double d = (double)w - (double)q;
    s->sum_sq_ref += (double)w * w;
    s->sum_sq_err += d * d;
    if (d < 0)
        d = -d;
    if (d > s->max_abs)
        s->max_abs = d;
}

#endif
