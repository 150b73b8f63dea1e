/* quantize_gptq.c - data-aware rounding (rounding=gptq) and bias
 * correction (bias-correct) from the calibration inputs
 * (docs/passes/quantize.md, "Data-aware rounding").
 *
 * A layer's weights W are viewed as rows (its outputs) by columns (the
 * inputs each output reads): Conv output channels by (input channel of its
 * group, kernel position), Gemm/MatMul B's output columns by K, LSTM/GRU/RNN
 * W and R rows (gates of each direction) by input or hidden size. The
 * calibration runs give, per group of rows that reads the same inputs,
 * H = X^T X over the layer's input rows x (im2col rows for Conv) and their
 * mean. The output error of a change dW of one row is dW H dW^T, so rounding
 * can trade the error of one weight against the weights not yet rounded:
 * the OBQ/GPTQ update (Frantar et al. 2022, arXiv 2210.17323), column by
 * column in the order of decreasing H diagonal, with the upper Cholesky
 * factor U of the damped inverse of H (LAPACKE), in lazy blocks whose
 * remaining columns are updated with one matrix product. Every value is
 * rounded to the step grid the quantizer chose, code by code, so the
 * decoder's values are exactly the codes' (src/core/state.h).
 *
 * Bias correction (Nagel et al. 2019, arXiv 1906.04721, the empirical
 * form): the mean output change of row r is (W - Wq)[r] . mean(x); adding
 * it to the bias keeps each output channel's mean where it was. */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "infer_calib.h"
#include "quantize.h"

/* Input rows one calibration input contributes to a layer (per group),
 * spread evenly over its positions: the cost of H is rows x cols^2. */
#define QG_ROWS_PER_INPUT 512
#define QG_BLOCK 128          /* rows per H update; columns per lazy GPTQ block */
#define QG_DAMP 0.01          /* of the mean diagonal of H, plus cols / rows (damping()) */

enum { QL_CONV, QL_GEMM, QL_MATMUL, QL_RNN_W, QL_RNN_R };

/* ---- the GPTQ core ------------------------------------------------------------ */

static int cmp_diag(const void *a, const void *b)
{
    const double *x = *(const double *const *)a, *y = *(const double *const *)b;
    if (*x != *y)
        return *x > *y ? -1 : 1; /* larger diagonal first */
    return x < y ? -1 : x > y;   /* then by column: deterministic */
}

