/* compress_run.c - compressing a loaded model through a pipeline into a
 * blob, with the report: what `compress` does, and what `sweep` does for
 * each point of its grid. Tensors stream through: each is run through every
 * pass, encoded, written, and its working state freed before the next. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blob.h"
#include "cli.h"
#include "encode.h"
#include "metrics.h"
#include "model.h"
#include "pass.h"
#include "save.h"

typedef struct compress_ctx {
    nnz_model *m;
    nnz_pipeline *p;
    cJSON *report;    /* {"tensors": [...], "warnings": [...]} */
    nnz_err_stats changed, all; /* error over the tensors changed, over every float one */
    size_t nchanged;
    const char *external; /* the rebuilt model's external data file, or NULL */
    int full_metadata;    /* the per-tensor report in the metadata too */
    /* --target-rel-error: candidate pipelines tried per tensor */
    double target;
    /* the progress line (stderr a terminal, no --quiet) */
    int progress;
    size_t done, total;
    uint64_t bytes_done, bytes_total;
    double start, shown;
    nnz_pipeline *cands;
    cJSON **cand_reports;
    size_t ncands;
} compress_ctx;


static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static cJSON *tensor_rep(compress_ctx *c, size_t i)
{
    return nnz_pipeline_tensor_report(c->p, i);
}

static int selected_anywhere(const nnz_pipeline *p, size_t i)
{
    for (size_t s = 0; s < p->n; s++)
        if (p->stages[s].selected && p->stages[s].selected[i])
            return 1;
    return 0;
}

static int force_entry(void *vctx, const nnz_model *m, size_t i)
{
    (void)m;
    return selected_anywhere(((compress_ctx *)vctx)->p, i);
}

/* Run the pipeline on tensor i and encode the result. */
/* --target-rel-error: run every candidate on tensor i, keep the smallest
 * encoding within the target. *st gets its state (NULL: none fits; the
 * tensor stays as it is). */
static int search_tensor(compress_ctx *c, nnz_model *m, size_t i, nnz_state **best_st,
                         nnz_encoded *best, nnz_error *e)
{
    cJSON *rep = tensor_rep(c, i), *tried = NULL;
    size_t best_bytes = SIZE_MAX;
    int chosen = -1;
    *best_st = NULL;
    for (size_t k = 0; k < c->ncands; k++) {
        nnz_state *st;
        nnz_error ce = { 0 };
        if (nnz_pipeline_run_tensor(&c->cands[k], m, i, c->cand_reports[k], &st, &ce) != 0)
            continue; /* e.g. k-means on too few distinct values */
        if (!st)
            return 0; /* not a weight any candidate touches */
        if (!tried)
            tried = cJSON_AddArrayToObject(rep, "target_search");
        nnz_err_stats s;
        nnz_err_compute(st->orig, st->values, st->n, &s);
        nnz_encoded x;
        size_t bytes = SIZE_MAX;
        if (s.rel_l2 <= c->target && nnz_encode_tensor(&m->tensors[i], st, NULL, &x, &ce) == 0)
            bytes = x.params_len + (x.payload ? x.payload_len : m->tensors[i].nbytes);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "pipeline", c->cands[k].text);
        cJSON_AddNumberToObject(o, "rel_l2", s.rel_l2);
        if (bytes != SIZE_MAX)
            cJSON_AddNumberToObject(o, "bytes", (double)bytes);
        else
            cJSON_AddNullToObject(o, "bytes");
        cJSON_AddItemToArray(tried, o);
        if (bytes < best_bytes) {
            best_bytes = bytes;
            chosen = (int)k;
            nnz_encoded_free(best);
            nnz_state_free(*best_st);
            *best = x;
            *best_st = st;
        } else {
            if (bytes != SIZE_MAX)
                nnz_encoded_free(&x);
            nnz_state_free(st);
        }
    }
    if (chosen >= 0) {
        /* the chosen candidate's own report (what quantize did, ...) */
        const cJSON *src = nnz_pipeline_tensor_report(&c->cands[chosen], i), *f;
        cJSON_ArrayForEach(f, src)
            if (strcmp(f->string, "name") != 0)
                cJSON_AddItemToObject(rep, f->string, cJSON_Duplicate(f, 1));
        cJSON_AddStringToObject(rep, "target_choice", c->cands[chosen].text);
        nnz_encoded_free(best); /* encoded again below, with the report */
    } else if (tried) {
        cJSON_AddStringToObject(rep, "target_choice", "none within the target: kept as it is");
    }
    (void)e;
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* "nnzip: tensor 12/40 conv3.weight  84 MB/s  ETA 3 s", at most 10 a second. */
static void show_progress(compress_ctx *c, const nnz_tensor *t)
{
    double t1 = now();
    if (!c->progress || (t1 - c->shown < 0.1 && c->done < c->total))
        return;
    c->shown = t1;
    if (c->done > c->total) /* small tensors a pass touched are entries too */
        c->total = c->done;
    double rate = c->bytes_done / 1e6 / (t1 - c->start + 1e-9);
    double eta = rate > 0 ? (double)(c->bytes_total - c->bytes_done) / 1e6 / rate : 0;
    fprintf(stderr, "\rnnzip: tensor %zu/%zu %-32.32s %7.1f MB/s  ETA %4.0f s\033[K", c->done,
            c->total, t->name, rate, eta);
    if (c->done >= c->total)
        fputs("\r\033[K", stderr);
    fflush(stderr);
}

