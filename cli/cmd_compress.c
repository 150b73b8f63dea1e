/* cmd_compress.c - `nnzip compress`: ONNX model in, .nnz blob out, through
 * a pipeline of passes. Tensors stream through: each is run through every
 * pass, encoded, written, and its working state freed before the next. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_infer.h"
#include "fileio.h"
#include "infer_calib.h"
#include "model.h"
#include "pass.h"

static const char compress_help[] =
    "Usage: nnzip compress MODEL.onnx [-o OUT.nnz] [-p PIPELINE] [options]\n\n"
    "Compress the weights of MODEL.onnx into an .nnz blob. Without a pipeline\n"
    "the blob is lossless: decompress gives back the same model.\n\n"
    "  -o, --output FILE      the blob to write ('-' for stdout); default: MODEL.nnz\n"
    "                         beside MODEL.onnx (never over an existing file)\n"
    "  -p, --pipeline TEXT    passes separated by '|', each NAME:KEY=VALUE,...\n"
    "                         e.g. 'prune:sparsity=0.9 | quantize:kmeans,bits=5\n"
    "                         | huffman'\n"
    "  --config FILE.json     the pipeline as JSON, with per-layer overrides\n"
    "                         (docs/config.md)\n"
    "  --print-config         print the effective configuration as JSON and stop\n"
    "  --target-rel-error X   per weight, the smallest of a built-in set of pipelines\n"
    "                         whose relative L2 error stays within X (docs/cli.md);\n"
    "                         with --config, the tensors it names keep its settings\n"
    "  --onnx-out FILE        also write the rebuilt ONNX model (float weights)\n"
    "  --external-data        the rebuilt model keeps weights of 1 KiB or more in an\n"
    "                         external file (automatic past protobuf's 2 GiB limit)\n"
    "  --qdq                  with --onnx-out: quantized weights as INT8/UINT8\n"
    "                         initializers behind DequantizeLinear\n"
    "  --metadata minimal|full  the blob's metadata: pipeline, tool and source\n"
    "                         (minimal, the default), or also each changed tensor's\n"
    "                         encoding and error (full; --json always has them)\n"
    "  --graph auto|raw       the graph section compressed when that makes the blob\n"
    "                         smaller (auto, the default), or stored as it is (raw:\n"
    "                         a blob format 2.0 readers open; docs/FORMAT.md)\n"
    "  --json                 a JSON report on stdout (fields: docs/cli.md)\n\n"
    "Calibration inputs, for the stages with an output budget (max-output-error=):\n"
    "  --inputs DIR           a folder of input_N.pb / NAME.npy, or of\n"
    "                         test_data_set_N folders (docs/infer.md)\n"
    "  --input-spec FILE      generate them from a JSON spec (--spec-model NAME picks\n"
    "                         a model of a corpus-style file); default: the declared\n"
    "                         shapes, uniform in [-1, 1]\n"
    "  --seed N               of the generated inputs (default 1)\n"
    "  --calib-sets N         how many to generate (default 32)\n"
    "  --holdout F            the fraction held out: never used to choose, measured\n"
    "                         and reported apart (default 0.25)\n"
    "  --threads N            run the calibration inputs on N threads (default:\n"
    "                         $NNZIP_THREADS, else the online CPUs, at most 8);\n"
    "                         the output is the same bytes for any N\n"
    "  --dim NAME=V, --max-memory BYTES   as for nnzip run\n\n"
    "  -f, --force            replace an existing output file (never the input)\n"
    "  -q, --quiet            no report on stderr\n"
    "  -v, --verbose          a line per tensor in the report\n"
    "  -h, --help\n\n"
    "MODEL.onnx may be '-' for stdin. The output is written to a temporary file\n"
    "beside it and renamed when complete; the input is never modified.\n";

/* A line of a pass's summary (pass.h report_text), escaped for the terminal. */
static void pass_line(void *ctx, int detail, const char *text)
{
    (void)ctx;
    fprintf(stderr, detail ? "  %s\n" : "nnzip: %s\n", cli_esc(text));
}

