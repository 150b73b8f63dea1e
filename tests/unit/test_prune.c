/* test_prune.c - the prune pass: how many weights it prunes and which,
 * the threshold and global rules against brute force, the error target,
 * whole channels, what it refuses, and that the zeros reach the device
 * exactly through a real blob and the runtime decoder. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blob.h"
#include "encode.h"
#include "infer_calib.h"
#include "model.h"
#include "nnz.h"
#include "pass.h"
#include "prune.h"
#include "state.h"
#include "util_blob.h"

/* ---- models built in memory --------------------------------------------------- */

#define MAXW 8

/* One node per weight: OP(x, W) (Gather(W, idx), DequantizeLinear(W, s)). */
typedef struct builder {
    Onnx__ModelProto m;
    Onnx__GraphProto g;
    Onnx__OperatorSetIdProto op, *ops;
    Onnx__TensorProto t[MAXW], *tp[MAXW];
    Onnx__NodeProto n[MAXW], *np[MAXW];
    Onnx__AttributeProto a[MAXW], *ap[MAXW];
    char *in[MAXW][2], *out[MAXW][1];
    char names[MAXW][2][16];
    int64_t dims[MAXW][4];
    void *data[MAXW];
} builder;

static void b_init(builder *b)
{
    memset(b, 0, sizeof *b);
    tu_model_init(&b->m, &b->g, &b->op, &b->ops, 13, "g");
    b->g.initializer = b->tp;
    b->g.node = b->np;
}

/* Add weight `name` (dtype, dims) read by a node `op`; `bytes` are copied.
 * transB >= 0 sets Gemm's transB attribute. */
static void b_weight(builder *b, const char *op, const char *name, int dtype, const int64_t *dims,
                     int nd, const void *bytes, size_t nbytes, int transB)
{
    size_t i = b->g.n_initializer++;
    Onnx__TensorProto *t = &b->t[i];
    onnx__tensor_proto__init(t);
    snprintf(b->names[i][0], 16, "%s", name);
    snprintf(b->names[i][1], 16, "y%zu", i);
    t->name = b->names[i][0];
    t->has_data_type = 1;
    t->data_type = dtype;
    memcpy(b->dims[i], dims, (size_t)nd * sizeof *dims);
    t->dims = b->dims[i];
    t->n_dims = (size_t)nd;
    b->data[i] = malloc(nbytes);
    memcpy(b->data[i], bytes, nbytes);
    t->has_raw_data = 1;
    t->raw_data.data = b->data[i];
    t->raw_data.len = nbytes;
    b->tp[i] = t;
    Onnx__NodeProto *n = &b->n[i];
    onnx__node_proto__init(n);
    n->op_type = (char *)op;
    int first = strcmp(op, "Gather") == 0 || strcmp(op, "DequantizeLinear") == 0;
    b->in[i][0] = first ? b->names[i][0] : "x";
    b->in[i][1] = first ? "aux" : b->names[i][0];
    n->input = b->in[i];
    n->n_input = 2;
    b->out[i][0] = b->names[i][1];
    n->output = b->out[i];
    n->n_output = 1;
    if (transB >= 0) {
        Onnx__AttributeProto *a = &b->a[i];
        onnx__attribute_proto__init(a);
        a->name = "transB";
        a->has_type = 1;
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        a->has_i = 1;
        a->i = transB;
        b->ap[i] = a;
        n->attribute = &b->ap[i];
        n->n_attribute = 1;
    }
    b->np[i] = n;
    b->g.n_node++;
}

static void b_float(builder *b, const char *op, const char *name, const int64_t *dims, int nd,
                    const float *v, int transB)
{
    size_t n = 1;
    for (int d = 0; d < nd; d++)
        n *= (size_t)dims[d];
    b_weight(b, op, name, NNZ_DT_FLOAT, dims, nd, v, n * 4, transB);
}

static nnz_model *b_load(builder *b)
{
    size_t len = onnx__model_proto__get_packed_size(&b->m);
    uint8_t *p = malloc(len);
    onnx__model_proto__pack(&b->m, p);
    for (size_t i = 0; i < b->g.n_initializer; i++)
        free(b->data[i]);
    nnz_model *m = tu_load(p, len);
    free(p);
    return m;
}

/* Deterministic pseudo-Gaussian values (sum of uniforms), times `scale`. */
static void fill(float *v, size_t n, uint32_t seed, float scale)
{
    uint32_t s = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; i++) {
        double sum = 0;
        for (int k = 0; k < 4; k++) {
            s = s * 1664525u + 1013904223u;
            sum += (double)(s >> 8) / 16777216.0;
        }
        v[i] = (float)((sum - 2.0) * scale);
    }
}

/* A model of MatMul weights named w0.. with the given sizes (k x k), values
 * from fill(seed i+1) times scale[i]. */
static nnz_model *matmul_model(int nw, const int *k, const float *scale)
{
    builder b;
    b_init(&b);
    for (int i = 0; i < nw; i++) {
        int64_t d[2] = { k[i], k[i] };
        size_t n = (size_t)(k[i] * k[i]);
        float *v = malloc(n * sizeof *v);
        fill(v, n, (uint32_t)i + 1, scale ? scale[i] : 1.0f);
        char name[16];
        snprintf(name, sizeof name, "w%d", i);
        b_float(&b, "MatMul", name, d, 2, v, -1);
        free(v);
    }
    return b_load(&b);
}

/* ---- running a pipeline ---------------------------------------------------------- */

typedef struct outcome {
    nnz_model *m;
    cJSON *report;
    nnz_state **st; /* per tensor; NULL where no stage ran */
    nnz_error e;
    int rc;
} outcome;

static outcome run_on(nnz_model *m, const char *pipeline)
{
    outcome o;
    memset(&o, 0, sizeof o);
    o.m = m;
    o.report = cJSON_CreateObject();
    o.st = calloc(m->ntensors + 1, sizeof *o.st);
    nnz_pipeline p;
    o.rc = nnz_pipeline_parse(pipeline, &p, &o.e);
    if (o.rc != 0)
        return o;
    o.rc = nnz_pipeline_prepare(&p, m, o.report, &o.e);
    for (size_t i = 0; o.rc == 0 && i < m->ntensors; i++)
        o.rc = nnz_pipeline_run_tensor(&p, m, i, o.report, &o.st[i], &o.e);
    nnz_pipeline_free(&p);
    return o;
}

/* Free the states and the report, not the model. */
static void outcome_release(outcome *o)
{
    for (size_t i = 0; o->m && i < o->m->ntensors; i++)
        nnz_state_free(o->st[i]);
    free(o->st);
    cJSON_Delete(o->report);
}

static void outcome_free(outcome *o)
{
    outcome_release(o);
    nnz_model_free(o->m);
}

static cJSON *tensor_rep(const outcome *o, size_t i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItem(o->report, "tensors"), (int)i);
}

static double prune_num(const outcome *o, size_t i, const char *key)
{
    cJSON *x = cJSON_GetObjectItem(cJSON_GetObjectItem(tensor_rep(o, i), "prune"), key);
    if (!cJSON_IsNumber(x))
        fail_msg("tensor %zu: no prune.%s in the report", i, key);
    return x->valuedouble;
}

static void expect_ok(const outcome *o)
{
    if (o->rc != 0)
        fail_msg("failed: %s", o->e.msg);
}

static void expect_error(const char *pipeline, nnz_model *m, int code, const char *needle)
{
    outcome o = run_on(m, pipeline);
    if (o.rc == 0)
        fail_msg("'%s' succeeded; expected an error with '%s'", pipeline, needle);
    if (o.e.code != code || !strstr(o.e.msg, needle))
        fail_msg("'%s': code %d, message '%s'; expected code %d with '%s'", pipeline, o.e.code,
                 o.e.msg, code, needle);
    outcome_release(&o);
}

static size_t zeros_of(const nnz_state *st)
{
    size_t z = 0;
    for (size_t i = 0; i < st->n; i++)
        z += st->values[i] == 0;
    return z;
}

/* The reference order: |w| ascending, ties by index (a stable, plain sort). */
typedef struct ref_key {
    double a;
    size_t i;
} ref_key;

static int cmp_ref(const void *x, const void *y)
{
    const ref_key *p = x, *q = y;
    if (p->a != q->a)
        return p->a < q->a ? -1 : 1;
    return p->i < q->i ? -1 : p->i > q->i;
}

/* Which weights the reference prunes: the k first of the order. */
static uint8_t *ref_pruned(const float *v, size_t n, size_t k)
{
    ref_key *r = malloc(n * sizeof *r);
    uint8_t *cut = calloc(n, 1);
    for (size_t i = 0; i < n; i++) {
        r[i].a = fabs((double)v[i]);
        r[i].i = i;
    }
    qsort(r, n, sizeof *r, cmp_ref);
    for (size_t j = 0; j < k; j++)
        cut[r[j].i] = 1;
    free(r);
    return cut;
}

