/* test_decompose.c - the decompose pass: the linear algebra (truncated SVD
 * and Eckart-Young, the rank rules, empirical VBMF, Tucker-2 by HOOI) and
 * the graph rewrite, checked by running small models before and after
 * through a tiny reference interpreter (MatMul, Gemm, Conv). The same
 * rewrites are run in ONNX Runtime by tests/suite/47-decompose.sh. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "decompose.h"
#include "model.h"
#include "pass.h"
#include "util_blob.h"

/* ---- deterministic random numbers --------------------------------------------------- */

static uint64_t rng = 88172645463325252ull;

static double urand(void) /* uniform in [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / (double)(1ull << 52) - 1.0;
}

static double nrand(void) /* approximately standard normal */
{
    double s = 0;
    for (int i = 0; i < 12; i++)
        s += 0.5 * (urand() + 1);
    return s - 6;
}

static double *random_matrix(size_t m, size_t n)
{
    double *a = malloc(m * n * sizeof *a);
    for (size_t i = 0; i < m * n; i++)
        a[i] = nrand();
    return a;
}

/* a = b (m x k) c (k x n) */
static void matmul(const double *b, const double *c, size_t m, size_t k, size_t n, double *a)
{
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0;
            for (size_t q = 0; q < k; q++)
                s += b[i * k + q] * c[q * n + j];
            a[i * n + j] = s;
        }
}

static double frob(const double *a, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * a[i];
    return sqrt(s);
}

/* ---- the linear algebra ---------------------------------------------------------------- */

/* ||A - U_r S_r V_r^T|| for the thin SVD */
static double truncation_error(const double *a, size_t m, size_t n, const double *u,
                               const double *s, const double *vt, size_t r)
{
    size_t k = m < n ? m : n;
    double err = 0;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double x = 0;
            for (size_t q = 0; q < r; q++)
                x += u[i * k + q] * s[q] * vt[q * n + j];
            err += (a[i * n + j] - x) * (a[i * n + j] - x);
        }
    return sqrt(err);
}

static void check_eckart_young(const double *a, size_t m, size_t n)
{
    size_t k = m < n ? m : n;
    double *u = malloc(m * k * sizeof *u), *s = malloc(k * sizeof *s);
    double *vt = malloc(k * n * sizeof *vt);
    nnz_error e = { 0 };
    assert_int_equal(dec_svd(a, m, n, u, s, vt, &e), 0);
    for (size_t i = 1; i < k; i++)
        assert_true(s[i] <= s[i - 1]);
    double norm = frob(a, m * n);
    size_t step = k > 20 ? k / 10 : 1;
    for (size_t r = 0; r <= k; r += step) {
        double got = truncation_error(a, m, n, u, s, vt, r), want = sqrt(dec_tail(s, k, r));
        if (fabs(got - want) > 1e-9 * norm)
            fail_msg("%zu x %zu, rank %zu: error %.12g, sqrt(sum of dropped s^2) %.12g", m, n, r,
                     got, want);
    }
    free(u);
    free(s);
    free(vt);
}

static void svd_reconstructs_a_matrix_with_orthonormal_factors(void **state)
{
    (void)state;
    size_t m = 13, n = 7, k = 7;
    double *a = random_matrix(m, n);
    double *u = malloc(m * k * sizeof *u), s[7], *vt = malloc(k * n * sizeof *vt);
    nnz_error e = { 0 };
    assert_int_equal(dec_svd(a, m, n, u, s, vt, &e), 0);
    assert_true(truncation_error(a, m, n, u, s, vt, k) < 1e-12 * frob(a, m * n));
    for (size_t p = 0; p < k; p++)
        for (size_t q = 0; q < k; q++) {
            double du = 0, dv = 0;
            for (size_t i = 0; i < m; i++)
                du += u[i * k + p] * u[i * k + q];
            for (size_t j = 0; j < n; j++)
                dv += vt[p * n + j] * vt[q * n + j];
            assert_true(fabs(du - (p == q)) < 1e-12);
            assert_true(fabs(dv - (p == q)) < 1e-12);
        }
    /* the sign convention: each u column's largest entry is positive */
    for (size_t q = 0; q < k; q++) {
        double big = 0;
        for (size_t i = 0; i < m; i++)
            if (fabs(u[i * k + q]) > fabs(big))
                big = u[i * k + q];
        assert_true(big > 0);
    }
    free(a);
    free(u);
    free(vt);
}

static void truncated_svd_error_is_the_root_of_the_dropped_squares(void **state)
{
    (void)state;
    size_t shapes[][2] = { { 40, 40 }, { 64, 17 }, { 9, 120 }, { 1, 30 }, { 30, 1 } };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        double *a = random_matrix(shapes[i][0], shapes[i][1]);
        check_eckart_young(a, shapes[i][0], shapes[i][1]);
        free(a);
    }
}

/* The largest 2-D float weight of a real model, read through the IR. */
static double *largest_weight(const char *path, size_t *m, size_t *n, char *name, size_t len)
{
    nnz_model *md;
    nnz_error e = { 0 };
    if (nnz_model_load(path, &md, &e) != 0)
        return NULL;
    nnz_tensor *t = NULL;
    for (size_t k = 0; k < md->ntensors; k++)
        if (md->tensors[k].ndims == 2 && md->tensors[k].dtype == NNZ_DT_FLOAT &&
            (!t || md->tensors[k].count > t->count))
            t = &md->tensors[k];
    double *a = NULL;
    float *f = t ? nnz_tensor_floats(md, t, &e) : NULL;
    if (f) {
        *m = (size_t)t->dims[0];
        *n = (size_t)t->dims[1];
        snprintf(name, len, "%s", t->name);
        a = malloc(t->count * sizeof *a);
        for (size_t i = 0; i < t->count; i++)
            a[i] = f[i];
        free(f);
    }
    nnz_model_free(md);
    return a;
}

static void truncated_svd_error_matches_eckart_young_on_real_weights(void **state)
{
    (void)state;
    char paths[2][1024], name[256];
    snprintf(paths[0], sizeof paths[0], "%s/oww_hey_jarvis.onnx",
             getenv("CORPUS") ? getenv("CORPUS") : ".corpus");
    snprintf(paths[1], sizeof paths[1], "%s/fixtures/digits_mlp.onnx",
             getenv("BUILD") ? getenv("BUILD") : "build");
    int done = 0;
    for (int i = 0; i < 2; i++) {
        size_t m = 0, n = 0;
        double *a = largest_weight(paths[i], &m, &n, name, sizeof name);
        if (!a)
            continue;
        print_message("Eckart-Young on %s '%s' (%zu x %zu)\n", paths[i], name, m, n);
        check_eckart_young(a, m, n);
        free(a);
        done++;
    }
    if (!done)
        skip(); /* neither the corpus nor the fixtures are there */
}

static void rank_rules_pick_the_smallest_rank_meeting_the_target(void **state)
{
    (void)state;
    double s[4] = { 4, 2, 1, 1 }; /* squares 16 4 1 1, total 22 */
    assert_int_equal(dec_rank_energy(s, 4, 16.0 / 22), 1);
    assert_int_equal(dec_rank_energy(s, 4, 16.5 / 22), 2);
    assert_int_equal(dec_rank_energy(s, 4, 20.0 / 22), 2);
    assert_int_equal(dec_rank_energy(s, 4, 21.5 / 22), 4);
    assert_int_equal(dec_rank_energy(s, 4, 1), 4);
    assert_int_equal(dec_rank_error(s, 4, sqrt(2.0 / 22)), 2);
    assert_int_equal(dec_rank_error(s, 4, sqrt(1.9 / 22)), 3);
    assert_int_equal(dec_rank_error(s, 4, sqrt(6.0 / 22)), 1);
    assert_int_equal(dec_rank_error(s, 4, 1e-9), 4);
    assert_true(fabs(dec_tail(s, 4, 1) - 6) < 1e-15);
    double z[3] = { 0, 0, 0 };
    assert_int_equal(dec_rank_energy(z, 3, 0.9), 0);
    assert_int_equal(dec_rank_error(z, 3, 0.1), 0);
}

