/* onnx_out.c - writing the ONNX model a blob holds: rebuilt by the runtime
 * (the decoder devices run), checked to be a valid protobuf, and, with
 * --qdq, rewritten so quantized weights stay quantized in the model. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fileio.h"
#include "model.h"
#include "qdq.h"
#include "save.h"
#include "strmap.h"
#include "wire.h"

typedef struct mem_out {
    uint8_t *p;
    size_t len, cap;
} mem_out;

static int write_mem(void *ctx, const void *data, size_t size)
{
    mem_out *m = ctx;
    if (m->cap - m->len < size)
        return -1;
    memcpy(m->p + m->len, data, size);
    m->len += size;
    return 0;
}

int cli_rebuild(const nnz_blob *b, const char *name, uint8_t **bytes, size_t *len, nnz_error *e)
{
    uint64_t model_size;
    size_t work_size;
    nnz_status st = nnz_rebuild_sizes(b, &model_size, &work_size);
    void *work = NULL;
    mem_out mo = { 0 };
    if (st == NNZ_OK && (model_size > SIZE_MAX - 1 || !(mo.p = malloc((size_t)model_size + 1)) ||
                         (work_size && !(work = malloc(work_size))))) {
        free(mo.p);
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory (the model is %llu bytes)",
                        (unsigned long long)model_size);
    }
    mo.cap = (size_t)model_size;
    if (st == NNZ_OK)
        st = nnz_rebuild(b, write_mem, &mo, work, work_size);
    free(work);
    if (st != NNZ_OK) {
        free(mo.p);
        return nnz_fail(e, NNZ_EXIT_INPUT, "%s: cannot rebuild the model: %s (status %d)", name,
                        cli_status_msg(st), (int)st);
    }
    /* The runtime does not parse protobuf; check that what it built is one,
     * so a blob whose graph and directory disagree is caught here. */
    uint64_t mem;
    if (nnz_wire_check(mo.p, mo.len, &onnx__model_proto__descriptor, &mem, e) != 0) {
        free(mo.p);
        nnz_wrap(e, "%s: the rebuilt model is not valid ONNX (graph and directory disagree): ",
                 name);
        e->code = NNZ_EXIT_INPUT;
        return -1;
    }
    *bytes = mo.p;
    *len = mo.len;
    return 0;
}

/* Write the external tensors of `b` into the opened output `out` (the file
 * `path`), each at its offset, decoded a piece at a time. */
static int write_external(const nnz_blob *b, const cli_file *f, nnz_out *out, const char *path,
                          nnz_error *e)
{
    uint64_t at = 0;
    const size_t piece = 1u << 20; /* memory: this, and a tensor's scratch */
    uint8_t *buf = malloc(piece), *scratch = NULL;
    int rc = buf ? 0 : nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory");
    for (uint32_t i = 0; i < nnz_tensor_count(b) && rc == 0; i++) {
        nnz_tensor_info info;
        size_t osz, ssz;
        nnz_status st = nnz_tensor_info_get(b, i, &info);
        if (st == NNZ_OK && !(info.location & NNZ_LOC_EXTERNAL))
            continue;
        if (st == NNZ_OK)
            st = nnz_decode_sizes(b, i, NNZ_OUT_NATIVE, &osz, &ssz);
        if (st != NNZ_OK) {
            rc = nnz_fail(e, NNZ_EXIT_INPUT, "tensor %u: %s", i, cli_status_msg(st));
            break;
        }
        for (; at < info.graph_offset && rc == 0; at++) /* zeros up to its offset */
            if (fputc(0, out->f) == EOF)
                rc = -1;
        size_t es = info.count ? (size_t)(info.decoded_size / info.count) : 1, got;
        uint8_t *ns = realloc(scratch, ssz ? ssz : 1);
        if (!ns) {
            rc = nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory");
            break;
        }
        scratch = ns;
        /* a piece at a time, whatever the size of the tensor's blocks */
        nnz_reader rd;
        st = nnz_reader_open(&rd, b, i, NNZ_OUT_NATIVE, scratch, ssz);
        while (rc == 0 && st == NNZ_OK && (st = nnz_reader_read(&rd, buf, piece, &got)) == NNZ_OK &&
               got)
            if (fwrite(buf, es, got, out->f) != got)
                rc = -1;
        if (rc == 0 && st != NNZ_OK)
            rc = nnz_fail(e, NNZ_EXIT_INPUT, "tensor '%.*s': %s", (int)info.name_len,
                          info.name_bytes, cli_status_msg(st));
        at = info.graph_offset + info.decoded_size;
        cli_file_drop(f); /* this tensor's payload is done with */
    }
    free(buf);
    free(scratch);
    if (rc != 0 && !e->code)
        nnz_fail(e, NNZ_EXIT_OUTPUT, "%s: write failed", path);
    return rc;
}

