/* quantize_budget.c - quantize:max-output-error=X: the fewest weight bits
 * whose worst output relative L2 on the calibration inputs is at most X
 * (docs/passes/quantize.md, "Output budget").
 *
 * Each tensor's knob is its weight error r (error-targeted steps: the
 * largest step whose weight relative L2 is at most r, per tensor or per
 * channel, whichever costs fewer bits). For each tensor:
 *   bits(r)  the codes' order-0 entropy (huffman follows) plus the steps,
 *            on a grid of r half a bit apart, computed with the quantizer;
 *   D(r)     the squared output relative L2 when only this tensor is
 *            quantized (the rest float), measured in the interpreter at two
 *            points and extended as a power law through them.
 * Then one Lagrange multiplier for all: each tensor takes the r (or stays
 * float) that minimises bits(r) + lambda * D(r), with lambda the smallest
 * whose predicted sum of D is within the budget; whole-model runs on the
 * calibration inputs check the choice and the budget is scaled until the
 * measured error holds. The reported error is that measurement, and the
 * held-out inputs' measured beside it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "infer_calib.h"
#include "quantize.h"

#define QB_NGRID 33            /* r = 1.25e-5 * 2^(k/2), k = 0..32: 1.25e-5 .. 0.82 */
#define QB_SENS_LO 18          /* the two points of the sensitivity: r = 0.0064 */
#define QB_SENS_HI 22          /*                                  r = 0.0256 */
#define QB_SENS_INPUTS 2       /* calibration inputs per sensitivity point */
/* The sensitivities' work is capped (sens-work=, QUANT_SENS_WORK), counted
 * as if each run re-ran the whole model. Within it each set is measured
 * on QB_SENS_INPUTS inputs; past it, on one (mlsd_large320: 53 sets, each
 * run re-running its full-resolution decoder, 10 GMACs a run). Both points
 * stay: one cannot tell a mask flipping from weight noise (mlsd measured
 * at the coarse point alone held 0.39% on its calibration inputs and 2.4%
 * on held-out ones; at both points, 0.33% and 0.55%). */
#define QB_CONFIRMS 10         /* whole-model runs of one search, at most */
#define QB_CONFIRM_INPUTS 8    /* calibration inputs a search measures on */
#define QB_OUT_ITERS 24       /* reweightings of the per-output multipliers */
#define QB_ROUNDS 4            /* searches, each aiming lower when the whole set missed */
/* error=auto: the pooled budget stands while every calibration input alone
 * is within QB_AUTO_SPREAD x X (the slack of a check on one input); past
 * it the search runs again binding each input (silero_vad_legacy, whose
 * outputs are a few numbers per input: one input at 2.0% under a pooled
 * 0.8%; the large maps of the other corpus models stay within 1.4x at 1%). */
#define QB_AUTO_SPREAD 1.5
/* ...unless binding each input costs over auto-cost= (QUANT_AUTO_COST)
 * times the pooled choice's bits: then the pooled choice stands (mlsd_large320 at 1%: one
 * input over 1.5%, and holding every input took 23.5 bits a weight where
 * pooled took 13; silero's per-input choice costs 1.1x). */
/* Tensors with under 1/QB_SMALL_SHARE of the selected elements are
 * measured in runs of up to QB_GROUP, together (on ppocr_det_v4, 226 of 258
 * tensors hold 1% of the weights; one by one they took 3/4 of the search).
 * Left out of the measurement, at a fixed fine step, they cost blazeface
 * 0.6 bits/weight. */
#define QB_SMALL_SHARE 500
#define QB_GROUP 8
#define QB_SMALL_K 6           /* r = 1e-4: a corrected bias no layer sets */


size_t quantize_budget_unseen(const nnz_calib_eval *ev)
{
    size_t n = ev->ncal / 2;
    return n < QB_CONFIRM_INPUTS ? n : QB_CONFIRM_INPUTS;
}

static double grid_r(int k)
{
    return 1.25e-5 * pow(2.0, k / 2.0);
}

typedef struct qb_tensor {
    size_t index;              /* in the model */
    nnz_tensor *t;
    float *orig;               /* the weights as loaded */
    float *live;               /* the interpreter's copy (NULL: the graph never reads it) */
    size_t n;
    double bits[QB_NGRID];     /* estimated bits of the tensor at each r */
    double werr[QB_NGRID];     /* weight relative L2 it really gets */
    int gran[QB_NGRID];        /* Q_TENSOR or Q_CHANNEL, the cheaper */
    double d_lo, alpha;        /* D(r) = d_lo * (r / werr[QB_SENS_LO])^alpha */
    double d_fine;             /* D at the finest grid point (< 0: not measured) */
    double d_hi;               /* D measured at the coarse point */
    double d_top;              /* D at the coarsest point, measured when d_hi is 0 (else -1) */
    double float_bits;
    int fixed;                 /* not measured: always grid point QB_SMALL_K */
    int small;                 /* measured in a group of small tensors */
    int nset;                  /* tensors measured together with it, itself included */
    int choice;                /* grid index, -1: float */
    int applied;               /* choice whose values the interpreter holds; -2: none yet */
    int bias_of_corrected;     /* bias-correct: a corrected layer's bias (a fine step on
                                * its corrected values, which its layer's apply() sets) */
    float *bias_live;          /* bias-correct: this layer's bias in the interpreter */
    float *bias_orig;
    size_t nbias;
    struct qb_tensor *bias_q;  /* the bias's own entry, when this stage quantizes it */
    int bias_applied;          /* bias_q's choice the interpreter's bias holds */
    struct qb_tensor *layer;   /* a corrected bias: the layer whose apply() sets it */
    double pd[QB_NGRID];       /* predicted D at each grid point (worst output) */
    double *share;             /* per output: its D over the worst output's (NULL: 1) */
    int best_choice;           /* allocate()'s scratch */
} qb_tensor;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Quantize a copy of t's values as the pass will, with weight error r. */
static int quantize_at(nnz_model *m, qb_tensor *q, const quant_opts *base, double r, int gran,
                       int rounding, nnz_state **out, double *werr, nnz_error *e)
{
    quant_opts o = *base;
    o.rounding = rounding;
    o.max_rel_error = r;
    o.bits = 16;
    o.granularity = gran;
    o.granularity_given = 1;
    o.alloc = NULL;
    o.quiet_target = 1;
    nnz_state *st = nnz_state_new(m, q->t, e);
    if (!st)
        return -1;
    cJSON *scratch = cJSON_CreateObject();
    nnz_err_stats s = { 0 };
    int rc = quantize_uniform(q->t, st, &o, scratch, &s, e);
    cJSON_Delete(scratch);
    if (rc != 0) {
        nnz_state_free(st);
        return -1;
    }
    quantize_round_to_dtype(q->t, st);
    nnz_err_compute(st->orig, st->values, st->n, &s);
    *werr = s.rel_l2;
    *out = st;
    return 0;
}

