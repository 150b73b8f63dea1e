/* model.c - loading an ONNX model into the IR and finding its weights.
 *
 * Weights are found wherever ONNX keeps them: graph initializers and the
 * `value` of Constant nodes, in the main graph and in every subgraph
 * (If/Loop/Scan bodies), recursively. Each becomes an nnz_tensor whose
 * data is made canonical: little-endian bytes in raw_data, whatever field
 * the file used. External data is checked and left in its file until a
 * writer needs it (docs/architecture.md). */
#include "model.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "edit.h"
#include "fileio.h"
#include "nnz.h"
#include "sha256.h"
#include "strmap.h"
#include "wire.h"

typedef struct loader {
    nnz_model *m;
    size_t cap;
    nnz_strmap names;   /* unique tensor name -> index */
    nnz_error *e;
    /* checking an output before it is published: external data named
     * `alias_loc` is read from `alias_path`, its temporary name */
    const char *alias_loc, *alias_path;
} loader;

/* ---- data in typed fields -> raw_data ---------------------------------- */

/* Which typed field a dtype uses, and how many values per element. */
typedef enum { F_NONE, F_FLOAT, F_INT32, F_INT64, F_DOUBLE, F_UINT64 } typed_field;

static typed_field field_of(int dtype, size_t *per_elem)
{
    *per_elem = 1;
    switch (dtype) {
    case NNZ_DT_FLOAT: return F_FLOAT;
    case NNZ_DT_COMPLEX64: *per_elem = 2; return F_FLOAT;
    case NNZ_DT_DOUBLE: return F_DOUBLE;
    case NNZ_DT_COMPLEX128: *per_elem = 2; return F_DOUBLE;
    case NNZ_DT_INT64: return F_INT64;
    case NNZ_DT_UINT32: case NNZ_DT_UINT64: return F_UINT64;
    case NNZ_DT_INT32: case NNZ_DT_INT16: case NNZ_DT_UINT16: case NNZ_DT_INT8:
    case NNZ_DT_UINT8: case NNZ_DT_BOOL: case NNZ_DT_FLOAT16: case NNZ_DT_BFLOAT16:
    case 17: case 18: case 19: case 20:
        return F_INT32;
    default: return F_NONE;
    }
}

