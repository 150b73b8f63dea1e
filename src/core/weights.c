/* weights.c - which tensors are weights, and where their channels are.
 *
 * A tensor is a weight when a compute op (Conv, ConvTranspose, Gemm,
 * MatMul, Gather, LSTM, GRU, RNN) reads it in a weight slot, directly or
 * through data-movement ops that exporters put in between (Identity, Cast,
 * Dropout, Transpose, Reshape, Flatten, Squeeze, Unsqueeze, Slice, Split,
 * Concat), in its own graph or in a subgraph (If/Loop/Scan bodies) that
 * reads it. Its channel axis is the compute op's output-channel axis mapped
 * back through those ops to the tensor's own dims; the rules are in
 * docs/architecture.md ("How weights are found"). Where an axis cannot be
 * mapped, or two compute ops disagree, the tensor has none (per tensor) and
 * `axis_note` says why.
 *
 * An int8/uint8 tensor is codes (a weight quantized before nnzip saw it)
 * when an integer op reads it as weights (DequantizeLinear, ConvInteger,
 * MatMulInteger, QLinearConv, QLinearMatMul, Gather's table), or when it
 * reaches a compute op through the dequantizing ops exporters (and
 * `decompress --qdq`) write in place of DequantizeLinear: Cast, then Sub
 * (zero points) and Mul (scales), or Gather from a codebook by its
 * indices, with data-movement ops anywhere on the way. */
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "strmap.h"

#define MAX_HOPS 16     /* data-movement ops followed from one tensor */
#define MAX_VALUES 256  /* values visited from one tensor (hostile graphs) */

/* ---- the model's node inputs, by name ------------------------------------- */

typedef struct use {
    const char *name;
    const Onnx__NodeProto *node;
    int slot;
    int graph;      /* index in idx.graphs */
    size_t order;   /* for a stable sort */
} use;

typedef struct idx {
    nnz_model *m;
    const Onnx__GraphProto **graphs;
    int *parent;
    size_t ngraphs, capg;
    use *uses;
    size_t nuses, capu;
    nnz_strmap ints; /* onnx name -> tensor index, for integer constants */
    nnz_error *e;
} idx;

static int add_graph(idx *x, const Onnx__GraphProto *g, int parent, int depth)
{
    if (depth > NNZ_MAX_GRAPH_DEPTH)
        return 0; /* the loader refused deeper; be safe */
    if (x->ngraphs == x->capg) {
        size_t c = x->capg ? 2 * x->capg : 8;
        const Onnx__GraphProto **g2 = nnz_realloc(x->graphs, c * sizeof *g2, x->e);
        if (!g2)
            return -1;
        x->graphs = g2;
        int *p2 = nnz_realloc(x->parent, c * sizeof *p2, x->e);
        if (!p2)
            return -1;
        x->parent = p2;
        x->capg = c;
    }
    int me = (int)x->ngraphs++;
    x->graphs[me] = g;
    x->parent[me] = parent;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        for (size_t k = 0; k < n->n_input; k++) {
            if (!n->input[k] || !*n->input[k])
                continue;
            if (x->nuses == x->capu) {
                size_t c = x->capu ? 2 * x->capu : 64;
                use *u = nnz_realloc(x->uses, c * sizeof *u, x->e);
                if (!u)
                    return -1;
                x->uses = u;
                x->capu = c;
            }
            x->uses[x->nuses] = (use){ n->input[k], n, (int)k, me, x->nuses };
            x->nuses++;
        }
        for (size_t a = 0; a < n->n_attribute; a++) {
            const Onnx__AttributeProto *at = n->attribute[a];
            if (at->g && add_graph(x, at->g, me, depth + 1) != 0)
                return -1;
            for (size_t k = 0; k < at->n_graphs; k++)
                if (add_graph(x, at->graphs[k], me, depth + 1) != 0)
                    return -1;
        }
    }
    return 0;
}

static int by_name(const void *a, const void *b)
{
    const use *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : x->order < y->order ? -1 : x->order > y->order;
}

static int graph_index(const idx *x, const Onnx__GraphProto *g)
{
    for (size_t i = 0; i < x->ngraphs; i++)
        if (x->graphs[i] == g)
            return (int)i;
    return 0;
}

