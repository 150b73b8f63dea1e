/* quantize_kmeans.c - weight sharing by 1-D k-means (Deep Compression
 * section 3): K = 2^bits shared values per tensor, initialised linearly
 * between the minimum and the maximum, refined by Lloyd's iterations.
 *
 * In one dimension a cluster is an interval of the sorted values, so the
 * values are sorted once (a radix sort, O(n)) and each iteration finds the
 * K intervals by binary search on the midpoints between centroids, with
 * cluster means from prefix sums: an iteration costs O(K log n), not
 * O(n K). The final assignment is O(n log K).
 *
 * Linear initialisation leaves clusters empty where the values are sparse
 * (long tails, ties); an empty cluster wastes a level. Each one is moved to
 * the value furthest from its centroid in the cluster with the largest
 * squared error, and Lloyd's iterations go on, so a tensor with exactly K
 * distinct values gets them all back exactly.
 *
 * When the tensor was pruned (or holds exact zeros at least as often as an
 * average cluster), the zeros are kept out of the clustering and get an
 * exact 0.0 centroid of their own, so the sparsity survives. Everything
 * is deterministic: no random numbers, ties broken by position. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quantize.h"
#include "sort.h"

/* First index in sorted x[0..m) whose value is > t, searched outwards from
 * `hint` (where it was last time: the boundaries move little between
 * Lloyd iterations, so this costs O(log distance), not O(log m)). */
