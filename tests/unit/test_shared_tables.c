/* test_shared_tables.c - Huffman tables shared between tensors (docs/FORMAT.md,
 * stream codings 5 and 6): the writer shares a table when that is smaller,
 * every tensor decodes exactly in any order, NNZ_OUT_KEEP uses the table
 * the call before built, and references to no table are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "encode.h"
#include "nnz.h"
#include "state.h"
#include "util_blob.h"

#define NT 4
static const int64_t dims[NT][2] = { { 64, 64 }, { 64, 64 }, { 12, 18 }, { 16, 16 } };

static float zero_value(void *ctx, int w, size_t j)
{
    (void)ctx;
    (void)w;
    (void)j;
    return 0;
}

/* Codes of a bell over 0..252 (a sum of four uniform draws), seeded per
 * tensor; tensor 3: 4-bit codes (another width: never in the others' group). */
static nnz_state *bell_state(int t)
{
    size_t n = (size_t)(dims[t][0] * dims[t][1]);
    uint64_t x = 0x9e3779b97f4a7c15u * (uint64_t)(t + 1);
    nnz_state *s = calloc(1, sizeof *s);
    s->n = n;
    s->kind = NNZ_VAL_AFFINE;
    s->bits = t == 3 ? 4 : 8;
    s->nchan = 1;
    s->inner = n;
    s->axis = -1;
    s->scale = malloc(sizeof *s->scale);
    s->zero_point = malloc(sizeof *s->zero_point);
    s->scale[0] = 0.01f * (float)(t + 1);
    s->zero_point[0] = t == 3 ? 8 : 128;
    s->codes = malloc(n * sizeof *s->codes);
    s->values = malloc(n * sizeof *s->values);
    for (size_t i = 0; i < n; i++) {
        uint32_t v = 0;
        for (int k = 0; k < 4; k++) {
            x = x * 6364136223846793005u + 1442695040888963407u;
            v += (uint32_t)(x >> 58); /* 0..63 */
        }
        s->codes[i] = t == 3 ? v / 16 : v;
    }
    nnz_state_reconstruct(s);
    s->entropy = 1;
    s->max_code_len = NNZ_HUFF_DEFAULT_MAX_LEN;
    return s;
}

typedef struct fixture {
    uint8_t *model;
    nnz_model *m;
    nnz_state *st[NT];
} fixture;

static int encode_cb(void *vctx, nnz_model *m, size_t i, nnz_encoded *out, nnz_error *e)
{
    fixture *f = vctx;
    return nnz_encode_tensor(&m->tensors[i], f->st[i], NULL, out, e);
}

static int force_cb(void *vctx, const nnz_model *m, size_t i)
{
    (void)vctx;
    (void)m;
    (void)i;
    return 1;
}

static void fixture_init(fixture *f)
{
    size_t len;
    f->model = tu_matmul_model(NT, dims, 0, zero_value, NULL, &len);
    f->m = tu_load(f->model, len);
    for (int t = 0; t < NT; t++)
        f->st[t] = bell_state(t);
}

static void fixture_free(fixture *f)
{
    for (int t = 0; t < NT; t++)
        nnz_state_free(f->st[t]);
    nnz_model_free(f->m);
    free(f->model);
}

static uint8_t *write_blob(fixture *f, int share, size_t *len)
{
    return tu_blob_with(f->m, (nnz_blob_writer){ .encode = encode_cb, .force_entry = force_cb,
                                                 .share_tables = share, .ctx = f },
                        len);
}

/* The directory index of weight "w<t>". */
static uint32_t index_of(const nnz_blob *b, int t)
{
    char name[8];
    uint32_t i;
    snprintf(name, sizeof name, "w%d", t);
    assert_int_equal(nnz_find(b, name, &i), NNZ_OK);
    return i;
}

/* Decode weight t as float32 with `flags` into the shared scratch and
 * check every element against its state. (Sizes from the state: asking
 * nnz_decode_sizes reads the owner's entry, which one test spoils.) */
static void decode_exactly(const nnz_blob *b, fixture *f, int t, int flags, uint8_t *scratch,
                           size_t scratch_size)
{
    uint32_t i = index_of(b, t);
    size_t osz = f->st[t]->n * sizeof(float);
    float *out = malloc(osz);
    assert_int_equal(nnz_decode(b, i, NNZ_OUT_F32 | flags, out, osz, scratch, scratch_size),
                     NNZ_OK);
    assert_memory_equal(out, f->st[t]->values, f->st[t]->n * sizeof(float));
    free(out);
}

