/* cli_util.c - see cli.h. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "model.h"
#include "strmap.h"
#include "nnz_limits.h"
#include "save.h"

cli_opts g_cli;

/* Length of the valid UTF-8 sequence at s that is printable (not a C1
 * control, U+0080..U+009F), or 0. */
static size_t utf8_printable(const unsigned char *s)
{
    size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (n == 0 || s[0] > 0xf4)
        return 0;
    for (size_t k = 1; k < n; k++)
        if ((s[k] & 0xc0) != 0x80)
            return 0;
    if (n == 2 && s[0] == 0xc2 && s[1] < 0xa0)
        return 0;
    if ((n == 3 && s[0] == 0xe0 && s[1] < 0xa0) || (n == 4 && s[0] == 0xf0 && s[1] < 0x90) ||
        (n == 4 && s[0] == 0xf4 && s[1] >= 0x90) || (n == 3 && s[0] == 0xed && s[1] >= 0xa0))
        return 0; /* overlong, past U+10FFFF, surrogates */
    return n;
}

void cli_escape(char *out, size_t cap, const char *in)
{
    size_t o = 0;
    const unsigned char *s = (const unsigned char *)(in ? in : "");
    while (*s && cap - o > 5) {
        size_t n = *s >= 0x80 ? utf8_printable(s) : (*s >= 0x20 && *s != 0x7f);
        if (n && cap - o > n) {
            memcpy(out + o, s, n);
            o += n;
            s += n;
        } else {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", *s++);
        }
    }
    if (*s && cap >= 4)
        memcpy(out + (o = cap - 4), "...", 3), o += 3;
    out[o < cap ? o : cap - 1] = '\0';
}

const char *cli_esc(const char *s)
{
    static char ring[8][1024];
    static unsigned next;
    char *b = ring[next++ % 8];
    cli_escape(b, sizeof ring[0], s);
    return b;
}

/* A one-line message on stderr, its control characters escaped. */
static void message(const char *prefix, const char *fmt, va_list ap)
{
    char raw[4096], safe[4096];
    vsnprintf(raw, sizeof raw, fmt, ap);
    cli_escape(safe, sizeof safe, raw);
    fprintf(stderr, "%s%s\n", prefix, safe);
}

static void message_f(const char *prefix, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    message(prefix, fmt, ap);
    va_end(ap);
}

