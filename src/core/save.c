/* save.c - see save.h. */
#include "save.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "bytes.h"
#include "fileio.h"
#include "wire.h"

typedef struct sink {
    ProtobufCBuffer base;
    nnz_model *m;
    FILE *f;              /* write here ... */
    nnz_bytes mem;        /* ... or grow this */
    uint64_t pos;
    const uint8_t *entry; /* skeleton: 1 tensors to leave out, 2 to keep (in-graph) */
    uint64_t *holes;      /* where each one's bytes are, or would be */
    uint8_t **saved;      /* the in-graph tensors' data while raw_data points at the tag */
    int failed;
    nnz_error *e;
} sink;

/* The tensor whose `tag` is at p, or NULL. */
static nnz_tensor *tagged_tensor(nnz_model *m, const uint8_t *p)
{
    const uint8_t *base = (const uint8_t *)m->tensors;
    if (!m->ntensors || p < base || p >= base + m->ntensors * sizeof(nnz_tensor))
        return NULL;
    size_t i = (size_t)(p - base) / sizeof(nnz_tensor);
    return &m->tensors[i].tag == p ? &m->tensors[i] : NULL;
}

static void emit(sink *s, const void *data, size_t len)
{
    if (s->failed || len == 0)
        return;
    if (s->f) {
        if (fwrite(data, 1, len, s->f) != len) {
            s->failed = 1;
            nnz_fail(s->e, NNZ_EXIT_OUTPUT, "write failed: %s", strerror(errno));
        }
    } else {
        nnz_bytes_put(&s->mem, data, len);
        if (s->mem.failed) {
            s->failed = 1;
            nnz_fail(s->e, NNZ_EXIT_INTERNAL, "out of memory (%zu bytes more than %zu)", len,
                     s->mem.len);
            return;
        }
    }
    s->pos += len;
}

static void sink_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
    sink *s = (sink *)b;
    nnz_tensor *t = tagged_tensor(s->m, data);
    if (!t) {
        emit(s, data, len);
        return;
    }
    size_t i = (size_t)(t - s->m->tensors);
    if (s->entry && s->entry[i]) {
        s->holes[i] = s->pos;
        if (s->entry[i] == 1)
            return;
        if (s->saved[i] != data) { /* in memory; else still in an external file, below */
            emit(s, s->saved[i], len);
            return;
        }
    }
    /* data still in an external file: copy it through */
    uint8_t buf[1 << 16];
    for (uint64_t off = 0; off < len && !s->failed; off += sizeof buf) {
        size_t n = len - off < sizeof buf ? (size_t)(len - off) : sizeof buf;
        if (nnz_tensor_read_deferred(t, off, buf, n, s->e) != 0)
            s->failed = 1;
        else
            emit(s, buf, n);
    }
}

static int pack(nnz_model *m, sink *s)
{
    s->base.append = sink_append;
    s->m = m;
    protobuf_c_message_pack_to_buffer(&m->proto->base, &s->base);
    return s->failed ? -1 : 0;
}

int nnz_model_write(nnz_model *m, FILE *f, nnz_error *e)
{
    sink s = { .f = f, .e = e };
    return pack(m, &s);
}

int nnz_model_skeleton(nnz_model *m, const uint8_t *entry, uint8_t **bytes, size_t *len,
                       uint64_t *holes, nnz_error *e)
{
    /* Point each entry's data at its tag so the sink can tell it apart. */
    uint8_t **saved = nnz_calloc(m->ntensors, sizeof *saved, e);
    if (!saved)
        return -1;
    for (size_t i = 0; i < m->ntensors; i++) {
        holes[i] = UINT64_MAX;
        if (entry[i]) {
            saved[i] = m->tensors[i].proto->raw_data.data;
            m->tensors[i].proto->raw_data.data = &m->tensors[i].tag;
        }
    }
    sink s = { .entry = entry, .holes = holes, .saved = saved, .e = e };
    int rc = pack(m, &s);
    for (size_t i = 0; i < m->ntensors; i++)
        if (entry[i])
            m->tensors[i].proto->raw_data.data = saved[i];
    free(saved);
    if (rc == 0)
        for (size_t i = 0; i < m->ntensors; i++)
            if (entry[i] && holes[i] == UINT64_MAX)
                rc = nnz_fail(e, NNZ_EXIT_INTERNAL, "tensor '%s' was not found while packing",
                              m->tensors[i].name);
    if (rc != 0) {
        nnz_bytes_free(&s.mem);
        return -1;
    }
    *bytes = s.mem.buf;
    *len = s.mem.len;
    return 0;
}