static double ref_std(const float *v, size_t n)
{
    double mean = 0, ss = 0;
    for (size_t i = 0; i < n; i++)
        mean += v[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++)
        ss += ((double)v[i] - mean) * ((double)v[i] - mean);
    return sqrt(ss / (double)n);
}

/* ---- how many, and which ------------------------------------------------------------ */

static void sparsity_prunes_exactly_round_s_times_n_weights(void **state)
{
    static const double s[] = { 0, 0.1, 0.25, 0.3, 0.5, 0.7, 0.9, 0.95, 0.99 };
    static const int k[] = { 7, 10, 33 }; /* 49, 100, 1089 weights */
    for (size_t a = 0; a < sizeof s / sizeof s[0]; a++) {
        char pipe[64];
        snprintf(pipe, sizeof pipe, "prune:sparsity=%g", s[a]);
        outcome o = run_on(matmul_model(3, k, NULL), pipe);
        expect_ok(&o);
        for (size_t i = 0; i < 3; i++) {
            size_t n = (size_t)(k[i] * k[i]);
            size_t want = (size_t)floor(s[a] * (double)n + 0.5);
            if (want == n)
                want = n - 1; /* never a layer of zeros */
            assert_int_equal(zeros_of(o.st[i]), want);
            assert_int_equal((size_t)prune_num(&o, i, "pruned"), want);
            assert_int_equal((size_t)prune_num(&o, i, "kept"), n - want);
            assert_true(fabs(prune_num(&o, i, "sparsity") - (double)want / (double)n) < 1e-15);
            assert_int_equal(o.st[i]->pruned, want > 0);
        }
        outcome_free(&o);
    }
}

static void the_kept_weights_are_exactly_the_largest_magnitudes(void **state)
{
    static const int k[] = { 40 };
    outcome o = run_on(matmul_model(1, k, NULL), "prune:sparsity=0.8");
    expect_ok(&o);
    const nnz_state *st = o.st[0];
    double max_pruned = 0, min_kept = INFINITY;
    for (size_t i = 0; i < st->n; i++) {
        if (st->values[i] == 0) {
            max_pruned = fmax(max_pruned, fabs(st->orig[i]));
        } else {
            min_kept = fmin(min_kept, fabs(st->orig[i]));
            assert_memory_equal(&st->values[i], &st->orig[i], 4); /* untouched, bit for bit */
        }
    }
    assert_true(max_pruned <= min_kept);
    uint8_t *ref = ref_pruned(st->orig, st->n, (size_t)prune_num(&o, 0, "pruned"));
    for (size_t i = 0; i < st->n; i++)
        assert_int_equal(st->values[i] == 0, ref[i]);
    /* the reported threshold is the smallest kept magnitude */
    assert_true(prune_num(&o, 0, "threshold") == min_kept);
    free(ref);
    outcome_free(&o);
}

static void equal_magnitudes_are_pruned_lowest_index_first(void **state)
{
    /* magnitudes 1, 2, 3 with both signs: every cut falls inside a tie */
    float v[64];
    for (int i = 0; i < 64; i++)
        v[i] = (float)((i * 7) % 3 + 1) * ((i * 5) % 4 < 2 ? 1.0f : -1.0f);
    for (int cut = 1; cut < 64; cut += 5) {
        builder b;
        b_init(&b);
        int64_t d[2] = { 8, 8 };
        b_float(&b, "MatMul", "w", d, 2, v, -1);
        char pipe[64];
        snprintf(pipe, sizeof pipe, "prune:sparsity=%.17g", (double)cut / 64.0);
        outcome o = run_on(b_load(&b), pipe);
        expect_ok(&o);
        uint8_t *ref = ref_pruned(v, 64, (size_t)cut);
        for (int i = 0; i < 64; i++)
            assert_int_equal(o.st[0]->values[i] == 0, ref[i]);
        /* the ties at the threshold that were pruned are counted */
        double thr = prune_num(&o, 0, "threshold");
        size_t ties = 0;
        for (int i = 0; i < 64; i++)
            ties += ref[i] && fabs(v[i]) == thr;
        assert_int_equal((size_t)prune_num(&o, 0, "ties_pruned"), ties);
        free(ref);
        outcome_free(&o);
    }
}

static void the_radix_order_matches_a_plain_sort(void **state)
{
    size_t n = 5000;
    float *v = malloc(n * sizeof *v);
    fill(v, n, 99, 1e-3f);
    for (size_t i = 0; i < n; i += 17)
        v[i] = 0.0f;
    for (size_t i = 5; i < n; i += 31)
        v[i] = -0.0f;
    for (size_t i = 9; i < n; i += 23)
        v[i] = (i & 1) ? 1e-40f : -1e-40f; /* denormals */
    for (size_t i = 11; i < n; i += 7)
        v[i] = v[i - 4]; /* duplicates */
    v[100] = 3e38f;
    prune_layout lay = { n, 1 };
    prune_order o;
    nnz_error e = { 0 };
    assert_int_equal(prune_order_make(v, n, &lay, PR_L1, &o, &e), 0);
    ref_key *r = malloc(n * sizeof *r);
    for (size_t i = 0; i < n; i++) {
        r[i].a = fabs((double)v[i]);
        r[i].i = i;
    }
    qsort(r, n, sizeof *r, cmp_ref);
    double sum = 0;
    for (size_t j = 0; j < n; j++) {
        assert_int_equal(o.unit[j], r[j].i);
        assert_true(o.score[j] == r[j].a);
        sum += r[j].a * r[j].a;
        assert_true(o.prefix[j + 1] == sum);
    }
    free(r);
    free(v);
    prune_order_free(&o);
}

static void pruned_weights_become_positive_zero_and_mark_the_state(void **state)
{
    float v[16];
    for (int i = 0; i < 16; i++)
        v[i] = (float)(i + 1) * 0.5f;
    v[3] = -0.0f; /* the smallest magnitude: pruned first, and stored as +0 */
    v[7] = -0.25f;
    builder b;
    b_init(&b);
    int64_t d[2] = { 4, 4 };
    b_float(&b, "MatMul", "w", d, 2, v, -1);
    outcome o = run_on(b_load(&b), "prune:sparsity=0.25");
    expect_ok(&o);
    uint32_t zero = 0;
    for (int i = 0; i < 16; i++) {
        int pruned = i == 3 || i == 7 || i == 0 || i == 1; /* |w| 0, 0.25, 0.5, 1 */
        if (pruned)
            assert_memory_equal(&o.st[0]->values[i], &zero, 4);
        else
            assert_true(o.st[0]->values[i] == v[i]);
    }
    assert_true(o.st[0]->pruned);
    assert_int_equal(o.st[0]->kind, NNZ_VAL_F32);
    outcome_free(&o);
}

static void sparsity_zero_and_threshold_zero_prune_nothing(void **state)
{
    static const int k[] = { 12 };
    static const char *p[] = { "prune:sparsity=0", "prune:threshold=0" };
    for (int i = 0; i < 2; i++) {
        outcome o = run_on(matmul_model(1, k, NULL), p[i]);
        expect_ok(&o);
        assert_int_equal(zeros_of(o.st[0]), 0);
        assert_false(o.st[0]->pruned);
        assert_true(prune_num(&o, 0, "rel_l2") == 0);
        outcome_free(&o);
    }
}

static void a_tiny_tensor_keeps_its_largest_weight_and_says_so(void **state)
{
    float v[4] = { 0.1f, -0.4f, 0.3f, 0.2f };
    builder b;
    b_init(&b);
    int64_t d[2] = { 2, 2 };
    b_float(&b, "MatMul", "w", d, 2, v, -1);
    outcome o = run_on(b_load(&b), "prune:sparsity=0.9"); /* round(3.6) = 4 = all */
    expect_ok(&o);
    assert_int_equal(zeros_of(o.st[0]), 3);
    assert_true(o.st[0]->values[1] == -0.4f);
    cJSON *w = cJSON_GetObjectItem(tensor_rep(&o, 0), "warnings");
    assert_non_null(w);
    assert_non_null(strstr(cJSON_GetArrayItem(w, 0)->valuestring, "kept its largest weight"));
    outcome_free(&o);
}

/* ---- the threshold rule ------------------------------------------------------------ */

