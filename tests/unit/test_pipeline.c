/* test_pipeline.c - what a pass declares (pass.h) decides where it may run:
 * the generated order rules equal the documented table, a pass added with
 * a senseless or missing declaration is refused, and (in the ASan build,
 * NNZ_CHECK_STATE) a pass that changes values but not the codes they come
 * from fails the state check after its stage.
 *
 * The toy passes here are compiled into this test binary only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "model.h"
#include "pass.h"
#include "state.h"
#include "util_blob.h"

/* ---- toy passes ------------------------------------------------------------- */

static int toy_parse(const nnz_kv *kv, size_t n, void **opts, nnz_error *e)
{
    static int none; /* options the pipeline can hold (NULL means "off here") */
    (void)kv;
    (void)n;
    (void)e;
    *opts = &none;
    return 0;
}

/* Halves every value and leaves the codes (and buckets) as they were: the
 * decoder would not produce these values. */
static int halve_values(nnz_model *m, nnz_tensor *t, nnz_state *st, const void *opts,
                        cJSON *rep, nnz_error *e)
{
    (void)m;
    (void)t;
    (void)opts;
    (void)rep;
    (void)e;
    for (size_t i = 0; i < st->n; i++)
        st->values[i] *= 0.5f;
    return 0;
}

/* Halves the stored values and reconstructs: what a well-behaved pass does. */
static int halve_stored(nnz_model *m, nnz_tensor *t, nnz_state *st, const void *opts,
                        cJSON *rep, nnz_error *e)
{
    (void)m;
    (void)t;
    (void)opts;
    (void)rep;
    (void)e;
    if (st->codes) /* an affine map: halve its scales */
        for (size_t c = 0; c < st->nchan; c++)
            st->scale[c] *= 0.5f;
    else
        for (size_t i = 0; i < nnz_state_nstored(st); i++)
            nnz_state_stored(st)[i] *= 0.5f;
    nnz_state_reconstruct(st);
    return 0;
}

/* No phase at all: what a pass added without thinking of the order is. */
static const nnz_pass toy_unplaced = {
    .name = "toy", .help = "test", .options = "none", .parse = toy_parse, .run = halve_values,
};

/* Works on floats, in place: belongs before anything that makes codes. */
static const nnz_pass toy_floats = {
    .name = "toy", .help = "test", .options = "none", .parse = toy_parse,
    .phase = NNZ_PHASE_REFINE, .consumes = NNZ_DATA_FLOATS, .produces = NNZ_DATA_FLOATS,
    .run = halve_values,
};

/* Says it works on codes, which lets it after a quantizer, and then
 * changes the values only: the experiment of issue 21. */
static const nnz_pass toy_liar = {
    .name = "toy", .help = "test", .options = "none", .parse = toy_parse,
    .phase = NNZ_PHASE_ENTROPY, .consumes = NNZ_DATA_CODES, .produces = NNZ_DATA_CODES,
    .run = halve_values,
};

/* The same place, doing it right. */
static const nnz_pass toy_honest = {
    .name = "toy", .help = "test", .options = "none", .parse = toy_parse,
    .phase = NNZ_PHASE_ENTROPY, .consumes = NNZ_DATA_CODES, .produces = NNZ_DATA_CODES,
    .run = halve_stored,
};

/* Declares a phase that turns floats into codes but says it keeps floats. */
static const nnz_pass toy_inconsistent = {
    .name = "toy", .help = "test", .options = "none", .parse = toy_parse,
    .phase = NNZ_PHASE_CODE, .consumes = NNZ_DATA_FLOATS, .produces = NNZ_DATA_FLOATS,
    .run = halve_values,
};

/* `text` (real passes), then the toy, then `after`; returns what the order
 * check says (0 accepted), with e filled. */
static int toy_pipeline(const char *text, const nnz_pass *toy, const char *after,
                        nnz_pipeline *p, nnz_error *e)
{
    memset(e, 0, sizeof *e);
    assert_int_equal(nnz_pipeline_parse(text, p, e), 0);
    assert_int_equal(nnz_pipeline_add_pass(p, toy, NULL, 0, e), 0);
    if (after) {
        nnz_pipeline q;
        assert_int_equal(nnz_pipeline_parse(after, &q, e), 0);
        assert_int_equal(q.n, 1);
        assert_int_equal(nnz_pipeline_add_stage(p, q.stages[0].pass->name, q.stages[0].kv,
                                                q.stages[0].nkv, e), 0);
        nnz_pipeline_free(&q);
    }
    return nnz_pipeline_check(p, "test", e);
}

/* ---- the registry ----------------------------------------------------------- */