static void put_le(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Move typed-field data into raw_data. */
static int typed_to_raw(nnz_tensor *t, nnz_error *e)
{
    Onnx__TensorProto *p = t->proto;
    size_t per, es = nnz_dtype_size(t->dtype);
    typed_field f = field_of(t->dtype, &per);
    size_t have = 0, want = t->count * per;
    switch (f) {
    case F_FLOAT: have = p->n_float_data; break;
    case F_DOUBLE: have = p->n_double_data; break;
    case F_INT32: have = p->n_int32_data; break;
    case F_INT64: have = p->n_int64_data; break;
    case F_UINT64: have = p->n_uint64_data; break;
    case F_NONE: break;
    }
    if (have != want)
        return nnz_fail(e, NNZ_EXIT_INPUT,
                        "holds %zu values in its typed data field, its dims say %zu",
                        have, want);
    uint8_t *raw = nnz_malloc(t->nbytes, e);
    if (!raw)
        return -1;
    size_t stored = 0;
    for (size_t i = 0; i < have; i++) {
        uint64_t v = 0;
        size_t w = es / per; /* bytes written per value */
        switch (f) {
        case F_FLOAT: { uint32_t u; memcpy(&u, &p->float_data[i], 4); v = u; stored += 4; break; }
        case F_DOUBLE: memcpy(&v, &p->double_data[i], 8); stored += 8; break;
        case F_INT64: v = (uint64_t)p->int64_data[i]; stored += nnz_varint_len(v); break;
        case F_UINT64: v = p->uint64_data[i]; stored += nnz_varint_len(v); break;
        case F_INT32: v = (uint64_t)(int64_t)p->int32_data[i]; stored += nnz_varint_len(v); break;
        case F_NONE: break;
        }
        put_le(raw + i * w, v, w);
    }
    free(p->float_data); p->float_data = NULL; p->n_float_data = 0;
    free(p->double_data); p->double_data = NULL; p->n_double_data = 0;
    free(p->int32_data); p->int32_data = NULL; p->n_int32_data = 0;
    free(p->int64_data); p->int64_data = NULL; p->n_int64_data = 0;
    free(p->uint64_data); p->uint64_data = NULL; p->n_uint64_data = 0;
    p->has_raw_data = 1;
    p->raw_data.data = raw;
    p->raw_data.len = t->nbytes;
    t->stored_bytes = stored;
    return 0;
}

/* ---- external data ------------------------------------------------------ */

static int parse_u64(const char *s, uint64_t *v)
{
    if (!s || !*s || *s == '-')
        return -1;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *v = x;
    return 0;
}

/* Check an external-data reference and turn it into a deferred tensor. */
static int resolve_external(loader *L, nnz_tensor *t)
{
    nnz_error *e = L->e;
    Onnx__TensorProto *p = t->proto;
    const char *loc = NULL;
    uint64_t off = 0, len = t->nbytes;
    int have_len = 0;
    for (size_t i = 0; i < p->n_external_data; i++) {
        const char *k = p->external_data[i]->key, *v = p->external_data[i]->value;
        if (!k)
            continue;
        if (strcmp(k, "location") == 0)
            loc = v;
        else if (strcmp(k, "offset") == 0 && parse_u64(v, &off) != 0)
            return nnz_fail(e, NNZ_EXIT_INPUT, "external data offset '%s' is not a number", v ? v : "");
        else if (strcmp(k, "length") == 0) {
            if (parse_u64(v, &len) != 0)
                return nnz_fail(e, NNZ_EXIT_INPUT, "external data length '%s' is not a number", v ? v : "");
            have_len = 1;
        }
    }
    if (!loc || !*loc)
        return nnz_fail(e, NNZ_EXIT_INPUT, "external data has no location");
    if (have_len && len != t->nbytes)
        return nnz_fail(e, NNZ_EXIT_INPUT, "external data length %llu, its dims need %zu bytes",
                        (unsigned long long)len, t->nbytes);
    if (!L->m->dir)
        return nnz_fail(e, NNZ_EXIT_INPUT,
                        "refers to external data '%s', but the model was not read from a folder", loc);
    if (loc[0] == '/' || strcmp(loc, "..") == 0 || strncmp(loc, "../", 3) == 0 ||
        strstr(loc, "/../") || (strlen(loc) >= 3 && strcmp(loc + strlen(loc) - 3, "/..") == 0))
        return nnz_fail(e, NNZ_EXIT_INPUT,
                        "external data location '%s' leaves the model's folder; only paths "
                        "inside it are allowed", loc);
    char joined[PATH_MAX], real_dir[PATH_MAX], real_file[PATH_MAX];
    int alias = L->alias_loc && strcmp(loc, L->alias_loc) == 0;
    if ((size_t)snprintf(joined, sizeof joined, "%s/%s", L->m->dir,
                         alias ? L->alias_path : loc) >= sizeof joined)
        return nnz_fail(e, NNZ_EXIT_INPUT, "external data location is too long");
    if (!realpath(L->m->dir, real_dir))
        return nnz_fail(e, NNZ_EXIT_INPUT, "cannot resolve the model's folder: %s", strerror(errno));
    if (!realpath(joined, real_file))
        return nnz_fail(e, NNZ_EXIT_INPUT, "external data file '%s': %s", loc, strerror(errno));
    size_t dl = strlen(real_dir);
    if (strncmp(real_file, real_dir, dl) != 0 || (real_file[dl] != '/' && dl != 1))
        return nnz_fail(e, NNZ_EXIT_INPUT,
                        "external data location '%s' resolves outside the model's folder "
                        "(a symbolic link?); refused", loc);
    struct stat st;
    if (stat(real_file, &st) != 0 || !S_ISREG(st.st_mode))
        return nnz_fail(e, NNZ_EXIT_INPUT, "external data '%s' is not a regular file", loc);
    if (off > (uint64_t)st.st_size || t->nbytes > (uint64_t)st.st_size - off)
        return nnz_fail(e, NNZ_EXIT_INPUT,
                        "external data '%s': bytes %llu..%llu are past its end (%lld bytes)",
                        loc, (unsigned long long)off, (unsigned long long)(off + t->nbytes),
                        (long long)st.st_size);
    if (!L->alias_loc && nnz_input_note(real_file) != 0)
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory");
    t->ext_path = nnz_strdup(real_file, e);
    if (!t->ext_path)
        return -1;
    t->ext_offset = off;
    t->stored_bytes = t->nbytes;
    /* From here on the tensor reads as inline data that lives elsewhere. */
    for (size_t i = 0; i < p->n_external_data; i++)
        protobuf_c_message_free_unpacked(&p->external_data[i]->base, NULL);
    free(p->external_data);
    p->external_data = NULL;
    p->n_external_data = 0;
    p->has_data_location = 0;
    p->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__DEFAULT;
    p->has_raw_data = 1;
    p->raw_data.data = &t->tag;
    p->raw_data.len = t->nbytes;
    return 0;
}

/* ---- collecting tensors ------------------------------------------------- */

/* Validate a TensorProto and add it to the list. Tensors this tool cannot
 * represent (strings, 4-bit types, segments) are left in the graph as they
 * are, untouched. */
static int add_tensor(loader *L, Onnx__TensorProto *p, const char *name,
                      int loc, int depth, const Onnx__GraphProto *graph, nnz_strmap *scope)
{
    const char *graph_name = graph->name ? graph->name : "";
    nnz_error *e = L->e;
    nnz_model *m = L->m;
    if (!name || !*name)
        return nnz_fail(e, NNZ_EXIT_INPUT, "graph '%s': %s without a name", graph_name,
                        loc == NNZ_LOC_INITIALIZER ? "an initializer" : "a Constant node");
    int dtype = p->has_data_type ? p->data_type : 0;
    if (nnz_dtype_size(dtype) == 0 || p->segment)
        return 0;
    if (p->n_dims > NNZ_MAX_DIMS)
        return nnz_fail(e, NNZ_EXIT_INPUT, "tensor '%s' has %zu dims; the limit is %d",
                        name, p->n_dims, NNZ_MAX_DIMS);
    if (m->ntensors >= NNZ_MAX_TENSORS)
        return nnz_fail(e, NNZ_EXIT_INPUT, "more than %d weight tensors (limit)", NNZ_MAX_TENSORS);
    if (m->ntensors == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 64;
        nnz_tensor *nt = nnz_realloc(m->tensors, cap * sizeof *nt, e);
        if (!nt)
            return -1;
        m->tensors = nt;
        L->cap = cap;
    }
    nnz_tensor *t = &m->tensors[m->ntensors];
    memset(t, 0, sizeof *t);
    t->proto = p;
    t->dtype = dtype;
    t->loc = loc;
    t->graph_depth = depth;
    t->ndims = (int)p->n_dims;
    size_t count = 1;
    for (size_t i = 0; i < p->n_dims; i++) {
        if (p->dims[i] < 0)
            return nnz_fail(e, NNZ_EXIT_INPUT, "tensor '%s': dim %zu is negative (%lld)",
                            name, i, (long long)p->dims[i]);
        t->dims[i] = p->dims[i];
        if ((uint64_t)p->dims[i] > SIZE_MAX ||
            nnz_mul_size(count, (size_t)p->dims[i], &count) != 0)
            return nnz_fail(e, NNZ_EXIT_INPUT,
                            "tensor '%s': the product of its dims overflows", name);
    }
    size_t nbytes;
    if (nnz_mul_size(count, nnz_dtype_size(dtype), &nbytes) != 0 ||
        nbytes > NNZ_MAX_TENSOR_BYTES)
        return nnz_fail(e, NNZ_EXIT_INPUT,
                        "tensor '%s': %zu elements of %s exceed the %llu-byte tensor limit",
                        name, count, nnz_dtype_name(dtype),
                        (unsigned long long)NNZ_MAX_TENSOR_BYTES);
    t->count = count;
    t->nbytes = nbytes;

    /* Names are unique in a graph; a subgraph may reuse a name of another
     * scope, and then gets a unique "~k" name in the blob. */
    size_t prev;
    if (nnz_strmap_get(scope, name, &prev))
        return nnz_fail(e, NNZ_EXIT_INPUT, "graph '%s': tensor '%s' is defined twice",
                        graph->name ? graph->name : "", name);
    if (nnz_strmap_put(scope, name, 0, e) != 0)
        return -1;
    char *uniq = nnz_strdup(name, e);
    for (int k = 2; uniq && nnz_strmap_get(&L->names, uniq, &prev); k++) {
        size_t n = strlen(name) + 16;
        free(uniq);
        if ((uniq = nnz_malloc(n, e)) != NULL)
            snprintf(uniq, n, "%s~%d", name, k);
    }
    if (!uniq)
        return -1;
    t->name = uniq;
    t->onnx_name = name;
    t->graph = graph;
    m->ntensors++; /* from here nnz_model_free owns t->name */
    if (nnz_strmap_put(&L->names, t->name, m->ntensors - 1, e) != 0)
        return -1;

    int external = p->has_data_location &&
                   p->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    size_t per;
    typed_field f = field_of(dtype, &per);
    int typed = p->n_float_data || p->n_double_data || p->n_int32_data ||
                p->n_int64_data || p->n_uint64_data || p->n_string_data;
    int raw = p->has_raw_data;
    if (external + typed + raw > 1)
        return nnz_fail(e, NNZ_EXIT_INPUT,
                        "tensor '%s' stores its data in more than one place "
                        "(raw_data, typed fields, external data)", name);
    int rc = 0;
    if (external) {
        t->storage = NNZ_STORE_EXTERNAL;
        rc = resolve_external(L, t);
    } else if (raw) {
        t->storage = NNZ_STORE_RAW;
        t->stored_bytes = p->raw_data.len;
        if (p->raw_data.len != nbytes)
            rc = nnz_fail(e, NNZ_EXIT_INPUT,
                          "raw_data holds %zu bytes, its dims and type (%s) need %zu",
                          p->raw_data.len, nnz_dtype_name(dtype), nbytes);
    } else if (typed) {
        t->storage = NNZ_STORE_TYPED;
        if (f == F_NONE)
            rc = nnz_fail(e, NNZ_EXIT_INPUT, "type %s cannot be stored in typed fields",
                          nnz_dtype_name(dtype));
        else
            rc = typed_to_raw(t, e);
    } else if (count == 0) {
        t->storage = NNZ_STORE_EMPTY;
    } else {
        rc = nnz_fail(e, NNZ_EXIT_INPUT, "has %zu elements but no data", count);
    }
    if (rc != 0)
        return nnz_wrap(e, "tensor '%s': ", name);
    return 0;
}

static int is_constant_node(const Onnx__NodeProto *n)
{
    return n->op_type && strcmp(n->op_type, "Constant") == 0 &&
           (!n->domain || !*n->domain || strcmp(n->domain, "ai.onnx") == 0);
}

static int walk_graph_in(loader *L, Onnx__GraphProto *g, int depth, nnz_strmap *scope);

static int walk_graph(loader *L, Onnx__GraphProto *g, int depth)
{
    if (depth > NNZ_MAX_GRAPH_DEPTH)
        return nnz_fail(L->e, NNZ_EXIT_INPUT, "subgraphs nested more than %d deep (limit)",
                        NNZ_MAX_GRAPH_DEPTH);
    nnz_strmap scope; /* the names this graph defines */
    if (nnz_strmap_init(&scope, g->n_initializer + 16, L->e) != 0)
        return -1;
    int rc = walk_graph_in(L, g, depth, &scope);
    nnz_strmap_free(&scope);
    return rc;
}

static int walk_graph_in(loader *L, Onnx__GraphProto *g, int depth, nnz_strmap *scope)
{
    for (size_t i = 0; i < g->n_initializer; i++)
        if (add_tensor(L, g->initializer[i], g->initializer[i]->name,
                       NNZ_LOC_INITIALIZER, depth, g, scope) != 0)
            return -1;
    for (size_t i = 0; i < g->n_node; i++) {
        Onnx__NodeProto *n = g->node[i];
        for (size_t a = 0; a < n->n_attribute; a++) {
            Onnx__AttributeProto *at = n->attribute[a];
            if (is_constant_node(n) && at->t && at->name && strcmp(at->name, "value") == 0) {
                const char *name = n->n_output ? n->output[0] : NULL;
                if (add_tensor(L, at->t, name, NNZ_LOC_CONSTANT, depth, g, scope) != 0)
                    return -1;
            }
            if (at->g && walk_graph(L, at->g, depth + 1) != 0)
                return -1;
            for (size_t k = 0; k < at->n_graphs; k++)
                if (walk_graph(L, at->graphs[k], depth + 1) != 0)
                    return -1;
        }
    }
    return 0;
}

/* Record, for every tensor, the first node that reads it. Names are looked
 * up as written; a subgraph may read a tensor of an enclosing graph. */
static int find_consumers(loader *L, const Onnx__GraphProto *g, nnz_strmap *by_name)
{
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        for (size_t k = 0; k < n->n_input; k++) {
            size_t ti;
            if (n->input[k] && nnz_strmap_get(by_name, n->input[k], &ti)) {
                nnz_tensor *t = &L->m->tensors[ti];
                if (t->n_consumers++ == 0) {
                    t->consumer = n;
                    t->consumer_slot = (int)k;
                }
            }
        }
        for (size_t a = 0; a < n->n_attribute; a++) {
            const Onnx__AttributeProto *at = n->attribute[a];
            if (at->g)
                find_consumers(L, at->g, by_name);
            for (size_t k = 0; k < at->n_graphs; k++)
                find_consumers(L, at->graphs[k], by_name);
        }
    }
    return 0;
}

