/* bench_huffman.c - the figures of docs/passes/huffman.md, each measured
 * against its reference in the same run (bench/bench_huffman.sh drives it).
 *
 *   bench_huffman codes MODEL.onnx PIPELINE OUT.codes
 *       Runs PIPELINE, encodes every quantized tensor as the blob writer
 *       would, and writes their codes to OUT.codes (each tensor packed at
 *       its width, most significant bit first, byte-aligned: the "packed
 *       codes" zstd and xz are given). Prints one JSON line: weights, our
 *       bytes, order-0 entropy, table bytes, the dense tensors' excess over
 *       "1% + table bytes", encode speed, what each Huffman length limit
 *       costs, and what codes per group of channels would save.
 *   bench_huffman decode BLOB.nnz CODES.zst CODES_BYTES [SECONDS]
 *       Alternates, round by round: decoding the blob's quantized tensors to
 *       float32 (and to int8 where the value map allows), zstd decompressing
 *       CODES.zst in process (libzstd.so.1, loaded at run time), and
 *       memcpy of the float32 bytes. Prints medians and per-round ratios.
 *   bench_huffman sparse MODEL.onnx
 *       Prunes each weight tensor of the model to 90% by magnitude and
 *       quantizes the survivors to 5 bits, then compares our encoding with
 *       the order-0 entropy of (mask + survivors' codes), with Huffman over
 *       every element (zero as a symbol), and with Huffman over pairs. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "encode.h"
#include "huffman.h"
#include "model.h"
#include "nnz.h"
#include "pass.h"
#include "state.h"

/* CPU time of this thread: what a busy shared machine takes away from
 * wall time does not count (every figure here is single-threaded). */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what, const nnz_error *e)
{
    fprintf(stderr, "bench_huffman: %s%s%s\n", what, e ? ": " : "", e ? e->msg : "");
    exit(1);
}

static unsigned bits_for(uint32_t max)
{
    unsigned w = 1;
    while (w < 32 && ((uint64_t)1 << w) <= max)
        w++;
    return w;
}

/* Table bytes and data bits of the Huffman code of `freq` under `limit`
 * (0 bits when it cannot be built). */
static int huff_cost(const uint64_t *freq, uint32_t alphabet, unsigned limit, uint64_t *data_bits,
                     uint64_t *table_bytes)
{
    nnz_huff h;
    nnz_error e = { 0 };
    if (nnz_huff_build(freq, alphabet, limit, &h, &e) != 0)
        return -1;
    *data_bits = nnz_huff_data_bits(&h, freq);
    uint64_t a = nnz_huff_table_bits(&h, NNZ_HUFF_TABLE_LIST);
    uint64_t b = nnz_huff_table_bits(&h, NNZ_HUFF_TABLE_GAMMA);
    *table_bytes = (a < b ? a : b) / 8;
    nnz_huff_free(&h);
    return 0;
}

/* ---- codes ---------------------------------------------------------------------- */

typedef struct tensor_codes {
    nnz_tensor *t;
    nnz_state *st;
    size_t n;
    uint32_t alphabet;
} tensor_codes;

static const unsigned limits[] = { 9, 10, 11, 12, 13, 14, 15, 16, NNZ_HUFF_BUILD_MAX_LEN };
#define NLIMITS (sizeof limits / sizeof limits[0])

