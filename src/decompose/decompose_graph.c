/* decompose_graph.c - finding a layer's weight and shapes in the graph, and
 * replacing the layer by its thinner nodes (see decompose.h). */
#include <stdlib.h>
#include <string.h>

#include "decompose.h"
#include "edit.h"

/* ---- lookups ----------------------------------------------------------------------- */

static int is_constant(const Onnx__NodeProto *n)
{
    return n->op_type && strcmp(n->op_type, "Constant") == 0 &&
           (!n->domain || !*n->domain || strcmp(n->domain, "ai.onnx") == 0);
}

void dec_resolve(const dec_scope *sc, const char *name, dec_weight *w)
{
    memset(w, 0, sizeof *w);
    for (; sc && name && *name; sc = sc->up) {
        Onnx__GraphProto *g = sc->g;
        for (size_t i = 0; i < g->n_initializer; i++)
            if (g->initializer[i]->name && strcmp(g->initializer[i]->name, name) == 0) {
                w->g = g;
                w->proto = g->initializer[i];
                w->scope = sc;
                return;
            }
        for (size_t i = 0; i < g->n_node; i++) {
            Onnx__NodeProto *n = g->node[i];
            for (size_t k = 0; k < n->n_output; k++)
                if (n->output[k] && strcmp(n->output[k], name) == 0) {
                    w->g = g;
                    w->scope = sc;
                    if (is_constant(n))
                        for (size_t a = 0; a < n->n_attribute; a++)
                            if (n->attribute[a]->t && n->attribute[a]->name &&
                                strcmp(n->attribute[a]->name, "value") == 0) {
                                w->proto = n->attribute[a]->t;
                                w->constant = n;
                            }
                    return; /* a node output: constant only as a Constant's value */
                }
        }
        for (size_t i = 0; i < g->n_input; i++)
            if (g->input[i]->name && strcmp(g->input[i]->name, name) == 0) {
                w->g = g;
                w->scope = sc;
                return; /* a graph input: given at run time */
            }
    }
}

size_t dec_count_uses(const Onnx__GraphProto *g, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < g->n_output; i++)
        n += g->output[i]->name && strcmp(g->output[i]->name, name) == 0;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *nd = g->node[i];
        for (size_t k = 0; k < nd->n_input; k++)
            n += nd->input[k] && strcmp(nd->input[k], name) == 0;
        for (size_t a = 0; a < nd->n_attribute; a++) {
            if (nd->attribute[a]->g)
                n += dec_count_uses(nd->attribute[a]->g, name);
            for (size_t k = 0; k < nd->attribute[a]->n_graphs; k++)
                n += dec_count_uses(nd->attribute[a]->graphs[k], name);
        }
    }
    return n;
}

static int shape_of(const Onnx__ValueInfoProto *v, int64_t *dims, int max)
{
    const Onnx__TypeProto *t = v->type;
    if (!t || t->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !t->tensor_type ||
        !t->tensor_type->shape)
        return -1;
    const Onnx__TensorShapeProto *s = t->tensor_type->shape;
    if (s->n_dim > (size_t)max)
        return -1;
    for (size_t i = 0; i < s->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = s->dim[i];
        dims[i] = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
                          d->dim_value > 0
                      ? d->dim_value
                      : -1;
    }
    return (int)s->n_dim;
}

int dec_value_shape(const dec_scope *sc, const char *name, int64_t *dims, int max)
{
    for (; sc && name && *name; sc = sc->up) {
        const Onnx__GraphProto *g = sc->g;
        Onnx__ValueInfoProto **lists[3] = { g->value_info, g->input, g->output };
        size_t counts[3] = { g->n_value_info, g->n_input, g->n_output };
        for (int l = 0; l < 3; l++)
            for (size_t i = 0; i < counts[l]; i++)
                if (lists[l][i]->name && strcmp(lists[l][i]->name, name) == 0) {
                    int r = shape_of(lists[l][i], dims, max);
                    if (r >= 0)
                        return r;
                }
    }
    return -1;
}

size_t dec_attr_ints(const Onnx__NodeProto *n, const char *name, int64_t *v, size_t max)
{
    const Onnx__AttributeProto *a = nnz_node_attr(n, name);
    size_t k = a ? a->n_ints : 0;
    if (k > max)
        k = max;
    if (k)
        memcpy(v, a->ints, k * sizeof *v);
    return k;
}