/* Can a node of graph `h` see a value defined in graph `g` (g is h or
 * encloses it)? */
static int in_scope(const idx *x, int g, int h)
{
    for (int d = 0; h >= 0 && d <= NNZ_MAX_GRAPH_DEPTH + 1; d++, h = x->parent[h])
        if (h == g)
            return 1;
    return 0;
}

/* ---- reading attributes and constant inputs ---------------------------------- */

/* Integers a node takes either as its input `slot` (opset 10/13 and later:
 * a constant tensor) or as attribute `name` (before). Returns how many,
 * -1 when they are not known here (computed at run time, too many), -2
 * when the node has neither (the op's default applies). */
static int node_ints(const idx *x, const Onnx__NodeProto *n, int slot, const char *name,
                     int64_t *out, int max)
{
    if (slot >= 0 && (size_t)slot < n->n_input && n->input[slot] && *n->input[slot]) {
        size_t ti;
        if (!nnz_strmap_get(&x->ints, n->input[slot], &ti))
            return -1;
        const nnz_tensor *t = &x->m->tensors[ti];
        size_t es = t->dtype == NNZ_DT_INT64 ? 8 : 4;
        if (nnz_tensor_is_deferred(t) || t->count > (size_t)max ||
            t->proto->raw_data.len < t->count * es)
            return -1;
        const uint8_t *d = t->proto->raw_data.data;
        for (size_t i = 0; i < t->count; i++) {
            uint64_t v = 0;
            for (size_t b = 0; b < es; b++)
                v |= (uint64_t)d[i * es + b] << (8 * b);
            out[i] = es == 8 ? (int64_t)v : (int64_t)(int32_t)(uint32_t)v;
        }
        return (int)t->count;
    }
    const Onnx__AttributeProto *a = nnz_node_attr(n, name);
    if (!a)
        return -2;
    if (a->n_ints > (size_t)max)
        return -1;
    for (size_t i = 0; i < a->n_ints; i++)
        out[i] = a->ints[i];
    return (int)a->n_ints;
}

/* ---- the compute ops ----------------------------------------------------------- */

static const struct {
    const char *op;
    unsigned slots; /* bit k: input k is a weight */
} compute_ops[] = {
    { "Conv", 1u << 1 }, { "ConvTranspose", 1u << 1 }, { "Gemm", 3u },
    { "MatMul", 3u },    { "Gather", 1u << 0 },        { "LSTM", 3u << 1 },
    { "GRU", 3u << 1 },  { "RNN", 3u << 1 },
};

static int is_compute(const Onnx__NodeProto *n, int slot)
{
    if (!n->op_type || slot < 0 || slot > 31)
        return 0;
    for (size_t i = 0; i < sizeof compute_ops / sizeof compute_ops[0]; i++)
        if (strcmp(n->op_type, compute_ops[i].op) == 0)
            return compute_ops[i].slots >> slot & 1;
    return 0;
}

int nnz_op_channel_axis(const Onnx__NodeProto *n, int slot, int rank, const int64_t *dims)
{
    const char *op = n->op_type;
    if (rank == 0)
        return -1;
    if (strcmp(op, "Conv") == 0 && slot == 1)
        return 0;
    if (strcmp(op, "ConvTranspose") == 0 && slot == 1) {
        /* weight is (C_in, C_out/group, k...): output channels on axis 1,
         * except depthwise (C_out/group = 1), where input channel c makes
         * output channel c alone, so axis 0 is the per-output-channel one */
        if (rank < 2)
            return -1;
        return dims[1] == 1 && nnz_node_int(n, "group", 1) > 1 ? 0 : 1;
    }
    if (strcmp(op, "Gemm") == 0 && rank == 2 && (slot == 0 || slot == 1))
        return slot == 1 ? (nnz_node_int(n, "transB", 0) ? 0 : 1)
                         : (nnz_node_int(n, "transA", 0) ? 1 : 0);
    if (strcmp(op, "MatMul") == 0 && (slot == 0 || slot == 1))
        return slot == 1 ? rank - 1 : rank >= 2 ? rank - 2 : -1;
    if ((strcmp(op, "LSTM") == 0 || strcmp(op, "GRU") == 0 || strcmp(op, "RNN") == 0) &&
        (slot == 1 || slot == 2) && rank == 3)
        return 1; /* (directions, gates*hidden, input): a row per gate unit */
    return -1;
}

