/* state.c - see state.h. */
#include "state.h"

#include <stdlib.h>
#include <string.h>

#include "nnz.h"

nnz_state *nnz_state_new(nnz_model *m, nnz_tensor *t, nnz_error *e)
{
    nnz_state *s = nnz_calloc(1, sizeof *s, e);
    if (!s)
        return NULL;
    s->n = t->count;
    s->dtype = t->dtype;
    s->kind = NNZ_VAL_F32;
    s->bits = 32;
    s->axis = -1;
    if (nnz_dtype_is_float(t->dtype)) {
        s->orig = nnz_tensor_floats(m, t, e);
        s->values = s->orig ? nnz_malloc(t->count * sizeof(float), e) : NULL;
        if (!s->values) {
            nnz_state_free(s);
            return NULL;
        }
        memcpy(s->values, s->orig, t->count * sizeof(float));
        if (t->dtype != NNZ_DT_FLOAT) { /* a half tensor is stored as halves already */
            s->kind = t->dtype == NNZ_DT_FLOAT16 ? NNZ_VAL_F16 : NNZ_VAL_BF16;
            s->bits = 16;
            s->codes = nnz_malloc(t->count * sizeof *s->codes, e);
            const uint8_t *d = nnz_tensor_data(m, t, e);
            if (!s->codes || !d) {
                nnz_state_free(s);
                return NULL;
            }
            for (size_t i = 0; i < t->count; i++)
                s->codes[i] = (uint32_t)(d[2 * i] | d[2 * i + 1] << 8);
        }
        return s;
    }
    if (t->dtype == NNZ_DT_INT8 || t->dtype == NNZ_DT_UINT8) {
        /* integer codes of an already quantized model: kept exact */
        const uint8_t *d = nnz_tensor_data(m, t, e);
        s->codes = d ? nnz_malloc(t->count * sizeof *s->codes, e) : NULL;
        if (!s->codes) {
            nnz_state_free(s);
            return NULL;
        }
        s->kind = NNZ_VAL_INT;
        s->bits = 8;
        s->int_offset = t->dtype == NNZ_DT_INT8 ? 128 : 0;
        for (size_t i = 0; i < t->count; i++)
            s->codes[i] = t->dtype == NNZ_DT_INT8 ? (uint32_t)((int8_t)d[i] + 128) : d[i];
        return s;
    }
    nnz_state_free(s);
    nnz_fail(e, NNZ_EXIT_INTERNAL, "tensor '%s' (%s) has no pass state", t->name,
             nnz_dtype_name(t->dtype));
    return NULL;
}

void nnz_state_free(nnz_state *s)
{
    if (!s)
        return;
    free(s->orig);
    free(s->values);
    free(s->buckets);
    free(s->codes);
    free(s->scale);
    free(s->zero_point);
    free(s->codebook);
    free(s);
}

float nnz_state_map(const nnz_state *s, uint32_t code, size_t i)
{
    switch (s->kind) {
    case NNZ_VAL_AFFINE: {
        size_t c = s->nchan > 1 ? (i / s->inner) % s->nchan : 0;
        return s->scale[c] * (float)((int64_t)code - (int64_t)s->zero_point[c]);
    }
    case NNZ_VAL_CODEBOOK:
        return s->codebook[code];
    case NNZ_VAL_F16:
        return nnz_half_to_float((uint16_t)code);
    case NNZ_VAL_BF16:
        return nnz_bf16_to_float((uint16_t)code);
    case NNZ_VAL_INT:
        return (float)((int64_t)code - s->int_offset);
    default: {
        float f;
        memcpy(&f, &code, 4);
        return f;
    }
    }
}

/* What the decoder makes of a mapped value: it computes it in float, then
 * rounds it to the tensor's type (a no-op for values of that type already,
 * as half codes of a half tensor). */
static float to_dtype(const nnz_state *s, float v)
{
    if (s->dtype == NNZ_DT_FLOAT16)
        return nnz_half_to_float(nnz_float_to_half(v));
    if (s->dtype == NNZ_DT_BFLOAT16)
        return nnz_bf16_to_float(nnz_float_to_bf16(v));
    return v;
}

/* Element i as the decoder produces it from the stored values or codes. */
static float decoded(const nnz_state *s, size_t i)
{
    if (s->hashed) {
        size_t b = (size_t)nnz_hash_bucket(i, s->seed, s->nbuckets);
        /* a hashed affine map has one channel: index 0 */
        float v = s->codes ? to_dtype(s, nnz_state_map(s, s->codes[b], 0)) : s->buckets[b];
        return s->sign && nnz_hash_sign(i, s->seed) < 0 ? -v : v;
    }
    return to_dtype(s, nnz_state_map(s, s->codes[i], i));
}

/* Are `values` made from something else (codes, buckets)? */
static int derived(const nnz_state *s)
{
    return s->kind != NNZ_VAL_INT && s->values && (s->hashed || s->codes);
}

void nnz_state_reconstruct(nnz_state *s)
{
    if (derived(s))
        for (size_t i = 0; i < s->n; i++)
            s->values[i] = decoded(s, i);
}

int nnz_state_check(const nnz_state *s, nnz_error *e)
{
    for (size_t i = 0; derived(s) && i < s->n; i++) {
        float d = decoded(s, i);
        if (memcmp(&d, &s->values[i], sizeof d) != 0)
            return nnz_fail(e, NNZ_EXIT_INTERNAL, "element %zu is %.9g, but what is stored "
                            "decodes to %.9g: values must be the codes' reconstruction "
                            "(state.h)", i, (double)s->values[i], (double)d);
    }
    return 0;
}
