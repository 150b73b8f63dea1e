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
#include "infer.h"
#include "pass.h"
#include "strmap.h"

enum { PR_SPARSITY, PR_THRESHOLD, PR_AUTO, PR_BUDGET };  /* how the count is chosen */
enum { PR_LAYER, PR_GLOBAL };                 /* scope= */
enum { PR_NORMALIZE_NONE, PR_NORMALIZE_STD }; /* normalize= (scope=global) */
enum { PR_L1, PR_L2, PR_OUTPUT };             /* norm= (structured=channel); output: the
                                               * measured output error (max-output-error) */
enum { PR_COST_PARAMS, PR_COST_MACS };        /* cost= (max-output-error, structured=channel) */

/* What max-output-error chose for one tensor (unstructured), by name. */
typedef struct prune_choice {
    char *name;            /* owned */
    size_t units;          /* weights pruned */
    double rel_l2;         /* their weight error */
    double sensitivity;    /* output error at the measured points, see prune_budget.c */
    int measured;          /* 0: too small to measure, left whole */
} prune_choice;

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
    int group_given;
    double max_output_error; /* PR_BUDGET */
    int per_input;         /* error=per-input */
    int cost;              /* PR_COST_* */

    /* PR_BUDGET without structured=channel, filled by prepare: per tensor */
    nnz_strmap choices;
    prune_choice *choice;
    size_t nchoice;

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

/* ---- structured=channel, the analysis kept open (prune_channel.c) ----------
 * prune_budget.c chooses each group's count: it opens the analysis, tries
 * counts by zeroing the removed channels' consumer weights in an
 * interpreter (the arithmetic of the rewritten graph), then commits. */
typedef struct prune_chan prune_chan;
typedef struct prune_chan_group {
    int space;             /* the group's id in the report (prune.layers[].group) */
    size_t channels;
    size_t kept;           /* after the last prune_chan_set */
    const char *layer;     /* its first layer's name */
    size_t nlayers;        /* the layers that make its channels */
    double params, macs;   /* per channel removed (prune_chan_costs) */
} prune_chan_group;

/* Follow the channels of the stage's layers (nothing removed yet). */
int prune_chan_open(nnz_model *m, const nnz_stage *st, prune_chan **out, nnz_error *e);
void prune_chan_free(prune_chan *h);
size_t prune_chan_ngroups(const prune_chan *h);
prune_chan_group *prune_chan_group_at(prune_chan *h, size_t g);
/* The name of group g's k-th layer (NULL past the last). */
const char *prune_chan_layer(const prune_chan *h, size_t g, size_t k);
/* Fill each group's parameters and MACs per channel: every constant that
 * carries its channels, and the MACs of the layers they feed
 * (node_macs(ctx, node) per layer; NULL: none). Channels removed from two
 * axes of one tensor count twice: an estimate; the report's totals are
 * counted on the rewritten model. */
void prune_chan_costs(prune_chan *h, double (*node_macs)(void *ctx, const Onnx__NodeProto *n),
                      void *ctx);
/* Group g's channels in the order they go, instead of the summed scores
 * (order: its C channel indices; the first removed first). */
int prune_chan_set_order(prune_chan *h, size_t g, const size_t *order, nnz_error *e);
/* Group g removes remove[g] channels, in its order (prune_chan_set_order),
 * else lowest summed score first (as group=sum); fills each group's `kept`. */
int prune_chan_set(prune_chan *h, const size_t *remove);
/* Put the interpreter's weights as the last prune_chan_set has them: the
 * input channels that read a removed channel are zero, the rest as
 * loaded (the first call takes the originals from `inf`, which must be the
 * same interpreter every time). */
int prune_chan_zero(prune_chan *h, nnz_infer *inf, nnz_error *e);
/* The weights the last prune_chan_zero changed from the model's: their
 * names into names[0, cap); returns how many there are (more than cap:
 * only the first cap named). */
size_t prune_chan_zeroed(prune_chan *h, const char **names, size_t cap);
/* Rewrite the graph as the last prune_chan_set says (or by the layers'
 * rules when it was never called) and report per layer in
 * report["prune"]["layers"]. */
int prune_chan_commit(prune_chan *h, cJSON *report, nnz_error *e);

/* max-output-error=X (prune_budget.c): structured=channel chooses each
 * group's count and commits the rewrite; otherwise each tensor's sparsity
 * goes into o->choice and the pruned weights into the model (later stages
 * see them as the weights). */
int prune_budget(nnz_model *m, const nnz_stage *st, prune_opts *o, cJSON *report, nnz_error *e);
const prune_choice *prune_choice_find(const prune_opts *o, const char *name);

/* The sparsities of the sensitivity curve in every tensor report. */
extern const double prune_curve_sparsity[];
extern const size_t prune_curve_points;

#endif
