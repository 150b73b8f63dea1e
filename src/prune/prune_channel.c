/* prune_channel.c - structured=channel: removing whole output channels from
 * the graph (docs/passes/prune.md, "structured=channel").
 *
 * A *source* is a layer whose weight makes output channels: Conv and
 * ConvTranspose with group=1, Gemm and MatMul with a constant 2-D weight. Its
 * output channels flow through elementwise ops, BatchNormalization, pooling,
 * Resize, Pad, depthwise convolutions and Add/Mul/... with other branches
 * until *sinks* read them as input channels (a Conv, a Gemm, a MatMul, or a
 * Flatten/Reshape into a Gemm or MatMul). A *space* is a set of values that
 * share one channel numbering: the walk below puts a value in a space and
 * follows every node that reads or makes it, joining what those nodes tie
 * together (both inputs of a residual Add are one space). A Concat along the
 * channel axis makes a new space whose channels are its inputs' spaces one
 * after the other.
 *
 * A channel of a space is removed when every source of the space removes it
 * (each source ranks its own channels and removes its share); a Concat's
 * space keeps what its inputs keep, offsets shifted. Whatever cannot be
 * followed (an op not in the lists below, a graph output, a shape read, a
 * subgraph use, a constant shared with another node) leaves its space whole,
 * and the report says why, per layer. The rewrite then slices every constant
 * that carries the space's channels (weights on the right axis, biases, BN
 * vectors, per-channel constants of Add/Mul), sets depthwise convs' group,
 * and drops the value_info of values whose shapes changed. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edit.h"
#include "prune.h"

/* ---- what the walk knows ---------------------------------------------------------- */

typedef struct pc_val {
    const char *name;
    int space;
    int rank;                /* -1: unknown */
    int ax;                  /* the channel axis, counted from the end (< 0) */
} pc_val;

typedef struct pc_slice {    /* a constant whose `axis` carries a space's channels */
    nnz_tensor *t;
    int axis;
    int space;
    size_t block;            /* entries per channel along axis (a flatten: H*W), 0: 1 */
    int flatten;             /* block is the axis length / C, known once C is */
    int sink;                /* the input channels of a layer that reads the space:
                              * zeroing them is removing the channels (prune_chan_zero) */
} pc_slice;

typedef struct pc_src {
    Onnx__NodeProto *node;
    nnz_tensor *w;
    int axis;                /* the weight's output-channel axis */
    int space;
    const prune_opts *o;     /* NULL: the stage does not prune it (channels all kept) */
    const char *why_fixed;   /* why o is NULL */
    nnz_tensor *bn_scale, *bn_var; /* a BatchNormalization right after it */
    double bn_eps;
    size_t asked;            /* channels its rule removes */
    uint8_t *removable;      /* per channel */
    double *score;           /* per channel, divided by the layer's mean score */
    double rel_l2;           /* the weight error of the channels its space removed */
} pc_src;

typedef struct pc_space {
    int parent;              /* union-find */
    int whole;
    char reason[320];
    size_t c;                /* channels (0: unknown) */
    int has_src;
    uint8_t *keep;           /* per channel, once decided */
    size_t kept;
} pc_space;

typedef struct pc_cat {      /* a Concat along the channel axis: its output's space */
    Onnx__NodeProto *node;   /* is its inputs' spaces one after the other */
    int space;
} pc_cat;

typedef struct pc_group {    /* a depthwise conv whose group follows its space */
    Onnx__NodeProto *node;
    int space;
} pc_group;

typedef struct pc {
    nnz_model *m;
    const nnz_stage *st;
    Onnx__GraphProto *g;
    nnz_error *e;
    pc_val *v;
    size_t nv, capv;
    pc_space *sp;
    size_t nsp, capsp;
    pc_src *src;
    size_t nsrc;
    pc_slice *sl;
    size_t nsl, capsl;
    pc_group *grp;
    size_t ngrp, capgrp;
    pc_cat *cat;
    size_t ncat, capcat;
    size_t *queue;
    size_t nq, capq;
    char **dropvi;           /* names whose value_info goes (borrowed) */
    size_t ndropvi, capdropvi;
    int64_t opset;
    const size_t *force;     /* per space: channels to remove (the budget's); NULL: the rules */
    size_t *const *order;    /* per space: the order its channels go (NULL: by score) */
} pc;

#define GROW(arr, n, cap, e)                                                               \
    ((n) < (cap) ? 0                                                                       \
                 : grow((void **)&(arr), &(cap), sizeof *(arr), (e)))

static int grow(void **a, size_t *cap, size_t size, nnz_error *e)
{
    size_t nc = *cap ? *cap * 2 : 16;
    void *p = nnz_realloc(*a, nc * size, e);
    if (!p)
        return -1;
    *a = p;
    *cap = nc;
    return 0;
}

static int op_is(const Onnx__NodeProto *n, const char *op)
{
    return n->op_type && strcmp(n->op_type, op) == 0 &&
           (!n->domain || !*n->domain || strcmp(n->domain, "ai.onnx") == 0);
}

static const char *label(const Onnx__NodeProto *n)
{
    if (n->name && *n->name)
        return n->name;
    return n->n_output && n->output[0] ? n->output[0] : "";
}

static float attr_float(const Onnx__NodeProto *n, const char *name, float dflt)
{
    const Onnx__AttributeProto *a = nnz_node_attr(n, name);
    return a && a->has_f ? a->f : dflt;
}

static int present(const Onnx__NodeProto *n, size_t slot)
{
    return slot < n->n_input && n->input[slot] && *n->input[slot];
}

/* ---- spaces -------------------------------------------------------------------------- */

static int find(pc *c, int s)
{
    while (c->sp[s].parent != s)
        s = c->sp[s].parent = c->sp[c->sp[s].parent].parent;
    return s;
}

static int new_space(pc *c)
{
    if (GROW(c->sp, c->nsp, c->capsp, c->e) != 0)
        return -1;
    pc_space *s = &c->sp[c->nsp];
    memset(s, 0, sizeof *s);
    s->parent = (int)c->nsp;
    return (int)c->nsp++;
}

static void whole(pc *c, int s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void whole(pc *c, int s, const char *fmt, ...)
{
    pc_space *p = &c->sp[find(c, s)];
    if (p->whole)
        return; /* the first reason is the one reported */
    p->whole = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->reason, sizeof p->reason, fmt, ap);
    va_end(ap);
}

static void merge(pc *c, int a, int b)
{
    a = find(c, a);
    b = find(c, b);
    if (a == b)
        return;
    if (b < a) {
        int t = a;
        a = b;
        b = t;
    }
    pc_space *x = &c->sp[a], *y = &c->sp[b];
    y->parent = a;
    if (!x->whole && y->whole) {
        x->whole = 1;
        memcpy(x->reason, y->reason, sizeof x->reason);
    }
    x->has_src |= y->has_src;
}

/* ---- the graph ------------------------------------------------------------------------ */

static Onnx__NodeProto *producer(pc *c, const char *name, size_t *out)
{
    for (size_t i = 0; i < c->g->n_node; i++) {
        Onnx__NodeProto *n = c->g->node[i];
        for (size_t k = 0; k < n->n_output; k++)
            if (n->output[k] && strcmp(n->output[k], name) == 0) {
                *out = k;
                return n;
            }
    }
    return NULL;
}

static size_t uses_in(const Onnx__GraphProto *g, const char *name)
{
    size_t u = 0;
    for (size_t i = 0; i < g->n_output; i++)
        u += g->output[i]->name && strcmp(g->output[i]->name, name) == 0;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        for (size_t k = 0; k < n->n_input; k++)
            u += n->input[k] && strcmp(n->input[k], name) == 0;
        for (size_t a = 0; a < n->n_attribute; a++) {
            if (n->attribute[a]->g)
                u += uses_in(n->attribute[a]->g, name);
            for (size_t k = 0; k < n->attribute[a]->n_graphs; k++)
                u += uses_in(n->attribute[a]->graphs[k], name);
        }
    }
    return u;
}

