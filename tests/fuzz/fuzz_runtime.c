/* fuzz_runtime.c - libFuzzer harness for every runtime entry point: open,
 * tensor info, find, decode into buffers too small, exact and too large,
 * and rebuild. The input is a blob; the first byte also picks flags. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nnz.h"

static int sink(void *ctx, const void *data, size_t size)
{
    /* touch every byte so a bad pointer is seen */
    const uint8_t *p = (const uint8_t *)data;
    uint8_t *acc = (uint8_t *)ctx;
    for (size_t i = 0; i < size; i++)
        *acc ^= p[i];
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nnz_blob b;
    unsigned flags = size && (data[size - 1] & 1) ? NNZ_OPEN_SKIP_PAYLOAD_CRC : 0;
    if (nnz_open(&b, data, size, flags) != NNZ_OK)
        return 0;
    uint32_t n = nnz_tensor_count(&b);
    for (uint32_t i = 0; i < n && i < 64; i++) {
        nnz_tensor_info info;
        if (nnz_tensor_info_get(&b, i, &info) != NNZ_OK)
            continue;
        uint32_t found;
        nnz_find(&b, info.name, &found);
        nnz_value_map vm;
        nnz_value_map_get(&b, i, &vm);
        for (int type = NNZ_OUT_NATIVE; type <= NNZ_OUT_I8; type++) {
            size_t out_size, scratch_size;
            if (nnz_decode_sizes(&b, i, type, &out_size, &scratch_size) != NNZ_OK)
                continue;
            if (out_size > (64u << 20) || scratch_size > (64u << 20))
                continue; /* a huge declared tensor: sizes were still checked */
            uint8_t *out = malloc(out_size + 16), *scratch = malloc(scratch_size + 16);
            if (out && scratch) {
                nnz_decode(&b, i, type, out, out_size, scratch, scratch_size);
                if (out_size)
                    nnz_decode(&b, i, type, out, out_size - 1, scratch, scratch_size);
                if (scratch_size)
                    nnz_decode(&b, i, type, out, out_size, scratch, scratch_size - 1);
                nnz_decode(&b, i, type, out, out_size + 16, scratch, scratch_size + 16);
                /* block by block, into a buffer of one block */
                for (uint64_t k = 0; k < info.nblocks && k < 8; k++)
                    nnz_decode_block(&b, i, k, type, out, out_size, scratch, scratch_size);
                nnz_decode_block(&b, i, info.nblocks, type, out, out_size, scratch, scratch_size);
            }
            free(out);
            free(scratch);
        }
    }
    uint64_t model_size;
    size_t work_size;
    if (nnz_rebuild_sizes(&b, &model_size, &work_size) == NNZ_OK && work_size < (64u << 20)) {
        uint8_t *work = malloc(work_size + 1), acc = 0;
        if (work)
            nnz_rebuild(&b, sink, &acc, work, work_size);
        free(work);
    }
    const char *meta;
    size_t meta_size;
    nnz_metadata(&b, &meta, &meta_size);
    return 0;
}
