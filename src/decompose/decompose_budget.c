/* decompose_budget.c - decompose:max-output-error=X: per-layer ranks chosen
 * so that the model's worst output relative L2 on the calibration inputs
 * stays within X with the fewest parameters (docs/passes/decompose.md,
 * "Output budget").
 *
 * Each layer's knob is its weight error r (the max-rel-error rule, on a
 * grid): the ranks, and so the parameters, follow from its spectra; its
 * output error D(r), the rest of the model as it is, is measured in the
 * interpreter with the weight replaced by its factorised reconstruction at
 * two grid points and extended as a power law. One Lagrange multiplier
 * trades parameters against D across layers (equal slope), whole-model
 * runs with every chosen reconstruction confirm it, and the budget is
 * scaled until the measured error holds. The walk then factorises each
 * layer with max-rel-error at its chosen r: the same ranks, the same
 * factors, so the rewritten model computes what was measured (up to the
 * order of float operations). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decompose.h"
#include "infer_calib.h"

static const double grid[] = { 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5,
                               0.6 };
#define DB_N (int)(sizeof grid / sizeof grid[0])
#define DB_SENS_INPUTS 2
#define DB_CONFIRMS 10
#define DB_CONFIRM_INPUTS 8
#define DB_ROUNDS 3

typedef struct db_layer {
    nnz_tensor *t;
    float *orig, *live;
    size_t n;
    int tucker;
    size_t m, cols;               /* svd: the weight as dims[0] x the rest */
    size_t T, S, P;               /* tucker */
    int in_mode;
    double *a;                    /* the weight, double */
    double *u, *s, *vt;           /* svd */
    size_t k;
    double *so, *si;              /* tucker: the unfoldings' spectra */
    size_t ko, ki;
    double params[DB_N];          /* parameters at each grid point */
    int saves[DB_N];
    double d_lo, alpha;
    int k_lo;
    int choice;                   /* grid index, -1: kept */
    int applied;                  /* -2: never */
} db_layer;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The ranks at grid point k (tucker: both modes, clamped as the walk does). */
static void ranks_at(const db_layer *L, int k, size_t *r1, size_t *r2, nnz_error *e)
{
    if (!L->tucker) {
        size_t r = dec_rank_error(L->s, L->k, grid[k]);
        *r1 = r < 1 ? 1 : r > L->k ? L->k : r;
        *r2 = 0;
        return;
    }
    size_t ro = L->T, ri = L->S;
    if (dec_tucker_ranks_error(L->so, L->ko, L->si, L->ki, L->T, L->S, L->P, L->in_mode,
                               grid[k], &ro, &ri, e) != 0) {
        ro = L->T;
        ri = L->S;
    }
    if (ro > L->T)
        ro = L->T;
    if (ro < L->T && ro > L->ko)
        ro = L->ko;
    if (ri > L->S)
        ri = L->S;
    if (ri < L->S && ri > L->ki)
        ri = L->ki;
    *r1 = ro;
    *r2 = ri;
}

/* Put the reconstruction at grid point k (the original, k = -1) in the
 * interpreter. */
static int apply(db_layer *L, int k, int iters, nnz_error *e)
{
    if (L->applied == k)
        return 0;
    if (k < 0 || !L->saves[k]) {
        memcpy(L->live, L->orig, L->n * sizeof *L->live);
    } else if (!L->tucker) {
        size_t r, unused;
        ranks_at(L, k, &r, &unused, e);
        for (size_t i = 0; i < L->m; i++)
            for (size_t j = 0; j < L->cols; j++) {
                double v = 0;
                for (size_t q = 0; q < r; q++)
                    v += L->u[i * L->k + q] * L->s[q] * L->vt[q * L->cols + j];
                L->live[i * L->cols + j] = (float)v;
            }
    } else {
        size_t ro, ri;
        ranks_at(L, k, &ro, &ri, e);
        dec_tucker tk = { 0 };
        double *rec = nnz_malloc(L->n * sizeof *rec, e);
        int rc = rec ? dec_tucker2(L->a, L->T, L->S, L->P, ro, ri, iters, &tk, e) : -1;
        if (rc == 0) {
            dec_tucker_rebuild(&tk, rec);
            for (size_t i = 0; i < L->n; i++)
                L->live[i] = (float)rec[i];
        }
        dec_tucker_free(&tk);
        free(rec);
        if (rc != 0)
            return rc < 0 ? -1 : nnz_fail(e, NNZ_EXIT_INTERNAL, "HOOI did not converge");
    }
    L->applied = k;
    return 0;
}