/* The integer ops that read codes, and in which input slots; the channel
 * axis of a weight slot is that of the float op they stand for. */
static const struct {
    const char *op, *as;
    unsigned slots;
    int weight_slot; /* the slot whose axis is the float op's weight axis */
} codes_ops[] = {
    { "DequantizeLinear", NULL, 1u << 0, -1 }, { "ConvInteger", "Conv", 3u, 1 },
    { "MatMulInteger", "MatMul", 3u, 1 },      { "QLinearConv", "Conv", 1u | 1u << 3, 3 },
    { "QLinearMatMul", "MatMul", 1u | 1u << 3, 3 },
};

/* ---- following a value through data-movement ops ------------------------------- */

/* A value on the way: its shape (dims -1 when unknown) and, per axis, the
 * axis of the tensor it comes from (-1: none, e.g. an inserted axis). */
typedef struct value {
    const char *name;
    int graph;
    int rank;
    int64_t dims[NNZ_MAX_DIMS];
    int map[NNZ_MAX_DIMS];
} value;

typedef struct found {
    const Onnx__NodeProto *op; /* the first compute use */
    int slot, hops;
    int axis;                   /* agreed tensor axis, -1 none yet */
    int have_axis;
    const char *note;           /* why per tensor */
    int budget;
    int codes;                  /* following integer codes (dequantizing ops too) */
} found;

