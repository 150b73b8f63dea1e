/* sweep_plot.c - the picture of a sweep (`nnzip sweep --plot FILE.svg`):
 * blob size (log scale) against weight error (log scale) or the --eval
 * metric, the Pareto frontier connected and highlighted, every point
 * labelled with what sets it apart. A self-contained SVG: no scripts, no
 * external fonts or images; numbers written in the C locale. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sweep.h"

enum { WIDTH = 960, HEIGHT = 640, LEFT = 96, RIGHT = 36, TOP = 84, BOTTOM = 66 };
#define FONT_PX 11.0
#define CHAR_PX 6.3   /* average advance of an 11 px sans-serif character */
#define MAX_LABELLED 60 /* past this many points, labels off the frontier only where free */
#define FRONT_COLOR "#d1495b"
#define FRONT_DARK "#8e1f2f"
#define POINT_COLOR "#8d99ae"
#define POINT_DARK "#4a5566"

typedef struct axis {
    int log;        /* log10 scale */
    double lo, hi;  /* the range, in axis units (log10 of the value on a log axis) */
    double p0, p1;  /* the pixels of lo and hi */
} axis;

typedef struct box {
    double x0, y0, x1, y1;
} box;

static double ax_unit(const axis *a, double v)
{
    return a->log ? log10(v) : v;
}

static double ax_px(const axis *a, double v)
{
    return a->p0 + (ax_unit(a, v) - a->lo) / (a->hi - a->lo) * (a->p1 - a->p0);
}

/* The range of the values (units of the axis), padded; at least half a
 * decade on a log axis so it gets ticks. */
static void ax_fit(axis *a, double lo, double hi)
{
    double min_span = a->log ? 0.5 : fmax(fabs(hi) * 0.02, 1e-9);
    if (hi - lo < min_span) {
        double mid = (lo + hi) / 2;
        lo = mid - min_span / 2;
        hi = mid + min_span / 2;
    }
    double pad = (hi - lo) * 0.07;
    a->lo = lo - pad;
    a->hi = hi + pad;
}

/* Ticks of a log axis: decades, or 1-2-5, or finer, whichever first gives
 * four or more. */
static size_t log_ticks(const axis *a, double *t, size_t cap)
{
    static const double sets[3][10] = { { 1 }, { 1, 2, 5 }, { 1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9 } };
    static const size_t sizes[3] = { 1, 3, 10 };
    size_t n = 0;
    for (int s = 0; s < 3; s++) {
        n = 0;
        for (int k = (int)floor(a->lo); k <= (int)ceil(a->hi) && n < cap; k++)
            for (size_t m = 0; m < sizes[s] && n < cap; m++) {
                double v = sets[s][m] * pow(10, k), u = log10(v);
                if (u >= a->lo && u <= a->hi)
                    t[n++] = v;
            }
        if (n >= 4)
            break;
    }
    return n;
}

/* Ticks of a linear axis at a 1-2-5 step; *step gets the step. */
static size_t lin_ticks(const axis *a, double *t, size_t cap, double *step)
{
    double raw = (a->hi - a->lo) / 5, mag = pow(10, floor(log10(raw)));
    double s = raw / mag <= 1 ? mag : raw / mag <= 2 ? 2 * mag : raw / mag <= 5 ? 5 * mag : 10 * mag;
    size_t n = 0;
    for (double v = ceil(a->lo / s) * s; v <= a->hi + s * 1e-9 && n < cap; v += s)
        t[n++] = fabs(v) < s * 1e-9 ? 0 : v;
    *step = s;
    return n;
}

static void put_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\n')
                fputc(*s, f);
        }
    }
}

/* Text of at most `max` characters, with "..." when cut (UTF-8 safe). */
static void put_cut(FILE *f, const char *s, size_t max)
{
    size_t len = strlen(s);
    if (len <= max) {
        put_escaped(f, s);
        return;
    }
    char buf[512];
    size_t k = max - 3 < sizeof buf - 4 ? max - 3 : sizeof buf - 4;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    memcpy(buf, s, k);
    strcpy(buf + k, "...");
    put_escaped(f, buf);
}