/* The layer view of t, as the walk will see it; 0: the walk will not
 * factorise it. */
static int layer_of(nnz_model *m, nnz_tensor *t, const dec_opts *o, db_layer *L, nnz_error *e)
{
    const Onnx__NodeProto *n = t->consumer;
    memset(L, 0, sizeof *L);
    if (!n || !n->op_type || t->n_consumers != 1 || !nnz_dtype_is_float(t->dtype) ||
        t->count == 0)
        return 0;
    int conv = strcmp(n->op_type, "Conv") == 0;
    if (conv) {
        if (t->consumer_slot != 1 || nnz_node_int(n, "group", 1) != 1 || t->ndims < 3 ||
            t->dims[0] < 1 || t->dims[1] < 1)
            return 0;
    } else if (strcmp(n->op_type, "Gemm") == 0 || strcmp(n->op_type, "MatMul") == 0) {
        if (t->consumer_slot > 1 || t->ndims != 2)
            return 0;
    } else {
        return 0;
    }
    L->t = t;
    L->n = t->count;
    L->applied = -2;
    L->choice = -1;
    size_t T = (size_t)t->dims[0], rest = t->count / T;
    L->tucker = conv && rest / (size_t)t->dims[1] > 1;
    if (!(L->orig = nnz_tensor_floats(m, t, e)) || !(L->a = nnz_malloc(L->n * sizeof *L->a, e)))
        return -1;
    for (size_t i = 0; i < L->n; i++) {
        if (!isfinite(L->orig[i]))
            return 0;
        L->a[i] = L->orig[i];
    }
    int rc;
    if (!L->tucker) {
        L->m = T;
        L->cols = rest;
        L->k = T < rest ? T : rest;
        L->u = nnz_malloc(T * L->k * sizeof *L->u, e);
        L->s = nnz_malloc(L->k * sizeof *L->s, e);
        L->vt = nnz_malloc(L->k * rest * sizeof *L->vt, e);
        if (!L->u || !L->s || !L->vt)
            return -1;
        if ((rc = dec_svd(L->a, T, rest, L->u, L->s, L->vt, e)) != 0)
            return rc < 0 ? -1 : 0;
    } else {
        L->T = T;
        L->S = (size_t)t->dims[1];
        L->P = rest / L->S;
        L->in_mode = L->S >= (size_t)o->min_in_channels;
        L->ko = T < L->S * L->P ? T : L->S * L->P;
        L->ki = L->S < T * L->P ? L->S : T * L->P;
        double *unf = nnz_malloc(L->n * sizeof *unf, e);
        L->so = nnz_malloc(L->ko * sizeof *L->so, e);
        L->si = nnz_malloc(L->ki * sizeof *L->si, e);
        if (!unf || !L->so || !L->si) {
            free(unf);
            return -1;
        }
        dec_unfold_in(L->a, T, L->S, L->P, unf);
        rc = dec_spectrum(L->a, T, L->S * L->P, L->so, e);
        if (rc == 0)
            rc = dec_spectrum(unf, L->S, T * L->P, L->si, e);
        free(unf);
        if (rc != 0)
            return rc < 0 ? -1 : 0;
    }
    int any = 0;
    for (int k = 0; k < DB_N; k++) {
        size_t r1, r2;
        ranks_at(L, k, &r1, &r2, e);
        double pa = L->tucker ? dec_tucker_params(L->T, L->S, L->P, r1, r2)
                              : (double)r1 * (double)(L->m + L->cols);
        L->saves[k] = pa < (double)L->n && !(L->tucker && r1 == L->T && r2 == L->S);
        L->params[k] = L->saves[k] ? pa : (double)L->n;
        any |= L->saves[k];
    }
    return any;
}

