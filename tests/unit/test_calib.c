/* test_calib.c - re-running the calibration inputs with a few weights
 * changed (src/infer/infer_calib.h nnz_calib_eval_error_from, over the
 * interpreter's nnz_infer_run_from): on every fixture model, each float
 * weight changed alone gives the error a full run gives, bit for bit, and
 * only what depends on the changed weight runs again; a measurement that
 * goes on from one on fewer inputs equals one on all; the budgets' shared
 * search (nnz_budget_search_run) leaves what it measured in the
 * interpreter, within the budget; the calibration workers give the bits
 * one interpreter gives; a run stops early only on a sure miss. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "infer_calib.h"
#include "model.h"

static nnz_model *fixture(const char *name, char *spec, size_t cap)
{
    char path[4096];
    const char *b = getenv("BUILD") ? getenv("BUILD") : "build";
    snprintf(path, sizeof path, "%s/fixtures/%s.onnx", b, name);
    snprintf(spec, cap, "%s/fixtures/%s.inputs.json", b, name);
    nnz_model *m = NULL;
    nnz_error e = { 0 };
    if (nnz_model_load(path, &m, &e) != 0)
        fail_msg("%s: %s (make fixtures builds it)", path, e.msg);
    return m;
}

/* Fixture `name` and an evaluator on it with calibration c (its spec set
 * here; c and spec are the caller's: the evaluator points at them). */
static nnz_calib_eval *open_fixture(const char *name, nnz_calib *c, char *spec, size_t cap,
                                    nnz_model **m)
{
    *m = fixture(name, spec, cap);
    c->spec = spec;
    nnz_calib_eval *ev;
    nnz_error e = { 0 };
    if (nnz_calib_eval_open(c, *m, &ev, &e) != 0)
        fail_msg("%s: %s", name, e.msg);
    return ev;
}

/* Every float weight of `name`, scaled and shifted alone: the error from a
 * resumed run equals the full run's (the doubles' bits). Returns how many
 * weights moved the outputs. */
