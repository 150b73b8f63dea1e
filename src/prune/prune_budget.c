/* prune_budget.c - prune:max-output-error=X: the most pruning whose worst
 * output relative L2 on the calibration inputs is at most X
 * (docs/passes/prune.md, "Output budget").
 *
 * The knob of each item (a channel group with structured=channel, else a
 * tensor) is how much of it goes: channels removed from the group, or the
 * sparsity of the tensor. For each item:
 *   cost(k)  what it keeps: parameters (or MACs, cost=macs) for channels,
 *            nonzero weights for sparsity;
 *   D(k)     the squared output relative L2 when only this item is pruned
 *            (the rest float), measured in the interpreter at a few points
 *            and interpolated through them in log-log.
 * Then one multiplier for all (nnz_alloc_equal_slope): each item takes the
 * k that minimises cost(k) + lambda D(k), with lambda the smallest whose
 * predicted sum of D is within the budget; whole-model runs on the
 * calibration inputs check the choice and the budget is scaled until the
 * measured error holds. A removed channel is tried by zeroing the input
 * channels of the layers that read it (prune_chan_zero: the arithmetic of
 * the rewritten graph); the reported error is measured on the rewritten
 * graph, and the held-out inputs' beside it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "infer_calib.h"
#include "prune.h"

#define PB_SENS_INPUTS 2      /* calibration inputs per sensitivity point */
#define PB_CONFIRMS 12        /* whole-model runs of one search, at most */
#define PB_CONFIRM_INPUTS 8   /* calibration inputs a search measures on */
#define PB_ROUNDS 3           /* searches, each aiming lower when the whole set missed */
#define PB_MAX_OPTS 65        /* counts an item may take (a grid over 0..C-1) */
#define PB_NPTS 4             /* sensitivity points per item */
/* The least D any pruning is predicted to cost, in units of the budget
 * squared: an error measured as 0 on the sensitivity inputs (channels dead
 * on those) may not be 0 on the others, and a cost above zero lets the
 * search back out of it when a confirmation misses. */
#define PB_FLOOR 1e-6
/* Tensors with under 1/PB_SMALL_SHARE of the selected weights are not
 * measured (their pruning saves little): they stay whole. */
#define PB_SMALL_SHARE 500

/* The channel fractions and the sparsities the sensitivities are measured at. */
static const double chan_points[PB_NPTS] = { 0.125, 0.25, 0.5, 0.75 };
static const double weight_points[PB_NPTS] = { 0.25, 0.5, 0.75, 0.9 };
/* The sparsities a tensor may take. */
static const double weight_grid[] = { 0,    0.05, 0.1,  0.15, 0.2,  0.25, 0.3,  0.35,
                                       0.4,  0.45, 0.5,  0.55, 0.6,  0.65, 0.7,  0.75,
                                       0.8,  0.85, 0.9,  0.93, 0.95, 0.97, 0.98 };
#define PB_NWGRID (sizeof weight_grid / sizeof weight_grid[0])

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- a sensitivity curve ------------------------------------------------------ */

/* D measured at n points x[0] < x[1] < ...; between them log D is linear in
 * log x; past the ends it goes on with the end segment's slope, held in
 * [1, 4] (an error that grows at least as fast as what is removed, and no
 * cliff steeper than measured ones). A point measured at exactly 0 (dead
 * channels, weights already zero) stays 0 up to it, and the segment after
 * it is the straight line from 0 to the next point: no power law fits a
 * zero, and the line is the cautious guess. D is made non-decreasing:
 * removing more never predicts less error. */
typedef struct pb_curve {
    int n;
    double x[PB_NPTS], d[PB_NPTS];
} pb_curve;

static void curve_add(pb_curve *c, double x, double d)
{
    if (!(x > 0) || (c->n > 0 && x <= c->x[c->n - 1]) || c->n >= PB_NPTS)
        return;
    if (!(d >= 0))
        d = INFINITY; /* NaN: broken */
    if (c->n > 0 && d < c->d[c->n - 1])
        d = c->d[c->n - 1];
    c->x[c->n] = x;
    c->d[c->n] = d;
    c->n++;
}

static double clamp_slope(double a)
{
    return !(a >= 1) ? 1 : a > 4 ? 4 : a;
}

