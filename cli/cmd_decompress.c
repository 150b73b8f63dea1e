/* cmd_decompress.c - `nnzip decompress`: the ONNX model back from a blob,
 * rebuilt by the runtime exactly as a device would. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fileio.h"

static const char decompress_help[] =
    "Usage: nnzip decompress IN.nnz -o OUT.onnx [options]\n\n"
    "Rebuild the ONNX model stored in IN.nnz, through the same decoder runtime\n"
    "that devices embed.\n\n"
    "  -o, --output FILE   the model to write ('-' for stdout); required\n"
    "  --json              a JSON report on stdout (fields: docs/cli.md)\n"
    "  -q, --quiet         no report on stderr\n"
    "  -h, --help\n";

static int write_file(void *ctx, const void *data, size_t size)
{
    return fwrite(data, 1, size, (FILE *)ctx) == size ? 0 : -1;
}

int cmd_decompress(int argc, char **argv)
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
        case 'h': fputs(decompress_help, stdout); return 0;
        case 'q': g_cli.quiet = 1; break;
        case 'v': g_cli.verbose = 1; break;
        default: return cli_usage("decompress", "unknown option");
        }
    }
    if (optind != argc - 1)
        return cli_usage("decompress", "expected one IN.nnz, got %d", argc - optind);
    if (!outp)
        return cli_usage("decompress", "missing -o OUT.onnx");
    if (json && strcmp(outp, "-") == 0)
        return cli_usage("decompress", "--json and -o - would both write to stdout; pick one");
    const char *in = argv[optind];
    nnz_error e = { 0 };
    cli_file f;
    nnz_blob b;
    if (cli_blob_open(&f, &b, in, 0, &e) != 0)
        return cli_report(&e);
    uint64_t model_size;
    size_t work_size;
    nnz_status st = nnz_rebuild_sizes(&b, &model_size, &work_size);
    void *work = NULL;
    if (st == NNZ_OK && work_size && !(work = malloc(work_size))) {
        cli_file_close(&f);
        nnz_fail(&e, NNZ_EXIT_INTERNAL, "out of memory (%zu bytes of work memory)", work_size);
        return cli_report(&e);
    }
    nnz_out out;
    if (st == NNZ_OK && nnz_out_open(&out, outp, in, 1, &e) != 0) {
        free(work);
        cli_file_close(&f);
        return cli_report(&e);
    }
    if (st == NNZ_OK) {
        st = nnz_rebuild(&b, write_file, out.f, work, work_size);
        if (st != NNZ_OK)
            nnz_out_abort(&out);
    }
    free(work);
    uint32_t ntensors = nnz_tensor_count(&b);
    cli_file_close(&f);
    if (st == NNZ_E_WRITE)
        nnz_fail(&e, NNZ_EXIT_OUTPUT, "%s: write failed", outp);
    else if (st != NNZ_OK)
        nnz_fail(&e, NNZ_EXIT_INPUT, "%s: cannot rebuild the model: %s (status %d)", in,
                 nnz_strerror(st), (int)st);
    if (st != NNZ_OK || nnz_out_commit(&out, &e) != 0)
        return cli_report(&e);
    if (!g_cli.quiet)
        fprintf(stderr, "nnzip: %s -> %s: %llu bytes, %u tensors decoded\n", in, outp,
                (unsigned long long)model_size, ntensors);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "input", in);
        cJSON_AddStringToObject(o, "output", outp);
        cJSON_AddNumberToObject(o, "output_bytes", (double)model_size);
        cJSON_AddNumberToObject(o, "tensors", ntensors);
        cli_print_json(o);
    }
    return 0;
}