int quantize_gptq_factor(float *H, size_t cols, double damp, size_t *perm, nnz_error *e)
{
    double *d = nnz_malloc((cols ? cols : 1) * sizeof *d, e);
    const double **pd = nnz_malloc((cols ? cols : 1) * sizeof *pd, e);
    double *A = nnz_malloc((cols ? cols * cols : 1) * sizeof *A, e);
    if (!d || !pd || !A) {
        free(d);
        free(pd);
        free(A);
        return -1;
    }
    double mean = 0;
    for (size_t j = 0; j < cols; j++) {
        d[j] = H[j * cols + j];
        if (!(d[j] > 0)) { /* an input never seen: no error to trade with it */
            for (size_t k = 0; k < cols; k++)
                H[j * cols + k] = H[k * cols + j] = 0;
            d[j] = H[j * cols + j] = 1;
        }
        mean += d[j];
        pd[j] = &d[j];
    }
    mean /= (double)(cols ? cols : 1);
    qsort(pd, cols, sizeof *pd, cmp_diag);
    for (size_t j = 0; j < cols; j++)
        perm[j] = (size_t)(pd[j] - d);
    int rc = -1;
    for (int attempt = 0; attempt < 5 && rc != 0; attempt++, damp *= 10) {
        /* the upper triangle of H, permuted; symmetric, so read either half */
        for (size_t a = 0; a < cols; a++)
            for (size_t b = a; b < cols; b++) {
                size_t i = perm[a], j = perm[b];
                A[a * cols + b] = i <= j ? H[i * cols + j] : H[j * cols + i];
            }
        for (size_t a = 0; a < cols; a++)
            A[a * cols + a] += damp * mean;
        lapack_int n = (lapack_int)cols;
        if (LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', n, A, n) == 0 &&
            LAPACKE_dpotri(LAPACK_ROW_MAJOR, 'U', n, A, n) == 0 &&
            LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', n, A, n) == 0)
            rc = 0;
    }
    if (rc == 0)
        for (size_t a = 0; a < cols; a++)
            for (size_t b = 0; b < cols; b++)
                H[a * cols + b] = b >= a ? (float)A[a * cols + b] : 0.0f;
    free(d);
    free(pd);
    free(A);
    return rc;
}

/* Round to nearest, ties to even, as quantize_uniform.c does. */
static inline float round_even(float x)
{
    if (fabsf(x) < 0x1p22f)
        return (x + 0x1.8p23f) - 0x1.8p23f;
    return rintf(x);
}

void quantize_gptq_rows(const float *U, size_t cols, float *W, size_t rows, const float *scale,
                        const uint32_t *zp, uint32_t mincode, uint32_t maxcode,
                        const uint8_t *keep_zero, uint32_t *codes, float *err)
{
    for (size_t i1 = 0; i1 < cols; i1 += QG_BLOCK) {
        size_t i2 = i1 + QG_BLOCK < cols ? i1 + QG_BLOCK : cols, nb = i2 - i1;
        for (size_t i = i1; i < i2; i++) {
            float d = U[i * cols + i];
            const float *u = &U[i * cols];
            for (size_t r = 0; r < rows; r++) {
                float *w = &W[r * cols];
                float s = scale[r], z = (float)zp[r];
                float q;
                if (keep_zero && keep_zero[r * cols + i]) {
                    q = z; /* pruned: stays exactly zero */
                } else {
                    q = round_even(w[i] / s) + z;
                    q = q < (float)mincode ? (float)mincode : q > (float)maxcode ? (float)maxcode : q;
                }
                codes[r * cols + i] = (uint32_t)q;
                float e = (w[i] - s * (q - z)) / d;
                err[r * QG_BLOCK + (i - i1)] = e;
                for (size_t j = i + 1; j < i2; j++)
                    w[j] -= e * u[j];
            }
        }
        if (i2 < cols)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)(cols - i2),
                        (int)nb, -1.0f, err, QG_BLOCK, &U[i1 * cols + i2], (int)cols, 1.0f,
                        &W[i2], (int)cols);
    }
}

/* H from few input rows is a poor estimate (from fewer rows than columns,
 * singular): rounding would trade errors along directions the calibration
 * inputs never took, which other inputs do take. The damping grows as the
 * rows per column fall: 1% of the mean diagonal plus cols / rows. */
static double damping(size_t cols, double rows)
{
    return QG_DAMP + (rows > 0 ? (double)cols / rows : 1);
}

/* ---- layers and their statistics ----------------------------------------------- */

typedef struct quant_layer {
    char *name;                  /* the weight tensor */
    const Onnx__NodeProto *node; /* its consumer */
    int kind;
    size_t rows, cols;           /* W as rows x cols */
    int rowmajor;                /* element (r, c) at r * cols + c, else c * rows + r */
    size_t nh;                   /* groups of rows, each with its own inputs */
    float *H;                    /* nh x cols x cols: X^T X, then U (factor() ran) */
    size_t *perm;                /* nh x cols: the column order */
    double *sum;                 /* nh x cols: sum of the input rows */
    double *count;               /* nh: input rows seen */
    int factored;                /* 1: U ready; -1: H was not positive definite */
    /* bias correction */
    char *bias;                  /* its bias tensor's name (NULL: none to correct) */
    double bias_gain;            /* Gemm: alpha / beta; else 1 */
    int wnd;                     /* the weight's dims */
    int64_t wdims[NNZ_MAX_DIMS];
} quant_layer;

struct quant_layers {
    quant_layer *l;
    size_t n;
    nnz_strmap map;              /* weight name -> index */
    float *rowbuf;               /* QG_BLOCK x largest cols */
    size_t rowcap;
};

static int get_ints(const Onnx__NodeProto *n, const char *name, int64_t *v, size_t cap,
                    int64_t dflt)
{
    for (size_t k = 0; k < cap; k++)
        v[k] = dflt;
    const Onnx__AttributeProto *a = nnz_node_attr(n, name);
    if (!a)
        return 0;
    for (size_t k = 0; k < a->n_ints && k < cap; k++)
        v[k] = a->ints[k];
    return (int)a->n_ints;
}

