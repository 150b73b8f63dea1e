/* op_shape.c - ops that move data without arithmetic: shapes, reshapes,
 * transposes, slices, gathers, padding, constants. */
#include <math.h>
#include <string.h>

#include "ops.h"

/* ---- copying with strides ---------------------------------------------------- */

/* dst (already shaped, rank nd) gets src read at element offset
 * base + sum(idx[i] * st[i]). */
static void strided_copy(const nnz_itensor *src, nnz_itensor *dst, const int64_t *st, int64_t base)
{
    size_t es = nnz_it_esize(dst->dtype);
    int nd = dst->ndims;
    if (!dst->count)
        return;
    if (nd == 0) {
        memcpy(dst->data, (const uint8_t *)src->data + base * (int64_t)es, es);
        return;
    }
    int64_t idx[NNZ_MAX_DIMS] = { 0 };
    int64_t inner = dst->dims[nd - 1], is = st[nd - 1];
    size_t rows = dst->count / (size_t)inner, o = 0;
    int64_t off = base;
    const uint8_t *s = src->data;
    uint8_t *d = dst->data;
    for (size_t r = 0; r < rows; r++) {
        if (es == 4) {
            const float *sf = (const float *)s + off;
            float *df = (float *)d + o;
            if (is == 1)
                memcpy(df, sf, (size_t)inner * 4);
            else
                for (int64_t i = 0; i < inner; i++)
                    df[i] = sf[i * is];
        } else
            for (int64_t i = 0; i < inner; i++)
                memcpy(d + (o + (size_t)i) * es, s + (off + i * is) * (int64_t)es, es);
        o += (size_t)inner;
        for (int i = nd - 2; i >= 0; i--) {
            off += st[i];
            if (++idx[i] < dst->dims[i])
                break;
            off -= st[i] * dst->dims[i];
            idx[i] = 0;
        }
    }
}

static void contiguous_strides(int nd, const int64_t *dims, int64_t *st)
{
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        st[i] = s;
        s *= dims[i];
    }
}

int nni_transpose(const nnz_itensor *x, nnz_itensor *y, const int *perm)
{
    int64_t st[NNZ_MAX_DIMS], pst[NNZ_MAX_DIMS];
    contiguous_strides(x->ndims, x->dims, st);
    for (int i = 0; i < x->ndims; i++)
        pst[i] = st[perm[i]];
    strided_copy(x, y, pst, 0);
    return 0;
}

void nni_bcast_copy(const nnz_itensor *src, nnz_itensor *dst)
{
    int64_t st[NNZ_MAX_DIMS];
    nni_bcast_strides(src, dst->ndims, dst->dims, st);
    strided_copy(src, dst, st, 0);
}

/* ---- shape ops ----------------------------------------------------------------- */

static int op_shape(nni_call *c)
{
    if (nni_need(c, 0) != 0)
        return -1;
    const nnz_itensor *x = c->in[0];
    int64_t r = x->ndims, start = nni_attr_i(c, "start", 0), end = nni_attr_i(c, "end", r);
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < 0 ? 0 : end > r ? r : end;
    int64_t n = end > start ? end - start : 0;
    if (nni_out(c, 0, NNZ_DT_INT64, 1, &n) != 0)
        return -1;
    for (int64_t i = 0; i < n; i++)
        ((int64_t *)c->out[0]->data)[i] = x->dims[start + i];
    return 0;
}

static int op_size(nni_call *c)
{
    if (nni_need(c, 0) != 0 || nni_out(c, 0, NNZ_DT_INT64, 0, NULL) != 0)
        return -1;
    *(int64_t *)c->out[0]->data = (int64_t)c->in[0]->count;
    return 0;
}

static int op_reshape(nni_call *c)
{
    if (nni_need(c, 0) != 0)
        return -1;
    const nnz_itensor *x = c->in[0];
    int64_t shape[NNZ_MAX_DIMS];
    size_t n;
    if (c->opset < 5) {
        const int64_t *s = nni_attr_ints(c, "shape", &n);
        if (n > NNZ_MAX_DIMS)
            return nni_fail(c, "shape has %zu dims", n);
        for (size_t i = 0; i < n; i++)
            shape[i] = s[i];
    } else if (nni_need(c, 1) != 0 || nni_read_ints(c, c->in[1], shape, NNZ_MAX_DIMS, &n) != 0)
        return -1;
    int allowzero = (int)nni_attr_i(c, "allowzero", 0);
    int infer = -1;
    size_t known = 1;
    for (size_t i = 0; i < n; i++) {
        if (shape[i] == 0 && !allowzero) {
            if (i >= (size_t)x->ndims)
                return nni_fail(c, "shape[%zu] is 0 (copy) but the input has %d dims", i, x->ndims);
            shape[i] = x->dims[i];
        }
        if (shape[i] == -1) {
            if (infer >= 0)
                return nni_fail(c, "shape has more than one -1");
            infer = (int)i;
            continue;
        }
        if (shape[i] < 0)
            return nni_fail(c, "shape[%zu] is %lld", i, (long long)shape[i]);
        if (nnz_mul_size(known, (size_t)shape[i], &known) != 0)
            return nni_fail(c, "the product of the shape overflows");
    }
    if (infer >= 0) {
        if (known == 0 || x->count % known)
            return nni_fail(c, "cannot infer the -1 dim: %zu elements, the other dims make %zu",
                            x->count, known);
        shape[infer] = (int64_t)(x->count / known);
        known *= (size_t)shape[infer];
    }
    if (known != x->count)
        return nni_fail(c, "cannot reshape %zu elements into %zu", x->count, known);
    return nni_out_copy(c, 0, x, (int)n, shape);
}

static int op_flatten(nni_call *c)
{
    if (nni_need(c, 0) != 0)
        return -1;
    const nnz_itensor *x = c->in[0];
    int64_t axis = nni_attr_i(c, "axis", 1);
    if (axis < 0)
        axis += x->ndims;
    if (axis < 0 || axis > x->ndims)
        return nni_fail(c, "axis %lld is out of range for rank %d", (long long)axis, x->ndims);
    int64_t d[2] = { 1, 1 };
    for (int i = 0; i < x->ndims; i++)
        d[i < axis ? 0 : 1] *= x->dims[i];
    return nni_out_copy(c, 0, x, 2, d);
}

