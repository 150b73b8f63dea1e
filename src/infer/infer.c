/* infer.c - planning a graph and running it.
 *
 * Planning gives every value of a graph a slot, resolves node inputs
 * (locally, else captured from the enclosing graph), orders the nodes
 * topologically (a cycle is an error), and records each slot's last reader
 * so a run frees every activation right after it (the memory plan). Weights
 * (initializers, Constant nodes) are decoded once into the plan's own float
 * copies; runs borrow them. Shapes are computed as the nodes run, from the
 * actual inputs; each allocation is checked against the memory limit first. */
#include <cblas.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "infer_int.h"

/* ---- weights -------------------------------------------------------------- */

typedef struct wkey {
    const Onnx__TensorProto *p;
    size_t idx;
} wkey;

static int wkey_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const wkey *)a)->p, y = (uintptr_t)((const wkey *)b)->p;
    return x < y ? -1 : x > y;
}

typedef struct planner {
    nnz_infer *inf;
    wkey *keys;       /* model tensors by proto address */
    size_t nkeys;
    nnz_error *e;
} planner;

/* Decode a weight TensorProto into `t` (external data read and let go). */
static int load_weight(planner *P, Onnx__TensorProto *p, nnz_itensor **dst)
{
    nnz_infer *inf = P->inf;
    nnz_itensor *t = nnz_calloc(1, sizeof *t, P->e);
    if (!t)
        return -1;
    *dst = t;
    wkey k = { p, 0 }, *hit = P->nkeys ? bsearch(&k, P->keys, P->nkeys, sizeof k, wkey_cmp) : NULL;
    nnz_tensor *mt = hit ? &inf->m->tensors[hit->idx] : NULL;
    if (mt && mt->nbytes && !nnz_tensor_data(inf->m, mt, P->e))
        return -1;
    /* A float tensor whose little-endian bytes are in memory for the
     * model's lifetime is read in place, not copied: the weights exist once.
     * nnz_infer_weight copies it before anyone writes. */
    uint16_t one = 1;
    if (mt && !mt->ext_path && p->data_type == NNZ_DT_FLOAT && p->has_raw_data &&
        p->raw_data.len == mt->count * 4 && mt->count && ((uintptr_t)p->raw_data.data % 4) == 0 &&
        *(uint8_t *)&one == 1 && p->n_dims <= NNZ_MAX_DIMS) {
        t->dtype = NNZ_DT_FLOAT;
        t->ndims = (int)p->n_dims;
        for (size_t i = 0; i < p->n_dims; i++)
            t->dims[i] = p->dims[i];
        t->count = mt->count;
        t->data = p->raw_data.data;
        t->bytes = p->raw_data.len;
        t->borrowed = 1;
    }
    int rc = t->data ? 0 : nnz_it_from_proto(p, t, P->e);
    if (mt && mt->ext_path)
        nnz_tensor_release(mt);
    if (rc != 0)
        return -1;
    inf->weight_bytes += t->bytes;
    if (!t->borrowed)
        inf->copied_bytes += t->bytes;
    if (mt && nni_is_float(t->dtype)) {
        if (inf->nw % 64 == 0) {
            nnz_itensor **nl = nnz_realloc(inf->wlist, (inf->nw + 64) * sizeof *nl, P->e);
            if (!nl)
                return -1;
            inf->wlist = nl;
        }
        inf->wlist[inf->nw] = t;
        if (nnz_strmap_put(&inf->wnames, mt->name, inf->nw, P->e) != 0)
            return -1;
        inf->nw++;
    }
    return 0;
}

/* ---- planning --------------------------------------------------------------- */

static int add_slot(nni_graph *gr, const char *name, int *slot, nnz_error *e)
{
    if (gr->nslots % 256 == 0) {
        size_t cap = gr->nslots + 256;
        char **nn = nnz_realloc(gr->slot_name, cap * sizeof *nn, e);
        if (!nn)
            return -1;
        gr->slot_name = nn;
        nnz_itensor **nw = nnz_realloc(gr->weights, cap * sizeof *nw, e);
        if (!nw)
            return -1;
        gr->weights = nw;
    }
    gr->weights[gr->nslots] = NULL;
    gr->slot_name[gr->nslots] = (char *)name;
    *slot = (int)gr->nslots++;
    if (name && *name && nnz_strmap_put(&gr->names, name, (size_t)*slot, e) != 0)
        return -1;
    return 0;
}

/* The slot of `name` here, capturing it from an enclosing graph if needed. */
static int resolve(nni_graph *gr, const char *name, int *slot, nnz_error *e)
{
    size_t v;
    if (nnz_strmap_get(&gr->names, name, &v)) {
        *slot = (int)v;
        return 0;
    }
    if (!gr->parent)
        return nnz_fail(e, NNZ_EXIT_INPUT,
                        "value '%s' is not produced by any node, nor a graph input or initializer",
                        name);
    int outer;
    if (resolve(gr->parent, name, &outer, e) != 0)
        return -1;
    nni_capture *nc = nnz_realloc(gr->caps, (gr->ncaps + 1) * sizeof *nc, e);
    if (!nc)
        return -1;
    gr->caps = nc;
    if (add_slot(gr, name, slot, e) != 0)
        return -1;
    gr->caps[gr->ncaps].slot = *slot;
    gr->caps[gr->ncaps].outer_slot = outer;
    gr->ncaps++;
    return 0;
}

static void graph_free(nni_graph *gr)
{
    if (!gr)
        return;
    for (size_t i = 0; i < gr->nnodes; i++) {
        nni_node *n = &gr->nodes[i];
        for (int k = 0; k < n->nsub; k++)
            graph_free(n->sub[k]);
        free(n->sub);
        free(n->in);
        free(n->out);
        for (int m = 0; m < n->nchain; m++) {
            free(n->chain[m].in);
            free(n->chain[m].out);
        }
        free(n->chain);
    }
    free(gr->nodes);
    if (gr->weights)
        for (size_t i = 0; i < gr->nslots; i++)
            if (gr->weights[i]) {
                nnz_it_free(gr->weights[i]);
                free(gr->weights[i]);
            }
    free(gr->weights);
    free(gr->last_use);
    free(gr->inputs);
    free(gr->outputs);
    free(gr->caps);
    free(gr->pstate);
    free(gr->pdtype);
    free(gr->pnd);
    free(gr->pdims);
    free(gr->slot_name);
    nnz_strmap_free(&gr->names);
    free(gr);
}

static const char *node_label(const Onnx__NodeProto *p)
{
    return p->name && *p->name ? p->name : (p->n_output && p->output[0] ? p->output[0] : "?");
}

static int plan_graph(planner *P, const Onnx__GraphProto *g, nni_graph *parent, int opset,
                      nni_graph **out);

/* Constant nodes become weights at plan time: run the op once. */
static int plan_constant(planner *P, nni_graph *gr, const Onnx__NodeProto *p, int slot)
{
    nnz_error *e = P->e;
    for (size_t i = 0; i < p->n_attribute; i++) {
        Onnx__AttributeProto *a = p->attribute[i];
        if (a->name && strcmp(a->name, "value") == 0 && a->t)
            return load_weight(P, a->t, &gr->weights[slot]);
    }
    nnz_itensor *t = nnz_calloc(1, sizeof *t, e);
    if (!t)
        return -1;
    gr->weights[slot] = t;
    nni_node n = { .p = p, .op = nni_op_find("Constant"), .nin = 0, .nout = 1 };
    nni_call c = { .inf = P->inf, .n = &n, .p = p, .opset = gr->opset, .nout = 1, .e = e };
    c.out[0] = t;
    uint64_t live = P->inf->live;
    int rc = n.op->run(&c);
    P->inf->live = live; /* weights are not activations */
    if (rc == 0) {
        P->inf->weight_bytes += t->bytes;
        P->inf->copied_bytes += t->bytes;
    }
    return rc;
}

