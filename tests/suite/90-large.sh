# 90-large.sh - a model past protobuf's 2 GiB limit (weights in external
# data), made on the fly: it loads, compresses and decompresses, the rebuilt
# model has its weights in an external file again, and memory stays bounded
# by a few tensors, not the model. Skipped, saying so, when the disk has no
# room for it (about 5 GiB).
group "a model past 2 GiB"
W=$T/large
mkdir -p "$W"
need_kb=$((5 * 1024 * 1024))
avail_kb=$(df -Pk "$W" | awk 'NR == 2 { print $4 }')
if [ "${avail_kb:-0}" -lt "$need_kb" ]; then
    skip "the >2 GiB round trip" "only $((avail_kb / 1024)) MiB free in $W, it needs 5 GiB"
else
    $PYTHON tests/tools/make_big_model.py "$W/big.onnx" 2200 --external --tensor-mb 64 >/dev/null
    size=$(($(stat -c %s "$W/big.onnx") + $(stat -c %s "$W/big.onnx.data")))
    check "the generated model is past 2 GiB ($size bytes)" test "$size" -gt 2147483648
    expect "info reads it" 0 "" $NNZIP info "$W/big.onnx"
    /usr/bin/time -f %M -o "$W/rss" $NNZIP -q compress "$W/big.onnx" -o "$W/big.nnz" 2>"$W/err"
    check "compress writes the blob" test -s "$W/big.nnz"
    rss_kb=$(tail -n 1 "$W/rss")
    # 64 MiB tensors: a handful of them plus the program, not the 2.2 GB model
    check "compress peak RSS ${rss_kb} KiB stays under 512 MiB (the model is $((size / 1048576)) MiB)" \
        test "${rss_kb:-999999999}" -lt 524288
    mkdir -p "$W/out"
    /usr/bin/time -f %M -o "$W/rss2" $NNZIP -q decompress "$W/big.nnz" -o "$W/out/back.onnx" 2>"$W/err"
    check "decompress writes the model and its external data" \
        sh -c "test -s '$W/out/back.onnx' && test -s '$W/out/back.onnx.data'"
    rss_kb=$(tail -n 1 "$W/rss2")
    check "decompress peak RSS ${rss_kb} KiB stays under 512 MiB" test "${rss_kb:-999999999}" -lt 524288
    check "the rebuilt model is small and points at its data" \
        test "$(stat -c %s "$W/out/back.onnx")" -lt 1048576
    check "the rebuilt external data holds the same weights" cmp "$W/big.onnx.data" "$W/out/back.onnx.data"
    check "verify passes with error 0, tensor by tensor" $NNZIP -q verify "$W/big.onnx" "$W/big.nnz" --max-rel-error 0
    # a lossy pipeline: a handful of working copies of one 64 MiB tensor
    /usr/bin/time -f %M -o "$W/rss3" $NNZIP -q compress "$W/big.onnx" -o "$W/q.nnz" \
        -p 'quantize:bits=8 | huffman' 2>"$W/err"
    rss_kb=$(tail -n 1 "$W/rss3")
    check "compress with quantize | huffman: peak RSS ${rss_kb} KiB is under 8 tensors (512 MiB)" \
        test "${rss_kb:-999999999}" -lt 524288
    check "and the quantized blob verifies within 1% weight error" \
        $NNZIP -q verify "$W/big.onnx" "$W/q.nnz" --max-rel-error 0.01
    check "onnx.checker accepts the rebuilt model" $PYTHON -c '
import onnx, sys
onnx.checker.check_model(sys.argv[1])' "$W/out/back.onnx"
    rm -rf "$W"
fi
