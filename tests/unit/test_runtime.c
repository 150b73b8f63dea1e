/* test_runtime.c - the decoder runtime: checksums, half floats, opening and
 * decoding blobs, and refusing every malformed blob with the right status. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "nnz.h"
#include "save.h"
#include "util_blob.h"

/* ---- CRC and half floats ------------------------------------------------- */

static void crc32_matches_the_check_value_and_zlib(void **state)
{
    assert_int_equal(nnz_crc32(0, "123456789", 9), 0xCBF43926u);
    uint8_t buf[4099];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 7919u >> 3);
    uint32_t whole = nnz_crc32(0, buf, sizeof buf);
    assert_int_equal(whole, (uint32_t)crc32(0, buf, sizeof buf));
    assert_int_equal(nnz_crc32(nnz_crc32(0, buf, 1000), buf + 1000, sizeof buf - 1000), whole);
    assert_int_equal(nnz_crc32(0, buf, 0), 0);
}

static void every_half_value_round_trips_through_float(void **state)
{
    for (uint32_t h = 0; h < 65536; h++) {
        float f = nnz_half_to_float((uint16_t)h);
        uint16_t back = nnz_float_to_half(f);
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) {
            assert_true(isnan(f));
            assert_true((back & 0x7c00) == 0x7c00 && (back & 0x3ff));
        } else {
            assert_int_equal(back, h);
        }
    }
}

static void float_to_half_rounds_ties_to_even(void **state)
{
    /* Between consecutive positive finite halves a and a+1 the exact
     * midpoint goes to the even one; a hair either side goes to the nearer. */
    for (uint32_t h = 0; h < 0x7bff; h++) {
        float lo = nnz_half_to_float((uint16_t)h), hi = nnz_half_to_float((uint16_t)(h + 1));
        float mid = (lo + hi) / 2; /* exact: halves have 11 significant bits */
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        assert_int_equal(nnz_float_to_half(mid), even);
        assert_int_equal(nnz_float_to_half(nextafterf(mid, 0)), h);
        assert_int_equal(nnz_float_to_half(nextafterf(mid, INFINITY)), h + 1);
        assert_int_equal(nnz_float_to_half(-mid), even | 0x8000);
    }
    assert_int_equal(nnz_float_to_half(65504.0f), 0x7bff);
    assert_int_equal(nnz_float_to_half(65519.0f), 0x7bff);
    assert_int_equal(nnz_float_to_half(65520.0f), 0x7c00); /* the tie rounds up to inf */
    assert_int_equal(nnz_float_to_half(1e10f), 0x7c00);
    assert_int_equal(nnz_float_to_half(1e-10f), 0);
}

static void bfloat16_keeps_the_top_half_and_rounds_to_even(void **state)
{
    assert_int_equal(nnz_float_to_bf16(1.0f), 0x3f80);
    assert_true(nnz_bf16_to_float(0x3f80) == 1.0f);
    /* 1 + 2^-8 is the midpoint between 1 and 1 + 2^-7: goes to 1 (even) */
    assert_int_equal(nnz_float_to_bf16(1.0f + 1.0f / 256), 0x3f80);
    assert_int_equal(nnz_float_to_bf16(1.0f + 3.0f / 256), 0x3f82);
    assert_true(isnan(nnz_bf16_to_float(nnz_float_to_bf16(NAN))));
    for (uint32_t h = 0; h < 65536; h++) {
        float f = nnz_bf16_to_float((uint16_t)h);
        if (!isnan(f))
            assert_int_equal(nnz_float_to_bf16(f), h);
    }
}

static void every_status_has_a_message(void **state)
{
    const int all[] = { NNZ_OK, NNZ_E_TRUNCATED, NNZ_E_MAGIC, NNZ_E_VERSION, NNZ_E_CHECKSUM,
                        NNZ_E_CORRUPT, NNZ_E_ENCODING, NNZ_E_OVERFLOW, NNZ_E_UNSUPPORTED, NNZ_E_ARGUMENT,
                        NNZ_E_INDEX, NNZ_E_NOT_FOUND, NNZ_E_OUTPUT_SMALL,
                        NNZ_E_SCRATCH_SMALL, NNZ_E_OUT_TYPE, NNZ_E_WRITE };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        assert_string_not_equal(nnz_strerror(all[i]), "unknown status");
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(nnz_strerror(all[i]), nnz_strerror(all[j]));
    }
    assert_string_equal(nnz_strerror(12345), "unknown status");
}

/* ---- a good blob ------------------------------------------------------- */

typedef struct fixture {
    uint8_t *model;
    size_t model_len;
    nnz_model *m;
    uint8_t *blob;
    size_t blob_len;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->model = tu_model_bytes(3, 8, &f->model_len);
    f->m = tu_load(f->model, f->model_len);
    /* names in the directory entries (format 1.1's layout, which the
     * mutations below walk, and which this reader still opens) */
    f->blob = tu_blob_dirnames(f->m, &f->blob_len);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    nnz_model_free(f->m);
    free(f->model);
    free(f->blob);
    free(f);
    return 0;
}

static void a_lossless_blob_decodes_every_tensor_exactly(void **state)
{
    fixture *f = *state;
    nnz_blob b;
    assert_int_equal(nnz_open(&b, f->blob, f->blob_len, 0), NNZ_OK);
    assert_int_equal(nnz_tensor_count(&b), 3);
    for (uint32_t i = 0; i < 3; i++) {
        nnz_tensor_info info;
        assert_int_equal(nnz_tensor_info_get(&b, i, &info), NNZ_OK);
        char want[8];
        snprintf(want, sizeof want, "w%u", i);
        assert_string_equal(info.name, want);
        assert_int_equal(info.name_len, 2);
        assert_memory_equal(info.name_bytes, want, 2);
        assert_int_equal(info.dtype, 1);
        assert_int_equal(info.ndims, 2);
        assert_int_equal(info.count, 64);
        assert_int_equal(info.encoding, NNZ_ENC_RAW);
        assert_int_equal(info.payload_offset % 64, 0);
        uint32_t idx;
        assert_int_equal(nnz_find(&b, want, &idx), NNZ_OK);
        assert_int_equal(idx, i);

        size_t out_size, scratch;
        assert_int_equal(nnz_decode_sizes(&b, i, NNZ_OUT_F32, &out_size, &scratch), NNZ_OK);
        assert_int_equal(out_size, 256);
        float out[64];
        uint16_t half[64];
        assert_int_equal(nnz_decode(&b, i, NNZ_OUT_F32, out, sizeof out, NULL, 0), NNZ_OK);
        assert_int_equal(nnz_decode(&b, i, NNZ_OUT_F16, half, sizeof half, NULL, 0), NNZ_OK);
        const float *ref = (const float *)f->m->tensors[i].proto->raw_data.data;
        assert_memory_equal(out, ref, sizeof out);
        for (int k = 0; k < 64; k++)
            assert_int_equal(half[k], nnz_float_to_half(ref[k]));
    }
}

static int to_buffer(void *ctx, const void *data, size_t size)
{
    uint8_t **p = ctx;
    memcpy(*p, data, size);
    *p += size;
    return 0;
}

static void rebuilding_gives_the_bytes_the_tool_saves(void **state)
{
    fixture *f = *state;
    nnz_blob b;
    assert_int_equal(nnz_open(&b, f->blob, f->blob_len, 0), NNZ_OK);
    uint64_t size;
    size_t work;
    assert_int_equal(nnz_rebuild_sizes(&b, &size, &work), NNZ_OK);
    uint8_t *out = malloc((size_t)size), *p = out;
    assert_int_equal(nnz_rebuild(&b, to_buffer, &p, NULL, 0), NNZ_OK);
    assert_int_equal(p - out, size);

    char *saved;
    size_t saved_len;
    FILE *mf = open_memstream(&saved, &saved_len);
    nnz_error e = { 0 };
    assert_int_equal(nnz_model_write(f->m, mf, &e), 0);
    fclose(mf);
    assert_int_equal(saved_len, size);
    assert_memory_equal(saved, out, saved_len);
    free(saved);
    free(out);
}

