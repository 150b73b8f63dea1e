/* test_hashnet.c - the hashnet pass and the hash the blob pins: an
 * independent xxHash32 against the published vectors and the runtime's
 * hash, the test vectors of docs/FORMAT.md, the least-squares buckets
 * against brute force, options and their errors, and hashed blobs decoded
 * by the runtime, exactly as the pass reconstructed them. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "blob.h"
#include "encode.h"
#include "hashnet.h"
#include "model.h"
#include "nnz.h"
#include "pass.h"
#include "state.h"
#include "util_blob.h"

/* ---- an independent, general xxHash32 (any length, any seed) --------------
 * Written from the algorithm's description, not from runtime/nnz.c: the
 * runtime only hashes 8 bytes, so this one also runs the 16-byte stripes
 * and the single-byte tail, which the published vectors exercise. */

#define XP1 2654435761u
#define XP2 2246822519u
#define XP3 3266489917u
#define XP4 668265263u
#define XP5 374761393u

static uint32_t xrotl(uint32_t x, int r) { return x << r | x >> (32 - r); }

static uint32_t xread32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t xround(uint32_t acc, uint32_t in) { return xrotl(acc + in * XP2, 13) * XP1; }

static uint32_t ref_xxh32(const void *data, size_t len, uint32_t seed)
{
    const uint8_t *p = data, *end = p + len;
    uint32_t h;
    if (len >= 16) {
        uint32_t v1 = seed + XP1 + XP2, v2 = seed + XP2, v3 = seed, v4 = seed - XP1;
        while (end - p >= 16) {
            v1 = xround(v1, xread32(p));
            v2 = xround(v2, xread32(p + 4));
            v3 = xround(v3, xread32(p + 8));
            v4 = xround(v4, xread32(p + 12));
            p += 16;
        }
        h = xrotl(v1, 1) + xrotl(v2, 7) + xrotl(v3, 12) + xrotl(v4, 18);
    } else {
        h = seed + XP5;
    }
    h += (uint32_t)len;
    for (; end - p >= 4; p += 4)
        h = xrotl(h + xread32(p) * XP3, 17) * XP4;
    for (; p < end; p++)
        h = xrotl(h + (uint32_t)*p * XP5, 11) * XP1;
    h ^= h >> 15;
    h *= XP2;
    h ^= h >> 13;
    h *= XP3;
    h ^= h >> 16;
    return h;
}

static uint32_t ref_le64(uint64_t i, uint32_t seed)
{
    uint8_t b[8];
    for (int k = 0; k < 8; k++)
        b[k] = (uint8_t)(i >> (8 * k));
    return ref_xxh32(b, 8, seed);
}

static void the_reference_xxh32_gives_the_published_vectors(void **state)
{
    static const struct { const char *s; uint32_t seed, h; } v[] = {
        /* the xxHash project's and python-xxhash's documented values */
        { "", 0, 0x02CC5D05u },
        { "abc", 0, 0x32D153FFu },
        { "Nobody inspects the spammish repetition", 0, 0xE2293B2Fu },
        /* the same from the xxHash library (libxxhash 0.8.1, XXH32) */
        { "a", 0, 0x550D7456u },
        { "", 1, 0x0B2CB792u },
        { "abc", 0x9E3779B1u, 0xA1AE7709u },
        { "0123456789abcdef", 0, 0xC2C45B69u },  /* one stripe, no tail */
        { "0123456789abcdefg", 0, 0xCC79B217u }, /* one stripe and a byte */
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint32_t h = ref_xxh32(v[i].s, strlen(v[i].s), v[i].seed);
        if (h != v[i].h)
            fail_msg("xxh32(\"%s\", %#x) = %#x, published %#x", v[i].s, v[i].seed, h, v[i].h);
    }
}

static void the_runtime_hash_is_xxh32_of_the_index_bytes(void **state)
{
    static const uint32_t seeds[] = { 0, 1, 0x9E3779B9u, 0xFFFFFFFFu, 0x12345678u };
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        for (uint64_t i = 0; i < 5000; i++)
            assert_int_equal(nnz_hash_index(i, seeds[s]), ref_le64(i, seeds[s]));
        for (uint64_t i = 1; i; i <<= 1) /* every bit of the 64-bit index counts */
            assert_int_equal(nnz_hash_index(i * 3 + 1, seeds[s]), ref_le64(i * 3 + 1, seeds[s]));
    }
}

static void bucket_and_sign_follow_the_format(void **state)
{
    static const uint64_t ks[] = { 1, 2, 3, 10, 1000, 65537, 4294967295u, 4294967296u };
    for (uint32_t seed = 0; seed < 4; seed++)
        for (uint64_t i = 0; i < 3000; i += 7) {
            uint32_t h = ref_le64(i, seed * 0x01000193u);
            for (size_t k = 0; k < sizeof ks / sizeof ks[0]; k++) {
                uint64_t b = nnz_hash_bucket(i, seed * 0x01000193u, ks[k]);
                assert_int_equal(b, ((uint64_t)h * ks[k]) >> 32);
                assert_true(b < ks[k]);
            }
            int want = ref_le64(i, seed * 0x01000193u + 0x9E3779B9u) >> 31 ? -1 : 1;
            assert_int_equal(nnz_hash_sign(i, seed * 0x01000193u), want);
        }
}

/* The rows of the table in docs/FORMAT.md ("Hashed"), checked here against
 * the reference above and the runtime, and looked up in the document. */
