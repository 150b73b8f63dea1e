#!/bin/sh
# bench_decompose.sh - the decompose pass (docs/passes/decompose.md):
#   time     time and peak RSS to decompose the largest corpus Conv and Gemm
#            (and two larger synthetic layers), against the same command
#            that loads and writes the model without factorising
#   digits   test accuracy in ONNX Runtime against parameter count on the
#            trained digits MLP and CNN, at several energies and rules
#   corpus   output error (ONNX Runtime), parameters and MACs against the
#            rank on the six corpus models
# Run by `make bench` (bench/bench.sh), or alone:
#   sh bench/bench_decompose.sh [time] [digits] [corpus]     (default: all)
# DEC_MODELS="name ..." limits the corpus section to those models.
set -u
cd "$(dirname "$0")/.." || exit 2
. bench/lib.sh
D=$BT/decompose
mkdir -p "$D"
sections=${*:-time digits corpus}

# The largest weight of an op in a model, with group=1 for Conv: "name dims"
largest() {
    $PYTHON - "$1" "$2" <<'PY'
import sys, numpy as np, onnx
m = onnx.load(sys.argv[1])
best = None
def walk(g, inits):
    global best
    inits = dict(inits, **{t.name: t for t in g.initializer})
    for n in g.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                walk(a.g, inits)
        if n.op_type in sys.argv[2].split(","):
            grp = [a.i for a in n.attribute if a.name == "group"]
            for i in n.input[:2]:
                t = inits.get(i)
                if t is not None and len(t.dims) >= 2 and (not grp or grp[0] == 1):
                    if best is None or np.prod(t.dims) > np.prod(best.dims):
                        best = t
walk(m.graph, {})
print(best.name, "x".join(map(str, best.dims)))
PY
}

if want time; then
    echo "== decompose: time and peak memory to factorise one layer"
    echo "  nnzip compress -p 'decompose:RULE,only=WEIGHT' against the same command with"
    echo "  only= matching nothing (load, rewrite nothing, write); medians of $RUNS runs; one"
    echo "  BLAS thread (the pass pins it, for the same bytes on every machine)"
    $PYTHON - "$D" <<'PY'
import sys, numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto
rng = np.random.default_rng(1)
def save(name, node, x, w):
    g = helper.make_graph([node], name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, x)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), f"{sys.argv[1]}/{name}.onnx")
save("gemm1024", helper.make_node("Gemm", ["x", "w"], ["y"], transB=1), [1, 1024],
     rng.standard_normal((1024, 1024)).astype(np.float32))
save("conv512", helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1]), [1, 512, 8, 8],
     rng.standard_normal((512, 512, 3, 3)).astype(np.float32))