/* Uses of `name` inside subgraphs of the main graph's nodes. */
static size_t subgraph_uses(const pc *c, const char *name)
{
    size_t u = 0;
    for (size_t i = 0; i < c->g->n_node; i++) {
        const Onnx__NodeProto *n = c->g->node[i];
        for (size_t a = 0; a < n->n_attribute; a++) {
            if (n->attribute[a]->g)
                u += uses_in(n->attribute[a]->g, name);
            for (size_t k = 0; k < n->attribute[a]->n_graphs; k++)
                u += uses_in(n->attribute[a]->graphs[k], name);
        }
    }
    return u;
}

static int is_graph_output(const pc *c, const char *name)
{
    for (size_t i = 0; i < c->g->n_output; i++)
        if (c->g->output[i]->name && strcmp(c->g->output[i]->name, name) == 0)
            return 1;
    return 0;
}

static int is_graph_input(const pc *c, const char *name)
{
    for (size_t i = 0; i < c->g->n_input; i++)
        if (c->g->input[i]->name && strcmp(c->g->input[i]->name, name) == 0)
            return 1;
    return 0;
}

/* The main graph's constant (initializer or Constant output) called name. */
static nnz_tensor *constant(const pc *c, const char *name)
{
    for (size_t i = 0; name && i < c->m->ntensors; i++) {
        nnz_tensor *t = &c->m->tensors[i];
        if (t->graph_depth == 0 && t->onnx_name && strcmp(t->onnx_name, name) == 0)
            return t;
    }
    return NULL;
}

/* An int64 constant's values (at most max); -1 when it is not one. */
static int int64s(pc *c, const char *name, int64_t *v, size_t max)
{
    nnz_tensor *t = constant(c, name);
    if (!t || t->dtype != NNZ_DT_INT64 || t->count > max)
        return -1;
    const uint8_t *d = t->count ? nnz_tensor_data(c->m, t, c->e) : NULL;
    if (t->count && !d)
        return -1;
    for (size_t i = 0; i < t->count; i++) {
        uint64_t u = 0;
        for (int b = 0; b < 8; b++)
            u |= (uint64_t)d[8 * i + (size_t)b] << (8 * b);
        v[i] = (int64_t)u;
    }
    return (int)t->count;
}

/* ---- the walk ------------------------------------------------------------------------- */

static pc_val *val_find(pc *c, const char *name)
{
    for (size_t i = 0; i < c->nv; i++)
        if (strcmp(c->v[i].name, name) == 0)
            return &c->v[i];
    return NULL;
}

/* Put value `name` in space s with the channel axis (rank, ax). */
static int reach(pc *c, const char *name, int s, int rank, int ax)
{
    pc_val *v = val_find(c, name);
    if (v) {
        if (v->ax != ax || (v->rank >= 0 && rank >= 0 && v->rank != rank))
            whole(c, s, "'%s' is reached with its channels on two different axes", name);
        if (v->rank < 0)
            v->rank = rank;
        merge(c, v->space, s);
        return 0;
    }
    if (GROW(c->v, c->nv, c->capv, c->e) != 0 || GROW(c->queue, c->nq, c->capq, c->e) != 0)
        return -1;
    c->v[c->nv] = (pc_val){ .name = name, .space = s, .rank = rank, .ax = ax };
    c->queue[c->nq++] = c->nv++;
    return 0;
}

static int add_slice(pc *c, nnz_tensor *t, int axis, int s, int flatten, int sink)
{
    for (size_t i = 0; i < c->nsl; i++)
        if (c->sl[i].t == t && c->sl[i].axis == axis) {
            merge(c, c->sl[i].space, s);
            c->sl[i].sink |= sink;
            return 0;
        }
    if (GROW(c->sl, c->nsl, c->capsl, c->e) != 0)
        return -1;
    c->sl[c->nsl++] = (pc_slice){ .t = t, .axis = axis, .space = s, .flatten = flatten,
                                  .sink = sink };
    return 0;
}

/* A constant the node reads besides the channels: used by nothing else, and
 * in a float type whose elements can be cut out. */
static nnz_tensor *own_constant(pc *c, int s, const Onnx__NodeProto *n, const char *name)
{
    nnz_tensor *t = constant(c, name);
    if (!t)
        return NULL;
    if (uses_in(c->g, name) != 1) {
        whole(c, s, "%s '%s' shares its constant '%s' with other nodes", n->op_type, label(n),
              name);
        return NULL;
    }
    if (nnz_dtype_size(t->dtype) == 0 || is_graph_input(c, name)) {
        whole(c, s, "%s '%s': its constant '%s' cannot be sliced (%s)", n->op_type, label(n),
              name, is_graph_input(c, name) ? "a graph input can replace it"
                                             : nnz_dtype_name(t->dtype));
        return NULL;
    }
    return t;
}

/* A constant operand of an elementwise op, broadcast against a value whose
 * channel axis is `ax` from the end: sliced when it has a dim there. */
static int broadcast_param(pc *c, int s, const Onnx__NodeProto *n, const char *name, int ax)
{
    nnz_tensor *t = constant(c, name);
    if (!t)
        return 1; /* not a constant */
    int pos = t->ndims + ax;
    if (pos < 0 || t->dims[pos] == 1)
        return 0; /* broadcast along the channels: stays */
    t = own_constant(c, s, n, name);
    return t ? add_slice(c, t, pos, s, 0, 0) : 0;
}

static const char *const unary_ops[] = {
    "Relu", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Elu", "Selu",
    "Celu", "Softplus", "Softsign", "Mish", "Gelu", "Erf", "ThresholdedRelu", "Clip", "Abs",
    "Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Floor", "Ceil", "Round", "Sign", "Sin",
    "Cos", "Identity", "Dropout", "Cast", "Not", "IsNaN", "IsInf", "Swish", NULL
};
static const char *const binary_ops[] = { "Add", "Sub", "Mul", "Div", "Max", "Min", "Sum",
                                          "Mean", "Pow", "PRelu", "Where", NULL };
static const char *const pool_ops[] = { "MaxPool", "AveragePool", "GlobalAveragePool",
                                        "GlobalMaxPool", "LpPool", "GlobalLpPool", NULL };

static int in_list(const Onnx__NodeProto *n, const char *const *list)
{
    for (; *list; list++)
        if (op_is(n, *list))
            return 1;
    return 0;
}

/* Outputs past the first must be unused (Dropout's mask, MaxPool's indices). */
static int extra_outputs_used(pc *c, const Onnx__NodeProto *n)
{
    for (size_t k = 1; k < n->n_output; k++)
        if (n->output[k] && *n->output[k] && uses_in(c->g, n->output[k]))
            return 1;
    return 0;
}

static int is_depthwise(const Onnx__NodeProto *n, const nnz_tensor *w)
{
    int64_t g = nnz_node_int(n, "group", 1);
    return op_is(n, "Conv") && g > 1 && w && w->ndims >= 3 && w->dims[1] == 1 &&
           w->dims[0] == g;
}

static pc_src *source_of(pc *c, const Onnx__NodeProto *n)
{
    for (size_t i = 0; i < c->nsrc; i++)
        if (c->src[i].node == n)
            return &c->src[i];
    return NULL;
}

/* The channel axis as an absolute axis, or -1 when the rank is not known. */
static int abs_axis(const pc_val *v)
{
    return v->rank >= 0 ? v->rank + v->ax : -1;
}

