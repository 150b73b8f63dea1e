# 55-sweep.sh - nnzip sweep (docs/cli.md, sweep): grid syntax and its usage
# errors, results independent of -j, the same blobs as compress, CSV / JSON /
# table outputs read by real parsers, the Pareto frontier against a hand-made
# set and an independent computation, --eval with the ONNX Runtime oracle and
# its failures, the SVG rendered to PNG, progress only on a terminal, and
# clean-up of the work folder (also when interrupted).
group "sweep"
N=$NNZIP
S=$NNZIP_SAN
M=$FIX/digits_mlp.onnx
W=$T/sweep
G='prune:sparsity=0,0.5,0.8 | quantize:bits=4,6,8 | huffman'
mkdir -p "$W/tmp" "$W/blobs"
SAVED_TMPDIR=${TMPDIR-}
export TMPDIR="$W/tmp" # every work folder goes here, so the tests can see it is removed

# ---- usage errors: nothing runs, nothing is written ------------------------
expect "sweep --help exits 0" 0 "" sh -c "$S sweep --help | grep -q '^Usage: nnzip sweep'"
expect "sweep with an unknown option is a usage error" 2 "Try 'nnzip sweep --help'" $S sweep --nope
expect "sweep without --grid is a usage error" 2 "missing --grid" $S sweep "$M"
expect "sweep without a model is a usage error" 2 "expected one MODEL.onnx" $S sweep --grid 'quantize:bits=8'
expect "a grid in a refused order is a usage error" 2 "prune after quantize is refused" \
    $S sweep "$M" --grid 'quantize:bits=4,8 | prune:sparsity=0.5' -o "$W/refused.csv"
check "a refused grid writes nothing" test ! -e "$W/refused.csv"
expect "a grid with huffman first is refused as compress refuses it" 2 "quantize after huffman is refused: huffman is the last, lossless step" \
    $S sweep "$M" --grid 'huffman | quantize:bits=4,8'
expect "an unknown pass in a grid is a usage error" 2 "unknown pass 'quantise'" $S sweep "$M" --grid 'quantise:bits=4,8'
expect "an unknown key in a grid is a usage error" 2 "unknown option 'bitz'" $S sweep "$M" --grid 'quantize:bitz=4,8'
expect "a bad value anywhere in a grid is a usage error" 2 "bits=99: expected an integer in 2\.\.16" \
    $S sweep "$M" --grid 'quantize:bits=4,99 | huffman'
expect "a number that continues no key is a usage error" 2 "'4' continues no key's list" $S sweep "$M" --grid 'quantize:4,8'
expect "an empty '/' alternative is a usage error" 2 "scheme=sym//asym: an empty alternative" \
    $S sweep "$M" --grid 'quantize:bits=8,scheme=sym//asym'
expect "a grid of more than 1000 points is refused, with the count" 2 "the grid has 2400 points, more than the limit of 1000" \
    $S sweep "$M" --grid 'prune:sparsity=0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9 | quantize:bits=2,3,4,5,6,7,8,9,10,11,12,13,14,15,16 | huffman:max-len=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16'
expect "--max-points lowers the limit" 2 "9 points, more than the limit of 8" $S sweep "$M" --grid "$G" --max-points 8
expect "-o with an unknown format is a usage error" 2 "end it in .csv or .json|FILE.csv, FILE.json" $S sweep "$M" --grid "$G" -o "$W/r.txt"
expect "-j out of range is a usage error" 2 "-j 1000: expected a number of workers" $S sweep "$M" --grid "$G" -j 1000
expect "--metric-goal without --eval is a usage error" 2 "give --eval" $S sweep "$M" --grid "$G" --metric-goal min
expect "--metric-goal takes max or min" 2 "expected max or min" $S sweep "$M" --grid "$G" --eval 'echo 1' --metric-goal most
expect "--json and -o - together are a usage error" 2 "both write to stdout" $S sweep "$M" --grid "$G" --json -o -
expect "sweep of a missing model is bad input" 3 "cannot open" $S sweep "$W/none.onnx" --grid "$G"
head -c 3000 /dev/urandom >"$W/noise.onnx"
expect "sweep of random bytes is bad input" 3 "not a valid ONNX model|not an ONNX model" $S sweep "$W/noise.onnx" --grid "$G"
expect "-o into a missing folder is an output error, before anything runs" 4 "cannot create output" \
    $S sweep "$M" --grid "$G" -o "$W/no/such/r.csv"
expect "--blobs naming no folder is an output error" 4 "not a folder" $S sweep "$M" --grid "$G" --blobs "$W/none"

