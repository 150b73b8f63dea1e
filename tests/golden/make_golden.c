/* make_golden.c - writes the golden blobs of tests/golden once (run by
 * tests/golden/make_golden.sh; the tests never run it): small models whose
 * tensors take every encoding x value map x layout the format has, each
 * encoded from a pass state set here, and MANIFEST, with the sha256 of
 * each tensor's decoded bytes computed from what the state says the
 * values are (not from a decode). Before it writes anything it checks that
 * the runtime of today decodes every tensor to those bytes.
 *
 * Manifest lines: blob, directory index, name, output type (0 native, 3
 * int8, 4 int4), decoded bytes, sha256, then what the writer chose (layout,
 * value map, each stream's coding). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "encode.h"
#include "model.h"
#include "nnz.h"
#include "save.h"
#include "sha256.h"
#include "state.h"

#define MAXT 40

static void die(const char *what)
{
    fprintf(stderr, "make_golden: %s\n", what);
    exit(1);
}

/* A deterministic stream of numbers (xorshift), one per golden blob. */
static uint64_t rng_state;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}
static float rndf(void) { return (float)(rnd() % 2000001) / 1000000.0f - 1.0f; }

/* ---- a model: initializers, each read by an Identity node ---------------- */

typedef struct spec {
    const char *name;
    int dtype;
    int ndims;
    int64_t dims[2];
    uint8_t *raw; /* its data, little-endian */
    size_t nbytes;
} spec;

static size_t count_of(const spec *s)
{
    size_t n = 1;
    for (int d = 0; d < s->ndims; d++)
        n *= (size_t)s->dims[d];
    return n;
}

static uint8_t *model_bytes(spec *t, int n, size_t *len)
{
    Onnx__ModelProto m;
    Onnx__GraphProto g;
    Onnx__OperatorSetIdProto op, *ops = &op;
    Onnx__TensorProto ts[MAXT], *tp[MAXT];
    Onnx__NodeProto ns[MAXT], *np[MAXT];
    char *in[MAXT], *outs[MAXT], outn[MAXT][64];
    onnx__model_proto__init(&m);
    onnx__graph_proto__init(&g);
    onnx__operator_set_id_proto__init(&op);
    m.has_ir_version = 1;
    m.ir_version = 8;
    op.domain = "";
    op.has_version = 1;
    op.version = 13;
    m.n_opset_import = 1;
    m.opset_import = &ops;
    m.graph = &g;
    g.name = "golden";
    for (int i = 0; i < n; i++) {
        onnx__tensor_proto__init(&ts[i]);
        ts[i].name = (char *)t[i].name;
        ts[i].has_data_type = 1;
        ts[i].data_type = t[i].dtype;
        ts[i].n_dims = (size_t)t[i].ndims;
        ts[i].dims = t[i].dims;
        ts[i].has_raw_data = 1;
        ts[i].raw_data.data = t[i].raw;
        ts[i].raw_data.len = t[i].nbytes;
        tp[i] = &ts[i];
        onnx__node_proto__init(&ns[i]);
        ns[i].op_type = "Identity";
        in[i] = (char *)t[i].name;
        snprintf(outn[i], sizeof outn[i], "out_%s", t[i].name);
        outs[i] = outn[i];
        ns[i].n_input = 1;
        ns[i].input = &in[i];
        ns[i].n_output = 1;
        ns[i].output = &outs[i];
        np[i] = &ns[i];
    }
    g.n_initializer = (size_t)n;
    g.initializer = tp;
    g.n_node = (size_t)n;
    g.node = np;
    *len = onnx__model_proto__get_packed_size(&m);
    uint8_t *out = malloc(*len);
    if (!out)
        die("out of memory");
    onnx__model_proto__pack(&m, out);
    return out;
}

/* ---- tensors and their states --------------------------------------------- */

typedef struct golden {
    const char *file;
    spec t[MAXT];
    nnz_state *st[MAXT];
    int n;
    int dirnames; /* every name, type and shape in its directory entry */
    int share;    /* Huffman tables shared between tensors (the writer's choice) */
} golden;

static spec *add(golden *g, const char *name, int dtype, int64_t d0, int64_t d1)
{
    spec *s = &g->t[g->n++];
    s->name = name;
    s->dtype = dtype;
    s->ndims = d1 ? 2 : 1;
    s->dims[0] = d0;
    s->dims[1] = d1;
    s->nbytes = count_of(s) * nnz_dtype_size(dtype);
    s->raw = calloc(s->nbytes ? s->nbytes : 1, 1);
    return s;
}

static void fill_floats(spec *s, float (*f)(size_t k))
{
    for (size_t k = 0; k < count_of(s); k++) {
        float v = f(k);
        memcpy(s->raw + 4 * k, &v, 4);
    }
}

static float noise(size_t k) { (void)k; return rndf(); }

/* What the tool's state of tensor i says the decoded tensor is, set later
 * by a state maker: kind, codes and map. */
typedef void (*maker)(nnz_state *st, size_t n);

static int nchan_of(const spec *s) { return s->ndims == 2 ? (int)s->dims[0] : 1; }

/* Affine codes: `bits`, per channel (nchan rows) or one channel, zero
 * point zp (per channel zp + c % 3 when asym), codes from `code`. */