static int compare_model(const char *name)
{
    char spec[4096];
    nnz_model *m;
    nnz_calib c = { .seed = 7, .sets = 3, .holdout = 0 };
    nnz_calib_eval *ev = open_fixture(name, &c, spec, sizeof spec, &m);
    nnz_error e = { 0 };
    assert_int_equal(nnz_calib_eval_keep(ev, 2, &e), 0);
    double *po1 = calloc(ev->nout + 1, sizeof *po1), *po2 = calloc(ev->nout + 1, sizeof *po2);
    int moved = 0;
    for (size_t i = 0; i < m->ntensors; i++) {
        size_t n;
        float *w = nnz_infer_weight(ev->inf, m->tensors[i].name, &n);
        if (!w || !n)
            continue;
        float *keep = malloc(n * sizeof *keep);
        memcpy(keep, w, n * sizeof *w);
        for (size_t k = 0; k < n; k++)
            w[k] = w[k] * 1.25f + (k % 3 == 0 ? 0.01f : -0.02f);
        const char *changed[1] = { m->tensors[i].name };
        double full, from;
        /* feeds 0..2: two kept, one not (a full run there) */
        nnz_error e2 = { 0 };
        int rc_from = nnz_calib_eval_error_from(ev, changed, 1, 0, 3, &from, po1, &e);
        int rc_full = nnz_calib_eval_error(ev, 0, 3, &full, po2, &e2);
        if (rc_from != rc_full || (rc_from != 0 && strcmp(e.msg, e2.msg) != 0))
            fail_msg("%s, '%s': resumed '%s', full '%s'", name, changed[0], e.msg, e2.msg);
        if (rc_from != 0) { /* a weight that sets shapes, now bad: both refuse it alike */
            memset(&e, 0, sizeof e);
            memcpy(w, keep, n * sizeof *w);
            free(keep);
            continue;
        }
        if (memcmp(&full, &from, sizeof full) != 0 ||
            memcmp(po1, po2, ev->nout * sizeof *po1) != 0)
            fail_msg("%s, '%s': resumed %.17g, full %.17g", name, changed[0], from, full);
        moved += full > 0;
        memcpy(w, keep, n * sizeof *w);
        free(keep);
    }
    /* two weights at once (a layer's weight and bias, a channel group's
     * producer and consumer): each neighbouring pair of the model's tensors */
    for (size_t i = 0; i + 1 < m->ntensors; i++) {
        size_t n0, n1;
        float *w0 = nnz_infer_weight(ev->inf, m->tensors[i].name, &n0);
        float *w1 = w0 ? nnz_infer_weight(ev->inf, m->tensors[i + 1].name, &n1) : NULL;
        if (!w0 || !w1 || !n0 || !n1 || n0 > 1 << 20)
            continue;
        float *k0 = malloc(n0 * sizeof *k0), *k1 = malloc(n1 * sizeof *k1);
        memcpy(k0, w0, n0 * sizeof *w0);
        memcpy(k1, w1, n1 * sizeof *w1);
        w0[n0 / 2] += 0.5f;
        w1[0] *= 0.5f;
        const char *changed[2] = { m->tensors[i].name, m->tensors[i + 1].name };
        double full, from;
        nnz_error e2 = { 0 };
        int rc_from = nnz_calib_eval_error_from(ev, changed, 2, 0, 2, &from, po1, &e);
        int rc_full = nnz_calib_eval_error(ev, 0, 2, &full, po2, &e2);
        assert_int_equal(rc_from, rc_full);
        if (rc_from == 0 && (memcmp(&full, &from, sizeof full) != 0 ||
                             memcmp(po1, po2, ev->nout * sizeof *po1) != 0))
            fail_msg("%s, '%s' and '%s': resumed %.17g, full %.17g", name, changed[0],
                     changed[1], from, full);
        memset(&e, 0, sizeof e);
        memcpy(w0, k0, n0 * sizeof *w0);
        memcpy(w1, k1, n1 * sizeof *w1);
        free(k0);
        free(k1);
    }
    /* and back at the reference: no error at all */
    double z;
    const char *none[1] = { m->tensors[0].name };
    assert_int_equal(nnz_calib_eval_error_from(ev, none, 1, 0, 2, &z, NULL, &e), 0);
    assert_true(z == 0);
    free(po1);
    free(po2);
    nnz_calib_eval_free(ev);
    nnz_model_free(m);
    return moved;
}

static void resumed_errors_equal_full_runs(void **state)
{
    (void)state;
    static const char *names[] = { "digits_cnn", "digits_cnn_folded", "digits_mlp",
                                   "edge_bn_unfolded", "edge_channels", "edge_constants",
                                   "edge_convtranspose", "edge_depthwise_small",
                                   "edge_if_subgraph", "edge_lstm", "edge_lstm_slice_if",
                                   "edge_opset9", "edge_opset17", "edge_repeated",
                                   "edge_tiny", "edge_weight_paths", "edge_fp16" };
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        assert_true(compare_model(names[k]) > 0);
}

/* The nodes that do not depend on the changed weight do not run: change a
 * weight without naming it and the resumed run does not see it (a misuse,
 * shown here only to prove the snapshot's values stood in). */
static void only_dependent_nodes_run(void **state)
{
    (void)state;
    char spec[4096];
    nnz_model *m;
    nnz_calib c = { .seed = 7, .sets = 1, .holdout = 0 };
    nnz_calib_eval *ev = open_fixture("digits_mlp", &c, spec, sizeof spec, &m);
    nnz_error e = { 0 };
    assert_int_equal(nnz_calib_eval_keep(ev, 1, &e), 0);
    /* the first and the last weight the graph reads */
    const char *first = NULL, *last = NULL;
    for (size_t i = 0; i < m->ntensors; i++)
        if (m->tensors[i].ndims == 2 && nnz_infer_weight(ev->inf, m->tensors[i].name, NULL)) {
            if (!first)
                first = m->tensors[i].name;
            last = m->tensors[i].name;
        }
    assert_non_null(first);
    assert_true(first != last);
    size_t n;
    float *w = nnz_infer_weight(ev->inf, first, &n);
    for (size_t k = 0; k < n; k++)
        w[k] = -w[k];
    double said, full;
    const char *changed[1] = { last };
    assert_int_equal(nnz_calib_eval_error_from(ev, changed, 1, 0, 1, &said, NULL, &e), 0);
    assert_int_equal(nnz_calib_eval_error(ev, 0, 1, &full, NULL, &e), 0);
    assert_true(said == 0); /* the first layer came from the snapshot */
    assert_true(full > 0.1);
    nnz_calib_eval_free(ev);
    nnz_model_free(m);
}

