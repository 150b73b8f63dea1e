/* test_model.c - loading ONNX models into the IR: where weights are found,
 * how their data is made canonical, and what the loader refuses. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "model.h"
#include "util_blob.h"
#include "wire.h"

/* ---- building models with protobuf-c ----------------------------------- */

typedef struct builder {
    Onnx__ModelProto m;
    Onnx__GraphProto g;
    Onnx__OperatorSetIdProto op, *ops;
    Onnx__TensorProto t[8], *tp[8];
    Onnx__NodeProto n[8], *np[8];
    Onnx__AttributeProto a[8], *ap[8];
    char *in[8][3], *out[8][1];
} builder;

static void b_init(builder *b)
{
    memset(b, 0, sizeof *b);
    tu_model_init(&b->m, &b->g, &b->op, &b->ops, 13, "main");
    b->g.initializer = b->tp;
    b->g.node = b->np;
}

/* Add a float initializer with raw data of `n` floats (NULL data: none). */
static Onnx__TensorProto *b_tensor(builder *b, const char *name, int64_t *dims, size_t ndims,
                                   const float *data, size_t n)
{
    size_t i = b->g.n_initializer++;
    Onnx__TensorProto *t = &b->t[i];
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = NNZ_DT_FLOAT;
    t->dims = dims;
    t->n_dims = ndims;
    if (data) {
        t->has_raw_data = 1;
        t->raw_data.data = (uint8_t *)data;
        t->raw_data.len = n * 4;
    }
    b->tp[i] = t;
    return t;
}

static Onnx__NodeProto *b_node(builder *b, const char *op, const char *in0, const char *in1,
                               const char *out)
{
    size_t i = b->g.n_node++;
    Onnx__NodeProto *n = &b->n[i];
    onnx__node_proto__init(n);
    n->op_type = (char *)op;
    b->in[i][0] = (char *)in0;
    b->in[i][1] = (char *)in1;
    n->input = b->in[i];
    n->n_input = in1 ? 2 : 1;
    b->out[i][0] = (char *)out;
    n->output = b->out[i];
    n->n_output = 1;
    b->np[i] = n;
    return n;
}

static uint8_t *b_pack(builder *b, size_t *len)
{
    *len = onnx__model_proto__get_packed_size(&b->m);
    uint8_t *p = malloc(*len);
    onnx__model_proto__pack(&b->m, p);
    return p;
}

/* Load; returns the model or NULL with the message in `e`. */
static nnz_model *load(builder *b, const char *dir, nnz_error *e)
{
    size_t len;
    uint8_t *p = b_pack(b, &len);
    nnz_model *m = NULL;
    memset(e, 0, sizeof *e);
    nnz_model_load_bytes(p, len, "t.onnx", dir, &m, e);
    free(p);
    return m;
}

static void expect_refused(builder *b, const char *dir, const char *needle)
{
    nnz_error e;
    nnz_model *m = load(b, dir, &e);
    if (m)
        fail_msg("loaded, expected an error containing '%s'", needle);
    assert_int_equal(e.code, NNZ_EXIT_INPUT);
    if (!strstr(e.msg, needle))
        fail_msg("message '%s' lacks '%s'", e.msg, needle);
}

/* ---- where weights are found -------------------------------------------- */

