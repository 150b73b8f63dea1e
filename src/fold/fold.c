/* fold.c - the fold pass: a graph rewrite that leaves the network's outputs
 * as they are, up to float rounding (docs/passes/fold.md).
 *
 *   - BatchNormalization right after a Conv, ConvTranspose or Gemm whose
 *     output nothing else reads is folded into that layer: with
 *     f = scale / sqrt(var + eps) per output channel, the weight becomes
 *     W * f (along its output-channel axis) and the bias (b - mean) * f + B.
 *   - Identity, and Dropout (an identity at inference), are removed: their
 *     readers read the input instead.
 *
 * The folded weight and bias are new initializers (NAME_folded): a weight
 * another node also reads keeps its old values there, and verify does not
 * take the new values for an error in the old tensor. Old tensors nothing
 * reads any more are removed. The math runs in double. Everything happens
 * in prepare; the model is rescanned after. The layer's weight must be
 * selected by the stage (only=/skip= choose which layers fold). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edit.h"
#include "pass.h"

extern const nnz_pass nnz_pass_fold;

static int parse(const nnz_kv *kv, size_t n, void **out, nnz_error *e)
{
    if (n > 0)
        return nnz_opt_unknown(&nnz_pass_fold, &kv[0], e);
    *out = NULL;
    return 0;
}

typedef struct fold_ctx {
    nnz_model *m;
    const uint8_t *selected;  /* per tensor of m, as prepare began */
    cJSON *layers;            /* report: one object per BatchNormalization */
    size_t folded, removed;
    nnz_error *e;
} fold_ctx;

/* ---- looking things up --------------------------------------------------------- */

static int op_is(const Onnx__NodeProto *n, const char *op)
{
    return n->op_type && strcmp(n->op_type, op) == 0 &&
           (!n->domain || !*n->domain || strcmp(n->domain, "ai.onnx") == 0);
}

static double float_attr(const Onnx__NodeProto *n, const char *name, double dflt)
{
    const Onnx__AttributeProto *a = nnz_node_attr(n, name);
    return a && a->has_f ? a->f : dflt;
}

static int has_input(const Onnx__NodeProto *n, size_t k)
{
    return k < n->n_input && n->input[k] && *n->input[k];
}

/* How many times graph g (and the subgraphs in it) reads `name`, graph
 * outputs included. */
static size_t uses(const Onnx__GraphProto *g, const char *name)
{
    size_t c = 0;
    for (size_t i = 0; i < g->n_output; i++)
        c += g->output[i]->name && strcmp(g->output[i]->name, name) == 0;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        for (size_t k = 0; k < n->n_input; k++)
            c += n->input[k] && strcmp(n->input[k], name) == 0;
        for (size_t a = 0; a < n->n_attribute; a++) {
            if (n->attribute[a]->g)
                c += uses(n->attribute[a]->g, name);
            for (size_t s = 0; s < n->attribute[a]->n_graphs; s++)
                c += uses(n->attribute[a]->graphs[s], name);
        }
    }
    return c;
}

/* Make every reader of `from` in g (and its subgraphs) read `to`. */
static int rename_uses(Onnx__GraphProto *g, const char *from, const char *to, nnz_error *e)
{
    for (size_t i = 0; i < g->n_node; i++) {
        Onnx__NodeProto *n = g->node[i];
        for (size_t k = 0; k < n->n_input; k++)
            if (n->input[k] && strcmp(n->input[k], from) == 0 &&
                nnz_edit_set_string(&n->input[k], to, e) != 0)
                return -1;
        for (size_t a = 0; a < n->n_attribute; a++) {
            if (n->attribute[a]->g && rename_uses(n->attribute[a]->g, from, to, e) != 0)
                return -1;
            for (size_t s = 0; s < n->attribute[a]->n_graphs; s++)
                if (rename_uses(n->attribute[a]->graphs[s], from, to, e) != 0)
                    return -1;
        }
    }
    return 0;
}

/* The model tensor that is value `name` of graph g, an initializer or a
 * Constant node's, or NULL. */
static nnz_tensor *initializer(fold_ctx *c, const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; name && i < c->m->ntensors; i++) {
        nnz_tensor *t = &c->m->tensors[i];
        if (t->proto && t->graph == g && t->onnx_name && strcmp(t->onnx_name, name) == 0)
            return t;
    }
    return NULL;
}