/* A measurement on more inputs that goes on from one on fewer
 * (nnz_calib_sums) gives what one measurement on all of them gives, bit for
 * bit: pooled and per input. */
static void continued_sums_equal_one_measurement(void **state)
{
    (void)state;
    char spec[4096];
    nnz_model *m;
    nnz_calib c = { .seed = 3, .sets = 5, .holdout = 0 };
    nnz_calib_eval *ev = open_fixture("digits_cnn", &c, spec, sizeof spec, &m);
    nnz_error e = { 0 };
    size_t n = 0;
    float *w = NULL;
    for (size_t i = 0; i < m->ntensors && !w; i++)
        if (m->tensors[i].ndims == 4)
            w = nnz_infer_weight(ev->inf, m->tensors[i].name, &n);
    assert_non_null(w);
    for (size_t k = 0; k < n; k++)
        w[k] *= k % 2 ? 1.05f : 0.97f;
    for (int per_input = 0; per_input < 2; per_input++) {
        ev->per_input = per_input;
        nnz_calib_sums s;
        double *po1 = calloc(ev->nout + 1, sizeof *po1), *po2 = calloc(ev->nout + 1, sizeof *po2);
        double one, cont;
        assert_int_equal(nnz_calib_sums_init(&s, ev->nout, &e), 0);
        assert_int_equal(nnz_calib_eval_add(ev, 2, &s, &e), 0);
        assert_int_equal((int)s.to, 2);
        assert_int_equal(nnz_calib_eval_add(ev, 5, &s, &e), 0);
        assert_int_equal((int)s.to, 5);
        cont = nnz_calib_sums_worst(ev, &s, po1);
        assert_int_equal(nnz_calib_eval_error(ev, 0, 5, &one, po2, &e), 0);
        assert_true(one > 0);
        if (memcmp(&one, &cont, sizeof one) != 0 || memcmp(po1, po2, ev->nout * sizeof *po1) != 0)
            fail_msg("per_input %d: continued %.17g, one measurement %.17g", per_input, cont, one);
        nnz_calib_sums_free(&s);
        free(po1);
        free(po2);
    }
    nnz_calib_eval_free(ev);
    nnz_model_free(m);
}

/* A pass for the shared search: one knob, the noise added to every weight
 * of one tensor (amplitude a, predicted D = a^2 * slope, a at most 0.5),
 * cost falling as the noise grows. */
typedef struct knob {
    float *w, *orig;
    size_t n;
    double slope, a, best_a, last_a;
    int applies;
} knob;

static double knob_allocate(void *ctx, double budget, double *cost)
{
    knob *k = ctx;
    k->a = fmin(0.5, sqrt(budget / k->slope));
    *cost = -k->a;
    return k->a * k->a * k->slope;
}

static int knob_apply(void *ctx, nnz_error *e)
{
    (void)e;
    knob *k = ctx;
    for (size_t i = 0; i < k->n; i++)
        k->w[i] = k->orig[i] * (float)(1 + (i % 2 ? k->a : -k->a));
    k->applies++;
    k->last_a = k->a;
    return 0;
}

static int knob_same(void *ctx)
{
    knob *k = ctx;
    return k->a == k->last_a;
}

static void knob_keep(void *ctx)
{
    knob *k = ctx;
    k->best_a = k->a;
}

static void knob_use(void *ctx, int best)
{
    knob *k = ctx;
    k->a = best ? k->best_a : 0;
}

/* nnz_budget_search_run: what it chose holds on the whole calibration set
 * and is what the interpreter holds; a budget nothing meets leaves the
 * weights as they were; a choice measured last is not run again. */