static void close_histograms_share_one_table_and_every_tensor_decodes_exactly(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    size_t lo, ls;
    uint8_t *own = write_blob(&f, 0, &lo), *shared = write_blob(&f, 1, &ls);
    assert_true(ls < lo);
    nnz_blob b;
    assert_int_equal(nnz_open(&b, shared, ls, 0), NNZ_OK);
    unsigned ft[NT];
    for (int t = 0; t < NT; t++)
        assert_int_equal(nnz_tensor_features(&b, index_of(&b, t), &ft[t]), NNZ_OK);
    /* w0 holds the table (the first of the group), w1 and the small w2 use
     * it; the 4-bit w3 cannot (another width) */
    assert_int_equal(ft[0] & (NNZ_FEAT_HUFFMAN | NNZ_FEAT_SHARED), NNZ_FEAT_HUFFMAN);
    assert_int_equal(ft[1] & NNZ_FEAT_SHARED, NNZ_FEAT_SHARED);
    assert_int_equal(ft[2] & NNZ_FEAT_SHARED, NNZ_FEAT_SHARED);
    assert_int_equal(ft[3] & NNZ_FEAT_SHARED, 0);
    nnz_tensor_info info;
    assert_int_equal(nnz_tensor_info_get(&b, index_of(&b, 1), &info), NNZ_OK);
    assert_int_equal(info.encoding_version, NNZ_ENC_VERSION_SHARED);
    /* one scratch for all, in an order that leaves the group and comes
     * back: with and without NNZ_OUT_KEEP every tensor decodes exactly */
    static const int order[] = { 0, 1, 2, 3, 1, 2, 2, 0, 1, 3, 2 };
    size_t big = 1 << 16, osz, ssz;
    for (int t = 0; t < NT; t++) { /* what a tensor needs fits one scratch of `big` */
        assert_int_equal(nnz_decode_sizes(&b, index_of(&b, t), NNZ_OUT_F32, &osz, &ssz), NNZ_OK);
        assert_true(ssz <= big);
    }
    uint8_t *scratch = malloc(big);
    for (int keep = 0; keep < 2; keep++)
        for (size_t k = 0; k < sizeof order / sizeof order[0]; k++)
            decode_exactly(&b, &f, order[k], keep && k ? NNZ_OUT_KEEP : 0, scratch, big);
    /* int8 codes of a sharer: symbol minus zero point */
    uint32_t i1 = index_of(&b, 1);
    assert_int_equal(nnz_decode_sizes(&b, i1, NNZ_OUT_I8, &osz, &ssz), NNZ_OK);
    int8_t *q = malloc(osz);
    assert_int_equal(nnz_decode(&b, i1, NNZ_OUT_I8, q, osz, scratch, ssz), NNZ_OK);
    for (size_t j = 0; j < osz; j++)
        assert_int_equal(q[j], (int)f.st[1]->codes[j] - 128);
    /* a scratch one byte short of what the sharer needs is refused */
    float *out = malloc(f.st[1]->n * sizeof(float));
    assert_int_equal(nnz_decode_sizes(&b, i1, NNZ_OUT_F32, &osz, &ssz), NNZ_OK);
    assert_int_equal(nnz_decode(&b, i1, NNZ_OUT_F32, out, osz, scratch, ssz - 1),
                     NNZ_E_SCRATCH_SMALL);
    free(out);
    free(q);
    free(scratch);
    free(own);
    free(shared);
    fixture_free(&f);
}

/* With NNZ_OUT_KEEP a sharer after a sharer of the same table uses the
 * table (and the owner's stream) the call before left in scratch: the
 * owner's table in the blob is not read again. Seen by spoiling that
 * table in the blob after the first call: the kept one still decodes
 * exactly, a call without NNZ_OUT_KEEP reads the spoiled one. */