static void threshold_prunes_below_k_times_a_hand_computed_std(void **state)
{
    /* eight weights of magnitude 1 and eight of magnitude 3, signs balanced:
     * mean 0, variance (8 * 1 + 8 * 9) / 16 = 5, std sqrt(5) = 2.2360680 */
    float v[16];
    for (int i = 0; i < 16; i++)
        v[i] = (i % 2 ? 1.0f : 3.0f) * (i % 4 < 2 ? 1.0f : -1.0f);
    static const struct { const char *k; size_t pruned; } cases[] = {
        { "0.4", 0 },   /* cut 0.894: below every weight */
        { "0.45", 8 },  /* cut 1.006: the ones go */
        { "1.34", 8 },  /* cut 2.996: the threes stay */
        { "1.35", 15 }, /* cut 3.019: every weight, so the largest is kept */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        builder b;
        b_init(&b);
        int64_t d[2] = { 4, 4 };
        b_float(&b, "MatMul", "w", d, 2, v, -1);
        char pipe[64];
        snprintf(pipe, sizeof pipe, "prune:threshold=%s", cases[c].k);
        outcome o = run_on(b_load(&b), pipe);
        expect_ok(&o);
        assert_int_equal(zeros_of(o.st[0]), cases[c].pruned);
        assert_true(fabs(prune_num(&o, 0, "std") - sqrt(5.0)) < 1e-15);
        assert_true(fabs(prune_num(&o, 0, "threshold") - atof(cases[c].k) * sqrt(5.0)) < 1e-12);
        outcome_free(&o);
    }
    /* and on a larger random layer, against |w| < k std computed here */
    static const int k[] = { 30 };
    outcome o = run_on(matmul_model(1, k, NULL), "prune:threshold=0.7");
    expect_ok(&o);
    double cut = 0.7 * ref_std(o.st[0]->orig, o.st[0]->n);
    for (size_t i = 0; i < o.st[0]->n; i++)
        assert_int_equal(o.st[0]->values[i] == 0, fabs((double)o.st[0]->orig[i]) < cut);
    outcome_free(&o);
}

/* ---- scope=global ------------------------------------------------------------------ */

typedef struct gref {
    double q;
    size_t t, i;
} gref;

static int cmp_gref(const void *x, const void *y)
{
    const gref *p = x, *q = y;
    if (p->q != q->q)
        return p->q < q->q ? -1 : 1;
    if (p->t != q->t)
        return p->t < q->t ? -1 : 1;
    return p->i < q->i ? -1 : p->i > q->i;
}

/* Brute force: every weight of every tensor in one list, sorted by |w| (or
 * |w| / std of its layer), ties by tensor then index; the first K pruned. */
static void check_global(const char *pipe, int normalize_std, double s, double k_thr)
{
    static const int k[] = { 9, 20, 14 };
    static const float scale[] = { 1.0f, 0.3f, 5.0f }; /* no layer is cut whole */
    outcome o = run_on(matmul_model(3, k, scale), pipe);
    expect_ok(&o);
    size_t total = 0;
    for (int t = 0; t < 3; t++)
        total += o.st[t]->n;
    gref *g = malloc(total * sizeof *g);
    size_t at = 0;
    double psum = 0, psq = 0;
    for (size_t t = 0; t < 3; t++) {
        const nnz_state *st = o.st[t];
        double sd = ref_std(st->orig, st->n);
        for (size_t i = 0; i < st->n; i++) {
            g[at].q = fabs((double)st->orig[i]) / (normalize_std ? sd : 1.0);
            g[at].t = t;
            g[at].i = i;
            at++;
            psum += st->orig[i];
            psq += (double)st->orig[i] * st->orig[i];
        }
    }
    qsort(g, total, sizeof *g, cmp_gref);
    size_t K;
    if (s >= 0) {
        K = (size_t)floor(s * (double)total + 0.5);
    } else {
        double mean = psum / (double)total;
        double cut = k_thr * (normalize_std ? 1.0 : sqrt(psq / (double)total - mean * mean));
        for (K = 0; K < total && g[K].q < cut; K++)
            ;
    }
    uint8_t *cut[3];
    for (int t = 0; t < 3; t++)
        cut[t] = calloc(o.st[t]->n, 1);
    for (size_t j = 0; j < K; j++)
        cut[g[j].t][g[j].i] = 1;
    size_t pruned = 0;
    for (int t = 0; t < 3; t++) {
        for (size_t i = 0; i < o.st[t]->n; i++)
            if ((o.st[t]->values[i] == 0) != cut[t][i])
                fail_msg("%s: tensor %d weight %zu: pruned %d, brute force %d", pipe, t, i,
                         o.st[t]->values[i] == 0, cut[t][i]);
        pruned += zeros_of(o.st[t]);
        free(cut[t]);
    }
    assert_int_equal(pruned, K);
    assert_int_equal((size_t)cJSON_GetNumberValue(cJSON_GetObjectItem(
                         cJSON_GetObjectItem(cJSON_GetObjectItem(tensor_rep(&o, 0), "prune"),
                                             "global"), "pruned")), K);
    free(g);
    outcome_free(&o);
}

static void global_scope_prunes_what_a_brute_force_sort_prunes(void **state)
{
    check_global("prune:sparsity=0.3,scope=global,normalize=none", 0, 0.3, 0);
    check_global("prune:sparsity=0.7,scope=global,normalize=none", 0, 0.7, 0);
    check_global("prune:sparsity=0.3,scope=global", 1, 0.3, 0);
    check_global("prune:sparsity=0.7,scope=global,normalize=std", 1, 0.7, 0);
    check_global("prune:threshold=0.15,scope=global,normalize=none", 0, -1, 0.15);
    check_global("prune:threshold=0.8,scope=global,normalize=std", 1, -1, 0.8);
}

static void unnormalized_global_pruning_favours_the_small_layer(void **state)
{
    /* scales 1, 0.3, 5: by magnitude alone the 0.3 layer goes first, the 5
     * layer last; divided by each layer's std, all are cut about alike */
    static const int k[] = { 9, 20, 14 };
    static const float scale[] = { 1.0f, 0.3f, 5.0f };
    outcome o = run_on(matmul_model(3, k, scale), "prune:sparsity=0.3,scope=global,normalize=none");
    expect_ok(&o);
    assert_true(prune_num(&o, 1, "sparsity") > prune_num(&o, 0, "sparsity"));
    assert_true(prune_num(&o, 0, "sparsity") > prune_num(&o, 2, "sparsity"));
    assert_true(prune_num(&o, 2, "sparsity") < 0.05);
    outcome_free(&o);
    o = run_on(matmul_model(3, k, scale), "prune:sparsity=0.3,scope=global,normalize=std");
    expect_ok(&o);
    for (size_t t = 0; t < 3; t++)
        assert_true(fabs(prune_num(&o, t, "sparsity") - 0.3) < 0.1);
    outcome_free(&o);
}

static void a_global_cut_through_a_whole_layer_keeps_its_largest_weight(void **state)
{
    /* the 0.01 layer (81 weights) lies entirely below a 20% cut of 481 */
    static const int k[] = { 9, 20 };
    static const float scale[] = { 0.01f, 1.0f };
    outcome o = run_on(matmul_model(2, k, scale), "prune:sparsity=0.2,scope=global,normalize=none");
    expect_ok(&o);
    assert_int_equal(zeros_of(o.st[0]), 80);
    assert_int_equal(zeros_of(o.st[1]), 96 - 81);
    cJSON *w = cJSON_GetObjectItem(tensor_rep(&o, 0), "warnings");
    assert_non_null(w);
    assert_non_null(strstr(cJSON_GetArrayItem(w, 0)->valuestring, "every weight"));
    outcome_free(&o);
}

/* ---- sparsity=auto and the sensitivity curve ------------------------------------------ */

static void auto_keeps_the_largest_sparsity_within_the_error_target(void **state)
{
    static const double x[] = { 0.01, 0.05, 0.2, 0.5, 0.9 };
    static const int k[] = { 25 };
    for (size_t a = 0; a < sizeof x / sizeof x[0]; a++) {
        char pipe[80];
        snprintf(pipe, sizeof pipe, "prune:sparsity=auto,max-rel-error=%g", x[a]);
        outcome o = run_on(matmul_model(1, k, NULL), pipe);
        expect_ok(&o);
        const nnz_state *st = o.st[0];
        size_t pruned = zeros_of(st);
        assert_true(prune_num(&o, 0, "rel_l2") <= x[a]);
        /* one more weight, the next in the order, would pass the target */
        uint8_t *ref = ref_pruned(st->orig, st->n, pruned + 1);
        double err = 0, tot = 0;
        for (size_t i = 0; i < st->n; i++) {
            tot += (double)st->orig[i] * st->orig[i];
            if (ref[i])
                err += (double)st->orig[i] * st->orig[i];
        }
        assert_true(sqrt(err / tot) > x[a]);
        assert_true(pruned > 0);
        free(ref);
        outcome_free(&o);
    }
}

