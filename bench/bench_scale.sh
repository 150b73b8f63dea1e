#!/bin/sh
# bench_scale.sh - every command on models of 10k, 100k and 1M tiny tensors
# (the documented limit), to show nothing is quadratic: the time per tensor
# should stay flat as the count grows 10x. One run each (the largest takes
# minutes); the models come from tests/tools/make_many_tensors.py. Under
# `make bench` the table also goes to docs/BENCHMARKS.md (benchmarks.sh
# picks up $BT/scale.md).
#   BENCH_SCALE="10000 100000"   the counts (default 10000 100000 1000000)
set -u
cd "$(dirname "$0")/.." || exit 2
. bench/lib.sh

echo "== scale: every command on N tiny tensors (64-byte MatMul weights), us per tensor"
printf "  %-9s %10s %10s %10s %10s %10s %10s\n" tensors compress decompress "--qdq" verify \
    "info blob" "info model"
md=$BT/scale.md
{
    echo "## Scale: every command up to the 1,000,000-tensor limit"
    echo
    echo "Microseconds per tensor of each command on a chain of N MatMul layers with 64-byte"
    echo "weights (\`tests/tools/make_many_tensors.py\`, opset 10, so \`--qdq\` takes the"
    echo "Cast+Mul form), one run each (\`bench/bench_scale.sh\`, $(uname -m), $(nproc) cores,"
    echo "load $(cut -d' ' -f1 /proc/loadavg)). compress is \`quantize:bits=8 | huffman --json\`."
    echo "A flat column is O(n); before this was measured, \`--qdq\` took 32.9 s for 2,000"
    echo "tensors (cubic), verify 19.4 s for 8,000 and compress grew with the square."
    echo
    echo "| tensors | compress | decompress | decompress --qdq | verify | info (blob) | info (model) |"
    echo "|--:|--:|--:|--:|--:|--:|--:|"
} >"$md"
prev=""
for n in ${BENCH_SCALE:-10000 100000 1000000}; do
    m=$BT/many$n.onnx
    $PYTHON tests/tools/make_many_tensors.py "$m" "$n" --opset 10
    t1=$(seconds $N -q compress -f "$m" -o "$BT/many$n.nnz" -p 'quantize:bits=8 | huffman' --json)
    t2=$(seconds $N -q decompress -f "$BT/many$n.nnz" -o "$BT/many$n.back.onnx")
    t3=$(seconds $N -q decompress -f --qdq "$BT/many$n.nnz" -o "$BT/many$n.qdq.onnx")
    t4=$(seconds $N -q verify "$m" "$BT/many$n.nnz")
    t5=$(seconds $N info --json "$BT/many$n.nnz")
    t6=$(seconds $N info --json "$m")
    line=""
    for t in $t1 $t2 $t3 $t4 $t5 $t6; do
        line="$line $(echo "$t * 1000000 / $n" | bc -l)"
    done
    # shellcheck disable=SC2086
    printf "  %-9d %10.1f %10.1f %10.1f %10.1f %10.1f %10.1f\n" "$n" $line
    # shellcheck disable=SC2086
    printf "| %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |\n" "$n" $line >>"$md"
    rm -f "$m" "$BT"/many$n.*
    prev=$n
done
[ -n "$prev" ] && echo "  (flat columns: O(n); a column that grows 10x per row is quadratic)"
echo
