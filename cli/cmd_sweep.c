/* cmd_sweep.c - `nnzip sweep`: compress one model with every pipeline of a
 * grid and report size against error for each point, marking the Pareto
 * frontier (docs/cli.md, sweep).
 *
 * The parent parses the grid (every point is an ordinary pipeline, parsed
 * and checked by nnz_pipeline_parse before anything runs), loads the model
 * once, and forks -j workers; worker k runs points k, k+N, k+2N, ... on its
 * copy-on-write copy of the model and writes each point's figures to
 * TMP/POINT.json. The parent counts finished points through a pipe (the
 * progress line), then reads the files in point order, so every output is
 * the same whatever the number of workers. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "cli.h"
#include "infer_calib.h"
#include "cli_infer.h"
#include "fileio.h"
#include "model.h"
#include "pass.h"
#include "sweep.h"

#define SWEEP_MAX_POINTS 1000
#define SWEEP_MAX_JOBS 256

static const char sweep_help[] =
    "Usage: nnzip sweep MODEL.onnx --grid GRID [--grid GRID...] [options]\n\n"
    "Compress MODEL.onnx with every pipeline of a grid, report size and error for\n"
    "each point, and mark the Pareto frontier: the points that no other point\n"
    "beats on both size and error (or on size and the --eval metric).\n\n"
    "  -g, --grid GRID        a pipeline whose keys may take several values, e.g.\n"
    "                         'prune:sparsity=0,0.5,0.8 | quantize:bits=4,6,8\n"
    "                         | huffman'\n"
    "                         (a number continues the list of the key before it;\n"
    "                         other alternatives use '/': scheme=sym/asym); every\n"
    "                         combination is a point; repeat --grid to add points\n"
    "  -j, --jobs N           run N points at a time (0: one per processor;\n"
    "                         default 1); the results do not depend on N\n"
    "  -o, --output FILE      the results as CSV (FILE.csv, or '-' for stdout) or\n"
    "                         JSON (FILE.json); default: a table on stdout\n"
    "  --plot FILE.svg        draw blob size against error (or the metric), frontier\n"
    "                         highlighted, as a self-contained SVG\n"
    "  --eval 'CMD {onnx}'    run CMD through /bin/sh on each point's rebuilt ONNX\n"
    "                         model; the last number CMD prints on stdout is the\n"
    "                         point's metric ({onnx}, {blob}, {point}, {pipeline}\n"
    "                         become quoted values)\n"
    "  --metric output-error  the metric is the worst output's relative L2 error of\n"
    "                         the point's model against the original, both run in\n"
    "                         nnzip's interpreter on the same inputs (lower is\n"
    "                         better)\n"
    "  --inputs DIR, --input-spec FILE, --spec-model NAME, --seed N, --dim NAME=V,\n"
    "  --threads N            the inputs and settings of that run (as `nnzip run`)\n"
    "  --metric-goal max|min  is a larger metric better (default max, e.g. accuracy)\n"
    "  --metric-name NAME     what the metric is, for the plot (default 'metric')\n"
    "  --blobs DIR            keep each point's blob as DIR/POINT.nnz\n"
    "  --max-points N         refuse grids of more than N points (default 1000)\n"
    "  --json                 the results as one JSON document on stdout\n"
    "  -f, --force            replace an existing output file (never the input)\n"
    "  -q, --quiet            no messages but errors\n"
    "  -v, --verbose          pass the --eval command's stderr through\n"
    "  -h, --help\n\n"
    "Exit status: 0 every point ran; 1 a point failed (its compress or its --eval\n"
    "command: the outputs are still written, with the error in its row); 2 usage,\n"
    "a bad grid included (before anything runs); 3 bad model; 4 an output could\n"
    "not be written. Fields and grid rules: docs/cli.md.\n";

/* ---- the grid ---------------------------------------------------------------- */

typedef struct grid_tok {
    char *key;   /* the key, or the flag */
    char **vals; /* its values; NULL for a flag */
    size_t nvals;
} grid_tok;

typedef struct grid_stage {
    char *pass;
    grid_tok *tok;
    size_t ntok;
} grid_stage;

typedef struct grid {
    const char *text;
    grid_stage *st;
    size_t nst;
    size_t npoints; /* saturates at SIZE_MAX */
} grid;

/* A token that continues a key's list: a plain decimal number. */
static int is_number(const char *s)
{
    const char *d = s;
    if (*d == '+' || *d == '-')
        d++;
    if (*d == '.')
        d++;
    if (!isdigit((unsigned char)*d))
        return 0;
    char *end;
    errno = 0;
    strtod(s, &end);
    return *end == '\0';
}

static void grid_free(grid *g)
{
    for (size_t s = 0; s < g->nst; s++) {
        for (size_t t = 0; t < g->st[s].ntok; t++) {
            free(g->st[s].tok[t].key);
            for (size_t v = 0; v < g->st[s].tok[t].nvals; v++)
                free(g->st[s].tok[t].vals[v]);
            free(g->st[s].tok[t].vals);
        }
        free(g->st[s].tok);
        free(g->st[s].pass);
    }
    free(g->st);
    memset(g, 0, sizeof *g);
}

static int tok_add_value(grid_tok *t, const char *v, nnz_error *e)
{
    char **vals = nnz_realloc(t->vals, (t->nvals + 1) * sizeof *vals, e);
    if (!vals)
        return -1;
    t->vals = vals;
    if (!(vals[t->nvals] = nnz_strdup(v, e)))
        return -1;
    t->nvals++;
    return 0;
}