static int has_external(const nnz_blob *b)
{
    for (uint32_t i = 0; i < nnz_tensor_count(b); i++) {
        nnz_tensor_info info;
        if (nnz_tensor_info_get(b, i, &info) == NNZ_OK && (info.location & NNZ_LOC_EXTERNAL))
            return 1;
    }
    return 0;
}

typedef struct file_sink {
    FILE *f;
    const cli_file *blob;
    uint64_t since_drop;
} file_sink;

/* Write, and every 64 MiB let go of the blob pages read so far. */
static int write_file(void *ctx, const void *data, size_t size)
{
    file_sink *s = ctx;
    if (fwrite(data, 1, size, s->f) != size)
        return -1;
    if ((s->since_drop += size) >= (64u << 20)) {
        cli_file_drop(s->blob);
        s->since_drop = 0;
    }
    return 0;
}

/* Stream the rebuilt model into `out` (a temporary file), then check it is a
 * valid ModelProto by mapping what was written: memory stays bounded by a
 * block, whatever the model's size. */
static int stream_model(const nnz_blob *b, const cli_file *f, nnz_out *out, const char *name,
                        nnz_error *e)
{
    uint64_t model_size;
    size_t work_size;
    void *work = NULL;
    nnz_status st = nnz_rebuild_sizes(b, &model_size, &work_size);
    if (st == NNZ_OK && work_size && !(work = malloc(work_size)))
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory (%zu bytes of work memory)",
                        work_size);
    file_sink sink = { out->f, f, 0 };
    if (st == NNZ_OK)
        st = nnz_rebuild(b, write_file, &sink, work, work_size);
    free(work);
    cli_file_drop(f);
    if (st == NNZ_E_WRITE)
        return nnz_fail(e, NNZ_EXIT_OUTPUT, "%s: write failed: %s", name, strerror(errno));
    if (st != NNZ_OK)
        return nnz_fail(e, NNZ_EXIT_INPUT, "%s: cannot rebuild the model: %s (status %d)", name,
                        cli_status_msg(st), (int)st);
    if (fflush(out->f) != 0)
        return nnz_fail(e, NNZ_EXIT_OUTPUT, "%s: write failed: %s", name, strerror(errno));
    /* The runtime does not parse protobuf: load what it built back, so a
     * blob whose graph and directory disagree never lands. */
    return nnz_model_check_output(out, out->dest ? out->dest : "(stdout)", NULL, NULL, e);
}

/* A model whose large weights live in an external data file: the file is
 * OUT.data, named after the output (never after what the blob recorded,
 * which is information only), and the model is repacked to name it. */
static int external_model(const nnz_blob *b, const cli_file *f, const char *blob_path,
                          const char *onnx_path, const char *input, unsigned flags,
                          nnz_error *e)
{
    size_t n = strlen(onnx_path) + 6;
    char *data_path = nnz_malloc(n, e);
    if (!data_path)
        return -1;
    snprintf(data_path, n, "%s.data", onnx_path);
    const char *slash = strrchr(data_path, '/'), *location = slash ? slash + 1 : data_path;
    nnz_out out = { 0 }, data = { 0 };
    uint8_t *bytes = NULL, *moved = NULL;
    size_t len = 0, mlen = 0;
    int rc = nnz_out_open(&out, onnx_path, input, flags, e);
    if (rc == 0 && !out.tmp)
        rc = nnz_fail(e, NNZ_EXIT_USAGE, "%s: the model has external data, which needs a file "
                      "beside it; give -o a file name (not a device or a FIFO)", onnx_path);
    if (rc == 0)
        rc = nnz_out_open(&data, data_path, input, flags, e);
    if (rc == 0 && !data.tmp)
        rc = nnz_fail(e, NNZ_EXIT_USAGE, "%s: must be a regular file (external data)", data_path);
    if (rc == 0)
        rc = write_external(b, f, &data, data_path, e);
    if (rc == 0 && fflush(data.f) != 0)
        rc = nnz_fail(e, NNZ_EXIT_OUTPUT, "%s: write failed: %s", data_path, strerror(errno));
    if (rc == 0)
        rc = cli_rebuild(b, blob_path, &bytes, &len, e);
    if (rc == 0)
        rc = nnz_model_relocate_external(bytes, len, location, &moved, &mlen, e);
    if (rc == 0 && fwrite(moved, 1, mlen, out.f) != mlen)
        rc = nnz_fail(e, NNZ_EXIT_OUTPUT, "%s: write failed: %s", onnx_path, strerror(errno));
    if (rc == 0)
        rc = nnz_model_check_output(&out, onnx_path, &data, location, e);
    if (rc == 0)
        rc = nnz_out_commit(&data, e);
    if (rc == 0)
        rc = nnz_out_commit(&out, e);
    if (rc != 0) {
        nnz_out_abort(&data);
        nnz_out_abort(&out);
    }
    free(bytes);
    free(moved);
    free(data_path);
    return rc;
}