static int plan_nodes(planner *P, nni_graph *gr)
{
    nnz_error *e = P->e;
    const Onnx__GraphProto *g = gr->g;
    size_t nn = g->n_node;
    nni_node *nodes = nnz_calloc(nn ? nn : 1, sizeof *nodes, e);
    if (!nodes)
        return -1;
    gr->nodes = nodes;
    /* outputs first, so any order of nodes resolves */
    size_t kept = 0;
    int *const_slot = nnz_calloc(nn ? nn : 1, sizeof *const_slot, e);
    if (!const_slot)
        return -1;
    for (size_t i = 0; i < nn; i++) {
        const Onnx__NodeProto *p = g->node[i];
        const char *label = node_label(p);
        const char *dom = p->domain && *p->domain && strcmp(p->domain, "ai.onnx") != 0 ? p->domain : NULL;
        const nni_op *op = dom || !p->op_type ? NULL : nni_op_find(p->op_type);
        if (!op) {
            free(const_slot);
            return nnz_fail(e, NNZ_EXIT_INPUT, "node '%s': op %s%s%s is not supported by the "
                            "interpreter", label, dom ? dom : "", dom ? "." : "",
                            p->op_type ? p->op_type : "(none)");
        }
        if (p->n_output < 1 || p->n_output > NNI_MAX_IO) {
            free(const_slot);
            return nnz_fail(e, NNZ_EXIT_INPUT, "node '%s' (%s): %zu outputs; it takes 1 to %d",
                            label, p->op_type, p->n_output, NNI_MAX_IO);
        }
        if (p->n_input > NNI_MAX_IO || (int)p->n_input < op->min_in ||
            (int)p->n_input > op->max_in) {
            free(const_slot);
            return nnz_fail(e, NNZ_EXIT_INPUT, "node '%s' (%s): %zu inputs; it takes %d to %d",
                            label, p->op_type, p->n_input, op->min_in, op->max_in);
        }
        const_slot[i] = -1;
        for (size_t k = 0; k < p->n_output; k++) {
            const char *name = p->output[k] ? p->output[k] : "";
            size_t dummy;
            if (*name && nnz_strmap_get(&gr->names, name, &dummy)) {
                free(const_slot);
                return nnz_fail(e, NNZ_EXIT_INPUT, "node '%s' (%s): output '%s' is already "
                                "produced by another node or is a graph input", label,
                                p->op_type, name);
            }
            int s;
            if (add_slot(gr, name, &s, e) != 0) {
                free(const_slot);
                return -1;
            }
            if (k == 0 && strcmp(op->name, "Constant") == 0)
                const_slot[i] = s;
        }
    }
    for (size_t i = 0; i < nn; i++) {
        const Onnx__NodeProto *p = g->node[i];
        if (const_slot[i] >= 0) {
            if (plan_constant(P, gr, p, const_slot[i]) != 0) {
                free(const_slot);
                return nnz_wrap(e, "node '%s' (Constant): ", node_label(p));
            }
            continue;
        }
        nni_node *n = &nodes[kept++];
        gr->nnodes = kept; /* so an error below frees what this node holds */
        n->p = p;
        n->op = nni_op_find(p->op_type);
        n->nin = (int)p->n_input;
        n->nout = (int)p->n_output;
        n->in = nnz_malloc((p->n_input + 1) * sizeof(int), e);
        n->out = nnz_malloc((p->n_output + 1) * sizeof(int), e);
        if (!n->in || !n->out) {
            free(const_slot);
            return -1;
        }
        for (size_t k = 0; k < p->n_output; k++) {
            size_t v;
            if (p->output[k] && *p->output[k] && nnz_strmap_get(&gr->names, p->output[k], &v))
                n->out[k] = (int)v;
            else {
                /* unnamed output: a scratch slot of its own */
                int s;
                if (add_slot(gr, NULL, &s, e) != 0) {
                    free(const_slot);
                    return -1;
                }
                n->out[k] = s;
            }
        }
        size_t nattr_g = 0;
        for (size_t a = 0; a < p->n_attribute; a++)
            if (p->attribute[a]->g)
                nattr_g++;
        if (nattr_g) {
            n->sub = nnz_calloc(p->n_attribute, sizeof *n->sub, e);
            if (!n->sub) {
                free(const_slot);
                return -1;
            }
            n->nsub = (int)p->n_attribute;
            if (gr->depth + 1 > NNZ_MAX_GRAPH_DEPTH) {
                free(const_slot);
                return nnz_fail(e, NNZ_EXIT_INPUT, "subgraphs nested deeper than %d",
                                NNZ_MAX_GRAPH_DEPTH);
            }
            for (size_t a = 0; a < p->n_attribute; a++)
                if (p->attribute[a]->g &&
                    plan_graph(P, p->attribute[a]->g, gr, gr->opset, &n->sub[a]) != 0) {
                    free(const_slot);
                    return nnz_wrap(e, "node '%s' (%s), subgraph '%s': ", node_label(p),
                                    p->op_type, p->attribute[a]->name ? p->attribute[a]->name : "");
                }
        }
        for (size_t k = 0; k < p->n_input; k++) {
            const char *name = p->input[k];
            if (!name || !*name) {
                n->in[k] = -1;
                continue;
            }
            if (resolve(gr, name, &n->in[k], e) != 0) {
                free(const_slot);
                return nnz_wrap(e, "node '%s' (%s), input %zu: ", node_label(p), p->op_type, k);
            }
        }
    }
    free(const_slot);
    gr->nnodes = kept;
    return 0;
}

/* Each node's inputs, including the values its subgraphs capture. */
static int node_reads(const nni_node *n, int k_max, int *buf)
{
    int c = 0;
    for (int k = 0; k < n->nin && c < k_max; k++)
        if (n->in[k] >= 0)
            buf[c++] = n->in[k];
    for (int s = 0; s < n->nsub; s++)
        if (n->sub[s])
            for (size_t k = 0; k < n->sub[s]->ncaps && c < k_max; k++)
                buf[c++] = n->sub[s]->caps[k].outer_slot;
    for (int m = 0; m < n->nchain; m++)
        c += node_reads(&n->chain[m], k_max - c, buf + c);
    return c;
}

static int node_nreads(const nni_node *n)
{
    int c = n->nin;
    for (int s = 0; s < n->nsub; s++)
        if (n->sub[s])
            c += (int)n->sub[s]->ncaps;
    for (int m = 0; m < n->nchain; m++)
        c += node_nreads(&n->chain[m]);
    return c;
}

/* Relu, or Clip whose bounds are weights (or attributes before opset 11):
 * an activation a Conv can apply as it writes. */
static int fusable_act(const nni_graph *gr, const nni_node *n, int *act, int *lo, int *hi)
{
    *lo = *hi = -1;
    if (n->nout != 1 || n->nsub)
        return 0;
    if (strcmp(n->op->name, "Relu") == 0 && n->nin == 1) {
        *act = NNI_ACT_RELU;
        return 1;
    }
    if (strcmp(n->op->name, "Clip") != 0)
        return 0;
    if (gr->opset < 11) {
        *act = NNI_ACT_CLIP;
        return n->nin == 1;
    }
    for (int k = 1; k < n->nin; k++) {
        int sl = n->in[k];
        if (sl < 0)
            continue;
        const nnz_itensor *w = gr->weights[sl];
        if (!w || w->dtype != NNZ_DT_FLOAT || w->count != 1)
            return 0;
        *(k == 1 ? lo : hi) = sl;
    }
    *act = NNI_ACT_CLIP;
    return 1;
}

static int scalar_weight(const nni_graph *gr, int sl)
{
    const nnz_itensor *w = gr->weights[sl];
    return w && w->dtype == NNZ_DT_FLOAT && w->count == 1;
}

/* Fold Conv -> [Add residual] -> [Relu | Clip] chains into one node each
 * (main graph, no hook: a hook must see every node). A member must be the
 * only reader of the value before it, which is no graph output; the
 * residual must be produced before the Conv runs. The fast path is chosen
 * per run from the shape plan (exec_graph). */
