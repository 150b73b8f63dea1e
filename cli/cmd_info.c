/* cmd_info.c - `nnzip info`: describe an ONNX model or an .nnz blob. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "cli.h"
#include "encode.h"
#include "model.h"
#include "strmap.h"

static const char *loc_name(int loc)
{
    return (loc & 0x7f) == NNZ_LOC_CONSTANT ? "constant" : "initializer";
}

static cJSON *features_json(unsigned feat)
{
    cJSON *a = cJSON_CreateArray();
    for (unsigned k = 0; nnz_feature_names[k].bit; k++)
        if (feat & nnz_feature_names[k].bit)
            cJSON_AddItemToArray(a, cJSON_CreateString(nnz_feature_names[k].name));
    return a;
}

static const char *storage_name(nnz_storage s)
{
    static const char *n[] = { "raw", "typed", "external", "empty" };
    return n[s];
}

/* ---- ONNX models -------------------------------------------------------- */

static cJSON *value_info_json(const Onnx__ValueInfoProto *v)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", v->name ? v->name : "");
    const Onnx__TypeProto *t = v->type;
    if (t && t->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE && t->tensor_type) {
        cJSON_AddStringToObject(o, "dtype", nnz_dtype_name(t->tensor_type->elem_type));
        const Onnx__TensorShapeProto *s = t->tensor_type->shape;
        if (s) {
            cJSON *shape = cJSON_AddArrayToObject(o, "shape");
            for (size_t i = 0; i < s->n_dim; i++) {
                const Onnx__TensorShapeProto__Dimension *d = s->dim[i];
                if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
                    cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)d->dim_value));
                else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM)
                    cJSON_AddItemToArray(shape, cJSON_CreateString(d->dim_param));
                else
                    cJSON_AddItemToArray(shape, cJSON_CreateNull());
            }
        } else {
            cJSON_AddNullToObject(o, "shape");
        }
    } else {
        cJSON_AddStringToObject(o, "dtype", "non-tensor");
        cJSON_AddNullToObject(o, "shape");
    }
    return o;
}

typedef struct op_count {
    nnz_strmap map;
    const char **names;
    size_t *counts;
    size_t n, cap;
} op_count;

static void count_ops(op_count *c, const Onnx__GraphProto *g)
{
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        const char *op = n->op_type ? n->op_type : "";
        size_t k;
        if (nnz_strmap_get(&c->map, op, &k)) {
            c->counts[k]++;
        } else if (c->n < c->cap) {
            c->names[c->n] = op;
            c->counts[c->n] = 1;
            nnz_strmap_put(&c->map, op, c->n, NULL);
            c->n++;
        }
        for (size_t a = 0; a < n->n_attribute; a++) {
            if (n->attribute[a]->g)
                count_ops(c, n->attribute[a]->g);
            for (size_t k2 = 0; k2 < n->attribute[a]->n_graphs; k2++)
                count_ops(c, n->attribute[a]->graphs[k2]);
        }
    }
}

static size_t total_nodes(const Onnx__GraphProto *g)
{
    size_t n = g->n_node;
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t a = 0; a < g->node[i]->n_attribute; a++) {
            if (g->node[i]->attribute[a]->g)
                n += total_nodes(g->node[i]->attribute[a]->g);
            for (size_t k = 0; k < g->node[i]->attribute[a]->n_graphs; k++)
                n += total_nodes(g->node[i]->attribute[a]->graphs[k]);
        }
    return n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int is_initializer_input(const nnz_model *m, const char *name)
{
    const Onnx__GraphProto *g = m->proto->graph;
    for (size_t i = 0; i < g->n_initializer; i++)
        if (g->initializer[i]->name && strcmp(g->initializer[i]->name, name) == 0)
            return 1;
    return 0;
}

