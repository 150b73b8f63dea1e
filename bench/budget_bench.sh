#!/bin/sh
# budget_bench.sh - compressing to an output budget (quantize:max-output-error)
# against the headline's best uniform setting: for each model, a few budgets,
# each compressed with 32 generated calibration inputs (25% held out), rebuilt
# and run in ONNX Runtime on the headline's inputs (seed 1, as benchmarks.sh)
# and on 8 draws of seed 7 that the allocation never saw; the fewest bits
# whose ONNX Runtime error is within 1% and 5%, beside the headline's figure,
# for each rounding (BUDGET_ROUNDINGS, default "nearest gptq": rounding to
# nearest, and rounding=gptq,bias-correct).
# Writes its section of docs/BENCHMARKS.md (between the budget markers,
# replaced or appended). Run by `make bench` after benchmarks.sh, or alone:
# sh bench/budget_bench.sh [MODEL...]. BENCH_BUDGETS sets the budgets;
# BUDGET_ROWS names rows of an earlier run to keep in the table; with
# BUDGET_TABLE_ONLY=1 only those make the table (nothing is compressed).
# BUDGET_KEEP_DOC=1 keeps the points of the table already in BENCHMARKS.md
# for each (model, rounding) this run does not measure.
set -u
cd "$(dirname "$0")/.." || exit 2
. bench/lib.sh
D=$BT/budget
mkdir -p "$D"
BUDGETS=${BENCH_BUDGETS:-0.004 0.007 0.01 0.02 0.035 0.05}
ROUNDINGS=${BUDGET_ROUNDINGS:-nearest gptq}
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
    for rnd in $ROUNDINGS; do
    opt=""
    [ "$rnd" = gptq ] && opt=",rounding=gptq,bias-correct"
    for x in $BUDGETS; do
        t0=$(now)
        o=$D/$n.$rnd.$x
        # shellcheck disable=SC2086
        $N -q compress "$f" -o "$o.nnz" -f --onnx-out "$o.onnx" --json \
            -p "quantize:max-output-error=$x$opt | huffman" $cal >"$o.json" 2>"$D/err" ||
            { echo "  $n $rnd $x: compress failed: $(head -c 200 "$D/err")"; continue; }
        t1=$(now)
        # shellcheck disable=SC2086
        e1=$($ORACLE "$f" "$o.onnx" $seen --json | $PYTHON -c 'import json,sys; d=json.load(sys.stdin); print(d["worst_rel_l2"], (d.get("accuracy") or {}).get("test"), (d.get("accuracy") or {}).get("ref"))')
        # shellcheck disable=SC2086
        e7=$($ORACLE "$f" "$o.onnx" $unseen --json | $PYTHON -c 'import json,sys; print(json.load(sys.stdin)["worst_rel_l2"])')
        $PYTHON - "$o.json" "$n" "$x" "$(echo "$t1 - $t0" | bc -l)" $e1 "$e7" "$rnd" >>"$D/rows" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); b = d["quantize_budget"]
print(json.dumps({"model": sys.argv[2], "budget": float(sys.argv[3]), "seconds": float(sys.argv[4]),
                  "bits": d["weights"]["bits_per_weight"], "ort": float(sys.argv[5]),
                  "acc": None if sys.argv[6] == "None" else float(sys.argv[6]),
                  "acc_ref": None if sys.argv[7] == "None" else float(sys.argv[7]),
                  "ort_unseen": float(sys.argv[8]), "cal": b["output_error_calibration"],
                  "held": b["output_error_heldout"], "search_s": b["seconds"],
                  "rounding": sys.argv[9],
                  "floats": sum(t["choice"] == "float" for t in b["tensors"]),
                  "tensors": len(b["tensors"])}))
PY
        tail -1 "$D/rows" | $PYTHON -c 'import json,sys; r=json.loads(sys.stdin.read()); print("  %(model)-20s %(rounding)-7s X=%(budget)-6g %(bits)6.2f bits/w  ORT %(ort).4f  unseen %(ort_unseen).4f  calib %(cal).4f held-out %(held).4f  search %(search_s).0f s" % r)'
    done
    done
done
$PYTHON - "$D/rows" ${BUDGET_ROWS:-} <<'PY'
import json, os, re, sys
rows = [json.loads(l) for f in sys.argv[1:] for l in open(f) if l.strip()]
for r in rows:
    r.setdefault("rounding", "nearest")
doc = open("docs/BENCHMARKS.md").read()
old = {}
for m in re.finditer(r"^\| (\w+) \| [\d,]+ \| ([\d.—]+) \| ([\d.—]+) \| ([\d.—]+) \|", doc, re.M):
    old.setdefault(m.group(1), (m.group(2), m.group(4)))  # the headline table comes first
