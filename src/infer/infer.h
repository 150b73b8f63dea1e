/* infer.h - nnzip's own ONNX interpreter (docs/infer.md).
 *
 * A layer above src/core and below cli/: it executes the model IR
 * (nnz_model) on the CPU in float32 (int64/int32/bool/uint8/int8 tensors
 * for shape arithmetic and quantized ops), with the weights read where the
 * model keeps them (initializers, Constant nodes, external data, subgraph
 * initializers). Conv and Gemm/MatMul run on OpenBLAS.
 *
 * Use:
 *   nnz_infer *inf;
 *   nnz_infer_open(model, &opts, &inf, &e);     once: checks every op, copies weights
 *   nnz_infer_set_input(inf, "x", &tensor, &e); per run
 *   nnz_infer_run(inf, &e);
 *   nnz_infer_output(inf, 0);                   valid until the next run
 *   nnz_infer_free(inf);
 *
 * Re-running with other weights is cheap: nnz_infer_weight() gives the
 * float values of a weight tensor in place; change them and run again.
 * A hook (nnz_infer_opts.hook) sees each node's inputs and outputs as it
 * runs, e.g. to collect a layer's input activations. */
#ifndef NNZ_INFER_INFER_H
#define NNZ_INFER_INFER_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "model.h"

/* A tensor as the interpreter holds it. `dtype` is the ONNX data type.
 * FLOAT16 and BFLOAT16 values are held as float (already rounded to the
 * type), so `data` is float for FLOAT, FLOAT16 and BFLOAT16; int64_t,
 * int32_t, uint8_t (BOOL, UINT8), int8_t otherwise. DOUBLE is held as
 * double. */
typedef struct nnz_itensor {
    int dtype;
    int ndims;
    int64_t dims[NNZ_MAX_DIMS];
    size_t count;     /* elements */
    void *data;
    size_t bytes;     /* bytes of data */
    int borrowed;     /* data belongs to someone else (a weight) */
} nnz_itensor;

/* Bytes per element as held (4 for FLOAT16: held as float); 0 when the
 * interpreter does not handle the type. */
size_t nnz_it_esize(int dtype);
/* Set dtype and shape and allocate zeroed data (checked: the product of
 * the dims must not overflow). */
int nnz_it_alloc(nnz_itensor *t, int dtype, int ndims, const int64_t *dims, nnz_error *e);
void nnz_it_free(nnz_itensor *t);
/* A TensorProto (raw_data or typed fields) into `t`. */
int nnz_it_from_proto(const Onnx__TensorProto *p, nnz_itensor *t, nnz_error *e);
/* `t` as a packed TensorProto named `name`; the caller frees *buf. */
int nnz_it_to_pb(const nnz_itensor *t, const char *name, uint8_t **buf, size_t *len,
                 nnz_error *e);
/* A .npy file image into `t` / `t` as one. */
int nnz_it_from_npy(const uint8_t *data, size_t len, nnz_itensor *t, nnz_error *e);
int nnz_it_to_npy(const nnz_itensor *t, uint8_t **buf, size_t *len, nnz_error *e);
/* Value i as a double (any held type). */
double nnz_it_get(const nnz_itensor *t, size_t i);

struct nnz_infer;
typedef struct nnz_infer nnz_infer;

/* Called after each node ran (depth 0: main graph, 1+: inside If/Loop).
 * Inputs may be NULL (an omitted optional input). Return non-zero to stop
 * the run (it then fails with NNZ_EXIT_INTERNAL unless the hook set `e`). */
typedef int (*nnz_infer_hook)(void *ctx, const Onnx__NodeProto *node, int depth,
                              const nnz_itensor *const *in, size_t nin,
                              const nnz_itensor *const *out, size_t nout, nnz_error *e);

/* A symbolic dim given a value by the user (`--dim NAME=VALUE`). */
typedef struct nnz_infer_dim {
    const char *name;
    int64_t value;
} nnz_infer_dim;

