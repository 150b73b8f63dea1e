/* quantize.c - the quantize pass: options, which tensors, dispatch to the
 * modes, and the checks every mode shares (docs/passes/quantize.md). */
#include "quantize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static const char options[] =
    "bits=2..16, scheme=sym|asym, granularity=channel|tensor, max-rel-error=X, "
    "rounding=nearest|rate, rate-lambda=X, kmeans, iters=N, fp16, bf16";

extern const nnz_pass nnz_pass_quantize;

static int parse(const nnz_kv *kv, size_t n, void **out, nnz_error *e)
{
    quant_opts *o = nnz_calloc(1, sizeof *o, e);
    if (!o)
        return -1;
    o->bits = 8;
    o->rate_lambda = 0.1;
    o->kmeans_iters = 100;
    int modes = 0;
    for (size_t i = 0; i < n; i++) {
        const nnz_kv *k = &kv[i];
        long v;
        int rc = 0;
        if (strcmp(k->key, "bits") == 0) {
            rc = nnz_opt_int("quantize", k, 2, 16, &v, e);
            o->bits = (int)v;
            o->bits_given = 1;
        } else if (strcmp(k->key, "scheme") == 0) {
            rc = nnz_opt_choice("quantize", k, "sym|asym", &o->scheme, e);
        } else if (strcmp(k->key, "granularity") == 0) {
            rc = nnz_opt_choice("quantize", k, "channel|tensor", &o->granularity, e);
        } else if (strcmp(k->key, "max-rel-error") == 0) {
            rc = nnz_opt_double("quantize", k, 1e-7, 0.999, &o->max_rel_error, e);
        } else if (strcmp(k->key, "rounding") == 0) {
            rc = nnz_opt_choice("quantize", k, "nearest|rate", &o->rounding, e);
        } else if (strcmp(k->key, "rate-lambda") == 0) {
            rc = nnz_opt_double("quantize", k, 0, 10, &o->rate_lambda, e);
        } else if (strcmp(k->key, "iters") == 0) {
            rc = nnz_opt_int("quantize", k, 1, 1000, &v, e);
            o->kmeans_iters = (int)v;
        } else if (!k->value && strcmp(k->key, "kmeans") == 0) {
            o->mode = Q_KMEANS;
            modes++;
        } else if (!k->value && strcmp(k->key, "fp16") == 0) {
            o->mode = Q_FP16;
            modes++;
        } else if (!k->value && strcmp(k->key, "bf16") == 0) {
            o->mode = Q_BF16;
            modes++;
        } else {
            rc = nnz_opt_unknown(&nnz_pass_quantize, k, e);
        }
        if (rc != 0) {
            free(o);
            return -1;
        }
    }
    const char *bad = NULL;
    if (modes > 1)
        bad = "choose one of kmeans, fp16, bf16";
    else if ((o->mode == Q_FP16 || o->mode == Q_BF16) && o->bits_given)
        bad = "fp16 and bf16 have 16 bits; drop bits=";
    else if (o->mode != Q_UNIFORM && o->max_rel_error > 0)
        bad = "max-rel-error chooses uniform steps; it does not combine with kmeans, fp16 or bf16";
    else if (o->mode != Q_UNIFORM && o->rounding == Q_RATE)
        bad = "rounding=rate is for uniform steps";
    else if (o->mode == Q_KMEANS && o->bits > 12)
        bad = "kmeans takes bits=2..12 (at most 4096 centroids)";
    if (bad) {
        free(o);
        return nnz_fail(e, NNZ_EXIT_USAGE, "quantize: %s", bad);
    }
    if (o->max_rel_error > 0 && !o->bits_given)
        o->bits = 16; /* the target decides; 16 bits is the ceiling */
    *out = o;
    return 0;
}

static int run(nnz_model *m, nnz_tensor *t, nnz_state *st, const void *vo, cJSON *rep,
               nnz_error *e)
{
    (void)m;
    const quant_opts *o = vo;
    if (!nnz_dtype_is_float(t->dtype) || st->kind == NNZ_VAL_INT)
        return nnz_fail(e, NNZ_EXIT_USAGE,
                        "it is %s: already quantized; quantize works on float weights (its "
                        "codes can still go through huffman)", nnz_dtype_name(t->dtype));
    size_t n = nnz_state_nstored(st);
    const float *v = nnz_state_stored(st);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return nnz_fail(e, NNZ_EXIT_INPUT,
                            "value %zu is %s; quantizing needs finite weights (fix the model)", i,
                            isnan(v[i]) ? "NaN" : "infinite");
    cJSON *q = cJSON_AddObjectToObject(rep, "quantize");
    int rc;
    switch (o->mode) {
    case Q_KMEANS: rc = quantize_kmeans(t, st, o, q, e); break;
    case Q_FP16:
    case Q_BF16: rc = quantize_half(t, st, o, q, e); break;
    default: rc = quantize_uniform(t, st, o, q, e); break;
    }
    if (rc != 0)
        return -1;
    nnz_state_reconstruct(st);
    nnz_err_stats s;
    nnz_err_compute(st->orig, st->values, st->n, &s);
    cJSON_AddNumberToObject(q, "rel_l2", s.rel_l2);
    cJSON_AddNumberToObject(q, "max_abs", s.max_abs);
    cJSON_AddNumberToObject(q, "sqnr_db", s.sqnr_db);
    return 0;
}

size_t quantize_levels(const uint32_t *codes, size_t n, unsigned bits)
{
    size_t size = (size_t)1 << (bits > 20 ? 20 : bits), levels = 0;
    uint8_t *seen = calloc(size, 1);
    if (!seen)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (codes[i] < size && !seen[codes[i]]) {
            seen[codes[i]] = 1;
            levels++;
        }
    free(seen);
    return levels;
}

const nnz_pass nnz_pass_quantize = {
    .name = "quantize",
    .help = "INT8 / n-bit uniform (per channel by default), error-targeted steps, k-means "
            "weight sharing, FP16/BF16",
    .options = options,
    .parse = parse,
    .run = run,
    .free_opts = free,
};
