# 45-prune-channels.sh - prune:structured=channel removes channels from the
# graph. Each rule (residual group, depthwise conv, BN, Concat offsets,
# per-channel Mul, Flatten -> Gemm rows) is checked against a reference that
# slices the original weights with numpy (tests/tools/channel_ref.py), both
# run in ONNX Runtime; onnx.checker passes on what nnzip writes; sparsity=0
# changes nothing; what cannot be followed is kept whole and said.
group "prune-channels"
N=$NNZIP
S=$NNZIP_SAN
W=$T/prune-channels
mkdir -p "$W"
EDGE=$FIX/edge_channels.onnx
CNN=$FIX/digits_cnn.onnx

# checker FILE: onnx.checker with full_check (shape inference included)
checker() {
    $PYTHON -c 'import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)' "$1"
}

# bit_identical REF TEST INPUTS: ONNX Runtime gives the same bits
bit_identical() {
    $ORACLE "$1" "$2" --inputs "$3" --json >"$W/cmp.json" 2>"$W/cmp.err" &&
        $PYTHON -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["all_bit_identical"] else 1)' "$W/cmp.json"
}

# ---- each rule against the numpy reference, in ONNX Runtime
for fx in edge_channels digits_cnn; do
    for v in "0.3 l2" "0.5 l2" "0.7 l1"; do
        set -- $v
        name="$fx sparsity=$1 norm=$2"
        if $S -q compress "$FIX/$fx.onnx" -o "$W/$fx.nnz" -f -p "prune:sparsity=$1,structured=channel,norm=$2" \
                --onnx-out "$W/$fx.onnx" --json >"$W/$fx.json" 2>"$W/err" &&
            checker "$W/$fx.onnx" 2>>"$W/err" &&
            $PYTHON tests/tools/channel_ref.py "$fx" "$FIX/$fx.onnx" "$W/ref.onnx" "$1" "$2" "$W/$fx.json" 2>>"$W/err" &&
            bit_identical "$W/ref.onnx" "$W/$fx.onnx" "$FIX/$fx.inputs.json"; then
            pass "$name: channels removed as the numpy reference removes them, outputs bit-identical in ORT"
        else
            fail "$name: differs from the numpy reference" "$(head -c 400 "$W/err") $(head -c 300 "$W/cmp.json")"
        fi
    done
done

# ---- what cannot be followed: kept whole, and the report says why
$N compress "$EDGE" -o "$W/e.nnz" -f -p "prune:sparsity=0.5,structured=channel" --json >"$W/e.json" 2>"$W/e.err"
check "the layers lose channels: the edge fixture's residual group, conv_c, conv_d; params in the report" \
    $PYTHON -c '
import json, sys
d = json.load(open(sys.argv[1]))["prune"]
L = {l["layer"]: l for l in d["layers"]}
assert L["conv_c"]["removed"] == 3 and L["conv_d"]["removed"] == 5, L
assert L["conv_a"]["removed"] == L["conv_b"]["removed"] > 0
assert L["conv_a"]["group"] == L["conv_b"]["group"]
assert d["graph_rewritten"] and d["params_after"] < d["params_before"]' "$W/e.json"

check "a group ending in a graph output is kept whole, with the reason per layer" $PYTHON -c '
import json, sys
L = {l["layer"]: l for l in json.load(open(sys.argv[1]))["prune"]["layers"]}
for k, out in (("conv_e", "pooled"), ("fc", "logits")):
    assert L[k]["decision"] == "kept whole" and L[k]["removed"] == 0, L[k]
    assert "'"'"'%s'"'"' is a graph output" % out in L[k]["reason"], L[k]' "$W/e.json"
