/* scale_grid.h - per-channel scales on the log grid of value map 6
 * (docs/FORMAT.md, "Compact scales"): 2^(exp + code / 16), one byte a
 * channel. The quantizer chooses its scales on the grid (snap up), so the
 * encoder stores exactly the scales the passes used: state.h's rule that
 * `values` is what the decoder produces holds with no float32 scales. */
#ifndef NNZ_CORE_SCALE_GRID_H
#define NNZ_CORE_SCALE_GRID_H

#include <stddef.h>
#include <stdint.h>

/* Move every scale up to the nearest grid value (never down: a larger step
 * clips nothing) inside one 16-binade window set by the largest, so the
 * encoder can store them as bytes. When a scale lies below the window (a
 * channel 2^14 times smaller than the largest, or more), or one is not a
 * positive finite float, nothing moves: the tensor keeps float32 scales
 * rather than give that channel a coarser step. n < 2 does nothing (one
 * scale costs 4 bytes as float32). */
void nnz_scale_grid_snap(float *scale, size_t n);

/* Do the n scales lie on the grid, in one window? Then *exp is the
 * window's base and returns 1, else 0. */
int nnz_scale_grid_fits(const float *scale, size_t n, int *exp);

/* The smallest code (0..255) whose scale in window `exp` is >= s; 256 when
 * s is above the window. A scale that fits has nnz_log_scale(code, exp) == s. */
uint32_t nnz_scale_grid_code(float s, int exp);

#endif
