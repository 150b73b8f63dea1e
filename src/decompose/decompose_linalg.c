/* decompose_linalg.c - the linear algebra of the decompose pass: thin SVD
 * through LAPACKE, the rank rules (energy, Eckart-Young error, empirical
 * VBMF) and Tucker-2 by HOOI (docs/passes/decompose.md).
 *
 * References: Eckart and Young 1936 (the truncated SVD is the best rank-r
 * approximation in Frobenius norm); Nakajima, Sugiyama, Babacan and Tomioka
 * 2013, "Global analytic solution of fully-observed variational Bayesian
 * matrix factorization" (JMLR 14) and Nakajima et al. 2015 (JMLR 16) for
 * the empirical VB threshold, free energy and noise-variance bounds;
 * De Lathauwer, De Moor and Vandewalle 2000 for HOSVD and HOOI. */
#include <cblas.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "decompose.h"

/* ---- SVD ------------------------------------------------------------------------ */

int dec_svd(const double *a, size_t m, size_t n, double *u, double *s, double *vt,
            nnz_error *e)
{
    size_t k = m < n ? m : n;
    if (k == 0)
        return 0;
    if (m > INT_MAX / 2 || n > INT_MAX / 2)
        return nnz_fail(e, NNZ_EXIT_INPUT, "a %zu x %zu matrix is too large for LAPACK", m, n);
    size_t mn;
    if (nnz_mul_size(m, n, &mn) != 0 || mn > SIZE_MAX / sizeof(double))
        return nnz_fail(e, NNZ_EXIT_INPUT, "a %zu x %zu matrix is too large", m, n);
    double *w = nnz_malloc(mn * sizeof *w, e);
    if (!w)
        return -1;
    memcpy(w, a, mn * sizeof *w);
    lapack_int info;
    if (vt) {
        info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', (lapack_int)m, (lapack_int)n, w,
                              (lapack_int)n, s, u, (lapack_int)k, vt, (lapack_int)n);
        if (info > 0) { /* divide and conquer failed: the QR iteration is slower, surer */
            memcpy(w, a, mn * sizeof *w);
            double *superb = nnz_malloc(k * sizeof *superb, e);
            if (!superb) {
                free(w);
                return -1;
            }
            info = LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'S', 'S', (lapack_int)m, (lapack_int)n, w,
                                  (lapack_int)n, s, u, (lapack_int)k, vt, (lapack_int)n, superb);
            free(superb);
        }
    } else {
        double *superb = nnz_malloc(k * sizeof *superb, e);
        if (!superb) {
            free(w);
            return -1;
        }
        double dummy = 0;
        info = LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'S', 'N', (lapack_int)m, (lapack_int)n, w,
                              (lapack_int)n, s, u, (lapack_int)k, &dummy, 1, superb);
        free(superb);
    }
    free(w);
    if (info < 0)
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "LAPACK SVD: argument %d is wrong (a bug)",
                        (int)-info);
    if (info > 0)
        return 1;
    /* a sign convention that does not depend on the LAPACK build */
    for (size_t j = 0; j < k; j++) {
        size_t at = 0;
        double big = -1;
        for (size_t i = 0; i < m; i++)
            if (fabs(u[i * k + j]) > big) {
                big = fabs(u[i * k + j]);
                at = i;
            }
        if (u[at * k + j] < 0) {
            for (size_t i = 0; i < m; i++)
                u[i * k + j] = -u[i * k + j];
            for (size_t i = 0; vt && i < n; i++)
                vt[j * n + i] = -vt[j * n + i];
        }
    }
    return 0;
}

/* ---- rank rules ------------------------------------------------------------------- */

double dec_tail(const double *s, size_t k, size_t r)
{
    double t = 0;
    for (size_t i = k; i > r; i--) /* smallest first: fewer rounding losses */
        t += s[i - 1] * s[i - 1];
    return t;
}