static void every_registered_pass_declares_a_consistent_place(void **state)
{
    (void)state;
    for (size_t k = 0; nnz_passes[k]; k++) {
        const nnz_pass *ps = nnz_passes[k];
        nnz_error e = { 0 };
        if (nnz_pass_check(ps, &e) != 0)
            fail_msg("%s", e.msg);
        for (size_t x = 0; ps->excludes && ps->excludes[x]; x++)
            if (!nnz_pass_find(ps->excludes[x]))
                fail_msg("%s excludes '%s', which is no registered pass", ps->name,
                         ps->excludes[x]);
        if (ps->report_text && !ps->report_sections)
            fail_msg("%s summarises a report section it does not name", ps->name);
        assert_ptr_equal(nnz_pass_find(ps->name), ps);
    }
}

/* The table docs/pipelines.md documented before the rules were generated:
 * the refused (first, then) pairs; every other pair must be accepted. */
static void the_generated_order_rules_are_the_documented_table(void **state)
{
    (void)state;
    static const char *const passes[][2] = {
        { "fold", "fold" }, { "decompose", "decompose" }, { "prune", "prune:sparsity=0.5" },
        { "hashnet", "hashnet:ratio=8" }, { "quantize", "quantize:bits=8" },
        { "huffman", "huffman" },
    };
    static const char *const refused[][2] = {
        { "decompose", "fold" }, { "prune", "fold" }, { "hashnet", "fold" },
        { "quantize", "fold" }, { "huffman", "fold" }, { "prune", "decompose" },
        { "hashnet", "decompose" }, { "quantize", "decompose" }, { "prune", "hashnet" },
        { "hashnet", "prune" }, { "quantize", "prune" }, { "quantize", "hashnet" },
        { "huffman", "decompose" }, { "huffman", "prune" }, { "huffman", "hashnet" },
        { "huffman", "quantize" },
    };
    size_t np = sizeof passes / sizeof passes[0], checked = 0;
    for (size_t a = 0; a < np; a++)
        for (size_t b = 0; b < np; b++) {
            if (a == b || !nnz_pass_find(passes[a][0]) || !nnz_pass_find(passes[b][0]))
                continue;
            int refuse = 0;
            for (size_t r = 0; r < sizeof refused / sizeof refused[0]; r++)
                refuse |= strcmp(refused[r][0], passes[a][0]) == 0 &&
                          strcmp(refused[r][1], passes[b][0]) == 0;
            char text[128], needle[96];
            snprintf(text, sizeof text, "%s | %s", passes[a][1], passes[b][1]);
            snprintf(needle, sizeof needle, "%s after %s is refused: ", passes[b][0],
                     passes[a][0]);
            nnz_pipeline p;
            nnz_error e = { 0 };
            int rc = nnz_pipeline_parse(text, &p, &e);
            if (refuse && (rc == 0 || e.code != NNZ_EXIT_USAGE || !strstr(e.msg, needle)))
                fail_msg("'%s' should be refused ('%s'): rc %d '%s'", text, needle, rc, e.msg);
            if (!refuse && rc != 0)
                fail_msg("'%s' should be accepted: '%s'", text, e.msg);
            if (rc == 0)
                nnz_pipeline_free(&p);
            checked++;
        }
    assert_true(checked > 0);
    /* and each pass once */
    nnz_pipeline p;
    nnz_error e = { 0 };
    assert_int_equal(nnz_pipeline_parse("quantize | quantize:bits=4", &p, &e), -1);
    assert_non_null(strstr(e.msg, "quantize after quantize is refused: each pass may appear once"));
}

/* ---- toy passes: a new pass has to say where it goes ---------------------------- */

static void a_pass_without_a_phase_is_refused_in_any_position(void **state)
{
    (void)state;
    nnz_pipeline p;
    nnz_error e;
    assert_int_equal(toy_pipeline("", &toy_unplaced, NULL, &p, &e), -1);
    assert_int_equal(e.code, NNZ_EXIT_INTERNAL);
    assert_non_null(strstr(e.msg, "pass 'toy' declares no phase"));
    nnz_pipeline_free(&p);
    assert_int_equal(toy_pipeline("quantize:bits=8", &toy_unplaced, NULL, &p, &e), -1);
    assert_non_null(strstr(e.msg, "declares no phase"));
    nnz_pipeline_free(&p);
    assert_int_equal(toy_pipeline("", &toy_inconsistent, NULL, &p, &e), -1);
    assert_int_equal(e.code, NNZ_EXIT_INTERNAL);
    assert_non_null(strstr(e.msg, "pass 'toy': its phase"));
    nnz_pipeline_free(&p);
}

