#!/bin/sh
# bench_channels.sh - prune:structured=channel (docs/passes/prune.md), as a
# Markdown section (bench/benchmarks.sh puts it in docs/BENCHMARKS.md):
#   speed   parameters, MACs and ONNX Runtime inference time of the model with
#           50% of the channels removed, beside the original (one thread,
#           the same input, runs alternated: bench/ort_run.js), and the
#           output error; the digits CNN and two corpus CNNs
#   curve   the digits CNN's test accuracy, no retraining, for 10-70% of the
#           channels removed, beside unstructured pruning that keeps the
#           same number of nonzero parameters
#   budget  prune:structured=channel,max-output-error=X at 1% and 5% (and a
#           looser point on the digits CNN): parameters and MACs removed,
#           measured, held-out and ONNX Runtime error, search time (the
#           models named in CHANNEL_BUDGET_MODELS, default all three)
# Run by `make bench` (bench/bench.sh), or alone:
#   sh bench/bench_channels.sh [speed] [curve] [budget]   (default: all)
set -u
cd "$(dirname "$0")/.." || exit 2
. bench/lib.sh
P=$BT/channels
mkdir -p "$P"
sections=${*:-speed curve budget}
COST="$PYTHON bench/model_cost.py"

# err JSON: "worst rel L2 / lowest cosine" of a compare.js --json document
err() {
    $PYTHON -c '
import json, sys
d = json.load(open(sys.argv[1]))
cos = min(o["cosine"] for o in d["outputs"].values() if o.get("cosine") is not None)
acc = d.get("accuracy")
print("%.3f / %.3f%s" % (d["worst_rel_l2"], cos,
      "; accuracy %.1f%% (from %.1f%%)" % (100 * acc["test"], 100 * acc["ref"]) if acc else ""))' "$1"
}

# pct A B: how much B is below A, in percent
pct() { echo "scale=1; 100 * ($1 - $2) / $1" | bc -l; }

