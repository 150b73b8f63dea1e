/* blob_write.c - laying out a .nnz file.
 *
 * File order: header, section table, graph, payload, directory, metadata.
 * The graph comes first because it is known first; payloads stream out one
 * tensor at a time; the directory and metadata, which describe them, come
 * last; the header and table are written last of all, at the front. */
#include "blob.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "graph_pack.h"
#include "encode.h"
#include "nnz.h"
#include "save.h"

#define HEADER_SIZE 64u
#define SECTION_ENTRY_SIZE 32u
#define PAYLOAD_ALIGN 64u
enum { SEC_DIRECTORY = 1, SEC_GRAPH = 2, SEC_PAYLOAD = 3, SEC_METADATA = 4, SEC_NAMES = 5,
       SEC_GRAPH_PACKED = 6 };

void nnz_encoded_free(nnz_encoded *x)
{
    free(x->params);
    free(x->payload);
    free(x->syms);
    memset(x, 0, sizeof *x);
}

char *nnz_blob_name(const nnz_tensor_info *info, nnz_error *e)
{
    char *s = nnz_malloc(info->name_len + 1, e);
    if (s) {
        memcpy(s, info->name_bytes, info->name_len);
        s[info->name_len] = 0;
    }
    return s;
}

float nnz_blob_map_scale(const nnz_value_map *map, uint64_t c)
{
    if (!map->scales || c >= map->nchan)
        return 0;
    if (map->kind == NNZ_VAL_AFFINE_LOG)
        return nnz_log_scale(nnz_scale_code(map, c), map->scale_exp);
    if (map->kind != NNZ_VAL_AFFINE)
        return 0;
    const uint8_t *p = map->scales + (size_t)c * 4;
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void put_le(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- the output stream -------------------------------------------------- */

typedef struct out {
    FILE *f;
    uint64_t pos;
    uint32_t crc; /* of the current section */
    nnz_error *e;
} out;

static int out_put(out *o, const void *data, size_t n)
{
    if (n && fwrite(data, 1, n, o->f) != n)
        return nnz_fail(o->e, NNZ_EXIT_OUTPUT, "write failed: %s", strerror(errno));
    o->crc = nnz_crc32(o->crc, data, n);
    o->pos += n;
    return 0;
}

static int out_pad(out *o, unsigned align)
{
    static const uint8_t zeros[64];
    size_t pad = (size_t)((align - o->pos % align) % align);
    return out_put(o, zeros, pad);
}

/* Write a RAW tensor's bytes, from memory or its external file. */
static int out_tensor_data(out *o, nnz_tensor *t)
{
    if (!nnz_tensor_is_deferred(t))
        return out_put(o, t->proto->raw_data.data, t->nbytes);
    uint8_t chunk[1 << 16];
    for (uint64_t off = 0; off < t->nbytes; off += sizeof chunk) {
        size_t n = t->nbytes - off < sizeof chunk ? (size_t)(t->nbytes - off) : sizeof chunk;
        if (nnz_tensor_read_deferred(t, off, chunk, n, o->e) != 0 || out_put(o, chunk, n) != 0)
            return -1;
    }
    return 0;
}

/* ---- repeated tensors: alias entries ------------------------------------ */

/* A tensor's payload bytes a chunk at a time: its encoded payload, or its
 * RAW data from memory or its external file. */
static int payload_chunk(nnz_tensor *t, const nnz_encoded *x, uint64_t off, uint8_t *chunk,
                         size_t n, nnz_error *e)
{
    if (x->payload)
        memcpy(chunk, x->payload + off, n);
    else if (!nnz_tensor_is_deferred(t))
        memcpy(chunk, t->proto->raw_data.data + off, n);
    else
        return nnz_tensor_read_deferred(t, off, chunk, n, e);
    return 0;
}

static uint64_t mix64(uint64_t h, uint64_t v)
{
    h ^= v * 0x9e3779b97f4a7c15u;
    h = (h << 31 | h >> 33) * 0xbf58476d1ce4e5b9u;
    return h;
}

static uint64_t hash_bytes(uint64_t h, const uint8_t *p, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = mix64(h, w);
    }
    for (; i < n; i++)
        h = mix64(h, p[i]);
    return h;
}

/* An entry written so far, with a payload, that a later tensor may repeat:
 * its hash, its payload's place in the file, and where its parameters are
 * in the directory being built. */
typedef struct seen {
    uint64_t hash, at, len;
    size_t params_end, params_len;
    uint8_t encoding, version;
} seen;

/* The hash of everything that makes tensor t's entry decode to its values:
 * dtype, shape, encoding, parameters and payload bytes. */
static int entry_hash(nnz_tensor *t, const nnz_encoded *x, uint64_t len, uint64_t *hash,
                      nnz_error *e)
{
    uint8_t chunk[1 << 16];
    uint64_t h = mix64(mix64(mix64(0, (uint64_t)t->dtype), (uint64_t)t->ndims),
                       (uint64_t)x->encoding << 8 | x->version);
    for (int k = 0; k < t->ndims; k++)
        h = mix64(h, (uint64_t)t->dims[k]);
    h = hash_bytes(mix64(h, x->params_len), x->params, x->params_len);
    h = mix64(h, len);
    for (uint64_t off = 0; off < len; off += sizeof chunk) {
        size_t n = len - off < sizeof chunk ? (size_t)(len - off) : sizeof chunk;
        if (payload_chunk(t, x, off, chunk, n, e) != 0)
            return -1;
        h = hash_bytes(h, chunk, n);
    }
    *hash = h;
    return 0;
}

/* Is the earlier entry `s` (of tensor a; its payload read back from the
 * file, its parameters from the directory `dir`) byte for byte what tensor
 * t's entry would hold? The hash matched; this makes sure. */
static int same_entry(FILE *f, const seen *s, const uint8_t *dir, const nnz_tensor *a,
                      nnz_tensor *t, const nnz_encoded *x, uint64_t len, int *same, nnz_error *e)
{
    uint8_t mine[1 << 15], theirs[1 << 15];
    *same = a->dtype == t->dtype && a->ndims == t->ndims && s->len == len &&
            s->encoding == x->encoding && s->version == x->version &&
            s->params_len == x->params_len &&
            (!x->params_len ||
             memcmp(dir + s->params_end - s->params_len, x->params, x->params_len) == 0);
    for (int k = 0; *same && k < t->ndims; k++)
        *same = a->dims[k] == t->dims[k];
    for (uint64_t off = 0; *same && off < len; off += sizeof mine) {
        size_t n = len - off < sizeof mine ? (size_t)(len - off) : sizeof mine;
        if (payload_chunk(t, x, off, mine, n, e) != 0)
            return -1;
        if (fseeko(f, (off_t)(s->at + off), SEEK_SET) != 0 || fread(theirs, 1, n, f) != n)
            return nnz_fail(e, NNZ_EXIT_OUTPUT, "reading back the output failed: %s",
                            strerror(errno));
        *same = memcmp(mine, theirs, n) == 0;
    }
    if (fseeko(f, 0, SEEK_END) != 0)
        return nnz_fail(e, NNZ_EXIT_OUTPUT, "seek failed: %s", strerror(errno));
    return 0;
}

/* The entries with a payload so far (seen, by directory index) and a hash
 * table of them: slot holds a directory index + 1, 0 when empty; cap is a
 * power of 2, at least twice the entries. */
typedef struct seen_set {
    seen *s;
    uint32_t *slot;
    size_t cap;
} seen_set;

/* Directory index of an earlier entry that tensor t's would repeat, or
 * UINT32_MAX; then *at is the free slot for t's. */
static int find_repeat(FILE *f, const seen_set *set, const uint8_t *dir, const nnz_model *m,
                       const size_t *order, nnz_tensor *t, const nnz_encoded *x, uint64_t len,
                       uint64_t hash, uint32_t *entry, size_t *at, nnz_error *e)
{
    size_t j = (size_t)hash & (set->cap - 1);
    *entry = UINT32_MAX;
    for (; set->slot[j]; j = (j + 1) & (set->cap - 1)) {
        uint32_t k = set->slot[j] - 1;
        int same = 0;
        if (set->s[k].hash != hash)
            continue;
        if (same_entry(f, &set->s[k], dir, &m->tensors[order[k]], t, x, len, &same, e) != 0)
            return -1;
        if (same) {
            *entry = k;
            return 0;
        }
    }
    *at = j;
    return 0;
}

typedef struct section {
    uint32_t type, crc;
    uint64_t off, len;
} section;

/* ---- the writer --------------------------------------------------------- */

/* Directory order: graph entries by hole, then external ones by offset. */
static const uint64_t *sort_holes; /* qsort has no context argument */
static const uint8_t *sort_ext;
static int by_hole(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    if (sort_ext[i] != sort_ext[j])
        return sort_ext[i] ? 1 : -1;
    uint64_t x = sort_holes[i], y = sort_holes[j];
    return x < y ? -1 : x > y;
}

/* The length of t's name when the graph holds it as the name field right
 * before the raw_data header at `hole` (docs/FORMAT.md, names section):
 * the directory entry then leaves it out. 0 when it does not (a Constant
 * node's tensor may have no name of its own), or when it is too long. */
static size_t name_in_graph(const uint8_t *graph, const nnz_tensor *t, uint64_t hole)
{
    size_t len = strlen(t->name), vl = nnz_varint_len(len), hdr = 1 + nnz_varint_len(t->nbytes);
    if (len == 0 || len > 0xffff || hole < hdr + 1 + vl + len)
        return 0;
    const uint8_t *f = graph + hole - hdr - len - vl - 1;
    uint8_t want[10];
    if (f[0] != 0x42 || nnz_varint_put(want, len) != vl || memcmp(f + 1, want, vl) != 0 ||
        memcmp(f + 1 + vl, t->name, len) != 0)
        return 0;
    return len;
}

/* Append tensor t's directory entry in format 1's layout (docs/FORMAT.md,
 * directory); its name is left out when the names section points into the
 * graph for it. */
static void dir_entry(nnz_bytes *d, const nnz_tensor *t, int ext, uint64_t hole, uint64_t poff,
                      uint64_t plen, const nnz_encoded *x, int named_in_graph)
{
    size_t name_len = named_in_graph ? 0 : strlen(t->name);
    nnz_bytes_varint(d, name_len);
    nnz_bytes_put(d, t->name, name_len);
    nnz_bytes_u8(d, 0);
    nnz_bytes_u8(d, (unsigned)t->dtype);
    nnz_bytes_u8(d, (unsigned)t->ndims);
    for (int k = 0; k < t->ndims; k++)
        nnz_bytes_varint(d, (uint64_t)t->dims[k]);
    nnz_bytes_u8(d, (unsigned)t->loc | (t->graph_depth > 0 ? NNZ_LOC_SUBGRAPH : 0) |
                  (ext ? NNZ_LOC_EXTERNAL : 0));
    nnz_bytes_varint(d, hole);
    nnz_bytes_varint(d, poff);
    nnz_bytes_varint(d, plen);
    nnz_bytes_u8(d, x->encoding);
    nnz_bytes_u8(d, x->version);
    nnz_bytes_varint(d, x->params_len);
    nnz_bytes_put(d, x->params, x->params_len);
}

/* Format 2: the bytes of t's TensorProto fields before its data when they
 * are exactly dims (field 1, one varint each), data_type (2), name (8) and
 * the raw_data header (9) at `hole`, as protobuf writers emit them: the
 * entry then takes its name, type and shape from there (docs/FORMAT.md,
 * "described by the graph"). 0 when they are not. */
static size_t proto_back(const uint8_t *graph, const nnz_tensor *t, uint64_t hole)
{
    uint8_t want[16 + 11 * NNZ_MAX_DIMS];
    size_t n = 0, len = strlen(t->name);
    if (t->ndims > NNZ_MAX_DIMS || len > 0xffff)
        return 0;
    for (int k = 0; k < t->ndims; k++) {
        want[n++] = 0x08;
        n += nnz_varint_put(want + n, (uint64_t)t->dims[k]);
    }
    want[n++] = 0x10;
    n += nnz_varint_put(want + n, (uint64_t)t->dtype);
    want[n++] = 0x42;
    n += nnz_varint_put(want + n, len);
    size_t name_at = n;
    want[n++] = 0x4a; /* the name's bytes go between; compared apart */
    n += nnz_varint_put(want + n, t->nbytes);
    if (hole < n + len)
        return 0;
    const uint8_t *p = graph + hole - n - len;
    if (memcmp(p, want, name_at) != 0 || memcmp(p + name_at, t->name, len) != 0 ||
        memchr(p + name_at, 0, len) || memcmp(p + name_at + len, want + name_at, n - name_at) != 0)
        return 0;
    return n + len;
}

/* Bytes of t's name, type and shape in a format 2 entry that holds them. */
static size_t name_shape_bytes(const nnz_tensor *t)
{
    size_t len = strlen(t->name), n = nnz_varint_len(len) + len + 3;
    for (int k = 0; k < t->ndims; k++)
        n += nnz_varint_len((uint64_t)t->dims[k]);
    return n;
}

/* Should the graph go compressed (docs/FORMAT.md, "Compressed graph
 * section")? Then every tensor it held (hole_entry 2, in the stored
 * graph) is cut out, its bytes in its directory entry (encoding inline),
 * and no entry is described by the graph: the blob is smaller by the
 * graph bytes saved less those. The payload offsets' varints are left out of
 * the sum (a byte or so either way). */
static int pack_pays(const nnz_model *m, const uint8_t *hole_entry, const size_t *back,
                     const size_t *order, size_t nent, size_t graph_len, size_t packed_len)
{
    uint64_t cost = packed_len;
    for (size_t k = 0; k < nent; k++) {
        const nnz_tensor *t = &m->tensors[order[k]];
        if (hole_entry[order[k]] == 2) /* inline: its bytes in its entry */
            cost += t->nbytes + nnz_varint_len(t->nbytes);
        if (back[k])
            cost += name_shape_bytes(t) - nnz_varint_len(back[k]);
    }
    return cost < graph_len &&
           graph_len <= (uint64_t)packed_len * NNZ_MAX_GRAPH_EXPANSION + 65536; /* the reader's limit */
}

/* Entries of format 2's directory come in runs of this many: the first
 * of each has a u32 offset and stands alone, the others follow the one
 * before (docs/FORMAT.md). */
#define RUN 16

/* Append tensor t's directory entry in format 2's layout: entry k of the
 * directory; prev_hole and prev_ext are those of entry k - 1. */
static void dir_entry2(nnz_bytes *d, size_t k, const nnz_tensor *t, int ext, uint64_t hole,
                       uint64_t prev_hole, int prev_ext, size_t back, uint64_t poff, uint64_t plen,
                       const nnz_encoded *x)
{
    int first = k % RUN == 0;
    nnz_bytes_u8(d, (unsigned)t->loc | (t->graph_depth > 0 ? NNZ_LOC_SUBGRAPH : 0) |
                  (ext ? NNZ_LOC_EXTERNAL : 0) | (back ? NNZ_LOC_GRAPH_DESCRIBED : 0));
    nnz_bytes_varint(d, first || ext || prev_ext ? hole : hole - prev_hole);
    if (back) {
        nnz_bytes_varint(d, back);
    } else {
        size_t name_len = strlen(t->name);
        nnz_bytes_varint(d, name_len);
        nnz_bytes_put(d, t->name, name_len);
        nnz_bytes_u8(d, 0);
        nnz_bytes_u8(d, (unsigned)t->dtype);
        nnz_bytes_u8(d, (unsigned)t->ndims);
        for (int j = 0; j < t->ndims; j++)
            nnz_bytes_varint(d, (uint64_t)t->dims[j]);
    }
    if (first)
        nnz_bytes_varint(d, poff / PAYLOAD_ALIGN);
    nnz_bytes_varint(d, plen);
    nnz_bytes_u8(d, (unsigned)x->encoding | (unsigned)x->version << 4);
    nnz_bytes_varint(d, x->params_len);
    nnz_bytes_put(d, x->params, x->params_len);
}

/* What the directory entries are written from. */
typedef struct dir_build {
    int v1, any_name;
    const uint8_t *names;   /* format 1: the names section's u16 per entry */
    const size_t *back;     /* format 2: proto_back per entry, 0 when not described */
    const uint64_t *holes;
    const uint8_t *ext;
    const size_t *order;
    size_t *starts;         /* where each entry starts in the entries */
    int gpack;              /* the graph is compressed: names counted as the graph's */
    uint64_t *graph_names;  /* and summed here */
} dir_build;

/* Append entry k (with payload_offset poff, payload_length plen and
 * encoding x); returns the bytes it takes in the directory and the names
 * section, with its share of the offsets. */
static uint64_t add_entry(const dir_build *db, nnz_bytes *d, const nnz_model *m, size_t k,
                          uint64_t poff, uint64_t plen, const nnz_encoded *x)
{
    size_t i = db->order[k], at = d->len;
    const nnz_tensor *t = &m->tensors[i];
    db->starts[k] = at;
    if (db->v1) {
        dir_entry(d, t, db->ext[i], db->holes[i], poff, plen, x,
                  db->names[2 * k] | db->names[2 * k + 1]);
        return d->len - at + 4 + (db->any_name ? 2 : 0);
    }
    size_t j = k ? db->order[k - 1] : i;
    dir_entry2(d, k, t, db->ext[i], db->holes[i], k ? db->holes[j] : 0, k ? db->ext[j] : 0,
               db->back[k], poff, plen, x);
    uint64_t own = d->len - at + (k % RUN == 0 ? 4 : 0);
    if (db->gpack && !db->ext[i]) {
        /* the name, type and shape a stored graph would give (what a
         * compressed graph moves into the entry) count with the graph */
        size_t moved = name_shape_bytes(t) - 1;
        *db->graph_names += moved;
        own -= moved;
    }
    return own;
}

int nnz_blob_write(nnz_model *m, const nnz_blob_writer *w, FILE *f, nnz_blob_stats *st,
                   nnz_error *e)
{
    memset(st, 0, sizeof *st);
    size_t n = m->ntensors, nent = 0, graph_len = 0;
    uint8_t *entry = nnz_calloc(n, 1, e), *ext = nnz_calloc(n, 1, e), *hole_entry = nnz_calloc(n, 1, e);
    uint64_t *holes = nnz_calloc(n, sizeof *holes, e);
    uint64_t *tbytes = nnz_calloc(n, sizeof *tbytes, e);
    size_t *order = nnz_calloc(n, sizeof *order, e);
    size_t *starts = nnz_calloc(n, sizeof *starts, e);
    size_t *alias_of = nnz_malloc((n ? n : 1) * sizeof *alias_of, e);
    size_t *table_of = nnz_malloc((n ? n : 1) * sizeof *table_of, e);
    uint8_t *shared_coding = nnz_calloc(n ? n : 1, 1, e);
    uint64_t *payload_len = nnz_calloc(n ? n : 1, sizeof *payload_len, e);
    nnz_encoded *pre = NULL; /* every entry encoded first, to share tables */
    size_t *owner_of = NULL;
    seen_set set = { 0 };
    uint8_t *graph = NULL, *names = NULL, *graph_c = NULL;
    size_t *back = NULL, graph_c_len = 0;
    uint64_t *holes_c = NULL;
    nnz_bytes zgraph = { 0 };
    nnz_bytes entries = { 0 };
    char *meta = NULL;
    int rc = -1;
    if (!entry || !ext || !hole_entry || !holes || !tbytes || !order || !starts || !alias_of ||
        !table_of || !shared_coding || !payload_len)
        goto done;
    for (size_t i = 0; i < n; i++)
        alias_of[i] = table_of[i] = SIZE_MAX;
    for (size_t i = 0; i < n; i++)
        entry[i] = m->tensors[i].nbytes >= NNZ_BLOB_MIN_ENTRY_BYTES ||
                   (m->tensors[i].nbytes > 0 && w && w->force_entry && w->force_entry(w->ctx, m, i));
    uint64_t *ext_off = nnz_calloc(n, sizeof *ext_off, e);
    if (!ext_off)
        goto done;
    /* hole_entry: 1 cut out of the graph (a payload of its own), 2 left in
     * the graph as an in-graph entry (too small for a payload) */
    for (size_t i = 0; i < n; i++) {
        ext[i] = w && w->external && entry[i] && m->tensors[i].nbytes >= NNZ_EXTERNAL_MIN_BYTES;
        hole_entry[i] = entry[i] && !ext[i] ? 1 : !entry[i] && m->tensors[i].nbytes > 0 ? 2 : 0;
    }
    /* external tensors are in external-data form while the graph is packed */
    nnz_ext_plan plan = { 0 };
    int packed = w && w->external ? nnz_model_externalize(m, ext, w->external, ext_off, &plan, e)
                                  : 0;
    if (packed == 0)
        packed = nnz_model_skeleton(m, hole_entry, &graph, &graph_len, holes, e);
    /* the graph the compressed section would hold: every tensor cut out */
    int try_pack = packed == 0 && !(w && (w->graph_raw || w->format_major == 1)) &&
                   graph_len > 0 && graph_len <= NNZ_GRAPH_PACK_MAX;
    if (try_pack) {
        uint8_t *cut = nnz_malloc(n ? n : 1, e);
        if (!(holes_c = nnz_calloc(n ? n : 1, sizeof *holes_c, e)) || !cut)
            packed = -1;
        for (size_t i = 0; packed == 0 && i < n; i++)
            cut[i] = hole_entry[i] ? 1 : 0;
        if (packed == 0)
            packed = nnz_model_skeleton(m, cut, &graph_c, &graph_c_len, holes_c, e);
        free(cut);
    }
    if (w && w->external)
        nnz_model_internalize(m, &plan);
    for (size_t i = 0; i < n; i++)
        if (ext[i])
            holes[i] = ext_off[i];
    free(ext_off);
    if (packed != 0)
        goto done;
    if (try_pack) {
        for (size_t i = 0; i < n; i++)
            if (ext[i])
                holes_c[i] = holes[i];
        if (nnz_graph_pack(graph_c, graph_c_len, &zgraph, e) != 0)
            goto done;
    }
    for (size_t i = 0; i < n; i++)
        if (entry[i] || hole_entry[i] == 2)
            order[nent++] = i;
    sort_holes = holes;
    sort_ext = ext;
    qsort(order, nent, sizeof *order, by_hole);
    for (set.cap = 16; set.cap < 2 * nent + 1; set.cap *= 2)
        ;
    if (!(set.s = nnz_calloc(nent ? nent : 1, sizeof *set.s, e)) ||
        !(set.slot = nnz_calloc(set.cap, sizeof *set.slot, e)))
        goto done;
    /* format 1: names the graph holds where the runtime finds them: the
     * names section says so and the directory leaves them out (1.2);
     * format 2: entries whose name, type and shape the graph gives */
    int v1 = w && w->format_major == 1, any_name = 0;
    names = nnz_calloc(nent ? nent : 1, 2, e);
    back = nnz_calloc(nent ? nent : 1, sizeof *back, e);
    if (!names || !back)
        goto done;
    for (size_t k = 0; k < nent; k++) {
        size_t i = order[k];
        if (ext[i] || (w && w->names_in_directory))
            continue;
        if (!v1) {
            back[k] = proto_back(graph, &m->tensors[i], holes[i]);
            continue;
        }
        size_t len = name_in_graph(graph, &m->tensors[i], holes[i]);
        put_le(names + 2 * k, len, 2);
        any_name |= len != 0;
    }
    /* compressed: the cut graph and its holes, the directory self-contained */
    int gpack = zgraph.buf && pack_pays(m, hole_entry, back, order, nent, graph_len, zgraph.len);
    if (gpack) {
        st->graph_raw_bytes = graph_c_len;
        uint64_t *hswap = holes;
        holes = holes_c;
        holes_c = hswap;
        free(graph);
        graph = graph_c;
        graph_c = NULL;
        graph_len = graph_c_len;
        memset(back, 0, nent * sizeof *back);
    } else {
        st->graph_raw_bytes = graph_len;
    }
    dir_build db = { .v1 = v1, .any_name = any_name, .names = names, .back = back,
                     .holes = holes, .ext = ext, .order = order, .starts = starts,
                     .gpack = gpack, .graph_names = &st->graph_names_bytes };

    /* shared Huffman tables: every tensor encoded before the first payload
     * is written, then the tables chosen across them (nnz_share_tables) */
    if (w && w->share_tables && w->encode && !w->external) {
        pre = nnz_calloc(nent ? nent : 1, sizeof *pre, e);
        owner_of = nnz_malloc((nent ? nent : 1) * sizeof *owner_of, e);
        if (!pre || !owner_of)
            goto done;
        for (size_t k = 0; k < nent; k++) {
            pre[k] = (nnz_encoded){ .encoding = NNZ_ENC_RAW, .version = 1 };
            if (hole_entry[order[k]] != 2 && w->encode(w->ctx, m, order[k], &pre[k], e) != 0) {
                nnz_wrap(e, "tensor '%s': ", m->tensors[order[k]].name);
                goto done;
            }
        }
        if (nnz_share_tables(pre, nent, owner_of, e) != 0)
            goto done;
        for (size_t k = 0; k < nent; k++) {
            free(pre[k].syms);
            pre[k].syms = NULL;
            if (owner_of[k] != SIZE_MAX && owner_of[k] != k) {
                table_of[order[k]] = order[owner_of[k]];
                st->shared++;
            }
        }
    }

    enum { MAXSEC = 5 };
    unsigned nsec = any_name ? 5 : 4;
    section sec[MAXSEC];
    out o = { .f = f, .e = e };
    uint8_t head[HEADER_SIZE + MAXSEC * SECTION_ENTRY_SIZE];
    size_t head_len = HEADER_SIZE + nsec * SECTION_ENTRY_SIZE;
    memset(head, 0, sizeof head);
    if (out_put(&o, head, head_len) != 0)
        goto done;

    o.crc = 0;
    sec[0] = gpack ? (section){ SEC_GRAPH_PACKED, 0, o.pos, zgraph.len }
                   : (section){ SEC_GRAPH, 0, o.pos, graph_len };
    if (out_put(&o, gpack ? zgraph.buf : graph, (size_t)sec[0].len) != 0)
        goto done;
    sec[0].crc = o.crc;

    /* payloads, each 64-byte aligned; their entries are built alongside */
    if (out_pad(&o, PAYLOAD_ALIGN) != 0)
        goto done;
    o.crc = 0;
    sec[1] = (section){ SEC_PAYLOAD, 0, o.pos, 0 };
    for (size_t k = 0; k < nent; k++) {
        size_t i = order[k];
        nnz_tensor *t = &m->tensors[i];
        nnz_encoded x = { .encoding = NNZ_ENC_RAW, .version = 1 };
        if (hole_entry[i] == 2) { /* in-graph: no payload bytes, the next offset */
            if (out_pad(&o, PAYLOAD_ALIGN) != 0)
                goto done;
            x.encoding = NNZ_ENC_GRAPH;
            if (gpack) { /* the graph is compressed: its bytes in the entry */
                x.encoding = NNZ_ENC_INLINE;
                x.params = t->proto->raw_data.data;
                x.params_len = t->nbytes;
            }
            tbytes[i] = add_entry(&db, &entries, m, k, o.pos - sec[1].off, 0, &x);
            continue;
        }
        if (pre) {
            x = pre[k];
            memset(&pre[k], 0, sizeof pre[k]);
        } else if (w && w->encode && w->encode(w->ctx, m, i, &x, e) != 0) {
            nnz_encoded_free(&x);
            nnz_wrap(e, "tensor '%s': ", t->name);
            goto done;
        }
        uint64_t at = o.pos;
        if (out_pad(&o, PAYLOAD_ALIGN) != 0) {
            nnz_encoded_free(&x);
            goto done;
        }
        st->padding_bytes += o.pos - at;
        uint64_t poff = o.pos - sec[1].off;
        uint64_t plen = x.payload ? x.payload_len : t->nbytes;
        /* a tensor whose entry would repeat an earlier one byte for byte
         * (dtype, shape, encoding, parameters, payload) is an alias of it */
        uint64_t hash = 0;
        uint32_t rep_entry;
        size_t slot = 0;
        if (entries.failed) { /* the earlier parameters are compared there */
            nnz_encoded_free(&x);
            nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory building the directory");
            goto done;
        }
        if (entry_hash(t, &x, plen, &hash, e) != 0 ||
            find_repeat(f, &set, entries.buf, m, order, t, &x, plen, hash, &rep_entry, &slot,
                        e) != 0) {
            nnz_encoded_free(&x);
            goto done;
        }
        /* a table others use is never an alias (it may be a target; when
         * it repeats an earlier entry, that one stays the target) */
        int owner_repeats = owner_of && owner_of[k] == k && rep_entry != UINT32_MAX;
        if (owner_repeats)
            rep_entry = UINT32_MAX;
        if (rep_entry != UINT32_MAX) {
            uint8_t pk[10];
            size_t np = nnz_varint_put(pk, rep_entry);
            nnz_encoded a = { .encoding = NNZ_ENC_ALIAS, .version = 1, .params = pk,
                              .params_len = np };
            tbytes[i] = add_entry(&db, &entries, m, k, poff, 0, &a);
            alias_of[i] = order[rep_entry];
            st->aliases++;
            nnz_encoded_free(&x);
            continue;
        }
        if (!owner_repeats) { /* (its slot was not looked for) */
            set.slot[slot] = (uint32_t)k + 1;
            set.s[k] = (seen){ .hash = hash, .at = o.pos, .len = plen, .params_len = x.params_len,
                               .encoding = x.encoding, .version = x.version };
        }
        if ((x.payload ? out_put(&o, x.payload, x.payload_len) : out_tensor_data(&o, t)) != 0) {
            nnz_encoded_free(&x);
            goto done;
        }
        tbytes[i] = plen + add_entry(&db, &entries, m, k, poff, plen, &x);
        payload_len[i] = plen;
        shared_coding[i] = x.shared_coding;
        set.s[k].params_end = entries.len; /* its parameters end its entry */
        nnz_encoded_free(&x);
    }
    sec[1].len = o.pos - sec[1].off;
    sec[1].crc = o.crc;

    /* directory: u32 count, u32 offset of each entry (format 1) or of the
     * first of each run of RUN entries (format 2), the entries */
    nnz_bytes dir = { 0 };
    uint8_t u32[4];
    size_t step = v1 ? 1 : RUN, nslot = (nent + step - 1) / step;
    put_le(u32, nent, 4);
    nnz_bytes_put(&dir, u32, 4);
    for (size_t k = 0; k < nent; k += step) {
        put_le(u32, 4 + 4 * nslot + starts[k], 4);
        nnz_bytes_put(&dir, u32, 4);
    }
    nnz_bytes_put(&dir, entries.buf, entries.len);
    if (dir.failed || entries.failed) {
        free(dir.buf);
        nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory building the directory");
        goto done;
    }
    o.crc = 0;
    sec[2] = (section){ SEC_DIRECTORY, 0, o.pos, dir.len };
    int wr = out_put(&o, dir.buf, dir.len);
    free(dir.buf);
    if (wr != 0)
        goto done;
    sec[2].crc = o.crc;

    if (w && w->metadata && !(meta = w->metadata(w->ctx, e)))
        goto done;
    o.crc = 0;
    sec[3] = (section){ SEC_METADATA, 0, o.pos, meta ? strlen(meta) : 0 };
    if (out_put(&o, meta, (size_t)sec[3].len) != 0)
        goto done;
    sec[3].crc = o.crc;
    if (any_name) {
        o.crc = 0;
        sec[4] = (section){ SEC_NAMES, 0, o.pos, 2 * (uint64_t)nent };
        if (out_put(&o, names, 2 * nent) != 0)
            goto done;
        sec[4].crc = o.crc;
    }

    /* header and section table, at the front */
    uint8_t *tab = head + HEADER_SIZE;
    for (unsigned s = 0; s < nsec; s++) {
        uint8_t *p = tab + s * SECTION_ENTRY_SIZE;
        put_le(p, sec[s].type, 4);
        put_le(p + 8, sec[s].off, 8);
        put_le(p + 16, sec[s].len, 8);
        put_le(p + 24, sec[s].crc, 4);
    }
    static const uint8_t magic[8] = { 'N', 'N', 'Z', 'B', 0x0d, 0x0a, 0x1a, 0x0a };
    memcpy(head, magic, 8);
    put_le(head + 8, v1 ? 1 : NNZ_FORMAT_MAJOR, 2);
    put_le(head + 10, v1 ? 2 : NNZ_FORMAT_MINOR, 2);
    put_le(head + 16, o.pos, 8);
    put_le(head + 24, nsec, 4);
    put_le(head + 28, nnz_crc32(0, tab, nsec * SECTION_ENTRY_SIZE), 4);
    put_le(head + 32, HEADER_SIZE, 8);
    put_le(head + 60, nnz_crc32(0, head, 60), 4);
    if (fseek(f, 0, SEEK_SET) != 0 || fwrite(head, 1, head_len, f) != head_len ||
        fseek(f, 0, SEEK_END) != 0) {
        nnz_fail(e, NNZ_EXIT_OUTPUT, "write failed: %s", strerror(errno));
        goto done;
    }
    st->blob_bytes = o.pos;
    st->graph_bytes = sec[0].len;
    st->graph_packed = gpack;
    st->directory_bytes = sec[2].len;
    st->names_bytes = any_name ? sec[4].len : 0;
    st->metadata_bytes = sec[3].len;
    st->payload_bytes = sec[1].len;
    st->entries = nent;
    st->tensor_bytes = tbytes;
    st->is_entry = entry;
    st->alias_of = alias_of;
    st->table_of = table_of;
    st->shared_coding = shared_coding;
    st->payload_len = payload_len;
    shared_coding = NULL;
    payload_len = NULL;
    tbytes = NULL;
    entry = NULL;
    alias_of = NULL;
    table_of = NULL;
    rc = 0;
done:
    for (size_t k = 0; pre && k < nent; k++)
        nnz_encoded_free(&pre[k]);
    free(pre);
    free(owner_of);
    free(table_of);
    free(shared_coding);
    free(payload_len);
    free(set.s);
    free(set.slot);
    free(alias_of);
    free(names);
    free(back);
    free(meta);
    free(graph);
    free(graph_c);
    free(holes_c);
    nnz_bytes_free(&zgraph);
    free(order);
    free(starts);
    free(holes);
    free(entry);
    free(ext);
    free(hole_entry);
    free(tbytes);
    free(entries.buf);
    return rc;
}