static double curve_at(const pb_curve *c, double x)
{
    if (!(x > 0) || c->n == 0)
        return 0;
    for (int i = 0; i < c->n; i++)
        if (!isfinite(c->d[i]) && x >= c->x[i])
            return INFINITY; /* breaks an output (an integer one, a NaN) from here on */
    int i = 0; /* the segment [x[i], x[i+1]], or an end */
    while (i < c->n - 1 && x > c->x[i + 1])
        i++;
    if (x <= c->x[0])
        return c->d[0] > 0 ? c->d[0] * pow(x / c->x[0], 2) : 0;
    if (i == c->n - 1) { /* past the last point */
        double a = 2;
        if (c->n > 1 && c->d[i - 1] > 0)
            a = clamp_slope(log(c->d[i] / c->d[i - 1]) / log(c->x[i] / c->x[i - 1]));
        return c->d[i] * pow(x / c->x[i], a);
    }
    if (c->d[i] == 0) /* from a measured zero: the straight line */
        return c->d[i + 1] * (x - c->x[i]) / (c->x[i + 1] - c->x[i]);
    if (!isfinite(c->d[i + 1]))
        return c->d[i] * pow(x / c->x[i], 4);
    return c->d[i] * pow(x / c->x[i], log(c->d[i + 1] / c->d[i]) / log(c->x[i + 1] / c->x[i]));
}

/* ---- the search, for either kind of item --------------------------------------- */

typedef struct pb_item {
    size_t nopt;
    double cost[PB_MAX_OPTS];
    double d[PB_MAX_OPTS];
    size_t val[PB_MAX_OPTS];   /* channels removed, or weights pruned */
} pb_item;

/* The budget search's view of the items (nnz_budget_search): the current
 * choice is an option index per item. */
typedef struct pb_search {
    pb_item *it;
    size_t n;
    nnz_alloc_item *ai;        /* it[] as the equal-slope allocation reads it */
    size_t *choice;
    size_t *best;              /* the best that held (after the search: the chosen) */
    size_t *last;              /* the choice applied last */
    /* put choice[i] (an option index per item) into the interpreter */
    int (*apply)(void *ctx, const pb_item *it, const size_t *choice, nnz_error *e);
    void *ctx;
    nnz_budget_search bs;
} pb_search;

static double search_allocate(void *ctx, double budget, double *cost)
{
    pb_search *s = ctx;
    return nnz_alloc_equal_slope(s->ai, s->n, budget, s->choice, cost);
}

static int search_apply(void *ctx, nnz_error *e)
{
    pb_search *s = ctx;
    memcpy(s->last, s->choice, s->n * sizeof *s->choice);
    return s->apply(s->ctx, s->it, s->choice, e);
}

static int search_same(void *ctx)
{
    pb_search *s = ctx;
    return memcmp(s->last, s->choice, s->n * sizeof *s->choice) == 0;
}

static void search_keep(void *ctx)
{
    pb_search *s = ctx;
    memcpy(s->best, s->choice, s->n * sizeof *s->choice);
}

static void search_use(void *ctx, int best)
{
    pb_search *s = ctx;
    for (size_t i = 0; i < s->n; i++)
        s->choice[i] = best ? s->best[i] : 0; /* option 0: nothing pruned */
}

/* Equal slope, confirmed by whole-model runs (nnz_budget_search). After it
 * s->best is the chosen, which the interpreter holds. */
static int search(pb_search *s, nnz_calib_eval *ev, double x, nnz_error *e)
{
    s->ai = nnz_calloc(s->n + 1, sizeof *s->ai, e);
    s->choice = nnz_calloc(s->n + 1, sizeof *s->choice, e);
    s->best = nnz_calloc(s->n + 1, sizeof *s->best, e);
    s->last = nnz_calloc(s->n + 1, sizeof *s->last, e);
    int rc = s->ai && s->choice && s->best && s->last ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < s->n; i++)
        s->ai[i] = (nnz_alloc_item){ .nopt = s->it[i].nopt, .cost = s->it[i].cost,
                                     .d = s->it[i].d };
    s->bs = (nnz_budget_search){ .ev = ev, .x = x, .what = "prune: confirming",
                                 .rounds = s->n ? PB_ROUNDS : 0, .runs = PB_CONFIRMS,
                                 .inputs = PB_CONFIRM_INPUTS, .close = 1.1, .step = 8,
                                 .lowest = 1e-8, .highest = 1e8, .ctx = s,
                                 .allocate = search_allocate, .apply = search_apply,
                                 .keep = search_keep, .use = search_use, .same = search_same };
    if (rc == 0)
        rc = nnz_budget_search_run(&s->bs, e);
    if (rc == 0)
        memcpy(s->best, s->choice, s->n * sizeof *s->choice);
    free(s->ai);
    free(s->choice);
    free(s->last);
    s->ai = NULL;
    s->choice = NULL;
    s->last = NULL;
    return rc;
}