# ---- the main path: outputs, -j, the same blobs as compress ------------------
expect "sweep prints a table by default" 0 "9 points in .*on the Pareto frontier" $N sweep "$M" --grid "$G"
cp "$T/out" "$W/table.txt"
check "the table has a header and a row per point" sh -c "head -n 1 '$W/table.txt' | grep -q 'bytes.*pareto.*pipeline' && [ \$(wc -l <'$W/table.txt') -eq 10 ]"
expect "sweep -j 1 writes CSV" 0 "" $N -q sweep "$M" --grid "$G" -j 1 -o "$W/j1.csv"
# -j 1 against -j 3, and the kept blobs against compress's, with one binary
expect "sweep -j 1 (ASan build)" 0 "" $S -q sweep "$M" --grid "$G" -j 1 -o "$W/s1.csv"
expect "sweep -j 3 (ASan build)" 0 "" $S -q sweep "$M" --grid "$G" -j 3 -o "$W/j3.csv" --blobs "$W/blobs"
check "the CSV is byte-identical for -j 1 and -j 3" cmp "$W/s1.csv" "$W/j3.csv"
check "the CSV has the documented header" sh -c "head -n 1 '$W/j1.csv' | grep -qx 'point,pipeline,bytes,ratio,bits_per_weight,rel_l2,worst_rel_l2,worst_tensor,metric,pareto,label,error'"
check "-o - writes the same CSV to stdout (and no table)" sh -c "$N -q sweep '$M' --grid '$G' -o - > '$W/stdout.csv' && cmp '$W/stdout.csv' '$W/j1.csv'"
expect "sweep -o FILE.json writes JSON" 0 "" $N -q sweep "$M" --grid "$G" -j 2 -o "$W/r.json"
expect "sweep --json prints one document on stdout, messages on stderr" 0 "nnzip: sweep .*9 points" \
    sh -c "$N sweep '$M' --grid '$G' --json > '$W/stdout.json'"
check "JSON (file and stdout) and CSV agree, with the documented fields" $PYTHON - "$W/r.json" "$W/stdout.json" "$W/j1.csv" <<'PY'
import csv, json, math, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert a == b, "the -o JSON and the --json document differ"
assert list(a) == ["model", "model_bytes", "grids", "eval", "metric_name", "metric_goal",
                   "pareto_by", "points", "failed", "frontier", "results"], list(a)
assert a["points"] == 9 and a["failed"] == 0 and a["pareto_by"] == "rel_l2" and a["eval"] is None
rows = list(csv.DictReader(open(sys.argv[3], newline="")))
assert len(rows) == len(a["results"]) == 9
for r, j in zip(rows, a["results"]):
    assert list(j) == ["point", "pipeline", "bytes", "ratio", "bits_per_weight", "rel_l2",
                       "worst_rel_l2", "worst_tensor", "metric", "pareto", "label", "error"], list(j)
    assert int(r["point"]) == j["point"] and r["pipeline"] == j["pipeline"]
    assert int(r["bytes"]) == j["bytes"]
    for k in ("ratio", "bits_per_weight", "rel_l2", "worst_rel_l2"):
        assert math.isclose(float(r[k]), j[k], rel_tol=1e-5), (k, r[k], j[k])
    assert r["pareto"] == ("1" if j["pareto"] else "0") and r["metric"] == "" and j["metric"] is None
    assert r["error"] == "" and j["error"] is None and r["label"] == j["label"]
    assert j["worst_rel_l2"] >= j["rel_l2"] * 0.999 and j["worst_tensor"]
assert a["results"][4]["label"] == "sparsity=0.5 bits=6", a["results"][4]["label"]
assert a["results"][0]["pipeline"] == "prune:sparsity=0 | quantize:bits=4 | huffman"
PY
check "the Pareto column is the frontier of (bytes, rel_l2), computed independently" $PYTHON - "$W/j1.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
pts = [(float(r["bytes"]), float(r["rel_l2"])) for r in rows]
for r, (b, e) in zip(rows, pts):
    dominated = any(b2 <= b and e2 <= e and (b2 < b or e2 < e) for b2, e2 in pts)
    assert r["pareto"] == ("0" if dominated else "1"), (r["point"], r["pareto"])
assert sum(r["pareto"] == "1" for r in rows) >= 2
PY
check "--blobs keeps one blob per point, the size the CSV gives" $PYTHON - "$W/j3.csv" "$W/blobs" <<'PY'
import csv, os, sys
for r in csv.DictReader(open(sys.argv[1], newline="")):
    p = os.path.join(sys.argv[2], r["point"] + ".nnz")
    assert os.path.getsize(p) == int(r["bytes"]), (p, os.path.getsize(p), r["bytes"])