static const char *attr_str(const Onnx__NodeProto *n, const char *name)
{
    const Onnx__AttributeProto *a = nnz_node_attr(n, name);
    return a && a->has_s ? (const char *)a->s.data : NULL;
}

static int attr_str_is(const Onnx__NodeProto *n, const char *name, const char *v)
{
    const Onnx__AttributeProto *a = nnz_node_attr(n, name);
    return a && a->has_s && a->s.len == strlen(v) && memcmp(a->s.data, v, a->s.len) == 0;
}

static int is_f32(const nnz_itensor *t)
{
    return t && t->data &&
           (t->dtype == NNZ_DT_FLOAT || t->dtype == NNZ_DT_FLOAT16 || t->dtype == NNZ_DT_BFLOAT16);
}

/* Add `nb` rows of `cols` floats to group g's H and sums. */
static void add_rows(quant_layer *L, size_t g, const float *x, size_t nb)
{
    if (!nb)
        return;
    size_t c = L->cols;
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)c, (int)nb, 1.0f, x, (int)c, 1.0f,
                &L->H[g * c * c], (int)c);
    double *s = &L->sum[g * c];
    for (size_t r = 0; r < nb; r++)
        for (size_t k = 0; k < c; k++)
            s[k] += x[r * c + k];
    L->count[g] += (double)nb;
}

/* Rows of a [nrows x cols] matrix (element (r, k) at r * rs + k * ks),
 * sampled evenly, into group g. */
static void add_matrix(struct quant_layers *Q, quant_layer *L, size_t g, const float *a,
                       size_t nrows, size_t rs, size_t ks)
{
    size_t take = nrows < QG_ROWS_PER_INPUT ? nrows : QG_ROWS_PER_INPUT, nb = 0;
    for (size_t i = 0; i < take; i++) {
        size_t r = (size_t)((uint64_t)i * nrows / take);
        for (size_t k = 0; k < L->cols; k++)
            Q->rowbuf[nb * L->cols + k] = a[r * rs + k * ks];
        if (++nb == QG_BLOCK) {
            add_rows(L, g, Q->rowbuf, nb);
            nb = 0;
        }
    }
    add_rows(L, g, Q->rowbuf, nb);
}

/* Conv: im2col rows of each group, at evenly spread output positions. */
static int add_conv(struct quant_layers *Q, quant_layer *L, const nnz_itensor *x,
                    const nnz_itensor *y)
{
    const struct { int ndims; const int64_t *dims; } wv = { L->wnd, L->wdims }, *w = &wv;
    int sp = x->ndims - 2;
    if (sp < 1 || sp > 3 || y->ndims != x->ndims || w->ndims != x->ndims)
        return 0;
    int64_t str[3], dil[3], pads[6], k[3];
    get_ints(L->node, "strides", str, 3, 1);
    get_ints(L->node, "dilations", dil, 3, 1);
    get_ints(L->node, "pads", pads, 6, 0);
    size_t kprod = 1, pprod = 1;
    for (int d = 0; d < sp; d++) {
        k[d] = w->dims[2 + d];
        kprod *= (size_t)k[d];
        pprod *= (size_t)y->dims[2 + d];
    }
    const char *ap = attr_str(L->node, "auto_pad");
    if (ap && strncmp(ap, "SAME", 4) == 0) {
        for (int d = 0; d < sp; d++) {
            int64_t total = (y->dims[2 + d] - 1) * str[d] + (k[d] - 1) * dil[d] + 1 -
                            x->dims[2 + d];
            total = total < 0 ? 0 : total;
            pads[d] = strncmp(ap, "SAME_LOWER", 10) == 0 ? total - total / 2 : total / 2;
        }
    } else if (ap && strcmp(ap, "VALID") == 0) {
        for (int d = 0; d < sp; d++)
            pads[d] = 0;
    }
    size_t cg = (size_t)w->dims[1], N = (size_t)x->dims[0], C = (size_t)x->dims[1];
    if (cg * L->nh != C || cg * kprod != L->cols)
        return 0;
    size_t npos = N * pprod, take = npos < QG_ROWS_PER_INPUT ? npos : QG_ROWS_PER_INPUT;
    size_t in_sp = 1;
    for (int d = 0; d < sp; d++)
        in_sp *= (size_t)x->dims[2 + d];
    const float *xd = x->data;
    for (size_t g = 0; g < L->nh; g++) {
        size_t nb = 0;
        for (size_t i = 0; i < take; i++) {
            size_t p = (size_t)((uint64_t)i * npos / take), n = p / pprod, rem = p % pprod;
            int64_t o[3] = { 0, 0, 0 };
            for (int d = sp - 1; d >= 0; d--) {
                o[d] = (int64_t)(rem % (size_t)y->dims[2 + d]);
                rem /= (size_t)y->dims[2 + d];
            }
            float *row = &Q->rowbuf[nb * L->cols];
            for (size_t c = 0; c < cg; c++) {
                const float *plane = &xd[(n * C + g * cg + c) * in_sp];
                for (size_t kk = 0; kk < kprod; kk++) {
                    size_t kr = kk, off = 0;
                    int inside = 1;
                    int64_t kidx[3];
                    for (int d = sp - 1; d >= 0; d--) {
                        kidx[d] = (int64_t)(kr % (size_t)k[d]);
                        kr /= (size_t)k[d];
                    }
                    for (int d = 0; d < sp; d++) {
                        int64_t at = o[d] * str[d] - pads[d] + kidx[d] * dil[d];
                        inside &= at >= 0 && at < x->dims[2 + d];
                        off = off * (size_t)x->dims[2 + d] + (size_t)(inside ? at : 0);
                    }
                    row[c * kprod + kk] = inside ? plane[off] : 0.0f;
                }
            }
            if (++nb == QG_BLOCK) {
                add_rows(L, g, Q->rowbuf, nb);
                nb = 0;
            }
        }
        add_rows(L, g, Q->rowbuf, nb);
    }
    return 0;
}