static void vbmf_threshold_constant_is_2_5129_for_square_matrices(void **state)
{
    (void)state;
    /* log(1 + t) / t = 1/2 at t = 2.5129 (Nakajima et al. 2013) */
    double t = dec_vbmf_tau(1);
    assert_true(fabs(t - 2.5129) < 1e-4);
    assert_true(fabs(log1p(t) / t - 0.5) < 1e-12);
    /* for alpha < 1: the root of the defining equation, above sqrt(alpha) and
     * near the 2.5129 sqrt(alpha) some implementations use instead */
    for (double a = 0.05; a < 1; a += 0.1) {
        double ta = dec_vbmf_tau(a);
        assert_true(fabs(log1p(ta) / ta + log1p(ta / a) / (ta / a) - 1) < 1e-12);
        assert_true(ta > sqrt(a) && fabs(ta / (2.5129 * sqrt(a)) - 1) < 0.06);
    }
}

static size_t vbmf_of(const double *a, size_t m, size_t n, double *sigma2)
{
    size_t k = m < n ? m : n;
    double *u = malloc(m * k * sizeof *u), *s = malloc(k * sizeof *s);
    nnz_error e = { 0 };
    assert_int_equal(dec_svd(a, m, n, u, s, NULL, &e), 0);
    size_t r = dec_vbmf_rank(s, m, n, 1, sigma2);
    free(u);
    free(s);
    return r;
}

static void vbmf_finds_the_rank_of_a_low_rank_matrix_in_noise(void **state)
{
    (void)state;
    size_t m = 80, n = 150, r = 6;
    double *b = random_matrix(m, r), *c = random_matrix(r, n), *a = malloc(m * n * sizeof *a);
    matmul(b, c, m, r, n, a);
    for (size_t i = 0; i < m * n; i++)
        a[i] += 0.3 * nrand();
    double sigma2;
    assert_int_equal(vbmf_of(a, m, n, &sigma2), r);
    assert_true(fabs(sqrt(sigma2) - 0.3) < 0.05); /* the noise level, estimated */
    /* vbmf-scale divides the threshold: more components above 1, fewer below */
    double *u = malloc(m * m * sizeof *u), sv[80];
    nnz_error e = { 0 };
    assert_int_equal(dec_svd(a, m, n, u, sv, NULL, &e), 0);
    size_t prev = 0;
    for (double f = 0.05; f < 100; f *= 1.5) {
        size_t k = dec_vbmf_rank(sv, m, n, f, NULL);
        assert_true(k >= prev);
        prev = k;
    }
    assert_int_equal(dec_vbmf_rank(sv, m, n, 0.05, NULL), 0);
    assert_int_equal(dec_vbmf_rank(sv, m, n, 1e6, NULL), m);
    assert_true(dec_vbmf_rank(sv, m, n, 3, NULL) > r);
    free(u);
    /* the same transposed */
    double *at = malloc(m * n * sizeof *at);
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++)
            at[j * m + i] = a[i * n + j];
    assert_int_equal(vbmf_of(at, n, m, NULL), r);
    free(a);
    free(at);
    free(b);
    free(c);
}

static void vbmf_finds_no_signal_in_pure_noise(void **state)
{
    (void)state;
    double *a = random_matrix(60, 90);
    assert_true(vbmf_of(a, 60, 90, NULL) <= 1);
    free(a);
    double z[12] = { 0 };
    assert_int_equal(vbmf_of(z, 3, 4, NULL), 0);
}

/* K = G x1 A x2 B with G (ro x ri x p), A (t x ro), B (s x ri) */
static double *multilinear(size_t t, size_t s, size_t p, size_t ro, size_t ri)
{
    double *g = random_matrix(ro, ri * p), *a = random_matrix(t, ro), *b = random_matrix(s, ri);
    double *k = calloc(t * s * p, sizeof *k);
    for (size_t i = 0; i < t; i++)
        for (size_t j = 0; j < s; j++)
            for (size_t q = 0; q < ro; q++)
                for (size_t r = 0; r < ri; r++)
                    for (size_t x = 0; x < p; x++)
                        k[(i * s + j) * p + x] +=
                            a[i * ro + q] * g[(q * ri + r) * p + x] * b[j * ri + r];
    free(g);
    free(a);
    free(b);
    return k;
}

static double tucker_check(const double *k, size_t t, size_t s, size_t p, size_t ro, size_t ri,
                           int iters, dec_tucker *d)
{
    nnz_error e = { 0 };
    assert_int_equal(dec_tucker2(k, t, s, p, ro, ri, iters, d, &e), 0);
    double *r = malloc(t * s * p * sizeof *r);
    dec_tucker_rebuild(d, r);
    double err = 0;
    for (size_t i = 0; i < t * s * p; i++)
        err += (k[i] - r[i]) * (k[i] - r[i]);
    free(r);
    double rel = sqrt(err) / frob(k, t * s * p);
    assert_true(fabs(rel - d->rel_error) < 1e-12);
    return rel;
}

static void tucker2_at_full_ranks_reproduces_the_kernel(void **state)
{
    (void)state;
    dec_tucker d;
    double *k = random_matrix(12, 5 * 9);
    /* both modes kept: the identity */
    assert_true(tucker_check(k, 12, 5, 9, 12, 5, 10, &d) < 1e-15);
    assert_null(d.u_out);
    assert_null(d.u_in);
    dec_tucker_free(&d);
    free(k);
    /* a mode factorised at its unfolding's full rank: exact to double precision */
    k = random_matrix(16, 1 * 9);
    assert_true(tucker_check(k, 16, 1, 9, 9, 1, 10, &d) < 1e-13);
    dec_tucker_free(&d);
    free(k);
    k = random_matrix(3, 20 * 1);
    assert_true(tucker_check(k, 3, 20, 1, 3, 3, 10, &d) < 1e-13);
    dec_tucker_free(&d);
    free(k);
}

static void tucker2_recovers_an_exact_multilinear_rank_kernel(void **state)
{
    (void)state;
    dec_tucker d;
    double *k = multilinear(24, 20, 9, 7, 5);
    double rel = tucker_check(k, 24, 20, 9, 7, 5, 50, &d);
    if (rel > 1e-12)
        fail_msg("multilinear rank (7, 5) kernel: relative error %g", rel);
    /* orthonormal factors */
    for (size_t p = 0; p < 7; p++)
        for (size_t q = 0; q < 7; q++) {
            double x = 0;
            for (size_t i = 0; i < 24; i++)
                x += d.u_out[i * 7 + p] * d.u_out[i * 7 + q];
            assert_true(fabs(x - (p == q)) < 1e-12);
        }
    dec_tucker_free(&d);
    free(k);
}

static void hooi_improves_on_hosvd_and_stays_within_the_bound(void **state)
{
    (void)state;
    size_t t = 32, s = 24, p = 9, ro = 10, ri = 8;
    double *k = multilinear(t, s, p, 16, 12);
    for (size_t i = 0; i < t * s * p; i++)
        k[i] += 0.5 * nrand();
    /* the HOSVD bound: the dropped energy of both unfoldings */
    double *u = malloc(t * t * sizeof *u), *so = malloc(t * sizeof *so);
    double *si = malloc(s * sizeof *si);
    double *z = malloc(t * s * p * sizeof *z);
    nnz_error e = { 0 };
    assert_int_equal(dec_svd(k, t, s * p, u, so, NULL, &e), 0);
    dec_unfold_in(k, t, s, p, z);
    assert_int_equal(dec_svd(z, s, t * p, u, si, NULL, &e), 0);
    double bound = sqrt((dec_tail(so, t, ro) + dec_tail(si, s, ri)) / dec_tail(so, t, 0));
    dec_tucker d1, d50;
    double one = tucker_check(k, t, s, p, ro, ri, 1, &d1);
    double many = tucker_check(k, t, s, p, ro, ri, 50, &d50);
    assert_true(one <= bound + 1e-12);
    assert_true(many <= one + 1e-12);
    assert_true(d50.iterations >= 1 && d50.iterations <= 50);
    /* deterministic: the same factors, bit for bit */
    dec_tucker again;
    tucker_check(k, t, s, p, ro, ri, 50, &again);
    assert_memory_equal(again.core, d50.core, ro * ri * p * sizeof *again.core);
    assert_memory_equal(again.u_out, d50.u_out, t * ro * sizeof *again.u_out);
    assert_memory_equal(again.u_in, d50.u_in, s * ri * sizeof *again.u_in);
    dec_tucker_free(&d1);
    dec_tucker_free(&d50);
    dec_tucker_free(&again);
    free(k);
    free(u);
    free(so);
    free(si);
    free(z);
}

