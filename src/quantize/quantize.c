/* quantize.c - the quantize pass: options, which tensors, dispatch to the
 * modes, and the checks every mode shares (docs/passes/quantize.md). */
#include "quantize.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "infer_calib.h"
#include "metrics.h"

static const char options[] =
    "bits=2..16, scheme=sym|asym, granularity=channel|tensor, max-rel-error=X, "
    "rounding=nearest|rate|gptq, rate-lambda=X, bias-correct, max-output-error=X, error=auto|pooled|per-input, "
    "auto-cost=F, sens-work=MACS, kmeans, iters=N, fp16, bf16";

extern const nnz_pass nnz_pass_quantize;

static int parse(const nnz_kv *kv, size_t n, void **out, nnz_error *e)
{
    quant_opts *o = nnz_calloc(1, sizeof *o, e);
    if (!o)
        return -1;
    o->bits = 8;
    o->rate_lambda = 0.1;
    o->kmeans_iters = 100;
    o->sens_work = QUANT_SENS_WORK;
    o->auto_cost = QUANT_AUTO_COST;
    int modes = 0, rate_lambda_given = 0, error_given = 0, work_given = 0, cost_given = 0;
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
            o->scheme_given = 1;
        } else if (strcmp(k->key, "granularity") == 0) {
            rc = nnz_opt_choice("quantize", k, "channel|tensor", &o->granularity, e);
            o->granularity_given = 1;
        } else if (strcmp(k->key, "max-rel-error") == 0) {
            rc = nnz_opt_double("quantize", k, 1e-7, 0.999, &o->max_rel_error, e);
        } else if (strcmp(k->key, "max-output-error") == 0) {
            rc = nnz_opt_double("quantize", k, 1e-6, 1, &o->max_output_error, e);
        } else if (strcmp(k->key, "error") == 0) {
            rc = nnz_opt_choice("quantize", k, "auto|pooled|per-input", &o->error_mode, e);
            error_given = 1;
        } else if (strcmp(k->key, "auto-cost") == 0) {
            rc = nnz_opt_double("quantize", k, 1, 1e6, &o->auto_cost, e);
            cost_given = 1;
        } else if (strcmp(k->key, "sens-work") == 0) {
            rc = nnz_opt_double("quantize", k, 0, 1e18, &o->sens_work, e);
            work_given = 1;
        } else if (strcmp(k->key, "rounding") == 0) {
            rc = nnz_opt_choice("quantize", k, "nearest|rate|gptq", &o->rounding, e);
        } else if (!k->value && strcmp(k->key, "bias-correct") == 0) {
            o->bias_correct = 1;
        } else if (strcmp(k->key, "rate-lambda") == 0) {
            rc = nnz_opt_double("quantize", k, 0, 10, &o->rate_lambda, e);
            rate_lambda_given = 1;
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
    else if (o->mode != Q_UNIFORM && (o->scheme_given || o->granularity_given))
        bad = "scheme= and granularity= shape uniform steps; kmeans, fp16 and bf16 take neither";
    else if (o->mode != Q_UNIFORM && o->max_rel_error > 0)
        bad = "max-rel-error chooses uniform steps; it does not combine with kmeans, fp16 or bf16";
    else if (o->mode != Q_UNIFORM && (o->rounding == Q_RATE || rate_lambda_given))
        bad = "rounding=rate is for uniform steps";
    else if (o->mode != Q_UNIFORM && o->rounding == Q_GPTQ)
        bad = "rounding=gptq rounds to uniform steps; it does not combine with kmeans, fp16 or "
              "bf16";
    else if (o->mode != Q_UNIFORM && o->bias_correct)
        bad = "bias-correct corrects uniform steps; it does not combine with kmeans, fp16 or "
              "bf16";
    else if (o->mode == Q_UNIFORM && rate_lambda_given && o->rounding != Q_RATE)
        bad = "rate-lambda= tunes rounding=rate; add rounding=rate";
    else if (o->mode != Q_KMEANS && o->kmeans_iters != 100)
        bad = "iters= is for kmeans";
    else if (o->max_rel_error > 0 && o->scheme == Q_ASYM)
        bad = "max-rel-error chooses symmetric steps; drop scheme=asym";
    else if (error_given && !(o->max_output_error > 0))
        bad = "error= says how max-output-error is measured; add max-output-error=X";
    else if (cost_given && (!(o->max_output_error > 0) || o->error_mode != Q_ERR_AUTO))
        bad = "auto-cost= bounds what error=auto pays to bind each input; use it with "
              "max-output-error=X and error=auto";
    else if (work_given && !(o->max_output_error > 0))
        bad = "sens-work= caps the work of max-output-error's sensitivities; add "
              "max-output-error=X";
    else if (o->max_output_error > 0 && o->mode != Q_UNIFORM)
        bad = "max-output-error chooses uniform steps per tensor; it does not combine with "
              "kmeans, fp16 or bf16";
    else if (o->max_output_error > 0 && (o->bits_given || o->max_rel_error > 0))
        bad = "max-output-error chooses each tensor's step and bits; drop bits= and "
              "max-rel-error=";
    else if (o->max_output_error > 0 && (o->scheme == Q_ASYM || o->rounding == Q_RATE))
        bad = "max-output-error chooses symmetric steps rounded to nearest or by gptq; drop "
              "scheme=asym and rounding=rate";
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

/* ---- which tensors ---------------------------------------------------------- */

static int op_is(const nnz_tensor *t, const char *const *ops, size_t n)
{
    if (!t->consumer || !t->consumer->op_type)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(t->consumer->op_type, ops[i]) == 0)
            return 1;
    return 0;
}

