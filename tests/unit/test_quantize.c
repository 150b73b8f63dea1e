/* test_quantize.c - the quantize pass against hand-computed cases: scales
 * and zero points, exact zeros, the channel axis of each op, error targets,
 * rate-aware rounding, k-means, half floats, what is refused and why, and
 * every mode decoded back through the runtime. Models are built in memory. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blob.h"
#include "encode.h"
#include "model.h"
#include "nnz.h"
#include "pass.h"
#include "quantize.h"
#include "sort.h"
#include "scale_grid.h"
#include "state.h"
#include "util_blob.h"

/* ---- one-weight models ------------------------------------------------- */

typedef struct spec {
    const char *op;          /* the consumer: Conv, ConvTranspose, Gemm, MatMul, ... */
    int slot;                /* the weight's input slot (default 1) */
    const int64_t *dims;
    int ndims;
    const float *w;          /* float weights (dtype FLOAT) */
    const uint8_t *raw;      /* or raw bytes of `dtype` */
    int dtype;
    int64_t group, trans_b;  /* attributes when > 0 / >= 0 */
    int64_t opset;           /* default 13 */
} spec;

static size_t count_of(const spec *s)
{
    size_t n = 1;
    for (int i = 0; i < s->ndims; i++)
        n *= (size_t)s->dims[i];
    return n;
}

/* A model "x -> op(x, w) -> y" plus a 4-element bias "b" read by an Add. */
static nnz_model *model_of(const spec *s)
{
    Onnx__ModelProto m;
    Onnx__GraphProto g;
    Onnx__OperatorSetIdProto op, *ops;
    Onnx__TensorProto w = ONNX__TENSOR_PROTO__INIT, b = ONNX__TENSOR_PROTO__INIT;
    Onnx__TensorProto *inits[2] = { &w, &b };
    Onnx__NodeProto n = ONNX__NODE_PROTO__INIT, add = ONNX__NODE_PROTO__INIT;
    Onnx__NodeProto *nodes[2] = { &n, &add };
    Onnx__AttributeProto a[2] = { ONNX__ATTRIBUTE_PROTO__INIT, ONNX__ATTRIBUTE_PROTO__INIT };
    Onnx__AttributeProto *ap[2] = { &a[0], &a[1] };
    tu_model_init(&m, &g, &op, &ops, s->opset ? s->opset : 13, "g");
    w.name = "w";
    w.has_data_type = 1;
    w.data_type = s->dtype ? s->dtype : NNZ_DT_FLOAT;
    w.n_dims = (size_t)s->ndims;
    w.dims = (int64_t *)s->dims;
    w.has_raw_data = 1;
    w.raw_data.data = s->raw ? (uint8_t *)s->raw : (uint8_t *)s->w;
    w.raw_data.len = count_of(s) * nnz_dtype_size(w.data_type);
    static int64_t bdims[1] = { 4 };
    static const float bias[4] = { 0.5f, -0.25f, 1, 2 };
    b.name = "b";
    b.has_data_type = 1;
    b.data_type = NNZ_DT_FLOAT;
    b.n_dims = 1;
    b.dims = bdims;
    b.has_raw_data = 1;
    b.raw_data.data = (uint8_t *)bias;
    b.raw_data.len = sizeof bias;
    g.n_initializer = 2;
    g.initializer = inits;
    char *in[2] = { "x", "w" }, *out[1] = { "y" };
    if (s->slot == 0) {
        in[0] = "w";
        in[1] = "x";
    }
    n.op_type = (char *)s->op;
    n.n_input = 2;
    n.input = in;
    n.n_output = 1;
    n.output = out;
    size_t na = 0;
    if (s->group > 0) {
        a[na].name = "group";
        a[na].has_i = 1;
        a[na].i = s->group;
        a[na].has_type = 1;
        a[na].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        na++;
    }
    if (s->trans_b >= 0) {
        a[na].name = "transB";
        a[na].has_i = 1;
        a[na].i = s->trans_b;
        a[na].has_type = 1;
        a[na].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        na++;
    }
    n.n_attribute = na;
    n.attribute = ap;
    char *ain[2] = { "y", "b" }, *aout[1] = { "z" };
    add.op_type = "Add";
    add.n_input = 2;
    add.input = ain;
    add.n_output = 1;
    add.output = aout;
    g.n_node = 2;
    g.node = nodes;
    size_t len = onnx__model_proto__get_packed_size(&m);
    uint8_t *buf = malloc(len);
    onnx__model_proto__pack(&m, buf);
    nnz_model *model = NULL;
    nnz_error e = { 0 };
    if (nnz_model_load_bytes(buf, len, "t.onnx", NULL, &model, &e) != 0)
        fail_msg("load: %s", e.msg);
    free(buf);
    return model;
}

#define SPEC(op_, dims_, w_) \
    (spec) { .op = op_, .slot = 1, .dims = dims_, .ndims = (int)(sizeof dims_ / sizeof dims_[0]), \
             .w = w_, .trans_b = -1 }

/* ---- running the pass ------------------------------------------------------ */

typedef struct run {
    nnz_model *m;
    nnz_pipeline p;
    cJSON *report;
    nnz_state *st;   /* tensor "w"'s state; NULL when not touched */
    cJSON *q;        /* its report's "quantize" object */
    nnz_error e;
    int rc;
} run;

static size_t index_of(const nnz_model *m, const char *name)
{
    for (size_t i = 0; i < m->ntensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0)
            return i;
    fail_msg("no tensor '%s'", name);
    return 0;
}

/* Run `pipeline` on tensor `name` of the model made from s. */
static void run_on(run *r, const spec *s, const char *pipeline, const char *name)
{
    memset(r, 0, sizeof *r);
    r->m = model_of(s);
    r->report = cJSON_CreateObject();
    r->rc = nnz_pipeline_parse(pipeline, &r->p, &r->e);
    if (r->rc != 0)
        return;
    r->rc = nnz_pipeline_prepare(&r->p, r->m, r->report, &r->e);
    if (r->rc != 0)
        return;
    size_t i = index_of(r->m, name);
    r->rc = nnz_pipeline_run_tensor(&r->p, r->m, i, r->report, &r->st, &r->e);
    cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(r->report, "tensors"), (int)i);
    r->q = cJSON_GetObjectItem(t, "quantize");
}

static void run_ok(run *r, const spec *s, const char *pipeline)
{
    run_on(r, s, pipeline, "w");
    if (r->rc != 0)
        fail_msg("'%s': %s", pipeline, r->e.msg);
    assert_non_null(r->st);
}

static void run_free(run *r)
{
    nnz_state_free(r->st);
    if (r->p.stages)
        nnz_pipeline_free(&r->p);
    cJSON_Delete(r->report);
    nnz_model_free(r->m);
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *x = cJSON_GetObjectItem(o, key);
    if (!cJSON_IsNumber(x))
        fail_msg("no number '%s' in the report", key);
    return x->valuedouble;
}

static int has_warning(const cJSON *tensor_q_parent, const char *needle)
{
    const cJSON *w;
    cJSON_ArrayForEach(w, cJSON_GetObjectItem(tensor_q_parent, "warnings"))
        if (strstr(w->valuestring, needle))
            return 1;
    return 0;
}

static cJSON *tensor_report(run *r, const char *name)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItem(r->report, "tensors"),
                              (int)index_of(r->m, name));
}

static int32_t centered(const nnz_state *st, size_t i)
{
    size_t c = st->nchan > 1 ? (i / st->inner) % st->nchan : 0;
    return (int32_t)st->codes[i] - (int32_t)st->zero_point[c];
}

static int is_plus_zero(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u == 0;
}

