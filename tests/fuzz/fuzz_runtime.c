/* fuzz_runtime.c - libFuzzer harness for every runtime entry point: open,
 * tensor info, find, decode into buffers too small, exact and too large,
 * decode by block, read in pieces (checked against nnz_decode), and
 * rebuild. The input is a blob; its last byte also picks flags:
 *   bit 0  open with NNZ_OPEN_SKIP_PAYLOAD_CRC
 *   bit 1  reseal first: recompute every CRC the format has (each section's,
 *          the table's, the header's) over the mutated bytes, so a mutation
 *          reaches the checks behind the checksums (lying fields with valid
 *          checksums) instead of ending in NNZ_E_CHECKSUM */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nnz.h"

static int sink(void *ctx, const void *data, size_t size)
{
    /* touch every byte so a bad pointer is seen */
    const uint8_t *p = (const uint8_t *)data;
    uint8_t *acc = (uint8_t *)ctx;
    for (size_t i = 0; i < size; i++)
        *acc ^= p[i];
    return 0;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }
static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* The CRCs of docs/FORMAT.md, recomputed where their bytes are in the blob. */
static void reseal(uint8_t *b, size_t size)
{
    if (size < 64)
        return;
    uint32_t nsec = get32(b + 24);
    if (nsec > 64)
        nsec = 64;
    size_t table_end = 64 + (size_t)nsec * 32;
    for (uint32_t i = 0; i < nsec && 64 + 32 * (size_t)(i + 1) <= size; i++) {
        uint8_t *s = b + 64 + 32 * (size_t)i;
        uint64_t off = get64(s + 8), len = get64(s + 16);
        if (off <= size && len <= size - off)
            put32(s + 24, nnz_crc32(0, b + off, (size_t)len));
    }
    if (table_end <= size)
        put32(b + 28, nnz_crc32(0, b + 64, table_end - 64));
    put32(b + 60, nnz_crc32(0, b, 60));
}

/* Read tensor i through a reader in pieces of `piece` elements: the same
 * bytes as nnz_decode gave (`want`, or NULL when it failed: then reading
 * must fail too). */
