# 70-fuzz.sh - replay the fuzz corpora under ASan + UBSan: seeds made from
# the fixtures (blobs; the models themselves and Debian's ONNX test models
# for the loader), the committed corpus, and every regression file.
group "fuzz corpus replay"
scripts/fuzz-seeds.sh "$BUILD" >/dev/null 2>&1
for r in "$BUILD"/asan/fuzz/replay_*; do
    f=${r##*/replay_}
    files=$(ls "$BUILD/fuzz/seeds_$f"/* tests/fuzz/corpus/"$f"/* tests/fuzz/regress/"$f"-* 2>/dev/null)
    if [ "$f" = onnx ]; then
        files="$files $(ls "$FIX"/*.onnx) $(find /usr/share/libonnx-testdata -name model.onnx 2>/dev/null | sort | awk 'NR % 8 == 1')"
    fi
    if [ -z "$(echo $files)" ]; then
        fail "fuzz replay $f" "no inputs to replay"
        continue
    fi
    expect "fuzz replay $f: $(echo $files | wc -w) inputs, no sanitizer report" 0 "" "$r" $files
done
