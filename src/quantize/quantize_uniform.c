/* quantize_uniform.c - uniform n-bit steps: symmetric or affine, per
 * channel (default) or per tensor, steps chosen from each channel's range
 * or from an error target, rounding to nearest or rate-aware.
 *
 * Codes are unsigned: code = round(w / scale) + zero_point, and the decoder
 * computes scale * (code - zero_point). Symmetric steps use the zero point
 * 2^(bits-1) and codes 1..2^bits-1 (the range -qmax..qmax around it, as
 * symmetric INT8 uses -127..127); affine steps span [min(w,0), max(w,0)]
 * with an integer zero point, so 0.0 is always exactly representable. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quantize.h"

/* The channels of a tensor: element i is in channel (i / inner) % nchan. */
static void channels(const nnz_tensor *t, const nnz_state *st, int granularity, size_t *nchan,
                     size_t *inner, int *axis)
{
    size_t n = nnz_state_nstored(st);
    *nchan = 1;
    *inner = n ? n : 1;
    *axis = -1;
    if (granularity == Q_TENSOR || st->hashed)
        return;
    int a = nnz_tensor_channel_axis(t);
    if (a < 0 || a >= t->ndims || t->dims[a] <= 1)
        return;
    size_t in = 1;
    for (int d = a + 1; d < t->ndims; d++)
        in *= (size_t)t->dims[d];
    *nchan = (size_t)t->dims[a];
    *inner = in ? in : 1;
    *axis = a;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static double median(const float *v, size_t n)
{
    float *c = malloc(n * sizeof *c);
    if (!c || n == 0) {
        free(c);
        return 0;
    }
    memcpy(c, v, n * sizeof *c);
    qsort(c, n, sizeof *c, cmp_float);
    double m = c[n / 2];
    free(c);
    return m;
}

/* Per-channel min and max of the stored values. */
static void ranges(const float *v, size_t n, size_t nchan, size_t inner, float *lo, float *hi)
{
    for (size_t c = 0; c < nchan; c++)
        lo[c] = hi[c] = 0; /* 0 is always inside the range */
    for (size_t i = 0; i < n; i++) {
        size_t c = (i / inner) % nchan;
        if (v[i] < lo[c])
            lo[c] = v[i];
        if (v[i] > hi[c])
            hi[c] = v[i];
    }
}

/* Squared error of quantizing v with one step `step` (no clamping):
 * the error-targeted search evaluates this many times. */
static double sq_error_with_step(const float *v, size_t n, double step)
{
    double err = 0;
    for (size_t i = 0; i < n; i++) {
        float q = nearbyintf(v[i] / (float)step);
        double d = (double)v[i] - (double)((float)step * q);
        err += d * d;
    }
    return err;
}

/* Rate-aware rounding: choose the lower or upper neighbouring level by
 * squared error (in steps^2) + lambda * bits, where bits = -log2 of the
 * level's frequency; two passes, each using the previous pass's counts. */
static void rate_aware(const float *v, size_t n, const nnz_state *st, uint32_t *codes,
                       uint32_t maxcode, double lambda)
{
    size_t size = (size_t)maxcode + 1;
    uint64_t *hist = calloc(size, sizeof *hist);
    double *cost = calloc(size, sizeof *cost);
    if (!hist || !cost) {
        free(hist);
        free(cost);
        return; /* keep round-to-nearest */
    }
    for (int pass = 0; pass < 2; pass++) {
        memset(hist, 0, size * sizeof *hist);
        for (size_t i = 0; i < n; i++)
            hist[codes[i]]++;
        for (size_t q = 0; q < size; q++)
            cost[q] = -log2(((double)hist[q] + 0.5) / ((double)n + 0.5 * (double)size));
        for (size_t i = 0; i < n; i++) {
            if (v[i] == 0)
                continue; /* zero stays exactly zero */
            size_t c = (i / st->inner) % st->nchan;
            double x = (double)v[i] / st->scale[c] + st->zero_point[c];
            double f = floor(x);
            if (f < 0)
                f = 0;
            if (f >= maxcode)
                f = maxcode - 1;
            uint32_t qf = (uint32_t)f, qc = qf + 1;
            double jf = (x - qf) * (x - qf) + lambda * cost[qf];
            double jc = (qc - x) * (qc - x) + lambda * cost[qc];
            codes[i] = jf <= jc ? qf : qc;
        }
    }
    free(hist);
    free(cost);
}

static double entropy_of(const uint32_t *codes, size_t n, uint32_t maxcode)
{
    uint64_t *hist = calloc((size_t)maxcode + 1, sizeof *hist);
    if (!hist)
        return 0;
    for (size_t i = 0; i < n; i++)
        hist[codes[i]]++;
    double h = 0;
    for (size_t q = 0; q <= maxcode; q++)
        if (hist[q])
            h -= (double)hist[q] / (double)n * log2((double)hist[q] / (double)n);
    free(hist);
    return h;
}

int quantize_uniform(const nnz_tensor *t, nnz_state *st, const quant_opts *o, cJSON *rep,
                     nnz_error *e)
{
    size_t n = nnz_state_nstored(st), nchan, inner;
    float *v = nnz_state_stored(st);
    int axis, bits = o->bits;
    channels(t, st, o->granularity, &nchan, &inner, &axis);
    int scheme = o->scheme;
    if (o->max_rel_error > 0) { /* one symmetric step for the whole tensor */
        nchan = 1;
        inner = n ? n : 1;
        axis = -1;
        scheme = Q_SYM;
    }
    float *lo = nnz_malloc(nchan * sizeof *lo, e), *hi = nnz_malloc(nchan * sizeof *hi, e);
    st->scale = nnz_malloc(nchan * sizeof *st->scale, e);
    st->zero_point = nnz_malloc(nchan * sizeof *st->zero_point, e);
    st->codes = nnz_malloc((n ? n : 1) * sizeof *st->codes, e);
    if (!lo || !hi || !st->scale || !st->zero_point || !st->codes) {
        free(lo);
        free(hi);
        return -1;
    }
    ranges(v, n, nchan, inner, lo, hi);

    double target_met = 1;
    if (o->max_rel_error > 0) {
        /* Largest step whose error meets the target: at high rate, equal
         * steps everywhere give the fewest bits for a given squared error
         * (reverse water-filling), so one step serves every channel. */
        double amax = fmax(-lo[0], hi[0]), energy = 0;
        for (size_t i = 0; i < n; i++)
            energy += (double)v[i] * v[i];
        double budget = o->max_rel_error * o->max_rel_error * energy;
        double fine = amax / (double)((1u << (bits - 1)) - 1), coarse = amax * 4;
        if (amax == 0 || energy == 0) {
            fine = coarse = 1;
        } else if (sq_error_with_step(v, n, fine) > budget) {
            coarse = fine; /* the target needs more than `bits` bits */
            target_met = 0;
        } else {
            for (int it = 0; it < 60; it++) {
                double mid = sqrt(fine * coarse);
                if (sq_error_with_step(v, n, mid) <= budget)
                    fine = mid;
                else
                    coarse = mid;
            }
        }
        double step = (float)fine;
        int64_t qmax = (int64_t)llround(amax / step);
        bits = 2;
        while (bits < 16 && ((int64_t)1 << (bits - 1)) - 1 < qmax)
            bits++;
        st->scale[0] = (float)step;
        st->zero_point[0] = 1u << (bits - 1);
        if (!target_met)
            nnz_report_warn(rep, "max-rel-error %g needs more than %d bits here; got %d-bit "
                            "steps with a larger error (see rel_l2)", o->max_rel_error, o->bits,
                            o->bits);
    } else {
        uint32_t levels = (1u << bits) - 1; /* steps across the range */
        for (size_t c = 0; c < nchan; c++) {
            if (scheme == Q_SYM) {
                float amax = fmaxf(-lo[c], hi[c]);
                uint32_t qmax = (1u << (bits - 1)) - 1;
                st->scale[c] = amax > 0 ? amax / (float)qmax : 1.0f;
                st->zero_point[c] = 1u << (bits - 1);
            } else {
                float span = hi[c] - lo[c];
                st->scale[c] = span > 0 ? span / (float)levels : 1.0f;
                long zp = lroundf(-lo[c] / st->scale[c]);
                st->zero_point[c] = (uint32_t)(zp < 0 ? 0 : zp > (long)levels ? (long)levels : zp);
            }
            if (!(st->scale[c] > 0) || !isfinite(st->scale[c]))
                st->scale[c] = 1.0f; /* a range of denormals: steps of 1 make it 0 */
        }
    }
    st->kind = NNZ_VAL_AFFINE;
    st->bits = bits;
    st->nchan = nchan;
    st->inner = inner;
    st->axis = axis;
    uint32_t maxcode = (1u << bits) - 1, mincode = scheme == Q_SYM ? 1 : 0;
    for (size_t i = 0; i < n; i++) {
        size_t c = (i / inner) % nchan;
        float q = nearbyintf(v[i] / st->scale[c]) + (float)st->zero_point[c];
        st->codes[i] = q < (float)mincode ? mincode : q > (float)maxcode ? maxcode : (uint32_t)q;
    }
    double h_rtn = entropy_of(st->codes, n, maxcode);
    if (o->rounding == Q_RATE)
        rate_aware(v, n, st, st->codes, maxcode, o->rate_lambda);
    /* the stored values become what the decoder gives */
    for (size_t i = 0; i < n; i++)
        v[i] = nnz_state_map(st, st->codes[i], st->hashed ? 0 : i);

    cJSON_AddStringToObject(rep, "mode", o->max_rel_error > 0 ? "error-targeted" : "uniform");
    cJSON_AddNumberToObject(rep, "bits", bits);
    cJSON_AddStringToObject(rep, "scheme", scheme == Q_SYM ? "sym" : "asym");
    cJSON_AddStringToObject(rep, "granularity", nchan > 1 ? "channel" : "tensor");
    cJSON_AddNumberToObject(rep, "axis", axis);
    cJSON_AddNumberToObject(rep, "channels", (double)nchan);
    cJSON_AddNumberToObject(rep, "levels", (double)quantize_levels(st->codes, n, (unsigned)bits));
    double smin = st->scale[0], smax = st->scale[0];
    for (size_t c = 1; c < nchan; c++) {
        smin = fmin(smin, st->scale[c]);
        smax = fmax(smax, st->scale[c]);
    }
    cJSON_AddNumberToObject(rep, "step_min", smin);
    cJSON_AddNumberToObject(rep, "step_median", median(st->scale, nchan));
    cJSON_AddNumberToObject(rep, "step_max", smax);
    cJSON_AddNumberToObject(rep, "entropy_bits", entropy_of(st->codes, n, maxcode));
    if (o->rounding == Q_RATE) {
        cJSON_AddStringToObject(rep, "rounding", "rate");
        cJSON_AddNumberToObject(rep, "entropy_bits_nearest", h_rtn);
    }

    /* warnings that say what to do */
    if (bits <= 4 && nchan == 1 && axis < 0 && o->granularity == Q_TENSOR)
        nnz_report_warn(rep, "%d-bit steps per tensor: small channels will round to zero; "
                        "use granularity=channel (the default)", bits);
    if (nchan == 1 && o->granularity == Q_TENSOR && !st->hashed) {
        size_t nc, in;
        int ax;
        channels(t, st, Q_CHANNEL, &nc, &in, &ax);
        if (nc > 1) {
            float *clo = malloc(nc * sizeof *clo), *chi = malloc(nc * sizeof *chi);
            float *span = malloc(nc * sizeof *span);
            if (clo && chi && span) {
                ranges(st->orig, n, nc, in, clo, chi);
                float top = 0;
                for (size_t c = 0; c < nc; c++) {
                    span[c] = fmaxf(-clo[c], chi[c]);
                    top = fmaxf(top, span[c]);
                }
                double med = median(span, nc);
                if (med > 0 && top > 100 * med)
                    nnz_report_warn(rep, "a channel's range is %.0fx the median channel's: one "
                                    "step per tensor will flatten the small channels; use "
                                    "granularity=channel (the default)", top / med);
            }
            free(clo);
            free(chi);
            free(span);
        }
    }
    free(lo);
    free(hi);
    return 0;
}
