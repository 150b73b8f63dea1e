/* qdq.c - see qdq.h. */
#include "qdq.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "edit.h"
#include "strmap.h"

static float le_f32(const uint8_t *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t le_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- putting nodes in place of a weight ----------------------------------- */

/* Edits gathered while the weights are rewritten and applied once at the
 * end (apply_edits): inserting nodes one at a time at the front of a graph,
 * and finding each weight's place by scanning it, is quadratic in the
 * number of weights, and models have up to a million. */
typedef struct insertion {
    Onnx__GraphProto *g;
    size_t at;  /* before the graph's original node `at` */
    size_t seq; /* order of the rewrites, kept among equal `at` */
    Onnx__NodeProto *node;
} insertion;

typedef struct removal {
    Onnx__GraphProto *g;
    const void *what; /* an initializer (TensorProto) or a Constant node */
} removal;

typedef struct new_init {
    Onnx__GraphProto *g;
    Onnx__TensorProto *t;
} new_init;

typedef struct const_site {
    const Onnx__TensorProto *t; /* a Constant node's value */
    size_t node;                /* the node's index in its graph */
} const_site;

typedef struct edit_batch {
    insertion *ins;
    size_t nins, cins;
    removal *rm;
    size_t nrm, crm;
    new_init *add;
    size_t nadd, cadd;
    const_site *consts; /* every Constant node's tensor, sorted by address */
    size_t nconsts, cconsts;
} edit_batch;

#define GROW(e, arr, n, cap)                                                                   \
    ((n) < (cap) || grow((void **)&(arr), &(cap), sizeof *(arr), (e)) == 0)

static int grow(void **arr, size_t *cap, size_t size, nnz_error *e)
{
    size_t c = *cap ? *cap * 2 : 64;
    void *p = nnz_realloc(*arr, c * size, e);
    if (!p)
        return -1;
    *arr = p;
    *cap = c;
    return 0;
}

static int by_addr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const const_site *)a)->t, y = (uintptr_t)((const const_site *)b)->t;
    return (x > y) - (x < y);
}

/* Record where every Constant node's tensor is (graphs are walked once). */
static int index_constants(edit_batch *b, const Onnx__GraphProto *g, nnz_error *e)
{
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t a = 0; a < g->node[i]->n_attribute; a++) {
            const Onnx__AttributeProto *at = g->node[i]->attribute[a];
            if (at->t) {
                if (!GROW(e, b->consts, b->nconsts, b->cconsts))
                    return -1;
                b->consts[b->nconsts++] = (const_site){ at->t, i };
            }
            if (at->g && index_constants(b, at->g, e) != 0)
                return -1;
            for (size_t k = 0; k < at->n_graphs; k++)
                if (index_constants(b, at->graphs[k], e) != 0)
                    return -1;
        }
    return 0;
}

/* The nodes and initializers that compute a weight instead of holding it. */
typedef struct rewrite {
    Onnx__NodeProto *node[4];
    size_t nnodes;
    Onnx__TensorProto *init[4];
    size_t ninits;
    int failed;
} rewrite;

static void rw_node(rewrite *rw, Onnx__NodeProto *n)
{
    if (!n)
        rw->failed = 1;
    else
        rw->node[rw->nnodes++] = n;
}

static void rw_init(rewrite *rw, Onnx__TensorProto *t)
{
    if (!t)
        rw->failed = 1;
    else
        rw->init[rw->ninits++] = t;
}

/* Replace weight t (its value name `onnx_name`) by the rewrite's nodes
 * (in order; the last produces the weight) and initializers: queued in the
 * batch, applied by apply_edits. The original tensor (initializer or
 * Constant node) goes then. Takes over rw. */