/* A deterministic spread of values: roughly Laplacian, some exact zeros. */
static void fill(float *w, size_t n, unsigned seed, double zero_fraction)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        double u = ((x >> 8) + 0.5) / 16777216.0;
        x = x * 1664525u + 1013904223u;
        double v = ((x >> 8) + 0.5) / 16777216.0;
        w[i] = v < zero_fraction ? 0.0f : (float)((u < 0.5 ? 1 : -1) * -log(2 * fmin(u, 1 - u)) * 0.05);
    }
}

/* ---- uniform steps: hand-computed ---------------------------------------------- */

static void symmetric_int8_per_channel_scales_and_codes_are_hand_computed(void **state)
{
    /* Conv weight [2, 1, 1, 3]: channel 0 = {0.6, -1, 0.25}, channel 1 = {100, -40, 0} */
    static const int64_t d[4] = { 2, 1, 1, 3 };
    static const float w[6] = { 0.6f, -1.0f, 0.25f, 100.0f, -40.0f, 0.0f };
    spec s = SPEC("Conv", d, w);
    run r;
    run_ok(&r, &s, "quantize:bits=8,min-elements=1");
    assert_int_equal(r.st->kind, NNZ_VAL_AFFINE);
    assert_int_equal(r.st->nchan, 2);
    assert_int_equal(r.st->inner, 3);
    /* per-channel steps are the smallest log-grid values 2^(k/16) (format
     * 1.2) at or above amax / 127: 1/127 = 1.00787 * 2^-7 -> 2^(1/16) * 2^-7,
     * 100/127 = 1.5748 * 2^-1 -> 2^(11/16) * 2^-1 (the table's float32s) */
    assert_true(r.st->scale[0] == 0x1.0b5586p-7f);
    assert_true(r.st->scale[1] == 0x1.9c4918p-1f);
    assert_int_equal(r.st->zero_point[0], 128);
    assert_int_equal(r.st->zero_point[1], 128);
    /* 0.6 / s0 = 73.54, -122.57, 0.25 / s0 = 30.64; 100 / s1 = 124.19, -49.67, 0 */
    static const uint32_t codes[6] = { 202, 5, 159, 252, 78, 128 };
    for (int i = 0; i < 6; i++)
        assert_int_equal(r.st->codes[i], codes[i]);
    assert_true(r.st->values[5] == 0.0f && is_plus_zero(r.st->values[5]));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(r.q, "granularity")), "channel");
    assert_int_equal((int)num(r.q, "axis"), 0);
    assert_int_equal((int)num(r.q, "levels"), 6);
    assert_int_equal((int)num(r.q, "clipped"), 0);
    /* the largest magnitudes come back within half a step */
    assert_true(fabsf(r.st->values[1] + 1.0f) <= 0.5f * r.st->scale[0]);
    assert_true(fabsf(r.st->values[3] - 100.0f) <= 0.5f * r.st->scale[1]);
    run_free(&r);
}

static void affine_uint8_scale_and_zero_point_are_hand_computed(void **state)
{
    /* per tensor over [-1, 3]: scale 4/255, zero point round(63.75) = 64 */
    static const int64_t d[2] = { 2, 4 };
    static const float w[8] = { -1, 3, 0, 1, 0.5f, -0.5f, 2, 0 };
    spec s = SPEC("MatMul", d, w);
    run r;
    run_ok(&r, &s, "quantize:bits=8,scheme=asym,granularity=tensor,min-elements=1");
    assert_int_equal(r.st->nchan, 1);
    assert_true(r.st->scale[0] == 4.0f / 255.0f);
    assert_int_equal(r.st->zero_point[0], 64);
    assert_int_equal(r.st->codes[0], 0);   /* -63.75 -> -64, + 64 */
    assert_int_equal(r.st->codes[1], 255); /* 191.25 -> 191, + 64 */
    assert_int_equal(r.st->codes[2], 64);
    assert_int_equal(r.st->codes[3], 128); /* 63.75 -> 64 */
    for (int i = 0; i < 8; i++)
        assert_true(fabsf(r.st->values[i] - w[i]) <= 0.5f * r.st->scale[0] * 1.0001f);
    assert_true(is_plus_zero(r.st->values[2]) && is_plus_zero(r.st->values[7]));
    run_free(&r);
}

static void zero_decodes_to_exactly_zero_in_every_scheme_and_width(void **state)
{
    static const int64_t d[4] = { 8, 4, 3, 3 };
    float w[288];
    fill(w, 288, 7, 0.2);
    w[5] = -0.0f;
    spec s = SPEC("Conv", d, w);
    static const char *schemes[] = { "sym", "asym" }, *gran[] = { "channel", "tensor" };
    static const int bits[] = { 2, 3, 4, 5, 8, 9, 12, 16 };
    for (int a = 0; a < 2; a++)
        for (int g = 0; g < 2; g++)
            for (size_t b = 0; b < sizeof bits / sizeof bits[0]; b++) {
                char p[128];
                snprintf(p, sizeof p, "quantize:bits=%d,scheme=%s,granularity=%s", bits[b],
                         schemes[a], gran[g]);
                run r;
                run_ok(&r, &s, p);
                for (int i = 0; i < 288; i++)
                    if (w[i] == 0 && !is_plus_zero(r.st->values[i]))
                        fail_msg("%s: element %d decodes to %g, not +0", p, i, r.st->values[i]);
                /* nothing is further than half a step from its value */
                for (int i = 0; i < 288; i++) {
                    size_t c = r.st->nchan > 1 ? (size_t)i / r.st->inner % r.st->nchan : 0;
                    /* half a step, plus float rounding (2^-23 of the value) at 16 bits */
                    if (fabsf(r.st->values[i] - w[i]) >
                        0.5f * r.st->scale[c] * 1.0001f + fabsf(w[i]) * 0x1p-22f)
                        fail_msg("%s: element %d off by more than half a step", p, i);
                }
                assert_true(r.st->bits == bits[b]);
                run_free(&r);
            }
}

static void symmetric_codes_stay_within_plus_minus_qmax(void **state)
{
    static const int64_t d[2] = { 16, 16 };
    float w[256];
    fill(w, 256, 3, 0);
    spec s = SPEC("MatMul", d, w);
    for (int bits = 2; bits <= 16; bits++) {
        char p[64];
        snprintf(p, sizeof p, "quantize:bits=%d", bits);
        run r;
        run_ok(&r, &s, p);
        int32_t qmax = (1 << (bits - 1)) - 1, top = 0;
        for (int i = 0; i < 256; i++) {
            int32_t k = centered(r.st, (size_t)i);
            assert_true(k >= -qmax && k <= qmax);
            top = abs(k) > top ? abs(k) : top;
        }
        /* some channel's largest value uses a code within one grid step
         * (2^(1/16)) of the top: the steps only go up onto the grid */
        assert_true(top <= qmax && top >= (int32_t)floor(qmax / 1.0442738 + 0.5));
        run_free(&r);
    }
}

