#!/usr/bin/python3
"""Reference for prune:structured=channel, built without nnzip's code.

    channel_ref.py FIXTURE SRC.onnx OUT.onnx SPARSITY NORM [REPORT.json]

FIXTURE is edge_channels or digits_cnn (tests/fixtures/gen_fixtures.py): this
script knows their graphs by hand, ranks each layer's output channels by the
rule docs/passes/prune.md states (norm per weight of the weights, times
|gamma|/sqrt(var+eps) of a BatchNormalization right after the layer; smallest
first, ties by index; round(S*C) half up, at most C-1), keeps a channel of a
group where any layer of the group keeps it, and slices the original weights
with numpy: residual group (conv_a + conv_b), depthwise conv and its BN,
Concat offsets, a per-channel Mul, and the rows of a Gemm behind a Flatten.
OUT.onnx is the reference; the test runs it and nnzip's model in ONNX Runtime.
With REPORT.json (compress --json), the removed channels it lists per layer
must be the ones computed here; exits 1 when they differ.
"""
import json
import math
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def removed(w, axis, norm, s, factor=None):
    w = np.moveaxis(w.astype(np.float64), axis, 0).reshape(w.shape[axis], -1)
    if factor is not None:
        w = w * factor[:, None]
    score = np.sqrt((w * w).mean(1)) if norm == "l2" else np.abs(w).mean(1)
    c = w.shape[0]
    k = min(int(math.floor(s * c + 0.5)), c - 1)
    order = sorted(range(c), key=lambda i: (score[i], i))
    return set(order[:k])


def keep_mask(c, *removed_sets):
    gone = set.intersection(*removed_sets) if removed_sets else set()
    return np.array([i not in gone for i in range(c)])


def bn_factor(t, name, eps=1e-5):
    return np.abs(t[name + ".scale"].astype(np.float64)) / np.sqrt(
        t[name + ".var"].astype(np.float64) + eps)


def main(argv):
    fixture, src, out, s, norm = argv[1], argv[2], argv[3], float(argv[4]), argv[5]
    m = onnx.load(src)
    t = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    new, groups, expect = {}, {}, {}

    def put(name, arr):
        new[name] = np.ascontiguousarray(arr)

    if fixture == "edge_channels":
        ra = removed(t["conv_a.weight"], 0, norm, s, bn_factor(t, "bn_a"))
        rb = removed(t["conv_b.weight"], 0, norm, s)
        ka = keep_mask(8, ra, rb)
        kc = keep_mask(6, removed(t["conv_c.weight"], 0, norm, s))
        kd = keep_mask(10, removed(t["conv_d.weight"], 0, norm, s))
        kcat = np.concatenate([ka, kc])
        put("conv_a.weight", t["conv_a.weight"][ka])
        put("conv_a.bias", t["conv_a.bias"][ka])
        for p in ("bn_a", "bn_dw"):
            for f in ("scale", "bias", "mean", "var"):
                put(f"{p}.{f}", t[f"{p}.{f}"][ka])
        put("conv_b.weight", t["conv_b.weight"][ka][:, ka])
        put("conv_b.bias", t["conv_b.bias"][ka])
        put("dw.weight", t["dw.weight"][ka])
        put("conv_c.weight", t["conv_c.weight"][kc][:, ka])
        put("conv_c.bias", t["conv_c.bias"][kc])
        put("mul.scale", t["mul.scale"][kcat])
        put("conv_d.weight", t["conv_d.weight"][kd][:, kcat])
        put("conv_d.bias", t["conv_d.bias"][kd])
        put("fc.weight", t["fc.weight"][:, np.repeat(kd, 9)])
        groups["dwconv"] = int(ka.sum())
        expect = {"conv_a": ka, "conv_b": ka, "conv_c": kc, "conv_d": kd,
                  "fc": np.ones(5, bool), "conv_e": np.ones(4, bool)}
    elif fixture == "digits_cnn":
        k1 = keep_mask(16, removed(t["conv1.weight"], 0, norm, s))
        kp = keep_mask(32, removed(t["pw.weight"], 0, norm, s))
        k3 = keep_mask(32, removed(t["conv3.weight"], 0, norm, s))
        put("conv1.weight", t["conv1.weight"][k1])
        put("conv1.bias", t["conv1.bias"][k1])
        put("dw.weight", t["dw.weight"][k1])
        for f in ("scale", "bias", "mean", "var"):
            put(f"bn.{f}", t[f"bn.{f}"][k1])
        put("pw.weight", t["pw.weight"][kp][:, k1])
        put("pw.bias", t["pw.bias"][kp])
        put("conv3.weight", t["conv3.weight"][k3][:, kp])
        put("conv3.bias", t["conv3.bias"][k3])
        put("fc.weight", t["fc.weight"][:, np.repeat(k3, 16)])
        groups["dwconv"] = int(k1.sum())
        expect = {"conv1": k1, "pwconv": kp, "conv3": k3, "fc": np.ones(10, bool)}
    else:
        sys.stderr.write(f"channel_ref.py: unknown fixture {fixture}\n")
        return 2
    for i in m.graph.initializer:
        if i.name in new:
            i.CopyFrom(numpy_helper.from_array(new[i.name], i.name))
    for n in m.graph.node:
        if n.name in groups:
            for a in n.attribute:
                if a.name == "group":
                    a.i = groups[n.name]
    del m.graph.value_info[:]
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, out)
    if len(argv) > 6:
        rep = json.load(open(argv[6]))
        layers = {x["layer"]: x for x in rep["prune"]["layers"]}
        bad = 0
        for name, keep in expect.items():
            want = [i for i in range(len(keep)) if not keep[i]]
            got = layers[name]["removed_channels"]
            if got != want:
                sys.stderr.write(f"{name}: nnzip removed {got}, the reference {want}\n")
                bad = 1
        return bad
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
