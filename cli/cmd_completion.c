/* cmd_completion.c - `nnzip completion bash`: a bash completion script.
 * Words: the commands, each command's options, pass names after -p, and
 * files elsewhere. A test checks it lists every option --help shows. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "pass.h"

static const char script_head[] =
    "# bash completion for nnzip; install with:\n"
    "#   nnzip completion bash > /etc/bash_completion.d/nnzip\n"
    "_nnzip() {\n"
    "    local cur prev cmd i\n"
    "    cur=${COMP_WORDS[COMP_CWORD]}\n"
    "    prev=${COMP_WORDS[COMP_CWORD-1]}\n"
    "    cmd=\"\"\n"
    "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
    "        case ${COMP_WORDS[i]} in -*) ;; *) cmd=${COMP_WORDS[i]}; break ;; esac\n"
    "    done\n"
    "    case $prev in\n"
    "        -p|--pipeline|--grid) COMPREPLY=($(compgen -W \"%s\" -- \"$cur\")); return ;;\n"
    "    esac\n"
    "    case $cmd in\n";

static const struct {
    const char *cmd, *opts;
} command_opts[] = {
    { "compress", "-o --output -p --pipeline --config --print-config --target-rel-error "
                  "--external-data --onnx-out --qdq --inputs --input-spec --spec-model --seed "
                  "--calib-sets --holdout --dim --threads --max-memory --metadata --graph --json -f "
                  "--force -q "
                  "--quiet -v --verbose -h --help" },
    { "decompress", "-o --output --qdq --json -f --force -q --quiet -v --verbose -h --help" },
    { "info", "--json -q --quiet -v --verbose -h --help" },
    { "verify", "--max-rel-error --eval --min-metric --max-metric --max-output-error --inputs "
                "--input-spec --spec-model --seed --dim --threads --json -q --quiet -v "
                "--verbose -h --help" },
    { "convert", "-o --output --external-data -f --force -q --quiet -v --verbose -h --help" },
    { "sweep", "-g --grid -j --jobs -o --output --plot --eval --metric-goal --metric-name "
               "--blobs --max-points --metric --inputs --input-spec --spec-model --seed --dim "
               "--threads --json -f --force -q --quiet -v --verbose -h --help" },
    { "run", "--inputs --input-spec --spec-model --seed -o --output --npy --dim --threads "
             "--max-memory --repeat --plan --json -f --force -q --quiet -v --verbose -h --help" },
    { "completion", "bash" },
};

int cmd_completion(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("Usage: nnzip completion bash\n\nPrint a bash completion script.\n");
        return 0;
    }
    if (argc != 2 || strcmp(argv[1], "bash") != 0)
        return cli_usage("completion", "expected 'bash' (the one shell supported)");
    char passes[256] = "";
    for (size_t i = 0; nnz_passes[i]; i++) {
        strncat(passes, nnz_passes[i]->name, sizeof passes - strlen(passes) - 2);
        strncat(passes, " ", sizeof passes - strlen(passes) - 1);
    }
    printf(script_head, passes);
    char cmds[256] = "";
    for (size_t i = 0; i < sizeof command_opts / sizeof command_opts[0]; i++) {
        printf("        %s) COMPREPLY=($(compgen -W \"%s\" -- \"$cur\"))\n"
               "            [[ $cur != -* ]] && COMPREPLY+=($(compgen -f -- \"$cur\")) ;;\n",
               command_opts[i].cmd, command_opts[i].opts);
        strncat(cmds, command_opts[i].cmd, sizeof cmds - strlen(cmds) - 2);
        strncat(cmds, " ", sizeof cmds - strlen(cmds) - 1);
    }
    printf("        *) COMPREPLY=($(compgen -W \"%s--help --version --quiet -v\" -- \"$cur\")) ;;\n"
           "    esac\n"
           "}\n"
           "complete -o filenames -F _nnzip nnzip\n", cmds);
    return 0;
}