/* Format 2.1: a compressed graph. The same model written with its graph
 * stored and compressed: the compressed blob is smaller, holds no graph
 * section, expands to the stored graph byte for byte, rebuilds the same
 * model, finds and decodes every tensor without expanding anything, and
 * says so when the work memory is short. */
static void a_compressed_graph_expands_to_the_stored_one(void **state)
{
    (void)state;
    size_t mlen, la, lb;
    tu_long_node_names = 1; /* what makes the graph worth compressing */
    uint8_t *mb = tu_model_bytes(40, 4, &mlen); /* 40 weights of 64 bytes, MatMul chain */
    tu_long_node_names = 0;
    nnz_model *m = tu_load(mb, mlen);
    /* format 2 (this file's other tests write format 1.2) */
    uint8_t *ba = tu_blob_with(m, (nnz_blob_writer){ .graph_raw = 1, .format_major = 2 }, &la);
    uint8_t *bb = tu_blob_with(m, (nnz_blob_writer){ .format_major = 2 }, &lb);
    nnz_blob a, b;
    assert_int_equal(nnz_open(&a, ba, la, 0), NNZ_OK);
    assert_int_equal(nnz_open(&b, bb, lb, 0), NNZ_OK);
    assert_non_null(a.graph);
    assert_null(a.graph_packed);
    assert_null(b.graph);
    assert_non_null(b.graph_packed);
    assert_true(lb < la);
    assert_true(b.graph_packed_size < a.graph_size / 2);
    assert_int_equal(b.graph_size, a.graph_size);
    assert_int_equal(b.minor, 1);

    /* the graph: zero-copy when stored, expanded into work when compressed */
    size_t wa, wb;
    const uint8_t *ga, *gb;
    assert_int_equal(nnz_graph_sizes(&a, &wa), NNZ_OK);
    assert_int_equal(wa, 0);
    assert_int_equal(nnz_graph_get(&a, NULL, 0, &ga), NNZ_OK);
    assert_ptr_equal(ga, a.graph);
    assert_int_equal(nnz_graph_sizes(&b, &wb), NNZ_OK);
    assert_true(wb >= b.graph_size);
    uint8_t *work = malloc(wb);
    assert_int_equal(nnz_graph_get(&b, work, wb - 1, &gb), NNZ_E_SCRATCH_SMALL);
    assert_null(gb);
    assert_int_equal(nnz_graph_get(&b, NULL, wb, &gb), NNZ_E_SCRATCH_SMALL);
    assert_int_equal(nnz_graph_get(&b, work, wb, &gb), NNZ_OK);
    assert_ptr_equal(gb, work);
    assert_memory_equal(gb, a.graph, a.graph_size);

    /* every tensor: the same name, shape and bytes either way */
    assert_int_equal(nnz_tensor_count(&b), nnz_tensor_count(&a));
    for (uint32_t i = 0; i < nnz_tensor_count(&a); i++) {
        nnz_tensor_info ia, ib;
        uint32_t k;
        assert_int_equal(nnz_tensor_info_get(&a, i, &ia), NNZ_OK);
        char *name = nnz_blob_name(&ia, NULL);
        assert_int_equal(nnz_find(&b, name, &k), NNZ_OK);
        assert_int_equal(nnz_tensor_info_get(&b, k, &ib), NNZ_OK);
        assert_int_equal(ib.graph_offset, ia.graph_offset);
        assert_int_equal(ib.decoded_size, ia.decoded_size);
        size_t out_size, scratch_size;
        assert_int_equal(nnz_decode_sizes(&b, k, NNZ_OUT_NATIVE, &out_size, &scratch_size), NNZ_OK);
        assert_int_equal(scratch_size, 0); /* no graph needed to decode */
        uint8_t *x = malloc(out_size + 1), *y = malloc(out_size + 1);
        assert_int_equal(nnz_decode(&a, i, NNZ_OUT_NATIVE, x, out_size, NULL, 0), NNZ_OK);
        assert_int_equal(nnz_decode(&b, k, NNZ_OUT_NATIVE, y, out_size, NULL, 0), NNZ_OK);
        assert_memory_equal(x, y, out_size);
        free(x);
        free(y);
        free(name);
    }

    /* the rebuilt models are the same bytes; work counts the graph */
    uint64_t sa, sb;
    size_t ka, kb;
    assert_int_equal(nnz_rebuild_sizes(&a, &sa, &ka), NNZ_OK);
    assert_int_equal(nnz_rebuild_sizes(&b, &sb, &kb), NNZ_OK);
    assert_int_equal(sa, sb);
    assert_true(kb >= b.graph_size + ka);
    uint8_t *oa = malloc((size_t)sa), *ob = malloc((size_t)sb), *pa = oa, *pb = ob;
    uint8_t *wk = malloc(kb); /* (the pattern repeats weights: aliases, which need work) */
    assert_int_equal(nnz_rebuild(&a, to_buffer, &pa, wk, ka), NNZ_OK);
    assert_int_equal(nnz_rebuild(&b, to_buffer, &pb, wk, kb - 1), NNZ_E_SCRATCH_SMALL);
    assert_int_equal(nnz_rebuild(&b, to_buffer, &pb, wk, kb), NNZ_OK);
    assert_int_equal(pb - ob, sb);
    assert_memory_equal(oa, ob, (size_t)sa);

    free(wk);
    free(oa);
    free(ob);
    free(work);
    free(ba);
    free(bb);
    nnz_model_free(m);
    free(mb);
}

/* Format 1.2: a name the graph holds (the TensorProto name field right
 * before the raw_data header of the tensor's bytes) is not stored again in
 * the directory; the names section gives its length. */
static void names_the_graph_holds_are_stored_once(void **state)
{
    fixture *f = *state;
    size_t n;
    uint8_t *blob = tu_blob(f->m, &n);
    nnz_blob b, old;
    assert_int_equal(nnz_open(&b, blob, n, 0), NNZ_OK);
    assert_int_equal(nnz_open(&old, f->blob, f->blob_len, 0), NNZ_OK);
    assert_non_null(b.names);
    assert_int_equal(b.names_size, 2 * 3);
    assert_null(old.names);
    /* each entry two bytes smaller ("wN"), graph and payload the same */
    assert_int_equal(b.dir_size + 3 * 2, old.dir_size);
    assert_int_equal(b.graph_size, old.graph_size);
    assert_memory_equal(b.graph, old.graph, b.graph_size);
    for (uint32_t i = 0; i < 3; i++) {
        nnz_tensor_info info;
        char want[8];
        uint32_t idx;
        snprintf(want, sizeof want, "w%u", i);
        assert_int_equal(nnz_tensor_info_get(&b, i, &info), NNZ_OK);
        assert_string_equal(info.name, ""); /* no NUL-terminated copy: use name_bytes */
        assert_int_equal(info.name_len, 2);
        assert_memory_equal(info.name_bytes, want, 2);
        assert_true((const uint8_t *)info.name_bytes > b.graph &&
                    (const uint8_t *)info.name_bytes < b.graph + b.graph_size);
        assert_int_equal(nnz_find(&b, want, &idx), NNZ_OK);
        assert_int_equal(idx, i);
    }
    uint32_t idx;
    assert_int_equal(nnz_find(&b, "w", &idx), NNZ_E_NOT_FOUND);
    assert_int_equal(nnz_find(&b, "w00", &idx), NNZ_E_NOT_FOUND);
    /* the rebuild is the same model */
    uint64_t size, size_old;
    size_t work;
    assert_int_equal(nnz_rebuild_sizes(&b, &size, &work), NNZ_OK);
    assert_int_equal(nnz_rebuild_sizes(&old, &size_old, &work), NNZ_OK);
    assert_int_equal(size, size_old);
    uint8_t *o1 = malloc((size_t)size), *o2 = malloc((size_t)size), *p1 = o1, *p2 = o2;
    assert_int_equal(nnz_rebuild(&b, to_buffer, &p1, NULL, 0), NNZ_OK);
    assert_int_equal(nnz_rebuild(&old, to_buffer, &p2, NULL, 0), NNZ_OK);
    assert_memory_equal(o1, o2, (size_t)size);
    free(o1);
    free(o2);

    uint64_t off, len;
    size_t t = tu_section(blob, 5, &off, &len);
    uint8_t *copy = malloc(n);
    /* a length that does not match the name field before the hole */
    static const uint16_t bad_len[] = { 1, 3, 0xffff };
    for (size_t k = 0; k < sizeof bad_len / sizeof bad_len[0]; k++) {
        memcpy(copy, blob, n);
        copy[off] = (uint8_t)bad_len[k];
        copy[off + 1] = (uint8_t)(bad_len[k] >> 8);
        tu_fix_crcs(copy, n);
        assert_int_equal(nnz_open(&b, copy, n, 0), NNZ_E_CORRUPT);
    }
    /* a section that is not a u16 per entry */
    memcpy(copy, blob, n);
    tu_put64(copy + t + 16, len - 1);
    tu_fix_crcs(copy, n);
    assert_int_equal(nnz_open(&b, copy, n, 0), NNZ_E_CORRUPT);
    /* a reader that knows no names section (1.1) skips it: the tensors
     * open and decode, nameless */
    memcpy(copy, blob, n);
    tu_put32(copy + t, 77);
    tu_fix_crcs(copy, n);
    assert_int_equal(nnz_open(&b, copy, n, 0), NNZ_OK);
    nnz_tensor_info info;
    assert_int_equal(nnz_tensor_info_get(&b, 1, &info), NNZ_OK);
    assert_int_equal(info.name_len, 0);
    assert_int_equal(nnz_find(&b, "w1", &idx), NNZ_E_NOT_FOUND);
    float out[64];
    assert_int_equal(nnz_decode(&b, 1, NNZ_OUT_F32, out, sizeof out, NULL, 0), NNZ_OK);
    free(copy);
    free(blob);
}

