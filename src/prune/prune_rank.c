/* prune_rank.c - ordering a tensor's units by magnitude, and what pruning
 * the first k of them costs (see prune.h).
 *
 * Single weights are ordered by one 64-bit key each: the bits of |w| above
 * (for non-negative finite floats the bit patterns order as the values do),
 * the index below. Sorting the keys gives the order "smallest magnitude
 * first, ties by index" exactly, with no comparison of floats; a radix sort
 * does it in a few linear passes. Channels are few, and sorted by qsort. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "prune.h"
#include "sort.h"

const double prune_curve_sparsity[] = { 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99 };
const size_t prune_curve_points = sizeof prune_curve_sparsity / sizeof prune_curve_sparsity[0];

double prune_std(const float *v, size_t n)
{
    if (n == 0)
        return 0;
    double mean = 0, ss = 0;
    for (size_t i = 0; i < n; i++)
        mean += v[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double d = (double)v[i] - mean;
        ss += d * d;
    }
    return sqrt(ss / (double)n);
}

static uint32_t abs_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u & 0x7fffffffu;
}

typedef struct chan_key {
    double score;
    size_t index;
} chan_key;

static int cmp_chan(const void *a, const void *b)
{
    const chan_key *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

void prune_order_free(prune_order *o)
{
    free(o->unit);
    free(o->score);
    free(o->prefix);
    memset(o, 0, sizeof *o);
}

static int order_weights(const float *v, size_t n, prune_order *o, nnz_error *e)
{
    if ((uint64_t)n > UINT32_MAX)
        return nnz_fail(e, NNZ_EXIT_INPUT, "%zu elements: prune ranks at most 2^32 - 1 weights "
                        "a tensor", n);
    uint64_t *key = nnz_malloc((n ? n : 1) * sizeof *key, e);
    uint64_t *tmp = key ? nnz_malloc((n ? n : 1) * sizeof *tmp, e) : NULL;
    if (!tmp) {
        free(key);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        key[i] = (uint64_t)abs_bits(v[i]) << 32 | (uint64_t)i;
    nnz_radix_sort64(key, tmp, n);
    free(tmp);
    for (size_t j = 0; j < n; j++) {
        size_t i = (size_t)(key[j] & 0xffffffffu);
        double w = v[i];
        o->unit[j] = i;
        o->score[j] = fabs(w);
        o->prefix[j + 1] = o->prefix[j] + w * w;
    }
    free(key);
    return 0;
}

static int order_channels(const float *v, size_t n, const prune_layout *lay, int norm,
                          prune_order *o, nnz_error *e)
{
    size_t nc = lay->nunits;
    double *l1 = nnz_calloc(nc, sizeof *l1, e), *l2 = nnz_calloc(nc, sizeof *l2, e);
    chan_key *key = nnz_malloc(nc * sizeof *key, e);
    if (!l1 || !l2 || !key) {
        free(l1);
        free(l2);
        free(key);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        size_t c = (i / lay->inner) % nc;
        double w = v[i];
        l1[c] += fabs(w);
        l2[c] += w * w;
    }
    double per = (double)(n / nc); /* weights in a channel */
    for (size_t c = 0; c < nc; c++) {
        key[c].index = c;
        key[c].score = per > 0 ? (norm == PR_L1 ? l1[c] / per : sqrt(l2[c] / per)) : 0;
    }
    qsort(key, nc, sizeof *key, cmp_chan);
    for (size_t j = 0; j < nc; j++) {
        o->unit[j] = key[j].index;
        o->score[j] = key[j].score;
        o->prefix[j + 1] = o->prefix[j] + l2[key[j].index];
    }
    free(l1);
    free(l2);
    free(key);
    return 0;
}

int prune_order_make(const float *v, size_t n, const prune_layout *lay, int norm,
                     prune_order *o, nnz_error *e)
{
    memset(o, 0, sizeof *o);
    size_t nu = lay->nunits;
    o->nunits = nu;
    o->unit = nnz_malloc((nu ? nu : 1) * sizeof *o->unit, e);
    o->score = nnz_malloc((nu ? nu : 1) * sizeof *o->score, e);
    o->prefix = nnz_calloc(nu + 1, sizeof *o->prefix, e);
    int rc = -1;
    if (o->unit && o->score && o->prefix && (nu == 0 || n == 0))
        rc = 0; /* nothing to order (an empty tensor, or an axis of length 0) */
    else if (o->unit && o->score && o->prefix)
        rc = nu == n && lay->inner == 1 ? order_weights(v, n, o, e)
                                        : order_channels(v, n, lay, norm, o, e);
    if (rc != 0)
        prune_order_free(o);
    return rc;
}

double prune_order_error(const prune_order *o, size_t k)
{
    double total = o->prefix[o->nunits];
    if (k > o->nunits)
        k = o->nunits;
    return total > 0 ? sqrt(o->prefix[k] / total) : 0;
}

size_t prune_count_sparsity(size_t nunits, double s)
{
    double k = floor(s * (double)nunits + 0.5); /* round half up */
    return k <= 0 ? 0 : k >= (double)nunits ? nunits : (size_t)k;
}

size_t prune_count_below(const prune_order *o, double cut)
{
    size_t lo = 0, hi = o->nunits; /* first j with score[j] >= cut */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (o->score[mid] < cut)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t prune_count_error(const prune_order *o, double x)
{
    double budget = x * x * o->prefix[o->nunits];
    size_t lo = 0, hi = o->nunits; /* last k with prefix[k] <= budget; prefix[0] = 0 */
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        if (o->prefix[mid] <= budget)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

size_t prune_apply(float *v, uint32_t *codes, size_t n, const prune_layout *lay,
                   const prune_order *o, size_t k)
{
    if (k > o->nunits)
        k = o->nunits;
    size_t zeroed = 0;
    if (lay->nunits == n && lay->inner == 1) {
        for (size_t j = 0; j < k; j++) {
            v[o->unit[j]] = 0.0f;
            if (codes)
                codes[o->unit[j]] = 0;
        }
        return k;
    }
    uint8_t *cut = calloc(lay->nunits ? lay->nunits : 1, 1);
    if (!cut) { /* no room for the marks: one channel at a time */
        for (size_t j = 0; j < k; j++)
            for (size_t i = 0; i < n; i++)
                if ((i / lay->inner) % lay->nunits == o->unit[j]) {
                    v[i] = 0.0f;
                    if (codes)
                        codes[i] = 0;
                    zeroed++;
                }
        return zeroed;
    }
    for (size_t j = 0; j < k; j++)
        cut[o->unit[j]] = 1;
    for (size_t i = 0; i < n; i++)
        if (cut[(i / lay->inner) % lay->nunits]) {
            v[i] = 0.0f;
            if (codes)
                codes[i] = 0;
            zeroed++;
        }
    free(cut);
    return zeroed;
}
