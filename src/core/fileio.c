/* fileio.c - see fileio.h. */
#include "fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- inputs: files this run read, which no output may replace ----------- */

typedef struct file_id {
    dev_t dev;
    ino_t ino;
} file_id;

static struct {
    file_id *ids;
    size_t n, cap;
    int oom; /* an input could not be recorded: refuse every output */
} inputs;

static int note_stat(const struct stat *st)
{
    for (size_t i = 0; i < inputs.n; i++)
        if (inputs.ids[i].dev == st->st_dev && inputs.ids[i].ino == st->st_ino)
            return 0;
    if (inputs.n == inputs.cap) {
        size_t cap = inputs.cap ? inputs.cap * 2 : 16;
        file_id *ids = realloc(inputs.ids, cap * sizeof *ids);
        if (!ids) {
            inputs.oom = 1;
            return -1;
        }
        inputs.ids = ids;
        inputs.cap = cap;
    }
    inputs.ids[inputs.n++] = (file_id){ st->st_dev, st->st_ino };
    return 0;
}

int nnz_input_note_fd(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? note_stat(&st) : 0;
}

int nnz_input_note(const char *path)
{
    struct stat st;
    if (!path || strcmp(path, "-") == 0 || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    return note_stat(&st);
}

static int is_input(const struct stat *st)
{
    for (size_t i = 0; i < inputs.n; i++)
        if (inputs.ids[i].dev == st->st_dev && inputs.ids[i].ino == st->st_ino)
            return 1;
    return 0;
}

/* ---- temporary files that a signal must remove ---------------------------
 * A fixed table the handler can walk without locks: a slot is published
 * (its pointer stored) only once its path is complete. */

#define MAX_LIVE_TMP 32
static char *volatile live_tmp[MAX_LIVE_TMP];
static volatile sig_atomic_t handlers_set;

static void on_fatal_signal(int sig)
{
    for (int i = 0; i < MAX_LIVE_TMP; i++) {
        char *p = live_tmp[i];
        if (p)
            unlink(p); /* async-signal-safe */
    }
    /* die of the signal itself, so the parent sees it (status 128+N) */
    signal(sig, SIG_DFL);
    raise(sig);
}

static void set_handlers(void)
{
    static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
    if (handlers_set)
        return;
    handlers_set = 1;
    for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++) {
        struct sigaction sa, old;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_fatal_signal;
        sigemptyset(&sa.sa_mask);
        /* a signal the user's shell told us to ignore stays ignored */
        if (sigaction(sigs[k], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            sigaction(sigs[k], &sa, NULL);
    }
}

/* Returns 1 + the slot taken, 0 when the table is full. */
static int live_add(char *tmp)
{
    set_handlers();
    for (int i = 0; i < MAX_LIVE_TMP; i++)
        if (!live_tmp[i]) {
            live_tmp[i] = tmp;
            return i + 1;
        }
    return 0;
}

static void live_remove(int slot)
{
    if (slot > 0 && slot <= MAX_LIVE_TMP)
        live_tmp[slot - 1] = NULL;
}

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
        if (isatty(STDIN_FILENO)) /* waiting for a model typed in helps no one */
            return nnz_fail(e, NNZ_EXIT_USAGE, "refusing to read input from a terminal: give a "
                            "file name, or pipe it in ('... - < model.onnx')");
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
    nnz_input_note_fd(fd);
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

/* Where the output goes when `dest` names something that exists. */
static int check_existing(nnz_out *o, const char *dest, unsigned flags, nnz_error *e)
{
    struct stat st;
    if (lstat(dest, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        return nnz_fail(e, NNZ_EXIT_OUTPUT, "%s: cannot check the output: %s", dest,
                        strerror(errno));
    }
    if (S_ISLNK(st.st_mode))
        return nnz_fail(e, NNZ_EXIT_OUTPUT,
                        "%s: is a symbolic link; nnzip does not write through links: give "
                        "the file it points to, or remove the link", dest);
    if (S_ISDIR(st.st_mode))
        return nnz_fail(e, NNZ_EXIT_OUTPUT, "%s: is a directory; give a file name", dest);
    if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) {
        o->through = S_ISCHR(st.st_mode) ? 'c' : 'p';
        return 0;
    }
    if (!S_ISREG(st.st_mode))
        return nnz_fail(e, NNZ_EXIT_OUTPUT,
                        "%s: is a %s; nnzip writes regular files, character devices and FIFOs",
                        dest, S_ISBLK(st.st_mode) ? "block device" : "socket");
    if (is_input(&st))
        return nnz_fail(e, NNZ_EXIT_USAGE,
                        "%s: output would overwrite the input (or a file it read: external "
                        "data, a config); choose another -o", dest);
    if (!(flags & NNZ_OUT_FORCE))
        return nnz_fail(e, NNZ_EXIT_USAGE, "%s: already exists; use -f (--force) to replace it",
                        dest);
    o->replace = 1;
    return 0;
}

int nnz_out_check(const char *dest, const char *input, unsigned flags, nnz_error *e)
{
    nnz_out o = { 0 };
    if (input && nnz_input_note(input) != 0)
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory");
    return strcmp(dest, "-") == 0 ? 0 : check_existing(&o, dest, flags, e);
}

int nnz_out_open(nnz_out *o, const char *dest, const char *input, unsigned flags, nnz_error *e)
{
    memset(o, 0, sizeof *o);
    if (input && nnz_input_note(input) != 0)
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory");
    if (inputs.oom)
        return nnz_fail(e, NNZ_EXIT_INTERNAL,
                        "out of memory while recording the inputs; refusing to write");
    if (strcmp(dest, "-") == 0) {
        if ((flags & NNZ_OUT_BINARY) && isatty(STDOUT_FILENO))
            return nnz_fail(e, NNZ_EXIT_USAGE,
                            "refusing to write binary output to a terminal; "
                            "use -o FILE or redirect stdout");
        o->f = tmpfile(); /* so a failure never sends half an output */
        if (!o->f)
            return nnz_fail(e, NNZ_EXIT_OUTPUT, "cannot create a temporary file: %s",
                            strerror(errno));
        return 0;
    }
    if (check_existing(o, dest, flags, e) != 0)
        return -1;
    o->dest = nnz_strdup(dest, e);
    if (!o->dest)
        return -1;
    if (o->through) {
        /* a device or FIFO: collect the whole output first, like stdout.
         * Only a device is opened now, to see whether it is a terminal: a
         * FIFO opened and closed would tell its reader the data ended. */
        int tty = 0;
        if (o->through == 'c') {
            int fd = open(dest, O_WRONLY | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
            tty = fd >= 0 && isatty(fd);
            if (fd >= 0)
                close(fd);
        }
        if ((flags & NNZ_OUT_BINARY) && tty) {
            nnz_out_abort(o);
            return nnz_fail(e, NNZ_EXIT_USAGE, "%s: refusing to write binary output to a "
                            "terminal", dest);
        }
        if (!(o->f = tmpfile())) {
            nnz_out_abort(o);
            return nnz_fail(e, NNZ_EXIT_OUTPUT, "cannot create a temporary file: %s",
                            strerror(errno));
        }
        return 0;
    }
    nnz_out_clean_stale(dest);
    o->tmp = nnz_out_tmp_name(dest, e);
    if (!o->tmp) {
        nnz_out_abort(o);
        return -1;
    }
    /* O_EXCL | O_NOFOLLOW: never truncate whatever sits at the temp name */
    int fd = open(o->tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0) {
        int err = errno;
        free(o->tmp);
        o->tmp = NULL;
        nnz_out_abort(o);
        return nnz_fail(e, NNZ_EXIT_OUTPUT, "%s: cannot create output: %s", dest, strerror(err));
    }
    if ((o->slot = live_add(o->tmp)) == 0) {
        close(fd);
        nnz_out_abort(o);
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "%s: more than %d outputs open at once", dest,
                        MAX_LIVE_TMP);
    }
    /* read-write: a writer may map what it wrote to check it */
    o->f = fdopen(fd, "w+b");
    if (!o->f) {
        close(fd);
        nnz_out_abort(o);
        return nnz_fail(e, NNZ_EXIT_OUTPUT, "%s: cannot open output: %s", dest, strerror(errno));
    }
    return 0;
}

/* Copy the finished anonymous temporary file to `out`. */
static int copy_out(FILE *from, FILE *out)
{
    rewind(from);
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, from)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            return -1;
    return ferror(from) || fflush(out) != 0 || ferror(out) ? -1 : 0;
}

/* Rename into place; without -f, never over a file that appeared since
 * nnz_out_open looked (RENAME_NOREPLACE where the filesystem has it). */
static int place(const nnz_out *o)
{
    if (o->replace)
        return rename(o->tmp, o->dest);
#ifdef RENAME_NOREPLACE
    if (renameat2(AT_FDCWD, o->tmp, AT_FDCWD, o->dest, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
#endif
    if (link(o->tmp, o->dest) != 0)
        return -1;
    unlink(o->tmp);
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
    if (!o->tmp) { /* stdout, a device or a FIFO */
        FILE *out = stdout;
        if (o->dest && !(out = fopen(o->dest, "wb"))) {
            int err = errno;
            nnz_out_abort(o);
            return nnz_fail(e, NNZ_EXIT_OUTPUT, "%s: cannot open: %s", name, strerror(err));
        }
        errno = 0;
        int bad = copy_out(o->f, out);
        int err = errno;
        if (out != stdout && fclose(out) != 0)
            bad = 1;
        nnz_out_abort(o);
        if (bad)
            return nnz_fail(e, NNZ_EXIT_OUTPUT, "%s: write failed: %s", name,
                            err ? strerror(err) : "short write");
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
    if (place(o) != 0) {
        int err = errno;
        nnz_out_abort(o);
        if (err == EEXIST)
            return nnz_fail(e, NNZ_EXIT_USAGE, "%s: appeared while nnzip was writing it; use -f "
                            "(--force) to replace it", name);
        return nnz_fail(e, NNZ_EXIT_OUTPUT, "%s: cannot rename the finished output into place: %s",
                        name, strerror(err));
    }
    live_remove(o->slot);
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
    live_remove(o->slot);
    free(o->tmp);
    free(o->dest);
    memset(o, 0, sizeof *o);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) != 0; /* a failure stops the walk */
}

int nnz_remove_tree(const char *dir)
{
    return dir && nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 ? -1 : 0;
}