/* ---- external data ------------------------------------------------------ */

#define EXTERNAL_ALIGN 64u

struct nnz_ext_saved {
    Onnx__StringStringEntryProto entries[3], *ptrs[3];
    char offset[24], length[24];
    ProtobufCBinaryData raw;
    protobuf_c_boolean has_raw;
    int moved;
};

int nnz_model_externalize(nnz_model *m, const uint8_t *move, const char *location,
                          uint64_t *offsets, nnz_ext_plan *plan, nnz_error *e)
{
    plan->saved = nnz_calloc(m->ntensors ? m->ntensors : 1, sizeof *plan->saved, e);
    plan->location = nnz_strdup(location, e);
    plan->end = 0;
    if (!plan->saved || !plan->location) {
        nnz_model_internalize(m, plan);
        return -1;
    }
    uint64_t off = 0;
    for (size_t i = 0; i < m->ntensors; i++) {
        if (!move[i])
            continue;
        nnz_tensor *t = &m->tensors[i];
        struct nnz_ext_saved *x = &plan->saved[i];
        Onnx__TensorProto *p = t->proto;
        off += (EXTERNAL_ALIGN - off % EXTERNAL_ALIGN) % EXTERNAL_ALIGN;
        offsets[i] = off;
        snprintf(x->offset, sizeof x->offset, "%llu", (unsigned long long)off);
        snprintf(x->length, sizeof x->length, "%zu", t->nbytes);
        const char *kv[3][2] = { { "location", plan->location }, { "offset", x->offset },
                                 { "length", x->length } };
        for (int k = 0; k < 3; k++) {
            onnx__string_string_entry_proto__init(&x->entries[k]);
            x->entries[k].key = (char *)kv[k][0];
            x->entries[k].value = (char *)kv[k][1];
            x->ptrs[k] = &x->entries[k];
        }
        x->raw = p->raw_data;
        x->has_raw = p->has_raw_data;
        x->moved = 1;
        p->has_raw_data = 0;
        p->raw_data.data = NULL;
        p->raw_data.len = 0;
        p->n_external_data = 3;
        p->external_data = x->ptrs;
        p->has_data_location = 1;
        p->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
        off += t->nbytes;
    }
    plan->end = off;
    return 0;
}

void nnz_model_internalize(nnz_model *m, nnz_ext_plan *plan)
{
    for (size_t i = 0; plan->saved && i < m->ntensors; i++) {
        struct nnz_ext_saved *x = &plan->saved[i];
        Onnx__TensorProto *p = m->tensors[i].proto;
        if (!x->moved || !p)
            continue;
        p->n_external_data = 0;
        p->external_data = NULL;
        p->has_data_location = 0;
        p->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__DEFAULT;
        p->raw_data = x->raw;
        p->has_raw_data = x->has_raw;
    }
    free(plan->saved);
    free(plan->location);
    memset(plan, 0, sizeof *plan);
}

int nnz_tensor_write(nnz_model *m, nnz_tensor *t, FILE *f, nnz_error *e)
{
    sink s = { .f = f, .e = e, .m = m };
    sink_append(&s.base, t->nbytes, t->proto->raw_data.data);
    return s.failed ? -1 : 0;
}

/* ---- checking an output before it is published ---------------------------- */

