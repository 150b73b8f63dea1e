#!/bin/sh
# benchmarks.sh - writes docs/BENCHMARKS.md: for every corpus model
# (.corpus/*.onnx) and the two trained digits fixtures,
#   headline  bits per weight at an ONNX Runtime output error of 1%, 2% and
#             5%, found by `nnzip sweep --eval` over a grid of quantizers
#   recipes   size and ONNX Runtime output error (relative L2, cosine; test
#             accuracy for the fixtures) of the recipes in docs/pipelines.md,
#             next to gzip -9, xz -9e and zstd -19 of the model file
#   sweep     how long a sweep takes against separate compress runs, with
#             one and with every core, and what reusing a shared prefix
#             could save at most
# with the machine and the date. Run by `make bench` (bench/bench.sh), or
# alone: sh bench/benchmarks.sh. BENCH_JOBS (default: the number of cores)
# sets sweep -j; BENCHMARKS_OUT the file written (default docs/BENCHMARKS.md).
set -u
cd "$(dirname "$0")/.." || exit 2
. bench/lib.sh
OUT=${BENCHMARKS_OUT:-docs/BENCHMARKS.md}
JOBS=${BENCH_JOBS:-$(nproc)}
D=$BT/benchmarks
mkdir -p "$D"
started=$(now)
load=$(cut -d' ' -f1-3 /proc/loadavg)

[ -x "$N" ] || { echo "benchmarks: $N is not built (make)"; exit 1; }
[ -f "$FIX/digits_mlp.onnx" ] || { echo "benchmarks: no fixtures in $FIX (make fixtures)"; exit 1; }
[ -d tests/oracle/node_modules/onnxruntime-node ] ||
    { echo "benchmarks: the ONNX Runtime oracle is not installed (make test-deps)"; exit 1; }