static void affine(nnz_state *st, const spec *s, int bits, uint32_t zp, int asym, int per_channel,
                   uint32_t (*code)(size_t k, int bits))
{
    size_t n = st->n, nch = per_channel ? (size_t)nchan_of(s) : 1;
    st->kind = NNZ_VAL_AFFINE;
    st->bits = bits;
    st->nchan = nch;
    st->inner = per_channel ? n / nch : n;
    st->axis = per_channel ? 0 : -1;
    st->scale = malloc(nch * sizeof *st->scale);
    st->zero_point = malloc(nch * sizeof *st->zero_point);
    st->codes = malloc((st->hashed ? st->nbuckets : n) * sizeof *st->codes);
    for (size_t c = 0; c < nch; c++) {
        st->scale[c] = 0.0078125f * (float)(1 + c % 5);
        st->zero_point[c] = asym ? zp + (uint32_t)(c % 3) : zp;
    }
    for (size_t k = 0; k < (st->hashed ? st->nbuckets : n); k++)
        st->codes[k] = code(k, bits);
}

/* Codes: uniform over the alphabet; bell-shaped around the middle; mostly
 * the zero point with long runs (sparse). */
static uint32_t uniform_code(size_t k, int bits) { (void)k; return rnd() % (1u << bits); }
static uint32_t bell_code(size_t k, int bits)
{
    (void)k;
    int v = 0;
    for (int j = 0; j < 4; j++)
        v += (int)(rnd() % (1u << bits));
    return (uint32_t)(v / 4);
}
/* five symbols at exactly 1/2, 1/4, 1/8, 1/16, 1/16 (a Huffman code as
 * short as their entropy, so the writer takes four lanes): around the
 * middle of the alphabet, or at multiples of 17 (a plain symbol list is
 * then smaller than gamma-coded gaps) */
static int dyadic(size_t k)
{
    size_t r = (k * 7) % 16;
    return r < 8 ? 0 : r < 12 ? 1 : r < 14 ? 2 : r < 15 ? 3 : 4;
}
/* 8 bits: symbols 0..63 at 1/128 each, 64..191 at 1/256 (runs of
 * consecutive symbols of one code length: gamma-coded gaps of 1 are
 * smaller than a symbol list), exactly, over each 256 elements */
static uint32_t two_lengths_code(size_t k, int bits)
{
    uint32_t r = (uint32_t)((k * 37) % 256);
    return (r < 128 ? r / 2 : r - 64) + 0 * (uint32_t)bits;
}
static uint32_t spaced_code(size_t k, int bits) { return (uint32_t)dyadic(k) * 17 + 0 * (uint32_t)bits; }
/* mostly one symbol: a short Huffman code */
static uint32_t peaked_code(size_t k, int bits)
{
    (void)k;
    uint32_t r = rnd() % 64;
    return r < 48 ? (1u << (bits - 1)) + 1 : r % (1u << bits);
}
static uint32_t const_code(size_t k, int bits) { (void)k; return 3u + 0 * (uint32_t)bits; }
static uint32_t run_zp; /* sparse_code's zero symbol */
static uint32_t sparse_code(size_t k, int bits)
{
    /* a few non-zero elements, some after gaps of thousands (escapes) */
    if ((k % 1500 == 7) || (k > 6000 && k % 97 == 3) || (k < 400 && k % 5 == 0))
        return (run_zp + 1 + rnd() % ((1u << bits) - 2)) % (1u << bits);
    return run_zp;
}

static nnz_state *state_of(nnz_model *m, int i)
{
    nnz_error e = { 0 };
    nnz_state *st = nnz_state_new(m, &m->tensors[i], &e);
    if (!st)
        die(e.msg);
    return st;
}

/* ---- the expected bytes ----------------------------------------------------- */

/* Tensor i's decoded bytes, from its state (or its source bytes), as the
 * output type says: native, int8 or int4 (affine codes minus zero point). */
static uint8_t *expected(const nnz_model *m, int i, const nnz_state *st, int ot, size_t *len)
{
    const nnz_tensor *t = &m->tensors[i];
    size_t n = t->count, es = nnz_dtype_size(t->dtype);
    uint8_t *o;
    if (ot != NNZ_OUT_NATIVE) { /* integer outputs of affine codes */
        *len = ot == NNZ_OUT_I8 ? n : (n + 1) / 2;
        o = calloc(*len + 1, 1);
        for (size_t k = 0; k < n; k++) {
            size_t c = st->nchan > 1 ? (k / st->inner) % st->nchan : 0;
            uint32_t code = st->hashed ? st->codes[nnz_hash_bucket(k, st->seed, st->nbuckets)]
                                       : st->codes[k];
            int q = (int)code - (int)st->zero_point[c];
            if (st->hashed && st->sign && nnz_hash_sign(k, st->seed) < 0)
                q = ot == NNZ_OUT_I8 ? (q == -128 ? 127 : -q) : (q == -8 ? 7 : -q);
            if (ot == NNZ_OUT_I8)
                o[k] = (uint8_t)q;
            else
                o[k / 2] |= (uint8_t)((q & 15) << (k % 2 ? 4 : 0));
        }
        return o;
    }
    *len = n * es;
    o = malloc(*len ? *len : 1);
    if (!st) {
        memcpy(o, t->proto->raw_data.data, *len);
        return o;
    }
    for (size_t k = 0; k < n; k++) {
        if (st->kind == NNZ_VAL_INT) {
            int64_t v = (int64_t)st->codes[k] - st->int_offset;
            for (size_t b = 0; b < es; b++)
                o[k * es + b] = (uint8_t)((uint64_t)v >> (8 * b));
        } else if (t->dtype == NNZ_DT_FLOAT) {
            memcpy(o + 4 * k, &st->values[k], 4);
        } else {
            uint16_t h = t->dtype == NNZ_DT_FLOAT16 ? nnz_float_to_half(st->values[k])
                                                    : nnz_float_to_bf16(st->values[k]);
            o[2 * k] = (uint8_t)h;
            o[2 * k + 1] = (uint8_t)(h >> 8);
        }
    }
    return o;
}