cJSON *info_model_json(const nnz_model *m)
{
    const Onnx__ModelProto *p = m->proto;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "file", m->path);
    cJSON_AddStringToObject(o, "kind", "onnx");
    cJSON_AddNumberToObject(o, "file_bytes", (double)m->file_size);
    cJSON_AddStringToObject(o, "sha256", m->sha256);
    cJSON_AddNumberToObject(o, "ir_version", (double)p->ir_version);
    cJSON_AddStringToObject(o, "producer_name", p->producer_name ? p->producer_name : "");
    cJSON_AddStringToObject(o, "producer_version", p->producer_version ? p->producer_version : "");
    cJSON_AddStringToObject(o, "domain", p->domain ? p->domain : "");
    cJSON_AddNumberToObject(o, "model_version", (double)p->model_version);
    cJSON *ops = cJSON_AddArrayToObject(o, "opsets");
    for (size_t i = 0; i < p->n_opset_import; i++) {
        cJSON *x = cJSON_CreateObject();
        const char *d = p->opset_import[i]->domain;
        cJSON_AddStringToObject(x, "domain", d && *d ? d : "ai.onnx");
        cJSON_AddNumberToObject(x, "version", (double)p->opset_import[i]->version);
        cJSON_AddItemToArray(ops, x);
    }
    const Onnx__GraphProto *g = p->graph;
    cJSON *in = cJSON_AddArrayToObject(o, "inputs");
    for (size_t i = 0; i < g->n_input; i++)
        if (!g->input[i]->name || !is_initializer_input(m, g->input[i]->name))
            cJSON_AddItemToArray(in, value_info_json(g->input[i]));
    cJSON *outs = cJSON_AddArrayToObject(o, "outputs");
    for (size_t i = 0; i < g->n_output; i++)
        cJSON_AddItemToArray(outs, value_info_json(g->output[i]));

    size_t nn = total_nodes(g);
    op_count c = { 0 };
    c.cap = nn;
    c.names = calloc(nn + 1, sizeof *c.names);
    c.counts = calloc(nn + 1, sizeof *c.counts);
    nnz_strmap_init(&c.map, nn, NULL);
    if (c.names && c.counts && c.map.cap)
        count_ops(&c, g);
    const char **sorted = calloc(c.n + 1, sizeof *sorted);
    cJSON *oc = cJSON_AddObjectToObject(o, "op_counts");
    if (sorted) {
        memcpy(sorted, c.names, c.n * sizeof *sorted);
        qsort(sorted, c.n, sizeof *sorted, cmp_str);
        for (size_t i = 0; i < c.n; i++) {
            size_t k;
            nnz_strmap_get(&c.map, sorted[i], &k);
            cJSON_AddNumberToObject(oc, sorted[i], (double)c.counts[k]);
        }
    }
    free(sorted);
    free(c.names);
    free(c.counts);
    nnz_strmap_free(&c.map);
    cJSON_AddNumberToObject(o, "nodes", (double)nn);

    cJSON *ts = cJSON_AddArrayToObject(o, "tensors");
    uint64_t params = 0, fparams = 0, bytes = 0, empty = 0;
    for (size_t i = 0; i < m->ntensors; i++) {
        const nnz_tensor *t = &m->tensors[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "name", t->name);
        cJSON_AddStringToObject(x, "dtype", nnz_dtype_name(t->dtype));
        cJSON *dims = cJSON_AddArrayToObject(x, "dims");
        for (int d = 0; d < t->ndims; d++)
            cJSON_AddItemToArray(dims, cJSON_CreateNumber((double)t->dims[d]));
        cJSON_AddNumberToObject(x, "elements", (double)t->count);
        cJSON_AddNumberToObject(x, "bytes", (double)t->nbytes);
        cJSON_AddNumberToObject(x, "stored_bytes", (double)t->stored_bytes);
        cJSON_AddStringToObject(x, "location", loc_name(t->loc));
        cJSON_AddBoolToObject(x, "subgraph", t->graph_depth > 0);
        cJSON_AddStringToObject(x, "storage", storage_name(t->storage));
        if (t->consumer) {
            cJSON_AddStringToObject(x, "consumer", t->consumer->op_type ? t->consumer->op_type : "");
            cJSON_AddNumberToObject(x, "slot", t->consumer_slot);
        } else {
            cJSON_AddNullToObject(x, "consumer");
            cJSON_AddNullToObject(x, "slot");
        }
        cJSON_AddNumberToObject(x, "consumers", t->n_consumers);
        if (nnz_tensor_is_weight(t)) { /* the compute op, maybe behind Slice, Reshape... */
            cJSON *w = cJSON_AddObjectToObject(x, "weight_of");
            cJSON_AddStringToObject(w, "op", t->weight_op->op_type);
            cJSON_AddNumberToObject(w, "slot", t->weight_slot);
            cJSON_AddNumberToObject(w, "hops", t->weight_hops);
            cJSON_AddNumberToObject(w, "axis", t->weight_axis);
            if (t->axis_note)
                cJSON_AddStringToObject(w, "note", t->axis_note);
        } else {
            cJSON_AddNullToObject(x, "weight_of");
        }
        if (nnz_tensor_is_codes(t)) { /* quantized before nnzip saw it: DequantizeLinear... */
            cJSON *w = cJSON_AddObjectToObject(x, "codes_of");
            cJSON_AddStringToObject(w, "op", t->weight_op->op_type);
            cJSON_AddNumberToObject(w, "slot", t->weight_slot);
            cJSON_AddNumberToObject(w, "hops", t->weight_hops);
            cJSON_AddNumberToObject(w, "axis", t->weight_axis);
        } else {
            cJSON_AddNullToObject(x, "codes_of");
        }
        cJSON_AddItemToArray(ts, x);
        params += t->count;
        bytes += t->nbytes;
        empty += t->nbytes == 0;
        if (nnz_dtype_is_float(t->dtype))
            fparams += t->count;
    }
    cJSON *tot = cJSON_AddObjectToObject(o, "totals");
    cJSON_AddNumberToObject(tot, "tensors", (double)m->ntensors);
    cJSON_AddNumberToObject(tot, "empty_tensors", (double)empty);
    cJSON_AddNumberToObject(tot, "parameters", (double)params);
    cJSON_AddNumberToObject(tot, "float_parameters", (double)fparams);
    cJSON_AddNumberToObject(tot, "bytes", (double)bytes);
    return o;
}

