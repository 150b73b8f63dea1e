/* infer_feed.c - inputs from folders or generated, outputs to files
 * (infer_feed.h). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "infer_feed.h"
#include "infer_int.h"

void nnz_feed_free(nnz_feed *f)
{
    for (size_t i = 0; i < f->n; i++)
        nnz_it_free(&f->t[i]);
    free(f->t);
    f->t = NULL;
    f->n = 0;
}

static int cmp_str(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    /* numeric order of the trailing number: _2 before _10 */
    size_t lx = strlen(x), ly = strlen(y);
    const char *nx = x + lx, *ny = y + ly;
    while (nx > x && nx[-1] >= '0' && nx[-1] <= '9') nx--;
    while (ny > y && ny[-1] >= '0' && ny[-1] <= '9') ny--;
    if (nx - x == ny - y && strncmp(x, y, (size_t)(nx - x)) == 0 && *nx && *ny)
        return strtoull(nx, NULL, 10) < strtoull(ny, NULL, 10) ? -1 : strtoull(nx, NULL, 10) > strtoull(ny, NULL, 10);
    return strcmp(x, y);
}

/* File names in dir starting with `prefix` and ending with `suffix`. */
static int list_dir(const char *dir, const char *prefix, const char *suffix, int want_dirs,
                    char ***out, size_t *n, nnz_error *e)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return nnz_fail(e, NNZ_EXIT_INPUT, "%s: cannot open the folder: %s", dir, strerror(errno));
    struct dirent *de;
    size_t cap = 0;
    int rc = 0;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name), lp = strlen(prefix), ls = strlen(suffix);
        if (l < lp + ls || strncmp(de->d_name, prefix, lp) != 0 ||
            strcmp(de->d_name + l - ls, suffix) != 0)
            continue;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (stat(path, &st) != 0 || (want_dirs ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nl = nnz_realloc(*out, cap * sizeof *nl, e);
            if (!nl) { rc = -1; break; }
            *out = nl;
        }
        if (!((*out)[*n] = nnz_strdup(de->d_name, e))) { rc = -1; break; }
        (*n)++;
    }
    closedir(d);
    if (rc == 0 && *n)
        qsort(*out, *n, sizeof **out, cmp_str);
    return rc;
}

