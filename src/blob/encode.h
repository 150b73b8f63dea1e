/* encode.h - turning a tensor's pass state into its blob encoding: picks the
 * layout (dense or sparse; hashed when hashnet ran) and, for each symbol
 * stream, packed bits or Huffman (one lane with a list table, or four
 * lanes with a gamma table), whichever is smallest by the histograms, and
 * writes the parameters and payload of docs/FORMAT.md. */
#ifndef NNZ_BLOB_ENCODE_H
#define NNZ_BLOB_ENCODE_H

#include <cjson/cJSON.h>

#include "blob.h"
#include "state.h"

/* Default block: 2^16 elements. Small enough that a device (or the rebuild)
 * decodes a big tensor in 256 KiB pieces, large enough that the index costs
 * nothing (4 bytes a stream a block). */
#define NNZ_DEFAULT_BLOCK_LOG2 16

/* Encode `st` (tensor t's state) into `out`; describe the choice in `rep`
 * (the tensor's report object, may be NULL). */
int nnz_encode_tensor(const nnz_tensor *t, const nnz_state *st, cJSON *rep, nnz_encoded *out,
                      nnz_error *e);

/* Shared Huffman tables (docs/FORMAT.md, stream codings 5 and 6): x[0..n)
 * are the directory's entries in order; those with symbols (x[i].syms,
 * dense tensors of one block) may share. Each, in order, joins the group
 * of tensors whose one table, built from their summed counts, makes them
 * smallest in all, when that is smaller than the tensor on its own and
 * keeps every member within its size target (1% over its entropy plus
 * what a table of its own would cost); a group of two or more is coded
 * with its table in the first tensor's stream, the others referring to
 * that entry. A tensor whose bytes repeat an earlier one's is coded as
 * that one is. owner_of[i] gets the entry whose table tensor i uses (i
 * for an owner), SIZE_MAX for the rest. Deterministic. */
int nnz_share_tables(nnz_encoded *x, size_t n, size_t *owner_of, nnz_error *e);

/* The names of the encodings (enc_names.c, one table each): a layout
 * (nnz.h NNZ_ENC_*; "unknown" past them), a value map (NNZ_VAL_*; "none"
 * past them, as for a raw tensor's -1), a stream's coding (NNZ_CODING_*:
 * "packed" or "huffman"). */
const char *nnz_layout_name(int enc);
const char *nnz_value_map_name(int kind);
const char *nnz_coding_name(unsigned coding);

/* The runtime's optional features (nnz.h NNZ_FEAT_*), each with the macro
 * that leaves it out of a build; ended by a zero bit. */
typedef struct nnz_feature_name {
    unsigned bit;
    const char *name, *macro;
} nnz_feature_name;
extern const nnz_feature_name nnz_feature_names[];

#endif
