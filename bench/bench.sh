#!/bin/sh
# bench.sh - `make bench`: speed, memory and size figures, each measured
# side by side with a reference in the same run (cp, memcpy, zstd, xz).
# Sections come from bench/bench_*.sh (one per area); this file runs the
# foundation's own and then those.
set -u
cd "$(dirname "$0")/.." || exit 2
. bench/lib.sh
mkdir -p "$BT/tmp"
TMPDIR=$BT/tmp # ONNX Runtime leaves mat-debug-PID.log files there
export B N CORPUS PYTHON BT TMPDIR

echo "nnzip bench, $(date -u +%Y-%m-%d), $(uname -m), $(nproc) cores; medians of $RUNS runs"
echo

largest=$(ls -S "$CORPUS"/*.onnx 2>/dev/null | head -n 1)
[ -n "$largest" ] || { echo "bench: no corpus models in $CORPUS (make corpus)"; exit 1; }
size=$(stat -c %s "$largest")

echo "== load + save (nnzip convert) of the largest corpus model, against cp"
set -- $(versus $N convert -f "$largest" -o "$BT/conv.onnx" -- cp "$largest" "$BT/cp.onnx")
rss=$(peak_rss_kib $N convert -f "$largest" -o "$BT/conv.onnx")
printf "  %s: %d bytes\n" "$(basename "$largest")" "$size"
printf "  nnzip convert %.4f s (%.0f MB/s), cp %.4f s: %.1fx the time of cp\n" "$1" \
    "$(echo "$size / $1 / 1000000" | bc -l)" "$2" "$3"
printf "  peak RSS %d KiB = %.2fx the model (target <= 2.5x)\n" "$rss" \
    "$(echo "$rss * 1024 / $size" | bc -l)"
echo

echo "== lossless blob overhead and decode speed against memcpy"
cc -O2 -std=c99 -Iruntime bench/bench_decode.c runtime/nnz.c -o "$BT/bench_decode"
printf "  %-24s %10s %10s %9s %9s %12s\n" model onnx blob overhead "per tensor" "memcpy/decode"
for m in "$CORPUS"/*.onnx; do
    n=$(basename "$m" .onnx)
    $N -q compress -f "$m" -o "$BT/$n.nnz"
    mb=$(stat -c %s "$m")
    bb=$(stat -c %s "$BT/$n.nnz")
    nt=$($N info --json "$BT/$n.nnz" | $PYTHON -c 'import json,sys; print(json.load(sys.stdin)["totals"]["tensors"])')
    ratio=$("$BT/bench_decode" "$BT/$n.nnz" 0.5 | $PYTHON -c 'import json,sys; print("%.2f" % json.load(sys.stdin)["memcpy_over_decode"])')
    printf "  %-24s %10d %10d %8.2f%% %8.1f B %12s\n" "$n" "$mb" "$bb" \
        "$(echo "($bb - $mb) * 100 / $mb" | bc -l)" "$(echo "($bb - $mb) / $nt" | bc -l)" "$ratio"
done
echo "  (memcpy/decode: decode time over memcpy time of the same decoded bytes; 1.00 = as fast as memcpy)"
echo

for s in bench/bench_*.sh; do
    [ -f "$s" ] || continue
    sh "$s" || echo "bench: $s failed"
    echo
done

# docs/BENCHMARKS.md: recipes, general-purpose compressors and the headline
# bits/weight at 1/2/5% output error, regenerated on every run
sh bench/benchmarks.sh || echo "bench: bench/benchmarks.sh failed"

# nnzip's interpreter against ONNX Runtime; its section of docs/BENCHMARKS.md
# goes in after benchmarks.sh rewrote the file
sh bench/infer_bench.sh || echo "bench: bench/infer_bench.sh failed"

# output budgets (quantize:max-output-error) beside the headline; their
# section of docs/BENCHMARKS.md, also after benchmarks.sh
sh bench/budget_bench.sh || echo "bench: bench/budget_bench.sh failed"
# how long each budget's whole search takes per model (quantize, prune,
# decompose); its section of docs/BENCHMARKS.md
sh bench/budget_time.sh || echo "bench: bench/budget_time.sh failed"

# what a blob costs beyond its codes, per model; its section of
# docs/BENCHMARKS.md, also after benchmarks.sh
sh bench/overhead_bench.sh || echo "bench: bench/overhead_bench.sh failed"
# already-quantized models against xz -9e: the qdq section, also after benchmarks.sh
sh bench/qdq_bench.sh || echo "bench: bench/qdq_bench.sh failed"
