# 30-cli.sh - the command line: help, exit codes, messages, stdin/stdout,
# atomic outputs, determinism. Runs the sanitizer build.
group "command line"
N=$NNZIP_SAN
M=$FIX/digits_mlp.onnx
W=$T/cli
mkdir -p "$W"

expect "nnzip --help exits 0 and lists the exit codes" 0 "" sh -c "$N --help | grep -q 'verify ran and a check failed'"
expect "nnzip --version names the version" 0 "" sh -c "$N --version | grep -Eq '^nnzip [0-9]+\.[0-9]+\.[0-9]+ \(blob format 2\.1\)'"
expect "nnzip without a command is a usage error" 2 "Usage: nnzip" $N
expect "an unknown command is a usage error" 2 "unknown command 'bogus'" $N bogus
expect "an unknown global option is a usage error" 2 "unknown option '--bogus'" $N --bogus info x
for c in compress decompress info verify convert; do
    expect "nnzip $c --help exits 0" 0 "" sh -c "$N $c --help | grep -q '^Usage: nnzip $c'"
    expect "nnzip $c with an unknown option is a usage error" 2 "Try 'nnzip $c --help'" $N $c --nope
done
cp "$M" "$W/auto.onnx"
expect "compress without -o writes MODEL.nnz beside the model" 0 "" $N -q compress "$W/auto.onnx"
check "... auto.nnz is a blob of the model" $N -q verify "$W/auto.onnx" "$W/auto.nnz"
expect "decompress without -o refuses to replace MODEL.onnx" 2 "auto.onnx: already exists" \
    $N decompress "$W/auto.nnz"
expect "decompress without -o writes IN.onnx beside the blob" 0 "" \
    sh -c "mv '$W/auto.nnz' '$W/auto2.nnz' && $N -q decompress '$W/auto2.nnz' && test -s '$W/auto2.onnx'"
expect "compress - without -o is a usage error" 2 "give -o OUT.nnz" sh -c "$N compress - <'$M'"
for c in "" compress decompress info verify convert sweep completion run; do
    check "nnzip $c --help fits 80 columns" sh -c "$N $c --help | awk 'length(\$0) > 80 { exit 1 }'"
done
expect "nnzip help CMD prints the command's help" 0 "" sh -c "$N help verify | grep -q '^Usage: nnzip verify'"
expect "a misspelt command gets a suggestion" 2 "unknown command 'comprss'; did you mean 'compress'\\?" $N comprss
expect "a misspelt pass gets a suggestion" 2 "unknown pass 'quantise'; did you mean 'quantize'\\?" \
    $N compress "$M" -o "$W/dym.nnz" -p 'quantise:bits=8'
expect "a misspelt option key gets a suggestion" 2 "unknown option 'sparsty'; did you mean 'sparsity'\\?" \
    $N compress "$M" -o "$W/dym.nnz" -p 'prune:sparsty=0.5'
expect "a misspelt flag gets a suggestion" 2 "unknown option 'kmean' \\(a flag\\); did you mean 'kmeans'\\?" \
    $N compress "$M" -o "$W/dym.nnz" -p 'quantize:kmean,bits=4'
expect "an only= glob that matches no tensor is a warning" 0 "warning: quantize: only=fc9\\* matches no tensor" \
    $N compress -f "$M" -o "$W/glob.nnz" -p 'quantize:bits=8,only=fc9*'
expect "an unknown option is named once, prefixed with the command" 2 "^nnzip compress: unknown option '--nope'" \
    $N compress --nope "$M"
$N compress --nope "$M" 2>"$W/nope.err"
check "... and only once" sh -c "[ \$(grep -c nope '$W/nope.err') = 1 ]"
expect "an option missing its value says so" 2 "option '--output' needs a value" $N compress "$M" --output
expect "a blob given to compress says what it is and what to run" 3 "is an .nnz blob, not an ONNX model; did you mean 'nnzip decompress" \
    sh -c "$N -q compress '$M' -o '$W/kind.nnz' && exec $N compress '$W/kind.nnz' -o '$W/kind2.nnz'"
expect "a blob as verify's first argument says so" 3 "is an .nnz blob.*model first" \
    $N verify "$W/kind.nnz" "$W/kind.nnz"
