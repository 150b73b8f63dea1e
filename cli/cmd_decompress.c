/* cmd_decompress.c - `nnzip decompress`: the ONNX model back from a blob,
 * rebuilt by the runtime exactly as a device would. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fileio.h"

static const char decompress_help[] =
    "Usage: nnzip decompress IN.nnz [-o OUT.onnx] [options]\n\n"
    "Rebuild the ONNX model stored in IN.nnz, through the same decoder runtime\n"
    "that devices embed.\n\n"
    "  -o, --output FILE   the model to write ('-' for stdout); default: IN.nnz with\n"
    "                      .nnz replaced by .onnx (never over an existing file)\n"
    "  --qdq               quantized weights as INT8/UINT8 initializers behind\n"
    "                      DequantizeLinear (k-means: indices behind Gather; fp16:\n"
    "                      behind Cast) instead of float weights\n"
    "  --json              a JSON report on stdout (fields: docs/cli.md)\n"
    "  -q, --quiet         no report on stderr\n"
    "  -f, --force         replace an existing output file (never the input)\n"
    "  -h, --help\n";

int cmd_decompress(int argc, char **argv)
{
    static const struct option opts[] = { { "output", required_argument, NULL, 'o' },
                                           { "json", no_argument, NULL, 'j' },
                                           { "qdq", no_argument, NULL, 'Q' },
                                           { "force", no_argument, NULL, 'f' },
                                           { "help", no_argument, NULL, 'h' },
                                           { "quiet", no_argument, NULL, 'q' },
                                           { "verbose", no_argument, NULL, 'v' },
                                           { 0, 0, 0, 0 } };
    const char *outp = NULL;
    int json = 0, qdq = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":o:fhqv", opts, NULL)) != -1) {
        switch (c) {
        case 'o': outp = optarg; break;
        case 'j': json = 1; break;
        case 'Q': qdq = 1; break;
        case 'h': fputs(decompress_help, stdout); return 0;
        case 'f': g_cli.force = 1; break;
        case 'q': g_cli.quiet = 1; break;
        case 'v': g_cli.verbose = 1; break;
        default: return cli_bad_option("decompress", c, argv);
        }
    }
    if (optind != argc - 1)
        return cli_usage("decompress", "expected one IN.nnz, got %d", argc - optind);
    char def_out[4096];
    if (!outp && !(outp = cli_default_output(def_out, sizeof def_out, argv[optind], ".nnz", ".onnx")))
        return cli_usage("decompress", "give -o OUT.onnx (stdin has no name to derive one from)");
    if (json && strcmp(outp, "-") == 0)
        return cli_usage("decompress", "--json and -o - would both write to stdout; pick one");
    const char *in = argv[optind];
    nnz_error e = { 0 };
    cJSON *o = cJSON_CreateObject();
    cJSON *qdq_rep = qdq ? cJSON_CreateArray() : NULL;
    if (cli_onnx_from_blob(in, outp, in, qdq, qdq_rep, &e) != 0) {
        cJSON_Delete(qdq_rep);
        cJSON_Delete(o);
        return cli_report(&e);
    }
    if (!g_cli.quiet) {
        fprintf(stderr, "nnzip: %s -> %s: rebuilt%s\n", in, outp, qdq ? " (QDQ)" : "");
        if (qdq_rep)
            cli_qdq_report_text(outp, qdq_rep);
    }
    int rc = 0;
    if (json) {
        cJSON_AddStringToObject(o, "input", in);
        cJSON_AddStringToObject(o, "output", outp);
        cJSON_AddBoolToObject(o, "qdq", qdq);
        if (qdq_rep)
            cJSON_AddItemToObject(o, "qdq_tensors", qdq_rep);
        rc = cli_print_json(o);
    } else {
        cJSON_Delete(qdq_rep);
        cJSON_Delete(o);
    }
    return rc;
}