/* Drop value_info entries named `name` (a value that no longer exists). */
static void drop_value_info(Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_value_info;) {
        if (g->value_info[i]->name && strcmp(g->value_info[i]->name, name) == 0) {
            protobuf_c_message_free_unpacked(&g->value_info[i]->base, NULL);
            memmove(g->value_info + i, g->value_info + i + 1,
                    (g->n_value_info - i - 1) * sizeof *g->value_info);
            g->n_value_info--;
        } else {
            i++;
        }
    }
}

/* Remove initializer t of graph g when nothing reads it any more. */
static int drop_if_unused(fold_ctx *c, Onnx__GraphProto *g, nnz_tensor *t)
{
    if (!t || uses(g, t->onnx_name) > 0)
        return 0;
    /* its data must be its own before protobuf-c frees it */
    if (nnz_tensor_is_deferred(t) && !nnz_tensor_data(c->m, t, c->e))
        return -1;
    for (size_t i = 0; i < g->n_input;) { /* old exporters list initializers as inputs */
        if (g->input[i]->name && strcmp(g->input[i]->name, t->onnx_name) == 0) {
            protobuf_c_message_free_unpacked(&g->input[i]->base, NULL);
            memmove(g->input + i, g->input + i + 1, (g->n_input - i - 1) * sizeof *g->input);
            g->n_input--;
        } else {
            i++;
        }
    }
    drop_value_info(g, t->onnx_name);
    if (t->loc == NNZ_LOC_CONSTANT) {
        for (size_t i = 0; i < g->n_node; i++)
            if (op_is(g->node[i], "Constant") && g->node[i]->n_output &&
                strcmp(g->node[i]->output[0], t->onnx_name) == 0) {
                t->proto = NULL;
                nnz_edit_remove_node(g, i);
                break;
            }
    } else {
        nnz_edit_remove_initializer(g, t->proto);
    }
    t->proto = NULL; /* gone; the rescan forgets it */
    return 0;
}

/* ---- Identity and Dropout ------------------------------------------------------ */

/* Is node n an identity at inference whose output can be replaced by its
 * input? Not when its output is a graph output (the name must stay), nor a
 * Dropout whose mask is read or whose training_mode is given. */
static int removable(const Onnx__GraphProto *g, const Onnx__NodeProto *n)
{
    if (!(op_is(n, "Identity") || op_is(n, "Dropout")) || !has_input(n, 0) || n->n_output < 1 ||
        !n->output[0] || !*n->output[0])
        return 0;
    for (size_t i = 0; i < g->n_output; i++)
        if (g->output[i]->name && strcmp(g->output[i]->name, n->output[0]) == 0)
            return 0;
    if (op_is(n, "Dropout") &&
        (has_input(n, 2) || (n->n_output > 1 && n->output[1] && *n->output[1] &&
                             uses(g, n->output[1]) > 0)))
        return 0;
    return 1;
}

static int remove_identities(fold_ctx *c, Onnx__GraphProto *g)
{
    for (size_t i = 0; i < g->n_node;) {
        Onnx__NodeProto *n = g->node[i];
        if (!removable(g, n)) {
            i++;
            continue;
        }
        if (rename_uses(g, n->output[0], n->input[0], c->e) != 0)
            return -1;
        drop_value_info(g, n->output[0]);
        nnz_edit_remove_node(g, i);
        c->removed++;
    }
    return 0;
}

/* ---- BatchNormalization ------------------------------------------------------------ */

/* Floats of a FLOAT tensor with `count` elements, or NULL (and *why). */
static float *floats_of(fold_ctx *c, nnz_tensor *t, size_t count, const char **why)
{
    if (!t) {
        *why = "a parameter is not a constant of the graph";
        return NULL;
    }
    if (t->dtype != NNZ_DT_FLOAT || t->count != count) {
        *why = "a parameter is not float32 of the layer's channel count";
        return NULL;
    }
    float *v = nnz_tensor_floats(c->m, t, c->e);
    if (!v)
        *why = "out of memory";
    return v;
}

static char *new_name(fold_ctx *c, const char *base)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s_folded", base);
    return nnz_edit_unique_name(c->m, buf, c->e);
}