/* ---- writing -------------------------------------------------------------------- */

typedef struct ctx {
    golden *g;
    cJSON *rep[MAXT];
} ctx;

static int encode_cb(void *vc, nnz_model *m, size_t i, nnz_encoded *out, nnz_error *e)
{
    ctx *c = vc;
    if (!c->g->st[i])
        return 0;
    c->rep[i] = cJSON_CreateObject();
    return nnz_encode_tensor(&m->tensors[i], c->g->st[i], c->rep[i], out, e);
}

static int force_cb(void *vc, const nnz_model *m, size_t i)
{
    (void)m;
    return ((ctx *)vc)->g->st[i] != NULL;
}

/* layout/value map/codings of tensor i, as the writer chose them */
static void describe(const ctx *c, int i, const nnz_blob *b, uint32_t j,
                     const nnz_tensor_info *ti, char *out, size_t size)
{
    static const char *encs[] = { "raw", "dense", "sparse", "hashed", "graph", "alias", "inline" };
    const cJSON *enc = c->rep[i] ? cJSON_GetObjectItem(c->rep[i], "encoding") : NULL;
    const char *vm = enc ? cJSON_GetStringValue(cJSON_GetObjectItem(enc, "value_map")) : NULL;
    size_t k = (size_t)snprintf(out, size, "%s", encs[ti->encoding]);
    if (ti->encoding == NNZ_ENC_ALIAS || !vm)
        return;
    k += (size_t)snprintf(out + k, size - k, "/%s blocks=%llu", vm,
                          (unsigned long long)ti->nblocks);
    nnz_value_map map; /* since encoding version 5: the version and scale code bits */
    if (ti->encoding_version >= NNZ_ENC_VERSION_COMPACT && nnz_value_map_get(b, j, &map) == NNZ_OK) {
        k += (size_t)snprintf(out + k, size - k, " v%d", ti->encoding_version);
        if (map.kind == NNZ_VAL_AFFINE_LOG)
            k += (size_t)snprintf(out + k, size - k, " scale_bits=%u", map.scale_bits);
    }
    unsigned feat; /* since encoding version 6: a stream coded with another entry's table */
    if (nnz_tensor_features(b, j, &feat) == NNZ_OK && (feat & NNZ_FEAT_SHARED)) {
        k += (size_t)snprintf(out + k, size - k, " values=huffman-shared-table");
        return;
    }
    const cJSON *esc = cJSON_GetObjectItem(enc, "escape");
    if (esc)
        k += (size_t)snprintf(out + k, size - k, " escape=%d", (int)cJSON_GetNumberValue(esc));
    const char *streams[] = { "positions", "values" };
    for (int s = 0; s < 2; s++) {
        const cJSON *x = cJSON_GetObjectItem(enc, streams[s]);
        if (!x)
            continue;
        const char *coding = cJSON_GetStringValue(cJSON_GetObjectItem(x, "coding"));
        if (strcmp(coding, "packed") == 0)
            k += (size_t)snprintf(out + k, size - k, " %s=packed", streams[s]);
        else
            k += (size_t)snprintf(
                out + k, size - k, " %s=huffman-%s-x%d", streams[s],
                cJSON_GetStringValue(cJSON_GetObjectItem(x, "table")),
                (int)cJSON_GetNumberValue(cJSON_GetObjectItem(x, "lanes")));
    }
}

static int sha_write(void *ctx, const void *data, size_t size)
{
    nnz_sha256_update((nnz_sha256 *)ctx, data, size);
    return 0;
}

/* A blob with a compressed graph: MANIFEST lines for its graph (@graph:
 * the model packed with every tensor's data cut out) and its rebuilt
 * model (@model: the model packed whole; its tensors are all raw), after
 * checking that today's runtime expands and rebuilds exactly those. */
static void whole_lines(nnz_model *m, const nnz_blob *b, const char *file, FILE *manifest)
{
    uint8_t cut[MAXT], none[MAXT] = { 0 }, *graph, *model;
    uint64_t holes[MAXT], model_size;
    size_t glen, mlen, gwork, work;
    nnz_error e = { 0 };
    for (size_t i = 0; i < m->ntensors; i++)
        cut[i] = m->tensors[i].nbytes > 0;
    if (nnz_model_skeleton(m, cut, &graph, &glen, holes, &e) != 0 ||
        nnz_model_skeleton(m, none, &model, &mlen, holes, &e) != 0)
        die(e.msg);
    const uint8_t *got;
    uint8_t *gmem = malloc(1), *wmem;
    if (nnz_graph_sizes(b, &gwork) != NNZ_OK || !(gmem = realloc(gmem, gwork)) ||
        nnz_graph_get(b, gmem, gwork, &got) != NNZ_OK || b->graph_size != glen ||
        memcmp(got, graph, glen) != 0)
        die("the runtime does not expand the graph the packer made");
    if (nnz_rebuild_sizes(b, &model_size, &work) != NNZ_OK || model_size != mlen ||
        !(wmem = malloc(work + 1)))
        die("rebuild sizes");
    nnz_sha256 h;
    uint8_t d[32];
    char hex[65], want[65];
    nnz_sha256_init(&h);
    if (nnz_rebuild(b, sha_write, &h, wmem, work) != NNZ_OK)
        die("rebuild");
    nnz_sha256_final(&h, d);
    for (int k = 0; k < 32; k++)
        snprintf(hex + 2 * k, 3, "%02x", d[k]);
    nnz_sha256_hex(model, mlen, want);
    if (strcmp(hex, want) != 0)
        die("the runtime does not rebuild the model the packer made");
    nnz_sha256_hex(graph, glen, hex);
    fprintf(manifest, "%s 0 @graph 0 %zu %s graph-compressed\n", file, glen, hex);
    fprintf(manifest, "%s 0 @model 0 %zu %s rebuilt-model\n", file, mlen, want);
    free(graph);
    free(model);
    free(gmem);
    free(wmem);
}