models=$(ls "$CORPUS"/*.onnx 2>/dev/null)
[ -n "$models" ] || echo "benchmarks: no corpus models in $CORPUS (make corpus); fixtures only"

# The standard recipes: docs/pipelines.md's table, in its order.
cat >"$D/recipes.txt" <<'EOF'
INT8 deploy|quantize:bits=8 | huffman
INT8 deploy of a model with unfolded BatchNormalization|fold | quantize:bits=8 | huffman
as small as possible at 1% weight error|quantize:max-rel-error=0.01 | huffman
FP16|quantize:fp16
Deep Compression (Han et al.)|prune:sparsity=0.9 | quantize:kmeans,bits=5 | huffman
HashedNets|hashnet:ratio=8 | quantize:bits=8 | huffman
low-rank + INT8|decompose:energy=0.9 | quantize:bits=8 | huffman
EOF
# The headline's grid: uniform quantizers by bit width and by weight-error
# target, and k-means weight sharing, each entropy coded.
H1='quantize:bits=2,3,4,5,6,7,8,10,12,14,16 | huffman'
H2='quantize:max-rel-error=0.0005,0.001,0.002,0.004,0.007,0.01,0.015,0.02,0.03,0.045,0.065,0.09,0.13,0.18 | huffman'
H3='quantize:kmeans,bits=2,3,4,5,6 | huffman'
H4='quantize:fp16'
H5='quantize:bf16'

# The --eval command: ONNX Runtime output error (worst relative L2 over the
# float outputs) of the rebuilt model against the original.
cat >"$D/outerr.sh" <<EOF
#!/bin/sh
# outerr.sh REF TEST ORACLE-ARGS...: the worst output rel L2, as a number
ref=\$1 test=\$2
shift 2
node tests/oracle/compare.js "\$ref" "\$test" "\$@" --json |
    $PYTHON -c 'import json, sys; w = json.load(sys.stdin)["worst_rel_l2"]; print("" if w is None else repr(w))'
EOF

# oracle_args MODEL: how the oracle feeds it
oracle_args() {
    case $1 in
    "$FIX"/*) echo "--dataset $FIX/digits_test.json" ;;
    *) echo "--corpus-model $(basename "$1" .onnx)" ;;
    esac
}

echo "== benchmarks: $(echo $models | wc -w) corpus models and 2 digits fixtures -> $OUT"
# what was measured, exactly: each model's bytes and sha256 (printed, and a
# table of the page)
for m in $models "$FIX/digits_mlp.onnx" "$FIX/digits_cnn.onnx"; do
    printf "%s %s %s\n" "$(basename "$m" .onnx)" "$(stat -c %s "$m")" "$(sha256sum "$m" | cut -d' ' -f1)"
done >"$D/sha256.txt"
sed 's/^/  sha256 /' "$D/sha256.txt"
for m in $models "$FIX/digits_mlp.onnx" "$FIX/digits_cnn.onnx"; do
    n=$(basename "$m" .onnx)
    args=$(oracle_args "$m")
    t0=$(now)
    # the model, and general-purpose compressors on its file
    $N info --json "$m" >"$D/$n.info.json"
    {
        echo "onnx $(stat -c %s "$m")"
        echo "gzip $(gzip -9 -c "$m" | wc -c)"
        echo "xz $(xz -9e -c "$m" | wc -c)"
        echo "zstd $(zstd -19 -q -c "$m" | wc -c)"
    } >"$D/$n.sizes"
    # the recipes: one sweep, a --grid each, blobs kept for the oracle
    set --
    while IFS='|' read -r _ pipe rest; do
        set -- "$@" --grid "$pipe${rest:+|$rest}"
    done <"$D/recipes.txt"
    mkdir -p "$D/$n.blobs"
    $N -q sweep -f "$m" "$@" -j "$JOBS" --blobs "$D/$n.blobs" -o "$D/$n.recipes.json" 2>"$D/$n.recipes.err"
    k=1
    while [ $k -le "$(wc -l <"$D/recipes.txt")" ]; do
        b="$D/$n.blobs/$k.nnz"
        if [ -f "$b" ] && $N -q decompress -f "$b" -o "$D/$n.r$k.onnx" 2>>"$D/$n.recipes.err"; then
            # shellcheck disable=SC2086
            node tests/oracle/compare.js "$m" "$D/$n.r$k.onnx" $args --json \
                >"$D/$n.r$k.oracle.json" 2>>"$D/$n.recipes.err" || rm -f "$D/$n.r$k.oracle.json"
            rm -f "$D/$n.r$k.onnx"
        fi
        k=$((k + 1))
    done
    # --target-rel-error against the fixed settings it searches among
    for x in 0.01 0.05; do
        for kind in target fixed; do
            if [ $kind = target ]; then set -- --target-rel-error $x; else set -- -p "quantize:max-rel-error=$x | huffman"; fi
            if $N -q compress -f "$m" -o "$D/$n.$kind$x.nnz" "$@" --json >"$D/$n.$kind$x.json" 2>>"$D/$n.recipes.err" &&
                $N -q decompress -f "$D/$n.$kind$x.nnz" -o "$D/$n.$kind$x.onnx" 2>>"$D/$n.recipes.err"; then
                # shellcheck disable=SC2086
                node tests/oracle/compare.js "$m" "$D/$n.$kind$x.onnx" $args --json \
                    >"$D/$n.$kind$x.oracle.json" 2>>"$D/$n.recipes.err" || rm -f "$D/$n.$kind$x.oracle.json"
            fi
            rm -f "$D/$n.$kind$x.onnx" "$D/$n.$kind$x.nnz"
        done
    done
    # the headline sweep
    $N -q sweep -f "$m" --grid "$H1" --grid "$H2" --grid "$H3" --grid "$H4" --grid "$H5" -j "$JOBS" \
        --eval "sh '$D/outerr.sh' '$m' {onnx} $args" --metric-goal min \
        --metric-name "output rel L2" -o "$D/$n.sweep.json" 2>"$D/$n.sweep.err"
    echo "  $n: $(echo "$(now) - $t0" | bc | cut -c1-5) s"
done

# ---- sweep speed, on the largest model -------------------------------------
big=$(ls -S $models 2>/dev/null | head -n 1)
[ -n "$big" ] || big=$FIX/digits_mlp.onnx
SG='prune:sparsity=0.5,0.7,0.9 | quantize:bits=4,6,8 | huffman'
# cpu_wall CMD...: "wall cpu" seconds of one run (cpu: user + sys, children included)
cpu_wall() {
    t0=$(now)
    /usr/bin/time -f "%U %S" -o "$D/time.out" "$@" >/dev/null 2>&1
    echo "$(echo "$(now) - $t0" | bc) $(tail -n 1 "$D/time.out" | awk '{ print $1 + $2 }')"
}
: >"$D/speed.txt"
i=0
while [ $i -lt "$RUNS" ]; do
    echo "sweep1 $(cpu_wall $N -q sweep -f "$big" --grid "$SG" -j 1 -o "$D/s1.csv")" >>"$D/speed.txt"
    echo "sweepN $(cpu_wall $N -q sweep -f "$big" --grid "$SG" -j "$JOBS" -o "$D/sN.csv")" >>"$D/speed.txt"
    # the machine's own parallel speedup, for comparison: JOBS sweeps -j 1 at once
    echo "together $(cpu_wall sh -c "k=0; while [ \$k -lt $JOBS ]; do $N -q sweep -f '$big' --grid '$SG' -j 1 -o '$D/t\$k.csv' & k=\$((k + 1)); done; wait")" >>"$D/speed.txt"
    # the nine points as separate compress runs, and the same without prune
    echo "loop $(cpu_wall sh -c "for s in 0.5 0.7 0.9; do for b in 4 6 8; do $N -q compress -f '$big' -o '$D/wp.nnz' -p \"prune:sparsity=\$s | quantize:bits=\$b | huffman\"; done; done")" >>"$D/speed.txt"
    echo "noprune $(cpu_wall sh -c "for b in 4 6 8 4 6 8 4 6 8; do $N -q compress -f '$big' -o '$D/np.nnz' -p \"quantize:bits=\$b | huffman\"; done")" >>"$D/speed.txt"
    i=$((i + 1))
done
cmp -s "$D/s1.csv" "$D/sN.csv" && same=1 || same=0

# ---- the page ---------------------------------------------------------------
# structured pruning's section (channels removed: size, MACs, ORT time, accuracy)
sh bench/bench_channels.sh >"$D/channels.md" || echo "benchmarks: bench/bench_channels.sh failed"
cpu=$(grep -m 1 'model name' /proc/cpuinfo | sed 's/.*: //')
elapsed=$(echo "$(now) - $started" | bc | cut -d. -f1)
M_DATE=$(date -u +%Y-%m-%d) M_CPU=$cpu M_CORES=$(nproc) \
M_MEM=$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) \
M_OS="$(uname -sr), $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")" \
M_NNZIP=$($N --version) \
M_ORT=$(node -e 'console.log(require("./tests/oracle/node_modules/onnxruntime-node/package.json").version)' 2>/dev/null) \
M_GZIP=$(gzip --version | head -n 1) M_XZ=$(xz --version | head -n 1) \
M_ZSTD=$(zstd --version | head -n 1 | sed 's/^[* ]*//; s/, by .*//') \
H1=$H1 H2=$H2 H3=$H3 H4=$H4 H5=$H5 M_LOAD="$load" \
$PYTHON - "$D" "$OUT" "$big" "$SG" "$same" "$JOBS" "$RUNS" "$elapsed" <<'PY'
import glob, json, math, os, statistics, sys
D, OUT, BIG, SG, SAME, JOBS, RUNS, ELAPSED = sys.argv[1:9]
machine = {k: os.environ.get("M_" + k.upper(), "?") for k in
           ("date", "cpu", "cores", "mem", "os", "nnzip", "ort", "gzip", "xz", "zstd")}
H = [os.environ["H%d" % k] for k in range(1, 6)]
recipes = [l.rstrip("\n").split("|", 1) for l in open(os.path.join(D, "recipes.txt"))]
fixtures = ["digits_mlp", "digits_cnn"]
names = [os.path.basename(p)[:-len(".info.json")] for p in sorted(glob.glob(os.path.join(D, "*.info.json")))]
names = [n for n in names if n not in fixtures] + [n for n in fixtures if n in names]

def load(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return None

def f_bytes(b):
    return "{:,}".format(int(b))

def f_err(x):
    if x is None:
        return "inf"
    if x == 0:
        return "0"
    if x >= 0.1:
        return "%.0f%%" % (100 * x)
    return "%.2g%%" % (100 * x) if x >= 0.001 else "%.1e" % x

def md(s):
    return s.replace("|", "\\|")

out = []
w = out.append
w("# Benchmarks")
w("")
w("Generated by `make bench` (bench/benchmarks.sh) on %s; do not edit by hand, run `make bench` "
  "or `sh bench/benchmarks.sh` again. Machine: %s, %s cores, %s RAM; %s. %s; ONNX Runtime "
  "(onnxruntime-node) %s; %s; %s; %s. Load average when it started: %s (the machine may be "
  "shared: timings are medians, ratios of runs made side by side). The whole page took %s s to make."
  % (machine["date"], machine["cpu"], machine["cores"], machine["mem"], machine["os"],
     machine["nnzip"], machine["ort"], machine["gzip"], machine["xz"], machine["zstd"],
     os.environ.get("M_LOAD", "?"), ELAPSED))
w("")
w("How it is measured. Every compressed model is rebuilt from its blob by the decoder runtime "
  "(`nnzip decompress`) and run in ONNX Runtime on the CPU (tests/oracle/compare.js: one thread, "
  "optimisation level `all`) beside the original, on the same inputs: for the six corpus models, "
  "the inputs ../shared/corpus/models.json describes (seed 1); for the digits fixtures, their "
  "360-image test set. **Output error** is the relative L2 distance of the outputs, "
  "‖a − b‖ / ‖a‖, the worst over a model's float outputs; **cosine** the lowest cosine similarity "
  "over them. **Bits per weight** is 8 × the bytes of the blob's tensor payloads and directory "
  "entries over the number of weights in them (compress's `weights.bits_per_weight`; FP32 is 32); "
  "**bytes** is the whole file, graph included.")
w("")
w("The models measured (bytes and sha256 of each file, so a figure can be traced to its input):")
w("")
w("| model | bytes | sha256 |")
w("|---|--:|---|")
for line in open(os.path.join(D, "sha256.txt")):
    n, b, h = line.split()
    w("| %s | %s | `%s` |" % (n, f_bytes(b), h))
w("")

# ---- headline
w("## Bits per weight at a given output error")
w("")
w("The headline figure: the fewest bits per weight that keep the ONNX Runtime output error "
  "within 1%, 2% and 5%, with the pipeline that does it. Found by")
w("")
w("    nnzip sweep MODEL.onnx --grid '%s' \\" % H[0])
for g in H[1:]:
    w("        --grid '%s' \\" % g)
w("        --eval 'outerr.sh MODEL.onnx {onnx}' --metric-goal min")
w("")
npts = max([len((load(os.path.join(D, n + ".sweep.json")) or {}).get("results", [])) for n in names] or [0])
w("where outerr.sh prints the oracle's `worst_rel_l2`: %d points per model, no retraining, one "
  "setting for the whole model. Points that fail (k-means on a tensor with fewer distinct values "
  "than centroids) are left out." % npts)
w("")
w("| model | weights | ≤ 1% | ≤ 2% | ≤ 5% | pipeline at ≤ 1% |")
w("|---|--:|--:|--:|--:|---|")
for n in names:
    info = load(os.path.join(D, n + ".info.json")) or {}
    params = info.get("totals", {}).get("float_parameters", 0)
    sw = load(os.path.join(D, n + ".sweep.json"))
    cells, at1 = [], ""
    for t in (0.01, 0.02, 0.05):
        ok = [r for r in (sw or {}).get("results", [])
              if r["error"] is None and r["metric"] is not None and r["metric"] <= t]
        if not ok:
            cells.append("—")
            continue
        best = min(ok, key=lambda r: (r["bits_per_weight"], r["metric"], r["point"]))
        cells.append("%.2f" % best["bits_per_weight"])
        if t == 0.01:
            at1 = "`%s` (%s)" % (md(best["pipeline"]), f_err(best["metric"]))
    w("| %s | %s | %s | %s |" % (n, f_bytes(params), " | ".join(cells), at1 or "—"))
w("")
w("— : no point of the grid reached that error.")
w("")

# ---- recipes
w("## The standard recipes")
w("")
w("Each recipe of [pipelines.md](pipelines.md) on each model, next to general-purpose compressors "
  "of the .onnx file (lossless; their output error is 0). Ratio is the .onnx file's bytes over the "
  "output's.")
w("")
for n in names:
    info = load(os.path.join(D, n + ".info.json")) or {}
    params = info.get("totals", {}).get("float_parameters", 0)
    sizes = dict(l.split() for l in open(os.path.join(D, n + ".sizes")))
    onnx = int(sizes["onnx"])
    fixture = n in fixtures
    rj = load(os.path.join(D, n + ".recipes.json")) or {"results": []}
    w("### %s" % n)
    w("")
    w("%s bytes, %s float weights." % (f_bytes(onnx), f_bytes(params)))
    w("")
    head = "| method | bytes | ratio | bits/weight | output rel L2 | cosine |" + (" accuracy |" if fixture else "")
    w(head)
    w("|---|--:|--:|--:|--:|--:|" + ("--:|" if fixture else ""))
    acc_ref = None
    for label, key in (("original .onnx", "onnx"), ("gzip -9", "gzip"), ("xz -9e", "xz"), ("zstd -19", "zstd")):
        b = int(sizes[key])
        w("| %s | %s | %.2f | — | 0 | 1 |%s" % (label, f_bytes(b), onnx / b, " ACC_REF |" if fixture else ""))
    for k, (rname, pipe) in enumerate(recipes):
        r = rj["results"][k] if k < len(rj["results"]) else None
        o = load(os.path.join(D, "%s.r%d.oracle.json" % (n, k + 1)))
        name = "%s `%s`" % (rname, md(pipe))
        if not r or r["error"] or not o:
            why = (r or {}).get("error") or "not measured"
            w("| %s | failed: %s | | | | |%s" % (name, md(why[:160]), " |" if fixture else ""))
            continue
        cos = [v["cosine"] for v in o["outputs"].values() if v.get("cosine") is not None]
        acc = o.get("accuracy") or {}
        if acc.get("ref") is not None:
            acc_ref = acc["ref"]
        w("| %s | %s | %.2f | %.2f | %s | %s |%s" % (
            name, f_bytes(r["bytes"]), r["ratio"], r["bits_per_weight"], f_err(o["worst_rel_l2"]),
            ("%.6f" % min(cos)) if cos else "—",
            (" %.1f%% |" % (100 * acc["test"])) if fixture and acc.get("test") is not None else (" — |" if fixture else "")))
    w("")
    if fixture:
        for i, line in enumerate(out):
            if "ACC_REF" in line:
                out[i] = line.replace("ACC_REF", "—" if acc_ref is None else "%.1f%%" % (100 * acc_ref))

# ---- --target-rel-error
w("## `--target-rel-error` against fixed settings")
w("")
w("`nnzip compress --target-rel-error X` picks, per weight, the smallest of a built-in set of "
  "pipelines (error-targeted steps, 2-12 bit uniform, 2-6 bit k-means, FP16, each with huffman; "
  "pruning + error-targeted steps) whose weight relative L2 error stays within X "
  "([cli.md](cli.md)). Beside it, the one fixed pipeline that targets the same weight error, "
  "`quantize:max-rel-error=X | huffman`. Weight rel L2 is over all changed weights; output rel L2 "
  "is the worst output in ONNX Runtime.")
w("")
w("| model | X | setting | bits/weight | weight rel L2 | output rel L2 |")
w("|---|--:|---|--:|--:|--:|")
for n in names:
    for x in ("0.01", "0.05"):
        for kind, label in (("target", "`--target-rel-error`"), ("fixed", "`quantize:max-rel-error=X \\| huffman`")):
            r = load(os.path.join(D, "%s.%s%s.json" % (n, kind, x)))
            o = load(os.path.join(D, "%s.%s%s.oracle.json" % (n, kind, x)))
            if not r:
                w("| %s | %s | %s | failed | | |" % (n, x, label))
                continue
            wt = r["weights"]
            w("| %s | %s | %s | %.3f | %s | %s |" % (n, x, label, wt["bits_per_weight"],
              f_err(wt.get("rel_l2")), f_err(o["worst_rel_l2"]) if o else "—"))
w("")

# ---- sweep speed
rows = {}
for l in open(os.path.join(D, "speed.txt")):
    p = l.split()
    rows.setdefault(p[0], []).append([float(x) for x in p[1:]])
def med(key, i):
    v = [r[i] for r in rows.get(key, []) if len(r) > i]
    return statistics.median(v) if v else float("nan")
s1w, s1c = med("sweep1", 0), med("sweep1", 1)
sNw = med("sweepN", 0)
lw, wpc = med("loop", 0), med("loop", 1)
npc = med("noprune", 1)
prune_cpu = (wpc - npc) / 9
w("## Sweep speed")
w("")
w("`nnzip sweep %s --grid '%s'` (9 points), medians of %s runs:" % (os.path.basename(BIG), SG, RUNS))
w("")
w("| | wall time |")
w("|---|--:|")
w("| nine separate `nnzip compress` runs, one after another | %.2f s |" % lw)
w("| `sweep -j 1` (the model loaded once, pipelines parsed once) | %.2f s (%.2fx faster) |" % (s1w, lw / s1w))
w("| `sweep -j %s` (%s cores) | %.2f s (%.2fx faster than -j 1) |" % (JOBS, machine["cores"], sNw, s1w / sNw))
tw = med("together", 0)
w("| for comparison: %s `sweep -j 1` side by side (%s times the work) | %.2f s (%.2fx the throughput of one) |"
  % (JOBS, JOBS, tw, float(JOBS) * s1w / tw))
w("")
w("`-j N` can only be as much faster as the machine lets N processes run side by side; the last "
  "row shows that on this machine, at this load.")
w("")
w("The CSV of `-j 1` and `-j %s` is %s." % (JOBS, "byte-identical" if SAME == "1" else "**different** (a bug)"))
w("")
w("Reusing a shared prefix. Prune's share of a point is the CPU time of the nine "
  "`prune | quantize | huffman` points less that of the same nine points without prune: "
  "%.3f s per point, %.0f%% of a point's %.3f s (an upper bound: it includes what the zeros add "
  "to encoding, which every point pays anyway). Running each prune setting once instead of three "
  "times would save at most 6 × that, %.2f s of the `-j 1` sweep's %.2f s CPU (%.0f%%), and only "
  "at `-j 1`: with `-j N` the points sharing a prefix go to different workers (worker k runs "
  "points k, k+N, ...). `nnzip sweep` does not do it: it would take a deep copy of every tensor's "
  "state after the prefix, a pipeline run that starts at a given stage, and a hook in compress's "
  "per-tensor loop, while the prepare steps (prune's global threshold) would still run per point."
  % (prune_cpu, 100 * prune_cpu / (wpc / 9), wpc / 9, 6 * prune_cpu, s1c,
     100 * 6 * prune_cpu / s1c if s1c else float("nan")))
w("")
if os.path.exists(os.path.join(D, "channels.md")):
    out.append(open(os.path.join(D, "channels.md")).read().rstrip("\n"))
    w("")
# sections other bench scripts of the same `make bench` left in BT
for extra in ("scale.md",):
    path = os.path.join(os.path.dirname(D), extra)
    if os.path.exists(path):
        out.append(open(path).read().rstrip("\n"))
        w("")
open(OUT + ".tmp", "w").write("\n".join(out) + "\n")
os.replace(OUT + ".tmp", OUT)
PY
echo "  -> $OUT ($(echo "$(now) - $started" | bc | cut -d. -f1) s)"