/* Add one float tensor's error to the overall figures: `changed` counts
 * only the tensors whose decoded values differ from the original (what
 * verify measures too), `all` every float tensor of the blob. */
static void add_error(compress_ctx *c, const nnz_err_stats *s)
{
    c->all.sum_sq_ref += s->sum_sq_ref;
    c->all.sum_sq_err += s->sum_sq_err;
    if (s->sum_sq_err == 0)
        return;
    c->nchanged++;
    c->changed.sum_sq_ref += s->sum_sq_ref;
    c->changed.sum_sq_err += s->sum_sq_err;
    if (s->max_abs > c->changed.max_abs)
        c->changed.max_abs = s->max_abs;
}

/* A float tensor stored as it is: its norm for the whole-blob figure, read
 * a slice at a time so a large external tensor is never all in memory. */
static int add_unchanged(compress_ctx *c, nnz_model *m, size_t i, nnz_error *e)
{
    const nnz_tensor *t = &m->tensors[i];
    size_t es = nnz_dtype_size(t->dtype), step = (1u << 20) / 4 * 4;
    uint8_t *buf = t->nbytes && nnz_tensor_is_deferred(t) ? nnz_malloc(step, e) : NULL;
    nnz_err_stats s = { 0 };
    if (!buf && t->nbytes && nnz_tensor_is_deferred(t))
        return -1;
    for (size_t off = 0; off < t->nbytes; off += step) {
        size_t len = t->nbytes - off < step ? t->nbytes - off : step;
        const uint8_t *d = t->proto->raw_data.data + off;
        if (buf && nnz_tensor_read_deferred(t, off, buf, len, e) != 0) {
            free(buf);
            return -1;
        }
        if (buf)
            d = buf;
        for (size_t k = 0; k + es <= len; k += es) {
            float f;
            if (es == 4) {
                uint32_t u = (uint32_t)d[k] | (uint32_t)d[k + 1] << 8 |
                             (uint32_t)d[k + 2] << 16 | (uint32_t)d[k + 3] << 24;
                memcpy(&f, &u, 4);
            } else {
                uint16_t h = (uint16_t)(d[k] | d[k + 1] << 8);
                f = t->dtype == NNZ_DT_FLOAT16 ? nnz_half_to_float(h) : nnz_bf16_to_float(h);
            }
            s.sum_sq_ref += (double)f * f;
        }
    }
    free(buf);
    add_error(c, &s);
    return 0;
}