static void write_golden(golden *g, const char *dir, FILE *manifest,
                         void (*states)(golden *g, nnz_model *m))
{
    size_t len;
    uint8_t *bytes = model_bytes(g->t, g->n, &len);
    nnz_model *m = NULL;
    nnz_error e = { 0 };
    if (nnz_model_load_bytes(bytes, len, g->file, NULL, &m, &e) != 0)
        die(e.msg);
    if ((int)m->ntensors != g->n)
        die("model tensors differ");
    states(g, m);
    ctx c = { .g = g };
    nnz_blob_writer w = { .encode = encode_cb, .force_entry = force_cb, .ctx = &c,
                          .names_in_directory = g->dirnames, .share_tables = g->share };
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, g->file);
    FILE *f = tmpfile();
    nnz_blob_stats bs;
    if (!f || nnz_blob_write(m, &w, f, &bs, &e) != 0)
        die(e.msg);
    free(bs.tensor_bytes);
    free(bs.is_entry);
    free(bs.alias_of);
    free(bs.table_of);
    free(bs.shared_coding);
    free(bs.payload_len);
    long blen = ftell(f);
    uint8_t *blob = malloc((size_t)blen);
    rewind(f);
    if (fread(blob, 1, (size_t)blen, f) != (size_t)blen)
        die("read back");
    fclose(f);

    /* every tensor decodes, with today's runtime, to what its state says */
    nnz_blob b;
    if (nnz_open(&b, blob, (size_t)blen, 0) != NNZ_OK)
        die("the blob does not open");
    for (uint32_t j = 0; j < nnz_tensor_count(&b); j++) {
        nnz_tensor_info ti;
        if (nnz_tensor_info_get(&b, j, &ti) != NNZ_OK)
            die("info");
        int i = 0;
        /* by name_bytes: since format 1.2 a name may be the graph's alone */
        while (i < g->n && (strlen(g->t[i].name) != ti.name_len ||
                            memcmp(g->t[i].name, ti.name_bytes, ti.name_len) != 0))
            i++;
        if (i == g->n)
            die("a tensor the blob names is not the model's");
        const nnz_state *st = g->st[i];
        int ots[3] = { NNZ_OUT_NATIVE, -1, -1 };
        if (st && st->kind == NNZ_VAL_AFFINE && st->bits <= 8) {
            ots[1] = NNZ_OUT_I8;
            if (st->bits <= 4 && st->zero_point[0] == (1u << (st->bits - 1)))
                ots[2] = NNZ_OUT_I4;
        }
        char what[200];
        describe(&c, i, &b, j, &ti, what, sizeof what);
        for (int k = 0; k < 3; k++) {
            if (ots[k] < 0)
                continue;
            size_t want_len, osz, ssz;
            uint8_t *want = expected(m, i, st, ots[k], &want_len);
            if (nnz_decode_sizes(&b, j, ots[k], &osz, &ssz) != NNZ_OK || osz != want_len)
                die("decode sizes");
            uint8_t *got = malloc(osz + 1), *scratch = malloc(ssz + 1);
            if (nnz_decode(&b, j, ots[k], got, osz, scratch, ssz) != NNZ_OK ||
                memcmp(got, want, osz) != 0) {
                fprintf(stderr, "%s: %s out %d\n", g->file, g->t[i].name, ots[k]);
                die("the runtime does not decode what the state says");
            }
            char hex[65];
            nnz_sha256_hex(want, want_len, hex);
            fprintf(manifest, "%s %u %s %d %zu %s %s\n", g->file, j, g->t[i].name, ots[k], want_len,
                    hex, what);
            free(got);
            free(scratch);
            free(want);
        }
    }
    if (b.graph_packed) /* the graph and the model, from the packer */
        whole_lines(m, &b, g->file, manifest);
    FILE *o = fopen(path, "wb");
    if (!o || fwrite(blob, 1, (size_t)blen, o) != (size_t)blen || fclose(o) != 0)
        die("cannot write the blob");
    printf("%s: %ld bytes, %u tensors\n", g->file, blen, nnz_tensor_count(&b));
    free(blob);
    for (int i = 0; i < g->n; i++) {
        nnz_state_free(g->st[i]);
        cJSON_Delete(c.rep[i]);
        free(g->t[i].raw);
    }
    nnz_model_free(m);
    free(bytes);
}

/* ---- the blobs -------------------------------------------------------------------- */

/* raw: float32 and float16 noise, an int8 tensor, and tensors small enough
 * to stay in the graph (encoding graph) */