static cJSON *report_head(cJSON *report, const prune_opts *o, const nnz_calib_eval *ev,
                          const pb_search *s)
{
    cJSON *r = cJSON_AddObjectToObject(report, "prune_budget");
    cJSON_AddNumberToObject(r, "max_output_error", o->max_output_error);
    cJSON_AddStringToObject(r, "structure", o->channel ? "channel" : "weight");
    if (o->channel) {
        cJSON_AddStringToObject(r, "cost", o->cost == PR_COST_MACS ? "macs" : "params");
        cJSON_AddStringToObject(r, "norm", o->norm == PR_L1 ? "l1" : o->norm == PR_L2 ? "l2" : "output");
    }
    cJSON_AddStringToObject(r, "error", o->per_input ? "per-input" : "pooled");
    cJSON_AddNumberToObject(r, "output_error_predicted",
                            s->bs.have_best ? sqrt(s->bs.best_pred) : 0);
    cJSON_AddNumberToObject(r, "confirm_runs", s->bs.confirms);
    cJSON_AddNumberToObject(r, "confirm_inputs", (double)s->bs.inputs_run);
    cJSON_AddNumberToObject(r, "seconds_per_inference", ev->seconds_per_run);
    return r;
}

/* The measured errors of what was chosen, on the calibration (unless
 * `have_cal`: *cal holds it already) and the held-out inputs. */
static int report_errors(cJSON *r, nnz_calib_eval *ev, double x, int have_cal, double *cal,
                         nnz_error *e)
{
    double held = 0;
    if (!have_cal && nnz_calib_eval_error(ev, 0, ev->ncal, cal, NULL, e) != 0)
        return -1;
    if (ev->nfeeds > ev->ncal && nnz_calib_eval_error(ev, ev->ncal, ev->nfeeds, &held, NULL, e) != 0)
        return -1;
    nnz_calib_report_errors(r, ev, x, *cal, held);
    return 0;
}

static void report_curve(cJSON *x, const char *key, const pb_curve *c)
{
    cJSON *a = cJSON_AddArrayToObject(x, "sensitivity");
    for (int i = 0; i < c->n; i++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddNumberToObject(p, key, c->x[i]);
        if (isfinite(c->d[i]))
            cJSON_AddNumberToObject(p, "output_error", sqrt(c->d[i]));
        else
            cJSON_AddNullToObject(p, "output_error");
        cJSON_AddItemToArray(a, p);
    }
}

static int open_eval(const nnz_calib *cal, nnz_model *m, const prune_opts *o,
                     nnz_calib_eval **ev, nnz_error *e)
{
    if (nnz_calib_eval_open(cal, m, ev, e) != 0)
        return nnz_wrap(e, "calibration: ");
    (*ev)->per_input = o->per_input;
    return 0;
}

/* ---- structured=channel ----------------------------------------------------------------- */

typedef struct pb_chan {
    prune_chan *h;
    nnz_infer *inf;
    size_t *remove;
} pb_chan;

static int chan_apply(void *ctx, const pb_item *it, const size_t *choice, nnz_error *e)
{
    pb_chan *pc = ctx;
    for (size_t g = 0; g < prune_chan_ngroups(pc->h); g++)
        pc->remove[g] = choice ? it[g].val[choice[g]] : 0;
    if (prune_chan_set(pc->h, pc->remove) != 0)
        return -1;
    return prune_chan_zero(pc->h, pc->inf, e);
}

