/* infer_feed.h - inputs for the interpreter from files people have, and
 * outputs back to files (docs/infer.md):
 *   - a folder in the ONNX test-data layout (input_N.pb TensorProtos,
 *     matched by name, else by order), or of .npy files named after the
 *     inputs (input.npy);
 *   - a calibration set: a folder of such folders (test_data_set_0, _1, ...);
 *   - generated inputs, deterministic from a seed, from a JSON spec with
 *     the fields of shared/corpus/models.json (dims, range, dist, value,
 *     fill, channel_fill) or from the model's declared shapes. The draws
 *     follow tests/oracle/compare.js (mulberry32 seeded by FNV-1a of
 *     "seed:batch:name"), so both tools feed a model the same numbers. */
#ifndef NNZ_INFER_FEED_H
#define NNZ_INFER_FEED_H

#include "infer.h"

/* Values for each real input of a model, in nnz_infer_input order. */
typedef struct nnz_feed {
    size_t n;
    nnz_itensor *t;
} nnz_feed;

void nnz_feed_free(nnz_feed *f);

/* Is `dir` a calibration set (it holds test_data_set_* folders)? Then
 * *names gets them sorted (the caller frees each and the array). */
int nnz_feed_list_sets(const char *dir, char ***names, size_t *n, nnz_error *e);
/* Read one folder of input_N.pb or NAME.npy files. */
int nnz_feed_from_dir(const nnz_infer *inf, const char *dir, nnz_feed *f, nnz_error *e);
/* Generate inputs from a JSON spec file (NULL: the declared shapes,
 * uniform in [-1, 1] for floats, [0, 9] for integers), draw `batch` of
 * `seed`. A corpus-style {"inputs": {...}} or {"models": [...]} with
 * `model_name` is accepted. */
int nnz_feed_generate(const nnz_infer *inf, const char *spec_path, const char *model_name,
                      uint64_t seed, int batch, nnz_feed *f, nnz_error *e);
/* Give every input its value. */
int nnz_feed_apply(nnz_infer *inf, const nnz_feed *f, nnz_error *e);

/* Write the outputs of the last run into `dir` (created if needed) as
 * output_N.pb (TensorProto named as the output) or output_N.npy, under the
 * output rule (fileio.h; `out_flags` NNZ_OUT_*). */
int nnz_feed_write_outputs(const nnz_infer *inf, const char *dir, int npy, unsigned out_flags,
                           nnz_error *e);

#endif