static void free_list(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

int nnz_feed_list_sets(const char *dir, char ***names, size_t *n, nnz_error *e)
{
    return list_dir(dir, "test_data_set_", "", 1, names, n, e);
}

/* The file name an input or output name becomes ('/' and other awkward
 * bytes as '_'). */
static void file_name(const char *name, char *buf, size_t cap)
{
    size_t i = 0;
    for (; name[i] && i + 1 < cap; i++) {
        char ch = name[i];
        buf[i] = ch == '/' || ch == '\\' || (unsigned char)ch < 32 ? '_' : ch;
    }
    buf[i] = 0;
}

static int read_pb(const char *path, nnz_itensor *t, char **name, nnz_error *e)
{
    uint8_t *data;
    size_t len;
    if (nnz_read_file(path, &data, &len, e) != 0)
        return -1;
    Onnx__TensorProto *p = onnx__tensor_proto__unpack(NULL, len, data);
    free(data);
    if (!p)
        return nnz_fail(e, NNZ_EXIT_INPUT, "%s: not a TensorProto", path);
    int rc = nnz_it_from_proto(p, t, e);
    if (rc != 0)
        nnz_wrap(e, "%s: ", path);
    *name = rc == 0 && p->name && *p->name ? nnz_strdup(p->name, e) : NULL;
    onnx__tensor_proto__free_unpacked(p, NULL);
    return rc;
}

int nnz_feed_from_dir(const nnz_infer *inf, const char *dir, nnz_feed *f, nnz_error *e)
{
    size_t n = nnz_infer_ninputs(inf);
    f->n = n;
    f->t = nnz_calloc(n + 1, sizeof *f->t, e);
    if (!f->t)
        return -1;
    char **pbs;
    size_t npb;
    if (list_dir(dir, "input_", ".pb", 0, &pbs, &npb, e) != 0)
        return -1;
    int rc = 0;
    if (npb) {
        if (npb != n) {
            free_list(pbs, npb);
            return nnz_fail(e, NNZ_EXIT_INPUT, "%s: %zu input_N.pb files; the model has %zu inputs",
                            dir, npb, n);
        }
        for (size_t k = 0; k < npb && rc == 0; k++) {
            char path[4096], *name = NULL;
            nnz_itensor t;
            snprintf(path, sizeof path, "%s/%s", dir, pbs[k]);
            if ((rc = read_pb(path, &t, &name, e)) != 0)
                break;
            /* by name when the name is one of the model's inputs, else by order */
            size_t at = k;
            for (size_t i = 0; name && i < n; i++)
                if (strcmp(nnz_infer_input_info(inf, i)->name, name) == 0)
                    at = i;
            free(name);
            if (f->t[at].data) {
                nnz_it_free(&t);
                rc = nnz_fail(e, NNZ_EXIT_INPUT, "%s: input '%s' is given twice", dir,
                              nnz_infer_input_info(inf, at)->name);
                break;
            }
            f->t[at] = t;
        }
        free_list(pbs, npb);
        if (rc != 0)
            nnz_feed_free(f);
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        char fn[1024], path[4096];
        file_name(nnz_infer_input_info(inf, i)->name, fn, sizeof fn);
        snprintf(path, sizeof path, "%s/%s.npy", dir, fn);
        uint8_t *data;
        size_t len;
        struct stat st;
        if (stat(path, &st) != 0) {
            nnz_feed_free(f);
            return nnz_fail(e, NNZ_EXIT_INPUT, "%s: no input_N.pb files and no '%s.npy' for input '%s'",
                            dir, fn, nnz_infer_input_info(inf, i)->name);
        }
        if (nnz_read_file(path, &data, &len, e) != 0) {
            nnz_feed_free(f);
            return -1;
        }
        rc = nnz_it_from_npy(data, len, &f->t[i], e);
        free(data);
        if (rc != 0) {
            nnz_feed_free(f);
            return nnz_wrap(e, "%s: ", path);
        }
    }
    return 0;
}

int nnz_feed_apply(nnz_infer *inf, const nnz_feed *f, nnz_error *e)
{
    for (size_t i = 0; i < f->n; i++) {
        const char *name = nnz_infer_input_info(inf, i)->name;
        if (!f->t[i].data)
            return nnz_fail(e, NNZ_EXIT_INPUT, "input '%s' has no value", name);
        if (nnz_infer_set_input(inf, name, &f->t[i], e) != 0)
            return -1;
    }
    return 0;
}

/* ---- generated inputs (the oracle's generator, tests/oracle/compare.js) ---- */

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 0x811c9dc5u;
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 0x01000193u;
    }
    return h;
}

typedef struct rng {
    uint32_t a;
} rng;

static double rnd(rng *r)
{
    r->a += 0x6d2b79f5u;
    uint32_t t = r->a;
    t = (t ^ (t >> 15)) * (t | 1u);
    t ^= t + (t ^ (t >> 7)) * (t | 61u);
    return (double)(t ^ (t >> 14)) / 4294967296.0;
}

static double between(rng *r, double lo, double hi)
{
    return lo + (hi - lo) * rnd(r);
}

