/* prune.c - the prune pass: magnitude pruning (Han et al. 2015, "Learning
 * both Weights and Connections", arXiv 1506.02626), per layer or with one
 * global cut, of single weights or of whole output channels
 * (docs/passes/prune.md); structured=channel removes whole channels from the
 * graph instead (prune_channel.c).
 *
 * A pruned weight becomes exactly +0.0f and the state is marked `pruned`;
 * the blob encoder then weighs a sparse layout (gap-coded positions) against
 * the dense one, k-means keeps an exact 0 centroid, and uniform steps map 0
 * to their zero point. This pass writes no encoding of its own. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer_calib.h"
#include "metrics.h"
#include "prune.h"

static const char options[] =
    "sparsity=S (0 <= S < 1) | threshold=K (|w| < K x std) | sparsity=auto + max-rel-error=X, "
    "max-output-error=X (calibration inputs; error=pooled|per-input, cost=params|macs), "
    "scope=layer|global, normalize=std|none (scope=global), structured=channel, norm=l1|l2|output, group=every|sum (structured=channel)";

extern const nnz_pass nnz_pass_prune;

/* ---- options ----------------------------------------------------------------- */

/* A number (strtod, the whole value); 0 when it is one. */
static int number(const char *s, double *out)
{
    char *end;
    if (!s || !*s)
        return -1;
    double v = strtod(s, &end);
    if (*end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static void free_opts(void *vo)
{
    prune_opts *o = vo;
    if (!o)
        return;
    for (size_t i = 0; i < o->nplan; i++)
        free(o->plan[i].name);
    free(o->plan);
    nnz_strmap_free(&o->plans);
    for (size_t i = 0; i < o->nchoice; i++)
        free(o->choice[i].name);
    free(o->choice);
    nnz_strmap_free(&o->choices);
    free(o);
}

static int parse(const nnz_kv *kv, size_t n, void **out, nnz_error *e)
{
    prune_opts *o = nnz_calloc(1, sizeof *o, e);
    if (!o)
        return -1;
    o->normalize = PR_NORMALIZE_STD;
    o->norm = PR_L2;
    /* normalize= matters only with scope=global and norm= only with
     * structured=channel; both are accepted otherwise, so a per-layer override
     * (docs/config.md: the stage's keys plus its own) can switch the mode */
    int has_sparsity = 0, has_threshold = 0, has_error = 0, has_budget = 0, error_given = 0,
        cost_given = 0;
    for (size_t i = 0; i < n; i++) {
        const nnz_kv *k = &kv[i];
        int rc = 0;
        if (strcmp(k->key, "sparsity") == 0) {
            has_sparsity = 1;
            double v;
            if (k->value && strcmp(k->value, "auto") == 0) {
                o->rule = PR_AUTO;
            } else if (number(k->value, &v) != 0 || v < 0 || v > 1) {
                rc = nnz_fail(e, NNZ_EXIT_USAGE,
                              "prune: sparsity=%s: expected the fraction of weights to prune, a "
                              "number in [0, 1) such as 0.9, or auto",
                              k->value ? k->value : "(missing)");
            } else if (v == 1) {
                rc = nnz_fail(e, NNZ_EXIT_USAGE,
                              "prune: sparsity=%s would leave every layer all zeros; expected a "
                              "number in [0, 1) such as 0.9 or 0.99", k->value);
            } else {
                o->rule = PR_SPARSITY;
                o->sparsity = v;
            }
        } else if (strcmp(k->key, "threshold") == 0) {
            has_threshold = 1;
            o->rule = PR_THRESHOLD;
            if (number(k->value, &o->k) != 0 || o->k < 0)
                rc = nnz_fail(e, NNZ_EXIT_USAGE,
                              "prune: threshold=%s: expected a number K >= 0; weights with "
                              "|w| < K x the layer's standard deviation are pruned",
                              k->value ? k->value : "(missing)");
        } else if (strcmp(k->key, "max-rel-error") == 0) {
            has_error = 1;
            rc = nnz_opt_double("prune", k, 0, 1, &o->max_rel_error, e);
        } else if (strcmp(k->key, "max-output-error") == 0) {
            has_budget = 1;
            rc = nnz_opt_double("prune", k, 1e-6, 1, &o->max_output_error, e);
        } else if (strcmp(k->key, "error") == 0) {
            error_given = 1;
            rc = nnz_opt_choice("prune", k, "pooled|per-input", &o->per_input, e);
        } else if (strcmp(k->key, "cost") == 0) {
            cost_given = 1;
            rc = nnz_opt_choice("prune", k, "params|macs", &o->cost, e);
        } else if (strcmp(k->key, "scope") == 0) {
            rc = nnz_opt_choice("prune", k, "layer|global", &o->scope, e);
        } else if (strcmp(k->key, "normalize") == 0) {
            int c = 0;
            rc = nnz_opt_choice("prune", k, "std|none", &c, e);
            o->normalize = c == 0 ? PR_NORMALIZE_STD : PR_NORMALIZE_NONE;
        } else if (strcmp(k->key, "structured") == 0) {
            rc = nnz_opt_choice("prune", k, "none|channel", &o->channel, e);
        } else if (strcmp(k->key, "group") == 0) {
            rc = nnz_opt_choice("prune", k, "every|sum", &o->group_sum, e);
            o->group_given = 1;
        } else if (strcmp(k->key, "norm") == 0) {
            int c = 0;
            rc = nnz_opt_choice("prune", k, "l1|l2|output", &c, e);
            o->norm = c == 0 ? PR_L1 : c == 1 ? PR_L2 : PR_OUTPUT;
        } else {
            rc = nnz_opt_unknown(&nnz_pass_prune, k, e);
        }
        if (rc != 0) {
            free_opts(o);
            return -1;
        }
    }
    const char *bad = NULL;
    if (has_budget && (has_sparsity || has_threshold || has_error))
        bad = "max-output-error=X chooses each layer's share itself; drop sparsity=, threshold= "
              "and max-rel-error= (or drop max-output-error)";
    else if (has_budget && o->scope == PR_GLOBAL)
        bad = "max-output-error=X chooses a share per layer; it does not combine with "
              "scope=global";
    else if (has_budget && o->group_given)
        bad = "max-output-error=X removes a count of channels per group, ranked by the group's "
              "summed scores (as group=sum); drop group=";
    else if (error_given && !has_budget)
        bad = "error= says how max-output-error is measured; add max-output-error=X";
    else if (cost_given && !(has_budget && o->channel))
        bad = "cost= says what max-output-error saves in channels; it goes with "
              "structured=channel,max-output-error=X";
    else if (o->norm == PR_OUTPUT && !(has_budget && o->channel))
        bad = "norm=output ranks each channel by the output error its removal measures on the "
              "calibration inputs; it goes with structured=channel,max-output-error=X";
    else if (has_budget)
        o->rule = PR_BUDGET;
    else if (!has_sparsity && !has_threshold)
        bad = "say how much to prune: sparsity=S (the fraction of weights, e.g. 0.9), "
              "threshold=K (|w| < K x the layer's standard deviation), "
              "sparsity=auto,max-rel-error=X, or max-output-error=X (with calibration inputs)";
    else if (has_sparsity && has_threshold)
        bad = "sparsity= and threshold= both say how much to prune; give one of them";
    else if (has_error && o->rule != PR_AUTO)
        bad = "max-rel-error=X goes with sparsity=auto (the largest sparsity per tensor whose "
              "weight error stays within X); add sparsity=auto or drop max-rel-error";
    else if (o->rule == PR_AUTO && !has_error)
        bad = "sparsity=auto needs max-rel-error=X, the weight relative L2 error each tensor "
              "may reach (e.g. max-rel-error=0.3)";
    else if (o->channel && o->scope == PR_GLOBAL)
        bad = "structured=channel removes channels layer by layer (sparsity= is the fraction of "
              "each layer's channels); it does not combine with scope=global (use scope=layer, "
              "the default)";
    else if (o->rule == PR_AUTO && o->scope == PR_GLOBAL)
        bad = "sparsity=auto chooses a sparsity per tensor; it does not combine with "
              "scope=global (use scope=layer, the default)";
    if (bad) {
        free_opts(o);
        return nnz_fail(e, NNZ_EXIT_USAGE, "prune: %s", bad);
    }
    *out = o;
    return 0;
}

/* ---- which tensors ----------------------------------------------------------- */

/* An empty tensor has nothing to prune and is left as it is. */
static int selects(const nnz_tensor *t, const void *opts)
{
    (void)opts;
    /* the integer weights of a model quantized before nnzip saw it are
     * selected only to be refused with a message that says what to do */
    return t->count > 0 && (nnz_tensor_is_weight(t) || nnz_tensor_is_codes(t));
}

static int refuse_not_float(const nnz_tensor *t, nnz_error *e)
{
    return nnz_fail(e, NNZ_EXIT_USAGE,
                    "tensor '%s' is %s: the codes of an already quantized model, not float "
                    "weights; prune the float model before it is quantized "
                    "('prune:... | quantize:...'), or leave this tensor out with skip=%s",
                    t->name, nnz_dtype_name(t->dtype), t->name);
}

static int refuse_no_channel(const nnz_tensor *t, nnz_error *e)
{
    return nnz_fail(e, NNZ_EXIT_USAGE,
                    "structured=channel: tensor '%s' feeds %s (input %d), which has no output "
                    "channel axis to prune along; leave it out with skip=%s, or prune without "
                    "structured=channel", t->name,
                    t->consumer && t->consumer->op_type ? t->consumer->op_type : "no node",
                    t->consumer_slot, t->name);
}

/* The units of tensor t: weights, or its output channels. */
static int layout_of(const nnz_tensor *t, size_t n, int channel, prune_layout *lay,
                     int *axis)
{
    lay->nunits = n;
    lay->inner = 1;
    *axis = -1;
    if (!channel)
        return 0;
    int a = nnz_tensor_channel_axis(t);
    if (a < 0 || a >= t->ndims)
        return -1;
    size_t inner = 1;
    for (int d = a + 1; d < t->ndims; d++)
        inner *= (size_t)t->dims[d];
    lay->nunits = (size_t)t->dims[a];
    lay->inner = inner ? inner : 1;
    *axis = a;
    return 0;
}

static int check_finite(const float *v, size_t n, nnz_error *e)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return nnz_fail(e, NNZ_EXIT_INPUT,
                            "value %zu is %s; pruning ranks weights by magnitude and needs "
                            "finite weights (fix the model)", i, isnan(v[i]) ? "NaN" : "infinite");
    return 0;
}

/* ---- scope=global: one cut over every selected tensor ----------------------- */

typedef struct gunit {
    double q;       /* the unit's score, divided by its layer's std with normalize=std */
    uint32_t t;     /* which plan (model order) */
    size_t u;       /* unit index in its tensor */
} gunit;

static int cmp_gunit(const void *a, const void *b)
{
    const gunit *x = a, *y = b;
    if (x->q != y->q)
        return x->q < y->q ? -1 : 1;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->u < y->u ? -1 : x->u > y->u;
}

/* The global order is (score, tensor, unit); inside one tensor that is its
 * own (score, unit) order, so telling each tensor how many of its units fall
 * before the cut is the same as cutting the global list. */
static int plan_global(nnz_model *m, prune_opts *o, const uint8_t *selected, cJSON *report,
                       nnz_error *e)
{
    size_t nt = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < m->ntensors; i++)
        if (selected[i]) {
            nt++;
            total += m->tensors[i].count;
        }
    if (nnz_strmap_init(&o->plans, nt, e) != 0)
        return -1;
    o->plan = nnz_calloc(nt ? nt : 1, sizeof *o->plan, e);
    double *std = nnz_calloc(nt ? nt : 1, sizeof *std, e);
    gunit *g = nnz_malloc((size_t)(total ? total : 1) * sizeof *g, e);
    if (!o->plan || !std || !g) {
        free(std);
        free(g);
        return -1;
    }
    size_t ng = 0;
    double pool_sum = 0, pool_sq = 0;
    uint64_t pool_n = 0;
    int rc = 0;
    for (size_t i = 0; i < m->ntensors && rc == 0; i++) {
        if (!selected[i])
            continue;
        nnz_tensor *t = &m->tensors[i];
        size_t p = o->nplan;
        prune_plan *pl = &o->plan[o->nplan++];
        if (!(pl->name = nnz_strdup(t->name, e)) ||
            nnz_strmap_put(&o->plans, pl->name, p, e) != 0) {
            rc = -1;
            break;
        }
        if (t->count == 0)
            continue;
        float *v = nnz_tensor_floats(m, t, e);
        prune_layout lay;
        prune_order ord;
        int axis;
        layout_of(t, t->count, o->channel, &lay, &axis); /* prepare checked the axis */
        if (!v || check_finite(v, t->count, e) != 0 ||
            prune_order_make(v, t->count, &lay, o->norm, &ord, e) != 0) {
            free(v);
            rc = nnz_wrap(e, "tensor '%s': ", t->name);
            break;
        }
        std[p] = prune_std(v, t->count);
        for (size_t k = 0; k < t->count; k++) {
            pool_sum += v[k];
            pool_sq += (double)v[k] * v[k];
        }
        pool_n += t->count;
        double div = o->normalize == PR_NORMALIZE_STD ? std[p] : 1;
        for (size_t j = 0; j < ord.nunits; j++) {
            double s = ord.score[j];
            g[ng].q = div > 0 ? s / div : s > 0 ? INFINITY : 0;
            g[ng].t = (uint32_t)p;
            g[ng].u = ord.unit[j];
            ng++;
        }
        prune_order_free(&ord);
        free(v);
    }
    if (rc != 0) {
        free(std);
        free(g);
        return -1;
    }
    qsort(g, ng, sizeof *g, cmp_gunit);
    size_t cut_at;
    if (o->rule == PR_SPARSITY) {
        cut_at = prune_count_sparsity(ng, o->sparsity);
        o->global_cut = cut_at < ng ? g[cut_at].q : INFINITY;
    } else { /* threshold: K (normalized scores), or K x the std of every weight pooled */
        double mean = pool_n ? pool_sum / (double)pool_n : 0;
        double var = pool_n ? pool_sq / (double)pool_n - mean * mean : 0;
        o->global_cut = o->k * (o->normalize == PR_NORMALIZE_STD ? 1 : sqrt(var > 0 ? var : 0));
        cut_at = 0;
        while (cut_at < ng && g[cut_at].q < o->global_cut)
            cut_at++;
    }
    for (size_t j = 0; j < cut_at; j++)
        o->plan[g[j].t].units++;
    for (size_t p = 0; p < o->nplan; p++)
        o->plan[p].cut = o->normalize == PR_NORMALIZE_STD ? o->global_cut * std[p]
                                                          : o->global_cut;
    o->global_units = ng;
    o->global_pruned = cut_at;
    free(std);
    free(g);
    cJSON *r = cJSON_AddObjectToObject(report, "prune");
    cJSON_AddStringToObject(r, "scope", "global");
    cJSON_AddStringToObject(r, "normalize", o->normalize == PR_NORMALIZE_STD ? "std" : "none");
    cJSON_AddNumberToObject(r, "tensors", (double)o->nplan);
    cJSON_AddNumberToObject(r, "units", (double)ng);
    cJSON_AddNumberToObject(r, "pruned", (double)cut_at);
    cJSON_AddNumberToObject(r, "cut", o->global_cut);
    return 0;
}