if want speed; then
    echo "## Structured pruning: channels removed from the graph"
    echo
    echo "\`prune:sparsity=0.5,structured=channel\` removes half of the output channels of every"
    echo "layer it can follow ([prune.md](passes/prune.md)), and the matching input channels of the"
    echo "layers that read them. Parameters: every float initializer. MACs: the Conv, ConvTranspose,"
    echo "Gemm and MatMul layers, from the shapes ONNX Runtime gives (\`bench/model_cost.py\`). Time:"
    echo "ONNX Runtime 1.30, one thread, the same input for both models, $RUNS rounds alternating"
    echo "the two (\`bench/ort_run.js\`), median per run. Output error: worst relative L2 / lowest"
    echo "cosine over the outputs (tests/oracle/compare.js), no retraining. \`group=every\` (the"
    echo "default) removes a channel of a residual group only where every layer of the group"
    echo "removes it; \`group=sum\` ranks the group's channels by their summed scores and removes"
    echo "half of them."
    echo
    echo "| model | input | group | params | MACs | ORT time per run | output error |"
    echo "|---|---|---|---|---|---|---|"
    for spec in "digits_cnn:$FIX/digits_cnn.onnx:64,1,8,8:50" \
                "ppocr_det_v4:$CORPUS/ppocr_det_v4.onnx:1,3,320,320:5" \
                "mlsd_large320:$CORPUS/mlsd_large320.onnx:1,320,320,4:2"; do
        name=${spec%%:*} rest=${spec#*:}
        model=${rest%%:*} rest=${rest#*:}
        dims=${rest%%:*} iters=${rest#*:}
        [ -f "$model" ] || { echo "| $name | (not found: make corpus) | | | | | |"; continue; }
        for g in every sum; do
            out=$P/$name.$g.onnx
            $N -q compress -f "$model" -o "$P/x.nnz" -f -p "prune:sparsity=0.5,structured=channel,group=$g" \
                --onnx-out "$out" || { echo "| $name | compress failed | | | | | |"; continue; }
            set -- $($COST "$model" "$dims" | $PYTHON -c 'import json,sys; d=json.load(sys.stdin); print(d["params"], d["macs"])') \
                   $($COST "$out" "$dims" | $PYTHON -c 'import json,sys; d=json.load(sys.stdin); print(d["params"], d["macs"])')
            t=$(node bench/ort_run.js time "$model" "$out" "$dims" "$RUNS" "$iters" |
                $PYTHON -c 'import json,sys; d=json.load(sys.stdin); print("%.2f ms -> %.2f ms (%.0f%% less)" % (d["a_ms"], d["b_ms"], 100 * (1 - d["ratio"])))')
            if [ "$name" = digits_cnn ]; then
                $ORACLE "$model" "$out" --dataset "$FIX/digits_test.json" --json >"$P/cmp.json"
            else
                $ORACLE "$model" "$out" --corpus-model "$name" --json >"$P/cmp.json"
            fi
            printf "| %s | %s | %s | %s -> %s (%s%% less) | %s -> %s (%s%% less) | %s | %s |\n" \
                "$name" "$dims" "$g" "$1" "$3" "$(pct "$1" "$3")" "$2" "$4" "$(pct "$2" "$4")" "$t" \
                "$(err "$P/cmp.json")"
        done
    done
    echo
fi

if want curve; then
    echo "### The digits CNN without retraining: channels removed against single weights"
    echo
    echo "\`build/fixtures/digits_cnn.onnx\`, test accuracy on the 360 test digits in ONNX Runtime."
    echo "Channels: \`prune:sparsity=S,structured=channel\` (the last layer, the classifier, keeps"
    echo "its 10 outputs). Weights: \`prune:sparsity=U\` on the same layers' weights, U chosen so"
    echo "that the nonzero parameters are as many as the channel-pruned model has (U = removed"
    echo "parameters / the weights prune selects); the model keeps its shapes and its speed."
    echo
    echo "| S (channels) | params kept | MACs kept | accuracy, channels | U (weights) | accuracy, weights |"
    echo "|---:|---:|---:|---:|---:|---:|"
    CNN=$FIX/digits_cnn.onnx
    set -- $($COST "$CNN" 360,1,8,8 | $PYTHON -c 'import json,sys; d=json.load(sys.stdin); print(d["params"], d["macs"])')
    p0=$1 m0=$2
    wsel=$($PYTHON -c '
import sys, onnx
from onnx import numpy_helper
m = onnx.load(sys.argv[1]); w = {i.name: i for i in m.graph.initializer}
n = sum(numpy_helper.to_array(w[x.input[1]]).size for x in m.graph.node if x.op_type in ("Conv", "Gemm"))
print(n)' "$CNN")
    for s in 0.1 0.2 0.3 0.4 0.5 0.6 0.7; do
        $N -q compress -f "$CNN" -o "$P/c.nnz" -f -p "prune:sparsity=$s,structured=channel" --onnx-out "$P/c.onnx"
        set -- $($COST "$P/c.onnx" 360,1,8,8 | $PYTHON -c 'import json,sys; d=json.load(sys.stdin); print(d["params"], d["macs"])')
        u=$(echo "scale=6; ($p0 - $1) / $wsel" | bc -l)
        $N -q compress -f "$CNN" -o "$P/u.nnz" -f -p "prune:sparsity=$u" --onnx-out "$P/u.onnx"
        ac=$($ORACLE "$CNN" "$P/c.onnx" --dataset "$FIX/digits_test.json" --json |
             $PYTHON -c 'import json,sys; print("%.1f%%" % (100 * json.load(sys.stdin)["accuracy"]["test"]))')
        au=$($ORACLE "$CNN" "$P/u.onnx" --dataset "$FIX/digits_test.json" --json |
             $PYTHON -c 'import json,sys; print("%.1f%%" % (100 * json.load(sys.stdin)["accuracy"]["test"]))')
        printf "| %s | %s (%.0f%%) | %.0f%% | %s | %.3f | %s |\n" "$s" "$1" \
            "$(echo "100 * $1 / $p0" | bc -l)" "$(echo "100 * $2 / $m0" | bc -l)" "$ac" "$u" "$au"
    done
    echo
fi

if want budget; then
    echo "### Channel counts chosen by an output budget"
    echo
    echo "\`prune:structured=channel,max-output-error=X\` ([prune.md](passes/prune.md), \"Output budget\"):"
    echo "each group's sensitivity measured in nnzip's interpreter, counts by equal slope of parameters"
    echo "against output error, confirmed by whole-model runs; the error reported is measured on the"
    echo "rewritten graph. Calibration: the digits CNN on 12 sets of 16 test images (the first 192; 9"
    echo "calibrate, 3 held out), the corpus models on 32 inputs generated from the corpus spec (seed 1;"
    echo "24 calibrate, 8 held out). *ORT*: the written model against the original in ONNX Runtime, on"
    echo "the 360 test digits (accuracy beside) or on 8 draws of seed 7 that the search never saw."
    echo "Parameters: every float initializer; MACs: Conv/ConvTranspose/Gemm/MatMul (\`bench/model_cost.py\`)."
    echo "*Search*: seconds of the whole budget step on this shared 2-core machine. No retraining."
    echo
    echo "| model | X | params | MACs | error: calibration / held-out | ORT | channels removed (groups) | search |"
    echo "|---|---|---|---|---|---|---|---|"
    $PYTHON - "$FIX" "$P" <<'PY'
import os, sys
import numpy as np
fix, w = sys.argv[1], sys.argv[2]
x = np.fromfile(os.path.join(fix, "digits_test_x.f32"), dtype=np.float32).reshape(360, 64)
for k in range(12):
    d = os.path.join(w, "cal", "test_data_set_%d" % k)
    os.makedirs(d, exist_ok=True)
    np.save(os.path.join(d, "input.npy"), x[16 * k:16 * k + 16].reshape(16, 1, 8, 8))
PY
    for spec in "digits_cnn:$FIX/digits_cnn.onnx:360,1,8,8:0.01 0.05 0.1 0.2" \
                "ppocr_det_v4:$CORPUS/ppocr_det_v4.onnx:1,3,320,320:0.01 0.05" \
                "mlsd_large320:$CORPUS/mlsd_large320.onnx:1,320,320,4:0.01 0.05"; do
        name=${spec%%:*} rest=${spec#*:}
        model=${rest%%:*} rest=${rest#*:}
        dims=${rest%%:*} budgets=${rest#*:}
        case " ${CHANNEL_BUDGET_MODELS:-$name} " in *" $name "*) ;; *) continue ;; esac
        [ -f "$model" ] || { echo "| $name | (not found: make corpus) | | | | | | |"; continue; }
        if [ "$name" = digits_cnn ]; then
            cal="--inputs $P/cal" ort="--dataset $FIX/digits_test.json"
        else
            cal="--input-spec ../shared/corpus/models.json --spec-model $name"
            ort="--corpus-model $name --seed 7 --batches 8"
        fi
        set -- $($COST "$model" "$dims" | $PYTHON -c 'import json,sys; d=json.load(sys.stdin); print(d["params"], d["macs"])')
        p0=$1 m0=$2
        for x in $budgets; do
            out=$P/$name.b$x.onnx
            # shellcheck disable=SC2086
            $N -q compress -f "$model" -o "$P/b.nnz" -p "prune:structured=channel,max-output-error=$x" \
                $cal --onnx-out "$out" --json >"$P/b.json" 2>"$P/b.err" ||
                { echo "| $name | $x | compress failed: $(head -c 120 "$P/b.err") | | | | | |"; continue; }
            set -- $($COST "$out" "$dims" | $PYTHON -c 'import json,sys; d=json.load(sys.stdin); print(d["params"], d["macs"])')
            # shellcheck disable=SC2086
            $ORACLE "$model" "$out" $ort --json >"$P/cmp.json"
            $PYTHON - "$P/b.json" "$P/cmp.json" "$name" "$x" "$p0" "$m0" "$1" "$2" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))["prune_budget"]
c = json.load(open(sys.argv[2]))
name, x = sys.argv[3], sys.argv[4]
p0, m0, p1, m1 = map(float, sys.argv[5:9])
acc = c.get("accuracy")
ort = "%.4f" % c["worst_rel_l2"] + ("; accuracy %.1f%% (from %.1f%%)" % (100 * acc["test"], 100 * acc["ref"]) if acc else "")
held = b["output_error_heldout"]
g = b["groups"]
gone = sum(x["removed"] for x in g)
print("| %s | %s | %s -> %s (%.1f%% less) | %s M -> %s M (%.1f%% less) | %.4f / %s | %s | %d of %d in %d of %d groups | %.1f s |" % (
    name, x, "{:,}".format(int(p0)), "{:,}".format(int(p1)), 100 * (p0 - p1) / p0,
    "{:,.1f}".format(m0 / 1e6), "{:,.1f}".format(m1 / 1e6),
    100 * (m0 - m1) / m0, b["output_error_calibration"], "%.4f" % held if held is not None else "-", ort,
    gone, sum(x["channels"] for x in g), sum(1 for x in g if x["removed"]), len(g), b["seconds"]))
PY
        done
    done
    echo
    echo "Beside it, one share for every layer (\`prune:sparsity=S,structured=channel,group=sum\`), the"
    echo "same ONNX Runtime error:"
    echo
    echo "| model | S | params | ORT |"
    echo "|---|---|---|---|"
    for spec in "digits_cnn:$FIX/digits_cnn.onnx:0.05 0.1" "ppocr_det_v4:$CORPUS/ppocr_det_v4.onnx:0.02 0.05"; do
        name=${spec%%:*} rest=${spec#*:}
        model=${rest%%:*} shares=${rest#*:}
        [ -f "$model" ] || continue
        if [ "$name" = digits_cnn ]; then ort="--dataset $FIX/digits_test.json"; else ort="--corpus-model $name --seed 7 --batches 8"; fi
        for u in $shares; do
            $N -q compress -f "$model" -o "$P/u.nnz" -p "prune:sparsity=$u,structured=channel,group=sum" \
                --onnx-out "$P/u.onnx" --json >"$P/u.json" || continue
            # shellcheck disable=SC2086
            $ORACLE "$model" "$P/u.onnx" $ort --json >"$P/cmp.json"
            $PYTHON - "$P/u.json" "$P/cmp.json" "$name" "$u" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))["prune"]
c = json.load(open(sys.argv[2]))
acc = c.get("accuracy")
print("| %s | %s | %s -> %s (%.1f%% less) | %.4f%s |" % (sys.argv[3], sys.argv[4], "{:,}".format(int(p["params_before"])),
      "{:,}".format(int(p["params_after"])), 100 * (1 - p["params_after"] / p["params_before"]), c["worst_rel_l2"],
      "; accuracy %.1f%% (from %.1f%%)" % (100 * acc["test"], 100 * acc["ref"]) if acc else ""))
PY
        done
    done
    echo
fi
