/* infer_int.h - what the interpreter's files share: the plan of a graph,
 * the call an op gets, attribute and tensor helpers. Not public. */
#ifndef NNZ_INFER_INT_H
#define NNZ_INFER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "infer.h"
#include "strmap.h"

#define NNI_MAX_IO 256  /* inputs or outputs of one node (more is refused, naming the node) */

struct nni_graph;
struct nni_call;

typedef int (*nni_fn)(struct nni_call *c);

/* A row of the op registry (infer_registry.c). */
typedef struct nni_op {
    const char *name;
    nni_fn run;
    int min_in, max_in;   /* inputs, counting omitted optional ones */
    unsigned shape_vals;  /* inputs whose values (not only shapes) set the output
                           * shapes, a bit each; NNI_VALS_RUN: outputs known only
                           * at run time (If, Loop). Used by the shape plan. */
} nni_op;

#define NNI_VALS_RUN 0x80000000u
#define NNI_SHAPES_ONLY 0x40000000u /* reads only its inputs' shapes (Shape, Size) */
#define NNI_IN(k) (1u << (k))

const nni_op *nni_op_find(const char *name);

/* A node of a planned graph. */
typedef struct nni_node {
    const Onnx__NodeProto *p;
    const nni_op *op;
    int nin, nout;
    int *in, *out;          /* value slots; -1: omitted */
    struct nni_graph **sub; /* subgraph per attribute (NULL where not a graph) */
    int nsub;
    /* a fused chain (infer.c fuse_graph): a Conv followed by the nodes that
     * alone read its output, an Add of a residual and/or Relu or Clip, run
     * as one node. The members keep their own slots: when the shape plan
     * shows the fast path applies, the Conv writes `fout` directly, adding
     * the residual and clamping as it goes; otherwise they run one by one. */
    struct nni_node *chain;
    int nchain;
    int ew;                 /* an elementwise chain (Add Sub Mul Div Clip Relu of one
                             * activation and scalar weights), run block by block */
    int fout;               /* the chain's last output */
    int ew_in;              /* an elementwise chain's activation input */
    int res;                /* residual slot, or -1 */
    int act;                /* NNI_ACT_* */
    int lo_slot, hi_slot;   /* Clip's bounds (weights), or -1 */
} nni_node;

enum { NNI_ACT_NONE, NNI_ACT_RELU, NNI_ACT_CLIP };

/* The fast path of an elementwise chain (op_elementwise.c): node n and its
 * chain members computed over blocks of `x` (the chain's one activation
 * input) into `y` (may be x's own buffer), scalars read from the weights. */
int nni_ew_chain(struct nni_call *c, const nnz_itensor *x, nnz_itensor *y);
/* Is `n` an op the elementwise chain runs? */
int nni_ew_op(const nni_node *n);

/* A value taken from an enclosing graph. */
typedef struct nni_capture {
    int slot;         /* here */
    int outer_slot;   /* in the parent graph */
} nni_capture;

/* A planned graph: values are slots; nodes in execution order. */
typedef struct nni_graph {
    const Onnx__GraphProto *g;
    struct nni_graph *parent;
    int depth;
    int opset;
    nnz_strmap names;       /* value name -> slot */
    size_t nslots;
    char **slot_name;       /* borrowed */
    nnz_itensor **weights;  /* slot -> weight, or NULL */
    nni_node *nodes;
    size_t nnodes;
    int *last_use;          /* slot -> last node index reading it (nnodes: kept) */
    int *inputs;            /* graph input slots (initializers included in a subgraph) */
    size_t ninputs;
    int *outputs;
    size_t noutputs;
    nni_capture *caps;
    size_t ncaps;
    /* the shape plan of the main graph, per slot (infer_plan.c) */
    signed char *pstate;    /* NNI_P_* */
    int *pdtype, *pnd;
    int64_t (*pdims)[NNZ_MAX_DIMS];
} nni_graph;

/* What the shape plan knows of a value. */
enum { NNI_P_NONE, NNI_P_SHAPE, NNI_P_RUNTIME };

/* One activation of a graph: its values. */
typedef struct nni_frame {
    nni_graph *gr;
    nnz_itensor *v;          /* per slot */
    struct nni_frame *parent;
} nni_frame;

