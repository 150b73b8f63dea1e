/* pass.h - the interface every compression pass implements, the registry
 * of passes, and pipelines of passes (docs/architecture.md, docs/pipelines.md).
 *
 * A pass parses its own options once (`parse`, which names the key, the
 * value and what is allowed when it refuses one) and then runs on one tensor
 * at a time (`run`), refining the tensor's nnz_state and writing what it did
 * into the tensor's report object. Passes never print and never exit. */
#ifndef NNZ_CORE_PASS_H
#define NNZ_CORE_PASS_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "model.h"
#include "state.h"

/* One `key=value` (or a bare `flag`, value NULL) of a pipeline stage. */
typedef struct nnz_kv {
    char *key;
    char *value;
} nnz_kv;

typedef struct nnz_pass {
    const char *name;     /* as typed in a pipeline: "prune" */
    const char *help;     /* one line for --help */
    const char *options;  /* the keys it takes, for messages: "bits=2..16, ..." */
    /* Parse the stage's options (the common keys only=, skip=, min-elements=
     * are taken out before). */
    int (*parse)(const nnz_kv *kv, size_t n, void **opts, nnz_error *e);
    /* Does this pass touch tensor t by default? NULL: float weights of
     * Conv, ConvTranspose, Gemm, MatMul, Gather, LSTM, GRU, RNN. */
    int (*selects)(const nnz_tensor *t, const void *opts);
    /* Work over the whole model before tensors are processed (a global
     * threshold, a graph rewrite, which must call nnz_model_rescan);
     * `selected[i]` says which tensors this stage touches now. Model-wide
     * findings go into `report` under the pass's name. NULL: none. After
     * every prepare, selections are computed again on the final tensors;
     * keep per-tensor results by tensor name or proto, not index. */
    int (*prepare)(nnz_model *m, void *opts, const uint8_t *selected, cJSON *report,
                   nnz_error *e);
    /* Refine one tensor's state. `rep` is the tensor's report object.
     * NULL for a pass that works in prepare only. */
    int (*run)(nnz_model *m, nnz_tensor *t, nnz_state *st, const void *opts, cJSON *rep,
               nnz_error *e);
    void (*free_opts)(void *opts);
} nnz_pass;

/* The registry: every pass, in the order --help lists them. */
extern const nnz_pass *const nnz_passes[];
const nnz_pass *nnz_pass_find(const char *name);

/* ---- pipelines ----------------------------------------------------------- */

typedef struct nnz_stage {
    const nnz_pass *pass;
    void *opts;
    char **only, **skip;       /* name globs (NULL-terminated lists) */
    size_t min_elements;
    uint8_t *selected;         /* per model tensor, after nnz_pipeline_prepare */
} nnz_stage;

typedef struct nnz_pipeline {
    nnz_stage *stages;
    size_t n;
    char *text;                /* the pipeline as given, for metadata */
} nnz_pipeline;

/* Parse "prune:sparsity=0.9 | quantize:kmeans,bits=5 | huffman" and check
 * the order (docs/pipelines.md). Errors are usage errors that say what
 * would be right. An empty string is the lossless pipeline. */
int nnz_pipeline_parse(const char *text, nnz_pipeline *p, nnz_error *e);
void nnz_pipeline_free(nnz_pipeline *p);

/* Run the stages' model-wide steps in order, then decide which tensors each
 * stage touches. `report` gets a "warnings" array, whatever the prepares
 * add, and a "tensors" array (one object per model tensor, in model order). */
int nnz_pipeline_prepare(nnz_pipeline *p, nnz_model *m, cJSON *report, nnz_error *e);

/* Run every stage on tensor i. *state is NULL when no stage touched it. */
int nnz_pipeline_run_tensor(nnz_pipeline *p, nnz_model *m, size_t i, cJSON *report,
                            nnz_state **state, nnz_error *e);

/* ---- helpers for passes ------------------------------------------------------ */

/* Is t a float weight of an op the passes compress by default? */
int nnz_tensor_is_weight(const nnz_tensor *t);

/* Parse option values; on failure fill `e` naming the pass, key, value and
 * what is allowed. */
int nnz_opt_double(const char *pass, const nnz_kv *kv, double lo, double hi, double *out,
                   nnz_error *e);
int nnz_opt_int(const char *pass, const nnz_kv *kv, long lo, long hi, long *out, nnz_error *e);
/* value must be one of `choices` ("sym|asym"); returns its index. */
int nnz_opt_choice(const char *pass, const nnz_kv *kv, const char *choices, int *out,
                   nnz_error *e);
/* A key the pass does not know (or a flag given a value): a usage error. */
int nnz_opt_unknown(const nnz_pass *pass, const nnz_kv *kv, nnz_error *e);

/* Append a warning to a tensor's report (and to nothing else). */
void nnz_report_warn(cJSON *tensor_report, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