/* ---- building models ------------------------------------------------------------------------ */

#define MAXT 12
#define MAXN 12
#define MAXA 8

typedef struct gb {
    Onnx__GraphProto g;
    Onnx__TensorProto t[MAXT], *init[MAXT];
    size_t nt;
    Onnx__NodeProto n[MAXN], *np[MAXN];
    Onnx__AttributeProto a[MAXN][MAXA], *ap[MAXN][MAXA];
    int64_t ints[MAXN][MAXA][8];
    char *ins[MAXN][3], *outs[MAXN][1];
    Onnx__ValueInfoProto vi[4], *vin[4], vo[4], *vout[4];
} gb;

typedef struct mb {
    Onnx__ModelProto m;
    Onnx__OperatorSetIdProto op, *ops;
    gb main, sub[2];
} mb;

static void gb_init(gb *b, const char *name)
{
    memset(b, 0, sizeof *b);
    onnx__graph_proto__init(&b->g);
    b->g.name = (char *)name;
    b->g.initializer = b->init;
    b->g.node = b->np;
    b->g.input = b->vin;
    b->g.output = b->vout;
}

static void mb_init(mb *b, int64_t opset)
{
    memset(b, 0, sizeof *b);
    tu_model_init(&b->m, &b->main.g, &b->op, &b->ops, opset, "main");
    gb_init(&b->main, "main"); /* after: it wires the graph's arrays */
    gb_init(&b->sub[0], "then");
    gb_init(&b->sub[1], "else");
}

static Onnx__TensorProto *gb_tensor(gb *b, const char *name, const int64_t *dims, size_t nd,
                                    const float *data, int as_init)
{
    Onnx__TensorProto *t = &b->t[b->nt++];
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = NNZ_DT_FLOAT;
    t->dims = (int64_t *)dims;
    t->n_dims = nd;
    size_t n = 1;
    for (size_t i = 0; i < nd; i++)
        n *= (size_t)dims[i];
    t->has_raw_data = 1;
    t->raw_data.data = (uint8_t *)data; /* little-endian host */
    t->raw_data.len = n * 4;
    if (as_init)
        b->init[b->g.n_initializer++] = t;
    return t;
}

static Onnx__NodeProto *gb_node(gb *b, const char *op, const char *in0, const char *in1,
                                const char *in2, const char *out)
{
    size_t i = b->g.n_node++;
    Onnx__NodeProto *n = &b->n[i];
    onnx__node_proto__init(n);
    n->op_type = (char *)op;
    n->name = (char *)out;
    b->ins[i][0] = (char *)in0;
    b->ins[i][1] = (char *)in1;
    b->ins[i][2] = (char *)in2;
    n->input = b->ins[i];
    n->n_input = in2 ? 3 : in1 ? 2 : in0 ? 1 : 0;
    b->outs[i][0] = (char *)out;
    n->output = b->outs[i];
    n->n_output = 1;
    n->attribute = b->ap[i];
    b->np[i] = n;
    return n;
}

static Onnx__AttributeProto *gb_attr(gb *b, Onnx__NodeProto *n, const char *name)
{
    size_t i = (size_t)(n - b->n), k = n->n_attribute++;
    Onnx__AttributeProto *a = &b->a[i][k];
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    b->ap[i][k] = a;
    return a;
}

static void attr_i(gb *b, Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = gb_attr(b, n, name);
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v;
}

static void attr_f(gb *b, Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a = gb_attr(b, n, name);
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    a->has_f = 1;
    a->f = v;
}

static void attr_ints(gb *b, Onnx__NodeProto *n, const char *name, int count, ...)
{
    size_t i = (size_t)(n - b->n), k = n->n_attribute;
    Onnx__AttributeProto *a = gb_attr(b, n, name);
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    va_list ap;
    va_start(ap, count);
    for (int j = 0; j < count; j++)
        b->ints[i][k][j] = va_arg(ap, int64_t);
    va_end(ap);
    a->ints = b->ints[i][k];
    a->n_ints = (size_t)count;
}

static void attr_graph(gb *b, Onnx__NodeProto *n, const char *name, Onnx__GraphProto *g)
{
    Onnx__AttributeProto *a = gb_attr(b, n, name);
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
    a->g = g;
}

static void gb_io(gb *b, const char *in, const char *out)
{
    if (in) {
        onnx__value_info_proto__init(&b->vi[b->g.n_input]);
        b->vi[b->g.n_input].name = (char *)in;
        b->vin[b->g.n_input] = &b->vi[b->g.n_input];
        b->g.n_input++;
    }
    onnx__value_info_proto__init(&b->vo[b->g.n_output]);
    b->vo[b->g.n_output].name = (char *)out;
    b->vout[b->g.n_output] = &b->vo[b->g.n_output];
    b->g.n_output++;
}

static nnz_model *mb_load(mb *b)
{
    size_t len = onnx__model_proto__get_packed_size(&b->m);
    uint8_t *p = malloc(len);
    onnx__model_proto__pack(&b->m, p);
    nnz_model *m = NULL;
    nnz_error e = { 0 };
    if (nnz_model_load_bytes(p, len, "t.onnx", NULL, &m, &e) != 0)
        fail_msg("load: %s", e.msg);
    free(p);
    return m;
}

/* Run a pipeline's model-wide steps on a fresh copy of b. */
static nnz_model *run_pipeline(mb *b, const char *text, cJSON **report)
{
    nnz_model *m = mb_load(b);
    nnz_pipeline p;
    nnz_error e = { 0 };
    if (nnz_pipeline_parse(text, &p, &e) != 0)
        fail_msg("parse '%s': %s", text, e.msg);
    *report = cJSON_CreateObject();
    if (nnz_pipeline_prepare(&p, m, *report, &e) != 0)
        fail_msg("prepare '%s': %s", text, e.msg);
    nnz_pipeline_free(&p);
    return m;
}

static cJSON *layer(cJSON *report, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItem(report, "decompose"), i);
}

static const char *field(cJSON *o, const char *k)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, k));
    return s ? s : "";
}

static double num(cJSON *o, const char *k)
{
    return cJSON_GetNumberValue(cJSON_GetObjectItem(o, k));
}

static size_t count_op(const Onnx__GraphProto *g, const char *op)
{
    size_t n = 0;
    for (size_t i = 0; i < g->n_node; i++)
        n += strcmp(g->node[i]->op_type, op) == 0;
    return n;
}

static int has_init(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_initializer; i++)
        if (strcmp(g->initializer[i]->name, name) == 0)
            return 1;
    return 0;
}

/* ---- a tiny reference interpreter: MatMul, Gemm, Conv (2-D, group 1) ---------------------- */

typedef struct val {
    const char *name;
    int nd;
    int64_t d[4];
    double *v;
} val;

typedef struct env {
    val v[32];
    int n;
} env;

static val *lookup(env *x, const char *name)
{
    for (int i = x->n - 1; i >= 0; i--)
        if (strcmp(x->v[i].name, name) == 0)
            return &x->v[i];
    return NULL;
}

static size_t vcount(const val *v)
{
    size_t n = 1;
    for (int i = 0; i < v->nd; i++)
        n *= (size_t)v->d[i];
    return n;
}

static val *put(env *x, const char *name, int nd, const int64_t *d)
{
    val *v = &x->v[x->n++];
    v->name = name;
    v->nd = nd;
    memcpy(v->d, d, (size_t)nd * sizeof *d);
    v->v = calloc(vcount(v), sizeof *v->v);
    return v;
}