static void a_constant_tensor_and_a_one_element_tensor_survive(void **state)
{
    static const int64_t d[2] = { 4, 4 }, d1[2] = { 1, 1 };
    float w[16], one[1] = { -3.5f };
    for (int i = 0; i < 16; i++)
        w[i] = 0.375f;
    static const char *pipes[] = { "quantize:bits=8,min-elements=1",
                                   "quantize:bits=4,scheme=asym,min-elements=1",
                                   "quantize:bits=8,granularity=tensor,min-elements=1",
                                   "quantize:max-rel-error=0.01,min-elements=1",
                                   "quantize:fp16,min-elements=1" };
    for (size_t k = 0; k < sizeof pipes / sizeof pipes[0]; k++) {
        spec s = SPEC("MatMul", d, w), s1 = SPEC("MatMul", d1, one);
        /* within the target when there is one; else within half a step
         * (per-channel steps are on the log grid: up to 2^(1/16) larger
         * than amax / qmax), exact but for float rounding per tensor */
        float tol = strstr(pipes[k], "max-rel-error") ? 0.01f
                    : strstr(pipes[k], "granularity=tensor") || strstr(pipes[k], "fp16") ? 1.2e-7f
                    : strstr(pipes[k], "bits=4") ? 0.5f * 1.0443f / 15
                                                   : 0.5f * 1.0443f / 127;
        run r;
        run_ok(&r, &s, pipes[k]);
        for (int i = 0; i < 16; i++)
            if (!(fabsf(r.st->values[i] - 0.375f) <= tol * 0.375f))
                fail_msg("%s: %.9g", pipes[k], r.st->values[i]);
        run_free(&r);
        run_ok(&r, &s1, pipes[k]);
        tol = strstr(pipes[k], "max-rel-error") ? 0.01f : 1.2e-7f; /* one step: float32 */
        if (!(fabsf(r.st->values[0] + 3.5f) <= tol * 3.5f))
            fail_msg("%s: %.9g", pipes[k], r.st->values[0]);
        run_free(&r);
    }
    /* all zeros: the step is 1 and everything stays 0 */
    memset(w, 0, sizeof w);
    spec s = SPEC("MatMul", d, w);
    run r;
    run_ok(&r, &s, "quantize:bits=8,min-elements=1");
    for (int i = 0; i < 16; i++)
        assert_true(is_plus_zero(r.st->values[i]));
    run_free(&r);
}

/* ---- the channel axis follows the consumer ------------------------------------ */

static void check_per_channel(const spec *s, int axis, size_t nchan, size_t inner)
{
    run r;
    run_ok(&r, s, "quantize:bits=8,min-elements=1");
    if (r.st->axis != axis || r.st->nchan != nchan || r.st->inner != inner)
        fail_msg("%s: axis %d, %zu channels of %zu; expected %d, %zu of %zu", s->op, r.st->axis,
                 r.st->nchan, r.st->inner, axis, nchan, inner);
    /* each channel's step is the smallest log-grid value at or above its
     * own largest magnitude / 127 */
    size_t n = count_of(s);
    int exp;
    assert_int_equal(nnz_scale_grid_fits(r.st->scale, nchan, &exp), nchan > 1);
    for (size_t c = 0; c < nchan; c++) {
        float amax = 0;
        for (size_t i = 0; i < n; i++)
            if ((i / inner) % nchan == c)
                amax = fmaxf(amax, fabsf(s->w[i]));
        float base = amax / 127.0f;
        assert_true(r.st->scale[c] >= base && (nchan == 1 ? r.st->scale[c] == base
                                                           : r.st->scale[c] < base * 1.0442738f));
    }
    run_free(&r);
}

static void the_channel_axis_follows_the_consuming_op(void **state)
{
    float w[288];
    fill(w, 288, 11, 0);
    /* make the channels' ranges differ by orders of magnitude on every axis */
    for (int i = 0; i < 288; i++)
        w[i] *= (float)(1 + i % 7) * (float)(1 + (i / 9) % 5) * (float)(1 + (i / 36) % 3);
    static const int64_t conv[4] = { 8, 4, 3, 3 }, convt[4] = { 4, 8, 3, 3 },
                         gemm[2] = { 24, 12 }, mm3[3] = { 2, 12, 12 };
    spec s = SPEC("Conv", conv, w);
    check_per_channel(&s, 0, 8, 36);
    s = SPEC("ConvTranspose", convt, w); /* (C_in 4, C_out 8, 3, 3): output channels on axis 1 */
    check_per_channel(&s, 1, 8, 9);
    s = SPEC("Gemm", gemm, w);           /* B (K 24, N 12): transB=0 */
    check_per_channel(&s, 1, 12, 1);
    s.trans_b = 0;
    check_per_channel(&s, 1, 12, 1);
    s.trans_b = 1;                       /* B (N 24, K 12) */
    check_per_channel(&s, 0, 24, 12);
    s = SPEC("MatMul", gemm, w);         /* B (K, N): the last axis */
    check_per_channel(&s, 1, 12, 1);
    s = SPEC("MatMul", mm3, w);
    check_per_channel(&s, 2, 12, 1);
}

/* An all-zero channel (a dead filter) beside channels of small weights:
 * its step must not set the log grid's window (a step of 1 would push the
 * others' 2^-14 floor above their own steps). Every live channel keeps a
 * step within 2^(1/16) of amax / 127, for the plain and the error-targeted
 * steps, and the dead channel decodes to zeros. */
static void a_dead_channel_does_not_coarsen_the_others(void **state)
{
    static const int64_t d[4] = { 4, 1, 3, 3 };
    float w[36];
    fill(w, 36, 21, 0);
    for (int i = 0; i < 36; i++)
        w[i] = i < 9 ? 0.0f : w[i] * 1e-3f; /* channel 0 dead, the rest ~1e-4 */
    spec s = SPEC("Conv", d, w);
    static const char *pipes[] = { "quantize:bits=8,min-elements=1",
                                   "quantize:bits=8,scheme=asym,min-elements=1",
                                   "quantize:max-rel-error=0.01,granularity=channel,min-elements=1" };
    for (size_t k = 0; k < 3; k++) {
        run r;
        run_ok(&r, &s, pipes[k]);
        int exp;
        assert_int_equal(nnz_scale_grid_fits(r.st->scale, 4, &exp), 1);
        for (size_t c = 1; c < 4; c++) {
            float lo = 0, hi = 0;
            for (int i = 0; i < 9; i++) {
                lo = fminf(lo, w[9 * c + i]);
                hi = fmaxf(hi, w[9 * c + i]);
            }
            float base = k == 1 ? (hi - lo) / 255.0f : fmaxf(-lo, hi) / 127.0f;
            if (k < 2 && !(r.st->scale[c] >= base && r.st->scale[c] < base * 1.0442738f))
                fail_msg("%s: channel %zu step %g for %g", pipes[k], c, r.st->scale[c], base);
            if (k == 2 && !(r.st->scale[c] < 0.2f * base * 127.0f)) /* not the window floor */
                fail_msg("%s: channel %zu step %g", pipes[k], c, r.st->scale[c]);
        }
        for (int i = 0; i < 9; i++)
            assert_true(is_plus_zero(r.st->values[i]));
        run_free(&r);
    }
}

/* A live channel 10^6 times smaller than the largest (20 binades below,
 * past the 16 of encoding versions 3 and 4) still gets its own step on the
 * grid, within 2^(1/16) above amax / 127 like every channel (the codes'
 * frame starts at its binade: version 5), not a coarser one and not
 * float32 steps; and the blob stores exactly those steps. */
static void a_channel_far_below_the_others_keeps_its_own_grid_step(void **state)
{
    static const int64_t d[4] = { 2, 1, 1, 3 };
    static const float w[6] = { 1.0f, -0.5f, 0.25f, 1e-6f, -3e-7f, 0.0f };
    spec s = SPEC("Conv", d, w);
    run r;
    run_ok(&r, &s, "quantize:bits=8,min-elements=1");
    for (int c = 0; c < 2; c++) {
        float base = (c ? 1e-6f : 1.0f) / 127.0f;
        if (!(r.st->scale[c] >= base && r.st->scale[c] < base * 1.0442738f))
            fail_msg("channel %d step %g for %g", c, r.st->scale[c], base);
    }
    int exp;
    assert_int_equal(nnz_scale_grid_fits(r.st->scale, 2, &exp), 1);
    assert_int_equal(exp, ilogbf(r.st->scale[1]));
    assert_true(nnz_scale_grid_code(r.st->scale[0], exp) > 255); /* past versions 3 and 4 */
    assert_true(fabsf(r.st->values[3] - 1e-6f) <= 1e-6f / 127); /* its largest comes back */
    run_free(&r);
}

