# 66-safety.sh - no file of the user's is lost, replaced or forged (issue
# 15, docs/security.md "The output rule"): data files named after the
# output, inputs compared by device and inode, -f to replace, devices and
# FIFOs written through, links refused, signals clean up, names escaped.
group "safety: the output rule"
N=$NNZIP_SAN
W=$T/safety
mkdir -p "$W"
M=$FIX/digits_mlp.onnx
sum() { sha256sum <"$1"; }

# ---- external data: the source's data file is never the output's --------
expect "convert --external-data writes m.onnx and m.onnx.data" 0 "" \
    $N -q convert --external-data "$M" -o $W/m.onnx
check "convert: the data file is m.onnx.data" test -s $W/m.onnx.data
check "convert: every external tensor names m.onnx.data (not m.onnx)" $PYTHON -c '
import onnx, sys
m = onnx.load(sys.argv[1], load_external_data=False)
locs = {kv.value for t in m.graph.initializer for kv in t.external_data if kv.key == "location"}
sys.exit(0 if locs == {"m.onnx.data"} else "locations: %r" % locs)' "$W/m.onnx"
check "convert: nnzip info reads its own external-data output" $N -q info $W/m.onnx
if $ORACLE "$M" $W/m.onnx --inputs "${M%.onnx}.inputs.json" --json >"$W/ort.json" 2>"$W/ort.err" &&
    grep -q '"all_bit_identical":true' "$W/ort.json"; then
    pass "convert --external-data: ONNX Runtime gives bit-identical outputs"
else
    fail "convert --external-data: ONNX Runtime gives bit-identical outputs" \
        "$(head -c 300 "$W/ort.json") $(head -c 300 "$W/ort.err")"
fi
src_model=$(sum $W/m.onnx) src_data=$(sum $W/m.onnx.data)
expect "compress --external-data of a model with external data" 0 "" \
    $N -q compress $W/m.onnx -o $W/x.nnz -p 'quantize:bits=2' --external-data
expect "decompress in the source's folder" 0 "" $N -q decompress $W/x.nnz -o $W/restored.onnx
check "decompress: the source's data file is byte-identical" \
    sh -c "[ \"\$(sha256sum <$W/m.onnx.data)\" = '$src_data' ]"
check "decompress: the source model is byte-identical" \
    sh -c "[ \"\$(sha256sum <$W/m.onnx)\" = '$src_model' ]"
check "decompress: the restored model's data file is restored.onnx.data" test -s $W/restored.onnx.data
check "decompress: the restored model loads (nnzip info)" $N -q info $W/restored.onnx
check "decompress: the restored data holds the 2-bit weights, not the source's" \
    sh -c "! cmp -s $W/m.onnx.data $W/restored.onnx.data"
expect "compress --onnx-out in the source's folder" 0 "" \
    $N -q compress $W/m.onnx -o $W/y.nnz -p 'quantize:bits=2' --external-data --onnx-out $W/r2.onnx
check "--onnx-out: the source's data file is byte-identical" \
    sh -c "[ \"\$(sha256sum <$W/m.onnx.data)\" = '$src_data' ]"
check "--onnx-out: its data file is r2.onnx.data" test -s $W/r2.onnx.data
expect "-o naming the input's external data file is refused, even with -f" 2 \
    "would overwrite the input" $N compress -f $W/m.onnx -o $W/m.onnx.data
expect "--onnx-out naming the input's external data file is refused" 2 \
    "would overwrite the input" $N compress -f $W/m.onnx -o $W/z.nnz --onnx-out $W/m.onnx.data
ln $W/m.onnx.data $W/hardlink.bin
expect "a hard link to the input's data file is the same file (device + inode)" 2 \
    "would overwrite the input" $N compress -f $W/m.onnx -o $W/hardlink.bin
check "after the refusals the source's data file is byte-identical" \
    sh -c "[ \"\$(sha256sum <$W/m.onnx.data)\" = '$src_data' ]"
printf '{"pipeline": "quantize:bits=8"}' >$W/cfg.json
expect "-o naming the config file read is refused" 2 "would overwrite the input" \
    $N compress -f "$M" --config $W/cfg.json -o $W/cfg.json