static void print_dims(const cJSON *dims, char *buf, size_t n)
{
    size_t at = 0;
    at += (size_t)snprintf(buf + at, n - at, "[");
    const cJSON *d;
    int first = 1;
    cJSON_ArrayForEach(d, dims)
    {
        if (at >= n)
            break;
        if (cJSON_IsString(d))
            at += (size_t)snprintf(buf + at, n - at, "%s%s", first ? "" : ",", d->valuestring);
        else if (cJSON_IsNull(d))
            at += (size_t)snprintf(buf + at, n - at, "%s?", first ? "" : ",");
        else
            at += (size_t)snprintf(buf + at, n - at, "%s%.0f", first ? "" : ",", d->valuedouble);
        first = 0;
    }
    if (at < n)
        snprintf(buf + at, n - at, "]");
}

static void info_model_text(const cJSON *o)
{
#define S(k) cJSON_GetObjectItem(o, k)->valuestring
#define N(k) cJSON_GetObjectItem(o, k)->valuedouble
    char dims[256];
    printf("%s: ONNX model, %.0f bytes, sha256 %s\n", cli_esc(S("file")), N("file_bytes"),
           S("sha256"));
    printf("  ir_version %.0f, producer '%s %s'\n", N("ir_version"), cli_esc(S("producer_name")),
           cli_esc(S("producer_version")));
    printf("  opsets:");
    const cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(o, "opsets"))
        printf(" %s %.0f", cli_esc(cJSON_GetObjectItem(x, "domain")->valuestring),
               cJSON_GetObjectItem(x, "version")->valuedouble);
    printf("\n");
    const char *io[2] = { "inputs", "outputs" };
    for (int k = 0; k < 2; k++)
        cJSON_ArrayForEach(x, cJSON_GetObjectItem(o, io[k]))
        {
            const cJSON *sh = cJSON_GetObjectItem(x, "shape");
            if (cJSON_IsArray(sh))
                print_dims(sh, dims, sizeof dims);
            else
                snprintf(dims, sizeof dims, "?");
            printf("  %-7s %s %s %s\n", k ? "output" : "input",
                   cli_esc(cJSON_GetObjectItem(x, "name")->valuestring),
                   cJSON_GetObjectItem(x, "dtype")->valuestring, dims);
        }
    printf("  %.0f nodes:", N("nodes"));
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(o, "op_counts"))
        printf(" %s %.0f", cli_esc(x->string), x->valuedouble);
    printf("\n");
    const cJSON *tot = cJSON_GetObjectItem(o, "totals");
    printf("  weights: %.0f tensors, %.0f parameters (%.0f float), %.0f bytes\n",
           cJSON_GetObjectItem(tot, "tensors")->valuedouble,
           cJSON_GetObjectItem(tot, "parameters")->valuedouble,
           cJSON_GetObjectItem(tot, "float_parameters")->valuedouble,
           cJSON_GetObjectItem(tot, "bytes")->valuedouble);
    double empty = cJSON_GetNumberValue(cJSON_GetObjectItem(tot, "empty_tensors"));
    if (empty > 0) /* the only tensors a blob's directory does not list */
        printf("  (%.0f of them empty: no data, so no entry in a blob; the graph keeps them)\n",
               empty);
    printf("\n  %-40s %-8s %-18s %10s %10s %-12s %s\n", "tensor", "dtype", "dims", "elements",
           "bytes", "where", "consumer");
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(o, "tensors"))
    {
        print_dims(cJSON_GetObjectItem(x, "dims"), dims, sizeof dims);
        char where[48];
        snprintf(where, sizeof where, "%s%s%s", cJSON_GetObjectItem(x, "location")->valuestring,
                 cJSON_IsTrue(cJSON_GetObjectItem(x, "subgraph")) ? "/sub" : "",
                 strcmp(cJSON_GetObjectItem(x, "storage")->valuestring, "external") == 0 ? "/ext"
                                                                                         : "");
        const cJSON *c = cJSON_GetObjectItem(x, "consumer");
        char cons[64] = "-";
        const cJSON *w = cJSON_GetObjectItem(x, "weight_of");
        if (cJSON_IsString(c))
            snprintf(cons, sizeof cons, "%s:%.0f", cli_esc(c->valuestring),
                     cJSON_GetObjectItem(x, "slot")->valuedouble);
        if (cJSON_IsString(c) && cJSON_GetNumberValue(cJSON_GetObjectItem(w, "hops")) > 0)
            snprintf(cons + strlen(cons), sizeof cons - strlen(cons), " -> %s:%.0f",
                     cli_esc(cJSON_GetStringValue(cJSON_GetObjectItem(w, "op"))),
                     cJSON_GetNumberValue(cJSON_GetObjectItem(w, "slot")));
        printf("  %-40s %-8s %-18s %10.0f %10.0f %-12s %s\n",
               cli_esc(cJSON_GetObjectItem(x, "name")->valuestring),
               cJSON_GetObjectItem(x, "dtype")->valuestring, dims,
               cJSON_GetObjectItem(x, "elements")->valuedouble,
               cJSON_GetObjectItem(x, "bytes")->valuedouble, where, cons);
    }