PY
for k in 1 5 9; do
    p=$(sed -n "$((k + 1))p" "$W/j1.csv" | cut -d, -f2)
    check "point $k's blob is the one compress -p '$p' writes" \
        sh -c "$S -q compress '$M' -o '$W/c$k.nnz' -p '$p' && cmp '$W/c$k.nnz' '$W/blobs/$k.nnz'"
done
# a model with typed tensor fields, and a grid that rewrites the graph (the
# model is loaded again after each such point): still compress's blobs
E=$FIX/edge_typed_fields.onnx
mkdir -p "$W/b2" "$W/b3"
expect "sweep of a model with typed tensor fields" 0 "" $N -q sweep "$E" --grid 'quantize:bits=4,8' -o "$W/e.csv" --blobs "$W/b2"
check "its blobs are compress's" sh -c "$N -q compress '$E' -o '$W/e1.nnz' -p 'quantize:bits=4' && cmp '$W/e1.nnz' '$W/b2/1.nnz' && $N -q compress '$E' -o '$W/e2.nnz' -p 'quantize:bits=8' && cmp '$W/e2.nnz' '$W/b2/2.nnz'"
DG='decompose:energy=0.6,0.9 | quantize:bits=8,6'
if $N -q compress "$M" -o "$W/d.nnz" -p 'decompose:energy=0.6 | quantize:bits=8' 2>/dev/null; then
    expect "sweep over decompose (graph rewrites) with one worker" 0 "" $N -q sweep "$M" --grid "$DG" -j 1 -o "$W/d.csv" --blobs "$W/b3"
    check "after a graph rewrite the next point starts from the model as loaded" \
        sh -c "$N -q compress '$M' -o '$W/d4.nnz' -p 'decompose:energy=0.9 | quantize:bits=6' && cmp '$W/d4.nnz' '$W/b3/4.nnz' && cmp '$W/d.nnz' '$W/b3/1.nnz'"
else
    skip "sweep over decompose" "compress -p decompose fails here"
fi
expect "a grid with '/' alternatives" 0 "" $N -q sweep "$M" -o "$W/alt.csv" \
    --grid 'quantize:bits=4/8,scheme=sym/asym,granularity=tensor | huffman:max-len=12'
check "alternatives expand in order, the last key fastest" $PYTHON - "$W/alt.csv" <<'PY'
import csv, sys
got = [r["pipeline"] for r in csv.DictReader(open(sys.argv[1], newline=""))]
want = ["quantize:bits=%s,scheme=%s,granularity=tensor | huffman:max-len=12" % (b, s)
        for b in ("4", "8") for s in ("sym", "asym")]
assert got == want, got
PY
expect "--quiet: nothing on stderr" 0 "" sh -c "$N -q sweep '$M' --grid 'quantize:bits=4,8' -o '$W/q.csv' 2>'$W/q.err' && [ ! -s '$W/q.err' ]"
expect "no progress line when stderr is not a terminal" 0 "" sh -c "$N sweep '$M' --grid '$G' -o '$W/p.csv' 2>'$W/p.err' && ! grep -q 'point [0-9]*/9' '$W/p.err'"
if command -v script >/dev/null 2>&1; then
    check "a progress line (point i/N) when stderr is a terminal" sh -c \
        "script -qec \"$N sweep '$M' --grid '$G' -o '$W/tty.csv'\" /dev/null | grep -q 'point 9/9'"
    script -qec "$N sweep '$M' --grid '$G' -o '$W/tty2.csv'" /dev/null >"$W/tty.out" 2>&1
    check "the progress line gives the time left, rewritten in place (one line, not one a point)" sh -c \
        "grep -q 's left' '$W/tty.out' && [ \$(grep -c 'sweep: point' '$W/tty.out') = 1 ]"
else
    skip "progress on a terminal" "script(1) is not installed"
fi

