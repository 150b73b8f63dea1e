/* decompose.h - the decompose pass's parts, shared inside src/decompose only
 * (and by its unit tests): the linear algebra (truncated SVD, rank rules,
 * empirical VBMF, Tucker-2 by HOOI) and the graph rewrite
 * (docs/passes/decompose.md).
 *
 * Matrices are row-major arrays of doubles; the math runs in double and
 * the factors become float (or the weight's own float type) only when they
 * are written into the graph. */
#ifndef NNZ_DECOMPOSE_DECOMPOSE_H
#define NNZ_DECOMPOSE_DECOMPOSE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "model.h"
#include "pass.h"
#include "strmap.h"

/* ---- options ------------------------------------------------------------------ */

enum { DEC_ENERGY, DEC_RANK, DEC_ERROR, DEC_VBMF, DEC_BUDGET }; /* how ranks are chosen */

/* What an output budget chose: each layer's weight error target (-1: kept). */
typedef struct dec_budget {
    char **name;
    double *target;
    size_t n;
    nnz_strmap map;
} dec_budget;

typedef struct dec_opts {
    int rule;               /* DEC_* */
    long rank;              /* rank=R */
    double energy;          /* energy=E, in (0, 1] */
    double max_rel_error;   /* max-rel-error=X, in (0, 1) */
    double vbmf_scale;      /* vbmf-scale=F divides the VBMF threshold */
    long min_in_channels;   /* below this S, a Conv keeps its input mode */
    long iters;             /* HOOI iteration cap */
    double max_output_error; /* max-output-error=X (rule DEC_BUDGET) */
    dec_budget *budget;     /* its result, filled in prepare */
} dec_opts;

#define DEC_DEFAULT_ENERGY 0.95
#define DEC_DEFAULT_MIN_IN 8
#define DEC_DEFAULT_ITERS 50
#define DEC_HOOI_TOL 1e-6   /* stop when a sweep adds less kept energy, relative to ||K||^2 */

/* ---- linear algebra (decompose_linalg.c) ---------------------------------------- */

/* Thin SVD of the m x n matrix a: u is m x k, s k values (descending), vt
 * k x n, k = min(m, n). vt may be NULL (left vectors only). Each pair's sign
 * is fixed: the entry of largest magnitude in u's column is positive, so the
 * result does not depend on the LAPACK build. Returns 0, -1 with `e` filled
 * (out of memory), or 1 when LAPACK did not converge. */
int dec_svd(const double *a, size_t m, size_t n, double *u, double *s, double *vt,
            nnz_error *e);

/* The singular values of the m x n matrix a (min(m, n), descending) as the
 * roots of the eigenvalues of A A^T: much faster than an SVD for the wide
 * unfoldings of a kernel, exact to about 1e-8 of the largest (what rank
 * rules need). Returns 0, -1, or 1 when LAPACK did not converge. */
int dec_spectrum(const double *a, size_t m, size_t n, double *s, nnz_error *e);

/* Smallest r whose leading squared singular values hold `energy` of the total. */
size_t dec_rank_energy(const double *s, size_t k, double energy);
/* Squared singular values from index r on: the squared error of rank r. */
double dec_tail(const double *s, size_t k, size_t r);
/* Smallest r whose Eckart-Young error sqrt(tail) is at most rel * ||A||. */
size_t dec_rank_error(const double *s, size_t k, double rel);

/* The analytic empirical VBMF rank (Nakajima et al. 2013) of an m x n matrix
 * with singular values s (all min(m, n) of them). The noise variance is
 * estimated by minimising the free energy; *sigma2 gets it when not NULL.
 * Returns the number of singular values above the EVB threshold divided by
 * `scale` (1: the plain estimate; may be 0). */
size_t dec_vbmf_rank(const double *s, size_t m, size_t n, double scale, double *sigma2);
/* tau_: the zero of Phi(t) + Phi(t / alpha), Phi(z) = log(z + 1) / z - 1/2. */
double dec_vbmf_tau(double alpha);

/* Tucker-2 of a kernel K (T x S x P, P the product of the spatial dims):
 * K ~ core x1 u_out x2 u_in. A mode whose rank equals its size is left
 * alone (its factor is the identity and is not stored). */
typedef struct dec_tucker {
    size_t t, s, p;         /* the kernel's dims */
    size_t r_out, r_in;     /* ranks (r_out == t: output mode kept; r_in == s: input) */
    double *u_out;          /* t x r_out, orthonormal columns; NULL when kept */
    double *u_in;           /* s x r_in; NULL when kept */
    double *core;           /* r_out x r_in x p */
    int iterations;         /* HOOI sweeps done */
    double rel_error;       /* ||K - K^|| / ||K||, in double */
} dec_tucker;