static void initializers_and_constants_in_subgraphs_are_all_found(void **state)
{
    builder b, sub;
    b_init(&b);
    b_init(&sub);
    int64_t d4[1] = { 4 };
    float v[4] = { 1, 2, 3, 4 };
    b_tensor(&b, "w", d4, 1, v, 4);
    b_node(&b, "Add", "x", "w", "y");
    /* a Constant node in the main graph */
    Onnx__NodeProto *c = b_node(&b, "Constant", NULL, NULL, "c");
    c->n_input = 0;
    Onnx__TensorProto ct = ONNX__TENSOR_PROTO__INIT;
    ct.has_data_type = 1;
    ct.data_type = NNZ_DT_FLOAT;
    ct.dims = d4;
    ct.n_dims = 1;
    ct.has_raw_data = 1;
    ct.raw_data.data = (uint8_t *)v;
    ct.raw_data.len = 16;
    Onnx__AttributeProto at = ONNX__ATTRIBUTE_PROTO__INIT, *atp = &at;
    at.name = "value";
    at.t = &ct;
    at.has_type = 1;
    at.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
    c->n_attribute = 1;
    c->attribute = &atp;
    /* an If whose branch has its own initializer named like the outer one */
    sub.g.name = "then";
    b_tensor(&sub, "w", d4, 1, v, 4);
    b_node(&sub, "Mul", "y", "w", "z");
    Onnx__NodeProto *iff = b_node(&b, "If", "cond", NULL, "out");
    Onnx__AttributeProto ag = ONNX__ATTRIBUTE_PROTO__INIT, *agp = &ag;
    ag.name = "then_branch";
    ag.g = &sub.g;
    iff->n_attribute = 1;
    iff->attribute = &agp;

    nnz_error e;
    nnz_model *m = load(&b, NULL, &e);
    assert_non_null(m);
    assert_int_equal(m->ntensors, 3);
    assert_string_equal(m->tensors[0].name, "w");
    assert_int_equal(m->tensors[0].loc, NNZ_LOC_INITIALIZER);
    assert_string_equal(m->tensors[1].name, "c");
    assert_int_equal(m->tensors[1].loc, NNZ_LOC_CONSTANT);
    assert_string_equal(m->tensors[2].name, "w~2"); /* unique in the blob */
    assert_int_equal(m->tensors[2].graph_depth, 1);
    assert_string_equal(m->tensors[0].consumer->op_type, "Add");
    assert_int_equal(m->tensors[0].consumer_slot, 1);
    assert_int_equal(nnz_model_param_count(m), 12);
    nnz_model_free(m);
}

static void typed_fields_become_little_endian_raw_data(void **state)
{
    builder b;
    b_init(&b);
    int64_t d3[1] = { 3 };
    Onnx__TensorProto *t = b_tensor(&b, "f", d3, 1, NULL, 0);
    float fd[3] = { 1.5f, -2.0f, 0.25f };
    t->float_data = fd;
    t->n_float_data = 3;
    Onnx__TensorProto *h = b_tensor(&b, "h", d3, 1, NULL, 0);
    h->data_type = NNZ_DT_FLOAT16;
    int32_t hd[3] = { 0x3c00, 0xc000, 0x3400 }; /* 1, -2, 0.25 as halves */
    h->int32_data = hd;
    h->n_int32_data = 3;
    Onnx__TensorProto *q = b_tensor(&b, "q", d3, 1, NULL, 0);
    q->data_type = NNZ_DT_INT8;
    int32_t qd[3] = { -128, 0, 127 };
    q->int32_data = qd;
    q->n_int32_data = 3;
    nnz_error e;
    nnz_model *m = load(&b, NULL, &e);
    assert_non_null(m);
    nnz_error e2 = { 0 };
    for (int i = 0; i < 2; i++) {
        assert_int_equal(m->tensors[i].storage, NNZ_STORE_TYPED);
        float *v = nnz_tensor_floats(m, &m->tensors[i], &e2);
        assert_non_null(v);
        assert_true(v[0] == 1.5f - (float)i * 0.5f && v[1] == -2.0f && v[2] == 0.25f);
        free(v);
    }
    assert_int_equal(m->tensors[1].proto->raw_data.len, 6);
    const uint8_t *qb = nnz_tensor_data(m, &m->tensors[2], &e2);
    assert_int_equal(qb[0], 0x80);
    assert_int_equal(qb[1], 0);
    assert_int_equal(qb[2], 0x7f);
    assert_int_equal(m->tensors[2].nbytes, 3);
    nnz_model_free(m);
}

/* ---- what is refused ----------------------------------------------------- */

static void data_of_the_wrong_length_is_refused(void **state)
{
    builder b;
    b_init(&b);
    int64_t d[1] = { 4 };
    float v[3] = { 0 };
    b_tensor(&b, "w", d, 1, v, 3);
    expect_refused(&b, NULL, "raw_data holds 12 bytes, its dims and type (float) need 16");
}

static void negative_dims_are_refused(void **state)
{
    builder b;
    b_init(&b);
    int64_t d[2] = { 2, -2 };
    b_tensor(&b, "w", d, 2, NULL, 0);
    expect_refused(&b, NULL, "dim 1 is negative (-2)");
}

