/* sweep.h - what `nnzip sweep` (cmd_sweep.c) shares with its plot
 * (sweep_plot.c): one point's results, the Pareto frontier, the SVG. */
#ifndef NNZ_CLI_SWEEP_H
#define NNZ_CLI_SWEEP_H

#include <stddef.h>
#include <stdio.h>

/* One point of a sweep, as the outputs show it (docs/cli.md, sweep). */
typedef struct sweep_result {
    char *pipeline;          /* the point's pipeline text */
    char *label;             /* what sets it apart from the other points */
    int ok;                  /* compressed (and, with --eval, evaluated) */
    double bytes;            /* blob size */
    double ratio;            /* model bytes / blob bytes */
    double bits_per_weight;  /* over the blob's tensors */
    double rel_l2;           /* overall weight error */
    double worst_rel_l2;     /* of the worst tensor */
    char *worst_tensor;      /* its name ("" when no tensor changed) */
    int has_metric;
    double metric;           /* the --eval command's number */
    char *error;             /* why the point failed, or NULL */
    int pareto;              /* on the frontier */
} sweep_result;

/* Mark the Pareto frontier among the ok points: smaller bytes and smaller
 * rel_l2 are better, or, with `by_metric`, smaller bytes and a metric that
 * is larger (`goal_max`) or smaller. A point is on the frontier when no
 * other point is at least as good in both and better in one; points with
 * equal figures are all on it. */
void sweep_pareto(sweep_result *r, size_t n, int by_metric, int goal_max);

typedef struct sweep_plot_opts {
    const char *model;       /* the model's file name, for the title */
    const char *grid;        /* the grid text, for the subtitle */
    int by_metric;           /* y = the metric (linear) instead of rel_l2 (log) */
    int goal_max;
    const char *metric_name; /* the y axis title with by_metric */
} sweep_plot_opts;

/* Draw the points as a self-contained SVG: x = blob bytes (log), y =
 * weight error (log) or the metric; the frontier connected and
 * highlighted; points labelled. Returns -1 when writing fails. */
int sweep_plot_svg(FILE *f, const sweep_result *r, size_t n, const sweep_plot_opts *o);

#endif
