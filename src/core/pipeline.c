/* pipeline.c - parsing pipelines, the composition rules, and running the
 * stages on each tensor (see pass.h). */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pass.h"
#include "suggest.h"

/* ---- the order rules ------------------------------------------------------ */

/* Why a stage of phase `then` may not come after one of a later phase,
 * generated from what the two passes declare: %1$s is the later stage's
 * pass, %2$s the earlier one's. docs/pipelines.md shows the rules. */
static const char *order_why(const nnz_pass *first, const nnz_pass *then)
{
    if (first->phase == NNZ_PHASE_ENTROPY)
        return "%2$s is the last, lossless step; nothing may follow it";
    if (then->phase == NNZ_PHASE_GRAPH)
        return "%1$s rewrites the float graph the others start from; put it first";
    if (then->consumes == NNZ_DATA_FLOATS && first->produces != NNZ_DATA_FLOATS)
        return "%1$s works on float weights; %1$s first, then %2$s";
    if (then->phase == NNZ_PHASE_FACTOR)
        return "%1$s replaces whole weights with new ones and would lose what %2$s did to "
               "them; %1$s first, then %2$s";
    return "%1$s belongs before %2$s";
}

static int names(const char *const *list, const char *name)
{
    for (size_t i = 0; list && list[i]; i++)
        if (strcmp(list[i], name) == 0)
            return 1;
    return 0;
}

int nnz_pass_check(const nnz_pass *ps, nnz_error *e)
{
    nnz_data in = ps->phase == NNZ_PHASE_ENTROPY ? NNZ_DATA_CODES : NNZ_DATA_FLOATS;
    nnz_data out = ps->phase >= NNZ_PHASE_CODE ? NNZ_DATA_CODES : NNZ_DATA_FLOATS;
    if (ps->phase <= NNZ_PHASE_UNSET || ps->phase > NNZ_PHASE_ENTROPY)
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "pass '%s' declares no phase (pass.h nnz_phase)",
                        ps->name);
    if (ps->consumes != in || ps->produces != out)
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "pass '%s': its phase %d works on %s and leaves "
                        "%s, not what it declares", ps->name, (int)ps->phase,
                        in == NNZ_DATA_CODES ? "codes" : "floats",
                        out == NNZ_DATA_CODES ? "codes" : "floats");
    if (ps->excludes && !ps->excludes_why)
        return nnz_fail(e, NNZ_EXIT_INTERNAL, "pass '%s' excludes '%s' without saying why",
                        ps->name, ps->excludes[0]);
    return 0;
}

/* Why `then` may not come after `first`, written into buf; NULL: it may. */
static const char *refusal(const nnz_pass *first, const nnz_pass *then, char *buf, size_t n)
{
    if (first == then)
        return "each pass may appear once";
    if (names(then->excludes, first->name) || names(first->excludes, then->name)) {
        const char *why = names(then->excludes, first->name) ? then->excludes_why
                                                              : first->excludes_why;
        snprintf(buf, n, "%s; use one of %s or %s", why, first->name, then->name);
        return buf;
    }
    if (then->phase >= first->phase && first->phase != NNZ_PHASE_ENTROPY)
        return NULL;
    snprintf(buf, n, order_why(first, then), then->name, first->name);
    return buf;
}

/* ---- parsing -------------------------------------------------------------- */

char *nnz_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

int nnz_each_stage(const char *text, int (*stage)(void *ctx, char *part, nnz_error *e),
                   void *ctx, nnz_error *e)
{
    char *copy = nnz_strdup(text, e), *save = NULL;
    if (!copy)
        return -1;
    int rc = 0;
    for (char *part = strtok_r(copy, "|", &save); part && rc == 0;
         part = strtok_r(NULL, "|", &save))
        if (*nnz_trim(part))
            rc = stage(ctx, part, e);
    free(copy);
    return rc;
}

static int push(char ***list, const char *v, nnz_error *e)
{
    size_t n = 0;
    while (*list && (*list)[n])
        n++;
    char **l = nnz_realloc(*list, (n + 2) * sizeof *l, e);
    if (!l)
        return -1;
    *list = l;
    if (!(l[n] = nnz_strdup(v, e)))
        return -1;
    l[n + 1] = NULL;
    return 0;
}

