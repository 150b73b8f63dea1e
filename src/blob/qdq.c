/* qdq.c - see qdq.h. */
#include "qdq.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edit.h"

static float le_f32(const uint8_t *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t le_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- putting nodes in place of a weight ----------------------------------- */

/* Where a weight lives, to put its replacement nodes in front of its users. */
typedef struct site {
    Onnx__GraphProto *g;
    size_t node_at; /* insert the new nodes here */
    Onnx__NodeProto *constant; /* the Constant node holding it, or NULL */
} site;

static int find_site(Onnx__GraphProto *g, const nnz_tensor *t, site *s)
{
    if (g == t->graph) {
        s->g = g;
        s->node_at = 0;
        s->constant = NULL;
        if (t->loc == NNZ_LOC_CONSTANT)
            for (size_t i = 0; i < g->n_node; i++)
                for (size_t a = 0; a < g->node[i]->n_attribute; a++)
                    if (g->node[i]->attribute[a]->t == t->proto) {
                        s->constant = g->node[i];
                        s->node_at = i + 1;
                    }
        return 1;
    }
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t a = 0; a < g->node[i]->n_attribute; a++) {
            Onnx__AttributeProto *at = g->node[i]->attribute[a];
            if (at->g && find_site(at->g, t, s))
                return 1;
            for (size_t k = 0; k < at->n_graphs; k++)
                if (find_site(at->graphs[k], t, s))
                    return 1;
        }
    return 0;
}

/* The nodes and initializers that compute a weight instead of holding it. */
typedef struct rewrite {
    Onnx__NodeProto *node[4];
    size_t nnodes;
    Onnx__TensorProto *init[4];
    size_t ninits;
    int failed;
} rewrite;

static void rw_node(rewrite *rw, Onnx__NodeProto *n)
{
    if (!n)
        rw->failed = 1;
    else
        rw->node[rw->nnodes++] = n;
}

static void rw_init(rewrite *rw, Onnx__TensorProto *t)
{
    if (!t)
        rw->failed = 1;
    else
        rw->init[rw->ninits++] = t;
}

static void rw_free(rewrite *rw)
{
    for (size_t i = 0; i < rw->nnodes; i++)
        protobuf_c_message_free_unpacked(&rw->node[i]->base, NULL);
    for (size_t i = 0; i < rw->ninits; i++)
        protobuf_c_message_free_unpacked(&rw->init[i]->base, NULL);
    memset(rw, 0, sizeof *rw);
}

/* Replace weight t (its value name `onnx_name`) by the rewrite's nodes
 * (in order; the last produces the weight) and initializers. The original
 * tensor (initializer or Constant node) goes. Takes over rw. */
static int replace(nnz_model *m, nnz_tensor *t, rewrite *rw, nnz_error *e)
{
    site s;
    if (rw->failed) {
        rw_free(rw);
        return -1;
    }
    if (!find_site(m->proto->graph, t, &s)) {
        rw_free(rw);
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "tensor '%s' not found in its graph", t->name);
    }
    int rc = 0;
    size_t i = 0;
    for (; i < rw->ninits && rc == 0; i++)
        rc = nnz_edit_add_initializer(s.g, rw->init[i], e);
    for (; i < rw->ninits; i++)
        protobuf_c_message_free_unpacked(&rw->init[i]->base, NULL);
    rw->ninits = 0;
    if (rc != 0) {
        rw_free(rw);
        return -1;
    }
    if (s.constant) {
        for (size_t k = 0; k < s.g->n_node; k++)
            if (s.g->node[k] == s.constant) {
                nnz_edit_remove_node(s.g, k);
                s.node_at = k;
                break;
            }
    } else {
        /* an old model may list the initializer as a graph input too;
         * look before the initializer (and the name it holds) goes */
        for (size_t k = 0; k < s.g->n_input; k++)
            if (s.g->input[k]->name && strcmp(s.g->input[k]->name, t->onnx_name) == 0) {
                protobuf_c_message_free_unpacked(&s.g->input[k]->base, NULL);
                memmove(s.g->input + k, s.g->input + k + 1,
                        (s.g->n_input - k - 1) * sizeof *s.g->input);
                s.g->n_input--;
                break;
            }
        nnz_edit_remove_initializer(s.g, t->proto);
    }
    t->proto = NULL; /* freed with its graph entry, and the name with it */
    t->onnx_name = NULL;
    for (size_t k = 0; k < rw->nnodes; k++) {
        if (rc == 0)
            rc = nnz_edit_insert_node(s.g, s.node_at + k, rw->node[k], e);
        else
            protobuf_c_message_free_unpacked(&rw->node[k]->base, NULL);
    }
    rw->nnodes = 0;
    return rc;
}

