/* bitio.h - a bit writer, most significant bit first (docs/FORMAT.md, "Bits"),
 * into a growing byte buffer (bytes.h). The runtime has the matching reader. */
#ifndef NNZ_CORE_BITIO_H
#define NNZ_CORE_BITIO_H

#include <stddef.h>
#include <stdint.h>

#include "bytes.h"

typedef struct nnz_bitw {
    nnz_bytes out;     /* whole bytes written; out.failed: out of memory (sticky) */
    uint64_t acc;      /* pending bits, right-aligned */
    unsigned nacc;     /* how many */
} nnz_bitw;

/* Move 32 pending bits to the buffer (nnz_bitw_put's slow half). */
void nnz_bitw_spill(nnz_bitw *w);

/* Write the low `width` bits of v (width 1..32). Inline: encoders call it
 * once per symbol. acc keeps fewer than 32 pending bits between calls. */
static inline void nnz_bitw_put(nnz_bitw *w, uint32_t v, unsigned width)
{
    uint64_t mask = width == 32 ? 0xffffffffu : (1u << width) - 1;
    w->acc = w->acc << width | (v & mask);
    w->nacc += width;
    if (w->nacc >= 32)
        nnz_bitw_spill(w);
}
/* Pad with zero bits to a byte boundary; out.buf/out.len then hold
 * everything written (call it before reading them). */
void nnz_bitw_align(nnz_bitw *w);
/* Append whole bytes, after padding any pending bits to a byte. */
void nnz_bitw_bytes(nnz_bitw *w, const void *p, size_t n);
/* Bits written so far. */
static inline uint64_t nnz_bitw_bits(const nnz_bitw *w)
{
    return (uint64_t)w->out.len * 8 + w->nacc;
}
void nnz_bitw_free(nnz_bitw *w);

#endif
