/* decompose.c - the decompose pass: low-rank factorisation of Gemm/MatMul
 * weights (truncated SVD, Denton et al. 2014, arXiv 1404.0736) and Tucker-2
 * of Conv kernels (Kim et al. 2016, arXiv 1511.06530), rewriting each layer
 * into thinner consecutive layers (docs/passes/decompose.md).
 *
 * The pass works in `prepare` only: it walks every graph (subgraphs too),
 * decides for each Conv, Gemm and MatMul whose weight the stage selected,
 * replaces the layers that save parameters, and rescans the model. The
 * factors are then ordinary float weights for the passes that follow.
 * report["decompose"] gets one object per layer considered. */
#include <cblas.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decompose.h"
#include "edit.h"

static const char options[] =
    "rank=N|vbmf, energy=E (0 < E <= 1, default 0.95), max-rel-error=X (0 < X < 1), "
    "max-output-error=X, vbmf-scale=F, min-in-channels=N, iters=N";

extern const nnz_pass nnz_pass_decompose;

/* ---- options ------------------------------------------------------------------------ */

static int opt_open(const nnz_kv *k, double lo_excl, double hi, int hi_incl, const char *what,
                    double *out, nnz_error *e)
{
    double v;
    nnz_error scratch;
    if (nnz_opt_double("decompose", k, lo_excl, hi, &v, &scratch) != 0 || !(v > lo_excl) ||
        (!hi_incl && !(v < hi)))
        return nnz_fail(e, NNZ_EXIT_USAGE, "decompose: %s=%s: expected a number in (%g, %g%s: %s",
                        k->key, k->value ? k->value : "(missing)", lo_excl, hi,
                        hi_incl ? "]" : ")", what);
    *out = v;
    return 0;
}

static int parse(const nnz_kv *kv, size_t n, void **out, nnz_error *e)
{
    dec_opts *o = nnz_calloc(1, sizeof *o, e);
    if (!o)
        return -1;
    o->rule = DEC_ENERGY;
    o->energy = DEC_DEFAULT_ENERGY;
    o->vbmf_scale = 1;
    o->min_in_channels = DEC_DEFAULT_MIN_IN;
    o->iters = DEC_DEFAULT_ITERS;
    int rules = 0, scale_given = 0;
    for (size_t i = 0; i < n; i++) {
        const nnz_kv *k = &kv[i];
        int rc = 0;
        if (strcmp(k->key, "rank") == 0) {
            rules++;
            if (k->value && strcmp(k->value, "vbmf") == 0) {
                o->rule = DEC_VBMF;
            } else {
                nnz_error scratch;
                o->rule = DEC_RANK;
                if (nnz_opt_int("decompose", k, 1, 1L << 30, &o->rank, &scratch) != 0)
                    rc = nnz_fail(e, NNZ_EXIT_USAGE,
                                  "decompose: rank=%s: expected an integer in 1..%ld (the rank "
                                  "kept per layer) or 'vbmf' (chosen per layer)",
                                  k->value ? k->value : "(missing)", 1L << 30);
            }
        } else if (strcmp(k->key, "energy") == 0) {
            rules++;
            o->rule = DEC_ENERGY;
            rc = opt_open(k, 0, 1, 1, "the fraction of squared singular values to keep",
                          &o->energy, e);
        } else if (strcmp(k->key, "max-rel-error") == 0) {
            rules++;
            o->rule = DEC_ERROR;
            rc = opt_open(k, 0, 1, 0, "the largest relative L2 error of a layer's weight",
                          &o->max_rel_error, e);
        } else if (strcmp(k->key, "max-output-error") == 0) {
            rules++;
            o->rule = DEC_BUDGET;
            rc = opt_open(k, 0, 1, 1, "the largest output relative L2 on the calibration inputs",
                          &o->max_output_error, e);
        } else if (strcmp(k->key, "vbmf-scale") == 0) {
            scale_given = 1;
            rc = opt_open(k, 0, 100, 1, "the VBMF threshold is divided by it (> 1 keeps more)",
                          &o->vbmf_scale, e);
        } else if (strcmp(k->key, "min-in-channels") == 0) {
            rc = nnz_opt_int("decompose", k, 1, 1L << 30, &o->min_in_channels, e);
        } else if (strcmp(k->key, "iters") == 0) {
            rc = nnz_opt_int("decompose", k, 1, 1000, &o->iters, e);
        } else {
            rc = nnz_opt_unknown(&nnz_pass_decompose, k, e);
        }
        if (rc != 0) {
            free(o);
            return -1;
        }
    }
    const char *bad = NULL;
    if (rules > 1)
        bad = "choose one of rank=, energy=, max-rel-error=, max-output-error=";
    else if (scale_given && o->rule != DEC_VBMF)
        bad = "vbmf-scale= scales the threshold of rank=vbmf; give rank=vbmf too";
    if (bad) {
        free(o);
        return nnz_fail(e, NNZ_EXIT_USAGE, "decompose: %s", bad);
    }
    *out = o;
    return 0;
}

/* ---- which tensors -------------------------------------------------------------------- */

static int selects(const nnz_tensor *t, const void *opts)
{
    (void)opts;
    const Onnx__NodeProto *c = t->consumer;
    if (!nnz_dtype_is_float(t->dtype) || t->ndims < 2 || !c || !c->op_type)
        return 0;
    if (strcmp(c->op_type, "Conv") == 0 || strcmp(c->op_type, "ConvTranspose") == 0)
        return t->consumer_slot == 1;
    if (strcmp(c->op_type, "Gemm") == 0 || strcmp(c->op_type, "MatMul") == 0)
        return t->consumer_slot <= 1;
    return 0;
}

/* ---- the walk ---------------------------------------------------------------------------- */

typedef struct ctx {
    nnz_model *m;
    const nnz_stage *st;
    const dec_opts *o;      /* the layer's options: the stage's, or an override's */
    const uint8_t *selected;
    size_t nselected;       /* m->ntensors when prepare began */
    cJSON *layers;
    int64_t opset;
    size_t considered, decomposed;
    nnz_error *e;
} ctx;