# ---- -o rules: existing files, devices, FIFOs, links ---------------------
$N -q compress "$M" -o "$W/a.nnz"
before=$(sum "$W/a.nnz")
expect "-o onto an existing file is refused without -f" 2 "already exists; use -f" \
    $N compress "$M" -o "$W/a.nnz" -p 'quantize:bits=4'
check "the existing file is untouched" sh -c "[ \"\$(sha256sum <'$W/a.nnz')\" = '$before' ]"
expect "-f replaces it" 0 "" $N -q compress -f "$M" -o "$W/a.nnz" -p 'quantize:bits=4'
check "-f: the file was replaced" sh -c "[ \"\$(sha256sum <'$W/a.nnz')\" != '$before' ]"
expect "--force replaces it too (decompress)" 0 "" \
    sh -c "$N -q decompress '$W/a.nnz' -o '$W/a.onnx' && $N -q decompress --force '$W/a.nnz' -o '$W/a.onnx'"
expect "decompress onto an existing file is refused without -f" 2 "already exists" \
    $N decompress "$W/a.nnz" -o "$W/a.onnx"
expect "convert onto an existing file is refused without -f" 2 "already exists" \
    $N convert "$M" -o "$W/a.onnx"
expect "sweep -o onto an existing file is refused without -f" 2 "already exists" \
    sh -c "touch '$W/a.csv' && exec $N sweep '$M' --grid 'quantize:bits=8' -o '$W/a.csv'"
rm -f "$W/new.nnz"
expect "an existing --onnx-out is refused before any output is written" 2 "a.onnx: already exists" \
    $N compress "$M" -o "$W/new.nnz" --onnx-out "$W/a.onnx"
check "... so the blob was not written either" test ! -e "$W/new.nnz"
expect "-o /dev/null is written through" 0 "" $N -q compress "$M" -o /dev/null
check "/dev/null is still a character device" test -c /dev/null
mkfifo "$W/fifo"
cat "$W/fifo" >"$W/from_fifo" &
reader=$!
expect "-o a FIFO writes through it" 0 "" $N -q compress "$M" -o "$W/fifo" -p 'quantize:bits=4'
wait $reader
check "the FIFO is still a FIFO" test -p "$W/fifo"
check "what came out of the FIFO is the blob" sh -c "cmp -s '$W/from_fifo' '$W/a.nnz'"
printf 'target' >"$W/target.txt"
ln -s target.txt "$W/link.nnz"
expect "-o a symbolic link is refused, even with -f" 4 "is a symbolic link" \
    $N compress -f "$M" -o "$W/link.nnz"
check "the link is still a link to its untouched target" \
    sh -c "test -L '$W/link.nnz' && [ \"\$(cat '$W/target.txt')\" = target ]"
# the link sits at the very temporary name nnzip will use: `exec` keeps the
# shell's PID, so .planted.nnz.nnzip-tmp.$$ is it (O_TRUNC alone would have
# emptied target.txt through it)
expect "a link planted at the output's temporary name is never followed" 4 "cannot create output" \
    sh -c "ln -s '$W/target.txt' '$W/.planted.nnz.nnzip-tmp.'\$\$ && exec $N -q compress '$M' -o '$W/planted.nnz'"
check "... the file it points to keeps its bytes" sh -c "[ \"\$(cat '$W/target.txt')\" = target ]"
rm -f "$W"/.planted.nnz.nnzip-tmp.*

