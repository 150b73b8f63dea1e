#!/bin/sh
# budget_bench.sh - compressing to an output budget (quantize:max-output-error)
# against the headline's best uniform setting: for each model, a few budgets,
# each compressed with 32 generated calibration inputs (25% held out), rebuilt
# and run in ONNX Runtime on the headline's inputs (seed 1, as benchmarks.sh)
# and on 8 draws of seed 7 that the allocation never saw; the fewest bits
# whose ONNX Runtime error is within 1% and 5%, beside the headline's figure.
# Writes its section of docs/BENCHMARKS.md (between the budget markers,
# replaced or appended). Run by `make bench` after benchmarks.sh, or alone:
# sh bench/budget_bench.sh [MODEL...]. BENCH_BUDGETS sets the budgets;
# BUDGET_ROWS names rows of an earlier run to keep in the table; with
# BUDGET_TABLE_ONLY=1 only those make the table (nothing is compressed).
set -u
cd "$(dirname "$0")/.." || exit 2
. bench/lib.sh
D=$BT/budget
mkdir -p "$D"
BUDGETS=${BENCH_BUDGETS:-0.004 0.007 0.01 0.02 0.035 0.05}
models=${*:-blazeface_back256 ppocr_det_v4 silero_vad_legacy mlsd_large320 digits_mlp digits_cnn}
[ -d tests/oracle/node_modules/onnxruntime-node ] ||
    { echo "budget_bench: the ONNX Runtime oracle is not installed (make test-deps)"; exit 1; }
echo "== output budgets: quantize:max-output-error=X | huffman, ONNX Runtime error"
: >"$D/rows"
[ "${BUDGET_TABLE_ONLY:-0}" = 1 ] && models=""
for n in $models; do
    if [ -f "$FIX/$n.onnx" ]; then
        f=$FIX/$n.onnx cal="--input-spec $FIX/$n.inputs.json"
        seen="--dataset $FIX/digits_test.json" unseen="--inputs $FIX/$n.inputs.json --seed 7 --batches 8"
    else
        f=$CORPUS/$n.onnx cal="--input-spec ../shared/corpus/models.json --spec-model $n"
        seen="--corpus-model $n" unseen="--corpus-model $n --seed 7 --batches 8"
    fi
    [ -f "$f" ] || { echo "  $n: not found"; continue; }
    for x in $BUDGETS; do
        t0=$(now)
        # shellcheck disable=SC2086
        $N -q compress "$f" -o "$D/$n.$x.nnz" -f --onnx-out "$D/$n.$x.onnx" --json \
            -p "quantize:max-output-error=$x | huffman" $cal >"$D/$n.$x.json" 2>"$D/err" ||
            { echo "  $n $x: compress failed: $(head -c 200 "$D/err")"; continue; }
        t1=$(now)
        # shellcheck disable=SC2086
        e1=$($ORACLE "$f" "$D/$n.$x.onnx" $seen --json | $PYTHON -c 'import json,sys; d=json.load(sys.stdin); print(d["worst_rel_l2"], (d.get("accuracy") or {}).get("test"), (d.get("accuracy") or {}).get("ref"))')
        # shellcheck disable=SC2086
        e7=$($ORACLE "$f" "$D/$n.$x.onnx" $unseen --json | $PYTHON -c 'import json,sys; print(json.load(sys.stdin)["worst_rel_l2"])')
        $PYTHON - "$D/$n.$x.json" "$n" "$x" "$(echo "$t1 - $t0" | bc -l)" $e1 "$e7" >>"$D/rows" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); b = d["quantize_budget"]
print(json.dumps({"model": sys.argv[2], "budget": float(sys.argv[3]), "seconds": float(sys.argv[4]),
                  "bits": d["weights"]["bits_per_weight"], "ort": float(sys.argv[5]),
                  "acc": None if sys.argv[6] == "None" else float(sys.argv[6]),
                  "acc_ref": None if sys.argv[7] == "None" else float(sys.argv[7]),
                  "ort_unseen": float(sys.argv[8]), "cal": b["output_error_calibration"],
                  "held": b["output_error_heldout"], "search_s": b["seconds"],
                  "floats": sum(t["choice"] == "float" for t in b["tensors"]),
                  "tensors": len(b["tensors"])}))
PY
        tail -1 "$D/rows" | $PYTHON -c 'import json,sys; r=json.loads(sys.stdin.read()); print("  %(model)-20s X=%(budget)-6g %(bits)6.2f bits/w  ORT %(ort).4f  unseen %(ort_unseen).4f  calib %(cal).4f held-out %(held).4f  search %(search_s).0f s" % r)'
    done