/* The bits the codes will take: their order-0 entropy plus a code table
 * (huffman's lengths, about a code and a length per level), or plain
 * fixed-width codes where that is less (a small tensor with many levels
 * gains nothing from entropy coding), plus the steps. */
static double state_bits(const nnz_state *st)
{
    size_t levels;
    double h;
    quantize_code_stats(st->codes, st->n, (1u << st->bits) - 1, &levels, &h);
    double coded = h * (double)st->n + (double)levels * (st->bits + 4);
    double fixed = (double)st->bits * (double)st->n;
    return (coded < fixed ? coded : fixed) + 32.0 * (double)st->nchan;
}

/* bits(r) on the grid, for one or both granularities. */
static int rate_table(nnz_model *m, qb_tensor *q, const quant_opts *o, nnz_error *e)
{
    int grans[2] = { Q_TENSOR, Q_CHANNEL }, ng = 2;
    if (o->granularity_given) {
        grans[0] = o->granularity;
        ng = 1;
    }
    for (int k = 0; k < QB_NGRID; k++) {
        q->bits[k] = INFINITY;
        for (int g = 0; g < ng; g++) {
            nnz_state *st;
            double we;
            /* the rates with nearest rounding: gptq keeps the grid and
             * spends about the same bits, at many times the cost */
            if (quantize_at(m, q, o, grid_r(k), grans[g], Q_NEAREST, &st, &we, e) != 0)
                return -1;
            double b = state_bits(st);
            nnz_state_free(st);
            /* the cheaper of those that reach r (per tensor, a tensor whose
             * channels' ranges differ 700x stops far above a fine r at 16
             * bits: blazeface's conv2d_32 at 3e-4 for any r below it) */
            int meets = we <= grid_r(k) * 1.05, had = q->werr[k] <= grid_r(k) * 1.05;
            if (g == 0 || (meets && !had) || (meets == had && (meets ? b < q->bits[k] : we < q->werr[k]))) {
                q->bits[k] = b;
                q->werr[k] = we;
                q->gran[k] = grans[g];
            }
        }
    }
    return 0;
}

/* bias-correct: the layer's bias in the interpreter, its values plus the
 * mean output change `d` (NULL: none), on the bias's own fine step when
 * this stage quantizes it (as run() will quantize the corrected values). */
static int set_bias(nnz_model *m, qb_tensor *q, const quant_opts *o, const double *d, nnz_error *e)
{
    float *c = nnz_malloc((q->nbias ? q->nbias : 1) * sizeof *c, e);
    if (!c)
        return -1;
    for (size_t i = 0; i < q->nbias; i++)
        c[i] = d ? (float)((double)q->bias_orig[i] + d[i]) : q->bias_orig[i];
    qb_tensor *b = q->bias_q;
    if (b && b->choice >= 0) {
        quant_opts oo = *o;
        oo.max_rel_error = grid_r(b->choice);
        oo.bits = 16;
        oo.granularity = b->gran[b->choice];
        oo.granularity_given = 1;
        oo.alloc = NULL;
        oo.quiet_target = 1;
        oo.rounding = Q_NEAREST;
        nnz_state *st = nnz_state_new(m, b->t, e);
        cJSON *scratch = cJSON_CreateObject();
        nnz_err_stats es = { 0 };
        int rc = st && scratch && st->n == q->nbias ? 0 : -1;
        if (rc == 0) {
            memcpy(st->orig, c, q->nbias * sizeof *c);
            memcpy(st->values, c, q->nbias * sizeof *c);
            rc = quantize_uniform(b->t, st, &oo, scratch, &es, e);
        }
        if (rc == 0)
            memcpy(c, st->values, q->nbias * sizeof *c);
        cJSON_Delete(scratch);
        nnz_state_free(st);
        if (rc != 0) {
            free(c);
            return rc < 0 && e->code ? -1 : nnz_fail(e, NNZ_EXIT_INTERNAL, "bias state");
        }
    }
    memcpy(q->bias_live, c, q->nbias * sizeof *c);
    free(c);
    return 0;
}

/* Put choice k's values (or the originals, k = -1) into the interpreter. */
static int apply(nnz_model *m, qb_tensor *q, const quant_opts *o, int k, nnz_error *e)
{
    if (!q->live || q->bias_of_corrected ||
        (q->applied == k && (!q->bias_q || q->bias_applied == q->bias_q->choice)))
        return 0;
    double *d = NULL;
    if (k < 0) {
        memcpy(q->live, q->orig, q->n * sizeof *q->live);
    } else {
        nnz_state *st;
        double we;
        if (quantize_at(m, q, o, grid_r(k), q->gran[k], o->rounding, &st, &we, e) != 0)
            return -1;
        memcpy(q->live, st->values, q->n * sizeof *q->live);
        if (q->bias_live && !(d = nnz_calloc(q->nbias + 1, sizeof *d, e))) {
            nnz_state_free(st);
            return -1;
        }
        if (d)
            quantize_bias_delta(quant_layers_of(o), q->t->name, q->orig, st->values, d);
        nnz_state_free(st);
    }
    int rc = q->bias_live ? set_bias(m, q, o, d, e) : 0;
    free(d);
    if (rc != 0)
        return -1;
    q->applied = k;
    q->bias_applied = q->bias_q ? q->bias_q->choice : 0;
    return 0;
}

