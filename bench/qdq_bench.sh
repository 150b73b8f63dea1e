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
# the graph a blob holds, expanded when compressed (bench/bench_graph.c)
cc -O2 -std=c99 -Iruntime bench/bench_graph.c runtime/nnz.c -llzma -o "$D/bench_graph" ||
    { echo "qdq_bench: cannot build bench/bench_graph.c (liblzma-dev)"; exit 1; }
echo "== already-quantized models, -p huffman against xz -9e -> docs/BENCHMARKS.md"
: >"$D/rows"
row() { # NAME MODEL WHAT
    $N -q compress -f "$2" -o "$D/$1.nnz" -p huffman --json >"$D/$1.json" || return
    $N -q decompress -f "$D/$1.nnz" -o "$D/$1.back.onnx" && cmp -s "$D/$1.back.onnx" "$2" ||
        { echo "qdq_bench: $1 does not come back byte for byte"; return; }
    "$D/bench_graph" "$D/$1.nnz" 0 --dump "$D/$1.graph" >/dev/null || return
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
$PYTHON - "$D/rows" "$N" <<'PY'
import json, lzma, os, subprocess, sys
import numpy as np
import onnx
from onnx import numpy_helper
sys.path.insert(0, "tests/hostile")
from gen_hostile import Blob, SEC_GRAPH, SEC_GRAPH_PACKED, SEC_PAYLOAD  # noqa: E402
def xz(b):
    return len(lzma.compress(bytes(b), preset=9 | lzma.PRESET_EXTREME))
def ent_bytes(h):
    h = h[h > 0]
    return float(-(h * np.log2(h / h.sum())).sum()) / 8
def classes(c2, k, table):
    """Bytes of a tensor coded with k Huffman tables, each channel (a row
    of c2) taking the table of its class: classes by the channels' mean
    distance from the median code, in quantiles; entropy per class, `table`
    bytes a table, log2(k) bits a channel."""
    d = np.abs(c2 - np.median(c2)).mean(axis=1)
    cls = np.searchsorted(np.quantile(d, np.linspace(0, 1, k + 1)[1:-1]), d)
    return sum(ent_bytes(np.bincount(c2[cls == j].ravel(), minlength=256).astype(float)) + table
               for j in range(k) if (cls == j).any()) + len(c2) * np.log2(k) / 8
out = ["<!-- qdq -->", "## Already-quantized models: `-p huffman` against `xz -9e`", "",
       "Models whose weights were int8/uint8 before nnzip saw them, `-p huffman` (lossless: "
       "each decompresses to the very bytes of its file, checked here), against `xz -9e` of "
       "the file (issue 20's target: 0.97x). *codes* are the Huffman-coded weights' "
       "payload and tables; *entropy* their order-0 entropy per tensor; *classes* the best "
       "of one table a tensor and 2 or 4 tables a tensor, each channel taking the table of "
       "its class (channels classed by their spread; every table at the size this blob's "
       "tables have, log2 of the classes a channel): what a table per channel group could "
       "reach; *graph* the graph section as stored (the ModelProto without the tensors' "
       "bytes; compressed, format 2.1, when that makes the blob smaller) and what xz makes "
       "of the graph it holds alone; *rest* everything else (header and section "
       "table, directory, metadata, the tensors left as they are: biases, scales, zero "
       "points) and what xz makes of it. *floor* = entropy + xz(graph) + 64 (a header): "
       "below what per-tensor order-0 coding cannot go, with nothing else stored and the "
       "graph as small as xz makes it. *reach* = min(entropy, classes) + xz(graph) + "
       "xz(rest): what the blob would be with an xz-class coder for everything that is not "
       "codes. `bench/qdq_bench.sh`.", "",
       "| model | what | codes | file B | xz -9e B | `-p huffman` B | vs xz | codes B | entropy B | classes B | graph B | xz(graph) B | rest B | xz(rest) B | floor vs xz | reach vs xz |",
       "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
for line in open(sys.argv[1]):
    name, model, blob, js, what = line.rstrip("\n").split("\t")
    raw, b = open(model, "rb").read(), open(blob, "rb").read()
    q = json.loads(subprocess.run([sys.executable, "bench/blob_bytes.py", "--json", "--all-coded",
                                   blob], capture_output=True, check=True).stdout)
    w = q["weights"]
    table = w["tables"] / max(w["n"], 1)
    info = json.loads(subprocess.run([sys.argv[2], "info", model, "--json"],
                                     capture_output=True, check=True).stdout)
    inits = {t.name: t for t in onnx.load(model).graph.initializer}
    coded = {t["name"] for t in json.load(open(js))["tensors"] if "entropy_bits" in t.get("huffman", {})}
    ent = cls = 0.0
    for t in info["tensors"]:
        if t["name"] not in coded or not t.get("codes_of"):
            continue
        a = numpy_helper.to_array(inits[t["name"]])
        c = a.astype(np.int64) + (128 if a.dtype == np.int8 else 0)
        c2 = np.moveaxis(c, max(t["codes_of"]["axis"], 0), 0).reshape(c.shape[max(t["codes_of"]["axis"], 0)], -1) \
            if c.ndim else c.reshape(1, 1)
        e0 = ent_bytes(np.bincount(c.ravel(), minlength=256).astype(float))
        ent += e0
        cls += min([e0 + table] + [classes(c2, k, table) for k in (2, 4) if len(c2) >= k])
    x = Blob(b)
    stype = SEC_GRAPH_PACKED if any(t == SEC_GRAPH_PACKED for t, _ in x.sections) else SEC_GRAPH
    gsec = len(x.section(stype))
    g = open(blob[:-4] + ".graph", "rb").read()  # the graph it holds, expanded
    pay = x.section(SEC_PAYLOAD)
    keep = bytearray(pay)  # the payload without the coded tensors' bytes
    for e in sorted(x.entries, key=lambda e: -e["payload_offset"]):
        if e["encoding"] in (1, 2, 3):
            del keep[e["payload_offset"]:e["payload_offset"] + e["payload_length"]]
    rest = b"".join(s for t, s in x.sections if t not in (stype, SEC_PAYLOAD)) + bytes(keep)
    X = xz(raw)
    codes = w["codes"] + w["tables"]
    floor = ent + xz(g) + 64
    reach = min(ent, cls) + xz(g) + xz(rest)
    out.append("| %s | %s | %d | %d | %d | %d | %.3fx | %d | %.0f | %.0f | %d | %d | %d | %d | %.3fx | %.3fx |" % (
        name, what, w["elements"], len(raw), X, len(b), len(b) / X, codes, ent, cls, gsec,
        xz(g), len(b) - codes - gsec, xz(rest), floor / X, reach / X))
out += ["", "<!-- /qdq -->"]
text = "\n".join(out) + "\n"
sys.path.insert(0, "bench")
import doc_section
doc_section.put("docs/BENCHMARKS.md", text)
print(text)
PY
