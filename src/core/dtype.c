/* dtype.c - facts about ONNX element types. */
#include "model.h"

#include <stdio.h>

static const struct {
    const char *name;
    size_t size; /* 0: not a fixed-size type this tool stores */
} types[] = {
    [NNZ_DT_UNDEFINED] = { "undefined", 0 },
    [NNZ_DT_FLOAT] = { "float", 4 },
    [NNZ_DT_UINT8] = { "uint8", 1 },
    [NNZ_DT_INT8] = { "int8", 1 },
    [NNZ_DT_UINT16] = { "uint16", 2 },
    [NNZ_DT_INT16] = { "int16", 2 },
    [NNZ_DT_INT32] = { "int32", 4 },
    [NNZ_DT_INT64] = { "int64", 8 },
    [NNZ_DT_STRING] = { "string", 0 },
    [NNZ_DT_BOOL] = { "bool", 1 },
    [NNZ_DT_FLOAT16] = { "float16", 2 },
    [NNZ_DT_DOUBLE] = { "double", 8 },
    [NNZ_DT_UINT32] = { "uint32", 4 },
    [NNZ_DT_UINT64] = { "uint64", 8 },
    [NNZ_DT_COMPLEX64] = { "complex64", 8 },
    [NNZ_DT_COMPLEX128] = { "complex128", 16 },
    [NNZ_DT_BFLOAT16] = { "bfloat16", 2 },
    [17] = { "float8e4m3fn", 1 },
    [18] = { "float8e4m3fnuz", 1 },
    [19] = { "float8e5m2", 1 },
    [20] = { "float8e5m2fnuz", 1 },
    [21] = { "uint4", 0 }, /* two per byte: kept as the model stores it */
    [22] = { "int4", 0 },
};

const char *nnz_dtype_name(int dtype)
{
    static _Thread_local char buf[24];
    if (dtype >= 0 && (size_t)dtype < sizeof types / sizeof types[0] && types[dtype].name)
        return types[dtype].name;
    snprintf(buf, sizeof buf, "type %d", dtype);
    return buf;
}

size_t nnz_dtype_size(int dtype)
{
    if (dtype >= 0 && (size_t)dtype < sizeof types / sizeof types[0])
        return types[dtype].size;
    return 0;
}

int nnz_dtype_is_float(int dtype)
{
    return dtype == NNZ_DT_FLOAT || dtype == NNZ_DT_FLOAT16 || dtype == NNZ_DT_BFLOAT16;
}