static double predicted_d(const qb_tensor *q, int k)
{
    if (k < 0 || q->d_lo <= 0)
        return 0;
    double r0 = q->werr[QB_SENS_LO] > 0 ? q->werr[QB_SENS_LO] : grid_r(QB_SENS_LO);
    double r = q->werr[k];
    if (r <= 0)
        return 0;
    if (r < r0 && q->d_fine >= 0) {
        /* measured at the finest point too: between it and the fine point,
         * the straight line in log-log (flat where flips of a mask or an
         * argmax, not noise, make the error) */
        double rf = q->werr[0] > 0 ? q->werr[0] : grid_r(0);
        double df = q->d_fine > 0 ? q->d_fine : q->d_lo * pow(rf / r0, 2);
        if (r <= rf || r0 <= rf)
            return df * pow(r / rf, 2);
        double t = log(r / rf) / log(r0 / rf);
        return exp(log(df) + t * (log(q->d_lo) - log(df)));
    }
    /* below the measured points the output moves linearly with small
     * weight noise (D ~ r^2); a shallower slope measured above is the
     * network's nonlinearity, which fades with the noise */
    double a = r < r0 ? 2 : q->alpha;
    return q->d_lo * pow(r / r0, a);
}

static int kmax_of(const qb_tensor *q)
{
    /* no step coarser than the measured ones for a tensor that did not
     * move the outputs at the coarse point but does at the coarsest one
     * (nothing to extrapolate from: on ppocr_det_v4 a squeeze-excitation
     * layer before a saturated HardSigmoid measured D = 0 at both points
     * and broke the outputs at r = 0.8), nor for a corrected bias, which
     * moves with its layer's correction that its measurement (the layer
     * float) does not see. One that moves nothing even there (silero's
     * branch for the other sample rate) takes any step. */
    if (q->layer)
        return QB_SENS_HI;
    return q->live && !(q->d_hi > 0) && !(q->d_top == 0) ? QB_SENS_HI : QB_NGRID - 1;
}

/* The calibration inputs each sensitivity point runs on (sens-work=). */
static size_t sens_inputs(double macs_per_run, size_t measured, size_t ncal, double cap)
{
    size_t n = ncal < QB_SENS_INPUTS ? ncal : QB_SENS_INPUTS;
    return macs_per_run * (double)measured * 2 * (double)n > cap && n > 0 ? 1 : n;
}

/* The allocation's state: per output, its multiplier's weight and the
 * predicted D of the current choices. */
typedef struct qb_alloc {
    size_t nout;
    double *lam;               /* nout weights of the per-output multipliers */
    double *dout;              /* nout predicted D (sum over tensors) */
} qb_alloc;

/* The choices for multiplier lambda (output o's multiplier lambda *
 * lam[o]); returns the largest predicted D of an output. */
static double choose(qb_tensor *qs, size_t nq, const qb_alloc *al, double lambda, double *bits)
{
    double b = 0;
    memset(al->dout, 0, al->nout * sizeof *al->dout);
    for (size_t i = 0; i < nq; i++) {
        qb_tensor *q = &qs[i];
        if (q->fixed) {
            q->choice = QB_SMALL_K;
            b += q->bits[QB_SMALL_K];
            continue;
        }
        /* its D weighs on each output by its share there */
        double s = 0;
        for (size_t o = 0; o < al->nout; o++)
            s += al->lam[o] * (q->share ? q->share[o] : 1);
        int best = -1;
        double bc = q->float_bits;
        int kmax = kmax_of(q);
        for (int k = 0; k <= kmax; k++) {
            double c = q->bits[k] + lambda * s * q->pd[k];
            if (c < bc) {
                bc = c;
                best = k;
            }
        }
        q->choice = best;
        for (size_t o = 0; best >= 0 && o < al->nout; o++)
            al->dout[o] += (q->share ? q->share[o] : 1) * q->pd[best];
        b += best < 0 ? q->float_bits : q->bits[best];
    }
    *bits = b;
    return nnz_worst_of(al->dout, al->nout);
}

/* The smallest lambda whose predicted D is within `budget` for the
 * weights al->lam (bisection on log lambda; D falls as lambda grows). */
static double fit_lambda(qb_tensor *qs, size_t nq, const qb_alloc *al, double budget,
                         double *bits)
{
    double lo = -20, hi = 60; /* log10 lambda */
    for (int it = 0; it < 60; it++) {
        double mid = 0.5 * (lo + hi);
        if (choose(qs, nq, al, pow(10, mid), bits) <= budget)
            hi = mid;
        else
            lo = mid;
    }
    return choose(qs, nq, al, pow(10, hi), bits);
}

/* The Lagrangian choice only reaches allocations on the convex hull of
 * bits against D: when one tensor's D jumps (float against a step whose
 * error is flat), the smallest lambda that fits leaves much of the budget
 * unused (blazeface, nearest, at 0.8%: D at 1/7 of the budget). Fill it:
 * while some tensor can move one step coarser (or from float onto a step)
 * within every output's budget, move the one saving the most bits per
 * unit of D added. */
static void fill(qb_tensor *qs, size_t nq, qb_alloc *al, double budget, double *bits)
{
    for (;;) {
        qb_tensor *bq = NULL;
        int bk = -1;
        double bratio = 0;
        for (size_t i = 0; i < nq; i++) {
            qb_tensor *q = &qs[i];
            if (q->fixed)
                continue;
            int c = q->choice, kmax = kmax_of(q);
            double cur = c < 0 ? q->float_bits : q->bits[c], dcur = c < 0 ? 0 : q->pd[c];
            int k0 = c < 0 ? 0 : c + 1, k1 = c < 0 ? kmax : (c + 2 < kmax ? c + 2 : kmax);
            for (int k = k0; k <= k1; k++) {
                double db = cur - q->bits[k], dd = q->pd[k] - dcur, worst = 0;
                if (!(db > 0))
                    continue;
                int ok = 1;
                for (size_t o = 0; ok && o < al->nout; o++) {
                    double x = (q->share ? q->share[o] : 1) * dd;
                    ok = al->dout[o] + x <= budget;
                    worst = fmax(worst, x);
                }
                double ratio = db / fmax(worst, 1e-300);
                if (ok && ratio > bratio) {
                    bratio = ratio;
                    bq = q;
                    bk = k;
                }
            }
        }
        if (!bq)
            return;
        int c = bq->choice;
        double dd = bq->pd[bk] - (c < 0 ? 0 : bq->pd[c]);
        for (size_t o = 0; o < al->nout; o++)
            al->dout[o] += (bq->share ? bq->share[o] : 1) * dd;
        *bits -= (c < 0 ? bq->float_bits : bq->bits[c]) - bq->bits[bk];
        bq->choice = bk;
    }
}