static void free_layer(db_layer *L)
{
    free(L->orig);
    free(L->a);
    free(L->u);
    free(L->s);
    free(L->vt);
    free(L->so);
    free(L->si);
}

static double predicted_d(const db_layer *L, int k)
{
    if (k < 0 || !L->saves[k] || L->k_lo < 0)
        return 0;
    double a = grid[k] < grid[L->k_lo] ? 2 : L->alpha;
    return L->d_lo * pow(grid[k] / grid[L->k_lo], a);
}

/* Returns the predicted sum of D. */
static double choose(db_layer *ls, size_t n, double lambda, double *params)
{
    double d = 0, p = 0;
    for (size_t i = 0; i < n; i++) {
        db_layer *L = &ls[i];
        int best = -1;
        double bc = (double)L->n;
        for (int k = 0; L->k_lo >= 0 && k < DB_N; k++) {
            if (!L->saves[k])
                continue;
            double c = L->params[k] + lambda * predicted_d(L, k);
            if (c < bc) {
                bc = c;
                best = k;
            }
        }
        L->choice = best;
        d += predicted_d(L, best);
        p += best < 0 ? (double)L->n : L->params[best];
    }
    *params = p;
    return d;
}

static double allocate(db_layer *ls, size_t n, double budget, double *params)
{
    double lo = -20, hi = 60;
    for (int it = 0; it < 80; it++) {
        double mid = 0.5 * (lo + hi);
        if (choose(ls, n, pow(10, mid), params) <= budget)
            hi = mid;
        else
            lo = mid;
    }
    return choose(ls, n, pow(10, hi), params);
}

static int apply_all(db_layer *ls, size_t n, int iters, nnz_error *e)
{
    for (size_t i = 0; i < n; i++)
        if (apply(&ls[i], ls[i].choice, iters, e) != 0)
            return nnz_wrap(e, "tensor '%s': ", ls[i].t->name);
    return 0;
}

/* The budget search's view of the layers (nnz_budget_search). */
typedef struct db_search {
    db_layer *ls;
    size_t n;
    int iters;
    int *best;                    /* the best choice that held */
    int *last;                    /* the choice applied last */
} db_search;

static double search_allocate(void *ctx, double budget, double *params)
{
    db_search *c = ctx;
    return allocate(c->ls, c->n, budget, params);
}

static int search_apply(void *ctx, nnz_error *e)
{
    db_search *c = ctx;
    for (size_t i = 0; i < c->n; i++)
        c->last[i] = c->ls[i].choice;
    return apply_all(c->ls, c->n, c->iters, e);
}

static int search_same(void *ctx)
{
    db_search *c = ctx;
    for (size_t i = 0; i < c->n; i++)
        if (c->last[i] != c->ls[i].choice)
            return 0;
    return 1;
}

static void search_keep(void *ctx)
{
    db_search *c = ctx;
    for (size_t i = 0; i < c->n; i++)
        c->best[i] = c->ls[i].choice;
}

static void search_use(void *ctx, int best)
{
    db_search *c = ctx;
    for (size_t i = 0; i < c->n; i++)
        c->ls[i].choice = best ? c->best[i] : -1; /* nothing: every layer kept */
}

void dec_budget_free(dec_budget *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++)
        free(b->name[i]);
    free(b->name);
    free(b->target);
    nnz_strmap_free(&b->map);
    free(b);
}

const double *dec_budget_target(const dec_budget *b, const char *name)
{
    size_t v;
    return b && nnz_strmap_get(&b->map, name, &v) ? &b->target[v] : NULL;
}

