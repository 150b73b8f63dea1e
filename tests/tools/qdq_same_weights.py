"""qdq_same_weights.py FLOAT.onnx QDQ.onnx - does the QDQ model compute, for
every weight of the float model (16 elements or more), exactly its bytes?

FLOAT.onnx is `nnzip decompress`'s output, QDQ.onnx `decompress --qdq`'s for
the same blob. Each weight (initializer or Constant, in any graph) must
be in the QDQ model under its name: kept as it is, or computed from
constants by the nodes --qdq writes (DequantizeLinear, Cast, Sub, Mul,
Gather), evaluated here as the ONNX operator definitions say. Prints
"WEIGHTS COMPARED FORMS" and exits 1 if any weight is missing or differs in
a single bit."""
import sys

import numpy as np
import onnx
from onnx import helper, mapping, numpy_helper


def graphs(g, out):
    out.append(g)
    for n in g.node:
        for a in n.attribute:
            if a.g.ByteSize():
                graphs(a.g, out)
            for sg in a.graphs:
                graphs(sg, out)
    return out


def consts(g):
    v = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for n in g.node:
        if n.op_type == "Constant" and n.attribute[0].name == "value":
            v[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    return v


def attr(n, name, dflt):
    for a in n.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return dflt


def evaluate(g):
    """The graph's constants, and every value the weight nodes compute from them."""
    v = consts(g)
    forms = set()
    for n in g.node:
        if not n.input or not all(i in v for i in n.input):
            continue
        x = [v[i] for i in n.input]
        if n.op_type == "DequantizeLinear":
            q, s, z = x
            shape = [1] * q.ndim
            if s.ndim == 1 and s.size > 1:
                shape[attr(n, "axis", 1)] = -1
            y = (q.astype(np.int32) - z.astype(np.int32).reshape(shape)).astype(np.float32) * \
                s.reshape(shape)
        elif n.op_type == "Cast":
            y = x[0].astype(mapping.TENSOR_TYPE_TO_NP_TYPE[attr(n, "to", 1)])
        elif n.op_type == "Sub":
            y = (x[0] - x[1]).astype(np.float32)
        elif n.op_type == "Mul":
            y = (x[0] * x[1]).astype(np.float32)
        elif n.op_type == "Gather":
            y = np.take(x[0], x[1].astype(np.int64), axis=attr(n, "axis", 0))
        else:
            continue
        forms.add(n.op_type)
        v[n.output[0]] = y
    return v, forms


def main():
    ref, qdq = onnx.load(sys.argv[1]), onnx.load(sys.argv[2])
    have, forms = {}, set()
    for g in graphs(qdq.graph, []):
        v, f = evaluate(g)
        have.update({(g.name, k): x for k, x in v.items()})
        forms |= f
    compared = bad = 0
    for g in graphs(ref.graph, []):
        for name, w in consts(g).items():
            if w.size < 16:
                continue
            compared += 1
            y = have.get((g.name, name))
            if y is None or y.dtype != w.dtype or y.shape != w.shape or y.tobytes() != w.tobytes():
                bad += 1
                diff = "missing" if y is None else "%s %s vs %s %s, %d elements differ" % (
                    y.dtype, y.shape, w.dtype, w.shape,
                    int(np.sum(y.view(np.uint8) != w.view(np.uint8))) if y.shape == w.shape and y.dtype == w.dtype else -1)
                print("weight '%s': %s" % (name, diff), file=sys.stderr)
    print(compared, bad, "+".join(sorted(forms)) or "-")
    sys.exit(0 if compared > 0 and bad == 0 else 1)


main()