size_t dec_rank_energy(const double *s, size_t k, double energy)
{
    double total = dec_tail(s, k, 0), kept = 0;
    if (total <= 0)
        return 0;
    for (size_t r = 1; r <= k; r++) {
        kept += s[r - 1] * s[r - 1];
        if (kept >= energy * total * (1 - 1e-12))
            return r;
    }
    return k;
}

size_t dec_rank_error(const double *s, size_t k, double rel)
{
    double total = dec_tail(s, k, 0);
    if (total <= 0)
        return 0;
    double budget = rel * rel * total, tail = 0;
    /* walk up from the smallest value: the last r whose tail fits */
    size_t r = k;
    while (r > 0 && tail + s[r - 1] * s[r - 1] <= budget) {
        tail += s[r - 1] * s[r - 1];
        r--;
    }
    return r;
}

/* ---- empirical VBMF --------------------------------------------------------------- */

static double vb_phi(double z)
{
    return log1p(z) / z - 0.5;
}

double dec_vbmf_tau(double alpha)
{
    /* Xi(t) = Phi(t) + Phi(t / alpha) falls from 1 (t -> 0) to -1 */
    double lo = 1e-12, hi = 1;
    while (vb_phi(hi) + vb_phi(hi / alpha) > 0 && hi < 1e12)
        hi *= 2;
    for (int i = 0; i < 200 && hi - lo > 1e-14 * hi; i++) {
        double mid = 0.5 * (lo + hi);
        if (vb_phi(mid) + vb_phi(mid / alpha) > 0)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

typedef struct vb_problem {
    const double *s;
    size_t l;           /* min(m, n): the number of singular values */
    double mm;          /* max(m, n) */
    double alpha;       /* l / mm */
    double xbar;        /* the EVB threshold on x = s^2 / (M sigma^2) */
    double total;       /* ||V||^2 */
} vb_problem;

/* The free energy as a function of the noise variance, up to terms that do
 * not depend on it: L log s2 + ||V||^2 / (M s2) + sum over the components
 * above the threshold of psi1(x_h), psi1(x) = log(tau + 1) + alpha
 * log(tau / alpha + 1) - tau, tau = tau(x) the larger root of
 * tau^2 - (x - 1 - alpha) tau + alpha = 0. */
static double vb_energy(const vb_problem *p, double s2)
{
    double f = (double)p->l * log(s2) + p->total / (p->mm * s2);
    for (size_t h = 0; h < p->l; h++) {
        double x = p->s[h] * p->s[h] / (p->mm * s2);
        if (x <= p->xbar)
            break; /* descending: none further is above either */
        double b = x - 1 - p->alpha, d = b * b - 4 * p->alpha;
        double tau = 0.5 * (b + sqrt(d > 0 ? d : 0));
        f += log(tau + 1) + p->alpha * log(tau / p->alpha + 1) - tau;
    }
    return f;
}

size_t dec_vbmf_rank(const double *s, size_t m, size_t n, double scale, double *sigma2)
{
    vb_problem p = { .s = s, .l = m < n ? m : n, .mm = (double)(m > n ? m : n) };
    if (p.l == 0)
        return 0;
    p.alpha = (double)p.l / p.mm;
    double tau = dec_vbmf_tau(p.alpha);
    p.xbar = (1 + tau) * (1 + p.alpha / tau);
    p.total = dec_tail(s, p.l, 0);
    if (!(p.total > 0)) {
        if (sigma2)
            *sigma2 = 0;
        return 0;
    }
    /* the bounds of the noise variance (Nakajima et al. 2015): at most the
     * mean square entry; at least what the components that cannot all be
     * signal, h > Hbar = ceil(L / (1 + alpha)) - 1, leave */
    double upper = p.total / ((double)p.l * p.mm);
    size_t hbar = (size_t)ceil((double)p.l / (1 + p.alpha)) - 1;
    if (hbar >= p.l)
        hbar = p.l - 1;
    double lower = s[hbar] * s[hbar] / (p.mm * p.xbar);
    double rest = dec_tail(s, p.l, hbar) / (p.mm * (double)(p.l - hbar));
    if (rest > lower)
        lower = rest;
    if (lower < upper * 1e-12)
        lower = upper * 1e-12;
    double best = upper;
    if (lower < upper) {
        /* a grid in log s2, then golden-section search around its best point */
        enum { GRID = 200 };
        double a = log(lower), b = log(upper), fbest = INFINITY;
        int ibest = 0;
        for (int i = 0; i <= GRID; i++) {
            double f = vb_energy(&p, exp(a + (b - a) * i / GRID));
            if (f < fbest) {
                fbest = f;
                ibest = i;
            }
        }
        double lo = a + (b - a) * (ibest > 0 ? ibest - 1 : 0) / GRID;
        double hi = a + (b - a) * (ibest < GRID ? ibest + 1 : GRID) / GRID;
        const double g = 0.6180339887498949;
        double x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo);
        double f1 = vb_energy(&p, exp(x1)), f2 = vb_energy(&p, exp(x2));
        for (int i = 0; i < 100 && hi - lo > 1e-12; i++) {
            if (f1 <= f2) {
                hi = x2;
                x2 = x1;
                f2 = f1;
                x1 = hi - g * (hi - lo);
                f1 = vb_energy(&p, exp(x1));
            } else {
                lo = x1;
                x1 = x2;
                f1 = f2;
                x2 = lo + g * (hi - lo);
                f2 = vb_energy(&p, exp(x2));
            }
        }
        double xm = 0.5 * (lo + hi);
        best = vb_energy(&p, exp(xm)) <= fbest ? exp(xm) : exp(a + (b - a) * ibest / GRID);
    }
    if (sigma2)
        *sigma2 = best;
    /* the EVB threshold: gamma_h > sigma sqrt(M (1 + tau)(1 + alpha / tau)) */
    double thr2 = p.mm * best * p.xbar / (scale * scale);
    size_t r = 0;
    while (r < p.l && s[r] * s[r] > thr2)
        r++;
    return r;
}

/* ---- Tucker-2 ---------------------------------------------------------------------- */

void dec_unfold_in(const double *k, size_t t, size_t s, size_t p, double *out)
{
    for (size_t a = 0; a < t; a++)
        for (size_t b = 0; b < s; b++)
            memcpy(out + b * t * p + a * p, k + (a * s + b) * p, p * sizeof *out);
}

/* G = A A^T (m x m, upper triangle) of the m x n matrix a. */
static double *gram(const double *a, size_t m, size_t n, nnz_error *e)
{
    double *g = nnz_calloc(m * m, sizeof *g, e);
    if (g)
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)m, (int)n, 1.0, a, (int)n, 0.0,
                    g, (int)m);
    return g;
}