static void depthwise_convolutions_get_a_step_per_channel(void **state)
{
    /* Conv with group = channels: weight (C, 1, 3, 3); ranges 1000x apart */
    static const int64_t d[4] = { 16, 1, 3, 3 };
    float w[144];
    fill(w, 144, 5, 0);
    for (int i = 0; i < 144; i++)
        w[i] *= (i / 9) % 4 == 0 ? 1000.0f : 1.0f;
    spec s = SPEC("Conv", d, w);
    s.group = 16;
    check_per_channel(&s, 0, 16, 9);
    /* depthwise ConvTranspose: weight (C_in 16, C_out/group 1, 3, 3): axis 0 */
    s = SPEC("ConvTranspose", d, w);
    s.group = 16;
    check_per_channel(&s, 0, 16, 9);
    /* per tensor the small channels flatten, and the report says so */
    run r;
    s = SPEC("Conv", d, w);
    s.group = 16;
    run_ok(&r, &s, "quantize:bits=4,granularity=tensor,min-elements=1");
    cJSON *t = tensor_report(&r, "w");
    assert_true(has_warning(t, "use granularity=channel"));
    assert_true(has_warning(t, "channel ranges differ"));
    double rel_tensor = num(r.q, "rel_l2");
    run_free(&r);
    run_ok(&r, &s, "quantize:bits=4,min-elements=1");
    assert_true(num(r.q, "rel_l2") < rel_tensor);
    assert_false(has_warning(tensor_report(&r, "w"), "use granularity=channel"));
    run_free(&r);
}

/* ---- error-targeted steps and rate-aware rounding --------------------------------- */

static void an_error_target_is_met_with_the_largest_step(void **state)
{
    static const int64_t d[2] = { 64, 64 };
    float *w = malloc(4096 * sizeof *w);
    fill(w, 4096, 9, 0.05);
    spec s = SPEC("MatMul", d, w);
    static const double targets[] = { 0.1, 0.03, 0.01, 0.001, 1e-4 };
    for (size_t k = 0; k < sizeof targets / sizeof targets[0]; k++)
        for (int g = 0; g < 2; g++) {
            char p[96];
            snprintf(p, sizeof p, "quantize:max-rel-error=%g%s", targets[k],
                     g ? ",granularity=channel" : "");
            run r;
            run_ok(&r, &s, p);
            double rel = num(r.q, "rel_l2");
            if (!(rel <= targets[k] && rel > 0.8 * targets[k]))
                fail_msg("%s: rel_l2 %g", p, rel);
            assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(r.q, "granularity")),
                                g ? "channel" : "tensor");
            assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r.q, "target_met")));
            /* the width is the fewest bits that hold the largest code */
            int32_t top = 0;
            for (int i = 0; i < 4096; i++)
                top = abs(centered(r.st, (size_t)i)) > top ? abs(centered(r.st, (size_t)i)) : top;
            assert_true(top <= (1 << (r.st->bits - 1)) - 1);
            assert_true(r.st->bits == 2 || top > (1 << (r.st->bits - 2)) - 1);
            /* exact zeros stay exact */
            for (int i = 0; i < 4096; i++)
                if (w[i] == 0)
                    assert_true(is_plus_zero(r.st->values[i]));
            run_free(&r);
        }
    /* a target the bit budget cannot meet: the finest step, and a warning */
    run r;
    run_ok(&r, &s, "quantize:max-rel-error=0.0001,bits=4");
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(r.q, "target_met")));
    assert_true(has_warning(tensor_report(&r, "w"), "needs more than 4 bits"));
    assert_int_equal(r.st->bits, 4);
    run_free(&r);
    free(w);
}

static void rate_aware_rounding_lowers_the_entropy_within_one_step(void **state)
{
    static const int64_t d[2] = { 64, 64 };
    float *w = malloc(4096 * sizeof *w);
    fill(w, 4096, 21, 0.1);
    spec s = SPEC("MatMul", d, w);
    run near, rate;
    run_ok(&near, &s, "quantize:bits=6");
    run_ok(&rate, &s, "quantize:bits=6,rounding=rate,rate-lambda=0.5");
    double h_near = num(near.q, "entropy_bits"), h_rate = num(rate.q, "entropy_bits");
    assert_true(num(rate.q, "entropy_bits_nearest") == h_near);
    assert_true(h_rate < h_near);
    assert_true(num(rate.q, "rel_l2") > num(near.q, "rel_l2"));
    for (int i = 0; i < 4096; i++) {
        size_t c = (size_t)i % rate.st->nchan;
        assert_true(fabsf(rate.st->values[i] - w[i]) <= rate.st->scale[c] * 1.0001f);
        if (w[i] == 0)
            assert_true(is_plus_zero(rate.st->values[i]));
    }
    /* lambda 0 is round-to-nearest */
    run zero;
    run_ok(&zero, &s, "quantize:bits=6,rounding=rate,rate-lambda=0");
    assert_memory_equal(zero.st->codes, near.st->codes, 4096 * sizeof *near.st->codes);
    run_free(&zero);
    run_free(&near);
    run_free(&rate);
    free(w);
}

/* ---- k-means -------------------------------------------------------------------------- */

static void kmeans_gives_back_ties_exactly_when_there_are_k_distinct_values(void **state)
{
    /* 4 distinct values, 4 centroids: linear initialisation leaves two
     * clusters empty; moving them must find all four values */
    static const int64_t d[2] = { 4, 4 };
    static const float w[16] = { 1, 1, 1, 1, 2, 3, 3, 100, 1, 1, 2, 2, 3, 3, 100, 1 };
    spec s = SPEC("MatMul", d, w);
    run r;
    run_ok(&r, &s, "quantize:kmeans,bits=2,min-elements=1");
    assert_int_equal(r.st->kind, NNZ_VAL_CODEBOOK);
    assert_int_equal(r.st->ncodebook, 4);
    static const float cb[4] = { 1, 2, 3, 100 };
    for (int j = 0; j < 4; j++)
        assert_true(r.st->codebook[j] == cb[j]);
    for (int i = 0; i < 16; i++)
        assert_true(r.st->values[i] == w[i]);
    assert_true(num(r.q, "rel_l2") == 0);
    run_free(&r);
}

static void kmeans_is_deterministic_and_its_codebook_sorted(void **state)
{
    static const int64_t d[2] = { 64, 64 };
    float *w = malloc(4096 * sizeof *w);
    fill(w, 4096, 33, 0);
    spec s = SPEC("MatMul", d, w);
    run a, b;
    run_ok(&a, &s, "quantize:kmeans,bits=5");
    run_ok(&b, &s, "quantize:kmeans,bits=5");
    assert_int_equal(a.st->ncodebook, 32);
    assert_memory_equal(a.st->codebook, b.st->codebook, 32 * sizeof(float));
    assert_memory_equal(a.st->codes, b.st->codes, 4096 * sizeof(uint32_t));
    for (int j = 1; j < 32; j++)
        assert_true(a.st->codebook[j] > a.st->codebook[j - 1]);
    /* each value went to its nearest centroid */
    for (int i = 0; i < 4096; i++)
        for (int j = 0; j < 32; j++)
            assert_true(fabsf(w[i] - a.st->values[i]) <= fabsf(w[i] - a.st->codebook[j]));
    /* better than uniform steps of the same width at the same bits */
    run u;
    run_ok(&u, &s, "quantize:bits=5,granularity=tensor");
    assert_true(num(a.q, "rel_l2") < num(u.q, "rel_l2"));
    run_free(&u);
    run_free(&a);
    run_free(&b);
    free(w);
}

