/* infer_plan.c - what the shape plan (docs/infer.md "Shapes") needs beside
 * the executor: the marker of a value that has a shape but no data, the
 * rule of which values the plan computes, and the check, during a run, that
 * every value has the shape the plan gave it.
 *
 * The plan is the executor itself run in a shape mode (nnz_infer_plan in
 * infer.c) rather than a second table of per-op shape functions: each op's
 * shape rules live once, in its kernel, before the kernel's first write, so
 * the plan and the run cannot disagree on a rule. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "infer_int.h"

void *nni_shaped_data, *nni_runtime_data;

#define SENTINEL_SPAN (64u << 10)

static int shaped_failed;

static void shaped_map(void)
{
    /* address space only: no page of it can be read or written, so a kernel
     * that reads a planned value's data faults at once */
    void *p = mmap(NULL, SENTINEL_SPAN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED) {
        shaped_failed = 1;
        return;
    }
    nni_shaped_data = p;
    nni_runtime_data = (char *)p + SENTINEL_SPAN / 2;
}

int nni_shaped_init(nnz_error *e)
{
    /* once per process, whichever thread opens an interpreter first; both
     * markers are set before any thread sees either */
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, shaped_map);
    if (shaped_failed)
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory (address space for the shape plan)");
    return 0;
}

int nni_plan_computes(const nni_call *c, int dtype, size_t bytes)
{
    if (!c->plan_values || bytes > NNZ_INFER_PLAN_VALUE_BYTES)
        return 0;
    return !(c->inf->o.plan_shapes_only && (nni_is_float(dtype) || dtype == NNZ_DT_DOUBLE));
}

int nni_plan_shaped(nni_call *c)
{
    c->plan_values = 0; /* the op's other outputs: shapes only as well */
    if (c->plan_defer)
        return 0;
    c->plan_stop = 1;
    return -1;
}

int nni_plan_done(nni_call *c)
{
    if (!c->plan || c->plan_values)
        return 0;
    c->plan_stop = 1;
    return 1;
}

static void shape_str(int nd, const int64_t *d, char *buf, size_t cap)
{
    size_t l = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < nd && l < cap; i++)
        l += (size_t)snprintf(buf + l, cap - l, "%s%lld", i ? "," : "", (long long)d[i]);
    if (l < cap)
        snprintf(buf + l, cap - l, "]");
}

int nni_plan_check(nnz_infer *inf, const int *slots, int nslots, nnz_error *e)
{
    nni_graph *gr = inf->main;
    for (int k = 0; k < nslots; k++) {
        int s = slots[k];
        const nnz_itensor *t = &inf->frame.v[s];
        if (gr->pstate[s] != NNI_P_SHAPE || !t->data)
            continue;
        int same = t->dtype == gr->pdtype[s] && t->ndims == gr->pnd[s];
        for (int i = 0; same && i < t->ndims; i++)
            same = t->dims[i] == gr->pdims[s][i];
        if (!same) {
            char a[256], b[256];
            shape_str(t->ndims, t->dims, a, sizeof a);
            shape_str(gr->pnd[s], gr->pdims[s], b, sizeof b);
            return nnz_fail(e, NNZ_EXIT_INTERNAL, "output %d: the run gave %s %s, the shape plan "
                            "%s %s", k, nnz_dtype_name(t->dtype), a, nnz_dtype_name(gr->pdtype[s]),
                            b);
        }
        inf->plan_checked++;
    }
    return 0;
}