static void budget_search_holds_on_the_whole_set(void **state)
{
    (void)state;
    char spec[4096];
    nnz_model *m;
    nnz_calib c = { .seed = 5, .sets = 12, .holdout = 0.25 };
    nnz_calib_eval *ev = open_fixture("digits_mlp", &c, spec, sizeof spec, &m);
    nnz_error e = { 0 };
    knob k = { 0 };
    for (size_t i = 0; i < m->ntensors && !k.w; i++)
        if (m->tensors[i].ndims == 2)
            k.w = nnz_infer_weight(ev->inf, m->tensors[i].name, &k.n);
    assert_non_null(k.w);
    k.orig = malloc(k.n * sizeof *k.orig);
    memcpy(k.orig, k.w, k.n * sizeof *k.w);
    for (int miss = 0; miss < 2; miss++) {
        /* miss: a prediction 1e9 times too optimistic: every allocation is
         * the largest noise, which breaks the budget; measured once, the
         * same choice is not run again as the budget falls; nothing holds
         * above the search's floor, so nothing changes */
        k.slope = miss ? 1e-9 : 1;
        k.applies = 0;
        k.last_a = -1;
        nnz_budget_search s = { .ev = ev, .x = 0.02, .what = "test", .rounds = 3, .runs = 10,
                                .inputs = 4, .close = 1.1, .step = 4, .lowest = 1e-6,
                                .highest = 1e6, .ctx = &k, .allocate = knob_allocate,
                                .apply = knob_apply, .keep = knob_keep, .use = knob_use,
                                .same = knob_same };
        assert_int_equal(nnz_budget_search_run(&s, &e), 0);
        double again;
        assert_int_equal(nnz_calib_eval_error(ev, 0, ev->ncal, &again, NULL, &e), 0);
        assert_true(again == s.measured); /* the interpreter holds what was measured */
        assert_true(s.measured <= 0.02);
        assert_true(s.confirms > 0);
        if (miss) {
            assert_false(s.have_best);
            assert_true(k.a == 0 && s.measured == 0);
            /* a = 0.5 measured once (five budgets tried), then nothing */
            assert_int_equal(s.confirms, 2);
            assert_int_equal(k.applies, 2);
        } else {
            assert_true(s.have_best);
            assert_true(k.a > 0 && s.measured > 0.005); /* it used the budget */
        }
    }
    free(k.orig);
    nnz_calib_eval_free(ev);
    nnz_model_free(m);
}

/* The same model and inputs measured on 1 and on 3 workers: the errors'
 * doubles are the same bits (pooled and per input, full runs, resumed
 * runs, the held-out part), and so are the references the workers ran. */
