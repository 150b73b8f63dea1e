/* onnx_out.c - writing the ONNX model a blob holds: rebuilt by the runtime
 * (the decoder devices run), checked to be a valid protobuf, and, with
 * --qdq, rewritten so quantized weights stay quantized in the model. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fileio.h"
#include "model.h"
#include "qdq.h"
#include "save.h"
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

int cli_onnx_from_blob(const char *blob_path, const char *onnx_path, const char *input,
                       int qdq, nnz_error *e)
{
    cli_file f;
    nnz_blob b;
    if (cli_blob_open(&f, &b, blob_path, 0, e) != 0)
        return -1;
    uint8_t *bytes = NULL;
    size_t len = 0;
    int rc = cli_rebuild(&b, blob_path, &bytes, &len, e);
    if (rc == 0 && !qdq) {
        nnz_out out;
        rc = nnz_out_open(&out, onnx_path, input, 1, e);
        if (rc == 0 && fwrite(bytes, 1, len, out.f) != len) {
            nnz_out_abort(&out);
            rc = nnz_fail(e, NNZ_EXIT_OUTPUT, "%s: write failed", onnx_path);
        }
        if (rc == 0)
            rc = nnz_out_commit(&out, e);
    } else if (rc == 0) {
        nnz_model *m;
        rc = nnz_model_load_bytes(bytes, len, blob_path, NULL, &m, e);
        if (rc == 0) {
            rc = nnz_qdq_rewrite(m, &b, NULL, e);
            if (rc == 0)
                rc = nnz_model_save(m, onnx_path, input, NNZ_EXTERNAL_AUTO, e);
            nnz_model_free(m);
        }
    }
    free(bytes);
    cli_file_close(&f);
    return rc;
}
