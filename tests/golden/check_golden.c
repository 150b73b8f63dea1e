/* check_golden.c - decodes the committed golden blobs with the runtime
 * alone (runtime/nnz.c, and SHA-256 from src/core for the digests; none of
 * the writer) and compares every tensor's bytes with tests/golden/MANIFEST:
 * whole (nnz_decode), block by block (nnz_decode_block) and in pieces of
 * 100 bytes (nnz_reader). Prints one line per mismatch; exit status 1 if
 * any, 2 if the files cannot be read.
 *   check_golden DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnz.h"
#include "sha256.h"

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    uint8_t *p = malloc(n > 0 ? (size_t)n : 1);
    if (!p || fread(p, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(p);
        return NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return p;
}

/* Bytes of `n` elements of output type ot (int4: two a byte). */
static size_t span(int ot, size_t es, uint64_t n)
{
    return ot == NNZ_OUT_I4 ? (size_t)(n + 1) / 2 : (size_t)n * es;
}

/* Tensor `index` decoded three ways; each must give want_len bytes of
 * digest `want`. Returns the number of ways that did not. */
static int check(const nnz_blob *b, uint32_t index, int ot, size_t want_len, const char *want,
                 const char *label)
{
    nnz_tensor_info info;
    size_t osz, ssz;
    int bad = 0;
    char hex[65];
    if (nnz_tensor_info_get(b, index, &info) != NNZ_OK ||
        nnz_decode_sizes(b, index, ot, &osz, &ssz) != NNZ_OK || osz != want_len) {
        fprintf(stderr, "%s: sizes differ\n", label);
        return 1;
    }
    size_t es = info.count && ot != NNZ_OUT_I4 ? osz / (size_t)info.count : 1;
    uint8_t *out = malloc(osz + 1), *piece = malloc(osz + 100), *scratch = malloc(ssz + 1);
    nnz_status st = nnz_decode(b, index, ot, out, osz, scratch, ssz);
    nnz_sha256_hex(out, osz, hex);
    if (st != NNZ_OK || strcmp(hex, want) != 0) {
        fprintf(stderr, "%s: nnz_decode gives status %d, sha256 %s\n", label, (int)st, hex);
        bad++;
    }
    /* with one scratch for all of a blob's calls, NNZ_OUT_KEEP after its
     * first: a Huffman table shared between tensors (encoding version 6)
     * built by the call before is used again, not built anew */
    static uint8_t keep_scratch[1 << 16];
    static const uint8_t *keep_data;
    if (ssz <= sizeof keep_scratch) {
        int keep = keep_data == b->data ? NNZ_OUT_KEEP : 0;
        keep_data = b->data;
        memset(piece, 0, osz + 1);
        st = nnz_decode(b, index, ot | keep, piece, osz, keep_scratch, sizeof keep_scratch);
        nnz_sha256_hex(piece, osz, hex);
        if (st != NNZ_OK || strcmp(hex, want) != 0) {
            fprintf(stderr, "%s: with NNZ_OUT_KEEP %d, status %d, sha256 %s\n", label, keep,
                    (int)st, hex);
            bad++;
        }
    }
    /* block by block into one buffer */
    memset(piece, 0, osz + 1);
    for (uint64_t k = 0; k < info.nblocks && !bad; k++) {
        size_t at = span(ot, es, k * info.block_elems);
        st = nnz_decode_block(b, index, k, ot, piece + at, osz - at + (ot == NNZ_OUT_I4), scratch,
                              ssz);
        if (st != NNZ_OK) {
            fprintf(stderr, "%s: block %llu gives status %d\n", label, (unsigned long long)k, (int)st);
            bad++;
        }
    }
    nnz_sha256_hex(piece, osz, hex);
    if (!bad && strcmp(hex, want) != 0) {
        fprintf(stderr, "%s: block by block, sha256 %s\n", label, hex);
        bad++;
    }
    /* in pieces of 100 bytes */
    nnz_reader r;
    nnz_sha256 h;
    size_t got, total = 0;
    nnz_sha256_init(&h);
    st = nnz_reader_open(&r, b, index, ot, scratch, ssz);
    while (st == NNZ_OK && (st = nnz_reader_read(&r, piece, 100, &got)) == NNZ_OK && got) {
        nnz_sha256_update(&h, piece, span(ot, es, got));
        total += got;
    }
    uint8_t d[32];
    nnz_sha256_final(&h, d);
    for (int k = 0; k < 32; k++)
        snprintf(hex + 2 * k, 3, "%02x", d[k]);
    if (st != NNZ_OK || total != info.count || strcmp(hex, want) != 0) {
        fprintf(stderr, "%s: in pieces, status %d, %zu elements, sha256 %s\n", label, (int)st, total, hex);
        bad++;
    }
    free(out);
    free(piece);
    free(scratch);
    return bad;
}

