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
#include "encode.h"
#include "nnz.h"

void tu_model_init(Onnx__ModelProto *m, Onnx__GraphProto *g, Onnx__OperatorSetIdProto *op,
                   Onnx__OperatorSetIdProto **ops, int64_t opset, const char *graph_name)
{
    onnx__model_proto__init(m);
    onnx__graph_proto__init(g);
    onnx__operator_set_id_proto__init(op);
    m->has_ir_version = 1;
    m->ir_version = 8;
    op->domain = "";
    op->has_version = 1;
    op->version = opset;
    *ops = op;
    m->n_opset_import = 1;
    m->opset_import = ops;
    m->graph = g;
    g->name = (char *)graph_name;
}

int tu_long_node_names;

uint8_t *tu_matmul_model(int nweights, const int64_t (*dims)[2], int fp16,
                         float (*value)(void *ctx, int w, size_t j), void *ctx, size_t *len)
{
    Onnx__ModelProto m;
    Onnx__GraphProto g;
    Onnx__OperatorSetIdProto op, *ops;
    tu_model_init(&m, &g, &op, &ops, 13, "g");
    size_t nw = (size_t)nweights, es = fp16 ? 2 : 4;
    Onnx__TensorProto *ts = calloc(nw, sizeof *ts), **tp = calloc(nw, sizeof *tp);
    Onnx__NodeProto *ns = calloc(nw, sizeof *ns), **np = calloc(nw, sizeof *np);
    char (*names)[3][16] = calloc(nw, sizeof *names);
    char (*node_names)[64] = calloc(nw, sizeof *node_names);
    char **inputs = calloc(nw * 2, sizeof *inputs), **outputs = calloc(nw, sizeof *outputs);
    uint8_t **data = calloc(nw, sizeof *data);
    for (int i = 0; i < nweights; i++) {
        size_t n = (size_t)(dims[i][0] * dims[i][1]);
        onnx__tensor_proto__init(&ts[i]);
        snprintf(names[i][0], 16, "w%d", i);
        snprintf(names[i][1], 16, i ? "y%d" : "x", i - 1);
        snprintf(names[i][2], 16, "y%d", i);
        ts[i].name = names[i][0];
        ts[i].has_data_type = 1;
        ts[i].data_type = fp16 ? NNZ_DT_FLOAT16 : NNZ_DT_FLOAT;
        ts[i].n_dims = 2;
        ts[i].dims = (int64_t *)dims[i];
        data[i] = malloc(n * es);
        for (size_t j = 0; j < n; j++) {
            float f = value(ctx, i, j);
            uint16_t h = nnz_float_to_half(f);
            memcpy(data[i] + es * j, fp16 ? (void *)&h : (void *)&f, es);
        }
        ts[i].has_raw_data = 1;
        ts[i].raw_data.data = data[i];
        ts[i].raw_data.len = n * es;
        tp[i] = &ts[i];
        onnx__node_proto__init(&ns[i]);
        ns[i].op_type = "MatMul";
        if (tu_long_node_names) {
            snprintf(node_names[i], 64, "StatefulPartitionedCall/model/layer_%d/dense/MatMul", i);
            ns[i].name = node_names[i];
        }
        inputs[2 * i] = names[i][1];
        inputs[2 * i + 1] = names[i][0];
        ns[i].n_input = 2;
        ns[i].input = &inputs[2 * i];
        outputs[i] = names[i][2];
        ns[i].n_output = 1;
        ns[i].output = &outputs[i];
        np[i] = &ns[i];
    }
    g.n_initializer = nw;
    g.initializer = tp;
    g.n_node = nw;
    g.node = np;
    *len = onnx__model_proto__get_packed_size(&m);
    uint8_t *out = malloc(*len);
    onnx__model_proto__pack(&m, out);
    for (size_t i = 0; i < nw; i++)
        free(data[i]);
    free(data); free(ts); free(tp); free(ns); free(np); free(names); free(inputs); free(outputs);
    free(node_names);
    return out;
}

/* tu_model_bytes' fixed pattern. */
static float pattern(void *ctx, int w, size_t j)
{
    (void)ctx;
    return (float)(((int)j * 37 + w * 11) % 23 - 11) / 8.0f;
}

