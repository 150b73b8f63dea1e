#!/usr/bin/python3
"""onnx_facts.py - what the onnx package itself says about models, for tests
to compare nnzip against: whether onnx.checker accepts each model, and its
parameter count (elements of every numeric initializer and Constant-node
tensor, in every subgraph; strings and 4-bit types excluded, as nnzip does).

    onnx_facts.py [--check] MODEL...     one JSON object per line
"""
import json
import sys

import numpy as np
import onnx
from onnx import numpy_helper

SKIPPED_TYPES = {onnx.TensorProto.STRING, 21, 22}  # string, uint4, int4


def tensor_sizes(graph):
    """Yield the element count of every numeric weight tensor of a graph."""
    for t in graph.initializer:
        if t.data_type not in SKIPPED_TYPES:
            yield int(np.prod(t.dims, dtype=np.int64)) if t.dims else 1
    for node in graph.node:
        for a in node.attribute:
            if node.op_type == 'Constant' and a.name == 'value' and a.HasField('t'):
                if a.t.data_type not in SKIPPED_TYPES:
                    yield int(np.prod(a.t.dims, dtype=np.int64)) if a.t.dims else 1
            if a.type == onnx.AttributeProto.GRAPH:
                yield from tensor_sizes(a.g)
            for g in a.graphs:
                yield from tensor_sizes(g)


def facts(path, check):
    out = {"path": path}
    try:
        model = onnx.load(path, load_external_data=False)
        out["params"] = sum(tensor_sizes(model.graph))
        if check:
            try:
                onnx.checker.check_model(path)
                out["checker"] = "ok"
            except Exception as e:  # the checker's own message is the point
                out["checker"] = str(e).strip().splitlines()[0][:300]
    except Exception as e:
        out["error"] = str(e)[:300]
    return out


def main():
    args = sys.argv[1:]
    check = "--check" in args
    for p in (a for a in args if a != "--check"):
        print(json.dumps(facts(p, check)), flush=True)


if __name__ == "__main__":
    main()