/* Node n reads value v (in its input `slot`). */
static int follow_consumer(pc *c, const pc_val *v0, Onnx__NodeProto *n, size_t slot)
{
    pc_val v = *v0; /* the array may move */
    int s = v.space, a = abs_axis(&v);
    const char *out = n->n_output ? n->output[0] : NULL;
    if (!out || !*out)
        return 0; /* nothing made from it */
    if (in_list(n, unary_ops)) {
        if (slot != 0 || extra_outputs_used(c, n)) {
            whole(c, s, "%s '%s' reads '%s' in input %zu", n->op_type, label(n), v.name, slot);
            return 0;
        }
        for (size_t k = 1; k < n->n_input; k++) /* Clip's min and max: scalars */
            if (present(n, k)) {
                nnz_tensor *t = constant(c, n->input[k]);
                if (!t || t->count != 1) {
                    whole(c, s, "%s '%s': input %zu is not a scalar constant", n->op_type,
                          label(n), k);
                    return 0;
                }
            }
        return reach(c, out, s, v.rank, v.ax);
    }
    if (op_is(n, "BatchNormalization")) {
        if (slot != 0 || a != 1 || extra_outputs_used(c, n)) {
            whole(c, s, "BatchNormalization '%s' %s", label(n),
                  slot != 0 ? "reads it as a parameter"
                  : a != 1  ? "needs the channels on axis 1 of a value of known rank"
                            : "has its training outputs used");
            return 0;
        }
        for (size_t k = 1; k <= 4; k++) {
            nnz_tensor *t = present(n, k) ? constant(c, n->input[k]) : NULL;
            if (!t || t->ndims != 1) {
                whole(c, s, "BatchNormalization '%s': input %zu is not a 1-D constant", label(n),
                      k);
                return 0;
            }
            if (!own_constant(c, s, n, n->input[k]))
                return 0;
            if (add_slice(c, t, 0, s, 0, 0) != 0)
                return -1;
        }
        return reach(c, out, s, v.rank, v.ax);
    }
    if (in_list(n, binary_ops)) {
        if (op_is(n, "Where") && slot == 0) {
            whole(c, s, "Where '%s' reads '%s' as its condition", label(n), v.name);
            return 0;
        }
        for (size_t k = 0; k < n->n_input; k++) {
            if (k == slot || !present(n, k))
                continue;
            int r = broadcast_param(c, s, n, n->input[k], v.ax);
            if (r < 0)
                return -1;
            if (r == 1 && reach(c, n->input[k], s, v.rank, v.ax) != 0) /* another branch */
                return -1;
        }
        return reach(c, out, s, v.rank, v.ax);
    }
    if (in_list(n, pool_ops)) {
        if (a != 1 || extra_outputs_used(c, n)) {
            whole(c, s, "%s '%s' %s", n->op_type, label(n),
                  a != 1 ? "needs the channels on axis 1 of a value of known rank"
                         : "has its indices output used");
            return 0;
        }
        return reach(c, out, s, v.rank, v.ax);
    }
    if (op_is(n, "Resize") || op_is(n, "Upsample")) {
        int sizes = op_is(n, "Resize") && present(n, 3);
        size_t si = op_is(n, "Resize") && c->opset >= 11 ? 2 : 1; /* the scales */
        if (slot != 0 || sizes || a < 0) {
            whole(c, s, "%s '%s' %s", n->op_type, label(n),
                  sizes ? "is given output sizes, which include the channels"
                        : "reads it where it cannot be followed");
            return 0;
        }
        if (present(n, si)) { /* the channels' scale must be 1 */
            nnz_tensor *t = constant(c, n->input[si]);
            float *sc = t && t->dtype == NNZ_DT_FLOAT && t->count > (size_t)a
                            ? nnz_tensor_floats(c->m, t, c->e) : NULL;
            int ok = sc && sc[a] == 1.0f;
            free(sc);
            if (!ok) {
                whole(c, s, "%s '%s': the channel axis's scale is not a constant 1", n->op_type,
                      label(n));
                return 0;
            }
        }
        return reach(c, out, s, v.rank, v.ax);
    }
    if (op_is(n, "Pad")) {
        int64_t pads[2 * NNZ_MAX_DIMS];
        int np = -1;
        if (c->opset < 11) {
            const Onnx__AttributeProto *pa = nnz_node_attr(n, "pads");
            if (pa && pa->n_ints <= 2 * NNZ_MAX_DIMS) {
                np = (int)pa->n_ints;
                memcpy(pads, pa->ints, pa->n_ints * sizeof *pads);
            }
        } else if (present(n, 1)) {
            np = int64s(c, n->input[1], pads, 2 * NNZ_MAX_DIMS);
        }
        if (slot != 0 || a < 0 || present(n, 3) || np != 2 * v.rank || pads[a] != 0 ||
            pads[a + v.rank] != 0) {
            whole(c, s, "Pad '%s' %s", label(n),
                  np == 2 * v.rank && a >= 0 && (pads[a] || pads[a + v.rank])
                      ? "pads the channel axis"
                      : "has pads that are not constant, or axes, or a rank not known");
            return 0;
        }
        return reach(c, out, s, v.rank, v.ax);
    }
    if (op_is(n, "Concat")) {
        int64_t ax = nnz_node_int(n, "axis", 0);
        if (v.rank < 0 && ax >= 0) {
            whole(c, s, "Concat '%s': the rank of '%s' is not known", label(n), v.name);
            return 0;
        }
        int cat_ax = ax < 0 ? (int)ax : (int)ax - v.rank;
        if (cat_ax != v.ax) { /* along another axis: one numbering for all */
            for (size_t k = 0; k < n->n_input; k++)
                if (present(n, k) && k != slot) {
                    if (constant(c, n->input[k])) {
                        whole(c, s, "Concat '%s' joins a constant to it", label(n));
                        return 0;
                    }
                    if (reach(c, n->input[k], s, v.rank, v.ax) != 0)
                        return -1;
                }
            return reach(c, out, s, v.rank, v.ax);
        }
        /* along the channels: the output is a space of its own, made of the
         * inputs' (reaching the output's producer registers the Concat) */
        pc_val *o = val_find(c, out);
        if (o)
            return 0;
        int t = new_space(c);
        return t < 0 ? -1 : reach(c, out, t, v.rank, v.ax);
    }
    if (op_is(n, "Conv") || op_is(n, "ConvTranspose")) {
        nnz_tensor *w = present(n, 1) ? constant(c, n->input[1]) : NULL;
        if (slot != 0 || a != 1 || !w || w->ndims < 3) {
            whole(c, s, "%s '%s' reads '%s' %s", n->op_type, label(n), v.name,
                  slot != 0 ? "as its weight" : a != 1 ? "with the channels not on axis 1"
                  : !w ? "with a weight computed at run time"
                       : "with a weight of fewer than 3 dims");
            return 0;
        }
        if (is_depthwise(n, w)) { /* channel c in, channel c out */
            if (!own_constant(c, s, n, n->input[1]))
                return 0;
            if (add_slice(c, w, 0, s, 0, 0) != 0)
                return -1;
            if (present(n, 2)) {
                nnz_tensor *b = own_constant(c, s, n, n->input[2]);
                if (!b)
                    return 0;
                if (add_slice(c, b, 0, s, 0, 0) != 0)
                    return -1;
            }
            if (GROW(c->grp, c->ngrp, c->capgrp, c->e) != 0)
                return -1;
            c->grp[c->ngrp++] = (pc_group){ .node = n, .space = s };
            return reach(c, out, s, w->ndims, 1 - w->ndims);
        }
        if (nnz_node_int(n, "group", 1) != 1) {
            whole(c, s, "%s '%s' is a grouped convolution (group=%lld)", n->op_type, label(n),
                  (long long)nnz_node_int(n, "group", 1));
            return 0;
        }
        if (!own_constant(c, s, n, n->input[1]))
            return 0;
        return add_slice(c, w, op_is(n, "Conv") ? 1 : 0, s, 0, 1); /* its input channels */
    }
    if (op_is(n, "Gemm") || op_is(n, "MatMul")) {
        int gemm = op_is(n, "Gemm");
        nnz_tensor *w = present(n, 1) ? constant(c, n->input[1]) : NULL;
        if (slot != 0 || v.ax != -1 || !w || w->ndims != 2 || (gemm && nnz_node_int(n, "transA", 0))) {
            whole(c, s, "%s '%s' reads '%s' %s", n->op_type, label(n), v.name,
                  slot != 0 ? "as its weight" : v.ax != -1 ? "with the channels not last"
                  : !w || w->ndims != 2 ? "against no constant 2-D weight"
                                        : "transposed (transA=1)");
            return 0;
        }
        if (!own_constant(c, s, n, n->input[1]))
            return 0;
        return add_slice(c, w, gemm && nnz_node_int(n, "transB", 0) ? 1 : 0, s, 0, 1);
    }
    if (op_is(n, "Flatten") || op_is(n, "Reshape")) {
        /* a plain flatten (N, C, ...) -> (N, C*...) into Gemm/MatMul rows */
        int plain = 0;
        if (op_is(n, "Flatten")) {
            plain = nnz_node_int(n, "axis", 1) == 1;
        } else if (slot == 0 && present(n, 1)) {
            int64_t sh[4];
            int ns = int64s(c, n->input[1], sh, 4);
            plain = ns == 2 && (sh[0] == 0 || sh[0] > 0) && sh[1] == -1 &&
                    nnz_node_int(n, "allowzero", 0) == 0;
        }
        if (slot != 0 || a != 1 || !plain) {
            whole(c, s, "%s '%s' is not a plain flatten of the channels (axis 1) into a Gemm",
                  n->op_type, label(n));
            return 0;
        }
        if (is_graph_output(c, out) || subgraph_uses(c, out)) {
            whole(c, s, "%s '%s': its output is a graph output or used in a subgraph",
                  n->op_type, label(n));
            return 0;
        }
        for (size_t i = 0; i < c->g->n_node; i++) {
            Onnx__NodeProto *u = c->g->node[i];
            for (size_t k = 0; k < u->n_input; k++) {
                if (!u->input[k] || strcmp(u->input[k], out) != 0)
                    continue;
                int gemm = op_is(u, "Gemm");
                nnz_tensor *w = present(u, 1) ? constant(c, u->input[1]) : NULL;
                if (k != 0 || !(gemm || op_is(u, "MatMul")) || !w || w->ndims != 2 ||
                    (gemm && nnz_node_int(u, "transA", 0))) {
                    whole(c, s, "the flattened '%s' is read by %s '%s', not as the input of a "
                          "Gemm or MatMul with a constant weight", out, u->op_type, label(u));
                    return 0;
                }
                if (!own_constant(c, s, u, u->input[1]))
                    return 0;
                if (add_slice(c, w, gemm && nnz_node_int(u, "transB", 0) ? 1 : 0, s, 1, 1) != 0)
                    return -1;
            }
        }
        if (GROW(c->dropvi, c->ndropvi, c->capdropvi, c->e) != 0)
            return -1;
        c->dropvi[c->ndropvi++] = (char *)out;
        return 0;
    }
    whole(c, s, "%s '%s' reads '%s' and is not followed", n->op_type ? n->op_type : "?",
          label(n), v.name);
    return 0;
}

