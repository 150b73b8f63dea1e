/* bench_graph.c - a blob's graph section: its size as the blob stores it,
 * expanded, and under `xz -9e` (liblzma, preset 9 extreme, CRC-64 as the
 * xz tool writes), and the speed of expanding a compressed graph against
 * memcpy and liblzma's decoding of the same bytes in the same run (ratios
 * survive a noisy machine).
 *
 *   bench_graph BLOB.nnz [SECONDS] [--dump FILE]
 *
 * One JSON line. --dump writes the expanded graph to FILE. */
#define _POSIX_C_SOURCE 200809L
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "nnz.h"

int main(int argc, char **argv)
{
    const char *dump = NULL, *path = NULL;
    double seconds = 0.5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dump") == 0 && i + 1 < argc)
            dump = argv[++i];
        else if (!path)
            path = argv[i];
        else
            seconds = atof(argv[i]);
    }
    if (!path) {
        fprintf(stderr, "usage: bench_graph BLOB.nnz [SECONDS] [--dump FILE]\n");
        return 2;
    }
    nnz_blob b;
    unsigned char *data = bench_open_blob("bench_graph", path, &b);
    if (!data)
        return 1;
    size_t work_size, n = b.graph_size;
    const uint8_t *g;
    if (nnz_graph_sizes(&b, &work_size) != NNZ_OK)
        return 1;
    uint8_t *work = malloc(work_size + 1), *copy = malloc(n + 1);
    if (!work || !copy || nnz_graph_get(&b, work, work_size, &g) != NNZ_OK)
        return 1;
    if (dump) {
        FILE *f = fopen(dump, "wb");
        if (!f || fwrite(g, 1, n, f) != n || fclose(f) != 0)
            return 1;
    }
    size_t xz_cap = lzma_stream_buffer_bound(n), xz_len = 0;
    uint8_t *xz = malloc(xz_cap), *back = malloc(n + 1);
    if (!xz || !back ||
        lzma_easy_buffer_encode(9 | LZMA_PRESET_EXTREME, LZMA_CHECK_CRC64, NULL, g, n, xz, &xz_len,
                                xz_cap) != LZMA_OK)
        return 1;
    /* alternate the three so drift hits them alike */
    double t_exp = 0, t_cpy = 0, t_xz = 0;
    long rounds = 0;
    memcpy(copy, g, n);
    while (t_exp + t_cpy + t_xz < seconds || rounds < 3) {
        double t0 = bench_now();
        if (b.graph_packed && nnz_graph_get(&b, work, work_size, &g) != NNZ_OK)
            return 1;
        double t1 = bench_now();
        memcpy(copy, g, n);
        double t2 = bench_now();
        uint64_t limit = UINT64_MAX;
        size_t in_pos = 0, out_pos = 0;
        if (lzma_stream_buffer_decode(&limit, 0, NULL, xz, &in_pos, xz_len, back, &out_pos, n) !=
                LZMA_OK ||
            out_pos != n || memcmp(back, copy, n) != 0)
            return 1;
        double t3 = bench_now();
        t_exp += t1 - t0;
        t_cpy += t2 - t1;
        t_xz += t3 - t2;
        rounds++;
    }
    printf("{\"graph_bytes\":%zu,\"stored_bytes\":%zu,\"compressed\":%s,\"xz_bytes\":%zu,"
           "\"expand_mb_s\":%.1f,\"memcpy_over_expand\":%.4f,\"xz_decode_over_expand\":%.3f}\n",
           n, b.graph_packed ? b.graph_packed_size : n, b.graph_packed ? "true" : "false", xz_len,
           b.graph_packed ? (double)n * (double)rounds / t_exp / 1e6 : 0,
           b.graph_packed ? t_cpy / t_exp : 0, b.graph_packed ? t_xz / t_exp : 0);
    free(work);
    free(copy);
    free(xz);
    free(back);
    free(data);
    return 0;
}
