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
 * as if each run re-ran the whole model. Within it each tensor is measured
 * at both points on QB_SENS_INPUTS inputs; past it, at both points on one
 * input; past that too, at the coarse point alone on one input, D below it
 * following the small-noise law D ~ r^2 (mlsd_large320: 43 tensors, each
 * run re-running its full-resolution decoder, 10 GMACs a run). */
#define QB_CONFIRMS 10         /* whole-model runs of one search, at most */
#define QB_CONFIRM_INPUTS 8    /* calibration inputs a search measures on */
#define QB_ROUNDS 4            /* searches, each aiming lower when the whole set missed */
/* Tensors with under 1/QB_SMALL_SHARE of the selected elements are not
 * measured one by one (on ppocr_det_v4, 296 of 342 tensors hold 1% of the
 * weights, and measuring them took most of the search): they take the
 * fine step QB_SMALL_R, whose output error the whole-model runs include. */
#define QB_SMALL_SHARE 500
#define QB_SMALL_K 6           /* r = 1e-4 */

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
    double float_bits;
    int fixed;                 /* not measured: always grid point QB_SMALL_K */
    int choice;                /* grid index, -1: float */
    int applied;               /* choice whose values the interpreter holds; -2: none yet */
    int bias_of_corrected;     /* bias-correct: a corrected layer's bias (a fine step on
                                * its corrected values, which its layer's apply() sets) */
    float *bias_live;          /* bias-correct: this layer's bias in the interpreter */
    float *bias_orig;
    size_t nbias;
    struct qb_tensor *bias_q;  /* the bias's own entry, when this stage quantizes it */
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
            if (b < q->bits[k]) {
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
    if (!q->live || q->applied == k || q->bias_of_corrected)
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
    return 0;
}

static double predicted_d(const qb_tensor *q, int k)
{
    if (k < 0 || q->d_lo <= 0)
        return 0;
    double r0 = q->werr[QB_SENS_LO] > 0 ? q->werr[QB_SENS_LO] : grid_r(QB_SENS_LO);
    double r = q->werr[k];
    /* below the measured points the output moves linearly with small
     * weight noise (D ~ r^2); a shallower slope measured above is the
     * network's nonlinearity, which fades with the noise */
    double a = r < r0 ? 2 : q->alpha;
    return r > 0 ? q->d_lo * pow(r / r0, a) : 0;
}

/* The choices for multiplier lambda; returns the predicted sum of D. */
static double choose(qb_tensor *qs, size_t nq, double lambda, double *bits)
{
    double dsum = 0, b = 0;
    for (size_t i = 0; i < nq; i++) {
        qb_tensor *q = &qs[i];
        if (q->fixed) {
            q->choice = QB_SMALL_K;
            b += q->bits[QB_SMALL_K];
            continue;
        }
        int best = -1;
        double bc = q->float_bits;
        for (int k = 0; k < QB_NGRID; k++) {
            double c = q->bits[k] + lambda * predicted_d(q, k);
            if (c < bc) {
                bc = c;
                best = k;
            }
        }
        q->choice = best;
        dsum += predicted_d(q, best);
        b += best < 0 ? q->float_bits : q->bits[best];
    }
    *bits = b;
    return dsum;
}

/* The smallest lambda whose predicted D is within `budget` (bisection on
 * log lambda; D falls as lambda grows). */
static double allocate(qb_tensor *qs, size_t nq, double budget, double *pred, double *bits)
{
    double lo = -20, hi = 60; /* log10 lambda */
    for (int it = 0; it < 80; it++) {
        double mid = 0.5 * (lo + hi);
        if (choose(qs, nq, pow(10, mid), bits) <= budget)
            hi = mid;
        else
            lo = mid;
    }
    *pred = choose(qs, nq, pow(10, hi), bits);
    return hi;
}

static int apply_all(nnz_model *m, qb_tensor *qs, size_t nq, const quant_opts *o, nnz_error *e)
{
    for (size_t i = 0; i < nq; i++)
        if (apply(m, &qs[i], o, qs[i].choice, e) != 0)
            return nnz_wrap(e, "tensor '%s': ", qs[i].t->name);
    return 0;
}