static void dims_whose_product_overflows_are_refused(void **state)
{
    builder b;
    b_init(&b);
    int64_t d[3] = { 1ll << 42, 1ll << 42, 2 };
    float v[1] = { 0 };
    b_tensor(&b, "w", d, 3, v, 1);
    expect_refused(&b, NULL, "overflows");
    builder b2;
    b_init(&b2);
    int64_t d2[1] = { (1ll << 42) + 1 }; /* fits, but x4 bytes passes the tensor limit */
    b_tensor(&b2, "w", d2, 1, v, 1);
    expect_refused(&b2, NULL, "tensor limit");
}

static void too_many_dims_are_refused(void **state)
{
    builder b;
    b_init(&b);
    int64_t d[40];
    for (int i = 0; i < 40; i++)
        d[i] = 1;
    float v[1] = { 0 };
    b_tensor(&b, "w", d, 40, v, 1);
    expect_refused(&b, NULL, "has 40 dims; the limit is 32");
}

static void elements_without_data_are_refused(void **state)
{
    builder b;
    b_init(&b);
    int64_t d[1] = { 4 };
    b_tensor(&b, "w", d, 1, NULL, 0);
    expect_refused(&b, NULL, "has 4 elements but no data");
}

static void data_in_two_places_is_refused(void **state)
{
    builder b;
    b_init(&b);
    int64_t d[1] = { 1 };
    float v[1] = { 1 };
    Onnx__TensorProto *t = b_tensor(&b, "w", d, 1, v, 1);
    t->float_data = v;
    t->n_float_data = 1;
    expect_refused(&b, NULL, "more than one place");
}

static void an_initializer_named_twice_is_refused(void **state)
{
    builder b;
    b_init(&b);
    int64_t d[1] = { 1 };
    float v[1] = { 1 };
    b_tensor(&b, "w", d, 1, v, 1);
    b_tensor(&b, "w", d, 1, v, 1);
    expect_refused(&b, NULL, "tensor 'w' is defined twice");
}

static void an_empty_tensor_is_fine(void **state)
{
    builder b;
    b_init(&b);
    int64_t d[2] = { 0, 5 };
    b_tensor(&b, "w", d, 2, NULL, 0);
    nnz_error e;
    nnz_model *m = load(&b, NULL, &e);
    assert_non_null(m);
    assert_int_equal(m->tensors[0].count, 0);
    assert_int_equal(m->tensors[0].storage, NNZ_STORE_EMPTY);
    nnz_model_free(m);
}

/* ---- external data ------------------------------------------------------ */

static char tmpdir[64];