static void auto_meets_the_target_when_it_falls_exactly_on_a_boundary(void **state)
{
    /* X is the error of pruning exactly k weights, as the sorted sums give it:
     * the measured error (sums in index order) may differ in the last bits,
     * and the pass must still meet X, pruning k or a few fewer */
    static const int k[] = { 30 };
    nnz_model *m = matmul_model(1, k, NULL);
    nnz_error e = { 0 };
    float *v = nnz_tensor_floats(m, &m->tensors[0], &e);
    prune_layout lay = { 900, 1 };
    prune_order o;
    assert_int_equal(prune_order_make(v, 900, &lay, PR_L1, &o, &e), 0);
    nnz_model_free(m);
    for (size_t c = 1; c < 900; c += 37) {
        double x = prune_order_error(&o, c);
        char pipe[96];
        snprintf(pipe, sizeof pipe, "prune:sparsity=auto,max-rel-error=%.17g", x);
        outcome r = run_on(matmul_model(1, k, NULL), pipe);
        expect_ok(&r);
        size_t pruned = zeros_of(r.st[0]);
        assert_true(prune_num(&r, 0, "rel_l2") <= x);
        assert_true(pruned <= c && pruned + 3 >= c);
        outcome_free(&r);
    }
    prune_order_free(&o);
    free(v);
}

static void the_sensitivity_curve_is_the_error_of_pruning_at_each_sparsity(void **state)
{
    static const int k[] = { 21 };
    outcome o = run_on(matmul_model(1, k, NULL), "prune:sparsity=0.5");
    expect_ok(&o);
    cJSON *curve = cJSON_GetObjectItem(cJSON_GetObjectItem(tensor_rep(&o, 0), "prune"),
                                       "sensitivity");
    assert_int_equal(cJSON_GetArraySize(curve), (int)prune_curve_points);
    double last = 0;
    for (int p = 0; p < cJSON_GetArraySize(curve); p++) {
        cJSON *pt = cJSON_GetArrayItem(curve, p);
        double s = cJSON_GetObjectItem(pt, "sparsity")->valuedouble;
        double e = cJSON_GetObjectItem(pt, "rel_l2")->valuedouble;
        assert_true(e >= last);
        last = e;
        char pipe[64];
        snprintf(pipe, sizeof pipe, "prune:sparsity=%.17g", s);
        outcome q = run_on(matmul_model(1, k, NULL), pipe);
        expect_ok(&q);
        if (fabs(prune_num(&q, 0, "rel_l2") - e) > 1e-12)
            fail_msg("at %g: curve %.17g, pruning %.17g", s, e, prune_num(&q, 0, "rel_l2"));
        outcome_free(&q);
    }
    outcome_free(&o);
}

/* ---- structured=channel ------------------------------------------------------------ */

/* Which of nchan channels the reference ranking removes: norm per weight of
 * (i / inner) % nchan, times factor[c] (NULL: 1), smallest first, ties by
 * index, round(s C) half up, at most C - 1. */
static uint8_t *ref_removed(const float *v, size_t n, size_t nchan, size_t inner, int l2,
                            const double *factor, double s)
{
    ref_key *r = malloc(nchan * sizeof *r);
    for (size_t c = 0; c < nchan; c++) {
        r[c].a = 0;
        r[c].i = c;
    }
    for (size_t i = 0; i < n; i++) {
        size_t c = (i / inner) % nchan;
        double w = (double)v[i] * (factor ? factor[c] : 1);
        r[c].a += l2 ? w * w : fabs(w);
    }
    qsort(r, nchan, sizeof *r, cmp_ref); /* the sum orders as the mean or its root does */
    size_t k = (size_t)floor(s * (double)nchan + 0.5);
    if (k >= nchan)
        k = nchan - 1;
    uint8_t *cut = calloc(nchan, 1);
    for (size_t j = 0; j < k; j++)
        cut[r[j].i] = 1;
    free(r);
    return cut;
}

/* The tensor now holds exactly the kept channels of `orig` (nchan channels
 * of `inner` on the axis whose outer size is `outer`), in order. */
static void check_kept(const nnz_state *st, const float *orig, size_t outer, size_t nchan,
                       size_t inner, const uint8_t *cut)
{
    size_t w = 0;
    for (size_t o = 0; o < outer; o++)
        for (size_t c = 0; c < nchan; c++)
            for (size_t i = 0; i < inner; i++)
                if (!cut[c]) {
                    assert_true(w < st->n);
                    assert_memory_equal(&st->orig[w], &orig[(o * nchan + c) * inner + i], 4);
                    w++;
                }
    assert_int_equal(w, st->n);
}

/* Conv (axis 0: 8 channels of 27), Gemm transB=1 (axis 0: 12 of 10), Gemm
 * transB=0 (axis 1: 10 of 12), MatMul (axis 1: 6 of 10); each output read
 * by nothing, so every layer can lose channels. */
static nnz_model *channel_model(float v[4][216])
{
    builder b;
    b_init(&b);
    int64_t conv[4] = { 8, 3, 3, 3 }, gemm[2] = { 12, 10 }, mm[2] = { 10, 6 };
    fill(v[0], 216, 1, 1.0f);
    b_float(&b, "Conv", "conv", conv, 4, v[0], -1);
    fill(v[1], 120, 2, 1.0f);
    b_float(&b, "Gemm", "gemm_t", gemm, 2, v[1], 1);
    fill(v[2], 120, 3, 1.0f);
    b_float(&b, "Gemm", "gemm", gemm, 2, v[2], 0);
    fill(v[3], 60, 4, 1.0f);
    b_float(&b, "MatMul", "mm", mm, 2, v[3], -1);
    return b_load(&b);
}

static void structured_pruning_removes_the_weakest_output_channels_of_each_layer(void **state)
{
    for (int l2 = 0; l2 < 2; l2++) {
        float v[4][216];
        outcome o = run_on(channel_model(v), l2 ? "prune:sparsity=0.5,structured=channel"
                                                : "prune:sparsity=0.5,structured=channel,norm=l1");
        expect_ok(&o);
        static const size_t outer[4] = { 1, 1, 12, 10 }, nchan[4] = { 8, 12, 10, 6 },
                            inner[4] = { 27, 10, 1, 1 }, count[4] = { 216, 120, 120, 60 };
        for (int t = 0; t < 4; t++) {
            uint8_t *cut = ref_removed(v[t], count[t], nchan[t], inner[t], l2, NULL, 0.5);
            check_kept(o.st[t], v[t], outer[t], nchan[t], inner[t], cut);
            free(cut);
        }
        assert_int_equal(o.m->tensors[0].dims[0], 4);
        assert_int_equal(o.m->tensors[1].dims[0], 6);
        assert_int_equal(o.m->tensors[2].dims[1], 5);
        assert_int_equal(o.m->tensors[3].dims[1], 3);
        cJSON *l = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o.report, "prune"),
                                                          "layers"), 0);
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(l, "decision")), "pruned");
        assert_int_equal(cJSON_GetObjectItem(l, "removed")->valueint, 4);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(l, "removed_channels")), 4);
        outcome_free(&o);
    }
}

static void an_empty_tensor_is_left_alone_without_complaint(void **state)
{
    static const char *p[] = { "prune:sparsity=0.5", "prune:sparsity=0.5,structured=channel",
                               "prune:sparsity=0.5,scope=global", "prune:threshold=1",
                               "prune:sparsity=auto,max-rel-error=0.1" };
    for (int i = 0; i < 5; i++) {
        builder b;
        b_init(&b);
        float one = 1.0f;
        int64_t d[4] = { 0, 3, 3, 3 };
        b_weight(&b, "Conv", "w", NNZ_DT_FLOAT, d, 4, &one, 0, -1);
        outcome o = run_on(b_load(&b), p[i]);
        expect_ok(&o);
        assert_null(o.st[0]); /* not selected: nothing to prune */
        outcome_free(&o);
    }
}

static void l1_and_l2_can_rank_channels_differently(void **state)
{
    /* channel 0: one big weight (L1 4, L2 16); channel 1: four of 1.5 (L1 6, L2 9) */
    float v[8] = { 4, 0, 0, 0, 1.5f, 1.5f, 1.5f, 1.5f };
    static const char *p[] = { "prune:sparsity=0.5,structured=channel,norm=l1",
                               "prune:sparsity=0.5,structured=channel,norm=l2" };
    for (int l2 = 0; l2 < 2; l2++) {
        builder b;
        b_init(&b);
        int64_t d[4] = { 2, 1, 2, 2 };
        b_float(&b, "Conv", "w", d, 4, v, -1);
        outcome o = run_on(b_load(&b), p[l2]);
        expect_ok(&o);
        assert_int_equal(o.st[0]->n, 4); /* one channel left: l1 keeps 1, l2 keeps 0 */
        assert_true(o.st[0]->orig[0] == (l2 ? 4.0f : 1.5f));
        outcome_free(&o);
    }
}