static int run_codes(const char *model, const char *pipeline, const char *out_path)
{
    nnz_error e = { 0 };
    nnz_pipeline p;
    nnz_model *m;
    if (nnz_pipeline_parse(pipeline, &p, &e) != 0 || nnz_model_load(model, &m, &e) != 0)
        die("load", &e);
    cJSON *rep = cJSON_CreateObject();
    if (nnz_pipeline_prepare(&p, m, rep, &e) != 0)
        die("prepare", &e);
    FILE *out = fopen(out_path, "wb");
    if (!out)
        die("cannot write the codes file", NULL);
    tensor_codes *tc = calloc(m->ntensors, sizeof *tc);
    size_t nt = 0;
    for (size_t i = 0; i < m->ntensors; i++) {
        nnz_state *st = NULL;
        if (nnz_pipeline_run_tensor(&p, m, i, rep, &st, &e) != 0)
            die("pipeline", &e);
        if (!st || !st->codes || st->hashed) {
            nnz_state_free(st);
            continue;
        }
        tc[nt].t = &m->tensors[i];
        tc[nt].st = st;
        tc[nt].n = st->n;
        nt++;
    }
    uint64_t weights = 0, code_bytes = 0, ours = 0, ours_payload = 0, tables = 0;
    double entropy_bits = 0;
    uint64_t lim_bits[NLIMITS] = { 0 };
    int lim_ok[NLIMITS];
    for (size_t k = 0; k < NLIMITS; k++)
        lim_ok[k] = 1;
    double worst_excess = -1e9, group_bound_bits = 0;
    const char *worst_name = "";
    size_t dense_over = 0, dense_n = 0, nsparse = 0, nhuff = 0;
    uint64_t group_bytes[4] = { 0 }; /* 1, 2, 4, 8 groups: bytes of data + tables + map */
    for (size_t k = 0; k < nt; k++) {
        nnz_state *st = tc[k].st;
        size_t n = st->n;
        uint32_t max = 0;
        for (size_t i = 0; i < n; i++)
            if (st->codes[i] > max)
                max = st->codes[i];
        unsigned w = bits_for(max);
        /* the packed codes */
        {
            nnz_bitw bw = { 0 };
            for (size_t i = 0; i < n; i++)
                nnz_bitw_put(&bw, st->codes[i], w);
            nnz_bitw_align(&bw);
            fwrite(bw.out.buf, 1, bw.out.len, out);
            code_bytes += bw.out.len;
            nnz_bitw_free(&bw);
        }
        uint32_t alphabet = max + 1;
        tc[k].alphabet = alphabet;
        uint64_t *freq = calloc(alphabet, sizeof *freq);
        for (size_t i = 0; i < n; i++)
            freq[st->codes[i]]++;
        double h = nnz_entropy(freq, alphabet) * (double)n;
        entropy_bits += h;
        weights += n;
        /* what we store */
        cJSON *r = cJSON_CreateObject();
        nnz_encoded x;
        if (nnz_encode_tensor(tc[k].t, st, r, &x, &e) != 0)
            die("encode", &e);
        ours += x.params_len + x.payload_len;
        ours_payload += x.payload_len;
        const cJSON *enc = cJSON_GetObjectItem(r, "encoding");
        const char *layout = cJSON_GetStringValue(cJSON_GetObjectItem(enc, "layout"));
        const char *coding = cJSON_GetStringValue(cJSON_GetObjectItem(enc, "coding"));
        nsparse += layout && strcmp(layout, "sparse") == 0;
        nhuff += coding && strcmp(coding, "huffman") == 0;
        /* the dense target: payload <= 1.01 * entropy + table bytes */
        uint64_t db, tb;
        if (huff_cost(freq, alphabet, 16, &db, &tb) == 0) {
            tables += tb;
            if (layout && strcmp(layout, "dense") == 0 && h > 0) {
                double excess = ((double)x.payload_len - (double)tb) / (h / 8) - 1;
                dense_n++;
                if (excess > 0.01) {
                    dense_over++;
                    fprintf(stderr, "  over target: %s: %zu codes, entropy %.3f bits, payload %zu B, "
                            "table %llu B, Huffman data %.1f B (%+.2f%%)\n", tc[k].t->name, n,
                            h / (double)n, x.payload_len, (unsigned long long)tb, (double)db / 8,
                            ((double)db / h - 1) * 100);
                }
                if (excess > worst_excess) {
                    worst_excess = excess;
                    worst_name = tc[k].t->name;
                }
            }
        }
        nnz_encoded_free(&x);
        cJSON_Delete(r);
        if (getenv("BENCH_ENCODE_ONLY")) { /* for profiling the encoder */
            free(freq);
            continue;
        }
        /* the length limit */
        for (size_t l = 0; l < NLIMITS; l++) {
            if (huff_cost(freq, alphabet, limits[l], &db, &tb) == 0)
                lim_bits[l] += db;
            else
                lim_ok[l] = 0;
        }
        /* codes per group of channels: channels sorted by their own entropy,
         * cut into G equal groups, each with its own code and table, plus a
         * group number per channel */
        if (st->kind == NNZ_VAL_AFFINE && st->nchan > 1) {
            size_t nc = st->nchan, inner = st->inner;
            double *hc = calloc(nc, sizeof *hc);
            size_t *order = calloc(nc, sizeof *order);
            uint64_t *cf = calloc((size_t)alphabet, sizeof *cf);
            for (size_t c = 0; c < nc; c++) {
                memset(cf, 0, alphabet * sizeof *cf);
                for (size_t i = 0; i < n; i++)
                    if ((i / inner) % nc == c)
                        cf[st->codes[i]]++;
                uint64_t cn = 0;
                for (uint32_t s = 0; s < alphabet; s++)
                    cn += cf[s];
                hc[c] = nnz_entropy(cf, alphabet);
                group_bound_bits += hc[c] * (double)cn;
                order[c] = c;
            }
            /* sort channels by entropy (insertion sort: channels are few) */
            for (size_t a = 1; a < nc; a++)
                for (size_t b = a; b > 0 && hc[order[b]] < hc[order[b - 1]]; b--) {
                    size_t t = order[b];
                    order[b] = order[b - 1];
                    order[b - 1] = t;
                }
            size_t *group = calloc(nc, sizeof *group);
            for (unsigned gi = 0; gi < 4; gi++) {
                size_t G = (size_t)1 << gi;
                if (G > nc)
                    G = nc;
                for (size_t r2 = 0; r2 < nc; r2++)
                    group[order[r2]] = r2 * G / nc;
                uint64_t bytes = gi ? (nc * gi + 7) / 8 : 0;
                for (size_t g = 0; g < G; g++) {
                    memset(cf, 0, alphabet * sizeof *cf);
                    for (size_t i = 0; i < n; i++)
                        if (group[(i / inner) % nc] == g)
                            cf[st->codes[i]]++;
                    if (huff_cost(cf, alphabet, 16, &db, &tb) == 0)
                        bytes += (db + 7) / 8 + tb;
                }
                group_bytes[gi] += bytes;
            }
            free(group);
            free(hc);
            free(order);
            free(cf);
        } else {
            uint64_t b16 = 0;
            if (huff_cost(freq, alphabet, 16, &db, &tb) == 0)
                b16 = (db + 7) / 8 + tb;
            for (unsigned gi = 0; gi < 4; gi++)
                group_bytes[gi] += b16;
            group_bound_bits += h;
        }
        free(freq);
    }
    fclose(out);
    /* encode speed: every tensor, rounds alternating with nothing; median of
     * at least 9 rounds and 0.3 s (a small model's round is a millisecond:
     * a few rounds alone swing with the machine's noise) */
    double times[500], began = bench_now();
    const char *env = getenv("BENCH_ENCODE_ROUNDS");
    size_t want = env && atoi(env) > 0 && atoi(env) <= 500 ? (size_t)atoi(env) : 0, rounds = 0;
    while (rounds < 500 &&
           (want ? rounds < want : rounds < 9 || bench_now() - began <= 0.3)) {
        double t0 = cpu_now();
        for (size_t k = 0; k < nt; k++) {
            nnz_encoded x;
            if (nnz_encode_tensor(tc[k].t, tc[k].st, NULL, &x, &e) != 0)
                die("encode", &e);
            nnz_encoded_free(&x);
        }
        times[rounds++] = cpu_now() - t0;
    }
    double enc_s = median(times, rounds);
    printf("{\"model\":\"%s\",\"pipeline\":\"%s\",\"tensors\":%zu,\"huffman_tensors\":%zu,"
           "\"sparse_tensors\":%zu,\"weights\":%llu,\"code_bytes\":%llu,\"ours_bytes\":%llu,"
           "\"ours_payload_bytes\":%llu,\"entropy_bytes\":%.1f,\"table_bytes\":%llu,"
           "\"dense_tensors\":%zu,\"dense_over_target\":%zu,\"worst_dense_excess_pct\":%.3f,"
           "\"worst_dense_tensor\":\"%s\",\"encode_s\":%.6f,\"encode_MBps\":%.1f,"
           "\"encode_Mcodes_per_s\":%.1f",
           model, pipeline, nt, nhuff, nsparse, (unsigned long long)weights,
           (unsigned long long)code_bytes, (unsigned long long)ours,
           (unsigned long long)ours_payload, entropy_bits / 8, (unsigned long long)tables, dense_n,
           dense_over, worst_excess * 100, worst_name, enc_s,
           (double)code_bytes / enc_s / 1e6, (double)weights / enc_s / 1e6);
    printf(",\"limit_bits\":{");
    for (size_t l = 0; l < NLIMITS; l++)
        printf("%s\"%s%u\":%s%llu", l ? "," : "", limits[l] == NNZ_HUFF_BUILD_MAX_LEN ? "none" : "",
               limits[l] == NNZ_HUFF_BUILD_MAX_LEN ? 0 : limits[l], lim_ok[l] ? "" : "-",
               (unsigned long long)lim_bits[l]);
    printf("},\"group_bytes\":[%llu,%llu,%llu,%llu],\"group_bound_bytes\":%.1f}\n",
           (unsigned long long)group_bytes[0], (unsigned long long)group_bytes[1],
           (unsigned long long)group_bytes[2], (unsigned long long)group_bytes[3],
           group_bound_bits / 8);
    for (size_t k = 0; k < nt; k++)
        nnz_state_free(tc[k].st);
    free(tc);
    cJSON_Delete(rep);
    nnz_model_free(m);
    nnz_pipeline_free(&p);
    return 0;
}

