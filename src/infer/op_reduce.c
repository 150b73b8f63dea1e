/* op_reduce.c - reductions along axes: Reduce*, ArgMax/ArgMin, Softmax,
 * TopK, LayerNormalization, InstanceNormalization, CumSum. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

typedef enum { R_SUM, R_MEAN, R_MAX, R_MIN, R_PROD, R_L1, R_L2, R_LSE, R_SSQ, R_LOGSUM } redop;

/* The reduced axes (mask) from the attribute or input 1. */
static int red_axes(nni_call *c, int from_input, int rank, int *mask, int *all)
{
    int64_t axes[NNZ_MAX_DIMS];
    size_t n = 0;
    if (from_input) {
        if (c->nin > 1 && c->in[1] && nni_read_ints(c, c->in[1], axes, NNZ_MAX_DIMS, &n) != 0)
            return -1;
    } else {
        const int64_t *a = nni_attr_ints(c, "axes", &n);
        if (n > NNZ_MAX_DIMS)
            return nni_fail(c, "%zu axes", n);
        for (size_t i = 0; i < n; i++)
            axes[i] = a[i];
    }
    memset(mask, 0, sizeof(int) * NNZ_MAX_DIMS);
    *all = 0;
    if (!n) {
        if (nni_attr_i(c, "noop_with_empty_axes", 0))
            return 0;
        for (int i = 0; i < rank; i++)
            mask[i] = 1;
        *all = 1;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        int a;
        if (nni_norm_axis(c, axes[i], rank, &a) != 0)
            return -1;
        mask[a] = 1;
    }
    return 0;
}

static int reduce(nni_call *c, redop op, int input_opset)
{
    if (nni_need(c, 0) != 0)
        return -1;
    const nnz_itensor *X = c->in[0];
    int isf = nni_is_float(X->dtype);
    if (!isf && !nni_is_int(X->dtype))
        return nni_unsupported(c, "input of type %s", nnz_dtype_name(X->dtype));
    int mask[NNZ_MAX_DIMS], all;
    if (red_axes(c, c->opset >= input_opset, X->ndims, mask, &all) != 0)
        return -1;
    int keep = (int)nni_attr_i(c, "keepdims", 1);
    int64_t od[NNZ_MAX_DIMS], ost[NNZ_MAX_DIMS], full[NNZ_MAX_DIMS];
    int nd = 0;
    size_t rcount = 1;
    for (int i = 0; i < X->ndims; i++) {
        full[i] = mask[i] ? 1 : X->dims[i];
        if (mask[i])
            rcount *= (size_t)X->dims[i];
        if (!mask[i] || keep)
            od[nd++] = full[i];
    }
    if (nni_out(c, 0, X->dtype, nd, od) != 0)
        return -1;
    nnz_itensor *Y = c->out[0];
    /* output strides in the full-rank view, 0 on reduced axes */
    int64_t s = 1;
    for (int i = X->ndims - 1; i >= 0; i--) {
        ost[i] = mask[i] ? 0 : s;
        s *= full[i];
    }
    double *acc = malloc((Y->count ? Y->count : 1) * sizeof *acc);
    if (!acc)
        return nnz_fail(c->e, NNZ_EXIT_INTERNAL, "out of memory");
    double init = op == R_MAX ? -INFINITY : op == R_MIN ? INFINITY : op == R_PROD ? 1 : 0;
    if (!isf && (op == R_MAX || op == R_MIN))
        init = op == R_MAX ? -9.3e18 : 9.3e18;
    for (size_t i = 0; i < Y->count; i++)
        acc[i] = init;
    double *mx = NULL;
    if (op == R_LSE) {
        /* log-sum-exp in two passes: the max first, for stability */
        mx = malloc((Y->count ? Y->count : 1) * sizeof *mx);
        if (!mx) {
            free(acc);
            return nnz_fail(c->e, NNZ_EXIT_INTERNAL, "out of memory");
        }
        for (size_t i = 0; i < Y->count; i++)
            mx[i] = -INFINITY;
    }
    for (int pass = op == R_LSE ? 0 : 1; pass < 2; pass++) {
        int64_t idx[NNZ_MAX_DIMS] = { 0 }, off = 0;
        for (size_t i = 0; i < X->count; i++) {
            double v = nnz_it_get(X, i);
            double *a = &acc[off];
            if (pass == 0) {
                if (v > mx[off]) mx[off] = v;
            } else
                switch (op) {
                case R_SUM: case R_MEAN: *a += v; break;
                case R_MAX: if (v > *a || v != v) *a = v; break;
                case R_MIN: if (v < *a || v != v) *a = v; break;
                case R_PROD: *a *= v; break;
                case R_L1: *a += fabs(v); break;
                case R_L2: case R_SSQ: *a += v * v; break;
                case R_LSE: *a += exp(v - (isinf(mx[off]) ? 0 : mx[off])); break;
                case R_LOGSUM: *a += v; break;
                }
            for (int d = X->ndims - 1; d >= 0; d--) {
                off += ost[d];
                if (++idx[d] < X->dims[d])
                    break;
                off -= ost[d] * X->dims[d];
                idx[d] = 0;
            }
        }
    }
    for (size_t i = 0; i < Y->count; i++) {
        double v = acc[i];
        switch (op) {
        case R_MEAN: v = rcount ? v / (double)rcount : NAN; break;
        case R_L2: v = sqrt(v); break;
        case R_LSE: v = log(v) + (isinf(mx[i]) ? 0 : mx[i]); break;
        case R_LOGSUM: v = log(v); break;
        default: break;
        }
        if (isf)
            ((float *)Y->data)[i] = (float)v;
        else
            nni_set(Y, i, v);
    }
    free(acc);
    free(mx);
    return 0;
}