static void put_tensor(env *x, const Onnx__TensorProto *t, const char *name)
{
    val *v = put(x, name, (int)t->n_dims, t->dims);
    for (size_t i = 0; i < vcount(v); i++) {
        float f;
        memcpy(&f, t->raw_data.data + 4 * i, 4);
        v->v[i] = f;
    }
}

static int64_t iattr(const Onnx__NodeProto *n, const char *name, int64_t dflt)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i]->i;
    return dflt;
}

static double fattr(const Onnx__NodeProto *n, const char *name, double dflt)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i]->f;
    return dflt;
}

static int64_t iattrs(const Onnx__NodeProto *n, const char *name, size_t k, int64_t dflt)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (strcmp(n->attribute[i]->name, name) == 0 && k < n->attribute[i]->n_ints)
            return n->attribute[i]->ints[k];
    return dflt;
}

static void eval_node(env *x, const Onnx__NodeProto *n)
{
    const char *op = n->op_type;
    if (strcmp(op, "Constant") == 0) {
        put_tensor(x, n->attribute[0]->t, n->output[0]);
        return;
    }
    val *a = lookup(x, n->input[0]), *b = lookup(x, n->input[1]);
    val *c = n->n_input > 2 ? lookup(x, n->input[2]) : NULL;
    assert_non_null(a);
    assert_non_null(b);
    if (strcmp(op, "MatMul") == 0 || strcmp(op, "Gemm") == 0) {
        int ta = (int)iattr(n, "transA", 0), tb = (int)iattr(n, "transB", 0);
        double alpha = fattr(n, "alpha", 1), beta = fattr(n, "beta", 1);
        int64_t m = a->d[ta ? 1 : 0], k = a->d[ta ? 0 : 1], nn = b->d[tb ? 0 : 1];
        assert_int_equal(b->d[tb ? 1 : 0], k);
        int64_t d[2] = { m, nn };
        val *y = put(x, n->output[0], 2, d);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < nn; j++) {
                double s = 0;
                for (int64_t q = 0; q < k; q++)
                    s += a->v[ta ? q * m + i : i * k + q] * b->v[tb ? j * k + q : q * nn + j];
                double cv = 0;
                if (c)
                    cv = vcount(c) == 1           ? c->v[0]
                         : vcount(c) == (size_t)nn ? c->v[j]
                                                   : c->v[i * nn + j];
                y->v[i * nn + j] = alpha * s + beta * cv;
            }
        return;
    }
    assert_string_equal(op, "Conv");
    assert_int_equal(iattr(n, "group", 1), 1);
    int64_t C = a->d[1], H = a->d[2], W = a->d[3], M = b->d[0], kh = b->d[2], kw = b->d[3];
    assert_int_equal(b->d[1], C);
    int64_t sh = iattrs(n, "strides", 0, 1), sw = iattrs(n, "strides", 1, 1);
    int64_t dh = iattrs(n, "dilations", 0, 1), dw = iattrs(n, "dilations", 1, 1);
    int64_t pt = iattrs(n, "pads", 0, 0), pl = iattrs(n, "pads", 1, 0);
    int64_t pb = iattrs(n, "pads", 2, 0), pr = iattrs(n, "pads", 3, 0);
    int64_t oh = (H + pt + pb - dh * (kh - 1) - 1) / sh + 1;
    int64_t ow = (W + pl + pr - dw * (kw - 1) - 1) / sw + 1;
    int64_t d[4] = { 1, M, oh, ow };
    val *y = put(x, n->output[0], 4, d);
    for (int64_t mo = 0; mo < M; mo++)
        for (int64_t i = 0; i < oh; i++)
            for (int64_t j = 0; j < ow; j++) {
                double s = c ? c->v[mo] : 0;
                for (int64_t ci = 0; ci < C; ci++)
                    for (int64_t u = 0; u < kh; u++)
                        for (int64_t v = 0; v < kw; v++) {
                            int64_t yy = i * sh - pt + u * dh, xx = j * sw - pl + v * dw;
                            if (yy < 0 || yy >= H || xx < 0 || xx >= W)
                                continue;
                            s += a->v[(ci * H + yy) * W + xx] *
                                 b->v[((mo * C + ci) * kh + u) * kw + v];
                        }
                y->v[(mo * oh + i) * ow + j] = s;
            }
}

/* Run the main graph on input `in` (nd dims), return a copy of output `out`. */
static double *eval(const nnz_model *m, const char *in, int nd, const int64_t *d,
                    const double *xv, const char *out, size_t *count)
{
    env x = { 0 };
    const Onnx__GraphProto *g = m->proto->graph;
    for (size_t i = 0; i < g->n_initializer; i++)
        put_tensor(&x, g->initializer[i], g->initializer[i]->name);
    val *v = put(&x, in, nd, d);
    memcpy(v->v, xv, vcount(v) * sizeof *xv);
    for (size_t i = 0; i < g->n_node; i++)
        eval_node(&x, g->node[i]);
    val *y = lookup(&x, out);
    assert_non_null(y);
    *count = vcount(y);
    double *r = malloc(*count * sizeof *r);
    memcpy(r, y->v, *count * sizeof *r);
    for (int i = 0; i < x.n; i++)
        free(x.v[i].v);
    return r;
}

static double rel_diff(const double *a, const double *b, size_t n)
{
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        d += (a[i] - b[i]) * (a[i] - b[i]);
        r += a[i] * a[i];
    }
    return sqrt(d / r);
}

/* Both models on the same random input; their outputs' relative difference. */
static double compare(const nnz_model *a, const nnz_model *b, const char *in, int nd,
                      const int64_t *d, const char *out)
{
    size_t n = 1, na, nb;
    for (int i = 0; i < nd; i++)
        n *= (size_t)d[i];
    double *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = urand();
    double *ya = eval(a, in, nd, d, x, out, &na), *yb = eval(b, in, nd, d, x, out, &nb);
    assert_int_equal(na, nb);
    double r = rel_diff(ya, yb, na);
    free(x);
    free(ya);
    free(yb);
    return r;
}

/* A rows x cols float matrix of rank r (an exact low-rank weight). */
static float *low_rank(size_t rows, size_t cols, size_t r)
{
    double *b = random_matrix(rows, r), *c = random_matrix(r, cols);
    double *a = malloc(rows * cols * sizeof *a);
    matmul(b, c, rows, r, cols, a);
    float *f = malloc(rows * cols * sizeof *f);
    for (size_t i = 0; i < rows * cols; i++)
        f[i] = (float)(a[i] / sqrt((double)r));
    free(a);
    free(b);
    free(c);
    return f;
}

static float *to_float(double *d, size_t n)
{
    float *f = malloc(n * sizeof *f);
    for (size_t i = 0; i < n; i++)
        f[i] = (float)d[i];
    free(d);
    return f;
}

/* ---- the rewrite ---------------------------------------------------------------------------- */

static void matmul_weight_becomes_two_matmuls_with_the_same_outputs(void **state)
{
    (void)state;
    mb b;
    mb_init(&b, 13);
    int64_t wd[2] = { 24, 40 };
    float *w = low_rank(24, 40, 4);
    gb_tensor(&b.main, "W", wd, 2, w, 1);
    gb_node(&b.main, "MatMul", "x", "W", NULL, "y");
    gb_io(&b.main, "x", "y");
    cJSON *rep;
    nnz_model *orig = mb_load(&b), *m = run_pipeline(&b, "decompose:rank=4", &rep);
    const Onnx__GraphProto *g = m->proto->graph;
    assert_int_equal(g->n_node, 2);
    assert_int_equal(count_op(g, "MatMul"), 2);
    assert_false(has_init(g, "W"));
    assert_true(has_init(g, "W_svd_in") && has_init(g, "W_svd_out"));
    assert_string_equal(g->node[0]->input[0], "x");
    assert_string_equal(g->node[1]->output[0], "y");
    /* the IR was rescanned: the factors are the model's weights now */
    assert_int_equal(m->ntensors, 2);
    assert_non_null(nnz_model_find(m, "W_svd_in"));
    assert_int_equal(nnz_model_find(m, "W_svd_in")->dims[1], 4);
    cJSON *l = layer(rep, 0);
    assert_string_equal(field(l, "decision"), "decomposed");
    assert_string_equal(field(l, "method"), "svd");
    assert_int_equal((int)num(l, "rank"), 4);
    assert_int_equal((int)num(l, "params_before"), 24 * 40);
    assert_int_equal((int)num(l, "params_after"), 4 * 64);
    assert_true(num(l, "rel_error") < 1e-6);
    int64_t xd[2] = { 3, 24 };
    assert_true(compare(orig, m, "x", 2, xd, "y") < 1e-6);
    /* batched, broadcast A: the same rewrite (only B is factorised) */
    cJSON_Delete(rep);
    nnz_model_free(m);
    nnz_model_free(orig);
    free(w);
}

