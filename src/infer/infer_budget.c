/* infer_budget.c - the search of every output budget (infer_calib.h
 * nnz_budget_search): quantize, prune and decompose max-output-error=X each
 * hand it their allocation; it scales the budget the allocation aims at
 * until the error the interpreter measures holds. */
#include "infer_calib.h"

#include <math.h>
#include <stdlib.h>

/* What the sums hold of the choice the interpreter holds (measured last):
 * nothing, all of feeds [0, to), or a run that stopped early on a sure
 * miss (then `bound`, the least its error could be). */
typedef struct held {
    int kind;                    /* 0 nothing, 1 measured, 2 a sure miss */
    size_t to;
    double bound;
} held;

/* Apply the current choice and measure it on feeds [0, to) into `sums`
 * (emptied first). A choice the interpreter holds already, measured last,
 * is not run again: the same weights, the same error (or, for a run that
 * stopped, a miss by at least as much). With `stop` finite the runs end
 * once the error is sure to be over it (*meas is then that bound, and the
 * sums miss inputs). */
static int measure(nnz_budget_search *s, size_t to, double stop, nnz_calib_sums *sums, held *h,
                   double *meas, nnz_error *e)
{
    if (h->kind && h->to == to && s->same && s->same(s->ctx)) {
        if (h->kind == 1) {
            *meas = nnz_calib_sums_worst(s->ev, sums, NULL);
            return 0;
        }
        if (h->bound > stop * (1 + 1e-6)) { /* as sure a miss now */
            *meas = h->bound;
            return 0;
        }
    }
    h->kind = 0;
    sums->to = 0;
    for (size_t o = 0; o < 2 * sums->nout; o++)
        sums->err2[o] = 0;
    sums->worst_in = 0;
    sums->broken = 0;
    int stopped;
    if (s->apply(s->ctx, e) != 0 ||
        (stopped = nnz_calib_eval_add_until(s->ev, to, stop, sums, e)) < 0)
        return -1;
    *meas = nnz_calib_sums_worst(s->ev, sums, NULL);
    s->confirms++;
    s->inputs_run += sums->to;
    if (stopped)
        *meas = nnz_calib_eval_bound(s->ev, sums, to);
    *h = (held){ stopped ? 2 : 1, to, *meas };
    return 0;
}

/* One search: the budget scaled until the subset's error holds, between a
 * budget that held and one that did not. Keeps the cheapest that held (its
 * sums in `best`); *budget is where the next search would start. */
static int one_search(nnz_budget_search *s, double aim, double *budget, size_t nsub,
                      nnz_calib_sums *cur, held *h, nnz_calib_sums *best, nnz_error *e)
{
    double x2 = s->x * s->x, ok = 0, bad = INFINITY, best_cost = INFINITY;
    s->have_best = 0;
    for (int it = 0; it < s->runs; it++) {
        nnz_calib_progress(s->ev->calib, s->what, (size_t)it + 1, (size_t)s->runs);
        double cost, meas;
        double pred = s->allocate(s->ctx, *budget, &cost);
        /* how far over the aim a miss may be and still change the next
         * step: with a choice that held, not at all (the next budget is
         * between the two); without, up to where the step is at its
         * smallest (0.05, below). Past that the runs stop: the search
         * takes the same path as with all of them. */
        double stop = ok > 0 ? aim : aim * sqrt(0.95 / 0.05);
        if (measure(s, nsub, stop, cur, h, &meas, e) != 0)
            return -1;
        if (meas <= aim) {
            if (cost < best_cost) {
                best_cost = cost;
                s->best_pred = pred;
                s->have_best = 1;
                s->keep(s->ctx);
                nnz_calib_sums_copy(best, cur);
            }
            ok = fmax(ok, *budget);
        } else {
            bad = fmin(bad, *budget);
        }
        if (ok > 0 && bad < INFINITY && bad / ok < s->close)
            break; /* bracketed closely enough */
        if (ok > 0 && bad < INFINITY)
            *budget = sqrt(ok * bad);
        else if (meas > 0 && isfinite(meas))
            *budget *= fmin(s->step, fmax(0.05, 0.95 * aim * aim / (meas * meas)));
        else
            *budget *= meas > 0 ? 0.05 : s->step;
        if (*budget < x2 * s->lowest || *budget > x2 * s->highest)
            break;
    }
    return 0;
}

int nnz_budget_search_run(nnz_budget_search *s, nnz_error *e)
{
    nnz_calib_eval *ev = s->ev;
    size_t ncal = ev->ncal, nsub = ncal < s->inputs ? ncal : s->inputs;
    double aim = s->x, budget = s->x * s->x, meas = 0;
    nnz_calib_sums cur, best;
    held h = { 0 }; /* what cur holds of the choice the interpreter holds */
    s->have_best = 0;
    s->confirms = 0;
    s->inputs_run = 0;
    s->best_pred = 0;
    if (nnz_calib_sums_init(&cur, ev->nout, e) != 0)
        return -1;
    if (nnz_calib_sums_init(&best, ev->nout, e) != 0) {
        nnz_calib_sums_free(&cur);
        return -1;
    }
    int rc = 0;
    for (int round = 0; rc == 0 && round < s->rounds; round++) {
        if ((rc = one_search(s, aim, &budget, nsub, &cur, &h, &best, e)) != 0 ||
            !s->have_best || nsub == ncal)
            break;
        /* the whole calibration set, from the subset's sums on */
        s->use(s->ctx, 1);
        h.kind = 0;
        size_t had = best.to;
        if ((rc = s->apply(s->ctx, e)) != 0 || (rc = nnz_calib_eval_add(ev, ncal, &best, e)) != 0)
            break;
        s->confirms++;
        s->inputs_run += best.to - had;
        meas = nnz_calib_sums_worst(ev, &best, NULL);
        if (meas <= s->x)
            break;
        s->have_best = 0;
        aim *= 0.95 * s->x / meas;
        budget = s->best_pred * pow(0.95 * s->x / meas, 2);
    }
    if (rc == 0) {
        /* the best that held, or nothing changed (which always holds) */
        s->use(s->ctx, s->have_best);
        if (s->have_best && best.to >= ncal) {
            rc = s->apply(s->ctx, e); /* measured on these weights and inputs already */
            s->measured = nnz_calib_sums_worst(ev, &best, NULL);
            s->measured_input = best.broken ? INFINITY : sqrt(best.worst_in);
        } else {
            rc = measure(s, ncal, INFINITY, &cur, &h, &s->measured, e);
            s->measured_input = cur.broken ? INFINITY : sqrt(cur.worst_in);
        }
    }
    nnz_calib_sums_free(&cur);
    nnz_calib_sums_free(&best);
    return rc;
}