static int fuse_graph(nni_graph *gr, nnz_error *e)
{
    size_t nn = gr->nnodes, ns = gr->nslots;
    int *cnt = nnz_calloc(ns + 1, sizeof *cnt, e), *reader = nnz_malloc((ns + 1) * sizeof *reader, e);
    int *producer = nnz_malloc((ns + 1) * sizeof *producer, e);
    char *gone = nnz_calloc(nn + 1, 1, e);
    int rc = -1;
    if (!cnt || !reader || !producer || !gone)
        goto out;
    for (size_t s = 0; s < ns; s++)
        producer[s] = -1;
    for (size_t i = 0; i < nn; i++) {
        nni_node *n = &gr->nodes[i];
        for (int k = 0; k < n->nout; k++)
            producer[n->out[k]] = (int)i;
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] >= 0) {
                cnt[n->in[k]]++;
                reader[n->in[k]] = (int)i;
            }
        for (int s = 0; s < n->nsub; s++)
            if (n->sub[s])
                for (size_t k = 0; k < n->sub[s]->ncaps; k++)
                    cnt[n->sub[s]->caps[k].outer_slot] += 2; /* never fused */
    }
    for (size_t i = 0; i < gr->noutputs; i++)
        cnt[gr->outputs[i]] += 2;
    for (size_t i = 0; i < nn; i++) {
        nni_node *n = &gr->nodes[i];
        if (gone[i] || strcmp(n->op->name, "Conv") != 0 || n->nout != 1)
            continue;
        int idx[2], nidx = 0, res = -1, act = NNI_ACT_NONE, lo = -1, hi = -1, cur = n->out[0];
        if (cnt[cur] == 1 && !gone[reader[cur]]) {
            nni_node *a = &gr->nodes[reader[cur]];
            if (strcmp(a->op->name, "Add") == 0 && a->nin == 2 && a->nout == 1 &&
                a->in[0] != a->in[1] && a->in[0] >= 0 && a->in[1] >= 0) {
                int r = a->in[0] == cur ? a->in[1] : a->in[0];
                if (producer[r] < (int)i) {
                    res = r;
                    idx[nidx++] = reader[cur];
                    cur = a->out[0];
                }
            }
        }
        if (cnt[cur] == 1 && !gone[reader[cur]] &&
            fusable_act(gr, &gr->nodes[reader[cur]], &act, &lo, &hi)) {
            idx[nidx++] = reader[cur];
            cur = gr->nodes[reader[cur]].out[0];
        } else
            act = NNI_ACT_NONE;
        if (!nidx)
            continue;
        n->chain = nnz_malloc((size_t)nidx * sizeof *n->chain, e);
        if (!n->chain)
            goto out;
        for (int m = 0; m < nidx; m++) {
            n->chain[m] = gr->nodes[idx[m]];
            gone[idx[m]] = 1;
        }
        n->nchain = nidx;
        n->fout = cur;
        n->res = res;
        n->act = act;
        n->lo_slot = lo;
        n->hi_slot = hi;
    }
    /* elementwise chains: from a node of one activation x (other inputs
     * scalar weights), the later nodes that read only the chain's values, x
     * and scalars; every value but the last read inside the chain alone */
    for (size_t i = 0; i < nn; i++) {
        nni_node *h = &gr->nodes[i];
        if (gone[i] || h->nchain || !nni_ew_op(h))
            continue;
        int x0 = -1, bad = 0;
        for (int k = 0; k < h->nin; k++) {
            int sl = h->in[k];
            if (sl < 0 || (scalar_weight(gr, sl) && (k > 0 || strcmp(h->op->name, "Clip"))))
                continue;
            bad |= x0 >= 0 && sl != x0;
            x0 = sl;
        }
        if (bad || x0 < 0 || (strcmp(h->op->name, "Clip") == 0 && h->in[0] != x0))
            continue;
        size_t mem[64];
        int nm = 0;
        mem[nm++] = i;
        for (size_t j = i + 1; j < nn && nm < 64; j++) {
            nni_node *q = &gr->nodes[j];
            int reads = 0, ok = 1;
            for (int k = 0; k < q->nin; k++) {
                int sl = q->in[k], own = 0;
                for (int a = 0; a < nm && sl >= 0; a++)
                    own |= gr->nodes[mem[a]].out[0] == sl;
                reads |= own;
                if (sl < 0 || own || sl == x0)
                    continue;
                if (!scalar_weight(gr, sl) || (k == 0 && strcmp(q->op->name, "Clip") == 0))
                    ok = 0;
            }
            if (!reads)
                continue; /* another branch: it stays where it is */
            if (gone[j] || q->nchain || !nni_ew_op(q) || !ok ||
                (strcmp(q->op->name, "Clip") == 0 && q->in[0] == x0))
                break;
            mem[nm++] = j;
        }
        /* shorten until every value but the last is read only inside */
        for (; nm >= 2; nm--) {
            int valid = 1;
            for (int a = 0; a < nm - 1 && valid; a++) {
                int v = gr->nodes[mem[a]].out[0], inside = 0;
                for (int b = a + 1; b < nm; b++)
                    for (int k = 0; k < gr->nodes[mem[b]].nin; k++)
                        inside += gr->nodes[mem[b]].in[k] == v;
                valid = inside == cnt[v];
            }
            if (valid)
                break;
        }
        if (nm < 2)
            continue;
        h->chain = nnz_malloc((size_t)(nm - 1) * sizeof *h->chain, e);
        if (!h->chain)
            goto out;
        for (int a = 1; a < nm; a++) {
            h->chain[a - 1] = gr->nodes[mem[a]];
            gone[mem[a]] = 1;
        }
        h->nchain = nm - 1;
        h->ew = 1;
        h->ew_in = x0;
        h->fout = gr->nodes[mem[nm - 1]].out[0];
        h->res = h->lo_slot = h->hi_slot = -1;
    }
    size_t kept = 0;
    for (size_t i = 0; i < nn; i++)
        if (!gone[i])
            gr->nodes[kept++] = gr->nodes[i];
    gr->nnodes = kept;
    rc = 0;
out:
    free(cnt);
    free(reader);
    free(producer);
    free(gone);
    return rc;
}

/* Order nodes so each runs after the nodes it reads (Kahn, stable). */
static int topo_sort(nni_graph *gr, nnz_error *e)
{
    size_t nn = gr->nnodes;
    if (!nn)
        return 0;
    int *producer = nnz_malloc(gr->nslots * sizeof(int), e);
    int *indeg = nnz_calloc(nn, sizeof(int), e);
    size_t *order = nnz_malloc(nn * sizeof(size_t), e);
    int *reads = NULL;
    int rc = -1;
    if (!producer || !indeg || !order)
        goto out;
    for (size_t s = 0; s < gr->nslots; s++)
        producer[s] = -1;
    for (size_t i = 0; i < nn; i++)
        for (int k = 0; k < gr->nodes[i].nout; k++)
            producer[gr->nodes[i].out[k]] = (int)i;
    int maxr = 1;
    for (size_t i = 0; i < nn; i++)
        if (node_nreads(&gr->nodes[i]) > maxr)
            maxr = node_nreads(&gr->nodes[i]);
    reads = nnz_malloc((size_t)maxr * sizeof(int), e);
    if (!reads)
        goto out;
    /* consumers as an adjacency list: count, then fill */
    size_t *cstart = nnz_calloc(nn + 1, sizeof(size_t), e);
    if (!cstart)
        goto out;
    for (size_t i = 0; i < nn; i++) {
        int r = node_reads(&gr->nodes[i], maxr, reads);
        for (int k = 0; k < r; k++)
            if (producer[reads[k]] >= 0) {
                indeg[i]++;
                cstart[producer[reads[k]] + 1]++;
            }
    }
    for (size_t i = 0; i < nn; i++)
        cstart[i + 1] += cstart[i];
    size_t *cons = nnz_malloc((cstart[nn] + 1) * sizeof(size_t), e), *fill = nnz_calloc(nn, sizeof(size_t), e);
    if (!cons || !fill) {
        free(cons);
        free(fill);
        free(cstart);
        goto out;
    }
    for (size_t i = 0; i < nn; i++) {
        int r = node_reads(&gr->nodes[i], maxr, reads);
        for (int k = 0; k < r; k++)
            if (producer[reads[k]] >= 0) {
                size_t pnode = (size_t)producer[reads[k]];
                cons[cstart[pnode] + fill[pnode]++] = i;
            }
    }
    /* a min-heap of ready nodes by original index keeps the file's order */
    size_t *heap = nnz_malloc(nn * sizeof(size_t), e), hn = 0, done = 0;
    if (!heap) {
        free(cons);
        free(fill);
        free(cstart);
        goto out;
    }
#define HPUSH(x) do { size_t j_ = hn++; heap[j_] = (x); \
        while (j_ && heap[(j_ - 1) / 2] > heap[j_]) { size_t t_ = heap[j_]; heap[j_] = heap[(j_ - 1) / 2]; heap[(j_ - 1) / 2] = t_; j_ = (j_ - 1) / 2; } } while (0)
    for (size_t i = 0; i < nn; i++)
        if (!indeg[i])
            HPUSH(i);
    while (hn) {
        size_t top = heap[0];
        heap[0] = heap[--hn];
        for (size_t j = 0;;) {
            size_t l = 2 * j + 1, r = l + 1, m = j;
            if (l < hn && heap[l] < heap[m]) m = l;
            if (r < hn && heap[r] < heap[m]) m = r;
            if (m == j) break;
            size_t t = heap[j]; heap[j] = heap[m]; heap[m] = t; j = m;
        }
        order[done++] = top;
        for (size_t c = cstart[top]; c < cstart[top + 1]; c++)
            if (--indeg[cons[c]] == 0)
                HPUSH(cons[c]);
    }
#undef HPUSH
    free(heap);
    free(cons);
    free(fill);
    free(cstart);
    if (done < nn) {
        for (size_t i = 0; i < nn; i++)
            if (indeg[i]) {
                nnz_fail(e, NNZ_EXIT_INPUT, "node '%s' (%s) is on a cycle: the graph is not a DAG",
                         node_label(gr->nodes[i].p), gr->nodes[i].p->op_type);
                break;
            }
        goto out;
    }
    nni_node *sorted = nnz_malloc(nn * sizeof *sorted, e);
    if (!sorted)
        goto out;
    for (size_t i = 0; i < nn; i++)
        sorted[i] = gr->nodes[order[i]];
    free(gr->nodes);
    gr->nodes = sorted;
    rc = 0;
out:
    free(producer);
    free(indeg);
    free(order);
    free(reads);
    return rc;
}