/* Equal slope under one constraint per output: every output's predicted D
 * within `budget` (the measure is the worst output). One multiplier per
 * output: an output with room left weighs less, so the tensors that only
 * it depends on take coarser steps, until it binds too or weighs nothing.
 * The weights move by the square root of each output's D over the budget;
 * the allocation with the fewest bits that meets every constraint is kept
 * (with one output this is the plain equal-slope choice). Returns its
 * largest predicted D. */
static double allocate(qb_tensor *qs, size_t nq, qb_alloc *al, double budget, double *pred,
                       double *bits)
{
    double best_bits = INFINITY;
    *pred = 0;
    for (size_t o = 0; o < al->nout; o++)
        al->lam[o] = 1;
    for (int it = 0; it < (al->nout > 1 ? QB_OUT_ITERS : 1); it++) {
        double b;
        fit_lambda(qs, nq, al, budget, &b);
        /* the next weights, from the Lagrangian choice */
        double top = 0;
        for (size_t o = 0; o < al->nout; o++) {
            al->lam[o] *= sqrt(fmax(al->dout[o], 1e-6 * budget) / budget);
            top = fmax(top, al->lam[o]);
        }
        for (size_t o = 0; o < al->nout; o++)
            al->lam[o] /= top;
        fill(qs, nq, al, budget, &b);
        if (b < best_bits) {
            best_bits = b;
            *pred = nnz_worst_of(al->dout, al->nout);
            for (size_t i = 0; i < nq; i++)
                qs[i].best_choice = qs[i].choice;
        }
    }
    for (size_t i = 0; i < nq; i++)
        qs[i].choice = qs[i].best_choice;
    *bits = best_bits;
    return *pred;
}

static int apply_all(nnz_model *m, qb_tensor *qs, size_t nq, const quant_opts *o, nnz_error *e)
{
    for (size_t i = 0; i < nq; i++)
        if (apply(m, &qs[i], o, qs[i].choice, e) != 0)
            return nnz_wrap(e, "tensor '%s': ", qs[i].t->name);
    return 0;
}

/* Choice k for one tensor in the interpreter; a corrected bias goes in
 * through its layer, which sets it (its layer's own choice kept). */
static int put(nnz_model *m, qb_tensor *q, const quant_opts *o, int k, nnz_error *e)
{
    if (!q->layer)
        return apply(m, q, o, k, e);
    q->choice = k;
    return apply(m, q->layer, o, q->layer->applied < -1 ? -1 : q->layer->applied, e);
}

/* Output error of the set at grid point k, the rest float, into per_out.
 * Without `lane`, the set's values go into the evaluator's interpreter
 * (put(), left there); with one (a worker's, nnz_calib_eval_map), into that
 * interpreter only, put back after: the same values, the same doubles. */
static int sens_point(nnz_model *m, nnz_calib_eval *ev, nnz_infer *lane, qb_tensor **g,
                      size_t ng, const quant_opts *o, int k, const char *const *changed,
                      size_t nchanged, size_t ns, double *per_out, nnz_error *e)
{
    double w;
    if (!lane) {
        for (size_t i = 0; i < ng; i++)
            if (put(m, g[i], o, k, e) != 0)
                return -1;
        return nnz_calib_eval_error_from(ev, changed, nchanged, 0, ns, &w, per_out, e);
    }
    nnz_state *st[QB_GROUP] = { 0 };
    nnz_infer_wsave sv[QB_GROUP];
    int used[QB_GROUP] = { 0 }, rc = 0;
    for (size_t i = 0; rc == 0 && i < ng; i++) {
        double we;
        if (!g[i]->live)
            continue;
        rc = quantize_at(m, g[i], o, grid_r(k), g[i]->gran[k], o->rounding, &st[i], &we, e);
        if (rc == 0 && nnz_infer_weight_use(lane, g[i]->t->name, st[i]->values, g[i]->n, &sv[i]) != 0)
            rc = nnz_fail(e, NNZ_EXIT_INTERNAL, "tensor '%s': not a weight of the worker's "
                          "interpreter", g[i]->t->name);
        used[i] = rc == 0;
    }
    if (rc == 0)
        rc = nnz_calib_eval_error_on(ev, lane, changed, nchanged, 0, ns, &w, per_out, e);
    for (size_t i = 0; i < ng; i++) {
        if (used[i])
            nnz_infer_weight_put_back(lane, g[i]->t->name, &sv[i]);
        nnz_state_free(st[i]);
    }
    return rc;
}

/* The sensitivity of a set of tensors quantized together, the rest float:
 * D at the two grid points. A set is one tensor, or a group of small ones
 * (each measured alone would cost a model run as much as a large one; the
 * group's D is shared equally among its members, and each still takes its
 * own step). */
