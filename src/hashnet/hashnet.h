/* hashnet.h - the hashnet pass's parts, shared inside src/hashnet and with
 * its unit tests: HashedNets weight sharing (Chen et al. 2015, arXiv
 * 1504.04788), fitted after training (docs/passes/hashnet.md).
 *
 * Element i of a hashed tensor takes the value sign(i) * bucket[h(i)],
 * with h and sign the hash docs/FORMAT.md pins (runtime/nnz.h:
 * nnz_hash_bucket, nnz_hash_sign); this folder never hashes any other way. */
#ifndef NNZ_HASHNET_HASHNET_H
#define NNZ_HASHNET_HASHNET_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* The pass's default floor (nnz_pass.min_elements): smaller tensors are
 * left as they are unless min-elements= or only= picks them. Below 16
 * floats (64 bytes) a tensor stays inside the blob's graph section, and a
 * hashed directory entry with its parameters and 64-byte aligned payload
 * would take more room than the tensor itself. */
#define HASHNET_MIN_ELEMENTS 16

/* Above this relative L2 error of a tensor the pass warns (and says what to
 * do instead). Hashing after training leaves far more: see the pass doc. */
#define HASHNET_WARN_REL_L2 0.1

/* The hash has 32 bits: bucket(i) = (hash * K) >> 32 reaches every one of
 * K buckets only while K <= 2^32. */
#define HASHNET_MAX_BUCKETS 4294967296LL

typedef struct hashnet_opts {
    double ratio;      /* > 0: K = ceil(n / ratio) */
    uint64_t buckets;  /* > 0: K = buckets */
    uint32_t seed;     /* the user's seed; each tensor derives its own */
    int sign;          /* the sign hash xi(i) */
} hashnet_opts;

/* The seed a tensor's hash uses, from the user's seed and the tensor's
 * (model-unique) name: a chain of the format's own hash over the name,
 *   h = seed; for each 8-byte piece c of the name (little-endian, the last
 *   zero-padded): h = xxh32(le64(c), h); then h = xxh32(le64(len), h)
 * so two tensors of one shape do not share an assignment. */
uint32_t hashnet_tensor_seed(uint32_t seed, const char *name);

/* Buckets for a tensor of n elements under the options: ceil(n / ratio)
 * (at least 1), or the `buckets=` count. May exceed n (the caller refuses). */
uint64_t hashnet_bucket_count(const hashnet_opts *o, size_t n);

/* The least-squares bucket values for weights w[0..n) hashed into k
 * buckets: bucket b is the mean of sign(i) * w[i] over its members i (the
 * minimiser of sum_i (w[i] - sign(i) * bucket[h(i)])^2, summed in double),
 * 0 when it has none. `members` (k entries, may be NULL) receives each
 * bucket's member count. */
int hashnet_fit(const float *w, size_t n, size_t k, uint32_t seed, int sign, float *buckets,
                size_t *members, nnz_error *e);

#endif
