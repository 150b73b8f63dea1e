/* infer_calib.c - calibration inputs and the output error of weights
 * changed in the interpreter (infer_calib.h). */
#include "infer_calib.h"
#include "infer_int.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

static int is_float_type(int dt)
{
    return dt == NNZ_DT_FLOAT || dt == NNZ_DT_FLOAT16 || dt == NNZ_DT_BFLOAT16 ||
           dt == NNZ_DT_DOUBLE;
}

void nnz_calib_progress(const nnz_calib *c, const char *what, size_t done, size_t total)
{
    if (c && c->progress)
        c->progress(c->progress_ctx, what, done, total);
}

/* ---- the inputs of one measurement on several interpreters ---------------
 *
 * Lane 0 is ev->inf, run in the caller's thread; lanes 1.. are interpreters
 * of their own (activations, shape plan) reading lane 0's weights, each on
 * a thread started for the batch. Inputs are handed out in order; what
 * each computes goes to its own slot, and the caller adds the slots up in
 * input order, so the sums are the same doubles for any number of lanes.
 * On a failure the lowest failing input's error is the one reported (every
 * input before it was handed out already, so it is the same one whatever
 * the lanes). */

typedef int (*feed_job)(nnz_calib_eval *ev, nnz_infer *inf, size_t f, void *ctx, nnz_error *e);

typedef struct lane_batch {
    nnz_calib_eval *ev;
    feed_job fn;
    void *ctx;
    size_t next, to;
    size_t fail;                 /* the lowest failing input, SIZE_MAX: none */
    nnz_error err;
    pthread_mutex_t mu;
} lane_batch;

typedef struct lane_arg {
    lane_batch *b;
    nnz_infer *inf;
} lane_arg;

static void *lane_main(void *p)
{
    lane_arg *a = p;
    lane_batch *b = a->b;
    for (;;) {
        pthread_mutex_lock(&b->mu);
        size_t f = b->next < b->to ? b->next++ : b->to;
        pthread_mutex_unlock(&b->mu);
        if (f >= b->to)
            return NULL;
        nnz_error e = { 0 };
        if (b->fn(b->ev, a->inf, f, b->ctx, &e) != 0) {
            if (!e.code)
                nnz_fail(&e, NNZ_EXIT_INTERNAL, "calibration input %zu failed", f);
            pthread_mutex_lock(&b->mu);
            if (f < b->fail) {
                b->fail = f;
                b->err = e;
            }
            b->next = b->to; /* the inputs after it would not be reported */
            pthread_mutex_unlock(&b->mu);
        }
    }
}

/* fn on inputs (or other items) [from, to), on up to ev->nlanes
 * interpreters at once. */
static int run_items(nnz_calib_eval *ev, size_t from, size_t to, feed_job fn, void *ctx,
                     nnz_error *e)
{
    if (from >= to)
        return 0;
    size_t nl = ev->nlanes < to - from ? ev->nlanes : to - from;
    if (nl <= 1) {
        for (size_t f = from; f < to; f++)
            if (fn(ev, ev->inf, f, ctx, e) != 0)
                return -1;
        return 0;
    }
    /* the weights lane 0 holds now (a pass may have moved one since) */
    for (size_t k = 1; k < nl; k++)
        if (nnz_infer_share_weights(ev->lane[k], ev->inf, e) != 0)
            return -1;
    lane_batch b = { .ev = ev, .fn = fn, .ctx = ctx, .next = from, .to = to, .fail = SIZE_MAX };
    if (pthread_mutex_init(&b.mu, NULL) != 0)
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "cannot make a mutex for the calibration workers");
    pthread_t th[NNZ_CALIB_MAX_WORKERS];
    lane_arg arg[NNZ_CALIB_MAX_WORKERS];
    size_t started = 1;
    for (size_t k = 0; k < nl; k++)
        arg[k] = (lane_arg){ &b, ev->lane[k] };
    /* a thread that cannot start leaves its share to the others */
    while (started < nl && pthread_create(&th[started], NULL, lane_main, &arg[started]) == 0)
        started++;
    lane_main(&arg[0]);
    for (size_t k = 1; k < started; k++)
        pthread_join(th[k], NULL);
    pthread_mutex_destroy(&b.mu);
    if (b.fail != SIZE_MAX) {
        *e = b.err;
        return -1;
    }
    return 0;
}

