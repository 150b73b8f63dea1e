/* limits.h - the limits that stop a hostile model from exhausting the
 * machine. Each is enforced with a message that names it (docs/security.md). */
#ifndef NNZ_CORE_LIMITS_H
#define NNZ_CORE_LIMITS_H

#define NNZ_MAX_DIMS 32                    /* dims of one tensor */
#define NNZ_MAX_GRAPH_DEPTH 64             /* subgraph nesting (If/Loop/Scan) */
#define NNZ_MAX_MESSAGE_DEPTH 400          /* protobuf message nesting */
#define NNZ_MAX_TENSORS 1000000            /* weight tensors in one model */
#define NNZ_MAX_TENSOR_BYTES (1ull << 36)  /* decoded bytes of one tensor (64 GiB), loaded or
                                              decompressed; the largest real ones are a few GiB */
#define NNZ_MAX_DECODED_BYTES (1ull << 40) /* decoded bytes of one blob: model and external data */
/* Work memory to decode one tensor besides the piece being written:
 * Huffman tables, and the bucket symbols of a Huffman-coded hashed tensor
 * (4 bytes each), which a blob of a few bytes can declare by the billion. */
#define NNZ_MAX_DECODE_WORK (1ull << 30)
/* A compressed graph section (docs/FORMAT.md) may declare up to 2 GiB
 * from a few bytes: the tool expands at most this many bytes per byte of
 * it (real graphs: 5 to 40), plus 64 KiB. */
#define NNZ_MAX_GRAPH_EXPANSION 1024u
/* Memory the protobuf parser may allocate, beyond the file's own size:
 * generous for real models (a million nodes), far below what a file of
 * empty messages would make it allocate. */
#define NNZ_MAX_PARSE_OVERHEAD (512ull << 20)

#endif
