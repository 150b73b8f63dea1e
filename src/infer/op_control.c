/* op_control.c - If and Loop: run a subgraph planned with the node
 * (infer.c), its outer-scope values captured from the running frame. */
#include <stdlib.h>
#include <string.h>

#include "ops.h"

static nni_graph *sub_named(const nni_call *c, const char *name)
{
    for (int k = 0; k < c->n->nsub; k++)
        if (c->n->sub[k] && c->p->attribute[k]->name && strcmp(c->p->attribute[k]->name, name) == 0)
            return c->n->sub[k];
    return NULL;
}

/* Hand a subgraph's result to output k (ownership moves). */
static void give(nni_call *c, int k, nnz_itensor *t)
{
    nni_release(c->inf, c->out[k]);
    *c->out[k] = *t;
    memset(t, 0, sizeof *t);
}

static int op_if(nni_call *c)
{
    if (nni_need(c, 0) != 0)
        return -1;
    if (c->in[0]->count != 1)
        return nni_fail(c, "the condition has %zu elements, not 1", c->in[0]->count);
    int cond = nnz_it_get(c->in[0], 0) != 0;
    nni_graph *g = sub_named(c, cond ? "then_branch" : "else_branch");
    if (!g)
        return nni_fail(c, "no %s subgraph", cond ? "then_branch" : "else_branch");
    if (g->noutputs != (size_t)c->nout)
        return nni_fail(c, "the %s branch has %zu outputs, the node %d", cond ? "then" : "else",
                        g->noutputs, c->nout);
    /* on the heap: nested Ifs must not pile up stack */
    nnz_itensor *res = calloc((size_t)c->nout + 1, sizeof *res);
    if (!res)
        return nnz_fail(c->e, NNZ_EXIT_INTERNAL, "out of memory");
    if (nni_run_graph(c->inf, g, c->frame, NULL, 0, res, c->e) != 0) {
        free(res);
        return nnz_wrap(c->e, "%s branch: ", cond ? "then" : "else");
    }
    for (int k = 0; k < c->nout; k++)
        give(c, k, &res[k]);
    free(res);
    return 0;
}