static const struct vec {
    uint64_t i;
    uint32_t seed, h, b10, b1000, h_sign;
    int sign;
} vectors[] = {
    { 0, 0x00000000u, 0xDEB39513u, 8, 869, 0x3DFA1B08u, +1 },
    { 1, 0x00000000u, 0x08ED6331u, 0, 34, 0x6FA8B7C7u, +1 },
    { 2, 0x00000000u, 0xEA049C3Au, 9, 914, 0x82CEDF72u, -1 },
    { 255, 0x00000000u, 0x81D76690u, 5, 507, 0xF8175584u, -1 },
    { 4294967296u, 0x00000000u, 0xDA0A0754u, 8, 851, 0xAA877A95u, -1 },
    { 0, 0x00000001u, 0xD1EA7DEAu, 8, 819, 0x8C3E4E14u, -1 },
    { 1, 0xFFFFFFFFu, 0xF9E9AC6Bu, 9, 976, 0xAC173654u, -1 },
    { 1000000, 0x12345678u, 0xAFF5E256u, 6, 687, 0x618AAD14u, +1 },
};

static void the_format_test_vectors_hold(void **state)
{
    for (size_t r = 0; r < sizeof vectors / sizeof vectors[0]; r++) {
        const struct vec *v = &vectors[r];
        assert_int_equal(ref_le64(v->i, v->seed), v->h);
        assert_int_equal(nnz_hash_index(v->i, v->seed), v->h);
        assert_int_equal(nnz_hash_bucket(v->i, v->seed, 10), v->b10);
        assert_int_equal(nnz_hash_bucket(v->i, v->seed, 1000), v->b1000);
        assert_int_equal(ref_le64(v->i, v->seed + 0x9E3779B9u), v->h_sign);
        assert_int_equal(nnz_hash_sign(v->i, v->seed), v->sign);
    }
}

static void the_format_document_lists_the_same_vectors(void **state)
{
    FILE *f = fopen("docs/FORMAT.md", "rb"); /* tests run from the repository root */
    if (!f)
        skip();
    static char doc[1 << 17];
    size_t len = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[len] = '\0';
    for (size_t r = 0; r < sizeof vectors / sizeof vectors[0]; r++) {
        const struct vec *v = &vectors[r];
        char row[200];
        snprintf(row, sizeof row, "| %llu | 0x%08X | 0x%08X | %u | %u | 0x%08X | %s |",
                 (unsigned long long)v->i, v->seed, v->h, v->b10, v->b1000, v->h_sign,
                 v->sign < 0 ? "-1" : "+1");
        if (!strstr(doc, row))
            fail_msg("docs/FORMAT.md lacks the row: %s", row);
    }
}

/* ---- per-tensor seeds and bucket counts ----------------------------------- */

static uint32_t spelled_out_seed(uint32_t seed, const char *name)
{
    size_t len = strlen(name);
    uint32_t h = seed;
    for (size_t at = 0; at < len; at += 8) {
        uint8_t piece[8] = { 0 };
        memcpy(piece, name + at, len - at < 8 ? len - at : 8);
        h = ref_xxh32(piece, 8, h);
    }
    return ref_le64(len, h);
}

static void a_tensor_seed_chains_the_hash_over_its_name(void **state)
{
    /* the values docs/passes/hashnet.md quotes */
    assert_int_equal(hashnet_tensor_seed(0, "fc1.weight"), 0x9EC97FCAu);
    assert_int_equal(hashnet_tensor_seed(0, "fc2.weight"), 0x6F7EE1B7u);
    assert_int_equal(hashnet_tensor_seed(1, "fc1.weight"), 0xC92072A8u);
    static const char *names[] = { "", "w", "1234567", "12345678", "123456789",
                                   "model.1.weight", "a/very/long/name/of/a/tensor:0" };
    for (uint32_t seed = 0; seed < 3; seed++)
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
            assert_int_equal(hashnet_tensor_seed(seed, names[k]), spelled_out_seed(seed, names[k]));
    assert_int_not_equal(hashnet_tensor_seed(0, "12345678"), hashnet_tensor_seed(0, "123456780"));
}

static void bucket_counts_are_the_ceiling_of_n_over_ratio(void **state)
{
    static const struct { double ratio; size_t n; uint64_t k; } c[] = {
        { 8, 1000, 125 }, { 8, 1001, 126 }, { 8, 7, 1 }, { 1, 97, 97 }, { 3, 10, 4 },
        { 1.1, 11, 10 }, { 1.1, 12, 11 }, { 2.5, 10, 4 }, { 1e12, 5, 1 }, { 64, 32768, 512 },
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        hashnet_opts o = { .ratio = c[i].ratio };
        uint64_t k = hashnet_bucket_count(&o, c[i].n);
        if (k != c[i].k)
            fail_msg("ratio %g, n %zu: K %llu, expected %llu", c[i].ratio, c[i].n,
                     (unsigned long long)k, (unsigned long long)c[i].k);
    }
    hashnet_opts o = { .buckets = 77 };
    assert_int_equal(hashnet_bucket_count(&o, 1000), 77);
    assert_int_equal(hashnet_bucket_count(&o, 10), 77); /* the pass refuses this one */
}

/* ---- the least-squares buckets --------------------------------------------- */

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static float weight(uint32_t *s) { return (float)((double)lcg(s) / 16777216.0 * 2.0 - 1.0); }

