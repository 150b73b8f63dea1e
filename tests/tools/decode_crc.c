/* decode_crc.c - decode every tensor of a blob every way the runtime offers
 * (each output type, whole and block by block) and print a CRC-32 of each
 * result, one line per tensor and type. tests/suite/48-huffman.sh builds it
 * against runtime/nnz.c with different build options (the fast paths off,
 * a 32-bit bit buffer, a small first-level table) and checks that every
 * build prints the same lines.
 *
 *   decode_crc BLOB.nnz */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnz.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: decode_crc BLOB.nnz\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        fprintf(stderr, "decode_crc: cannot open %s\n", argv[1]);
        return 2;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    unsigned char *data = malloc(len > 0 ? (size_t)len : 1);
    if (!data || fread(data, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "decode_crc: cannot read %s\n", argv[1]);
        return 2;
    }
    fclose(f);
    nnz_blob b;
    nnz_status st = nnz_open(&b, data, (size_t)len, 0);
    if (st != NNZ_OK) {
        printf("open %d\n", st);
        free(data);
        return 0;
    }
    for (uint32_t i = 0; i < nnz_tensor_count(&b); i++) {
        nnz_tensor_info info;
        if (nnz_tensor_info_get(&b, i, &info) != NNZ_OK)
            continue;
        for (int type = NNZ_OUT_NATIVE; type <= NNZ_OUT_I8; type++) {
            size_t out_size, scratch_size;
            st = nnz_decode_sizes(&b, i, type, &out_size, &scratch_size);
            if (st != NNZ_OK) {
                printf("%u %d sizes %d\n", i, type, st);
                continue;
            }
            unsigned char *out = malloc(out_size + 1), *scratch = malloc(scratch_size + 1);
            st = nnz_decode(&b, i, type, out, out_size, scratch, scratch_size);
            uint32_t whole = st == NNZ_OK ? nnz_crc32(0, out, out_size) : 0, blocks = 0;
            size_t es = info.count ? out_size / info.count : 0;
            nnz_status bst = NNZ_OK;
            for (uint64_t k = 0; k < info.nblocks && bst == NNZ_OK; k++) {
                uint64_t n = info.count - k * info.block_elems;
                if (n > info.block_elems)
                    n = info.block_elems;
                bst = nnz_decode_block(&b, i, k, type, out, (size_t)info.block_elems * es, scratch,
                                       scratch_size);
                if (bst == NNZ_OK)
                    blocks = nnz_crc32(blocks, out, (size_t)n * es);
            }
            printf("%u %d %d %08x %d %08x\n", i, type, st, whole, bst, blocks);
            free(out);
            free(scratch);
        }
    }
    free(data);
    return 0;
}
