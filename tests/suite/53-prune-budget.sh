# 53-prune-budget.sh - prune:max-output-error=X: per-group channel counts
# (structured=channel) and per-tensor sparsity chosen against an output
# budget. The measured error holds on the calibration inputs, as verify and
# ONNX Runtime measure it on the written model; the search's zeroed channels
# give the rewritten graph's error; a tighter budget prunes less; the counts
# differ across layers; budgets in a pipeline are cumulative; bad options.
group "prune budget: prune:max-output-error"
W=$T/prune-budget
mkdir -p "$W"
CNN=$FIX/digits_cnn.onnx
EDGE=$FIX/edge_channels.onnx

jget() {
    $PYTHON -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
le() {
    $PYTHON -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)' "$1" "$2"
}
# close A B: A and B agree to 0.1% (the same measure, two runtimes)
close() {
    $PYTHON -c 'import sys; a, b = map(float, sys.argv[1:]); sys.exit(0 if abs(a - b) <= 1e-3 * max(a, b) + 1e-7 else 1)' "$1" "$2"
}
checker() {
    $PYTHON -c 'import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)' "$1"
}

# 12 calibration sets of 16 real digit images (the first 192 of the test
# set), and the same 192 as an ONNX Runtime dataset: nothing held out, so
# the calibration error is the error on exactly these images.
$PYTHON - "$FIX" "$W" <<'EOF'
import json, os, sys
import numpy as np
fix, w = sys.argv[1], sys.argv[2]
x = np.fromfile(os.path.join(fix, "digits_test_x.f32"), dtype=np.float32).reshape(360, 64)
y = np.fromfile(os.path.join(fix, "digits_test_y.i64"), dtype=np.int64)
for k in range(12):
    d = os.path.join(w, "cal", "test_data_set_%d" % k)
    os.makedirs(d, exist_ok=True)
    np.save(os.path.join(d, "input.npy"), x[16 * k:16 * k + 16].reshape(16, 1, 8, 8))
x[:192].tofile(os.path.join(w, "seen_x.f32"))
y[:192].tofile(os.path.join(w, "seen_y.i64"))
json.dump({"x": "seen_x.f32", "x_shape": [192, 64], "y": "seen_y.i64", "n": 192},
          open(os.path.join(w, "seen.json"), "w"))
EOF
CAL="--inputs $W/cal --holdout 0"

# ---- structured=channel: the budget holds, in nnzip and in ONNX Runtime ------------
for x in 0.1 0.3; do
    if $NNZIP -q compress "$CNN" -o "$W/c$x.nnz" -f --onnx-out "$W/c$x.onnx" --json \
        -p "prune:structured=channel,max-output-error=$x" $CAL >"$W/c$x.json" 2>"$W/err" &&
        $ORACLE "$CNN" "$W/c$x.onnx" --dataset "$W/seen.json" --json >"$W/c$x.ort.json" 2>>"$W/err"; then
        cal=$(jget "$W/c$x.json" 'd["prune_budget"]["output_error_calibration"]')
        ort=$(jget "$W/c$x.ort.json" 'd["worst_rel_l2"]')
        gone=$(jget "$W/c$x.json" 'sum(g["removed"] for g in d["prune_budget"]["groups"])')
        if le "$cal" "$x" && le "$ort" "$x" && close "$cal" "$ort" && [ "$gone" -gt 0 ]; then
            pass "channels at $x: $gone removed; error $cal on the calibration images, ONNX Runtime $ort on the written model"
        else
            fail "channels at $x: calibration $cal, ORT $ort (budget $x, the two should agree), $gone removed"
        fi
        check "  ... verify --max-output-error $x passes on the same images" \
            $NNZIP -q verify "$CNN" "$W/c$x.nnz" --max-output-error "$x" --inputs "$W/cal"
        check "  ... onnx.checker passes on the rewritten graph" checker "$W/c$x.onnx"
    else
        fail "channels at $x: compress or the oracle did not run" "$(head -c 400 "$W/err")"
    fi
done
g1=$(jget "$W/c0.1.json" 'sum(g["removed"] for g in d["prune_budget"]["groups"])' 2>/dev/null)
g3=$(jget "$W/c0.3.json" 'sum(g["removed"] for g in d["prune_budget"]["groups"])' 2>/dev/null)
if [ -n "$g1" ] && [ -n "$g3" ] && [ "$g1" -lt "$g3" ]; then
    pass "a 10% budget removes fewer channels ($g1) than a 30% one ($g3)"