static void structured_pruning_refuses_an_op_without_channels_and_names_the_tensor(void **state)
{
    builder b;
    b_init(&b);
    float v[64];
    fill(v, 64, 5, 1.0f);
    int64_t d[2] = { 16, 4 };
    b_float(&b, "Gather", "embedding", d, 2, v, -1);
    b_float(&b, "MatMul", "w", d, 2, v, -1);
    nnz_model *m = b_load(&b);
    expect_error("prune:sparsity=0.5,structured=channel", m, NNZ_EXIT_USAGE,
                 "tensor 'embedding' feeds Gather");
    expect_error("prune:sparsity=0.5,structured=channel", m, NNZ_EXIT_USAGE, "skip=embedding");
    expect_error("prune:sparsity=0.5,structured=channel,scope=global", m, NNZ_EXIT_USAGE,
                 "does not combine with scope=global");
    /* leaving it out is enough: the MatMul loses 2 of its 4 columns */
    outcome o = run_on(m, "prune:sparsity=0.5,structured=channel,skip=embedding");
    expect_ok(&o);
    assert_null(o.st[0]);
    assert_int_equal(o.st[1]->n, 32);
    assert_int_equal(o.m->tensors[1].dims[1], 2);
    outcome_free(&o);
}

/* ---- structured=channel on a graph with every kind of dependency ------------------- */

/* build/fixtures/edge_channels.onnx (tests/fixtures/gen_fixtures.py): a
 * residual group conv_a + conv_b with a BN after conv_a, a depthwise conv
 * with its BN, a Concat, a per-channel Mul, a Flatten into a Gemm, and a
 * side branch that is a graph output. */
static nnz_model *edge_channels(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/fixtures/edge_channels.onnx",
             getenv("BUILD") ? getenv("BUILD") : "build");
    nnz_model *m = NULL;
    nnz_error e = { 0 };
    if (nnz_model_load(path, &m, &e) != 0)
        fail_msg("%s: %s (make fixtures builds it)", path, e.msg);
    return m;
}

static float *floats_of(nnz_model *m, const char *name, size_t *n)
{
    nnz_tensor *t = nnz_model_find(m, name);
    if (!t)
        fail_msg("no tensor '%s'", name);
    nnz_error e = { 0 };
    float *v = nnz_tensor_floats(m, t, &e);
    *n = t->count;
    return v;
}

static int64_t dim_of(nnz_model *m, const char *name, int axis)
{
    nnz_tensor *t = nnz_model_find(m, name);
    if (!t)
        fail_msg("no tensor '%s'", name);
    return t->dims[axis];
}

static int64_t group_of(nnz_model *m, const char *node)
{
    const Onnx__GraphProto *g = m->proto->graph;
    for (size_t i = 0; i < g->n_node; i++)
        if (g->node[i]->name && strcmp(g->node[i]->name, node) == 0)
            for (size_t a = 0; a < g->node[i]->n_attribute; a++)
                if (strcmp(g->node[i]->attribute[a]->name, "group") == 0)
                    return g->node[i]->attribute[a]->i;
    return -1;
}

static cJSON *layer_rep(const outcome *o, const char *layer)
{
    cJSON *l;
    cJSON_ArrayForEach(l, cJSON_GetObjectItem(cJSON_GetObjectItem(o->report, "prune"), "layers"))
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(l, "layer")), layer) == 0)
            return l;
    fail_msg("no layer '%s' in the report", layer);
    return NULL;
}

static void every_rule_slices_the_matching_tensors_of_the_edge_fixture(void **state)
{
    nnz_model *src = edge_channels();
    size_t na, nb, ng, nv, nc, nd;
    float *wa = floats_of(src, "conv_a.weight", &na), *wb = floats_of(src, "conv_b.weight", &nb);
    float *gam = floats_of(src, "bn_a.scale", &ng), *var = floats_of(src, "bn_a.var", &nv);
    float *wc = floats_of(src, "conv_c.weight", &nc), *wd = floats_of(src, "conv_d.weight", &nd);
    double f[8];
    for (int c = 0; c < 8; c++) /* the BN after conv_a scales its channels */
        f[c] = fabs((double)gam[c]) / sqrt((double)var[c] + 1e-5);
    uint8_t *ra = ref_removed(wa, na, 8, 27, 1, f, 0.5), *rb = ref_removed(wb, nb, 8, 72, 1, NULL, 0.5);
    uint8_t *rc = ref_removed(wc, nc, 6, 8, 1, NULL, 0.5), *rd = ref_removed(wd, nd, 10, 14, 1, NULL, 0.5);
    int64_t ka = 0, kc = 0, kd = 0;
    for (int c = 0; c < 8; c++)
        ka += !(ra[c] && rb[c]); /* the residual group: gone where both remove it */
    for (int c = 0; c < 6; c++)
        kc += !rc[c];
    for (int c = 0; c < 10; c++)
        kd += !rd[c];
    assert_true(ka < 8 && kc == 3 && kd == 5);

    outcome o = run_on(src, "prune:sparsity=0.5,structured=channel");
    expect_ok(&o);
    nnz_model *m = o.m;
    /* the residual group, its BN, the depthwise conv and its BN */
    static const char *group_a[] = { "conv_a.weight", "conv_a.bias", "bn_a.scale", "bn_a.bias",
                                     "bn_a.mean", "bn_a.var", "conv_b.weight", "conv_b.bias",
                                     "dw.weight", "bn_dw.scale", "bn_dw.bias", "bn_dw.mean",
                                     "bn_dw.var" };
    for (size_t i = 0; i < sizeof group_a / sizeof *group_a; i++)
        assert_int_equal(dim_of(m, group_a[i], 0), ka);
    assert_int_equal(dim_of(m, "conv_b.weight", 1), ka);
    assert_int_equal(group_of(m, "dwconv"), ka);
    /* conv_c: its own group, reading group a */
    assert_int_equal(dim_of(m, "conv_c.weight", 0), kc);
    assert_int_equal(dim_of(m, "conv_c.weight", 1), ka);
    /* the Concat: group a's channels, then conv_c's */
    assert_int_equal(dim_of(m, "mul.scale", 0), ka + kc);
    assert_int_equal(dim_of(m, "conv_d.weight", 1), ka + kc);
    assert_int_equal(dim_of(m, "conv_d.weight", 0), kd);
    /* Flatten -> Gemm: 3 x 3 rows per channel */
    assert_int_equal(dim_of(m, "fc.weight", 1), kd * 9);
    assert_int_equal(dim_of(m, "fc.weight", 0), 5);
    assert_int_equal(dim_of(m, "conv_e.weight", 0), 4);
    /* the removed channels the report lists are the reference's */
    cJSON *rm = cJSON_GetObjectItem(layer_rep(&o, "conv_b"), "removed_channels");
    int j = 0;
    for (int c = 0; c < 8; c++)
        if (ra[c] && rb[c])
            assert_int_equal(cJSON_GetArrayItem(rm, j++)->valueint, c);
    assert_int_equal(cJSON_GetArraySize(rm), j);
    /* graph outputs keep their shapes, and the report says why */
    const char *why = cJSON_GetStringValue(cJSON_GetObjectItem(layer_rep(&o, "conv_e"), "reason"));
    assert_non_null(strstr(why, "'pooled' is a graph output"));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(layer_rep(&o, "fc"), "decision")),
                        "kept whole");
    free(wa), free(wb), free(gam), free(var), free(wc), free(wd);
    free(ra), free(rb), free(rc), free(rd);
    outcome_free(&o);
}

static void flatten_rows_follow_the_kept_channels_in_c_h_w_order(void **state)
{
    nnz_model *src = edge_channels();
    size_t nf, nd;
    float *fc = floats_of(src, "fc.weight", &nf), *wd = floats_of(src, "conv_d.weight", &nd);
    uint8_t *rd = ref_removed(wd, nd, 10, 14, 1, NULL, 0.5);
    /* conv_d's group only: skip the others so nothing else moves */
    outcome o = run_on(src, "prune:sparsity=0.5,structured=channel,only=conv_d.weight");
    expect_ok(&o);
    size_t n;
    float *got = floats_of(o.m, "fc.weight", &n);
    size_t w = 0;
    for (size_t r = 0; r < 5; r++)
        for (size_t col = 0; col < 90; col++)
            if (!rd[col / 9]) {
                assert_memory_equal(&got[w], &fc[r * 90 + col], 4);
                w++;
            }
    assert_int_equal(w, n);
    free(fc), free(wd), free(rd), free(got);
    outcome_free(&o);
}

static void sparsity_zero_leaves_the_graph_as_it_was(void **state)
{
    nnz_model *a = edge_channels();
    size_t la = onnx__model_proto__get_packed_size(a->proto);
    uint8_t *pa = malloc(la);
    onnx__model_proto__pack(a->proto, pa);
    outcome o = run_on(a, "prune:sparsity=0,structured=channel");
    expect_ok(&o);
    size_t lb = onnx__model_proto__get_packed_size(o.m->proto);
    uint8_t *pb = malloc(lb);
    onnx__model_proto__pack(o.m->proto, pb);
    assert_int_equal(la, lb);
    assert_memory_equal(pa, pb, la);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(o.report, "prune"),
                                                  "graph_rewritten")));
    free(pa), free(pb);
    outcome_free(&o);
}

