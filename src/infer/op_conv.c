/* op_conv.c - convolutions, pools, matrix products, batch norm, resize.
 *
 * Conv runs as im2col + sgemm in column blocks (bounded scratch), 1x1 convs
 * straight on the input, depthwise convs directly. Spatial ops handle 1 to
 * 3 spatial dims by viewing them as 3 (leading sizes of 1). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

#define COL_BYTES (4u << 20) /* im2col scratch per block */

/* ---- geometry shared by Conv, ConvTranspose and the pools ------------------- */

typedef struct geom {
    int sp;                 /* spatial dims (1..3) */
    int64_t in[3], out[3], k[3], st[3], dil[3], pb[3], pe[3];
} geom;

/* Read kernel/stride/pad/dilation attributes. k[] from `kernel` (or the
 * attribute). Pads from auto_pad or pads. out[] computed (ceil for pools
 * with ceil_mode). */
static int geom_init(nni_call *c, geom *g, const nnz_itensor *x, const int64_t *kernel, int pool)
{
    int sp = x->ndims - 2;
    if (sp < 1 || sp > 3)
        return nni_unsupported(c, "%d spatial dims (1 to 3 are)", sp < 0 ? 0 : sp);
    g->sp = sp;
    size_t n;
    const int64_t *v;
    for (int i = 0; i < 3; i++) {
        g->in[i] = g->out[i] = g->k[i] = g->st[i] = g->dil[i] = 1;
        g->pb[i] = g->pe[i] = 0;
    }
    /* spatial dim i of the model goes to slot 3 - sp + i */
    int o = 3 - sp;
    for (int i = 0; i < sp; i++) {
        g->in[o + i] = x->dims[2 + i];
        g->k[o + i] = kernel[i];
        if (kernel[i] < 1)
            return nni_fail(c, "kernel dim %d is %lld", i, (long long)kernel[i]);
    }
    if ((v = nni_attr_ints(c, "strides", &n))) {
        if (n != (size_t)sp) return nni_fail(c, "strides has %zu values for %d spatial dims", n, sp);
        for (int i = 0; i < sp; i++) {
            if (v[i] < 1) return nni_fail(c, "stride %lld", (long long)v[i]);
            g->st[o + i] = v[i];
        }
    }
    if ((v = nni_attr_ints(c, "dilations", &n))) {
        if (n != (size_t)sp) return nni_fail(c, "dilations has %zu values for %d spatial dims", n, sp);
        for (int i = 0; i < sp; i++) {
            if (v[i] < 1) return nni_fail(c, "dilation %lld", (long long)v[i]);
            g->dil[o + i] = v[i];
        }
    }
    const char *ap = nni_attr_s(c, "auto_pad", "NOTSET");
    int ceil_mode = pool ? (int)nni_attr_i(c, "ceil_mode", 0) : 0;
    if (strcmp(ap, "NOTSET") == 0) {
        if ((v = nni_attr_ints(c, "pads", &n))) {
            if (n != 2 * (size_t)sp) return nni_fail(c, "pads has %zu values for %d spatial dims", n, sp);
            for (int i = 0; i < sp; i++) {
                if (v[i] < 0 || v[i + sp] < 0) return nni_unsupported(c, "negative pads");
                g->pb[o + i] = v[i];
                g->pe[o + i] = v[i + sp];
            }
        }
    } else if (strcmp(ap, "VALID") != 0 && strcmp(ap, "SAME_UPPER") != 0 &&
               strcmp(ap, "SAME_LOWER") != 0)
        return nni_fail(c, "auto_pad '%s' (NOTSET, SAME_UPPER, SAME_LOWER, VALID)", ap);
    for (int i = o; i < 3; i++) {
        int64_t ek = g->dil[i] * (g->k[i] - 1) + 1;
        if (ap[0] == 'S') {
            int64_t out = (g->in[i] + g->st[i] - 1) / g->st[i];
            int64_t tot = (out - 1) * g->st[i] + ek - g->in[i];
            if (tot < 0) tot = 0;
            g->pb[i] = strcmp(ap, "SAME_UPPER") == 0 ? tot / 2 : tot - tot / 2;
            g->pe[i] = tot - g->pb[i];
            g->out[i] = out;
            continue;
        }
        int64_t span = g->in[i] + g->pb[i] + g->pe[i] - ek;
        if (span < 0)
            return nni_fail(c, "the kernel (%lld) is larger than the padded input (%lld)",
                            (long long)ek, (long long)(g->in[i] + g->pb[i] + g->pe[i]));
        g->out[i] = (ceil_mode ? (span + g->st[i] - 1) / g->st[i] : span / g->st[i]) + 1;
        if (ceil_mode && (g->out[i] - 1) * g->st[i] >= g->in[i] + g->pb[i])
            g->out[i]--;
    }
    return 0;
}

static int64_t gvol(const int64_t *d)
{
    return d[0] * d[1] * d[2];
}

/* ---- Conv ---------------------------------------------------------------------- */

/* im2col for output columns [j0, j0+nc) of one image and channel group. */
static void im2col(const float *x, int64_t cg, const geom *g, int64_t j0, int64_t nc, float *col)
{
    int64_t kvol = gvol(g->k), ivol = gvol(g->in);
    for (int64_t ci = 0; ci < cg; ci++) {
        const float *xc = x + ci * ivol;
        for (int64_t kk = 0; kk < kvol; kk++) {
            int64_t kw = kk % g->k[2], kh = (kk / g->k[2]) % g->k[1], kd = kk / (g->k[2] * g->k[1]);
            float *row = col + (ci * kvol + kk) * nc;
            int64_t j = j0;
            int64_t ow = j % g->out[2], oh = (j / g->out[2]) % g->out[1], od = j / (g->out[2] * g->out[1]);
            for (int64_t t = 0; t < nc; t++) {
                int64_t id = od * g->st[0] - g->pb[0] + kd * g->dil[0];
                int64_t ih = oh * g->st[1] - g->pb[1] + kh * g->dil[1];
                int64_t iw = ow * g->st[2] - g->pb[2] + kw * g->dil[2];
                row[t] = id >= 0 && id < g->in[0] && ih >= 0 && ih < g->in[1] && iw >= 0 &&
                                 iw < g->in[2]
                             ? xc[(id * g->in[1] + ih) * g->in[2] + iw]
                             : 0.0f;
                if (++ow == g->out[2]) {
                    ow = 0;
                    if (++oh == g->out[1]) {
                        oh = 0;
                        od++;
                    }
                }
            }
        }
    }
}

/* The output positions o in [0, out) whose input position
 * o * st - pb + off lies in [0, in): [*lo, *hi). */
static void valid_range(int64_t out, int64_t in, int64_t st, int64_t pb, int64_t off, int64_t *lo,
                        int64_t *hi)
{
    int64_t a = pb - off, b = in - 1 + pb - off; /* o * st in [a, b] */
    *lo = a <= 0 ? 0 : (a + st - 1) / st;
    *hi = b < 0 ? 0 : b / st + 1;
    if (*hi > out) *hi = out;
    if (*lo > *hi) *lo = *hi;
}

/* Depthwise 2-D (and 1-D) convolution, one channel: for each tap, the
 * valid stretch of each output row gets weight * input (a strided axpy). */
/* The common depthwise cases, KxK (3 or 5) at stride S (1 or 2) without
 * dilation: all K*K taps of an output summed in one register (one store an
 * output; the taps unrolled, so the loop along the row vectorizes); the
 * columns at the borders, where a tap falls outside, take the checked loop.
 * Rows outside the input read `zeros` (IW of them). The taps add in the
 * order of the general loop (bias, then row by row). */
