/* cmd_verify.c - `nnzip verify`: is this blob a faithful copy of this
 * model? Integrity (checksums, every tensor decodes, the graph is the
 * model's graph) and then the error of every weight, against a threshold.
 * Exit 0 when all holds, 1 (NNZ_EXIT_VERIFY) when a check fails. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_infer.h"
#include "fileio.h"
#include "metrics.h"
#include "model.h"
#include "pass.h"
#include "strmap.h"
#include "blob.h"
#include "save.h"

static const char verify_help[] =
    "Usage: nnzip verify MODEL.onnx IN.nnz [options]\n\n"
    "Check that IN.nnz was made from MODEL.onnx and decodes to it within a\n"
    "tolerance: every checksum, every tensor decodes, the graph matches, and the\n"
    "relative L2 error of each weight tensor is at most --max-rel-error.\n\n"
    "  --max-rel-error X   fail when a tensor's relative L2 error exceeds X\n"
    "                      (default: no limit; integrity is always checked)\n"
    "  --eval 'CMD {onnx}' run CMD on the rebuilt model ({onnx}: its path); the\n"
    "                      metric is the last number CMD prints on stdout\n"
    "  --min-metric X      fail when the metric is below X (e.g. accuracy)\n"
    "  --max-metric X      fail when the metric is above X (e.g. an error)\n"
    "  --max-output-error X  run both models in nnzip's interpreter on the same\n"
    "                      inputs; fail when an output's relative L2 error exceeds X\n"
    "  --inputs DIR        inputs for that (input_N.pb / NAME.npy, or a folder of\n"
    "                      test_data_set_N); default: generated from the declared\n"
    "                      shapes\n"
    "  --input-spec FILE   generated inputs from a JSON spec (docs/infer.md)\n"
    "  --spec-model NAME   the entry of a models.json-style spec\n"
    "  --seed N            seed of generated inputs (default 1)\n"
    "  --dim NAME=VALUE    a symbolic input dim (repeatable)\n"
    "  --threads N         interpreter threads (default 1)\n"
    "  --json              a JSON report on stdout (fields: docs/cli.md)\n"
    "  -q, --quiet         no report on stderr\n"
    "  -v, --verbose       a line per tensor\n"
    "  -h, --help\n\n"
    "Exit status: 0 all checks passed, 1 a check failed, 2 usage, 3 unreadable or\n"
    "corrupt input (the blob does not open).\n";

/* Does the blob's graph section hold exactly the model's graph? Packed the
 * way compress packs it (the blob's tensors left out, external ones in
 * external form), the bytes and every hole must agree with the blob. */
/* The blob's tensor names, NUL-terminated (a format 1.2 blob keeps many
 * in its graph only, as bytes): one buffer, and each tensor's. */
typedef struct blob_names {
    char *buf;
    char **of;
} blob_names;

static void blob_names_free(blob_names *bn)
{
    free(bn->buf);
    free(bn->of);
    memset(bn, 0, sizeof *bn);
}

/* The blob's tensors by name (nnz_find walks the directory: once per
 * tensor would be quadratic). Keys point into bn. */
static int index_blob(const nnz_blob *b, nnz_strmap *ix, blob_names *bn, nnz_error *e)
{
    uint32_t n = nnz_tensor_count(b);
    size_t total = 0;
    nnz_tensor_info info;
    for (uint32_t i = 0; i < n; i++)
        if (nnz_tensor_info_get(b, i, &info) == NNZ_OK)
            total += info.name_len + 1; /* no wrap: the names are inside the blob */
    bn->buf = nnz_malloc(total ? total : 1, e);
    bn->of = nnz_calloc(n ? n : 1, sizeof *bn->of, e);
    if (!bn->buf || !bn->of || nnz_strmap_init(ix, n, e) != 0)
        return -1;
    char *p = bn->buf;
    for (uint32_t i = 0; i < n; i++) {
        bn->of[i] = "";
        if (nnz_tensor_info_get(b, i, &info) != NNZ_OK)
            continue;
        memcpy(p, info.name_bytes, info.name_len);
        p[info.name_len] = 0;
        bn->of[i] = p;
        p += info.name_len + 1;
        if (nnz_strmap_put(ix, bn->of[i], i, e) != 0)
            return -1;
    }
    return 0;
}