static int replace(nnz_tensor *t, rewrite *rw, edit_batch *b, nnz_error *e)
{
    Onnx__GraphProto *g = (Onnx__GraphProto *)t->graph;
    size_t at = 0;
    const void *gone = t->proto;
    int rc = rw->failed ? -1 : 0;
    if (rc == 0 && t->loc == NNZ_LOC_CONSTANT) {
        const_site key = { t->proto, 0 };
        const const_site *c =
            b->nconsts ? bsearch(&key, b->consts, b->nconsts, sizeof key, by_addr) : NULL;
        if (!c)
            rc = nnz_fail(e, NNZ_EXIT_INTERNAL, "tensor '%s': its Constant node was not found",
                          t->name);
        else {
            at = c->node;
            gone = g->node[c->node];
        }
    }
    if (rc == 0 && !GROW(e, b->rm, b->nrm, b->crm))
        rc = -1;
    if (rc == 0)
        b->rm[b->nrm++] = (removal){ g, gone };
    t->proto = NULL; /* freed with its graph entry when the batch is applied */
    t->onnx_name = NULL;
    for (size_t i = 0; i < rw->ninits; i++) {
        if (rc == 0 && !GROW(e, b->add, b->nadd, b->cadd))
            rc = -1;
        if (rc == 0)
            b->add[b->nadd++] = (new_init){ g, rw->init[i] };
        else
            protobuf_c_message_free_unpacked(&rw->init[i]->base, NULL);
    }
    for (size_t k = 0; k < rw->nnodes; k++) {
        if (rc == 0 && !GROW(e, b->ins, b->nins, b->cins))
            rc = -1;
        if (rc == 0)
            b->ins[b->nins] = (insertion){ g, at, b->nins, rw->node[k] }, b->nins++;
        else
            protobuf_c_message_free_unpacked(&rw->node[k]->base, NULL);
    }
    memset(rw, 0, sizeof *rw);
    return rc;
}

