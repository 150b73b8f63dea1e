/* hashnet_fit.c - per-tensor seeds, bucket counts, and the least-squares
 * bucket values (see hashnet.h).
 *
 * Why the mean is the best value. With the assignment h and signs s(i) =
 * +-1 fixed, the squared error splits over the buckets:
 *     E = sum_b sum_{i: h(i) = b} (w_i - s(i) v_b)^2
 *       = sum_b sum_{i: h(i) = b} (s(i) w_i - v_b)^2        (s(i)^2 = 1)
 * and each bucket's term is a parabola in v_b with its minimum at the mean
 * of s(i) w_i over the bucket's members. An empty bucket adds nothing to E,
 * whatever its value; it gets 0 (the cheapest symbol once quantized). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hashnet.h"
#include "nnz.h"

uint32_t hashnet_tensor_seed(uint32_t seed, const char *name)
{
    size_t len = strlen(name);
    uint32_t h = seed;
    for (size_t at = 0; at < len; at += 8) {
        uint64_t c = 0;
        for (size_t k = 0; k < 8 && at + k < len; k++)
            c |= (uint64_t)(unsigned char)name[at + k] << (8 * k);
        h = nnz_hash_index(c, h);
    }
    return nnz_hash_index((uint64_t)len, h);
}

uint64_t hashnet_bucket_count(const hashnet_opts *o, size_t n)
{
    if (o->buckets > 0)
        return o->buckets;
    double q = (double)n / o->ratio;
    if (!(q < 18446744073709549568.0)) /* below 2^64, and not NaN */
        return n;
    uint64_t k = (uint64_t)ceil(q);
    /* n / ratio may round up past an integer it equals (11 / 1.1): keep the
     * smallest k with k * ratio >= n */
    if (k > 1 && (double)(k - 1) * o->ratio >= (double)n)
        k--;
    return k ? k : 1;
}

int hashnet_fit(const float *w, size_t n, size_t k, uint32_t seed, int sign, float *buckets,
                size_t *members, nnz_error *e)
{
    double *sum = nnz_calloc(k ? k : 1, sizeof *sum, e);
    size_t *cnt = nnz_calloc(k ? k : 1, sizeof *cnt, e);
    if (!sum || !cnt) {
        free(sum);
        free(cnt);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        size_t b = (size_t)nnz_hash_bucket(i, seed, k);
        double v = w[i];
        sum[b] += sign && nnz_hash_sign(i, seed) < 0 ? -v : v;
        cnt[b]++;
    }
    for (size_t b = 0; b < k; b++) {
        buckets[b] = cnt[b] ? (float)(sum[b] / (double)cnt[b]) : 0.0f;
        if (members)
            members[b] = cnt[b];
    }
    free(sum);
    free(cnt);
    return 0;
}
