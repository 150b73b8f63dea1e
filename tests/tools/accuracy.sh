#!/bin/sh
# accuracy.sh REF.onnx TEST.onnx [DATASET.json] - the test accuracy of TEST on
# the digits test set, as one number on stdout (e.g. 0.9722), measured by the
# ONNX Runtime oracle (tests/oracle/compare.js). Made for
#   nnzip sweep REF.onnx --grid ... --eval 'sh tests/tools/accuracy.sh REF.onnx {onnx}'
# Exits non-zero (with the oracle's message on stderr) when the oracle cannot
# run either model or the dataset has no labels.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -ge 2 ] || { echo "usage: accuracy.sh REF.onnx TEST.onnx [DATASET.json]" >&2; exit 2; }
dataset=${3:-$here/${BUILD:-build}/fixtures/digits_test.json}
out=$(node "$here/tests/oracle/compare.js" "$1" "$2" --dataset "$dataset" --json) || exit 1
printf '%s\n' "$out" | node -e '
let s = "";
process.stdin.on("data", (d) => { s += d; }).on("end", () => {
  const a = JSON.parse(s).accuracy;
  if (!a || typeof a.test !== "number") {
    process.stderr.write("accuracy.sh: the oracle reported no accuracy (labels missing?)\n");
    process.exit(1);
  }
  console.log(a.test);
});'
