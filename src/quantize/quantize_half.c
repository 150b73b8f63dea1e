/* quantize_half.c - FP16 and BF16: every weight rounded to the nearest
 * half (ties to even). A weight whose rounding would overflow to infinity
 * (|w| >= 65520 for FP16; within half a BF16 step of FLT_MAX for BF16) is
 * clamped to the largest finite value and counted, never turned into an
 * infinity. */
#include <math.h>
#include <stdlib.h>

#include "nnz.h"
#include "quantize.h"

#define FP16_MAX_BITS 0x7bffu /* 65504 */
#define BF16_MAX_BITS 0x7f7fu /* 3.3895314e38 */

int quantize_half(const nnz_tensor *t, nnz_state *st, const quant_opts *o, cJSON *rep,
                  nnz_err_stats *err, nnz_error *e)
{
    (void)t;
    size_t n = nnz_state_nstored(st), clamped = 0;
    float *v = nnz_state_stored(st);
    free(st->codes); /* a half tensor arrives with its halves as codes */
    st->codes = nnz_malloc((n ? n : 1) * sizeof *st->codes, e);
    if (!st->codes)
        return -1;
    int fp16 = o->mode == Q_FP16;
    uint16_t top = fp16 ? FP16_MAX_BITS : BF16_MAX_BITS;
    float largest = 0, top_value = fp16 ? nnz_half_to_float(top) : nnz_bf16_to_float(top);
    for (size_t i = 0; i < n; i++) {
        uint16_t h = fp16 ? nnz_float_to_half(v[i]) : nnz_float_to_bf16(v[i]);
        if ((h & 0x7fffu) > top) { /* rounded past the largest finite value */
            h = (uint16_t)((h & 0x8000u) | top);
            clamped++;
            largest = fmaxf(largest, fabsf(v[i]));
        }
        st->codes[i] = h;
        float q = fp16 ? nnz_half_to_float(h) : nnz_bf16_to_float(h);
        quantize_err_add(err, v[i], q);
        v[i] = q;
    }
    st->kind = fp16 ? NNZ_VAL_F16 : NNZ_VAL_BF16;
    st->bits = 16;
    cJSON_AddStringToObject(rep, "mode", fp16 ? "fp16" : "bf16");
    cJSON_AddNumberToObject(rep, "bits", 16);
    cJSON_AddNumberToObject(rep, "clamped", (double)clamped);
    if (clamped)
        nnz_report_warn(rep, "%zu weights (up to %g) are beyond the %s range and were clamped "
                        "to +-%g%s", clamped, largest, fp16 ? "fp16" : "bf16", top_value,
                        fp16 ? "; bf16 keeps the float32 range" : "");
    return 0;
}
