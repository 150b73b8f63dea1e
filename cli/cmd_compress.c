/* cmd_compress.c - `nnzip compress`: ONNX model in, .nnz blob out, through
 * a pipeline of passes. Tensors stream through: each is run through every
 * pass, encoded, written, and its working state freed before the next. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "cli.h"
#include "encode.h"
#include "fileio.h"
#include "metrics.h"
#include "model.h"
#include "pass.h"

static const char compress_help[] =
    "Usage: nnzip compress MODEL.onnx -o OUT.nnz [-p PIPELINE] [options]\n\n"
    "Compress the weights of MODEL.onnx into an .nnz blob. Without a pipeline\n"
    "the blob is lossless: decompress gives back the same model.\n\n"
    "  -o, --output FILE      the blob to write ('-' for stdout); required\n"
    "  -p, --pipeline TEXT    passes separated by '|', each NAME:KEY=VALUE,...\n"
    "                         e.g. 'prune:sparsity=0.9 | quantize:kmeans,bits=5 | huffman'\n"
    "  --onnx-out FILE        also write the rebuilt ONNX model (float weights)\n"
    "  --qdq                  with --onnx-out: quantized weights as INT8/UINT8\n"
    "                         initializers behind DequantizeLinear\n"
    "  --json                 a JSON report on stdout (fields: docs/cli.md)\n"
    "  -q, --quiet            no report on stderr\n"
    "  -v, --verbose          a line per tensor in the report\n"
    "  -h, --help\n\n"
    "MODEL.onnx may be '-' for stdin. The output is written to a temporary file\n"
    "beside it and renamed when complete; the input is never modified.\n";

typedef struct compress_ctx {
    nnz_model *m;
    nnz_pipeline *p;
    cJSON *report;    /* {"tensors": [...], "warnings": [...]} */
    nnz_err_stats all;
} compress_ctx;

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static cJSON *tensor_rep(compress_ctx *c, size_t i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItem(c->report, "tensors"), (int)i);
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
static int encode(void *vctx, nnz_model *m, size_t i, nnz_encoded *out, nnz_error *e)
{
    compress_ctx *c = vctx;
    nnz_state *st;
    cJSON *rep = tensor_rep(c, i);
    if (nnz_pipeline_run_tensor(c->p, m, i, c->report, &st, e) != 0)
        return -1;
    if (!st)
        return 0; /* raw: the writer copies the data */
    nnz_err_stats s;
    if (st->orig) {
        nnz_err_compute(st->orig, st->values, st->n, &s);
        c->all.sum_sq_ref += s.sum_sq_ref;
        c->all.sum_sq_err += s.sum_sq_err;
        if (s.max_abs > c->all.max_abs)
            c->all.max_abs = s.max_abs;
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
    return rc;
}

static char *make_metadata(void *vctx, nnz_error *e)
{
    compress_ctx *c = vctx;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "tool", "nnzip " NNZIP_VERSION);
    cJSON_AddStringToObject(o, "pipeline", c->p->text);
    cJSON *src = cJSON_AddObjectToObject(o, "source");
    cJSON_AddStringToObject(src, "name", base_name(c->m->path));
    cJSON_AddNumberToObject(src, "bytes", (double)c->m->file_size);
    cJSON_AddStringToObject(src, "sha256", c->m->sha256);
    cJSON *ts = cJSON_AddArrayToObject(o, "tensors");
    const cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(c->report, "tensors"))
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
    cJSON *reps = cJSON_GetObjectItem(c->report, "tensors");
    for (size_t i = 0; i < m->ntensors; i++) {
        const nnz_tensor *t = &m->tensors[i];
        if (!st->is_entry[i])
            continue;
        cJSON *x = cJSON_Duplicate(cJSON_GetArrayItem(reps, (int)i), 1);
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
        cJSON_AddItemToArray(ts, x);
        before += t->nbytes;
        after += st->tensor_bytes[i];
        params += t->count;
    }
    nnz_err_finish(&c->all);
    cJSON *w = cJSON_AddObjectToObject(o, "weights");
    cJSON_AddNumberToObject(w, "tensors", (double)st->entries);
    cJSON_AddNumberToObject(w, "parameters", (double)params);
    cJSON_AddNumberToObject(w, "bytes_before", (double)before);
    cJSON_AddNumberToObject(w, "bytes_after", (double)after);
    cJSON_AddNumberToObject(w, "bits_per_weight", params ? 8.0 * (double)after / (double)params : 0);
    cJSON_AddNumberToObject(w, "rel_l2", c->all.rel_l2);
    cJSON_AddNumberToObject(w, "max_abs", c->all.max_abs);
    cJSON_AddNumberToObject(w, "sqnr_db", c->all.sqnr_db);
    cJSON *b = cJSON_AddObjectToObject(o, "blob");
    cJSON_AddNumberToObject(b, "graph_bytes", (double)st->graph_bytes);
    cJSON_AddNumberToObject(b, "payload_bytes", (double)st->payload_bytes);
    cJSON_AddNumberToObject(b, "padding_bytes", (double)st->padding_bytes);
    cJSON_AddNumberToObject(b, "directory_bytes", (double)st->directory_bytes);
    cJSON_AddNumberToObject(b, "metadata_bytes", (double)st->metadata_bytes);
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