static inline __attribute__((always_inline)) void dw_fixed(const float *restrict x,
                                                           const float *restrict w, float bias,
                                                           const geom *g, float *restrict y,
                                                           const float *zeros, const int K,
                                                           const int S)
{
    int64_t OH = g->out[1], OW = g->out[2], IH = g->in[1], IW = g->in[2];
    int64_t pt = g->pb[1], pl = g->pb[2];
    /* columns whose K taps are all inside: ow * S - pl in [0, IW - K] */
    int64_t a = (pl + S - 1) / S, b = IW - K + pl >= 0 ? (IW - K + pl) / S + 1 : 0;
    if (a > OW) a = OW;
    if (b > OW) b = OW;
    if (b < a) b = a;
    /* two output rows a pass when the interior is the whole row (the
     * padded copy): they share K - S of their input rows, loaded once */
    int64_t oh = 0;
    if (a == 0 && b == OW)
        for (; oh + 2 <= OH; oh += 2) {
            const float *r[5 + 2];
            for (int k = 0; k < K + S; k++) {
                int64_t ih = oh * S - pt + k;
                r[k] = ih >= 0 && ih < IH ? x + ih * IW : zeros;
            }
            float *restrict y0 = y + oh * OW, *restrict y1 = y0 + OW;
            for (int64_t ow = 0; ow < OW; ow++) {
                const int64_t base = ow * S - pl;
                float s0 = bias, s1 = bias;
#pragma GCC unroll 5
                for (int kh = 0; kh < K; kh++)
#pragma GCC unroll 5
                    for (int kw = 0; kw < K; kw++) {
                        s0 += w[kh * K + kw] * r[kh][base + kw];
                        s1 += w[kh * K + kw] * r[kh + S][base + kw];
                    }
                y0[ow] = s0;
                y1[ow] = s1;
            }
        }
    for (; oh < OH; oh++) {
        const float *r[5];
        for (int k = 0; k < K; k++) {
            int64_t ih = oh * S - pt + k;
            r[k] = ih >= 0 && ih < IH ? x + ih * IW : zeros;
        }
        float *restrict yr = y + oh * OW;
        for (int64_t ow = a; ow < b; ow++) {
            const int64_t base = ow * S - pl;
            float s = bias;
#pragma GCC unroll 5
            for (int kh = 0; kh < K; kh++)
#pragma GCC unroll 5
                for (int kw = 0; kw < K; kw++)
                    s += w[kh * K + kw] * r[kh][base + kw];
            yr[ow] = s;
        }
        for (int64_t ow = 0; ow < OW; ow++) {
            if (ow == a && b > a)
                ow = b; /* the interior is done */
            if (ow >= OW)
                break;
            float s = bias;
            for (int kh = 0; kh < K; kh++)
                for (int kw = 0; kw < K; kw++) {
                    int64_t iw = ow * S - pl + kw;
                    if (iw >= 0 && iw < IW)
                        s += w[kh * K + kw] * r[kh][iw];
                }
            yr[ow] = s;
        }
    }
}

NNI_HOT static void dw3s1(const float *x, const float *w, float b, const geom *g, float *y, const float *z)
{
    dw_fixed(x, w, b, g, y, z, 3, 1);
}
NNI_HOT static void dw3s2(const float *x, const float *w, float b, const geom *g, float *y, const float *z)
{
    dw_fixed(x, w, b, g, y, z, 3, 2);
}
NNI_HOT static void dw5s1(const float *x, const float *w, float b, const geom *g, float *y, const float *z)
{
    dw_fixed(x, w, b, g, y, z, 5, 1);
}
NNI_HOT static void dw5s2(const float *x, const float *w, float b, const geom *g, float *y, const float *z)
{
    dw_fixed(x, w, b, g, y, z, 5, 2);
}

/* The fixed kernels above apply (3x3 or 5x5, stride 1 or 2 both ways, no
 * dilation); dw_pad_size gives the floats of the zero-padded copy of one
 * channel they then read (every column interior: one vectorized loop a
 * row, no scalar border path and, for widths a multiple of 8, no scalar
 * remainder), 0 when the kernel or the size does not fit. */
static int64_t dw_pad_size(const geom *g, int64_t *ph, int64_t *pw)
{
    int64_t IH = g->in[1], IW = g->in[2], OH = g->out[1], OW = g->out[2], K = g->k[1], S = g->st[1];
    if (g->sp > 2 || K != g->k[2] || (K != 3 && K != 5) || S != g->st[2] || (S != 1 && S != 2) ||
        g->dil[1] != 1 || g->dil[2] != 1 || IW < K || IW > 4096 || OH < 1 || OW < 1)
        return 0;
    int64_t PH = (OH - 1) * S + K, PW = (OW - 1) * S + K;
    if (PH < IH + g->pb[1]) PH = IH + g->pb[1];
    if (PW < IW + g->pb[2]) PW = IW + g->pb[2];
    if (PH * PW > ((int64_t)1 << 20)) /* over 4 MiB a channel: the checked kernel */
        return 0;
    *ph = PH;
    *pw = PW;
    return PH * PW;
}

/* One channel of a depthwise conv. `pad`, when the caller has one (zeroed,
 * dw_pad_size floats; only its interior is written here, so the border
 * stays zero from channel to channel), takes the padded copy. */
NNI_HOT static void dw_conv(const float *x, const float *w, float bias, const geom *g, float *y,
                            float *pad)
{
    int64_t OH = g->out[1], OW = g->out[2], IH = g->in[1], IW = g->in[2], KH = g->k[1], KW = g->k[2];
    int64_t PH, PW;
    if (dw_pad_size(g, &PH, &PW)) {
        static const float zeros[4096 + 8];
        int64_t S = g->st[1];
        void (*fn)(const float *, const float *, float, const geom *, float *, const float *) =
            KH == 3 ? (S == 1 ? dw3s1 : dw3s2) : (S == 1 ? dw5s1 : dw5s2);
        if (pad) {
            for (int64_t ih = 0; ih < IH; ih++)
                memcpy(pad + (ih + g->pb[1]) * PW + g->pb[2], x + ih * IW, (size_t)IW * 4);
            geom gp = *g;
            gp.in[1] = PH;
            gp.in[2] = PW;
            gp.pb[1] = gp.pb[2] = 0;
            fn(pad, w, bias, &gp, y, zeros);
            return;
        }
        fn(x, w, bias, g, y, zeros);
        return;
    }
    int64_t ow0[64], ow1[64];
    int many = KW > 64;
    for (int64_t kw = 0; kw < KW && !many; kw++)
        valid_range(OW, IW, g->st[2], g->pb[2], kw * g->dil[2], &ow0[kw], &ow1[kw]);
    /* row by row, so the output row stays in L1 while every tap adds in */
    for (int64_t oh = 0; oh < OH; oh++) {
        float *yr = y + oh * OW;
        for (int64_t i = 0; i < OW; i++)
            yr[i] = bias;
        for (int64_t kh = 0; kh < KH; kh++) {
            int64_t ih = oh * g->st[1] - g->pb[1] + kh * g->dil[1];
            if (ih < 0 || ih >= IH)
                continue;
            for (int64_t kw = 0; kw < KW; kw++) {
                int64_t a, b, offw = kw * g->dil[2] - g->pb[2];
                if (many)
                    valid_range(OW, IW, g->st[2], g->pb[2], kw * g->dil[2], &a, &b);
                else {
                    a = ow0[kw];
                    b = ow1[kw];
                }
                const float *xr = x + ih * IW + offw;
                float wv = w[kh * KW + kw];
                if (g->st[2] == 1)
                    for (int64_t ow = a; ow < b; ow++)
                        yr[ow] += wv * xr[ow];
                else
                    for (int64_t ow = a; ow < b; ow++)
                        yr[ow] += wv * xr[ow * g->st[2]];
            }
        }
    }
}

/* im2col of a 2-D (or 1-D) conv for output rows [oh0, oh1): row (ci, kh,
 * kw) of `col` holds, for each output position, the input it multiplies. */
static void im2col_rows(const float *x, int64_t cg, const geom *g, int64_t oh0, int64_t oh1,
                        float *col, int64_t ld)
{
    int64_t OW = g->out[2], IH = g->in[1], IW = g->in[2], nc = ld, sw = g->st[2];
    for (int64_t ci = 0; ci < cg; ci++)
        for (int64_t kh = 0; kh < g->k[1]; kh++)
            for (int64_t kw = 0; kw < g->k[2]; kw++) {
                float *restrict row = col + ((ci * g->k[1] + kh) * g->k[2] + kw) * nc;
                int64_t ow0, ow1, offw = kw * g->dil[2] - g->pb[2];
                valid_range(OW, IW, g->st[2], g->pb[2], kw * g->dil[2], &ow0, &ow1);
                for (int64_t oh = oh0; oh < oh1; oh++) {
                    float *restrict r = row + (oh - oh0) * OW;
                    int64_t ih = oh * g->st[1] - g->pb[1] + kh * g->dil[1];
                    if (ih < 0 || ih >= IH) {
                        memset(r, 0, (size_t)OW * 4);
                        continue;
                    }
                    const float *restrict xr = x + (ci * IH + ih) * IW + offw;
                    for (int64_t ow = 0; ow < ow0; ow++) r[ow] = 0;
                    if (sw == 1)
                        memcpy(r + ow0, xr + ow0, (size_t)(ow1 - ow0) * 4);
                    else if (sw == 2) /* a constant stride: the loop vectorizes */
                        for (int64_t ow = ow0; ow < ow1; ow++) r[ow] = xr[ow * 2];
                    else
                        for (int64_t ow = ow0; ow < ow1; ow++) r[ow] = xr[ow * sw];
                    for (int64_t ow = ow1; ow < OW; ow++) r[ow] = 0;
                }
            }
}

/* What follows the products in one row of a conv's output, while the row
 * is in cache: the bias, then a fused chain's residual and activation
 * (nni_call.epi_*), in the order the separate nodes would apply them. */