# ---- the Pareto frontier on a hand-made metric ---------------------------------
# the blob grows with bits; the metric comes from a list by point number:
# 0.5 0.7 0.6 0.9 0.9 0.95 -> max: 1 1 0 1 0 1 (0.6 and the second 0.9 are beaten
# by a smaller point at least as good); min: only the first (smallest, lowest)
HAND='set -- 0.5 0.7 0.6 0.9 0.9 0.95; shift $(({point} - 1)); echo "metric: $1"'
expect "sweep with a hand-made metric, goal max" 0 "" $N -q sweep "$M" --grid 'quantize:bits=2,3,4,5,6,8 | huffman' --eval "$HAND" -o "$W/hand.csv"
check "the blob grows with bits, so the hand-made frontier is known" $PYTHON - "$W/hand.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
b = [int(r["bytes"]) for r in rows]
assert b == sorted(b) and len(set(b)) == 6, b
PY
check "goal max: the frontier is points 1 2 4 6" sh -c "tail -n +2 '$W/hand.csv' | cut -d, -f9,10 | tr '\n' ' ' | grep -qx '0.5,1 0.7,1 0.6,0 0.9,1 0.9,0 0.95,1 '"
expect "sweep with a hand-made metric, goal min" 0 "" $N -q sweep "$M" --grid 'quantize:bits=2,3,4,5,6,8 | huffman' --eval "$HAND" --metric-goal min -o "$W/hmin.csv"
check "goal min: only point 1" sh -c "tail -n +2 '$W/hmin.csv' | cut -d, -f10 | tr -d '\n' | grep -qx 100000"

expect "the same pipeline twice (two --grid options)" 0 "" $N -q sweep "$M" -o "$W/tie.csv" \
    --grid 'quantize:bits=4 | huffman' --grid 'quantize:bits=8 | huffman' --grid 'quantize:bits=4 | huffman'
check "equal points are both on the frontier, and labelled by their pipeline" sh -c \
    "tail -n +2 '$W/tie.csv' | cut -d, -f3,10,11 | tr '\n' ' ' | grep -Eqx '([0-9]+),1,bits=4 [0-9]+,1,bits=8 \\1,1,bits=4 '"

expect "labels: a stage only some points have is named when needed" 0 "" $N -q sweep "$M" -o "$W/lab.csv" \
    --grid 'quantize:bits=4,6 | huffman' --grid 'quantize:bits=4' --grid 'quantize:fp16'
check "the labels tell every point apart, and no more" sh -c \
    "tail -n +2 '$W/lab.csv' | cut -d, -f11 | tr '\n' ';' | grep -qx 'bits=4 huffman;bits=6;bits=4;fp16;'"

# ---- --eval failures: reported per point, exit 1, outputs still written ---------------
expect "an eval command that always fails: exit 1" 1 "point 1 .*eval: the command exited with status 1" \
    $N sweep "$M" --grid 'quantize:bits=4,8' --eval 'false' -o "$W/false.csv"
check "its CSV is written, each row with the error and no figures" sh -c \
    "[ \$(grep -c 'exited with status 1' '$W/false.csv') -eq 2 ] && ! grep -q ',1,' '$W/false.csv'"
expect "an eval command that prints no number: exit 1" 1 "printed no number on stdout" \
    $N sweep "$M" --grid 'quantize:bits=8' --eval 'echo no number here'
expect "an eval command's last stderr line is in the error" 1 "status 4: boom" \
    $N sweep "$M" --grid 'quantize:bits=8' --eval 'echo boom >&2; exit 4'
expect "one failing point: exit 1, the others measured" 1 "point 2 'quantize:bits=6': eval: the command exited with status 3" \
    $N sweep "$M" --grid 'quantize:bits=4,6,8' --eval '[ {point} = 2 ] && exit 3; echo 0.5' -o "$W/part.csv"
check "the other points have their metric and the frontier" sh -c \
    "sed -n 2p '$W/part.csv' | grep -q ',0.5,1,' && sed -n 4p '$W/part.csv' | grep -q ',0.5,0,' && sed -n 3p '$W/part.csv' | grep -q 'status 3'"
mkdir -p "$W/tmp dir"
expect "placeholders are quoted paths, also with spaces; variables too" 0 "" \
    env TMPDIR="$W/tmp dir" $N -q sweep "$M" --grid 'quantize:bits=4,8' -o "$W/ph.csv" \
    --eval 'test -f {onnx} && test -f {blob} && test -f "$NNZIP_ONNX" && [ {pipeline} = "$NNZIP_PIPELINE" ] && echo x{point}y 7 "$NNZIP_POINT"'
check "the metric is the last number printed" sh -c "cut -d, -f9 '$W/ph.csv' | tr '\n' ' ' | grep -qx 'metric 1 2 '"

# ---- --eval with the ONNX Runtime oracle: real test accuracy ---------------------
if [ -d tests/oracle/node_modules/onnxruntime-node ] && command -v node >/dev/null 2>&1; then
    expect "sweep --eval runs the accuracy of each rebuilt model (ASan build, 2 workers)" 0 "" \
        $S -q sweep "$M" --grid 'quantize:bits=2,4,8 | huffman' -j 2 \
        --eval "sh tests/tools/accuracy.sh $M {onnx}" --metric-name 'test accuracy' \
        -o "$W/acc.json" --plot "$W/acc.svg"
    check "accuracies are real: 8 bits keeps the float model's, 2 bits loses some" $PYTHON - "$W/acc.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["pareto_by"] == "metric" and d["metric_goal"] == "max" and d["metric_name"] == "test accuracy"
