#!/bin/sh
# budget_time.sh - how long each output budget's whole search takes per
# model (issue 17, item 5: 32 calibration inputs, this 2-core machine):
# quantize:max-output-error=X | huffman, prune:max-output-error=X and
# decompose:max-output-error=X, each compressed once with 32 generated
# calibration inputs (the corpus spec, seed 1; 8 held out). Per run: the
# budget's own seconds (its report's `seconds`: sensitivities, allocation,
# confirmation, the held-out check), the whole compress (wall and CPU; the
# reference runs of the calibration inputs included) and the load average,
# beside the result (bits/weight, sparsity, parameters kept) and its
# measured calibration error.
# Writes its section of docs/BENCHMARKS.md (between the budget-time markers,
# replaced or appended). Run by `make bench`, or alone:
# sh bench/budget_time.sh [MODEL...]; BENCH_TIME_BUDGET sets X (0.01),
# BENCH_THREADS compress's --threads (default: its own, the online CPUs).
set -u
cd "$(dirname "$0")/.." || exit 2
. bench/lib.sh
D=$BT/budget_time
mkdir -p "$D"
X=${BENCH_TIME_BUDGET:-0.01}
models=${*:-blazeface_back256 ppocr_det_v4 silero_vad_legacy mlsd_large320 digits_mlp digits_cnn}
threads=${BENCH_THREADS:+--threads $BENCH_THREADS}
echo "== output budgets: search time per model (X=$X, 32 calibration inputs)"
: >"$D/rows"
for n in $models; do
    if [ -f "$FIX/$n.onnx" ]; then
        f=$FIX/$n.onnx cal="--input-spec $FIX/$n.inputs.json"
    else
        f=$CORPUS/$n.onnx cal="--input-spec ../shared/corpus/models.json --spec-model $n"
    fi
    [ -f "$f" ] || { echo "  $n: not found"; continue; }
    for pass in quantize prune decompose; do
        case $pass in
            quantize) p="quantize:max-output-error=$X | huffman" ;;
            *) p="$pass:max-output-error=$X" ;;
        esac
        load=$(cut -d' ' -f1 /proc/loadavg)
        t0=$(now)
        # shellcheck disable=SC2086
        /usr/bin/time -f "%U %S" -o "$D/time" $N -q compress "$f" -o "$D/o.nnz" -f --json -p "$p" \
            $cal --calib-sets 32 $threads >"$D/o.json" 2>"$D/err" ||
            { echo "  $n $pass: compress failed: $(head -c 200 "$D/err")"; continue; }
        t1=$(now)
        $PYTHON - "$D/o.json" "$n" "$pass" "$(echo "$t1 - $t0" | bc -l)" "$(cat "$D/time")" "$load" \
            >>"$D/rows" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); pass_ = sys.argv[3]
b = d[pass_ + "_budget"]
u, s = map(float, sys.argv[5].split()[-2:])
r = {"model": sys.argv[2], "pass": pass_, "search_s": b["seconds"], "wall_s": float(sys.argv[4]),
     "cpu_s": u + s, "load": float(sys.argv[6]), "cal": b["output_error_calibration"],
     "runs": b.get("confirm_runs"), "inputs": b.get("confirm_inputs"), "threads": b.get("threads"),
     "per_run": b.get("seconds_per_inference")}
if pass_ == "quantize":
    r["result"] = "%.2f bits/weight" % d["weights"]["bits_per_weight"]
elif pass_ == "prune":
    r["result"] = "sparsity %.1f%%" % (100 * b.get("sparsity", 0))
else:
    r["result"] = "%d of %d parameters" % (b["parameters_after"], b["parameters_before"])
print(json.dumps(r))
PY
        tail -1 "$D/rows" | $PYTHON -c 'import json,sys; r=json.loads(sys.stdin.read()); print("  %(model)-18s %(pass)-9s search %(search_s)6.1f s  compress %(wall_s)6.1f s wall, %(cpu_s)6.1f s CPU  load %(load)4.1f  %(result)s, error %(cal).4f" % r)'
    done
done
$PYTHON - "$D/rows" "$X" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
if not rows:
    sys.exit()
out = ["<!-- budget-time -->", "## Output budgets: search time per model", "",
       "Each budget at X = %s, alone in its pipeline (`quantize:max-output-error=X | huffman`, "
       "`prune:max-output-error=X`, `decompose:max-output-error=X`), 32 calibration inputs generated from "
       "the corpus spec (seed 1; 24 calibrate, 8 held out), one run each on this shared 2-core machine "
       "(`bench/budget_time.sh`). *Search*: the budget's own seconds (its report's `seconds`: sensitivities, "
       "allocation, confirmation, the held-out check; prune's and decompose's include the 32 reference runs, "
       "quantize's come after them); *compress*: the whole command, the 32 reference runs "
       "of the calibration inputs included, wall clock and CPU (user + system; on a loaded machine wall is "
       "CPU times the contention, so CPU is the figure to compare); *load*: the load average when the run "
       "started; *threads*: compress's calibration threads (`--threads`); *s/run*: one inference in the "
       "interpreter, from the reference runs; *measured runs*: the search's confirming runs and the "
       "inputs they ran (a run sure to miss stops early)." % sys.argv[2], "",
       "| model | budget | threads | search s | compress s (wall) | compress s (CPU) | load | s/run | result | calibration error | measured runs (inputs) |",
       "|---|---|--:|--:|--:|--:|--:|--:|---|--:|--:|"]
for r in rows:
    out.append("| %s | %s | %s | %.1f | %.1f | %.1f | %.1f | %s | %s | %.4f | %s |" % (
        r["model"], r["pass"], r.get("threads") or "—", r["search_s"], r["wall_s"], r["cpu_s"], r["load"],
        "%.3f" % r["per_run"] if r.get("per_run") else "—", r["result"], r["cal"],
        "%s (%s)" % (r["runs"], r["inputs"]) if r["runs"] is not None else "—"))
out.append("<!-- /budget-time -->")
sys.path.insert(0, "bench")
import doc_section
doc_section.put("docs/BENCHMARKS.md", "\n".join(out))
print("  -> docs/BENCHMARKS.md")
PY
