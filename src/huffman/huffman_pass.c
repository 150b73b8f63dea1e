/* huffman_pass.c - the huffman pass: entropy-code each tensor's integer
 * codes (and the gaps between its non-zero weights) with canonical Huffman
 * codes, where that is smaller than packed bits (docs/passes/huffman.md).
 * The coding itself happens when the blob is written (src/blob/encode.c),
 * which weighs dense and sparse layouts, packed and Huffman streams by
 * their histograms and writes the smallest; this pass allows Huffman and
 * sets its limits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "nnz.h"
#include "pass.h"

typedef struct huff_opts {
    int max_len;
    int block_log2;
} huff_opts;

extern const nnz_pass nnz_pass_huffman;

static int parse(const nnz_kv *kv, size_t n, void **out, nnz_error *e)
{
    huff_opts *o = nnz_calloc(1, sizeof *o, e);
    if (!o)
        return -1;
    o->max_len = NNZ_HUFF_DEFAULT_MAX_LEN;
    o->block_log2 = 16;
    for (size_t i = 0; i < n; i++) {
        long v;
        int rc;
        if (strcmp(kv[i].key, "max-len") == 0) {
            rc = nnz_opt_int("huffman", &kv[i], 1, NNZ_HUFF_MAX_LEN, &v, e);
            o->max_len = (int)v;
        } else if (strcmp(kv[i].key, "block") == 0) {
            rc = nnz_opt_int("huffman", &kv[i], 256, 1L << 24, &v, e);
            if (rc == 0 && (v & (v - 1)))
                rc = nnz_fail(e, NNZ_EXIT_USAGE,
                              "huffman: block=%ld: expected a power of two in 256..16777216", v);
            o->block_log2 = 0;
            while (rc == 0 && (1L << o->block_log2) < v)
                o->block_log2++;
        } else {
            rc = nnz_opt_unknown(&nnz_pass_huffman, &kv[i], e);
        }
        if (rc != 0) {
            free(o);
            return -1;
        }
    }
    *out = o;
    return 0;
}

/* By itself (besides the tensors earlier stages quantized, which the
 * pipeline hands it: it consumes codes), the integer weights of models that
 * were quantized before nnzip saw them. */
static int selects(const nnz_tensor *t, const void *opts)
{
    (void)opts;
    return nnz_tensor_is_codes(t);
}

static int run(nnz_model *m, nnz_tensor *t, nnz_state *st, const void *vo, cJSON *rep,
               nnz_error *e)
{
    (void)m;
    (void)t;
    const huff_opts *o = vo;
    cJSON *h = cJSON_AddObjectToObject(rep, "huffman");
    if (!st->codes) {
        cJSON_AddStringToObject(h, "skipped", "not quantized: its float values are stored as they are");
        return 0;
    }
    st->entropy = 1;
    st->max_code_len = o->max_len;
    st->block_log2 = st->hashed ? 0 : o->block_log2;
    size_t n = nnz_state_nstored(st);
    uint32_t alphabet = st->bits >= 16 ? 65536 : 1u << st->bits;
    uint64_t *freq = nnz_calloc(alphabet, sizeof *freq, e);
    if (!freq)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (st->codes[i] < alphabet)
            freq[st->codes[i]]++;
    cJSON_AddNumberToObject(h, "entropy_bits", nnz_entropy(freq, alphabet));
    cJSON_AddNumberToObject(h, "max_len", o->max_len);
    cJSON_AddNumberToObject(h, "block", (double)(st->block_log2 ? 1L << st->block_log2 : 0));
    free(freq);
    return 0;
}

const nnz_pass nnz_pass_huffman = {
    .name = "huffman",
    .help = "canonical Huffman coding of the quantized codes and of sparse positions (lossless)",
    .options = "max-len=1..16 (default 14), block=POWER_OF_TWO (256..16777216, default 65536)",
    .phase = NNZ_PHASE_ENTROPY,
    .consumes = NNZ_DATA_CODES,
    .produces = NNZ_DATA_CODES,
    .parse = parse,
    .selects = selects,
    .run = run,
    .free_opts = free,
};
