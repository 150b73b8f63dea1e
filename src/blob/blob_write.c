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

#include "nnz.h"
#include "save.h"

#define HEADER_SIZE 64u
#define SECTION_ENTRY_SIZE 32u
#define PAYLOAD_ALIGN 64u
enum { SEC_DIRECTORY = 1, SEC_GRAPH = 2, SEC_PAYLOAD = 3, SEC_METADATA = 4, SEC_NAMES = 5 };

void nnz_encoded_free(nnz_encoded *x)
{
    free(x->params);
    free(x->payload);
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
        return nnz_log_scale(map->scales[c], map->scale_exp);
    if (map->kind != NNZ_VAL_AFFINE)
        return 0;
    const uint8_t *p = map->scales + (size_t)c * 4;
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ---- a growing byte buffer --------------------------------------------- */

typedef struct buf {
    uint8_t *p;
    size_t len, cap;
    int failed;
} buf;

static void buf_put(buf *b, const void *data, size_t n)
{
    if (b->failed || n == 0)
        return;
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len < n)
            cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void buf_u8(buf *b, unsigned v)
{
    uint8_t x = (uint8_t)v;
    buf_put(b, &x, 1);
}

static void buf_varint(buf *b, uint64_t v)
{
    uint8_t x[10];
    size_t n = 0;
    do {
        x[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            x[n] |= 0x80;
        n++;
    } while (v);
    buf_put(b, x, n);
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
    size_t len = strlen(t->name), vl = 1, hdr = 2;
    for (size_t v = len; v > 0x7f; v >>= 7)
        vl++;
    for (uint64_t v = t->nbytes; v > 0x7f; v >>= 7)
        hdr++;
    if (len == 0 || len > 0xffff || hole < hdr + 1 + vl + len)
        return 0;
    const uint8_t *f = graph + hole - hdr - len - vl - 1;
    if (f[0] != 0x42 || memcmp(f + 1 + vl, t->name, len) != 0)
        return 0;
    for (size_t i = 0, v = len; i < vl; i++, v >>= 7)
        if (f[1 + i] != (uint8_t)((v & 0x7f) | (i + 1 < vl ? 0x80 : 0)))
            return 0;
    return len;
}

/* Append tensor t's directory entry (docs/FORMAT.md, directory); its name
 * is left out when the names section points into the graph for it. */
static void dir_entry(buf *d, const nnz_tensor *t, int ext, uint64_t hole, uint64_t poff,
                      uint64_t plen, const nnz_encoded *x, int named_in_graph)
{
    size_t name_len = named_in_graph ? 0 : strlen(t->name);
    buf_varint(d, name_len);
    buf_put(d, t->name, name_len);
    buf_u8(d, 0);
    buf_u8(d, (unsigned)t->dtype);
    buf_u8(d, (unsigned)t->ndims);
    for (int k = 0; k < t->ndims; k++)
        buf_varint(d, (uint64_t)t->dims[k]);
    buf_u8(d, (unsigned)t->loc | (t->graph_depth > 0 ? NNZ_LOC_SUBGRAPH : 0) |
                  (ext ? NNZ_LOC_EXTERNAL : 0));
    buf_varint(d, hole);
    buf_varint(d, poff);
    buf_varint(d, plen);
    buf_u8(d, x->encoding);
    buf_u8(d, x->version);
    buf_varint(d, x->params_len);
    buf_put(d, x->params, x->params_len);
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
    uint8_t *graph = NULL, *names = NULL;
    buf entries = { 0 };
    char *meta = NULL;
    int rc = -1;
    if (!entry || !ext || !hole_entry || !holes || !tbytes || !order || !starts)
        goto done;
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
    if (w && w->external)
        nnz_model_internalize(m, &plan);
    for (size_t i = 0; i < n; i++)
        if (ext[i])
            holes[i] = ext_off[i];
    free(ext_off);
    if (packed != 0)
        goto done;
    for (size_t i = 0; i < n; i++)
        if (entry[i] || hole_entry[i] == 2)
            order[nent++] = i;
    sort_holes = holes;
    sort_ext = ext;
    qsort(order, nent, sizeof *order, by_hole);
    /* names the graph holds where the runtime finds them: the names
     * section says so and the directory leaves them out (format 1.2) */
    names = nnz_calloc(nent ? nent : 1, 2, e);
    if (!names)
        goto done;
    int any_name = 0;
    for (size_t k = 0; k < nent; k++) {
        size_t i = order[k];
        size_t len = ext[i] || (w && w->names_in_directory)
                         ? 0 : name_in_graph(graph, &m->tensors[i], holes[i]);
        put_le(names + 2 * k, len, 2);
        any_name |= len != 0;
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
    sec[0] = (section){ SEC_GRAPH, 0, o.pos, graph_len };
    if (out_put(&o, graph, graph_len) != 0)
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
            starts[k] = entries.len;
            x.encoding = NNZ_ENC_GRAPH;
            dir_entry(&entries, t, 0, holes[i], o.pos - sec[1].off, 0, &x, names[2 * k] | names[2 * k + 1]);
            tbytes[i] = entries.len - starts[k] + 4 + (any_name ? 2 : 0);
            continue;
        }
        if (w && w->encode && w->encode(w->ctx, m, i, &x, e) != 0) {
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
        if ((x.payload ? out_put(&o, x.payload, x.payload_len) : out_tensor_data(&o, t)) != 0) {
            nnz_encoded_free(&x);
            goto done;
        }
        starts[k] = entries.len;
        dir_entry(&entries, t, ext[i], holes[i], poff, plen, &x, names[2 * k] | names[2 * k + 1]);
        nnz_encoded_free(&x);
        tbytes[i] = plen + (entries.len - starts[k]) + 4 + (any_name ? 2 : 0);
    }
    sec[1].len = o.pos - sec[1].off;
    sec[1].crc = o.crc;

    /* directory: u32 count, u32 offset of each entry, the entries */
    buf dir = { 0 };
    uint8_t u32[4];
    put_le(u32, nent, 4);
    buf_put(&dir, u32, 4);
    for (size_t k = 0; k < nent; k++) {
        put_le(u32, 4 + 4 * nent + starts[k], 4);
        buf_put(&dir, u32, 4);
    }
    buf_put(&dir, entries.p, entries.len);
    if (dir.failed || entries.failed) {
        free(dir.p);
        nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory building the directory");
        goto done;
    }
    o.crc = 0;
    sec[2] = (section){ SEC_DIRECTORY, 0, o.pos, dir.len };
    int wr = out_put(&o, dir.p, dir.len);
    free(dir.p);
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
    put_le(head + 8, NNZ_FORMAT_MAJOR, 2);
    put_le(head + 10, NNZ_FORMAT_MINOR, 2);
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
    st->graph_bytes = graph_len;
    st->directory_bytes = sec[2].len;
    st->names_bytes = any_name ? sec[4].len : 0;
    st->metadata_bytes = sec[3].len;
    st->payload_bytes = sec[1].len;
    st->entries = nent;
    st->tensor_bytes = tbytes;
    st->is_entry = entry;
    tbytes = NULL;
    entry = NULL;
    rc = 0;
done:
    free(names);
    free(meta);
    free(graph);
    free(order);
    free(starts);
    free(holes);
    free(entry);
    free(ext);
    free(hole_entry);
    free(tbytes);
    free(entries.p);
    return rc;
}