/* axes from the attribute (older opsets) or input 1 */
static int get_axes(nni_call *c, int from_input, int64_t *axes, size_t *n)
{
    *n = 0;
    if (!from_input) {
        const int64_t *a = nni_attr_ints(c, "axes", n);
        if (*n > NNZ_MAX_DIMS)
            return nni_fail(c, "%zu axes", *n);
        for (size_t i = 0; i < *n; i++)
            axes[i] = a[i];
        return 0;
    }
    if (c->nin > 1 && c->in[1])
        return nni_read_ints(c, c->in[1], axes, NNZ_MAX_DIMS, n);
    return 0;
}

static int op_squeeze(nni_call *c)
{
    if (nni_need(c, 0) != 0)
        return -1;
    const nnz_itensor *x = c->in[0];
    int64_t axes[NNZ_MAX_DIMS];
    size_t na;
    if (get_axes(c, c->opset >= 13, axes, &na) != 0)
        return -1;
    int drop[NNZ_MAX_DIMS] = { 0 };
    for (size_t i = 0; i < na; i++) {
        int a;
        if (nni_norm_axis(c, axes[i], x->ndims, &a) != 0)
            return -1;
        if (x->dims[a] != 1)
            return nni_fail(c, "cannot squeeze axis %d of size %lld", a, (long long)x->dims[a]);
        drop[a] = 1;
    }
    int64_t d[NNZ_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < x->ndims; i++)
        if (na ? !drop[i] : x->dims[i] != 1)
            d[nd++] = x->dims[i];
    return nni_out_copy(c, 0, x, nd, d);
}

static int op_unsqueeze(nni_call *c)
{
    if (nni_need(c, 0) != 0)
        return -1;
    const nnz_itensor *x = c->in[0];
    int64_t axes[NNZ_MAX_DIMS];
    size_t na;
    if (get_axes(c, c->opset >= 13, axes, &na) != 0)
        return -1;
    int r = x->ndims + (int)na;
    if (r > NNZ_MAX_DIMS)
        return nni_fail(c, "the result would have %d dims", r);
    int ins[NNZ_MAX_DIMS] = { 0 };
    for (size_t i = 0; i < na; i++) {
        int a;
        if (nni_norm_axis(c, axes[i], r, &a) != 0)
            return -1;
        if (ins[a])
            return nni_fail(c, "axis %d is given twice", a);
        ins[a] = 1;
    }
    int64_t d[NNZ_MAX_DIMS];
    for (int i = 0, k = 0; i < r; i++)
        d[i] = ins[i] ? 1 : x->dims[k++];
    return nni_out_copy(c, 0, x, r, d);
}

static int op_transpose(nni_call *c)
{
    if (nni_need(c, 0) != 0)
        return -1;
    const nnz_itensor *x = c->in[0];
    size_t np;
    const int64_t *p = nni_attr_ints(c, "perm", &np);
    int perm[NNZ_MAX_DIMS], seen[NNZ_MAX_DIMS] = { 0 };
    if (p && np != (size_t)x->ndims)
        return nni_fail(c, "perm has %zu entries for rank %d", np, x->ndims);
    for (int i = 0; i < x->ndims; i++) {
        int64_t v = p ? p[i] : x->ndims - 1 - i;
        if (v < 0 || v >= x->ndims || seen[v])
            return nni_fail(c, "perm is not a permutation of 0..%d", x->ndims - 1);
        seen[v] = 1;
        perm[i] = (int)v;
    }
    int64_t d[NNZ_MAX_DIMS];
    for (int i = 0; i < x->ndims; i++)
        d[i] = x->dims[perm[i]];
    if (nni_out(c, 0, x->dtype, x->ndims, d) != 0)
        return -1;
    return nni_transpose(x, c->out[0], perm);
}

static int op_concat(nni_call *c)
{
    if (nni_need(c, 0) != 0)
        return -1;
    const nnz_itensor *x0 = c->in[0];
    int axis;
    if (nni_norm_axis(c, nni_attr_i(c, "axis", 0), x0->ndims, &axis) != 0)
        return -1;
    int64_t d[NNZ_MAX_DIMS];
    memcpy(d, x0->dims, sizeof d);
    d[axis] = 0;
    for (int k = 0; k < c->nin; k++) {
        if (nni_need(c, k) != 0)
            return -1;
        const nnz_itensor *x = c->in[k];
        if (x->ndims != x0->ndims || x->dtype != x0->dtype)
            return nni_fail(c, "input %d has rank %d and type %s; input 0 has %d and %s", k,
                            x->ndims, nnz_dtype_name(x->dtype), x0->ndims, nnz_dtype_name(x0->dtype));
        for (int i = 0; i < x->ndims; i++)
            if (i != axis && x->dims[i] != x0->dims[i])
                return nni_fail(c, "input %d: dim %d is %lld, input 0 has %lld", k, i,
                                (long long)x->dims[i], (long long)x0->dims[i]);
        d[axis] += x->dims[axis];
    }
    if (nni_out(c, 0, x0->dtype, x0->ndims, d) != 0)
        return -1;
    size_t es = nnz_it_esize(x0->dtype), outer = 1, inner = es;
    for (int i = 0; i < axis; i++)
        outer *= (size_t)d[i];
    for (int i = axis + 1; i < x0->ndims; i++)
        inner *= (size_t)d[i];
    uint8_t *o = c->out[0]->data;
    size_t orow = (size_t)d[axis] * inner, pos = 0;
    for (int k = 0; k < c->nin; k++) {
        size_t blk = (size_t)c->in[k]->dims[axis] * inner;
        const uint8_t *s = c->in[k]->data;
        for (size_t r = 0; r < outer; r++)
            memcpy(o + r * orow + pos, s + r * blk, blk);
        pos += blk;
    }
    return 0;
}

