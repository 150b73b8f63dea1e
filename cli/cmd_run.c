/* cmd_run.c - `nnzip run`: execute a model (or the model in a blob, decoded
 * through the runtime as a device would) with nnzip's own interpreter
 * (src/infer, docs/infer.md), on inputs from files or generated. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "fileio.h"
#include "cli_infer.h"
#include "infer_feed.h"
#include "model.h"

static const char run_help[] =
    "Usage: nnzip run MODEL.onnx|BLOB.nnz [--inputs DIR | --input-spec FILE]\n"
    "                 [-o OUTDIR] [options]\n\n"
    "Run the model with nnzip's interpreter (float32 on OpenBLAS); a blob is decoded\n"
    "through the runtime first. Prints each output's shape, min/max/mean and the\n"
    "time.\n\n"
    "  --inputs DIR        input_N.pb (TensorProto; by name, else order) or NAME.npy\n"
    "                      files; a folder of test_data_set_* folders runs each set\n"
    "  --input-spec FILE   generate inputs from a JSON spec (dims, range, dist,\n"
    "                      value, fill, channel_fill per input, as the corpus's\n"
    "                      models.json)\n"
    "  --spec-model NAME   the entry of a models.json-style spec to use\n"
    "  --seed N            seed of generated inputs (default 1)\n"
    "                      (no --inputs nor --input-spec: generated from the model's\n"
    "                      declared shapes, uniform in [-1, 1])\n"
    "  -o, --output DIR    write output_N.pb (or .npy with --npy) there\n"
    "  --npy               write .npy files instead of TensorProtos\n"
    "  --dim NAME=VALUE    value of a symbolic input dim (repeatable)\n"
    "  --threads N         OpenBLAS threads (default 1: reproducible bits)\n"
    "  --max-memory BYTES  limit on live activations (default 8 GiB)\n"
    "  --repeat N          run N times, report the fastest (timing)\n"
    "  --plan              only the shape plan: every value's dtype and shape and\n"
    "                      the peak of live activations, computed from the inputs'\n"
    "                      shapes before anything runs (nothing is computed)\n"
    "  --json              a JSON report on stdout\n"
    "  -f, --force         replace existing output files in DIR\n"
    "  -q, --quiet         no report on stderr\n"
    "  -h, --help\n";

int cli_infer_parse_common(int c, const char *arg, cli_infer_args *a)
{
    switch (c) {
    case 'i': a->inputs = arg; return 0;
    case 'S': a->spec = arg; return 0;
    case 'M': a->spec_model = arg; return 0;
    case 's': {
        char *end;
        unsigned long long v = strtoull(arg, &end, 10);
        if (*end || !*arg || arg[0] == '-')
            return cli_usage(a->cmd, "--seed wants a non-negative integer, got '%s'", arg);
        a->seed = v;
        return 0;
    }
    case 'T': {
        char *end;
        long v = strtol(arg, &end, 10);
        if (*end || v < 1 || v > 256)
            return cli_usage(a->cmd, "--threads wants 1..256, got '%s'", arg);
        a->opts.threads = (int)v;
        return 0;
    }
    case 'm': {
        char *end;
        unsigned long long v = strtoull(arg, &end, 10);
        if (*end || !v || arg[0] == '-')
            return cli_usage(a->cmd, "--max-memory wants a positive number of bytes, got '%s'", arg);
        a->opts.max_memory = v;
        return 0;
    }
    case 'D': {
        const char *eq = strchr(arg, '=');
        char *end;
        long long v = eq ? strtoll(eq + 1, &end, 10) : -1;
        if (!eq || eq == arg || !eq[1] || *end || v < 0)
            return cli_usage(a->cmd, "--dim wants NAME=VALUE with VALUE >= 0, got '%s'", arg);
        if (a->ndims >= sizeof a->dims / sizeof a->dims[0])
            return cli_usage(a->cmd, "too many --dim options (limit %zu)",
                             sizeof a->dims / sizeof a->dims[0]);
        snprintf(a->dim_names[a->ndims], sizeof a->dim_names[0], "%.*s", (int)(eq - arg), arg);
        a->dims[a->ndims].name = a->dim_names[a->ndims];
        a->dims[a->ndims].value = v;
        a->ndims++;
        a->opts.dims = a->dims;
        a->opts.ndims = a->ndims;
        return 0;
    }
    default: return -1;
    }
}

int cli_infer_load(const char *path, nnz_model **m, nnz_error *e)
{
    cli_file f;
    if (cli_file_open(&f, path, e) != 0)
        return -1;
    int rc;
    if (cli_is_blob(f.data, f.size)) {
        nnz_blob b;
        nnz_status st = cli_blob_check(&f, &b, 0);
        if (st != NNZ_OK) {
            cli_blob_error(e, path, f.data, &b, st);
            cli_file_close(&f);
            return -1;
        }
        uint8_t *bytes;
        size_t len;
        rc = cli_rebuild(&b, path, &bytes, &len, e);
        if (rc == 0) {
            rc = nnz_model_load_bytes(bytes, len, path, NULL, m, e);
            free(bytes);
        }
    } else
        rc = cli_model_from_file(&f, path, m, e);
    cli_file_close(&f);
    return rc;
}

/* Inputs for set k (dir given) or generated. */
int cli_infer_feed(const cli_infer_args *a, const nnz_infer *inf, const char *dir, nnz_feed *f,
                   nnz_error *e)
{
    if (dir)
        return nnz_feed_from_dir(inf, dir, f, e);
    return nnz_feed_generate(inf, a->spec, a->spec_model, a->seed, 0, f, e);
}