static int by_graph_then_place(const void *a, const void *b)
{
    const insertion *x = a, *y = b;
    if (x->g != y->g)
        return (uintptr_t)x->g < (uintptr_t)y->g ? -1 : 1;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static int by_removal(const void *a, const void *b)
{
    const removal *x = a, *y = b;
    if (x->g != y->g)
        return (uintptr_t)x->g < (uintptr_t)y->g ? -1 : 1;
    return ((uintptr_t)x->what > (uintptr_t)y->what) - ((uintptr_t)x->what < (uintptr_t)y->what);
}

static int is_removed(const edit_batch *b, const Onnx__GraphProto *g, const void *what)
{
    removal key = { (Onnx__GraphProto *)g, what };
    return b->nrm && bsearch(&key, b->rm, b->nrm, sizeof key, by_removal) != NULL;
}

/* One graph's edits: its nodes with the insertions in place and the
 * removed Constant nodes gone, its removed initializers gone (and graph
 * inputs of their names, which old models list), the new ones appended. */
static int apply_graph(edit_batch *b, Onnx__GraphProto *g, const insertion *ins, size_t nins,
                       nnz_error *e)
{
    Onnx__NodeProto **nodes = nnz_malloc((g->n_node + nins + 1) * sizeof *nodes, e);
    nnz_strmap gone_names = { 0 };
    if (!nodes || nnz_strmap_init(&gone_names, 64, e) != 0) {
        free(nodes);
        return -1;
    }
    size_t n = 0, k = 0;
    for (size_t i = 0; i <= g->n_node; i++) {
        for (; k < nins && ins[k].at == i; k++)
            nodes[n++] = ins[k].node;
        if (i == g->n_node)
            break;
        if (is_removed(b, g, g->node[i]))
            protobuf_c_message_free_unpacked(&g->node[i]->base, NULL);
        else
            nodes[n++] = g->node[i];
    }
    for (; k < nins; k++) /* past the end: cannot happen, but never lose a node */
        nodes[n++] = ins[k].node;
    free(g->node);
    g->node = nodes;
    g->n_node = n;
    /* initializers: the removed ones out (freed once nothing reads their
     * names), then the new ones of this graph appended in rewrite order */
    size_t nnew = 0;
    for (size_t i = 0; i < b->nadd; i++)
        nnew += b->add[i].g == g;
    Onnx__TensorProto **inits =
        nnz_malloc((g->n_initializer + nnew + 1) * sizeof *inits, e);
    Onnx__TensorProto **dead = nnz_malloc((g->n_initializer + 1) * sizeof *dead, e);
    int rc = inits && dead ? 0 : -1;
    size_t kept = 0, ndead = 0;
    for (size_t i = 0; rc == 0 && i < g->n_initializer; i++) {
        Onnx__TensorProto *t = g->initializer[i];
        if (!is_removed(b, g, t)) {
            inits[kept++] = t;
        } else {
            dead[ndead++] = t;
            if (t->name)
                rc = nnz_strmap_put(&gone_names, t->name, 0, e);
        }
    }
    if (rc == 0) {
        for (size_t i = 0; i < b->nadd; i++)
            if (b->add[i].g == g) {
                inits[kept++] = b->add[i].t;
                b->add[i].t = NULL; /* the graph owns it now */
            }
        free(g->initializer);
        g->initializer = inits;
        g->n_initializer = kept;
        inits = NULL;
        size_t kept_inputs = 0, v;
        for (size_t i = 0; i < g->n_input; i++) {
            if (g->input[i]->name && nnz_strmap_get(&gone_names, g->input[i]->name, &v))
                protobuf_c_message_free_unpacked(&g->input[i]->base, NULL);
            else
                g->input[kept_inputs++] = g->input[i];
        }
        g->n_input = kept_inputs;
        for (size_t i = 0; i < ndead; i++)
            protobuf_c_message_free_unpacked(&dead[i]->base, NULL);
    }
    nnz_strmap_free(&gone_names);
    free(inits);
    free(dead);
    return rc;
}

/* Apply the batch: every graph once. */
static int apply_edits(edit_batch *b, nnz_error *e)
{
    if (b->nins)
        qsort(b->ins, b->nins, sizeof *b->ins, by_graph_then_place);
    if (b->nrm)
        qsort(b->rm, b->nrm, sizeof *b->rm, by_removal);
    int rc = 0;
    /* every graph with a removal (each rewrite removes one) */
    for (size_t i = 0; i < b->nrm && rc == 0; i++) {
        if (i > 0 && b->rm[i].g == b->rm[i - 1].g)
            continue;
        Onnx__GraphProto *g = b->rm[i].g;
        size_t lo = 0, hi = b->nins;
        while (lo < hi) { /* the first insertion into g */
            size_t mid = (lo + hi) / 2;
            if ((uintptr_t)b->ins[mid].g < (uintptr_t)g)
                lo = mid + 1;
            else
                hi = mid;
        }
        size_t end = lo;
        while (end < b->nins && b->ins[end].g == g)
            end++;
        rc = apply_graph(b, g, b->ins + lo, end - lo, e);
    }
    b->nins = 0; /* the graphs own the nodes now */
    return rc;
}

static void free_batch(edit_batch *b)
{
    for (size_t i = 0; i < b->nins; i++)
        protobuf_c_message_free_unpacked(&b->ins[i].node->base, NULL);
    for (size_t i = 0; i < b->nadd; i++)
        if (b->add[i].t)
            protobuf_c_message_free_unpacked(&b->add[i].t->base, NULL);
    free(b->ins);
    free(b->rm);
    free(b->add);
    free(b->consts);
    memset(b, 0, sizeof *b);
}

/* A name for a new value: the weight's name plus `suffix`, unused in m. */
static char *suffixed(nnz_model *m, const char *name, const char *suffix, nnz_error *e)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s%s", name, suffix);
    return nnz_edit_unique_name(m, buf, e);
}

/* Nodes are named after their first input: a new, unique value name. */
static Onnx__NodeProto *node2(const char *op, const char *a, const char *b, const char *out,
                              nnz_error *e)
{
    const char *i[2] = { a, b }, *o[1] = { out };
    return nnz_edit_node(op, a, i, 2, o, 1, e);
}

static Onnx__NodeProto *cast_to(const char *in, const char *out, int dtype, nnz_error *e)
{
    const char *i[1] = { in }, *o[1] = { out };
    Onnx__NodeProto *n = nnz_edit_node("Cast", in, i, 1, o, 1, e);
    if (n && nnz_edit_attr_int(n, "to", dtype, e) != 0) {
        protobuf_c_message_free_unpacked(&n->base, NULL);
        n = NULL;
    }
    return n;
}

/* ---- the forms ------------------------------------------------------------- */

/* The axis whose size and inner stride match the value map's channels. */
static int channel_axis(const nnz_tensor *t, uint64_t nchan, uint64_t inner)
{
    uint64_t in = 1;
    for (int a = t->ndims - 1; a >= 0; a--) {
        if ((uint64_t)t->dims[a] == nchan && in == inner)
            return a;
        in *= (uint64_t)t->dims[a];
    }
    return -1;
}

