/* op_elementwise.c - unary and broadcasting n-ary ops, Cast, Clip, Where. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "infer_int.h"
#include "ops.h"

/* ---- broadcasting iterator: rows along the last output dim ------------------ */

typedef struct bit {
    int nd, nin;
    int64_t dims[NNZ_MAX_DIMS];
    int64_t st[3][NNZ_MAX_DIMS];
    int64_t idx[NNZ_MAX_DIMS];
    size_t off[3];
    size_t rows, row, len;
} bit;

static void bit_init(bit *it, int nd, const int64_t *dims, const nnz_itensor *const *in, int nin)
{
    memset(it, 0, sizeof *it);
    it->nin = nin;
    /* a 0-d output is one row of one element */
    it->nd = nd ? nd : 1;
    for (int i = 0; i < nd; i++)
        it->dims[i] = dims[i];
    if (!nd)
        it->dims[0] = 1;
    for (int k = 0; k < nin; k++)
        nni_bcast_strides(in[k], nd, dims, it->st[k]);
    /* merge neighbouring dims every input steps through as one (both
     * contiguous, or both broadcast): [1,C,H,W] * [1,C,1,1] becomes rows of
     * H*W times one scalar, long loops instead of a row per W */
    int m = 0;
    int64_t d[NNZ_MAX_DIMS], st[3][NNZ_MAX_DIMS];
    for (int i = nd - 1; i >= 0; i--) {
        if (dims[i] == 1)
            continue;
        int merge = m > 0;
        for (int k = 0; k < nin && merge; k++)
            merge = it->st[k][i] == st[k][m - 1] * d[m - 1];
        if (merge) {
            d[m - 1] *= dims[i];
            continue;
        }
        d[m] = dims[i];
        for (int k = 0; k < nin; k++)
            st[k][m] = it->st[k][i];
        m++;
    }
    if (nd && m) {
        it->nd = m;
        for (int i = 0; i < m; i++) {
            it->dims[i] = d[m - 1 - i];
            for (int k = 0; k < nin; k++)
                it->st[k][i] = st[k][m - 1 - i];
        }
    } else if (nd) {
        /* every dim is 1: one element */
        it->nd = 1;
        it->dims[0] = 1;
        for (int k = 0; k < nin; k++)
            it->st[k][0] = 0;
    }
    it->len = (size_t)it->dims[it->nd - 1];
    it->rows = 1;
    for (int i = 0; i < it->nd - 1; i++)
        it->rows *= (size_t)it->dims[i];
    if (!it->len)
        it->rows = 0;
}

/* advance to the next row; offsets in it->off */
static void bit_next(bit *it)
{
    for (int i = it->nd - 2; i >= 0; i--) {
        for (int k = 0; k < it->nin; k++)
            it->off[k] += (size_t)it->st[k][i];
        if (++it->idx[i] < it->dims[i])
            return;
        for (int k = 0; k < it->nin; k++)
            it->off[k] -= (size_t)(it->st[k][i] * it->dims[i]);
        it->idx[i] = 0;
    }
}

/* ---- unary float ---------------------------------------------------------------- */

typedef enum {
    U_ABS, U_NEG, U_CEIL, U_FLOOR, U_ROUND, U_SQRT, U_EXP, U_LOG, U_SIN, U_COS, U_TAN,
    U_TANH, U_SIGMOID, U_RELU, U_ERF, U_RECIP, U_SIGN, U_SOFTPLUS, U_SOFTSIGN, U_HSIG, U_HSWISH,
    U_LRELU, U_ELU, U_SELU, U_ASIN, U_ACOS, U_ATAN, U_SINH, U_COSH, U_ASINH, U_ACOSH, U_ATANH,
    U_CELU, U_THRELU, U_ISNAN, U_ISINF, U_MISH, U_GELU
} unop;

static float sigmoidf(float x)
{
    return x >= 0 ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x));
}

