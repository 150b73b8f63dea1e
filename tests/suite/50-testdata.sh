# 50-testdata.sh - breadth: every model of Debian's libonnx-testdata (1,072
# node tests and converted PyTorch models) loads, saves back to a model
# onnx.checker accepts, and round-trips through a blob to the same bytes.
group "libonnx-testdata: every model"
TD=/usr/share/libonnx-testdata/data
W=$T/td
mkdir -p "$W"
if [ ! -d "$TD" ]; then
    skip "libonnx-testdata" "package not installed ($TD missing)"
else
    find "$TD" -name model.onnx | sort >"$W/list"
    total=$(wc -l <"$W/list")
    bad=0
    : >"$W/converted"
    while read -r f; do
        id=$(echo "$f" | sed "s|$TD/||; s|/model.onnx||; s|/|__|g")
        if $NNZIP convert "$f" -o "$W/$id.conv.onnx" 2>"$W/err" &&
            $NNZIP -q compress "$f" -o "$W/$id.nnz" 2>>"$W/err" &&
            $NNZIP -q decompress "$W/$id.nnz" -o "$W/$id.back.onnx" 2>>"$W/err" &&
            cmp -s "$W/$id.conv.onnx" "$W/$id.back.onnx"; then
            echo "$W/$id.back.onnx" >>"$W/converted"
        else
            bad=$((bad + 1))
            echo "  $id: $(head -c 200 "$W/err")"
        fi
        rm -f "$W/$id.conv.onnx" "$W/$id.nnz"
    done <"$W/list"
    if [ "$bad" -eq 0 ]; then
        pass "all $total libonnx-testdata models load, save and round-trip through a blob to the same bytes"
    else
        fail "$bad of $total libonnx-testdata models failed to round-trip (listed above)"
    fi
    # onnx.checker on what we wrote, in one Python process
    xargs $PYTHON tests/tools/onnx_facts.py --check <"$W/converted" >"$W/checked.jsonl"
    rejected=$(grep -vc '"checker": "ok"' "$W/checked.jsonl")
    # the originals the checker itself rejects do not count against us
    grep -v '"checker": "ok"' "$W/checked.jsonl" | $PYTHON -c '
import json, sys, os
td = sys.argv[1]
for line in sys.stdin:
    d = json.loads(line)
    orig = os.path.join(td, os.path.basename(d["path"]).replace(".back.onnx", "").replace("__", "/"), "model.onnx")
    print(orig)' "$TD" >"$W/rejected_origs"
    if [ -s "$W/rejected_origs" ]; then
        xargs $PYTHON tests/tools/onnx_facts.py --check <"$W/rejected_origs" >"$W/orig_checked.jsonl"
        ours=$(grep -c '"checker": "ok"' "$W/orig_checked.jsonl")
    else
        ours=0
    fi
    if [ "$ours" -eq 0 ]; then
        pass "onnx.checker accepts every rebuilt model whose original it accepts ($rejected originals it rejects itself)"
    else
        fail "onnx.checker rejects $ours rebuilt models whose originals it accepts"
    fi
fi
