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

/* Where a weight lives, to put its replacement node in front of its users. */
typedef struct site {
    Onnx__GraphProto *g;
    size_t node_at; /* insert the new node here */
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

/* Replace weight t (its value name `out`) by `node` computing it from new
 * initializers `inits`. The original tensor (initializer or Constant) goes. */
static int replace(nnz_model *m, nnz_tensor *t, Onnx__NodeProto *node, Onnx__TensorProto **inits,
                   size_t ninits, nnz_error *e)
{
    site s;
    if (!find_site(m->proto->graph, t, &s)) {
        protobuf_c_message_free_unpacked(&node->base, NULL);
        for (size_t i = 0; i < ninits; i++)
            protobuf_c_message_free_unpacked(&inits[i]->base, NULL);
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "tensor '%s' not found in its graph", t->name);
    }
    int rc = 0;
    for (size_t i = 0; i < ninits; i++)
        if (rc == 0)
            rc = nnz_edit_add_initializer(s.g, inits[i], e);
        else
            protobuf_c_message_free_unpacked(&inits[i]->base, NULL);
    if (rc != 0) {
        protobuf_c_message_free_unpacked(&node->base, NULL);
        return -1;
    }
    if (s.constant) {
        for (size_t i = 0; i < s.g->n_node; i++)
            if (s.g->node[i] == s.constant) {
                nnz_edit_remove_node(s.g, i);
                s.node_at = i;
                break;
            }
    } else {
        nnz_edit_remove_initializer(s.g, t->proto);
        /* an old model may list the initializer as a graph input too */
        for (size_t i = 0; i < s.g->n_input; i++)
            if (s.g->input[i]->name && strcmp(s.g->input[i]->name, t->onnx_name) == 0) {
                protobuf_c_message_free_unpacked(&s.g->input[i]->base, NULL);
                memmove(s.g->input + i, s.g->input + i + 1,
                        (s.g->n_input - i - 1) * sizeof *s.g->input);
                s.g->n_input--;
                break;
            }
    }
    t->proto = NULL; /* freed with its graph entry */
    return nnz_edit_insert_node(s.g, s.node_at, node, e);
}

static char *suffixed(const nnz_model *m, const char *name, const char *suffix, nnz_error *e)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s%s", name, suffix);
    return nnz_edit_unique_name(m, buf, e);
}

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

static int to_dq(nnz_model *m, nnz_tensor *t, const nnz_value_map *vm, const float *w,
                 int64_t opset, const char **why, nnz_error *e)
{
    int axis = -1;
    if (vm->nchan > 1) {
        axis = channel_axis(t, vm->nchan, vm->inner);
        if (axis < 0) {
            *why = "its channels do not match an axis";
            return 1;
        }
        if (opset < 13) {
            *why = "per-channel DequantizeLinear needs opset 13 (the model has a lower one); "
                   "kept as float";
            return 1;
        }
    } else if (opset < 10) {
        *why = "DequantizeLinear needs opset 10; kept as float";
        return 1;
    }
    /* int8 around a zero point of 2^(width-1) everywhere; else uint8 */
    int sym = 1;
    for (uint64_t c = 0; c < vm->nchan; c++)
        sym &= le_u32(vm->zero_points + vm->zero_point_stride * c) == (1u << (vm->width - 1));
    uint8_t *q = nnz_malloc(t->count ? t->count : 1, e);
    uint8_t *zp = nnz_malloc((size_t)vm->nchan, e);
    float *sc = nnz_malloc((size_t)vm->nchan * sizeof *sc, e);
    if (!q || !zp || !sc) {
        free(q);
        free(zp);
        free(sc);
        return -1;
    }
    for (uint64_t c = 0; c < vm->nchan; c++) {
        sc[c] = le_f32(vm->scales + 4 * c);
        uint32_t z = le_u32(vm->zero_points + vm->zero_point_stride * c);
        zp[c] = sym ? 0 : (uint8_t)z;
    }
    for (size_t i = 0; i < t->count; i++) {
        size_t c = vm->nchan > 1 ? (size_t)((i / vm->inner) % vm->nchan) : 0;
        /* exact: w = scale * (code - zp) with |code - zp| < 2^8 */
        long code = lroundf(w[i] / sc[c]) + (long)le_u32(vm->zero_points + vm->zero_point_stride * c);
        q[i] = sym ? (uint8_t)(int8_t)(code - (1L << (vm->width - 1))) : (uint8_t)code;
    }
    int64_t cdim = (int64_t)vm->nchan;
    char *qn = suffixed(m, t->onnx_name, "_quantized", e);
    char *sn = suffixed(m, t->onnx_name, "_scale", e);
    char *zn = suffixed(m, t->onnx_name, "_zero_point", e);
    int rc = -1;
    if (qn && sn && zn) {
        int qt = sym ? NNZ_DT_INT8 : NNZ_DT_UINT8;
        Onnx__TensorProto *inits[3] = {
            nnz_edit_tensor(qn, qt, t->dims, t->ndims, q, t->count, e),
            nnz_edit_tensor(sn, NNZ_DT_FLOAT, &cdim, axis >= 0, sc, (size_t)vm->nchan * 4, e),
            nnz_edit_tensor(zn, qt, &cdim, axis >= 0, zp, (size_t)vm->nchan, e),
        };
        const char *in[3] = { qn, sn, zn }, *out[1] = { t->onnx_name };
        Onnx__NodeProto *node = inits[0] && inits[1] && inits[2]
                                    ? nnz_edit_node("DequantizeLinear", qn, in, 3, out, 1, e)
                                    : NULL;
        if (node && (axis < 0 || nnz_edit_attr_int(node, "axis", axis, e) == 0))
            rc = replace(m, t, node, inits, 3, e);
        else
            for (int k = 0; k < 3; k++)
                if (inits[k])
                    protobuf_c_message_free_unpacked(&inits[k]->base, NULL);
    }
    free(qn);
    free(sn);
    free(zn);
    free(q);
    free(zp);
    free(sc);
    return rc;
}

