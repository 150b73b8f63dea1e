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

/* The external data file a blob's model refers to, from its metadata: a
 * plain file name (the blob is untrusted: no folders, no "..") or NULL. */
static char *external_name(const nnz_blob *b, const char *blob_path, nnz_error *e)
{
    const char *text;
    size_t len;
    nnz_metadata(b, &text, &len);
    cJSON *meta = len ? cJSON_ParseWithLength(text, len) : NULL;
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(meta, "external_data"));
    char *out = NULL;
    if (!name || !*name || strchr(name, '/') || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0 || strlen(name) > 255)
        nnz_fail(e, NNZ_EXIT_INPUT, "%s: has external tensors but no valid external data file "
                 "name in its metadata", blob_path);
    else
        out = nnz_strdup(name, e);
    cJSON_Delete(meta);
    return out;
}

/* Write the external tensors of `b` into the file `path`, each at its
 * offset, decoded a block at a time. */
static int write_external(const nnz_blob *b, const char *path, const char *input, nnz_error *e)
{
    nnz_out out;
    if (nnz_out_open(&out, path, input, 1, e) != 0)
        return -1;
    uint64_t at = 0;
    uint8_t *buf = NULL, *scratch = NULL;
    int rc = 0;
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
            if (fputc(0, out.f) == EOF)
                rc = -1;
        size_t es = info.count ? (size_t)(info.decoded_size / info.count) : 1;
        size_t block = (size_t)info.block_elems * es;
        uint8_t *nb = realloc(buf, block ? block : 1), *ns = realloc(scratch, ssz ? ssz : 1);
        if (nb)
            buf = nb;
        if (ns)
            scratch = ns;
        if (!nb || !ns) {
            rc = nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory");
            break;
        }
        for (uint64_t k = 0; k < info.nblocks && rc == 0; k++) {
            uint64_t first = k * info.block_elems, cnt = info.count - first;
            if (cnt > info.block_elems)
                cnt = info.block_elems;
            st = nnz_decode_block(b, i, k, NNZ_OUT_NATIVE, buf, block, scratch, ssz);
            if (st != NNZ_OK)
                rc = nnz_fail(e, NNZ_EXIT_INPUT, "tensor '%s': %s", info.name, cli_status_msg(st));
            else if (fwrite(buf, es, (size_t)cnt, out.f) != cnt)
                rc = -1;
        }
        at = info.graph_offset + info.decoded_size;
    }
    free(buf);
    free(scratch);
    if (rc != 0) {
        if (!e->code)
            nnz_fail(e, NNZ_EXIT_OUTPUT, "%s: write failed", path);
        nnz_out_abort(&out);
        return -1;
    }
    return nnz_out_commit(&out, e);
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
    if (rc == 0 && has_external(&b)) {
        /* the weights first, so the model never refers to a missing file */
        char *name = NULL, *dir = NULL, *path = NULL;
        if (qdq)
            rc = nnz_fail(e, NNZ_EXIT_USAGE, "--qdq is not available for models with external "
                          "data; decompress without --qdq");
        else if (strcmp(onnx_path, "-") == 0)
            rc = nnz_fail(e, NNZ_EXIT_USAGE, "%s: the model has external data, which cannot go "
                          "to stdout; give -o FILE", blob_path);
        else if (!(name = external_name(&b, blob_path, e)) || !(dir = nnz_path_dir(onnx_path, e)) ||
                 !(path = nnz_malloc(strlen(dir) + strlen(name) + 2, e)))
            rc = -1;
        else {
            sprintf(path, "%s/%s", dir, name);
            rc = write_external(&b, path, input, e);
        }
        free(name);
        free(dir);
        free(path);
    }
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