static void report_text(const cJSON *o)
{
    const cJSON *w = cJSON_GetObjectItem(o, "weights"), *x;
    if (g_cli.verbose) {
        fprintf(stderr, "  %-40s %-8s %10s %-8s %10s %10s %7s %9s\n", "tensor", "dtype",
                "elements", "encoding", "before", "after", "bits/w", "rel_l2");
        cJSON_ArrayForEach(x, cJSON_GetObjectItem(o, "tensors"))
            fprintf(stderr, "  %-40s %-8s %10.0f %-8s %10.0f %10.0f %7.3f %9.3g\n",
                    cJSON_GetObjectItem(x, "name")->valuestring,
                    cJSON_GetObjectItem(x, "dtype")->valuestring,
                    cJSON_GetObjectItem(x, "elements")->valuedouble,
                    cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(x, "encoding"), "layout")),
                    cJSON_GetObjectItem(x, "bytes_before")->valuedouble,
                    cJSON_GetObjectItem(x, "bytes_after")->valuedouble,
                    cJSON_GetObjectItem(x, "bits_per_weight")->valuedouble,
                    cJSON_GetObjectItem(x, "rel_l2")->valuedouble);
    }
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(o, "warnings"))
        fprintf(stderr, "nnzip: warning: %s\n", x->valuestring);
    fprintf(stderr,
            "nnzip: %s -> %s: %.0f -> %.0f bytes (%.2fx); weights %.0f -> %.0f bytes, "
            "%.3f bits/weight over %.0f tensors, rel_l2 %.4g\n",
            cJSON_GetObjectItem(o, "input")->valuestring,
            cJSON_GetObjectItem(o, "output")->valuestring,
            cJSON_GetObjectItem(o, "input_bytes")->valuedouble,
            cJSON_GetObjectItem(o, "output_bytes")->valuedouble,
            cJSON_GetObjectItem(o, "ratio")->valuedouble,
            cJSON_GetObjectItem(w, "bytes_before")->valuedouble,
            cJSON_GetObjectItem(w, "bytes_after")->valuedouble,
            cJSON_GetObjectItem(w, "bits_per_weight")->valuedouble,
            cJSON_GetObjectItem(w, "tensors")->valuedouble,
            cJSON_GetObjectItem(w, "rel_l2")->valuedouble);
}