/* protobuf-c's allocator, noting a failure so it is not taken for a
 * malformed file. malloc/free: the model is freed with the default one. */
static void *track_alloc(void *oom, size_t size)
{
    void *p = malloc(size);
    if (!p)
        *(int *)oom = 1;
    return p;
}

static void track_free(void *oom, void *p)
{
    (void)oom;
    free(p);
}

/* Find every weight tensor of m->proto and what reads it. */
static int index_tensors(nnz_model *m, const char *alias_loc, const char *alias_path,
                         nnz_error *e)
{
    loader L = { .m = m, .e = e, .alias_loc = alias_loc, .alias_path = alias_path };
    if (nnz_strmap_init(&L.names, 64, e) != 0 || walk_graph(&L, m->proto->graph, 0) != 0) {
        nnz_strmap_free(&L.names);
        return -1;
    }
    /* Consumers are found by the names nodes use, not the unique names. */
    nnz_strmap by_name = { 0 };
    int rc = nnz_strmap_init(&by_name, m->ntensors, e);
    for (size_t i = 0; rc == 0 && i < m->ntensors; i++) {
        size_t seen;
        if (!nnz_strmap_get(&by_name, m->tensors[i].onnx_name, &seen))
            rc = nnz_strmap_put(&by_name, m->tensors[i].onnx_name, i, e);
    }
    if (rc == 0)
        find_consumers(&L, m->proto->graph, &by_name);
    nnz_strmap_free(&by_name);
    nnz_strmap_free(&L.names);
    return rc == 0 ? nnz_model_find_weights(m, e) : rc;
}

