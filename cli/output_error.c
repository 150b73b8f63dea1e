/* output_error.c - how far a compressed model's outputs are from the
 * original's: both run in nnzip's interpreter on the same inputs (a folder,
 * a calibration set, or generated); per output the relative L2 error, the
 * largest absolute difference, the cosine and, for class scores, top-1
 * agreement. Used by `verify --max-output-error` and `sweep --metric
 * output-error` (docs/cli.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_infer.h"
#include "model.h"

typedef struct acc {
    double ref2, err2, dot, test2, max_abs;
    size_t rows, agree, elements, nonfinite;
    int is_float, differs; /* integer outputs: any element differs */
} acc;

static size_t argmax_row(const nnz_itensor *t, size_t off, size_t len)
{
    size_t best = 0;
    double bv = -INFINITY;
    for (size_t k = 0; k < len; k++) {
        double v = nnz_it_get(t, off + k);
        if (v > bv) {
            bv = v;
            best = k;
        }
    }
    return best;
}

static int accumulate(acc *a, const nnz_itensor *r, const nnz_itensor *t, const char *name,
                      nnz_error *e)
{
    if (r->ndims != t->ndims || r->count != t->count ||
        memcmp(r->dims, t->dims, sizeof(int64_t) * (size_t)r->ndims) != 0)
        return nnz_fail(e, NNZ_EXIT_VERIFY, "output '%s' has another shape in the compressed model",
                        name);
    a->is_float = r->dtype == NNZ_DT_FLOAT || r->dtype == NNZ_DT_FLOAT16 ||
                  r->dtype == NNZ_DT_BFLOAT16 || r->dtype == NNZ_DT_DOUBLE;
    a->elements += r->count;
    for (size_t i = 0; i < r->count; i++) {
        double x = nnz_it_get(r, i), y = nnz_it_get(t, i);
        if (!a->is_float) {
            a->differs |= x != y;
            continue;
        }
        if (!isfinite(x) || !isfinite(y)) {
            if (!(x == y || (isnan(x) && isnan(y))))
                a->nonfinite++;
            continue;
        }
        double d = x - y;
        a->ref2 += x * x;
        a->err2 += d * d;
        a->test2 += y * y;
        a->dot += x * y;
        if (fabs(d) > a->max_abs)
            a->max_abs = fabs(d);
    }
    size_t last = r->ndims ? (size_t)r->dims[r->ndims - 1] : 1;
    if (a->is_float && last > 1)
        for (size_t off = 0; off + last <= r->count; off += last) {
            a->rows++;
            a->agree += argmax_row(r, off, last) == argmax_row(t, off, last);
        }
    return 0;
}

static double rel_l2(const acc *a)
{
    if (a->nonfinite)
        return INFINITY;
    if (a->err2 == 0)
        return 0;
    return a->ref2 > 0 ? sqrt(a->err2 / a->ref2) : INFINITY;
}