/* Tensors under 64 bytes stay in the graph section, yet have an entry
 * (encoding "graph", format 1.1): found, decoded in every output type,
 * and left where they are by the rebuild. */
static void small_tensors_left_in_the_graph_are_found_and_decoded(void **state)
{
    (void)state;
    size_t model_len, blob_len;
    uint8_t *model = tu_model_bytes(2, 3, &model_len); /* 3x3 floats: 36 bytes each */
    nnz_model *m = tu_load(model, model_len);
    uint8_t *blob = tu_blob(m, &blob_len);
    nnz_blob b;
    assert_int_equal(nnz_open(&b, blob, blob_len, 0), NNZ_OK);
    assert_int_equal(nnz_tensor_count(&b), 2);
    for (uint32_t i = 0; i < 2; i++) {
        char name[8];
        snprintf(name, sizeof name, "w%u", i);
        uint32_t idx;
        assert_int_equal(nnz_find(&b, name, &idx), NNZ_OK);
        nnz_tensor_info info;
        assert_int_equal(nnz_tensor_info_get(&b, idx, &info), NNZ_OK);
        assert_int_equal(info.encoding, NNZ_ENC_GRAPH);
        assert_int_equal(info.decoded_size, 36);
        /* its bytes are in the graph section, at graph_offset */
        assert_true(b.graph + info.graph_offset + 36 <= b.graph + b.graph_size);
        float out[9];
        uint16_t half[9];
        assert_int_equal(nnz_decode(&b, idx, NNZ_OUT_NATIVE, out, sizeof out, NULL, 0), NNZ_OK);
        assert_memory_equal(out, m->tensors[i].proto->raw_data.data, 36);
        assert_int_equal(nnz_decode(&b, idx, NNZ_OUT_F16, half, sizeof half, NULL, 0), NNZ_OK);
        for (int k = 0; k < 9; k++)
            assert_int_equal(half[k], nnz_float_to_half(out[k]));
    }
    /* the rebuild is the model as the tool saves it: nothing cut, nothing doubled */
    uint64_t size;
    size_t work;
    assert_int_equal(nnz_rebuild_sizes(&b, &size, &work), NNZ_OK);
    assert_int_equal(size, b.graph_size);
    uint8_t *out = malloc((size_t)size), *p = out;
    assert_int_equal(nnz_rebuild(&b, to_buffer, &p, NULL, 0), NNZ_OK);
    char *saved;
    size_t saved_len;
    FILE *mf = open_memstream(&saved, &saved_len);
    nnz_error e = { 0 };
    assert_int_equal(nnz_model_write(m, mf, &e), 0);
    fclose(mf);
    assert_int_equal(saved_len, size);
    assert_memory_equal(saved, out, saved_len);
    free(saved);
    free(out);
    free(blob);
    nnz_model_free(m);
    free(model);
}

static void caller_mistakes_get_their_own_status(void **state)
{
    fixture *f = *state;
    nnz_blob b;
    float out[64];
    uint32_t idx;
    assert_int_equal(nnz_open(NULL, f->blob, f->blob_len, 0), NNZ_E_ARGUMENT);
    assert_int_equal(nnz_open(&b, NULL, 10, 0), NNZ_E_ARGUMENT);
    assert_int_equal(nnz_open(&b, f->blob, f->blob_len, 0), NNZ_OK);
    assert_int_equal(nnz_decode(&b, 0, NNZ_OUT_F32, out, sizeof out - 1, NULL, 0),
                     NNZ_E_OUTPUT_SMALL);
    assert_int_equal(nnz_decode(&b, 3, NNZ_OUT_F32, out, sizeof out, NULL, 0), NNZ_E_INDEX);
    assert_int_equal(nnz_decode(&b, 0, 7, out, sizeof out, NULL, 0), NNZ_E_OUT_TYPE);
    assert_int_equal(nnz_decode(&b, 0, NNZ_OUT_F32, NULL, sizeof out, NULL, 0), NNZ_E_ARGUMENT);
    assert_int_equal(nnz_find(&b, "nope", &idx), NNZ_E_NOT_FOUND);
    nnz_tensor_info info;
    assert_int_equal(nnz_tensor_info_get(&b, 99, &info), NNZ_E_INDEX);
    assert_int_equal(nnz_rebuild(&b, NULL, NULL, NULL, 0), NNZ_E_ARGUMENT);
    /* a reader: not opened, no room for one element, then read to the end */
    nnz_reader r;
    size_t got = 99;
    memset(&r, 0, sizeof r);
    assert_int_equal(nnz_reader_read(&r, out, sizeof out, &got), NNZ_E_ARGUMENT);
    assert_int_equal(nnz_reader_open(NULL, &b, 0, NNZ_OUT_F32, NULL, 0), NNZ_E_ARGUMENT);
    assert_int_equal(nnz_reader_open(&r, &b, 3, NNZ_OUT_F32, NULL, 0), NNZ_E_INDEX);
    assert_int_equal(nnz_reader_read(&r, out, sizeof out, &got), NNZ_E_INDEX); /* sticky */
    assert_int_equal(nnz_reader_open(&r, &b, 0, NNZ_OUT_F32, NULL, 0), NNZ_OK);
    assert_int_equal(nnz_reader_read(&r, out, 3, &got), NNZ_E_OUTPUT_SMALL);
    assert_int_equal(nnz_reader_read(&r, NULL, 4, &got), NNZ_E_ARGUMENT);
    assert_int_equal(nnz_reader_read(&r, out, 4, NULL), NNZ_E_ARGUMENT);
    size_t total = 0;
    do
        assert_int_equal(nnz_reader_read(&r, out, 7 * 4, &got), NNZ_OK);
    while ((total += got, got));
    nnz_tensor_info i0;
    assert_int_equal(nnz_tensor_info_get(&b, 0, &i0), NNZ_OK);
    assert_int_equal(total, i0.count);
    assert_int_equal(nnz_reader_read(&r, out, 0, &got), NNZ_OK); /* at the end: 0, not an error */
    assert_int_equal(got, 0);
}