static int op_split(nni_call *c)
{
    if (nni_need(c, 0) != 0)
        return -1;
    const nnz_itensor *x = c->in[0];
    int axis;
    if (nni_norm_axis(c, nni_attr_i(c, "axis", 0), x->ndims, &axis) != 0)
        return -1;
    int64_t sp[NNI_MAX_IO];
    size_t ns = 0;
    if (c->opset >= 13 && c->nin > 1 && c->in[1]) {
        if (nni_read_ints(c, c->in[1], sp, NNI_MAX_IO, &ns) != 0)
            return -1;
    } else if (c->opset < 13) {
        const int64_t *s = nni_attr_ints(c, "split", &ns);
        if (ns > NNI_MAX_IO)
            return nni_fail(c, "%zu splits", ns);
        for (size_t i = 0; i < ns; i++)
            sp[i] = s[i];
    }
    int64_t total = x->dims[axis];
    if (!ns) {
        int64_t parts = nni_attr_i(c, "num_outputs", c->nout);
        if (parts < 1 || parts > NNI_MAX_IO || parts != c->nout)
            return nni_fail(c, "num_outputs %lld does not match %d outputs", (long long)parts, c->nout);
        int64_t each = (total + parts - 1) / parts;
        for (int64_t i = 0; i < parts; i++) {
            int64_t left = total - i * each;
            sp[i] = left < 0 ? 0 : left < each ? left : each;
        }
        ns = (size_t)parts;
        if (c->opset < 18 && total % parts)
            return nni_fail(c, "dim %lld does not split evenly into %lld", (long long)total,
                            (long long)parts);
    }
    if (ns != (size_t)c->nout)
        return nni_fail(c, "%zu split sizes for %d outputs", ns, c->nout);
    int64_t sum = 0;
    for (size_t i = 0; i < ns; i++) {
        if (sp[i] < 0)
            return nni_fail(c, "split size %lld is negative", (long long)sp[i]);
        sum += sp[i];
    }
    if (sum != total)
        return nni_fail(c, "split sizes add up to %lld, the axis has %lld", (long long)sum,
                        (long long)total);
    size_t es = nnz_it_esize(x->dtype), outer = 1, inner = es;
    for (int i = 0; i < axis; i++)
        outer *= (size_t)x->dims[i];
    for (int i = axis + 1; i < x->ndims; i++)
        inner *= (size_t)x->dims[i];
    size_t pos = 0, irow = (size_t)total * inner;
    c->plan_defer = 1;
    for (int k = 0; k < c->nout; k++) {
        int64_t d[NNZ_MAX_DIMS];
        memcpy(d, x->dims, sizeof d);
        d[axis] = sp[k];
        if (nni_out(c, k, x->dtype, x->ndims, d) != 0)
            return -1;
    }
    if (nni_plan_done(c))
        return -1;
    for (int k = 0; k < c->nout; k++) {
        size_t blk = (size_t)sp[k] * inner;
        for (size_t r = 0; r < outer; r++)
            memcpy((uint8_t *)c->out[k]->data + r * blk, (const uint8_t *)x->data + r * irow + pos, blk);
        pos += blk;
    }
    return 0;
}

static int op_slice(nni_call *c)
{
    if (nni_need(c, 0) != 0)
        return -1;
    const nnz_itensor *x = c->in[0];
    int r = x->ndims;
    int64_t starts[NNZ_MAX_DIMS], ends[NNZ_MAX_DIMS], axes[NNZ_MAX_DIMS], steps[NNZ_MAX_DIMS];
    size_t ns, ne, na = 0, nst = 0;
    if (c->opset < 10) {
        const int64_t *s = nni_attr_ints(c, "starts", &ns), *e = nni_attr_ints(c, "ends", &ne),
                      *a = nni_attr_ints(c, "axes", &na);
        if (ns > NNZ_MAX_DIMS || ne != ns || (na && na != ns))
            return nni_fail(c, "starts, ends and axes differ in length");
        for (size_t i = 0; i < ns; i++) {
            starts[i] = s[i];
            ends[i] = e[i];
            if (a)
                axes[i] = a[i];
        }
    } else {
        if (nni_need(c, 1) != 0 || nni_need(c, 2) != 0 ||
            nni_read_ints(c, c->in[1], starts, NNZ_MAX_DIMS, &ns) != 0 ||
            nni_read_ints(c, c->in[2], ends, NNZ_MAX_DIMS, &ne) != 0)
            return -1;
        if (c->nin > 3 && c->in[3] && nni_read_ints(c, c->in[3], axes, NNZ_MAX_DIMS, &na) != 0)
            return -1;
        if (c->nin > 4 && c->in[4] && nni_read_ints(c, c->in[4], steps, NNZ_MAX_DIMS, &nst) != 0)
            return -1;
        if (ne != ns || (na && na != ns) || (nst && nst != ns))
            return nni_fail(c, "starts, ends, axes and steps differ in length");
    }
    int64_t st[NNZ_MAX_DIMS], cnt[NNZ_MAX_DIMS], step[NNZ_MAX_DIMS];
    int seen[NNZ_MAX_DIMS] = { 0 };
    for (int i = 0; i < r; i++) {
        st[i] = 0;
        cnt[i] = x->dims[i];
        step[i] = 1;
    }
    for (size_t i = 0; i < ns; i++) {
        int a;
        if (nni_norm_axis(c, na ? axes[i] : (int64_t)i, r, &a) != 0)
            return -1;
        if (seen[a])
            return nni_fail(c, "axis %d is sliced twice", a);
        seen[a] = 1;
        int64_t dim = x->dims[a], s = starts[i], e = ends[i], k = nst ? steps[i] : 1;
        if (k == 0)
            return nni_fail(c, "step 0 on axis %d", a);
        if (s < 0) s += dim;
        if (e < 0 && e > INT64_MIN / 2) e += dim;
        if (k > 0) {
            s = s < 0 ? 0 : s > dim ? dim : s;
            e = e < 0 ? 0 : e > dim ? dim : e;
            cnt[a] = e > s ? (e - s + k - 1) / k : 0;
        } else {
            s = s < 0 ? -1 : s > dim - 1 ? dim - 1 : s;
            e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
            cnt[a] = s > e ? (s - e + (-k) - 1) / (-k) : 0;
        }
        st[a] = s;
        step[a] = k;
    }
    if (nni_out(c, 0, x->dtype, r, cnt) != 0)
        return -1;
    int64_t cs[NNZ_MAX_DIMS], ss[NNZ_MAX_DIMS], base = 0;
    contiguous_strides(r, x->dims, cs);
    for (int i = 0; i < r; i++) {
        ss[i] = cs[i] * step[i];
        if (cnt[i])
            base += st[i] * cs[i];
    }
    strided_copy(x, c->out[0], ss, base);
    return 0;
}