static void workers_give_the_errors_of_one(void **state)
{
    (void)state;
    static const char *names[] = { "digits_cnn", "digits_mlp", "edge_lstm_slice_if",
                                   "edge_if_subgraph", "edge_fp16" };
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        char spec[2][4096];
        nnz_model *m[2];
        nnz_calib c[2] = { { .seed = 4, .sets = 7, .holdout = 0.3, .workers = 1 },
                           { .seed = 4, .sets = 7, .holdout = 0.3, .workers = 3 } };
        nnz_calib_eval *ev[2];
        double err[2][2][3];
        double *po[2];
        nnz_error e = { 0 };
        for (int w = 0; w < 2; w++) {
            ev[w] = open_fixture(names[k], &c[w], spec[w], sizeof spec[w], &m[w]);
            assert_int_equal((int)ev[w]->nlanes, w ? 3 : 1);
            po[w] = calloc(3 * ev[w]->nout + 1, sizeof *po[w]);
            assert_int_equal(nnz_calib_eval_keep(ev[w], 4, &e), 0);
            /* the first float weight, scaled: the same change on both */
            const char *name = NULL;
            for (size_t i = 0; i < m[w]->ntensors && !name; i++) {
                size_t n;
                float *x = nnz_infer_weight(ev[w]->inf, m[w]->tensors[i].name, &n);
                if (!x || n < 2)
                    continue;
                name = m[w]->tensors[i].name;
                for (size_t j = 0; j < n; j++)
                    x[j] *= j % 2 ? 1.1f : 0.93f;
            }
            assert_non_null(name);
            const char *changed[1] = { name };
            for (int per_input = 0; per_input < 2; per_input++) {
                ev[w]->per_input = per_input;
                double *p = po[w] + 0;
                assert_int_equal(nnz_calib_eval_error(ev[w], 0, ev[w]->ncal, &err[w][per_input][0],
                                                      p, &e), 0);
                assert_int_equal(nnz_calib_eval_error_from(ev[w], changed, 1, 0, ev[w]->ncal,
                                                           &err[w][per_input][1],
                                                           po[w] + ev[w]->nout, &e), 0);
                assert_int_equal(nnz_calib_eval_error(ev[w], ev[w]->ncal, ev[w]->nfeeds,
                                                      &err[w][per_input][2],
                                                      po[w] + 2 * ev[w]->nout, &e), 0);
            }
        }
        assert_int_equal((int)ev[0]->nfeeds, (int)ev[1]->nfeeds);
        for (size_t i = 0; i < ev[0]->nfeeds * ev[0]->nout; i++)
            if (ev[0]->ref[i] && memcmp(ev[0]->ref[i], ev[1]->ref[i],
                                        ev[0]->iref[i].count * sizeof(float)) != 0)
                fail_msg("%s: reference %zu differs between 1 and 3 workers", names[k], i);
        if (memcmp(err[0], err[1], sizeof err[0]) != 0 ||
            memcmp(po[0], po[1], 3 * ev[0]->nout * sizeof *po[0]) != 0)
            fail_msg("%s: 1 worker %.17g %.17g %.17g, 3 workers %.17g %.17g %.17g", names[k],
                     err[0][0][0], err[0][0][1], err[0][0][2], err[1][0][0], err[1][0][1],
                     err[1][0][2]);
        assert_true(err[0][0][0] > 0);
        for (int w = 0; w < 2; w++) {
            free(po[w]);
            nnz_calib_eval_free(ev[w]);
            nnz_model_free(m[w]);
        }
    }
}

/* nnz_calib_eval_map: each item changes a weight on its own interpreter
 * only (nnz_infer_weight_use) and measures there; every item's error is
 * the one the caller's interpreter gives for the same change, and the
 * evaluator's own weights are untouched after. */
typedef struct map_test {
    nnz_calib_eval *ev;
    const char *name;
    float *orig;
    size_t n;
    double err[6];
} map_test;

static int map_item(void *ctx, nnz_infer *inf, size_t i, nnz_error *e)
{
    map_test *t = ctx;
    float *v = malloc(t->n * sizeof *v);
    if (!v)
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory");
    for (size_t j = 0; j < t->n; j++)
        v[j] = t->orig[j] * (float)(1 + 0.05 * (double)(i + 1) * (j % 2 ? 1 : -1));
    nnz_infer_wsave sv;
    const char *changed[1] = { t->name };
    int rc = nnz_infer_weight_use(inf, t->name, v, t->n, &sv);
    if (rc == 0) {
        rc = nnz_calib_eval_error_on(t->ev, inf, changed, 1, 0, t->ev->ncal, &t->err[i], NULL, e);
        nnz_infer_weight_put_back(inf, t->name, &sv);
    }
    free(v);
    return rc;
}