static void kmeans_keeps_an_exact_zero_centroid_for_pruned_tensors(void **state)
{
    static const int64_t d[2] = { 32, 32 };
    float w[1024];
    fill(w, 1024, 41, 0.6); /* 60% exact zeros */
    spec s = SPEC("MatMul", d, w);
    nnz_model *m = model_of(&s);
    nnz_error e = { 0 };
    nnz_tensor *t = nnz_model_find(m, "w");
    const nnz_pass *q = nnz_pass_find("quantize");
    nnz_kv kv[2] = { { "kmeans", NULL }, { "bits", "4" } };
    void *opts;
    assert_int_equal(q->parse(kv, 2, &opts, &e), 0);
    nnz_state *st = nnz_state_new(m, t, &e);
    st->pruned = 1;
    cJSON *rep = cJSON_CreateObject();
    if (q->run(m, t, st, opts, rep, &e) != 0)
        fail_msg("%s", e.msg);
    int zero_at = -1;
    for (size_t j = 0; j < st->ncodebook; j++)
        if (is_plus_zero(st->codebook[j]))
            zero_at = (int)j;
    assert_true(zero_at >= 0);
    size_t zeros = 0;
    for (int i = 0; i < 1024; i++) {
        if (w[i] == 0) {
            assert_int_equal(st->codes[i], zero_at);
            assert_true(is_plus_zero(st->values[i]));
        } else {
            assert_true(st->values[i] != 0); /* no survivor is pruned by sharing */
        }
        zeros += st->values[i] == 0;
    }
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(rep, "quantize"),
                                                 "zero_centroid")));
    nnz_state_free(st);
    cJSON_Delete(rep);
    q->free_opts(opts);
    nnz_model_free(m);
}

static void kmeans_keeps_the_few_survivors_of_pruning_exactly(void **state)
{
    /* 5 non-zero values survive in 300: fewer than 15 centroids */
    static const int64_t d[2] = { 20, 15 };
    float w[300] = { 0 };
    w[3] = 0.5f;
    w[77] = -0.25f;
    w[150] = 0.5f;
    w[151] = 2.0f;
    w[299] = -1.0f;
    spec s = SPEC("MatMul", d, w);
    nnz_model *m = model_of(&s);
    nnz_error e = { 0 };
    nnz_tensor *t = nnz_model_find(m, "w");
    const nnz_pass *q = nnz_pass_find("quantize");
    nnz_kv kv[2] = { { "kmeans", NULL }, { "bits", "4" } };
    void *opts;
    assert_int_equal(q->parse(kv, 2, &opts, &e), 0);
    nnz_state *st = nnz_state_new(m, t, &e);
    st->pruned = 1;
    cJSON *rep = cJSON_CreateObject();
    if (q->run(m, t, st, opts, rep, &e) != 0)
        fail_msg("%s", e.msg);
    assert_int_equal(st->ncodebook, 5); /* 0, and -1, -0.25, 0.5, 2 */
    static const float cb[5] = { -1.0f, -0.25f, 0.0f, 0.5f, 2.0f };
    for (int j = 0; j < 5; j++)
        assert_true(st->codebook[j] == cb[j]);
    for (int i = 0; i < 300; i++)
        assert_memory_equal(&st->values[i], &w[i], 4);
    assert_true(has_warning(rep, "only 4 distinct non-zero values survive pruning"));
    nnz_state_free(st);
    cJSON_Delete(rep);
    q->free_opts(opts);
    nnz_model_free(m);
}

static void kmeans_with_more_centroids_than_distinct_values_is_refused(void **state)
{
    static const int64_t d[2] = { 4, 4 };
    float w[16];
    for (int i = 0; i < 16; i++)
        w[i] = (float)(i % 10) - 4.5f; /* 10 distinct values */
    spec s = SPEC("MatMul", d, w);
    run r;
    run_on(&r, &s, "quantize:kmeans,bits=4,min-elements=1", "w");
    assert_int_equal(r.rc, -1);
    assert_int_equal(r.e.code, NNZ_EXIT_USAGE);
    /* the blob writer puts the tensor's name in front (tests/suite/49-quantize.sh) */
    if (!strstr(r.e.msg, "quantize: kmeans") || !strstr(r.e.msg, "16 centroids") ||
        !strstr(r.e.msg, "only 10 distinct") || !strstr(r.e.msg, "use bits=3 or fewer"))
        fail_msg("%s", r.e.msg);
    run_free(&r);
    for (int i = 0; i < 16; i++)
        w[i] = 1.5f; /* constant */
    run_on(&r, &s, "quantize:kmeans,bits=2,min-elements=1", "w");
    assert_int_equal(r.rc, -1);
    if (!strstr(r.e.msg, "too few for any kmeans"))
        fail_msg("%s", r.e.msg);
    run_free(&r);
}

static void the_radix_sort_orders_floats_like_a_comparison_sort(void **state)
{
    float v[1000], tmp[1000];
    fill(v, 1000, 77, 0.1);
    v[0] = -0.0f;
    v[1] = 3e38f;
    v[2] = -3e38f;
    v[3] = 1e-42f; /* a denormal */
    nnz_sort_floats(v, tmp, 1000);
    for (int i = 1; i < 1000; i++)
        assert_true(v[i - 1] <= v[i]);
    assert_true(v[0] == -3e38f && v[999] == 3e38f);
}

/* ---- half floats ------------------------------------------------------------------------ */

static void fp16_rounds_to_nearest_even_and_clamps_overflow(void **state)
{
    static const int64_t d[1] = { 10 };
    const float w[10] = { 1.00048828125f,         /* 1 + 2^-11: a tie, to even 1.0 */
                          1.00146484375f,         /* 1 + 3 * 2^-11: a tie, to 1 + 2^-9 */
                          65519.0f,               /* below the tie: 65504 */
                          65520.0f,               /* rounds to infinity: clamped */
                          -1e6f,                  /* clamped to -65504 */
                          5.9604644775390625e-8f, /* 2^-24: the smallest subnormal */
                          2.98023223876953125e-8f, /* 2^-25: a tie, to even 0 */
                          8.940696716308594e-8f,  /* 3 * 2^-25: a tie, to 2^-23 */
                          -0.0f, 0.1f };
    static const uint16_t want[10] = { 0x3c00, 0x3c02, 0x7bff, 0x7bff, 0xfbff,
                                       0x0001, 0x0000, 0x0002, 0x8000, 0x2e66 };
    spec s = SPEC("MatMul", d, w);
    s.op = "Gather";
    s.slot = 0;
    run r;
    run_ok(&r, &s, "quantize:fp16,min-elements=1");
    assert_int_equal(r.st->kind, NNZ_VAL_F16);
    for (int i = 0; i < 10; i++)
        if (r.st->codes[i] != want[i])
            fail_msg("element %d (%.10g): 0x%04x, expected 0x%04x", i, w[i], r.st->codes[i],
                     want[i]);
    assert_int_equal((int)num(r.q, "clamped"), 2);
    assert_true(has_warning(tensor_report(&r, "w"), "clamped to +-65504"));
    run_free(&r);
}