static const char *base_of(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

int nnz_model_check_output(nnz_out *o, const char *name, const nnz_out *data,
                           const char *location, nnz_error *e)
{
    struct stat st;
    if (fflush(o->f) != 0 || fstat(fileno(o->f), &st) != 0)
        return nnz_fail(e, NNZ_EXIT_OUTPUT, "%s: write failed: %s", name, strerror(errno));
    if (st.st_size == 0)
        return nnz_fail(e, NNZ_EXIT_INPUT, "%s: the model written is empty; not published", name);
    if ((uint64_t)st.st_size > SIZE_MAX / 4)
        return nnz_fail(e, NNZ_EXIT_INPUT, "%s: the model written is too large to check", name);
    size_t len = (size_t)st.st_size;
    char *dir = NULL;
    if (data && (!o->dest || !data->tmp))
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "%s: external data needs files, not streams", name);
    if (data && !(dir = nnz_path_dir(o->dest, e)))
        return -1;
    void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fileno(o->f), 0);
    if (p == MAP_FAILED) {
        free(dir);
        return nnz_fail(e, NNZ_EXIT_OUTPUT, "%s: cannot read back the output: %s", name,
                        strerror(errno));
    }
    int rc = 0;
    nnz_model *m = NULL;
    if (nnz_model_load_bytes_as(p, len, name, dir, data ? location : NULL,
                                data ? base_of(data->tmp) : NULL, &m, e) != 0) {
        nnz_wrap(e, "%s: the model written does not load back, so it was not published: ",
                 name);
        rc = -1;
    }
    nnz_model_free(m);
    munmap(p, len);
    free(dir);
    return rc;
}

/* ---- pointing external data at a new file name ----------------------------- */

static int relocate_graph(Onnx__GraphProto *g, const char *location, nnz_error *e);

static int relocate_tensor(Onnx__TensorProto *t, const char *location, nnz_error *e)
{
    if (!t || !t->has_data_location ||
        t->data_location != ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return 0;
    for (size_t i = 0; i < t->n_external_data; i++) {
        Onnx__StringStringEntryProto *kv = t->external_data[i];
        if (!kv->key || strcmp(kv->key, "location") != 0)
            continue;
        char *v = nnz_strdup(location, e);
        if (!v)
            return -1;
        free(kv->value); /* unpacked with protobuf-c's default (malloc) allocator */
        kv->value = v;
    }
    return 0;
}

static int relocate_sparse(Onnx__SparseTensorProto *s, const char *location, nnz_error *e)
{
    return s && (relocate_tensor(s->values, location, e) != 0 ||
                 relocate_tensor(s->indices, location, e) != 0) ? -1 : 0;
}

static int relocate_graph(Onnx__GraphProto *g, const char *location, nnz_error *e)
{
    if (!g)
        return 0;
    for (size_t i = 0; i < g->n_initializer; i++)
        if (relocate_tensor(g->initializer[i], location, e) != 0)
            return -1;
    for (size_t i = 0; i < g->n_sparse_initializer; i++)
        if (relocate_sparse(g->sparse_initializer[i], location, e) != 0)
            return -1;
    for (size_t n = 0; n < g->n_node; n++)
        for (size_t a = 0; a < g->node[n]->n_attribute; a++) {
            Onnx__AttributeProto *at = g->node[n]->attribute[a];
            if (relocate_tensor(at->t, location, e) != 0 ||
                relocate_sparse(at->sparse_tensor, location, e) != 0 ||
                relocate_graph(at->g, location, e) != 0)
                return -1;
            for (size_t k = 0; k < at->n_tensors; k++)
                if (relocate_tensor(at->tensors[k], location, e) != 0)
                    return -1;
            for (size_t k = 0; k < at->n_sparse_tensors; k++)
                if (relocate_sparse(at->sparse_tensors[k], location, e) != 0)
                    return -1;
            for (size_t k = 0; k < at->n_graphs; k++)
                if (relocate_graph(at->graphs[k], location, e) != 0)
                    return -1;
        }
    return 0;
}

int nnz_model_relocate_external(const uint8_t *bytes, size_t len, const char *location,
                                uint8_t **out, size_t *out_len, nnz_error *e)
{
    uint64_t mem;
    if (nnz_wire_check(bytes, len, &onnx__model_proto__descriptor, &mem, e) != 0)
        return nnz_wrap(e, "not a valid ONNX model: ");
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, bytes);
    if (!mp)
        return nnz_fail(e, NNZ_EXIT_INPUT, "not a valid ONNX model (protobuf decoding failed)");
    int rc = relocate_graph(mp->graph, location, e);
    if (rc == 0) {
        size_t n = protobuf_c_message_get_packed_size(&mp->base);
        if (!(*out = nnz_malloc(n ? n : 1, e)))
            rc = -1;
        else
            *out_len = protobuf_c_message_pack(&mp->base, *out);
    }
    onnx__model_proto__free_unpacked(mp, NULL);
    return rc;
}

