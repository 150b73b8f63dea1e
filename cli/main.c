/* main.c - the nnzip command: global options and subcommand dispatch. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "suggest.h"

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *help;
} commands[] = {
    { "compress", cmd_compress, "compress an ONNX model into an .nnz blob" },
    { "decompress", cmd_decompress, "rebuild the ONNX model from an .nnz blob" },
    { "info", cmd_info, "describe an ONNX model or an .nnz blob" },
    { "verify", cmd_verify, "check a blob against its model; non-zero exit on failure" },
    { "convert", cmd_convert, "rewrite an ONNX model (inline or external weights)" },
    { "run", cmd_run, "run a model (or a blob's model) with nnzip's interpreter" },
    { "sweep", cmd_sweep, "compress with every pipeline of a grid: size vs error, Pareto" },
    { "completion", cmd_completion, "print a bash completion script" },
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: nnzip [--quiet] [-v] [-f] COMMAND [ARGS]\n\n"
               "Compress trained ONNX models into compact .nnz blobs.\n\nCommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'nnzip help COMMAND' or 'nnzip COMMAND --help' describes a command.\n\n"
               "Exit status:\n"
               "  0  success\n"
               "  1  verify ran and a check failed, or a sweep point failed\n"
               "  2  usage error: bad command line, option or pipeline; an output that\n"
               "     is the input, or exists without -f (--force)\n"
               "  3  bad input: unreadable, malformed, or over a limit\n"
               "  4  output could not be written\n"
               "  5  internal error or out of memory\n"
               "  128+N  killed by signal N, temporary files removed\n");
}

int main(int argc, char **argv)
{
    /* Past a file size limit (ulimit -f) a write should fail with EFBIG and
     * a message, not kill the process with SIGXFSZ and leave a temp file. */
    signal(SIGXFSZ, SIG_IGN);
    opterr = 0; /* the commands name a bad option themselves (cli_bad_option) */
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
            printf("nnzip %s (blob format %d.%d)\n", NNZIP_VERSION, NNZ_FORMAT_MAJOR,
                   NNZ_FORMAT_MINOR);
            return 0;
        }
        if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0)
            g_cli.quiet = 1;
        else if (strcmp(a, "-f") == 0 || strcmp(a, "--force") == 0)
            g_cli.force = 1;
        else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0)
            g_cli.verbose = 1;
        else
            return cli_usage(NULL, "unknown option '%s'", a);
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    size_t ncmd = sizeof commands / sizeof commands[0];
    /* `nnzip help [CMD]`, as git has it */
    if (strcmp(argv[i], "help") == 0) {
        if (i + 1 >= argc) {
            usage(stdout);
            return 0;
        }
        char *args[] = { argv[i + 1], "--help", NULL };
        for (size_t k = 0; k < ncmd; k++)
            if (strcmp(argv[i + 1], commands[k].name) == 0)
                return commands[k].run(2, args);
        i++; /* an unknown topic: the same message as an unknown command */
    } else {
        for (size_t k = 0; k < ncmd; k++)
            if (strcmp(argv[i], commands[k].name) == 0)
                return commands[k].run(argc - i, argv + i);
    }
    const char *names[sizeof commands / sizeof commands[0]];
    char list[256] = "";
    for (size_t k = 0; k < ncmd; k++) {
        names[k] = commands[k].name;
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? ", " : "",
                 commands[k].name);
    }
    const char *near = nnz_suggest(argv[i], names, ncmd);
    if (near)
        return cli_usage(NULL, "unknown command '%s'; did you mean '%s'?", argv[i], near);
    return cli_usage(NULL, "unknown command '%s' (commands: %s)", argv[i], list);
}