done
$PYTHON - "$D/rows" ${BUDGET_ROWS:-} <<'PY'
import json, re, sys
rows = [json.loads(l) for f in sys.argv[1:] for l in open(f) if l.strip()]
doc = open("docs/BENCHMARKS.md").read()
old = {}
for m in re.finditer(r"^\| (\w+) \| [\d,]+ \| ([\d.—]+) \| ([\d.—]+) \| ([\d.—]+) \|", doc, re.M):
    old[m.group(1)] = (m.group(2), m.group(4))
def pct(v): return "%.2f%%" % (100 * v)
out = ["<!-- budget -->", "## Bits per weight at a given output error: an output budget", "",
       "`quantize:max-output-error=X | huffman` (docs/passes/quantize.md, \"Output budget\"): each tensor's step "
       "chosen by equal slope from its measured sensitivity, confirmed by whole-model runs in nnzip's interpreter "
       "on 32 calibration inputs generated from the corpus spec (seed 1, batches 0-31; the last 8 held out). "
       "Budgets X = " + ", ".join(sorted({("%g" % r["budget"]) for r in rows}, key=float)) +
       "; each point rebuilt from its blob and run in ONNX Runtime like the headline above (the corpus spec's seed 1 "
       "input; the digits' 360 test images, which the calibration never saw). The figure is the fewest bits among "
       "the points within the error, beside the headline's best of 32 uniform settings. *Unseen*: the chosen "
       "point's ONNX Runtime error on 8 draws of seed 7 (worst input), inputs the allocation never saw. *Search*: "
       "seconds of the whole allocation (sensitivities, allocation, confirmation) on this shared 2-core machine.", "",
       "| model | ≤ 1%: uniform (headline) | ≤ 1%: budget | X, ORT error | unseen | search s | ≤ 5%: uniform | ≤ 5%: budget | unseen at 5% |",
       "|---|--:|--:|---|--:|--:|--:|--:|--:|"]
for model in dict.fromkeys(r["model"] for r in rows):
    rs = [r for r in rows if r["model"] == model]
    def best(lim):
        # a point where every tensor stayed float compressed nothing
        ok = [r for r in rs if r["ort"] <= lim and r["floats"] < r["tensors"]]
        return min(ok, key=lambda r: r["bits"]) if ok else None
    b1, b5 = best(0.01), best(0.05)
    o1, o5 = old.get(model, ("?", "?"))
    c1 = ("%.2f" % b1["bits"], "%g, %s" % (b1["budget"], pct(b1["ort"])), pct(b1["ort_unseen"]), "%.0f" % b1["search_s"]) if b1 else ("—", "—", "—", "—")
    c5 = ("%.2f" % b5["bits"], pct(b5["ort_unseen"])) if b5 else ("—", "—")
    out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (model, o1, c1[0], c1[1], c1[2], c1[3], o5, c5[0], c5[1]))
acc = [r for r in rows if r["acc"] is not None]
if acc:
    out += ["", "Digits fixtures, top-1 on the 360 test images at each budget (float: %s):" % ", ".join(
        sorted({"%s %.2f%%" % (r["model"], 100 * r["acc_ref"]) for r in acc})), "",
        "| model | X | bits/weight | top-1 | ORT error |", "|---|--:|--:|--:|--:|"]
    for r in acc:
        out.append("| %s | %g | %.2f | %.2f%% | %s |" % (r["model"], r["budget"], r["bits"], 100 * r["acc"], pct(r["ort"])))
out += ["", "Every point: `budget_bench.sh` rows (budget, bits, ONNX Runtime error on seed 1 and on seed 7, the "
        "interpreter's calibration and held-out error):", "", "| model | X | bits/weight | ORT seed 1 | ORT seed 7 (x8) | calibration | held-out | search s |",
        "|---|--:|--:|--:|--:|--:|--:|--:|"]
for r in rows:
    out.append("| %s | %g | %.2f | %s | %s | %s | %s | %.0f |" % (r["model"], r["budget"], r["bits"], pct(r["ort"]), pct(r["ort_unseen"]), pct(r["cal"]), pct(r["held"]), r["search_s"]))
out.append("<!-- /budget -->")
sec = "\n".join(out) + "\n"
a, b = doc.find("<!-- budget -->"), doc.find("<!-- /budget -->")
doc = doc[:a] + sec + doc[b + len("<!-- /budget -->\n"):] if a >= 0 and b > a else doc.rstrip("\n") + "\n\n" + sec
open("docs/BENCHMARKS.md", "w").write(doc)
print("\n".join(out[5:5 + len(set(r['model'] for r in rows)) + 2]))
print("  -> docs/BENCHMARKS.md")
PY