int dec_budget_run(nnz_model *m, const nnz_stage *st, dec_opts *o, cJSON *report, nnz_error *e)
{
    const nnz_calib *cal = st->calib;
    if (!cal)
        return nnz_fail(e, NNZ_EXIT_USAGE,
                        "max-output-error=%g measures the model's outputs: give calibration "
                        "inputs (compress --inputs DIR or --input-spec FILE)",
                        o->max_output_error);
    double t0 = now();
    nnz_calib_eval *ev;
    if (nnz_calib_eval_open(cal, m, &ev, e) != 0)
        return nnz_wrap(e, "calibration: ");
    db_layer *ls = nnz_calloc(m->ntensors + 1, sizeof *ls, e);
    double *per_out = nnz_calloc(ev->nout + 1, sizeof *per_out, e);
    int *best = nnz_calloc(m->ntensors + 1, sizeof *best, e);
    int *last = nnz_calloc(m->ntensors + 1, sizeof *last, e);
    size_t nl = 0;
    int rc = ls && per_out && best && last ? 0 : -1;
    size_t nsel = 0;
    for (size_t i = 0; i < m->ntensors; i++)
        nsel += st->selected[i];
    size_t ns = ev->ncal < DB_SENS_INPUTS ? ev->ncal : DB_SENS_INPUTS;
    if (rc == 0) /* the model's own values on the sensitivities' inputs */
        rc = nnz_calib_eval_keep(ev, ns, e);
    for (size_t i = 0; rc == 0 && i < m->ntensors; i++) {
        if (!st->selected[i])
            continue;
        nnz_calib_progress(cal, "decompose: sensitivity", i + 1, m->ntensors);
        db_layer *L = &ls[nl];
        int ok = layer_of(m, &m->tensors[i], o, L, e);
        size_t cnt;
        if (ok > 0 && (L->live = nnz_infer_weight(ev->inf, L->t->name, &cnt)) && cnt == L->n) {
            nl++;
        } else {
            free_layer(L);
            memset(L, 0, sizeof *L);
            rc = ok < 0 ? -1 : 0;
            nnz_tensor_release(&m->tensors[i]);
            continue;
        }
        nnz_tensor_release(&m->tensors[i]);
        /* two saving points, some way apart, for the power law */
        int lo = -1, hi = -1;
        for (int k = 0; k < DB_N; k++)
            if (L->saves[k] && grid[k] >= 0.05 && lo < 0)
                lo = k;
        for (int k = 0; lo < 0 && k < DB_N; k++)
            if (L->saves[k])
                lo = k;
        for (int k = lo + 1; k < DB_N; k++)
            if (L->saves[k] && (hi < 0 || k <= lo + 3))
                hi = k;
        double d[2] = { 0, 0 };
        int ks[2] = { lo, hi };
        for (int j = 0; rc == 0 && j < 2; j++) {
            if (ks[j] < 0)
                continue;
            double w;
            const char *changed[1] = { L->t->name };
            if ((rc = apply(L, ks[j], (int)o->iters, e)) == 0 &&
                (rc = nnz_calib_eval_error_from(ev, changed, 1, 0, ns, &w, per_out, e)) == 0)
                d[j] = nnz_worst_of(per_out, ev->nout);
        }
        if (rc == 0)
            rc = apply(L, -1, (int)o->iters, e);
        L->k_lo = lo;
        L->alpha = 2;
        if (!isfinite(d[0])) {
            L->k_lo = -1; /* breaks an output: kept */
        } else {
            L->d_lo = d[0];
            if (hi >= 0 && d[0] > 0 && d[1] > 0 && isfinite(d[1]))
                L->alpha = fmin(3, fmax(1, log(d[1] / d[0]) / log(grid[hi] / grid[lo])));
        }
        if (rc != 0)
            nnz_wrap(e, "tensor '%s': ", L->t->name);
    }
    /* equal slope, confirmed by whole-model runs (nnz_budget_search; the
     * kept values served the sensitivities) */
    if (rc == 0)
        rc = nnz_calib_eval_keep(ev, 0, e);
    db_search dc = { .ls = ls, .n = nl, .iters = (int)o->iters, .best = best, .last = last };
    nnz_budget_search s = { .ev = ev, .x = o->max_output_error, .what = "decompose: confirming",
                            .rounds = nl ? DB_ROUNDS : 0, .runs = DB_CONFIRMS,
                            .inputs = DB_CONFIRM_INPUTS, .close = 1.15, .step = 4,
                            .lowest = 1e-6, .highest = INFINITY, .ctx = &dc,
                            .allocate = search_allocate, .apply = search_apply,
                            .keep = search_keep, .use = search_use, .same = search_same };
    double params = 0, held = 0, before = 0;
    for (size_t i = 0; i < nl; i++)
        before += (double)ls[i].n;
    if (rc == 0)
        rc = nnz_budget_search_run(&s, e);
    if (rc == 0 && ev->nfeeds > ev->ncal)
        rc = nnz_calib_eval_error(ev, ev->ncal, ev->nfeeds, &held, NULL, e);
    dec_budget *res = rc == 0 ? nnz_calloc(1, sizeof *res, e) : NULL;
    if (rc == 0 && (!res || nnz_strmap_init(&res->map, nl + 1, e) != 0 ||
                    !(res->name = nnz_calloc(nl + 1, sizeof *res->name, e)) ||
                    !(res->target = nnz_calloc(nl + 1, sizeof *res->target, e))))
        rc = -1;
    for (size_t i = 0; rc == 0 && i < nl; i++)
        params += ls[i].choice < 0 ? (double)ls[i].n : ls[i].params[ls[i].choice];
    if (rc == 0) {
        cJSON *r = cJSON_AddObjectToObject(report, "decompose_budget");
        cJSON_AddNumberToObject(r, "max_output_error", o->max_output_error);
        nnz_calib_report_errors(r, ev, o->max_output_error, s.measured, held);
        cJSON_AddNumberToObject(r, "parameters_before", before);
        cJSON_AddNumberToObject(r, "parameters_after", params);
        cJSON_AddNumberToObject(r, "confirm_runs", s.confirms);
        cJSON_AddNumberToObject(r, "confirm_inputs", (double)s.inputs_run);
        cJSON_AddNumberToObject(r, "seconds", now() - t0);
        cJSON_AddNumberToObject(r, "seconds_per_inference", ev->seconds_per_run);
        cJSON *arr = cJSON_AddArrayToObject(r, "layers");
        for (size_t i = 0; i < nl && rc == 0; i++) {
            const db_layer *L = &ls[i];
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "weight", L->t->name);
            cJSON_AddStringToObject(x, "choice", L->choice < 0 ? "kept" : "factorised");
            if (L->choice >= 0)
                cJSON_AddNumberToObject(x, "weight_rel_l2_target", grid[L->choice]);
            cJSON_AddNumberToObject(x, "parameters",
                                    L->choice < 0 ? (double)L->n : L->params[L->choice]);
            cJSON_AddNumberToObject(x, "parameters_before", (double)L->n);
            if (L->k_lo >= 0)
                cJSON_AddNumberToObject(x, "output_error_at", grid[L->k_lo]);
            cJSON_AddNumberToObject(x, "output_error_alone", sqrt(predicted_d(L, L->k_lo)));
            cJSON_AddItemToArray(arr, x);
            if (!(res->name[res->n] = strdup(L->t->name)) ||
                nnz_strmap_put(&res->map, res->name[res->n], res->n, e) != 0) {
                free(res->name[res->n]);
                rc = nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory");
                break;
            }
            res->target[res->n++] = L->choice < 0 ? -1 : grid[L->choice];
        }
    }
    if (rc == 0) {
        dec_budget_free(o->budget);
        o->budget = res;
    } else {
        dec_budget_free(res);
    }
    for (size_t i = 0; ls && i < nl; i++)
        free_layer(&ls[i]);
    free(ls);
    free(per_out);
    free(best);
    free(last);
    nnz_calib_eval_free(ev);
    return rc;
}