check "a warning on stderr points at the reasons" grep -q "kept them all.*prune.layers" "$W/e.err"
check "a layer left out (skip=) keeps its whole group: its partner says so" sh -c "
$N -q compress '$EDGE' -o '$W/s.nnz' -f -p 'prune:sparsity=0.5,structured=channel,skip=conv_b.weight' --json |
$PYTHON -c '
import json, sys
L = {l[\"layer\"]: l for l in json.load(sys.stdin)[\"prune\"][\"layers\"]}
assert L[\"conv_a\"][\"decision\"] == \"kept whole\" and \"not selected\" in L[\"conv_a\"][\"reason\"], L[\"conv_a\"]
assert \"conv_b\" not in L'"
# a shape op reading a channel group: rebuild the edge fixture with Shape(a) as a second output
$PYTHON - "$EDGE" "$W/shape.onnx" <<'PY'
import sys, onnx
from onnx import helper, TensorProto
m = onnx.load(sys.argv[1])
m.graph.node.append(helper.make_node("Shape", ["d"], ["d_shape"], name="shape_of_d"))
m.graph.output.append(helper.make_tensor_value_info("d_shape", TensorProto.INT64, [4]))
onnx.save(m, sys.argv[2])
PY
check "a Shape reading a group keeps it whole (and the Concat after it keeps that part)" sh -c "
$N -q compress '$W/shape.onnx' -o '$W/sh.nnz' -f -p 'prune:sparsity=0.5,structured=channel' --onnx-out '$W/sh.onnx' --json |
$PYTHON -c '
import json, sys
L = {l[\"layer\"]: l for l in json.load(sys.stdin)[\"prune\"][\"layers\"]}
assert L[\"conv_a\"][\"decision\"] == \"kept whole\" and \"Shape\" in L[\"conv_a\"][\"reason\"], L[\"conv_a\"]
assert L[\"conv_c\"][\"removed\"] == 3' && $ORACLE --run '$W/sh.onnx' --inputs '$FIX/edge_channels.inputs.json' >/dev/null"

# ---- sparsity=0: the graph and the outputs as they were
check "sparsity=0 keeps every channel: same graph, bit-identical outputs in ORT" sh -c "
$S -q compress '$EDGE' -o '$W/z.nnz' -f -p 'prune:sparsity=0,structured=channel' --onnx-out '$W/z.onnx' &&
$PYTHON -c '
import sys, onnx
a, b = onnx.load(sys.argv[1]).graph, onnx.load(sys.argv[2]).graph
assert [n.SerializeToString() for n in a.node] == [n.SerializeToString() for n in b.node]
assert [(t.name, list(t.dims), t.raw_data) for t in a.initializer] == [(t.name, list(t.dims), t.raw_data) for t in b.initializer]
assert len(a.value_info) == len(b.value_info)' '$EDGE' '$W/z.onnx'" &&
check "  ... and ONNX Runtime agrees bit for bit" bit_identical "$EDGE" "$W/z.onnx" "$FIX/edge_channels.inputs.json"

# ---- composes with quantize and huffman; decompress, verify, run
check "prune:structured=channel | quantize:bits=8 | huffman: decompressed, checked, runs, verify passes" sh -c "
$S -q compress '$CNN' -o '$W/q.nnz' -f -p 'prune:sparsity=0.5,structured=channel | quantize:bits=8 | huffman' &&
$S -q decompress '$W/q.nnz' -o '$W/q.onnx' -f &&
$PYTHON -c 'import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)' '$W/q.onnx' &&
$ORACLE '$CNN' '$W/q.onnx' --dataset '$FIX/digits_test.json' >/dev/null &&
$S -q verify '$CNN' '$W/q.nnz'"
check "verify lists the tensors the channel cut resized, without failing on them" sh -c "
$N verify '$CNN' '$W/q.nnz' --json 2>/dev/null | $PYTHON -c '
import json, sys
d = json.load(sys.stdin)
assert d[\"ok\"] and \"pw.weight\" in d[\"channels_removed\"], d'"
check "the same model and options give the same blob" sh -c "
$N -q compress '$EDGE' -o '$W/d1.nnz' -f -p 'prune:sparsity=0.5,structured=channel,group=sum' &&
$N -q compress '$EDGE' -o '$W/d2.nnz' -f -p 'prune:sparsity=0.5,structured=channel,group=sum' &&
cmp '$W/d1.nnz' '$W/d2.nnz'"

# ---- refused
expect "scope=global does not combine with structured=channel" 2 "does not combine with scope=global" \
    $S compress "$EDGE" -o "$W/bad.nnz" -p "prune:sparsity=0.5,structured=channel,scope=global"
check "  ... and nothing is written" test ! -e "$W/bad.nnz"

# ---- real models (when the corpus is there): checker passes, ORT runs them
for m in ppocr_det_v4 mlsd_large320; do
    [ -f "$CORPUS/$m.onnx" ] || continue
    check "$m at 50% (group=sum): onnx.checker passes and ONNX Runtime runs it" sh -c "
$N -q compress '$CORPUS/$m.onnx' -o '$W/$m.nnz' -f -p 'prune:sparsity=0.5,structured=channel,group=sum' --onnx-out '$W/$m.onnx' &&
$PYTHON -c 'import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)' '$W/$m.onnx' &&
$ORACLE '$CORPUS/$m.onnx' '$W/$m.onnx' --corpus-model '$m' >/dev/null"
done

# ---- per-layer overrides from a config file
cat >"$W/cfg.json" <<'JSON'
{"pipeline": "prune:sparsity=0.5,structured=channel",
 "layers": {"conv3.weight": {"prune": {"sparsity": 0.25}}, "conv1.weight": {"prune": null}}}
JSON
check "a config's per-layer override gives a layer its own share, or keeps its channels" sh -c "
$S -q compress '$CNN' -o '$W/cf.nnz' -f --config '$W/cfg.json' --onnx-out '$W/cf.onnx' --json |
$PYTHON -c '
import json, sys
L = {l[\"layer\"]: l for l in json.load(sys.stdin)[\"prune\"][\"layers\"]}
assert L[\"conv3\"][\"kept\"] == 24 and L[\"pwconv\"][\"kept\"] == 16 and \"conv1\" not in L, L' &&
$PYTHON -c '
import sys, onnx
w = {t.name: list(t.dims) for t in onnx.load(sys.argv[1]).graph.initializer}
assert w[\"conv1.weight\"][0] == 16 and w[\"conv3.weight\"][:2] == [24, 16], w' '$W/cf.onnx' &&
$S -q verify '$CNN' '$W/cf.nnz'"