static void bf16_rounds_to_nearest_even_and_clamps_what_would_overflow(void **state)
{
    static const int64_t d[1] = { 4 };
    const float w[4] = { 1.00390625f /* 1 + 2^-8: tie, to even */, 3.4028235e38f /* FLT_MAX */,
                         -3.4028235e38f, 1.01171875f /* 1 + 3 * 2^-8: tie, to 1 + 2^-6 */ };
    static const uint16_t want[4] = { 0x3f80, 0x7f7f, 0xff7f, 0x3f82 };
    spec s = SPEC("MatMul", d, w);
    s.op = "Gather";
    s.slot = 0;
    run r;
    run_ok(&r, &s, "quantize:bf16,min-elements=1");
    for (int i = 0; i < 4; i++)
        assert_int_equal(r.st->codes[i], want[i]);
    assert_int_equal((int)num(r.q, "clamped"), 2);
    run_free(&r);
}

/* ---- which tensors, and what is refused --------------------------------------------- */

static void biases_stay_float_unless_named_and_a_floor_is_asked_for(void **state)
{
    static const int64_t d[2] = { 15, 17 }; /* 255 elements */
    float w[255];
    fill(w, 255, 2, 0);
    spec s = SPEC("MatMul", d, w);
    run r;
    run_on(&r, &s, "quantize:bits=8", "w"); /* no floor by default: every weight */
    assert_int_equal(r.rc, 0);
    assert_non_null(r.st);
    run_free(&r);
    run_on(&r, &s, "quantize:bits=8,min-elements=256", "w");
    assert_int_equal(r.rc, 0);
    assert_null(r.st);
    run_free(&r);
    run_on(&r, &s, "quantize:bits=8,min-elements=255", "w");
    assert_non_null(r.st);
    run_free(&r);
    run_on(&r, &s, "quantize:bits=8", "b");
    assert_null(r.st); /* the bias */
    run_free(&r);
    run_on(&r, &s, "quantize:bits=8,only=b", "b");
    assert_int_equal(r.rc, 0);
    assert_non_null(r.st);
    assert_int_equal(r.st->kind, NNZ_VAL_AFFINE);
    run_free(&r);
    run_on(&r, &s, "quantize:bits=8,min-elements=256,only=w", "w"); /* named: no floor */
    assert_non_null(r.st);
    run_free(&r);
    run_on(&r, &s, "quantize:bits=8,min-elements=1,skip=w", "w");
    assert_null(r.st);
    run_free(&r);
}

static void an_already_quantized_tensor_is_never_quantized_again(void **state)
{
    static const int64_t d[2] = { 16, 16 };
    uint8_t q[256];
    for (int i = 0; i < 256; i++)
        q[i] = (uint8_t)(i * 7);
    spec s = { .op = "MatMulInteger", .slot = 1, .dims = d, .ndims = 2, .raw = q,
               .dtype = NNZ_DT_UINT8, .trans_b = -1 };
    run r;
    run_on(&r, &s, "quantize:bits=8", "w");
    assert_int_equal(r.rc, 0);
    assert_null(r.st); /* not picked by default */
    run_free(&r);
    run_on(&r, &s, "quantize:bits=8,only=w", "w");
    assert_int_equal(r.rc, -1);
    assert_int_equal(r.e.code, NNZ_EXIT_USAGE);
    if (!strstr(r.e.msg, "tensor 'w' (uint8, read by MatMulInteger) is already quantized") ||
        !strstr(r.e.msg, "huffman"))
        fail_msg("%s", r.e.msg);
    run_free(&r);
    /* the float scale of a DequantizeLinear is part of a quantized weight too */
    static const int64_t d1[1] = { 1 };
    static const float scale[1] = { 0.5f };
    spec sc = SPEC("DequantizeLinear", d1, scale);
    run_on(&r, &sc, "quantize:bits=8,only=w", "w");
    assert_int_equal(r.rc, -1);
    assert_non_null(strstr(r.e.msg, "read by DequantizeLinear) is already quantized"));
    run_free(&r);
    /* huffman still codes integer codes: the pipeline runs */
    run_on(&r, &s, "quantize:bits=8 | huffman", "w");
    assert_int_equal(r.rc, 0);
    assert_non_null(r.st);
    assert_int_equal(r.st->kind, NNZ_VAL_INT);
    assert_true(r.st->entropy);
    run_free(&r);
}

static void nan_and_inf_weights_are_refused_with_their_place(void **state)
{
    static const int64_t d[2] = { 16, 16 };
    float w[256];
    fill(w, 256, 4, 0);
    static const float bad[3] = { NAN, INFINITY, -INFINITY };
    static const char *what[3] = { "is NaN", "is +Inf", "is -Inf" };
    static const char *pipes[4] = { "quantize:bits=8", "quantize:kmeans,bits=4", "quantize:fp16",
                                    "quantize:max-rel-error=0.01" };
    for (int k = 0; k < 3; k++)
        for (int p = 0; p < 4; p++) {
            w[100] = bad[k];
            spec s = SPEC("MatMul", d, w);
            run r;
            run_on(&r, &s, pipes[p], "w");
            assert_int_equal(r.rc, -1);
            assert_int_equal(r.e.code, NNZ_EXIT_INPUT);
            /* the blob writer adds "tensor 'w': " (tests/suite/49-quantize.sh) */
            if (!strstr(r.e.msg, "quantize: value 100") ||
                !strstr(r.e.msg, what[k]))
                fail_msg("%s: %s", pipes[p], r.e.msg);
            run_free(&r);
        }
}