static int op_is(const Onnx__NodeProto *n, const char *op)
{
    return n->op_type && strcmp(n->op_type, op) == 0 &&
           (!n->domain || !*n->domain || strcmp(n->domain, "ai.onnx") == 0);
}

static nnz_tensor *tensor_of(ctx *c, const Onnx__TensorProto *p, size_t *index)
{
    for (size_t i = 0; p && i < c->nselected; i++)
        if (c->m->tensors[i].proto == p) {
            *index = i;
            return &c->m->tensors[i];
        }
    return NULL;
}

static const char *node_label(const Onnx__NodeProto *n)
{
    if (n->name && *n->name)
        return n->name;
    return n->n_output && n->output[0] ? n->output[0] : "";
}

static void add_num(cJSON *o, const char *k, double v)
{
    cJSON_AddNumberToObject(o, k, v);
}

static void skip(cJSON *rep, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void skip(cJSON *rep, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    cJSON_ReplaceItemInObject(rep, "decision", cJSON_CreateString("skipped"));
    cJSON_AddStringToObject(rep, "reason", buf);
}

static const char *rule_text(const dec_opts *o, char *buf, size_t n)
{
    switch (o->rule) {
    case DEC_RANK: snprintf(buf, n, "rank=%ld", o->rank); break;
    case DEC_ERROR: snprintf(buf, n, "max-rel-error=%g", o->max_rel_error); break;
    case DEC_VBMF: snprintf(buf, n, "rank=vbmf,vbmf-scale=%g", o->vbmf_scale); break;
    case DEC_BUDGET: snprintf(buf, n, "max-output-error=%g", o->max_output_error); break;
    default: snprintf(buf, n, "energy=%g", o->energy); break;
    }
    return buf;
}

/* A mode's rank by the energy, VBMF or fixed rule (max-rel-error is joint
 * for Tucker-2 and handled by the caller). rows x cols is the unfolding. */
static size_t mode_rank(const ctx *c, const double *s, size_t k, size_t rows, size_t cols,
                        cJSON *rep, const char *vbmf_key)
{
    size_t r;
    switch (c->o->rule) {
    case DEC_RANK:
        r = (size_t)c->o->rank;
        break;
    case DEC_ERROR:
        r = dec_rank_error(s, k, c->o->max_rel_error);
        break;
    case DEC_VBMF: {
        /* the plain estimate for the report; vbmf-scale divides the threshold */
        add_num(rep, vbmf_key, (double)dec_vbmf_rank(s, rows, cols, 1, NULL));
        r = dec_vbmf_rank(s, rows, cols, c->o->vbmf_scale, NULL);
        break;
    }
    default:
        r = dec_rank_energy(s, k, c->o->energy);
        break;
    }
    if (r < 1)
        r = 1;
    return r;
}

/* ---- building the new nodes -------------------------------------------------------------- */

/* A name for a new value or initializer: base + suffix, unique in the model. */
static char *fresh(ctx *c, const char *base, const char *suffix)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s%s", base, suffix);
    return nnz_edit_unique_name(c->m, buf, c->e);
}

/* Reserve a factor: its unique name, dims and room for its values. */
static dec_factor *factor(ctx *c, dec_rewrite *rw, const char *wname, const char *suffix,
                          const int64_t *dims, int ndims)
{
    dec_factor *f = &rw->f[rw->nf];
    memset(f, 0, sizeof *f);
    size_t count = 1;
    for (int d = 0; d < ndims; d++)
        count *= (size_t)dims[d];
    f->ndims = ndims;
    memcpy(f->dims, dims, (size_t)ndims * sizeof *dims);
    f->v = nnz_malloc((count ? count : 1) * sizeof *f->v, c->e);
    f->name = f->v ? fresh(c, wname, suffix) : NULL;
    if (!f->name) {
        free(f->v);
        f->v = NULL;
        return NULL;
    }
    rw->nf++;
    return f;
}

static Onnx__NodeProto *node(ctx *c, dec_rewrite *rw, const char *op, const char *name,
                             const char *const *in, size_t nin, const char *out)
{
    const char *outs[1] = { out };
    Onnx__NodeProto *n = nnz_edit_node(op, name, in, nin, outs, 1, c->e);
    if (n)
        rw->nodes[rw->nnodes++] = n;
    return n;
}

/* ---- shapes and MACs --------------------------------------------------------------------- */

typedef struct macs_info {
    double out_pix, in_pix;  /* per sample, or 1 and the stride ratio per output pixel */
    const char *unit;
    const char *note;
} macs_info;

static int spatial_known(const int64_t *dims, int r, int d, double *pix)
{
    if (r != d + 2)
        return 0;
    double p = 1;
    for (int i = 2; i < r; i++) {
        if (dims[i] <= 0)
            return 0;
        p *= (double)dims[i];
    }
    *pix = p;
    return 1;
}

static int auto_pad_is(const Onnx__NodeProto *n, const char *v)
{
    for (size_t i = 0; i < n->n_attribute; i++) {
        const Onnx__AttributeProto *a = n->attribute[i];
        if (a->name && strcmp(a->name, "auto_pad") == 0 && a->has_s)
            return a->s.len == strlen(v) && memcmp(a->s.data, v, a->s.len) == 0;
    }
    return strcmp(v, "NOTSET") == 0;
}

