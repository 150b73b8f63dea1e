/* scale_grid.h - per-channel scales on the log grid of value map 6
 * (docs/FORMAT.md, "Compact scales"): FRAC[j] x 2^e, 16 steps a binade.
 * The quantizer chooses its scales on the grid (snap up), so the encoder
 * stores exactly the scales the passes used: state.h's rule that `values`
 * is what the decoder produces holds with no float32 scales. A tensor's
 * codes count from the binade of its smallest scale (its frame, `exp`),
 * so channels of any spread fit (encoding version 5; versions 3 and 4
 * held 16 binades). */
#ifndef NNZ_CORE_SCALE_GRID_H
#define NNZ_CORE_SCALE_GRID_H

#include <stddef.h>
#include <stdint.h>

/* Move every scale up to the nearest grid value (never down: a larger step
 * clips nothing). When a scale is not a positive finite normal float, or
 * the largest would round up past 2^127, nothing moves: the tensor keeps
 * float32 scales. n < 2 does nothing (one scale costs 4 bytes as float32). */
void nnz_scale_grid_snap(float *scale, size_t n);

/* Do the n scales lie on the grid? Then *exp is their frame (the smallest
 * one's binade) and returns 1, else 0. */
int nnz_scale_grid_fits(const float *scale, size_t n, int *exp);

/* The smallest code whose scale in frame `exp` is >= s (s >= 2^exp). A
 * scale that fits has nnz_log_scale(code, exp) == s. */
uint32_t nnz_scale_grid_code(float s, int exp);

#endif