/* A name for a new value: the weight's name plus `suffix`, unused in m. */
static char *suffixed(const nnz_model *m, const char *name, const char *suffix, nnz_error *e)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s%s", name, suffix);
    return nnz_edit_unique_name(m, buf, e);
}

/* Nodes are named after their first input: a new, unique value name. */
static Onnx__NodeProto *node2(const char *op, const char *a, const char *b, const char *out,
                              nnz_error *e)
{
    const char *i[2] = { a, b }, *o[1] = { out };
    return nnz_edit_node(op, a, i, 2, o, 1, e);
}

static Onnx__NodeProto *cast_to(const char *in, const char *out, int dtype, nnz_error *e)
{
    const char *i[1] = { in }, *o[1] = { out };
    Onnx__NodeProto *n = nnz_edit_node("Cast", in, i, 1, o, 1, e);
    if (n && nnz_edit_attr_int(n, "to", dtype, e) != 0) {
        protobuf_c_message_free_unpacked(&n->base, NULL);
        n = NULL;
    }
    return n;
}

/* ---- the forms ------------------------------------------------------------- */

/* The axis whose size and inner stride match the value map's channels. */
static int channel_axis(const nnz_tensor *t, uint64_t nchan, uint64_t inner)
{
    uint64_t in = 1;
    for (int a = t->ndims - 1; a >= 0; a--) {
        if ((uint64_t)t->dims[a] == nchan && in == inner)
            return a;
        in *= (uint64_t)t->dims[a];
    }
    return -1;
}

static uint32_t zp_of(const nnz_value_map *vm, uint64_t c)
{
    return le_u32(vm->zero_points + (size_t)c * vm->zero_point_stride);
}

static int same_bits(float a, float b)
{
    return memcmp(&a, &b, 4) == 0;
}

#define EXACT_NOTE "its weights do not come back bit for bit from codes in this form; kept as float"

/* Affine codes of at most 8 bits: INT8 (symmetric: every zero point is
 * 2^(width-1), stored as 0) or UINT8 codes, behind
 *   DequantizeLinear (per axis from opset 13, per tensor from 10), or
 *   Cast to float [-> Sub zero points] -> Mul scales, broadcast along the
 *   channel axis, where DequantizeLinear cannot say it (per channel below
 *   opset 13; anything below 10; a zero point past UINT8, as a blob may
 *   hold any u32). Both compute scale * (code - zp) in float32 from exact
 *   integers: the weights the runtime decodes, bit for bit, which is
 *   checked element by element (else the tensor stays float). */
