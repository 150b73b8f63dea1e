/* config.c - a pipeline as a JSON file (docs/config.md): the passes with
 * their options, tensors no pass touches, and per-layer overrides by name
 * or glob. Every key is checked; an unknown one is an error that says
 * where it is. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "pass.h"

/* Line and column of a byte offset, for parse errors. */
static void line_col(const char *text, size_t at, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < at && text[i]; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

/* One member as a key=value option: numbers as written, strings as they
 * are, true as a flag. Returns 1 when set, 0 when left out (false, null),
 * -1 on a value no option takes. */
static int member_kv(const cJSON *x, const char *where, nnz_kv *k, char buf[64], nnz_error *e)
{
    k->key = x->string;
    if (cJSON_IsTrue(x)) {
        k->value = NULL;
    } else if (cJSON_IsFalse(x) || cJSON_IsNull(x)) {
        return 0;
    } else if (cJSON_IsNumber(x)) {
        snprintf(buf, 64, "%.15g", x->valuedouble);
        k->value = buf;
    } else if (cJSON_IsString(x)) {
        k->value = x->valuestring;
    } else {
        return nnz_fail(e, NNZ_EXIT_USAGE, "%s.%s: expected a number, string or true", where,
                        x->string);
    }
    return 1;
}

/* An object's members as options; "only"/"skip" lists become repeated keys. */
static int object_kv(const cJSON *o, const char *where, nnz_kv *kv, size_t *n, char bufs[][64],
                     nnz_error *e)
{
    const cJSON *x;
    *n = 0;
    cJSON_ArrayForEach(x, o)
    {
        if (strcmp(x->string, "pass") == 0)
            continue;
        if ((strcmp(x->string, "only") == 0 || strcmp(x->string, "skip") == 0) && cJSON_IsArray(x)) {
            const cJSON *g;
            cJSON_ArrayForEach(g, x)
            {
                if (!cJSON_IsString(g) || *n == 64)
                    return nnz_fail(e, NNZ_EXIT_USAGE, "%s.%s: expected a list of name globs",
                                    where, x->string);
                kv[*n].key = x->string;
                kv[(*n)++].value = g->valuestring;
            }
            continue;
        }
        if (*n == 64)
            return nnz_fail(e, NNZ_EXIT_USAGE, "%s: too many options", where);
        int rc = member_kv(x, where, &kv[*n], bufs[*n], e);
        if (rc < 0)
            return -1;
        *n += (size_t)rc;
    }
    return 0;
}

static int stage_from_json(nnz_pipeline *p, const cJSON *o, size_t index, nnz_error *e)
{
    char where[64];
    snprintf(where, sizeof where, "pipeline[%zu]", index);
    const cJSON *pass = cJSON_GetObjectItem(o, "pass");
    if (!cJSON_IsObject(o) || !cJSON_IsString(pass))
        return nnz_fail(e, NNZ_EXIT_USAGE, "%s: expected an object with \"pass\": NAME", where);
    nnz_kv kv[64];
    char bufs[64][64];
    size_t n;
    if (object_kv(o, where, kv, &n, bufs, e) != 0)
        return -1;
    if (nnz_pipeline_add_stage(p, pass->valuestring, kv, n, e) != 0)
        return nnz_wrap(e, "%s: ", where);
    return 0;
}

static int parse_config(const cJSON *root, nnz_pipeline *p, const char *path, nnz_error *e)
{
    if (!cJSON_IsObject(root))
        return nnz_fail(e, NNZ_EXIT_USAGE, "expected a JSON object at the top");
    const cJSON *x;
    cJSON_ArrayForEach(x, root)
    {
        if (strcmp(x->string, "pipeline") && strcmp(x->string, "skip") &&
            strcmp(x->string, "layers") && strcmp(x->string, "comment"))
            return nnz_fail(e, NNZ_EXIT_USAGE, "unknown key '%s' at the top (valid: pipeline, "
                            "skip, layers, comment)", x->string);
    }
    const cJSON *pl = cJSON_GetObjectItem(root, "pipeline");
    if (cJSON_IsString(pl)) {
        nnz_pipeline tmp;
        if (nnz_pipeline_parse(pl->valuestring, &tmp, e) != 0)
            return nnz_wrap(e, "pipeline: ");
        *p = tmp;
    } else if (cJSON_IsArray(pl)) {
        size_t i = 0;
        cJSON_ArrayForEach(x, pl)
            if (stage_from_json(p, x, i++, e) != 0)
                return -1;
        if (nnz_pipeline_check(p, path, e) != 0)
            return -1;
    } else if (pl) {
        return nnz_fail(e, NNZ_EXIT_USAGE, "pipeline: expected a list of passes or a string");
    }
    const cJSON *skip = cJSON_GetObjectItem(root, "skip");
    if (skip) {
        if (!cJSON_IsArray(skip))
            return nnz_fail(e, NNZ_EXIT_USAGE, "skip: expected a list of name globs");
        size_t n = 0;
        cJSON_ArrayForEach(x, skip)
        {
            if (!cJSON_IsString(x))
                return nnz_fail(e, NNZ_EXIT_USAGE, "skip[%zu]: expected a string", n);
            char **l = nnz_realloc(p->skip, (n + 2) * sizeof *l, e);
            if (!l)
                return -1;
            p->skip = l;
            if (!(l[n] = nnz_strdup(x->valuestring, e)))
                return -1;
            l[++n] = NULL;
        }
    }
    const cJSON *layers = cJSON_GetObjectItem(root, "layers");
    if (layers && !cJSON_IsObject(layers))
        return nnz_fail(e, NNZ_EXIT_USAGE, "layers: expected an object of GLOB: {PASS: {...}}");
    cJSON_ArrayForEach(x, layers)
    {
        const cJSON *y;
        if (!cJSON_IsObject(x))
            return nnz_fail(e, NNZ_EXIT_USAGE, "layers.\"%s\": expected an object of PASS: "
                            "{options} (or null to turn the pass off there)", x->string);
        cJSON_ArrayForEach(y, x)
        {
            char where[512];
            snprintf(where, sizeof where, "layers.\"%s\".%s", x->string, y->string);
            if (!nnz_pass_find(y->string))
                return nnz_fail(e, NNZ_EXIT_USAGE, "%s: unknown pass '%s'", where, y->string);
            int off = cJSON_IsNull(y) || cJSON_IsFalse(y);
            if (!off && !cJSON_IsObject(y))
                return nnz_fail(e, NNZ_EXIT_USAGE, "%s: expected {options}, or null to turn "
                                "the pass off for these tensors", where);
            nnz_kv kv[64];
            char bufs[64][64];
            const char *drop[65];
            size_t n = 0, nd = 0;
            if (!off && object_kv(y, where, kv, &n, bufs, e) != 0)
                return -1;
            const cJSON *z, *members = off ? NULL : y;
            cJSON_ArrayForEach(z, members) /* "key": null drops the stage's key */
                if (cJSON_IsNull(z) && nd < 64)
                    drop[nd++] = z->string;
            drop[nd] = NULL;
            if ((off ? nnz_pipeline_add_override(p, y->string, x->string, NULL, 0, 1, e)
                     : nnz_pipeline_add_override_drop(p, y->string, x->string, kv, n, drop, e)) != 0)
                return nnz_wrap(e, "%s: ", where);
        }
    }
    /* the text form, for the blob's metadata */
    free(p->text);
    cJSON *j = nnz_pipeline_to_json(p);
    p->text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return p->text ? 0 : nnz_fail(e, NNZ_EXIT_INTERNAL, "out of memory");
}

/* A config is a few levels deep; past this, say so (cJSON would stop at
 * 1000 with only "not valid JSON"). */
#define CONFIG_MAX_DEPTH 64

/* The offset where brackets (outside strings) first nest deeper than the
 * limit, or `len` when they never do. */
static size_t too_deep_at(const char *t, size_t len)
{
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = t[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > CONFIG_MAX_DEPTH)
                return i;
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        }
    }
    return len;
}

