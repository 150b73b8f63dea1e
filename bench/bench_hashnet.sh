#!/bin/sh
# bench_hashnet.sh - the hashnet pass (docs/passes/hashnet.md): decode speed
# of hashed tensors against memcpy in the same run, encode time on the
# largest Gemm/MatMul tensor of the corpus, and the digits MLP's accuracy in
# ONNX Runtime next to k-means and pruning at about the same size.
# Run by `make bench` (bench/bench.sh), or alone: sh bench/bench_hashnet.sh
set -u
cd "$(dirname "$0")/.." || exit 2
. bench/lib.sh
H=$BT/hashnet
mkdir -p "$H"
cc -O2 -std=c99 -Wall -Iruntime bench/bench_hashnet.c runtime/nnz.c -o "$H/bench_hashnet" || exit 1

# the largest float Gemm/MatMul weight of the corpus: model and tensor name
set -- $($PYTHON - "$N" "$CORPUS" <<'PY'
import glob, json, subprocess, sys
best = None
for m in sorted(glob.glob(sys.argv[2] + "/*.onnx")):
    d = json.loads(subprocess.run([sys.argv[1], "info", "--json", m], capture_output=True).stdout)
    for t in d["tensors"]:
        if t["consumer"] in ("Gemm", "MatMul") and t["dtype"] == "float":
            if best is None or t["elements"] > best[2]:
                best = (m, t["name"], t["elements"])
if best:
    print(*best)
PY
)
if [ $# -eq 3 ]; then
    model=$1 tensor=$2 count=$3
    echo "== hashnet: encode time on the largest corpus Gemm/MatMul weight"
    echo "  $(basename "$model") '$tensor', $count weights"
    set -- $(versus $N -q compress -f "$model" -o "$H/enc.nnz" -p "hashnet:ratio=8,only=$tensor" \
             -- $N -q compress -f "$model" -o "$H/raw.nnz")
    printf "  compress with hashnet:ratio=8 on it %.4f s, lossless %.4f s: hashing + encoding cost %.4f s (%.3g weights/s)\n" \
        "$1" "$2" "$(echo "$1 - $2" | bc -l)" "$(echo "$count / ($1 - $2)" | bc -l 2>/dev/null || echo nan)"
    echo
    echo "== hashnet: decode of that tensor against memcpy of its decoded bytes"
    printf "  %-44s %7s %5s %8s %14s %14s %9s\n" pipeline K coding scratch "decode w/s" "memcpy w/s" "dec/memcpy"
    for p in "hashnet:ratio=8" "hashnet:ratio=64" "hashnet:ratio=8 | quantize:bits=8" \
             "hashnet:ratio=8 | quantize:bits=8 | huffman" "hashnet:ratio=2 | quantize:bits=4 | huffman"; do
        $N -q compress -f "$model" -o "$H/d.nnz" -p "$(echo "$p" | sed "s/^hashnet:\([^ |]*\)/hashnet:\1,only=$tensor/")" --json >"$H/d.json" || continue
        "$H/bench_hashnet" "$H/d.nnz" 0.5 >"$H/d.out" || continue
        $PYTHON - "$p" "$tensor" "$H/d.json" "$H/d.out" <<'PY'
import json, sys
p, name = sys.argv[1], sys.argv[2]
rep = {t["name"]: t for t in json.load(open(sys.argv[3]))["tensors"]}[name]
for line in open(sys.argv[4]):
    r = json.loads(line)
    if r["tensor"] != name:
        continue
    enc = rep["encoding"]["values"]
    print("  %-44s %7d %5s %8d %14.4g %14.4g %9.2f" % (p, rep["hashnet"]["buckets"], enc["coding"][:4],
          r["scratch"], r["decode_weights_per_s"], r["memcpy_weights_per_s"], r["decode_over_memcpy"]))
PY
    done
    echo "  (dec/memcpy: decode time over memcpy time of the same float32 bytes, alternated in one loop)"
    echo
else
    echo "== hashnet: no corpus Gemm/MatMul weight in $CORPUS (make corpus); encode and decode skipped"
    echo
fi

# ---- accuracy on the digits MLP, in ONNX Runtime, at about the same size
M=$B/fixtures/digits_mlp.onnx
if [ ! -f "$M" ] || [ ! -d tests/oracle/node_modules/onnxruntime-node ]; then
    echo "== hashnet: accuracy table skipped (needs make fixtures and tests/oracle's npm install)"
    exit 0
fi
echo "== hashnet: digits MLP ($(basename "$M")), test accuracy in ONNX Runtime at about the same size"
$PYTHON - "$N" "$M" "$B/fixtures/digits_test.json" "$H" <<'PY'
import json, subprocess, sys
nnzip, model, data, work = sys.argv[1:5]

def run(pipeline, tag):
    """(weight bytes after, rel_l2, accuracy) of a pipeline, through the blob."""
    r = subprocess.run([nnzip, "-q", "-f", "compress", model, "-o", f"{work}/{tag}.nnz", "-p", pipeline,
                        "--json"], capture_output=True, text=True)
    if r.returncode:
        return None
    w = json.loads(r.stdout)["weights"]
    subprocess.run([nnzip, "-q", "-f", "decompress", f"{work}/{tag}.nnz", "-o", f"{work}/{tag}.onnx"], check=True)
    o = subprocess.run(["node", "tests/oracle/compare.js", model, f"{work}/{tag}.onnx", "--dataset", data,
                        "--json"], capture_output=True, text=True)
    a = json.loads(o.stdout)["accuracy"]
    run.ref = a["ref"]
    return w["bytes_after"], w["rel_l2"], a["test"]

def prune_at(target):
    """prune at the sparsity whose blob is closest to `target` weight bytes."""
    probe = subprocess.run([nnzip, "-q", "-f", "compress", model, "-o", f"{work}/probe.nnz", "-p",
                            "prune:sparsity=0.5"], capture_output=True, text=True)
    if "unknown pass" in probe.stderr:
        return None, None
    lo, hi, best = 0.0, 0.999, None
    for _ in range(14):
        s = (lo + hi) / 2
        r = subprocess.run([nnzip, "-q", "-f", "compress", model, "-o", f"{work}/probe.nnz", "-p",
                            f"prune:sparsity={s:.4f}", "--json"], capture_output=True, text=True)
        b = json.loads(r.stdout)["weights"]["bytes_after"]
        if best is None or abs(b - target) < abs(best[1] - target):
            best = (s, b)
        lo, hi = (s, hi) if b > target else (lo, s)
    return f"prune:sparsity={best[0]:.3f}", run(f"prune:sparsity={best[0]:.3f}", "prune")

def cell(pipeline, res):
    if not res:
        return "n/a"
    return f"{res[2]:.3f} ({res[0]} B, rel_l2 {res[1]:.3f}; `{pipeline}`)"

kmeans = {2: "quantize:bits=16", 4: "quantize:kmeans,bits=8", 8: "quantize:kmeans,bits=4",
          16: "quantize:kmeans,bits=2", 64: "quantize:kmeans,bits=2 | huffman"}
rows = []
for r in (2, 4, 8, 16, 64):
    h = run(f"hashnet:ratio={r}", f"h{r}")
    k = run(kmeans[r], f"k{r}")
    pp, p = prune_at(h[0])
    rows.append((r, h, (kmeans[r], k), (pp, p)))
print(f"  float model: accuracy {run.ref:.3f}, {run('', 'raw')[0]} weight bytes")
print("  | ratio | hashnet accuracy (weight bytes, rel_l2) | k-means / uniform | prune at the hashnet's size |")
print("  |---:|---|---|---|")
for r, h, (kp, k), (pp, p) in rows:
    print(f"  | {r} | {h[2]:.3f} ({h[0]} B, rel_l2 {h[1]:.3f}) | {cell(kp, k)} | {cell(pp, p)} |")
PY
