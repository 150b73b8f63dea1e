/* scale_grid.c - the log grid of compact per-channel scales. */
#include "scale_grid.h"

#include <math.h>

#include "nnz.h"

/* The window's base: the largest scale's binade less 15, so it takes a
 * code of 240..255 and the window reaches 2^15 times below it. */
static int window_exp(const float *scale, size_t n, float *max)
{
    float m = 0;
    for (size_t c = 0; c < n; c++)
        m = scale[c] > m ? scale[c] : m;
    *max = m;
    return ilogbf(m) - 15;
}

static int usable(float s) { return s > 0 && isfinite(s); }

uint32_t nnz_scale_grid_code(float s, int exp)
{
    int b = ilogbf(s) - exp; /* binade inside the window */
    if (b < 0)
        return 0;
    if (b > 15)
        return 256;
    uint32_t code = (uint32_t)b * 16;
    while (code < 256 && nnz_log_scale(code, exp) < s)
        code++;
    return code;
}

void nnz_scale_grid_snap(float *scale, size_t n)
{
    if (n < 2)
        return;
    for (size_t c = 0; c < n; c++)
        if (!usable(scale[c]))
            return;
    float max;
    /* one binade of headroom: the largest may round up into the next */
    int exp = window_exp(scale, n, &max) + 1;
    if (exp < NNZ_LOG_SCALE_EXP_MIN || exp > NNZ_LOG_SCALE_EXP_MAX)
        return;
    /* a channel below the window would get a coarser step than it asked
     * for: then the tensor keeps its float32 steps (value map 3) */
    for (size_t c = 0; c < n; c++)
        if (ilogbf(scale[c]) < exp)
            return;
    for (size_t c = 0; c < n; c++)
        scale[c] = nnz_log_scale(nnz_scale_grid_code(scale[c], exp), exp);
}

int nnz_scale_grid_fits(const float *scale, size_t n, int *exp)
{
    if (n == 0)
        return 0;
    for (size_t c = 0; c < n; c++)
        if (!usable(scale[c]))
            return 0;
    float max;
    int x = window_exp(scale, n, &max);
    if (x < NNZ_LOG_SCALE_EXP_MIN || x > NNZ_LOG_SCALE_EXP_MAX)
        return 0;
    for (size_t c = 0; c < n; c++) {
        uint32_t k = nnz_scale_grid_code(scale[c], x);
        if (k > 255 || nnz_log_scale(k, x) != scale[c])
            return 0;
    }
    *exp = x;
    return 1;
}
