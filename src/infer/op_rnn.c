/* op_rnn.c - LSTM, GRU and RNN (forward, reverse, bidirectional;
 * sequence_lens, initial states, peepholes, clip, layout). The input
 * projection runs as one sgemm over all time steps, the recurrence as one
 * sgemm a step. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

typedef enum { K_LSTM, K_GRU, K_RNN } rnn_kind;

typedef struct act {
    int f;   /* which function */
    float a, b;
} act;

enum { A_SIGMOID, A_TANH, A_RELU, A_HSIG, A_LRELU, A_AFFINE, A_STANH, A_ELU, A_SOFTSIGN, A_SOFTPLUS, A_THRELU };

static float apply(const act *a, float x)
{
    switch (a->f) {
    case A_SIGMOID: return x >= 0 ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x));
    case A_TANH: return tanhf(x);
    case A_RELU: return x > 0 ? x : 0;
    case A_HSIG: return fmaxf(0, fminf(1, a->a * x + a->b));
    case A_LRELU: return x >= 0 ? x : a->a * x;
    case A_AFFINE: return a->a * x + a->b;
    case A_STANH: return a->a * tanhf(a->b * x);
    case A_ELU: return x >= 0 ? x : a->a * expm1f(x);
    case A_SOFTSIGN: return x / (1 + fabsf(x));
    case A_SOFTPLUS: return log1pf(expf(x));
    default: return x > a->a ? x : 0;
    }
}

static int parse_acts(nni_call *c, rnn_kind kind, int dirs, act *acts, int per)
{
    static const char *const names[] = { "Sigmoid", "Tanh", "Relu", "HardSigmoid", "LeakyRelu",
                                         "Affine", "ScaledTanh", "Elu", "Softsign", "Softplus",
                                         "ThresholdedRelu" };
    const Onnx__AttributeProto *A = nni_attr(c, "activations");
    size_t na, nb;
    const float *al = nni_attr_floats(c, "activation_alpha", &na);
    const float *be = nni_attr_floats(c, "activation_beta", &nb);
    for (int i = 0; i < dirs * per; i++) {
        int dflt = kind == K_RNN ? A_TANH : (i % per == 0 ? A_SIGMOID : A_TANH);
        acts[i].f = dflt;
        acts[i].a = 0.01f;
        acts[i].b = 0;
        if (A && A->n_strings) {
            if (A->n_strings != (size_t)(dirs * per))
                return nni_fail(c, "%zu activations; %d expected", A->n_strings, dirs * per);
            char nm[32];
            size_t l = A->strings[i].len < 31 ? A->strings[i].len : 31;
            memcpy(nm, A->strings[i].data, l);
            nm[l] = 0;
            int f = -1;
            for (int k = 0; k < (int)(sizeof names / sizeof names[0]); k++)
                if (strcmp(nm, names[k]) == 0)
                    f = k;
            if (f < 0)
                return nni_unsupported(c, "activation '%s'", nm);
            acts[i].f = f;
            if (f == A_HSIG) { acts[i].a = 0.2f; acts[i].b = 0.5f; }
            if (f == A_ELU || f == A_STANH || f == A_AFFINE) { acts[i].a = 1.0f; acts[i].b = f == A_STANH ? 1.0f : 0; }
            if (f == A_THRELU) acts[i].a = 1.0f;
        }
    }
    /* alphas and betas go, in order, to the activations that take them */
    size_t ia = 0, ib = 0;
    for (int i = 0; i < dirs * per; i++) {
        int f = acts[i].f;
        int takes_a = f == A_HSIG || f == A_LRELU || f == A_AFFINE || f == A_STANH || f == A_ELU || f == A_THRELU;
        int takes_b = f == A_HSIG || f == A_AFFINE || f == A_STANH;
        if (takes_a && al && ia < na) acts[i].a = al[ia++];
        if (takes_b && be && ib < nb) acts[i].b = be[ib++];
    }
    return 0;
}