/* Value v is made by node n (output `k`). */
static int follow_producer(pc *c, const pc_val *v0, Onnx__NodeProto *n, size_t k)
{
    pc_val v = *v0;
    int s = v.space;
    pc_src *src = source_of(c, n);
    if (src && k == 0) {
        merge(c, src->space, s);
        return 0;
    }
    if (k != 0) {
        whole(c, s, "'%s' is output %zu of %s '%s'", v.name, k, n->op_type, label(n));
        return 0;
    }
    if (op_is(n, "Concat")) {
        int64_t ax = nnz_node_int(n, "axis", 0);
        if (ax >= 0 && v.rank < 0) {
            whole(c, s, "Concat '%s': the rank of '%s' is not known", label(n), v.name);
            return 0;
        }
        int cat_ax = ax < 0 ? (int)ax : (int)ax - v.rank;
        if (cat_ax == v.ax) {
            size_t j = 0;
            while (j < c->ncat && c->cat[j].node != n)
                j++;
            if (j == c->ncat) {
                if (GROW(c->cat, c->ncat, c->capcat, c->e) != 0)
                    return -1;
                c->cat[c->ncat++] = (pc_cat){ .node = n, .space = s };
            }
            for (size_t i = 0; i < n->n_input; i++) {
                if (!present(n, i))
                    continue;
                if (constant(c, n->input[i])) {
                    whole(c, s, "Concat '%s' joins a constant along the channels", label(n));
                    continue;
                }
                if (!val_find(c, n->input[i])) {
                    int t = new_space(c);
                    if (t < 0 || reach(c, n->input[i], t, v.rank, v.ax) != 0)
                        return -1;
                }
            }
            return 0;
        }
    }
    /* a node that passes channels through: its channel inputs join the space
     * (reaching them follows the node again, from the input side, with the checks) */
    int through = in_list(n, unary_ops) || in_list(n, binary_ops) || in_list(n, pool_ops) ||
                  op_is(n, "BatchNormalization") || op_is(n, "Resize") ||
                  op_is(n, "Upsample") || op_is(n, "Pad") || op_is(n, "Concat");
    if (op_is(n, "Conv") && present(n, 1) && is_depthwise(n, constant(c, n->input[1])))
        through = 1;
    if (!through) {
        whole(c, s, "'%s' is made by %s '%s', which is not followed", v.name,
              n->op_type ? n->op_type : "?", label(n));
        return 0;
    }
    for (size_t i = 0; i < n->n_input; i++) {
        if (!present(n, i) || constant(c, n->input[i]))
            continue;
        if (i > 0 && !(in_list(n, binary_ops) || op_is(n, "Concat")))
            continue;
        if (reach(c, n->input[i], s, v.rank, v.ax) != 0)
            return -1;
    }
    return 0;
}

static int follow(pc *c, size_t vi)
{
    pc_val v = c->v[vi];
    int s = v.space;
    if (is_graph_output(c, v.name))
        whole(c, s, "'%s' is a graph output (its shape stays)", v.name);
    if (subgraph_uses(c, v.name))
        whole(c, s, "'%s' is used inside a subgraph", v.name);
    size_t k;
    Onnx__NodeProto *p = producer(c, v.name, &k);
    if (!p) {
        whole(c, s, "'%s' is %s", v.name,
              is_graph_input(c, v.name) ? "a graph input" : "a constant, not made by a layer");
    } else if (follow_producer(c, &c->v[vi], p, k) != 0) {
        return -1;
    }
    for (size_t i = 0; i < c->g->n_node; i++) {
        Onnx__NodeProto *n = c->g->node[i];
        for (size_t j = 0; j < n->n_input; j++)
            if (n->input[j] && strcmp(n->input[j], v.name) == 0 &&
                follow_consumer(c, val_find(c, v.name), n, j) != 0)
                return -1;
    }
    return 0;
}

/* ---- sources --------------------------------------------------------------------------- */

static int add_sources(pc *c)
{
    c->src = nnz_calloc(c->g->n_node ? c->g->n_node : 1, sizeof *c->src, c->e);
    if (!c->src)
        return -1;
    for (size_t i = 0; i < c->g->n_node; i++) {
        Onnx__NodeProto *n = c->g->node[i];
        int conv = op_is(n, "Conv"), convt = op_is(n, "ConvTranspose"),
            gemm = op_is(n, "Gemm"), mm = op_is(n, "MatMul");
        if (!(conv || convt || gemm || mm) || !present(n, 0) || !present(n, 1) ||
            n->n_output < 1 || !n->output[0] || !*n->output[0])
            continue;
        nnz_tensor *w = constant(c, n->input[1]);
        if (!w || !nnz_dtype_is_float(w->dtype) || uses_in(c->g, n->input[1]) != 1 ||
            is_graph_input(c, n->input[1]))
            continue;
        int axis, rank, ax;
        if (conv || convt) {
            if (nnz_node_int(n, "group", 1) != 1 || w->ndims < 3)
                continue;
            axis = conv ? 0 : 1;
            rank = w->ndims;
            ax = 1 - rank;
        } else {
            if (w->ndims != 2 || (gemm && nnz_node_int(n, "transA", 0)))
                continue;
            axis = gemm && nnz_node_int(n, "transB", 0) ? 0 : 1;
            rank = gemm ? 2 : -1;
            ax = -1;
        }
        int s = new_space(c);
        if (s < 0)
            return -1;
        pc_src *src = &c->src[c->nsrc++];
        src->node = n;
        src->w = w;
        src->axis = axis;
        src->space = s;
        c->sp[s].has_src = 1;
        /* which of the stage's options: NULL when it does not remove this one */
        size_t ti = (size_t)(w - c->m->tensors);
        const prune_opts *o = c->st->selected[ti] ? nnz_stage_opts_for(c->st, w) : NULL;
        src->o = o && o->channel ? o : NULL;
        src->why_fixed = !c->st->selected[ti] ? "not selected by this stage (only=, skip=, "
                                                "min-elements=)"
                         : !o ? "a per-layer override turns prune off for it"
                              : "a per-layer override prunes it without structured=channel";
        if (add_slice(c, w, axis, s, 0, 0) != 0)
            return -1;
        if (present(n, 2)) { /* the bias */
            nnz_tensor *b = constant(c, n->input[2]);
            if (gemm && b) {
                int r = broadcast_param(c, s, n, n->input[2], -1);
                if (r < 0)
                    return -1;
            } else if (!b || b->ndims != 1 || uses_in(c->g, n->input[2]) != 1) {
                whole(c, s, "%s '%s': its bias is not a 1-D constant of its own", n->op_type,
                      label(n));
            } else if (add_slice(c, b, 0, s, 0, 0) != 0) {
                return -1;
            }
        }
        if (reach(c, n->output[0], s, rank, ax) != 0)
            return -1;
        /* a BatchNormalization right after it scales its channels */
        size_t nuse = uses_in(c->g, n->output[0]);
        for (size_t j = 0; nuse == 1 && j < c->g->n_node; j++) {
            Onnx__NodeProto *b = c->g->node[j];
            if (op_is(b, "BatchNormalization") && present(b, 4) &&
                strcmp(b->input[0], n->output[0]) == 0) {
                src->bn_scale = constant(c, b->input[1]);
                src->bn_var = constant(c, b->input[4]);
                src->bn_eps = attr_float(b, "epsilon", 1e-5f);
            }
        }
    }
    return 0;
}

