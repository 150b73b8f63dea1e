#!/bin/sh
# run-sample.sh BUILD - what `make run` shows: nnzip on the bundled sample,
# a small MLP trained on scikit-learn's digits (tests/fixtures).
set -eu
B=${1:-build}
N=$B/nnzip
M=$B/fixtures/digits_mlp.onnx
O=$B/sample
mkdir -p "$O"
echo "== nnzip info $M"
"$N" info "$M"
echo
echo "== nnzip compress $M -o $O/digits_mlp.nnz"
"$N" -v compress "$M" -o "$O/digits_mlp.nnz"
echo
echo "== nnzip decompress $O/digits_mlp.nnz -o $O/digits_mlp.back.onnx"
"$N" decompress "$O/digits_mlp.nnz" -o "$O/digits_mlp.back.onnx"
echo
echo "== nnzip verify $M $O/digits_mlp.nnz"
"$N" verify "$M" "$O/digits_mlp.nnz"
echo
P='prune:sparsity=0.5 | quantize:kmeans,bits=5 | huffman'
echo "== nnzip compress $M -o $O/digits_mlp.dc.nnz -p '$P'"
"$N" compress "$M" -o "$O/digits_mlp.dc.nnz" -p "$P"
echo
echo "== nnzip verify $M $O/digits_mlp.dc.nnz --max-rel-error 0.5"
"$N" verify "$M" "$O/digits_mlp.dc.nnz" --max-rel-error 0.5
echo
echo "== nnzip info $O/digits_mlp.dc.nnz"
"$N" info "$O/digits_mlp.dc.nnz"