static void a_group_with_a_layer_left_out_is_kept_whole_and_says_why(void **state)
{
    outcome o = run_on(edge_channels(), "prune:sparsity=0.5,structured=channel,skip=conv_b.weight");
    expect_ok(&o);
    cJSON *l = layer_rep(&o, "conv_a");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(l, "decision")), "kept whole");
    assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(l, "reason")),
                           "layer 'conv_b' is not selected"));
    assert_int_equal(dim_of(o.m, "conv_a.weight", 0), 8);
    assert_int_equal(dim_of(o.m, "dw.weight", 0), 8);
    /* the Concat keeps group a whole and still cuts conv_c's part */
    assert_int_equal(dim_of(o.m, "mul.scale", 0), 8 + 3);
    cJSON *w = cJSON_GetObjectItem(o.report, "warnings");
    assert_true(cJSON_GetArraySize(w) >= 1);
    outcome_free(&o);
}

static void group_sum_removes_the_asked_share_of_a_residual_group(void **state)
{
    outcome o = run_on(edge_channels(), "prune:sparsity=0.5,structured=channel,group=sum");
    expect_ok(&o);
    assert_int_equal(dim_of(o.m, "conv_a.weight", 0), 4);
    assert_int_equal(dim_of(o.m, "conv_b.weight", 0), 4);
    assert_int_equal(dim_of(o.m, "conv_b.weight", 1), 4);
    outcome_free(&o);
}

/* ---- what is refused ---------------------------------------------------------------- */

static void bad_options_are_refused_naming_the_key_and_what_is_valid(void **state)
{
    static const struct { const char *pipe, *needle; } bad[] = {
        { "prune:sparsity=1.5", "sparsity=1.5: expected the fraction of weights to prune, a number in [0, 1)" },
        { "prune:sparsity=1", "sparsity=1 would leave every layer all zeros" },
        { "prune:sparsity=1.0", "would leave every layer all zeros" },
        { "prune:sparsity=-0.1", "sparsity=-0.1: expected the fraction" },
        { "prune:sparsity=lots", "sparsity=lots: expected" },
        { "prune:sparsity=nan", "sparsity=nan: expected" },
        { "prune:sparsity", "sparsity=(missing)" },
        { "prune:threshold=-1", "threshold=-1: expected a number K >= 0" },
        { "prune:threshold=inf", "threshold=inf: expected" },
        { "prune:sparsity=0.5,max-rel-error=0.1", "max-rel-error=X goes with sparsity=auto" },
        { "prune:threshold=1,max-rel-error=0.1", "max-rel-error=X goes with sparsity=auto" },
        { "prune:sparsity=auto", "sparsity=auto needs max-rel-error=X" },
        { "prune:sparsity=auto,max-rel-error=2", "max-rel-error=2: expected a number in [0, 1]" },
        { "prune:sparsity=auto,max-rel-error=0.1,scope=global", "does not combine with scope=global" },
        { "prune:sparsity=0.5,threshold=1", "give one of them" },
        { "prune", "say how much to prune" },
        { "prune:scope=global", "say how much to prune" },
        { "prune:sparsity=0.5,scope=world", "scope=world: expected one of layer|global" },
        { "prune:sparsity=0.5,structured=row", "structured=row: expected one of none|channel" },
        { "prune:sparsity=0.5,structured=channel,norm=l3", "norm=l3: expected one of l1|l2" },
        { "prune:sparsity=0.5,structured=channel,group=any", "group=any: expected one of every|sum" },
        { "prune:sparsity=0.5,normalize=max", "normalize=max: expected one of std|none" },
        { "prune:sparsity=0.5,ratio=2", "unknown option 'ratio'" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nnz_pipeline p;
        nnz_error e = { 0 };
        if (nnz_pipeline_parse(bad[i].pipe, &p, &e) == 0)
            fail_msg("'%s' was accepted", bad[i].pipe);
        if (e.code != NNZ_EXIT_USAGE || !strstr(e.msg, bad[i].needle))
            fail_msg("'%s': code %d '%s'; expected 2 with '%s'", bad[i].pipe, e.code, e.msg,
                     bad[i].needle);
    }
}

static void the_pipeline_order_rules_refuse_prune_in_the_wrong_place(void **state)
{
    static const struct { const char *pipe, *needle; } bad[] = {
        { "quantize:bits=8 | prune:sparsity=0.5", "prune after quantize is refused: prune works on float weights; prune first" },
        { "prune:sparsity=0.5 | prune:sparsity=0.6", "each pass may appear once" },
        { "prune:sparsity=0.5 | hashnet:ratio=8", "hashnet after prune is refused" },
        { "hashnet:ratio=8 | prune:sparsity=0.5", "prune after hashnet is refused" },
        { "prune:sparsity=0.5 | decompose", "decompose after prune is refused" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nnz_pipeline p;
        nnz_error e = { 0 };
        if (strstr(bad[i].pipe, "hashnet") && !nnz_pass_find("hashnet"))
            continue; /* not registered in this build */
        if (strstr(bad[i].pipe, "decompose") && !nnz_pass_find("decompose"))
            continue;
        if (nnz_pipeline_parse(bad[i].pipe, &p, &e) == 0)
            fail_msg("'%s' was accepted", bad[i].pipe);
        if (e.code != NNZ_EXIT_USAGE || !strstr(e.msg, bad[i].needle))
            fail_msg("'%s': '%s'; expected '%s'", bad[i].pipe, e.msg, bad[i].needle);
    }
    nnz_pipeline p;
    nnz_error e = { 0 };
    assert_int_equal(nnz_pipeline_parse("prune:sparsity=0.9 | quantize:kmeans,bits=5 | huffman",
                                        &p, &e), 0);
    nnz_pipeline_free(&p);
}

static void an_int8_weight_is_refused_as_already_quantized(void **state)
{
    builder b;
    b_init(&b);
    int8_t q[64];
    for (int i = 0; i < 64; i++)
        q[i] = (int8_t)(i - 32);
    int64_t d[2] = { 8, 8 };
    b_weight(&b, "DequantizeLinear", "wq", NNZ_DT_INT8, d, 2, q, sizeof q, -1);
    float v[64];
    fill(v, 64, 3, 1.0f);
    b_float(&b, "MatMul", "w", d, 2, v, -1);
    nnz_model *m = b_load(&b);
    expect_error("prune:sparsity=0.5,only=wq", m, NNZ_EXIT_USAGE,
                 "tensor 'wq' is int8: the codes of an already quantized model, not float weights; "
                 "prune the float model before it is quantized");
    expect_error("prune:sparsity=0.5", m, NNZ_EXIT_USAGE, "skip=wq");
    outcome o = run_on(m, "prune:sparsity=0.5,skip=wq");
    expect_ok(&o);
    assert_int_equal(zeros_of(o.st[1]), 32);
    outcome_free(&o);
}

static void non_finite_weights_are_refused_as_bad_input(void **state)
{
    float v[16];
    fill(v, 16, 8, 1.0f);
    v[5] = NAN;
    static const char *p[] = { "prune:sparsity=0.5", "prune:sparsity=0.5,scope=global" };
    for (int i = 0; i < 2; i++) {
        builder b;
        b_init(&b);
        int64_t d[2] = { 4, 4 };
        b_float(&b, "MatMul", "w", d, 2, v, -1);
        nnz_model *m = b_load(&b);
        expect_error(p[i], m, NNZ_EXIT_INPUT, "value 5 is NaN");
        nnz_model_free(m);
    }
}

static void a_per_layer_override_of_a_global_stage_prunes_its_tensor_on_its_own(void **state)
{
    static const int k[] = { 10, 10 };
    nnz_pipeline p;
    nnz_error e = { 0 };
    assert_int_equal(nnz_pipeline_parse("prune:sparsity=0.5,scope=global", &p, &e), 0);
    nnz_kv kv[] = { { "sparsity", "0.2" } };
    assert_int_equal(nnz_pipeline_add_override(&p, "prune", "w1", kv, 1, 0, &e), 0);
    nnz_model *m = matmul_model(2, k, NULL);
    cJSON *rep = cJSON_CreateObject();
    assert_int_equal(nnz_pipeline_prepare(&p, m, rep, &e), 0);
    nnz_state *st = NULL;
    assert_int_equal(nnz_pipeline_run_tensor(&p, m, 0, rep, &st, &e), 0);
    cJSON *t0 = cJSON_GetArrayItem(cJSON_GetObjectItem(rep, "tensors"), 0);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(t0, "prune"), "scope")->valuestring,
                        "global");
    nnz_state_free(st);
    assert_int_equal(nnz_pipeline_run_tensor(&p, m, 1, rep, &st, &e), 0);
    assert_int_equal(zeros_of(st), 20); /* its own 0.2, not the global cut */
    cJSON *t1 = cJSON_GetArrayItem(cJSON_GetObjectItem(rep, "tensors"), 1);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(t1, "prune"), "scope")->valuestring,
                        "layer");
    assert_non_null(strstr(cJSON_GetArrayItem(cJSON_GetObjectItem(t1, "warnings"), 0)->valuestring,
                           "pruned on its own"));
    nnz_state_free(st);
    nnz_pipeline_free(&p);
    cJSON_Delete(rep);
    nnz_model_free(m);
}