NNI_HOT static void post_row(float *restrict y, const float *restrict r, size_t n, int hb, float b,
                             int act, float lo, float hi)
{
    if (hb)
        for (size_t i = 0; i < n; i++)
            y[i] = y[i] + b;
    if (r)
        for (size_t i = 0; i < n; i++)
            y[i] = y[i] + r[i];
    if (act == NNI_ACT_RELU)
        for (size_t i = 0; i < n; i++)
            y[i] = y[i] > 0 ? y[i] : 0; /* as Relu */
    else if (act == NNI_ACT_CLIP)
        for (size_t i = 0; i < n; i++) {
            float v = y[i];
            v = v < lo ? lo : v; /* as Clip */
            y[i] = v > hi ? hi : v;
        }
}

/* post_row for columns [j0, j0 + nc) of output channels [0, mg) of y
 * (channel stride ovol); bias and res as y's channels. */
static void post_block(const nni_call *c, float *y, const float *res, const float *bias,
                       int64_t mg, int64_t ovol, int64_t j0, int64_t nc)
{
    if (!bias && !res && !c->epi_act)
        return;
    for (int64_t m = 0; m < mg; m++)
        post_row(y + m * ovol + j0, res ? res + m * ovol + j0 : NULL, (size_t)nc, bias != NULL,
                 bias ? bias[m] : 0, c->epi_act, c->epi_lo, c->epi_hi);
}

/* Before the products of a block (sgemm adds into it, beta 1): each row
 * starts as its bias plus a fused chain's residual, so no pass of their
 * own and no zeroing pass inside sgemm; returns the beta to use (0 when
 * there is nothing to start from). */
NNI_HOT static void pre_row(float *restrict y, const float *restrict r, size_t n, float b)
{
    if (r)
        for (size_t i = 0; i < n; i++)
            y[i] = b + r[i];
    else
        for (size_t i = 0; i < n; i++)
            y[i] = b;
}

static float pre_block(float *y, const float *res, const float *bias, int64_t mg, int64_t ovol,
                       int64_t j0, int64_t nc)
{
    if (!bias && !res)
        return 0.0f;
    for (int64_t m = 0; m < mg; m++)
        pre_row(y + m * ovol + j0, res ? res + m * ovol + j0 : NULL, (size_t)nc,
                bias ? bias[m] : 0.0f);
    return 1.0f;
}

/* im2col of a small image by a map made once per conv: for each tap and
 * output position, the offset it reads in the image padded with zeros (xp,
 * pvol values a channel). Short rows would otherwise cost a memcpy and two
 * memsets each; the padding makes the gather branch-free. */
NNI_HOT static void im2col_map(const float *restrict xp, int64_t cg, int64_t pvol, int64_t kvol,
                               int64_t ovol, const int32_t *restrict map, float *restrict col,
                               int64_t ld)
{
    for (int64_t ci = 0; ci < cg; ci++) {
        const float *xc = xp + ci * pvol;
        for (int64_t kk = 0; kk < kvol; kk++) {
            const int32_t *mk = map + kk * ovol;
            float *row = col + (ci * kvol + kk) * ld;
            for (int64_t j = 0; j < ovol; j++)
                row[j] = xc[mk[j]];
        }
    }
}

/* Small images in a batch: one product for the whole batch (the columns
 * of every image side by side), then each image's rows put in place; N
 * small products would cost mostly sgemm's per-call overhead. */
static int conv_batched(nni_call *c, const nnz_itensor *X, const nnz_itensor *W,
                        const float *bias, int k_out, const geom *g, int direct)
{
    int64_t N = X->dims[0], C = X->dims[1], M = W->dims[0], group = nni_attr_i(c, "group", 1);
    int64_t cg = C / group, mg = M / group, kvol = gvol(g->k), ivol = gvol(g->in), ovol = gvol(g->out);
    int64_t kdim = cg * kvol, nc = N * ovol;
    size_t colb = (size_t)(kdim * nc) * 4, tb = (size_t)(mg * nc) * 4;
    if (nni_account(c->inf, colb + tb, c->e) != 0)
        return -1;
    float *col = malloc(colb ? colb : 1), *t = malloc(tb ? tb : 1);
    if (!col || !t) {
        free(col);
        free(t);
        c->inf->live -= colb + tb;
        return nnz_fail(c->e, NNZ_EXIT_INTERNAL, "out of memory");
    }
    const float *x = X->data, *w = W->data;
    const float *res = c->epi_res ? c->epi_res->data : NULL;
    float *y = c->out[k_out]->data;
    /* the padded image: PH x PW a channel */
    int32_t *map = NULL;
    float *xp = NULL;
    int64_t PH = g->in[1] + g->pb[1] + g->pe[1], PW = g->in[2] + g->pb[2] + g->pe[2];
    int64_t pvol = PH * PW;
    int use_map = !direct && kvol <= 9 && pvol <= 4096 && cg * pvol <= 65536;
    if (use_map) {
        map = malloc((size_t)(kvol * ovol) * sizeof *map);
        xp = calloc((size_t)(cg * pvol), sizeof *xp); /* the border stays zero */
        use_map = map && xp;
    }
    for (int64_t kk = 0; use_map && kk < kvol; kk++) {
        int64_t kw = kk % g->k[2], kh = kk / g->k[2];
        for (int64_t j = 0; j < ovol && use_map; j++) {
            int64_t ph = j / g->out[2] * g->st[1] + kh * g->dil[1];
            int64_t pw = j % g->out[2] * g->st[2] + kw * g->dil[2];
            use_map = ph < PH && pw < PW;
            map[kk * ovol + j] = (int32_t)(ph * PW + pw);
        }
    }

    for (int64_t gi = 0; gi < group; gi++) {
        for (int64_t n = 0; n < N; n++) {
            const float *xg = x + (n * C + gi * cg) * ivol;
            if (direct)
                for (int64_t ci = 0; ci < cg; ci++)
                    memcpy(col + ci * nc + n * ovol, xg + ci * ivol, (size_t)ovol * 4);
            else if (use_map) {
                for (int64_t ci = 0; ci < cg; ci++)
                    for (int64_t ih = 0; ih < g->in[1]; ih++)
                        memcpy(xp + ci * pvol + (ih + g->pb[1]) * PW + g->pb[2],
                               xg + ci * ivol + ih * g->in[2], (size_t)g->in[2] * 4);
                im2col_map(xp, cg, pvol, kvol, ovol, map, col + n * ovol, nc);
            }
            else
                im2col_rows(xg, cg, g, 0, g->out[1], col + n * ovol, nc);
        }
        const float *bg = bias ? bias + gi * mg : NULL;
        float beta = pre_block(t, NULL, bg, mg, nc, 0, nc);
        nni_sgemm(0, 0, (int)mg, (int)nc, (int)kdim, 1.0f, w + gi * mg * kdim, (int)kdim, col,
                  (int)nc, beta, t, (int)nc);
        for (int64_t n = 0; n < N; n++)
            for (int64_t m = 0; m < mg; m++) {
                size_t off = (size_t)((n * M + gi * mg + m) * ovol);
                memcpy(y + off, t + m * nc + n * ovol, (size_t)ovol * 4);
                post_block(c, y + off, res ? res + off : NULL, NULL, 1, ovol, 0, ovol);
            }
    }
    free(map);
    free(xp);
    free(col);
    free(t);
    c->inf->live -= colb + tb;
    return 0;
}