static int unary(nni_call *c, unop u)
{
    if (nni_need(c, 0) != 0)
        return -1;
    const nnz_itensor *x = c->in[0];
    int isint = nni_is_int(x->dtype);
    if (isint && u != U_ABS && u != U_NEG && u != U_SIGN && u != U_RELU && u != U_CEIL &&
        u != U_FLOOR && u != U_ROUND)
        return nni_unsupported(c, "input of type %s", nnz_dtype_name(x->dtype));
    if (!isint && !nni_is_float(x->dtype))
        return nni_unsupported(c, "input of type %s", nnz_dtype_name(x->dtype));
    int odt = u == U_ISNAN || u == U_ISINF ? NNZ_DT_BOOL : x->dtype;
    c->uninit = 1; /* every element is written below */
    int rc = nni_out_reuse(c, 0, 0, odt, x->ndims, x->dims);
    c->uninit = 0;
    if (rc != 0)
        return -1;
    x = c->in[0];
    nnz_itensor *y = c->out[0];
    if (isint) {
        for (size_t i = 0; i < x->count; i++) {
            int64_t v = nni_get_i64(x, i);
            switch (u) {
            case U_ABS: v = v < 0 ? (int64_t)(0 - (uint64_t)v) : v; break;
            case U_NEG: v = (int64_t)(0 - (uint64_t)v); break;
            case U_SIGN: v = (v > 0) - (v < 0); break;
            case U_RELU: v = v < 0 ? 0 : v; break;
            default: break;
            }
            nni_set_i64(y, i, v);
        }
        return 0;
    }
    const float *a = x->data;
    float *o = y->data;
    float alpha = nni_attr_f(c, "alpha", u == U_LRELU ? 0.01f : u == U_HSIG ? 0.2f :
                             u == U_SELU ? 1.67326319217681884765625f : 1.0f);
    float beta = nni_attr_f(c, "beta", 0.5f);
    float gamma = nni_attr_f(c, "gamma", 1.05070102214813232421875f);
    size_t n = x->count;
    switch (u) {
    case U_ABS: for (size_t i = 0; i < n; i++) o[i] = fabsf(a[i]); break;
    case U_NEG: for (size_t i = 0; i < n; i++) o[i] = -a[i]; break;
    case U_CEIL: for (size_t i = 0; i < n; i++) o[i] = ceilf(a[i]); break;
    case U_FLOOR: for (size_t i = 0; i < n; i++) o[i] = floorf(a[i]); break;
    case U_ROUND: for (size_t i = 0; i < n; i++) o[i] = nearbyintf(a[i]); break;
    case U_SQRT: for (size_t i = 0; i < n; i++) o[i] = sqrtf(a[i]); break;
    case U_EXP: for (size_t i = 0; i < n; i++) o[i] = expf(a[i]); break;
    case U_LOG: for (size_t i = 0; i < n; i++) o[i] = logf(a[i]); break;
    case U_SIN: for (size_t i = 0; i < n; i++) o[i] = sinf(a[i]); break;
    case U_COS: for (size_t i = 0; i < n; i++) o[i] = cosf(a[i]); break;
    case U_TAN: for (size_t i = 0; i < n; i++) o[i] = tanf(a[i]); break;
    case U_ASIN: for (size_t i = 0; i < n; i++) o[i] = asinf(a[i]); break;
    case U_ACOS: for (size_t i = 0; i < n; i++) o[i] = acosf(a[i]); break;
    case U_ATAN: for (size_t i = 0; i < n; i++) o[i] = atanf(a[i]); break;
    case U_SINH: for (size_t i = 0; i < n; i++) o[i] = sinhf(a[i]); break;
    case U_COSH: for (size_t i = 0; i < n; i++) o[i] = coshf(a[i]); break;
    case U_ASINH: for (size_t i = 0; i < n; i++) o[i] = asinhf(a[i]); break;
    case U_ACOSH: for (size_t i = 0; i < n; i++) o[i] = acoshf(a[i]); break;
    case U_ATANH: for (size_t i = 0; i < n; i++) o[i] = atanhf(a[i]); break;
    case U_TANH: for (size_t i = 0; i < n; i++) o[i] = tanhf(a[i]); break;
    case U_SIGMOID: for (size_t i = 0; i < n; i++) o[i] = sigmoidf(a[i]); break;
    case U_RELU: for (size_t i = 0; i < n; i++) o[i] = a[i] > 0 ? a[i] : 0; break;
    case U_ERF: for (size_t i = 0; i < n; i++) o[i] = erff(a[i]); break;
    case U_RECIP: for (size_t i = 0; i < n; i++) o[i] = 1.0f / a[i]; break;
    case U_SIGN: for (size_t i = 0; i < n; i++) o[i] = (float)((a[i] > 0) - (a[i] < 0)); break;
    case U_SOFTPLUS:
        for (size_t i = 0; i < n; i++)
            o[i] = a[i] > 0 ? a[i] + log1pf(expf(-a[i])) : log1pf(expf(a[i]));
        break;
    case U_SOFTSIGN: for (size_t i = 0; i < n; i++) o[i] = a[i] / (1 + fabsf(a[i])); break;
    case U_HSIG:
        beta = nni_attr_f(c, "beta", 0.5f);
        for (size_t i = 0; i < n; i++)
            o[i] = fmaxf(0, fminf(1, alpha * a[i] + beta));
        break;
    case U_HSWISH:
        for (size_t i = 0; i < n; i++)
            o[i] = a[i] * fmaxf(0, fminf(1, a[i] / 6.0f + 0.5f));
        break;
    case U_LRELU: for (size_t i = 0; i < n; i++) o[i] = a[i] >= 0 ? a[i] : alpha * a[i]; break;
    case U_ELU: for (size_t i = 0; i < n; i++) o[i] = a[i] >= 0 ? a[i] : alpha * expm1f(a[i]); break;
    case U_CELU:
        for (size_t i = 0; i < n; i++)
            o[i] = fmaxf(0, a[i]) + fminf(0, alpha * expm1f(a[i] / alpha));
        break;
    case U_SELU:
        for (size_t i = 0; i < n; i++)
            o[i] = gamma * (a[i] > 0 ? a[i] : alpha * expm1f(a[i]));
        break;
    case U_THRELU: for (size_t i = 0; i < n; i++) o[i] = a[i] > alpha ? a[i] : 0; break;
    case U_MISH:
        for (size_t i = 0; i < n; i++) {
            float sp = a[i] > 0 ? a[i] + log1pf(expf(-a[i])) : log1pf(expf(a[i]));
            o[i] = a[i] * tanhf(sp);
        }
        break;
    case U_GELU: {
        const char *appr = nni_attr_s(c, "approximate", "none");
        int tanh_ = strcmp(appr, "tanh") == 0;
        if (!tanh_ && strcmp(appr, "none") != 0)
            return nni_unsupported(c, "approximate '%s' (none, tanh)", appr);
        for (size_t i = 0; i < n; i++) {
            double v = a[i];
            o[i] = (float)(tanh_ ? 0.5 * v * (1 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)))
                                 : 0.5 * v * (1 + erf(v / 1.4142135623730951)));
        }
        break;
    }
    case U_ISNAN: {
        uint8_t *b = y->data;
        for (size_t i = 0; i < n; i++) b[i] = isnan(a[i]) != 0;
        break;
    }
    case U_ISINF: {
        uint8_t *b = y->data;
        int64_t pos = nni_attr_i(c, "detect_positive", 1), neg = nni_attr_i(c, "detect_negative", 1);
        for (size_t i = 0; i < n; i++)
            b[i] = isinf(a[i]) && ((a[i] > 0 && pos) || (a[i] < 0 && neg));
        break;
    }
    }
    return 0;
}

