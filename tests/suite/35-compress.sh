# 35-compress.sh - what compress's report measures and how --target-rel-error
# chooses: the overall error is over the tensors the pipeline changed, and
# compress, its text line and verify give the same figures; the search with
# a --config fixes what the config names and chooses the rest.
group "compress: overall error, --target-rel-error"
N=$NNZIP_SAN
W=$T/compress
mkdir -p "$W"

# jget FILE EXPR: a Python expression over the JSON document `d`
jget() {
    $PYTHON -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# ---- the overall error: a model whose weights are half skipped ---------------
# Two MatMuls with [128,128] weights a.weight and b.weight of one scale.
$PYTHON - "$W/half.onnx" <<'PY'
import sys, numpy as np, onnx
from onnx import helper as h, TensorProto as T, numpy_helper as nh
r = np.random.default_rng(7)
ws = [nh.from_array(r.normal(0, 0.1, (128, 128)).astype(np.float32), n) for n in ("a.weight", "b.weight")]
g = h.make_graph([h.make_node("MatMul", ["x", "a.weight"], ["h"]), h.make_node("MatMul", ["h", "b.weight"], ["y"])],
                 "g", [h.make_tensor_value_info("x", T.FLOAT, [1, 128])],
                 [h.make_tensor_value_info("y", T.FLOAT, [1, 128])], ws)
onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 13)]), sys.argv[1])
PY
i=0
for pipe in "quantize:bits=4,skip=b.weight | huffman" "prune:sparsity=0.5,only=a.weight" \
    "prune:sparsity=0.5,only=a.weight | quantize:bits=5,only=a.weight | huffman"; do
    i=$((i + 1))
    if $N compress "$W/half.onnx" -o "$W/half$i.nnz" -p "$pipe" --json >"$W/half$i.json" 2>"$W/half$i.txt" &&
        $N verify "$W/half.onnx" "$W/half$i.nnz" --json >"$W/half$i.v.json" 2>"$W/half$i.v.txt"; then
        pass "'$pipe': compress and verify run"
    else
        fail "'$pipe': compress and verify run" "$(head -c 400 "$W/half$i.txt" "$W/half$i.v.txt")"
        continue
    fi
    check "'$pipe': weights.rel_l2 is a.weight's own error, not diluted by the skipped b.weight" \
        $PYTHON - "$W/half.onnx" "$W/half$i.json" "$W/half$i.v.json" <<'PY'
import json, sys, onnx, numpy as np
from onnx import numpy_helper as nh
norm2 = {t.name: float(np.sum(nh.to_array(t).astype(np.float64) ** 2))
         for t in onnx.load(sys.argv[1]).graph.initializer}
rep, ver = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
w, ov = rep["weights"], ver["overall"]
t = {x["name"]: x for x in rep["tensors"]}
ra = t["a.weight"]["rel_l2"]
assert t["b.weight"]["rel_l2"] == 0 and ra > 0.01, t
assert w["changed"] == 1 and abs(w["rel_l2"] - ra) <= 1e-12 * ra, (w, ra)
# the whole-blob figure, from the model's own norms
whole = (ra * ra * norm2["a.weight"] / (norm2["a.weight"] + norm2["b.weight"])) ** 0.5
assert abs(w["rel_l2_all"] - whole) <= 1e-9 * whole and w["rel_l2_all"] < 0.75 * w["rel_l2"], (w, whole)
# verify measures the same, from the decoded blob
assert ov["changed"] == 1 and abs(ov["rel_l2"] - w["rel_l2"]) <= 1e-12 * ra, (ov, w)
assert abs(ov["rel_l2_all"] - w["rel_l2_all"]) <= 1e-12 * ra and ov["max_abs"] == w["max_abs"], (ov, w)
PY
    a=$(grep -oE 'rel_l2 [0-9.e+-]+ over the 1 changed' "$W/half$i.txt" | cut -d' ' -f2)
    b=$(grep -oE '1 changed, overall rel_l2 [0-9.e+-]+' "$W/half$i.v.txt" | cut -d' ' -f5)
    if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" = "$(jget "$W/half$i.json" '"%.4g" % d["weights"]["rel_l2"]')" ]; then
        pass "'$pipe': compress's and verify's text lines give the JSON's rel_l2 ($a)"
    else
        fail "'$pipe': compress's and verify's text lines give the JSON's rel_l2" "compress '$a', verify '$b'"
    fi
done
expect "a lossless blob: no tensor changed, rel_l2 0" 0 "over 2 tensors; rel_l2 0 over the 0 changed" \
    $N compress "$W/half.onnx" -o "$W/lossless.nnz"
check "verify of the lossless blob: 0 changed, overall 0" sh -c "
    $N -q verify '$W/half.onnx' '$W/lossless.nnz' --json > '$W/ll.json' &&
    $PYTHON -c 'import json,sys; o=json.load(open(sys.argv[1]))[\"overall\"]; assert o[\"changed\"] == 0 and o[\"rel_l2\"] == 0 == o[\"rel_l2_all\"], o' '$W/ll.json'"

