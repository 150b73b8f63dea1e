/* cli_infer.h - what `run`, `verify` and `sweep` share to drive the
 * interpreter (src/infer): input options, loading a model or a blob. */
#ifndef NNZ_CLI_INFER_H
#define NNZ_CLI_INFER_H

#include "infer.h"
#include "infer_feed.h"

typedef struct cli_infer_args {
    const char *cmd;          /* for usage messages */
    const char *inputs;       /* --inputs DIR */
    const char *spec;         /* --input-spec FILE */
    const char *spec_model;   /* --spec-model NAME */
    unsigned long long seed;  /* --seed */
    nnz_infer_opts opts;      /* --threads, --max-memory, --dim */
    nnz_infer_dim dims[32];
    char dim_names[32][128];
    size_t ndims;
} cli_infer_args;

/* The getopt codes of the shared options: i S M s T m D. Returns 0 when
 * `c` was one (stored), a usage exit code for a bad value, -1 otherwise. */
int cli_infer_parse_common(int c, const char *arg, cli_infer_args *a);
/* An ONNX model, or the model inside a blob rebuilt through the runtime. */
struct nnz_model;
int cli_infer_load(const char *path, struct nnz_model **m, nnz_error *e);
/* Inputs from `dir` (a folder of input_N.pb / NAME.npy) or, with dir
 * NULL, generated from --input-spec / the declared shapes. */
int cli_infer_feed(const cli_infer_args *a, const nnz_infer *inf, const char *dir, nnz_feed *f,
                   nnz_error *e);

/* Run `orig` and the model in the blob at `blob_path` on the same inputs;
 * *report gets per output rel_l2, max_abs, cosine, top1_agreement (JSON,
 * docs/cli.md), *worst the largest rel_l2 (infinite when an integer output
 * differs or a value is not finite where the original's is). */
#include <cjson/cJSON.h>
int cli_output_error(struct nnz_model *orig, const char *blob_path, const cli_infer_args *a,
                     cJSON **report, double *worst, nnz_error *e);
/* One line per output of such a report, on stderr. */
void cli_output_error_text(const cJSON *report);

#endif
