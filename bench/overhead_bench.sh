#!/bin/sh
# overhead_bench.sh - what a blob costs beyond its codes, per model: every
# corpus model and the fixtures, `quantize:bits=8` (codes packed at 8 bits,
# so anything above 8 bits a weight is overhead) and `quantize:bits=8 |
# huffman` against the codes' order-0 entropy plus the scales. Bytes are
# split by bench/blob_bytes.py (it parses the blob). Writes the section
# between the overhead markers of docs/BENCHMARKS.md (replaced, or added at
# the end). Run by `make bench` after benchmarks.sh, or alone.
set -u
cd "$(dirname "$0")/.." || exit 2
. bench/lib.sh
D=$BT/overhead
mkdir -p "$D"
[ -x "$N" ] || { echo "overhead_bench: $N is not built (make)"; exit 1; }
echo "== per-tensor overhead (bits per weight over the weight set) -> docs/BENCHMARKS.md"
: >"$D/rows"
for m in "$CORPUS"/*.onnx "$FIX"/digits_mlp.onnx "$FIX"/digits_cnn.onnx \
    "$FIX"/edge_depthwise_small.onnx; do
    [ -f "$m" ] || continue
    n=$(basename "$m" .onnx)
    $N -q compress -f "$m" -o "$D/$n.q8.nnz" -p 'quantize:bits=8' || continue
    $N -q compress -f "$m" -o "$D/$n.q8h.nnz" -p 'quantize:bits=8 | huffman' --json \
        >"$D/$n.q8h.json" || continue
    echo "$n $D/$n.q8.nnz $D/$n.q8h.nnz $D/$n.q8h.json" >>"$D/rows"
done
$PYTHON - "$D/rows" <<'PY'
import json, os, subprocess, sys
rows = [l.split() for l in open(sys.argv[1])]
def parts(blob):
    return json.loads(subprocess.run([sys.executable, "bench/blob_bytes.py", "--json", blob],
                                     capture_output=True, check=True).stdout)
out = ["<!-- overhead -->", "## Per-tensor overhead",
       "",
       "What a blob costs beyond its codes, over the weight set (the tensors a pass quantized: "
       "the weights of compute ops; the graph section and what stays float are left out). "
       "`quantize:bits=8` packs 8-bit codes, so every bit above 8 is overhead: the directory "
       "entry and its share of the offsets (format 2: 4 bytes a run of 16 entries), the name, "
       "type and shape (format 2: one `back` varint for a tensor the graph describes), the "
       "per-channel scales "
       "(codes on the log grid of value map 6, packed in the bits their span needs, plus the "
       "tensor's exponent, base and width bytes), the "
       "zero points and the other parameters. Metadata is the whole section (minimal by "
       "default), shown apart. With `| huffman`, the weight set's bytes against the codes' "
       "order-0 entropy (per tensor, as the encoder measures it; an alias counted once) plus "
       "one byte a channel. Format 1.2 (before) figures, measured by the same script on main's "
       "nnzip of 7 December 2026, are in the table after. "
       "Bytes split by `bench/blob_bytes.py`, which parses the blob; `bench/overhead_bench.sh`.",
       "",
       "| model | weights | tensors | bits/weight | names B | scales B | zero points B | entry + params + slots B | metadata B | `\\| huffman` bits/weight | vs entropy + scales |",
       "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
for n, q8, q8h, js in rows:
    a, b = parts(q8), parts(q8h)
    w = a["weights"]
    rep = json.load(open(js))
    ent = sc = 0.0
    for t in rep["tensors"]:
        e = t.get("encoding", {})
        # an alias entry repeats an earlier tensor's stream: counted once,
        # as the blob stores it (blob_bytes leaves alias entries out too)
        if e.get("layout") in (None, "raw") or "quantize" not in t or "alias_of" in e:
            continue
        for k in ("values", "positions"):
            if k in e:
                ent += e[k].get("entropy_bits", 0) * e[k]["symbols"] / 8
        ch = t["quantize"].get("channels", 1)
        sc += ch + 1 if ch > 1 else 4
    hb = sum(b["weights"][k] for k in ("name", "scales", "zero_points", "params_other",
                                       "entry_other", "slot", "tables", "codes"))
    out.append("| %s | %d | %d | %.3f | %d | %d | %d | %d | %d | %.3f | %+.1f%% |" % (
        n, w["elements"], w["n"], a["bits_per_weight"], w["name"], w["scales"], w["zero_points"],
        w["entry_other"] + w["params_other"] + w["slot"], a["metadata"], b["bits_per_weight"],
        100 * (hb / (ent + sc) - 1) if ent + sc else 0))
# before: format 1.2 (main's nnzip of 7 December 2026, the same script and
# models): a u32 slot, a names section entry and name, type and shape in
# every entry, encoding version 4, float32 steps for a tensor whose
# channels span more than 16 binades. Figures measured once, kept here.
out += ["", "Before format 2 (format 1.2, encoding version 4; silero's `| huffman` figure "
        "counts its alias entries once, as above):", "",
        "| model | bits/weight | `\\| huffman` bits/weight | vs entropy + scales |",
        "|---|--:|--:|--:|"]
out += ["| %s | %s | %s | %s |" % r for r in (
    ("blazeface_back256", "8.339", "7.799", "+5.6%"), ("mlsd_large320", "7.052", "5.868", "+2.9%"),
    ("oww_hey_jarvis", "8.013", "6.951", "+0.9%"), ("oww_melspec", "6.563", "6.213", "+0.4%"),
    ("ppocr_det_v4", "8.082", "7.149", "+1.6%"), ("silero_vad_legacy", "8.150", "7.700", "+1.9%"),
    ("digits_mlp", "8.124", "7.276", "+3.9%"), ("digits_cnn", "8.137", "7.614", "+3.4%"),
    ("edge_depthwise_small", "9.649", "9.649", "+28.0%"))]
out += ["", "<!-- /overhead -->"]
text = "\n".join(out) + "\n"
sys.path.insert(0, "bench")
import doc_section
doc_section.put("docs/BENCHMARKS.md", text)
print(text)
PY