/* The worker interpreters (calib->workers), up to one per input. */
static int open_lanes(const nnz_calib *c, nnz_model *m, const nnz_infer_opts *o,
                      nnz_calib_eval *ev, nnz_error *e)
{
    size_t n = c->workers > 1 ? (size_t)c->workers : 1;
    if (n > NNZ_CALIB_MAX_WORKERS)
        n = NNZ_CALIB_MAX_WORKERS;
    if (n > ev->nfeeds)
        n = ev->nfeeds ? ev->nfeeds : 1;
    if (!(ev->lane = nnz_calloc(n, sizeof *ev->lane, e)))
        return -1;
    ev->lane[0] = ev->inf;
    ev->nlanes = 1;
    while (ev->nlanes < n) {
        size_t k = ev->nlanes;
        if (nnz_infer_open(m, o, &ev->lane[k], e) != 0)
            return nnz_wrap(e, "calibration worker %zu: ", k);
        ev->nlanes++;
        if (nnz_infer_share_weights(ev->lane[k], ev->inf, e) != 0)
            return nnz_wrap(e, "calibration worker %zu: ", k);
    }
    return 0;
}

/* Output o of feed f: the sums of squares of its finite reference values
 * (what a measurement's pooled denominator can hold at most). */
static double ref_norm2(const nnz_calib_eval *ev, size_t k)
{
    double b = 0;
    const float *r = ev->ref[k];
    for (size_t i = 0; r && i < ev->iref[k].count; i++)
        if (isfinite(r[i]))
            b += (double)r[i] * r[i];
    return b;
}

static int load_feeds(const nnz_calib *c, nnz_calib_eval *ev, nnz_error *e)
{
    char **sets = NULL;
    size_t nsets = 0;
    int rc = 0;
    if (c->inputs && nnz_feed_list_sets(c->inputs, &sets, &nsets, e) != 0)
        return -1;
    size_t n = c->inputs ? (nsets ? nsets : 1) : (size_t)(c->sets > 0 ? c->sets : NNZ_CALIB_SETS);
    ev->feeds = nnz_calloc(n, sizeof *ev->feeds, e);
    if (!ev->feeds)
        rc = -1;
    for (size_t k = 0; rc == 0 && k < n; k++) {
        if (c->inputs && nsets) {
            char dir[4096];
            snprintf(dir, sizeof dir, "%s/%s", c->inputs, sets[k]);
            if ((rc = nnz_feed_from_dir(ev->inf, dir, &ev->feeds[k], e)) != 0)
                nnz_wrap(e, "%s: ", dir);
        } else if (c->inputs) {
            rc = nnz_feed_from_dir(ev->inf, c->inputs, &ev->feeds[k], e);
        } else {
            rc = nnz_feed_generate(ev->inf, c->spec, c->spec_model, c->seed, (int)k,
                                   &ev->feeds[k], e);
        }
        if (rc == 0)
            ev->nfeeds++;
    }
    for (size_t k = 0; k < nsets; k++)
        free(sets[k]);
    free(sets);
    if (rc != 0)
        return -1;
    /* the held-out part: the last sets, at least one set left to calibrate */
    double h = c->holdout < 0 ? 0 : c->holdout > 0.9 ? 0.9 : c->holdout;
    size_t held = (size_t)floor((double)ev->nfeeds * h + 0.5);
    if (held >= ev->nfeeds)
        held = ev->nfeeds - 1;
    ev->ncal = ev->nfeeds - held;
    return 0;
}

/* The reference: feed f's outputs as the model gives them now. */
static int ref_job(nnz_calib_eval *ev, nnz_infer *inf, size_t f, void *ctx, nnz_error *e)
{
    double *secs = ctx;
    if (nnz_feed_apply(inf, &ev->feeds[f], e) != 0 || nnz_infer_run(inf, e) != 0)
        return nnz_wrap(e, "calibration input %zu: ", f);
    nnz_infer_stats st;
    nnz_infer_get_stats(inf, &st);
    secs[f] = st.seconds;
    for (size_t o = 0; o < ev->nout; o++) {
        const nnz_itensor *y = nnz_infer_output(inf, o);
        size_t k = f * ev->nout + o;
        if (is_float_type(y->dtype)) {
            if (!(ev->ref[k] = nnz_calloc(y->count + 1, sizeof(float), e)))
                return -1;
            for (size_t i = 0; i < y->count; i++)
                ev->ref[k][i] = (float)nnz_it_get(y, i);
            ev->iref[k].count = y->count;
        } else {
            nnz_itensor *r = &ev->iref[k];
            if (nnz_it_alloc(r, y->dtype, y->ndims, y->dims, e) != 0)
                return -1;
            memcpy(r->data, y->data, y->bytes < r->bytes ? y->bytes : r->bytes);
        }
    }
    return 0;
}

