/* test_format2.c - format 2's directory (docs/FORMAT.md): runs of 16
 * entries, entries described by the graph, offsets taken from the entry
 * before; read against the same model written in format 1.2's layout,
 * and every malformed entry refused with its status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bytes.h"
#include "encode.h"
#include "nnz.h"
#include "util_blob.h"

/* 40 weights over three runs: 2x2 ones stay in the graph (encoding graph),
 * 8x8 ones get payloads; w30..w39 repeat w20..w29's values (alias). */
#define NW 40
static float values(void *ctx, int w, size_t j)
{
    (void)ctx;
    int k = w >= 30 ? w - 10 : w;
    return (float)(((int)j * 29 + k * 7) % 19 - 9) / 4.0f;
}

static uint8_t *model(size_t *len)
{
    int64_t dims[NW][2];
    for (int i = 0; i < NW; i++)
        dims[i][0] = dims[i][1] = i % 5 == 1 ? 2 : 8;
    return tu_matmul_model(NW, (const int64_t (*)[2])dims, 0, values, NULL, len);
}

/* Affine states for every third 8x8 weight: 8 channels of 8, codes j*7 % 200. */
static nnz_state *coded_state(const nnz_tensor *t, int i)
{
    if (i % 3 || t->nbytes < 256)
        return NULL;
    nnz_state *s = calloc(1, sizeof *s);
    s->n = 64;
    s->kind = NNZ_VAL_AFFINE;
    s->bits = 8;
    s->nchan = 8;
    s->inner = 8;
    s->axis = 0;
    s->scale = malloc(8 * sizeof *s->scale);
    s->zero_point = malloc(8 * sizeof *s->zero_point);
    for (int c = 0; c < 8; c++) {
        s->scale[c] = nnz_log_scale((uint32_t)(c * 5 + i), -9); /* on the grid */
        s->zero_point[c] = 100;
    }
    s->codes = malloc(64 * sizeof *s->codes);
    s->values = malloc(64 * sizeof *s->values);
    for (int j = 0; j < 64; j++)
        s->codes[j] = (uint32_t)((j * 7 + i) % 200);
    nnz_state_reconstruct(s);
    s->entropy = i % 2;
    s->max_code_len = NNZ_HUFF_DEFAULT_MAX_LEN;
    return s;
}

/* Encode tensor i from its state, when it has one; else raw. */
static int encode_some(void *ctx, nnz_model *m, size_t i, nnz_encoded *out, nnz_error *e)
{
    nnz_state **st = ctx;
    return st[i] ? nnz_encode_tensor(&m->tensors[i], st[i], NULL, out, e) : 0;
}

typedef struct blobs {
    uint8_t *mb, *v1, *v2;
    size_t mlen, l1, l2;
    nnz_model *m;
} blobs;

/* The model written in format 1.2's layout and in format 2's (each with
 * the coded states), or with every name in the directory when dirnames. */
static void write_both(blobs *x, int dirnames)
{
    x->mb = model(&x->mlen);
    x->m = tu_load(x->mb, x->mlen);
    nnz_state *st[NW * 2] = { 0 };
    assert_true(x->m->ntensors <= NW * 2);
    uint8_t *b[2];
    size_t l[2];
    for (int f = 0; f < 2; f++) {
        for (size_t i = 0; i < x->m->ntensors; i++) {
            const nnz_tensor *t = &x->m->tensors[i];
            st[i] = t->name[0] == 'w' ? coded_state(t, atoi(t->name + 1)) : NULL;
        }
        tu_format_major = f ? 0 : 1;
        /* the graph stored: these tests are about the entries it describes */
        b[f] = tu_blob_with(x->m, (nnz_blob_writer){ .encode = encode_some, .ctx = st,
                                                     .names_in_directory = dirnames,
                                                     .graph_raw = 1 }, &l[f]);
        for (size_t i = 0; i < x->m->ntensors; i++)
            nnz_state_free(st[i]);
    }
    tu_format_major = 0;
    x->v1 = b[0];
    x->l1 = l[0];
    x->v2 = b[1];
    x->l2 = l[1];
}

static void free_both(blobs *x)
{
    free(x->mb);
    free(x->v1);
    free(x->v2);
    nnz_model_free(x->m);
}

static void decode_to(const nnz_blob *b, uint32_t i, uint8_t **out, size_t *n)
{
    size_t ssz;
    assert_int_equal(nnz_decode_sizes(b, i, NNZ_OUT_NATIVE, n, &ssz), NNZ_OK);
    *out = malloc(*n + 1);
    uint8_t *scratch = malloc(ssz + 1);
    assert_int_equal(nnz_decode(b, i, NNZ_OUT_NATIVE, *out, *n, scratch, ssz), NNZ_OK);
    free(scratch);
}