static int op_gather(nni_call *c)
{
    if (nni_need(c, 0) != 0 || nni_need(c, 1) != 0)
        return -1;
    const nnz_itensor *x = c->in[0], *ix = c->in[1];
    int axis;
    if (nni_norm_axis(c, nni_attr_i(c, "axis", 0), x->ndims, &axis) != 0)
        return -1;
    if (!nni_is_int(ix->dtype) || ix->dtype == NNZ_DT_BOOL)
        return nni_fail(c, "indices are %s, not an integer type", nnz_dtype_name(ix->dtype));
    int nd = x->ndims - 1 + ix->ndims;
    if (nd > NNZ_MAX_DIMS)
        return nni_fail(c, "the result would have %d dims", nd);
    int64_t d[NNZ_MAX_DIMS];
    int k = 0;
    for (int i = 0; i < axis; i++) d[k++] = x->dims[i];
    for (int i = 0; i < ix->ndims; i++) d[k++] = ix->dims[i];
    for (int i = axis + 1; i < x->ndims; i++) d[k++] = x->dims[i];
    if (nni_out(c, 0, x->dtype, nd, d) != 0)
        return -1;
    size_t es = nnz_it_esize(x->dtype), outer = 1, inner = es;
    for (int i = 0; i < axis; i++) outer *= (size_t)x->dims[i];
    for (int i = axis + 1; i < x->ndims; i++) inner *= (size_t)x->dims[i];
    int64_t dim = x->dims[axis];
    uint8_t *o = c->out[0]->data;
    for (size_t j = 0; j < ix->count; j++) {
        int64_t v = nni_get_i64(ix, j);
        if (v < -dim || v >= dim)
            return nni_fail(c, "index %lld is out of range for a dim of %lld", (long long)v,
                            (long long)dim);
    }
    for (size_t r = 0; r < outer; r++)
        for (size_t j = 0; j < ix->count; j++) {
            int64_t v = nni_get_i64(ix, j);
            if (v < 0) v += dim;
            memcpy(o + (r * ix->count + j) * inner,
                   (const uint8_t *)x->data + (r * (size_t)dim + (size_t)v) * inner, inner);
        }
    return 0;
}

static int op_gather_elements(nni_call *c)
{
    if (nni_need(c, 0) != 0 || nni_need(c, 1) != 0)
        return -1;
    const nnz_itensor *x = c->in[0], *ix = c->in[1];
    int axis;
    if (nni_norm_axis(c, nni_attr_i(c, "axis", 0), x->ndims, &axis) != 0)
        return -1;
    if (ix->ndims != x->ndims)
        return nni_fail(c, "indices have rank %d, data %d", ix->ndims, x->ndims);
    if (nni_out(c, 0, x->dtype, ix->ndims, ix->dims) != 0)
        return -1;
    int64_t xs[NNZ_MAX_DIMS], idx[NNZ_MAX_DIMS] = { 0 };
    contiguous_strides(x->ndims, x->dims, xs);
    size_t es = nnz_it_esize(x->dtype);
    for (size_t j = 0; j < ix->count; j++) {
        int64_t v = nni_get_i64(ix, j), dim = x->dims[axis];
        if (v < -dim || v >= dim)
            return nni_fail(c, "index %lld is out of range for a dim of %lld", (long long)v, (long long)dim);
        if (v < 0) v += dim;
        int64_t off = 0;
        for (int i = 0; i < x->ndims; i++) {
            int64_t p = i == axis ? v : idx[i];
            if (i != axis && p >= x->dims[i])
                return nni_fail(c, "indices are larger than the data on axis %d", i);
            off += p * xs[i];
        }
        memcpy((uint8_t *)c->out[0]->data + j * es, (const uint8_t *)x->data + off * (int64_t)es, es);
        for (int i = ix->ndims - 1; i >= 0; i--) {
            if (++idx[i] < ix->dims[i]) break;
            idx[i] = 0;
        }
    }
    return 0;
}

static int op_expand(nni_call *c)
{
    if (nni_need(c, 0) != 0 || nni_need(c, 1) != 0)
        return -1;
    const nnz_itensor *x = c->in[0];
    nnz_itensor s = { .dtype = x->dtype };
    size_t n;
    if (nni_read_ints(c, c->in[1], s.dims, NNZ_MAX_DIMS, &n) != 0)
        return -1;
    s.ndims = (int)n;
    int nd;
    int64_t d[NNZ_MAX_DIMS];
    if (nni_bcast_shape(c, x, &s, &nd, d) != 0 || nni_out(c, 0, x->dtype, nd, d) != 0)
        return -1;
    nni_bcast_copy(x, c->out[0]);
    return 0;
}

static int op_tile(nni_call *c)
{
    if (nni_need(c, 0) != 0 || nni_need(c, 1) != 0)
        return -1;
    const nnz_itensor *x = c->in[0];
    int64_t rep[NNZ_MAX_DIMS], d[NNZ_MAX_DIMS];
    size_t n;
    if (nni_read_ints(c, c->in[1], rep, NNZ_MAX_DIMS, &n) != 0)
        return -1;
    if ((int)n != x->ndims)
        return nni_fail(c, "%zu repeats for rank %d", n, x->ndims);
    for (int i = 0; i < x->ndims; i++) {
        if (rep[i] < 0)
            return nni_fail(c, "repeat %lld is negative", (long long)rep[i]);
        if (x->dims[i] && rep[i] > INT64_MAX / x->dims[i])
            return nni_fail(c, "dim %d overflows", i);
        d[i] = x->dims[i] * rep[i];
    }
    if (nni_out(c, 0, x->dtype, x->ndims, d) != 0)
        return -1;
    nnz_itensor *y = c->out[0];
    size_t es = nnz_it_esize(x->dtype);
    int64_t xs[NNZ_MAX_DIMS], idx[NNZ_MAX_DIMS] = { 0 };
    contiguous_strides(x->ndims, x->dims, xs);
    for (size_t j = 0; j < y->count; j++) {
        int64_t off = 0;
        for (int i = 0; i < x->ndims; i++)
            off += (idx[i] % x->dims[i]) * xs[i];
        memcpy((uint8_t *)y->data + j * es, (const uint8_t *)x->data + off * (int64_t)es, es);
        for (int i = x->ndims - 1; i >= 0; i--) {
            if (++idx[i] < d[i]) break;
            idx[i] = 0;
        }
    }
    return 0;
}

static int op_constant_of_shape(nni_call *c)
{
    if (nni_need(c, 0) != 0)
        return -1;
    int64_t d[NNZ_MAX_DIMS];
    size_t n;
    if (nni_read_ints(c, c->in[0], d, NNZ_MAX_DIMS, &n) != 0)
        return -1;
    const Onnx__AttributeProto *a = nni_attr(c, "value");
    nnz_itensor v = { 0 };
    int dtype = NNZ_DT_FLOAT;
    if (a && a->t) {
        if (nnz_it_from_proto(a->t, &v, c->e) != 0)
            return -1;
        dtype = v.dtype;
        if (v.count != 1) {
            nnz_it_free(&v);
            return nni_fail(c, "value has %zu elements, not 1", v.count);
        }
    }
    int rc = nni_out(c, 0, dtype, (int)n, d);
    if (rc == 0 && v.data) {
        size_t es = nnz_it_esize(dtype);
        for (size_t i = 0; i < c->out[0]->count; i++)
            memcpy((uint8_t *)c->out[0]->data + i * es, v.data, es);
    }
    nnz_it_free(&v);
    return rc;
}