int nnz_calib_eval_open(const nnz_calib *c, nnz_model *m, nnz_calib_eval **out, nnz_error *e)
{
    *out = NULL;
    nnz_calib_eval *ev = nnz_calloc(1, sizeof *ev, e);
    if (!ev)
        return -1;
    ev->calib = c;
    nnz_infer_opts io = c->opts;
    if (c->workers > 1)
        io.threads = 1; /* the threads are the workers' (and OpenBLAS's setting is global) */
    if (nnz_infer_open(m, &io, &ev->inf, e) != 0 || load_feeds(c, ev, e) != 0 ||
        open_lanes(c, m, &io, ev, e) != 0) {
        nnz_calib_eval_free(ev);
        return -1;
    }
    ev->nout = nnz_infer_noutputs(ev->inf);
    nnz_calib_ref *keep = c->keep;
    if (keep && keep->ref) {
        /* the reference kept by an earlier evaluator on the same inputs */
        if (keep->nfeeds != ev->nfeeds || keep->nout != ev->nout) {
            size_t nf = ev->nfeeds, no = ev->nout;
            nnz_calib_eval_free(ev);
            return nnz_fail(e, NNZ_EXIT_INTERNAL, "the kept calibration reference has %zu "
                            "inputs and %zu outputs, the model now %zu and %zu", keep->nfeeds,
                            keep->nout, nf, no);
        }
        ev->ref = keep->ref;
        ev->iref = keep->iref;
        ev->ref_kept = 1;
        nnz_infer_stats st;
        if (ev->nfeeds && (nnz_feed_apply(ev->inf, &ev->feeds[0], e) != 0 ||
                           nnz_infer_run(ev->inf, e) != 0)) {
            nnz_calib_eval_free(ev);
            return nnz_wrap(e, "calibration input 0: ");
        }
        nnz_infer_get_stats(ev->inf, &st);
        ev->seconds_per_run = ev->nfeeds ? st.seconds : 0;
    } else {
        ev->ref = nnz_calloc(ev->nfeeds * ev->nout + 1, sizeof *ev->ref, e);
        ev->iref = nnz_calloc(ev->nfeeds * ev->nout + 1, sizeof *ev->iref, e);
        double *secs = nnz_calloc(ev->nfeeds + 1, sizeof *secs, e);
        if (!ev->ref || !ev->iref || !secs || run_items(ev, 0, ev->nfeeds, ref_job, secs, e) != 0) {
            free(secs);
            nnz_calib_eval_free(ev);
            return -1;
        }
        double total = 0;
        for (size_t f = 0; f < ev->nfeeds; f++)
            total += secs[f];
        free(secs);
        ev->seconds_per_run = ev->nfeeds ? total / (double)ev->nfeeds : 0;
        if (keep) { /* the evaluators opened after this one measure against it */
            keep->ref = ev->ref;
            keep->iref = ev->iref;
            keep->nfeeds = ev->nfeeds;
            keep->nout = ev->nout;
            keep->seconds_per_run = ev->seconds_per_run;
            ev->ref_kept = 1;
        }
    }
    if (!(ev->ref2 = nnz_calloc(ev->nfeeds * ev->nout + 1, sizeof *ev->ref2, e))) {
        nnz_calib_eval_free(ev);
        return -1;
    }
    for (size_t k = 0; k < ev->nfeeds * ev->nout; k++)
        ev->ref2[k] = ref_norm2(ev, k);
    *out = ev;
    return 0;
}

static void free_refs(float **ref, nnz_itensor *iref, size_t n)
{
    for (size_t k = 0; ref && k < n; k++) {
        free(ref[k]);
        if (iref && iref[k].data)
            nnz_it_free(&iref[k]);
    }
    free(ref);
    free(iref);
}

void nnz_calib_ref_free(nnz_calib_ref *r)
{
    if (!r)
        return;
    free_refs(r->ref, r->iref, r->nfeeds * r->nout);
    memset(r, 0, sizeof *r);
}