int nnz_model_save(nnz_model *m, const char *path, const char *input, nnz_external_mode ext,
                   unsigned out_flags, nnz_error *e)
{
    int external = ext == NNZ_EXTERNAL_ALWAYS;
    if (ext == NNZ_EXTERNAL_AUTO)
        external = protobuf_c_message_get_packed_size(&m->proto->base) > NNZ_PROTOBUF_LIMIT;
    nnz_out out, data_out;
    memset(&data_out, 0, sizeof data_out);
    if (nnz_out_open(&out, path, input, out_flags, e) != 0)
        return -1;
    if (!external) {
        if (nnz_model_write(m, out.f, e) != 0) {
            nnz_out_abort(&out);
            return nnz_wrap(e, "%s: ", path);
        }
        if (nnz_model_check_output(&out, path, NULL, NULL, e) != 0) {
            nnz_out_abort(&out);
            return -1;
        }
        return nnz_out_commit(&out, e);
    }
    if (!out.tmp) {
        nnz_out_abort(&out);
        return nnz_fail(e, NNZ_EXIT_USAGE, "%s: the model needs external data, which needs a "
                        "file beside it; give -o FILE (not stdout, a device or a FIFO)",
                        strcmp(path, "-") == 0 ? "(stdout)" : path);
    }
    /* Weights of 1 KiB or more go to PATH.data (written first), which the
     * model names by its own file name: always beside the model. */
    size_t pl = strlen(path);
    char *data_path = nnz_malloc(pl + 6, e);
    uint8_t *move = nnz_calloc(m->ntensors ? m->ntensors : 1, 1, e);
    uint64_t *offsets = nnz_calloc(m->ntensors ? m->ntensors : 1, sizeof *offsets, e);
    nnz_ext_plan plan = { 0 };
    int rc = -1;
    if (!data_path || !move || !offsets)
        goto done;
    snprintf(data_path, pl + 6, "%s.data", path);
    for (size_t i = 0; i < m->ntensors; i++)
        move[i] = m->tensors[i].nbytes >= NNZ_EXTERNAL_MIN_BYTES;
    if (nnz_out_open(&data_out, data_path, input, out_flags, e) != 0)
        goto done;
    if (!data_out.tmp) {
        nnz_fail(e, NNZ_EXIT_USAGE, "%s: the external data file must be a regular file",
                 data_path);
        goto done;
    }
    /* the data file, in the order of the offsets */
    uint64_t at = 0;
    int bad = 0;
    for (size_t i = 0; i < m->ntensors && !bad; i++) {
        if (!move[i])
            continue;
        static const uint8_t zeros[EXTERNAL_ALIGN];
        size_t pad = (size_t)((EXTERNAL_ALIGN - at % EXTERNAL_ALIGN) % EXTERNAL_ALIGN);
        if (fwrite(zeros, 1, pad, data_out.f) != pad) {
            nnz_fail(e, NNZ_EXIT_OUTPUT, "%s: write failed: %s", data_path, strerror(errno));
            bad = 1;
        } else if (nnz_tensor_write(m, &m->tensors[i], data_out.f, e) != 0) {
            bad = 1;
        }
        at += pad + m->tensors[i].nbytes;
    }
    const char *location = base_of(data_path);
    if (!bad && nnz_model_externalize(m, move, location, offsets, &plan, e) == 0) {
        if (nnz_model_write(m, out.f, e) == 0 && fflush(data_out.f) == 0 &&
            nnz_model_check_output(&out, path, &data_out, location, e) == 0 &&
            nnz_out_commit(&data_out, e) == 0 && nnz_out_commit(&out, e) == 0)
            rc = 0;
        nnz_model_internalize(m, &plan);
    }
done:
    if (rc != 0) {
        nnz_out_abort(&data_out);
        nnz_out_abort(&out);
        nnz_wrap(e, "%s: ", path);
    }
    free(move);
    free(offsets);
    free(data_path);
    return rc;
}