static int to_affine(nnz_model *m, nnz_tensor *t, const nnz_value_map *vm, const float *w,
                     int64_t opset, const char **as, char *why, size_t whylen, nnz_error *e)
{
    int axis = -1;
    if (vm->nchan > 1 && (axis = channel_axis(t, vm->nchan, vm->inner)) < 0) {
        snprintf(why, whylen, "its channels do not match an axis; kept as float");
        return 1;
    }
    int dq = opset >= 13 || (axis < 0 && opset >= 10);
    if (!dq && opset < 6) {
        snprintf(why, whylen, "opset %lld has neither DequantizeLinear nor Cast-6; kept as float",
                 (long long)opset);
        return 1;
    }
    int sym = 1;
    uint32_t zp_max = 0;
    for (uint64_t c = 0; c < vm->nchan; c++) {
        sym &= zp_of(vm, c) == (1u << (vm->width - 1));
        if (zp_of(vm, c) > zp_max)
            zp_max = zp_of(vm, c);
    }
    if (!sym && zp_max > 255) {
        /* DequantizeLinear's zero point is UINT8 like the codes: Sub it in
         * float instead, exact while it is an integer float32 holds */
        if (zp_max >= (1u << 24) || opset < 6) {
            snprintf(why, whylen, "zero point %lu fits neither UINT8 nor an exact float32 "
                     "subtraction; kept as float", (unsigned long)zp_max);
            return 1;
        }
        dq = 0;
        snprintf(why, whylen, "zero point %lu does not fit DequantizeLinear's UINT8: codes "
                 "behind Cast, Sub and Mul", (unsigned long)zp_max);
    }
    size_t nch = (size_t)vm->nchan;
    uint8_t *q = nnz_malloc(t->count ? t->count : 1, e), *zp = nnz_malloc(nch, e);
    float *sc = nnz_malloc(nch * sizeof *sc, e), *zpf = nnz_malloc(nch * sizeof *zpf, e);
    if (!q || !zp || !sc || !zpf) {
        free(q);
        free(zp);
        free(sc);
        free(zpf);
        return -1;
    }
    int any_zp = 0;
    for (size_t c = 0; c < nch; c++) {
        sc[c] = le_f32(vm->scales + 4 * c);
        zp[c] = sym ? 0 : (uint8_t)zp_of(vm, c); /* when dq: it fits */
        zpf[c] = sym ? 0.0f : (float)zp_of(vm, c); /* exact: below 2^24 */
        any_zp |= zpf[c] != 0;
    }
    int exact = 1;
    for (size_t i = 0; i < t->count && exact; i++) {
        size_t c = nch > 1 ? (size_t)((i / vm->inner) % vm->nchan) : 0;
        /* the code back from w = scale * (code - zp), then what the form
         * computes from it, which must be w itself */
        float r = rintf(w[i] / sc[c]);
        long code = isfinite(r) && fabsf(r) < 1e9f ? (long)r + (long)zp_of(vm, c) : -1;
        int32_t stored = sym ? code - (1L << (vm->width - 1)) : code;
        exact = code >= 0 && code < (1L << vm->width);
        q[i] = sym ? (uint8_t)(int8_t)stored : (uint8_t)stored;
        float y = dq ? (float)(stored - (int32_t)zp[c]) * sc[c] : ((float)stored - zpf[c]) * sc[c];
        exact = exact && same_bits(y, w[i]);
    }
    if (!exact) {
        free(q);
        free(zp);
        free(sc);
        free(zpf);
        snprintf(why, whylen, EXACT_NOTE);
        return 1;
    }
    int qt = sym ? NNZ_DT_INT8 : NNZ_DT_UINT8;
    /* DequantizeLinear takes 1-D scales for an axis; Mul broadcasts [C, 1, ...] */
    int64_t sdims[NNZ_MAX_DIMS];
    int sndims = 0;
    if (axis >= 0) {
        sdims[sndims++] = (int64_t)nch;
        if (!dq)
            for (int d = axis + 1; d < t->ndims; d++)
                sdims[sndims++] = 1;
    }
    char *qn = suffixed(m, t->onnx_name, "_quantized", e);
    char *sn = suffixed(m, t->onnx_name, "_scale", e);
    char *zn = suffixed(m, t->onnx_name, "_zero_point", e);
    char *fn = suffixed(m, t->onnx_name, "_int", e);
    char *dn = suffixed(m, t->onnx_name, "_centered", e);
    int rc = -1;
    rewrite rw;
    memset(&rw, 0, sizeof rw);
    if (qn && sn && zn && fn && dn) {
        rw_init(&rw, nnz_edit_tensor(qn, qt, t->dims, t->ndims, q, t->count, e));
        rw_init(&rw, nnz_edit_tensor(sn, NNZ_DT_FLOAT, sdims, sndims, sc, nch * 4, e));
        if (dq) {
            rw_init(&rw, nnz_edit_tensor(zn, qt, sdims, sndims, zp, nch, e));
            const char *in[3] = { qn, sn, zn }, *out[1] = { t->onnx_name };
            Onnx__NodeProto *n = nnz_edit_node("DequantizeLinear", qn, in, 3, out, 1, e);
            if (n && axis >= 0 && nnz_edit_attr_int(n, "axis", axis, e) != 0) {
                protobuf_c_message_free_unpacked(&n->base, NULL);
                n = NULL;
            }
            rw_node(&rw, n);
            *as = "DequantizeLinear";
        } else {
            rw_node(&rw, cast_to(qn, fn, NNZ_DT_FLOAT, e));
            const char *centered = fn;
            if (any_zp) {
                rw_init(&rw, nnz_edit_tensor(zn, NNZ_DT_FLOAT, sdims, sndims, zpf, nch * 4, e));
                rw_node(&rw, node2("Sub", fn, zn, dn, e));
                centered = dn;
            }
            rw_node(&rw, node2("Mul", centered, sn, t->onnx_name, e));
            *as = "Cast+Mul";
            if (!why[0]) /* else the zero point's note says why */
                snprintf(why, whylen, "%s DequantizeLinear needs opset %d (the model has %lld): "
                         "%s codes behind Cast and Mul by the %s scale%s",
                         axis >= 0 ? "per-axis" : "", axis >= 0 ? 13 : 10, (long long)opset,
                         sym ? "int8" : "uint8", axis >= 0 ? "per-channel" : "tensor's",
                         axis >= 0 ? "s" : "");
        }
        rc = replace(m, t, &rw, e);
    }
    free(qn);
    free(sn);
    free(zn);
    free(fn);
    free(dn);
    free(q);
    free(zp);
    free(sc);
    free(zpf);
    return rc;
}