static int encode(void *vctx, nnz_model *m, size_t i, nnz_encoded *out, nnz_error *e)
{
    compress_ctx *c = vctx;
    c->done++;
    c->bytes_done += m->tensors[i].nbytes;
    show_progress(c, &m->tensors[i]);
    nnz_state *st;
    cJSON *rep = tensor_rep(c, i);
    /* with --target-rel-error, a tensor the config names runs the config's
     * pipeline; the search chooses for the rest */
    int fixed = c->ncands && nnz_pipeline_names(c->p, &m->tensors[i]);
    if (c->ncands && !fixed) {
        nnz_encoded tmp = { 0 };
        if (search_tensor(c, m, i, &st, &tmp, e) != 0)
            return -1;
    } else if (nnz_pipeline_run_tensor(c->p, m, i, c->report, &st, e) != 0) {
        return -1;
    }
    if (fixed)
        cJSON_AddStringToObject(rep, "target_choice", "fixed by --config");
    if (!st) /* raw: the writer copies the data; it counts in the whole figure */
        return nnz_dtype_is_float(m->tensors[i].dtype) ? add_unchanged(c, m, i, e) : 0;
    nnz_err_stats s;
    if (st->orig) {
        nnz_err_compute(st->orig, st->values, st->n, &s);
        add_error(c, &s);
        cJSON_AddNumberToObject(rep, "rel_l2", s.rel_l2);
        cJSON_AddNumberToObject(rep, "max_abs", s.max_abs);
        cJSON_AddNumberToObject(rep, "sqnr_db", s.sqnr_db);
        size_t zeros = 0;
        for (size_t k = 0; k < st->n; k++)
            zeros += st->values[k] == 0;
        cJSON_AddNumberToObject(rep, "sparsity", st->n ? (double)zeros / (double)st->n : 0);
    }
    int rc = nnz_encode_tensor(&m->tensors[i], st, rep, out, e);
    nnz_state_free(st);
    nnz_tensor_release(&m->tensors[i]);
    return rc;
}

static char *make_metadata(void *vctx, nnz_error *e)
{
    compress_ctx *c = vctx;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "tool", "nnzip " NNZIP_VERSION);
    cJSON_AddStringToObject(o, "pipeline", c->p->text);
    /* what verify goes by: the passes' own flag, never the pipeline's text */
    cJSON_AddBoolToObject(o, "graph_rewritten", nnz_pipeline_rewrites_graph(c->p));
    cJSON *src = cJSON_AddObjectToObject(o, "source");
    cJSON_AddStringToObject(src, "name", base_name(c->m->path));
    cJSON_AddNumberToObject(src, "bytes", (double)c->m->file_size);
    cJSON_AddStringToObject(src, "sha256", c->m->sha256);
    if (c->external)
        cJSON_AddStringToObject(o, "external_data", c->external);
    /* the per-tensor report is --json's; the blob keeps it on request only
     * (a small model's report can cost more than its scales) */
    cJSON *ts = c->full_metadata ? cJSON_AddArrayToObject(o, "tensors") : NULL;
    const cJSON *x, *list = ts ? cJSON_GetObjectItem(c->report, "tensors") : NULL;
    cJSON_ArrayForEach(x, list)
    {
        if (!cJSON_GetObjectItem(x, "rel_l2"))
            continue;
        cJSON *y = cJSON_CreateObject();
        const cJSON *enc = cJSON_GetObjectItem(x, "encoding");
        cJSON_AddStringToObject(y, "name", cJSON_GetObjectItem(x, "name")->valuestring);
        cJSON_AddStringToObject(y, "encoding",
                                cJSON_GetStringValue(cJSON_GetObjectItem(enc, "layout")) ?: "raw");
        cJSON_AddNumberToObject(y, "rel_l2", cJSON_GetNumberValue(cJSON_GetObjectItem(x, "rel_l2")));
        cJSON_AddNumberToObject(y, "max_abs", cJSON_GetNumberValue(cJSON_GetObjectItem(x, "max_abs")));
        cJSON_AddNumberToObject(y, "sqnr_db", cJSON_GetNumberValue(cJSON_GetObjectItem(x, "sqnr_db")));
        cJSON_AddItemToArray(ts, y);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s)
        nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory writing metadata");
    return s;
}

/* A tensor whose stream the writer coded anew with a table shared between
 * tensors (src/blob nnz_share_tables): its encoding as written, where the
 * encoder's report said what it would be on its own. */