static void raw_states(golden *g, nnz_model *m) { (void)g; (void)m; }
static void raw_blob(golden *g)
{
    fill_floats(add(g, "f32_noise", NNZ_DT_FLOAT, 12, 10), noise);
    spec *h = add(g, "f16_noise", NNZ_DT_FLOAT16, 70, 0);
    for (size_t k = 0; k < 70; k++) {
        uint16_t v = nnz_float_to_half(rndf() * 8);
        memcpy(h->raw + 2 * k, &v, 2);
    }
    spec *i8 = add(g, "i8_data", NNZ_DT_INT8, 80, 0);
    for (size_t k = 0; k < 80; k++)
        i8->raw[k] = (uint8_t)rnd();
    spec *sm = add(g, "small_i64", NNZ_DT_INT64, 3, 0);
    for (size_t k = 0; k < 24; k++)
        sm->raw[k] = (uint8_t)(k % 8 == 0 ? k + 1 : 0);
    fill_floats(add(g, "small_f32", NNZ_DT_FLOAT, 2, 3), noise);
}

/* affine: packed per-channel 8-bit symmetric (one zero point), 4-bit
 * asymmetric (a zero point per channel), 4-bit symmetric per tensor;
 * Huffman in one lane (list table) and four lanes (gamma table), in blocks */
static void affine_states(golden *g, nnz_model *m)
{
    for (int i = 0; i < g->n; i++)
        g->st[i] = state_of(m, i);
    affine(g->st[0], &g->t[0], 8, 128, 0, 1, uniform_code);
    affine(g->st[1], &g->t[1], 4, 5, 1, 1, uniform_code);
    affine(g->st[2], &g->t[2], 4, 8, 0, 0, uniform_code);
    affine(g->st[3], &g->t[3], 6, 32, 0, 1, peaked_code);
    g->st[3]->entropy = 1;
    affine(g->st[4], &g->t[4], 8, 128, 0, 1, two_lengths_code);
    g->st[4]->entropy = 1;
    affine(g->st[5], &g->t[5], 4, 8, 0, 1, bell_code);
    g->st[5]->entropy = 1;
    g->st[5]->block_log2 = 9;
    affine(g->st[6], &g->t[6], 7, 64, 0, 1, bell_code);
    g->st[6]->entropy = 1;
    g->st[6]->block_log2 = 8;
    affine(g->st[7], &g->t[7], 8, 128, 0, 1, spaced_code);
    g->st[7]->entropy = 1;
    affine(g->st[8], &g->t[8], 3, 4, 0, 0, const_code);
    g->st[8]->entropy = 1;
    for (int i = 0; i < g->n; i++)
        nnz_state_reconstruct(g->st[i]);
}
static void affine_blob(golden *g)
{
    add(g, "packed_u8_sym", NNZ_DT_FLOAT, 8, 16);
    add(g, "packed_u4_asym", NNZ_DT_FLOAT, 6, 15);
    add(g, "packed_u4_tensor", NNZ_DT_FLOAT, 1, 75);
    add(g, "huff_one_lane", NNZ_DT_FLOAT, 4, 24);
    add(g, "huff_four_lanes", NNZ_DT_FLOAT, 64, 128);
    add(g, "huff_blocks_u4", NNZ_DT_FLOAT, 16, 130);
    add(g, "huff_f16_blocks", NNZ_DT_FLOAT16, 8, 100);
    add(g, "huff_list_lanes", NNZ_DT_FLOAT, 64, 128);
    add(g, "huff_one_symbol", NNZ_DT_FLOAT, 5, 50);
}

/* sparse: affine with escapes (gaps of thousands), packed and Huffman, in
 * blocks; float32 values (pruned, not quantized) */
static void sparse_states(golden *g, nnz_model *m)
{
    for (int i = 0; i < g->n; i++)
        g->st[i] = state_of(m, i);
    run_zp = 128;
    affine(g->st[0], &g->t[0], 8, 128, 0, 1, sparse_code);
    run_zp = 8;
    affine(g->st[1], &g->t[1], 4, 8, 0, 1, sparse_code);
    g->st[1]->entropy = 1;
    g->st[1]->block_log2 = 11;
    nnz_state *st = g->st[2]; /* float32 values, most exactly 0 */
    for (size_t k = 0; k < st->n; k++)
        st->values[k] = k % 13 == 5 || k % 700 < 3 ? st->values[k] : 0.0f;
    for (int i = 0; i < 2; i++)
        nnz_state_reconstruct(g->st[i]);
}
static void sparse_blob(golden *g)
{
    add(g, "sparse_packed", NNZ_DT_FLOAT, 64, 150);
    add(g, "sparse_huff_blocks", NNZ_DT_FLOAT, 64, 150);
    fill_floats(add(g, "sparse_f32", NNZ_DT_FLOAT, 20, 100), noise);
}

/* hashed: packed affine buckets with signs, Huffman affine buckets, float
 * buckets */
static void hashed_states(golden *g, nnz_model *m)
{
    static const size_t k[3] = { 40, 300, 25 };
    for (int i = 0; i < g->n; i++) {
        nnz_state *st = g->st[i] = state_of(m, i);
        st->hashed = 1;
        st->seed = 0x1234567u * (uint32_t)(i + 1);
        st->sign = i != 1;
        st->nbuckets = k[i];
        st->buckets = malloc(k[i] * sizeof *st->buckets);
        for (size_t j = 0; j < k[i]; j++)
            st->buckets[j] = rndf();
    }
    affine(g->st[0], &g->t[0], 4, 8, 0, 0, uniform_code);
    affine(g->st[1], &g->t[1], 4, 8, 0, 0, peaked_code);
    g->st[1]->entropy = 1;
    for (int i = 0; i < g->n; i++)
        nnz_state_reconstruct(g->st[i]);
}
static void hashed_blob(golden *g)
{
    add(g, "hashed_packed_sign", NNZ_DT_FLOAT, 16, 20);
    add(g, "hashed_huffman", NNZ_DT_FLOAT, 30, 80);
    add(g, "hashed_f32", NNZ_DT_FLOAT, 10, 10);
}