static void fmt_bytes(char *b, size_t cap, double v)
{
    static const char *const units[] = { "B", "kB", "MB", "GB", "TB" };
    int u = 0;
    while (v >= 999.5 && u < 4) {
        v /= 1000;
        u++;
    }
    snprintf(b, cap, "%g %s", v, units[u]);
}

static int overlap(const box *a, const box *b)
{
    return a->x0 < b->x1 && b->x0 < a->x1 && a->y0 < b->y1 && b->y0 < a->y1;
}

static double overlap_area(const box *a, const box *b)
{
    if (!overlap(a, b))
        return 0;
    return (fmin(a->x1, b->x1) - fmax(a->x0, b->x0)) * (fmin(a->y1, b->y1) - fmax(a->y0, b->y0));
}

typedef struct dot {
    size_t i;        /* index in the results */
    double x, y;     /* pixels */
    int zero;        /* error 0 on a log axis: drawn on the axis */
} dot;

static int by_x(const void *a, const void *b)
{
    const dot *p = a, *q = b;
    if (p->x != q->x)
        return p->x < q->x ? -1 : 1;
    if (p->y != q->y)
        return p->y > q->y ? -1 : 1; /* lower on the page first */
    return p->i < q->i ? -1 : p->i > q->i;
}

/* A place for a label of width w beside the dot at (x, y) that covers no
 * other label, no dot and stays in the plot; the least covered place when
 * there is none and `must`. Returns 0 when not placed. */
static int place_label(double x, double y, double w, const box *taken, size_t ntaken,
                       const box *plot, int must, double *tx, double *ty, const char **anchor,
                       int *far)
{
    static const struct { double dx, dy; int side; } cand[] = {
        { 1, 0, 1 }, { -1, 0, -1 }, { 0, -1, 0 }, { 0, 1, 0 },
        { 0.75, -0.75, 1 }, { 0.75, 0.75, 1 }, { -0.75, -0.75, -1 }, { -0.75, 0.75, -1 },
    };
    double best_cost = INFINITY;
    int found = 0;
    for (int ring = 0; ring < 3; ring++) {
        double d = ring == 0 ? 9 : ring == 1 ? 20 : 34;
        for (size_t c = 0; c < sizeof cand / sizeof cand[0]; c++) {
            double bx = x + cand[c].dx * d, by = y + cand[c].dy * d;
            box b;
            b.x0 = cand[c].side > 0 ? bx : cand[c].side < 0 ? bx - w : bx - w / 2;
            b.x1 = b.x0 + w;
            /* text sits above its baseline: centre it on by, or hang it */
            double base = cand[c].dy > 0.1 ? by + FONT_PX * 0.8 : cand[c].dy < -0.1 ? by : by + FONT_PX * 0.35;
            b.y0 = base - FONT_PX * 0.8;
            b.y1 = base + FONT_PX * 0.25;
            if (b.x0 < plot->x0 || b.x1 > plot->x1 || b.y0 < plot->y0 || b.y1 > plot->y1)
                continue;
            double cost = 0;
            for (size_t k = 0; k < ntaken; k++)
                cost += overlap_area(&b, &taken[k]);
            cost += ring * 0.01 + (double)c * 0.001; /* prefer near and to the right */
            if (cost < best_cost) {
                best_cost = cost;
                *tx = cand[c].side > 0 ? b.x0 : cand[c].side < 0 ? b.x1 : bx;
                *ty = base;
                *anchor = cand[c].side > 0 ? "start" : cand[c].side < 0 ? "end" : "middle";
                *far = ring > 0;
                found = 1;
            }
        }
        if (found && best_cost < 1)
            return 1; /* free (only the small preference terms) */
    }
    return found && must;
}