static void shared_stream(cJSON *enc, unsigned coding, uint64_t payload)
{
    cJSON *v = cJSON_GetObjectItem(enc, "values");
    cJSON_ReplaceItemInObject(enc, "coding", cJSON_CreateString(nnz_coding_name(coding)));
    cJSON_ReplaceItemInObject(enc, "payload_bytes", cJSON_CreateNumber((double)payload));
    cJSON_ReplaceItemInObject(v, "coding", cJSON_CreateString(nnz_coding_name(coding)));
    cJSON_ReplaceItemInObject(v, "bytes", cJSON_CreateNumber((double)payload));
    cJSON_DeleteItemFromObject(v, "table");
    cJSON_DeleteItemFromObject(v, "lanes");
    cJSON_AddStringToObject(v, "table", coding >= NNZ_CODING_SHARED ? "shared"
                                        : coding & 1                 ? "list"
                                                                     : "gamma");
    cJSON_AddNumberToObject(v, "lanes", coding == NNZ_CODING_HUFFMAN_X4 ||
                                                coding == NNZ_CODING_HUFFMAN_GAMMA_X4 ||
                                                coding == NNZ_CODING_SHARED_X4
                                            ? 4
                                            : 1);
}

/* Fill the report with sizes, now that the blob is written. */
static cJSON *finish_report(compress_ctx *c, const char *in, const char *outp,
                            const nnz_blob_stats *st)
{
    nnz_model *m = c->m;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "input", in);
    cJSON_AddStringToObject(o, "output", outp);
    cJSON_AddStringToObject(o, "pipeline", c->p->text);
    cJSON_AddNumberToObject(o, "input_bytes", (double)m->file_size);
    cJSON_AddNumberToObject(o, "output_bytes", (double)st->blob_bytes);
    cJSON_AddNumberToObject(o, "ratio", (double)m->file_size / (double)st->blob_bytes);
    uint64_t before = 0, after = 0, params = 0;
    cJSON *ts = cJSON_CreateArray();
    for (size_t i = 0; i < m->ntensors; i++) {
        const nnz_tensor *t = &m->tensors[i];
        if (!st->is_entry[i])
            continue;
        cJSON *x = cJSON_Duplicate(nnz_pipeline_tensor_report(c->p, i), 1);
        const char *layout = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(x, "encoding"), "layout"));
        cJSON_AddStringToObject(x, "dtype", nnz_dtype_name(t->dtype));
        cJSON_AddNumberToObject(x, "elements", (double)t->count);
        cJSON_AddNumberToObject(x, "bytes_before", (double)t->nbytes);
        cJSON_AddNumberToObject(x, "bytes_after", (double)st->tensor_bytes[i]);
        cJSON_AddNumberToObject(x, "bits_per_weight",
                                t->count ? 8.0 * (double)st->tensor_bytes[i] / (double)t->count : 0);
        if (!cJSON_GetObjectItem(x, "rel_l2")) {
            cJSON_AddNumberToObject(x, "rel_l2", 0);
            cJSON_AddNumberToObject(x, "max_abs", 0);
            cJSON_AddNullToObject(x, "sqnr_db");
        }
        if (!layout) {
            cJSON_DeleteItemFromObject(x, "encoding");
            cJSON *enc = cJSON_AddObjectToObject(x, "encoding");
            cJSON_AddStringToObject(enc, "layout", "raw");
        }
        if (st->alias_of[i] != SIZE_MAX) /* stored once: this entry only names it */
            cJSON_AddStringToObject(cJSON_GetObjectItem(x, "encoding"), "alias_of",
                                    m->tensors[st->alias_of[i]].name);
        if (st->table_of[i] != SIZE_MAX) /* coded with that tensor's Huffman table */
            cJSON_AddStringToObject(cJSON_GetObjectItem(x, "encoding"), "table_of",
                                    m->tensors[st->table_of[i]].name);
        if (st->shared_coding[i])
            shared_stream(cJSON_GetObjectItem(x, "encoding"), st->shared_coding[i],
                          st->payload_len[i]);
        cJSON_AddItemToArray(ts, x);
        before += t->nbytes;
        after += st->tensor_bytes[i];
        params += t->count;
    }
    nnz_err_finish(&c->changed);
    nnz_err_finish(&c->all);
    cJSON *w = cJSON_AddObjectToObject(o, "weights");
    cJSON_AddNumberToObject(w, "tensors", (double)st->entries);
    cJSON_AddNumberToObject(w, "aliases", (double)st->aliases);
    cJSON_AddNumberToObject(w, "parameters", (double)params);
    cJSON_AddNumberToObject(w, "bytes_before", (double)before);
    cJSON_AddNumberToObject(w, "bytes_after", (double)after);
    cJSON_AddNumberToObject(w, "bits_per_weight", params ? 8.0 * (double)after / (double)params : 0);
    cJSON_AddNumberToObject(w, "changed", (double)c->nchanged);
    cJSON_AddNumberToObject(w, "rel_l2", c->changed.rel_l2);
    cJSON_AddNumberToObject(w, "max_abs", c->changed.max_abs);
    cJSON_AddNumberToObject(w, "sqnr_db", c->changed.sqnr_db);
    cJSON_AddNumberToObject(w, "rel_l2_all", c->all.rel_l2);
    cJSON *b = cJSON_AddObjectToObject(o, "blob");
    cJSON_AddNumberToObject(b, "graph_bytes", (double)st->graph_bytes);
    cJSON_AddNumberToObject(b, "graph_raw_bytes", (double)st->graph_raw_bytes);
    cJSON_AddNumberToObject(b, "graph_names_bytes", (double)st->graph_names_bytes);
    cJSON_AddStringToObject(b, "graph", st->graph_packed ? "compressed" : "raw");
    cJSON_AddNumberToObject(b, "payload_bytes", (double)st->payload_bytes);
    cJSON_AddNumberToObject(b, "padding_bytes", (double)st->padding_bytes);
    cJSON_AddNumberToObject(b, "directory_bytes", (double)st->directory_bytes);
    cJSON_AddNumberToObject(b, "metadata_bytes", (double)st->metadata_bytes);
    cJSON_AddNumberToObject(b, "names_bytes", (double)st->names_bytes);
    cJSON_AddItemToObject(o, "tensors", ts);
    cJSON *warn = cJSON_CreateArray();
    const cJSON *x;
    cJSON_ArrayForEach(x, ts)
    {
        const cJSON *wl = cJSON_GetObjectItem(x, "warnings"), *y;
        cJSON_ArrayForEach(y, wl)
        {
            char buf[700];
            snprintf(buf, sizeof buf, "tensor '%s': %s", cJSON_GetObjectItem(x, "name")->valuestring,
                     y->valuestring);
            cJSON_AddItemToArray(warn, cJSON_CreateString(buf));
        }
    }
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(c->report, "warnings"))
        cJSON_AddItemToArray(warn, cJSON_CreateString(x->valuestring));
    cJSON_AddItemToObject(o, "warnings", warn);
    return o;
}

