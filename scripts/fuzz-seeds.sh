#!/bin/sh
# fuzz-seeds.sh BUILD - seed corpora for the fuzzers, made from the fixtures
# (valid inputs are the best start; libFuzzer mutates from there).
set -eu
B=${1:-build}
N=$B/nnzip
mkdir -p "$B/fuzz/seeds_runtime"
for m in "$B"/fixtures/*.onnx; do
    n=$(basename "$m" .onnx)
    "$N" -q compress "$m" -o "$B/fuzz/seeds_runtime/$n.nnz" 2>/dev/null || true
done
