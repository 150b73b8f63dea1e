#!/usr/bin/python3
"""Check nnzip's outputs for ONNX backend node tests against the expected
ones, at the tolerances onnx's own backend runner uses (numpy
assert_allclose, rtol 1e-3, atol 1e-7; exact for integers and bool).

stdin: lines "NAME EXPECTED_DIR GOT_DIR" (output_N.pb in both). Prints
"fail NAME: why" for each mismatch and a last line "N passed, M failed"."""
import os
import sys

import numpy as np
from onnx import TensorProto, numpy_helper


def load(path):
    t = TensorProto()
    with open(path, 'rb') as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def check(exp_dir, got_dir):
    k = 0
    while os.path.exists(os.path.join(exp_dir, f'output_{k}.pb')):
        a = load(os.path.join(exp_dir, f'output_{k}.pb'))
        gp = os.path.join(got_dir, f'output_{k}.pb')
        if not os.path.exists(gp):
            return f'output {k} missing'
        b = load(gp)
        if a.dtype == np.uint16 and b.dtype == np.float32:
            # older test data stores bfloat16 expectations as their uint16 bits
            b = (b.view(np.uint32) >> 16).astype(np.uint16)
        if a.dtype != b.dtype:
            return f'output {k}: type {b.dtype}, expected {a.dtype}'
        if a.shape != b.shape:
            return f'output {k}: shape {b.shape}, expected {a.shape}'
        if a.dtype.kind in 'fc':
            try:
                np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-7)
            except AssertionError as e:
                return f'output {k}: ' + ' '.join(str(e).split())[:300]
        elif not np.array_equal(a, b):
            return f'output {k}: values differ'
        k += 1
    return None


def main():
    passed = failed = 0
    for line in sys.stdin:
        name, exp_dir, got_dir = line.split()
        why = check(exp_dir, got_dir)
        if why:
            failed += 1
            print(f'fail {name}: {why}')
        else:
            passed += 1
    print(f'{passed} passed, {failed} failed')
    return 0


if __name__ == '__main__':
    sys.exit(main())