static double worst_of(const double *per_out, size_t n)
{
    double w = 0;
    for (size_t o = 0; o < n; o++)
        if (!(per_out[o] <= w))
            w = per_out[o];
    return w;
}

/* How much a sensitivity measures (sens-work=). */
typedef struct qb_effort {
    size_t inputs;             /* calibration inputs per point */
    int points;                /* 2: QB_SENS_LO and QB_SENS_HI; 1: QB_SENS_HI alone */
} qb_effort;

static qb_effort sens_effort(double macs_per_run, size_t measured, size_t ncal, double cap)
{
    qb_effort f = { .inputs = ncal < QB_SENS_INPUTS ? ncal : QB_SENS_INPUTS, .points = 2 };
    double work = macs_per_run * (double)measured;
    if (work * 2 * (double)f.inputs > cap)
        f.inputs = 1;
    if (work * 2 > cap)
        f.points = 1;
    return f;
}

/* The sensitivity of one tensor: D at the two grid points (or the coarse
 * one), the rest float. */
static int sensitivity(nnz_model *m, nnz_calib_eval *ev, qb_tensor *q, const quant_opts *o,
                       qb_effort eff, double *per_out, nnz_error *e)
{
    size_t ns = eff.inputs;
    double d[2] = { 0, 0 };
    const int ks[2] = { QB_SENS_LO, QB_SENS_HI };
    q->d_lo = 0;
    q->alpha = 2;
    if (!q->live)
        return 0; /* the graph never reads it: any step is free */
    /* only what depends on this tensor (and the bias it corrects) runs again */
    const char *changed[2] = { q->t->name, NULL };
    size_t nchanged = 1;
    if (q->bias_live && (changed[1] = quantize_layer_bias(quant_layers_of(o), q->t->name)))
        nchanged = 2;
    for (int j = 2 - eff.points; j < 2; j++) {
        double w;
        if (apply(m, q, o, ks[j], e) != 0 ||
            nnz_calib_eval_error_from(ev, changed, nchanged, 0, ns, &w, per_out, e) != 0)
            return -1;
        d[j] = worst_of(per_out, ev->nout);
    }
    if (apply(m, q, o, -1, e) != 0)
        return -1;
    double r0 = q->werr[QB_SENS_LO], r1 = q->werr[QB_SENS_HI];
    if (eff.points == 1) { /* the small-noise law through the coarse point */
        q->d_lo = !isfinite(d[1]) ? INFINITY : r1 > 0 ? d[1] * pow(r0 / r1, 2) : d[1];
        return 0;
    }
    if (!isfinite(d[0])) {
        q->d_lo = INFINITY; /* breaks an output even at a fine step: stays float */
        return 0;
    }
    q->d_lo = d[0];
    if (d[0] > 0 && isfinite(d[1]) && d[1] > 0 && r1 > r0 * 1.01) {
        q->alpha = log(d[1] / d[0]) / log(r1 / r0);
        q->alpha = q->alpha < 1 ? 1 : q->alpha > 3 ? 3 : q->alpha;
    } else if (d[0] == 0 && isfinite(d[1]) && d[1] > 0) {
        q->d_lo = d[1] * pow(r0 / r1, 2); /* below float noise at the fine point */
    } else if (!isfinite(d[1])) {
        q->alpha = 3; /* breaks at the coarse point: steep */
    }
    return 0;
}