/* LSTM/GRU/RNN R: the hidden state each step started from, per direction:
 * the outputs Y of the steps before (after, reversed), and initial_h. */
static void add_recurrent(struct quant_layers *Q, quant_layer *L, const nnz_itensor *const *in,
                          size_t nin, const nnz_itensor *y)
{
    int layout = (int)nnz_node_int(L->node, "layout", 0);
    if (!y || y->ndims != 4)
        return;
    size_t seq = (size_t)y->dims[layout ? 1 : 0], nd = (size_t)y->dims[layout ? 2 : 1];
    size_t batch = (size_t)y->dims[layout ? 0 : 2], hs = (size_t)y->dims[3];
    if (nd != L->nh || hs != L->cols)
        return;
    int reverse_only = attr_str_is(L->node, "direction", "reverse");
    const float *yd = y->data;
    for (size_t d = 0; d < nd; d++) {
        int rev = reverse_only || d == 1;
        size_t nb = 0;
        for (size_t t = rev ? 1 : 0; t < (rev ? seq : seq - 1); t++)
            for (size_t b = 0; b < batch; b++) {
                size_t at = layout ? ((b * seq + t) * nd + d) * hs : ((t * nd + d) * batch + b) * hs;
                memcpy(&Q->rowbuf[nb * hs], &yd[at], hs * sizeof(float));
                if (++nb == QG_BLOCK) {
                    add_rows(L, d, Q->rowbuf, nb);
                    nb = 0;
                }
            }
        const nnz_itensor *h0 = nin > 5 ? in[5] : NULL;
        if (h0 && h0->count == nd * batch * hs && is_f32(h0))
            for (size_t b = 0; b < batch; b++) {
                size_t at = layout ? (b * nd + d) * hs : (d * batch + b) * hs;
                memcpy(&Q->rowbuf[nb * hs], &((const float *)h0->data)[at], hs * sizeof(float));
                if (++nb == QG_BLOCK) {
                    add_rows(L, d, Q->rowbuf, nb);
                    nb = 0;
                }
            }
        add_rows(L, d, Q->rowbuf, nb);
    }
}

