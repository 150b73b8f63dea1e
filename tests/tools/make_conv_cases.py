#!/usr/bin/python3
"""Conv cases for the interpreter's conv paths (tests/suite/57-infer.sh):
batched small images (one product for the batch), depthwise 3x3 and 5x5 at
stride 1 and 2 on small and large images (the padded copy, two rows a pass, odd
heights, wide rows; the checked kernel past 4 MiB a channel), grouped convs, 1x1,
dilation, asymmetric pads, with a residual Add and a Relu or Clip after
some (fused chains). Writes DIR/<case>/model.onnx, x.npy and the expected
y.npy, computed here in float64 numpy."""
import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

OUT = sys.argv[1]
rng = np.random.default_rng(11)


def conv_ref(x, w, b, stride, pads, dil, group):
    n, c, ih, iw = x.shape
    m, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh = (ih + pads[0] + pads[2] - dil * (kh - 1) - 1) // stride + 1
    ow = (iw + pads[1] + pads[3] - dil * (kw - 1) - 1) // stride + 1
    y = np.zeros((n, m, oh, ow))
    mg = m // group
    for g in range(group):
        xs = xp[:, g * cg:(g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i * dil:i * dil + stride * (oh - 1) + 1:stride,
                           j * dil:j * dil + stride * (ow - 1) + 1:stride]
                y[:, g * mg:(g + 1) * mg] += np.einsum('nchw,mc->nmhw', patch,
                                                       w[g * mg:(g + 1) * mg, :, i, j])
    return y + (b[None, :, None, None] if b is not None else 0)


cases = [
    # name, N, C, H, W, M, k, stride, pads, dil, group, bias, tail
    ('batched_3x3', 16, 3, 8, 8, 8, 3, 1, (1, 1, 1, 1), 1, 1, True, 'relu'),
    ('batched_1x1', 6, 8, 5, 7, 4, 1, 1, (0, 0, 0, 0), 1, 1, False, 'residual_clip'),
    ('batched_s2', 5, 4, 9, 9, 6, 3, 2, (0, 1, 1, 0), 1, 1, True, ''),
    ('batched_grouped', 4, 6, 6, 6, 6, 3, 1, (1, 1, 1, 1), 1, 3, True, 'relu'),
    ('batched_dilated', 3, 2, 9, 8, 3, 3, 1, (2, 2, 2, 2), 2, 1, False, ''),
    ('dw3_s1_small', 2, 5, 7, 6, 5, 3, 1, (1, 1, 1, 1), 1, 5, True, 'residual_relu'),
    ('dw3_s2_small', 2, 4, 9, 11, 4, 3, 2, (1, 1, 1, 1), 1, 4, True, 'relu'),
    ('dw5_s1_small', 1, 3, 12, 10, 3, 5, 1, (2, 2, 2, 2), 1, 3, False, ''),
    ('dw5_s2_small', 1, 3, 13, 12, 3, 5, 2, (2, 2, 2, 2), 1, 3, True, 'clip'),
    ('dw3_s1_large', 1, 3, 20, 70, 3, 3, 1, (1, 1, 1, 1), 1, 3, True, 'residual_relu'),
    ('dw5_s2_large', 1, 2, 21, 67, 2, 5, 2, (2, 1, 2, 1), 1, 2, True, ''),
    ('dw3_nopad_large', 1, 2, 10, 40, 2, 3, 1, (0, 0, 0, 0), 1, 2, False, 'relu'),
    # the padded copy of a large channel: a row of 128 (a multiple of 8: no
    # scalar remainder), odd output heights (the last row outside the
    # two-row passes), asymmetric and end-only pads
    ('dw3_s1_w128_odd', 1, 4, 33, 128, 4, 3, 1, (1, 1, 1, 1), 1, 4, True, 'residual_relu'),
    ('dw3_s2_wide_odd', 1, 3, 17, 129, 3, 3, 2, (1, 1, 1, 1), 1, 3, True, 'relu'),
    ('dw3_s2_endpad', 1, 2, 32, 40, 2, 3, 2, (0, 0, 1, 1), 1, 2, True, ''),
    ('dw5_s1_asym_odd', 1, 2, 16, 50, 2, 5, 1, (2, 1, 1, 2), 1, 2, False, 'clip'),
    # over 4 MiB a channel: no padded copy, the kernel with border checks
    ('dw3_s1_unpadded', 1, 1, 258, 4096, 1, 3, 1, (1, 1, 1, 1), 1, 1, True, ''),
    ('plain_large', 1, 3, 30, 40, 5, 3, 1, (1, 1, 1, 1), 1, 1, True, 'residual_clip'),
    ('pointwise_large', 1, 16, 40, 50, 24, 1, 1, (0, 0, 0, 0), 1, 1, True, 'residual_relu'),
]
for name, N, C, H, W, M, k, s, pads, dil, group, has_b, tail in cases:
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    w = rng.standard_normal((M, C // group, k, k)).astype(np.float32)
    b = rng.standard_normal(M).astype(np.float32) if has_b else None
    x = (rng.standard_normal((N, C, H, W)) * 2).astype(np.float32)
    y = conv_ref(x.astype(np.float64), w.astype(np.float64), None if b is None else b.astype(np.float64),
                 s, pads, dil, group)
    inits = [numpy_helper.from_array(w, 'w')]
    ins = ['x', 'w']
    if b is not None:
        inits.append(numpy_helper.from_array(b, 'b'))
        ins.append('b')
    nodes = [helper.make_node('Conv', ins, ['c'], name='conv', strides=[s, s], pads=list(pads),
                              dilations=[dil, dil], group=group)]
    cur = 'c'
    if tail.startswith('residual'):
        r = (rng.standard_normal(y.shape) * 2).astype(np.float32)
        inits.append(numpy_helper.from_array(r, 'r_init'))
        # the residual as an activation (Identity of a weight), as a real model's skip would be
        nodes.insert(0, helper.make_node('Identity', ['r_init'], ['r'], name='skip'))
        nodes.append(helper.make_node('Add', [cur, 'r'], ['s'], name='add'))
        y = y + r
        cur = 's'
    if tail.endswith('relu'):
        nodes.append(helper.make_node('Relu', [cur], ['a'], name='act'))
        y = np.maximum(y, 0)
        cur = 'a'
    elif tail.endswith('clip'):
        inits += [numpy_helper.from_array(np.array(-1, np.float32), 'lo'),
                  numpy_helper.from_array(np.array(2, np.float32), 'hi')]
        nodes.append(helper.make_node('Clip', [cur, 'lo', 'hi'], ['a'], name='act'))
        y = np.clip(y, -1, 2)
        cur = 'a'
    nodes.append(helper.make_node('Identity', [cur], ['y'], name='out'))
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info('x', TensorProto.FLOAT, list(x.shape))],
                          [helper.make_tensor_value_info('y', TensorProto.FLOAT, None)], inits)
    mdl = helper.make_model(g, opset_imports=[helper.make_opsetid('', 13)])
    mdl.ir_version = 8
    open(os.path.join(d, 'model.onnx'), 'wb').write(mdl.SerializeToString())
    np.save(os.path.join(d, 'x.npy'), x)
    np.save(os.path.join(d, 'y.npy'), y)
print(len(cases))
