# 42-weights.sh - every weight of a model is found: through data-movement ops
# (Slice, Split, Transpose, Reshape, Flatten, Squeeze, Unsqueeze, Cast,
# Identity, Concat), inside If branches, with its channel axis mapped back
# through them; every weight of a small depthwise network is quantized by
# default. Checked against ONNX Runtime.
group "weights: discovery through data-movement ops, axes, no size floor"
N=$NNZIP_SAN
W=$T/weights
mkdir -p "$W"

# weight_of FIXTURE: what info --json says of each tensor, as "name op axis"
weight_of() {
    $N info --json "$FIX/$1.onnx" | $PYTHON -c '
import json, sys
for t in json.load(sys.stdin)["tensors"]:
    w = t["weight_of"]
    print(t["name"], w["op"] if w else "-", w["axis"] if w else "-", "note" if w and "note" in w else "")
'
}

# ---- what is found, and the axes (facts of the fixtures' design) -------------
weight_of edge_lstm_slice_if >"$W/lstm.txt" 2>"$W/err"
for want in "lstm.W_ih Gemm 0" "lstm.W_hh Gemm 0" "h0.weight MatMul 1" "lstm.bias - -"; do
    if grep -q "^$want \?$" "$W/lstm.txt"; then
        pass "edge_lstm_slice_if: $want (Slice/Split -> Transpose -> MatMul, Gemm, inside If)"
    else
        fail "edge_lstm_slice_if: expected '$want'" "$(cat "$W/lstm.txt" "$W/err" | head -c 400)"
    fi
done
weight_of edge_weight_paths >"$W/paths.txt" 2>"$W/err"
for want in "conv1.weight Conv 0" "conv2.weight Conv 0" "fc1.weight Gemm 0" "fc2.weight MatMul 1" \
    "fc3a.weight Gemm 0" "fc3b.weight Gemm 0" "fc4.weight MatMul 2" "fc5.weight MatMul -1 note" \
    "shared.weight MatMul -1 note" "conv1.shape - -"; do
    if grep -q "^$want \?$" "$W/paths.txt"; then
        pass "edge_weight_paths: $want"
    else
        fail "edge_weight_paths: expected '$want'" "$(cat "$W/paths.txt" "$W/err" | head -c 600)"
    fi
done
check "info shows the path to the compute op" sh -c "
    $N info '$FIX/edge_lstm_slice_if.onnx' | grep -E '^  lstm\.W_ih .* Slice:0 -> (Gemm|MatMul):1'"

# ---- quantize:bits=8 finds them, per channel on the mapped axis, and ORT agrees
# (the QDQ model at opt level basic: above it ORT runs DequantizeLinear+MatMul
# as an integer MatMul on quantized activations, a different computation)
for m in edge_lstm_slice_if edge_weight_paths edge_depthwise_small; do
    if $N -q compress "$FIX/$m.onnx" -o "$W/$m.nnz" -p 'quantize:bits=8' --json \
        --onnx-out "$W/$m.qdq.onnx" --qdq >"$W/$m.json" 2>"$W/err" &&
        $NNZIP -q decompress "$W/$m.nnz" -o "$W/$m.f.onnx" 2>>"$W/err"; then
        pass "$m: quantize:bits=8 with a QDQ model"
    else
        fail "$m: quantize:bits=8 with a QDQ model" "$(head -c 400 "$W/err")"
        continue
    fi
    check "$m: every compute-op weight is quantized on its channel axis, nothing else" \
        $PYTHON - "$W/$m.json" "$m" <<'PY'
import json, sys
d, m = json.load(open(sys.argv[1])), sys.argv[2]
want = {  # name: channel axis (-1 per tensor, with a note saying why)
    "edge_lstm_slice_if": {"lstm.W_ih": 0, "lstm.W_hh": 0, "h0.weight": 1},
    "edge_weight_paths": {"conv1.weight": 0, "conv2.weight": 0, "fc1.weight": 0, "fc2.weight": 1,
                          "fc3a.weight": 0, "fc3b.weight": 0, "fc4.weight": 2, "fc5.weight": -1,
                          "shared.weight": -1},
    "edge_depthwise_small": {"stem.weight": 0, "dw1.weight": 0, "pw1.weight": 0, "dw2.weight": 0,
                             "pw2.weight": 0, "fc.weight": 0},
}[m]
got = {t["name"]: t["quantize"] for t in d["tensors"] if "quantize" in t}
assert sorted(got) == sorted(want), (sorted(got), sorted(want))
for n, q in got.items():
    assert q["axis"] == want[n], (n, q["axis"], want[n])
    assert ("axis_note" in q) == (want[n] < 0), (n, q)
    assert q["bits"] == 8 and q["rel_l2"] < 0.02, (n, q)
PY
    check "$m: every Conv/Gemm/MatMul weight of the QDQ model comes from DequantizeLinear" \
        $PYTHON - "$W/$m.qdq.onnx" "$W/$m.json" <<'PY'