int cmd_compress(int argc, char **argv)
{
    static const struct option opts[] = { { "output", required_argument, NULL, 'o' },
                                           { "pipeline", required_argument, NULL, 'p' },
                                           { "onnx-out", required_argument, NULL, 'x' },
                                           { "qdq", no_argument, NULL, 'Q' },
                                           { "json", no_argument, NULL, 'j' },
                                           { "help", no_argument, NULL, 'h' },
                                           { "quiet", no_argument, NULL, 'q' },
                                           { "verbose", no_argument, NULL, 'v' },
                                           { 0, 0, 0, 0 } };
    const char *outp = NULL, *pipeline = "", *onnx_out = NULL;
    int json = 0, qdq = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:p:hqv", opts, NULL)) != -1) {
        switch (c) {
        case 'o': outp = optarg; break;
        case 'p': pipeline = optarg; break;
        case 'x': onnx_out = optarg; break;
        case 'Q': qdq = 1; break;
        case 'j': json = 1; break;
        case 'h':
            fputs(compress_help, stdout);
            printf("\nPasses (docs/passes/NAME.md; every pass also takes only=GLOB, skip=GLOB,\n"
                   "min-elements=N to choose tensors):\n");
            for (size_t i = 0; nnz_passes[i]; i++)
                printf("  %-10s %s\n  %-10s options: %s\n", nnz_passes[i]->name,
                       nnz_passes[i]->help, "", nnz_passes[i]->options);
            return 0;
        case 'q': g_cli.quiet = 1; break;
        case 'v': g_cli.verbose = 1; break;
        default: return cli_usage("compress", "unknown option");
        }
    }
    if (optind != argc - 1)
        return cli_usage("compress", "expected one MODEL.onnx, got %d", argc - optind);
    if (!outp)
        return cli_usage("compress", "missing -o OUT.nnz");
    if (json && strcmp(outp, "-") == 0)
        return cli_usage("compress", "--json and -o - would both write to stdout; pick one");
    if (qdq && !onnx_out)
        return cli_usage("compress", "--qdq shapes the --onnx-out model; give --onnx-out FILE");
    if (onnx_out && (strcmp(onnx_out, outp) == 0 || strcmp(outp, "-") == 0))
        return cli_usage("compress", "--onnx-out needs -o to name a file, not '-' or the same file");
    const char *in = argv[optind];
    nnz_error e = { 0 };
    nnz_pipeline p;
    if (nnz_pipeline_parse(pipeline, &p, &e) != 0)
        return cli_report(&e);
    nnz_model *m;
    if (cli_model_load(in, &m, &e) != 0) {
        nnz_pipeline_free(&p);
        return cli_report(&e);
    }
    compress_ctx ctx = { .m = m, .p = &p, .report = cJSON_CreateObject() };
    nnz_blob_writer w = { .encode = encode, .metadata = make_metadata,
                          .force_entry = force_entry, .ctx = &ctx };
    nnz_blob_stats st;
    nnz_out out;
    int rc = nnz_pipeline_prepare(&p, m, ctx.report, &e);
    if (rc == 0)
        rc = nnz_out_open(&out, outp, in, 1, &e);
    else
        nnz_wrap(&e, "%s: ", in);
    if (rc == 0 && nnz_blob_write(m, &w, out.f, &st, &e) != 0) {
        nnz_out_abort(&out);
        nnz_wrap(&e, "%s: ", in);
        rc = -1;
    } else if (rc == 0 && nnz_out_commit(&out, &e) != 0) {
        free(st.tensor_bytes);
        free(st.is_entry);
        rc = -1;
    }
    if (rc != 0) {
        cJSON_Delete(ctx.report);
        nnz_model_free(m);
        nnz_pipeline_free(&p);
        return cli_report(&e);
    }
    cJSON *rep = finish_report(&ctx, in, outp, &st);
    free(st.tensor_bytes);
    free(st.is_entry);
    cJSON_Delete(ctx.report);
    nnz_model_free(m);
    nnz_pipeline_free(&p);
    if (onnx_out && cli_onnx_from_blob(outp, onnx_out, in, qdq, &e) != 0) {
        cJSON_Delete(rep);
        return cli_report(&e);
    }
    if (!g_cli.quiet)
        report_text(rep);
    if (json)
        cli_print_json(rep);
    else
        cJSON_Delete(rep);
    return 0;
}