static void gemm_with_transB_alpha_beta_bias_becomes_two_gemms_with_the_same_outputs(void **state)
{
    (void)state;
    for (int tb = 0; tb < 2; tb++)
        for (int ta = 0; ta < 2; ta++) {
            mb b;
            mb_init(&b, 13);
            int64_t wd[2] = { tb ? 30 : 20, tb ? 20 : 30 }, ad[2] = { 5, 20 }, cd[1] = { 30 };
            float *w = low_rank((size_t)wd[0], (size_t)wd[1], 3);
            float bias[30];
            for (int i = 0; i < 30; i++)
                bias[i] = (float)urand();
            gb_tensor(&b.main, "B", wd, 2, w, 1);
            gb_tensor(&b.main, "C", cd, 1, bias, 1);
            Onnx__NodeProto *n = gb_node(&b.main, "Gemm", "a", "B", "C", "y");
            attr_f(&b.main, n, "alpha", 0.75f);
            attr_f(&b.main, n, "beta", -1.5f);
            if (tb)
                attr_i(&b.main, n, "transB", 1);
            if (ta)
                attr_i(&b.main, n, "transA", 1);
            gb_io(&b.main, "a", "y");
            cJSON *rep;
            nnz_model *orig = mb_load(&b), *m = run_pipeline(&b, "decompose:rank=3", &rep);
            const Onnx__GraphProto *g = m->proto->graph;
            assert_int_equal(count_op(g, "Gemm"), 2);
            assert_string_equal(field(layer(rep, 0), "decision"), "decomposed");
            assert_string_equal(g->node[1]->input[2], "C");
            assert_int_equal(g->node[0]->n_input, 2); /* opset 13: no C on the first */
            int64_t xd[2] = { ta ? 20 : 5, ta ? 5 : 20 };
            (void)ad;
            double r = compare(orig, m, "a", 2, xd, "y");
            if (r > 1e-6)
                fail_msg("transA=%d transB=%d: outputs differ by %g", ta, tb, r);
            cJSON_Delete(rep);
            nnz_model_free(m);
            nnz_model_free(orig);
            free(w);
        }
}

static void gemm_and_matmul_with_the_weight_as_A_operand_are_factorised(void **state)
{
    (void)state;
    const char *ops[2] = { "Gemm", "MatMul" };
    for (int k = 0; k < 3; k++) {
        mb b;
        mb_init(&b, 13);
        int ta = k == 2;
        int64_t wd[2] = { ta ? 24 : 18, ta ? 18 : 24 };
        float *w = low_rank((size_t)wd[0], (size_t)wd[1], 2);
        gb_tensor(&b.main, "A", wd, 2, w, 1);
        Onnx__NodeProto *n = gb_node(&b.main, ops[k == 1], "A", "x", NULL, "y");
        if (ta)
            attr_i(&b.main, n, "transA", 1);
        gb_io(&b.main, "x", "y");
        cJSON *rep;
        nnz_model *orig = mb_load(&b), *m = run_pipeline(&b, "decompose:rank=2", &rep);
        assert_string_equal(field(layer(rep, 0), "decision"), "decomposed");
        assert_string_equal(field(layer(rep, 0), "macs_unit"), "column");
        int64_t xd[2] = { 24, 6 };
        double r = compare(orig, m, "x", 2, xd, "y");
        if (r > 1e-6)
            fail_msg("%s with the weight as A (transA=%d): outputs differ by %g", ops[k == 1], ta,
                     r);
        cJSON_Delete(rep);
        nnz_model_free(m);
        nnz_model_free(orig);
        free(w);
    }
}

static void conv_becomes_three_convs_carrying_strides_pads_dilations(void **state)
{
    (void)state;
    /* a non-square kernel of multilinear rank (5, 4): exact at those ranks */
    size_t T = 12, S = 10, kh = 3, kw = 2;
    float *w = to_float(multilinear(T, S, kh * kw, 5, 4), T * S * kh * kw);
    float bias[12];
    for (int i = 0; i < 12; i++)
        bias[i] = (float)urand();
    mb b;
    mb_init(&b, 13);
    int64_t wd[4] = { 12, 10, 3, 2 }, bd[1] = { 12 };
    gb_tensor(&b.main, "K", wd, 4, w, 1);
    gb_tensor(&b.main, "bias", bd, 1, bias, 1);
    Onnx__NodeProto *n = gb_node(&b.main, "Conv", "x", "K", "bias", "y");
    attr_ints(&b.main, n, "strides", 2, (int64_t)2, (int64_t)1);
    attr_ints(&b.main, n, "pads", 4, (int64_t)1, (int64_t)0, (int64_t)2, (int64_t)1);
    attr_ints(&b.main, n, "dilations", 2, (int64_t)1, (int64_t)2);
    attr_ints(&b.main, n, "kernel_shape", 2, (int64_t)3, (int64_t)2);
    gb_io(&b.main, "x", "y");
    cJSON *rep;
    nnz_model *orig = mb_load(&b);
    nnz_model *m = run_pipeline(&b, "decompose:max-rel-error=0.001", &rep);
    const Onnx__GraphProto *g = m->proto->graph;
    cJSON *l = layer(rep, 0);
    assert_string_equal(field(l, "decision"), "decomposed");
    assert_string_equal(field(l, "method"), "tucker2");
    assert_string_equal(field(l, "modes"), "in+out");
    assert_int_equal((int)num(l, "rank_in"), 4);
    assert_int_equal((int)num(l, "rank_out"), 5);
    assert_int_equal((int)num(l, "params_after"), 10 * 4 + 6 * 4 * 5 + 12 * 5);
    assert_true(num(l, "rel_error") < 1e-6);
    assert_string_equal(field(l, "macs_unit"), "output_pixel");
    assert_int_equal(count_op(g, "Conv"), 3);
    assert_int_equal(g->node[0]->n_input, 2);
    assert_int_equal(g->node[1]->n_input, 2);
    assert_string_equal(g->node[2]->input[2], "bias");
    assert_int_equal(iattrs(g->node[0], "kernel_shape", 1, 0), 1);
    assert_int_equal(iattrs(g->node[1], "strides", 0, 0), 2);
    assert_int_equal(iattrs(g->node[1], "dilations", 1, 0), 2);
    assert_int_equal(iattrs(g->node[1], "pads", 3, 0), 1);
    assert_int_equal(iattrs(g->node[2], "kernel_shape", 0, 0), 1);
    int64_t xd[4] = { 1, 10, 9, 8 };
    double r = compare(orig, m, "x", 4, xd, "y");
    if (r > 1e-5)
        fail_msg("the conv chain differs from the conv by %g", r);
    cJSON_Delete(rep);
    nnz_model_free(m);
    nnz_model_free(orig);
    free(w);
}