int dec_spectrum(const double *a, size_t m, size_t n, double *s, nnz_error *e)
{
    if (m == 0)
        return 0;
    if (m > INT_MAX / 2 || n > INT_MAX / 2 || m > SIZE_MAX / sizeof(double) / m)
        return nnz_fail(e, NNZ_EXIT_INPUT, "a %zu x %zu unfolding is too large", m, n);
    double *g = gram(a, m, n, e), *w = nnz_malloc(m * sizeof *w, e);
    int rc = -1;
    if (g && w) {
        lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'N', 'U', (lapack_int)m, g,
                                         (lapack_int)m, w);
        if (info < 0)
            rc = nnz_fail(e, NNZ_EXIT_INTERNAL, "LAPACK dsyevd: argument %d is wrong (a bug)",
                          (int)-info);
        else if (info > 0)
            rc = 1;
        else {
            size_t k = m < n ? m : n;
            for (size_t i = 0; i < k; i++) /* ascending eigenvalues -> descending s */
                s[i] = w[m - 1 - i] > 0 ? sqrt(w[m - 1 - i]) : 0;
            rc = 0;
        }
    }
    free(g);
    free(w);
    return rc;
}

/* The leading r left singular vectors of the m x n matrix a into u (m x r):
 * the top eigenvectors of A A^T, with the sign convention of dec_svd.
 * *kept gets ||U^T A||^2, the sum of those eigenvalues (when not NULL). */