void nnz_calib_eval_free(nnz_calib_eval *ev)
{
    if (!ev)
        return;
    if (!ev->ref_kept)
        free_refs(ev->ref, ev->iref, ev->nfeeds * ev->nout);
    for (size_t f = 0; f < ev->nfeeds; f++)
        nnz_feed_free(&ev->feeds[f]);
    free(ev->feeds);
    for (size_t k = 1; k < ev->nlanes; k++)
        nnz_infer_free(ev->lane[k]); /* before lane 0, whose weights they read */
    free(ev->lane);
    free(ev->ref2);
    nnz_infer_free(ev->inf); /* before the snapshots its outputs may borrow from */
    for (size_t f = 0; f < ev->nsnap; f++)
        nnz_infer_snap_free(ev->snap[f]);
    free(ev->snap);
    free(ev);
}

/* nnz_calib_eval_keep's runs: each takes a share of the bytes left. */
typedef struct keep_ctx {
    pthread_mutex_t mu;
    uint64_t left;               /* bytes not yet kept nor promised to a running input */
    size_t idle;                 /* lanes not running an input */
} keep_ctx;

static int keep_job(nnz_calib_eval *ev, nnz_infer *inf, size_t f, void *ctx, nnz_error *e)
{
    keep_ctx *k = ctx;
    /* a run may keep up to its share of what is left, so that the runs
     * under way never promise more than the limit together (which feeds
     * are kept changes only the time of later measurements, never their
     * bits: nnz_infer_run_from) */
    pthread_mutex_lock(&k->mu);
    uint64_t grant = k->left / (k->idle ? k->idle : 1);
    k->left -= grant;
    k->idle--;
    pthread_mutex_unlock(&k->mu);
    int rc = nnz_feed_apply(inf, &ev->feeds[f], e);
    if (rc == 0)
        rc = nnz_infer_run_keep(inf, &ev->snap[f], grant, e);
    pthread_mutex_lock(&k->mu);
    k->left += grant - nnz_infer_snap_bytes(ev->snap[f]);
    k->idle++;
    pthread_mutex_unlock(&k->mu);
    return rc != 0 ? nnz_wrap(e, "calibration input %zu: ", f) : 0;
}

int nnz_calib_eval_keep(nnz_calib_eval *ev, size_t to, nnz_error *e)
{
    if (to > ev->nfeeds)
        to = ev->nfeeds;
    if (to > ev->nsnap) {
        nnz_infer_snap **ns = nnz_realloc(ev->snap, to * sizeof *ns, e);
        if (!ns)
            return -1;
        memset(ns + ev->nsnap, 0, (to - ev->nsnap) * sizeof *ns);
        ev->snap = ns;
        ev->nsnap = to;
    }
    for (size_t f = 0; f < ev->nsnap; f++) {
        nnz_infer_snap_free(ev->snap[f]);
        ev->snap[f] = NULL;
    }
    if (to == 0)
        return 0;
    keep_ctx k = { .left = ev->calib->opts.max_memory ? ev->calib->opts.max_memory
                                                       : NNZ_CALIB_KEEP_BYTES,
                   .idle = ev->nlanes < to ? ev->nlanes : to };
    if (pthread_mutex_init(&k.mu, NULL) != 0)
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "cannot make a mutex for the calibration workers");
    int rc = run_items(ev, 0, to, keep_job, &k, e);
    pthread_mutex_destroy(&k.mu);
    return rc;
}

int nnz_calib_sums_init(nnz_calib_sums *s, size_t nout, nnz_error *e)
{
    memset(s, 0, sizeof *s);
    if (!(s->err2 = nnz_calloc(2 * nout + 1, sizeof *s->err2, e)))
        return -1;
    s->ref2 = s->err2 + nout;
    s->nout = nout;
    return 0;
}

void nnz_calib_sums_free(nnz_calib_sums *s)
{
    free(s->err2);
    memset(s, 0, sizeof *s);
}

void nnz_calib_sums_copy(nnz_calib_sums *dst, const nnz_calib_sums *src)
{
    memcpy(dst->err2, src->err2, 2 * src->nout * sizeof *dst->err2);
    dst->worst_in = src->worst_in;
    dst->broken = src->broken;
    dst->to = src->to;
}

typedef struct map_ctx {
    nnz_calib_job job;
    void *ctx;
} map_ctx;

static int map_job(nnz_calib_eval *ev, nnz_infer *inf, size_t i, void *ctx, nnz_error *e)
{
    (void)ev;
    map_ctx *m = ctx;
    return m->job(m->ctx, inf, i, e);
}