/* codebook (packed, Huffman); integer maps (int8 Huffman, uint8, int16);
 * float16 and bfloat16 bit maps with Huffman */
static void maps_states(golden *g, nnz_model *m)
{
    for (int i = 0; i < g->n; i++)
        if (i != 4)
            g->st[i] = state_of(m, i);
    for (int i = 0; i < 2; i++) {
        nnz_state *st = g->st[i];
        st->kind = NNZ_VAL_CODEBOOK;
        st->bits = i ? 5 : 3;
        st->ncodebook = (size_t)1 << st->bits;
        st->codebook = malloc(st->ncodebook * sizeof *st->codebook);
        for (size_t j = 0; j < st->ncodebook; j++)
            st->codebook[j] = (float)j * 0.25f - 1.0f;
        st->codes = malloc(st->n * sizeof *st->codes);
        for (size_t j = 0; j < st->n; j++)
            st->codes[j] = i ? bell_code(j, 5) : uniform_code(j, 3);
        st->entropy = i;
        nnz_state_reconstruct(st);
    }
    /* an int16 tensor (no pass makes its state): the integer map by hand,
     * offset 300 */
    nnz_state *st = g->st[4] = calloc(1, sizeof *st);
    st->n = m->tensors[4].count;
    st->axis = -1;
    st->kind = NNZ_VAL_INT;
    st->bits = 10;
    st->int_offset = 300;
    st->codes = malloc(st->n * sizeof *st->codes);
    for (size_t j = 0; j < st->n; j++) {
        int16_t v;
        memcpy(&v, g->t[4].raw + 2 * j, 2);
        st->codes[j] = (uint32_t)(v + 300);
    }
    for (int i = 2; i < g->n; i++)
        g->st[i]->entropy = 1; /* lossless: integer and half-float bits */
}
static void maps_blob(golden *g)
{
    add(g, "codebook_packed", NNZ_DT_FLOAT, 10, 10);
    add(g, "codebook_huffman", NNZ_DT_FLOAT, 20, 50);
    spec *i8 = add(g, "int8_huffman", NNZ_DT_INT8, 40, 30);
    for (size_t k = 0; k < 1200; k++)
        i8->raw[k] = (uint8_t)(int8_t)((int)(bell_code(k, 5)) - 16);
    spec *u8 = add(g, "uint8_values", NNZ_DT_UINT8, 300, 0);
    for (size_t k = 0; k < 300; k++)
        u8->raw[k] = (uint8_t)(rnd() % 200);
    spec *i16 = add(g, "int16_offset", NNZ_DT_INT16, 100, 0);
    for (size_t k = 0; k < 100; k++) {
        int16_t v = (int16_t)((int)(rnd() % 1000) - 300);
        memcpy(i16->raw + 2 * k, &v, 2);
    }
    spec *h = add(g, "f16_bits_huffman", NNZ_DT_FLOAT16, 30, 40);
    for (size_t k = 0; k < 1200; k++) {
        uint16_t v = nnz_float_to_half((float)((int)bell_code(k, 4) - 8) * 0.125f);
        memcpy(h->raw + 2 * k, &v, 2);
    }
    spec *bf = add(g, "bf16_bits_huffman", NNZ_DT_BFLOAT16, 30, 40);
    for (size_t k = 0; k < 1200; k++) {
        uint16_t v = nnz_float_to_bf16((float)((int)bell_code(k, 4) - 8) * 0.5f);
        memcpy(bf->raw + 2 * k, &v, 2);
    }
}

/* alias: repeats of a raw tensor, of a Huffman tensor in blocks, of a
 * sparse one; a graph entry between them */
static void alias_states(golden *g, nnz_model *m)
{
    for (int i = 0; i < g->n; i++) {
        if (g->t[i].dtype != NNZ_DT_FLOAT || strstr(g->t[i].name, "raw") ||
            strstr(g->t[i].name, "tiny"))
            continue;
        g->st[i] = state_of(m, i);
    }
    uint64_t keep = rng_state;
    for (int i = 0; i < g->n; i++) { /* the same codes for each copy */
        if (!g->st[i])
            continue;
        rng_state = keep + (strstr(g->t[i].name, "blocks") ? 1 : 2);
        if (strstr(g->t[i].name, "blocks")) {
            affine(g->st[i], &g->t[i], 5, 16, 0, 1, bell_code);
            g->st[i]->entropy = 1;
            g->st[i]->block_log2 = 8;
        } else {
            run_zp = 8;
            affine(g->st[i], &g->t[i], 4, 8, 0, 1, sparse_code);
        }
        nnz_state_reconstruct(g->st[i]);
    }
}
static void alias_blob(golden *g)
{
    spec *r = add(g, "raw_a", NNZ_DT_FLOAT, 4, 8);
    fill_floats(r, noise);
    spec *r2 = add(g, "raw_b", NNZ_DT_FLOAT, 4, 8);
    memcpy(r2->raw, r->raw, r->nbytes);
    add(g, "blocks_a", NNZ_DT_FLOAT, 10, 100);
    fill_floats(add(g, "tiny", NNZ_DT_FLOAT, 3, 0), noise);
    add(g, "sparse_a", NNZ_DT_FLOAT, 40, 200);
    add(g, "blocks_b", NNZ_DT_FLOAT, 10, 100);
    add(g, "sparse_b", NNZ_DT_FLOAT, 40, 200);
    add(g, "blocks_c", NNZ_DT_FLOAT, 10, 100);
}