static int collect(void *ctx, const void *data, size_t size)
{
    nnz_bytes *o = ctx;
    nnz_bytes_put(o, data, size);
    return 0;
}

static void rebuild(const nnz_blob *b, nnz_bytes *out)
{
    uint64_t msize;
    size_t wsize;
    assert_int_equal(nnz_rebuild_sizes(b, &msize, &wsize), NNZ_OK);
    void *work = malloc(wsize);
    assert_int_equal(nnz_rebuild(b, collect, out, work, wsize), NNZ_OK);
    assert_int_equal(out->len, msize);
    free(work);
}

/* Every tensor of a format 2 blob reads as in format 1.2's layout: name,
 * type, shape, location, offsets, encoding, blocks, alias target; decodes
 * to the same bytes, is found by its name, and the model rebuilds the
 * same; and the directory is smaller. With names in the graph the
 * directory holds none of them. */
static void format_2_reads_as_format_1(void **state)
{
    (void)state;
    for (int dirnames = 0; dirnames < 2; dirnames++) {
        blobs x;
        write_both(&x, dirnames);
        nnz_blob b1, b2;
        assert_int_equal(nnz_open(&b1, x.v1, x.l1, 0), NNZ_OK);
        assert_int_equal(nnz_open(&b2, x.v2, x.l2, 0), NNZ_OK);
        assert_int_equal(b1.major, 1);
        assert_int_equal(b2.major, 2);
        uint32_t n = nnz_tensor_count(&b1);
        assert_int_equal(nnz_tensor_count(&b2), n);
        assert_true(n > 2 * 16); /* three runs */
        int graph = 0, alias = 0, coded = 0;
        for (uint32_t i = 0; i < n; i++) {
            nnz_tensor_info a, c;
            assert_int_equal(nnz_tensor_info_get(&b1, i, &a), NNZ_OK);
            assert_int_equal(nnz_tensor_info_get(&b2, i, &c), NNZ_OK);
            assert_int_equal(a.name_len, c.name_len);
            assert_memory_equal(a.name_bytes, c.name_bytes, a.name_len);
            assert_string_equal(a.name, c.name);
            assert_int_equal(a.dtype, c.dtype);
            assert_int_equal(a.ndims, c.ndims);
            assert_memory_equal(a.dims, c.dims, sizeof a.dims);
            assert_int_equal(a.count, c.count);
            assert_int_equal(a.location, c.location);
            assert_int_equal(a.encoding, c.encoding);
            assert_int_equal(a.encoding_version, c.encoding_version);
            assert_int_equal(a.payload_size, c.payload_size);
            assert_int_equal(a.graph_offset, c.graph_offset);
            assert_int_equal(a.block_elems, c.block_elems);
            assert_int_equal(a.alias_of, c.alias_of);
            /* payload offsets: each blob's own, from its payload section
             * (from its graph section for an in-graph tensor) */
            const nnz_blob *s1 = &b1, *s2 = &b2;
            int in_graph = c.encoding == NNZ_ENC_GRAPH;
            assert_int_equal(a.payload_offset - (uint64_t)((in_graph ? s1->graph : s1->payload) - s1->data),
                             c.payload_offset - (uint64_t)((in_graph ? s2->graph : s2->payload) - s2->data));
            graph += c.encoding == NNZ_ENC_GRAPH;
            alias += c.encoding == NNZ_ENC_ALIAS;
            coded += c.encoding == NNZ_ENC_DENSE;
            uint8_t *o1, *o2;
            size_t n1, n2;
            decode_to(&b1, i, &o1, &n1);
            decode_to(&b2, i, &o2, &n2);
            assert_int_equal(n1, n2);
            assert_memory_equal(o1, o2, n1);
            free(o1);
            free(o2);
            char name[64];
            uint32_t at;
            assert_true(c.name_len < sizeof name);
            memcpy(name, c.name_bytes, c.name_len);
            name[c.name_len] = 0;
            assert_int_equal(nnz_find(&b2, name, &at), NNZ_OK);
            assert_int_equal(at, i);
        }
        assert_true(graph > 0 && alias > 0 && (dirnames || coded > 0));
        nnz_bytes r1 = { 0 }, r2 = { 0 };
        rebuild(&b1, &r1);
        rebuild(&b2, &r2);
        assert_int_equal(r1.len, r2.len);
        assert_memory_equal(r1.buf, r2.buf, r1.len);
        free(r1.buf);
        free(r2.buf);
        /* smaller: no names section, no slot per entry, no name in the entry */
        assert_true(b2.dir_size < b1.dir_size + b1.names_size);
        if (!dirnames)
            for (size_t k = 0; k + 2 <= b2.dir_size; k++)
                assert_false(b2.dir[k] == 'w' && b2.dir[k + 1] >= '0' && b2.dir[k + 1] <= '9');
        free_both(&x);
    }
}

