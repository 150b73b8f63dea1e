/* state.h - what the passes have done to one tensor: its values now, and
 * the plain data a blob encoding is made from (docs/architecture.md).
 *
 * Passes refine the state in pipeline order:
 *   prune     sets values to exactly 0.0f, marks `pruned`
 *   hashnet   makes the stored values the K bucket values (`hashed`)
 *   quantize  gives every stored value a code and a value map
 *   huffman   asks for entropy coding of the codes
 * The stored values are all `n` elements, or the K buckets when hashed.
 * `values` is always the full reconstruction the decoder will produce, so
 * error figures and later passes see exactly what a device will see. */
#ifndef NNZ_CORE_STATE_H
#define NNZ_CORE_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "model.h"

typedef struct nnz_state {
    size_t n;               /* elements */
    int dtype;              /* the tensor's type (nnz_dtype): decoded values are
                               rounded to it, as the runtime does */
    float *orig;            /* the source values */
    float *values;          /* the reconstruction so far (n floats) */

    int pruned;             /* prune set some values to exactly 0 */

    /* hashnet */
    int hashed;
    uint32_t seed;
    int sign;               /* the paper's sign hash xi(i) */
    size_t nbuckets;
    float *buckets;         /* nbuckets values */

    /* quantize: the stored values as codes through a value map (nnz.h NNZ_VAL_*) */
    int kind;               /* NNZ_VAL_F32 until quantized */
    int bits;               /* width of a code */
    uint32_t *codes;        /* one per stored value; NULL while kind is F32 */
    size_t nchan, inner;    /* affine: channel of element i is (i / inner) % nchan */
    int axis;               /* the channel axis, -1 for per-tensor */
    float *scale;           /* affine: nchan scales */
    uint32_t *zero_point;   /* affine: nchan zero points (code of 0.0) */
    float *codebook;        /* codebook: ncodebook values */
    size_t ncodebook;
    int64_t int_offset;     /* integer: value = code - offset */

    /* huffman */
    int entropy;            /* code the symbols with Huffman where it pays */
    int block_log2;         /* blocks of 2^block_log2 elements (0: one) */
    int max_code_len;       /* Huffman length limit (0: NNZ_HUFF_DEFAULT_MAX_LEN) */
} nnz_state;

/* The default Huffman length limit. Package-merge at 14 bits costs at most
 * 0.06% over no limit on the corpus, and lets the decoder take four codes
 * per 56-bit refill (docs/passes/huffman.md has the measurements). */
#define NNZ_HUFF_DEFAULT_MAX_LEN 14

/* A new state for tensor t, holding its values as floats (float dtypes) or
 * its integer data (int8/uint8: kind INT, so lossless passes can code it). */
nnz_state *nnz_state_new(nnz_model *m, nnz_tensor *t, nnz_error *e);
void nnz_state_free(nnz_state *s);

/* The values that get stored: all elements, or the buckets. */
static inline size_t nnz_state_nstored(const nnz_state *s)
{
    return s->hashed ? s->nbuckets : s->n;
}
static inline float *nnz_state_stored(nnz_state *s)
{
    return s->hashed ? s->buckets : s->values;
}

/* Element i's value from stored value v of the affine/codebook/float map:
 * one definition, the decoder's (docs/FORMAT.md), for every pass. */
float nnz_state_map(const nnz_state *s, uint32_t code, size_t i);

/* Recompute `values` from the stored values/codes (after a pass changed
 * them), exactly as the runtime will decode them. */
void nnz_state_reconstruct(nnz_state *s);

/* Are `values` exactly what the stored values/codes decode to (the rule
 * above)? The pipeline checks it after every stage in builds with
 * NNZ_CHECK_STATE (the ASan build); an error names the first element
 * that differs. */
int nnz_state_check(const nnz_state *s, nnz_error *e);

/* Does element i decode to exactly +0.0 (what a sparse layout leaves out)? */
static inline int nnz_state_is_zero(const nnz_state *s, size_t i)
{
    uint32_t u;
    __builtin_memcpy(&u, &s->values[i], 4);
    return u == 0;
}

#endif
