/* cmd_convert.c - `nnzip convert`: load and save an ONNX model, with its
 * weights inline or in an external data file. Also the load/save round
 * trip the tests check against ONNX Runtime. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "fileio.h"
#include "model.h"
#include "save.h"

static const char convert_help[] =
    "Usage: nnzip convert MODEL.onnx -o OUT.onnx [options]\n\n"
    "Rewrite an ONNX model: tensor data becomes little-endian raw_data, weights\n"
    "inline, or in OUT.onnx.data with --external-data. Models over protobuf's\n"
    "2 GiB limit always get external data.\n\n"
    "  -o, --output FILE   the model to write ('-' for stdout); required\n"
    "  --external-data     put every tensor of 1 KiB or more in OUT.onnx.data\n"
    "  -f, --force         replace an existing output file (never the input)\n"
    "  -h, --help\n";

int cmd_convert(int argc, char **argv)
{
    static const struct option opts[] = { { "output", required_argument, NULL, 'o' },
                                           { "external-data", no_argument, NULL, 'x' },
                                           { "force", no_argument, NULL, 'f' },
                                           { "help", no_argument, NULL, 'h' },
                                           { "quiet", no_argument, NULL, 'q' },
                                           { "verbose", no_argument, NULL, 'v' },
                                           { 0, 0, 0, 0 } };
    const char *outp = NULL;
    nnz_external_mode ext = NNZ_EXTERNAL_AUTO;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":o:fhqv", opts, NULL)) != -1) {
        switch (c) {
        case 'o': outp = optarg; break;
        case 'x': ext = NNZ_EXTERNAL_ALWAYS; break;
        case 'h': fputs(convert_help, stdout); return 0;
        case 'f': g_cli.force = 1; break;
        case 'q': g_cli.quiet = 1; break;
        case 'v': g_cli.verbose = 1; break;
        default: return cli_bad_option("convert", c, argv);
        }
    }
    if (optind != argc - 1)
        return cli_usage("convert", "expected one MODEL.onnx, got %d", argc - optind);
    if (!outp)
        return cli_usage("convert", "missing -o OUT.onnx");
    nnz_error e = { 0 };
    nnz_model *m;
    unsigned flags = cli_out_flags(NNZ_OUT_BINARY);
    if (nnz_out_check(outp, argv[optind], flags, &e) != 0 ||
        cli_model_load(argv[optind], &m, &e) != 0)
        return cli_report(&e);
    int rc = nnz_model_save(m, outp, argv[optind], ext, flags, &e);
    nnz_model_free(m);
    return rc == 0 ? 0 : cli_report(&e);
}
