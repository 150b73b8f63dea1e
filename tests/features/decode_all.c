/* decode_all.c - decodes every tensor of a blob with the runtime as built
 * (tests/suite/21-features.sh builds it with each NNZ_NO_* combination).
 * One line per tensor and output type: name, the features it needs, the
 * status, and the CRC-32 of the decoded bytes; the script compares a
 * reduced build's lines with the full build's. Memory from the heap: this
 * is a test driver, not the runtime. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnz.h"

static void line(const nnz_blob *b, uint32_t i, const nnz_tensor_info *info, unsigned need,
                 int ot)
{
    size_t out_size = 0, scratch_size = 0;
    uint64_t count = info->count;
    (void)count; /* used by the reader check, when built */
    nnz_status st = nnz_decode_sizes(b, i, ot, &out_size, &scratch_size);
    uint32_t crc = 0;
    if (st == NNZ_OK) {
        void *out = malloc(out_size ? out_size : 1), *scratch = malloc(scratch_size + 1);
        st = nnz_decode(b, i, ot, out, out_size, scratch, scratch_size);
        if (st == NNZ_OK)
            crc = nnz_crc32(0, out, out_size);
#ifndef NNZ_NO_READER
        /* the same bytes through a reader, in pieces of 100 bytes */
        if (st == NNZ_OK && count > 0) {
            nnz_reader r;
            uint8_t piece[100];
            uint32_t rcrc = 0;
            size_t got, es = ot == NNZ_OUT_I4 ? 0 : out_size / count; /* int4: half a byte */
            st = nnz_reader_open(&r, b, i, ot, scratch, scratch_size);
            while (st == NNZ_OK && (st = nnz_reader_read(&r, piece, sizeof piece, &got)) == NNZ_OK &&
                   got)
                rcrc = nnz_crc32(rcrc, piece, es ? got * es : (got + 1) / 2);
            if (st == NNZ_OK && rcrc != crc)
                st = (nnz_status)-1000; /* the reader differs from nnz_decode */
        }
#endif
        free(out);
        free(scratch);
    }
    printf("%.*s out%d features=%u status=%d crc=%08x\n", (int)info->name_len, info->name_bytes,
           ot, need, (int)st, (unsigned)crc);
}

#ifndef NNZ_NO_REBUILD
static int crc_write(void *ctx, const void *data, size_t size)
{
    uint32_t *crc = (uint32_t *)ctx;
    *crc = nnz_crc32(*crc, data, size);
    return 0;
}

/* A blob with a compressed graph: the rebuilt model's line (it needs the
 * graph codec, Huffman for its streams, and what every tensor needs).
 * Last, and only in builds with nnz_rebuild: other lines are compared
 * line by line. */
static void model_line(const nnz_blob *b, unsigned need)
{
    uint64_t size;
    size_t work;
    uint32_t crc = 0;
    nnz_status st = nnz_rebuild_sizes(b, &size, &work);
    if (st == NNZ_OK) {
        void *mem = malloc(work + 1);
        st = nnz_rebuild(b, crc_write, &crc, mem, work);
        free(mem);
    }
    printf("(model) out0 features=%u status=%d crc=%08x\n",
           need | NNZ_FEAT_GRAPH_CODEC | NNZ_FEAT_HUFFMAN, (int)st,
           st == NNZ_OK ? (unsigned)crc : 0u);
}
#endif

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: decode_all BLOB\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f)
        return 2;
    static uint8_t data[1 << 24];
    size_t n = fread(data, 1, sizeof data, f);
    fclose(f);
    nnz_blob b;
    nnz_status st = nnz_open(&b, data, n, 0);
    if (st != NNZ_OK) {
        printf("open status=%d\n", (int)st);
        return 1;
    }
    printf("built=%u\n", (unsigned)NNZ_FEATURES_BUILT);
    unsigned all = 0;
    for (uint32_t i = 0; i < nnz_tensor_count(&b); i++) {
        nnz_tensor_info info;
        unsigned need = 0;
        if (nnz_tensor_info_get(&b, i, &info) != NNZ_OK || nnz_tensor_features(&b, i, &need) != NNZ_OK)
            return 1;
        all |= need;
        line(&b, i, &info, need, NNZ_OUT_NATIVE);
        if (info.dtype == 1) {
            line(&b, i, &info, need, NNZ_OUT_F16);
            line(&b, i, &info, need, NNZ_OUT_I8);
            line(&b, i, &info, need, NNZ_OUT_I4);
        }
    }
#ifndef NNZ_NO_REBUILD
    if (b.graph_packed)
        model_line(&b, all);
#else
    (void)all;
#endif
    return 0;
}
