/* bench_hashnet.c - decode throughput of hashed tensors, against memcpy of
 * the same decoded bytes in the same run (a ratio survives a noisy, shared
 * machine; absolute numbers do not). Links runtime/nnz.c only.
 *
 *   bench_hashnet BLOB.nnz [SECONDS]
 *
 * For each hashed tensor of the blob: decode it to float32, repeatedly,
 * alternating with a memcpy of its decoded size; prints one JSON line per
 * tensor (weights/s of each, and decode time over memcpy time). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "nnz.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_hashnet BLOB.nnz [SECONDS]\n");
        return 2;
    }
    double seconds = argc > 2 ? atof(argv[2]) : 1.0;
    nnz_blob b;
    unsigned char *data = bench_open_blob("bench_hashnet", argv[1], &b);
    if (!data)
        return 1;
    int found = 0;
    for (uint32_t i = 0; i < nnz_tensor_count(&b); i++) {
        nnz_tensor_info info;
        nnz_value_map vm;
        size_t o, s;
        if (nnz_tensor_info_get(&b, i, &info) != NNZ_OK || info.encoding != NNZ_ENC_HASHED ||
            nnz_value_map_get(&b, i, &vm) != NNZ_OK ||
            nnz_decode_sizes(&b, i, NNZ_OUT_F32, &o, &s) != NNZ_OK)
            continue;
        found++;
        unsigned char *out = malloc(o + 64), *src = malloc(o + 64), *scratch = malloc(s + 64);
        if (!out || !src || !scratch)
            return 1;
        memset(src, 1, o);
        double t_dec = 0, t_cpy = 0;
        long rounds = 0;
        double start = bench_now();
        while (bench_now() - start < seconds || rounds < 3) {
            double t0 = bench_now();
            if (nnz_decode(&b, i, NNZ_OUT_F32, out, o, scratch, s) != NNZ_OK)
                return 1;
            double t1 = bench_now();
            memcpy(out, src, o);
            __asm__ volatile("" : : "r"(out) : "memory"); /* keep the copy */
            double t2 = bench_now();
            t_dec += t1 - t0;
            t_cpy += t2 - t1;
            rounds++;
        }
        double w = (double)info.count * (double)rounds;
        printf("{\"tensor\":\"%.*s\",\"weights\":%llu,\"value_map\":%d,\"symbol_bits\":%u,"
               "\"scratch\":%zu,\"rounds\":%ld,\"decode_weights_per_s\":%.4g,"
               "\"memcpy_weights_per_s\":%.4g,\"decode_over_memcpy\":%.2f}\n",
               (int)info.name_len, info.name_bytes, (unsigned long long)info.count, vm.kind, vm.width, s, rounds,
               w / t_dec, w / t_cpy, t_dec / t_cpy);
        free(out);
        free(src);
        free(scratch);
    }
    free(data);
    if (!found) {
        fprintf(stderr, "bench_hashnet: %s has no hashed tensor\n", argv[1]);
        return 1;
    }
    return 0;
}