expect "compress - with a terminal on stdin refuses instead of waiting" 2 "refusing to read input from a terminal" \
    $PYTHON -c '
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "compress", "-", "-o", sys.argv[2]])
out = b""
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
_, st = os.waitpid(pid, 0)
sys.stderr.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(st))' "$N" "$W/tty.nnz"
expect "compress of a missing file is bad input" 3 "nnzip: $W/missing.onnx: cannot open: No such file" $N compress "$W/missing.onnx" -o "$W/x.nnz"
expect "compress of a directory is bad input" 3 "is a directory" $N compress "$W" -o "$W/x.nnz"
: >"$W/empty.onnx"
expect "compress of an empty file is bad input" 3 "file is empty" $N compress "$W/empty.onnx" -o "$W/x.nnz"
head -c 3000 /dev/urandom >"$W/noise.onnx"
expect "compress of random bytes is bad input" 3 "not a valid ONNX model|not an ONNX model" $N compress "$W/noise.onnx" -o "$W/x.nnz"
check "no output is left behind by a failed compress" test ! -e "$W/x.nnz"
cp "$M" "$W/m.onnx"
expect "compress refuses to overwrite its input" 2 "would overwrite the input" $N compress "$W/m.onnx" -o "$W/m.onnx"
check "the input is untouched" cmp "$M" "$W/m.onnx"
expect "compress into a missing folder is an output error" 4 "cannot create output" $N compress "$M" -o "$W/no/such/dir/x.nnz"
expect "--json and -o - together are a usage error" 2 "both write to stdout" $N compress "$M" -o - --json

# the main path
expect "compress writes a blob" 0 "-> $W/m.nnz: [0-9]+ -> [0-9]+ bytes" $N compress "$M" -o "$W/m.nnz"
check "compress is deterministic" sh -c "$N -q compress '$M' -o '$W/m2.nnz' && cmp '$W/m.nnz' '$W/m2.nnz'"
expect "verify of a lossless blob passes with error 0" 0 "verify $W/m.nnz: OK; .*overall rel_l2 0," $N verify "$M" "$W/m.nnz" --max-rel-error 0
expect "decompress rebuilds a model" 0 "-> $W/back.onnx: rebuilt" $N decompress "$W/m.nnz" -o "$W/back.onnx"
check "decompress gives the bytes convert gives" sh -c "$N convert '$M' -o '$W/conv.onnx' && cmp '$W/conv.onnx' '$W/back.onnx'"
check "stdin to stdout works both ways" sh -c "cat '$M' | $N -q compress - -o - > '$W/pipe.nnz' && cat '$W/pipe.nnz' | $N -q decompress - -o - > '$W/pipe.onnx' && cmp '$W/pipe.onnx' '$W/back.onnx'"
check "a blob from stdin is the same blob" sh -c "cmp '$W/pipe.nnz' '$W/m.nnz' || $N info --json '$W/pipe.nnz' >/dev/null"
expect "verify against another model fails with 1" 1 "made from another model" $N verify "$FIX/digits_cnn.onnx" "$W/m.nnz"

# JSON everywhere, parsed by a real JSON parser
for cmd in "info $M" "info $W/m.nnz" "compress $M -o $W/j.nnz" "decompress $W/m.nnz -o $W/j.onnx" "verify $M $W/m.nnz"; do
    check "--json output of '$(echo $cmd | cut -d' ' -f1)' parses ($(basename $(echo $cmd | cut -d' ' -f2)))" \
        sh -c "$N -q $cmd --json > '$W/doc.json' && $PYTHON -c 'import json,sys; json.load(open(sys.argv[1]))' '$W/doc.json'"
done

