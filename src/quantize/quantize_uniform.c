/* quantize_uniform.c - uniform n-bit steps: symmetric or affine, per
 * channel (default) or per tensor, steps chosen from each channel's range
 * or from an error target, rounding to nearest or rate-aware.
 *
 * Codes are unsigned: code = round(w / scale) + zero_point, and the decoder
 * computes scale * (code - zero_point). Symmetric steps use the zero point
 * 2^(bits-1) and codes 1..2^bits-1 (the range -qmax..qmax around it, as
 * symmetric INT8 uses -127..127); affine steps span [min(w,0), max(w,0)]
 * with an integer zero point, so 0.0 is always exactly representable.
 *
 * Error-targeted steps (max-rel-error=X) are the largest steps whose
 * relative L2 error, computed exactly as the decoder will reconstruct, is
 * at most X. One step for the whole tensor by default; with
 * granularity=channel each channel's step is the same fraction of its
 * range. docs/passes/quantize.md has the measurements behind the default. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quantize.h"
#include "scale_grid.h"

/* Error-targeted steps: one per tensor unless granularity= says otherwise
 * (the measurement in docs/passes/quantize.md chose this). */
#define ET_DEFAULT_PER_CHANNEL 0

/* The channels of a tensor: element i is in channel (i / inner) % nchan. */
typedef struct layout {
    size_t nchan, inner;
    int axis;
} layout;