static int plan_graph(planner *P, const Onnx__GraphProto *g, nni_graph *parent, int opset,
                      nni_graph **out)
{
    nnz_error *e = P->e;
    nni_graph *gr = nnz_calloc(1, sizeof *gr, e);
    if (!gr)
        return -1;
    *out = gr;
    gr->g = g;
    gr->parent = parent;
    gr->depth = parent ? parent->depth + 1 : 0;
    gr->opset = opset;
    if (nnz_strmap_init(&gr->names, g->n_input + g->n_initializer + 2 * g->n_node + 16, e) != 0)
        return -1;
    gr->inputs = nnz_malloc((g->n_input + 1) * sizeof(int), e);
    gr->outputs = nnz_malloc((g->n_output + 1) * sizeof(int), e);
    if (!gr->inputs || !gr->outputs)
        return -1;
    for (size_t i = 0; i < g->n_output; i++)
        if (!g->output[i]->name || !*g->output[i]->name)
            return nnz_fail(e, NNZ_EXIT_INPUT, "graph output %zu has no name", i);
    for (size_t i = 0; i < g->n_input; i++) {
        const char *name = g->input[i]->name ? g->input[i]->name : "";
        size_t v;
        if (!*name)
            return nnz_fail(e, NNZ_EXIT_INPUT, "graph input %zu has no name", i);
        if (nnz_strmap_get(&gr->names, name, &v))
            return nnz_fail(e, NNZ_EXIT_INPUT, "graph input '%s' is declared twice", name);
        if (add_slot(gr, name, &gr->inputs[i], e) != 0)
            return -1;
    }
    gr->ninputs = g->n_input;
    /* initializers: their own slot, or the slot of the input they default */
    int *init_slot = nnz_malloc((g->n_initializer + 1) * sizeof(int), e);
    if (!init_slot)
        return -1;
    for (size_t i = 0; i < g->n_initializer; i++) {
        const char *name = g->initializer[i]->name ? g->initializer[i]->name : "";
        size_t v;
        if (nnz_strmap_get(&gr->names, name, &v))
            init_slot[i] = (int)v;
        else if (add_slot(gr, name, &init_slot[i], e) != 0) {
            free(init_slot);
            return -1;
        }
    }
    for (size_t i = 0; i < g->n_initializer; i++)
        if (load_weight(P, g->initializer[i], &gr->weights[init_slot[i]]) != 0) {
            free(init_slot);
            return nnz_wrap(e, "initializer '%s': ", g->initializer[i]->name ? g->initializer[i]->name : "");
        }
    free(init_slot);
    if (plan_nodes(P, gr) != 0)
        return -1;
    for (size_t i = 0; i < g->n_output; i++) {
        const char *name = g->output[i]->name ? g->output[i]->name : "";
        if (resolve(gr, name, &gr->outputs[i], e) != 0)
            return nnz_wrap(e, "graph output %zu: ", i);
    }
    gr->noutputs = g->n_output;
    if (topo_sort(gr, e) != 0)
        return -1;
    if (!parent && !P->inf->o.hook && fuse_graph(gr, e) != 0)
        return -1;
    gr->last_use = nnz_malloc((gr->nslots + 1) * sizeof(int), e);
    int *reads = nnz_malloc(((size_t)NNI_MAX_IO * 4 + 1) * sizeof(int), e);
    if (!gr->last_use || !reads) {
        free(reads);
        return -1;
    }
    for (size_t s = 0; s < gr->nslots; s++)
        gr->last_use[s] = -1;
    for (size_t i = 0; i < gr->nnodes; i++) {
        nni_node *n = &gr->nodes[i];
        for (int k = 0; k < n->nout; k++)
            gr->last_use[n->out[k]] = (int)i;
        for (int m = 0; m < n->nchain; m++)
            for (int k = 0; k < n->chain[m].nout; k++)
                gr->last_use[n->chain[m].out[k]] = (int)i;
        int nr = node_nreads(n);
        int *rb = nr > NNI_MAX_IO * 4 ? nnz_malloc((size_t)nr * sizeof(int), e) : reads;
        if (!rb) {
            free(reads);
            return -1;
        }
        int r = node_reads(n, nr, rb);
        for (int k = 0; k < r; k++)
            gr->last_use[rb[k]] = (int)i;
        if (rb != reads)
            free(rb);
    }
    free(reads);
    /* kept to the end: outputs, inputs (a re-run reuses them), weights */
    for (size_t i = 0; i < gr->noutputs; i++)
        gr->last_use[gr->outputs[i]] = (int)gr->nnodes;
    for (size_t i = 0; i < gr->ninputs; i++)
        gr->last_use[gr->inputs[i]] = (int)gr->nnodes;
    return 0;
}

/* ---- running ----------------------------------------------------------------- */

static void frame_clear(nnz_infer *inf, nni_frame *f, int keep_inputs)
{
    if (!f->v)
        return;
    for (size_t s = 0; s < f->gr->nslots; s++) {
        if (keep_inputs && inf->is_input && inf->is_input[s])
            continue;
        nni_release(inf, &f->v[s]);
    }
}

static void view(nnz_itensor *dst, const nnz_itensor *src)
{
    *dst = *src;
    dst->borrowed = 1;
}

/* What the plan learnt of node n's outputs (main graph). */
static void plan_record(nnz_infer *inf, const nni_frame *f, const nni_node *n)
{
    nni_graph *gr = inf->main;
    for (int k = 0; k < n->nout; k++) {
        int s = n->out[k];
        const nnz_itensor *t = &f->v[s];
        if (t->data == nni_runtime_data || !t->data) {
            gr->pstate[s] = NNI_P_RUNTIME;
            gr->pdtype[s] = -1;
            gr->pnd[s] = 0;
            inf->plan_runtime++;
        } else {
            gr->pstate[s] = NNI_P_SHAPE;
            gr->pdtype[s] = t->dtype;
            gr->pnd[s] = t->ndims;
            memcpy(gr->pdims[s], t->dims, sizeof gr->pdims[s]);
            inf->plan_values++;
        }
    }
}

/* Run node n (index i of its graph) in frame f: inputs checked, in-place
 * reuse offered (not of a value a later member of n's chain, head's
 * member m on, still reads), the op called; in the plan, shapes recorded; in a run,
 * checked against the plan and shown to the hook. */
/* Does a member of chain head h after member m (0: h itself) read slot? */
static int read_later(const nni_node *h, int m, int slot)
{
    for (int j = m; j < h->nchain; j++)
        for (int k = 0; k < h->chain[j].nin; k++)
            if (h->chain[j].in[k] == slot)
                return 1;
    return 0;
}

static int run_node(nnz_infer *inf, nni_frame *f, nni_node *n, size_t i, const nni_node *head,
                    int m, nnz_error *e)
{
    nni_graph *gr = f->gr;
    nni_call c = { .inf = inf, .n = n, .p = n->p, .opset = gr->opset, .nin = n->nin,
                   .nout = n->nout, .frame = f, .e = e };
    for (int k = 0; k < n->nin; k++) {
        if (n->in[k] < 0) {
            c.in[k] = NULL;
            continue;
        }
        if (!f->v[n->in[k]].data)
            return nnz_fail(e, NNZ_EXIT_INPUT, "node '%s' (%s): input '%s' has no value%s",
                            node_label(n->p), n->p->op_type, n->p->input[k],
                            gr->depth == 0 ? " (a graph input that was not given?)" : "");
        c.in[k] = &f->v[n->in[k]];
    }
    for (int k = 0; k < n->nout; k++)
        c.out[k] = &f->v[n->out[k]];
    int runtime = 0;
    if (inf->planning) {
        /* the shape plan: an op computes when all its inputs have values;
         * with an input that has a shape only it gives shapes; when its
         * output shapes need values the plan lacks, they are known only at
         * run time */
        c.plan = 1;
        c.plan_values = 1;
        runtime = (n->op->shape_vals & NNI_VALS_RUN) != 0;
        for (int k = 0; k < n->nin; k++) {
            const nnz_itensor *t = c.in[k];
            if (!t)
                continue;
            if (t->data == nni_runtime_data)
                runtime = 1;
            else if (t->data == nni_shaped_data) {
                c.plan_values = (n->op->shape_vals & NNI_SHAPES_ONLY) != 0;
                if (k < 31 && (n->op->shape_vals & NNI_IN(k)))
                    runtime = 1;
            }
        }
        for (int s = 0; s < n->nsub && !runtime; s++)
            runtime = n->sub[s] != NULL;
    }
    for (int k = 0; k < n->nin && k < 2 && !inf->o.hook; k++) {
        int sl = n->in[k], unique = sl >= 0;
        for (int j = 0; j < n->nin && unique; j++)
            unique = j == k || n->in[j] != sl;
        for (int j = 0; j < n->nout && unique; j++)
            unique = n->out[j] != sl;
        if (unique && gr->last_use[sl] == (int)i && !f->v[sl].borrowed &&
            !(head && read_later(head, m, sl)))
            c.steal[k] = &f->v[sl];
    }
    if (runtime) {
        for (int k = 0; k < n->nout; k++) {
            nni_release(inf, c.out[k]);
            c.out[k]->data = nni_runtime_data;
        }
    } else if (n->op->run(&c) != 0 && !(c.plan_stop && !e->code)) {
        if (!e->code)
            nnz_fail(e, NNZ_EXIT_INTERNAL, "failed");
        return nnz_wrap(e, "node '%s' (%s): ", node_label(n->p), n->p->op_type);
    }
    if (c.plan_stop)
        for (int k = 0; k < n->nout; k++) {
            nnz_itensor *t = c.out[k];
            if (!t->data)
                t->data = nni_runtime_data; /* the op stopped before shaping it */
            else if (!nni_is_sentinel(t->data)) {
                free(t->data); /* allocated, never computed: a shape only */
                t->data = nni_shaped_data;
            }
        }
    if (inf->planning && gr == inf->main)
        plan_record(inf, f, n);
    else if (gr == inf->main && inf->planned && nni_plan_check(inf, n->out, n->nout, e) != 0)
        return nnz_wrap(e, "node '%s' (%s): ", node_label(n->p), n->p->op_type);
    for (int k = 0; k < n->nout; k++) {
        if (!c.out[k]->data && n->p->output[k] && *n->p->output[k] &&
            gr->last_use[n->out[k]] > (int)i)
            return nnz_fail(e, NNZ_EXIT_INPUT, "node '%s' (%s): output %d '%s' was not "
                            "computed but is used", node_label(n->p), n->p->op_type, k,
                            n->p->output[k]);
    }
    if (inf->o.hook && !inf->planning) {
        const nnz_itensor *hin[NNI_MAX_IO], *hout[NNI_MAX_IO];
        for (int k = 0; k < n->nin; k++)
            hin[k] = c.in[k];
        for (int k = 0; k < n->nout; k++)
            hout[k] = c.out[k];
        if (inf->o.hook(inf->o.hook_ctx, n->p, gr->depth, hin, (size_t)n->nin, hout,
                        (size_t)n->nout, e) != 0) {
            if (!e->code)
                nnz_fail(e, NNZ_EXIT_INTERNAL, "stopped by the caller's hook");
            return -1;
        }
    }
    return 0;
}