static uint32_t zp_of(const nnz_value_map *vm, uint64_t c)
{
    return vm->zero_points ? le_u32(vm->zero_points + (size_t)c * 4) : vm->zero_point;
}

static int same_bits(float a, float b)
{
    return memcmp(&a, &b, 4) == 0;
}

#define EXACT_NOTE "its weights do not come back bit for bit from codes in this form; kept as float"

/* Affine codes of at most 8 bits: INT8 (symmetric: every zero point is
 * 2^(width-1), stored as 0) or UINT8 codes, behind
 *   DequantizeLinear (per axis from opset 13, per tensor from 10), or
 *   Cast to float [-> Sub zero points] -> Mul scales, broadcast along the
 *   channel axis, where DequantizeLinear cannot say it (per channel below
 *   opset 13; anything below 10; a zero point past UINT8, as a blob may
 *   hold any u32). Both compute scale * (code - zp) in float32 from exact
 *   integers: the weights the runtime decodes, bit for bit, which is
 *   checked element by element (else the tensor stays float). */
static int to_affine(nnz_model *m, nnz_tensor *t, edit_batch *b, const nnz_value_map *vm, const float *w,
                     int64_t opset, const char **as, char *why, size_t whylen, nnz_error *e)
{
    int axis = -1;
    if (vm->nchan > 1 && (axis = channel_axis(t, vm->nchan, vm->inner)) < 0) {
        snprintf(why, whylen, "its channels do not match an axis; kept as float");
        return 1;
    }
    int dq = opset >= 13 || (axis < 0 && opset >= 10);
    if (!dq && opset < 6) {
        snprintf(why, whylen, "opset %lld has neither DequantizeLinear nor Cast-6; kept as float",
                 (long long)opset);
        return 1;
    }
    int sym = 1;
    uint32_t zp_max = 0;
    for (uint64_t c = 0; c < vm->nchan; c++) {
        sym &= zp_of(vm, c) == (1u << (vm->width - 1));
        if (zp_of(vm, c) > zp_max)
            zp_max = zp_of(vm, c);
    }
    if (!sym && zp_max > 255) {
        /* DequantizeLinear's zero point is UINT8 like the codes: Sub it in
         * float instead, exact while it is an integer float32 holds */
        if (zp_max >= (1u << 24) || opset < 6) {
            snprintf(why, whylen, "zero point %lu fits neither UINT8 nor an exact float32 "
                     "subtraction; kept as float", (unsigned long)zp_max);
            return 1;
        }
        dq = 0;
        snprintf(why, whylen, "zero point %lu does not fit DequantizeLinear's UINT8: codes "
                 "behind Cast, Sub and Mul", (unsigned long)zp_max);
    }
    size_t nch = (size_t)vm->nchan;
    uint8_t *q = nnz_malloc(t->count ? t->count : 1, e), *zp = nnz_malloc(nch, e);
    float *sc = nnz_malloc(nch * sizeof *sc, e), *zpf = nnz_malloc(nch * sizeof *zpf, e);
    if (!q || !zp || !sc || !zpf) {
        free(q);
        free(zp);
        free(sc);
        free(zpf);
        return -1;
    }
    int any_zp = 0;
    for (size_t c = 0; c < nch; c++) {
        sc[c] = nnz_blob_map_scale(vm, c);
        zp[c] = sym ? 0 : (uint8_t)zp_of(vm, c); /* when dq: it fits */
        zpf[c] = sym ? 0.0f : (float)zp_of(vm, c); /* exact: below 2^24 */
        any_zp |= zpf[c] != 0;
    }
    int exact = 1;
    for (size_t i = 0; i < t->count && exact; i++) {
        size_t c = nch > 1 ? (size_t)((i / vm->inner) % vm->nchan) : 0;
        /* the code back from w = scale * (code - zp), then what the form
         * computes from it, which must be w itself */
        float r = rintf(w[i] / sc[c]);
        long code = isfinite(r) && fabsf(r) < 1e9f ? (long)r + (long)zp_of(vm, c) : -1;
        int32_t stored = sym ? code - (1L << (vm->width - 1)) : code;
        exact = code >= 0 && code < (1L << vm->width);
        q[i] = sym ? (uint8_t)(int8_t)stored : (uint8_t)stored;
        float y = dq ? (float)(stored - (int32_t)zp[c]) * sc[c] : ((float)stored - zpf[c]) * sc[c];
        exact = exact && same_bits(y, w[i]);
    }
    if (!exact) {
        free(q);
        free(zp);
        free(sc);
        free(zpf);
        snprintf(why, whylen, EXACT_NOTE);
        return 1;
    }
    int qt = sym ? NNZ_DT_INT8 : NNZ_DT_UINT8;
    /* DequantizeLinear takes 1-D scales for an axis; Mul broadcasts [C, 1, ...] */
    int64_t sdims[NNZ_MAX_DIMS];
    int sndims = 0;
    if (axis >= 0) {
        sdims[sndims++] = (int64_t)nch;
        if (!dq)
            for (int d = axis + 1; d < t->ndims; d++)
                sdims[sndims++] = 1;
    }
    char *qn = suffixed(m, t->onnx_name, "_quantized", e);
    char *sn = suffixed(m, t->onnx_name, "_scale", e);
    char *zn = suffixed(m, t->onnx_name, "_zero_point", e);
    char *fn = suffixed(m, t->onnx_name, "_int", e);
    char *dn = suffixed(m, t->onnx_name, "_centered", e);
    int rc = -1;
    rewrite rw;
    memset(&rw, 0, sizeof rw);
    if (qn && sn && zn && fn && dn) {
        rw_init(&rw, nnz_edit_tensor(qn, qt, t->dims, t->ndims, q, t->count, e));
        rw_init(&rw, nnz_edit_tensor(sn, NNZ_DT_FLOAT, sdims, sndims, sc, nch * 4, e));
        if (dq) {
            rw_init(&rw, nnz_edit_tensor(zn, qt, sdims, sndims, zp, nch, e));
            const char *in[3] = { qn, sn, zn }, *out[1] = { t->onnx_name };
            Onnx__NodeProto *n = nnz_edit_node("DequantizeLinear", qn, in, 3, out, 1, e);
            if (n && axis >= 0 && nnz_edit_attr_int(n, "axis", axis, e) != 0) {
                protobuf_c_message_free_unpacked(&n->base, NULL);
                n = NULL;
            }
            rw_node(&rw, n);
            *as = "DequantizeLinear";
        } else {
            rw_node(&rw, cast_to(qn, fn, NNZ_DT_FLOAT, e));
            const char *centered = fn;
            if (any_zp) {
                rw_init(&rw, nnz_edit_tensor(zn, NNZ_DT_FLOAT, sdims, sndims, zpf, nch * 4, e));
                rw_node(&rw, node2("Sub", fn, zn, dn, e));
                centered = dn;
            }
            rw_node(&rw, node2("Mul", centered, sn, t->onnx_name, e));
            *as = "Cast+Mul";
            if (!why[0]) /* else the zero point's note says why */
                snprintf(why, whylen, "%s DequantizeLinear needs opset %d (the model has %lld): "
                         "%s codes behind Cast and Mul by the %s scale%s",
                         axis >= 0 ? "per-axis" : "", axis >= 0 ? 13 : 10, (long long)opset,
                         sym ? "int8" : "uint8", axis >= 0 ? "per-channel" : "tensor's",
                         axis >= 0 ? "s" : "");
        }
        rc = replace(t, &rw, b, e);
    }
    free(qn);
    free(sn);
    free(zn);
    free(fn);
    free(dn);
    free(q);
    free(zp);
    free(sc);
    free(zpf);
    return rc;
}