static int op_range(nni_call *c)
{
    for (int k = 0; k < 3; k++)
        if (nni_need(c, k) != 0)
            return -1;
    const nnz_itensor *s = c->in[0];
    if (s->count != 1 || c->in[1]->count != 1 || c->in[2]->count != 1)
        return nni_fail(c, "start, limit and delta must be scalars");
    int64_t n;
    if (nni_is_int(s->dtype)) {
        int64_t a = nni_get_i64(s, 0), b = nni_get_i64(c->in[1], 0), d = nni_get_i64(c->in[2], 0);
        if (d == 0)
            return nni_fail(c, "delta is 0");
        double q = ceil(((double)b - (double)a) / (double)d);
        n = q > 0 ? (int64_t)q : 0;
        if (q > 1e12)
            return nni_fail(c, "%g elements is too many", q);
        if (nni_out(c, 0, s->dtype, 1, &n) != 0)
            return -1;
        for (int64_t i = 0; i < n; i++)
            nni_set_i64(c->out[0], (size_t)i, a + i * d);
        return 0;
    }
    double a = nnz_it_get(s, 0), b = nnz_it_get(c->in[1], 0), d = nnz_it_get(c->in[2], 0);
    if (d == 0 || !isfinite(a) || !isfinite(b) || !isfinite(d))
        return nni_fail(c, "start, limit and delta must be finite and delta non-zero");
    double q = ceil((b - a) / d);
    if (q > 1e12)
        return nni_fail(c, "%g elements is too many", q);
    n = q > 0 ? (int64_t)q : 0;
    if (nni_out(c, 0, s->dtype, 1, &n) != 0)
        return -1;
    for (int64_t i = 0; i < n; i++)
        nni_set(c->out[0], (size_t)i, a + (double)i * d);
    return 0;
}

static int op_pad(nni_call *c)
{
    if (nni_need(c, 0) != 0)
        return -1;
    const nnz_itensor *x = c->in[0];
    int r = x->ndims;
    int64_t pads[2 * NNZ_MAX_DIMS], axes[NNZ_MAX_DIMS];
    size_t np, na = 0;
    double cval = 0;
    if (c->opset < 11) {
        const int64_t *p = nni_attr_ints(c, "pads", &np);
        if (np > 2 * NNZ_MAX_DIMS)
            return nni_fail(c, "%zu pads", np);
        for (size_t i = 0; i < np; i++)
            pads[i] = p[i];
        cval = nni_attr_f(c, "value", 0);
    } else {
        if (nni_need(c, 1) != 0 || nni_read_ints(c, c->in[1], pads, 2 * NNZ_MAX_DIMS, &np) != 0)
            return -1;
        if (c->nin > 2 && c->in[2] && c->in[2]->count)
            cval = nnz_it_get(c->in[2], 0);
        if (c->nin > 3 && c->in[3] && nni_read_ints(c, c->in[3], axes, NNZ_MAX_DIMS, &na) != 0)
            return -1;
    }
    int64_t pb[NNZ_MAX_DIMS] = { 0 }, pe[NNZ_MAX_DIMS] = { 0 };
    if (na) {
        if (np != 2 * na)
            return nni_fail(c, "%zu pads for %zu axes", np, na);
        for (size_t i = 0; i < na; i++) {
            int a;
            if (nni_norm_axis(c, axes[i], r, &a) != 0)
                return -1;
            pb[a] = pads[i];
            pe[a] = pads[i + na];
        }
    } else {
        if (np != 2 * (size_t)r)
            return nni_fail(c, "%zu pads for rank %d (2 per dim)", np, r);
        for (int i = 0; i < r; i++) {
            pb[i] = pads[i];
            pe[i] = pads[i + r];
        }
    }
    const char *mode = nni_attr_s(c, "mode", "constant");
    int m = strcmp(mode, "constant") == 0 ? 0 : strcmp(mode, "reflect") == 0 ? 1
          : strcmp(mode, "edge") == 0 ? 2 : strcmp(mode, "wrap") == 0 ? 3 : -1;
    if (m < 0)
        return nni_unsupported(c, "mode '%s' (constant, reflect, edge, wrap)", mode);
    int64_t d[NNZ_MAX_DIMS];
    for (int i = 0; i < r; i++) {
        d[i] = x->dims[i] + pb[i] + pe[i];
        if (d[i] < 0)
            return nni_fail(c, "pads make dim %d negative", i);
        if (m && x->dims[i] == 0 && d[i] > 0)
            return nni_fail(c, "cannot pad an empty dim in mode %s", mode);
        if (m == 1 && (pb[i] >= x->dims[i] || pe[i] >= x->dims[i]) && (pb[i] > 0 || pe[i] > 0))
            return nni_unsupported(c, "reflect padding of %lld/%lld on a dim of %lld",
                                   (long long)pb[i], (long long)pe[i], (long long)x->dims[i]);
    }
    if (nni_out(c, 0, x->dtype, r, d) != 0)
        return -1;
    nnz_itensor *y = c->out[0];
    if (!y->count)
        return 0;
    size_t es = nnz_it_esize(x->dtype);
    int64_t xs[NNZ_MAX_DIMS], idx[NNZ_MAX_DIMS] = { 0 };
    contiguous_strides(r, x->dims, xs);
    /* a constant to copy from */
    uint8_t cv[8];
    nnz_itensor ct = { .dtype = x->dtype, .count = 1, .data = cv };
    nni_set(&ct, 0, cval);
    int64_t inner = r ? d[r - 1] : 1;
    size_t rows = y->count / (size_t)inner;
    uint8_t *o = y->data;
    for (size_t row = 0; row < rows; row++) {
        int64_t off = 0, ok = 1;
        for (int i = 0; i < r - 1; i++) {
            int64_t p = idx[i] - pb[i], n = x->dims[i];
            if (p < 0 || p >= n) {
                if (m == 0) ok = 0;
                else if (m == 2) p = p < 0 ? 0 : n - 1;
                else if (m == 1) p = p < 0 ? -p : 2 * (n - 1) - p;
                else p = ((p % n) + n) % n;
            }
            off += p * xs[i];
        }
        for (int64_t j = 0; j < inner; j++) {
            uint8_t *dst = o + (row * (size_t)inner + (size_t)j) * es;
            int64_t p = r ? j - pb[r - 1] : 0, n = r ? x->dims[r - 1] : 1;
            int in = ok;
            if (r && (p < 0 || p >= n)) {
                if (m == 0) in = 0;
                else if (m == 2) p = p < 0 ? 0 : n - 1;
                else if (m == 1) p = p < 0 ? -p : 2 * (n - 1) - p;
                else p = ((p % n) + n) % n;
            }
            if (in)
                memcpy(dst, (const uint8_t *)x->data + (off + p) * (int64_t)es, es);
            else
                memcpy(dst, cv, es);
        }
        for (int i = r - 2; i >= 0; i--) {
            if (++idx[i] < d[i]) break;
            idx[i] = 0;
        }
    }
    return 0;
}