static int by_proto(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)(*(nnz_tensor *const *)a)->proto;
    uintptr_t y = (uintptr_t)(*(nnz_tensor *const *)b)->proto;
    return x < y ? -1 : x > y;
}

static void drop_find_index(nnz_model *m);

int nnz_model_rescan(nnz_model *m, nnz_error *e)
{
    drop_find_index(m); /* the tensors are listed anew */
    nnz_tensor *old = m->tensors;
    size_t nold = m->ntensors;
    /* data still in external files keeps its source; the proto is the key,
     * looked up in the old tensors sorted by it. Allocated first, so that
     * failing leaves the model as it was. */
    nnz_tensor **sorted = nnz_malloc((nold ? nold : 1) * sizeof *sorted, e);
    if (!sorted)
        return -1;
    for (size_t k = 0; k < nold; k++)
        sorted[k] = &old[k];
    qsort(sorted, nold, sizeof *sorted, by_proto);
    m->tensors = NULL;
    m->ntensors = 0;
    int rc = index_tensors(m, NULL, NULL, e);
    for (size_t i = 0; i < m->ntensors; i++) {
        nnz_tensor *t = &m->tensors[i], key, *kp = &key, **hit;
        key.proto = t->proto;
        hit = bsearch(&kp, sorted, nold, sizeof *sorted, by_proto);
        if (!hit)
            continue;
        nnz_tensor *o = *hit;
        t->storage = o->storage;
        t->stored_bytes = o->stored_bytes;
        if (o->ext_path && t->proto->raw_data.data == &o->tag) {
            t->ext_path = o->ext_path;
            t->ext_offset = o->ext_offset;
            o->ext_path = NULL;
            t->proto->raw_data.data = &t->tag;
        }
    }
    free(sorted);
    for (size_t k = 0; k < nold; k++) {
        free(old[k].name);
        free(old[k].ext_path);
    }
    free(old);
    return rc;
}

