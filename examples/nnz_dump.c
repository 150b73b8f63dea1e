/* nnz_dump.c - an app that embeds the nnzip runtime: it loads a blob into
 * memory, lists its tensors, and decodes one to float32.
 *
 *   cc -std=c99 -Iruntime examples/nnz_dump.c runtime/nnz.c -o nnz_dump
 *   ./nnz_dump model.nnz [TENSOR]
 *
 * Everything the runtime needs comes from the app: the blob's bytes, the
 * output buffer and the scratch buffer. */
#include <stdio.h>
#include <stdlib.h>

#include "nnz.h"

static unsigned char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long n;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n)) != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        *size = (size_t)n;
    } else {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    size_t size = 0, out_size, scratch_size;
    nnz_blob blob;
    nnz_tensor_info info;
    nnz_status st;
    uint32_t i, pick = 0;
    unsigned char *data;
    float *out;
    void *scratch;

    if (argc < 2) {
        fprintf(stderr, "usage: nnz_dump FILE.nnz [TENSOR]\n");
        return 2;
    }
    data = read_all(argv[1], &size);
    if (!data) {
        fprintf(stderr, "nnz_dump: cannot read %s\n", argv[1]);
        return 1;
    }
    st = nnz_open(&blob, data, size, 0);
    if (st != NNZ_OK) {
        fprintf(stderr, "nnz_dump: %s: %s\n", argv[1], nnz_strerror(st));
        free(data);
        return 1;
    }
    printf("%u tensors\n", (unsigned)nnz_tensor_count(&blob));
    for (i = 0; i < nnz_tensor_count(&blob); i++) {
        if (nnz_tensor_info_get(&blob, i, &info) != NNZ_OK)
            continue;
        /* name_bytes: a name may live in the blob's graph, not NUL-terminated */
        printf("  %-32.*s dtype %2d  %10lu elements  encoding %d  %8lu bytes\n",
               (int)info.name_len, info.name_bytes, info.dtype, (unsigned long)info.count, info.encoding,
               (unsigned long)info.payload_size);
        if (info.dtype == 1 && pick == 0)
            pick = i + 1; /* the first float tensor, 1-based */
    }
    if (argc > 2) {
        st = nnz_find(&blob, argv[2], &i);
        if (st != NNZ_OK) {
            fprintf(stderr, "nnz_dump: %s: %s\n", argv[2], nnz_strerror(st));
            free(data);
            return 1;
        }
        pick = i + 1;
    }
    if (pick) {
        i = pick - 1;
        st = nnz_decode_sizes(&blob, i, NNZ_OUT_F32, &out_size, &scratch_size);
        if (st == NNZ_OK) {
            out = malloc(out_size ? out_size : 1);
            scratch = malloc(scratch_size ? scratch_size : 1);
            st = out && scratch ? nnz_decode(&blob, i, NNZ_OUT_F32, out, out_size, scratch,
                                             scratch_size)
                                : NNZ_E_ARGUMENT;
            if (st == NNZ_OK) {
                size_t k, n = out_size / sizeof(float);
                double sum = 0;
                nnz_tensor_info_get(&blob, i, &info);
                printf("decoded %.*s:", (int)info.name_len, info.name_bytes);
                for (k = 0; k < n && k < 4; k++)
                    printf(" %g", (double)out[k]);
                for (k = 0; k < n; k++)
                    sum += out[k];
                printf("%s (sum %.6g)\n", n > 4 ? " ..." : "", sum);
            }
            free(out);
            free(scratch);
        }
        if (st != NNZ_OK) {
            fprintf(stderr, "nnz_dump: decode: %s\n", nnz_strerror(st));
            free(data);
            return 1;
        }
    }
    free(data);
    return 0;
}