else
    fail "channels removed: 10% budget '$g1', 30% budget '$g3'"
fi
check "the groups lose different shares of their channels (an allocation, not one setting)" $PYTHON -c '
import json, sys
g = json.load(open(sys.argv[1]))["prune_budget"]["groups"]
shares = {round(x["removed"] / x["channels"], 4) for x in g}
assert len(g) == 3 and len(shares) > 1, g' "$W/c0.3.json"
check "--json: each group lists its layers, channels kept, sensitivity, params and MACs saved" $PYTHON -c '
import json, sys
d = json.load(open(sys.argv[1]))
b = d["prune_budget"]
for g in b["groups"]:
    assert g["layers"] and g["kept"] + g["removed"] == g["channels"], g
    assert len(g["sensitivity"]) >= 3 and all(p["output_error"] > 0 for p in g["sensitivity"]), g
    assert (g["params_saved"] > 0) == (g["removed"] > 0) and (g["macs_saved"] > 0) == (g["removed"] > 0), g
assert b["params_after"] < b["params_before"] and b["macs_after"] < b["macs_before"], b
assert b["params_after"] == d["prune"]["params_after"]
assert b["met"] and b["cost"] == "params" and b["output_error_heldout"] is None' "$W/c0.3.json"
expect "-v: a line per group and the measured errors" 0 "budget conv3 .*channels.*MACs saved" \
    $NNZIP compress "$CNN" -o "$W/v.nnz" -f -v -p "prune:structured=channel,max-output-error=0.3" $CAL
grep -q "prune: output budget 0.3 (pooled): measured" "$T/err" ||
    fail "-v: no 'prune: output budget' line" "$(head -c 300 "$T/err")"

# ---- norm=output: channels ranked by their own measured output error ------------
if $NNZIP -q compress "$CNN" -o "$W/o.nnz" -f --onnx-out "$W/o.onnx" --json \
    -p "prune:structured=channel,max-output-error=0.2,norm=output" $CAL >"$W/o.json" 2>"$W/err"; then
    check "norm=output: the budget holds, and each group loses its channels of least measured error" $PYTHON -c '
import json, sys
d = json.load(open(sys.argv[1]))
b = d["prune_budget"]
assert b["norm"] == "output" and b["output_error_calibration"] <= 0.2, b
L = {l["layer"]: l for l in d["prune"]["layers"]}
gone = 0
for g in b["groups"]:
    err = g["channel_output_errors"]
    assert len(err) == g["channels"] and min(err) > 0, g
    rm = set(L[g["layers"][0]]["removed_channels"])
    order = sorted(range(len(err)), key=lambda k: (err[k], k))
    assert rm == set(order[:len(rm)]), (g["layers"], rm, order[:len(rm)])
    gone += len(rm)
assert gone > 0' "$W/o.json"
    check "  ... onnx.checker passes" checker "$W/o.onnx"
else
    fail "norm=output did not run" "$(head -c 400 "$W/err")"
fi

# ---- zeroing the removed channels in the search is the rewritten graph ------------
# (residual group, depthwise, BN, Concat offsets, Flatten -> Gemm: the edge fixture)
for m in edge_channels digits_cnn; do
    check "$m: the search's error (channels zeroed) is the rewritten graph's (ASan build)" sh -c "
    $NNZIP_SAN -q compress '$FIX/$m.onnx' -o '$W/z.nnz' -f -p 'prune:structured=channel,max-output-error=0.3,cost=macs' \
        --input-spec '$FIX/$m.inputs.json' --calib-sets 6 --json |
    $PYTHON -c '