static void report_text(const cJSON *o)
{
    const cJSON *w = cJSON_GetObjectItem(o, "weights"), *x;
    /* each pass's model-wide findings, in its own words */
    for (size_t k = 0; nnz_passes[k]; k++)
        if (nnz_passes[k]->report_text)
            nnz_passes[k]->report_text(o, g_cli.verbose, pass_line, NULL);
    if (g_cli.verbose) {
        fprintf(stderr, "  %-40s %-8s %10s %-8s %10s %10s %7s %9s\n", "tensor", "dtype",
                "elements", "encoding", "before", "after", "bits/w", "rel_l2");
        cJSON_ArrayForEach(x, cJSON_GetObjectItem(o, "tensors"))
            fprintf(stderr, "  %-40s %-8s %10.0f %-8s %10.0f %10.0f %7.3f %9.3g\n",
                    cli_esc(cJSON_GetObjectItem(x, "name")->valuestring),
                    cJSON_GetObjectItem(x, "dtype")->valuestring,
                    cJSON_GetObjectItem(x, "elements")->valuedouble,
                    cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(x, "encoding"), "layout")),
                    cJSON_GetObjectItem(x, "bytes_before")->valuedouble,
                    cJSON_GetObjectItem(x, "bytes_after")->valuedouble,
                    cJSON_GetObjectItem(x, "bits_per_weight")->valuedouble,
                    cJSON_GetObjectItem(x, "rel_l2")->valuedouble);
    }
    cli_print_warnings(cJSON_GetObjectItem(o, "warnings"));
    fprintf(stderr,
            "nnzip: %s -> %s: %.0f -> %.0f bytes (%.2fx); weights %.0f -> %.0f bytes, "
            "%.3f bits/weight over %.0f tensors; rel_l2 %.4g over the %.0f changed\n",
            cli_esc(cJSON_GetObjectItem(o, "input")->valuestring),
            cli_esc(cJSON_GetObjectItem(o, "output")->valuestring),
            cJSON_GetObjectItem(o, "input_bytes")->valuedouble,
            cJSON_GetObjectItem(o, "output_bytes")->valuedouble,
            cJSON_GetObjectItem(o, "ratio")->valuedouble,
            cJSON_GetObjectItem(w, "bytes_before")->valuedouble,
            cJSON_GetObjectItem(w, "bytes_after")->valuedouble,
            cJSON_GetObjectItem(w, "bits_per_weight")->valuedouble,
            cJSON_GetObjectItem(w, "tensors")->valuedouble,
            cJSON_GetObjectItem(w, "rel_l2")->valuedouble,
            cJSON_GetObjectItem(w, "changed")->valuedouble);
}

/* Does the pipeline have a glob that names tensors (layers, skip, only)? */
static int names_any(const nnz_pipeline *p)
{
    int any = p->skip != NULL;
    for (size_t s = 0; s < p->n; s++)
        any |= p->stages[s].only || p->stages[s].skip || p->stages[s].nov;
    return any;
}

/* "nnzip: quantize: sensitivity 12/40", on a terminal only. */
static void calib_progress(void *ctx, const char *what, size_t done, size_t total)
{
    (void)ctx;
    if (g_cli.quiet || !isatty(STDERR_FILENO))
        return;
    fprintf(stderr, "\rnnzip: %s %zu/%zu\033[K", what, done, total);
    if (done >= total)
        fputs("\r\033[K", stderr);
    fflush(stderr);
}

/* The calibration workers: --threads N, else $NNZIP_THREADS, else the
 * online CPUs (at most CALIB_DEFAULT_WORKERS: each holds its own
 * activations). 0, or a usage exit code for a bad $NNZIP_THREADS. */
