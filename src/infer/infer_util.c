/* infer_util.c - helpers every op uses: attributes, outputs, memory
 * accounting, broadcasting, errors. */
#include <cblas.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer_int.h"

const Onnx__AttributeProto *nni_attr(const nni_call *c, const char *name)
{
    for (size_t i = 0; i < c->p->n_attribute; i++)
        if (c->p->attribute[i]->name && strcmp(c->p->attribute[i]->name, name) == 0)
            return c->p->attribute[i];
    return NULL;
}

int64_t nni_attr_i(const nni_call *c, const char *name, int64_t def)
{
    const Onnx__AttributeProto *a = nni_attr(c, name);
    return a && a->has_i ? a->i : def;
}

float nni_attr_f(const nni_call *c, const char *name, float def)
{
    const Onnx__AttributeProto *a = nni_attr(c, name);
    return a && a->has_f ? a->f : def;
}

const int64_t *nni_attr_ints(const nni_call *c, const char *name, size_t *n)
{
    const Onnx__AttributeProto *a = nni_attr(c, name);
    *n = a ? a->n_ints : 0;
    return a && a->n_ints ? a->ints : NULL;
}

const float *nni_attr_floats(const nni_call *c, const char *name, size_t *n)
{
    const Onnx__AttributeProto *a = nni_attr(c, name);
    *n = a ? a->n_floats : 0;
    return a && a->n_floats ? a->floats : NULL;
}

const char *nni_attr_s(const nni_call *c, const char *name, const char *def)
{
    /* per thread: calibration workers run interpreters side by side */
    static _Thread_local char buf[8][128];
    static _Thread_local int next;
    const Onnx__AttributeProto *a = nni_attr(c, name);
    if (!a || !a->has_s)
        return def;
    /* attribute strings are bytes, not NUL-terminated */
    char *b = buf[next++ & 7];
    size_t n = a->s.len < 127 ? a->s.len : 127;
    memcpy(b, a->s.data, n);
    b[n] = 0;
    return b;
}

static int vfail(nni_call *c, int code, const char *prefix, const char *fmt, va_list ap)
{
    char msg[900];
    vsnprintf(msg, sizeof msg, fmt, ap);
    return nnz_fail(c->e, code, "%s%s", prefix, msg);
}

int nni_fail(nni_call *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, NNZ_EXIT_INPUT, "", fmt, ap);
    va_end(ap);
    return -1;
}

int nni_unsupported(nni_call *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, NNZ_EXIT_INPUT, "not supported: ", fmt, ap);
    va_end(ap);
    return -1;
}

int nni_account(nnz_infer *inf, size_t bytes, nnz_error *e)
{
    if (bytes > inf->limit || inf->live > inf->limit - bytes)
        return nnz_fail(e, NNZ_EXIT_INPUT,
                        "needs %llu bytes of activations at once, over the limit of %llu "
                        "(--max-memory)",
                        (unsigned long long)(inf->live + bytes), (unsigned long long)inf->limit);
    inf->live += bytes;
    if (inf->live > inf->peak)
        inf->peak = inf->live;
    return 0;
}

void nni_release(nnz_infer *inf, nnz_itensor *t)
{
    if (t->data && nni_is_sentinel(t->data)) {
        /* a planned value: its bytes are counted, nothing is allocated */
        if (!t->borrowed)
            inf->live -= t->bytes < inf->live ? t->bytes : inf->live;
        memset(t, 0, sizeof *t);
        return;
    }
    if (t->data && !t->borrowed)
        inf->live -= t->bytes < inf->live ? t->bytes : inf->live;
    nnz_it_free(t);
}

int nni_out(nni_call *c, int k, int dtype, int ndims, const int64_t *dims)
{
    nnz_itensor *t = c->out[k];
    if (!t)
        return 0;
    nni_release(c->inf, t);
    size_t es = nnz_it_esize(dtype), count = 1, bytes;
    for (int i = 0; i < ndims; i++) {
        if (dims[i] < 0)
            return nni_fail(c, "output %d: dim %d is negative (%lld)", k, i, (long long)dims[i]);
        if ((uint64_t)dims[i] > SIZE_MAX || nnz_mul_size(count, (size_t)dims[i], &count) != 0)
            return nni_fail(c, "output %d: the product of its dims overflows", k);
    }
    if (nnz_mul_size(count, es ? es : 1, &bytes) != 0)
        return nni_fail(c, "output %d: its size overflows", k);
    if (nni_account(c->inf, bytes, c->e) != 0)
        return -1;
    if (c->plan && !nni_plan_computes(c, dtype, bytes)) {
        t->dtype = dtype;
        t->ndims = ndims;
        for (int i = 0; i < ndims; i++)
            t->dims[i] = dims[i];
        t->count = count;
        t->bytes = bytes;
        t->data = nni_shaped_data;
        t->borrowed = 0;
        return nni_plan_shaped(c);
    }
    if (nni_it_alloc(t, dtype, ndims, dims, !c->uninit, c->e) != 0) {
        c->inf->live -= bytes;
        return -1;
    }
    return 0;
}