/* Parse one stage "pass:tok,tok,..." (modifies `s`) into grid vg. */
static int parse_grid_stage(void *vg, char *s, nnz_error *e)
{
    grid *g = vg;
    char *colon = strchr(s, ':');
    if (colon)
        *colon = '\0';
    char *name = nnz_trim(s);
    if (!*name)
        return nnz_fail(e, NNZ_EXIT_USAGE, "a stage has options but no pass name");
    grid_stage *st = nnz_realloc(g->st, (g->nst + 1) * sizeof *st, e);
    if (!st)
        return -1;
    g->st = st;
    st = &st[g->nst++];
    memset(st, 0, sizeof *st);
    if (!(st->pass = nnz_strdup(name, e)))
        return -1;
    char *save = NULL;
    for (char *tok = colon ? strtok_r(colon + 1, ",", &save) : NULL; tok;
         tok = strtok_r(NULL, ",", &save)) {
        tok = nnz_trim(tok);
        if (!*tok)
            continue;
        char *eq = strchr(tok, '=');
        grid_tok *last = st->ntok ? &st->tok[st->ntok - 1] : NULL;
        if (!eq && is_number(tok)) { /* sparsity=0,0.5,0.8 */
            if (!last || !last->vals || strcmp(last->key, "only") == 0 ||
                strcmp(last->key, "skip") == 0)
                return nnz_fail(e, NNZ_EXIT_USAGE, "%s: '%s' continues no key's list of "
                                "values; write KEY=%s,...", name, tok, tok);
            if (tok_add_value(last, tok, e) != 0)
                return -1;
            continue;
        }
        grid_tok *t = nnz_realloc(st->tok, (st->ntok + 1) * sizeof *t, e);
        if (!t)
            return -1;
        st->tok = t;
        t = &t[st->ntok++];
        memset(t, 0, sizeof *t);
        if (!eq) { /* a flag: kmeans */
            if (!(t->key = nnz_strdup(tok, e)))
                return -1;
            continue;
        }
        *eq = '\0';
        char *key = nnz_trim(tok), *val = nnz_trim(eq + 1);
        if (!*key)
            return nnz_fail(e, NNZ_EXIT_USAGE, "%s: '=%s' has no key", name, val);
        if (!(t->key = nnz_strdup(key, e)))
            return -1;
        /* globs may contain '/' (tensor names often do): taken whole */
        if (strcmp(key, "only") == 0 || strcmp(key, "skip") == 0 || !strchr(val, '/')) {
            if (tok_add_value(t, val, e) != 0)
                return -1;
            continue;
        }
        char whole[256], *start = val;
        snprintf(whole, sizeof whole, "%s", val);
        for (char *p = val;; p++) {
            if (*p != '/' && *p)
                continue;
            int end = !*p;
            *p = '\0';
            char *alt = nnz_trim(start);
            if (!*alt)
                return nnz_fail(e, NNZ_EXIT_USAGE, "%s: %s=%s: an empty alternative between "
                                "'/'", name, key, whole);
            if (tok_add_value(t, alt, e) != 0)
                return -1;
            if (end)
                break;
            start = p + 1;
        }
    }
    return 0;
}

static int parse_grid(const char *text, grid *g, nnz_error *e)
{
    memset(g, 0, sizeof *g);
    g->text = text;
    int rc = nnz_each_stage(text, parse_grid_stage, g, e);
    if (rc == 0 && g->nst == 0)
        rc = nnz_fail(e, NNZ_EXIT_USAGE, "it has no pass");
    g->npoints = 1;
    for (size_t s = 0; rc == 0 && s < g->nst; s++)
        for (size_t t = 0; t < g->st[s].ntok; t++)
            if (g->st[s].tok[t].nvals > 1) {
                if (__builtin_mul_overflow(g->npoints, g->st[s].tok[t].nvals, &g->npoints))
                    g->npoints = SIZE_MAX;
            }
    if (rc != 0) {
        grid_free(g);
        return nnz_wrap(e, "--grid '%s': ", text);
    }
    return 0;
}

/* ---- points ------------------------------------------------------------------- */

/* What a point is made of, for labels: a stage ("pass", tok NULL) or one of
 * its tokens ("bits=4"). */
typedef struct point_item {
    const char *pass;
    const char *key;
    char *tok;
} point_item;

typedef struct point {
    char *text;
    point_item *items;
    size_t nitems;
} point;

/* Point `k` (0-based) of grid g: the last key with several values varies
 * fastest, so points that share their earlier stages are neighbours. */
static int make_point(const grid *g, size_t k, point *pt, nnz_error *e)
{
    size_t ntok = 0;
    for (size_t s = 0; s < g->nst; s++)
        ntok += g->st[s].ntok;
    memset(pt, 0, sizeof *pt);
    pt->items = nnz_calloc(g->nst + ntok, sizeof *pt->items, e);
    size_t *pick = nnz_calloc(ntok ? ntok : 1, sizeof *pick, e); /* value of each token */
    if (!pt->items || !pick) {
        free(pick);
        return -1;
    }
    size_t ti = ntok;
    for (size_t s = g->nst; s-- > 0;)
        for (size_t t = g->st[s].ntok; t-- > 0;) {
            size_t n = g->st[s].tok[t].nvals;
            pick[--ti] = n > 1 ? k % n : 0;
            if (n > 1)
                k /= n;
        }
    nnz_bytes text = { 0 };
    size_t it = 0;
    ti = 0;
    for (size_t s = 0; s < g->nst; s++) {
        const grid_stage *st = &g->st[s];
        nnz_bytes_puts(&text, s ? " | " : "");
        nnz_bytes_puts(&text, st->pass);
        pt->items[it++] = (point_item){ .pass = st->pass };
        for (size_t t = 0; t < st->ntok; t++, ti++) {
            const grid_tok *tk = &st->tok[t];
            nnz_bytes tok = { 0 };
            nnz_bytes_puts(&tok, tk->key);
            if (tk->vals) {
                nnz_bytes_puts(&tok, "=");
                nnz_bytes_puts(&tok, tk->vals[pick[ti]]);
            }
            nnz_bytes_puts(&text, t ? "," : ":");
            char *tokstr = nnz_bytes_str(&tok); /* the item owns it */
            nnz_bytes_puts(&text, tokstr ? tokstr : "");
            pt->items[it++] = (point_item){ .pass = st->pass, .key = tk->key, .tok = tokstr };
            text.failed |= tok.failed || !tokstr;
        }
    }
    free(pick);
    pt->nitems = it;
    pt->text = nnz_bytes_str(&text);
    if (text.failed || !nnz_bytes_str(&text))
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory");
    return 0;
}

static void point_free(point *pt)
{
    for (size_t i = 0; i < pt->nitems; i++)
        free(pt->items[i].tok);
    free(pt->items);
    free(pt->text);
}

static int item_eq(const point_item *a, const point_item *b)
{
    return strcmp(a->pass, b->pass) == 0 &&
           (a->tok && b->tok ? strcmp(a->tok, b->tok) == 0 : a->tok == b->tok);
}

/* The label of point i: its items that not every point shares; stages
 * some points lack are named too when `stages` (unless their tokens show
 * them); a key that varies in two passes is written pass:key=value. */
static char *label_of(const point *pts, size_t n, size_t i, const size_t *count,
                      const point_item *const *uniq, size_t nu, int stages)
{
    nnz_bytes b = { 0 };
    const point *pt = &pts[i];
    for (size_t k = 0; k < pt->nitems; k++) {
        const point_item *it = &pt->items[k];
        if (count[k] == n)
            continue;
        if (!it->tok) {
            int shown = 0;
            for (size_t j = k + 1; j < pt->nitems && pt->items[j].tok; j++)
                shown |= count[j] < n;
            if (stages && !shown) {
                nnz_bytes_puts(&b, b.len ? " " : "");
                nnz_bytes_puts(&b, it->pass);
            }
            continue;
        }
        int qualify = 0;
        for (size_t r = 0; r < nu && !qualify; r++)
            qualify = uniq[r]->key && strcmp(uniq[r]->key, it->key) == 0 &&
                      strcmp(uniq[r]->pass, it->pass) != 0;
        nnz_bytes_puts(&b, b.len ? " " : "");
        if (qualify) {
            nnz_bytes_puts(&b, it->pass);
            nnz_bytes_puts(&b, ":");
        }
        nnz_bytes_puts(&b, it->tok);
    }
    if (!nnz_bytes_str(&b) && !b.failed)
        nnz_bytes_puts(&b, pt->text[0] ? pt->text : "lossless");
    if (b.failed) {
        nnz_bytes_free(&b);
        return NULL;
    }
    return nnz_bytes_str(&b);
}