int nnz_calib_eval_map(nnz_calib_eval *ev, size_t n, nnz_calib_job job, void *ctx, nnz_error *e)
{
    map_ctx m = { job, ctx };
    return run_items(ev, 0, n, map_job, &m, e);
}

/* What one input adds to a measurement, per output: the squared error and
 * reference (`use`: a float output of the reference's size; the others only
 * count through `broken`). */
typedef struct feed_err {
    double a, b;
    int use;
} feed_err;

typedef struct err_ctx {
    const char *const *changed;  /* NULL: full runs */
    size_t nchanged;
    size_t from;
    feed_err *fe;                /* [(f - from) * nout + o] */
    unsigned char *broken;       /* [f - from] */
} err_ctx;

/* Run feed f (resumed from its kept values when `changed` names the
 * weights that differ) and compare it with the reference. */
static int err_job(nnz_calib_eval *ev, nnz_infer *inf, size_t f, void *ctx, nnz_error *e)
{
    err_ctx *c = ctx;
    size_t nout = ev->nout;
    const nnz_infer_snap *sn = c->changed && f < ev->nsnap ? ev->snap[f] : NULL;
    if (nnz_feed_apply(inf, &ev->feeds[f], e) != 0 ||
        (sn ? nnz_infer_run_from(inf, sn, c->changed, c->nchanged, e)
            : nnz_infer_run(inf, e)) != 0)
        return nnz_wrap(e, "calibration input %zu: ", f);
    feed_err *fe = c->fe + (f - c->from) * nout;
    int broken = 0;
    for (size_t o = 0; o < nout; o++) {
        const nnz_itensor *y = nnz_infer_output(inf, o);
        size_t k = f * nout + o;
        fe[o].use = 0;
        if (!ev->ref[k]) {
            const nnz_itensor *r = &ev->iref[k];
            broken |= r->bytes != y->bytes || memcmp(r->data, y->data, r->bytes) != 0;
            continue;
        }
        if (y->count != ev->iref[k].count) {
            broken = 1;
            continue;
        }
        const float *r = ev->ref[k];
        double a = 0, b = 0;
        for (size_t i = 0; i < y->count; i++) {
            double x = r[i], v = nnz_it_get(y, i);
            if (!isfinite(x) || !isfinite(v)) {
                if (!(x == v || (isnan(x) && isnan(v))))
                    broken = 1;
                continue;
            }
            a += (x - v) * (x - v);
            b += x * x;
        }
        fe[o] = (feed_err){ a, b, 1 };
    }
    c->broken[f - c->from] = (unsigned char)broken;
    return 0;
}

/* Add one input's errors to s (in input order: the same doubles whatever
 * ran them). */
static void add_errs(const nnz_calib_eval *ev, const feed_err *fe, int broken, nnz_calib_sums *s)
{
    s->broken |= broken;
    for (size_t o = 0; o < ev->nout; o++) {
        if (!fe[o].use)
            continue;
        double a = fe[o].a, b = fe[o].b;
        /* the worst single input, in either mode (error=auto looks at it) */
        double r2 = a == 0 ? 0 : b > 0 ? a / b : INFINITY;
        s->worst_in = r2 > s->worst_in ? r2 : s->worst_in;
        if (ev->per_input) {
            if (r2 > s->err2[o]) /* per output: its worst input */
                s->err2[o] = r2;
            continue;
        }
        s->err2[o] += a;
        s->ref2[o] += b;
    }
}

/* The least error the sums can end at once feeds [s->to, to) are added:
 * each output's squared error so far over its reference so far plus the
 * most the rest's reference can add (their finite values' squares). */
double nnz_calib_eval_bound(const nnz_calib_eval *ev, const nnz_calib_sums *s, size_t to)
{
    if (s->broken)
        return INFINITY;
    if (ev->per_input) /* the worst input so far stays or grows */
        return sqrt(s->worst_in);
    double w = 0;
    for (size_t o = 0; o < s->nout; o++) {
        double rest = 0;
        for (size_t f = s->to; f < to; f++)
            rest += ev->ref2[f * ev->nout + o];
        double den = s->ref2[o] + rest;
        double r2 = s->err2[o] == 0 ? 0 : den > 0 ? s->err2[o] / den : INFINITY;
        w = r2 > w ? r2 : w;
    }
    return sqrt(w);
}

/* Run feeds [s->to, to) and add them to s; with `stop` finite, a block of
 * inputs at a time (one per lane), stopping when the error can no longer
 * end at or below stop. */