static int sensitivity(nnz_model *m, nnz_calib_eval *ev, nnz_infer *lane, qb_tensor **g,
                       size_t ng, const quant_opts *o, size_t ns, double *per_out, nnz_error *e)
{
    double d[2] = { 0, 0 };
    const int ks[2] = { QB_SENS_LO, QB_SENS_HI };
    /* only what depends on these tensors (and the biases they correct) runs again */
    const char *changed[2 * QB_GROUP];
    size_t nchanged = 0;
    for (size_t i = 0; i < ng; i++) {
        qb_tensor *q = g[i];
        q->d_lo = 0;
        q->alpha = 2;
        q->d_fine = -1;
        q->d_top = -1;
        q->nset = (int)ng;
        if (!q->live)
            continue; /* the graph never reads it: any step is free */
        changed[nchanged++] = q->t->name;
        const char *b = q->bias_live ? quantize_layer_bias(quant_layers_of(o), q->t->name) : NULL;
        if (b)
            changed[nchanged++] = b;
    }
    if (nchanged == 0)
        return 0;
    double *share = nnz_calloc(ev->nout + 1, sizeof *share, e);
    if (!share)
        return -1;
    int have_share = 0;
    for (int j = 0; j < 2; j++) {
        if (sens_point(m, ev, lane, g, ng, o, ks[j], changed, nchanged, ns, per_out, e) != 0)
            goto fail;
        d[j] = nnz_worst_of(per_out, ev->nout);
        /* each output's share, at the fine point (the coarse one when the
         * fine one is below float noise) */
        if (d[j] > 0 && isfinite(d[j]) && (j == 0 || d[0] == 0)) {
            for (size_t k = 0; k < ev->nout; k++)
                share[k] = isfinite(per_out[k]) ? per_out[k] / d[j] : 1;
            have_share = 1;
        }
    }
    /* D that grows slower than r between the two points is not weight
     * noise passing through smooth layers (D ~ r^2 below them) but a mask
     * or an argmax flipping (mlsd_large320's scores keep only the local
     * maxima of a map; few large flips do not grow at all): the finest
     * point is measured too */
    double df = -1;
    if (d[0] > 0 && isfinite(d[0]) && !(d[1] >= d[0] * grid_r(QB_SENS_HI) / grid_r(QB_SENS_LO))) {
        if (sens_point(m, ev, lane, g, ng, o, 0, changed, nchanged, ns, per_out, e) != 0)
            goto fail;
        df = nnz_worst_of(per_out, ev->nout);
    }
    /* no output moved at the coarse point: does any at the coarsest? */
    double dt = -1;
    if (d[1] == 0) {
        if (sens_point(m, ev, lane, g, ng, o, QB_NGRID - 1, changed, nchanged, ns, per_out,
                       e) != 0)
            goto fail;
        dt = nnz_worst_of(per_out, ev->nout);
    }
    for (size_t i = 0; !lane && i < ng; i++)
        if (put(m, g[i], o, -1, e) != 0)
            goto fail;
    for (size_t i = 0; i < ng; i++) {
        qb_tensor *q = g[i];
        if (!q->live)
            continue;
        q->d_top = dt;
        q->d_fine = df < 0 ? -1 : df / (double)ng;
        q->d_hi = d[1] / (double)ng;
        if (have_share && !(q->share = nnz_malloc(ev->nout * sizeof *q->share, e)))
            goto fail;
        if (have_share)
            memcpy(q->share, share, ev->nout * sizeof *share);
        double r0 = q->werr[QB_SENS_LO], r1 = q->werr[QB_SENS_HI];
        double d0 = d[0] / (double)ng, d1 = d[1] / (double)ng;
        if (!isfinite(d0)) {
            q->d_lo = INFINITY; /* breaks an output even at a fine step: stays float */
            continue;
        }
        q->d_lo = d0;
        if (d0 > 0 && isfinite(d1) && d1 > 0 && r1 > r0 * 1.01) {
            q->alpha = log(d1 / d0) / log(r1 / r0);
            q->alpha = q->alpha < 1 ? 1 : q->alpha > 3 ? 3 : q->alpha;
        } else if (d0 == 0 && isfinite(d1) && d1 > 0) {
            q->d_lo = d1 * pow(r0 / r1, 2); /* below float noise at the fine point */
        } else if (!isfinite(d1)) {
            q->alpha = 3; /* breaks at the coarse point: steep */
        }
    }
    free(share);
    return 0;
fail:
    free(share);
    return -1;
}

static void free_tensors(qb_tensor *qs, size_t nq)
{
    for (size_t i = 0; i < nq; i++) {
        free(qs[i].orig);
        free(qs[i].bias_orig);
        free(qs[i].share);
    }
    free(qs);
}

static void free_alloc(quant_alloc *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++)
        free(a->t[i].name);
    free(a->t);
    nnz_strmap_free(&a->map);
    free(a);
}

void quantize_alloc_free(quant_alloc *a)
{
    free_alloc(a);
}

const quant_choice *quantize_alloc_find(const quant_alloc *a, const char *name)
{
    size_t v;
    return a && nnz_strmap_get(&a->map, name, &v) ? &a->t[v] : NULL;
}

static int keep_result(quant_opts *o, const qb_tensor *qs, size_t nq, nnz_error *e)
{
    quant_alloc *a = nnz_calloc(1, sizeof *a, e);
    if (!a)
        return -1;
    if (!(a->t = nnz_calloc(nq + 1, sizeof *a->t, e)) || nnz_strmap_init(&a->map, nq, e) != 0) {
        free(a->t);
        free(a);
        return -1;
    }
    for (size_t i = 0; i < nq; i++) {
        const qb_tensor *q = &qs[i];
        quant_choice *c = &a->t[i];
        if (!(c->name = strdup(q->t->name)) || nnz_strmap_put(&a->map, c->name, i, e) != 0) {
            free(c->name);
            a->n = i;
            free_alloc(a);
            return nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory");
        }
        a->n = i + 1;
        c->keep_float = q->choice < 0;
        c->rel_target = q->choice < 0 ? 0 : grid_r(q->choice);
        c->granularity = q->choice < 0 ? Q_TENSOR : q->gran[q->choice];
        c->bits_estimate = q->choice < 0 ? q->float_bits : q->bits[q->choice];
        c->sensitivity = q->d_lo > 0 && q->werr[QB_SENS_LO] > 0
                             ? q->d_lo / (q->werr[QB_SENS_LO] * q->werr[QB_SENS_LO])
                             : q->d_lo;
        c->alpha = q->alpha;
        c->measured = !q->fixed;
    }
    o->alloc = a;
    return 0;
}

/* The budget search's view of the tensors (nnz_budget_search). */
typedef struct qb_search {
    nnz_model *m;
    qb_tensor *qs;
    size_t nq;
    const quant_opts *o;
    qb_alloc *al;              /* the allocation's state */
    int *best;                 /* the best choice that held */
    int *last;                 /* the choice applied last */
} qb_search;

static double search_allocate(void *ctx, double budget, double *bits)
{
    qb_search *c = ctx;
    double pred;
    allocate(c->qs, c->nq, c->al, budget, &pred, bits);
    return pred;
}

static int search_apply(void *ctx, nnz_error *e)
{
    qb_search *c = ctx;
    for (size_t i = 0; i < c->nq; i++)
        c->last[i] = c->qs[i].choice;
    return apply_all(c->m, c->qs, c->nq, c->o, e);
}