/* ---- through a blob and the runtime decoder ------------------------------------------ */

typedef struct blob_ctx {
    nnz_pipeline p;
    cJSON *report;
    float **expect;  /* per tensor: the values the pipeline left, or NULL */
    size_t *n;
} blob_ctx;

static int blob_encode(void *vc, nnz_model *m, size_t i, nnz_encoded *out, nnz_error *e)
{
    blob_ctx *c = vc;
    nnz_state *st;
    if (nnz_pipeline_run_tensor(&c->p, m, i, c->report, &st, e) != 0)
        return -1;
    if (!st)
        return 0;
    c->expect[i] = malloc(st->n * sizeof(float));
    memcpy(c->expect[i], st->values, st->n * sizeof(float));
    c->n[i] = st->n;
    cJSON *rep = cJSON_GetArrayItem(cJSON_GetObjectItem(c->report, "tensors"), (int)i);
    int rc = nnz_encode_tensor(&m->tensors[i], st, rep, out, e);
    nnz_state_free(st);
    return rc;
}

static int blob_force(void *vc, const nnz_model *m, size_t i)
{
    (void)m;
    blob_ctx *c = vc;
    for (size_t s = 0; s < c->p.n; s++)
        if (c->p.stages[s].selected && c->p.stages[s].selected[i])
            return 1;
    return 0;
}

/* Prepare `pipeline` over m and write m's blob; the encoder keeps in c the
 * values the pipeline left in each tensor it touched. */
static uint8_t *ctx_blob(blob_ctx *c, nnz_model *m, const char *pipeline, size_t *len)
{
    memset(c, 0, sizeof *c);
    nnz_error e = { 0 };
    if (nnz_pipeline_parse(pipeline, &c->p, &e) != 0)
        fail_msg("%s: %s", pipeline, e.msg);
    c->report = cJSON_CreateObject();
    if (nnz_pipeline_prepare(&c->p, m, c->report, &e) != 0)
        fail_msg("%s: %s", pipeline, e.msg);
    c->expect = calloc(m->ntensors, sizeof *c->expect);
    c->n = calloc(m->ntensors, sizeof *c->n);
    return tu_blob_with(
        m, (nnz_blob_writer){ .encode = blob_encode, .force_entry = blob_force, .ctx = c }, len);
}

static void ctx_free(blob_ctx *c, const nnz_model *m)
{
    for (size_t i = 0; i < m->ntensors; i++)
        free(c->expect[i]);
    free(c->expect);
    free(c->n);
    cJSON_Delete(c->report);
    nnz_pipeline_free(&c->p);
}

/* Compress m with `pipeline` into a blob; check that the runtime decodes every
 * touched tensor to exactly the values the pipeline left (bit for bit), and
 * return the blob's size. `layout` (when not NULL) gets tensor 0's layout. */
static size_t blob_round_trip(nnz_model *m, const char *pipeline, char *layout, size_t lsize)
{
    blob_ctx c;
    size_t len;
    uint8_t *blob = ctx_blob(&c, m, pipeline, &len);

    nnz_blob b;
    assert_int_equal(nnz_open(&b, blob, len, 0), NNZ_OK);
    for (size_t i = 0; i < m->ntensors; i++) {
        if (!c.expect[i])
            continue;
        uint32_t idx;
        assert_int_equal(nnz_find(&b, m->tensors[i].name, &idx), NNZ_OK);
        size_t osz, ssz;
        assert_int_equal(nnz_decode_sizes(&b, idx, NNZ_OUT_F32, &osz, &ssz), NNZ_OK);
        float *out = malloc(osz);
        void *scratch = malloc(ssz ? ssz : 1);
        assert_int_equal(nnz_decode(&b, idx, NNZ_OUT_F32, out, osz, scratch, ssz), NNZ_OK);
        assert_int_equal(osz, c.n[i] * 4);
        assert_memory_equal(out, c.expect[i], osz);
        if (i == 0 && layout) {
            nnz_tensor_info info;
            assert_int_equal(nnz_tensor_info_get(&b, idx, &info), NNZ_OK);
            static const char *names[] = { "raw", "dense", "sparse", "hashed" };
            snprintf(layout, lsize, "%s", names[info.encoding & 3]);
        }
        free(out);
        free(scratch);
    }
    free(blob);
    ctx_free(&c, m);
    return len;
}

/* Decode tensor `name` of a fresh blob of m through `pipeline`. */
static float *decoded(nnz_model *m, const char *pipeline, const char *name, size_t *n)
{
    blob_ctx c;
    size_t len;
    uint8_t *blob = ctx_blob(&c, m, pipeline, &len);
    nnz_blob b;
    uint32_t idx;
    size_t osz, ssz;
    assert_int_equal(nnz_open(&b, blob, len, 0), NNZ_OK);
    assert_int_equal(nnz_find(&b, name, &idx), NNZ_OK);
    assert_int_equal(nnz_decode_sizes(&b, idx, NNZ_OUT_F32, &osz, &ssz), NNZ_OK);
    float *out = malloc(osz);
    void *scratch = malloc(ssz ? ssz : 1);
    assert_int_equal(nnz_decode(&b, idx, NNZ_OUT_F32, out, osz, scratch, ssz), NNZ_OK);
    *n = osz / 4;
    free(scratch);
    free(blob);
    ctx_free(&c, m);
    return out;
}

/* Which weights pruning alone zeroes (the reference for the composed runs). */
static uint8_t *pruned_mask(const char *pipeline, int kk)
{
    int k[] = { kk };
    outcome o = run_on(matmul_model(1, k, NULL), pipeline);
    expect_ok(&o);
    uint8_t *mask = malloc(o.st[0]->n);
    for (size_t i = 0; i < o.st[0]->n; i++)
        mask[i] = o.st[0]->values[i] == 0;
    outcome_free(&o);
    return mask;
}

static void pruned_float_weights_decode_exactly_from_a_sparse_blob(void **state)
{
    static const int k[] = { 64 };
    char layout[16];
    nnz_model *m = matmul_model(1, k, NULL);
    blob_round_trip(m, "prune:sparsity=0.9", layout, sizeof layout);
    assert_string_equal(layout, "sparse");
    nnz_model_free(m);
    m = matmul_model(1, k, NULL);
    blob_round_trip(m, "prune:sparsity=0.3,structured=channel", NULL, 0);
    nnz_model_free(m);
}

static void pruned_zeros_survive_kmeans_through_the_blob(void **state)
{
    static const int k[] = { 48 };
    uint8_t *mask = pruned_mask("prune:sparsity=0.8", 48);
    static const char *pipes[] = { "prune:sparsity=0.8 | quantize:kmeans,bits=4",
                                   "prune:sparsity=0.8 | quantize:kmeans,bits=5 | huffman" };
    for (int p = 0; p < 2; p++) {
        nnz_model *m = matmul_model(1, k, NULL);
        blob_round_trip(m, pipes[p], NULL, 0); /* decodes to what the pipeline left */
        nnz_model_free(m);
        m = matmul_model(1, k, NULL);
        size_t n;
        float *out = decoded(m, pipes[p], "w0", &n);
        size_t z = 0;
        for (size_t i = 0; i < n; i++) {
            if (mask[i]) {
                uint32_t u;
                memcpy(&u, &out[i], 4);
                assert_int_equal(u, 0); /* exactly +0.0 */
            }
            z += out[i] == 0;
        }
        assert_int_equal(z, (size_t)floor(0.8 * n + 0.5)); /* no survivor became 0 */
        free(out);
        nnz_model_free(m);
    }
    free(mask);
}

static void pruned_zeros_survive_uniform_quantization_through_the_blob(void **state)
{
    static const int k[] = { 48 };
    uint8_t *mask = pruned_mask("prune:sparsity=0.7", 48);
    static const char *pipes[] = {
        "prune:sparsity=0.7 | quantize:bits=8",
        "prune:sparsity=0.7 | quantize:bits=4,scheme=asym,granularity=tensor",
        "prune:sparsity=0.7 | quantize:bits=6,rounding=rate | huffman",
    };
    for (int p = 0; p < 3; p++) {
        nnz_model *m = matmul_model(1, k, NULL);
        blob_round_trip(m, pipes[p], NULL, 0);
        nnz_model_free(m);
        m = matmul_model(1, k, NULL);
        size_t n;
        float *out = decoded(m, pipes[p], "w0", &n);
        for (size_t i = 0; i < n; i++)
            if (mask[i]) {
                uint32_t u;
                memcpy(&u, &out[i], 4);
                if (u != 0)
                    fail_msg("%s: pruned weight %zu decodes to %g", pipes[p], i, out[i]);
            }
        free(out);
        nnz_model_free(m);
    }
    free(mask);
}