static int add_feeds(nnz_calib_eval *ev, const char *const *changed, size_t nchanged, size_t to,
                     double stop, nnz_calib_sums *s, int *stopped, nnz_error *e)
{
    if (to > ev->nfeeds)
        to = ev->nfeeds;
    *stopped = 0;
    if (s->to >= to)
        return 0;
    size_t n = to - s->to;
    err_ctx c = { .changed = changed, .nchanged = nchanged };
    c.fe = nnz_calloc(n * ev->nout + 1, sizeof *c.fe, e);
    c.broken = nnz_calloc(n + 1, 1, e);
    int rc = c.fe && c.broken ? 0 : -1;
    size_t block = isfinite(stop) ? ev->nlanes : n;
    while (rc == 0 && s->to < to) {
        size_t end = to - s->to > block ? s->to + block : to;
        c.from = s->to;
        rc = run_items(ev, s->to, end, err_job, &c, e);
        for (size_t i = 0; rc == 0 && i < end - c.from; i++)
            add_errs(ev, c.fe + i * ev->nout, c.broken[i], s);
        if (rc == 0)
            s->to = end;
        /* a margin for rounding: stopped means the whole would be over */
        if (rc == 0 && s->to < to && nnz_calib_eval_bound(ev, s, to) > stop * (1 + 1e-6)) {
            *stopped = 1;
            break;
        }
    }
    free(c.fe);
    free(c.broken);
    return rc;
}

int nnz_calib_eval_add(nnz_calib_eval *ev, size_t to, nnz_calib_sums *s, nnz_error *e)
{
    int stopped;
    return add_feeds(ev, NULL, 0, to, INFINITY, s, &stopped, e);
}

int nnz_calib_eval_add_until(nnz_calib_eval *ev, size_t to, double stop, nnz_calib_sums *s,
                             nnz_error *e)
{
    int stopped;
    if (add_feeds(ev, NULL, 0, to, stop, s, &stopped, e) != 0)
        return -1;
    return stopped;
}

double nnz_worst_of(const double *v, size_t n)
{
    double w = 0;
    for (size_t i = 0; i < n; i++)
        if (!(v[i] <= w))
            w = v[i];
    return w;
}

double nnz_calib_sums_worst(const nnz_calib_eval *ev, const nnz_calib_sums *s, double *per_out)
{
    if (ev->per_input) {
        for (size_t o = 0; o < s->nout; o++)
            if (per_out)
                per_out[o] = s->broken ? INFINITY : s->err2[o];
        return s->broken ? INFINITY : sqrt(s->worst_in);
    }
    double w = 0;
    for (size_t o = 0; o < s->nout; o++) {
        double r2 = s->err2[o] == 0 ? 0 : s->ref2[o] > 0 ? s->err2[o] / s->ref2[o] : INFINITY;
        if (per_out)
            per_out[o] = s->broken ? INFINITY : r2;
        if (r2 > w)
            w = r2;
    }
    return s->broken ? INFINITY : sqrt(w);
}

/* changed: NULL for full runs. */
static int eval_error(nnz_calib_eval *ev, const char *const *changed, size_t nchanged,
                      size_t from, size_t to, double *worst, double *per_out, nnz_error *e)
{
    nnz_calib_sums s;
    if (nnz_calib_sums_init(&s, ev->nout, e) != 0)
        return -1;
    s.to = from;
    int stopped;
    if (add_feeds(ev, changed, nchanged, to, INFINITY, &s, &stopped, e) != 0) {
        nnz_calib_sums_free(&s);
        return -1;
    }
    *worst = nnz_calib_sums_worst(ev, &s, per_out);
    nnz_calib_sums_free(&s);
    return 0;
}

int nnz_calib_eval_error_on(nnz_calib_eval *ev, nnz_infer *inf, const char *const *changed,
                            size_t nchanged, size_t from, size_t to, double *worst,
                            double *per_out, nnz_error *e)
{
    if (to > ev->nfeeds)
        to = ev->nfeeds;
    size_t n = to > from ? to - from : 0;
    nnz_calib_sums s;
    if (nnz_calib_sums_init(&s, ev->nout, e) != 0)
        return -1;
    err_ctx c = { .changed = changed, .nchanged = nchanged, .from = from };
    c.fe = nnz_calloc(n * ev->nout + 1, sizeof *c.fe, e);
    c.broken = nnz_calloc(n + 1, 1, e);
    int rc = c.fe && c.broken ? 0 : -1;
    for (size_t f = from; rc == 0 && f < to; f++)
        rc = err_job(ev, inf, f, &c, e);
    for (size_t i = 0; rc == 0 && i < n; i++)
        add_errs(ev, c.fe + i * ev->nout, c.broken[i], &s);
    if (rc == 0)
        *worst = nnz_calib_sums_worst(ev, &s, per_out);
    free(c.fe);
    free(c.broken);
    nnz_calib_sums_free(&s);
    return rc;
}