static int blob_find(const nnz_strmap *ix, const char *name, uint32_t *index)
{
    size_t v;
    if (!nnz_strmap_get(ix, name, &v))
        return 0;
    *index = (uint32_t)v;
    return 1;
}

static int graph_matches(nnz_model *m, const nnz_blob *b, const nnz_strmap *ix,
                         const char *ext_name, nnz_error *e)
{
    size_t n = m->ntensors;
    uint8_t *hole = nnz_calloc(n ? n : 1, 1, e), *ext = nnz_calloc(n ? n : 1, 1, e);
    uint64_t *holes = nnz_calloc(n ? n : 1, sizeof *holes, e);
    uint64_t *ext_off = nnz_calloc(n ? n : 1, sizeof *ext_off, e);
    uint32_t *index = nnz_calloc(n ? n : 1, sizeof *index, e);
    uint8_t *graph = NULL, *gmem = NULL;
    size_t len = 0;
    int match = 0, any_ext = 0;
    if (!hole || !ext || !holes || !ext_off || !index)
        goto done;
    for (size_t i = 0; i < n; i++) {
        nnz_tensor_info info;
        if (!blob_find(ix, m->tensors[i].name, &index[i]))
            continue;
        nnz_tensor_info_get(b, index[i], &info);
        if (info.location & NNZ_LOC_EXTERNAL)
            ext[i] = any_ext = 1;
        else
            hole[i] = info.encoding == NNZ_ENC_GRAPH ? 2 : 1; /* in-graph: data kept */
    }
    nnz_ext_plan plan = { 0 };
    if (any_ext && (!ext_name || nnz_model_externalize(m, ext, ext_name, ext_off, &plan, e) != 0))
        goto done;
    int rc = nnz_model_skeleton(m, hole, &graph, &len, holes, e);
    if (any_ext)
        nnz_model_internalize(m, &plan);
    /* the blob's graph, expanded when it is compressed */
    size_t gwork = 0;
    const uint8_t *bg = NULL;
    if (rc == 0 && b->graph_packed &&
        b->graph_size > (uint64_t)b->graph_packed_size * NNZ_MAX_GRAPH_EXPANSION + 65536)
        rc = -1; /* past the limit decompress refuses (docs/security.md): not expanded */
    if (rc == 0 && nnz_graph_sizes(b, &gwork) == NNZ_OK && gwork && !(gmem = nnz_malloc(gwork, e)))
        rc = -1;
    if (rc != 0 || nnz_graph_get(b, gmem, gwork, &bg) != NNZ_OK || len != b->graph_size ||
        memcmp(graph, bg, len) != 0)
        goto done;
    match = 1;
    for (size_t i = 0; i < n && match; i++) {
        nnz_tensor_info info;
        if (!hole[i] && !ext[i])
            continue;
        nnz_tensor_info_get(b, index[i], &info);
        match = info.graph_offset == (ext[i] ? ext_off[i] : holes[i]);
    }
done:
    free(hole);
    free(ext);
    free(holes);
    free(ext_off);
    free(index);
    free(graph);
    free(gmem);
    return match;
}

static cJSON *fail_doc(cJSON *doc, const char *what)
{
    cJSON_ReplaceItemInObject(doc, "ok", cJSON_CreateFalse());
    cJSON_AddItemToArray(cJSON_GetObjectItem(doc, "failures"), cJSON_CreateString(what));
    return doc;
}

int cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = { { "max-rel-error", required_argument, NULL, 'm' },
                                           { "eval", required_argument, NULL, 'E' },
                                           { "min-metric", required_argument, NULL, 'a' },
                                           { "max-metric", required_argument, NULL, 'b' },
                                           { "json", no_argument, NULL, 'j' },
                                           { "max-output-error", required_argument, NULL, 'O' },
                                           { "inputs", required_argument, NULL, 'i' },
                                           { "input-spec", required_argument, NULL, 'S' },
                                           { "spec-model", required_argument, NULL, 'M' },
                                           { "seed", required_argument, NULL, 's' },
                                           { "dim", required_argument, NULL, 'D' },
                                           { "threads", required_argument, NULL, 'T' },
                                           { "help", no_argument, NULL, 'h' },
                                           { "quiet", no_argument, NULL, 'q' },
                                           { "verbose", no_argument, NULL, 'v' },
                                           { 0, 0, 0, 0 } };
    double limit = INFINITY, min_metric = -INFINITY, max_metric = INFINITY;
    const char *eval = NULL;
    int json = 0, c;
    double max_out = INFINITY;
    cli_infer_args ia = { .cmd = "verify", .seed = 1 };
    int want_outputs = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":hqv", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (cli_parse_double(optarg, &limit) != 0)
                return cli_usage("verify", "--max-rel-error '%s': expected a number >= 0", optarg);
            break;
        case 'E': eval = optarg; break;
        case 'a':
        case 'b': {
            char *end;
            double v = strtod(optarg, &end);
            if (end == optarg || *end || !isfinite(v))
                return cli_usage("verify", "--%s '%s': expected a number",
                                 c == 'a' ? "min-metric" : "max-metric", optarg);
            *(c == 'a' ? &min_metric : &max_metric) = v;
            break;
        }
        case 'j': json = 1; break;
        case 'O':
            if (cli_parse_double(optarg, &max_out) != 0)
                return cli_usage("verify", "--max-output-error '%s': expected a number >= 0", optarg);
            want_outputs = 1;
            break;
        case 'i': case 'S': case 'M': case 's': case 'D': case 'T': {
            int rc = cli_infer_parse_common(c, optarg, &ia);
            if (rc != 0)
                return rc;
            want_outputs = 1;
            break;
        }
        case 'h': fputs(verify_help, stdout); return 0;
        case 'q': g_cli.quiet = 1; break;
        case 'v': g_cli.verbose = 1; break;
        default: return cli_bad_option("verify", c, argv);
        }
    }
    if (optind != argc - 2)
        return cli_usage("verify", "expected MODEL.onnx and IN.nnz");
    if (eval && !strstr(eval, "{onnx}") && !strstr(eval, "NNZIP_ONNX"))
        return cli_usage("verify", "--eval '%s': the command needs {onnx} (or $NNZIP_ONNX) "
                         "where the model's path goes", eval);
    if (ia.inputs && ia.spec)
        return cli_usage("verify", "--inputs and --input-spec: give one");
    if (!eval && (isfinite(min_metric) || isfinite(max_metric)))
        return cli_usage("verify", "--min-metric and --max-metric need --eval 'CMD {onnx}'");
    const char *mpath = argv[optind], *bpath = argv[optind + 1];
    nnz_error e = { 0 };
    nnz_model *orig;
    if (cli_model_load(mpath, &orig, &e) != 0)
        return cli_report(&e);

    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "model", mpath);
    cJSON_AddStringToObject(doc, "blob", bpath);
    cJSON_AddTrueToObject(doc, "ok");
    cJSON_AddItemToObject(doc, "failures", cJSON_CreateArray());
    if (isinf(limit))
        cJSON_AddNullToObject(doc, "max_rel_error");
    else
        cJSON_AddNumberToObject(doc, "max_rel_error", limit);
    cJSON *ts = cJSON_CreateArray();
    cJSON *resized = cJSON_CreateArray(); /* tensors channel pruning cut */
    char msg[1200];

    cli_file f;
    nnz_blob b;
    int integrity = 1;
    if (cli_file_open(&f, bpath, &e) != 0) {
        nnz_model_free(orig);
        cJSON_Delete(doc);
        cJSON_Delete(ts);
        return cli_report(&e);
    }
    nnz_status st = cli_blob_check(&f, &b, 0);
    /* may the graph differ from the model's? The blob's metadata says, from
     * the passes' own flag (a pass that rewrites the graph), never from the
     * pipeline's text: a name in it proves nothing */
    int rewritten = 0;
    cJSON *meta = NULL;
    int opened = st == NNZ_OK;
    nnz_strmap ix = { 0 };
    blob_names bn = { 0 };
    if (opened && index_blob(&b, &ix, &bn, &e) != 0) {
        nnz_strmap_free(&ix);
        blob_names_free(&bn);
        cJSON_Delete(doc);
        cJSON_Delete(ts);
        nnz_model_free(orig);
        cli_file_close(&f);
        return cli_report(&e);
    }
    if (!opened) {
        nnz_error why = { 0 };
        cli_blob_error(&why, bpath, f.data, &b, st);
        snprintf(msg, sizeof msg, "blob does not open: %s", why.msg);
        fail_doc(doc, msg);
        integrity = 0;
    } else {
        const char *mt;
        size_t ml;
        nnz_metadata(&b, &mt, &ml);
        meta = ml ? cJSON_ParseWithLength(mt, ml) : NULL;
        const cJSON *src = cJSON_GetObjectItem(meta, "source");
        const char *sha = cJSON_GetStringValue(cJSON_GetObjectItem(src, "sha256"));
        rewritten = cJSON_IsTrue(cJSON_GetObjectItem(meta, "graph_rewritten"));
        if (!sha || strcmp(sha, orig->sha256) != 0) {
            snprintf(msg, sizeof msg, "blob was made from another model (source sha256 %s, "
                     "%s has %s)", sha ? sha : "missing", mpath, orig->sha256);
            fail_doc(doc, msg);
            integrity = 0;
        }
    }
    /* the graph: the model's own, byte for byte (a rewritten graph is not
     * compared) */
    if (opened && !rewritten &&
        !graph_matches(orig, &b, &ix,
                       cJSON_GetStringValue(cJSON_GetObjectItem(meta, "external_data")), &e)) {
        fail_doc(doc, "graph differs from the model's graph");
        integrity = 0;
    }
    /* the weights, one at a time, decoded as a device would */
    nnz_err_stats all = { 0 }, changed = { 0 }; /* every float tensor; those that differ */
    int nchanged = 0;
    double worst = 0;
    const char *worst_name = "";
    int over = 0;
    for (uint32_t i = 0; opened && i < nnz_tensor_count(&b); i++) {
        nnz_tensor_info info;
        nnz_tensor_info_get(&b, i, &info);
        nnz_tensor *t = nnz_model_find(orig, bn.of[i]);
        if (!t)
            continue; /* a tensor the pipeline made (decompose's factors) */
        if (info.count != t->count && rewritten) {
            /* channels removed by structured pruning: a slice of the original */
            cJSON_AddItemToArray(resized, cJSON_CreateString(t->name));
            continue;
        }
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "name", t->name);
        nnz_err_stats s = { 0 };
        int is_float = nnz_dtype_is_float(t->dtype);
        size_t osz = 0, ssz = 0;
        void *out = NULL, *scratch = NULL;
        st = info.dtype != t->dtype || info.count != t->count
                 ? NNZ_E_CORRUPT
                 : nnz_decode_sizes(&b, i, is_float ? NNZ_OUT_F32 : NNZ_OUT_NATIVE, &osz, &ssz);
        if (st == NNZ_OK && (!(out = malloc(osz ? osz : 1)) || !(scratch = malloc(ssz ? ssz : 1))))
            st = NNZ_E_ARGUMENT;
        if (st == NNZ_OK)
            st = nnz_decode(&b, i, is_float ? NNZ_OUT_F32 : NNZ_OUT_NATIVE, out, osz, scratch, ssz);
        if (st != NNZ_OK) {
            snprintf(msg, sizeof msg, "tensor '%s' does not decode to its %s %s: %s", t->name,
                     nnz_dtype_name(t->dtype), info.dtype != t->dtype || info.count != t->count
                                                   ? "type and shape"
                                                   : "values",
                     cli_status_msg(st));
            fail_doc(doc, msg);
            integrity = 0;
            s.rel_l2 = INFINITY;
        } else if (is_float) {
            float *a = nnz_tensor_floats(orig, t, &e);
            if (a)
                nnz_err_compute(a, out, t->count, &s);
            free(a);
            all.sum_sq_ref += s.sum_sq_ref;
            all.sum_sq_err += s.sum_sq_err;
            if (s.sum_sq_err != 0) { /* as compress counts the tensors it changed */
                nchanged++;
                changed.sum_sq_ref += s.sum_sq_ref;
                changed.sum_sq_err += s.sum_sq_err;
                if (s.max_abs > changed.max_abs)
                    changed.max_abs = s.max_abs;
            }
        } else {
            const uint8_t *a = nnz_tensor_data(orig, t, &e);
            if (!a || memcmp(a, out, t->nbytes) != 0) {
                s.rel_l2 = INFINITY;
                snprintf(msg, sizeof msg, "%s tensor '%s' differs (integer data must be exact)",
                         nnz_dtype_name(t->dtype), t->name);
                fail_doc(doc, msg);
            } else {
                s.sqnr_db = INFINITY;
            }
        }
        free(out);
        free(scratch);
        nnz_tensor_release(t);
        cli_file_drop(&f);
        int ok = !(s.rel_l2 > limit);
        if (!ok)
            over++;
        if (s.rel_l2 > worst || (worst_name[0] == 0 && s.rel_l2 >= worst)) {
            worst = s.rel_l2;
            worst_name = t->name;
        }
        cJSON_AddNumberToObject(x, "rel_l2", s.rel_l2);
        cJSON_AddNumberToObject(x, "max_abs", s.max_abs);
        cJSON_AddNumberToObject(x, "sqnr_db", s.sqnr_db);
        cJSON_AddBoolToObject(x, "ok", ok);
        cJSON_AddItemToArray(ts, x);
    }
    /* weights of the model the blob has no entry for: replaced by factors
     * when the pipeline rewrote the graph, else missing */
    cJSON *replaced = cJSON_CreateArray();
    for (size_t k = 0; opened && k < orig->ntensors; k++) {
        const nnz_tensor *t = &orig->tensors[k];
        uint32_t idx;
        if (t->nbytes == 0 || blob_find(&ix, t->name, &idx))
            continue; /* empty tensors have no entry; the graph holds them */
        if (rewritten) {
            /* new weights replace it (factors, a folded BatchNorm), or a
             * channel cut left a slice small enough to stay in the graph:
             * what the pipeline's passes declare they do names the list
             * (the flag decided) */
            const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(meta, "pipeline"));
            int repl = nnz_pipeline_text_rewrite(text) == NNZ_REWRITE_REPLACES;
            cJSON_AddItemToArray(repl ? replaced : resized, cJSON_CreateString(t->name));
        } else {
            snprintf(msg, sizeof msg, "tensor '%s' is missing from the blob", t->name);
            fail_doc(doc, msg);
            integrity = 0;
        }
    }
    /* the user's own metric, on the model as decompress rebuilds it */
    if (eval && opened && integrity) {
        char dir[] = "/tmp/nnzip-verify.XXXXXX", path[64];
        double metric = NAN;
        nnz_error why = { 0 };
        if (!mkdtemp(dir)) {
            snprintf(msg, sizeof msg, "--eval: cannot make a temporary folder");
            fail_doc(doc, msg);
        } else {
            snprintf(path, sizeof path, "%s/model.onnx", dir);
            if (cli_onnx_from_blob(bpath, path, bpath, 0, NULL, &why) != 0 ||
                cli_eval(eval, (const cli_eval_var[]){ { "{onnx}", path, "NNZIP_ONNX", 0 } }, 1,
                         &metric, &why) != 0) {
                snprintf(msg, sizeof msg, "%s", why.msg);
                fail_doc(doc, msg);
            } else if (metric < min_metric || metric > max_metric) {
                snprintf(msg, sizeof msg, "metric %g is outside [%g, %g]", metric, min_metric,
                         max_metric);
                fail_doc(doc, msg);
            }
            if (nnz_remove_tree(dir) != 0)
                cli_note("could not remove %s", dir);
        }
        cJSON_AddNumberToObject(doc, "metric", metric);
    }
    /* the outputs: both models run in nnzip's interpreter on the same inputs */
    if (want_outputs && opened && integrity) {
        cJSON *orep = NULL;
        double wout = 0;
        nnz_error why = { 0 };
        if (cli_output_error(orig, bpath, &ia, &orep, &wout, &why) != 0) {
            if (why.code != NNZ_EXIT_VERIFY) {
                /* the models cannot be run (an unsupported op, bad inputs): not a verdict */
                nnz_model_free(orig);
                cJSON_Delete(doc);
                cJSON_Delete(ts);
                cJSON_Delete(meta);
                cli_file_close(&f);
                return cli_report(&why);
            }
            fail_doc(doc, why.msg);
        } else {
            if (!g_cli.quiet)
                cli_output_error_text(orep);
            if (wout > max_out) {
                snprintf(msg, sizeof msg, "an output's relative L2 error %g is over "
                         "--max-output-error %g", wout, max_out);
                fail_doc(doc, msg);
            }
            cJSON_AddItemToObject(doc, "output_error", orep);
        }
    }
    nnz_err_finish(&all);
    nnz_err_finish(&changed);
    if (over) {
        snprintf(msg, sizeof msg, "%d tensor%s over --max-rel-error %g (worst '%s': %g)", over,
                 over == 1 ? "" : "s", limit, worst_name, worst);
        fail_doc(doc, msg);
    }
    cJSON_AddBoolToObject(doc, "integrity", integrity);
    cJSON_AddBoolToObject(doc, "graph_compared", opened && !rewritten);
    cJSON *ov = cJSON_AddObjectToObject(doc, "overall");
    cJSON_AddNumberToObject(ov, "changed", nchanged);
    cJSON_AddNumberToObject(ov, "rel_l2", changed.rel_l2);
    cJSON_AddNumberToObject(ov, "max_abs", changed.max_abs);
    cJSON_AddNumberToObject(ov, "sqnr_db", changed.sqnr_db);
    cJSON_AddNumberToObject(ov, "rel_l2_all", all.rel_l2);
    cJSON *wj = cJSON_AddObjectToObject(doc, "worst");
    cJSON_AddStringToObject(wj, "name", worst_name);
    cJSON_AddNumberToObject(wj, "rel_l2", worst);
    cJSON_AddItemToObject(doc, "tensors", ts);
    /* decompose: weights now computed from factors, not compared here (the
     * compress report has each layer's weight-space error) */
    int nrep = cJSON_GetArraySize(replaced), nres = cJSON_GetArraySize(resized);
    cJSON_AddItemToObject(doc, "replaced_by_factors", replaced);
    cJSON_AddItemToObject(doc, "channels_removed", resized);

    int ok = cJSON_IsTrue(cJSON_GetObjectItem(doc, "ok"));
    const cJSON *x;
    /* why it failed goes to stderr even with -q: a CI log needs the reason */
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(doc, "failures"))
        fprintf(stderr, "nnzip: %s: %s\n", cli_esc(bpath), cli_esc(x->valuestring));
    if (!g_cli.quiet) {
        if (g_cli.verbose)
            cJSON_ArrayForEach(x, ts)
                fprintf(stderr, "  %-40s rel_l2 %-10.4g max_abs %-10.4g %s\n",
                        cli_esc(cJSON_GetObjectItem(x, "name")->valuestring),
                        cJSON_GetObjectItem(x, "rel_l2")->valuedouble,
                        cJSON_GetObjectItem(x, "max_abs")->valuedouble,
                        cJSON_IsTrue(cJSON_GetObjectItem(x, "ok")) ? "" : "OVER");
        /* what was checked, so an OK says what it vouches for */
        char what[300] = "integrity";
        if (isfinite(limit))
            snprintf(what + strlen(what), sizeof what - strlen(what),
                     ", each weight's rel_l2 <= %g", limit);
        if (want_outputs)
            snprintf(what + strlen(what), sizeof what - strlen(what),
                     ", each output's rel_l2 <= %g", max_out);
        if (eval)
            snprintf(what + strlen(what), sizeof what - strlen(what), ", --eval metric in [%g, %g]",
                     min_metric, max_metric);
        char rep[400] = "";
        if (nrep)
            snprintf(rep, sizeof rep, "; %d replaced by a graph rewrite (low-rank factors, "
                     "folding), not compared (see the compress report)", nrep);
        if (nres)
            snprintf(rep + strlen(rep), sizeof rep - strlen(rep), "; %d cut by channel pruning, "
                     "not compared (the compress report has each layer's removed channels)", nres);
        if (rewritten) /* the blob says so: the graph is not the model's to compare with */
            snprintf(rep + strlen(rep), sizeof rep - strlen(rep), "; graph not compared "
                     "(rewritten by a pass, says the blob)");
        fprintf(stderr, "nnzip: verify %s: %s; %d tensors, %d changed, overall rel_l2 %.4g, "
                "worst %.4g ('%s')%s; checked: %s\n", cli_esc(bpath), ok ? "OK" : "FAILED",
                cJSON_GetArraySize(ts), nchanged, changed.rel_l2, worst, cli_esc(worst_name), rep,
                what);
    }
    int wrote = 0;
    if (json)
        wrote = cli_print_json(doc);
    else
        cJSON_Delete(doc);
    cJSON_Delete(meta);
    nnz_strmap_free(&ix);
    blob_names_free(&bn);
    nnz_model_free(orig);
    cli_file_close(&f);
    /* a blob that cannot be read is bad input (3), as for decompress and
     * info; 1 is for a blob that was read and did not pass */
    return wrote ? wrote : !opened ? NNZ_EXIT_INPUT : ok ? 0 : NNZ_EXIT_VERIFY;
}
