/* bench_quantize.c - throughput of the quantize pass: FP32 weights per
 * second through a pipeline's per-tensor work, measured against memcpy of
 * the same bytes in the same run (a ratio survives a noisy, shared machine;
 * absolute numbers do not).
 *
 *   bench_quantize [-r RUNS] PIPELINE MODEL.onnx...
 *
 * Loads every model, picks the tensors the pipeline touches, then RUNS
 * times: runs every stage on every picked tensor (reading its floats
 * included, as compress does; encoding not), and memcpys the same number
 * of bytes. Prints one JSON line: medians, MB/s, the ratio, peak RSS. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_util.h"
#include "model.h"
#include "pass.h"
#include "state.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    int runs = 5, a = 1;
    if (argc > 2 && strcmp(argv[1], "-r") == 0) {
        runs = atoi(argv[2]);
        a = 3;
    }
    if (argc - a < 2 || runs < 1 || runs > 1000) {
        fprintf(stderr, "usage: bench_quantize [-r RUNS] PIPELINE MODEL.onnx...\n");
        return 2;
    }
    const char *pipeline = argv[a++];
    int nm = argc - a;
    nnz_model **m = calloc((size_t)nm, sizeof *m);
    nnz_pipeline *p = calloc((size_t)nm, sizeof *p);
    nnz_error e = { 0 };
    size_t bytes = 0, tensors = 0;
    for (int k = 0; k < nm; k++) {
        if (nnz_model_load(argv[a + k], &m[k], &e) != 0 || nnz_pipeline_parse(pipeline, &p[k], &e) != 0) {
            fprintf(stderr, "bench_quantize: %s\n", e.msg);
            return 1;
        }
        cJSON *rep = cJSON_CreateObject();
        if (nnz_pipeline_prepare(&p[k], m[k], rep, &e) != 0) {
            fprintf(stderr, "bench_quantize: %s\n", e.msg);
            return 1;
        }
        cJSON_Delete(rep);
        for (size_t i = 0; i < m[k]->ntensors; i++)
            for (size_t s = 0; s < p[k].n; s++)
                if (p[k].stages[s].selected[i]) {
                    bytes += m[k]->tensors[i].count * 4;
                    tensors++;
                    break;
                }
    }
    char *src = malloc(bytes ? bytes : 1), *dst = malloc(bytes ? bytes : 1);
    memset(src, 1, bytes);
    memset(dst, 2, bytes);
    double *tp = calloc((size_t)runs, sizeof *tp), *tc = calloc((size_t)runs, sizeof *tc);
    for (int r = 0; r < runs; r++) {
        cJSON **reps = calloc((size_t)nm, sizeof *reps);
        for (int k = 0; k < nm; k++) {
            reps[k] = cJSON_CreateObject();
            if (nnz_pipeline_prepare(&p[k], m[k], reps[k], &e) != 0) {
                fprintf(stderr, "bench_quantize: %s\n", e.msg);
                return 1;
            }
        }
        double t0 = bench_now();
        for (int k = 0; k < nm; k++)
            for (size_t i = 0; i < m[k]->ntensors; i++) {
                nnz_state *st;
                if (nnz_pipeline_run_tensor(&p[k], m[k], i, reps[k], &st, &e) != 0) {
                    fprintf(stderr, "bench_quantize: %s\n", e.msg);
                    return 1;
                }
                nnz_state_free(st);
            }
        double t1 = bench_now();
        memcpy(dst, src, bytes);
        double t2 = bench_now();
        tp[r] = t1 - t0;
        tc[r] = t2 - t1;
        src[r % (bytes ? bytes : 1)] ^= dst[(r * 7) % (bytes ? bytes : 1)]; /* keep the copy live */
        for (int k = 0; k < nm; k++)
            cJSON_Delete(reps[k]);
        free(reps);
    }
    double mp = median(tp, runs), mc = median(tc, runs);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"pipeline\":\"%s\",\"models\":%d,\"tensors\":%zu,\"weight_bytes\":%zu,\"runs\":%d,"
           "\"seconds\":%.6f,\"mb_per_s\":%.1f,\"memcpy_mb_per_s\":%.1f,\"memcpy_over_pass\":%.5f,"
           "\"peak_rss_kib\":%ld}\n",
           pipeline, nm, tensors, bytes, runs, mp, bytes / mp / 1e6, bytes / mc / 1e6, mc / mp,
           ru.ru_maxrss);
    for (int k = 0; k < nm; k++) {
        nnz_pipeline_free(&p[k]);
        nnz_model_free(m[k]);
    }
    free(m);
    free(p);
    free(src);
    free(dst);
    free(tp);
    free(tc);
    return 0;
}