int nni_conv_float(nni_call *c, const nnz_itensor *X, const nnz_itensor *W, const float *bias,
                   int k_out)
{
    int64_t kernel[3];
    if (W->ndims != X->ndims)
        return nni_fail(c, "weights have rank %d, input %d", W->ndims, X->ndims);
    for (int i = 2; i < W->ndims; i++)
        kernel[i - 2] = W->dims[i];
    size_t nk;
    const int64_t *ks = nni_attr_ints(c, "kernel_shape", &nk);
    if (ks)
        for (size_t i = 0; i < nk && i + 2 < (size_t)W->ndims; i++)
            if (ks[i] != W->dims[i + 2])
                return nni_fail(c, "kernel_shape disagrees with the weights");
    geom g;
    if (geom_init(c, &g, X, kernel, 0) != 0)
        return -1;
    int64_t N = X->dims[0], C = X->dims[1], M = W->dims[0], group = nni_attr_i(c, "group", 1);
    if (group < 1 || C % group || M % group || W->dims[1] * group != C)
        return nni_fail(c, "group %lld does not fit %lld input and %lld output channels "
                        "(weights %lld per group)", (long long)group, (long long)C, (long long)M,
                        (long long)W->dims[1]);
    int64_t od[NNZ_MAX_DIMS] = { N, M };
    for (int i = 0; i < g.sp; i++)
        od[2 + i] = g.out[3 - g.sp + i];
    int64_t cg = C / group, mg = M / group, kvol = gvol(g.k), ivol = gvol(g.in), ovol = gvol(g.out);
    /* every output value is written once (beta 0) before anything adds to
     * it: no zeroing needed */
    int dw = cg == 1 && mg == 1 && g.sp <= 2;
    if (nni_out_uninit(c, k_out, NNZ_DT_FLOAT, X->ndims, od) != 0)
        return -1;
    float *y = c->out[k_out]->data;
    const float *x = X->data, *w = W->data;
    const float *res = c->epi_res ? c->epi_res->data : NULL;
    if (res && c->epi_res->count != c->out[k_out]->count)
        return nni_fail(c, "the fused residual has %zu values for %zu", c->epi_res->count,
                        c->out[k_out]->count);
    int64_t kdim = cg * kvol;
    if (!ovol || !N || !M)
        return 0;
    if (dw) {
        /* one zero-padded channel, reused by every channel */
        int64_t PH, PW;
        size_t padb = (size_t)dw_pad_size(&g, &PH, &PW) * 4;
        float *pad = NULL;
        if (padb) {
            if (nni_account(c->inf, padb, c->e) != 0)
                return -1;
            pad = calloc(padb / 4, 4);
            if (!pad) {
                c->inf->live -= padb;
                return nnz_fail(c->e, NNZ_EXIT_INTERNAL, "out of memory");
            }
        }
        for (int64_t n = 0; n < N; n++)
            for (int64_t ch = 0; ch < M; ch++) {
                size_t off = (size_t)((n * M + ch) * ovol);
                dw_conv(x + (n * C + ch) * ivol, w + ch * kvol, bias ? bias[ch] : 0, &g, y + off,
                        pad);
                post_block(c, y + off, res ? res + off : NULL, NULL, 1, ovol, 0, ovol);
            }
        free(pad);
        c->inf->live -= padb;
        return 0;
    }
    int direct = kvol == 1 && g.st[0] == 1 && g.st[1] == 1 && g.st[2] == 1 && !g.pb[0] &&
                 !g.pb[1] && !g.pb[2] && !g.pe[0] && !g.pe[1] && !g.pe[2];
    if (N > 1 && ovol <= 1024 && g.sp <= 2 && (uint64_t)kdim * (uint64_t)(N * ovol) * 4 <= COL_BYTES &&
        (uint64_t)mg * (uint64_t)(N * ovol) * 4 <= COL_BYTES)
        return conv_batched(c, X, W, bias, k_out, &g, direct);
    int64_t block = ovol;
    float *col = NULL;
    size_t colbytes = 0;
    if (!direct) {
        block = (int64_t)(COL_BYTES / 4) / (kdim ? kdim : 1);
        if (block < 64) block = 64;
        if (g.sp <= 2 && block < g.out[2]) block = g.out[2];
        if (block > ovol) block = ovol;
        colbytes = (size_t)(kdim * block) * 4;
        if (nni_account(c->inf, colbytes, c->e) != 0)
            return -1;
        col = malloc(colbytes ? colbytes : 1);
        if (!col) {
            c->inf->live -= colbytes;
            return nnz_fail(c->e, NNZ_EXIT_INTERNAL, "out of memory");
        }
    }
    /* each block of the output starts as the bias (plus a fused chain's
     * residual), the products add in (beta 1), then the activation, all
     * while the block is in cache */
    for (int64_t n = 0; n < N; n++)
        for (int64_t gi = 0; gi < group; gi++) {
            const float *xg = x + (n * C + gi * cg) * ivol;
            const float *wg = w + gi * mg * kdim;
            size_t goff = (size_t)((n * M + gi * mg) * ovol);
            float *yg = y + goff;
            const float *rg = res ? res + goff : NULL, *bg = bias ? bias + gi * mg : NULL;
            if (direct) {
                /* columns in blocks of about 128 KiB of output */
                int64_t nb = ((int64_t)32768 / (mg ? mg : 1)) & ~(int64_t)15;
                if (nb < 256) nb = 256;
                for (int64_t j0 = 0; j0 < ovol; j0 += nb) {
                    int64_t nc = ovol - j0 < nb ? ovol - j0 : nb;
                    float beta = pre_block(yg, rg, bg, mg, ovol, j0, nc);
                    nni_sgemm(0, 0, (int)mg, (int)nc, (int)kdim, 1.0f, wg, (int)kdim, xg + j0,
                              (int)ovol, beta, yg + j0, (int)ovol);
                    post_block(c, yg, NULL, NULL, mg, ovol, j0, nc);
                }
                continue;
            }
            if (g.sp <= 2) {
                int64_t rows = block / g.out[2] ? block / g.out[2] : 1;
                for (int64_t oh0 = 0; oh0 < g.out[1]; oh0 += rows) {
                    int64_t oh1 = oh0 + rows < g.out[1] ? oh0 + rows : g.out[1];
                    int64_t nc = (oh1 - oh0) * g.out[2];
                    im2col_rows(xg, cg, &g, oh0, oh1, col, nc);
                    float beta = pre_block(yg, rg, bg, mg, ovol, oh0 * g.out[2], nc);
                    nni_sgemm(0, 0, (int)mg, (int)nc, (int)kdim, 1.0f, wg, (int)kdim, col, (int)nc,
                              beta, yg + oh0 * g.out[2], (int)ovol);
                    post_block(c, yg, NULL, NULL, mg, ovol, oh0 * g.out[2], nc);
                }
                continue;
            }
            for (int64_t j0 = 0; j0 < ovol; j0 += block) {
                int64_t nc = ovol - j0 < block ? ovol - j0 : block;
                im2col(xg, cg, &g, j0, nc, col);
                float beta = pre_block(yg, rg, bg, mg, ovol, j0, nc);
                nni_sgemm(0, 0, (int)mg, (int)nc, (int)kdim, 1.0f, wg, (int)kdim, col, (int)nc,
                          beta, yg + j0, (int)ovol);
                post_block(c, yg, NULL, NULL, mg, ovol, j0, nc);
            }
        }
    free(col);
    c->inf->live -= colbytes;
    return 0;
}

static int op_conv(nni_call *c)
{
    if (nni_need_float(c, 0) != 0 || nni_need_float(c, 1) != 0)
        return -1;
    const nnz_itensor *B = c->nin > 2 ? c->in[2] : NULL;
    if (B && (!nni_is_float(B->dtype) || B->count != (size_t)c->in[1]->dims[0]))
        return nni_fail(c, "bias has %zu values for %lld output channels", B->count,
                        (long long)c->in[1]->dims[0]);
    if (c->in[0]->ndims < 3)
        return nni_fail(c, "input has rank %d; Conv needs 3 or more", c->in[0]->ndims);
    return nni_conv_float(c, c->in[0], c->in[1], B ? B->data : NULL, 0);
}