static void conv_with_few_input_channels_keeps_its_input_mode(void **state)
{
    (void)state;
    size_t T = 32, S = 3;
    float *w = to_float(multilinear(T, S, 9, 4, 3), T * S * 9);
    mb b;
    mb_init(&b, 13);
    int64_t wd[4] = { 32, 3, 3, 3 };
    gb_tensor(&b.main, "K", wd, 4, w, 1);
    Onnx__NodeProto *n = gb_node(&b.main, "Conv", "x", "K", NULL, "y");
    attr_ints(&b.main, n, "pads", 4, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1);
    gb_io(&b.main, "x", "y");
    cJSON *rep;
    nnz_model *orig = mb_load(&b), *m = run_pipeline(&b, "decompose:rank=4", &rep);
    cJSON *l = layer(rep, 0);
    assert_string_equal(field(l, "decision"), "decomposed");
    assert_string_equal(field(l, "modes"), "out");
    assert_int_equal((int)num(l, "rank_in"), 3);
    assert_int_equal((int)num(l, "params_after"), 9 * 3 * 4 + 32 * 4);
    assert_int_equal(count_op(m->proto->graph, "Conv"), 2);
    int64_t xd[4] = { 1, 3, 6, 5 };
    assert_true(compare(orig, m, "x", 4, xd, "y") < 1e-5);
    cJSON_Delete(rep);
    nnz_model_free(m);
    nnz_model_free(orig);
    /* min-in-channels=2 lets the input mode be factorised too (rank 3 == S: kept) */
    m = run_pipeline(&b, "decompose:rank=2,min-in-channels=2", &rep);
    assert_string_equal(field(layer(rep, 0), "modes"), "in+out");
    cJSON_Delete(rep);
    nnz_model_free(m);
    free(w);
}

static void pointwise_conv_becomes_two_pointwise_convs(void **state)
{
    (void)state;
    float *w = low_rank(16, 24, 3);
    float bias[16] = { 0.5f, -1 };
    mb b;
    mb_init(&b, 13);
    int64_t wd[4] = { 16, 24, 1, 1 }, bd[1] = { 16 };
    gb_tensor(&b.main, "K", wd, 4, w, 1);
    gb_tensor(&b.main, "bias", bd, 1, bias, 1);
    Onnx__NodeProto *n = gb_node(&b.main, "Conv", "x", "K", "bias", "y");
    attr_ints(&b.main, n, "strides", 2, (int64_t)2, (int64_t)2);
    attr_ints(&b.main, n, "pads", 4, (int64_t)1, (int64_t)1, (int64_t)0, (int64_t)0);
    gb_io(&b.main, "x", "y");
    cJSON *rep;
    nnz_model *orig = mb_load(&b), *m = run_pipeline(&b, "decompose:energy=0.999", &rep);
    cJSON *l = layer(rep, 0);
    assert_string_equal(field(l, "decision"), "decomposed");
    assert_string_equal(field(l, "method"), "svd");
    assert_int_equal((int)num(l, "rank"), 3);
    const Onnx__GraphProto *g = m->proto->graph;
    assert_int_equal(count_op(g, "Conv"), 2);
    assert_int_equal(iattrs(g->node[0], "strides", 0, 0), 2); /* the first carries them */
    assert_int_equal(g->node[1]->n_input, 3);
    int64_t xd[4] = { 1, 24, 5, 7 };
    assert_true(compare(orig, m, "x", 4, xd, "y") < 1e-5);
    cJSON_Delete(rep);
    nnz_model_free(m);
    nnz_model_free(orig);
    free(w);
}

static void constant_node_weights_are_factorised_and_the_constant_removed(void **state)
{
    (void)state;
    float *w = low_rank(20, 30, 2);
    mb b;
    mb_init(&b, 13);
    int64_t wd[2] = { 20, 30 };
    Onnx__TensorProto *t = gb_tensor(&b.main, "", wd, 2, w, 0);
    Onnx__NodeProto *c = gb_node(&b.main, "Constant", NULL, NULL, NULL, "W");
    Onnx__AttributeProto *a = gb_attr(&b.main, c, "value");
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
    a->t = t;
    gb_node(&b.main, "MatMul", "x", "W", NULL, "y");
    gb_io(&b.main, "x", "y");
    cJSON *rep;
    nnz_model *orig = mb_load(&b), *m = run_pipeline(&b, "decompose:rank=2", &rep);
    const Onnx__GraphProto *g = m->proto->graph;
    assert_string_equal(field(layer(rep, 0), "decision"), "decomposed");
    assert_int_equal(count_op(g, "Constant"), 0);
    assert_int_equal(count_op(g, "MatMul"), 2);
    assert_true(has_init(g, "W_svd_in"));
    int64_t xd[2] = { 4, 20 };
    assert_true(compare(orig, m, "x", 2, xd, "y") < 1e-6);
    cJSON_Delete(rep);
    nnz_model_free(m);
    nnz_model_free(orig);
    free(w);
}

static void shared_dynamic_depthwise_convtranspose_layers_are_skipped_and_reported(void **state)
{
    (void)state;
    float *w = low_rank(16, 16, 2), *dw = low_rank(8, 9, 3), *ct = low_rank(8, 36, 3);
    mb b;
    mb_init(&b, 13);
    int64_t wd[2] = { 16, 16 }, dwd[4] = { 8, 1, 3, 3 }, ctd[4] = { 8, 4, 3, 3 };
    gb_tensor(&b.main, "W", wd, 2, w, 1);
    gb_tensor(&b.main, "DW", dwd, 4, dw, 1);
    gb_tensor(&b.main, "CT", ctd, 4, ct, 1);
    gb_node(&b.main, "MatMul", "x", "W", NULL, "h");
    gb_node(&b.main, "MatMul", "h", "W", NULL, "y");
    Onnx__NodeProto *n = gb_node(&b.main, "Conv", "img", "DW", NULL, "z");
    attr_i(&b.main, n, "group", 8);
    gb_node(&b.main, "ConvTranspose", "z", "CT", NULL, "u");
    gb_node(&b.main, "Conv", "u", "kernel_in", NULL, "v");
    gb_io(&b.main, "x", "y");
    cJSON *rep;
    nnz_model *m = run_pipeline(&b, "decompose:rank=1", &rep);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(rep, "decompose")), 5);
    const char *want[5] = { "used 2 times", "used 2 times", "depthwise convolution (group=8)",
                            "ConvTranspose is not decomposed", "computed at run time" };
    for (int i = 0; i < 5; i++) {
        cJSON *l = layer(rep, i);
        assert_string_equal(field(l, "decision"), "skipped");
        if (!strstr(field(l, "reason"), want[i]))
            fail_msg("layer %d: reason '%s' lacks '%s'", i, field(l, "reason"), want[i]);
    }
    assert_int_equal(m->proto->graph->n_node, 5);
    /* nothing factorised: a warning says so */
    cJSON *warn = cJSON_GetObjectItem(rep, "warnings");
    assert_int_equal(cJSON_GetArraySize(warn), 1);
    assert_non_null(strstr(cJSON_GetArrayItem(warn, 0)->valuestring, "none of the 5 layers"));
    cJSON_Delete(rep);
    nnz_model_free(m);
    free(w);
    free(dw);
    free(ct);
}

static void layers_that_would_not_save_parameters_are_left_alone(void **state)
{
    (void)state;
    float *w = low_rank(10, 12, 10);
    mb b;
    mb_init(&b, 13);
    int64_t wd[2] = { 10, 12 };
    gb_tensor(&b.main, "W", wd, 2, w, 1);
    gb_node(&b.main, "MatMul", "x", "W", NULL, "y");
    gb_io(&b.main, "x", "y");
    cJSON *rep;
    /* a rank above min(m, n) is clamped to it, and then saves nothing */
    nnz_model *m = run_pipeline(&b, "decompose:rank=64", &rep);
    cJSON *l = layer(rep, 0);
    assert_string_equal(field(l, "decision"), "skipped");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(l, "rank_clamped")));
    assert_int_equal((int)num(l, "rank"), 10);
    assert_non_null(strstr(field(l, "reason"), "no saving: rank 10 needs r(m+n) = 220"));
    assert_true(has_init(m->proto->graph, "W"));
    cJSON_Delete(rep);
    nnz_model_free(m);
    /* rank 5: 5 * 22 = 110 < 120, factorised */
    m = run_pipeline(&b, "decompose:rank=5", &rep);
    assert_string_equal(field(layer(rep, 0), "decision"), "decomposed");
    cJSON_Delete(rep);
    nnz_model_free(m);
    free(w);
}