static void conv_macs_info(const dec_scope *sc, const Onnx__NodeProto *n, const int64_t *kdims,
                           int d, macs_info *mi)
{
    int64_t xs[NNZ_MAX_DIMS], ys[NNZ_MAX_DIMS], st[NNZ_MAX_DIMS], dil[NNZ_MAX_DIMS],
        pads[2 * NNZ_MAX_DIMS];
    double strides = 1;
    size_t ns = dec_attr_ints(n, "strides", st, NNZ_MAX_DIMS);
    size_t nd = dec_attr_ints(n, "dilations", dil, NNZ_MAX_DIMS);
    size_t np = dec_attr_ints(n, "pads", pads, 2 * NNZ_MAX_DIMS);
    for (int i = 0; i < d; i++) { /* absent or invalid: 1 */
        if ((size_t)i >= ns || st[i] < 1)
            st[i] = 1;
        if ((size_t)i >= nd || dil[i] < 1)
            dil[i] = 1;
        strides *= (double)st[i];
    }
    if (np != (size_t)(2 * d))
        for (int i = 0; i < 2 * d; i++)
            pads[i] = 0;
    int rx = dec_value_shape(sc, n->input[0], xs, NNZ_MAX_DIMS);
    int ry = n->n_output ? dec_value_shape(sc, n->output[0], ys, NNZ_MAX_DIMS) : -1;
    int have_x = spatial_known(xs, rx, d, &mi->in_pix);
    int have_y = spatial_known(ys, ry, d, &mi->out_pix);
    mi->unit = "sample";
    mi->note = NULL;
    if (have_x && !have_y) {
        /* the output size from the input's and the attributes */
        double p = 1;
        for (int i = 0; i < d; i++) {
            int64_t in = xs[i + 2], k = dil[i] * (kdims[i + 2] - 1) + 1, o;
            if (auto_pad_is(n, "SAME_UPPER") || auto_pad_is(n, "SAME_LOWER"))
                o = (in + st[i] - 1) / st[i];
            else if (auto_pad_is(n, "VALID"))
                o = in >= k ? (in - k) / st[i] + 1 : 0;
            else
                o = in + pads[i] + pads[i + d] >= k ? (in + pads[i] + pads[i + d] - k) / st[i] + 1
                                                    : 0;
            p *= (double)o;
        }
        mi->out_pix = p;
        mi->note = "output size computed from the input shape and the attributes";
    } else if (!have_x && have_y) {
        mi->in_pix = mi->out_pix * strides;
        mi->note = "input size estimated as the output size times the strides";
    } else if (!have_x && !have_y) {
        mi->unit = "output_pixel";
        mi->out_pix = 1;
        mi->in_pix = strides;
        mi->note = "no shapes recorded in the model: MACs per output pixel; the input-side 1x1 "
                   "conv is counted at the strides' product pixels per output pixel";
    }
}

/* ---- factors ------------------------------------------------------------------------------ */

/* Store the rows x cols matrix x as floats in the weight's type (rounded),
 * transposed when `trans`; `back` gets the stored values as doubles in
 * x's layout, for measuring the error. */
static void store(const double *x, size_t rows, size_t cols, int trans, int dtype, float *out,
                  double *back)
{
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) {
            float v = (float)x[i * cols + j];
            if (dtype == NNZ_DT_FLOAT16)
                v = nnz_half_to_float(nnz_float_to_half(v));
            else if (dtype == NNZ_DT_BFLOAT16)
                v = nnz_bf16_to_float(nnz_float_to_bf16(v));
            out[trans ? j * rows + i : i * cols + j] = v;
            back[i * cols + j] = v;
        }
}

/* ---- one SVD layer: Gemm, MatMul, 1x1 Conv ----------------------------------------------- */

typedef enum { L_GEMM_B, L_GEMM_A, L_MATMUL_B, L_MATMUL_A, L_CONV1 } svd_kind;

static int is_a_operand(svd_kind k)
{
    return k == L_GEMM_A || k == L_MATMUL_A;
}

/* Report the ranks' cost; returns 1 when the layer saves parameters. */
static int costs(cJSON *rep, double pb, double pa, double mb, double ma, const macs_info *mi)
{
    add_num(rep, "params_before", pb);
    add_num(rep, "params_after", pa);
    add_num(rep, "macs_before", mb);
    add_num(rep, "macs_after", ma);
    cJSON_AddStringToObject(rep, "macs_unit", mi->unit);
    if (mi->note)
        cJSON_AddStringToObject(rep, "macs_note", mi->note);
    return pa < pb;
}