static int op_conv_transpose(nni_call *c)
{
    if (nni_need_float(c, 0) != 0 || nni_need_float(c, 1) != 0)
        return -1;
    const nnz_itensor *X = c->in[0], *W = c->in[1], *B = c->nin > 2 ? c->in[2] : NULL;
    int sp = X->ndims - 2;
    if (sp < 1 || sp > 3 || W->ndims != X->ndims)
        return nni_unsupported(c, "input rank %d with weights of rank %d", X->ndims, W->ndims);
    int64_t group = nni_attr_i(c, "group", 1), N = X->dims[0], C = X->dims[1];
    if (group < 1 || C % group || W->dims[0] != C)
        return nni_fail(c, "group %lld does not fit %lld input channels and weights [%lld, ...]",
                        (long long)group, (long long)C, (long long)W->dims[0]);
    int64_t mg = W->dims[1], M = mg * group, cg = C / group;
    if (B && B->count != (size_t)M)
        return nni_fail(c, "bias has %zu values for %lld output channels", B->count, (long long)M);
    geom g;
    int o = 3 - sp;
    for (int i = 0; i < 3; i++) {
        g.in[i] = g.out[i] = g.k[i] = g.st[i] = g.dil[i] = 1;
        g.pb[i] = g.pe[i] = 0;
    }
    g.sp = sp;
    size_t n;
    const int64_t *v;
    int64_t opad[3] = { 0, 0, 0 };
    for (int i = 0; i < sp; i++) {
        g.in[o + i] = X->dims[2 + i];
        g.k[o + i] = W->dims[2 + i];
    }
    if ((v = nni_attr_ints(c, "strides", &n)) && n == (size_t)sp)
        for (int i = 0; i < sp; i++) g.st[o + i] = v[i];
    if ((v = nni_attr_ints(c, "dilations", &n)) && n == (size_t)sp)
        for (int i = 0; i < sp; i++) g.dil[o + i] = v[i];
    if ((v = nni_attr_ints(c, "output_padding", &n)) && n == (size_t)sp)
        for (int i = 0; i < sp; i++) opad[o + i] = v[i];
    for (int i = o; i < 3; i++)
        if (g.st[i] < 1 || g.dil[i] < 1 || opad[i] < 0)
            return nni_fail(c, "strides, dilations and output_padding must be positive");
    const char *ap = nni_attr_s(c, "auto_pad", "NOTSET");
    const int64_t *os = nni_attr_ints(c, "output_shape", &n);
    if (os && n != (size_t)sp && n != (size_t)sp + 2)
        return nni_fail(c, "output_shape has %zu values", n);
    if (os && n == (size_t)sp + 2)
        os += 2;
    if ((v = nni_attr_ints(c, "pads", &n)) && !os && strcmp(ap, "NOTSET") == 0) {
        if (n != 2 * (size_t)sp)
            return nni_fail(c, "pads has %zu values", n);
        for (int i = 0; i < sp; i++) {
            g.pb[o + i] = v[i];
            g.pe[o + i] = v[i + sp];
        }
    }
    for (int i = o; i < 3; i++) {
        int64_t full = g.st[i] * (g.in[i] - 1) + opad[i] + (g.k[i] - 1) * g.dil[i] + 1;
        if (os || ap[0] == 'S') {
            int64_t want = os ? os[i - o] : g.in[i] * g.st[i];
            int64_t tot = full - want;
            if (tot < 0) tot = 0;
            if (strcmp(ap, "SAME_LOWER") == 0) {
                g.pb[i] = tot - tot / 2;
                g.pe[i] = tot / 2;
            } else {
                g.pb[i] = tot / 2;
                g.pe[i] = tot - tot / 2;
            }
            g.out[i] = want;
        } else
            g.out[i] = full - g.pb[i] - g.pe[i];
        if (g.out[i] < 0 || g.pb[i] < 0 || g.pe[i] < 0)
            return nni_fail(c, "the output size would be %lld", (long long)g.out[i]);
    }
    int64_t od[NNZ_MAX_DIMS] = { N, M };
    for (int i = 0; i < sp; i++)
        od[2 + i] = g.out[o + i];
    if (nni_out(c, 0, NNZ_DT_FLOAT, X->ndims, od) != 0)
        return -1;
    float *y = c->out[0]->data;
    const float *x = X->data, *w = W->data;
    int64_t kvol = gvol(g.k), ivol = gvol(g.in), ovol = gvol(g.out), rows = mg * kvol;
    size_t colbytes = (size_t)(rows * ivol) * 4;
    if (nni_account(c->inf, colbytes, c->e) != 0)
        return -1;
    float *col = malloc(colbytes ? colbytes : 1);
    if (!col) {
        c->inf->live -= colbytes;
        return nnz_fail(c->e, NNZ_EXIT_INTERNAL, "out of memory");
    }
    for (int64_t b = 0; b < N; b++)
        for (int64_t gi = 0; gi < group; gi++) {
            /* col[mg*kvol, ivol] = W_g^T [mg*kvol, cg] * X_g [cg, ivol] */
            nni_sgemm(1, 0, (int)rows, (int)ivol, (int)cg, 1.0f, w + gi * cg * rows, (int)rows,
                      x + (b * C + gi * cg) * ivol, (int)ivol, 0.0f, col, (int)ivol);
            float *yg = y + (b * M + gi * mg) * ovol;
            /* col2im: each (m, tap) row of col adds into the output */
            for (int64_t m = 0; m < mg; m++)
                for (int64_t kk = 0; kk < kvol; kk++) {
                    int64_t kw = kk % g.k[2], kh = (kk / g.k[2]) % g.k[1], kd = kk / (g.k[2] * g.k[1]);
                    const float *cr = col + (m * kvol + kk) * ivol;
                    float *ym = yg + m * ovol;
                    int64_t iw0, iw1, offw = kw * g.dil[2] - g.pb[2];
                    /* input positions iw whose output iw*st + offw is in [0, out) */
                    iw0 = offw >= 0 ? 0 : (-offw + g.st[2] - 1) / g.st[2];
                    iw1 = g.out[2] - 1 - offw < 0 ? 0 : (g.out[2] - 1 - offw) / g.st[2] + 1;
                    if (iw1 > g.in[2]) iw1 = g.in[2];
                    for (int64_t id = 0; id < g.in[0]; id++) {
                        int64_t zd = id * g.st[0] - g.pb[0] + kd * g.dil[0];
                        if (zd < 0 || zd >= g.out[0])
                            continue;
                        for (int64_t ih = 0; ih < g.in[1]; ih++) {
                            int64_t zh = ih * g.st[1] - g.pb[1] + kh * g.dil[1];
                            if (zh < 0 || zh >= g.out[1])
                                continue;
                            const float *cw = cr + (id * g.in[1] + ih) * g.in[2];
                            float *yr = ym + (zd * g.out[1] + zh) * g.out[2] + offw;
                            for (int64_t iw = iw0; iw < iw1; iw++)
                                yr[iw * g.st[2]] += cw[iw];
                        }
                    }
                }
        }
    free(col);
    c->inf->live -= colbytes;
    if (B)
        for (int64_t b = 0; b < N; b++)
            for (int64_t m = 0; m < M; m++) {
                float *yr = y + (b * M + m) * ovol, bv = ((const float *)B->data)[m];
                for (int64_t j = 0; j < ovol; j++)
                    yr[j] += bv;
            }
    return 0;
}

/* ---- pools ---------------------------------------------------------------------- */

/* 2x2 max pool at stride 2 with every window inside the input: the
 * general loop's order of taps (first, then larger ones), unrolled. */
NNI_HOT static void maxpool2x2(const float *x, float *y, int64_t planes, const geom *g)
{
    int64_t OH = g->out[1], OW = g->out[2], IH = g->in[1], IW = g->in[2];
    for (int64_t p = 0; p < planes; p++)
        for (int64_t oh = 0; oh < OH; oh++) {
            const float *r0 = x + (p * IH + 2 * oh) * IW, *r1 = r0 + IW;
            float *yr = y + (p * OH + oh) * OW;
            for (int64_t ow = 0; ow < OW; ow++) {
                float m = r0[2 * ow], v;
                v = r0[2 * ow + 1];
                m = v > m ? v : m;
                v = r1[2 * ow];
                m = v > m ? v : m;
                v = r1[2 * ow + 1];
                yr[ow] = v > m ? v : m;
            }
        }
}