static size_t upper_bound_near(const float *x, size_t m, double t, size_t hint)
{
    size_t lo, hi, step = 1; /* the answer is in [lo, hi] */
    if (hint > m)
        hint = m;
    if (hint < m && x[hint] <= t) {
        lo = hi = hint + 1;
        while (hi < m && x[hi] <= t) {
            lo = hi + 1;
            hi = m - lo > step ? lo + step : m;
            step *= 2;
        }
    } else {
        lo = hi = hint;
        while (lo > 0 && x[lo - 1] > t) {
            hi = lo - 1;
            lo = hi > step ? hi - step : 0;
            step *= 2;
        }
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (x[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

typedef struct fit {
    const float *x;      /* sorted values */
    size_t m;
    const double *psum;  /* prefix sums of x and x^2 */
    const double *psq;
    double *c;           /* k sorted centroids */
    size_t k;
    size_t *bound;       /* cluster j is x[bound[j], bound[j+1]) */
} fit;

/* Assign the intervals for the current centroids. */
static void bounds(fit *f)
{
    f->bound[0] = 0;
    f->bound[f->k] = f->m;
    for (size_t j = 1; j < f->k; j++) {
        size_t b = upper_bound_near(f->x, f->m, (f->c[j - 1] + f->c[j]) / 2, f->bound[j]);
        f->bound[j] = b < f->bound[j - 1] ? f->bound[j - 1] : b;
    }
}

/* Lloyd's iterations until nothing moves (or `iters`); returns iterations. */
static int lloyd(fit *f, int iters)
{
    int it = 0;
    for (; it < iters; it++) {
        int moved = 0;
        bounds(f);
        for (size_t j = 0; j < f->k; j++) {
            size_t a = f->bound[j], b = f->bound[j + 1];
            if (b <= a)
                continue; /* empty: the centroid stays where it is */
            double mean = (f->psum[b] - f->psum[a]) / (double)(b - a);
            if (mean != f->c[j]) {
                f->c[j] = mean;
                moved = 1;
            }
        }
        if (!moved)
            break;
    }
    bounds(f);
    return it;
}

static double sse(const fit *f, size_t j)
{
    size_t a = f->bound[j], b = f->bound[j + 1];
    if (b - a < 2 || f->x[a] == f->x[b - 1])
        return 0; /* one distinct value: nothing to split */
    double s = f->psum[b] - f->psum[a];
    double r = f->psq[b] - f->psq[a] - s * s / (double)(b - a);
    return r > 0 ? r : 1e-300; /* rounding must not hide a splittable cluster */
}

/* Move each empty cluster's centroid to the value furthest from the
 * centroid of the cluster with the largest squared error, one at a time
 * (each move is followed by a Lloyd step, so the next choice sees it);
 * returns how many moved (0: none empty, or nothing left to split). */
static size_t repair_empty(fit *f)
{
    size_t moved = 0;
    while (moved < 2 * f->k) {
        size_t j = 0;
        while (j < f->k && f->bound[j + 1] > f->bound[j])
            j++;
        size_t worst = f->k;
        double wsse = 0;
        for (size_t i = 0; i < f->k && j < f->k; i++) {
            double s = sse(f, i);
            if (s > wsse) {
                wsse = s;
                worst = i;
            }
        }
        if (j == f->k || worst == f->k)
            break;
        size_t a = f->bound[worst], b = f->bound[worst + 1];
        double lo = f->x[a], hi = f->x[b - 1];
        double nc = fabs(hi - f->c[worst]) >= fabs(f->c[worst] - lo) ? hi : lo;
        /* take c[j] out and put nc in its sorted place */
        memmove(f->c + j, f->c + j + 1, (f->k - j - 1) * sizeof *f->c);
        size_t at = 0;
        while (at < f->k - 1 && f->c[at] <= nc)
            at++;
        memmove(f->c + at + 1, f->c + at, (f->k - 1 - at) * sizeof *f->c);
        f->c[at] = nc;
        bounds(f);
        for (size_t i = 0; i < f->k; i++) {
            size_t p = f->bound[i], q = f->bound[i + 1];
            if (q > p)
                f->c[i] = (f->psum[q] - f->psum[p]) / (double)(q - p);
        }
        moved++;
    }
    bounds(f);
    return moved;
}

int quantize_kmeans(const nnz_tensor *t, nnz_state *st, const quant_opts *o, cJSON *rep,
                    nnz_err_stats *err, nnz_error *e)
{
    (void)t;
    size_t n = nnz_state_nstored(st);
    float *v = nnz_state_stored(st);
    size_t k = (size_t)1 << o->bits, zeros = 0;
    for (size_t i = 0; i < n; i++)
        zeros += v[i] == 0;
    int keep_zero = zeros > 0 && (st->pruned || zeros * k >= n);
    size_t kk = keep_zero ? k - 1 : k; /* centroids to fit */

    free(st->codes); /* a half tensor arrives with its halves as codes */
    st->codes = NULL;
    /* the values to cluster, sorted; kept zeros stay out */
    float *x = nnz_malloc((n ? n : 1) * sizeof *x, e);
    float *tmp = nnz_malloc((n ? n : 1) * sizeof *tmp, e);
    if (!x || !tmp) {
        free(x);
        free(tmp);
        return -1;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!(keep_zero && v[i] == 0))
            x[m++] = v[i] == 0 ? 0.0f : v[i]; /* -0 and +0 are one value */
    nnz_sort_floats(x, tmp, m);
    free(tmp);
    size_t distinct = m ? 1 : 0;
    for (size_t i = 1; i < m; i++)
        distinct += x[i] != x[i - 1];
    /* fewer distinct values than centroids: an error for a tensor as the
     * model has it (the option makes no sense for it); after pruning, the
     * survivors are simply kept exactly, so a small pruned layer does not
     * stop a Deep Compression pipeline */
    int exact = 0;
    if (distinct < kk && st->pruned) {
        exact = 1;
        kk = distinct;
    } else if (distinct < kk) {
        free(x);
        size_t least = keep_zero ? 3 : 4; /* what bits=2 needs */
        if (distinct < least)
            return nnz_fail(e, NNZ_EXIT_USAGE,
                            "kmeans with %zu centroids, but the tensor has only %zu distinct "
                            "%svalues, too few for any kmeans (bits=2 needs %zu); use uniform "
                            "steps, or leave it out (skip=NAME, or a larger min-elements=)",
                            kk, distinct, keep_zero ? "non-zero " : "", least);
        int fit_bits = 2;
        while (((size_t)1 << (fit_bits + 1)) - (keep_zero ? 1 : 0) <= distinct)
            fit_bits++;
        return nnz_fail(e, NNZ_EXIT_USAGE,
                        "kmeans with %zu centroids, but the tensor has only %zu distinct %svalues; "
                        "use bits=%d or fewer, or leave it out (skip=NAME, or a larger "
                        "min-elements=)", kk, distinct, keep_zero ? "non-zero " : "", fit_bits);
    }
    double *psum = nnz_malloc((m + 1) * sizeof *psum, e);
    double *psq = nnz_malloc((m + 1) * sizeof *psq, e);
    double *c = nnz_malloc((kk ? kk : 1) * sizeof *c, e);
    size_t *bound = nnz_malloc((kk + 1) * sizeof *bound, e);
    if (!psum || !psq || !c || !bound) {
        free(x);
        free(psum);
        free(psq);
        free(c);
        free(bound);
        return -1;
    }
    psum[0] = psq[0] = 0;
    for (size_t i = 0; i < m; i++) {
        psum[i + 1] = psum[i] + x[i];
        psq[i + 1] = psq[i] + (double)x[i] * x[i];
    }
    fit f = { x, m, psum, psq, c, kk, bound };
    int iters = 0;
    size_t repaired = 0;
    if (exact) { /* the distinct values are the centroids */
        for (size_t i = 0, j = 0; i < m; i++)
            if (i == 0 || x[i] != x[i - 1])
                c[j++] = x[i];
    } else {
        /* linear initialisation between min and max */
        double lo = x[0], hi = x[m - 1];
        for (size_t j = 0; j < kk; j++)
            c[j] = kk > 1 ? lo + (hi - lo) * (double)j / (double)(kk - 1) : (lo + hi) / 2;
        for (size_t j = 0; j <= kk; j++)
            bound[j] = m * j / kk; /* first hints for the searches */
        iters = lloyd(&f, o->kmeans_iters);
    }
    for (int round = 0; round < 8 && !exact; round++) {
        size_t r = repair_empty(&f);
        if (!r)
            break;
        repaired += r;
        iters += lloyd(&f, o->kmeans_iters);
    }
    size_t empty = 0;
    for (size_t j = 0; j < kk && !exact; j++)
        empty += bound[j + 1] == bound[j];
    free(psum);
    free(psq);

    /* the codebook: fitted centroids (sorted, as Lloyd keeps them) plus 0 */
    st->ncodebook = kk + (keep_zero ? 1 : 0);
    st->codebook = nnz_malloc((st->ncodebook ? st->ncodebook : 1) * sizeof *st->codebook, e);
    st->codes = nnz_malloc((n ? n : 1) * sizeof *st->codes, e);
    if (!st->codebook || !st->codes) {
        free(x);
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
    /* each value to its nearest fitted centroid (at a midpoint, the lower
     * one, as the clustering did), then to that centroid's place in the
     * codebook (one up past the zero) */
    double *mid = c; /* reuse: midpoints[j] between c[j] and c[j+1] */
    for (size_t j = 0; j + 1 < kk; j++)
        mid[j] = (c[j] + c[j + 1]) / 2;
    for (size_t i = 0; i < n; i++) {
        if (keep_zero && v[i] == 0) {
            st->codes[i] = (uint32_t)zero_at;
            continue;
        }
        size_t a = 0, b = kk ? kk - 1 : 0; /* first j whose upper midpoint is >= v */
        while (a < b) {
            size_t h = (a + b) / 2;
            if ((double)v[i] <= mid[h])
                b = h;
            else
                a = h + 1;
        }
        st->codes[i] = (uint32_t)(keep_zero && a >= zero_at ? a + 1 : a);
    }
    free(x);
    free(c);
    free(bound);
    st->kind = NNZ_VAL_CODEBOOK;
    st->bits = o->bits;
    for (size_t i = 0; i < n; i++) {
        float q = st->codebook[st->codes[i]];
        quantize_err_add(err, v[i], q);
        v[i] = q;
    }
    size_t levels;
    double entropy;
    quantize_code_stats(st->codes, n, (uint32_t)k - 1, &levels, &entropy);
    cJSON_AddStringToObject(rep, "mode", "kmeans");
    cJSON_AddNumberToObject(rep, "bits", o->bits);
    cJSON_AddNumberToObject(rep, "centroids", (double)st->ncodebook);
    cJSON_AddNumberToObject(rep, "iterations", iters);
    cJSON_AddNumberToObject(rep, "empty_clusters_moved", (double)repaired);
    cJSON_AddBoolToObject(rep, "zero_centroid", keep_zero);
    cJSON_AddNumberToObject(rep, "levels", (double)levels);
    cJSON_AddNumberToObject(rep, "entropy_bits", entropy);
    if (exact)
        nnz_report_warn(rep, "only %zu distinct non-zero values survive pruning, fewer than "
                        "the %zu centroids asked for: they are kept exactly", distinct, k - 1);
    else if (empty)
        nnz_report_warn(rep, "%zu of %zu centroids are unused (the values have too few distinct "
                        "clusters); bits=%d would lose little", empty, kk,
                        o->bits > 2 ? o->bits - 1 : 2);
    return 0;
}