#define REDUCE(fn, code, ops) static int fn(nni_call *c) { return reduce(c, code, ops); }
REDUCE(op_reduce_sum, R_SUM, 13) REDUCE(op_reduce_mean, R_MEAN, 18) REDUCE(op_reduce_max, R_MAX, 18)
REDUCE(op_reduce_min, R_MIN, 18) REDUCE(op_reduce_prod, R_PROD, 18) REDUCE(op_reduce_l1, R_L1, 18)
REDUCE(op_reduce_l2, R_L2, 18) REDUCE(op_reduce_lse, R_LSE, 18)
REDUCE(op_reduce_ssq, R_SSQ, 18) REDUCE(op_reduce_logsum, R_LOGSUM, 18)

/* outer x axis x inner view of X around `axis` */
static void split3(const nnz_itensor *X, int axis, size_t *outer, size_t *n, size_t *inner)
{
    *outer = *inner = 1;
    for (int i = 0; i < axis; i++) *outer *= (size_t)X->dims[i];
    for (int i = axis + 1; i < X->ndims; i++) *inner *= (size_t)X->dims[i];
    *n = X->ndims ? (size_t)X->dims[axis] : 1;
}

static int arg(nni_call *c, int is_max)
{
    if (nni_need(c, 0) != 0)
        return -1;
    const nnz_itensor *X = c->in[0];
    int axis;
    if (nni_norm_axis(c, nni_attr_i(c, "axis", 0), X->ndims, &axis) != 0)
        return -1;
    int keep = (int)nni_attr_i(c, "keepdims", 1), last = (int)nni_attr_i(c, "select_last_index", 0);
    int64_t od[NNZ_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < X->ndims; i++)
        if (i != axis) od[nd++] = X->dims[i];
        else if (keep) od[nd++] = 1;
    if (X->dims[axis] == 0)
        return nni_fail(c, "the axis is empty");
    if (nni_out(c, 0, NNZ_DT_INT64, nd, od) != 0)
        return -1;
    size_t outer, n, inner;
    split3(X, axis, &outer, &n, &inner);
    int64_t *y = c->out[0]->data;
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            size_t best = 0;
            double bv = nnz_it_get(X, o * n * inner + i);
            for (size_t k = 1; k < n; k++) {
                double v = nnz_it_get(X, (o * n + k) * inner + i);
                if (is_max ? (v > bv || (last && v == bv)) : (v < bv || (last && v == bv))) {
                    bv = v;
                    best = k;
                }
            }
            y[o * inner + i] = (int64_t)best;
        }
    return 0;
}

static int op_argmax(nni_call *c) { return arg(c, 1); }
static int op_argmin(nni_call *c) { return arg(c, 0); }

typedef enum { SM_SOFT, SM_LOG, SM_HARD } smop;