static void stats_of(const nnz_itensor *t, double *mn, double *mx, double *mean)
{
    *mn = INFINITY;
    *mx = -INFINITY;
    double s = 0;
    for (size_t i = 0; i < t->count; i++) {
        double v = nnz_it_get(t, i);
        if (v < *mn) *mn = v;
        if (v > *mx) *mx = v;
        s += v;
    }
    *mean = t->count ? s / (double)t->count : NAN;
    if (!t->count)
        *mn = *mx = NAN;
}

static void shape_str(const nnz_itensor *t, char *buf, size_t cap)
{
    size_t l = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < t->ndims && l < cap; i++)
        l += (size_t)snprintf(buf + l, cap - l, "%s%lld", i ? "," : "", (long long)t->dims[i]);
    if (l < cap)
        snprintf(buf + l, cap - l, "]");
}

static cJSON *num(double v)
{
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static void dims_str(int nd, const int64_t *d, char *buf, size_t cap)
{
    nnz_itensor t = { .ndims = nd };
    memcpy(t.dims, d, sizeof t.dims);
    shape_str(&t, buf, cap);
}

static cJSON *plan_json(const nnz_infer *inf, const nnz_infer_stats *st, int values)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, "peak_activation_bytes", (double)st->plan_peak_bytes);
    cJSON_AddNumberToObject(p, "shaped_values", (double)st->plan_values);
    cJSON_AddNumberToObject(p, "runtime_values", (double)st->plan_runtime_values);
    if (!values) {
        cJSON_AddNumberToObject(p, "checked_values", (double)st->plan_checked);
        cJSON_AddNumberToObject(p, "fused_values", (double)st->plan_fused);
        return p;
    }
    cJSON *vs = cJSON_AddArrayToObject(p, "values");
    for (size_t i = 0; i < nnz_infer_plan_nvalues(inf); i++) {
        const char *name;
        int dtype, nd;
        int64_t d[NNZ_MAX_DIMS];
        int k = nnz_infer_plan_value(inf, i, &name, &dtype, &nd, d);
        if (!k)
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", name);
        if (k == 1) {
            cJSON_AddStringToObject(o, "dtype", nnz_dtype_name(dtype));
            cJSON *shape = cJSON_AddArrayToObject(o, "shape");
            for (int j = 0; j < nd; j++)
                cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)d[j]));
        } else
            cJSON_AddBoolToObject(o, "runtime", 1);
        cJSON_AddItemToArray(vs, o);
    }
    return p;
}

/* --plan: the shape plan alone, printed. */
static int plan_one(nnz_infer *inf, int json, const char *label, cJSON *sets, nnz_error *e)
{
    if (nnz_infer_plan(inf, e) != 0)
        return -1;
    nnz_infer_stats st;
    nnz_infer_get_stats(inf, &st);
    if (json) {
        cJSON *js = cJSON_CreateObject();
        if (label)
            cJSON_AddStringToObject(js, "set", label);
        cJSON_AddItemToObject(js, "plan", plan_json(inf, &st, 1));
        cJSON_AddItemToArray(sets, js);
        return 0;
    }
    if (g_cli.quiet)
        return 0;
    if (label)
        fprintf(stderr, "nnzip: %s:\n", label);
    for (size_t i = 0; i < nnz_infer_plan_nvalues(inf); i++) {
        const char *name;
        int dtype, nd;
        int64_t d[NNZ_MAX_DIMS];
        char sh[512];
        int k = nnz_infer_plan_value(inf, i, &name, &dtype, &nd, d);
        if (k == 1) {
            dims_str(nd, d, sh, sizeof sh);
            fprintf(stderr, "  %-40s %-7s %s\n", name, nnz_dtype_name(dtype), sh);
        } else if (k == 2)
            fprintf(stderr, "  %-40s known at run time\n", name);
    }
    fprintf(stderr, "nnzip: planned peak of live activations %.1f MiB; %zu values shaped, %zu "
            "known only at run time\n", (double)st.plan_peak_bytes / 1048576.0, st.plan_values,
            st.plan_runtime_values);
    return 0;
}