/* Labels: what sets each point apart ("sparsity=0.5 bits=4"): the tokens
 * not shared by every point; a stage only some points have ("huffman") is
 * named when the label would otherwise equal another point's. */
static int make_labels(point *pts, size_t n, sweep_result *res, nnz_error *e)
{
    size_t cap = 0, nu = 0;
    for (size_t i = 0; i < n; i++)
        cap += pts[i].nitems;
    /* the distinct items, how many points have each, and each item's count */
    const point_item **uniq = nnz_calloc(cap ? cap : 1, sizeof *uniq, e);
    size_t *ucount = nnz_calloc(cap ? cap : 1, sizeof *ucount, e);
    size_t *count = nnz_calloc(cap ? cap : 1, sizeof *count, e), *at = count;
    size_t *which = nnz_calloc(cap ? cap : 1, sizeof *which, e);
    char **shorter = nnz_calloc(n ? n : 1, sizeof *shorter, e);
    int rc = uniq && ucount && count && which && shorter ? 0 : -1;
    for (size_t i = 0, w = 0; i < n && rc == 0; i++)
        for (size_t k = 0; k < pts[i].nitems; k++, w++) {
            const point_item *it = &pts[i].items[k];
            size_t q = 0;
            while (q < nu && !item_eq(uniq[q], it))
                q++;
            if (q == nu)
                uniq[nu++] = it;
            which[w] = q;
            int seen = 0; /* count each item once per point */
            for (size_t j = 0; j < k && !seen; j++)
                seen = item_eq(&pts[i].items[j], it);
            ucount[q] += !seen;
        }
    for (size_t w = 0; w < cap && rc == 0; w++)
        count[w] = ucount[which[w]];
    /* the keys that vary: only those can need their pass named */
    size_t nvary = 0;
    for (size_t q = 0; q < nu && rc == 0; q++)
        if (ucount[q] < n && uniq[q]->key)
            uniq[nvary++] = uniq[q];
    for (size_t i = 0; i < n && rc == 0; i++) {
        shorter[i] = label_of(pts, n, i, at, uniq, nvary, 0);
        if (!shorter[i])
            rc = -1;
        at += pts[i].nitems;
    }
    at = count;
    for (size_t i = 0; i < n && rc == 0; i++) {
        int clash = 0;
        for (size_t j = 0; j < n && !clash; j++)
            clash = j != i && strcmp(shorter[i], shorter[j]) == 0 &&
                    strcmp(pts[i].text, pts[j].text) != 0;
        if (!(res[i].label = clash ? label_of(pts, n, i, at, uniq, nvary, 1) : strdup(shorter[i])))
            rc = -1;
        at += pts[i].nitems;
    }
    for (size_t i = 0; shorter && i < n; i++)
        free(shorter[i]);
    free(shorter);
    free(uniq);
    free(ucount);
    free(count);
    free(which);
    if (rc != 0 && !e->code)
        nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory");
    return rc;
}

/* ---- running the points ---------------------------------------------------------- */

typedef struct sweep {
    const char *in;          /* the model as given */
    const char *model_name;  /* its file name, for the rebuilt models and the plot */
    cli_file src;            /* its bytes, to load it again after a graph rewrite */
    nnz_model *m;
    point *pts;
    nnz_pipeline *pipes;
    int *rewrites;           /* the point's pipeline rewrites the graph */
    size_t n;
    const char *eval;
    int out_err;             /* --metric output-error */
    cli_infer_args ia;       /* its inputs */
    const char *blobs;       /* --blobs DIR, or NULL */
    int width;               /* digits of the largest point number */
    char *tmp;               /* the work folder */
    pid_t *pids;             /* the workers */
    char (*dead)[128];       /* why each worker stopped early */
} sweep;

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s && s[1] ? s + 1 : p;
}


/* Run the --eval command for point i; its number goes to *metric. */
static int run_eval(const sweep *s, size_t i, const char *onnx, const char *blob, double *metric,
                    nnz_error *e)
{
    char num[32];
    snprintf(num, sizeof num, "%zu", i + 1);
    const cli_eval_var vars[] = {
        { "{onnx}", onnx, "NNZIP_ONNX", 0 },
        { "{blob}", blob, "NNZIP_BLOB", 0 },
        { "{point}", num, "NNZIP_POINT", 1 },
        { "{pipeline}", s->pts[i].text, "NNZIP_PIPELINE", 0 },
    };
    return cli_eval(s->eval, vars, 4, metric, e);
}

static double num_or_nan(const cJSON *o, const char *key)
{
    const cJSON *x = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(x) ? x->valuedouble : NAN;
}

/* Take the work folder out of a message ("TMP/3.nnz: ..." becomes "3.nnz:
 * ..."), so the outputs do not depend on where it was. */
static void strip_tmp(char *msg, const char *tmp)
{
    size_t n = strlen(tmp);
    for (char *p = strstr(msg, tmp); p; p = strstr(p, tmp)) {
        size_t cut = n + (p[n] == '/');
        memmove(p, p + cut, strlen(p + cut) + 1);
    }
}