#define CALIB_DEFAULT_WORKERS 8
static int calib_workers(int given, int *out)
{
    if (given > 0) {
        *out = given;
        return 0;
    }
    const char *env = getenv("NNZIP_THREADS");
    if (env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (!*env || *end || v < 1 || v > 256)
            return cli_usage("compress", "NNZIP_THREADS wants 1..256, got '%s'", env);
        *out = (int)v;
        return 0;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    *out = n < 1 ? 1 : n > CALIB_DEFAULT_WORKERS ? CALIB_DEFAULT_WORKERS : (int)n;
    return 0;
}

int cmd_compress(int argc, char **argv)
{
    static const struct option opts[] = { { "output", required_argument, NULL, 'o' },
                                           { "pipeline", required_argument, NULL, 'p' },
                                           { "onnx-out", required_argument, NULL, 'x' },
                                           { "qdq", no_argument, NULL, 'Q' },
                                           { "config", required_argument, NULL, 'c' },
                                           { "print-config", no_argument, NULL, 'P' },
                                           { "external-data", no_argument, NULL, 'X' },
                                           { "target-rel-error", required_argument, NULL, 'E' },
                                           { "inputs", required_argument, NULL, 'i' },
                                           { "input-spec", required_argument, NULL, 'S' },
                                           { "spec-model", required_argument, NULL, 'M' },
                                           { "seed", required_argument, NULL, 's' },
                                           { "dim", required_argument, NULL, 'D' },
                                           { "threads", required_argument, NULL, 'T' },
                                           { "max-memory", required_argument, NULL, 'm' },
                                           { "calib-sets", required_argument, NULL, 'C' },
                                           { "holdout", required_argument, NULL, 'H' },
                                           { "json", no_argument, NULL, 'j' },
                                           { "metadata", required_argument, NULL, 'A' },
                                           { "graph", required_argument, NULL, 'G' },
                                           { "force", no_argument, NULL, 'f' },
                                           { "help", no_argument, NULL, 'h' },
                                           { "quiet", no_argument, NULL, 'q' },
                                           { "verbose", no_argument, NULL, 'v' },
                                           { 0, 0, 0, 0 } };
    const char *outp = NULL, *pipeline = NULL, *onnx_out = NULL, *config = NULL;
    int json = 0, qdq = 0, print_config = 0, external = 0, full_metadata = 0, graph_raw = 0, c;
    double target = 0;
    cli_infer_args ia = { .cmd = "compress", .seed = 1 };
    nnz_calib calib = { .sets = NNZ_CALIB_SETS, .holdout = NNZ_CALIB_HOLDOUT };
    optind = 1;
    while ((c = getopt_long(argc, argv, ":o:p:fhqv", opts, NULL)) != -1) {
        switch (c) {
        case 'o': outp = optarg; break;
        case 'p': pipeline = optarg; break;
        case 'x': onnx_out = optarg; break;
        case 'Q': qdq = 1; break;
        case 'c': config = optarg; break;
        case 'P': print_config = 1; break;
        case 'X': external = 1; break;
        case 'A':
            if (strcmp(optarg, "full") != 0 && strcmp(optarg, "minimal") != 0)
                return cli_usage("compress", "--metadata wants minimal or full, got '%s'", optarg);
            full_metadata = strcmp(optarg, "full") == 0;
            break;
        case 'G':
            if (strcmp(optarg, "auto") != 0 && strcmp(optarg, "raw") != 0)
                return cli_usage("compress", "--graph wants auto or raw, got '%s'", optarg);
            graph_raw = strcmp(optarg, "raw") == 0;
            break;
        case 'C': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 100000)
                return cli_usage("compress", "--calib-sets wants 1..100000, got '%s'", optarg);
            calib.sets = (int)v;
            break;
        }
        case 'H':
            if (cli_parse_double(optarg, &calib.holdout) != 0 ||
                !(calib.holdout >= 0 && calib.holdout <= 0.9))
                return cli_usage("compress", "--holdout '%s': expected a fraction in [0, 0.9], "
                                 "e.g. 0.25", optarg);
            break;
        case 'E':
            if (cli_parse_double(optarg, &target) != 0 || !(target > 0 && target < 1))
                return cli_usage("compress", "--target-rel-error '%s': expected a number in "
                                 "(0, 1), e.g. 0.01", optarg);
            break;
        case 'j': json = 1; break;
        case 'h':
            fputs(compress_help, stdout);
            printf("\nPasses (docs/passes/NAME.md; every pass also takes only=GLOB, skip=GLOB,\n"
                   "min-elements=N to choose tensors):\n");
            for (size_t i = 0; nnz_passes[i]; i++) {
                printf("  %-10s ", nnz_passes[i]->name);
                cli_wrap(stdout, 13, 13, nnz_passes[i]->help);
                printf("%13soptions: ", "");
                cli_wrap(stdout, 22, 15, nnz_passes[i]->options);
            }
            return 0;
        case 'f': g_cli.force = 1; break;
        case 'q': g_cli.quiet = 1; break;
        case 'v': g_cli.verbose = 1; break;
        default: {
            int r = cli_infer_parse_common(c, optarg, &ia);
            if (r > 0)
                return r;
            if (r < 0)
                return cli_bad_option("compress", c, argv);
        }
        }
    }
    if (pipeline && config)
        return cli_usage("compress", "-p and --config each give the pipeline; use one");
    if (pipeline && target > 0)
        return cli_usage("compress", "-p and --target-rel-error each choose the pipeline; to "
                         "fix some tensors and let the search choose the rest, give those "
                         "tensors in a --config file (layers, skip)");
    if (ia.inputs && ia.spec)
        return cli_usage("compress", "--inputs and --input-spec both give the calibration "
                         "inputs; use one");
    calib.inputs = ia.inputs;
    calib.spec = ia.spec;
    calib.spec_model = ia.spec_model;
    calib.seed = ia.seed;
    calib.opts = ia.opts;
    calib.opts.threads = 1; /* OpenBLAS's: the inputs run side by side instead */
    int bad = calib_workers(ia.opts.threads, &calib.workers);
    if (bad)
        return bad;
    calib.opts.dims = ia.dims;
    calib.opts.ndims = ia.ndims;
    calib.progress = calib_progress;
    /* every stage with a budget measures against the model as the first one
     * received it: the budgets are cumulative (docs/pipelines.md) */
    nnz_calib_ref calib_ref = { 0 };
    calib.keep = &calib_ref;
    if (!pipeline)
        pipeline = "";
    if (!print_config && optind != argc - 1)
        return cli_usage("compress", "expected one MODEL.onnx, got %d", argc - optind);
    char def_out[4096];
    if (!outp && !print_config &&
        !(outp = cli_default_output(def_out, sizeof def_out, argv[optind], ".onnx", ".nnz")))
        return cli_usage("compress", "give -o OUT.nnz (stdin has no name to derive one from)");
    if (json && outp && strcmp(outp, "-") == 0)
        return cli_usage("compress", "--json and -o - would both write to stdout; pick one");
    if (qdq && !onnx_out)
        return cli_usage("compress", "--qdq shapes the --onnx-out model; give --onnx-out FILE");
    if (onnx_out && outp && (strcmp(onnx_out, outp) == 0 || strcmp(outp, "-") == 0))
        return cli_usage("compress", "--onnx-out needs -o to name a file, not '-' or the same file");
    const char *in = argv[optind];
    nnz_error e = { 0 };
    nnz_pipeline p;
    if ((config ? nnz_config_load(config, &p, &e) : nnz_pipeline_parse(pipeline, &p, &e)) != 0)
        return cli_report(&e);
    if (target > 0 && config && !names_any(&p)) {
        nnz_pipeline_free(&p);
        return cli_usage("compress", "--config %s names no tensors (no layers, skip or only), "
                         "so with --target-rel-error it would have no effect; drop it, or "
                         "name the tensors it fixes", config);
    }
    p.calib = &calib;
    if (print_config) {
        cJSON *cfg = nnz_pipeline_to_json(&p);
        char *txt = cJSON_Print(cfg);
        if (txt)
            puts(txt);
        free(txt);
        cJSON_Delete(cfg);
        nnz_pipeline_free(&p);
        return 0;
    }
    /* refuse an existing output before the work, not after it; the
     * model's external data files are checked again once it is loaded */
    unsigned flags = cli_out_flags(NNZ_OUT_BINARY);
    nnz_model *m;
    if (nnz_out_check(outp, in, flags, &e) != 0 ||
        (onnx_out && nnz_out_check(onnx_out, in, flags, &e) != 0) ||
        cli_model_load(in, &m, &e) != 0) {
        nnz_pipeline_free(&p);
        return cli_report(&e);
    }
    nnz_out out;
    cJSON *rep = NULL;
    int rc = onnx_out ? nnz_out_check(onnx_out, in, flags, &e) : 0;
    if (rc == 0)
        rc = nnz_out_open(&out, outp, in, flags, &e);
    if (rc == 0 && cli_compress(m, &p, out.f, in, outp, external, target, full_metadata, graph_raw,
                                &rep, &e) != 0) {
        nnz_out_abort(&out);
        rc = -1;
    } else if (rc == 0 && nnz_out_commit(&out, &e) != 0) {
        rc = -1;
    }
    nnz_model_free(m);
    nnz_pipeline_free(&p);
    nnz_calib_ref_free(&calib_ref);
    if (rc != 0) {
        cJSON_Delete(rep);
        return cli_report(&e);
    }
    cJSON *qdq_rep = qdq ? cJSON_AddArrayToObject(rep, "qdq_tensors") : NULL;
    if (onnx_out && cli_onnx_from_blob(outp, onnx_out, in, qdq, qdq_rep, &e) != 0) {
        cJSON_Delete(rep);
        return cli_report(&e);
    }
    if (!g_cli.quiet)
        report_text(rep);
    if (!g_cli.quiet && qdq_rep)
        cli_qdq_report_text(onnx_out, qdq_rep);
    if (json)
        return cli_print_json(rep);
    cJSON_Delete(rep);
    return 0;
}