/* ---- deciding --------------------------------------------------------------------------- */

/* Per output channel of the source: its weights times |gamma| / sqrt(var + eps)
 * of the BN after it (what a folded weight would be), ranked; returns the
 * channels it removes in *removable (1 each), and fills src->asked. */
static int rank_source(pc *c, pc_src *s, size_t C)
{
    nnz_tensor *t = s->w;
    const prune_opts *o = s->o;
    float *v = nnz_tensor_floats(c->m, t, c->e);
    if (!v)
        return -1;
    prune_layout lay = { .nunits = C, .inner = 1 };
    for (int d = s->axis + 1; d < t->ndims; d++)
        lay.inner *= (size_t)t->dims[d];
    for (size_t i = 0; i < t->count; i++)
        if (!isfinite(v[i])) {
            free(v);
            return nnz_fail(c->e, NNZ_EXIT_INPUT, "tensor '%s': value %zu is not finite; "
                            "ranking channels needs finite weights", t->name, i);
        }
    if (s->bn_scale && s->bn_var && s->bn_scale->count == C && s->bn_var->count == C &&
        nnz_dtype_is_float(s->bn_scale->dtype) && nnz_dtype_is_float(s->bn_var->dtype)) {
        float *g = nnz_tensor_floats(c->m, s->bn_scale, c->e);
        float *var = g ? nnz_tensor_floats(c->m, s->bn_var, c->e) : NULL;
        if (!var) {
            free(g);
            free(v);
            return -1;
        }
        for (size_t i = 0; i < t->count; i++) {
            size_t ch = (i / lay.inner) % C;
            v[i] = (float)((double)v[i] * fabs((double)g[ch]) / sqrt((double)var[ch] + s->bn_eps));
        }
        free(g);
        free(var);
    }
    prune_order ord;
    if (prune_order_make(v, t->count, &lay, o->norm, &ord, c->e) != 0) {
        free(v);
        return -1;
    }
    size_t k;
    if (o->rule == PR_SPARSITY)
        k = prune_count_sparsity(C, o->sparsity);
    else if (o->rule == PR_THRESHOLD)
        k = prune_count_below(&ord, o->k * prune_std(v, t->count));
    else if (o->rule == PR_BUDGET)
        k = 0; /* the budget gives each group its count (prune_chan_set) */
    else
        k = prune_count_error(&ord, o->max_rel_error);
    if (k >= C)
        k = C - 1; /* keep at least one */
    s->asked = k;
    s->removable = nnz_calloc(C, 1, c->e);
    s->score = nnz_calloc(C, sizeof *s->score, c->e);
    double mean = 0;
    for (size_t j = 0; j < C; j++)
        mean += ord.score[j] / (double)C;
    if (s->removable && s->score)
        for (size_t j = 0; j < C; j++) {
            if (j < k)
                s->removable[ord.unit[j]] = 1;
            s->score[ord.unit[j]] = mean > 0 ? ord.score[j] / mean : 0;
        }
    prune_order_free(&ord);
    free(v);
    return s->removable && s->score ? 0 : -1;
}

typedef struct chan_score {
    double score;
    size_t index;
} chan_score;

