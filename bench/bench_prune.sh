#!/bin/sh
# bench_prune.sh - the prune pass (docs/passes/prune.md), four tables:
#   positions  bits per weight of the sparse layout's positions against the
#              binary entropy of the mask, on real corpus tensors
#   mlp        the Deep Compression pipeline on the digits MLP: ratio and
#              test accuracy in ONNX Runtime (no retraining)
#   cnn        per-layer sensitivity of the digits CNN: weight error and
#              accuracy when one layer alone is pruned
#   corpus     ONNX Runtime output error of every corpus model, layer vs
#              global scope
# Run by `make bench` (bench/bench.sh), or alone:
#   sh bench/bench_prune.sh [positions] [mlp] [cnn] [corpus]     (default: all)
set -u
cd "$(dirname "$0")/.." || exit 2
. bench/lib.sh
P=$BT/prune
mkdir -p "$P"
sections=${*:-positions mlp cnn corpus}
models=$(ls "$CORPUS"/*.onnx 2>/dev/null)

# accuracy MODEL: test accuracy of $P/x.onnx against MODEL on the digits test set
accuracy() {
    $ORACLE "$1" "$P/x.onnx" --dataset "$FIX/digits_test.json" --json |
        $PYTHON -c 'import json,sys; print("%.1f" % (100 * json.load(sys.stdin)["accuracy"]["test"]))'
}

if want positions; then
    [ -n "$models" ] || { echo "bench_prune: no corpus models in $CORPUS (make corpus)"; exit 1; }
    echo "== prune: bits per weight of the positions against the entropy of the mask"
    echo "  the weight tensors prune selects in the six corpus models, pooled, where the encoder"
    echo "  chose the sparse layout (it reports positions for the layout it keeps; n = tensors,"
    echo "  weights); the positions stream as stored: gap symbols at the best escape, with the"
    echo "  Huffman table when coded so, without the 4-byte block index entries. packed: prune"
    echo "  alone (float survivors); huffman: prune | quantize:bits=8 | huffman; iid: a 256x1024"
    echo "  Gaussian matrix, whose mask is random"
    # the reference with a truly random mask
    $PYTHON - "$P/iid.onnx" <<'PY'
import sys, numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto
w = np.random.default_rng(7).standard_normal((256, 1024)).astype(np.float32)
g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "iid",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1024])],
                      [numpy_helper.from_array(w, "w")])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), sys.argv[1])
PY
    printf "  %-8s %7s | %7s %5s %6s %-13s | %7s %5s %-13s | %-15s %-15s\n" sparsity "H(mask)" \
        packed "x H" escape "n" huffman "x H" "n" "iid packed" "iid huffman"
    for s in 0.5 0.8 0.9 0.95 0.99; do
        : >"$P/pos.jsonl"
        for m in $models; do
            $N -q compress -f "$m" -o "$P/a.nnz" -p "prune:sparsity=$s" --json | sed 's/^/P/' >>"$P/pos.jsonl"
            $N -q compress -f "$m" -o "$P/b.nnz" -p "prune:sparsity=$s | quantize:bits=8 | huffman" --json |
                sed 's/^/H/' >>"$P/pos.jsonl"
        done
        $N -q compress -f "$P/iid.onnx" -o "$P/a.nnz" -p "prune:sparsity=$s" --json | sed 's/^/I/' >>"$P/pos.jsonl"
        $N -q compress -f "$P/iid.onnx" -o "$P/b.nnz" -p "prune:sparsity=$s | quantize:bits=8 | huffman" --json |
            sed 's/^/J/' >>"$P/pos.jsonl"
        $PYTHON - "$s" "$P/pos.jsonl" <<'PY'
import json, math, sys
from collections import Counter
s = float(sys.argv[1])
sums = {k: [0, 0, 0] for k in "PHIJ"}   # position bits, weights, tensors
esc = Counter()
for line in open(sys.argv[2]):
    kind, doc = line[0], line[1:]
    if not doc.strip():
        continue
    for t in json.loads(doc).get("tensors", []):
        enc = t.get("encoding", {})
        sp = enc.get("sparse")                       # the first encoder's report
        if sp is None and enc.get("layout") == "sparse":
            sp = enc                                 # the histogram encoder's
        if "prune" not in t or not sp or "positions" not in sp:
            continue
        sums[kind][0] += 8 * sp["positions"]["bytes"]
        sums[kind][1] += t["elements"]
        sums[kind][2] += 1
        if kind == "P":
            esc[sp["escape"]] += 1
h = -s * math.log2(s) - (1 - s) * math.log2(1 - s)
b = {k: v[0] / v[1] if v[1] else float("nan") for k, v in sums.items()}
n = {k: "%d, %.2fM" % (v[2], v[1] / 1e6) for k, v in sums.items()}
print("  %-8g %7.4f | %7.4f %5.2f %6s %-13s | %7.4f %5.2f %-13s | %7.4f (%.2fx) %7.4f (%.2fx)" % (
    s, h, b["P"], b["P"] / h, esc.most_common(1)[0][0] if esc else "-", n["P"],
    b["H"], b["H"] / h, n["H"], b["I"], b["I"] / h, b["J"], b["J"] / h))
PY
    done
    echo "  (x H: bits per weight over the entropy; escape: the packed escape most tensors used)"
    echo
fi

if want mlp; then
    M=$FIX/digits_mlp.onnx
    echo "== prune: the Deep Compression pipeline on the digits MLP (64-256-128-10, 50,432 weights)"
    echo "  ratio = model file / blob; accuracy on the 360 test digits in ONNX Runtime; NO retraining"
    printf "  %7s %7s %9s  %s\n" bytes ratio accuracy pipeline
    for p in "" "quantize:kmeans,bits=5 | huffman" \
             "prune:sparsity=0.5 | quantize:kmeans,bits=5 | huffman" \
             "prune:sparsity=0.7 | quantize:kmeans,bits=5 | huffman" \
             "prune:sparsity=0.8 | quantize:kmeans,bits=5 | huffman" \
             "prune:sparsity=0.9 | quantize:kmeans,bits=5 | huffman" \
             "prune:sparsity=0.5" "prune:sparsity=0.9" \
             "prune:sparsity=0.7,scope=global | quantize:kmeans,bits=5 | huffman" \
             "prune:sparsity=0.8,scope=global | quantize:kmeans,bits=5 | huffman" \
             "prune:sparsity=0.7,scope=global,normalize=none | quantize:kmeans,bits=5 | huffman" \
             "prune:sparsity=0.8,scope=global,normalize=none | quantize:kmeans,bits=5 | huffman" \
             "prune:sparsity=0.9,scope=global,normalize=none | quantize:kmeans,bits=5 | huffman" \
             "prune:sparsity=auto,max-rel-error=0.3 | quantize:kmeans,bits=5 | huffman"; do
        $N -q compress -f "$M" -o "$P/x.nnz" -p "$p" --onnx-out "$P/x.onnx" || continue
        bytes=$(stat -c %s "$P/x.nnz")
        printf "  %7d %6.1fx %8s%%  %s\n" "$bytes" "$(echo "$(stat -c %s "$M") / $bytes" | bc -l)" \
            "$(accuracy "$M")" "${p:-(lossless)}"
    done
    echo "  the paper (Han et al. 2016, arXiv 1510.00149, Table 1), LeNet-300-100 on MNIST, WITH"
    echo "  retraining after pruning and after quantization: 1070 KB -> 27 KB, 40x, top-1 error"
    echo "  1.64% -> 1.58%. nnzip does not retrain: these rows are one-shot pruning."
    echo
fi

if want cnn; then
    M=$FIX/digits_cnn.onnx
    echo "== prune: per-layer sensitivity of the digits CNN (one layer pruned, the rest intact)"
    echo "  weight rel L2 from the report's sensitivity curve; accuracy in ONNX Runtime"
    layers=$($N info --json "$M" | $PYTHON -c '
import json, sys
for t in json.load(sys.stdin)["tensors"]:
    if t["consumer"] in ("Conv", "Gemm") and t["name"].endswith("weight"): print(t["name"])')
    printf "  %-14s %7s | %-23s | %-23s\n" layer weights "weight rel L2 at 50/70/90%" "accuracy at 50/70/90%"
    for l in $layers; do
        acc=""
        for s in 0.5 0.7 0.9; do
            $N -q compress -f "$M" -o "$P/x.nnz" -p "prune:sparsity=$s,only=$l" --onnx-out "$P/x.onnx" --json >"$P/c.json"
            acc="$acc $(accuracy "$M")"
        done
        $PYTHON - "$l" "$P/c.json" "$acc" <<'PY'
import json, sys
name, acc = sys.argv[1], sys.argv[3].split()
t = {t["name"]: t for t in json.load(open(sys.argv[2]))["tensors"]}[name]
c = {round(p["sparsity"], 2): p["rel_l2"] for p in t["prune"]["sensitivity"]}
print("  %-14s %7d | %6.3f %6.3f %6.3f    | %5s%% %5s%% %5s%%" % (
    name, t["elements"], c[0.5], c[0.7], c[0.9], *acc))
PY
    done
    $ORACLE "$M" "$M" --dataset "$FIX/digits_test.json" --json |
        $PYTHON -c 'import json,sys; print("  unpruned accuracy %.1f%%" % (100 * json.load(sys.stdin)["accuracy"]["ref"]))'
    echo
fi

if want corpus; then
    [ -n "$models" ] || { echo "bench_prune: no corpus models in $CORPUS (make corpus)"; exit 1; }
    echo "== prune: ONNX Runtime output error of the corpus models (worst rel L2 / lowest cosine"
    echo "  over the outputs; the rebuilt model against the original, corpus inputs, seed 1)"
    printf "  %-18s %-8s" model sparsity
    for sc in layer global global-none; do printf " | %-17s" "$sc"; done
    echo
    for m in $models; do
        n=$(basename "$m" .onnx)
        for s in 0.3 0.5 0.7; do
            printf "  %-18s %-8s" "$n" "$s"
            for sc in "" ",scope=global" ",scope=global,normalize=none"; do
                if $N -q compress -f "$m" -o "$P/x.nnz" -p "prune:sparsity=$s$sc" --onnx-out "$P/x.onnx" 2>"$P/err" &&
                    $ORACLE "$m" "$P/x.onnx" --corpus-model "$n" --json >"$P/o.json" 2>>"$P/err"; then
                    $PYTHON -c '
import json, sys
d = json.load(open(sys.argv[1]))
cos = [o["cosine"] for o in d["outputs"].values() if o["cosine"] is not None]
w = d["worst_rel_l2"]
print(" | %8s %8.4f" % ("inf" if w is None else "%.4f" % w, min(cos) if cos else float("nan")), end="")' "$P/o.json"
                else
                    printf " | %-17s" "failed"
                fi
            done
            echo
        done
    done
    echo
fi