import json, sys
b = json.load(sys.stdin)[\"prune_budget\"]
a, c = b[\"output_error_search\"], b[\"output_error_calibration\"]
assert sum(g[\"removed\"] for g in b[\"groups\"]) > 0 and b[\"cost\"] == \"macs\", b
assert abs(a - c) <= 1e-5 * c + 1e-9, (a, c)'"
done

# ---- single weights ------------------------------------------------------------------
for x in 0.01 0.05; do
    if $NNZIP -q compress "$CNN" -o "$W/w$x.nnz" -f --onnx-out "$W/w$x.onnx" --json \
        -p "prune:max-output-error=$x" $CAL >"$W/w$x.json" 2>"$W/err" &&
        $ORACLE "$CNN" "$W/w$x.onnx" --dataset "$W/seen.json" --json >"$W/w$x.ort.json" 2>>"$W/err"; then
        cal=$(jget "$W/w$x.json" 'd["prune_budget"]["output_error_calibration"]')
        ort=$(jget "$W/w$x.ort.json" 'd["worst_rel_l2"]')
        sp=$(jget "$W/w$x.json" '"%.3f" % d["prune_budget"]["sparsity"]')
        if le "$cal" "$x" && le "$ort" "$x" && close "$cal" "$ort" && le 0.01 "$sp"; then
            pass "weights at $x: sparsity $sp; error $cal on the calibration images, ONNX Runtime $ort"
        else
            fail "weights at $x: calibration $cal, ORT $ort (budget $x), sparsity $sp"
        fi
        check "  ... verify --max-output-error $x passes on the same images" \
            $NNZIP -q verify "$CNN" "$W/w$x.nnz" --max-output-error "$x" --inputs "$W/cal"
    else
        fail "weights at $x: compress or the oracle did not run" "$(head -c 400 "$W/err")"
    fi
done
check "a 1% budget prunes fewer weights than a 5% one; tensors get different sparsities" $PYTHON -c '
import json, sys
a, b = (json.load(open(f))["prune_budget"] for f in sys.argv[1:])
assert a["weights_pruned"] < b["weights_pruned"], (a["weights_pruned"], b["weights_pruned"])
assert len({round(t["sparsity"], 3) for t in b["tensors"]}) > 1, b["tensors"]
t = {x["name"]: x for x in json.load(open(sys.argv[2]))["tensors"]}
' "$W/w0.01.json" "$W/w0.05.json"
check "the pruned weights are exact zeros in the rebuilt model, as many as reported" $PYTHON -c '
import json, sys, onnx
from onnx import numpy_helper
b = json.load(open(sys.argv[1]))["prune_budget"]
m = {t.name: numpy_helper.to_array(t) for t in onnx.load(sys.argv[2]).graph.initializer}
o = {t.name: numpy_helper.to_array(t) for t in onnx.load(sys.argv[3]).graph.initializer}
for t in b["tensors"]:
    z = int((m[t["name"]] == 0).sum()) - int((o[t["name"]] == 0).sum())
    assert z == t["pruned"], (t["name"], z, t["pruned"])' "$W/w0.05.json" "$W/w0.05.onnx" "$CNN"

# ---- budgets in a pipeline are cumulative: the last one holds for all -----------------
# One generated input, nothing held out: the input verify generates too.
ONE="--input-spec $FIX/digits_cnn.inputs.json --calib-sets 1 --holdout 0"
for p in "prune:max-output-error=0.01 | quantize:max-output-error=0.02 | huffman" \
         "prune:structured=channel,max-output-error=0.05 | quantize:max-output-error=0.08 | huffman"; do
    if $NNZIP -q compress "$CNN" -o "$W/pq.nnz" -f --json -p "$p" $ONE >"$W/pq.json" 2>"$W/err" &&
        $NNZIP -q verify "$CNN" "$W/pq.nnz" --max-output-error 1 --input-spec "$FIX/digits_cnn.inputs.json" \
            --json >"$W/pq.v.json" 2>>"$W/err"; then
        pr=$(jget "$W/pq.json" 'd["prune_budget"]["output_error_calibration"]')
        qb=$(jget "$W/pq.json" 'd["quantize_budget"]["output_error_calibration"]')
        qx=$(jget "$W/pq.json" 'd["quantize_budget"]["max_output_error"]')
        px=$(jget "$W/pq.json" 'd["prune_budget"]["max_output_error"]')
        ver=$(jget "$W/pq.v.json" 'd["output_error"]["worst_rel_l2"]')
        if le "$pr" "$px" && le "$qb" "$qx" && close "$qb" "$ver" && le "$pr" "$ver"; then
            pass "'$p': prune measured $pr, then the whole pipeline $qb against the source model (verify: $ver)"
        else
            fail "'$p': prune $pr (<= $px?), pipeline $qb (<= $qx?), verify $ver (= the pipeline's?)"
        fi
    else
        fail "'$p' did not run" "$(head -c 400 "$W/err")"
    fi
done

check "the ASan build runs both budgets in one pipeline cleanly (digits MLP)" \
    $NNZIP_SAN -q compress "$FIX/digits_mlp.onnx" -o "$W/mlp.nnz" -f \
    -p 'prune:max-output-error=0.02 | quantize:max-output-error=0.04 | huffman' \
    --input-spec "$FIX/digits_mlp.inputs.json" --calib-sets 6

check "sweep runs channel-budget points on its inputs: two points, two different blobs" sh -c "
$NNZIP -q sweep '$CNN' --grid 'prune:structured=channel,max-output-error=0.1,0.3' --inputs '$W/cal' -o '$W/s.csv' -j 1 &&
$PYTHON -c '
import csv, sys
r = list(csv.DictReader(open(sys.argv[1])))
assert len(r) == 2 and r[0][\"bytes\"] != r[1][\"bytes\"] and not r[0][\"error\"], r' '$W/s.csv'"

# ---- deterministic -------------------------------------------------------------------
check "the same budget and inputs give the same bytes" sh -c "
$NNZIP -q compress '$CNN' -o '$W/d1.nnz' -f -p 'prune:structured=channel,max-output-error=0.3' $CAL &&
$NNZIP -q compress '$CNN' -o '$W/d2.nnz' -f -p 'prune:structured=channel,max-output-error=0.3' $CAL &&
cmp '$W/d1.nnz' '$W/d2.nnz'"

# ---- bad options ------------------------------------------------------------------------
S="$NNZIP compress $CNN -o $W/bad.nnz -f"
expect "max-output-error with sparsity= is refused" 2 "drop sparsity=" \
    $S -p 'prune:structured=channel,max-output-error=0.05,sparsity=0.5'
expect "max-output-error with threshold= is refused" 2 "drop sparsity=, threshold=" \
    $S -p 'prune:max-output-error=0.05,threshold=1'
expect "max-output-error with scope=global is refused" 2 "does not combine with scope=global" \
    $S -p 'prune:max-output-error=0.05,scope=global'
expect "max-output-error with group= is refused" 2 "drop group=" \
    $S -p 'prune:structured=channel,max-output-error=0.05,group=sum'
expect "max-output-error=0 is refused" 2 "max-output-error=0" \
    $S -p 'prune:max-output-error=0'
expect "error= without max-output-error is refused" 2 "add max-output-error" \
    $S -p 'prune:sparsity=0.5,error=per-input'
expect "norm=output without a budget is refused" 2 "norm=output ranks each channel" \
    $S -p 'prune:structured=channel,sparsity=0.3,norm=output'
expect "cost= without structured=channel is refused" 2 "cost= says what" \
    $S -p 'prune:max-output-error=0.05,cost=macs'
expect "a calibration folder that is not there is bad input" 3 "nope" \
    $S -p 'prune:max-output-error=0.05' --inputs "$W/nope"
[ -e "$W/bad.nnz" ] && fail "a refused budget left $W/bad.nnz behind"

# ---- a real model (when the corpus is there) ------------------------------------------------
if [ -f "$CORPUS/ppocr_det_v4.onnx" ]; then
    if $NNZIP -q compress "$CORPUS/ppocr_det_v4.onnx" -o "$W/pp.nnz" -f --onnx-out "$W/pp.onnx" --json \
        -p "prune:structured=channel,max-output-error=0.05,error=per-input" --input-spec ../shared/corpus/models.json \
        --spec-model ppocr_det_v4 --calib-sets 8 --holdout 0 >"$W/pp.json" 2>"$W/err" &&
        checker "$W/pp.onnx" 2>>"$W/err" &&
        $ORACLE "$CORPUS/ppocr_det_v4.onnx" "$W/pp.onnx" --corpus-model ppocr_det_v4 --batches 8 \
            --json >"$W/pp.ort.json" 2>>"$W/err"; then
        cal=$(jget "$W/pp.json" 'd["prune_budget"]["output_error_calibration"]')
        ort=$(jget "$W/pp.ort.json" 'd["worst_rel_l2"]')
        pa=$(jget "$W/pp.json" '"%d -> %d" % (d["prune_budget"]["params_before"], d["prune_budget"]["params_after"])')
        if le "$cal" 0.05 && le "$ort" 0.05 && [ "$(jget "$W/pp.json" 'd["prune_budget"]["params_after"] < d["prune_budget"]["params_before"]')" = True ]; then
            pass "ppocr_det_v4 at 5%: params $pa; error $cal (calibration), ONNX Runtime $ort; checker passes"
        else
            fail "ppocr_det_v4 at 5%: calibration $cal, ORT $ort, params $pa"
        fi
    else
        fail "ppocr_det_v4 channel budget did not run" "$(head -c 400 "$W/err")"
    fi
else
    skip "ppocr_det_v4 channel budget (no corpus: make corpus)"
fi
