# 49-overhead.sh - what a blob costs beyond the codes (issue 20): per-channel
# scales as packed codes on the log grid (value map 6), format 2's compact
# directory entries (name, type and shape from the graph, an offset per run
# of 16 entries), minimal metadata unless --metadata full. Bytes are split
# by bench/blob_bytes.py, which parses the blob itself (docs/FORMAT.md).
group "per-tensor overhead: scales, names, metadata"
W=$T/overhead
mkdir -p "$W"

# bb BLOB EXPR: a Python expression over blob_bytes.py's JSON `d`
bb() {
    $PYTHON bench/blob_bytes.py --json "$1" |
        $PYTHON -c 'import json,sys; d=json.loads(sys.stdin.read()); print(eval(sys.argv[1]))' "$2"
}

# ---- bits per weight over the weight set, quantize:bits=8 -------------------
# 8 bits a code, packed; everything else a weight tensor costs (directory
# entry, scales, zero points, its slot and names share) must stay within
# 0.25 bits a weight. The small CNN was at 8.345 with float32 scales and
# names in the directory.
for m in digits_cnn digits_mlp; do
    if $NNZIP -q compress "$FIX/$m.onnx" -o "$W/$m.q8.nnz" -p 'quantize:bits=8' 2>"$W/err"; then
        bits=$(bb "$W/$m.q8.nnz" '"%.3f" % d["bits_per_weight"]')
        check "$m: quantize:bits=8 stores the weight set at $bits <= 8.25 bits a weight" \
            $PYTHON -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= 8.25 else 1)' "$bits"
    else
        fail "$m: quantize:bits=8 compresses" "$(head -c 300 "$W/err")"
    fi
done

# The small depthwise network: 1,392 weights in 6 tensors, too few for 0.25
# bits a weight to pay a directory entry, so what is checked is what each
# part costs: less than a byte a channel (and one for the tensor's
# exponent) for the scales, and per tensor one byte for its name, type and
# shape (format 2: where they stand in the graph).
D=$FIX/edge_depthwise_small.onnx
$NNZIP -q compress "$D" -o "$W/dw.nnz" -p 'quantize:bits=8' --json >"$W/dw.json" 2>"$W/err" ||
    fail "edge_depthwise_small: quantize:bits=8 compresses" "$(head -c 300 "$W/err")"