#define UNARY(fn, code) static int fn(nni_call *c) { return unary(c, code); }
UNARY(op_abs, U_ABS) UNARY(op_neg, U_NEG) UNARY(op_ceil, U_CEIL) UNARY(op_floor, U_FLOOR)
UNARY(op_round, U_ROUND) UNARY(op_sqrt, U_SQRT) UNARY(op_exp, U_EXP) UNARY(op_log, U_LOG)
UNARY(op_sin, U_SIN) UNARY(op_cos, U_COS) UNARY(op_tan, U_TAN) UNARY(op_tanh, U_TANH)
UNARY(op_sigmoid, U_SIGMOID) UNARY(op_relu, U_RELU) UNARY(op_erf, U_ERF)
UNARY(op_reciprocal, U_RECIP) UNARY(op_sign, U_SIGN) UNARY(op_softplus, U_SOFTPLUS)
UNARY(op_softsign, U_SOFTSIGN) UNARY(op_hardsigmoid, U_HSIG) UNARY(op_hardswish, U_HSWISH)
UNARY(op_leakyrelu, U_LRELU) UNARY(op_elu, U_ELU) UNARY(op_selu, U_SELU) UNARY(op_asin, U_ASIN)
UNARY(op_acos, U_ACOS) UNARY(op_atan, U_ATAN) UNARY(op_sinh, U_SINH) UNARY(op_cosh, U_COSH)
UNARY(op_asinh, U_ASINH) UNARY(op_acosh, U_ACOSH) UNARY(op_atanh, U_ATANH) UNARY(op_celu, U_CELU)
UNARY(op_thresholdedrelu, U_THRELU) UNARY(op_isnan, U_ISNAN) UNARY(op_isinf, U_ISINF)
UNARY(op_mish, U_MISH) UNARY(op_gelu, U_GELU)

static int op_not(nni_call *c)
{
    if (nni_need(c, 0) != 0)
        return -1;
    const nnz_itensor *x = c->in[0];
    if (x->dtype != NNZ_DT_BOOL)
        return nni_fail(c, "input is %s; Not takes bool", nnz_dtype_name(x->dtype));
    if (nni_out(c, 0, NNZ_DT_BOOL, x->ndims, x->dims) != 0)
        return -1;
    const uint8_t *a = x->data;
    uint8_t *o = c->out[0]->data;
    for (size_t i = 0; i < x->count; i++)
        o[i] = !a[i];
    return 0;
}

/* ---- broadcasting binary --------------------------------------------------------- */

typedef enum {
    B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_MAX, B_MIN, B_MOD, B_PRELU,
    B_AND, B_OR, B_XOR, B_EQ, B_GT, B_GE, B_LT, B_LE, B_BITAND, B_BITOR, B_BITXOR
} binop;

static int is_cmp(binop b)
{
    return b >= B_EQ && b <= B_LE;
}

static float fbin(binop b, float x, float y, int fmod_)
{
    switch (b) {
    case B_ADD: return x + y;
    case B_SUB: return x - y;
    case B_MUL: return x * y;
    case B_DIV: return x / y;
    case B_POW: return powf(x, y);
    case B_MAX: return isnan(x) || isnan(y) ? NAN : (x > y ? x : y);
    case B_MIN: return isnan(x) || isnan(y) ? NAN : (x < y ? x : y);
    case B_MOD: {
        float r = fmodf(x, y);
        if (!fmod_ && r != 0 && ((r < 0) != (y < 0)))
            r += y;
        return r;
    }
    case B_PRELU: return x < 0 ? x * y : x;
    default: return 0;
    }
}

static int64_t ibin(binop b, int64_t x, int64_t y, int fmod_, int *div0)
{
    uint64_t ux = (uint64_t)x, uy = (uint64_t)y;
    switch (b) {
    case B_ADD: return (int64_t)(ux + uy);
    case B_SUB: return (int64_t)(ux - uy);
    case B_MUL: return (int64_t)(ux * uy);
    case B_DIV:
        if (y == 0) { *div0 = 1; return 0; }
        if (x == INT64_MIN && y == -1) return INT64_MIN;
        /* ONNX integer Div truncates like C */
        return x / y;
    case B_MOD: {
        if (y == 0) { *div0 = 1; return 0; }
        if (y == -1) return 0;
        int64_t r = x % y;
        if (!fmod_ && r != 0 && ((r < 0) != (y < 0)))
            r += y;
        return r;
    }
    case B_POW: {
        if (y < 0) return x == 1 ? 1 : 0;
        int64_t r = 1;
        for (int64_t k = 0; k < y && k < 64; k++) r = (int64_t)((uint64_t)r * (uint64_t)x);
        return r;
    }
    case B_MAX: return x > y ? x : y;
    case B_MIN: return x < y ? x : y;
    case B_PRELU: return x < 0 ? (int64_t)(ux * uy) : x;
    case B_AND: return x && y;
    case B_OR: return x || y;
    case B_XOR: return (!x) != (!y);
    case B_BITAND: return (int64_t)(ux & uy);
    case B_BITOR: return (int64_t)(ux | uy);
    case B_BITXOR: return (int64_t)(ux ^ uy);
    default: return 0;
    }
}

static int cmp(binop b, double x, double y)
{
    switch (b) {
    case B_EQ: return x == y;
    case B_GT: return x > y;
    case B_GE: return x >= y;
    case B_LT: return x < y;
    case B_LE: return x <= y;
    default: return 0;
    }
}