/* The squared error of buckets v, straight from the definition. */
static long double sq_error(const float *w, size_t n, const float *v, size_t k, uint32_t seed,
                            int sign)
{
    long double e = 0;
    for (size_t i = 0; i < n; i++) {
        long double r = v[nnz_hash_bucket(i, seed, k)];
        if (sign && nnz_hash_sign(i, seed) < 0)
            r = -r;
        long double d = (long double)w[i] - r;
        e += d * d;
    }
    return e;
}

static void fitted_buckets_beat_every_perturbation(void **state)
{
    enum { N = 40, K = 6 };
    for (int sign = 0; sign <= 1; sign++) {
        uint32_t s = 7 + (uint32_t)sign, seed = 12345;
        float w[N], v[K];
        for (int i = 0; i < N; i++)
            w[i] = weight(&s);
        assert_int_equal(hashnet_fit(w, N, K, seed, sign, v, NULL, NULL), 0);
        long double best = sq_error(w, N, v, K, seed, sign);
        static const float steps[] = { 1e-4f, 1e-2f, 0.5f };
        for (int b = 0; b < K; b++) {
            float keep = v[b];
            float tries[8] = { nextafterf(keep, INFINITY), nextafterf(keep, -INFINITY) };
            for (int t = 0; t < 3; t++) {
                tries[2 + 2 * t] = keep + steps[t];
                tries[3 + 2 * t] = keep - steps[t];
            }
            for (int t = 0; t < 8; t++) {
                v[b] = tries[t];
                long double e = sq_error(w, N, v, K, seed, sign);
                if (e < best)
                    fail_msg("sign %d: bucket %d at %.9g gives %.12Lg < %.12Lg at the fit %.9g",
                             sign, b, (double)tries[t], e, best, (double)keep);
            }
            v[b] = keep;
        }
    }
}

/* Golden-section search on one bucket, the error a black box. */
static float minimise_bucket(const float *w, size_t n, float *v, size_t k, size_t b,
                             uint32_t seed, int sign)
{
    const double g = (sqrt(5.0) - 1) / 2;
    double lo = -2, hi = 2;
    for (int it = 0; it < 80; it++) {
        double x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo);
        v[b] = (float)x1;
        long double e1 = sq_error(w, n, v, k, seed, sign);
        v[b] = (float)x2;
        long double e2 = sq_error(w, n, v, k, seed, sign);
        if (e1 < e2)
            hi = x2;
        else
            lo = x1;
    }
    return v[b] = (float)((lo + hi) / 2);
}

static void fitted_buckets_match_a_numeric_minimiser(void **state)
{
    enum { N = 50, K = 7 };
    uint32_t s = 99, seed = 4242;
    float w[N], fit[K], num[K];
    for (int i = 0; i < N; i++)
        w[i] = weight(&s);
    for (int sign = 0; sign <= 1; sign++) {
        size_t members[K];
        assert_int_equal(hashnet_fit(w, N, K, seed, sign, fit, members, NULL), 0);
        memset(num, 0, sizeof num);
        for (int sweep = 0; sweep < 2; sweep++)
            for (int b = 0; b < K; b++)
                minimise_bucket(w, N, num, K, (size_t)b, seed, sign);
        size_t total = 0;
        for (int b = 0; b < K; b++) {
            total += members[b];
            if (fabsf(num[b] - fit[b]) > 1e-5f)
                fail_msg("sign %d bucket %d: fit %.7g, numeric minimum %.7g", sign, b,
                         (double)fit[b], (double)num[b]);
        }
        assert_int_equal(total, N);
    }
}

static void empty_buckets_get_zero(void **state)
{
    enum { N = 30 };
    float w[N], v[N];
    size_t members[N];
    uint32_t s = 5;
    for (int i = 0; i < N; i++)
        w[i] = weight(&s) + 3.0f; /* no bucket mean is 0 by chance */
    assert_int_equal(hashnet_fit(w, N, N, 77, 1, v, members, NULL), 0);
    size_t empty = 0;
    for (int b = 0; b < N; b++) {
        if (members[b] == 0) {
            empty++;
            assert_true(v[b] == 0.0f && !signbit(v[b]));
        } else {
            assert_true(v[b] != 0.0f);
        }
    }
    assert_true(empty > 0); /* K = n: about n/e buckets stay empty */
}

static void weights_that_are_a_hashed_net_come_back_exactly(void **state)
{
    enum { N = 200, K = 9 };
    float w[N], v[K], truth[K];
    uint32_t seed = hashnet_tensor_seed(0, "w0");
    for (int b = 0; b < K; b++)
        truth[b] = (float)(b + 1) / 4.0f;
    for (size_t i = 0; i < N; i++)
        w[i] = (float)nnz_hash_sign(i, seed) * truth[nnz_hash_bucket(i, seed, K)];
    assert_int_equal(hashnet_fit(w, N, K, seed, 1, v, NULL, NULL), 0);
    assert_memory_equal(v, truth, sizeof v);
}

/* ---- models, pipelines, blobs ------------------------------------------------ */

/* A model of MatMuls, one per weight: weight i has dims[i] (2-D) and is
 * named "w<i>"; fp16 makes them float16 tensors. Values are fixed
 * pseudo-random numbers in [-1, 1). */
static float next_weight(void *s, int w, size_t j)
{
    (void)w;
    (void)j;
    return weight(s);
}