typedef struct cb_entry {
    uint32_t bits; /* the value's float bits, ordered as unsigned */
    uint32_t index;
} cb_entry;

static int by_bits(const void *a, const void *b)
{
    const cb_entry *x = a, *y = b;
    return x->bits < y->bits ? -1 : x->bits > y->bits ? 1 : (x->index > y->index) - (x->index < y->index);
}

/* A codebook: UINT8 (K <= 256) or UINT16 indices -> Cast to int32 ->
 * Gather from the K float centroids. */
static int to_gather(nnz_model *m, nnz_tensor *t, edit_batch *b, const nnz_value_map *vm, const float *w,
                     int64_t opset, const char **as, char *why, size_t whylen, nnz_error *e)
{
    if (opset < 6) {
        snprintf(why, whylen, "opset %lld has no Cast-6; kept as float", (long long)opset);
        return 1;
    }
    size_t k = (size_t)vm->ncodebook, es = k <= 256 ? 1 : 2;
    float *cb = nnz_malloc(k * sizeof *cb, e);
    cb_entry *sorted = nnz_malloc(k * sizeof *sorted, e);
    uint8_t *idx = nnz_malloc((t->count ? t->count : 1) * es, e);
    if (!cb || !sorted || !idx) {
        free(cb);
        free(sorted);
        free(idx);
        return -1;
    }
    for (size_t j = 0; j < k; j++) {
        cb[j] = le_f32(vm->codebook + 4 * j);
        memcpy(&sorted[j].bits, &cb[j], 4);
        sorted[j].index = (uint32_t)j;
    }
    qsort(sorted, k, sizeof *sorted, by_bits);
    for (size_t i = 0; i < t->count; i++) {
        uint32_t bits;
        memcpy(&bits, &w[i], 4);
        size_t lo = 0, hi = k; /* first entry with bits >= w's */
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (sorted[mid].bits < bits)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == k || sorted[lo].bits != bits) { /* not a centroid: no index says it */
            free(cb);
            free(sorted);
            free(idx);
            snprintf(why, whylen, EXACT_NOTE);
            return 1;
        }
        uint32_t j = sorted[lo].index;
        idx[i * es] = (uint8_t)j;
        if (es == 2)
            idx[i * es + 1] = (uint8_t)(j >> 8);
    }
    int64_t kdim = (int64_t)k;
    char *in_name = suffixed(m, t->onnx_name, "_indices", e);
    char *i32_name = suffixed(m, t->onnx_name, "_indices_int32", e);
    char *cb_name = suffixed(m, t->onnx_name, "_codebook", e);
    int rc = -1;
    rewrite rw;
    memset(&rw, 0, sizeof rw);
    if (in_name && i32_name && cb_name) {
        rw_init(&rw, nnz_edit_tensor(cb_name, NNZ_DT_FLOAT, &kdim, 1, cb, k * 4, e));
        rw_init(&rw, nnz_edit_tensor(in_name, es == 1 ? NNZ_DT_UINT8 : NNZ_DT_UINT16, t->dims,
                                     t->ndims, idx, t->count * es, e));
        /* Gather takes int32/int64 indices only */
        rw_node(&rw, cast_to(in_name, i32_name, NNZ_DT_INT32, e));
        rw_node(&rw, node2("Gather", cb_name, i32_name, t->onnx_name, e));
        *as = "Gather";
        rc = replace(t, &rw, b, e);
    }
    free(in_name);
    free(i32_name);
    free(cb_name);
    free(cb);
    free(sorted);
    free(idx);
    return rc;
}