/* Compress (and evaluate) point i; the figures, or the error, as JSON. */
static cJSON *run_point(sweep *s, size_t i)
{
    cJSON *o = cJSON_CreateObject();
    nnz_error e = { 0 };
    char blob[4096], dir[4096], onnx[8200];
    if (s->blobs)
        snprintf(blob, sizeof blob, "%s/%0*zu.nnz", s->blobs, s->width, i + 1);
    else
        snprintf(blob, sizeof blob, "%s/%zu.nnz", s->tmp, i + 1);
    /* a kept blob is written like any output (temporary name, fsync,
     * rename); one in the work folder needs none of that */
    nnz_out out = { 0 };
    cJSON *rep = NULL;
    int rc = s->m ? 0 : nnz_fail(&e, NNZ_EXIT_INTERNAL, "the model could not be loaded again");
    if (rc == 0 && s->blobs)
        rc = nnz_out_open(&out, blob, s->in, cli_out_flags(NNZ_OUT_BINARY), &e);
    else if (rc == 0 && !(out.f = fopen(blob, "w+b")))
        rc = nnz_fail(&e, NNZ_EXIT_OUTPUT, "%s: cannot create: %s", blob, strerror(errno));
    if (rc == 0 && cli_compress(s->m, &s->pipes[i], out.f, s->in, blob, 0, 0, 0, 0, &rep, &e) != 0) {
        if (s->blobs)
            nnz_out_abort(&out);
        else
            fclose(out.f);
        rc = -1;
    } else if (rc == 0 && s->blobs) {
        rc = nnz_out_commit(&out, &e);
    } else if (rc == 0 && (ferror(out.f) | fclose(out.f)) != 0) {
        rc = nnz_fail(&e, NNZ_EXIT_OUTPUT, "%s: write failed: %s", blob, strerror(errno));
    }
    if (rc == 0) {
        const cJSON *w = cJSON_GetObjectItem(rep, "weights"), *t;
        double worst = 0;
        const char *worst_name = "";
        cJSON_ArrayForEach(t, cJSON_GetObjectItem(rep, "tensors"))
        {
            double r = num_or_nan(t, "rel_l2");
            if (r > worst || (isnan(r) && !isnan(worst))) {
                worst = r;
                worst_name = cJSON_GetStringValue(cJSON_GetObjectItem(t, "name"));
            }
        }
        cJSON_AddNumberToObject(o, "bytes", num_or_nan(rep, "output_bytes"));
        cJSON_AddNumberToObject(o, "ratio", num_or_nan(rep, "ratio"));
        cJSON_AddNumberToObject(o, "bits_per_weight", num_or_nan(w, "bits_per_weight"));
        cJSON_AddNumberToObject(o, "rel_l2", num_or_nan(w, "rel_l2"));
        cJSON_AddNumberToObject(o, "worst_rel_l2", worst);
        cJSON_AddStringToObject(o, "worst_tensor", worst_name ? worst_name : "");
    }
    cJSON_Delete(rep);
    if (rc == 0 && s->out_err) {
        /* the reference is the model as given, loaded afresh: a graph
         * rewrite (decompose) has changed s->m */
        nnz_model *orig = NULL;
        cJSON *orep = NULL;
        double worst = NAN;
        rc = cli_infer_load(s->in, &orig, &e);
        if (rc == 0 && (rc = cli_output_error(orig, blob, &s->ia, &orep, &worst, &e)) == 0)
            cJSON_AddNumberToObject(o, "metric", worst);
        else
            nnz_wrap(&e, "output error: ");
        cJSON_Delete(orep);
        nnz_model_free(orig);
    } else if (rc == 0 && s->eval) {
        double metric = NAN;
        snprintf(dir, sizeof dir, "%s/p%zu", s->tmp, i + 1);
        snprintf(onnx, sizeof onnx, "%s/%s", dir, s->model_name);
        if (mkdir(dir, 0700) != 0)
            rc = nnz_fail(&e, NNZ_EXIT_OUTPUT, "%s: cannot create: %s", dir, strerror(errno));
        else if (cli_onnx_from_blob(blob, onnx, s->in, 0, NULL, &e) != 0)
            rc = nnz_wrap(&e, "rebuilding the model for --eval: ");
        else if (run_eval(s, i, onnx, blob, &metric, &e) == 0)
            cJSON_AddNumberToObject(o, "metric", metric);
        else
            rc = -1;
        nnz_remove_tree(dir);
    }
    if (!s->blobs)
        unlink(blob);
    if (rc != 0) {
        strip_tmp(e.msg, s->tmp);
        cJSON_AddStringToObject(o, "error", e.msg);
    }
    return o;
}

/* Write point i's result where the parent will find it, whole or not at all. */
static int save_result(const sweep *s, size_t i, cJSON *o)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%zu.json", s->tmp, i + 1);
    snprintf(tmp, sizeof tmp, "%s.part", path);
    char *text = cJSON_PrintUnformatted(o);
    FILE *f = text ? fopen(tmp, "wb") : NULL;
    int ok = f && fputs(text, f) >= 0;
    ok = f && fclose(f) == 0 && ok;
    free(text);
    return ok && rename(tmp, path) == 0 ? 0 : -1;
}

/* Worker k of nw: points k, k + nw, ...; a byte on `progress` after each. */
static int worker(sweep *s, size_t k, size_t nw, int progress)
{
    int rc = 0;
    for (size_t i = k; i < s->n; i += nw) {
        cJSON *o = run_point(s, i);
        if (!o || save_result(s, i, o) != 0)
            rc = NNZ_EXIT_OUTPUT;
        cJSON_Delete(o);
        if (progress >= 0 && write(progress, "", 1) < 0)
            progress = -1;
        if (s->rewrites[i] && s->m) {
            nnz_error e = { 0 };
            nnz_model_free(s->m);
            if (cli_model_from_file(&s->src, s->in, &s->m, &e) != 0)
                s->m = NULL;
        }
    }
    return rc;
}

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    got_signal = sig;
}

static double seconds_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* One line for the whole sweep, rewritten in place: the points finished
 * and the time left, from the rate of the finished ones. */
static void progress_line(size_t done, size_t n, double start)
{
    double el = seconds_now() - start;
    if (done > 0 && done < n) {
        double left = el / (double)done * (double)(n - done);
        fprintf(stderr, "\rnnzip: sweep: point %zu/%zu, %.0f s left\033[K", done, n, left);
    } else {
        fprintf(stderr, "\rnnzip: sweep: point %zu/%zu\033[K", done, n);
    }
    if (done >= n)
        fputs("\r\033[K", stderr); /* the summary line follows */
    fflush(stderr);
}

/* Fork the workers and wait for them. `dead` gets, per worker, a message
 * when it did not finish normally. Returns 0, or a signal number when the
 * sweep was interrupted. */
