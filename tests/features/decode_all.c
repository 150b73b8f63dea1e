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
    for (uint32_t i = 0; i < nnz_tensor_count(&b); i++) {
        nnz_tensor_info info;
        unsigned need = 0;
        if (nnz_tensor_info_get(&b, i, &info) != NNZ_OK || nnz_tensor_features(&b, i, &need) != NNZ_OK)
            return 1;
        line(&b, i, &info, need, NNZ_OUT_NATIVE);
        if (info.dtype == 1) {
            line(&b, i, &info, need, NNZ_OUT_F16);
            line(&b, i, &info, need, NNZ_OUT_I8);
            line(&b, i, &info, need, NNZ_OUT_I4);
        }
    }
    return 0;
}