static void keep_uses_the_table_the_call_before_built(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    size_t len;
    uint8_t *blob = write_blob(&f, 1, &len);
    nnz_blob b;
    assert_int_equal(nnz_open(&b, blob, len, 0), NNZ_OK);
    size_t big = 1 << 16;
    uint8_t *scratch = malloc(big);
    decode_exactly(&b, &f, 1, 0, scratch, big); /* builds w0's table, tagged */
    nnz_tensor_info owner;
    assert_int_equal(nnz_tensor_info_get(&b, index_of(&b, 0), &owner), NNZ_OK);
    blob[owner.payload_offset + 1]++; /* the count of codes of length 1: 0 -> 1 */
    decode_exactly(&b, &f, 2, NNZ_OUT_KEEP, scratch, big);
    decode_exactly(&b, &f, 1, NNZ_OUT_KEEP, scratch, big);
    /* without it, the table is built again from the spoiled counts */
    size_t osz, ssz;
    uint32_t i2 = index_of(&b, 2);
    float *out = malloc(f.st[2]->n * sizeof(float));
    assert_int_equal(nnz_decode_sizes(&b, i2, NNZ_OUT_F32, &osz, &ssz), NNZ_E_CORRUPT);
    assert_int_equal(nnz_decode(&b, i2, NNZ_OUT_F32, out, f.st[2]->n * 4, scratch, big),
                     NNZ_E_CORRUPT);
    free(out);
    free(scratch);
    free(blob);
    fixture_free(&f);
}

/* Tensor 0 of a two-tensor model, dense version `version`, one 8-bit
 * stream of coding `coding` whose table is entry `owner`'s. */
static nnz_status open_with_reference(unsigned version, unsigned coding, uint32_t owner,
                                      nnz_status *decoded)
{
    static const int64_t d2[2][2] = { { 8, 8 }, { 8, 8 } };
    size_t mlen, blen;
    uint8_t *model = tu_matmul_model(2, d2, 0, zero_value, NULL, &mlen);
    nnz_model *m = tu_load(model, mlen);
    uint8_t params[16], payload[16];
    size_t n = 0;
    params[n++] = NNZ_VAL_AFFINE; /* block_log2 0 */
    params[n++] = 1;              /* nchan */
    params[n++] = 64;             /* inner */
    tu_put32(params + n, 0x3c23d70a); /* 0.01f */
    n += 4;
    params[n++] = 129; /* varint 129: zero point 128 */
    params[n++] = 1;
    params[n++] = (uint8_t)(coding | (8 - 1) << 3);
    params[n++] = (uint8_t)owner;
    memset(payload, 0x55, sizeof payload);
    nnz_encoded x = { .encoding = NNZ_ENC_DENSE, .version = (uint8_t)version, .params = params,
                      .params_len = n, .payload = payload, .payload_len = sizeof payload };
    uint8_t *blob = tu_blob_encoded(m, &x, &blen);
    nnz_blob b;
    nnz_status st = nnz_open(&b, blob, blen, 0);
    if (st == NNZ_OK) {
        float out[64];
        uint8_t scratch[16384];
        *decoded = nnz_decode(&b, 0, NNZ_OUT_F32, out, sizeof out, scratch, sizeof scratch);
    }
    free(blob);
    nnz_model_free(m);
    free(model);
    return st;
}

static void a_reference_to_no_table_is_corrupt(void **state)
{
    (void)state;
    nnz_status dec = NNZ_OK;
    /* itself (an owner shares no table: no cycle), a raw entry, past the
     * directory's end */
    assert_int_equal(open_with_reference(6, NNZ_CODING_SHARED, 0, &dec), NNZ_E_CORRUPT);
    assert_int_equal(open_with_reference(6, NNZ_CODING_SHARED_X4, 1, &dec), NNZ_E_CORRUPT);
    assert_int_equal(open_with_reference(6, NNZ_CODING_SHARED, 7, &dec), NNZ_E_CORRUPT);
    /* codings 5 and 6 came with version 6 */
    assert_int_equal(open_with_reference(5, NNZ_CODING_SHARED, 1, &dec), NNZ_E_CORRUPT);
    /* a later version opens; that tensor alone does not decode */
    assert_int_equal(open_with_reference(7, NNZ_CODING_SHARED, 1, &dec), NNZ_OK);
    assert_int_equal(dec, NNZ_E_ENCODING);
    /* a coding past 6 */
    assert_int_equal(open_with_reference(6, 7, 1, &dec), NNZ_E_CORRUPT);
}

/* The writer's choice is a function of its input: the same model and
 * states give the same bytes. */
static void sharing_is_deterministic(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    size_t la, lb;
    uint8_t *a = write_blob(&f, 1, &la), *b = write_blob(&f, 1, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    free(a);
    free(b);
    fixture_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(close_histograms_share_one_table_and_every_tensor_decodes_exactly),
        cmocka_unit_test(keep_uses_the_table_the_call_before_built),
        cmocka_unit_test(a_reference_to_no_table_is_corrupt),
        cmocka_unit_test(sharing_is_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