static int prepare(nnz_model *m, void *vo, const uint8_t *selected, cJSON *report,
                   nnz_error *e)
{
    prune_opts *o = vo;
    /* refuse what cannot be pruned before any output is made */
    for (size_t i = 0; i < m->ntensors; i++) {
        if (!selected[i])
            continue;
        const nnz_tensor *t = &m->tensors[i];
        if (!nnz_dtype_is_float(t->dtype))
            return refuse_not_float(t, e);
        int a = nnz_tensor_channel_axis(t);
        if (o->channel && (a < 0 || a >= t->ndims))
            return refuse_no_channel(t, e);
    }
    o->prepared = 1;
    if (o->channel)
        return 0; /* prune_channels does the rest */
    if (o->scope == PR_GLOBAL)
        return plan_global(m, o, selected, report, e);
    return 0;
}

/* structured=channel rewrites the graph (pass.h: rewrites_graph_with). */
static int rewrites_graph_with(const void *opts)
{
    return ((const prune_opts *)opts)->channel;
}

/* structured=channel (the stage's, or a per-layer override's) removes channels
 * from the graph here (prune_channel.c); the rest is ranked in `run`. */
static int prepare_stage(nnz_model *m, const nnz_stage *st, cJSON *report, nnz_error *e)
{
    int channel = 0;
    for (size_t i = 0; i < m->ntensors; i++) {
        const prune_opts *o = st->selected[i] ? nnz_stage_opts_for(st, &m->tensors[i]) : NULL;
        channel |= o && o->channel;
    }
    if (prepare(m, st->opts, st->selected, report, e) != 0)
        return -1;
    prune_opts *o = st->opts;
    if (o->rule == PR_BUDGET) {
        if (st->nov > 0)
            return nnz_fail(e, NNZ_EXIT_USAGE,
                            "max-output-error chooses every layer's share itself; per-layer "
                            "overrides do not combine with it (use only= or skip= to choose "
                            "layers)");
        return prune_budget(m, st, o, report, e);
    }
    return channel ? prune_channels(m, st, report, e) : 0;
}