# a broken blob: every failure is clean, and leaves nothing behind
cp "$W/m.nnz" "$W/trunc.nnz"
truncate -s 1000 "$W/trunc.nnz"
expect "decompress of a truncated blob is bad input" 3 "blob is truncated" $N decompress "$W/trunc.nnz" -o "$W/t.onnx"
check "no output is left behind by a failed decompress" test ! -e "$W/t.onnx"
echo "precious" >"$W/keep.onnx"
expect "a failed decompress leaves an existing output as it was" 3 "" $N decompress "$W/trunc.nnz" -o "$W/keep.onnx"
check "the existing output kept its bytes" grep -q precious "$W/keep.onnx"
check "no temporary file is left in the folder" sh -c "! ls -a '$W' | grep -q nnzip-tmp"
cp "$W/m.nnz" "$W/flip.nnz"
printf '\001' | dd of="$W/flip.nnz" bs=1 seek=3000 conv=notrunc 2>/dev/null
expect "verify of a corrupted blob is bad input: exit 3" 3 "checksum mismatch" $N verify "$M" "$W/flip.nnz"
expect "verify -q still says why it failed" 1 "made from another model" \
    $N -q verify "$FIX/digits_cnn.onnx" "$W/m.nnz"
expect "verify's OK line names what it checked" 0 "OK; .*; checked: integrity, each weight's rel_l2 <= 0\.5$" \
    $N verify "$M" "$W/m.nnz" --max-rel-error 0.5
expect "info of a corrupted blob is bad input" 3 "checksum mismatch" $N info "$W/flip.nnz"
$PYTHON - "$W/m.nnz" "$W/future.nnz" <<'PY'
import sys, struct, zlib
b = bytearray(open(sys.argv[1], 'rb').read())
b[8:12] = struct.pack('<HH', 3, 0)                   # a newer major version, 3.0
b[60:64] = struct.pack('<I', zlib.crc32(bytes(b[:60])))
open(sys.argv[2], 'wb').write(b)
PY
expect "a newer major version names both versions" 3 "format version 3\.0 is newer than this nnzip reads \(2\.x" $N decompress "$W/future.nnz" -o "$W/f.onnx"

# configuration files
cat >"$W/cfg.json" <<'JSON'
{"pipeline": [{"pass": "quantize", "bits": 4}, {"pass": "huffman"}],
 "skip": ["fc3.*"],
 "layers": {"fc1.*": {"quantize": {"bits": 8}}, "fc2.weight": {"quantize": null}}}
JSON
expect "compress --config runs the configured pipeline" 0 "" $N -q compress "$M" -o "$W/cfg.nnz" --config "$W/cfg.json" --json
cp "$T/out" "$W/cfg.report.json"
check "per-layer overrides apply: fc1 at 8 bits, fc2 left float, fc3 skipped" $PYTHON -c '
import json, sys
r = {t["name"]: t for t in json.load(open(sys.argv[1]))["tensors"]}
assert r["fc1.weight"]["quantize"]["bits"] == 8, r["fc1.weight"].get("quantize")
assert "quantize" not in r["fc2.weight"] and r["fc2.weight"]["encoding"]["layout"] == "raw"
assert "quantize" not in r["fc3.weight"]
' "$W/cfg.report.json"
check "the report carries the effective config" $PYTHON -c '
import json, sys
c = json.load(open(sys.argv[1]))["config"]
assert [s["pass"] for s in c["pipeline"]] == ["quantize", "huffman"] and c["skip"] == ["fc3.*"]
assert c["layers"]["fc2.weight"]["quantize"] is None
' "$W/cfg.report.json"
check "--print-config output reproduces the same blob" sh -c "$N compress --config '$W/cfg.json' --print-config > '$W/cfg2.json' && $N -q compress '$M' -o '$W/cfg2.nnz' --config '$W/cfg2.json' && cmp '$W/cfg.nnz' '$W/cfg2.nnz'"
check "-p and its --print-config give the same blob" sh -c "$N compress -p 'quantize:bits=6,only=fc*|huffman' --print-config > '$W/cfg3.json' && $N -q compress '$M' -o '$W/p1.nnz' -p 'quantize:bits=6,only=fc*|huffman' && $N -q compress '$M' -o '$W/p2.nnz' --config '$W/cfg3.json' && $N info --json '$W/p1.nnz' | grep -o '\"payload_bytes\":[0-9]*' > '$W/a' && $N info --json '$W/p2.nnz' | grep -o '\"payload_bytes\":[0-9]*' > '$W/b' && cmp '$W/a' '$W/b'"
echo '{"pipeline": [{"pass": "quantize", "bitz": 4}]}' >"$W/bad1.json"
expect "an unknown option in a config names the key and where" 2 "bad1.json: pipeline\[0\]: quantize: unknown option 'bitz'" $N compress "$M" -o "$W/bad.nnz" --config "$W/bad1.json"
echo '{"pipeline": [{"pass": "quantize"}], "layers": {"fc*": {"quantize": {"bits": 99}}}}' >"$W/bad2.json"
expect "a bad override value names the layer glob" 2 "layers.\"fc\*\".quantize: 'fc\*': quantize: bits=99" $N compress "$M" -o "$W/bad.nnz" --config "$W/bad2.json"
echo '{"pipeline": [], "layerz": {}}' >"$W/bad3.json"
expect "an unknown top-level key is refused" 2 "unknown key 'layerz' at the top" $N compress "$M" -o "$W/bad.nnz" --config "$W/bad3.json"
printf '{"pipeline": [\n  {"pass": "quantize",,}]}' >"$W/bad4.json"
expect "invalid JSON gives line and column" 2 "bad4.json:2:[0-9]+: not valid JSON" $N compress "$M" -o "$W/bad.nnz" --config "$W/bad4.json"
check "no blob was written by the refused configs" test ! -e "$W/bad.nnz"
expect "-p and --config together are a usage error" 2 "use one" $N compress "$M" -o "$W/bad.nnz" -p quantize --config "$W/cfg.json"