static int failing_writer(void *ctx, const void *data, size_t size)
{
    (void)ctx; (void)data; (void)size;
    return -1;
}

static void a_failing_write_callback_stops_the_rebuild(void **state)
{
    fixture *f = *state;
    nnz_blob b;
    assert_int_equal(nnz_open(&b, f->blob, f->blob_len, 0), NNZ_OK);
    assert_int_equal(nnz_rebuild(&b, failing_writer, NULL, NULL, 0), NNZ_E_WRITE);
}

static void every_truncation_is_refused(void **state)
{
    fixture *f = *state;
    nnz_blob b;
    for (size_t n = 0; n < f->blob_len; n++) {
        uint8_t *copy = malloc(n ? n : 1); /* exact size so ASan sees any overread */
        memcpy(copy, f->blob, n);
        nnz_status st = nnz_open(&b, copy, n, 0);
        assert_int_equal(st, NNZ_E_TRUNCATED);
        free(copy);
    }
}

/* ---- malformed blobs, one mutation each -------------------------------- */

typedef struct mutation {
    const char *why;
    /* change the blob in place (may shrink *len); return 1 to re-seal CRCs */
    int (*apply)(uint8_t *blob, size_t *len);
    nnz_status open_status;
    unsigned flags;
} mutation;

static int bad_magic(uint8_t *b, size_t *n) { (void)n; b[3] = 'X'; return 0; }
static int newer_major(uint8_t *b, size_t *n) { (void)n; b[8] = NNZ_FORMAT_MAJOR + 1; return 0; }
static int major_zero(uint8_t *b, size_t *n) { (void)n; b[8] = 0; b[9] = 0; return 1; }
static int header_bit_flip(uint8_t *b, size_t *n) { (void)n; b[20] ^= 1; return 0; }
static int reserved_set(uint8_t *b, size_t *n) { (void)n; b[45] = 1; return 1; }
static int flags_set(uint8_t *b, size_t *n) { (void)n; b[12] = 1; return 1; }
static int file_size_too_big(uint8_t *b, size_t *n) { tu_put64(b + 16, *n + 1); return 1; }
static int no_sections(uint8_t *b, size_t *n) { (void)n; tu_put32(b + 24, 0); return 1; }
static int too_many_sections(uint8_t *b, size_t *n) { (void)n; tu_put32(b + 24, 65); return 1; }
static int table_offset_moved(uint8_t *b, size_t *n) { (void)n; tu_put64(b + 32, 96); return 1; }
static int table_crc_wrong(uint8_t *b, size_t *n) { (void)n; b[64 + 4] ^= 0; b[28] ^= 0x10; tu_put32(b + 60, nnz_crc32(0, b, 60)); return 0; }

static void flip_in(uint8_t *b, uint32_t type)
{
    uint64_t off, len;
    tu_section(b, type, &off, &len);
    b[off + len / 2] ^= 0x40;
}
static int graph_bit_flip(uint8_t *b, size_t *n) { (void)n; flip_in(b, 2); return 0; }
static int payload_bit_flip(uint8_t *b, size_t *n) { (void)n; flip_in(b, 3); return 0; }
static int directory_bit_flip(uint8_t *b, size_t *n) { (void)n; flip_in(b, 1); return 0; }
static int metadata_bit_flip(uint8_t *b, size_t *n) { (void)n; flip_in(b, 4); return 0; }
static int section_crc_wrong(uint8_t *b, size_t *n) { (void)n; b[64 + 24] ^= 1; tu_put32(b + 28, nnz_crc32(0, b + 64, 32 * tu_get32(b + 24))); tu_put32(b + 60, nnz_crc32(0, b, 60)); return 0; }

static int sections_overlap(uint8_t *b, size_t *n)
{
    (void)n;
    uint64_t off, len;
    size_t t = tu_section(b, 1, &off, &len);
    tu_put64(b + t + 8, off - 8); /* the directory now starts inside the payload */
    return 1;
}
static int section_past_end(uint8_t *b, size_t *n)
{
    uint64_t off, len;
    size_t t = tu_section(b, 4, &off, &len);
    tu_put64(b + t + 16, *n - off + 1);
    return 1;
}
static int payload_misaligned(uint8_t *b, size_t *n)
{
    (void)n;
    uint64_t off, len;
    size_t t = tu_section(b, 3, &off, &len);
    tu_put64(b + t + 8, off + 1);
    tu_put64(b + t + 16, len - 1);
    return 1;
}
static int section_type_twice(uint8_t *b, size_t *n)
{
    (void)n;
    uint64_t off, len;
    size_t t = tu_section(b, 4, &off, &len);
    tu_put32(b + t, 2); /* metadata claims to be a second graph */
    return 1;
}
static int section_missing(uint8_t *b, size_t *n)
{
    (void)n;
    uint64_t off, len;
    size_t t = tu_section(b, 2, &off, &len);
    tu_put32(b + t, 99); /* the graph becomes an unknown (skipped) type */
    return 1;
}
static int unknown_section_type(uint8_t *b, size_t *n)
{
    (void)n;
    uint64_t off, len;
    size_t t = tu_section(b, 4, &off, &len);
    tu_put32(b + t, 77); /* metadata becomes a section of a later version */
    return 1;
}
static int section_flags_set(uint8_t *b, size_t *n) { (void)n; b[64 + 4] = 1; return 1; }

/* Directory mutations: rewrite the first entry's fields by walking it. */
static uint8_t *dir_of(uint8_t *b, uint64_t *len)
{
    uint64_t off;
    tu_section(b, 1, &off, len);
    return b + off;
}
static int dir_count_huge(uint8_t *b, size_t *n) { (void)n; uint64_t l; tu_put32(dir_of(b, &l), 0x40000000u); return 1; }
static int entry_offset_past_dir(uint8_t *b, size_t *n) { (void)n; uint64_t l; uint8_t *d = dir_of(b, &l); tu_put32(d + 4, (uint32_t)l + 1); return 1; }
/* first entry: varint name_len (1 byte: "w0"), name, NUL, dtype, ndims, dims... */
static uint8_t *entry0(uint8_t *b)
{
    uint64_t l;
    uint8_t *d = dir_of(b, &l);
    return d + tu_get32(d + 4);
}
static int name_not_terminated(uint8_t *b, size_t *n) { (void)n; entry0(b)[3] = 'x'; return 1; }
static int name_with_nul(uint8_t *b, size_t *n) { (void)n; entry0(b)[2] = 0; return 1; }
static int dtype_string(uint8_t *b, size_t *n) { (void)n; entry0(b)[4] = 8; return 1; }
static int dtype_unknown(uint8_t *b, size_t *n) { (void)n; entry0(b)[4] = 200; return 1; }
static int too_many_dims(uint8_t *b, size_t *n) { (void)n; entry0(b)[5] = 33; return 1; }
static int location_invalid(uint8_t *b, size_t *n) { (void)n; entry0(b)[8] = 2; return 1; }
/* entry: [0]=2 'w''0' 0 | [4] dtype [5] ndims=2 [6] 8 [7] 8 [8] loc [9..] varints */
static int raw_length_wrong(uint8_t *b, size_t *n) { (void)n; entry0(b)[6] = 9; return 1; }
static int graph_offsets_not_increasing(uint8_t *b, size_t *n)
{
    (void)n;
    uint64_t l;
    uint8_t *d = dir_of(b, &l);
    uint8_t *e1 = d + tu_get32(d + 8);
    e1[9] = entry0(b)[9]; /* second hole at the first one's offset (same varint width) */
    e1[10] = entry0(b)[10];
    return 1;
}
static int hole_moved(uint8_t *b, size_t *n)
{
    (void)n;
    entry0(b)[9]++; /* graph_offset one byte later: no raw_data header before it */
    return 1;
}
static int encoding_unknown(uint8_t *b, size_t *n)
{
    (void)n;
    uint8_t *e = entry0(b);
    size_t i = 9; /* skip graph_offset, payload_offset, payload_length varints */
    for (int k = 0; k < 3; k++)
        while (e[i++] & 0x80)
            ;
    e[i] = 250;
    return 1;
}
static int graph_encoding_with_a_payload(uint8_t *b, size_t *n)
{
    (void)n;
    uint8_t *e = entry0(b);
    size_t i = 9;
    for (int k = 0; k < 3; k++)
        while (e[i++] & 0x80)
            ;
    e[i] = NNZ_ENC_GRAPH; /* a payload of its own: in-graph entries have none */
    return 1;
}
static int raw_version_wrong(uint8_t *b, size_t *n)
{
    (void)n;
    uint8_t *e = entry0(b);
    size_t i = 9;
    for (int k = 0; k < 3; k++)
        while (e[i++] & 0x80)
            ;
    e[i + 1] = 9;
    return 1;
}

