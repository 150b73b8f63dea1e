# 43-fold.sh - the fold pass: BatchNormalization folded into the Conv,
# ConvTranspose or Gemm before it, Identity and Dropout removed; ONNX Runtime
# gives the folded model the original's outputs within float rounding
# (relative L2 <= 1e-6), and fold composes before quantize.
group "fold: BatchNormalization, Identity, Dropout"
N=$NNZIP_SAN
W=$T/fold
mkdir -p "$W"

# ops FILE: "Op count" per op type of the main graph and its subgraphs
ops() {
    $PYTHON -c '
import collections, onnx, sys
c = collections.Counter()
def walk(g):
    for n in g.node:
        c[n.op_type] += 1
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                walk(a.g)
walk(onnx.load(sys.argv[1]).graph)
print(" ".join("%s=%d" % kv for kv in sorted(c.items())))' "$1"
}

# ---- outputs within float rounding, on every model with these patterns -------
models="$FIX/edge_bn_unfolded.onnx $FIX/digits_cnn.onnx"
if [ -f "$CORPUS/ppocr_det_v4.onnx" ]; then
    models="$models $CORPUS/ppocr_det_v4.onnx"
else
    skip "fold on ppocr_det_v4" "no corpus in $CORPUS"
fi
for m in $models; do
    n=$(basename "$m" .onnx)
    case $m in
    "$CORPUS"/*) inputs="--corpus-model $n --corpus-json ../shared/corpus/models.json" ;;
    *digits_*) inputs="--dataset $FIX/digits_test.json" ;;
    *) inputs="--inputs ${m%.onnx}.inputs.json --batches 4" ;;
    esac
    if $N -q compress "$m" -o "$W/$n.nnz" -p fold --onnx-out "$W/$n.onnx" --json >"$W/$n.json" 2>"$W/err"; then
        pass "$n: compress -p fold"
    else
        fail "$n: compress -p fold" "$(head -c 400 "$W/err")"
        continue
    fi
    check "$n: onnx.checker (full_check) accepts the folded model" $PYTHON -c '
import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)' "$W/$n.onnx"
    if $ORACLE "$m" "$W/$n.onnx" $inputs --json >"$W/$n.ort.json" 2>"$W/err" &&
        r=$($PYTHON -c 'import json,sys; d=json.load(open(sys.argv[1])); r=d["worst_rel_l2"]; print(r); sys.exit(0 if r <= 1e-6 else 1)' "$W/$n.ort.json"); then
        pass "$n: ONNX Runtime outputs of the folded model within float rounding (rel_l2 $r <= 1e-6)"
    else
        fail "$n: ONNX Runtime outputs of the folded model" "$(head -c 300 "$W/$n.ort.json") $(head -c 300 "$W/err")"
    fi
    check "$n: verify passes (the folded weights replace the old, not compared)" \
        $N -q verify "$m" "$W/$n.nnz" --max-rel-error 0
done
check "edge_bn_unfolded: three BNs folded, the one after a Relu left with its reason" \
    $PYTHON - "$W/edge_bn_unfolded.json" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))["fold"]
b = {x["node"]: x for x in f["batchnorms"]}
assert f["folded"] == 3 and f["identities_removed"] == 2, f
assert [b[k]["folded"] for k in ("bn1", "bn2", "bn3", "bn4")] == [True, True, False, True], b
assert b["bn3"]["reason"] == "its input is not made by a Conv, ConvTranspose or Gemm", b["bn3"]
assert (b["bn1"]["layer"], b["bn2"]["layer"], b["bn4"]["layer"]) == ("Conv", "ConvTranspose", "Gemm")
PY
check "edge_bn_unfolded: the folded graph has one BN, no Identity or Dropout" \
    test "$(ops "$W/edge_bn_unfolded.onnx")" = 'BatchNormalization=1 Conv=1 ConvTranspose=1 Flatten=1 Gemm=1 MaxPool=1 Relu=2'
check "edge_bn_unfolded: the BN parameters are gone, the layers read NAME_folded tensors" $PYTHON -c '
import onnx, sys
g = onnx.load(sys.argv[1]).graph
names = sorted(t.name for t in g.initializer)
assert not any(n.startswith(("bn1.", "bn2.", "bn4.")) and not n.endswith("_folded") for n in names), names
assert all(n in names for n in ("conv.weight_folded", "conv.bias_folded", "deconv.weight_folded",
                                "bn2.bias_folded", "fc.weight_folded", "fc.bias_folded")), names
assert "conv.weight" not in names and "bn3.scale" in names, names
' "$W/edge_bn_unfolded.onnx"
check "digits_cnn: folding keeps the test accuracy exactly" $PYTHON -c '
import json, sys
a = json.load(open(sys.argv[1]))["accuracy"]; assert a["ref"] == a["test"], a' "$W/digits_cnn.ort.json"

# ---- fold | quantize: the folded weights are what gets quantized -----------------
if $N -q compress "$FIX/digits_cnn.onnx" -o "$W/fq.nnz" -p 'fold | quantize:bits=8 | huffman' --json \
    --onnx-out "$W/fq.onnx" >"$W/fq.json" 2>"$W/err" &&
    $ORACLE "$FIX/digits_cnn.onnx" "$W/fq.onnx" --dataset "$FIX/digits_test.json" --json >"$W/fq.ort.json" 2>>"$W/err"; then
    check "fold | quantize:bits=8 | huffman: the folded depthwise weight is quantized, no BN is left" $PYTHON - \
        "$W/fq.json" "$W/fq.onnx" <<'PY'
import json, onnx, sys
t = {x["name"]: x for x in json.load(open(sys.argv[1]))["tensors"]}
assert "quantize" in t["dw.weight_folded"] and "dw.weight" not in t, sorted(t)
assert not any(n.op_type == "BatchNormalization" for n in onnx.load(sys.argv[2]).graph.node)
PY
    check "fold | quantize:bits=8 | huffman: top-1 within 0.5 points of float in ONNX Runtime" $PYTHON -c '
import json, sys
a = json.load(open(sys.argv[1]))["accuracy"]; assert a["test"] >= a["ref"] - 0.005, a' "$W/fq.ort.json"
else
    fail "fold | quantize:bits=8 | huffman on digits_cnn" "$(head -c 400 "$W/err")"
fi

# ---- choosing layers, order, options ----------------------------------------------
check "fold:skip=conv.weight leaves that layer's BN, saying why" sh -c "
    $N -q compress '$FIX/edge_bn_unfolded.onnx' -o '$W/s.nnz' -p 'fold:skip=conv.weight' --json |
    $PYTHON -c 'import json,sys; b={x[\"node\"]: x for x in json.load(sys.stdin)[\"fold\"][\"batchnorms\"]}; assert not b[\"bn1\"][\"folded\"] and \"skip\" in b[\"bn1\"][\"reason\"] and b[\"bn2\"][\"folded\"], b'"
expect "quantize before fold is refused, saying to put fold first" 2 \
    "fold after quantize is refused: fold rewrites the float graph the others start from; put it first" \
    $N compress "$FIX/digits_cnn.onnx" -o "$W/bad.nnz" -p 'quantize:bits=8 | fold'
expect "fold takes no options of its own" 2 "fold: unknown option 'eps'" \
    $N compress "$FIX/digits_cnn.onnx" -o "$W/bad.nnz" -p 'fold:eps=1'
check "no blob was written by the refused runs" test ! -e "$W/bad.nnz"
check "a model with nothing to fold compresses to the lossless blob" sh -c "
    $N -q compress '$FIX/digits_mlp.onnx' -o '$W/nf.nnz' -p fold && $N -q compress '$FIX/digits_mlp.onnx' -o '$W/nf2.nnz' &&
    $N -q decompress '$W/nf.nnz' -o '$W/nf.onnx' && $N -q decompress '$W/nf2.nnz' -o '$W/nf2.onnx' && cmp '$W/nf.onnx' '$W/nf2.onnx'"
