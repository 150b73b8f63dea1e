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

struct nnz_stage;

/* Where a pass runs in a pipeline. Stages go in phase order (two passes of
 * one phase in either order, unless one excludes the other; nothing follows
 * an ENTROPY stage); the order
 * checks and their messages come from this and `consumes`/`produces`, never
 * from pass names (docs/pipelines.md). */
typedef enum nnz_phase {
    NNZ_PHASE_UNSET = 0,  /* a descriptor without one is refused in every pipeline */
    NNZ_PHASE_GRAPH,      /* rewrites the float graph the others start from (fold) */
    NNZ_PHASE_FACTOR,     /* replaces whole float weights with new ones (decompose) */
    NNZ_PHASE_REFINE,     /* changes float values in place (prune, hashnet) */
    NNZ_PHASE_CODE,       /* turns float values into codes (quantize) */
    NNZ_PHASE_ENTROPY,    /* codes the codes, losslessly; nothing follows it (huffman) */
} nnz_phase;

/* What a pass reads from and leaves in a tensor's state (state.h). */
typedef enum nnz_data {
    NNZ_DATA_UNSET = 0,
    NNZ_DATA_FLOATS,      /* float values, no codes */
    NNZ_DATA_CODES,       /* integer codes through a value map; values are their decoding */
} nnz_data;

/* What a graph rewrite does to the weights it takes out of the graph:
 * verify lists them apart (it cannot compare them with the model's). */
typedef enum nnz_rewrite {
    NNZ_REWRITE_NONE = 0,
    NNZ_REWRITE_REPLACES, /* new weights take their place (factors, folded BatchNorm) */
    NNZ_REWRITE_RESIZES,  /* channels are cut out of them */
} nnz_rewrite;

typedef struct nnz_pass {
    const char *name;     /* as typed in a pipeline: "prune"; its folder is src/NAME */
    const char *help;     /* one line for --help */
    const char *options;  /* the keys it takes, for messages: "bits=2..16, ..." */
    nnz_phase phase;      /* where it runs */
    nnz_data consumes;    /* what it works on */
    nnz_data produces;    /* what it leaves */
    /* Passes it does not combine with, in either order (NULL-ended), and
     * why, said of this pass coming after one of them. */
    const char *const *excludes;
    const char *excludes_why;
    /* It may rewrite the model's graph (not only weights), and what that
     * does to the weights it removes: compress records "graph_rewritten" in
     * the blob's metadata, which is what verify and sweep go by. */
    nnz_rewrite rewrites_graph;
    /* For a pass that rewrites the graph only with some options (prune with
     * structured=channel): does it with these parsed options? NULL: it does
     * whenever rewrites_graph is set. */
    int (*rewrites_graph_with)(const void *opts);
    /* Parse the stage's options (the common keys only=, skip=, min-elements=
     * are taken out before). */
    int (*parse)(const nnz_kv *kv, size_t n, void **opts, nnz_error *e);
    /* Does this pass touch tensor t by default? NULL: float weights of
     * Conv, ConvTranspose, Gemm, MatMul, Gather, LSTM, GRU, RNN. A pass
     * that consumes codes also touches the tensors an earlier stage left as
     * codes, whatever chose them there (its default, only=, a config
     * override); its own only= and skip= narrow that. */
    int (*selects)(const nnz_tensor *t, const void *opts);
    /* May `only=` name tensor t though `selects` leaves it out (a bias, a
     * norm scale, a tensor below the floor)? NULL: only= narrows the default
     * selection and nothing more. */
    int (*may_name)(const nnz_tensor *t, const void *opts);
    /* The default floor: tensors with fewer elements are left alone unless
     * min-elements= (or only=, with may_name) says otherwise. 0: none. */
    size_t min_elements;
    /* The floor for these options instead of min_elements (a pass whose
     * options make it decide for every tensor itself returns 0). NULL:
     * min_elements. min-elements= overrides both. */
    size_t (*floor)(const void *opts);
    /* Work over the whole model before tensors are processed (a global
     * threshold, a graph rewrite, which must call nnz_model_rescan). It gets
     * its stage: st->opts, st->selected (which tensors it touches now), and
     * per-layer overrides through nnz_stage_opts_for. Model-wide findings go
     * into `report` under keys of `report_sections`. NULL: none. After every prepare,
     * selections are computed again on the final tensors; keep per-tensor
     * results by tensor name or proto, not index. */
    int (*prepare)(nnz_model *m, const struct nnz_stage *st, cJSON *report, nnz_error *e);
    /* The keys of the model-wide report prepare writes (NULL-ended; NULL:
     * none), which compress copies into its report, and the lines that
     * summarise them on stderr: given the report (whichever of its keys are
     * there), `line(arg, detail, text)` once per line, detail lines only
     * when verbose. NULL report_text: none. */
    const char *const *report_sections;
    void (*report_text)(const cJSON *report, int verbose,
                        void (*line)(void *arg, int detail, const char *text), void *arg);
    /* What compress --target-rel-error tries with this pass, per tensor
     * (docs/cli.md): stage options, "%g" standing for the error target
     * (NULL-ended). A pass that turns floats into codes is tried with each,
     * followed by the entropy coder; a pass that refines floats with each,
     * before the quantizer's first options, the target split between the
     * two. NULL: not tried. */
    const char *const *target_options;
    /* Refine one tensor's state. `rep` is the tensor's report object.
     * NULL for a pass that works in prepare only. */
    int (*run)(nnz_model *m, nnz_tensor *t, nnz_state *st, const void *opts, cJSON *rep,
               nnz_error *e);
    void (*free_opts)(void *opts);
} nnz_pass;