static int softmax(nni_call *c, smop kind)
{
    if (nni_need_float(c, 0) != 0)
        return -1;
    const nnz_itensor *X = c->in[0];
    int axis;
    if (nni_norm_axis(c, nni_attr_i(c, "axis", c->opset >= 13 ? -1 : 1), X->ndims, &axis) != 0)
        return -1;
    if (nni_out(c, 0, X->dtype, X->ndims, X->dims) != 0)
        return -1;
    size_t outer, n, inner;
    if (c->opset < 13) {
        /* older opsets: the input as a 2-D matrix split at axis */
        outer = 1;
        n = 1;
        for (int i = 0; i < axis; i++) outer *= (size_t)X->dims[i];
        for (int i = axis; i < X->ndims; i++) n *= (size_t)X->dims[i];
        inner = 1;
    } else
        split3(X, axis, &outer, &n, &inner);
    const float *x = X->data;
    float *y = c->out[0]->data;
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            const float *xr = x + o * n * inner + i;
            float *yr = y + o * n * inner + i;
            float m = -INFINITY;
            size_t am = 0;
            for (size_t k = 0; k < n; k++)
                if (xr[k * inner] > m) {
                    m = xr[k * inner];
                    am = k;
                }
            if (kind == SM_HARD) {
                for (size_t k = 0; k < n; k++)
                    yr[k * inner] = k == am ? 1.0f : 0.0f;
                continue;
            }
            double s = 0;
            for (size_t k = 0; k < n; k++)
                s += exp((double)xr[k * inner] - m);
            for (size_t k = 0; k < n; k++)
                yr[k * inner] = kind == SM_LOG ? (float)((double)xr[k * inner] - m - log(s))
                                               : (float)(exp((double)xr[k * inner] - m) / s);
        }
    return 0;
}

static int op_softmax(nni_call *c) { return softmax(c, SM_SOFT); }
static int op_logsoftmax(nni_call *c) { return softmax(c, SM_LOG); }
static int op_hardmax(nni_call *c) { return softmax(c, SM_HARD); }

typedef struct tk_ctx {
    const nnz_itensor *x;
    size_t base, inner;
    int largest;
} tk_ctx;

static int tk_cmp(const void *a, const void *b, void *vctx)
{
    const tk_ctx *t = vctx;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    double u = nnz_it_get(t->x, t->base + i * t->inner), v = nnz_it_get(t->x, t->base + j * t->inner);
    if (u != v) {
        /* NaN sorts as the largest */
        if (u != u) return t->largest ? -1 : 1;
        if (v != v) return t->largest ? 1 : -1;
        return (t->largest ? u > v : u < v) ? -1 : 1;
    }
    return i < j ? -1 : i > j;
}

static int op_topk(nni_call *c)
{
    if (nni_need(c, 0) != 0)
        return -1;
    const nnz_itensor *X = c->in[0];
    int axis;
    if (nni_norm_axis(c, nni_attr_i(c, "axis", -1), X->ndims, &axis) != 0)
        return -1;
    int64_t k;
    if (c->opset >= 10) {
        if (nni_need(c, 1) != 0 || c->in[1]->count != 1 || !nni_is_int(c->in[1]->dtype))
            return nni_fail(c, "K must be one integer");
        k = nni_get_i64(c->in[1], 0);
    } else
        k = nni_attr_i(c, "k", -1);
    if (k < 0 || k > X->dims[axis])
        return nni_fail(c, "K %lld is out of range for a dim of %lld", (long long)k,
                        (long long)X->dims[axis]);
    int largest = (int)nni_attr_i(c, "largest", 1);
    int64_t od[NNZ_MAX_DIMS];
    memcpy(od, X->dims, sizeof od);
    od[axis] = k;
    c->plan_defer = 1;
    if (nni_out(c, 0, X->dtype, X->ndims, od) != 0 || nni_out(c, 1, NNZ_DT_INT64, X->ndims, od) != 0 ||
        nni_plan_done(c))
        return -1;
    size_t outer, n, inner;
    split3(X, axis, &outer, &n, &inner);
    size_t *ord = malloc((n ? n : 1) * sizeof *ord);
    if (!ord)
        return nnz_fail(c->e, NNZ_EXIT_INTERNAL, "out of memory");
    size_t es = nnz_it_esize(X->dtype);
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            tk_ctx t = { X, o * n * inner + i, inner, largest };
            for (size_t q = 0; q < n; q++)
                ord[q] = q;
            qsort_r(ord, n, sizeof *ord, tk_cmp, &t);
            for (int64_t q = 0; q < k; q++) {
                size_t oi = (o * (size_t)k + (size_t)q) * inner + i;
                memcpy((uint8_t *)c->out[0]->data + oi * es,
                       (const uint8_t *)X->data + (t.base + ord[q] * inner) * es, es);
                if (c->out[1])
                    ((int64_t *)c->out[1]->data)[oi] = (int64_t)ord[q];
            }
        }
    free(ord);
    return 0;
}