/* The memory plan: after node i, let go of what no later node reads. */
static void release_after(nnz_infer *inf, nni_frame *f, const nni_node *n, size_t i)
{
    nni_graph *gr = f->gr;
    for (int k = 0; k < n->nin; k++)
        if (n->in[k] >= 0 && gr->last_use[n->in[k]] == (int)i)
            nni_release(inf, &f->v[n->in[k]]);
    for (int s = 0; s < n->nsub; s++)
        if (n->sub[s])
            for (size_t k = 0; k < n->sub[s]->ncaps; k++) {
                int sl = n->sub[s]->caps[k].outer_slot;
                if (gr->last_use[sl] == (int)i)
                    nni_release(inf, &f->v[sl]);
            }
    for (int k = 0; k < n->nout; k++)
        if (gr->last_use[n->out[k]] <= (int)i)
            nni_release(inf, &f->v[n->out[k]]);
}

/* May fused chain n take its fast path this run? When the plan shows the
 * Conv's output, the residual and the chain's result as float tensors of
 * one shape (else the members run one by one, broadcasting and all), and
 * no hook was set after the graph was built: a hook sees every member. */
static int fused_fast(const nnz_infer *inf, const nni_graph *gr, const nni_node *n)
{
    if (gr != inf->main || !inf->planned || inf->planning || inf->o.hook)
        return 0;
    if (n->ew) {
        /* x and every member's output: float, one shape */
        int x = n->ew_in;
        if (gr->pstate[x] != NNI_P_SHAPE || gr->pdtype[x] != NNZ_DT_FLOAT)
            return 0;
        for (int m = 0; m <= n->nchain; m++) {
            int t = m ? n->chain[m - 1].out[0] : n->out[0];
            if (gr->pstate[t] != NNI_P_SHAPE || gr->pdtype[t] != NNZ_DT_FLOAT ||
                gr->pnd[t] != gr->pnd[x] ||
                memcmp(gr->pdims[t], gr->pdims[x], (size_t)gr->pnd[x] * sizeof gr->pdims[x][0]))
                return 0;
        }
        return 1;
    }
    int s = n->out[0], sl[2] = { n->res, n->fout };
    if (gr->pstate[s] != NNI_P_SHAPE || gr->pdtype[s] != NNZ_DT_FLOAT)
        return 0;
    for (int k = 0; k < 2; k++) {
        int t = sl[k];
        if (t < 0)
            continue;
        if (gr->pstate[t] != NNI_P_SHAPE || gr->pdtype[t] != NNZ_DT_FLOAT ||
            gr->pnd[t] != gr->pnd[s] || memcmp(gr->pdims[t], gr->pdims[s],
                                                (size_t)gr->pnd[s] * sizeof gr->pdims[s][0]))
            return 0;
    }
    return 1;
}

/* The fast path of an elementwise chain: block by block, in place over
 * its input when nothing later reads that. */
static int run_fused_ew(nnz_infer *inf, nni_frame *f, nni_node *n, size_t i, nnz_error *e)
{
    nni_graph *gr = f->gr;
    nni_call c = { .inf = inf, .n = n, .p = n->p, .opset = gr->opset, .nin = n->nin,
                   .nout = 1, .frame = f, .e = e };
    nnz_itensor *x = &f->v[n->ew_in], *y = &f->v[n->fout], xv;
    if (!x->data)
        return nnz_fail(e, NNZ_EXIT_INPUT, "node '%s' (%s): input '%s' has no value",
                        node_label(n->p), n->p->op_type, gr->slot_name[n->ew_in]);
    c.out[0] = y;
    if (gr->last_use[n->ew_in] == (int)i && !x->borrowed && !inf->is_input[n->ew_in]) {
        nni_release(inf, y);
        *y = *x; /* its bytes stay counted, now as y's */
        memset(x, 0, sizeof *x);
        xv = *y;
    } else {
        if (nni_out_uninit(&c, 0, NNZ_DT_FLOAT, x->ndims, x->dims) != 0)
            return nnz_wrap(e, "node '%s' (%s): ", node_label(n->p), n->p->op_type);
        xv = *x;
    }
    if (nni_ew_chain(&c, &xv, y) != 0)
        return nnz_wrap(e, "node '%s' (%s): ", node_label(n->p), n->p->op_type);
    if (nni_plan_check(inf, &n->fout, 1, e) != 0)
        return nnz_wrap(e, "node '%s' (%s): ", node_label(n->p), n->p->op_type);
    inf->plan_fused += (size_t)n->nchain;
    return 0;
}

/* The fast path of a fused chain: the Conv writes the chain's result. */
static int run_fused(nnz_infer *inf, nni_frame *f, nni_node *n, nnz_error *e)
{
    nni_graph *gr = f->gr;
    nni_call c = { .inf = inf, .n = n, .p = n->p, .opset = gr->opset, .nin = n->nin,
                   .nout = 1, .frame = f, .e = e };
    for (int k = 0; k < n->nin; k++) {
        c.in[k] = n->in[k] >= 0 ? &f->v[n->in[k]] : NULL;
        if (c.in[k] && !c.in[k]->data)
            return nnz_fail(e, NNZ_EXIT_INPUT, "node '%s' (%s): input '%s' has no value",
                            node_label(n->p), n->p->op_type, n->p->input[k]);
    }
    c.out[0] = &f->v[n->fout];
    c.epi_res = n->res >= 0 ? &f->v[n->res] : NULL;
    c.epi_act = n->act;
    c.epi_lo = -INFINITY;
    c.epi_hi = INFINITY;
    if (n->act == NNI_ACT_CLIP) {
        const nni_node *a = &n->chain[n->nchain - 1];
        if (gr->opset < 11) {
            nni_call ac = { .p = a->p };
            c.epi_lo = nni_attr_f(&ac, "min", -INFINITY);
            c.epi_hi = nni_attr_f(&ac, "max", INFINITY);
        }
        if (n->lo_slot >= 0)
            c.epi_lo = *(const float *)gr->weights[n->lo_slot]->data;
        if (n->hi_slot >= 0)
            c.epi_hi = *(const float *)gr->weights[n->hi_slot]->data;
    }
    if (c.epi_res && !c.epi_res->data)
        return nnz_fail(e, NNZ_EXIT_INPUT, "node '%s' (%s): the residual has no value",
                        node_label(n->p), n->p->op_type);
    if (n->op->run(&c) != 0) {
        if (!e->code)
            nnz_fail(e, NNZ_EXIT_INTERNAL, "failed");
        return nnz_wrap(e, "node '%s' (%s): ", node_label(n->p), n->p->op_type);
    }
    if (nni_plan_check(inf, &n->fout, 1, e) != 0)
        return nnz_wrap(e, "node '%s' (%s): ", node_label(n->p), n->p->op_type);
    inf->plan_fused += (size_t)n->nchain; /* the values in between, never made */
    return 0;
}

/* ---- re-running with a few weights changed (infer.h nnz_infer_run_from) ---- */

struct nnz_infer_snap {
    nnz_itensor *v;   /* per main-graph slot: a copy of its value, or empty */
    size_t nslots;
    uint64_t bytes, max;
    int over;         /* more than max: given up */
};

void nnz_infer_snap_free(nnz_infer_snap *s)
{
    if (!s)
        return;
    for (size_t k = 0; s->v && k < s->nslots; k++)
        nnz_it_free(&s->v[k]);
    free(s->v);
    free(s);
}

uint64_t nnz_infer_snap_bytes(const nnz_infer_snap *s)
{
    return s ? s->bytes : 0;
}