static void smooth(double *out, int nd, const int64_t *dims, size_t n, double lo, double hi, rng *r)
{
    if (!n)
        return;
    int bax = nd >= 2 ? 1 : 0;
    size_t samples = nd >= 2 ? (size_t)dims[0] : 1, per = n / samples;
    int ni = nd - bax;
    int64_t strides[NNZ_MAX_DIMS];
    int64_t s = 1;
    for (int a = ni - 1; a >= 0; a--) {
        strides[a] = s;
        s *= dims[bax + a];
    }
    for (size_t sm = 0; sm < samples; sm++) {
        double amp[6], phase[6], freq[6][NNZ_MAX_DIMS];
        for (int k = 0; k < 6; k++) {
            amp[k] = 1.0 / (1 + k);
            phase[k] = between(r, 0, 2 * M_PI);
            for (int a = 0; a < ni; a++)
                freq[k][a] = dims[bax + a] > 1 ? between(r, 0.3, 3) : 0;
        }
        double mn = INFINITY, mx = -INFINITY;
        double *o = out + sm * per;
        for (size_t i = 0; i < per; i++) {
            double v = 0;
            for (int k = 0; k < 6; k++) {
                double arg = phase[k];
                int64_t rest = (int64_t)i;
                for (int a = 0; a < ni; a++) {
                    int64_t idx = rest / strides[a];
                    rest -= idx * strides[a];
                    if (freq[k][a] != 0)
                        arg += 2 * M_PI * freq[k][a] * ((double)idx / (double)dims[bax + a]);
                }
                v += amp[k] * sin(arg);
            }
            o[i] = v;
            if (v < mn) mn = v;
            if (v > mx) mx = v;
        }
        double span = mx - mn;
        for (size_t i = 0; i < per; i++)
            o[i] = span > 0 ? lo + (hi - lo) * (o[i] - mn) / span : (lo + hi) / 2;
    }
}

static int channel_axis(int nd, const int64_t *dims, const cJSON *spec)
{
    const cJSON *ca = cJSON_GetObjectItemCaseSensitive(spec, "channel_axis");
    if (cJSON_IsNumber(ca)) {
        int a = ca->valueint < 0 ? ca->valueint + nd : ca->valueint;
        return a >= 0 && a < nd ? a : -1;
    }
    if (nd == 4)
        return dims[3] < dims[1] ? 3 : 1;
    return nd >= 2 ? 1 : 0;
}

/* ---- the picture-like dists: a canvas of H x W x C fractions in [0, 1] ---- */

typedef struct canvas {
    int64_t H, W, C;
    double *px;
} canvas;

static int64_t rint_in(rng *r, int64_t lo, int64_t hi) /* inclusive */
{
    return lo + (int64_t)floor(rnd(r) * (double)(hi - lo + 1));
}

static double jround(double x) /* JavaScript's Math.round: halves go up */
{
    return floor(x + 0.5);
}

static void paint(canvas *cv, int64_t y, int64_t x, const double *colour)
{
    if (y < 0 || x < 0 || y >= cv->H || x >= cv->W)
        return;
    for (int64_t c = 0; c < cv->C; c++)
        cv->px[(y * cv->W + x) * cv->C + c] = colour[c];
}

static void fill_rect(canvas *cv, int64_t y0, int64_t x0, int64_t h, int64_t w, const double *colour)
{
    for (int64_t y = y0; y < y0 + h; y++)
        for (int64_t x = x0; x < x0 + w; x++)
            paint(cv, y, x, colour);
}

static void background(canvas *cv, rng *r, double lo, double hi)
{
    double a = between(r, lo, hi), b = between(r, lo, hi);
    for (int64_t y = 0; y < cv->H; y++)
        for (int64_t x = 0; x < cv->W; x++) {
            double t = ((double)y / (double)(cv->H - 1 > 1 ? cv->H - 1 : 1) +
                        (double)x / (double)(cv->W - 1 > 1 ? cv->W - 1 : 1)) / 2;
            for (int64_t c = 0; c < cv->C; c++)
                cv->px[(y * cv->W + x) * cv->C + c] = a + (b - a) * t;
        }
}