int nnz_model_load_bytes(const uint8_t *data, size_t len, const char *name,
                         const char *dir, nnz_model **out, nnz_error *e)
{
    return nnz_model_load_bytes_as(data, len, name, dir, NULL, NULL, out, e);
}

int nnz_model_load_bytes_as(const uint8_t *data, size_t len, const char *name, const char *dir,
                            const char *location, const char *actual, nnz_model **out,
                            nnz_error *e)
{
    *out = NULL;
    uint64_t mem;
    if (nnz_wire_check(data, len, &onnx__model_proto__descriptor, &mem, e) != 0)
        return nnz_wrap(e, "not a valid ONNX model: ");
    if (mem > 4 * (uint64_t)len + NNZ_MAX_PARSE_OVERHEAD)
        return nnz_fail(e, NNZ_EXIT_INPUT,
                        "parsing would take about %llu MiB for a %zu-byte file (limit: 4x "
                        "the file + %llu MiB); the file is not a plausible model",
                        (unsigned long long)(mem >> 20), len,
                        (unsigned long long)(NNZ_MAX_PARSE_OVERHEAD >> 20));
    nnz_model *m = nnz_calloc(1, sizeof *m, e);
    if (!m)
        return -1;
    m->file_size = len;
    nnz_sha256_hex(data, len, m->sha256);
    m->path = nnz_strdup(name ? name : "", e);
    if (dir)
        m->dir = nnz_strdup(dir, e);
    if (!m->path || (dir && !m->dir)) {
        nnz_model_free(m);
        return -1;
    }
    int oom = 0;
    ProtobufCAllocator tracking = { track_alloc, track_free, &oom };
    m->proto = onnx__model_proto__unpack(&tracking, len, data);
    if (!m->proto) {
        nnz_model_free(m);
        if (oom)
            return nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory parsing the model (about "
                            "%llu MiB)", (unsigned long long)(mem >> 20));
        return nnz_fail(e, NNZ_EXIT_INPUT, "not a valid ONNX model (protobuf decoding failed)");
    }
    if (!m->proto->graph) {
        nnz_model_free(m);
        return nnz_fail(e, NNZ_EXIT_INPUT, "not an ONNX model: it has no graph");
    }
    if (!m->proto->has_ir_version || m->proto->ir_version < 1) {
        nnz_model_free(m);
        return nnz_fail(e, NNZ_EXIT_INPUT, "not an ONNX model: ir_version is missing");
    }
    if (index_tensors(m, location, actual, e) != 0) {
        nnz_model_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

int nnz_model_load(const char *path, nnz_model **out, nnz_error *e)
{
    uint8_t *data;
    size_t len;
    *out = NULL;
    if (nnz_read_file(path, &data, &len, e) != 0)
        return -1;
    char *dir = strcmp(path, "-") == 0 ? NULL : nnz_path_dir(path, e);
    int rc = -1;
    if (dir || strcmp(path, "-") == 0)
        rc = nnz_model_load_bytes(data, len, path, dir, out, e);
    free(data); /* the unpacked model holds its own copies */
    free(dir);
    if (rc != 0)
        return nnz_wrap(e, "%s: ", path);
    return 0;
}

void nnz_model_free(nnz_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->ntensors; i++) {
        nnz_tensor *t = &m->tensors[i];
        if (nnz_tensor_is_deferred(t)) { /* not protobuf-c's to free */
            t->proto->raw_data.data = NULL;
            t->proto->raw_data.len = 0;
            t->proto->has_raw_data = 0;
        }
        free(t->name);
        free(t->ext_path);
    }
    free(m->tensors);
    drop_find_index(m);
    nnz_edit_forget_names(m);
    if (m->proto)
        onnx__model_proto__free_unpacked(m->proto, NULL);
    free(m->path);
    free(m->dir);
    free(m);
}

/* ---- tensor data -------------------------------------------------------- */

int nnz_tensor_is_deferred(const nnz_tensor *t)
{
    return t->proto && t->proto->raw_data.data == &t->tag;
}

int nnz_tensor_read_deferred(const nnz_tensor *t, uint64_t off, void *buf, size_t len,
                             nnz_error *e)
{
    if (!t->ext_path || off > t->nbytes || len > t->nbytes - off)
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "tensor '%s': bad deferred read", t->name);
    int fd = open(t->ext_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return nnz_fail(e, NNZ_EXIT_INPUT, "tensor '%s': cannot open external data %s: %s",
                        t->name, t->ext_path, strerror(errno));
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, (uint8_t *)buf + got, len - got,
                          (off_t)(t->ext_offset + off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            close(fd);
            return nnz_fail(e, NNZ_EXIT_INPUT, "tensor '%s': external data %s: %s", t->name,
                            t->ext_path, r == 0 ? "file is shorter than declared" : strerror(errno));
        }
        got += (size_t)r;
    }
    close(fd);
    return 0;
}