/* a * b into *out, or 0 when it would not fit (hostile shapes) */
static int mul(int64_t a, int64_t b, int64_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

static int known(const value *v)
{
    for (int k = 0; k < v->rank; k++)
        if (v->dims[k] < 0)
            return 0;
    return 1;
}

/* The output of a row-major reshape of `in` to `dims`: an output axis maps
 * to an input axis when both have the same size and the same product of the
 * sizes before them (then an element's index along it is the same). */
static int reshape_to(const value *in, value *out, const int64_t *dims, int rank)
{
    out->rank = rank;
    int64_t pin = 1, pout = 1;
    for (int k = 0, j = 0; k < rank; k++) {
        out->dims[k] = dims[k];
        out->map[k] = -1;
        while (j < in->rank && pin < pout)
            if (!mul(pin, in->dims[j++], &pin))
                return -1;
        if (j < in->rank && pin == pout && in->dims[j] == dims[k])
            out->map[k] = in->map[j];
        if (!mul(pout, dims[k], &pout))
            return -1;
    }
    return 1;
}

static int normalize_axis(int64_t a, int rank)
{
    if (a < 0)
        a += rank;
    return a >= 0 && a < rank ? (int)a : -1;
}

/* Shape and axis map of output `oi` of data-movement op n whose input `slot`
 * is `in`. 1: done; 0: not a data-movement op (or not its data input); -1:
 * a data-movement op whose output cannot be described (unknown axes). */
static int move(const idx *x, const Onnx__NodeProto *n, int slot, size_t oi, const value *in,
                value *out)
{
    const char *op = n->op_type;
    int64_t v[NNZ_MAX_DIMS + 1];
    *out = *in;
    if (strcmp(op, "Identity") == 0 || strcmp(op, "Cast") == 0 ||
        (strcmp(op, "Dropout") == 0 && oi == 0))
        return slot == 0 ? 1 : 0;
    if (strcmp(op, "Concat") == 0) {
        int a = normalize_axis(nnz_node_int(n, "axis", 0), in->rank);
        if (a >= 0)
            out->dims[a] = -1; /* the others' sizes add to it */
        return 1;
    }
    if (slot != 0)
        return 0;
    if (strcmp(op, "Transpose") == 0) {
        int c = node_ints(x, n, -1, "perm", v, NNZ_MAX_DIMS);
        if (c == -2) { /* default: reverse */
            c = in->rank;
            for (int k = 0; k < c; k++)
                v[k] = c - 1 - k;
        }
        if (c != in->rank)
            return -1;
        for (int k = 0; k < c; k++) {
            int p = normalize_axis(v[k], c);
            if (p < 0)
                return -1;
            out->dims[k] = in->dims[p];
            out->map[k] = in->map[p];
        }
        return 1;
    }
    if (strcmp(op, "Slice") == 0) {
        /* axes are kept; the sizes of the sliced ones change */
        int c = node_ints(x, n, 3, "axes", v, NNZ_MAX_DIMS);
        if (c == -2) {
            c = node_ints(x, n, 1, "starts", v, NNZ_MAX_DIMS);
            for (int k = 0; k < c && k < in->rank; k++)
                v[k] = k; /* the first len(starts) axes */
        }
        if (c < 0) {
            for (int k = 0; k < in->rank; k++)
                out->dims[k] = -1;
            return 1;
        }
        for (int k = 0; k < c; k++) {
            int a = normalize_axis(v[k], in->rank);
            if (a >= 0)
                out->dims[a] = -1;
        }
        return 1;
    }
    if (strcmp(op, "Split") == 0) {
        int a = normalize_axis(nnz_node_int(n, "axis", 0), in->rank);
        if (a < 0)
            return -1;
        int c = node_ints(x, n, 1, "split", v, NNZ_MAX_DIMS);
        if (c > 0 && oi < (size_t)c)
            out->dims[a] = v[oi];
        else if (c == -2 && in->dims[a] >= 0 && n->n_output && in->dims[a] % (int64_t)n->n_output == 0)
            out->dims[a] = in->dims[a] / (int64_t)n->n_output;
        else
            out->dims[a] = -1;
        return 1;
    }
    if (strcmp(op, "Unsqueeze") == 0) { /* new axes of size 1 at `axes` of the output */
        int c = node_ints(x, n, 1, "axes", v, NNZ_MAX_DIMS);
        int rank = in->rank + c;
        uint8_t mark[NNZ_MAX_DIMS] = { 0 };
        if (c <= 0 || rank > NNZ_MAX_DIMS)
            return -1;
        for (int k = 0; k < c; k++) {
            int a = normalize_axis(v[k], rank);
            if (a < 0 || mark[a]) /* out of range, or twice: not a valid Unsqueeze */
                return -1;
            mark[a] = 1;
        }
        out->rank = rank;
        for (int k = 0, j = 0; k < rank; k++) {
            out->dims[k] = mark[k] ? 1 : in->dims[j];
            out->map[k] = mark[k] ? -1 : in->map[j++];
        }
        return 1;
    }
    if (strcmp(op, "Squeeze") == 0) { /* `axes` of the input go (all of size 1 by default) */
        int c = node_ints(x, n, 1, "axes", v, NNZ_MAX_DIMS);
        uint8_t mark[NNZ_MAX_DIMS] = { 0 };
        if (c == -1 || (c == -2 && !known(in)))
            return -1;
        for (int k = 0; c == -2 && k < in->rank; k++)
            mark[k] = in->dims[k] == 1;
        for (int k = 0; k < c; k++) {
            int a = normalize_axis(v[k], in->rank);
            if (a < 0 || mark[a])
                return -1;
            mark[a] = 1;
        }
        out->rank = 0;
        for (int k = 0; k < in->rank; k++)
            if (!mark[k]) {
                out->dims[out->rank] = in->dims[k];
                out->map[out->rank++] = in->map[k];
            }
        return 1;
    }
    if (strcmp(op, "Reshape") == 0 || strcmp(op, "Flatten") == 0) {
        if (!known(in))
            return -1;
        int rank;
        if (op[0] == 'F') {
            int a = (int)nnz_node_int(n, "axis", 1);
            if (a < 0)
                a += in->rank;
            if (a < 0 || a > in->rank)
                return -1;
            v[0] = v[1] = 1;
            for (int k = 0; k < in->rank; k++)
                if (!mul(v[k >= a], in->dims[k], &v[k >= a]))
                    return -1;
            rank = 2;
        } else {
            rank = node_ints(x, n, 1, "shape", v, NNZ_MAX_DIMS);
            if (rank < 0)
                return -1;
            int64_t total = 1, rest = 1;
            int infer = -1;
            for (int k = 0; k < in->rank; k++)
                if (!mul(total, in->dims[k], &total))
                    return -1;
            for (int k = 0; k < rank; k++) {
                if (v[k] == 0 && !nnz_node_int(n, "allowzero", 0))
                    v[k] = k < in->rank ? in->dims[k] : -2;
                if (v[k] == -1 && infer < 0)
                    infer = k;
                else if (v[k] < 0 || !mul(rest, v[k], &rest))
                    return -1;
            }
            if (infer >= 0)
                v[infer] = rest ? total / rest : 0;
        }
        return reshape_to(in, out, v, rank);
    }
    return 0;
}

/* Does n read codes in input `slot` (*yes)? Returns the channel axis of
 * value v there, -1 when it has none. */
static int codes_axis(const Onnx__NodeProto *n, int slot, const value *v, int *yes)
{
    *yes = 0;
    if (!n->op_type || slot < 0 || slot > 31)
        return -1;
    for (size_t i = 0; i < sizeof codes_ops / sizeof codes_ops[0]; i++) {
        if (strcmp(n->op_type, codes_ops[i].op) != 0 || !(codes_ops[i].slots >> slot & 1))
            continue;
        *yes = 1;
        if (slot != codes_ops[i].weight_slot || v->rank == 0)
            return -1;
        Onnx__NodeProto as = *n;
        as.op_type = (char *)codes_ops[i].as;
        return nnz_op_channel_axis(&as, 1, v->rank, v->dims);
    }
    return -1;
}

/* The ops between codes and the float weight they stand for: output `oi`
 * of n from `in` in input `slot`, like move(). DequantizeLinear, Sub (of
 * zero points) and Mul (by scales) keep the shape; Gather by indices from a
 * 1-D codebook gives the indices' shape. */
static int dequant_move(const Onnx__NodeProto *n, int slot, size_t oi, const value *in, value *out)
{
    const char *op = n->op_type;
    *out = *in;
    if (oi != 0)
        return 0;
    if ((strcmp(op, "DequantizeLinear") == 0 || strcmp(op, "Sub") == 0) && slot == 0)
        return 1;
    if (strcmp(op, "Mul") == 0 && (slot == 0 || slot == 1))
        return 1;
    if (strcmp(op, "Gather") == 0 && slot == 1)
        return 1;
    return 0;
}

/* A compute use of value `v`, whose channel axis there is `a` (-1: none). */
static void compute_use(found *f, const Onnx__NodeProto *n, int slot, const value *v, int hops,
                        int a)
{
    if (!f->op) {
        f->op = n;
        f->slot = slot;
        f->hops = hops;
    }
    if (a < 0)
        return; /* the op has no channel axis here (Gather) */
    int ta = v->map[a];
    if (ta < 0 && !f->note)
        f->note = "its channel axis is not an axis of the tensor after the ops on the way "
                  "(a reshape that merges or splits it): per tensor";
    if (ta < 0 || f->note)
        return;
    if (f->have_axis && f->axis != ta) {
        f->note = "the compute ops that read it have their channels on different axes of it: "
                  "per tensor";
        return;
    }
    f->axis = ta;
    f->have_axis = 1;
}

static void follow(const idx *x, const value *v, int hops, found *f)
{
    use key = { .name = v->name };
    size_t lo = 0, hi = x->nuses;
    while (lo < hi) { /* the first use of the name */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(x->uses[mid].name, key.name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t u = lo; u < x->nuses && strcmp(x->uses[u].name, v->name) == 0; u++) {
        const use *us = &x->uses[u];
        if (--f->budget < 0)
            return;
        if (!in_scope(x, v->graph, us->graph))
            continue;
        int yes = 0, a = f->codes ? codes_axis(us->node, us->slot, v, &yes) : -1;
        if (yes) {
            compute_use(f, us->node, us->slot, v, hops, a);
            if (strcmp(us->node->op_type, "DequantizeLinear") != 0)
                continue; /* else its output may lead to the compute op with the axis */
        } else if (is_compute(us->node, us->slot)) {
            a = nnz_op_channel_axis(us->node, us->slot, v->rank, v->dims);
            compute_use(f, us->node, us->slot, v, hops, a);
            continue;
        }
        if (hops >= MAX_HOPS || !us->node->op_type)
            continue;
        for (size_t o = 0; o < us->node->n_output; o++) {
            value out;
            int r = move(x, us->node, us->slot, o, v, &out);
            if (r == 0 && f->codes)
                r = dequant_move(us->node, us->slot, o, v, &out);
            if (r == 0)
                break;
            if (!us->node->output[o] || !*us->node->output[o])
                continue;
            if (r < 0) { /* its axes are lost: it still leads to weights */
                out.rank = 0;
                for (int k = 0; k < NNZ_MAX_DIMS; k++)
                    out.map[k] = -1;
            }
            out.name = us->node->output[o];
            out.graph = us->graph;
            if (r < 0) {
                found sub = { .budget = f->budget, .codes = f->codes };
                follow(x, &out, hops + 1, &sub);
                f->budget = sub.budget;
                if (sub.op) {
                    if (!f->op) {
                        f->op = sub.op;
                        f->slot = sub.slot;
                        f->hops = sub.hops;
                    }
                    if (!f->note)
                        f->note = "the ops on the way to its compute op lose track of its "
                                  "axes (a shape computed at run time): per tensor";
                }
            } else {
                follow(x, &out, hops + 1, f);
            }
        }
    }
}

int nnz_model_find_weights(nnz_model *m, nnz_error *e)
{
    idx x = { .m = m, .e = e };
    int rc = nnz_strmap_init(&x.ints, 16, e);
    for (size_t i = 0; rc == 0 && i < m->ntensors; i++) {
        size_t seen;
        const nnz_tensor *t = &m->tensors[i];
        if ((t->dtype == NNZ_DT_INT64 || t->dtype == NNZ_DT_INT32) && t->onnx_name &&
            !nnz_strmap_get(&x.ints, t->onnx_name, &seen))
            rc = nnz_strmap_put(&x.ints, t->onnx_name, i, e);
    }
    if (rc == 0)
        rc = add_graph(&x, m->proto->graph, -1, 0);
    if (rc == 0 && x.nuses)
        qsort(x.uses, x.nuses, sizeof *x.uses, by_name);
    for (size_t i = 0; rc == 0 && i < m->ntensors; i++) {
        nnz_tensor *t = &m->tensors[i];
        t->weight_op = NULL;
        t->weight_slot = -1;
        t->weight_axis = -1;
        t->weight_hops = 0;
        t->axis_note = NULL;
        int codes = t->dtype == NNZ_DT_INT8 || t->dtype == NNZ_DT_UINT8;
        if (!t->onnx_name || !(nnz_dtype_is_float(t->dtype) || codes))
            continue;
        value v = { .name = t->onnx_name, .graph = graph_index(&x, t->graph), .rank = t->ndims };
        for (int k = 0; k < t->ndims; k++) {
            v.dims[k] = t->dims[k];
            v.map[k] = k;
        }
        found f = { .budget = MAX_VALUES, .codes = codes };
        follow(&x, &v, 0, &f);
        if (!f.op)
            continue;
        t->weight_op = f.op;
        t->weight_slot = f.slot;
        t->weight_hops = f.hops;
        t->weight_axis = f.note || !f.have_axis ? -1 : f.axis;
        t->axis_note = f.note;
    }
    nnz_strmap_free(&x.ints);
    free(x.graphs);
    free(x.parent);
    free(x.uses);
    return rc;
}

int nnz_tensor_is_codes(const nnz_tensor *t)
{
    return (t->dtype == NNZ_DT_INT8 || t->dtype == NNZ_DT_UINT8) && t->weight_op != NULL;
}

size_t nnz_model_count_int4(const nnz_model *m)
{
    const Onnx__GraphProto *g = m->proto ? m->proto->graph : NULL;
    size_t n = 0;
    for (size_t i = 0; g && i < g->n_initializer; i++)
        n += g->initializer[i]->has_data_type &&
             (g->initializer[i]->data_type == 21 || g->initializer[i]->data_type == 22);
    return n;
}

int nnz_tensor_is_weight(const nnz_tensor *t)
{
    return nnz_dtype_is_float(t->dtype) && t->weight_op != NULL;
}

int nnz_tensor_channel_axis(const nnz_tensor *t)
{
    return t->weight_op ? t->weight_axis : -1;
}
