/* save.h - writing a ModelProto back out.
 *
 * One packer serves every writer. It streams protobuf-c's output through a
 * sink that recognises tensor data by address: data that is still in an
 * external file is copied from there, and, when building a blob's graph
 * section, the data of each blob tensor is left out and its position (a
 * "hole") recorded instead (docs/FORMAT.md, graph section). */
#ifndef NNZ_CORE_SAVE_H
#define NNZ_CORE_SAVE_H

#include <stdint.h>
#include <stdio.h>

#include "model.h"

/* protobuf's hard limit on one message: larger models need external data. */
#define NNZ_PROTOBUF_LIMIT 2147483647ull

typedef enum {
    NNZ_EXTERNAL_AUTO = 0,   /* only when the model would pass the limit */
    NNZ_EXTERNAL_ALWAYS = 1,
    NNZ_EXTERNAL_NEVER = 2
} nnz_external_mode;

/* Save to `path` atomically (temporary file, then rename), under the
 * output rule of fileio.h (`out_flags`: NNZ_OUT_*). `input` is the source
 * path, never overwritten. External data, when used, goes to `path`.data
 * beside it (tensors of at least 1 KiB), and the model names that file.
 * What was written is loaded back before it is published. */
int nnz_model_save(nnz_model *m, const char *path, const char *input,
                   nnz_external_mode ext, unsigned out_flags, nnz_error *e);

/* Load the model written to `o` back with the loader (as `info` would),
 * before it is renamed into place. `data` (may be NULL) is the output of
 * its external data file, which the model names `location`. Returns -1
 * with exit code 3 when the loader refuses it. */
struct nnz_out;
int nnz_model_check_output(struct nnz_out *o, const char *name, const struct nnz_out *data,
                           const char *location, nnz_error *e);

/* Repack the model in `bytes` with every external tensor's location set to
 * `location` (the caller frees *out). */
int nnz_model_relocate_external(const uint8_t *bytes, size_t len, const char *location,
                                uint8_t **out, size_t *out_len, nnz_error *e);

/* Tensors of at least this many bytes go to external data files. */
#define NNZ_EXTERNAL_MIN_BYTES 1024u

/* Tensors turned into external-data form for a while (restore with
 * nnz_model_internalize). */
typedef struct nnz_ext_plan {
    struct nnz_ext_saved *saved;
    char *location;
    uint64_t end;      /* bytes of the external file */
} nnz_ext_plan;

/* Put every tensor i with move[i] in external-data form: its TensorProto
 * refers to `location` at offsets[i] (packed in tensor order, 64-byte
 * aligned) instead of holding raw_data. The data itself is not written. */
int nnz_model_externalize(nnz_model *m, const uint8_t *move, const char *location,
                          uint64_t *offsets, nnz_ext_plan *plan, nnz_error *e);
void nnz_model_internalize(nnz_model *m, nnz_ext_plan *plan);

/* Write a tensor's data bytes (from memory or its external file). */
int nnz_tensor_write(nnz_model *m, nnz_tensor *t, FILE *f, nnz_error *e);

/* Pack the model to an open stream. */
int nnz_model_write(nnz_model *m, FILE *f, nnz_error *e);

/* Pack the model into memory with the data of every tensor i with
 * entry[i] == 1 left out; holes[i] gets where it would have been, and for
 * entry[i] == 2 (data kept) where its data is. */
int nnz_model_skeleton(nnz_model *m, const uint8_t *entry, uint8_t **bytes, size_t *len,
                       uint64_t *holes, nnz_error *e);

#endif