/* ---- one tensor ---------------------------------------------------------------- */

static const char *rule_name(int r)
{
    return r == PR_THRESHOLD ? "threshold" : r == PR_AUTO ? "auto" : "sparsity";
}

static void report_curve(cJSON *r, const prune_order *ord)
{
    cJSON *c = cJSON_AddArrayToObject(r, "sensitivity");
    for (size_t p = 0; p < prune_curve_points; p++) {
        double s = prune_curve_sparsity[p];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "sparsity", s);
        cJSON_AddNumberToObject(x, "rel_l2",
                                prune_order_error(ord, prune_count_sparsity(ord->nunits, s)));
        cJSON_AddItemToArray(c, x);
    }
}

static int run(nnz_model *m, nnz_tensor *t, nnz_state *st, const void *vo, cJSON *rep,
               nnz_error *e)
{
    (void)m;
    const prune_opts *o = vo;
    if (!nnz_dtype_is_float(t->dtype) || st->hashed ||
        (st->kind != NNZ_VAL_F32 && st->kind != NNZ_VAL_F16 && st->kind != NNZ_VAL_BF16))
        return refuse_not_float(t, e);
    size_t n = st->n;
    float *v = st->values;
    if (o->channel) {
        /* the channels went in prepare, out of the graph (report: prune.layers) */
        cJSON *r = cJSON_AddObjectToObject(rep, "prune");
        cJSON_AddStringToObject(r, "structure", "channel");
        cJSON_AddStringToObject(r, "rewrite", "removed channels are cut out of the graph; "
                                "the tensor keeps the others as they were (see prune.layers)");
        return 0;
    }
    if (o->rule == PR_BUDGET) {
        /* the output budget pruned it in prepare, in the model's own weights */
        const prune_choice *c = prune_choice_find(o, t->name);
        cJSON *r = cJSON_AddObjectToObject(rep, "prune");
        cJSON_AddStringToObject(r, "rule", "max-output-error");
        cJSON_AddNumberToObject(r, "max_output_error", o->max_output_error);
        cJSON_AddStringToObject(r, "structure", "weight");
        cJSON_AddNumberToObject(r, "elements", (double)n);
        cJSON_AddNumberToObject(r, "pruned", c ? (double)c->units : 0);
        cJSON_AddNumberToObject(r, "sparsity", c && n ? (double)c->units / (double)n : 0);
        cJSON_AddNumberToObject(r, "rel_l2", c ? c->rel_l2 : 0);
        cJSON_AddBoolToObject(r, "measured", c && c->measured);
        return 0;
    }
    if (check_finite(v, n, e) != 0)
        return -1;
    prune_layout lay;
    int axis;
    if (layout_of(t, n, o->channel, &lay, &axis) != 0)
        return refuse_no_channel(t, e);
    /* Options that never went through prepare are a per-layer override
     * (docs/config.md): the global cut is the stage's, so an override's
     * tensor is pruned on its own, as with scope=layer. */
    int scope = o->scope;
    if (scope == PR_GLOBAL && !o->prepared) {
        scope = PR_LAYER;
        nnz_report_warn(rep, "prune: a per-layer override of a scope=global stage: this tensor "
                        "is pruned on its own (scope=layer), not by the global cut");
    }
    const prune_plan *plan = NULL;
    if (scope == PR_GLOBAL) {
        size_t p;
        if (!nnz_strmap_get(&o->plans, t->name, &p))
            return nnz_fail(e, NNZ_EXIT_INTERNAL, "scope=global: the tensor was not ranked "
                            "with the others (a bug: prepare did not see it)");
        plan = &o->plan[p];
    }
    prune_order ord;
    if (prune_order_make(v, n, &lay, o->norm, &ord, e) != 0)
        return -1;
    double sd = prune_std(v, n);

    /* how many units */
    size_t k;
    double cut = NAN;
    if (plan) {
        k = plan->units;
        cut = plan->cut;
    } else if (o->rule == PR_SPARSITY) {
        k = prune_count_sparsity(lay.nunits, o->sparsity);
    } else if (o->rule == PR_THRESHOLD) {
        cut = o->k * sd;
        k = prune_count_below(&ord, cut);
    } else {
        k = prune_count_error(&ord, o->max_rel_error);
    }
    cJSON *r = cJSON_AddObjectToObject(rep, "prune");
    if (lay.nunits > 0 && k >= lay.nunits) {
        k = lay.nunits - 1;
        nnz_report_warn(rep, "prune: the %s would prune every %s of this tensor; kept its "
                        "largest %s, so it is not all zeros", rule_name(o->rule),
                        o->channel ? "channel" : "weight", o->channel ? "channel" : "weight");
    }

    /* sparsity=auto: the count came from sums in sorted order; the error the
     * report shows sums in index order and may differ in the last bits. If
     * it misses the target, search (on a scratch copy) for the largest count
     * whose measured error meets it; 0 always does. */
    nnz_err_stats s;
    if (o->rule == PR_AUTO && k > 0) {
        float *w = nnz_malloc(n * sizeof *w, e);
        if (!w) {
            prune_order_free(&ord);
            return -1;
        }
        memcpy(w, v, n * sizeof *w);
        prune_apply(w, NULL, n, &lay, &ord, k);
        nnz_err_compute(st->orig, w, n, &s);
        if (s.rel_l2 > o->max_rel_error) {
            size_t lo = 0, hi = k - 1; /* lo meets the target */
            while (lo < hi) {
                size_t mid = lo + (hi - lo + 1) / 2;
                memcpy(w, v, n * sizeof *w);
                prune_apply(w, NULL, n, &lay, &ord, mid);
                nnz_err_compute(st->orig, w, n, &s);
                if (s.rel_l2 <= o->max_rel_error)
                    lo = mid;
                else
                    hi = mid - 1;
            }
            k = lo;
        }
        free(w);
    }
    uint32_t *codes = st->kind == NNZ_VAL_F32 ? NULL : st->codes; /* half floats: their bits */
    size_t zeroed = prune_apply(v, codes, n, &lay, &ord, k);
    nnz_err_compute(st->orig, v, n, &s);
    st->pruned = st->pruned || zeroed > 0;

    /* what the cut was: pruned units score below it, or equal to it with a lower
     * index than every kept unit of that score */
    double threshold = cut;
    size_t ties = 0;
    if (isnan(cut) || o->rule == PR_AUTO) {
        threshold = k < ord.nunits ? ord.score[k] : ord.nunits ? ord.score[ord.nunits - 1] : 0;
    }
    for (size_t j = k; j-- > 0 && ord.score[j] == threshold;)
        ties++;

    cJSON_AddStringToObject(r, "rule", rule_name(o->rule));
    if (o->rule == PR_SPARSITY)
        cJSON_AddNumberToObject(r, "requested", o->sparsity);
    else if (o->rule == PR_THRESHOLD)
        cJSON_AddNumberToObject(r, "k", o->k);
    else
        cJSON_AddNumberToObject(r, "max_rel_error", o->max_rel_error);
    cJSON_AddStringToObject(r, "scope", scope == PR_GLOBAL ? "global" : "layer");
    cJSON_AddStringToObject(r, "structure", o->channel ? "channel" : "weight");
    cJSON_AddNumberToObject(r, "elements", (double)n);
    cJSON_AddNumberToObject(r, "pruned", (double)zeroed);
    cJSON_AddNumberToObject(r, "kept", (double)(n - zeroed));
    cJSON_AddNumberToObject(r, "sparsity", n ? (double)zeroed / (double)n : 0);
    cJSON_AddNumberToObject(r, "threshold", threshold);
    cJSON_AddNumberToObject(r, "std", sd);
    cJSON_AddNumberToObject(r, "threshold_std", sd > 0 ? threshold / sd : 0);
    cJSON_AddNumberToObject(r, "ties_pruned", (double)ties);
    if (plan) {
        cJSON *g = cJSON_AddObjectToObject(r, "global");
        cJSON_AddStringToObject(g, "normalize",
                                o->normalize == PR_NORMALIZE_STD ? "std" : "none");
        cJSON_AddNumberToObject(g, "cut", o->global_cut);
        cJSON_AddNumberToObject(g, "units", (double)o->global_units);
        cJSON_AddNumberToObject(g, "pruned", (double)o->global_pruned);
    }
    cJSON_AddNumberToObject(r, "rel_l2", s.rel_l2);
    cJSON_AddNumberToObject(r, "max_abs", s.max_abs);
    cJSON_AddNumberToObject(r, "sqnr_db", s.sqnr_db);
    report_curve(r, &ord);
    prune_order_free(&ord);
    return 0;
}