/* Does chain head n (or a member) read a value that depends on a changed
 * weight? Members reading the head's outputs see them clean here, as they
 * are when the head's own inputs are. */
static int node_dirty(const nnz_infer *inf, const nni_node *n)
{
    for (int m = 0; m <= n->nchain; m++) {
        const nni_node *x = m ? &n->chain[m - 1] : n;
        for (int k = 0; k < x->nin; k++)
            if (x->in[k] >= 0 && inf->dirty[x->in[k]])
                return 1;
        for (int s = 0; s < x->nsub; s++)
            for (size_t k = 0; x->sub[s] && k < x->sub[s]->ncaps; k++)
                if (inf->dirty[x->sub[s]->caps[k].outer_slot])
                    return 1;
    }
    return 0;
}

/* Chain head n's outputs and its members': marked dirty, or taken from the
 * snapshot (borrowed: the snapshot outlives the run), or copied into it. */
static void mark_dirty(nnz_infer *inf, const nni_node *n)
{
    for (int m = 0; m <= n->nchain; m++) {
        const nni_node *x = m ? &n->chain[m - 1] : n;
        for (int k = 0; k < x->nout; k++)
            inf->dirty[x->out[k]] = 1;
    }
}

static void take_snap(const nnz_infer_snap *sn, nni_frame *f, const nni_node *n)
{
    for (int m = 0; m <= n->nchain; m++) {
        const nni_node *x = m ? &n->chain[m - 1] : n;
        for (int k = 0; k < x->nout; k++)
            if (sn->v[x->out[k]].data)
                view(&f->v[x->out[k]], &sn->v[x->out[k]]);
    }
}

static void keep_snap(nnz_infer_snap *sn, const nni_frame *f, const nni_node *n)
{
    for (int m = 0; m <= n->nchain && !sn->over; m++) {
        const nni_node *x = m ? &n->chain[m - 1] : n;
        for (int k = 0; k < x->nout && !sn->over; k++) {
            const nnz_itensor *t = &f->v[x->out[k]];
            nnz_itensor *c = &sn->v[x->out[k]];
            if (!t->data || nni_is_sentinel(t->data) || c->data)
                continue;
            if (sn->bytes + t->bytes > sn->max || !(c->data = malloc(t->bytes ? t->bytes : 1))) {
                sn->over = 1;
                break;
            }
            memcpy(c->data, t->data, t->bytes);
            c->dtype = t->dtype;
            c->ndims = t->ndims;
            memcpy(c->dims, t->dims, sizeof c->dims);
            c->count = t->count;
            c->bytes = t->bytes;
            c->borrowed = 0;
            sn->bytes += t->bytes;
        }
    }
}

static int exec_graph(nnz_infer *inf, nni_frame *f, nnz_error *e)
{
    nni_graph *gr = f->gr;
    int main_run = gr == inf->main && !inf->planning;
    const nnz_infer_snap *resume = main_run ? inf->resume : NULL;
    nnz_infer_snap *keeping = main_run ? inf->keeping : NULL;
    for (size_t s = 0; s < gr->nslots; s++)
        if (gr->weights[s] && !f->v[s].data)
            view(&f->v[s], gr->weights[s]);
    for (size_t i = 0; i < gr->nnodes; i++) {
        nni_node *n = &gr->nodes[i];
        if (resume) {
            if (!node_dirty(inf, n)) {
                take_snap(resume, f, n);
                release_after(inf, f, n, i);
                for (int m = 0; m < n->nchain; m++)
                    release_after(inf, f, &n->chain[m], i);
                continue;
            }
            mark_dirty(inf, n);
        }
        if (n->nchain && fused_fast(inf, gr, n)) {
            if ((n->ew ? run_fused_ew(inf, f, n, i, e) : run_fused(inf, f, n, e)) != 0)
                return -1;
        } else {
            if (run_node(inf, f, n, i, n->nchain ? n : NULL, 0, e) != 0)
                return -1;
            for (int m = 0; m < n->nchain; m++)
                if (run_node(inf, f, &n->chain[m], i, n, m + 1, e) != 0)
                    return -1;
        }
        if (keeping)
            keep_snap(keeping, f, n);
        release_after(inf, f, n, i);
        for (int m = 0; m < n->nchain; m++)
            release_after(inf, f, &n->chain[m], i);
    }
    return 0;
}

int nni_run_graph(nnz_infer *inf, nni_graph *gr, nni_frame *parent, nnz_itensor *args,
                  size_t nargs, nnz_itensor *results, nnz_error *e)
{
    nni_frame f = { .gr = gr, .parent = parent };
    f.v = calloc(gr->nslots + 1, sizeof *f.v);
    if (!f.v)
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory");
    int rc = 0;
    for (size_t k = 0; k < gr->ncaps; k++) {
        const nnz_itensor *src = &parent->v[gr->caps[k].outer_slot];
        if (!src->data) {
            rc = nnz_fail(e, NNZ_EXIT_INPUT, "value '%s' of the enclosing graph has no value",
                          gr->slot_name[gr->caps[k].slot]);
            goto out;
        }
        view(&f.v[gr->caps[k].slot], src);
    }
    if (nargs > gr->ninputs) {
        rc = nnz_fail(e, NNZ_EXIT_INPUT, "the subgraph takes %zu inputs, given %zu", gr->ninputs,
                      nargs);
        goto out;
    }
    for (size_t k = 0; k < nargs; k++)
        view(&f.v[gr->inputs[k]], &args[k]);
    rc = exec_graph(inf, &f, e);
    for (size_t k = 0; rc == 0 && k < gr->noutputs; k++) {
        nnz_itensor *v = &f.v[gr->outputs[k]];
        if (!v->data && gr->weights[gr->outputs[k]])
            view(v, gr->weights[gr->outputs[k]]);
        if (!v->data) {
            rc = nnz_fail(e, NNZ_EXIT_INPUT, "subgraph output '%s' has no value",
                          gr->slot_name[gr->outputs[k]]);
            break;
        }
        int dup = 0;
        for (size_t j = 0; j < k; j++)
            dup |= gr->outputs[j] == gr->outputs[k];
        if (v->borrowed || dup) {
            /* a copy the caller owns */
            if ((rc = nni_account(inf, v->bytes, e)) != 0)
                break;
            nnz_itensor t = *v;
            t.data = malloc(v->bytes ? v->bytes : 1);
            if (!t.data) {
                inf->live -= v->bytes;
                rc = nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory");
                break;
            }
            memcpy(t.data, v->data, v->bytes);
            t.borrowed = 0;
            results[k] = t;
        } else {
            results[k] = *v;
            memset(v, 0, sizeof *v); /* moved */
        }
    }
out:
    for (size_t s = 0; s < gr->nslots; s++)
        nni_release(inf, &f.v[s]);
    free(f.v);
    return rc;
}

/* ---- public API ---------------------------------------------------------------- */

static int model_opset(const Onnx__ModelProto *mp)
{
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const char *d = mp->opset_import[i]->domain;
        if (!d || !*d || strcmp(d, "ai.onnx") == 0)
            return (int)mp->opset_import[i]->version;
    }
    return 1;
}

int nnz_infer_open(nnz_model *m, const nnz_infer_opts *opts, nnz_infer **out, nnz_error *e)
{
    *out = NULL;
    if (!m->proto->graph)
        return nnz_fail(e, NNZ_EXIT_INPUT, "the model has no graph");
    nnz_infer *inf = nnz_calloc(1, sizeof *inf, e);
    if (!inf)
        return -1;
    inf->m = m;
    if (opts)
        inf->o = *opts;
    inf->limit = inf->o.max_memory ? inf->o.max_memory : NNZ_INFER_MAX_MEMORY;
    planner P = { .inf = inf, .e = e };
    int rc = nnz_strmap_init(&inf->wnames, m->ntensors + 1, e);
    if (rc == 0 && m->ntensors) {
        P.keys = nnz_malloc(m->ntensors * sizeof *P.keys, e);
        if (!P.keys)
            rc = -1;
        for (size_t i = 0; rc == 0 && i < m->ntensors; i++) {
            P.keys[i].p = m->tensors[i].proto;
            P.keys[i].idx = i;
        }
        P.nkeys = m->ntensors;
        if (rc == 0)
            qsort(P.keys, P.nkeys, sizeof *P.keys, wkey_cmp);
    }
    int opset = model_opset(m->proto);
    if (rc == 0 && (opset < 7 || opset > 21))
        rc = nnz_fail(e, NNZ_EXIT_INPUT, "opset %d is not supported (7 to 21 are)", opset);
    if (rc == 0)
        rc = plan_graph(&P, m->proto->graph, NULL, opset, &inf->main);
    free(P.keys);
    if (rc != 0) {
        nnz_infer_free(inf);
        return -1;
    }
    nni_graph *gr = inf->main;
    inf->frame.gr = gr;
    inf->frame.v = nnz_calloc(gr->nslots + 1, sizeof *inf->frame.v, e);
    inf->is_input = nnz_calloc(gr->nslots + 1, sizeof *inf->is_input, e);
    inf->real_inputs = nnz_calloc(gr->ninputs + 1, sizeof *inf->real_inputs, e);
    if (!inf->frame.v || !inf->is_input || !inf->real_inputs) {
        nnz_infer_free(inf);
        return -1;
    }
    for (size_t i = 0; i < gr->ninputs; i++)
        if (!gr->weights[gr->inputs[i]]) {
            const Onnx__ValueInfoProto *vi = gr->g->input[i];
            if (vi->type && vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) {
                nnz_fail(e, NNZ_EXIT_INPUT, "input '%s' is not a tensor (a sequence, map or "
                         "optional): not supported", vi->name ? vi->name : "");
                nnz_infer_free(inf);
                return -1;
            }
            inf->real_inputs[inf->nreal++] = i;
            inf->is_input[gr->inputs[i]] = (int)inf->nreal;
        }
    inf->plan_in = nnz_calloc(inf->nreal + 1, sizeof *inf->plan_in, e);
    if (!inf->plan_in || nni_shaped_init(e) != 0) {
        nnz_infer_free(inf);
        return -1;
    }
    openblas_set_num_threads(inf->o.threads > 1 ? inf->o.threads : 1);
#ifdef __GLIBC__
    /* activations up to 32 MiB come from the heap, and freed ones stay
     * there for the next node: glibc would otherwise map and unmap each
     * large one, and every run would pay the page faults of fresh zeroed
     * pages again (over a tenth of ppocr_det_v4's time) */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
    *out = inf;
    return 0;
}

