#!/usr/bin/python3
"""Small models for the interpreter's error paths (tests/suite/57-infer.sh):
each is valid protobuf that a careless executor would crash on, loop on,
or exhaust memory with. Writes DIR/<name>.onnx."""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)


def save(name, nodes, inputs, outputs, inits=(), opset=13):
    g = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid('', opset)])
    m.ir_version = 8
    with open(os.path.join(OUT, name + '.onnx'), 'wb') as f:
        f.write(m.SerializeToString())


X = helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 4])
Y = helper.make_tensor_value_info('y', TensorProto.FLOAT, None)

save('unsupported_op', [helper.make_node('Relu', ['x'], ['a'], name='r'),
                        helper.make_node('Einsum', ['a'], ['y'], name='the_einsum', equation='ij->ji')],
     [X], [Y])
save('unsupported_attr', [helper.make_node('Resize', ['x', '', 's'], ['y'], name='rs', mode='trilinear')],
     [X], [Y], [numpy_helper.from_array(np.array([1, 2], np.float32), 's')])
save('cycle', [helper.make_node('Add', ['x', 'b'], ['a'], name='first'),
               helper.make_node('Relu', ['a'], ['b'], name='second'),
               helper.make_node('Identity', ['a'], ['y'], name='out')], [X], [Y])
save('dangling', [helper.make_node('Add', ['x', 'nowhere'], ['y'], name='adder')], [X], [Y])
save('shape_mismatch', [helper.make_node('Add', ['x', 'w'], ['y'], name='bad_add')], [X], [Y],
     [numpy_helper.from_array(np.ones((3,), np.float32), 'w')])
save('huge_expand', [helper.make_node('Expand', ['x', 'shape'], ['y'], name='blow_up')], [X], [Y],
     [numpy_helper.from_array(np.array([1 << 40, 1 << 40], np.int64), 'shape')])
save('overflow_dims', [helper.make_node('ConstantOfShape', ['shape'], ['y'], name='zeros')], [X], [Y],
     [numpy_helper.from_array(np.array([1 << 62, 1 << 62, 4], np.int64), 'shape')])
save('too_big', [helper.make_node('ConstantOfShape', ['shape'], ['y'], name='big_zeros')], [X], [Y],
     [numpy_helper.from_array(np.array([1 << 20, 1 << 20], np.int64), 'shape')])
# a Loop with no trip count and a condition that never turns false
body = helper.make_graph(
    [helper.make_node('Identity', ['cond_in'], ['cond_out'], name='keep_going'),
     helper.make_node('Identity', ['v_in'], ['v_out'], name='same')],
    'body',
    [helper.make_tensor_value_info('i', TensorProto.INT64, []),
     helper.make_tensor_value_info('cond_in', TensorProto.BOOL, []),
     helper.make_tensor_value_info('v_in', TensorProto.FLOAT, [1, 4])],
    [helper.make_tensor_value_info('cond_out', TensorProto.BOOL, []),
     helper.make_tensor_value_info('v_out', TensorProto.FLOAT, [1, 4])])
save('endless_loop', [helper.make_node('Loop', ['', 'c', 'x'], ['y'], name='forever', body=body)],
     [X], [Y], [numpy_helper.from_array(np.array(True), 'c')])
# a Loop that runs 3 times and scans: checks carried values and scan outputs
body2 = helper.make_graph(
    [helper.make_node('Identity', ['cond_in'], ['cond_out'], name='c'),
     helper.make_node('Add', ['v_in', 'one'], ['v_out'], name='inc'),
     helper.make_node('Mul', ['v_out', 'two'], ['scan'], name='dbl')],
    'body2',
    [helper.make_tensor_value_info('i', TensorProto.INT64, []),
     helper.make_tensor_value_info('cond_in', TensorProto.BOOL, []),
     helper.make_tensor_value_info('v_in', TensorProto.FLOAT, [1, 4])],
    [helper.make_tensor_value_info('cond_out', TensorProto.BOOL, []),
     helper.make_tensor_value_info('v_out', TensorProto.FLOAT, [1, 4]),
     helper.make_tensor_value_info('scan', TensorProto.FLOAT, [1, 4])],
    [numpy_helper.from_array(np.array(1, np.float32), 'one'),
     numpy_helper.from_array(np.array(2, np.float32), 'two')])