/* "lines": a dark gradient with 6-14 light segments (a wireframe) */
static void draw_lines(canvas *cv, rng *r)
{
    background(cv, r, 0.05, 0.25);
    double size = (double)(cv->H < cv->W ? cv->H : cv->W);
    int64_t count = rint_in(r, 6, 14);
    double colour[NNZ_MAX_DIMS * 8];
    for (int64_t k = 0; k < count; k++) {
        double x0 = between(r, 0, (double)cv->W), y0 = between(r, 0, (double)cv->H);
        double len = between(r, 0.1, 0.45) * size;
        double angle = rnd(r) < 0.33 ? (double)rint_in(r, 0, 3) * M_PI / 2 : between(r, 0, 2 * M_PI);
        double x1 = fmin((double)cv->W - 1, fmax(0, x0 + len * cos(angle)));
        double y1 = fmin((double)cv->H - 1, fmax(0, y0 + len * sin(angle)));
        int64_t rad = rint_in(r, 0, 1);
        double grey = between(r, 0.7, 1);
        for (int64_t c = 0; c < cv->C; c++)
            colour[c] = fmin(1, grey + between(r, -0.1, 0.1));
        double steps = ceil(2 * hypot(x1 - x0, y1 - y0)) + 1;
        for (double s = 0; s <= steps; s++) {
            int64_t x = (int64_t)jround(x0 + (x1 - x0) * s / steps);
            int64_t y = (int64_t)jround(y0 + (y1 - y0) * s / steps);
            fill_rect(cv, y - rad, x - rad, 2 * rad + 1, 2 * rad + 1, colour);
        }
    }
}

static void draw_glyph(canvas *cv, rng *r, int64_t y, int64_t x, int64_t h, int64_t w, int64_t stroke,
                       const double *ink)
{
    int64_t strokes = rint_in(r, 2, 4);
    for (int64_t s = 0; s < strokes; s++) {
        if (rnd(r) < 0.5) {
            int64_t cx = x + rint_in(r, 0, w - stroke);
            int64_t top = rnd(r) < 0.6 ? 0 : rint_in(r, 0, h / 2);
            fill_rect(cv, y + top, cx, h - top, stroke, ink);
        } else {
            int64_t rows[3] = { 0, (h - stroke) / 2, h - stroke };
            fill_rect(cv, y + rows[rint_in(r, 0, 2)], x, stroke, w, ink);
        }
    }
}

/* "text": a light page with rows of dark glyphs grouped into words */
static void draw_text(canvas *cv, rng *r)
{
    background(cv, r, 0.8, 0.97);
    int64_t H = cv->H, W = cv->W;
    int64_t minh = (int64_t)jround((double)H / 40) > 5 ? (int64_t)jround((double)H / 40) : 5;
    int64_t maxh = (int64_t)jround((double)H / 14) > minh ? (int64_t)jround((double)H / 14) : minh;
    int64_t ytop = (int64_t)jround((double)H / 10);
    int64_t y = rint_in(r, 2, ytop > 2 ? ytop : 2);
    double ink[NNZ_MAX_DIMS * 8];
    for (;;) {
        int64_t gh = rint_in(r, minh, maxh);
        if (y + gh >= H)
            break;
        for (int64_t c = 0; c < cv->C; c++)
            ink[c] = between(r, 0, 0.15);
        int64_t stroke = (int64_t)jround((double)gh / 7) > 1 ? (int64_t)jround((double)gh / 7) : 1;
        int64_t gw = (int64_t)jround((double)gh * 0.6) > 3 ? (int64_t)jround((double)gh * 0.6) : 3;
        int64_t xl = (int64_t)jround((double)W / 6);
        int64_t x = rint_in(r, 2, xl > 2 ? xl : 2);
        double xend = between(r, 0.4, 0.98) * (double)W;
        while ((double)(x + gw) < xend) {
            int64_t letters = rint_in(r, 2, 8);
            for (int64_t l = 0; l < letters && (double)(x + gw) < xend; l++) {
                draw_glyph(cv, r, y, x, gh, gw, stroke, ink);
                int64_t gap = (int64_t)jround((double)gh * 0.15);
                x += gw + (gap > 1 ? gap : 1);
            }
            x += (int64_t)jround((double)gh * 0.6);
        }
        y += (int64_t)jround((double)gh * between(r, 1.4, 2.6));
    }
}

