#!/usr/bin/python3
"""make_big_model.py - a large, runnable ONNX model made on the fly, for the
tests and benchmarks of bounded memory and interrupted writes.

    make_big_model.py OUT.onnx MEGABYTES [--external] [--tensor-mb N]

A chain of MatMul layers, input [1, D] -> ... -> [1, D], each weight a
D x D float32 matrix of about --tensor-mb (default 64) MiB, filled with a
cheap deterministic pattern (no RNG: generation must be fast). With
--external the weights go to OUT.onnx.data (needed above protobuf's 2 GiB)
and are written tensor by tensor, so the generator itself stays small.
"""
import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def weight(d, k):
    # values ~ N-ish(0, 1/d) without an RNG: a few cheap sinusoids
    i = np.arange(d * d, dtype=np.float32)
    w = (np.sin(i * (0.001 + 0.0007 * k)) + 0.5 * np.sin(i * 0.0131 + k)) / np.sqrt(d)
    return w.astype(np.float32).reshape(d, d)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("megabytes", type=int)
    ap.add_argument("--external", action="store_true")
    ap.add_argument("--tensor-mb", type=int, default=64)
    a = ap.parse_args()
    d = int((a.tensor_mb * 1024 * 1024 / 4) ** 0.5)
    layers = max(1, (a.megabytes + a.tensor_mb - 1) // a.tensor_mb)
    data_name = os.path.basename(a.out) + ".data"
    inits, nodes = [], []
    prev = "input"
    with open(a.out + ".data", "wb") if a.external else open(os.devnull, "wb") as data:
        offset = 0
        for k in range(layers):
            w = weight(d, k)
            name = "w%d" % k
            if a.external:
                t = TensorProto()
                t.name = name
                t.data_type = TensorProto.FLOAT
                t.dims.extend([d, d])
                t.data_location = TensorProto.EXTERNAL
                raw = w.tobytes()
                data.write(raw)
                for key, val in (("location", data_name), ("offset", str(offset)),
                                 ("length", str(len(raw)))):
                    e = t.external_data.add()
                    e.key, e.value = key, val
                offset += len(raw)
            else:
                t = numpy_helper.from_array(w, name)
            inits.append(t)
            out = "y%d" % k if k < layers - 1 else "output"
            nodes.append(helper.make_node("MatMul", [prev, name], [out]))
            prev = out
    g = helper.make_graph(nodes, "big",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, d])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, d])],
                          inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    with open(a.out, "wb") as f:
        f.write(m.SerializeToString())


if __name__ == "__main__":
    main()