/* logscale: value map 6 (per-channel scales on the 2^(k/16) grid), its
 * codes a byte each (encoding version 3: they span 8 bits) and packed
 * (version 4: 3 bits; 0 bits, one code for all; 5 bits under Huffman) */
static uint32_t log_code(int i, size_t c)
{
    switch (i) {
    case 0: return (uint32_t)((c * 23) % 256);
    case 1: return 100 + (uint32_t)((c * 5) % 8);
    case 2: return 77;
    default: return 60 + (uint32_t)((c * 3) % 32);
    }
}
static void logscale_states(golden *g, nnz_model *m)
{
    for (int i = 0; i < g->n; i++) {
        g->st[i] = state_of(m, i);
        affine(g->st[i], &g->t[i], 8, 128, 0, 1, i == 3 ? bell_code : uniform_code);
        for (size_t c = 0; c < g->st[i]->nchan; c++)
            g->st[i]->scale[c] = nnz_log_scale(log_code(i, c), -20);
        g->st[i]->entropy = i == 3;
        nnz_state_reconstruct(g->st[i]);
    }
}
static void logscale_blob(golden *g)
{
    add(g, "log_bytes", NNZ_DT_FLOAT, 12, 16);
    add(g, "log_packed", NNZ_DT_FLOAT, 40, 9);
    add(g, "log_one_code", NNZ_DT_FLOAT, 8, 20);
    add(g, "log_packed_huff", NNZ_DT_FLOAT, 16, 64);
}

/* format2: format 2's directory (two runs of 16 entries, entries described
 * by the graph, an in-graph entry, an alias) and encoding version 5: scale
 * codes of 9 bits (channels 25 binades apart), packed and under Huffman;
 * zero points per channel (a u32 each) and shared (a varint); sparse (the
 * positions' length stored, the values' implied); hashed; a per-tensor
 * scale. format2_named: the same forms with every name, type and shape in
 * its entry (not described by the graph). */
static uint32_t wide_code(size_t c) { return (uint32_t)((c * 37) % 400); }
static void wide(nnz_state *st, const spec *s, uint32_t (*code)(size_t k, int bits))
{
    affine(st, s, 8, 128, 0, 1, code);
    for (size_t c = 0; c < st->nchan; c++)
        st->scale[c] = nnz_log_scale(wide_code(c), -30);
}
static void format2_states(golden *g, nnz_model *m)
{
    uint64_t keep = rng_state;
    for (int i = 0; i < g->n; i++) {
        const char *n = g->t[i].name;
        if (strstr(n, "raw") || strstr(n, "tiny"))
            continue;
        nnz_state *st = g->st[i] = state_of(m, i);
        if (strstr(n, "wide")) {
            rng_state = keep; /* f2_wide_again repeats f2_wide: an alias */
            wide(st, &g->t[i], strstr(n, "huff") ? bell_code : uniform_code);
            st->entropy = strstr(n, "huff") != NULL;
        } else if (strstr(n, "asym")) {
            affine(st, &g->t[i], 4, 3, 1, 1, uniform_code);
        } else if (strstr(n, "sparse")) {
            run_zp = 8;
            affine(st, &g->t[i], 4, 8, 0, 1, sparse_code);
            st->entropy = strstr(n, "huff") != NULL;
            st->block_log2 = st->entropy ? 11 : 0;
        } else if (strstr(n, "hashed")) {
            st->hashed = 1;
            st->seed = 77;
            st->sign = 1;
            st->nbuckets = 50;
            st->buckets = malloc(50 * sizeof *st->buckets);
            for (size_t j = 0; j < 50; j++)
                st->buckets[j] = rndf();
            affine(st, &g->t[i], 4, 8, 0, 0, uniform_code);
        } else { /* per tensor */
            affine(st, &g->t[i], 8, 128, 0, 0, bell_code);
        }
        nnz_state_reconstruct(st);
    }
}
static void format2_blob(golden *g)
{
    add(g, "f2_wide", NNZ_DT_FLOAT, 24, 16);
    add(g, "f2_wide_huff", NNZ_DT_FLOAT, 32, 64);
    add(g, "f2_asym", NNZ_DT_FLOAT, 12, 30);
    add(g, "f2_sparse", NNZ_DT_FLOAT, 64, 150);
    add(g, "f2_sparse_huff", NNZ_DT_FLOAT, 64, 150);
    add(g, "f2_hashed", NNZ_DT_FLOAT, 16, 20);
    add(g, "f2_tensor", NNZ_DT_FLOAT, 30, 20);
    static const char *raw[12] = { "f2_raw_0", "f2_raw_1", "f2_raw_2", "f2_raw_3",
                                   "f2_raw_4", "f2_raw_5", "f2_raw_6", "f2_raw_7",
                                   "f2_raw_8", "f2_raw_9", "f2_raw_10", "f2_raw_11" };
    for (int k = 0; k < 12; k++)
        fill_floats(add(g, raw[k], NNZ_DT_FLOAT, 4, 8 + k), noise);
    fill_floats(add(g, "f2_tiny", NNZ_DT_FLOAT, 3, 0), noise);
    add(g, "f2_wide_again", NNZ_DT_FLOAT, 24, 16);
}
static void format2_named_blob(golden *g)
{
    g->dirnames = 1;
    add(g, "f2_wide", NNZ_DT_FLOAT, 24, 16);
    add(g, "f2_sparse", NNZ_DT_FLOAT, 64, 150);
    fill_floats(add(g, "f2_raw_0", NNZ_DT_FLOAT, 4, 8), noise);
    fill_floats(add(g, "f2_tiny", NNZ_DT_FLOAT, 3, 0), noise);
}