/* Images per sample along axis 0; -1 when the dims have no image layout. */
static int picture(double *out, const char *dist, int nd, const int64_t *dims, int cax, double lo,
                   double hi, rng *r)
{
    int ch = -1, h, w;
    if (nd == 4) {
        ch = cax;
        int sp[2], k = 0;
        for (int a = 1; a < 4; a++)
            if (a != ch)
                sp[k++] = a;
        h = sp[0];
        w = sp[1];
    } else if (nd == 3) {
        h = 1;
        w = 2;
    } else
        return -1;
    int64_t st[4], s = 1;
    for (int a = nd - 1; a >= 0; a--) {
        st[a] = s;
        s *= dims[a];
    }
    canvas cv = { dims[h], dims[w], ch < 0 ? 1 : dims[ch], NULL };
    if (cv.C > NNZ_MAX_DIMS * 8)
        return -1;
    cv.px = malloc((size_t)(cv.H * cv.W * cv.C) * sizeof *cv.px + 1);
    if (!cv.px)
        return -2;
    for (int64_t b = 0; b < dims[0]; b++) {
        if (strcmp(dist, "lines") == 0)
            draw_lines(&cv, r);
        else
            draw_text(&cv, r);
        for (int64_t y = 0; y < cv.H; y++)
            for (int64_t x = 0; x < cv.W; x++)
                for (int64_t c = 0; c < cv.C; c++)
                    out[b * st[0] + y * st[h] + x * st[w] + (ch < 0 ? 0 : c * st[ch])] =
                        lo + (hi - lo) * cv.px[(y * cv.W + x) * cv.C + c];
    }
    free(cv.px);
    return 0;
}

static const cJSON *find_spec(const cJSON *root, const char *model_name, nnz_error *e)
{
    if (!root || !cJSON_IsObject(root)) {
        nnz_fail(e, NNZ_EXIT_USAGE, "the input spec must be a JSON object");
        return NULL;
    }
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(root, "models");
    if (cJSON_IsArray(models)) {
        const cJSON *m;
        cJSON_ArrayForEach(m, models) {
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(m, "name");
            if (cJSON_IsString(nm) && model_name && strcmp(nm->valuestring, model_name) == 0)
                return cJSON_GetObjectItemCaseSensitive(m, "inputs");
        }
        nnz_fail(e, NNZ_EXIT_USAGE, "the spec lists models; --spec-model must name one of them");
        return NULL;
    }
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(root, "inputs");
    return cJSON_IsObject(in) ? in : root;
}

