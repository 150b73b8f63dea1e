/* bench_decode.c - decode throughput of the runtime, measured against
 * memcpy of the same bytes in the same run (a ratio survives a noisy,
 * shared machine; absolute numbers do not).
 *
 *   bench_decode BLOB.nnz [SECONDS]
 *
 * For each tensor: decode to its native type, repeatedly; then memcpy its
 * decoded size, repeatedly. Prints weights/s and MB/s for both and the
 * ratio, per encoding and in total, as one JSON line per encoding. */
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
        fprintf(stderr, "usage: bench_decode BLOB.nnz [SECONDS]\n");
        return 2;
    }
    double seconds = argc > 2 ? atof(argv[2]) : 1.0;
    nnz_blob b;
    unsigned char *data = bench_open_blob("bench_decode", argv[1], &b);
    if (!data)
        return 1;
    uint32_t n = nnz_tensor_count(&b);
    size_t max_out = 0, max_scratch = 0;
    uint64_t total_bytes = 0, total_weights = 0;
    for (uint32_t i = 0; i < n; i++) {
        size_t o, s;
        if (nnz_decode_sizes(&b, i, NNZ_OUT_NATIVE, &o, &s) != NNZ_OK)
            return 1;
        if (o > max_out)
            max_out = o;
        if (s > max_scratch)
            max_scratch = s;
        nnz_tensor_info info;
        nnz_tensor_info_get(&b, i, &info);
        total_bytes += o;
        total_weights += info.count;
    }
    unsigned char *out = malloc(max_out + 64), *scratch = malloc(max_scratch + 64);
    unsigned char *src = malloc(max_out + 64);
    memset(src, 1, max_out + 64);
    /* alternate decode passes and memcpy passes so drift hits both alike */
    double t_dec = 0, t_cpy = 0;
    long rounds = 0;
    double start = bench_now();
    while (bench_now() - start < seconds || rounds < 3) {
        double t0 = bench_now();
        for (uint32_t i = 0; i < n; i++) {
            size_t o, s;
            nnz_decode_sizes(&b, i, NNZ_OUT_NATIVE, &o, &s);
            if (nnz_decode(&b, i, NNZ_OUT_NATIVE, out, o, scratch, s) != NNZ_OK)
                return 1;
        }
        double t1 = bench_now();
        for (uint32_t i = 0; i < n; i++) {
            size_t o, s;
            nnz_decode_sizes(&b, i, NNZ_OUT_NATIVE, &o, &s);
            memcpy(out, src, o);
            __asm__ volatile("" : : "r"(out) : "memory"); /* keep the copy */
        }
        double t2 = bench_now();
        t_dec += t1 - t0;
        t_cpy += t2 - t1;
        rounds++;
    }
    double mb = (double)total_bytes * (double)rounds / 1e6;
    printf("{\"blob\":\"%s\",\"tensors\":%u,\"weights\":%llu,\"decoded_bytes\":%llu,"
           "\"rounds\":%ld,\"decode_MBps\":%.1f,\"memcpy_MBps\":%.1f,"
           "\"decode_weights_per_s\":%.4g,\"memcpy_over_decode\":%.3f}\n",
           argv[1], n, (unsigned long long)total_weights, (unsigned long long)total_bytes,
           rounds, mb / t_dec, mb / t_cpy, (double)total_weights * (double)rounds / t_dec,
           t_dec / t_cpy);
    free(out);
    free(scratch);
    free(src);
    free(data);
    return 0;
}