int sweep_plot_svg(FILE *f, const sweep_result *r, size_t n, const sweep_plot_opts *o)
{
    dot *d = calloc(n ? n : 1, sizeof *d);
    box *taken = NULL;
    if (!d)
        return -1;
    size_t nd = 0, failed = 0, front = 0;
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double y = o->by_metric ? r[i].metric : r[i].rel_l2;
        if (!r[i].ok || !(r[i].bytes > 0) || (o->by_metric && !r[i].has_metric) || !isfinite(y)) {
            failed++;
            continue;
        }
        d[nd++].i = i;
        front += r[i].pareto != 0;
        xmin = fmin(xmin, r[i].bytes);
        xmax = fmax(xmax, r[i].bytes);
        if (o->by_metric || y > 0) {
            ymin = fmin(ymin, y);
            ymax = fmax(ymax, y);
        }
    }
    axis ax = { .log = 1, .p0 = LEFT, .p1 = WIDTH - RIGHT };
    axis ay = { .log = !o->by_metric, .p0 = HEIGHT - BOTTOM, .p1 = TOP };
    if (!nd) {
        xmin = xmax = 1000;
    }
    if (!(ymin <= ymax)) { /* no values, or only zero errors */
        ymin = o->by_metric ? 0 : 1e-3;
        ymax = o->by_metric ? 1 : 1e-3;
    }
    ax_fit(&ax, log10(xmin), log10(xmax));
    ax_fit(&ay, ax_unit(&ay, ymin), ax_unit(&ay, ymax));
    for (size_t k = 0; k < nd; k++) {
        const sweep_result *x = &r[d[k].i];
        double y = o->by_metric ? x->metric : x->rel_l2;
        d[k].x = ax_px(&ax, x->bytes);
        d[k].zero = !o->by_metric && y <= 0;
        d[k].y = d[k].zero ? ay.p0 : ax_px(&ay, y);
    }
    qsort(d, nd, sizeof *d, by_x);

    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" "
               "font-size=\"%g\">\n", WIDTH, HEIGHT, WIDTH, HEIGHT, FONT_PX);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", WIDTH, HEIGHT);
    /* title and subtitle */
    fputs("<text x=\"24\" y=\"30\" font-size=\"18\" font-weight=\"bold\" fill=\"#1d2433\">", f);
    fputs("nnzip sweep: ", f);
    put_cut(f, o->model ? o->model : "", 60);
    fputs("</text>\n<text x=\"24\" y=\"50\" font-size=\"12\" fill=\"#4a5566\">", f);
    fprintf(f, "%zu point%s, %zu on the Pareto frontier; grid ", n, n == 1 ? "" : "s", front);
    put_cut(f, o->grid ? o->grid : "", 110);
    fputs("</text>\n", f);
    /* legend, top right */
    double lx = WIDTH - RIGHT - 300;
    fprintf(f, "<g font-size=\"12\" fill=\"#1d2433\">"
               "<line x1=\"%.1f\" y1=\"66\" x2=\"%.1f\" y2=\"66\" stroke=\"%s\" stroke-width=\"2.5\"/>"
               "<circle cx=\"%.1f\" cy=\"66\" r=\"5.5\" fill=\"%s\" stroke=\"%s\" stroke-width=\"1.5\"/>"
               "<text x=\"%.1f\" y=\"70\">Pareto frontier</text>"
               "<circle cx=\"%.1f\" cy=\"66\" r=\"4\" fill=\"%s\" stroke=\"%s\"/>"
               "<text x=\"%.1f\" y=\"70\">other points</text></g>\n",
            lx, lx + 24, FRONT_COLOR, lx + 12, FRONT_COLOR, FRONT_DARK, lx + 32, lx + 150,
            POINT_COLOR, POINT_DARK, lx + 160);

    /* the plot area, grid lines and ticks */
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fbfbfd\" "
               "stroke=\"#9aa3b2\"/>\n", LEFT, TOP, WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    double t[64], step = 0;
    size_t nt = log_ticks(&ax, t, 64);
    fputs("<g stroke=\"#e3e6ec\">", f);
    for (size_t k = 0; k < nt; k++)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>", ax_px(&ax, t[k]), TOP,
                ax_px(&ax, t[k]), HEIGHT - BOTTOM);
    fputs("</g>\n<g fill=\"#1d2433\" text-anchor=\"middle\">", f);
    for (size_t k = 0; k < nt; k++) {
        char b[32];
        fmt_bytes(b, sizeof b, t[k]);
        double x = ax_px(&ax, t[k]);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#6b7385\"/>"
                   "<text x=\"%.1f\" y=\"%d\">%s</text>", x, HEIGHT - BOTTOM, x,
                HEIGHT - BOTTOM + 5, x, HEIGHT - BOTTOM + 19, b);
    }
    fputs("</g>\n", f);
    nt = ay.log ? log_ticks(&ay, t, 64) : lin_ticks(&ay, t, 64, &step);
    fputs("<g stroke=\"#e3e6ec\">", f);
    for (size_t k = 0; k < nt; k++)
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>", LEFT, ax_px(&ay, t[k]),
                WIDTH - RIGHT, ax_px(&ay, t[k]));
    fputs("</g>\n<g fill=\"#1d2433\" text-anchor=\"end\">", f);
    for (size_t k = 0; k < nt; k++) {
        char b[32];
        if (ay.log)
            snprintf(b, sizeof b, "%g", t[k]);
        else
            snprintf(b, sizeof b, "%.*f", step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9), t[k]);
        double y = ax_px(&ay, t[k]);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#6b7385\"/>"
                   "<text x=\"%d\" y=\"%.1f\">%s</text>", LEFT - 5, y, LEFT, y, LEFT - 8, y + 4, b);
    }
    fputs("</g>\n", f);
    /* axis titles */
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"13\" "
               "fill=\"#1d2433\">blob size (bytes, log scale)</text>\n",
            (LEFT + WIDTH - RIGHT) / 2.0, HEIGHT - 18);
    fprintf(f, "<text transform=\"translate(22 %.1f) rotate(-90)\" text-anchor=\"middle\" "
               "font-size=\"13\" fill=\"#1d2433\">", (TOP + HEIGHT - BOTTOM) / 2.0);
    if (o->by_metric) {
        put_cut(f, o->metric_name ? o->metric_name : "metric", 40);
        fprintf(f, " (%s is better)", o->goal_max ? "higher" : "lower");
    } else {
        fputs("weight error: relative L2 over all weights (log scale)", f);
    }
    fputs("</text>\n", f);

    /* the frontier line, then the points (frontier on top) */
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\" "
               "stroke-linejoin=\"round\" stroke-opacity=\"0.85\" points=\"", FRONT_COLOR);
    for (size_t k = 0, first = 1; k < nd; k++)
        if (r[d[k].i].pareto) {
            fprintf(f, "%s%.1f,%.1f", first ? "" : " ", d[k].x, d[k].y);
            first = 0;
        }
    fputs("\"/>\n", f);
    /* what labels should not cover: the dots, and the frontier line */
    size_t ntaken = 0, cap = 2 * nd + 1;
    double px = 0, py = 0;
    for (size_t k = 0, first = 1; k < nd; k++)
        if (r[d[k].i].pareto) {
            if (!first)
                cap += (size_t)(hypot(d[k].x - px, d[k].y - py) / 6) + 1;
            px = d[k].x;
            py = d[k].y;
            first = 0;
        }
    if (!(taken = calloc(cap, sizeof *taken))) {
        free(d);
        return -1;
    }
    for (size_t k = 0, first = 1; k < nd; k++)
        if (r[d[k].i].pareto) {
            size_t steps = first ? 0 : (size_t)(hypot(d[k].x - px, d[k].y - py) / 6) + 1;
            for (size_t q = 1; q < steps; q++) {
                double qx = px + (d[k].x - px) * (double)q / (double)steps;
                double qy = py + (d[k].y - py) * (double)q / (double)steps;
                taken[ntaken++] = (box){ qx - 2, qy - 2, qx + 2, qy + 2 };
            }
            px = d[k].x;
            py = d[k].y;
            first = 0;
        }
    for (int pass = 0; pass < 2; pass++)
        for (size_t k = 0; k < nd; k++) {
            const sweep_result *x = &r[d[k].i];
            if ((x->pareto != 0) != pass)
                continue;
            double rad = x->pareto ? 5.5 : 4;
            fprintf(f, "<g><title>point %zu: ", d[k].i + 1);
            put_escaped(f, x->pipeline);
            fprintf(f, "\n%.0f bytes, %.4g bits/weight, rel_l2 %.4g", x->bytes, x->bits_per_weight,
                    x->rel_l2);
            if (x->has_metric)
                fprintf(f, ", metric %.6g", x->metric);
            fprintf(f, "</title><circle cx=\"%.1f\" cy=\"%.1f\" r=\"%g\" fill=\"%s\" stroke=\"%s\" "
                       "stroke-width=\"%g\"/></g>\n", d[k].x, d[k].y, rad,
                    d[k].zero ? "#ffffff" : x->pareto ? FRONT_COLOR : POINT_COLOR,
                    x->pareto ? FRONT_DARK : POINT_DARK, x->pareto ? 1.5 : 1.0);
            taken[ntaken++] = (box){ d[k].x - rad, d[k].y - rad, d[k].x + rad, d[k].y + rad };
        }

    /* labels: frontier points first, left to right, each where it is free */
    box plot = { LEFT + 2, TOP + 2, WIDTH - RIGHT - 2, HEIGHT - BOTTOM - 2 };
    size_t dropped = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t k = 0; k < nd; k++) {
            const sweep_result *x = &r[d[k].i];
            if ((x->pareto != 0) == pass)
                continue;
            const char *label = x->label && *x->label ? x->label : x->pipeline;
            size_t chars = 0;
            for (const char *c = label; *c && chars < 48; c++)
                chars += ((unsigned char)*c & 0xC0) != 0x80;
            double w = (double)(chars < 48 ? chars : 48) * CHAR_PX + 2, tx = 0, ty = 0;
            const char *anchor = "start";
            int far = 0;
            if (!place_label(d[k].x, d[k].y, w, taken, ntaken, &plot,
                             x->pareto || nd <= MAX_LABELLED, &tx, &ty, &anchor, &far)) {
                dropped++;
                continue;
            }
            box b = { anchor[0] == 's' ? tx : anchor[0] == 'e' ? tx - w : tx - w / 2,
                      ty - FONT_PX * 0.8, 0, ty + FONT_PX * 0.25 };
            b.x1 = b.x0 + w;
            taken[ntaken++] = b;
            if (far) /* a leader from the dot to the label */
                fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#b7bdc9\" "
                           "stroke-width=\"0.8\"/>\n", d[k].x, d[k].y,
                        fmin(fmax(d[k].x, b.x0), b.x1), fmin(fmax(d[k].y, b.y0), b.y1));
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" fill=\"%s\"%s>", tx, ty,
                    anchor, x->pareto ? FRONT_DARK : POINT_DARK,
                    x->pareto ? " font-weight=\"bold\"" : "");
            put_cut(f, label, 48);
            fputs("</text>\n", f);
        }
    /* what is not drawn */
    char note[256] = "";
    size_t at = 0, zeros = 0;
    for (size_t k = 0; k < nd; k++)
        zeros += d[k].zero;
    if (failed)
        at += (size_t)snprintf(note + at, sizeof note - at, "%zu failed point%s not drawn. ",
                               failed, failed == 1 ? "" : "s");
    if (zeros && at < sizeof note)
        at += (size_t)snprintf(note + at, sizeof note - at, "Hollow: error 0, drawn on the axis. ");
    if (dropped && at < sizeof note)
        snprintf(note + at, sizeof note - at, "%zu labels left out where they would overlap.",
                 dropped);
    if (*note)
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" fill=\"#6b7385\">%s</text>\n", LEFT,
                HEIGHT - 4, note);
    if (!nd)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"16\" "
                   "fill=\"#6b7385\">no point to draw</text>\n", (LEFT + WIDTH - RIGHT) / 2.0,
                (TOP + HEIGHT - BOTTOM) / 2.0);
    fputs("</svg>\n", f);
    free(d);
    free(taken);
    return ferror(f) ? -1 : 0;
}