static int svd_layer(ctx *c, const dec_scope *sc, Onnx__NodeProto *n, const dec_weight *w,
                     nnz_tensor *t, const float *wv, svd_kind kind, cJSON *rep,
                     Onnx__NodeProto **last)
{
    nnz_error *e = c->e;
    int ta = (int)nnz_node_int(n, "transA", 0) != 0, tb = (int)nnz_node_int(n, "transB", 0) != 0;
    int trans = kind == L_GEMM_B ? tb : kind == L_GEMM_A ? ta : 0;
    /* W in math orientation: rows x cols (Y = X W for a B operand, Y = W X for
     * an A operand, y = W x per pixel for a 1x1 Conv) */
    size_t rows = (size_t)t->dims[trans ? 1 : 0], cols = (size_t)t->dims[trans ? 0 : 1];
    size_t k = rows < cols ? rows : cols;
    double *a = nnz_malloc(rows * cols * sizeof *a, e);
    double *u = nnz_malloc(rows * k * sizeof *u, e), *s = nnz_malloc(k * sizeof *s, e);
    double *vt = nnz_malloc(k * cols * sizeof *vt, e);
    double *p = NULL, *q = NULL;
    char *nm[4] = { 0 };
    dec_rewrite rw = { 0 };
    int rc = -1;
    if (!a || !u || !s || !vt)
        goto done;
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            a[i * cols + j] = trans ? wv[j * rows + i] : wv[i * cols + j];
    if ((rc = dec_svd(a, rows, cols, u, s, vt, e)) != 0) {
        if (rc > 0)
            skip(rep, "the SVD did not converge");
        rc = rc > 0 ? 0 : -1;
        goto done;
    }
    if (c->o->rule == DEC_RANK && (size_t)c->o->rank > k)
        cJSON_AddBoolToObject(rep, "rank_clamped", 1);
    size_t r = mode_rank(c, s, k, rows, cols, rep, "vbmf_rank");
    if (r > k)
        r = k;
    double total = dec_tail(s, k, 0);
    cJSON_AddStringToObject(rep, "method", "svd");
    add_num(rep, "rank", (double)r);
    add_num(rep, "energy_kept", total > 0 ? 1 - dec_tail(s, k, r) / total : 1);

    /* MACs: per output row (B operand), column (A operand) or pixel (Conv) */
    macs_info mi = { .out_pix = 1, .in_pix = 1, .unit = is_a_operand(kind) ? "column" : "row" };
    if (kind == L_CONV1) {
        conv_macs_info(sc, n, t->dims, t->ndims - 2, &mi);
    } else if (!is_a_operand(kind)) {
        int64_t ys[NNZ_MAX_DIMS];
        int ry = dec_value_shape(sc, n->output[0], ys, NNZ_MAX_DIMS), known = ry >= 2;
        double per = 1;
        for (int i = 1; known && i < ry - 1; i++) {
            known = ys[i] > 0;
            per *= (double)ys[i];
        }
        if (known) {
            mi.unit = "sample";
            mi.out_pix = per;
        }
    }
    double pb = (double)rows * (double)cols, pa = (double)r * (double)(rows + cols);
    if (!costs(rep, pb, pa, pb * mi.out_pix, pa * mi.out_pix, &mi)) {
        skip(rep, "no saving: rank %zu needs r(m+n) = %.0f parameters, the %zu x %zu weight "
                  "has m*n = %.0f", r, pa, rows, cols, pb);
        rc = 0;
        goto done;
    }

    /* the factors, balanced: P = U_r sqrt(S_r) (rows x r), Q = sqrt(S_r) V_r^T
     * (r x cols), so W^ = P Q and both have comparable ranges */
    p = nnz_malloc(rows * r * sizeof *p, e);
    q = nnz_malloc(r * cols * sizeof *q, e);
    if (!p || !q)
        goto done;
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < r; j++)
            p[i * r + j] = u[i * k + j] * sqrt(s[j]);
    for (size_t j = 0; j < r; j++)
        for (size_t i = 0; i < cols; i++)
            q[j * cols + i] = sqrt(s[j]) * vt[j * cols + i];
    /* the factor applied first ("_svd_in"): P for a B operand (Y = (X P) Q),
     * Q for an A operand (Y = P (Q X)) and for a Conv (y = P (Q x)) */
    int first_p = kind == L_GEMM_B || kind == L_MATMUL_B;
    double *f1 = first_p ? p : q, *f2 = first_p ? q : p;
    size_t m1 = first_p ? rows : r, n1 = first_p ? r : cols;
    size_t m2 = first_p ? r : rows, n2 = first_p ? cols : r;
    int64_t d1[NNZ_MAX_DIMS], d2[NNZ_MAX_DIMS];
    int nd = kind == L_CONV1 ? t->ndims : 2;
    d1[0] = (int64_t)(trans ? n1 : m1), d1[1] = (int64_t)(trans ? m1 : n1);
    d2[0] = (int64_t)(trans ? n2 : m2), d2[1] = (int64_t)(trans ? m2 : n2);
    for (int i = 2; i < nd; i++)
        d1[i] = d2[i] = 1;
    const char *wn = t->onnx_name;
    dec_factor *fa = factor(c, &rw, wn, "_svd_in", d1, nd);
    dec_factor *fb = fa ? factor(c, &rw, wn, "_svd_out", d2, nd) : NULL;
    if (!fb)
        goto done;
    store(f1, m1, n1, trans, t->dtype, fa->v, f1);
    store(f2, m2, n2, trans, t->dtype, fb->v, f2);
    /* the error, measured from the stored factors */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)cols, (int)r, 1.0, p,
                (int)r, q, (int)cols, 0.0, a, (int)cols);
    double err = 0, ref = 0;
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) {
            double w0 = trans ? wv[j * rows + i] : wv[i * cols + j], dd = w0 - a[i * cols + j];
            err += dd * dd;
            ref += w0 * w0;
        }
    add_num(rep, "rel_error", ref > 0 ? sqrt(err / ref) : 0);

    /* the nodes: first, then second, where the old one was */
    const char *y = n->output[0], *label = node_label(n);
    const char *x = n->input[is_a_operand(kind) ? 1 : 0];
    const char *bias = n->n_input > 2 && n->input[2] && *n->input[2] ? n->input[2] : NULL;
    nm[0] = fresh(c, y, "_svd_mid");
    nm[1] = fresh(c, label, "_svd_in");
    nm[2] = fresh(c, label, "_svd_out");
    if (!nm[0] || !nm[1] || !nm[2])
        goto done;
    const char *op = kind == L_CONV1 ? "Conv" : kind == L_GEMM_A || kind == L_GEMM_B ? "Gemm"
                                                                                    : "MatMul";
    const char *in1[3], *in2[3];
    size_t nin1 = 2, nin2 = bias ? 3 : 2;
    if (is_a_operand(kind)) {
        in1[0] = fa->name, in1[1] = x, in2[0] = fb->name, in2[1] = nm[0];
    } else {
        in1[0] = x, in1[1] = fa->name, in2[0] = nm[0], in2[1] = fb->name;
    }
    in2[2] = bias;
    if ((kind == L_GEMM_A || kind == L_GEMM_B) && c->opset < 11) {
        /* Gemm's C is optional from opset 11 only: a zero where there is none */
        int64_t one = 1;
        dec_factor *fz = factor(c, &rw, wn, "_svd_zero", &one, 1);
        if (!fz)
            goto done;
        fz->v[0] = 0;
        in1[2] = fz->name;
        nin1 = 3;
        if (!bias) {
            in2[2] = fz->name;
            nin2 = 3;
        }
    }
    Onnx__NodeProto *a1 = node(c, &rw, op, nm[1], in1, nin1, nm[0]);
    Onnx__NodeProto *a2 = a1 ? node(c, &rw, op, nm[2], in2, nin2, y) : NULL;
    int ok = a2 != NULL;
    if (ok && kind == L_CONV1) {
        /* the first conv carries strides, pads, dilations; the second is 1x1 */
        int64_t ones[NNZ_MAX_DIMS];
        for (int i = 0; i < t->ndims - 2; i++)
            ones[i] = 1;
        for (size_t i = 0; ok && i < n->n_attribute; i++)
            ok = nnz_edit_attr_copy(a1, n->attribute[i], e) == 0;
        ok = ok && nnz_edit_attr_ints(a2, "kernel_shape", ones, (size_t)(t->ndims - 2), e) == 0;
    } else if (ok && (kind == L_GEMM_A || kind == L_GEMM_B)) {
        /* first: op(A) op(B) as before, with the factor's transposition;
         * second: the factor times the middle value, with alpha, beta, C */
        if (ta)
            ok = nnz_edit_attr_int(a1, "transA", 1, e) == 0 &&
                 (kind == L_GEMM_B || nnz_edit_attr_int(a2, "transA", 1, e) == 0);
        if (ok && tb)
            ok = nnz_edit_attr_int(a1, "transB", 1, e) == 0 &&
                 (kind == L_GEMM_A || nnz_edit_attr_int(a2, "transB", 1, e) == 0);
        for (size_t i = 0; ok && i < n->n_attribute; i++) {
            const char *an = n->attribute[i]->name;
            if (an && (strcmp(an, "alpha") == 0 || strcmp(an, "beta") == 0))
                ok = nnz_edit_attr_copy(a2, n->attribute[i], e) == 0;
        }
    }
    if (!ok)
        goto done;
    cJSON *fl = cJSON_AddArrayToObject(rep, "factors");
    cJSON_AddItemToArray(fl, cJSON_CreateString(fa->name));
    cJSON_AddItemToArray(fl, cJSON_CreateString(fb->name));
    *last = a2;
    rc = dec_apply(sc, n, w, t->dtype, &rw, e);