static int leading(const double *a, size_t m, size_t n, size_t r, double *u, double *kept,
                   nnz_error *e)
{
    double *g = gram(a, m, n, e), *w = nnz_malloc(m * sizeof *w, e);
    double *z = nnz_malloc(m * r * sizeof *z, e);
    lapack_int *isuppz = nnz_malloc(2 * m * sizeof *isuppz, e);
    int rc = -1;
    if (g && w && z && isuppz) {
        lapack_int found = 0;
        lapack_int info = LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'I', 'U', (lapack_int)m, g,
                                         (lapack_int)m, 0, 0, (lapack_int)(m - r + 1),
                                         (lapack_int)m, 0.0, &found, w, z, (lapack_int)r, isuppz);
        if (info < 0)
            rc = nnz_fail(e, NNZ_EXIT_INTERNAL, "LAPACK dsyevr: argument %d is wrong (a bug)",
                          (int)-info);
        else if (info > 0 || (size_t)found != r)
            rc = 1;
        else {
            for (size_t j = 0; j < r; j++) { /* ascending -> descending, sign fixed */
                size_t src = r - 1 - j, at = 0;
                double big = -1;
                for (size_t i = 0; i < m; i++)
                    if (fabs(z[i * r + src]) > big) {
                        big = fabs(z[i * r + src]);
                        at = i;
                    }
                double sign = z[at * r + src] < 0 ? -1 : 1;
                for (size_t i = 0; i < m; i++)
                    u[i * r + j] = sign * z[i * r + src];
            }
            if (kept) {
                *kept = 0;
                for (size_t j = 0; j < r; j++)
                    *kept += w[j];
            }
            rc = 0;
        }
    }
    free(g);
    free(w);
    free(z);
    free(isuppz);
    return rc;
}

void dec_tucker_free(dec_tucker *d)
{
    free(d->u_out);
    free(d->u_in);
    free(d->core);
    memset(d, 0, sizeof *d);
}

/* c = a^T b: a is k x m, b is k x n, c is m x n */
static void gemm_tn(const double *a, const double *b, size_t k, size_t m, size_t n, double *c)
{
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0, a, (int)m,
                b, (int)n, 0.0, c, (int)n);
}

/* c = a b: a is m x k, b is k x n */
static void gemm_nn(const double *a, const double *b, size_t m, size_t k, size_t n, double *c)
{
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0, a, (int)k,
                b, (int)n, 0.0, c, (int)n);
}

void dec_tucker_rebuild(const dec_tucker *d, double *k)
{
    size_t t = d->t, s = d->s, p = d->p, ro = d->r_out, ri = d->r_in, n = t * s * p;
    double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    if (!x || !y) {
        for (size_t i = 0; i < n; i++)
            k[i] = NAN;
        free(x);
        free(y);
        return;
    }
    /* the core as ro x ri x p; x2 u_in through its mode-2 unfolding */
    const double *a = d->core;
    if (d->u_in) {
        dec_unfold_in(d->core, ro, ri, p, x);  /* ri x (ro p) */
        gemm_nn(d->u_in, x, s, ri, ro * p, y); /* s x (ro p) */
        dec_unfold_in(y, s, ro, p, x);         /* ro x (s p) */
        a = x;
    }
    if (d->u_out)
        gemm_nn(d->u_out, a, t, ro, s * p, k);
    else
        memcpy(k, a, n * sizeof *k);
    free(x);
    free(y);
}

static double sumsq(const double *x, size_t n)
{
    double t = 0;
    for (size_t i = 0; i < n; i++)
        t += x[i] * x[i];
    return t;
}

