# 70-fuzz.sh - replay the fuzz corpora (seeds made from the fixtures, the
# committed corpus, and every regression file) under ASan + UBSan.
group "fuzz corpus replay"
scripts/fuzz-seeds.sh "$BUILD" >/dev/null 2>&1
for r in "$BUILD"/asan/fuzz/replay_*; do
    f=${r##*/replay_}
    files=$(ls "$BUILD/fuzz/seeds_$f"/* tests/fuzz/corpus/"$f"/* tests/fuzz/regress/"$f"-* 2>/dev/null)
    if [ -z "$files" ]; then
        fail "fuzz replay $f" "no inputs to replay"
        continue
    fi
    expect "fuzz replay $f: $(echo "$files" | wc -l) inputs, no sanitizer report" 0 "" "$r" $files
done