/* Constant: `value` tensors are planned away as weights (infer.c); this
 * builds the others. */
static int op_constant(nni_call *c)
{
    const Onnx__AttributeProto *a;
    if ((a = nni_attr(c, "value")) && a->t) {
        nnz_itensor v;
        if (nnz_it_from_proto(a->t, &v, c->e) != 0)
            return -1;
        *c->out[0] = v;
        return 0;
    }
    if ((a = nni_attr(c, "value_float"))) {
        if (nni_out(c, 0, NNZ_DT_FLOAT, 0, NULL) != 0) return -1;
        *(float *)c->out[0]->data = a->f;
        return 0;
    }
    if ((a = nni_attr(c, "value_int"))) {
        if (nni_out(c, 0, NNZ_DT_INT64, 0, NULL) != 0) return -1;
        *(int64_t *)c->out[0]->data = a->i;
        return 0;
    }
    if ((a = nni_attr(c, "value_floats"))) {
        int64_t n = (int64_t)a->n_floats;
        if (nni_out(c, 0, NNZ_DT_FLOAT, 1, &n) != 0) return -1;
        memcpy(c->out[0]->data, a->floats, a->n_floats * 4);
        return 0;
    }
    if ((a = nni_attr(c, "value_ints"))) {
        int64_t n = (int64_t)a->n_ints;
        if (nni_out(c, 0, NNZ_DT_INT64, 1, &n) != 0) return -1;
        memcpy(c->out[0]->data, a->ints, a->n_ints * 8);
        return 0;
    }
    return nni_unsupported(c, "a Constant without value, value_float(s) or value_int(s) "
                              "(sparse and string constants)");
}

static int op_nonzero(nni_call *c)
{
    if (nni_need(c, 0) != 0)
        return -1;
    const nnz_itensor *x = c->in[0];
    int r = x->ndims ? x->ndims : 1;
    int64_t nz = 0;
    for (size_t i = 0; i < x->count; i++)
        nz += nnz_it_get(x, i) != 0;
    int64_t d[2] = { r, nz };
    if (nni_out(c, 0, NNZ_DT_INT64, 2, d) != 0)
        return -1;
    int64_t *o = c->out[0]->data, idx[NNZ_MAX_DIMS] = { 0 }, k = 0;
    for (size_t i = 0; i < x->count; i++) {
        if (nnz_it_get(x, i) != 0) {
            for (int a = 0; a < x->ndims; a++)
                o[a * nz + k] = idx[a];
            k++;
        }
        for (int a = x->ndims - 1; a >= 0; a--) {
            if (++idx[a] < x->dims[a]) break;
            idx[a] = 0;
        }
    }
    return 0;
}

/* DepthToSpace / SpaceToDepth as a reshape to 6-d and a transpose */
static int space_depth(nni_call *c, int to_space)
{
    if (nni_need(c, 0) != 0)
        return -1;
    const nnz_itensor *x = c->in[0];
    if (x->ndims != 4)
        return nni_fail(c, "input has rank %d, not 4", x->ndims);
    int64_t b = nni_attr_i(c, "blocksize", 0), N = x->dims[0], C = x->dims[1], H = x->dims[2],
            W = x->dims[3];
    if (b < 1)
        return nni_fail(c, "blocksize %lld", (long long)b);
    nnz_itensor v = *x;
    v.ndims = 6;
    int perm[6];
    int64_t od[4];
    if (to_space) {
        if (C % (b * b))
            return nni_fail(c, "channels %lld are not a multiple of blocksize^2", (long long)C);
        int crd = strcmp(nni_attr_s(c, "mode", "DCR"), "CRD") == 0;
        int64_t c2 = C / (b * b);
        if (crd) {
            int64_t d6[6] = { N, c2, b, b, H, W };
            int p6[6] = { 0, 1, 4, 2, 5, 3 };
            memcpy(v.dims, d6, sizeof d6);
            memcpy(perm, p6, sizeof p6);
        } else {
            int64_t d6[6] = { N, b, b, c2, H, W };
            int p6[6] = { 0, 3, 4, 1, 5, 2 };
            memcpy(v.dims, d6, sizeof d6);
            memcpy(perm, p6, sizeof p6);
        }
        od[0] = N; od[1] = c2; od[2] = H * b; od[3] = W * b;
    } else {
        if (H % b || W % b)
            return nni_fail(c, "spatial dims are not multiples of the blocksize");
        int64_t d6[6] = { N, C, H / b, b, W / b, b };
        int p6[6] = { 0, 3, 5, 1, 2, 4 };
        memcpy(v.dims, d6, sizeof d6);
        memcpy(perm, p6, sizeof p6);
        od[0] = N; od[1] = C * b * b; od[2] = H / b; od[3] = W / b;
    }
    int64_t td[6];
    for (int i = 0; i < 6; i++)
        td[i] = v.dims[perm[i]];
    if (nni_out(c, 0, x->dtype, 4, od) != 0)
        return -1;
    /* transposed as the 6-dim view, then given its 4 dims back */
    c->out[0]->ndims = 6;
    memcpy(c->out[0]->dims, td, sizeof td);
    nni_transpose(&v, c->out[0], perm);
    c->out[0]->ndims = 4;
    memcpy(c->out[0]->dims, od, sizeof od);
    return 0;
}

static int op_depth_to_space(nni_call *c) { return space_depth(c, 1); }
static int op_space_to_depth(nni_call *c) { return space_depth(c, 0); }