static int run_one(nnz_infer *inf, const cli_infer_args *a, const char *in_dir, const char *out_dir,
                   int npy, int repeat, int json, int plan, const char *label, cJSON *sets,
                   nnz_error *e)
{
    nnz_feed f = { 0 };
    if (cli_infer_feed(a, inf, in_dir, &f, e) != 0)
        return -1;
    int rc = nnz_feed_apply(inf, &f, e);
    nnz_feed_free(&f);
    if (rc == 0 && plan)
        return plan_one(inf, json, label, sets, e);
    double best = INFINITY;
    nnz_infer_stats st = { 0 };
    for (int r = 0; rc == 0 && r < repeat; r++) {
        rc = nnz_infer_run(inf, e);
        nnz_infer_get_stats(inf, &st);
        if (st.seconds < best)
            best = st.seconds;
    }
    if (rc != 0)
        return -1;
    if (out_dir && nnz_feed_write_outputs(inf, out_dir, npy, cli_out_flags(NNZ_OUT_BINARY), e) != 0)
        return -1;
    cJSON *js = json ? cJSON_CreateObject() : NULL, *outs = NULL;
    if (js) {
        if (label)
            cJSON_AddStringToObject(js, "set", label);
        cJSON_AddNumberToObject(js, "seconds", best);
        cJSON_AddNumberToObject(js, "peak_activation_bytes", (double)st.peak_bytes);
        cJSON_AddItemToObject(js, "plan", plan_json(inf, &st, 0));
        outs = cJSON_AddArrayToObject(js, "outputs");
        cJSON_AddItemToArray(sets, js);
    }
    if (!g_cli.quiet && !json)
        fprintf(stderr, "nnzip: %s%s%.3f ms (peak activations %.1f MiB, planned %.1f MiB; %zu "
                "values shaped before the run, %zu only at run time)\n", label ? label : "",
                label ? ": " : "", best * 1e3, (double)st.peak_bytes / 1048576.0,
                (double)st.plan_peak_bytes / 1048576.0, st.plan_values, st.plan_runtime_values);
    for (size_t i = 0; i < nnz_infer_noutputs(inf); i++) {
        const nnz_itensor *t = nnz_infer_output(inf, i);
        double mn, mx, mean;
        char sh[512];
        stats_of(t, &mn, &mx, &mean);
        shape_str(t, sh, sizeof sh);
        if (js) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", nnz_infer_output_name(inf, i));
            cJSON_AddStringToObject(o, "dtype", nnz_dtype_name(t->dtype));
            cJSON *shape = cJSON_AddArrayToObject(o, "shape");
            for (int k = 0; k < t->ndims; k++)
                cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->dims[k]));
            cJSON_AddItemToObject(o, "min", num(mn));
            cJSON_AddItemToObject(o, "max", num(mx));
            cJSON_AddItemToObject(o, "mean", num(mean));
            cJSON_AddItemToArray(outs, o);
        } else if (!g_cli.quiet)
            fprintf(stderr, "  %-24s %-7s %-20s min %-12.6g max %-12.6g mean %.6g\n",
                    nnz_infer_output_name(inf, i), nnz_dtype_name(t->dtype), sh, mn, mx, mean);
    }
    return 0;
}