struct nnz_infer {
    nnz_model *m;
    nnz_infer_opts o;
    nni_graph *main;
    nni_frame frame;
    int *is_input;           /* main-graph slot -> real input index + 1 */
    size_t *real_inputs;     /* index into main->g->input of each real input */
    size_t nreal;
    int ran;
    uint64_t live, peak, limit, weight_bytes, copied_bytes;
    double seconds;
    /* the shape plan (infer_plan.c): made for the input shapes of the last
     * plan, redone when they change */
    int planning;            /* a plan is being made: shapes, not float compute */
    int planned;             /* the plan matches the inputs set */
    int64_t (*plan_in)[NNZ_MAX_DIMS + 1]; /* per real input: ndims, dims */
    uint64_t plan_peak;
    size_t plan_values, plan_runtime, plan_checked, plan_fused;
    /* re-running with a few weights changed (nnz_infer_run_from): the
     * snapshot whose values stand in for the nodes that need not run, and
     * which main-graph slots depend on a changed weight; or the snapshot a
     * run is filling (nnz_infer_run_keep) */
    const struct nnz_infer_snap *resume;
    unsigned char *dirty;
    struct nnz_infer_snap *keeping;
    /* weights by nnz_tensor name */
    nnz_strmap wnames;
    nnz_itensor **wlist;
    size_t nw;
};

/* What an op gets. */
typedef struct nni_call {
    nnz_infer *inf;
    const nni_node *n;
    const Onnx__NodeProto *p;
    int opset;
    int nin, nout;
    const nnz_itensor *in[NNI_MAX_IO];  /* NULL: omitted */
    nnz_itensor *out[NNI_MAX_IO];
    nni_frame *frame;                   /* for control flow */
    nnz_error *e;
    /* inputs whose buffer the op may take for an output (this node is
     * their last reader, they are not weights, no hook watches) */
    nnz_itensor *steal[2];
    nnz_itensor moved[2];
    /* while planning: may the op compute its outputs (every input has its
     * values), or does it give shapes only; plan_stop: it stopped once its
     * outputs had shapes; plan_defer: an op with several outputs shapes them
     * all before it checks nni_plan_done */
    int plan, plan_values, plan_stop, plan_defer;
    int uninit;   /* nni_out leaves the output unzeroed (nni_out_uninit) */
    /* a fused chain's epilogue for Conv: y = act(conv + residual) */
    const nnz_itensor *epi_res;
    int epi_act;
    float epi_lo, epi_hi;
} nni_call;

/* Data of a tensor that has a shape but no values (made by the plan): an
 * address no kernel may read (a PROT_NONE page: a read faults at once
 * rather than return garbage). */
extern void *nni_shaped_data, *nni_runtime_data;
int nni_shaped_init(nnz_error *e);
#define nni_is_sentinel(p) ((p) == nni_shaped_data || (p) == nni_runtime_data)
/* While planning: does output of this type and size get values (its inputs
 * all have values and it is small: shape arithmetic), or a shape only? */
int nni_plan_computes(const nni_call *c, int dtype, size_t bytes);
/* An output just got a shape only: stop the op (-1, plan_stop), or go on to
 * its next output (0) under plan_defer. */
int nni_plan_shaped(nni_call *c);
/* After a multi-output op shaped its outputs with plan_defer set: non-zero
 * when the plan stops the op there (its outputs carry shapes only). */
int nni_plan_done(nni_call *c);
/* Make the shape plan for the inputs set (infer_plan.c). */
int nni_plan(nnz_infer *inf, nnz_error *e);
/* While running the main graph: does node i's output agree with the plan? */
int nni_plan_check(nnz_infer *inf, const int *slots, int nslots, nnz_error *e);

/* Hot float loops get an AVX2+FMA clone chosen at load time where the CPU
 * has it (GCC function multiversioning); the baseline build stays portable.
 * FMA contracts a*b+c into one rounding, so results may differ from the
 * baseline clone in the last bit: the same machine always picks the same one. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define NNI_HOT __attribute__((target_clones("avx2,fma", "default")))
#else
#define NNI_HOT
#endif

/* ---- helpers (infer_util.c) ---------------------------------------------- */