void nnz_infer_free(nnz_infer *inf)
{
    if (!inf)
        return;
    if (inf->main)
        frame_clear(inf, &inf->frame, 0);
    free(inf->frame.v);
    graph_free(inf->main);
    free(inf->is_input);
    free(inf->real_inputs);
    free(inf->plan_in);
    free(inf->wlist);
    free(inf->dirty);
    nnz_strmap_free(&inf->wnames);
    free(inf);
}

size_t nnz_infer_ninputs(const nnz_infer *inf)
{
    return inf->nreal;
}

const Onnx__ValueInfoProto *nnz_infer_input_info(const nnz_infer *inf, size_t i)
{
    return i < inf->nreal ? inf->main->g->input[inf->real_inputs[i]] : NULL;
}

size_t nnz_infer_noutputs(const nnz_infer *inf)
{
    return inf->main->noutputs;
}

const char *nnz_infer_output_name(const nnz_infer *inf, size_t i)
{
    return inf->main->g->output[i]->name ? inf->main->g->output[i]->name : "";
}

static const Onnx__TypeProto__Tensor *tensor_type(const Onnx__ValueInfoProto *vi)
{
    return vi && vi->type && vi->type->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE
               ? vi->type->tensor_type : NULL;
}

int nnz_infer_input_shape(const nnz_infer *inf, size_t i, int64_t *dims, int *dtype)
{
    const Onnx__TypeProto__Tensor *tt = tensor_type(nnz_infer_input_info(inf, i));
    *dtype = tt && tt->has_elem_type ? tt->elem_type : NNZ_DT_FLOAT;
    if (!tt || !tt->shape || tt->shape->n_dim > NNZ_MAX_DIMS)
        return -1;
    for (size_t k = 0; k < tt->shape->n_dim; k++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[k];
        dims[k] = -1;
        if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
            d->dim_value >= 0)
            dims[k] = d->dim_value;
        else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM)
            for (size_t j = 0; j < inf->o.ndims; j++)
                if (d->dim_param && strcmp(inf->o.dims[j].name, d->dim_param) == 0)
                    dims[k] = inf->o.dims[j].value;
    }
    return (int)tt->shape->n_dim;
}