int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        { "inputs", required_argument, NULL, 'i' }, { "input-spec", required_argument, NULL, 'S' },
        { "spec-model", required_argument, NULL, 'M' }, { "seed", required_argument, NULL, 's' },
        { "output", required_argument, NULL, 'o' }, { "npy", no_argument, NULL, 'N' },
        { "dim", required_argument, NULL, 'D' }, { "threads", required_argument, NULL, 'T' },
        { "max-memory", required_argument, NULL, 'm' }, { "repeat", required_argument, NULL, 'R' },
        { "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
        { "plan", no_argument, NULL, 'P' },
        { "force", no_argument, NULL, 'f' },
        { "quiet", no_argument, NULL, 'q' }, { "verbose", no_argument, NULL, 'v' },
        { 0, 0, 0, 0 } };
    cli_infer_args a = { .cmd = "run", .seed = 1 };
    const char *outdir = NULL;
    int npy = 0, json = 0, repeat = 1, plan = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":o:fhqv", opts, NULL)) != -1) {
        switch (c) {
        case 'o': outdir = optarg; break;
        case 'N': npy = 1; break;
        case 'j': json = 1; break;
        case 'P': plan = 1; break;
        case 'R': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 100000)
                return cli_usage("run", "--repeat wants 1..100000, got '%s'", optarg);
            repeat = (int)v;
            break;
        }
        case 'h': fputs(run_help, stdout); return 0;
        case 'q': g_cli.quiet = 1; break;
        case 'v': g_cli.verbose = 1; break;
        case 'f': g_cli.force = 1; break;
        case '?':
        case ':': return cli_bad_option("run", c, argv);
        default: {
            int rc = cli_infer_parse_common(c, optarg, &a);
            if (rc != 0)
                return rc < 0 ? cli_usage("run", "unknown option") : rc;
        }
        }
    }
    if (optind != argc - 1)
        return cli_usage("run", "expected one MODEL.onnx or BLOB.nnz, got %d", argc - optind);
    if (a.inputs && a.spec)
        return cli_usage("run", "--inputs and --input-spec: give one");
    if (plan && outdir)
        return cli_usage("run", "--plan computes nothing: no -o");
    /* testing knob (tests/suite/57-infer.sh): a plan that computes no float
     * values, so every kernel's shape path runs */
    const char *so = getenv("NNZIP_PLAN_SHAPES_ONLY");
    a.opts.plan_shapes_only = so && *so && strcmp(so, "0") != 0;
    const char *path = argv[optind];
    nnz_error e = { 0 };
    nnz_model *m = NULL;
    nnz_infer *inf = NULL;
    if (cli_infer_load(path, &m, &e) != 0)
        return cli_report(&e);
    if (nnz_infer_open(m, &a.opts, &inf, &e) != 0) {
        nnz_model_free(m);
        nnz_wrap(&e, "%s: ", path);
        return cli_report(&e);
    }
    char **sets = NULL;
    size_t nsets = 0;
    int rc = 0;
    if (a.inputs)
        rc = nnz_feed_list_sets(a.inputs, &sets, &nsets, &e);
    cJSON *doc = json ? cJSON_CreateObject() : NULL, *jsets = NULL;
    if (doc) {
        cJSON_AddStringToObject(doc, "model", path);
        nnz_infer_stats st;
        nnz_infer_get_stats(inf, &st);
        cJSON_AddNumberToObject(doc, "weight_bytes", (double)st.weight_bytes);
        cJSON_AddNumberToObject(doc, "weight_copied_bytes", (double)st.copied_bytes);
        cJSON_AddNumberToObject(doc, "threads", a.opts.threads > 1 ? a.opts.threads : 1);
        jsets = cJSON_AddArrayToObject(doc, "runs");
    }
    if (rc == 0 && nsets) {
        for (size_t k = 0; k < nsets && rc == 0; k++) {
            char in_dir[4096], out_dir[4096];
            snprintf(in_dir, sizeof in_dir, "%s/%s", a.inputs, sets[k]);
            snprintf(out_dir, sizeof out_dir, "%s/%s", outdir ? outdir : "", sets[k]);
            if (outdir && k == 0 && mkdir(outdir, 0777) != 0 && errno != EEXIST) {
                rc = nnz_fail(&e, NNZ_EXIT_OUTPUT, "%s: cannot create the folder: %s", outdir,
                              strerror(errno));
                break;
            }
            rc = run_one(inf, &a, in_dir, outdir ? out_dir : NULL, npy, repeat, json, plan, sets[k],
                         jsets, &e);
            if (rc != 0)
                nnz_wrap(&e, "%s: ", in_dir);
        }
    } else if (rc == 0)
        rc = run_one(inf, &a, a.inputs, outdir, npy, repeat, json, plan, NULL, jsets, &e);
    for (size_t k = 0; k < nsets; k++)
        free(sets[k]);
    free(sets);
    nnz_infer_free(inf);
    nnz_model_free(m);
    if (rc != 0) {
        cJSON_Delete(doc);
        if (!strstr(e.msg, path))
            nnz_wrap(&e, "%s: ", path);
        return cli_report(&e);
    }
    if (doc)
        cli_print_json(doc);
    return 0;
}
