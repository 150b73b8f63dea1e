/* metrics.h - how far reconstructed weights are from the originals. One
 * definition for every report, verify and test. */
#ifndef NNZ_CORE_METRICS_H
#define NNZ_CORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct nnz_err_stats {
    double rel_l2;   /* ||a - b|| / ||a||; 0 when both are 0, inf when only a is */
    double max_abs;  /* max |a - b| */
    double sqnr_db;  /* 10 log10(sum a^2 / sum (a-b)^2); inf when exact */
    double cosine;   /* a.b / (|a| |b|); 1 when both are 0 */
    double sum_sq_ref, sum_sq_err; /* for combining tensors */
} nnz_err_stats;

void nnz_err_compute(const float *ref, const float *got, size_t n, nnz_err_stats *s);

/* Combine several tensors' sums into one overall figure (rel_l2, sqnr). */
void nnz_err_finish(nnz_err_stats *s);

/* Order-0 entropy of the counts, in bits per symbol. */
double nnz_entropy(const uint64_t *freq, uint32_t alphabet);

#endif
