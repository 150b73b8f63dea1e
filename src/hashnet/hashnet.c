/* hashnet.c - the hashnet pass: options, the per-tensor run, and its report
 * (docs/passes/hashnet.md).
 *
 * HashedNets (Chen et al. 2015) trains a network whose layers each hold K
 * shared values; a hash of a weight's index picks its bucket and a second
 * hash its sign. nnzip sees a trained network, so it hashes after training
 * and fits each bucket to the weights that share it (least squares, see
 * hashnet_fit.c). The stored values become the K buckets, which later
 * passes may quantize and Huffman-code; the blob stores the encoding
 * "hashed" with the tensor's seed, and the runtime recomputes the hash. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hashnet.h"
#include "metrics.h"
#include "nnz.h"
#include "pass.h"

static const char options[] =
    "ratio=R (R >= 1: K = ceil(n / R) buckets per tensor) or buckets=K, seed=0..4294967295, "
    "sign=on|off";

extern const nnz_pass nnz_pass_hashnet;

static int parse(const nnz_kv *kv, size_t n, void **out, nnz_error *e)
{
    hashnet_opts *o = nnz_calloc(1, sizeof *o, e);
    if (!o)
        return -1;
    o->sign = 1;
    for (size_t i = 0; i < n; i++) {
        const nnz_kv *k = &kv[i];
        long v = 0;
        int rc, off = 0;
        if (strcmp(k->key, "ratio") == 0) {
            rc = nnz_opt_double("hashnet", k, 1, 1e12, &o->ratio, e);
            if (rc != 0)
                nnz_fail(e, NNZ_EXIT_USAGE,
                         "hashnet: ratio=%s: expected a number in [1, 1e12], the compression "
                         "factor of each tensor (K = ceil(elements / ratio) buckets)",
                         k->value ? k->value : "(missing)");
        } else if (strcmp(k->key, "buckets") == 0) {
            rc = nnz_opt_int("hashnet", k, 1, HASHNET_MAX_BUCKETS, &v, e);
            o->buckets = (uint64_t)v;
        } else if (strcmp(k->key, "seed") == 0) {
            rc = nnz_opt_int("hashnet", k, 0, 4294967295L, &v, e);
            o->seed = (uint32_t)v;
        } else if (strcmp(k->key, "sign") == 0) {
            rc = nnz_opt_choice("hashnet", k, "on|off", &off, e);
            o->sign = off == 0;
        } else {
            rc = nnz_opt_unknown(&nnz_pass_hashnet, k, e);
        }
        if (rc != 0) {
            free(o);
            return -1;
        }
    }
    const char *bad = NULL;
    if (o->ratio > 0 && o->buckets > 0)
        bad = "give ratio= or buckets=, not both (ratio=R: K = ceil(elements / R) buckets "
              "per tensor; buckets=K: the same K for every tensor)";
    else if (o->ratio == 0 && o->buckets == 0)
        bad = "needs ratio=R (K = ceil(elements / R) buckets per tensor) or buckets=K, "
              "e.g. 'hashnet:ratio=8'";
    if (bad) {
        free(o);
        return nnz_fail(e, NNZ_EXIT_USAGE, "hashnet: %s", bad);
    }
    *out = o;
    return 0;
}

/* Store the buckets of a half tensor as halves (the tensor's own value
 * kind), so the values the state holds are the ones the blob will give.
 * The nearest half to the least-squares value is the best half. */
static int buckets_to_halves(nnz_state *st, nnz_error *e)
{
    uint32_t *codes = nnz_malloc(st->nbuckets * sizeof *codes, e);
    if (!codes)
        return -1;
    for (size_t b = 0; b < st->nbuckets; b++) {
        uint16_t h = st->kind == NNZ_VAL_F16 ? nnz_float_to_half(st->buckets[b])
                                             : nnz_float_to_bf16(st->buckets[b]);
        codes[b] = h;
        st->buckets[b] = nnz_state_map(st, h, 0);
    }
    free(st->codes);
    st->codes = codes;
    return 0;
}

static void warn_if_lossy(cJSON *rep, double rel_l2, double ratio, int half)
{
    if (!(rel_l2 > HASHNET_WARN_REL_L2))
        return;
    /* the k-means width that stores about as many bits a weight */
    double bpw = (half ? 16.0 : 32.0) / ratio;
    long bits = lround(bpw);
    bits = bits < 2 ? 2 : bits > 12 ? 12 : bits;
    nnz_report_warn(rep,
                    "hashnet: rel_l2 %.3g at ratio %.3g (%.2g bits a weight): after training, "
                    "a bucket can only hold the mean of the weights that share it (HashedNets "
                    "trains with the hash); use a lower ratio=, or prune or quantize instead, "
                    "e.g. 'quantize:kmeans,bits=%ld' (%ld bits a weight)",
                    rel_l2, ratio, bpw, bits, bits);
}