static void free_list(char **l)
{
    for (size_t i = 0; l && l[i]; i++)
        free(l[i]);
    free(l);
}

static void list_passes(char *buf, size_t n)
{
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; nnz_passes[i] && at < n; i++)
        at += (size_t)snprintf(buf + at, n - at, "%s%s", i ? ", " : "", nnz_passes[i]->name);
}

static void free_kv(nnz_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

static nnz_kv *copy_kv(const nnz_kv *kv, size_t n, nnz_error *e)
{
    nnz_kv *c = nnz_calloc(n ? n : 1, sizeof *c, e);
    for (size_t i = 0; c && i < n; i++) {
        c[i].key = nnz_strdup(kv[i].key, e);
        c[i].value = kv[i].value ? nnz_strdup(kv[i].value, e) : NULL;
        if (!c[i].key || (kv[i].value && !c[i].value)) {
            free_kv(c, i + 1);
            return NULL;
        }
    }
    return c;
}

/* Parse options for a stage: the common keys go to the stage, the rest to
 * the pass. `opts` receives the pass's parsed options. */
static int parse_options(nnz_stage *st, const nnz_kv *kv, size_t n, void **opts, nnz_error *e)
{
    nnz_kv rest[64];
    size_t m = 0;
    long min = -1;
    if (n > 64)
        return nnz_fail(e, NNZ_EXIT_USAGE, "%s: too many options", st->pass->name);
    for (size_t i = 0; i < n; i++) {
        if ((strcmp(kv[i].key, "only") == 0 || strcmp(kv[i].key, "skip") == 0) && kv[i].value &&
            *kv[i].value) {
            if (push(kv[i].key[0] == 'o' ? &st->only : &st->skip, kv[i].value, e) != 0)
                return -1;
        } else if (strcmp(kv[i].key, "min-elements") == 0) {
            if (nnz_opt_int(st->pass->name, &kv[i], 1, 1L << 40, &min, e) != 0)
                return -1;
        } else {
            rest[m++] = kv[i];
        }
    }
    st->min_elements = min > 0 ? (size_t)min : st->pass->min_elements;
    if (st->pass->parse(rest, m, opts, e) != 0)
        return -1;
    if (min <= 0 && st->pass->floor)
        st->min_elements = st->pass->floor(*opts);
    return 0;
}

int nnz_pipeline_add_stage(nnz_pipeline *p, const char *pass, const nnz_kv *kv, size_t n,
                           nnz_error *e)
{
    const nnz_pass *ps = nnz_pass_find(pass);
    if (ps)
        return nnz_pipeline_add_pass(p, ps, kv, n, e);
    char names[256];
    const char *cands[64] = { 0 };
    size_t nc = 0;
    for (; nnz_passes[nc] && nc < 64; nc++)
        cands[nc] = nnz_passes[nc]->name;
    const char *near = nnz_suggest(pass, cands, nc);
    if (near)
        return nnz_fail(e, NNZ_EXIT_USAGE, "unknown pass '%s'; did you mean '%s'?", pass, near);
    list_passes(names, sizeof names);
    return nnz_fail(e, NNZ_EXIT_USAGE, "unknown pass '%s' (passes: %s)", pass, names);
}

int nnz_pipeline_add_pass(nnz_pipeline *p, const nnz_pass *ps, const nnz_kv *kv, size_t n,
                          nnz_error *e)
{
    nnz_stage *s = nnz_realloc(p->stages, (p->n + 1) * sizeof *s, e);
    if (!s)
        return -1;
    p->stages = s;
    nnz_stage *st = &s[p->n++];
    memset(st, 0, sizeof *st);
    st->pass = ps;
    st->kv = copy_kv(kv, n, e);
    if (!st->kv)
        return -1;
    st->nkv = n;
    return parse_options(st, kv, n, &st->opts, e);
}

int nnz_pipeline_add_override(nnz_pipeline *p, const char *pass, const char *glob,
                              const nnz_kv *kv, size_t n, int disabled, nnz_error *e)
{
    static const char *const none[] = { NULL };
    if (disabled)
        return nnz_pipeline_add_override_drop(p, pass, glob, NULL, 0, NULL, e);
    return nnz_pipeline_add_override_drop(p, pass, glob, kv, n, none, e);
}

int nnz_pipeline_add_override_drop(nnz_pipeline *p, const char *pass, const char *glob,
                                   const nnz_kv *kv, size_t n, const char *const *drop,
                                   nnz_error *e)
{
    int disabled = drop == NULL; /* no options at all: the stage is off there */
    nnz_stage *st = NULL;
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->stages[i].pass->name, pass) == 0)
            st = &p->stages[i];
    if (!st)
        return nnz_fail(e, NNZ_EXIT_USAGE, "'%s' overrides pass '%s', which the pipeline does "
                        "not run", glob, pass);
    nnz_override *ov = nnz_realloc(st->ov, (st->nov + 1) * sizeof *ov, e);
    if (!ov)
        return -1;
    st->ov = ov;
    ov = &st->ov[st->nov++];
    memset(ov, 0, sizeof *ov);
    ov->glob = nnz_strdup(glob, e);
    ov->disabled = disabled;
    for (size_t k = 0; drop && drop[k]; k++)
        if (push(&ov->drop, drop[k], e) != 0)
            return -1;
    ov->kv = copy_kv(kv, n, e);
    ov->nkv = n;
    if (!ov->glob || !ov->kv)
        return -1;
    if (disabled)
        return 0;
    /* the stage's keys, then the override's: the pass's parse keeps the last */
    nnz_kv merged[128];
    size_t m = 0;
    for (size_t i = 0; i < st->nkv && m < 64; i++) {
        int dropped = 0;
        for (size_t k = 0; drop[k]; k++)
            dropped |= strcmp(drop[k], st->kv[i].key) == 0;
        if (!dropped && strcmp(st->kv[i].key, "only") && strcmp(st->kv[i].key, "skip") &&
            strcmp(st->kv[i].key, "min-elements"))
            merged[m++] = st->kv[i];
    }
    for (size_t i = 0; i < n && m < 128; i++) {
        if (strcmp(kv[i].key, "only") == 0 || strcmp(kv[i].key, "skip") == 0 ||
            strcmp(kv[i].key, "min-elements") == 0)
            return nnz_fail(e, NNZ_EXIT_USAGE, "'%s': %s: '%s' chooses tensors for the whole "
                            "pass; per layer, the glob does that", glob, pass, kv[i].key);
        for (size_t k = 0; k < m; k++) /* an overridden key replaces the stage's */
            if (strcmp(merged[k].key, kv[i].key) == 0) {
                merged[k] = merged[--m];
                break;
            }
        merged[m++] = kv[i];
    }
    if (st->pass->parse(merged, m, &ov->opts, e) != 0)
        return nnz_wrap(e, "'%s': ", glob);
    return 0;
}