#undef S
#undef N
}

/* ---- blobs -------------------------------------------------------------- */

cJSON *info_blob_json(const char *path, const nnz_blob *b, size_t file_size)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "file", path);
    cJSON_AddStringToObject(o, "kind", "nnz");
    cJSON_AddNumberToObject(o, "file_bytes", (double)file_size);
    char ver[32];
    snprintf(ver, sizeof ver, "%u.%u", b->major, b->minor);
    cJSON_AddStringToObject(o, "format_version", ver);
    cJSON *secs = cJSON_AddArrayToObject(o, "sections");
    struct { const char *name; const uint8_t *p; size_t n; } s[5] = {
        { "graph", b->graph, b->graph_size },
        { "graph_compressed", b->graph_packed, b->graph_packed_size },
        { "payload", b->payload, b->payload_size },
        { "directory", b->dir, b->dir_size }, { "metadata", b->meta, b->meta_size } };
    for (int i = 0; i < 5; i++) {
        if (!s[i].p)
            continue;
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "name", s[i].name);
        cJSON_AddNumberToObject(x, "offset", (double)(s[i].p - b->data));
        cJSON_AddNumberToObject(x, "bytes", (double)s[i].n);
        if (s[i].p == b->graph_packed) /* what it expands to */
            cJSON_AddNumberToObject(x, "expanded_bytes", (double)b->graph_size);
        cJSON_AddItemToArray(secs, x);
    }
    cJSON *ts = cJSON_AddArrayToObject(o, "tensors");
    uint64_t params = 0, decoded = 0, payload = 0;
    unsigned needs = 0;
    for (uint32_t i = 0; i < nnz_tensor_count(b); i++) {
        nnz_tensor_info ti;
        if (nnz_tensor_info_get(b, i, &ti) != NNZ_OK)
            continue;
        cJSON *x = cJSON_CreateObject();
        char *name = nnz_blob_name(&ti, NULL);
        cJSON_AddStringToObject(x, "name", name ? name : "");
        free(name);
        cJSON_AddStringToObject(x, "dtype", nnz_dtype_name(ti.dtype));
        cJSON *dims = cJSON_AddArrayToObject(x, "dims");
        for (int d = 0; d < ti.ndims; d++)
            cJSON_AddItemToArray(dims, cJSON_CreateNumber((double)ti.dims[d]));
        cJSON_AddNumberToObject(x, "elements", (double)ti.count);
        cJSON_AddStringToObject(x, "encoding", nnz_layout_name(ti.encoding));
        cJSON_AddNumberToObject(x, "encoding_version", ti.encoding_version);
        if (ti.encoding == NNZ_ENC_ALIAS) { /* the values of an earlier tensor */
            nnz_tensor_info of;
            if (nnz_tensor_info_get(b, ti.alias_of, &of) == NNZ_OK) {
                char *on = nnz_blob_name(&of, NULL);
                cJSON_AddStringToObject(x, "alias_of", on ? on : "");
                free(on);
            }
        }
        nnz_value_map vm;
        if (nnz_value_map_get(b, i, &vm) == NNZ_OK && vm.kind >= 0) {
            cJSON_AddStringToObject(x, "value_map", nnz_value_map_name(vm.kind));
            cJSON_AddNumberToObject(x, "symbol_bits", vm.width);
            if (vm.kind == NNZ_VAL_AFFINE || vm.kind == NNZ_VAL_AFFINE_LOG)
                cJSON_AddNumberToObject(x, "channels", (double)vm.nchan);
            if (vm.kind == NNZ_VAL_CODEBOOK)
                cJSON_AddNumberToObject(x, "centroids", (double)vm.ncodebook);
        } else {
            cJSON_AddStringToObject(x, "value_map", "none");
        }
        cJSON_AddNumberToObject(x, "blocks", (double)ti.nblocks);
        cJSON_AddNumberToObject(x, "payload_bytes", (double)ti.payload_size);
        cJSON_AddNumberToObject(x, "decoded_bytes", (double)ti.decoded_size);
        cJSON_AddNumberToObject(x, "bits_per_weight",
                                ti.count ? 8.0 * (double)ti.payload_size / (double)ti.count : 0);
        cJSON_AddStringToObject(x, "location", loc_name(ti.location));
        cJSON_AddBoolToObject(x, "subgraph", (ti.location & NNZ_LOC_SUBGRAPH) != 0);
        unsigned feat = 0;
        nnz_tensor_features(b, i, &feat);
        needs |= feat;
        cJSON_AddItemToObject(x, "features", features_json(feat));
        cJSON_AddItemToArray(ts, x);
        params += ti.count;
        decoded += ti.decoded_size;
        payload += ti.payload_size;
    }
    cJSON *tot = cJSON_AddObjectToObject(o, "totals");
    cJSON_AddNumberToObject(tot, "tensors", nnz_tensor_count(b));
    cJSON_AddNumberToObject(tot, "parameters", (double)params);
    cJSON_AddNumberToObject(tot, "decoded_bytes", (double)decoded);
    cJSON_AddNumberToObject(tot, "payload_bytes", (double)payload);
    if (b->graph_packed) /* its streams are Huffman-coded */
        needs |= NNZ_FEAT_GRAPH_CODEC | NNZ_FEAT_HUFFMAN;
    cJSON *feats = features_json(needs);
    if (b->major == 1) /* format 1's directory: a runtime without NNZ_NO_FORMAT1 */
        cJSON_AddItemToArray(feats, cJSON_CreateString("format1"));
    cJSON_AddItemToObject(o, "features", feats);
    const char *meta;
    size_t mlen;
    nnz_metadata(b, &meta, &mlen);
    cJSON *mj = mlen ? cJSON_ParseWithLength(meta, mlen) : NULL;
    if (mj)
        cJSON_AddItemToObject(o, "metadata", mj);
    else
        cJSON_AddNullToObject(o, "metadata");
    return o;
}