static cJSON *num(double v)
{
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

/* Run one set of inputs through both. */
static int run_pair(nnz_infer *ref, nnz_infer *test, const cli_infer_args *a, const char *dir,
                    acc *accs, nnz_error *e)
{
    nnz_feed f = { 0 };
    if (cli_infer_feed(a, ref, dir, &f, e) != 0)
        return -1;
    int rc = nnz_feed_apply(ref, &f, e);
    if (rc == 0 && (rc = nnz_infer_run(ref, e)) != 0)
        nnz_wrap(e, "the original model: ");
    if (rc == 0 && (rc = nnz_feed_apply(test, &f, e)) != 0)
        nnz_wrap(e, "the compressed model: ");
    if (rc == 0 && (rc = nnz_infer_run(test, e)) != 0)
        nnz_wrap(e, "the compressed model: ");
    nnz_feed_free(&f);
    for (size_t i = 0; rc == 0 && i < nnz_infer_noutputs(ref); i++)
        rc = accumulate(&accs[i], nnz_infer_output(ref, i), nnz_infer_output(test, i),
                        nnz_infer_output_name(ref, i), e);
    return rc;
}

int cli_output_error(nnz_model *orig, const char *blob_path, const cli_infer_args *a,
                     cJSON **report, double *worst, nnz_error *e)
{
    nnz_model *bm = NULL;
    nnz_infer *ref = NULL, *test = NULL;
    acc *accs = NULL;
    char **sets = NULL;
    size_t nsets = 0;
    *report = NULL;
    *worst = 0;
    int rc = cli_infer_load(blob_path, &bm, e);
    if (rc == 0 && (rc = nnz_infer_open(orig, &a->opts, &ref, e)) != 0)
        nnz_wrap(e, "the original model: ");
    if (rc == 0 && (rc = nnz_infer_open(bm, &a->opts, &test, e)) != 0)
        nnz_wrap(e, "the compressed model: ");
    if (rc == 0 && nnz_infer_noutputs(ref) != nnz_infer_noutputs(test))
        rc = nnz_fail(e, NNZ_EXIT_VERIFY, "the compressed model has %zu outputs, the original %zu",
                      nnz_infer_noutputs(test), nnz_infer_noutputs(ref));
    if (rc == 0 && !(accs = nnz_calloc(nnz_infer_noutputs(ref) + 1, sizeof *accs, e)))
        rc = -1;
    if (rc == 0 && a->inputs)
        rc = nnz_feed_list_sets(a->inputs, &sets, &nsets, e);
    if (rc == 0 && nsets) {
        for (size_t k = 0; k < nsets && rc == 0; k++) {
            char dir[4096];
            snprintf(dir, sizeof dir, "%s/%s", a->inputs, sets[k]);
            if ((rc = run_pair(ref, test, a, dir, accs, e)) != 0)
                nnz_wrap(e, "%s: ", dir);
        }
    } else if (rc == 0)
        rc = run_pair(ref, test, a, a->inputs, accs, e);
    if (rc == 0) {
        cJSON *outs = cJSON_CreateArray();
        for (size_t i = 0; i < nnz_infer_noutputs(ref); i++) {
            const acc *x = &accs[i];
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", nnz_infer_output_name(ref, i));
            double r = x->is_float ? rel_l2(x) : (x->differs ? INFINITY : 0);
            double cosv = x->ref2 > 0 && x->test2 > 0 ? x->dot / sqrt(x->ref2 * x->test2)
                        : (x->ref2 == x->test2 ? 1 : 0);
            if (cosv > 1) cosv = 1;
            if (cosv < -1) cosv = -1;
            cJSON_AddItemToObject(o, "rel_l2", num(r));
            cJSON_AddItemToObject(o, "max_abs", x->is_float ? num(x->nonfinite ? INFINITY : x->max_abs) : cJSON_CreateNull());
            cJSON_AddItemToObject(o, "cosine", x->is_float ? num(x->nonfinite ? NAN : cosv) : cJSON_CreateNull());
            cJSON_AddItemToObject(o, "top1_agreement",
                                  x->rows ? cJSON_CreateNumber((double)x->agree / (double)x->rows)
                                          : cJSON_CreateNull());
            cJSON_AddNumberToObject(o, "elements", (double)x->elements);
            cJSON_AddItemToArray(outs, o);
            if (!(r <= *worst))
                *worst = r;
        }
        *report = cJSON_CreateObject();
        cJSON_AddNumberToObject(*report, "sets", nsets ? (double)nsets : 1);
        cJSON_AddItemToObject(*report, "worst_rel_l2", num(*worst));
        cJSON_AddItemToObject(*report, "outputs", outs);
    }
    for (size_t k = 0; k < nsets; k++)
        free(sets[k]);
    free(sets);
    free(accs);
    nnz_infer_free(test);
    nnz_infer_free(ref);
    nnz_model_free(bm);
    return rc;
}

void cli_output_error_text(const cJSON *report)
{
    const cJSON *o;
    cJSON_ArrayForEach(o, cJSON_GetObjectItem(report, "outputs")) {
        const cJSON *r = cJSON_GetObjectItem(o, "rel_l2"), *m = cJSON_GetObjectItem(o, "max_abs"),
                    *c = cJSON_GetObjectItem(o, "cosine"), *t = cJSON_GetObjectItem(o, "top1_agreement");
        char top[64] = "";
        if (cJSON_IsNumber(t))
            snprintf(top, sizeof top, "  top-1 agreement %.4f", t->valuedouble);
        fprintf(stderr, "  output %-24s rel_l2 %-10.4g max_abs %-10.4g cosine %.6f%s\n",
                cJSON_GetObjectItem(o, "name")->valuestring,
                cJSON_IsNumber(r) ? r->valuedouble : INFINITY,
                cJSON_IsNumber(m) ? m->valuedouble : NAN, cJSON_IsNumber(c) ? c->valuedouble : NAN, top);
    }
}