# ---- signals: temp files removed, exit 128+N, input untouched ------------
$PYTHON tests/tools/make_big_model.py "$W/big.onnx" 192 >/dev/null
big=$(sum "$W/big.onnx")
sig_case() { # NAME SIGNAL NUMBER COMMAND... (writes $W/sig.out*)
    name=$1 sig=$2 num=$3
    shift 3
    rm -f "$W"/sig.out* "$W"/.sig.out*
    # a background job starts with SIGINT ignored (and nnzip keeps an
    # ignored signal ignored, like nohup): give it the default back
    env --default-signal="$sig" "$@" &
    pid=$!
    i=0
    while [ $i -lt 400 ] && ! ls -a "$W" | grep -q "^\.sig\.out.*nnzip-tmp\.$pid$"; do
        sleep 0.02
        i=$((i + 1))
    done
    if ! ls -a "$W" | grep -q "^\.sig\.out.*nnzip-tmp\.$pid$"; then
        wait $pid
        fail "$name: SIG$sig mid-write" "never saw the temporary file of pid $pid"
        return
    fi
    kill -s "$sig" $pid
    wait $pid
    rc=$?
    if [ "$rc" = "$num" ]; then pass "$name: SIG$sig exits $num"; else
        fail "$name: SIG$sig exits $num" "exit $rc"; fi
    check "$name: SIG$sig leaves no temporary file" sh -c "! ls -a '$W' | grep -q nnzip-tmp"
    check "$name: SIG$sig leaves no output" sh -c "! ls -a '$W' | grep -q 'sig\.out'"
    check "$name: SIG$sig leaves the input byte-identical" \
        sh -c "[ \"\$(sha256sum <'$W/big.onnx')\" = '$big' ]"
}
sig_case compress INT 130 $NNZIP -q compress "$W/big.onnx" -o "$W/sig.out.nnz" -p 'quantize:bits=8 | huffman'
sig_case compress TERM 143 $NNZIP -q compress "$W/big.onnx" -o "$W/sig.out.nnz" -p 'quantize:bits=8 | huffman'
sig_case convert HUP 129 $NNZIP -q convert "$W/big.onnx" -o "$W/sig.out.onnx"
$NNZIP -q compress "$W/big.onnx" -o "$W/big.nnz" -p 'quantize:bits=8'
sig_case decompress TERM 143 $NNZIP -q decompress "$W/big.nnz" -o "$W/sig.out.onnx"
rm -f "$W/big.onnx" "$W/big.nnz"

# ---- small holes -----------------------------------------------------------
if [ -w /dev/full ]; then
    expect "--json to a full device is exit 4" 4 "cannot write the JSON report" \
        sh -c "$N info --json '$M' >/dev/full"
    expect "compress --json to a full device is exit 4" 4 "cannot write the JSON report" \
        sh -c "$N -q compress --json '$M' -o '$W/full.nnz' >/dev/full"
else
    skip "--json to a full device" "/dev/full is not writable here"
fi
$PYTHON - "$W/esc.onnx" <<'EOF'
import sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
name = "w\x1b[2J\x1b[1;1H\nnnzip: verify OK\r\x9b"
w = numpy_helper.from_array(np.ones((16, 16), np.float32), name)
g = helper.make_graph([helper.make_node("MatMul", ["X", name], ["Y"])], "esc",
                      [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 16])],
                      [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 16])], [w])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 8
onnx.save(m, sys.argv[1])
EOF
$N info "$W/esc.onnx" >"$W/esc.txt" 2>&1
check "info escapes control characters of a tensor name" \
    sh -c "grep -q 'w\\\\x1b\\[2J' '$W/esc.txt' && ! grep -q \"\$(printf '\\033')\" '$W/esc.txt'"
check "info: a name cannot start a line of its own" sh -c "! grep -q '^nnzip: verify OK' '$W/esc.txt'"
$N -v compress "$W/esc.onnx" -o "$W/esc.nnz" >"$W/esc2.txt" 2>&1
check "compress -v escapes the name on stderr" \
    sh -c "grep -q 'w\\\\x1b' '$W/esc2.txt' && ! grep -q \"\$(printf '\\033')\" '$W/esc2.txt'"
$N info "$W/esc.nnz" >"$W/esc3.txt" 2>&1
check "info on the blob escapes the name" \
    sh -c "grep -q 'w\\\\x1b' '$W/esc3.txt' && ! grep -q \"\$(printf '\\033')\" '$W/esc3.txt'"
check "--json keeps the name exactly (JSON escapes it)" \
    sh -c "$N info --json '$W/esc.nnz' | $PYTHON -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if any(t[\"name\"].startswith(\"w\\x1b[2J\") for t in d[\"tensors\"]) else 1)'"
$PYTHON -c 'print("{\"pipeline\": " + "[" * 1200 + "]" * 1200 + "}")' >"$W/deep.json"
expect "a config nested 1,200 deep names the depth limit" 2 "nested more than 64 deep" \
    $N compress "$M" --config "$W/deep.json" -o "$W/deep.nnz"
