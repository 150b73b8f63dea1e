/* infer_calib.h - calibration inputs for the passes' output budgets
 * (docs/architecture.md, "Calibration"): what the CLI says about the inputs
 * (nnz_calib, filled from compress's --inputs / --input-spec options and
 * handed to the stages through the pipeline), and an evaluator a pass opens
 * on the model to measure how far the outputs move when it changes weights
 * in the interpreter (nnz_calib_eval).
 *
 * The set is split in two: the first part calibrates (passes choose with
 * it), the rest is held out (only measured, so a report shows when a choice
 * overfits the inputs it was made on). */
#ifndef NNZ_INFER_CALIB_H
#define NNZ_INFER_CALIB_H

#include <stddef.h>
#include <stdint.h>

#include "infer.h"
#include "infer_feed.h"

/* The defaults of compress (docs/cli.md). */
#define NNZ_CALIB_SETS 32        /* generated inputs when no folder is given */
#define NNZ_CALIB_HOLDOUT 0.25   /* fraction of the sets held out */

/* The reference outputs of the first evaluator opened with a given
 * nnz_calib, kept for the evaluators opened after it: every stage of a
 * pipeline, and a pass measuring the model it rewrote, compare with the
 * model as the first stage with a budget received it (docs/pipelines.md,
 * "Output budgets": the budgets are cumulative). */
typedef struct nnz_calib_ref {
    float **ref;                 /* as nnz_calib_eval's */
    nnz_itensor *iref;
    size_t nfeeds, nout;
    double seconds_per_run;
} nnz_calib_ref;

/* Free what a nnz_calib_ref holds (the struct itself is the caller's). */
void nnz_calib_ref_free(nnz_calib_ref *r);

typedef struct nnz_calib {
    const char *inputs;          /* a folder, or a folder of test_data_set_N; NULL: generated */
    const char *spec;            /* --input-spec (NULL: the declared shapes) */
    const char *spec_model;      /* --spec-model */
    uint64_t seed;
    int sets;                    /* generated inputs: how many (batches 0..sets-1 of seed) */
    double holdout;              /* fraction held out, in [0, 0.9] */
    nnz_infer_opts opts;         /* memory limit, symbolic dims; threads: OpenBLAS's
                                  * (forced to one when workers > 1) */
    /* Interpreters running the inputs of one measurement side by side, one
     * thread each (0 or 1: one, in the caller's thread). Each input's
     * figures are added in input order, so the result is the same bits for
     * any number (docs/cli.md, compress --threads). */
    int workers;
    /* Progress of a long search ("quantize: sensitivity", k, n); NULL: none. */
    void (*progress)(void *ctx, const char *what, size_t done, size_t total);
    void *progress_ctx;
    /* Where the first evaluator leaves its reference outputs and the later
     * ones find them (zeroed by the caller, freed with nnz_calib_ref_free).
     * NULL: each evaluator's reference is the model as it is when opened. */
    nnz_calib_ref *keep;
} nnz_calib;

/* An interpreter on a model with the calibration inputs loaded and the
 * model's own outputs on each of them kept as the reference. */
typedef struct nnz_calib_eval {
    nnz_infer *inf;
    nnz_feed *feeds;
    size_t nfeeds;
    size_t ncal;                 /* feeds [0, ncal) calibrate, [ncal, nfeeds) are held out */
    size_t nout;
    float **ref;                 /* ref[f * nout + o]: float output o on feed f (NULL: not float) */
    nnz_itensor *iref;           /* integer outputs, compared exactly */
    const nnz_calib *calib;
    double seconds_per_run;      /* measured on the reference runs */
    int per_input;               /* the error of the worst single input, not pooled */
    int ref_kept;                /* ref and iref belong to calib->keep */
    nnz_infer_snap **snap;       /* per feed: every value of a run (nnz_calib_eval_keep) */
    size_t nsnap;
    /* lane[0] is inf; lane[1..nlanes) run other inputs of the same
     * measurement on worker threads, reading inf's weights (calib->workers) */
    nnz_infer **lane;
    size_t nlanes;
    double *ref2;                /* ref2[f * nout + o]: squared L2 of the reference */
} nnz_calib_eval;

/* The most calibration workers (compress --threads). */
#define NNZ_CALIB_MAX_WORKERS 64

/* Bytes of kept values (all feeds) at most, when opts.max_memory is not set. */
#define NNZ_CALIB_KEEP_BYTES (1ull << 30)

/* Load the inputs, run the model on each and keep its outputs. The model's
 * weights as they are now are the reference, unless c->keep already holds
 * one (then the model runs once, to time it). */
int nnz_calib_eval_open(const nnz_calib *c, nnz_model *m, nnz_calib_eval **out, nnz_error *e);
void nnz_calib_eval_free(nnz_calib_eval *ev);