PY
    printf "  %-38s %-16s %-14s %9s %9s %9s %10s %10s\n" layer shape rule decompose baseline \
        "pass s" "RSS KiB" "base KiB"
    run_one() { # MODEL WEIGHT SHAPE RULE LABEL
        set -- "$1" "$2" "$3" "$4" "$5" $(versus $N -q compress -f "$1" -o "$D/a.nnz" -p "decompose:$4,only=$2" -- \
            $N -q compress -f "$1" -o "$D/b.nnz" -p "decompose:$4,only=no-such-tensor")
        rss=$(peak_rss_kib $N -q compress -f "$1" -o "$D/a.nnz" -p "decompose:$4,only=$2")
        base=$(peak_rss_kib $N -q compress -f "$1" -o "$D/b.nnz" -p "decompose:$4,only=no-such-tensor")
        printf "  %-38s %-16s %-14s %8.3fs %8.3fs %8.3fs %10d %10d\n" "$5" "$3" "$4" "$6" "$7" \
            "$(echo "$6 - $7" | bc -l)" "$rss" "$base"
    }
    if ls "$CORPUS"/*.onnx >/dev/null 2>&1; then
        set -- $(largest "$CORPUS/mlsd_large320.onnx" Conv)
        for r in rank=32 energy=0.95 rank=vbmf; do
            run_one "$CORPUS/mlsd_large320.onnx" "$1" "$2" $r "mlsd_large320 Conv (largest corpus Conv)"
        done
        set -- $(largest "$CORPUS/oww_hey_jarvis.onnx" Gemm,MatMul)
        for r in rank=32 energy=0.95 rank=vbmf; do
            run_one "$CORPUS/oww_hey_jarvis.onnx" "$1" "$2" $r "oww_hey_jarvis Gemm (largest corpus Gemm)"
        done
    else
        echo "  (no corpus in $CORPUS: synthetic layers only)"
    fi
    for r in rank=128 energy=0.95 rank=vbmf; do
        run_one "$D/gemm1024.onnx" w 1024x1024 $r "synthetic Gemm"
    done
    for r in rank=128 energy=0.95 rank=vbmf; do
        run_one "$D/conv512.onnx" w 512x512x3x3 $r "synthetic Conv (HOOI, 50 sweeps max)"
    done
    echo
fi

# summary of a compress --json report: factorised layers, their parameters
# before and after, and MACs of every considered layer that has a shape
summary() {
    $PYTHON -c '
import json, sys
d = json.load(open(sys.argv[1]))["decompose"]
dec = [e for e in d if e["decision"] == "decomposed"]
pb = sum(e["params_before"] for e in dec)
pa = sum(e["params_after"] for e in dec)
shaped = [e for e in d if e.get("macs_unit") == "sample"]
mb = sum(e["macs_before"] for e in shaped)
ma = sum(e["macs_after"] if e["decision"] == "decomposed" else e["macs_before"] for e in shaped)
unshaped = sum(1 for e in d if "macs_unit" in e and e["macs_unit"] != "sample")
err = max([e["rel_error"] for e in dec] or [0])
print(len(d), len(dec), pb, pa, mb, ma, unshaped, err)' "$1"
}
params_of() {
    $N info --json "$1" | $PYTHON -c 'import json,sys; print(json.load(sys.stdin)["totals"]["parameters"])'
}

if want digits; then
    echo "== decompose: accuracy in ONNX Runtime against parameters (digits test set, 360 images)"
    echo "  no fine-tuning; params: all weights of the model (biases included), before -> after;"
    echo "  layers: factorised / considered; max err: the largest weight-space relative error"
    for m in digits_mlp digits_cnn; do
        p0=$(params_of "$FIX/$m.onnx")
        printf "  %-11s %-30s %7s %15s %8s %9s %9s\n" model rule layers params "max err" accuracy agreement
        for r in energy=0.5 energy=0.7 energy=0.8 energy=0.9 energy=0.95 energy=0.99 \
            max-rel-error=0.5 max-rel-error=0.3 max-rel-error=0.1 rank=vbmf rank=vbmf,vbmf-scale=1.5 \
            rank=vbmf,vbmf-scale=2 rank=vbmf,vbmf-scale=3 rank=4 rank=8 rank=16; do
            $N -q compress -f "$FIX/$m.onnx" -o "$D/x.nnz" -p "decompose:$r" --onnx-out "$D/x.onnx" --json >"$D/x.json" || continue
            set -- $(summary "$D/x.json")
            acc=$($ORACLE "$FIX/$m.onnx" "$D/x.onnx" --dataset "$FIX/digits_test.json" --json |
                $PYTHON -c 'import json,sys; a = json.load(sys.stdin)["accuracy"]; print("%.1f%% %.1f%%" % (100 * a["test"], 100 * a["agreement"]))')
            printf "  %-11s %-30s %3d/%-3d %7d->%-7d %8.3f %9s %9s\n" "$m" "$r" "$2" "$1" "$p0" \
                "$(params_of "$D/x.onnx")" "$8" $acc
        done
        acc=$($ORACLE "$FIX/$m.onnx" "$FIX/$m.onnx" --dataset "$FIX/digits_test.json" --json |
            $PYTHON -c 'import json,sys; print("%.1f%%" % (100 * json.load(sys.stdin)["accuracy"]["ref"]))')
        echo "  ($m unchanged: $p0 parameters, accuracy $acc)"
    done
    echo
    echo "== decompose | quantize | huffman: blob size and accuracy"
    printf "  %-11s %-58s %9s %9s\n" model pipeline bytes accuracy
    for m in digits_mlp digits_cnn; do
        for p in "" "quantize:bits=8 | huffman" "decompose:energy=0.9" \
            "decompose:energy=0.9 | quantize:bits=8 | huffman" \
            "decompose:max-rel-error=0.3 | quantize:bits=8 | huffman"; do
            $N -q compress -f "$FIX/$m.onnx" -o "$D/x.nnz" -p "$p" --onnx-out "$D/x.onnx" || continue
            acc=$($ORACLE "$FIX/$m.onnx" "$D/x.onnx" --dataset "$FIX/digits_test.json" --json |
                $PYTHON -c 'import json,sys; print("%.1f%%" % (100 * json.load(sys.stdin)["accuracy"]["test"]))')
            printf "  %-11s %-58s %9d %9s\n" "$m" "'$p'" "$(stat -c %s "$D/x.nnz")" "$acc"
        done
    done
    echo
fi

if want corpus; then
    ls "$CORPUS"/*.onnx >/dev/null 2>&1 || { echo "bench_decompose: no corpus in $CORPUS"; exit 1; }
    echo "== decompose: corpus models, output error against rank"
    echo "  the models are first given static shapes (the corpus input sizes, onnx shape"
    echo "  inference) so every layer's MACs are counted per sample; MACs and params: the"
    echo "  Conv/Gemm/MatMul layers the pass considered (depthwise and dynamic ones excluded"
    echo "  from MACs); error: ONNX Runtime outputs against the original (with the same"
    echo "  static shapes), worst output over 16 input draws (2 for the image models);"
    echo "  oww_hey_jarvis: its logit too (its output is gated)"
    for m in "$CORPUS"/*.onnx; do
        n=$(basename "$m" .onnx)
        case " ${DEC_MODELS:-$n} " in *" $n "*) ;; *) continue ;; esac
        $PYTHON - "$m" "$D/$n.shaped.onnx" ../shared/corpus/models.json "$n" <<'PY'
import json, sys, onnx
m = onnx.load(sys.argv[1])
spec = {}
for e in json.load(open(sys.argv[3]))["models"]:
    if e["name"] == sys.argv[4]:
        spec = e.get("inputs", {})
inits = {t.name for t in m.graph.initializer}
for i in m.graph.input:
    if i.name in inits:
        continue
    dims = spec.get(i.name, {}).get("dims")
    for k, d in enumerate(i.type.tensor_type.shape.dim):
        if dims:
            d.dim_value = dims[k]
        elif not d.HasField("dim_value"):
            d.dim_value = 1
if sys.argv[4] == "oww_hey_jarvis":
    # its output is an If gated on sigmoid(logit) >= 0.5: saturated, it hides
    # any change; compare the logit as well
    m.graph.output.append(onnx.helper.make_tensor_value_info("input.19", onnx.TensorProto.FLOAT, None))
onnx.save(onnx.shape_inference.infer_shapes(m), sys.argv[2])
PY
        printf "  %-18s %-14s %6s %19s %23s %5s %9s %8s\n" model rule layers "layer params" \
            "MACs/sample (M)" noshp "max w.err" "out err"
        for r in rank=4 rank=8 rank=16 rank=32 rank=64 energy=0.99 rank=vbmf rank=vbmf,vbmf-scale=2; do
            $N -q compress -f "$D/$n.shaped.onnx" -o "$D/x.nnz" -p "decompose:$r" --onnx-out "$D/x.onnx" \
                --json >"$D/x.json" 2>/dev/null || { printf "  %-18s %-14s failed\n" "$n" "$r"; continue; }
            set -- $(summary "$D/x.json")
            case $n in oww_* | silero*) nb=16 ;; *) nb=2 ;; esac # small models: more draws
            err=$($ORACLE "$D/$n.shaped.onnx" "$D/x.onnx" --corpus-model "$n" --corpus-json ../shared/corpus/models.json \
                --batches $nb --json 2>/dev/null |
                $PYTHON -c 'import json,sys
try:
    w = json.load(sys.stdin)["worst_rel_l2"]; print("%.3g" % w if w is not None else "inf")
except Exception: print("fail")')
            printf "  %-18s %-14s %2d/%-3d %9d->%-9d %11.2f->%-11.2f %5d %9.3f %8s\n" "$n" "$r" "$2" "$1" \
                "$3" "$4" "$(echo "$5 / 1000000" | bc -l)" "$(echo "$6 / 1000000" | bc -l)" "$7" "$8" "$err"
        done
    done
    echo
fi