/* FP16 / BF16 initializers behind Cast to float. */
static int to_cast(nnz_model *m, nnz_tensor *t, edit_batch *b, const nnz_value_map *vm, const float *w,
                   int64_t opset, const char **as, char *why, size_t whylen, nnz_error *e)
{
    int f16 = vm->kind == NNZ_VAL_F16;
    if (opset < (f16 ? 6 : 13)) {
        snprintf(why, whylen, "Cast from %s needs opset %d (the model has %lld); kept as float",
                 f16 ? "float16" : "bfloat16", f16 ? 6 : 13, (long long)opset);
        return 1;
    }
    uint16_t *h = nnz_malloc((t->count ? t->count : 1) * 2, e);
    if (!h)
        return -1;
    for (size_t i = 0; i < t->count; i++) {
        uint16_t x = f16 ? nnz_float_to_half(w[i]) : nnz_float_to_bf16(w[i]);
        if (!same_bits(f16 ? nnz_half_to_float(x) : nnz_bf16_to_float(x), w[i])) {
            free(h);
            snprintf(why, whylen, EXACT_NOTE);
            return 1;
        }
        memcpy(&h[i], (uint8_t[2]){ (uint8_t)x, (uint8_t)(x >> 8) }, 2); /* little-endian */
    }
    char *hn = suffixed(m, t->onnx_name, f16 ? "_fp16" : "_bf16", e);
    int rc = -1;
    rewrite rw;
    memset(&rw, 0, sizeof rw);
    if (hn) {
        rw_init(&rw, nnz_edit_tensor(hn, f16 ? NNZ_DT_FLOAT16 : NNZ_DT_BFLOAT16, t->dims,
                                     t->ndims, h, t->count * 2, e));
        rw_node(&rw, cast_to(hn, t->onnx_name, NNZ_DT_FLOAT, e));
        *as = "Cast";
        rc = replace(t, &rw, b, e);
    }
    free(hn);
    free(h);
    return rc;
}