static int search_same(void *ctx)
{
    qb_search *c = ctx;
    for (size_t i = 0; i < c->nq; i++)
        if (c->last[i] != c->qs[i].choice)
            return 0;
    return 1;
}

static void search_keep(void *ctx)
{
    qb_search *c = ctx;
    for (size_t i = 0; i < c->nq; i++)
        c->best[i] = c->qs[i].choice;
}

static void search_use(void *ctx, int best)
{
    qb_search *c = ctx;
    for (size_t i = 0; i < c->nq; i++)
        c->qs[i].choice = best ? c->best[i] : -1; /* nothing: all float */
}

/* bits(r) of tensor i (rate_table), on any thread: it reads only its own
 * tensor. */
typedef struct qb_rates {
    nnz_model *m;
    qb_tensor *qs;
    const quant_opts *o;
} qb_rates;

static int rate_job(void *ctx, nnz_infer *lane, size_t i, nnz_error *e)
{
    (void)lane;
    qb_rates *rt = ctx;
    qb_tensor *q = &rt->qs[i];
    int rc = rate_table(rt->m, q, rt->o, e);
    if (rc != 0)
        nnz_wrap(e, "tensor '%s': ", q->t->name);
    nnz_tensor_release(q->t);
    return rc;
}

/* The sensitivities' sets (one tensor, or a run of small ones), each
 * measured by sens_job: on a worker's interpreter (nnz_calib_eval_map), or
 * with `lane` NULL through the evaluator's own. */
typedef struct qb_set {
    size_t first, end;         /* the tensors qs[first, end) it covers */
    qb_tensor *g[QB_GROUP];    /* those measured */
    size_t ng;
} qb_set;

typedef struct qb_sets {
    nnz_model *m;
    nnz_calib_eval *ev;
    const quant_opts *o;
    size_t ns, nq;             /* inputs per point; tensors in all */
    qb_set *set;
    size_t n;
} qb_sets;

static int sens_job(void *ctx, nnz_infer *lane, size_t k, nnz_error *e)
{
    qb_sets *ss = ctx;
    qb_set *st = &ss->set[k];
    if (!lane || lane == ss->ev->inf) /* the caller's thread */
        nnz_calib_progress(ss->ev->calib, "quantize: sensitivity", st->end, ss->nq);
    double *per_out = nnz_calloc(ss->ev->nout + 1, sizeof *per_out, e);
    int rc = per_out ? 0 : -1;
    if (rc == 0 && st->ng > 0)
        rc = sensitivity(ss->m, ss->ev, lane, st->g, st->ng, ss->o, ss->ns, per_out, e);
    if (rc != 0 && per_out)
        nnz_wrap(e, "tensor '%s'%s: ", st->g[0]->t->name,
                 st->ng > 1 ? " and the small tensors after it" : "");
    for (size_t i = 0; i < st->ng; i++)
        nnz_tensor_release(st->g[i]->t);
    free(per_out);
    return rc;
}

/* Elements of the tensors the budget allocates (at least 1). */
static double qb_elements(const qb_tensor *qs, size_t nq)
{
    double n = 0;
    for (size_t i = 0; i < nq; i++)
        n += (double)qs[i].n;
    return n > 0 ? n : 1;
}

/* Bits of the tensors' current choices (float where a tensor stays float). */
static double choice_bits(const qb_tensor *qs, size_t nq)
{
    double b = 0;
    for (size_t i = 0; i < nq; i++)
        b += qs[i].choice < 0 ? qs[i].float_bits : qs[i].bits[qs[i].choice];
    return b;
}

