# 49-quantize.sh - the quantize pass end to end, measured in ONNX Runtime:
# INT8 accuracy on the trained digits fixtures, per-channel against
# per-tensor on depthwise models, the QDQ models (onnx.checker, the weights
# they compute bit for bit, ORT outputs), the report, and bad input.
group "quantize: accuracy, depthwise, QDQ, reports, bad input"
W=$T/quant
mkdir -p "$W"
CJSON="--corpus-json ../shared/corpus/models.json"
have_corpus=0
if ls "$CORPUS"/blazeface_back256.onnx "$CORPUS"/mlsd_large320.onnx "$CORPUS"/ppocr_det_v4.onnx \
    "$CORPUS"/silero_vad_legacy.onnx >/dev/null 2>&1; then
    have_corpus=1
else
    skip "quantize on corpus models" "no corpus in $CORPUS"
fi

# jget FILE EXPR: evaluate a Python expression over the JSON document `d`
jget() {
    $PYTHON -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# ---- INT8 accuracy on the digits test set ------------------------------------
# The default (per channel, every weight), weights of 256 elements and more
# per channel, and every weight per tensor, side by side.
for m in digits_mlp digits_cnn digits_cnn_folded; do
    line="$m:"
    for v in "channel:quantize:bits=8" "channel-256:quantize:bits=8,min-elements=256" \
        "tensor-all:quantize:bits=8,granularity=tensor,min-elements=1"; do
        label=${v%%:*}
        pipe=${v#*:}
        if $NNZIP -q compress "$FIX/$m.onnx" -o "$W/$m.$label.nnz" -p "$pipe" \
            --onnx-out "$W/$m.$label.onnx" 2>"$W/err" &&
            $ORACLE "$FIX/$m.onnx" "$W/$m.$label.onnx" --dataset "$FIX/digits_test.json" --json \
                >"$W/$m.$label.acc.json" 2>>"$W/err"; then
            ref=$(jget "$W/$m.$label.acc.json" '"%.2f" % (100 * d["accuracy"]["ref"])')
            got=$(jget "$W/$m.$label.acc.json" '"%.2f" % (100 * d["accuracy"]["test"])')
            line="$line $label $got%"
            case $label in channel*)
                if $PYTHON -c 'import sys; sys.exit(0 if float(sys.argv[2]) >= float(sys.argv[1]) - 0.5 else 1)' "$ref" "$got"; then
                    pass "$m: INT8 $label top-1 $got% is within 0.5 points of float $ref% (ORT)"
                else
                    fail "$m: INT8 $label top-1 $got% is not within 0.5 points of float $ref%"
                fi
            esac
        else
            fail "$m: $pipe did not run" "$(head -c 400 "$W/err")"
        fi
    done
    echo "  accuracy $line (float $ref%)"
done

# ---- per channel is never worse than per tensor on depthwise models ---------
# ORT output error (relative L2) of the float-decoded model against the original.
depthwise="$FIX/digits_cnn_folded.onnx"
[ "$have_corpus" = 1 ] && depthwise="$depthwise $CORPUS/blazeface_back256.onnx $CORPUS/mlsd_large320.onnx"
for m in $depthwise; do
    n=$(basename "$m" .onnx)
    case $m in
    "$CORPUS"/*) inputs="--corpus-model $n $CJSON" ;;
    *) inputs="--dataset $FIX/digits_test.json" ;;
    esac
    for extra in "" ",min-elements=256"; do
        for g in channel tensor; do
            $NNZIP -q compress -f "$m" -o "$W/$n.dw.nnz" -p "quantize:bits=8,granularity=$g$extra" \
                --onnx-out "$W/$n.$g.onnx" 2>"$W/err"
            $ORACLE "$m" "$W/$n.$g.onnx" $inputs --json >"$W/$n.$g.json" 2>>"$W/err"
        done
        pc=$(jget "$W/$n.channel.json" 'd["worst_rel_l2"]' 2>/dev/null)
        pt=$(jget "$W/$n.tensor.json" 'd["worst_rel_l2"]' 2>/dev/null)
        if $PYTHON -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)' "$pc" "$pt" 2>/dev/null; then
            pass "$n${extra:+ (256 elements and up)}: INT8 per channel (output rel_l2 $pc) is no worse than per tensor ($pt)"
        else
            fail "$n${extra:+ (256 elements and up)}: INT8 per channel (output rel_l2 '$pc') is worse than per tensor ('$pt')" "$(head -c 300 "$W/err")"
        fi
    done
done

# ---- QDQ models ----------------------------------------------------------------
# What each case must become, then: onnx.checker (full), the weights the QDQ
# nodes compute equal the float-decoded weights bit for bit (numpy), ORT runs
# it with outputs close to the float-decoded model (bit-identical where ORT
# folds the nodes into constants), decompress --qdq writes the same file.
# model | pipeline | what the quantized tensors must become | ORT tolerance (bit = bit-identical)
qdq_cases="
$FIX/digits_cnn_folded.onnx|quantize:bits=8,min-elements=1|DequantizeLinear|dq
$FIX/digits_mlp.onnx|quantize:bits=4,scheme=asym|DequantizeLinear|dq
$FIX/edge_opset9.onnx|quantize:bits=8,min-elements=1|Cast+Mul|bit
$FIX/edge_opset17.onnx|quantize:kmeans,bits=4,min-elements=1|Gather|bit
$FIX/digits_mlp.onnx|quantize:fp16|Cast|bit
$FIX/edge_constants.onnx|quantize:bits=8,min-elements=1|DequantizeLinear|dq
$FIX/edge_if_subgraph.onnx|quantize:bits=8,min-elements=1|DequantizeLinear|dq
$FIX/edge_convtranspose.onnx|quantize:bits=8,min-elements=1|DequantizeLinear|dq
$FIX/edge_lstm.onnx|quantize:bits=8,min-elements=1|DequantizeLinear|dq
$FIX/digits_mlp.onnx|quantize:bits=12|float|bit"
[ "$have_corpus" = 1 ] && qdq_cases="$qdq_cases
$CORPUS/blazeface_back256.onnx|quantize:bits=8|Cast+Mul|bit
$CORPUS/mlsd_large320.onnx|quantize:bits=8,granularity=tensor|DequantizeLinear|dq
$CORPUS/ppocr_det_v4.onnx|quantize:bits=8,min-elements=256|Cast+Mul|bit
$CORPUS/ppocr_det_v4.onnx|quantize:kmeans,bits=6|Gather|bit
$CORPUS/silero_vad_legacy.onnx|quantize:bits=8|DequantizeLinear|dq
$CORPUS/silero_vad_legacy.onnx|quantize:fp16|Cast|bit"
k=0
while IFS='|' read -r m pipe as tol <&3; do
    [ -n "$m" ] || continue
    k=$((k + 1))
    n=$(basename "$m" .onnx)
    c="$n ($pipe)"
    case $m in
    "$CORPUS"/*) inputs="--corpus-model $n $CJSON" ;;
    *) inputs="--inputs ${m%.onnx}.inputs.json" ;;
    esac
    q=$W/q$k.qdq.onnx f=$W/q$k.float.onnx
    if ! $NNZIP_SAN compress "$m" -o "$W/q$k.nnz" -p "$pipe" --onnx-out "$q" --qdq --json \
        >"$W/q$k.json" 2>"$W/q$k.err"; then
        fail "$c: --qdq failed" "$(head -c 400 "$W/q$k.err")"
        continue
    fi
    $NNZIP -q decompress "$W/q$k.nnz" -o "$f"
    forms=$(jget "$W/q$k.json" '" ".join(sorted(set(x["as"] for x in d["qdq_tensors"])))')
    if [ "$forms" = "$as" ]; then
        pass "$c: every quantized tensor becomes $as (report: qdq_tensors)"
    else
        fail "$c: tensors became '$forms', expected '$as'" "$(head -c 300 "$W/q$k.err")"
    fi
    case $as in
    Cast+Mul) check "$c: stderr says why per-channel codes sit behind Cast+Mul" \
        grep -q "DequantizeLinear needs opset" "$W/q$k.err" ;;
    float) check "$c: stderr says why the tensors stay float" \
        grep -q "kept as float" "$W/q$k.err" ;;
    esac
    check "$c: onnx.checker (full_check) accepts the QDQ model" $PYTHON -c '
import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)' "$q"
    if [ "$as" != float ]; then
        check "$c: the QDQ nodes compute the float-decoded weights bit for bit" \
            $PYTHON tests/tools/qdq_same_weights.py "$f" "$q"
    fi
    $ORACLE "$f" "$q" $inputs --json >"$W/q$k.ort.json" 2>"$W/q$k.ort.err"
    r_all=$(jget "$W/q$k.ort.json" 'd["worst_rel_l2"]' 2>/dev/null)
    if [ "$tol" = bit ]; then
        if grep -q '"all_bit_identical":true' "$W/q$k.ort.json"; then
            pass "$c: ORT outputs are bit-identical to the float-decoded model"
        else
            fail "$c: ORT outputs differ from the float-decoded model (rel_l2 '$r_all')" "$(head -c 300 "$W/q$k.ort.err")"
        fi
    else
        # DequantizeLinear is not folded: Conv/Gemm/MatMul then read computed
        # weights (another kernel path), and at level 'all' ORT fuses
        # DequantizeLinear -> MatMul into an integer MatMul that quantizes
        # the activations too (docs/passes/quantize.md)
        $ORACLE "$f" "$q" $inputs --opt-level basic --json >"$W/q$k.ortb.json" 2>>"$W/q$k.ort.err"
        r_basic=$(jget "$W/q$k.ortb.json" 'd["worst_rel_l2"]' 2>/dev/null)
        if $PYTHON -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 1e-5 and float(sys.argv[2]) < 2e-2 else 1)' "$r_basic" "$r_all" 2>/dev/null; then
            pass "$c: ORT outputs match the float-decoded model (rel_l2 $r_basic at basic, $r_all at all)"
        else
            fail "$c: ORT outputs too far from the float-decoded model (rel_l2 '$r_basic' at basic, '$r_all' at all)" "$(head -c 300 "$W/q$k.ort.err")"
        fi
    fi
    if [ "$k" -le 3 ]; then
        check "$c: decompress --qdq writes the file compress --onnx-out --qdq wrote" \
            sh -c "$NNZIP -q decompress '$W/q$k.nnz' -o '$W/q$k.again.onnx' --qdq && cmp '$q' '$W/q$k.again.onnx'"
    fi
done 3<<EOF
$qdq_cases
EOF

# ---- the report ------------------------------------------------------------------
$NNZIP -q compress "$FIX/digits_cnn_folded.onnx" -o "$W/r.nnz" -p 'quantize:bits=8' --json >"$W/r.json" 2>"$W/err"
check "the report gives bits, steps, errors, SQNR and levels for each quantized tensor" $PYTHON -c '
import json, sys
d = json.load(open(sys.argv[1]))
qs = [t for t in d["tensors"] if "quantize" in t]
assert len(qs) == 5, [t["name"] for t in qs]
for t in qs:
    q = t["quantize"]
    for k in ("bits", "scheme", "granularity", "axis", "channels", "levels", "step_min", "step_median",
              "step_max", "entropy_bits", "clipped", "rel_l2", "max_abs", "sqnr_db"):
        assert k in q, (t["name"], k)
    assert q["bits"] == 8 and q["granularity"] == "channel" and q["clipped"] == 0
    assert 0 < q["rel_l2"] < 0.01 and q["sqnr_db"] > 40 and 1 < q["levels"] <= 255
' "$W/r.json"
check "every conv/gemm weight is quantized by default, the 144-element ones too; biases stay float" $PYTHON -c '
import json, sys
d = json.load(open(sys.argv[1]))
names = sorted(t["name"] for t in d["tensors"] if "quantize" in t)
assert names == ["conv1.weight", "conv3.weight", "dw.weight", "fc.weight", "pw.weight"], names
' "$W/r.json"
expect "4-bit steps per tensor warn and say to use per-channel steps" 0 \
    "warning: [0-9]+ tensors \(.*'dw.weight'.*\): 4-bit steps per tensor: small channels will round to zero; use granularity=channel" \
    $NNZIP compress -f "$FIX/digits_cnn_folded.onnx" -o "$W/w.nnz" -p 'quantize:bits=4,granularity=tensor,min-elements=1'
if [ "$have_corpus" = 1 ]; then
    expect "channel ranges 100x apart warn when steps are per tensor" 0 \
        "channel ranges differ [0-9]+x \(largest vs median\)" \
        $NNZIP compress -f "$CORPUS/blazeface_back256.onnx" -o "$W/w.nnz" -p 'quantize:bits=8,granularity=tensor'
fi
expect "an unmet error target warns and says what to do" 0 "max-rel-error 1e-05 needs more than 4 bits here" \
    $NNZIP compress -f "$FIX/digits_mlp.onnx" -o "$W/w.nnz" -p 'quantize:max-rel-error=0.00001,bits=4'
check "k-means is deterministic" sh -c "$NNZIP -q compress '$FIX/digits_mlp.onnx' -o '$W/k1.nnz' -p 'quantize:kmeans,bits=5' && $NNZIP -q compress '$FIX/digits_mlp.onnx' -o '$W/k2.nnz' -p 'quantize:kmeans,bits=5' && cmp '$W/k1.nnz' '$W/k2.nnz'"
worst=$($NNZIP -q compress -f "$FIX/digits_mlp.onnx" -o "$W/k1.nnz" -p 'quantize:kmeans,bits=5' --json |
    $PYTHON -c 'import json,sys; print(max(t["rel_l2"] for t in json.load(sys.stdin)["tensors"]))')
check "verify passes a k-means blob at its reported error ($worst)" \
    $NNZIP -q verify "$FIX/digits_mlp.onnx" "$W/k1.nnz" --max-rel-error "$worst"
expect "verify fails it just below" 1 "over --max-rel-error" \
    $NNZIP verify "$FIX/digits_mlp.onnx" "$W/k1.nnz" --max-rel-error "$($PYTHON -c "print($worst * 0.99)")"

# ---- an already quantized model -------------------------------------------------
# The QDQ model written above is an INT8 model: its codes are never quantized
# again, and huffman still codes them, losslessly.
$NNZIP -q compress "$FIX/digits_cnn_folded.onnx" -o "$W/pre.nnz" -p 'quantize:bits=8' \
    --onnx-out "$W/pre.qdq.onnx" --qdq 2>/dev/null
expect "an already quantized model passes through quantize, with a warning" 0 \
    "the model is already quantized: 5 int8/uint8 weights" \
    $NNZIP compress "$W/pre.qdq.onnx" -o "$W/pre2.nnz" -p 'quantize:bits=8 | huffman' --json
cp "$T/out" "$W/pre2.json"
check "huffman codes its int8 codes" $PYTHON -c '
import json, sys
d = json.load(open(sys.argv[1]))
q = [t for t in d["tensors"] if t["name"].endswith("_quantized")]
assert len(q) == 5 and all("huffman" in t and "quantize" not in t for t in q), q
' "$W/pre2.json"
check "the already quantized model's codes come back exactly" \
    $NNZIP -q verify "$W/pre.qdq.onnx" "$W/pre2.nnz" --max-rel-error 0

# ---- bad input: a clear error, and no output at all ----------------------------
$PYTHON - "$FIX/digits_mlp.onnx" "$W/nan.onnx" <<'PY'
import sys, onnx, numpy as np
from onnx import numpy_helper as nh
m = onnx.load(sys.argv[1])
for i, t in enumerate(m.graph.initializer):
    if t.name == "fc2.weight":
        a = nh.to_array(t).copy()
        a.flat[7] = np.nan
        m.graph.initializer[i].CopyFrom(nh.from_array(a, t.name))
onnx.save(m, sys.argv[2])
PY
bad_cases="
2#bits=1: expected an integer in 2..16#$FIX/digits_mlp.onnx#quantize:bits=1
2#bits=abc: expected an integer in 2..16#$FIX/digits_mlp.onnx#quantize:bits=abc
2#granularity=row: expected one of channel.tensor#$FIX/digits_mlp.onnx#quantize:granularity=row
2#unknown option 'sparsity' \(valid: bits=2..16#$FIX/digits_mlp.onnx#quantize:sparsity=0.5
2#kmeans with 1024 centroids, but the tensor has only 144 distinct values; use bits=7 or fewer#$FIX/digits_cnn_folded.onnx#quantize:kmeans,bits=10,only=dw.weight
2#tensor 'fc.weight_[a-z_]+' \((int8|float), read by DequantizeLinear\) is already quantized#$W/pre.qdq.onnx#quantize:bits=8,only=fc.weight*
3#tensor 'fc2.weight': quantize: value 7 is NaN#$W/nan.onnx#quantize:bits=8"
while IFS='#' read -r code msg m pipe <&3; do
    [ -n "$code" ] || continue
    rm -f "$W/bad.nnz" "$W/bad.onnx"
    expect "'$pipe' on $(basename "$m") fails with $code: $msg" "$code" "$msg" \
        $NNZIP_SAN compress "$m" -o "$W/bad.nnz" -p "$pipe" --onnx-out "$W/bad.onnx" --qdq
    check "'$pipe': no output file is left" sh -c "! ls '$W' | grep -q '^bad\.\|nnzip-tmp'"
done 3<<EOF
$bad_cases
EOF
