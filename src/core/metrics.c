/* metrics.c - see metrics.h. Sums in double: float sums over millions of
 * weights lose the small errors we are measuring. */
#include "metrics.h"

#include <math.h>

void nnz_err_finish(nnz_err_stats *s)
{
    if (s->sum_sq_err == 0) {
        s->rel_l2 = 0;
        s->sqnr_db = INFINITY;
    } else if (s->sum_sq_ref == 0) {
        s->rel_l2 = INFINITY;
        s->sqnr_db = -INFINITY;
    } else {
        s->rel_l2 = sqrt(s->sum_sq_err / s->sum_sq_ref);
        s->sqnr_db = 10.0 * log10(s->sum_sq_ref / s->sum_sq_err);
    }
}

void nnz_err_compute(const float *ref, const float *got, size_t n, nnz_err_stats *s)
{
    double ss_ref = 0, ss_got = 0, ss_err = 0, dot = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        double a = ref[i], b = got[i], d = a - b;
        if (a == b) /* also equal infinities: no error */
            d = 0;
        ss_ref += a * a;
        ss_got += b * b;
        ss_err += d * d;
        dot += a * b;
        if (fabs(d) > mx || d != d)
            mx = d != d ? NAN : fabs(d);
    }
    s->sum_sq_ref = ss_ref;
    s->sum_sq_err = ss_err;
    s->max_abs = mx;
    if (ss_ref == 0 && ss_got == 0)
        s->cosine = 1;
    else if (ss_ref == 0 || ss_got == 0)
        s->cosine = 0;
    else
        s->cosine = dot / (sqrt(ss_ref) * sqrt(ss_got));
    nnz_err_finish(s);
}

double nnz_entropy(const uint64_t *freq, uint32_t alphabet)
{
    double total = 0, h = 0;
    for (uint32_t s = 0; s < alphabet; s++)
        total += (double)freq[s];
    for (uint32_t s = 0; s < alphabet; s++)
        if (freq[s])
            h -= (double)freq[s] / total * log2((double)freq[s] / total);
    return h;
}
