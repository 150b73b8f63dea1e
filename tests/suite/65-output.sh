# 65-output.sh - nothing lost: an interrupted or failing write leaves no
# output and no partial file, and never touches the input.
group "outputs: interrupted and failing writes"
N=$NNZIP
W=$T/outputs
mkdir -p "$W"

# SIGKILL in the middle of writing a blob
$PYTHON tests/tools/make_big_model.py "$W/big.onnx" 256 >/dev/null
before=$(sha256sum <"$W/big.onnx")
$N -q compress "$W/big.onnx" -o "$W/big.nnz" -p 'quantize:bits=8 | huffman' &
pid=$!
i=0
while [ $i -lt 200 ] && ! ls -a "$W" | grep -q "^\.big\.nnz\.nnzip-tmp\.$pid$"; do
    sleep 0.05
    i=$((i + 1))
done
if ls -a "$W" | grep -q "^\.big\.nnz\.nnzip-tmp\.$pid$"; then
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    check "killed mid-write: no output file" test ! -e "$W/big.nnz"
    check "killed mid-write: the input is byte-identical" sh -c "[ \"\$(sha256sum <'$W/big.onnx')\" = '$before' ]"
    check "killed mid-write: the partial file is named for what it is (.big.nnz.nnzip-tmp.PID)" \
        sh -c "ls -a '$W' | grep -q '^\.big\.nnz\.nnzip-tmp\.$pid$'"
    check "the next run to the same output removes the dead run's temp file" \
        sh -c "$N -q compress '$FIX/digits_mlp.onnx' -o '$W/big.nnz' && ! ls -a '$W' | grep -q nnzip-tmp"
else
    wait $pid
    fail "killed mid-write" "never saw the temporary file of pid $pid"
fi
# exit 5: running out of memory is said, not crashed on (the release build:
# ASan cannot run under ulimit -v; 400 MB leaves room for the libraries but
# not for this 256 MB model twice)
expect "running out of memory is exit 5 with a message naming the file" 5 "big.onnx: out of memory" \
    sh -c "ulimit -v 400000; exec $N compress '$W/big.onnx' -o '$W/oom.nnz'"
check "no output after running out of memory" sh -c "! ls -a '$W' | grep -q oom"
rm -f "$W/big.onnx" "$W/big.nnz"

# write errors: a clear message, a non-zero exit, no partial file
src=$(ls -S "$CORPUS"/*.onnx 2>/dev/null | head -n 1)
[ -n "$src" ] || src=$FIX/digits_mlp.onnx
expect "a file size limit (ulimit -f) is a clean output error" 4 "write failed: File too large" \
    sh -c "ulimit -f 64; exec $N compress '$src' -o '$W/limited.nnz'"
check "no partial file after the size limit" sh -c "! ls -a '$W' | grep -q 'limited'"
expect "decompress past a file size limit is a clean output error" 4 "write failed" \
    sh -c "$N -q compress '$src' -o '$W/ok.nnz' && ulimit -f 64 && exec $N decompress '$W/ok.nnz' -o '$W/limited.onnx'"
check "no partial model after the size limit" sh -c "! ls -a '$W' | grep -q 'limited'"
expect "an output in a folder that cannot be written is an output error" 4 "cannot create output" \
    $N compress "$FIX/digits_mlp.onnx" -o /proc/nnzip-test.nnz
expect "-o naming the input is refused, the input untouched" 2 "would overwrite the input" \
    $N decompress "$W/ok.nnz" -o "$W/ok.nnz"
check "the blob named as output is intact" $N -q verify "$src" "$W/ok.nnz"