int cli_onnx_from_blob(const char *blob_path, const char *onnx_path, const char *input,
                       int qdq, cJSON *qdq_report, nnz_error *e)
{
    cli_file f;
    nnz_blob b;
    if (cli_blob_open(&f, &b, blob_path, 0, e) != 0)
        return -1;
    if (cli_blob_limits(&b, blob_path, e) != 0) { /* before any allocation or output */
        cli_file_close(&f);
        return -1;
    }
    cli_file_drop(&f); /* nnz_open read every page for the checksums */
    int rc = 0;
    unsigned flags = cli_out_flags(NNZ_OUT_BINARY);
    if (has_external(&b)) {
        if (qdq)
            rc = nnz_fail(e, NNZ_EXIT_USAGE, "--qdq is not available for models with external "
                          "data; decompress without --qdq");
        else if (strcmp(onnx_path, "-") == 0)
            rc = nnz_fail(e, NNZ_EXIT_USAGE, "%s: the model has external data, which cannot go "
                          "to stdout; give -o FILE", blob_path);
        else
            rc = external_model(&b, &f, blob_path, onnx_path, input, flags, e);
    } else if (!qdq) {
        nnz_out out;
        rc = nnz_out_open(&out, onnx_path, input, flags, e);
        if (rc == 0 && stream_model(&b, &f, &out, blob_path, e) != 0) {
            nnz_out_abort(&out);
            rc = -1;
        } else if (rc == 0) {
            rc = nnz_out_commit(&out, e);
        }
    } else {
        uint8_t *bytes = NULL;
        size_t len = 0;
        nnz_model *m;
        rc = cli_rebuild(&b, blob_path, &bytes, &len, e);
        if (rc == 0)
            rc = nnz_model_load_bytes(bytes, len, blob_path, NULL, &m, e);
        free(bytes);
        if (rc == 0) {
            rc = nnz_qdq_rewrite(m, &b, qdq_report, e);
            if (rc == 0)
                rc = nnz_model_save(m, onnx_path, input, NNZ_EXTERNAL_AUTO, flags, e);
            nnz_model_free(m);
        }
    }
    cli_file_close(&f);
    return rc;
}

void cli_qdq_report_text(const char *onnx_path, const cJSON *qdq)
{
    static const char *const forms[] = { "DequantizeLinear", "Cast+Mul", "Gather", "Cast",
                                         "float" };
    size_t count[5] = { 0 };
    const cJSON *x;
    cJSON_ArrayForEach(x, qdq)
    {
        const char *as = cJSON_GetStringValue(cJSON_GetObjectItem(x, "as"));
        for (size_t k = 0; as && k < 5; k++)
            count[k] += strcmp(as, forms[k]) == 0;
        if (g_cli.verbose) {
            const char *note = cJSON_GetStringValue(cJSON_GetObjectItem(x, "note"));
            fprintf(stderr, "  %-40s %-16s%s%s\n", cli_esc(cJSON_GetStringValue(cJSON_GetObjectItem(x, "name"))),
                    as ? as : "?", note ? " " : "", note ? note : "");
        }
    }
    /* one warning per distinct reason, with how many tensors and one name,
     * in the order the reasons first appear (a hash map: a million tensors
     * must not take n^2 comparisons) */
    nnz_error e = { 0 };
    nnz_strmap seen = { 0 };
    size_t n = (size_t)cJSON_GetArraySize(qdq), nnotes = 0;
    struct note_count {
        const char *note, *first;
        size_t count;
    } *notes = malloc((n ? n : 1) * sizeof *notes);
    if (notes && nnz_strmap_init(&seen, 64, &e) == 0) {
        cJSON_ArrayForEach(x, qdq)
        {
            const char *note = cJSON_GetStringValue(cJSON_GetObjectItem(x, "note"));
            size_t k;
            if (!note)
                continue;
            if (nnz_strmap_get(&seen, note, &k)) {
                notes[k].count++;
            } else if (nnz_strmap_put(&seen, note, nnotes, &e) == 0) {
                notes[nnotes++] = (struct note_count){
                    note, cJSON_GetStringValue(cJSON_GetObjectItem(x, "name")), 1
                };
            }
        }
        for (size_t k = 0; k < nnotes; k++)
            fprintf(stderr, "nnzip: warning: --qdq: %zu tensor%s (e.g. '%s'): %s\n",
                    notes[k].count, notes[k].count == 1 ? "" : "s", cli_esc(notes[k].first),
                    notes[k].note);
    }
    nnz_strmap_free(&seen);
    free(notes);
    fprintf(stderr, "nnzip: %s: QDQ: %zu DequantizeLinear, %zu Cast+Mul, %zu Gather (k-means), "
            "%zu Cast (fp16/bf16), %zu kept as float\n", onnx_path, count[0], count[1], count[2],
            count[3], count[4]);
}
