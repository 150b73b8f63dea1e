/* infer_registry.c - the one registry of ops: every family's table, each
 * row an op name, its kernel and how many inputs it takes. A new op is a
 * row in its family's table (op_*.c). */
#include <string.h>

#include "ops.h"

static const nni_op *const families[] = {
    nni_ops_elementwise, nni_ops_shape, nni_ops_conv, nni_ops_reduce,
    nni_ops_rnn, nni_ops_control, nni_ops_quant, NULL,
};

const nni_op *nni_op_find(const char *name)
{
    for (size_t f = 0; families[f]; f++)
        for (const nni_op *op = families[f]; op->name; op++)
            if (strcmp(op->name, name) == 0)
                return op;
    return NULL;
}