/* out = a (op) b with broadcasting, into c->out[0] (already sized). */
static int binary_into(nni_call *c, binop b, const nnz_itensor *A, const nnz_itensor *B,
                       nnz_itensor *O)
{
    int fmod_ = (int)nni_attr_i(c, "fmod", 0);
    int nd = O->ndims;
    const nnz_itensor *ins[2] = { A, B };
    bit it;
    bit_init(&it, nd, O->dims, ins, 2);
    int fa = nni_is_float(A->dtype), fo = nni_is_float(O->dtype);
    size_t o = 0;
    int div0 = 0;
    if (fa && fo && nni_is_float(B->dtype)) {
        const float *x = A->data, *y = B->data;
        float *z = O->data;
        if (A->count == O->count && B->count == O->count && b <= B_DIV && A->ndims == B->ndims) {
            size_t n = O->count;
            switch (b) {
            case B_ADD: for (size_t i = 0; i < n; i++) z[i] = x[i] + y[i]; break;
            case B_SUB: for (size_t i = 0; i < n; i++) z[i] = x[i] - y[i]; break;
            case B_MUL: for (size_t i = 0; i < n; i++) z[i] = x[i] * y[i]; break;
            default: for (size_t i = 0; i < n; i++) z[i] = x[i] / y[i]; break;
            }
            return 0;
        }
        for (it.row = 0; it.row < it.rows; it.row++, bit_next(&it)) {
            const float *xr = x + it.off[0], *yr = y + it.off[1];
            size_t s0 = (size_t)it.st[0][it.nd - 1], s1 = (size_t)it.st[1][it.nd - 1];
            if (nd == 0)
                s0 = s1 = 0;
            /* the common layouts, as loops the compiler vectorizes */
            if (s0 == 1 && s1 <= 1 && b <= B_DIV) {
                float *zr = z + o;
                size_t n = it.len;
                if (s1 == 0) {
                    float y0 = yr[0];
                    switch (b) {
                    case B_ADD: for (size_t i = 0; i < n; i++) zr[i] = xr[i] + y0; break;
                    case B_SUB: for (size_t i = 0; i < n; i++) zr[i] = xr[i] - y0; break;
                    case B_MUL: for (size_t i = 0; i < n; i++) zr[i] = xr[i] * y0; break;
                    default: for (size_t i = 0; i < n; i++) zr[i] = xr[i] / y0; break;
                    }
                } else {
                    switch (b) {
                    case B_ADD: for (size_t i = 0; i < n; i++) zr[i] = xr[i] + yr[i]; break;
                    case B_SUB: for (size_t i = 0; i < n; i++) zr[i] = xr[i] - yr[i]; break;
                    case B_MUL: for (size_t i = 0; i < n; i++) zr[i] = xr[i] * yr[i]; break;
                    default: for (size_t i = 0; i < n; i++) zr[i] = xr[i] / yr[i]; break;
                    }
                }
                o += it.len;
                continue;
            }
            if (s1 == 1 && s0 == 0 && b <= B_DIV) {
                float *zr = z + o, x0 = xr[0];
                size_t n = it.len;
                switch (b) {
                case B_ADD: for (size_t i = 0; i < n; i++) zr[i] = x0 + yr[i]; break;
                case B_SUB: for (size_t i = 0; i < n; i++) zr[i] = x0 - yr[i]; break;
                case B_MUL: for (size_t i = 0; i < n; i++) zr[i] = x0 * yr[i]; break;
                default: for (size_t i = 0; i < n; i++) zr[i] = x0 / yr[i]; break;
                }
                o += it.len;
                continue;
            }
            switch (b) {
            case B_ADD: for (size_t i = 0; i < it.len; i++) z[o + i] = xr[i * s0] + yr[i * s1]; break;
            case B_SUB: for (size_t i = 0; i < it.len; i++) z[o + i] = xr[i * s0] - yr[i * s1]; break;
            case B_MUL: for (size_t i = 0; i < it.len; i++) z[o + i] = xr[i * s0] * yr[i * s1]; break;
            case B_DIV: for (size_t i = 0; i < it.len; i++) z[o + i] = xr[i * s0] / yr[i * s1]; break;
            default:
                for (size_t i = 0; i < it.len; i++)
                    z[o + i] = fbin(b, xr[i * s0], yr[i * s1], fmod_);
            }
            o += it.len;
        }
        return 0;
    }
    for (it.row = 0; it.row < it.rows; it.row++, bit_next(&it)) {
        size_t s0 = nd ? (size_t)it.st[0][it.nd - 1] : 0, s1 = nd ? (size_t)it.st[1][it.nd - 1] : 0;
        for (size_t i = 0; i < it.len; i++) {
            size_t ia = it.off[0] + i * s0, ib = it.off[1] + i * s1;
            if (is_cmp(b)) {
                int r = fa || A->dtype == NNZ_DT_DOUBLE
                            ? cmp(b, nnz_it_get(A, ia), nnz_it_get(B, ib))
                            : cmp(b, 0, 0) * 0 + (b == B_EQ ? nni_get_i64(A, ia) == nni_get_i64(B, ib)
                                                : b == B_GT ? nni_get_i64(A, ia) > nni_get_i64(B, ib)
                                                : b == B_GE ? nni_get_i64(A, ia) >= nni_get_i64(B, ib)
                                                : b == B_LT ? nni_get_i64(A, ia) < nni_get_i64(B, ib)
                                                : nni_get_i64(A, ia) <= nni_get_i64(B, ib));
                ((uint8_t *)O->data)[o + i] = (uint8_t)r;
            } else if (fo || O->dtype == NNZ_DT_DOUBLE) {
                double x = nnz_it_get(A, ia), y = nnz_it_get(B, ib);
                if (O->dtype == NNZ_DT_DOUBLE)
                    ((double *)O->data)[o + i] = b == B_POW ? pow(x, y) : fbin(b, (float)x, (float)y, fmod_);
                else
                    ((float *)O->data)[o + i] = fbin(b, (float)x, (float)y, fmod_);
            } else
                nni_set_i64(O, o + i, ibin(b, nni_get_i64(A, ia), nni_get_i64(B, ib), fmod_, &div0));
        }
        o += it.len;
    }
    if (div0)
        return nni_fail(c, "integer division by zero");
    return 0;
}