int nnz_calib_eval_error(nnz_calib_eval *ev, size_t from, size_t to, double *worst,
                         double *per_out, nnz_error *e)
{
    return eval_error(ev, NULL, 0, from, to, worst, per_out, e);
}

int nnz_calib_eval_error_from(nnz_calib_eval *ev, const char *const *changed, size_t nchanged,
                              size_t from, size_t to, double *worst, double *per_out,
                              nnz_error *e)
{
    return eval_error(ev, changed, nchanged, from, to, worst, per_out, e);
}

int nnz_calib_eval_observe(nnz_calib_eval *ev, size_t from, size_t to, nnz_infer_hook hook,
                           void *ctx, nnz_error *e)
{
    nnz_infer_hook old = ev->inf->o.hook;
    void *old_ctx = ev->inf->o.hook_ctx;
    ev->inf->o.hook = hook;
    ev->inf->o.hook_ctx = ctx;
    int rc = 0;
    for (size_t f = from; rc == 0 && f < to && f < ev->nfeeds; f++) {
        nnz_calib_progress(ev->calib, "calibration: activations", f - from + 1, to - from);
        if (nnz_feed_apply(ev->inf, &ev->feeds[f], e) != 0 || nnz_infer_run(ev->inf, e) != 0)
            rc = nnz_wrap(e, "calibration input %zu: ", f);
    }
    ev->inf->o.hook = old;
    ev->inf->o.hook_ctx = old_ctx;
    return rc;
}

static int macs_hook(void *ctx, const Onnx__NodeProto *node, int depth,
                     const nnz_itensor *const *in, size_t nin, const nnz_itensor *const *out,
                     size_t nout, nnz_error *e)
{
    nnz_macs *pm = ctx;
    const char *op = node->op_type ? node->op_type : "";
    int conv = strcmp(op, "Conv") == 0, convt = strcmp(op, "ConvTranspose") == 0,
        gemm = strcmp(op, "Gemm") == 0, mm = strcmp(op, "MatMul") == 0;
    if (depth > 0 || !(conv || convt || gemm || mm) || nin < 2 || !in[0] || !in[1] || nout < 1 ||
        !out[0] || in[1]->ndims < 1 || in[0]->ndims < 1)
        return 0;
    double m = 0;
    const nnz_itensor *x = in[0], *w = in[1], *y = out[0];
    if (conv && w->dims[0] > 0) /* each output: its group's input channels x the kernel */
        m = (double)y->count * (double)w->count / (double)w->dims[0];
    else if (convt && w->dims[0] > 0) /* each input: its group's output channels x the kernel */
        m = (double)x->count * (double)w->count / (double)w->dims[0];
    else if (gemm || mm) { /* each output: the inner dimension */
        int ta = gemm && nnz_node_int(node, "transA", 0);
        m = (double)y->count * (double)(ta ? x->dims[0] : x->dims[x->ndims - 1]);
    }
    if (pm->n == pm->cap) {
        size_t nc = pm->cap ? 2 * pm->cap : 64;
        const Onnx__NodeProto **nn = nnz_realloc(pm->node, nc * sizeof *nn, e);
        if (!nn)
            return -1;
        pm->node = nn;
        double *mm2 = nnz_realloc(pm->macs, nc * sizeof *mm2, e);
        if (!mm2)
            return -1;
        pm->macs = mm2;
        pm->cap = nc;
    }
    pm->node[pm->n] = node;
    pm->macs[pm->n++] = m;
    pm->total += m;
    return 0;
}

double nnz_macs_node(void *ctx, const Onnx__NodeProto *n)
{
    const nnz_macs *pm = ctx;
    for (size_t i = 0; i < pm->n; i++)
        if (pm->node[i] == n)
            return pm->macs[i];
    return 0;
}