/* The registry: every pass, in the order --help lists them. */
extern const nnz_pass *const nnz_passes[];
const nnz_pass *nnz_pass_find(const char *name);
/* Do a descriptor's declarations make sense together (a phase, what it
 * consumes and produces as that phase does, a reason for what it
 * excludes)? Every pipeline checks its stages' passes so; an error is
 * internal (a bug in the pass). */
int nnz_pass_check(const nnz_pass *ps, nnz_error *e);

/* ---- pipelines ----------------------------------------------------------- */

/* Options for the tensors whose names match `glob` (a per-layer override
 * from a config file): the stage's options with these keys replaced. */
typedef struct nnz_override {
    char *glob;
    int disabled;              /* the stage leaves these tensors alone */
    nnz_kv *kv;                /* the override's own keys, as given */
    size_t nkv;
    char **drop;               /* stage keys it drops (NULL-terminated) */
    void *opts;                /* parsed: stage keys + these */
} nnz_override;

typedef struct nnz_stage {
    const nnz_pass *pass;
    void *opts;
    nnz_kv *kv;                /* every option as given (owned), for --print-config */
    size_t nkv;
    char **only, **skip;       /* name globs (NULL-terminated lists) */
    size_t min_elements;
    nnz_override *ov;          /* per-layer overrides, first match wins */
    size_t nov;
    uint8_t *selected;         /* per model tensor, after nnz_pipeline_prepare */
    /* The calibration inputs (src/infer/infer_calib.h) a stage with an
     * output budget measures with: the pipeline's, set by
     * nnz_pipeline_prepare. NULL: none were given. Opaque to the core. */
    const struct nnz_calib *calib;
} nnz_stage;

typedef struct nnz_pipeline {
    nnz_stage *stages;
    size_t n;
    char **skip;               /* tensors no stage touches (config "skip") */
    char *text;                /* the pipeline as a string, for metadata */
    cJSON **tensor_reports;    /* report "tensors"[i], by index (set by prepare) */
    size_t ntensor_reports;
    const struct nnz_calib *calib; /* filled by the CLI (compress --inputs ...); may be NULL */
} nnz_pipeline;

/* Parse "prune:sparsity=0.9 | quantize:kmeans,bits=5 | huffman" and check
 * the order (docs/pipelines.md). Errors are usage errors that say what
 * would be right. An empty string is the lossless pipeline. */