static int binary(nni_call *c, binop b)
{
    if (nni_need(c, 0) != 0 || nni_need(c, 1) != 0)
        return -1;
    const nnz_itensor *A = c->in[0], *B = c->in[1];
    int fa = nni_is_float(A->dtype) || A->dtype == NNZ_DT_DOUBLE;
    int fb = nni_is_float(B->dtype) || B->dtype == NNZ_DT_DOUBLE;
    if (b == B_AND || b == B_OR || b == B_XOR) {
        if (A->dtype != NNZ_DT_BOOL || B->dtype != NNZ_DT_BOOL)
            return nni_fail(c, "inputs are %s and %s; bool expected", nnz_dtype_name(A->dtype),
                            nnz_dtype_name(B->dtype));
    } else if (b != B_POW && (A->dtype != B->dtype) && !(fa && fb && b == B_PRELU))
        return nni_fail(c, "inputs have different types, %s and %s", nnz_dtype_name(A->dtype),
                        nnz_dtype_name(B->dtype));
    if (b == B_POW && fa != fb && !fa)
        return nni_unsupported(c, "integer base with a float exponent");
    int nd;
    int64_t dims[NNZ_MAX_DIMS];
    if (b == B_PRELU && B->ndims <= A->ndims) {
        /* slope broadcasts to X (unidirectional) */
        nd = A->ndims;
        memcpy(dims, A->dims, sizeof dims);
        int64_t bd[NNZ_MAX_DIMS];
        int d2;
        if (nni_bcast_shape(c, A, B, &d2, bd) != 0)
            return -1;
    } else if (nni_bcast_shape(c, A, B, &nd, dims) != 0)
        return -1;
    int odt = is_cmp(b) ? NNZ_DT_BOOL : A->dtype;
    /* in place over A when A has the output's shape (elementwise, so safe) */
    int same_a = A->ndims == nd && !memcmp(A->dims, dims, sizeof(int64_t) * (size_t)nd);
    c->uninit = 1; /* binary_into writes every element */
    int rc = same_a ? nni_out_reuse(c, 0, 0, odt, nd, dims) : nni_out(c, 0, odt, nd, dims);
    c->uninit = 0;
    if (rc != 0)
        return -1;
    return binary_into(c, b, c->in[0], c->in[1], c->out[0]);
}

#define BINARY(fn, code) static int fn(nni_call *c) { return binary(c, code); }
BINARY(op_add, B_ADD) BINARY(op_sub, B_SUB) BINARY(op_mul, B_MUL) BINARY(op_div, B_DIV)
BINARY(op_pow, B_POW) BINARY(op_mod, B_MOD) BINARY(op_prelu, B_PRELU) BINARY(op_and, B_AND)
BINARY(op_or, B_OR) BINARY(op_xor, B_XOR) BINARY(op_equal, B_EQ) BINARY(op_greater, B_GT)
BINARY(op_greater_equal, B_GE) BINARY(op_less, B_LT) BINARY(op_less_equal, B_LE)
BINARY(op_bitwise_and, B_BITAND) BINARY(op_bitwise_or, B_BITOR) BINARY(op_bitwise_xor, B_BITXOR)

/* Max, Min, Sum, Mean: variadic, folding left to right. */
static int variadic(nni_call *c, binop b, int mean)
{
    int nd = 0;
    int64_t dims[NNZ_MAX_DIMS];
    if (c->nin < 1 || nni_need(c, 0) != 0)
        return -1;
    nnz_itensor acc = *c->in[0];
    nd = acc.ndims;
    memcpy(dims, acc.dims, sizeof dims);
    for (int k = 1; k < c->nin; k++) {
        if (nni_need(c, k) != 0)
            return -1;
        if (c->in[k]->dtype != acc.dtype)
            return nni_fail(c, "inputs have different types");
        nnz_itensor shape = acc;
        shape.ndims = nd;
        memcpy(shape.dims, dims, sizeof dims);
        if (nni_bcast_shape(c, &shape, c->in[k], &nd, dims) != 0)
            return -1;
    }
    if (nni_out(c, 0, acc.dtype, nd, dims) != 0)
        return -1;
    nnz_itensor *O = c->out[0];
    /* first input broadcast into O, then fold each other input in place */
    nnz_itensor zero = { .dtype = acc.dtype, .ndims = 0, .count = 1 };
    double zv = 0;
    int64_t zi = 0;
    float zf = 0;
    zero.data = nni_is_float(acc.dtype) ? (void *)&zf : acc.dtype == NNZ_DT_DOUBLE ? (void *)&zv : (void *)&zi;
    if (!nni_is_float(acc.dtype) && acc.dtype != NNZ_DT_DOUBLE)
        zero.dtype = NNZ_DT_INT64;
    if (binary_into(c, B_ADD, c->in[0], &zero, O) != 0)
        return -1;
    for (int k = 1; k < c->nin; k++)
        if (binary_into(c, b, O, c->in[k], O) != 0)
            return -1;
    if (mean && nni_is_float(O->dtype))
        for (size_t i = 0; i < O->count; i++)
            ((float *)O->data)[i] /= (float)c->nin;
    return 0;
}

static int op_max(nni_call *c) { return variadic(c, B_MAX, 0); }
static int op_min(nni_call *c) { return variadic(c, B_MIN, 0); }
static int op_sum(nni_call *c) { return variadic(c, B_ADD, 0); }
static int op_mean(nni_call *c) { return variadic(c, B_ADD, 1); }