static const mutation mutations[] = {
    { "magic is not NNZB", bad_magic, NNZ_E_MAGIC, 0 },
    { "major version newer than the runtime", newer_major, NNZ_E_VERSION, 0 },
    { "major version 0", major_zero, NNZ_E_CORRUPT, 0 },
    { "a header bit flipped", header_bit_flip, NNZ_E_CHECKSUM, 0 },
    { "a reserved header byte set", reserved_set, NNZ_E_CORRUPT, 0 },
    { "an undefined header flag set", flags_set, NNZ_E_CORRUPT, 0 },
    { "file_size larger than the bytes given", file_size_too_big, NNZ_E_TRUNCATED, 0 },
    { "no sections", no_sections, NNZ_E_CORRUPT, 0 },
    { "65 sections", too_many_sections, NNZ_E_CORRUPT, 0 },
    { "section table not at 64", table_offset_moved, NNZ_E_CORRUPT, 0 },
    { "table CRC wrong", table_crc_wrong, NNZ_E_CHECKSUM, 0 },
    { "graph bit flipped", graph_bit_flip, NNZ_E_CHECKSUM, 0 },
    { "payload bit flipped", payload_bit_flip, NNZ_E_CHECKSUM, 0 },
    { "payload bit flipped, payload CRC skipped on request", payload_bit_flip, NNZ_OK,
      NNZ_OPEN_SKIP_PAYLOAD_CRC },
    { "directory bit flipped", directory_bit_flip, NNZ_E_CHECKSUM, 0 },
    { "metadata bit flipped", metadata_bit_flip, NNZ_E_CHECKSUM, 0 },
    { "a section's CRC wrong", section_crc_wrong, NNZ_E_CHECKSUM, 0 },
    { "sections overlap", sections_overlap, NNZ_E_CORRUPT, 0 },
    { "a section runs past the end", section_past_end, NNZ_E_TRUNCATED, 0 },
    { "payload section not 64-byte aligned", payload_misaligned, NNZ_E_CORRUPT, 0 },
    { "a section type appears twice", section_type_twice, NNZ_E_CORRUPT, 0 },
    { "the graph section is missing", section_missing, NNZ_E_CORRUPT, 0 },
    { "an unknown section type is skipped", unknown_section_type, NNZ_OK, 0 },
    { "a section's flags set", section_flags_set, NNZ_E_CORRUPT, 0 },
    { "directory count larger than the directory", dir_count_huge, NNZ_E_CORRUPT, 0 },
    { "entry offset past the directory", entry_offset_past_dir, NNZ_E_CORRUPT, 0 },
    { "name not followed by NUL", name_not_terminated, NNZ_E_CORRUPT, 0 },
    { "name containing NUL", name_with_nul, NNZ_E_CORRUPT, 0 },
    { "dtype string", dtype_string, NNZ_E_CORRUPT, 0 },
    { "dtype unknown", dtype_unknown, NNZ_E_CORRUPT, 0 },
    { "33 dims", too_many_dims, NNZ_E_CORRUPT, 0 },
    { "location 2", location_invalid, NNZ_E_CORRUPT, 0 },
    { "raw payload length differs from the decoded size", raw_length_wrong, NNZ_E_CORRUPT, 0 },
    { "graph offsets not increasing", graph_offsets_not_increasing, NNZ_E_CORRUPT, 0 },
    { "a hole not right after a raw_data header", hole_moved, NNZ_E_CORRUPT, 0 },
    { "raw encoding version unknown", raw_version_wrong, NNZ_E_CORRUPT, 0 },
    { "unknown encoding still opens", encoding_unknown, NNZ_OK, 0 },
    { "an in-graph entry with payload bytes", graph_encoding_with_a_payload, NNZ_E_CORRUPT, 0 },
};

static void every_malformed_blob_gets_its_status(void **state)
{
    fixture *f = *state;
    for (size_t i = 0; i < sizeof mutations / sizeof mutations[0]; i++) {
        const mutation *mu = &mutations[i];
        size_t n = f->blob_len;
        uint8_t *copy = malloc(n);
        memcpy(copy, f->blob, n);
        if (mu->apply(copy, &n))
            tu_fix_crcs(copy, n);
        nnz_blob b;
        nnz_status st = nnz_open(&b, copy, n, mu->flags);
        if (st != mu->open_status)
            fail_msg("%s: nnz_open returned %d (%s), expected %d (%s)", mu->why, st,
                     nnz_strerror(st), mu->open_status, nnz_strerror(mu->open_status));
        free(copy);
    }
}

static void a_tensor_with_an_unknown_encoding_fails_alone(void **state)
{
    fixture *f = *state;
    size_t n = f->blob_len;
    uint8_t *copy = malloc(n);
    memcpy(copy, f->blob, n);
    encoding_unknown(copy, &n);
    tu_fix_crcs(copy, n);
    nnz_blob b;
    float out[64];
    assert_int_equal(nnz_open(&b, copy, n, 0), NNZ_OK);
    assert_int_equal(nnz_decode(&b, 0, NNZ_OUT_F32, out, sizeof out, NULL, 0), NNZ_E_ENCODING);
    assert_int_equal(nnz_decode(&b, 1, NNZ_OUT_F32, out, sizeof out, NULL, 0), NNZ_OK);
    uint64_t size;
    size_t work;
    assert_int_equal(nnz_rebuild_sizes(&b, &size, &work), NNZ_E_ENCODING);
    free(copy);
}

/* ---- repeated tensors: alias entries -------------------------------------- */

/* Weights w0 [8,4], then five [4,4]: w1, w3 and w5 hold one set of values,
 * w2 and w4 others. */
static float repeats(void *ctx, int w, size_t j)
{
    (void)ctx;
    int set = w == 0 ? 7 : w == 2 ? 5 : w == 4 ? 11 : 3;
    return (float)(((int)j * 29 + set * 13) % 31 - 15) / 16.0f;
}

static uint8_t *repeat_model(size_t *len)
{
    static const int64_t dims[6][2] = { { 8, 4 }, { 4, 4 }, { 4, 4 },
                                        { 4, 4 }, { 4, 4 }, { 4, 4 } };
    return tu_matmul_model(6, dims, 0, repeats, NULL, len);
}

/* Directory entry `index` of a blob: where its dims and its params start. */
static uint8_t *entry_dims(uint8_t *blob, uint32_t index)
{
    uint64_t off, len;
    tu_section(blob, 1, &off, &len);
    uint8_t *dir = blob + off, *p = dir + tu_get32(dir + 4 + 4 * (size_t)index);
    p += *p + 2; /* a one-byte name length, the name, its NUL */
    return p + 2; /* dtype, ndims */
}

static uint8_t *entry_params(uint8_t *blob, uint32_t index)
{
    uint8_t *p = entry_dims(blob, index);
    for (int k = 0; k < 2; k++) /* two dims, one location byte, three varints */
        while (*p++ & 0x80)
            ;
    p++;
    for (int k = 0; k < 3; k++)
        while (*p++ & 0x80)
            ;
    return p + 3; /* encoding, version, params_len */
}