# the man page and the completion script list every option --help shows
for c in compress decompress info verify convert sweep run; do
    $N $c --help 2>/dev/null | grep -oE -- '--[a-z][a-z-]+' | sort -u >"$W/opts_$c"
    [ -s "$W/opts_$c" ] || continue
    check "the man page lists every option of 'nnzip $c --help'" sh -c \
        "sed 's/\\\\//g' docs/nnzip.1 > '$W/man.txt'; for o in \$(cat '$W/opts_$c'); do grep -q -- \"\$o\" '$W/man.txt' || { echo missing \$o; exit 1; }; done"
    check "bash completion offers every option of 'nnzip $c --help'" sh -c \
        "$N completion bash | grep -E '^ +$c\)' > '$W/comp_$c' && for o in \$(cat '$W/opts_$c'); do grep -qE -- \"[\\\" ]\$o[\\\" ]\" '$W/comp_$c' || { echo missing \$o; exit 1; }; done"
done
check "the completion script is valid bash" sh -c "$N completion bash > '$W/comp.bash' && bash -n '$W/comp.bash'"

# verify --eval: the user's own metric gates CI
$N -q compress "$M" -o "$W/q8.nnz" -p 'quantize:bits=8 | huffman'
$N -q compress "$M" -o "$W/q2.nnz" -p 'quantize:bits=2,granularity=tensor'
ACC="sh tests/tools/accuracy.sh $M {onnx}"
expect "verify --eval passes when the metric is at least --min-metric" 0 "verify .*: OK" \
    $N verify "$M" "$W/q8.nnz" --eval "$ACC" --min-metric 0.95
check "the metric is in the JSON" sh -c "$N -q verify '$M' '$W/q8.nnz' --eval '$ACC' --json | $PYTHON -c 'import json,sys; m = json.load(sys.stdin)[\"metric\"]; assert 0.95 <= m <= 1, m'"
expect "verify --eval fails with 1 when the metric is below --min-metric" 1 "metric 0\.[0-9]+ is outside \[0\.9," \
    $N verify "$M" "$W/q2.nnz" --eval "$ACC" --min-metric 0.9
expect "verify --eval fails with 1 when the metric is above --max-metric" 1 "is outside" \
    $N verify "$M" "$W/q8.nnz" --eval "$ACC" --max-metric 0.5
expect "a failing --eval command fails the verify" 1 "eval: the command exited with status 3" \
    $N verify "$M" "$W/q8.nnz" --eval "sh -c 'exit 3' {onnx}"
expect "--eval without {onnx} is a usage error" 2 "needs \{onnx\}" $N verify "$M" "$W/q8.nnz" --eval "echo 1"
expect "--min-metric without --eval is a usage error" 2 "need --eval" $N verify "$M" "$W/q8.nnz" --min-metric 1

