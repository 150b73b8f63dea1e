/* cmd_compress.c - `nnzip compress`: ONNX model in, .nnz blob out. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "cli.h"
#include "fileio.h"
#include "model.h"

static const char compress_help[] =
    "Usage: nnzip compress MODEL.onnx -o OUT.nnz [options]\n\n"
    "Compress the weights of MODEL.onnx into an .nnz blob. Without a pipeline\n"
    "the blob is lossless: decompress gives back the same model.\n\n"
    "  -o, --output FILE   the blob to write ('-' for stdout); required\n"
    "  --json              a JSON report on stdout (fields: docs/cli.md)\n"
    "  -q, --quiet         no report on stderr\n"
    "  -v, --verbose       a line per tensor in the report\n"
    "  -h, --help\n\n"
    "MODEL.onnx may be '-' for stdin. The output is written to a temporary file\n"
    "beside it and renamed when complete; the input is never modified.\n";

typedef struct compress_ctx {
    nnz_model *m;
    const char *pipeline;
} compress_ctx;

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static char *make_metadata(void *vctx, nnz_error *e)
{
    compress_ctx *c = vctx;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "tool", "nnzip " NNZIP_VERSION);
    cJSON_AddStringToObject(o, "pipeline", c->pipeline);
    cJSON *src = cJSON_AddObjectToObject(o, "source");
    cJSON_AddStringToObject(src, "name", base_name(c->m->path));
    cJSON_AddNumberToObject(src, "bytes", (double)c->m->file_size);
    cJSON_AddStringToObject(src, "sha256", c->m->sha256);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s)
        nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory writing metadata");
    return s;
}

static cJSON *report_json(const char *in, const char *outp, const nnz_model *m,
                          const nnz_blob_stats *st, const char *pipeline)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "input", in);
    cJSON_AddStringToObject(o, "output", outp);
    cJSON_AddStringToObject(o, "pipeline", pipeline);
    cJSON_AddNumberToObject(o, "input_bytes", (double)m->file_size);
    cJSON_AddNumberToObject(o, "output_bytes", (double)st->blob_bytes);
    cJSON_AddNumberToObject(o, "ratio", (double)m->file_size / (double)st->blob_bytes);
    uint64_t before = 0, after = 0, params = 0;
    cJSON *ts = cJSON_CreateArray();
    for (size_t i = 0; i < m->ntensors; i++) {
        const nnz_tensor *t = &m->tensors[i];
        if (!st->is_entry[i])
            continue;
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "name", t->name);
        cJSON_AddStringToObject(x, "dtype", nnz_dtype_name(t->dtype));
        cJSON_AddNumberToObject(x, "elements", (double)t->count);
        cJSON_AddStringToObject(x, "encoding", "raw");
        cJSON_AddNumberToObject(x, "bytes_before", (double)t->nbytes);
        cJSON_AddNumberToObject(x, "bytes_after", (double)st->tensor_bytes[i]);
        cJSON_AddNumberToObject(x, "bits_per_weight",
                                t->count ? 8.0 * (double)st->tensor_bytes[i] / (double)t->count : 0);
        cJSON_AddNumberToObject(x, "rel_l2", 0);
        cJSON_AddNumberToObject(x, "max_abs", 0);
        cJSON_AddNullToObject(x, "sqnr_db");
        cJSON_AddItemToArray(ts, x);
        before += t->nbytes;
        after += st->tensor_bytes[i];
        params += t->count;
    }
    cJSON *w = cJSON_AddObjectToObject(o, "weights");
    cJSON_AddNumberToObject(w, "tensors", (double)st->entries);
    cJSON_AddNumberToObject(w, "parameters", (double)params);
    cJSON_AddNumberToObject(w, "bytes_before", (double)before);
    cJSON_AddNumberToObject(w, "bytes_after", (double)after);
    cJSON_AddNumberToObject(w, "bits_per_weight", params ? 8.0 * (double)after / (double)params : 0);
    cJSON *b = cJSON_AddObjectToObject(o, "blob");
    cJSON_AddNumberToObject(b, "graph_bytes", (double)st->graph_bytes);
    cJSON_AddNumberToObject(b, "payload_bytes", (double)st->payload_bytes);
    cJSON_AddNumberToObject(b, "padding_bytes", (double)st->padding_bytes);
    cJSON_AddNumberToObject(b, "directory_bytes", (double)st->directory_bytes);
    cJSON_AddNumberToObject(b, "metadata_bytes", (double)st->metadata_bytes);
    cJSON_AddItemToObject(o, "tensors", ts);
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
                    cJSON_GetObjectItem(x, "encoding")->valuestring,
                    cJSON_GetObjectItem(x, "bytes_before")->valuedouble,
                    cJSON_GetObjectItem(x, "bytes_after")->valuedouble,
                    cJSON_GetObjectItem(x, "bits_per_weight")->valuedouble,
                    cJSON_GetObjectItem(x, "rel_l2")->valuedouble);
    }
    fprintf(stderr,
            "nnzip: %s -> %s: %.0f -> %.0f bytes (%.2fx); weights %.0f -> %.0f bytes, "
            "%.3f bits/weight over %.0f tensors\n",
            cJSON_GetObjectItem(o, "input")->valuestring,
            cJSON_GetObjectItem(o, "output")->valuestring,
            cJSON_GetObjectItem(o, "input_bytes")->valuedouble,
            cJSON_GetObjectItem(o, "output_bytes")->valuedouble,
            cJSON_GetObjectItem(o, "ratio")->valuedouble,
            cJSON_GetObjectItem(w, "bytes_before")->valuedouble,
            cJSON_GetObjectItem(w, "bytes_after")->valuedouble,
            cJSON_GetObjectItem(w, "bits_per_weight")->valuedouble,
            cJSON_GetObjectItem(w, "tensors")->valuedouble);
}

int cmd_compress(int argc, char **argv)
{
    static const struct option opts[] = { { "output", required_argument, NULL, 'o' },
                                           { "json", no_argument, NULL, 'j' },
                                           { "help", no_argument, NULL, 'h' },
                                           { "quiet", no_argument, NULL, 'q' },
                                           { "verbose", no_argument, NULL, 'v' },
                                           { 0, 0, 0, 0 } };
    const char *outp = NULL;
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:hqv", opts, NULL)) != -1) {
        switch (c) {
        case 'o': outp = optarg; break;
        case 'j': json = 1; break;
        case 'h': fputs(compress_help, stdout); return 0;
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
    const char *in = argv[optind];
    nnz_error e = { 0 };
    nnz_model *m;
    if (cli_model_load(in, &m, &e) != 0)
        return cli_report(&e);
    compress_ctx ctx = { m, "" };
    nnz_blob_writer w = { .metadata = make_metadata, .ctx = &ctx };
    nnz_blob_stats st;
    nnz_out out;
    if (nnz_out_open(&out, outp, in, 1, &e) != 0) {
        nnz_model_free(m);
        return cli_report(&e);
    }
    if (nnz_blob_write(m, &w, out.f, &st, &e) != 0) {
        nnz_out_abort(&out);
        nnz_model_free(m);
        nnz_wrap(&e, "%s: ", in);
        return cli_report(&e);
    }
    if (nnz_out_commit(&out, &e) != 0) {
        free(st.tensor_bytes);
        free(st.is_entry);
        nnz_model_free(m);
        return cli_report(&e);
    }
    cJSON *rep = report_json(in, outp, m, &st, ctx.pipeline);
    free(st.tensor_bytes);
    free(st.is_entry);
    nnz_model_free(m);
    if (!g_cli.quiet)
        report_text(rep);
    if (json)
        cli_print_json(rep);
    else
        cJSON_Delete(rep);
    return 0;
}