static int pool(nni_call *c, int is_max, int global)
{
    if (nni_need_float(c, 0) != 0)
        return -1;
    const nnz_itensor *X = c->in[0];
    if (X->ndims < 3)
        return nni_fail(c, "input has rank %d; pools need 3 or more", X->ndims);
    int sp = X->ndims - 2;
    int64_t kernel[3];
    geom g;
    if (global) {
        for (int i = 0; i < sp; i++)
            kernel[i] = X->dims[2 + i];
        if (sp > 3) return nni_unsupported(c, "%d spatial dims", sp);
        /* a global pool is a pool over the whole input */
        for (int i = 0; i < 3; i++) {
            g.in[i] = g.out[i] = g.k[i] = g.st[i] = g.dil[i] = 1;
            g.pb[i] = g.pe[i] = 0;
        }
        g.sp = sp;
        for (int i = 0; i < sp; i++) {
            g.in[3 - sp + i] = g.k[3 - sp + i] = kernel[i];
            if (!kernel[i]) return nni_fail(c, "an empty spatial dim");
        }
    } else {
        size_t nk;
        const int64_t *ks = nni_attr_ints(c, "kernel_shape", &nk);
        if (!ks || nk != (size_t)sp)
            return nni_fail(c, "kernel_shape has %zu values for %d spatial dims", nk, sp);
        for (int i = 0; i < sp; i++)
            kernel[i] = ks[i];
        if (geom_init(c, &g, X, kernel, 1) != 0)
            return -1;
        if (nni_attr_i(c, "storage_order", 0) != 0 && c->nout > 1)
            return nni_unsupported(c, "storage_order 1");
    }
    int64_t od[NNZ_MAX_DIMS] = { X->dims[0], X->dims[1] };
    for (int i = 0; i < sp; i++)
        od[2 + i] = g.out[3 - sp + i];
    c->plan_defer = 1;
    if (nni_out(c, 0, X->dtype, X->ndims, od) != 0)
        return -1;
    int64_t *ind = NULL;
    if (c->nout > 1 && c->out[1] && is_max) {
        if (nni_out(c, 1, NNZ_DT_INT64, X->ndims, od) != 0)
            return -1;
        ind = c->out[1]->data;
    }
    if (nni_plan_done(c))
        return -1;
    int cip = (int)nni_attr_i(c, "count_include_pad", 0);
    if (is_max && !ind && g.sp == 2 && g.k[1] == 2 && g.k[2] == 2 && g.st[1] == 2 && g.st[2] == 2 &&
        g.dil[1] == 1 && g.dil[2] == 1 && !g.pb[1] && !g.pb[2] && 2 * g.out[1] <= g.in[1] &&
        2 * g.out[2] <= g.in[2]) {
        maxpool2x2(X->data, c->out[0]->data, X->dims[0] * X->dims[1], &g);
        return 0;
    }
    int64_t planes = X->dims[0] * X->dims[1], ivol = gvol(g.in), ovol = gvol(g.out);
    const float *x = X->data;
    float *y = c->out[0]->data;
    /* per axis and output position: the taps inside the input [lo, hi),
     * and how many lie inside the padded input (count_include_pad) */
    int64_t *tap = malloc(sizeof(int64_t) * 3 * (size_t)(g.out[0] + g.out[1] + g.out[2]));
    if (!tap)
        return nnz_fail(c->e, NNZ_EXIT_INTERNAL, "out of memory");
    int64_t *tp[3] = { tap, tap + 3 * g.out[0], tap + 3 * (g.out[0] + g.out[1]) };
    for (int a = 0; a < 3; a++)
        for (int64_t o = 0; o < g.out[a]; o++) {
            int64_t lo = 0, hi = 0, pc = 0;
            for (int64_t k = 0; k < g.k[a]; k++) {
                int64_t i = o * g.st[a] - g.pb[a] + k * g.dil[a];
                if (i >= 0 && i < g.in[a]) {
                    if (hi == lo)
                        lo = k;
                    hi = k + 1;
                }
                pc += i < g.in[a] + g.pe[a];
            }
            tp[a][3 * o] = lo;
            tp[a][3 * o + 1] = hi;
            tp[a][3 * o + 2] = pc;
        }
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = x + p * ivol;
        for (int64_t od0 = 0; od0 < g.out[0]; od0++)
            for (int64_t oh = 0; oh < g.out[1]; oh++)
                for (int64_t ow = 0; ow < g.out[2]; ow++) {
                    const int64_t *td = tp[0] + 3 * od0, *th = tp[1] + 3 * oh, *tw = tp[2] + 3 * ow;
                    float acc = is_max ? -INFINITY : 0;
                    int64_t cnt = 0, arg = 0;
                    for (int64_t kd = td[0]; kd < td[1]; kd++) {
                        int64_t id = od0 * g.st[0] - g.pb[0] + kd * g.dil[0];
                        for (int64_t kh = th[0]; kh < th[1]; kh++) {
                            int64_t ih = oh * g.st[1] - g.pb[1] + kh * g.dil[1];
                            const float *xr = xp + (id * g.in[1] + ih) * g.in[2] + ow * g.st[2] - g.pb[2];
                            for (int64_t kw = tw[0]; kw < tw[1]; kw++) {
                                float v = xr[kw * g.dil[2]];
                                if (is_max) {
                                    if (v > acc || cnt == 0) {
                                        acc = v;
                                        arg = (id * g.in[1] + ih) * g.in[2] + ow * g.st[2] - g.pb[2] + kw * g.dil[2];
                                    }
                                } else
                                    acc += v;
                                cnt++;
                            }
                        }
                    }
                    int64_t oi = p * ovol + (od0 * g.out[1] + oh) * g.out[2] + ow;
                    if (is_max) {
                        y[oi] = acc;
                        if (ind)
                            ind[oi] = p * ivol + arg;
                    } else
                        y[oi] = acc / (float)(cip ? td[2] * th[2] * tw[2] : cnt ? cnt : 1);
                }
    }
    free(tap);
    return 0;
}

static int op_maxpool(nni_call *c) { return pool(c, 1, 0); }
static int op_avgpool(nni_call *c) { return pool(c, 0, 0); }
static int op_gmaxpool(nni_call *c) { return pool(c, 1, 1); }
static int op_gavgpool(nni_call *c) { return pool(c, 0, 1); }

/* ---- BatchNormalization ---------------------------------------------------------- */

static int op_batchnorm(nni_call *c)
{
    for (int k = 0; k < 5; k++)
        if (nni_need_float(c, k) != 0)
            return -1;
    if (nni_attr_i(c, "training_mode", 0) != 0)
        return nni_unsupported(c, "training_mode 1");
    for (int k = 1; k < c->nout; k++)
        if (c->p->output[k] && *c->p->output[k])
            return nni_unsupported(c, "the training outputs (mean, var, saved statistics)");
    const nnz_itensor *X = c->in[0];
    if (X->ndims < 2)
        return nni_fail(c, "input has rank %d", X->ndims);
    int64_t C = X->dims[1];
    for (int k = 1; k < 5; k++)
        if (c->in[k]->count != (size_t)C)
            return nni_fail(c, "input %d has %zu values for %lld channels", k, c->in[k]->count,
                            (long long)C);
    float eps = nni_attr_f(c, "epsilon", 1e-5f);
    if (nni_out(c, 0, X->dtype, X->ndims, X->dims) != 0)
        return -1;
    const float *s = c->in[1]->data, *b = c->in[2]->data, *mu = c->in[3]->data,
                *var = c->in[4]->data, *x = X->data;
    float *y = c->out[0]->data;
    size_t inner = 1;
    for (int i = 2; i < X->ndims; i++)
        inner *= (size_t)X->dims[i];
    size_t N = (size_t)X->dims[0];
    for (size_t n = 0; n < N; n++)
        for (int64_t ch = 0; ch < C; ch++) {
            float a = s[ch] / sqrtf(var[ch] + eps), bb = b[ch] - mu[ch] * a;
            const float *xr = x + (n * (size_t)C + (size_t)ch) * inner;
            float *yr = y + (n * (size_t)C + (size_t)ch) * inner;
            for (size_t j = 0; j < inner; j++)
                yr[j] = xr[j] * a + bb;
        }
    return 0;
}

/* ---- Gemm, MatMul ---------------------------------------------------------------- */

static int op_gemm(nni_call *c)
{
    if (nni_need_float(c, 0) != 0 || nni_need_float(c, 1) != 0)
        return -1;
    const nnz_itensor *A = c->in[0], *B = c->in[1], *C = c->nin > 2 ? c->in[2] : NULL;
    int ta = (int)nni_attr_i(c, "transA", 0), tb = (int)nni_attr_i(c, "transB", 0);
    float alpha = nni_attr_f(c, "alpha", 1.0f), beta = nni_attr_f(c, "beta", 1.0f);
    if (A->ndims != 2 || B->ndims != 2)
        return nni_fail(c, "A and B must be matrices (ranks %d and %d)", A->ndims, B->ndims);
    int64_t M = ta ? A->dims[1] : A->dims[0], K = ta ? A->dims[0] : A->dims[1];
    int64_t K2 = tb ? B->dims[1] : B->dims[0], N = tb ? B->dims[0] : B->dims[1];
    if (K != K2)
        return nni_fail(c, "A is %lldx%lld, B %lldx%lld after transposes: inner dims differ",
                        (long long)M, (long long)K, (long long)K2, (long long)N);
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX)
        return nni_unsupported(c, "dims past 2^31");
    int64_t od[2] = { M, N };
    if (nni_out(c, 0, A->dtype, 2, od) != 0)
        return -1;
    nnz_itensor *Y = c->out[0];
    float b0 = 0;
    if (C && beta != 0) {
        if (!nni_is_float(C->dtype))
            return nni_fail(c, "C is %s", nnz_dtype_name(C->dtype));
        int nd;
        int64_t bd[NNZ_MAX_DIMS];
        if (nni_bcast_shape(c, Y, C, &nd, bd) != 0 || nd != 2 || bd[0] != M || bd[1] != N)
            return nni_fail(c, "C does not broadcast to %lldx%lld", (long long)M, (long long)N);
        nni_bcast_copy(C, Y);
        b0 = beta;
    }
    nni_sgemm(ta, tb, (int)M, (int)N, (int)K, alpha, A->data, (int)A->dims[1], B->data,
              (int)B->dims[1], b0, Y->data, (int)N);
    return 0;
}

int nni_matmul_shape(nni_call *c, const nnz_itensor *A, const nnz_itensor *B, int *nd,
                     int64_t *od, int64_t *M, int64_t *K, int64_t *N)
{
    if (A->ndims < 1 || B->ndims < 1)
        return nni_fail(c, "MatMul of a scalar");
    int ra = A->ndims, rb = B->ndims;
    *M = ra >= 2 ? A->dims[ra - 2] : 1;
    *K = A->dims[ra - 1];
    int64_t kb = rb >= 2 ? B->dims[rb - 2] : B->dims[0];
    *N = rb >= 2 ? B->dims[rb - 1] : 1;
    if (*K != kb)
        return nni_fail(c, "inner dims differ: %lld and %lld", (long long)*K, (long long)kb);
    nnz_itensor ba = { .ndims = ra > 2 ? ra - 2 : 0 }, bb = { .ndims = rb > 2 ? rb - 2 : 0 };
    memcpy(ba.dims, A->dims, sizeof(int64_t) * (size_t)ba.ndims);
    memcpy(bb.dims, B->dims, sizeof(int64_t) * (size_t)bb.ndims);
    int bn;
    if (nni_bcast_shape(c, &ba, &bb, &bn, od) != 0)
        return -1;
    *nd = bn;
    if (ra >= 2) od[(*nd)++] = *M;
    if (rb >= 2) od[(*nd)++] = *N;
    if (*M > INT32_MAX || *N > INT32_MAX || *K > INT32_MAX)
        return nni_unsupported(c, "dims past 2^31");
    return 0;
}

