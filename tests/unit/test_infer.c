/* test_infer.c - the interpreter's public API (src/infer/infer.h): a run
 * computes what the graph says, weights can be replaced in place between
 * runs, the hook sees every node's activations, and misuse is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "infer.h"
#include "model.h"
#include "util_blob.h"

/* y = Relu(x[2,3] @ w[3,2] + b[2]) */
static float W0[6] = { 1, -2, 0.5f, 3, -1, 0.25f };
static float B0[2] = { 0.5f, -1 };

static uint8_t *model_bytes(size_t *len)
{
    Onnx__ModelProto m;
    Onnx__GraphProto g;
    Onnx__OperatorSetIdProto op, *ops;
    tu_model_init(&m, &g, &op, &ops, 13, "g");
    static int64_t wd[2] = { 3, 2 }, bd[1] = { 2 }, xd[2] = { 2, 3 };
    Onnx__TensorProto w = ONNX__TENSOR_PROTO__INIT, b = ONNX__TENSOR_PROTO__INIT, *inits[2] = { &w, &b };
    w.name = "w"; w.has_data_type = 1; w.data_type = NNZ_DT_FLOAT; w.n_dims = 2; w.dims = wd;
    w.has_raw_data = 1; w.raw_data.data = (uint8_t *)W0; w.raw_data.len = sizeof W0;
    b.name = "b"; b.has_data_type = 1; b.data_type = NNZ_DT_FLOAT; b.n_dims = 1; b.dims = bd;
    b.has_raw_data = 1; b.raw_data.data = (uint8_t *)B0; b.raw_data.len = sizeof B0;
    Onnx__NodeProto n[3] = { ONNX__NODE_PROTO__INIT, ONNX__NODE_PROTO__INIT, ONNX__NODE_PROTO__INIT };
    Onnx__NodeProto *np[3] = { &n[0], &n[1], &n[2] };
    char *in0[2] = { "x", "w" }, *in1[2] = { "xw", "b" }, *in2[1] = { "s" };
    char *out0[1] = { "xw" }, *out1[1] = { "s" }, *out2[1] = { "y" };
    n[0].op_type = "MatMul"; n[0].name = "mm"; n[0].n_input = 2; n[0].input = in0; n[0].n_output = 1; n[0].output = out0;
    n[1].op_type = "Add"; n[1].name = "add"; n[1].n_input = 2; n[1].input = in1; n[1].n_output = 1; n[1].output = out1;
    n[2].op_type = "Relu"; n[2].name = "relu"; n[2].n_input = 1; n[2].input = in2; n[2].n_output = 1; n[2].output = out2;
    Onnx__TensorShapeProto__Dimension d0 = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT, d1 = d0, *dp[2] = { &d0, &d1 };
    d0.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE; d0.dim_value = xd[0];
    d1.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE; d1.dim_value = xd[1];
    Onnx__TensorShapeProto shape = ONNX__TENSOR_SHAPE_PROTO__INIT;
    shape.n_dim = 2; shape.dim = dp;
    Onnx__TypeProto__Tensor tt = ONNX__TYPE_PROTO__TENSOR__INIT;
    tt.has_elem_type = 1; tt.elem_type = NNZ_DT_FLOAT; tt.shape = &shape;
    Onnx__TypeProto type = ONNX__TYPE_PROTO__INIT;
    type.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE; type.tensor_type = &tt;
    Onnx__ValueInfoProto xi = ONNX__VALUE_INFO_PROTO__INIT, yi = ONNX__VALUE_INFO_PROTO__INIT;
    Onnx__ValueInfoProto *xis[1] = { &xi }, *yis[1] = { &yi };
    xi.name = "x"; xi.type = &type;
    yi.name = "y";
    g.n_input = 1; g.input = xis; g.n_output = 1; g.output = yis;
    g.n_initializer = 2; g.initializer = inits; g.n_node = 3; g.node = np;
    *len = onnx__model_proto__get_packed_size(&m);
    uint8_t *out = malloc(*len);
    onnx__model_proto__pack(&m, out);
    return out;
}

static const float X0[6] = { 1, 2, 3, -1, 0.5f, 2 };

/* y computed here, for weights w and bias b */
static void reference(const float *w, const float *b, float *y)
{
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            float s = b[j];
            for (int k = 0; k < 3; k++)
                s += X0[i * 3 + k] * w[k * 2 + j];
            y[i * 2 + j] = s > 0 ? s : 0;
        }
}

