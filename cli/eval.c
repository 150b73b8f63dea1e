/* eval.c - running the user's own evaluation command on a rebuilt model,
 * for `verify --eval` and `sweep --eval`. The template's placeholders
 * become shell-quoted values (also set as environment variables), the
 * command runs through /bin/sh with stdin from /dev/null, and its metric is
 * the last number it prints on stdout. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bytes.h"
#include "cli.h"

#define EVAL_OUTPUT_CAP (1u << 20) /* keep the last MiB the command prints */

/* '...' with each ' written as '\'' */
static void sb_quote(nnz_bytes *b, const char *s)
{
    nnz_bytes_text(b, "'", 1);
    for (const char *p = s; *p; p++)
        if (*p == '\'')
            nnz_bytes_text(b, "'\\''", 4);
        else
            nnz_bytes_text(b, p, 1);
    nnz_bytes_text(b, "'", 1);
}

/* The last number in `s` that starts a word: "accuracy 0.95" and
 * "acc=0.95" give 0.95; "mlp2" gives nothing. */
static int last_number(const char *s, size_t n, double *out)
{
    int found = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i], d = i + 1 < n ? (unsigned char)s[i + 1] : 0;
        int starts = isdigit(c) || ((c == '-' || c == '+') && (isdigit(d) || d == '.')) ||
                     (c == '.' && isdigit(d));
        unsigned char prev = i ? (unsigned char)s[i - 1] : ' ';
        if (starts && !isalnum(prev) && prev != '_' && prev != '.') {
            char *end;
            double v = strtod(s + i, &end);
            if (end > s + i) {
                *out = v;
                found = 1;
                i = (size_t)(end - s);
                continue;
            }
        }
        i++;
    }
    return found;
}

/* The last non-empty line of a file, printable, for a message. */
static void last_line(int fd, char *out, size_t cap)
{
    out[0] = '\0';
    char buf[2048];
    off_t size = lseek(fd, 0, SEEK_END);
    if (size < 0 || lseek(fd, size > (off_t)sizeof buf - 1 ? size - (off_t)sizeof buf + 1 : 0,
                          SEEK_SET) < 0)
        return;
    ssize_t r = read(fd, buf, sizeof buf - 1);
    size_t n = r > 0 ? (size_t)r : 0;
    buf[n] = '\0';
    while (n && isspace((unsigned char)buf[n - 1]))
        buf[--n] = '\0';
    char *line = strrchr(buf, '\n');
    line = line ? line + 1 : buf;
    size_t k = 0;
    for (; *line && k + 1 < cap; line++)
        out[k++] = isprint((unsigned char)*line) ? *line : '?';
    out[k] = '\0';
}

int cli_eval(const char *tmpl, const cli_eval_var *vars, size_t nvars, double *metric,
             nnz_error *e)
{
    nnz_bytes cmd = { 0 };
    for (const char *p = tmpl; *p;) {
        size_t k = 0;
        while (k < nvars && strncmp(p, vars[k].key, strlen(vars[k].key)) != 0)
            k++;
        if (k < nvars) {
            if (vars[k].bare) /* a number: no quotes, so it may go in $((...)) */
                nnz_bytes_text(&cmd, vars[k].value, strlen(vars[k].value));
            else
                sb_quote(&cmd, vars[k].value);
            p += strlen(vars[k].key);
        } else {
            nnz_bytes_text(&cmd, p++, 1);
        }
    }
    /* stderr goes to a file (for the message) unless -v passes it through */
    char errpath[] = "/tmp/nnzip-eval.XXXXXX";
    int pfd[2] = { -1, -1 }, errfd = g_cli.verbose ? -1 : mkstemp(errpath);
    if (errfd >= 0)
        unlink(errpath);
    if (cmd.failed || pipe2(pfd, O_CLOEXEC) != 0 || (!g_cli.verbose && errfd < 0)) {
        int err = errno;
        nnz_bytes_free(&cmd);
        if (pfd[0] >= 0) {
            close(pfd[0]);
            close(pfd[1]);
        }
        if (errfd >= 0)
            close(errfd);
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "eval: cannot start the command: %s", strerror(err));
    }
    pid_t pid = fork();
    if (pid == 0) {
        int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (nul >= 0)
            dup2(nul, STDIN_FILENO);
        dup2(pfd[1], STDOUT_FILENO);
        if (errfd >= 0)
            dup2(errfd, STDERR_FILENO);
        close(pfd[0]);
        for (size_t k = 0; k < nvars; k++)
            if (vars[k].env)
                setenv(vars[k].env, vars[k].value, 1);
        execl("/bin/sh", "sh", "-c", nnz_bytes_str(&cmd), (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    nnz_bytes_free(&cmd);
    if (pid < 0) {
        close(pfd[0]);
        if (errfd >= 0)
            close(errfd);
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "eval: cannot fork: %s", strerror(errno));
    }
    char *out = malloc(2 * (size_t)EVAL_OUTPUT_CAP + 1);
    size_t len = 0;
    for (;;) {
        char buf[8192];
        ssize_t r = read(pfd[0], buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (!out)
            continue;
        if (len + (size_t)r > 2 * (size_t)EVAL_OUTPUT_CAP) {
            memmove(out, out + len - EVAL_OUTPUT_CAP, EVAL_OUTPUT_CAP);
            len = EVAL_OUTPUT_CAP;
        }
        memcpy(out + len, buf, (size_t)r);
        len += (size_t)r;
    }
    close(pfd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    char why[400] = "";
    if (errfd >= 0) {
        last_line(errfd, why, sizeof why);
        close(errfd);
    }
    if (!out)
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "eval: out of memory");
    out[len] = '\0';
    int rc = 0;
    if (WIFSIGNALED(status))
        rc = nnz_fail(e, NNZ_EXIT_VERIFY, "eval: the command was killed by signal %d%s%s",
                      WTERMSIG(status), *why ? ": " : "", why);
    else if (WEXITSTATUS(status) != 0)
        rc = nnz_fail(e, NNZ_EXIT_VERIFY, "eval: the command exited with status %d%s%s",
                      WEXITSTATUS(status), *why ? ": " : "", why);
    else if (!last_number(out, len, metric))
        rc = nnz_fail(e, NNZ_EXIT_VERIFY, "eval: the command printed no number on stdout%s%s%s",
                      *why ? " (stderr: " : "", why, *why ? ")" : "");
    else if (!isfinite(*metric))
        rc = nnz_fail(e, NNZ_EXIT_VERIFY, "eval: the command's number is not finite");
    free(out);
    return rc;
}