static void a_float_pass_is_refused_after_quantize_and_accepted_before(void **state)
{
    (void)state;
    nnz_pipeline p;
    nnz_error e;
    assert_int_equal(toy_pipeline("quantize:bits=8", &toy_floats, NULL, &p, &e), -1);
    assert_int_equal(e.code, NNZ_EXIT_USAGE);
    assert_non_null(strstr(e.msg, "toy after quantize is refused: toy works on float weights; "
                                  "toy first, then quantize"));
    nnz_pipeline_free(&p);
    assert_int_equal(toy_pipeline("", &toy_floats, "quantize:bits=8", &p, &e), 0);
    nnz_pipeline_free(&p);
    /* nothing follows the lossless last step */
    assert_int_equal(toy_pipeline("quantize:bits=8 | huffman", &toy_honest, NULL, &p, &e), -1);
    assert_non_null(strstr(e.msg, "toy after huffman is refused: huffman is the last"));
    nnz_pipeline_free(&p);
}

/* ---- the state rule: values are the codes' reconstruction --------------------------- */

/* Run `quantize:bits=8 | toy` on a 32x32 weight; returns the run's result. */
static int run_after_quantize(const nnz_pass *toy, nnz_error *e)
{
    size_t len;
    uint8_t *bytes = tu_model_bytes(1, 32, &len);
    nnz_model *m = tu_load(bytes, len);
    nnz_pipeline p;
    assert_int_equal(toy_pipeline("quantize:bits=8", toy, NULL, &p, e), 0);
    cJSON *report = cJSON_CreateObject();
    if (nnz_pipeline_prepare(&p, m, report, e) != 0)
        fail_msg("prepare: %s", e->msg);
    assert_true(p.stages[1].selected[0]); /* the toy follows the quantizer's codes */
    nnz_state *st = NULL;
    int rc = nnz_pipeline_run_tensor(&p, m, 0, report, &st, e);
    nnz_state_free(st);
    cJSON_Delete(report);
    nnz_pipeline_free(&p);
    nnz_model_free(m);
    free(bytes);
    return rc;
}

static void a_pass_that_changes_values_but_not_codes_fails_the_state_check(void **state)
{
    (void)state;
    nnz_error e;
    /* a change made through the codes' map is fine in every build */
    if (run_after_quantize(&toy_honest, &e) != 0)
        fail_msg("a pass that keeps the rule failed: %s", e.msg);
#ifdef NNZ_CHECK_STATE
    assert_int_equal(run_after_quantize(&toy_liar, &e), -1);
    assert_int_equal(e.code, NNZ_EXIT_INTERNAL);
    if (!strstr(e.msg, "toy: element 0 is ") ||
        !strstr(e.msg, "values must be the codes' reconstruction"))
        fail_msg("unexpected message '%s'", e.msg);
#else
    (void)toy_liar; /* the check is compiled into the ASan build only */
#endif
}

static void the_state_check_compares_every_element_with_its_decoding(void **state)
{
    (void)state;
    size_t len;
    uint8_t *bytes = tu_model_bytes(1, 8, &len);
    nnz_model *m = tu_load(bytes, len);
    nnz_error e = { 0 };
    nnz_state *st = nnz_state_new(m, &m->tensors[0], &e);
    assert_non_null(st);
    assert_int_equal(nnz_state_check(st, &e), 0); /* floats only: nothing derived */
    /* an affine map of one channel, codes 0..n-1 */
    st->kind = NNZ_VAL_AFFINE;
    st->bits = 8;
    st->nchan = 1;
    st->inner = st->n;
    st->codes = calloc(st->n, sizeof *st->codes);
    st->scale = calloc(1, sizeof *st->scale);
    st->zero_point = calloc(1, sizeof *st->zero_point);
    st->scale[0] = 0.25f;
    for (size_t i = 0; i < st->n; i++)
        st->codes[i] = (uint32_t)i;
    nnz_state_reconstruct(st);
    assert_int_equal(nnz_state_check(st, &e), 0);
    st->values[st->n - 1] = -st->values[st->n - 1]; /* the last element only */
    assert_int_equal(nnz_state_check(st, &e), -1);
    char want[64];
    snprintf(want, sizeof want, "element %zu is ", st->n - 1);
    assert_non_null(strstr(e.msg, want));
    nnz_state_free(st);
    nnz_model_free(m);
    free(bytes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_registered_pass_declares_a_consistent_place),
        cmocka_unit_test(the_generated_order_rules_are_the_documented_table),
        cmocka_unit_test(a_pass_without_a_phase_is_refused_in_any_position),
        cmocka_unit_test(a_float_pass_is_refused_after_quantize_and_accepted_before),
        cmocka_unit_test(a_pass_that_changes_values_but_not_codes_fails_the_state_check),
        cmocka_unit_test(the_state_check_compares_every_element_with_its_decoding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