/* The first registered pass of `phase`, or NULL. */
static const nnz_pass *pass_of(nnz_phase phase)
{
    for (size_t k = 0; nnz_passes[k]; k++)
        if (nnz_passes[k]->phase == phase)
            return nnz_passes[k];
    return NULL;
}

/* The built-in search of --target-rel-error (docs/cli.md): per tensor, the
 * smallest encoding among these that keeps its relative L2 error within
 * the target. From what the passes offer (pass.h target_options): each
 * option of the quantizer, then the entropy coder; each option of a pass
 * that refines floats, then the quantizer's first, the target split. Fills
 * text[k] (up to max) and returns how many. */
static size_t candidate_texts(double target, char (*text)[256], size_t max)
{
    const nnz_pass *q = pass_of(NNZ_PHASE_CODE), *h = pass_of(NNZ_PHASE_ENTROPY);
    size_t n = 0;
    double half = target / 1.41421356; /* two errors of t/sqrt(2) add up to t */
    char fmt[256];
    if (!q || !q->target_options)
        return 0;
    for (size_t i = 0; q->target_options[i] && n < max; i++) {
        snprintf(fmt, sizeof fmt, "%s:%s%s%s", q->name, q->target_options[i], h ? " | " : "",
                 h ? h->name : "");
        snprintf(text[n++], sizeof text[0], fmt, target);
    }
    for (size_t k = 0; nnz_passes[k]; k++) {
        const nnz_pass *r = nnz_passes[k];
        for (size_t i = 0; r->phase == NNZ_PHASE_REFINE && r->target_options &&
                           r->target_options[i] && n < max; i++) {
            snprintf(fmt, sizeof fmt, "%s:%s | %s:%s%s%s", r->name, r->target_options[i],
                     q->name, q->target_options[0], h ? " | " : "", h ? h->name : "");
            snprintf(text[n++], sizeof text[0], fmt, half, half);
        }
    }
    return n;
}