static int op_loop(nni_call *c)
{
    nni_graph *g = sub_named(c, "body");
    if (!g)
        return nni_fail(c, "no body subgraph");
    int ncar = c->nin - 2;
    if (ncar < 0 || g->ninputs != (size_t)ncar + 2 || g->noutputs < (size_t)ncar + 1)
        return nni_fail(c, "the body takes %zu inputs and gives %zu outputs for %d loop-carried "
                        "values", g->ninputs, g->noutputs, ncar < 0 ? 0 : ncar);
    int nscan = (int)g->noutputs - 1 - ncar;
    if (ncar + nscan != c->nout)
        return nni_fail(c, "%d carried and %d scan outputs, the node has %d", ncar, nscan, c->nout);
    int64_t limit = c->inf->o.max_loop > 0 ? c->inf->o.max_loop : NNZ_INFER_MAX_LOOP;
    int64_t M = limit;
    int has_m = c->in[0] != NULL, has_cond = c->nin > 1 && c->in[1] != NULL;
    if (has_m) {
        if (c->in[0]->count != 1 || !nni_is_int(c->in[0]->dtype))
            return nni_fail(c, "M must be one integer");
        M = nni_get_i64(c->in[0], 0);
        if (M > limit)
            return nni_fail(c, "M is %lld, over the limit of %lld iterations", (long long)M,
                            (long long)limit);
    }
    int cond = 1;
    if (has_cond) {
        if (c->in[1]->count != 1)
            return nni_fail(c, "cond must be one value");
        cond = nnz_it_get(c->in[1], 0) != 0;
    }
    nnz_itensor *args = calloc((size_t)ncar + 2, sizeof *args);
    nnz_itensor *res = calloc(g->noutputs + 1, sizeof *res);
    nnz_itensor *scans = calloc((size_t)nscan + 1, sizeof *scans);
    size_t *scan_cap = calloc((size_t)nscan + 1, sizeof *scan_cap);
    int64_t iter_v = 0;
    uint8_t cond_v = 1;
    int rc = 0;
    if (!args || !res || !scans || !scan_cap) {
        rc = nnz_fail(c->e, NNZ_EXIT_INTERNAL, "out of memory");
        goto out;
    }
    args[0] = (nnz_itensor){ .dtype = NNZ_DT_INT64, .ndims = 0, .count = 1, .data = &iter_v, .bytes = 8, .borrowed = 1 };
    args[1] = (nnz_itensor){ .dtype = NNZ_DT_BOOL, .ndims = 0, .count = 1, .data = &cond_v, .bytes = 1, .borrowed = 1 };
    for (int k = 0; k < ncar; k++) {
        if (!c->in[2 + k]) {
            rc = nni_fail(c, "loop-carried input %d is missing", k);
            goto out;
        }
        args[2 + k] = *c->in[2 + k];
        args[2 + k].borrowed = 1;
    }
    int64_t it = 0;
    for (; it < M && cond; it++) {
        if (!has_m && it >= limit - 1) {
            rc = nni_fail(c, "ran %lld iterations without its condition turning false: a Loop "
                          "without a bound? (limit %lld)", (long long)it, (long long)limit);
            goto out;
        }
        iter_v = it;
        cond_v = (uint8_t)cond;
        memset(res, 0, (g->noutputs + 1) * sizeof *res);
        if (nni_run_graph(c->inf, g, c->frame, args, (size_t)ncar + 2, res, c->e) != 0) {
            rc = nnz_wrap(c->e, "iteration %lld: ", (long long)it);
            goto out;
        }
        if (res[0].count != 1) {
            rc = nni_fail(c, "the body's condition output has %zu elements", res[0].count);
            for (size_t k = 0; k < g->noutputs; k++)
                nni_release(c->inf, &res[k]);
            goto out;
        }
        cond = nnz_it_get(&res[0], 0) != 0;
        nni_release(c->inf, &res[0]);
        for (int k = 0; k < ncar; k++) {
            nni_release(c->inf, &args[2 + k]);
            args[2 + k] = res[1 + k];
        }
        for (int s = 0; s < nscan; s++) {
            nnz_itensor *r = &res[1 + ncar + s], *acc = &scans[s];
            if (it == 0) {
                *acc = *r;
                memset(r, 0, sizeof *r);
                scan_cap[s] = acc->bytes;
                continue;
            }
            if (r->dtype != acc->dtype || r->bytes * (size_t)it != acc->bytes) {
                rc = nni_fail(c, "scan output %d changes shape between iterations", s);
                nni_release(c->inf, r);
                goto out;
            }
            if (nni_account(c->inf, r->bytes, c->e) != 0) {
                nni_release(c->inf, r);
                rc = -1;
                goto out;
            }
            if (acc->bytes + r->bytes > scan_cap[s]) {
                size_t cap = (acc->bytes + r->bytes) * 2;
                void *nd = realloc(acc->data, cap);
                if (!nd) {
                    nni_release(c->inf, r);
                    rc = nnz_fail(c->e, NNZ_EXIT_INTERNAL, "out of memory");
                    goto out;
                }
                acc->data = nd;
                scan_cap[s] = cap;
            }
            memcpy((uint8_t *)acc->data + acc->bytes, r->data, r->bytes);
            acc->bytes += r->bytes;
            acc->count += r->count;
            nni_release(c->inf, r);
        }
    }
    for (int k = 0; k < ncar; k++) {
        if (args[2 + k].borrowed) {
            /* never ran: the outputs are the initial values */
            if (nni_out_copy(c, k, &args[2 + k], args[2 + k].ndims, args[2 + k].dims) != 0) {
                rc = -1;
                goto out;
            }
        } else
            give(c, k, &args[2 + k]);
    }
    for (int s = 0; s < nscan; s++) {
        nnz_itensor *acc = &scans[s];
        if (it == 0) {
            /* no iteration: an empty scan output of unknown element shape */
            int64_t z = 0;
            if (nni_out(c, ncar + s, NNZ_DT_FLOAT, 1, &z) != 0) {
                rc = -1;
                goto out;
            }
            continue;
        }
        if (acc->ndims + 1 > NNZ_MAX_DIMS) {
            rc = nni_fail(c, "scan output %d has too many dims", s);
            goto out;
        }
        memmove(acc->dims + 1, acc->dims, sizeof(int64_t) * (size_t)acc->ndims);
        acc->dims[0] = it;
        acc->ndims++;
        give(c, ncar + s, acc);
    }
out:
    if (args)
        for (int k = 0; k < ncar; k++)
            nni_release(c->inf, &args[2 + k]);
    if (scans)
        for (int s = 0; s < nscan; s++)
            nni_release(c->inf, &scans[s]);
    free(args);
    free(res);
    free(scans);
    free(scan_cap);
    return rc;
}

const nni_op nni_ops_control[] = {
    { "If", op_if, 1, 1, NNI_VALS_RUN }, { "Loop", op_loop, 2, NNI_MAX_IO, NNI_VALS_RUN },
    { NULL, NULL, 0, 0, 0 },
};