done:
    for (int i = 0; i < 4; i++)
        free(nm[i]);
    dec_rewrite_free(&rw);
    free(a);
    free(u);
    free(s);
    free(vt);
    free(p);
    free(q);
    return rc;
}

/* ---- one Tucker-2 layer: Conv with a kh x kw (x ...) kernel ------------------------------- */

double dec_tucker_params(size_t t, size_t s, size_t p, size_t ro, size_t ri)
{
    return (ri < s ? (double)s * (double)ri : 0) + (double)p * (double)ri * (double)ro +
           (ro < t ? (double)t * (double)ro : 0);
}

int dec_tucker_ranks_error(const double *so, size_t ko, const double *si, size_t ki, size_t T,
                           size_t S, size_t P, int in_mode, double rel, size_t *ro_out,
                           size_t *ri_out, nnz_error *e)
{
    /* the fewest parameters whose HOSVD error bound, the dropped energy of
     * both unfoldings, stays within the budget; HOOI only improves on it */
    double *to = nnz_malloc((ko + 1) * sizeof *to, e);
    double *tin = nnz_malloc((ki + 1) * sizeof *tin, e);
    if (!to || !tin) {
        free(to);
        free(tin);
        return -1;
    }
    to[ko] = tin[ki] = 0;
    for (size_t r = ko; r > 0; r--)
        to[r - 1] = to[r] + so[r - 1] * so[r - 1];
    for (size_t r = ki; r > 0; r--)
        tin[r - 1] = tin[r] + si[r - 1] * si[r - 1];
    double budget = rel * rel * to[0];
    double best = INFINITY;
    size_t ro = T, ri = S;
    for (size_t r3 = in_mode ? 1 : S; r3 <= S; r3++) {
        double ti = r3 >= ki ? 0 : tin[r3];
        if (ti > budget)
            continue;
        size_t r4 = 1;
        while (r4 < ko && to[r4] > budget - ti)
            r4++;
        if (r4 == ko && ko == T)
            r4 = T;
        double cost = dec_tucker_params(T, S, P, r4, r3);
        if (cost < best) {
            best = cost;
            ro = r4;
            ri = r3;
        }
        if (r3 >= ki && r3 < S)
            r3 = S - 1; /* past the unfolding's rank nothing changes until "kept" */
    }
    free(to);
    free(tin);
    *ro_out = ro;
    *ri_out = ri;
    return 0;
}