int cli_report(const nnz_error *e)
{
    message_f("nnzip: ", "%s", e->msg);
    return e->code ? e->code : NNZ_EXIT_INTERNAL;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "nnzip%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    va_list ap;
    va_start(ap, fmt);
    message(prefix, fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try 'nnzip %s%s--help'.\n", cmd ? cmd : "", cmd ? " " : "");
    return NNZ_EXIT_USAGE;
}

void cli_note(const char *fmt, ...)
{
    if (g_cli.quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    message("nnzip: ", fmt, ap);
    va_end(ap);
}

int cli_bad_option(const char *cmd, int c, char **argv)
{
    /* getopt's own messages are off (opterr = 0 in main): one line here */
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    int is_long = strncmp(arg, "--", 2) == 0;
    int len = (int)strcspn(arg, "=");
    if (c == ':')
        return is_long ? cli_usage(cmd, "option '%.*s' needs a value", len, arg)
                       : cli_usage(cmd, "option '-%c' needs a value", optopt);
    return is_long || !optopt ? cli_usage(cmd, "unknown option '%.*s'", len, arg)
                              : cli_usage(cmd, "unknown option '-%c'", optopt);
}

/* The shape of a warning: its digits collapsed, so "rel_l2 0.931" and
 * "rel_l2 0.942" say the same thing (the caller frees). */
static char *warning_shape(const char *what)
{
    char *k = malloc(strlen(what) + 1), *o = k;
    for (const char *p = what; k && *p; p++) {
        int digit = (*p >= '0' && *p <= '9') || (*p == '.' && p[1] >= '0' && p[1] <= '9');
        if (!digit || o == k || o[-1] != '#')
            *o++ = digit ? '#' : *p;
    }
    if (k)
        *o = '\0';
    return k;
}

void cli_print_warnings(const cJSON *warnings)
{
    /* "tensor 'NAME': what" warnings of the same shape become one line with
     * a count and the first names (a recipe can warn for every tensor);
     * --json keeps every one */
    enum { SHOWN = 3 };
    typedef struct group {
        const char *what, *names[SHOWN];
        size_t count;
        int differ; /* the figures differ between its tensors */
    } group;
    size_t n = (size_t)cJSON_GetArraySize(warnings), ng = 0, nown = 0;
    group *g = calloc(n ? n : 1, sizeof *g);
    char **own = calloc(2 * (n ? n : 1), sizeof *own); /* names and shapes */
    nnz_strmap by_shape = { 0 };
    nnz_error e = { 0 };
    const cJSON *x;
    int ok = g && own && nnz_strmap_init(&by_shape, 64, &e) == 0;
    cJSON_ArrayForEach(x, warnings)
    {
        const char *w = cJSON_GetStringValue(x), *end;
        char *name = NULL, *shape = NULL;
        size_t k;
        if (!w)
            continue;
        if (!ok || strncmp(w, "tensor '", 8) != 0 || !(end = strstr(w + 8, "': ")) ||
            !(name = strndup(w + 8, (size_t)(end - (w + 8)))) ||
            !(shape = warning_shape(end + 3))) {
            free(name);
            if (ok) { /* not about one tensor: as it is */
                g[ng].what = w;
                g[ng++].count = 0;
            } else {
                fprintf(stderr, "nnzip: warning: %s\n", cli_esc(w));
            }
            continue;
        }
        own[nown++] = name;
        own[nown++] = shape;
        if (!nnz_strmap_get(&by_shape, shape, &k)) {
            k = ng++;
            g[k].what = end + 3;
            nnz_strmap_put(&by_shape, shape, k, &e); /* on failure: a line of its own */
        } else if (strcmp(g[k].what, end + 3) != 0) {
            g[k].differ = 1;
        }
        if (g[k].count < SHOWN)
            g[k].names[g[k].count] = name;
        g[k].count++;
    }
    for (size_t k = 0; k < ng; k++) {
        if (g[k].count == 0) {
            fprintf(stderr, "nnzip: warning: %s\n", cli_esc(g[k].what));
        } else if (g[k].count == 1) {
            fprintf(stderr, "nnzip: warning: tensor '%s': %s\n", cli_esc(g[k].names[0]),
                    cli_esc(g[k].what));
        } else {
            char list[1024] = "";
            for (size_t i = 0; i < SHOWN && i < g[k].count; i++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s'%s'", i ? ", " : "",
                         cli_esc(g[k].names[i]));
            fprintf(stderr, "nnzip: warning: %zu tensors (%s%s): %s%s\n", g[k].count, list,
                    g[k].count > SHOWN ? ", ..." : "", cli_esc(g[k].what),
                    g[k].differ ? " (the figures are the first's; --json has each)" : "");
        }
    }
    for (size_t i = 0; i < nown; i++)
        free(own[i]);
    free(own);
    nnz_strmap_free(&by_shape);
    free(g);
}

const char *cli_default_output(char *buf, size_t cap, const char *in, const char *from,
                               const char *to)
{
    if (strcmp(in, "-") == 0)
        return NULL;
    size_t n = strlen(in), lf = strlen(from);
    if (n > lf && strcmp(in + n - lf, from) == 0)
        n -= lf;
    if ((size_t)snprintf(buf, cap, "%.*s%s", (int)n, in, to) >= cap)
        return NULL;
    return buf;
}

void cli_wrap(FILE *f, int col, int indent, const char *text)
{
    const char *p = text;
    while (*p) {
        size_t word = strcspn(p, " ");
        if (col > indent && col + 1 + (int)word > 80) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        } else if (p != text) {
            fputc(' ', f);
            col++;
        }
        fwrite(p, 1, word, f);
        col += (int)word;
        p += word;
        while (*p == ' ')
            p++;
    }
    fputc('\n', f);
}

unsigned cli_out_flags(unsigned flags)
{
    return flags | (g_cli.force ? NNZ_OUT_FORCE : 0u);
}

int cli_print_json(cJSON *doc)
{
    char *s = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (!s) {
        fprintf(stderr, "nnzip: out of memory printing the JSON report\n");
        return NNZ_EXIT_INTERNAL;
    }
    errno = 0;
    int bad = fputs(s, stdout) == EOF || fputc('\n', stdout) == EOF || fflush(stdout) != 0;
    free(s);
    if (bad) {
        fprintf(stderr, "nnzip: (stdout): cannot write the JSON report: %s\n",
                errno ? strerror(errno) : "write error");
        return NNZ_EXIT_OUTPUT;
    }
    return 0;
}

int cli_file_open(cli_file *f, const char *path, nnz_error *e)
{
    memset(f, 0, sizeof *f);
    if (strcmp(path, "-") != 0) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd >= 0 && nnz_input_note_fd(fd) != 0) {
            close(fd);
            return nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory");
        }
        if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
            void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
            close(fd);
            if (p != MAP_FAILED) {
                f->data = p;
                f->size = (size_t)st.st_size;
                f->mapped = 1;
                return 0;
            }
        } else if (fd >= 0) {
            close(fd);
        }
    }
    uint8_t *data;
    if (nnz_read_file(path, &data, &f->size, e) != 0)
        return -1;
    f->data = data;
    return 0;
}

