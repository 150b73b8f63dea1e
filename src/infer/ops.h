/* ops.h - the op tables of each family, joined by infer_registry.c. */
#ifndef NNZ_INFER_OPS_H
#define NNZ_INFER_OPS_H

#include "infer_int.h"

extern const nni_op nni_ops_elementwise[], nni_ops_shape[], nni_ops_conv[], nni_ops_reduce[],
    nni_ops_rnn[], nni_ops_control[], nni_ops_quant[];

/* Cast x into y (same shape, y's type). */
int nni_cast_into(const nnz_itensor *x, nnz_itensor *y);

/* y (shaped as x permuted) gets x transposed by perm. */
int nni_transpose(const nnz_itensor *x, nnz_itensor *y, const int *perm);
/* dst (shaped) gets src broadcast to its shape. */
void nni_bcast_copy(const nnz_itensor *src, nnz_itensor *dst);
/* Conv of float X by float W (+ bias) into output k, attributes from c. */
int nni_conv_float(nni_call *c, const nnz_itensor *X, const nnz_itensor *W, const float *bias,
                   int k_out);
/* MatMul's output shape (numpy rules) and its M, K, N. */
int nni_matmul_shape(nni_call *c, const nnz_itensor *A, const nnz_itensor *B, int *nd,
                     int64_t *od, int64_t *M, int64_t *K, int64_t *N);
/* Element offsets (in matrices) of batch bi in A and B. */
void nni_matmul_offsets(const nnz_itensor *A, const nnz_itensor *B, int bnd, const int64_t *bd,
                        int64_t bi, int64_t *oa, int64_t *ob);

#endif
