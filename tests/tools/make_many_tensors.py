#!/usr/bin/python3
"""make_many_tensors.py - a runnable ONNX model with N tiny weights, for the
scale benchmark (every command in O(n log n) up to the 1,000,000-tensor
limit, docs/BENCHMARKS.md "Scale").

    make_many_tensors.py OUT.onnx N [--opset K]

X[1,4] -> MatMul W0[4,4] -> MatMul W1[4,4] -> ... -> Y[1,4]: N MatMul nodes,
each weight 64 bytes (the smallest a blob's directory takes). Written as
raw protobuf wire bytes, not through onnx.helper, so a million tensors take
seconds, not minutes; onnx.checker accepts the result (checked for small N).
"""
import argparse
import os
import struct
import sys


# the protobuf wire writer of the hostile-input generator
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hostile"))
from gen_hostile import f_bytes as field, f_varint as field_int  # noqa: E402


def value_info(name):
    # ValueInfoProto{name, type{tensor_type{elem_type FLOAT, shape [1, 4]}}}
    dims = field(1, field_int(1, 1)) + field(1, field_int(1, 4))
    tensor_type = field_int(1, 1) + field(2, dims)
    return field(1, name) + field(2, field(1, tensor_type))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("n", type=int)
    ap.add_argument("--opset", type=int, default=13)
    a = ap.parse_args()
    graph = bytearray(field(2, "many"))
    for k in range(a.n):
        src = "X" if k == 0 else "h%d" % (k - 1)
        dst = "Y" if k == a.n - 1 else "h%d" % k
        node = field(1, src) + field(1, "W%d" % k) + field(2, dst) + field(4, "MatMul")
        graph += field(1, node)
    for k in range(a.n):
        vals = struct.pack("<16f", *[((k * 16 + i) % 7 - 3) * 0.125 for i in range(16)])
        t = field_int(1, 4) + field_int(1, 4) + field_int(2, 1) + field(8, "W%d" % k) + field(9, vals)
        graph += field(5, t)
    graph += field(11, value_info("X")) + field(12, value_info("Y"))
    model = field_int(1, 8) + field(2, "make_many_tensors") + field(7, bytes(graph))
    model += field(8, field(1, "") + field_int(2, a.opset))
    with open(a.out, "wb") as f:
        f.write(model)


if __name__ == "__main__":
    main()
