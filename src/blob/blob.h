/* blob.h - writing .nnz blobs (docs/FORMAT.md). The reader is the runtime. */
#ifndef NNZ_BLOB_BLOB_H
#define NNZ_BLOB_BLOB_H

#include <stdint.h>
#include <stdio.h>

#include "model.h"

/* Tensors smaller than this stay inside the graph section as they are: a
 * directory entry and its alignment would cost more than they hold. */
#define NNZ_BLOB_MIN_ENTRY_BYTES 64u

/* One tensor's encoded form, made by an encoder callback. */
typedef struct nnz_encoded {
    uint8_t encoding;      /* NNZ_ENC_* */
    uint8_t version;
    uint8_t *params;       /* malloc'ed, may be NULL */
    size_t params_len;
    uint8_t *payload;      /* malloc'ed; NULL with encoding RAW: the tensor's data */
    size_t payload_len;
    /* A dense tensor of one block whose symbols a Huffman table shared with
     * other tensors may code (nnz_share_tables, encode.h): its symbols
     * (malloc'ed), their width, and the code length limit it asked for;
     * syms NULL for any other tensor. */
    uint32_t *syms;
    size_t nsyms;
    unsigned width, max_len;
    /* set by nnz_share_tables when it coded the stream anew: its coding
     * (NNZ_CODING_*: 1..4 the table's owner, 5 or 6 a user of it); 0 when not */
    uint8_t shared_coding;
} nnz_encoded;

void nnz_encoded_free(nnz_encoded *x);

typedef struct nnz_blob_writer {
    /* Encode tensor `index`; NULL encodes every tensor RAW. Called once per
     * blob tensor, in graph order, so a caller can stream. */
    int (*encode)(void *ctx, nnz_model *m, size_t index, nnz_encoded *out, nnz_error *e);
    /* Bytes of the metadata section (JSON), called after every tensor was
     * encoded; the writer frees the result. NULL: no metadata. */
    char *(*metadata)(void *ctx, nnz_error *e);
    /* Must tensor i be a directory entry even when small (a pass changed
     * it)? NULL: only the size rule. */
    int (*force_entry)(void *ctx, const nnz_model *m, size_t i);
    /* Non-NULL: tensors of NNZ_EXTERNAL_MIN_BYTES or more are external
     * (docs/FORMAT.md): the rebuilt model refers to them in this file. */
    const char *external;
    /* Every name (and type and shape) in its directory entry, as format 1.1
     * wrote them; else a tensor the graph describes where a reader finds it
     * takes them from there (format 2; format 1.2: the name only, through
     * the names section). */
    int names_in_directory;
    /* 1: format 1.2's directory (a u32 offset and a names section entry per
     * entry), which readers keep reading: for tests of that layout; 0:
     * the current format (NNZ_FORMAT_MAJOR). */
    int format_major;
    /* 1: the graph section stored as it is (`--graph raw`); 0: compressed
     * when that makes the blob smaller (docs/FORMAT.md, format 2 only). */
    int graph_raw;
    /* 1: tensors whose symbol histograms are close share one Huffman table
     * when that is smaller (nnz_share_tables); every tensor is encoded
     * before the first payload is written. Not with `external`. */
    int share_tables;
    void *ctx;
} nnz_blob_writer;

/* What the writer produced, for reports. */
typedef struct nnz_blob_stats {
    uint64_t blob_bytes;
    uint64_t graph_bytes;     /* the graph section's bytes in the blob */
    uint64_t graph_raw_bytes; /* the graph it holds (expanded, when compressed) */
    int graph_packed;         /* the graph section is compressed */
    /* with a compressed graph, the bytes of names, types and shapes its
     * directory entries hold beyond the one byte a described entry takes
     * (docs/FORMAT.md): counted with the graph, not in tensor_bytes */
    uint64_t graph_names_bytes;
    uint64_t directory_bytes;
    uint64_t metadata_bytes;
    uint64_t names_bytes;     /* the names section (format 1.2), 0 if none */
    uint64_t payload_bytes;   /* including alignment padding */
    uint64_t padding_bytes;
    size_t entries;
    /* per model tensor: bytes of its payload + directory entry (less, with a
     * compressed graph, its graph_names_bytes share), 0 if inline */
    uint64_t *tensor_bytes;   /* m->ntensors, malloc'ed; caller frees */
    uint8_t *is_entry;        /* m->ntensors, malloc'ed; caller frees */
    /* per model tensor: the tensor whose entry it repeats byte for byte
     * (written as an alias entry, docs/FORMAT.md), else SIZE_MAX */
    size_t *alias_of;         /* m->ntensors, malloc'ed; caller frees */
    size_t aliases;           /* alias entries */
    /* per model tensor: the tensor whose Huffman table it is coded with
     * (a shared table, docs/FORMAT.md), else SIZE_MAX */
    size_t *table_of;         /* m->ntensors, malloc'ed; caller frees */
    size_t shared;            /* tensors coded with another's table */
    /* per model tensor: the stream coding nnz_share_tables wrote for it (0:
     * its own encoding as the encoder chose it), and its payload bytes */
    uint8_t *shared_coding;   /* m->ntensors, malloc'ed; caller frees */
    uint64_t *payload_len;    /* m->ntensors, malloc'ed; caller frees */
} nnz_blob_stats;

/* A tensor's name as a NUL-terminated malloc'ed string: the runtime gives
 * name_bytes and name_len, since a format 1.2 blob keeps most names in its
 * graph only. NULL when out of memory (e says so). */
struct nnz_tensor_info;
char *nnz_blob_name(const struct nnz_tensor_info *info, nnz_error *e);

/* Channel c's scale (c < map->nchan) of an affine or affine-log value
 * map, as the runtime decodes it; 0 for other maps. */
struct nnz_value_map;
float nnz_blob_map_scale(const struct nnz_value_map *map, uint64_t c);

/* Write the blob of `m` to `f` (which must be seekable). */
int nnz_blob_write(nnz_model *m, const nnz_blob_writer *w, FILE *f, nnz_blob_stats *stats,
                   nnz_error *e);

#endif
