# 10-unit.sh - the cmocka unit tests, in the release build and under
# AddressSanitizer + UBSan. Each binary is one check; cmocka's own summary
# is shown for the sanitizer run.
group "unit tests (cmocka)"
for src in tests/unit/test_*.c; do
    name=$(basename "$src" .c)
    for variant in obj asan; do
        bin=$BUILD/$variant/tests/unit/$name
        if "$bin" >"$T/out" 2>&1; then
            pass "unit $name ($variant)"
            [ "$variant" = asan ] && grep -E "PASSED|FAILED" "$T/out" | sed "s/^/  $name: /"
        else
            fail "unit $name ($variant)" "$(grep -E "ERROR|FAILED|Sanitizer|runtime error" "$T/out" | head -n 8)"
        fi
    done
done
