# 48-huffman.sh - the huffman pass from the command line: what it refuses,
# that it is lossless (a `quantize | huffman` model gives exactly the ONNX
# Runtime outputs of the `quantize` model alone, on the digits fixtures and
# the corpus models), that its report is the blob, that it is deterministic,
# and that every build of the runtime (fast paths on and off, a 32-bit bit
# buffer, a small first-level table) decodes every Huffman blob alike.
group "huffman pass"
N=$NNZIP_SAN
W=$T/huffman
mkdir -p "$W"

# ---- what it refuses
expect "huffman with nothing quantized before it, on a float model, is refused, saying why" 2 \
    "huffman codes the integer codes a quantizer makes, and nothing is quantized before it" \
    $N compress "$FIX/digits_mlp.onnx" -o "$W/bad.nnz" -p "huffman"
expect "huffman:max-len=0 is a usage error naming the range" 2 "max-len=0.*1\.\.16" \
    $N compress "$FIX/digits_mlp.onnx" -o "$W/bad.nnz" -p "quantize:bits=8 | huffman:max-len=0"
expect "huffman:block=300 is a usage error: a power of two" 2 "block=300: expected a power of two" \
    $N compress "$FIX/digits_mlp.onnx" -o "$W/bad.nnz" -p "quantize:bits=8 | huffman:block=300"
check "no output is left behind by a refused pipeline" test ! -e "$W/bad.nnz"

