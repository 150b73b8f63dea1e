# 51-qdq-values.sh - decompress and decompress --qdq give the same weights,
# bit for bit, for every encoding x value map (raw; dense, sparse, hashed x
# f32, f16, bf16, affine, affine-log, codebook; dense integer), including blobs whose affine zero point
# DequantizeLinear cannot hold (a blob may hold any u32: 1000 went to UINT8
# as 232 and gave -1.32 where decompress gave -9.0). --qdq may choose
# another form or keep a tensor float, never change a value.
group "--qdq and decompress decode every value map identically"
W=$T/qdqv
mkdir -p "$W"
$PYTHON - "$W/m.onnx" <<'PY'
import sys, numpy as np, onnx
from onnx import TensorProto, helper, numpy_helper
r = np.random.default_rng(5)
w1 = (r.standard_normal((32, 64)) * 0.2).astype(np.float32)
w2 = (r.standard_normal((64, 32)) * 0.2).astype(np.float32)
g = helper.make_graph(
    [helper.make_node("MatMul", ["X", "W1"], ["h"]), helper.make_node("Relu", ["h"], ["a"]),
     helper.make_node("MatMul", ["a", "W2"], ["Y"])], "g",
    [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 32])],
    [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 32])],
    [numpy_helper.from_array(w1, "W1"), numpy_helper.from_array(w2, "W2")])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
m.ir_version = 8
onnx.save(m, sys.argv[1])
PY
# a copy of a blob whose affine tensors all get zero point Z (checksums redone)
cat >"$W/set_zp.py" <<'PY'
import sys
sys.path.insert(0, "tests/hostile")
from gen_hostile import Blob, read_varint, varint
src, dst, zp = sys.argv[1], sys.argv[2], int(sys.argv[3])
x = Blob(open(src, "rb").read())
n = 0
for e in x.entries:
    p = bytearray(e["params"])
    v5 = e["encoding_version"] >= 5  # kind and block in one byte; zero point a varint
    kind = p[0] & 7 if v5 else p[0]
    if e["encoding"] not in (1, 2, 3) or kind not in (3, 6):
        continue
    nchan, at = read_varint(p, 1 if v5 else 2)
    _, at = read_varint(p, at)
    if kind == 3:
        at += 4 * nchan
    elif e["encoding_version"] >= 4:  # affine-log: exponent, base, bits, packed codes
        at += 3 + (nchan * p[at + 2] + 7) // 8
    else:  # affine-log, version 3: exponent, a byte a channel
        at += 1 + nchan
    if v5:
        z, end = read_varint(p, at)
        if z:  # one zero point, as varint zp + 1
            p[at:end] = varint(zp + 1)
        else:  # 0, then a u32 each
            for c in range(nchan):
                p[end + 4 * c:end + 4 + 4 * c] = zp.to_bytes(4, "little")
    else:
        shared = p[at]
        for c in range(1 if shared else nchan):
            p[at + 1 + 4 * c:at + 5 + 4 * c] = zp.to_bytes(4, "little")
    e["params"] = bytes(p)
    n += 1
assert n, "no affine tensor"
open(dst, "wb").write(x.write())
PY
# a copy of a lossless blob whose raw float tensors become dense f32-bits
# tensors (packed 32-bit symbols) and raw int8 ones dense integer tensors
# (8-bit symbols, offset 128): layouts the writer has no pipeline for
cat >"$W/recode.py" <<'PY'
import struct, sys
sys.path.insert(0, "tests/hostile")
from gen_hostile import Blob, SEC_PAYLOAD, varint
src, dst = sys.argv[1], sys.argv[2]
x = Blob(open(src, "rb").read())
pay = bytearray(x.section(SEC_PAYLOAD))
n = 0
for e in x.entries:
    if e["encoding"] != 0 or e["dtype"] not in (1, 3):
        continue
    at, ln = e["payload_offset"], e["payload_length"]
    raw = bytes(pay[at:at + ln])
    if e["dtype"] == 1:  # float: the bits, most significant first
        data = b"".join(raw[i:i + 4][::-1] for i in range(0, ln, 4))
        params = bytes([0, 0, 0, 32]) + varint(ln)
    else:  # int8: symbol = value + 128
        data = bytes((b + 128) & 255 for b in raw)
        params = bytes([5, 0]) + varint(128) + bytes([0, 8]) + varint(ln)
    pay[at:at + ln] = data
    e["encoding"], e["encoding_version"], e["params"] = 1, 1, params
    n += 1
assert n, "no raw float or int8 tensor"
x.set_section(SEC_PAYLOAD, bytes(pay))
open(dst, "wb").write(x.write())
PY
$PYTHON - "$W/int.onnx" <<'PY'
import sys, numpy as np, onnx
from onnx import TensorProto, helper, numpy_helper
r = np.random.default_rng(6)
q = np.clip(np.round(r.standard_normal((32, 64)) * 20), -128, 127).astype(np.int8)
g = helper.make_graph(
    [helper.make_node("Cast", ["Q"], ["qf"], to=TensorProto.FLOAT),
     helper.make_node("MatMul", ["X", "qf"], ["Y"])], "g",
    [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 32])],
    [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 64])],
    [numpy_helper.from_array(q, "Q")])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