/* Is t part of a model that was quantized before nnzip saw it: integer
 * codes (behind DequantizeLinear, or fed to ConvInteger, QLinearConv...),
 * or the float scale of such an op? */
static const char *already_quantized(const nnz_tensor *t)
{
    static const char *const qops[] = { "DequantizeLinear", "QuantizeLinear", "ConvInteger",
                                        "MatMulInteger", "QLinearConv", "QLinearMatMul",
                                        "DynamicQuantizeLinear" };
    if (op_is(t, qops, sizeof qops / sizeof qops[0]))
        return t->consumer->op_type;
    if (!nnz_dtype_is_float(t->dtype))
        return "integer";
    return NULL;
}

/* With an output budget the allocation decides for every tensor, so the
 * pass offers it the small ones too, and the float parameters of the ops
 * whose output moves smoothly with them (biases, norm parameters, the
 * constants of arithmetic): those are a large part of a small model's bytes,
 * and a tensor whose bits are not worth their error stays float. */
static int selects(const nnz_tensor *t, const void *vo)
{
    const quant_opts *o = vo;
    if (nnz_tensor_is_weight(t))
        return 1;
    if (!(o->max_output_error > 0) || !nnz_dtype_is_float(t->dtype) || !t->consumer ||
        !t->consumer->op_type)
        return 0;
    static const struct { const char *op; unsigned slots; } params[] = {
        { "Conv", 1u << 2 }, { "ConvTranspose", 1u << 2 }, { "Gemm", 1u << 2 },
        { "BatchNormalization", 15u << 1 }, { "Add", 3u }, { "Sub", 3u }, { "Mul", 3u },
        { "Div", 1u }, { "PRelu", 1u << 1 }, { "LayerNormalization", 3u << 1 },
        { "InstanceNormalization", 3u << 1 }, { "LSTM", 1u << 3 }, { "GRU", 1u << 3 },
        { "RNN", 1u << 3 },
    };
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
        if (strcmp(t->consumer->op_type, params[i].op) == 0)
            return t->consumer_slot >= 0 && t->consumer_slot < 32 &&
                   (params[i].slots >> t->consumer_slot & 1);
    return 0;
}