/* An attribute by name, or NULL. */
const Onnx__AttributeProto *nni_attr(const nni_call *c, const char *name);
int64_t nni_attr_i(const nni_call *c, const char *name, int64_t def);
float nni_attr_f(const nni_call *c, const char *name, float def);
/* NULL when absent (or empty); *n elements. */
const int64_t *nni_attr_ints(const nni_call *c, const char *name, size_t *n);
const float *nni_attr_floats(const nni_call *c, const char *name, size_t *n);
/* A string attribute, or `def`. */
const char *nni_attr_s(const nni_call *c, const char *name, const char *def);

/* Fail for bad input (exit 3); the executor adds the node's name. */
int nni_fail(nni_call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An attribute value or input the interpreter does not support. */
int nni_unsupported(nni_call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Allocate output k (counts against the memory limit), zeroed. */
int nni_out(nni_call *c, int k, int dtype, int ndims, const int64_t *dims);
/* The same, not zeroed: for a kernel that writes every element (saves a
 * pass over the output). */
int nni_out_uninit(nni_call *c, int k, int dtype, int ndims, const int64_t *dims);
int nni_it_alloc(nnz_itensor *t, int dtype, int ndims, const int64_t *dims, int zero, nnz_error *e);
/* Like nni_out, but output k_out takes input k_in's buffer when it may
 * (an elementwise op computing in place); c->in[k_in] stays readable. */
int nni_out_reuse(nni_call *c, int k_out, int k_in, int dtype, int ndims, const int64_t *dims);
/* Output k is a copy of `src` (same dtype, given shape). */
int nni_out_copy(nni_call *c, int k, const nnz_itensor *src, int ndims, const int64_t *dims);
/* Input k must be present and have one of the listed kinds. */
int nni_need(nni_call *c, int k);
int nni_need_float(nni_call *c, int k);

/* Memory accounting. */
int nni_account(nnz_infer *inf, size_t bytes, nnz_error *e);
void nni_release(nnz_infer *inf, nnz_itensor *t);

/* Type kinds. */
int nni_is_float(int dtype);  /* FLOAT, FLOAT16, BFLOAT16 (held as float) */
int nni_is_int(int dtype);    /* INT64, INT32, INT8, UINT8, BOOL */
/* Store a value of any kind into element i. */
void nni_set(nnz_itensor *t, size_t i, double v);
int64_t nni_get_i64(const nnz_itensor *t, size_t i);
void nni_set_i64(nnz_itensor *t, size_t i, int64_t v);
/* Round a float tensor's values to its dtype (FLOAT16, BFLOAT16). */
void nni_round_to_type(nnz_itensor *t);
float nni_half_round(float f);
float nni_bf16_round(float f);
float nni_half_to_float(uint16_t h);
uint16_t nni_float_to_half(float f);

/* Shape helpers. */
int nni_norm_axis(nni_call *c, int64_t axis, int rank, int *out);
/* The broadcast shape of a and b. */
int nni_bcast_shape(nni_call *c, const nnz_itensor *a, const nnz_itensor *b, int *nd,
                    int64_t *dims);
/* Element strides of t viewed in an nd-dim broadcast shape (0 where t
 * broadcasts). */
void nni_bcast_strides(const nnz_itensor *t, int nd, const int64_t *dims, int64_t *strides);
/* The elements of an int tensor (int64 or int32) as int64 (n of them),
 * into buf (room for NNZ_MAX_DIMS*... caller-sized). */
int nni_read_ints(nni_call *c, const nnz_itensor *t, int64_t *buf, size_t cap, size_t *n);
size_t nni_shape_count(int nd, const int64_t *dims);

/* Run a subgraph (control.c), used by If/Loop. */
int nni_run_graph(nnz_infer *inf, nni_graph *gr, nni_frame *parent, nnz_itensor *args,
                  size_t nargs, nnz_itensor *results, nnz_error *e);

/* Matrix product C[M,N] = A[M,K] * B[K,N] (+ C when beta 1), row-major. */
void nni_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc);

#endif