/* HOOI initialised by the truncated HOSVD, at most `max_iters` sweeps (the
 * leading singular vectors come from the eigenvectors of the Gram matrices),
 * stopping when the kept energy grows by less than DEC_HOOI_TOL of ||K||^2.
 * Returns 0, -1 (out of memory) or 1 (an eigensolver did not converge). */
int dec_tucker2(const double *k, size_t t, size_t s, size_t p, size_t r_out, size_t r_in,
                int max_iters, dec_tucker *out, nnz_error *e);
void dec_tucker_free(dec_tucker *d);
/* K^ = core x1 u_out x2 u_in (t x s x p). */
void dec_tucker_rebuild(const dec_tucker *d, double *k);

/* Mode unfoldings of K (t x s x p): mode 1 is K itself as t x (s p); mode 2
 * is s x (t p). */
void dec_unfold_in(const double *k, size_t t, size_t s, size_t p, double *out);

/* Parameters of a Tucker-2 factorisation with ranks ro (output), ri (input). */
double dec_tucker_params(size_t t, size_t s, size_t p, size_t ro, size_t ri);
/* The ranks of max-rel-error=rel for a T x S x P kernel with unfolding
 * spectra so (ko values) and si (ki): the fewest parameters whose HOSVD
 * error bound is within rel (before clamping to the modes' sizes). */
int dec_tucker_ranks_error(const double *so, size_t ko, const double *si, size_t ki, size_t T,
                           size_t S, size_t P, int in_mode, double rel, size_t *ro, size_t *ri,
                           nnz_error *e);

/* ---- the output budget (decompose_budget.c) ---- */

/* decompose:max-output-error=X: choose each selected layer's weight error
 * target from calibration runs (st->calib) into o->budget; the measured
 * errors go into report["decompose_budget"]. */
int dec_budget_run(nnz_model *m, const nnz_stage *st, dec_opts *o, cJSON *report, nnz_error *e);
void dec_budget_free(dec_budget *b);
/* The target chosen for weight `name` (-1: kept), or NULL: not a candidate. */
const double *dec_budget_target(const dec_budget *b, const char *name);

/* ---- the pass (decompose.c) and the graph rewrite (decompose_graph.c) ---- */

/* A graph and the graphs around it, for name lookups from a subgraph. */
typedef struct dec_scope {
    Onnx__GraphProto *g;
    const struct dec_scope *up;
    int depth;
} dec_scope;

/* Where a node's weight input comes from. */
typedef struct dec_weight {
    Onnx__GraphProto *g;          /* the graph that defines it */
    Onnx__TensorProto *proto;     /* its data; NULL when computed at run time */
    Onnx__NodeProto *constant;    /* the Constant node holding it, or NULL */
    const dec_scope *scope;       /* g's scope */
} dec_weight;

/* Find the definition of `name` seen from `sc` (innermost graph first). */
void dec_resolve(const dec_scope *sc, const char *name, dec_weight *w);
/* Uses of `name` (node inputs and graph outputs) in g and its subgraphs. */
size_t dec_count_uses(const Onnx__GraphProto *g, const char *name);
/* The static shape of value `name` seen from `sc`: -1 per unknown dim.
 * Returns the rank, or -1 when no shape is recorded. */
int dec_value_shape(const dec_scope *sc, const char *name, int64_t *dims, int max);

/* A node's ints attribute (its values into v, at most max; 0 when absent). */
size_t dec_attr_ints(const Onnx__NodeProto *n, const char *name, int64_t *v, size_t max);

/* One new factor: its name, dims and values (floats in the math layout). */
typedef struct dec_factor {
    char *name;
    int ndims;
    int64_t dims[NNZ_MAX_DIMS];
    float *v;
} dec_factor;

/* The nodes that replace one node: built from the old one, inserted where
 * it was, with the factors as new initializers of its graph; the old node
 * goes, and so does the weight's definition. */
typedef struct dec_rewrite {
    Onnx__NodeProto *nodes[3];
    size_t nnodes;
    dec_factor f[4];
    size_t nf;
} dec_rewrite;

/* Apply `rw` to node `n` of scope `sc` whose weight is `w` (dtype `dtype`).
 * Takes the nodes and factor values over (frees them, even on failure). */
int dec_apply(const dec_scope *sc, Onnx__NodeProto *n, const dec_weight *w, int dtype,
              dec_rewrite *rw, nnz_error *e);
void dec_rewrite_free(dec_rewrite *rw);

#endif