int nnz_pipeline_parse(const char *text, nnz_pipeline *p, nnz_error *e);
void nnz_pipeline_free(nnz_pipeline *p);

/* The report object of model tensor i ("tensors"[i] of the report that
 * nnz_pipeline_prepare filled), in O(1): a cJSON array is a list. */
cJSON *nnz_pipeline_tensor_report(const nnz_pipeline *p, size_t i);

/* Does a stage of p run a pass that rewrites the graph? */
int nnz_pipeline_rewrites_graph(const nnz_pipeline *p);
/* What the graph rewrites of the pipeline written as `text` (a blob's
 * metadata) did to the weights they removed: REPLACES when a stage's pass
 * replaces weights, else RESIZES when one cuts channels, else NONE. Only
 * the stages' pass names are read. */
nnz_rewrite nnz_pipeline_text_rewrite(const char *text);

/* s without leading and trailing white space (cut in place): how pipeline
 * text, and the sweep grid built on it, read their pieces. */
char *nnz_trim(char *s);

/* Call stage(ctx, part, e) on each non-blank '|'-separated part of `text`
 * (trimmed, modifiable), stopping at the first that fails. */
int nnz_each_stage(const char *text, int (*stage)(void *ctx, char *part, nnz_error *e),
                   void *ctx, nnz_error *e);

/* Append a stage to `p` from its pass name and options (used by the text
 * and the JSON config parsers). Does not check the order. */
int nnz_pipeline_add_stage(nnz_pipeline *p, const char *pass, const nnz_kv *kv, size_t n,
                           nnz_error *e);
/* Append a stage running pass `ps` (what nnz_pipeline_add_stage does once
 * it found the name in the registry). Does not check the order. */
int nnz_pipeline_add_pass(nnz_pipeline *p, const nnz_pass *ps, const nnz_kv *kv, size_t n,
                          nnz_error *e);
/* Check the stages' order by what their passes declare (phase, consumes,
 * produces, excludes); `label` names the pipeline in messages. */
int nnz_pipeline_check(const nnz_pipeline *p, const char *label, nnz_error *e);
/* Add a per-layer override to the stage running `pass`. kv NULL and
 * disabled: the stage skips the matching tensors. */
int nnz_pipeline_add_override(nnz_pipeline *p, const char *pass, const char *glob,
                              const nnz_kv *kv, size_t n, int disabled, nnz_error *e);
/* The same, also dropping the stage's keys named in `drop` (NULL-ended). */
int nnz_pipeline_add_override_drop(nnz_pipeline *p, const char *pass, const char *glob,
                                   const nnz_kv *kv, size_t n, const char *const *drop,
                                   nnz_error *e);
/* The options tensor t gets from stage st (overrides applied); NULL when
 * an override disables the stage for it. */
const void *nnz_stage_opts_for(const nnz_stage *st, const nnz_tensor *t);
/* Does any glob of p name tensor t: a per-layer override, the config's
 * skip list, a stage's only= or skip=? (--target-rel-error searches the
 * tensors a config does not name.) */
int nnz_pipeline_names(const nnz_pipeline *p, const nnz_tensor *t);
/* The effective configuration as JSON (docs/config.md): what --config
 * takes, so a run can be reproduced from its own report. */
cJSON *nnz_pipeline_to_json(const nnz_pipeline *p);
/* Read a JSON config file (docs/config.md) into `p`. */
int nnz_config_load(const char *path, nnz_pipeline *p, nnz_error *e);

/* Run the stages' model-wide steps in order, then decide which tensors each
 * stage touches. `report` gets a "warnings" array, whatever the prepares
 * add, and a "tensors" array (one object per model tensor, in model order). */
int nnz_pipeline_prepare(nnz_pipeline *p, nnz_model *m, cJSON *report, nnz_error *e);

/* Run every stage on tensor i. *state is NULL when no stage touched it. */
int nnz_pipeline_run_tensor(nnz_pipeline *p, nnz_model *m, size_t i, cJSON *report,
                            nnz_state **state, nnz_error *e);

/* ---- helpers for passes ------------------------------------------------------ */

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