static uint8_t *model_bytes(int nw, const int64_t (*dims)[2], int fp16, size_t *len)
{
    uint32_t s = 2024;
    assert_true(nw <= 4);
    return tu_matmul_model(nw, dims, fp16, next_weight, &s, len);
}

/* What compressing gave: the blob, the report, and per tensor the state's
 * reconstruction (what the decoder must give back). */
typedef struct result {
    nnz_model *m;
    nnz_pipeline p;
    cJSON *report;
    float *values[4];
    int hashed[4];
    uint8_t *blob;
    size_t blob_len;
    nnz_error e;
} result;

static int selected_anywhere(void *vctx, const nnz_model *m, size_t i)
{
    (void)m;
    const result *r = vctx;
    for (size_t s = 0; s < r->p.n; s++)
        if (r->p.stages[s].selected && r->p.stages[s].selected[i])
            return 1;
    return 0;
}

static int encode_cb(void *vctx, nnz_model *m, size_t i, nnz_encoded *out, nnz_error *e)
{
    result *r = vctx;
    nnz_state *st;
    cJSON *rep = cJSON_GetArrayItem(cJSON_GetObjectItem(r->report, "tensors"), (int)i);
    if (nnz_pipeline_run_tensor(&r->p, m, i, r->report, &st, e) != 0)
        return -1;
    if (!st)
        return 0;
    if (i < 4) {
        r->values[i] = malloc(st->n * sizeof(float));
        memcpy(r->values[i], st->values, st->n * sizeof(float));
        r->hashed[i] = st->hashed;
    }
    int rc = nnz_encode_tensor(&m->tensors[i], st, rep, out, e);
    nnz_state_free(st);
    return rc;
}

/* Run `pipeline` over the model and write the blob; returns 0, or -1 with
 * r->e filled (and no blob). */
static int compress(const uint8_t *model, size_t len, const char *pipeline, result *r)
{
    memset(r, 0, sizeof *r);
    if (nnz_model_load_bytes(model, len, "test.onnx", NULL, &r->m, &r->e) != 0)
        fail_msg("load: %s", r->e.msg);
    if (nnz_pipeline_parse(pipeline, &r->p, &r->e) != 0)
        return -1;
    r->report = cJSON_CreateObject();
    if (nnz_pipeline_prepare(&r->p, r->m, r->report, &r->e) != 0)
        return -1;
    nnz_blob_writer w = { .encode = encode_cb, .force_entry = selected_anywhere, .ctx = r };
    nnz_blob_stats st;
    FILE *f = tmpfile();
    assert_non_null(f);
    int rc = nnz_blob_write(r->m, &w, f, &st, &r->e);
    if (rc == 0) {
        free(st.tensor_bytes);
        free(st.is_entry);
        free(st.alias_of);
        free(st.table_of);
        free(st.shared_coding);
        free(st.payload_len);
        long n = ftell(f);
        r->blob = malloc((size_t)n);
        r->blob_len = (size_t)n;
        rewind(f);
        assert_int_equal(fread(r->blob, 1, (size_t)n, f), (size_t)n);
    }
    fclose(f);
    return rc;
}

static void result_free(result *r)
{
    nnz_model_free(r->m);
    nnz_pipeline_free(&r->p);
    cJSON_Delete(r->report);
    for (int i = 0; i < 4; i++)
        free(r->values[i]);
    free(r->blob);
}

static cJSON *tensor_report(const result *r, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItem(r->report, "tensors"), i);
}

static double report_number(const result *r, int i, const char *obj, const char *key)
{
    cJSON *o = cJSON_GetObjectItem(tensor_report(r, i), obj);
    cJSON *x = o ? cJSON_GetObjectItem(o, key) : NULL;
    if (!x)
        fail_msg("tensor %d report has no %s.%s", i, obj, key);
    return cJSON_GetNumberValue(x);
}

/* Decode every hashed tensor with nnz_decode and nnz_decode_block and
 * compare with the reconstruction, bit for bit; returns how many. */