static int op_where(nni_call *c)
{
    for (int k = 0; k < 3; k++)
        if (nni_need(c, k) != 0)
            return -1;
    const nnz_itensor *C = c->in[0], *X = c->in[1], *Y = c->in[2];
    if (C->dtype != NNZ_DT_BOOL)
        return nni_fail(c, "condition is %s, not bool", nnz_dtype_name(C->dtype));
    if (X->dtype != Y->dtype)
        return nni_fail(c, "X and Y have different types");
    int nd;
    int64_t dims[NNZ_MAX_DIMS];
    nnz_itensor s = *X;
    if (nni_bcast_shape(c, C, X, &nd, dims) != 0)
        return -1;
    s.ndims = nd;
    memcpy(s.dims, dims, sizeof dims);
    if (nni_bcast_shape(c, &s, Y, &nd, dims) != 0)
        return -1;
    if (nni_out(c, 0, X->dtype, nd, dims) != 0)
        return -1;
    nnz_itensor *O = c->out[0];
    const nnz_itensor *ins[3] = { C, X, Y };
    bit it;
    bit_init(&it, nd, dims, ins, 3);
    size_t es = nnz_it_esize(X->dtype), o = 0;
    for (it.row = 0; it.row < it.rows; it.row++, bit_next(&it)) {
        size_t s0 = nd ? (size_t)it.st[0][it.nd - 1] : 0, s1 = nd ? (size_t)it.st[1][it.nd - 1] : 0,
               s2 = nd ? (size_t)it.st[2][it.nd - 1] : 0;
        for (size_t i = 0; i < it.len; i++) {
            int cond = ((const uint8_t *)C->data)[it.off[0] + i * s0];
            const uint8_t *src = cond ? (const uint8_t *)X->data + (it.off[1] + i * s1) * es
                                      : (const uint8_t *)Y->data + (it.off[2] + i * s2) * es;
            memcpy((uint8_t *)O->data + (o + i) * es, src, es);
        }
        o += it.len;
    }
    return 0;
}

/* ---- Clip, Cast, Identity ------------------------------------------------------- */

static int op_clip(nni_call *c)
{
    if (nni_need(c, 0) != 0)
        return -1;
    const nnz_itensor *x = c->in[0];
    c->uninit = 1; /* every element is written below; in place when it may */
    int rc = nni_out_reuse(c, 0, 0, x->dtype, x->ndims, x->dims);
    c->uninit = 0;
    if (rc != 0)
        return -1;
    x = c->in[0];
    nnz_itensor *y = c->out[0];
    if (nni_is_float(x->dtype)) {
        float lo = -INFINITY, hi = INFINITY;
        if (c->opset < 11) {
            lo = nni_attr_f(c, "min", -INFINITY);
            hi = nni_attr_f(c, "max", INFINITY);
        } else {
            if (c->nin > 1 && c->in[1]) {
                if (c->in[1]->count != 1) return nni_fail(c, "min is not a scalar");
                lo = (float)nnz_it_get(c->in[1], 0);
            }
            if (c->nin > 2 && c->in[2]) {
                if (c->in[2]->count != 1) return nni_fail(c, "max is not a scalar");
                hi = (float)nnz_it_get(c->in[2], 0);
            }
        }
        const float *a = x->data;
        float *o = y->data;
        for (size_t i = 0; i < x->count; i++) {
            float v = a[i];
            v = v < lo ? lo : v;
            o[i] = v > hi ? hi : v;
        }
        return 0;
    }
    if (!nni_is_int(x->dtype))
        return nni_unsupported(c, "input of type %s", nnz_dtype_name(x->dtype));
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    if (c->nin > 1 && c->in[1] && c->in[1]->count == 1) lo = nni_get_i64(c->in[1], 0);
    if (c->nin > 2 && c->in[2] && c->in[2]->count == 1) hi = nni_get_i64(c->in[2], 0);
    for (size_t i = 0; i < x->count; i++) {
        int64_t v = nni_get_i64(x, i);
        v = v < lo ? lo : v;
        nni_set_i64(y, i, v > hi ? hi : v);
    }
    return 0;
}

int nni_cast_into(const nnz_itensor *x, nnz_itensor *y)
{
    if (nni_is_float(x->dtype) && nni_is_float(y->dtype)) {
        /* float16 and bfloat16 are computed in float32, as ONNX Runtime's
         * CPU provider does; values are rounded when written out */
        memcpy(y->data, x->data, x->count * 4);
        return 0;
    }
    for (size_t i = 0; i < x->count; i++) {
        if (nni_is_int(x->dtype) && nni_is_int(y->dtype))
            nni_set_i64(y, i, nni_get_i64(x, i));
        else
            nni_set(y, i, nnz_it_get(x, i));
    }
    return 0;
}

static int op_cast(nni_call *c)
{
    if (nni_need(c, 0) != 0)
        return -1;
    int to = (int)nni_attr_i(c, "to", 0);
    if (!nnz_it_esize(to))
        return nni_unsupported(c, "cast to %s", nnz_dtype_name(to));
    const nnz_itensor *x = c->in[0];
    if (nni_out(c, 0, to, x->ndims, x->dims) != 0)
        return -1;
    return nni_cast_into(x, c->out[0]);
}

static int op_castlike(nni_call *c)
{
    if (nni_need(c, 0) != 0 || nni_need(c, 1) != 0)
        return -1;
    const nnz_itensor *x = c->in[0];
    if (nni_out(c, 0, c->in[1]->dtype, x->ndims, x->dims) != 0)
        return -1;
    return nni_cast_into(x, c->out[0]);
}

static int op_identity(nni_call *c)
{
    if (nni_need(c, 0) != 0)
        return -1;
    return nni_out_copy(c, 0, c->in[0], c->in[0]->ndims, c->in[0]->dims);
}

/* Dropout at inference: the input, and an all-true mask. */
static int op_dropout(nni_call *c)
{
    if (nni_need(c, 0) != 0)
        return -1;
    const nnz_itensor *x = c->in[0];
    int training = c->nin > 2 && c->in[2] && c->in[2]->count && nnz_it_get(c->in[2], 0) != 0;
    float ratio = c->nin > 1 && c->in[1] && c->in[1]->count ? (float)nnz_it_get(c->in[1], 0)
                                                           : nni_attr_f(c, "ratio", 0.5f);
    if ((training || nni_attr_i(c, "is_test", 1) == 0) && ratio != 0)
        return nni_unsupported(c, "training mode (random dropout)");
    c->plan_defer = 1;
    if (nni_out_copy(c, 0, x, x->ndims, x->dims) != 0)
        return -1;
    if (c->nout > 1 && c->out[1] && nni_out(c, 1, NNZ_DT_BOOL, x->ndims, x->dims) != 0)
        return -1;
    if (nni_plan_done(c))
        return -1;
    if (c->nout > 1 && c->out[1])
        memset(c->out[1]->data, 1, c->out[1]->count);
    return 0;
}