/* Parse one stage "name:k=v,k=v" (modifies `s`) into pipeline vp. */
static int parse_stage(void *vp, char *s, nnz_error *e)
{
    nnz_pipeline *p = vp;
    char *colon = strchr(s, ':');
    if (colon)
        *colon = '\0';
    char *name = nnz_trim(s);
    nnz_kv kv[64];
    size_t n = 0;
    if (colon) {
        char *save = NULL;
        for (char *tok = strtok_r(colon + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            tok = nnz_trim(tok);
            if (!*tok)
                continue;
            if (n == 64)
                return nnz_fail(e, NNZ_EXIT_USAGE, "%s: too many options", name);
            char *eq = strchr(tok, '=');
            if (eq) {
                *eq = '\0';
                kv[n].key = nnz_trim(tok);
                kv[n].value = nnz_trim(eq + 1);
            } else {
                kv[n].key = tok;
                kv[n].value = NULL;
            }
            n++;
        }
    }
    return nnz_pipeline_add_stage(p, name, kv, n, e);
}

void nnz_pipeline_free(nnz_pipeline *p)
{
    for (size_t i = 0; i < p->n; i++) {
        nnz_stage *st = &p->stages[i];
        if (st->pass && st->pass->free_opts && st->opts)
            st->pass->free_opts(st->opts);
        for (size_t k = 0; k < st->nov; k++) {
            if (st->ov[k].opts && st->pass->free_opts)
                st->pass->free_opts(st->ov[k].opts);
            free(st->ov[k].glob);
            free_kv(st->ov[k].kv, st->ov[k].nkv);
            free_list(st->ov[k].drop);
        }
        free(st->ov);
        free_kv(st->kv, st->nkv);
        free_list(st->only);
        free_list(st->skip);
        free(st->selected);
    }
    free(p->stages);
    free(p->tensor_reports);
    free_list(p->skip);
    free(p->text);
    memset(p, 0, sizeof *p);
}

int nnz_pipeline_check(const nnz_pipeline *p, const char *label, nnz_error *e)
{
    for (size_t i = 0; i < p->n; i++) {
        const nnz_pass *then = p->stages[i].pass;
        if (nnz_pass_check(then, e) != 0)
            return -1;
        for (size_t j = 0; j < i; j++) {
            char buf[400];
            const nnz_pass *first = p->stages[j].pass;
            const char *why = refusal(first, then, buf, sizeof buf);
            if (why)
                return nnz_fail(e, NNZ_EXIT_USAGE, "pipeline '%s': %s after %s is refused: %s",
                                label, then->name, first->name, why);
        }
    }
    /* a coding stage with no quantizer before it codes the model's own
     * integer weights, if it has any: nnz_pipeline_prepare checks that */
    return 0;
}

int nnz_pipeline_parse(const char *text, nnz_pipeline *p, nnz_error *e)
{
    memset(p, 0, sizeof *p);
    p->text = nnz_strdup(text ? text : "", e);
    if (!p->text)
        return -1;
    if (nnz_each_stage(p->text, parse_stage, p, e) != 0) {
        nnz_pipeline_free(p);
        return nnz_wrap(e, "pipeline '%s': ", text);
    }
    if (nnz_pipeline_check(p, text, e) != 0) {
        nnz_pipeline_free(p);
        return -1;
    }
    return 0;
}

static int matches(char **globs, const char *name);

const void *nnz_stage_opts_for(const nnz_stage *st, const nnz_tensor *t)
{
    for (size_t k = 0; k < st->nov; k++)
        if (fnmatch(st->ov[k].glob, t->name, 0) == 0)
            return st->ov[k].disabled ? NULL : st->ov[k].opts;
    return st->opts;
}

static cJSON *kv_json(const nnz_kv *kv, size_t n, cJSON *o)
{
    for (size_t i = 0; i < n; i++) {
        char *end;
        double v = kv[i].value ? strtod(kv[i].value, &end) : 0;
        cJSON_DeleteItemFromObject(o, kv[i].key); /* a repeated key: the last counts */
        if (!kv[i].value)
            cJSON_AddTrueToObject(o, kv[i].key);
        else if (*kv[i].value && !*end && isfinite(v))
            cJSON_AddNumberToObject(o, kv[i].key, v);
        else
            cJSON_AddStringToObject(o, kv[i].key, kv[i].value);
    }
    return o;
}

cJSON *nnz_pipeline_to_json(const nnz_pipeline *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *pl = cJSON_AddArrayToObject(o, "pipeline");
    cJSON *layers = NULL;
    for (size_t i = 0; i < p->n; i++) {
        const nnz_stage *st = &p->stages[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "pass", st->pass->name);
        cJSON *onl = NULL, *skp = NULL;
        for (size_t k = 0; k < st->nkv; k++) { /* globs are lists in JSON */
            if (strcmp(st->kv[k].key, "only") == 0 || strcmp(st->kv[k].key, "skip") == 0) {
                cJSON **l = st->kv[k].key[0] == 'o' ? &onl : &skp;
                if (!*l)
                    *l = cJSON_CreateArray();
                cJSON_AddItemToArray(*l, cJSON_CreateString(st->kv[k].value ? st->kv[k].value : ""));
            } else {
                kv_json(&st->kv[k], 1, x);
            }
        }
        if (onl)
            cJSON_AddItemToObject(x, "only", onl);
        if (skp)
            cJSON_AddItemToObject(x, "skip", skp);
        cJSON_AddItemToArray(pl, x);
        for (size_t k = 0; k < st->nov; k++) {
            if (!layers)
                layers = cJSON_CreateObject();
            cJSON *l = cJSON_GetObjectItem(layers, st->ov[k].glob);
            if (!l)
                l = cJSON_AddObjectToObject(layers, st->ov[k].glob);
            if (st->ov[k].disabled) {
                cJSON_AddNullToObject(l, st->pass->name);
            } else {
                cJSON *o2 = kv_json(st->ov[k].kv, st->ov[k].nkv,
                                    cJSON_AddObjectToObject(l, st->pass->name));
                for (size_t d = 0; st->ov[k].drop && st->ov[k].drop[d]; d++)
                    cJSON_AddNullToObject(o2, st->ov[k].drop[d]);
            }
        }
    }
    if (p->skip) {
        cJSON *sk = cJSON_AddArrayToObject(o, "skip");
        for (size_t i = 0; p->skip[i]; i++)
            cJSON_AddItemToArray(sk, cJSON_CreateString(p->skip[i]));
    }
    if (layers)
        cJSON_AddItemToObject(o, "layers", layers);
    return o;
}

/* ---- running ----------------------------------------------------------------- */

static int matches(char **globs, const char *name)
{
    for (size_t i = 0; globs && globs[i]; i++)
        if (fnmatch(globs[i], name, 0) == 0)
            return 1;
    return 0;
}

/* Did an earlier stage of p than `s` leave tensor i as codes? */
static int coded_before(const nnz_pipeline *p, size_t s, const nnz_tensor *t, size_t i)
{
    for (size_t j = 0; j < s; j++) {
        const nnz_stage *st = &p->stages[j];
        if (st->pass->produces == NNZ_DATA_CODES && st->selected && st->selected[i] &&
            nnz_stage_opts_for(st, t))
            return 1;
    }
    return 0;
}

/* Which tensors stage s touches; the stages before it are chosen already. */
static int select_tensors(nnz_pipeline *p, size_t s, const nnz_model *m, nnz_error *e)
{
    nnz_stage *st = &p->stages[s];
    free(st->selected);
    st->selected = nnz_calloc(m->ntensors ? m->ntensors : 1, 1, e);
    if (!st->selected)
        return -1;
    for (size_t i = 0; i < m->ntensors; i++) {
        const nnz_tensor *t = &m->tensors[i];
        int sel = st->pass->selects ? st->pass->selects(t, st->opts) : nnz_tensor_is_weight(t);
        int named = 0;
        if (st->pass->consumes == NNZ_DATA_CODES && coded_before(p, s, t, i))
            sel = named = 1; /* chosen by the stage that made its codes */
        if (st->only) {
            named = matches(st->only, t->name) &&
                    (named || (st->pass->may_name && st->pass->may_name(t, st->opts)));
            sel = (sel && matches(st->only, t->name)) || named;
        }
        if (matches(st->skip, t->name) || matches(p->skip, t->name) ||
            (t->count < st->min_elements && !named))
            sel = 0;
        st->selected[i] = (uint8_t)sel;
    }
    return 0;
}

int nnz_pipeline_names(const nnz_pipeline *p, const nnz_tensor *t)
{
    if (matches(p->skip, t->name))
        return 1;
    for (size_t s = 0; s < p->n; s++) {
        const nnz_stage *st = &p->stages[s];
        if (matches(st->only, t->name) || matches(st->skip, t->name))
            return 1;
        for (size_t k = 0; k < st->nov; k++)
            if (fnmatch(st->ov[k].glob, t->name, 0) == 0)
                return 1;
    }
    return 0;
}

/* The name of the first pass that makes codes out of `from` (floats: a
 * quantizer; codes: an entropy coder), for messages that suggest one. */
static const char *coder_of(nnz_data from)
{
    for (size_t k = 0; nnz_passes[k]; k++)
        if (nnz_passes[k]->consumes == from && nnz_passes[k]->produces == NNZ_DATA_CODES)
            return nnz_passes[k]->name;
    return "?";
}

/* A coding stage needs codes: from a quantizer before it, or weights the
 * model has as integers already. And integer weights no coding stage takes
 * are worth a word. */
static int check_codes(const nnz_pipeline *p, const nnz_model *m, cJSON *report, nnz_error *e)
{
    int coder = 0, quantizer = 0;
    size_t loose = 0, codes = 0, int4 = nnz_model_count_int4(m);
    for (size_t i = 0; i < m->ntensors; i++)
        codes += nnz_tensor_is_codes(&m->tensors[i]);
    for (size_t s = 0; s < p->n; s++) {
        const nnz_stage *st = &p->stages[s];
        int codes_before = quantizer;
        quantizer |= st->pass->produces == NNZ_DATA_CODES;
        if (st->pass->consumes != NNZ_DATA_CODES)
            continue;
        coder = 1;
        size_t taken = 0;
        for (size_t i = 0; i < m->ntensors; i++)
            taken += st->selected[i];
        if (!codes_before && taken == 0 && codes > 0)
            return nnz_fail(e, NNZ_EXIT_USAGE,
                            "pipeline '%s': the model has %zu int8/uint8 weights quantized "
                            "before nnzip saw it, and %s's only=/skip=/min-elements= leave "
                            "none of them to code ('nnzip info MODEL' lists them)", p->text,
                            codes, st->pass->name);
        if (!codes_before && taken == 0 && int4 > 0)
            return nnz_fail(e, NNZ_EXIT_USAGE,
                            "pipeline '%s': the model's %zu int4/uint4 initializers are codes "
                            "already, but the blob has no 4-bit element type: they stay as the "
                            "model packs them, and %s has nothing to code (compress without "
                            "-p keeps the model as it is)", p->text, int4, st->pass->name);
        if (!codes_before && taken == 0)
            return nnz_fail(e, NNZ_EXIT_USAGE,
                            "pipeline '%s': %s codes the integer codes a quantizer makes, and "
                            "nothing is quantized before it (nor has the model int8/uint8 "
                            "weights: behind DequantizeLinear, an integer op, or Cast "
                            "[-> Sub] -> Mul into a compute op); use e.g. '%s | %s'",
                            p->text, st->pass->name, coder_of(NNZ_DATA_FLOATS), st->pass->name);
    }
    loose = coder ? 0 : codes;
    if (loose) {
        char buf[300];
        const char *c = coder_of(NNZ_DATA_CODES);
        snprintf(buf, sizeof buf, "%zu int8/uint8 weights were quantized before nnzip saw them "
                 "and are stored as they are; add a %s stage ('| %s', or -p %s alone) to "
                 "entropy-code them losslessly", loose, c, c, c);
        cJSON_AddItemToArray(cJSON_GetObjectItem(report, "warnings"), cJSON_CreateString(buf));
    }
    return 0;
}

/* A name glob that matches none of the model's tensors is most likely a
 * typo: say so (the stage then does what it would do without it). */
static void warn_unmatched(const nnz_model *m, const char *where, const char *key,
                           const char *glob, cJSON *report)
{
    for (size_t i = 0; i < m->ntensors; i++)
        if (fnmatch(glob, m->tensors[i].name, 0) == 0)
            return;
    nnz_report_warn(report, "%s%s%s=%s matches no tensor of the model ('nnzip info MODEL' "
                    "lists them)", where, *where ? ": " : "", key, glob);
}

static void check_globs(const nnz_pipeline *p, const nnz_model *m, cJSON *report)
{
    for (size_t i = 0; p->skip && p->skip[i]; i++)
        warn_unmatched(m, "", "skip", p->skip[i], report);
    for (size_t s = 0; s < p->n; s++) {
        const nnz_stage *st = &p->stages[s];
        for (size_t i = 0; st->only && st->only[i]; i++)
            warn_unmatched(m, st->pass->name, "only", st->only[i], report);
        for (size_t i = 0; st->skip && st->skip[i]; i++)
            warn_unmatched(m, st->pass->name, "skip", st->skip[i], report);
        for (size_t k = 0; k < st->nov; k++)
            warn_unmatched(m, st->pass->name, "layers", st->ov[k].glob, report);
    }
}

int nnz_pipeline_prepare(nnz_pipeline *p, nnz_model *m, cJSON *report, nnz_error *e)
{
    cJSON_AddArrayToObject(report, "warnings");
    check_globs(p, m, report);
    /* model-wide steps, in order; a stage sees the graph its predecessors left */
    for (size_t s = 0; s < p->n; s++) {
        nnz_stage *st = &p->stages[s];
        st->calib = p->calib;
        if (select_tensors(p, s, m, e) != 0)
            return -1;
        int rc = st->pass->prepare ? st->pass->prepare(m, st, report, e) : 0;
        if (rc != 0)
            return nnz_wrap(e, "%s: ", st->pass->name);
    }
    /* the tensors as they are now, for the per-tensor runs */
    for (size_t s = 0; s < p->n; s++)
        if (select_tensors(p, s, m, e) != 0)
            return -1;
    if (check_codes(p, m, report, e) != 0)
        return -1;
    cJSON *tensors = cJSON_AddArrayToObject(report, "tensors");
    free(p->tensor_reports);
    p->ntensor_reports = 0;
    if (!(p->tensor_reports = nnz_calloc(m->ntensors ? m->ntensors : 1, sizeof(cJSON *), e)))
        return -1;
    for (size_t i = 0; i < m->ntensors; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", m->tensors[i].name);
        cJSON_AddItemToArray(tensors, o);
        p->tensor_reports[i] = o;
    }
    p->ntensor_reports = m->ntensors;
    return 0;
}

cJSON *nnz_pipeline_tensor_report(const nnz_pipeline *p, size_t i)
{
    return i < p->ntensor_reports ? p->tensor_reports[i] : NULL;
}

int nnz_pipeline_run_tensor(nnz_pipeline *p, nnz_model *m, size_t i, cJSON *report,
                            nnz_state **state, nnz_error *e)
{
    nnz_tensor *t = &m->tensors[i];
    cJSON *rep = nnz_pipeline_tensor_report(p, i);
    if (!rep) /* a tensor prepare did not list: look it up */
        rep = cJSON_GetArrayItem(cJSON_GetObjectItem(report, "tensors"), (int)i);
    *state = NULL;
    for (size_t s = 0; s < p->n; s++) {
        nnz_stage *st = &p->stages[s];
        if (!st->selected || !st->selected[i] || !st->pass->run)
            continue;
        const void *opts = nnz_stage_opts_for(st, t);
        if (!opts)
            continue; /* a per-layer override turned the stage off here */
        if (!*state && !(*state = nnz_state_new(m, t, e)))
            return -1; /* the writer names the tensor */
        int rc = st->pass->run(m, t, *state, opts, rep, e);
#ifdef NNZ_CHECK_STATE
        if (rc == 0)
            rc = nnz_state_check(*state, e);
#endif
        if (rc != 0) {
            nnz_state_free(*state);
            *state = NULL;
            return nnz_wrap(e, "%s: ", st->pass->name); /* the writer names the tensor */
        }
    }
    return 0;
}

/* ---- option helpers -------------------------------------------------------------- */

int nnz_opt_double(const char *pass, const nnz_kv *kv, double lo, double hi, double *out,
                   nnz_error *e)
{
    char *end;
    errno = 0;
    double v = kv->value ? strtod(kv->value, &end) : NAN;
    if (!kv->value || errno || end == kv->value || *end || !(v >= lo && v <= hi))
        return nnz_fail(e, NNZ_EXIT_USAGE, "%s: %s=%s: expected a number in [%g, %g]", pass,
                        kv->key, kv->value ? kv->value : "(missing)", lo, hi);
    *out = v;
    return 0;
}

int nnz_opt_int(const char *pass, const nnz_kv *kv, long lo, long hi, long *out, nnz_error *e)
{
    char *end;
    errno = 0;
    long v = kv->value ? strtol(kv->value, &end, 10) : 0;
    if (!kv->value || errno || end == kv->value || *end || v < lo || v > hi)
        return nnz_fail(e, NNZ_EXIT_USAGE, "%s: %s=%s: expected an integer in %ld..%ld", pass,
                        kv->key, kv->value ? kv->value : "(missing)", lo, hi);
    *out = v;
    return 0;
}

int nnz_opt_choice(const char *pass, const nnz_kv *kv, const char *choices, int *out,
                   nnz_error *e)
{
    const char *c = choices;
    for (int i = 0; kv->value && *c; i++) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        if (strlen(kv->value) == len && strncmp(kv->value, c, len) == 0) {
            *out = i;
            return 0;
        }
        if (!bar)
            break;
        c = bar + 1;
    }
    return nnz_fail(e, NNZ_EXIT_USAGE, "%s: %s=%s: expected one of %s", pass, kv->key,
                    kv->value ? kv->value : "(missing)", choices);
}