/* ---- malformed format 2 entries ------------------------------------------------ */

static uint64_t varint_at(const uint8_t **p)
{
    uint64_t v = 0;
    for (unsigned s = 0;; s += 7) {
        uint8_t c = *(*p)++;
        v |= (uint64_t)(c & 0x7f) << s;
        if (!(c & 0x80))
            return v;
    }
}

/* Where entry k's fields start in a format 2 blob: location, graph_offset,
 * back (when described by the graph), payload_offset (first of a run),
 * payload_length, encoding byte. */
typedef struct fields {
    uint8_t *loc, *go, *back, *poff, *plen, *enc;
} fields;

static fields entry_fields(uint8_t *blob, uint32_t index)
{
    uint64_t off, len;
    tu_section(blob, 1, &off, &len);
    uint8_t *dir = blob + off;
    const uint8_t *p = dir + tu_get32(dir + 4 + 4 * (size_t)(index / 16));
    fields f = { 0 };
    for (uint32_t k = index & ~15u;; k++) {
        f.loc = (uint8_t *)p++;
        f.go = (uint8_t *)p;
        varint_at(&p);
        f.back = NULL;
        if (*f.loc & 0x20) {
            f.back = (uint8_t *)p;
            varint_at(&p);
        } else {
            p += varint_at(&p) + 2;
            unsigned nd = *p++;
            for (unsigned i = 0; i < nd; i++)
                varint_at(&p);
        }
        f.poff = k % 16 ? NULL : (uint8_t *)p;
        if (k % 16 == 0)
            varint_at(&p);
        f.plen = (uint8_t *)p;
        varint_at(&p);
        f.enc = (uint8_t *)p++;
        uint64_t n = varint_at(&p);
        if (k == index)
            return f;
        p += n;
    }
}

/* Entry e's graph_offset, from the first of its run (none is external here). */
static uint64_t entry_go(uint8_t *blob, uint32_t e)
{
    uint64_t go = 0;
    for (uint32_t k = e & ~15u; k <= e; k++) {
        const uint8_t *q = entry_fields(blob, k).go;
        go = (k % 16 ? go : 0) + varint_at(&q);
    }
    return go;
}

typedef struct mutation {
    const char *why;
    uint32_t entry;
    int (*apply)(uint8_t *b, uint32_t entry);
    nnz_status open, decode; /* decode: of that entry, when open is OK */
} mutation;