static int op_layernorm(nni_call *c)
{
    if (nni_need_float(c, 0) != 0 || nni_need_float(c, 1) != 0)
        return -1;
    const nnz_itensor *X = c->in[0], *S = c->in[1], *B = c->nin > 2 ? c->in[2] : NULL;
    int axis;
    if (nni_norm_axis(c, nni_attr_i(c, "axis", -1), X->ndims, &axis) != 0)
        return -1;
    float eps = nni_attr_f(c, "epsilon", 1e-5f);
    size_t outer = 1, n = 1;
    for (int i = 0; i < axis; i++) outer *= (size_t)X->dims[i];
    for (int i = axis; i < X->ndims; i++) n *= (size_t)X->dims[i];
    if (S->count != n && S->count != 1)
        return nni_unsupported(c, "a scale of %zu values for a normalized size of %zu", S->count, n);
    if (B && B->count != n && B->count != 1)
        return nni_unsupported(c, "a bias of %zu values for a normalized size of %zu", B->count, n);
    c->plan_defer = 1;
    if (nni_out(c, 0, X->dtype, X->ndims, X->dims) != 0)
        return -1;
    int64_t sd[NNZ_MAX_DIMS];
    memcpy(sd, X->dims, sizeof sd);
    for (int i = axis; i < X->ndims; i++) sd[i] = 1;
    if (c->nout > 1 && nni_out(c, 1, NNZ_DT_FLOAT, X->ndims, sd) != 0) return -1;
    if (c->nout > 2 && nni_out(c, 2, NNZ_DT_FLOAT, X->ndims, sd) != 0) return -1;
    if (nni_plan_done(c))
        return -1;
    const float *x = X->data, *s = S->data, *b = B ? B->data : NULL;
    float *y = c->out[0]->data;
    for (size_t o = 0; o < outer; o++) {
        const float *xr = x + o * n;
        float *yr = y + o * n;
        double m = 0, v = 0;
        for (size_t i = 0; i < n; i++) m += xr[i];
        m /= (double)n;
        for (size_t i = 0; i < n; i++) v += (xr[i] - m) * (xr[i] - m);
        v /= (double)n;
        float inv = (float)(1.0 / sqrt(v + eps));
        for (size_t i = 0; i < n; i++)
            yr[i] = (float)((xr[i] - m) * inv) * s[S->count == 1 ? 0 : i] + (b ? b[B->count == 1 ? 0 : i] : 0);
        if (c->nout > 1 && c->out[1]) ((float *)c->out[1]->data)[o] = (float)m;
        if (c->nout > 2 && c->out[2]) ((float *)c->out[2]->data)[o] = inv;
    }
    return 0;
}

static int op_instancenorm(nni_call *c)
{
    for (int k = 0; k < 3; k++)
        if (nni_need_float(c, k) != 0)
            return -1;
    const nnz_itensor *X = c->in[0];
    if (X->ndims < 3)
        return nni_fail(c, "input has rank %d", X->ndims);
    int64_t C = X->dims[1];
    if (c->in[1]->count != (size_t)C || c->in[2]->count != (size_t)C)
        return nni_fail(c, "scale and B must have %lld values", (long long)C);
    float eps = nni_attr_f(c, "epsilon", 1e-5f);
    if (nni_out(c, 0, X->dtype, X->ndims, X->dims) != 0)
        return -1;
    size_t inner = 1;
    for (int i = 2; i < X->ndims; i++) inner *= (size_t)X->dims[i];
    const float *x = X->data, *s = c->in[1]->data, *b = c->in[2]->data;
    float *y = c->out[0]->data;
    for (size_t p = 0; p < (size_t)X->dims[0] * (size_t)C; p++) {
        const float *xr = x + p * inner;
        float *yr = y + p * inner;
        double m = 0, v = 0;
        for (size_t i = 0; i < inner; i++) m += xr[i];
        m /= (double)(inner ? inner : 1);
        for (size_t i = 0; i < inner; i++) v += (xr[i] - m) * (xr[i] - m);
        v /= (double)(inner ? inner : 1);
        size_t ch = p % (size_t)C;
        float a = (float)(s[ch] / sqrt(v + eps));
        for (size_t i = 0; i < inner; i++)
            yr[i] = (float)(xr[i] - m) * a + b[ch];
    }
    return 0;
}