static void half_float_weights_prune_to_half_zeros_through_the_blob(void **state)
{
    uint16_t h[256];
    float v[256];
    fill(v, 256, 4, 1.0f);
    for (int i = 0; i < 256; i++)
        h[i] = nnz_float_to_half(v[i]);
    builder b;
    b_init(&b);
    int64_t d[2] = { 16, 16 };
    b_weight(&b, "MatMul", "w", NNZ_DT_FLOAT16, d, 2, h, sizeof h, -1);
    nnz_model *m = b_load(&b);
    char layout[16];
    blob_round_trip(m, "prune:sparsity=0.9", layout, sizeof layout);
    assert_string_equal(layout, "sparse");
    size_t n;
    float *out = decoded(m, "prune:sparsity=0.9", "w", &n);
    size_t z = 0;
    for (size_t i = 0; i < n; i++)
        z += out[i] == 0;
    assert_int_equal(z, 230); /* round(0.9 * 256) */
    free(out);
    nnz_model_free(m);
}

static void the_blob_shrinks_as_sparsity_grows(void **state)
{
    static const int k[] = { 64 };
    static const char *pipes[] = { "", "prune:sparsity=0.5", "prune:sparsity=0.7",
                                   "prune:sparsity=0.8", "prune:sparsity=0.9",
                                   "prune:sparsity=0.95", "prune:sparsity=0.99" };
    size_t last = SIZE_MAX;
    for (size_t p = 0; p < sizeof pipes / sizeof pipes[0]; p++) {
        nnz_model *m = matmul_model(1, k, NULL);
        size_t len = blob_round_trip(m, pipes[p], NULL, 0);
        if (len >= last)
            fail_msg("'%s': %zu bytes, not less than %zu", pipes[p], len, last);
        last = len;
        nnz_model_free(m);
    }
    /* and with a quantizer behind it */
    last = SIZE_MAX;
    static const char *q[] = { "quantize:kmeans,bits=5 | huffman",
                               "prune:sparsity=0.5 | quantize:kmeans,bits=5 | huffman",
                               "prune:sparsity=0.9 | quantize:kmeans,bits=5 | huffman" };
    for (size_t p = 0; p < 3; p++) {
        nnz_model *m = matmul_model(1, k, NULL);
        size_t len = blob_round_trip(m, q[p], NULL, 0);
        if (len >= last)
            fail_msg("'%s': %zu bytes, not less than %zu", q[p], len, last);
        last = len;
        nnz_model_free(m);
    }
}

static void the_same_model_and_options_give_the_same_blob(void **state)
{
    static const int k[] = { 32, 20 };
    static const char *pipes[] = { "prune:sparsity=0.6,scope=global | quantize:kmeans,bits=4",
                                   "prune:threshold=0.8,structured=channel,norm=l2" };
    for (int p = 0; p < 2; p++) {
        uint8_t *blob[2];
        size_t len[2];
        for (int r = 0; r < 2; r++) {
            nnz_model *m = matmul_model(2, k, NULL);
            blob_ctx c;
            blob[r] = ctx_blob(&c, m, pipes[p], &len[r]);
            ctx_free(&c, m);
            nnz_model_free(m);
        }
        assert_int_equal(len[0], len[1]);
        assert_memory_equal(blob[0], blob[1], len[0]);
        free(blob[0]);
        free(blob[1]);
    }
}

/* ---- the equal-slope allocation (max-output-error) ------------------------------ */

/* Small random instances against every combination: the choice fits the
 * budget, and no combination whose summed distortion is at most the
 * chosen one's costs less (the Lagrangian's guarantee); a larger budget
 * never costs more. */
static void equal_slope_allocation_is_never_beaten_at_its_own_distortion(void **state)
{
    (void)state;
    enum { NI = 4, NO = 4 };
    double cost[NI][NO], d[NI][NO];
    uint32_t r = 12345;
    for (int trial = 0; trial < 200; trial++) {
        nnz_alloc_item it[NI];
        for (int i = 0; i < NI; i++) {
            double c = 100, dd = 0;
            for (int k = 0; k < NO; k++) {
                r = r * 1664525u + 1013904223u;
                cost[i][k] = c;
                d[i][k] = dd;
                c -= 1 + (r >> 24) % 20;       /* pruning more keeps less */
                dd += 1e-4 * (1 + (r >> 8) % 50); /* and costs more error */
            }
            it[i] = (nnz_alloc_item){ .nopt = NO, .cost = cost[i], .d = d[i] };
        }
        double budget = 1e-4 * (1 + trial % 60), total, prev = INFINITY;
        size_t ch[NI];
        double dsum = nnz_alloc_equal_slope(it, NI, budget, ch, &total);
        double csum = 0, dchk = 0;
        for (int i = 0; i < NI; i++) {
            csum += cost[i][ch[i]];
            dchk += d[i][ch[i]];
        }
        assert_true(dsum <= budget);
        assert_true(fabs(dsum - dchk) < 1e-12 && fabs(total - csum) < 1e-9);
        for (int combo = 0; combo < NO * NO * NO * NO; combo++) {
            double cc = 0, dc = 0;
            for (int i = 0, x = combo; i < NI; i++, x /= NO) {
                cc += cost[i][x % NO];
                dc += d[i][x % NO];
            }
            if (dc <= dsum + 1e-15)
                assert_true(cc >= csum - 1e-9);
        }
        for (double b = budget; b < budget * 64; b *= 2) {
            nnz_alloc_equal_slope(it, NI, b, ch, &total);
            assert_true(total <= prev + 1e-9 || b == budget);
            prev = total;
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sparsity_prunes_exactly_round_s_times_n_weights),
        cmocka_unit_test(the_kept_weights_are_exactly_the_largest_magnitudes),
        cmocka_unit_test(equal_magnitudes_are_pruned_lowest_index_first),
        cmocka_unit_test(the_radix_order_matches_a_plain_sort),
        cmocka_unit_test(pruned_weights_become_positive_zero_and_mark_the_state),
        cmocka_unit_test(sparsity_zero_and_threshold_zero_prune_nothing),
        cmocka_unit_test(a_tiny_tensor_keeps_its_largest_weight_and_says_so),
        cmocka_unit_test(threshold_prunes_below_k_times_a_hand_computed_std),
        cmocka_unit_test(global_scope_prunes_what_a_brute_force_sort_prunes),
        cmocka_unit_test(unnormalized_global_pruning_favours_the_small_layer),
        cmocka_unit_test(a_global_cut_through_a_whole_layer_keeps_its_largest_weight),
        cmocka_unit_test(auto_keeps_the_largest_sparsity_within_the_error_target),
        cmocka_unit_test(auto_meets_the_target_when_it_falls_exactly_on_a_boundary),
        cmocka_unit_test(the_sensitivity_curve_is_the_error_of_pruning_at_each_sparsity),
        cmocka_unit_test(structured_pruning_removes_the_weakest_output_channels_of_each_layer),
        cmocka_unit_test(every_rule_slices_the_matching_tensors_of_the_edge_fixture),
        cmocka_unit_test(flatten_rows_follow_the_kept_channels_in_c_h_w_order),
        cmocka_unit_test(sparsity_zero_leaves_the_graph_as_it_was),
        cmocka_unit_test(a_group_with_a_layer_left_out_is_kept_whole_and_says_why),
        cmocka_unit_test(group_sum_removes_the_asked_share_of_a_residual_group),
        cmocka_unit_test(l1_and_l2_can_rank_channels_differently),
        cmocka_unit_test(an_empty_tensor_is_left_alone_without_complaint),
        cmocka_unit_test(structured_pruning_refuses_an_op_without_channels_and_names_the_tensor),
        cmocka_unit_test(bad_options_are_refused_naming_the_key_and_what_is_valid),
        cmocka_unit_test(the_pipeline_order_rules_refuse_prune_in_the_wrong_place),
        cmocka_unit_test(an_int8_weight_is_refused_as_already_quantized),
        cmocka_unit_test(non_finite_weights_are_refused_as_bad_input),
        cmocka_unit_test(a_per_layer_override_of_a_global_stage_prunes_its_tensor_on_its_own),
        cmocka_unit_test(pruned_float_weights_decode_exactly_from_a_sparse_blob),
        cmocka_unit_test(pruned_zeros_survive_kmeans_through_the_blob),
        cmocka_unit_test(pruned_zeros_survive_uniform_quantization_through_the_blob),
        cmocka_unit_test(half_float_weights_prune_to_half_zeros_through_the_blob),
        cmocka_unit_test(the_blob_shrinks_as_sparsity_grows),
        cmocka_unit_test(the_same_model_and_options_give_the_same_blob),
        cmocka_unit_test(equal_slope_allocation_is_never_beaten_at_its_own_distortion),
    };
    return cmocka_run_group_tests_name("prune", tests, NULL, NULL);
}
