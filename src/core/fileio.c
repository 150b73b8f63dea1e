/* fileio.c - see fileio.h. */
#include "fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Input that is not a regular file (a pipe, stdin) has no size to check
 * up front; past this it is refused rather than read until memory ends.
 * Bigger models are files (with external data). */
#define MAX_STREAM_BYTES (4ull << 30)

static int read_stream(FILE *f, const char *path, uint8_t **data, size_t *len, nnz_error *e)
{
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = nnz_malloc(cap, e);
    if (!buf)
        return -1;
    for (;;) {
        if (n == cap) {
            if (cap >= MAX_STREAM_BYTES) {
                free(buf);
                return nnz_fail(e, NNZ_EXIT_INPUT, "%s: more than %llu GiB from a stream "
                                "(limit); give a larger model as a file", path,
                                MAX_STREAM_BYTES >> 30);
            }
            uint8_t *b = nnz_realloc(buf, cap * 2, e);
            if (!b) {
                free(buf);
                return -1;
            }
            buf = b;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                free(buf);
                return nnz_fail(e, NNZ_EXIT_INPUT, "%s: read error: %s", path, strerror(errno));
            }
            break;
        }
    }
    *data = buf;
    *len = n;
    return 0;
}

int nnz_read_file(const char *path, uint8_t **data, size_t *len, nnz_error *e)
{
    *data = NULL;
    *len = 0;
    if (strcmp(path, "-") == 0) {
        if (read_stream(stdin, "(stdin)", data, len, e) != 0)
            return -1;
        if (*len == 0) {
            free(*data);
            *data = NULL;
            return nnz_fail(e, NNZ_EXIT_INPUT, "(stdin): no input (empty)");
        }
        return 0;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return nnz_fail(e, NNZ_EXIT_INPUT, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return nnz_fail(e, NNZ_EXIT_INPUT, "%s: cannot stat: %s", path, strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return nnz_fail(e, NNZ_EXIT_INPUT, "%s: is a directory, expected a file", path);
    }
    if (!S_ISREG(st.st_mode)) { /* a pipe or device: read until EOF */
        FILE *f = fdopen(fd, "rb");
        if (!f) {
            close(fd);
            return nnz_fail(e, NNZ_EXIT_INPUT, "%s: cannot read: %s", path, strerror(errno));
        }
        int rc = read_stream(f, path, data, len, e);
        fclose(f);
        if (rc == 0 && *len == 0) {
            free(*data);
            *data = NULL;
            return nnz_fail(e, NNZ_EXIT_INPUT, "%s: file is empty", path);
        }
        return rc;
    }
    if (st.st_size == 0) {
        close(fd);
        return nnz_fail(e, NNZ_EXIT_INPUT, "%s: file is empty", path);
    }
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX / 2) {
        close(fd);
        return nnz_fail(e, NNZ_EXIT_INPUT, "%s: file too large for this machine", path);
    }
    size_t n = (size_t)st.st_size, got = 0;
    uint8_t *buf = nnz_malloc(n, e);
    if (!buf) {
        close(fd);
        return nnz_wrap(e, "%s: ", path);
    }
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int err = errno;
            free(buf);
            close(fd);
            return nnz_fail(e, NNZ_EXIT_INPUT, "%s: read error: %s", path,
                            r == 0 ? "file shrank while reading" : strerror(err));
        }
        got += (size_t)r;
    }
    close(fd);
    *data = buf;
    *len = n;
    return 0;
}

/* Split `dest` into folder and base name (both malloc'ed). */
static int split_path(const char *dest, char **dir, char **base, nnz_error *e)
{
    const char *slash = strrchr(dest, '/');
    if (!slash)
        *dir = nnz_strdup(".", e);
    else if (slash == dest)
        *dir = nnz_strdup("/", e);
    else if ((*dir = nnz_malloc((size_t)(slash - dest) + 1, e)) != NULL) {
        memcpy(*dir, dest, (size_t)(slash - dest));
        (*dir)[slash - dest] = '\0';
    }
    *base = nnz_strdup(slash ? slash + 1 : dest, e);
    if (!*dir || !*base) {
        free(*dir);
        free(*base);
        return -1;
    }
    return 0;
}

char *nnz_path_dir(const char *path, nnz_error *e)
{
    char *dir, *base;
    if (split_path(path, &dir, &base, e) != 0)
        return NULL;
    free(base);
    return dir;
}

char *nnz_out_tmp_name(const char *dest, nnz_error *e)
{
    char *dir, *base;
    if (split_path(dest, &dir, &base, e) != 0)
        return NULL;
    size_t n = strlen(dir) + strlen(base) + 64;
    char *tmp = nnz_malloc(n, e);
    if (tmp)
        snprintf(tmp, n, "%s/.%s.nnzip-tmp.%ld", dir, base, (long)getpid());
    free(dir);
    free(base);
    return tmp;
}