if os.environ.get("BUDGET_KEEP_DOC") == "1":
    # the points already in the table, for (model, rounding) not measured now
    a, b = doc.find("<!-- budget -->"), doc.find("<!-- /budget -->")
    have = {(r["model"], r["rounding"]) for r in rows}
    pc = lambda s: float(s.rstrip("%")) / 100
    for m in re.finditer(r"^\| (\w+) \| (?:(nearest|gptq) \| )?([\d.]+) \| ([\d.]+) \| ([\d.]+)% \| ([\d.]+)% \| ([\d.]+)% \| ([\d.]+)% \| (\d+) \|$", doc[a:b], re.M):
        r = {"model": m.group(1), "rounding": m.group(2) or "nearest", "budget": float(m.group(3)),
             "bits": float(m.group(4)), "ort": pc(m.group(5)), "ort_unseen": pc(m.group(6)),
             "cal": pc(m.group(7)), "held": pc(m.group(8)), "search_s": float(m.group(9)),
             "acc": None, "acc_ref": None, "floats": 0, "tensors": 1}
        if (r["model"], r["rounding"]) not in have:
            rows.append(r)
def pct(v): return "%.2f%%" % (100 * v)
out = ["<!-- budget -->", "## Bits per weight at a given output error: an output budget", "",
       "`quantize:max-output-error=X | huffman` (docs/passes/quantize.md, \"Output budget\"): each tensor's step "
       "chosen by equal slope from its measured sensitivity, confirmed by whole-model runs in nnzip's interpreter "
       "on 32 calibration inputs generated from the corpus spec (seed 1, batches 0-31; the last 8 held out); "
       "*nearest* rounds to nearest, *gptq* adds `rounding=gptq,bias-correct` (docs/passes/quantize.md, "
       "\"Data-aware rounding\"). "
       "Budgets X = " + ", ".join(sorted({("%g" % r["budget"]) for r in rows}, key=float)) +
       "; each point rebuilt from its blob and run in ONNX Runtime like the headline above (the corpus spec's seed 1 "
       "input; the digits' 360 test images, which the calibration never saw). The figure is the fewest bits among "
       "the points within the error, beside the headline's best of 32 uniform settings. *Unseen*: the chosen "
       "point's ONNX Runtime error pooled over 8 draws of seed 7 (compare.js pools its batches: one input far off decides it), inputs the allocation never saw. *Search*: "
       "seconds of the whole allocation (sensitivities, allocation, confirmation; for gptq also the layers' "
       "statistics) on this shared 2-core machine.", "",
       "| model | ≤ 1%: uniform (headline) | ≤ 1%: nearest | ≤ 1%: gptq | gptq: X, ORT error | unseen | search s | ≤ 5%: uniform | ≤ 5%: nearest | ≤ 5%: gptq | unseen at 5% |",
       "|---|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|"]
for model in dict.fromkeys(r["model"] for r in rows):
    def best(lim, rnd):
        # a point where every tensor stayed float compressed nothing
        ok = [r for r in rows if r["model"] == model and r["rounding"] == rnd and r["ort"] <= lim
              and r["floats"] < r["tensors"] and r["bits"] < 31]
        return min(ok, key=lambda r: r["bits"]) if ok else None
    n1, g1, n5, g5 = best(0.01, "nearest"), best(0.01, "gptq"), best(0.05, "nearest"), best(0.05, "gptq")
    o1, o5 = old.get(model, ("?", "?"))
    f = lambda r: "%.2f" % r["bits"] if r else "—"
    g1d = ("%g, %s" % (g1["budget"], pct(g1["ort"])), pct(g1["ort_unseen"]), "%.0f" % g1["search_s"]) if g1 else ("—", "—", "—")
    out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        model, o1, f(n1), f(g1), g1d[0], g1d[1], g1d[2], o5, f(n5), f(g5), pct(g5["ort_unseen"]) if g5 else "—"))
acc = [r for r in rows if r["acc"] is not None]
if acc:
    out += ["", "Digits fixtures, top-1 on the 360 test images at each budget (float: %s):" % ", ".join(
        sorted({"%s %.2f%%" % (r["model"], 100 * r["acc_ref"]) for r in acc})), "",
        "| model | rounding | X | bits/weight | top-1 | ORT error |", "|---|---|--:|--:|--:|--:|"]
    for r in acc:
        out.append("| %s | %s | %g | %.2f | %.2f%% | %s |" % (r["model"], r["rounding"], r["budget"], r["bits"], 100 * r["acc"], pct(r["ort"])))
out += ["", "Every point: `budget_bench.sh` rows (budget, bits, ONNX Runtime error on seed 1 and on seed 7, the "
        "interpreter's calibration and held-out error):", "", "| model | rounding | X | bits/weight | ORT seed 1 | ORT seed 7 (x8) | calibration | held-out | search s |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|"]
for r in sorted(rows, key=lambda r: (list(dict.fromkeys(x["model"] for x in rows)).index(r["model"]), r["rounding"] != "nearest", r["budget"])):
    out.append("| %s | %s | %g | %.2f | %s | %s | %s | %s | %.0f |" % (r["model"], r["rounding"], r["budget"], r["bits"], pct(r["ort"]), pct(r["ort_unseen"]), pct(r["cal"]), pct(r["held"]), r["search_s"]))
out.append("<!-- /budget -->")
sys.path.insert(0, "bench")
import doc_section
doc_section.put("docs/BENCHMARKS.md", "\n".join(out))
print("\n".join(out[5:5 + len(set(r['model'] for r in rows)) + 2]))
print("  -> docs/BENCHMARKS.md")
PY