static size_t floor_for(const void *vo)
{
    const quant_opts *o = vo;
    return o->max_output_error > 0 ? 0 : QUANT_MIN_ELEMENTS;
}

/* `only=` may name any float tensor (a bias, a norm scale), and integer
 * ones too, so that prepare() can say why those are refused. By default
 * the pass takes the float weights of the ops in pass.h, above the floor;
 * integer weights of quantized models are never picked. */
static int may_name(const nnz_tensor *t, const void *opts)
{
    (void)opts;
    return nnz_dtype_is_float(t->dtype) || t->dtype == NNZ_DT_INT8 || t->dtype == NNZ_DT_UINT8;
}

static int prepare(nnz_model *m, void *vo, const uint8_t *selected, cJSON *report,
                   nnz_error *e)
{
    (void)vo;
    size_t already = 0;
    for (size_t i = 0; i < m->ntensors; i++) {
        const nnz_tensor *t = &m->tensors[i];
        const char *why = already_quantized(t);
        if (selected[i] && why)
            return nnz_fail(e, NNZ_EXIT_USAGE,
                            "tensor '%s' (%s%s%s) is already quantized; quantizing it again "
                            "would quantize the codes or the scales, so it is left alone: "
                            "drop it from only= (its integer codes can still go through "
                            "huffman)", t->name, nnz_dtype_name(t->dtype),
                            t->consumer ? ", read by " : "",
                            t->consumer && t->consumer->op_type ? t->consumer->op_type : "");
        already += nnz_tensor_is_codes(t);
    }
    if (already > 0) {
        char buf[400];
        snprintf(buf, sizeof buf,
                 "quantize: the model is already quantized: %zu int8/uint8 weights behind "
                 "DequantizeLinear, integer ops or Cast+Mul are kept as they are (never "
                 "quantized twice)", already);
        cJSON_AddItemToArray(cJSON_GetObjectItem(report, "warnings"), cJSON_CreateString(buf));
    }
    return 0;
}

static double nnz_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int wants_data(const quant_opts *o)
{
    return o->rounding == Q_GPTQ || o->bias_correct;
}

static int correct_biases(nnz_model *m, const nnz_stage *stage, quant_opts *o, cJSON *report,
                          nnz_error *e);

static int prepare_stage(nnz_model *m, const nnz_stage *stage, cJSON *report, nnz_error *e)
{
    quant_opts *o = stage->opts;
    if (prepare(m, o, stage->selected, report, e) != 0)
        return -1;
    int data = wants_data(o), budget = o->max_output_error > 0;
    for (size_t k = 0; k < stage->nov; k++)
        data |= stage->ov[k].opts && wants_data(stage->ov[k].opts);
    if (!budget && !data)
        return 0;
    if (budget && stage->nov > 0)
        return nnz_fail(e, NNZ_EXIT_USAGE,
                        "max-output-error chooses every tensor's step itself; per-layer "
                        "overrides do not combine with it (use only= or skip= to choose "
                        "tensors)");
    const nnz_calib *cal = stage->calib;
    if (budget && !cal)
        return nnz_fail(e, NNZ_EXIT_USAGE,
                        "max-output-error=%g measures the model's outputs: give calibration "
                        "inputs (compress --inputs DIR or --input-spec FILE)",
                        o->max_output_error);
    if (data && (!cal || (!cal->inputs && !cal->spec)))
        return nnz_fail(e, NNZ_EXIT_USAGE,
                        "%s works from the layers' inputs: give calibration inputs (compress "
                        "--inputs DIR or --input-spec FILE)",
                        o->rounding == Q_GPTQ ? "rounding=gptq" : "bias-correct");
    quantize_alloc_free(o->alloc);
    o->alloc = NULL;
    quantize_layers_free(o->layers);
    o->layers = NULL;
    nnz_calib_eval *ev;
    if (nnz_calib_eval_open(cal, m, &ev, e) != 0)
        return nnz_wrap(e, "calibration: ");
    ev->per_input = o->error_mode == Q_ERR_PER_INPUT;
    int rc = 0;
    if (data) {
        double t0 = nnz_seconds();
        size_t from = budget ? quantize_budget_unseen(ev) : 0;
        rc = quantize_layers_collect(m, stage->selected, ev, from, 1, &o->layers, report, e);
        if (rc == 0) {
            cJSON *c = cJSON_AddObjectToObject(report, "quantize_calibration");
            cJSON_AddNumberToObject(c, "inputs", (double)(ev->ncal - from));
            cJSON_AddNumberToObject(c, "layers", (double)quantize_layers_count(o->layers, 0));
            cJSON_AddNumberToObject(c, "layers_factored", (double)quantize_layers_count(o->layers, 1));
            cJSON_AddNumberToObject(c, "seconds", nnz_seconds() - t0);
        }
        for (size_t k = 0; rc == 0 && k < stage->nov; k++)
            if (stage->ov[k].opts)
                ((quant_opts *)stage->ov[k].opts)->layers_shared = o->layers;
    }
    if (rc == 0 && budget)
        rc = quantize_budget(m, stage, o, ev, report, e);
    nnz_calib_eval_free(ev);
    if (rc == 0 && data)
        rc = correct_biases(m, stage, o, report, e);
    return rc;
}