/* graph_packed: a compressed graph section (format 2.1): 24 raw tensors
 * whose long names the graph repeats (initializer, node input, node
 * output), two tiny ones the stored graph would hold (now payloads of
 * their own) and a repeat of the first (an alias). Its lines in MANIFEST
 * include the expanded graph (@graph) and the rebuilt model (@model),
 * computed by the model packer, not by the runtime. */
static void graph_packed_blob(golden *g)
{
    static char names[24][48];
    for (int k = 0; k < 24; k++) {
        snprintf(names[k], sizeof names[k], "encoder/layers.%d/self_attn/%s_proj/weight", k / 4,
                 (const char *[]){ "q", "k", "v", "out" }[k % 4]);
        fill_floats(add(g, names[k], NNZ_DT_FLOAT, 4, 8), noise);
    }
    fill_floats(add(g, "encoder/layers.0/self_attn/scale", NNZ_DT_FLOAT, 3, 0), noise);
    fill_floats(add(g, "encoder/layers.1/self_attn/scale", NNZ_DT_FLOAT, 2, 0), noise);
    spec *again = add(g, "encoder/layers.0/self_attn/q_proj/weight_again", NNZ_DT_FLOAT, 4, 8);
    memcpy(again->raw, g->t[0].raw, again->nbytes);
}
static void no_states(golden *g, nnz_model *m) { (void)g; (void)m; }
/* shared: Huffman tables shared between tensors (encoding version 6,
 * stream codings 5 and 6): two 8-bit bell-shaped tensors and a small one
 * of the same bell (one table, in the first's stream; the others one lane
 * and four lanes without it), a repeat of a sharer (an alias of it), and
 * two 4-bit tensors between them (another width: their own group or
 * none), so a reader that keeps tables across calls meets a table change */
static void shared_states(golden *g, nnz_model *m)
{
    uint64_t keep = rng_state;
    for (int i = 0; i < g->n; i++) {
        const char *n = g->t[i].name;
        g->st[i] = state_of(m, i);
        if (strstr(n, "b_again") || !strcmp(n, "sh_b"))
            rng_state = keep ^ 0x5bd1e995u; /* sh_b_again repeats sh_b */
        affine(g->st[i], &g->t[i], strstr(n, "narrow") ? 4 : 8, strstr(n, "narrow") ? 8 : 128, 0,
               0, bell_code);
        g->st[i]->entropy = 1;
        nnz_state_reconstruct(g->st[i]);
    }
}
static void shared_blob(golden *g)
{
    g->share = 1;
    add(g, "sh_a", NNZ_DT_FLOAT, 64, 64);
    add(g, "sh_narrow_a", NNZ_DT_FLOAT, 40, 40);
    add(g, "sh_b", NNZ_DT_FLOAT, 48, 64);
    add(g, "sh_narrow_b", NNZ_DT_FLOAT, 40, 40);
    add(g, "sh_small", NNZ_DT_FLOAT, 12, 18);
    add(g, "sh_b_again", NNZ_DT_FLOAT, 48, 64);
}

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: make_golden DIR [BLOB]\n");
        return 2;
    }
    static const struct {
        const char *file;
        void (*tensors)(golden *g);
        void (*states)(golden *g, nnz_model *m);
    } blobs[] = {
        { "raw.nnz", raw_blob, raw_states },       { "affine.nnz", affine_blob, affine_states },
        { "sparse.nnz", sparse_blob, sparse_states }, { "hashed.nnz", hashed_blob, hashed_states },
        { "maps.nnz", maps_blob, maps_states },    { "alias.nnz", alias_blob, alias_states },
        { "logscale.nnz", logscale_blob, logscale_states },
        { "format2.nnz", format2_blob, format2_states },
        { "format2_named.nnz", format2_named_blob, format2_states },
        { "graph_packed.nnz", graph_packed_blob, no_states },
        { "shared.nnz", shared_blob, shared_states },
    };
    /* BLOB: write that one alone and add its lines to MANIFEST (a new
     * format feature's blob; the others are never regenerated) */
    const char *only = argc == 3 ? argv[2] : NULL;
    char path[512];
    snprintf(path, sizeof path, "%s/MANIFEST", argv[1]);
    FILE *manifest = fopen(path, only ? "a" : "w");
    if (!manifest)
        die("cannot write MANIFEST");
    if (!only)
        fprintf(manifest, "# blob index name out_type bytes sha256 what (tests/golden/README.md)\n");
    for (size_t k = 0; k < sizeof blobs / sizeof blobs[0]; k++) {
        if (only && strcmp(only, blobs[k].file) != 0)
            continue;
        golden g;
        memset(&g, 0, sizeof g);
        g.file = blobs[k].file;
        rng_state = 0x9e3779b97f4a7c15u + k;
        blobs[k].tensors(&g);
        write_golden(&g, argv[1], manifest, blobs[k].states);
    }
    return fclose(manifest) == 0 ? 0 : 1;
}