/* The report's summary of structured=channel: a line per layer with -v,
 * and the total. */
/* prune:max-output-error: each group's (or tensor's) choice with -v, and
 * the errors it measured. */
static void budget_text(const cJSON *b, int verbose,
                        void (*line)(void *arg, int detail, const char *text), void *arg)
{
    const cJSON *x;
    char buf[600];
    const char *structure = cJSON_GetStringValue(cJSON_GetObjectItem(b, "structure"));
    int chan = structure && strcmp(structure, "channel") == 0;
    if (verbose)
        cJSON_ArrayForEach(x, cJSON_GetObjectItem(b, chan ? "groups" : "tensors"))
        {
            if (chan)
                snprintf(buf, sizeof buf, "budget %-30s %4.0f -> %4.0f channels, %8.0f params "
                         "%10.0f MACs saved, alone %.3g",
                         cJSON_GetStringValue(
                             cJSON_GetArrayItem(cJSON_GetObjectItem(x, "layers"), 0)),
                         cJSON_GetNumberValue(cJSON_GetObjectItem(x, "channels")),
                         cJSON_GetNumberValue(cJSON_GetObjectItem(x, "kept")),
                         cJSON_GetNumberValue(cJSON_GetObjectItem(x, "params_saved")),
                         cJSON_GetNumberValue(cJSON_GetObjectItem(x, "macs_saved")),
                         cJSON_GetNumberValue(cJSON_GetObjectItem(x, "output_error_alone")));
            else
                snprintf(buf, sizeof buf, "budget %-38s sparsity %.3f  weight rel_l2 %.3g  "
                         "alone %.3g",
                         cJSON_GetStringValue(cJSON_GetObjectItem(x, "name")),
                         cJSON_GetNumberValue(cJSON_GetObjectItem(x, "sparsity")),
                         cJSON_GetNumberValue(cJSON_GetObjectItem(x, "rel_l2")),
                         cJSON_GetNumberValue(cJSON_GetObjectItem(x, "output_error_alone")));
            line(arg, 1, buf);
        }
    nnz_calib_budget_line(b, "prune", buf, sizeof buf);
    line(arg, 0, buf);
}