acc = [r["metric"] for r in d["results"]]
assert all(0 <= a <= 1 for a in acc), acc
assert acc[2] >= 0.95 and acc[0] < acc[2], acc
for r in d["results"]:  # the frontier of (bytes, accuracy), computed here
    better = [q for q in d["results"] if q["bytes"] <= r["bytes"] and q["metric"] >= r["metric"]
              and (q["bytes"] < r["bytes"] or q["metric"] > r["metric"])]
    assert r["pareto"] == (not better), (r["point"], r["pareto"])
assert d["results"][0]["pareto"]
PY
else
    skip "sweep --eval with the oracle" "onnxruntime-node is not installed (make test-deps)"
fi

# ---- the plot --------------------------------------------------------------------------
expect "--plot writes an SVG" 0 "" $N -q sweep "$M" --grid "$G" --plot "$W/p.svg" -o "$W/p2.csv"
check "the SVG is well-formed, self-contained, with a point and a label each" $PYTHON - "$W/p.svg" <<'PY'
import sys, xml.etree.ElementTree as ET
ns = "{http://www.w3.org/2000/svg}"
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == ns + "svg" and root.get("width") == "960" and root.get("height") == "640"
text = open(sys.argv[1]).read()
assert "<script" not in text and "href" not in text and "@import" not in text and "url(" not in text
titles = [t.text for t in root.iter(ns + "title")]
assert len(titles) == 9, titles
texts = " ".join("".join(t.itertext()) for t in root.iter(ns + "text"))
assert "digits_mlp.onnx" in texts and "blob size" in texts and "kB" in texts
for lab in ("sparsity=0 bits=4", "sparsity=0.8 bits=8", "sparsity=0.5 bits=6"):
    assert lab in texts, lab
poly = [p for p in root.iter(ns + "polyline")]
assert len(poly) == 1 and len(poly[0].get("points").split()) >= 2
PY
if command -v rsvg-convert >/dev/null 2>&1; then
    for svg in p acc; do
        [ -f "$W/$svg.svg" ] || continue
        check "rsvg-convert renders $svg.svg to a 960x640 PNG that is not blank, with the frontier's colour" sh -c \
            "rsvg-convert '$W/$svg.svg' -o '$W/$svg.png' && $PYTHON - '$W/$svg.png'" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n"
pos, idat = 8, b""
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    pos += 12 + n
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
    elif kind == b"IDAT":
        idat += body
assert (w, h) == (960, 640) and depth == 8, (w, h, depth)
bpp = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
raw, stride = zlib.decompress(idat), w * bpp
prev, at, ink, red = bytearray(stride), 0, 0, 0
for y in range(h):
    f, line = raw[at], bytearray(raw[at + 1:at + 1 + stride])
    at += 1 + stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b = prev[x]
        c = prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp):
        px = line[x:x + 3] if bpp >= 3 else line[x:x + 1] * 3
        if min(px) < 235:
            ink += 1
        if abs(px[0] - 0xd1) < 24 and abs(px[1] - 0x49) < 24 and abs(px[2] - 0x5b) < 24:
            red += 1
    prev = line
assert ink > 0.02 * w * h, ("nearly blank", ink)
assert red > 200, ("no frontier colour", red)
PY
    done
else
    skip "SVG rendering" "rsvg-convert is not installed (librsvg2-bin; make test-deps)"
fi

# ---- clean-up -----------------------------------------------------------------------
check "no work folder is left behind" sh -c "! ls -A '$W/tmp' '$W/tmp dir' | grep -q nnzip-sweep"
# (in a shell of its own, so the one running the tests prints no "Terminated")
rc=$(sh -c "'$N' -q sweep '$M' --grid 'quantize:bits=4,6,8,3,5' -j 2 --eval 'sleep 3; echo 1' -o '$W/killed.csv' & pid=\$!; sleep 1; kill -TERM \$pid; wait \$pid; echo \$?" 2>/dev/null)
check "a sweep killed by SIGTERM dies by it (status $rc)" test "$rc" = 143
check "and leaves no work folder and no output" sh -c "! ls -A '$W/tmp' | grep -q nnzip-sweep && [ ! -e '$W/killed.csv' ] && ! ls -a '$W' | grep -q nnzip-tmp"

if [ -n "$SAVED_TMPDIR" ]; then export TMPDIR=$SAVED_TMPDIR; else unset TMPDIR; fi