int nnz_macs_count(const nnz_calib *cal, nnz_model *m, const nnz_feed *feed, nnz_macs *pm,
                   nnz_error *e)
{
    nnz_infer_opts io = cal->opts;
    io.hook = macs_hook;
    io.hook_ctx = pm;
    nnz_infer *inf;
    memset(pm, 0, sizeof *pm);
    if (nnz_infer_open(m, &io, &inf, e) != 0)
        return -1;
    int rc = nnz_feed_apply(inf, feed, e);
    if (rc == 0)
        rc = nnz_infer_run(inf, e);
    nnz_infer_free(inf);
    return rc;
}

void nnz_macs_free(nnz_macs *pm)
{
    free(pm->node);
    free(pm->macs);
    memset(pm, 0, sizeof *pm);
}

/* The choices for multiplier lambda; returns the summed distortion. */
static double alloc_choose(const nnz_alloc_item *it, size_t n, double lambda, size_t *choice,
                           double *cost)
{
    double dsum = 0, c = 0;
    for (size_t i = 0; i < n; i++) {
        size_t best = 0;
        double bc = INFINITY;
        for (size_t k = 0; k < it[i].nopt; k++) {
            double v = it[i].cost[k] + lambda * it[i].d[k];
            if (v < bc) {
                bc = v;
                best = k;
            }
        }
        choice[i] = best;
        if (it[i].nopt) {
            dsum += it[i].d[best];
            c += it[i].cost[best];
        }
    }
    *cost = c;
    return dsum;
}

double nnz_alloc_equal_slope(const nnz_alloc_item *items, size_t n, double budget,
                             size_t *choice, double *total_cost)
{
    double lo = -30, hi = 60; /* log10 lambda; the distortion falls as lambda grows */
    for (int i = 0; i < 90; i++) {
        double mid = 0.5 * (lo + hi);
        if (alloc_choose(items, n, pow(10, mid), choice, total_cost) <= budget)
            hi = mid;
        else
            lo = mid;
    }
    return alloc_choose(items, n, pow(10, hi), choice, total_cost);
}

void nnz_calib_report_errors(cJSON *r, const nnz_calib_eval *ev, double x, double cal, double held)
{
    cJSON_AddNumberToObject(r, "calibration_sets", (double)ev->ncal);
    cJSON_AddNumberToObject(r, "heldout_sets", (double)(ev->nfeeds - ev->ncal));
    cJSON_AddNumberToObject(r, "output_error_calibration", cal);
    if (ev->nfeeds > ev->ncal)
        cJSON_AddNumberToObject(r, "output_error_heldout", held);
    else
        cJSON_AddNullToObject(r, "output_error_heldout");
    cJSON_AddBoolToObject(r, "met", cal <= x);
    cJSON_AddNumberToObject(r, "threads", (double)ev->nlanes);
}

void nnz_calib_budget_line(const cJSON *b, const char *pass, char *buf, size_t n)
{
    const cJSON *h = cJSON_GetObjectItem(b, "output_error_heldout");
    const char *how = cJSON_GetStringValue(cJSON_GetObjectItem(b, "error"));
    const char *opt = cJSON_GetStringValue(cJSON_GetObjectItem(b, "error_option"));
    const cJSON *pw = cJSON_GetObjectItem(b, "pooled_worst_input");
    char hows[128];
    /* error=auto says what it chose, and why when it bound each input */
    if (opt && strcmp(opt, "auto") == 0 && cJSON_IsNumber(pw))
        snprintf(hows, sizeof hows, "%s, auto: one input at %.4g when pooled", how ? how : "?",
                 pw->valuedouble);
    else
        snprintf(hows, sizeof hows, "%s%s", how ? how : "pooled",
                 opt && strcmp(opt, "auto") == 0 ? ", auto" : "");
    char held[96] = "no inputs held out";
    if (cJSON_IsNumber(h))
        snprintf(held, sizeof held, "held-out %.4g (%.0f inputs)", h->valuedouble,
                 cJSON_GetNumberValue(cJSON_GetObjectItem(b, "heldout_sets")));
    snprintf(buf, n, "%s: output budget %g (%s): measured %.4g on the calibration inputs (%.0f), "
             "%s; %.1f s", pass, cJSON_GetNumberValue(cJSON_GetObjectItem(b, "max_output_error")),
             hows,
             cJSON_GetNumberValue(cJSON_GetObjectItem(b, "output_error_calibration")),
             cJSON_GetNumberValue(cJSON_GetObjectItem(b, "calibration_sets")), held,
             cJSON_GetNumberValue(cJSON_GetObjectItem(b, "seconds")));
}