static int op_shrink(nni_call *c)
{
    if (nni_need(c, 0) != 0)
        return -1;
    const nnz_itensor *x = c->in[0];
    if (!nni_is_float(x->dtype) && !nni_is_int(x->dtype))
        return nni_unsupported(c, "input of type %s", nnz_dtype_name(x->dtype));
    double lambd = nni_attr_f(c, "lambd", 0.5f), bias = nni_attr_f(c, "bias", 0.0f);
    if (nni_out(c, 0, x->dtype, x->ndims, x->dims) != 0)
        return -1;
    for (size_t i = 0; i < x->count; i++) {
        double v = nnz_it_get(x, i);
        nni_set(c->out[0], i, v < -lambd ? v + bias : v > lambd ? v - bias : 0);
    }
    return 0;
}

const nni_op nni_ops_elementwise[] = {
    { "Dropout", op_dropout, 1, 3, NNI_IN(1) | NNI_IN(2) }, { "Shrink", op_shrink, 1, 1, 0 },
    { "Abs", op_abs, 1, 1, 0 }, { "Neg", op_neg, 1, 1, 0 }, { "Ceil", op_ceil, 1, 1, 0 },
    { "Floor", op_floor, 1, 1, 0 }, { "Round", op_round, 1, 1, 0 }, { "Sqrt", op_sqrt, 1, 1, 0 },
    { "Exp", op_exp, 1, 1, 0 }, { "Log", op_log, 1, 1, 0 }, { "Sin", op_sin, 1, 1, 0 },
    { "Cos", op_cos, 1, 1, 0 }, { "Tan", op_tan, 1, 1, 0 }, { "Tanh", op_tanh, 1, 1, 0 },
    { "Asin", op_asin, 1, 1, 0 }, { "Acos", op_acos, 1, 1, 0 }, { "Atan", op_atan, 1, 1, 0 },
    { "Sinh", op_sinh, 1, 1, 0 }, { "Cosh", op_cosh, 1, 1, 0 }, { "Asinh", op_asinh, 1, 1, 0 },
    { "Acosh", op_acosh, 1, 1, 0 }, { "Atanh", op_atanh, 1, 1, 0 },
    { "Sigmoid", op_sigmoid, 1, 1, 0 }, { "Relu", op_relu, 1, 1, 0 }, { "Erf", op_erf, 1, 1, 0 },
    { "Reciprocal", op_reciprocal, 1, 1, 0 }, { "Sign", op_sign, 1, 1, 0 },
    { "Softplus", op_softplus, 1, 1, 0 }, { "Softsign", op_softsign, 1, 1, 0 },
    { "HardSigmoid", op_hardsigmoid, 1, 1, 0 }, { "HardSwish", op_hardswish, 1, 1, 0 },
    { "LeakyRelu", op_leakyrelu, 1, 1, 0 }, { "Elu", op_elu, 1, 1, 0 }, { "Selu", op_selu, 1, 1, 0 },
    { "Celu", op_celu, 1, 1, 0 }, { "ThresholdedRelu", op_thresholdedrelu, 1, 1, 0 },
    { "IsNaN", op_isnan, 1, 1, 0 }, { "IsInf", op_isinf, 1, 1, 0 }, { "Mish", op_mish, 1, 1, 0 },
    { "Gelu", op_gelu, 1, 1, 0 }, { "Not", op_not, 1, 1, 0 },
    { "Add", op_add, 2, 2, 0 }, { "Sub", op_sub, 2, 2, 0 }, { "Mul", op_mul, 2, 2, 0 },
    { "Div", op_div, 2, 2, 0 }, { "Pow", op_pow, 2, 2, 0 }, { "Mod", op_mod, 2, 2, 0 },
    { "PRelu", op_prelu, 2, 2, 0 }, { "And", op_and, 2, 2, 0 }, { "Or", op_or, 2, 2, 0 },
    { "Xor", op_xor, 2, 2, 0 }, { "Equal", op_equal, 2, 2, 0 }, { "Greater", op_greater, 2, 2, 0 },
    { "GreaterOrEqual", op_greater_equal, 2, 2, 0 }, { "Less", op_less, 2, 2, 0 },
    { "LessOrEqual", op_less_equal, 2, 2, 0 }, { "BitwiseAnd", op_bitwise_and, 2, 2, 0 },
    { "BitwiseOr", op_bitwise_or, 2, 2, 0 }, { "BitwiseXor", op_bitwise_xor, 2, 2, 0 },
    { "Max", op_max, 1, NNI_MAX_IO, 0 }, { "Min", op_min, 1, NNI_MAX_IO, 0 },
    { "Sum", op_sum, 1, NNI_MAX_IO, 0 }, { "Mean", op_mean, 1, NNI_MAX_IO, 0 },
    { "Where", op_where, 3, 3, 0 }, { "Clip", op_clip, 1, 3, 0 }, { "Cast", op_cast, 1, 1, 0 },
    { "CastLike", op_castlike, 2, 2, 0 }, { "Identity", op_identity, 1, 1, 0 },
    { NULL, NULL, 0, 0, 0 },
};

/* ---- elementwise chains ------------------------------------------------------ */

int nni_ew_op(const nni_node *n)
{
    if (n->nout != 1 || n->nsub)
        return 0;
    const char *o = n->op->name;
    if (!strcmp(o, "Add") || !strcmp(o, "Sub") || !strcmp(o, "Mul") || !strcmp(o, "Div"))
        return n->nin == 2;
    if (!strcmp(o, "Relu"))
        return n->nin == 1;
    return !strcmp(o, "Clip");
}