/* Add a float initializer to g; returns its name (owned by the tensor). */
static const char *add_floats(fold_ctx *c, Onnx__GraphProto *g, const char *base,
                              const float *v, const int64_t *dims, int ndims, size_t count)
{
    char *name = new_name(c, base);
    if (!name)
        return NULL;
    uint8_t *b = nnz_malloc(count * 4 + 1, c->e);
    Onnx__TensorProto *t = NULL;
    if (b) {
        for (size_t i = 0; i < count; i++) {
            uint32_t u;
            memcpy(&u, &v[i], 4);
            for (int k = 0; k < 4; k++)
                b[4 * i + (size_t)k] = (uint8_t)(u >> (8 * k));
        }
        t = nnz_edit_tensor(name, NNZ_DT_FLOAT, dims, ndims, b, count * 4, c->e);
    }
    free(b);
    free(name);
    if (!t || nnz_edit_add_initializer(g, t, c->e) != 0)
        return NULL;
    return t->name;
}

/* Fold BatchNormalization node bn of g into the layer before it. Returns 1
 * when folded, 0 when left (the report says why), -1 on error. */
static int fold_bn(fold_ctx *c, Onnx__GraphProto *g, Onnx__NodeProto *bn)
{
    Onnx__NodeProto *layer = NULL;
    const char *why = NULL;
    cJSON *r = cJSON_CreateObject();
    cJSON_AddItemToArray(c->layers, r);
    cJSON_AddStringToObject(r, "node", bn->name && *bn->name ? bn->name : bn->output[0]);
    for (size_t i = 0; has_input(bn, 0) && i < g->n_node; i++)
        if (g->node[i]->n_output && g->node[i]->output[0] &&
            strcmp(g->node[i]->output[0], bn->input[0]) == 0)
            layer = g->node[i];
    int conv = layer && op_is(layer, "Conv"), deconv = layer && op_is(layer, "ConvTranspose"),
        gemm = layer && op_is(layer, "Gemm");
    nnz_tensor *w = layer ? initializer(c, g, has_input(layer, 1) ? layer->input[1] : NULL) : NULL;
    if (!conv && !deconv && !gemm)
        why = "its input is not made by a Conv, ConvTranspose or Gemm";
    else if (bn->n_input != 5 || bn->n_output != 1 || nnz_node_int(bn, "training_mode", 0))
        why = "it is in training mode (running statistics as outputs)";
    else if (uses(g, bn->input[0]) != 1)
        why = "something else reads the layer's output too";
    else if (!w || w->dtype != NNZ_DT_FLOAT || w->ndims < 2)
        why = "the layer's weight is not a float32 constant of the graph";
    else if (!c->selected[w - c->m->tensors])
        why = "the stage does not take the layer's weight (only=/skip=)";
    else if (gemm && (nnz_node_int(layer, "transA", 0) || w->ndims != 2))
        why = "a Gemm with transA";
    cJSON_AddStringToObject(r, "layer", layer && layer->op_type ? layer->op_type : "none");
    if (w)
        cJSON_AddStringToObject(r, "weight", w->name);
    int64_t cout = 0, axis = 0, groups = 1;
    if (!why) {
        if (conv) {
            cout = w->dims[0];
        } else if (deconv) { /* (C_in, C_out/group, k...) */
            groups = nnz_node_int(layer, "group", 1);
            if (groups < 1 || w->dims[0] < 1 || groups > w->dims[0] || w->dims[0] % groups)
                why = "a ConvTranspose whose group does not divide its channels";
            cout = w->dims[1] * groups;
            axis = 1;
        } else {
            axis = nnz_node_int(layer, "transB", 0) ? 0 : 1;
            cout = w->dims[axis];
        }
    }
    nnz_tensor *bias = !why && has_input(layer, 2) ? initializer(c, g, layer->input[2]) : NULL;
    if (!why && has_input(layer, 2) &&
        (!bias || bias->dtype != NNZ_DT_FLOAT || bias->count != (size_t)cout || bias->ndims != 1))
        why = "the layer's bias is not a float32 constant with one value per channel";
    nnz_tensor *bt[4] = { 0 };
    float *bv[4] = { 0 }, *wv = NULL, *biasv = NULL, *nw = NULL, *nb = NULL;
    for (int k = 0; k < 4 && !why; k++) {
        bt[k] = initializer(c, g, bn->input[k + 1]);
        bv[k] = floats_of(c, bt[k], (size_t)cout, &why);
    }
    if (!why && !(wv = nnz_tensor_floats(c->m, w, c->e)))
        why = "out of memory";
    if (!why && bias && !(biasv = nnz_tensor_floats(c->m, bias, c->e)))
        why = "out of memory";
    int rc = 0;
    if (!why) {
        double eps = float_attr(bn, "epsilon", 1e-5);
        double alpha = gemm ? float_attr(layer, "alpha", 1) : 1;
        double beta = gemm ? float_attr(layer, "beta", 1) : 1;
        nw = nnz_malloc(w->count * sizeof *nw, c->e);
        nb = nnz_malloc((size_t)cout * sizeof *nb, c->e);
        if (!nw || !nb) {
            rc = -1;
            goto done;
        }
        /* element i of W is in output channel ch(i) */
        size_t inner = 1, per = (size_t)w->dims[axis];
        for (int d = (int)axis + 1; d < w->ndims; d++)
            inner *= (size_t)w->dims[d];
        for (size_t i = 0; i < w->count; i++) {
            size_t ch = (i / inner) % per;
            if (deconv) /* input channel ci is in group ci / (C_in / group) */
                ch += (i / inner / per) / ((size_t)w->dims[0] / (size_t)groups) * per;
            double f = bv[0][ch] / sqrt((double)bv[3][ch] + eps);
            nw[i] = (float)(wv[i] * f);
        }
        for (int64_t ch = 0; ch < cout; ch++) {
            double f = bv[0][ch] / sqrt((double)bv[3][ch] + eps);
            double b = biasv ? beta * biasv[ch] : 0;
            nb[ch] = (float)((b - bv[2][ch]) * f + bv[1][ch]);
        }
        (void)alpha; /* alpha scales A·B, which f then scales: it stays */
        const char *wn = add_floats(c, g, w->onnx_name, nw, w->dims, w->ndims, w->count);
        int64_t bdim = cout;
        const char *bname = bias ? bias->onnx_name : bt[1]->onnx_name;
        const char *bn_name = wn ? add_floats(c, g, bname, nb, &bdim, 1, (size_t)cout) : NULL;
        if (!wn || !bn_name) {
            rc = -1;
            goto done;
        }
        /* the layer reads the new tensors and writes the BN's output */
        char *old_out = layer->output[0];
        layer->output[0] = bn->output[0];
        bn->output[0] = old_out; /* freed with the BN node */
        if (nnz_edit_set_string(&layer->input[1], wn, c->e) != 0) {
            rc = -1;
            goto done;
        }
        if (has_input(layer, 2)) {
            rc = nnz_edit_set_string(&layer->input[2], bn_name, c->e);
        } else {
            char **in = nnz_realloc(layer->input, 3 * sizeof *in, c->e);
            if (!in) {
                rc = -1;
                goto done;
            }
            layer->input = in;
            while (layer->n_input < 2) /* Conv/Gemm have their weight: never */
                in[layer->n_input++] = NULL;
            in[2] = nnz_strdup(bn_name, c->e);
            layer->n_input = 3;
            rc = in[2] ? 0 : -1;
        }
        if (rc == 0 && gemm && beta != 1) { /* beta is in the new bias */
            Onnx__AttributeProto *a = (Onnx__AttributeProto *)nnz_node_attr(layer, "beta");
            a->f = 1;
        }
        drop_value_info(g, old_out);
        for (size_t i = 0; rc == 0 && i < g->n_node; i++)
            if (g->node[i] == bn) {
                nnz_edit_remove_node(g, i);
                break;
            }
        if (rc == 0)
            rc = drop_if_unused(c, g, w);
        if (rc == 0 && bias)
            rc = drop_if_unused(c, g, bias);
        for (int k = 0; k < 4 && rc == 0; k++)
            if (bt[k] && bt[k]->proto) /* one tensor may be two parameters */
                rc = drop_if_unused(c, g, bt[k]);
        cJSON_AddTrueToObject(r, "folded");
        c->folded++;
    } else {
        cJSON_AddFalseToObject(r, "folded");
        cJSON_AddStringToObject(r, "reason", why);
        if (strcmp(why, "out of memory") == 0)
            rc = nnz_fail(c->e, NNZ_EXIT_INTERNAL, "out of memory folding '%s'", bn->output[0]);
    }
done:
    for (int k = 0; k < 4; k++)
        free(bv[k]);
    free(wv);
    free(biasv);
    free(nw);
    free(nb);
    return rc < 0 ? -1 : why ? 0 : 1;
}