int nnz_feed_generate(const nnz_infer *inf, const char *spec_path, const char *model_name,
                      uint64_t seed, int batch, nnz_feed *f, nnz_error *e)
{
    cJSON *root = NULL;
    const cJSON *specs = NULL;
    if (spec_path) {
        uint8_t *data;
        size_t len;
        if (nnz_read_file(spec_path, &data, &len, e) != 0)
            return -1;
        root = cJSON_ParseWithLength((const char *)data, len);
        free(data);
        if (!root)
            return nnz_fail(e, NNZ_EXIT_USAGE, "%s: not valid JSON", spec_path);
        if (!(specs = find_spec(root, model_name, e))) {
            cJSON_Delete(root);
            return nnz_wrap(e, "%s: ", spec_path);
        }
    }
    size_t n = nnz_infer_ninputs(inf);
    f->n = n;
    f->t = nnz_calloc(n + 1, sizeof *f->t, e);
    if (!f->t) {
        cJSON_Delete(root);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *name = nnz_infer_input_info(inf, i)->name;
        const cJSON *spec = specs ? cJSON_GetObjectItemCaseSensitive(specs, name) : NULL;
        int64_t dims[NNZ_MAX_DIMS];
        int dtype, nd = nnz_infer_input_shape(inf, i, dims, &dtype);
        const cJSON *sd = cJSON_GetObjectItemCaseSensitive(spec, "dims");
        const cJSON *value = cJSON_GetObjectItemCaseSensitive(spec, "value");
        const cJSON *fill = cJSON_GetObjectItemCaseSensitive(spec, "fill");
        const cJSON *range = cJSON_GetObjectItemCaseSensitive(spec, "range");
        const cJSON *dist = cJSON_GetObjectItemCaseSensitive(spec, "dist");
        const cJSON *cf = cJSON_GetObjectItemCaseSensitive(spec, "channel_fill");
        if (cJSON_IsArray(sd)) {
            int k = 0;
            const cJSON *d;
            int64_t model[NNZ_MAX_DIMS];
            int mnd = nd;
            memcpy(model, dims, sizeof model);
            cJSON_ArrayForEach(d, sd) {
                if (k >= NNZ_MAX_DIMS) break;
                dims[k] = cJSON_IsNumber(d) && d->valuedouble >= 0 ? (int64_t)d->valuedouble
                        : (k < mnd && model[k] >= 0 ? model[k] : 1);
                k++;
            }
            nd = k;
        } else if (nd >= 0) {
            for (int k = 0; k < nd; k++)
                if (dims[k] < 0)
                    dims[k] = 1;
        } else if (cJSON_IsArray(value)) {
            nd = 1;
            dims[0] = cJSON_GetArraySize(value);
        } else
            nd = 0;
        /* the declared shape is the model's word: check it against the limit first */
        uint64_t count = 1;
        for (int k = 0; k < nd && count; k++)
            count = dims[k] >= 0 && (uint64_t)dims[k] <= inf->limit ? count * (uint64_t)dims[k] : UINT64_MAX;
        if (nnz_it_esize(dtype) && count > inf->limit / nnz_it_esize(dtype)) {
            rc = nnz_fail(e, NNZ_EXIT_INPUT, "input '%s': its shape needs more than the %llu "
                          "bytes the run may use (--max-memory)", name, (unsigned long long)inf->limit);
            break;
        }
        if (nnz_it_alloc(&f->t[i], dtype, nd, dims, e) != 0) {
            rc = nnz_wrap(e, "input '%s': ", name);
            break;
        }
        nnz_itensor *t = &f->t[i];
        double *v = calloc(t->count ? t->count : 1, sizeof *v);
        if (!v) {
            rc = nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory");
            break;
        }
        int isf = nni_is_float(dtype) || dtype == NNZ_DT_DOUBLE;
        double lo = isf ? -1 : 0, hi = isf ? 1 : dtype == NNZ_DT_BOOL ? 1 : 9;
        if (cJSON_IsArray(range) && cJSON_GetArraySize(range) == 2) {
            lo = cJSON_GetArrayItem(range, 0)->valuedouble;
            hi = cJSON_GetArrayItem(range, 1)->valuedouble;
        }
        const char *ds = cJSON_IsString(dist) ? dist->valuestring : "uniform";
        if (value) {
            int nv = cJSON_IsArray(value) ? cJSON_GetArraySize(value) : 1;
            if (nv != 1 && (size_t)nv != t->count)
                rc = nnz_fail(e, NNZ_EXIT_USAGE, "input '%s': value has %d elements, dims need %zu",
                              name, nv, t->count);
            for (size_t k = 0; rc == 0 && k < t->count; k++)
                v[k] = cJSON_IsArray(value) ? cJSON_GetArrayItem(value, nv == 1 ? 0 : (int)k)->valuedouble
                                            : value->valuedouble;
        } else if (cJSON_IsNumber(fill)) {
            for (size_t k = 0; k < t->count; k++)
                v[k] = fill->valuedouble;
        } else {
            char key[1200];
            snprintf(key, sizeof key, "%llu:%d:%s", (unsigned long long)seed, batch, name);
            rng r = { fnv1a(key) };
            if (strcmp(ds, "uniform") == 0 || strcmp(ds, "noise") == 0 || (!isf && strcmp(ds, "smooth") != 0)) {
                if (isf)
                    for (size_t k = 0; k < t->count; k++)
                        v[k] = between(&r, lo, hi);
                else {
                    double a = ceil(lo), b = floor(hi);
                    for (size_t k = 0; k < t->count; k++)
                        v[k] = a + floor(rnd(&r) * (b - a + 1));
                }
            } else if (strcmp(ds, "smooth") == 0)
                smooth(v, nd, dims, t->count, lo, hi, &r);
            else if (strcmp(ds, "lines") == 0 || strcmp(ds, "text") == 0) {
                /* without image axes the oracle draws smooth values instead */
                int pr = picture(v, ds, nd, dims, channel_axis(nd, dims, spec), lo, hi, &r);
                if (pr == -1)
                    smooth(v, nd, dims, t->count, lo, hi, &r);
                else if (pr == -2)
                    rc = nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory");
            } else
                rc = nnz_fail(e, NNZ_EXIT_USAGE, "input '%s': dist '%s' (uniform, noise, smooth, "
                              "lines, text)", name, ds);
            if (rc == 0 && cJSON_IsObject(cf)) {
                int ax = channel_axis(nd, dims, spec);
                const cJSON *ch;
                int64_t stride = 1;
                for (int k = ax + 1; k < nd; k++)
                    stride *= dims[k];
                cJSON_ArrayForEach(ch, cf) {
                    long c = strtol(ch->string, NULL, 10);
                    if (ax < 0 || c < 0 || c >= dims[ax]) {
                        rc = nnz_fail(e, NNZ_EXIT_USAGE, "input '%s': channel_fill channel %ld out of range", name, c);
                        break;
                    }
                    for (size_t k = 0; k < t->count; k++)
                        if ((int64_t)(k / (size_t)stride) % dims[ax] == c)
                            v[k] = ch->valuedouble;
                }
            }
        }
        for (size_t k = 0; rc == 0 && k < t->count; k++)
            nni_set(t, k, isf ? v[k] : nearbyint(v[k]));
        free(v);
    }
    cJSON_Delete(root);
    if (rc != 0)
        nnz_feed_free(f);
    return rc;
}