static void info_blob_text(const cJSON *o)
{
    const cJSON *f;
    char dims[256];
    printf("%s: nnz blob, format %s, %.0f bytes\n",
           cli_esc(cJSON_GetObjectItem(o, "file")->valuestring),
           cJSON_GetObjectItem(o, "format_version")->valuestring,
           cJSON_GetObjectItem(o, "file_bytes")->valuedouble);
    const cJSON *meta = cJSON_GetObjectItem(o, "metadata"), *x;
    if (cJSON_IsObject(meta)) {
        const cJSON *tool = cJSON_GetObjectItem(meta, "tool");
        const cJSON *pipe = cJSON_GetObjectItem(meta, "pipeline");
        const cJSON *src = cJSON_GetObjectItem(meta, "source");
        if (cJSON_IsString(tool))
            printf("  made by %s, pipeline '%s'\n", cli_esc(tool->valuestring),
                   cli_esc(cJSON_IsString(pipe) ? pipe->valuestring : ""));
        if (cJSON_IsObject(src))
            printf("  source %s (%.0f bytes, sha256 %s)\n",
                   cli_esc(cJSON_GetStringValue(cJSON_GetObjectItem(src, "name"))),
                   cJSON_GetNumberValue(cJSON_GetObjectItem(src, "bytes")),
                   cli_esc(cJSON_GetStringValue(cJSON_GetObjectItem(src, "sha256"))));
    }
    printf("  sections:");
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(o, "sections"))
        printf(" %s %.0f B @%.0f", cJSON_GetObjectItem(x, "name")->valuestring,
               cJSON_GetObjectItem(x, "bytes")->valuedouble,
               cJSON_GetObjectItem(x, "offset")->valuedouble);
    printf("\n");
    const cJSON *tot = cJSON_GetObjectItem(o, "totals");
    printf("  tensors: %.0f, %.0f parameters, %.0f payload bytes for %.0f decoded bytes\n\n",
           cJSON_GetObjectItem(tot, "tensors")->valuedouble,
           cJSON_GetObjectItem(tot, "parameters")->valuedouble,
           cJSON_GetObjectItem(tot, "payload_bytes")->valuedouble,
           cJSON_GetObjectItem(tot, "decoded_bytes")->valuedouble);
    /* what an embedder may build the runtime without (runtime/README.md) */
    printf("  runtime features it needs:");
    int any = 0;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(o, "features"))
    {
        printf(" %s", f->valuestring);
        any = 1;
    }
    const cJSON *gsec = NULL;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(o, "sections"))
        if (strcmp(cJSON_GetObjectItem(f, "name")->valuestring, "graph_compressed") == 0)
            gsec = f;
    if (gsec) /* its tensors decode without them */
        printf(" (graph-codec, and huffman for it, only to rebuild the model)");
    printf("%s; a runtime built without the others decodes it:", any ? "" : " none");
    for (unsigned k = 0; nnz_feature_names[k].bit; k++)
        {
            int needed = 0;
            cJSON_ArrayForEach(f, cJSON_GetObjectItem(o, "features"))
                needed |= strcmp(f->valuestring, nnz_feature_names[k].name) == 0;
            if (!needed)
                printf(" -D%s", nnz_feature_names[k].macro);
        }
    int format1 = 0;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(o, "features"))
        format1 |= strcmp(f->valuestring, "format1") == 0;
    if (!format1)
        printf(" -DNNZ_NO_FORMAT1");
    printf("\n\n");
    printf("  %-40s %-8s %-18s %-16s %10s %10s %6s\n", "tensor", "dtype", "dims", "encoding",
           "payload", "decoded", "bits/w");
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(o, "tensors"))
    {
        char enc[48];
        const char *vm = cJSON_GetObjectItem(x, "value_map")->valuestring;
        print_dims(cJSON_GetObjectItem(x, "dims"), dims, sizeof dims);
        snprintf(enc, sizeof enc, "%s%s%s", cJSON_GetObjectItem(x, "encoding")->valuestring,
                 strcmp(vm, "none") ? "/" : "", strcmp(vm, "none") ? vm : "");
        printf("  %-40s %-8s %-18s %-16s %10.0f %10.0f %6.2f\n",
               cli_esc(cJSON_GetObjectItem(x, "name")->valuestring),
               cJSON_GetObjectItem(x, "dtype")->valuestring, dims, enc,
               cJSON_GetObjectItem(x, "payload_bytes")->valuedouble,
               cJSON_GetObjectItem(x, "decoded_bytes")->valuedouble,
               cJSON_GetObjectItem(x, "bits_per_weight")->valuedouble);
    }
}