static int run_past_dir(uint8_t *b, uint32_t e)
{
    (void)e;
    uint64_t off, len;
    tu_section(b, 1, &off, &len);
    tu_put32(b + off + 8, (uint32_t)len + 1); /* the second run's offset */
    return 1;
}
static int count_past_runs(uint8_t *b, uint32_t e)
{
    (void)e;
    uint64_t off, len;
    tu_section(b, 1, &off, &len);
    tu_put32(b + off, (uint32_t)(len / 4 * 16)); /* more runs than offsets fit */
    return 1;
}
static int described_and_external(uint8_t *b, uint32_t e)
{
    fields f = entry_fields(b, e);
    if (!f.back)
        return 0;
    *f.loc |= NNZ_LOC_EXTERNAL;
    return 1;
}
static int back_past_graph_start(uint8_t *b, uint32_t e)
{
    fields f = entry_fields(b, e);
    if (!f.back || !(f.go[0] & 0x80) || f.go[1] & 0x80)
        return 0;
    f.go[0] = 0x81; /* graph_offset 1, in two bytes: its fields would start before the graph */
    f.go[1] = 0x00;
    return 1;
}
static int back_one_more(uint8_t *b, uint32_t e)
{
    fields f = entry_fields(b, e);
    if (!f.back || *f.back >= 0x7f)
        return 0;
    (*f.back)++; /* one byte before the dims' first tag: not a field this form has */
    return 1;
}
static int location_bad(uint8_t *b, uint32_t e)
{
    *entry_fields(b, e).loc |= 2;
    return 1;
}
static int graph_delta_off(uint8_t *b, uint32_t e)
{
    fields f = entry_fields(b, e);
    if (*f.go & 0x80 || *f.go == 0x7f)
        return 0;
    (*f.go)++; /* the hole one byte later: no raw_data header right before it */
    return 1;
}
static int run_payload_past_section(uint8_t *b, uint32_t e)
{
    fields f = entry_fields(b, e);
    if (!f.poff || *f.poff & 0x80)
        return 0;
    *f.poff = 0x7f; /* 127 x 64 bytes in */
    uint64_t off, len;
    tu_section(b, 3, &off, &len);
    return len < 0x7f * 64;
}
/* The graph's data-type tag (0x10) of entry e, after its dims, made 0x18. */
static int graph_type_tag_bad(uint8_t *b, uint32_t e)
{
    fields f = entry_fields(b, e);
    if (!f.back)
        return 0;
    const uint8_t *q = f.go, *bk = f.back;
    uint64_t go = varint_at(&q), back = varint_at(&bk), off, len;
    if (e % 16) /* a difference from the entry before */
        go += entry_go(b, e - 1);
    tu_section(b, 2, &off, &len);
    uint8_t *p = b + off + go - back;
    while (*p == 0x08) {
        const uint8_t *v = p + 1;
        varint_at(&v);
        p = (uint8_t *)v;
    }
    if (*p != 0x10)
        return 0;
    *p = 0x18;
    return 1;
}
static int later_version(uint8_t *b, uint32_t e)
{
    *entry_fields(b, e).enc |= 0xf0;
    return 1;
}
static int unknown_encoding(uint8_t *b, uint32_t e)
{
    uint8_t *x = entry_fields(b, e).enc;
    *x = (uint8_t)((*x & 0xf0) | 0x0e);
    return 1;
}

/* Entry 16 starts the second run; 17 follows it; 0 is the first. */
static const mutation mutations[] = {
    { "a run's offset past the directory", 16, run_past_dir, NNZ_E_CORRUPT, NNZ_OK },
    { "more entries than run offsets fit", 0, count_past_runs, NNZ_E_CORRUPT, NNZ_OK },
    { "an entry described by the graph and external", 17, described_and_external, NNZ_E_CORRUPT,
      NNZ_OK },
    { "graph fields that start before the graph", 0, back_past_graph_start, NNZ_E_CORRUPT, NNZ_OK },
    { "graph fields that are not dims, type, name and header", 17, back_one_more, NNZ_E_CORRUPT,
      NNZ_OK },
    { "a location of 2", 17, location_bad, NNZ_E_CORRUPT, NNZ_OK },
    { "graph fields with another field where the data type is", 17, graph_type_tag_bad,
      NNZ_E_CORRUPT, NNZ_OK },
    { "a graph offset difference one too many", 17, graph_delta_off, NNZ_E_CORRUPT, NNZ_OK },
    { "a run's payload past the section", 16, run_payload_past_section, NNZ_E_CORRUPT, NNZ_OK },
    { "a later encoding version opens, that tensor alone fails", 18, later_version, NNZ_OK,
      NNZ_E_ENCODING },
    { "an unknown encoding opens, that tensor alone fails", 18, unknown_encoding, NNZ_OK,
      NNZ_E_ENCODING },
};

static void every_malformed_format_2_entry_gets_its_status(void **state)
{
    (void)state;
    blobs x;
    write_both(&x, 0);
    for (size_t k = 0; k < sizeof mutations / sizeof mutations[0]; k++) {
        const mutation *mu = &mutations[k];
        uint8_t *b = malloc(x.l2);
        memcpy(b, x.v2, x.l2);
        if (!mu->apply(b, mu->entry))
            fail_msg("%s: the blob has no such entry to mutate", mu->why);
        tu_fix_crcs(b, x.l2);
        nnz_blob bl;
        nnz_status st = nnz_open(&bl, b, x.l2, 0);
        if (st != mu->open)
            fail_msg("%s: open gave %d, expected %d", mu->why, st, mu->open);
        if (st == NNZ_OK) {
            uint8_t out[256], scratch[16384];
            st = nnz_decode(&bl, mu->entry, NNZ_OUT_NATIVE, out, sizeof out, scratch,
                            sizeof scratch);
            if (st != mu->decode)
                fail_msg("%s: decode gave %d, expected %d", mu->why, st, mu->decode);
        }
        free(b);
    }
    free_both(&x);
}

/* ---- encoding version 5, by hand -------------------------------------------------- */