/* Batch offsets of A and B for batch index bi of the broadcast batch shape. */
void nni_matmul_offsets(const nnz_itensor *A, const nnz_itensor *B, int bnd, const int64_t *bd,
                        int64_t bi, int64_t *oa, int64_t *ob)
{
    int ra = A->ndims > 2 ? A->ndims - 2 : 0, rb = B->ndims > 2 ? B->ndims - 2 : 0;
    int64_t sa = 1, sb = 1;
    *oa = *ob = 0;
    for (int i = bnd - 1; i >= 0; i--) {
        int64_t idx = bi % bd[i];
        bi /= bd[i];
        int ia = i - (bnd - ra), ib = i - (bnd - rb);
        if (ia >= 0) {
            if (A->dims[ia] != 1) *oa += idx * sa;
            sa *= A->dims[ia];
        }
        if (ib >= 0) {
            if (B->dims[ib] != 1) *ob += idx * sb;
            sb *= B->dims[ib];
        }
    }
}

static int op_matmul(nni_call *c)
{
    if (nni_need_float(c, 0) != 0 || nni_need_float(c, 1) != 0)
        return -1;
    const nnz_itensor *A = c->in[0], *B = c->in[1];
    int nd;
    int64_t od[NNZ_MAX_DIMS], M, K, N;
    if (nni_matmul_shape(c, A, B, &nd, od, &M, &K, &N) != 0)
        return -1;
    if (nni_out(c, 0, A->dtype, nd, od) != 0)
        return -1;
    float *y = c->out[0]->data;
    const float *a = A->data, *b = B->data;
    if (B->ndims <= 2) {
        /* every batch of A against one B: one product */
        int64_t rows = (int64_t)(A->count / (size_t)(K ? K : 1));
        if (!K) rows = (int64_t)(c->out[0]->count / (size_t)(N ? N : 1));
        nni_sgemm(0, 0, (int)rows, (int)N, (int)K, 1.0f, a, (int)K, b, (int)N, 0.0f, y, (int)N);
        return 0;
    }
    int bnd = nd - (A->ndims >= 2) - (B->ndims >= 2);
    int64_t batches = 1;
    for (int i = 0; i < bnd; i++)
        batches *= od[i];
    for (int64_t bi = 0; bi < batches; bi++) {
        int64_t oa, ob;
        nni_matmul_offsets(A, B, bnd, od, bi, &oa, &ob);
        nni_sgemm(0, 0, (int)M, (int)N, (int)K, 1.0f, a + oa * M * K, (int)K, b + ob * K * N,
                  (int)N, 0.0f, y + bi * M * N, (int)N);
    }
    return 0;
}

/* ---- Resize / Upsample --------------------------------------------------------------- */

enum { CT_HALF, CT_PYHALF, CT_ALIGN, CT_ASYM, CT_TFNN, CT_HALFSYM };
enum { NM_RPF, NM_RPC, NM_FLOOR, NM_CEIL };
enum { RM_NEAREST, RM_LINEAR, RM_CUBIC };

/* One axis's taps: for each output index, up to 4 (input index, weight). */
static int resize_axis(nni_call *c, const nnz_itensor *x, nnz_itensor *y, int axis, int64_t out,
                       double scale, double rlen, int mode, int ct, int nm, float a, int excl)
{
    int64_t in = x->dims[axis], d[NNZ_MAX_DIMS];
    memcpy(d, x->dims, sizeof d);
    d[axis] = out;
    y->ndims = x->ndims;
    if (nni_out_uninit(c, 0, x->dtype, x->ndims, d) != 0) /* every value written below */
        return -1;
    size_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++) outer *= (size_t)x->dims[i];
    for (int i = axis + 1; i < x->ndims; i++) inner *= (size_t)x->dims[i];
    const float *xs = x->data;
    float *ys = c->out[0]->data;
    /* each output index's taps first, then the data in long loops */
    int64_t *tidx = malloc((size_t)(out ? out : 1) * 4 * sizeof *tidx);
    float *tw = malloc((size_t)(out ? out : 1) * 4 * sizeof *tw);
    if (!tidx || !tw) {
        free(tidx);
        free(tw);
        return nnz_fail(c->e, NNZ_EXIT_INTERNAL, "out of memory");
    }
    int nt = mode == RM_NEAREST ? 1 : mode == RM_LINEAR ? 2 : 4;
    for (int64_t j = 0; j < out; j++) {
        double xo;
        switch (ct) {
        case CT_HALF: xo = (j + 0.5) / scale - 0.5; break;
        case CT_PYHALF: xo = rlen > 1 ? (j + 0.5) / scale - 0.5 : 0; break;
        /* the resized length before flooring, as ONNX defines it */
        case CT_ALIGN: xo = rlen == 1 ? 0 : (double)j * (double)(in - 1) / (rlen - 1); break;
        case CT_TFNN: xo = (j + 0.5) / scale; break;
        case CT_HALFSYM: {
            double adj = (double)out / rlen, ctr = (double)in / 2;
            xo = ctr * (1 - adj) + (j + 0.5) / scale - 0.5;
            break;
        }
        default: xo = j / scale; break;
        }
        int64_t *idx = tidx + 4 * j;
        float *w = tw + 4 * j;
        if (mode == RM_NEAREST) {
            double r;
            switch (nm) {
            case NM_RPF: r = (xo - floor(xo) == 0.5) ? floor(xo) : round(xo); break;
            case NM_RPC: r = (xo - floor(xo) == 0.5) ? ceil(xo) : round(xo); break;
            case NM_FLOOR: r = floor(xo); break;
            default: r = ceil(xo); break;
            }
            int64_t k = (int64_t)r;
            idx[0] = k < 0 ? 0 : k >= in ? in - 1 : k;
            w[0] = 1;
        } else if (mode == RM_LINEAR) {
            if (xo < 0) xo = 0;
            if (xo > in - 1) xo = (double)(in - 1);
            int64_t k = (int64_t)floor(xo);
            double t = xo - (double)k;
            idx[0] = k;
            idx[1] = k + 1 < in ? k + 1 : in - 1;
            w[0] = (float)(1 - t);
            w[1] = (float)t;
        } else {
            int64_t k = (int64_t)floor(xo);
            double t = xo - (double)k, s = 0;
            double cw[4], tt[4] = { t + 1, t, 1 - t, 2 - t };
            for (int q = 0; q < 4; q++) {
                double u = tt[q];
                cw[q] = q == 0 || q == 3 ? ((a * u - 5 * a) * u + 8 * a) * u - 4 * a
                                         : ((a + 2) * u - (a + 3)) * u * u + 1;
                int64_t p = k - 1 + q;
                if (excl && (p < 0 || p >= in))
                    cw[q] = 0;
                s += cw[q];
                idx[q] = p < 0 ? 0 : p >= in ? in - 1 : p;
            }
            for (int q = 0; q < 4; q++)
                w[q] = (float)(excl && s != 0 ? cw[q] / s : cw[q]);
        }
    }
    for (size_t o = 0; o < outer; o++) {
        const float *xo = xs + o * (size_t)in * inner;
        float *yo = ys + o * (size_t)out * inner;
        if (mode == RM_NEAREST && inner == 1) {
            /* the innermost axis: a gather */
            for (int64_t j = 0; j < out; j++)
                yo[j] = xo[tidx[4 * j]];
            continue;
        }
        for (int64_t j = 0; j < out; j++) {
            const int64_t *idx = tidx + 4 * j;
            const float *w = tw + 4 * j;
            float *yr = yo + (size_t)j * inner;
            if (mode == RM_NEAREST) {
                memcpy(yr, xo + (size_t)idx[0] * inner, inner * sizeof *yr);
                continue;
            }
            for (size_t i = 0; i < inner; i++) {
                float acc = 0;
                for (int q = 0; q < nt; q++)
                    acc += w[q] * xo[(size_t)idx[q] * inner + i];
                yr[i] = acc;
            }
        }
    }
    free(tidx);
    free(tw);
    return 0;
}