int quantize_budget(nnz_model *m, const nnz_stage *stage, quant_opts *o, nnz_calib_eval *ev,
                    cJSON *report, nnz_error *e)
{
    const nnz_calib *cal = stage->calib;
    double t0 = now(), t_rates = 0, t_sens = 0;
    size_t nsel = 0;
    double total = 0;
    for (size_t i = 0; i < m->ntensors; i++)
        if (stage->selected[i] && nnz_dtype_is_float(m->tensors[i].dtype)) {
            nsel++;
            total += (double)m->tensors[i].count;
        }
    qb_tensor *qs = nnz_calloc(nsel + 1, sizeof *qs, e);
    double *per_out = nnz_calloc(ev->nout + 1, sizeof *per_out, e);
    size_t nq = 0;
    int rc = qs && per_out ? 0 : -1;
    /* bias-correct: the biases of corrected layers follow their layer's
     * choice (orig + its mean output change) and stay float */
    nnz_strmap biases = { 0 };
    if (rc == 0 && nnz_strmap_init(&biases, 64, e) != 0)
        rc = -1;
    for (size_t i = 0; rc == 0 && o->bias_correct && i < m->ntensors; i++) {
        const char *b = stage->selected[i] ? quantize_layer_bias(quant_layers_of(o),
                                                                  m->tensors[i].name) : NULL;
        if (b && nnz_strmap_put(&biases, b, 1, e) != 0)
            rc = -1;
    }
    /* how much each sensitivity measures: the model's MACs on one input
     * times the sets to measure (a large tensor, or a run of QB_GROUP small
     * ones), against sens-work= */
    double tk = now();
    nnz_macs macs = { 0 };
    size_t nbig = 0, nsmall = 0;
    for (size_t i = 0; i < m->ntensors; i++)
        if (stage->selected[i] && nnz_dtype_is_float(m->tensors[i].dtype)) {
            if ((double)m->tensors[i].count * QB_SMALL_SHARE >= total)
                nbig++;
            else
                nsmall++;
        }
    if (rc == 0 && ev->nfeeds)
        rc = nnz_macs_count(cal, m, &ev->feeds[0], &macs, e);
    double macs_total = macs.total;
    size_t sens_in = sens_inputs(macs_total, nbig + (nsmall + QB_GROUP - 1) / QB_GROUP, ev->ncal,
                                 o->sens_work);
    nnz_macs_free(&macs);
    /* rates and sensitivities, tensor by tensor; the float model's values
     * kept on the inputs they run on */
    if (rc == 0)
        rc = nnz_calib_eval_keep(ev, sens_in, e);
    t_sens += now() - tk;
    for (size_t i = 0; rc == 0 && i < m->ntensors; i++) {
        nnz_tensor *t = &m->tensors[i];
        if (!stage->selected[i] || !nnz_dtype_is_float(t->dtype))
            continue;
        qb_tensor *q = &qs[nq++];
        q->index = i;
        q->t = t;
        q->applied = -2;
        q->choice = -1;
        q->d_fine = -1;
        q->orig = nnz_tensor_floats(m, t, e);
        if (!q->orig) {
            rc = -1;
            break;
        }
        q->n = t->count;
        for (size_t k = 0; k < q->n; k++)
            if (!isfinite(q->orig[k]))
                rc = nnz_fail(e, NNZ_EXIT_INPUT, "tensor '%s': value %zu is not finite; "
                              "quantizing needs finite weights", t->name, k);
        size_t cnt;
        q->live = nnz_infer_weight(ev->inf, t->name, &cnt);
        if (q->live && cnt != q->n)
            q->live = NULL;
        q->float_bits = 8.0 * (double)t->nbytes;
        q->small = (double)q->n * QB_SMALL_SHARE < total;
        /* a corrected layer's bias: its values follow its layer's choice */
        q->bias_of_corrected = o->bias_correct && nnz_strmap_get(&biases, t->name, &(size_t){ 0 });
        const char *bname = o->bias_correct ? quantize_layer_bias(quant_layers_of(o), t->name) : NULL;
        if (bname && rc == 0) {
            size_t nb;
            q->bias_live = nnz_infer_weight(ev->inf, bname, &nb);
            nnz_tensor *bt = nnz_model_find(m, bname);
            if (q->bias_live && bt && bt->count == nb &&
                (q->bias_orig = nnz_tensor_floats(m, bt, e)) != NULL)
                q->nbias = nb;
            else
                q->bias_live = NULL;
        }
        if (rc != 0)
            nnz_wrap(e, "tensor '%s': ", t->name);
        nnz_tensor_release(t);
    }
    nnz_strmap_free(&biases);
    /* the rates, tensors side by side on the calibration workers */
    double ta = now();
    qb_rates rt = { m, qs, o };
    if (rc == 0)
        rc = nnz_calib_eval_map(ev, nq, rate_job, &rt, e);
    t_rates += now() - ta;
    /* each corrected layer finds its bias's entry, which is measured through
     * the layer (the layer float: the bias alone on its step) */
    for (size_t i = 0; rc == 0 && i < nq; i++) {
        const char *bname = qs[i].bias_live && qs[i].live
                                ? quantize_layer_bias(quant_layers_of(o), qs[i].t->name) : NULL;
        for (size_t j = 0; bname && j < nq; j++)
            if (qs[j].bias_of_corrected && strcmp(qs[j].t->name, bname) == 0) {
                qs[i].bias_q = &qs[j];
                qs[j].layer = &qs[i];
            }
    }
    for (size_t i = 0; rc == 0 && i < nq; i++)
        if (qs[i].bias_of_corrected && !qs[i].layer) {
            qs[i].fixed = 1; /* no layer sets it: the fine step */
            qs[i].choice = QB_SMALL_K;
        }
    /* one tensor at a time, or a run of up to QB_GROUP small ones */
    qb_sets ss = { .m = m, .ev = ev, .o = o, .ns = sens_in, .nq = nq };
    if (rc == 0 && !(ss.set = nnz_calloc(nq + 1, sizeof *ss.set, e)))
        rc = -1;
    for (size_t i = 0; rc == 0 && i < nq;) {
        qb_set *st = &ss.set[ss.n++];
        st->first = i;
        while (i < nq && st->ng < QB_GROUP) {
            qb_tensor *q = &qs[i];
            if (!q->fixed && st->ng > 0 && (!q->small || !st->g[0]->small))
                break;
            i++;
            if (!q->fixed)
                st->g[st->ng++] = q;
            if (!q->small && !q->fixed)
                break;
        }
        st->end = i;
    }
    if (rc == 0) {
        double tb = now();
        /* with nearest rounding and no bias correction, a set's values go
         * into its worker's interpreter alone: the sets run side by side
         * (a corrected bias follows its layer, which another set may be
         * measuring; gptq's rounding reads the layer's inputs) */
        int side = o->rounding == Q_NEAREST && !o->bias_correct;
        if (side)
            rc = nnz_calib_eval_map(ev, ss.n, sens_job, &ss, e);
        for (size_t k = 0; rc == 0 && !side && k < ss.n; k++)
            rc = sens_job(&ss, NULL, k, e);
        t_sens += now() - tb;
    }
    free(ss.set);
    /* the predicted D of each grid point, for the allocation's many passes */
    for (size_t i = 0; rc == 0 && i < nq; i++)
        for (int k = 0; k < QB_NGRID; k++)
            qs[i].pd[k] = predicted_d(&qs[i], k);
    qb_alloc al = { ev->nout ? ev->nout : 1, NULL, NULL };
    if (rc == 0 && (!(al.lam = nnz_calloc(al.nout, sizeof *al.lam, e)) ||
                    !(al.dout = nnz_calloc(al.nout, sizeof *al.dout, e))))
        rc = -1;
    double t_search = now();
    if (rc == 0) /* the kept values served the sensitivities: let them go */
        rc = nnz_calib_eval_keep(ev, 0, e);
    /* equal slope, confirmed by whole-model runs (nnz_budget_search) */
    qb_search qc = { .m = m, .qs = qs, .nq = nq, .o = o, .al = &al };
    nnz_budget_search s = { .ev = ev, .x = o->max_output_error, .what = "quantize: confirming",
                            .rounds = nq ? QB_ROUNDS : 0, .runs = QB_CONFIRMS,
                            .inputs = QB_CONFIRM_INPUTS, .close = 1.15, .step = 4,
                            .lowest = 1e-6, .highest = INFINITY, .ctx = &qc,
                            .allocate = search_allocate, .apply = search_apply,
                            .keep = search_keep, .use = search_use, .same = search_same };
    if (rc == 0 && (!(qc.best = nnz_calloc(nq + 1, sizeof *qc.best, e)) ||
                    !(qc.last = nnz_calloc(nq + 1, sizeof *qc.last, e))))
        rc = -1;
    if (rc == 0)
        rc = nnz_budget_search_run(&s, e);
    /* error=auto: one input far above the pooled error (a few numbers per
     * input, or inputs the model treats very differently): bind each */
    int confirms = s.confirms; /* both searches' */
    size_t inputs_run = s.inputs_run;
    double pooled_input = -1; /* the pooled choice's worst input, when auto looked past it */
    double pooled_bits = 0, per_input_bits = -1; /* the two choices' bits, when auto tried both */
    if (rc == 0 && o->error_mode == Q_ERR_AUTO && s.have_best && isfinite(s.measured_input) &&
        s.measured_input > QB_AUTO_SPREAD * s.x) {
        int *pooled = nnz_calloc(nq + 1, sizeof *pooled, e);
        double pooled_meas = s.measured, pooled_pred = s.best_pred;
        pooled_bits = choice_bits(qs, nq);
        pooled_input = s.measured_input;
        for (size_t i = 0; pooled && i < nq; i++)
            pooled[i] = qs[i].choice;
        ev->per_input = 1;
        rc = pooled ? nnz_budget_search_run(&s, e) : -1;
        confirms += s.confirms;
        inputs_run += s.inputs_run;
        if (rc == 0 && s.have_best)
            per_input_bits = choice_bits(qs, nq);
        if (rc == 0 && (!s.have_best || per_input_bits > o->auto_cost * pooled_bits)) {
            /* no choice holds for every input, or none at a price worth
             * paying: the pooled one */
            ev->per_input = 0;
            for (size_t i = 0; i < nq; i++)
                qs[i].choice = pooled[i];
            rc = apply_all(m, qs, nq, o, e);
            s.measured = pooled_meas;
            s.measured_input = pooled_input;
            s.best_pred = pooled_pred;
            s.have_best = 1;
        }
        free(pooled);
    }
    if (rc == 0) {
        double held = 0;
        if (ev->nfeeds > ev->ncal)
            rc = nnz_calib_eval_error(ev, ev->ncal, ev->nfeeds, &held, NULL, e);
        if (rc == 0)
            rc = keep_result(o, qs, nq, e);
        if (rc == 0) {
            double n_el = 0, b_all = 0;
            cJSON *r = cJSON_AddObjectToObject(report, "quantize_budget");
            cJSON_AddNumberToObject(r, "max_output_error", o->max_output_error);
            cJSON_AddStringToObject(r, "error", ev->per_input ? "per-input" : "pooled");
            cJSON_AddStringToObject(r, "error_option", o->error_mode == Q_ERR_AUTO ? "auto"
                                    : o->error_mode == Q_ERR_POOLED ? "pooled" : "per-input");
            if (pooled_input >= 0 && ev->per_input) /* auto: why it bound each input */
                cJSON_AddNumberToObject(r, "pooled_worst_input", pooled_input);
            if (pooled_input >= 0 && !ev->per_input && per_input_bits >= 0)
                /* auto tried binding each input and kept pooled: its price */
                cJSON_AddNumberToObject(r, "per_input_bits_per_weight_estimate",
                                        per_input_bits / qb_elements(qs, nq));
            nnz_calib_report_errors(r, ev, o->max_output_error, s.measured, held);
            cJSON_AddNumberToObject(r, "output_error_calibration_worst_input", s.measured_input);
            cJSON_AddNumberToObject(r, "output_error_predicted",
                                    s.have_best ? sqrt(s.best_pred) : 0);
            cJSON_AddNumberToObject(r, "confirm_runs", confirms);
            cJSON_AddNumberToObject(r, "confirm_inputs", (double)inputs_run);
            cJSON_AddNumberToObject(r, "seconds", now() - t0);
            cJSON *sp = cJSON_AddObjectToObject(r, "seconds_by_step");
            cJSON_AddNumberToObject(sp, "rates", t_rates);
            cJSON_AddNumberToObject(sp, "sensitivities", t_sens);
            cJSON_AddNumberToObject(sp, "confirmation", now() - t_search);
            cJSON_AddNumberToObject(r, "seconds_per_inference", ev->seconds_per_run);
            cJSON_AddNumberToObject(r, "macs_per_inference", macs_total);
            cJSON_AddNumberToObject(r, "sensitivity_inputs", (double)sens_in);
            cJSON *ts = cJSON_AddArrayToObject(r, "tensors");
            for (size_t i = 0; i < nq; i++) {
                const quant_choice *c = &o->alloc->t[i];
                const qb_tensor *q = &qs[i];
                cJSON *x = cJSON_CreateObject();
                cJSON_AddStringToObject(x, "name", c->name);
                cJSON_AddNumberToObject(x, "elements", (double)q->n);
                cJSON_AddStringToObject(x, "choice", c->keep_float ? "float" : "quantized");
                if (!c->keep_float) {
                    cJSON_AddNumberToObject(x, "weight_rel_l2_target", c->rel_target);
                    cJSON_AddStringToObject(x, "granularity",
                                            c->granularity == Q_CHANNEL ? "channel" : "tensor");
                }
                cJSON_AddNumberToObject(x, "bits_estimate", c->bits_estimate);
                cJSON_AddNumberToObject(x, "bits_per_weight_estimate",
                                        c->bits_estimate / (double)(q->n ? q->n : 1));
                cJSON_AddBoolToObject(x, "measured", c->measured);
                cJSON_AddNumberToObject(x, "measured_together", q->nset);
                if (c->measured && isfinite(c->sensitivity))
                    cJSON_AddNumberToObject(x, "sensitivity", c->sensitivity);
                else
                    cJSON_AddNullToObject(x, "sensitivity");
                cJSON_AddNumberToObject(x, "output_error_exponent", c->alpha / 2);
                if (q->d_fine >= 0) /* measured at the finest step too */
                    cJSON_AddNumberToObject(x, "output_error_finest", sqrt(q->d_fine));
                cJSON_AddNumberToObject(x, "output_error_alone", sqrt(predicted_d(q, q->choice)));
                cJSON_AddItemToArray(ts, x);
                n_el += (double)q->n;
                b_all += c->bits_estimate;
            }
            cJSON_AddNumberToObject(r, "bits_per_weight_estimate", n_el > 0 ? b_all / n_el : 0);
        }
    }
    free(qc.best);
    free(qc.last);
    free(al.lam);
    free(al.dout);
    free(per_out);
    if (qs)
        free_tensors(qs, nq);
    return rc;
}
