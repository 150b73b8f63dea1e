# 47-decompose.sh - the decompose pass through the command line: SVD of
# Gemm/MatMul and Tucker-2 of Conv rewrite the graph; the blob rebuilds the
# factorised model, which onnx.checker accepts and ONNX Runtime runs, and
# which computes exactly what the original layer computes with the weight
# its factors multiply back to. Then the trained fixtures' accuracy, the
# corpus models, composition with quantize and huffman, verify, and bad
# input. Release build for breadth, the sanitizer build where it matters.
group "decompose"
W=$T/dec
mkdir -p "$W"
N=$NNZIP
NS=$NNZIP_SAN

# ---- synthetic layers: every attribute the rewrite must carry ----------------
$PYTHON - "$W" <<'PY'
import sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
rng = np.random.default_rng(7)

def f32(*s):
    """Weights with a decaying spectrum, as trained layers have: each
    unfolding's singular values fall off like 1/i, plus a little noise."""
    if len(s) == 1:
        return rng.standard_normal(s).astype(np.float32)
    w = rng.standard_normal(s)
    for axis in (0, 1):
        m = np.moveaxis(w, axis, 0)
        u, sv, vt = np.linalg.svd(m.reshape(m.shape[0], -1), full_matrices=False)
        m = ((u * (sv / (1 + np.arange(len(sv))) ** 1.5)) @ vt).reshape(m.shape)
        w = np.moveaxis(m, 0, axis)
    w += 0.02 * np.abs(w).mean() * rng.standard_normal(s)
    return w.astype(np.float32)
vi = lambda n, s: helper.make_tensor_value_info(n, TensorProto.FLOAT, s)

def save(name, nodes, inputs, outputs, inits, opset=13):
    g = helper.make_graph(nodes, name, inputs, [], inits)
    g.output.extend(outputs)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    m = onnx.shape_inference.infer_shapes(m)
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, f"{out}/{name}.onnx")

# convolutions, each on its own input
C = []
def conv(tag, x, w, b=None, **attrs):
    inits = [numpy_helper.from_array(w, f"{tag}.w")]
    ins = [f"{tag}.x", f"{tag}.w"]
    if b is not None:
        inits.append(numpy_helper.from_array(b, f"{tag}.b"))
        ins.append(f"{tag}.b")
    C.append((helper.make_node("Conv", ins, [f"{tag}.y"], name=tag, **attrs), vi(f"{tag}.x", x),
              inits))
conv("nonsquare", [1, 16, 11, 13], f32(24, 16, 3, 5), f32(24), strides=[2, 1],
     pads=[1, 2, 0, 1], dilations=[1, 2])
conv("same", [1, 20, 9, 10], f32(32, 20, 3, 3), auto_pad="SAME_UPPER", strides=[2, 2])
conv("conv1d", [1, 12, 30], f32(16, 12, 5), f32(16), strides=[2], pads=[2, 2])
conv("rgb", [1, 3, 12, 12], f32(32, 3, 3, 3), f32(32), pads=[1, 1, 1, 1])
conv("pointwise", [1, 24, 9, 9], f32(40, 24, 1, 1), f32(40), strides=[2, 2], pads=[1, 1, 0, 0])
nodes = [c[0] for c in C]
inputs = [c[1] for c in C]
inits = [i for c in C for i in c[2]]
outputs = [vi(n.output[0], None) for n in nodes]
# a Conv whose weight is a graph input: skipped and reported
nodes.append(helper.make_node("Conv", ["dyn.x", "dyn.w"], ["dyn.y"], name="dynamic"))
inputs += [vi("dyn.x", [1, 4, 6, 6]), vi("dyn.w", [8, 4, 3, 3])]
outputs.append(vi("dyn.y", None))
save("convs", nodes, inputs, outputs, inits)

# Gemm and MatMul: transA, transB, alpha, beta, 1-D and 2-D C, weight as A,
# batched and broadcast operands
nodes, inputs, inits = [], [], []
def add(node, ins, its):
    nodes.append(node)
    inputs.extend(ins)
    inits.extend(numpy_helper.from_array(a, n) for n, a in its)