static int op_cumsum(nni_call *c)
{
    if (nni_need(c, 0) != 0 || nni_need(c, 1) != 0)
        return -1;
    const nnz_itensor *X = c->in[0];
    if (c->in[1]->count != 1)
        return nni_fail(c, "axis must be a scalar");
    int axis;
    if (nni_norm_axis(c, nni_get_i64(c->in[1], 0), X->ndims, &axis) != 0)
        return -1;
    int excl = (int)nni_attr_i(c, "exclusive", 0), rev = (int)nni_attr_i(c, "reverse", 0);
    if (nni_out(c, 0, X->dtype, X->ndims, X->dims) != 0)
        return -1;
    size_t outer, n, inner;
    split3(X, axis, &outer, &n, &inner);
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            double s = 0;
            for (size_t q = 0; q < n; q++) {
                size_t k = rev ? n - 1 - q : q, at = (o * n + k) * inner + i;
                double v = nnz_it_get(X, at);
                if (excl) {
                    nni_set(c->out[0], at, s);
                    s += v;
                } else {
                    s += v;
                    nni_set(c->out[0], at, s);
                }
            }
        }
    return 0;
}

/* LRN across channels: x / (bias + alpha/size * sum of squares)^beta */
static int op_lrn(nni_call *c)
{
    if (nni_need_float(c, 0) != 0)
        return -1;
    const nnz_itensor *X = c->in[0];
    if (X->ndims < 2)
        return nni_fail(c, "input has rank %d", X->ndims);
    int64_t size = nni_attr_i(c, "size", 0);
    if (size < 1)
        return nni_fail(c, "size %lld", (long long)size);
    float alpha = nni_attr_f(c, "alpha", 1e-4f), beta = nni_attr_f(c, "beta", 0.75f),
          bias = nni_attr_f(c, "bias", 1.0f);
    if (nni_out(c, 0, X->dtype, X->ndims, X->dims) != 0)
        return -1;
    int64_t C = X->dims[1];
    size_t inner = 1;
    for (int i = 2; i < X->ndims; i++) inner *= (size_t)X->dims[i];
    const float *x = X->data;
    float *y = c->out[0]->data;
    for (int64_t n = 0; n < X->dims[0]; n++)
        for (int64_t ch = 0; ch < C; ch++)
            for (size_t i = 0; i < inner; i++) {
                int64_t lo = ch - (size - 1) / 2, hi = ch + size / 2 + 1;
                double s = 0;
                for (int64_t q = lo < 0 ? 0 : lo; q < (hi > C ? C : hi); q++) {
                    double v = x[((size_t)(n * C + q)) * inner + i];
                    s += v * v;
                }
                size_t at = ((size_t)(n * C + ch)) * inner + i;
                y[at] = (float)(x[at] / pow(bias + alpha / (double)size * s, beta));
            }
    return 0;
}

