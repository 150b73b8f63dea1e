#!/usr/bin/python3
"""model_cost.py MODEL.onnx [DIMS] - parameters and multiply-accumulates of a
model, as JSON: {"params", "macs", "unknown"}.

params: the elements of every float initializer and Constant. MACs: the
Conv, ConvTranspose, Gemm and MatMul nodes (the layers channel pruning
thins), from the shapes ONNX shape inference gives for one input of DIMS
(comma-separated, for the first input; default: the model's own, symbolic
dims as 1). "unknown" counts the layers whose output shape inference could
not give (then left out of "macs")."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper


def main(argv):
    m = onnx.load(argv[1])
    g = m.graph
    inits = {i.name for i in g.initializer}
    x = [i for i in g.input if i.name not in inits][0]
    dims = [int(d) for d in argv[2].split(",")] if len(argv) > 2 else [
        d.dim_value if d.dim_value > 0 else 1 for d in x.type.tensor_type.shape.dim]
    for d, v in zip(x.type.tensor_type.shape.dim, dims):
        d.Clear()
        d.dim_value = v
    want = set()
    for n in g.node:
        if n.op_type in ("Conv", "ConvTranspose", "Gemm", "MatMul"):
            want |= {n.input[0], n.output[0]}
    have = {o.name for o in g.output}
    for name in sorted(want - have - inits):
        g.output.append(onnx.ValueInfoProto(name=name))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.onnx")
        onnx.save(m, path)
        js = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ort_run.js")
        out = subprocess.run(["node", js, "shapes", path, ",".join(map(str, dims))],
                             check=True, capture_output=True, text=True).stdout
    shapes = json.loads(out)
    w = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    params = sum(a.size for a in w.values() if a.dtype.kind == "f")
    for n in g.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    t = numpy_helper.to_array(a.t)
                    params += t.size if t.dtype.kind == "f" else 0
                    w[n.output[0]] = t
    macs, unknown = 0, 0
    for n in g.node:
        if n.op_type not in ("Conv", "ConvTranspose", "Gemm", "MatMul"):
            continue
        y = shapes.get(n.output[0])
        wt = w.get(n.input[1])
        if wt is None or not y or min(y) < 0:
            unknown += 1
            continue
        if n.op_type == "Conv":  # every output element: (Cin/group) * k...
            macs += int(np.prod(y)) * int(np.prod(wt.shape[1:]))
        elif n.op_type == "ConvTranspose":  # every input element: Cout/group * k...
            xs = shapes.get(n.input[0])
            if not xs or min(xs) < 0:
                unknown += 1
                continue
            macs += int(np.prod(xs)) * int(np.prod(wt.shape[1:]))
        else:  # the reduced dim is the weight's input dim
            trans = any(a.name == "transB" and a.i for a in n.attribute)
            macs += int(np.prod(y)) * int(wt.shape[1] if trans else wt.shape[0])
    print(json.dumps({"params": int(params), "macs": int(macs), "unknown": unknown}))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