/* Run feeds [from, to) with the interpreter's weights as they are now.
 * *worst gets the largest output relative L2 (||ref - y|| / ||ref|| pooled
 * over the feeds, per output: the measure of verify --max-output-error;
 * infinite when an integer output changes or a value turns non-finite).
 * With ev->per_input, each input's error is taken alone and the worst
 * input counts (what a check on one input at a time sees).
 * `per_out` (nout doubles, may be NULL) gets each output's squared relative
 * L2. */
int nnz_calib_eval_error(nnz_calib_eval *ev, size_t from, size_t to, double *worst,
                         double *per_out, nnz_error *e);

/* Keep every value of a run on feeds [0, to) with the weights as they are
 * now (the budgets' reference point, before their sensitivities), within
 * opts.max_memory (else NNZ_CALIB_KEEP_BYTES) for all: a feed over it is
 * not kept. Values kept before are let go first (to = 0: only that). */
int nnz_calib_eval_keep(nnz_calib_eval *ev, size_t to, nnz_error *e);

/* nnz_calib_eval_error where only the weights named in `changed` differ
 * from those nnz_calib_eval_keep saw: on a kept feed only the nodes that
 * depend on them run (nnz_infer_run_from); the same error, bit for bit. */
int nnz_calib_eval_error_from(nnz_calib_eval *ev, const char *const *changed, size_t nchanged,
                              size_t from, size_t to, double *worst, double *per_out,
                              nnz_error *e);

/* Items [0, n) side by side, one per interpreter of the evaluator at a
 * time (calib->workers; handed out in order, the first on ev->inf in the
 * caller's thread, the others on worker threads): e.g. a pass measuring
 * several choices at once, each item changing weights on its own `inf`
 * only (nnz_infer_weight_use, put back before it returns) and measuring
 * there (nnz_calib_eval_error_on). Every interpreter reads ev->inf's
 * weights as they are at the call; an item writes only what is its own.
 * On failure, the lowest failing item's error. */
typedef int (*nnz_calib_job)(void *ctx, nnz_infer *inf, size_t i, nnz_error *e);
int nnz_calib_eval_map(nnz_calib_eval *ev, size_t n, nnz_calib_job job, void *ctx, nnz_error *e);
/* nnz_calib_eval_error_from on one interpreter of ev (as a job gets it),
 * its inputs one after another: the same doubles. */
int nnz_calib_eval_error_on(nnz_calib_eval *ev, nnz_infer *inf, const char *const *changed,
                            size_t nchanged, size_t from, size_t to, double *worst,
                            double *per_out, nnz_error *e);

/* The sums behind an output error (per output, over the feeds run so far),
 * so that a measurement on more inputs goes on from one on fewer with the
 * same weights: feeds [0, to) are in. nnz_calib_eval_error's arithmetic,
 * in the same order, so the same doubles. */
typedef struct nnz_calib_sums {
    size_t nout, to;
    double *err2, *ref2;         /* per output: squared error and reference (per-input: worst) */
    double worst_in;             /* the worst single input's squared relative L2 (either mode) */
    int broken;
} nnz_calib_sums;
int nnz_calib_sums_init(nnz_calib_sums *s, size_t nout, nnz_error *e);
void nnz_calib_sums_free(nnz_calib_sums *s);
void nnz_calib_sums_copy(nnz_calib_sums *dst, const nnz_calib_sums *src);
/* Run feeds [s->to, to) (full runs) and add them. */
int nnz_calib_eval_add(nnz_calib_eval *ev, size_t to, nnz_calib_sums *s, nnz_error *e);
/* nnz_calib_eval_add that gives up once the error over feeds [0, to) is
 * sure to come out above `stop` (what the feeds run so far add, against
 * the most the reference of the rest can: a bound, never an estimate),
 * checked after each block of as many inputs as there are workers. Returns
 * 1 when it gave up (s->to < to: s holds the inputs run), 0 when all ran,
 * -1 on error. */
int nnz_calib_eval_add_until(nnz_calib_eval *ev, size_t to, double stop, nnz_calib_sums *s,
                             nnz_error *e);
/* The least worst output relative L2 the sums can end at once feeds
 * [s->to, to) are added (the bound nnz_calib_eval_add_until stops on). */
double nnz_calib_eval_bound(const nnz_calib_eval *ev, const nnz_calib_sums *s, size_t to);
/* The worst output relative L2 of the sums (per_out as nnz_calib_eval_error's). */
double nnz_calib_sums_worst(const nnz_calib_eval *ev, const nnz_calib_sums *s, double *per_out);
/* The largest of v[0..n) (a broken output is INFINITY), 0 for none: the
 * worst of a budget's per-output figures. */
double nnz_worst_of(const double *v, size_t n);

/* Run feeds [from, to) with `hook` watching every node (as
 * nnz_infer_opts.hook: it sees each node's inputs and outputs, e.g. to
 * collect a layer's input activations); the outputs are not compared. */