static int to_gather(nnz_model *m, nnz_tensor *t, const nnz_value_map *vm, const float *w,
                     const char **why, nnz_error *e)
{
    if (vm->ncodebook > 256) {
        *why = "more than 256 centroids do not fit uint8 indices; kept as float";
        return 1;
    }
    float cb[256];
    for (uint64_t k = 0; k < vm->ncodebook; k++)
        cb[k] = le_f32(vm->codebook + 4 * k);
    uint8_t *idx = nnz_malloc(t->count ? t->count : 1, e);
    if (!idx)
        return -1;
    for (size_t i = 0; i < t->count; i++) {
        uint64_t k = 0;
        while (k < vm->ncodebook && memcmp(&cb[k], &w[i], 4) != 0)
            k++;
        idx[i] = (uint8_t)(k < vm->ncodebook ? k : 0);
    }
    int64_t kdim = (int64_t)vm->ncodebook;
    char *in_name = suffixed(m, t->onnx_name, "_indices", e);
    char *cb_name = suffixed(m, t->onnx_name, "_codebook", e);
    int rc = -1;
    if (in_name && cb_name) {
        Onnx__TensorProto *inits[2] = {
            nnz_edit_tensor(cb_name, NNZ_DT_FLOAT, &kdim, 1, cb, (size_t)kdim * 4, e),
            nnz_edit_tensor(in_name, NNZ_DT_UINT8, t->dims, t->ndims, idx, t->count, e),
        };
        const char *in[2] = { cb_name, in_name }, *out[1] = { t->onnx_name };
        Onnx__NodeProto *node = inits[0] && inits[1]
                                    ? nnz_edit_node("Gather", in_name, in, 2, out, 1, e)
                                    : NULL;
        if (node)
            rc = replace(m, t, node, inits, 2, e);
        else
            for (int k = 0; k < 2; k++)
                if (inits[k])
                    protobuf_c_message_free_unpacked(&inits[k]->base, NULL);
    }
    free(in_name);
    free(cb_name);
    free(idx);
    return rc;
}

static int to_cast(nnz_model *m, nnz_tensor *t, const nnz_value_map *vm, const float *w,
                   nnz_error *e)
{
    uint16_t *h = nnz_malloc((t->count ? t->count : 1) * 2, e);
    if (!h)
        return -1;
    for (size_t i = 0; i < t->count; i++)
        h[i] = vm->kind == NNZ_VAL_F16 ? nnz_float_to_half(w[i]) : nnz_float_to_bf16(w[i]);
    char *hn = suffixed(m, t->onnx_name, vm->kind == NNZ_VAL_F16 ? "_fp16" : "_bf16", e);
    int rc = -1;
    if (hn) {
        Onnx__TensorProto *init[1] = { nnz_edit_tensor(
            hn, vm->kind == NNZ_VAL_F16 ? NNZ_DT_FLOAT16 : NNZ_DT_BFLOAT16, t->dims, t->ndims,
            h, t->count * 2, e) };
        const char *in[1] = { hn }, *out[1] = { t->onnx_name };
        Onnx__NodeProto *node = init[0] ? nnz_edit_node("Cast", hn, in, 1, out, 1, e) : NULL;
        if (node && nnz_edit_attr_int(node, "to", NNZ_DT_FLOAT, e) == 0)
            rc = replace(m, t, node, init, 1, e);
        else if (init[0])
            protobuf_c_message_free_unpacked(&init[0]->base, NULL);
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
        nnz_tensor *t = nnz_model_find(m, info.name);
        if (!t || !t->proto || t->dtype != NNZ_DT_FLOAT || vm.kind < 0)
            continue;
        const char *why = NULL, *as = NULL;
        float *w = nnz_tensor_floats(m, t, e);
        if (!w)
            return -1;
        int rc;
        if (info.encoding == NNZ_ENC_HASHED) {
            why = "hashed weights have no QDQ form; kept as float";
            rc = 1;
        } else if (vm.kind == NNZ_VAL_AFFINE && vm.width <= 8) {
            rc = to_dq(m, t, &vm, w, opset, &why, e);
            as = "DequantizeLinear";
        } else if (vm.kind == NNZ_VAL_AFFINE) {
            why = "more than 8 bits: INT16 DequantizeLinear needs opset 21; kept as float";
            rc = 1;
        } else if (vm.kind == NNZ_VAL_CODEBOOK) {
            rc = to_gather(m, t, &vm, w, &why, e);
            as = "Gather";
        } else if (vm.kind == NNZ_VAL_F16 || vm.kind == NNZ_VAL_BF16) {
            rc = to_cast(m, t, &vm, w, e);
            as = "Cast";
        } else {
            rc = 1; /* float values: nothing to keep */
        }
        free(w);
        if (rc < 0)
            return nnz_wrap(e, "tensor '%s': ", info.name);
        if (report) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "name", info.name);
            cJSON_AddStringToObject(x, "as", rc == 0 ? as : "float");
            if (why)
                cJSON_AddStringToObject(x, "note", why);
            cJSON_AddItemToArray(report, x);
        }
    }
    return 0;
}