typedef struct nnz_infer_opts {
    int threads;                 /* OpenBLAS threads; 0 or 1: one (reproducible bits) */
    uint64_t max_memory;         /* bytes of live activations; 0: NNZ_INFER_MAX_MEMORY */
    const nnz_infer_dim *dims;   /* values of symbolic dims, for declared shapes */
    size_t ndims;
    nnz_infer_hook hook;
    void *hook_ctx;
    int64_t max_loop;            /* iterations of one Loop; 0: NNZ_INFER_MAX_LOOP */
    int plan_shapes_only;        /* testing: the shape plan computes no float values
                                  * at all (only integer shape arithmetic), so every
                                  * kernel's shape path is exercised */
} nnz_infer_opts;

/* Tensors the shape plan computes for real (shape arithmetic), at most. */
#define NNZ_INFER_PLAN_VALUE_BYTES 65536

#define NNZ_INFER_MAX_MEMORY (8ull << 30)
#define NNZ_INFER_MAX_LOOP 1000000ll   /* Loop iterations, the most one Loop may run */

/* Prepare to run `m`, which must outlive the result, its float weights
 * unchanged meanwhile (they are read in place where the model holds them
 * as raw little-endian data; others are copied). Fails with
 * NNZ_EXIT_INPUT naming the node for an op or attribute the interpreter does
 * not support, a cycle, a value no node produces. */
int nnz_infer_open(nnz_model *m, const nnz_infer_opts *opts, nnz_infer **out, nnz_error *e);
void nnz_infer_free(nnz_infer *inf);

/* The graph's real inputs (initializers excluded) and outputs. */
size_t nnz_infer_ninputs(const nnz_infer *inf);
const Onnx__ValueInfoProto *nnz_infer_input_info(const nnz_infer *inf, size_t i);
size_t nnz_infer_noutputs(const nnz_infer *inf);
const char *nnz_infer_output_name(const nnz_infer *inf, size_t i);
/* The declared shape of input i with symbolic dims from opts.dims (else
 * -1); returns its ndims, or -1 when the input declares no shape. */
int nnz_infer_input_shape(const nnz_infer *inf, size_t i, int64_t *dims, int *dtype);

/* Give input `name` a value (copied; a float input may be given as any
 * float type, an integer one as any integer type: converted). Checks the
 * type and the declared shape. */
int nnz_infer_set_input(nnz_infer *inf, const char *name, const nnz_itensor *t, nnz_error *e);
/* Run the graph. Every input must have been set. */
int nnz_infer_run(nnz_infer *inf, nnz_error *e);
/* Output i of the last run (NULL before one). */
const nnz_itensor *nnz_infer_output(const nnz_infer *inf, size_t i);

/* The interpreter's own copy of a float weight tensor (initializer or
 * Constant node, by its unique nnz_tensor name), made on the first call,
 * writable: the next run uses what is there; the model is not touched.
 * NULL when there is no such float tensor (or no memory for the copy). */
float *nnz_infer_weight(nnz_infer *inf, const char *name, size_t *count);

/* Another interpreter's weights, for running it beside that one on other
 * inputs (calibration workers, infer_calib.c): every float weight of `dst`
 * reads `src`'s values in place (what nnz_infer_weight changed there
 * included), its own copies let go. Both must be open on the same model.
 * Call it again after a nnz_infer_weight on `src` (which may move a
 * weight), never while either runs; `src` must outlive `dst`'s runs. */
int nnz_infer_share_weights(nnz_infer *dst, const nnz_infer *src, nnz_error *e);

/* Run with the caller's `data` (count floats: read, never written or
 * freed, outliving the runs) as float weight `name`, until
 * nnz_infer_weight_put_back; other interpreters sharing this one's weights
 * keep reading its own values. Returns 0 with *save filled (for putting
 * them back), -1 when there is no float weight of that name and size. */
typedef struct nnz_infer_wsave {
    void *data;
    int borrowed;
} nnz_infer_wsave;
int nnz_infer_weight_use(nnz_infer *inf, const char *name, const float *data, size_t count,
                         nnz_infer_wsave *save);