int dec_tucker2(const double *k, size_t t, size_t s, size_t p, size_t r_out, size_t r_in,
                int max_iters, dec_tucker *out, nnz_error *e)
{
    memset(out, 0, sizeof *out);
    out->t = t;
    out->s = s;
    out->p = p;
    out->r_out = r_out;
    out->r_in = r_in;
    int fo = r_out < t, fi = r_in < s;
    if (r_out < 1 || r_in < 1 || r_out > t || r_in > s || (fo && r_out > s * p) ||
        (fi && r_in > t * p) || (size_t)INT_MAX / s / p < t)
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "Tucker-2 ranks %zu, %zu do not fit %zu x %zu x %zu",
                        r_out, r_in, t, s, p);
    size_t n = t * s * p;
    double *k2 = nnz_malloc(n * sizeof *k2, e); /* K's mode-2 unfolding, s x (t p) */
    double *y = nnz_malloc(n * sizeof *y, e), *z = nnz_malloc(n * sizeof *z, e);
    out->core = nnz_malloc(r_out * r_in * p * sizeof *out->core, e);
    if (fo)
        out->u_out = nnz_malloc(t * r_out * sizeof *out->u_out, e);
    if (fi)
        out->u_in = nnz_malloc(s * r_in * sizeof *out->u_in, e);
    int rc = -1;
    if (!k2 || !y || !z || !out->core || (fo && !out->u_out) || (fi && !out->u_in))
        goto done;
    dec_unfold_in(k, t, s, p, k2);
    /* truncated HOSVD: the leading left singular vectors of each unfolding */
    if (fo && (rc = leading(k, t, s * p, r_out, out->u_out, NULL, e)) != 0)
        goto done;
    if (fi && (rc = leading(k2, s, t * p, r_in, out->u_in, NULL, e)) != 0)
        goto done;
    /* HOOI: each factor in turn, the other fixed; every product is one GEMM
     * on an unfolding. With one mode factorised the HOSVD is already the
     * best (the truncated SVD of its unfolding). The kept energy ||core||^2
     * is the sum of the eigenvalues `leading` keeps; it never decreases. */
    double norm2 = sumsq(k, n), prev = -1;
    for (int it = 0; fo && fi && it < max_iters; it++) {
        gemm_tn(out->u_in, k2, s, r_in, t * p, y);     /* K x2 u_in^T: r_in x (t p) */
        dec_unfold_in(y, r_in, t, p, z);               /* its mode 1: t x (r_in p) */
        if ((rc = leading(z, t, r_in * p, r_out, out->u_out, NULL, e)) != 0)
            goto done;
        gemm_tn(out->u_out, k, t, r_out, s * p, y);    /* K x1 u_out^T: r_out x (s p) */
        dec_unfold_in(y, r_out, s, p, z);              /* its mode 2: s x (r_out p) */
        double kept;
        if ((rc = leading(z, s, r_out * p, r_in, out->u_in, &kept, e)) != 0)
            goto done;
        out->iterations = it + 1;
        if (prev >= 0 && kept - prev <= DEC_HOOI_TOL * norm2)
            break;
        prev = kept;
    }
    /* the core: K x1 u_out^T x2 u_in^T, r_out x r_in x p */
    const double *a = k;
    if (fo) {
        gemm_tn(out->u_out, k, t, r_out, s * p, y);    /* r_out x (s p) */
        a = y;
    }
    if (fi) {
        dec_unfold_in(a, r_out, s, p, z);              /* s x (r_out p) */
        double *c2 = a == y ? k2 : y;                  /* k2 is free by now */
        gemm_tn(out->u_in, z, s, r_in, r_out * p, c2); /* r_in x (r_out p) */
        dec_unfold_in(c2, r_in, r_out, p, out->core);  /* r_out x (r_in p) */
    } else {
        memcpy(out->core, a, r_out * s * p * sizeof *a);
    }
    /* the error, measured */
    dec_tucker_rebuild(out, z);
    double err = 0;
    for (size_t i = 0; i < n; i++)
        err += (k[i] - z[i]) * (k[i] - z[i]);
    out->rel_error = norm2 > 0 ? sqrt(err / norm2) : 0;
    rc = 0;
done:
    free(k2);
    free(y);
    free(z);
    if (rc != 0)
        dec_tucker_free(out);
    return rc;
}
