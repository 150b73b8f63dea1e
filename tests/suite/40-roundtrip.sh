# 40-roundtrip.sh - every fixture and every corpus model survives load ->
# save and compress -> decompress: onnx.checker accepts the result, ONNX
# Runtime gives bit-identical outputs, and nnzip's parameter count agrees
# with onnx's own.
group "round trips: fixtures and corpus models"
W=$T/rt
mkdir -p "$W"

# What ORT is given as inputs for a model: fixtures carry a spec beside
# them, corpus models are described in the shared models.json.
oracle_inputs() {
    case $1 in
    "$CORPUS"/*) echo "--corpus-model $(basename "$1" .onnx) --corpus-json ../shared/corpus/models.json" ;;
    *) [ -f "${1%.onnx}.inputs.json" ] && echo "--inputs ${1%.onnx}.inputs.json" ;;
    esac
}

models=$(ls "$FIX"/*.onnx 2>/dev/null)
if [ -d "$CORPUS" ] && ls "$CORPUS"/*.onnx >/dev/null 2>&1; then
    models="$models $(ls "$CORPUS"/*.onnx)"
else
    skip "corpus round trips" "no corpus in $CORPUS (../shared/corpus/fetch.sh could not fetch it)"
fi
$PYTHON tests/tools/onnx_facts.py $models >"$W/facts.jsonl"

for m in $models; do
    n=$(basename "$m" .onnx)
    ours=$($NNZIP info --json "$m" 2>"$W/err" | $PYTHON -c 'import json,sys; print(json.load(sys.stdin)["totals"]["parameters"])' 2>>"$W/err")
    theirs=$($PYTHON -c 'import json,sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d["path"] == sys.argv[2]: print(d.get("params"))' "$W/facts.jsonl" "$m")
    if [ -n "$ours" ] && [ "$ours" = "$theirs" ]; then
        pass "$n: info counts $ours parameters, as onnx does"
    else
        fail "$n: info counts '$ours' parameters, onnx counts '$theirs'" "$(head -c 300 "$W/err")"
    fi

    check "$n: convert (load -> save)" $NNZIP convert "$m" -o "$W/$n.conv.onnx"
    check "$n: compress" $NNZIP -q compress "$m" -o "$W/$n.nnz"
    check "$n: decompress" $NNZIP -q decompress "$W/$n.nnz" -o "$W/$n.back.onnx"
    check "$n: the blob rebuilds the bytes load -> save gives" cmp "$W/$n.conv.onnx" "$W/$n.back.onnx"
    check "$n: verify passes with error 0" $NNZIP -q verify "$m" "$W/$n.nnz" --max-rel-error 0
    # blob overhead for a lossless blob: at most 1% of the weights + 64 bytes
    # a tensor, beyond the fixed part every blob has (header, section table,
    # the alignment before the payload, the directory count, metadata:
    # about 450 bytes); the
    # model's size includes its external data file
    $NNZIP info --json "$W/$n.nnz" >"$W/$n.info.json" 2>/dev/null
    check "$n: lossless blob overhead is at most 1% + 64 B per tensor (+ header and metadata)" $PYTHON -c '
import json, os, sys
info = json.load(open(sys.argv[1]))
blob, model = os.path.getsize(sys.argv[2]), os.path.getsize(sys.argv[3])
data = sys.argv[3][:-5] + ".data"
if os.path.exists(data):
    model += os.path.getsize(data)
w, nt = info["totals"]["payload_bytes"], info["totals"]["tensors"]
sec = {s["name"]: s for s in info["sections"]}
g = sec["graph"] if "graph" in sec else sec["graph_compressed"]  # stored or compressed (2.1)
gap = sec["payload"]["offset"] - g["offset"] - g["bytes"]
fixed = 64 + 32 * len(info["sections"]) + gap + 4 + sec.get("metadata", {"bytes": 0})["bytes"]
over = blob - model - fixed
print(f"overhead {over} B (+ {fixed} fixed) over {w} B of weights in {nt} tensors")
sys.exit(0 if over <= 0.01 * w + 64 * nt else 1)' "$W/$n.info.json" "$W/$n.nnz" "$m"
done
$PYTHON tests/tools/onnx_facts.py --check $(for m in $models; do echo "$W/$(basename "$m" .onnx).back.onnx"; done) >"$W/checked.jsonl"
for m in $models; do
    n=$(basename "$m" .onnx)
    if grep "\"$W/$n.back.onnx\"" "$W/checked.jsonl" | grep -q '"checker": "ok"'; then
        pass "$n: onnx.checker accepts the rebuilt model"
    else
        fail "$n: onnx.checker rejects the rebuilt model" "$(grep "$n.back" "$W/checked.jsonl")"
    fi
    [ -f "${m%.onnx}.data" ] && cp "${m%.onnx}.data" "$W/" 2>/dev/null
    if $ORACLE "$m" "$W/$n.back.onnx" $(oracle_inputs "$m") --json >"$W/$n.ort.json" 2>"$W/err" &&
        grep -q '"all_bit_identical":true' "$W/$n.ort.json"; then
        pass "$n: ONNX Runtime outputs are bit-identical after the round trip"
    else
        fail "$n: ONNX Runtime outputs differ or did not run" "$(head -c 400 "$W/$n.ort.json") $(head -c 400 "$W/err")"
    fi
done
