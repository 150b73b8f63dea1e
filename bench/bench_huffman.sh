#!/bin/sh
# bench_huffman.sh - the huffman pass's figures (docs/passes/huffman.md),
# each beside its reference in the same run: our bytes against the order-0
# entropy of the codes and against zstd -19 and xz -9 of the same packed
# codes; decode speed against zstd -d of those codes (in process, alternated
# round by round, CPU time of the thread) and against memcpy; encode speed;
# what each Huffman length limit costs; codes per group of channels; 90%-
# sparse 5-bit codes against the entropy of mask + survivors; and whole
# pipelines against zstd -19 of the model, with ONNX Runtime's output error.
#
# Run by `make bench` (bench/bench.sh), or alone from the repository root:
#   BUILD=build sh bench/bench_huffman.sh
# BENCH_SECONDS (default 2) is the decode time per model; BENCH_ORT=0 skips
# the ONNX Runtime column.
set -u
cd "$(dirname "$0")/.." || exit 2
. bench/lib.sh
SECS=${BENCH_SECONDS:-2}
W=$BT/huffman
mkdir -p "$W"

models=$(ls "$CORPUS"/*.onnx 2>/dev/null)
[ -n "$models" ] || { echo "bench_huffman: no corpus models in $CORPUS (make corpus)"; exit 1; }
for tool in zstd xz; do
    command -v $tool >/dev/null 2>&1 || { echo "bench_huffman: $tool not installed"; exit 1; }
done
PKGS="libprotobuf-c zlib openblas lapacke libcjson"
H=$W/bench_huffman
cc -O2 -std=c11 -D_GNU_SOURCE -Iruntime -Isrc/core -Isrc/blob -I"$B/gen" \
    $(pkg-config --cflags $PKGS) bench/bench_huffman.c "$B/obj/libnnzip.a" \
    $(pkg-config --libs $PKGS) -lm -ldl -o "$H" || { echo "bench_huffman: build failed"; exit 1; }

echo "== huffman: sizes against the order-0 entropy, zstd -19 and xz -9 of the same packed codes"
echo "   bits per weight of the quantized tensors; ours = payload + params (scales) as stored;"
echo "   'target' counts dense tensors over 1% + table bytes of their entropy"
for P in "quantize:bits=8 | huffman" "quantize:max-rel-error=0.01 | huffman"; do
    echo "  pipeline '$P'"
    printf "  %-19s %9s %7s %7s %7s %7s %8s %7s %7s %7s %6s %6s\n" model weights ours payload \
        codes entropy over zstd-19 xz-9 packed target enc_MB/s
    for m in $models; do
        n=$(basename "$m" .onnx)
        t=$n.$(echo "$P" | tr -c 'a-z0-9\n' '_')
        "$H" codes "$m" "$P" "$W/$t.codes" >"$W/$t.json" 2>"$W/$t.over" || { echo "  $n: failed"; continue; }
        zstd -q -19 -f "$W/$t.codes" -o "$W/$t.codes.zst"
        xz -9 -k -c "$W/$t.codes" >"$W/$t.codes.xz"
        $PYTHON - "$W/$t.json" "$(stat -c %s "$W/$t.codes.zst")" "$(stat -c %s "$W/$t.codes.xz")" "$n" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1])); zs, xs, name = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
w = d["weights"]; b = lambda x: 8.0 * x / w
over = b(d["ours_payload_bytes"]) / b(d["entropy_bytes"]) - 1
print("  %-19s %9d %7.3f %7.3f %7.3f %7.3f %+7.2f%% %7.3f %7.3f %7.3f %3d/%-2d %6.0f" % (
    name[:19], w, b(d["ours_bytes"]), b(d["ours_payload_bytes"]), b(d["ours_payload_bytes"] - d["table_bytes"]),
    b(d["entropy_bytes"]), 100 * over, b(zs), b(xs), b(d["code_bytes"]),
    d["dense_over_target"], d["dense_tensors"], d["encode_MBps"]))
EOF
        sed 's/^/    /' "$W/$t.over"
    done
    echo "  (codes = payload less the Huffman tables; over = payload / entropy - 1, tables included;"
    echo "   packed = the codes at their width, what zstd and xz were given; enc_MB/s = MB of packed"
    echo "   codes encoded per CPU second, median of 9 runs or more, 0.3 s at least)"
done
echo

echo "== huffman: decode speed, the quantized tensors of each model, against zstd -d of their packed codes"
echo "   (same run, rounds alternated, CPU time of the thread; medians; ratio > 1: we are faster)"
printf "  %-19s %-6s %9s %10s %10s %10s %8s %8s %10s\n" model codes weights "f32 Mw/s" "i8 Mw/s" \
    "zstd Mw/s" "f32/zstd" "i8/zstd" "memcpy/f32"
for P in "quantize:bits=8 | huffman" "quantize:max-rel-error=0.01 | huffman"; do
    for m in $models; do
        n=$(basename "$m" .onnx)
        t=$n.$(echo "$P" | tr -c 'a-z0-9\n' '_')
        [ -f "$W/$t.codes.zst" ] || continue
        $N -q compress -f "$m" -o "$W/$t.nnz" -p "$P" || continue
        "$H" decode "$W/$t.nnz" "$W/$t.codes.zst" "$(stat -c %s "$W/$t.codes")" "$SECS" >"$W/$t.dec.json" || continue
        $PYTHON - "$W/$t.dec.json" "$n" "$P" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1])); tag = "q8" if "bits=8" in sys.argv[3] else "mre"
i8 = d["decode_i8_weights_per_s"]
print("  %-19s %-6s %9d %10.0f %10s %10.0f %8.2f %8s %10.3f" % (sys.argv[2][:19], tag, d["weights"],
    d["decode_f32_weights_per_s"] / 1e6, "%.0f" % (i8 / 1e6) if i8 else "-", d["zstd_d_weights_per_s"] / 1e6,
    d["f32_over_zstd"], "%.2f" % d["i8_over_zstd"] if i8 else "-", d["memcpy_over_f32"]))
EOF
    done
done
echo "  (q8: quantize:bits=8 | huffman, mre: quantize:max-rel-error=0.01 | huffman; memcpy/f32: memcpy"
echo "   time of the float32 bytes over our decode time; zstd -d: ZSTD_decompress of the -19 file;"
echo "   i8: NNZ_OUT_I8, for codes of at most 8 bits)"
echo

echo "== huffman: what a code length limit costs (data bits over no limit, every tensor of the corpus)"
$PYTHON - "$W" <<'EOF'
import glob, json, sys
for tag, pat in (("quantize:bits=8", "*bits_8*.json"), ("quantize:max-rel-error=0.01", "*max_rel_error*.json")):
    tot = {}
    for f in glob.glob(sys.argv[1] + "/" + pat):
        if f.endswith(".dec.json"): continue
        for k, v in json.load(open(f))["limit_bits"].items():
            tot[k] = tot.get(k, 0) + v if v >= 0 and tot.get(k, 0) >= 0 else -1
    base = tot.get("none0")
    cells = []
    for k in ("9", "10", "11", "12", "13", "14", "15", "16"):
        cells.append("%s: %s" % (k, "n/a" if tot.get(k, -1) < 0 else "%+.3f%%" % (100.0 * (tot[k] / base - 1))))
    print("  %-28s %s" % (tag, "  ".join(cells)))
print("  (the default is 14 bits; optimal codes under each limit, by package-merge)")
EOF
echo

echo "== huffman: codes per group of channels (channels sorted by their entropy, G equal groups,"
echo "   one code and table per group, plus the group of each channel), bytes against one code"
$PYTHON - "$W" <<'EOF'
import glob, json, sys
print("  %-19s %-5s %10s %9s %9s %9s %16s" % ("model", "codes", "1 group", "2", "4", "8", "per-channel H"))
for f in sorted(glob.glob(sys.argv[1] + "/*.json")):
    if f.endswith(".dec.json"): continue
    d = json.load(open(f)); g = d["group_bytes"]
    if not g[0]: continue
    tag = "q8" if "bits=8" in d["pipeline"] else "mre"
    name = f.split("/")[-1].split(".")[0]
    print("  %-19s %-5s %10d %+8.2f%% %+8.2f%% %+8.2f%% %+15.2f%%" % (name[:19], tag, g[0],
        *(100.0 * (x / g[0] - 1) for x in g[1:]), 100.0 * (d["group_bound_bytes"] / g[0] - 1)))
print("  (per-channel H: the entropy of each channel's codes on its own, no tables: a bound, not a code)")
EOF
echo

echo "== huffman: 90%-sparse 5-bit codes (each weight tensor pruned by magnitude, survivors quantized)"
printf "  %-19s %8s %9s %11s %9s %9s %12s %10s\n" model tensors weights "entropy B" "ours B" "ours/H" \
    "zero-as-sym" "pairs"
for m in $models; do
    n=$(basename "$m" .onnx)
    "$H" sparse "$m" >"$W/$n.sparse.json" || continue
    $PYTHON - "$W/$n.sparse.json" "$n" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1])); e = d["entropy_bytes"]
print("  %-19s %8d %9d %11.0f %9d %9.3f %11.3fx %9.3fx" % (sys.argv[2][:19], d["tensors"], d["weights"], e,
    d["ours_bytes"], d["ours_over_entropy"], d["dense_huffman_bytes"] / e, d["pair_huffman_bytes"] / e))
EOF
done
echo "  (entropy of mask + survivors: n * H2(density) + nnz * H(survivor codes); ours: the sparse"
echo "   layout the encoder chose, payload; zero-as-sym: Huffman over every element; pairs: Huffman over"
echo "   pairs of elements; the last two as multiples of the entropy, tables included)"
echo

echo "== huffman: whole pipelines, bits per weight and ONNX Runtime output error, against zstd -19 of the model"
printf "  %-19s %10s %12s %10s %12s %12s\n" model "mre+huff" "rel_l2" "q8+huff" "rel_l2" "zstd -19"
for m in $models; do
    n=$(basename "$m" .onnx)
    params=$($N info --json "$m" | $PYTHON -c 'import json,sys; print(json.load(sys.stdin)["totals"]["parameters"])')
    zb=$(zstd -q -19 -c "$m" | wc -c)
    row="$n"
    for P in "quantize:max-rel-error=0.01 | huffman" "quantize:bits=8 | huffman"; do
        t=$W/$n.pipe
        $N -q compress -f "$m" -o "$t.nnz" -p "$P" --onnx-out "$t.onnx" --json >"$t.json" 2>/dev/null
        bpw=$($PYTHON -c 'import json,sys; print("%.3f" % json.load(open(sys.argv[1]))["weights"]["bits_per_weight"])' "$t.json")
        err="-"
        if [ "${BENCH_ORT:-1}" != 0 ] && [ -d tests/oracle/node_modules ]; then
            [ -f "${m%.onnx}.data" ] && cp "${m%.onnx}.data" "$W/"
            err=$(node tests/oracle/compare.js "$m" "$t.onnx" --corpus-model "$n" \
                --corpus-json ../shared/corpus/models.json --json 2>/dev/null |
                $PYTHON -c 'import json,sys; print("%.3g" % json.load(sys.stdin)["worst_rel_l2"])' 2>/dev/null || echo "?")
        fi
        row="$row $bpw $err"
    done
    set -- $row
    printf "  %-19s %10s %12s %10s %12s %12.3f\n" "$1" "$2" "$3" "$4" "$5" "$(echo "$zb * 8 / $params" | bc -l)"
done
echo "  (bits per weight: the blob's weight bytes (payload, params, directory entry) over the parameters;"
echo "   zstd -19 of the whole .onnx file over the same parameters; rel_l2: worst output of ONNX Runtime,"
echo "   relative L2 against the original model on the corpus inputs; zstd is lossless)"
