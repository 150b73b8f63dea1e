/* fuzz_infer.c - libFuzzer harness for the interpreter (src/infer): bytes ->
 * model -> plan -> one run on generated inputs, under a small memory and
 * loop budget, so a hostile graph must fail cleanly (cycles, bad shapes,
 * huge dims, endless loops, unsupported ops) rather than crash or hang.
 * Seeds: the small fixtures and the interpreter's bad-graph models
 * (scripts/fuzz-seeds.sh), and tests/fuzz/corpus/infer. */
#include <stdlib.h>
#include <string.h>

#include "infer.h"
#include "infer_feed.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nnz_model *m = NULL;
    nnz_error e = { 0 };
    if (nnz_model_load_bytes(data, size, "fuzz.onnx", NULL, &m, &e) != 0)
        return 0;
    nnz_infer_opts o = { .threads = 1, .max_memory = 16u << 20, .max_loop = 1000 };
    nnz_infer *inf = NULL;
    if (nnz_infer_open(m, &o, &inf, &e) == 0) {
        nnz_feed f = { 0 };
        if (nnz_feed_generate(inf, NULL, NULL, 1, 0, &f, &e) == 0) {
            if (nnz_feed_apply(inf, &f, &e) == 0 && nnz_infer_run(inf, &e) == 0)
                for (size_t i = 0; i < nnz_infer_noutputs(inf); i++) {
                    const nnz_itensor *t = nnz_infer_output(inf, i);
                    if (t && t->count)
                        (void)nnz_it_get(t, t->count - 1);
                }
            nnz_feed_free(&f);
        }
        nnz_infer_free(inf);
    }
    nnz_model_free(m);
    return 0;
}