static int make_dir(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/nnz_test_model.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char p[128];
    snprintf(p, sizeof p, "%s/w.bin", tmpdir);
    FILE *f = fopen(p, "wb");
    float v[8] = { 9, 9, 1, 2, 3, 4, 9, 9 };
    fwrite(v, 4, 8, f);
    fclose(f);
    snprintf(p, sizeof p, "%s/sub", tmpdir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/sub/escape", tmpdir);
    assert_int_equal(symlink("/etc/passwd", p), 0);
    return 0;
}

static int remove_dir(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void external(builder *b, Onnx__StringStringEntryProto *kv, Onnx__StringStringEntryProto **kvp,
                     const char *loc, const char *off, const char *len)
{
    static int64_t d[1] = { 4 };
    Onnx__TensorProto *t = b_tensor(b, "w", d, 1, NULL, 0);
    const char *k[3] = { "location", "offset", "length" }, *v[3] = { loc, off, len };
    for (int i = 0; i < 3; i++) {
        onnx__string_string_entry_proto__init(&kv[i]);
        kv[i].key = (char *)k[i];
        kv[i].value = (char *)v[i];
        kvp[i] = &kv[i];
    }
    t->external_data = kvp;
    t->n_external_data = len ? 3 : 2;
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
}

static void external_data_is_read_from_inside_the_folder(void **state)
{
    builder b;
    Onnx__StringStringEntryProto kv[3], *kvp[3];
    b_init(&b);
    external(&b, kv, kvp, "w.bin", "8", "16");
    nnz_error e;
    nnz_model *m = load(&b, tmpdir, &e);
    if (!m)
        fail_msg("%s", e.msg);
    assert_int_equal(m->tensors[0].storage, NNZ_STORE_EXTERNAL);
    assert_true(nnz_tensor_is_deferred(&m->tensors[0]));
    float *v = nnz_tensor_floats(m, &m->tensors[0], &e);
    assert_true(v[0] == 1 && v[1] == 2 && v[2] == 3 && v[3] == 4);
    free(v);
    nnz_model_free(m);
}

static void external_data_outside_the_folder_is_refused(void **state)
{
    static const struct { const char *loc, *off, *why; } cases[] = {
        { "../w.bin", "0", "leaves the model's folder" },
        { "/etc/passwd", "0", "leaves the model's folder" },
        { "sub/../../w.bin", "0", "leaves the model's folder" },
        { "sub/escape", "0", "resolves outside the model's folder" },
        { "w.bin", "24", "past its end" },
        { "w.bin", "-4", "not a number" },
        { "missing.bin", "0", "No such file" },
        { "", "0", "no location" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        builder b;
        Onnx__StringStringEntryProto kv[3], *kvp[3];
        b_init(&b);
        external(&b, kv, kvp, cases[i].loc, cases[i].off, NULL);
        expect_refused(&b, tmpdir, cases[i].why);
    }
    builder b;
    Onnx__StringStringEntryProto kv[3], *kvp[3];
    b_init(&b);
    external(&b, kv, kvp, "w.bin", "0", "12");
    expect_refused(&b, tmpdir, "length 12, its dims need 16");
    b_init(&b);
    external(&b, kv, kvp, "w.bin", "0", "16");
    expect_refused(&b, NULL, "not read from a folder");
}

/* ---- the wire check ------------------------------------------------------ */

static void hostile_wire_bytes_are_refused_before_parsing(void **state)
{
    static const struct { const char *bytes; size_t len; const char *why; } cases[] = {
        { "\x3a\x05\x0a\x02", 4, "declares 5 bytes, only 2 remain" },   /* graph past the end */
        { "\x3a\xff\xff\xff\xff\x0f", 6, "declares" },                    /* 4 GiB graph */
        { "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12, "varint" }, /* 11-byte varint */
        { "\x0b\x0c", 2, "wire type 3" },                                 /* a group */
        { "\x38\x01", 2, "wire type 0, expected a length-delimited message" }, /* graph as int */
        { "\x00", 1, "invalid field number 0" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nnz_error e = { 0 };
        uint64_t mem;
        assert_int_equal(nnz_wire_check((const uint8_t *)cases[i].bytes, cases[i].len,
                                        &onnx__model_proto__descriptor, &mem, &e), -1);
        if (!strstr(e.msg, cases[i].why))
            fail_msg("case %zu: '%s' lacks '%s'", i, e.msg, cases[i].why);
    }
}

static void deep_nesting_is_refused_without_recursing_into_it(void **state)
{
    /* graph { node { attribute { g { node { ... 10,000 levels deep, built
     * from the inside out as length-prefixed fields */
    size_t cap = 10000 * 3 * 6 + 64, len = 0;
    uint8_t *buf = malloc(cap), *tmp = malloc(cap);
    const uint8_t tags[3] = { 0x32 /* attribute.g = 6 */, 0x2a /* node.attribute = 5 */,
                              0x0a /* graph.node = 1 */ };
    for (int level = 0; level < 10000 * 3; level++) {
        uint8_t tag = tags[level % 3];
        size_t n = 0;
        tmp[n++] = tag;
        size_t v = len;
        do {
            tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
            v >>= 7;
        } while (v);
        memcpy(tmp + n, buf, len);
        len += n;
        memcpy(buf, tmp, len);
    }
    /* wrap as ModelProto.graph (field 7) */
    uint8_t *model = malloc(len + 16);
    size_t n = 0;
    model[n++] = 0x3a;
    size_t v = len;
    do {
        model[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    memcpy(model + n, buf, len);
    nnz_model *m = NULL;
    nnz_error e = { 0 };
    assert_int_equal(nnz_model_load_bytes(model, n + len, "deep", NULL, &m, &e), -1);
    free(buf);
    free(tmp);
    free(model);
    if (!strstr(e.msg, "nested more than"))
        fail_msg("%s", e.msg);
}

static void the_memory_estimate_counts_every_message(void **state)
{
    /* 100,000 empty nodes: 2 bytes each on the wire, ~200 bytes each parsed */
    size_t count = 100000, len = count * 2;
    uint8_t *graph = malloc(len);
    for (size_t i = 0; i < count; i++) {
        graph[2 * i] = 0x0a;
        graph[2 * i + 1] = 0;
    }
    uint64_t mem;
    nnz_error e = { 0 };
    assert_int_equal(nnz_wire_check(graph, len, &onnx__graph_proto__descriptor, &mem, &e), 0);
    assert_true(mem >= count * sizeof(Onnx__NodeProto));
    free(graph);
}

static void a_file_that_is_not_a_model_is_refused(void **state)
{
    nnz_model *m = NULL;
    nnz_error e = { 0 };
    /* a valid protobuf (field 1 = 8) without a graph */
    assert_int_equal(nnz_model_load_bytes((const uint8_t *)"\x08\x08", 2, "x", NULL, &m, &e), -1);
    assert_non_null(strstr(e.msg, "no graph"));
    assert_int_equal(nnz_model_load_bytes((const uint8_t *)"hello world!", 12, "x", NULL, &m, &e), -1);
    assert_int_equal(e.code, NNZ_EXIT_INPUT);
}

/* ---- channel axes ---------------------------------------------------------- */

static void the_channel_axis_follows_the_consuming_op(void **state)
{
    static const struct { const char *op; int slot; int ndims; int64_t trans; int axis; } cases[] = {
        { "Conv", 1, 4, -1, 0 },          { "ConvTranspose", 1, 4, -1, 1 },
        { "Gemm", 1, 2, 0, 1 },           { "Gemm", 1, 2, 1, 0 },
        { "MatMul", 1, 2, -1, 1 },        { "MatMul", 1, 3, -1, 2 },
        { "LSTM", 1, 3, -1, 1 },          { "Conv", 2, 1, -1, -1 }, /* a bias */
        { "Relu", 0, 2, -1, -1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Onnx__NodeProto n = ONNX__NODE_PROTO__INIT;
        Onnx__AttributeProto a = ONNX__ATTRIBUTE_PROTO__INIT, *ap = &a;
        n.op_type = (char *)cases[i].op;
        if (cases[i].trans >= 0) {
            a.name = "transB";
            a.has_i = 1;
            a.i = cases[i].trans;
            n.n_attribute = 1;
            n.attribute = &ap;
        }
        static const int64_t dims[4] = { 8, 4, 3, 3 };
        int got = nnz_op_channel_axis(&n, cases[i].slot, cases[i].ndims, dims);
        if (got != cases[i].axis)
            fail_msg("%s slot %d: axis %d, expected %d", cases[i].op, cases[i].slot, got,
                     cases[i].axis);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(initializers_and_constants_in_subgraphs_are_all_found),
        cmocka_unit_test(typed_fields_become_little_endian_raw_data),
        cmocka_unit_test(data_of_the_wrong_length_is_refused),
        cmocka_unit_test(negative_dims_are_refused),
        cmocka_unit_test(dims_whose_product_overflows_are_refused),
        cmocka_unit_test(too_many_dims_are_refused),
        cmocka_unit_test(elements_without_data_are_refused),
        cmocka_unit_test(data_in_two_places_is_refused),
        cmocka_unit_test(an_initializer_named_twice_is_refused),
        cmocka_unit_test(an_empty_tensor_is_fine),
        cmocka_unit_test_setup_teardown(external_data_is_read_from_inside_the_folder, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(external_data_outside_the_folder_is_refused, make_dir, remove_dir),
        cmocka_unit_test(hostile_wire_bytes_are_refused_before_parsing),
        cmocka_unit_test(deep_nesting_is_refused_without_recursing_into_it),
        cmocka_unit_test(the_memory_estimate_counts_every_message),
        cmocka_unit_test(a_file_that_is_not_a_model_is_refused),
        cmocka_unit_test(the_channel_axis_follows_the_consuming_op),
    };
    return cmocka_run_group_tests_name("model", tests, NULL, NULL);
}