save('loop3', [helper.make_node('Loop', ['m', '', 'x'], ['y', 'scans'], name='thrice', body=body2)],
     [X], [Y, helper.make_tensor_value_info('scans', TensorProto.FLOAT, None)],
     [numpy_helper.from_array(np.array(3, np.int64), 'm')])
# two inputs, to check matching by name and the input checks
A = helper.make_tensor_value_info('a', TensorProto.FLOAT, ['n', 3])
B = helper.make_tensor_value_info('b', TensorProto.INT64, ['n', 3])
save('two_inputs', [helper.make_node('Cast', ['b'], ['bf'], name='cast', to=1),
                    helper.make_node('Sub', ['a', 'bf'], ['y'], name='sub')], [A, B], [Y])
# the shape plan: a 1 GB activation first (an executor that allocated as it
# went would need it), an impossible one after; the plan refuses the second
# before the first exists. Also a sum of live activations over a small
# limit where each alone is under it.
X1 = helper.make_tensor_value_info('x', TensorProto.FLOAT, [1])
save('late_explosion', [
    helper.make_node('Expand', ['x', 'big_shape'], ['big'], name='big_fill'),
    helper.make_node('ReduceSum', ['big'], ['s'], name='sum', keepdims=0),
    helper.make_node('Expand', ['s', 'huge_shape'], ['y'], name='explode')], [X1], [Y],
    [numpy_helper.from_array(np.array([250_000_000], np.int64), 'big_shape'),
     numpy_helper.from_array(np.array([100_000, 100_000], np.int64), 'huge_shape')])
save('live_sum', [
    helper.make_node('Expand', ['x', 'n'], ['a'], name='fill_a'),
    helper.make_node('Expand', ['x', 'n'], ['b'], name='fill_b'),
    helper.make_node('Mul', ['a', 'b'], ['y'], name='product')], [X1], [Y],
    [numpy_helper.from_array(np.array([1_000_000], np.int64), 'n')])
# data-dependent shapes: NonZero of an activation; a Reshape to a computed
# count (known only at run time), then ops after it
XN = helper.make_tensor_value_info('x', TensorProto.FLOAT, [64, 1024])
save('data_dependent', [
    helper.make_node('Relu', ['x'], ['r'], name='relu'),
    helper.make_node('NonZero', ['r'], ['nz'], name='where_positive'),
    helper.make_node('Transpose', ['nz'], ['y'], name='pairs'),
    helper.make_node('Shape', ['r'], ['rs'], name='shape_of_r')], [XN],
    [helper.make_tensor_value_info('y', TensorProto.INT64, None),
     helper.make_tensor_value_info('rs', TensorProto.INT64, None)])
# fused Conv chains (infer.c fuse_graph): Conv -> Add(residual of the same
# shape) -> Clip(0, 6), taken as one node; Conv -> Add(a [C,1,1] weight that
# broadcasts) -> Relu, where the fast path must decline and the members run
# one by one. Checked against numpy in 57-infer.sh.
rng = np.random.default_rng(5)
XC = helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 2, 6, 5])
save('conv_chains', [
    helper.make_node('Conv', ['x', 'w1', 'b1'], ['c1'], name='conv1', pads=[1, 1, 1, 1]),
    helper.make_node('Conv', ['x', 'w2'], ['c2'], name='conv2', pads=[1, 1, 1, 1]),
    helper.make_node('Add', ['c2', 'c1'], ['s'], name='residual'),
    helper.make_node('Clip', ['s', 'lo', 'hi'], ['y'], name='relu6'),
    helper.make_node('Conv', ['x', 'w1'], ['c3'], name='conv3', pads=[1, 1, 1, 1]),
    helper.make_node('Add', ['c3', 'cb'], ['t'], name='bcast_add'),
    helper.make_node('Relu', ['t'], ['z'], name='relu')], [XC],
    [helper.make_tensor_value_info('y', TensorProto.FLOAT, None),
     helper.make_tensor_value_info('z', TensorProto.FLOAT, None)],
    [numpy_helper.from_array(rng.standard_normal((3, 2, 3, 3)).astype(np.float32), 'w1'),
     numpy_helper.from_array(rng.standard_normal((3,)).astype(np.float32), 'b1'),
     numpy_helper.from_array(rng.standard_normal((3, 2, 3, 3)).astype(np.float32), 'w2'),
     numpy_helper.from_array(np.array(0, np.float32), 'lo'),
     numpy_helper.from_array(np.array(6, np.float32), 'hi'),
     numpy_helper.from_array(rng.standard_normal((3, 1, 1)).astype(np.float32), 'cb')])