int nnz_calib_eval_observe(nnz_calib_eval *ev, size_t from, size_t to, nnz_infer_hook hook,
                           void *ctx, nnz_error *e);

/* The multiply-accumulates of a model's Conv, ConvTranspose, Gemm and
 * MatMul layers on one input (a run with a node hook, in an interpreter of
 * its own): per layer and in all. */
typedef struct nnz_macs {
    const Onnx__NodeProto **node;
    double *macs;
    size_t n, cap;
    double total;
} nnz_macs;
int nnz_macs_count(const nnz_calib *cal, nnz_model *m, const nnz_feed *feed, nnz_macs *pm,
                   nnz_error *e);
/* A layer's MACs in pm (a nnz_macs *; 0: not a counted layer). */
double nnz_macs_node(void *pm, const Onnx__NodeProto *n);
void nnz_macs_free(nnz_macs *pm);

/* Equal-slope allocation (a Lagrange multiplier for all): item i takes one
 * of its nopt options, option k costing cost[k] (what it keeps: bits,
 * parameters, MACs) with predicted distortion d[k] (the squared output
 * relative L2 it causes alone; the items' distortions are taken to add).
 * For a multiplier lambda each item takes the option minimising
 * cost + lambda d (ties: the lower k); the smallest lambda whose summed d is
 * within `budget` is found by bisection on log lambda. Fills choice[] and
 * returns that sum of d; *total_cost gets the summed cost. */
typedef struct nnz_alloc_item {
    size_t nopt;
    const double *cost;
    const double *d;
} nnz_alloc_item;
double nnz_alloc_equal_slope(const nnz_alloc_item *items, size_t n, double budget,
                             size_t *choice, double *total_cost);

/* The search every output budget runs (quantize, prune and decompose
 * max-output-error=X; docs/architecture.md, "Calibration"): the pass
 * predicts, the interpreter decides. The budget of predicted distortion
 * handed to the pass's allocation is scaled until the error measured on a
 * subset of the calibration inputs (`inputs`) holds, bracketing it between
 * a budget that held and one that did not; the cheapest choice that held is
 * then measured on the whole calibration set (going on from its subset's
 * sums), and when that misses, the search runs again aiming lower. None
 * holds: nothing changes. On return the chosen (the best, or nothing
 * changed) is in the interpreter, `measured` its error on the whole
 * calibration set. */
typedef struct nnz_budget_search {
    nnz_calib_eval *ev;
    double x;                    /* the budget: worst output relative L2 */
    const char *what;            /* its progress, "quantize: confirming" */
    int rounds;                  /* searches, each aiming lower when the whole set missed */
    int runs;                    /* allocations measured in one search, at most */
    size_t inputs;               /* calibration inputs a search measures on */
    double close;                /* a failing and a holding budget this close (ratio): done */
    double step;                 /* one scaling of the budget: within [0.05, step] */
    double lowest, highest;      /* a search ends past x^2 lowest .. x^2 highest */
    /* the pass's side */
    void *ctx;
    /* choose for a budget of predicted distortion (the squared relative
     * L2 summed over the items); returns the predicted sum, *cost what the
     * choice keeps (bits, parameters) */
    double (*allocate)(void *ctx, double budget, double *cost);
    int (*apply)(void *ctx, nnz_error *e); /* the current choice into the interpreter */
    void (*keep)(void *ctx);               /* the current choice becomes the best */
    void (*use)(void *ctx, int best);      /* the current choice: the best (1), or nothing (0) */
    /* may be NULL: is the current choice the one applied last? (then its
     * measurement stands, and the runs are saved) */
    int (*same)(void *ctx);
    /* results */
    int have_best;               /* a choice held */
    double best_pred;            /* its predicted distortion */
    double measured;             /* the chosen's error on the calibration inputs */
    double measured_input;       /* its worst single calibration input's (either mode) */
    int confirms;                /* measurements run (a choice measured before is not run again) */
    size_t inputs_run;           /* the inputs they ran (a sure miss stops early) */
} nnz_budget_search;
int nnz_budget_search_run(nnz_budget_search *s, nnz_error *e);

struct cJSON;
/* A budget's measured errors in its report object r, in the one layout
 * every budget uses (docs/cli.md): calibration_sets, heldout_sets,
 * output_error_calibration (cal), output_error_heldout (held; null when no
 * input is held out) and met (cal <= x). */
void nnz_calib_report_errors(struct cJSON *r, const nnz_calib_eval *ev, double x, double cal,
                             double held);
/* The one-line summary of such a report: "PASS: output budget X (...):
 * measured ..., held-out ...; N s", into buf. */
void nnz_calib_budget_line(const struct cJSON *b, const char *pass, char *buf, size_t n);

/* Report a step of a search (no-op without a progress callback). */
void nnz_calib_progress(const nnz_calib *c, const char *what, size_t done, size_t total);

#endif
