/* op_quant.c - quantized ops: QuantizeLinear, DequantizeLinear,
 * DynamicQuantizeLinear, MatMulInteger, ConvInteger, QLinearMatMul,
 * QLinearConv.
 *
 * Integer products run as float sgemm on the zero-point-shifted integers:
 * exact while every sum stays below 2^24, which is checked (larger is
 * refused rather than rounded). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

static int qrange(int dtype, double *lo, double *hi)
{
    switch (dtype) {
    case NNZ_DT_UINT8: *lo = 0; *hi = 255; return 0;
    case NNZ_DT_INT8: *lo = -128; *hi = 127; return 0;
    case NNZ_DT_INT32: *lo = -2147483648.0; *hi = 2147483647.0; return 0;
    default: return -1;
    }
}

/* Per-tensor or per-axis parameter index for element i. */
typedef struct qaxis {
    size_t n, inner; /* values along the axis (1: per tensor), elements after it */
} qaxis;

static int qaxis_init(nni_call *c, const nnz_itensor *x, const nnz_itensor *scale, qaxis *q)
{
    q->n = scale->count;
    q->inner = 1;
    if (scale->count == 1)
        return 0;
    if (scale->ndims != 1)
        return nni_unsupported(c, "blocked quantization (a scale of rank %d)", scale->ndims);
    int axis;
    if (nni_norm_axis(c, nni_attr_i(c, "axis", 1), x->ndims, &axis) != 0)
        return -1;
    if ((size_t)x->dims[axis] != scale->count)
        return nni_fail(c, "%zu scales for an axis of %lld", scale->count, (long long)x->dims[axis]);
    for (int i = axis + 1; i < x->ndims; i++)
        q->inner *= (size_t)x->dims[i];
    return 0;
}

static size_t qidx(const qaxis *q, size_t i)
{
    return q->n == 1 ? 0 : (i / q->inner) % q->n;
}

static int op_quantize(nni_call *c)
{
    if (nni_need(c, 0) != 0 || nni_need(c, 1) != 0)
        return -1;
    const nnz_itensor *x = c->in[0], *s = c->in[1], *z = c->nin > 2 ? c->in[2] : NULL;
    int odt = z ? z->dtype : (int)nni_attr_i(c, "output_dtype", NNZ_DT_UINT8);
    if (!odt)
        odt = NNZ_DT_UINT8;
    double lo, hi;
    if (qrange(odt, &lo, &hi) != 0 || odt == NNZ_DT_INT32)
        return nni_unsupported(c, "quantizing to %s (uint8, int8)", nnz_dtype_name(odt));
    if (z && z->count != s->count)
        return nni_fail(c, "zero point and scale differ in size");
    qaxis q;
    if (qaxis_init(c, x, s, &q) != 0 || nni_out(c, 0, odt, x->ndims, x->dims) != 0)
        return -1;
    if (nni_attr_i(c, "saturate", 1) != 1)
        return nni_unsupported(c, "saturate 0");
    for (size_t i = 0; i < x->count; i++) {
        size_t k = qidx(&q, i);
        /* in float, as the reference and ONNX Runtime divide */
        double v = nearbyintf((float)nnz_it_get(x, i) / (float)nnz_it_get(s, k)) + (double)(z ? nni_get_i64(z, k) : 0);
        v = v < lo ? lo : v > hi ? hi : v;
        nni_set_i64(c->out[0], i, (int64_t)v);
    }
    return 0;
}