static int decode_and_compare(const result *r, int want_enc_kind)
{
    nnz_blob b;
    assert_int_equal(nnz_open(&b, r->blob, r->blob_len, 0), NNZ_OK);
    int checked = 0;
    for (int t = 0; t < 4 && t < (int)r->m->ntensors; t++) {
        if (!r->values[t] || !r->hashed[t])
            continue;
        const nnz_tensor *nt = &r->m->tensors[t];
        uint32_t idx;
        assert_int_equal(nnz_find(&b, nt->name, &idx), NNZ_OK);
        nnz_tensor_info info;
        assert_int_equal(nnz_tensor_info_get(&b, idx, &info), NNZ_OK);
        assert_int_equal(info.encoding, NNZ_ENC_HASHED);
        assert_int_equal(info.count, nt->count);
        assert_int_equal(info.nblocks, 1);
        nnz_value_map vm;
        assert_int_equal(nnz_value_map_get(&b, idx, &vm), NNZ_OK);
        if (want_enc_kind >= 0)
            assert_int_equal(vm.kind, want_enc_kind);
        size_t out_size, scratch_size;
        assert_int_equal(nnz_decode_sizes(&b, idx, NNZ_OUT_F32, &out_size, &scratch_size), NNZ_OK);
        assert_int_equal(out_size, nt->count * 4);
        float *out = malloc(out_size);
        uint8_t *scratch = malloc(scratch_size + 8);
        if (scratch_size > 0)
            assert_int_equal(nnz_decode(&b, idx, NNZ_OUT_F32, out, out_size, scratch,
                                        scratch_size - 1), NNZ_E_SCRATCH_SMALL);
        memset(out, 0xAB, out_size);
        assert_int_equal(nnz_decode(&b, idx, NNZ_OUT_F32, out, out_size, scratch, scratch_size),
                         NNZ_OK);
        assert_memory_equal(out, r->values[t], out_size);
        memset(out, 0xAB, out_size);
        assert_int_equal(nnz_decode_block(&b, idx, 0, NNZ_OUT_F32, out, out_size, scratch,
                                          scratch_size), NNZ_OK);
        assert_memory_equal(out, r->values[t], out_size);
        assert_int_equal(nnz_decode_block(&b, idx, 1, NNZ_OUT_F32, out, out_size, scratch,
                                          scratch_size), NNZ_E_INDEX);
        /* the native type too (halves for a float16 tensor) */
        size_t native;
        assert_int_equal(nnz_decode_sizes(&b, idx, NNZ_OUT_NATIVE, &native, &scratch_size), NNZ_OK);
        uint8_t *nat = malloc(native);
        assert_int_equal(nnz_decode(&b, idx, NNZ_OUT_NATIVE, nat, native, scratch, scratch_size),
                         NNZ_OK);
        for (size_t i = 0; i < nt->count; i++) {
            if (nt->dtype == NNZ_DT_FLOAT16) {
                uint16_t h;
                memcpy(&h, nat + 2 * i, 2);
                assert_int_equal(h, nnz_float_to_half(r->values[t][i]));
            } else {
                assert_memory_equal(nat + 4 * i, &r->values[t][i], 4);
            }
        }
        free(nat);
        free(out);
        free(scratch);
        checked++;
    }
    return checked;
}

static const int64_t dims_97[1][2] = { { 1, 97 } };       /* a prime count */
static const int64_t dims_111[1][2] = { { 3, 37 } };      /* 3 x 37 */
static const int64_t dims_big[1][2] = { { 64, 200 } };
static const int64_t dims_two[2][2] = { { 24, 24 }, { 24, 24 } };

static void hashed_blobs_decode_to_the_reconstruction(void **state)
{
    static const struct {
        const int64_t (*dims)[2];
        const char *pipeline;
        size_t k;  /* expected buckets */
        int kind;  /* value map */
    } c[] = {
        { dims_97, "hashnet:buckets=1", 1, NNZ_VAL_F32 },
        { dims_97, "hashnet:buckets=1,sign=off", 1, NNZ_VAL_F32 },
        { dims_97, "hashnet:ratio=1", 97, NNZ_VAL_F32 },
        { dims_97, "hashnet:buckets=97,sign=off", 97, NNZ_VAL_F32 },
        { dims_97, "hashnet:ratio=8", 13, NNZ_VAL_F32 },
        { dims_111, "hashnet:ratio=8,sign=off", 14, NNZ_VAL_F32 },
        { dims_111, "hashnet:ratio=5,seed=4294967295", 23, NNZ_VAL_F32 },
        { dims_111, "hashnet:buckets=16 | quantize:bits=4,min-elements=1", 16, NNZ_VAL_AFFINE },
        { dims_111, "hashnet:ratio=3 | quantize:bits=6,scheme=asym,min-elements=1 | huffman", 37,
          NNZ_VAL_AFFINE },
        { dims_big, "hashnet:ratio=4 | quantize:kmeans,bits=5 | huffman", 3200,
          NNZ_VAL_CODEBOOK },
        { dims_big, "hashnet:ratio=2,sign=off | quantize:bits=8 | huffman", 6400,
          NNZ_VAL_AFFINE },
        { dims_big, "hashnet:ratio=16 | quantize:fp16", 800, NNZ_VAL_F16 },
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        size_t len;
        uint8_t *model = model_bytes(1, c[i].dims, 0, &len);
        result r;
        if (compress(model, len, c[i].pipeline, &r) != 0)
            fail_msg("%s: %s", c[i].pipeline, r.e.msg);
        assert_int_equal(report_number(&r, 0, "hashnet", "buckets"), c[i].k);
        assert_int_equal(decode_and_compare(&r, c[i].kind), 1);
        result_free(&r);
        free(model);
    }
}

static void huffman_coded_buckets_decode_through_scratch(void **state)
{
    size_t len;
    uint8_t *model = model_bytes(1, dims_big, 0, &len);
    result r;
    assert_int_equal(compress(model, len, "hashnet:ratio=2 | quantize:bits=8 | huffman", &r), 0);
    cJSON *enc = cJSON_GetObjectItem(tensor_report(&r, 0), "encoding");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(enc, "layout")), "hashed");
    cJSON *vals = cJSON_GetObjectItem(enc, "values");
    assert_memory_equal(cJSON_GetStringValue(cJSON_GetObjectItem(vals, "coding")), "huff", 4);
    assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(vals, "symbols")), 6400);
    nnz_blob b;
    assert_int_equal(nnz_open(&b, r.blob, r.blob_len, 0), NNZ_OK);
    size_t out_size, scratch;
    assert_int_equal(nnz_decode_sizes(&b, 0, NNZ_OUT_F32, &out_size, &scratch), NNZ_OK);
    assert_true(scratch >= 4 * 6400); /* the K bucket symbols, decoded once (FORMAT.md "Scratch") */
    assert_int_equal(decode_and_compare(&r, NNZ_VAL_AFFINE), 1);
    result_free(&r);
    free(model);
}