static const char info_help[] =
    "Usage: nnzip info [--json] FILE\n\n"
    "Describe an ONNX model (weights, where they live, what reads them) or an\n"
    ".nnz blob (sections, tensors and their encodings, metadata). FILE may be\n"
    "'-' for stdin.\n\n"
    "  --json    one JSON document on stdout (fields: docs/cli.md)\n"
    "  -h, --help\n";

int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
                                           { "help", no_argument, NULL, 'h' },
                                           { "quiet", no_argument, NULL, 'q' },
                                           { "verbose", no_argument, NULL, 'v' },
                                           { 0, 0, 0, 0 } };
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":hqv", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'h': fputs(info_help, stdout); return 0;
        case 'q': g_cli.quiet = 1; break;
        case 'v': g_cli.verbose = 1; break;
        default: return cli_bad_option("info", c, argv);
        }
    }
    if (optind != argc - 1)
        return cli_usage("info", "expected one FILE, got %d", argc - optind);
    const char *path = argv[optind];
    nnz_error e = { 0 };
    cli_file f;
    if (cli_file_open(&f, path, &e) != 0)
        return cli_report(&e);
    cJSON *doc;
    if (cli_is_blob(f.data, f.size)) {
        nnz_blob b;
        nnz_status st = cli_blob_check(&f, &b, 0);
        if (st != NNZ_OK) {
            cli_blob_error(&e, path, f.data, &b, st);
            cli_file_close(&f);
            return cli_report(&e);
        }
        doc = info_blob_json(path, &b, f.size);
        cli_file_close(&f);
        if (!json)
            info_blob_text(doc);
    } else {
        nnz_model *m;
        int rc = cli_model_from_file(&f, path, &m, &e);
        cli_file_close(&f);
        if (rc != 0)
            return cli_report(&e);
        doc = info_model_json(m);
        nnz_model_free(m);
        if (!json)
            info_model_text(doc);
    }
    if (json)
        return cli_print_json(doc);
    cJSON_Delete(doc);
    return 0;
}
