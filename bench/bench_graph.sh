#!/bin/sh
# bench_graph.sh - the compressed graph section (docs/FORMAT.md, format
# 2.1): each corpus model's blob at `quantize:bits=8 | huffman` with the
# graph stored (--graph raw) and as nnzip writes it by default; the graph's
# bytes expanded, compressed by nnzip and by `xz -9e` (liblzma, the same
# bytes); the runtime's expansion speed against memcpy and liblzma's
# decoding of the same graph, in the same run (bench/bench_graph.c).
# Writes the section between the graph markers of docs/BENCHMARKS.md. Run
# by `make bench`, or alone.
set -u
cd "$(dirname "$0")/.." || exit 2
. bench/lib.sh
D=$BT/graph
mkdir -p "$D"
[ -x "$N" ] || { echo "bench_graph: $N is not built (make)"; exit 1; }
cc -O2 -std=c99 -Iruntime bench/bench_graph.c runtime/nnz.c -llzma -o "$D/bench_graph" ||
    { echo "bench_graph: cannot build bench/bench_graph.c (liblzma-dev)"; exit 1; }
echo "== compressed graph section: blob sizes, graph against xz -9e, expansion speed -> docs/BENCHMARKS.md"
: >"$D/rows"
for m in "$CORPUS"/*.onnx "$FIX"/digits_cnn.onnx "$FIX"/edge_depthwise_small.onnx; do
    [ -f "$m" ] || continue
    n=$(basename "$m" .onnx)
    $N -q compress -f "$m" -o "$D/$n.raw.nnz" -p 'quantize:bits=8|huffman' --graph raw &&
        $N -q compress -f "$m" -o "$D/$n.nnz" -p 'quantize:bits=8|huffman' || continue
    # the same model either way, byte for byte
    $N -q decompress -f "$D/$n.raw.nnz" -o "$D/$n.a.onnx" && $N -q decompress -f "$D/$n.nnz" -o "$D/$n.b.onnx" &&
        cmp -s "$D/$n.a.onnx" "$D/$n.b.onnx" || { echo "bench_graph: $n differs with a compressed graph"; continue; }
    printf '%s\t%s\t%s\t%s\n' "$n" "$(stat -c %s "$D/$n.raw.nnz")" "$(stat -c %s "$D/$n.nnz")" \
        "$("$D/bench_graph" "$D/$n.nnz" 0.5)" >>"$D/rows"
done
$PYTHON - "$D/rows" <<'PY'
import json, sys
out = ["<!-- graph -->", "## Compressed graph",
       "",
       "The graph section (the ModelProto without the tensors' bytes: node names, inputs "
       "and outputs, exporter names repeated in every node) compressed (format 2.1, "
       "[FORMAT.md](FORMAT.md#compressed-graph-section-format-21)). Blobs at `quantize:bits=8 "
       "| huffman`: *stored*, with `--graph raw` (as before format 2.1); *default*, as nnzip "
       "writes them now (compressed when smaller: a compressed graph moves the tensors the "
       "graph held into the payload and every name, type and shape into the directory, "
       "which is counted). Both decompress to the same bytes (checked here). *graph* is the "
       "graph a compressed blob holds (every tensor cut out), *nnzip* its compressed "
       "section, *xz -9e* liblzma's of the same bytes (preset 9 extreme, with the xz "
       "format's headers and CRC-64, as the `xz` tool writes). *expand* is the runtime's "
       "expansion (`nnz_graph_get`, tables included) in MB/s of graph on this machine, "
       "*xz -d / expand* liblzma's decoding time of the same graph over ours, *memcpy / "
       "expand* memcpy's time of the graph over ours, in the same run. "
       "`bench/bench_graph.sh`.", "",
       "| model | stored B | default B | change | graph B | nnzip B | xz -9e B | nnzip vs xz | expand MB/s | xz -d / expand | memcpy / expand |",
       "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
for line in open(sys.argv[1]):
    name, raw, now, js = line.rstrip("\n").split("\t")
    g = json.loads(js)
    raw, now = int(raw), int(now)
    if g["compressed"]:
        out.append("| %s | %d | %d | %+.1f%% | %d | %d | %d | %.2fx | %.0f | %.2f | %.4f |" % (
            name, raw, now, 100.0 * (now - raw) / raw, g["graph_bytes"], g["stored_bytes"],
            g["xz_bytes"], g["stored_bytes"] / g["xz_bytes"], g["expand_mb_s"],
            g["xz_decode_over_expand"], g["memcpy_over_expand"]))
    else:
        out.append("| %s | %d | %d | %+.1f%% | %d | (stored) | %d | | | | |" % (
            name, raw, now, 100.0 * (now - raw) / raw, g["graph_bytes"], g["xz_bytes"]))
out += ["", "<!-- /graph -->"]
text = "\n".join(out) + "\n"
sys.path.insert(0, "bench")
import doc_section
doc_section.put("docs/BENCHMARKS.md", text)
print(text)
PY