void cli_file_drop(const cli_file *f)
{
    /* a private read-only mapping: dropped pages are read again on use */
    if (f->mapped)
        madvise((void *)f->data, f->size, MADV_DONTNEED);
}

void cli_file_close(cli_file *f)
{
    if (f->mapped)
        munmap((void *)f->data, f->size);
    else
        free((void *)f->data);
    memset(f, 0, sizeof *f);
}

int cli_is_blob(const uint8_t *data, size_t size)
{
    return size >= 4 && memcmp(data, "NNZB", 4) == 0;
}

const char *cli_status_msg(nnz_status st)
{
    /* the runtime's messages are terse for small devices; say more here */
    static const struct { nnz_status st; const char *msg; } longer[] = {
        { NNZ_E_TRUNCATED, "blob is truncated: it ends before what its header describes" },
        { NNZ_E_MAGIC, "not an .nnz blob (it does not start with the NNZB magic)" },
        { NNZ_E_CHECKSUM, "checksum mismatch: the blob is corrupt" },
        { NNZ_E_CORRUPT, "blob is malformed: a field is out of range or inconsistent" },
        { NNZ_E_ENCODING, "a tensor uses an encoding this nnzip does not know" },
        { NNZ_E_OVERFLOW, "a size in the blob overflows" },
        { NNZ_E_UNSUPPORTED, "a tensor needs a runtime feature this build left out" },
    };
    for (size_t i = 0; i < sizeof longer / sizeof longer[0]; i++)
        if (longer[i].st == st)
            return longer[i].msg;
    return nnz_strerror(st);
}

int cli_blob_error(nnz_error *e, const char *path, const uint8_t *data, const nnz_blob *b,
                   nnz_status st)
{
    if (st == NNZ_E_VERSION) {
        unsigned major = (unsigned)(data[8] | data[9] << 8);
        unsigned minor = (unsigned)(data[10] | data[11] << 8);
        return nnz_fail(e, NNZ_EXIT_INPUT,
                        "%s: blob format version %u.%u is newer than this nnzip reads "
                        "(%d.x and older); upgrade nnzip", path, major, minor, NNZ_FORMAT_MAJOR);
    }
    const char *msg = cli_status_msg(st);
    static const char *where[] = { "in the header", "in section", "in the directory",
                                   "in the directory entry of tensor" };
    char at[64] = "";
    if (b->fail_at == NNZ_AT_SECTION || b->fail_at == NNZ_AT_TENSOR)
        snprintf(at, sizeof at, "%s %u", where[b->fail_at], b->fail_index);
    else if (b->fail_at < 4)
        snprintf(at, sizeof at, "%s", where[b->fail_at]);
    return nnz_fail(e, NNZ_EXIT_INPUT, "%s: %s, %s (status %d; docs/FORMAT.md lists each check)",
                    path, msg, at, (int)st);
}

nnz_status cli_blob_check(const cli_file *f, nnz_blob *b, unsigned flags)
{
    /* A large mapped payload is checked here in pieces, each let go after,
     * so memory stays bounded; nnz_open checks everything else. */
    int chunked = f->mapped && !(flags & NNZ_OPEN_SKIP_PAYLOAD_CRC);
    nnz_status st = nnz_open(b, f->data, f->size, flags | (chunked ? NNZ_OPEN_SKIP_PAYLOAD_CRC : 0));
    if (st == NNZ_OK && chunked) {
        uint32_t crc = 0;
        const size_t piece = 64u << 20;
        for (size_t at = 0; at < b->payload_size; at += piece) {
            size_t n = b->payload_size - at < piece ? b->payload_size - at : piece;
            crc = nnz_crc32(crc, b->payload + at, n);
            cli_file_drop(f);
        }
        if (crc != b->payload_crc) {
            memset(b, 0, sizeof *b);
            b->fail_at = NNZ_AT_SECTION;
            st = NNZ_E_CHECKSUM;
            for (uint32_t i = 0; i < 64 && 64 + 32 * (size_t)(i + 1) <= f->size; i++)
                if (f->data[64 + 32 * i] == 3) /* the payload's entry in the table */
                    b->fail_index = i;
        }
    }
    return st;
}