static void free_opts(void *vo)
{
    quant_opts *o = vo;
    if (o) {
        quantize_alloc_free(o->alloc);
        quantize_layers_free(o->layers);
    }
    free(o);
}

void quantize_round_to_dtype(const nnz_tensor *t, nnz_state *st)
{
    if ((t->dtype != NNZ_DT_FLOAT16 && t->dtype != NNZ_DT_BFLOAT16) ||
        (st->kind != NNZ_VAL_AFFINE && st->kind != NNZ_VAL_CODEBOOK))
        return;
    /* the runtime decodes to float, then rounds to the tensor's type */
    float *out = nnz_state_stored(st);
    size_t n = nnz_state_nstored(st);
    for (size_t i = 0; i < n; i++)
        out[i] = t->dtype == NNZ_DT_FLOAT16 ? nnz_half_to_float(nnz_float_to_half(out[i]))
                                            : nnz_bf16_to_float(nnz_float_to_bf16(out[i]));
}

/* Quantize one tensor as the stage's options say (the budget's choice
 * included). *kept_float: the budget left it float. */
static int quantize_one(nnz_tensor *t, nnz_state *st, const quant_opts *o, cJSON *rep,
                        int *kept_float, nnz_error *e)
{
    *kept_float = 0;
    quant_opts budgeted;
    if (!nnz_dtype_is_float(t->dtype) || st->kind == NNZ_VAL_INT || st->kind == NNZ_VAL_AFFINE ||
        st->kind == NNZ_VAL_CODEBOOK)
        return nnz_fail(e, NNZ_EXIT_USAGE,
                        "it is %s: already quantized; quantize works on float weights (its "
                        "codes can still go through huffman)", nnz_dtype_name(t->dtype));
    size_t n = nnz_state_nstored(st);
    const float *v = nnz_state_stored(st);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return nnz_fail(e, NNZ_EXIT_INPUT,
                            "value %zu is %s; quantizing needs finite weights (fix the model, "
                            "or skip= this tensor)", i,
                            isnan(v[i]) ? "NaN" : v[i] > 0 ? "+Inf" : "-Inf");
    cJSON *q = cJSON_AddObjectToObject(rep, "quantize");
    if (o->max_output_error > 0) {
        /* the output budget chose this tensor's step in prepare, measured on
         * the weights as loaded */
        const quant_choice *c = quantize_alloc_find(o->alloc, t->name);
        if (st->pruned || st->hashed)
            return nnz_fail(e, NNZ_EXIT_USAGE,
                            "max-output-error measures quantization of the weights as loaded; "
                            "an earlier stage changed them (prune or hashnet): put quantize "
                            "with max-output-error first, or use bits=/max-rel-error= after "
                            "them");
        if (!c && o->corrected_init && nnz_strmap_get(&o->corrected, t->name, &(size_t){ 0 })) {
            *kept_float = 1;
            return 0; /* a corrected bias the budget kept float */
        }
        if (!c)
            return nnz_fail(e, NNZ_EXIT_INTERNAL, "the output budget made no choice for it");
        cJSON *b = cJSON_AddObjectToObject(q, "budget");
        cJSON_AddStringToObject(b, "choice", c->keep_float ? "float" : "quantized");
        if (c->measured && isfinite(c->sensitivity))
            cJSON_AddNumberToObject(b, "sensitivity", c->sensitivity);
        else
            cJSON_AddNullToObject(b, "sensitivity");
        cJSON_AddNumberToObject(b, "bits_estimate", c->bits_estimate);
        if (c->keep_float) {
            *kept_float = 1;
            return 0; /* its float values are stored as they are */
        }
        budgeted = *o;
        budgeted.max_rel_error = c->rel_target;
        budgeted.bits = 16;
        budgeted.granularity = c->granularity;
        budgeted.granularity_given = 1;
        budgeted.quiet_target = 1;
        cJSON_AddNumberToObject(b, "weight_rel_l2_target", c->rel_target);
        o = &budgeted;
    }
    nnz_err_stats s = { 0 };
    int rc;
    switch (o->mode) {
    case Q_KMEANS: rc = quantize_kmeans(t, st, o, q, &s, e); break;
    case Q_FP16:
    case Q_BF16: rc = quantize_half(t, st, o, q, &s, e); break;
    default: rc = quantize_uniform(t, st, o, q, &s, e); break;
    }
    /* the modes warn into their object; warnings belong to the tensor,
     * where the CLI collects them */
    cJSON *w = cJSON_DetachItemFromObject(q, "warnings"), *x;
    cJSON_ArrayForEach(x, w)
        nnz_report_warn(rep, "%s", x->valuestring);
    cJSON_Delete(w);
    if (rc != 0)
        return -1;
    if ((t->dtype == NNZ_DT_FLOAT16 || t->dtype == NNZ_DT_BFLOAT16) &&
        (st->kind == NNZ_VAL_AFFINE || st->kind == NNZ_VAL_CODEBOOK)) {
        quantize_round_to_dtype(t, st);
        if (!st->hashed)
            nnz_err_compute(st->orig, st->values, st->n, &s);
    }
    if (st->hashed) /* the modes set the stored values; spread the buckets */
        nnz_state_reconstruct(st);
    /* the error this pass made (against the values it was given: a pruned
     * tensor's pruned values); the tensor's own figures compare with the
     * original */
    nnz_err_finish(&s);
    cJSON_AddNumberToObject(q, "rel_l2", s.rel_l2);
    cJSON_AddNumberToObject(q, "max_abs", s.max_abs);
    cJSON_AddNumberToObject(q, "sqnr_db", s.sqnr_db);
    return 0;
}