static void mapped_items_measure_alone(void **state)
{
    (void)state;
    char spec[4096];
    nnz_model *m;
    nnz_calib c = { .seed = 9, .sets = 4, .holdout = 0, .workers = 2 };
    nnz_calib_eval *ev = open_fixture("digits_cnn", &c, spec, sizeof spec, &m);
    nnz_error e = { 0 };
    map_test t = { .ev = ev };
    for (size_t i = 0; i < m->ntensors && !t.name; i++)
        if (m->tensors[i].ndims == 4) {
            t.name = m->tensors[i].name;
            t.orig = nnz_infer_weight(ev->inf, t.name, &t.n);
        }
    assert_non_null(t.orig);
    float *keep = malloc(t.n * sizeof *keep);
    memcpy(keep, t.orig, t.n * sizeof *keep);
    assert_int_equal(nnz_calib_eval_keep(ev, 2, &e), 0);
    assert_int_equal(nnz_calib_eval_map(ev, 6, map_item, &t, &e), 0);
    assert_memory_equal(keep, t.orig, t.n * sizeof *keep); /* the evaluator's weights */
    double none;
    assert_int_equal(nnz_calib_eval_error(ev, 0, ev->ncal, &none, NULL, &e), 0);
    assert_true(none == 0);
    for (size_t i = 0; i < 6; i++) {
        for (size_t j = 0; j < t.n; j++)
            t.orig[j] = keep[j] * (float)(1 + 0.05 * (double)(i + 1) * (j % 2 ? 1 : -1));
        double one;
        assert_int_equal(nnz_calib_eval_error(ev, 0, ev->ncal, &one, NULL, &e), 0);
        if (memcmp(&one, &t.err[i], sizeof one) != 0 || !(one > 0))
            fail_msg("item %zu: mapped %.17g, in the evaluator %.17g", i, t.err[i], one);
        if (i > 0)
            assert_true(t.err[i] > t.err[0]); /* larger changes, larger errors */
    }
    memcpy(t.orig, keep, t.n * sizeof *keep);
    free(keep);
    nnz_calib_eval_free(ev);
    nnz_model_free(m);
}

/* nnz_calib_eval_add_until stops only on a sure miss: for stops below,
 * near and above the whole measurement's error, it gave up only where that
 * error is over the stop, and where it ran everything the sums are the
 * whole measurement's; the bound it stopped on is below the error. */
static void a_stopped_run_was_a_sure_miss(void **state)
{
    (void)state;
    char spec[4096];
    nnz_model *m;
    for (int workers = 1; workers <= 2; workers++) {
        nnz_calib c = { .seed = 2, .sets = 9, .holdout = 0, .workers = workers };
        nnz_calib_eval *ev = open_fixture("digits_mlp", &c, spec, sizeof spec, &m);
        nnz_error e = { 0 };
        size_t n = 0;
        float *w = NULL;
        for (size_t i = 0; i < m->ntensors && !w; i++)
            if (m->tensors[i].ndims == 2)
                w = nnz_infer_weight(ev->inf, m->tensors[i].name, &n);
        assert_non_null(w);
        for (size_t k = 0; k < n; k++)
            w[k] *= k % 2 ? 1.08f : 0.95f;
        for (int per_input = 0; per_input < 2; per_input++) {
            ev->per_input = per_input;
            double whole;
            assert_int_equal(nnz_calib_eval_error(ev, 0, 9, &whole, NULL, &e), 0);
            assert_true(whole > 0);
            int stops = 0;
            for (double f = 0.05; f < 2; f *= 1.25) {
                nnz_calib_sums s;
                assert_int_equal(nnz_calib_sums_init(&s, ev->nout, &e), 0);
                int r = nnz_calib_eval_add_until(ev, 9, whole * f, &s, &e);
                assert_true(r == 0 || r == 1);
                if (r == 1) {
                    stops++;
                    assert_true(whole > whole * f);
                    assert_true(s.to < 9);
                    double b = nnz_calib_eval_bound(ev, &s, 9);
                    assert_true(b > whole * f && b <= whole * (1 + 1e-9));
                } else {
                    double got = nnz_calib_sums_worst(ev, &s, NULL);
                    assert_int_equal((int)s.to, 9);
                    assert_memory_equal(&got, &whole, sizeof got);
                }
                nnz_calib_sums_free(&s);
            }
            assert_true(stops > 0); /* far below the error it does stop */
        }
        nnz_calib_eval_free(ev);
        nnz_model_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resumed_errors_equal_full_runs),
        cmocka_unit_test(only_dependent_nodes_run),
        cmocka_unit_test(continued_sums_equal_one_measurement),
        cmocka_unit_test(budget_search_holds_on_the_whole_set),
        cmocka_unit_test(workers_give_the_errors_of_one),
        cmocka_unit_test(mapped_items_measure_alone),
        cmocka_unit_test(a_stopped_run_was_a_sure_miss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