const uint8_t *nnz_tensor_data(nnz_model *m, nnz_tensor *t, nnz_error *e)
{
    (void)m;
    if (!nnz_tensor_is_deferred(t))
        return t->proto->raw_data.data;
    uint8_t *buf = nnz_malloc(t->nbytes, e);
    if (!buf)
        return NULL;
    if (nnz_tensor_read_deferred(t, 0, buf, t->nbytes, e) != 0) {
        free(buf);
        return NULL;
    }
    t->proto->raw_data.data = buf;
    return buf;
}

void nnz_tensor_release(nnz_tensor *t)
{
    if (t->ext_path && t->proto && t->proto->raw_data.data != &t->tag) {
        free(t->proto->raw_data.data);
        t->proto->raw_data.data = &t->tag;
    }
}

void nnz_tensor_set_data(nnz_tensor *t, uint8_t *bytes, size_t len)
{
    Onnx__TensorProto *p = t->proto;
    if (!nnz_tensor_is_deferred(t))
        free(p->raw_data.data);
    p->has_raw_data = 1;
    p->raw_data.data = bytes;
    p->raw_data.len = len;
    t->nbytes = len;
}

float *nnz_tensor_floats(nnz_model *m, nnz_tensor *t, nnz_error *e)
{
    if (!nnz_dtype_is_float(t->dtype)) {
        nnz_fail(e, NNZ_EXIT_INTERNAL, "tensor '%s' is %s, not a float type", t->name,
                 nnz_dtype_name(t->dtype));
        return NULL;
    }
    if (t->count == 0) /* no data to read: an empty array */
        return nnz_calloc(1, sizeof(float), e);
    const uint8_t *d = nnz_tensor_data(m, t, e);
    if (!d)
        return NULL;
    float *v = nnz_calloc(t->count, sizeof *v, e);
    if (!v)
        return NULL;
    for (size_t i = 0; i < t->count; i++) {
        if (t->dtype == NNZ_DT_FLOAT) {
            uint32_t u = (uint32_t)d[4 * i] | (uint32_t)d[4 * i + 1] << 8 |
                         (uint32_t)d[4 * i + 2] << 16 | (uint32_t)d[4 * i + 3] << 24;
            memcpy(&v[i], &u, 4);
        } else {
            uint16_t h = (uint16_t)(d[2 * i] | d[2 * i + 1] << 8);
            v[i] = t->dtype == NNZ_DT_FLOAT16 ? nnz_half_to_float(h) : nnz_bf16_to_float(h);
        }
    }
    return v;
}