static int hook(void *ctx, const Onnx__NodeProto *node, int depth, const nnz_itensor *const *in,
                size_t nin, const nnz_itensor *const *out, size_t nout, nnz_error *e)
{
    (void)depth;
    (void)e;
    struct quant_layers *Q = ctx;
    for (size_t i = 0; i < Q->n; i++) {
        quant_layer *L = &Q->l[i];
        if (L->node != node || nin < 1 || !is_f32(in[0]))
            continue;
        const nnz_itensor *x = in[0], *y = nout > 0 && is_f32(out[0]) ? out[0] : NULL;
        size_t c = L->cols;
        switch (L->kind) {
        case QL_CONV:
            if (y)
                add_conv(Q, L, x, y);
            break;
        case QL_GEMM: {
            int ta = (int)nnz_node_int(node, "transA", 0);
            if (x->ndims != 2 || (size_t)x->dims[ta ? 0 : 1] != c)
                break;
            size_t M = (size_t)x->dims[ta ? 1 : 0];
            add_matrix(Q, L, 0, x->data, M, ta ? 1 : c, ta ? M : 1);
            break;
        }
        case QL_MATMUL:
        case QL_RNN_W:
            if (x->ndims >= 1 && (size_t)x->dims[x->ndims - 1] == c)
                add_matrix(Q, L, 0, x->data, x->count / c, c, 1);
            break;
        case QL_RNN_R:
            add_recurrent(Q, L, in, nin, y);
            break;
        }
    }
    return 0;
}

/* The layer view of tensor t, or 0 when rounding cannot see its inputs. */
static int layer_of(const nnz_tensor *t, quant_layer *L)
{
    const Onnx__NodeProto *n = t->consumer;
    if (!n || !n->op_type || t->weight_op != n || t->weight_hops != 0 || t->n_consumers != 1 ||
        !nnz_dtype_is_float(t->dtype))
        return 0;
    const char *op = n->op_type;
    int slot = t->consumer_slot;
    memset(L, 0, sizeof *L);
    L->node = n;
    L->nh = 1;
    L->rowmajor = 1;
    L->bias_gain = 1;
    L->wnd = t->ndims;
    memcpy(L->wdims, t->dims, sizeof L->wdims);
    if (strcmp(op, "Conv") == 0 && slot == 1 && t->ndims >= 3 && t->ndims <= 5) {
        int64_t g = nnz_node_int(n, "group", 1);
        L->kind = QL_CONV;
        L->rows = (size_t)t->dims[0];
        if (g < 1 || L->rows % (size_t)g)
            return 0;
        L->nh = (size_t)g;
    } else if (strcmp(op, "Gemm") == 0 && slot == 1 && t->ndims == 2) {
        int tb = (int)nnz_node_int(n, "transB", 0);
        L->kind = QL_GEMM;
        L->rows = (size_t)t->dims[tb ? 0 : 1];
        L->rowmajor = tb;
        const Onnx__AttributeProto *a = nnz_node_attr(n, "alpha"), *b = nnz_node_attr(n, "beta");
        double alpha = a && a->has_f ? a->f : 1, beta = b && b->has_f ? b->f : 1;
        L->bias_gain = beta != 0 ? alpha / beta : 0;
    } else if (strcmp(op, "MatMul") == 0 && slot == 1 && t->ndims == 2) {
        L->kind = QL_MATMUL;
        L->rows = (size_t)t->dims[1];
        L->rowmajor = 0;
    } else if ((strcmp(op, "LSTM") == 0 || strcmp(op, "GRU") == 0 || strcmp(op, "RNN") == 0) &&
               (slot == 1 || slot == 2) && t->ndims == 3) {
        /* GRU's R reads r * h for its h gate unless linear_before_reset */
        if (slot == 2 && strcmp(op, "GRU") == 0 && !nnz_node_int(n, "linear_before_reset", 0))
            return 0;
        L->kind = slot == 1 ? QL_RNN_W : QL_RNN_R;
        L->rows = (size_t)(t->dims[0] * t->dims[1]);
        L->nh = slot == 2 ? (size_t)t->dims[0] : 1;
    } else {
        return 0;
    }
    if (!L->rows || t->count % L->rows)
        return 0;
    L->cols = t->count / L->rows;
    return L->cols > 0 && L->rows % L->nh == 0;
}

/* The bias input of a Conv/Gemm layer, when correcting it is plain: a float
 * tensor read by this node only, one value per output channel. */
