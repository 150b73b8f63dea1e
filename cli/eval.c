/* eval.c - running the user's own evaluation command on a rebuilt model:
 * `verify --eval` and `sweep --eval`. The command's template gets {onnx}
 * replaced by the model's path and runs through /bin/sh; its metric is the
 * last number it prints on stdout. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cli.h"

/* Quote a path for /bin/sh: inside '...', with ' written as '\''. */
static char *shell_quote(const char *s, nnz_error *e)
{
    size_t n = 3;
    for (const char *p = s; *p; p++)
        n += *p == '\'' ? 4 : 1;
    char *q = nnz_malloc(n, e), *o = q;
    if (!q)
        return NULL;
    *o++ = '\'';
    for (const char *p = s; *p; p++) {
        if (*p == '\'') {
            memcpy(o, "'\\''", 4);
            o += 4;
        } else {
            *o++ = *p;
        }
    }
    *o++ = '\'';
    *o = '\0';
    return q;
}

/* The last number in `text` (C locale syntax), or NAN. */
static double last_number(const char *text)
{
    double v = NAN;
    const char *p = text;
    while (*p) {
        char *end;
        if ((isdigit((unsigned char)*p) || ((*p == '-' || *p == '+' || *p == '.') &&
                                             (isdigit((unsigned char)p[1]) || p[1] == '.'))) &&
            (p == text || !isalnum((unsigned char)p[-1]))) {
            double x = strtod(p, &end);
            if (end > p) {
                v = x;
                p = end;
                continue;
            }
        }
        p++;
    }
    return v;
}

int cli_eval(const char *tmpl, const char *onnx_path, double *metric, nnz_error *e)
{
    char *quoted = shell_quote(onnx_path, e);
    if (!quoted)
        return -1;
    size_t n = strlen(tmpl) + 1, ql = strlen(quoted);
    for (const char *p = strstr(tmpl, "{onnx}"); p; p = strstr(p + 6, "{onnx}"))
        n += ql;
    char *cmd = nnz_malloc(n, e), *o = cmd;
    if (!cmd) {
        free(quoted);
        return -1;
    }
    for (const char *p = tmpl; *p;) {
        if (strncmp(p, "{onnx}", 6) == 0) {
            memcpy(o, quoted, ql);
            o += ql;
            p += 6;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    free(quoted);
    if (!strstr(tmpl, "{onnx}")) {
        free(cmd);
        return nnz_fail(e, NNZ_EXIT_USAGE, "--eval '%s': the command needs {onnx} where the "
                        "model's path goes", tmpl);
    }
    FILE *f = popen(cmd, "r");
    if (!f) {
        free(cmd);
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "--eval: cannot run a shell: %s", strerror(errno));
    }
    size_t cap = 4096, len = 0;
    char *out = nnz_malloc(cap, e);
    size_t got;
    while (out && (got = fread(out + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len < 2) {
            if (cap >= (1u << 20)) { /* a metric is a number: keep the last MiB */
                memmove(out, out + cap / 2, len - cap / 2);
                len -= cap / 2;
            } else {
                char *b = realloc(out, cap * 2);
                if (!b)
                    break;
                out = b;
                cap *= 2;
            }
        }
    }
    int status = pclose(f);
    int rc = 0;
    if (!out) {
        rc = -1;
    } else {
        out[len] = '\0';
        *metric = last_number(out);
        if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            rc = nnz_fail(e, NNZ_EXIT_VERIFY, "--eval command failed (%s %d): %s",
                          WIFEXITED(status) ? "exit" : "signal",
                          WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), cmd);
        else if (isnan(*metric))
            rc = nnz_fail(e, NNZ_EXIT_VERIFY, "--eval command printed no number: %s", cmd);
    }
    free(out);
    free(cmd);
    return rc;
}
