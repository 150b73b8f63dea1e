/* util_blob.c - see util_blob.h. */
#include "util_blob.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blob.h"
#include "nnz.h"

uint8_t *tu_model_bytes(int nweights, int k, size_t *len)
{
    Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
    Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
    Onnx__OperatorSetIdProto op = ONNX__OPERATOR_SET_ID_PROTO__INIT, *ops = &op;
    m.has_ir_version = 1;
    m.ir_version = 8;
    op.domain = "";
    op.has_version = 1;
    op.version = 13;
    m.n_opset_import = 1;
    m.opset_import = &ops;
    m.graph = &g;
    g.name = "g";
    Onnx__TensorProto *ts = calloc((size_t)nweights, sizeof *ts);
    Onnx__TensorProto **tp = calloc((size_t)nweights, sizeof *tp);
    Onnx__NodeProto *ns = calloc((size_t)nweights, sizeof *ns);
    Onnx__NodeProto **np = calloc((size_t)nweights, sizeof *np);
    char (*names)[3][16] = calloc((size_t)nweights, sizeof *names);
    char **inputs = calloc((size_t)nweights * 2, sizeof *inputs);
    char **outputs = calloc((size_t)nweights, sizeof *outputs);
    int64_t dims[2] = { k, k };
    float *data = calloc((size_t)(nweights * k * k), sizeof *data);
    for (int i = 0; i < nweights; i++) {
        onnx__tensor_proto__init(&ts[i]);
        snprintf(names[i][0], 16, "w%d", i);
        snprintf(names[i][1], 16, i ? "y%d" : "x", i - 1);
        snprintf(names[i][2], 16, "y%d", i);
        ts[i].name = names[i][0];
        ts[i].has_data_type = 1;
        ts[i].data_type = 1;
        ts[i].n_dims = 2;
        ts[i].dims = dims;
        for (int j = 0; j < k * k; j++)
            data[i * k * k + j] = (float)((j * 37 + i * 11) % 23 - 11) / 8.0f;
        ts[i].has_raw_data = 1;
        ts[i].raw_data.data = (uint8_t *)&data[i * k * k];
        ts[i].raw_data.len = (size_t)(k * k) * 4;
        tp[i] = &ts[i];
        onnx__node_proto__init(&ns[i]);
        ns[i].op_type = "MatMul";
        inputs[2 * i] = names[i][1];
        inputs[2 * i + 1] = names[i][0];
        ns[i].n_input = 2;
        ns[i].input = &inputs[2 * i];
        outputs[i] = names[i][2];
        ns[i].n_output = 1;
        ns[i].output = &outputs[i];
        np[i] = &ns[i];
    }
    g.n_initializer = (size_t)nweights;
    g.initializer = tp;
    g.n_node = (size_t)nweights;
    g.node = np;
    *len = onnx__model_proto__get_packed_size(&m);
    uint8_t *out = malloc(*len);
    onnx__model_proto__pack(&m, out);
    free(ts); free(tp); free(ns); free(np); free(names); free(inputs); free(outputs);
    free(data);
    return out;
}

nnz_model *tu_load(const uint8_t *bytes, size_t len)
{
    nnz_model *m = NULL;
    nnz_error e = { 0 };
    int rc = nnz_model_load_bytes(bytes, len, "test", NULL, &m, &e);
    if (rc != 0)
        fail_msg("load failed: %s", e.msg);
    return m;
}

static char *test_metadata(void *ctx, nnz_error *e)
{
    (void)ctx;
    return nnz_strdup("{\"tool\":\"unit test\"}", e);
}

uint8_t *tu_blob(nnz_model *m, size_t *len)
{
    FILE *f = tmpfile();
    nnz_blob_stats st;
    nnz_error e = { 0 };
    nnz_blob_writer w = { .metadata = test_metadata };
    assert_non_null(f);
    if (nnz_blob_write(m, &w, f, &st, &e) != 0)
        fail_msg("blob write failed: %s", e.msg);
    free(st.tensor_bytes);
    free(st.is_entry);
    long n = ftell(f);
    uint8_t *b = malloc((size_t)n);
    rewind(f);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

void tu_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void tu_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t tu_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t tu_get64(const uint8_t *p) { return tu_get32(p) | (uint64_t)tu_get32(p + 4) << 32; }

size_t tu_section(const uint8_t *blob, uint32_t type, uint64_t *off, uint64_t *len)
{
    uint32_t n = tu_get32(blob + 24);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *s = blob + 64 + 32 * i;
        if (tu_get32(s) == type) {
            *off = tu_get64(s + 8);
            *len = tu_get64(s + 16);
            return 64 + 32 * (size_t)i;
        }
    }
    fail_msg("no section of type %u", type);
    return 0;
}

void tu_fix_crcs(uint8_t *blob, size_t len)
{
    uint32_t n = tu_get32(blob + 24);
    for (uint32_t i = 0; i < n && 64 + 32 * (size_t)(i + 1) <= len; i++) {
        uint8_t *s = blob + 64 + 32 * i;
        uint64_t off = tu_get64(s + 8), l = tu_get64(s + 16);
        if (off <= len && l <= len - off)
            tu_put32(s + 24, nnz_crc32(0, blob + off, (size_t)l));
    }
    if (64 + 32 * (size_t)n <= len)
        tu_put32(blob + 28, nnz_crc32(0, blob + 64, 32 * (size_t)n));
    tu_put32(blob + 60, nnz_crc32(0, blob, 60));
}
