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

/* Save to `path` atomically (temporary file, then rename). `input` is the
 * source path, never overwritten. External data, when used, goes to
 * `path`.data beside it; tensors of at least 1 KiB go there. */
int nnz_model_save(nnz_model *m, const char *path, const char *input,
                   nnz_external_mode ext, nnz_error *e);

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
 * entry[i] != 0 left out; holes[i] gets where it would have been. */
int nnz_model_skeleton(nnz_model *m, const uint8_t *entry, uint8_t **bytes, size_t *len,
                       uint64_t *holes, nnz_error *e);

#endif