int cli_blob_open(cli_file *f, nnz_blob *b, const char *path, unsigned flags, nnz_error *e)
{
    if (cli_file_open(f, path, e) != 0)
        return -1;
    nnz_status st = cli_blob_check(f, b, flags);
    if (st == NNZ_OK)
        return 0;
    cli_blob_error(e, path, f->data, b, st);
    cli_file_close(f);
    return -1;
}

int cli_blob_limits(const nnz_blob *b, const char *path, nnz_error *e)
{
    uint64_t total = 0, model;
    size_t work;
    if (b->graph_packed &&
        b->graph_size > (uint64_t)b->graph_packed_size * NNZ_MAX_GRAPH_EXPANSION + 65536)
        return nnz_fail(e, NNZ_EXIT_INPUT, "%s: the compressed graph declares %zu bytes from %zu, "
                        "over the limit of %u bytes per byte plus 64 KiB", path, b->graph_size,
                        b->graph_packed_size, NNZ_MAX_GRAPH_EXPANSION);
    for (uint32_t i = 0; i < nnz_tensor_count(b); i++) {
        nnz_tensor_info info;
        size_t out, scratch;
        if (nnz_tensor_info_get(b, i, &info) != NNZ_OK)
            continue; /* nnz_open checked every entry: not reached */
        if (info.decoded_size > NNZ_MAX_TENSOR_BYTES)
            return nnz_fail(e, NNZ_EXIT_INPUT, "%s: tensor '%.*s' declares %llu decoded bytes, "
                            "over the %llu-byte tensor limit", path, (int)info.name_len,
                            info.name_bytes,
                            (unsigned long long)info.decoded_size, NNZ_MAX_TENSOR_BYTES);
        total += info.decoded_size; /* no wrap: each is below 2^36, and there are < 2^32 */
        if (total > NNZ_MAX_DECODED_BYTES)
            return nnz_fail(e, NNZ_EXIT_INPUT, "%s: the tensors declare more than %llu decoded "
                            "bytes in all (the limit of one blob)", path, NNZ_MAX_DECODED_BYTES);
        /* a tensor this runtime cannot decode fails later, with its status */
        if (nnz_decode_sizes(b, i, NNZ_OUT_NATIVE, &out, &scratch) == NNZ_OK &&
            scratch > NNZ_MAX_DECODE_WORK)
            return nnz_fail(e, NNZ_EXIT_INPUT, "%s: tensor '%.*s' needs %zu bytes of work memory "
                            "to decode, over the %llu-byte limit", path, (int)info.name_len,
                            info.name_bytes, scratch,
                            NNZ_MAX_DECODE_WORK);
    }
    nnz_status st = nnz_rebuild_sizes(b, &model, &work);
    if (st == NNZ_OK && model > NNZ_PROTOBUF_LIMIT)
        return nnz_fail(e, NNZ_EXIT_INPUT, "%s: the rebuilt model would be %llu bytes, past "
                        "protobuf's %llu-byte limit for a model (only external tensors may be "
                        "larger)", path, (unsigned long long)model, NNZ_PROTOBUF_LIMIT);
    return 0;
}

int cli_parse_double(const char *s, double *v)
{
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (errno || end == s || *end || !(x >= 0) || x > 1e300)
        return -1;
    *v = x;
    return 0;
}

int cli_model_from_file(const cli_file *f, const char *path, nnz_model **m, nnz_error *e)
{
    if (cli_is_blob(f->data, f->size))
        return nnz_fail(e, NNZ_EXIT_INPUT, "%s: this is an .nnz blob, not an ONNX model; did you "
                        "mean 'nnzip decompress %s' or 'nnzip info %s' (verify takes the model "
                        "first, then the blob)?", path, path, path);
    char *dir = strcmp(path, "-") == 0 ? NULL : nnz_path_dir(path, e);
    if (strcmp(path, "-") != 0 && !dir)
        return -1;
    int rc = nnz_model_load_bytes(f->data, f->size, path, dir, m, e);
    free(dir);
    if (rc != 0)
        return nnz_wrap(e, "%s: ", path);
    return 0;
}

int cli_model_load(const char *path, nnz_model **m, nnz_error *e)
{
    cli_file f;
    if (cli_file_open(&f, path, e) != 0)
        return -1;
    int rc = cli_model_from_file(&f, path, m, e);
    cli_file_close(&f);
    return rc;
}