/* ---- decode -------------------------------------------------------------------- */

typedef size_t (*zstd_decompress_fn)(void *, size_t, const void *, size_t);
typedef unsigned (*zstd_is_error_fn)(size_t);

static int run_decode(const char *blob_path, const char *zst_path, size_t code_bytes,
                      double seconds)
{
    size_t zsize;
    nnz_blob b;
    unsigned char *data = bench_open_blob("bench_huffman", blob_path, &b),
                  *zdata = bench_read_all(zst_path, &zsize);
    if (!data || !zdata)
        die("cannot open the blob or the .zst", NULL);
    void *lib = dlopen("libzstd.so.1", RTLD_NOW);
    if (!lib)
        die("libzstd.so.1 not found (Debian package libzstd1)", NULL);
    zstd_decompress_fn zdec = (zstd_decompress_fn)dlsym(lib, "ZSTD_decompress");
    zstd_is_error_fn ziserr = (zstd_is_error_fn)dlsym(lib, "ZSTD_isError");
    if (!zdec || !ziserr)
        die("libzstd lacks ZSTD_decompress", NULL);
    /* the quantized tensors: coded, with a value map other than float bits */
    /* sizes once, as an application sizes its buffers once: the timed
     * loop is the decode calls alone */
    uint32_t n = nnz_tensor_count(&b), *idx = calloc(n, sizeof *idx), ni = 0;
    size_t *osz = calloc(n, sizeof *osz), *ssz = calloc(n, sizeof *ssz),
           *osz8 = calloc(n, sizeof *osz8), *ssz8 = calloc(n, sizeof *ssz8);
    size_t max_out = 0, max_scratch = 0, total_f32 = 0;
    uint64_t weights = 0;
    int i8_all = 1;
    for (uint32_t i = 0; i < n; i++) {
        nnz_value_map vm;
        nnz_tensor_info info;
        size_t o, s, o8 = 0, s8 = 0;
        if (nnz_value_map_get(&b, i, &vm) != NNZ_OK || vm.kind < NNZ_VAL_AFFINE ||
            nnz_tensor_info_get(&b, i, &info) != NNZ_OK ||
            nnz_decode_sizes(&b, i, NNZ_OUT_F32, &o, &s) != NNZ_OK)
            continue;
        if (nnz_decode_sizes(&b, i, NNZ_OUT_I8, &o8, &s8) != NNZ_OK)
            i8_all = 0;
        osz[ni] = o;
        ssz[ni] = s;
        osz8[ni] = o8;
        ssz8[ni] = s8;
        idx[ni++] = i;
        weights += info.count;
        total_f32 += o;
        if (o > max_out)
            max_out = o;
        if (s > max_scratch)
            max_scratch = s;
    }
    unsigned char *out = malloc(max_out + 64), *scratch = malloc(max_scratch + 64);
    unsigned char *codes = malloc(code_bytes + 64), *src = malloc(total_f32 + 64),
                  *dst = malloc(total_f32 + 64);
    memset(src, 1, total_f32 + 64);
    memset(dst, 0, total_f32 + 64);
    enum { MAXR = 4096 };
    static double tf[MAXR], t8[MAXR], tz[MAXR], tm[MAXR], rzf[MAXR], rz8[MAXR], rmf[MAXR];
    size_t r = 0;
    double start = bench_now();
    /* as an app decodes a model: one scratch, passed on with NNZ_OUT_KEEP
     * after the first call, so a Huffman table tensors share is built once
     * for a run of them (docs/embedding.md) */
    int keep = 0;
    while ((bench_now() - start < seconds || r < 5) && r < MAXR) {
        double t0 = cpu_now();
        for (uint32_t k = 0; k < ni; k++, keep = NNZ_OUT_KEEP)
            if (nnz_decode(&b, idx[k], NNZ_OUT_F32 | keep, out, osz[k], scratch, ssz[k]) != NNZ_OK)
                die("decode failed", NULL);
        double t1 = cpu_now();
        if (i8_all)
            for (uint32_t k = 0; k < ni; k++)
                if (nnz_decode(&b, idx[k], NNZ_OUT_I8 | keep, out, osz8[k], scratch, ssz8[k]) !=
                    NNZ_OK)
                    die("decode failed", NULL);
        double t2 = cpu_now();
        size_t got = zdec(codes, code_bytes + 64, zdata, zsize);
        if (ziserr(got) || got != code_bytes)
            die("zstd decompression failed or gave the wrong size", NULL);
        double t3 = cpu_now();
        memcpy(dst, src, total_f32);
        __asm__ volatile("" : : "r"(dst) : "memory");
        double t4 = cpu_now();
        tf[r] = t1 - t0;
        t8[r] = t2 - t1;
        tz[r] = t3 - t2;
        tm[r] = t4 - t3;
        rzf[r] = tz[r] / tf[r]; /* >1: we are faster than zstd */
        rz8[r] = i8_all ? tz[r] / t8[r] : 0;
        rmf[r] = tf[r] / tm[r];
        r++;
    }
    double mf = median(tf, r), m8 = i8_all ? median(t8, r) : 0, mz = median(tz, r),
           mm = median(tm, r);
    printf("{\"blob\":\"%s\",\"tensors\":%u,\"weights\":%llu,\"rounds\":%zu,"
           "\"decode_f32_weights_per_s\":%.4g,\"decode_i8_weights_per_s\":%.4g,"
           "\"zstd_d_weights_per_s\":%.4g,\"zstd_d_MBps\":%.1f,\"memcpy_f32_MBps\":%.1f,"
           "\"f32_over_zstd\":%.3f,\"i8_over_zstd\":%.3f,\"memcpy_over_f32\":%.4f}\n",
           blob_path, ni, (unsigned long long)weights, r, (double)weights / mf,
           i8_all ? (double)weights / m8 : 0, (double)weights / mz, (double)code_bytes / mz / 1e6,
           (double)total_f32 / mm / 1e6, median(rzf, r), i8_all ? median(rz8, r) : 0,
           1 / median(rmf, r));
    free(out);
    free(scratch);
    free(codes);
    free(src);
    free(dst);
    free(idx);
    free(osz);
    free(ssz);
    free(osz8);
    free(ssz8);
    free(data);
    free(zdata);
    dlclose(lib);
    return 0;
}