static void free_tensors(qb_tensor *qs, size_t nq)
{
    for (size_t i = 0; i < nq; i++) {
        free(qs[i].orig);
        free(qs[i].bias_orig);
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
    int *best;                 /* the best choice that held */
    int *last;                 /* the choice applied last */
} qb_search;

static double search_allocate(void *ctx, double budget, double *bits)
{
    qb_search *c = ctx;
    double pred;
    allocate(c->qs, c->nq, budget, &pred, bits);
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
     * times the tensors to measure, against sens-work= */
    double tk = now();
    nnz_macs macs = { 0 };
    size_t nmeas = 0;
    for (size_t i = 0; i < m->ntensors; i++)
        nmeas += stage->selected[i] && nnz_dtype_is_float(m->tensors[i].dtype) &&
                 (double)m->tensors[i].count * QB_SMALL_SHARE >= total;
    if (rc == 0 && ev->nfeeds)
        rc = nnz_macs_count(cal, m, &ev->feeds[0], &macs, e);
    double macs_total = macs.total;
    qb_effort eff = sens_effort(macs_total, nmeas, ev->ncal, o->sens_work);
    nnz_macs_free(&macs);
    /* rates and sensitivities, tensor by tensor; the float model's values
     * kept on the inputs they run on */
    if (rc == 0)
        rc = nnz_calib_eval_keep(ev, eff.inputs, e);
    t_sens += now() - tk;
    for (size_t i = 0; rc == 0 && i < m->ntensors; i++) {
        nnz_tensor *t = &m->tensors[i];
        if (!stage->selected[i] || !nnz_dtype_is_float(t->dtype))
            continue;
        qb_tensor *q = &qs[nq++];
        q->index = i;
        q->t = t;
        q->applied = -2;
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
        nnz_calib_progress(cal, "quantize: sensitivity", nq, nsel);
        q->fixed = (double)q->n * QB_SMALL_SHARE < total;
        if (o->bias_correct && nnz_strmap_get(&biases, t->name, &(size_t){ 0 })) {
            q->bias_of_corrected = 1; /* its values follow its layer's choice */
            q->fixed = 1;             /* on the fine step */
            q->choice = QB_SMALL_K;
        }
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
        double ta = now();
        if (rc == 0)
            rc = rate_table(m, q, o, e);
        double tb = now();
        if (rc == 0 && !q->fixed)
            rc = sensitivity(m, ev, q, o, eff, per_out, e);
        t_rates += tb - ta;
        t_sens += now() - tb;
        if (rc != 0)
            nnz_wrap(e, "tensor '%s': ", t->name);
        nnz_tensor_release(t);
    }
    nnz_strmap_free(&biases);
    /* each corrected layer finds its bias's entry */
    for (size_t i = 0; rc == 0 && i < nq; i++) {
        const char *bname = qs[i].bias_live ? quantize_layer_bias(quant_layers_of(o), qs[i].t->name) : NULL;
        for (size_t j = 0; bname && j < nq; j++)
            if (qs[j].bias_of_corrected && strcmp(qs[j].t->name, bname) == 0) {
                qs[i].bias_q = &qs[j];
                qs[i].applied = -2; /* its bias goes on its step from now on */
            }
    }
    double t_search = now();
    if (rc == 0) /* the kept values served the sensitivities: let them go */
        rc = nnz_calib_eval_keep(ev, 0, e);
    /* equal slope, confirmed by whole-model runs (nnz_budget_search) */
    qb_search qc = { .m = m, .qs = qs, .nq = nq, .o = o };
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
            cJSON_AddStringToObject(r, "error", o->per_input ? "per-input" : "pooled");
            nnz_calib_report_errors(r, ev, o->max_output_error, s.measured, held);
            cJSON_AddNumberToObject(r, "output_error_predicted",
                                    s.have_best ? sqrt(s.best_pred) : 0);
            cJSON_AddNumberToObject(r, "confirm_runs", s.confirms);
            cJSON_AddNumberToObject(r, "seconds", now() - t0);
            cJSON *sp = cJSON_AddObjectToObject(r, "seconds_by_step");
            cJSON_AddNumberToObject(sp, "rates", t_rates);
            cJSON_AddNumberToObject(sp, "sensitivities", t_sens);
            cJSON_AddNumberToObject(sp, "confirmation", now() - t_search);
            cJSON_AddNumberToObject(r, "seconds_per_inference", ev->seconds_per_run);
            cJSON_AddNumberToObject(r, "macs_per_inference", macs_total);
            cJSON_AddNumberToObject(r, "sensitivity_inputs", (double)eff.inputs);
            cJSON_AddNumberToObject(r, "sensitivity_points", eff.points);
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
                if (c->measured && isfinite(c->sensitivity))
                    cJSON_AddNumberToObject(x, "sensitivity", c->sensitivity);
                else
                    cJSON_AddNullToObject(x, "sensitivity");
                cJSON_AddNumberToObject(x, "output_error_exponent", c->alpha / 2);
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
    free(per_out);
    if (qs)
        free_tensors(qs, nq);
    return rc;
}