add(helper.make_node("Gemm", ["g1.a", "g1.w", "g1.c"], ["g1.y"], name="g1", transB=1, alpha=0.5,
                     beta=2.0), [vi("g1.a", [4, 32])], [("g1.w", f32(48, 32)), ("g1.c", f32(48))])
add(helper.make_node("Gemm", ["g2.a", "g2.w", "g2.c"], ["g2.y"], name="g2", transA=1),
    [vi("g2.a", [32, 4])], [("g2.w", f32(32, 48)), ("g2.c", f32(4, 48))])
add(helper.make_node("Gemm", ["g3.w", "g3.b"], ["g3.y"], name="g3", transA=1, transB=1),
    [vi("g3.b", [6, 32])], [("g3.w", f32(32, 20))])
add(helper.make_node("MatMul", ["m1.a", "m1.w"], ["m1.y"], name="m1"), [vi("m1.a", [2, 5, 32])],
    [("m1.w", f32(32, 40))])
add(helper.make_node("MatMul", ["m2.w", "m2.b"], ["m2.y"], name="m2"), [vi("m2.b", [2, 32, 7])],
    [("m2.w", f32(24, 32))])
save("dense", nodes, inputs, [vi(n.output[0], None) for n in nodes], inits)
PY
[ $? -eq 0 ] || fail "synthetic models: the generator failed"

# The reference for a decomposed model: the original with each replaced
# weight set to the product of its factors as the blob stores them.
cat >"$W/reference.py" <<'PY'
import json, sys
import numpy as np
import onnx
from onnx import numpy_helper