static int run(nnz_model *m, nnz_tensor *t, nnz_state *st, const void *vo, cJSON *rep,
               nnz_error *e)
{
    (void)m;
    const quant_opts *o = vo;
    int kept;
    if (o->bias_correct && (st->pruned || st->hashed) && quantize_layer_bias(quant_layers_of(o), t->name))
        return nnz_fail(e, NNZ_EXIT_USAGE,
                        "bias-correct corrects for the weights as loaded; an earlier stage "
                        "changed them (prune or hashnet): put quantize first");
    return quantize_one(t, st, o, rep, &kept, e);
}

/* bias-correct: each corrected layer's weights quantized as run() will
 * quantize them, and its bias shifted by the mean output change on the
 * calibration inputs. */
static int correct_biases(nnz_model *m, const nnz_stage *stage, quant_opts *o, cJSON *report,
                          nnz_error *e)
{
    int any = o->bias_correct;
    for (size_t k = 0; k < stage->nov; k++)
        any |= stage->ov[k].opts && ((const quant_opts *)stage->ov[k].opts)->bias_correct;
    if (!any)
        return 0;
    if (!o->corrected_init) {
        if (nnz_strmap_init(&o->corrected, 64, e) != 0)
            return -1;
        o->corrected_init = 1;
    }
    cJSON *cal = cJSON_GetObjectItem(report, "quantize_calibration");
    cJSON *arr = cJSON_AddArrayToObject(cal ? cal : report, "bias_correct");
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < m->ntensors; i++) {
        nnz_tensor *t = &m->tensors[i];
        const quant_opts *to = stage->selected[i] ? nnz_stage_opts_for(stage, t) : NULL;
        const char *bname = to && to->bias_correct ? quantize_layer_bias(o->layers, t->name) : NULL;
        nnz_tensor *b = bname ? nnz_model_find(m, bname) : NULL;
        if (!b)
            continue;
        nnz_state *st = nnz_state_new(m, t, e);
        cJSON *scratch = cJSON_CreateObject();
        float *bv = NULL;
        double *delta = NULL;
        int kept = 0;
        if (!st || !scratch || quantize_one(t, st, to, scratch, &kept, e) != 0) {
            rc = -1;
        } else if (!kept) {
            bv = nnz_tensor_floats(m, b, e);
            delta = nnz_calloc(b->count + 1, sizeof *delta, e);
            if (!bv || !delta || !quantize_bias_delta(o->layers, t->name, st->orig, st->values, delta)) {
                rc = bv && delta ? nnz_fail(e, NNZ_EXIT_INTERNAL, "no statistics") : -1;
            } else {
                double shift = 0, ref = 0;
                for (size_t c = 0; c < b->count; c++) {
                    shift += fabs(delta[c]);
                    ref += fabs((double)bv[c]);
                    bv[c] = (float)((double)bv[c] + delta[c]);
                }
                nnz_tensor_set_data(b, (uint8_t *)bv, b->count * sizeof *bv);
                bv = NULL;
                rc = nnz_strmap_put(&o->corrected, bname, 1, e);
                cJSON *x = cJSON_CreateObject();
                cJSON_AddStringToObject(x, "weight", t->name);
                cJSON_AddStringToObject(x, "bias", b->name);
                cJSON_AddNumberToObject(x, "channels", (double)b->count);
                cJSON_AddNumberToObject(x, "mean_abs_shift", shift / (double)(b->count ? b->count : 1));
                cJSON_AddNumberToObject(x, "mean_abs_bias", ref / (double)(b->count ? b->count : 1));
                cJSON_AddItemToArray(arr, x);
            }
        }
        free(bv);
        free(delta);
        cJSON_Delete(scratch);
        nnz_state_free(st);
        nnz_tensor_release(t);
        if (rc != 0)
            nnz_wrap(e, "tensor '%s': ", t->name);
    }
    return rc;
}

