/* edit.c - see edit.h. */
#include "edit.h"
#include "strmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nnz_edit_set_string(char **field, const char *v, nnz_error *e)
{
    char *s = nnz_strdup(v, e);
    if (!s)
        return -1;
    free(*field);
    *field = s;
    return 0;
}

Onnx__TensorProto *nnz_edit_tensor(const char *name, int dtype, const int64_t *dims, int ndims,
                                   const void *data, size_t nbytes, nnz_error *e)
{
    Onnx__TensorProto *t = nnz_malloc(sizeof *t, e);
    if (!t)
        return NULL;
    onnx__tensor_proto__init(t);
    t->name = nnz_strdup(name, e);
    t->has_data_type = 1;
    t->data_type = dtype;
    t->n_dims = (size_t)ndims;
    t->dims = nnz_malloc((size_t)(ndims ? ndims : 1) * sizeof *t->dims, e);
    t->has_raw_data = 1;
    t->raw_data.len = nbytes;
    t->raw_data.data = nnz_malloc(nbytes ? nbytes : 1, e);
    if (!t->name || !t->dims || !t->raw_data.data) {
        protobuf_c_message_free_unpacked(&t->base, NULL);
        return NULL;
    }
    if (ndims)
        memcpy(t->dims, dims, (size_t)ndims * sizeof *dims);
    if (nbytes)
        memcpy(t->raw_data.data, data, nbytes);
    return t;
}

static char **copy_strings(const char *const *v, size_t n, nnz_error *e)
{
    char **out = nnz_calloc(n ? n : 1, sizeof *out, e);
    for (size_t i = 0; out && i < n; i++)
        if (!(out[i] = nnz_strdup(v[i], e))) {
            for (size_t k = 0; k < i; k++)
                free(out[k]);
            free(out);
            return NULL;
        }
    return out;
}

Onnx__NodeProto *nnz_edit_node(const char *op, const char *name, const char *const *inputs,
                               size_t ninputs, const char *const *outputs, size_t noutputs,
                               nnz_error *e)
{
    Onnx__NodeProto *n = nnz_malloc(sizeof *n, e);
    if (!n)
        return NULL;
    onnx__node_proto__init(n);
    n->op_type = nnz_strdup(op, e);
    n->name = nnz_strdup(name, e);
    n->input = copy_strings(inputs, ninputs, e);
    n->n_input = n->input ? ninputs : 0;
    n->output = copy_strings(outputs, noutputs, e);
    n->n_output = n->output ? noutputs : 0;
    if (!n->op_type || !n->name || !n->input || !n->output) {
        protobuf_c_message_free_unpacked(&n->base, NULL);
        return NULL;
    }
    return n;
}

static int add_attr(Onnx__NodeProto *n, Onnx__AttributeProto *a, nnz_error *e)
{
    Onnx__AttributeProto **v = nnz_realloc(n->attribute, (n->n_attribute + 1) * sizeof *v, e);
    if (!v) {
        protobuf_c_message_free_unpacked(&a->base, NULL);
        return -1;
    }
    n->attribute = v;
    v[n->n_attribute++] = a;
    return 0;
}

int nnz_edit_attr_int(Onnx__NodeProto *n, const char *name, int64_t v, nnz_error *e)
{
    Onnx__AttributeProto *a = nnz_malloc(sizeof *a, e);
    if (!a)
        return -1;
    onnx__attribute_proto__init(a);
    a->name = nnz_strdup(name, e);
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v;
    if (!a->name) {
        free(a);
        return -1;
    }
    return add_attr(n, a, e);
}

int nnz_edit_attr_ints(Onnx__NodeProto *n, const char *name, const int64_t *v, size_t count,
                       nnz_error *e)
{
    Onnx__AttributeProto *a = nnz_malloc(sizeof *a, e);
    if (!a)
        return -1;
    onnx__attribute_proto__init(a);
    a->name = nnz_strdup(name, e);
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    a->ints = nnz_malloc((count ? count : 1) * sizeof *a->ints, e);
    if (!a->name || !a->ints) {
        protobuf_c_message_free_unpacked(&a->base, NULL);
        return -1;
    }
    memcpy(a->ints, v, count * sizeof *v);
    a->n_ints = count;
    return add_attr(n, a, e);
}

int nnz_edit_attr_copy(Onnx__NodeProto *n, const Onnx__AttributeProto *a, nnz_error *e)
{
    size_t len = protobuf_c_message_get_packed_size(&a->base);
    uint8_t *buf = nnz_malloc(len ? len : 1, e);
    if (!buf)
        return -1;
    protobuf_c_message_pack(&a->base, buf);
    Onnx__AttributeProto *c = onnx__attribute_proto__unpack(NULL, len, buf);
    free(buf);
    if (!c)
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory copying an attribute");
    return add_attr(n, c, e);
}