typedef struct pb_rank {
    double err;
    size_t ch;
} pb_rank;

static int cmp_rank(const void *a, const void *b)
{
    const pb_rank *x = a, *y = b;
    if (x->err != y->err)
        return x->err < y->err ? -1 : 1;
    return x->ch < y->ch ? -1 : x->ch > y->ch;
}

/* The error with the channels prune_chan_zero just removed: only what
 * depends on the weights it changed runs again. */
static int chan_error(prune_chan *h, nnz_calib_eval *ev, size_t ns, double *w, nnz_error *e)
{
    const char *names[64];
    size_t n = prune_chan_zeroed(h, names, 64);
    if (n > 64)
        return nnz_calib_eval_error(ev, 0, ns, w, NULL, e);
    return nnz_calib_eval_error_from(ev, names, n, 0, ns, w, NULL, e);
}

/* norm=output: each channel of each group removed alone, the output error
 * measured on the sensitivity inputs; the group's channels then go in the
 * order of those errors (ties: by index). One run per channel and input. */
static int measure_channels(prune_chan *h, nnz_calib_eval *ev, const nnz_calib *cal, size_t ns,
                            size_t *remove, double **chan_err, nnz_error *e)
{
    size_t ng = prune_chan_ngroups(h), done = 0, total = 0;
    for (size_t g = 0; g < ng; g++)
        total += prune_chan_group_at(h, g)->channels;
    for (size_t g = 0; g < ng; g++) {
        size_t C = prune_chan_group_at(h, g)->channels;
        size_t *order = nnz_malloc(C * sizeof *order + 1, e);
        pb_rank *rk = nnz_malloc(C * sizeof *rk + 1, e);
        int rc = order && rk && (chan_err[g] = nnz_malloc(C * sizeof **chan_err + 1, e)) ? 0 : -1;
        memset(remove, 0, ng * sizeof *remove);
        remove[g] = 1;
        for (size_t ch = 0; rc == 0 && ch < C; ch++) {
            nnz_calib_progress(cal, "prune: channel importance", ++done, total);
            for (size_t k = 0; k < C; k++) /* ch first, then the rest */
                order[k] = k == 0 ? ch : k <= ch ? k - 1 : k;
            double w;
            if ((rc = prune_chan_set_order(h, g, order, e)) != 0 ||
                (rc = prune_chan_set(h, remove)) != 0 || (rc = prune_chan_zero(h, ev->inf, e)) != 0 ||
                (rc = chan_error(h, ev, ns, &w, e)) != 0)
                break;
            chan_err[g][ch] = w;
            rk[ch] = (pb_rank){ .err = isnan(w) ? INFINITY : w, .ch = ch };
        }
        if (rc == 0) {
            qsort(rk, C, sizeof *rk, cmp_rank);
            for (size_t k = 0; k < C; k++)
                order[k] = rk[k].ch;
            rc = prune_chan_set_order(h, g, order, e);
        }
        free(order);
        free(rk);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int budget_channels(nnz_model *m, const nnz_stage *st, const nnz_calib *cal,
                           prune_opts *o, cJSON *report, nnz_error *e)
{
    double t0 = now();
    prune_chan *h;
    if (prune_chan_open(m, st, &h, e) != 0)
        return -1;
    nnz_calib_eval *ev = NULL;
    size_t ng = prune_chan_ngroups(h);
    pb_item *it = nnz_calloc(ng + 1, sizeof *it, e);
    pb_curve *cv = nnz_calloc(ng + 1, sizeof *cv, e);
    size_t *remove = nnz_calloc(ng + 1, sizeof *remove, e);
    nnz_macs before = { 0 }, after = { 0 };
    pb_search s = { 0 };
    int rc = it && cv && remove ? open_eval(cal, m, o, &ev, e) : -1;
    if (rc == 0 && ev->nfeeds)
        rc = nnz_macs_count(cal, m, &ev->feeds[0], &before, e);
    if (rc == 0)
        prune_chan_costs(h, nnz_macs_node, &before);
    pb_chan ctx = { .h = h, .inf = ev ? ev->inf : NULL, .remove = remove };
    double floor_d = PB_FLOOR * o->max_output_error * o->max_output_error;
    size_t ns = ev && ev->ncal < PB_SENS_INPUTS ? ev->ncal : PB_SENS_INPUTS;
    double **chan_err = nnz_calloc(ng + 1, sizeof *chan_err, e);
    if (!chan_err)
        rc = -1;
    if (rc == 0) /* the model's own values on the sensitivities' inputs */
        rc = nnz_calib_eval_keep(ev, ns, e);
    if (rc == 0 && o->norm == PR_OUTPUT)
        rc = measure_channels(h, ev, cal, ns, remove, chan_err, e);
    /* sensitivities: each group alone at a few fractions of its channels */
    for (size_t g = 0; rc == 0 && g < ng; g++) {
        const prune_chan_group *G = prune_chan_group_at(h, g);
        nnz_calib_progress(cal, "prune: sensitivity", g + 1, ng);
        for (int p = 0; rc == 0 && p < PB_NPTS; p++) {
            size_t k = (size_t)floor(chan_points[p] * (double)G->channels + 0.5);
            k = k < 1 ? 1 : k > G->channels - 1 ? G->channels - 1 : k;
            if (cv[g].n > 0 && (double)k <= cv[g].x[cv[g].n - 1] * (double)G->channels + 0.5)
                continue;
            memset(remove, 0, ng * sizeof *remove);
            remove[g] = k;
            double w;
            if ((rc = prune_chan_set(h, remove)) != 0 || (rc = prune_chan_zero(h, ev->inf, e)) != 0 ||
                (rc = chan_error(h, ev, ns, &w, e)) != 0)
                break;
            /* the channels really removed (a Concat's partner may keep some) */
            size_t got = G->channels - prune_chan_group_at(h, g)->kept;
            if (got > 0)
                curve_add(&cv[g], (double)got / (double)G->channels, w * w);
        }
        /* the options: a count grid over 0..C-1 */
        size_t C = G->channels, nopt = C <= PB_MAX_OPTS ? C : PB_MAX_OPTS;
        double per = o->cost == PR_COST_MACS ? G->macs : G->params;
        it[g].nopt = nopt;
        for (size_t k = 0; k < nopt; k++) {
            size_t n = nopt == C ? k : (size_t)floor((double)k * (double)(C - 1) / (double)(nopt - 1) + 0.5);
            it[g].val[k] = n;
            it[g].cost[k] = -(double)n * per;
            it[g].d[k] = n ? fmax(curve_at(&cv[g], (double)n / (double)C), floor_d) : 0;
        }
    }
    if (rc == 0) {
        s = (pb_search){ .it = it, .n = ng, .apply = chan_apply, .ctx = &ctx };
        rc = nnz_calib_eval_keep(ev, 0, e); /* the kept values served their turn */
        if (rc == 0) /* the choice (in the interpreter), then the rewrite */
            rc = search(&s, ev, o->max_output_error, e);
    }
    cJSON *r = NULL, *gs = NULL;
    double search_err = s.bs.measured;
    if (rc == 0) {
        r = report_head(report, o, ev, &s);
        cJSON_AddNumberToObject(r, "output_error_search", search_err);
        gs = cJSON_AddArrayToObject(r, "groups");
        double p_saved = 0, m_saved = 0;
        for (size_t g = 0; g < ng; g++) {
            const prune_chan_group *G = prune_chan_group_at(h, g);
            size_t gone = G->channels - G->kept;
            cJSON *x = cJSON_CreateObject();
            cJSON_AddNumberToObject(x, "group", G->space);
            cJSON *ls = cJSON_AddArrayToObject(x, "layers");
            for (size_t k = 0; prune_chan_layer(h, g, k); k++)
                cJSON_AddItemToArray(ls, cJSON_CreateString(prune_chan_layer(h, g, k)));
            cJSON_AddNumberToObject(x, "channels", (double)G->channels);
            cJSON_AddNumberToObject(x, "kept", (double)G->kept);
            cJSON_AddNumberToObject(x, "removed", (double)gone);
            cJSON_AddNumberToObject(x, "params_saved", (double)gone * G->params);
            cJSON_AddNumberToObject(x, "macs_saved", (double)gone * G->macs);
            double alone = curve_at(&cv[g], (double)gone / (double)G->channels);
            cJSON_AddNumberToObject(x, "output_error_alone", isfinite(alone) ? sqrt(alone) : -1);
            report_curve(x, "fraction", &cv[g]);
            if (chan_err[g]) {
                cJSON *ce = cJSON_AddArrayToObject(x, "channel_output_errors");
                for (size_t k = 0; k < G->channels; k++)
                    cJSON_AddItemToArray(ce, cJSON_CreateNumber(chan_err[g][k]));
            }
            cJSON_AddItemToArray(gs, x);
            p_saved += (double)gone * G->params;
            m_saved += (double)gone * G->macs;
        }
        cJSON_AddNumberToObject(r, "params_saved_estimate", p_saved);
        cJSON_AddNumberToObject(r, "macs_saved_estimate", m_saved);
    }
    /* the rewrite, measured on the rewritten graph against the same reference */
    if (ev) {
        nnz_calib_eval_free(ev);
        ev = NULL;
    }
    if (rc == 0)
        rc = prune_chan_commit(h, report, e);
    double meas = 0;
    if (rc == 0 && (rc = open_eval(cal, m, o, &ev, e)) == 0)
        rc = report_errors(r, ev, o->max_output_error, 0, &meas, e);
    if (rc == 0 && ev->nfeeds && (rc = nnz_macs_count(cal, m, &ev->feeds[0], &after, e)) == 0) {
        cJSON_AddNumberToObject(r, "macs_before", before.total);
        cJSON_AddNumberToObject(r, "macs_after", after.total);
    }
    if (rc == 0) {
        cJSON *pr = cJSON_GetObjectItem(report, "prune");
        cJSON_AddNumberToObject(r, "params_before",
                                cJSON_GetNumberValue(cJSON_GetObjectItem(pr, "params_before")));
        cJSON_AddNumberToObject(r, "params_after",
                                cJSON_GetNumberValue(cJSON_GetObjectItem(pr, "params_after")));
        cJSON_AddNumberToObject(r, "seconds", now() - t0);
        if (meas > o->max_output_error)
            nnz_report_warn(report, "prune: the rewritten graph's output error %.4g on the "
                            "calibration inputs is above the budget %g, which the search "
                            "measured at %.4g (values that are not finite in a removed channel?)",
                            meas, o->max_output_error, search_err);
    }
    nnz_calib_eval_free(ev);
    nnz_macs_free(&before);
    nnz_macs_free(&after);
    for (size_t g = 0; chan_err && g < ng; g++)
        free(chan_err[g]);
    free(chan_err);
    free(s.best);
    free(it);
    free(cv);
    free(remove);
    prune_chan_free(h);
    return rc;
}

/* ---- single weights ------------------------------------------------------------------------ */

typedef struct pb_tensor {
    nnz_tensor *t;
    float *orig;
    float *live;
    size_t n;
    prune_order ord;
    int measured;
} pb_tensor;

typedef struct pb_weights {
    pb_tensor *pt;
    size_t npt;
} pb_weights;

static void weights_put(pb_tensor *q, size_t k)
{
    prune_layout lay = { .nunits = q->n, .inner = 1 };
    memcpy(q->live, q->orig, q->n * sizeof *q->live);
    prune_apply(q->live, NULL, q->n, &lay, &q->ord, k);
}

static int weights_apply(void *ctx, const pb_item *it, const size_t *choice, nnz_error *e)
{
    (void)e;
    pb_weights *w = ctx;
    for (size_t i = 0; i < w->npt; i++)
        weights_put(&w->pt[i], choice ? it[i].val[choice[i]] : 0);
    return 0;
}

/* The first k weights of q's order become +0 in the model's own data (any
 * float type: +0 is all zero bits). */
static int write_pruned(nnz_model *m, pb_tensor *q, size_t k, nnz_error *e)
{
    if (k == 0)
        return 0;
    const uint8_t *d = nnz_tensor_data(m, q->t, e);
    size_t es = nnz_dtype_size(q->t->dtype);
    if (!d)
        return -1;
    uint8_t *out = nnz_malloc(q->t->nbytes + 1, e);
    if (!out)
        return -1;
    memcpy(out, d, q->t->nbytes);
    for (size_t j = 0; j < k; j++)
        memset(out + es * q->ord.unit[j], 0, es);
    nnz_tensor_set_data(q->t, out, q->t->nbytes);
    return 0;
}

static int keep_choices(prune_opts *o, const pb_tensor *pt, size_t npt, const pb_item *it,
                        const size_t *best, nnz_error *e)
{
    if (!(o->choice = nnz_calloc(npt + 1, sizeof *o->choice, e)) ||
        nnz_strmap_init(&o->choices, npt, e) != 0)
        return -1;
    for (size_t i = 0; i < npt; i++) {
        prune_choice *c = &o->choice[i];
        if (!(c->name = nnz_strdup(pt[i].t->name, e)))
            return -1;
        o->nchoice = i + 1;
        if (nnz_strmap_put(&o->choices, c->name, i, e) != 0)
            return -1;
        c->units = it[i].val[best[i]];
        c->rel_l2 = prune_order_error(&pt[i].ord, c->units);
        c->measured = pt[i].measured;
    }
    return 0;
}

const prune_choice *prune_choice_find(const prune_opts *o, const char *name)
{
    size_t v;
    return o->nchoice && nnz_strmap_get(&o->choices, name, &v) ? &o->choice[v] : NULL;
}

static int budget_weights(nnz_model *m, const nnz_stage *st, const nnz_calib *cal,
                          prune_opts *o, cJSON *report, nnz_error *e)
{
    double t0 = now();
    nnz_calib_eval *ev;
    if (open_eval(cal, m, o, &ev, e) != 0)
        return -1;
    size_t nsel = 0;
    double total = 0;
    for (size_t i = 0; i < m->ntensors; i++)
        if (st->selected[i]) {
            nsel++;
            total += (double)m->tensors[i].count;
        }
    pb_tensor *pt = nnz_calloc(nsel + 1, sizeof *pt, e);
    pb_item *it = nnz_calloc(nsel + 1, sizeof *it, e);
    pb_curve *cv = nnz_calloc(nsel + 1, sizeof *cv, e);
    pb_weights w = { .pt = pt };
    pb_search s = { 0 };
    size_t ns = ev->ncal < PB_SENS_INPUTS ? ev->ncal : PB_SENS_INPUTS;
    double floor_d = PB_FLOOR * o->max_output_error * o->max_output_error;
    int rc = pt && it && cv ? 0 : -1;
    if (rc == 0) /* the model's own values on the sensitivities' inputs */
        rc = nnz_calib_eval_keep(ev, ns, e);
    for (size_t i = 0; rc == 0 && i < m->ntensors; i++) {
        nnz_tensor *t = &m->tensors[i];
        if (!st->selected[i])
            continue;
        pb_tensor *q = &pt[w.npt];
        size_t cnt;
        q->t = t;
        q->n = t->count;
        q->live = nnz_infer_weight(ev->inf, t->name, &cnt);
        if (!q->live || cnt != q->n)
            continue; /* the graph never reads it as a float weight: left whole */
        if (!(q->orig = nnz_tensor_floats(m, t, e))) {
            rc = -1;
            break;
        }
        w.npt++;
        prune_layout lay = { .nunits = q->n, .inner = 1 };
        for (size_t k = 0; rc == 0 && k < q->n; k++)
            if (!isfinite(q->orig[k]))
                rc = nnz_fail(e, NNZ_EXIT_INPUT, "tensor '%s': value %zu is not finite; "
                              "pruning ranks weights by magnitude and needs finite weights",
                              t->name, k);
        if (rc == 0)
            rc = prune_order_make(q->orig, q->n, &lay, PR_L2, &q->ord, e);
        nnz_tensor_release(t);
        if (rc != 0)
            break;
        q->measured = (double)q->n * PB_SMALL_SHARE >= total;
        nnz_calib_progress(cal, "prune: sensitivity", w.npt, nsel);
        pb_item *x = &it[w.npt - 1];
        pb_curve *c = &cv[w.npt - 1];
        for (int p = 0; rc == 0 && q->measured && p < PB_NPTS; p++) {
            size_t k = prune_count_sparsity(q->n, weight_points[p]);
            double r = prune_order_error(&q->ord, k), err;
            weights_put(q, k);
            const char *changed[1] = { t->name };
            if ((rc = nnz_calib_eval_error_from(ev, changed, 1, 0, ns, &err, NULL, e)) != 0)
                break;
            curve_add(c, r, err * err);
        }
        weights_put(q, 0);
        x->nopt = q->measured ? PB_NWGRID : 1;
        for (size_t k = 0; k < x->nopt; k++) {
            size_t u = prune_count_sparsity(q->n, weight_grid[k]);
            x->val[k] = u >= q->n ? q->n - 1 : u;
            x->cost[k] = (double)(q->n - x->val[k]);
            x->d[k] = x->val[k] ? fmax(curve_at(c, prune_order_error(&q->ord, x->val[k])), floor_d)
                                : 0;
        }
    }
    if (rc == 0) {
        s = (pb_search){ .it = it, .n = w.npt, .apply = weights_apply, .ctx = &w };
        rc = nnz_calib_eval_keep(ev, 0, e); /* the kept values served their turn */
        if (rc == 0) /* the choice, in the interpreter and measured */
            rc = search(&s, ev, o->max_output_error, e);
    }
    if (rc == 0) {
        double meas = s.bs.measured, kept = 0, all = 0;
        cJSON *r = report_head(report, o, ev, &s);
        rc = report_errors(r, ev, o->max_output_error, 1, &meas, e);
        cJSON *ts = cJSON_AddArrayToObject(r, "tensors");
        for (size_t i = 0; rc == 0 && i < w.npt; i++) {
            pb_tensor *q = &pt[i];
            size_t k = it[i].val[s.best[i]];
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "name", q->t->name);
            cJSON_AddNumberToObject(x, "elements", (double)q->n);
            cJSON_AddNumberToObject(x, "pruned", (double)k);
            cJSON_AddNumberToObject(x, "sparsity", (double)k / (double)q->n);
            cJSON_AddNumberToObject(x, "rel_l2", prune_order_error(&q->ord, k));
            cJSON_AddBoolToObject(x, "measured", q->measured);
            double alone = curve_at(&cv[i], prune_order_error(&q->ord, k));
            cJSON_AddNumberToObject(x, "output_error_alone", isfinite(alone) ? sqrt(alone) : -1);
            report_curve(x, "rel_l2", &cv[i]);
            cJSON_AddItemToArray(ts, x);
            kept += (double)(q->n - k);
            all += (double)q->n;
            rc = write_pruned(m, q, k, e);
            if (rc != 0)
                nnz_wrap(e, "tensor '%s': ", q->t->name);
            nnz_tensor_release(q->t);
        }
        cJSON_AddNumberToObject(r, "weights", all);
        cJSON_AddNumberToObject(r, "weights_pruned", all - kept);
        cJSON_AddNumberToObject(r, "sparsity", all > 0 ? (all - kept) / all : 0);
        cJSON_AddNumberToObject(r, "seconds", now() - t0);
        if (rc == 0)
            rc = keep_choices(o, pt, w.npt, it, s.best, e);
    }
    for (size_t i = 0; i < w.npt; i++) {
        free(pt[i].orig);
        prune_order_free(&pt[i].ord);
    }
    free(pt);
    free(it);
    free(cv);
    free(s.best);
    nnz_calib_eval_free(ev);
    return rc;
}

/* ---- the entry --------------------------------------------------------------------------- */

int prune_budget(nnz_model *m, const nnz_stage *st, prune_opts *o, cJSON *report, nnz_error *e)
{
    if (!st->calib)
        return nnz_fail(e, NNZ_EXIT_USAGE,
                        "max-output-error=%g measures the model's outputs: give calibration "
                        "inputs (compress --inputs DIR or --input-spec FILE)",
                        o->max_output_error);
    /* Every evaluator measures against the same reference: the one a
     * compress run keeps for all its stages, else this stage's own (the
     * model before the rewrite, which the rewritten graph is measured
     * against). */
    nnz_calib cal = *st->calib;
    nnz_calib_ref own = { 0 };
    if (!cal.keep)
        cal.keep = &own;
    int rc = o->channel ? budget_channels(m, st, &cal, o, report, e)
                        : budget_weights(m, st, &cal, o, report, e);
    nnz_calib_ref_free(&own);
    return rc;
}
