/* graph_pack.h - compressing the graph section (docs/FORMAT.md,
 * "Compressed graph section"). */
#ifndef NNZ_BLOB_GRAPH_PACK_H
#define NNZ_BLOB_GRAPH_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "bytes.h"
#include "error.h"

/* Graphs larger than this stay stored as they are: the parse keeps 20
 * bytes per graph byte. */
#define NNZ_GRAPH_PACK_MAX (64u << 20)

/* The compressed graph section's bytes for graph g (1..NNZ_GRAPH_PACK_MAX
 * bytes) into out (reset first; the caller frees it). Deterministic. */
int nnz_graph_pack(const uint8_t *g, size_t n, nnz_bytes *out, nnz_error *e);

#endif