static nnz_itensor x_tensor(void)
{
    nnz_itensor x = { .dtype = NNZ_DT_FLOAT, .ndims = 2, .dims = { 2, 3 }, .count = 6,
                      .data = (void *)X0, .bytes = sizeof X0, .borrowed = 1 };
    return x;
}

typedef struct seen {
    int calls;
    char ops[8][16];
    float mm_input[6];
    int stop_at;
} seen;

static int hook(void *ctx, const Onnx__NodeProto *node, int depth, const nnz_itensor *const *in,
                size_t nin, const nnz_itensor *const *out, size_t nout, nnz_error *e)
{
    seen *s = ctx;
    assert_int_equal(depth, 0);
    assert_true(nout == 1 && out[0]->data);
    if (s->calls < 8)
        snprintf(s->ops[s->calls], 16, "%s", node->op_type);
    if (strcmp(node->op_type, "MatMul") == 0 && nin == 2)
        memcpy(s->mm_input, in[0]->data, sizeof s->mm_input);
    s->calls++;
    if (s->stop_at && s->calls == s->stop_at)
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "enough");
    return 0;
}

static void run_computes_the_graph(void **state)
{
    (void)state;
    size_t len;
    uint8_t *bytes = model_bytes(&len);
    nnz_model *m = tu_load(bytes, len);
    nnz_infer *inf;
    nnz_error e = { 0 };
    assert_int_equal(nnz_infer_open(m, NULL, &inf, &e), 0);
    assert_int_equal(nnz_infer_ninputs(inf), 1);
    assert_null(nnz_infer_output(inf, 0));
    nnz_itensor x = x_tensor();
    assert_int_equal(nnz_infer_set_input(inf, "x", &x, &e), 0);
    assert_int_equal(nnz_infer_run(inf, &e), 0);
    const nnz_itensor *y = nnz_infer_output(inf, 0);
    float want[4];
    reference(W0, B0, want);
    assert_int_equal(y->ndims, 2);
    assert_int_equal(y->dims[0], 2);
    assert_int_equal(y->dims[1], 2);
    for (int i = 0; i < 4; i++)
        assert_float_equal(((float *)y->data)[i], want[i], 1e-6);
    nnz_infer_free(inf);
    nnz_model_free(m);
    free(bytes);
}

static void replaced_weights_change_the_next_run(void **state)
{
    (void)state;
    size_t len, n;
    uint8_t *bytes = model_bytes(&len);
    nnz_model *m = tu_load(bytes, len);
    nnz_infer *inf;
    nnz_error e = { 0 };
    assert_int_equal(nnz_infer_open(m, NULL, &inf, &e), 0);
    nnz_itensor x = x_tensor();
    assert_int_equal(nnz_infer_set_input(inf, "x", &x, &e), 0);
    float *w = nnz_infer_weight(inf, "w", &n), *b = nnz_infer_weight(inf, "b", NULL);
    assert_non_null(w);
    assert_non_null(b);
    assert_int_equal(n, 6);
    assert_null(nnz_infer_weight(inf, "xw", NULL)); /* an activation is no weight */
    float w2[6], b2[2] = { 10, 0 }, want[4];
    for (int i = 0; i < 6; i++)
        w2[i] = W0[i] * -0.5f;
    memcpy(w, w2, sizeof w2);
    memcpy(b, b2, sizeof b2);
    /* the inputs stay set: only the weights changed */
    assert_int_equal(nnz_infer_run(inf, &e), 0);
    reference(w2, b2, want);
    const nnz_itensor *y = nnz_infer_output(inf, 0);
    for (int i = 0; i < 4; i++)
        assert_float_equal(((float *)y->data)[i], want[i], 1e-6);
    /* the model's own tensor is untouched */
    float *orig = nnz_tensor_floats(m, nnz_model_find(m, "w"), &e);
    assert_memory_equal(orig, W0, sizeof W0);
    free(orig);
    nnz_infer_free(inf);
    nnz_model_free(m);
    free(bytes);
}