static int run(nnz_model *m, nnz_tensor *t, nnz_state *st, const void *vo, cJSON *rep,
               nnz_error *e)
{
    (void)m;
    const hashnet_opts *o = vo;
    if (!nnz_dtype_is_float(t->dtype) || st->kind == NNZ_VAL_INT || !st->values)
        return nnz_fail(e, NNZ_EXIT_USAGE, "it is %s; hashnet shares float weights",
                        nnz_dtype_name(t->dtype));
    int half = st->kind == NNZ_VAL_F16 || st->kind == NNZ_VAL_BF16;
    if (st->hashed || (st->codes && !half))
        return nnz_fail(e, NNZ_EXIT_USAGE,
                        "already quantized or hashed; hash first, then quantize the buckets");
    size_t n = st->n;
    /* below HASHNET_MIN_ELEMENTS only when min-elements= or only= asked */
    if (n < 2)
        return nnz_fail(e, NNZ_EXIT_USAGE,
                        "%zu element%s: nothing to share (hashnet leaves tensors under %d "
                        "elements alone unless min-elements= or only= picks them; skip= this "
                        "one)", n, n == 1 ? "" : "s", HASHNET_MIN_ELEMENTS);
    uint64_t k = hashnet_bucket_count(o, n);
    if (k > n)
        return nnz_fail(e, NNZ_EXIT_USAGE,
                        "buckets=%llu, but the tensor has %zu elements (buckets may not "
                        "outnumber them); use ratio=, or add min-elements=%llu to leave "
                        "smaller tensors alone", (unsigned long long)k, n,
                        (unsigned long long)k);
    if (k > HASHNET_MAX_BUCKETS)
        return nnz_fail(e, NNZ_EXIT_USAGE,
                        "%llu buckets, but a 32-bit hash reaches at most %lld; use a larger "
                        "ratio=", (unsigned long long)k, HASHNET_MAX_BUCKETS);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(st->values[i]))
            return nnz_fail(e, NNZ_EXIT_INPUT,
                            "value %zu is %s; hashing needs finite weights (fix the model)", i,
                            isnan(st->values[i]) ? "NaN" : "infinite");
    uint32_t seed = hashnet_tensor_seed(o->seed, t->name);
    float *buckets = nnz_malloc((size_t)k * sizeof *buckets, e);
    size_t *members = nnz_malloc((size_t)k * sizeof *members, e);
    if (!buckets || !members ||
        hashnet_fit(st->values, n, (size_t)k, seed, o->sign, buckets, members, e) != 0) {
        free(buckets);
        free(members);
        return -1;
    }
    size_t empty = 0, most = 0;
    for (size_t b = 0; b < k; b++) {
        empty += members[b] == 0;
        if (members[b] > most)
            most = members[b];
    }
    free(members);
    free(st->buckets);
    st->hashed = 1;
    st->nbuckets = (size_t)k;
    st->buckets = buckets;
    st->seed = seed;
    st->sign = o->sign;
    if (half && buckets_to_halves(st, e) != 0)
        return -1;
    nnz_state_reconstruct(st);

    double ratio = (double)n / (double)k;
    nnz_err_stats s;
    nnz_err_compute(st->orig, st->values, n, &s);
    cJSON *h = cJSON_AddObjectToObject(rep, "hashnet");
    cJSON_AddNumberToObject(h, "buckets", (double)k);
    cJSON_AddNumberToObject(h, "ratio", ratio);
    cJSON_AddNumberToObject(h, "seed", seed);
    cJSON_AddBoolToObject(h, "sign", o->sign);
    cJSON_AddNumberToObject(h, "empty_buckets", (double)empty);
    cJSON_AddNumberToObject(h, "max_members", (double)most);
    cJSON_AddNumberToObject(h, "bits_per_weight", (half ? 16.0 : 32.0) / ratio);
    cJSON_AddNumberToObject(h, "rel_l2", s.rel_l2);
    cJSON_AddNumberToObject(h, "max_abs", s.max_abs);
    cJSON_AddNumberToObject(h, "sqnr_db", s.sqnr_db);
    warn_if_lossy(rep, s.rel_l2, ratio, half);
    return 0;
}

/* `only=` may name any float tensor (a bias too); by default the pass takes
 * the float weights of the ops in pass.h with at least HASHNET_MIN_ELEMENTS. */
static int may_name(const nnz_tensor *t, const void *opts)
{
    (void)opts;
    return nnz_dtype_is_float(t->dtype);
}

const nnz_pass nnz_pass_hashnet = {
    .name = "hashnet",
    .help = "HashedNets weight sharing: K buckets per tensor chosen by a hash of the index, "
            "with a hashed sign; buckets fitted by least squares",
    .options = options,
    .phase = NNZ_PHASE_REFINE,
    .consumes = NNZ_DATA_FLOATS,
    .produces = NNZ_DATA_FLOATS,
    .excludes = (const char *const[]){ "prune", NULL },
    .excludes_why = "hashing shares each bucket among many weights, so the pruned zeros are lost",
    .parse = parse,
    .may_name = may_name,
    .min_elements = HASHNET_MIN_ELEMENTS,
    .run = run,
    .free_opts = free,
};