static int run_workers(sweep *s, size_t nw, int progress, char (*dead)[128])
{
    pid_t *pids = calloc(nw, sizeof *pids);
    int pfd[2];
    if (!pids || pipe2(pfd, O_CLOEXEC) != 0) {
        free(pids);
        for (size_t k = 0; k < nw; k++)
            snprintf(dead[k], 128, "could not start a worker: %s", strerror(errno));
        return 0;
    }
    s->dead = dead;
    s->pids = pids;
    struct sigaction sa = { .sa_handler = on_signal }, old[3];
    static const int sigs[3] = { SIGINT, SIGTERM, SIGHUP };
    sigemptyset(&sa.sa_mask);
    for (int k = 0; k < 3; k++)
        sigaction(sigs[k], &sa, &old[k]);
    fflush(NULL);
    for (size_t k = 0; k < nw; k++) {
        pids[k] = fork();
        if (pids[k] == 0) {
            for (int q = 0; q < 3; q++)
                sigaction(sigs[q], &old[q], NULL);
            close(pfd[0]);
            int rc = worker(s, k, nw, pfd[1]);
            close(pfd[1]);
            /* what only this worker holds; the rest is the parent's, reachable */
            nnz_model_free(s->m);
            free(s->pids);
            free(s->dead);
            exit(rc);
        }
        if (pids[k] < 0)
            snprintf(dead[k], 128, "could not start a worker: %s", strerror(errno));
    }
    close(pfd[1]);
    size_t done = 0;
    double start = seconds_now();
    while (!got_signal) {
        char buf[256];
        ssize_t r = read(pfd[0], buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        done += (size_t)r;
        if (progress)
            progress_line(done, s->n, start);
    }
    close(pfd[0]);
    if (got_signal)
        for (size_t k = 0; k < nw; k++)
            if (pids[k] > 0)
                kill(pids[k], SIGTERM);
    for (size_t k = 0; k < nw; k++) {
        int st;
        if (pids[k] <= 0)
            continue;
        while (waitpid(pids[k], &st, 0) < 0 && errno == EINTR)
            ;
        if (WIFSIGNALED(st))
            snprintf(dead[k], 128, "its worker was killed by signal %d", WTERMSIG(st));
        else if (WEXITSTATUS(st) != 0)
            snprintf(dead[k], 128, "its worker stopped (status %d)", WEXITSTATUS(st));
    }
    if (progress)
        fputs("\r\033[K", stderr);
    for (int k = 0; k < 3; k++)
        sigaction(sigs[k], &old[k], NULL);
    free(pids);
    return got_signal;
}

/* Read point i's result file into r. `dead` says why its worker stopped
 * early, if it did; `*first` is set once the point it stopped at is known. */
static void load_result(const sweep *s, size_t i, sweep_result *r, const char *dead, int *first)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%zu.json", s->tmp, i + 1);
    uint8_t *text = NULL;
    size_t len = 0;
    nnz_error e = { 0 };
    cJSON *o = nnz_read_file(path, &text, &len, &e) == 0
                   ? cJSON_ParseWithLength((const char *)text, len) : NULL;
    free(text);
    const char *err = cJSON_GetStringValue(cJSON_GetObjectItem(o, "error"));
    char msg[256];
    if (!o && *dead && !*first)
        snprintf(msg, sizeof msg, "%s while running it", dead);
    else if (!o)
        snprintf(msg, sizeof msg, "not run: %s", *dead ? dead : "its result is missing");
    if (!o) {
        *first = 1;
        err = msg;
    }
    if (err) {
        r->error = strdup(err);
    } else {
        r->ok = 1;
        r->bytes = num_or_nan(o, "bytes");
        r->ratio = num_or_nan(o, "ratio");
        r->bits_per_weight = num_or_nan(o, "bits_per_weight");
        r->rel_l2 = num_or_nan(o, "rel_l2");
        r->worst_rel_l2 = num_or_nan(o, "worst_rel_l2");
        r->worst_tensor = strdup(cJSON_GetStringValue(cJSON_GetObjectItem(o, "worst_tensor")) ?: "");
        const cJSON *mt = cJSON_GetObjectItem(o, "metric");
        r->has_metric = cJSON_IsNumber(mt);
        r->metric = r->has_metric ? mt->valuedouble : NAN;
    }
    cJSON_Delete(o);
}

/* ---- the Pareto frontier ------------------------------------------------------------ */

static int usable(const sweep_result *r, int by_metric)
{
    return r->ok && isfinite(r->bytes) &&
           (by_metric ? r->has_metric && isfinite(r->metric) : isfinite(r->rel_l2));
}

void sweep_pareto(sweep_result *r, size_t n, int by_metric, int goal_max)
{
    for (size_t i = 0; i < n; i++) {
        r[i].pareto = 0;
        if (!usable(&r[i], by_metric))
            continue;
        /* smaller is better in both figures */
        double yi = by_metric ? (goal_max ? -r[i].metric : r[i].metric) : r[i].rel_l2;
        int dominated = 0;
        for (size_t j = 0; j < n && !dominated; j++) {
            if (j == i || !usable(&r[j], by_metric))
                continue;
            double yj = by_metric ? (goal_max ? -r[j].metric : r[j].metric) : r[j].rel_l2;
            dominated = r[j].bytes <= r[i].bytes && yj <= yi && (r[j].bytes < r[i].bytes || yj < yi);
        }
        r[i].pareto = !dominated;
    }
}

/* ---- outputs -------------------------------------------------------------------------- */

typedef struct sweep_out {
    const char *model;
    double model_bytes;
    const char **grids;
    size_t ngrids;
    const char *eval;
    int goal_max;
    const char *metric_name;
} sweep_out;

/* A number as CSV and tables show it: %.6g in the C locale (the tool never
 * calls setlocale), empty when there is none. */
static const char *fmt_num(char *buf, size_t cap, double v, int integer)
{
    if (!isfinite(v))
        snprintf(buf, cap, "%s", "");
    else
        snprintf(buf, cap, integer ? "%.0f" : "%.6g", v);
    return buf;
}