static void max_rel_error_is_met_in_weight_space(void **state)
{
    (void)state;
    /* noisy weights: the rank follows the target */
    size_t T = 24, S = 16;
    double *kd = multilinear(T, S, 9, 8, 6);
    for (size_t i = 0; i < T * S * 9; i++)
        kd[i] += 0.3 * nrand();
    float *k = to_float(kd, T * S * 9);
    float *w = low_rank(40, 50, 6);
    for (size_t i = 0; i < 40 * 50; i++)
        w[i] += (float)(0.2 * nrand());
    mb b;
    mb_init(&b, 13);
    int64_t kdims[4] = { 24, 16, 3, 3 }, wd[2] = { 40, 50 };
    gb_tensor(&b.main, "K", kdims, 4, k, 1);
    gb_tensor(&b.main, "W", wd, 2, w, 1);
    gb_node(&b.main, "Conv", "x", "K", NULL, "h");
    gb_node(&b.main, "MatMul", "f", "W", NULL, "y");
    gb_io(&b.main, "x", "y");
    double targets[3] = { 0.15, 0.3, 0.5 };
    double prev_params = INFINITY;
    for (int i = 0; i < 3; i++) {
        char text[64];
        snprintf(text, sizeof text, "decompose:max-rel-error=%g", targets[i]);
        cJSON *rep;
        nnz_model *m = run_pipeline(&b, text, &rep);
        for (int j = 0; j < 2; j++) {
            cJSON *l = layer(rep, j);
            if (strcmp(field(l, "decision"), "decomposed") == 0 &&
                !(num(l, "rel_error") <= targets[i]))
                fail_msg("%s: layer %d has error %g", text, j, num(l, "rel_error"));
        }
        double p = num(layer(rep, 0), "params_after");
        assert_true(p <= prev_params);
        prev_params = p;
        cJSON_Delete(rep);
        nnz_model_free(m);
    }
    free(k);
    free(w);
}

static void weights_in_subgraphs_are_factorised_inside_the_branch(void **state)
{
    (void)state;
    float *w = low_rank(12, 16, 2), *w2 = low_rank(12, 16, 2);
    mb b;
    mb_init(&b, 13);
    int64_t wd[2] = { 12, 16 };
    gb_tensor(&b.main, "W", wd, 2, w, 1);      /* outer scope, used in a branch */
    gb_tensor(&b.sub[1], "W2", wd, 2, w2, 1);  /* the branch's own */
    gb_node(&b.sub[0], "MatMul", "x", "W", NULL, "t_out");
    gb_io(&b.sub[0], NULL, "t_out");
    gb_node(&b.sub[1], "MatMul", "x", "W2", NULL, "e_out");
    gb_io(&b.sub[1], NULL, "e_out");
    Onnx__NodeProto *n = gb_node(&b.main, "If", "cond", NULL, NULL, "y");
    attr_graph(&b.main, n, "then_branch", &b.sub[0].g);
    attr_graph(&b.main, n, "else_branch", &b.sub[1].g);
    gb_io(&b.main, "x", "y");
    cJSON *rep;
    nnz_model *m = run_pipeline(&b, "decompose:rank=2", &rep);
    assert_string_equal(field(layer(rep, 0), "decision"), "decomposed");
    assert_string_equal(field(layer(rep, 1), "decision"), "decomposed");
    assert_int_equal((int)num(layer(rep, 0), "graph_depth"), 1);
    const Onnx__GraphProto *g = m->proto->graph;
    const Onnx__GraphProto *then = g->node[0]->attribute[0]->g, *els = g->node[0]->attribute[1]->g;
    assert_false(has_init(g, "W")); /* its only use was in the branch */
    assert_true(has_init(then, "W_svd_in") && has_init(then, "W_svd_out"));
    assert_false(has_init(els, "W2"));
    assert_true(has_init(els, "W2_svd_in"));
    assert_int_equal(count_op(then, "MatMul"), 2);
    assert_int_equal(m->ntensors, 4);
    cJSON_Delete(rep);
    nnz_model_free(m);
    free(w);
    free(w2);
}

static void old_opset_gemm_gets_a_zero_bias(void **state)
{
    (void)state;
    float *w = low_rank(24, 16, 2);
    mb b;
    mb_init(&b, 9);
    int64_t wd[2] = { 24, 16 };
    gb_tensor(&b.main, "B", wd, 2, w, 1);
    Onnx__NodeProto *n = gb_node(&b.main, "Gemm", "a", "B", NULL, "y");
    attr_i(&b.main, n, "transB", 1);
    gb_io(&b.main, "a", "y");
    cJSON *rep;
    nnz_model *orig = mb_load(&b), *m = run_pipeline(&b, "decompose:rank=2", &rep);
    const Onnx__GraphProto *g = m->proto->graph;
    assert_int_equal(g->node[0]->n_input, 3);
    assert_true(has_init(g, "B_svd_zero"));
    int64_t xd[2] = { 3, 16 };
    double r = compare(orig, m, "a", 2, xd, "y");
    if (r > 1e-6)
        fail_msg("outputs differ by %g", r);
    cJSON_Delete(rep);
    nnz_model_free(m);
    nnz_model_free(orig);
    free(w);
}

static void fp16_weights_get_fp16_factors(void **state)
{
    (void)state;
    float *w = low_rank(16, 24, 2);
    uint16_t h[16 * 24];
    for (int i = 0; i < 16 * 24; i++)
        h[i] = nnz_float_to_half(w[i]);
    mb b;
    mb_init(&b, 13);
    int64_t wd[2] = { 16, 24 };
    Onnx__TensorProto *t = gb_tensor(&b.main, "W", wd, 2, (const float *)h, 1);
    t->data_type = NNZ_DT_FLOAT16;
    t->raw_data.len = sizeof h;
    gb_node(&b.main, "MatMul", "x", "W", NULL, "y");
    gb_io(&b.main, "x", "y");
    cJSON *rep;
    nnz_model *m = run_pipeline(&b, "decompose:rank=2", &rep);
    nnz_tensor *f = nnz_model_find(m, "W_svd_in");
    assert_non_null(f);
    assert_int_equal(f->dtype, NNZ_DT_FLOAT16);
    assert_int_equal(f->nbytes, 16 * 2 * 2);
    assert_true(num(layer(rep, 0), "rel_error") < 2e-3); /* half precision */
    cJSON_Delete(rep);
    nnz_model_free(m);
    free(w);
}

static void new_names_do_not_clash_with_existing_ones(void **state)
{
    (void)state;
    float *w = low_rank(16, 24, 2), other[4] = { 1, 2, 3, 4 };
    mb b;
    mb_init(&b, 13);
    int64_t wd[2] = { 16, 24 }, od[1] = { 4 };
    gb_tensor(&b.main, "W", wd, 2, w, 1);
    gb_tensor(&b.main, "W_svd_in", od, 1, other, 1);
    gb_node(&b.main, "MatMul", "x", "W", NULL, "y");
    gb_node(&b.main, "Add", "y", "W_svd_in", NULL, "y_svd_mid");
    gb_io(&b.main, "x", "y_svd_mid");
    cJSON *rep;
    nnz_model *m = run_pipeline(&b, "decompose:rank=2", &rep);
    const Onnx__GraphProto *g = m->proto->graph;
    assert_string_equal(field(layer(rep, 0), "decision"), "decomposed");
    assert_true(has_init(g, "W_svd_in_1"));
    assert_string_equal(g->node[0]->input[1], "W_svd_in_1");
    assert_string_equal(g->node[0]->output[0], "y_svd_mid_1");
    assert_int_equal(nnz_model_find(m, "W_svd_in")->count, 4); /* untouched */
    cJSON_Delete(rep);
    nnz_model_free(m);
    free(w);
}

static void factors_are_ordinary_weights_for_the_passes_that_follow(void **state)
{
    (void)state;
    float *w = low_rank(128, 160, 3); /* factors above quantize's size floor */
    mb b;
    mb_init(&b, 13);
    int64_t wd[2] = { 128, 160 };
    gb_tensor(&b.main, "W", wd, 2, w, 1);
    gb_node(&b.main, "MatMul", "x", "W", NULL, "y");
    gb_io(&b.main, "x", "y");
    nnz_model *m = mb_load(&b);
    nnz_pipeline p;
    nnz_error e = { 0 };
    assert_int_equal(nnz_pipeline_parse("decompose:rank=3 | quantize:bits=8 | huffman", &p, &e), 0);
    cJSON *rep = cJSON_CreateObject();
    assert_int_equal(nnz_pipeline_prepare(&p, m, rep, &e), 0);
    assert_int_equal(m->ntensors, 2);
    for (size_t i = 0; i < m->ntensors; i++)
        assert_int_equal(p.stages[1].selected[i], 1); /* quantize takes both factors */
    nnz_pipeline_free(&p);
    cJSON_Delete(rep);
    nnz_model_free(m);
    free(w);
}