int nnz_infer_set_input(nnz_infer *inf, const char *name, const nnz_itensor *t, nnz_error *e)
{
    size_t slot;
    if (!nnz_strmap_get(&inf->main->names, name, &slot) || !inf->is_input[slot])
        return nnz_fail(e, NNZ_EXIT_INPUT, "the model has no input '%s'", name);
    size_t idx = (size_t)inf->is_input[slot] - 1;
    int64_t dims[NNZ_MAX_DIMS];
    int dtype, nd = nnz_infer_input_shape(inf, idx, dims, &dtype);
    if (!nnz_it_esize(dtype))
        return nnz_fail(e, NNZ_EXIT_INPUT, "input '%s': type %s is not supported", name,
                        nnz_dtype_name(dtype));
    int want_float = nni_is_float(dtype) || dtype == NNZ_DT_DOUBLE;
    int have_float = nni_is_float(t->dtype) || t->dtype == NNZ_DT_DOUBLE;
    if (want_float != have_float || (dtype == NNZ_DT_BOOL) != (t->dtype == NNZ_DT_BOOL))
        return nnz_fail(e, NNZ_EXIT_INPUT, "input '%s' is %s; the model takes %s", name,
                        nnz_dtype_name(t->dtype), nnz_dtype_name(dtype));
    if (nd >= 0) {
        if (nd != t->ndims)
            return nnz_fail(e, NNZ_EXIT_INPUT, "input '%s' has %d dims; the model takes %d", name,
                            t->ndims, nd);
        for (int k = 0; k < nd; k++)
            if (dims[k] >= 0 && dims[k] != t->dims[k])
                return nnz_fail(e, NNZ_EXIT_INPUT,
                                "input '%s': dim %d is %lld; the model takes %lld", name, k,
                                (long long)t->dims[k], (long long)dims[k]);
    }
    nnz_itensor *v = &inf->frame.v[slot];
    nni_release(inf, v);
    nni_call c = { .inf = inf, .e = e };
    nni_node n = { 0 };
    Onnx__NodeProto np = ONNX__NODE_PROTO__INIT;
    n.p = &np;
    c.n = &n;
    c.p = &np;
    c.out[0] = v;
    if (nni_out(&c, 0, dtype, t->ndims, t->dims) != 0)
        return nnz_wrap(e, "input '%s': ", name);
    if (dtype == t->dtype)
        memcpy(v->data, t->data, t->bytes);
    else
        for (size_t i = 0; i < t->count; i++)
            if (want_float)
                nni_set(v, i, nnz_it_get(t, i));
            else
                nni_set_i64(v, i, nni_get_i64(t, i));
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The shape plan (infer.h nnz_infer_plan): the main graph run in shape
 * mode over a frame of its own, whose inputs view the inputs set (a large
 * float input as a shape only). */
int nni_plan(nnz_infer *inf, nnz_error *e)
{
    nni_graph *gr = inf->main;
    inf->planned = 0;
    if (!gr->pstate) {
        gr->pstate = nnz_calloc(gr->nslots + 1, sizeof *gr->pstate, e);
        gr->pdtype = nnz_calloc(gr->nslots + 1, sizeof *gr->pdtype, e);
        gr->pnd = nnz_calloc(gr->nslots + 1, sizeof *gr->pnd, e);
        gr->pdims = nnz_calloc(gr->nslots + 1, sizeof *gr->pdims, e);
        if (!gr->pstate || !gr->pdtype || !gr->pnd || !gr->pdims)
            return -1;
    }
    memset(gr->pstate, NNI_P_NONE, gr->nslots);
    nni_frame pf = { .gr = gr };
    pf.v = nnz_calloc(gr->nslots + 1, sizeof *pf.v, e);
    if (!pf.v)
        return -1;
    for (size_t i = 0; i < inf->nreal; i++) {
        int slot = gr->inputs[inf->real_inputs[i]];
        const nnz_itensor *t = &inf->frame.v[slot];
        if (!t->data) {
            free(pf.v);
            return nnz_fail(e, NNZ_EXIT_INPUT, "input '%s' was not given",
                            nnz_infer_input_info(inf, i)->name);
        }
        view(&pf.v[slot], t);
        if (nni_is_float(t->dtype) && (t->bytes > NNZ_INFER_PLAN_VALUE_BYTES ||
                                       inf->o.plan_shapes_only))
            pf.v[slot].data = nni_shaped_data;
    }
    uint64_t live = inf->live, peak = inf->peak;
    inf->peak = inf->live;
    inf->plan_values = inf->plan_runtime = 0;
    inf->planning = 1;
    int rc = exec_graph(inf, &pf, e);
    inf->planning = 0;
    inf->plan_peak = inf->peak;
    frame_clear(inf, &pf, 0);
    free(pf.v);
    inf->live = live;
    inf->peak = peak;
    if (rc != 0)
        return nnz_wrap(e, "the shape plan: ");
    for (size_t i = 0; i < inf->nreal; i++) {
        const nnz_itensor *t = &inf->frame.v[gr->inputs[inf->real_inputs[i]]];
        inf->plan_in[i][0] = t->ndims;
        memcpy(&inf->plan_in[i][1], t->dims, sizeof t->dims);
    }
    inf->planned = 1;
    return 0;
}

/* Do the inputs set have the shapes the plan was made for? */
static int plan_current(const nnz_infer *inf)
{
    if (!inf->planned)
        return 0;
    for (size_t i = 0; i < inf->nreal; i++) {
        const nnz_itensor *t = &inf->frame.v[inf->main->inputs[inf->real_inputs[i]]];
        if (inf->plan_in[i][0] != t->ndims ||
            memcmp(&inf->plan_in[i][1], t->dims, (size_t)t->ndims * sizeof t->dims[0]) != 0)
            return 0;
    }
    return 1;
}

int nnz_infer_plan(nnz_infer *inf, nnz_error *e)
{
    return nni_plan(inf, e);
}

size_t nnz_infer_plan_nvalues(const nnz_infer *inf)
{
    return inf->main->nslots;
}

int nnz_infer_plan_value(const nnz_infer *inf, size_t i, const char **name, int *dtype,
                         int *ndims, int64_t *dims)
{
    const nni_graph *gr = inf->main;
    if (i >= gr->nslots || !gr->pstate || gr->pstate[i] == NNI_P_NONE || !gr->slot_name[i] ||
        !*gr->slot_name[i])
        return 0;
    *name = gr->slot_name[i];
    *dtype = gr->pdtype[i];
    *ndims = gr->pnd[i];
    memcpy(dims, gr->pdims[i], sizeof gr->pdims[i]);
    return gr->pstate[i] == NNI_P_SHAPE ? 1 : 2;
}

static int run_main(nnz_infer *inf, nnz_error *e)
{
    nni_frame *f = &inf->frame;
    frame_clear(inf, f, 1);
    inf->ran = 0;
    inf->peak = inf->live;
    /* every input given, and symbolic dims consistent across them */
    const char *pname[NNZ_MAX_DIMS * 4];
    int64_t pval[NNZ_MAX_DIMS * 4];
    size_t np = 0;
    for (size_t i = 0; i < inf->nreal; i++) {
        const Onnx__ValueInfoProto *vi = nnz_infer_input_info(inf, i);
        int slot = inf->main->inputs[inf->real_inputs[i]];
        if (!f->v[slot].data)
            return nnz_fail(e, NNZ_EXIT_INPUT, "input '%s' was not given", vi->name);
        const Onnx__TypeProto__Tensor *tt = tensor_type(vi);
        for (size_t k = 0; tt && tt->shape && k < tt->shape->n_dim && k < (size_t)f->v[slot].ndims; k++) {
            const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[k];
            if (d->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM || !d->dim_param)
                continue;
            size_t j = 0;
            while (j < np && strcmp(pname[j], d->dim_param) != 0)
                j++;
            if (j < np && pval[j] != f->v[slot].dims[k])
                return nnz_fail(e, NNZ_EXIT_INPUT, "input '%s': dim '%s' is %lld here but %lld "
                                "in an earlier input", vi->name, d->dim_param,
                                (long long)f->v[slot].dims[k], (long long)pval[j]);
            if (j == np && np < sizeof pname / sizeof pname[0]) {
                pname[np] = d->dim_param;
                pval[np++] = f->v[slot].dims[k];
            }
        }
    }
    /* shapes and the memory plan first: nothing is computed or allocated
     * for a graph whose shapes are bad or too large */
    if (!plan_current(inf) && nni_plan(inf, e) != 0)
        return -1;
    inf->plan_checked = inf->plan_fused = 0;
    double t0 = now();
    int rc = exec_graph(inf, f, e);
    inf->seconds = now() - t0;
    if (rc != 0) {
        frame_clear(inf, f, 1);
        return -1;
    }
    for (size_t i = 0; i < inf->main->noutputs; i++)
        if (!f->v[inf->main->outputs[i]].data) {
            nnz_fail(e, NNZ_EXIT_INPUT, "graph output '%s' has no value",
                     nnz_infer_output_name(inf, i));
            frame_clear(inf, f, 1);
            return -1;
        }
    inf->ran = 1;
    return 0;
}

int nnz_infer_run(nnz_infer *inf, nnz_error *e)
{
    return run_main(inf, e);
}

int nnz_infer_run_keep(nnz_infer *inf, nnz_infer_snap **snap, uint64_t max_bytes, nnz_error *e)
{
    *snap = NULL;
    nnz_infer_snap *sn = nnz_calloc(1, sizeof *sn, e);
    if (!sn || !(sn->v = nnz_calloc(inf->main->nslots + 1, sizeof *sn->v, e))) {
        free(sn);
        return -1;
    }
    sn->nslots = inf->main->nslots;
    sn->max = max_bytes;
    inf->keeping = sn;
    int rc = run_main(inf, e);
    inf->keeping = NULL;
    if (rc != 0 || sn->over) {
        nnz_infer_snap_free(sn);
        return rc;
    }
    *snap = sn;
    return 0;
}

int nnz_infer_run_from(nnz_infer *inf, const nnz_infer_snap *snap, const char *const *changed,
                       size_t nchanged, nnz_error *e)
{
    nni_graph *gr = inf->main;
    if (!snap || inf->o.hook || snap->nslots != gr->nslots)
        return run_main(inf, e);
    if (!inf->dirty && !(inf->dirty = nnz_calloc(gr->nslots + 1, 1, e)))
        return -1;
    memset(inf->dirty, 0, gr->nslots);
    for (size_t c = 0; c < nchanged; c++) {
        size_t w;
        int found = 0;
        if (!nnz_strmap_get(&inf->wnames, changed[c], &w))
            return run_main(inf, e); /* not a weight it knows: run it all */
        for (size_t s = 0; s < gr->nslots; s++)
            if (gr->weights[s] == inf->wlist[w])
                inf->dirty[s] = 1, found = 1;
        if (!found)
            return run_main(inf, e); /* read inside a subgraph only */
    }
    inf->resume = snap;
    int rc = run_main(inf, e);
    inf->resume = NULL;
    return rc;
}

const nnz_itensor *nnz_infer_output(const nnz_infer *inf, size_t i)
{
    if (!inf->ran || i >= inf->main->noutputs)
        return NULL;
    return &inf->frame.v[inf->main->outputs[i]];
}

float *nnz_infer_weight(nnz_infer *inf, const char *name, size_t *count)
{
    size_t i;
    if (!nnz_strmap_get(&inf->wnames, name, &i))
        return NULL;
    nnz_itensor *t = inf->wlist[i];
    if (t->borrowed) {
        /* read in place from the model so far: a private copy to write into */
        void *copy = malloc(t->bytes ? t->bytes : 1);
        if (!copy)
            return NULL;
        memcpy(copy, t->data, t->bytes);
        t->data = copy;
        t->borrowed = 0;
        inf->copied_bytes += t->bytes;
    }
    inf->planned = 0; /* a weight may feed shape arithmetic: plan again */
    if (count)
        *count = t->count;
    return t->data;
}

int nnz_infer_weight_use(nnz_infer *inf, const char *name, const float *data, size_t count,
                         nnz_infer_wsave *save)
{
    size_t i;
    if (!nnz_strmap_get(&inf->wnames, name, &i) || inf->wlist[i]->count != count ||
        !nni_is_float(inf->wlist[i]->dtype))
        return -1;
    nnz_itensor *t = inf->wlist[i];
    save->data = t->data;
    save->borrowed = t->borrowed;
    t->data = (void *)(uintptr_t)data; /* borrowed: runs only read weights */
    t->borrowed = 1;
    return 0;
}

void nnz_infer_weight_put_back(nnz_infer *inf, const char *name, const nnz_infer_wsave *save)
{
    size_t i;
    if (!nnz_strmap_get(&inf->wnames, name, &i))
        return;
    inf->wlist[i]->data = save->data;
    inf->wlist[i]->borrowed = save->borrowed;
}

int nnz_infer_share_weights(nnz_infer *dst, const nnz_infer *src, nnz_error *e)
{
    if (dst->m != src->m || dst->nw != src->nw)
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "sharing weights between interpreters of "
                        "different models");
    for (size_t i = 0; i < dst->nw; i++) {
        nnz_itensor *d = dst->wlist[i];
        const nnz_itensor *s = src->wlist[i];
        if (d->data == s->data)
            continue;
        if (d->count != s->count || d->dtype != s->dtype)
            return nnz_fail(e, NNZ_EXIT_INTERNAL, "weight %zu differs between the "
                            "interpreters sharing it", i);
        if (!d->borrowed) {
            free(d->data);
            dst->copied_bytes -= d->bytes;
        }
        d->data = s->data;
        d->borrowed = 1;
        dst->planned = 0; /* as nnz_infer_weight: a weight may feed shape arithmetic */
    }
    return 0;
}

void nnz_infer_get_stats(const nnz_infer *inf, nnz_infer_stats *st)
{
    st->seconds = inf->seconds;
    st->peak_bytes = inf->peak;
    st->weight_bytes = inf->weight_bytes;
    st->copied_bytes = inf->copied_bytes;
    st->plan_peak_bytes = inf->plan_peak;
    st->plan_values = inf->plan_values;
    st->plan_runtime_values = inf->plan_runtime;
    st->plan_checked = inf->plan_checked;
    st->plan_fused = inf->plan_fused;
}

int nnz_infer_supports(const char *op_type)
{
    return nni_op_find(op_type) != NULL;
}
