/* registry.c - the one table of passes. A new pass is a folder in src/ and
 * a row here. */
#include <string.h>

#include "pass.h"

extern const nnz_pass nnz_pass_fold, nnz_pass_decompose, nnz_pass_prune, nnz_pass_hashnet, nnz_pass_quantize, nnz_pass_huffman;

const nnz_pass *const nnz_passes[] = {
    &nnz_pass_fold, &nnz_pass_decompose, &nnz_pass_prune, &nnz_pass_hashnet, &nnz_pass_quantize, &nnz_pass_huffman, NULL,
};

const nnz_pass *nnz_pass_find(const char *name)
{
    for (size_t i = 0; nnz_passes[i]; i++)
        if (strcmp(nnz_passes[i]->name, name) == 0)
            return nnz_passes[i];
    return NULL;
}