static void packed_buckets_decode_with_no_scratch(void **state)
{
    size_t len;
    uint8_t *model = model_bytes(1, dims_big, 0, &len);
    result r;
    assert_int_equal(compress(model, len, "hashnet:ratio=8", &r), 0);
    nnz_blob b;
    assert_int_equal(nnz_open(&b, r.blob, r.blob_len, 0), NNZ_OK);
    size_t out_size, scratch;
    assert_int_equal(nnz_decode_sizes(&b, 0, NNZ_OUT_F32, &out_size, &scratch), NNZ_OK);
    assert_int_equal(scratch, 0);
    float *out = malloc(out_size);
    assert_int_equal(nnz_decode(&b, 0, NNZ_OUT_F32, out, out_size, NULL, 0), NNZ_OK);
    assert_memory_equal(out, r.values[0], out_size);
    /* the payload is the 1600 buckets as float32 bits, nothing else */
    nnz_tensor_info info;
    assert_int_equal(nnz_tensor_info_get(&b, 0, &info), NNZ_OK);
    assert_int_equal(info.payload_size, 1600 * 4);
    free(out);
    result_free(&r);
    free(model);
}

static void float16_tensors_keep_half_buckets(void **state)
{
    size_t len;
    uint8_t *model = model_bytes(1, dims_111, 1, &len);
    result r;
    assert_int_equal(compress(model, len, "hashnet:ratio=4", &r), 0);
    assert_int_equal(decode_and_compare(&r, NNZ_VAL_F16), 1);
    assert_true(report_number(&r, 0, "hashnet", "bits_per_weight") < 4.2);
    result_free(&r);
    free(model);
}

/* ---- determinism ----------------------------------------------------------- */

static void the_same_seed_gives_the_same_blob(void **state)
{
    size_t len;
    uint8_t *model = model_bytes(2, dims_two, 0, &len);
    result a, b;
    assert_int_equal(compress(model, len, "hashnet:ratio=4,seed=7 | quantize:bits=8 | huffman", &a), 0);
    assert_int_equal(compress(model, len, "hashnet:ratio=4,seed=7 | quantize:bits=8 | huffman", &b), 0);
    assert_int_equal(a.blob_len, b.blob_len);
    assert_memory_equal(a.blob, b.blob, a.blob_len);
    result_free(&a);
    result_free(&b);
    free(model);
}

static void another_seed_gives_another_assignment(void **state)
{
    size_t len;
    uint8_t *model = model_bytes(2, dims_two, 0, &len);
    result a, b;
    assert_int_equal(compress(model, len, "hashnet:ratio=4", &a), 0);
    assert_int_equal(compress(model, len, "hashnet:ratio=4,seed=1", &b), 0);
    assert_true(a.blob_len != b.blob_len || memcmp(a.blob, b.blob, a.blob_len) != 0);
    for (int t = 0; t < 2; t++) {
        uint32_t sa = (uint32_t)report_number(&a, t, "hashnet", "seed");
        uint32_t sb = (uint32_t)report_number(&b, t, "hashnet", "seed");
        char name[16];
        snprintf(name, sizeof name, "w%d", t);
        assert_int_equal(sa, hashnet_tensor_seed(0, name));
        assert_int_equal(sb, hashnet_tensor_seed(1, name));
        /* most elements change bucket (the chance of keeping one is 1/K) */
        size_t moved = 0, n = 24 * 24;
        for (size_t i = 0; i < n; i++)
            moved += nnz_hash_bucket(i, sa, 144) != nnz_hash_bucket(i, sb, 144);
        assert_true(moved > n * 9 / 10);
        assert_int_equal(decode_and_compare(&b, NNZ_VAL_F32), 2);
    }
    /* two tensors of one shape get their own seeds, so their own assignment */
    assert_int_not_equal((uint32_t)report_number(&a, 0, "hashnet", "seed"),
                         (uint32_t)report_number(&a, 1, "hashnet", "seed"));
    result_free(&a);
    result_free(&b);
    free(model);
}

/* ---- reports, skips and errors --------------------------------------------- */

static void the_report_is_honest_and_warns_when_the_error_is_large(void **state)
{
    size_t len;
    uint8_t *model = model_bytes(1, dims_big, 0, &len);
    result r;
    assert_int_equal(compress(model, len, "hashnet:ratio=8", &r), 0);
    cJSON *rep = tensor_report(&r, 0);
    double rel = report_number(&r, 0, "hashnet", "rel_l2");
    /* the same figure, recomputed here from the reconstruction */
    const float *orig = (const float *)r.m->tensors[0].proto->raw_data.data;
    double se = 0, so = 0;
    for (size_t i = 0; i < 12800; i++) {
        se += ((double)orig[i] - r.values[0][i]) * ((double)orig[i] - r.values[0][i]);
        so += (double)orig[i] * orig[i];
    }
    assert_true(fabs(rel - sqrt(se / so)) < 1e-12);
    /* weights that look random to the hash: a bucket of m members keeps
     * 1/m of their energy, so the tensor keeps (non-empty buckets) / n of it,
     * (1 - e^-r) / r on average: rel_l2 ~ sqrt(1 - (1 - e^-8) / 8) = 0.935 */
    double expect = sqrt(1 - (1 - exp(-8.0)) / 8);
    if (fabs(rel - expect) > 0.01)
        fail_msg("rel_l2 %.4f, expected about %.4f", rel, expect);
    assert_int_equal(report_number(&r, 0, "hashnet", "buckets"), 1600);
    assert_true(fabs(report_number(&r, 0, "hashnet", "ratio") - 8) < 1e-12);
    assert_true(fabs(report_number(&r, 0, "hashnet", "bits_per_weight") - 4) < 1e-12);
    cJSON *w = cJSON_GetObjectItem(rep, "warnings");
    assert_int_equal(cJSON_GetArraySize(w), 1);
    const char *msg = cJSON_GetStringValue(cJSON_GetArrayItem(w, 0));
    assert_non_null(strstr(msg, "lower ratio="));
    assert_non_null(strstr(msg, "quantize:kmeans,bits=4"));
    result_free(&r);
    free(model);
}