int nnz_edit_insert_node(Onnx__GraphProto *g, size_t at, Onnx__NodeProto *n, nnz_error *e)
{
    Onnx__NodeProto **v = nnz_realloc(g->node, (g->n_node + 1) * sizeof *v, e);
    if (!v) {
        protobuf_c_message_free_unpacked(&n->base, NULL);
        return -1;
    }
    g->node = v;
    if (at > g->n_node)
        at = g->n_node;
    memmove(v + at + 1, v + at, (g->n_node - at) * sizeof *v);
    v[at] = n;
    g->n_node++;
    return 0;
}

void nnz_edit_remove_node(Onnx__GraphProto *g, size_t at)
{
    protobuf_c_message_free_unpacked(&g->node[at]->base, NULL);
    memmove(g->node + at, g->node + at + 1, (g->n_node - at - 1) * sizeof *g->node);
    g->n_node--;
}

int nnz_edit_add_initializer(Onnx__GraphProto *g, Onnx__TensorProto *t, nnz_error *e)
{
    Onnx__TensorProto **v = nnz_realloc(g->initializer, (g->n_initializer + 1) * sizeof *v, e);
    if (!v) {
        protobuf_c_message_free_unpacked(&t->base, NULL);
        return -1;
    }
    g->initializer = v;
    v[g->n_initializer++] = t;
    return 0;
}

void nnz_edit_remove_initializer(Onnx__GraphProto *g, const Onnx__TensorProto *t)
{
    for (size_t i = 0; i < g->n_initializer; i++)
        if (g->initializer[i] == t) {
            protobuf_c_message_free_unpacked(&g->initializer[i]->base, NULL);
            memmove(g->initializer + i, g->initializer + i + 1,
                    (g->n_initializer - i - 1) * sizeof *g->initializer);
            g->n_initializer--;
            return;
        }
}

int64_t nnz_model_opset(const nnz_model *m)
{
    for (size_t i = 0; i < m->proto->n_opset_import; i++) {
        const char *d = m->proto->opset_import[i]->domain;
        if (!d || !*d || strcmp(d, "ai.onnx") == 0)
            return m->proto->opset_import[i]->version;
    }
    return 0;
}

/* ---- unique names ---------------------------------------------------------- */

/* Every name in the model's graphs, owned here (the graphs' strings may be
 * freed by later edits). */
struct nnz_name_index {
    nnz_strmap map;
    char **owned;
    size_t n, cap;
};

static int index_add(struct nnz_name_index *ix, const char *name, nnz_error *e)
{
    size_t v;
    if (!name || nnz_strmap_get(&ix->map, name, &v))
        return 0;
    if (ix->n == ix->cap) {
        size_t cap = ix->cap ? ix->cap * 2 : 256;
        char **o = nnz_realloc(ix->owned, cap * sizeof *o, e);
        if (!o)
            return -1;
        ix->owned = o;
        ix->cap = cap;
    }
    char *copy = nnz_strdup(name, e);
    if (!copy)
        return -1;
    ix->owned[ix->n++] = copy;
    return nnz_strmap_put(&ix->map, copy, 0, e);
}

static int index_graph(struct nnz_name_index *ix, const Onnx__GraphProto *g, nnz_error *e)
{
    for (size_t i = 0; i < g->n_initializer; i++)
        if (index_add(ix, g->initializer[i]->name, e) != 0)
            return -1;
    for (size_t i = 0; i < g->n_input; i++)
        if (index_add(ix, g->input[i]->name, e) != 0)
            return -1;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        if (index_add(ix, n->name, e) != 0)
            return -1;
        for (size_t k = 0; k < n->n_output; k++)
            if (index_add(ix, n->output[k], e) != 0)
                return -1;
        for (size_t a = 0; a < n->n_attribute; a++) {
            if (n->attribute[a]->g && index_graph(ix, n->attribute[a]->g, e) != 0)
                return -1;
            for (size_t k = 0; k < n->attribute[a]->n_graphs; k++)
                if (index_graph(ix, n->attribute[a]->graphs[k], e) != 0)
                    return -1;
        }
    }
    return 0;
}

void nnz_edit_forget_names(nnz_model *m)
{
    struct nnz_name_index *ix = m->names;
    if (!ix)
        return;
    for (size_t i = 0; i < ix->n; i++)
        free(ix->owned[i]);
    free(ix->owned);
    nnz_strmap_free(&ix->map);
    free(ix);
    m->names = NULL;
}

char *nnz_edit_unique_name(nnz_model *m, const char *base, nnz_error *e)
{
    if (!m->names) {
        struct nnz_name_index *ix = nnz_calloc(1, sizeof *ix, e);
        if (!ix)
            return NULL;
        m->names = ix;
        if (nnz_strmap_init(&ix->map, 1024, e) != 0 || index_graph(ix, m->proto->graph, e) != 0) {
            nnz_edit_forget_names(m);
            return NULL;
        }
    }
    size_t n = strlen(base) + 24, v;
    char *s = nnz_malloc(n, e);
    if (!s)
        return NULL;
    snprintf(s, n, "%s", base);
    for (unsigned long k = 1; nnz_strmap_get(&m->names->map, s, &v); k++)
        snprintf(s, n, "%s_%lu", base, k);
    if (index_add(m->names, s, e) != 0) {
        free(s);
        return NULL;
    }
    return s;
}