static void csv_field(FILE *f, const char *s)
{
    if (!s)
        s = "";
    if (!strpbrk(s, ",\"\r\n") && !(*s && (isspace((unsigned char)*s) ||
                                           isspace((unsigned char)s[strlen(s) - 1])))) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void write_csv(FILE *f, const sweep_result *r, size_t n)
{
    fputs("point,pipeline,bytes,ratio,bits_per_weight,rel_l2,worst_rel_l2,worst_tensor,"
          "metric,pareto,label,error\n", f);
    for (size_t i = 0; i < n; i++) {
        char b[6][64];
        const sweep_result *x = &r[i];
        fprintf(f, "%zu,", i + 1);
        csv_field(f, x->pipeline);
        fprintf(f, ",%s,%s,%s,%s,%s,", fmt_num(b[0], 64, x->ok ? x->bytes : NAN, 1),
                fmt_num(b[1], 64, x->ok ? x->ratio : NAN, 0),
                fmt_num(b[2], 64, x->ok ? x->bits_per_weight : NAN, 0),
                fmt_num(b[3], 64, x->ok ? x->rel_l2 : NAN, 0),
                fmt_num(b[4], 64, x->ok ? x->worst_rel_l2 : NAN, 0));
        csv_field(f, x->worst_tensor);
        fprintf(f, ",%s,%d,", fmt_num(b[5], 64, x->has_metric ? x->metric : NAN, 0), x->pareto);
        csv_field(f, x->label);
        fputc(',', f);
        csv_field(f, x->error);
        fputc('\n', f);
    }
}

static void add_num(cJSON *o, const char *key, int have, double v)
{
    if (have && isfinite(v))
        cJSON_AddNumberToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

static cJSON *results_json(const sweep_out *so, const sweep_result *r, size_t n)
{
    cJSON *o = cJSON_CreateObject();
    size_t failed = 0, front = 0;
    for (size_t i = 0; i < n; i++) {
        failed += !r[i].ok;
        front += r[i].pareto != 0;
    }
    cJSON_AddStringToObject(o, "model", so->model);
    cJSON_AddNumberToObject(o, "model_bytes", so->model_bytes);
    cJSON *g = cJSON_AddArrayToObject(o, "grids");
    for (size_t k = 0; k < so->ngrids; k++)
        cJSON_AddItemToArray(g, cJSON_CreateString(so->grids[k]));
    if (so->eval)
        cJSON_AddStringToObject(o, "eval", so->eval);
    else
        cJSON_AddNullToObject(o, "eval");
    if (so->eval) {
        cJSON_AddStringToObject(o, "metric_name", so->metric_name);
        cJSON_AddStringToObject(o, "metric_goal", so->goal_max ? "max" : "min");
    } else {
        cJSON_AddNullToObject(o, "metric_name");
        cJSON_AddNullToObject(o, "metric_goal");
    }
    cJSON_AddStringToObject(o, "pareto_by", so->eval ? "metric" : "rel_l2");
    cJSON_AddNumberToObject(o, "points", (double)n);
    cJSON_AddNumberToObject(o, "failed", (double)failed);
    cJSON_AddNumberToObject(o, "frontier", (double)front);
    cJSON *a = cJSON_AddArrayToObject(o, "results");
    for (size_t i = 0; i < n; i++) {
        const sweep_result *x = &r[i];
        cJSON *p = cJSON_CreateObject();
        cJSON_AddNumberToObject(p, "point", (double)(i + 1));
        cJSON_AddStringToObject(p, "pipeline", x->pipeline);
        add_num(p, "bytes", x->ok, x->bytes);
        add_num(p, "ratio", x->ok, x->ratio);
        add_num(p, "bits_per_weight", x->ok, x->bits_per_weight);
        add_num(p, "rel_l2", x->ok, x->rel_l2);
        add_num(p, "worst_rel_l2", x->ok, x->worst_rel_l2);
        if (x->ok)
            cJSON_AddStringToObject(p, "worst_tensor", x->worst_tensor ? x->worst_tensor : "");
        else
            cJSON_AddNullToObject(p, "worst_tensor");
        add_num(p, "metric", x->has_metric, x->metric);
        cJSON_AddBoolToObject(p, "pareto", x->pareto);
        cJSON_AddStringToObject(p, "label", x->label ? x->label : "");
        if (x->error)
            cJSON_AddStringToObject(p, "error", x->error);
        else
            cJSON_AddNullToObject(p, "error");
        cJSON_AddItemToArray(a, p);
    }
    return o;
}

static void write_table(FILE *f, const sweep_out *so, const sweep_result *r, size_t n)
{
    int mw = so->eval ? 10 : 0; /* the metric column, with --eval */
    fprintf(f, "%5s %10s %8s %7s %10s %12s %*s%s%6s  %s\n", "point", "bytes", "ratio", "bits/w",
            "rel_l2", "worst_rel_l2", mw, so->eval ? "metric" : "", so->eval ? " " : "",
            "pareto", "pipeline");
    for (size_t i = 0; i < n; i++) {
        const sweep_result *x = &r[i];
        char b[6][64];
        if (!x->ok) {
            fprintf(f, "%5zu %10s %8s %7s %10s %12s %*s%s%6s  %s (failed: %s)\n", i + 1, "-", "-",
                    "-", "-", "-", mw, "", so->eval ? " " : "", "", x->pipeline,
                    x->error ? x->error : "");
            continue;
        }
        fprintf(f, "%5zu %10s %8s %7s %10s %12s %*s%s%6s  %s\n", i + 1,
                fmt_num(b[0], 64, x->bytes, 1), fmt_num(b[1], 64, x->ratio, 0),
                fmt_num(b[2], 64, x->bits_per_weight, 0), fmt_num(b[3], 64, x->rel_l2, 0),
                fmt_num(b[4], 64, x->worst_rel_l2, 0), mw,
                fmt_num(b[5], 64, x->has_metric ? x->metric : NAN, 0), so->eval ? " " : "",
                x->pareto ? "*" : "", x->pipeline);
    }
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a > b && strcmp(s + a - b, suf) == 0;
}

/* ---- the command ------------------------------------------------------------------------- */

int cmd_sweep(int argc, char **argv)
{
    static const struct option opts[] = { { "grid", required_argument, NULL, 'g' },
                                           { "jobs", required_argument, NULL, 'j' },
                                           { "output", required_argument, NULL, 'o' },
                                           { "plot", required_argument, NULL, 'P' },
                                           { "eval", required_argument, NULL, 'E' },
                                           { "metric-goal", required_argument, NULL, 'G' },
                                           { "metric-name", required_argument, NULL, 'N' },
                                           { "blobs", required_argument, NULL, 'B' },
                                           { "max-points", required_argument, NULL, 'M' },
                                           { "metric", required_argument, NULL, 1000 },
                                           { "inputs", required_argument, NULL, 1000 + 'i' },
                                           { "input-spec", required_argument, NULL, 1000 + 'S' },
                                           { "spec-model", required_argument, NULL, 1000 + 'M' },
                                           { "seed", required_argument, NULL, 1000 + 's' },
                                           { "dim", required_argument, NULL, 1000 + 'D' },
                                           { "threads", required_argument, NULL, 1000 + 'T' },
                                           { "json", no_argument, NULL, 'J' },
                                           { "force", no_argument, NULL, 'f' },
                                           { "help", no_argument, NULL, 'h' },
                                           { "quiet", no_argument, NULL, 'q' },
                                           { "verbose", no_argument, NULL, 'v' },
                                           { 0, 0, 0, 0 } };
    const char *grids[64], *outp = NULL, *plot = NULL, *eval = NULL, *goal = NULL;
    const char *metric_name = NULL, *blobs = NULL, *metric = NULL;
    cli_infer_args ia = { .cmd = "sweep", .seed = 1 };
    int infer_opts = 0;
    size_t ngrids = 0, max_points = SWEEP_MAX_POINTS;
    long jobs = 1;
    int json = 0, c;
    char *end;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":g:j:o:fhqv", opts, NULL)) != -1) {
        switch (c) {
        case 'g':
            if (ngrids == sizeof grids / sizeof grids[0])
                return cli_usage("sweep", "more than %zu --grid options", ngrids);
            grids[ngrids++] = optarg;
            break;
        case 'j':
            errno = 0;
            jobs = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || jobs < 0 || jobs > SWEEP_MAX_JOBS)
                return cli_usage("sweep", "-j %s: expected a number of workers in 0..%d "
                                 "(0: one per processor)", optarg, SWEEP_MAX_JOBS);
            break;
        case 'o': outp = optarg; break;
        case 'P': plot = optarg; break;
        case 'E': eval = optarg; break;
        case 'G': goal = optarg; break;
        case 'N': metric_name = optarg; break;
        case 'B': blobs = optarg; break;
        case 'M': {
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || v < 1 || v > 1000000)
                return cli_usage("sweep", "--max-points %s: expected a number in 1..1000000",
                                 optarg);
            max_points = (size_t)v;
            break;
        }
        case 'J': json = 1; break;
        case 1000: metric = optarg; break;
        case 1000 + 'i': case 1000 + 'S': case 1000 + 'M': case 1000 + 's': case 1000 + 'D':
        case 1000 + 'T': {
            int r = cli_infer_parse_common(c - 1000, optarg, &ia);
            if (r != 0)
                return r;
            infer_opts = 1;
            break;
        }
        case 'h': fputs(sweep_help, stdout); return 0;
        case 'f': g_cli.force = 1; break;
        case 'q': g_cli.quiet = 1; break;
        case 'v': g_cli.verbose = 1; break;
        default: return cli_bad_option("sweep", c, argv);
        }
    }
    if (optind != argc - 1)
        return cli_usage("sweep", "expected one MODEL.onnx, got %d", argc - optind);
    if (!ngrids)
        return cli_usage("sweep", "missing --grid, e.g. --grid 'quantize:bits=4,6,8 | huffman'");
    if (goal && strcmp(goal, "max") != 0 && strcmp(goal, "min") != 0)
        return cli_usage("sweep", "--metric-goal %s: expected max or min", goal);
    int out_err = metric != NULL;
    if (metric && strcmp(metric, "output-error") != 0)
        return cli_usage("sweep", "--metric %s: the built-in metric is output-error (for "
                         "others, --eval 'CMD {onnx}')", metric);
    if (out_err && eval)
        return cli_usage("sweep", "--metric output-error and --eval: give one");
    int budget = 0; /* a point with an output budget calibrates on the inputs */
    for (size_t k = 0; k < ngrids; k++)
        budget |= strstr(grids[k], "max-output-error") != NULL;
    if (infer_opts && !out_err && !budget)
        return cli_usage("sweep", "--inputs, --input-spec, --seed, --dim and --threads are for "
                         "--metric output-error and points with max-output-error=");
    if (ia.inputs && ia.spec)
        return cli_usage("sweep", "--inputs and --input-spec: give one");
    if (out_err && goal && strcmp(goal, "min") != 0)
        return cli_usage("sweep", "--metric output-error: lower is better; --metric-goal max "
                         "does not apply");
    if (out_err) {
        goal = "min";
        if (!metric_name)
            metric_name = "output_rel_l2";
    }
    if ((goal || metric_name) && !eval && !out_err)
        return cli_usage("sweep", "--%s is about the --eval command's metric; give --eval 'CMD {onnx}'",
                         goal ? "metric-goal" : "metric-name");
    if (eval && !*eval)
        return cli_usage("sweep", "--eval is empty; give a command, e.g. 'my-eval.sh {onnx}'");
    int csv = outp && (strcmp(outp, "-") == 0 || has_suffix(outp, ".csv"));
    if (outp && !csv && !has_suffix(outp, ".json"))
        return cli_usage("sweep", "-o %s: the format comes from the name: FILE.csv, FILE.json, "
                         "or '-' for CSV on stdout", outp);
    if (json && outp && strcmp(outp, "-") == 0)
        return cli_usage("sweep", "--json and -o - would both write to stdout; pick one");
    if (plot && (strcmp(plot, "-") == 0 ? json || (outp && strcmp(outp, "-") == 0)
                                        : outp && strcmp(plot, outp) == 0))
        return cli_usage("sweep", "--plot and the results would go to the same place");
    const char *in = argv[optind];
    if (jobs == 0) {
        long np = sysconf(_SC_NPROCESSORS_ONLN);
        jobs = np > 0 ? (np > SWEEP_MAX_JOBS ? SWEEP_MAX_JOBS : np) : 1;
    }

    /* the grid: every point parsed and checked before anything runs */
    nnz_error e = { 0 };
    sweep s = { .in = in, .eval = eval, .blobs = blobs, .out_err = out_err, .ia = ia };
    s.ia.opts.dims = s.ia.dims; /* the copy's own array */
    /* a point with an output budget calibrates on the sweep's inputs */
    nnz_calib calib = { .inputs = s.ia.inputs, .spec = s.ia.spec, .spec_model = s.ia.spec_model,
                        .seed = s.ia.seed, .sets = NNZ_CALIB_SETS, .holdout = NNZ_CALIB_HOLDOUT,
                        .opts = s.ia.opts };
    grid gr[64];
    size_t total = 0;
    int rc = 0;
    for (size_t k = 0; k < ngrids && rc == 0; k++) {
        if (parse_grid(grids[k], &gr[k], &e) != 0) {
            for (size_t q = 0; q < k; q++)
                grid_free(&gr[q]);
            return cli_usage("sweep", "%s", e.msg);
        }
        if (__builtin_add_overflow(total, gr[k].npoints, &total))
            total = SIZE_MAX;
    }
    if (total > max_points) {
        for (size_t k = 0; k < ngrids; k++)
            grid_free(&gr[k]);
        return cli_usage("sweep", "the grid has %s%zu points, more than the limit of %zu; "
                         "use fewer values, or raise the limit with --max-points N",
                         total == SIZE_MAX ? "over " : "", total, max_points);
    }
    s.n = total;
    s.pts = calloc(total, sizeof *s.pts);
    s.pipes = calloc(total, sizeof *s.pipes);
    s.rewrites = calloc(total, sizeof *s.rewrites);
    sweep_result *res = calloc(total, sizeof *res);
    if (!s.pts || !s.pipes || !s.rewrites || !res) {
        rc = nnz_fail(&e, NNZ_EXIT_INTERNAL, "out of memory");
        s.n = 0;
    }
    size_t made = 0, parsed = 0;
    for (size_t k = 0; k < ngrids && rc == 0; k++)
        for (size_t i = 0; i < gr[k].npoints && rc == 0; i++)
            if ((rc = make_point(&gr[k], i, &s.pts[made], &e)) == 0)
                made++;
            else
                point_free(&s.pts[made]);
    for (size_t i = 0; i < made && rc == 0; i++, parsed++) {
        if ((rc = nnz_pipeline_parse(s.pts[i].text, &s.pipes[i], &e)) != 0) {
            nnz_wrap(&e, "--grid point %zu: ", i + 1);
            break;
        }
        s.pipes[i].calib = &calib;
        s.rewrites[i] = nnz_pipeline_rewrites_graph(&s.pipes[i]); /* reload the model after */
        res[i].pipeline = s.pts[i].text;
    }
    if (rc == 0)
        rc = make_labels(s.pts, made, res, &e);
    for (size_t i = 0; i < made && rc == 0 && !eval && !out_err; i++)
        if (s.rewrites[i]) {
            cli_note("warning: with decompose or prune:structured=channel, a point's rel_l2 "
                     "measures the weights it stores, not the layers they replace or the "
                     "channels removed; compare such points with --eval");
            break;
        }
    s.width = snprintf(NULL, 0, "%zu", total);

    /* the model, the outputs, the work folder */
    nnz_out out = { 0 }, svg = { 0 };
    int out_open = 0, svg_open = 0;
    if (rc == 0 && cli_file_open(&s.src, in, &e) == 0) {
        if (cli_model_from_file(&s.src, in, &s.m, &e) != 0)
            rc = -1;
    } else if (rc == 0) {
        rc = -1;
    }
    s.model_name = strcmp(in, "-") == 0 ? "model.onnx" : base_name(in);
    if (rc == 0 && blobs) {
        struct stat st;
        if (stat(blobs, &st) != 0 || !S_ISDIR(st.st_mode))
            rc = nnz_fail(&e, NNZ_EXIT_OUTPUT, "--blobs %s: not a folder", blobs);
    }
    if (rc == 0 && outp && (rc = nnz_out_open(&out, outp, in, cli_out_flags(0), &e)) == 0)
        out_open = 1;
    if (rc == 0 && plot && (rc = nnz_out_open(&svg, plot, in, cli_out_flags(0), &e)) == 0)
        svg_open = 1;
    if (rc == 0) {
        const char *td = getenv("TMPDIR");
        size_t len = strlen(td && *td ? td : "/tmp") + 32;
        if (!(s.tmp = malloc(len)))
            rc = nnz_fail(&e, NNZ_EXIT_INTERNAL, "out of memory");
        else {
            snprintf(s.tmp, len, "%s/nnzip-sweep.XXXXXX", td && *td ? td : "/tmp");
            if (!mkdtemp(s.tmp)) {
                rc = nnz_fail(&e, NNZ_EXIT_OUTPUT, "%s: cannot create a work folder: %s", s.tmp,
                              strerror(errno));
                free(s.tmp);
                s.tmp = NULL;
            }
        }
    }

    /* run */
    int sig = 0;
    size_t nw = (size_t)jobs < s.n ? (size_t)jobs : s.n;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (rc == 0) {
        char(*dead)[128] = calloc(nw, sizeof *dead);
        int *first = NULL;
        if (dead)
            sig = run_workers(&s, nw, isatty(STDERR_FILENO) && !g_cli.quiet, dead);
        if (!dead || !(first = calloc(nw, sizeof *first)))
            rc = nnz_fail(&e, NNZ_EXIT_INTERNAL, "out of memory");
        for (size_t i = 0; i < s.n && rc == 0 && !sig; i++)
            load_result(&s, i, &res[i], dead[i % nw], &first[i % nw]);
        free(dead);
        free(first);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    nnz_remove_tree(s.tmp);

    /* outputs */
    int status = 0;
    size_t failed = 0, front = 0;
    if (rc == 0 && !sig) {
        sweep_pareto(res, s.n, eval || out_err, !goal || strcmp(goal, "max") == 0);
        for (size_t i = 0; i < s.n; i++) {
            failed += !res[i].ok;
            front += res[i].pareto != 0;
            if (!res[i].ok)
                fprintf(stderr, "nnzip: sweep: point %zu '%s': %s\n", i + 1, cli_esc(res[i].pipeline),
                        cli_esc(res[i].error));
        }
        sweep_out so = { .model = in, .model_bytes = (double)s.m->file_size, .grids = grids,
                         .ngrids = ngrids, .eval = out_err ? "output-error (built in)" : eval,
                         .goal_max = !goal || strcmp(goal, "max") == 0,
                         .metric_name = metric_name ? metric_name : "metric" };
        if (out_open) {
            if (csv) {
                write_csv(out.f, res, s.n);
            } else {
                cJSON *doc = results_json(&so, res, s.n);
                char *text = cJSON_Print(doc);
                if (text) {
                    fputs(text, out.f);
                    fputc('\n', out.f);
                }
                free(text);
                cJSON_Delete(doc);
            }
            out_open = 0;
            if (nnz_out_commit(&out, &e) != 0)
                rc = -1;
        }
        if (svg_open) {
            nnz_bytes all = { 0 }; /* the grids, for the subtitle */
            for (size_t k = 0; k < ngrids; k++) {
                nnz_bytes_puts(&all, k ? "; " : "");
                nnz_bytes_puts(&all, grids[k]);
            }
            const char *grids_text = nnz_bytes_str(&all);
            sweep_plot_opts po = { .model = s.model_name, .grid = grids_text ? grids_text : "",
                                   .by_metric = eval || out_err, .goal_max = so.goal_max,
                                   .metric_name = so.metric_name };
            svg_open = 0;
            int bad = sweep_plot_svg(svg.f, res, s.n, &po);
            nnz_bytes_free(&all);
            if (bad) {
                nnz_out_abort(&svg);
                if (rc == 0)
                    rc = nnz_fail(&e, NNZ_EXIT_OUTPUT, "%s: write failed", plot);
            } else if (nnz_out_commit(&svg, &e) != 0 && rc == 0) {
                rc = -1;
            }
        }
        int wrote = 0;
        if (json)
            wrote = cli_print_json(results_json(&so, res, s.n));
        else if (!outp)
            write_table(stdout, &so, res, s.n);
        fflush(stdout);
        if (rc == 0) {
            char nfail[48] = "";
            if (failed)
                snprintf(nfail, sizeof nfail, ", %zu failed", failed);
            cli_note("sweep %s: %zu point%s in %.1f s, %zu on the Pareto frontier (bytes vs %s)"
                     "%s%s%s", in, s.n, s.n == 1 ? "" : "s",
                     (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
                     front, eval || out_err ? so.metric_name : "rel_l2", nfail,
                     outp && strcmp(outp, "-") ? " -> " : "", outp && strcmp(outp, "-") ? outp : "");
        }
        status = wrote ? wrote : failed ? NNZ_EXIT_VERIFY : 0;
    }
    if (out_open)
        nnz_out_abort(&out);
    if (svg_open)
        nnz_out_abort(&svg);
    if (rc != 0)
        status = cli_report(&e);

    for (size_t i = 0; i < s.n; i++) {
        free(res[i].label);
        free(res[i].worst_tensor);
        free(res[i].error);
    }
    for (size_t i = 0; i < parsed; i++)
        nnz_pipeline_free(&s.pipes[i]);
    for (size_t i = 0; i < made; i++)
        point_free(&s.pts[i]);
    for (size_t k = 0; k < ngrids; k++)
        grid_free(&gr[k]);
    free(res);
    free(s.pts);
    free(s.pipes);
    free(s.rewrites);
    free(s.tmp);
    if (s.m)
        nnz_model_free(s.m);
    if (s.src.data)
        cli_file_close(&s.src);
    if (sig) {
        signal(sig, SIG_DFL);
        raise(sig);
    }
    return status;
}