static void small_tensors_are_left_alone_unless_asked_for(void **state)
{
    static const int64_t tiny[2][2] = { { 1, 1 }, { 3, 5 } };
    size_t len;
    uint8_t *model = model_bytes(2, tiny, 0, &len);
    result r;
    /* by default: below 16 elements, not touched (and so kept inline) */
    assert_int_equal(compress(model, len, "hashnet:ratio=2", &r), 0);
    for (int t = 0; t < 2; t++) {
        assert_null(cJSON_GetObjectItem(tensor_report(&r, t), "hashnet"));
        assert_null(r.values[t]);
    }
    result_free(&r);
    /* min-elements=1 picks them: the 15-element one is hashed, the
     * 1-element one is an error that says what to do */
    assert_int_equal(compress(model, len, "hashnet:ratio=2,min-elements=1", &r), -1);
    assert_int_equal(r.e.code, NNZ_EXIT_USAGE);
    assert_non_null(strstr(r.e.msg, "tensor 'w0': hashnet: 1 element: nothing to share"));
    assert_non_null(strstr(r.e.msg, "skip= this one"));
    assert_null(r.blob);
    result_free(&r);
    assert_int_equal(compress(model, len, "hashnet:ratio=2,min-elements=1,skip=w0", &r), 0);
    assert_int_equal(report_number(&r, 1, "hashnet", "buckets"), 8);
    assert_int_equal(decode_and_compare(&r, NNZ_VAL_F32), 1);
    result_free(&r);
    /* only= names a tensor below the floor, too */
    assert_int_equal(compress(model, len, "hashnet:buckets=3,only=w1", &r), 0);
    assert_int_equal(report_number(&r, 1, "hashnet", "buckets"), 3);
    assert_null(r.values[0]);
    result_free(&r);
    free(model);
}

static void more_buckets_than_elements_is_an_error(void **state)
{
    size_t len;
    uint8_t *model = model_bytes(1, dims_97, 0, &len);
    result r;
    assert_int_equal(compress(model, len, "hashnet:buckets=98", &r), -1);
    assert_int_equal(r.e.code, NNZ_EXIT_USAGE);
    assert_non_null(strstr(r.e.msg, "tensor 'w0': hashnet: buckets=98, but the tensor has 97 elements"));
    assert_non_null(strstr(r.e.msg, "min-elements=98"));
    assert_null(r.blob);
    result_free(&r);
    free(model);
}

static void bad_options_name_key_value_and_what_is_valid(void **state)
{
    static const struct { const char *pipeline, *needle; } c[] = {
        { "hashnet:ratio=0", "hashnet: ratio=0: expected a number in [1, 1e12]" },
        { "hashnet:ratio=0.5", "hashnet: ratio=0.5: expected a number in [1, 1e12]" },
        { "hashnet:ratio=-8", "ratio=-8: expected a number in [1, 1e12]" },
        { "hashnet:ratio=eight", "ratio=eight: expected a number" },
        { "hashnet:ratio=nan", "ratio=nan: expected a number" },
        { "hashnet:ratio=inf", "ratio=inf: expected a number" },
        { "hashnet:ratio", "ratio=(missing)" },
        { "hashnet:buckets=0", "hashnet: buckets=0: expected an integer in 1..4294967296" },
        { "hashnet:buckets=-5", "buckets=-5: expected an integer in 1..4294967296" },
        { "hashnet:buckets=4294967297", "buckets=4294967297: expected an integer in 1..4294967296" },
        { "hashnet:buckets=2.5", "buckets=2.5: expected an integer" },
        { "hashnet:ratio=8,seed=abc", "hashnet: seed=abc: expected an integer in 0..4294967295" },
        { "hashnet:ratio=8,seed=-1", "seed=-1: expected an integer in 0..4294967295" },
        { "hashnet:ratio=8,seed=4294967296", "seed=4294967296: expected an integer in 0..4294967295" },
        { "hashnet:ratio=8,sign=maybe", "hashnet: sign=maybe: expected one of on|off" },
        { "hashnet:ratio=8,buckets=100", "hashnet: give ratio= or buckets=, not both" },
        { "hashnet", "hashnet: needs ratio=R" },
        { "hashnet:seed=3", "hashnet: needs ratio=R" },
        { "hashnet:ratio=8,bits=4", "hashnet: unknown option 'bits'" },
        { "hashnet:ratio=2 | hashnet:ratio=4", "each pass may appear once" },
        { "quantize:bits=8 | hashnet:ratio=8",
          "hashnet after quantize is refused: hashnet works on float weights; hashnet first" },
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        nnz_pipeline p;
        nnz_error e = { 0 };
        if (nnz_pipeline_parse(c[i].pipeline, &p, &e) == 0)
            fail_msg("'%s' was accepted", c[i].pipeline);
        assert_int_equal(e.code, NNZ_EXIT_USAGE);
        if (!strstr(e.msg, c[i].needle))
            fail_msg("'%s': message '%s' lacks '%s'", c[i].pipeline, e.msg, c[i].needle);
    }
}