static int op_trilu(nni_call *c)
{
    if (nni_need(c, 0) != 0)
        return -1;
    const nnz_itensor *x = c->in[0];
    if (x->ndims < 2)
        return nni_fail(c, "input has rank %d; Trilu needs 2 or more", x->ndims);
    int64_t k = c->nin > 1 && c->in[1] ? nni_get_i64(c->in[1], 0) : 0;
    int upper = (int)nni_attr_i(c, "upper", 1);
    if (nni_out_copy(c, 0, x, x->ndims, x->dims) != 0)
        return -1;
    int64_t R = x->dims[x->ndims - 2], C = x->dims[x->ndims - 1];
    size_t es = nnz_it_esize(x->dtype), mats = R > 0 && C > 0 ? x->count / (size_t)(R * C) : 0;
    uint8_t *y = c->out[0]->data;
    for (size_t m = 0; m < mats; m++)
        for (int64_t i = 0; i < R; i++)
            for (int64_t j = 0; j < C; j++)
                if (upper ? j - i < k : j - i > k)
                    memset(y + ((m * (size_t)R + (size_t)i) * (size_t)C + (size_t)j) * es, 0, es);
    return 0;
}

static int op_eyelike(nni_call *c)
{
    if (nni_need(c, 0) != 0)
        return -1;
    const nnz_itensor *x = c->in[0];
    if (x->ndims != 2)
        return nni_fail(c, "input has rank %d, not 2", x->ndims);
    int dt = (int)nni_attr_i(c, "dtype", x->dtype);
    int64_t k = nni_attr_i(c, "k", 0);
    if (nni_out(c, 0, dt, 2, x->dims) != 0)
        return -1;
    for (int64_t i = 0; i < x->dims[0]; i++)
        if (i + k >= 0 && i + k < x->dims[1])
            nni_set(c->out[0], (size_t)(i * x->dims[1] + i + k), 1);
    return 0;
}

static int op_onehot(nni_call *c)
{
    for (int k = 0; k < 3; k++)
        if (nni_need(c, k) != 0)
            return -1;
    const nnz_itensor *ix = c->in[0], *dep = c->in[1], *val = c->in[2];
    if (dep->count != 1 || val->count != 2)
        return nni_fail(c, "depth must be a scalar and values hold 2 elements");
    int64_t depth = (int64_t)nnz_it_get(dep, 0);
    if (depth < 1)
        return nni_fail(c, "depth %lld", (long long)depth);
    int r = ix->ndims + 1, axis;
    if (r > NNZ_MAX_DIMS || nni_norm_axis(c, nni_attr_i(c, "axis", -1), r, &axis) != 0)
        return -1;
    int64_t d[NNZ_MAX_DIMS];
    for (int i = 0, k = 0; i < r; i++)
        d[i] = i == axis ? depth : ix->dims[k++];
    if (nni_out(c, 0, val->dtype, r, d) != 0)
        return -1;
    size_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++) outer *= (size_t)d[i];
    for (int i = axis + 1; i < r; i++) inner *= (size_t)d[i];
    size_t es = nnz_it_esize(val->dtype);
    const uint8_t *off = val->data, *on = (const uint8_t *)val->data + es;
    uint8_t *y = c->out[0]->data;
    for (size_t o = 0; o < outer; o++)
        for (int64_t q = 0; q < depth; q++)
            for (size_t i = 0; i < inner; i++) {
                double v = nnz_it_get(ix, o * inner + i);
                int64_t h = (int64_t)v;
                if (h < 0) h += depth;
                memcpy(y + ((o * (size_t)depth + (size_t)q) * inner + i) * es, h == q ? on : off, es);
            }
    return 0;
}

/* GatherND / ScatterND share the index arithmetic: the last dim of the
 * indices addresses a slice of the data. */
static int nd_slice(nni_call *c, const nnz_itensor *x, const nnz_itensor *ix, int64_t bdims,
                    size_t j, size_t *slice_off, size_t *slice_len)
{
    int64_t q = ix->dims[ix->ndims - 1];
    int64_t st[NNZ_MAX_DIMS];
    contiguous_strides(x->ndims, x->dims, st);
    size_t len = 1;
    for (int i = (int)(bdims + q); i < x->ndims; i++)
        len *= (size_t)x->dims[i];
    /* batch dims: the position of this index tuple among them */
    size_t tuples_per_batch = 1;
    for (int i = (int)bdims; i < ix->ndims - 1; i++)
        tuples_per_batch *= (size_t)ix->dims[i];
    size_t b = tuples_per_batch ? j / tuples_per_batch : 0;
    int64_t off = 0;
    for (int64_t i = bdims - 1, bb = (int64_t)b; i >= 0; i--) {
        off += (bb % x->dims[i]) * st[i];
        bb /= x->dims[i];
    }
    for (int64_t i = 0; i < q; i++) {
        int64_t v = nni_get_i64(ix, j * (size_t)q + (size_t)i), dim = x->dims[bdims + i];
        if (v < -dim || v >= dim)
            return nni_fail(c, "index %lld is out of range for a dim of %lld", (long long)v,
                            (long long)dim);
        off += (v < 0 ? v + dim : v) * st[bdims + i];
    }
    *slice_off = (size_t)off;
    *slice_len = len;
    return 0;
}

static int op_gather_nd(nni_call *c)
{
    if (nni_need(c, 0) != 0 || nni_need(c, 1) != 0)
        return -1;
    const nnz_itensor *x = c->in[0], *ix = c->in[1];
    int64_t b = nni_attr_i(c, "batch_dims", 0);
    if (ix->ndims < 1 || !nni_is_int(ix->dtype))
        return nni_fail(c, "indices must be an integer tensor of rank 1 or more");
    int64_t q = ix->dims[ix->ndims - 1];
    if (b < 0 || b >= ix->ndims || b >= x->ndims || q < 1 || b + q > x->ndims)
        return nni_fail(c, "indices' last dim %lld with batch_dims %lld does not fit data of rank %d",
                        (long long)q, (long long)b, x->ndims);
    int64_t d[NNZ_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < ix->ndims - 1; i++) d[nd++] = ix->dims[i];
    for (int i = (int)(b + q); i < x->ndims; i++) d[nd++] = x->dims[i];
    if (nni_out(c, 0, x->dtype, nd, d) != 0)
        return -1;
    size_t es = nnz_it_esize(x->dtype), tuples = q ? ix->count / (size_t)q : 0;
    for (size_t j = 0; j < tuples; j++) {
        size_t off, len;
        if (nd_slice(c, x, ix, b, j, &off, &len) != 0)
            return -1;
        memcpy((uint8_t *)c->out[0]->data + j * len * es, (const uint8_t *)x->data + off * es, len * es);
    }
    return 0;
}

