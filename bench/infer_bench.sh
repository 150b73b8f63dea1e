#!/bin/sh
# infer_bench.sh - nnzip's interpreter (`nnzip run`) against ONNX Runtime,
# one thread each, on the same inputs: time per inference (the fastest of
# K runs inside one process, so loading is not counted) for every corpus
# model and fixture, and nnzip's peak RSS against the weights plus 3x the
# largest set of live activations. Prints the table and writes it into
# docs/BENCHMARKS.md (the section between the infer markers, replaced or
# appended) and docs/infer.md. Run by `make bench` after benchmarks.sh, or
# alone: sh bench/infer_bench.sh. BENCH_INFER_RUNS sets K (default 20);
# BENCH_INFER_ROUNDS (default 3) alternates ONNX Runtime and nnzip that many
# times per model and keeps each one's fastest, so a busy moment on the
# shared machine hurts neither alone.
set -u
cd "$(dirname "$0")/.." || exit 2
. bench/lib.sh
K=${BENCH_INFER_RUNS:-20}
R=${BENCH_INFER_ROUNDS:-3}
D=$BT/infer
mkdir -p "$D"
[ -d tests/oracle/node_modules/onnxruntime-node ] ||
    { echo "infer_bench: the ONNX Runtime oracle is not installed (make test-deps)"; exit 1; }
load=$(cut -d' ' -f1 /proc/loadavg)
echo "== nnzip run against ONNX Runtime (1 thread each, same inputs, fastest of $K runs, $R rounds alternating)"
: >"$D/rows"
for f in "$CORPUS"/*.onnx "$FIX"/*.onnx; do
    [ -f "$f" ] || continue
    n=$(basename "$f" .onnx)
    case $n in edge_*) continue ;; esac # the edge-case fixtures are too small to time
    if [ -f "$FIX/$n.inputs.json" ]; then spec="--inputs $FIX/$n.inputs.json"; else spec="--corpus-model $n"; fi
    ort=""
    for r in $(seq "$R"); do
        o=$(node tests/oracle/dump.js "$f" "$D/$n" $spec --time-runs "$K" 2>/dev/null |
            $PYTHON -c 'import json,sys; print(json.load(sys.stdin)["ort_ms"])') || { ort=; break; }
        ort=$($PYTHON -c "import sys; a = sys.argv[1:]; print(min(float(x) for x in a if x))" $ort $o)
        $N -q run -f "$f" --inputs "$D/$n/inputs" --repeat "$K" --json >"$D/$n.r$r.json" 2>/dev/null ||
            { ort=; break; }
    done
    [ -n "$ort" ] || { echo "  $n: ONNX Runtime or nnzip run failed"; continue; }
    # nnzip's fastest round
    $PYTHON - "$D/$n" "$R" <<'PY'
import json, shutil, sys
runs = [json.load(open("%s.r%d.json" % (sys.argv[1], r))) for r in range(1, int(sys.argv[2]) + 1)]
best = min(range(len(runs)), key=lambda i: runs[i]["runs"][0]["seconds"])
shutil.copy("%s.r%d.json" % (sys.argv[1], best + 1), sys.argv[1] + ".json")
PY
    rss=$(peak_rss_kib $N -q run -f "$f" --inputs "$D/$n/inputs")
    base=$(peak_rss_kib $N --version)
    echo "$n $ort $rss $base $(stat -c %s "$f")" >>"$D/rows"
    $PYTHON - "$D/$n.json" $n $ort $rss $base <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); n = sys.argv[2]; ort = float(sys.argv[3]); rss = int(sys.argv[4]) * 1024
base = int(sys.argv[5]) * 1024
r = d["runs"][0]; ms = r["seconds"] * 1e3
budget = d["weight_bytes"] + 3 * r["peak_activation_bytes"]
# the target of issue 16: peak RSS <= weights + 3x the largest set of live
# activations, the process itself (libraries, OpenBLAS) counted apart
print("  %-20s nnzip %9.3f ms  ORT %9.3f ms  %5.2fx   RSS %7.1f MiB (process alone %.1f), "
      "weights + 3x activations %7.1f MiB: %s"
      % (n, ms, ort, ms / ort, rss / 2**20, base / 2**20, budget / 2**20,
         "met" if rss - base <= budget else "OVER"))
PY
done
$PYTHON - "$D" "$K" "$load" <<'PY'
import json, os, sys, platform, subprocess
D, K, LOAD = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [l.split() for l in open(os.path.join(D, "rows"))]
out = ["<!-- infer -->", "## Inference: `nnzip run` against ONNX Runtime", "",
       "Time per inference, the fastest of %s runs inside one process (loading not counted), in "
       "%s rounds alternating ONNX Runtime and nnzip (the fastest round of each), one "
       "thread each, the same inputs (tests/oracle/dump.js: the corpus's input specs, the "
       "fixtures' own); ONNX Runtime %s at its default optimisation level. Peak RSS is of a "
       "whole `nnzip run` (process, OpenBLAS, the parsed model and its weights, the interpreter's "
       "float copy of the weights, activations); the budget is the weights plus 3x the largest "
       "set of live activations the memory plan held, with the RSS of `nnzip --version` (the "
       "process alone) beside it. `bench/infer_bench.sh`, %s, %s cores, load average %s at the "
       "start (the machine is shared: ratios move by tens of percent between runs)." %
       (K, os.environ.get("BENCH_INFER_ROUNDS", "3"),
        json.load(open("tests/oracle/package.json"))["dependencies"]["onnxruntime-node"],
        platform.machine(), os.cpu_count(), LOAD), "",
       "The RSS target (issue 16, item 6): peak RSS minus the process alone <= the weights plus 3x "
       "the largest set of live activations (the last column).", "",
       "| model | nnzip ms | ORT ms | nnzip / ORT | peak RSS MiB | weights MiB | 3x activations MiB | process alone MiB | planned peak MiB | RSS target |",
       "|---|--:|--:|--:|--:|--:|--:|--:|--:|:-:|"]
for n, ort, rss, base, size in rows:
    d = json.load(open(os.path.join(D, n + ".json")))
    r = d["runs"][0]
    ms = r["seconds"] * 1e3
    budget = d["weight_bytes"] + 3 * r["peak_activation_bytes"]
    met = (int(rss) - int(base)) * 1024 <= budget
    out.append("| %s | %.3f | %.3f | %.2fx | %.1f | %.1f | %.1f | %.1f | %.1f | %s |" % (
        n, ms, float(ort), ms / float(ort), int(rss) / 1024, d["weight_bytes"] / 2**20,
        3 * r["peak_activation_bytes"] / 2**20, int(base) / 1024,
        r["plan"]["peak_activation_bytes"] / 2**20, "met" if met else "over"))
out += ["", "<!-- /infer -->"]
text = "\n".join(out) + "\n"
open(os.path.join(D, "section.md"), "w").write(text)
sys.path.insert(0, "bench")
import doc_section
for doc in ("docs/BENCHMARKS.md", "docs/infer.md"):
    if os.path.exists(doc):
        doc_section.put(doc, text)
print("  -> docs/BENCHMARKS.md, docs/infer.md")
PY