static int tucker_layer(ctx *c, const dec_scope *sc, Onnx__NodeProto *n, const dec_weight *w,
                        nnz_tensor *t, const float *wv, cJSON *rep, Onnx__NodeProto **last)
{
    nnz_error *e = c->e;
    size_t T = (size_t)t->dims[0], S = (size_t)t->dims[1], P = t->count / (T * S);
    int d = t->ndims - 2;
    size_t N = t->count, ko = T < S * P ? T : S * P, ki = S < T * P ? S : T * P;
    double *k = nnz_malloc(N * sizeof *k, e), *unf = nnz_malloc(N * sizeof *unf, e);
    double *so = nnz_malloc(ko * sizeof *so, e), *si = nnz_malloc(ki * sizeof *si, e);
    dec_tucker tk = { 0 };
    dec_rewrite rw = { 0 };
    char *nm[5] = { 0 };
    int rc = -1;
    if (!k || !unf || !so || !si)
        goto done;
    for (size_t i = 0; i < N; i++)
        k[i] = wv[i];
    /* the spectra of the two unfoldings choose the ranks */
    dec_unfold_in(k, T, S, P, unf);
    if ((rc = dec_spectrum(k, T, S * P, so, e)) != 0 ||
        (rc = dec_spectrum(unf, S, T * P, si, e)) != 0) {
        if (rc > 0)
            skip(rep, "the SVD of an unfolding did not converge");
        rc = rc > 0 ? 0 : -1;
        goto done;
    }
    rc = -1;
    int in_mode = S >= (size_t)c->o->min_in_channels;
    size_t ro, ri;
    if (c->o->rule == DEC_ERROR) {
        if (dec_tucker_ranks_error(so, ko, si, ki, T, S, P, in_mode, c->o->max_rel_error, &ro,
                                   &ri, e) != 0)
            goto done;
    } else {
        size_t want = c->o->rule == DEC_RANK ? (size_t)c->o->rank : 0;
        if (want > T || (in_mode && want > S))
            cJSON_AddBoolToObject(rep, "rank_clamped", 1);
        ro = mode_rank(c, so, ko, T, S * P, rep, "vbmf_rank_out");
        ri = in_mode ? mode_rank(c, si, ki, S, T * P, rep, "vbmf_rank_in") : S;
    }
    /* a mode at its full size is kept; past its unfolding's rank it is exact */
    if (ro > T)
        ro = T;
    if (ro < T && ro > ko)
        ro = ko;
    if (ri > S)
        ri = S;
    if (ri < S && ri > ki)
        ri = ki;
    cJSON_AddStringToObject(rep, "method", "tucker2");
    cJSON_AddStringToObject(rep, "modes", ri < S && ro < T ? "in+out" : ri < S ? "in"
                                          : ro < T          ? "out"
                                                            : "none");
    if (!in_mode)
        cJSON_AddStringToObject(rep, "note", "fewer input channels than min-in-channels: the "
                                             "input mode is kept");
    add_num(rep, "rank_in", (double)ri);
    add_num(rep, "rank_out", (double)ro);
    macs_info mi;
    conv_macs_info(sc, n, t->dims, d, &mi);
    double pb = (double)N, pa = dec_tucker_params(T, S, P, ro, ri);
    double mb = pb * mi.out_pix;
    double ma = (ri < S ? (double)S * (double)ri * mi.in_pix : 0) +
                (double)P * (double)ri * (double)ro * mi.out_pix +
                (ro < T ? (double)T * (double)ro * mi.out_pix : 0);
    int saves = costs(rep, pb, pa, mb, ma, &mi);
    if (ri == S && ro == T) {
        skip(rep, "full rank in both modes (%zu out, %zu in): nothing to factorise", T, S);
        rc = 0;
        goto done;
    }
    if (!saves) {
        skip(rep, "no saving: ranks %zu (in), %zu (out) need %.0f parameters, the kernel has "
                  "%.0f", ri, ro, pa, pb);
        rc = 0;
        goto done;
    }
    if ((rc = dec_tucker2(k, T, S, P, ro, ri, (int)c->o->iters, &tk, e)) != 0) {
        if (rc > 0)
            skip(rep, "an eigensolver in HOOI did not converge");
        rc = rc > 0 ? 0 : -1;
        goto done;
    }
    rc = -1;
    if (ri < S && ro < T)
        add_num(rep, "hooi_iterations", tk.iterations);

    /* the factors: (ri, S, 1..) = u_in^T, (ro, ri, k..) = core, (T, ro, 1..) = u_out */
    int64_t din[NNZ_MAX_DIMS], dcore[NNZ_MAX_DIMS], dout[NNZ_MAX_DIMS];
    din[0] = (int64_t)ri, din[1] = (int64_t)S;
    dcore[0] = (int64_t)ro, dcore[1] = (int64_t)ri;
    dout[0] = (int64_t)T, dout[1] = (int64_t)ro;
    for (int i = 0; i < d; i++) {
        din[2 + i] = dout[2 + i] = 1;
        dcore[2 + i] = t->dims[2 + i];
    }
    const char *wn = t->onnx_name;
    dec_factor *fi = NULL, *fc, *fo = NULL;
    if (ri < S && !(fi = factor(c, &rw, wn, "_tucker_in", din, t->ndims)))
        goto done;
    if (!(fc = factor(c, &rw, wn, "_tucker_core", dcore, t->ndims)))
        goto done;
    if (ro < T && !(fo = factor(c, &rw, wn, "_tucker_out", dout, t->ndims)))
        goto done;
    /* u_in is S x ri: stored transposed, as ri x S */
    if (fi)
        store(tk.u_in, S, ri, 1, t->dtype, fi->v, tk.u_in);
    store(tk.core, ro, ri * P, 0, t->dtype, fc->v, tk.core);
    if (fo)
        store(tk.u_out, T, ro, 0, t->dtype, fo->v, tk.u_out);
    /* the error, measured from the stored factors */
    dec_tucker_rebuild(&tk, unf);
    double err = 0, ref = 0;
    for (size_t i = 0; i < N; i++) {
        err += (k[i] - unf[i]) * (k[i] - unf[i]);
        ref += k[i] * k[i];
    }
    add_num(rep, "rel_error", ref > 0 ? sqrt(err / ref) : 0);

    /* the nodes: [1x1 S->ri] -> core (the old attributes) -> [1x1 ro->T] */
    const char *y = n->output[0], *label = node_label(n), *cur = n->input[0];
    const char *bias = n->n_input > 2 && n->input[2] && *n->input[2] ? n->input[2] : NULL;
    int64_t ones[NNZ_MAX_DIMS];
    for (int i = 0; i < d; i++)
        ones[i] = 1;
    Onnx__NodeProto *nn = NULL;
    if (fi) {
        const char *in[2] = { cur, fi->name };
        if (!(nm[0] = fresh(c, y, "_tucker_mid_in")) || !(nm[1] = fresh(c, label, "_tucker_in")) ||
            !(nn = node(c, &rw, "Conv", nm[1], in, 2, nm[0])) ||
            nnz_edit_attr_ints(nn, "kernel_shape", ones, (size_t)d, e) != 0)
            goto done;
        cur = nm[0];
    }
    {
        const char *in[3] = { cur, fc->name, bias };
        const char *out = y;
        if (fo && !(nm[2] = fresh(c, y, "_tucker_mid_out")))
            goto done;
        if (fo)
            out = nm[2];
        if (!(nm[3] = fresh(c, label, "_tucker_core")) ||
            !(nn = node(c, &rw, "Conv", nm[3], in, !fo && bias ? 3 : 2, out)))
            goto done;
        for (size_t i = 0; i < n->n_attribute; i++)
            if (nnz_edit_attr_copy(nn, n->attribute[i], e) != 0)
                goto done;
        cur = out;
    }
    if (fo) {
        const char *in[3] = { cur, fo->name, bias };
        if (!(nm[4] = fresh(c, label, "_tucker_out")) ||
            !(nn = node(c, &rw, "Conv", nm[4], in, bias ? 3 : 2, y)) ||
            nnz_edit_attr_ints(nn, "kernel_shape", ones, (size_t)d, e) != 0)
            goto done;
    }
    cJSON *fl = cJSON_AddArrayToObject(rep, "factors");
    for (size_t i = 0; i < rw.nf; i++)
        cJSON_AddItemToArray(fl, cJSON_CreateString(rw.f[i].name));
    *last = nn;
    rc = dec_apply(sc, n, w, t->dtype, &rw, e);
done:
    for (int i = 0; i < 5; i++)
        free(nm[i]);
    dec_rewrite_free(&rw);
    dec_tucker_free(&tk);
    free(k);
    free(unf);
    free(so);
    free(si);
    return rc;
}

