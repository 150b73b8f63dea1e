/* quantize_kmeans.c - weight sharing by 1-D k-means (Deep Compression
 * section 3): K = 2^bits shared values per tensor, initialised linearly
 * between the minimum and the maximum, refined by Lloyd's iterations.
 *
 * In one dimension a cluster is an interval, so the values are sorted once
 * and each iteration finds the K intervals by binary search on the
 * midpoints between centroids, with cluster means from prefix sums: an
 * iteration costs O(K log n), not O(n K). When the tensor was pruned, the
 * zeros are kept out of the clustering and get an exact 0.0 centroid of
 * their own, so the sparsity survives. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quantize.h"

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* First index in sorted[0..n) whose value is > x. */
static size_t upper_bound(const float *sorted, size_t n, double x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int quantize_kmeans(const nnz_tensor *t, nnz_state *st, const quant_opts *o, cJSON *rep,
                    nnz_error *e)
{
    (void)t;
    size_t n = nnz_state_nstored(st);
    float *v = nnz_state_stored(st);
    int keep_zero = st->pruned;
    size_t k = (size_t)1 << o->bits, kk = keep_zero ? k - 1 : k; /* centroids to fit */

    /* the values to cluster, sorted; pruned zeros stay out */
    float *sorted = nnz_malloc((n ? n : 1) * sizeof *sorted, e);
    if (!sorted)
        return -1;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!(keep_zero && v[i] == 0))
            sorted[m++] = v[i];
    qsort(sorted, m, sizeof *sorted, cmp_float);
    size_t distinct = m ? 1 : 0;
    for (size_t i = 1; i < m; i++)
        distinct += sorted[i] != sorted[i - 1];
    if (distinct < kk) {
        free(sorted);
        return nnz_fail(e, NNZ_EXIT_USAGE,
                        "kmeans with %zu centroids, but the tensor has only %zu distinct %svalues; "
                        "use bits=%d or fewer, or skip= this tensor", kk, distinct,
                        keep_zero ? "non-zero " : "", distinct > 1 ? (int)floor(log2((double)distinct)) : 1);
    }
    double *psum = nnz_malloc((m + 1) * sizeof *psum, e);
    double *c = nnz_malloc(kk * sizeof *c, e);
    size_t *bound = nnz_malloc((kk + 1) * sizeof *bound, e);
    if (!psum || !c || !bound) {
        free(sorted);
        free(psum);
        free(c);
        free(bound);
        return -1;
    }
    psum[0] = 0;
    for (size_t i = 0; i < m; i++)
        psum[i + 1] = psum[i] + sorted[i];
    /* linear initialisation between min and max */
    double lo = sorted[0], hi = sorted[m - 1];
    for (size_t j = 0; j < kk; j++)
        c[j] = kk > 1 ? lo + (hi - lo) * (double)j / (double)(kk - 1) : (lo + hi) / 2;
    int iters = 0;
    bound[0] = 0;
    bound[kk] = m;
    for (; iters < o->kmeans_iters; iters++) {
        int moved = 0;
        /* cluster j holds sorted[bound[j], bound[j+1]): values up to the
         * midpoint go to the lower centroid */
        for (size_t j = 1; j < kk; j++)
            bound[j] = upper_bound(sorted, m, (c[j - 1] + c[j]) / 2);
        for (size_t j = 0; j < kk; j++) {
            size_t a = bound[j], b = bound[j + 1];
            if (b <= a)
                continue; /* empty: the centroid stays where it is */
            double mean = (psum[b] - psum[a]) / (double)(b - a);
            if (mean != c[j]) {
                c[j] = mean;
                moved = 1;
            }
        }
        if (!moved)
            break;
    }
    free(psum);
    /* the codebook: fitted centroids (sorted, as Lloyd keeps them) plus 0 */
    st->ncodebook = k;
    st->codebook = nnz_malloc(k * sizeof *st->codebook, e);
    st->codes = nnz_malloc((n ? n : 1) * sizeof *st->codes, e);
    if (!st->codebook || !st->codes) {
        free(sorted);
        free(c);
        free(bound);
        return -1;
    }
    size_t at = 0, zero_at = 0;
    int zero_placed = !keep_zero;
    for (size_t j = 0; j < kk; j++) {
        if (!zero_placed && c[j] > 0) {
            zero_at = at;
            st->codebook[at++] = 0.0f;
            zero_placed = 1;
        }
        st->codebook[at++] = (float)c[j];
    }
    if (!zero_placed) {
        zero_at = at;
        st->codebook[at++] = 0.0f;
    }
    /* each value to its nearest fitted centroid (ties to the lower), then
     * to that centroid's place in the codebook (one up past the zero) */
    for (size_t i = 0; i < n; i++) {
        if (keep_zero && v[i] == 0) {
            st->codes[i] = (uint32_t)zero_at;
            continue;
        }
        size_t a = 0, b = kk - 1; /* first j whose upper midpoint is >= v */
        while (a < b) {
            size_t mid = (a + b) / 2;
            if ((double)v[i] <= (c[mid] + c[mid + 1]) / 2)
                b = mid;
            else
                a = mid + 1;
        }
        st->codes[i] = (uint32_t)(keep_zero && a >= zero_at ? a + 1 : a);
    }
    free(sorted);
    free(c);
    free(bound);
    st->kind = NNZ_VAL_CODEBOOK;
    st->bits = o->bits;
    for (size_t i = 0; i < n; i++)
        v[i] = st->codebook[st->codes[i]];
    cJSON_AddStringToObject(rep, "mode", "kmeans");
    cJSON_AddNumberToObject(rep, "bits", o->bits);
    cJSON_AddNumberToObject(rep, "centroids", (double)k);
    cJSON_AddNumberToObject(rep, "iterations", iters);
    cJSON_AddBoolToObject(rep, "zero_centroid", keep_zero);
    cJSON_AddNumberToObject(rep, "levels", (double)quantize_levels(st->codes, n, (unsigned)o->bits));
    return 0;
}