static layout channels(const nnz_tensor *t, const nnz_state *st, int per_channel)
{
    size_t n = nnz_state_nstored(st);
    layout L = { 1, n ? n : 1, -1 };
    if (!per_channel || st->hashed)
        return L;
    int a = nnz_tensor_channel_axis(t);
    if (a < 0 || a >= t->ndims || t->dims[a] <= 1)
        return L;
    size_t in = 1;
    for (int d = a + 1; d < t->ndims; d++)
        in *= (size_t)t->dims[d];
    L.nchan = (size_t)t->dims[a];
    L.inner = in ? in : 1;
    L.axis = a;
    return L;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static double median(const float *v, size_t n)
{
    float *c = n ? malloc(n * sizeof *c) : NULL;
    if (!c)
        return 0;
    memcpy(c, v, n * sizeof *c);
    qsort(c, n, sizeof *c, cmp_float);
    double m = c[n / 2];
    free(c);
    return m;
}

/* Round to the nearest integer, ties to even (the default rounding mode),
 * without a libm call: adding and taking away 1.5 * 2^23 leaves no bits
 * below the units. Larger magnitudes are integers already, or take rintf. */
static inline float round_even(float x)
{
    if (fabsf(x) < 0x1p22f) /* IEEE arithmetic: the compiler keeps both steps */
        return (x + 0x1.8p23f) - 0x1.8p23f;
    return rintf(x);
}

/* Walk the elements in runs of one channel: for (RUN) { c, a, b }. */
#define FOR_RUNS(L, n, c, a, b)                                                               \
    for (size_t a = 0, b, c; a < (n) && (c = (a / (L).inner) % (L).nchan,                     \
                                         b = a + (L).inner - a % (L).inner, b = b < (n) ? b : (n), 1); \
         a = b)

/* Per-channel min and max of the values, each range widened to hold 0. */
static void ranges(const float *v, size_t n, layout L, float *lo, float *hi)
{
    for (size_t c = 0; c < L.nchan; c++)
        lo[c] = hi[c] = 0;
    FOR_RUNS(L, n, c, a, b) {
        float l = lo[c], h = hi[c];
        for (size_t i = a; i < b; i++) {
            l = v[i] < l ? v[i] : l;
            h = v[i] > h ? v[i] : h;
        }
        lo[c] = l;
        hi[c] = h;
    }
}

/* Squared error of symmetric steps scale[c] (no clamping: the search never
 * lets a step get so small that a code would need clamping), computed the
 * way the decoder reconstructs: scale * (float)q. */
static double sq_error(const float *v, size_t n, layout L, const float *scale)
{
    double err = 0;
    FOR_RUNS(L, n, c, a, b) {
        float s = scale[c];
        double part = 0;
        for (size_t i = a; i < b; i++) {
            float q = round_even(v[i] / s);
            double d = (double)v[i] - (double)(s * q);
            part += d * d;
        }
        err += part;
    }
    return err;
}

/* Per-channel steps onto the log grid that stores them (scale_grid.h). An
 * all-zero channel's step is any (its codes are all the zero point), and
 * so, nearly, is that of a channel whose largest magnitude is below 2^-24
 * of the tensor's (under float32 rounding of the largest weights: it
 * decodes to zeros): it takes the smallest other step, so it does not
 * stretch the grid's window, which must hold every other channel's step
 * or the tensor keeps float32 steps. */
static void snap_steps(float *scale, const float *amax, size_t nchan)
{
    float low = 0, top = 0;
    for (size_t c = 0; c < nchan; c++)
        top = amax[c] > top ? amax[c] : top;
    float live = top * 0x1p-24f;
    for (size_t c = 0; c < nchan; c++)
        if (amax[c] > live && (low == 0 || scale[c] < low))
            low = scale[c];
    for (size_t c = 0; c < nchan && low > 0; c++)
        if (!(amax[c] > live))
            scale[c] = low;
    nnz_scale_grid_snap(scale, nchan);
}

/* The steps for search parameter p: one step p, or p times each channel's
 * largest magnitude (1 for an all-zero channel: it stays 0 whatever the step). */
static void steps_for(double p, layout L, const float *amax, int relative, float *scale)
{
    for (size_t c = 0; c < L.nchan; c++) {
        double s = relative ? p * amax[c] : p;
        scale[c] = s > 0 && (float)s > 0 && isfinite((float)s) ? (float)s : 1.0f;
    }
    if (relative)
        snap_steps(scale, amax, L.nchan); /* the error is measured on the stored steps */
}

/* Error-targeted steps: the largest p in [p_min, ...) whose squared error
 * is within `budget`. Returns 0 when even p_min misses it (p = p_min). */
static int search_steps(const float *v, size_t n, layout L, const float *amax, int relative,
                        double p_min, double guess, double budget, float *scale, int *evals)
{
    *evals = 1;
    steps_for(p_min, L, amax, relative, scale);
    if (sq_error(v, n, L, scale) > budget)
        return 0;
    double fine = p_min, coarse = 0; /* coarse 0: no failing step seen yet */
    double g = guess > p_min ? guess : p_min * 2;
    /* bracket: double or halve from the high-rate guess */
    for (int k = 0; k < 64 && (coarse == 0 || coarse / fine > 2.0001); k++) {
        steps_for(g, L, amax, relative, scale);
        ++*evals;
        if (sq_error(v, n, L, scale) <= budget) {
            fine = g;
            if (coarse != 0)
                break;
            g *= 2;
        } else {
            coarse = g;
            if (g / 2 <= fine)
                break;
            g /= 2;
        }
    }
    if (coarse == 0)
        coarse = fine * 2;
    /* bisect (geometrically) to 0.1% */
    while (coarse / fine > 1.001 && *evals < 64) {
        double mid = sqrt(fine * coarse);
        steps_for(mid, L, amax, relative, scale);
        ++*evals;
        if (sq_error(v, n, L, scale) <= budget)
            fine = mid;
        else
            coarse = mid;
    }
    steps_for(fine, L, amax, relative, scale);
    return 1;
}

/* Round every value to its nearest code (clamped to [mincode, maxcode]),
 * without touching the values (rate-aware rounding reads them next). */
static void nearest_codes(const float *v, size_t n, layout L, const float *scale,
                          const uint32_t *zp, uint32_t mincode, uint32_t maxcode, uint32_t *codes)
{
    FOR_RUNS(L, n, c, a, b) {
        float s = scale[c], z = (float)zp[c], lo = (float)mincode, hi = (float)maxcode;
        for (size_t i = a; i < b; i++) {
            float q = round_even(v[i] / s) + z;
            q = q < lo ? lo : q > hi ? hi : q;
            codes[i] = (uint32_t)q;
        }
    }
}

/* The values become what the decoder gives for their codes (rounding them
 * to the nearest code first when `round`), in one pass that also sums the
 * error against the values as they were and counts the clipped ones
 * (further than half a step from their value). */
static void assign(float *v, size_t n, layout L, const float *scale, const uint32_t *zp,
                   uint32_t mincode, uint32_t maxcode, int round, uint32_t *codes,
                   nnz_err_stats *err, size_t *clipped)
{
    double ref = 0, sq = 0, mx = 0;
    size_t clip = 0;
    FOR_RUNS(L, n, c, a, b) {
        float s = scale[c], z = (float)zp[c], lo = (float)mincode, hi = (float)maxcode;
        double half = 0.5 * s * (1 + 1e-3);
        for (size_t i = a; i < b; i++) {
            float w = v[i], q;
            if (round) {
                q = round_even(w / s) + z;
                q = q < lo ? lo : q > hi ? hi : q;
                codes[i] = (uint32_t)q;
            } else {
                q = (float)codes[i];
            }
            float dec = s * (q - z); /* exact integers, one rounding: the decoder's */
            v[i] = dec;
            double d = (double)w - dec;
            ref += (double)w * w;
            sq += d * d;
            mx = fabs(d) > mx ? fabs(d) : mx;
            /* float rounding adds up to 2^-23 of the value at 16 bits */
            clip += fabs(d) > half + fabs((double)w) * 0x1p-22;
        }
    }
    err->sum_sq_ref = ref;
    err->sum_sq_err = sq;
    err->max_abs = mx;
    *clipped = clip;
}

/* Rate-aware rounding: choose the lower or upper neighbouring level by
 * squared error (in steps^2) + lambda * bits, where bits = -log2 of the
 * level's frequency (one table for the tensor, as Huffman will use); two
 * passes, each using the previous pass's counts. Exact zeros stay. */
static void rate_aware(const float *v, size_t n, layout L, const float *scale, const uint32_t *zp,
                       uint32_t mincode, uint32_t maxcode, double lambda, uint32_t *codes)
{
    size_t size = (size_t)maxcode + 1;
    uint64_t *hist = calloc(size, sizeof *hist);
    double *cost = calloc(size, sizeof *cost);
    if (!hist || !cost || maxcode <= mincode) {
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
        FOR_RUNS(L, n, c, a, b) {
            for (size_t i = a; i < b; i++) {
                if (v[i] == 0)
                    continue;
                double x = (double)v[i] / scale[c] + zp[c];
                double f = floor(x);
                if (f < mincode)
                    f = mincode;
                if (f >= maxcode)
                    f = maxcode - 1;
                uint32_t qf = (uint32_t)f, qc = qf + 1;
                double jf = (x - qf) * (x - qf) + lambda * cost[qf];
                double jc = (qc - x) * (qc - x) + lambda * cost[qc];
                codes[i] = jf <= jc ? qf : qc;
            }
        }
    }
    free(hist);
    free(cost);
}

int quantize_uniform(const nnz_tensor *t, nnz_state *st, const quant_opts *o, cJSON *rep,
                     nnz_err_stats *err, nnz_error *e)
{
    size_t n = nnz_state_nstored(st);
    float *v = nnz_state_stored(st);
    int targeted = o->max_rel_error > 0;
    int per_channel = targeted ? (o->granularity_given ? o->granularity == Q_CHANNEL
                                                       : ET_DEFAULT_PER_CHANNEL)
                               : o->granularity == Q_CHANNEL;
    int scheme = targeted ? Q_SYM : o->scheme;
    layout nat = channels(t, st, 1);          /* the consuming op's channels */
    layout L = per_channel ? nat : channels(t, st, 0);
    int bits = o->bits;

    free(st->codes); /* a half tensor arrives with its halves as codes */
    st->codes = NULL;
    float *lo = nnz_malloc(nat.nchan * sizeof *lo, e), *hi = nnz_malloc(nat.nchan * sizeof *hi, e);
    float *amax = nnz_malloc(nat.nchan * sizeof *amax, e);
    st->scale = nnz_malloc(L.nchan * sizeof *st->scale, e);
    st->zero_point = nnz_malloc(L.nchan * sizeof *st->zero_point, e);
    st->codes = nnz_malloc((n ? n : 1) * sizeof *st->codes, e);
    if (!lo || !hi || !amax || !st->scale || !st->zero_point || !st->codes) {
        free(lo);
        free(hi);
        free(amax);
        return -1;
    }
    /* ranges per natural channel; per tensor they fold into one */
    ranges(v, n, nat, lo, hi);
    for (size_t c = 0; c < nat.nchan; c++)
        amax[c] = fmaxf(-lo[c], hi[c]);
    if (L.nchan == 1)
        for (size_t c = 1; c < nat.nchan; c++) {
            lo[0] = fminf(lo[0], lo[c]);
            hi[0] = fmaxf(hi[0], hi[c]);
            amax[0] = fmaxf(amax[0], amax[c]);
        }

    int target_met = 1, evals = 0;
    if (targeted) {
        double energy = 0, weighted = 0; /* sum w^2; sum over channels n_c amax_c^2 */
        for (size_t i = 0; i < n; i++)
            energy += (double)v[i] * v[i];
        double budget = o->max_rel_error * o->max_rel_error * energy;
        double qmax = (double)((1u << (bits - 1)) - 1), p_min, guess;
        if (per_channel && L.nchan > 1) {
            FOR_RUNS(L, n, c, a, b)
                weighted += (double)(b - a) * amax[c] * amax[c];
            p_min = 1.0 / qmax;
            guess = weighted > 0 ? sqrt(12 * budget / weighted) : p_min;
        } else {
            p_min = amax[0] / qmax;
            guess = sqrt(12 * budget / (double)(n ? n : 1));
        }
        if (energy == 0 || p_min == 0) {
            for (size_t c = 0; c < L.nchan; c++)
                st->scale[c] = 1.0f;
        } else {
            target_met = search_steps(v, n, L, amax, per_channel && L.nchan > 1, p_min, guess,
                                      budget, st->scale, &evals);
        }
        /* the fewest bits that hold every channel's largest code */
        double top = 0;
        for (size_t c = 0; c < L.nchan; c++)
            top = fmax(top, round_even(amax[c] / st->scale[c])); /* as the codes will */
        int need = 2;
        while (need < bits && (double)((1u << (need - 1)) - 1) < top)
            need++;
        bits = need;
        if (!target_met && !o->quiet_target)
            nnz_report_warn(rep, "max-rel-error %g needs more than %d bits here; got %d-bit "
                            "steps with a larger error (see rel_l2); allow more with bits=",
                            o->max_rel_error, o->bits, o->bits);
        for (size_t c = 0; c < L.nchan; c++)
            st->zero_point[c] = 1u << (bits - 1);
    } else {
        uint32_t span_codes = (1u << bits) - 1; /* steps across the range */
        uint32_t qmax = (1u << (bits - 1)) - 1;
        for (size_t c = 0; c < L.nchan; c++) {
            if (scheme == Q_SYM) {
                st->scale[c] = amax[c] > 0 ? amax[c] / (float)qmax : 1.0f;
                st->zero_point[c] = 1u << (bits - 1);
            } else {
                float span = hi[c] - lo[c];
                st->scale[c] = span > 0 ? span / (float)span_codes : 1.0f;
                long zp = lroundf(-lo[c] / st->scale[c]);
                st->zero_point[c] =
                    (uint32_t)(zp < 0 ? 0 : zp > (long)span_codes ? (long)span_codes : zp);
            }
            if (!(st->scale[c] > 0) || !isfinite(st->scale[c]))
                st->scale[c] = 1.0f; /* a range of denormals: steps of 1 make it 0 */
        }
        /* per-channel steps go up onto the log grid that stores them in a
         * byte each (scale_grid.h): up, so no code clips; the affine zero
         * points follow the steps they go with */
        if (L.nchan > 1)
            snap_steps(st->scale, amax, L.nchan);
        for (size_t c = 0; c < L.nchan && scheme != Q_SYM && L.nchan > 1; c++) {
            long zp = lroundf(-lo[c] / st->scale[c]);
            st->zero_point[c] =
                (uint32_t)(zp < 0 ? 0 : zp > (long)span_codes ? (long)span_codes : zp);
        }
    }
    st->kind = NNZ_VAL_AFFINE;
    st->bits = bits;
    st->nchan = L.nchan;
    st->inner = L.inner;
    st->axis = L.axis;
    uint32_t maxcode = (1u << bits) - 1, mincode = scheme == Q_SYM ? 1 : 0;
    size_t clipped = 0, levels;
    double h_nearest = 0, entropy;
    int gptq = 0;
    if (o->rounding == Q_GPTQ && !st->hashed) {
        gptq = quantize_gptq_tensor(quant_layers_of(o), t->name, v, n, st->scale, st->zero_point,
                                    L.nchan, L.inner, mincode, maxcode, st->pruned, st->codes, e);
        if (gptq < 0) {
            free(lo);
            free(hi);
            free(amax);
            return -1;
        }
    }
    if (gptq) {
        assign(v, n, L, st->scale, st->zero_point, mincode, maxcode, 0, st->codes, err,
               &clipped);
        clipped = 0; /* gptq moves values past the nearest level on purpose */
    } else if (o->rounding == Q_RATE) {
        nearest_codes(v, n, L, st->scale, st->zero_point, mincode, maxcode, st->codes);
        quantize_code_stats(st->codes, n, maxcode, &levels, &h_nearest);
        rate_aware(v, n, L, st->scale, st->zero_point, mincode, maxcode, o->rate_lambda,
                   st->codes);
        assign(v, n, L, st->scale, st->zero_point, mincode, maxcode, 0, st->codes, err,
               &clipped);
        clipped = 0; /* rate-aware rounding moves values up to a step on purpose */
    } else {
        assign(v, n, L, st->scale, st->zero_point, mincode, maxcode, 1, st->codes, err,
               &clipped);
    }
    quantize_code_stats(st->codes, n, maxcode, &levels, &entropy);

    cJSON_AddStringToObject(rep, "mode", targeted ? "error-targeted" : "uniform");
    cJSON_AddNumberToObject(rep, "bits", bits);
    cJSON_AddStringToObject(rep, "scheme", scheme == Q_SYM ? "sym" : "asym");
    cJSON_AddStringToObject(rep, "granularity", L.nchan > 1 ? "channel" : "tensor");
    cJSON_AddNumberToObject(rep, "axis", L.axis);
    if (per_channel && L.axis < 0 && t->axis_note) /* weights.c could not map it */
        cJSON_AddStringToObject(rep, "axis_note", t->axis_note);
    cJSON_AddNumberToObject(rep, "channels", (double)L.nchan);
    cJSON_AddNumberToObject(rep, "levels", (double)levels);
    double smin = st->scale[0], smax = st->scale[0];
    for (size_t c = 1; c < L.nchan; c++) {
        smin = fmin(smin, st->scale[c]);
        smax = fmax(smax, st->scale[c]);
    }
    if (L.nchan == 1)
        cJSON_AddNumberToObject(rep, "step", st->scale[0]);
    cJSON_AddNumberToObject(rep, "step_min", smin);
    cJSON_AddNumberToObject(rep, "step_median", median(st->scale, L.nchan));
    cJSON_AddNumberToObject(rep, "step_max", smax);
    cJSON_AddNumberToObject(rep, "entropy_bits", entropy);
    cJSON_AddNumberToObject(rep, "clipped", (double)clipped);
    if (targeted) {
        cJSON_AddNumberToObject(rep, "target_rel_l2", o->max_rel_error);
        cJSON_AddBoolToObject(rep, "target_met", target_met);
        cJSON_AddNumberToObject(rep, "search_evaluations", evals);
    }
    if (o->rounding == Q_GPTQ)
        cJSON_AddStringToObject(rep, "rounding", gptq ? "gptq" : "nearest (no input statistics)");
    if (o->rounding == Q_RATE) {
        cJSON_AddStringToObject(rep, "rounding", "rate");
        cJSON_AddNumberToObject(rep, "rate_lambda", o->rate_lambda);
        cJSON_AddNumberToObject(rep, "entropy_bits_nearest", h_nearest);
    }

    /* warnings that say what to do */
    if (clipped)
        nnz_report_warn(rep, "%zu weights were clipped to the range of %d-bit codes; use "
                        "more bits or scheme=sym", clipped, bits);
    if (L.nchan == 1 && nat.nchan > 1 && !targeted && bits <= 4)
        nnz_report_warn(rep, "%d-bit steps per tensor: small channels will round to zero; "
                        "use granularity=channel (the default)", bits);
    if (L.nchan == 1 && nat.nchan > 1) {
        double med = median(amax, nat.nchan), top = 0;
        for (size_t c = 0; c < nat.nchan; c++)
            top = fmax(top, amax[c]);
        if (med > 0 && top > 100 * med)
            nnz_report_warn(rep, "channel ranges differ %.0fx (largest vs median): one step for "
                            "the tensor flattens the small channels; use granularity=channel%s",
                            top / med, targeted ? "" : " (the default)");
    }
    free(lo);
    free(hi);
    free(amax);
    return 0;
}