/* Parse and prepare the --target-rel-error candidates. */
static int prepare_candidates(compress_ctx *c, nnz_model *m, nnz_error *e)
{
    char text[64][256];
    size_t n = candidate_texts(c->target, text, 64);
    c->cands = nnz_calloc(n ? n : 1, sizeof *c->cands, e);
    c->cand_reports = nnz_calloc(n ? n : 1, sizeof *c->cand_reports, e);
    if (!c->cands || !c->cand_reports)
        return -1;
    for (size_t k = 0; k < n; k++) {
        nnz_error ce = { 0 };
        nnz_pipeline *p = &c->cands[c->ncands];
        if (nnz_pipeline_parse(text[k], p, &ce) != 0)
            continue; /* a pass this build lacks */
        c->cand_reports[c->ncands] = cJSON_CreateObject();
        if (nnz_pipeline_prepare(p, m, c->cand_reports[c->ncands], e) != 0)
            return -1;
        c->ncands++;
    }
    return 0;
}

static void free_candidates(compress_ctx *c)
{
    for (size_t k = 0; k < c->ncands; k++) {
        nnz_pipeline_free(&c->cands[k]);
        cJSON_Delete(c->cand_reports[k]);
    }
    free(c->cands);
    free(c->cand_reports);
}

int cli_compress(nnz_model *m, nnz_pipeline *p, FILE *f, const char *in, const char *outp,
                 int external, double target, int full_metadata, int graph_raw, cJSON **report,
                 nnz_error *e)
{
    /* A model past protobuf's 2 GiB limit can only be rebuilt with its
     * weights in an external file, named after the source model. */
    char ext_name[512];
    if (!external)
        external = protobuf_c_message_get_packed_size(&m->proto->base) > NNZ_PROTOBUF_LIMIT;
    snprintf(ext_name, sizeof ext_name, "%s.data",
             strcmp(in, "-") == 0 ? "model.onnx" : base_name(in));
    compress_ctx ctx = { .m = m, .p = p, .report = cJSON_CreateObject(),
                         .external = external ? ext_name : NULL, .target = target,
                         .full_metadata = full_metadata,
                         .progress = !g_cli.quiet && isatty(STDERR_FILENO), .start = now() };
    for (size_t i = 0; i < m->ntensors; i++)
        if (m->tensors[i].nbytes >= NNZ_BLOB_MIN_ENTRY_BYTES) {
            ctx.total++;
            ctx.bytes_total += m->tensors[i].nbytes;
        }
    nnz_blob_writer w = { .encode = encode, .metadata = make_metadata,
                          .force_entry = force_entry, .external = ctx.external,
                          .graph_raw = graph_raw,
                          .share_tables = 1, .ctx = &ctx };
    nnz_blob_stats st;
    *report = NULL;
    if (nnz_pipeline_prepare(p, m, ctx.report, e) != 0 ||
        (target > 0 && prepare_candidates(&ctx, m, e) != 0) ||
        nnz_blob_write(m, &w, f, &st, e) != 0) {
        free_candidates(&ctx);
        cJSON_Delete(ctx.report);
        return nnz_wrap(e, "%s: ", in);
    }
    free_candidates(&ctx);
    *report = finish_report(&ctx, in, outp, &st);
    cJSON_AddItemToObject(*report, "config", nnz_pipeline_to_json(p));
    /* the model-wide findings, under the section each pass declares */
    for (size_t k = 0; nnz_passes[k]; k++)
        for (const char *const *sec = nnz_passes[k]->report_sections; sec && *sec; sec++) {
            cJSON *x = cJSON_GetObjectItem(ctx.report, *sec);
            if (x)
                cJSON_AddItemToObject(*report, *sec, cJSON_Duplicate(x, 1));
        }
    free(st.tensor_bytes);
    free(st.is_entry);
    free(st.alias_of);
    free(st.table_of);
    free(st.shared_coding);
    free(st.payload_len);
    cJSON_Delete(ctx.report);
    return 0;
}
