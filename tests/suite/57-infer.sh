# 57-infer.sh - nnzip's interpreter (src/infer, docs/infer.md) and `nnzip run`:
# the ONNX backend node tests of libonnx-testdata at onnx's tolerances,
# agreement with ONNX Runtime on every corpus model and fixture, every fixture
# under ASan + UBSan, input and output formats, and the errors for bad graphs.
group "infer"
W=$T/infer
mkdir -p "$W"
S=$NNZIP_SAN

# ---- layering: cli -> passes -> src/infer -> src/core --------------------------
check "src/infer includes no pass, blob or cli header; src/core and the runtime include no infer header" sh -c '
    for h in $(ls src/prune/*.h src/quantize/*.h src/hashnet/*.h src/decompose/*.h src/blob/*.h cli/*.h); do
        if grep -qs "#include \"$(basename $h)\"" src/infer/*.c src/infer/*.h; then echo "src/infer includes $h"; exit 1; fi
    done
    for h in $(ls src/infer/*.h); do
        if grep -qs "#include \"$(basename $h)\"" src/core/*.c src/core/*.h runtime/*; then echo "core includes $h"; exit 1; fi
    done'

# ---- usage and bad graphs (ASan + UBSan) --------------------------------------
expect "run --help exits 0" 0 "" sh -c "$S run --help | grep -q '^Usage: nnzip run'"
expect "run without a model is a usage error" 2 "expected one MODEL.onnx" $S run
expect "run with --inputs and --input-spec is a usage error" 2 "give one" \
    $S run "$FIX/digits_mlp.onnx" --inputs "$W" --input-spec "$W/x.json"
expect "run --threads 0 is a usage error" 2 "threads wants 1..256" $S run "$FIX/digits_mlp.onnx" --threads 0
expect "run on a missing file is bad input" 3 "" $S run "$W/nope.onnx"
$PYTHON tests/tools/make_infer_models.py "$W/bad" >/dev/null
B=$W/bad
expect "an unsupported op: exit 3 naming the op and the node" 3 "node 'the_einsum': op Einsum is not supported" \
    $S run "$B/unsupported_op.onnx"
expect "an unsupported attribute value: exit 3 naming node and value" 3 "node 'rs' \(Resize\): not supported: mode 'trilinear'" \
    $S run "$B/unsupported_attr.onnx"
check "compress still works on a model the interpreter refuses" $NNZIP -q compress "$B/unsupported_op.onnx" -o "$W/unsup.nnz"
check "info still works on a model the interpreter refuses" $NNZIP -q info "$B/unsupported_op.onnx"
expect "a cycle: exit 3 naming a node on it" 3 "node 'first' \(Add\) is on a cycle" $S run "$B/cycle.onnx"
expect "an input no node produces: exit 3 naming node and value" 3 "node 'adder' \(Add\), input 1: value 'nowhere' is not produced" \
    $S run "$B/dangling.onnx"
expect "shapes that do not broadcast: exit 3 naming the node" 3 "node 'bad_add' \(Add\): shapes do not broadcast: dim 1 is 4 and 3" \
    $S run "$B/shape_mismatch.onnx"
expect "a shape mismatch is found by the shape plan, before anything runs" 3 "the shape plan: node 'bad_add' \(Add\): shapes do not broadcast" \
    $S run "$B/shape_mismatch.onnx"
# the plan refuses the impossible node before the 1 GB node before it exists:
# under ulimit -v 800 MB an executor that allocated as it went would die of
# out-of-memory (exit 5) at big_fill; the plan names 'explode' with exit 3
expect "the shape plan refuses a late explosion before allocating anything (ulimit -v 800 MB)" 3 \
    "the shape plan: node 'explode' \(Expand\): needs 40000000008 bytes.*over the limit" \
    sh -c "ulimit -v 800000; exec $NNZIP run '$B/late_explosion.onnx'"
expect "the memory plan sums live activations: two 4 MB values over a 6 MB limit" 3 \
    "the shape plan: node 'fill_b' \(Expand\): needs 8000004 bytes.*limit of 6000000" \
    $S run "$B/live_sum.onnx" --max-memory 6000000
check "the same graph runs under a limit above its planned peak (8 MB: the product is computed in place)" \
    $S -q run "$B/live_sum.onnx" --max-memory 8100000
expect "run --plan with -o is a usage error" 2 "computes nothing" $S run "$FIX/digits_cnn.onnx" --plan -o "$W/x"
check "run --plan lists every value's shape and the planned peak, computing nothing" sh -c \
    "$S run '$FIX/digits_cnn.onnx' --plan --json | $PYTHON -c '
import json, sys
p = json.load(sys.stdin)[\"runs\"][0][\"plan\"]
v = {x[\"name\"]: x for x in p[\"values\"]}
assert v[\"logits\"][\"shape\"] == [1, 10] and v[\"logits\"][\"dtype\"] == \"float\", v
assert p[\"runtime_values\"] == 0 and p[\"shaped_values\"] == len(v) > 5 and p[\"peak_activation_bytes\"] > 0, p'"
check "data-dependent shapes (NonZero of an activation) are marked as known only at run time" sh -c \
    "$S run '$B/data_dependent.onnx' --plan --json | $PYTHON -c '
import json, sys
p = json.load(sys.stdin)[\"runs\"][0][\"plan\"]
v = {x[\"name\"]: x for x in p[\"values\"]}
assert v[\"nz\"].get(\"runtime\") and v[\"y\"].get(\"runtime\"), v
assert v[\"r\"][\"shape\"] == [64, 1024] and v[\"rs\"][\"shape\"] == [2], v'"
check "...and the run computes them (the run-time checks are the second line)" sh -c \
    "$S run '$B/data_dependent.onnx' --json | $PYTHON -c '
import json, sys
r = json.load(sys.stdin)[\"runs\"][0]
assert r[\"plan\"][\"checked_values\"] == r[\"plan\"][\"shaped_values\"] == 2, r
assert r[\"outputs\"][0][\"shape\"][1] == 2 and r[\"outputs\"][0][\"shape\"][0] > 1000, r'"
# fused Conv chains: the fast path (residual of the same shape, Clip) and a
# declined one (a broadcasting Add, then Relu), both against numpy
mkdir -p "$W/chain_in"
$PYTHON -c "import numpy as np; np.save('$W/chain_in/x.npy', np.random.default_rng(3).standard_normal((1, 2, 6, 5)).astype(np.float32) * 3)"
check "fused Conv chains run (one taken whole, one declined)" sh -c \
    "$S run '$B/conv_chains.onnx' --inputs '$W/chain_in' -o '$W/chain_out' --npy --json >'$W/chain.json'"
check "...and agree with numpy (conv + residual then Clip; conv + broadcast bias then Relu)" $PYTHON -c "
import json
import numpy as np, onnx
from onnx import numpy_helper
m = onnx.load('$B/conv_chains.onnx'); w = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
x = np.load('$W/chain_in/x.npy').astype(np.float64)
def conv(x, W):
    p = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    o = np.zeros((1, W.shape[0], x.shape[2], x.shape[3]))
    for m_ in range(W.shape[0]):
        for i in range(x.shape[2]):
            for j in range(x.shape[3]):
                o[0, m_, i, j] = (p[0, :, i:i + 3, j:j + 3] * W[m_]).sum()
    return o
c1 = conv(x, w['w1']) + w['b1'][None, :, None, None]
y = np.clip(conv(x, w['w2']) + c1, 0, 6)
z = np.maximum(conv(x, w['w1']) + w['cb'][None], 0)
gy = np.load('$W/chain_out/output_0.npy'); gz = np.load('$W/chain_out/output_1.npy')
assert np.abs(gy - y).max() < 1e-4 and np.abs(gz - z).max() < 1e-4, (np.abs(gy - y).max(), np.abs(gz - z).max())
assert (y == 6).any() and (y == 0).any() and (z == 0).any()  # the clamps bite
p = json.load(open('$W/chain.json'))['runs'][0]['plan']
assert p['fused_values'] == 2, p   # conv2 -> residual -> relu6 in one: c2 and s never made
"
# the conv paths (batched small images, depthwise 3x3/5x5 at stride 1/2 on
# small and large images, grouped, dilated, 1x1, fused residual + Relu/Clip)
# against float64 numpy, under ASan + UBSan
$PYTHON tests/tools/make_conv_cases.py "$W/conv" >/dev/null
for d in "$W"/conv/*/; do
    cn=$(basename "$d")
    mkdir -p "$d/in" && cp "$d/x.npy" "$d/in/x.npy"
    check "conv case $cn agrees with numpy (relative L2 <= 1e-6)" sh -c "
        $S -q run '$d/model.onnx' --inputs '$d/in' -o '$d/out' --npy --json >'$d/run.json' &&
        $PYTHON -c '
import json, numpy as np
y = np.load(\"$d/y.npy\"); g = np.load(\"$d/out/output_0.npy\")
assert g.shape == y.shape and np.linalg.norm(g - y) <= 1e-6 * np.linalg.norm(y), np.linalg.norm(g - y) / np.linalg.norm(y)
p = json.load(open(\"$d/run.json\"))[\"runs\"][0][\"plan\"]
# the residual cases take the fused fast path: the conv and the sum never made
residual = (\"batched_1x1\", \"dw3_s1_large\", \"dw3_s1_small\", \"plain_large\", \"pointwise_large\")
assert \"$cn\" not in residual or p[\"fused_values\"] == 2, p'"
done
expect "a huge Expand: exit 3, nothing allocated" 3 "node 'blow_up' \(Expand\)" $S run "$B/huge_expand.onnx"
expect "dims whose product overflows: exit 3" 3 "node 'zeros' \(ConstantOfShape\): output 0: the product of its dims overflows" \
    $S run "$B/overflow_dims.onnx"
expect "an output past the memory limit is refused before allocating" 3 "node 'big_zeros' \(ConstantOfShape\): needs 4398046511120 bytes.*over the limit" \
    $S run "$B/too_big.onnx"
expect "--max-memory lowers the limit" 3 "over the limit of 1000 \(--max-memory\)" \
    $S run "$FIX/digits_cnn.onnx" --max-memory 1000
expect "a Loop without a bound stops at the iteration limit: exit 3" 3 "node 'forever' \(Loop\): ran 999999 iterations.*without a bound" \
    $NNZIP run "$B/endless_loop.onnx"
# Loop: 3 iterations of v+1, scan of 2*(v+1), checked with numpy
mkdir -p "$W/loop_in"
$PYTHON -c "import numpy as np; np.save('$W/loop_in/x.npy', np.arange(4, dtype=np.float32).reshape(1, 4))"
check "a Loop with a trip count runs" $S -q run "$B/loop3.onnx" --inputs "$W/loop_in" -o "$W/loop_out" --npy
check "the Loop's carried value and scan output are right" $PYTHON -c "
import numpy as np
x = np.arange(4, dtype=np.float32).reshape(1, 4)
y = np.load('$W/loop_out/output_0.npy'); s = np.load('$W/loop_out/output_1.npy')
assert np.array_equal(y, x + 3), y
assert s.shape == (3, 1, 4) and np.array_equal(s, np.stack([2 * (x + k) for k in (1, 2, 3)])), s"
# inputs: by name (input_N.pb in any order), wrong type, wrong shape, missing
mkdir -p "$W/two" "$W/two_bad" "$W/two_missing"
$PYTHON -c "
import numpy as np
from onnx import numpy_helper
a = numpy_helper.from_array(np.full((2, 3), 5, np.float32), 'a')
b = numpy_helper.from_array(np.arange(6, dtype=np.int64).reshape(2, 3), 'b')
open('$W/two/input_0.pb', 'wb').write(b.SerializeToString())   # b first: matched by name
open('$W/two/input_1.pb', 'wb').write(a.SerializeToString())
bf = numpy_helper.from_array(np.zeros((2, 3), np.float32), 'b')
open('$W/two_bad/input_0.pb', 'wb').write(a.SerializeToString())
open('$W/two_bad/input_1.pb', 'wb').write(bf.SerializeToString())
np.save('$W/two_missing/a.npy', np.zeros((2, 3), np.float32))"
check "input_N.pb are matched by name" $S -q run "$B/two_inputs.onnx" --inputs "$W/two" -o "$W/two_out" --npy
check "matched by name, the result is a - b" $PYTHON -c "
import numpy as np
y = np.load('$W/two_out/output_0.npy')
assert np.array_equal(y, 5 - np.arange(6, dtype=np.float32).reshape(2, 3)), y"
expect "an input of the wrong type: exit 3 naming it" 3 "input 'b' is float; the model takes int64" \
    $S run "$B/two_inputs.onnx" --inputs "$W/two_bad"
expect "a missing input: exit 3 naming it" 3 "no 'b.npy' for input 'b'" $S run "$B/two_inputs.onnx" --inputs "$W/two_missing"
mkdir -p "$W/wrong_shape"
$PYTHON -c "import numpy as np; np.save('$W/wrong_shape/input.npy', np.zeros((1, 31), np.float32))"
expect "an input of the wrong shape: exit 3 naming input and dim" 3 "input 'input': dim 1 is 31; the model takes 32" \
    $S run "$FIX/edge_fp16.onnx" --inputs "$W/wrong_shape"
mkdir -p "$W/sym"
$PYTHON -c "
import numpy as np
np.save('$W/sym/a.npy', np.zeros((2, 3), np.float32)); np.save('$W/sym/b.npy', np.zeros((4, 3), np.int64))"
expect "a symbolic dim bound to two values: exit 3" 3 "dim 'n' is 4 here but 2" $S run "$B/two_inputs.onnx" --inputs "$W/sym"
check "--dim gives generated inputs a symbolic dim" sh -c \
    "$S run '$B/two_inputs.onnx' --dim n=5 --json | grep -q '\"shape\":\[5,3\]'"

# ---- outputs, formats, determinism, calibration sets, blobs -----------------------
check "run writes output_N.pb" $NNZIP -q run "$FIX/digits_cnn.onnx" -o "$W/pb_out"
check "output_N.pb is a TensorProto named as the output" $PYTHON -c "
import onnx
t = onnx.TensorProto(); t.ParseFromString(open('$W/pb_out/output_0.pb', 'rb').read())
assert t.name == 'logits' and list(t.dims) == [1, 10], (t.name, t.dims)"
check "run --json reports shape and statistics" sh -c \
    "$NNZIP run '$FIX/digits_cnn.onnx' --json | $PYTHON -c 'import json,sys; d=json.load(sys.stdin); o=d[\"runs\"][0][\"outputs\"][0]; assert o[\"name\"]==\"logits\" and o[\"shape\"]==[1,10] and o[\"min\"]<=o[\"mean\"]<=o[\"max\"], d'"
$NNZIP -q run "$FIX/digits_cnn.onnx" --seed 7 -o "$W/det1" --npy
$NNZIP -q run "$FIX/digits_cnn.onnx" --seed 7 -o "$W/det2" --npy
$NNZIP -q run "$FIX/digits_cnn.onnx" --seed 8 -o "$W/det3" --npy
check "the same seed gives the same output bytes" cmp "$W/det1/output_0.npy" "$W/det2/output_0.npy"
check "another seed gives other outputs" sh -c "! cmp -s '$W/det1/output_0.npy' '$W/det3/output_0.npy'"
mkdir -p "$W/calib/test_data_set_0" "$W/calib/test_data_set_1"
$PYTHON -c "
import numpy as np
for k in range(2):
    np.save('$W/calib/test_data_set_%d/input.npy' % k, np.full((1, 64), k, np.float32))"
check "a calibration set runs each test_data_set_N" $NNZIP -q run "$FIX/digits_mlp.onnx" --inputs "$W/calib" -o "$W/calib_out" --npy
check "each set's outputs are its own" $PYTHON -c "
import numpy as np
a = np.load('$W/calib_out/test_data_set_0/output_0.npy'); b = np.load('$W/calib_out/test_data_set_1/output_0.npy')
assert a.shape == (1, 10) and not np.array_equal(a, b)"
check "compress digits_cnn losslessly" $NNZIP -q compress "$FIX/digits_cnn.onnx" -o "$W/cnn.nnz"
$NNZIP -q run "$W/cnn.nnz" --seed 7 -o "$W/blob_out" --npy
check "a lossless blob runs to the same bytes as its model" cmp "$W/det1/output_0.npy" "$W/blob_out/output_0.npy"

# ---- every fixture under ASan + UBSan -------------------------------------------
for f in "$FIX"/*.onnx; do
    n=$(basename "$f" .onnx)
    expect "fixture $n runs clean under ASan+UBSan" 0 "" $S -q run "$f" --input-spec "$FIX/$n.inputs.json" -o "$W/asan_$n" --npy
done

# ---- conformance: ONNX backend node tests -----------------------------------------
TDN=/usr/share/libonnx-testdata/data/node
if [ ! -d "$TDN" ]; then
    skip "ONNX backend node tests" "libonnx-testdata is not installed ($TDN)"
else
    : >"$W/pairs"
    : >"$W/unsup"
    : >"$W/errs"
    for d in "$TDN"/*/; do
        n=$(basename "$d")
        [ -d "$d/test_data_set_0" ] || continue
        # NNZIP_PLAN_SHAPES_ONLY: the plan computes no float value, so each
        # kernel's shape path runs and the run checks every value against it
        if NNZIP_PLAN_SHAPES_ONLY=1 $NNZIP -q run "$d/model.onnx" --inputs "$d/test_data_set_0" -o "$W/node/$n" 2>"$W/err"; then
            echo "$n $d/test_data_set_0 $W/node/$n" >>"$W/pairs"
        elif [ $? = 3 ] && grep -q "not supported" "$W/err"; then
            echo "$n: $(cat "$W/err")" >>"$W/unsup"
        else
            echo "$n: $(head -c 300 "$W/err")" >>"$W/errs"
        fi
    done
    $PYTHON tests/tools/cmp_node_tests.py <"$W/pairs" >"$W/node_cmp"
    npass=$(tail -n 1 "$W/node_cmp" | cut -d' ' -f1)
    nfail=$(grep -c '^fail' "$W/node_cmp")
    nerr=$(wc -l <"$W/errs")
    nuns=$(wc -l <"$W/unsup")
    echo "  ONNX node tests: $npass passed, $nfail wrong, $nerr failed to run, $nuns skipped as unsupported"
    if [ "$nfail" -eq 0 ] && [ "$nerr" -eq 0 ] && [ "$npass" -gt 650 ]; then
        pass "every ONNX node test of a supported op passes at rtol 1e-3, atol 1e-7 ($npass)"
    else
        fail "ONNX node tests: $nfail wrong, $nerr failed to run" "$(grep '^fail' "$W/node_cmp" | head -5; head -5 "$W/errs")"
    fi
    # an op in the registry must not be skipped wholesale: each has a passing test
    check "skipped node tests name what is unsupported" sh -c "! grep -v 'not supported' '$W/unsup'"
fi

# ---- agreement with ONNX Runtime on the corpus and the fixtures ----------------------
if [ ! -d tests/oracle/node_modules/onnxruntime-node ]; then
    skip "ONNX Runtime agreement" "the oracle is not installed (tests/oracle/README.md)"
else
    models=""
    for f in "$CORPUS"/*.onnx "$FIX"/*.onnx; do [ -f "$f" ] && models="$models $f"; done
    [ -d "$CORPUS" ] || skip "ONNX Runtime agreement on the corpus" "no corpus in $CORPUS"
    for f in $models; do
        n=$(basename "$f" .onnx)
        if [ -f "$FIX/$n.inputs.json" ]; then spec="--inputs $FIX/$n.inputs.json"; else spec="--corpus-model $n"; fi
        # ONNX Runtime's extended optimizations run a per-axis int8
        # DequantizeLinear -> MatMul as a kernel that quantizes the activations
        # too (relative L2 8.6e-4 off the graph's float result, measured with
        # 1.30; 1e-7 at --opt-level basic): the graph's semantics are basic's
        [ "$n" = edge_qdq_forms ] && spec="$spec --opt-level basic"
        if ! node tests/oracle/dump.js "$f" "$W/ort_$n" $spec >/dev/null 2>"$W/err"; then
            fail "ONNX Runtime runs $n" "$(head -c 300 "$W/err")"
            continue
        fi
        if ! $NNZIP -q run "$f" --inputs "$W/ort_$n/inputs" -o "$W/ort_$n/nnz" --npy --json >"$W/ort_$n/run.json" 2>"$W/err"; then
            fail "nnzip runs $n" "$(head -c 300 "$W/err")"
            continue
        fi
        # the run checks each value against the plan (exit 5 on a difference)
        check "$n: the shape plan gave every value the shape the run produced" $PYTHON -c "
import json; p = json.load(open('$W/ort_$n/run.json'))['runs'][0]['plan']
assert p['checked_values'] + p['fused_values'] == p['shaped_values'] and p['checked_values'] > 0 and p['peak_activation_bytes'] > 0, p"
        check "$n: the same with a plan that computes no float value" sh -c \
            "NNZIP_PLAN_SHAPES_ONLY=1 $NNZIP -q run '$f' --inputs '$W/ort_$n/inputs' --json | $PYTHON -c '
import json, sys; p = json.load(sys.stdin)[\"runs\"][0][\"plan\"]
assert p[\"checked_values\"] + p[\"fused_values\"] == p[\"shaped_values\"] and p[\"checked_values\"] > 0, p'"
        # nnzip's own generator draws the oracle's inputs: the same outputs, bit for bit
        if [ -f "$FIX/$n.inputs.json" ]; then gen="--input-spec $FIX/$n.inputs.json"
        else gen="--input-spec ../shared/corpus/models.json --spec-model $n"; fi
        if [ -f ../shared/corpus/models.json ] || [ -f "$FIX/$n.inputs.json" ]; then
            $NNZIP -q run "$f" $gen -o "$W/ort_$n/gen" --npy 2>"$W/err"
            check "$n: nnzip generates the oracle's inputs (outputs byte-identical)" sh -c \
                "for o in '$W/ort_$n/nnz'/*.npy; do cmp -s \"\$o\" '$W/ort_$n/gen'/\$(basename \"\$o\") || exit 1; done"
        fi
        $PYTHON tests/tools/cmp_outputs.py "$W/ort_$n/ort" "$W/ort_$n/nnz" --max 1 >"$W/cmp_$n.json"
        worst=$($PYTHON -c "import json; d = json.load(open('$W/cmp_$n.json')); print(d['worst_rel_l2'])")
        echo "  $n: worst output relative L2 vs ONNX Runtime $worst"
        if [ "$n" = mlsd_large320 ]; then
            # its 'scores' output is sigmoid * (sigmoid == maxpool(sigmoid)): a local-maximum
            # mask on float equality, where an ulp decides ties; judged apart (docs/infer.md)
            check "$n: the smooth output (offsets) within 1e-5 of ONNX Runtime" $PYTHON -c "
import json; d = json.load(open('$W/cmp_$n.json')); assert d['outputs'][0]['rel_l2'] <= 1e-5, d"
            check "$n: the masked scores agree where both keep them and the mask differs on under 1.5%" $PYTHON -c "
import numpy as np
a = np.load('$W/ort_$n/ort/output_1.npy'); b = np.load('$W/ort_$n/nnz/output_1.npy')
both = (a != 0) & (b != 0)
assert np.linalg.norm(a[both] - b[both]) <= 1e-5 * np.linalg.norm(a[both])
assert ((a != 0) != (b != 0)).mean() < 0.015, ((a != 0) != (b != 0)).mean()"
        else
            check "$n: every output within relative L2 1e-5 of ONNX Runtime" $PYTHON -c "
import json; d = json.load(open('$W/cmp_$n.json')); w = d['worst_rel_l2']; assert w is not None and w <= 1e-5, d"
        fi
    done
fi

# ---- verify --max-output-error ---------------------------------------------------
V=$FIX/digits_cnn.onnx
VS=$FIX/digits_cnn.inputs.json
$NNZIP -q compress "$V" -o "$W/v_lossless.nnz"
$NNZIP -q compress "$V" -p 'quantize:bits=4 | huffman' -o "$W/v_q4.nnz"
expect "verify: a lossless blob's outputs are exact (--max-output-error 0)" 0 "output logits +rel_l2 0 " \
    $S verify "$V" "$W/v_lossless.nnz" --max-output-error 0 --input-spec "$VS"
expect "verify: a 4-bit blob over --max-output-error 0.01 fails with exit 1" 1 "relative L2 error .* is over --max-output-error 0.01" \
    $S verify "$V" "$W/v_q4.nnz" --max-output-error 0.01 --input-spec "$VS"
expect "verify: the same blob within 0.5 passes" 0 "top-1 agreement" \
    $S verify "$V" "$W/v_q4.nnz" --max-output-error 0.5 --input-spec "$VS"
expect "verify: --inputs and --input-spec together is a usage error" 2 "give one" \
    $S verify "$V" "$W/v_q4.nnz" --inputs "$W" --input-spec "$VS"
$NNZIP -q compress "$FIX/digits_mlp.onnx" -p 'quantize:bits=3' -o "$W/v_mlp.nnz"
check "verify: a calibration set as inputs counts every set" sh -c \
    "$NNZIP -q verify '$FIX/digits_mlp.onnx' '$W/v_mlp.nnz' --max-output-error 1 --inputs '$W/calib' --json | grep -q '\"sets\":2'"
$NNZIP -q verify "$V" "$W/v_q4.nnz" --max-output-error 1 --input-spec "$VS" --json >"$W/v_ours.json"
if [ -d tests/oracle/node_modules/onnxruntime-node ]; then
    $NNZIP -q decompress "$W/v_q4.nnz" -o "$W/v_q4.onnx"
    $ORACLE "$V" "$W/v_q4.onnx" --inputs "$VS" --json >"$W/v_ort.json"
    check "verify's output error is the ONNX Runtime oracle's on the same inputs (rel_l2, max_abs, cosine, top-1)" $PYTHON -c "
import json
o = json.load(open('$W/v_ours.json'))['output_error']['outputs'][0]
r = json.load(open('$W/v_ort.json'))['outputs']['logits']
assert o['rel_l2'] > 0.01, o
assert abs(o['rel_l2'] - r['rel_l2']) <= 1e-4 * r['rel_l2'], (o, r)
assert abs(o['max_abs'] - r['max_abs']) <= 1e-4 * r['max_abs'], (o, r)
assert abs(o['cosine'] - r['cosine']) <= 1e-6 and o['top1_agreement'] == r['top1_agreement'], (o, r)"
fi

# ---- sweep --metric output-error ---------------------------------------------------
expect "sweep --metric with an unknown metric is a usage error" 2 "the built-in metric is output-error" \
    $S sweep "$V" --grid 'quantize:bits=4,8' --metric accuracy
expect "sweep --metric output-error with --eval is a usage error" 2 "give one" \
    $S sweep "$V" --grid 'quantize:bits=4,8' --metric output-error --eval 'echo 1 {onnx}'
expect "sweep --input-spec without --metric output-error is a usage error" 2 "are for --metric output-error" \
    $S sweep "$V" --grid 'quantize:bits=4,8' --input-spec "$VS"
check "sweep --metric output-error runs" sh -c "$NNZIP -q sweep '$V' --grid 'quantize:bits=4,8 | huffman' \
    --metric output-error --input-spec '$VS' --json >'$W/sweep_out.json'"
check "each point's metric is verify's output error for that pipeline; lower bits, larger error" $PYTHON -c "
import json
d = json.load(open('$W/sweep_out.json'))
assert d['metric_name'] == 'output_rel_l2' and d['metric_goal'] == 'min', d
m = {r['pipeline']: r['metric'] for r in d['results']}
ours = json.load(open('$W/v_ours.json'))['output_error']['worst_rel_l2']
assert abs(m['quantize:bits=4 | huffman'] - ours) <= 1e-12, (m, ours)
assert m['quantize:bits=8 | huffman'] < m['quantize:bits=4 | huffman'] / 4, m"
