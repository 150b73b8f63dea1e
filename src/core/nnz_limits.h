/* limits.h - the limits that stop a hostile model from exhausting the
 * machine. Each is enforced with a message that names it (docs/security.md). */
#ifndef NNZ_CORE_LIMITS_H
#define NNZ_CORE_LIMITS_H

#define NNZ_MAX_DIMS 32                    /* dims of one tensor */
#define NNZ_MAX_GRAPH_DEPTH 64             /* subgraph nesting (If/Loop/Scan) */
#define NNZ_MAX_MESSAGE_DEPTH 400          /* protobuf message nesting */
#define NNZ_MAX_TENSORS 1000000            /* weight tensors in one model */
#define NNZ_MAX_TENSOR_BYTES (1ull << 40)  /* decoded bytes of one tensor */
/* Memory the protobuf parser may allocate, beyond the file's own size:
 * generous for real models (a million nodes), far below what a file of
 * empty messages would make it allocate. */
#define NNZ_MAX_PARSE_OVERHEAD (512ull << 20)

#endif