static void repeated_tensors_are_stored_once_and_decode_alike(void **state)
{
    size_t model_len, blob_len;
    uint8_t *model = repeat_model(&model_len);
    nnz_model *m = tu_load(model, model_len);
    uint8_t *blob = tu_blob(m, &blob_len);
    nnz_blob b;
    assert_int_equal(nnz_open(&b, blob, blob_len, 0), NNZ_OK);
    assert_int_equal(b.major, 1);
    assert_int_equal(b.minor, 2);
    assert_int_equal(nnz_tensor_count(&b), 6);
    static const int want_enc[6] = { NNZ_ENC_RAW, NNZ_ENC_RAW, NNZ_ENC_RAW,
                                     NNZ_ENC_ALIAS, NNZ_ENC_RAW, NNZ_ENC_ALIAS };
    for (uint32_t i = 0; i < 6; i++) {
        nnz_tensor_info info;
        unsigned feat;
        float out[32];
        assert_int_equal(nnz_tensor_info_get(&b, i, &info), NNZ_OK);
        assert_int_equal(info.encoding, want_enc[i]);
        assert_int_equal(nnz_tensor_features(&b, i, &feat), NNZ_OK);
        assert_int_equal(feat, want_enc[i] == NNZ_ENC_ALIAS ? NNZ_FEAT_ALIAS : 0);
        if (info.encoding == NNZ_ENC_ALIAS) { /* stored once: no payload, w1's values */
            assert_int_equal(info.alias_of, 1);
            assert_int_equal(info.payload_size, 0);
            assert_int_equal(info.nblocks, 1);
        }
        /* every tensor decodes to its own source bytes, the aliases too */
        assert_int_equal(nnz_decode(&b, i, NNZ_OUT_NATIVE, out, sizeof out, NULL, 0), NNZ_OK);
        assert_memory_equal(out, m->tensors[i].proto->raw_data.data, info.decoded_size);
        nnz_reader r;
        size_t got;
        float piece[3];
        for (size_t at = 0; at < info.count; at += got) {
            if (at == 0)
                assert_int_equal(nnz_reader_open(&r, &b, i, NNZ_OUT_F32, NULL, 0), NNZ_OK);
            assert_int_equal(nnz_reader_read(&r, piece, sizeof piece, &got), NNZ_OK);
            assert_memory_equal(piece, out + at, got * 4);
        }
    }
    /* the payload holds four tensors' bytes, not six */
    assert_true(b.payload_size < 4 * 64 + 128);
    /* the rebuild is the model as the tool saves it */
    uint64_t size;
    size_t work;
    assert_int_equal(nnz_rebuild_sizes(&b, &size, &work), NNZ_OK);
    uint8_t *rebuilt = malloc((size_t)size), *p = rebuilt;
    void *wk = malloc(work ? work : 1);
    assert_int_equal(nnz_rebuild(&b, to_buffer, &p, wk, work), NNZ_OK);
    char *saved;
    size_t saved_len;
    FILE *mf = open_memstream(&saved, &saved_len);
    nnz_error e = { 0 };
    assert_int_equal(nnz_model_write(m, mf, &e), 0);
    fclose(mf);
    assert_int_equal(saved_len, size);
    assert_memory_equal(saved, rebuilt, saved_len);
    free(saved);
    free(wk);
    free(rebuilt);
    free(blob);
    nnz_model_free(m);
    free(model);
}

static void a_bad_alias_is_refused(void **state)
{
    size_t model_len, blob_len;
    uint8_t *model = repeat_model(&model_len);
    nnz_model *m = tu_load(model, model_len);
    uint8_t *blob = tu_blob(m, &blob_len), *copy = malloc(blob_len);
    nnz_blob b;
    float out[16];
    /* entries 3 and 5 name entry 1 in one byte */
    assert_int_equal(*entry_params(blob, 3), 1);
    assert_int_equal(*entry_params(blob, 5), 1);
    static const struct { uint32_t entry; uint8_t target; nnz_status want; } cases[] = {
        { 3, 3, NNZ_E_CORRUPT },    /* itself */
        { 3, 4, NNZ_E_CORRUPT },    /* a later entry, though one of its shape */
        { 3, 6, NNZ_E_CORRUPT },    /* past the directory */
        { 5, 3, NNZ_E_CORRUPT },    /* an alias: no chains */
        { 3, 0, NNZ_E_CORRUPT },    /* another shape */
        { 3, 0x80, NNZ_E_CORRUPT }, /* a varint cut short (its params are one byte) */
        { 3, 2, NNZ_OK },           /* a valid alias of other values: decodes them */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        memcpy(copy, blob, blob_len);
        *entry_params(copy, cases[k].entry) = cases[k].target;
        tu_fix_crcs(copy, blob_len);
        assert_int_equal(nnz_open(&b, copy, blob_len, 0), cases[k].want);
        if (cases[k].want == NNZ_OK) {
            assert_int_equal(nnz_decode(&b, 3, NNZ_OUT_F32, out, sizeof out, NULL, 0), NNZ_OK);
            assert_memory_equal(out, m->tensors[2].proto->raw_data.data, sizeof out);
        } else {
            assert_int_equal(b.fail_at, NNZ_AT_TENSOR);
            assert_int_equal(b.fail_index, cases[k].entry);
        }
    }
    /* another shape of as many elements: [4,4] as [2,8] */
    memcpy(copy, blob, blob_len);
    uint8_t *d = entry_dims(copy, 3);
    d[0] = 2;
    d[1] = 8;
    tu_fix_crcs(copy, blob_len);
    assert_int_equal(nnz_open(&b, copy, blob_len, 0), NNZ_E_CORRUPT);
    /* an alias version this runtime does not know opens, and fails alone */
    memcpy(copy, blob, blob_len);
    entry_params(copy, 3)[-2] = 2;
    tu_fix_crcs(copy, blob_len);
    assert_int_equal(nnz_open(&b, copy, blob_len, 0), NNZ_OK);
    assert_int_equal(nnz_decode(&b, 3, NNZ_OUT_F32, out, sizeof out, NULL, 0), NNZ_E_ENCODING);
    assert_int_equal(nnz_decode(&b, 5, NNZ_OUT_F32, out, sizeof out, NULL, 0), NNZ_OK);
    free(copy);
    free(blob);
    nnz_model_free(m);
    free(model);
}

/* ---- int4 output ---------------------------------------------------------- */

/* Tensor w0 of a one-weight model, rows x cols, quantized to `bits` codes
 * (code(k) of element k) with zero point zp per row; entropy: Huffman where it
 * pays; block_log2 as given. Returns the blob. */
static uint8_t *coded_blob(int64_t rows, int64_t cols, int bits, uint32_t zp, int entropy,
                           int block_log2, uint32_t (*code)(size_t k), size_t *len,
                           uint32_t **codes_out)
{
    const int64_t dims[1][2] = { { rows, cols } };
    size_t model_len;
    uint8_t *model = tu_matmul_model(1, dims, 0, repeats, NULL, &model_len);
    nnz_model *m = tu_load(model, model_len);
    nnz_error e = { 0 };
    nnz_state *st = nnz_state_new(m, &m->tensors[0], &e);
    size_t n = (size_t)(rows * cols);
    st->kind = NNZ_VAL_AFFINE;
    st->bits = bits;
    st->nchan = (size_t)rows;
    st->inner = (size_t)cols;
    st->axis = 0;
    st->codes = malloc(n * sizeof *st->codes);
    st->scale = malloc((size_t)rows * sizeof *st->scale);
    st->zero_point = malloc((size_t)rows * sizeof *st->zero_point);
    for (size_t c = 0; c < (size_t)rows; c++) {
        st->scale[c] = 0.01f * (float)(c + 1);
        st->zero_point[c] = zp;
    }
    for (size_t k = 0; k < n; k++)
        st->codes[k] = code(k);
    st->entropy = entropy;
    st->block_log2 = block_log2;
    nnz_state_reconstruct(st);
    *codes_out = malloc(n * sizeof **codes_out);
    memcpy(*codes_out, st->codes, n * sizeof **codes_out);
    nnz_state *states[1] = { st };
    uint8_t *blob = tu_blob_states(m, states, NULL, len);
    nnz_state_free(st);
    nnz_model_free(m);
    free(model);
    return blob;
}