void nnz_out_clean_stale(const char *dest)
{
    nnz_error e = { 0 };
    char *dir, *base;
    if (split_path(dest, &dir, &base, &e) != 0)
        return;
    size_t bl = strlen(base);
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            const char *n = de->d_name;
            if (n[0] != '.' || strncmp(n + 1, base, bl) != 0 ||
                strncmp(n + 1 + bl, ".nnzip-tmp.", 11) != 0)
                continue;
            char *endp;
            long pid = strtol(n + 1 + bl + 11, &endp, 10);
            if (*endp || pid <= 0 || pid == (long)getpid())
                continue;
            if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
                continue; /* its writer may still be running */
            char path[4096];
            if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, n) < sizeof path)
                unlink(path);
        }
        closedir(d);
    }
    free(dir);
    free(base);
}

static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
           sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int nnz_out_open(nnz_out *o, const char *dest, const char *input, int binary, nnz_error *e)
{
    memset(o, 0, sizeof *o);
    if (strcmp(dest, "-") == 0) {
        if (binary && isatty(STDOUT_FILENO))
            return nnz_fail(e, NNZ_EXIT_USAGE,
                            "refusing to write binary output to a terminal; "
                            "use -o FILE or redirect stdout");
        o->f = tmpfile(); /* so a failure never sends half an output */
        if (!o->f)
            return nnz_fail(e, NNZ_EXIT_OUTPUT, "cannot create a temporary file: %s",
                            strerror(errno));
        return 0;
    }
    if (input && strcmp(input, "-") != 0 && (strcmp(dest, input) == 0 || same_file(dest, input)))
        return nnz_fail(e, NNZ_EXIT_USAGE,
                        "%s: output would overwrite the input; choose another -o", dest);
    struct stat st;
    if (stat(dest, &st) == 0 && S_ISDIR(st.st_mode))
        return nnz_fail(e, NNZ_EXIT_OUTPUT, "%s: is a directory; give a file name", dest);
    nnz_out_clean_stale(dest);
    o->dest = nnz_strdup(dest, e);
    o->tmp = nnz_out_tmp_name(dest, e);
    if (!o->dest || !o->tmp) {
        nnz_out_abort(o);
        return -1;
    }
    /* read-write: a writer may map what it wrote to check it */
    int fd = open(o->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        int err = errno;
        free(o->tmp);
        o->tmp = NULL;
        nnz_out_abort(o);
        return nnz_fail(e, NNZ_EXIT_OUTPUT, "%s: cannot create output: %s", dest, strerror(err));
    }
    o->f = fdopen(fd, "w+b");
    if (!o->f) {
        close(fd);
        nnz_out_abort(o);
        return nnz_fail(e, NNZ_EXIT_OUTPUT, "%s: cannot open output: %s", dest, strerror(errno));
    }
    return 0;
}

int nnz_out_commit(nnz_out *o, nnz_error *e)
{
    const char *name = o->dest ? o->dest : "(stdout)";
    if (fflush(o->f) != 0 || ferror(o->f)) {
        int err = errno;
        nnz_out_abort(o);
        return nnz_fail(e, NNZ_EXIT_OUTPUT, "%s: write failed: %s", name, strerror(err));
    }
    if (!o->dest) { /* copy the finished temporary file to stdout */
        rewind(o->f);
        char buf[1 << 16];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, o->f)) > 0)
            if (fwrite(buf, 1, n, stdout) != n)
                break;
        int bad = ferror(o->f) || fflush(stdout) != 0 || ferror(stdout);
        fclose(o->f);
        o->f = NULL;
        if (bad)
            return nnz_fail(e, NNZ_EXIT_OUTPUT, "(stdout): write failed: %s", strerror(errno));
        return 0;
    }
    if (fsync(fileno(o->f)) != 0 && errno != EINVAL) {
        int err = errno;
        nnz_out_abort(o);
        return nnz_fail(e, NNZ_EXIT_OUTPUT, "%s: write failed: %s", name, strerror(err));
    }
    if (fclose(o->f) != 0) {
        o->f = NULL;
        int err = errno;
        nnz_out_abort(o);
        return nnz_fail(e, NNZ_EXIT_OUTPUT, "%s: write failed: %s", name, strerror(err));
    }
    o->f = NULL;
    if (rename(o->tmp, o->dest) != 0) {
        int err = errno;
        nnz_out_abort(o);
        return nnz_fail(e, NNZ_EXIT_OUTPUT, "%s: cannot rename the finished output into place: %s",
                        name, strerror(err));
    }
    free(o->tmp);
    free(o->dest);
    o->tmp = o->dest = NULL;
    return 0;
}

void nnz_out_abort(nnz_out *o)
{
    if (o->f)
        fclose(o->f);
    if (o->tmp)
        unlink(o->tmp);
    free(o->tmp);
    free(o->dest);
    memset(o, 0, sizeof *o);
}