typedef struct cb_entry {
    uint32_t bits; /* the value's float bits, ordered as unsigned */
    uint32_t index;
} cb_entry;

static int by_bits(const void *a, const void *b)
{
    const cb_entry *x = a, *y = b;
    return x->bits < y->bits ? -1 : x->bits > y->bits ? 1 : (x->index > y->index) - (x->index < y->index);
}

/* A codebook: UINT8 (K <= 256) or UINT16 indices -> Cast to int32 ->
 * Gather from the K float centroids. */
static int to_gather(nnz_model *m, nnz_tensor *t, const nnz_value_map *vm, const float *w,
                     int64_t opset, const char **as, char *why, size_t whylen, nnz_error *e)
{
    if (opset < 6) {
        snprintf(why, whylen, "opset %lld has no Cast-6; kept as float", (long long)opset);
        return 1;
    }
    size_t k = (size_t)vm->ncodebook, es = k <= 256 ? 1 : 2;
    float *cb = nnz_malloc(k * sizeof *cb, e);
    cb_entry *sorted = nnz_malloc(k * sizeof *sorted, e);
    uint8_t *idx = nnz_malloc((t->count ? t->count : 1) * es, e);
    if (!cb || !sorted || !idx) {
        free(cb);
        free(sorted);
        free(idx);
        return -1;
    }
    for (size_t j = 0; j < k; j++) {
        cb[j] = le_f32(vm->codebook + 4 * j);
        memcpy(&sorted[j].bits, &cb[j], 4);
        sorted[j].index = (uint32_t)j;
    }
    qsort(sorted, k, sizeof *sorted, by_bits);
    for (size_t i = 0; i < t->count; i++) {
        uint32_t bits;
        memcpy(&bits, &w[i], 4);
        size_t lo = 0, hi = k; /* first entry with bits >= w's */
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (sorted[mid].bits < bits)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == k || sorted[lo].bits != bits) { /* not a centroid: no index says it */
            free(cb);
            free(sorted);
            free(idx);
            snprintf(why, whylen, EXACT_NOTE);
            return 1;
        }
        uint32_t j = sorted[lo].index;
        idx[i * es] = (uint8_t)j;
        if (es == 2)
            idx[i * es + 1] = (uint8_t)(j >> 8);
    }
    int64_t kdim = (int64_t)k;
    char *in_name = suffixed(m, t->onnx_name, "_indices", e);
    char *i32_name = suffixed(m, t->onnx_name, "_indices_int32", e);
    char *cb_name = suffixed(m, t->onnx_name, "_codebook", e);
    int rc = -1;
    rewrite rw;
    memset(&rw, 0, sizeof rw);
    if (in_name && i32_name && cb_name) {
        rw_init(&rw, nnz_edit_tensor(cb_name, NNZ_DT_FLOAT, &kdim, 1, cb, k * 4, e));
        rw_init(&rw, nnz_edit_tensor(in_name, es == 1 ? NNZ_DT_UINT8 : NNZ_DT_UINT16, t->dims,
                                     t->ndims, idx, t->count * es, e));
        /* Gather takes int32/int64 indices only */
        rw_node(&rw, cast_to(in_name, i32_name, NNZ_DT_INT32, e));
        rw_node(&rw, node2("Gather", cb_name, i32_name, t->onnx_name, e));
        *as = "Gather";
        rc = replace(m, t, &rw, e);
    }
    free(in_name);
    free(i32_name);
    free(cb_name);
    free(cb);
    free(sorted);
    free(idx);
    return rc;
}