static uint32_t spread4(size_t k) { return (uint32_t)((k * 7 + k / 5) % 16); }
static uint32_t peaked4(size_t k) { return k % 3 ? 8 : (uint32_t)(1 + (k * 5) % 15); }
static uint32_t mostly_zero4(size_t k) { return k % 11 == 3 ? (uint32_t)(k % 16) : 8; }
static uint32_t spread3(size_t k) { return (uint32_t)((k * 3 + 1) % 8); }

static void four_bit_codes_decode_to_packed_int4(void **state)
{
    /* element 2i in the low nibble of byte i, 2i+1 in the high one, as
     * CMSIS-NN's s4 kernels read them; odd counts, Huffman lanes, blocks
     * and sparse layouts; pieces of any size */
    static const struct {
        int64_t rows, cols;
        int bits;
        uint32_t zp;
        int entropy, block_log2;
        uint32_t (*code)(size_t);
    } cases[] = {
        { 5, 5, 4, 8, 0, 0, spread4 },        /* packed, 25 elements */
        { 16, 32, 4, 8, 1, 0, peaked4 },      /* Huffman */
        { 16, 33, 4, 8, 1, 6, peaked4 },      /* Huffman, blocks of 64, odd count */
        { 32, 33, 4, 8, 0, 7, mostly_zero4 }, /* sparse (zero is code 8) */
        { 7, 9, 3, 4, 0, 0, spread3 },        /* 3-bit symmetric: fits int4 too */
        { 7, 9, 3, 1, 0, 0, spread3 },        /* 3-bit, zero point 1: -1..6 fits */
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        size_t len, n = (size_t)(cases[t].rows * cases[t].cols), bytes = (n + 1) / 2;
        uint32_t *codes;
        uint8_t *blob = coded_blob(cases[t].rows, cases[t].cols, cases[t].bits, cases[t].zp,
                                   cases[t].entropy, cases[t].block_log2, cases[t].code, &len,
                                   &codes);
        nnz_blob b;
        nnz_tensor_info info;
        assert_int_equal(nnz_open(&b, blob, len, 0), NNZ_OK);
        assert_int_equal(nnz_tensor_info_get(&b, 0, &info), NNZ_OK);
        if (t == 3)
            assert_int_equal(info.encoding, NNZ_ENC_SPARSE);
        size_t osz, ssz;
        assert_int_equal(nnz_decode_sizes(&b, 0, NNZ_OUT_I4, &osz, &ssz), NNZ_OK);
        assert_int_equal(osz, bytes);
        uint8_t *want = calloc(bytes, 1), *out = malloc(bytes + 1), *piece = malloc(bytes);
        for (size_t k = 0; k < n; k++) {
            int q = (int)codes[k] - (int)cases[t].zp;
            want[k / 2] |= (uint8_t)((q & 15) << (k % 2 ? 4 : 0));
        }
        void *scratch = malloc(ssz ? ssz : 1);
        memset(out, 0xa5, bytes + 1);
        assert_int_equal(nnz_decode(&b, 0, NNZ_OUT_I4, out, bytes - 1, scratch, ssz),
                         NNZ_E_OUTPUT_SMALL);
        assert_int_equal(nnz_decode(&b, 0, NNZ_OUT_I4, out, bytes, scratch, ssz), NNZ_OK);
        assert_memory_equal(out, want, bytes);
        assert_int_equal(out[bytes], 0xa5); /* not a byte past it */
        /* block by block, at byte offset block * block_elems / 2 */
        for (uint64_t k = 0; k < info.nblocks; k++) {
            size_t at = (size_t)(k * info.block_elems) / 2;
            assert_int_equal(nnz_decode_block(&b, 0, k, NNZ_OUT_I4, piece, bytes, scratch, ssz),
                             NNZ_OK);
            size_t nb = ((size_t)info.block_elems + 1) / 2;
            assert_memory_equal(piece, want + at, nb < bytes - at ? nb : bytes - at);
        }
        /* in pieces of 3 bytes: 6 elements at a time */
        nnz_reader r;
        size_t got, at = 0;
        assert_int_equal(nnz_reader_open(&r, &b, 0, NNZ_OUT_I4, scratch, ssz), NNZ_OK);
        while (nnz_reader_read(&r, piece, 3, &got) == NNZ_OK && got) {
            assert_true(at + got <= n);
            assert_memory_equal(piece, want + at / 2, (got + 1) / 2);
            at += got;
        }
        assert_int_equal(at, n);
        free(scratch);
        free(want);
        free(out);
        free(piece);
        free(codes);
        free(blob);
    }
}

static void only_codes_that_fit_int4_decode_to_it(void **state)
{
    static const struct {
        int bits;
        uint32_t zp;
        uint32_t (*code)(size_t);
    } cases[] = {
        { 4, 3, spread4 },  /* asymmetric 4-bit: -3..12 does not fit */
        { 4, 9, spread4 },  /* -9..6 does not fit */
        { 5, 16, spread4 }, /* 5-bit symmetric: -16..15 */
        { 3, 9, spread3 },  /* 3-bit, zero point 9: -9..-2 */
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        size_t len;
        uint32_t *codes;
        uint8_t *blob = coded_blob(4, 4, cases[t].bits, cases[t].zp, 0, 0, cases[t].code, &len,
                                   &codes);
        nnz_blob b;
        uint8_t out[8];
        size_t osz, ssz;
        assert_int_equal(nnz_open(&b, blob, len, 0), NNZ_OK);
        assert_int_equal(nnz_decode_sizes(&b, 0, NNZ_OUT_I4, &osz, &ssz), NNZ_E_OUT_TYPE);
        assert_int_equal(nnz_decode(&b, 0, NNZ_OUT_I4, out, sizeof out, NULL, 0),
                         NNZ_E_OUT_TYPE);
        free(codes);
        free(blob);
    }
    /* a raw float tensor has no codes */
    size_t model_len, blob_len;
    uint8_t *model = tu_model_bytes(1, 8, &model_len), out[32];
    nnz_model *m = tu_load(model, model_len);
    uint8_t *blob = tu_blob(m, &blob_len);
    nnz_blob b;
    assert_int_equal(nnz_open(&b, blob, blob_len, 0), NNZ_OK);
    assert_int_equal(nnz_decode(&b, 0, NNZ_OUT_I4, out, sizeof out, NULL, 0), NNZ_E_OUT_TYPE);
    free(blob);
    nnz_model_free(m);
    free(model);
}

/* ---- what FORMAT.md says a reader does with odd but valid symbols -------- */

/* A blob whose one tensor "w" (dtype, dims) takes encoding x as given. */
static uint8_t *hand_blob(int dtype, const int64_t *dims, int ndims, const nnz_encoded *x,
                          size_t *len, nnz_model **mp, uint8_t **model)
{
    size_t model_len;
    *model = tu_model_tensor(dtype, dims, ndims, &model_len);
    *mp = tu_load(*model, model_len);
    return tu_blob_encoded(*mp, x, len);
}

