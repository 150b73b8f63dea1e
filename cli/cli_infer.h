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

#endif