chans=$($PYTHON -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(sum(t["quantize"]["channels"] + 1 for t in d["tensors"] if "quantize" in t and t["quantize"]["channels"] > 1))' "$W/dw.json")
# Since encoding version 4 the codes are packed in the bits their span
# needs (a tensor's channels span a few binades: 5 to 7 bits), so they cost
# less than that byte a channel.
sbytes=$(bb "$W/dw.nnz" 'd["weights"]["scales"]')
check "edge_depthwise_small: per-channel scales cost less than a byte a channel plus one a tensor ($sbytes < $chans B)" \
    test "$sbytes" -lt "$chans"
check "edge_depthwise_small: each weight's name, type and shape cost one byte besides the graph's copy" \
    test "$(bb "$W/dw.nnz" 'd["weights"]["name"] == d["weights"]["n"]')" = True
check "edge_depthwise_small: a weight's whole entry and its share of the offsets take at most 16 bytes beside its scales" \
    test "$(bb "$W/dw.nnz" 'd["weights"]["name"] + d["weights"]["zero_points"] + d["weights"]["params_other"] + d["weights"]["entry_other"] + d["weights"]["slot"] <= 16 * d["weights"]["n"]')" = True
check "edge_depthwise_small: every quantized tensor's value map is affine-log (format 1.2)" $PYTHON -c '
import json, sys
d = json.load(open(sys.argv[1]))
q = [t for t in d["tensors"] if "quantize" in t]
sys.exit(0 if q and all(t["encoding"]["value_map"] == "affine-log" for t in q if t["quantize"]["channels"] > 1) else 1)' "$W/dw.json"
check "edge_depthwise_small: the blob says format 2.1, and info names every tensor" \
    sh -c "$NNZIP info '$W/dw.nnz' --json | $PYTHON -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if d[\"format_version\"] == \"2.1\" and all(t[\"name\"] for t in d[\"tensors\"]) and
         any(t[\"name\"] == \"dw1.weight\" for t in d[\"tensors\"]) else 1)'"
expect "edge_depthwise_small: verify finds every tensor by name in a blob whose names are the graph's" 0 \
    "OK; " $NNZIP verify "$D" "$W/dw.nnz"

# ---- the scales the decoder reads are the ones the quantizer used -----------
# verify decodes every tensor as a device would and compares it with the
# source; compress reports its error from the values the passes computed
# (state.h: exactly what the decoder produces). The two must agree.
$NNZIP verify "$D" "$W/dw.nnz" --json >"$W/dw.verify.json" 2>/dev/null
check "edge_depthwise_small: verify's rel_l2 per tensor equals compress's (decoded scales are the quantizer's)" $PYTHON -c '
import json, sys
c = json.load(open(sys.argv[1]))
v = json.load(open(sys.argv[2]))
cr = {t["name"]: t["rel_l2"] for t in c["tensors"] if "quantize" in t}
vr = {t["name"]: t["rel_l2"] for t in v["tensors"]}
ok = cr and all(abs(cr[n] - vr[n]) <= 1e-6 * max(cr[n], 1e-30) + 1e-12 for n in cr)
sys.exit(0 if ok else 1)' "$W/dw.json" "$W/dw.verify.json"

# ---- metadata: minimal by default, the per-tensor report on request ---------
M=$FIX/digits_cnn.onnx
$NNZIP -q compress "$M" -o "$W/min.nnz" -p 'quantize:bits=8 | huffman'
$NNZIP -q compress "$M" -o "$W/full.nnz" -p 'quantize:bits=8 | huffman' --metadata full
check "metadata: the default blob has no per-tensor report, --metadata full has one per changed tensor" $PYTHON -c '
import json, subprocess, sys
def meta(p):
    return json.loads(subprocess.run([sys.argv[1], "info", p, "--json"], capture_output=True).stdout)["metadata"]
a, b = meta(sys.argv[2]), meta(sys.argv[3])
keys = {"tool", "pipeline", "graph_rewritten", "source"}
ok = set(a) == keys and set(b) == keys | {"tensors"} and len(b["tensors"]) >= 4 and \
     a["source"]["sha256"] == b["source"]["sha256"] and a["pipeline"] == b["pipeline"]
sys.exit(0 if ok else 1)' "$NNZIP" "$W/min.nnz" "$W/full.nnz"
check "metadata: the full report costs bytes the minimal blob does not pay, and only in the metadata" $PYTHON -c '
import os, sys
sys.exit(0 if os.path.getsize(sys.argv[2]) - os.path.getsize(sys.argv[1]) > 300 else 1)' "$W/min.nnz" "$W/full.nnz"
check "metadata: the payloads and directory are the same either way" sh -c \
    "test \"\$($PYTHON bench/blob_bytes.py --json '$W/min.nnz' | $PYTHON -c 'import json,sys; d=json.load(sys.stdin); print(d[\"weights\"], d[\"graph\"])')\" = \"\$($PYTHON bench/blob_bytes.py --json '$W/full.nnz' | $PYTHON -c 'import json,sys; d=json.load(sys.stdin); print(d[\"weights\"], d[\"graph\"])')\""
expect "metadata: verify passes on a minimal-metadata blob" 0 "OK; " $NNZIP verify "$M" "$W/min.nnz"
check "metadata: info shows the pipeline of a minimal-metadata blob" \
    sh -c "$NNZIP info '$W/min.nnz' | grep -q \"pipeline 'quantize:bits=8 | huffman'\""
expect "metadata: a bad --metadata value is a usage error naming the valid ones" 2 \
    "--metadata wants minimal or full, got 'some'" $NNZIP compress "$M" -o "$W/x.nnz" --metadata some
check "metadata: the decompressed models of both blobs are byte-identical" sh -c \
    "$NNZIP -q decompress '$W/min.nnz' -o '$W/min.onnx' && $NNZIP -q decompress '$W/full.nnz' -o '$W/full.onnx' && cmp -s '$W/min.onnx' '$W/full.onnx'"

# ---- ONNX Runtime: the model rebuilt from log-grid scales ---------------------
if $NNZIP -q decompress "$W/min.nnz" -o "$W/min.rt.onnx" 2>/dev/null &&
    $ORACLE "$M" "$W/min.rt.onnx" --dataset "$FIX/digits_test.json" --json >"$W/acc.json" 2>"$W/err"; then
    check "digits_cnn: INT8 with log-grid scales keeps top-1 within 0.5 points of float in ORT" $PYTHON -c '
import json, sys
a = json.load(open(sys.argv[1]))["accuracy"]
sys.exit(0 if a["test"] >= a["ref"] - 0.005 else 1)' "$W/acc.json"
else
    fail "digits_cnn: the rebuilt model runs in ORT" "$(head -c 300 "$W/err")"
fi

# ---- corpus: every model within 8.25 bits a weight -----------------------------
# (docs/BENCHMARKS.md has every model's figure). blazeface_back256 (69
# tensors, 3,304 channels, 1,536 of them of 9 weights) was the one above it
# in format 1.2 (8.339): its entries, slots and names cost 0.17 bits a
# weight, and one tensor kept float32 steps for a channel 2^16 below the
# others; format 2's entries and encoding version 5 take it to 8.22.
for m in blazeface_back256 silero_vad_legacy ppocr_det_v4 oww_hey_jarvis oww_melspec mlsd_large320; do
    [ -f "$CORPUS/$m.onnx" ] || { skip "$m: bits per weight" "no corpus in $CORPUS"; continue; }
    $NNZIP -q compress "$CORPUS/$m.onnx" -o "$W/$m.nnz" -p 'quantize:bits=8' 2>/dev/null
    bits=$(bb "$W/$m.nnz" '"%.3f" % d["bits_per_weight"]')
    check "$m: quantize:bits=8 stores the weight set at $bits <= 8.25 bits a weight" \
        $PYTHON -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= 8.25 else 1)' "$bits"
done

# ---- format 1.2 blobs still read -----------------------------------------------
# (a u32 slot and a names section entry per entry; encoding version 3, a
# byte a scale code, and version 4, packed); they decompress to the model a
# blob of today does (the same codes and scales, stored smaller)
O=tests/old-blobs
expect "format 1.2, version 3 scales: the blob verifies against its model" 0 "OK; 8 tensors, 6 changed" \
    $NNZIP_SAN verify "$O/depthwise.onnx" "$O/depthwise.q8.v1_2_byte_scales.nnz"
for old in depthwise.q8.v1_2.nnz depthwise.q8h.v1_2.nnz; do
    expect "format 1.2 ($old): the blob verifies against its model" 0 "OK; 8 tensors, 6 changed" \
        $NNZIP_SAN verify "$O/depthwise.onnx" "$O/$old"
done
check "format 1.2: its blobs and today's (format 2, smaller) decompress to the same model" sh -c \
    "$NNZIP -q compress '$O/depthwise.onnx' -o '$W/v5.nnz' -p 'quantize:bits=8' &&
     $NNZIP -q decompress '$W/v5.nnz' -o '$W/v5.onnx' &&
     $NNZIP -q compress '$O/depthwise.onnx' -o '$W/v5h.nnz' -p 'quantize:bits=8 | huffman' &&
     $NNZIP -q decompress '$W/v5h.nnz' -o '$W/v5h.onnx' &&
     for old in depthwise.q8.v1_2_byte_scales depthwise.q8.v1_2; do
         $NNZIP -q decompress '$O/'\$old.nnz -o '$W/'\$old.onnx && cmp -s '$W/'\$old.onnx '$W/v5.onnx' &&
         test \$(stat -c %s '$W/v5.nnz') -lt \$(stat -c %s '$O/'\$old.nnz) || exit 1
     done &&
     $NNZIP -q decompress '$O/depthwise.q8h.v1_2.nnz' -o '$W/old12h.onnx' && cmp -s '$W/old12h.onnx' '$W/v5h.onnx' &&
     test \$(stat -c %s '$W/v5h.nnz') -lt \$(stat -c %s '$O/depthwise.q8h.v1_2.nnz')"
check "format 1.2: info says so and lists its tensors by name" \
    sh -c "$NNZIP info '$O/depthwise.q8.v1_2.nnz' | tr '\n' ' ' | grep -Eq 'format 1\.2.*dw1\.weight .*dense/affine-log '"

# ---- blobs of format 1.1 still read ------------------------------------------
# tests/old-blobs: made by nnzip at format 1.1 (names in the directory,
# float32 scales, the per-tensor report in the metadata) from the model
# beside them.
O=tests/old-blobs
check "format 1.1: info opens a 1.1 blob and lists its tensors by name" \
    sh -c "$NNZIP info '$O/depthwise.q8h.v1_1.nnz' | tr '\n' ' ' | grep -Eq 'format 1\.1.*dw1\.weight .*dense/affine '"
expect "format 1.1: a quantized 1.1 blob verifies against its model" 0 "OK; 8 tensors, 6 changed" \
    $NNZIP_SAN verify "$O/depthwise.onnx" "$O/depthwise.q8h.v1_1.nnz"
expect "format 1.1: a lossless 1.1 blob verifies exactly" 0 "OK; 8 tensors, 0 changed" \
    $NNZIP_SAN verify "$O/depthwise.onnx" "$O/depthwise.lossless.v1_1.nnz"
check "format 1.1: the 1.1 blob and a blob of today of the same model decompress to the same model" sh -c \
    "$NNZIP -q decompress '$O/depthwise.q8h.v1_1.nnz' -o '$W/old.onnx' &&
     $NNZIP -q compress '$O/depthwise.onnx' -o '$W/new.nnz' -p 'quantize:bits=8 | huffman' --metadata full &&
     $NNZIP -q decompress '$W/new.nnz' -o '$W/new.onnx' && test \$(stat -c %s '$W/new.nnz') -lt \$(stat -c %s '$O/depthwise.q8h.v1_1.nnz') &&
     $NNZIP -q decompress '$O/depthwise.lossless.v1_1.nnz' -o '$W/old.lossless.onnx' && cmp -s '$W/old.lossless.onnx' '$O/depthwise.onnx'"
