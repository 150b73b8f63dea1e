#!/bin/sh
# fuzz-seeds.sh BUILD - seed corpora for the fuzzers, made from the fixtures
# (valid inputs are the best start; libFuzzer mutates from there).
#
# The runtime's seeds are blobs of every encoding the decoder has: each
# small fixture lossless, and the digits models through pipelines that make
# Huffman (one lane, four lanes, list and gamma tables, short blocks, codes
# longer than the first-level table), packed, sparse, hashed, affine and
# codebook tensors. Seeds are kept small: a fuzzer mutates small inputs best.
set -eu
B=${1:-build}
N=$B/nnzip
S=$B/fuzz/seeds_runtime
mkdir -p "$S"
for m in "$B"/fixtures/*.onnx; do
    n=$(basename "$m" .onnx)
    "$N" -q compress "$m" -o "$S/$n.nnz" 2>/dev/null || true
done
i=0
while IFS='|' read -r name pipeline; do
    [ -n "$name" ] || continue
    for m in "$B"/fixtures/digits_cnn.onnx "$B"/fixtures/edge_lstm.onnx "$B"/fixtures/edge_fp16.onnx \
             "$B"/fixtures/edge_repeated.onnx; do
        [ -f "$m" ] || continue
        n=$(basename "$m" .onnx)
        "$N" -q compress "$m" -o "$S/$n.$name.nnz" -p "$pipeline" 2>/dev/null || true
    done
    i=$((i + 1))
done <<'EOF'
q8h|quantize:bits=8 | huffman
q4h|quantize:bits=4,scheme=asym,granularity=tensor | huffman:block=256
q3h|quantize:bits=3 | huffman:max-len=16,block=256
q4s|quantize:bits=4 | huffman:block=256
kmh|quantize:kmeans,bits=5 | huffman
mreh|quantize:max-rel-error=0.01 | huffman:max-len=16
sparse|prune:sparsity=0.9 | quantize:kmeans,bits=5 | huffman:block=1024
sparsep|prune:sparsity=0.7 | quantize:bits=6
hashed|hashnet:ratio=4 | quantize:bits=8 | huffman
hashedp|hashnet:ratio=8 | quantize:bits=6
fp16|quantize:fp16 | huffman
EOF
# the golden blobs: every encoding x value map x layout, alias entries of
# raw, blocked and sparse tensors, format 2's directory forms and encoding
# version 5 (tests/golden)
for f in tests/golden/*.nnz; do
    cp "$f" "$S/golden_$(basename "$f")"
done
# blobs of format 1 (1.1 and 1.2: a u32 offset per entry, the names
# section, encoding versions 1 to 4), which the runtime keeps reading beside
# format 2's runs of entries described by the graph (tests/old-blobs)
for f in tests/old-blobs/*.nnz; do
    cp "$f" "$S/old_$(basename "$f")"
done
# external tensors (their bytes go to a data file, packed at graph offsets)
"$N" -q compress "$B"/fixtures/digits_mlp.onnx -o "$S/digits_mlp.external.nnz" \
    -p 'quantize:bits=8' --external-data 2>/dev/null || true
# each with a last byte of 2 (bytes past file_size are ignored): the
# harness reseals every CRC after a mutation, so the fuzzer starts from
# inputs that reach the checks behind the checksums
for f in "$S"/*.nnz; do
    { cat "$f"; printf '\002'; } >"$f.reseal"
done

# The interpreter's seeds: the small fixtures (real graphs) and the models of
# its error paths (cycles, huge shapes, endless loops, ...).
I=$B/fuzz/seeds_infer
mkdir -p "$I"
for m in "$B"/fixtures/edge_*.onnx "$B"/fixtures/digits_mlp.onnx; do
    [ -f "$m" ] && cp "$m" "$I/"
done
${PYTHON:-/usr/bin/python3} tests/tools/make_infer_models.py "$I" >/dev/null 2>&1 || true