static int fold_graph(fold_ctx *c, Onnx__GraphProto *g, int depth)
{
    if (depth > NNZ_MAX_GRAPH_DEPTH)
        return 0;
    if (remove_identities(c, g) != 0)
        return -1;
    /* the BN nodes first: folding removes nodes (the BN, Constant nodes) */
    size_t nbn = 0;
    Onnx__NodeProto **bns = nnz_malloc((g->n_node ? g->n_node : 1) * sizeof *bns, c->e);
    if (!bns)
        return -1;
    for (size_t i = 0; i < g->n_node; i++)
        if (op_is(g->node[i], "BatchNormalization"))
            bns[nbn++] = g->node[i];
    for (size_t k = 0; k < nbn; k++)
        if (fold_bn(c, g, bns[k]) < 0) {
            free(bns);
            return -1;
        }
    free(bns);
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t a = 0; a < g->node[i]->n_attribute; a++) {
            Onnx__AttributeProto *at = g->node[i]->attribute[a];
            if (at->g && fold_graph(c, at->g, depth + 1) != 0)
                return -1;
            for (size_t s = 0; s < at->n_graphs; s++)
                if (fold_graph(c, at->graphs[s], depth + 1) != 0)
                    return -1;
        }
    return 0;
}

static int prepare(nnz_model *m, const nnz_stage *st, cJSON *report, nnz_error *e)
{
    fold_ctx c = { .m = m, .selected = st->selected, .e = e };
    cJSON *f = cJSON_AddObjectToObject(report, "fold");
    c.layers = cJSON_AddArrayToObject(f, "batchnorms");
    int rc = fold_graph(&c, m->proto->graph, 0);
    cJSON_AddNumberToObject(f, "folded", (double)c.folded);
    cJSON_AddNumberToObject(f, "identities_removed", (double)c.removed);
    if (rc == 0 && (c.folded || c.removed))
        rc = nnz_model_rescan(m, e);
    return rc;
}