/* ---- one node ----------------------------------------------------------------------------- */

static int consider(ctx *c, const dec_scope *sc, Onnx__NodeProto *n, Onnx__NodeProto **last)
{
    int conv = op_is(n, "Conv"), convt = op_is(n, "ConvTranspose"), gemm = op_is(n, "Gemm"),
        mm = op_is(n, "MatMul");
    if (!(conv || convt || gemm || mm) || n->n_input < 2 || n->n_output < 1 || !n->output[0] ||
        !n->input[0] || !n->input[1])
        return 0;
    int slot = 1;
    dec_weight w;
    dec_resolve(sc, n->input[1], &w);
    if ((gemm || mm) && !w.proto) {
        dec_weight wa;
        dec_resolve(sc, n->input[0], &wa);
        if (wa.proto) {
            w = wa;
            slot = 0;
        } else if (mm) {
            return 0; /* a product of two activations is not a layer */
        }
    }
    size_t ti = 0;
    nnz_tensor *t = tensor_of(c, w.proto, &ti);
    if (w.proto && (!t || !c->selected[ti]))
        return 0; /* not this stage's (only=, skip=, min-elements=, type) */
    /* per-layer overrides (a config file's "layers"); NULL: turned off here */
    const dec_opts *lo = t ? nnz_stage_opts_for(c->st, t) : c->st->opts;
    c->o = lo ? lo : c->st->opts;
    /* an output budget: this layer's chosen weight error, as max-rel-error */
    dec_opts chosen;
    const double *target = NULL;
    if (c->o->rule == DEC_BUDGET && t) {
        target = dec_budget_target(c->o->budget, t->name);
        chosen = *c->o;
        chosen.rule = DEC_ERROR;
        chosen.max_rel_error = target && *target > 0 ? *target : 0;
        c->o = &chosen;
    }

    cJSON *rep = cJSON_CreateObject();
    cJSON_AddItemToArray(c->layers, rep);
    cJSON_AddStringToObject(rep, "node", node_label(n));
    cJSON_AddStringToObject(rep, "op", n->op_type);
    cJSON_AddStringToObject(rep, "weight", t ? t->name : n->input[slot]);
    if (sc->depth > 0)
        add_num(rep, "graph_depth", sc->depth);
    if (t) {
        cJSON *sh = cJSON_AddArrayToObject(rep, "shape");
        for (int i = 0; i < t->ndims; i++)
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->dims[i]));
    }
    cJSON_AddStringToObject(rep, "decision", "skipped");
    char rule[64];
    cJSON_AddStringToObject(rep, "rule", rule_text(c->o, rule, sizeof rule));
    c->considered++;

    if (!t) {
        skip(rep, "the weight '%s' is computed at run time (not an initializer or Constant)",
                  n->input[slot]);
        return 0;
    }
    if (!lo) {
        skip(rep, "a per-layer override turns decompose off for this weight");
        return 0;
    }
    if (c->o == &chosen && !(target && *target > 0)) {
        skip(rep, target ? "the output budget keeps it whole (its parameters are worth "
                           "their error)"
                         : "the output budget found no saving factorisation for it");
        return 0;
    }
    if (t->dtype != NNZ_DT_FLOAT && t->dtype != NNZ_DT_FLOAT16 && t->dtype != NNZ_DT_BFLOAT16) {
        skip(rep, "%s weights are not factorised", nnz_dtype_name(t->dtype));
        return 0;
    }
    if (convt) {
        skip(rep, "ConvTranspose is not decomposed (docs/passes/decompose.md)");
        return 0;
    }
    size_t uses = dec_count_uses(w.g, n->input[slot]);
    if (uses != 1) {
        skip(rep, "the weight is used %zu times; factorising one use would keep the original "
                  "for the others", uses);
        return 0;
    }
    if (conv) {
        int64_t group = nnz_node_int(n, "group", 1);
        if (group != 1) {
            skip(rep, "%s convolution (group=%lld): only group=1 is factorised",
                      t->dims[1] == 1 ? "depthwise" : "grouped", (long long)group);
            return 0;
        }
        if (t->ndims < 3 || t->dims[0] < 1 || t->dims[1] < 1 || t->count == 0) {
            skip(rep, "a Conv kernel needs (out, in, k...) dims");
            return 0;
        }
    } else {
        if (t->ndims != 2 || t->count == 0) {
            skip(rep, "the weight has %d dims: only 2-D weights are factorised", t->ndims);
            return 0;
        }
        if (gemm && c->opset < 7) {
            skip(rep, "Gemm before opset 7 (the model has %lld) is not rewritten",
                      (long long)c->opset);
            return 0;
        }
    }
    float *wv = nnz_tensor_floats(c->m, t, c->e);
    if (!wv)
        return -1;
    for (size_t i = 0; i < t->count; i++)
        if (!isfinite(wv[i])) {
            skip(rep, "value %zu is %s; factorising needs finite weights", i,
                      isnan(wv[i]) ? "NaN" : "infinite");
            free(wv);
            return 0;
        }
    int rc;
    if (conv && t->count / (size_t)(t->dims[0] * t->dims[1]) > 1)
        rc = tucker_layer(c, sc, n, &w, t, wv, rep, last);
    else
        rc = svd_layer(c, sc, n, &w, t, wv,
                       conv ? L_CONV1
                       : gemm ? (slot ? L_GEMM_B : L_GEMM_A)
                              : (slot ? L_MATMUL_B : L_MATMUL_A),
                       rep, last);
    free(wv);
    if (rc == 0 && *last) {
        /* the old weight's proto is gone with its graph entry */
        t->proto = NULL;
        cJSON_ReplaceItemInObject(rep, "decision", cJSON_CreateString("decomposed"));
        c->decomposed++;
    }
    return rc;
}

static size_t index_of(const Onnx__GraphProto *g, const Onnx__NodeProto *n, size_t dflt)
{
    for (size_t i = 0; i < g->n_node; i++)
        if (g->node[i] == n)
            return i;
    return dflt;
}

