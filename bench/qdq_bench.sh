#!/bin/sh
# qdq_bench.sh - models quantized before nnzip saw them, `-p huffman`
# (lossless) against `xz -9e` of their file, and where the bytes go: the
# codes against their order-0 entropy, the graph section against what xz
# makes of it alone, the directory, tables and metadata. The floor column is
# what per-tensor order-0 coding cannot go below even with nothing else
# stored but the graph at xz's size and a 64-byte header. Models: the
# synthetic int8 fixture, the trained digits models as ONNX Runtime's static
# QDQ recipe writes them (uint8 per tensor, gen_fixtures.py), the same
# networks as nnzip's own `decompress --qdq` writes them (int8 per channel),
# and corpus models made uint8 per tensor the same way. Writes the section
# between the qdq markers of docs/BENCHMARKS.md. Run by `make bench`, or
# alone.
set -u
cd "$(dirname "$0")/.." || exit 2
. bench/lib.sh
D=$BT/qdq
mkdir -p "$D"
[ -x "$N" ] || { echo "qdq_bench: $N is not built (make)"; exit 1; }
echo "== already-quantized models, -p huffman against xz -9e -> docs/BENCHMARKS.md"
: >"$D/rows"
row() { # NAME MODEL WHAT
    $N -q compress -f "$2" -o "$D/$1.nnz" -p huffman --json >"$D/$1.json" || return
    $N -q decompress -f "$D/$1.nnz" -o "$D/$1.back.onnx" && cmp -s "$D/$1.back.onnx" "$2" ||
        { echo "qdq_bench: $1 does not come back byte for byte"; return; }
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$D/$1.nnz" "$D/$1.json" "$3" >>"$D/rows"
}
row edge_qdq_int8 "$FIX/edge_qdq_int8.onnx" "synthetic int8/uint8 codes (normal, sd 25), five integer ops"
row digits_mlp_qdq_u8 "$FIX/digits_mlp_qdq_u8.onnx" "trained, ORT static QDQ: uint8 per tensor, int32 biases, activation QDQ"
row digits_cnn_qdq_u8 "$FIX/digits_cnn_qdq_u8.onnx" "trained, ORT static QDQ: uint8 per tensor, int32 biases, activation QDQ"
for m in "$FIX"/digits_mlp.onnx "$FIX"/digits_cnn_folded.onnx "$CORPUS"/blazeface_back256.onnx \
    "$CORPUS"/ppocr_det_v4.onnx; do
    [ -f "$m" ] || continue
    n=$(basename "$m" .onnx)
    case $n in
    digits*) p='quantize:bits=8' k=int8 what="trained, nnzip --qdq: int8 per channel" ;;
    *) p='quantize:bits=8,scheme=asym,granularity=tensor' k=uint8
       what="corpus model, nnzip --qdq: uint8 per tensor" ;;
    esac
    $N -q compress -f "$m" -o "$D/$n.q.nnz" -p "$p" &&
        $N -q decompress -f "$D/$n.q.nnz" -o "$D/${n}_$k.onnx" --qdq 2>/dev/null &&
        row "${n}_qdq_$k" "$D/${n}_$k.onnx" "$what"
done
$PYTHON - "$D/rows" <<'PY'
import json, lzma, os, struct, subprocess, sys
def xz(b):
    return len(lzma.compress(b, preset=9 | lzma.PRESET_EXTREME))
def section(blob, typ):
    n = struct.unpack_from("<I", blob, 24)[0]
    for s in range(n):
        t, _, off, ln = struct.unpack_from("<IIQQ", blob, 64 + 32 * s)
        if t == typ:
            return blob[off:off + ln]
    return b""
out = ["<!-- qdq -->", "## Already-quantized models: `-p huffman` against `xz -9e`", "",
       "Models whose weights were int8/uint8 before nnzip saw them, `-p huffman` (lossless: "
       "each decompresses to the very bytes of its file, checked here), against `xz -9e` of "
       "the file (issue 20's target: 0.97x). *codes* are the Huffman-coded weights' "
       "payload and tables; *entropy* their order-0 entropy, per tensor, as the encoder "
       "measures it; *graph* the graph section as stored (the ModelProto without the "
       "tensors' bytes), then what xz makes of it alone; *rest* the header and section "
       "table, directory, metadata and the tensors left as they are (biases, scales, zero "
       "points). *floor* is entropy + xz(graph) + the 64-byte header: what per-tensor "
       "order-0 coding could reach with nothing else stored and the graph compressed as "
       "well as xz does. `bench/qdq_bench.sh`.", "",
       "| model | what | codes | file B | xz -9e B | `-p huffman` B | vs xz | codes B | entropy B | graph B | xz(graph) B | rest B | floor vs xz |",
       "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
for line in open(sys.argv[1]):
    name, model, blob, js, what = line.rstrip("\n").split("\t")
    raw, b = open(model, "rb").read(), open(blob, "rb").read()
    q = json.loads(subprocess.run([sys.executable, "bench/blob_bytes.py", "--json", "--all-coded",
                                   blob], capture_output=True, check=True).stdout)
    w = q["weights"]
    ent = 0.0
    for t in json.load(open(js))["tensors"]:
        if "entropy_bits" in t.get("huffman", {}):
            ent += t["huffman"]["entropy_bits"] * t["elements"] / 8
    X, g = xz(raw), section(b, 2)
    codes = w["codes"] + w["tables"]
    rest = len(b) - codes - len(g)
    floor = ent + xz(g) + 64
    out.append("| %s | %s | %d | %d | %d | %d | %.3fx | %d | %.0f | %d | %d | %d | %.3fx |" % (
        name, what, w["elements"], len(raw), X, len(b), len(b) / X, codes, ent, len(g), xz(g),
        rest, floor / X))
out += ["", "<!-- /qdq -->"]
text = "\n".join(out) + "\n"
doc = "docs/BENCHMARKS.md"
s = open(doc).read()
i, j = s.find("<!-- qdq -->"), s.find("<!-- /qdq -->")
s = (s[:i] + text.rstrip("\n") + s[j + len("<!-- /qdq -->"):] if i >= 0 and j > i
     else s.rstrip("\n") + "\n\n" + text)
open(doc + ".tmp", "w").write(s)
os.replace(doc + ".tmp", doc)
print(text)
PY