static const char *bias_of(nnz_model *m, const quant_layer *L)
{
    if ((L->kind != QL_CONV && L->kind != QL_GEMM) || L->bias_gain == 0 ||
        L->node->n_input < 3 || !L->node->input[2] || !*L->node->input[2])
        return NULL;
    for (size_t i = 0; i < m->ntensors; i++) {
        const nnz_tensor *b = &m->tensors[i];
        if (b->consumer == L->node && b->consumer_slot == 2)
            return b->dtype == NNZ_DT_FLOAT && b->n_consumers == 1 && b->count == L->rows
                       ? b->name : NULL;
    }
    return NULL;
}

void quantize_layers_free(quant_layers *Q)
{
    if (!Q)
        return;
    for (size_t i = 0; i < Q->n; i++) {
        free(Q->l[i].name);
        free(Q->l[i].bias);
        free(Q->l[i].H);
        free(Q->l[i].perm);
        free(Q->l[i].sum);
        free(Q->l[i].count);
    }
    free(Q->l);
    free(Q->rowbuf);
    nnz_strmap_free(&Q->map);
    free(Q);
}

/* Hessians of all layers at once: beyond this many floats, the largest
 * layers are rounded to nearest (a warning says which). */
#define QG_MAX_FLOATS (256ull << 20)

int quantize_layers_collect(nnz_model *m, const uint8_t *selected, nnz_calib_eval *ev,
                            size_t from, int gptq, quant_layers **out, cJSON *report,
                            nnz_error *e)
{
    *out = NULL;
    quant_layers *Q = nnz_calloc(1, sizeof *Q, e);
    if (!Q || !(Q->l = nnz_calloc(m->ntensors + 1, sizeof *Q->l, e)) ||
        nnz_strmap_init(&Q->map, m->ntensors + 1, e) != 0) {
        if (Q)
            free(Q->l);
        free(Q);
        return -1;
    }
    uint64_t floats = 0;
    size_t skipped = 0;
    const char *first_skipped = NULL;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < m->ntensors; i++) {
        quant_layer L;
        if (!selected[i] || !layer_of(&m->tensors[i], &L))
            continue;
        uint64_t need = (uint64_t)L.nh * L.cols * L.cols;
        if (floats + need > QG_MAX_FLOATS) {
            skipped++;
            first_skipped = first_skipped ? first_skipped : m->tensors[i].name;
            continue;
        }
        floats += need;
        const char *bias = bias_of(m, &L);
        L.name = strdup(m->tensors[i].name);
        L.bias = bias ? strdup(bias) : NULL;
        L.H = nnz_calloc(need ? need : 1, sizeof *L.H, e);
        L.perm = nnz_calloc(L.nh * L.cols, sizeof *L.perm, e);
        L.sum = nnz_calloc(L.nh * L.cols, sizeof *L.sum, e);
        L.count = nnz_calloc(L.nh, sizeof *L.count, e);
        Q->l[Q->n] = L;
        if (!L.name || (bias && !L.bias) || !L.H || !L.perm || !L.sum || !L.count ||
            nnz_strmap_put(&Q->map, L.name, Q->n, e) != 0)
            rc = nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory");
        Q->n++;
        Q->rowcap = L.cols > Q->rowcap ? L.cols : Q->rowcap;
    }
    if (rc == 0 && !(Q->rowbuf = nnz_malloc(QG_BLOCK * (Q->rowcap ? Q->rowcap : 1) *
                                            sizeof *Q->rowbuf, e)))
        rc = -1;
    if (rc == 0 && Q->n)
        rc = nnz_calib_eval_observe(ev, from, ev->ncal, hook, Q, e);
    free(Q->rowbuf);
    Q->rowbuf = NULL;
    if (rc == 0 && skipped)
        nnz_report_warn(report, "quantize: %zu layers (the first '%s') are rounded to nearest: "
                        "their input statistics would pass %llu MiB", skipped, first_skipped,
                        (unsigned long long)(QG_MAX_FLOATS * 4 >> 20));
    for (size_t i = 0; rc == 0 && gptq && i < Q->n; i++) {
        quant_layer *L = &Q->l[i];
        L->factored = 1;
        for (size_t g = 0; g < L->nh && L->factored == 1; g++) {
            if (L->count[g] == 0 ||
                quantize_gptq_factor(&L->H[g * L->cols * L->cols], L->cols,
                                     damping(L->cols, L->count[g]), &L->perm[g * L->cols],
                                     e) != 0)
                L->factored = -1;
        }
        if (L->factored != 1) {
            free(L->H);
            L->H = NULL;
        }
    }
    if (rc != 0) {
        quantize_layers_free(Q);
        return -1;
    }
    *out = Q;
    return 0;
}