static int sha_write(void *ctx, const void *data, size_t size)
{
    nnz_sha256_update((nnz_sha256 *)ctx, data, size);
    return 0;
}

/* A compressed graph's lines: @graph, the graph nnz_graph_get expands;
 * @model, what nnz_rebuild streams. Returns 1 when it differs. */
static int check_whole(const nnz_blob *b, const char *what, size_t want_len, const char *want,
                       const char *label)
{
    char hex[65];
    nnz_status st;
    size_t len, work = 0;
    if (strcmp(what, "@graph") == 0) {
        const uint8_t *g = NULL;
        uint8_t *mem = NULL;
        st = nnz_graph_sizes(b, &work);
        if (st == NNZ_OK && !(mem = malloc(work + 1)))
            return 1;
        if (st == NNZ_OK)
            st = nnz_graph_get(b, mem, work, &g);
        len = b->graph_size;
        if (st == NNZ_OK)
            nnz_sha256_hex(g, len, hex);
        free(mem);
    } else {
        uint64_t size = 0;
        uint8_t *mem = NULL, d[32];
        nnz_sha256 h;
        nnz_sha256_init(&h);
        st = nnz_rebuild_sizes(b, &size, &work);
        if (st == NNZ_OK && !(mem = malloc(work + 1)))
            return 1;
        if (st == NNZ_OK)
            st = nnz_rebuild(b, sha_write, &h, mem, work);
        nnz_sha256_final(&h, d);
        for (int k = 0; k < 32; k++)
            snprintf(hex + 2 * k, 3, "%02x", d[k]);
        len = (size_t)size;
        free(mem);
    }
    if (st != NNZ_OK || len != want_len || strcmp(hex, want) != 0) {
        fprintf(stderr, "%s: status %d, %zu bytes, sha256 %s\n", label, (int)st, len,
                st == NNZ_OK ? hex : "-");
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: check_golden DIR\n");
        return 2;
    }
    char path[1024], line[1024], loaded[256] = "";
    snprintf(path, sizeof path, "%s/MANIFEST", argv[1]);
    FILE *m = fopen(path, "r");
    if (!m)
        return 2;
    uint8_t *data = NULL;
    size_t len = 0;
    nnz_blob b;
    int bad = 0, lines = 0;
    while (fgets(line, sizeof line, m)) {
        char file[256], name[256], want[65];
        unsigned index;
        int ot;
        size_t bytes;
        if (line[0] == '#')
            continue;
        if (sscanf(line, "%255s %u %255s %d %zu %64s", file, &index, name, &ot, &bytes, want) != 6)
            return 2;
        if (strcmp(file, loaded) != 0) {
            free(data);
            snprintf(path, sizeof path, "%s/%s", argv[1], file);
            if (!(data = slurp(path, &len)))
                return 2;
            nnz_status st = nnz_open(&b, data, len, 0);
            if (st != NNZ_OK) {
                fprintf(stderr, "%s: does not open: %s\n", file, nnz_strerror(st));
                return 1;
            }
            snprintf(loaded, sizeof loaded, "%s", file);
        }
        char label[600];
        nnz_tensor_info info;
        snprintf(label, sizeof label, "%s %s out %d", file, name, ot);
        if (name[0] == '@') { /* the blob's graph or rebuilt model */
            bad += check_whole(&b, name, bytes, want, label);
            lines++;
            continue;
        }
        if (nnz_tensor_info_get(&b, index, &info) != NNZ_OK || (info.name_len != strlen(name) || memcmp(info.name_bytes, name, info.name_len) != 0)) {
            fprintf(stderr, "%s: not tensor %u\n", label, index);
            bad++;
            continue;
        }
        bad += check(&b, index, ot, bytes, want, label);
        lines++;
    }
    fclose(m);
    free(data);
    fprintf(stderr, "%d tensor outputs checked, %d mismatches\n", lines, bad);
    return bad ? 1 : 0;
}