static int rnn(nni_call *c, rnn_kind kind)
{
    for (int k = 0; k < 3; k++)
        if (nni_need_float(c, k) != 0)
            return -1;
    const nnz_itensor *X = c->in[0], *W = c->in[1], *R = c->in[2];
    const nnz_itensor *B = c->nin > 3 ? c->in[3] : NULL, *SL = c->nin > 4 ? c->in[4] : NULL;
    const nnz_itensor *H0 = c->nin > 5 ? c->in[5] : NULL;
    const nnz_itensor *C0 = kind == K_LSTM && c->nin > 6 ? c->in[6] : NULL;
    const nnz_itensor *P = kind == K_LSTM && c->nin > 7 ? c->in[7] : NULL;
    int G = kind == K_LSTM ? 4 : kind == K_GRU ? 3 : 1;
    int per = kind == K_LSTM ? 3 : kind == K_GRU ? 2 : 1;
    const char *dir = nni_attr_s(c, "direction", "forward");
    int dirs = strcmp(dir, "bidirectional") == 0 ? 2 : 1;
    int rev = strcmp(dir, "reverse") == 0;
    if (!rev && dirs == 1 && strcmp(dir, "forward") != 0)
        return nni_fail(c, "direction '%s' (forward, reverse, bidirectional)", dir);
    int layout = (int)nni_attr_i(c, "layout", 0);
    if (kind == K_LSTM && nni_attr_i(c, "input_forget", 0))
        return nni_unsupported(c, "input_forget 1");
    float clip = nni_attr_f(c, "clip", 0);
    int lbr = (int)nni_attr_i(c, "linear_before_reset", 0);
    if (X->ndims != 3 || W->ndims != 3 || R->ndims != 3)
        return nni_fail(c, "X, W and R must have rank 3");
    int64_t T = layout ? X->dims[1] : X->dims[0], N = layout ? X->dims[0] : X->dims[1],
            I = X->dims[2], Hn = R->dims[2];
    int64_t hs = nni_attr_i(c, "hidden_size", Hn);
    if (hs != Hn || W->dims[0] != dirs || R->dims[0] != dirs || W->dims[1] != G * Hn ||
        R->dims[1] != G * Hn || W->dims[2] != I)
        return nni_fail(c, "W [%lld,%lld,%lld] and R [%lld,%lld,%lld] do not fit %d direction(s), "
                        "hidden size %lld and input size %lld",
                        (long long)W->dims[0], (long long)W->dims[1], (long long)W->dims[2],
                        (long long)R->dims[0], (long long)R->dims[1], (long long)R->dims[2], dirs,
                        (long long)Hn, (long long)I);
    if (B && (!nni_is_float(B->dtype) || B->count != (size_t)(dirs * 2 * G * Hn)))
        return nni_fail(c, "B has %zu values; %lld expected", B->count, (long long)(dirs * 2 * G * Hn));
    if (H0 && (!nni_is_float(H0->dtype) || H0->count != (size_t)(dirs * N * Hn)))
        return nni_fail(c, "initial_h has %zu values; %lld expected", H0->count, (long long)(dirs * N * Hn));
    if (C0 && (!nni_is_float(C0->dtype) || C0->count != (size_t)(dirs * N * Hn)))
        return nni_fail(c, "initial_c has %zu values; %lld expected", C0->count, (long long)(dirs * N * Hn));
    if (P && (!nni_is_float(P->dtype) || P->count != (size_t)(dirs * 3 * Hn)))
        return nni_fail(c, "P has %zu values; %lld expected", P->count, (long long)(dirs * 3 * Hn));
    if (SL && (SL->count != (size_t)N || !nni_is_int(SL->dtype)))
        return nni_fail(c, "sequence_lens has %zu values for a batch of %lld", SL->count, (long long)N);
    for (int64_t b = 0; SL && b < N; b++)
        if (nni_get_i64(SL, (size_t)b) < 0 || nni_get_i64(SL, (size_t)b) > T)
            return nni_fail(c, "sequence_lens[%lld] is %lld; the sequence has %lld steps",
                            (long long)b, (long long)nni_get_i64(SL, (size_t)b), (long long)T);
    act acts[6];
    if (parse_acts(c, kind, dirs, acts, per) != 0)
        return -1;
    int64_t yd[4], hd[3];
    if (layout) {
        yd[0] = N; yd[1] = T; yd[2] = dirs; yd[3] = Hn;
        hd[0] = N; hd[1] = dirs; hd[2] = Hn;
    } else {
        yd[0] = T; yd[1] = dirs; yd[2] = N; yd[3] = Hn;
        hd[0] = dirs; hd[1] = N; hd[2] = Hn;
    }
    c->plan_defer = 1;
    if (nni_out(c, 0, X->dtype, 4, yd) != 0 || (c->nout > 1 && nni_out(c, 1, X->dtype, 3, hd) != 0) ||
        (kind == K_LSTM && c->nout > 2 && nni_out(c, 2, X->dtype, 3, hd) != 0) || nni_plan_done(c))
        return -1;
    float *Y = c->out[0] ? c->out[0]->data : NULL;
    float *YH = c->nout > 1 && c->out[1] ? c->out[1]->data : NULL;
    float *YC = kind == K_LSTM && c->nout > 2 && c->out[2] ? c->out[2]->data : NULL;
    size_t GH = (size_t)(G * Hn), NH = (size_t)(N * Hn);
    size_t scratch = ((size_t)T * (size_t)N * GH + (size_t)N * GH + 3 * NH + (size_t)T * (size_t)N * (size_t)I) * 4;
    if (nni_account(c->inf, scratch, c->e) != 0)
        return -1;
    float *xw = malloc(scratch ? scratch : 1);
    if (!xw) {
        c->inf->live -= scratch;
        return nnz_fail(c->e, NNZ_EXIT_INTERNAL, "out of memory");
    }
    float *hr = xw + (size_t)T * (size_t)N * GH, *h = hr + (size_t)N * GH, *cc = h + NH, *rh = cc + NH;
    float *xs = rh + NH; /* X as [T, N, I] */
    const float *x = X->data;
    if (layout) {
        for (int64_t t = 0; t < T; t++)
            for (int64_t b = 0; b < N; b++)
                memcpy(xs + ((size_t)t * (size_t)N + (size_t)b) * (size_t)I,
                       x + ((size_t)b * (size_t)T + (size_t)t) * (size_t)I, (size_t)I * 4);
    } else
        memcpy(xs, x, (size_t)T * (size_t)N * (size_t)I * 4);
    for (int d = 0; d < dirs; d++) {
        int back = rev || d == 1;
        const float *w = (const float *)W->data + (size_t)d * GH * (size_t)I;
        const float *r = (const float *)R->data + (size_t)d * GH * (size_t)Hn;
        const float *wb = B ? (const float *)B->data + (size_t)d * 2 * GH : NULL;
        const float *rb = wb ? wb + GH : NULL;
        const float *p = P ? (const float *)P->data + (size_t)d * 3 * (size_t)Hn : NULL;
        const act *A = &acts[d * per];
        /* xw[T*N, G*H] = X W^T (+ Wb, and Rb for gates that add it plainly) */
        nni_sgemm(0, 1, (int)(T * N), (int)GH, (int)I, 1.0f, xs, (int)I, w, (int)I, 0.0f, xw, (int)GH);
        if (wb)
            for (size_t q = 0; q < (size_t)(T * N); q++)
                for (size_t j = 0; j < GH; j++) {
                    float add = wb[j];
                    /* GRU's hidden gate keeps Rb apart (linear_before_reset) */
                    if (!(kind == K_GRU && j >= 2 * (size_t)Hn))
                        add += rb[j];
                    xw[q * GH + j] += add;
                }
        for (size_t i = 0; i < NH; i++) {
            h[i] = H0 ? ((const float *)H0->data)[(size_t)d * NH + i] : 0;
            cc[i] = C0 ? ((const float *)C0->data)[(size_t)d * NH + i] : 0;
        }
        for (int64_t s = 0; s < T; s++) {
            int64_t t = back ? T - 1 - s : s;
            float *g = xw + (size_t)t * (size_t)N * GH;
            /* hr = H R^T */
            nni_sgemm(0, 1, (int)N, (int)GH, (int)Hn, 1.0f, h, (int)Hn, r, (int)Hn, 0.0f, hr, (int)GH);
            for (int64_t b = 0; b < N; b++) {
                int64_t len = SL ? nni_get_i64(SL, (size_t)b) : T;
                float *yo = Y ? Y + (layout ? (((size_t)b * (size_t)T + (size_t)t) * (size_t)dirs + (size_t)d) * (size_t)Hn
                                            : (((size_t)t * (size_t)dirs + (size_t)d) * (size_t)N + (size_t)b) * (size_t)Hn)
                              : NULL;
                if (t >= len) {
                    if (yo)
                        memset(yo, 0, (size_t)Hn * 4);
                    continue;
                }
                float *gb = g + (size_t)b * GH, *hb = hr + (size_t)b * GH;
                float *hv = h + (size_t)b * (size_t)Hn, *cv = cc + (size_t)b * (size_t)Hn;
                for (int64_t j = 0; j < Hn; j++) {
                    float nh;
                    if (kind == K_LSTM) {
                        float gi = gb[j] + hb[j], go = gb[Hn + j] + hb[Hn + j],
                              gf = gb[2 * Hn + j] + hb[2 * Hn + j], gc = gb[3 * Hn + j] + hb[3 * Hn + j];
                        if (p) {
                            gi += p[j] * cv[j];
                            gf += p[2 * Hn + j] * cv[j];
                        }
                        if (clip > 0) {
                            gi = fmaxf(-clip, fminf(clip, gi));
                            gf = fmaxf(-clip, fminf(clip, gf));
                            gc = fmaxf(-clip, fminf(clip, gc));
                        }
                        float iv = apply(&A[0], gi), fv = apply(&A[0], gf), cg = apply(&A[1], gc);
                        float cn = fv * cv[j] + iv * cg;
                        if (p)
                            go += p[Hn + j] * cn;
                        if (clip > 0)
                            go = fmaxf(-clip, fminf(clip, go));
                        float ov = apply(&A[0], go);
                        cv[j] = cn;
                        nh = ov * apply(&A[2], cn);
                    } else if (kind == K_GRU) {
                        float gz = gb[j] + hb[j], gr = gb[Hn + j] + hb[Hn + j];
                        if (clip > 0) {
                            gz = fmaxf(-clip, fminf(clip, gz));
                            gr = fmaxf(-clip, fminf(clip, gr));
                        }
                        float z = apply(&A[0], gz), rr = apply(&A[0], gr);
                        float rbh = rb ? rb[2 * Hn + j] : 0, gh;
                        if (lbr)
                            gh = gb[2 * Hn + j] + rr * (hb[2 * Hn + j] + rbh);
                        else {
                            /* (r * H) Rh^T: needs the whole r first; done below */
                            gh = 0;
                            rh[(size_t)b * (size_t)Hn + (size_t)j] = rr;
                            gb[j] = z; /* keep z for the second pass */
                            continue;
                        }
                        if (clip > 0)
                            gh = fmaxf(-clip, fminf(clip, gh));
                        float hh = apply(&A[1], gh);
                        nh = (1 - z) * hh + z * hv[j];
                    } else {
                        float gv = gb[j] + hb[j];
                        if (clip > 0)
                            gv = fmaxf(-clip, fminf(clip, gv));
                        nh = apply(&A[0], gv);
                    }
                    hv[j] = nh;
                    if (yo)
                        yo[j] = nh;
                }
            }
            if (kind == K_GRU && !lbr) {
                /* second pass: hidden gate from (r * H) Rh^T */
                for (size_t i = 0; i < NH; i++)
                    rh[i] *= h[i];
                nni_sgemm(0, 1, (int)N, (int)Hn, (int)Hn, 1.0f, rh, (int)Hn, r + 2 * (size_t)Hn * (size_t)Hn,
                          (int)Hn, 0.0f, hr, (int)Hn);
                for (int64_t b = 0; b < N; b++) {
                    int64_t len = SL ? nni_get_i64(SL, (size_t)b) : T;
                    if (t >= len)
                        continue;
                    float *gb = g + (size_t)b * GH, *hv = h + (size_t)b * (size_t)Hn;
                    float *yo = Y ? Y + (layout ? (((size_t)b * (size_t)T + (size_t)t) * (size_t)dirs + (size_t)d) * (size_t)Hn
                                                : (((size_t)t * (size_t)dirs + (size_t)d) * (size_t)N + (size_t)b) * (size_t)Hn)
                                  : NULL;
                    for (int64_t j = 0; j < Hn; j++) {
                        float gh = gb[2 * Hn + j] + hr[(size_t)b * (size_t)Hn + (size_t)j] + (rb ? rb[2 * Hn + j] : 0);
                        if (clip > 0)
                            gh = fmaxf(-clip, fminf(clip, gh));
                        float z = gb[j], hh = apply(&A[1], gh);
                        hv[j] = (1 - z) * hh + z * hv[j];
                        if (yo)
                            yo[j] = hv[j];
                    }
                }
            }
        }
        for (int64_t b = 0; b < N; b++) {
            size_t at = layout ? ((size_t)b * (size_t)dirs + (size_t)d) * (size_t)Hn
                               : ((size_t)d * (size_t)N + (size_t)b) * (size_t)Hn;
            if (YH)
                memcpy(YH + at, h + (size_t)b * (size_t)Hn, (size_t)Hn * 4);
            if (YC)
                memcpy(YC + at, cc + (size_t)b * (size_t)Hn, (size_t)Hn * 4);
        }
    }
    free(xw);
    c->inf->live -= scratch;
    return 0;
}

static int op_lstm(nni_call *c) { return rnn(c, K_LSTM); }
static int op_gru(nni_call *c) { return rnn(c, K_GRU); }
static int op_rnn(nni_call *c) { return rnn(c, K_RNN); }

const nni_op nni_ops_rnn[] = {
    { "LSTM", op_lstm, 3, 8, NNI_IN(4) }, { "GRU", op_gru, 3, 6, NNI_IN(4) }, { "RNN", op_rnn, 3, 6, NNI_IN(4) },
    { NULL, NULL, 0, 0, 0 },
};