orig, back, report, out = sys.argv[1:5]
m, b = onnx.load(orig), onnx.load(back)
rep = json.load(open(report))["decompose"]
F = {t.name: numpy_helper.to_array(t) for t in b.graph.initializer}
for n in b.graph.node:
    if n.op_type == "Constant":
        F[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
consumer = {}
for n in m.graph.node:
    for k, i in enumerate(n.input):
        consumer.setdefault(i, (n, k))
mat = lambda a: a.reshape(a.shape[0], a.shape[1])
done = 0
for e in rep:
    if e["decision"] != "decomposed":
        continue
    node, slot = consumer[e["weight"]]
    at = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    f = [F[n].astype(np.float64) for n in e["factors"]]
    if e["method"] == "tucker2":
        modes = e["modes"].split("+")
        i = 0
        u_in = mat(f.pop(0)) if "in" in modes else None
        k = f.pop(0)
        u_out = mat(f.pop(0)) if "out" in modes else None
        if u_in is not None:
            k = np.einsum("qr...,rs->qs...", k, u_in)
        if u_out is not None:
            k = np.einsum("tq,qs...->ts...", u_out, k)
        w = k
    elif node.op_type == "Conv":
        w = (mat(f[1]) @ mat(f[0])).reshape(e["shape"])
    elif node.op_type == "MatMul":
        w = f[0] @ f[1] if slot == 1 else f[1] @ f[0]
    elif slot == 1:
        w = f[1] @ f[0] if at.get("transB", 0) else f[0] @ f[1]
    else:
        w = f[0] @ f[1] if at.get("transA", 0) else f[1] @ f[0]
    assert list(w.shape) == e["shape"], (e["weight"], w.shape, e["shape"])
    for t in m.graph.initializer:
        if t.name == e["weight"]:
            t.CopyFrom(numpy_helper.from_array(w.astype(np.float32), t.name))
            break
    else:
        for n in m.graph.node:
            if n.op_type == "Constant" and n.output[0] == e["weight"]:
                n.attribute[0].t.CopyFrom(numpy_helper.from_array(w.astype(np.float32), ""))
    done += 1
onnx.save(m, out)
print(done)
PY

# ORT: worst relative L2 over the outputs (a number; "inf" on failure)
ort_worst() {
    $ORACLE "$@" --json 2>"$W/ort.err" | $PYTHON -c '
import json, sys
try:
    d = json.load(sys.stdin)
    w = d["worst_rel_l2"]
    print("inf" if w is None else w)
except Exception:
    print("inf")'
}
ort_acc() {
    $ORACLE "$@" --json 2>"$W/ort.err" | $PYTHON -c '
import json, sys
try:
    a = json.load(sys.stdin)["accuracy"]
    print(a["ref"], a["test"])
except Exception:
    print("none none")'
}
checker_ok() {
    $PYTHON -c 'import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)' "$1"
}
below() { # below X LIMIT: X is a finite number under LIMIT
    $PYTHON -c 'import sys; x = float(sys.argv[1]); sys.exit(0 if x == x and x < float(sys.argv[2]) else 1)' "$1" "$2" 2>/dev/null
}

for m in convs dense; do
    for rule in rank=3 max-rel-error=0.3 rank=vbmf; do
        tag="$m ($rule)"
        if ! $NS -q compress -f "$W/$m.onnx" -o "$W/$m.nnz" -p "decompose:$rule" --json >"$W/$m.json" 2>"$W/err"; then
            fail "$tag: compress" "$(head -c 400 "$W/err")"
            continue
        fi
        check "$tag: decompress rebuilds the factorised model" $NS -q decompress -f "$W/$m.nnz" -o "$W/$m.back.onnx"
        check "$tag: onnx.checker accepts it" checker_ok "$W/$m.back.onnx"
        n=$($PYTHON "$W/reference.py" "$W/$m.onnx" "$W/$m.back.onnx" "$W/$m.json" "$W/$m.ref.onnx" 2>"$W/err")
        want=5 # every layer but the dynamic one
        [ "$rule" = rank=3 ] || want=$n
        if [ -n "$n" ] && [ "$n" = "$want" ] && [ "$n" -gt 0 ]; then
            pass "$tag: $n layers factorised"
        else
            fail "$tag: $n layers factorised, expected $want" "$(head -c 400 "$W/err")"
        fi
        worst=$(ort_worst "$W/$m.ref.onnx" "$W/$m.back.onnx")
        if below "$worst" 1e-5; then
            pass "$tag: ORT outputs equal the original layers' with the factors' product (rel_l2 $worst)"
        else
            fail "$tag: ORT outputs differ from the reconstructed layers: rel_l2 $worst" "$(head -c 300 "$W/ort.err")"
        fi
    done
done
check "the Conv with a dynamic weight is skipped and reported" $PYTHON -c '
import json, sys
d = [e for e in json.load(open(sys.argv[1]))["decompose"] if e["node"] == "dynamic"][0]
sys.exit(0 if d["decision"] == "skipped" and "computed at run time" in d["reason"] else 1)' "$W/convs.json"
check "the first layer (3 input channels) keeps its input mode" $PYTHON -c '
import json, sys
d = [e for e in json.load(open(sys.argv[1]))["decompose"] if e["node"] == "rgb"][0]
sys.exit(0 if d["modes"] == "out" and d["rank_in"] == 3 else 1)' "$W/convs.json"
# -v: a line per layer, Tucker-2's two ranks by name (it printed "rank -nan")
$NS compress -v -f "$W/convs.onnx" -o "$W/convs_v.nnz" -p "decompose:rank=3" 2>"$W/verbose" >/dev/null
if grep -Eq "decompose +rgb.w +tucker2 ranks 3 \(in\), 3 \(out\)" "$W/verbose" && ! grep -qi "nan" "$W/verbose"; then
    pass "compress -v names a Tucker layer's input and output ranks"
else
    fail "compress -v: no Tucker ranks line, or a nan" "$(grep -i "decompose" "$W/verbose" | head -n 4)"
fi

# ---- the trained fixtures: accuracy, and the full pipeline through the blob -----
for m0 in digits_mlp digits_cnn; do
    for p in "decompose:energy=0.9 | quantize:bits=8 | huffman" "decompose:max-rel-error=0.3"; do
        tag="$m0 '$p'"
        case $p in *huffman) m=$m0 ;; *) m=$m0.mre ;; esac
        if ! $N -q compress "$FIX/$m0.onnx" -o "$W/$m.nnz" -p "$p" --onnx-out "$W/$m.out.onnx" --json >"$W/$m.json" 2>"$W/err"; then
            fail "$tag: compress" "$(head -c 400 "$W/err")"
            continue
        fi
        check "$tag: onnx.checker accepts the model" checker_ok "$W/$m.out.onnx"
        check "$tag: decompress gives the --onnx-out model" sh -c "$N -q decompress '$W/$m.nnz' -o '$W/$m.back.onnx' && cmp '$W/$m.back.onnx' '$W/$m.out.onnx'"
        acc=$(ort_acc "$FIX/$m0.onnx" "$W/$m.out.onnx" --dataset "$FIX/digits_test.json")
        ref=${acc% *} got=${acc#* }
        if below "$($PYTHON -c 'import sys; print(float(sys.argv[1]) - float(sys.argv[2]))' "$ref" "$got" 2>/dev/null)" 0.05; then
            pass "$tag: ORT accuracy $got (original $ref)"
        else
            fail "$tag: ORT accuracy $got (original $ref)" "$(head -c 300 "$W/ort.err")"
        fi
    done
done
check "the factors are quantized and Huffman-coded like any weight (above quantize's size floor)" $PYTHON -c '
import json, sys
d = json.load(open(sys.argv[1]))
fs = {f for e in d["decompose"] if e["decision"] == "decomposed" for f in e["factors"]}
ts = {t["name"]: t for t in d["tensors"]}
big = [f for f in fs if ts[f]["elements"] >= 256]
ok = len(big) >= 4 and all(ts[f]["encoding"].get("coding") == "huffman" and
                           ts[f]["encoding"].get("value_map") in ("affine", "affine-log") for f in big)
sys.exit(0 if ok else 1)' "$W/digits_mlp.json"
expect "verify of a decomposed blob passes and says what it did not compare" 0 \
    "OK; .*replaced by a graph rewrite \(low-rank factors, folding\), not compared.*; graph not compared \(rewritten by a pass, says the blob\)" $NS verify "$FIX/digits_mlp.onnx" "$W/digits_mlp.nnz"
check "compress with decompose is deterministic" sh -c "$N -q compress '$FIX/digits_cnn.onnx' -o '$W/d1.nnz' -p 'decompose:rank=vbmf' && $N -q compress '$FIX/digits_cnn.onnx' -o '$W/d2.nnz' -p 'decompose:rank=vbmf' && cmp '$W/d1.nnz' '$W/d2.nnz'"

# ---- models that keep weights elsewhere: Constant nodes, subgraphs ---------------
check "edge_constants: a MatMul weight in a Constant node is factorised" sh -c "
    $NS -q compress '$FIX/edge_constants.onnx' -o '$W/ec.nnz' -p 'decompose:rank=4' --onnx-out '$W/ec.onnx' --json >'$W/ec.json' &&
    grep -q '\"decision\":\"decomposed\"' '$W/ec.json'"
check "edge_constants: onnx.checker accepts the result" checker_ok "$W/ec.onnx"
check "edge_convtranspose: the ConvTranspose is skipped and reported" sh -c "
    $NS -q compress '$FIX/edge_convtranspose.onnx' -o '$W/ct.nnz' -p 'decompose:rank=1' --json >'$W/ct.json' &&
    grep -q 'ConvTranspose is not decomposed' '$W/ct.json'"
if [ -f "$CORPUS/ppocr_det_v4.onnx" ]; then
    for c in ppocr_det_v4 silero_vad_legacy oww_hey_jarvis; do
        if $N -q compress "$CORPUS/$c.onnx" -o "$W/$c.nnz" -p "decompose:max-rel-error=0.2" \
            --onnx-out "$W/$c.onnx" --json >"$W/$c.json" 2>"$W/err"; then
            k=$($PYTHON -c 'import json,sys; print(sum(e["decision"] == "decomposed" for e in json.load(open(sys.argv[1]))["decompose"]))' "$W/$c.json")
            worst=$(ort_worst "$CORPUS/$c.onnx" "$W/$c.onnx" --corpus-model $c --corpus-json ../shared/corpus/models.json)
            if [ "$k" -gt 0 ] && below "$worst" 1; then
                pass "$c: $k layers factorised; onnx runs in ORT (output rel_l2 $worst)"
            else
                fail "$c: $k layers factorised, ORT rel_l2 $worst" "$(head -c 300 "$W/ort.err")"
            fi
            check "$c: onnx.checker accepts the factorised model" checker_ok "$W/$c.onnx"
        else
            fail "$c: compress" "$(head -c 400 "$W/err")"
        fi
    done
else
    skip "decompose on corpus models" "no corpus in $CORPUS"
fi

# ---- external data: the rewrite rescans the IR; untouched weights keep their file source
mkdir -p "$W/ext" "$W/ext/out"
$PYTHON tests/tools/make_big_model.py "$W/ext/m.onnx" 8 --external --tensor-mb 1 >/dev/null
echo '{"pipeline": [{"pass": "decompose", "rank": 8, "only": ["w0", "w3"]}]}' >"$W/ext/c.json"
check "decompose of some layers of an external-data model" $NS -q compress "$W/ext/m.onnx" -o "$W/ext/m.nnz" --config "$W/ext/c.json"
check "its blob decompresses" $NS -q decompress "$W/ext/m.nnz" -o "$W/ext/out/m.onnx"
check "the layers left alone keep their bytes, the others are factors" $PYTHON - "$W/ext/m.onnx" "$W/ext/out/m.onnx" <<'PY'
import sys
import numpy as np
import onnx
from onnx import numpy_helper
a = {t.name: numpy_helper.to_array(t, base_dir=sys.argv[1].rsplit("/", 1)[0]) for t in onnx.load(sys.argv[1]).graph.initializer}
b = {t.name: numpy_helper.to_array(t) for t in onnx.load(sys.argv[2]).graph.initializer}
kept = [k for k in a if k not in ("w0", "w3")]
ok = all(np.array_equal(a[k], b[k]) for k in kept) and "w0" not in b and "w3_svd_in" in b
sys.exit(0 if ok and len(kept) >= 4 else 1)
PY

# ---- bad input: usage errors that name key and value, and no output --------------
M=$FIX/digits_mlp.onnx
expect "rank=0 is refused" 2 "decompose: rank=0: expected an integer in 1\.\." $NS compress "$M" -o "$W/bad.nnz" -p "decompose:rank=0"
expect "energy=1.5 is refused" 2 "energy=1\.5: expected a number in \(0, 1\]" $NS compress "$M" -o "$W/bad.nnz" -p "decompose:energy=1.5"
expect "energy=0 is refused" 2 "energy=0: expected a number in \(0, 1\]" $NS compress "$M" -o "$W/bad.nnz" -p "decompose:energy=0"
expect "max-rel-error=1 is refused" 2 "max-rel-error=1: expected a number in \(0, 1\)" $NS compress "$M" -o "$W/bad.nnz" -p "decompose:max-rel-error=1"
expect "two rank rules are refused" 2 "choose one of rank=, energy=, max-rel-error=" $NS compress "$M" -o "$W/bad.nnz" -p "decompose:rank=3,energy=0.9"
expect "an unknown key is refused and the valid ones listed" 2 "unknown option 'ranks'.*rank=N\|vbmf" $NS compress "$M" -o "$W/bad.nnz" -p "decompose:ranks=3"
expect "decompose after quantize is refused" 2 "decompose after quantize is refused: .*decompose first" $NS compress "$M" -o "$W/bad.nnz" -p "quantize:bits=8 | decompose"
check "no output is left behind by a refused pipeline" test ! -e "$W/bad.nnz"
expect "a rank above every layer's size is clamped; nothing saves, a warning says so" 0 \
    "warning: decompose: none of the 3 layers considered was factorised" $NS compress "$M" -o "$W/big.nnz" -p "decompose:rank=100000"
