/* prune.h - the prune pass's parts, shared inside src/prune only (and by its
 * unit test): the options, and the ranking kernel that orders a tensor's
 * weights (or output channels) by magnitude and says what pruning the first
 * k of them costs (docs/passes/prune.md).
 *
 * A "unit" is what is pruned as a whole: one weight, or with
 * structured=channel one output channel (every weight whose index i has
 * (i / inner) % nchan == c). Units are ordered by score, smallest first, ties
 * by unit index, so the same tensor always prunes the same units:
 *   weight   score |w|
 *   channel  the channel's norm per weight: mean |w| (l1) or sqrt(mean w^2) (l2)
 * Pruning the first k units of that order sets their weights to exactly +0.0f;
 * its relative L2 error is sqrt(prefix[k] / prefix[nunits]), where prefix[j]
 * sums the squared weights of the first j units. */
#ifndef NNZ_PRUNE_PRUNE_H
#define NNZ_PRUNE_PRUNE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "pass.h"
#include "strmap.h"

enum { PR_SPARSITY, PR_THRESHOLD, PR_AUTO };  /* how the count is chosen */
enum { PR_LAYER, PR_GLOBAL };                 /* scope= */
enum { PR_NORMALIZE_NONE, PR_NORMALIZE_STD }; /* normalize= (scope=global) */
enum { PR_L1, PR_L2 };                        /* norm= (structured=channel) */

/* What prepare decided for one tensor under scope=global. */
typedef struct prune_plan {
    char *name;            /* the tensor's name (owned) */
    size_t units;          /* units to prune */
    double cut;            /* the global cut, in this tensor's own score units */
} prune_plan;

typedef struct prune_opts {
    int rule;
    double sparsity;       /* PR_SPARSITY: fraction of units, [0, 1) */
    double k;              /* PR_THRESHOLD: multiple of the layer's std, >= 0 */
    double max_rel_error;  /* PR_AUTO */
    int scope;
    int normalize;
    int channel;           /* structured=channel */
    int norm;
    int group_sum;         /* group=sum (structured=channel) */

    /* scope=global, filled by prepare: per tensor name, its plan */
    nnz_strmap plans;
    prune_plan *plan;
    size_t nplan;
    double global_cut;     /* in the global score (|w| or |w|/std, per weight or channel) */
    uint64_t global_units, global_pruned;
    int prepared;
} prune_opts;

/* How a tensor splits into units: nunits units; unit of element i is
 * (i / inner) % nunits. Weights: nunits = n, inner = 1. */
typedef struct prune_layout {
    size_t nunits, inner;
} prune_layout;

/* A tensor's units in pruning order. */
typedef struct prune_order {
    size_t nunits;
    size_t *unit;          /* unit indices, smallest score first, ties by index */
    double *score;         /* score[j] is the score of unit[j] */
    double *prefix;        /* nunits + 1: squared weights of the first j units */
} prune_order;

/* The layer's population standard deviation (about its mean), in double. */
double prune_std(const float *v, size_t n);

/* Order the units of v (n elements) by `norm` (ignored for single weights). */
int prune_order_make(const float *v, size_t n, const prune_layout *lay, int norm,
                     prune_order *o, nnz_error *e);
void prune_order_free(prune_order *o);

/* Relative L2 error of pruning the first k units (0 for an all-zero tensor). */
double prune_order_error(const prune_order *o, size_t k);

/* Units to prune, by rule: round(s * nunits); those with score < cut;
 * the most whose error stays <= x. None is capped (see prune_cap). */
size_t prune_count_sparsity(size_t nunits, double s);
size_t prune_count_below(const prune_order *o, double cut);
size_t prune_count_error(const prune_order *o, double x);

/* Set the weights of the first k units of `o` to +0.0f in v (and, when codes
 * is not NULL, their half-float codes to 0). Returns the weights zeroed. */
size_t prune_apply(float *v, uint32_t *codes, size_t n, const prune_layout *lay,
                   const prune_order *o, size_t k);

/* structured=channel: remove the channels the stage's rule picks from the
 * graph (and the matching input channels downstream), rescan the model, and
 * report per layer in report["prune"]["layers"] (prune_channel.c). */
int prune_channels(nnz_model *m, const nnz_stage *st, cJSON *report, nnz_error *e);

/* The sparsities of the sensitivity curve in every tensor report. */
extern const double prune_curve_sparsity[];
extern const size_t prune_curve_points;

#endif