/* Six float elements, dense, value map 6: exp -5, base 3, 9-bit codes
 * 0 511 300 17 256 1 (past version 4's 255), zero point 128 as varint 129,
 * one packed 8-bit stream whose length is the payload's. Then what is
 * refused: 13-bit codes, codes whose scale passes 2^127, a zero point of
 * 2^32 or more, a version after 5; and per-channel zero points (0, then a
 * u32 each) decode too. */
static void encoding_version_5_decodes_and_bad_ones_are_refused(void **state)
{
    (void)state;
    static const int64_t dims[1] = { 6 };
    static const uint32_t v[6] = { 0, 511, 300, 17, 256, 1 };
    static const uint8_t sym[6] = { 130, 120, 128, 255, 0, 129 };
    size_t mlen;
    uint8_t *mb = tu_model_tensor(NNZ_DT_FLOAT, dims, 1, &mlen);
    nnz_model *m = tu_load(mb, mlen);
    for (int bad = 0; bad < 6; bad++) {
        uint8_t params[64];
        size_t n = 0;
        params[n++] = NNZ_VAL_AFFINE_LOG; /* | block_log2 0 << 3 */
        params[n++] = 6;
        params[n++] = 1;
        params[n++] = bad == 2 ? 127 + 100 : 127 - 5;
        params[n++] = 3;
        params[n++] = bad == 1 ? 13 : 9;
        uint64_t bits = 0; /* 54 bits of codes, most significant first, in 7 bytes */
        for (int c = 0; c < 6; c++)
            bits = bits << 9 | v[c];
        bits <<= 2;
        for (int k = 6; k >= 0; k--)
            params[n++] = (uint8_t)(bits >> (8 * k));
        if (bad == 3) { /* zero point 2^32: varint 2^32 + 1 */
            static const uint8_t big[5] = { 0x81, 0x80, 0x80, 0x80, 0x10 };
            memcpy(params + n, big, 5);
            n += 5;
        } else if (bad == 5) { /* 0, then six u32 zero points, 128 + c */
            params[n++] = 0;
            for (int c = 0; c < 6; c++) {
                tu_put32(params + n, 128 + (uint32_t)c);
                n += 4;
            }
        } else {
            params[n++] = 0x81; /* 129: zero point 128 */
            params[n++] = 0x01;
        }
        params[n++] = NNZ_CODING_PACKED | (8 - 1) << 3;
        uint8_t payload[6];
        memcpy(payload, sym, 6);
        nnz_encoded x = { .encoding = NNZ_ENC_DENSE,
                          .version = bad == 4 ? NNZ_ENC_VERSION_SHARED + 1 : NNZ_ENC_VERSION_COMPACT,
                          .params = params, .params_len = n, .payload = payload,
                          .payload_len = sizeof payload };
        size_t len;
        uint8_t *blob = tu_blob_encoded(m, &x, &len);
        nnz_blob b;
        float out[6];
        nnz_status st = nnz_open(&b, blob, len, 0);
        if (st == NNZ_OK)
            st = nnz_decode(&b, 0, NNZ_OUT_F32, out, sizeof out, NULL, 0);
        if (bad >= 1 && bad <= 4) {
            assert_int_equal(st, bad == 4 ? NNZ_E_ENCODING : NNZ_E_CORRUPT);
        } else {
            assert_int_equal(st, NNZ_OK);
            nnz_value_map map;
            assert_int_equal(nnz_value_map_get(&b, 0, &map), NNZ_OK);
            assert_int_equal(map.kind, NNZ_VAL_AFFINE_LOG);
            assert_int_equal(map.scale_bits, 9);
            assert_int_equal(map.scale_exp, -5);
            assert_int_equal(map.zero_points == NULL, bad == 0);
            for (int c = 0; c < 6; c++) {
                uint32_t zp = bad == 5 ? 128 + (uint32_t)c : 128;
                assert_int_equal(nnz_scale_code(&map, (uint64_t)c), 3 + v[c]);
                assert_int_equal(bad == 5 ? tu_get32(map.zero_points + 4 * c) : map.zero_point, zp);
                float want = nnz_log_scale(3 + v[c], -5) * (float)((int)sym[c] - (int)zp);
                assert_memory_equal(&out[c], &want, 4);
            }
        }
        free(blob);
    }
    nnz_model_free(m);
    free(mb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(format_2_reads_as_format_1),
        cmocka_unit_test(every_malformed_format_2_entry_gets_its_status),
        cmocka_unit_test(encoding_version_5_decodes_and_bad_ones_are_refused),
    };
    return cmocka_run_group_tests_name("format2", tests, NULL, NULL);
}