static void the_hook_sees_every_node(void **state)
{
    (void)state;
    size_t len;
    uint8_t *bytes = model_bytes(&len);
    nnz_model *m = tu_load(bytes, len);
    seen s = { 0 };
    nnz_infer_opts o = { .hook = hook, .hook_ctx = &s };
    nnz_infer *inf;
    nnz_error e = { 0 };
    assert_int_equal(nnz_infer_open(m, &o, &inf, &e), 0);
    nnz_itensor x = x_tensor();
    assert_int_equal(nnz_infer_set_input(inf, "x", &x, &e), 0);
    assert_int_equal(nnz_infer_run(inf, &e), 0);
    assert_int_equal(s.calls, 3);
    assert_string_equal(s.ops[0], "MatMul");
    assert_string_equal(s.ops[2], "Relu");
    assert_memory_equal(s.mm_input, X0, sizeof X0);
    /* a hook that says stop stops the run with its own error */
    s.calls = 0;
    s.stop_at = 2;
    assert_int_equal(nnz_infer_run(inf, &e), -1);
    assert_int_equal(e.code, NNZ_EXIT_INTERNAL);
    assert_non_null(strstr(e.msg, "enough"));
    assert_int_equal(s.calls, 2);
    assert_null(nnz_infer_output(inf, 0));
    nnz_infer_free(inf);
    nnz_model_free(m);
    free(bytes);
}

static void misuse_is_refused(void **state)
{
    (void)state;
    size_t len;
    uint8_t *bytes = model_bytes(&len);
    nnz_model *m = tu_load(bytes, len);
    nnz_infer *inf;
    nnz_error e = { 0 };
    assert_int_equal(nnz_infer_open(m, NULL, &inf, &e), 0);
    assert_int_equal(nnz_infer_run(inf, &e), -1);
    assert_int_equal(e.code, NNZ_EXIT_INPUT);
    assert_non_null(strstr(e.msg, "input 'x' was not given"));
    nnz_itensor x = x_tensor();
    x.dims[0] = 3;
    x.dims[1] = 2;
    memset(&e, 0, sizeof e);
    assert_int_equal(nnz_infer_set_input(inf, "x", &x, &e), -1);
    assert_non_null(strstr(e.msg, "dim 0 is 3; the model takes 2"));
    memset(&e, 0, sizeof e);
    assert_int_equal(nnz_infer_set_input(inf, "w", &x, &e), -1);
    assert_non_null(strstr(e.msg, "no input 'w'"));
    int64_t xi[6] = { 0 };
    nnz_itensor xint = { .dtype = NNZ_DT_INT64, .ndims = 2, .dims = { 2, 3 }, .count = 6,
                         .data = xi, .bytes = sizeof xi, .borrowed = 1 };
    memset(&e, 0, sizeof e);
    assert_int_equal(nnz_infer_set_input(inf, "x", &xint, &e), -1);
    assert_non_null(strstr(e.msg, "is int64; the model takes float"));
    nnz_infer_free(inf);
    nnz_model_free(m);
    free(bytes);
}

static void half_conversion_matches_known_values(void **state)
{
    (void)state;
    /* values with known half bits, including a subnormal and a tie */
    nnz_itensor t = { .dtype = NNZ_DT_FLOAT16 };
    const float f[] = { 1.0f, -2.5f, 65504.0f, 6.0e-8f, 1.0f + 1.0f / 2048, 70000.0f };
    const uint16_t h[] = { 0x3c00, 0xc100, 0x7bff, 0x0001, 0x3c00, 0x7c00 };
    float buf[6];
    memcpy(buf, f, sizeof f);
    t.ndims = 1;
    t.dims[0] = 6;
    t.count = 6;
    t.data = buf;
    t.bytes = sizeof buf;
    uint8_t *npy;
    size_t len;
    nnz_error e = { 0 };
    assert_int_equal(nnz_it_to_npy(&t, &npy, &len, &e), 0);
    for (int i = 0; i < 6; i++) {
        const uint8_t *p = npy + len - 12 + 2 * i;
        assert_int_equal(p[0] | (p[1] << 8), h[i]);
    }
    nnz_itensor back;
    assert_int_equal(nnz_it_from_npy(npy, len, &back, &e), 0);
    assert_int_equal(back.dtype, NNZ_DT_FLOAT16);
    assert_float_equal(((float *)back.data)[1], -2.5f, 0);
    assert_float_equal(((float *)back.data)[3], 5.9604645e-8f, 1e-12);
    nnz_it_free(&back);
    free(npy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(run_computes_the_graph),
        cmocka_unit_test(replaced_weights_change_the_next_run),
        cmocka_unit_test(the_hook_sees_every_node),
        cmocka_unit_test(misuse_is_refused),
        cmocka_unit_test(half_conversion_matches_known_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