static int rewrite_all(nnz_model *m, const nnz_blob *b, edit_batch *batch, cJSON *report,
                       nnz_error *e);

int nnz_qdq_rewrite(nnz_model *m, const nnz_blob *b, cJSON *report, nnz_error *e)
{
    edit_batch batch;
    memset(&batch, 0, sizeof batch);
    if (index_constants(&batch, m->proto->graph, e) != 0) {
        free_batch(&batch);
        return -1;
    }
    if (batch.nconsts) /* (qsort and bsearch take no NULL array, even empty) */
        qsort(batch.consts, batch.nconsts, sizeof *batch.consts, by_addr);
    int rc = rewrite_all(m, b, &batch, report, e);
    if (rc == 0)
        rc = apply_edits(&batch, e);
    free_batch(&batch);
    return rc;
}

static int rewrite_all(nnz_model *m, const nnz_blob *b, edit_batch *batch, cJSON *report,
                       nnz_error *e)
{
    int64_t opset = nnz_model_opset(m);
    for (uint32_t i = 0; i < nnz_tensor_count(b); i++) {
        nnz_tensor_info info;
        nnz_value_map vm;
        if (nnz_tensor_info_get(b, i, &info) != NNZ_OK || nnz_value_map_get(b, i, &vm) != NNZ_OK)
            return nnz_fail(e, NNZ_EXIT_INPUT, "tensor %u: bad directory entry", i);
        if (vm.kind < 0 || vm.kind == NNZ_VAL_F32 || vm.kind == NNZ_VAL_INT)
            continue; /* stored as it was: nothing to keep */
        char *name = nnz_blob_name(&info, e);
        if (!name)
            return -1;
        nnz_tensor *t = nnz_model_find(m, name);
        free(name);
        if (!t || !t->proto)
            continue;
        char why[300] = "";
        const char *as = NULL;
        int rc = 1;
        float *w = NULL;
        if (t->dtype != NNZ_DT_FLOAT) {
            snprintf(why, sizeof why, "the model's tensor is %s; %s", nnz_dtype_name(t->dtype),
                     vm.kind == NNZ_VAL_F16 && t->dtype == NNZ_DT_FLOAT16
                         ? "it stays float16, as the codes are"
                         : "the forms here give float32; kept as decoded");
        } else if (info.encoding == NNZ_ENC_HASHED) {
            snprintf(why, sizeof why, "hashed weights have no QDQ form; kept as float");
        } else if ((vm.kind == NNZ_VAL_AFFINE || vm.kind == NNZ_VAL_AFFINE_LOG) && vm.width > 8) {
            snprintf(why, sizeof why, "%u-bit codes need INT16 DequantizeLinear (opset 21); "
                     "kept as float", vm.width);
        } else if (!(w = nnz_tensor_floats(m, t, e))) {
            return -1;
        } else if (vm.kind == NNZ_VAL_AFFINE || vm.kind == NNZ_VAL_AFFINE_LOG) {
            rc = to_affine(m, t, batch, &vm, w, opset, &as, why, sizeof why, e);
        } else if (vm.kind == NNZ_VAL_CODEBOOK) {
            rc = to_gather(m, t, batch, &vm, w, opset, &as, why, sizeof why, e);
        } else {
            rc = to_cast(m, t, batch, &vm, w, opset, &as, why, sizeof why, e);
        }
        free(w);
        if (rc < 0)
            return nnz_wrap(e, "tensor '%s': ", t->name);
        if (report) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "name", t->name);
            cJSON_AddStringToObject(x, "as", rc == 0 ? as : "float");
            if (why[0])
                cJSON_AddStringToObject(x, "note", why);
            cJSON_AddItemToArray(report, x);
        }
    }
    return 0;
}