m.ir_version = 8
onnx.save(m, sys.argv[1])
PY
cases="raw#
dense-affine#quantize:bits=8,scheme=asym,min-elements=1
dense-affine-sym#quantize:bits=4,min-elements=1
sparse-affine#prune:sparsity=0.8 | quantize:bits=8,scheme=asym,min-elements=1
sparse-affine-tensor#prune:sparsity=0.8 | quantize:bits=8,scheme=asym,granularity=tensor,min-elements=1
hashed-affine#hashnet:ratio=4 | quantize:bits=8,scheme=asym,min-elements=1
dense-codebook#quantize:kmeans,bits=4,min-elements=1
sparse-codebook#prune:sparsity=0.8 | quantize:kmeans,bits=4,min-elements=1
hashed-codebook#hashnet:ratio=4 | quantize:kmeans,bits=4,min-elements=1
dense-f16#quantize:fp16,min-elements=1
sparse-f16#prune:sparsity=0.8 | quantize:fp16,min-elements=1
hashed-f16#hashnet:ratio=4 | quantize:fp16,min-elements=1
dense-bf16#quantize:bf16,min-elements=1
sparse-bf16#prune:sparsity=0.8 | quantize:bf16,min-elements=1
hashed-bf16#hashnet:ratio=4 | quantize:bf16,min-elements=1
sparse-f32#prune:sparsity=0.8
hashed-f32#hashnet:ratio=4
zp1000#quantize:bits=8,scheme=asym,granularity=tensor,min-elements=1#1000
zp1000-channel#quantize:bits=8,scheme=asym,min-elements=1#1000
zp-past-float#quantize:bits=8,scheme=asym,granularity=tensor,min-elements=1#16777217
dense-f32##recode
dense-integer##recode#int"
seen=""
while IFS='#' read -r name pipe zp model <&3; do
    [ -n "$name" ] || continue
    b=$W/$name.nnz
    if ! $NNZIP -q compress "$W/${model:-m}.onnx" -o "$b" -p "$pipe" 2>"$W/$name.err"; then
        fail "$name: compress -p '$pipe'" "$(head -c 300 "$W/$name.err")"
        continue
    fi
    if [ "$zp" = recode ]; then
        $PYTHON "$W/recode.py" "$b" "$b.re" && mv "$b.re" "$b"
        check "$name: the recoded blob decodes to the source's weights exactly" \
            $NNZIP -q verify "$W/${model:-m}.onnx" "$b" --max-rel-error 0
    elif [ -n "$zp" ]; then
        $PYTHON "$W/set_zp.py" "$b" "$b.zp" "$zp" && mv "$b.zp" "$b"
    fi
    seen="$seen $($NNZIP info "$b" --json 2>/dev/null | $PYTHON -c '
import json, sys
print(" ".join("%s-%s" % (t["encoding"], t.get("value_map", "")) for t in json.load(sys.stdin)["tensors"]))')"
    if ! $NNZIP_SAN -q decompress "$b" -o "$W/$name.f.onnx" 2>"$W/$name.err" ||
        ! $NNZIP_SAN decompress "$b" -o "$W/$name.q.onnx" --qdq 2>"$W/$name.qerr"; then
        fail "$name: decompress and decompress --qdq succeed" "$(cat "$W/$name.err" "$W/$name.qerr" | head -c 300)"
        continue
    fi
    r=$($PYTHON tests/tools/qdq_same_weights.py "$W/$name.f.onnx" "$W/$name.q.onnx" 2>"$W/$name.cmp")
    if [ $? -eq 0 ]; then
        pass "$name: the --qdq model computes every weight decompress writes, bit for bit ($r)"
    else
        fail "$name: --qdq changes weights ($r)" "$(head -c 400 "$W/$name.cmp")"
    fi
done 3<<EOF2
$cases
EOF2
# every encoding with every value map it can have was among the blobs
for want in raw-none dense-affine dense-affine-log sparse-affine sparse-affine-log hashed-affine dense-codebook sparse-codebook \
    hashed-codebook dense-f16 sparse-f16 hashed-f16 dense-bf16 sparse-bf16 hashed-bf16 \
    dense-f32 sparse-f32 hashed-f32 dense-integer; do
    case " $seen " in
    *" $want "*) pass "a blob had a $want tensor" ;;
    *) fail "no blob had a $want tensor" "seen:$seen" ;;
    esac
done
# the zero points DequantizeLinear cannot hold take another form, and say so
check "zero point 1000: codes behind Cast, Sub and Mul, with the reason on stderr" \
    grep -q "zero point 1000 does not fit DequantizeLinear's UINT8: codes behind Cast, Sub and Mul" "$W/zp1000.qerr"
check "zero point 2^24+1: kept as float, with the reason on stderr" \
    grep -q "zero point 16777217 fits neither UINT8 nor an exact float32 subtraction; kept as float" "$W/zp-past-float.qerr"
check "zero point 1000: decompress gives the map's values (every W1 weight negative)" \
    $PYTHON -c 'import onnx, sys, numpy as np; from onnx import numpy_helper as nh
w = {t.name: nh.to_array(t) for t in onnx.load(sys.argv[1]).graph.initializer}["W1"]
sys.exit(0 if w.max() < 0 else 1)' "$W/zp1000.f.onnx"