uint8_t *tu_model_bytes(int nweights, int k, size_t *len)
{
    int64_t (*dims)[2] = calloc((size_t)nweights, sizeof *dims);
    for (int i = 0; i < nweights; i++)
        dims[i][0] = dims[i][1] = k;
    uint8_t *out = tu_matmul_model(nweights, (const int64_t (*)[2])dims, 0, pattern, NULL, len);
    free(dims);
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

uint8_t *tu_model_tensor(int dtype, const int64_t *dims, int ndims, size_t *len)
{
    Onnx__ModelProto m;
    Onnx__GraphProto g;
    Onnx__OperatorSetIdProto op, *ops;
    Onnx__TensorProto t = ONNX__TENSOR_PROTO__INIT, *tp = &t;
    Onnx__NodeProto node = ONNX__NODE_PROTO__INIT, *np = &node;
    Onnx__ValueInfoProto out = ONNX__VALUE_INFO_PROTO__INIT, *outp = &out;
    char *in_names[] = { "w" }, *out_names[] = { "y" };
    tu_model_init(&m, &g, &op, &ops, 13, "g");
    size_t count = 1, es = nnz_dtype_size(dtype);
    for (int i = 0; i < ndims; i++)
        count *= (size_t)dims[i];
    uint8_t *data = calloc(count * es + 1, 1);
    t.name = "w";
    t.has_data_type = 1;
    t.data_type = dtype;
    t.n_dims = (size_t)ndims;
    t.dims = (int64_t *)dims;
    t.has_raw_data = 1;
    t.raw_data.data = data;
    t.raw_data.len = count * es;
    g.n_initializer = 1;
    g.initializer = &tp;
    node.op_type = "Identity";
    node.n_input = 1;
    node.input = in_names;
    node.n_output = 1;
    node.output = out_names;
    g.n_node = 1;
    g.node = &np;
    out.name = "y";
    g.n_output = 1;
    g.output = &outp;
    *len = onnx__model_proto__get_packed_size(&m);
    uint8_t *bytes = malloc(*len);
    onnx__model_proto__pack(&m, bytes);
    free(data);
    return bytes;
}

typedef struct states_ctx {
    nnz_state *const *states;
    cJSON **reports;
    const nnz_encoded *x;
} states_ctx;

static int encode_state(void *vctx, nnz_model *m, size_t i, nnz_encoded *out, nnz_error *e)
{
    states_ctx *c = vctx;
    if (c->x) {
        if (i != 0)
            return 0;
        *out = *c->x;
        out->params = malloc(c->x->params_len + 1);
        out->payload = malloc(c->x->payload_len + 1);
        memcpy(out->params, c->x->params, c->x->params_len);
        memcpy(out->payload, c->x->payload, c->x->payload_len);
        return 0;
    }
    if (!c->states[i])
        return 0;
    cJSON *rep = cJSON_CreateObject();
    int rc = nnz_encode_tensor(&m->tensors[i], c->states[i], rep, out, e);
    if (c->reports)
        c->reports[i] = rep;
    else
        cJSON_Delete(rep);
    return rc;
}

static int force_all(void *ctx, const nnz_model *m, size_t i)
{
    (void)ctx;
    (void)m;
    (void)i;
    return 1;
}

int tu_format_major;

uint8_t *tu_blob_with(nnz_model *m, nnz_blob_writer w, size_t *len)
{
    FILE *f = tmpfile();
    if (!w.format_major)
        w.format_major = tu_format_major;
    nnz_blob_stats st;
    nnz_error e = { 0 };
    assert_non_null(f);
    if (nnz_blob_write(m, &w, f, &st, &e) != 0)
        fail_msg("blob write failed: %s", e.msg);
    free(st.tensor_bytes);
    free(st.is_entry);
    free(st.alias_of);
    free(st.table_of);
    free(st.shared_coding);
    free(st.payload_len);
    long n = ftell(f);
    uint8_t *b = malloc((size_t)n);
    rewind(f);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

uint8_t *tu_blob(nnz_model *m, size_t *len)
{
    return tu_blob_with(m, (nnz_blob_writer){ .metadata = test_metadata }, len);
}

uint8_t *tu_blob_dirnames(nnz_model *m, size_t *len)
{
    return tu_blob_with(m, (nnz_blob_writer){ .metadata = test_metadata, .names_in_directory = 1 },
                        len);
}

uint8_t *tu_blob_states(nnz_model *m, nnz_state *const *states, cJSON **reports, size_t *len)
{
    states_ctx c = { states, reports, NULL };
    return tu_blob_with(m, (nnz_blob_writer){ .encode = encode_state, .metadata = test_metadata,
                                            .force_entry = force_all, .ctx = &c }, len);
}

uint8_t *tu_blob_encoded(nnz_model *m, const nnz_encoded *x, size_t *len)
{
    states_ctx c = { NULL, NULL, x };
    return tu_blob_with(m, (nnz_blob_writer){ .encode = encode_state, .metadata = test_metadata,
                                            .force_entry = force_all, .ctx = &c }, len);
}

static uint64_t varint_at(const uint8_t **p)
{
    uint64_t v = 0;
    for (unsigned s = 0;; s += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80))
            return v;
    }
}

uint64_t tu_entry_params_len(const uint8_t *blob, uint32_t index)
{
    uint64_t off, len;
    tu_section(blob, 1, &off, &len);
    const uint8_t *dir = blob + off, *p;
    if (tu_get32(blob + 8) % 65536 == 1) { /* format 1: an offset per entry */
        p = dir + tu_get32(dir + 4 + 4 * (size_t)index);
        p += varint_at(&p) + 1; /* name and its NUL */
        p++;                    /* dtype */
        unsigned ndims = *p++;
        for (unsigned i = 0; i < ndims; i++)
            varint_at(&p);
        p++;                    /* location */
        varint_at(&p);          /* graph_offset */
        varint_at(&p);          /* payload_offset */
        varint_at(&p);          /* payload_length */
        p += 2;                 /* encoding, version */
        return varint_at(&p);
    }
    /* format 2: an offset per run of 16, entries one after another */
    p = dir + tu_get32(dir + 4 + 4 * (size_t)(index / 16));
    for (uint32_t k = index & ~15u;; k++) {
        unsigned loc = *p++;
        varint_at(&p);          /* graph_offset */
        if (loc & 0x20) {
            varint_at(&p);      /* back: name, type and shape in the graph */
        } else {
            p += varint_at(&p) + 1;
            p++;
            unsigned ndims = *p++;
            for (unsigned i = 0; i < ndims; i++)
                varint_at(&p);
        }
        if (k % 16 == 0)
            varint_at(&p);      /* payload_offset / 64 */
        varint_at(&p);          /* payload_length */
        p++;                    /* encoding | version << 4 */
        uint64_t n = varint_at(&p);
        if (k == index)
            return n;
        p += n;
    }
}
