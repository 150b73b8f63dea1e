/* scale_grid.c - the log grid of compact per-channel scales. */
#include "scale_grid.h"

#include <math.h>

#include "nnz.h"

static int usable(float s) { return s > 0 && isfinite(s); }

/* The frame's base: the smallest scale's binade, so every code is
 * 16 x (binade - exp) + j >= 0 and no channel is ever below it. */
static int frame_exp(const float *scale, size_t n)
{
    float m = scale[0];
    for (size_t c = 1; c < n; c++)
        m = scale[c] < m ? scale[c] : m;
    return ilogbf(m);
}

uint32_t nnz_scale_grid_code(float s, int exp)
{
    int b = ilogbf(s) - exp; /* binade above the frame's base */
    if (b < 0)
        return 0;
    uint32_t code = (uint32_t)b * 16;
    while (nnz_log_scale(code, exp) < s) /* at most 16 steps: 2^(b+1) >= s */
        code++;
    return code;
}

/* Every scale usable, and the frame's codes inside float32's normal range:
 * exp >= -126 and the largest rounded up (to 2^(binade+1) at most) <= 2^127. */
static int frame_ok(const float *scale, size_t n, int *exp)
{
    if (n == 0)
        return 0;
    float top = 0;
    for (size_t c = 0; c < n; c++) {
        if (!usable(scale[c]))
            return 0;
        top = scale[c] > top ? scale[c] : top;
    }
    *exp = frame_exp(scale, n);
    return *exp >= NNZ_LOG_SCALE_EXP_MIN && ilogbf(top) + 1 <= NNZ_LOG_SCALE_TOP;
}

void nnz_scale_grid_snap(float *scale, size_t n)
{
    int exp;
    if (n < 2 || !frame_ok(scale, n, &exp))
        return;
    for (size_t c = 0; c < n; c++)
        scale[c] = nnz_log_scale(nnz_scale_grid_code(scale[c], exp), exp);
}

int nnz_scale_grid_fits(const float *scale, size_t n, int *exp)
{
    int x;
    if (!frame_ok(scale, n, &x))
        return 0;
    for (size_t c = 0; c < n; c++)
        if (nnz_log_scale(nnz_scale_grid_code(scale[c], x), x) != scale[c])
            return 0;
    *exp = x;
    return 1;
}