int nnz_config_load(const char *path, nnz_pipeline *p, nnz_error *e)
{
    uint8_t *data;
    size_t len;
    memset(p, 0, sizeof *p);
    if (nnz_read_file(path, &data, &len, e) != 0)
        return -1;
    char *text = nnz_realloc(data, len + 1, e);
    if (!text) {
        free(data);
        return -1;
    }
    text[len] = '\0';
    size_t deep = too_deep_at(text, len);
    cJSON *root = deep < len ? NULL : cJSON_ParseWithLength(text, len);
    int rc;
    if (deep < len) {
        int line, col;
        line_col(text, deep, &line, &col);
        rc = nnz_fail(e, NNZ_EXIT_USAGE, "%s:%d:%d: objects and arrays nested more than %d deep "
                      "(limit); a config needs a few levels", path, line, col, CONFIG_MAX_DEPTH);
    } else if (!root) {
        int line, col;
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && at >= text && at <= text + len ? (size_t)(at - text) : 0;
        line_col(text, off, &line, &col);
        rc = nnz_fail(e, NNZ_EXIT_USAGE, "%s:%d:%d: not valid JSON here", path, line, col);
    } else {
        rc = parse_config(root, p, path, e);
        if (rc != 0)
            nnz_wrap(e, "%s: ", path);
    }
    cJSON_Delete(root);
    free(text);
    if (rc != 0)
        nnz_pipeline_free(p);
    return rc;
}