static void read_in_pieces(const nnz_blob *b, uint32_t i, int type, const uint8_t *want,
                           size_t want_size, size_t piece, void *scratch, size_t scratch_size)
{
    nnz_reader r;
    size_t es = 0, at = 0, got;
    nnz_tensor_info info;
    if (nnz_tensor_info_get(b, i, &info) != NNZ_OK || info.count == 0 ||
        nnz_reader_open(&r, b, i, type, scratch, scratch_size) != NNZ_OK)
        return;
    es = want_size / info.count;
    if (!want)
        es = type == NNZ_OUT_NATIVE ? (size_t)(info.decoded_size / info.count)
             : type == NNZ_OUT_F32  ? 4
             : type == NNZ_OUT_F16  ? 2
                                    : 1;
    int i4 = type == NNZ_OUT_I4; /* two elements a byte: pieces of `piece` bytes */
    if (i4)
        es = 1;
    uint8_t *buf = malloc(piece * es);
    nnz_status st = NNZ_OK;
    while (buf && (st = nnz_reader_read(&r, buf, piece * es, &got)) == NNZ_OK && got) {
        if (want && (at + got > info.count ||
                     (i4 ? (at % 2 || memcmp(buf, want + at / 2, (got + 1) / 2) != 0)
                         : memcmp(buf, want + at * es, got * es) != 0)))
            __builtin_trap(); /* the reader and nnz_decode disagree */
        at += got;
    }
    if (buf && ((want && (st != NNZ_OK || at != info.count)) || (!want && st == NNZ_OK)))
        __builtin_trap();
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nnz_blob b;
    uint8_t last = size ? data[size - 1] : 0;
    unsigned flags = last & 1 ? NNZ_OPEN_SKIP_PAYLOAD_CRC : 0;
    uint8_t *copy = NULL;
    if (last & 2) {
        if (!(copy = malloc(size)))
            return 0;
        memcpy(copy, data, size);
        reseal(copy, size);
        data = copy;
    }
    if (nnz_open(&b, data, size, flags) != NNZ_OK) {
        free(copy);
        return 0;
    }
    uint32_t n = nnz_tensor_count(&b);
    for (uint32_t i = 0; i < n && i < 64; i++) {
        nnz_tensor_info info;
        if (nnz_tensor_info_get(&b, i, &info) != NNZ_OK)
            continue;
        uint32_t found;
        char name[64];
        size_t nl = info.name_len < sizeof name - 1 ? info.name_len : sizeof name - 1;
        memcpy(name, info.name_bytes, nl);
        name[nl] = 0;
        nnz_find(&b, name, &found);
        nnz_value_map vm;
        nnz_value_map_get(&b, i, &vm);
        for (int type = NNZ_OUT_NATIVE; type <= NNZ_OUT_I4; type++) {
            size_t out_size, scratch_size;
            if (nnz_decode_sizes(&b, i, type, &out_size, &scratch_size) != NNZ_OK)
                continue;
            if (out_size > (64u << 20) || scratch_size > (64u << 20))
                continue; /* a huge declared tensor: sizes were still checked */
            uint8_t *out = malloc(out_size + 16), *scratch = malloc(scratch_size + 16);
            if (out && scratch) {
                nnz_status st = nnz_decode(&b, i, type, out, out_size, scratch, scratch_size);
                /* the same through a reader, in pieces that cut blocks anywhere */
                read_in_pieces(&b, i, type, st == NNZ_OK ? out : NULL, out_size,
                               1 + (size_t)(last >> 2) * 37, scratch, scratch_size);
                if (out_size)
                    nnz_decode(&b, i, type, out, out_size - 1, scratch, scratch_size);
                if (scratch_size)
                    nnz_decode(&b, i, type, out, out_size, scratch, scratch_size - 1);
                nnz_decode(&b, i, type, out, out_size + 16, scratch, scratch_size + 16);
                /* block by block, into a buffer of one block */
                for (uint64_t k = 0; k < info.nblocks && k < 8; k++)
                    nnz_decode_block(&b, i, k, type, out, out_size, scratch, scratch_size);
                nnz_decode_block(&b, i, info.nblocks, type, out, out_size, scratch, scratch_size);
            }
            free(out);
            free(scratch);
        }
    }
    /* the tensors in order with one scratch, NNZ_OUT_KEEP after the first
     * call: a Huffman table shared between tensors that the call before
     * left there decodes exactly what a table built anew does */
    enum { KEEP_SCRATCH = 1 << 16, KEEP_OUT = 1 << 18 };
    uint8_t *ks = malloc(KEEP_SCRATCH), *o1 = malloc(KEEP_OUT), *o2 = malloc(KEEP_OUT),
            *fresh = malloc(KEEP_SCRATCH);
    for (uint32_t i = 0, k = 0; ks && o1 && o2 && fresh && i < n && i < 64; i++) {
        size_t out_size, scratch_size;
        if (nnz_decode_sizes(&b, i, NNZ_OUT_F32, &out_size, &scratch_size) != NNZ_OK ||
            out_size > KEEP_OUT || scratch_size > KEEP_SCRATCH)
            continue;
        nnz_status s1 = nnz_decode(&b, i, NNZ_OUT_F32, o1, out_size, fresh, scratch_size);
        nnz_status s2 = nnz_decode(&b, i, NNZ_OUT_F32 | (k++ ? NNZ_OUT_KEEP : 0), o2, out_size,
                                   ks, KEEP_SCRATCH);
        if (s1 != s2 || (s1 == NNZ_OK && memcmp(o1, o2, out_size) != 0))
            abort(); /* a kept table decoded otherwise than a built one */
    }
    free(ks);
    free(o1);
    free(o2);
    free(fresh);
    uint64_t model_size;
    size_t work_size;
    if (nnz_rebuild_sizes(&b, &model_size, &work_size) == NNZ_OK && work_size < (64u << 20) &&
        model_size < (16u << 20)) {
        uint8_t *work = malloc(work_size + 1), acc = 0;
        if (work)
            nnz_rebuild(&b, sink, &acc, work, work_size);
        free(work);
    }
    const char *meta;
    size_t meta_size;
    nnz_metadata(&b, &meta, &meta_size);
    free(copy);
    return 0;
}
