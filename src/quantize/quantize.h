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
enum { Q_NEAREST, Q_RATE, Q_GPTQ };
/* error=: how max-output-error is measured (docs/passes/quantize.md) */
enum { Q_ERR_AUTO, Q_ERR_POOLED, Q_ERR_PER_INPUT };

struct nnz_calib_eval;
/* Layers' input statistics from the calibration inputs (quantize_gptq.c). */
typedef struct quant_layers quant_layers;

/* No floor by default: an INT8 deployment needs every weight of its
 * Conv/Gemm/MatMul/RNN ops in integers, small depthwise kernels too, and
 * the measurement in docs/passes/quantize.md ("Which tensors") found no
 * floor no larger in bytes. min-elements= sets one. */
#define QUANT_MIN_ELEMENTS 1
/* sens-work= by default: the MACs an output budget's sensitivities may take
 * (quantize_budget.c), counted as if each run re-ran the whole model: about
 * 10-20 s on a 2-core machine of 2026. */
#define QUANT_SENS_WORK 2e11
/* error=auto binds each input only at up to this many times the pooled bits
 * (auto-cost=; quantize_budget.c says why) */
#define QUANT_AUTO_COST 1.5

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
    int error_mode;          /* Q_ERR_*: error=auto (default), pooled or per-input */
    double sens_work;        /* sens-work=: the sensitivities' work cap, MACs */
    double auto_cost;        /* auto-cost=: error=auto binds each input at most this
                                times the pooled choice's bits */
    int quiet_target;        /* the budget chose a target past 16 bits on purpose: no warning */
    int bias_correct;        /* bias-correct: shift biases by the mean output change */
    quant_layers *layers;    /* rounding=gptq / bias-correct: filled in prepare (owned) */
    const quant_layers *layers_shared; /* a per-layer override's: the stage's */
    nnz_strmap corrected;    /* bias-correct: biases already corrected (name -> 1) */
    int corrected_init;
} quant_opts;

static inline const quant_layers *quant_layers_of(const quant_opts *o)
{
    return o->layers ? o->layers : o->layers_shared;
}

/* quantize:max-output-error=X: choose every selected tensor's step from
 * calibration runs (on ev, opened on stage->calib) and keep the choice in o->alloc; the
 * measured errors go into report["quantize_budget"]. */
int quantize_budget(nnz_model *m, const nnz_stage *stage, quant_opts *o,
                    struct nnz_calib_eval *ev, cJSON *report, nnz_error *e);
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

/* ---- data-aware rounding and bias correction (quantize_gptq.c) ---- */

/* Collect, on the calibration part of `ev`, the input statistics of the
 * selected tensors' layers (Conv, Gemm and MatMul weights, LSTM/GRU/RNN W
 * and R; GRU's R only with linear_before_reset); with `gptq`, also factor
 * each layer's H for rounding. */
int quantize_layers_collect(nnz_model *m, const uint8_t *selected, struct nnz_calib_eval *ev,
                            size_t from, int gptq, quant_layers **out, cJSON *report,
                            nnz_error *e);
/* With an output budget, the statistics come from calibration inputs
 * [quantize_budget_unseen(ev), ncal): the budget's sensitivities and search
 * measure on the first ones, so rounding fitted to its inputs cannot look
 * better than it is. */
size_t quantize_budget_unseen(const struct nnz_calib_eval *ev);
void quantize_layers_free(quant_layers *Q);
/* Layers with statistics (factored: those gptq can round). */
size_t quantize_layers_count(const quant_layers *Q, int factored);
/* GPTQ codes for tensor `name` on the given steps (element i in channel
 * (i / inner) % nchan; codes clamped to [mincode, maxcode]; with
 * keep_zeros, exact zeros stay at the zero point). Returns 1 when done, 0
 * when the layer has no statistics (round to nearest), -1 on error. */
int quantize_gptq_tensor(const quant_layers *Q, const char *name, const float *v, size_t n,
                         const float *scale, const uint32_t *zp, size_t nchan, size_t inner,
                         uint32_t mincode, uint32_t maxcode, int keep_zeros, uint32_t *codes,
                         nnz_error *e);
/* The core, on one group of rows: H (cols x cols, row-major, upper half
 * read) becomes the upper Cholesky factor U of its damped inverse, in the
 * column order `perm` (decreasing diagonal); -1 when it is not positive
 * definite even with 10^4 times the damping. */
int quantize_gptq_factor(float *H, size_t cols, double damp, size_t *perm, nnz_error *e);
/* Round W (rows x cols, row-major, columns in U's order; changed: it holds
 * the compensated weights after) to codes, row r on step scale[r] and zero
 * point zp[r]. `err` holds rows x 128 floats. */
void quantize_gptq_rows(const float *U, size_t cols, float *W, size_t rows, const float *scale,
                        const uint32_t *zp, uint32_t mincode, uint32_t maxcode,
                        const uint8_t *keep_zero, uint32_t *codes, float *err);
/* The bias tensor a layer's correction goes into (NULL: none), and the
 * correction per output row for weights w quantized to wq. */
const char *quantize_layer_bias(const quant_layers *Q, const char *name);
int quantize_bias_delta(const quant_layers *Q, const char *name, const float *w, const float *wq,
                        double *delta);

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
