#!/bin/sh
# bench_quantize.sh - the quantize pass's figures (docs/passes/quantize.md):
# FP32 weights/s through each mode against memcpy, peak memory, ONNX
# Runtime output error per corpus model and mode, digits accuracy, the
# rate-aware rounding trade-off, error-targeted steps per tensor against per
# channel, and the size floor. Run by `make bench`, or alone:
#   BUILD=build sh bench/bench_quantize.sh
set -u
cd "$(dirname "$0")/.." || exit 2
. bench/lib.sh
CJSON="--corpus-json ../shared/corpus/models.json"
Q=$BT/quant
mkdir -p "$Q"
models=$(ls "$CORPUS"/*.onnx 2>/dev/null)
[ -n "$models" ] || { echo "bench_quantize: no corpus models in $CORPUS (make corpus)"; exit 1; }
have_ort=1
[ -d tests/oracle/node_modules/onnxruntime-node ] || have_ort=0

# ---- throughput -------------------------------------------------------------------
echo "== quantize: FP32 weights through each mode (every corpus model's selected weights; medians of $RUNS runs)"
make -s "$B/obj/libnnzip.a" >/dev/null 2>&1
# shellcheck disable=SC2046
cc -O2 -std=c11 $(make -s print-INCLUDES BUILD="$B") $(make -s print-PKG_CFLAGS) \
    bench/bench_quantize.c "$B/obj/libnnzip.a" $(make -s print-PKG_LIBS) -o "$Q/bench_quantize" ||
    { echo "bench_quantize: cannot build the helper"; exit 1; }
printf "  %-46s %9s %9s %12s %10s\n" mode "MB/s" "vs memcpy" "peak RSS KiB" target
for v in "int8 per channel (default)|quantize:bits=8|200" \
    "int8 per tensor|quantize:bits=8,granularity=tensor|200" \
    "int4 affine per channel|quantize:bits=4,scheme=asym|200" \
    "int8 rate-aware rounding|quantize:bits=8,rounding=rate|" \
    "error-targeted 1%, one step|quantize:max-rel-error=0.01|" \
    "error-targeted 1%, a step per channel|quantize:max-rel-error=0.01,granularity=channel|" \
    "k-means 256 centroids (bits=8)|quantize:kmeans,bits=8,skip=1.melW|20" \
    "k-means 32 centroids (bits=5)|quantize:kmeans,bits=5|" \
    "fp16|quantize:fp16|" "bf16|quantize:bf16|"; do
    label=${v%%|*}
    rest=${v#*|}
    pipe=${rest%|*}
    target=${rest#*|}
    # shellcheck disable=SC2086
    "$Q/bench_quantize" -r "$RUNS" "$pipe" $models >"$Q/tp.json" 2>"$Q/err" ||
        { echo "  $label: failed: $(head -c 200 "$Q/err")"; continue; }
    $PYTHON - "$Q/tp.json" "$label" "$target" <<'PY'
import json, sys
d = json.loads(open(sys.argv[1]).read())
t = sys.argv[3]
mark = "" if not t else ("ok (>= %s)" % t if d["mb_per_s"] >= float(t) else "MISSED (>= %s)" % t)
print("  %-46s %9.1f %8.3fx %12d %10s" % (sys.argv[2], d["mb_per_s"], d["memcpy_over_pass"],
                                           d["peak_rss_kib"], mark))
PY
done
w=$($PYTHON -c 'import json,sys; print(json.load(open(sys.argv[1]))["weight_bytes"])' "$Q/tp.json")
echo "  ($w bytes of FP32 weights in $(echo $models | wc -w) models; 'vs memcpy': memcpy time of the same bytes over the pass's time;"
echo "   the pass includes reading each tensor's floats and its error figures, not the blob encoding;"
echo "   k-means at 256 centroids skips oww_melspec's 1.melW, which has fewer distinct values than centroids)"
largest=$(ls -S $models | head -n 1)
size=$(stat -c %s "$largest")
printf "  nnzip compress, peak RSS on %s (%d bytes):" "$(basename "$largest")" "$size"
for p in "quantize:bits=8" "quantize:kmeans,bits=8" "quantize:fp16"; do
    rss=$(peak_rss_kib "$N" -q compress -f "$largest" -o "$Q/rss.nnz" -p "$p | huffman")
    printf " %s %d KiB (%.2fx);" "$p" "$rss" "$(echo "$rss * 1024 / $size" | bc -l)"
done
echo
echo

if [ "$have_ort" = 0 ]; then
    echo "bench_quantize: onnxruntime-node missing (tests/oracle: npm install --ignore-scripts); ORT tables skipped"
    exit 0
fi

# ort_err MODEL NAME REBUILT: "rel_l2 cosine" over the outputs (worst of each)
ort_err() {
    $ORACLE "$1" "$3" --corpus-model "$2" $CJSON --json 2>/dev/null | $PYTHON -c '
import json, sys
d = json.load(sys.stdin)
o = d["outputs"].values()
r = d["worst_rel_l2"]
print("%.4g %.6f" % (r if r is not None else float("inf"), min(x["cosine"] for x in o)))'
}
# bpw JSON: bits per weight of the quantized tensors, and the weights' rel_l2
bpw() {
    $PYTHON -c '
import json, sys
d = json.load(open(sys.argv[1]))
q = [t for t in d["tensors"] if "quantize" in t]
b = sum(t["bytes_after"] for t in q); n = sum(t["elements"] for t in q)
print("%.3f %.4g" % (8 * b / n, d["weights"]["rel_l2"]))' "$1"
}

# ---- ORT output error per corpus model ------------------------------------------------
echo "== quantize: ONNX Runtime output error of the rebuilt model (float-decoded), per corpus model"
echo "   worst output's relative L2 / lowest cosine; b/w = bits per quantized weight in the blob (with huffman)"
modes="int8-tensor|quantize:bits=8,granularity=tensor int8-channel|quantize:bits=8 int4-channel|quantize:bits=4 kmeans-6b|quantize:kmeans,bits=6 fp16|quantize:fp16"
printf "  %-20s" model
for mv in $modes; do printf " %26s" "${mv%%|*}"; done
echo
for m in $models; do
    n=$(basename "$m" .onnx)
    printf "  %-20s" "$n"
    for mv in $modes; do
        p=${mv#*|}
        if $N -q compress -f "$m" -o "$Q/o.nnz" -p "$p | huffman" --onnx-out "$Q/o.onnx" --json >"$Q/o.json" 2>/dev/null; then
            set -- $(ort_err "$m" "$n" "$Q/o.onnx") $(bpw "$Q/o.json")
            printf " %9s %8s %5.2fb/w" "$1" "$2" "$3"
        else
            printf " %26s" "(refused)"
        fi
    done
    echo
done
echo

# ---- digits accuracy ----------------------------------------------------------------------
echo "== quantize: top-1 accuracy on the digits test set (360 images, ONNX Runtime)"
dmodes="int8-ch|quantize:bits=8,min-elements=1 int8-tensor|quantize:bits=8,granularity=tensor,min-elements=1 int4-ch|quantize:bits=4,min-elements=1 int4-tensor|quantize:bits=4,granularity=tensor,min-elements=1 int3-ch|quantize:bits=3,min-elements=1 kmeans-4b|quantize:kmeans,bits=4,min-elements=64 fp16|quantize:fp16,min-elements=1"
printf "  %-20s %7s" model float
for mv in $dmodes; do printf " %11s" "${mv%%|*}"; done
echo
for d in digits_mlp digits_cnn digits_cnn_folded; do
    printf "  %-20s" "$d"
    first=1
    for mv in $dmodes; do
        p=${mv#*|}
        $N -q compress -f "$FIX/$d.onnx" -o "$Q/d.nnz" -p "$p" --onnx-out "$Q/d.onnx" 2>/dev/null
        set -- $($ORACLE "$FIX/$d.onnx" "$Q/d.onnx" --dataset "$FIX/digits_test.json" --json 2>/dev/null |
            $PYTHON -c 'import json,sys; a=json.load(sys.stdin)["accuracy"]; print("%.2f %.2f" % (100*a["ref"], 100*a["test"]))')
        [ "$first" = 1 ] && printf " %6s%%" "$1"
        first=0
        printf " %10s%%" "$2"
    done
    echo
done
echo "  (every weight quantized: min-elements=1; k-means from 64 elements, as smaller tensors have too few values)"
echo

# ---- rate-aware rounding ----------------------------------------------------------------
echo "== quantize: rate-aware rounding against round-to-nearest (every corpus model's weights)"
echo "   entropy = order-0 entropy of the codes; b/w = bits per weight after huffman (payload);"
echo "   weight rel_l2 over all quantized weights; ORT = blazeface_back256's worst output rel_l2"
printf "  %-6s %-8s %9s %8s %13s %10s\n" bits lambda entropy "b/w" "weight rel_l2" "ORT"
bf=$CORPUS/blazeface_back256.onnx
for bits in 8 7 6 5 4 3; do
    lams="nearest 0.05 0.1 0.2 0.5 1"
    case $bits in 7 | 5 | 3) lams=nearest ;; esac # the round-to-nearest curve between
    for lam in $lams; do
        if [ "$lam" = nearest ]; then p="quantize:bits=$bits"; else p="quantize:bits=$bits,rounding=rate,rate-lambda=$lam"; fi
        for m in $models; do
            $N -q compress -f "$m" -o "$Q/r.nnz" -p "$p | huffman" --json >"$Q/r.$(basename "$m").json"
        done
        $PYTHON - "$Q" <<'PY' >"$Q/rate.txt"
import glob, json, sys
nb = nw = h = e2 = 0
for f in glob.glob(sys.argv[1] + "/r.*.json"):
    for t in json.load(open(f))["tensors"]:
        q = t.get("quantize")
        if q:
            n = t["elements"]
            nw += n
            nb += t["bytes_after"]
            h += q["entropy_bits"] * n
            e2 += q["rel_l2"] ** 2 * n
print("%.3f %.3f %.4g" % (h / nw, 8 * nb / nw, (e2 / nw) ** 0.5))
PY
        rm -f "$Q"/r.*.json
        set -- $(cat "$Q/rate.txt")
        $N -q compress -f "$bf" -o "$Q/r.nnz" -p "$p" --onnx-out "$Q/r.onnx" 2>/dev/null
        o=$(ort_err "$bf" blazeface_back256 "$Q/r.onnx" | cut -d' ' -f1)
        printf "  %-6s %-8s %9s %8s %13s %10s\n" "$bits" "$lam" "$1" "$2" "$3" "$o"
    done
done
echo "  (weight rel_l2 here: the RMS of each quantized tensor's rel_l2, weighted by its elements)"
echo

# ---- error-targeted steps ------------------------------------------------------------------
echo "== quantize: error-targeted steps, one per tensor (default) against one per channel"
echo "   bytes of the quantized tensors after huffman at the same weight error target; ORT worst output rel_l2"
printf "  %-20s %7s %12s %12s %8s %10s %10s\n" model target "one step B" "per-chan B" "ratio" "ORT one" "ORT chan"
for m in $models; do
    n=$(basename "$m" .onnx)
    for tgt in 0.003 0.01 0.03; do
        for g in tensor channel; do
            $N -q compress -f "$m" -o "$Q/e.nnz" -p "quantize:max-rel-error=$tgt,granularity=$g | huffman" \
                --onnx-out "$Q/e.$g.onnx" --json >"$Q/e.$g.json"
        done
        bt=$($PYTHON -c 'import json,sys; print(sum(t["bytes_after"] for t in json.load(open(sys.argv[1]))["tensors"] if "quantize" in t))' "$Q/e.tensor.json")
        bc_=$($PYTHON -c 'import json,sys; print(sum(t["bytes_after"] for t in json.load(open(sys.argv[1]))["tensors"] if "quantize" in t))' "$Q/e.channel.json")
        ot=$(ort_err "$m" "$n" "$Q/e.tensor.onnx" | cut -d' ' -f1)
        oc=$(ort_err "$m" "$n" "$Q/e.channel.onnx" | cut -d' ' -f1)
        printf "  %-20s %7s %12d %12d %7.3fx %10s %10s\n" "$n" "$tgt" "$bt" "$bc_" \
            "$(echo "$bc_ / $bt" | bc -l)" "$ot" "$oc"
    done
done
echo

# ---- the size floor ----------------------------------------------------------------------------
echo "== quantize: the size floor (min-elements), INT8 per channel + huffman"
printf "  %-20s %8s %12s %12s %10s\n" model floor "blob bytes" "float left" "ORT"
for m in $models; do
    n=$(basename "$m" .onnx)
    for f in 1 256 1024; do
        $N -q compress -f "$m" -o "$Q/f.nnz" -p "quantize:bits=8,min-elements=$f | huffman" \
            --onnx-out "$Q/f.onnx" --json >"$Q/f.json"
        left=$($PYTHON -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(sum(t["bytes_before"] for t in d["tensors"] if "quantize" not in t and t["dtype"] == "float"))' "$Q/f.json")
        printf "  %-20s %8s %12d %12d %10s\n" "$n" "$f" "$(stat -c %s "$Q/f.nnz")" "$left" \
            "$(ort_err "$m" "$n" "$Q/f.onnx" | cut -d' ' -f1)"
    done
done
echo "  (float left: bytes of float tensors left unquantized, biases included)"