/* ---- helpers the modes share -------------------------------------------------- */

void quantize_code_stats(const uint32_t *codes, size_t n, uint32_t maxcode, size_t *levels,
                         double *entropy_bits)
{
    *levels = 0;
    *entropy_bits = 0;
    uint64_t *hist = calloc((size_t)maxcode + 1, sizeof *hist);
    if (!hist || n == 0) {
        free(hist);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (codes[i] <= maxcode)
            hist[codes[i]]++;
    double h = 0;
    for (size_t q = 0; q <= maxcode; q++)
        if (hist[q]) {
            double p = (double)hist[q] / (double)n;
            h -= p * log2(p);
            ++*levels;
        }
    *entropy_bits = h;
    free(hist);
}

/* The report's summary of max-output-error: what the allocation chose (a
 * line per tensor with -v) and the errors it measured. */
static void report_text(const cJSON *report, int verbose,
                        void (*line)(void *arg, int detail, const char *text), void *arg)
{
    const cJSON *b = cJSON_GetObjectItem(report, "quantize_budget");
    const cJSON *qc = cJSON_GetObjectItem(report, "quantize_calibration");
    const cJSON *x;
    char buf[600];
    if (cJSON_IsObject(qc)) { /* gptq's and bias-correct's input statistics */
        snprintf(buf, sizeof buf, "quantize: input statistics of %.0f layers (%.0f for gptq) "
                 "from %.0f calibration inputs, %.1f s; %d biases corrected",
                 cJSON_GetNumberValue(cJSON_GetObjectItem(qc, "layers")),
                 cJSON_GetNumberValue(cJSON_GetObjectItem(qc, "layers_factored")),
                 cJSON_GetNumberValue(cJSON_GetObjectItem(qc, "inputs")),
                 cJSON_GetNumberValue(cJSON_GetObjectItem(qc, "seconds")),
                 cJSON_GetArraySize(cJSON_GetObjectItem(qc, "bias_correct")));
        line(arg, 0, buf);
    }
    if (!cJSON_IsObject(b))
        return;
    if (verbose)
        cJSON_ArrayForEach(x, cJSON_GetObjectItem(b, "tensors"))
        {
            const cJSON *sens = cJSON_GetObjectItem(x, "sensitivity");
            const char *ch = cJSON_GetStringValue(cJSON_GetObjectItem(x, "choice"));
            const cJSON *mt = cJSON_GetObjectItem(x, "measured_together");
            int set = cJSON_IsNumber(mt) ? mt->valueint : 1;
            snprintf(buf, sizeof buf, "budget %-38s %-9s weight rel_l2 %-9.3g %6.2f bits/w  "
                     "sensitivity %.3g%s",
                     cJSON_GetStringValue(cJSON_GetObjectItem(x, "name")), ch,
                     cJSON_GetNumberValue(cJSON_GetObjectItem(x, "weight_rel_l2_target")) *
                         (strcmp(ch, "float") != 0),
                     cJSON_GetNumberValue(cJSON_GetObjectItem(x, "bits_per_weight_estimate")),
                     cJSON_IsNumber(sens) ? sens->valuedouble : INFINITY,
                     set > 1 ? " (a group of small tensors: its share)" : "");
            line(arg, 1, buf);
        }
    nnz_calib_budget_line(b, "quantize", buf, sizeof buf);
    line(arg, 0, buf);
}

const nnz_pass nnz_pass_quantize = {
    .name = "quantize",
    .help = "INT8 / n-bit uniform (per channel by default), error-targeted steps, k-means "
            "weight sharing, FP16/BF16",
    .options = options,
    .parse = parse,
    .selects = selects,
    .may_name = may_name,
    .min_elements = QUANT_MIN_ELEMENTS,
    .phase = NNZ_PHASE_CODE,
    .consumes = NNZ_DATA_FLOATS,
    .produces = NNZ_DATA_CODES,
    .floor = floor_for,
    .prepare = prepare_stage,
    .report_sections = (const char *const[]){ "quantize_budget", "quantize_calibration", NULL },
    .report_text = report_text,
    .target_options = (const char *const[]){
        "max-rel-error=%g", "bits=2", "bits=3", "bits=4", "bits=5", "bits=6", "bits=7",
        "bits=8", "bits=10", "bits=12", "kmeans,bits=2", "kmeans,bits=3", "kmeans,bits=4",
        "kmeans,bits=5", "kmeans,bits=6", "fp16", NULL },
    .run = run,
    .free_opts = free_opts,
};
