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
#include "metrics.h"
#include "model.h"
#include "save.h"

static const char verify_help[] =
    "Usage: nnzip verify MODEL.onnx IN.nnz [options]\n\n"
    "Check that IN.nnz was made from MODEL.onnx and decodes to it within a\n"
    "tolerance: every checksum, every tensor decodes, the graph matches, and the\n"
    "relative L2 error of each weight tensor is at most --max-rel-error.\n\n"
    "  --max-rel-error X   fail when a tensor's relative L2 error exceeds X\n"
    "                      (default: no limit; integrity is always checked)\n"
    "  --json              a JSON report on stdout (fields: docs/cli.md)\n"
    "  -q, --quiet         no report on stderr\n"
    "  -v, --verbose       a line per tensor\n"
    "  -h, --help\n\n"
    "Exit status: 0 all checks passed, 1 a check failed, 2 usage, 3 unreadable input.\n";

typedef struct mem_sink {
    uint8_t *p;
    size_t len, cap;
} mem_sink;

static int write_mem(void *ctx, const void *data, size_t size)
{
    mem_sink *s = ctx;
    if (s->cap - s->len < size)
        return -1;
    memcpy(s->p + s->len, data, size);
    s->len += size;
    return 0;
}

/* The model's graph with every tensor's data left out: two models with the
 * same skeleton differ at most in weight values. */
static int skeleton_of(nnz_model *m, uint8_t **bytes, size_t *len, nnz_error *e)
{
    uint8_t *all = nnz_malloc(m->ntensors, e);
    uint64_t *holes = nnz_calloc(m->ntensors, sizeof *holes, e);
    int rc = -1;
    if (all && holes) {
        for (size_t i = 0; i < m->ntensors; i++)
            all[i] = m->tensors[i].nbytes > 0;
        rc = nnz_model_skeleton(m, all, bytes, len, holes, e);
    }
    free(all);
    free(holes);
    return rc;
}

static cJSON *fail_doc(cJSON *doc, const char *what)
{
    cJSON_ReplaceItemInObject(doc, "ok", cJSON_CreateFalse());
    cJSON_AddItemToArray(cJSON_GetObjectItem(doc, "failures"), cJSON_CreateString(what));
    return doc;
}

static int pipeline_rewrites_graph(const char *pipeline)
{
    return pipeline && strstr(pipeline, "decompose") != NULL;
}

int cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = { { "max-rel-error", required_argument, NULL, 'm' },
                                           { "json", no_argument, NULL, 'j' },
                                           { "help", no_argument, NULL, 'h' },
                                           { "quiet", no_argument, NULL, 'q' },
                                           { "verbose", no_argument, NULL, 'v' },
                                           { 0, 0, 0, 0 } };
    double limit = INFINITY;
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hqv", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (cli_parse_double(optarg, &limit) != 0)
                return cli_usage("verify", "--max-rel-error '%s': expected a number >= 0", optarg);
            break;
        case 'j': json = 1; break;
        case 'h': fputs(verify_help, stdout); return 0;
        case 'q': g_cli.quiet = 1; break;
        case 'v': g_cli.verbose = 1; break;
        default: return cli_usage("verify", "unknown option");
        }
    }
    if (optind != argc - 2)
        return cli_usage("verify", "expected MODEL.onnx and IN.nnz");
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
    char msg[1200];

    cli_file f;
    nnz_blob b;
    nnz_model *back = NULL;
    mem_sink sink = { 0 };
    int integrity = 1;
    if (cli_file_open(&f, bpath, &e) != 0) {
        nnz_model_free(orig);
        cJSON_Delete(doc);
        cJSON_Delete(ts);
        return cli_report(&e);
    }
    nnz_status st = nnz_open(&b, f.data, f.size, 0);
    const char *pipeline = "";
    cJSON *meta = NULL;
    if (st != NNZ_OK) {
        snprintf(msg, sizeof msg, "blob does not open: %s (status %d)", cli_status_msg(st), (int)st);
        fail_doc(doc, msg);
        integrity = 0;
    } else {
        const char *mt;
        size_t ml;
        nnz_metadata(&b, &mt, &ml);
        meta = ml ? cJSON_ParseWithLength(mt, ml) : NULL;
        const cJSON *src = cJSON_GetObjectItem(meta, "source");
        const char *sha = cJSON_GetStringValue(cJSON_GetObjectItem(src, "sha256"));
        if (cJSON_IsString(cJSON_GetObjectItem(meta, "pipeline")))
            pipeline = cJSON_GetObjectItem(meta, "pipeline")->valuestring;
        if (!sha || strcmp(sha, orig->sha256) != 0) {
            snprintf(msg, sizeof msg, "blob was made from another model (source sha256 %s, "
                     "%s has %s)", sha ? sha : "missing", mpath, orig->sha256);
            fail_doc(doc, msg);
            integrity = 0;
        }
        uint64_t size;
        size_t work_size;
        void *work = NULL;
        st = nnz_rebuild_sizes(&b, &size, &work_size);
        if (st == NNZ_OK && (size > SIZE_MAX || !(sink.p = malloc((size_t)size + 1)) ||
                             (work_size && !(work = malloc(work_size))))) {
            free(sink.p);
            free(work);
            nnz_model_free(orig);
            cli_file_close(&f);
            cJSON_Delete(doc);
            cJSON_Delete(ts);
            cJSON_Delete(meta);
            nnz_fail(&e, NNZ_EXIT_INTERNAL, "out of memory rebuilding %s", bpath);
            return cli_report(&e);
        }
        sink.cap = (size_t)size;
        if (st == NNZ_OK)
            st = nnz_rebuild(&b, write_mem, &sink, work, work_size);
        free(work);
        if (st != NNZ_OK) {
            snprintf(msg, sizeof msg, "a tensor does not decode: %s (status %d)",
                     cli_status_msg(st), (int)st);
            fail_doc(doc, msg);
            integrity = 0;
        } else if (nnz_model_load_bytes(sink.p, sink.len, bpath, NULL, &back, &e) != 0) {
            snprintf(msg, sizeof msg, "rebuilt model does not load: %s", e.msg);
            fail_doc(doc, msg);
            integrity = 0;
        }
    }
    if (back && !pipeline_rewrites_graph(pipeline)) {
        uint8_t *s1 = NULL, *s2 = NULL;
        size_t l1 = 0, l2 = 0;
        if (skeleton_of(orig, &s1, &l1, &e) != 0 || skeleton_of(back, &s2, &l2, &e) != 0 ||
            l1 != l2 || memcmp(s1, s2, l1) != 0) {
            fail_doc(doc, "graph differs from the model's graph");
            integrity = 0;
        }
        free(s1);
        free(s2);
    }
    /* weights */
    nnz_err_stats all = { 0 };
    double worst = 0;
    const char *worst_name = "";
    int over = 0;
    for (size_t i = 0; back && i < orig->ntensors; i++) {
        nnz_tensor *t = &orig->tensors[i];
        nnz_tensor *u = nnz_model_find(back, t->name);
        if (!u) {
            if (pipeline_rewrites_graph(pipeline))
                continue; /* replaced by its factors */
            snprintf(msg, sizeof msg, "tensor '%s' is missing from the blob", t->name);
            fail_doc(doc, msg);
            integrity = 0;
            continue;
        }
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "name", t->name);
        nnz_err_stats s = { 0 };
        if (u->dtype != t->dtype || u->count != t->count) {
            snprintf(msg, sizeof msg, "tensor '%s' changed type or shape", t->name);
            fail_doc(doc, msg);
            integrity = 0;
        } else if (nnz_dtype_is_float(t->dtype)) {
            float *a = nnz_tensor_floats(orig, t, &e), *bb = nnz_tensor_floats(back, u, &e);
            if (a && bb)
                nnz_err_compute(a, bb, t->count, &s);
            free(a);
            free(bb);
            all.sum_sq_ref += s.sum_sq_ref;
            all.sum_sq_err += s.sum_sq_err;
            if (s.max_abs > all.max_abs)
                all.max_abs = s.max_abs;
        } else {
            const uint8_t *a = nnz_tensor_data(orig, t, &e), *bb = nnz_tensor_data(back, u, &e);
            if (!a || !bb || memcmp(a, bb, t->nbytes) != 0) {
                s.rel_l2 = INFINITY;
                snprintf(msg, sizeof msg, "%s tensor '%s' differs (integer data must be exact)",
                         nnz_dtype_name(t->dtype), t->name);
                fail_doc(doc, msg);
            } else {
                s.sqnr_db = INFINITY;
            }
        }
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
    nnz_err_finish(&all);
    if (over) {
        snprintf(msg, sizeof msg, "%d tensor%s over --max-rel-error %g (worst '%s': %g)", over,
                 over == 1 ? "" : "s", limit, worst_name, worst);
        fail_doc(doc, msg);
    }
    cJSON_AddBoolToObject(doc, "integrity", integrity);
    cJSON *ov = cJSON_AddObjectToObject(doc, "overall");
    cJSON_AddNumberToObject(ov, "rel_l2", all.rel_l2);
    cJSON_AddNumberToObject(ov, "max_abs", all.max_abs);
    cJSON_AddNumberToObject(ov, "sqnr_db", all.sqnr_db);
    cJSON *wj = cJSON_AddObjectToObject(doc, "worst");
    cJSON_AddStringToObject(wj, "name", worst_name);
    cJSON_AddNumberToObject(wj, "rel_l2", worst);
    cJSON_AddItemToObject(doc, "tensors", ts);

    int ok = cJSON_IsTrue(cJSON_GetObjectItem(doc, "ok"));
    if (!g_cli.quiet) {
        const cJSON *x;
        if (g_cli.verbose)
            cJSON_ArrayForEach(x, ts)
                fprintf(stderr, "  %-40s rel_l2 %-10.4g max_abs %-10.4g %s\n",
                        cJSON_GetObjectItem(x, "name")->valuestring,
                        cJSON_GetObjectItem(x, "rel_l2")->valuedouble,
                        cJSON_GetObjectItem(x, "max_abs")->valuedouble,
                        cJSON_IsTrue(cJSON_GetObjectItem(x, "ok")) ? "" : "OVER");
        cJSON_ArrayForEach(x, cJSON_GetObjectItem(doc, "failures"))
            fprintf(stderr, "nnzip: %s: %s\n", bpath, x->valuestring);
        fprintf(stderr, "nnzip: verify %s: %s; %d tensors, overall rel_l2 %.4g, worst %.4g ('%s')\n",
                bpath, ok ? "OK" : "FAILED", cJSON_GetArraySize(ts), all.rel_l2, worst, worst_name);
    }
    if (json)
        cli_print_json(doc);
    else
        cJSON_Delete(doc);
    cJSON_Delete(meta);
    nnz_model_free(back);
    nnz_model_free(orig);
    free(sink.p);
    cli_file_close(&f);
    return ok ? 0 : NNZ_EXIT_VERIFY;
}