static void per_layer_overrides_set_the_rank_or_turn_the_pass_off(void **state)
{
    (void)state;
    float *w1 = low_rank(32, 40, 6), *w2 = low_rank(32, 40, 6), *w3 = low_rank(32, 40, 6);
    mb b;
    mb_init(&b, 13);
    int64_t wd[2] = { 32, 40 };
    gb_tensor(&b.main, "enc.w", wd, 2, w1, 1);
    gb_tensor(&b.main, "mid.w", wd, 2, w2, 1);
    gb_tensor(&b.main, "head.w", wd, 2, w3, 1);
    gb_node(&b.main, "MatMul", "x1", "enc.w", NULL, "y1");
    gb_node(&b.main, "MatMul", "x2", "mid.w", NULL, "y2");
    gb_node(&b.main, "MatMul", "x3", "head.w", NULL, "y3");
    gb_io(&b.main, "x1", "y1");
    nnz_model *m = mb_load(&b);
    nnz_pipeline p;
    nnz_error e = { 0 };
    assert_int_equal(nnz_pipeline_parse("decompose:rank=2", &p, &e), 0);
    nnz_kv rank6 = { "rank", "6" };
    assert_int_equal(nnz_pipeline_add_override(&p, "decompose", "head.*", &rank6, 1, 0, &e), 0);
    assert_int_equal(nnz_pipeline_add_override(&p, "decompose", "enc.*", NULL, 0, 1, &e), 0);
    cJSON *rep = cJSON_CreateObject();
    if (nnz_pipeline_prepare(&p, m, rep, &e) != 0)
        fail_msg("prepare: %s", e.msg);
    cJSON *l0 = layer(rep, 0), *l1 = layer(rep, 1), *l2 = layer(rep, 2);
    assert_string_equal(field(l0, "decision"), "skipped");
    assert_non_null(strstr(field(l0, "reason"), "per-layer override turns decompose off"));
    assert_int_equal((int)num(l1, "rank"), 2);
    assert_string_equal(field(l1, "rule"), "rank=2");
    assert_int_equal((int)num(l2, "rank"), 6);
    assert_string_equal(field(l2, "rule"), "rank=6");
    assert_true(num(l2, "rel_error") < 1e-6);
    assert_true(has_init(m->proto->graph, "enc.w"));
    nnz_pipeline_free(&p);
    cJSON_Delete(rep);
    nnz_model_free(m);
    free(w1);
    free(w2);
    free(w3);
}

/* ---- options ------------------------------------------------------------------------------- */

static void bad_options_are_usage_errors_naming_key_and_value(void **state)
{
    (void)state;
    static const struct { const char *text, *needle; } bad[] = {
        { "decompose:rank=0", "rank=0: expected an integer in 1.." },
        { "decompose:rank=-3", "rank=-3" },
        { "decompose:rank=lots", "rank=lots: expected an integer in 1..1073741824 (the rank kept "
                                 "per layer) or 'vbmf'" },
        { "decompose:energy=1.5", "energy=1.5: expected a number in (0, 1]" },
        { "decompose:energy=0", "energy=0: expected a number in (0, 1]" },
        { "decompose:energy", "energy=(missing)" },
        { "decompose:max-rel-error=1", "max-rel-error=1: expected a number in (0, 1)" },
        { "decompose:max-rel-error=0", "max-rel-error=0" },
        { "decompose:rank=4,energy=0.9", "choose one of rank=, energy=, max-rel-error=" },
        { "decompose:vbmf-scale=2", "give rank=vbmf too" },
        { "decompose:rank=vbmf,vbmf-scale=0", "vbmf-scale=0" },
        { "decompose:iters=0", "iters=0" },
        { "decompose:min-in-channels=0", "min-in-channels=0" },
        { "decompose:ranks=4", "unknown option 'ranks'" },
        { "quantize:bits=8 | decompose", "decompose after quantize is refused: decompose works on "
                                         "float weights; decompose first" },
        { "prune:sparsity=0.5 | decompose", "decompose after prune is refused" },
        { "huffman | decompose", "" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nnz_pipeline p;
        nnz_error e = { 0 };
        if (nnz_pipeline_parse(bad[i].text, &p, &e) == 0) {
            nnz_pipeline_free(&p);
            fail_msg("'%s' was accepted", bad[i].text);
        }
        assert_int_equal(e.code, NNZ_EXIT_USAGE);
        if (!strstr(e.msg, bad[i].needle))
            fail_msg("'%s': message '%s' lacks '%s'", bad[i].text, e.msg, bad[i].needle);
    }
    static const char *good[] = { "decompose", "decompose:rank=8", "decompose:rank=vbmf",
                                  "decompose:rank=vbmf,vbmf-scale=0.5", "decompose:energy=1",
                                  "decompose:max-rel-error=0.2,iters=5,min-in-channels=1",
                                  "decompose:energy=0.9,only=fc*,min-elements=100" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        nnz_pipeline p;
        nnz_error e = { 0 };
        if (nnz_pipeline_parse(good[i], &p, &e) != 0)
            fail_msg("'%s' refused: %s", good[i], e.msg);
        nnz_pipeline_free(&p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(svd_reconstructs_a_matrix_with_orthonormal_factors),
        cmocka_unit_test(truncated_svd_error_is_the_root_of_the_dropped_squares),
        cmocka_unit_test(truncated_svd_error_matches_eckart_young_on_real_weights),
        cmocka_unit_test(rank_rules_pick_the_smallest_rank_meeting_the_target),
        cmocka_unit_test(vbmf_threshold_constant_is_2_5129_for_square_matrices),
        cmocka_unit_test(vbmf_finds_the_rank_of_a_low_rank_matrix_in_noise),
        cmocka_unit_test(vbmf_finds_no_signal_in_pure_noise),
        cmocka_unit_test(tucker2_at_full_ranks_reproduces_the_kernel),
        cmocka_unit_test(tucker2_recovers_an_exact_multilinear_rank_kernel),
        cmocka_unit_test(hooi_improves_on_hosvd_and_stays_within_the_bound),
        cmocka_unit_test(matmul_weight_becomes_two_matmuls_with_the_same_outputs),
        cmocka_unit_test(gemm_with_transB_alpha_beta_bias_becomes_two_gemms_with_the_same_outputs),
        cmocka_unit_test(gemm_and_matmul_with_the_weight_as_A_operand_are_factorised),
        cmocka_unit_test(conv_becomes_three_convs_carrying_strides_pads_dilations),
        cmocka_unit_test(conv_with_few_input_channels_keeps_its_input_mode),
        cmocka_unit_test(pointwise_conv_becomes_two_pointwise_convs),
        cmocka_unit_test(constant_node_weights_are_factorised_and_the_constant_removed),
        cmocka_unit_test(shared_dynamic_depthwise_convtranspose_layers_are_skipped_and_reported),
        cmocka_unit_test(layers_that_would_not_save_parameters_are_left_alone),
        cmocka_unit_test(max_rel_error_is_met_in_weight_space),
        cmocka_unit_test(weights_in_subgraphs_are_factorised_inside_the_branch),
        cmocka_unit_test(old_opset_gemm_gets_a_zero_bias),
        cmocka_unit_test(fp16_weights_get_fp16_factors),
        cmocka_unit_test(new_names_do_not_clash_with_existing_ones),
        cmocka_unit_test(factors_are_ordinary_weights_for_the_passes_that_follow),
        cmocka_unit_test(per_layer_overrides_set_the_rank_or_turn_the_pass_off),
        cmocka_unit_test(bad_options_are_usage_errors_naming_key_and_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