static int cmp_score(const void *a, const void *b)
{
    const chan_score *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* group=sum: the group ranks its channels by the sum of its layers' scores
 * (each divided by its layer's mean, so layers of any scale count alike)
 * and removes n of them (round(S C), S the first layer's sparsity; the
 * budget's count). At least one channel stays. */
static int group_sum(pc *c, int sp, pc_space *p, size_t n)
{
    if (c->order && c->order[sp]) { /* an order measured from outside */
        memset(p->keep, 1, p->c);
        for (size_t j = 0; j < n && j + 1 < p->c; j++)
            p->keep[c->order[sp][j]] = 0;
        return 0;
    }
    chan_score *k = nnz_calloc(p->c, sizeof *k, c->e);
    if (!k)
        return -1;
    for (size_t ch = 0; ch < p->c; ch++)
        k[ch].index = ch;
    for (size_t i = 0; i < c->nsrc; i++)
        if (find(c, c->src[i].space) == sp)
            for (size_t ch = 0; ch < p->c; ch++)
                k[ch].score += c->src[i].score[ch];
    qsort(k, p->c, sizeof *k, cmp_score);
    if (n >= p->c)
        n = p->c - 1;
    memset(p->keep, 1, p->c);
    for (size_t j = 0; j < n; j++)
        p->keep[k[j].index] = 0;
    free(k);
    return 0;
}

/* The space of Concat input k (-1: none), and the channels of all its inputs
 * (0 while one is not known). */
static int cat_input(pc *c, const Onnx__NodeProto *n, size_t k)
{
    pc_val *v = present(n, k) ? val_find(c, n->input[k]) : NULL;
    return v ? find(c, v->space) : -1;
}

static size_t concat_channels(pc *c, const Onnx__NodeProto *n)
{
    size_t sum = 0;
    for (size_t k = 0; k < n->n_input; k++) {
        if (!present(n, k))
            continue;
        int q = cat_input(c, n, k);
        if (q < 0 || !c->sp[q].c)
            return 0;
        sum += c->sp[q].c;
    }
    return sum;
}

/* Spread the keeps across the Concats until nothing changes: the output keeps
 * what an input keeps (offsets shifted), and an input keeps what the output
 * keeps (another branch of the output's space may need it). Keeps only
 * grow, so this ends. */
static void spread_keeps(pc *c)
{
    for (int again = 1; again;) {
        again = 0;
        for (size_t i = 0; i < c->ncat; i++) {
            const Onnx__NodeProto *n = c->cat[i].node;
            pc_space *o = &c->sp[find(c, c->cat[i].space)];
            size_t off = 0;
            int ok = o->keep != NULL && concat_channels(c, n) == o->c;
            for (size_t k = 0; ok && k < n->n_input; k++)
                ok = !present(n, k) || (cat_input(c, n, k) >= 0 && c->sp[cat_input(c, n, k)].keep);
            for (size_t k = 0; ok && k < n->n_input; k++) {
                if (!present(n, k))
                    continue;
                pc_space *q = &c->sp[cat_input(c, n, k)];
                for (size_t j = 0; j < q->c; j++) {
                    uint8_t u = o->keep[off + j] | q->keep[j];
                    again |= u != o->keep[off + j] || u != q->keep[j];
                    o->keep[off + j] = q->keep[j] = u;
                }
                off += q->c;
            }
        }
    }
}

/* What does not depend on how many channels go: each space's channel count,
 * what keeps it whole, its layers' channel scores. */
static int decide_fixed(pc *c)
{
    /* channel counts: from the sources, then through the Concats */
    for (size_t i = 0; i < c->nsrc; i++) {
        pc_src *s = &c->src[i];
        pc_space *p = &c->sp[find(c, s->space)];
        size_t C = (size_t)s->w->dims[s->axis];
        if (p->c && p->c != C)
            whole(c, s->space, "its layers make %zu and %zu channels", p->c, C);
        p->c = C;
    }
    for (size_t round = 0; round <= c->ncat; round++) {
        int changed = 0;
        for (size_t i = 0; i < c->ncat; i++) {
            pc_space *p = &c->sp[find(c, c->cat[i].space)];
            size_t C = concat_channels(c, c->cat[i].node);
            if (!C || p->c == C)
                continue;
            if (p->c)
                whole(c, c->cat[i].space, "Concat '%s' makes %zu channels where %zu are "
                      "expected", label(c->cat[i].node), C, p->c);
            else
                p->c = C, changed = 1;
        }
        if (!changed)
            break;
    }
    for (size_t i = 0; i < c->ncat; i++)
        if (!concat_channels(c, c->cat[i].node))
            whole(c, c->cat[i].space, "an input of Concat '%s' has a channel count not known",
                  label(c->cat[i].node));
    for (size_t i = 0; i < c->nsp; i++)
        if (find(c, (int)i) == (int)i && !c->sp[i].c)
            whole(c, (int)i, "its channel count is not known");
    for (size_t i = 0; i < c->nsrc; i++)
        if (!c->src[i].o)
            whole(c, c->src[i].space, "layer '%s' is %s", label(c->src[i].node),
                  c->src[i].why_fixed);
    for (size_t i = 0; i < c->nsl; i++) { /* every slice must fit the count */
        pc_slice *sl = &c->sl[i];
        pc_space *p = &c->sp[find(c, sl->space)];
        size_t len = (size_t)sl->t->dims[sl->axis];
        if (!p->c)
            continue;
        if (sl->flatten && len % p->c == 0)
            sl->block = len / p->c;
        else if (len != p->c)
            whole(c, sl->space, "'%s' has %zu entries on axis %d where %zu channels%s were "
                  "expected", sl->t->name, len, sl->axis, p->c, sl->flatten ? " (times H*W)" : "");
    }
    /* a whole Concat output keeps its inputs whole */
    for (int again = 1; again;) {
        again = 0;
        for (size_t i = 0; i < c->ncat; i++) {
            pc_space *p = &c->sp[find(c, c->cat[i].space)];
            const Onnx__NodeProto *n = c->cat[i].node;
            for (size_t k = 0; p->whole && k < n->n_input; k++) {
                int q = present(n, k) ? cat_input(c, n, k) : -1;
                if (q >= 0 && !c->sp[q].whole) {
                    whole(c, q, "it feeds Concat '%s', whose output is kept whole (%s)",
                          label(n), p->reason);
                    again = 1;
                }
            }
        }
    }
    for (size_t i = 0; i < c->nsp; i++) {
        pc_space *p = &c->sp[i];
        if (find(c, (int)i) != (int)i || !p->c)
            continue;
        if (!(p->keep = nnz_malloc(p->c, c->e)))
            return -1;
    }
    for (size_t i = 0; i < c->nsrc; i++) {
        pc_src *s = &c->src[i];
        pc_space *p = &c->sp[find(c, s->space)];
        if (p->whole || !s->o)
            continue;
        if (rank_source(c, s, p->c) != 0)
            return -1;
    }
    return 0;
}

/* Which channels each space keeps, from its layers' rules (or, with
 * c->force, the count each group removes); may run again with other counts. */
static int decide_keep(pc *c)
{
    /* keep: a channel stays where any layer of its space keeps it */
    for (size_t i = 0; i < c->nsp; i++) {
        pc_space *p = &c->sp[i];
        if (find(c, (int)i) == (int)i && p->c && p->keep)
            memset(p->keep, p->whole || p->has_src, p->c); /* a Concat's alone: from its inputs */
    }
    for (size_t i = 0; i < c->nsp; i++) {
        pc_space *p = &c->sp[i];
        if (find(c, (int)i) != (int)i || p->whole || !p->has_src || !p->c)
            continue;
        const prune_opts *first = NULL;
        size_t nsrc = 0;
        for (size_t k = 0; k < c->nsrc; k++)
            if (find(c, c->src[k].space) == (int)i && nsrc++ == 0)
                first = c->src[k].o;
        if (c->force) {
            if (group_sum(c, (int)i, p, c->force[i]) != 0)
                return -1;
            continue;
        }
        if (nsrc > 1 && first->group_sum && first->rule == PR_SPARSITY) {
            if (group_sum(c, (int)i, p, prune_count_sparsity(p->c, first->sparsity)) != 0)
                return -1;
            continue;
        }
        for (size_t ch = 0; ch < p->c; ch++) {
            int rm = 1;
            for (size_t k = 0; k < c->nsrc && rm; k++)
                if (find(c, c->src[k].space) == (int)i)
                    rm = c->src[k].removable && c->src[k].removable[ch];
            p->keep[ch] = (uint8_t)!rm;
        }
    }
    spread_keeps(c);
    for (size_t i = 0; i < c->nsp; i++) {
        pc_space *p = &c->sp[i];
        p->kept = 0;
        for (size_t ch = 0; p->keep && ch < p->c; ch++)
            p->kept += p->keep[ch];
    }
    return 0;
}

/* ---- the rewrite --------------------------------------------------------------------------- */

/* Cut tensor t down to the kept entries of each axis (keep[a] NULL: all). */
static int slice_tensor(pc *c, nnz_tensor *t, uint8_t *const *keep)
{
    size_t es = nnz_dtype_size(t->dtype);
    int nd = t->ndims;
    int64_t nd_new[NNZ_MAX_DIMS];
    size_t total = 1;
    for (int a = 0; a < nd; a++) {
        size_t k = 0;
        for (int64_t i = 0; i < t->dims[a]; i++)
            k += !keep[a] || keep[a][i];
        nd_new[a] = (int64_t)k;
        total *= k;
    }
    const uint8_t *d = t->count ? nnz_tensor_data(c->m, t, c->e) : NULL;
    if (t->count && !d)
        return -1;
    uint8_t *out = nnz_malloc(total ? total * es : 1, c->e);
    if (!out)
        return -1;
    size_t idx[NNZ_MAX_DIMS] = { 0 }, w = 0;
    for (size_t i = 0; i < t->count; i++) {
        int ok = 1;
        for (int a = 0; a < nd && ok; a++)
            ok = !keep[a] || keep[a][idx[a]];
        if (ok)
            memcpy(out + es * w++, d + es * i, es);
        for (int a = nd - 1; a >= 0; a--) { /* row-major odometer */
            if (++idx[a] < (size_t)t->dims[a])
                break;
            idx[a] = 0;
        }
    }
    nnz_tensor_set_data(t, out, total * es);
    for (int a = 0; a < nd; a++) {
        t->proto->dims[a] = nd_new[a];
        t->dims[a] = nd_new[a];
    }
    t->count = total;
    return 0;
}

static void drop_value_info(Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_value_info; i++)
        if (g->value_info[i]->name && strcmp(g->value_info[i]->name, name) == 0) {
            protobuf_c_message_free_unpacked(&g->value_info[i]->base, NULL);
            memmove(g->value_info + i, g->value_info + i + 1,
                    (g->n_value_info - i - 1) * sizeof *g->value_info);
            g->n_value_info--;
            return;
        }
}

static int changed(pc *c, int s)
{
    pc_space *p = &c->sp[find(c, s)];
    return !p->whole && p->keep && p->kept < p->c;
}

static int rewrite(pc *c)
{
    /* each tensor once, with every axis cut at the same time */
    for (size_t i = 0; i < c->nsl; i++) {
        if (!c->sl[i].t || !changed(c, c->sl[i].space))
            continue;
        nnz_tensor *t = c->sl[i].t;
        uint8_t *keep[NNZ_MAX_DIMS] = { 0 };
        int rc = 0;
        for (size_t j = i; j < c->nsl && rc == 0; j++) {
            pc_slice *sl = &c->sl[j];
            if (sl->t != t || !changed(c, sl->space))
                continue;
            pc_space *p = &c->sp[find(c, sl->space)];
            size_t len = (size_t)t->dims[sl->axis], blk = sl->block ? sl->block : 1;
            if (!(keep[sl->axis] = nnz_malloc(len, c->e)))
                rc = -1;
            for (size_t k = 0; rc == 0 && k < len; k++)
                keep[sl->axis][k] = p->keep[k / blk];
            sl->t = NULL;
        }
        if (rc == 0)
            rc = slice_tensor(c, t, keep);
        for (int a = 0; a < NNZ_MAX_DIMS; a++)
            free(keep[a]);
        if (rc != 0)
            return nnz_wrap(c->e, "slicing '%s': ", t->name);
    }
    for (size_t i = 0; i < c->ngrp; i++) {
        if (!changed(c, c->grp[i].space))
            continue;
        Onnx__NodeProto *n = c->grp[i].node;
        for (size_t a = 0; a < n->n_attribute; a++)
            if (n->attribute[a]->name && strcmp(n->attribute[a]->name, "group") == 0)
                n->attribute[a]->i = (int64_t)c->sp[find(c, c->grp[i].space)].kept;
    }
    /* shapes recorded for values that changed are stale: they go */
    for (size_t i = 0; i < c->nv; i++)
        if (changed(c, c->v[i].space))
            drop_value_info(c->g, c->v[i].name);
    for (size_t i = 0; i < c->ndropvi; i++)
        drop_value_info(c->g, c->dropvi[i]);
    return 0;
}

/* ---- the report ------------------------------------------------------------------------------ */

static double removed_error(pc *c, pc_src *s, const uint8_t *keep, nnz_error *e)
{
    float *v = nnz_tensor_floats(c->m, s->w, e);
    if (!v)
        return NAN;
    size_t C = (size_t)s->w->dims[s->axis], inner = 1;
    for (int d = s->axis + 1; d < s->w->ndims; d++)
        inner *= (size_t)s->w->dims[d];
    double cut = 0, all = 0;
    for (size_t i = 0; i < s->w->count; i++) {
        double x = (double)v[i] * v[i];
        all += x;
        if (!keep[(i / inner) % C])
            cut += x;
    }
    free(v);
    return all > 0 ? sqrt(cut / all) : 0;
}

static const char *rule_name(const prune_opts *o, char *buf, size_t n)
{
    if (o->rule == PR_BUDGET)
        snprintf(buf, n, "max-output-error=%g", o->max_output_error);
    else if (o->rule == PR_SPARSITY)
        snprintf(buf, n, "sparsity=%g", o->sparsity);
    else if (o->rule == PR_THRESHOLD)
        snprintf(buf, n, "threshold=%g", o->k);
    else
        snprintf(buf, n, "sparsity=auto,max-rel-error=%g", o->max_rel_error);
    return buf;
}

static int report_layers(pc *c, cJSON *r, size_t *kept_whole)
{
    cJSON *layers = cJSON_AddArrayToObject(r, "layers");
    for (size_t i = 0; i < c->nsrc; i++) {
        pc_src *s = &c->src[i];
        if (!s->o) /* not this stage's: not reported as a layer */
            continue;
        int sp = find(c, s->space);
        pc_space *p = &c->sp[sp];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(layers, o);
        char rule[96];
        cJSON_AddStringToObject(o, "layer", label(s->node));
        cJSON_AddStringToObject(o, "op", s->node->op_type);
        cJSON_AddStringToObject(o, "weight", s->w->name);
        cJSON_AddStringToObject(o, "rule", rule_name(s->o, rule, sizeof rule));
        cJSON_AddStringToObject(o, "norm", s->o->norm == PR_L1   ? "l1"
                                           : s->o->norm == PR_L2 ? "l2"
                                                                 : "output");
        cJSON_AddBoolToObject(o, "bn_scaled", s->bn_scale != NULL && s->bn_var != NULL);
        cJSON_AddNumberToObject(o, "group", sp);
        cJSON_AddNumberToObject(o, "channels", (double)p->c);
        size_t kept = p->whole || !p->keep ? p->c : p->kept;
        cJSON_AddNumberToObject(o, "asked", (double)s->asked);
        cJSON_AddNumberToObject(o, "kept", (double)kept);
        cJSON_AddNumberToObject(o, "removed", (double)(p->c - kept));
        cJSON *rm = cJSON_AddArrayToObject(o, "removed_channels");
        for (size_t ch = 0; !p->whole && p->keep && ch < p->c; ch++)
            if (!p->keep[ch])
                cJSON_AddItemToArray(rm, cJSON_CreateNumber((double)ch));
        if (p->whole) {
            cJSON_AddStringToObject(o, "decision", "kept whole");
            cJSON_AddStringToObject(o, "reason", p->reason);
            (*kept_whole)++;
        } else {
            cJSON_AddStringToObject(o, "decision", kept < p->c ? "pruned" : "nothing removed");
            if (s->asked > p->c - kept)
                cJSON_AddStringToObject(o, "reason", "its group keeps some of the channels it "
                                        "would remove (a channel goes only where every layer of "
                                        "the group, and of branches joined by a Concat, removes "
                                        "it)");
            nnz_error e2 = { 0 };
            s->rel_l2 = removed_error(c, s, p->keep, &e2);
            cJSON_AddNumberToObject(o, "rel_l2", s->rel_l2);
        }
        cJSON *vals = cJSON_AddArrayToObject(o, "group_layers");
        for (size_t k = 0; k < c->nsrc; k++)
            if (find(c, c->src[k].space) == sp)
                cJSON_AddItemToArray(vals, cJSON_CreateString(label(c->src[k].node)));
    }
    return 0;
}

/* ---- the entry point ---------------------------------------------------------------------- */

static void pc_free(pc *c)
{
    for (size_t i = 0; i < c->nsp; i++)
        free(c->sp[i].keep);
    for (size_t i = 0; i < c->nsrc; i++) {
        free(c->src[i].removable);
        free(c->src[i].score);
    }
    free(c->sp);
    free(c->src);
    free(c->v);
    free(c->sl);
    free(c->grp);
    free(c->cat);
    free(c->queue);
    free(c->dropvi);
}

/* ---- the analysis kept open (prune_budget.c chooses the counts) ------------------------ */

typedef struct pc_sink {     /* a sink slice's weights in an interpreter, and their originals */
    const pc_slice *sl;
    float *live;
    float *orig;
    size_t n, inner, len, blk;
} pc_sink;

struct prune_chan {
    pc c;
    uint64_t params_before;
    prune_chan_group *grp;
    size_t ngrp;
    size_t *force;           /* per space: channels its group removes */
    size_t **order;          /* per space: its channels' order, when set from outside */
    pc_sink *sink;
    size_t nsink;
    int decided;
};

int prune_chan_open(nnz_model *m, const nnz_stage *st, prune_chan **out, nnz_error *e)
{
    *out = NULL;
    prune_chan *h = nnz_calloc(1, sizeof *h, e);
    if (!h)
        return -1;
    h->c = (pc){ .m = m, .st = st, .g = m->proto->graph, .e = e, .opset = nnz_model_opset(m) };
    h->params_before = nnz_model_param_count(m);
    pc *c = &h->c;
    int rc = add_sources(c);
    for (size_t q = 0; rc == 0 && q < c->nq; q++)
        rc = follow(c, c->queue[q]);
    if (rc == 0)
        rc = decide_fixed(c);
    if (rc == 0 && !(h->force = nnz_calloc(c->nsp + 1, sizeof *h->force, e)))
        rc = -1;
    if (rc == 0 && !(h->grp = nnz_calloc(c->nsp + 1, sizeof *h->grp, e)))
        rc = -1;
    if (rc == 0 && !(h->order = nnz_calloc(c->nsp + 1, sizeof *h->order, e)))
        rc = -1;
    c->order = h->order;
    /* the groups: spaces with layers that make their channels, not kept whole */
    for (size_t i = 0; rc == 0 && i < c->nsp; i++) {
        pc_space *p = &c->sp[i];
        if (find(c, (int)i) != (int)i || p->whole || !p->has_src || p->c < 2 || !p->keep)
            continue;
        prune_chan_group *g = &h->grp[h->ngrp++];
        g->space = (int)i;
        g->channels = p->c;
        for (size_t k = 0; k < c->nsrc; k++)
            if (find(c, c->src[k].space) == (int)i) {
                if (!g->layer)
                    g->layer = label(c->src[k].node);
                g->nlayers++;
            }
    }
    if (rc != 0) {
        prune_chan_free(h);
        return -1;
    }
    *out = h;
    return 0;
}

size_t prune_chan_ngroups(const prune_chan *h)
{
    return h->ngrp;
}

prune_chan_group *prune_chan_group_at(prune_chan *h, size_t g)
{
    return &h->grp[g];
}

const char *prune_chan_layer(const prune_chan *h, size_t g, size_t k)
{
    const pc *c = &h->c;
    for (size_t i = 0; i < c->nsrc; i++)
        if (find((pc *)c, c->src[i].space) == h->grp[g].space && k-- == 0)
            return label(c->src[i].node);
    return NULL;
}

/* Does space `s` carry group space `g`'s channels (itself, or a Concat made
 * of it, up to `depth` Concats deep: spaces merged through a residual Add
 * may make the Concats a cycle)? */
static int carries(pc *c, int s, int g, int depth)
{
    s = find(c, s);
    if (s == g)
        return 1;
    if (depth <= 0)
        return 0;
    for (size_t i = 0; i < c->ncat; i++) {
        if (find(c, c->cat[i].space) != s)
            continue;
        const Onnx__NodeProto *n = c->cat[i].node;
        for (size_t k = 0; k < n->n_input; k++) {
            int q = present(n, k) ? cat_input(c, n, k) : -1;
            if (q >= 0 && q != s && carries(c, q, g, depth - 1))
                return 1;
        }
    }
    return 0;
}

void prune_chan_costs(prune_chan *h, double (*node_macs)(void *ctx, const Onnx__NodeProto *n),
                      void *ctx)
{
    pc *c = &h->c;
    for (size_t g = 0; g < h->ngrp; g++) {
        prune_chan_group *G = &h->grp[g];
        G->params = G->macs = 0;
        for (size_t i = 0; i < c->nsl; i++) {
            const pc_slice *sl = &c->sl[i];
            if (!sl->t || !carries(c, sl->space, G->space, 8))
                continue;
            double len = (double)sl->t->dims[sl->axis], blk = sl->block ? (double)sl->block : 1;
            if (len <= 0)
                continue;
            G->params += (double)sl->t->count * blk / len;
            if (node_macs && sl->t->consumer)
                G->macs += node_macs(ctx, sl->t->consumer) * blk / len;
        }
    }
}

int prune_chan_set(prune_chan *h, const size_t *remove)
{
    pc *c = &h->c;
    memset(h->force, 0, c->nsp * sizeof *h->force);
    for (size_t g = 0; g < h->ngrp; g++)
        h->force[h->grp[g].space] = remove[g];
    for (size_t i = 0; i < c->nsrc; i++)
        c->src[i].asked = h->force[find(c, c->src[i].space)];
    c->force = h->force;
    if (decide_keep(c) != 0)
        return -1;
    for (size_t g = 0; g < h->ngrp; g++)
        h->grp[g].kept = c->sp[h->grp[g].space].kept;
    h->decided = 1;
    return 0;
}

int prune_chan_zero(prune_chan *h, nnz_infer *inf, nnz_error *e)
{
    pc *c = &h->c;
    if (!h->sink) { /* first call: the sinks' weights in this interpreter */
        if (!(h->sink = nnz_calloc(c->nsl + 1, sizeof *h->sink, e)))
            return -1;
        for (size_t i = 0; i < c->nsl; i++) {
            const pc_slice *sl = &c->sl[i];
            size_t n;
            if (!sl->sink || !sl->t)
                continue;
            float *live = nnz_infer_weight(inf, sl->t->name, &n);
            if (!live || n != sl->t->count)
                return nnz_fail(e, NNZ_EXIT_INTERNAL, "the interpreter holds no float copy of "
                                "'%s' to remove channels from", sl->t->name);
            pc_sink *k = &h->sink[h->nsink++];
            k->sl = sl;
            k->live = live;
            k->n = n;
            k->len = (size_t)sl->t->dims[sl->axis];
            k->blk = sl->block ? sl->block : 1;
            k->inner = 1;
            for (int d = sl->axis + 1; d < sl->t->ndims; d++)
                k->inner *= (size_t)sl->t->dims[d];
            if (!(k->orig = nnz_malloc(n * sizeof *k->orig + 1, e)))
                return -1;
            memcpy(k->orig, live, n * sizeof *live);
        }
    }
    /* a removed channel's consumers read nothing from it: the same sums as
     * the rewritten graph, whose layers never see it */
    for (size_t i = 0; i < h->nsink; i++) {
        pc_sink *k = &h->sink[i];
        memcpy(k->live, k->orig, k->n * sizeof *k->live);
        if (!h->decided || !changed(c, k->sl->space))
            continue;
        const uint8_t *keep = c->sp[find(c, k->sl->space)].keep;
        for (size_t j = 0; j < k->n; j++)
            if (!keep[((j / k->inner) % k->len) / k->blk])
                k->live[j] = 0.0f;
    }
    return 0;
}

size_t prune_chan_zeroed(prune_chan *h, const char **names, size_t cap)
{
    pc *c = &h->c;
    size_t n = 0;
    for (size_t i = 0; h->decided && i < h->nsink; i++)
        if (changed(c, h->sink[i].sl->space)) {
            if (n < cap)
                names[n] = h->sink[i].sl->t->name;
            n++;
        }
    return n;
}

int prune_chan_commit(prune_chan *h, cJSON *report, nnz_error *e)
{
    pc *c = &h->c;
    c->e = e;
    nnz_model *m = c->m;
    int rc = h->decided ? 0 : decide_keep(c);
    cJSON *r = cJSON_GetObjectItem(report, "prune");
    if (!r)
        r = cJSON_AddObjectToObject(report, "prune");
    size_t kept_whole = 0;
    if (rc == 0)
        rc = report_layers(c, r, &kept_whole);
    int any = 0;
    for (size_t i = 0; rc == 0 && i < c->nsp; i++)
        any |= find(c, (int)i) == (int)i && changed(c, (int)i);
    if (rc == 0 && any)
        rc = rewrite(c);
    if (rc == 0 && any)
        rc = nnz_model_rescan(m, e);
    if (rc == 0) {
        cJSON_AddStringToObject(r, "structure", "channel");
        cJSON_AddBoolToObject(r, "graph_rewritten", any);
        cJSON_AddNumberToObject(r, "params_before", (double)h->params_before);
        cJSON_AddNumberToObject(r, "params_after", (double)nnz_model_param_count(m));
        if (kept_whole) {
            char buf[256];
            snprintf(buf, sizeof buf, "prune: %zu of the layers asked to lose channels kept them "
                     "all, because their channels could not be followed (report: "
                     "prune.layers[].reason)", kept_whole);
            cJSON *w = cJSON_GetObjectItem(report, "warnings");
            if (!w)
                w = cJSON_AddArrayToObject(report, "warnings");
            cJSON_AddItemToArray(w, cJSON_CreateString(buf));
        }
    }
    return rc;
}

int prune_chan_set_order(prune_chan *h, size_t g, const size_t *order, nnz_error *e)
{
    const prune_chan_group *G = &h->grp[g];
    size_t **slot = &h->order[G->space];
    if (!*slot && !(*slot = nnz_malloc(G->channels * sizeof **slot + 1, e)))
        return -1;
    memcpy(*slot, order, G->channels * sizeof *order);
    return 0;
}

void prune_chan_free(prune_chan *h)
{
    if (!h)
        return;
    for (size_t i = 0; h->order && i < h->c.nsp; i++)
        free(h->order[i]);
    free(h->order);
    for (size_t i = 0; i < h->nsink; i++)
        free(h->sink[i].orig);
    free(h->sink);
    free(h->grp);
    free(h->force);
    pc_free(&h->c);
    free(h);
}

int prune_channels(nnz_model *m, const nnz_stage *st, cJSON *report, nnz_error *e)
{
    prune_chan *h;
    if (prune_chan_open(m, st, &h, e) != 0)
        return -1;
    int rc = prune_chan_commit(h, report, e);
    prune_chan_free(h);
    return rc;
}