/* ---- queries ------------------------------------------------------------ */

const Onnx__AttributeProto *nnz_node_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i];
    return NULL;
}

int64_t nnz_node_int(const Onnx__NodeProto *n, const char *name, int64_t dflt)
{
    const Onnx__AttributeProto *a = nnz_node_attr(n, name);
    return a && a->has_i ? a->i : dflt;
}

static void drop_find_index(nnz_model *m)
{
    if (m->find_index) {
        nnz_strmap_free(m->find_index);
        free(m->find_index);
        m->find_index = NULL;
    }
}

nnz_tensor *nnz_model_find(nnz_model *m, const char *name)
{
    if (!m->find_index) {
        nnz_error e = { 0 };
        nnz_strmap *ix = calloc(1, sizeof *ix);
        int ok = ix && nnz_strmap_init(ix, m->ntensors, &e) == 0;
        for (size_t i = 0; ok && i < m->ntensors; i++)
            ok = nnz_strmap_put(ix, m->tensors[i].name, i, &e) == 0;
        if (!ok) { /* out of memory: look the slow way */
            if (ix)
                nnz_strmap_free(ix);
            free(ix);
            for (size_t i = 0; i < m->ntensors; i++)
                if (strcmp(m->tensors[i].name, name) == 0)
                    return &m->tensors[i];
            return NULL;
        }
        m->find_index = ix;
    }
    size_t i;
    return nnz_strmap_get(m->find_index, name, &i) ? &m->tensors[i] : NULL;
}

uint64_t nnz_model_param_count(const nnz_model *m)
{
    uint64_t n = 0;
    for (size_t i = 0; i < m->ntensors; i++)
        n += m->tensors[i].count;
    return n;
}