static void bad_options_are_refused_naming_what_is_valid(void **state)
{
    static const struct { const char *pipe, *msg; } cases[] = {
        { "quantize:bits=1", "bits=1: expected an integer in 2..16" },
        { "quantize:bits=17", "bits=17: expected an integer in 2..16" },
        { "quantize:bits=abc", "bits=abc: expected an integer in 2..16" },
        { "quantize:bits=", "bits=: expected an integer in 2..16" },
        { "quantize:granularity=row", "granularity=row: expected one of channel|tensor" },
        { "quantize:scheme=signed", "scheme=signed: expected one of sym|asym" },
        { "quantize:rounding=down", "rounding=down: expected one of nearest|rate" },
        { "quantize:max-rel-error=0", "max-rel-error=0: expected a number in" },
        { "quantize:max-rel-error=x", "max-rel-error=x: expected a number" },
        { "quantize:sparsity=0.5", "unknown option 'sparsity' (valid: bits=2..16, scheme=sym|asym" },
        { "quantize:kmeans=1", "unknown option 'kmeans'" },
        { "quantize:kmeans,fp16", "choose one of kmeans, fp16, bf16" },
        { "quantize:fp16,bits=8", "fp16 and bf16 have 16 bits" },
        { "quantize:kmeans,bits=13", "kmeans takes bits=2..12" },
        { "quantize:kmeans,granularity=tensor", "kmeans, fp16 and bf16 take neither" },
        { "quantize:kmeans,max-rel-error=0.01", "max-rel-error chooses uniform steps" },
        { "quantize:fp16,rounding=rate", "rounding=rate is for uniform steps" },
        { "quantize:rate-lambda=0.2", "add rounding=rate" },
        { "quantize:iters=5", "iters= is for kmeans" },
        { "quantize:max-rel-error=0.01,scheme=asym", "drop scheme=asym" },
        { "quantise:bits=8", "unknown pass 'quantise'" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nnz_pipeline p;
        nnz_error e = { 0 };
        if (nnz_pipeline_parse(cases[i].pipe, &p, &e) == 0) {
            nnz_pipeline_free(&p);
            fail_msg("'%s' was accepted", cases[i].pipe);
        }
        assert_int_equal(e.code, NNZ_EXIT_USAGE);
        if (!strstr(e.msg, cases[i].msg))
            fail_msg("'%s': '%s' lacks '%s'", cases[i].pipe, e.msg, cases[i].msg);
    }
}

/* ---- through the blob and the runtime ----------------------------------------------- */

typedef struct capture {
    nnz_pipeline *p;
    cJSON *report;
    size_t index;          /* the tensor to keep */
    float *values;         /* its state's values */
    uint32_t *codes;
    size_t n;
    float *scale;          /* affine: its nchan steps */
    size_t nchan;
} capture;

/* The encoding version byte of tensor idx. */
static int info_version(const nnz_blob *b, uint32_t idx)
{
    nnz_tensor_info info;
    assert_int_equal(nnz_tensor_info_get(b, idx, &info), NNZ_OK);
    return info.encoding_version;
}

static int encode_cb(void *vctx, nnz_model *m, size_t i, nnz_encoded *out, nnz_error *e)
{
    capture *c = vctx;
    nnz_state *st;
    if (nnz_pipeline_run_tensor(c->p, m, i, c->report, &st, e) != 0)
        return -1;
    if (!st)
        return 0;
    if (i == c->index) {
        c->n = st->n;
        c->values = malloc(st->n * sizeof *c->values);
        memcpy(c->values, st->values, st->n * sizeof *c->values);
        if (st->codes) {
            c->codes = malloc(st->n * sizeof *c->codes);
            memcpy(c->codes, st->codes, st->n * sizeof *c->codes);
        }
        if (st->kind == NNZ_VAL_AFFINE) {
            c->nchan = st->nchan;
            c->scale = malloc(st->nchan * sizeof *c->scale);
            memcpy(c->scale, st->scale, st->nchan * sizeof *c->scale);
        }
    }
    int rc = nnz_encode_tensor(&m->tensors[i], st, NULL, out, e);
    nnz_state_free(st);
    return rc;
}

static int force_cb(void *vctx, const nnz_model *m, size_t i)
{
    (void)m;
    capture *c = vctx;
    return c->p->stages[0].selected[i];
}

static void every_mode_decodes_through_the_runtime_as_the_pass_computed(void **state)
{
    static const int64_t d[4] = { 8, 4, 3, 3 };
    float w[288];
    fill(w, 288, 13, 0.1);
    for (int i = 252; i < 288; i++) /* channel 7 is 2^20 times smaller: wide scale codes */
        w[i] *= 1e-6f;
    spec s = SPEC("Conv", d, w);
    static const char *pipes[] = {
        "quantize:bits=8",          "quantize:bits=8,granularity=tensor",
        "quantize:bits=4,scheme=asym", "quantize:bits=3 | huffman",
        "quantize:bits=12",         "quantize:bits=16,scheme=asym",
        "quantize:max-rel-error=0.02 | huffman", "quantize:bits=5,rounding=rate",
        "quantize:max-rel-error=0.02,granularity=channel | huffman",
        "quantize:kmeans,bits=5",   "quantize:kmeans,bits=3 | huffman",
        "quantize:fp16",            "quantize:bf16",
    };
    for (size_t k = 0; k < sizeof pipes / sizeof pipes[0]; k++) {
        nnz_model *m = model_of(&s);
        capture c = { 0 };
        nnz_pipeline p;
        nnz_error e = { 0 };
        assert_int_equal(nnz_pipeline_parse(pipes[k], &p, &e), 0);
        c.p = &p;
        c.report = cJSON_CreateObject();
        c.index = index_of(m, "w");
        assert_int_equal(nnz_pipeline_prepare(&p, m, c.report, &e), 0);
        size_t len;
        uint8_t *blob = tu_blob_with(
            m, (nnz_blob_writer){ .encode = encode_cb, .force_entry = force_cb, .ctx = &c }, &len);
        nnz_blob b;
        assert_int_equal(nnz_open(&b, blob, len, 0), NNZ_OK);
        uint32_t idx;
        assert_int_equal(nnz_find(&b, "w", &idx), NNZ_OK);
        size_t osz, ssz;
        float out[288];
        uint16_t half[288];
        int8_t i8[288];
        assert_int_equal(nnz_decode_sizes(&b, idx, NNZ_OUT_F32, &osz, &ssz), NNZ_OK);
        void *scratch = malloc(ssz ? ssz : 1);
        assert_int_equal(nnz_decode(&b, idx, NNZ_OUT_F32, out, sizeof out, scratch, ssz), NNZ_OK);
        for (int i = 0; i < 288; i++)
            if (memcmp(&out[i], &c.values[i], 4) != 0)
                fail_msg("%s: element %d decodes to %.9g, the pass made %.9g", pipes[k], i,
                         out[i], c.values[i]);
        assert_int_equal(nnz_decode(&b, idx, NNZ_OUT_F16, half, sizeof half, scratch, ssz), NNZ_OK);
        for (int i = 0; i < 288; i++)
            assert_int_equal(half[i], nnz_float_to_half(c.values[i]));
        nnz_value_map vm;
        assert_int_equal(nnz_value_map_get(&b, idx, &vm), NNZ_OK);
        nnz_status i8st = nnz_decode(&b, idx, NNZ_OUT_I8, i8, sizeof i8, scratch, ssz);
        /* per-channel steps are chosen on the log grid and their codes
         * packed in the bits their span needs (encoding version 5); the
         * scales the runtime reads are the pass's */
        if (c.nchan > 1) {
            assert_int_equal(vm.kind, NNZ_VAL_AFFINE_LOG);
            assert_int_equal(info_version(&b, idx), NNZ_ENC_VERSION_COMPACT);
            assert_true(vm.scale_bits > 8 && vm.scale_bits <= 12 && vm.scale_base < 16);
            for (size_t ch = 0; ch < c.nchan; ch++)
                assert_true(nnz_blob_map_scale(&vm, ch) == c.scale[ch]);
        } else if (c.scale) {
            assert_int_equal(vm.kind, NNZ_VAL_AFFINE);
            assert_true(nnz_blob_map_scale(&vm, 0) == c.scale[0]);
        }
        if ((vm.kind == NNZ_VAL_AFFINE || vm.kind == NNZ_VAL_AFFINE_LOG) && vm.width <= 8) {
            assert_int_equal(i8st, NNZ_OK);
            for (int i = 0; i < 288; i++) {
                size_t ch = vm.nchan > 1 ? (size_t)(i / (int)vm.inner) % vm.nchan : 0;
                uint32_t zp = vm.zero_points ? tu_get32(vm.zero_points + ch * 4) : vm.zero_point;
                assert_int_equal(i8[i], (int32_t)c.codes[i] - (int32_t)zp);
            }
        } else {
            assert_int_equal(i8st, NNZ_E_OUT_TYPE);
        }
        free(scratch);
        free(blob);
        free(c.values);
        free(c.codes);
        free(c.scale);
        cJSON_Delete(c.report);
        nnz_pipeline_free(&p);
        nnz_model_free(m);
    }
}

static void a_float16_tensor_is_reported_as_the_runtime_decodes_it(void **state)
{
    /* a float16 weight quantized to 8 bits decodes to float, then rounds to
     * half: the pass's values must be those halves */
    static const int64_t d[2] = { 16, 16 };
    float w[256];
    uint16_t h[256];
    fill(w, 256, 17, 0.1);
    for (int i = 0; i < 256; i++)
        h[i] = nnz_float_to_half(w[i] * 1000.0f);
    uint8_t raw[512];
    for (int i = 0; i < 256; i++) {
        raw[2 * i] = (uint8_t)h[i];
        raw[2 * i + 1] = (uint8_t)(h[i] >> 8);
    }
    spec s = { .op = "MatMul", .slot = 1, .dims = d, .ndims = 2, .raw = raw,
               .dtype = NNZ_DT_FLOAT16, .trans_b = -1 };
    static const char *pipes[] = { "quantize:bits=8", "quantize:kmeans,bits=5",
                                   "quantize:bits=4,scheme=asym" };
    for (int k = 0; k < 3; k++) {
        run r;
        run_ok(&r, &s, pipes[k]);
        for (int i = 0; i < 256; i++) {
            float back = nnz_half_to_float(nnz_float_to_half(r.st->values[i]));
            assert_memory_equal(&back, &r.st->values[i], 4);
        }
        /* the pass's error is against the half values it was given */
        double ss = 0, se = 0;
        for (int i = 0; i < 256; i++) {
            double a = nnz_half_to_float(h[i]), b = r.st->values[i];
            ss += a * a;
            se += (a - b) * (a - b);
        }
        assert_true(fabs(num(r.q, "rel_l2") - sqrt(se / ss)) <= 1e-12);
        run_free(&r);
    }
}

/* ---- data-aware rounding (quantize_gptq.c) ------------------------------ */

/* A Gemm-like layer y = W x on inputs whose features are strongly
 * correlated (mixtures of 4 sources plus a little noise): GPTQ's codes, on
 * the same per-row 4-bit steps as round-to-nearest, give a smaller output
 * error ||X (W - Wq)^T||, and every value is scale * (code - zero point)
 * with the code in range (the grid the blob stores). */
static void gptq_beats_nearest_on_correlated_inputs_and_stays_on_the_grid(void **state)
{
    (void)state;
    enum { R = 8, C = 32, M = 400, S = 4 };
    static float X[M * C], W[R * C], H[C * C], Wp[R * C], err[R * 128], mix[S * C];
    static uint32_t codes[R * C];
    size_t perm[C];
    float scale[R];
    uint32_t zp[R];
    uint64_t seed = 12345;
#define RND() ((double)((seed = seed * 6364136223846793005ull + 1442695040888963407ull) >> 11) / 9007199254740992.0 - 0.5)
    for (size_t i = 0; i < S * C; i++)
        mix[i] = (float)RND();
    for (size_t m = 0; m < M; m++) {
        float src[S];
        for (int k = 0; k < S; k++)
            src[k] = (float)RND() * 4;
        for (size_t c = 0; c < C; c++) {
            double v = 0.02 * RND();
            for (int k = 0; k < S; k++)
                v += src[k] * mix[k * C + c];
            X[m * C + c] = (float)v;
        }
    }
    for (size_t i = 0; i < R * C; i++)
        W[i] = (float)RND();
    for (size_t r = 0; r < R; r++) {
        float amax = 0;
        for (size_t c = 0; c < C; c++)
            amax = fmaxf(amax, fabsf(W[r * C + c]));
        scale[r] = amax / 7; /* 4-bit symmetric: codes 1..15 around 8 */
        zp[r] = 8;
    }
    for (size_t a = 0; a < C; a++)
        for (size_t b = 0; b < C; b++) {
            double h = 0;
            for (size_t m = 0; m < M; m++)
                h += (double)X[m * C + a] * X[m * C + b];
            H[a * C + b] = (float)h;
        }
    nnz_error e = { 0 };
    assert_int_equal(quantize_gptq_factor(H, C, 0.01, perm, &e), 0);
    for (size_t r = 0; r < R; r++)
        for (size_t j = 0; j < C; j++)
            Wp[r * C + j] = W[r * C + perm[j]];
    quantize_gptq_rows(H, C, Wp, R, scale, zp, 1, 15, NULL, codes, err);
    double e_gptq = 0, e_near = 0;
    for (size_t m = 0; m < M; m++)
        for (size_t r = 0; r < R; r++) {
            double dg = 0, dn = 0;
            for (size_t j = 0; j < C; j++) {
                size_t c = perm[j];
                float w = W[r * C + c];
                assert_true(codes[r * C + j] >= 1 && codes[r * C + j] <= 15);
                float qg = scale[r] * ((float)codes[r * C + j] - (float)zp[r]);
                float qn = scale[r] * rintf(w / scale[r]);
                dg += (double)(w - qg) * X[m * C + c];
                dn += (double)(w - qn) * X[m * C + c];
            }
            e_gptq += dg * dg;
            e_near += dn * dn;
        }
    /* measured: about a third of nearest's error; half is a safe bound */
    assert_true(e_gptq < 0.5 * e_near);
#undef RND
}

/* A column whose input is always zero (H row and column 0) does not break
 * the factorisation; its weights round to nearest. */
static void gptq_handles_an_input_that_is_never_seen(void **state)
{
    (void)state;
    float H[9] = { 4, 1, 0, 1, 3, 0, 0, 0, 0 }, W[3] = { 0.26f, -0.4f, 0.33f }, err[128];
    size_t perm[3];
    uint32_t codes[3], zp = 8;
    float s = 0.1f;
    nnz_error e = { 0 };
    assert_int_equal(quantize_gptq_factor(H, 3, 0.01, perm, &e), 0);
    assert_int_equal(perm[2], 2); /* the dead column last: diagonal 1 after the fix-up < 3, 4 */
    float Wp[3] = { W[perm[0]], W[perm[1]], W[perm[2]] };
    quantize_gptq_rows(H, 3, Wp, 1, &s, &zp, 1, 15, NULL, codes, err);
    assert_int_equal(codes[2], 8 + 3); /* 0.33 / 0.1 -> 3: nothing propagated into it */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(symmetric_int8_per_channel_scales_and_codes_are_hand_computed),
        cmocka_unit_test(affine_uint8_scale_and_zero_point_are_hand_computed),
        cmocka_unit_test(zero_decodes_to_exactly_zero_in_every_scheme_and_width),
        cmocka_unit_test(symmetric_codes_stay_within_plus_minus_qmax),
        cmocka_unit_test(a_constant_tensor_and_a_one_element_tensor_survive),
        cmocka_unit_test(the_channel_axis_follows_the_consuming_op),
        cmocka_unit_test(depthwise_convolutions_get_a_step_per_channel),
        cmocka_unit_test(a_dead_channel_does_not_coarsen_the_others),
        cmocka_unit_test(a_channel_far_below_the_others_keeps_its_own_grid_step),
        cmocka_unit_test(an_error_target_is_met_with_the_largest_step),
        cmocka_unit_test(rate_aware_rounding_lowers_the_entropy_within_one_step),
        cmocka_unit_test(kmeans_gives_back_ties_exactly_when_there_are_k_distinct_values),
        cmocka_unit_test(kmeans_is_deterministic_and_its_codebook_sorted),
        cmocka_unit_test(kmeans_keeps_an_exact_zero_centroid_for_pruned_tensors),
        cmocka_unit_test(kmeans_keeps_the_few_survivors_of_pruning_exactly),
        cmocka_unit_test(kmeans_with_more_centroids_than_distinct_values_is_refused),
        cmocka_unit_test(the_radix_sort_orders_floats_like_a_comparison_sort),
        cmocka_unit_test(fp16_rounds_to_nearest_even_and_clamps_overflow),
        cmocka_unit_test(bf16_rounds_to_nearest_even_and_clamps_what_would_overflow),
        cmocka_unit_test(biases_stay_float_unless_named_and_a_floor_is_asked_for),
        cmocka_unit_test(an_already_quantized_tensor_is_never_quantized_again),
        cmocka_unit_test(nan_and_inf_weights_are_refused_with_their_place),
        cmocka_unit_test(bad_options_are_refused_naming_what_is_valid),
        cmocka_unit_test(every_mode_decodes_through_the_runtime_as_the_pass_computed),
        cmocka_unit_test(a_float16_tensor_is_reported_as_the_runtime_decodes_it),
        cmocka_unit_test(gptq_beats_nearest_on_correlated_inputs_and_stays_on_the_grid),
        cmocka_unit_test(gptq_handles_an_input_that_is_never_seen),
    };
    return cmocka_run_group_tests_name("quantize", tests, NULL, NULL);
}