int nni_out_uninit(nni_call *c, int k, int dtype, int ndims, const int64_t *dims)
{
    c->uninit = 1;
    int rc = nni_out(c, k, dtype, ndims, dims);
    c->uninit = 0;
    return rc;
}

int nni_out_reuse(nni_call *c, int k_out, int k_in, int dtype, int ndims, const int64_t *dims)
{
    nnz_itensor *src = k_in < c->nin && k_in < 2 ? c->steal[k_in] : NULL;
    if (!src || !c->out[k_out] || nnz_it_esize(src->dtype) != nnz_it_esize(dtype) ||
        nni_is_float(src->dtype) != nni_is_float(dtype) || ndims > NNZ_MAX_DIMS)
        return nni_out(c, k_out, dtype, ndims, dims);
    size_t count = 1;
    for (int i = 0; i < ndims; i++) {
        if (dims[i] < 0)
            return nni_out(c, k_out, dtype, ndims, dims);
        count *= (size_t)dims[i];
    }
    if (count != src->count)
        return nni_out(c, k_out, dtype, ndims, dims);
    /* the input stays readable through a copy of its header */
    c->moved[k_in] = *src;
    c->in[k_in] = &c->moved[k_in];
    nnz_itensor *o = c->out[k_out];
    nni_release(c->inf, o);
    *o = *src;
    o->dtype = dtype;
    o->ndims = ndims;
    for (int i = 0; i < ndims; i++)
        o->dims[i] = dims[i];
    memset(src, 0, sizeof *src);
    c->steal[k_in] = NULL;
    if (c->plan && !nni_plan_computes(c, dtype, o->bytes)) {
        if (!nni_is_sentinel(o->data))
            free(o->data); /* its bytes stay counted: the value is planned */
        o->data = nni_shaped_data;
        return nni_plan_shaped(c);
    }
    return 0;
}

int nni_out_copy(nni_call *c, int k, const nnz_itensor *src, int ndims, const int64_t *dims)
{
    if (nni_out(c, k, src->dtype, ndims, dims) != 0)
        return -1;
    if (c->out[k]->count != src->count)
        return nni_fail(c, "cannot give %zu elements the shape of %zu", src->count,
                        c->out[k]->count);
    if (nni_is_sentinel(c->out[k]->data))
        return 0; /* planned, deferred: shape only */
    memcpy(c->out[k]->data, src->data, src->bytes);
    return 0;
}

int nni_need(nni_call *c, int k)
{
    if (k >= c->nin || !c->in[k])
        return nni_fail(c, "input %d is missing", k);
    return 0;
}

int nni_need_float(nni_call *c, int k)
{
    if (nni_need(c, k) != 0)
        return -1;
    if (!nni_is_float(c->in[k]->dtype))
        return nni_unsupported(c, "input %d of type %s (float, float16, bfloat16 are)", k,
                               nnz_dtype_name(c->in[k]->dtype));
    return 0;
}

int nni_norm_axis(nni_call *c, int64_t axis, int rank, int *out)
{
    if (axis < -(int64_t)rank || axis >= (int64_t)(rank ? rank : 1))
        return nni_fail(c, "axis %lld is out of range for rank %d", (long long)axis, rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return 0;
}

int nni_bcast_shape(nni_call *c, const nnz_itensor *a, const nnz_itensor *b, int *nd,
                    int64_t *dims)
{
    int n = a->ndims > b->ndims ? a->ndims : b->ndims;
    for (int i = 0; i < n; i++) {
        int ia = i - (n - a->ndims), ib = i - (n - b->ndims);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return nni_fail(c, "shapes do not broadcast: dim %d is %lld and %lld", i,
                            (long long)da, (long long)db);
        dims[i] = da == 1 ? db : da;
    }
    *nd = n;
    return 0;
}

void nni_bcast_strides(const nnz_itensor *t, int nd, const int64_t *dims, int64_t *strides)
{
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        int it = i - (nd - t->ndims);
        if (it < 0 || t->dims[it] == 1)
            strides[i] = 0;
        else
            strides[i] = s;
        if (it >= 0)
            s *= t->dims[it];
        (void)dims;
    }
}

int nni_read_ints(nni_call *c, const nnz_itensor *t, int64_t *buf, size_t cap, size_t *n)
{
    if (!nni_is_int(t->dtype))
        return nni_fail(c, "expected an integer tensor, got %s", nnz_dtype_name(t->dtype));
    if (t->count > cap)
        return nni_fail(c, "%zu values where at most %zu make sense", t->count, cap);
    for (size_t i = 0; i < t->count; i++)
        buf[i] = nni_get_i64(t, i);
    *n = t->count;
    return 0;
}

void nni_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M == 0 || N == 0)
        return;
    if (K == 0) {
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                C[(size_t)i * ldc + j] = beta == 0 ? 0 : beta * C[(size_t)i * ldc + j];
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