/* the reduction of ScatterND / ScatterElements */
static void scatter_put(nnz_itensor *y, size_t at, const nnz_itensor *u, size_t from, int red)
{
    size_t es = nnz_it_esize(y->dtype);
    if (!red) {
        memcpy((uint8_t *)y->data + at * es, (const uint8_t *)u->data + from * es, es);
        return;
    }
    double a = nnz_it_get(y, at), b = nnz_it_get(u, from);
    nni_set(y, at, red == 1 ? a + b : red == 2 ? a * b : red == 3 ? (a > b ? a : b) : (a < b ? a : b));
}

static int scatter_reduction(nni_call *c, int *red)
{
    const char *r = nni_attr_s(c, "reduction", "none");
    *red = strcmp(r, "none") == 0 ? 0 : strcmp(r, "add") == 0 ? 1 : strcmp(r, "mul") == 0 ? 2
         : strcmp(r, "max") == 0 ? 3 : strcmp(r, "min") == 0 ? 4 : -1;
    return *red < 0 ? nni_unsupported(c, "reduction '%s' (none, add, mul, max, min)", r) : 0;
}

static int op_scatter_nd(nni_call *c)
{
    for (int k = 0; k < 3; k++)
        if (nni_need(c, k) != 0)
            return -1;
    const nnz_itensor *x = c->in[0], *ix = c->in[1], *u = c->in[2];
    int red;
    if (scatter_reduction(c, &red) != 0)
        return -1;
    if (ix->ndims < 1 || !nni_is_int(ix->dtype) || u->dtype != x->dtype)
        return nni_fail(c, "indices must be integers and updates of the data's type");
    int64_t q = ix->dims[ix->ndims - 1];
    if (q < 1 || q > x->ndims)
        return nni_fail(c, "indices' last dim %lld does not fit data of rank %d", (long long)q, x->ndims);
    if (nni_out_copy(c, 0, x, x->ndims, x->dims) != 0)
        return -1;
    size_t tuples = ix->count / (size_t)q;
    for (size_t j = 0; j < tuples; j++) {
        size_t off, len;
        if (nd_slice(c, x, ix, 0, j, &off, &len) != 0)
            return -1;
        if ((j + 1) * len > u->count)
            return nni_fail(c, "updates hold %zu elements, too few for the indices", u->count);
        for (size_t k = 0; k < len; k++)
            scatter_put(c->out[0], off + k, u, j * len + k, red);
    }
    return 0;
}

static int op_scatter_elements(nni_call *c)
{
    for (int k = 0; k < 3; k++)
        if (nni_need(c, k) != 0)
            return -1;
    const nnz_itensor *x = c->in[0], *ix = c->in[1], *u = c->in[2];
    int axis, red;
    if (nni_norm_axis(c, nni_attr_i(c, "axis", 0), x->ndims, &axis) != 0 || scatter_reduction(c, &red) != 0)
        return -1;
    if (ix->ndims != x->ndims || u->count != ix->count || u->dtype != x->dtype)
        return nni_fail(c, "indices and updates must match in shape, of the data's rank and type");
    for (int i = 0; i < ix->ndims; i++)
        if (ix->dims[i] > x->dims[i] && i != axis)
            return nni_fail(c, "indices are larger than the data on axis %d", i);
    if (nni_out_copy(c, 0, x, x->ndims, x->dims) != 0)
        return -1;
    int64_t st[NNZ_MAX_DIMS], idx[NNZ_MAX_DIMS] = { 0 };
    contiguous_strides(x->ndims, x->dims, st);
    for (size_t j = 0; j < ix->count; j++) {
        int64_t v = nni_get_i64(ix, j), dim = x->dims[axis], off = 0;
        if (v < -dim || v >= dim)
            return nni_fail(c, "index %lld is out of range for a dim of %lld", (long long)v, (long long)dim);
        for (int i = 0; i < x->ndims; i++)
            off += (i == axis ? (v < 0 ? v + dim : v) : idx[i]) * st[i];
        scatter_put(c->out[0], (size_t)off, u, j, red);
        for (int i = ix->ndims - 1; i >= 0; i--) {
            if (++idx[i] < ix->dims[i]) break;
            idx[i] = 0;
        }
    }
    return 0;
}

const nni_op nni_ops_shape[] = {
    { "Trilu", op_trilu, 1, 2, NNI_IN(1) }, { "EyeLike", op_eyelike, 1, 1, 0 }, { "OneHot", op_onehot, 3, 3, NNI_IN(1) | NNI_IN(2) },
    { "GatherND", op_gather_nd, 2, 2, NNI_IN(1) }, { "ScatterND", op_scatter_nd, 3, 3, NNI_IN(1) },
    { "ScatterElements", op_scatter_elements, 3, 3, NNI_IN(1) },
    { "Shape", op_shape, 1, 1, NNI_SHAPES_ONLY }, { "Size", op_size, 1, 1, NNI_SHAPES_ONLY }, { "Reshape", op_reshape, 1, 2, NNI_IN(1) },
    { "Flatten", op_flatten, 1, 1, 0 }, { "Squeeze", op_squeeze, 1, 2, NNI_IN(1) },
    { "Unsqueeze", op_unsqueeze, 1, 2, NNI_IN(1) }, { "Transpose", op_transpose, 1, 1, 0 },
    { "Concat", op_concat, 1, NNI_MAX_IO, 0 }, { "Split", op_split, 1, 2, NNI_IN(1) },
    { "Slice", op_slice, 1, 5, NNI_IN(1) | NNI_IN(2) | NNI_IN(3) | NNI_IN(4) }, { "Gather", op_gather, 2, 2, NNI_IN(1) },
    { "GatherElements", op_gather_elements, 2, 2, NNI_IN(1) }, { "Expand", op_expand, 2, 2, NNI_IN(1) },
    { "Tile", op_tile, 2, 2, NNI_IN(1) }, { "ConstantOfShape", op_constant_of_shape, 1, 1, NNI_IN(0) },
    { "Range", op_range, 3, 3, NNI_IN(0) | NNI_IN(1) | NNI_IN(2) }, { "Pad", op_pad, 1, 4, NNI_IN(1) | NNI_IN(2) | NNI_IN(3) }, { "Constant", op_constant, 0, 0, 0 },
    { "NonZero", op_nonzero, 1, 1, NNI_IN(0) }, { "DepthToSpace", op_depth_to_space, 1, 1, 0 },
    { "SpaceToDepth", op_space_to_depth, 1, 1, 0 },
    { NULL, NULL, 0, 0, 0 },
};