/* mkdir -p */
static int make_dirs(const char *dir, nnz_error *e)
{
    char p[4096];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p)
        return nnz_fail(e, NNZ_EXIT_OUTPUT, "%s: the path is too long", dir);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            if (mkdir(p, 0777) != 0 && errno != EEXIST)
                return nnz_fail(e, NNZ_EXIT_OUTPUT, "%s: cannot create the folder: %s", p, strerror(errno));
            *s = '/';
        }
    if (mkdir(p, 0777) != 0 && errno != EEXIST)
        return nnz_fail(e, NNZ_EXIT_OUTPUT, "%s: cannot create the folder: %s", dir, strerror(errno));
    return 0;
}

int nnz_feed_write_outputs(const nnz_infer *inf, const char *dir, int npy, unsigned out_flags,
                           nnz_error *e)
{
    if (make_dirs(dir, e) != 0)
        return -1;
    for (size_t i = 0; i < nnz_infer_noutputs(inf); i++) {
        const nnz_itensor *t = nnz_infer_output(inf, i);
        if (!t)
            return nnz_fail(e, NNZ_EXIT_INTERNAL, "no outputs: the model did not run");
        uint8_t *buf;
        size_t len;
        int rc = npy ? nnz_it_to_npy(t, &buf, &len, e)
                     : nnz_it_to_pb(t, nnz_infer_output_name(inf, i), &buf, &len, e);
        if (rc != 0)
            return -1;
        char path[4096];
        snprintf(path, sizeof path, "%s/output_%zu.%s", dir, i, npy ? "npy" : "pb");
        nnz_out o;
        rc = nnz_out_open(&o, path, NULL, out_flags, e);
        if (rc == 0 && fwrite(buf, 1, len, o.f) != len) {
            nnz_out_abort(&o);
            rc = nnz_fail(e, NNZ_EXIT_OUTPUT, "%s: write failed: %s", path, strerror(errno));
        } else if (rc == 0)
            rc = nnz_out_commit(&o, e);
        free(buf);
        if (rc != 0)
            return -1;
    }
    return 0;
}