static int op_mvn(nni_call *c)
{
    if (nni_need_float(c, 0) != 0)
        return -1;
    const nnz_itensor *X = c->in[0];
    int mask[NNZ_MAX_DIMS] = { 0 };
    size_t na;
    const int64_t *ax = nni_attr_ints(c, "axes", &na);
    int64_t dflt[3] = { 0, 2, 3 };
    if (!ax) {
        ax = dflt;
        na = 3;
    }
    for (size_t i = 0; i < na; i++) {
        int a;
        if (nni_norm_axis(c, ax[i], X->ndims, &a) != 0)
            return -1;
        mask[a] = 1;
    }
    if (nni_out(c, 0, X->dtype, X->ndims, X->dims) != 0)
        return -1;
    /* statistics over the masked axes, per position of the others */
    int64_t st[NNZ_MAX_DIMS], s = 1, groups = 1;
    for (int i = X->ndims - 1; i >= 0; i--) {
        st[i] = mask[i] ? 0 : s;
        if (!mask[i]) {
            s *= X->dims[i];
            groups *= X->dims[i];
        }
    }
    double *m = calloc((size_t)groups * 2 + 1, sizeof *m), *cnt = NULL;
    if (!m)
        return nnz_fail(c->e, NNZ_EXIT_INTERNAL, "out of memory");
    cnt = m + groups;
    const float *x = X->data;
    float *y = c->out[0]->data;
    for (int pass = 0; pass < 3; pass++) {
        int64_t idx[NNZ_MAX_DIMS] = { 0 }, off = 0;
        for (size_t i = 0; i < X->count; i++) {
            if (pass == 0) {
                m[off] += x[i];
                cnt[off] += 1;
            } else if (pass == 1) {
                double d = x[i] - m[off] / cnt[off];
                y[i] = (float)(d * d); /* the square, for the variance */
            } else
                y[i] = (float)((x[i] - m[off] / cnt[off]));
            for (int d = X->ndims - 1; d >= 0; d--) {
                off += st[d];
                if (++idx[d] < X->dims[d]) break;
                off -= st[d] * X->dims[d];
                idx[d] = 0;
            }
        }
        if (pass == 1) {
            /* variances into a second accumulation over y */
            double *v = calloc((size_t)groups + 1, sizeof *v);
            if (!v) {
                free(m);
                return nnz_fail(c->e, NNZ_EXIT_INTERNAL, "out of memory");
            }
            int64_t idx2[NNZ_MAX_DIMS] = { 0 }, off2 = 0;
            for (size_t i = 0; i < X->count; i++) {
                v[off2] += y[i];
                for (int d = X->ndims - 1; d >= 0; d--) {
                    off2 += st[d];
                    if (++idx2[d] < X->dims[d]) break;
                    off2 -= st[d] * X->dims[d];
                    idx2[d] = 0;
                }
            }
            int64_t idx3[NNZ_MAX_DIMS] = { 0 }, off3 = 0;
            for (size_t i = 0; i < X->count; i++) {
                y[i] = (float)((x[i] - m[off3] / cnt[off3]) / (sqrt(v[off3] / cnt[off3]) + 1e-9));
                for (int d = X->ndims - 1; d >= 0; d--) {
                    off3 += st[d];
                    if (++idx3[d] < X->dims[d]) break;
                    off3 -= st[d] * X->dims[d];
                    idx3[d] = 0;
                }
            }
            free(v);
            break;
        }
    }
    free(m);
    return 0;
}

const nni_op nni_ops_reduce[] = {
    { "LRN", op_lrn, 1, 1, 0 }, { "MeanVarianceNormalization", op_mvn, 1, 1, 0 },
    { "ReduceSum", op_reduce_sum, 1, 2, NNI_IN(1) }, { "ReduceMean", op_reduce_mean, 1, 2, NNI_IN(1) },
    { "ReduceMax", op_reduce_max, 1, 2, NNI_IN(1) }, { "ReduceMin", op_reduce_min, 1, 2, NNI_IN(1) },
    { "ReduceProd", op_reduce_prod, 1, 2, NNI_IN(1) }, { "ReduceL1", op_reduce_l1, 1, 2, NNI_IN(1) },
    { "ReduceL2", op_reduce_l2, 1, 2, NNI_IN(1) }, { "ReduceLogSumExp", op_reduce_lse, 1, 2, NNI_IN(1) },
    { "ReduceSumSquare", op_reduce_ssq, 1, 2, NNI_IN(1) }, { "ReduceLogSum", op_reduce_logsum, 1, 2, NNI_IN(1) },
    { "ArgMax", op_argmax, 1, 1, 0 }, { "ArgMin", op_argmin, 1, 1, 0 },
    { "Softmax", op_softmax, 1, 1, 0 }, { "LogSoftmax", op_logsoftmax, 1, 1, 0 },
    { "Hardmax", op_hardmax, 1, 1, 0 }, { "TopK", op_topk, 1, 2, NNI_IN(1) },
    { "LayerNormalization", op_layernorm, 2, 3, 0 },
    { "InstanceNormalization", op_instancenorm, 3, 3, 0 }, { "CumSum", op_cumsum, 2, 2, NNI_IN(1) },
    { NULL, NULL, 0, 0, 0 },
};