enum { EW_ADD, EW_SUB, EW_MUL, EW_DIV, EW_CLIP, EW_RELU };
#define EW_BLOCK 512
#define EW_MAX 64

/* One operand of a member: a block (of x or of an earlier member), or a
 * scalar weight. */
typedef struct ew_arg {
    int reg;   /* -1: x; >= 0: member; -2: scalar */
    float s;
} ew_arg;

NNI_HOT static void ew_binary(int op, const float *restrict a, const float *restrict b, float sa,
                              float sb, float *restrict z, size_t n)
{
    /* the loops of binary_into: the same operations in the same order */
    if (a && b)
        switch (op) {
        case EW_ADD: for (size_t i = 0; i < n; i++) z[i] = a[i] + b[i]; break;
        case EW_SUB: for (size_t i = 0; i < n; i++) z[i] = a[i] - b[i]; break;
        case EW_MUL: for (size_t i = 0; i < n; i++) z[i] = a[i] * b[i]; break;
        default: for (size_t i = 0; i < n; i++) z[i] = a[i] / b[i]; break;
        }
    else if (a)
        switch (op) {
        case EW_ADD: for (size_t i = 0; i < n; i++) z[i] = a[i] + sb; break;
        case EW_SUB: for (size_t i = 0; i < n; i++) z[i] = a[i] - sb; break;
        case EW_MUL: for (size_t i = 0; i < n; i++) z[i] = a[i] * sb; break;
        default: for (size_t i = 0; i < n; i++) z[i] = a[i] / sb; break;
        }
    else
        switch (op) {
        case EW_ADD: for (size_t i = 0; i < n; i++) z[i] = sa + b[i]; break;
        case EW_SUB: for (size_t i = 0; i < n; i++) z[i] = sa - b[i]; break;
        case EW_MUL: for (size_t i = 0; i < n; i++) z[i] = sa * b[i]; break;
        default: for (size_t i = 0; i < n; i++) z[i] = sa / b[i]; break;
        }
}

NNI_HOT static void ew_clamp(int op, const float *restrict a, float lo, float hi,
                             float *restrict z, size_t n)
{
    if (op == EW_RELU)
        for (size_t i = 0; i < n; i++)
            z[i] = a[i] > 0 ? a[i] : 0; /* as unary Relu */
    else
        for (size_t i = 0; i < n; i++) {
            float v = a[i];
            v = v < lo ? lo : v; /* as op_clip */
            z[i] = v > hi ? hi : v;
        }
}

int nni_ew_chain(nni_call *c, const nnz_itensor *x, nnz_itensor *y)
{
    const nni_node *h = c->n;
    const nni_graph *gr = c->frame->gr;
    int nm = 1 + h->nchain;
    if (nm > EW_MAX)
        return nni_fail(c, "an elementwise chain of %d nodes", nm);
    int op[EW_MAX];
    ew_arg arg[EW_MAX][2];
    float lo[EW_MAX], hi[EW_MAX];
    for (int m = 0; m < nm; m++) {
        const nni_node *q = m ? &h->chain[m - 1] : h;
        const char *o = q->op->name;
        op[m] = !strcmp(o, "Add") ? EW_ADD : !strcmp(o, "Sub") ? EW_SUB : !strcmp(o, "Mul") ? EW_MUL
              : !strcmp(o, "Div") ? EW_DIV : !strcmp(o, "Relu") ? EW_RELU : EW_CLIP;
        lo[m] = -INFINITY;
        hi[m] = INFINITY;
        if (op[m] == EW_CLIP && gr->opset < 11) {
            nni_call qc = { .p = q->p };
            lo[m] = nni_attr_f(&qc, "min", -INFINITY);
            hi[m] = nni_attr_f(&qc, "max", INFINITY);
        }
        for (int k = 0; k < q->nin && k < 3; k++) {
            int sl = q->in[k];
            ew_arg a = { -2, 0 };
            if (sl < 0)
                continue;
            if (sl == h->ew_in)
                a.reg = -1;
            for (int j = 0; j < m && a.reg == -2; j++)
                if ((j ? h->chain[j - 1].out[0] : h->out[0]) == sl)
                    a.reg = j;
            if (a.reg == -2) {
                const nnz_itensor *w = gr->weights[sl];
                if (!w || w->dtype != NNZ_DT_FLOAT || w->count != 1)
                    return nni_fail(c, "an elementwise chain reads a value it does not hold");
                a.s = *(const float *)w->data;
            }
            if (op[m] == EW_CLIP && k > 0)
                *(k == 1 ? &lo[m] : &hi[m]) = a.s;
            else
                arg[m][k] = a;
        }
    }
    float *regs = malloc((size_t)nm * EW_BLOCK * sizeof *regs);
    if (!regs)
        return nnz_fail(c->e, NNZ_EXIT_INTERNAL, "out of memory");
    const float *xs = x->data;
    float *ys = y->data;
    for (size_t b0 = 0; b0 < x->count; b0 += EW_BLOCK) {
        size_t nb = x->count - b0 < EW_BLOCK ? x->count - b0 : EW_BLOCK;
        for (int m = 0; m < nm; m++) {
            float *z = m == nm - 1 ? ys + b0 : regs + (size_t)m * EW_BLOCK;
            const float *p[2];
            for (int k = 0; k < 2; k++)
                p[k] = k >= (op[m] <= EW_DIV ? 2 : 1) ? NULL
                     : arg[m][k].reg == -1 ? xs + b0
                     : arg[m][k].reg >= 0 ? regs + (size_t)arg[m][k].reg * EW_BLOCK : NULL;
            if (op[m] <= EW_DIV)
                ew_binary(op[m], p[0], p[1], arg[m][0].s, arg[m][1].s, z, nb);
            else
                ew_clamp(op[m], p[0], lo[m], hi[m], z, nb);
        }
    }
    free(regs);
    return 0;
}
