/* enc_names.c - the names the blob's encodings go by, in compress reports
 * and in `nnzip info` (docs/FORMAT.md gives the numbers): one table of each,
 * indexed by the runtime's enums (nnz.h). */
#include "encode.h"

#include "nnz.h"

const char *nnz_layout_name(int enc)
{
    static const char *const names[] = { "raw",   "dense", "sparse", "hashed",
                                         "graph", "alias", "inline" };
    return enc >= 0 && enc <= NNZ_ENC_INLINE ? names[enc] : "unknown";
}

const char *nnz_value_map_name(int kind)
{
    static const char *const names[] = { "f32", "f16", "bf16", "affine", "codebook", "integer",
                                         "affine-log" };
    return kind >= 0 && kind <= NNZ_VAL_AFFINE_LOG ? names[kind] : "none";
}

const char *nnz_coding_name(unsigned coding)
{
    return coding == NNZ_CODING_PACKED ? "packed" : "huffman";
}

const nnz_feature_name nnz_feature_names[] = {
    { NNZ_FEAT_SPARSE, "sparse", "NNZ_NO_SPARSE" },
    { NNZ_FEAT_HASHED, "hashed", "NNZ_NO_HASHED" },
    { NNZ_FEAT_CODEBOOK, "codebook", "NNZ_NO_CODEBOOK" },
    { NNZ_FEAT_HUFFMAN, "huffman", "NNZ_NO_HUFFMAN" },
    { NNZ_FEAT_ALIAS, "alias", "NNZ_NO_ALIAS" },
    { NNZ_FEAT_GRAPH_CODEC, "graph-codec", "NNZ_NO_GRAPH_CODEC" },
    { NNZ_FEAT_SHARED, "shared-tables", "NNZ_NO_SHARED" },
    { 0, NULL, NULL },
};