void nnz_infer_weight_put_back(nnz_infer *inf, const char *name, const nnz_infer_wsave *save);

/* Re-running with a few weights changed. A run that changes one weight
 * computes, before that weight's first reader, exactly what a run with the
 * old weight computed; and after it, too, wherever the value does not
 * depend on the weight. nnz_infer_run_keep runs as nnz_infer_run and keeps
 * a copy of every value of the main graph (NULL in *snap when they would
 * take more than max_bytes: the run is still done). nnz_infer_run_from
 * then runs with the same inputs set and the weights as they were then,
 * except those named in `changed`: only the nodes that depend on a changed
 * weight run, the others' values are the snapshot's (which must outlive the
 * outputs of the run). Its outputs are the bits nnz_infer_run gives. A
 * changed weight read inside an If/Loop body, or a hook set, makes it a
 * full run. */
typedef struct nnz_infer_snap nnz_infer_snap;
int nnz_infer_run_keep(nnz_infer *inf, nnz_infer_snap **snap, uint64_t max_bytes, nnz_error *e);
int nnz_infer_run_from(nnz_infer *inf, const nnz_infer_snap *snap, const char *const *changed,
                       size_t nchanged, nnz_error *e);
uint64_t nnz_infer_snap_bytes(const nnz_infer_snap *s);
void nnz_infer_snap_free(nnz_infer_snap *s);

/* The shape plan. Before a run computes anything, the graph is run for
 * shapes: every value gets its dtype and shape from the inputs' shapes
 * (symbolic dims bound by them), small integer and float tensors (shape
 * arithmetic: Shape, Gather, Concat, Range, ...) are computed for real,
 * large float tensors carry a shape and no data. Each value is counted in
 * the memory plan (freed after its last reader, as a run does) and the
 * limit is checked at each step: a bad shape, an overflowing dim product or
 * a plan over the limit fails here, naming the node, with nothing allocated.
 * Values whose shape depends on data the plan does not compute (NonZero of
 * an activation, If and Loop outputs, a Reshape to a computed shape, ...)
 * are marked as known only at run time; the run checks those as it goes.
 * nnz_infer_run plans by itself when the input shapes changed; this call
 * plans without running (every input must have been set). */
int nnz_infer_plan(nnz_infer *inf, nnz_error *e);
/* Values of the main graph in the plan (after a plan): 0 for i out of
 * range, 1 with its name, dtype, ndims and dims when its shape is known,
 * 2 when it is known only at run time (dtype -1). Unnamed values (unused
 * outputs) and weights are not listed: i runs over the node outputs. */
size_t nnz_infer_plan_nvalues(const nnz_infer *inf);
int nnz_infer_plan_value(const nnz_infer *inf, size_t i, const char **name, int *dtype,
                         int *ndims, int64_t *dims);

/* Time and memory of the last run. */
typedef struct nnz_infer_stats {
    double seconds;
    uint64_t peak_bytes;     /* most activation bytes live at once */
    uint64_t weight_bytes;   /* the weights the plan reads (as held: float) */
    uint64_t copied_bytes;   /* of which the interpreter's own copies (float
                              * raw data is read in place until written) */
    uint64_t plan_peak_bytes;   /* the shape plan's peak of live activations
                                 * (outputs only: no per-op scratch; values
                                 * known only at run time count 0) */
    size_t plan_values;         /* node outputs whose shape the plan knew */
    size_t plan_runtime_values; /* known only at run time */
    size_t plan_checked;        /* of the last run's values, checked equal to the plan */
    size_t plan_fused;          /* values inside fused Conv chains, never made in
                                 * the last run (so not checked) */
} nnz_infer_stats;
void nnz_infer_get_stats(const nnz_infer *inf, nnz_infer_stats *st);

/* Is op `op_type` (default domain) at `opset` supported? */
int nnz_infer_supports(const char *op_type);

#endif