static int walk(ctx *c, const dec_scope *sc)
{
    Onnx__GraphProto *g = sc->g;
    for (size_t i = 0; i < g->n_node; i++) {
        Onnx__NodeProto *n = g->node[i];
        for (size_t a = 0; a < n->n_attribute; a++) {
            Onnx__AttributeProto *at = n->attribute[a];
            if (at->g) {
                dec_scope sub = { at->g, sc, sc->depth + 1 };
                if (walk(c, &sub) != 0)
                    return -1;
            }
            for (size_t k = 0; k < at->n_graphs; k++) {
                dec_scope sub = { at->graphs[k], sc, sc->depth + 1 };
                if (walk(c, &sub) != 0)
                    return -1;
            }
        }
        /* a rewrite inside may have removed a Constant of this graph */
        i = index_of(g, n, i);
        Onnx__NodeProto *last = NULL;
        if (consider(c, sc, n, &last) != 0)
            return nnz_wrap(c->e, "node '%s': ", node_label(n));
        if (last)
            i = index_of(g, last, i);
    }
    return 0;
}

static int prepare(nnz_model *m, const nnz_stage *st, cJSON *report, nnz_error *e)
{
    dec_opts *so = st->opts;
    if (so->rule == DEC_BUDGET) {
        if (st->nov > 0)
            return nnz_fail(e, NNZ_EXIT_USAGE,
                            "max-output-error chooses every layer's rank itself; per-layer "
                            "overrides do not combine with it (use only= or skip=)");
        if (dec_budget_run(m, st, so, report, e) != 0)
            return -1;
    }
    ctx c = { .m = m, .st = st, .o = st->opts, .selected = st->selected,
              .nselected = m->ntensors, .e = e, .opset = nnz_model_opset(m) };
    c.layers = cJSON_AddArrayToObject(report, "decompose");
    /* one BLAS thread: the same bytes whatever the machine */
    int threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    dec_scope root = { m->proto->graph, NULL, 0 };
    int rc = walk(&c, &root);
    openblas_set_num_threads(threads);
    if (rc == 0 && c.decomposed)
        rc = nnz_model_rescan(m, e);
    if (rc == 0 && c.considered && !c.decomposed) {
        char buf[256];
        snprintf(buf, sizeof buf, "decompose: none of the %zu layers considered was factorised "
                 "(see each layer's reason in the report)", c.considered);
        cJSON *w = cJSON_GetObjectItem(report, "warnings");
        if (!w)
            w = cJSON_AddArrayToObject(report, "warnings");
        cJSON_AddItemToArray(w, cJSON_CreateString(buf));
    }
    return rc;
}

/* The report's summary: a line per layer with -v, and what it did in total. */
static void report_text(const cJSON *report, int verbose,
                        void (*line)(void *arg, int detail, const char *text), void *arg)
{
    const cJSON *layers = cJSON_GetObjectItem(report, "decompose");
    const cJSON *x;
    char buf[600];
    double before = 0, after = 0;
    int done = 0, total = 0;
    if (!cJSON_IsArray(layers))
        return;
    cJSON_ArrayForEach(x, layers)
    {
        const char *dec = cJSON_GetStringValue(cJSON_GetObjectItem(x, "decision"));
        total++;
        if (!dec || strcmp(dec, "decomposed") != 0) {
            if (verbose) {
                const char *why = cJSON_GetStringValue(cJSON_GetObjectItem(x, "reason"));
                snprintf(buf, sizeof buf, "decompose %-30s left alone: %s",
                         cJSON_GetStringValue(cJSON_GetObjectItem(x, "weight")),
                         why ? why : dec ? dec : "");
                line(arg, 1, buf);
            }
            continue;
        }
        done++;
        before += cJSON_GetNumberValue(cJSON_GetObjectItem(x, "params_before"));
        after += cJSON_GetNumberValue(cJSON_GetObjectItem(x, "params_after"));
        if (verbose) {
            /* SVD has one rank; Tucker-2 an input and an output rank */
            char rank[64];
            const cJSON *r1 = cJSON_GetObjectItem(x, "rank");
            if (cJSON_IsNumber(r1))
                snprintf(rank, sizeof rank, "rank %.0f", r1->valuedouble);
            else
                snprintf(rank, sizeof rank, "ranks %.0f (in), %.0f (out)",
                         cJSON_GetNumberValue(cJSON_GetObjectItem(x, "rank_in")),
                         cJSON_GetNumberValue(cJSON_GetObjectItem(x, "rank_out")));
            snprintf(buf, sizeof buf, "decompose %-30s %s %s: %.0f -> %.0f params, "
                     "weight rel_l2 %.3g",
                     cJSON_GetStringValue(cJSON_GetObjectItem(x, "weight")),
                     cJSON_GetStringValue(cJSON_GetObjectItem(x, "method")), rank,
                     cJSON_GetNumberValue(cJSON_GetObjectItem(x, "params_before")),
                     cJSON_GetNumberValue(cJSON_GetObjectItem(x, "params_after")),
                     cJSON_GetNumberValue(cJSON_GetObjectItem(x, "rel_error")));
            line(arg, 1, buf);
        }
    }
    snprintf(buf, sizeof buf, "decompose: %d of %d layers factorised, their parameters %.0f -> %.0f",
             done, total, before, after);
    line(arg, 0, buf);
}

static void free_opts(void *vo)
{
    dec_opts *o = vo;
    if (o)
        dec_budget_free(o->budget);
    free(o);
}

const nnz_pass nnz_pass_decompose = {
    .name = "decompose",
    .help = "low-rank factorisation: SVD of Gemm/MatMul weights, Tucker-2 of Conv kernels; "
            "rewrites the graph into thinner layers",
    .options = options,
    .phase = NNZ_PHASE_FACTOR,
    .consumes = NNZ_DATA_FLOATS,
    .produces = NNZ_DATA_FLOATS,
    .rewrites_graph = NNZ_REWRITE_REPLACES,
    .parse = parse,
    .selects = selects,
    .prepare = prepare,
    .report_sections = (const char *const[]){ "decompose", "decompose_budget", NULL },
    .report_text = report_text,
    .run = NULL,
    .free_opts = free_opts,
};