int nnz_pipeline_rewrites_graph(const nnz_pipeline *p)
{
    for (size_t k = 0; k < p->n; k++) {
        const nnz_stage *st = &p->stages[k];
        int (*with)(const void *) = st->pass->rewrites_graph_with;
        if (!st->pass->rewrites_graph)
            continue;
        if (!with || with(st->opts))
            return 1;
        for (size_t o = 0; o < st->nov; o++) /* a per-layer override may turn it on */
            if (st->ov[o].opts && with(st->ov[o].opts))
                return 1;
    }
    return 0;
}

/* Its name: the text up to ':' of one stage (trimmed, modifiable). */
static int stage_rewrite(void *ctx, char *part, nnz_error *e)
{
    (void)e;
    nnz_rewrite *r = ctx;
    char *colon = strchr(part, ':');
    if (colon)
        *colon = '\0';
    const nnz_pass *ps = nnz_pass_find(nnz_trim(part));
    if (ps && ps->rewrites_graph > *r) /* replacing weights outranks resizing them */
        *r = ps->rewrites_graph;
    return 0;
}

nnz_rewrite nnz_pipeline_text_rewrite(const char *text)
{
    nnz_rewrite r = NNZ_REWRITE_NONE;
    nnz_error e = { 0 };
    nnz_each_stage(text ? text : "", stage_rewrite, &r, &e);
    return r;
}