static int resize_common(nni_call *c, const nnz_itensor *X, const double *scales,
                         const int64_t *sizes, int sized, int mode, int ct, int nm, float a, int excl)
{
    /* axes that change, one after another (multilinear and bicubic are
     * separable); intermediate tensors are accounted like outputs */
    nnz_itensor cur = *X, tmp = { 0 };
    int changed = 0;
    nnz_itensor *saved = c->out[0];
    for (int ax = 0; ax < X->ndims; ax++) {
        if (sizes[ax] == X->dims[ax] && scales[ax] == 1.0)
            continue;
        nnz_itensor next = { 0 };
        c->out[0] = &next;
        double rlen = sized ? (double)sizes[ax] : (double)X->dims[ax] * scales[ax];
        int rc = resize_axis(c, &cur, &next, ax, sizes[ax], scales[ax], rlen, mode, ct, nm, a, excl);
        c->out[0] = saved;
        if (rc != 0 && c->plan_stop && !c->e->code)
            rc = c->plan_stop = 0; /* the shape plan: on to the next axis's shape */
        if (changed)
            nni_release(c->inf, &tmp);
        if (rc != 0) {
            nni_release(c->inf, &next);
            return -1;
        }
        tmp = next;
        cur = tmp;
        changed = 1;
    }
    if (!changed)
        return nni_out_copy(c, 0, X, X->ndims, X->dims);
    nni_release(c->inf, saved);
    *saved = tmp;
    if (nni_is_sentinel(tmp.data)) {
        c->plan_stop = 1; /* shapes only */
        return -1;
    }
    return 0;
}

static int op_resize(nni_call *c)
{
    if (nni_need_float(c, 0) != 0)
        return -1;
    const nnz_itensor *X = c->in[0];
    int r = X->ndims;
    double scales[NNZ_MAX_DIMS];
    int64_t sizes[NNZ_MAX_DIMS];
    const char *ms = nni_attr_s(c, "mode", "nearest");
    int mode = strcmp(ms, "nearest") == 0 ? RM_NEAREST : strcmp(ms, "linear") == 0 ? RM_LINEAR
             : strcmp(ms, "cubic") == 0 ? RM_CUBIC : -1;
    if (mode < 0)
        return nni_unsupported(c, "mode '%s' (nearest, linear, cubic are)", ms);
    int ct = CT_ASYM, nm = NM_RPF;
    if (c->opset >= 11) {
        const char *cts = nni_attr_s(c, "coordinate_transformation_mode", "half_pixel");
        ct = strcmp(cts, "half_pixel") == 0 ? CT_HALF : strcmp(cts, "pytorch_half_pixel") == 0 ? CT_PYHALF
           : strcmp(cts, "align_corners") == 0 ? CT_ALIGN : strcmp(cts, "asymmetric") == 0 ? CT_ASYM
           : strcmp(cts, "tf_half_pixel_for_nn") == 0 ? CT_TFNN
           : strcmp(cts, "half_pixel_symmetric") == 0 ? CT_HALFSYM : -1;
        if (ct < 0)
            return nni_unsupported(c, "coordinate_transformation_mode '%s'", cts);
        const char *nms = nni_attr_s(c, "nearest_mode", "round_prefer_floor");
        nm = strcmp(nms, "round_prefer_floor") == 0 ? NM_RPF : strcmp(nms, "round_prefer_ceil") == 0 ? NM_RPC
           : strcmp(nms, "floor") == 0 ? NM_FLOOR : strcmp(nms, "ceil") == 0 ? NM_CEIL : -1;
        if (nm < 0)
            return nni_fail(c, "nearest_mode '%s'", nms);
    } else
        nm = NM_FLOOR; /* opset 10: asymmetric, nearest rounds down */
    if (nni_attr_i(c, "antialias", 0))
        return nni_unsupported(c, "antialias 1");
    if (strcmp(nni_attr_s(c, "keep_aspect_ratio_policy", "stretch"), "stretch") != 0)
        return nni_unsupported(c, "keep_aspect_ratio_policy other than stretch");
    size_t nax;
    const int64_t *axes = nni_attr_ints(c, "axes", &nax);
    int axis_of[NNZ_MAX_DIMS];
    size_t n_ax = axes ? nax : (size_t)r;
    if (n_ax > (size_t)r)
        return nni_fail(c, "%zu axes for rank %d", n_ax, r);
    for (size_t i = 0; i < n_ax; i++)
        if (axes) {
            if (nni_norm_axis(c, axes[i], r, &axis_of[i]) != 0) return -1;
        } else
            axis_of[i] = (int)i;
    for (int i = 0; i < r; i++) {
        scales[i] = 1;
        sizes[i] = X->dims[i];
    }
    const nnz_itensor *S = NULL, *Z = NULL;
    if (c->opset < 11)
        S = c->nin > 1 ? c->in[1] : NULL;
    else {
        S = c->nin > 2 && c->in[2] && c->in[2]->count ? c->in[2] : NULL;
        Z = c->nin > 3 && c->in[3] && c->in[3]->count ? c->in[3] : NULL;
    }
    if (Z) {
        if (Z->count != n_ax || !nni_is_int(Z->dtype))
            return nni_fail(c, "sizes has %zu values for %zu axes", Z->count, n_ax);
        for (size_t i = 0; i < n_ax; i++) {
            int ax = axis_of[i];
            sizes[ax] = nni_get_i64(Z, i);
            if (sizes[ax] < 0)
                return nni_fail(c, "size %lld", (long long)sizes[ax]);
            scales[ax] = X->dims[ax] ? (double)sizes[ax] / (double)X->dims[ax] : 1;
        }
    } else if (S) {
        if (S->count != n_ax || !nni_is_float(S->dtype))
            return nni_fail(c, "scales has %zu values for %zu axes", S->count, n_ax);
        for (size_t i = 0; i < n_ax; i++) {
            int ax = axis_of[i];
            float sc = ((const float *)S->data)[i];
            if (!(sc > 0) || sc > 1e6f)
                return nni_fail(c, "scale %g", (double)sc);
            scales[ax] = sc;
            sizes[ax] = (int64_t)floor((double)X->dims[ax] * (double)sc);
        }
    } else
        return nni_fail(c, "neither scales nor sizes is given");
    if (ct == CT_ALIGN || ct == CT_HALFSYM || ct == CT_PYHALF) {
        /* these modes use the output size ratio when the sizes are given */
    }
    return resize_common(c, X, scales, sizes, Z != NULL, mode, ct, nm, nni_attr_f(c, "cubic_coeff_a", -0.75f),
                         (int)nni_attr_i(c, "exclude_outside", 0));
}

static int op_upsample(nni_call *c)
{
    if (nni_need_float(c, 0) != 0)
        return -1;
    const nnz_itensor *X = c->in[0];
    double scales[NNZ_MAX_DIMS];
    int64_t sizes[NNZ_MAX_DIMS];
    const char *ms = nni_attr_s(c, "mode", "nearest");
    int mode = strcmp(ms, "nearest") == 0 ? RM_NEAREST : strcmp(ms, "linear") == 0 || strcmp(ms, "bilinear") == 0 ? RM_LINEAR : -1;
    if (mode < 0)
        return nni_unsupported(c, "mode '%s' (nearest, linear are)", ms);
    size_t ns = 0;
    const float *sa = nni_attr_floats(c, "scales", &ns);
    if (c->nin > 1 && c->in[1]) {
        if (!nni_is_float(c->in[1]->dtype))
            return nni_fail(c, "scales must be float");
        sa = c->in[1]->data;
        ns = c->in[1]->count;
    }
    if (!sa || ns != (size_t)X->ndims)
        return nni_fail(c, "scales has %zu values for rank %d", ns, X->ndims);
    for (int i = 0; i < X->ndims; i++) {
        if (!(sa[i] >= 1) || sa[i] > 1e6f)
            return nni_fail(c, "scale %g", (double)sa[i]);
        scales[i] = sa[i];
        sizes[i] = (int64_t)floor((double)X->dims[i] * (double)sa[i]);
    }
    return resize_common(c, X, scales, sizes, 0, mode, CT_ASYM, NM_FLOOR, -0.75f, 0);
}

const nni_op nni_ops_conv[] = {
    { "Conv", op_conv, 2, 3, 0 }, { "ConvTranspose", op_conv_transpose, 2, 3, 0 },
    { "MaxPool", op_maxpool, 1, 1, 0 }, { "AveragePool", op_avgpool, 1, 1, 0 },
    { "GlobalMaxPool", op_gmaxpool, 1, 1, 0 }, { "GlobalAveragePool", op_gavgpool, 1, 1, 0 },
    { "BatchNormalization", op_batchnorm, 5, 5, 0 }, { "Gemm", op_gemm, 2, 3, 0 },
    { "MatMul", op_matmul, 2, 2, 0 }, { "Resize", op_resize, 1, 4, NNI_IN(1) | NNI_IN(2) | NNI_IN(3) },
    { "Upsample", op_upsample, 1, 2, NNI_IN(1) },
    { NULL, NULL, 0, 0, 0 },
};
