/* quantize_half.c - FP16 and BF16: every weight rounded to the nearest
 * half (ties to even). FP16 overflows past 65504: such weights are clamped
 * to +-65504 and counted, never turned into infinities. */
#include <math.h>
#include <stdlib.h>

#include "nnz.h"
#include "quantize.h"

int quantize_half(const nnz_tensor *t, nnz_state *st, const quant_opts *o, cJSON *rep,
                  nnz_error *e)
{
    (void)t;
    size_t n = nnz_state_nstored(st), clamped = 0;
    float *v = nnz_state_stored(st);
    free(st->codes); /* an fp16 tensor arrives with its halves as codes */
    st->codes = nnz_malloc((n ? n : 1) * sizeof *st->codes, e);
    if (!st->codes)
        return -1;
    int fp16 = o->mode == Q_FP16;
    for (size_t i = 0; i < n; i++) {
        float x = v[i];
        if (fp16 && fabsf(x) > 65504.0f) {
            x = x > 0 ? 65504.0f : -65504.0f;
            clamped++;
        }
        st->codes[i] = fp16 ? nnz_float_to_half(x) : nnz_float_to_bf16(x);
        v[i] = fp16 ? nnz_half_to_float((uint16_t)st->codes[i])
                    : nnz_bf16_to_float((uint16_t)st->codes[i]);
    }
    st->kind = fp16 ? NNZ_VAL_F16 : NNZ_VAL_BF16;
    st->bits = 16;
    cJSON_AddStringToObject(rep, "mode", fp16 ? "fp16" : "bf16");
    cJSON_AddNumberToObject(rep, "bits", 16);
    cJSON_AddNumberToObject(rep, "clamped", (double)clamped);
    if (clamped)
        nnz_report_warn(rep, "%zu weights beyond the fp16 range were clamped to +-65504; "
                        "bf16 keeps the float32 range", clamped);
    return 0;
}