static int op_dequantize(nni_call *c)
{
    if (nni_need(c, 0) != 0 || nni_need(c, 1) != 0)
        return -1;
    const nnz_itensor *x = c->in[0], *s = c->in[1], *z = c->nin > 2 ? c->in[2] : NULL;
    double lo, hi;
    if (qrange(x->dtype, &lo, &hi) != 0)
        return nni_unsupported(c, "dequantizing %s (uint8, int8, int32)", nnz_dtype_name(x->dtype));
    if (!nni_is_float(s->dtype))
        return nni_fail(c, "scale is %s", nnz_dtype_name(s->dtype));
    if (z && (z->count != s->count || z->dtype != x->dtype))
        return nni_fail(c, "zero point does not match the scale or the input type");
    qaxis q;
    if (qaxis_init(c, x, s, &q) != 0 || nni_out(c, 0, s->dtype, x->ndims, x->dims) != 0)
        return -1;
    float *y = c->out[0]->data;
    const float *sc = s->data;
    for (size_t i = 0; i < x->count; i++) {
        size_t k = qidx(&q, i);
        y[i] = (float)(nni_get_i64(x, i) - (z ? nni_get_i64(z, k) : 0)) * sc[k];
    }
    return 0;
}

static int op_dynamic_quantize(nni_call *c)
{
    if (nni_need_float(c, 0) != 0)
        return -1;
    const nnz_itensor *x = c->in[0];
    c->plan_defer = 1;
    if (nni_out(c, 0, NNZ_DT_UINT8, x->ndims, x->dims) != 0 || nni_out(c, 1, NNZ_DT_FLOAT, 0, NULL) != 0 ||
        nni_out(c, 2, NNZ_DT_UINT8, 0, NULL) != 0 || nni_plan_done(c))
        return -1;
    float mn = 0, mx = 0;
    const float *a = x->data;
    for (size_t i = 0; i < x->count; i++) {
        if (a[i] < mn) mn = a[i];
        if (a[i] > mx) mx = a[i];
    }
    float scale = (mx - mn) / 255.0f;
    float zpf = scale != 0 ? nearbyintf(fmaxf(0, fminf(255, 0 - mn / scale))) : 0;
    uint8_t *y = c->out[0]->data;
    for (size_t i = 0; i < x->count; i++) {
        float v = scale != 0 ? nearbyintf(a[i] / scale) + zpf : zpf;
        y[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    if (c->out[1]) *(float *)c->out[1]->data = scale;
    if (c->out[2]) *(uint8_t *)c->out[2]->data = (uint8_t)zpf;
    return 0;
}

/* An integer tensor minus its zero point (per tensor, or per index along
 * `axis` of size n) as a float tensor the caller frees; *maxabs the
 * largest magnitude. */
static int shifted(nni_call *c, const nnz_itensor *x, const nnz_itensor *z, int axis,
                   nnz_itensor *out, double *maxabs)
{
    double lo, hi;
    if (qrange(x->dtype, &lo, &hi) != 0 || x->dtype == NNZ_DT_INT32)
        return nni_unsupported(c, "integer input of type %s (uint8, int8)", nnz_dtype_name(x->dtype));
    if (z && z->dtype != x->dtype)
        return nni_fail(c, "zero point type %s differs from its input's %s",
                        nnz_dtype_name(z->dtype), nnz_dtype_name(x->dtype));
    size_t inner = 1, n = 1;
    if (z && z->count > 1) {
        if (axis < 0 || axis >= x->ndims || (size_t)x->dims[axis] != z->count)
            return nni_unsupported(c, "a zero point of %zu values here", z->count);
        n = z->count;
        for (int i = axis + 1; i < x->ndims; i++)
            inner *= (size_t)x->dims[i];
    }
    memset(out, 0, sizeof *out);
    if (nni_is_sentinel(x->data)) {
        /* the shape plan: a value with a shape only stays one */
        *out = *x;
        out->dtype = NNZ_DT_FLOAT;
        out->bytes = x->count * 4;
        out->borrowed = 1;
        *maxabs = 0;
        return 0;
    }
    if (nni_account(c->inf, x->count * 4, c->e) != 0)
        return -1;
    if (nnz_it_alloc(out, NNZ_DT_FLOAT, x->ndims, x->dims, c->e) != 0) {
        c->inf->live -= x->count * 4;
        return -1;
    }
    float *o = out->data;
    *maxabs = 0;
    for (size_t i = 0; i < x->count; i++) {
        int64_t zp = z ? nni_get_i64(z, n == 1 ? 0 : (i / inner) % n) : 0;
        o[i] = (float)(nni_get_i64(x, i) - zp);
        if (fabs(o[i]) > *maxabs) *maxabs = fabs(o[i]);
    }
    return 0;
}

static int exact_or_fail(nni_call *c, double ma, double mb, double k)
{
    if (ma * mb * k >= 16777216.0)
        return nni_unsupported(c, "integer sums past 2^24 (%g), which float products would round",
                               ma * mb * k);
    return 0;
}

static void round_int32(const nnz_itensor *f, nnz_itensor *y)
{
    const float *a = f->data;
    int32_t *o = y->data;
    for (size_t i = 0; i < f->count; i++)
        o[i] = (int32_t)a[i];
}

static int matmul_float(nni_call *c, const nnz_itensor *A, const nnz_itensor *B, nnz_itensor *Y)
{
    int nd;
    int64_t od[NNZ_MAX_DIMS], M, K, N;
    if (nni_matmul_shape(c, A, B, &nd, od, &M, &K, &N) != 0)
        return -1;
    if (nni_is_sentinel(A->data) || nni_is_sentinel(B->data)) {
        /* the shape plan: the product's shape only */
        memset(Y, 0, sizeof *Y);
        Y->dtype = NNZ_DT_FLOAT;
        Y->ndims = nd;
        memcpy(Y->dims, od, sizeof od);
        Y->count = nni_shape_count(nd, od);
        Y->bytes = Y->count * 4;
        Y->data = nni_shaped_data;
        Y->borrowed = 1;
        return 0;
    }
    if (nni_account(c->inf, nni_shape_count(nd, od) * 4, c->e) != 0)
        return -1;
    if (nnz_it_alloc(Y, NNZ_DT_FLOAT, nd, od, c->e) != 0) {
        c->inf->live -= nni_shape_count(nd, od) * 4;
        return -1;
    }
    int bnd = nd - (A->ndims >= 2) - (B->ndims >= 2);
    int64_t batches = 1;
    for (int i = 0; i < bnd; i++)
        batches *= od[i];
    for (int64_t bi = 0; bi < batches; bi++) {
        int64_t oa, ob;
        nni_matmul_offsets(A, B, bnd, od, bi, &oa, &ob);
        nni_sgemm(0, 0, (int)M, (int)N, (int)K, 1.0f, (const float *)A->data + oa * M * K, (int)K,
                  (const float *)B->data + ob * K * N, (int)N, 0.0f, (float *)Y->data + bi * M * N, (int)N);
    }
    return 0;
}

static int op_matmul_integer(nni_call *c)
{
    if (nni_need(c, 0) != 0 || nni_need(c, 1) != 0)
        return -1;
    const nnz_itensor *A = c->in[0], *B = c->in[1];
    const nnz_itensor *za = c->nin > 2 ? c->in[2] : NULL, *zb = c->nin > 3 ? c->in[3] : NULL;
    nnz_itensor fa, fb, fy = { 0 };
    double ma, mb;
    if (shifted(c, A, za, A->ndims - 2, &fa, &ma) != 0)
        return -1;
    if (shifted(c, B, zb, B->ndims - 1, &fb, &mb) != 0) {
        nni_release(c->inf, &fa);
        return -1;
    }
    int rc = exact_or_fail(c, ma, mb, (double)A->dims[A->ndims - 1]);
    if (rc == 0)
        rc = matmul_float(c, &fa, &fb, &fy);
    if (rc == 0)
        rc = nni_out(c, 0, NNZ_DT_INT32, fy.ndims, fy.dims);
    if (rc == 0)
        round_int32(&fy, c->out[0]);
    nni_release(c->inf, &fa);
    nni_release(c->inf, &fb);
    nni_release(c->inf, &fy);
    return rc;
}

static int op_conv_integer(nni_call *c)
{
    if (nni_need(c, 0) != 0 || nni_need(c, 1) != 0)
        return -1;
    const nnz_itensor *X = c->in[0], *W = c->in[1];
    const nnz_itensor *zx = c->nin > 2 ? c->in[2] : NULL, *zw = c->nin > 3 ? c->in[3] : NULL;
    nnz_itensor fx, fw, fy = { 0 };
    double mx, mw;
    if (zx && zx->count != 1)
        return nni_unsupported(c, "a per-channel input zero point");
    if (shifted(c, X, zx, 1, &fx, &mx) != 0)
        return -1;
    if (shifted(c, W, zw, 0, &fw, &mw) != 0) {
        nni_release(c->inf, &fx);
        return -1;
    }
    double k = (double)(W->count / (size_t)(W->dims[0] ? W->dims[0] : 1));
    nnz_itensor *saved = c->out[0];
    int rc = exact_or_fail(c, mx, mw, k);
    if (rc == 0) {
        c->out[0] = &fy;
        rc = nni_conv_float(c, &fx, &fw, NULL, 0);
        c->out[0] = saved;
        if (rc != 0 && c->plan_stop && !c->e->code)
            rc = c->plan_stop = 0; /* the plan: fy has its shape; now the output's */
    }
    if (rc == 0)
        rc = nni_out(c, 0, NNZ_DT_INT32, fy.ndims, fy.dims);
    if (rc == 0)
        round_int32(&fy, c->out[0]);
    nni_release(c->inf, &fx);
    nni_release(c->inf, &fw);
    nni_release(c->inf, &fy);
    return rc;
}

/* y = saturate(round(acc * (sa * sb[k]) / sy) + zy), k per output column/channel */
static int requant(nni_call *c, const nnz_itensor *acc, const nnz_itensor *sa, const nnz_itensor *sb,
                   const nnz_itensor *sy, const nnz_itensor *zy, size_t inner, size_t nk)
{
    int odt = zy ? zy->dtype : NNZ_DT_UINT8;
    double lo, hi;
    if (qrange(odt, &lo, &hi) != 0 || odt == NNZ_DT_INT32)
        return nni_unsupported(c, "output type %s", nnz_dtype_name(odt));
    if (nni_out(c, 0, odt, acc->ndims, acc->dims) != 0)
        return -1;
    const float *a = acc->data;
    double s0 = nnz_it_get(sa, 0), ys = nnz_it_get(sy, 0);
    int64_t z = zy ? nni_get_i64(zy, 0) : 0;
    for (size_t i = 0; i < acc->count; i++) {
        size_t k = sb->count == 1 ? 0 : (i / inner) % nk;
        double v = nearbyint((double)a[i] * (s0 * nnz_it_get(sb, k)) / ys) + (double)z;
        v = v < lo ? lo : v > hi ? hi : v;
        nni_set_i64(c->out[0], i, (int64_t)v);
    }
    return 0;
}

static int op_qlinear_matmul(nni_call *c)
{
    for (int k = 0; k < 8; k++)
        if (k != 2 && k != 5 && k != 7 && nni_need(c, k) != 0)
            return -1;
    const nnz_itensor *A = c->in[0], *sa = c->in[1], *za = c->in[2], *B = c->in[3], *sb = c->in[4],
                      *zb = c->in[5], *sy = c->in[6], *zy = c->in[7];
    if (sa->count != 1 || sy->count != 1 || (zy && zy->count != 1))
        return nni_unsupported(c, "per-row scales of A or Y");
    nnz_itensor fa, fb, fy = { 0 };
    double ma, mb;
    if (shifted(c, A, za, A->ndims - 2, &fa, &ma) != 0)
        return -1;
    if (shifted(c, B, zb, B->ndims - 1, &fb, &mb) != 0) {
        nni_release(c->inf, &fa);
        return -1;
    }
    int rc = exact_or_fail(c, ma, mb, (double)A->dims[A->ndims - 1]);
    if (rc == 0)
        rc = matmul_float(c, &fa, &fb, &fy);
    if (rc == 0 && sb->count != 1 && sb->count != (size_t)B->dims[B->ndims - 1])
        rc = nni_fail(c, "b_scale has %zu values", sb->count);
    if (rc == 0)
        rc = requant(c, &fy, sa, sb, sy, zy, 1, sb->count);
    nni_release(c->inf, &fa);
    nni_release(c->inf, &fb);
    nni_release(c->inf, &fy);
    return rc;
}

static int op_qlinear_conv(nni_call *c)
{
    for (int k = 0; k < 8; k++)
        if (k != 2 && k != 5 && k != 7 && nni_need(c, k) != 0)
            return -1;
    const nnz_itensor *X = c->in[0], *sx = c->in[1], *zx = c->in[2], *W = c->in[3], *sw = c->in[4],
                      *zw = c->in[5], *sy = c->in[6], *zy = c->in[7], *B = c->nin > 8 ? c->in[8] : NULL;
    if (sx->count != 1 || sy->count != 1 || (zx && zx->count != 1) || (zy && zy->count != 1))
        return nni_unsupported(c, "per-channel scales of x or y");
    nnz_itensor fx, fw, fy = { 0 };
    double mx, mw;
    if (shifted(c, X, zx, 1, &fx, &mx) != 0)
        return -1;
    if (shifted(c, W, zw, 0, &fw, &mw) != 0) {
        nni_release(c->inf, &fx);
        return -1;
    }
    double k = (double)(W->count / (size_t)(W->dims[0] ? W->dims[0] : 1));
    int rc = exact_or_fail(c, mx, mw, k);
    float *bias = NULL;
    if (rc == 0 && B) {
        if (B->dtype != NNZ_DT_INT32 || B->count != (size_t)W->dims[0])
            rc = nni_fail(c, "B must be int32 with one value per output channel");
        else if (!(bias = malloc(B->count * 4)))
            rc = nnz_fail(c->e, NNZ_EXIT_INTERNAL, "out of memory");
        else
            for (size_t i = 0; i < B->count; i++) {
                bias[i] = (float)((const int32_t *)B->data)[i];
                if (fabs(bias[i]) + mx * mw * k >= 16777216.0)
                    rc = exact_or_fail(c, 1, 1, 16777216.0);
            }
    }
    nnz_itensor *saved = c->out[0];
    if (rc == 0) {
        c->out[0] = &fy;
        rc = nni_conv_float(c, &fx, &fw, bias, 0);
        c->out[0] = saved;
        if (rc != 0 && c->plan_stop && !c->e->code)
            rc = c->plan_stop = 0; /* the plan: fy has its shape; now the output's */
    }
    if (rc == 0 && sw->count != 1 && sw->count != (size_t)W->dims[0])
        rc = nni_fail(c, "w_scale has %zu values", sw->count);
    if (rc == 0) {
        size_t inner = 1;
        for (int i = 2; i < fy.ndims; i++)
            inner *= (size_t)fy.dims[i];
        rc = requant(c, &fy, sx, sw, sy, zy, inner, sw->count);
    }
    free(bias);
    nni_release(c->inf, &fx);
    nni_release(c->inf, &fw);
    nni_release(c->inf, &fy);
    return rc;
}

const nni_op nni_ops_quant[] = {
    { "QuantizeLinear", op_quantize, 2, 3, 0 }, { "DequantizeLinear", op_dequantize, 2, 3, 0 },
    { "DynamicQuantizeLinear", op_dynamic_quantize, 1, 1, 0 },
    { "MatMulInteger", op_matmul_integer, 2, 4, 0 }, { "ConvInteger", op_conv_integer, 2, 4, 0 },
    { "QLinearMatMul", op_qlinear_matmul, 8, 8, 0 }, { "QLinearConv", op_qlinear_conv, 8, 9, 0 },
    { NULL, NULL, 0, 0, 0 },
};