static void hashnet_composes_before_quantize_and_huffman_only(void **state)
{
    nnz_pipeline p;
    nnz_error e = { 0 };
    assert_int_equal(nnz_pipeline_parse("hashnet:ratio=8 | quantize:bits=8 | huffman", &p, &e), 0);
    assert_int_equal(p.n, 3);
    nnz_pipeline_free(&p);
    if (!nnz_pass_find("prune"))
        return; /* the prune rules need the prune pass */
    assert_int_equal(nnz_pipeline_parse("hashnet:ratio=8 | prune:sparsity=0.5", &p, &e), -1);
    assert_non_null(strstr(e.msg, "prune after hashnet is refused"));
    assert_int_equal(nnz_pipeline_parse("prune:sparsity=0.5 | hashnet:ratio=8", &p, &e), -1);
    assert_non_null(strstr(e.msg, "hashnet after prune is refused"));
}

static void huffman_after_hashnet_alone_is_refused_once_the_float_model_is_read(void **state)
{
    (void)state;
    size_t len;
    uint8_t *model = model_bytes(1, dims_97, 0, &len);
    nnz_model *m = NULL;
    nnz_error e = { 0 };
    assert_int_equal(nnz_model_load_bytes(model, len, "t.onnx", NULL, &m, &e), 0);
    nnz_pipeline p;
    /* a model quantized already would give huffman codes; this one has none */
    assert_int_equal(nnz_pipeline_parse("hashnet:ratio=8 | huffman", &p, &e), 0);
    cJSON *rep = cJSON_CreateObject();
    assert_int_equal(nnz_pipeline_prepare(&p, m, rep, &e), -1);
    assert_int_equal(e.code, NNZ_EXIT_USAGE);
    assert_non_null(strstr(e.msg, "nothing is quantized before it"));
    cJSON_Delete(rep);
    nnz_pipeline_free(&p);
    nnz_model_free(m);
    free(model);
}

static void non_finite_weights_are_refused(void **state)
{
    size_t len;
    uint8_t *model = model_bytes(1, dims_97, 0, &len);
    nnz_model *m = NULL;
    nnz_error e = { 0 };
    assert_int_equal(nnz_model_load_bytes(model, len, "t.onnx", NULL, &m, &e), 0);
    float nan = NAN;
    memcpy(m->tensors[0].proto->raw_data.data + 4 * 5, &nan, 4);
    nnz_pipeline p;
    assert_int_equal(nnz_pipeline_parse("hashnet:ratio=4", &p, &e), 0);
    cJSON *rep = cJSON_CreateObject();
    assert_int_equal(nnz_pipeline_prepare(&p, m, rep, &e), 0);
    nnz_state *st;
    assert_int_equal(nnz_pipeline_run_tensor(&p, m, 0, rep, &st, &e), -1);
    assert_int_equal(e.code, NNZ_EXIT_INPUT);
    assert_non_null(strstr(e.msg, "value 5 is NaN; hashing needs finite weights"));
    cJSON_Delete(rep);
    nnz_pipeline_free(&p);
    nnz_model_free(m);
    free(model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_reference_xxh32_gives_the_published_vectors),
        cmocka_unit_test(the_runtime_hash_is_xxh32_of_the_index_bytes),
        cmocka_unit_test(bucket_and_sign_follow_the_format),
        cmocka_unit_test(the_format_test_vectors_hold),
        cmocka_unit_test(the_format_document_lists_the_same_vectors),
        cmocka_unit_test(a_tensor_seed_chains_the_hash_over_its_name),
        cmocka_unit_test(bucket_counts_are_the_ceiling_of_n_over_ratio),
        cmocka_unit_test(fitted_buckets_beat_every_perturbation),
        cmocka_unit_test(fitted_buckets_match_a_numeric_minimiser),
        cmocka_unit_test(empty_buckets_get_zero),
        cmocka_unit_test(weights_that_are_a_hashed_net_come_back_exactly),
        cmocka_unit_test(hashed_blobs_decode_to_the_reconstruction),
        cmocka_unit_test(huffman_coded_buckets_decode_through_scratch),
        cmocka_unit_test(packed_buckets_decode_with_no_scratch),
        cmocka_unit_test(float16_tensors_keep_half_buckets),
        cmocka_unit_test(the_same_seed_gives_the_same_blob),
        cmocka_unit_test(another_seed_gives_another_assignment),
        cmocka_unit_test(the_report_is_honest_and_warns_when_the_error_is_large),
        cmocka_unit_test(small_tensors_are_left_alone_unless_asked_for),
        cmocka_unit_test(more_buckets_than_elements_is_an_error),
        cmocka_unit_test(bad_options_name_key_value_and_what_is_valid),
        cmocka_unit_test(hashnet_composes_before_quantize_and_huffman_only),
        cmocka_unit_test(huffman_after_hashnet_alone_is_refused_once_the_float_model_is_read),
        cmocka_unit_test(non_finite_weights_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