/* The report's summary: what was folded, and with -v why the rest was not. */
static void report_text(const cJSON *report, int verbose,
                        void (*line)(void *arg, int detail, const char *text), void *arg)
{
    const cJSON *f = cJSON_GetObjectItem(report, "fold");
    char buf[600];
    const cJSON *x;
    if (!f)
        return;
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(f, "batchnorms"))
        if (verbose && !cJSON_IsTrue(cJSON_GetObjectItem(x, "folded"))) {
            snprintf(buf, sizeof buf, "fold %-30s left alone: %s",
                     cJSON_GetStringValue(cJSON_GetObjectItem(x, "node")),
                     cJSON_GetStringValue(cJSON_GetObjectItem(x, "reason")));
            line(arg, 1, buf);
        }
    snprintf(buf, sizeof buf, "fold: %.0f of %d BatchNormalization folded into their layers, "
             "%.0f Identity/Dropout removed",
             cJSON_GetNumberValue(cJSON_GetObjectItem(f, "folded")),
             cJSON_GetArraySize(cJSON_GetObjectItem(f, "batchnorms")),
             cJSON_GetNumberValue(cJSON_GetObjectItem(f, "identities_removed")));
    line(arg, 0, buf);
}

const nnz_pass nnz_pass_fold = {
    .name = "fold",
    .help = "fold BatchNormalization into the Conv/ConvTranspose/Gemm before it, remove "
            "Identity and Dropout (graph rewrite; outputs equal up to float rounding)",
    .options = "none",
    .phase = NNZ_PHASE_GRAPH,
    .consumes = NNZ_DATA_FLOATS,
    .produces = NNZ_DATA_FLOATS,
    .rewrites_graph = NNZ_REWRITE_REPLACES,
    .parse = parse,
    .prepare = prepare,
    .report_sections = (const char *const[]){ "fold", NULL },
    .report_text = report_text,
    .run = NULL,
    .free_opts = free,
};