static const quant_layer *find(const quant_layers *Q, const char *name)
{
    size_t v;
    return Q && nnz_strmap_get(&Q->map, name, &v) ? &Q->l[v] : NULL;
}

static size_t elem(const quant_layer *L, size_t r, size_t c)
{
    return L->rowmajor ? r * L->cols + c : c * L->rows + r;
}

int quantize_gptq_tensor(const quant_layers *Q, const char *name, const float *v, size_t n,
                         const float *scale, const uint32_t *zp, size_t nchan, size_t inner,
                         uint32_t mincode, uint32_t maxcode, int keep_zeros, uint32_t *codes,
                         nnz_error *e)
{
    const quant_layer *L = find(Q, name);
    if (!L || L->factored != 1 || n != L->rows * L->cols)
        return 0;
    size_t rg = L->rows / L->nh, c = L->cols;
    /* every row must sit in one channel of the steps (per tensor: all do) */
    for (size_t r = 0; r < L->rows; r++)
        if ((elem(L, r, 0) / inner) % nchan != (elem(L, r, c - 1) / inner) % nchan)
            return 0;
    float *W = nnz_malloc(rg * c * sizeof *W, e), *s = nnz_malloc(rg * sizeof *s, e);
    float *err = nnz_malloc(rg * QG_BLOCK * sizeof *err, e);
    uint32_t *z = nnz_malloc(rg * sizeof *z, e), *cg = nnz_malloc(rg * c * sizeof *cg, e);
    uint8_t *keep = keep_zeros ? nnz_malloc(rg * c, e) : NULL;
    int rc = W && s && err && z && cg && (keep || !keep_zeros) ? 1 : -1;
    for (size_t g = 0; rc == 1 && g < L->nh; g++) {
        const size_t *perm = &L->perm[g * c];
        for (size_t r = 0; r < rg; r++) {
            size_t R = g * rg + r, ch = (elem(L, R, 0) / inner) % nchan;
            s[r] = scale[ch];
            z[r] = zp[ch];
            for (size_t j = 0; j < c; j++) {
                W[r * c + j] = v[elem(L, R, perm[j])];
                if (keep)
                    keep[r * c + j] = W[r * c + j] == 0;
            }
        }
        quantize_gptq_rows(&L->H[g * c * c], c, W, rg, s, z, mincode, maxcode, keep, cg, err);
        for (size_t r = 0; r < rg; r++)
            for (size_t j = 0; j < c; j++)
                codes[elem(L, g * rg + r, perm[j])] = cg[r * c + j];
    }
    free(W);
    free(s);
    free(err);
    free(z);
    free(cg);
    free(keep);
    return rc;
}

const char *quantize_layer_bias(const quant_layers *Q, const char *name)
{
    const quant_layer *L = find(Q, name);
    return L && L->bias && L->count[0] > 0 ? L->bias : NULL;
}

int quantize_bias_delta(const quant_layers *Q, const char *name, const float *w, const float *wq,
                        double *delta)
{
    const quant_layer *L = find(Q, name);
    if (!L || !L->bias)
        return 0;
    size_t rg = L->rows / L->nh;
    for (size_t r = 0; r < L->rows; r++) {
        size_t g = r / rg;
        const double *sum = &L->sum[g * L->cols];
        double cnt = L->count[g], d = 0;
        for (size_t k = 0; cnt > 0 && k < L->cols; k++) {
            size_t i = elem(L, r, k);
            d += ((double)w[i] - (double)wq[i]) * (sum[k] / cnt);
        }
        delta[r] = L->bias_gain * d;
    }
    return 1;
}

size_t quantize_layers_count(const quant_layers *Q, int factored)
{
    size_t n = 0;
    for (size_t i = 0; Q && i < Q->n; i++)
        n += factored ? Q->l[i].factored == 1 : Q->l[i].count[0] > 0;
    return n;
}