int nnz_opt_unknown(const nnz_pass *pass, const nnz_kv *kv, nnz_error *e)
{
    /* the keys, from the options text ("bits=2..16, scheme=sym|asym,
     * kmeans"): a word right before '=', or a word that is a whole item */
    char keys[1024];
    const char *cands[64] = { "only", "skip", "min-elements" };
    size_t n = 3;
    snprintf(keys, sizeof keys, "%s", pass->options);
    char *p = keys;
    while (*p && n < 64) {
        if (!(*p >= 'a' && *p <= 'z') || (p > keys && (isalnum((unsigned char)p[-1]) ||
                                                         p[-1] == '-' || p[-1] == '='))) {
            p++;
            continue;
        }
        char *start = p;
        while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-')
            p++;
        int item = (start == keys || start[-1] == ' ') && (*p == ',' || *p == '\0');
        if (*p == '=' || item) {
            int more = *p != '\0';
            *p = '\0';
            cands[n++] = start;
            p += more;
        }
    }
    const char *near = nnz_suggest(kv->key, cands, n);
    char hint[96] = "";
    if (near)
        snprintf(hint, sizeof hint, "; did you mean '%s'?", near);
    return nnz_fail(e, NNZ_EXIT_USAGE, "%s: unknown option '%s'%s%s (valid: %s; and for every "
                    "pass only=GLOB, skip=GLOB, min-elements=N)", pass->name, kv->key,
                    kv->value ? "" : " (a flag)", hint, pass->options);
}

void nnz_report_warn(cJSON *rep, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    cJSON *w = cJSON_GetObjectItem(rep, "warnings");
    if (!w)
        w = cJSON_AddArrayToObject(rep, "warnings");
    cJSON_AddItemToArray(w, cJSON_CreateString(buf));
}