import json, onnx, sys
m = onnx.load(sys.argv[1])
rep = {t["name"]: t for t in json.load(open(sys.argv[2]))["tensors"]}
def graphs(g):
    yield g
    for n in g.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                yield from graphs(a.g)
made = {}
for g in graphs(m.graph):
    for n in g.node:
        for o in n.output:
            made[o] = n
# every quantized float32 weight is behind a DequantizeLinear in the QDQ model
for g in graphs(m.graph):
    for n in g.node:
        if n.op_type == "DequantizeLinear":
            rep.pop(n.output[0], None)
left = [k for k, t in rep.items() if "quantize" in t and t["dtype"] == "float"]
assert not left, left
PY
    if $ORACLE "$FIX/$m.onnx" "$W/$m.f.onnx" --inputs "$FIX/$m.inputs.json" --batches 4 --json \
        >"$W/$m.ort.json" 2>"$W/err" &&
        $PYTHON -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["worst_rel_l2"] < 0.03 else 1)' "$W/$m.ort.json" &&
        $ORACLE "$W/$m.f.onnx" "$W/$m.qdq.onnx" --inputs "$FIX/$m.inputs.json" --batches 4 --json \
            --opt-level basic \
            >"$W/$m.ort2.json" 2>>"$W/err" &&
        $PYTHON -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["worst_rel_l2"] < 1e-5 else 1)' "$W/$m.ort2.json"; then
        pass "$m: ONNX Runtime: INT8 outputs near the float model's, the QDQ model's equal to the decoded one's"
    else
        fail "$m: ONNX Runtime outputs" "$(head -c 300 "$W/$m.ort.json") $(head -c 300 "$W/$m.ort2.json" 2>/dev/null) $(head -c 300 "$W/err")"
    fi
done
check "edge_lstm_slice_if: the big gate matrices are codes, not float: under 9 bits a weight" \
    $PYTHON -c '
import json, sys
d = json.load(open(sys.argv[1]))
t = [x for x in d["tensors"] if x["name"] in ("lstm.W_ih", "lstm.W_hh")]
assert len(t) == 2 and all(x["bits_per_weight"] < 9 for x in t), t
' "$W/edge_lstm_slice_if.json"
check "min-elements=256 still leaves the small depthwise weights float" sh -c "
    $N -q compress '$FIX/edge_depthwise_small.onnx' -o '$W/floor.nnz' -p 'quantize:bits=8,min-elements=256' --json |
    $PYTHON -c 'import json,sys; q=sorted(t[\"name\"] for t in json.load(sys.stdin)[\"tensors\"] if \"quantize\" in t); assert q == [\"fc.weight\", \"pw2.weight\"], q'"

# ---- a hostile chain: many data-movement ops in a row are followed only so far
$PYTHON - "$W/chain.onnx" <<'PY'
import sys, numpy as np, onnx
from onnx import helper as h, TensorProto as T, numpy_helper as nh
w = nh.from_array(np.ones((16, 16), np.float32), "w")
nodes, prev = [], "w"
for i in range(5000):
    nodes.append(h.make_node("Identity", [prev], [f"i{i}"]))
    prev = f"i{i}"
nodes.append(h.make_node("MatMul", ["x", prev], ["y"]))
g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, [1, 16])],
                 [h.make_tensor_value_info("y", T.FLOAT, [1, 16])], [w])
onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 13)]), sys.argv[1])
PY
expect "a 5000-op chain before the MatMul: loads at once, the weight is not followed that far" 0 "" \
    sh -c "$N info --json '$W/chain.onnx' | grep -q '\"weight_of\":[ ]*null'"

# ---- hostile shapes on the way: no overflow, no crash, the weight still found
$PYTHON - "$W/huge.onnx" <<'PY'
import sys, numpy as np, onnx
from onnx import helper as h, TensorProto as T, numpy_helper as nh
w = nh.from_array(np.ones((4, 4), np.float32), "w")
big = nh.from_array(np.array([1 << 40, 1 << 40, -1], np.int64), "shape")
dup = nh.from_array(np.array([0, 0], np.int64), "axes")
nodes = [h.make_node("Reshape", ["w", "shape"], ["r"]), h.make_node("MatMul", ["x", "r"], ["y"]),
         h.make_node("Unsqueeze", ["w", "axes"], ["u"]), h.make_node("MatMul", ["x", "u"], ["z"])]
g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, [1, 4])],
                 [h.make_tensor_value_info("y", T.FLOAT, None), h.make_tensor_value_info("z", T.FLOAT, None)],
                 [w, big, dup])
onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 13)]), sys.argv[1])
PY
expect "a Reshape to 2^40 x 2^40 and an Unsqueeze of one axis twice: found, per tensor, no overflow" 0 "" \
    sh -c "$N info --json '$W/huge.onnx' | $PYTHON -c 'import json,sys; t={x[\"name\"]: x for x in json.load(sys.stdin)[\"tensors\"]}; w=t[\"w\"][\"weight_of\"]; assert w[\"op\"] == \"MatMul\" and w[\"axis\"] == -1 and \"note\" in w, w'"