/* FP16 / BF16 initializers behind Cast to float. */
static int to_cast(nnz_model *m, nnz_tensor *t, const nnz_value_map *vm, const float *w,
                   int64_t opset, const char **as, char *why, size_t whylen, nnz_error *e)
{
    int f16 = vm->kind == NNZ_VAL_F16;
    if (opset < (f16 ? 6 : 13)) {
        snprintf(why, whylen, "Cast from %s needs opset %d (the model has %lld); kept as float",
                 f16 ? "float16" : "bfloat16", f16 ? 6 : 13, (long long)opset);
        return 1;
    }
    uint16_t *h = nnz_malloc((t->count ? t->count : 1) * 2, e);
    if (!h)
        return -1;
    for (size_t i = 0; i < t->count; i++) {
        uint16_t x = f16 ? nnz_float_to_half(w[i]) : nnz_float_to_bf16(w[i]);
        if (!same_bits(f16 ? nnz_half_to_float(x) : nnz_bf16_to_float(x), w[i])) {
            free(h);
            snprintf(why, whylen, EXACT_NOTE);
            return 1;
        }
        memcpy(&h[i], (uint8_t[2]){ (uint8_t)x, (uint8_t)(x >> 8) }, 2); /* little-endian */
    }
    char *hn = suffixed(m, t->onnx_name, f16 ? "_fp16" : "_bf16", e);
    int rc = -1;
    rewrite rw;
    memset(&rw, 0, sizeof rw);
    if (hn) {
        rw_init(&rw, nnz_edit_tensor(hn, f16 ? NNZ_DT_FLOAT16 : NNZ_DT_BFLOAT16, t->dims,
                                     t->ndims, h, t->count * 2, e));
        rw_node(&rw, cast_to(hn, t->onnx_name, NNZ_DT_FLOAT, e));
        *as = "Cast";
        rc = replace(m, t, &rw, e);
    }
    free(hn);
    free(h);
    return rc;
}

int nnz_qdq_rewrite(nnz_model *m, const nnz_blob *b, cJSON *report, nnz_error *e)
{
    int64_t opset = nnz_model_opset(m);
    for (uint32_t i = 0; i < nnz_tensor_count(b); i++) {
        nnz_tensor_info info;
        nnz_value_map vm;
        if (nnz_tensor_info_get(b, i, &info) != NNZ_OK || nnz_value_map_get(b, i, &vm) != NNZ_OK)
            return nnz_fail(e, NNZ_EXIT_INPUT, "tensor %u: bad directory entry", i);
        if (vm.kind < 0 || vm.kind == NNZ_VAL_F32 || vm.kind == NNZ_VAL_INT)
            continue; /* stored as it was: nothing to keep */
        nnz_tensor *t = nnz_model_find(m, info.name);
        if (!t || !t->proto)
            continue;
        char why[300] = "";
        const char *as = NULL;
        int rc = 1;
        float *w = NULL;
        if (t->dtype != NNZ_DT_FLOAT) {
            snprintf(why, sizeof why, "the model's tensor is %s; %s", nnz_dtype_name(t->dtype),
                     vm.kind == NNZ_VAL_F16 && t->dtype == NNZ_DT_FLOAT16
                         ? "it stays float16, as the codes are"
                         : "the forms here give float32; kept as decoded");
        } else if (info.encoding == NNZ_ENC_HASHED) {
            snprintf(why, sizeof why, "hashed weights have no QDQ form; kept as float");
        } else if (vm.kind == NNZ_VAL_AFFINE && vm.width > 8) {
            snprintf(why, sizeof why, "%u-bit codes need INT16 DequantizeLinear (opset 21); "
                     "kept as float", vm.width);
        } else if (!(w = nnz_tensor_floats(m, t, e))) {
            return -1;
        } else if (vm.kind == NNZ_VAL_AFFINE) {
            rc = to_affine(m, t, &vm, w, opset, &as, why, sizeof why, e);
        } else if (vm.kind == NNZ_VAL_CODEBOOK) {
            rc = to_gather(m, t, &vm, w, opset, &as, why, sizeof why, e);
        } else {
            rc = to_cast(m, t, &vm, w, opset, &as, why, sizeof why, e);
        }
        free(w);
        if (rc < 0)
            return nnz_wrap(e, "tensor '%s': ", info.name);
        if (report) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "name", info.name);
            cJSON_AddStringToObject(x, "as", rc == 0 ? as : "float");
            if (why[0])
                cJSON_AddStringToObject(x, "note", why);
            cJSON_AddItemToArray(report, x);
        }
    }
    return 0;
}