# ---- lossless: the same model with and without huffman, on every model
oracle_inputs() {
    case $1 in
    "$CORPUS"/*) echo "--corpus-model $(basename "$1" .onnx) --corpus-json ../shared/corpus/models.json" ;;
    *digits_*) echo "--dataset $FIX/digits_test.json" ;;
    *) [ -f "${1%.onnx}.inputs.json" ] && echo "--inputs ${1%.onnx}.inputs.json" ;;
    esac
}
models=$(ls "$FIX"/digits_*.onnx 2>/dev/null)
if [ -d "$CORPUS" ] && ls "$CORPUS"/*.onnx >/dev/null 2>&1; then
    models="$models $(ls "$CORPUS"/*.onnx)"
else
    skip "huffman on the corpus models" "no corpus in $CORPUS"
fi
for m in $models; do
    n=$(basename "$m" .onnx)
    case $n in digits_*) qs="quantize:bits=8 quantize:max-rel-error=0.01 quantize:kmeans,bits=5" ;;
               *) qs="quantize:bits=8" ;; esac
    for q in $qs; do
        tag=$n.$(echo "$q" | tr -c 'a-z0-9\n' '_')
        if $NNZIP -q compress "$m" -o "$W/$tag.q.nnz" -p "$q" --onnx-out "$W/$tag.q.onnx" 2>"$W/err" &&
            $NNZIP -q compress "$m" -o "$W/$tag.h.nnz" -p "$q | huffman" --json \
                --onnx-out "$W/$tag.h.onnx" >"$W/$tag.h.json" 2>>"$W/err"; then
            pass "$n: '$q' and '$q | huffman' compress"
        else
            fail "$n: '$q' and '$q | huffman' compress" "$(head -c 400 "$W/err")"
            continue
        fi
        check "$n: '$q | huffman' rebuilds the very bytes of '$q'" cmp "$W/$tag.q.onnx" "$W/$tag.h.onnx"
        check "$n: '$q | huffman' is smaller than '$q'" \
            test "$(stat -c %s "$W/$tag.h.nnz")" -lt "$(stat -c %s "$W/$tag.q.nnz")"
        [ -f "${m%.onnx}.data" ] && cp "${m%.onnx}.data" "$W/" 2>/dev/null
        if $ORACLE "$W/$tag.q.onnx" "$W/$tag.h.onnx" $(oracle_inputs "$m") --json >"$W/$tag.ort.json" 2>"$W/err" &&
            grep -q '"all_bit_identical":true' "$W/$tag.ort.json"; then
            pass "$n: ONNX Runtime gives '$q | huffman' exactly the outputs of '$q'"
        else
            fail "$n: ONNX Runtime outputs of '$q | huffman' differ from '$q'" \
                "$(head -c 400 "$W/$tag.ort.json") $(head -c 300 "$W/err")"
        fi
    done
done

# shared Huffman tables (docs/FORMAT.md, codings 5 and 6) are in those round
# trips: digits_mlp's fc2 and fc3 use fc1's table
check "digits_mlp: '| huffman' codes two tensors with another's table, and the rebuild above is exact" \
    sh -c '$1 info "$2" | grep -q "runtime features it needs: huffman graph-codec shared-tables ("' \
    _ "$NNZIP" "$W/digits_mlp.quantize_bits_8.h.nnz"

# ---- the report is the blob, and the choice is in it
M=$FIX/digits_mlp.onnx
check "the report's payload bytes are the blob's, tensor by tensor" sh -c "
    $N -q compress '$M' -o '$W/r.nnz' -p 'quantize:bits=8 | huffman' --json > '$W/r.json' &&
    $N info --json '$W/r.nnz' > '$W/ri.json' && $PYTHON -c '
import json, sys
rep = {t[\"name\"]: t for t in json.load(open(sys.argv[1]))[\"tensors\"]}
info = {t[\"name\"]: t for t in json.load(open(sys.argv[2]))[\"tensors\"]}
coded = 0
for name, t in rep.items():
    e = t[\"encoding\"]
    if e[\"layout\"] == \"raw\":
        continue
    coded += 1
    assert e[\"payload_bytes\"] == info[name][\"payload_bytes\"], (name, e, info[name])
    assert e[\"coding\"] in (\"huffman\", \"packed\"), e
    assert e[\"values\"][\"coding\"] == e[\"coding\"] or e[\"layout\"] == \"sparse\", e
    if e[\"coding\"] == \"huffman\":
        v = e[\"values\"]
        # (shared: coded with the table of the tensor table_of names)
        assert v[\"lanes\"] in (1, 4) and (v[\"table\"] in (\"list\", \"gamma\") or
                                           v[\"table\"] == \"shared\" and \"table_of\" in e), v
        assert 0 <= v[\"max_code_len\"] <= 14, v
assert coded == 3, coded
' '$W/r.json' '$W/ri.json'"
check "the same model and pipeline give the same blob" sh -c "
    $N -q compress '$M' -o '$W/r2.nnz' -p 'quantize:bits=8 | huffman' && cmp '$W/r.nnz' '$W/r2.nnz'"
check "huffman:max-len=9 keeps every code within 9 bits" sh -c "
    $N -q compress '$M' -o '$W/m9.nnz' -p 'quantize:bits=8 | huffman:max-len=9' --json > '$W/m9.json' &&
    $PYTHON -c '
import json, sys
for t in json.load(open(sys.argv[1]))[\"tensors\"]:
    v = t[\"encoding\"].get(\"values\", {})
    assert v.get(\"coding\") != \"huffman\" or v[\"max_code_len\"] <= 9, v
' '$W/m9.json' && $N -q verify '$M' '$W/m9.nnz' --max-rel-error 0.02"

# ---- huffman codes what the stages before it quantized, whatever chose it
# (only= names fc1.bias, which no pass takes by default; fc2/fc3 stay float)
check "with quantize:only=, huffman codes exactly the tensors quantize quantized" sh -c "
    $N -q compress '$M' -o '$W/only.nnz' -p 'quantize:bits=8,only=fc1.* | huffman' --json > '$W/only.json' &&
    $PYTHON -c '
import json, sys
r = {t[\"name\"]: t for t in json.load(open(sys.argv[1]))[\"tensors\"]}
for name in (\"fc1.weight\", \"fc1.bias\"):
    assert \"quantize\" in r[name] and \"entropy_bits\" in r[name][\"huffman\"], r[name]
for name in (\"fc2.weight\", \"fc3.weight\"):
    t = r[name]
    assert \"quantize\" not in t and \"huffman\" not in t, t
    assert t[\"encoding\"][\"layout\"] == \"raw\" and t[\"rel_l2\"] == 0, t
' '$W/only.json'"
cat >"$W/only_cfg.json" <<'JSON'
{"pipeline": [{"pass": "quantize", "bits": 6, "only": ["fc1.*", "fc2.weight"]}, {"pass": "huffman"}],
 "layers": {"fc2.weight": {"quantize": null}, "fc1.bias": {"quantize": {"bits": 8}}}}
JSON
check "with a config, huffman follows only= and the layers overrides" sh -c "
    $N -q compress '$M' -o '$W/ocfg.nnz' --config '$W/only_cfg.json' --json > '$W/ocfg.json' &&
    $PYTHON -c '
import json, sys
r = {t[\"name\"]: t for t in json.load(open(sys.argv[1]))[\"tensors\"]}
assert r[\"fc1.bias\"][\"quantize\"][\"bits\"] == 8 and \"entropy_bits\" in r[\"fc1.bias\"][\"huffman\"], r[\"fc1.bias\"]
assert r[\"fc1.weight\"][\"quantize\"][\"bits\"] == 6 and \"entropy_bits\" in r[\"fc1.weight\"][\"huffman\"]
t = r[\"fc2.weight\"]   # the override turned quantize off: nothing to code
assert \"quantize\" not in t and \"huffman\" not in t and t[\"encoding\"][\"layout\"] == \"raw\", t
' '$W/ocfg.json'"
# a large table read by Mul: no pass takes it by default, only= names it
$PYTHON - "$W/table.onnx" <<'PY'
import sys, numpy as np, onnx
from onnx import helper as h, TensorProto as T, numpy_helper as nh
w = nh.from_array(np.random.default_rng(3).normal(0, 1, 8192).astype(np.float32), "table")
g = h.make_graph([h.make_node("Mul", ["x", "table"], ["y"])], "g",
                 [h.make_tensor_value_info("x", T.FLOAT, [8192])],
                 [h.make_tensor_value_info("y", T.FLOAT, [8192])], [w])
onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 13)]), sys.argv[1])
PY
check "a tensor only= names is Huffman-coded near its codes' entropy, not packed" sh -c "
    $N -q compress '$W/table.onnx' -o '$W/table.nnz' -p 'quantize:bits=8,only=table | huffman' --json > '$W/table.json' &&
    $PYTHON -c '
import json, sys
t = json.load(open(sys.argv[1]))[\"tensors\"][0]
assert t[\"name\"] == \"table\" and t[\"encoding\"][\"coding\"] == \"huffman\", t
assert t[\"bits_per_weight\"] < t[\"huffman\"][\"entropy_bits\"] + 0.3 < 8, t
' '$W/table.json' && $N -q verify '$W/table.onnx' '$W/table.nnz' --max-rel-error 0.01"

# ---- a model quantized before nnzip saw it: huffman alone codes its codes
Q=$FIX/edge_qdq_int8.onnx
expect "huffman alone on an int8/uint8 model runs, and gives no advice" 0 "" \
    $N compress "$Q" -o "$W/qh.nnz" -p huffman --json
cp "$T/out" "$W/qh.json"
cp "$T/err" "$W/qh.err"
check "huffman alone gave no advice to add huffman" sh -c "! grep -q 'add.*huffman' '$W/qh.err'"
check "huffman codes the codes of DequantizeLinear, QLinearConv, ConvInteger, MatMulInteger (not zero points)" \
    $PYTHON - "$W/qh.json" <<'PY'
import json, sys
t = {x["name"]: x for x in json.load(open(sys.argv[1]))["tensors"]}
assert sorted(t) == ["cint.wq", "conv.wq", "fc.wq", "mmi.wq", "qconv.wq"], sorted(t)
for n, x in t.items():
    assert "entropy_bits" in x["huffman"] and "quantize" not in x and x["rel_l2"] == 0, x
for n in ("fc.wq", "mmi.wq"):  # 5120 codes of ~6.8 bits of entropy
    assert t[n]["encoding"]["coding"] == "huffman" and t[n]["bits_per_weight"] < 7.2, t[n]
PY
check "the decompressed int8 model is the source file, byte for byte" sh -c "
    $N -q decompress '$W/qh.nnz' -o '$W/qh.onnx' && cmp '$W/qh.onnx' '$Q'"
check "huffman alone makes the int8 model smaller than the lossless blob" sh -c "
    $N -q compress '$Q' -o '$W/q0.nnz' 2>/dev/null && test \$(stat -c %s '$W/qh.nnz') -lt \$(stat -c %s '$W/q0.nnz')"
if $ORACLE "$Q" "$W/qh.onnx" --inputs "${Q%.onnx}.inputs.json" --json >"$W/qh.ort.json" 2>"$W/err" &&
    grep -q '"all_bit_identical":true' "$W/qh.ort.json"; then
    pass "ONNX Runtime gives the huffman-coded int8 model exactly the source's outputs"
else
    fail "ONNX Runtime outputs of the huffman-coded int8 model" "$(head -c 300 "$W/qh.ort.json") $(head -c 300 "$W/err")"
fi
expect "quantize without huffman on it: the advice is to add huffman" 0 \
    "5 int8/uint8 weights were quantized before nnzip saw them and are stored as they are; add a huffman stage" \
    $N compress "$Q" -o "$W/qq.nnz" -p 'quantize:bits=8'
expect "quantize | huffman on it: no advice to add what is there" 0 "the model is already quantized: 5" \
    $N compress "$Q" -o "$W/qqh.nnz" -p 'quantize:bits=8 | huffman'
cp "$T/err" "$W/qqh.err"
check "... and no 'add huffman' in it" sh -c "grep -q 'already quantized' '$W/qqh.err' && ! grep -q 'add.*huffman' '$W/qqh.err'"

# ---- the other dequantizing forms: codes behind Cast (-> Sub) -> Mul, a
# per-axis DequantizeLinear, codebook indices behind Cast -> Gather; and
# trained models quantized by ONNX Runtime's static QDQ recipe
for m in edge_qdq_forms digits_cnn_qdq_u8 digits_mlp_qdq_u8; do
    Q=$FIX/$m.onnx
    if ! $N compress "$Q" -o "$W/$m.nnz" -p huffman --json >"$W/$m.json" 2>"$W/$m.err"; then
        fail "$m: huffman alone compresses it" "$(head -c 300 "$W/$m.err")"
        continue
    fi
    check "$m: no advice to add the huffman that is there" sh -c "! grep -q 'add.*huffman' '$W/$m.err'"
    check "$m: the decompressed model is the source file, byte for byte" sh -c "
        $N -q decompress '$W/$m.nnz' -o '$W/$m.onnx' && cmp '$W/$m.onnx' '$Q'"
    check "$m: decompress with the sanitized build gives the same bytes" sh -c "
        $NNZIP_SAN -q decompress '$W/$m.nnz' -o '$W/$m.san.onnx' && cmp '$W/$m.san.onnx' '$Q'"
    if $ORACLE "$Q" "$W/$m.onnx" --inputs "${Q%.onnx}.inputs.json" --json >"$W/$m.ort.json" 2>"$W/err" &&
        grep -q '"all_bit_identical":true' "$W/$m.ort.json"; then
        pass "$m: ONNX Runtime gives the huffman-coded model exactly the source's outputs"
    else
        fail "$m: ONNX Runtime outputs of the huffman-coded model" "$(head -c 300 "$W/$m.ort.json") $(head -c 300 "$W/err")"
    fi
done
check "edge_qdq_forms: huffman codes the codes behind Cast+Mul, Cast+Sub+Mul, a per-axis DequantizeLinear and Cast+Gather, not the int8 tensor that reaches no compute op" \
    $PYTHON - "$W/edge_qdq_forms.json" <<'PY'
import json, sys
t = {x["name"]: x for x in json.load(open(sys.argv[1]))["tensors"]}
coded = sorted(n for n, x in t.items() if "huffman" in x)
assert coded == ["ax.wq", "cb.idx", "cm.wq", "csm.wq"], coded
for n in coded:
    assert "entropy_bits" in t[n]["huffman"] and t[n]["rel_l2"] == 0, t[n]
PY
check "info says what makes codes of each int8/uint8 tensor, and which channel axis" \
    sh -c "$N info '$FIX/edge_qdq_forms.onnx' --json | $PYTHON -c '
import json, sys
t = {x[\"name\"]: x[\"codes_of\"] for x in json.load(sys.stdin)[\"tensors\"]}
want = {\"cm.wq\": (\"Conv\", 0), \"csm.wq\": (\"MatMul\", 0), \"ax.wq\": (\"DequantizeLinear\", 1),
        \"cb.idx\": (\"MatMul\", 1), \"mask.q\": None, \"ax.zp\": None}
for n, w in want.items():
    got = t[n] and (t[n][\"op\"], t[n][\"axis\"])
    assert got == w, (n, t[n], w)
'"
check "digits_cnn_qdq_u8: every uint8 weight is Huffman-coded; the int32 biases are not" \
    $PYTHON - "$W/digits_cnn_qdq_u8.json" <<'PY'
import json, sys
t = {x["name"]: x for x in json.load(open(sys.argv[1]))["tensors"]}
coded = sorted(n for n, x in t.items() if "huffman" in x)
assert coded == sorted(w + ".weight_quantized" for w in ("conv1", "dw", "pw", "conv3", "fc")), coded
PY
# an int8 tensor that is no weight: huffman alone has nothing to code, and says so
$PYTHON - "$W/notcodes.onnx" <<'PY'
import sys, numpy as np, onnx
from onnx import TensorProto, helper, numpy_helper
q = (np.arange(256) % 200 - 100).astype(np.int8).reshape(16, 16)
g = helper.make_graph(
    [helper.make_node("Cast", ["Q"], ["qf"], to=TensorProto.FLOAT),
     helper.make_node("Add", ["X", "qf"], ["Y"])], "g",
    [helper.make_tensor_value_info("X", TensorProto.FLOAT, [16, 16])],
    [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [16, 16])],
    [numpy_helper.from_array(q, "Q")])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 7
onnx.save(m, sys.argv[1])
PY
expect "huffman alone on a model whose int8 tensor reaches no compute op is refused, naming the forms it looks for" 2 \
    "nor has the model int8/uint8 weights: behind DequantizeLinear, an integer op, or Cast .-> Sub. -> Mul into a compute op" \
    $N compress "$W/notcodes.onnx" -o "$W/notcodes.nnz" -p huffman
expect "huffman whose only= leaves none of the model's codes says that, not that the model has none" 2 \
    "the model has 4 int8/uint8 weights quantized before nnzip saw it, and huffman's only=/skip=/min-elements= leave none of them" \
    $N compress "$FIX/edge_qdq_forms.onnx" -o "$W/none.nnz" -p 'huffman:only=nothing*'
$N -q compress "$FIX/edge_opset9.onnx" -o "$W/o9.nnz" -p 'quantize:bits=8' &&
    $N -q decompress "$W/o9.nnz" -o "$W/o9.qdq.onnx" --qdq 2>/dev/null
expect "quantize on nnzip's own --qdq model of opset 9 (codes behind Cast+Mul): the advice is to add huffman" 0 \
    "2 int8/uint8 weights were quantized before nnzip saw them and are stored as they are; add a huffman stage" \
    $N compress "$W/o9.qdq.onnx" -o "$W/o9.q.nnz" -p 'quantize:bits=8'
expect "... and huffman alone codes those 2, with no advice" 0 "" \
    $N compress "$W/o9.qdq.onnx" -o "$W/o9.h.nnz" -p huffman --json
cp "$T/out" "$W/o9.h.json"
cp "$T/err" "$W/o9.h.err"
check "... which are the two Cast+Mul weights, and the model comes back byte for byte" sh -c "
    ! grep -q 'add.*huffman' '$W/o9.h.err' &&
    $PYTHON -c '
import json, sys
t = [x[\"name\"] for x in json.load(open(sys.argv[1]))[\"tensors\"] if \"huffman\" in x]
assert sorted(t) == [\"fc1.weight_quantized\", \"fc2.weight_quantized\"], t
' '$W/o9.h.json' && $N -q decompress '$W/o9.h.nnz' -o '$W/o9.back.onnx' && cmp '$W/o9.back.onnx' '$W/o9.qdq.onnx'"

# int4 codes (opset 21): the blob has no 4-bit element type, so they stay in
# the graph as the model packs them; huffman says so, lossless keeps them
$PYTHON - "$W/int4.onnx" <<'PY'
import sys, numpy as np, onnx
from onnx import TensorProto, helper, numpy_helper
r = np.random.default_rng(1)
q = np.clip(np.round(r.normal(0, 2.5, (64, 32))), -8, 7).astype(np.int8)
u = (q & 0xF).astype(np.uint8).ravel()
t = onnx.TensorProto()  # onnx 1.12 has no INT4 helpers: the proto by hand
t.name, t.data_type, t.raw_data = "w.q", 22, (u[0::2] | u[1::2] << 4).astype(np.uint8).tobytes()
t.dims.extend([64, 32])
g = helper.make_graph(
    [helper.make_node("DequantizeLinear", ["w.q", "w.s"], ["w"]),
     helper.make_node("MatMul", ["input", "w"], ["output"])], "g",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 64])],
    [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 32])],
    [t, numpy_helper.from_array(np.array(0.05, np.float32), "w.s")])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
m.ir_version = 10
open(sys.argv[1], "wb").write(m.SerializeToString())
PY
echo '{"inputs": {"input": {"dims": [1, 64], "dtype": "float32"}}}' >"$W/int4.inputs.json"
expect "huffman alone on an int4 model says its codes stay packed as they are, not that it has none" 2 \
    "the model's 1 int4/uint4 initializers are codes already, but the blob has no 4-bit element type" \
    $N compress "$W/int4.onnx" -o "$W/int4.h.nnz" -p huffman
check "the int4 model compressed without -p comes back byte for byte" sh -c "
    $N -q compress '$W/int4.onnx' -o '$W/int4.nnz' && $N -q decompress '$W/int4.nnz' -o '$W/int4.back.onnx' &&
    cmp '$W/int4.onnx' '$W/int4.back.onnx'"
if $ORACLE "$W/int4.onnx" "$W/int4.back.onnx" --inputs "$W/int4.inputs.json" --json >"$W/int4.ort.json" 2>"$W/err" &&
    grep -q '"all_bit_identical":true' "$W/int4.ort.json"; then
    pass "ONNX Runtime runs the int4 model and its round trip alike"
else
    fail "ONNX Runtime on the int4 model and its round trip" "$(head -c 300 "$W/int4.ort.json") $(head -c 300 "$W/err")"
fi

# ---- every build of the runtime decodes every blob alike
RT_WARN=$(make -s --no-print-directory print-NNZ_RUNTIME_WARN)
builds=""
# (clang: the runtime shapes its SIMD loops for it differently)
for opt in "" "-DNNZ_FAST=0" "-DNNZ_BITBUF_BITS=32" "-DNNZ_BITBUF_BITS=32 -DNNZ_FAST=1" \
           "-DNNZ_HUFF_FAST_BITS=8" "-DNNZ_FAST=0 -DNNZ_HUFF_FAST_BITS=9" "-DNNZ_CHUNK=19" "clang"; do
    b=$W/crc$(echo "$opt" | tr -c 'A-Za-z0-9\n' '_')
    c=cc
    [ "$opt" = clang ] && c=clang opt=
    if $c $RT_WARN $opt -O2 -Iruntime tests/tools/decode_crc.c runtime/nnz.c -o "$b" 2>"$W/err"; then
        builds="$builds $b"
    else
        fail "the runtime builds with '$opt'" "$(head -c 400 "$W/err")"
    fi
done
blobs=$(ls "$W"/*.nnz "$BUILD"/fuzz/seeds_runtime/*.nnz 2>/dev/null)
first=${builds%% *}
[ -n "$first" ] || first=$(echo $builds | cut -d' ' -f1)
for b in $builds; do
    [ "$b" = "$first" ] && continue
    same=1
    for x in $blobs; do
        if ! timeout 60 "$first" "$x" >"$W/a.txt" 2>&1 || ! timeout 60 "$b" "$x" >"$W/b.txt" 2>&1 ||
           ! cmp -s "$W/a.txt" "$W/b.txt"; then
            same=0
            fail "build '${b##*/crc}' decodes $(basename "$x") as the default build does" "$(diff "$W/a.txt" "$W/b.txt" | head -n 6)"
            break
        fi
    done
    [ $same = 1 ] && pass "build '${b##*/crc}' decodes $(echo $blobs | wc -w) blobs exactly as the default build"
done