/* ---- sparse ---------------------------------------------------------------------- */

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static double binary_entropy(double p)
{
    return p <= 0 || p >= 1 ? 0 : -(p * log2(p) + (1 - p) * log2(1 - p));
}

static int run_sparse(const char *model)
{
    nnz_error e = { 0 };
    nnz_model *m;
    if (nnz_model_load(model, &m, &e) != 0)
        die("load", &e);
    double ent_bits = 0, ours = 0, dense_huff = 0, pairs = 0, weights = 0;
    size_t nt = 0, nsparse = 0;
    double worst = 0;
    for (size_t ti = 0; ti < m->ntensors; ti++) {
        nnz_tensor *t = &m->tensors[ti];
        if (!nnz_tensor_is_weight(t) || t->dtype != NNZ_DT_FLOAT || t->count < 4096)
            continue;
        float *w = nnz_tensor_floats(m, t, &e);
        if (!w)
            die("floats", &e);
        size_t n = t->count;
        float *mag = malloc(n * sizeof *mag), amax = 0;
        for (size_t i = 0; i < n; i++) {
            mag[i] = fabsf(w[i]);
            if (mag[i] > amax)
                amax = mag[i];
        }
        qsort(mag, n, sizeof *mag, cmp_float);
        size_t keep = n / 10;
        float thr = mag[n - keep];
        /* 5-bit symmetric codes 1..31, 16 = zero; survivors never round to 0 */
        nnz_state st;
        memset(&st, 0, sizeof st);
        st.n = n;
        st.kind = NNZ_VAL_AFFINE;
        st.bits = 5;
        st.nchan = 1;
        st.inner = n;
        st.axis = -1;
        float step = amax / 15;
        st.scale = malloc(sizeof(float));
        st.zero_point = malloc(sizeof(uint32_t));
        st.scale[0] = step;
        st.zero_point[0] = 16;
        st.codes = malloc(n * sizeof *st.codes);
        st.values = malloc(n * sizeof *st.values);
        st.entropy = 1;
        st.max_code_len = NNZ_HUFF_DEFAULT_MAX_LEN;
        size_t nnz = 0, kept = 0;
        for (size_t i = 0; i < n; i++) {
            int q = 0;
            if (fabsf(w[i]) >= thr && kept < keep) {
                q = (int)lrintf(fabsf(w[i]) / step);
                q = q < 1 ? 1 : q > 15 ? 15 : q;
                q = w[i] < 0 ? -q : q;
                kept++;
            }
            st.codes[i] = (uint32_t)(q + 16);
            st.values[i] = step * (float)q;
            nnz += q != 0;
        }
        uint64_t freq[32] = { 0 }, sfreq[32] = { 0 }, *pf = calloc(1024, sizeof *pf);
        for (size_t i = 0; i < n; i++) {
            freq[st.codes[i]]++;
            if (st.codes[i] != 16)
                sfreq[st.codes[i]]++;
        }
        for (size_t i = 0; i + 1 < n; i += 2)
            pf[st.codes[i] * 32 + st.codes[i + 1]]++;
        double dens = (double)nnz / (double)n;
        double eb = (double)n * binary_entropy(dens) + nnz_entropy(sfreq, 32) * (double)nnz;
        nnz_encoded x;
        cJSON *r = cJSON_CreateObject();
        if (nnz_encode_tensor(t, &st, r, &x, &e) != 0)
            die("encode", &e);
        const char *layout =
            cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "encoding"), "layout"));
        nsparse += layout && strcmp(layout, "sparse") == 0;
        uint64_t db, tb, pdb, ptb;
        huff_cost(freq, 32, 16, &db, &tb);
        huff_cost(pf, 1024, 16, &pdb, &ptb);
        double ratio = (double)x.payload_len / (eb / 8);
        if (ratio > worst)
            worst = ratio;
        ent_bits += eb;
        ours += (double)x.payload_len;
        dense_huff += (double)((db + 7) / 8 + tb);
        pairs += (double)((pdb + 7) / 8 + ptb);
        weights += (double)n;
        nt++;
        nnz_encoded_free(&x);
        cJSON_Delete(r);
        free(pf);
        free(mag);
        free(w);
        free(st.scale);
        free(st.zero_point);
        free(st.codes);
        free(st.values);
    }
    printf("{\"model\":\"%s\",\"tensors\":%zu,\"sparse_layout\":%zu,\"weights\":%.0f,"
           "\"entropy_bytes\":%.1f,\"ours_bytes\":%.0f,\"dense_huffman_bytes\":%.0f,"
           "\"pair_huffman_bytes\":%.0f,\"ours_over_entropy\":%.4f,\"worst_tensor_ratio\":%.4f}\n",
           model, nt, nsparse, weights, ent_bits / 8, ours, dense_huff, pairs,
           ours / (ent_bits / 8), worst);
    nnz_model_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && strcmp(argv[1], "codes") == 0)
        return run_codes(argv[2], argv[3], argv[4]);
    if (argc >= 5 && strcmp(argv[1], "decode") == 0)
        return run_decode(argv[2], argv[3], (size_t)strtoull(argv[4], NULL, 10),
                          argc > 5 ? atof(argv[5]) : 2.0);
    if (argc >= 3 && strcmp(argv[1], "sparse") == 0)
        return run_sparse(argv[2]);
    fprintf(stderr, "usage: bench_huffman codes MODEL PIPELINE OUT.codes\n"
                    "       bench_huffman decode BLOB CODES.zst CODES_BYTES [SECONDS]\n"
                    "       bench_huffman sparse MODEL\n");
    return 2;
}