# ---- --target-rel-error, alone and with a config -------------------------------
M=$FIX/digits_mlp.onnx
check "--target-rel-error 0.01: every weight searched, each within 0.01" sh -c "
    $N -q compress '$M' -o '$W/t.nnz' --target-rel-error 0.01 --json > '$W/t.json' &&
    $N -q verify '$M' '$W/t.nnz' --max-rel-error 0.01 &&
    $PYTHON -c '
import json, sys
t = {x[\"name\"]: x for x in json.load(open(sys.argv[1]))[\"tensors\"]}
for n in (\"fc1.weight\", \"fc2.weight\", \"fc3.weight\"):
    assert t[n][\"target_search\"] and \"huffman\" in t[n][\"target_choice\"], t[n]
    assert 0 < t[n][\"rel_l2\"] <= 0.01, t[n]
' '$W/t.json'"
cat >"$W/fix.json" <<'JSON'
{"pipeline": [{"pass": "quantize", "bits": 8}, {"pass": "huffman"}],
 "layers": {"fc1.weight": {"quantize": {"bits": 5}}},
 "skip": ["fc3.*"]}
JSON
check "--target-rel-error with --config: the config fixes fc1 (5 bits) and fc3 (skipped), the search chooses fc2" sh -c "
    $N -q compress '$M' -o '$W/tc.nnz' --config '$W/fix.json' --target-rel-error 0.01 --json > '$W/tc.json' &&
    $PYTHON -c '
import json, sys
t = {x[\"name\"]: x for x in json.load(open(sys.argv[1]))[\"tensors\"]}
a, b, c = t[\"fc1.weight\"], t[\"fc2.weight\"], t[\"fc3.weight\"]
assert a[\"target_choice\"] == \"fixed by --config\" and \"target_search\" not in a, a
assert a[\"quantize\"][\"bits\"] == 5 and \"entropy_bits\" in a[\"huffman\"] and a[\"rel_l2\"] > 0.01, a
assert b[\"target_search\"] and b[\"target_choice\"] != \"fixed by --config\" and 0 < b[\"rel_l2\"] <= 0.01, b
assert c[\"target_choice\"] == \"fixed by --config\" and c[\"rel_l2\"] == 0 and c[\"encoding\"][\"layout\"] == \"raw\", c
' '$W/tc.json'"
check "the combined blob verifies: fc1 at its 5-bit error, the rest within 0.01" sh -c "
    $N -q verify '$M' '$W/tc.nnz' --json > '$W/tcv.json'; $PYTHON -c '
import json, sys
v = {x[\"name\"]: x[\"rel_l2\"] for x in json.load(open(sys.argv[1]))[\"tensors\"]}
r = {x[\"name\"]: x[\"rel_l2\"] for x in json.load(open(sys.argv[2]))[\"tensors\"]}
assert v[\"fc1.weight\"] > 0.01 and v[\"fc2.weight\"] <= 0.01 and v[\"fc3.weight\"] == 0, v
assert all(abs(v[n] - r[n]) <= 1e-12 for n in r), (v, r)
# verify also decodes the tiny tensors kept in the graph (format 1.1): exact
assert all(v[n] == 0 for n in v if n not in r), (v, r)
' '$W/tcv.json' '$W/tc.json'"
if $N -q decompress "$W/tc.nnz" -o "$W/tc.onnx" 2>"$W/err" &&
    acc=$(sh tests/tools/accuracy.sh "$M" "$W/tc.onnx" "$FIX/digits_test.json" 2>>"$W/err") &&
    ref=$(sh tests/tools/accuracy.sh "$M" "$M" "$FIX/digits_test.json" 2>>"$W/err") &&
    $PYTHON -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) - 0.01 else 1)' "$acc" "$ref"; then
    pass "the combined blob's model keeps its accuracy in ONNX Runtime ($acc, float $ref)"
else
    fail "the combined blob's model keeps its accuracy in ONNX Runtime" "acc '${acc:-}' ref '${ref:-}' $(head -c 300 "$W/err")"
fi
expect "-p with --target-rel-error says to give the fixed tensors in a config" 2 \
    "to fix some tensors and let the search choose the rest, give those tensors in a --config file" \
    $N compress "$M" -o "$W/bad.nnz" -p 'quantize:bits=8' --target-rel-error 0.01
echo '{"pipeline": "quantize:bits=8 | huffman"}' >"$W/noglob.json"
expect "a config that names no tensor is refused with --target-rel-error, saying why" 2 \
    "names no tensors \(no layers, skip or only\)" \
    $N compress "$M" -o "$W/bad.nnz" --config "$W/noglob.json" --target-rel-error 0.01
check "no blob was written by the refused runs" test ! -e "$W/bad.nnz"