static void a_gap_symbol_above_the_escape_is_a_gap(void **state)
{
    /* 8 float32 elements, sparse, escape 3; positions packed in 3 bits:
     * 5 (above the escape: a gap, to element 5), then 1 (to element 7) */
    static const int64_t dims[1] = { 8 };
    uint8_t params[] = { NNZ_VAL_F32, 0, 2, 3, NNZ_CODING_PACKED, 3, 1, NNZ_CODING_PACKED, 32, 8 };
    uint8_t payload[] = { 0xa4, 0x3f, 0xc0, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00 };
    nnz_encoded x = { .encoding = NNZ_ENC_SPARSE, .version = 1, .params = params,
                      .params_len = sizeof params, .payload = payload,
                      .payload_len = sizeof payload };
    static const float want[8] = { 0, 0, 0, 0, 0, 1.5f, 0, 2.0f };
    for (int bad = 0; bad < 2; bad++) {
        if (bad)
            payload[0] = 0xe4; /* 7 then 1: past the end */
        size_t len;
        nnz_model *m;
        uint8_t *model, *blob = hand_blob(NNZ_DT_FLOAT, dims, 1, &x, &len, &m, &model);
        nnz_blob b;
        float out[8];
        assert_int_equal(nnz_open(&b, blob, len, 0), NNZ_OK);
        nnz_status st = nnz_decode(&b, 0, NNZ_OUT_F32, out, sizeof out, NULL, 0);
        if (bad) {
            assert_int_equal(st, NNZ_E_CORRUPT);
        } else {
            assert_int_equal(st, NNZ_OK);
            assert_memory_equal(out, want, sizeof want);
            nnz_reader r;
            size_t got;
            float piece[3];
            assert_int_equal(nnz_reader_open(&r, &b, 0, NNZ_OUT_F32, NULL, 0), NNZ_OK);
            for (size_t at = 0; at < 8; at += got) {
                assert_int_equal(nnz_reader_read(&r, piece, sizeof piece, &got), NNZ_OK);
                assert_memory_equal(piece, want + at, got * 4);
            }
        }
        free(blob);
        nnz_model_free(m);
        free(model);
    }
}

static void integer_values_wrap_modulo_the_element_size(void **state)
{
    /* int8, integer map, 8-bit packed symbols 0, 200, 255, 3: with offset
     * 2^40 + 1 (counts only modulo 256: 1), -1, -57 (199), -2, 2 */
    static const int64_t dims[1] = { 4 };
    uint8_t params[] = { NNZ_VAL_INT, 0, 0x81, 0x80, 0x80, 0x80, 0x80, 0x20,
                         NNZ_CODING_PACKED, 8, 4 };
    uint8_t payload[] = { 0, 200, 255, 3 };
    nnz_encoded x = { .encoding = NNZ_ENC_DENSE, .version = 1, .params = params,
                      .params_len = sizeof params, .payload = payload,
                      .payload_len = sizeof payload };
    size_t len;
    nnz_model *m;
    uint8_t *model, *blob = hand_blob(NNZ_DT_INT8, dims, 1, &x, &len, &m, &model);
    nnz_blob b;
    int8_t out[4];
    static const int8_t want[4] = { -1, -57, -2, 2 };
    assert_int_equal(nnz_open(&b, blob, len, 0), NNZ_OK);
    assert_int_equal(nnz_decode(&b, 0, NNZ_OUT_NATIVE, out, sizeof out, NULL, 0), NNZ_OK);
    assert_memory_equal(out, want, sizeof want);
    free(blob);
    nnz_model_free(m);
    free(model);
}

/* Value map 6 with its scale codes packed (encoding version 4): 6 channels,
 * base 200, 3 bits each (values 0 7 3 1 5 2: bits 000 111 011 001 101 010);
 * and what is refused: more than 8 bits, base + 2^bits - 1 past 255, codes
 * cut short, a version after the last (NNZ_ENC_VERSION_SHARED). */
static void packed_scale_codes_decode_and_bad_ones_are_refused(void **state)
{
    static const int64_t dims[1] = { 6 };
    static const uint32_t v[6] = { 0, 7, 3, 1, 5, 2 };
    static const uint8_t sym[6] = { 130, 120, 128, 255, 0, 129 };
    uint8_t payload[6];
    memcpy(payload, sym, 6);
    for (int bad = 0; bad < 5; bad++) {
        uint8_t params[] = { NNZ_VAL_AFFINE_LOG, 0, 6, 1, 127 - 5, 200, 3, 0x1d, 0x9a, 0x80,
                             1, 128, 0, 0, 0, NNZ_CODING_PACKED, 8, 6 };
        nnz_encoded x = { .encoding = NNZ_ENC_DENSE, .version = 4, .params = params,
                          .params_len = sizeof params, .payload = payload,
                          .payload_len = sizeof payload };
        nnz_status want = NNZ_E_CORRUPT;
        if (bad == 1)
            params[6] = 9; /* bits past 8 */
        if (bad == 2)
            params[5] = 250; /* 250 + 7 > 255 */
        if (bad == 3)
            x.params_len = 9; /* the codes' third byte is missing */
        if (bad == 4) {
            x.version = NNZ_ENC_VERSION_SHARED + 1;
            want = NNZ_E_ENCODING;
        }
        size_t len;
        nnz_model *m;
        uint8_t *model, *blob = hand_blob(NNZ_DT_FLOAT, dims, 1, &x, &len, &m, &model);
        nnz_blob b;
        float out[6];
        nnz_status st = nnz_open(&b, blob, len, 0);
        if (st == NNZ_OK)
            st = nnz_decode(&b, 0, NNZ_OUT_F32, out, sizeof out, NULL, 0);
        if (bad) {
            assert_int_equal(st, want);
        } else {
            assert_int_equal(st, NNZ_OK);
            nnz_value_map map;
            assert_int_equal(nnz_value_map_get(&b, 0, &map), NNZ_OK);
            assert_int_equal(map.kind, NNZ_VAL_AFFINE_LOG);
            assert_int_equal(map.scale_bits, 3);
            assert_int_equal(map.scale_exp, -5);
            for (int c = 0; c < 6; c++) {
                assert_int_equal(nnz_scale_code(&map, (uint64_t)c), 200 + v[c]);
                float want_v = nnz_log_scale(200 + v[c], -5) * (float)((int)sym[c] - 128);
                assert_memory_equal(&out[c], &want_v, 4);
            }
            assert_int_equal(nnz_scale_code(&map, 6), 0); /* past the channels */
        }
        free(blob);
        nnz_model_free(m);
        free(model);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc32_matches_the_check_value_and_zlib),
        cmocka_unit_test(every_half_value_round_trips_through_float),
        cmocka_unit_test(float_to_half_rounds_ties_to_even),
        cmocka_unit_test(bfloat16_keeps_the_top_half_and_rounds_to_even),
        cmocka_unit_test(every_status_has_a_message),
        cmocka_unit_test_setup_teardown(a_lossless_blob_decodes_every_tensor_exactly, setup, teardown),
        cmocka_unit_test_setup_teardown(rebuilding_gives_the_bytes_the_tool_saves, setup, teardown),
        cmocka_unit_test(small_tensors_left_in_the_graph_are_found_and_decoded),
        cmocka_unit_test(a_compressed_graph_expands_to_the_stored_one),
        cmocka_unit_test(repeated_tensors_are_stored_once_and_decode_alike),
        cmocka_unit_test(a_bad_alias_is_refused),
        cmocka_unit_test(four_bit_codes_decode_to_packed_int4),
        cmocka_unit_test(only_codes_that_fit_int4_decode_to_it),
        cmocka_unit_test(a_gap_symbol_above_the_escape_is_a_gap),
        cmocka_unit_test(integer_values_wrap_modulo_the_element_size),
        cmocka_unit_test(packed_scale_codes_decode_and_bad_ones_are_refused),
        cmocka_unit_test_setup_teardown(caller_mistakes_get_their_own_status, setup, teardown),
        cmocka_unit_test_setup_teardown(a_failing_write_callback_stops_the_rebuild, setup, teardown),
        cmocka_unit_test_setup_teardown(every_truncation_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(every_malformed_blob_gets_its_status, setup, teardown),
        cmocka_unit_test_setup_teardown(a_tensor_with_an_unknown_encoding_fails_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(names_the_graph_holds_are_stored_once, setup, teardown),
    };
    /* these tests walk format 1.2's directory entries (its reader stays);
     * format 2's are tested in test_format2.c */
    tu_format_major = 1;
    return cmocka_run_group_tests_name("runtime", tests, NULL, NULL);
}