static void report_text(const cJSON *report, int verbose,
                        void (*line)(void *arg, int detail, const char *text), void *arg)
{
    const cJSON *pr = cJSON_GetObjectItem(report, "prune");
    const cJSON *x;
    char buf[600];
    int cut = 0, total = 0;
    if (cJSON_IsObject(cJSON_GetObjectItem(report, "prune_budget")))
        budget_text(cJSON_GetObjectItem(report, "prune_budget"), verbose, line, arg);
    if (!cJSON_IsArray(cJSON_GetObjectItem(pr, "layers")))
        return;
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(pr, "layers"))
    {
        const char *dec = cJSON_GetStringValue(cJSON_GetObjectItem(x, "decision"));
        const char *why = cJSON_GetStringValue(cJSON_GetObjectItem(x, "reason"));
        total++;
        cut += dec && strcmp(dec, "pruned") == 0;
        if (verbose) {
            snprintf(buf, sizeof buf, "prune %-30s %3.0f -> %3.0f channels (group %.0f)%s%s",
                     cJSON_GetStringValue(cJSON_GetObjectItem(x, "layer")),
                     cJSON_GetNumberValue(cJSON_GetObjectItem(x, "channels")),
                     cJSON_GetNumberValue(cJSON_GetObjectItem(x, "kept")),
                     cJSON_GetNumberValue(cJSON_GetObjectItem(x, "group")), why ? ": " : "",
                     why ? why : "");
            line(arg, 1, buf);
        }
    }
    snprintf(buf, sizeof buf, "prune: channels removed from %d of %d layers, parameters "
             "%.0f -> %.0f", cut, total,
             cJSON_GetNumberValue(cJSON_GetObjectItem(pr, "params_before")),
             cJSON_GetNumberValue(cJSON_GetObjectItem(pr, "params_after")));
    line(arg, 0, buf);
}

const nnz_pass nnz_pass_prune = {
    .name = "prune",
    .help = "magnitude pruning to exact zeros, per layer or global, sparse storage; "
            "structured=channel removes whole channels from the graph",
    .options = options,
    .phase = NNZ_PHASE_REFINE,
    .consumes = NNZ_DATA_FLOATS,
    .produces = NNZ_DATA_FLOATS,
    .excludes = (const char *const[]){ "hashnet", NULL },
    .excludes_why = "zeroing one weight would change a bucket shared with many others",
    .parse = parse,
    .selects = selects,
    .rewrites_graph = NNZ_REWRITE_RESIZES,
    .rewrites_graph_with = rewrites_graph_with,
    .prepare = prepare_stage,
    .report_sections = (const char *const[]){ "prune", "prune_budget", NULL },
    .report_text = report_text,
    .target_options = (const char *const[]){ "sparsity=auto,max-rel-error=%g", NULL },
    .run = run,
    .free_opts = free_opts,
};