/* ---- the rewrite ------------------------------------------------------------------- */

void dec_rewrite_free(dec_rewrite *rw)
{
    for (size_t i = 0; i < rw->nnodes; i++)
        if (rw->nodes[i])
            protobuf_c_message_free_unpacked(&rw->nodes[i]->base, NULL);
    for (size_t i = 0; i < rw->nf; i++) {
        free(rw->f[i].name);
        free(rw->f[i].v);
    }
    memset(rw, 0, sizeof *rw);
}

/* Factor values in the weight's float type, little-endian. */
static uint8_t *encode(const float *v, size_t n, int dtype, size_t *len, nnz_error *e)
{
    size_t es = dtype == NNZ_DT_FLOAT ? 4 : 2;
    uint8_t *b = nnz_malloc(n ? n * es : 1, e);
    if (!b)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        if (dtype == NNZ_DT_FLOAT)
            memcpy(&u, &v[i], 4);
        else
            u = dtype == NNZ_DT_FLOAT16 ? nnz_float_to_half(v[i]) : nnz_float_to_bf16(v[i]);
        for (size_t k = 0; k < es; k++)
            b[i * es + k] = (uint8_t)(u >> (8 * k));
    }
    *len = n * es;
    return b;
}

static void drop_value_info(Onnx__ValueInfoProto ***list, size_t *n, const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if ((*list)[i]->name && strcmp((*list)[i]->name, name) == 0) {
            protobuf_c_message_free_unpacked(&(*list)[i]->base, NULL);
            memmove(*list + i, *list + i + 1, (*n - i - 1) * sizeof **list);
            (*n)--;
            return;
        }
}

int dec_apply(const dec_scope *sc, Onnx__NodeProto *n, const dec_weight *w, int dtype,
              dec_rewrite *rw, nnz_error *e)
{
    Onnx__GraphProto *g = sc->g;
    size_t at = g->n_node;
    for (size_t i = 0; i < g->n_node; i++)
        if (g->node[i] == n)
            at = i;
    if (at == g->n_node) {
        dec_rewrite_free(rw);
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "node not found in its graph");
    }
    /* the factors first: once they are in, nothing below can fail half-way
     * except by running out of memory */
    for (size_t i = 0; i < rw->nf; i++) {
        const dec_factor *f = &rw->f[i];
        size_t count = 1, len;
        for (int d = 0; d < f->ndims; d++)
            count *= (size_t)f->dims[d];
        uint8_t *bytes = encode(f->v, count, dtype, &len, e);
        Onnx__TensorProto *t =
            bytes ? nnz_edit_tensor(f->name, dtype, f->dims, f->ndims, bytes, len, e) : NULL;
        free(bytes);
        if (!t || nnz_edit_add_initializer(g, t, e) != 0) {
            dec_rewrite_free(rw);
            return -1;
        }
    }
    /* the new nodes where the old one was */
    char *wname = nnz_strdup(w->constant ? w->constant->output[0] : w->proto->name, e);
    if (!wname) {
        dec_rewrite_free(rw);
        return -1;
    }
    nnz_edit_remove_node(g, at);
    for (size_t i = 0; i < rw->nnodes; i++) {
        Onnx__NodeProto *nn = rw->nodes[i];
        rw->nodes[i] = NULL; /* taken over (or freed) by the insert */
        if (nnz_edit_insert_node(g, at + i, nn, e) != 0) {
            free(wname);
            dec_rewrite_free(rw);
            return -1;
        }
    }
    /* the weight's definition goes: its only user was the old node */
    Onnx__GraphProto *wg = w->g;
    if (w->constant) {
        for (size_t i = 0; i < wg->n_node; i++)
            if (wg->node[i] == w->constant) {
                nnz_edit_remove_node(wg, i);
                break;
            }
    } else {
        nnz_edit_remove_initializer(wg, w->proto);
        /* old exporters list initializers as graph inputs too */
        drop_value_info(&wg->input, &wg->n_input, wname);
    }
    drop_value_info(&wg->value_info, &wg->n_value_info, wname);
    free(wname);
    dec_rewrite_free(rw);
    return 0;
}
